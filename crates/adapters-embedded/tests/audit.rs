//! The audit trail in the file: it survives reopening, and an event altered or removed
//! behind the store's back is found by verification at the right event.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use adapters_embedded::EmbeddedUserRepository;
use adapters_embedded::tampering::{alter_event, remove_event};
use audit_chain::{Break, BrokenLink};
use domain::model::{AuditKind, AuditRecord, RequestContext, UserId};
use domain::ports::AuditLog;
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
