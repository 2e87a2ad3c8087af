//! What the OS says about a process: CPU time and resident memory, from /proc.

use std::io::{self, BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};

/// Linux reports `utime`/`stime` in USER_HZ ticks, 100 per second on every
/// architecture Linux exposes to user space.
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU time a process has used so far, in seconds (all its
/// threads, including those that have exited). Resolution 10 ms, so the
/// measured parts of a run last a second or more in full mode.
pub(crate) fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces and parentheses: count
    // fields from the last ')'. utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| bad_data("no ')' in /proc/PID/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> io::Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|t| t as f64)
            .ok_or_else(|| bad_data("short /proc/PID/stat"))
    };
    // `rest` starts at field 3 (state): utime is index 14 - 3.
    Ok((ticks(11)? + ticks(12)?) / TICKS_PER_SECOND)
}

/// Resident set size of a process, KiB.
pub(crate) fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| bad_data("no VmRSS in /proc/PID/status"))
}

fn bad_data(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// A bench server in a child process (`veltix-bench serve`), so its CPU
/// time and memory are its own. It exits when its stdin closes, so it never
/// outlives the bench; dropping this kills it at once.
pub(crate) struct ServerProcess {
    child: Child,
    _stdin: ChildStdin,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `veltix-bench serve --impl NAME` and waits for its address.
    pub(crate) fn start(implementation: &str) -> io::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--impl", implementation, "--addr", "127.0.0.1:0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().ok_or_else(|| bad_data("no stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| bad_data("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(bad_data(&format!(
                "server {implementation} did not start: {line:?}"
            )));
        };
        Ok(Self {
            child,
            _stdin: stdin,
            addr,
        })
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
