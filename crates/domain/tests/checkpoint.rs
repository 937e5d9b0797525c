//! Checkpoints of the audit trail as the use case makes them: of the head, once per head,
//! every N events however many processes share the store, never over a trail that ends
//! before its last checkpoint; signed so that `audit-chain` verifies them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::num::NonZeroU64;
use std::sync::Arc;

use adapters_memory::InMemoryUserRepository;
use audit_chain::checkpoint::{CheckpointKey, Keyring, Signature};
use domain::model::{AuditCheckpoint, AuditEvent, AuditKind, AuditRecord, RequestContext};
use domain::ports::{AuditLog, CheckpointSigner, Clock};
use domain::service::checkpoint::{AuditCheckpoints, CheckpointOutcome};
use time::OffsetDateTime;

const SECRET: &[u8] = b"test-secret-0123456789abcdef-0123456789abcdef";

/// A clock at a fixed instant with sub-millisecond digits, which checkpoints must drop.
struct Fixed;

impl Clock for Fixed {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(1_800_000_000_123_456_789).unwrap()
    }
}

fn use_case(store: &Arc<InMemoryUserRepository>) -> AuditCheckpoints {
    let audit: Arc<dyn AuditLog> = store.clone();
    AuditCheckpoints::new(
        audit,
        Arc::new(CheckpointKey::hmac(SECRET)),
        Arc::new(Fixed),
    )
}

async fn append(store: &InMemoryUserRepository, n: usize) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    for _ in 0..n {
        let record = AuditRecord {
            at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            kind: AuditKind::LoginFailed,
            failure: Some("INVALID_CREDENTIALS".into()),
            actor: None,
            target: None,
            context: RequestContext::default(),
            details: Vec::new(),
        };
        events.push(store.append(&record).await.unwrap());
    }
    events
}

fn made(outcome: CheckpointOutcome) -> AuditCheckpoint {
    match outcome {
        CheckpointOutcome::Made(checkpoint) => checkpoint,
        other => panic!("expected a new checkpoint, got {other:?}"),
    }
}

#[tokio::test]
async fn an_empty_trail_has_nothing_to_checkpoint() {
    let store = Arc::new(InMemoryUserRepository::new());
    let checkpoints = use_case(&store);
    assert_eq!(
        checkpoints.checkpoint().await.unwrap(),
        CheckpointOutcome::EmptyTrail
    );
    let every = NonZeroU64::new(1).unwrap();
    assert_eq!(
        checkpoints.checkpoint_if_due(every).await.unwrap(),
        CheckpointOutcome::NotDue
    );
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);
}

#[tokio::test]
async fn a_checkpoint_names_the_head_once_and_verifies() {
    let store = Arc::new(InMemoryUserRepository::new());
    let checkpoints = use_case(&store);
    let events = append(&store, 3).await;
    let checkpoint = made(checkpoints.checkpoint().await.unwrap());
    assert_eq!((checkpoint.seq, &checkpoint.hash), (3, &events[2].hash));
    assert_eq!(
        checkpoint.at.nanosecond(),
        123_000_000,
        "whole milliseconds"
    );
    assert_eq!(checkpoint.key_id, CheckpointKey::hmac(SECRET).key_id());
    assert_eq!(
        store.latest_checkpoint().await.unwrap(),
        Some(checkpoint.clone())
    );
    let mut keys = Keyring::new();
    keys.add(CheckpointKey::hmac(SECRET).verifying_key());
    assert_eq!(keys.check(&checkpoint), Signature::Valid);

    assert_eq!(
        checkpoints.checkpoint().await.unwrap(),
        CheckpointOutcome::Current(checkpoint),
        "the head has one already"
    );
    append(&store, 1).await;
    assert_eq!(made(checkpoints.checkpoint().await.unwrap()).seq, 4);
}

#[tokio::test]
async fn periodic_checkpoints_come_every_n_events() {
    let store = Arc::new(InMemoryUserRepository::new());
    let checkpoints = use_case(&store);
    let every = NonZeroU64::new(5).unwrap();
    let due = || checkpoints.checkpoint_if_due(every);
    append(&store, 4).await;
    assert_eq!(due().await.unwrap(), CheckpointOutcome::NotDue);
    append(&store, 1).await;
    assert_eq!(made(due().await.unwrap()).seq, 5);
    append(&store, 4).await;
    assert_eq!(due().await.unwrap(), CheckpointOutcome::NotDue);
    // Several events at once: the checkpoint names the head, not event 10.
    append(&store, 3).await;
    assert_eq!(made(due().await.unwrap()).seq, 12);
    assert_eq!(due().await.unwrap(), CheckpointOutcome::NotDue);
}

#[tokio::test]
async fn another_processs_checkpoint_counts() {
    let store = Arc::new(InMemoryUserRepository::new());
    let ours = use_case(&store);
    let theirs = use_case(&store);
    let every = NonZeroU64::new(5).unwrap();
    append(&store, 5).await;
    assert_eq!(made(theirs.checkpoint_if_due(every).await.unwrap()).seq, 5);
    assert!(matches!(
        ours.checkpoint_if_due(every).await.unwrap(),
        CheckpointOutcome::NotDue
    ));
    append(&store, 3).await;
    assert_eq!(made(theirs.checkpoint().await.unwrap()).seq, 8);
    append(&store, 3).await;
    assert_eq!(
        ours.checkpoint_if_due(every).await.unwrap(),
        CheckpointOutcome::NotDue,
        "11 events, the last checkpoint at 8"
    );
    append(&store, 2).await;
    assert_eq!(made(ours.checkpoint_if_due(every).await.unwrap()).seq, 13);
}

#[tokio::test]
async fn a_trail_behind_its_last_checkpoint_is_never_signed_over() {
    let events = {
        let elsewhere = InMemoryUserRepository::new();
        append(&elsewhere, 8).await
    };
    let key = CheckpointKey::hmac(SECRET);

    // The last checkpoint names event 8; the trail ends at 5: it was cut.
    let store = Arc::new(InMemoryUserRepository::new());
    let kept = append(&store, 5).await;
    let beyond = key.sign(8, &events[7].hash, Fixed.now());
    assert!(store.save_checkpoint(&beyond).await.unwrap());
    assert_eq!(
        use_case(&store).checkpoint().await.unwrap(),
        CheckpointOutcome::Contradicted {
            checkpoint: beyond.clone(),
            head: Box::new(kept[4].clone())
        }
    );

    // The last checkpoint names the head's number with another hash: it was rewritten.
    let store = Arc::new(InMemoryUserRepository::new());
    let head = append(&store, 5).await.pop().unwrap();
    let other = key.sign(5, &"f".repeat(64), Fixed.now());
    assert!(store.save_checkpoint(&other).await.unwrap());
    assert!(matches!(
        use_case(&store).checkpoint().await.unwrap(),
        CheckpointOutcome::Contradicted { head: h, .. } if *h == head
    ));
    assert_eq!(store.checkpoints(0, 10).await.unwrap(), [other]);
}
