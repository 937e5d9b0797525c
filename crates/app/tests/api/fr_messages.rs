//! The fr dialect speaks French: every `error.message` and every detail `message` is the
//! text of `adapters_http::fr::messages` for its stable code, over HTTP; v1 keeps English.

use adapters_http::fr::messages;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, ROOT_LOGIN, ROOT_PASSWORD, Response, TestApp, spawn_app};

/// Asserts an fr error for stable `code` whose message and detail messages are the
/// table's French; returns the details.
fn assert_french(response: &Response, status: u16, code: &'static str) -> Vec<Value> {
    let error = response.assert_fr_error(status, messages::fr_code(code));
    let expected = messages::message(code).unwrap_or_else(|| panic!("{code} has no French"));
    assert_eq!(error["message"], expected, "{}: {error}", response.what);
    let details = error["details"].as_array().cloned().unwrap_or_default();
    for detail in &details {
        let detail_code = detail["code"].as_str().unwrap_or_default();
        let field = detail["champ"].as_str().unwrap_or_default();
        let expected = messages::detail_message(detail_code, field)
            .unwrap_or_else(|| panic!("{detail_code} has no French: {error}"));
        assert_eq!(detail["message"], expected, "{}: {detail}", response.what);
    }
    details
}

/// The detail codes of a list of details, sorted.
fn codes(details: &[Value]) -> Vec<String> {
    let mut codes: Vec<String> = details
        .iter()
        .map(|d| d["code"].as_str().unwrap_or_default().to_owned())
        .collect();
    codes.sort();
    codes
}

#[test]
fn fr_errors_and_their_details_are_in_french() {
    let app = spawn_app();
    let admin = app.admin_token();

    // Credentials and sessions.
    assert_french(
        &app.post_change_password(admin, "Not-The-Current-1!", PASSWORD),
        400,
        "INVALID_CURRENT_PASSWORD",
    );
    assert_french(
        &app.post_login("nobody-at-all", "Whatever-1!"),
        401,
        "INVALID_CREDENTIALS",
    );
    assert_french(&app.get("/api/utilisateurs/me"), 401, "UNAUTHENTICATED");
    assert_french(&app.get_utilisateur_me("not.a.token"), 401, "INVALID_TOKEN");

    // Validation: several fields at once, serde's own details, paging bounds, null.
    let (_, mut body) = TestApp::new_user_body("TAXATEUR");
    body["login"] = json!("ab");
    body["email"] = json!("not-an-address");
    body["telephone"] = json!("0820");
    body["sexe"] = json!("X");
    body["agentId"] = json!("not-a-uuid");
    let details = assert_french(&app.post_utilisateur(admin, &body), 422, "VALIDATION_ERROR");
    assert_eq!(
        codes(&details),
        [
            "EMAIL_INVALID",
            "LOGIN_LENGTH",
            "PHONE_INVALID",
            "SEX_INVALID",
            "UUID_INVALID"
        ],
        "{details:?}"
    );
    let missing = app
        .request("POST", "/api/auth/login")
        .json(&json!({"login": ROOT_LOGIN}))
        .send();
    let details = assert_french(&missing, 422, "VALIDATION_ERROR");
    assert_eq!(codes(&details), ["INVALID_FIELD"]);
    assert_eq!(
        details[0]["message"],
        "Champ absent, inconnu, en double ou de type incorrect : « motDePasse »."
    );
    let details = assert_french(
        &app.get_utilisateurs(admin, "size=abc"),
        422,
        "VALIDATION_ERROR",
    );
    assert_eq!(codes(&details), ["INVALID_QUERY"]);
    let details = assert_french(
        &app.get_utilisateurs(admin, &format!("size=1000&q={}", "q".repeat(101))),
        422,
        "VALIDATION_ERROR",
    );
    assert_eq!(codes(&details), ["QUERY_TOO_LONG", "SIZE_OUT_OF_RANGE"]);
    let target = app.create_user("TAXATEUR");
    let details = assert_french(
        &app.put_utilisateur(
            admin,
            &target.id,
            &json!({"role": null, "nomComplet": null}),
        ),
        422,
        "VALIDATION_ERROR",
    );
    assert_eq!(codes(&details), ["NOT_NULLABLE", "NOT_NULLABLE"]);

    // The password policy: one detail per broken rule.
    let (_, mut body) = TestApp::new_user_body("TAXATEUR");
    body["motDePasse"] = json!("abc");
    let details = assert_french(&app.post_utilisateur(admin, &body), 422, "WEAK_PASSWORD");
    assert!(details.len() >= 3, "{details:?}");
    assert!(
        codes(&details).contains(&"PASSWORD_TOO_SHORT".to_owned()),
        "{details:?}"
    );

    // Conflicts and rules.
    let (_, mut body) = TestApp::new_user_body("TAXATEUR");
    body["login"] = json!(target.login);
    let details = assert_french(&app.post_utilisateur(admin, &body), 409, "LOGIN_TAKEN");
    assert_eq!(codes(&details), ["LOGIN_TAKEN"]);
    assert_french(
        &app.put_utilisateur(admin, &app.admin.id, &json!({"role": "TAXATEUR"})),
        409,
        "LAST_ADMIN",
    );
    assert_french(
        &app.post_bloquer(admin, &app.admin.id, Some(&json!({"bloque": true}))),
        403,
        "SELF_ACTION_FORBIDDEN",
    );
    let contribuable = app.create_active_user("CONTRIBUABLE");
    assert_french(
        &app.get_utilisateurs(contribuable.token(), ""),
        403,
        "PERMISSION_DENIED",
    );
    // A DIRECTEUR may list users: only the first-login restriction stops it.
    let mut first_login = app.create_user("DIRECTEUR");
    app.log_in(&mut first_login);
    assert_french(
        &app.get_utilisateurs(first_login.token(), ""),
        403,
        "PASSWORD_CHANGE_REQUIRED",
    );
    app.post_bloquer(admin, &target.id, Some(&json!({"bloque": true})))
        .assert_status(200);
    assert_french(
        &app.post_login(&target.login, &target.password),
        403,
        "ACCOUNT_BLOCKED",
    );

    // Not found, routes and methods.
    assert_french(
        &app.get_utilisateur(admin, "6f1c1c1e-9a4b-4c5e-8f00-000000000000"),
        404,
        "NOT_FOUND",
    );
    assert_french(&app.get("/api/nope"), 404, "ROUTE_NOT_FOUND");
    assert_french(
        &app.request("GET", "/api/auth/login").send(),
        405,
        "METHOD_NOT_ALLOWED",
    );

    // Bodies: malformed, not JSON, too large.
    let malformed = app
        .request("POST", "/api/auth/login")
        .header("Content-Type", "application/json")
        .body(br#"{"email": "a@b.cd"} trai"#.to_vec())
        .send();
    assert_french(&malformed, 400, "MALFORMED_JSON");
    let plain = app
        .request("POST", "/api/auth/login")
        .header("Content-Type", "text/plain")
        .body(b"{}".to_vec())
        .send();
    assert_french(&plain, 415, "UNSUPPORTED_MEDIA_TYPE");
    let big = app
        .request("POST", "/api/auth/login")
        .json(&json!({"login": "x".repeat(64 * 1024), "motDePasse": "x"}))
        .send();
    assert_french(&big, 413, "PAYLOAD_TOO_LARGE");
}

#[test]
fn v1_errors_stay_in_english() {
    let app = spawn_app();
    let admin = app.admin_token();

    let wrong = app.put_me(
        admin,
        &json!({"password": PASSWORD, "current_password": "Not-The-Current-1!"}),
    );
    assert_eq!(
        wrong.assert_v1_error(400, "INVALID_CURRENT_PASSWORD"),
        "current password is incorrect"
    );
    assert_eq!(
        app.post_login_v1("nobody@e2e.test", ROOT_PASSWORD)
            .assert_v1_error(401, "INVALID_CREDENTIALS"),
        "invalid credentials"
    );
    let detail = app
        .post_register(&json!({"email": "x", "username": "", "password": PASSWORD}))
        .assert_v1_validation("VALIDATION_ERROR");
    let messages: Vec<&str> = detail.iter().filter_map(|d| d["msg"].as_str()).collect();
    assert_eq!(
        messages,
        [
            "email is not a valid address",
            "full_name must be 1 to 200 printable characters"
        ]
    );
}
