//! `insert`, the look-ups, uniqueness on insert, and `ping`.

use domain::error::UniqueField;
use domain::model::{Address, BlockRequest, FullName, IdempotencyKey, Role, Sex};
use domain::ports::{RepoError, UserRepository};
use uuid::Uuid;

use crate::sample::{at_ms, id_from_u128, sample_user};
use crate::support::{all_users, email, ids, insert_all, login};

/// `insert` then `get`, `find_by_login`, `find_by_email` and `list` give back every field
/// exactly, the bookkeeping fields included (`insert` stores the whole user).
pub async fn insert_then_read_round_trips_every_field<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;

    // Every optional field set, every flag away from its usual value, non-ASCII text.
    let mut agent = sample_user("Agent.Round-Trip_1", Some("Agent.Round@Example.org"));
    agent.full_name = FullName::parse("Ngalula Mbuyi-Kabasele Ñandú").unwrap();
    agent.address = Some(Address::parse("Quartier Golf, 7e rue, Lubumbashi — RDC").unwrap());
    agent.role = Role::Directeur;
    agent.sex = Some(Sex::Male);
    agent.active = false;
    agent.blocked = true;
    agent.must_change_password = true;
    agent.failed_logins = 3;
    agent.locked_until = Some(at_ms(900_000_001));
    agent.last_login_at = Some(at_ms(-86_400_007));
    agent.token_version = 7;
    agent.version = 4;
    agent.last_block_request = Some(BlockRequest {
        key: IdempotencyKey::parse("retry-7f3a:0001").unwrap(),
        blocked: true,
    });

    // The other kind of link (rule 2), and large numbers.
    let mut taxpayer = sample_user(
        "contribuable+42@x",
        Some("contribuable42@impots.example.cd"),
    );
    taxpayer.role = Role::Contribuable;
    taxpayer.agent_id = None;
    taxpayer.taxpayer_id = Some(Uuid::from_u128(0xfedc_ba98_7654_3210_0123_4567_89ab_cdef));
    taxpayer.failed_logins = u32::MAX;
    taxpayer.token_version = u64::from(u32::MAX) + 1;
    taxpayer.version = u64::from(u32::MAX) + 2;
    taxpayer.last_login_at = Some(at_ms(1));

    insert_all(&repo, &[agent.clone(), taxpayer.clone()]).await;

    for user in [&agent, &taxpayer] {
        let expected = Ok(Some(user.clone()));
        assert_eq!(repo.get(user.id).await, expected, "get");
        assert_eq!(
            repo.find_by_login(&user.login).await,
            expected,
            "find_by_login"
        );
        let address = user.email.as_ref().unwrap();
        assert_eq!(repo.find_by_email(address).await, expected, "find_by_email");
    }
    assert_eq!(all_users(&repo).await, vec![agent, taxpayer], "list");
}

/// Look-ups of what is not stored answer `Ok(None)`; look-ups are exact, never prefixes.
pub async fn unknown_id_login_and_email_read_as_none<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let unknown = id_from_u128(42);

    assert_eq!(repo.get(unknown).await, Ok(None), "get on an empty store");
    assert_eq!(repo.find_by_login(&login("nobody")).await, Ok(None));
    assert_eq!(
        repo.find_by_email(&email("nobody@example.org")).await,
        Ok(None)
    );

    let alice = sample_user("alice", Some("alice@example.org"));
    insert_all(&repo, std::slice::from_ref(&alice)).await;

    assert_eq!(repo.get(unknown).await, Ok(None), "get of another id");
    for other in ["alic", "alice2", "bob"] {
        assert_eq!(repo.find_by_login(&login(other)).await, Ok(None), "{other}");
    }
    for other in [
        "alice@example.or",
        "alice@example.org.cd",
        "alice@example.com",
    ] {
        assert_eq!(repo.find_by_email(&email(other)).await, Ok(None), "{other}");
    }
}

/// `find_by_login` and `find_by_email` ignore case and return the spelling as stored.
pub async fn find_by_login_and_email_ignore_case<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let alice = sample_user("Alice", Some("Alice.Liddell@Example.org"));
    let bob = sample_user("bob", Some("bob@example.org"));
    insert_all(&repo, &[alice.clone(), bob]).await;

    for spelling in ["Alice", "alice", "ALICE", "aLICE"] {
        assert_eq!(
            repo.find_by_login(&login(spelling)).await,
            Ok(Some(alice.clone())),
            "find_by_login({spelling})"
        );
    }
    for spelling in [
        "Alice.Liddell@Example.org",
        "alice.liddell@example.org",
        "ALICE.LIDDELL@EXAMPLE.ORG",
    ] {
        assert_eq!(
            repo.find_by_email(&email(spelling)).await,
            Ok(Some(alice.clone())),
            "find_by_email({spelling})"
        );
    }
}

/// `insert` MUST return `Conflict(Login)` when another user has the same login ignoring
/// case; the refused user leaves no trace (its e-mail stays free).
pub async fn login_is_unique_ignoring_case<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let alice = sample_user("Alice", Some("alice@example.org"));
    insert_all(&repo, std::slice::from_ref(&alice)).await;

    for (spelling, address) in [
        ("Alice", Some("first@example.org")),
        ("aLICE", Some("second@example.org")),
        ("ALICE", None),
    ] {
        let clash = sample_user(spelling, address);
        assert_eq!(
            repo.insert(&clash, &[]).await,
            Err(RepoError::Conflict(UniqueField::Login)),
            "insert of {spelling}"
        );
        assert_eq!(repo.get(clash.id).await, Ok(None), "{spelling} was stored");
    }
    assert_eq!(ids(&all_users(&repo).await), vec![alice.id]);

    // A store that reserved the e-mail before finding the login clash must have undone it.
    let later = sample_user("someone-else", Some("Second@Example.org"));
    assert_eq!(
        repo.insert(&later, &[]).await,
        Ok(()),
        "e-mail of a refused insert"
    );
}

/// `insert` MUST return `Conflict(Email)` when another user has the same e-mail ignoring
/// case; the refused user leaves no trace (its login stays free).
pub async fn email_is_unique_ignoring_case<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let alice = sample_user("alice", Some("Alice@Example.org"));
    insert_all(&repo, std::slice::from_ref(&alice)).await;

    for (spelling, address) in [
        ("first", "Alice@Example.org"),
        ("second", "alice@example.org"),
        ("third", "ALICE@EXAMPLE.ORG"),
    ] {
        let clash = sample_user(spelling, Some(address));
        assert_eq!(
            repo.insert(&clash, &[]).await,
            Err(RepoError::Conflict(UniqueField::Email)),
            "insert with {address}"
        );
        assert_eq!(repo.get(clash.id).await, Ok(None), "{spelling} was stored");
    }
    assert_eq!(ids(&all_users(&repo).await), vec![alice.id]);

    // A store that reserved the login before finding the e-mail clash must have undone it.
    let later = sample_user("SECOND", Some("second@example.org"));
    assert_eq!(
        repo.insert(&later, &[]).await,
        Ok(()),
        "login of a refused insert"
    );
}

/// Any number of users may have no e-mail.
pub async fn many_users_without_email_coexist<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let users: Vec<_> = (0..5)
        .map(|i| sample_user(&format!("no-email-{i}"), None))
        .collect();
    insert_all(&repo, &users).await;
    let with_email = sample_user("with-email", Some("with@example.org"));
    insert_all(&repo, std::slice::from_ref(&with_email)).await;

    let mut expected = ids(&users);
    expected.push(with_email.id);
    assert_eq!(ids(&all_users(&repo).await), expected);
    for user in &users {
        assert_eq!(repo.get(user.id).await, Ok(Some(user.clone())));
    }
}

/// `ping` answers on an empty store and on a populated one.
pub async fn ping_answers<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    assert_eq!(repo.ping().await, Ok(()), "empty store");
    insert_all(&repo, &[sample_user("pinged", None)]).await;
    assert_eq!(repo.ping().await, Ok(()), "populated store");
}
