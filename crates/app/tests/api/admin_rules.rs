//! Rule 8: only an ADMIN creates, promotes, demotes, modifies, blocks, resets or deletes an
//! ADMIN; nobody blocks or deletes their own account through the admin routes; the last
//! active ADMIN is never demoted, deactivated, blocked or deleted.

use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

#[test]
fn only_an_admin_creates_an_admin() {
    let app = spawn_app();
    let informaticien = app.create_active_user("INFORMATICIEN");

    let (login, body) = TestApp::new_user_body("ADMIN");
    app.post_utilisateur(informaticien.token(), &body)
        .assert_fr_error(403, "ACCES_REFUSE");
    let found = app
        .get_utilisateurs(app.admin_token(), &format!("q={login}"))
        .data();
    assert_eq!(found["total"], 0, "nothing created: {found}");

    let created = app.post_utilisateur(app.admin_token(), &body);
    created.assert_status(201);
    assert_eq!(created.data()["utilisateur"]["role"], "ADMIN");
}

#[test]
fn only_an_admin_gives_or_takes_the_admin_role() {
    let app = spawn_app();
    let informaticien = app.create_active_user("INFORMATICIEN");
    let target = app.create_user("TAXATEUR");

    app.put_utilisateur(informaticien.token(), &target.id, &json!({"role": "ADMIN"}))
        .assert_fr_error(403, "ACCES_REFUSE");
    app.put_admin_user(
        informaticien.token(),
        &target.id,
        &json!({"is_admin": true}),
    )
    .assert_v1_error(403, "PERMISSION_DENIED");
    app.put_admin_user(informaticien.token(), &target.id, &json!({"role": "ADMIN"}))
        .assert_v1_error(403, "PERMISSION_DENIED");
    assert_eq!(app.utilisateur(&target.id)["role"], "TAXATEUR");

    // Other promotions are the INFORMATICIEN's to make.
    app.put_utilisateur(
        informaticien.token(),
        &target.id,
        &json!({"role": "DIRECTEUR"}),
    )
    .assert_status(200);

    app.put_utilisateur(app.admin_token(), &target.id, &json!({"role": "ADMIN"}))
        .assert_status(200);
    assert_eq!(app.utilisateur(&target.id)["role"], "ADMIN");

    app.put_utilisateur(
        informaticien.token(),
        &target.id,
        &json!({"role": "TAXATEUR"}),
    )
    .assert_fr_error(403, "ACCES_REFUSE");
    app.put_admin_user(
        informaticien.token(),
        &target.id,
        &json!({"is_admin": false}),
    )
    .assert_v1_error(403, "PERMISSION_DENIED");
    assert_eq!(app.utilisateur(&target.id)["role"], "ADMIN");

    app.put_admin_user(app.admin_token(), &target.id, &json!({"is_admin": false}))
        .assert_status(200);
    assert_eq!(app.utilisateur(&target.id)["role"], "CONTRIBUABLE");
}

#[test]
fn only_an_admin_modifies_blocks_resets_or_deletes_an_admin() {
    let app = spawn_app();
    let informaticien = app.create_active_user("INFORMATICIEN");
    let directeur = app.create_active_user("DIRECTEUR");
    let other_admin = app.create_active_user("ADMIN");
    let before = app.utilisateur(&other_admin.id);

    app.put_utilisateur(
        informaticien.token(),
        &other_admin.id,
        &json!({"grade": "X"}),
    )
    .assert_fr_error(403, "ACCES_REFUSE");
    app.put_admin_user(
        informaticien.token(),
        &other_admin.id,
        &json!({"username": "X"}),
    )
    .assert_v1_error(403, "PERMISSION_DENIED");
    app.put_utilisateur(
        informaticien.token(),
        &other_admin.id,
        &json!({"actif": false}),
    )
    .assert_fr_error(403, "ACCES_REFUSE");
    app.post_bloquer(
        directeur.token(),
        &other_admin.id,
        Some(&json!({"bloque": true})),
    )
    .assert_fr_error(403, "ACCES_REFUSE");
    app.post_bloquer(directeur.token(), &other_admin.id, None)
        .assert_fr_error(403, "ACCES_REFUSE");
    app.post_reset_password(informaticien.token(), &other_admin.id, None)
        .assert_fr_error(403, "ACCES_REFUSE");
    app.put_admin_user(
        informaticien.token(),
        &other_admin.id,
        &json!({"password": "N3w-Secret-Pass!"}),
    )
    .assert_v1_error(403, "PERMISSION_DENIED");

    assert_eq!(app.utilisateur(&other_admin.id), before, "nothing changed");
    app.get_utilisateur_me(other_admin.token())
        .assert_status(200);

    let admin = app.admin_token();
    app.put_utilisateur(admin, &other_admin.id, &json!({"grade": "Chef"}))
        .assert_status(200);
    app.post_bloquer(admin, &other_admin.id, Some(&json!({"bloque": true})))
        .assert_status(200);
    app.post_bloquer(admin, &other_admin.id, Some(&json!({"bloque": false})))
        .assert_status(200);
    app.post_reset_password(admin, &other_admin.id, None)
        .assert_status(200);
    app.delete_admin_user(admin, &other_admin.id)
        .assert_status(204);
}

#[test]
fn nobody_blocks_or_deletes_their_own_account_through_the_admin_routes() {
    let app = spawn_app();
    let admin = app.admin_token();
    let directeur = app.create_active_user("DIRECTEUR");
    // A second ADMIN, so that LAST_ADMIN cannot be the reason for a refusal.
    app.create_active_user("ADMIN");

    app.post_bloquer(admin, &app.admin.id, Some(&json!({"bloque": true})))
        .assert_fr_error(403, "ACTION_SUR_SOI_INTERDITE");
    app.post_bloquer(admin, &app.admin.id, None)
        .assert_fr_error(403, "ACTION_SUR_SOI_INTERDITE");
    app.post_bloquer(
        directeur.token(),
        &directeur.id,
        Some(&json!({"bloque": true})),
    )
    .assert_fr_error(403, "ACTION_SUR_SOI_INTERDITE");
    app.delete_admin_user(admin, &app.admin.id)
        .assert_v1_error(403, "SELF_ACTION_FORBIDDEN");

    assert_eq!(app.utilisateur(&app.admin.id)["bloque"], false);
    assert_eq!(app.utilisateur(&directeur.id)["bloque"], false);
    app.get_utilisateur_me(admin).assert_status(200);
    app.get_utilisateur_me(directeur.token()).assert_status(200);
}

#[test]
fn a_non_admin_cannot_change_its_own_role_or_status() {
    let app = spawn_app();
    let informaticien = app.create_active_user("INFORMATICIEN");
    let token = informaticien.token();

    app.put_utilisateur(token, &informaticien.id, &json!({"role": "DIRECTEUR"}))
        .assert_fr_error(403, "ACTION_SUR_SOI_INTERDITE");
    app.put_utilisateur(token, &informaticien.id, &json!({"actif": false}))
        .assert_fr_error(403, "ACTION_SUR_SOI_INTERDITE");
    app.put_admin_user(token, &informaticien.id, &json!({"role": "DIRECTEUR"}))
        .assert_v1_error(403, "SELF_ACTION_FORBIDDEN");
    let me = app.utilisateur(&informaticien.id);
    assert_eq!(me["role"], "INFORMATICIEN");
    assert_eq!(me["actif"], true);

    // The rest of its own record goes through the admin route like anyone else's.
    app.put_utilisateur(token, &informaticien.id, &json!({"grade": "Technicien"}))
        .assert_status(200);
}

#[test]
fn the_last_active_admin_cannot_be_demoted_deactivated_or_deleted() {
    let app = spawn_app();
    let admin = app.admin_token();
    let me = app.admin.id.clone();

    app.put_utilisateur(admin, &me, &json!({"role": "TAXATEUR"}))
        .assert_fr_error(409, "DERNIER_ADMIN");
    app.put_utilisateur(admin, &me, &json!({"actif": false}))
        .assert_fr_error(409, "DERNIER_ADMIN");
    app.put_admin_user(admin, &me, &json!({"is_admin": false}))
        .assert_v1_error(409, "LAST_ADMIN");
    app.put_admin_user(admin, &me, &json!({"is_active": false}))
        .assert_v1_error(409, "LAST_ADMIN");
    app.delete_me(admin, &app.admin.password)
        .assert_v1_error(409, "LAST_ADMIN");

    let stored = app.utilisateur(&me);
    assert_eq!(stored["role"], "ADMIN");
    assert_eq!(stored["actif"], true);
    assert_eq!(stored["bloque"], false);
    app.get_utilisateurs(admin, "").assert_status(200);
}

#[test]
fn a_blocked_or_inactive_admin_does_not_count_as_another_active_admin() {
    let app = spawn_app();
    let admin = app.admin_token();
    let me = app.admin.id.clone();
    let other = app.create_active_user("ADMIN");

    app.post_bloquer(admin, &other.id, Some(&json!({"bloque": true})))
        .assert_status(200);
    app.put_utilisateur(admin, &me, &json!({"role": "DIRECTEUR"}))
        .assert_fr_error(409, "DERNIER_ADMIN");
    app.post_bloquer(admin, &other.id, Some(&json!({"bloque": false})))
        .assert_status(200);

    app.put_utilisateur(admin, &other.id, &json!({"actif": false}))
        .assert_status(200);
    app.put_utilisateur(admin, &me, &json!({"actif": false}))
        .assert_fr_error(409, "DERNIER_ADMIN");
    app.put_utilisateur(admin, &other.id, &json!({"actif": true}))
        .assert_status(200);

    // Two active ADMINs again: one of them may step down, then the other is the last.
    let demoted = app.put_utilisateur(admin, &me, &json!({"role": "DIRECTEUR"}));
    demoted.assert_status(200);
    assert_eq!(demoted.data()["utilisateur"]["role"], "DIRECTEUR");
    app.get_utilisateur_me(admin)
        .assert_fr_error(401, "JETON_INVALIDE");
    let mut other = other;
    app.log_in(&mut other);
    app.delete_me(other.token(), &other.password)
        .assert_v1_error(409, "LAST_ADMIN");
    app.put_admin_user(other.token(), &other.id, &json!({"is_admin": false}))
        .assert_v1_error(409, "LAST_ADMIN");
}

#[test]
fn an_admin_may_delete_another_admin_or_itself_while_one_remains() {
    let app = spawn_app();
    let mut second = app.create_active_user("ADMIN");
    let third = app.create_active_user("ADMIN");

    app.delete_admin_user(second.token(), &app.admin.id)
        .assert_status(204);
    app.get_utilisateur_me(app.admin_token())
        .assert_fr_error(401, "JETON_INVALIDE");

    app.delete_me(third.token(), &third.password)
        .assert_status(204);

    app.log_in(&mut second);
    app.delete_me(second.token(), &second.password)
        .assert_v1_error(409, "LAST_ADMIN");
    app.delete_admin_user(second.token(), &second.id)
        .assert_v1_error(403, "SELF_ACTION_FORBIDDEN");
    app.get_admin_users(second.token(), "").assert_status(200);
}
