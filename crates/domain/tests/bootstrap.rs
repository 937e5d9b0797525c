//! The start-up bootstrap of the first ADMIN (SPEC §5), over the reference in-memory store:
//! it creates an ADMIN only in a store that holds none, active or not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use adapters_memory::InMemoryUserRepository;
use domain::model::{Role, User};
use domain::ports::UserRepository;
use domain::service::{Bootstrap, UserService};
use support::*;

const BOOTSTRAP_PW: &str = "Known-Boot-2024!";

/// A way of shutting an ADMIN out.
type ShutOut = fn(&mut User);

/// A store whose only ADMIN is shut out, as a file written before the store enforced rule
/// 8, or edited by hand, may hold (the service itself refuses to shut out the last active
/// ADMIN): the ADMIN is made by another service, changed, and stored as it is.
async fn store_whose_only_admin_is(
    change: impl FnOnce(&mut User),
) -> (UserService, Arc<InMemoryUserRepository>) {
    let (scratch, _) = World::without_admin();
    let mut boss = scratch
        .create_admin(login("boss"), None, pw(BOOTSTRAP_PW))
        .await
        .unwrap();
    change(&mut boss);
    let (service, repo) = World::without_admin();
    repo.insert(&boss, &[]).await.unwrap();
    (service, repo)
}

async fn bootstrap(service: &UserService) -> Bootstrap {
    service
        .bootstrap_admin(login("root"), pw(BOOTSTRAP_PW))
        .await
        .unwrap()
}

#[tokio::test]
async fn bootstrap_creates_an_admin_in_a_store_without_any() {
    let (service, _) = World::without_admin();

    let Bootstrap::Created(created) = bootstrap(&service).await else {
        panic!("an ADMIN-less store gets the bootstrap ADMIN");
    };
    assert_eq!(created.role, Role::Admin);
    assert!(created.must_change_password);
    assert!(matches!(
        bootstrap(&service).await,
        Bootstrap::ActiveAdminExists
    ));
}

#[tokio::test]
async fn bootstrap_does_nothing_while_an_active_admin_exists() {
    let w = World::new().await;
    assert!(matches!(
        bootstrap(&w.service).await,
        Bootstrap::ActiveAdminExists
    ));
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
        let (service, repo) = store_whose_only_admin_is(shut_out).await;

        let outcome = bootstrap(&service).await;

        assert!(
            matches!(outcome, Bootstrap::NoActiveAdmin { admins: 1 }),
            "{how}: {outcome:?}"
        );
        assert!(
            repo.find_by_login(&login("root")).await.unwrap().is_none(),
            "{how}: no ADMIN with the known bootstrap password"
        );
        let refused = service.login("root", &pw(BOOTSTRAP_PW)).await;
        assert!(refused.is_err(), "{how}: the bootstrap login works");
    }
}
