//! The audit trail (`AuditLog`): numbering and links, exact round trips, the reference
//! filters newest first, chain reads, concurrent appends that still form one chain, and
//! checkpoints: exact round trips, in order, one per event however many try.

use std::sync::Arc;

use audit_chain::Verifier;
use domain::model::{
    AuditCheckpoint, AuditEvent, AuditFilter, AuditKind, AuditRecord, RequestContext, UserId,
};
use domain::ports::{AUDIT_GENESIS, AuditLog, UserRepository};
use time::OffsetDateTime;
use uuid::Uuid;

use super::concurrency::race;
use crate::support::page;

fn user(n: u128) -> UserId {
    UserId::from_uuid(Uuid::from_u128(0xa0d1_7000 + n))
}

/// A record at second `t` after a fixed instant, with milliseconds (every store keeps them).
fn record(t: i64, kind: AuditKind, actor: Option<UserId>, target: Option<UserId>) -> AuditRecord {
    AuditRecord {
        at: OffsetDateTime::from_unix_timestamp(1_800_000_000 + t).expect("valid time")
            + time::Duration::milliseconds(123),
        kind,
        failure: None,
        actor,
        target,
        context: RequestContext::default(),
        details: Vec::new(),
    }
}

async fn append_all<R: AuditLog + ?Sized>(log: &R, records: &[AuditRecord]) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    for record in records {
        events.push(log.append(record).await.expect("append"));
    }
    events
}

async fn whole_chain<R: AuditLog + ?Sized>(log: &R) -> Vec<AuditEvent> {
    log.chain(0, 1_000).await.expect("chain")
}

/// Case: appends are numbered from 1 and each links to the previous event's hash, computed
/// from the shared canonical form.
pub async fn audit_appends_are_numbered_and_linked<R, F, Fut>(make: F)
where
    R: UserRepository + AuditLog + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let log = make().await;
    let records = [
        record(0, AuditKind::UserCreated, None, Some(user(1))),
        record(1, AuditKind::LoginSucceeded, Some(user(1)), Some(user(1))),
        record(2, AuditKind::Logout, Some(user(1)), Some(user(1))),
    ];
    let events = append_all(&log, &records).await;
    let mut prev = AUDIT_GENESIS.to_owned();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.seq, i as u64 + 1, "numbering");
        assert_eq!(event.prev_hash, prev, "link of event {}", event.seq);
        assert_eq!(event.record, records[i]);
        assert_eq!(
            event.hash,
            audit_chain::hash(event.seq, &event.prev_hash, &event.record)
        );
        prev.clone_from(&event.hash);
    }
    assert_eq!(whole_chain(&log).await, events, "stored as returned");
}

/// Case: every field of an event reads back exactly, absent fields and awkward text included.
pub async fn audit_events_round_trip_every_field<R, F, Fut>(make: F)
where
    R: UserRepository + AuditLog + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let log = make().await;
    let full = AuditRecord {
        failure: Some("PERMISSION_DENIED".into()),
        context: RequestContext {
            request_id: Some("req-ÿ-1".into()),
            client_ip: Some("2001:db8::1".into()),
        },
        details: vec![
            ("fields".into(), "email,role".into()),
            ("note".into(), "zürich \u{1F600} \"quoted\" $gt {}".into()),
            ("empty".into(), String::new()),
        ],
        ..record(5, AuditKind::RoleChanged, Some(user(1)), Some(user(2)))
    };
    let bare = record(6, AuditKind::LoginFailed, None, None);
    let events = append_all(&log, &[full, bare]).await;
    assert_eq!(whole_chain(&log).await, events);
    let found = log
        .find(&AuditFilter::default(), page(0, 10))
        .await
        .expect("find");
    assert_eq!(found.items, [events[1].clone(), events[0].clone()]);
    assert_eq!(found.total, 2);
}

/// Case: `find` returns the events the reference `AuditFilter::matches` selects, newest
/// first, windowed, with the total.
pub async fn audit_find_filters_newest_first<R, F, Fut>(make: F)
where
    R: UserRepository + AuditLog + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let log = make().await;
    let (a, b, c) = (user(1), user(2), user(3));
    let records = [
        record(0, AuditKind::UserCreated, Some(a), Some(b)),
        record(10, AuditKind::LoginFailed, None, Some(b)),
        record(20, AuditKind::LoginSucceeded, Some(b), Some(b)),
        record(30, AuditKind::UserBlocked, Some(a), Some(c)),
        record(40, AuditKind::LoginFailed, None, None),
        record(50, AuditKind::UserUpdated, Some(c), Some(a)),
        record(60, AuditKind::LoginFailed, None, Some(c)),
    ];
    let events = append_all(&log, &records).await;
    let at = |t: i64| Some(records[0].at + time::Duration::seconds(t));
    let filters = [
        AuditFilter::default(),
        AuditFilter {
            actor: Some(a),
            ..AuditFilter::default()
        },
        AuditFilter {
            target: Some(b),
            ..AuditFilter::default()
        },
        AuditFilter {
            involving: Some(c),
            ..AuditFilter::default()
        },
        AuditFilter {
            kind: Some(AuditKind::LoginFailed),
            ..AuditFilter::default()
        },
        AuditFilter {
            from: at(10),
            to: at(50),
            ..AuditFilter::default()
        },
        AuditFilter {
            involving: Some(b),
            kind: Some(AuditKind::LoginFailed),
            from: at(5),
            ..AuditFilter::default()
        },
        AuditFilter {
            actor: Some(user(9)),
            ..AuditFilter::default()
        },
    ];
    for filter in &filters {
        let expected: Vec<AuditEvent> = events
            .iter()
            .rev()
            .filter(|e| filter.matches(&e.record))
            .cloned()
            .collect();
        let found = log.find(filter, page(0, 100)).await.expect("find");
        assert_eq!(found.items, expected, "{filter:?}");
        assert_eq!(found.total, expected.len() as u64, "{filter:?}");
    }
    let window = log
        .find(&AuditFilter::default(), page(2, 3))
        .await
        .expect("find");
    let seqs: Vec<u64> = window.items.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [5, 4, 3]);
    assert_eq!(window.total, 7);
    let beyond = log
        .find(&AuditFilter::default(), page(7, 3))
        .await
        .expect("find");
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, 7);
}

/// Case: `chain` reads the events numbered above `after`, in order, at most `limit`.
pub async fn audit_chain_reads_in_order_after_a_number<R, F, Fut>(make: F)
where
    R: UserRepository + AuditLog + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let log = make().await;
    assert!(log.chain(0, 10).await.expect("chain").is_empty());
    let records: Vec<AuditRecord> = (0..5)
        .map(|t| record(t, AuditKind::Logout, Some(user(1)), Some(user(1))))
        .collect();
    let events = append_all(&log, &records).await;
    assert_eq!(log.chain(2, 2).await.expect("chain"), events[2..4]);
    assert_eq!(log.chain(3, 100).await.expect("chain"), events[3..]);
    assert!(log.chain(5, 10).await.expect("chain").is_empty());
    assert!(log.chain(0, 0).await.expect("chain").is_empty());
    assert!(log.chain(u64::MAX, 10).await.expect("chain").is_empty());
}

/// Case: concurrent appends get distinct, consecutive numbers and form one valid chain.
pub async fn concurrent_audit_appends_form_one_chain<R, F, Fut>(make: F)
where
    R: UserRepository + AuditLog + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    const RACERS: usize = 20;
    let log = Arc::new(make().await);
    let outcomes = race(RACERS, |i| {
        let log = Arc::clone(&log);
        let record = record(
            i as i64,
            AuditKind::LoginFailed,
            None,
            Some(user(i as u128)),
        );
        async move { log.append(&record).await }
    })
    .await;
    let mut seqs: Vec<u64> = outcomes
        .into_iter()
        .map(|outcome| outcome.expect("append").seq)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=RACERS as u64).collect::<Vec<_>>());
    let mut verifier = Verifier::new();
    for event in whole_chain(&*log).await {
        verifier
            .check(&event)
            .unwrap_or_else(|broken| panic!("{broken}"));
    }
    assert_eq!(verifier.checked(), RACERS as u64);
}

/// A checkpoint of event `seq`; stores check no signature, so any text does.
fn checkpoint(seq: u64, signature: &str) -> AuditCheckpoint {
    AuditCheckpoint {
        seq,
        hash: format!("{seq:064x}"),
        at: OffsetDateTime::from_unix_timestamp(1_800_000_000 + seq as i64).expect("valid time")
            + time::Duration::milliseconds(456),
        key_id: "hs256-contract-ÿ".to_owned(),
        signature: signature.to_owned(),
    }
}

/// Case: checkpoints read back exactly, the latest is the one of the highest event, and
/// `checkpoints` reads them by increasing event number after a number, at most `limit`.
pub async fn audit_checkpoints_round_trip_in_event_order<R, F, Fut>(make: F)
where
    R: UserRepository + AuditLog + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let log = make().await;
    assert_eq!(log.latest_checkpoint().await.expect("latest"), None);
    assert!(
        log.checkpoints(0, 10)
            .await
            .expect("checkpoints")
            .is_empty()
    );
    let saved = [
        checkpoint(200, "c"),
        checkpoint(100, "a"),
        checkpoint(150, "b"),
    ];
    for c in &saved {
        assert!(log.save_checkpoint(c).await.expect("save"), "{c:?}");
    }
    let in_order = [saved[1].clone(), saved[2].clone(), saved[0].clone()];
    assert_eq!(
        log.latest_checkpoint().await.expect("latest"),
        Some(saved[0].clone())
    );
    assert_eq!(log.checkpoints(0, 10).await.expect("checkpoints"), in_order);
    assert_eq!(
        log.checkpoints(100, 1).await.expect("checkpoints"),
        in_order[1..2]
    );
    assert_eq!(
        log.checkpoints(149, 10).await.expect("checkpoints"),
        in_order[1..]
    );
    assert!(
        log.checkpoints(200, 10)
            .await
            .expect("checkpoints")
            .is_empty()
    );
    assert!(log.checkpoints(0, 0).await.expect("checkpoints").is_empty());
    assert!(
        log.checkpoints(u64::MAX, 10)
            .await
            .expect("checkpoints")
            .is_empty()
    );
    // Checkpoints are not events.
    assert!(whole_chain(&log).await.is_empty());
}

/// Case: a second checkpoint of one event is refused (`false`) and the first one stays.
pub async fn audit_a_second_checkpoint_of_one_event_keeps_the_first<R, F, Fut>(make: F)
where
    R: UserRepository + AuditLog + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let log = make().await;
    let first = checkpoint(7, "first");
    let mut second = checkpoint(7, "second");
    second.at += time::Duration::seconds(1);
    assert!(log.save_checkpoint(&first).await.expect("save"));
    assert!(!log.save_checkpoint(&second).await.expect("save"));
    assert_eq!(
        log.latest_checkpoint().await.expect("latest"),
        Some(first.clone())
    );
    assert_eq!(log.checkpoints(0, 10).await.expect("checkpoints"), [first]);
}

/// Case: of concurrent checkpoints of one event exactly one is stored, and it is the one
/// that was told so.
pub async fn concurrent_checkpoints_of_one_event_store_one<R, F, Fut>(make: F)
where
    R: UserRepository + AuditLog + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    const RACERS: usize = 10;
    let log = Arc::new(make().await);
    let outcomes = race(RACERS, |i| {
        let log = Arc::clone(&log);
        let checkpoint = checkpoint(42, &format!("racer-{i}"));
        async move {
            let stored = log.save_checkpoint(&checkpoint).await.expect("save");
            (stored, checkpoint)
        }
    })
    .await;
    let winners: Vec<AuditCheckpoint> = outcomes
        .into_iter()
        .filter_map(|(stored, checkpoint)| stored.then_some(checkpoint))
        .collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(log.checkpoints(0, 100).await.expect("checkpoints"), winners);
}
