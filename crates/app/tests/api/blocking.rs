//! Blocking (rules 6, 7, 10) and password reset (rules 9, 13): a block kills existing
//! tokens at once and is only revealed after a correct password; unblocking restores the
//! login; a reset's temporary password is shown once, logs in, must be changed, and dies
//! with the change.

use serde_json::json;

use crate::helpers::{OTHER_PASSWORD, PASSWORD, spawn_app, str_of};

#[test]
fn blocking_revokes_the_users_existing_token_immediately() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");
    let v1_token = str_of(&app.post_login_v1(&user.login, &user.password).json()["access_token"]);
    app.get_me(&v1_token).assert_status(200);

    let blocked = app.post_bloquer(app.admin_token(), &user.id, Some(&json!({"bloque": true})));

    blocked.assert_status(200);
    app.get_utilisateur_me(user.token())
        .assert_fr_error(401, "JETON_INVALIDE");
    app.get_me(&v1_token).assert_v1_error(401, "INVALID_TOKEN");
    app.post_logout(user.token())
        .assert_v1_error(401, "INVALID_TOKEN");
}

#[test]
fn a_blocked_account_is_only_revealed_after_the_right_password() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");
    app.post_bloquer(app.admin_token(), &user.id, Some(&json!({"bloque": true})))
        .assert_status(200);

    app.post_login(&user.login, PASSWORD)
        .assert_fr_error(403, "COMPTE_BLOQUE");
    app.post_login_v1(&user.login, PASSWORD)
        .assert_v1_error(403, "ACCOUNT_BLOCKED");
    app.post_login_form(&user.email, PASSWORD)
        .assert_v1_error(403, "ACCOUNT_BLOCKED");

    let wrong = app.post_login(&user.login, OTHER_PASSWORD);
    let unknown = app.post_login("never-existed", OTHER_PASSWORD);
    wrong.assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    assert_eq!(
        wrong.json(),
        unknown.json(),
        "like an unknown user (rule 10)"
    );
    let wrong = app.post_login_v1(&user.login, OTHER_PASSWORD);
    let unknown = app.post_login_v1("never@existed.org", OTHER_PASSWORD);
    wrong.assert_v1_error(401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.json(), unknown.json());
}

#[test]
fn unblocking_restores_the_login_but_not_the_old_tokens() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");
    let admin = app.admin_token();
    app.post_bloquer(admin, &user.id, Some(&json!({"bloque": true})))
        .assert_status(200);
    app.post_login(&user.login, PASSWORD)
        .assert_fr_error(403, "COMPTE_BLOQUE");

    let unblocked = app.post_bloquer(admin, &user.id, Some(&json!({"bloque": false})));

    unblocked.assert_status(200);
    assert_eq!(unblocked.data()["utilisateur"]["bloque"], false);
    let login = app.post_login(&user.login, PASSWORD);
    login.assert_status(200);
    app.get_utilisateur_me(&str_of(&login.data()["token"]))
        .assert_status(200);
    app.get_utilisateur_me(user.token())
        .assert_fr_error(401, "JETON_INVALIDE");
}

#[test]
fn a_directeur_blocks_and_unblocks_by_toggling() {
    let app = spawn_app();
    let directeur = app.create_active_user("DIRECTEUR");
    let user = app.create_active_user("RECEVEUR_DES_IMPOTS");

    let toggled = app.post_bloquer(directeur.token(), &user.id, None);
    toggled.assert_status(200);
    assert_eq!(toggled.data()["utilisateur"]["bloque"], true);
    app.get_utilisateur_me(user.token())
        .assert_fr_error(401, "JETON_INVALIDE");
    app.post_login(&user.login, PASSWORD)
        .assert_fr_error(403, "COMPTE_BLOQUE");

    let toggled = app.post_bloquer(directeur.token(), &user.id, None);
    assert_eq!(toggled.data()["utilisateur"]["bloque"], false);
    app.post_login(&user.login, PASSWORD).assert_status(200);
}

#[test]
fn a_reset_shows_a_strong_temporary_password_once_which_must_then_be_changed() {
    let app = spawn_app();
    let admin = app.admin_token();
    let user = app.create_active_user("TAXATEUR");

    let reset = app.post_reset_password(admin, &user.id, None);

    reset.assert_status(200).assert_no_store();
    let temporary = str_of(&reset.data()["motDePasseTemporaire"]);
    assert!(temporary.chars().count() >= 20, "≥ 128 bits: {temporary:?}");
    assert!(
        !app.utilisateur(&user.id).to_string().contains(&temporary),
        "shown once"
    );
    app.get_utilisateur_me(user.token())
        .assert_fr_error(401, "JETON_INVALIDE");
    app.post_login(&user.login, PASSWORD)
        .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");

    let login = app.post_login(&user.login, &temporary);
    login.assert_status(200);
    assert_eq!(login.data()["premierConnexion"], true);
    let token = str_of(&login.data()["token"]);
    app.get_me(&token).assert_status(200);
    app.get_admin_users(&token, "")
        .assert_v1_error(403, "PASSWORD_CHANGE_REQUIRED");

    let changed = app.post_change_password(&token, &temporary, OTHER_PASSWORD);
    changed.assert_status(200);
    assert_eq!(changed.data()["premierConnexion"], false);
    app.post_login(&user.login, &temporary)
        .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    app.post_login(&user.login, OTHER_PASSWORD)
        .assert_status(200);

    let second = app.post_reset_password(admin, &user.id, None);
    let second = str_of(&second.data()["motDePasseTemporaire"]);
    assert_ne!(second, temporary, "random each time");
}
