//! The login-bookkeeping methods: `record_failed_login`, `lock`, `clear_failures`.
//!
//! Each changes its bookkeeping fields and nothing else: not `version` (they are not
//! updates, and must not make a concurrent update stale), nor any other field.

use domain::ports::{RepoError, UserRepository};

use crate::sample::{at_ms, id_from_u128, sample_user};
use crate::support::{insert_all, stored};

/// `record_failed_login` adds one and returns the new count, for that user only;
/// it MUST return `NotFound` when no user has that id.
pub async fn record_failed_login_increments_and_returns_the_count<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let user = sample_user("failing", Some("failing@example.org"));
    let bystander = sample_user("bystander", None);
    insert_all(&repo, &[user.clone(), bystander.clone()]).await;

    for expected in 1..=3 {
        assert_eq!(repo.record_failed_login(user.id).await, Ok(expected));
    }
    let mut expected = user.clone();
    expected.failed_logins = 3;
    assert_eq!(
        stored(&repo, user.id).await,
        expected,
        "only the count changes"
    );
    assert_eq!(stored(&repo, bystander.id).await, bystander, "other users");

    assert_eq!(
        repo.record_failed_login(id_from_u128(5)).await,
        Err(RepoError::NotFound)
    );
}

/// `lock` sets `locked_until` and resets `failed_logins` to zero; counting starts again
/// from there. It MUST return `NotFound` when no user has that id.
pub async fn lock_sets_locked_until_and_resets_the_count<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let user = sample_user("locked", Some("locked@example.org"));
    insert_all(&repo, std::slice::from_ref(&user)).await;
    for _ in 0..3 {
        repo.record_failed_login(user.id).await.unwrap();
    }

    let until = at_ms(900_123);
    assert_eq!(repo.lock(user.id, until).await, Ok(()));
    let mut expected = user.clone();
    expected.locked_until = Some(until);
    assert_eq!(stored(&repo, user.id).await, expected);

    assert_eq!(
        repo.record_failed_login(user.id).await,
        Ok(1),
        "after a lock"
    );
    let later = at_ms(1_800_456);
    assert_eq!(repo.lock(user.id, later).await, Ok(()), "lock again");
    expected.locked_until = Some(later);
    assert_eq!(stored(&repo, user.id).await, expected);

    assert_eq!(
        repo.lock(id_from_u128(5), until).await,
        Err(RepoError::NotFound)
    );
}

/// `clear_failures` clears `failed_logins` and `locked_until`, sets `last_login_at` when
/// given and leaves it when not. It MUST return `NotFound` when no user has that id.
pub async fn clear_failures_clears_the_lock_and_sets_last_login<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let user = sample_user("cleared", Some("cleared@example.org"));
    insert_all(&repo, std::slice::from_ref(&user)).await;

    repo.record_failed_login(user.id).await.unwrap();
    repo.lock(user.id, at_ms(900_000)).await.unwrap();
    repo.record_failed_login(user.id).await.unwrap();
    let login_time = at_ms(60_001);
    assert_eq!(repo.clear_failures(user.id, Some(login_time)).await, Ok(()));
    let mut expected = user.clone();
    expected.last_login_at = Some(login_time);
    assert_eq!(stored(&repo, user.id).await, expected, "with a login time");

    repo.record_failed_login(user.id).await.unwrap();
    repo.lock(user.id, at_ms(1_900_000)).await.unwrap();
    assert_eq!(repo.clear_failures(user.id, None).await, Ok(()));
    assert_eq!(
        stored(&repo, user.id).await,
        expected,
        "without a login time, the previous one stays"
    );

    let later = at_ms(120_002);
    assert_eq!(repo.clear_failures(user.id, Some(later)).await, Ok(()));
    expected.last_login_at = Some(later);
    assert_eq!(stored(&repo, user.id).await, expected, "a later login");

    let unknown = id_from_u128(5);
    assert_eq!(
        repo.clear_failures(unknown, Some(later)).await,
        Err(RepoError::NotFound)
    );
    assert_eq!(
        repo.clear_failures(unknown, None).await,
        Err(RepoError::NotFound)
    );
}
