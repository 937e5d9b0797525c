//! The audit trail in collection `audit_events`: one document per event, `_id` the event's
//! number, the other fields `audit_chain::stored::StoredEvent` (times as Unix milliseconds).
//!
//! Appending reads the newest event and inserts the next with `_id` one higher: `_id` is
//! unique on every server, so of two appends racing for one number (another replica) one
//! is refused as a duplicate and tries again on the new newest event. No gap, no fork,
//! without transactions (FerretDB has none). Within this process appends take turns, so
//! they never race each other. Indexes for the filters: migration `0003`.
//!
//! Checkpoints live in collection `audit_checkpoints`, `_id` the number of the event each
//! names, so a second checkpoint of one event is a duplicate key and the first stays. Reads
//! go by `_id` alone, whose index every collection has: no migration.

use audit_chain::stored::StoredEvent;
use bson::{Bson, Document, doc};
use domain::model::{AuditEvent, AuditFilter, AuditRecord};
use domain::ports::RepoError;
use mongodb::Collection;
use tokio::sync::Mutex;

use crate::error::{WriteError, repo_error};

/// Appends tried when other replicas keep taking the next number.
const APPEND_ATTEMPTS: usize = 10;

fn to_document(event: &AuditEvent) -> Result<Document, RepoError> {
    let stored = StoredEvent::from(event);
    let mut document = bson::serialize_to_document(&stored)
        .map_err(|e| RepoError::Other(format!("audit event {}: {e}", event.seq)))?;
    document.insert("_id", Bson::Int64(stored.seq));
    Ok(document)
}

/// A record not yet in the chain (an outbox entry's event), in the stored form of an event
/// numbered 0 with no hashes.
pub(crate) fn record_document(record: &AuditRecord) -> Result<Document, RepoError> {
    let pending = AuditEvent {
        seq: 0,
        record: record.clone(),
        prev_hash: String::new(),
        hash: String::new(),
    };
    bson::serialize_to_document(&StoredEvent::from(&pending))
        .map_err(|e| RepoError::Other(format!("audit record: {e}")))
}

/// The record of [`record_document`]'s form.
pub(crate) fn record_from_document(document: Document) -> Result<AuditRecord, RepoError> {
    let stored: StoredEvent = bson::deserialize_from_document(document)
        .map_err(|e| RepoError::Other(format!("pending audit record: unreadable: {e}")))?;
    Ok(AuditEvent::try_from(stored)?.record)
}

/// The field of an event appended from an outbox entry: the entry's id and the event's
/// place in it, unique (migration `0004`), so that no drain appends it twice.
const OUTBOX_ID: &str = "outbox_id";

/// Appends `record` as the next event, once: when `once` is given and an event with that
/// outbox id is already in the trail, appends nothing.
///
/// Reads the newest event and inserts the next with `_id` one higher: `_id` is unique on
/// every server, so of two appends racing for one number (another replica) one is refused
/// as a duplicate and tries again on the new newest event. Within this process appends
/// take turns (`turn`).
pub(crate) async fn append_once(
    audit: &Collection<Document>,
    turn: &Mutex<()>,
    record: &AuditRecord,
    once: &str,
) -> Result<(), RepoError> {
    append_to(audit, turn, record, Some(once)).await.map(drop)
}

pub(crate) async fn append_to(
    audit: &Collection<Document>,
    turn: &Mutex<()>,
    record: &AuditRecord,
    once: Option<&str>,
) -> Result<Option<AuditEvent>, RepoError> {
    let _turn = turn.lock().await;
    for _ in 0..APPEND_ATTEMPTS {
        if let Some(once) = once {
            let done = audit
                .find_one(doc! { OUTBOX_ID: once })
                .projection(doc! { "_id": 1 })
                .await
                .map_err(|e| repo_error(&e))?;
            if done.is_some() {
                return Ok(None);
            }
        }
        let last = audit
            .find_one(doc! {})
            .sort(doc! { "_id": -1 })
            .await
            .map_err(|e| repo_error(&e))?
            .map(from_document)
            .transpose()?;
        let event = audit_chain::next(last.as_ref().map(|e| (e.seq, e.hash.as_str())), record);
        let mut document = to_document(&event)?;
        if let Some(once) = once {
            document.insert(OUTBOX_ID, once);
        }
        match audit.insert_one(document).await {
            Ok(_) => return Ok(Some(event)),
            Err(e) => match WriteError::from(e) {
                WriteError::Duplicate(_) => continue,
                WriteError::Repo(e) => return Err(e),
            },
        }
    }
    Err(RepoError::Unavailable(
        "audit append kept losing the race for the next event number".to_owned(),
    ))
}

pub(crate) fn from_document(mut document: Document) -> Result<AuditEvent, RepoError> {
    document.remove(OUTBOX_ID);
    let seq = document.get("_id").cloned().unwrap_or(Bson::Null);
    let stored: StoredEvent = bson::deserialize_from_document(document)
        .map_err(|e| RepoError::Other(format!("audit event {seq}: unreadable: {e}")))?;
    AuditEvent::try_from(stored)
}

/// The filter's query. Ids are stored as canonical text, times as milliseconds.
pub(crate) fn query(filter: &AuditFilter) -> Document {
    let mut query = Document::new();
    if let Some(actor) = filter.actor {
        query.insert("actor", actor.to_string());
    }
    if let Some(target) = filter.target {
        query.insert("target", target.to_string());
    }
    if let Some(user) = filter.involving {
        let user = user.to_string();
        query.insert(
            "$or",
            vec![doc! { "actor": &user }, doc! { "target": &user }],
        );
    }
    if let Some(kind) = filter.kind {
        query.insert("kind", kind.code());
    }
    let mut at = Document::new();
    if let Some(from) = filter.from {
        at.insert("$gte", audit_chain::stored::millis(from));
    }
    if let Some(to) = filter.to {
        at.insert("$lt", audit_chain::stored::millis(to));
    }
    if !at.is_empty() {
        query.insert("at_ms", at);
    }
    query
}

// Checkpoints (see the module's documentation).

pub(crate) fn checkpoint_document(
    checkpoint: &domain::model::AuditCheckpoint,
) -> Result<Document, RepoError> {
    let stored = audit_chain::stored::StoredCheckpoint::from(checkpoint);
    let mut document = bson::serialize_to_document(&stored)
        .map_err(|e| RepoError::Other(format!("audit checkpoint {}: {e}", checkpoint.seq)))?;
    document.insert("_id", Bson::Int64(stored.seq));
    Ok(document)
}

/// The checkpoint of a document, which must name the event of its `_id`: reads page by
/// `_id`, so a number edited in the document must not pass for another checkpoint.
pub(crate) fn checkpoint_from(
    document: Document,
) -> Result<domain::model::AuditCheckpoint, RepoError> {
    let id = document.get("_id").cloned().unwrap_or(Bson::Null);
    let stored: audit_chain::stored::StoredCheckpoint =
        bson::deserialize_from_document(document)
            .map_err(|e| RepoError::Other(format!("audit checkpoint {id}: unreadable: {e}")))?;
    if id != Bson::Int64(stored.seq) {
        return Err(RepoError::Other(format!(
            "audit checkpoint {id}: names event {} instead: the collection was edited",
            stored.seq
        )));
    }
    domain::model::AuditCheckpoint::try_from(stored)
}
