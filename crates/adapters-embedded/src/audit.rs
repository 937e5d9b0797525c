//! The audit trail in the redb file: table `audit_events`, event number → the event's
//! stored form (`audit_chain::stored::StoredEvent`) as JSON.
//!
//! Appends run in a write transaction, which redb runs one at a time: reading the last
//! event and writing the next cannot interleave with another append, so the chain has no
//! gap and no fork. Queries walk the table from the newest event and decode each one; the
//! trail of a service is read by administrators now and then, not per request.

use audit_chain::stored::StoredEvent;
use domain::model::{AuditEvent, AuditFilter, AuditRecord};
use domain::ports::{Page, PageRequest, RepoError};
use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use crate::tables::storage;

/// Event number → stored event (JSON).
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_events");

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
    Ok(event)
}

/// One page of the events `filter` matches, newest first.
pub(crate) fn find(
    txn: &ReadTransaction,
    filter: &AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditEvent>, RepoError> {
    let table = txn.open_table(EVENTS).map_err(storage)?;
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
