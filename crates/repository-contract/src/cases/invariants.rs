//! What a store keeps across users and writes, atomically with the write that could break
//! it: at least one active ADMIN (rule 8), a change and its audit events together, and
//! logins unique by folded key and by confusable skeleton (rule 1).

use std::sync::Arc;

use domain::error::UniqueField;
use domain::model::{AuditEvent, AuditKind, AuditRecord, Login, RequestContext, Role, User};
use domain::ports::{AuditLog, PageRequest, RepoError, Update, UserFilter, UserRepository};

use crate::cases::concurrency::race;
use crate::sample::{at_ms, sample_user};
use crate::support::{insert_all, list_page, page, stored};

fn admin(name: &str) -> User {
    let mut user = sample_user(name, None);
    user.role = Role::Admin;
    user
}

fn event(kind: AuditKind, user: &User) -> AuditRecord {
    AuditRecord {
        at: at_ms(5),
        kind,
        failure: None,
        actor: Some(user.id),
        target: Some(user.id),
        context: RequestContext::default(),
        details: vec![("case".to_owned(), "invariants".to_owned())],
    }
}

async fn trail<R: AuditLog + ?Sized>(repo: &R) -> Vec<AuditEvent> {
    repo.chain(0, 1_000).await.expect("chain")
}

/// `user` changed in one of the ways that take an ADMIN out: a demotion, a block, a
/// deactivation (by `way`, 0 to 2).
fn removed(user: &User, way: usize) -> User {
    let mut next = user.clone();
    match way % 3 {
        0 => next.role = Role::Directeur,
        1 => next.blocked = true,
        _ => next.active = false,
    }
    next.version += 1;
    next
}

async fn active_admins<R: UserRepository + ?Sized>(repo: &R) -> u64 {
    list_page(repo, &UserFilter::active_admins(), page(0, 0))
        .await
        .total
}

/// The only active ADMIN cannot be demoted, blocked, deactivated or deleted (`LastAdmin`,
/// nothing written); with another active ADMIN it can. An inactive or blocked ADMIN does
/// not count as another.
pub async fn the_last_active_admin_cannot_be_removed<R, F, Fut>(make: F)
where
    R: UserRepository + AuditLog + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let only = admin("only-admin");
    let mut dormant = admin("dormant-admin");
    dormant.blocked = true;
    insert_all(&repo, &[only.clone(), dormant.clone()]).await;

    for way in 0..3 {
        let next = removed(&only, way);
        let update = Update {
            events: vec![event(AuditKind::UserUpdated, &only)],
            ..Update::new(&next, only.version)
        };
        assert_eq!(
            repo.update(&update).await,
            Err(RepoError::LastAdmin),
            "way {way}"
        );
    }
    assert_eq!(
        repo.delete(only.id, &[event(AuditKind::UserDeleted, &only)])
            .await,
        Err(RepoError::LastAdmin)
    );
    assert_eq!(stored(&repo, only.id).await, only, "nothing written");
    assert!(
        trail(&repo).await.is_empty(),
        "no event for a refused write"
    );

    // Other changes of the last ADMIN are fine.
    let mut renamed = only.clone();
    renamed.grade = None;
    renamed.version += 1;
    repo.update(&Update::new(&renamed, only.version))
        .await
        .unwrap();

    let second = admin("second-admin");
    insert_all(&repo, std::slice::from_ref(&second)).await;
    repo.update(&Update::new(&removed(&renamed, 1), renamed.version))
        .await
        .unwrap();
    assert_eq!(active_admins(&repo).await, 1);
    assert_eq!(repo.delete(second.id, &[]).await, Err(RepoError::LastAdmin));
}

/// Two (and five) active ADMINs taken out at the same instant, in every way, 10 rounds on
/// fresh stores: after every round exactly one active ADMIN remains, and every refusal is
/// `LastAdmin`.
pub async fn concurrent_removals_keep_an_active_admin<R, F, Fut>(make: F)
where
    R: UserRepository + AuditLog + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    for round in 0..10 {
        let repo = Arc::new(make().await);
        let n = if round % 2 == 0 { 2 } else { 5 };
        let admins: Vec<User> = (0..n)
            .map(|i| admin(&format!("racing-{round}-{i}")))
            .collect();
        insert_all(&*repo, &admins).await;
        let outcomes = race(n, |i| {
            let repo = Arc::clone(&repo);
            let target = admins[i].clone();
            async move {
                if (i + round) % 4 == 3 {
                    repo.delete(target.id, &[]).await
                } else {
                    let next = removed(&target, i + round);
                    repo.update(&Update::new(&next, target.version)).await
                }
            }
        })
        .await;
        for outcome in &outcomes {
            assert!(
                matches!(outcome, Ok(()) | Err(RepoError::LastAdmin)),
                "round {round}: {outcomes:?}"
            );
        }
        assert_eq!(
            active_admins(&*repo).await,
            1,
            "round {round}: exactly one survives ({outcomes:?})"
        );
    }
}

/// A write's events are appended with it, in order, right after the trail's last event;
/// a write refused (stale version, conflict, missing user) appends none.
pub async fn a_write_and_its_events_are_one<R, F, Fut>(make: F)
where
    R: UserRepository + AuditLog + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let user = sample_user("audited", Some("audited@example.org"));
    let other = sample_user("other-audited", Some("other@example.org"));
    repo.insert(&user, &[event(AuditKind::UserCreated, &user)])
        .await
        .unwrap();
    insert_all(&repo, std::slice::from_ref(&other)).await;

    let mut next = user.clone();
    next.version += 1;
    next.blocked = true;
    let events = [
        event(AuditKind::UserUpdated, &user),
        event(AuditKind::UserBlocked, &user),
    ];
    let update = Update {
        events: events.to_vec(),
        ..Update::new(&next, user.version)
    };
    repo.update(&update).await.unwrap();

    let mut stale = next.clone();
    stale.version += 1;
    let refused = Update {
        events: vec![event(AuditKind::UserUpdated, &user)],
        ..Update::new(&stale, user.version)
    };
    assert_eq!(repo.update(&refused).await, Err(RepoError::VersionMismatch));
    let mut clash = next.clone();
    clash.email = other.email.clone();
    clash.version += 1;
    let refused = Update {
        events: vec![event(AuditKind::UserUpdated, &user)],
        ..Update::new(&clash, next.version)
    };
    assert_eq!(
        repo.update(&refused).await,
        Err(RepoError::Conflict(UniqueField::Email))
    );
    let twin = sample_user("AUDITED", None);
    assert_eq!(
        repo.insert(&twin, &[event(AuditKind::UserCreated, &twin)])
            .await,
        Err(RepoError::Conflict(UniqueField::Login))
    );
    repo.lock(
        user.id,
        at_ms(900_000),
        at_ms(10),
        &[event(AuditKind::AccountLocked, &user)],
    )
    .await
    .unwrap();
    assert_eq!(
        repo.lock(
            user.id,
            at_ms(900_000),
            at_ms(20),
            &[event(AuditKind::AccountLocked, &user)]
        )
        .await,
        Ok(false)
    );
    repo.delete(user.id, &[event(AuditKind::UserDeleted, &user)])
        .await
        .unwrap();

    let kinds: Vec<AuditKind> = trail(&repo).await.iter().map(|e| e.record.kind).collect();
    assert_eq!(
        kinds,
        [
            AuditKind::UserCreated,
            AuditKind::UserUpdated,
            AuditKind::UserBlocked,
            AuditKind::AccountLocked,
            AuditKind::UserDeleted,
        ]
    );
    let page = repo
        .find(
            &Default::default(),
            PageRequest {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 5, "the events are found too");
}

/// Logins are unique by their folded key (full-width and case variants are one login) and
/// by their confusable skeleton ("rnartin" looks like "martin"): `Conflict(Login)`.
pub async fn logins_are_unique_by_key_and_by_skeleton<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    insert_all(
        &repo,
        &[sample_user("martin", None), sample_user("Strasse", None)],
    )
    .await;
    for twin in ["ｍａｒｔｉｎ", "MARTIN", "rnartin", "STRAßE", "straße"] {
        let mut user = sample_user("placeholder", None);
        user.login = Login::parse(twin).expect(twin);
        assert_eq!(
            repo.insert(&user, &[]).await,
            Err(RepoError::Conflict(UniqueField::Login)),
            "{twin}"
        );
    }
    let found = repo
        .find_by_login(&Login::parse("ＭＡＲＴＩＮ").unwrap())
        .await
        .unwrap();
    assert_eq!(
        found.map(|u| u.login.as_str().to_owned()),
        Some("martin".to_owned())
    );
}
