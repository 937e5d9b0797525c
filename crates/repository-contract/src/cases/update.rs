//! `update`: optimistic concurrency, uniqueness, and the bookkeeping it must not write.

use domain::error::UniqueField;
use domain::model::{FullName, PasswordHash, Phone, Role, Sex, User};
use domain::ports::{RepoError, Update, UserRepository};
use time::Duration;
use uuid::Uuid;

use crate::cases::bookkeeping::NO_LIMIT;
use crate::sample::{at_ms, id_from_u128, sample_user};
use crate::support::{all_users, email, ids, insert_all, login, stored};

/// What a use case hands to `update`: the stored user changed, `version` incremented.
fn next_version(user: &User) -> User {
    let mut next = user.clone();
    next.version += 1;
    next.updated_at += Duration::milliseconds(1_500);
    next
}

/// `update` with the expected version replaces every field but the bookkeeping ones,
/// including optional fields going back to `None`, and the look-ups follow.
pub async fn update_persists_every_field_with_the_expected_version<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let original = sample_user("before", Some("before@example.org"));
    insert_all(&repo, std::slice::from_ref(&original)).await;

    let mut changed = next_version(&original);
    changed.login = login("After.Login");
    changed.email = Some(email("After@Example.org"));
    changed.full_name = FullName::parse("Changed Name").unwrap();
    changed.phone = Some(Phone::parse("+33612345678").unwrap());
    changed.role = Role::Contribuable;
    changed.grade = None;
    changed.sex = Some(Sex::Male);
    changed.address = None;
    changed.agent_id = None;
    changed.taxpayer_id = Some(Uuid::from_u128(7));
    changed.password_hash =
        PasswordHash::new("$2b$12$changedchangedchangedcuHnVH5vy1Hp0JvZC2bO2xXzDlqQ8C");
    changed.active = false;
    changed.blocked = true;
    changed.must_change_password = true;
    changed.token_version = 5;

    assert_eq!(
        repo.update(&Update::new(&changed, original.version)).await,
        Ok(())
    );
    assert_eq!(repo.get(original.id).await, Ok(Some(changed.clone())));
    assert_eq!(
        repo.find_by_login(&login("after.login")).await,
        Ok(Some(changed.clone()))
    );
    assert_eq!(
        repo.find_by_email(&email("after@example.org")).await,
        Ok(Some(changed.clone()))
    );
    assert_eq!(repo.find_by_login(&login("before")).await, Ok(None));
    assert_eq!(
        repo.find_by_email(&email("before@example.org")).await,
        Ok(None)
    );

    // A second update against the version the first one stored.
    let mut again = next_version(&changed);
    again.phone = None;
    again.email = None;
    assert_eq!(
        repo.update(&Update::new(&again, changed.version)).await,
        Ok(())
    );
    assert_eq!(repo.get(original.id).await, Ok(Some(again)));
    assert_eq!(
        repo.find_by_email(&email("after@example.org")).await,
        Ok(None)
    );
}

/// `update` MUST return `VersionMismatch` when the stored version is not
/// `expected_version`, and then changes nothing.
pub async fn update_with_a_stale_version_is_version_mismatch<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let mut original = sample_user("versioned", Some("versioned@example.org"));
    original.version = 3;
    insert_all(&repo, std::slice::from_ref(&original)).await;

    let mut changed = next_version(&original);
    changed.full_name = FullName::parse("Lost Update").unwrap();
    for wrong in [0, 2, 4, u64::MAX] {
        assert_eq!(
            repo.update(&Update::new(&changed, wrong)).await,
            Err(RepoError::VersionMismatch),
            "expected_version {wrong} against stored 3"
        );
    }
    assert_eq!(stored(&repo, original.id).await, original);

    // The first writer wins; the second, holding the same read, is now stale.
    assert_eq!(repo.update(&Update::new(&changed, 3)).await, Ok(()));
    let mut late = next_version(&original);
    late.full_name = FullName::parse("Second Writer").unwrap();
    assert_eq!(
        repo.update(&Update::new(&late, 3)).await,
        Err(RepoError::VersionMismatch)
    );
    assert_eq!(stored(&repo, original.id).await, changed);
}

/// `update` MUST return `NotFound` when no user has that id, and never creates one.
pub async fn update_of_an_unknown_id_is_not_found<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let ghost = sample_user("ghost", Some("ghost@example.org"));
    assert_eq!(
        repo.update(&Update::new(&next_version(&ghost), ghost.version))
            .await,
        Err(RepoError::NotFound),
        "empty store"
    );

    let present = sample_user("present", Some("present@example.org"));
    insert_all(&repo, std::slice::from_ref(&present)).await;
    let mut other = next_version(&present);
    other.id = id_from_u128(99);
    other.login = login("elsewhere");
    other.email = None;
    assert_eq!(
        repo.update(&Update::new(&other, present.version)).await,
        Err(RepoError::NotFound),
        "populated store"
    );
    assert_eq!(repo.get(other.id).await, Ok(None), "update must not upsert");
    assert_eq!(all_users(&repo).await, vec![present]);
}

/// `update` MUST return `Conflict(Login)` when the new login belongs to another user
/// ignoring case, and then changes nothing.
pub async fn update_to_another_users_login_is_conflict<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let alice = sample_user("Alice", Some("alice@example.org"));
    let bob = sample_user("bob", Some("bob@example.org"));
    insert_all(&repo, &[alice.clone(), bob.clone()]).await;

    for spelling in ["Alice", "aLICE"] {
        let mut clash = next_version(&bob);
        clash.login = login(spelling);
        clash.full_name = FullName::parse("Not Applied").unwrap();
        assert_eq!(
            repo.update(&Update::new(&clash, bob.version)).await,
            Err(RepoError::Conflict(UniqueField::Login)),
            "login {spelling}"
        );
    }
    assert_eq!(all_users(&repo).await, vec![alice.clone(), bob.clone()]);
    assert_eq!(repo.find_by_login(&login("bob")).await, Ok(Some(bob)));
    assert_eq!(repo.find_by_login(&login("alice")).await, Ok(Some(alice)));
}

/// `update` MUST return `Conflict(Email)` when the new e-mail belongs to another user
/// ignoring case, and then changes nothing.
pub async fn update_to_another_users_email_is_conflict<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let alice = sample_user("alice", Some("Alice@Example.org"));
    let bob = sample_user("bob", Some("bob@example.org"));
    let carol = sample_user("carol", None);
    insert_all(&repo, &[alice.clone(), bob.clone(), carol.clone()]).await;

    for (user, spelling) in [
        (&bob, "alice@example.org"),
        (&bob, "ALICE@EXAMPLE.ORG"),
        (&carol, "Alice@Example.org"),
    ] {
        let mut clash = next_version(user);
        clash.email = Some(email(spelling));
        clash.full_name = FullName::parse("Not Applied").unwrap();
        assert_eq!(
            repo.update(&Update::new(&clash, user.version)).await,
            Err(RepoError::Conflict(UniqueField::Email)),
            "{:?} taking {spelling}",
            user.login
        );
    }
    assert_eq!(
        all_users(&repo).await,
        vec![alice.clone(), bob.clone(), carol]
    );
    assert_eq!(
        repo.find_by_email(&email("bob@example.org")).await,
        Ok(Some(bob))
    );
    assert_eq!(
        repo.find_by_email(&email("alice@example.org")).await,
        Ok(Some(alice))
    );
}

/// A user's own login and e-mail are not "another user's": changing only their case, or
/// keeping them, is allowed, and the new spelling is stored.
pub async fn update_may_change_the_case_of_own_login_and_email<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let alice = sample_user("alice", Some("alice@example.org"));
    insert_all(&repo, std::slice::from_ref(&alice)).await;

    // Same login and e-mail: the store must not see itself as a clash.
    let mut same = next_version(&alice);
    same.full_name = FullName::parse("Alice Liddell").unwrap();
    assert_eq!(
        repo.update(&Update::new(&same, alice.version)).await,
        Ok(()),
        "unchanged keys"
    );

    let mut recased = next_version(&same);
    recased.login = login("ALICE");
    recased.email = Some(email("Alice@Example.ORG"));
    assert_eq!(
        repo.update(&Update::new(&recased, same.version)).await,
        Ok(()),
        "new case"
    );
    assert_eq!(repo.get(alice.id).await, Ok(Some(recased.clone())));
    assert_eq!(
        repo.find_by_login(&login("alice")).await,
        Ok(Some(recased.clone()))
    );
    assert_eq!(
        repo.find_by_email(&email("alice@example.org")).await,
        Ok(Some(recased))
    );

    // The keys are still taken.
    let copycat = sample_user("Alice", Some("ALICE@example.org"));
    assert_eq!(
        repo.insert(&copycat, &[]).await,
        Err(RepoError::Conflict(UniqueField::Login))
    );
}

/// After `update` changes or removes a login or e-mail, the previous one is free for
/// someone else, and the new one is taken.
pub async fn update_frees_the_previous_login_and_email<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let alice = sample_user("alice", Some("alice@example.org"));
    insert_all(&repo, std::slice::from_ref(&alice)).await;

    let mut renamed = next_version(&alice);
    renamed.login = login("alice2");
    renamed.email = Some(email("alice2@example.org"));
    assert_eq!(
        repo.update(&Update::new(&renamed, alice.version)).await,
        Ok(())
    );

    let bob = sample_user("ALICE", Some("Alice@Example.org"));
    assert_eq!(
        repo.insert(&bob, &[]).await,
        Ok(()),
        "old login and e-mail are free"
    );
    assert_eq!(
        repo.insert(&sample_user("Alice2", None), &[]).await,
        Err(RepoError::Conflict(UniqueField::Login)),
        "new login is taken"
    );
    assert_eq!(
        repo.insert(&sample_user("dave", Some("ALICE2@example.org")), &[])
            .await,
        Err(RepoError::Conflict(UniqueField::Email)),
        "new e-mail is taken"
    );

    let mut without_email = next_version(&renamed);
    without_email.email = None;
    assert_eq!(
        repo.update(&Update::new(&without_email, renamed.version))
            .await,
        Ok(())
    );
    let carol = sample_user("carol", Some("alice2@example.org"));
    assert_eq!(
        repo.insert(&carol, &[]).await,
        Ok(()),
        "removed e-mail is free"
    );

    assert_eq!(
        ids(&all_users(&repo).await),
        vec![alice.id, bob.id, carol.id]
    );
}

/// `update` leaves `failed_logins`, `locked_until` and `last_login_at` as stored, whatever
/// the given user holds (trait docs: an update never erases a failed-login increment).
pub async fn update_keeps_the_stored_login_bookkeeping<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let user = sample_user("bookkept", Some("bookkept@example.org"));
    insert_all(&repo, std::slice::from_ref(&user)).await;
    for _ in 0..2 {
        repo.reserve_login_attempt(user.id, at_ms(1), NO_LIMIT)
            .await
            .unwrap();
    }

    // Bookkeeping in the given user differs from the store in every field.
    let mut changed = next_version(&user);
    changed.full_name = FullName::parse("Changed Name").unwrap();
    changed.failed_logins = 9;
    changed.locked_until = Some(at_ms(3_600_000));
    changed.last_login_at = Some(at_ms(-3_600_000));
    assert_eq!(
        repo.update(&Update::new(&changed, user.version)).await,
        Ok(())
    );

    let mut expected = changed.clone();
    expected.failed_logins = 2;
    expected.locked_until = None;
    expected.last_login_at = None;
    assert_eq!(
        stored(&repo, user.id).await,
        expected,
        "bookkeeping was written"
    );

    // The other way round: stored values set, the given user's cleared.
    let locked_until = at_ms(7_200_000);
    let last_login = at_ms(5_000);
    repo.record_success(user.id, last_login, Some(last_login), &[])
        .await
        .unwrap();
    repo.reserve_login_attempt(user.id, at_ms(1), NO_LIMIT)
        .await
        .unwrap();
    repo.lock(user.id, locked_until, at_ms(1), &[])
        .await
        .unwrap();
    // Counted once the lock has ended; the lock itself stays stored.
    repo.reserve_login_attempt(user.id, locked_until, NO_LIMIT)
        .await
        .unwrap();

    let mut cleared = next_version(&expected);
    cleared.full_name = FullName::parse("Changed Again").unwrap();
    cleared.failed_logins = 0;
    cleared.locked_until = None;
    cleared.last_login_at = None;
    assert_eq!(
        repo.update(&Update::new(&cleared, expected.version)).await,
        Ok(())
    );

    let mut expected = cleared;
    expected.failed_logins = 1;
    expected.locked_until = Some(locked_until);
    expected.last_login_at = Some(last_login);
    assert_eq!(
        stored(&repo, user.id).await,
        expected,
        "bookkeeping was cleared"
    );
}
