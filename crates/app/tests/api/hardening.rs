//! The hardening of issue 13 through the public interface: no password oracle for
//! administrators, no secret changed without proof, identity strings that cannot pose as
//! another, idempotent blocks, and abuse budgets per client and per account on every route
//! that verifies or sets a password.

use serde_json::json;

use crate::helpers::{
    OTHER_PASSWORD, PASSWORD, Response, Store, TestApp, TestUser, spawn_app, str_of,
};

// ---- Point 3: no route tells whether a value is another user's password -----------------

/// An administrator setting a user's password to the user's current one is answered like any
/// other value: the password is set (and must be changed at next login), never
/// `PASSWORD_SAME_AS_CURRENT`, which would let an admin token test candidate passwords.
#[test]
fn an_admin_password_set_never_compares_with_the_current_password() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");
    for candidate in [PASSWORD, OTHER_PASSWORD] {
        let set = app.put_admin_user(app.admin_token(), &user.id, &json!({"password": candidate}));
        set.assert_status(200);
        assert!(!set.body.contains("SAME_AS_CURRENT"), "{}", set.body);
        assert_eq!(set.json()["must_change_password"], true, "{}", set.body);
    }
    let reset = app.post_reset_password(
        app.admin_token(),
        &user.id,
        Some(&json!({"nouveauMotDePasse": OTHER_PASSWORD})),
    );
    reset.assert_status(200);
}

// ---- Point 6: one's own secrets change only with proof -----------------------------------

/// Through the administration routes, an ADMIN or an INFORMATICIEN cannot change their own
/// password or e-mail, nor reset their own password: 403 `USE_SELF_SERVICE_ROUTE`, pointing
/// to the self-service routes (which ask for the current password). Nothing changes.
#[test]
fn administrators_change_their_own_secrets_only_through_the_self_routes() {
    let app = spawn_app();
    let it = app.create_active_user("INFORMATICIEN");
    for (who, token, id) in [
        ("ADMIN", app.admin_token(), app.admin.id.as_str()),
        ("INFORMATICIEN", it.token(), it.id.as_str()),
    ] {
        for body in [
            json!({"password": "Taken-Over-2024!"}),
            json!({"email": "attacker@evil.example"}),
        ] {
            app.put_admin_user(token, id, &body)
                .assert_v1_error(403, "USE_SELF_SERVICE_ROUTE");
        }
        app.put_utilisateur(token, id, &json!({"email": "attacker@evil.example"}))
            .assert_fr_error(403, "USE_SELF_SERVICE_ROUTE");
        app.post_reset_password(token, id, None)
            .assert_fr_error(403, "USE_SELF_SERVICE_ROUTE");
        app.post_reset_password(
            token,
            id,
            Some(&json!({"nouveauMotDePasse": "Taken-Over-2024!"})),
        )
        .assert_fr_error(403, "USE_SELF_SERVICE_ROUTE");
        // Their other fields still change there, and their password still works.
        app.put_utilisateur(token, id, &json!({"grade": "Chef"}))
            .assert_status(200);
        let me = app.get_me(token).json();
        assert_ne!(me["email"], "attacker@evil.example", "{who}: {me}");
    }
    app.post_login("root", crate::helpers::ROOT_PASSWORD)
        .assert_status(200);
    app.post_login(&it.login, PASSWORD).assert_status(200);
}

// ---- Point 5: identity strings ------------------------------------------------------------

fn create(app: &TestApp, login: &str, email: &str, name: &str) -> Response {
    app.post_utilisateur(
        app.admin_token(),
        &json!({
            "login": login, "motDePasse": "Tempo-Init-42!x", "nomComplet": name,
            "email": email, "role": "TAXATEUR",
        }),
    )
}

/// Full-width and case variants are one login or e-mail (NFKC and full case folding);
/// a login mixing scripts ("аdmin", Cyrillic а) is refused, and so is one that looks like
/// an existing login ("rnartin" beside "martin", UTS 39 skeletons).
#[test]
fn logins_and_emails_that_pose_as_others_are_refused() {
    let app = spawn_app();
    create(&app, "admin", "admin@dgi.cd", "Vrai Admin").assert_status(201);
    create(&app, "martin", "martin@dgi.cd", "Martin K").assert_status(201);
    for twin in ["ａｄｍｉｎ", "ADMIN", "rnartin", "ｍａｒｔｉｎ"] {
        create(
            &app,
            twin,
            &format!("{}@dgi.cd", TestApp::unique_login("x")),
            "Twin",
        )
        .assert_fr_error(409, "LOGIN_DEJA_UTILISE");
    }
    let mixed = create(&app, "аdmin", "cyrillic@dgi.cd", "Mixed");
    let error = mixed.assert_fr_error(422, "DONNEES_INVALIDES");
    assert_eq!(
        error["details"][0]["code"], "LOGIN_MIXED_SCRIPTS",
        "{error}"
    );
    assert_eq!(error["details"][0]["champ"], "login", "{error}");
    for twin in ["ＡＤＭＩＮ@dgi.cd", "Admin@DGI.cd"] {
        create(&app, &TestApp::unique_login("mail"), twin, "Mail Twin")
            .assert_fr_error(409, "EMAIL_DEJA_UTILISE");
    }
    // The v1 dialect, whose login is the e-mail.
    let register = app.post_register(&json!({
        "email": "ａｄｍｉｎ@dgi.cd", "username": "Twin", "password": "Chosen-Secret-7!"
    }));
    register.assert_v1_error(409, "EMAIL_TAKEN");
    // A full-width login finds its account.
    app.post_login("ＡＤＭＩＮ", "Tempo-Init-42!x")
        .assert_status(200);
}

/// Bidirectional controls, zero-width and other invisible characters are refused in every
/// free-text field, naming the field.
#[test]
fn invisible_characters_are_refused_in_every_free_text_field() {
    let app = spawn_app();
    let user = app.create_user("TAXATEUR");
    for (field, value) in [
        ("nomComplet", "Ali\u{202E}ecnerolF"),
        ("grade", "Chef\u{200B}"),
        ("adresse", "Rue\u{2066} 12"),
    ] {
        let update = app.put_utilisateur(app.admin_token(), &user.id, &json!({ field: value }));
        let error = update.assert_fr_error(422, "DONNEES_INVALIDES");
        assert_eq!(error["details"][0]["champ"], field, "{error}");
        assert_eq!(
            error["details"][0]["code"], "TEXT_INVISIBLE_CHARACTERS",
            "{error}"
        );
    }
    let block = app.post_bloquer(
        app.admin_token(),
        &user.id,
        Some(&json!({"bloque": true, "motif": "fraude\u{200D}"})),
    );
    let error = block.assert_fr_error(422, "DONNEES_INVALIDES");
    assert_eq!(error["details"][0]["champ"], "motif", "{error}");
    let register = app.post_register(&json!({
        "email": "zw@example.org", "username": "Zero\u{200B}Width", "password": "Chosen-Secret-7!"
    }));
    let detail = register.assert_v1_validation("VALIDATION_ERROR");
    assert_eq!(detail[0]["loc"], json!(["body", "username"]), "{detail:?}");
    assert_eq!(
        app.utilisateur(&user.id)["bloque"],
        false,
        "nothing changed"
    );
}

// ---- Point 9: a retried block never undoes itself ----------------------------------------

/// The toggle with an `Idempotency-Key`: the same request repeated (a client's retry after
/// a lost answer) changes nothing more; a new key toggles again. Explicit states are
/// idempotent by themselves.
#[test]
fn a_retried_block_toggle_never_inverts_itself() {
    let app = spawn_app();
    let user = app.create_user("TAXATEUR");
    let toggle = |key: &str| {
        app.request("POST", &format!("/api/utilisateurs/{}/bloquer", user.id))
            .bearer(app.admin_token())
            .header("Idempotency-Key", key)
            .send()
    };
    let first = toggle("retry-1");
    first.assert_status(200);
    assert_eq!(first.data()["utilisateur"]["bloque"], true);
    for _ in 0..3 {
        let again = toggle("retry-1");
        again.assert_status(200);
        assert_eq!(
            again.data()["utilisateur"]["bloque"],
            true,
            "a retry undid the block"
        );
    }
    assert_eq!(toggle("retry-2").data()["utilisateur"]["bloque"], false);
    assert_eq!(toggle("retry-2").data()["utilisateur"]["bloque"], false);
    for _ in 0..2 {
        let explicit =
            app.post_bloquer(app.admin_token(), &user.id, Some(&json!({"bloque": true})));
        assert_eq!(explicit.data()["utilisateur"]["bloque"], true);
    }
    let invalid = app
        .request("POST", &format!("/api/utilisateurs/{}/bloquer", user.id))
        .bearer(app.admin_token())
        .header("Idempotency-Key", "spaces are not visible ascii")
        .send();
    let error = invalid.assert_fr_error(422, "DONNEES_INVALIDES");
    assert_eq!(error["details"][0]["champ"], "Idempotency-Key", "{error}");
    // Newest first: each explicit call, then the two keyed toggles; none for the retries.
    let history = app
        .get_historique(app.admin_token(), &user.id, "size=50")
        .data();
    let kinds: Vec<String> = history["evenements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| str_of(&e["type"]))
        .filter(|k| k.starts_with("USER_B") || k.starts_with("USER_UNB"))
        .collect();
    assert_eq!(
        kinds,
        [
            "USER_BLOCKED",
            "USER_BLOCKED",
            "USER_UNBLOCKED",
            "USER_BLOCKED"
        ],
        "{history}"
    );
}

// ---- Point 4: budgets on every password route, per client and per account ---------------

/// A service whose budgets are small: `client` attempts per client, `account` per account,
/// then one a minute; the test process is a trusted proxy, so `X-Forwarded-For` names the
/// client.
fn budgeted_app(client: u32, account: u32) -> TestApp {
    let (client, account) = (client.to_string(), account.to_string());
    TestApp::spawn_with_env(
        Store::from_env(),
        &[
            ("USERS__RATE_LIMIT__ENABLED", "true"),
            ("USERS__RATE_LIMIT__PER_MINUTE", "1"),
            ("USERS__RATE_LIMIT__BURST", &client),
            ("USERS__RATE_LIMIT__ACCOUNT_PER_MINUTE", "1"),
            ("USERS__RATE_LIMIT__ACCOUNT_BURST", &account),
            ("USERS__RATE_LIMIT__TRUSTED_PROXIES", "127.0.0.1, ::1"),
        ],
    )
}

fn assert_limited(response: &Response, fr: bool) {
    if fr {
        response.assert_fr_error(429, "TROP_DE_REQUETES");
    } else {
        response.assert_v1_error(429, "RATE_LIMITED");
    }
    let retry: u64 = response
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{}: 429 without Retry-After", response.what));
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
}

/// Each route that verifies or sets a password, as a request from `client` on `user`'s
/// account (`admin` acts on it where the route is an administrator's).
fn password_request(
    app: &TestApp,
    route: usize,
    client: &str,
    user: &TestUser,
    admin: &str,
) -> (Response, bool) {
    let wrong = "Wrong-Guess-12!";
    let request = |method: &'static str, path: &str| {
        app.request(method, path).header("X-Forwarded-For", client)
    };
    match route {
        0 => (
            request("POST", "/api/auth/login")
                .json(&json!({"login": user.login, "motDePasse": wrong}))
                .send(),
            true,
        ),
        // By login, like the others: a login by e-mail counts against the address typed.
        1 => (
            request("POST", "/api/v1/auth/login")
                .json(&json!({"email": user.login, "password": wrong}))
                .send(),
            false,
        ),
        2 => (
            request("POST", "/api/v1/auth/login")
                .form(&[("username", user.login.as_str()), ("password", wrong)])
                .send(),
            false,
        ),
        3 => (
            request("PUT", "/api/v1/users/me")
                .bearer(user.token())
                .json(&json!({"password": "Brand-New-Pass-1!", "current_password": wrong}))
                .send(),
            false,
        ),
        4 => (
            request("POST", "/api/utilisateurs/change-password")
                .bearer(user.token())
                .json(&json!({"ancienMotDePasse": wrong, "nouveauMotDePasse": "Brand-New-Pass-1!"}))
                .send(),
            true,
        ),
        5 => (
            request("DELETE", "/api/v1/users/me")
                .bearer(user.token())
                .json(&json!({"current_password": wrong}))
                .send(),
            false,
        ),
        6 => (
            request(
                "POST",
                &format!("/api/utilisateurs/{}/reset-password", user.id),
            )
            .bearer(admin)
            .send(),
            true,
        ),
        _ => (
            request("PUT", &format!("/api/v1/admin/users/{}", user.id))
                .bearer(admin)
                .json(&json!({"password": "Admin-Chosen-9!"}))
                .send(),
            false,
        ),
    }
}

const ROUTES: usize = 8;

/// Attempts a fresh active user's fixture spends on its own account: its login and its
/// first password change (its creation counts apart, see `UserService::passwords`).
const FIXTURE_ATTEMPTS: u32 = 2;

/// A forwarded client address of its own, for fixture traffic that must not spend the
/// budgets a test measures.
fn fixture_client() -> String {
    let n = TestApp::unique_login("ip")
        .rsplit('-')
        .next()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}

/// A TAXATEUR created by the ADMIN, logged in, first password changed, each step from a
/// forwarded client of its own.
fn active_user(app: &TestApp) -> TestUser {
    let (login, body) = TestApp::new_user_body("TAXATEUR");
    let created = app
        .request("POST", "/api/utilisateurs")
        .header("X-Forwarded-For", &fixture_client())
        .bearer(app.admin_token())
        .json(&body)
        .send();
    created.assert_status(201);
    let id = str_of(&created.data()["utilisateur"]["id"]);
    let logged_in = app
        .request("POST", "/api/auth/login")
        .header("X-Forwarded-For", &fixture_client())
        .json(&json!({"login": login, "motDePasse": body["motDePasse"]}))
        .send();
    logged_in.assert_status(200);
    let changed = app
        .request("POST", "/api/utilisateurs/change-password")
        .header("X-Forwarded-For", &fixture_client())
        .bearer(&str_of(&logged_in.data()["token"]))
        .json(&json!({"ancienMotDePasse": body["motDePasse"], "nouveauMotDePasse": PASSWORD}))
        .send();
    changed.assert_status(200);
    TestUser {
        id,
        email: format!("{login}@e2e.test"),
        login,
        password: PASSWORD.to_owned(),
        role: "TAXATEUR".to_owned(),
        token: Some(str_of(&changed.data()["token"])),
    }
}

/// Per client: on every password route, the (N+1)-th attempt of one client within the
/// window is 429 with `Retry-After` in that route's dialect (each route on a fresh account,
/// so that only the client's budget runs out).
#[test]
fn every_password_route_is_limited_per_client() {
    const N: u32 = 3;
    let app = budgeted_app(N, 1000);
    for route in 0..ROUTES {
        let client = format!("198.51.100.{}", route + 10);
        let user = active_user(&app);
        for attempt in 0..N {
            let (answer, _) = password_request(&app, route, &client, &user, app.admin_token());
            assert_ne!(
                answer.status, 429,
                "route {route}, attempt {attempt}: {}",
                answer.body
            );
        }
        let (answer, fr) = password_request(&app, route, &client, &user, app.admin_token());
        assert_limited(&answer, fr);
    }
    // Another client still gets in; reads are never limited.
    let other = active_user(&app);
    let (answer, _) = password_request(&app, 0, "198.51.100.99", &other, app.admin_token());
    answer.assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    app.get_authed("/api/utilisateurs/me", app.admin_token())
        .assert_status(200);
}

/// Per account: attempts on one account from many clients (a botnet) run out the account's
/// budget on every password route, whatever the client.
#[test]
fn every_password_route_is_limited_per_account() {
    const N: u32 = 3;
    let app = budgeted_app(1000, FIXTURE_ATTEMPTS + N);
    for route in 0..ROUTES {
        let user = active_user(&app);
        for attempt in 0..N {
            let client = format!("203.0.113.{}", route * 10 + attempt as usize);
            let (answer, _) = password_request(&app, route, &client, &user, app.admin_token());
            assert_ne!(
                answer.status, 429,
                "route {route}, attempt {attempt}: {}",
                answer.body
            );
        }
        let (answer, fr) = password_request(&app, route, "192.0.2.200", &user, app.admin_token());
        assert_limited(&answer, fr);
    }
}

/// IPv6 clients are grouped by /64: addresses of one /64 share a budget, another /64 has
/// its own; IPv4 addresses are clients of their own.
#[test]
fn ipv6_clients_share_the_budget_of_their_64() {
    let app = budgeted_app(2, 1000);
    let attempt = |client: &str| {
        app.request("POST", "/api/auth/login")
            .header("X-Forwarded-For", client)
            .json(&json!({"login": TestApp::unique_login("nobody"), "motDePasse": OTHER_PASSWORD}))
            .send()
    };
    attempt("2001:db8:5:1::1").assert_status(401);
    attempt("2001:db8:5:1:ffff:ffff:ffff:fffe").assert_status(401);
    assert_limited(&attempt("2001:db8:5:1:abcd::7"), true);
    attempt("2001:db8:5:2::1").assert_status(401);
    attempt("192.0.2.1").assert_status(401);
    attempt("192.0.2.2").assert_status(401);
    attempt("192.0.2.1").assert_status(401);
    assert_limited(&attempt("192.0.2.1"), true);
}

/// What the tests above do not need but a reader may wonder: the budgets never reveal
/// whether an account exists (an unknown identifier runs out exactly like a known one).
#[test]
fn account_budgets_are_the_same_for_unknown_identifiers() {
    let app = budgeted_app(1000, 2);
    let user = app.create_user("TAXATEUR");
    let statuses = |login: &str| -> Vec<u16> {
        (0..3)
            .map(|i| {
                app.request("POST", "/api/auth/login")
                    .header("X-Forwarded-For", &format!("203.0.113.{i}"))
                    .json(&json!({"login": login, "motDePasse": OTHER_PASSWORD}))
                    .send()
                    .status
            })
            .collect()
    };
    assert_eq!(statuses(&user.login), [401, 401, 429]);
    assert_eq!(statuses("nobody-here"), [401, 401, 429]);
}
