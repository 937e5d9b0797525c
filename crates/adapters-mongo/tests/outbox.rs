//! A change and its audit events on MongoDB, which has no transaction spanning a user and the
//! trail: the events travel on the user's document (its outbox) and reach the trail right
//! after; when the trail cannot be written mid-request, the change stands with its events
//! waiting on the document, and a sweep moves them once the trail is back — never twice,
//! never an event without its change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use adapters_mongo::{AUDIT_COLLECTION, USERS_COLLECTION};
use bson::{Document, doc};
use domain::model::{AuditKind, AuditRecord, RequestContext, User};
use domain::ports::{AuditLog, Update, UserRepository};
use repository_contract::sample_user;
use time::OffsetDateTime;

use support::TestRepo;

fn event(kind: AuditKind, user: &User) -> AuditRecord {
    AuditRecord {
        at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        kind,
        failure: None,
        actor: Some(user.id),
        target: Some(user.id),
        context: RequestContext::default(),
        details: Vec::new(),
    }
}

async fn kinds(repo: &TestRepo) -> Vec<AuditKind> {
    repo.chain(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.record.kind)
        .collect()
}

async fn raw_user(repo: &TestRepo, user: &User) -> Option<Document> {
    repo.database()
        .collection::<Document>(USERS_COLLECTION)
        .find_one(doc! { "_id": user.id.to_string() })
        .await
        .unwrap()
}

/// The trail "fails": its newest event cannot be read, so no append can chain after it.
async fn break_the_trail(repo: &TestRepo) {
    repo.database()
        .collection::<Document>(AUDIT_COLLECTION)
        .insert_one(doc! { "_id": i64::MAX, "garbage": true })
        .await
        .unwrap();
}

async fn repair_the_trail(repo: &TestRepo) {
    repo.database()
        .collection::<Document>(AUDIT_COLLECTION)
        .delete_one(doc! { "_id": i64::MAX })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_while_the_trail_fails_keeps_its_events_until_they_are_moved_once() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::fresh_repo(&uri).await;
    let user = sample_user("outboxed", Some("outboxed@example.org"));
    repo.insert(&user, &[event(AuditKind::UserCreated, &user)])
        .await
        .unwrap();
    assert_eq!(kinds(&repo).await, [AuditKind::UserCreated]);
    assert!(
        !raw_user(&repo, &user)
            .await
            .unwrap()
            .contains_key("_outbox"),
        "drained at once"
    );

    break_the_trail(&repo).await;
    let mut blocked = user.clone();
    blocked.blocked = true;
    blocked.version += 1;
    let update = Update {
        events: vec![event(AuditKind::UserBlocked, &user)],
        ..Update::new(&blocked, user.version)
    };
    repo.update(&update).await.expect("the change stands");
    assert_eq!(repo.get(user.id).await.unwrap(), Some(blocked.clone()));
    let stored = raw_user(&repo, &user).await.unwrap();
    assert_eq!(
        stored.get_array("_outbox").map(Vec::len).ok(),
        Some(1),
        "its event waits with it: {stored}"
    );
    // A deletion while the trail still fails: the user is gone for every read, its
    // document waits (marked) with its event.
    repo.delete(user.id, &[event(AuditKind::UserDeleted, &user)])
        .await
        .unwrap();
    assert_eq!(repo.get(user.id).await.unwrap(), None);
    assert!(repo.find_by_login(&user.login).await.unwrap().is_none());

    repair_the_trail(&repo).await;
    assert_eq!(repo.inner().sweep_outboxes().await.unwrap(), 1);
    assert_eq!(
        kinds(&repo).await,
        [
            AuditKind::UserCreated,
            AuditKind::UserBlocked,
            AuditKind::UserDeleted
        ]
    );
    assert!(
        raw_user(&repo, &user).await.is_none(),
        "deleted once drained"
    );
    assert_eq!(
        repo.inner().sweep_outboxes().await.unwrap(),
        0,
        "nothing left"
    );
    assert_eq!(kinds(&repo).await.len(), 3, "never moved twice");
    let report = audit_chain::verify(&repo).await.unwrap();
    assert_eq!((report.checked, report.broken), (3, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_already_in_the_trail_is_not_appended_again() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::fresh_repo(&uri).await;
    let user = sample_user("twice", None);
    repo.insert(&user, &[]).await.unwrap();
    let mut next = user.clone();
    next.version += 1;
    next.blocked = true;
    let update = Update {
        events: vec![event(AuditKind::UserBlocked, &user)],
        ..Update::new(&next, user.version)
    };
    repo.update(&update).await.unwrap();
    let appended = repo.chain(0, 10).await.unwrap();
    assert_eq!(appended.len(), 1);
    // A drain that appended, then died before removing the entry: the entry is back on
    // the document, as a crash would have left it.
    let entry = doc! {
        "oid": "replayed-entry",
        "events": [ doc! { "placeholder": true } ],
    };
    let users = repo.database().collection::<Document>(USERS_COLLECTION);
    let stored = repo
        .database()
        .collection::<Document>(AUDIT_COLLECTION)
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    let oid = stored.get_str("outbox_id").unwrap().to_owned();
    let (entry_oid, _) = oid.split_once('/').unwrap();
    let mut replayed = entry;
    replayed.insert("oid", entry_oid);
    let mut pending = stored.clone();
    for key in ["_id", "seq", "prev_hash", "hash", "outbox_id"] {
        pending.remove(key);
    }
    pending.insert("seq", 0_i64);
    pending.insert("prev_hash", "");
    pending.insert("hash", "");
    replayed.insert("events", vec![pending]);
    users
        .update_one(
            doc! { "_id": user.id.to_string() },
            doc! { "$push": { "_outbox": replayed } },
        )
        .await
        .unwrap();
    assert_eq!(repo.inner().sweep_outboxes().await.unwrap(), 1);
    assert_eq!(repo.chain(0, 10).await.unwrap().len(), 1, "appended once");
}
