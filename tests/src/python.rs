//! Real Python Veltix peers for the interop tests: finding, or installing
//! once, an interpreter with a given Python Veltix release, and running the
//! peer scripts of `tests/python/` under it.
//!
//! Unlike the rest of this crate this module is tied to tokio (child
//! processes through `tokio::process`): the interop tests run their harness on
//! tokio whatever runtime the Rust side under test uses.
//!
//! # Interpreters
//!
//! For each [`Release`] the interpreter is the one named by its environment
//! variable ([`Release::env_var`]) when set, which must import that release;
//! otherwise a virtualenv `<target dir>/python-veltix-<version>/` is made once
//! with `python3 -m venv` and `pip install veltix==<version>` (PyPI), and
//! reused by later runs once it checks out (a marker file is written last, so
//! a half-made venv is made again). Concurrent test processes take a lock file
//! so that one installs while the others wait. When neither works the test
//! fails: an interop test never passes without having talked to Python.
//!
//! Every wait is bounded and every script is killed when its [`Py`] drops.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Time allowed for one step of an interop test (a Python process starting,
/// a reply arriving, a line being printed…).
pub const STEP: Duration = Duration::from_secs(20);

/// A Python Veltix release the interop tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// 1.3.0: classic frames, no handshake (our native server, or `Legacy`).
    V1_3_0,
    /// 1.6.1: classic frames, HELLO / HELLO_ACK (`Dialect::Python14`). The
    /// package announces itself as `1.6.0`.
    V1_6_1,
    /// 3.3.0, today's release: compact frames, JSON handshake
    /// (`Dialect::Python3`). Needs CPython 3.11 or later.
    V3_3_0,
}

impl Release {
    /// The version on PyPI.
    pub const fn version(self) -> &'static str {
        match self {
            Self::V1_3_0 => "1.3.0",
            Self::V1_6_1 => "1.6.1",
            Self::V3_3_0 => "3.3.0",
        }
    }

    /// The environment variable that may name an interpreter importing this
    /// release (`VELTIX_PYTHON` for 1.3.0, as the benchmarks use it).
    pub const fn env_var(self) -> &'static str {
        match self {
            Self::V1_3_0 => "VELTIX_PYTHON",
            Self::V1_6_1 => "VELTIX_PYTHON_1_6_1",
            Self::V3_3_0 => "VELTIX_PYTHON_3_3_0",
        }
    }

    /// The oldest CPython (major, minor) this release installs on.
    const fn min_python(self) -> (u32, u32) {
        match self {
            Self::V1_3_0 | Self::V1_6_1 => (3, 9),
            Self::V3_3_0 => (3, 11),
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::V1_3_0 => 0,
            Self::V1_6_1 => 1,
            Self::V3_3_0 => 2,
        }
    }
}

/// The interpreter for `release`, found or installed once per test process
/// (see the module documentation); panics if there is none. `target_tmpdir`
/// is the test crate's `CARGO_TARGET_TMPDIR`: the venv goes beside it, in
/// the target directory. [`python_for!`](crate::python_for) passes it.
pub fn interpreter(release: Release, target_tmpdir: &Path) -> &'static Path {
    static FOUND: [OnceLock<Result<PathBuf, String>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let found = FOUND[release.index()].get_or_init(|| find_or_install(release, target_tmpdir));
    match found {
        Ok(path) => path,
        Err(err) => panic!("no Python with veltix {}: {err}", release.version()),
    }
}

/// `interpreter(release, <this test crate's target dir>)`.
#[macro_export]
macro_rules! python_for {
    ($release:expr) => {
        $crate::python::interpreter(
            $release,
            ::std::path::Path::new(env!("CARGO_TARGET_TMPDIR")),
        )
    };
}

/// The `listening on HOST:PORT` line a server script prints first, as `HOST:PORT`.
///
/// # Panics
/// On any other line.
pub fn listening_addr(line: &str, py: &Py) -> String {
    line.strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}{}", py.stderr()))
        .to_owned()
}

/// Awaits `fut`, failing the test after `limit`.
pub async fn within<F: Future>(limit: Duration, fut: F) -> F::Output {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?}"))
}

/// A Python script of `tests/python/` running under the test, killed when dropped.
pub struct Py {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
}

impl Py {
    /// Runs `tests/python/<script>` with `args` under `python`, unbuffered.
    ///
    /// # Panics
    /// If the process cannot be started. Must be called within a tokio runtime.
    pub fn spawn(python: &Path, script: &str, args: &[&str]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("python")
            .join(script);
        let mut child = Command::new(python)
            .arg("-u")
            .arg(&script)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {} {}: {e}", python.display(), script.display())
            });
        let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        // Drained as it comes, so a chatty Python cannot block on a full pipe.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped");
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
                let text = String::from_utf8_lossy(&chunk[..n]);
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&text);
            }
        });
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// The next line on stdout within [`STEP`], `None` at its end.
    pub async fn try_line(&mut self) -> Option<String> {
        within(STEP, self.stdout.next_line())
            .await
            .expect("read Python's stdout")
    }

    /// The next line on stdout; fails at its end.
    pub async fn line(&mut self) -> String {
        match self.try_line().await {
            Some(line) => line,
            None => panic!("Python ended its output early{}", self.stderr()),
        }
    }

    /// Every line left on stdout (each within [`STEP`] of the last), then
    /// the exit status (within [`STEP`] of the end of stdout).
    pub async fn finish(&mut self) -> (ExitStatus, Vec<String>) {
        let mut lines = Vec::new();
        while let Some(line) = self.try_line().await {
            lines.push(line);
        }
        let status = within(STEP, self.child.wait())
            .await
            .expect("wait for Python");
        (status, lines)
    }

    /// What Python wrote on stderr so far, for failure messages.
    pub fn stderr(&self) -> String {
        let text = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        if text.is_empty() {
            String::new()
        } else {
            format!("\n--- Python's stderr ---\n{text}")
        }
    }

    /// Whether Python logged a frame it could not take: a parse error, a
    /// checksum mismatch, a resynchronisation, an unknown type, an oversize.
    pub fn refused_frames(&self) -> bool {
        const MARKERS: [&str; 7] = [
            "Parse error",
            "Failed to parse",
            "Unknown message type",
            "exceeds maximum",
            "Hash mismatch",
            "CRC",
            "Resync",
        ];
        let text = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        MARKERS.iter().any(|m| text.contains(m))
    }
}

// ---------------------------------------------------------------------------
// Finding, or installing once, a Python with a given veltix.

fn find_or_install(release: Release, target_tmpdir: &Path) -> Result<PathBuf, String> {
    let version = release.version();
    if let Some(path) = std::env::var_os(release.env_var()) {
        let path = PathBuf::from(path);
        check_veltix(&path, release)
            .map_err(|e| format!("{}={}: {e}", release.env_var(), path.display()))?;
        return Ok(path);
    }
    let target = target_tmpdir.parent().ok_or("no target directory")?;
    let venv = target.join(format!("python-veltix-{version}"));
    let python = if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    };
    // Written once the venv has been checked, so a half-made venv is redone.
    let ready = venv.join(".veltix-ready");
    if ready.exists() && check_veltix(&python, release).is_ok() {
        return Ok(python);
    }
    // Other test processes may be installing too: one does, the others wait.
    let _lock = InstallLock::acquire(&target.join(format!("python-veltix-{version}.lock")))?;
    if ready.exists() && check_veltix(&python, release).is_ok() {
        return Ok(python);
    }
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|e| format!("remove {}: {e}", venv.display()))?;
    }
    let bootstrap = bootstrap_python(release)?;
    run(
        std::process::Command::new(&bootstrap)
            .args(["-m", "venv"])
            .arg(&venv),
        Duration::from_secs(120),
    )
    .map_err(|e| format!("`{bootstrap} -m venv {}` failed: {e}", venv.display()))?;
    run(
        std::process::Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            &format!("veltix=={version}"),
        ]),
        Duration::from_secs(300),
    )
    .map_err(|e| format!("`pip install veltix=={version}` failed: {e}"))?;
    check_veltix(&python, release)?;
    File::create(&ready).map_err(|e| format!("create {}: {e}", ready.display()))?;
    Ok(python)
}

/// The first interpreter on the PATH recent enough for `release`.
fn bootstrap_python(release: Release) -> Result<String, String> {
    let (major, minor) = release.min_python();
    let candidates: &[&str] = if cfg!(windows) {
        &["python"]
    } else {
        &[
            "python3",
            "python3.14",
            "python3.13",
            "python3.12",
            "python3.11",
        ]
    };
    let probe = format!("import sys; sys.exit(0 if sys.version_info >= ({major}, {minor}) else 1)");
    let mut tried = Vec::new();
    for candidate in candidates {
        match run(
            std::process::Command::new(candidate).args(["-c", &probe]),
            Duration::from_secs(30),
        ) {
            Ok(_) => return Ok((*candidate).to_owned()),
            Err(e) => tried.push(format!("{candidate}: {}", e.trim())),
        }
    }
    Err(format!(
        "veltix {} needs CPython {major}.{minor} or later; none found ({})",
        release.version(),
        tried.join("; ")
    ))
}

/// Checks that `python` imports veltix and has the expected release installed
/// (by its distribution version: 1.6.1 calls itself 1.6.0 in `__version__`).
/// 1.3.0 needs `socket._RetAddress` before CPython 3.14; the scripts set it too.
fn check_veltix(python: &Path, release: Release) -> Result<(), String> {
    const PROBE: &str = "import importlib.metadata, socket\n\
        if not hasattr(socket, '_RetAddress'): socket._RetAddress = tuple\n\
        import veltix\n\
        print(importlib.metadata.version('veltix'))";
    let out = run(
        std::process::Command::new(python).args(["-c", PROBE]),
        Duration::from_secs(60),
    )?;
    match out.trim() {
        v if v == release.version() => Ok(()),
        other => Err(format!(
            "it has veltix {other:?}, not {}",
            release.version()
        )),
    }
}

/// Runs `cmd` to completion within `limit` (killing it otherwise); its stdout,
/// or an error carrying its stderr.
fn run(cmd: &mut std::process::Command, limit: Duration) -> Result<String, String> {
    // Output goes to files, not pipes: nobody reads pipes while we poll.
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir();
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let tag = format!("veltix-interop-{}-{run}", std::process::id());
    let (out_path, err_path) = (
        dir.join(format!("{tag}.out")),
        dir.join(format!("{tag}.err")),
    );
    let result = (|| {
        let out = File::create(&out_path).map_err(|e| e.to_string())?;
        let err = File::create(&err_path).map_err(|e| e.to_string())?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + limit;
        let status = loop {
            match child.try_wait().map_err(|e| e.to_string())? {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("still running after {limit:?}; killed"));
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let stdout = fs::read_to_string(&out_path).unwrap_or_default();
        if status.success() {
            Ok(stdout)
        } else {
            let stderr = fs::read_to_string(&err_path).unwrap_or_default();
            Err(format!("{status}\n{stderr}"))
        }
    })();
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    result
}

/// A lock file held while a venv is made; removed on drop. A lock older than
/// [`InstallLock::STALE`] is taken for the leftover of a killed run.
struct InstallLock(PathBuf);

impl InstallLock {
    const STALE: Duration = Duration::from_secs(15 * 60);

    fn acquire(path: &Path) -> Result<Self, String> {
        let deadline = Instant::now() + Self::STALE + Duration::from_secs(60);
        loop {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut file) => {
                    let _ = writeln!(file, "{}", std::process::id());
                    return Ok(Self(path.to_owned()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok());
                    if age.is_some_and(|age| age > Self::STALE) {
                        let _ = fs::remove_file(path);
                        continue;
                    }
                    if Instant::now() >= deadline {
                        return Err(format!("{} is still held", path.display()));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(format!("create {}: {e}", path.display())),
            }
        }
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
