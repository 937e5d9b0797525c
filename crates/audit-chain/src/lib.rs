//! The audit trail's hash chain, shared by every store and by `users-service audit verify`.
//!
//! Each event's hash is the SHA-256 of its canonical form ([`canonical`]), and that form
//! includes the previous event's hash: altering a stored field changes the event's hash,
//! and removing or reordering events breaks a `prev_hash` link or the numbering. Stores
//! call [`next`] inside whatever makes their appends atomic; verification replays the chain
//! from the first event with a [`Verifier`].
//!
//! What the chain cannot show on its own: the removal of the *last* events (the chain that
//! remains is valid). `audit verify` prints the head (count and last hash) so operators can
//! keep it elsewhere and compare.

pub mod stored;

use std::borrow::Borrow;

use domain::model::{AuditEvent, AuditFilter, AuditRecord};
use domain::ports::{AUDIT_GENESIS, AuditLog, Page, PageRequest, RepoError};
use sha2::{Digest, Sha256};

/// Names the format inside every hashed form, so a future format can never collide with it.
const FORMAT: &str = "users-service/audit-event/v1";

/// The exact bytes hashed for the event `seq` linked to `prev_hash`.
///
/// Every field is written in a fixed order as `name=` then either `~` (absent) or the
/// value's length in bytes, `:` and the value, then a newline: no value, whatever
/// characters it holds, can be read as another field.
pub fn canonical(seq: u64, prev_hash: &str, record: &AuditRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    field(&mut out, "format", Some(FORMAT));
    field(&mut out, "seq", Some(&seq.to_string()));
    field(&mut out, "prev", Some(prev_hash));
    field(
        &mut out,
        "at_ms",
        Some(&stored::millis(record.at).to_string()),
    );
    field(&mut out, "kind", Some(record.kind.code()));
    field(&mut out, "failure", record.failure.as_deref());
    let actor = record.actor.map(|id| id.to_string());
    field(&mut out, "actor", actor.as_deref());
    let target = record.target.map(|id| id.to_string());
    field(&mut out, "target", target.as_deref());
    field(&mut out, "request_id", record.context.request_id.as_deref());
    field(&mut out, "client_ip", record.context.client_ip.as_deref());
    field(&mut out, "details", Some(&record.details.len().to_string()));
    for (name, value) in &record.details {
        field(&mut out, "name", Some(name));
        field(&mut out, "value", Some(value));
    }
    out
}

fn field(out: &mut Vec<u8>, name: &str, value: Option<&str>) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    match value {
        None => out.push(b'~'),
        Some(v) => {
            out.extend_from_slice(v.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(v.as_bytes());
        }
    }
    out.push(b'\n');
}

/// Lowercase hex SHA-256 of the canonical form.
pub fn hash(seq: u64, prev_hash: &str, record: &AuditRecord) -> String {
    let digest = Sha256::digest(canonical(seq, prev_hash, record));
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The event that follows `last` (or starts the chain) with `record`.
pub fn next(last: Option<(u64, &str)>, record: &AuditRecord) -> AuditEvent {
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, AUDIT_GENESIS),
    };
    AuditEvent {
        seq,
        hash: hash(seq, prev_hash, record),
        prev_hash: prev_hash.to_owned(),
        record: record.clone(),
    }
}

/// Why the chain breaks at an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Break {
    /// The numbering skips or repeats: events were removed or inserted before this one.
    Numbering {
        /// The number the chain expected here.
        expected: u64,
    },
    /// `prev_hash` is not the previous event's hash: the previous event was removed or altered.
    Link,
    /// The stored hash is not the hash of the stored fields: this event was altered.
    Content,
}

/// The first event at which a chain fails verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenLink {
    /// The stored number of the event.
    pub seq: u64,
    /// What is wrong with it.
    pub reason: Break,
}

impl std::fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reason {
            Break::Numbering { expected } => write!(
                f,
                "event {} stands where event {expected} should: events were removed or inserted",
                self.seq
            ),
            Break::Link => write!(
                f,
                "event {} does not link to the event before it: that event was altered or removed",
                self.seq
            ),
            Break::Content => write!(
                f,
                "event {} does not match its hash: it was altered",
                self.seq
            ),
        }
    }
}

/// Checks a chain event by event, in order, from the first.
#[derive(Clone, Debug)]
pub struct Verifier {
    checked: u64,
    head: String,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            checked: 0,
            head: AUDIT_GENESIS.to_owned(),
        }
    }
}

impl Verifier {
    /// A verifier expecting event 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next event of the chain.
    ///
    /// # Errors
    /// The first break found; the verifier is then left as it was (do not feed it further).
    pub fn check(&mut self, event: &AuditEvent) -> Result<(), BrokenLink> {
        let broken = |reason| BrokenLink {
            seq: event.seq,
            reason,
        };
        let expected = self.checked + 1;
        if event.seq != expected {
            return Err(broken(Break::Numbering { expected }));
        }
        if event.prev_hash != self.head {
            return Err(broken(Break::Link));
        }
        if hash(event.seq, &event.prev_hash, &event.record) != event.hash {
            return Err(broken(Break::Content));
        }
        self.checked = event.seq;
        self.head.clone_from(&event.hash);
        Ok(())
    }

    /// Events verified so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The hash of the last verified event (the genesis value before any).
    pub fn head(&self) -> &str {
        &self.head
    }
}

/// What a verification of a whole trail found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Events verified, from the first.
    pub checked: u64,
    /// Hash of the last verified event: keep it elsewhere to detect a truncated tail later.
    pub head: String,
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
}

/// Events read per call of `AuditLog::chain` while verifying.
const VERIFY_BATCH: u32 = 500;

/// Verifies the whole trail of `log` from its first event, stopping at the first break.
///
/// # Errors
/// The store's error when the trail cannot be read; an event that no longer reads back
/// (its stored form was damaged) is such an error, and it names the event.
pub async fn verify(log: &(impl AuditLog + ?Sized)) -> Result<Report, RepoError> {
    let mut verifier = Verifier::new();
    loop {
        let batch = log.chain(verifier.checked(), VERIFY_BATCH).await?;
        if batch.is_empty() {
            break;
        }
        for event in &batch {
            if let Err(broken) = verifier.check(event) {
                return Ok(Report {
                    checked: verifier.checked(),
                    head: verifier.head().to_owned(),
                    broken: Some(broken),
                });
            }
        }
    }
    Ok(Report {
        checked: verifier.checked(),
        head: verifier.head().to_owned(),
        broken: None,
    })
}

/// One page of the events `filter` matches, from `newest_first` (events in decreasing `seq`),
/// with the total: the query of a store that scans its trail (memory, embedded). Events
/// may be borrowed: only the page's are cloned.
///
/// # Errors
/// The first error `newest_first` yields.
pub fn page_of<E, T: Borrow<AuditEvent>>(
    newest_first: impl Iterator<Item = Result<T, E>>,
    filter: &AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditEvent>, E> {
    let mut items = Vec::new();
    let mut total = 0u64;
    for event in newest_first {
        let event = event?;
        let event = event.borrow();
        if !filter.matches(&event.record) {
            continue;
        }
        if total >= page.offset && items.len() < page.limit as usize {
            items.push(event.clone());
        }
        total += 1;
    }
    Ok(Page { items, total })
}

#[cfg(test)]
mod tests {
    use domain::model::{AuditKind, RequestContext, UserId};
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;

    fn record(kind: AuditKind) -> AuditRecord {
        AuditRecord {
            at: OffsetDateTime::from_unix_timestamp(1_800_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            kind,
            failure: None,
            actor: Some(UserId::from_uuid(Uuid::from_u128(1))),
            target: Some(UserId::from_uuid(Uuid::from_u128(2))),
            context: RequestContext {
                request_id: Some("req-1".into()),
                client_ip: Some("192.0.2.1".into()),
            },
            details: vec![("fields".into(), "email,role".into())],
        }
    }

    fn chain(n: usize) -> Vec<AuditEvent> {
        let mut events: Vec<AuditEvent> = Vec::new();
        for i in 0..n {
            let kind = AuditKind::ALL[i % AuditKind::ALL.len()];
            let last = events.last().map(|e| (e.seq, e.hash.as_str()));
            let event = next(last, &record(kind));
            events.push(event);
        }
        events
    }

    fn verify(events: &[AuditEvent]) -> Result<u64, BrokenLink> {
        let mut verifier = Verifier::new();
        for event in events {
            verifier.check(event)?;
        }
        Ok(verifier.checked())
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let events = chain(5);
        assert_eq!(events[0].prev_hash, AUDIT_GENESIS);
        assert_eq!(events[4].seq, 5);
        assert_eq!(verify(&events), Ok(5));
    }

    #[test]
    fn the_hash_is_a_known_sha256_of_the_documented_form() {
        // Pinned: a change of the canonical form would silently break every stored chain.
        let event = next(None, &record(AuditKind::LoginFailed));
        assert_eq!(
            String::from_utf8_lossy(&canonical(1, AUDIT_GENESIS, &event.record)),
            format!(
                "format=28:users-service/audit-event/v1\nseq=1:1\nprev=64:{AUDIT_GENESIS}\n\
                 at_ms=13:1800000000000\nkind=12:LOGIN_FAILED\nfailure=~\n\
                 actor=36:00000000-0000-0000-0000-000000000001\n\
                 target=36:00000000-0000-0000-0000-000000000002\nrequest_id=5:req-1\n\
                 client_ip=9:192.0.2.1\ndetails=1:1\nname=6:fields\nvalue=10:email,role\n"
            )
        );
        assert_eq!(event.hash.len(), 64);
        assert!(event.hash.bytes().all(|b| HEX.contains(&b)));
    }

    #[test]
    fn an_altered_field_is_found_at_its_event() {
        let mut events = chain(4);
        events[2].record.failure = Some("INVALID_CREDENTIALS".into());
        assert_eq!(
            verify(&events),
            Err(BrokenLink {
                seq: 3,
                reason: Break::Content
            })
        );
    }

    #[test]
    fn an_altered_event_with_a_recomputed_hash_breaks_the_next_link() {
        let mut events = chain(4);
        events[1].record.target = None;
        events[1].hash = hash(2, &events[1].prev_hash, &events[1].record);
        assert_eq!(
            verify(&events),
            Err(BrokenLink {
                seq: 3,
                reason: Break::Link
            })
        );
    }

    #[test]
    fn a_removed_event_breaks_the_numbering() {
        let mut events = chain(4);
        events.remove(1);
        assert_eq!(
            verify(&events),
            Err(BrokenLink {
                seq: 3,
                reason: Break::Numbering { expected: 2 }
            })
        );
    }

    #[test]
    fn a_removed_and_renumbered_event_breaks_the_link() {
        let mut events = chain(4);
        events.remove(1);
        for event in &mut events[1..] {
            event.seq -= 1;
        }
        let broken = verify(&events).err().map(|b| (b.seq, b.reason));
        assert_eq!(broken, Some((2, Break::Link)));
    }

    #[test]
    fn values_cannot_spill_into_other_fields() {
        let mut a = record(AuditKind::UserUpdated);
        a.details = vec![("a".into(), "b\nname=1:c".into())];
        let mut b = record(AuditKind::UserUpdated);
        b.details = vec![("a".into(), "b".into()), ("c".into(), String::new())];
        assert_ne!(
            canonical(1, AUDIT_GENESIS, &a),
            canonical(1, AUDIT_GENESIS, &b)
        );
        let mut c = record(AuditKind::UserUpdated);
        c.failure = Some(String::new());
        let mut d = record(AuditKind::UserUpdated);
        d.failure = None;
        assert_ne!(hash(1, AUDIT_GENESIS, &c), hash(1, AUDIT_GENESIS, &d));
    }
}
