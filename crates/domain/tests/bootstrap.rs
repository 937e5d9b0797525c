//! The start-up bootstrap of the first ADMIN (SPEC §5), over the reference in-memory store:
//! it creates an ADMIN only in a store that holds none, active or not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use domain::model::{Role, User};
use domain::ports::UserRepository;
use domain::service::Bootstrap;
use support::*;

const BOOTSTRAP_PW: &str = "Known-Boot-2024!";

/// A way of shutting an ADMIN out.
type ShutOut = fn(&mut User);

/// Changes the world's only ADMIN behind the service's back, as a direct edit of the store
/// would (the service itself refuses to shut out the last active ADMIN, rule 8).
async fn edit_the_only_admin(w: &World, change: impl FnOnce(&mut User)) {
    let mut admin = w.stored(w.admin.id).await;
    change(&mut admin);
    let read = admin.version;
    admin.version += 1;
    w.repo.update(&admin, read).await.unwrap();
}

async fn bootstrap(w: &World) -> Bootstrap {
    w.service
        .bootstrap_admin(login("root"), pw(BOOTSTRAP_PW))
        .await
        .unwrap()
}

#[tokio::test]
async fn bootstrap_creates_an_admin_in_a_store_without_any() {
    let w = World::new().await;
    w.repo.delete(w.admin.id).await.unwrap();

    let Bootstrap::Created(created) = bootstrap(&w).await else {
        panic!("an ADMIN-less store gets the bootstrap ADMIN");
    };
    assert_eq!(created.role, Role::Admin);
    assert!(created.must_change_password);
    assert!(matches!(bootstrap(&w).await, Bootstrap::ActiveAdminExists));
}

#[tokio::test]
async fn bootstrap_does_nothing_while_an_active_admin_exists() {
    let w = World::new().await;
    assert!(matches!(bootstrap(&w).await, Bootstrap::ActiveAdminExists));
    assert!(
        w.repo
            .find_by_login(&login("root"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn bootstrap_does_not_replace_a_blocked_or_deactivated_only_admin() {
    let shut_outs: [(&str, ShutOut); 2] = [
        ("blocked", |u| u.blocked = true),
        ("deactivated", |u| u.active = false),
    ];
    for (how, shut_out) in shut_outs {
        let w = World::new().await;
        edit_the_only_admin(&w, shut_out).await;

        let outcome = bootstrap(&w).await;

        assert!(
            matches!(outcome, Bootstrap::NoActiveAdmin { admins: 1 }),
            "{how}: {outcome:?}"
        );
        assert!(
            w.repo
                .find_by_login(&login("root"))
                .await
                .unwrap()
                .is_none(),
            "{how}: no ADMIN with the known bootstrap password"
        );
        let refused = w.service.login("root", &pw(BOOTSTRAP_PW)).await;
        assert!(refused.is_err(), "{how}: the bootstrap login works");
    }
}
