//! The permission matrix (SPEC §2), role by role: read list, read one, create, update,
//! block, reset password through the fr routes, delete through v1 (the fr dialect has no
//! delete route), and list / read / update again through the v1 admin routes. Every
//! refusal is a 403 with the dialect's code, and changes nothing.

use serde_json::json;

use crate::helpers::{INITIAL_PASSWORD, TestApp, TestUser, spawn_app};

/// What a role may do, cell by cell.
#[derive(Clone, Copy, Debug)]
struct Allowed {
    read: bool,
    create: bool,
    update: bool,
    block: bool,
    reset: bool,
    delete: bool,
}

/// `expected_status` when allowed, else a 403 in the fr shape.
fn expect_fr(response: &crate::helpers::Response, allowed: bool, expected_status: u16) {
    if allowed {
        response.assert_status(expected_status);
    } else {
        response.assert_fr_error(403, "ACCES_REFUSE");
    }
}

/// `expected_status` when allowed, else a 403 in the v1 shape.
fn expect_v1(response: &crate::helpers::Response, allowed: bool, expected_status: u16) {
    if allowed {
        response.assert_status(expected_status);
    } else {
        response.assert_v1_error(403, "PERMISSION_DENIED");
    }
}

fn check_role(role: &str, allowed: Allowed) {
    let app = spawn_app();
    let actor = app.create_active_user(role);
    let token = actor.token();
    // One target per action, so that no action depends on another's outcome.
    let target = || -> TestUser { app.create_user("TAXATEUR") };
    let read_target = target();
    let update_target = target();
    let block_target = target();
    let reset_target = target();
    let delete_target = target();

    // Self-service is every authenticated user's.
    app.get_utilisateur_me(token).assert_status(200);
    app.get_me(token).assert_status(200);

    // fr routes.
    expect_fr(&app.get_utilisateurs(token, ""), allowed.read, 200);
    expect_fr(
        &app.get_utilisateur(token, &read_target.id),
        allowed.read,
        200,
    );
    let (new_login, body) = TestApp::new_user_body("CONTRIBUABLE");
    expect_fr(&app.post_utilisateur(token, &body), allowed.create, 201);
    expect_fr(
        &app.put_utilisateur(token, &update_target.id, &json!({"grade": "Inspecteur"})),
        allowed.update,
        200,
    );
    expect_fr(
        &app.post_bloquer(token, &block_target.id, Some(&json!({"bloque": true}))),
        allowed.block,
        200,
    );
    expect_fr(
        &app.post_reset_password(token, &reset_target.id, None),
        allowed.reset,
        200,
    );

    // v1 admin routes.
    expect_v1(&app.get_admin_users(token, ""), allowed.read, 200);
    expect_v1(
        &app.get_admin_user(token, &read_target.id),
        allowed.read,
        200,
    );
    expect_v1(
        &app.put_admin_user(token, &update_target.id, &json!({"username": "Renamed"})),
        allowed.update,
        200,
    );
    expect_v1(
        &app.delete_admin_user(token, &delete_target.id),
        allowed.delete,
        204,
    );

    // What a refusal did not change, as the ADMIN sees it.
    let admin = app.admin_token();
    let created = app
        .get_utilisateurs(admin, &format!("q={new_login}"))
        .data();
    assert_eq!(
        created["total"],
        u64::from(allowed.create),
        "{role} create: {created}"
    );
    let updated = app.utilisateur(&update_target.id);
    assert_eq!(
        updated["grade"] == "Inspecteur",
        allowed.update,
        "{role} update: {updated}"
    );
    assert_eq!(
        updated["nomComplet"] == "Renamed",
        allowed.update,
        "{role} v1 update: {updated}"
    );
    let blocked = app.utilisateur(&block_target.id);
    assert_eq!(blocked["bloque"], allowed.block, "{role} block: {blocked}");
    let old_password = app.post_login(&reset_target.login, INITIAL_PASSWORD);
    assert_eq!(
        old_password.status,
        if allowed.reset { 401 } else { 200 },
        "{role} reset: the old password {}",
        if allowed.reset {
            "must stop working"
        } else {
            "still works"
        }
    );
    let deleted = app.get_utilisateur(admin, &delete_target.id);
    assert_eq!(
        deleted.status,
        if allowed.delete { 404 } else { 200 },
        "{role} delete: {}",
        deleted.body
    );
}

macro_rules! matrix {
    ($($name:ident: $role:literal => [$read:expr, $create:expr, $update:expr, $block:expr, $reset:expr, $delete:expr];)*) => {
        $(
            #[test]
            fn $name() {
                check_role(
                    $role,
                    Allowed {
                        read: $read,
                        create: $create,
                        update: $update,
                        block: $block,
                        reset: $reset,
                        delete: $delete,
                    },
                );
            }
        )*

        #[test]
        fn the_matrix_covers_the_nine_roles() {
            let mut roles = vec![$($role),*];
            roles.sort_unstable();
            let mut all = crate::helpers::ROLES.to_vec();
            all.sort_unstable();
            assert_eq!(roles, all);
        }
    };
}

//                                             read   create update block  reset  delete
matrix! {
    admin:               "ADMIN"               => [true,  true,  true,  true,  true,  true ];
    directeur:           "DIRECTEUR"           => [true,  false, false, true,  false, false];
    chef_de_division:    "CHEF_DE_DIVISION"    => [false, false, false, false, false, false];
    chef_de_bureau:      "CHEF_DE_BUREAU"      => [false, false, false, false, false, false];
    taxateur:            "TAXATEUR"            => [false, false, false, false, false, false];
    receveur_des_impots: "RECEVEUR_DES_IMPOTS" => [false, false, false, false, false, false];
    controlleur:         "CONTROLLEUR"         => [false, false, false, false, false, false];
    informaticien:       "INFORMATICIEN"       => [true,  true,  true,  false, true,  false];
    contribuable:        "CONTRIBUABLE"        => [false, false, false, false, false, false];
}
