//! `delete`.

use domain::ports::{RepoError, UserRepository};

use crate::sample::{id_from_u128, sample_user};
use crate::support::{all_users, email, ids, insert_all, login};

/// A deleted user is gone from every look-up and its login and e-mail are free again;
/// deleting it twice is `NotFound`, and so are the bookkeeping methods on it.
pub async fn delete_removes_the_user_and_frees_login_and_email<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let alice = sample_user("Alice", Some("Alice@Example.org"));
    let bob = sample_user("bob", Some("bob@example.org"));
    insert_all(&repo, &[alice.clone(), bob.clone()]).await;

    assert_eq!(repo.delete(alice.id, &[]).await, Ok(()));
    assert_eq!(repo.get(alice.id).await, Ok(None));
    assert_eq!(repo.find_by_login(&login("alice")).await, Ok(None));
    assert_eq!(
        repo.find_by_email(&email("alice@example.org")).await,
        Ok(None)
    );
    assert_eq!(all_users(&repo).await, vec![bob.clone()]);

    assert_eq!(
        repo.delete(alice.id, &[]).await,
        Err(RepoError::NotFound),
        "twice"
    );
    assert_eq!(
        repo.reserve_login_attempt(alice.id, alice.created_at, 5)
            .await,
        Err(RepoError::NotFound),
        "reserve_login_attempt on a deleted user"
    );

    let newcomer = sample_user("ALICE", Some("alice@EXAMPLE.org"));
    assert_eq!(
        repo.insert(&newcomer, &[]).await,
        Ok(()),
        "login and e-mail are free"
    );
    assert_eq!(ids(&all_users(&repo).await), vec![bob.id, newcomer.id]);
}

/// `delete` MUST return `NotFound` when no user has that id, and deletes nothing.
pub async fn delete_of_an_unknown_id_is_not_found<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let unknown = id_from_u128(7);
    assert_eq!(
        repo.delete(unknown, &[]).await,
        Err(RepoError::NotFound),
        "empty"
    );

    let users = [sample_user("kept", None), sample_user("also-kept", None)];
    insert_all(&repo, &users).await;
    assert_eq!(
        repo.delete(unknown, &[]).await,
        Err(RepoError::NotFound),
        "populated"
    );
    assert_eq!(all_users(&repo).await, users.to_vec());
}
