//! Dialect v1 (SPEC §3.1): every route, with exact bodies, statuses and headers.

use serde_json::{Value, json};

use crate::helpers::{
    OTHER_PASSWORD, PASSWORD, TOKEN_TTL_SECS, TestApp, USER_OUT_FIELDS, is_utc_timestamp, is_uuid,
    keys, spawn_app, str_of,
};

/// Registers `email` with [`PASSWORD`] and logs in: `(user_out, token)`.
fn register_and_log_in(app: &TestApp, email: &str, name: &str) -> (Value, String) {
    let registered = app.post_register(&json!({
        "email": email, "username": name, "password": PASSWORD
    }));
    registered.assert_status(201);
    let login = app.post_login_v1(email, PASSWORD);
    login.assert_status(200);
    (registered.json(), str_of(&login.json()["access_token"]))
}

fn assert_user_out(user: &Value) {
    assert_eq!(keys(user), USER_OUT_FIELDS, "UserOut fields: {user}");
    assert!(is_uuid(user["id"].as_str().unwrap_or_default()), "{user}");
    assert!(
        is_utc_timestamp(user["created_at"].as_str().unwrap_or_default()),
        "{user}"
    );
    assert!(
        is_utc_timestamp(user["updated_at"].as_str().unwrap_or_default()),
        "{user}"
    );
    assert_eq!(user["is_admin"], user["role"] == "ADMIN", "{user}");
}

#[test]
fn register_answers_201_with_a_user_out_and_no_secret() {
    let app = spawn_app();

    let response = app.post_register(&json!({
        "email": "ada@example.org", "username": "Ada Lovelace", "password": PASSWORD
    }));

    response.assert_status(201).assert_json_content_type();
    let user = response.json();
    assert_user_out(&user);
    assert_eq!(user["email"], "ada@example.org");
    assert_eq!(user["username"], "Ada Lovelace");
    assert_eq!(user["is_admin"], false);
    assert_eq!(user["is_active"], true);
    assert_eq!(user["role"], "CONTRIBUABLE");
    assert_eq!(user["is_blocked"], false);
    assert_eq!(
        user["must_change_password"], false,
        "self-registration: the person chose the password (rule 4)"
    );
    assert!(!response.body.contains(PASSWORD));
    assert!(!response.body.contains("$argon2"));
}

#[test]
fn register_refuses_a_taken_email_ignoring_case_with_409() {
    let app = spawn_app();
    app.post_register(
        &json!({"email": "Bob@Example.org", "username": "Bob", "password": PASSWORD}),
    )
    .assert_status(201);

    let again = app.post_register(&json!({
        "email": "bob@example.ORG", "username": "Other Bob", "password": OTHER_PASSWORD
    }));

    again.assert_status(409);
    let code = again.json()["code"].clone();
    assert!(
        code == "EMAIL_TAKEN" || code == "LOGIN_TAKEN",
        "the e-mail is also the login: {}",
        again.body
    );
    assert!(again.json()["detail"].is_string(), "{}", again.body);

    // One store behind both dialects: an address taken through fr is taken for v1.
    let agent = app.create_user("TAXATEUR");
    app.post_register(&json!({
        "email": agent.email.to_uppercase(), "username": "Copycat", "password": PASSWORD
    }))
    .assert_v1_error(409, "EMAIL_TAKEN");
}

#[test]
fn register_reports_invalid_fields_in_the_fastapi_shape() {
    let app = spawn_app();

    let invalid = app.post_register(&json!({
        "email": "not-an-address", "username": "   ", "password": PASSWORD
    }));
    let detail = invalid.assert_v1_validation("VALIDATION_ERROR");
    let mut fields: Vec<String> = detail.iter().map(|d| str_of(&d["loc"][1])).collect();
    fields.sort();
    assert_eq!(fields, ["email", "username"], "{}", invalid.body);

    let weak = app.post_register(&json!({
        "email": "weak@example.org", "username": "Weak", "password": "short"
    }));
    let detail = weak.assert_v1_validation("WEAK_PASSWORD");
    assert!(
        detail
            .iter()
            .all(|d| d["loc"] == json!(["body", "password"])),
        "{}",
        weak.body
    );
    let types: Vec<&str> = detail.iter().filter_map(|d| d["type"].as_str()).collect();
    assert!(types.contains(&"PASSWORD_TOO_SHORT"), "{types:?}");
    assert!(
        types.contains(&"PASSWORD_NO_UPPERCASE"),
        "every violation at once: {types:?}"
    );

    let missing = app.post_register(&json!({"email": "x@example.org"}));
    missing.assert_status(422);
}

#[test]
fn login_answers_a_bearer_token_that_is_not_cached() {
    let app = spawn_app();
    app.post_register(
        &json!({"email": "eve@example.org", "username": "Eve", "password": PASSWORD}),
    )
    .assert_status(201);

    let response = app.post_login_v1("EVE@example.org", PASSWORD);

    response
        .assert_status(200)
        .assert_no_store()
        .assert_json_content_type();
    let body = response.json();
    assert_eq!(
        keys(&body),
        [
            "access_token",
            "expires_in",
            "must_change_password",
            "token_type"
        ]
    );
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], TOKEN_TTL_SECS);
    assert_eq!(body["must_change_password"], false);
    let token = str_of(&body["access_token"]);
    assert_eq!(token.split('.').count(), 3, "a compact JWT: {token}");
    app.get_me(&token).assert_status(200);
}

#[test]
fn login_also_accepts_the_oauth2_password_form() {
    let app = spawn_app();
    app.post_register(
        &json!({"email": "form@example.org", "username": "Form", "password": PASSWORD}),
    )
    .assert_status(201);

    let response = app.post_login_form("form@example.org", PASSWORD);
    response.assert_status(200).assert_no_store();
    let body = response.json();
    assert_eq!(body["token_type"], "bearer");
    app.get_me(body["access_token"].as_str().unwrap_or_default())
        .assert_status(200);

    // The OAuth2 extras (grant_type, scope) are accepted and ignored.
    let with_extras = app
        .request("POST", "/api/v1/auth/login")
        .form(&[
            ("grant_type", "password"),
            ("username", "form@example.org"),
            ("password", PASSWORD),
            ("scope", ""),
        ])
        .send();
    with_extras.assert_status(200);

    let wrong = app.post_login_form("form@example.org", OTHER_PASSWORD);
    wrong.assert_v1_error(401, "INVALID_CREDENTIALS");
}

#[test]
fn login_failures_are_identical_for_an_unknown_email_and_a_wrong_password() {
    let app = spawn_app();
    app.post_register(
        &json!({"email": "known@example.org", "username": "K", "password": PASSWORD}),
    )
    .assert_status(201);

    let unknown = app.post_login_v1("nobody@example.org", PASSWORD);
    let wrong = app.post_login_v1("known@example.org", OTHER_PASSWORD);

    unknown.assert_v1_error(401, "INVALID_CREDENTIALS");
    wrong.assert_v1_error(401, "INVALID_CREDENTIALS");
    assert_eq!(unknown.json(), wrong.json(), "rule 10: same body");
    assert_eq!(
        unknown.header("www-authenticate"),
        wrong.header("www-authenticate")
    );
}

#[test]
fn logout_answers_204_and_revokes_the_token() {
    let app = spawn_app();
    let (_, token) = register_and_log_in(&app, "out@example.org", "Out");

    let response = app.post_logout(&token);

    response.assert_status(204);
    assert!(response.body.is_empty(), "{}", response.body);
    app.get_me(&token).assert_v1_error(401, "INVALID_TOKEN");
}

#[test]
fn me_answers_the_callers_user_out() {
    let app = spawn_app();
    let (registered, token) = register_and_log_in(&app, "me@example.org", "Me Myself");

    let response = app.get_me(&token);

    response.assert_status(200);
    let me = response.json();
    assert_user_out(&me);
    assert_eq!(me, registered);
}

#[test]
fn put_me_changes_the_name_freely_and_the_email_with_the_current_password() {
    let app = spawn_app();
    let (_, token) = register_and_log_in(&app, "carol@example.org", "Carol");

    let renamed = app.put_me(&token, &json!({"username": "Carol Shaw"}));
    renamed.assert_status(200);
    assert_eq!(renamed.json()["username"], "Carol Shaw");

    let without = app.put_me(&token, &json!({"email": "carol@new.example.org"}));
    let detail = without.assert_v1_validation("VALIDATION_ERROR");
    assert_eq!(
        detail[0]["loc"],
        json!(["body", "current_password"]),
        "{}",
        without.body
    );
    assert_eq!(detail[0]["type"], "CURRENT_PASSWORD_REQUIRED");

    let wrong = app.put_me(
        &token,
        &json!({"email": "carol@new.example.org", "current_password": OTHER_PASSWORD}),
    );
    wrong.assert_v1_error(400, "INVALID_CURRENT_PASSWORD");

    let changed = app.put_me(
        &token,
        &json!({"email": "carol@new.example.org", "current_password": PASSWORD}),
    );
    changed.assert_status(200);
    let me = changed.json();
    assert_user_out(&me);
    assert_eq!(me["email"], "carol@new.example.org");
    assert_eq!(me["username"], "Carol Shaw");
    app.get_me(&token).assert_status(200);
    app.post_login_v1("carol@new.example.org", PASSWORD)
        .assert_status(200);
}

#[test]
fn put_me_password_change_revokes_older_tokens_and_the_old_password() {
    let app = spawn_app();
    let (_, token) = register_and_log_in(&app, "dan@example.org", "Dan");

    let changed = app.put_me(
        &token,
        &json!({"password": OTHER_PASSWORD, "current_password": PASSWORD}),
    );

    changed.assert_status(200);
    assert_eq!(changed.json()["must_change_password"], false);
    app.get_me(&token).assert_v1_error(401, "INVALID_TOKEN");
    app.post_login_v1("dan@example.org", PASSWORD)
        .assert_v1_error(401, "INVALID_CREDENTIALS");
    app.post_login_v1("dan@example.org", OTHER_PASSWORD)
        .assert_status(200);
}

#[test]
fn delete_me_needs_the_current_password_then_removes_the_account() {
    let app = spawn_app();
    let (_, token) = register_and_log_in(&app, "gone@example.org", "Gone");

    app.delete_me(&token, OTHER_PASSWORD)
        .assert_v1_error(400, "INVALID_CURRENT_PASSWORD");
    app.get_me(&token).assert_status(200);

    let deleted = app.delete_me(&token, PASSWORD);

    deleted.assert_status(204);
    assert!(deleted.body.is_empty());
    app.get_me(&token).assert_v1_error(401, "INVALID_TOKEN");
    app.post_login_v1("gone@example.org", PASSWORD)
        .assert_v1_error(401, "INVALID_CREDENTIALS");
}

#[test]
fn admin_list_answers_a_bare_array_with_x_total_count_and_pages() {
    let app = spawn_app();
    let admin = app.admin_token();
    let a = app.create_user("TAXATEUR");
    let b = app.create_user("CONTRIBUABLE");
    let c = app.create_user("TAXATEUR");

    let all = app.get_admin_users(admin, "");
    all.assert_status(200).assert_json_content_type();
    assert_eq!(all.header("x-total-count"), Some("4"), "root + 3");
    let items = all.json();
    let items = items.as_array().expect("a bare JSON array");
    assert_eq!(items.len(), 4);
    for user in items {
        assert_user_out(user);
    }
    let ids: Vec<&str> = items.iter().filter_map(|u| u["id"].as_str()).collect();
    assert_eq!(
        ids,
        [app.admin.id.as_str(), &a.id, &b.id, &c.id],
        "ordered by creation"
    );

    let page = app.get_admin_users(admin, "skip=1&limit=2");
    page.assert_status(200);
    assert_eq!(page.header("x-total-count"), Some("4"));
    let page_ids: Vec<String> = page
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|u| str_of(&u["id"]))
        .collect();
    assert_eq!(page_ids, [a.id.clone(), b.id.clone()]);

    let beyond = app.get_admin_users(admin, "skip=10");
    beyond.assert_status(200);
    assert_eq!(beyond.json(), json!([]));
    assert_eq!(beyond.header("x-total-count"), Some("4"));

    let taxateurs = app.get_admin_users(admin, "role=TAXATEUR");
    assert_eq!(
        taxateurs.header("x-total-count"),
        Some("2"),
        "{}",
        taxateurs.body
    );

    let by_login = app.get_admin_users(admin, &format!("q={}", b.login.to_uppercase()));
    assert_eq!(
        by_login.header("x-total-count"),
        Some("1"),
        "{}",
        by_login.body
    );
    assert_eq!(by_login.json()[0]["id"], b.id.as_str());

    app.post_bloquer(admin, &c.id, Some(&json!({"bloque": true})))
        .assert_status(200);
    let blocked = app.get_admin_users(admin, "is_blocked=true");
    assert_eq!(blocked.header("x-total-count"), Some("1"));
    assert_eq!(blocked.json()[0]["id"], c.id.as_str());
    let active_taxateurs =
        app.get_admin_users(admin, "role=TAXATEUR&is_blocked=false&is_active=true");
    assert_eq!(
        active_taxateurs.header("x-total-count"),
        Some("1"),
        "filters combine"
    );

    app.get_admin_users(admin, "limit=101")
        .assert_v1_validation("VALIDATION_ERROR");
    app.get_admin_users(admin, "limit=0")
        .assert_v1_validation("VALIDATION_ERROR");
    app.get_admin_users(admin, "role=KING")
        .assert_v1_validation("VALIDATION_ERROR");
    app.get_admin_users(admin, "skip=-1").assert_status(422);
}

#[test]
fn admin_get_answers_the_user_or_404_for_unknown_and_malformed_ids() {
    let app = spawn_app();
    let admin = app.admin_token();
    let user = app.create_user("CONTROLLEUR");

    let found = app.get_admin_user(admin, &user.id);
    found.assert_status(200);
    let body = found.json();
    assert_user_out(&body);
    assert_eq!(body["id"], user.id.as_str());
    assert_eq!(body["role"], "CONTROLLEUR");
    assert_eq!(body["email"], user.email.as_str());
    assert_eq!(
        body["must_change_password"], true,
        "created by an ADMIN (rule 4)"
    );

    app.get_admin_user(admin, "6f1c1c1e-9a4b-4c5e-8f00-000000000000")
        .assert_v1_error(404, "NOT_FOUND");
    app.get_admin_user(admin, "not-a-uuid")
        .assert_v1_error(404, "NOT_FOUND");
}

#[test]
fn admin_put_updates_fields_and_maps_is_admin_to_roles() {
    let app = spawn_app();
    let admin = app.admin_token();
    let user = app.create_user("TAXATEUR");

    let updated = app.put_admin_user(
        admin,
        &user.id,
        &json!({"username": "Renamed", "email": "renamed@e2e.test"}),
    );
    updated.assert_status(200);
    let body = updated.json();
    assert_user_out(&body);
    assert_eq!(body["username"], "Renamed");
    assert_eq!(body["email"], "renamed@e2e.test");
    assert_eq!(body["role"], "TAXATEUR");

    let promoted = app.put_admin_user(admin, &user.id, &json!({"is_admin": true}));
    promoted.assert_status(200);
    assert_eq!(promoted.json()["role"], "ADMIN");
    assert_eq!(promoted.json()["is_admin"], true);

    let demoted = app.put_admin_user(admin, &user.id, &json!({"is_admin": false}));
    demoted.assert_status(200);
    assert_eq!(
        demoted.json()["role"],
        "CONTRIBUABLE",
        "the self-registration role"
    );
    assert_eq!(demoted.json()["is_admin"], false);

    app.put_admin_user(admin, &user.id, &json!({"is_admin": true}))
        .assert_status(200);
    let demoted_to = app.put_admin_user(
        admin,
        &user.id,
        &json!({"is_admin": false, "role": "DIRECTEUR"}),
    );
    demoted_to.assert_status(200);
    assert_eq!(demoted_to.json()["role"], "DIRECTEUR");

    let by_role = app.put_admin_user(admin, &user.id, &json!({"role": "RECEVEUR_DES_IMPOTS"}));
    by_role.assert_status(200);
    assert_eq!(by_role.json()["role"], "RECEVEUR_DES_IMPOTS");

    let deactivated = app.put_admin_user(admin, &user.id, &json!({"is_active": false}));
    deactivated.assert_status(200);
    assert_eq!(deactivated.json()["is_active"], false);
    app.post_login_v1(&user.login, &user.password)
        .assert_v1_error(403, "ACCOUNT_INACTIVE");
    app.put_admin_user(admin, &user.id, &json!({"is_active": true}))
        .assert_status(200);

    let other = app.create_user("TAXATEUR");
    app.put_admin_user(
        admin,
        &user.id,
        &json!({"email": other.email.to_uppercase()}),
    )
    .assert_v1_error(409, "EMAIL_TAKEN");
    app.put_admin_user(admin, &user.id, &json!({"role": "SUPERUSER"}))
        .assert_v1_validation("VALIDATION_ERROR");
    app.put_admin_user(admin, &user.id, &json!({"login": "new-login"}))
        .assert_status(422);
}

#[test]
fn admin_put_with_a_password_forces_a_change_at_next_login() {
    let app = spawn_app();
    let admin = app.admin_token();
    let user = app.create_active_user("TAXATEUR");

    let response = app.put_admin_user(admin, &user.id, &json!({"password": OTHER_PASSWORD}));

    response.assert_status(200);
    assert_eq!(response.json()["must_change_password"], true, "rule 13");
    app.get_me(user.token())
        .assert_v1_error(401, "INVALID_TOKEN");
    let login = app.post_login_v1(&user.login, OTHER_PASSWORD);
    login.assert_status(200);
    assert_eq!(login.json()["must_change_password"], true);
}

#[test]
fn admin_delete_answers_204_then_the_user_is_gone() {
    let app = spawn_app();
    let admin = app.admin_token();
    let user = app.create_active_user("CONTRIBUABLE");

    let deleted = app.delete_admin_user(admin, &user.id);

    deleted.assert_status(204);
    assert!(deleted.body.is_empty());
    app.get_admin_user(admin, &user.id)
        .assert_v1_error(404, "NOT_FOUND");
    app.delete_admin_user(admin, &user.id)
        .assert_v1_error(404, "NOT_FOUND");
    app.delete_admin_user(admin, "garbage")
        .assert_v1_error(404, "NOT_FOUND");
    app.post_login_v1(&user.login, &user.password)
        .assert_v1_error(401, "INVALID_CREDENTIALS");
}
