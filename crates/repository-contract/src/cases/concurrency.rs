//! Races: uniqueness checked atomically with the write, increments never lost, one
//! winner per expected version.
//!
//! Tasks are spawned on the caller's runtime and wait on a barrier, so that they hit the
//! store together; run these cases on a multi-thread runtime for real parallelism.

use std::collections::BTreeSet;
use std::sync::Arc;

use domain::error::UniqueField;
use domain::model::{FullName, User, UserId};
use domain::ports::{Attempt, RepoError, Update, UserRepository};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::cases::bookkeeping::NO_LIMIT;
use crate::sample::{at_ms, sample_user};
use crate::support::{all_users, insert_all, stored};

const RACERS: usize = 20;
const FAILURES: u32 = 50;
const ROUNDS: usize = 5;

/// Runs `op(i)` for every `i` in `0..n` in its own task, all released at once; returns
/// the outcomes in completion order.
pub(crate) async fn race<T, Op, OpFut>(n: usize, op: Op) -> Vec<T>
where
    T: Send + 'static,
    Op: Fn(usize) -> OpFut,
    OpFut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let work = op(i);
        let barrier = Arc::clone(&barrier);
        tasks.spawn(async move {
            barrier.wait().await;
            work.await
        });
    }
    let mut outcomes = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined.expect("a racing task panicked"));
    }
    outcomes
}

/// Races the insert of every user; asserts that exactly one wins, that every other gets
/// `Conflict(field)`, and that only the winner is stored.
async fn assert_one_insert_wins<R: UserRepository + 'static>(
    repo: Arc<R>,
    users: Vec<User>,
    field: UniqueField,
) {
    let users = Arc::new(users);
    let outcomes = race(users.len(), |i| {
        let repo = Arc::clone(&repo);
        let users = Arc::clone(&users);
        async move { (users[i].id, repo.insert(&users[i], &[]).await) }
    })
    .await;

    let winners: Vec<UserId> = outcomes
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(winners.len(), 1, "winners of the race: {outcomes:?}");
    for (id, outcome) in &outcomes {
        if *id != winners[0] {
            assert_eq!(*outcome, Err(RepoError::Conflict(field)), "loser {id}");
        }
    }
    let stored: Vec<UserId> = all_users(&*repo).await.iter().map(|u| u.id).collect();
    assert_eq!(stored, winners, "only the winner is stored");
}

/// Login variants `concurrent`, `Concurrent`, `cOncurrent`, … (one per bit pattern of `i`).
fn case_variant(base: &str, i: usize) -> String {
    base.chars()
        .enumerate()
        .map(|(bit, c)| {
            if i >> bit & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// Concurrent inserts of one login (in different cases, with different ids and e-mails):
/// exactly one succeeds, the others get `Conflict(Login)` (trait docs of `insert`).
pub async fn concurrent_inserts_of_one_login_admit_exactly_one<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = Arc::new(make().await);
    let users = (0..RACERS)
        .map(|i| {
            let address = format!("racer{i}@example.org");
            // Half of them without an e-mail: uniqueness must not depend on it.
            let address = (i % 2 == 0).then_some(address.as_str());
            sample_user(&case_variant("concurrent", i), address)
        })
        .collect();
    assert_one_insert_wins(repo, users, UniqueField::Login).await;
}

/// Concurrent inserts of one e-mail (in different cases, with different logins): exactly
/// one succeeds, the others get `Conflict(Email)`.
pub async fn concurrent_inserts_of_one_email_admit_exactly_one<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = Arc::new(make().await);
    let users = (0..RACERS)
        .map(|i| {
            let address = format!("{}@example.org", case_variant("shared", i));
            sample_user(&format!("racer-{i}"), Some(&address))
        })
        .collect();
    assert_one_insert_wins(repo, users, UniqueField::Email).await;
}

/// Concurrent `reserve_login_attempt` calls never lose a count: 50 calls leave 50, and
/// return each of 1 to 50 exactly once.
pub async fn concurrent_failed_logins_are_never_lost<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = Arc::new(make().await);
    let user = sample_user("hammered", Some("hammered@example.org"));
    insert_all(&*repo, std::slice::from_ref(&user)).await;

    let id = user.id;
    let outcomes = race(FAILURES as usize, |_| {
        let repo = Arc::clone(&repo);
        async move { repo.reserve_login_attempt(id, at_ms(1), NO_LIMIT).await }
    })
    .await;
    let counts: BTreeSet<u32> = outcomes
        .into_iter()
        .map(|r| match r.expect("reserve_login_attempt") {
            Attempt::Admitted { number } => number,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(counts, (1..=FAILURES).collect(), "returned counts");

    let mut expected = user.clone();
    expected.failed_logins = FAILURES;
    assert_eq!(stored(&*repo, user.id).await, expected);
}

/// Concurrent reservations never admit more attempts than the limit: of 30 at once with a
/// limit of 5, exactly 5 are admitted (numbered 1 to 5) and the others are `Saturated`.
pub async fn concurrent_reservations_admit_no_more_than_the_limit<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = Arc::new(make().await);
    let user = sample_user("guessed", Some("guessed@example.org"));
    insert_all(&*repo, std::slice::from_ref(&user)).await;
    const LIMIT: u32 = 5;

    let id = user.id;
    let outcomes = race(30, |_| {
        let repo = Arc::clone(&repo);
        async move { repo.reserve_login_attempt(id, at_ms(1), LIMIT).await }
    })
    .await;
    let mut admitted = BTreeSet::new();
    for outcome in outcomes {
        match outcome.expect("reserve_login_attempt") {
            Attempt::Admitted { number } => assert!(admitted.insert(number), "{number} twice"),
            Attempt::Saturated => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(admitted, (1..=LIMIT).collect(), "admitted");
    assert_eq!(stored(&*repo, user.id).await.failed_logins, LIMIT);
}

/// Concurrent updates against one expected version: exactly one succeeds, the others get
/// `VersionMismatch`, and the stored user is the winner's.
pub async fn concurrent_updates_of_one_version_admit_exactly_one<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = Arc::new(make().await);
    let user = sample_user("contended", Some("contended@example.org"));
    insert_all(&*repo, std::slice::from_ref(&user)).await;

    // Several rounds, each against the version the previous winner stored: a race lost
    // by chance in one round is likely caught in another.
    let mut current = user;
    for round in 0..ROUNDS {
        let base = current.clone();
        let outcomes = race(RACERS, |i| {
            let repo = Arc::clone(&repo);
            let mut next = base.clone();
            next.version += 1;
            next.full_name = FullName::parse(&format!("Writer {round}-{i}")).unwrap();
            let expected_version = base.version;
            async move {
                let outcome = repo.update(&Update::new(&next, expected_version)).await;
                (next, outcome)
            }
        })
        .await;

        let winners: Vec<&User> = outcomes
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(u, _)| u)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}, winners: {outcomes:?}");
        for (next, outcome) in &outcomes {
            if next != winners[0] {
                assert_eq!(*outcome, Err(RepoError::VersionMismatch), "{next:?}");
            }
        }
        assert_eq!(stored(&*repo, base.id).await, *winners[0], "round {round}");
        current = winners[0].clone();
    }
}

/// Updates racing with failed logins never erase an increment, even when the updated
/// user carries a stale `failed_logins` (trait docs of `UserRepository`).
pub async fn updates_never_erase_concurrent_failed_logins<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = Arc::new(make().await);
    let user = sample_user("busy", Some("busy@example.org"));
    insert_all(&*repo, std::slice::from_ref(&user)).await;

    const UPDATES: u64 = 10;
    let updater = {
        let repo = Arc::clone(&repo);
        let user = user.clone();
        async move {
            let mut current = user;
            for n in 1..=UPDATES {
                // Read-modify-write as a use case does, carrying a count that failed
                // logins make stale before the write lands.
                let mut next = stored(&*repo, current.id).await;
                next.failed_logins = 0;
                next.version = current.version + 1;
                next.full_name = FullName::parse(&format!("Update {n}")).unwrap();
                repo.update(&Update::new(&next, current.version))
                    .await
                    .expect("the only writer of versions");
                current = next;
                tokio::task::yield_now().await;
            }
            current
        }
    };
    let updater = tokio::spawn(updater);
    let id = user.id;
    let outcomes = race(FAILURES as usize, |_| {
        let repo = Arc::clone(&repo);
        async move { repo.reserve_login_attempt(id, at_ms(1), NO_LIMIT).await }
    })
    .await;
    let last = updater.await.expect("the updating task panicked");
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");

    let after = stored(&*repo, user.id).await;
    assert_eq!(after.failed_logins, FAILURES, "increments lost to updates");
    assert_eq!(after.version, user.version + UPDATES);
    assert_eq!(after.full_name, last.full_name);
}
