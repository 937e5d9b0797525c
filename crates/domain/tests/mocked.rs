//! Interactions proven with mockall: what the use cases ask of their ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use adapters_memory::InMemoryUserRepository;
use domain::model::{AuditKind, FullName, Login, PasswordHash, PlainPassword, Role, User, UserId};
use domain::ports::{
    AuditLog, MockAuditLog, MockClock, MockIdGenerator, MockPasswordHasher, MockSecretGenerator,
    MockUserRepository, RepoError,
};
use domain::service::{Ports, ServiceConfig, UserService};
use mockall::Sequence;
use time::OffsetDateTime;

fn service(repo: MockUserRepository, hasher: MockPasswordHasher) -> UserService {
    // The trail is not what most tests are about: the reference store keeps it.
    with_audit(repo, hasher, InMemoryUserRepository::new())
}

fn with_audit(
    repo: MockUserRepository,
    hasher: MockPasswordHasher,
    audit: impl AuditLog + 'static,
) -> UserService {
    let mut clock = MockClock::new();
    clock
        .expect_now()
        .returning(|| OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap());
    UserService::new(
        Ports {
            repo: Arc::new(repo),
            audit: Arc::new(audit),
            hasher: Arc::new(hasher),
            clock: Arc::new(clock),
            ids: Arc::new(MockIdGenerator::new()),
            secrets: Arc::new(MockSecretGenerator::new()),
            limiter: Arc::new(domain::ports::Unlimited),
        },
        ServiceConfig::default(),
    )
}

#[tokio::test]
async fn unknown_user_is_verified_against_the_dummy_hash() {
    let mut repo = MockUserRepository::new();
    repo.expect_find_by_login().returning(|_| Ok(None));
    repo.expect_find_by_email().returning(|_| Ok(None));
    let mut hasher = MockPasswordHasher::new();
    hasher
        .expect_dummy_hash()
        .times(1)
        .returning(|| PasswordHash::new("$dummy"));
    hasher
        .expect_verify()
        .withf(|_, hash| hash.as_str() == "$dummy")
        .times(1)
        .returning(|_, _| Ok(false));
    let err = service(repo, hasher)
        .login("ghost@nowhere.io", &PlainPassword::new("whatever").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn store_outage_is_reported_as_unavailable() {
    let mut repo = MockUserRepository::new();
    repo.expect_get()
        .returning(|_| Err(RepoError::Unavailable("timeout".into())));
    let id = UserId::parse("550e8400-e29b-41d4-a716-446655440000").unwrap();
    let err = service(repo, MockPasswordHasher::new())
        .authenticate(id, 0)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "STORE_UNAVAILABLE");
}

#[tokio::test]
async fn readiness_pings_the_store() {
    let mut repo = MockUserRepository::new();
    repo.expect_ping().times(1).returning(|| Ok(()));
    service(repo, MockPasswordHasher::new())
        .store_ready()
        .await
        .unwrap();
}

fn stored_user(version: u64) -> User {
    let t = OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
    User {
        id: UserId::parse("550e8400-e29b-41d4-a716-446655440000").unwrap(),
        login: Login::parse("agent").unwrap(),
        email: None,
        full_name: FullName::parse("Agent").unwrap(),
        phone: None,
        role: Role::Taxateur,
        grade: None,
        sex: None,
        address: None,
        agent_id: None,
        taxpayer_id: None,
        password_hash: PasswordHash::new("$x"),
        active: true,
        blocked: false,
        must_change_password: false,
        failed_logins: 0,
        locked_until: None,
        token_version: 3,
        last_login_at: None,
        last_block_request: None,
        created_at: t,
        updated_at: t,
        version,
    }
}

#[tokio::test]
async fn a_concurrent_write_makes_the_use_case_start_again_from_fresh_data() {
    let mut repo = MockUserRepository::new();
    let mut seq = Sequence::new();
    repo.expect_get()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(Some(stored_user(7))));
    repo.expect_update()
        .withf(|u| u.expected_version == 7 && u.user.version == 8)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(RepoError::VersionMismatch));
    repo.expect_get()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(Some(stored_user(8))));
    repo.expect_update()
        .withf(|u| u.expected_version == 8 && u.user.version == 9 && u.user.token_version == 4)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    let actor = stored_user(7).as_actor();
    service(repo, MockPasswordHasher::new())
        .logout(&actor)
        .await
        .unwrap();
}

/// A change's event travels in its write, so the store applies both or neither: the
/// logout's update carries its one event, and the trail is not written beside it. When the
/// write fails (the store goes down mid-request), nothing changed, and only the refusal is
/// recorded; a call that failed keeps its own error even when that record fails too.
#[tokio::test]
async fn a_change_and_its_event_are_one_write() {
    let mut repo = MockUserRepository::new();
    repo.expect_get().returning(|_| Ok(Some(stored_user(7))));
    repo.expect_update()
        .withf(|u| {
            u.events.len() == 1
                && u.events[0].kind == AuditKind::Logout
                && u.events[0].failure.is_none()
        })
        .times(1)
        .returning(|_| Ok(()));
    let mut audit = MockAuditLog::new();
    audit.expect_append().times(0);
    let actor = stored_user(7).as_actor();
    with_audit(repo, MockPasswordHasher::new(), audit)
        .logout(&actor)
        .await
        .unwrap();

    let mut repo = MockUserRepository::new();
    repo.expect_get().returning(|_| Ok(Some(stored_user(7))));
    repo.expect_update()
        .times(1)
        .returning(|_| Err(RepoError::Unavailable("store down".into())));
    let mut audit = MockAuditLog::new();
    audit
        .expect_append()
        .withf(|record| record.failure.as_deref() == Some("STORE_UNAVAILABLE"))
        .times(1)
        .returning(|_| Err(RepoError::Unavailable("audit down".into())));
    let err = with_audit(repo, MockPasswordHasher::new(), audit)
        .logout(&actor)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "STORE_UNAVAILABLE");

    let mut repo = MockUserRepository::new();
    repo.expect_get().returning(|_| Ok(None));
    let mut audit = MockAuditLog::new();
    audit
        .expect_append()
        .withf(|record| record.failure.as_deref() == Some("NOT_FOUND"))
        .times(1)
        .returning(|_| Err(RepoError::Unavailable("audit down".into())));
    let err = with_audit(repo, MockPasswordHasher::new(), audit)
        .logout(&actor)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
}
