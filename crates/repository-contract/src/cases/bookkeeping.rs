//! The login-bookkeeping methods: `reserve_login_attempt`, `record_success`, `lock`, and
//! the lockout cleared by an `update` that asks for it.
//!
//! Each changes its bookkeeping fields and nothing else: not `version` (they are not
//! updates, and must not make a concurrent update stale), nor any other field.

use domain::ports::{Attempt, RepoError, Update, UserRepository};

use crate::sample::{at_ms, id_from_u128, sample_user};
use crate::support::{insert_all, stored};

/// A limit no case reaches.
pub(crate) const NO_LIMIT: u32 = u32::MAX;

/// `reserve_login_attempt` counts one attempt and answers its number, for that user only,
/// up to the limit; past it, `Saturated` without counting. It MUST return `NotFound` when
/// no user has that id.
pub async fn reserve_counts_attempts_up_to_the_limit<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let user = sample_user("failing", Some("failing@example.org"));
    let bystander = sample_user("bystander", None);
    insert_all(&repo, &[user.clone(), bystander.clone()]).await;
    let now = at_ms(10_000);

    for number in 1..=3 {
        assert_eq!(
            repo.reserve_login_attempt(user.id, now, 3).await,
            Ok(Attempt::Admitted { number })
        );
    }
    assert_eq!(
        repo.reserve_login_attempt(user.id, now, 3).await,
        Ok(Attempt::Saturated),
        "at the limit"
    );
    let mut expected = user.clone();
    expected.failed_logins = 3;
    assert_eq!(
        stored(&repo, user.id).await,
        expected,
        "only the count changes, and not past the limit"
    );
    assert_eq!(stored(&repo, bystander.id).await, bystander, "other users");
    assert_eq!(
        repo.reserve_login_attempt(user.id, now, 5).await,
        Ok(Attempt::Admitted { number: 4 }),
        "a higher limit admits again"
    );

    assert_eq!(
        repo.reserve_login_attempt(id_from_u128(5), now, 3).await,
        Err(RepoError::NotFound)
    );
}

/// `lock` sets `locked_until` and resets the count unless a lock is in force at `now`;
/// while it is, reservations answer `Locked` without counting; once it has ended, counting
/// starts again from zero. It MUST return `NotFound` when no user has that id.
pub async fn lock_refuses_attempts_until_it_ends<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let user = sample_user("locked", Some("locked@example.org"));
    insert_all(&repo, std::slice::from_ref(&user)).await;
    let now = at_ms(10_000);
    for _ in 0..3 {
        repo.reserve_login_attempt(user.id, now, NO_LIMIT)
            .await
            .unwrap();
    }

    let until = at_ms(900_123);
    assert_eq!(repo.lock(user.id, until, now, &[]).await, Ok(true));
    let mut expected = user.clone();
    expected.locked_until = Some(until);
    assert_eq!(stored(&repo, user.id).await, expected);

    assert_eq!(
        repo.reserve_login_attempt(user.id, at_ms(900_122), NO_LIMIT)
            .await,
        Ok(Attempt::Locked { until }),
        "during the lock"
    );
    assert_eq!(
        repo.lock(user.id, at_ms(1_800_000), at_ms(500_000), &[])
            .await,
        Ok(false),
        "a lock in force is not replaced"
    );
    assert_eq!(stored(&repo, user.id).await, expected, "nothing counted");

    assert_eq!(
        repo.reserve_login_attempt(user.id, until, NO_LIMIT).await,
        Ok(Attempt::Admitted { number: 1 }),
        "the lock ends at `until`"
    );
    let later = at_ms(1_800_456);
    assert_eq!(
        repo.lock(user.id, later, until, &[]).await,
        Ok(true),
        "lock again once it ended"
    );
    expected.locked_until = Some(later);
    assert_eq!(stored(&repo, user.id).await, expected);

    assert_eq!(
        repo.lock(id_from_u128(5), until, now, &[]).await,
        Err(RepoError::NotFound)
    );
}

/// `record_success` resets the count and sets `last_login_at` when given (leaves it when
/// not), unless the account is locked at `now`: then it changes nothing and answers the end
/// of the lock. It MUST return `NotFound` when no user has that id.
pub async fn a_success_resets_the_count_but_never_a_lock<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let user = sample_user("succeeding", Some("succeeding@example.org"));
    insert_all(&repo, std::slice::from_ref(&user)).await;
    let now = at_ms(10_000);

    repo.reserve_login_attempt(user.id, now, NO_LIMIT)
        .await
        .unwrap();
    let login_time = at_ms(60_001);
    assert_eq!(
        repo.record_success(user.id, login_time, Some(login_time), &[])
            .await,
        Ok(None)
    );
    let mut expected = user.clone();
    expected.last_login_at = Some(login_time);
    assert_eq!(stored(&repo, user.id).await, expected, "with a login time");

    repo.reserve_login_attempt(user.id, now, NO_LIMIT)
        .await
        .unwrap();
    assert_eq!(repo.record_success(user.id, now, None, &[]).await, Ok(None));
    assert_eq!(
        stored(&repo, user.id).await,
        expected,
        "without a login time, the previous one stays"
    );

    let until = at_ms(900_000);
    repo.lock(user.id, until, now, &[]).await.unwrap();
    assert_eq!(
        repo.record_success(user.id, at_ms(120_002), Some(at_ms(120_002)), &[])
            .await,
        Ok(Some(until)),
        "locked meanwhile: the success is refused"
    );
    expected.locked_until = Some(until);
    assert_eq!(stored(&repo, user.id).await, expected, "and the lock stays");

    assert_eq!(
        repo.record_success(id_from_u128(5), now, None, &[]).await,
        Err(RepoError::NotFound)
    );
}

/// An `update` with `clear_lockout` clears `failed_logins` and `locked_until` (an
/// administrator's unblock or reset); without it, they stay as stored.
pub async fn an_update_clears_the_lockout_only_when_asked<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let user = sample_user("unlocked", Some("unlocked@example.org"));
    insert_all(&repo, std::slice::from_ref(&user)).await;
    let now = at_ms(10_000);
    let until = at_ms(900_000);
    repo.reserve_login_attempt(user.id, now, NO_LIMIT)
        .await
        .unwrap();
    repo.lock(user.id, until, now, &[]).await.unwrap();
    repo.reserve_login_attempt(user.id, until, NO_LIMIT)
        .await
        .unwrap();

    let mut next = user.clone();
    next.version += 1;
    repo.update(&Update::new(&next, user.version))
        .await
        .unwrap();
    let kept = stored(&repo, user.id).await;
    assert_eq!(
        (kept.failed_logins, kept.locked_until),
        (1, Some(until)),
        "kept"
    );

    let mut cleared = next.clone();
    cleared.version += 1;
    let update = Update {
        clear_lockout: true,
        ..Update::new(&cleared, next.version)
    };
    repo.update(&update).await.unwrap();
    assert_eq!(stored(&repo, user.id).await, cleared, "cleared");
}
