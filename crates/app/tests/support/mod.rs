//! Black-box helpers: run the real `users-service` binary, as an operator would.
//!
//! - [`spawn_app`] starts `users-service serve` on `127.0.0.1`, port 0, with the memory
//!   store, waits for the `users-service listening on http://…` line it prints on
//!   standard output, and returns a [`TestApp`] that kills the process when dropped.
//!   Every test gets its own process, hence its own empty store.
//! - [`TestApp::request`] and its shorthands (`get`, `post_json`, …) send HTTP requests
//!   and return a plain [`TestResponse`] (status, headers, body).
//! - [`run_cli`] runs a one-shot command (`create-admin`, `hash-password`, …) and returns
//!   its exit code and output.
//!
//! The child's environment is cleaned of every inherited `USERS*` and `RUST_LOG`
//! variable, so a developer's shell cannot change a test's outcome. Its logs (standard
//! error) are kept, see [`TestApp::logs`]; set `TEST_LOG=1` to also see them live
//! (`TEST_LOG=1 cargo test -p app -- --nocapture`).
//!
//! Reuse from another test target (e.g. `tests/api/main.rs`):
//! `#[path = "../support/mod.rs"] mod support;`
#![allow(
    dead_code,
    reason = "each test target uses a different subset of these helpers"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The JWT secret test processes use unless a test sets its own.
pub const TEST_JWT_SECRET: &str = "test-secret-0123456789abcdef-0123456789abcdef";

/// What `serve` prints on standard output once it listens.
pub const LISTENING_PREFIX: &str = "users-service listening on ";

/// How long a process may take to start listening (debug builds, busy CI).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary under test, with a clean environment and no configuration directory:
/// only what the test passes applies.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_users-service"));
    for (key, _) in std::env::vars_os() {
        let inherited = key
            .to_str()
            .is_some_and(|k| k.starts_with("USERS") || k == "RUST_LOG");
        if inherited {
            cmd.env_remove(&key);
        }
    }
    // A directory that does not exist: no config file is read unless a test asks.
    cmd.env(
        "USERS_CONFIG_DIR",
        std::env::temp_dir().join("users-service-tests-no-config-dir"),
    );
    cmd
}

/// A running `users-service serve`, killed when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The bound address.
    pub address: SocketAddr,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    agent: ureq::Agent,
}

/// An HTTP answer, reduced to what tests look at.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
}

impl TestResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// Starts `users-service serve` with the test defaults (127.0.0.1, port 0, one worker,
/// memory store, a fixed JWT secret) overridden by `env`.
pub fn spawn_app(env: &[(&str, &str)]) -> TestApp {
    let mut cmd = command();
    cmd.arg("serve")
        .env("USERS__SERVER__HOST", "127.0.0.1")
        .env("USERS__SERVER__PORT", "0")
        .env("USERS__SERVER__WORKERS", "1")
        .env("USERS__DATABASE__KIND", "memory")
        .env("USERS__AUTH__JWT_SECRET", TEST_JWT_SECRET)
        // Tests make many logins from 127.0.0.1; the rate-limit tests turn it back on.
        .env("USERS__RATE_LIMIT__ENABLED", "false")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("cannot start users-service");

    let logs = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("stderr is piped");
    let sink = Arc::clone(&logs);
    let live = std::env::var_os("TEST_LOG").is_some();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if live {
                eprintln!("[users-service] {line}");
            }
            sink.lock().unwrap().push(line);
        }
    });

    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut sent = false;
        // Keep draining after the address so the child never blocks on a full pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix(LISTENING_PREFIX).filter(|_| !sent) {
                drop(tx.send(url.trim().to_owned()));
                sent = true;
            }
        }
    });

    let base_url = match rx.recv_timeout(START_TIMEOUT) {
        Ok(url) => url,
        Err(_) => {
            drop(child.kill());
            let status = child.wait().ok();
            thread::sleep(Duration::from_millis(100));
            let logs = logs.lock().unwrap().join("\n");
            panic!("users-service did not start (exit: {status:?}); its standard error:\n{logs}");
        }
    };
    let address = base_url
        .trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|e| panic!("unexpected address {base_url:?}: {e}"));
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    TestApp {
        base_url,
        address,
        child,
        logs,
        agent,
    }
}

impl TestApp {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote on standard error so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Sends `method path` with an optional bearer token and JSON body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> TestResponse {
        let url = format!("{}{path}", self.base_url);
        let auth = token.map(|t| format!("Bearer {t}"));
        macro_rules! send {
            ($builder:expr) => {{
                let mut b = $builder;
                if let Some(auth) = &auth {
                    b = b.header("Authorization", auth);
                }
                match body {
                    Some(body) => b.force_send_body().send_json(body),
                    None => b.call(),
                }
            }};
        }
        macro_rules! send_with_body {
            ($builder:expr) => {{
                let mut b = $builder;
                if let Some(auth) = &auth {
                    b = b.header("Authorization", auth);
                }
                match body {
                    Some(body) => b.send_json(body),
                    None => b.send_empty(),
                }
            }};
        }
        let result = match method {
            "GET" => send!(self.agent.get(&url)),
            "DELETE" => send!(self.agent.delete(&url)),
            "POST" => send_with_body!(self.agent.post(&url)),
            "PUT" => send_with_body!(self.agent.put(&url)),
            "PATCH" => send_with_body!(self.agent.patch(&url)),
            other => panic!("unsupported method {other}"),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {path} failed: {e}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("{method} {path}: cannot read the body: {e}"));
        TestResponse {
            status,
            headers,
            body,
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> TestResponse {
        self.request("GET", path, None, None)
    }

    /// `GET path` with a bearer token.
    pub fn get_authed(&self, path: &str, token: &str) -> TestResponse {
        self.request("GET", path, Some(token), None)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> TestResponse {
        self.request("POST", path, None, Some(body))
    }

    /// Sends SIGTERM and waits up to `timeout` for the process to exit.
    #[cfg(unix)]
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("cannot wait for the child") {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

/// The outcome of a one-shot command.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `users-service <args>` with `env` on top of a clean environment (memory store,
/// a fixed JWT secret), writing `stdin` (if any) to its standard input.
pub fn run_cli(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> CliOutput {
    let mut cmd = command();
    cmd.args(args)
        .env("USERS__DATABASE__KIND", "memory")
        .env("USERS__AUTH__JWT_SECRET", TEST_JWT_SECRET)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("cannot start users-service");
    let mut input = child.stdin.take().expect("stdin is piped");
    if let Some(text) = stdin {
        // The command may exit before reading (e.g. on a usage error): ignore EPIPE.
        drop(input.write_all(text.as_bytes()));
    }
    drop(input);
    let mut stdout = String::new();
    let mut stderr = String::new();
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let reader = thread::spawn(move || {
        let mut s = String::new();
        drop(err.read_to_string(&mut s));
        s
    });
    drop(out.read_to_string(&mut stdout));
    stderr.push_str(&reader.join().unwrap_or_default());
    let status = child.wait().expect("cannot wait for users-service");
    CliOutput {
        code: status.code(),
        stdout,
        stderr,
    }
}
