//! The service on MongoDB (FerretDB) survives its database going away: requests answer 503
//! with `Retry-After` quickly, `/ready` is 503, the process stays up; when the database
//! comes back on the same data, the service recovers without a restart and every account
//! is still there. Durations are printed, not asserted (the machines are shared).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use support::spawn_app;

/// The FerretDB test server built by `scripts/ferretdb.sh build`.
fn ferretdb_binary() -> Option<PathBuf> {
    let path = std::env::var_os("USERS_TEST_FERRETDB_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/ferretdb"),
        PathBuf::from,
    );
    path.exists().then_some(path)
}

struct Database {
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Database {
    fn start(&mut self) {
        let child = Command::new(&self.binary)
            .args(["-listen-addr", &format!("127.0.0.1:{}", self.port)])
            .arg("-data-dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start FerretDB");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "FerretDB did not start");
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server outright, as a crash or a network cut would.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_service_answers_503_while_mongodb_is_down_and_recovers_with_every_account() {
    let Some(binary) = ferretdb_binary() else {
        assert!(
            std::env::var("USERS_TEST_REQUIRE_MONGODB").as_deref() != Ok("1"),
            "the fault test must run in CI: build FerretDB with scripts/ferretdb.sh build"
        );
        println!("skipped: build FerretDB with scripts/ferretdb.sh build to run the fault test");
        return;
    };
    let mut db = Database {
        binary,
        port: free_port(),
        dir: std::env::temp_dir().join(format!("users-fault-{}", std::process::id())),
        child: None,
    };
    db.start();
    let url = format!("mongodb://127.0.0.1:{}/", db.port);
    let app = spawn_app(&[
        ("USERS__DATABASE__KIND", "mongo"),
        ("USERS__DATABASE__URL", &url),
        ("USERS__DATABASE__NAME", "fault"),
        ("USERS__PASSWORD__ARGON2_MEMORY_KIB", "1024"),
        ("USERS__PASSWORD__ARGON2_ITERATIONS", "1"),
    ]);

    let people = ["ada@example.com", "grace@example.com", "edsger@example.com"];
    for email in people {
        let body =
            json!({"email": email, "username": "Someone", "password": "Analytical-Engine-1843"});
        assert_eq!(app.post_json("/api/v1/auth/register", &body).status, 201);
    }
    let login = json!({"email": people[0], "password": "Analytical-Engine-1843"});
    let token = app.post_json("/api/v1/auth/login", &login).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.get("/ready").status, 200);

    db.stop();
    let started = Instant::now();
    let me = app.get_authed("/api/v1/users/me", &token);
    println!(
        "GET /users/me with the database down answered {} in {:?}",
        me.status,
        started.elapsed()
    );
    assert_eq!(me.status, 503, "{}", me.body);
    assert_eq!(me.json()["code"], "STORE_UNAVAILABLE");
    assert!(me.header("retry-after").is_some(), "{:?}", me.headers);
    let started = Instant::now();
    let login_down = app.post_json("/api/v1/auth/login", &login);
    println!(
        "login with the database down answered {} in {:?}",
        login_down.status,
        started.elapsed()
    );
    assert_eq!(login_down.status, 503, "{}", login_down.body);
    let ready = app.get("/ready");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(app.get("/health").status, 200, "the process stays up");

    db.start();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    while app.get("/ready").status != 200 {
        assert!(
            Instant::now() < deadline,
            "the service did not recover by itself"
        );
        thread::sleep(Duration::from_millis(100));
    }
    println!(
        "ready again {:?} after the database restarted",
        started.elapsed()
    );
    assert_eq!(app.get_authed("/api/v1/users/me", &token).status, 200);
    for email in people {
        let body = json!({"email": email, "password": "Analytical-Engine-1843"});
        assert_eq!(
            app.post_json("/api/v1/auth/login", &body).status,
            200,
            "{email} survived"
        );
    }
}

#[test]
fn migrate_twice_applies_then_reports_nothing_to_do() {
    let Ok(url) = std::env::var("USERS_TEST_MONGODB_URI") else {
        assert!(
            std::env::var("USERS_TEST_REQUIRE_MONGODB").as_deref() != Ok("1"),
            "USERS_TEST_MONGODB_URI must be set in CI"
        );
        println!("skipped: set USERS_TEST_MONGODB_URI");
        return;
    };
    let name = format!("migrate_cli_{}", std::process::id());
    let env = [
        ("USERS__DATABASE__KIND", "mongo"),
        ("USERS__DATABASE__URL", url.as_str()),
        ("USERS__DATABASE__NAME", name.as_str()),
    ];
    let first = support::run_cli(&["migrate"], &env, None);
    assert_eq!(first.code, Some(0), "{}{}", first.stdout, first.stderr);
    assert!(first.stdout.contains("applied"), "{}", first.stdout);
    let second = support::run_cli(&["migrate"], &env, None);
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    assert!(second.stdout.contains("nothing to do"), "{}", second.stdout);
}
