//! Python Veltix 1.3.0's server, the `python` reference row: the bench's
//! `python/echo_server.py` under an interpreter that imports veltix 1.3.0 —
//! the interop tests' (`tests/tests/python_interop.rs`) virtualenv, or
//! `$VELTIX_PYTHON`. Nothing is installed here: without such an
//! interpreter the row is skipped, with the reason.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::procfs::ServerProcess;

/// The server script, embedded so the binary needs no source tree.
const SCRIPT: &str = include_str!("../python/echo_server.py");

/// The Python Veltix release the row measures, as in the interop tests.
const VELTIX_VERSION: &str = "1.3.0";

/// Where the interop tests make their virtualenv, inside the target directory.
const VENV: &str = "python-veltix-1.3.0";

/// Time allowed for the interpreter to import veltix and say its version.
const PROBE_LIMIT: Duration = Duration::from_secs(30);

/// An interpreter that imports veltix 1.3.0: `$VELTIX_PYTHON` when set
/// (and then only it), otherwise the interop tests' virtualenv in the target
/// directory this binary was built in. The error says why there is none.
pub(crate) fn interpreter() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("VELTIX_PYTHON") {
        let path = PathBuf::from(path);
        return probe(&path)
            .map(|()| path.clone())
            .map_err(|err| format!("VELTIX_PYTHON={}: {err}", path.display()));
    }
    let candidates = venv_candidates();
    for python in &candidates {
        if python.exists() {
            return probe(python)
                .map(|()| python.clone())
                .map_err(|err| format!("{}: {err}", python.display()));
        }
    }
    Err(format!(
        "no Python with veltix {VELTIX_VERSION}: set VELTIX_PYTHON, or build the \
         interop tests' virtualenv once with `cargo test -p veltix-tests --test \
         python_interop` (looked for {})",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The virtualenv's interpreter in each target directory this binary may
/// belong to: an ancestor of the executable (`target/release/veltix-bench`),
/// `$CARGO_TARGET_DIR`, and the workspace's `target/` at build time.
fn venv_candidates() -> Vec<PathBuf> {
    let mut targets: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        targets.extend(exe.ancestors().skip(1).take(3).map(Path::to_path_buf));
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        targets.push(dir.into());
    }
    targets.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let mut candidates: Vec<PathBuf> = Vec::new();
    for target in targets {
        let python = target.join(VENV).join("bin").join("python");
        if !candidates.contains(&python) {
            candidates.push(python);
        }
    }
    candidates
}

/// Checks that `python` imports veltix at [`VELTIX_VERSION`] (with the
/// `socket._RetAddress` workaround that 1.3.0 needs before CPython 3.14).
fn probe(python: &Path) -> Result<(), String> {
    const PROBE: &str = "import socket\n\
        if not hasattr(socket, '_RetAddress'): socket._RetAddress = tuple\n\
        import veltix\n\
        print(veltix.__version__)";
    let mut child = Command::new(python)
        .args(["-c", PROBE])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("cannot run it: {err}"))?;
    let deadline = Instant::now() + PROBE_LIMIT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {} s", PROBE_LIMIT.as_secs()));
            }
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|err| format!("cannot read its answer: {err}"))?;
    match String::from_utf8_lossy(&out.stdout).trim() {
        VELTIX_VERSION => Ok(()),
        "" => Err(format!("it does not import veltix ({})", out.status)),
        other => Err(format!("it has veltix {other}, not {VELTIX_VERSION}")),
    }
}

/// Starts the Python echo server on a free loopback port.
pub(crate) fn start_server(python: &Path) -> io::Result<ServerProcess> {
    let mut command = Command::new(python);
    command.args(["-u", "-c", SCRIPT, "--port", "0", "--until-stdin-closes"]);
    ServerProcess::spawn(command, "python")
}
