//! What the OS says about a process: CPU time and resident memory, from /proc.

use std::io::{self, BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};

use veltix_tls::SpkiPin;

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

/// The line a bench server prints once it accepts connections: `listening
/// on ADDR`, and ` tls-pin sha256:HEX` after it for a TLS server.
pub(crate) fn announcement(addr: SocketAddr, pin: Option<SpkiPin>) -> String {
    match pin {
        Some(pin) => format!("listening on {addr} tls-pin {pin}"),
        None => format!("listening on {addr}"),
    }
}

/// The address and pin of an [`announcement`]; `None` for any other line.
fn parse_announcement(line: &str) -> Option<(SocketAddr, Option<SpkiPin>)> {
    let mut words = line
        .trim()
        .strip_prefix("listening on ")?
        .split_whitespace();
    let addr = words.next()?.parse().ok()?;
    let pin = match (words.next(), words.next(), words.next()) {
        (None, _, _) => None,
        (Some("tls-pin"), Some(pin), None) => Some(pin.parse().ok()?),
        _ => return None,
    };
    Some((addr, pin))
}

fn bad_data(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// A bench server in a child process (`veltix-bench serve`, or the Python
/// echo server), so its CPU time and memory are its own. It exits when its
/// stdin closes, so it never outlives the bench; dropping this kills it at once.
pub(crate) struct ServerProcess {
    child: Child,
    _stdin: ChildStdin,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// The pin of its TLS key, for a TLS server.
    pub(crate) pin: Option<SpkiPin>,
}

impl ServerProcess {
    /// Starts `veltix-bench serve --impl NAME --dialect DIALECT
    /// --compression COMPRESSION` and waits for its address (and pin).
    pub(crate) fn start(
        implementation: &str,
        dialect: &str,
        compression: &str,
    ) -> io::Result<Self> {
        let mut command = Command::new(std::env::current_exe()?);
        command.args([
            "serve",
            "--impl",
            implementation,
            "--addr",
            "127.0.0.1:0",
            "--dialect",
            dialect,
            "--compression",
            compression,
        ]);
        Self::spawn(command, implementation)
    }

    /// Starts `command`, which must print `listening on ADDR` as its first
    /// line once it accepts connections (`listening on ADDR tls-pin PIN`
    /// for a TLS server, see [`announcement`]), and exit when its stdin
    /// closes; `name` is for errors.
    pub(crate) fn spawn(mut command: Command, name: &str) -> io::Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().ok_or_else(|| bad_data("no stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| bad_data("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some((addr, pin)) = parse_announcement(&line) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(bad_data(&format!("server {name} did not start: {line:?}")));
        };
        Ok(Self {
            child,
            _stdin: stdin,
            addr,
            pin,
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

/// The process listening on `addr` (a TCP port on this machine), found
/// through /proc: the listening socket's inode in /proc/net/tcp{,6}, then
/// the process holding it open among /proc/PID/fd. `None` when it is not
/// visible from here (another machine, another user's process, a container).
pub(crate) fn listener_pid(addr: SocketAddr) -> Option<u32> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .into_iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|table| listening_inode(&table, addr))?;
    let wanted = format!("socket:[{inode}]");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let holds_it = std::fs::read_dir(entry.path().join("fd"))
                .ok()?
                .flatten()
                .any(|fd| {
                    std::fs::read_link(fd.path())
                        .is_ok_and(|link| link.as_os_str() == wanted.as_str())
                });
            holds_it.then_some(pid)
        })
}

/// The inode of the socket listening on `addr` in a /proc/net/tcp{,6}
/// table. Listed as `local_address` `HEX_IP:HEX_PORT` (the IP in host byte
/// order, 32-bit words for IPv6), state `0A` (LISTEN), inode in column 10.
/// A wildcard listener (0.0.0.0, ::) matches any IP of its family.
fn listening_inode(table: &str, addr: SocketAddr) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
        let (ip, port) = local.split_once(':')?;
        let matches = *state == "0A"
            && u16::from_str_radix(port, 16).ok()? == addr.port()
            && ip_matches(ip, addr.ip());
        matches.then(|| inode.parse().ok()).flatten()
    })
}

/// Whether a /proc/net/tcp{,6} address (hex, host byte order per 32-bit
/// word) is `ip` or the wildcard of `ip`'s family.
fn ip_matches(hex: &str, ip: std::net::IpAddr) -> bool {
    let words: Option<Vec<u32>> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect();
    let Some(words) = words else {
        return false;
    };
    // Each word was printed from memory in host order: its bytes, in
    // memory order, are the address's bytes in network order.
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let wildcard = bytes.iter().all(|&b| b == 0);
    match ip {
        std::net::IpAddr::V4(v4) => bytes.len() == 4 && (wildcard || bytes == v4.octets()),
        std::net::IpAddr::V6(v6) => bytes.len() == 16 && (wildcard || bytes == v6.octets()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_own_listener_and_not_a_free_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(listener_pid(addr), Some(std::process::id()));
        drop(listener);
        assert_eq!(listener_pid(addr), None);
    }

    #[test]
    fn announcements_carry_the_address_and_the_pin_of_a_tls_server() {
        let addr: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let pin = SpkiPin::of_spki(b"a key");
        assert_eq!(
            parse_announcement(&announcement(addr, None)),
            Some((addr, None))
        );
        assert_eq!(
            parse_announcement(&format!("{}\n", announcement(addr, Some(pin)))),
            Some((addr, Some(pin)))
        );
        assert_eq!(
            parse_announcement("listening on 127.0.0.1:7000 tls-pin nope"),
            None
        );
        assert_eq!(parse_announcement("listening on nowhere"), None);
        assert_eq!(
            parse_announcement("Traceback (most recent call last):"),
            None
        );
    }

    #[test]
    fn reads_the_listen_table() {
        // Two lines of a real /proc/net/tcp: 127.0.0.1:7000 listening,
        // 0.0.0.0:22 listening (wildcard), and a connected socket.
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1B58 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1B58 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 20 4 30 10 -1
";
        let at = |a: &str| listening_inode(table, a.parse().unwrap());
        if cfg!(target_endian = "little") {
            assert_eq!(at("127.0.0.1:7000"), Some(4242));
            assert_eq!(at("10.1.2.3:22"), Some(17));
        }
        assert_eq!(at("127.0.0.1:7001"), None);
    }
}
