//! What survives closing and reopening the database file: every user with every field,
//! and every index (uniqueness, look-ups ignoring case, list order, search, counts).
//! Also the errors of `open` for a locked or foreign file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use adapters_embedded::EmbeddedUserRepository;
use domain::error::UniqueField;
use domain::model::{Email, FullName, Login, Role, User};
use domain::ports::{
    Attempt, PageRequest, RepoError, SearchText, Update, UserFilter, UserRepository,
};
use repository_contract::sample_user;
use time::{Duration, OffsetDateTime};

const ALL: PageRequest = PageRequest {
    offset: 0,
    limit: 100,
};

fn named(login: &str, email: Option<&str>, name: &str) -> User {
    let mut user = sample_user(login, email);
    user.full_name = FullName::parse(name).unwrap();
    user
}

async fn ids_listed(repo: &EmbeddedUserRepository, filter: &UserFilter) -> Vec<User> {
    let page = repo.list(filter, ALL).await.unwrap();
    assert_eq!(page.total, page.items.len() as u64);
    page.items
}

fn search(q: &str) -> UserFilter {
    UserFilter {
        q: SearchText::new(q),
        ..UserFilter::default()
    }
}

/// Fills a store through the port, the way the service does, and returns the users as
/// they must read back, in list order.
async fn populate(repo: &EmbeddedUserRepository) -> Vec<User> {
    let mut admin = named("Root.Admin", Some("Root@Example.org"), "Ada Admin");
    admin.role = Role::Admin;
    let mut renamed = named("before-rename", Some("before@example.org"), "Bea Before");
    let hammered = named("hammered", None, "Hugo Hammer");
    let locked = named("Locked.Out", Some("locked@example.org"), "Lou Locked");
    let deleted = named("deleted", Some("deleted@example.org"), "Dee Deleted");
    for user in [&admin, &renamed, &hammered, &locked, &deleted] {
        repo.insert(user, &[]).await.unwrap();
    }

    let previous_version = renamed.version;
    renamed.login = Login::parse("After.Rename").unwrap();
    renamed.email = Some(Email::parse("After@Example.org").unwrap());
    renamed.full_name = FullName::parse("Bea Renamed").unwrap();
    renamed.version += 1;
    repo.update(&Update::new(&renamed, previous_version))
        .await
        .unwrap();

    let mut hammered = hammered;
    for _ in 0..3 {
        let attempt = repo
            .reserve_login_attempt(hammered.id, hammered.created_at, u32::MAX)
            .await
            .unwrap();
        let Attempt::Admitted { number } = attempt else {
            panic!("{attempt:?}")
        };
        hammered.failed_logins = number;
    }
    assert_eq!(hammered.failed_logins, 3);

    let mut locked = locked;
    let until = OffsetDateTime::UNIX_EPOCH + Duration::milliseconds(1_900_000_000_123);
    repo.lock(locked.id, until, locked.created_at, &[])
        .await
        .unwrap();
    locked.locked_until = Some(until);

    repo.delete(deleted.id, &[]).await.unwrap();
    vec![admin, renamed, hammered, locked]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_closing_and_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // Missing parent directories are created, as for the default `./data/users.redb`.
    let path = dir.path().join("data").join("nested").join("users.redb");

    let repo = EmbeddedUserRepository::open(&path).unwrap();
    let expected = populate(&repo).await;
    assert_eq!(ids_listed(&repo, &UserFilter::default()).await, expected);
    drop(repo);

    let repo = EmbeddedUserRepository::open(&path).unwrap();
    assert_eq!(repo.ping().await, Ok(()));

    // Every user with every field, in list order (the creation-order index).
    assert_eq!(ids_listed(&repo, &UserFilter::default()).await, expected);
    for user in &expected {
        assert_eq!(repo.get(user.id).await, Ok(Some(user.clone())));
    }
    let [admin, renamed, hammered, locked] = &expected[..] else {
        unreachable!()
    };

    // The unique indexes: look-ups ignoring case...
    let by_login = |raw: &str| Login::parse(raw).unwrap();
    let by_email = |raw: &str| Email::parse(raw).unwrap();
    assert_eq!(
        repo.find_by_login(&by_login("ROOT.ADMIN")).await,
        Ok(Some(admin.clone()))
    );
    assert_eq!(
        repo.find_by_email(&by_email("root@EXAMPLE.org")).await,
        Ok(Some(admin.clone()))
    );
    assert_eq!(
        repo.find_by_email(&by_email("after@example.org")).await,
        Ok(Some(renamed.clone()))
    );
    assert_eq!(
        repo.find_by_login(&by_login("locked.out")).await,
        Ok(Some(locked.clone()))
    );
    // ...without the keys that an update or a delete released...
    for gone in ["before-rename", "deleted"] {
        assert_eq!(
            repo.find_by_login(&by_login(gone)).await,
            Ok(None),
            "{gone}"
        );
    }
    for gone in ["before@example.org", "deleted@example.org"] {
        assert_eq!(
            repo.find_by_email(&by_email(gone)).await,
            Ok(None),
            "{gone}"
        );
    }
    // ...and still enforcing uniqueness.
    assert_eq!(
        repo.insert(&sample_user("hAMMERED", None), &[]).await,
        Err(RepoError::Conflict(UniqueField::Login))
    );
    assert_eq!(
        repo.insert(&sample_user("someone", Some("LOCKED@example.ORG")), &[])
            .await,
        Err(RepoError::Conflict(UniqueField::Email))
    );

    // The search indexes (login, e-mail and name-word prefixes).
    assert_eq!(
        ids_listed(&repo, &search("after.r")).await,
        vec![renamed.clone()]
    );
    assert_eq!(
        ids_listed(&repo, &search("root@")).await,
        vec![admin.clone()]
    );
    assert_eq!(
        ids_listed(&repo, &search("hamm")).await,
        vec![hammered.clone()]
    );
    assert_eq!(
        ids_listed(&repo, &search("renam")).await,
        vec![renamed.clone()]
    );
    assert!(ids_listed(&repo, &search("before")).await.is_empty());
    assert!(ids_listed(&repo, &search("dee")).await.is_empty());

    // The filter facets and the admin count.
    let admins = UserFilter {
        role: Some(Role::Admin),
        ..UserFilter::default()
    };
    assert_eq!(ids_listed(&repo, &admins).await, vec![admin.clone()]);
    assert_eq!(
        ids_listed(&repo, &UserFilter::active_admins()).await,
        vec![admin.clone()]
    );

    // The bookkeeping keeps counting from where it was.
    assert_eq!(
        repo.reserve_login_attempt(hammered.id, hammered.created_at, u32::MAX)
            .await,
        Ok(Attempt::Admitted { number: 4 })
    );

    // Released keys are free for new users, and new users list after the old ones.
    let newcomer = sample_user("Before-Rename", Some("deleted@example.org"));
    repo.insert(&newcomer, &[]).await.unwrap();
    drop(repo);

    let repo = EmbeddedUserRepository::open(&path).unwrap();
    let listed = ids_listed(&repo, &UserFilter::default()).await;
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[4], newcomer);
    assert_eq!(
        repo.get(hammered.id).await.unwrap().unwrap().failed_logins,
        4
    );
}

fn expect_error(result: Result<EmbeddedUserRepository, RepoError>) -> RepoError {
    match result {
        Ok(repo) => panic!("open should fail, got {repo:?}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_file_already_open_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.redb");
    let first = EmbeddedUserRepository::open(&path).unwrap();

    let error = expect_error(EmbeddedUserRepository::open(&path));
    assert!(
        matches!(&error, RepoError::Unavailable(m) if m.contains("locked")),
        "{error:?}"
    );

    // The first handle is unaffected, and the lock goes with it.
    first
        .insert(&sample_user("still-here", None), &[])
        .await
        .unwrap();
    drop(first);
    let again = EmbeddedUserRepository::open(&path).unwrap();
    assert_eq!(
        again.list(&UserFilter::default(), ALL).await.unwrap().total,
        1
    );
}

fn assert_refused_as_corrupt(path: &Path) {
    let error = expect_error(EmbeddedUserRepository::open(path));
    assert!(
        matches!(&error, RepoError::Other(m) if m.contains("corrupt")),
        "{error:?}"
    );
}

#[test]
fn a_file_that_is_not_a_store_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.redb");
    std::fs::write(&path, b"SQLite format 3\0 -- certainly not a redb file").unwrap();
    assert_refused_as_corrupt(&path);

    let big = dir.path().join("big.redb");
    std::fs::write(&big, vec![0xa5; 64 * 1024]).unwrap();
    assert_refused_as_corrupt(&big);
}

#[test]
fn a_damaged_store_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.redb");
    drop(EmbeddedUserRepository::open(&path).unwrap());
    let pristine = std::fs::read(&path).unwrap();
    // Noise over the magic number, then over the rest of the header (the commit slots
    // and their checksums) with the magic number left intact.
    for damaged in [0..512, 16..512] {
        let mut bytes = pristine.clone();
        bytes[damaged.clone()].fill(0x5a);
        std::fs::write(&path, bytes).unwrap();
        assert_refused_as_corrupt(&path);
    }
}
