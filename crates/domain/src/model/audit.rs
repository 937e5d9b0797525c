//! The audit trail: what happened to whom, by whom, when, from where, and how it ended.
//!
//! Use cases describe each security-relevant call as an [`AuditRecord`]; the store appends
//! it to a hash chain and hands back the [`AuditEvent`] (its place and hashes). Records
//! never hold a password, a hash or a token: only ids, codes and field names.

use time::OffsetDateTime;

use super::UserId;

/// What an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuditKind {
    /// A login attempt that issued a token.
    LoginSucceeded,
    /// A login attempt refused (its reason is the error code).
    LoginFailed,
    /// Too many failures: the account was locked (rule 9).
    AccountLocked,
    /// Every token of the actor was revoked (rule 7).
    Logout,
    /// Self-registration.
    Registered,
    /// The actor changed their own password.
    PasswordChanged,
    /// The actor changed their own e-mail or name.
    ProfileUpdated,
    /// The actor deleted their own account.
    AccountDeleted,
    /// An account created by an administrator or the command line.
    UserCreated,
    /// An administrator changed another account.
    UserUpdated,
    /// An account's role changed (recorded besides its `UserUpdated`).
    RoleChanged,
    /// An account was blocked.
    UserBlocked,
    /// An account was unblocked.
    UserUnblocked,
    /// An administrator replaced an account's password.
    PasswordReset,
    /// An administrator deleted an account.
    UserDeleted,
}

impl AuditKind {
    /// Every kind.
    pub const ALL: [AuditKind; 15] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::AccountLocked,
        Self::Logout,
        Self::Registered,
        Self::PasswordChanged,
        Self::ProfileUpdated,
        Self::AccountDeleted,
        Self::UserCreated,
        Self::UserUpdated,
        Self::RoleChanged,
        Self::UserBlocked,
        Self::UserUnblocked,
        Self::PasswordReset,
        Self::UserDeleted,
    ];

    /// The wire and storage name, e.g. `LOGIN_FAILED`; part of the chained form, never renamed.
    pub fn code(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "LOGIN_SUCCEEDED",
            Self::LoginFailed => "LOGIN_FAILED",
            Self::AccountLocked => "ACCOUNT_LOCKED",
            Self::Logout => "LOGOUT",
            Self::Registered => "REGISTERED",
            Self::PasswordChanged => "PASSWORD_CHANGED",
            Self::ProfileUpdated => "PROFILE_UPDATED",
            Self::AccountDeleted => "ACCOUNT_DELETED",
            Self::UserCreated => "USER_CREATED",
            Self::UserUpdated => "USER_UPDATED",
            Self::RoleChanged => "ROLE_CHANGED",
            Self::UserBlocked => "USER_BLOCKED",
            Self::UserUnblocked => "USER_UNBLOCKED",
            Self::PasswordReset => "PASSWORD_RESET",
            Self::UserDeleted => "USER_DELETED",
        }
    }

    /// The kind named by `code`, exactly as [`AuditKind::code`] spells it.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// Where a request came from; stamped on every event it causes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The request id the service answered with (`X-Request-Id`).
    pub request_id: Option<String>,
    /// The client's address, as the rate limiter sees it (trusted proxies resolved).
    pub client_ip: Option<String>,
}

/// One security-relevant call, as the use case saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// When, to the millisecond (what every store keeps).
    pub at: OffsetDateTime,
    /// What.
    pub kind: AuditKind,
    /// `None` when it took effect; else the stable error code it ended with.
    pub failure: Option<String>,
    /// Who acted: `None` for anonymous calls (login, registration) and the command line.
    pub actor: Option<UserId>,
    /// Whose account it concerned, when one is known.
    pub target: Option<UserId>,
    /// Request id and client address.
    pub context: RequestContext,
    /// Facts about the call as (name, value) pairs, in the order given: names of the fields
    /// changed, roles before and after, a block's reason, a lock's failures and length.
    /// Never a secret.
    pub details: Vec<(String, String)>,
}

impl AuditRecord {
    /// Whether the call took effect.
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }

    /// `at` rounded down to the millisecond, so a record reads back from any store unchanged.
    pub fn truncate_to_millis(at: OffsetDateTime) -> OffsetDateTime {
        let nanos = at.nanosecond();
        at.replace_nanosecond(nanos - nanos % 1_000_000)
            .unwrap_or(at)
    }
}

/// A record once stored: its place in the chain and the hashes that tie it to the previous one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// What was recorded.
    pub record: AuditRecord,
    /// `hash` of event `seq - 1` (64 zeros for the first), lowercase hex SHA-256.
    pub prev_hash: String,
    /// Hash of this event's canonical form, which includes `prev_hash`.
    pub hash: String,
}

/// A signed statement that event `seq` of the trail had hash `hash`: signed with a key the
/// store does not hold, so whoever can write the store cannot forge one, and a trail that
/// ends before a checkpoint's event was cut at its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditCheckpoint {
    /// Number of the event it names.
    pub seq: u64,
    /// That event's hash.
    pub hash: String,
    /// When it was signed, to the millisecond (what every store keeps).
    pub at: OffsetDateTime,
    /// Id of the key that signed it, which verification looks the key up by.
    pub key_id: String,
    /// Signature over the canonical form of the four fields above (lowercase hex).
    pub signature: String,
}

/// Filters of the audit trail; they combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Who acted.
    pub actor: Option<UserId>,
    /// Whose account.
    pub target: Option<UserId>,
    /// Either the actor or the target (a user's history).
    pub involving: Option<UserId>,
    /// What.
    pub kind: Option<AuditKind>,
    /// At or after.
    pub from: Option<OffsetDateTime>,
    /// Strictly before.
    pub to: Option<OffsetDateTime>,
}

impl AuditFilter {
    /// Whether `record` passes every filter; the reference semantics every store must reproduce.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.actor.is_none_or(|a| record.actor == Some(a))
            && self.target.is_none_or(|t| record.target == Some(t))
            && self
                .involving
                .is_none_or(|u| record.actor == Some(u) || record.target == Some(u))
            && self.kind.is_none_or(|k| record.kind == k)
            && self.from.is_none_or(|from| record.at >= from)
            && self.to.is_none_or(|to| record.at < to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_codes_round_trip_and_are_distinct() {
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.code()), Some(kind));
        }
        let mut codes: Vec<_> = AuditKind::ALL.iter().map(|k| k.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), AuditKind::ALL.len());
        assert_eq!(AuditKind::parse("login_failed"), None);
    }

    #[test]
    fn truncation_keeps_whole_milliseconds() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let t = AuditRecord::truncate_to_millis(at);
        assert_eq!(t.unix_timestamp_nanos(), 1_700_000_000_123_000_000);
    }
}
