//! Ports: what the domain needs from the outside world. Adapters implement them; the
//! sentences under `# Errors` are the contract the shared repository suite checks.

use std::borrow::Cow;
use std::collections::BTreeSet;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::{DomainError, UniqueField};
use crate::model::{
    AuditEvent, AuditFilter, AuditRecord, Email, Login, PasswordHash, PlainPassword, Role, User,
    UserId, fold,
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
    /// The write would leave no active ADMIN (rule 8).
    #[error("the last active administrator cannot be removed")]
    LastAdmin,
    /// The store cannot be reached or timed out.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (corrupt record, unexpected driver error).
    #[error("store error: {0}")]
    Other(String),
}

// The port errors become the use cases' here, beside them: `error` needs nothing of the
// ports.
impl From<RepoError> for DomainError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Conflict(field) => Self::Conflict(field),
            RepoError::NotFound => Self::NotFound,
            RepoError::LastAdmin => Self::LastAdmin,
            RepoError::VersionMismatch => Self::VersionConflict,
            RepoError::Unavailable(m) => Self::StoreUnavailable(m),
            RepoError::Other(m) => Self::Internal(m),
        }
    }
}

impl From<HashError> for DomainError {
    fn from(e: HashError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// Free-text search: matches, ignoring case, a prefix of the login, of the e-mail, or of
/// any word of the full name. Plain text, never a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    /// Longest accepted search text, in characters.
    pub const MAX_LEN: usize = 100;

    /// Normalises a search (trimmed, folded like logins: [`fold`]); `None` when empty or
    /// too long.
    pub fn new(raw: &str) -> Option<Self> {
        let q = raw.trim();
        (!q.is_empty() && q.chars().count() <= Self::MAX_LEN).then(|| Self(fold(q)))
    }

    /// The folded text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The words of a full name as the search sees them (folded, split on whitespace).
    pub fn name_words(full_name: &str) -> impl Iterator<Item = String> + '_ {
        full_name.split_whitespace().map(fold)
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
    /// The active ADMINs: role ADMIN, active and not blocked. The one definition of the
    /// users rule 8 keeps at least one of ([`User::is_active_admin`] is this filter).
    pub fn active_admins() -> Self {
        let (role, active, blocked) = User::ACTIVE_ADMIN;
        Self {
            q: None,
            role: Some(role),
            active: Some(active),
            blocked: Some(blocked),
        }
    }

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

/// A replacement of one stored user, with what the store applies in the same atomic unit.
#[derive(Clone, Debug)]
pub struct Update {
    /// The user as it must be stored (its `version` already incremented by the caller).
    pub user: User,
    /// The version the caller read; the write happens only if it is still the stored one.
    pub expected_version: u64,
    /// Also clears the lockout (`failed_logins`, `locked_until`): an administrator's
    /// unblock or password reset (rule 9). Otherwise the bookkeeping is left as stored.
    pub clear_lockout: bool,
    /// Audit events of the change, appended to the trail atomically with it.
    pub events: Vec<AuditRecord>,
}

impl Update {
    /// A replacement of `user` guarded by `expected_version`, leaving the lockout as stored
    /// and recording nothing: what a best-effort write (a re-hash) or a test needs.
    pub fn new(user: &User, expected_version: u64) -> Self {
        Self {
            user: user.clone(),
            expected_version,
            clear_lockout: false,
            events: Vec::new(),
        }
    }
}

/// What the store answers when a login attempt asks to be verified (rule 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The attempt was counted as number `number` since the last success or lock: it may
    /// verify the password.
    Admitted {
        /// 1 for the first attempt after a success or a lock.
        number: u32,
    },
    /// The account is locked until then; nothing was counted.
    Locked {
        /// End of the lock.
        until: OffsetDateTime,
    },
    /// As many attempts as the limit were already counted and none of them has locked
    /// the account yet (they are still being verified, or their process died): nothing
    /// was counted.
    Saturated,
}

/// Persistence of users.
///
/// Stores keep the login-bookkeeping fields (`failed_logins`, `locked_until`,
/// `last_login_at`) under their own atomic methods: `update` never writes them (unless
/// asked to clear the lockout), so an administrative update can never erase a concurrent
/// failed-login count.
///
/// Every write that takes `events` appends them to the store's [`AuditLog`] in the same
/// atomic unit as the change: both happen or neither does. A store without transactions
/// keeps them with the change (an outbox) and moves them to the trail right after.
///
/// Two invariants span users and are checked by the store atomically with the write that
/// could break them: uniqueness of logins and e-mails (rule 1), and "at least one active
/// ADMIN" (rule 8, [`UserFilter::active_admins`]).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user, with the events of its creation.
    ///
    /// # Errors
    /// MUST return `Conflict(Login)` when another user has the same login key
    /// ([`Login::key`]) or the same confusable skeleton ([`Login::skeleton`]), and
    /// `Conflict(Email)` when another user has the same e-mail key ([`Email::key`]),
    /// checked atomically with the write (two concurrent inserts of one login: exactly one
    /// succeeds). Any number of users may have no e-mail.
    async fn insert(&self, user: &User, events: &[AuditRecord]) -> Result<(), RepoError>;

    /// The user with that id, if any.
    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError>;

    /// The user whose login key equals `login`'s, if any.
    async fn find_by_login(&self, login: &Login) -> Result<Option<User>, RepoError>;

    /// The user whose e-mail key equals `email`'s, if any.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;

    /// Replaces the stored user `update.user.id` by `update.user`, leaving the
    /// login-bookkeeping fields as stored unless `clear_lockout`.
    ///
    /// # Errors
    /// MUST return `NotFound` when no user has that id, `VersionMismatch` when the stored
    /// version is not `expected_version`, `Conflict(field)` when the new login (key or
    /// skeleton) or e-mail belongs to another user, and `LastAdmin` when the stored user is
    /// an active ADMIN, the new one is not, and no other stored user is one: all checked
    /// atomically with the write. Nothing is written, and no event appended, on an error.
    async fn update(&self, update: &Update) -> Result<(), RepoError>;

    /// Deletes a user, with the events of its deletion.
    ///
    /// # Errors
    /// MUST return `NotFound` when no user has that id, and `LastAdmin` when it is the
    /// only active ADMIN, checked atomically with the deletion.
    async fn delete(&self, id: UserId, events: &[AuditRecord]) -> Result<(), RepoError>;

    /// Users matching `filter`, ordered by `created_at` then id, windowed by `page`, with
    /// the total number of matches (a `limit` of 0 only counts).
    async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>, RepoError>;

    /// Counts a login attempt before its password is verified, so that no more attempts
    /// are verified than the lockout allows: when the account is not locked at `now` and
    /// fewer than `limit` attempts are counted, adds one to `failed_logins` (the attempt
    /// counts as a failure until it proves a success) and answers `Admitted` with the new
    /// count; otherwise answers `Locked` or `Saturated` and changes nothing.
    ///
    /// # Errors
    /// MUST return `NotFound` when no user has that id. Concurrent calls MUST never lose a
    /// count nor admit more than `limit` attempts between two successes or locks.
    async fn reserve_login_attempt(
        &self,
        id: UserId,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Attempt, RepoError>;

    /// Records a verified password (a login, or the confirmation of a self-service
    /// change): unless the account is locked at `now`, resets `failed_logins`, sets
    /// `last_login_at` when given, and appends `events`, answering `None`; when it is
    /// locked, changes nothing and answers the end of the lock. A success never clears a lock.
    ///
    /// # Errors
    /// MUST return `NotFound` when no user has that id.
    async fn record_success(
        &self,
        id: UserId,
        now: OffsetDateTime,
        last_login_at: Option<OffsetDateTime>,
        events: &[AuditRecord],
    ) -> Result<Option<OffsetDateTime>, RepoError>;

    /// Locks the account until `until` and resets `failed_logins`, appending `events`,
    /// unless it is already locked at `now`: then changes nothing. Answers whether it
    /// locked.
    ///
    /// # Errors
    /// MUST return `NotFound` when no user has that id.
    async fn lock(
        &self,
        id: UserId,
        until: OffsetDateTime,
        now: OffsetDateTime,
        events: &[AuditRecord],
    ) -> Result<bool, RepoError>;

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

/// What a password attempt is counted against by the [`RateLimiter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitScope {
    /// The client (its address, as the transport adapter groups it).
    Client,
    /// The account the password is for (an id, or the identifier a login names).
    Account,
}

/// Budgets of password attempts: every use case that verifies or sets a password asks
/// before it hashes anything, per client and per account.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait RateLimiter: Send + Sync {
    /// Counts one attempt of `key` in `scope`; `Err` with the wait when over its budget.
    ///
    /// # Errors
    /// The time until the key's next attempt is admitted.
    fn check(&self, scope: LimitScope, key: &str) -> Result<(), std::time::Duration>;
}

/// A [`RateLimiter`] that admits everything: the command line, and rate limiting turned off.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unlimited;

impl RateLimiter for Unlimited {
    fn check(&self, _: LimitScope, _: &str) -> Result<(), std::time::Duration> {
        Ok(())
    }
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
            last_block_request: None,
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
