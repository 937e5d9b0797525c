//! The audit events of a write, kept on the user's document until they are in the trail:
//! MongoDB (and FerretDB) have no transaction spanning a user and the `audit_events`
//! collection, but a write to one document is atomic on MongoDB, so a change and its
//! events are stored together or not at all.
//!
//! A write pushes one entry `{oid, events: [...]}` onto the document's `_outbox` array in
//! the same update as the change; right after, [`Outbox::drain`] appends the entry's events
//! to the trail and removes the entry (`$pullAll` of the exact entry read: FerretDB 1.x has
//! no `$pull`). An event appended carries the entry's `oid` (`outbox_id`), so a drain
//! interrupted between the append and the removal, or two replicas draining one document,
//! never append it twice. A deletion first marks the document `_deleted` (with its event in
//! the outbox; every read ignores such a document), and the drain removes it once its
//! events are in the trail.
//!
//! What a crash leaves behind — entries on documents, `_deleted` documents — is finished by
//! [`Outbox::sweep`], which the service runs at start-up and then periodically.

use bson::{Bson, Document, doc};
use domain::model::{AuditRecord, UserId};
use domain::ports::RepoError;
use futures::TryStreamExt;
use mongodb::Collection;
use tokio::sync::Mutex;

use crate::audit;
use crate::document::{field, id_key};
use crate::error::repo_error;
use crate::query;

/// The collections a drain works on, and this process's turn of audit appends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outbox<'a> {
    pub(crate) users: &'a Collection<Document>,
    pub(crate) audit: &'a Collection<Document>,
    pub(crate) audit_turn: &'a Mutex<()>,
}

/// Documents a sweep drains at most per call: bounds its memory; the next sweep goes on.
const SWEEP_BATCH: i64 = 1000;

/// The `_outbox` entry of one write carrying `records`; `None` when there are none.
pub(crate) fn entry(records: &[AuditRecord]) -> Result<Option<Document>, RepoError> {
    if records.is_empty() {
        return Ok(None);
    }
    let events = records
        .iter()
        .map(|record| audit::record_document(record).map(Bson::Document))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(doc! {
        "oid": uuid::Uuid::new_v4().hyphenated().to_string(),
        "events": events,
    }))
}

/// `operators` with the push of `entry`, when there is one.
pub(crate) fn pushing(mut operators: Document, entry: Option<&Document>) -> Document {
    if let Some(entry) = entry {
        operators.insert("$push", doc! { field::OUTBOX: entry.clone() });
    }
    operators
}

impl Outbox<'_> {
    /// Moves the pending events of user `id` to the trail, then removes a `_deleted`
    /// document. Safe to repeat and to run from several processes at once.
    pub(crate) async fn drain(&self, id: UserId) -> Result<(), RepoError> {
        let found = self
            .users
            .find_one(query::by_id(id))
            .projection(doc! { field::OUTBOX: 1, field::DELETED: 1 })
            .await
            .map_err(|e| repo_error(&e))?;
        let Some(document) = found else {
            return Ok(());
        };
        self.drain_document(id, &document).await
    }

    async fn drain_document(&self, id: UserId, document: &Document) -> Result<(), RepoError> {
        let entries = match document.get(field::OUTBOX) {
            Some(Bson::Array(entries)) => entries.clone(),
            _ => Vec::new(),
        };
        for entry in &entries {
            let Bson::Document(entry) = entry else {
                return Err(corrupt(id, "an entry is not a document"));
            };
            let oid = entry
                .get_str("oid")
                .map_err(|_| corrupt(id, "an entry has no oid"))?;
            let Ok(events) = entry.get_array("events") else {
                return Err(corrupt(id, "an entry has no events"));
            };
            for (index, event) in events.iter().enumerate() {
                let Bson::Document(event) = event else {
                    return Err(corrupt(id, "an event is not a document"));
                };
                let record = audit::record_from_document(event.clone())?;
                let once = format!("{oid}/{index}");
                audit::append_once(self.audit, self.audit_turn, &record, &once).await?;
            }
            self.users
                .update_one(
                    query::by_id(id),
                    doc! { "$pullAll": { field::OUTBOX: [Bson::Document(entry.clone())] } },
                )
                .await
                .map_err(|e| repo_error(&e))?;
        }
        if !entries.is_empty() {
            // The array stays when empty; without it, the sweep's query stays short.
            self.users
                .update_one(
                    doc! { field::ID: id_key(id), field::OUTBOX: [] },
                    doc! { "$unset": { field::OUTBOX: "" } },
                )
                .await
                .map_err(|e| repo_error(&e))?;
        }
        if document.get_bool(field::DELETED).unwrap_or(false) {
            self.users
                .delete_one(doc! { field::ID: id_key(id), field::DELETED: true })
                .await
                .map_err(|e| repo_error(&e))?;
        }
        Ok(())
    }

    /// Drains every document a crash left with pending events or half-deleted; the number
    /// of documents drained.
    pub(crate) async fn sweep(&self) -> Result<usize, RepoError> {
        let pending = doc! { "$or": [
            { field::OUTBOX: { "$exists": true } },
            { field::DELETED: { "$exists": true } },
        ] };
        let documents: Vec<Document> = self
            .users
            .find(pending)
            .projection(doc! { field::OUTBOX: 1, field::DELETED: 1 })
            .limit(SWEEP_BATCH)
            .await
            .map_err(|e| repo_error(&e))?
            .try_collect()
            .await
            .map_err(|e| repo_error(&e))?;
        for document in &documents {
            let id = document
                .get_str(field::ID)
                .ok()
                .and_then(UserId::parse)
                .ok_or_else(|| {
                    RepoError::Other(format!("user document without a valid _id: {document}"))
                })?;
            self.drain_document(id, document).await?;
        }
        Ok(documents.len())
    }
}

fn corrupt(id: UserId, what: &str) -> RepoError {
    RepoError::Other(format!("corrupt outbox of user document {id}: {what}"))
}
