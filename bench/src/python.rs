//! Python Veltix's servers, the reference rows: `python` is the bench's
//! `python/echo_server.py` under an interpreter that imports veltix 1.3.0 —
//! the interop tests' (`tests/tests/python_interop.rs`) virtualenv, or
//! `$VELTIX_PYTHON`; `python3` is `python/echo_server_3_3.py` under one that
//! imports veltix 3.3.0 (`tests/tests/python_interop_3_3.rs`'s virtualenv,
//! or `$VELTIX_PYTHON_3_3_0`), the compact wire of today's Python Veltix.
//! Nothing is installed here: without such an interpreter the row is
//! skipped, with the reason.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::procfs::ServerProcess;

/// A Python Veltix release a reference row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// 1.3.0: classic wire, no handshake (the `python` row).
    V1_3_0,
    /// 3.3.0: compact wire, JSON handshake (the `python3` row).
    V3_3_0,
}

impl Release {
    /// The version the interpreter must import, as in the interop tests.
    pub(crate) fn version(self) -> &'static str {
        match self {
            Self::V1_3_0 => "1.3.0",
            Self::V3_3_0 => "3.3.0",
        }
    }

    /// The variable that may name an interpreter (the interop tests' own).
    fn env_var(self) -> &'static str {
        match self {
            Self::V1_3_0 => "VELTIX_PYTHON",
            Self::V3_3_0 => "VELTIX_PYTHON_3_3_0",
        }
    }

    /// Where the interop tests make their virtualenv, inside the target directory.
    fn venv(self) -> &'static str {
        match self {
            Self::V1_3_0 => "python-veltix-1.3.0",
            Self::V3_3_0 => "python-veltix-3.3.0",
        }
    }

    /// The interop test that makes the virtualenv.
    fn interop_test(self) -> &'static str {
        match self {
            Self::V1_3_0 => "python_interop",
            Self::V3_3_0 => "python_interop_3_3",
        }
    }

    /// The server script, embedded so the binary needs no source tree.
    fn script(self) -> &'static str {
        match self {
            Self::V1_3_0 => include_str!("../python/echo_server.py"),
            Self::V3_3_0 => include_str!("../python/echo_server_3_3.py"),
        }
    }
}

/// Time allowed for the interpreter to import veltix and say its version.
const PROBE_LIMIT: Duration = Duration::from_secs(30);

/// An interpreter that imports `release`: its variable (`$VELTIX_PYTHON`
/// for 1.3.0) when set (and then only it), otherwise the interop tests'
/// virtualenv in the target directory this binary was built in. The error
/// says why there is none.
pub(crate) fn interpreter(release: Release) -> Result<PathBuf, String> {
    let var = release.env_var();
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        return probe(&path, release)
            .map(|()| path.clone())
            .map_err(|err| format!("{var}={}: {err}", path.display()));
    }
    let candidates = venv_candidates(release);
    for python in &candidates {
        if python.exists() {
            return probe(python, release)
                .map(|()| python.clone())
                .map_err(|err| format!("{}: {err}", python.display()));
        }
    }
    Err(format!(
        "no Python with veltix {}: set {var}, or build the interop tests' \
         virtualenv once with `cargo test -p veltix-tests --test {}` (looked for {})",
        release.version(),
        release.interop_test(),
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
fn venv_candidates(release: Release) -> Vec<PathBuf> {
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
        let python = target.join(release.venv()).join("bin").join("python");
        if !candidates.contains(&python) {
            candidates.push(python);
        }
    }
    candidates
}

/// Checks that `python` imports veltix at `release` (with the
/// `socket._RetAddress` workaround that 1.3.0 needs before CPython 3.14).
fn probe(python: &Path, release: Release) -> Result<(), String> {
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
        version if version == release.version() => Ok(()),
        "" => Err(format!("it does not import veltix ({})", out.status)),
        other => Err(format!("it has veltix {other}, not {}", release.version())),
    }
}

/// Starts `release`'s echo server under `python` on a free loopback port.
pub(crate) fn start_server(python: &Path, release: Release) -> io::Result<ServerProcess> {
    let mut command = Command::new(python);
    command.args([
        "-u",
        "-c",
        release.script(),
        "--port",
        "0",
        "--until-stdin-closes",
    ]);
    ServerProcess::spawn(command, &format!("python {}", release.version()))
}
