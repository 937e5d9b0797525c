//! Observability of the real `users-service` binary (issue "Operations"):
//!
//! - `/metrics` exposes the request, login, password-hashing and store series, and they
//!   move with traffic (register, logins of every outcome, a lockout, a blocked account,
//!   a 404, an admin list);
//! - with `log.format = json` every line on standard error is a JSON object, and request
//!   lines carry the request id, the route pattern, the status and the latency;
//! - the log level comes from `log.level`, and `RUST_LOG` overrides it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{TestApp, spawn_app};

const ROOT_LOGIN: &str = "root";
const ROOT_INITIAL_PASSWORD: &str = "B00tstrap-Adm1n!";
const ROOT_PASSWORD: &str = "Ch0sen-By-Adm1n!";
const PASSWORD: &str = "Chosen-Secret-7!";
const WRONG_PASSWORD: &str = "Wrong-Secret-8?";
const LOGIN_ROUTE: &str = "/api/v1/auth/login";
/// `lockout.max_failures` of these tests: the third consecutive failure locks.
const MAX_FAILURES: usize = 3;

/// The binary with a memory store, cheap argon2 and a bootstrap ADMIN.
fn spawn(extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![
        ("USERS__PASSWORD__ARGON2_MEMORY_KIB", "1024"),
        ("USERS__PASSWORD__ARGON2_ITERATIONS", "1"),
        ("USERS__PASSWORD__ARGON2_PARALLELISM", "1"),
        ("USERS__BOOTSTRAP__ADMIN_LOGIN", ROOT_LOGIN),
        ("USERS__BOOTSTRAP__ADMIN_PASSWORD", ROOT_INITIAL_PASSWORD),
        ("USERS__LOCKOUT__MAX_FAILURES", "3"),
    ];
    env.extend_from_slice(extra);
    spawn_app(&env)
}

// ---------------------------------------------------------------------------------------
// The Prometheus text format, read minimally
// ---------------------------------------------------------------------------------------

/// One sample line: `name{label="value",…} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Every sample of one scrape.
#[derive(Debug)]
struct Scrape {
    samples: Vec<Sample>,
    text: String,
}

impl Scrape {
    /// Parses the text format 0.0.4 (comments skipped; label values may hold `{`, `}`,
    /// `,` and escaped quotes, as route patterns do).
    fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| parse_sample(l).unwrap_or_else(|| panic!("not a sample line: {l:?}")))
            .collect();
        Self {
            samples,
            text: text.to_owned(),
        }
    }

    /// The sum of the samples named `name` whose labels include every pair of `labels`;
    /// `None` when no sample matches (the series does not exist).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut matched = self
            .samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|have| have == v))
            })
            .peekable();
        matched.peek()?;
        Some(matched.map(|s| s.value).sum())
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        let mut chars = after_brace.char_indices();
        loop {
            // `}` ends the set (also right after a trailing comma); else `name="value"`.
            let (start, first) = chars.next()?;
            if first == '}' {
                rest = &after_brace[start + 1..];
                break;
            }
            let eq = start + after_brace[start..].find('=')?;
            let key = after_brace[start..eq].trim_start_matches(',').to_owned();
            while chars.next()?.0 < eq {}
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break,
                    c => value.push(c),
                }
            }
            labels.insert(key, value);
            let (at, next) = chars.next()?;
            match next {
                ',' => {}
                '}' => {
                    rest = &after_brace[at + 1..];
                    break;
                }
                _ => return None,
            }
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

#[test]
fn the_sample_parser_reads_labels_with_braces_and_escapes() {
    let scrape = Scrape::parse(
        "# HELP x y\n\
         # TYPE x counter\n\
         http_requests_total{method=\"GET\",route=\"/api/v1/admin/users/{id}\",status=\"404\"} 3\n\
         weird{a=\"q\\\"uote,}\",b=\"\"} 1.5\n\
         plain 7\n",
    );
    assert_eq!(
        scrape.value(
            "http_requests_total",
            &[("route", "/api/v1/admin/users/{id}"), ("status", "404")]
        ),
        Some(3.0)
    );
    assert_eq!(
        scrape.value("weird", &[("a", "q\"uote,}"), ("b", "")]),
        Some(1.5)
    );
    assert_eq!(scrape.value("plain", &[]), Some(7.0));
    assert_eq!(scrape.value("plain", &[("a", "b")]), None);
    assert_eq!(scrape.value("absent", &[]), None);
}

// ---------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------

fn scrape(app: &TestApp) -> Scrape {
    let response = app.get("/metrics");
    assert_eq!(response.status, 200, "{}", response.body);
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"),
        "{content_type}"
    );
    Scrape::parse(&response.body)
}

fn login_v1(app: &TestApp, email: &str, password: &str) -> support::TestResponse {
    app.post_json(LOGIN_ROUTE, &json!({"email": email, "password": password}))
}

fn register(app: &TestApp, email: &str) -> String {
    let response = app.post_json(
        "/api/v1/auth/register",
        &json!({"email": email, "username": "Metric Person", "password": PASSWORD}),
    );
    assert_eq!(response.status, 201, "{}", response.body);
    response.json()["id"].as_str().expect("an id").to_owned()
}

/// The bootstrap ADMIN's token, its first-login password change done.
fn admin_token(app: &TestApp) -> String {
    let login = app.post_json(
        "/api/auth/login",
        &json!({"login": ROOT_LOGIN, "motDePasse": ROOT_INITIAL_PASSWORD}),
    );
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.json()["data"]["token"].as_str().unwrap().to_owned();
    let changed = app.request(
        "POST",
        "/api/utilisateurs/change-password",
        Some(&token),
        Some(
            &json!({"ancienMotDePasse": ROOT_INITIAL_PASSWORD, "nouveauMotDePasse": ROOT_PASSWORD}),
        ),
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    changed.json()["data"]["token"].as_str().unwrap().to_owned()
}

/// Asserts that `name{labels}` exists in `after` and grew since `before` (absent before
/// counts as 0).
fn assert_increased(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) {
    let was = before.value(name, labels).unwrap_or(0.0);
    let now = after
        .value(name, labels)
        .unwrap_or_else(|| panic!("{name}{labels:?} missing from:\n{}", after.text));
    assert!(
        now > was,
        "{name}{labels:?} did not move ({was} → {now}):\n{}",
        after.text
    );
}

#[test]
fn metrics_exist_and_move_with_traffic() {
    let app = spawn(&[]);
    let admin = admin_token(&app);
    let before = scrape(&app);
    for (name, labels) in [
        ("users_login_total", &[("outcome", "locked")][..]),
        (
            "users_password_hash_duration_seconds_count",
            &[("operation", "verify")],
        ),
        ("users_store_errors_total", &[("kind", "unavailable")]),
    ] {
        assert!(
            before.value(name, labels).is_some(),
            "{name}{labels:?} should exist from the start:\n{}",
            before.text
        );
    }

    // Register, log in, fail once.
    let email = "metric.person@example.com";
    register(&app, email);
    assert_eq!(login_v1(&app, email, PASSWORD).status, 200);
    assert_eq!(login_v1(&app, email, WRONG_PASSWORD).status, 401);

    // Lock another account: the last of MAX_FAILURES consecutive failures answers 423.
    let locked = "locked.person@example.com";
    register(&app, locked);
    for _ in 1..MAX_FAILURES {
        assert_eq!(login_v1(&app, locked, WRONG_PASSWORD).status, 401);
    }
    assert_eq!(login_v1(&app, locked, WRONG_PASSWORD).status, 423);
    assert_eq!(login_v1(&app, locked, PASSWORD).status, 423);

    // A blocked account with the right password: 403.
    let blocked = "blocked.person@example.com";
    let blocked_id = register(&app, blocked);
    let block = app.request(
        "POST",
        &format!("/api/utilisateurs/{blocked_id}/bloquer"),
        Some(&admin),
        Some(&json!({"bloque": true})),
    );
    assert_eq!(block.status, 200, "{}", block.body);
    assert_eq!(login_v1(&app, blocked, PASSWORD).status, 403);

    // An unknown user (404) and an admin list.
    let unknown = app.get_authed(
        "/api/v1/admin/users/00000000-0000-4000-8000-000000000000",
        &admin,
    );
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let list = app.get_authed("/api/v1/admin/users", &admin);
    assert_eq!(list.status, 200, "{}", list.body);

    let after = scrape(&app);
    for status in ["200", "401", "403", "423"] {
        assert_increased(
            &before,
            &after,
            "http_requests_total",
            &[
                ("method", "POST"),
                ("route", LOGIN_ROUTE),
                ("status", status),
            ],
        );
    }
    assert_increased(
        &before,
        &after,
        "http_request_duration_seconds_count",
        &[("method", "POST"), ("route", LOGIN_ROUTE)],
    );
    assert_increased(
        &before,
        &after,
        "http_requests_total",
        &[("route", "/api/v1/admin/users/{id}"), ("status", "404")],
    );
    assert_increased(
        &before,
        &after,
        "http_requests_total",
        &[("route", "/api/v1/admin/users"), ("status", "200")],
    );
    for outcome in ["success", "invalid", "locked", "blocked"] {
        assert_increased(
            &before,
            &after,
            "users_login_total",
            &[("outcome", outcome)],
        );
    }
    for operation in ["hash", "verify"] {
        assert_increased(
            &before,
            &after,
            "users_password_hash_duration_seconds_count",
            &[("operation", operation)],
        );
        assert_increased(
            &before,
            &after,
            "users_password_hash_duration_seconds_bucket",
            &[("operation", operation), ("le", "+Inf")],
        );
    }
    for operation in [
        "find_by_login",
        "find_by_email",
        "insert",
        "get",
        "list",
        "reserve_login_attempt",
        "record_success",
        "lock",
        "update",
        "audit_append",
    ] {
        assert_increased(
            &before,
            &after,
            "users_store_operation_duration_seconds_count",
            &[("operation", operation)],
        );
    }
    // The store never failed: every unavailable series stayed at 0, and no request was 5xx.
    assert_eq!(
        after.value("users_store_errors_total", &[("kind", "unavailable")]),
        Some(0.0),
        "{}",
        after.text
    );
    assert!(
        after
            .samples
            .iter()
            .filter(|s| s.name == "http_requests_total")
            .all(|s| !s.labels["status"].starts_with('5')),
        "{}",
        after.text
    );
    // Nothing a client sent became a label.
    for input in [email, locked, blocked, blocked_id.as_str()] {
        assert!(!after.text.contains(input), "{input} in a label");
    }
}

// ---------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------

/// Waits until a log line satisfies `found`, or panics with the logs after 10 s.
fn wait_for_log(app: &TestApp, what: &str, found: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = app.logs();
        if let Some(line) = logs.lines().find(|l| found(l)) {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "no {what} in the logs:\n{logs}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A field of a JSON log line, at the top level or in its current span.
fn field<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line.get(name).or_else(|| line.get("span")?.get(name))
}

#[test]
fn json_logs_are_one_object_per_line_and_requests_carry_id_route_status_latency() {
    let app = spawn(&[("USERS__LOG__FORMAT", "json")]);

    let response = app.get("/api/v1/admin/users/00000000-0000-4000-8000-000000000000");
    assert_eq!(response.status, 401);
    let request_id = response
        .header("x-request-id")
        .expect("a request id")
        .to_owned();

    let line = wait_for_log(&app, "request line", |l| l.contains(&request_id));
    let line: Value = serde_json::from_str(&line).expect("a JSON request line");
    assert_eq!(
        field(&line, "request_id"),
        Some(&json!(request_id)),
        "{line}"
    );
    assert_eq!(
        field(&line, "route"),
        Some(&json!("/api/v1/admin/users/{id}")),
        "the pattern, never the raw path: {line}"
    );
    assert_eq!(field(&line, "status"), Some(&json!(401)), "{line}");
    assert_eq!(field(&line, "method"), Some(&json!("GET")), "{line}");
    assert!(
        field(&line, "latency_ms").is_some_and(Value::is_u64),
        "{line}"
    );
    assert_eq!(line["level"], "INFO", "{line}");

    let logs = app.logs();
    assert!(logs.lines().count() > 1, "start-up is logged too:\n{logs}");
    for line in logs.lines() {
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\n{logs}"));
        assert!(parsed.is_object(), "{line}");
        assert!(parsed["timestamp"].is_string(), "{line}");
        assert!(parsed["level"].is_string(), "{line}");
    }
    assert!(
        !logs.contains(ROOT_INITIAL_PASSWORD),
        "no secret in the logs"
    );
}

#[test]
fn text_logs_are_the_default_and_carry_the_same_request_fields() {
    let app = spawn(&[]);

    let response = app.get("/health");
    assert_eq!(response.status, 200);
    let request_id = response
        .header("x-request-id")
        .expect("a request id")
        .to_owned();

    let line = wait_for_log(&app, "request line", |l| l.contains(&request_id));
    assert!(serde_json::from_str::<Value>(&line).is_err(), "{line}");
    for expected in [
        format!("request_id=\"{request_id}\""),
        "route=\"/health\"".to_owned(),
        "status=200".to_owned(),
        "latency_ms=".to_owned(),
        "INFO".to_owned(),
    ] {
        assert!(line.contains(&expected), "{expected} missing from {line}");
    }
}

#[cfg(unix)]
#[test]
fn the_level_comes_from_log_level_and_rust_log_overrides_it() {
    // An empty RUST_LOG does not count: `log.level` applies.
    let mut quiet = spawn(&[("RUST_LOG", ""), ("USERS__LOG__LEVEL", "warn")]);
    assert_eq!(quiet.get("/health").status, 200);
    assert!(quiet.terminate(Duration::from_secs(30)).is_some());
    // The standard error reader drains the closed pipe.
    thread::sleep(Duration::from_millis(300));
    let logs = quiet.logs();
    assert!(logs.contains("WARN"), "the memory-store warning:\n{logs}");
    assert!(
        !logs.contains("INFO") && !logs.contains("request completed"),
        "nothing below warn:\n{logs}"
    );

    // The same level, but RUST_LOG lets this crate's request lines through.
    let verbose = spawn(&[
        ("RUST_LOG", "warn,adapters_http=info"),
        ("USERS__LOG__LEVEL", "warn"),
    ]);
    assert_eq!(verbose.get("/health").status, 200);
    wait_for_log(&verbose, "request line", |l| {
        l.contains("INFO") && l.contains("request completed")
    });
    assert!(
        !verbose.logs().contains("actix_server"),
        "{}",
        verbose.logs()
    );
}
