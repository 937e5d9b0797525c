//! The audit trail's hash chain, shared by every store and by `users-service audit verify`.
//!
//! Each event's hash is the SHA-256 of its canonical form ([`canonical`]), and that form
//! includes the previous event's hash: altering a stored field changes the event's hash,
//! and removing or reordering events breaks a `prev_hash` link or the numbering. Stores
//! call [`next`] inside whatever makes their appends atomic; verification replays the chain
//! from the first event with a [`Verifier`].
//!
//! What the chain cannot show on its own: the removal of the *last* events (the chain that
//! remains is valid). Checkpoints ([`checkpoint`]) can: each names an event and its hash,
//! signed with a key the store does not hold, and [`verify_with`] reports a trail that ends
//! before the last checkpoint's event, or that lacks a head the operator kept elsewhere.

pub mod checkpoint;
pub mod stored;

use std::borrow::Borrow;

use domain::model::{AuditCheckpoint, AuditEvent, AuditFilter, AuditRecord};
use domain::ports::{AUDIT_GENESIS, AuditLog, Page, PageRequest, RepoError};
use sha2::{Digest, Sha256};

use crate::checkpoint::{Keyring, Signature};

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

pub(crate) fn field(out: &mut Vec<u8>, name: &str, value: Option<&str>) {
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
    to_hex(&Sha256::digest(canonical(seq, prev_hash, record)))
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
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

/// Evidence of tampering found besides a broken link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// A checkpoint's signature does not verify with the key it names: it was forged, or
    /// one of its fields altered.
    ForgedCheckpoint {
        /// The event it names.
        seq: u64,
        /// The key it names.
        key_id: String,
    },
    /// A genuine checkpoint names an event whose hash is not the one in the trail: the
    /// chain was rewritten from that event or an earlier one (only the first is reported).
    Rewritten {
        /// The event the checkpoint names.
        seq: u64,
        /// The hash the checkpoint names.
        signed: String,
        /// The hash of that event in the trail.
        stored: String,
    },
    /// The last genuine checkpoint names an event beyond the trail's end: the newest events
    /// were removed.
    Truncated {
        /// The event the checkpoint names.
        seq: u64,
        /// Its hash.
        hash: String,
        /// The trail's last event (0 when it is empty).
        end: u64,
    },
    /// No event of the trail has the head the operator kept elsewhere.
    HeadMissing {
        /// The expected head.
        expected: String,
        /// The trail's last event (0 when it is empty).
        end: u64,
        /// The trail's head hash.
        head: String,
        /// The event a genuine checkpoint gives that hash, when one does.
        named: Option<u64>,
    },
}

/// "events 96–120 were removed", "event 96 was removed".
fn removed(end: u64, last: u64) -> String {
    if end + 1 >= last {
        format!("event {last} was removed")
    } else {
        format!("events {}–{last} were removed", end + 1)
    }
}

fn trail_end(end: u64) -> String {
    if end == 0 {
        "the trail is empty".to_owned()
    } else {
        format!("the trail ends at {end}")
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ForgedCheckpoint { seq, key_id } => write!(
                f,
                "the checkpoint of event {seq} does not verify with key {key_id}: it was \
                 forged or altered"
            ),
            Self::Rewritten {
                seq,
                signed,
                stored,
            } => write!(
                f,
                "the checkpoint of event {seq} names hash {signed}, the trail's event {seq} \
                 has hash {stored}: the trail was rewritten from that event or an earlier one"
            ),
            Self::Truncated { seq, hash, end } => write!(
                f,
                "the last checkpoint names event {seq} with hash {hash}, {}: {}",
                trail_end(*end),
                removed(*end, *seq)
            ),
            Self::HeadMissing {
                expected,
                end,
                head,
                named,
            } => {
                write!(f, "the expected head {expected} is not in the trail (")?;
                if *end == 0 {
                    f.write_str("it is empty")?;
                } else {
                    write!(f, "it ends at {end}, head {head}")?;
                }
                match named {
                    Some(seq) if seq > end => write!(f, "): {}", removed(*end, *seq)),
                    _ => f.write_str("): events after it were removed, or the trail was rewritten"),
                }
            }
        }
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
    /// Genuine checkpoints (their signature verified) whose event the chain reached with
    /// the hash they name.
    pub confirmed: u64,
    /// The genuine checkpoint naming the highest event, if any.
    pub last_checkpoint: Option<AuditCheckpoint>,
    /// Checkpoints signed by a key the keyring lacks: they prove nothing and were left out.
    pub unverifiable: u64,
    /// The ids of those keys.
    pub unknown_keys: Vec<String>,
    /// Every other sign of tampering.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether nothing shows tampering.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none() && self.findings.is_empty()
    }
}

/// Events read per call of `AuditLog::chain` while verifying.
const VERIFY_BATCH: u32 = 500;

/// Verifies the whole trail of `log` from its first event, stopping at the first break,
/// without keys (every checkpoint is unverifiable) or an expected head.
///
/// # Errors
/// See [`verify_with`].
pub async fn verify(log: &(impl AuditLog + ?Sized)) -> Result<Report, RepoError> {
    verify_with(log, &Keyring::new(), None).await
}

/// Verifies the whole trail of `log`: the chain from its first event (stopping at the first
/// break), every checkpoint's signature with `keys`, every genuine checkpoint against the
/// event it names, the trail's end against the last genuine checkpoint, and, when given,
/// that some event has the hash `expected_head` (lowercase hex). See [`TrailVerifier`].
///
/// # Errors
/// The store's error when the trail cannot be read; an event that no longer reads back
/// (its stored form was damaged) is such an error, and it names the event.
pub async fn verify_with(
    log: &(impl AuditLog + ?Sized),
    keys: &Keyring,
    expected_head: Option<&str>,
) -> Result<Report, RepoError> {
    let mut trail = TrailVerifier::new(keys, expected_head);
    let mut after = 0;
    loop {
        let batch = log.checkpoints(after, VERIFY_BATCH).await?;
        let Some(last) = batch.last().map(|c| c.seq) else {
            break;
        };
        // Stores answer by increasing event number; one that does not (or repeats itself)
        // must neither loop forever nor count a checkpoint twice.
        for checkpoint in batch.into_iter().filter(|c| c.seq > after) {
            trail.checkpoint(checkpoint);
        }
        if last <= after {
            break;
        }
        after = last;
    }
    'chain: loop {
        let batch = log.chain(trail.checked(), VERIFY_BATCH).await?;
        if batch.is_empty() {
            break;
        }
        for event in &batch {
            if !trail.event(event) {
                break 'chain;
            }
        }
    }
    Ok(trail.finish())
}

/// A whole trail's verification, fed every checkpoint (any order) and then the events in
/// chain order from the first; [`verify_with`] feeds it from a store.
#[derive(Debug)]
pub struct TrailVerifier<'k> {
    keys: &'k Keyring,
    expected_head: Option<String>,
    chain: Verifier,
    broken: Option<BrokenLink>,
    /// Checkpoints whose signature verified, sorted by event before the first event.
    genuine: Vec<AuditCheckpoint>,
    sorted: bool,
    /// Index in `genuine` of the next checkpoint the chain will meet.
    next: usize,
    confirmed: u64,
    unverifiable: u64,
    unknown_keys: Vec<String>,
    expected_at: Option<u64>,
    findings: Vec<Finding>,
}

impl<'k> TrailVerifier<'k> {
    /// A verification checking signatures with `keys`, and that some event has the hash
    /// `expected_head` when given.
    pub fn new(keys: &'k Keyring, expected_head: Option<&str>) -> Self {
        Self {
            keys,
            expected_head: expected_head.map(str::to_owned),
            chain: Verifier::new(),
            broken: None,
            genuine: Vec::new(),
            sorted: false,
            next: 0,
            confirmed: 0,
            unverifiable: 0,
            unknown_keys: Vec::new(),
            expected_at: None,
            findings: Vec::new(),
        }
    }

    /// Takes one checkpoint (before the first event).
    pub fn checkpoint(&mut self, checkpoint: AuditCheckpoint) {
        match self.keys.check(&checkpoint) {
            Signature::Valid if checkpoint.seq > 0 => self.genuine.push(checkpoint),
            // Event 0 does not exist: no signer makes such a checkpoint.
            Signature::Valid => {}
            Signature::Invalid => self.findings.push(Finding::ForgedCheckpoint {
                seq: checkpoint.seq,
                key_id: checkpoint.key_id,
            }),
            Signature::UnknownKey => {
                self.unverifiable += 1;
                if !self.unknown_keys.contains(&checkpoint.key_id) {
                    self.unknown_keys.push(checkpoint.key_id);
                }
            }
        }
    }

    /// Events verified so far.
    pub fn checked(&self) -> u64 {
        self.chain.checked()
    }

    /// Takes the next event of the chain; `false` once the chain is broken (feed no more).
    pub fn event(&mut self, event: &AuditEvent) -> bool {
        if !self.sorted {
            self.genuine.sort_by_key(|c| c.seq);
            self.sorted = true;
        }
        if self.broken.is_some() {
            return false;
        }
        if let Err(link) = self.chain.check(event) {
            self.broken = Some(link);
            return false;
        }
        if self.expected_at.is_none() && self.expected_head.as_deref() == Some(&event.hash) {
            self.expected_at = Some(event.seq);
        }
        while let Some(checkpoint) = self.genuine.get(self.next).filter(|c| c.seq <= event.seq) {
            if checkpoint.hash == event.hash {
                self.confirmed += 1;
            } else if !self
                .findings
                .iter()
                .any(|f| matches!(f, Finding::Rewritten { .. }))
            {
                // Every later checkpoint disagrees too: the first one says where.
                self.findings.push(Finding::Rewritten {
                    seq: checkpoint.seq,
                    signed: checkpoint.hash.clone(),
                    stored: event.hash.clone(),
                });
            }
            self.next += 1;
        }
        true
    }

    /// What was found.
    pub fn finish(mut self) -> Report {
        if !self.sorted {
            self.genuine.sort_by_key(|c| c.seq);
        }
        let end = self.chain.checked();
        let head = self.chain.head().to_owned();
        // Past a broken link nothing is known of the events: only an intact chain is
        // judged against its checkpoints' reach and the expected head.
        if self.broken.is_none() {
            if let Some(last) = self.genuine.last().filter(|c| c.seq > end) {
                self.findings.push(Finding::Truncated {
                    seq: last.seq,
                    hash: last.hash.clone(),
                    end,
                });
            }
            if let Some(expected) = self.expected_head.take()
                && self.expected_at.is_none()
            {
                let named = self
                    .genuine
                    .iter()
                    .find(|c| c.hash == expected)
                    .map(|c| c.seq);
                self.findings.push(Finding::HeadMissing {
                    expected,
                    end,
                    head: head.clone(),
                    named,
                });
            }
        }
        Report {
            checked: end,
            head,
            broken: self.broken,
            confirmed: self.confirmed,
            last_checkpoint: self.genuine.pop(),
            unverifiable: self.unverifiable,
            unknown_keys: self.unknown_keys,
            findings: self.findings,
        }
    }
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

    mod trail {
        use super::*;
        use crate::checkpoint::{CheckpointKey, Keyring};
        use domain::ports::CheckpointSigner;

        fn key() -> CheckpointKey {
            CheckpointKey::hmac(b"test-secret-0123456789abcdef-0123456789abcdef")
        }

        fn keys() -> Keyring {
            let mut keys = Keyring::new();
            keys.add(key().verifying_key());
            keys
        }

        fn signed(event: &AuditEvent) -> AuditCheckpoint {
            key().sign(event.seq, &event.hash, event.record.at)
        }

        /// `events` checked with `checkpoints` and `expected`.
        fn judge(
            events: &[AuditEvent],
            checkpoints: &[AuditCheckpoint],
            expected: Option<&str>,
        ) -> Report {
            let keys = keys();
            let mut trail = TrailVerifier::new(&keys, expected);
            for checkpoint in checkpoints.iter().rev() {
                trail.checkpoint(checkpoint.clone());
            }
            for event in events {
                if !trail.event(event) {
                    break;
                }
            }
            trail.finish()
        }

        #[test]
        fn checkpoints_the_trail_reaches_are_confirmed() {
            let events = chain(5);
            let report = judge(&events, &[signed(&events[1]), signed(&events[3])], None);
            assert!(report.is_intact(), "{report:?}");
            assert_eq!((report.checked, report.confirmed), (5, 2));
            assert_eq!(report.last_checkpoint, Some(signed(&events[3])));
        }

        #[test]
        fn a_trail_ending_before_the_last_checkpoint_was_cut() {
            let events = chain(6);
            let checkpoints = [signed(&events[2]), signed(&events[5])];
            let report = judge(&events[..3], &checkpoints, None);
            assert!(!report.is_intact());
            assert_eq!(report.broken, None, "what is left still links");
            assert_eq!(
                report.findings,
                [Finding::Truncated {
                    seq: 6,
                    hash: events[5].hash.clone(),
                    end: 3
                }]
            );
            assert_eq!(
                report.findings[0].to_string(),
                format!(
                    "the last checkpoint names event 6 with hash {}, the trail ends at 3: \
                     events 4–6 were removed",
                    events[5].hash
                )
            );
            let one = judge(&events[..5], &checkpoints, None);
            assert!(
                one.findings[0]
                    .to_string()
                    .ends_with("ends at 5: event 6 was removed")
            );
            let all = judge(&[], &checkpoints, None);
            assert!(
                all.findings[0]
                    .to_string()
                    .ends_with("the trail is empty: events 1–6 were removed"),
                "{}",
                all.findings[0]
            );
        }

        #[test]
        fn a_forged_or_altered_checkpoint_is_tampering() {
            let events = chain(4);
            let mut moved = signed(&events[3]);
            moved.seq = 9;
            let other = CheckpointKey::hmac(b"another secret, not the service's");
            let mut forged = other.sign(4, &events[3].hash, events[3].record.at);
            forged.key_id = key().id().to_owned();
            let report = judge(&events, &[moved, forged], None);
            assert_eq!(
                report.findings,
                [
                    Finding::ForgedCheckpoint {
                        seq: 4,
                        key_id: key().id().to_owned()
                    },
                    Finding::ForgedCheckpoint {
                        seq: 9,
                        key_id: key().id().to_owned()
                    },
                ],
                "in the order read (the test feeds them newest first)"
            );
            assert!(report.findings[0].to_string().contains("forged or altered"));
            // A forged checkpoint vouches for nothing: no truncation is inferred from it.
            assert_eq!(report.last_checkpoint, None);
        }

        #[test]
        fn a_checkpoint_of_an_unknown_key_proves_nothing() {
            let events = chain(4);
            let other = CheckpointKey::hmac(b"a retired secret");
            let report = judge(
                &events[..2],
                &[other.sign(4, &events[3].hash, events[3].record.at)],
                None,
            );
            assert!(report.is_intact(), "{report:?}");
            assert_eq!(report.unverifiable, 1);
            assert_eq!(report.unknown_keys, [other.id().to_owned()]);
        }

        #[test]
        fn a_rewritten_trail_disagrees_with_its_checkpoints() {
            let original = chain(5);
            let checkpoints = [signed(&original[2]), signed(&original[4])];
            // Event 2 altered and every later event re-hashed: the chain links again.
            let mut rewritten: Vec<AuditEvent> = original[..1].to_vec();
            for (i, event) in original[1..].iter().enumerate() {
                let mut record = event.record.clone();
                if i == 0 {
                    record.failure = Some("PERMISSION_DENIED".into());
                }
                let last = rewritten.last().map(|e| (e.seq, e.hash.as_str()));
                rewritten.push(next(last, &record));
            }
            let report = judge(&rewritten, &checkpoints, None);
            assert_eq!(report.broken, None);
            assert_eq!(
                report.findings,
                [Finding::Rewritten {
                    seq: 3,
                    signed: original[2].hash.clone(),
                    stored: rewritten[2].hash.clone()
                }],
                "the first disagreement only"
            );
        }

        #[test]
        fn the_expected_head_must_be_in_the_trail() {
            let events = chain(5);
            let kept = events[3].hash.as_str();
            assert!(judge(&events, &[], Some(kept)).is_intact());
            let cut = judge(&events[..3], &[], Some(kept));
            assert_eq!(
                cut.findings,
                [Finding::HeadMissing {
                    expected: kept.to_owned(),
                    end: 3,
                    head: events[2].hash.clone(),
                    named: None
                }]
            );
            assert!(
                cut.findings[0]
                    .to_string()
                    .ends_with("events after it were removed, or the trail was rewritten")
            );
            let named = judge(&events[..3], &[signed(&events[3])], Some(kept));
            assert!(
                named.findings[1]
                    .to_string()
                    .ends_with("): event 4 was removed"),
                "{:?}",
                named.findings
            );
        }

        #[test]
        fn past_a_broken_link_the_tail_is_not_judged() {
            let mut events = chain(5);
            events.remove(2);
            let report = judge(&events, &[signed(&chain(5)[4])], Some("ab"));
            assert!(report.broken.is_some());
            assert!(report.findings.is_empty(), "{:?}", report.findings);
        }
    }
}
