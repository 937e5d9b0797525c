//! Rule 9: five consecutive wrong passwords lock the account (423 + `Retry-After`); a
//! success resets the count; an ADMIN's unblock or reset clears the lock.

use serde_json::json;

use crate::helpers::{
    OTHER_PASSWORD, PASSWORD, Response, Store, TestApp, TestUser, spawn_app, str_of,
};

/// Default `lockout.max_failures`.
const MAX_FAILURES: usize = 5;
/// Default `lockout.lock_minutes`, in seconds.
const LOCK_SECS: u64 = 15 * 60;

fn assert_locked(response: &Response) {
    let retry_after = response.header("retry-after").unwrap_or_else(|| {
        panic!(
            "{}: 423 needs Retry-After: {:?}",
            response.what, response.headers
        )
    });
    let secs: u64 = retry_after
        .parse()
        .unwrap_or_else(|e| panic!("Retry-After {retry_after:?} is not delay-seconds: {e}"));
    assert!((1..=LOCK_SECS).contains(&secs), "Retry-After {secs}");
}

/// Fails `MAX_FAILURES` times; the last one locks.
fn lock(app: &TestApp, user: &TestUser) {
    for _ in 1..MAX_FAILURES {
        app.post_login(&user.login, OTHER_PASSWORD)
            .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    }
    let locking = app.post_login(&user.login, OTHER_PASSWORD);
    locking.assert_fr_error(423, "COMPTE_VERROUILLE");
    assert_locked(&locking);
}

#[test]
fn five_wrong_passwords_lock_the_account_with_retry_after() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");

    lock(&app, &user);

    let right = app.post_login(&user.login, PASSWORD);
    right.assert_fr_error(423, "COMPTE_VERROUILLE");
    assert_locked(&right);
    let v1 = app.post_login_v1(&user.email, PASSWORD);
    v1.assert_v1_error(423, "ACCOUNT_LOCKED");
    assert_locked(&v1);
    // A token issued before the lock is not a login: it keeps working.
    app.get_utilisateur_me(user.token()).assert_status(200);
}

#[test]
fn v1_login_counts_failures_too() {
    let app = spawn_app();
    let user = app.create_active_user("CONTRIBUABLE");

    for _ in 1..MAX_FAILURES {
        app.post_login_v1(&user.email, OTHER_PASSWORD)
            .assert_v1_error(401, "INVALID_CREDENTIALS");
    }
    let locking = app.post_login_form(&user.login, OTHER_PASSWORD);
    locking.assert_v1_error(423, "ACCOUNT_LOCKED");
    assert_locked(&locking);
}

#[test]
fn a_successful_login_resets_the_count() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");

    for _ in 1..MAX_FAILURES {
        app.post_login(&user.login, OTHER_PASSWORD)
            .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    }
    app.post_login(&user.login, PASSWORD).assert_status(200);
    for _ in 1..MAX_FAILURES {
        app.post_login(&user.login, OTHER_PASSWORD)
            .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    }
    app.post_login(&user.login, PASSWORD).assert_status(200);
}

#[test]
fn unknown_identifiers_never_lock_and_never_differ() {
    let app = spawn_app();

    for _ in 0..=MAX_FAILURES {
        app.post_login("ghost-account", OTHER_PASSWORD)
            .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    }
}

#[test]
fn an_admin_unblock_clears_the_lock() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");
    lock(&app, &user);

    app.post_bloquer(app.admin_token(), &user.id, Some(&json!({"bloque": false})))
        .assert_status(200);

    app.post_login(&user.login, PASSWORD).assert_status(200);
}

#[test]
fn an_admin_reset_clears_the_lock() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");
    lock(&app, &user);

    let reset = app.post_reset_password(app.admin_token(), &user.id, None);
    reset.assert_status(200);
    let temporary = str_of(&reset.data()["motDePasseTemporaire"]);

    let login = app.post_login(&user.login, &temporary);
    login.assert_status(200);
    assert_eq!(login.data()["premierConnexion"], true);
}

#[test]
fn the_threshold_and_the_duration_are_configurable() {
    let app = TestApp::spawn_with_env(
        Store::from_env(),
        &[
            ("USERS__LOCKOUT__MAX_FAILURES", "2"),
            ("USERS__LOCKOUT__LOCK_MINUTES", "1"),
        ],
    );
    let user = app.create_active_user("TAXATEUR");

    app.post_login(&user.login, OTHER_PASSWORD)
        .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    let locking = app.post_login(&user.login, OTHER_PASSWORD);

    locking.assert_fr_error(423, "COMPTE_VERROUILLE");
    let secs: u64 = locking
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=60).contains(&secs), "one minute: Retry-After {secs}");
}
