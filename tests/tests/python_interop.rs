//! Interop with a real Python Veltix 1.3.0 peer, in both directions:
//!
//! - our `Client` in legacy mode (no handshake) against the Python echo
//!   server `tests/python/echo_server.py`;
//! - the Python client `tests/python/client.py` against our `Server`
//!   in its default configuration (which accepts legacy peers).
//!
//! Each direction runs with our side on tokio, smol and mio (the test
//! harness itself is tokio, which the other runtimes do not mind).
//!
//! The interpreter is `$VELTIX_PYTHON` when set (it must import veltix 1.3.0);
//! otherwise these tests create, once, a virtualenv at
//! `<target dir>/python-veltix-1.3.0/` with `python3 -m venv` and
//! `pip install veltix==1.3.0`. If neither works the tests fail: they never
//! pass without having talked to Python.
//!
//! Everything binds 127.0.0.1 on ephemeral ports, every wait is bounded, and
//! Python processes are killed when their handle drops, on every path.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use futures::future::join_all;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use veltix_driver::{Client, Runtime, Server};
use veltix_mio::Mio;
use veltix_smol::Smol;
use veltix_tokio::{
    ClientConfig, ClientEvent, ClientEvents, Message, MessageType, PeerId, ServerConfig,
    ServerEvent, Tokio,
};

const VELTIX_VERSION: &str = "1.3.0";
/// Time allowed for one test once Python is available.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);
/// Time allowed for one step (a Python process starting, a reply arriving…).
const STEP: Duration = Duration::from_secs(20);

const ECHO: MessageType = user_type(200);
const PLAIN: MessageType = user_type(201);
const PUSH: MessageType = user_type(202);
/// Hooks of `echo_server.py`: 210 makes it ping us, 211 carries the latency.
const PING_ME: MessageType = user_type(210);
const PING_RESULT: MessageType = user_type(211);

const fn user_type(code: u16) -> MessageType {
    match MessageType::new(code) {
        Ok(t) => t,
        Err(_) => panic!("not a user type"),
    }
}

/// Payload sizes cycled through by the requests, as in `client.py`: empty,
/// tiny, and larger than both Python's 1024-byte reads and our 64 KiB ones.
const SIZES: [usize; 6] = [0, 1, 64, 1000, 5000, 70_000];

/// Request `i`'s payload, byte for byte what `client.py`'s `payload(i)` makes.
fn payload(i: usize) -> Vec<u8> {
    let size = SIZES[i % SIZES.len()];
    (0..size).map(|j| ((i * 7 + j) % 256) as u8).collect()
}

macro_rules! on_each_runtime {
    ($($name:ident: $runtime:ty),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let python = python();
                within(TEST_TIMEOUT, legacy_client_to_python_server::<$runtime>(python)).await;
            }
        )*
    };
}

on_each_runtime! {
    our_legacy_client_to_python_server: Tokio,
    our_legacy_smol_client_to_python_server: Smol,
    our_legacy_mio_client_to_python_server: Mio,
}

async fn legacy_client_to_python_server<R: Runtime + Default>(python: &Path) {
    let mut py = Py::spawn(python, "echo_server.py", &["--port", "0"]);
    let line = py.line().await;
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}{}", py.stderr()))
        .to_owned();

    // Keep-alive is exercised too: after 500 ms without sending, our client
    // sends a PING (Python has no HEARTBEAT), and the PONG keeps the
    // connection within its 2 s idle timeout.
    let mut config = ClientConfig::new(addr).legacy();
    config.connection.heartbeat_interval = Some(Duration::from_millis(500));
    config.connection.idle_timeout = Some(Duration::from_secs(2));
    let client = Client::<R>::connect(config)
        .await
        .expect("connect to Python");
    let mut events = client.events();

    // Sequential requests of every size.
    for i in 0..120 {
        let sent = payload(i);
        let reply = client
            .request(Message::new(ECHO, sent.clone()), STEP)
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}{}", py.stderr()));
        assert_eq!(reply.message_type(), ECHO, "request {i}");
        assert!(reply.payload() == &sent[..], "request {i}: payload differs");
    }

    // Many requests pending at once: each answer must reach its own request.
    let concurrent = (0..48).map(|i| {
        let sent = format!("concurrent request {i}").into_bytes();
        let client = client.clone();
        async move {
            let reply = client.request(Message::new(ECHO, sent.clone()), STEP).await;
            (sent, reply)
        }
    });
    for (sent, reply) in join_all(concurrent).await {
        let reply = reply.unwrap_or_else(|e| panic!("concurrent request: {e}"));
        assert!(
            reply.payload() == &sent[..],
            "a reply reached the wrong request"
        );
    }

    // We ping Python: it answers PONG with our request id.
    let rtt = client.ping().await.expect("Python answers our PING");
    assert!(rtt < STEP);

    // A plain send comes back as an ordinary message (its echo answers no request).
    client
        .send(Message::new(PLAIN, "plain send"))
        .await
        .unwrap();
    let echo = next_message(&mut events, PLAIN).await;
    assert_eq!(&echo.payload()[..], b"plain send");

    // Python pings us (`ping_client_async`); our legacy client answers PONG.
    client.send(Message::new(PING_ME, "")).await.unwrap();
    let result = next_message(&mut events, PING_RESULT).await;
    let latency = String::from_utf8_lossy(result.payload()).into_owned();
    assert!(
        latency.parse::<i64>().is_ok(),
        "Python's ping of our client got {latency:?} (None means it timed out){}",
        py.stderr()
    );

    // Idle for well over the idle timeout: only keep-alive PINGs flow.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(client.is_connected(), "the idle connection was closed");
    let reply = client
        .request(Message::new(ECHO, "still there"), STEP)
        .await
        .expect("request after the idle period");
    assert_eq!(&reply.payload()[..], b"still there");

    client.close().await;
    let stderr = py.stderr();
    assert!(
        !stderr.contains("Parse error") && !stderr.contains("Failed to parse"),
        "Python refused some of our frames:{stderr}"
    );
}

macro_rules! on_each_server {
    ($($name:ident: $runtime:ty),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let python = python();
                within(TEST_TIMEOUT, python_client_to_server::<$runtime>(python)).await;
            }
        )*
    };
}

on_each_server! {
    python_client_to_our_server: Tokio,
    python_client_to_our_smol_server: Smol,
    python_client_to_our_mio_server: Mio,
}

/// What our server saw of the Python client.
#[derive(Debug, Default)]
struct Seen {
    /// `protocol_version` of each connection (`None`: legacy).
    connected: Vec<Option<u16>>,
    /// Index of the first request whose payload was not the expected one.
    bad_request: Option<usize>,
    requests: usize,
    plain: Vec<String>,
    /// Our ping of the Python client.
    ping: Option<Result<Duration, String>>,
    disconnected: bool,
}

async fn python_client_to_server<R: Runtime + Default>(python: &Path) {
    const COUNT: usize = 120;
    let server = Server::<R>::bind(ServerConfig::new("127.0.0.1:0"))
        .await
        .expect("bind");
    let port = server.local_addr().port().to_string();
    let mut events = server.events();
    let serving = server.clone();
    let seen = tokio::spawn(async move {
        let mut seen = Seen::default();
        let mut python_peer: Option<PeerId> = None;
        while let Some(event) = events.next().await {
            match event {
                ServerEvent::Connected { peer, info, .. } => {
                    python_peer = Some(peer);
                    seen.connected.push(info.protocol_version);
                }
                ServerEvent::Message { peer, message } if message.message_type() == ECHO => {
                    if seen.bad_request.is_none() && message.payload()[..] != payload(seen.requests)
                    {
                        seen.bad_request = Some(seen.requests);
                    }
                    seen.requests += 1;
                    let echo = Message::new(ECHO, message.payload().clone());
                    serving.reply(peer, &message, echo).await.unwrap();
                }
                ServerEvent::Message { peer, message } if message.message_type() == PLAIN => {
                    let text = String::from_utf8_lossy(message.payload()).into_owned();
                    let push = Message::new(PUSH, format!("pushed by rust: {text}"));
                    seen.plain.push(text);
                    // Ping before pushing: the Python client disconnects soon
                    // after the push arrives, which must not cut our ping short.
                    seen.ping = Some(serving.ping(peer).await.map_err(|e| e.to_string()));
                    serving.send(peer, push).await.unwrap();
                }
                ServerEvent::Message { message, .. } => {
                    panic!("unexpected message type {}", message.message_type().code())
                }
                ServerEvent::Disconnected { peer, .. } if Some(peer) == python_peer => {
                    seen.disconnected = true;
                    break;
                }
                _ => {}
            }
        }
        seen
    });

    let mut py = Py::spawn(
        python,
        "client.py",
        &["--port", &port, "--count", &COUNT.to_string()],
    );
    let mut lines = Vec::new();
    while let Some(line) = py.try_line().await {
        lines.push(line);
    }
    let status = within(STEP, py.child.wait())
        .await
        .expect("wait for Python");
    let report = format!("Python printed {lines:#?}{}", py.stderr());
    assert!(status.success(), "client.py failed ({status}); {report}");
    let expected = [
        format!("requests ok {COUNT}"),
        "requests failed 0".to_owned(),
        format!("push pushed by rust: done {COUNT}"),
        "done".to_owned(),
    ];
    for line in &expected {
        assert!(lines.contains(line), "missing {line:?}; {report}");
    }
    let pings: Vec<&String> = lines.iter().filter(|l| l.starts_with("ping ")).collect();
    assert_eq!(pings.len(), 2, "{report}");
    for ping in pings {
        // Python reports its one-way "latency" in whole ms, None on timeout.
        assert!(
            ping[5..].parse::<i64>().is_ok(),
            "our server left a ping unanswered; {report}"
        );
    }

    let seen = within(STEP, seen).await.expect("server event task");
    assert_eq!(seen.connected, [None], "one legacy connection");
    assert_eq!(seen.requests, COUNT);
    assert_eq!(seen.bad_request, None, "a request arrived altered");
    assert_eq!(seen.plain, [format!("done {COUNT}")]);
    match &seen.ping {
        Some(Ok(rtt)) => assert!(*rtt < STEP),
        other => panic!("our ping of the Python client: {other:?}"),
    }
    assert!(seen.disconnected);
    within(STEP, server.shutdown()).await.expect("shutdown");
}

/// The next application message, which must be of type `kind`; skips the
/// `Connected` event, fails on anything else.
async fn next_message(events: &mut ClientEvents, kind: MessageType) -> Message {
    loop {
        match within(STEP, events.next()).await {
            Some(ClientEvent::Message(m)) if m.message_type() == kind => return m,
            Some(ClientEvent::Connected(_)) => {}
            other => panic!("expected a message of type {}, got {other:?}", kind.code()),
        }
    }
}

/// Awaits `fut`, failing the test after `limit`.
async fn within<F: Future>(limit: Duration, fut: F) -> F::Output {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?}"))
}

/// A Python script running under the test, killed when dropped.
struct Py {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
}

impl Py {
    fn spawn(python: &Path, script: &str, args: &[&str]) -> Self {
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

    /// The next line on stdout, `None` at its end.
    async fn try_line(&mut self) -> Option<String> {
        within(STEP, self.stdout.next_line())
            .await
            .expect("read Python's stdout")
    }

    /// The next line on stdout; fails at its end.
    async fn line(&mut self) -> String {
        match self.try_line().await {
            Some(line) => line,
            None => panic!("Python ended its output early{}", self.stderr()),
        }
    }

    /// What Python wrote on stderr so far, for failure messages.
    fn stderr(&self) -> String {
        let text = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        if text.is_empty() {
            String::new()
        } else {
            format!("\n--- Python's stderr ---\n{text}")
        }
    }
}

// ---------------------------------------------------------------------------
// Finding, or installing once, a Python with veltix 1.3.0.

/// The interpreter to run the scripts with; fails the test if there is none.
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(find_or_install_python) {
        Ok(path) => path,
        Err(err) => panic!("no Python with veltix {VELTIX_VERSION}: {err}"),
    }
}

fn find_or_install_python() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("VELTIX_PYTHON") {
        let path = PathBuf::from(path);
        check_veltix(&path).map_err(|e| format!("VELTIX_PYTHON={}: {e}", path.display()))?;
        return Ok(path);
    }
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .ok_or("no target directory")?;
    let venv = target.join(format!("python-veltix-{VELTIX_VERSION}"));
    let python = if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    };
    // Written once the venv has been checked, so a half-made venv is redone.
    let ready = venv.join(".veltix-ready");
    if ready.exists() && check_veltix(&python).is_ok() {
        return Ok(python);
    }
    // Other test processes may be installing too: one does, the others wait.
    let _lock = InstallLock::acquire(&target.join(format!("python-veltix-{VELTIX_VERSION}.lock")))?;
    if ready.exists() && check_veltix(&python).is_ok() {
        return Ok(python);
    }
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|e| format!("remove {}: {e}", venv.display()))?;
    }
    let bootstrap = if cfg!(windows) { "python" } else { "python3" };
    run(
        std::process::Command::new(bootstrap)
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
            &format!("veltix=={VELTIX_VERSION}"),
        ]),
        Duration::from_secs(300),
    )
    .map_err(|e| format!("`pip install veltix=={VELTIX_VERSION}` failed: {e}"))?;
    check_veltix(&python)?;
    File::create(&ready).map_err(|e| format!("create {}: {e}", ready.display()))?;
    Ok(python)
}

/// Checks that `python` imports veltix at the expected version (with the
/// `socket._RetAddress` workaround that 1.3.0 needs before CPython 3.14).
fn check_veltix(python: &Path) -> Result<(), String> {
    const PROBE: &str = "import socket\n\
        if not hasattr(socket, '_RetAddress'): socket._RetAddress = tuple\n\
        import veltix\n\
        print(veltix.__version__)";
    let out = run(
        std::process::Command::new(python).args(["-c", PROBE]),
        Duration::from_secs(60),
    )?;
    match out.trim() {
        VELTIX_VERSION => Ok(()),
        other => Err(format!("it has veltix {other:?}, not {VELTIX_VERSION}")),
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

/// A lock file held while the venv is made; removed on drop. A lock older than
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
