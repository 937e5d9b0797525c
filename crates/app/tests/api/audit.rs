//! The audit trail over HTTP: every security-relevant call leaves an event with who, what,
//! whom, when, the outcome, the request id and the client address; ADMIN reads it at
//! `GET /api/v1/admin/audit` (filters, paging) and `GET /api/utilisateurs/{id}/historique`;
//! no secret ever appears in it; `users-service audit verify` finds an altered or removed
//! event in the store, and, through the checkpoints `serve` and `audit checkpoint` sign, the
//! newest events removed from its end.

use serde_json::{Value, json};

use crate::helpers::{
    INITIAL_PASSWORD, OTHER_PASSWORD, PASSWORD, Store, TestApp, spawn_app, str_of,
};
use crate::support;

fn dir_of(path: &std::path::Path) -> &std::path::Path {
    path.parent().unwrap()
}

/// `type` of each v1 event, newest first.
fn kinds(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap_or_else(|| panic!("a list of events: {events}"))
        .iter()
        .map(|e| str_of(&e["type"]))
        .collect()
}

#[test]
fn security_events_are_recorded_with_outcome_request_id_and_client() {
    let app = spawn_app();
    let admin = app.admin_token().to_owned();
    let mut user = app.create_user("TAXATEUR");
    app.activate(&mut user);
    let wrong = app
        .request("POST", "/api/auth/login")
        .header("X-Request-Id", "e2e-audit-wrong-password")
        .json(&json!({"login": user.login, "motDePasse": "Not-The-Passw0rd!"}))
        .send();
    wrong.assert_status(401);
    app.post_bloquer(
        &admin,
        &user.id,
        Some(&json!({"bloque": true, "motif": "fraude présumée"})),
    )
    .assert_status(200);
    app.post_bloquer(&admin, &user.id, Some(&json!({"bloque": false})))
        .assert_status(200);
    app.put_utilisateur(&admin, &user.id, &json!({"role": "CONTROLLEUR"}))
        .assert_status(200);
    let reset = app.post_reset_password(&admin, &user.id, None);
    reset.assert_status(200);
    let temporary = str_of(&reset.data()["motDePasseTemporaire"]);

    let found = app.get_admin_audit(&admin, &format!("target_id={}", user.id));
    found.assert_status(200);
    let events = found.json();
    assert_eq!(
        kinds(&events),
        [
            "PASSWORD_RESET",
            "ROLE_CHANGED",
            "USER_UPDATED",
            "USER_UNBLOCKED",
            "USER_BLOCKED",
            "LOGIN_FAILED",
            "PASSWORD_CHANGED",
            "LOGIN_SUCCEEDED",
            "USER_CREATED",
        ]
    );
    assert_eq!(found.header("x-total-count"), Some("9"));
    let failed = &events[5];
    assert_eq!(failed["outcome"], "failure");
    assert_eq!(failed["error_code"], "INVALID_CREDENTIALS");
    assert_eq!(failed["actor_id"], Value::Null);
    assert_eq!(failed["request_id"], "e2e-audit-wrong-password");
    assert_eq!(failed["client_ip"], "127.0.0.1");
    let blocked = &events[4];
    assert_eq!(blocked["outcome"], "success");
    assert_eq!(blocked["error_code"], Value::Null);
    assert_eq!(blocked["actor_id"], app.admin.id.as_str());
    assert_eq!(blocked["details"], json!({"reason": "fraude présumée"}));
    assert_eq!(
        events[1]["details"],
        json!({"from": "TAXATEUR", "to": "CONTROLLEUR"})
    );
    assert_eq!(events[0]["details"], json!({"generated": "true"}));
    let mut fields: Vec<String> = events[0]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    fields.sort();
    assert_eq!(
        fields,
        [
            "actor_id",
            "at",
            "client_ip",
            "details",
            "error_code",
            "hash",
            "outcome",
            "prev_hash",
            "request_id",
            "seq",
            "target_id",
            "type"
        ]
    );
    // Consecutive events of the whole trail link up.
    let everything = app.get_admin_audit(&admin, "limit=100").json();
    let list = everything.as_array().unwrap();
    for pair in list.windows(2) {
        assert_eq!(pair[0]["prev_hash"], pair[1]["hash"], "{pair:?}");
        assert_eq!(
            pair[0]["seq"].as_u64().unwrap(),
            pair[1]["seq"].as_u64().unwrap() + 1
        );
    }

    // No password, hash or token anywhere in the trail.
    let text = everything.to_string();
    for secret in [
        INITIAL_PASSWORD,
        PASSWORD,
        "Not-The-Passw0rd!",
        temporary.as_str(),
        admin.as_str(),
        user.token(),
        "$argon2",
    ] {
        assert!(!text.contains(secret), "{secret} in the audit trail");
    }
}

#[test]
fn the_trail_filters_by_actor_type_and_time_and_pages() {
    let app = spawn_app();
    let admin = app.admin_token().to_owned();
    let first = app.create_user("TAXATEUR");
    let second = app.create_user("CONTROLLEUR");
    app.post_login_v1(&first.login, "Wrong-Passw0rd!1")
        .assert_status(401);
    app.post_login_v1("nobody-at-all@e2e.test", "Wrong-Passw0rd!1")
        .assert_status(401);

    let created = app.get_admin_audit(&admin, "type=USER_CREATED");
    // The bootstrap ADMIN's own creation, then the two users.
    assert_eq!(created.header("x-total-count"), Some("3"));
    let by_admin = app
        .get_admin_audit(
            &admin,
            &format!("actor_id={}&type=USER_CREATED", app.admin.id),
        )
        .json();
    assert_eq!(by_admin[0]["target_id"], second.id.as_str());
    assert_eq!(by_admin[1]["target_id"], first.id.as_str());

    let failures = app.get_admin_audit(&admin, "type=LOGIN_FAILED").json();
    assert_eq!(failures[0]["target_id"], Value::Null, "unknown identifier");
    assert_eq!(failures[1]["target_id"], first.id.as_str());

    let page = app.get_admin_audit(&admin, "skip=1&limit=2");
    let total: u64 = page.header("x-total-count").unwrap().parse().unwrap();
    let items = page.json();
    assert_eq!(items.as_array().map(Vec::len), Some(2));
    assert_eq!(items[0]["seq"].as_u64(), Some(total - 1));

    let newest_at = str_of(&app.get_admin_audit(&admin, "limit=1").json()[0]["at"]);
    let since = app.get_admin_audit(&admin, &format!("from={newest_at}"));
    assert!(
        since
            .header("x-total-count")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let before = app.get_admin_audit(&admin, "to=2000-01-01T00:00:00Z");
    assert_eq!(before.header("x-total-count"), Some("0"));

    for bad in [
        "type=LOGIN",
        "actor_id=not-a-uuid",
        "from=yesterday",
        "limit=0",
    ] {
        app.get_admin_audit(&admin, bad)
            .assert_v1_validation("VALIDATION_ERROR");
    }
}

#[test]
fn a_users_history_in_the_fr_dialect() {
    let app = spawn_app();
    let admin = app.admin_token().to_owned();
    let mut user = app.create_user("TAXATEUR");
    app.activate(&mut user);
    app.post_logout(user.token()).assert_status(204);

    let data = app.get_historique(&admin, &user.id, "size=2").data();
    assert_eq!(data["total"], 4);
    assert_eq!(data["page"], 1);
    assert_eq!(data["size"], 2);
    let events = data["evenements"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["type"], "LOGOUT");
    assert_eq!(events[0]["resultat"], "SUCCES");
    assert_eq!(events[0]["acteurId"], user.id.as_str());
    assert_eq!(events[0]["cibleId"], user.id.as_str());
    assert_eq!(events[0]["adresseIp"], "127.0.0.1");
    assert_eq!(events[0]["hashPrecedent"], events[1]["hash"]);
    let older = app.get_historique(&admin, &user.id, "page=2&size=2").data();
    assert_eq!(older["evenements"][1]["type"], "USER_CREATED");

    // A deleted user's history outlives the account; an unknown id has none.
    app.delete_admin_user(&admin, &user.id).assert_status(204);
    let after = app.get_historique(&admin, &user.id, "").data();
    assert_eq!(after["total"], 5);
    assert_eq!(after["evenements"][0]["type"], "USER_DELETED");
    let unknown = app
        .get_historique(&admin, "00000000-0000-4000-8000-000000000000", "")
        .data();
    assert_eq!(unknown["total"], 0);
    app.get_historique(&admin, &user.id, "size=0")
        .assert_fr_error(422, "DONNEES_INVALIDES");
}

#[test]
fn only_admins_read_the_trail() {
    let app = spawn_app();
    let target = app.create_user("TAXATEUR");
    for role in ["DIRECTEUR", "INFORMATICIEN", "TAXATEUR"] {
        let user = app.create_active_user(role);
        app.get_admin_audit(user.token(), "")
            .assert_v1_error(403, "PERMISSION_DENIED");
        app.get_historique(user.token(), &target.id, "")
            .assert_fr_error_status(403);
    }
    app.get_admin_audit("", "").assert_status(401);
    app.get("/api/v1/admin/audit").assert_status(401);
    app.get(&format!("/api/utilisateurs/{}/historique", target.id))
        .assert_status(401);
}

#[test]
fn the_client_is_the_forwarded_address_only_behind_a_trusted_proxy() {
    let spoofed = |app: &TestApp| {
        app.request("POST", "/api/v1/auth/login")
            .header("X-Forwarded-For", "203.0.113.7")
            .json(&json!({"email": "ghost@e2e.test", "password": "Wrong-Passw0rd!1"}))
            .send()
            .assert_status(401);
        let failures = app
            .get_admin_audit(app.admin_token(), "type=LOGIN_FAILED")
            .json();
        str_of(&failures[0]["client_ip"])
    };
    let direct = spawn_app();
    assert_eq!(
        spoofed(&direct),
        "127.0.0.1",
        "a client cannot pick its address"
    );
    let proxied = TestApp::spawn_with_env(
        Store::from_env(),
        &[("USERS__RATE_LIMIT__TRUSTED_PROXIES", "127.0.0.1")],
    );
    assert_eq!(spoofed(&proxied), "203.0.113.7");
}

#[test]
fn audit_verify_finds_an_altered_or_a_removed_event() {
    let mut app = TestApp::spawn_with(Store::Embedded);
    let mut user = app.create_user("TAXATEUR");
    app.activate(&mut user);
    app.post_change_password(user.token(), PASSWORD, OTHER_PASSWORD)
        .assert_status(200);
    app.stop();
    let path = app.embedded_path();
    let path_text = path.display().to_string();
    let env = [
        ("USERS__DATABASE__KIND", "embedded"),
        ("USERS__DATABASE__PATH", path_text.as_str()),
    ];
    let verify = || support::run_cli(&["audit", "verify"], &env, None);

    let missing = dir_of(&path).join("elsewhere.redb").display().to_string();
    let mistyped = support::run_cli(
        &["audit", "verify"],
        &[
            ("USERS__DATABASE__KIND", "embedded"),
            ("USERS__DATABASE__PATH", missing.as_str()),
        ],
        None,
    );
    assert_eq!(mistyped.code, Some(1), "{mistyped:?}");
    assert!(
        mistyped.stderr.contains("no embedded store at"),
        "{mistyped:?}"
    );
    assert!(
        !dir_of(&path).join("elsewhere.redb").exists(),
        "nothing created"
    );

    let intact = verify();
    assert_eq!(intact.code, Some(0), "{intact:?}");
    assert!(
        intact
            .stdout
            .contains("audit trail intact: 7 events, head "),
        "{intact:?}"
    );

    adapters_embedded::tampering::alter_event(&path, 4, |event| {
        event["client_ip"] = json!("198.51.100.1");
    })
    .unwrap();
    let altered = verify();
    assert_eq!(altered.code, Some(3), "{altered:?}");
    assert!(
        altered
            .stderr
            .contains("event 4 does not match its hash: it was altered"),
        "{altered:?}"
    );
    assert!(
        altered.stderr.contains("3 events before it verify"),
        "{altered:?}"
    );

    adapters_embedded::tampering::remove_event(&path, 4).unwrap();
    let removed = verify();
    assert_eq!(removed.code, Some(3), "{removed:?}");
    assert!(
        removed
            .stderr
            .contains("event 5 stands where event 4 should"),
        "{removed:?}"
    );
}

#[test]
fn audit_verify_checks_the_configured_store() {
    let mut app = spawn_app();
    let user = app.create_active_user("INFORMATICIEN");
    app.post_logout(user.token()).assert_status(204);
    if app.store == Store::Embedded {
        // redb allows one process per file.
        app.stop();
    }
    let settings = app.store_settings();
    let env: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let verified = support::run_cli(&["audit", "verify"], &env, None);
    assert_eq!(verified.code, Some(0), "{verified:?}");
    if app.store == Store::Memory {
        assert!(
            verified.stdout.contains("nothing to verify"),
            "{verified:?}"
        );
    } else {
        // Bootstrap ADMIN: created, logged in, password changed; the user: created, logged
        // in, password changed, logged out.
        assert!(
            verified
                .stdout
                .contains("audit trail intact: 7 events, head "),
            "{verified:?}"
        );
    }
}

/// (event, hash) of every `audit checkpoint: event N, hash H` line of `logs`, in order.
fn logged_checkpoints(logs: &str) -> Vec<(u64, String)> {
    const MARK: &str = "audit checkpoint: event ";
    logs.lines()
        .filter_map(|line| {
            let rest = &line[line.find(MARK)? + MARK.len()..];
            let (seq, rest) = rest.split_once(", hash ")?;
            Some((seq.parse().ok()?, rest.get(..64)?.to_owned()))
        })
        .collect()
}

/// The number of events in the trail, as the ADMIN API counts them (reads are not audited).
fn trail_length(app: &TestApp) -> u64 {
    let page = app.get_admin_audit(app.admin_token(), "limit=1");
    page.assert_status(200);
    page.header("x-total-count").unwrap().parse().unwrap()
}

#[test]
fn audit_verify_finds_the_newest_events_removed_after_a_checkpoint() {
    let mut app =
        TestApp::spawn_with_env(Store::Embedded, &[("USERS__AUDIT__CHECKPOINT_EVERY", "5")]);
    for i in 0..10 {
        app.post_login(&format!("nobody-{i}"), "Not-The-Passw0rd!")
            .assert_status(401);
    }
    let total = trail_length(&app);
    assert!(
        total >= 13,
        "bootstrap, root's first login, ten failures: {total}"
    );
    // Start-up signs the head (the bootstrap's events); every 5 events later, another.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !logged_checkpoints(&app.logs())
        .iter()
        .any(|(seq, _)| *seq >= 6)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no periodic checkpoint:\n{}",
            app.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // SIGTERM: the shutdown checkpoint names the head, unless a periodic one already did.
    app.terminate();
    let logs = app.logs();
    let (last, head) = logged_checkpoints(&logs)
        .into_iter()
        .max()
        .unwrap_or_else(|| panic!("no checkpoint logged:\n{logs}"));
    assert_eq!(last, total, "{logs}");

    let path = app.embedded_path();
    let path_text = path.display().to_string();
    let env = [
        ("USERS__DATABASE__KIND", "embedded"),
        ("USERS__DATABASE__PATH", path_text.as_str()),
    ];
    let verify = |extra: &[&str]| {
        let args: Vec<&str> = ["audit", "verify"].iter().chain(extra).copied().collect();
        support::run_cli(&args, &env, None)
    };

    let intact = verify(&[]);
    assert_eq!(intact.code, Some(0), "{intact:?}");
    assert!(
        intact
            .stdout
            .contains(&format!("audit trail intact: {total} events, head {head}")),
        "{intact:?}"
    );
    assert!(
        intact
            .stdout
            .contains(&format!("the last names event {total} ")),
        "{intact:?}"
    );
    let kept = verify(&["--expect-head", &head]);
    assert_eq!(kept.code, Some(0), "{kept:?}");
    assert!(kept.stdout.contains("found in the trail"), "{kept:?}");
    let unknown = "f".repeat(64);
    let wrong = verify(&["--expect-head", &unknown]);
    assert_eq!(wrong.code, Some(3), "{wrong:?}");
    assert!(
        wrong
            .stderr
            .contains(&format!("the expected head {unknown} is not in the trail")),
        "{wrong:?}"
    );
    let malformed = verify(&["--expect-head", "not-a-hash"]);
    assert_eq!(malformed.code, Some(2), "{malformed:?}");
    assert!(malformed.stderr.contains("--expect-head"), "{malformed:?}");

    // Behind the store's back, the three newest events go; what is left still links.
    let removed = adapters_embedded::tampering::truncate_trail(&path, total - 3).unwrap();
    assert_eq!(removed, 3);
    let cut = verify(&[]);
    assert_eq!(cut.code, Some(3), "{cut:?}");
    assert!(
        cut.stderr.contains(&format!(
            "the last checkpoint names event {total} with hash {head}, the trail ends at {}: \
             events {}–{total} were removed",
            total - 3,
            total - 2
        )),
        "{cut:?}"
    );
    let cut_past_the_head = verify(&["--expect-head", &head]);
    assert_eq!(cut_past_the_head.code, Some(3), "{cut_past_the_head:?}");
    assert!(
        cut_past_the_head.stderr.contains(&format!(
            "the expected head {head} is not in the trail (it ends at {}",
            total - 3
        )),
        "{cut_past_the_head:?}"
    );
}

#[test]
fn audit_checkpoint_signs_the_head_on_demand() {
    let mut app =
        TestApp::spawn_with_env(Store::Embedded, &[("USERS__AUDIT__CHECKPOINT_EVERY", "0")]);
    app.post_login("nobody", "Not-The-Passw0rd!")
        .assert_status(401);
    let total = trail_length(&app);
    app.stop();
    assert!(
        logged_checkpoints(&app.logs()).is_empty(),
        "0: no periodic checkpoint"
    );
    let path = app.embedded_path();
    let path_text = path.display().to_string();
    let env = [
        ("USERS__DATABASE__KIND", "embedded"),
        ("USERS__DATABASE__PATH", path_text.as_str()),
    ];
    let keyless = [env[0], env[1], ("USERS__AUTH__JWT_SECRET", "")];
    let run = |args: &[&str]| support::run_cli(args, &env, None);

    let unsigned = support::run_cli(&["audit", "checkpoint"], &keyless, None);
    assert_eq!(unsigned.code, Some(2), "{unsigned:?}");
    assert!(
        unsigned.stderr.contains("auth.jwt_secret is not set"),
        "{unsigned:?}"
    );
    let none = run(&["audit", "verify"]);
    assert_eq!(none.code, Some(0), "{none:?}");
    assert!(
        none.stdout.contains("checkpoints: none verified"),
        "{none:?}"
    );

    let made = run(&["audit", "checkpoint"]);
    assert_eq!(made.code, Some(0), "{made:?}");
    assert!(
        made.stdout
            .contains(&format!("checkpoint of event {total} (hash ")),
        "{made:?}"
    );
    let again = run(&["audit", "checkpoint"]);
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(
        again
            .stdout
            .contains(&format!("already names the head: event {total} ")),
        "{again:?}"
    );
    let verified = run(&["audit", "verify"]);
    assert_eq!(verified.code, Some(0), "{verified:?}");
    assert!(
        verified.stdout.contains(&format!(
            "checkpoints: 1 verified, the last names event {total} "
        )),
        "{verified:?}"
    );
    // Without the key, the checkpoint proves nothing: noted, not trusted.
    let unchecked = support::run_cli(&["audit", "verify"], &keyless, None);
    assert_eq!(unchecked.code, Some(0), "{unchecked:?}");
    assert!(
        unchecked.stderr.contains("were not checked"),
        "{unchecked:?}"
    );

    adapters_embedded::tampering::truncate_trail(&path, total - 1).unwrap();
    let cut = run(&["audit", "verify"]);
    assert_eq!(cut.code, Some(3), "{cut:?}");
    assert!(
        cut.stderr.contains(&format!(
            "the trail ends at {}: event {total} was removed",
            total - 1
        )),
        "{cut:?}"
    );
    let refused = run(&["audit", "checkpoint"]);
    assert_eq!(refused.code, Some(3), "{refused:?}");
    assert!(
        refused.stderr.contains("no checkpoint signed"),
        "{refused:?}"
    );

    // A checkpoint altered behind the store's back is a forgery.
    adapters_embedded::tampering::alter_checkpoint(&path, total, |checkpoint| {
        checkpoint["at_ms"] = json!(checkpoint["at_ms"].as_i64().unwrap() - 3_600_000);
    })
    .unwrap();
    let forged = run(&["audit", "verify"]);
    assert_eq!(forged.code, Some(3), "{forged:?}");
    assert!(
        forged
            .stderr
            .contains(&format!("the checkpoint of event {total} does not verify")),
        "{forged:?}"
    );
}
