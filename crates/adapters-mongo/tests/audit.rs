//! The audit trail's documents: `_id` is the event number, and an event altered or removed
//! in the collection behind the store's back is found by verification at the right event;
//! so are the newest events removed after a checkpoint, and a checkpoint edited in its
//! collection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use adapters_mongo::{AUDIT_COLLECTION, CHECKPOINT_COLLECTION};
use audit_chain::checkpoint::{CheckpointKey, Keyring};
use audit_chain::{Break, BrokenLink, Finding};
use bson::{Bson, Document, doc};
use domain::model::{AuditKind, AuditRecord, RequestContext, UserId};
use domain::ports::AuditLog;
use domain::ports::CheckpointSigner;
use mongodb::Collection;
use time::OffsetDateTime;
use uuid::Uuid;

use support::TestRepo;

async fn trail_of_four() -> Option<TestRepo> {
    let uri = support::server_uri()?;
    let repo = support::fresh_repo(&uri).await;
    for i in 0..4u8 {
        let record = AuditRecord {
            at: OffsetDateTime::from_unix_timestamp(1_800_000_000 + i64::from(i)).unwrap(),
            kind: AuditKind::UserUpdated,
            failure: None,
            actor: Some(UserId::from_uuid(Uuid::from_u128(7))),
            target: Some(UserId::from_uuid(Uuid::from_u128(u128::from(i)))),
            context: RequestContext::default(),
            details: vec![("fields".into(), "role".into())],
        };
        repo.append(&record).await.unwrap();
    }
    Some(repo)
}

fn events(repo: &TestRepo) -> Collection<Document> {
    repo.database().collection(AUDIT_COLLECTION)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_numbered_by_id_and_verify() {
    let Some(repo) = trail_of_four().await else {
        return;
    };
    let second = events(&repo)
        .find_one(doc! { "_id": 2_i64 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.get("seq"), Some(&Bson::Int64(2)));
    assert_eq!(second.get_str("kind").unwrap(), "USER_UPDATED");
    let report = audit_chain::verify(&repo).await.unwrap();
    assert_eq!((report.checked, report.broken), (4, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_event_is_reported_at_that_event() {
    let Some(repo) = trail_of_four().await else {
        return;
    };
    events(&repo)
        .update_one(
            doc! { "_id": 3_i64 },
            doc! { "$set": { "details": [ { "name": "fields", "value": "full_name" } ] } },
        )
        .await
        .unwrap();
    let report = audit_chain::verify(&repo).await.unwrap();
    assert_eq!(report.checked, 2);
    assert_eq!(
        report.broken,
        Some(BrokenLink {
            seq: 3,
            reason: Break::Content
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_event_is_reported_where_it_is_missing() {
    let Some(repo) = trail_of_four().await else {
        return;
    };
    events(&repo)
        .delete_one(doc! { "_id": 1_i64 })
        .await
        .unwrap();
    let report = audit_chain::verify(&repo).await.unwrap();
    assert_eq!(report.checked, 0);
    assert_eq!(
        report.broken,
        Some(BrokenLink {
            seq: 2,
            reason: Break::Numbering { expected: 1 }
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_end_and_an_edited_checkpoint_are_found_through_the_checkpoints() {
    let Some(repo) = trail_of_four().await else {
        return;
    };
    let key = CheckpointKey::hmac(b"mongo-test-secret-of-32-bytes!!!!!");
    let mut keys = Keyring::new();
    keys.add(key.verifying_key());
    let head = repo.chain(3, 1).await.unwrap().remove(0);
    assert!(
        repo.save_checkpoint(&key.sign(head.seq, &head.hash, head.record.at))
            .await
            .unwrap()
    );
    let stored = repo
        .database()
        .collection::<Document>(CHECKPOINT_COLLECTION)
        .find_one(doc! { "_id": 4_i64 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_str("key_id").unwrap(), key.key_id());
    let intact = audit_chain::verify_with(&repo, &keys, None).await.unwrap();
    assert!(intact.is_intact(), "{intact:?}");

    events(&repo)
        .delete_many(doc! { "_id": { "$gt": 2_i64 } })
        .await
        .unwrap();
    let cut = audit_chain::verify_with(&repo, &keys, None).await.unwrap();
    assert_eq!(cut.broken, None);
    assert_eq!(
        cut.findings,
        [Finding::Truncated {
            seq: 4,
            hash: head.hash.clone(),
            end: 2
        }]
    );

    repo.database()
        .collection::<Document>(CHECKPOINT_COLLECTION)
        .update_one(
            doc! { "_id": 4_i64 },
            doc! { "$set": { "hash": "0".repeat(64) } },
        )
        .await
        .unwrap();
    let forged = audit_chain::verify_with(&repo, &keys, None).await.unwrap();
    assert_eq!(
        forged.findings,
        [Finding::ForgedCheckpoint {
            seq: 4,
            key_id: key.key_id()
        }]
    );
}
