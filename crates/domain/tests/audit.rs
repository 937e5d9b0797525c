//! The audit trail as the use cases write it: one event per security-relevant call, with
//! who, what, whom, when, the outcome and the request's context; never a secret; a valid chain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use domain::model::{AuditEvent, AuditFilter, AuditKind, Reason, RequestContext, Role};
use domain::ports::{AuditLog, PageRequest};
use domain::service::{ProfileUpdate, UserUpdate};
use support::*;

const ALL: PageRequest = PageRequest {
    offset: 0,
    limit: 1000,
};

/// Every event so far, oldest first.
async fn trail(w: &World) -> Vec<AuditEvent> {
    let mut events = w
        .repo
        .find(&AuditFilter::default(), ALL)
        .await
        .unwrap()
        .items;
    events.reverse();
    events
}

/// The events recorded since `mark` events, as (kind, failure code).
async fn since(w: &World, mark: usize) -> Vec<(AuditKind, Option<String>)> {
    trail(w).await[mark..]
        .iter()
        .map(|e| (e.record.kind, e.record.failure.clone()))
        .collect()
}

fn ok(kind: AuditKind) -> (AuditKind, Option<String>) {
    (kind, None)
}

fn failed(kind: AuditKind, code: &str) -> (AuditKind, Option<String>) {
    (kind, Some(code.to_owned()))
}

#[tokio::test]
async fn logins_are_recorded_with_their_outcome_target_and_context() {
    let w = World::new().await;
    let user = w.user("amina", Role::Taxateur).await;
    let mark = trail(&w).await.len();
    let context = RequestContext {
        request_id: Some("req-42".into()),
        client_ip: Some("203.0.113.9".into()),
    };
    let service = w.service.in_context(context.clone());

    service
        .login("amina", &pw("Own-Choice-2024!"))
        .await
        .unwrap();
    service
        .login("amina", &pw("Wrong-Guess-2024!"))
        .await
        .unwrap_err();
    service
        .login("nobody", &pw("Wrong-Guess-2024!"))
        .await
        .unwrap_err();

    let events = &trail(&w).await[mark..];
    assert_eq!(
        since(&w, mark).await,
        [
            ok(AuditKind::LoginSucceeded),
            failed(AuditKind::LoginFailed, "INVALID_CREDENTIALS"),
            failed(AuditKind::LoginFailed, "INVALID_CREDENTIALS"),
        ]
    );
    assert_eq!(events[0].record.actor, Some(user.id));
    assert_eq!(events[0].record.target, Some(user.id));
    assert_eq!(events[1].record.actor, None);
    assert_eq!(events[1].record.target, Some(user.id));
    // An unknown identifier names no account, and the identifier is not kept.
    assert_eq!(events[2].record.target, None);
    assert!(events[2].record.details.is_empty());
    assert!(events.iter().all(|e| e.record.context == context));
    assert!(events.iter().all(|e| e.record.at == w.clock_now()));
}

#[tokio::test]
async fn a_lockout_is_recorded_once_then_attempts_while_locked() {
    let w = World::new().await;
    let user = w.user("amina", Role::Taxateur).await;
    let mark = trail(&w).await.len();
    for _ in 0..5 {
        w.service
            .login("amina", &pw("Wrong-Guess-2024!"))
            .await
            .unwrap_err();
    }
    w.service
        .login("amina", &pw("Own-Choice-2024!"))
        .await
        .unwrap_err();
    let mut expected = vec![failed(AuditKind::LoginFailed, "INVALID_CREDENTIALS"); 4];
    expected.extend([
        ok(AuditKind::AccountLocked),
        failed(AuditKind::LoginFailed, "ACCOUNT_LOCKED"),
        failed(AuditKind::LoginFailed, "ACCOUNT_LOCKED"),
    ]);
    assert_eq!(since(&w, mark).await, expected);
    let lock = &trail(&w).await[mark + 4];
    assert_eq!(lock.record.target, Some(user.id));
    assert_eq!(lock.record.details[0], ("failures".into(), "5".into()));
}

#[tokio::test]
async fn administration_is_recorded_with_role_changes_and_refusals() {
    let w = World::new().await;
    let target = w.user("amina", Role::Taxateur).await;
    let director = w.user("dora", Role::Directeur).await;
    let mark = trail(&w).await.len();

    let update = UserUpdate {
        role: Some(Role::Controlleur),
        full_name: Some(name("Amina K")),
        ..UserUpdate::default()
    };
    w.service
        .update_user(&w.admin, target.id, update)
        .await
        .unwrap();
    w.service
        .set_blocked(
            &w.admin,
            target.id,
            None,
            Some(&Reason::parse("fraude présumée").unwrap()),
            None,
        )
        .await
        .unwrap();
    w.service
        .set_blocked(&w.admin, target.id, None, None, None)
        .await
        .unwrap();
    w.service
        .reset_password(&w.admin, target.id, None)
        .await
        .unwrap();
    w.service
        .delete_user(&director, target.id)
        .await
        .unwrap_err();
    w.service.delete_user(&w.admin, target.id).await.unwrap();

    assert_eq!(
        since(&w, mark).await,
        [
            ok(AuditKind::UserUpdated),
            ok(AuditKind::RoleChanged),
            ok(AuditKind::UserBlocked),
            ok(AuditKind::UserUnblocked),
            ok(AuditKind::PasswordReset),
            failed(AuditKind::UserDeleted, "PERMISSION_DENIED"),
            ok(AuditKind::UserDeleted),
        ]
    );
    let events = &trail(&w).await[mark..];
    assert!(events.iter().all(|e| e.record.target == Some(target.id)));
    assert_eq!(events[0].record.actor, Some(w.admin.id));
    assert_eq!(
        events[0].record.details,
        [("fields".into(), "full_name,role".into())]
    );
    assert_eq!(
        events[1].record.details,
        [
            ("from".into(), "TAXATEUR".into()),
            ("to".into(), "CONTROLLEUR".into())
        ]
    );
    assert_eq!(
        events[2].record.details,
        [("reason".into(), "fraude présumée".into())]
    );
    assert!(events[3].record.details.is_empty());
    assert_eq!(
        events[4].record.details,
        [("generated".into(), "true".into())]
    );
    assert_eq!(events[5].record.actor, Some(director.id));
}

#[tokio::test]
async fn an_update_that_keeps_the_role_records_no_role_change() {
    let w = World::new().await;
    let target = w.user("amina", Role::Taxateur).await;
    let mark = trail(&w).await.len();
    let update = UserUpdate {
        role: Some(Role::Taxateur),
        ..UserUpdate::default()
    };
    w.service
        .update_user(&w.admin, target.id, update)
        .await
        .unwrap();
    assert_eq!(since(&w, mark).await, [ok(AuditKind::UserUpdated)]);
}

#[tokio::test]
async fn creations_are_recorded_with_the_new_account_as_target() {
    let w = World::new().await;
    let events = trail(&w).await;
    // World's set-up: the command-line ADMIN, then its first password change.
    assert_eq!(events[0].record.kind, AuditKind::UserCreated);
    assert_eq!(events[0].record.actor, None);
    assert_eq!(events[0].record.target, Some(w.admin.id));
    assert_eq!(events[0].record.details, [("role".into(), "ADMIN".into())]);
    assert_eq!(events[1].record.kind, AuditKind::PasswordChanged);

    let mark = events.len();
    let user = w.user("amina", Role::Taxateur).await;
    let events = &trail(&w).await[mark..];
    assert_eq!(events[0].record.kind, AuditKind::UserCreated);
    assert_eq!(events[0].record.actor, Some(w.admin.id));
    assert_eq!(events[0].record.target, Some(user.id));
    assert_eq!(
        events[0].record.details,
        [("role".into(), "TAXATEUR".into())]
    );
}

#[tokio::test]
async fn self_service_is_recorded() {
    let w = World::new().await;
    let user = w.user("amina", Role::Taxateur).await;
    let mark = trail(&w).await.len();
    let change = ProfileUpdate {
        email: Some(email("amina@example.org")),
        current_password: Some(pw("Own-Choice-2024!")),
        ..ProfileUpdate::default()
    };
    w.service.update_profile(&user, change).await.unwrap();
    w.service
        .change_own_password(&user, &pw("Not-My-Password-1!"), &pw("Fresh-Choice-2025!"))
        .await
        .unwrap_err();
    w.service.logout(&user).await.unwrap();
    w.service
        .delete_own_account(&user, &pw("Own-Choice-2024!"))
        .await
        .unwrap();
    assert_eq!(
        since(&w, mark).await,
        [
            ok(AuditKind::ProfileUpdated),
            failed(AuditKind::PasswordChanged, "INVALID_CURRENT_PASSWORD"),
            ok(AuditKind::Logout),
            ok(AuditKind::AccountDeleted),
        ]
    );
    let events = &trail(&w).await[mark..];
    assert_eq!(
        events[0].record.details,
        [("fields".into(), "email".into())]
    );
    assert!(
        events
            .iter()
            .all(|e| e.record.actor == Some(user.id) && e.record.target == Some(user.id))
    );
}

#[tokio::test]
async fn registrations_are_recorded_and_clashes_too() {
    let w = World::new().await;
    let mark = trail(&w).await.len();
    let registration = || domain::service::Registration {
        login: Some(login("newcomer")),
        email: email("newcomer@example.org"),
        full_name: name("New Comer"),
        password: pw(USER_PW),
    };
    let user = w.service.register(registration()).await.unwrap();
    w.service.register(registration()).await.unwrap_err();
    assert_eq!(
        since(&w, mark).await,
        [
            ok(AuditKind::Registered),
            failed(AuditKind::Registered, "LOGIN_TAKEN")
        ]
    );
    let events = &trail(&w).await[mark..];
    assert_eq!(events[0].record.target, Some(user.id));
    assert_eq!(events[1].record.target, None);
}

#[tokio::test]
async fn no_event_holds_a_password_or_a_hash() {
    let w = World::new().await;
    let user = w.user("amina", Role::Taxateur).await;
    w.service
        .login("amina", &pw("Wrong-Guess-2024!"))
        .await
        .unwrap_err();
    let set = UserUpdate {
        password: Some(pw("Admin-Chosen-2025!")),
        ..UserUpdate::default()
    };
    w.service.update_user(&w.admin, user.id, set).await.unwrap();
    let (_, generated) = w
        .service
        .reset_password(&w.admin, user.id, None)
        .await
        .unwrap();
    let generated = generated.unwrap();
    let dump = format!("{:?}", trail(&w).await);
    let stored_hash = w.stored(user.id).await.password_hash;
    for secret in [
        ADMIN_PW,
        USER_PW,
        "Own-Choice-2024!",
        "Wrong-Guess-2024!",
        "Admin-Chosen-2025!",
        "Root-Changed-2024!",
        generated.expose(),
        stored_hash.as_str(),
    ] {
        assert!(!dump.contains(secret), "{secret} in the trail");
    }
    assert!(dump.contains("password"), "the field's name is kept");
}

#[tokio::test]
async fn the_trail_is_a_valid_chain() {
    let w = World::new().await;
    let user = w.user("amina", Role::Taxateur).await;
    w.service.logout(&user).await.unwrap();
    let report = audit_chain::verify(&*w.repo).await.unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.checked, trail(&w).await.len() as u64);
    assert_eq!(report.head, trail(&w).await.last().unwrap().hash);
    assert!(report.checked >= 5);
}

#[tokio::test]
async fn only_admins_read_the_trail_and_a_history_follows_one_user() {
    let w = World::new().await;
    let amina = w.user("amina", Role::Taxateur).await;
    let dora = w.user("dora", Role::Informaticien).await;
    w.service.logout(&dora).await.unwrap();
    let err = w
        .service
        .audit_trail(&dora, &AuditFilter::default(), ALL)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PERMISSION_DENIED");

    let history = w
        .service
        .user_history(&w.admin, amina.id, ALL)
        .await
        .unwrap();
    // Created by the admin, then its own password change: newest first.
    let kinds: Vec<_> = history.items.iter().map(|e| e.record.kind).collect();
    assert_eq!(kinds, [AuditKind::PasswordChanged, AuditKind::UserCreated]);
    assert_eq!(history.total, 2);

    let by_admin = AuditFilter {
        actor: Some(w.admin.id),
        kind: Some(AuditKind::UserCreated),
        ..AuditFilter::default()
    };
    let page = w
        .service
        .audit_trail(
            &w.admin,
            &by_admin,
            PageRequest {
                offset: 1,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].record.target, Some(amina.id));

    w.clock.advance(Duration::from_secs(60));
    let later = w.clock_now();
    w.service.logout(&amina).await.unwrap();
    let recent = AuditFilter {
        from: Some(later),
        ..AuditFilter::default()
    };
    let page = w.service.audit_trail(&w.admin, &recent, ALL).await.unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].record.kind, AuditKind::Logout);
}
