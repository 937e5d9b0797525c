//! The audit trail in the file: it survives reopening, and an event altered or removed
//! behind the store's back is found by verification at the right event; so are its newest
//! events removed after a checkpoint, and a checkpoint altered in the file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use adapters_embedded::EmbeddedUserRepository;
use adapters_embedded::tampering::{alter_checkpoint, alter_event, remove_event, truncate_trail};
use audit_chain::checkpoint::{CheckpointKey, Keyring};
use audit_chain::{Break, BrokenLink, Finding};
use domain::model::{AuditKind, AuditRecord, RequestContext, UserId};
use domain::ports::CheckpointSigner;
use domain::ports::{AuditLog, RepoError};
use time::OffsetDateTime;
use uuid::Uuid;

async fn trail_of_four(path: &Path) {
    let repo = EmbeddedUserRepository::open(path).unwrap();
    for i in 0..4u8 {
        let record = AuditRecord {
            at: OffsetDateTime::from_unix_timestamp(1_800_000_000 + i64::from(i)).unwrap(),
            kind: AuditKind::LoginFailed,
            failure: Some("INVALID_CREDENTIALS".into()),
            actor: None,
            target: Some(UserId::from_uuid(Uuid::from_u128(u128::from(i)))),
            context: RequestContext::default(),
            details: Vec::new(),
        };
        repo.append(&record).await.unwrap();
    }
}

async fn verify(path: &Path) -> audit_chain::Report {
    let repo = EmbeddedUserRepository::open(path).unwrap();
    audit_chain::verify(&repo).await.unwrap()
}

#[tokio::test]
async fn the_trail_survives_reopening_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.redb");
    trail_of_four(&path).await;
    let report = verify(&path).await;
    assert_eq!(report.checked, 4);
    assert_eq!(report.broken, None);
}

#[tokio::test]
async fn an_altered_event_is_reported_at_that_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.redb");
    trail_of_four(&path).await;
    alter_event(&path, 2, |json| {
        json["failure"] = serde_json::Value::Null;
    })
    .unwrap();
    let report = verify(&path).await;
    assert_eq!(report.checked, 1);
    assert_eq!(
        report.broken,
        Some(BrokenLink {
            seq: 2,
            reason: Break::Content
        })
    );
}

#[tokio::test]
async fn a_removed_event_is_reported_where_it_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.redb");
    trail_of_four(&path).await;
    remove_event(&path, 3).unwrap();
    let report = verify(&path).await;
    assert_eq!(report.checked, 2);
    assert_eq!(
        report.broken,
        Some(BrokenLink {
            seq: 4,
            reason: Break::Numbering { expected: 3 }
        })
    );
}

#[tokio::test]
async fn a_cut_end_and_an_altered_checkpoint_are_found_through_the_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.redb");
    trail_of_four(&path).await;
    let key = CheckpointKey::hmac(b"embedded-test-secret-of-32-bytes!!");
    let mut keys = Keyring::new();
    keys.add(key.verifying_key());
    let head = {
        let repo = EmbeddedUserRepository::open(&path).unwrap();
        let head = repo.chain(3, 1).await.unwrap().remove(0);
        let checkpoint = key.sign(head.seq, &head.hash, head.record.at);
        assert!(repo.save_checkpoint(&checkpoint).await.unwrap());
        head
    };
    let verify = || async {
        let repo = EmbeddedUserRepository::open(&path).unwrap();
        audit_chain::verify_with(&repo, &keys, None).await.unwrap()
    };
    let intact = verify().await;
    assert!(intact.is_intact(), "{intact:?}");
    assert_eq!(intact.confirmed, 1);

    assert_eq!(truncate_trail(&path, 2).unwrap(), 2);
    let cut = verify().await;
    assert_eq!(cut.broken, None);
    assert_eq!(
        cut.findings,
        [Finding::Truncated {
            seq: 4,
            hash: head.hash.clone(),
            end: 2
        }]
    );

    alter_checkpoint(&path, 4, |json| {
        json["hash"] = serde_json::json!("0".repeat(64));
    })
    .unwrap();
    let forged = verify().await;
    assert_eq!(
        forged.findings,
        [Finding::ForgedCheckpoint {
            seq: 4,
            key_id: key.key_id()
        }]
    );

    // Reads go by the key: a checkpoint renumbered inside its value is a damaged file.
    alter_checkpoint(&path, 4, |json| {
        json["seq"] = serde_json::json!(2);
    })
    .unwrap();
    let repo = EmbeddedUserRepository::open(&path).unwrap();
    let damaged = audit_chain::verify_with(&repo, &keys, None).await;
    assert!(
        matches!(&damaged, Err(RepoError::Other(m)) if m.contains("names event 2 instead")),
        "{damaged:?}"
    );
}
