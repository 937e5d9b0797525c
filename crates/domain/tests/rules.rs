//! One or more named tests per business rule of SPEC §2, through the use cases, over the
//! reference in-memory store. Each fails if its rule is removed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use domain::DomainError;
use domain::error::{PolicyViolation, UniqueField};
use domain::model::{Actor, Permission, Role};
use domain::ports::{PageRequest, Update, UserFilter, UserRepository};
use domain::service::{NewUser, ProfileUpdate, Registration, ServiceConfig, UserUpdate};
use support::*;
use uuid::Uuid;

fn registration(login_: Option<&str>, email_: &str, password: &str) -> Registration {
    Registration {
        login: login_.map(login),
        email: email(email_),
        full_name: name("Ada Lovelace"),
        password: pw(password),
    }
}

fn new_user(login_: &str, role: Role) -> NewUser {
    NewUser::minimal(login(login_), pw(USER_PW), name("New Person"), role)
}

// ---- Rule 1: uniqueness ignoring case -------------------------------------------------

#[tokio::test]
async fn rule1_login_is_unique_ignoring_case() {
    let w = World::new().await;
    w.service
        .create_user(&w.admin, new_user("Agent1", Role::Taxateur))
        .await
        .unwrap();
    let err = w
        .service
        .create_user(&w.admin, new_user("aGENT1", Role::Taxateur))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DomainError::Conflict(UniqueField::Login)),
        "{err:?}"
    );
    assert_eq!(err.code(), "LOGIN_TAKEN");
}

#[tokio::test]
async fn rule1_email_is_unique_ignoring_case() {
    let w = World::new().await;
    w.service
        .register(registration(Some("ada"), "Ada@Example.com", USER_PW))
        .await
        .unwrap();
    let err = w
        .service
        .register(registration(Some("other"), "ada@EXAMPLE.COM", USER_PW))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "EMAIL_TAKEN");
}

#[tokio::test]
async fn rule1_a_login_cannot_be_another_users_email_nor_the_reverse() {
    let w = World::new().await;
    let mut agent = new_user("agent1", Role::Taxateur);
    agent.email = Some(email("agent1@dprihkat.cd"));
    let agent = w.service.create_user(&w.admin, agent).await.unwrap();

    let err = w
        .service
        .create_user(&w.admin, new_user("AGENT1@dprihkat.cd", Role::Taxateur))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "LOGIN_TAKEN");

    let mut other = new_user("other", Role::Taxateur);
    other.email = Some(email("Agent1@x.io"));
    w.service.create_user(&w.admin, other).await.unwrap();
    let err = w
        .service
        .register(registration(Some("third"), "other@x.io", USER_PW))
        .await;
    assert!(err.is_ok(), "an unrelated address is fine: {err:?}");

    // v1 registration uses the e-mail as login: the same account may hold both.
    w.service
        .register(registration(None, "self@x.io", USER_PW))
        .await
        .unwrap();
    // An e-mail equal to another account's login is refused on update too.
    let clash = UserUpdate {
        email: Some(Some(email("self@x.io"))),
        ..UserUpdate::default()
    };
    let err = w
        .service
        .update_user(&w.admin, agent.id, clash)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "EMAIL_TAKEN");
}

// ---- Rule 2: agent xor taxpayer ------------------------------------------------------------

#[tokio::test]
async fn rule2_taxpayer_link_only_for_contribuable_and_agent_link_never() {
    let w = World::new().await;
    let mut taxpayer_agent = new_user("tp1", Role::Contribuable);
    taxpayer_agent.agent_id = Some(Uuid::from_u128(1));
    let err = w
        .service
        .create_user(&w.admin, taxpayer_agent)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AGENT_TAXPAYER_MISMATCH");

    let mut agent_taxpayer = new_user("ag1", Role::Taxateur);
    agent_taxpayer.taxpayer_id = Some(Uuid::from_u128(2));
    let err = w
        .service
        .create_user(&w.admin, agent_taxpayer)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AGENT_TAXPAYER_MISMATCH");

    let mut agent = new_user("ag2", Role::Taxateur);
    agent.agent_id = Some(Uuid::from_u128(3));
    let agent = w.service.create_user(&w.admin, agent).await.unwrap();
    // Becoming a taxpayer while still linked to an agent is refused...
    let to_taxpayer = UserUpdate {
        role: Some(Role::Contribuable),
        ..UserUpdate::default()
    };
    let err = w
        .service
        .update_user(&w.admin, agent.id, to_taxpayer)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AGENT_TAXPAYER_MISMATCH");
    // ...unless the agent link is dropped in the same update.
    let switch = UserUpdate {
        role: Some(Role::Contribuable),
        agent_id: Some(None),
        taxpayer_id: Some(Some(Uuid::from_u128(4))),
        ..UserUpdate::default()
    };
    let updated = w
        .service
        .update_user(&w.admin, agent.id, switch)
        .await
        .unwrap();
    assert_eq!(updated.role, Role::Contribuable);
    assert_eq!(updated.taxpayer_id, Some(Uuid::from_u128(4)));
}

// ---- Rule 3: password policy ------------------------------------------------------------------

#[tokio::test]
async fn rule3_weak_password_reports_every_violation() {
    let w = World::new().await;
    let err = w
        .service
        .register(registration(Some("ada"), "ada@x.io", "ada"))
        .await
        .unwrap_err();
    let DomainError::WeakPassword(v) = err else {
        panic!("expected WeakPassword, got {err:?}")
    };
    use PolicyViolation::*;
    assert_eq!(
        v,
        vec![
            TooShort,
            NoUppercase,
            NoDigit,
            NoSymbol,
            ContainsLogin,
            ContainsEmail
        ]
    );
}

#[tokio::test]
async fn rule3_common_password_is_refused() {
    let w = World::new().await;
    let err = w
        .service
        .register(registration(Some("ada"), "ada@x.io", "P@ssw0rd"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DomainError::WeakPassword(v) if v.contains(&PolicyViolation::TooCommon))
    );
}

#[tokio::test]
async fn rule3_new_password_must_differ_from_the_current_one() {
    let w = World::new().await;
    let user = w
        .service
        .register(registration(Some("ada"), "ada@x.io", USER_PW))
        .await
        .unwrap();
    let err = w
        .service
        .change_own_password(&user.as_actor(), &pw(USER_PW), &pw(USER_PW))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DomainError::WeakPassword(v) if v == &vec![PolicyViolation::SameAsCurrent])
    );
}

#[tokio::test]
async fn rule3_policy_comes_from_configuration() {
    let mut config = ServiceConfig::default();
    config.password_policy.require_symbol = false;
    let w = World::with_config(config).await;
    w.service
        .register(registration(Some("ada"), "ada@x.io", "NoSymbols2024x"))
        .await
        .unwrap();
}

// ---- Rule 4: who must change the first password ------------------------------------------------

#[tokio::test]
async fn rule4_admin_creation_requires_change_self_registration_does_not() {
    let w = World::new().await;
    let created = w
        .service
        .create_user(&w.admin, new_user("agent", Role::Taxateur))
        .await
        .unwrap();
    assert!(created.must_change_password);
    let registered = w
        .service
        .register(registration(None, "self@x.io", USER_PW))
        .await
        .unwrap();
    assert!(!registered.must_change_password);
    assert_eq!(registered.role, Role::Contribuable);
    assert_eq!(registered.login.as_str(), "self@x.io");
}

// ---- Rule 5: first-login restriction ------------------------------------------------------------

#[tokio::test]
async fn rule5_restricted_token_allows_only_profile_password_and_logout() {
    let w = World::new().await;
    let created = w
        .service
        .create_user(&w.admin, new_user("fresh-admin", Role::Admin))
        .await
        .unwrap();
    let restricted = created.as_actor();
    assert!(restricted.must_change_password);

    // Refused, even for an ADMIN:
    let err = w
        .service
        .list_users(
            &restricted,
            &UserFilter::default(),
            PageRequest {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PASSWORD_CHANGE_REQUIRED");
    let err = w
        .service
        .get_user(&restricted, w.admin.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PASSWORD_CHANGE_REQUIRED");
    let rename = ProfileUpdate {
        full_name: Some(name("Other")),
        ..ProfileUpdate::default()
    };
    let err = w
        .service
        .update_profile(&restricted, rename)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PASSWORD_CHANGE_REQUIRED");
    let err = w
        .service
        .delete_own_account(&restricted, &pw(USER_PW))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PASSWORD_CHANGE_REQUIRED");

    // Allowed:
    w.service.profile(&restricted).await.unwrap();
    let changed = w
        .service
        .change_own_password(&restricted, &pw(USER_PW), &pw("Brand-New-2024!"))
        .await
        .unwrap();
    assert!(
        !changed.must_change_password,
        "changing the password clears the flag"
    );
    w.service
        .get_user(&changed.as_actor(), w.admin.id)
        .await
        .unwrap();
    w.service.logout(&changed.as_actor()).await.unwrap();
}

// ---- Rule 6: blocked and inactive accounts ------------------------------------------------------

#[tokio::test]
async fn rule6_blocked_account_cannot_log_in_and_its_tokens_stop() {
    let w = World::new().await;
    let user = w.user("agent", Role::Taxateur).await;
    let ver = w.stored(user.id).await.token_version;
    w.service.authenticate(user.id, ver).await.unwrap();
    w.service
        .set_blocked(&w.admin, user.id, Some(true), None, None)
        .await
        .unwrap();

    let err = w
        .service
        .login("agent", &pw("Own-Choice-2024!"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ACCOUNT_BLOCKED");
    let err = w.service.authenticate(user.id, ver).await.unwrap_err();
    assert_eq!(err.code(), "INVALID_TOKEN");
    // Even a token carrying the new version is refused while blocked.
    let now_ver = w.stored(user.id).await.token_version;
    assert_eq!(
        w.service
            .authenticate(user.id, now_ver)
            .await
            .unwrap_err()
            .code(),
        "INVALID_TOKEN"
    );
}

#[tokio::test]
async fn rule6_inactive_account_cannot_log_in_and_its_tokens_stop() {
    let w = World::new().await;
    let user = w.user("agent", Role::Taxateur).await;
    let deactivate = UserUpdate {
        active: Some(false),
        ..UserUpdate::default()
    };
    let updated = w
        .service
        .update_user(&w.admin, user.id, deactivate)
        .await
        .unwrap();
    let err = w
        .service
        .login("agent", &pw("Own-Choice-2024!"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ACCOUNT_INACTIVE");
    let err = w
        .service
        .authenticate(user.id, updated.token_version)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_TOKEN");
}

// ---- Rule 7: token_version bumps --------------------------------------------------------------

#[tokio::test]
async fn rule7_every_revoking_action_bumps_token_version() {
    let w = World::new().await;
    let user = w.user("agent", Role::Taxateur).await;
    let mut last = w.stored(user.id).await.token_version;
    let bumped = |last: &mut u64, now: u64, what: &str| {
        assert!(now > *last, "{what} must bump token_version");
        *last = now;
    };

    w.service
        .set_blocked(&w.admin, user.id, Some(true), None, None)
        .await
        .unwrap();
    bumped(&mut last, w.stored(user.id).await.token_version, "block");
    w.service
        .set_blocked(&w.admin, user.id, Some(false), None, None)
        .await
        .unwrap();
    last = w.stored(user.id).await.token_version;

    let role = UserUpdate {
        role: Some(Role::Controlleur),
        ..UserUpdate::default()
    };
    w.service
        .update_user(&w.admin, user.id, role)
        .await
        .unwrap();
    bumped(
        &mut last,
        w.stored(user.id).await.token_version,
        "role change",
    );

    let (reset, _) = w
        .service
        .reset_password(&w.admin, user.id, None)
        .await
        .unwrap();
    bumped(&mut last, reset.token_version, "password reset");

    let actor = reset.as_actor();
    let changed = w
        .service
        .change_own_password(&actor, &pw(TEMPORARY), &pw("Yet-Another-2024!"))
        .await
        .unwrap();
    bumped(&mut last, changed.token_version, "password change");

    w.service.logout(&changed.as_actor()).await.unwrap();
    bumped(&mut last, w.stored(user.id).await.token_version, "logout");
}

#[tokio::test]
async fn rule7_deleted_user_tokens_stop() {
    let w = World::new().await;
    let user = w.user("agent", Role::Taxateur).await;
    let ver = w.stored(user.id).await.token_version;
    w.service.delete_user(&w.admin, user.id).await.unwrap();
    assert_eq!(
        w.service
            .authenticate(user.id, ver)
            .await
            .unwrap_err()
            .code(),
        "INVALID_TOKEN"
    );
}

// ---- Rule 8: ADMIN powers, self actions, last ADMIN -----------------------------------------

#[tokio::test]
async fn rule8_only_an_admin_creates_or_promotes_an_admin() {
    let w = World::new().await;
    let it = w.user("it-staff", Role::Informaticien).await;
    let err = w
        .service
        .create_user(&it, new_user("boss", Role::Admin))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PERMISSION_DENIED");

    let agent = w.user("agent", Role::Taxateur).await;
    let promote = UserUpdate {
        is_admin: Some(true),
        ..UserUpdate::default()
    };
    let err = w
        .service
        .update_user(&it, agent.id, promote.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PERMISSION_DENIED");
    let done = w
        .service
        .update_user(&w.admin, agent.id, promote)
        .await
        .unwrap();
    assert_eq!(done.role, Role::Admin);
}

#[tokio::test]
async fn rule8_only_an_admin_modifies_blocks_resets_or_deletes_an_admin() {
    let w = World::new().await;
    let it = w.user("it-staff", Role::Informaticien).await;
    let director = w.user("dir", Role::Directeur).await;
    let other_admin = w.user("admin2", Role::Admin).await;

    let rename = UserUpdate {
        full_name: Some(name("Renamed")),
        ..UserUpdate::default()
    };
    let err = w
        .service
        .update_user(&it, other_admin.id, rename.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PERMISSION_DENIED");
    let err = w
        .service
        .reset_password(&it, other_admin.id, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PERMISSION_DENIED");
    let err = w
        .service
        .set_blocked(&director, other_admin.id, Some(true), None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PERMISSION_DENIED");
    // An ADMIN may.
    w.service
        .update_user(&w.admin, other_admin.id, rename)
        .await
        .unwrap();
    w.service
        .set_blocked(&w.admin, other_admin.id, Some(true), None, None)
        .await
        .unwrap();
    w.service
        .delete_user(&w.admin, other_admin.id)
        .await
        .unwrap();
}

#[tokio::test]
async fn rule8_nobody_blocks_or_deletes_themselves_through_admin_routes() {
    let w = World::new().await;
    let err = w
        .service
        .set_blocked(&w.admin, w.admin.id, Some(true), None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SELF_ACTION_FORBIDDEN");
    let err = w
        .service
        .delete_user(&w.admin, w.admin.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SELF_ACTION_FORBIDDEN");
}

#[tokio::test]
async fn rule8_non_admins_cannot_change_their_own_role_or_status() {
    let w = World::new().await;
    let it = w.user("it-staff", Role::Informaticien).await;
    let promote = UserUpdate {
        role: Some(Role::Directeur),
        ..UserUpdate::default()
    };
    let err = w
        .service
        .update_user(&it, it.id, promote)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SELF_ACTION_FORBIDDEN");
}

#[tokio::test]
async fn rule8_last_active_admin_cannot_be_demoted_deactivated_or_self_deleted() {
    let w = World::new().await;
    let demote = UserUpdate {
        is_admin: Some(false),
        ..UserUpdate::default()
    };
    assert_eq!(
        w.service
            .update_user(&w.admin, w.admin.id, demote)
            .await
            .unwrap_err()
            .code(),
        "LAST_ADMIN"
    );
    let deactivate = UserUpdate {
        active: Some(false),
        ..UserUpdate::default()
    };
    let err = w
        .service
        .update_user(&w.admin, w.admin.id, deactivate)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "LAST_ADMIN");
    let err = w
        .service
        .delete_own_account(&w.admin, &pw("Root-Changed-2024!"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "LAST_ADMIN");
    assert!(w.stored(w.admin.id).await.is_active_admin());
}

#[tokio::test]
async fn rule8_last_active_admin_cannot_be_blocked_or_deleted_by_a_stale_admin() {
    // Admin B was authorised just before A blocked B: B's request must still not remove A.
    let w = World::new().await;
    let b = w.user("admin-b", Role::Admin).await;
    w.service
        .set_blocked(&w.admin, b.id, Some(true), None, None)
        .await
        .unwrap();
    let stale_b = Actor { ..b };
    let err = w
        .service
        .set_blocked(&stale_b, w.admin.id, Some(true), None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "LAST_ADMIN");
    let err = w
        .service
        .delete_user(&stale_b, w.admin.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "LAST_ADMIN");
}

// ---- Rule 9: lockout ----------------------------------------------------------------------------

const GOOD: &str = "Own-Choice-2024!";

#[tokio::test]
async fn rule9_five_failures_lock_for_fifteen_minutes() {
    let w = World::new().await;
    w.user("agent", Role::Taxateur).await;
    for _ in 0..4 {
        assert_eq!(
            w.service
                .login("agent", &pw("wrong"))
                .await
                .unwrap_err()
                .code(),
            "INVALID_CREDENTIALS"
        );
    }
    let err = w.service.login("agent", &pw("wrong")).await.unwrap_err();
    assert!(
        matches!(err, DomainError::AccountLocked { retry_after } if retry_after == Duration::from_secs(900))
    );
    // Locked: even the right password is refused, without hashing.
    let verifies = w.hasher.verifies.load(Ordering::SeqCst);
    assert_eq!(
        w.service
            .login("agent", &pw(GOOD))
            .await
            .unwrap_err()
            .code(),
        "ACCOUNT_LOCKED"
    );
    assert_eq!(w.hasher.verifies.load(Ordering::SeqCst), verifies);
    w.clock.advance(Duration::from_secs(15 * 60));
    w.service.login("agent", &pw(GOOD)).await.unwrap();
}

#[tokio::test]
async fn rule9_success_resets_the_counter() {
    let w = World::new().await;
    w.user("agent", Role::Taxateur).await;
    for _ in 0..4 {
        w.service.login("agent", &pw("wrong")).await.unwrap_err();
    }
    let user = w.service.login("agent", &pw(GOOD)).await.unwrap();
    assert_eq!(w.stored(user.id).await.failed_logins, 0);
    for _ in 0..4 {
        assert_eq!(
            w.service
                .login("agent", &pw("wrong"))
                .await
                .unwrap_err()
                .code(),
            "INVALID_CREDENTIALS"
        );
    }
}

#[tokio::test]
async fn rule9_threshold_and_duration_are_configurable() {
    let mut config = ServiceConfig::default();
    config.lockout.max_failures = 2;
    config.lockout.lock_duration = Duration::from_secs(60);
    let w = World::with_config(config).await;
    w.user("agent", Role::Taxateur).await;
    w.service.login("agent", &pw("wrong")).await.unwrap_err();
    let err = w.service.login("agent", &pw("wrong")).await.unwrap_err();
    assert!(
        matches!(err, DomainError::AccountLocked { retry_after } if retry_after == Duration::from_secs(60))
    );
}

#[tokio::test]
async fn rule9_unblock_and_reset_clear_the_lock() {
    let w = World::new().await;
    let user = w.user("agent", Role::Taxateur).await;
    for _ in 0..5 {
        w.service.login("agent", &pw("wrong")).await.unwrap_err();
    }
    w.service
        .set_blocked(&w.admin, user.id, Some(false), None, None)
        .await
        .unwrap();
    w.service.login("agent", &pw(GOOD)).await.unwrap();

    for _ in 0..5 {
        w.service.login("agent", &pw("wrong")).await.unwrap_err();
    }
    w.service
        .reset_password(&w.admin, user.id, None)
        .await
        .unwrap();
    w.service.login("agent", &pw(TEMPORARY)).await.unwrap();

    // A password set through the admin update (v1 `password`) is a reset too.
    for _ in 0..5 {
        w.service.login("agent", &pw("wrong")).await.unwrap_err();
    }
    let set = UserUpdate {
        password: Some(pw("Set-By-Admin-77!")),
        ..UserUpdate::default()
    };
    let updated = w.service.update_user(&w.admin, user.id, set).await.unwrap();
    assert!(updated.locked_until.is_none());
    w.service
        .login("agent", &pw("Set-By-Admin-77!"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rule9_concurrent_failures_are_never_lost() {
    let w = Arc::new(World::new().await);
    let user = w.user("agent", Role::Taxateur).await;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let w = w.clone();
            tokio::spawn(async move { w.service.login("agent", &pw("wrong")).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap_err();
    }
    assert_eq!(w.stored(user.id).await.failed_logins, 4);
    w.service.login("agent", &pw("wrong")).await.unwrap_err();
    assert!(w.stored(user.id).await.locked_until.is_some());
}

// ---- Rule 10: no enumeration -----------------------------------------------------------------

#[tokio::test]
async fn rule10_unknown_identifier_fails_like_a_wrong_password_and_still_verifies() {
    let w = World::new().await;
    w.user("agent", Role::Taxateur).await;
    let before = w.hasher.verifies.load(Ordering::SeqCst);
    let unknown = w.service.login("nobody", &pw(GOOD)).await.unwrap_err();
    assert_eq!(
        w.hasher.verifies.load(Ordering::SeqCst),
        before + 1,
        "dummy verification"
    );
    let wrong = w.service.login("agent", &pw("wrong")).await.unwrap_err();
    assert_eq!(unknown.code(), wrong.code());
    assert_eq!(unknown.to_string(), wrong.to_string());
}

#[tokio::test]
async fn rule10_blocked_state_is_hidden_behind_a_wrong_password() {
    let w = World::new().await;
    let user = w.user("agent", Role::Taxateur).await;
    w.service
        .set_blocked(&w.admin, user.id, Some(true), None, None)
        .await
        .unwrap();
    assert_eq!(
        w.service
            .login("agent", &pw("wrong"))
            .await
            .unwrap_err()
            .code(),
        "INVALID_CREDENTIALS"
    );
}

#[tokio::test]
async fn rule10_login_by_login_or_email_ignoring_case() {
    let w = World::new().await;
    w.service
        .register(registration(Some("Ada.L"), "Ada@Example.com", USER_PW))
        .await
        .unwrap();
    w.service.login("ada.l", &pw(USER_PW)).await.unwrap();
    w.service
        .login("ADA@example.COM", &pw(USER_PW))
        .await
        .unwrap();
}

// ---- Rule 11: transparent re-hash ----------------------------------------------------------

#[tokio::test]
async fn rule11_outdated_hash_is_upgraded_at_login() {
    let w = World::new().await;
    let user = w.user("agent", Role::Taxateur).await;
    let mut legacy = w.stored(user.id).await;
    legacy.password_hash = domain::model::PasswordHash::new(format!("legacy${GOOD}"));
    legacy.version += 1;
    w.repo
        .update(&Update::new(&legacy, legacy.version - 1))
        .await
        .unwrap();

    w.service.login("agent", &pw(GOOD)).await.unwrap();
    let stored = w.stored(user.id).await;
    assert_eq!(stored.password_hash.as_str(), format!("fake${GOOD}"));
    assert_eq!(
        stored.token_version, legacy.token_version,
        "a re-hash revokes nothing"
    );
}

// ---- Rule 12: authorisation uses the stored role -----------------------------------------

#[tokio::test]
async fn rule12_role_change_takes_effect_on_the_next_request() {
    let w = World::new().await;
    let it = w.user("it-staff", Role::Informaticien).await;
    let demote = UserUpdate {
        role: Some(Role::Taxateur),
        ..UserUpdate::default()
    };
    let updated = w
        .service
        .update_user(&w.admin, it.id, demote)
        .await
        .unwrap();
    let actor = w
        .service
        .authenticate(it.id, updated.token_version)
        .await
        .unwrap()
        .as_actor();
    assert_eq!(actor.role, Role::Taxateur);
    let err = w
        .service
        .list_users(
            &actor,
            &UserFilter::default(),
            PageRequest {
                offset: 0,
                limit: 5,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PERMISSION_DENIED");
}

// ---- Rule 13: passwords chosen by someone else ----------------------------------------------

#[tokio::test]
async fn rule13_generated_temporary_password_works_once_until_changed() {
    let w = World::new().await;
    let user = w.user("agent", Role::Taxateur).await;
    let (reset, temporary) = w
        .service
        .reset_password(&w.admin, user.id, None)
        .await
        .unwrap();
    assert_eq!(temporary.as_ref().map(|p| p.expose()), Some(TEMPORARY));
    assert!(reset.must_change_password);
    assert_eq!(
        w.service
            .login("agent", &pw(GOOD))
            .await
            .unwrap_err()
            .code(),
        "INVALID_CREDENTIALS"
    );
    let logged = w.service.login("agent", &pw(TEMPORARY)).await.unwrap();
    assert!(logged.must_change_password);
    w.service
        .change_own_password(&logged.as_actor(), &pw(TEMPORARY), &pw("Mine-Again-2024!"))
        .await
        .unwrap();
    assert_eq!(
        w.service
            .login("agent", &pw(TEMPORARY))
            .await
            .unwrap_err()
            .code(),
        "INVALID_CREDENTIALS"
    );
}

#[tokio::test]
async fn rule13_admin_chosen_password_requires_a_change() {
    let w = World::new().await;
    let user = w.user("agent", Role::Taxateur).await;
    let (reset, temporary) = w
        .service
        .reset_password(&w.admin, user.id, Some(pw("Chosen-By-Admin-1")))
        .await
        .unwrap();
    assert!(temporary.is_none(), "a chosen password is not echoed back");
    assert!(reset.must_change_password);
    let set = UserUpdate {
        password: Some(pw("Chosen-Again-22!")),
        ..UserUpdate::default()
    };
    let updated = w.service.update_user(&w.admin, user.id, set).await.unwrap();
    assert!(updated.must_change_password);
}

// ---- The permission matrix through the use cases ----------------------------------------

#[tokio::test]
async fn permission_matrix_is_enforced_by_every_admin_use_case() {
    let w = World::new().await;
    for (i, role) in Role::ALL.into_iter().enumerate() {
        let actor = w.user(&format!("actor{i}"), role).await;
        let target = w.user(&format!("target{i}"), Role::Taxateur).await;
        let page = PageRequest {
            offset: 0,
            limit: 5,
        };
        let checks = [
            (
                Permission::UsersRead,
                w.service.get_user(&actor, target.id).await.err(),
            ),
            (
                Permission::UsersRead,
                w.service
                    .list_users(&actor, &UserFilter::default(), page)
                    .await
                    .err(),
            ),
            (
                Permission::UsersCreate,
                w.service
                    .create_user(&actor, new_user(&format!("made{i}"), Role::Taxateur))
                    .await
                    .err(),
            ),
            (
                Permission::UsersUpdate,
                w.service
                    .update_user(&actor, target.id, UserUpdate::default())
                    .await
                    .err(),
            ),
            (
                Permission::UsersBlock,
                w.service
                    .set_blocked(&actor, target.id, Some(false), None, None)
                    .await
                    .err(),
            ),
            (
                Permission::UsersResetPassword,
                w.service
                    .reset_password(&actor, target.id, None)
                    .await
                    .err(),
            ),
            (
                Permission::UsersDelete,
                w.service.delete_user(&actor, target.id).await.err(),
            ),
            (
                Permission::AuditRead,
                w.service
                    .user_history(
                        &actor,
                        target.id,
                        PageRequest {
                            offset: 0,
                            limit: 10,
                        },
                    )
                    .await
                    .err(),
            ),
        ];
        assert!(
            Permission::ALL
                .iter()
                .all(|p| checks.iter().any(|(checked, _)| checked == p)),
            "every permission checked"
        );
        for (permission, err) in checks {
            let denied = err.as_ref().map(DomainError::code) == Some("PERMISSION_DENIED");
            assert_eq!(
                denied,
                !role.can(permission),
                "{role} {permission:?}: {err:?}"
            );
        }
    }
}
