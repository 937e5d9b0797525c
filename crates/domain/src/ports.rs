//! Ports: what the domain needs from the outside world. Adapters implement them; the
//! sentences under `# Errors` are the contract the shared repository suite checks.

use std::borrow::Cow;
use std::collections::BTreeSet;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::UniqueField;
use crate::model::{
    AuditEvent, AuditFilter, AuditRecord, Email, Login, PasswordHash, PlainPassword, Role, User,
    UserId,
};

/// Failure reported by a `UserRepository`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    /// A unique field (ignoring case) is already used by another user.
    #[error("{} already in use", .0.name())]
    Conflict(UniqueField),
    /// No user has that id.
    #[error("user not found")]
    NotFound,
    /// The stored version differs from the expected one.
    #[error("stale version")]
    VersionMismatch,
    /// The store cannot be reached or timed out.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (corrupt record, unexpected driver error).
    #[error("store error: {0}")]
    Other(String),
}

/// Free-text search: matches, ignoring case, a prefix of the login, of the e-mail, or of
/// any word of the full name. Plain text, never a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    /// Longest accepted search text, in characters.
    pub const MAX_LEN: usize = 100;

    /// Normalises a search (trimmed, case-folded); `None` when empty or too long.
    pub fn new(raw: &str) -> Option<Self> {
        let q = raw.trim();
        (!q.is_empty() && q.chars().count() <= Self::MAX_LEN).then(|| Self(q.to_lowercase()))
    }

    /// The case-folded text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The words of a full name as the search sees them (case-folded, split on whitespace).
    pub fn name_words(full_name: &str) -> impl Iterator<Item = String> + '_ {
        full_name.split_whitespace().map(str::to_lowercase)
    }

    /// The distinct strings of `user` a search matches a prefix of (case-folded login,
    /// e-mail and name words): what a store indexes to find matches without a full scan.
    pub fn keys_of(user: &User) -> BTreeSet<String> {
        Self::keys(user).map(Cow::into_owned).collect()
    }

    /// Whether `user` matches; the reference semantics every store must reproduce.
    pub fn matches(&self, user: &User) -> bool {
        Self::keys(user).any(|key| key.starts_with(self.as_str()))
    }

    /// The one definition of what a search looks at, possibly with repeats.
    fn keys(user: &User) -> impl Iterator<Item = Cow<'_, str>> {
        std::iter::once(Cow::Borrowed(user.login.key()))
            .chain(user.email.as_ref().map(|e| Cow::Borrowed(e.key())))
            .chain(Self::name_words(user.full_name.as_str()).map(Cow::Owned))
    }
}

/// Filters of the user list; they combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Free-text search.
    pub q: Option<SearchText>,
    /// Exact role.
    pub role: Option<Role>,
    /// Administrative status.
    pub active: Option<bool>,
    /// Security block.
    pub blocked: Option<bool>,
}

impl UserFilter {
    /// Whether `user` passes every filter; the reference semantics every store must reproduce.
    pub fn matches(&self, user: &User) -> bool {
        self.q.as_ref().is_none_or(|q| q.matches(user))
            && self.role.is_none_or(|r| user.role == r)
            && self.active.is_none_or(|a| user.active == a)
            && self.blocked.is_none_or(|b| user.blocked == b)
    }
}

/// A window of a list: skip `offset` items, return at most `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Items to skip.
    pub offset: u64,
    /// Largest page size (callers bound it).
    pub limit: u32,
}

/// One page of a list (users, audit events) and the total number of matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The page, in the list's order (users: creation time then id; events: newest first).
    pub items: Vec<T>,
    /// Number of items matching the filter, all pages together.
    pub total: u64,
}

/// Persistence of users.
///
/// Stores keep the login-bookkeeping fields (`failed_logins`, `locked_until`,
/// `last_login_at`) under their own atomic methods: `update` never writes them, so an
/// administrative update can never erase a concurrent failed-login increment.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user.
    ///
    /// # Errors
    /// MUST return `Conflict(Login)` when another user has the same login ignoring case, and
    /// `Conflict(Email)` when another user has the same e-mail ignoring case, checked
    /// atomically with the write (two concurrent inserts of one login: exactly one succeeds).
    /// Any number of users may have no e-mail.
    async fn insert(&self, user: &User) -> Result<(), RepoError>;

    /// The user with that id, if any.
    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError>;

    /// The user whose login equals `login` ignoring case, if any.
    async fn find_by_login(&self, login: &Login) -> Result<Option<User>, RepoError>;

    /// The user whose e-mail equals `email` ignoring case, if any.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;

    /// Replaces the stored user `user.id` by `user` (whose `version` the caller already
    /// incremented), leaving the login-bookkeeping fields as stored.
    ///
    /// # Errors
    /// MUST return `NotFound` when no user has that id, `VersionMismatch` when the stored
    /// version is not `expected_version`, and `Conflict(field)` when the new login or
    /// e-mail belongs to another user ignoring case.
    async fn update(&self, user: &User, expected_version: u64) -> Result<(), RepoError>;

    /// Deletes a user.
    ///
    /// # Errors
    /// MUST return `NotFound` when no user has that id.
    async fn delete(&self, id: UserId) -> Result<(), RepoError>;

    /// Users matching `filter`, ordered by `created_at` then id, windowed by `page`, with
    /// the total number of matches.
    async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>, RepoError>;

    /// Number of users with role ADMIN that are active and not blocked.
    async fn count_active_admins(&self) -> Result<u64, RepoError>;

    /// Atomically adds one to `failed_logins` and returns the new count.
    ///
    /// # Errors
    /// MUST return `NotFound` when no user has that id. Concurrent calls MUST never lose an increment.
    async fn record_failed_login(&self, id: UserId) -> Result<u32, RepoError>;

    /// Sets `locked_until` and resets `failed_logins` to zero.
    ///
    /// # Errors
    /// MUST return `NotFound` when no user has that id.
    async fn lock(&self, id: UserId, until: OffsetDateTime) -> Result<(), RepoError>;

    /// Clears `failed_logins` and `locked_until`, and sets `last_login_at` when given.
    ///
    /// # Errors
    /// MUST return `NotFound` when no user has that id.
    async fn clear_failures(
        &self,
        id: UserId,
        last_login_at: Option<OffsetDateTime>,
    ) -> Result<(), RepoError>;

    /// Checks that the store answers (readiness).
    async fn ping(&self) -> Result<(), RepoError>;
}

/// The `prev_hash` of the first event of a chain.
pub const AUDIT_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The append-only, hash-chained audit trail.
///
/// Events are numbered 1, 2, 3… without gaps. Each stores the hash of the one before it, and
/// its own hash covers that link, so altering or removing a stored event breaks the chain
/// at that event. The hash is computed by the store from one canonical form shared by every
/// store and by `users-service audit verify` (crate `audit-chain`).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends `record` as the next event and returns it as stored.
    ///
    /// # Errors
    /// MUST number the event one past the last (1 on an empty trail) and link it to the last
    /// event's hash ([`AUDIT_GENESIS`] on an empty trail), atomically with respect to every
    /// other append: concurrent appends get distinct, consecutive numbers and a valid chain.
    /// `Unavailable` when the store cannot be reached.
    async fn append(&self, record: &AuditRecord) -> Result<AuditEvent, RepoError>;

    /// One page of the events `filter` matches, newest (highest `seq`) first, with the total.
    async fn find(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, RepoError>;

    /// Up to `limit` events numbered above `after`, in chain order: what verification reads.
    async fn chain(&self, after: u64, limit: u32) -> Result<Vec<AuditEvent>, RepoError>;

    // Checkpoints (signed heads, see `CheckpointSigner`) are kept beside the chain, one per
    // event number at most, never checked by the store: verification checks them.

    /// Stores `checkpoint` and returns `true`, or returns `false` and keeps the stored one
    /// when a checkpoint of the same event exists (two replicas may sign one head).
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached.
    async fn save_checkpoint(
        &self,
        checkpoint: &crate::model::AuditCheckpoint,
    ) -> Result<bool, RepoError>;

    /// The checkpoint naming the highest event number, if any.
    async fn latest_checkpoint(&self) -> Result<Option<crate::model::AuditCheckpoint>, RepoError>;

    /// Up to `limit` checkpoints naming events above `after`, by increasing event number:
    /// what verification reads.
    async fn checkpoints(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<crate::model::AuditCheckpoint>, RepoError>;
}

/// Signs checkpoints of the audit trail with a key the store does not hold (the signing
/// and its canonical form live in an adapter: the domain knows no cryptography).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait CheckpointSigner: Send + Sync {
    /// Id of the signing key, written into every checkpoint it signs.
    fn key_id(&self) -> String;

    /// The checkpoint of event `seq`, whose hash is `hash`, made at `at`, signed.
    fn sign(&self, seq: u64, hash: &str, at: OffsetDateTime) -> crate::model::AuditCheckpoint;
}

/// Failure of a password hasher itself (thread pool gone, parameters refused); a malformed
/// stored hash is not one: it simply does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(pub String);

/// Hashes and verifies passwords, off the async executor threads.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes with the configured algorithm and parameters.
    async fn hash(&self, password: &PlainPassword) -> Result<PasswordHash, HashError>;

    /// Whether `password` matches `hash`, whatever supported algorithm produced it; compares
    /// in constant time. An unrecognised hash is `Ok(false)`, not an error.
    async fn verify(
        &self,
        password: &PlainPassword,
        hash: &PasswordHash,
    ) -> Result<bool, HashError>;

    /// Whether `hash` differs from what `hash` would produce now (another algorithm, variant or
    /// parameters, weaker or stronger), so that login can re-hash it.
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;

    /// A valid hash of a random secret, verified against for unknown users so that they
    /// cost the same time as known ones (rule 10).
    fn dummy_hash(&self) -> PasswordHash;
}

/// The current time.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// Source of new user ids.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A fresh, unique id.
    fn new_id(&self) -> UserId;
}

/// Source of random secrets.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SecretGenerator: Send + Sync {
    /// A temporary password with at least 128 bits of entropy that satisfies the default
    /// password policy (rule 13).
    fn temporary_password(&self) -> PlainPassword;
}

/// The system clock, at millisecond precision (what every store keeps, so a user reads back
/// exactly as written) and strictly increasing within the process, so that users created
/// in the same millisecond still list in creation order.
#[derive(Debug, Default)]
pub struct SystemClock {
    last_millis: std::sync::atomic::AtomicI64,
}

impl SystemClock {
    /// A clock reading the system time.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        use std::sync::atomic::Ordering;
        let wall = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
            .unwrap_or(i64::MAX);
        let previous = self
            .last_millis
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(wall.max(last + 1))
            })
            .unwrap_or(wall);
        let millis = wall.max(previous + 1);
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .unwrap_or_else(|_| OffsetDateTime::now_utc())
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    #[test]
    fn system_clock_is_strictly_increasing_at_millisecond_precision() {
        let clock = SystemClock::new();
        let mut last = clock.now();
        for _ in 0..1000 {
            let now = clock.now();
            assert!(now > last);
            assert_eq!(now.nanosecond() % 1_000_000, 0);
            last = now;
        }
    }
}

/// Random UUID v4 ids.
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidV4Ids;

impl IdGenerator for UuidV4Ids {
    fn new_id(&self) -> UserId {
        UserId::from_uuid(uuid::Uuid::new_v4())
    }
}

#[cfg(test)]
mod search_tests {
    #![allow(clippy::unwrap_used)]

    use time::OffsetDateTime;

    use super::*;
    use crate::model::{Email, FullName, Login, PasswordHash, UserId};

    fn user(login: &str, email: Option<&str>, name: &str) -> User {
        User {
            id: UserId::from_uuid(uuid::Uuid::nil()),
            login: Login::parse(login).unwrap(),
            email: email.map(|e| Email::parse(e).unwrap()),
            full_name: FullName::parse(name).unwrap(),
            phone: None,
            role: Role::Taxateur,
            grade: None,
            sex: None,
            address: None,
            agent_id: None,
            taxpayer_id: None,
            password_hash: PasswordHash::new("x"),
            active: true,
            blocked: false,
            must_change_password: false,
            failed_logins: 0,
            locked_until: None,
            token_version: 0,
            last_login_at: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            version: 1,
        }
    }

    #[test]
    fn the_indexed_keys_are_exactly_what_a_search_matches() {
        let u = user(
            "Kabila",
            Some("J.Kabila@Example.cd"),
            "Joseph KABILA Kabange",
        );
        let keys = SearchText::keys_of(&u);
        // Case-folded, and "kabila" once although login and name both hold it.
        let expected = ["j.kabila@example.cd", "joseph", "kabange", "kabila"];
        assert_eq!(
            keys.iter().map(String::as_str).collect::<Vec<_>>(),
            expected
        );
        for key in &keys {
            for end in 1..=key.chars().count() {
                let prefix: String = key.chars().take(end).collect();
                assert!(SearchText::new(&prefix).unwrap().matches(&u), "{prefix}");
            }
        }
        for miss in ["oseph", "example", "kabilaa", "@", "x"] {
            assert!(!SearchText::new(miss).unwrap().matches(&u), "{miss}");
        }
        assert_eq!(
            SearchText::keys_of(&user("solo", None, "Solo")).len(),
            1,
            "no e-mail, name equal to the login"
        );
    }
}
