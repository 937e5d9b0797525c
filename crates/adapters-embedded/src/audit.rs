//! The audit trail in the redb file: table `audit_events`, event number → the event's
//! stored form (`audit_chain::stored::StoredEvent`) as JSON; table `audit_by_user`,
//! (user, event number) for the actor and the target of each event; table
//! `audit_checkpoints`, event number → the stored form of its checkpoint
//! (`audit_chain::stored::StoredCheckpoint`) as JSON.
//!
//! Appends run in a write transaction, which redb runs one at a time: reading the last
//! event and writing the next cannot interleave with another append, so the chain has no
//! gap and no fork.
//!
//! Queries: without filters, a page is read straight from the end of `audit_events` and
//! the total is its length. A filter on a user (actor, target, or either) walks that user's
//! run of `audit_by_user` newest first and decodes only those events, so a history costs
//! the user's events, not the trail's. Type and time alone walk the whole trail, decoding
//! each event (an investigation over everything; rare).

use audit_chain::stored::{StoredCheckpoint, StoredEvent};
use domain::model::{AuditCheckpoint, AuditEvent, AuditFilter, AuditRecord, UserId};
use domain::ports::{Page, PageRequest, RepoError};
use redb::{
    ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};

use crate::tables::storage;

/// Event number → stored event (JSON).
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_events");

/// (user id, event number) for the actor and the target of every event.
const BY_USER: TableDefinition<(u128, u64), ()> = TableDefinition::new("audit_by_user");

/// Event number → the stored checkpoint of that event (JSON).
pub(crate) const CHECKPOINTS: TableDefinition<u64, &[u8]> =
    TableDefinition::new("audit_checkpoints");

/// Creates the trail's tables, in new files and in files from before the audit trail (an
/// addition, not a new table layout), so that read transactions always find them.
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), RepoError> {
    drop(txn.open_table(EVENTS).map_err(storage)?);
    drop(txn.open_table(BY_USER).map_err(storage)?);
    drop(txn.open_table(CHECKPOINTS).map_err(storage)?);
    Ok(())
}

fn user_key(id: UserId) -> u128 {
    id.as_uuid().as_u128()
}

fn encode(event: &AuditEvent) -> Result<Vec<u8>, RepoError> {
    serde_json::to_vec(&StoredEvent::from(event))
        .map_err(|e| RepoError::Other(format!("audit event {}: {e}", event.seq)))
}

fn decode(seq: u64, bytes: &[u8]) -> Result<AuditEvent, RepoError> {
    let stored: StoredEvent = serde_json::from_slice(bytes)
        .map_err(|e| RepoError::Other(format!("audit event {seq}: unreadable: {e}")))?;
    AuditEvent::try_from(stored)
}

/// Appends `record` after the last event, in the caller's write transaction.
pub(crate) fn append(
    txn: &WriteTransaction,
    record: &AuditRecord,
) -> Result<AuditEvent, RepoError> {
    let mut table = txn.open_table(EVENTS).map_err(storage)?;
    let last = match table.last().map_err(storage)? {
        Some((seq, bytes)) => Some(decode(seq.value(), bytes.value())?),
        None => None,
    };
    let event = audit_chain::next(last.as_ref().map(|e| (e.seq, e.hash.as_str())), record);
    table
        .insert(event.seq, encode(&event)?.as_slice())
        .map_err(storage)?;
    let mut by_user = txn.open_table(BY_USER).map_err(storage)?;
    for user in [record.actor, record.target].into_iter().flatten() {
        by_user
            .insert((user_key(user), event.seq), ())
            .map_err(storage)?;
    }
    Ok(event)
}

/// One page of the events `filter` matches, newest first.
pub(crate) fn find(
    txn: &ReadTransaction,
    filter: &AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditEvent>, RepoError> {
    let table = txn.open_table(EVENTS).map_err(storage)?;
    let load = |seq: u64| -> Result<AuditEvent, RepoError> {
        let bytes = table
            .get(seq)
            .map_err(storage)?
            .ok_or_else(|| RepoError::Other(format!("audit index names missing event {seq}")))?;
        decode(seq, bytes.value())
    };
    if *filter == AuditFilter::default() {
        let total = table.len().map_err(storage)?;
        let items = table
            .iter()
            .map_err(storage)?
            .rev()
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(page.limit as usize)
            .map(|entry| {
                let (seq, bytes) = entry.map_err(storage)?;
                decode(seq.value(), bytes.value())
            })
            .collect::<Result<_, _>>()?;
        return Ok(Page { items, total });
    }
    if let Some(user) = filter.involving.or(filter.actor).or(filter.target) {
        let by_user = txn.open_table(BY_USER).map_err(storage)?;
        let key = user_key(user);
        let events = by_user
            .range((key, 0)..=(key, u64::MAX))
            .map_err(storage)?
            .rev()
            .map(|entry| load(entry.map_err(storage)?.0.value().1));
        return audit_chain::page_of(events, filter, page);
    }
    let events = table.iter().map_err(storage)?.rev().map(|entry| {
        let (seq, bytes) = entry.map_err(storage)?;
        decode(seq.value(), bytes.value())
    });
    audit_chain::page_of(events, filter, page)
}

/// Up to `limit` events numbered above `after`, in order.
pub(crate) fn chain(
    txn: &ReadTransaction,
    after: u64,
    limit: u32,
) -> Result<Vec<AuditEvent>, RepoError> {
    let table = txn.open_table(EVENTS).map_err(storage)?;
    let Some(start) = after.checked_add(1) else {
        return Ok(Vec::new());
    };
    table
        .range(start..)
        .map_err(storage)?
        .take(limit as usize)
        .map(|entry| {
            let (seq, bytes) = entry.map_err(storage)?;
            decode(seq.value(), bytes.value())
        })
        .collect()
}

/// The checkpoint stored under `seq`, which must name that event: reads page by the key,
/// so a number edited inside the value must not pass for another checkpoint.
fn decode_checkpoint(seq: u64, bytes: &[u8]) -> Result<AuditCheckpoint, RepoError> {
    let stored: StoredCheckpoint = serde_json::from_slice(bytes)
        .map_err(|e| RepoError::Other(format!("audit checkpoint {seq}: unreadable: {e}")))?;
    let checkpoint = AuditCheckpoint::try_from(stored)?;
    if checkpoint.seq != seq {
        return Err(RepoError::Other(format!(
            "audit checkpoint {seq}: names event {} instead: the file was edited",
            checkpoint.seq
        )));
    }
    Ok(checkpoint)
}

/// Stores `checkpoint` unless its event has one, in the caller's write transaction.
pub(crate) fn save_checkpoint(
    txn: &WriteTransaction,
    checkpoint: &AuditCheckpoint,
) -> Result<bool, RepoError> {
    let mut table = txn.open_table(CHECKPOINTS).map_err(storage)?;
    if table.get(checkpoint.seq).map_err(storage)?.is_some() {
        return Ok(false);
    }
    let bytes = serde_json::to_vec(&StoredCheckpoint::from(checkpoint))
        .map_err(|e| RepoError::Other(format!("audit checkpoint {}: {e}", checkpoint.seq)))?;
    table
        .insert(checkpoint.seq, bytes.as_slice())
        .map_err(storage)?;
    Ok(true)
}

/// The checkpoint of the highest event number.
pub(crate) fn latest_checkpoint(
    txn: &ReadTransaction,
) -> Result<Option<AuditCheckpoint>, RepoError> {
    let table = txn.open_table(CHECKPOINTS).map_err(storage)?;
    match table.last().map_err(storage)? {
        Some((seq, bytes)) => decode_checkpoint(seq.value(), bytes.value()).map(Some),
        None => Ok(None),
    }
}

/// Up to `limit` checkpoints of events numbered above `after`, in order.
pub(crate) fn checkpoints(
    txn: &ReadTransaction,
    after: u64,
    limit: u32,
) -> Result<Vec<AuditCheckpoint>, RepoError> {
    let table = txn.open_table(CHECKPOINTS).map_err(storage)?;
    let Some(start) = after.checked_add(1) else {
        return Ok(Vec::new());
    };
    table
        .range(start..)
        .map_err(storage)?
        .take(limit as usize)
        .map(|entry| {
            let (seq, bytes) = entry.map_err(storage)?;
            decode_checkpoint(seq.value(), bytes.value())
        })
        .collect()
}
