//! The stored documents themselves, read raw: id encoding, absent e-mail keys, types,
//! regex escaping, and corrupt documents.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use adapters_mongo::USERS_COLLECTION;
use bson::{Bson, Document, doc};
use domain::model::Email;
use domain::ports::{PageRequest, RepoError, SearchText, Update, UserFilter, UserRepository};
use repository_contract::sample_user;

use support::TestRepo;

async fn raw(repo: &TestRepo, id: &str) -> Document {
    repo.database()
        .collection::<Document>(USERS_COLLECTION)
        .find_one(doc! { "_id": id })
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no document with _id {id:?}"))
}

const ALL: PageRequest = PageRequest {
    offset: 0,
    limit: 100,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_stored_as_canonical_uuid_text_and_round_trip() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::fresh_repo(&uri).await;
    let user = sample_user("Encoded", Some("Encoded@Example.org"));
    repo.insert(&user, &[]).await.unwrap();

    let text = user.id.as_uuid().hyphenated().to_string();
    assert_eq!(text.len(), 36);
    assert_eq!(text, text.to_lowercase());
    let stored = raw(&repo, &text).await;
    assert_eq!(stored.get("_id"), Some(&Bson::String(text.clone())));
    assert_eq!(
        stored.get_str("agent_id").unwrap(),
        user.agent_id.unwrap().hyphenated().to_string()
    );
    assert_eq!(stored.get_str("login").unwrap(), "Encoded");
    assert_eq!(stored.get_str("login_lc").unwrap(), "encoded");
    assert_eq!(stored.get_str("email_lc").unwrap(), "encoded@example.org");
    assert_eq!(
        stored
            .get_datetime("created_at")
            .unwrap()
            .timestamp_millis(),
        i64::try_from(user.created_at.unix_timestamp_nanos() / 1_000_000).unwrap()
    );
    assert_eq!(stored.get("version"), Some(&Bson::Int64(1)));
    assert_eq!(stored.get("failed_logins"), Some(&Bson::Int64(0)));

    assert_eq!(repo.get(user.id).await, Ok(Some(user)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_email_has_no_email_fields_at_all() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::fresh_repo(&uri).await;
    let user = sample_user("no-email", None);
    repo.insert(&user, &[]).await.unwrap();
    let id = user.id.to_string();

    let stored = raw(&repo, &id).await;
    assert!(!stored.contains_key("email"), "{stored}");
    assert!(!stored.contains_key("email_lc"), "{stored}");
    assert!(!stored.contains_key("locked_until"), "{stored}");

    // Given an e-mail by an update, then losing it again: the key goes too.
    let mut with = user.clone();
    with.email = Some(Email::parse("Later@Example.org").unwrap());
    with.version += 1;
    repo.update(&Update::new(&with, user.version))
        .await
        .unwrap();
    assert_eq!(
        raw(&repo, &id).await.get_str("email_lc").unwrap(),
        "later@example.org"
    );
    let mut without = with.clone();
    without.email = None;
    without.version += 1;
    repo.update(&Update::new(&without, with.version))
        .await
        .unwrap();
    let stored = raw(&repo, &id).await;
    assert!(!stored.contains_key("email"), "{stored}");
    assert!(!stored.contains_key("email_lc"), "{stored}");
    assert!(stored.values().all(|v| *v != Bson::Null), "{stored}");

    // A lock then an administrator's unblock: `locked_until` is removed, not nulled.
    repo.lock(user.id, user.created_at, user.created_at, &[])
        .await
        .unwrap();
    let mut unlocked = without.clone();
    unlocked.version += 1;
    let unlock = Update {
        clear_lockout: true,
        ..Update::new(&unlocked, without.version)
    };
    repo.update(&unlock).await.unwrap();
    assert!(!raw(&repo, &id).await.contains_key("locked_until"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_text_is_escaped_never_a_pattern() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::fresh_repo(&uri).await;
    for (login, email) in [
        ("j.doe", Some("j.doe@example.org")),
        ("jxdoe", Some("jx@example.org")),
        ("dollar", None),
    ] {
        repo.insert(&sample_user(login, email), &[]).await.unwrap();
    }
    let search = |q: &str| UserFilter {
        q: SearchText::new(q),
        ..UserFilter::default()
    };

    for q in [
        ".*", ".", "^", "$", "|", "(", "[", "\\", "*", "+", "?", "{1}", "j.*",
    ] {
        let page = repo.list(&search(q), ALL).await.unwrap();
        assert_eq!(page.total, 0, "{q:?} matched {:?}", page.items);
    }
    let page = repo.list(&search("j."), ALL).await.unwrap();
    let logins: Vec<&str> = page.items.iter().map(|u| u.login.as_str()).collect();
    assert_eq!(logins, ["j.doe"]);
    // Control characters and NUL travel too, and match nothing.
    let page = repo.list(&search("j\0"), ALL).await.unwrap();
    assert_eq!(page.total, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_document_is_an_error_not_a_panic() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::fresh_repo(&uri).await;
    let good = sample_user("good", None);
    repo.insert(&good, &[]).await.unwrap();
    let id = "4b0f5d1e-7a43-4c8e-9a52-0d3c2a1e9f10";
    repo.database()
        .collection::<Document>(USERS_COLLECTION)
        .insert_one(doc! {
            "_id": id,
            "login": "bad login with spaces",
            "login_lc": "bad login with spaces",
        })
        .await
        .unwrap();

    let corrupt_id = domain::model::UserId::parse(id).unwrap();
    assert!(matches!(repo.get(corrupt_id).await, Err(RepoError::Other(m)) if m.contains(id)));
    assert!(matches!(
        repo.list(&UserFilter::default(), ALL).await,
        Err(RepoError::Other(_))
    ));
    // Other users stay readable one by one.
    assert_eq!(repo.get(good.id).await, Ok(Some(good)));
}
