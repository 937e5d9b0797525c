//! Per-client-IP rate limiting of the routes that check or set a password: past the burst,
//! 429 with `Retry-After` in each dialect's error shape; `X-Forwarded-For` counts only
//! from a configured trusted proxy.

use serde_json::json;

use crate::helpers::{OTHER_PASSWORD, Response, Store, TestApp};

/// A burst large enough for the fixture (the bootstrap ADMIN's login and password change),
/// then one request a minute: a test never sees its budget refill.
fn limited_app(burst: u32, trusted_proxies: &str) -> TestApp {
    let burst = burst.to_string();
    TestApp::spawn_with_env(
        Store::from_env(),
        &[
            ("USERS__RATE_LIMIT__ENABLED", "true"),
            ("USERS__RATE_LIMIT__PER_MINUTE", "1"),
            ("USERS__RATE_LIMIT__BURST", &burst),
            // The client budget alone: every attempt here names one account.
            ("USERS__RATE_LIMIT__ACCOUNT_BURST", "1000"),
            ("USERS__RATE_LIMIT__TRUSTED_PROXIES", trusted_proxies),
        ],
    )
}

fn assert_retry_after(response: &Response) {
    let retry_after = response
        .header("retry-after")
        .unwrap_or_else(|| panic!("{}: 429 needs Retry-After", response.what));
    let secs: u64 = retry_after
        .parse()
        .unwrap_or_else(|e| panic!("Retry-After {retry_after:?} is not delay-seconds: {e}"));
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
}

/// Wrong-password fr logins until the first 429 (within `budget` requests).
fn exhaust(app: &TestApp, budget: usize, forwarded_for: Option<&str>) -> usize {
    for n in 0..budget {
        let mut request = app
            .request("POST", "/api/auth/login")
            .json(&json!({"login": "nobody-at-all", "motDePasse": OTHER_PASSWORD}));
        if let Some(ip) = forwarded_for {
            request = request.header("X-Forwarded-For", ip);
        }
        let response = request.send();
        if response.status == 429 {
            return n;
        }
        response.assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    }
    panic!("no 429 within {budget} logins");
}

#[test]
fn past_the_burst_every_password_route_answers_429_in_its_dialect() {
    let app = limited_app(6, "");
    let admitted = exhaust(&app, 10, None);
    assert!(
        admitted <= 6,
        "{admitted} logins admitted after the fixture"
    );

    let fr = app.post_login("nobody-at-all", OTHER_PASSWORD);
    fr.assert_fr_error(429, "TROP_DE_REQUETES");
    assert_retry_after(&fr);
    let v1 = app.post_login_v1("nobody@example.org", OTHER_PASSWORD);
    v1.assert_v1_error(429, "RATE_LIMITED");
    assert_retry_after(&v1);
    let register = app.post_register(&json!({
        "email": "late@example.org", "username": "Late Comer", "password": "Chosen-Secret-7!"
    }));
    register.assert_v1_error(429, "RATE_LIMITED");
    let change = app
        .request("POST", "/api/utilisateurs/change-password")
        .bearer(app.admin_token())
        .json(&json!({"ancienMotDePasse": "x", "nouveauMotDePasse": "y"}))
        .send();
    change.assert_fr_error(429, "TROP_DE_REQUETES");

    // Nothing else is limited: the session, reads and the probes still answer.
    app.get_authed("/api/utilisateurs/me", app.admin_token())
        .assert_status(200);
    app.get("/health").assert_status(200);
}

#[test]
fn forwarded_for_counts_only_from_a_trusted_proxy() {
    // Untrusted peer: a new X-Forwarded-For per request does not buy a new budget.
    let direct = limited_app(4, "");
    let mut statuses = Vec::new();
    for n in 0..8 {
        let ip = format!("198.51.100.{n}");
        let response = direct
            .request("POST", "/api/auth/login")
            .header("X-Forwarded-For", &ip)
            .json(&json!({"login": "nobody-at-all", "motDePasse": OTHER_PASSWORD}))
            .send();
        statuses.push(response.status);
    }
    assert!(
        statuses.contains(&429),
        "spoofed X-Forwarded-For bypassed: {statuses:?}"
    );

    // Behind a trusted proxy (here: the test itself, on 127.0.0.1), each forwarded client
    // has its own budget, and one client still runs out.
    let proxied = limited_app(4, "127.0.0.1, ::1");
    for n in 0..8 {
        let ip = format!("198.51.100.{n}");
        let first = proxied
            .request("POST", "/api/auth/login")
            .header("X-Forwarded-For", &ip)
            .json(&json!({"login": "nobody-at-all", "motDePasse": OTHER_PASSWORD}))
            .send();
        assert_eq!(first.status, 401, "client {ip}: {}", first.body);
    }
    let admitted = exhaust(&proxied, 10, Some("203.0.113.50"));
    assert_eq!(admitted, 4, "one forwarded client gets exactly the burst");
}
