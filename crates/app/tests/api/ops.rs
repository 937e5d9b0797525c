//! Operational endpoints (SPEC §3.3), `X-Request-Id` on every answer, security headers,
//! and the logs of a busy process holding no secret.

use serde_json::json;

use crate::helpers::{INITIAL_PASSWORD, PASSWORD, ROOT_PASSWORD, is_uuid, spawn_app, str_of};

#[test]
fn health_and_ready_answer_200() {
    let app = spawn_app();

    let health = app.get("/health");
    health
        .assert_status(200)
        .assert_json_content_type()
        .assert_no_store();
    assert_eq!(health.json(), json!({"status": "ok"}));

    let ready = app.get("/ready");
    ready
        .assert_status(200)
        .assert_json_content_type()
        .assert_no_store();
    assert_eq!(ready.json(), json!({"status": "ready"}));
}

#[test]
fn metrics_are_prometheus_text_with_requests_and_login_outcomes() {
    let app = spawn_app();
    app.post_login("nobody-at-all", PASSWORD)
        .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    app.get("/health").assert_status(200);

    let metrics = app.get("/metrics");

    metrics.assert_status(200);
    let content_type = metrics.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(content_type.contains("version=0.0.4"), "{content_type}");
    let text = &metrics.body;
    for name in [
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "users_login_total",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total")
            && l.contains("/api/auth/login")
            && l.contains("401")),
        "requests counted by route and status:\n{text}"
    );
    assert!(!text.contains("nobody-at-all"), "no user input in labels");
}

#[test]
fn the_openapi_document_lists_both_dialects_and_docs_render_it() {
    let app = spawn_app();

    let document = app.get("/openapi.json");

    document.assert_status(200).assert_json_content_type();
    let spec = document.json();
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1: {}",
        spec["openapi"]
    );
    for (path, methods) in [
        ("/api/v1/auth/register", &["post"][..]),
        ("/api/v1/auth/login", &["post"]),
        ("/api/v1/auth/logout", &["post"]),
        ("/api/v1/users/me", &["get", "put", "delete"]),
        ("/api/v1/admin/users", &["get"]),
        ("/api/v1/admin/users/{id}", &["get", "put", "delete"]),
        ("/api/auth/login", &["post"]),
        ("/api/utilisateurs", &["get", "post"]),
        ("/api/utilisateurs/{id}", &["get", "put"]),
        ("/api/utilisateurs/{id}/bloquer", &["post"]),
        ("/api/utilisateurs/{id}/reset-password", &["post"]),
        ("/api/utilisateurs/change-password", &["post"]),
        ("/api/utilisateurs/me", &["get"]),
    ] {
        for method in methods {
            assert!(
                spec["paths"][path][method].is_object(),
                "{method} {path} missing from /openapi.json"
            );
        }
    }

    let docs = app.get("/docs");
    docs.assert_status(200);
    assert!(
        docs.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"),
        "{:?}",
        docs.headers
    );
    assert!(docs.body.contains("openapi.json"), "{}", docs.body);
    assert!(
        !docs.body.contains("https://"),
        "nothing fetched from elsewhere"
    );
    app.get("/docs/docs.js").assert_status(200);
    app.get("/docs/docs.css").assert_status(200);
}

#[test]
fn every_answer_carries_x_request_id_echoed_or_generated() {
    let app = spawn_app();

    let echoed = app
        .request("GET", "/health")
        .header("X-Request-Id", "trace-42.abc")
        .send();
    assert_eq!(echoed.header("x-request-id"), Some("trace-42.abc"));

    let generated = app.get("/health");
    let id = generated.header("x-request-id").unwrap_or_default();
    assert!(is_uuid(id), "generated ids are UUIDs: {id:?}");
    assert_ne!(
        app.get("/health").header("x-request-id"),
        Some(id),
        "one per request"
    );

    for unacceptable in ["x".repeat(129), "has space".to_owned()] {
        let replaced = app
            .request("GET", "/health")
            .header("X-Request-Id", &unacceptable)
            .send();
        let id = replaced.header("x-request-id").unwrap_or_default();
        assert!(
            is_uuid(id),
            "{unacceptable:?} replaced by a UUID, got {id:?}"
        );
    }

    // Errors too (the harness checks every response; these are the unusual paths).
    let echoed_error = app
        .request("GET", "/api/utilisateurs")
        .header("X-Request-Id", "err-1")
        .send();
    echoed_error.assert_status(401);
    assert_eq!(echoed_error.header("x-request-id"), Some("err-1"));
    app.get("/no/such/route").assert_status(404);
    app.request("POST", "/api/auth/login")
        .header("Content-Type", "application/json")
        .body(vec![b'{'; 70 * 1024])
        .send()
        .assert_status(413);
}

#[test]
fn every_answer_carries_the_security_headers() {
    let app = spawn_app();

    for response in [
        app.get("/health"),
        app.get("/nope"),
        app.get_me(app.admin_token()),
        app.post_login("x-y-z", PASSWORD),
    ] {
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{}",
            response.what
        );
        assert_eq!(
            response.header("x-frame-options"),
            Some("DENY"),
            "{}",
            response.what
        );
    }
    app.get_me(app.admin_token()).assert_no_store();
}

#[test]
fn the_logs_of_a_busy_process_hold_no_password_hash_or_token() {
    let app = spawn_app();
    let mut user = app.create_user("TAXATEUR");
    app.log_in(&mut user);
    let first_token = user.token().to_owned();
    app.activate(&mut user);
    let reset = app.post_reset_password(app.admin_token(), &user.id, None);
    let temporary = str_of(&reset.data()["motDePasseTemporaire"]);
    app.post_login(&user.login, "Wrong-Passw0rd!")
        .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    app.post_bloquer(
        app.admin_token(),
        &user.id,
        Some(&json!({"bloque": true, "motif": "audit"})),
    )
    .assert_status(200);

    let logs = app.logs();
    assert!(
        logs.contains("request completed"),
        "the log file receives the service's output ({}):\n{logs}",
        app.log_path().display()
    );
    for secret in [
        ROOT_PASSWORD,
        INITIAL_PASSWORD,
        PASSWORD,
        "Wrong-Passw0rd!",
        temporary.as_str(),
        first_token.as_str(),
        app.admin_token(),
        "$argon2",
    ] {
        assert!(
            !logs.contains(secret),
            "a secret reached the logs ({}): {secret}",
            app.log_path().display()
        );
    }
}
