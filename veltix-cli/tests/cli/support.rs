//! Running the built `veltix` with a deadline, servers in this process, and
//! certificates in a temporary directory.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use veltix_tokio::{Message, MessageType, Server, ServerConfig};

/// Longest a child may run, or a line may take to come: a bound against a
/// hang, never a timing assertion.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// The message type the tests send.
pub(crate) const KIND: MessageType = match MessageType::new(200) {
    Ok(kind) => kind,
    Err(_) => panic!("200 is a user type"),
};

/// A finished run of `veltix`.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// The exit code (a test fails if the process died of a signal).
    pub(crate) fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {self:?}"))
    }

    /// Asserts success; gives standard output.
    pub(crate) fn ok(&self) -> &str {
        assert_eq!(self.code(), 0, "{self:?}");
        &self.stdout
    }

    /// Asserts exit code `code` and one line on standard error starting
    /// `veltix: `; gives that line.
    pub(crate) fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code(), code, "{self:?}");
        let line = self.stderr.strip_suffix('\n').unwrap_or(&self.stderr);
        assert!(
            line.starts_with("veltix: ") && !line.contains('\n'),
            "not one `veltix:` line: {:?}",
            self.stderr
        );
        line
    }

    /// Standard output's lines, each parsed as JSON.
    pub(crate) fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
            .collect()
    }
}

/// `veltix ARGS…`, run to its end (killed, and the test failed, after [`DEADLINE`]).
pub(crate) fn veltix(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veltix"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("veltix starts");
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait(&mut child, args);
    Run {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Reads a pipe to its end on a thread.
fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` up to [`DEADLINE`]; kills it and fails the test after.
fn wait(child: &mut Child, args: &[&str]) -> ExitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("veltix {args:?} still running after {DEADLINE:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A `veltix listen 127.0.0.1:0 …` running in the background; killed when
/// dropped.
pub(crate) struct Listener {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// The address it printed.
    pub(crate) addr: String,
    /// The line that said so (`listening on ADDR`, or its JSON).
    pub(crate) ready: String,
}

impl Listener {
    /// Starts `veltix listen 127.0.0.1:0 ARGS…` and waits for `listening on ADDR`.
    pub(crate) fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_veltix"))
            .args(["listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("veltix listen starts");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut listener = Self {
            child,
            lines,
            addr: String::new(),
            ready: String::new(),
        };
        let first = listener.line();
        listener.addr = match first.strip_prefix("listening on ") {
            Some(addr) => addr.to_owned(),
            None => serde_json::from_str::<serde_json::Value>(&first)
                .ok()
                .and_then(|v| v["addr"].as_str().map(str::to_owned))
                .unwrap_or_else(|| panic!("not a listening line: {first:?}")),
        };
        listener.ready = first;
        listener
    }

    /// The next line it prints (the test fails after [`DEADLINE`]).
    pub(crate) fn line(&self) -> String {
        self.lines
            .recv_timeout(DEADLINE)
            .expect("a line from veltix listen")
    }

    /// Sends SIGTERM and waits for it to exit; its exit status.
    pub(crate) fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        wait(&mut self.child, &["listen"])
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A runtime for the library's side of a test, on its own threads, so the
/// test's thread can wait for `veltix`.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A server in this process: echoes every message (when `echo`), and
/// hands every message it gets to [`received`](Self::received).
pub(crate) struct InProcess {
    /// Kept alive while the test runs: the server, and its tasks' runtime.
    _server: Server,
    _runtime: tokio::runtime::Runtime,
    /// `127.0.0.1:PORT`.
    pub(crate) addr: String,
    messages: mpsc::Receiver<Message>,
}

impl InProcess {
    /// An echo server on 127.0.0.1 with `config`'s settings.
    pub(crate) fn echo(config: ServerConfig) -> Self {
        Self::start(config, true)
    }

    /// A server that answers nothing.
    pub(crate) fn silent(config: ServerConfig) -> Self {
        Self::start(config, false)
    }

    fn start(config: ServerConfig, echo: bool) -> Self {
        let runtime = runtime();
        let server = runtime
            .block_on(Server::bind(config))
            .expect("the server binds");
        let (tx, messages) = mpsc::channel();
        server.on_message(move |peer, message| {
            if echo {
                let answer = Message::new(message.message_type(), message.payload().clone());
                let _ = peer.try_reply(&message, answer);
            }
            let _ = tx.send(message);
        });
        let addr = server.local_addr().to_string();
        Self {
            _server: server,
            _runtime: runtime,
            addr,
            messages,
        }
    }

    /// The next message the server got (the test fails after [`DEADLINE`]).
    pub(crate) fn received(&self) -> Message {
        self.messages
            .recv_timeout(DEADLINE)
            .expect("a message at the server")
    }
}

/// Settings for a server on 127.0.0.1, any free port.
pub(crate) fn local() -> ServerConfig {
    ServerConfig::new("127.0.0.1:0")
}

/// Certificates written to a temporary directory: a self-signed server
/// certificate for `localhost` and `127.0.0.1`, and a self-signed client
/// certificate.
pub(crate) struct Certs {
    _dir: tempfile::TempDir,
    pub(crate) server_cert: String,
    pub(crate) server_key: String,
    /// The server key's pin, `sha256:<hex>`.
    pub(crate) server_pin: String,
    pub(crate) client_cert: String,
    pub(crate) client_key: String,
}

impl Certs {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let write = |name: &str, text: &str| -> String {
            let path: PathBuf = dir.path().join(name);
            std::fs::write(&path, text).expect("written");
            path.to_str().expect("a UTF-8 path").to_owned()
        };
        let server = veltix_tls::self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a server certificate");
        let client =
            veltix_tls::self_signed(vec!["client.test".to_owned()]).expect("a client certificate");
        Self {
            server_cert: write("server.pem", server.cert_pem()),
            server_key: write("server.key", server.key_pem()),
            server_pin: server.pin().to_string(),
            client_cert: write("client.pem", client.cert_pem()),
            client_key: write("client.key", client.key_pem()),
            _dir: dir,
        }
    }
}
