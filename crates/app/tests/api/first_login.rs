//! Rule 5: an account created by an administrator logs in and gets a token, but that token
//! only reads its own profile, changes its own password and logs out until the password is
//! changed; the change answers a fresh token and revokes the old one.

use serde_json::json;

use crate::helpers::{
    INITIAL_PASSWORD, OTHER_PASSWORD, PASSWORD, TestApp, TestUser, spawn_app, str_of,
};

/// A DIRECTEUR (it may read and block, so a 403 can only be the restriction) that has
/// logged in once with the password its ADMIN gave it.
fn restricted_directeur(app: &TestApp) -> TestUser {
    let mut user = app.create_user("DIRECTEUR");
    let login = app.post_login(&user.login, INITIAL_PASSWORD);
    login.assert_status(200);
    let data = login.data();
    assert_eq!(data["premierConnexion"], true, "{data}");
    assert_eq!(data["utilisateur"]["premierConnexion"], true);
    user.token = Some(str_of(&data["token"]));
    user
}

#[test]
fn the_first_login_answers_a_token_flagged_for_a_password_change() {
    let app = spawn_app();
    let user = app.create_user("TAXATEUR");

    let v1 = app.post_login_v1(&user.login, INITIAL_PASSWORD);

    v1.assert_status(200);
    assert_eq!(v1.json()["must_change_password"], true);
    let token = str_of(&v1.json()["access_token"]);
    let me = app.get_me(&token);
    me.assert_status(200);
    assert_eq!(me.json()["must_change_password"], true);
    let me = app.get_utilisateur_me(&token);
    me.assert_status(200);
    assert_eq!(me.data()["utilisateur"]["premierConnexion"], true);
}

#[test]
fn the_restricted_token_is_refused_everywhere_else_with_password_change_required() {
    let app = spawn_app();
    let user = restricted_directeur(&app);
    let token = user.token();
    let other = app.create_user("TAXATEUR");

    let (_, new_user) = TestApp::new_user_body("CONTRIBUABLE");
    for response in [
        app.get_utilisateurs(token, ""),
        app.get_utilisateur(token, &other.id),
        app.get_utilisateur(token, &user.id),
        app.post_utilisateur(token, &new_user),
        app.put_utilisateur(token, &other.id, &json!({"grade": "X"})),
        app.post_bloquer(token, &other.id, Some(&json!({"bloque": true}))),
        app.post_reset_password(token, &other.id, None),
    ] {
        response.assert_fr_error(403, "CHANGEMENT_MOT_DE_PASSE_REQUIS");
    }
    for response in [
        app.get_admin_users(token, ""),
        app.get_admin_user(token, &other.id),
        app.put_admin_user(token, &other.id, &json!({"username": "X"})),
        app.delete_admin_user(token, &other.id),
        app.put_me(token, &json!({"username": "New Name"})),
        app.put_me(
            token,
            &json!({"email": "new@e2e.test", "current_password": INITIAL_PASSWORD}),
        ),
        app.delete_me(token, INITIAL_PASSWORD),
    ] {
        response.assert_v1_error(403, "PASSWORD_CHANGE_REQUIRED");
    }

    let stored = app.utilisateur(&other.id);
    assert_eq!(stored["bloque"], false);
    assert_eq!(stored["grade"], serde_json::Value::Null);
    assert_eq!(
        app.utilisateur(&user.id)["nomComplet"],
        format!("Test {}", user.login)
    );
    // Still usable for what it allows.
    app.get_me(token).assert_status(200);
}

#[test]
fn changing_the_password_answers_a_fresh_token_that_works_and_kills_the_old_one() {
    let app = spawn_app();
    let user = restricted_directeur(&app);
    let old = user.token().to_owned();

    let changed = app.post_change_password(&old, INITIAL_PASSWORD, PASSWORD);

    changed.assert_status(200);
    let data = changed.data();
    assert_eq!(data["premierConnexion"], false);
    assert_eq!(data["utilisateur"]["premierConnexion"], false);
    let fresh = str_of(&data["token"]);
    app.get_utilisateurs(&fresh, "").assert_status(200);
    app.get_admin_users(&fresh, "").assert_status(200);
    let other = app.create_user("TAXATEUR");
    app.post_bloquer(&fresh, &other.id, Some(&json!({"bloque": true})))
        .assert_status(200);
    app.put_me(&fresh, &json!({"username": "Now Free"}))
        .assert_status(200);

    app.get_utilisateur_me(&old)
        .assert_fr_error(401, "JETON_INVALIDE");
    app.get_me(&old).assert_v1_error(401, "INVALID_TOKEN");

    app.post_login(&user.login, INITIAL_PASSWORD)
        .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    let again = app.post_login(&user.login, PASSWORD);
    again.assert_status(200);
    assert_eq!(again.data()["premierConnexion"], false);
}

#[test]
fn v1_put_me_with_the_password_also_lifts_the_restriction() {
    let app = spawn_app();
    let user = restricted_directeur(&app);

    let changed = app.put_me(
        user.token(),
        &json!({"password": OTHER_PASSWORD, "current_password": INITIAL_PASSWORD}),
    );

    changed.assert_status(200);
    assert_eq!(changed.json()["must_change_password"], false);
    app.get_me(user.token())
        .assert_v1_error(401, "INVALID_TOKEN");
    let login = app.post_login_v1(&user.login, OTHER_PASSWORD);
    login.assert_status(200);
    assert_eq!(login.json()["must_change_password"], false);
    app.get_admin_users(
        login.json()["access_token"].as_str().unwrap_or_default(),
        "",
    )
    .assert_status(200);
}

#[test]
fn logout_is_allowed_during_the_restriction() {
    let app = spawn_app();
    let user = restricted_directeur(&app);

    app.post_logout(user.token()).assert_status(204);

    app.get_me(user.token())
        .assert_v1_error(401, "INVALID_TOKEN");
}

#[test]
fn the_restriction_follows_the_stored_flag_not_the_token() {
    let app = spawn_app();
    let user = app.create_active_user("DIRECTEUR");
    app.get_utilisateurs(user.token(), "").assert_status(200);

    // An ADMIN's reset sets the flag again; the next login is restricted once more.
    let reset = app.post_reset_password(app.admin_token(), &user.id, None);
    reset.assert_status(200);
    let temporary = str_of(&reset.data()["motDePasseTemporaire"]);
    let login = app.post_login(&user.login, &temporary);
    login.assert_status(200);
    let token = str_of(&login.data()["token"]);
    app.get_utilisateurs(&token, "")
        .assert_fr_error(403, "CHANGEMENT_MOT_DE_PASSE_REQUIS");
}
