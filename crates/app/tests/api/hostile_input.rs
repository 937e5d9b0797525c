//! What a hostile or careless client can send: mass assignment (unknown fields → 422),
//! malformed JSON (400), wrong content type (415), oversized bodies (413), NoSQL-operator
//! shapes, null bytes, control characters and very long strings (4xx), unknown routes and
//! malformed ids (404). The harness already fails any 5xx.

use serde_json::{Value, json};

use crate::helpers::{
    INITIAL_PASSWORD, PASSWORD, ROOT_LOGIN, ROOT_PASSWORD, Response, TestApp, USER_OUT_FIELDS,
    keys, spawn_app, str_of,
};

/// Just over the 64 KiB limit.
const OVERSIZED: usize = 64 * 1024 + 1;

fn logins_matching(app: &TestApp, q: &str) -> u64 {
    app.get_utilisateurs(app.admin_token(), &format!("q={q}"))
        .data()["total"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

#[test]
fn mass_assignment_on_put_me_is_refused_and_changes_nothing() {
    let app = spawn_app();
    let user = app.create_active_user("CONTRIBUABLE");
    let token = user.token();
    let before = app.get_me(token).json();

    for body in [
        json!({"is_admin": true}),
        json!({"role": "ADMIN"}),
        json!({"is_active": false}),
        json!({"is_blocked": false}),
        json!({"must_change_password": false}),
        json!({"id": "6f1c1c1e-9a4b-4c5e-8f00-000000000000"}),
        json!({"username": "Sneaky", "is_admin": true}),
        json!({"username": "Sneaky", "role": "ADMIN"}),
        json!({"password_hash": "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA"}),
    ] {
        let response = app.put_me(token, &body);
        let detail = response.assert_v1_validation("VALIDATION_ERROR");
        let named = body
            .as_object()
            .map(|o| {
                o.keys()
                    .any(|k| detail.iter().any(|d| d["loc"][1] == k.as_str()))
            })
            .unwrap_or(false);
        assert!(
            named,
            "the refused field is named: {body} → {}",
            response.body
        );
    }

    assert_eq!(app.get_me(token).json(), before, "nothing changed");
    app.get_admin_users(token, "")
        .assert_v1_error(403, "PERMISSION_DENIED");
}

#[test]
fn unknown_fields_are_refused_on_every_write_body() {
    let app = spawn_app();
    let admin = app.admin_token();
    let target = app.create_user("TAXATEUR");
    let before = app.utilisateur(&target.id);

    let register = app.post_register(&json!({
        "email": "mallory@example.org", "username": "Mallory", "password": PASSWORD,
        "is_admin": true, "role": "ADMIN"
    }));
    register.assert_v1_validation("VALIDATION_ERROR");
    app.post_login_v1("mallory@example.org", PASSWORD)
        .assert_v1_error(401, "INVALID_CREDENTIALS");

    for extra in [
        json!({"actif": false}),
        json!({"bloque": true}),
        json!({"premierConnexion": false}),
        json!({"isAdmin": true}),
        json!({"id": "6f1c1c1e-9a4b-4c5e-8f00-000000000000"}),
    ] {
        let (login, mut body) = TestApp::new_user_body("TAXATEUR");
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        app.post_utilisateur(admin, &body)
            .assert_fr_error(422, "DONNEES_INVALIDES");
        assert_eq!(
            logins_matching(&app, &login),
            0,
            "nothing created for {extra}"
        );
    }

    for body in [
        json!({"bloque": true}),
        json!({"premierConnexion": false}),
        json!({"login": "renamed"}),
        json!({"grade": "Chef", "motDePasse": PASSWORD}),
    ] {
        app.put_utilisateur(admin, &target.id, &body)
            .assert_fr_error(422, "DONNEES_INVALIDES");
    }
    for body in [
        json!({"is_blocked": true}),
        json!({"must_change_password": false}),
        json!({"login": "renamed"}),
    ] {
        app.put_admin_user(admin, &target.id, &body)
            .assert_v1_validation("VALIDATION_ERROR");
    }
    assert_eq!(app.utilisateur(&target.id), before, "nothing changed");

    app.post_bloquer(
        admin,
        &target.id,
        Some(&json!({"bloque": true, "until": "forever"})),
    )
    .assert_fr_error(422, "DONNEES_INVALIDES");
    app.post_reset_password(admin, &target.id, Some(&json!({"motDePasse": PASSWORD})))
        .assert_fr_error(422, "DONNEES_INVALIDES");
    app.request("POST", "/api/auth/login")
        .json(&json!({"login": ROOT_LOGIN, "motDePasse": ROOT_PASSWORD, "role": "ADMIN"}))
        .send()
        .assert_fr_error(422, "DONNEES_INVALIDES");
    app.request("POST", "/api/v1/auth/login")
        .json(&json!({"email": ROOT_LOGIN, "password": ROOT_PASSWORD, "scope": "admin"}))
        .send()
        .assert_v1_error(422, "VALIDATION_ERROR");
    let mut restricted = app.create_user("TAXATEUR");
    app.log_in(&mut restricted);
    app.request("POST", "/api/utilisateurs/change-password")
        .bearer(restricted.token())
        .json(&json!({
            "ancienMotDePasse": INITIAL_PASSWORD, "nouveauMotDePasse": PASSWORD,
            "premierConnexion": false
        }))
        .send()
        .assert_fr_error(422, "DONNEES_INVALIDES");
    assert_eq!(app.utilisateur(&target.id)["bloque"], false);
}

#[test]
fn v1_login_validation_errors_list_the_fields() {
    let app = spawn_app();

    for (body, field) in [
        (json!({"email": {"$ne": null}, "password": "x"}), "email"),
        (
            json!({"email": ROOT_LOGIN, "password": ROOT_PASSWORD, "scope": "admin"}),
            "scope",
        ),
        (json!({"email": ROOT_LOGIN}), "password"),
    ] {
        let response = app.request("POST", "/api/v1/auth/login").json(&body).send();
        let detail = response.assert_v1_validation("VALIDATION_ERROR");
        assert_eq!(
            detail[0]["loc"],
            json!(["body", field]),
            "{body}: {}",
            response.body
        );
    }
    let form = app
        .request("POST", "/api/v1/auth/login")
        .form(&[("username", ROOT_LOGIN)])
        .send();
    form.assert_v1_validation("VALIDATION_ERROR");
    let malformed = app
        .request("POST", "/api/v1/auth/login")
        .header("Content-Type", "application/json")
        .body(b"{bad".to_vec())
        .send();
    let detail = malformed.assert_v1_error(400, "MALFORMED_JSON");
    assert!(
        !detail.as_str().unwrap_or_default().starts_with("400 "),
        "the message is not prefixed with the status and code: {detail}"
    );
}

/// `body` sent as it is, declared as JSON, with `token` when given.
fn json_bytes(
    app: &TestApp,
    method: &'static str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Response {
    let request = app
        .request(method, path)
        .header("Content-Type", "application/json")
        .body(body.as_bytes().to_vec());
    match token {
        Some(token) => request.bearer(token).send(),
        None => request.send(),
    }
}

#[test]
fn malformed_json_is_400_in_both_dialects() {
    let app = spawn_app();
    let admin = app.admin_token();
    let target = app.create_user("TAXATEUR");
    let raw = |method: &'static str, path: &str, token: Option<&str>, body: &str| {
        json_bytes(&app, method, path, token, body)
    };

    // Each of these fails before any field name is read (an unknown field would be a 422).
    for body in [r#"{""#, "{bad json}", "not json at all", "{,}", "{'a': 1}"] {
        raw("POST", "/api/v1/auth/register", None, body).assert_v1_error(400, "MALFORMED_JSON");
        raw("POST", "/api/v1/auth/login", None, body).assert_v1_error(400, "MALFORMED_JSON");
        raw("PUT", "/api/v1/users/me", Some(admin), body).assert_v1_error(400, "MALFORMED_JSON");
        raw(
            "PUT",
            &format!("/api/v1/admin/users/{}", target.id),
            Some(admin),
            body,
        )
        .assert_v1_error(400, "MALFORMED_JSON");
        raw("POST", "/api/auth/login", None, body).assert_fr_error_status(400);
        raw("POST", "/api/utilisateurs", Some(admin), body).assert_fr_error_status(400);
        raw(
            "PUT",
            &format!("/api/utilisateurs/{}", target.id),
            Some(admin),
            body,
        )
        .assert_fr_error_status(400);
        raw(
            "POST",
            &format!("/api/utilisateurs/{}/bloquer", target.id),
            Some(admin),
            body,
        )
        .assert_fr_error_status(400);
        raw(
            "POST",
            &format!("/api/utilisateurs/{}/reset-password", target.id),
            Some(admin),
            body,
        )
        .assert_fr_error_status(400);
    }
    let invalid_utf8 = app
        .request("POST", "/api/auth/login")
        .header("Content-Type", "application/json")
        .body(b"{\"login\": \"\xff\xfe\", \"motDePasse\": \"x\"}".to_vec())
        .send();
    invalid_utf8.assert_fr_error_status(400);
    assert_eq!(app.utilisateur(&target.id)["bloque"], false);
}

/// Well-formed JSON followed by more bytes, whose first value alone would be a 422 (missing
/// or unknown fields) on every route below.
const NOT_ONE_JSON_VALUE: [&str; 6] = [
    r#"{"email": "a@b.cd"} trai"#,
    r#"{"email": "a@b.cd"} {"email": "a@b.cd"}"#,
    r#"{"email": "a@b.cd"}{"password": "x"}"#,
    "{}x",
    "{}]",
    "{} 1",
];

#[test]
fn a_body_that_is_not_exactly_one_json_value_is_400_before_any_field_is_judged() {
    let app = spawn_app();
    let admin = app.admin_token();
    let target = app.create_user("TAXATEUR");
    let before = app.utilisateur(&target.id);
    let raw = |method: &'static str, path: &str, token: Option<&str>, body: &str| {
        json_bytes(&app, method, path, token, body)
    };

    for body in NOT_ONE_JSON_VALUE {
        for (method, path, token) in [
            ("POST", "/api/v1/auth/register".to_owned(), None),
            ("POST", "/api/v1/auth/login".to_owned(), None),
            ("PUT", "/api/v1/users/me".to_owned(), Some(admin)),
            ("DELETE", "/api/v1/users/me".to_owned(), Some(admin)),
            (
                "PUT",
                format!("/api/v1/admin/users/{}", target.id),
                Some(admin),
            ),
        ] {
            let response = raw(method, &path, token, body);
            let detail = response.assert_v1_error(400, "MALFORMED_JSON");
            assert!(detail.is_string(), "{body}: {}", response.body);
        }
        for (path, token) in [
            ("/api/auth/login".to_owned(), None),
            ("/api/utilisateurs".to_owned(), Some(admin)),
            (
                format!("/api/utilisateurs/{}/bloquer", target.id),
                Some(admin),
            ),
            (
                format!("/api/utilisateurs/{}/reset-password", target.id),
                Some(admin),
            ),
            ("/api/utilisateurs/change-password".to_owned(), Some(admin)),
        ] {
            let error = raw("POST", &path, token, body).assert_fr_error(400, "JSON_MALFORME");
            assert_eq!(error["details"], json!([]), "{body}: {error}");
        }
        raw(
            "PUT",
            &format!("/api/utilisateurs/{}", target.id),
            Some(admin),
            body,
        )
        .assert_fr_error(400, "JSON_MALFORME");
    }

    // Whitespace around the one value is not "more bytes"; a well-formed body of the wrong
    // shape is still the 422 that names the field.
    raw(
        "POST",
        "/api/auth/login",
        None,
        &format!(
            " \n{} \r\n\t",
            json!({"login": ROOT_LOGIN, "motDePasse": ROOT_PASSWORD})
        ),
    )
    .assert_status(200);
    let wrong_shape = raw("POST", "/api/auth/login", None, r#"{"email": "a@b.cd"}"#);
    wrong_shape.assert_fr_error(422, "DONNEES_INVALIDES");
    assert_eq!(wrong_shape.fr_fields(), ["email"], "{}", wrong_shape.body);
    raw("POST", "/api/v1/auth/login", None, r#"{"email": "a@b.cd"}"#)
        .assert_v1_validation("VALIDATION_ERROR");

    assert_eq!(app.utilisateur(&target.id), before, "nothing changed");
    app.get_utilisateur_me(admin).assert_status(200);
}

#[test]
fn a_body_that_is_not_declared_as_json_is_415() {
    let app = spawn_app();
    let admin = app.admin_token();
    let target = app.create_user("TAXATEUR");
    let body = json!({"login": ROOT_LOGIN, "motDePasse": ROOT_PASSWORD}).to_string();
    let send =
        |method: &'static str, path: &str, token: Option<&str>, content_type: Option<&str>| {
            let mut request = app.request(method, path).body(body.clone().into_bytes());
            if let Some(content_type) = content_type {
                request = request.header("Content-Type", content_type);
            }
            if let Some(token) = token {
                request = request.bearer(token);
            }
            request.send()
        };

    for content_type in [Some("text/plain"), Some("application/xml"), None] {
        send("POST", "/api/v1/auth/register", None, content_type)
            .assert_v1_error(415, "UNSUPPORTED_MEDIA_TYPE");
        send("POST", "/api/v1/auth/login", None, content_type)
            .assert_v1_error(415, "UNSUPPORTED_MEDIA_TYPE");
        send("PUT", "/api/v1/users/me", Some(admin), content_type)
            .assert_v1_error(415, "UNSUPPORTED_MEDIA_TYPE");
        send("POST", "/api/auth/login", None, content_type).assert_fr_error_status(415);
        send("POST", "/api/utilisateurs", Some(admin), content_type).assert_fr_error_status(415);
        send(
            "POST",
            &format!("/api/utilisateurs/{}/bloquer", target.id),
            Some(admin),
            content_type,
        )
        .assert_fr_error_status(415);
        send(
            "POST",
            "/api/utilisateurs/change-password",
            Some(admin),
            content_type,
        )
        .assert_fr_error_status(415);
    }
    // The fr login is JSON only: the OAuth2 form is v1's.
    app.request("POST", "/api/auth/login")
        .form(&[("login", ROOT_LOGIN), ("motDePasse", ROOT_PASSWORD)])
        .send()
        .assert_fr_error_status(415);
    assert_eq!(app.utilisateur(&target.id)["bloque"], false);
}

#[test]
fn bodies_over_64_kib_are_413() {
    let app = spawn_app();
    let admin = app.admin_token();
    let target = app.create_user("TAXATEUR");
    let big = "x".repeat(OVERSIZED);
    let json_body = |value: Value| value.to_string().into_bytes();

    let cases: Vec<(&str, String, bool, Vec<u8>)> = vec![
        (
            "POST",
            "/api/v1/auth/register".to_owned(),
            false,
            json_body(json!({"email": "big@example.org", "username": big, "password": PASSWORD})),
        ),
        (
            "POST",
            "/api/v1/auth/login".to_owned(),
            false,
            json_body(json!({"email": ROOT_LOGIN, "password": big})),
        ),
        (
            "POST",
            "/api/auth/login".to_owned(),
            false,
            json_body(json!({"login": big, "motDePasse": "x"})),
        ),
        (
            "POST",
            "/api/utilisateurs".to_owned(),
            true,
            json_body(
                json!({"login": "big", "motDePasse": PASSWORD, "nomComplet": big, "role": "TAXATEUR"}),
            ),
        ),
        (
            "PUT",
            format!("/api/utilisateurs/{}", target.id),
            true,
            json_body(json!({"adresse": big})),
        ),
        (
            "POST",
            format!("/api/utilisateurs/{}/bloquer", target.id),
            true,
            json_body(json!({"bloque": true, "motif": big})),
        ),
        (
            "POST",
            format!("/api/utilisateurs/{}/reset-password", target.id),
            true,
            json_body(json!({"nouveauMotDePasse": big})),
        ),
        (
            "PUT",
            "/api/v1/users/me".to_owned(),
            true,
            json_body(json!({"username": big})),
        ),
    ];
    for (method, path, authed, body) in cases {
        let mut request = app
            .request(method, &path)
            .header("Content-Type", "application/json")
            .body(body);
        if authed {
            request = request.bearer(admin);
        }
        let response = request.send();
        response.assert_status(413);
        if path.starts_with("/api/v1/") {
            response.assert_v1_error(413, "PAYLOAD_TOO_LARGE");
        } else {
            response.assert_fr_error_status(413);
        }
    }

    let form = app
        .request("POST", "/api/v1/auth/login")
        .form(&[("username", ROOT_LOGIN), ("password", &big)])
        .send();
    form.assert_v1_error(413, "PAYLOAD_TOO_LARGE");

    // Just under the limit is judged on its content, not its size.
    let under = "y".repeat(60 * 1024);
    app.post_register(
        &json!({"email": "under@example.org", "username": under, "password": PASSWORD}),
    )
    .assert_v1_validation("VALIDATION_ERROR");
    assert_eq!(app.utilisateur(&target.id)["bloque"], false);
}

#[test]
fn nosql_operator_shaped_bodies_are_422_never_5xx() {
    let app = spawn_app();
    let admin = app.admin_token();
    let target = app.create_user("TAXATEUR");
    let before = app.utilisateur(&target.id);
    let ne = json!({"$ne": null});

    for body in [
        json!({"email": ne, "password": "x"}),
        json!({"email": ROOT_LOGIN, "password": ne}),
        json!({"email": {"$gt": ""}, "password": {"$gt": ""}}),
        json!({"email": {"$regex": ".*"}, "password": "x"}),
        json!({"email": [ROOT_LOGIN], "password": ROOT_PASSWORD}),
    ] {
        // The shape of `detail` is left to `v1_login_validation_errors_list_the_fields`.
        app.request("POST", "/api/v1/auth/login")
            .json(&body)
            .send()
            .assert_v1_error(422, "VALIDATION_ERROR");
    }
    for body in [
        json!({"login": ne, "motDePasse": "x"}),
        json!({"login": ROOT_LOGIN, "motDePasse": ne}),
        json!({"login": {"$where": "1 == 1"}, "motDePasse": {"$exists": true}}),
    ] {
        app.request("POST", "/api/auth/login")
            .json(&body)
            .send()
            .assert_fr_error(422, "DONNEES_INVALIDES");
    }
    app.post_register(&json!({"email": ne, "username": "x", "password": PASSWORD}))
        .assert_v1_validation("VALIDATION_ERROR");
    app.post_register(
        &json!({"email": "nosql@example.org", "username": {"$gt": ""}, "password": PASSWORD}),
    )
    .assert_v1_validation("VALIDATION_ERROR");

    let (login, mut create) = TestApp::new_user_body("TAXATEUR");
    create["login"] = ne.clone();
    app.post_utilisateur(admin, &create)
        .assert_fr_error(422, "DONNEES_INVALIDES");
    let (_, mut create) = TestApp::new_user_body("TAXATEUR");
    create["role"] = json!({"$in": ["ADMIN"]});
    app.post_utilisateur(admin, &create)
        .assert_fr_error(422, "DONNEES_INVALIDES");
    assert_eq!(logins_matching(&app, &login), 0);

    app.put_utilisateur(admin, &target.id, &json!({"email": {"$regex": ".*"}}))
        .assert_fr_error(422, "DONNEES_INVALIDES");
    app.put_utilisateur(admin, &target.id, &json!({"role": ne}))
        .assert_fr_error(422, "DONNEES_INVALIDES");
    app.put_admin_user(admin, &target.id, &json!({"email": ne}))
        .assert_v1_validation("VALIDATION_ERROR");
    app.put_admin_user(admin, &target.id, &json!({"is_admin": {"$ne": false}}))
        .assert_v1_validation("VALIDATION_ERROR");
    app.put_me(
        admin,
        &json!({"email": ne, "current_password": ROOT_PASSWORD}),
    )
    .assert_v1_validation("VALIDATION_ERROR");
    app.post_bloquer(admin, &target.id, Some(&json!({"bloque": ne})))
        .assert_fr_error(422, "DONNEES_INVALIDES");
    app.post_reset_password(admin, &target.id, Some(&json!({"nouveauMotDePasse": ne})))
        .assert_fr_error(422, "DONNEES_INVALIDES");

    assert_eq!(app.utilisateur(&target.id), before, "nothing changed");
}

#[test]
fn operator_or_pattern_text_is_plain_text() {
    let app = spawn_app();
    let admin = app.admin_token();
    app.create_user("TAXATEUR");

    for identifier in [
        r#"{"$ne": null}"#,
        "root' || '1'=='1",
        "root\" || \"\"==\"",
        "$where",
        ".*",
        "^root",
    ] {
        app.post_login(identifier, ROOT_PASSWORD)
            .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
        app.post_login_v1(identifier, ROOT_PASSWORD)
            .assert_v1_error(401, "INVALID_CREDENTIALS");
    }
    for q in [
        "%7B%22%24ne%22%3Anull%7D",
        ".%2A",
        "%5Eroot",
        "root%7C.%2A",
        "%24where",
        "%5C",
    ] {
        let found = app.get_utilisateurs(admin, &format!("q={q}")).data();
        assert_eq!(found["total"], 0, "q={q}: {found}");
        let v1 = app.get_admin_users(admin, &format!("q={q}"));
        v1.assert_status(200);
        assert_eq!(v1.header("x-total-count"), Some("0"), "q={q}");
    }
    // Extreme paging is a page like any other, or a 422.
    let far = app.get_admin_users(admin, "skip=18446744073709551615&limit=100");
    assert!([200, 422].contains(&far.status), "{}", far.body);
    let far = app.get_utilisateurs(admin, "page=1000000000000&size=100");
    far.assert_status(200);
    assert_eq!(far.data()["utilisateurs"], json!([]));
    app.get_utilisateurs(admin, "page=18446744073709551615&size=100")
        .assert_fr_error(422, "DONNEES_INVALIDES");
    // Bracketed parameters are not operators; the service ignores or refuses them.
    for query in [
        "q%5B%24ne%5D=x",
        "role%5B%24ne%5D=ADMIN",
        "actif%5B%24ne%5D=true",
        "page%5B%24gt%5D=0",
    ] {
        let response = app.get_utilisateurs(admin, query);
        assert!(
            [200, 422].contains(&response.status),
            "{query}: {} {}",
            response.status,
            response.body
        );
        if response.status == 200 {
            assert_eq!(response.data()["total"], 2, "{query}: no filter applied");
        }
    }
}

#[test]
fn null_bytes_and_control_characters_are_refused() {
    let app = spawn_app();
    let admin = app.admin_token();
    let target = app.create_user("TAXATEUR");

    for username in [
        "Ada\u{0}Lovelace",
        "Ada\u{7}",
        "Ada\u{1b}[31m",
        "Ada\nLovelace",
    ] {
        let response = app.post_register(&json!({
            "email": "ctrl@example.org", "username": username, "password": PASSWORD
        }));
        let detail = response.assert_v1_validation("VALIDATION_ERROR");
        assert_eq!(
            detail[0]["loc"],
            json!(["body", "username"]),
            "{username:?}"
        );
    }
    app.post_register(
        &json!({"email": "ctrl\u{0}@example.org", "username": "C", "password": PASSWORD}),
    )
    .assert_v1_validation("VALIDATION_ERROR");

    let cases = [
        ("login", json!("bad\u{0}login")),
        ("login", json!("bad\u{202e}login")),
        ("nomComplet", json!("Bell\u{7}")),
        ("nomComplet", json!("Nul\u{0}Name")),
        ("grade", json!("\u{1b}[31mChef")),
        ("adresse", json!("Rue\u{0}1")),
        ("telephone", json!("+243\u{0}820123456")),
        ("email", json!("x\u{0}@e2e.test")),
    ];
    for (field, value) in cases {
        let (_, mut body) = TestApp::new_user_body("TAXATEUR");
        body[field] = value.clone();
        let response = app.post_utilisateur(admin, &body);
        response.assert_fr_error(422, "DONNEES_INVALIDES");
        assert_eq!(response.fr_fields(), [field], "{value}");
    }
    for (field, value) in [
        ("nomComplet", "Tab\tName"),
        ("grade", "\u{0}"),
        ("adresse", "a\u{85}b"),
    ] {
        let response = app.put_utilisateur(admin, &target.id, &json!({ field: value }));
        response.assert_fr_error(422, "DONNEES_INVALIDES");
    }
    app.post_bloquer(
        admin,
        &target.id,
        Some(&json!({"bloque": true, "motif": "log\ninjection"})),
    )
    .assert_fr_error(422, "DONNEES_INVALIDES");

    app.post_login("root\u{0}", ROOT_PASSWORD)
        .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    app.post_login_v1("root\u{0}", ROOT_PASSWORD)
        .assert_v1_error(401, "INVALID_CREDENTIALS");
    app.post_login(ROOT_LOGIN, &format!("{ROOT_PASSWORD}\u{0}"))
        .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");

    // A password is opaque: a NUL inside it is allowed, but it must round-trip exactly.
    let odd = "Nul\u{0}Inside-Pass9!";
    let registered = app.post_register(&json!({
        "email": "odd@example.org", "username": "Odd", "password": odd
    }));
    if registered.status == 201 {
        app.post_login_v1("odd@example.org", odd).assert_status(200);
        app.post_login_v1("odd@example.org", "Nul")
            .assert_v1_error(401, "INVALID_CREDENTIALS");
    } else {
        registered.assert_client_error();
    }
    assert_eq!(app.utilisateur(&target.id)["bloque"], false);
}

#[test]
fn very_long_strings_are_refused() {
    let app = spawn_app();
    let admin = app.admin_token();
    let target = app.create_user("TAXATEUR");
    let long = |n: usize| "a".repeat(n);

    for (field, value, code) in [
        ("login", long(65), "DONNEES_INVALIDES"),
        ("login", long(20_000), "DONNEES_INVALIDES"),
        ("nomComplet", long(201), "DONNEES_INVALIDES"),
        ("nomComplet", long(50_000), "DONNEES_INVALIDES"),
        (
            "email",
            format!("{}@e2e.test", long(300)),
            "DONNEES_INVALIDES",
        ),
        ("grade", long(101), "DONNEES_INVALIDES"),
        ("adresse", long(501), "DONNEES_INVALIDES"),
        (
            "telephone",
            format!("+{}", "1".repeat(40)),
            "DONNEES_INVALIDES",
        ),
        (
            "motDePasse",
            format!("Aa1!{}", long(2000)),
            "DONNEES_INVALIDES",
        ),
        (
            "motDePasse",
            format!("Aa1!{}", "xY7#".repeat(40)),
            "MOT_DE_PASSE_FAIBLE",
        ),
    ] {
        let (_, mut body) = TestApp::new_user_body("TAXATEUR");
        body[field] = json!(value);
        let response = app.post_utilisateur(admin, &body);
        response.assert_fr_error(422, code);
        assert_eq!(
            response.fr_fields(),
            [field],
            "{field} of {} chars",
            value.len()
        );
    }

    app.post_login(&long(20_000), ROOT_PASSWORD)
        .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    app.post_login(ROOT_LOGIN, &long(5000))
        .assert_client_error();
    app.post_login_v1(ROOT_LOGIN, &long(5000))
        .assert_client_error();
    app.post_register(&json!({
        "email": format!("{}@example.org", long(70)), "username": "Long", "password": PASSWORD
    }))
    .assert_v1_validation("VALIDATION_ERROR");
    app.post_bloquer(
        admin,
        &target.id,
        Some(&json!({"bloque": true, "motif": long(501)})),
    )
    .assert_fr_error(422, "DONNEES_INVALIDES");
    app.get_utilisateurs(admin, &format!("q={}", long(101)))
        .assert_fr_error(422, "DONNEES_INVALIDES");
    app.get_admin_users(admin, &format!("q={}", long(101)))
        .assert_v1_validation("VALIDATION_ERROR");
    app.put_me(
        admin,
        &json!({"password": long(2000), "current_password": ROOT_PASSWORD}),
    )
    .assert_v1_validation("VALIDATION_ERROR");
    app.post_change_password(admin, ROOT_PASSWORD, &format!("Aa1!{}", long(2000)))
        .assert_fr_error(422, "DONNEES_INVALIDES");
    assert_eq!(app.utilisateur(&target.id)["bloque"], false);
    app.get_utilisateur_me(admin).assert_status(200);
}

#[test]
fn structurally_hostile_json_is_a_client_error() {
    let app = spawn_app();
    let admin = app.admin_token();
    let send = |path: &str, body: String| {
        app.request("POST", path)
            .header("Content-Type", "application/json")
            .bearer(admin)
            .body(body.into_bytes())
            .send()
    };

    let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let deep_object = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    for body in [
        deep,
        deep_object,
        "[]".to_owned(),
        "null".to_owned(),
        "\"a string\"".to_owned(),
        "12345678901234567890123456789".to_owned(),
        r#"{"login": "a", "login": "b", "motDePasse": "x"}"#.to_owned(),
        r#"{"login": 1e400, "motDePasse": "x"}"#.to_owned(),
        String::new(),
    ] {
        let shown: String = body.chars().take(40).collect();
        let fr = send("/api/auth/login", body.clone());
        fr.assert_client_error();
        assert!(
            fr.body.starts_with('{'),
            "{shown}: JSON error body: {}",
            fr.body
        );
        send("/api/v1/auth/register", body.clone()).assert_client_error();
        send("/api/utilisateurs", body).assert_client_error();
    }
    app.get_utilisateur_me(admin).assert_status(200);
}

#[test]
fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app();
    let admin = app.admin_token();

    app.get("/nope").assert_v1_error(404, "ROUTE_NOT_FOUND");
    app.get("/api/v1/nope").assert_v1_error_status(404);
    app.get_authed("/api/v1/users/me/extra", admin)
        .assert_v1_error_status(404);
    app.get("/api/nope")
        .assert_fr_error(404, "ROUTE_INTROUVABLE");
    app.get_authed("/api/utilisateurs/a/b/c", admin)
        .assert_fr_error(404, "ROUTE_INTROUVABLE");
    app.request("POST", "/api/v1/auth/regiser")
        .json(&json!({}))
        .send()
        .assert_v1_error_status(404);

    let response = app
        .request("DELETE", &format!("/api/utilisateurs/{}", app.admin.id))
        .bearer(admin)
        .send();
    response.assert_fr_error(405, "METHODE_NON_AUTORISEE");
    let allow = response.header("allow").unwrap_or_default().to_owned();
    assert!(
        allow.contains("GET") && allow.contains("PUT"),
        "Allow: {allow:?}"
    );
    let response = app
        .request("PATCH", "/api/v1/users/me")
        .bearer(admin)
        .send();
    response.assert_v1_error(405, "METHOD_NOT_ALLOWED");
    assert!(response.header("allow").is_some(), "{:?}", response.headers);
    app.request("GET", "/api/auth/login")
        .send()
        .assert_fr_error(405, "METHODE_NON_AUTORISEE");
    app.get_utilisateur_me(admin).assert_status(200);
}

#[test]
fn malformed_ids_are_404() {
    let app = spawn_app();
    let admin = app.admin_token();
    let long_id = "9".repeat(1000);
    let ids = [
        "not-a-uuid",
        "1",
        "%27%20OR%201%3D1",
        "%00",
        "..%2F..%2Fetc%2Fpasswd",
        "%7B%22%24ne%22%3Anull%7D",
        "6f1c1c1e-9a4b-4c5e-8f00-00000000000",
        "6f1c1c1e-9a4b-4c5e-8f00-0000000000000",
        long_id.as_str(),
    ];
    for id in ids {
        app.get_admin_user(admin, id)
            .assert_v1_error(404, "NOT_FOUND");
        app.put_admin_user(admin, id, &json!({"username": "X"}))
            .assert_v1_error(404, "NOT_FOUND");
        app.delete_admin_user(admin, id)
            .assert_v1_error(404, "NOT_FOUND");
        app.get_utilisateur(admin, id)
            .assert_fr_error(404, "UTILISATEUR_INTROUVABLE");
        app.put_utilisateur(admin, id, &json!({"grade": "X"}))
            .assert_fr_error(404, "UTILISATEUR_INTROUVABLE");
        app.post_bloquer(admin, id, None)
            .assert_fr_error(404, "UTILISATEUR_INTROUVABLE");
        app.post_reset_password(admin, id, None)
            .assert_fr_error(404, "UTILISATEUR_INTROUVABLE");
    }
    let everyone = app.get_admin_users(admin, "");
    assert_eq!(everyone.header("x-total-count"), Some("1"));
    let me = &everyone.json()[0];
    assert_eq!(keys(me), USER_OUT_FIELDS);
    assert_eq!(str_of(&me["id"]), app.admin.id);
}
