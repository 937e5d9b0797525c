//! Transport hygiene, over raw TCP where an HTTP client library would hide it: CORS only
//! for configured origins, request heads bounded in size, slow clients cut off.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::helpers::{Store, TestApp, spawn_app};

/// The host:port of `app`.
fn address(app: &TestApp) -> String {
    app.base_url.trim_start_matches("http://").to_owned()
}

/// Sends `head` (a request head without the final blank line) and reads the whole answer;
/// the connection is closed by `Connection: close`.
fn exchange(app: &TestApp, head: &str) -> String {
    let mut stream = TcpStream::connect(address(app)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "{head}Connection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// The value of `name` in a raw response, lower-cased name match.
fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer
        .split("\r\n\r\n")
        .next()?
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

fn preflight(app: &TestApp, origin: &str) -> String {
    exchange(
        app,
        &format!(
            "OPTIONS /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n\
             Access-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: content-type\r\n"
        ),
    )
}

#[test]
fn cors_answers_only_the_configured_origins() {
    let app = TestApp::spawn_with_env(
        Store::from_env(),
        &[(
            "USERS__SERVER__CORS_ORIGINS",
            "https://app.example, http://localhost:5173",
        )],
    );
    let allowed = preflight(&app, "https://app.example");
    assert_eq!(status(&allowed), 200, "{allowed}");
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(
        header(&allowed, "access-control-allow-methods").is_some_and(|m| m.contains("POST")),
        "{allowed}"
    );
    assert!(header(&allowed, "x-request-id").is_some(), "{allowed}");
    let simple = exchange(
        &app,
        "GET /health HTTP/1.1\r\nHost: x\r\nOrigin: http://localhost:5173\r\n",
    );
    assert_eq!(
        header(&simple, "access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert!(
        header(&simple, "access-control-expose-headers")
            .is_some_and(|h| h.to_ascii_lowercase().contains("x-total-count")),
        "{simple}"
    );

    let other = preflight(&app, "https://evil.example");
    assert_eq!(
        header(&other, "access-control-allow-origin"),
        None,
        "{other}"
    );
    assert!(status(&other) >= 400, "{other}");
    assert_eq!(status(&other), 400, "{other}");
    assert!(other.contains("CORS_ORIGIN_NOT_ALLOWED"), "{other}");
    let fr = exchange(
        &app,
        "OPTIONS /api/auth/login HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\
         Access-Control-Request-Method: POST\r\n",
    );
    assert!(fr.contains("ORIGINE_NON_AUTORISEE"), "{fr}");
}

#[test]
fn without_configured_origins_there_are_no_cors_headers() {
    let app = spawn_app();
    let answer = exchange(
        &app,
        "GET /health HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n",
    );
    assert_eq!(status(&answer), 200);
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    let preflight = preflight(&app, "https://app.example");
    assert_eq!(header(&preflight, "access-control-allow-origin"), None);
}

#[test]
fn an_oversized_request_head_is_refused_and_the_service_lives_on() {
    let app = spawn_app();
    let huge = "a".repeat(40 * 1024);
    let answer = exchange(
        &app,
        &format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: {huge}\r\n"),
    );
    // Beyond actix's 32 KiB buffer: its bare 431, or ours when the head came in one read.
    assert_eq!(status(&answer), 431, "{answer}");
    let large = "a".repeat(20 * 1024);
    let answer = exchange(
        &app,
        &format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: {large}\r\n"),
    );
    assert_eq!(status(&answer), 431, "{answer}");
    assert!(answer.contains("HEADERS_TOO_LARGE"), "{answer}");
    assert!(header(&answer, "x-request-id").is_some(), "{answer}");
    let many: String = (0..80).map(|i| format!("X-Header-{i}: v\r\n")).collect();
    let answer = exchange(
        &app,
        &format!("GET /api/utilisateurs/me HTTP/1.1\r\nHost: x\r\n{many}"),
    );
    assert_eq!(status(&answer), 431, "{answer}");
    assert!(answer.contains("EN_TETES_TROP_VOLUMINEUX"), "{answer}");
    // Just under the limits: served.
    let fine: String = (0..40).map(|i| format!("X-Header-{i}: v\r\n")).collect();
    let answer = exchange(&app, &format!("GET /health HTTP/1.1\r\nHost: x\r\n{fine}"));
    assert_eq!(status(&answer), 200, "{answer}");
    app.get("/health").assert_status(200);
}

#[test]
fn a_client_that_never_finishes_its_request_head_is_cut_off() {
    let app = TestApp::spawn_with_env(
        Store::from_env(),
        &[("USERS__SERVER__REQUEST_TIMEOUT_SECS", "1")],
    );
    let mut stream = TcpStream::connect(address(&app)).unwrap();
    // Generous bound: only a service that never times out reaches it.
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let mut answer = String::new();
    let read = stream.read_to_string(&mut answer);
    assert!(read.is_ok(), "the connection was not closed: {read:?}");
    assert!(
        answer.is_empty() || status(&answer) == 408,
        "expected 408 or a close: {answer:?}"
    );
    app.get("/health").assert_status(200);
}
