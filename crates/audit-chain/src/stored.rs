//! The stored form of an event and of a checkpoint, one for every store: a flat record of strings and integers
//! that serialises the same way to JSON (embedded) and to BSON (MongoDB), separate from the
//! domain's `AuditEvent` so that the stored format changes only when this module says so.

use domain::model::{AuditCheckpoint, AuditEvent, AuditKind, AuditRecord, RequestContext, UserId};
use domain::ports::RepoError;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Format version written into every new stored event.
pub const STORED_VERSION: u32 = 1;

/// Version 1 of a stored event. Integers are `i64`, which BSON stores natively.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Format version.
    pub v: u32,
    /// Position in the chain.
    pub seq: i64,
    /// Unix milliseconds (UTC).
    pub at_ms: i64,
    /// `AuditKind::code`.
    pub kind: String,
    /// Error code when the call failed.
    pub failure: Option<String>,
    /// Actor's id.
    pub actor: Option<String>,
    /// Target's id.
    pub target: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Client address.
    pub client_ip: Option<String>,
    /// Facts about the call, in order (objects, not pairs: FerretDB 1.x refuses nested arrays).
    pub details: Vec<StoredDetail>,
    /// Previous event's hash.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// One (name, value) fact of a stored event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDetail {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

impl From<&AuditEvent> for StoredEvent {
    fn from(event: &AuditEvent) -> Self {
        let record = &event.record;
        Self {
            v: STORED_VERSION,
            seq: i64::try_from(event.seq).unwrap_or(i64::MAX),
            at_ms: millis(record.at),
            kind: record.kind.code().to_owned(),
            failure: record.failure.clone(),
            actor: record.actor.map(|id| id.to_string()),
            target: record.target.map(|id| id.to_string()),
            request_id: record.context.request_id.clone(),
            client_ip: record.context.client_ip.clone(),
            details: record
                .details
                .iter()
                .map(|(name, value)| StoredDetail {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            prev_hash: event.prev_hash.clone(),
            hash: event.hash.clone(),
        }
    }
}

/// Unix milliseconds of `at`, as stored and as the canonical form hashes them.
pub fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

impl TryFrom<StoredEvent> for AuditEvent {
    type Error = RepoError;

    /// # Errors
    /// `RepoError::Other` naming the event when a field does not read back (an unknown
    /// kind, a malformed id or time): the store was damaged or edited.
    fn try_from(stored: StoredEvent) -> Result<Self, RepoError> {
        let seq = stored.seq;
        let bad = |what: &str| RepoError::Other(format!("audit event {seq}: unreadable {what}"));
        if stored.v != STORED_VERSION {
            return Err(bad("format version"));
        }
        let id = |value: Option<String>, what: &str| match value {
            None => Ok(None),
            Some(s) => UserId::parse(&s).map(Some).ok_or_else(|| bad(what)),
        };
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(stored.at_ms) * 1_000_000)
            .map_err(|_| bad("time"))?;
        Ok(AuditEvent {
            seq: u64::try_from(seq).map_err(|_| bad("number"))?,
            record: AuditRecord {
                at,
                kind: AuditKind::parse(&stored.kind).ok_or_else(|| bad("kind"))?,
                failure: stored.failure,
                actor: id(stored.actor, "actor")?,
                target: id(stored.target, "target")?,
                context: RequestContext {
                    request_id: stored.request_id,
                    client_ip: stored.client_ip,
                },
                details: stored
                    .details
                    .into_iter()
                    .map(|d| (d.name, d.value))
                    .collect(),
            },
            prev_hash: stored.prev_hash,
            hash: stored.hash,
        })
    }
}

/// Version 1 of a stored checkpoint, the same in every store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    /// Format version.
    pub v: u32,
    /// The event it names.
    pub seq: i64,
    /// That event's hash.
    pub hash: String,
    /// Unix milliseconds (UTC) of the signature.
    pub at_ms: i64,
    /// The signing key's id.
    pub key_id: String,
    /// The signature (lowercase hex).
    pub signature: String,
}

impl From<&AuditCheckpoint> for StoredCheckpoint {
    fn from(checkpoint: &AuditCheckpoint) -> Self {
        Self {
            v: STORED_VERSION,
            seq: i64::try_from(checkpoint.seq).unwrap_or(i64::MAX),
            hash: checkpoint.hash.clone(),
            at_ms: millis(checkpoint.at),
            key_id: checkpoint.key_id.clone(),
            signature: checkpoint.signature.clone(),
        }
    }
}

impl TryFrom<StoredCheckpoint> for AuditCheckpoint {
    type Error = RepoError;

    /// # Errors
    /// `RepoError::Other` naming the checkpoint when its number, time or version does not
    /// read back: the store was damaged or edited.
    fn try_from(stored: StoredCheckpoint) -> Result<Self, RepoError> {
        let seq = stored.seq;
        let bad =
            |what: &str| RepoError::Other(format!("audit checkpoint {seq}: unreadable {what}"));
        if stored.v != STORED_VERSION {
            return Err(bad("format version"));
        }
        Ok(AuditCheckpoint {
            seq: u64::try_from(seq).map_err(|_| bad("number"))?,
            hash: stored.hash,
            at: OffsetDateTime::from_unix_timestamp_nanos(i128::from(stored.at_ms) * 1_000_000)
                .map_err(|_| bad("time"))?,
            key_id: stored.key_id,
            signature: stored.signature,
        })
    }
}
