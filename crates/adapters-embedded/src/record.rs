//! The storage record of a user: what the `users` table holds, separate from the domain
//! `User` so that the file format changes only when this module says so.
//!
//! Records are JSON objects (`serde_json`). JSON is not the most compact encoding, but it is
//! self-describing: a record can be read with any tool when something goes wrong, and a
//! later schema can add optional fields without rewriting the file. Every record carries
//! its schema version in `v`; a reader of a future `v = 2` keeps a branch for `v = 1`
//! (migrating on read, or in a pass at open), so old files stay readable.
//!
//! Reading a record back re-validates every field through the domain's `parse` functions:
//! a record that does not make a valid user is reported as `RepoError::Other`, never a
//! panic, and never a `User` that breaks the value types' guarantees.

use domain::model::{
    Address, BlockRequest, Email, FullName, Grade, IdempotencyKey, Login, PasswordHash, Phone,
    Role, Sex, User, UserId,
};
use domain::ports::RepoError;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Schema version written into every new record.
pub(crate) const RECORD_VERSION: u32 = 1;

/// Version 1 of the stored user. Times are Unix milliseconds (UTC): the store keeps
/// millisecond precision, as the repository contract allows.
#[derive(Debug, Serialize, Deserialize)]
struct UserRecord {
    v: u32,
    id: String,
    login: String,
    email: Option<String>,
    full_name: String,
    phone: Option<String>,
    /// The role's wire name (`Role::code`), stable across reorderings of the enum.
    role: String,
    grade: Option<String>,
    /// `M` or `F` (`Sex::code`).
    sex: Option<String>,
    address: Option<String>,
    agent_id: Option<String>,
    taxpayer_id: Option<String>,
    password_hash: String,
    active: bool,
    blocked: bool,
    must_change_password: bool,
    failed_logins: u32,
    locked_until_ms: Option<i64>,
    token_version: u64,
    last_login_at_ms: Option<i64>,
    created_at_ms: i64,
    updated_at_ms: i64,
    version: u64,
    /// Added within version 1 (absent in older records): the last block request made with
    /// an idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_block_request: Option<BlockRequestRecord>,
}

/// `User::last_block_request`.
#[derive(Debug, Serialize, Deserialize)]
struct BlockRequestRecord {
    key: String,
    blocked: bool,
}

/// The bytes stored for `user`.
pub(crate) fn encode(user: &User) -> Result<Vec<u8>, RepoError> {
    let record = UserRecord {
        v: RECORD_VERSION,
        id: user.id.to_string(),
        login: user.login.as_str().to_owned(),
        email: user.email.as_ref().map(|e| e.as_str().to_owned()),
        full_name: user.full_name.as_str().to_owned(),
        phone: user.phone.as_ref().map(|p| p.as_str().to_owned()),
        role: user.role.code().to_owned(),
        grade: user.grade.as_ref().map(|g| g.as_str().to_owned()),
        sex: user.sex.map(|s| s.code().to_owned()),
        address: user.address.as_ref().map(|a| a.as_str().to_owned()),
        agent_id: user.agent_id.map(|id| id.to_string()),
        taxpayer_id: user.taxpayer_id.map(|id| id.to_string()),
        password_hash: user.password_hash.as_str().to_owned(),
        active: user.active,
        blocked: user.blocked,
        must_change_password: user.must_change_password,
        failed_logins: user.failed_logins,
        locked_until_ms: user.locked_until.map(to_millis).transpose()?,
        token_version: user.token_version,
        last_login_at_ms: user.last_login_at.map(to_millis).transpose()?,
        created_at_ms: to_millis(user.created_at)?,
        updated_at_ms: to_millis(user.updated_at)?,
        version: user.version,
        last_block_request: user
            .last_block_request
            .as_ref()
            .map(|r| BlockRequestRecord {
                key: r.key.as_str().to_owned(),
                blocked: r.blocked,
            }),
    };
    serde_json::to_vec(&record)
        .map_err(|e| RepoError::Other(format!("cannot encode user {}: {e}", user.id)))
}

/// The user stored under the key `id`, rebuilt from `bytes` and re-validated.
pub(crate) fn decode(id: UserId, bytes: &[u8]) -> Result<User, RepoError> {
    let corrupt = |what: &str| RepoError::Other(format!("stored user {id} is corrupt: {what}"));
    let record: UserRecord =
        serde_json::from_slice(bytes).map_err(|e| corrupt(&format!("unreadable record: {e}")))?;
    if record.v != RECORD_VERSION {
        return Err(corrupt(&format!(
            "record version {} is unknown to this build (it reads version {RECORD_VERSION})",
            record.v
        )));
    }
    // A record filed under another id would make every index lie about its owner.
    if UserId::parse(&record.id) != Some(id) {
        return Err(corrupt(&format!(
            "record id {:?} differs from its key",
            record.id
        )));
    }
    let field = |e: domain::error::FieldError| corrupt(&format!("{}: {}", e.field, e.message));
    let uuid = |raw: &str, name: &str| {
        Uuid::parse_str(raw).map_err(|_| corrupt(&format!("{name} is not a UUID")))
    };
    let time = |ms: i64, name: &str| {
        from_millis(ms).map_err(|_| corrupt(&format!("{name} is out of range")))
    };
    Ok(User {
        id,
        // `recognise`, not `parse`: records written before a rule was added stay readable.
        login: Login::recognise(&record.login).map_err(field)?,
        email: record
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(field)?,
        full_name: FullName::recognise(&record.full_name).map_err(field)?,
        phone: record
            .phone
            .as_deref()
            .map(Phone::parse)
            .transpose()
            .map_err(field)?,
        role: Role::parse(&record.role).map_err(field)?,
        grade: record
            .grade
            .as_deref()
            .map(Grade::recognise)
            .transpose()
            .map_err(field)?,
        sex: record
            .sex
            .as_deref()
            .map(Sex::parse)
            .transpose()
            .map_err(field)?,
        address: record
            .address
            .as_deref()
            .map(Address::recognise)
            .transpose()
            .map_err(field)?,
        agent_id: record
            .agent_id
            .as_deref()
            .map(|raw| uuid(raw, "agent_id"))
            .transpose()?,
        taxpayer_id: record
            .taxpayer_id
            .as_deref()
            .map(|raw| uuid(raw, "taxpayer_id"))
            .transpose()?,
        password_hash: PasswordHash::new(record.password_hash),
        active: record.active,
        blocked: record.blocked,
        must_change_password: record.must_change_password,
        failed_logins: record.failed_logins,
        locked_until: record
            .locked_until_ms
            .map(|ms| time(ms, "locked_until"))
            .transpose()?,
        token_version: record.token_version,
        last_login_at: record
            .last_login_at_ms
            .map(|ms| time(ms, "last_login_at"))
            .transpose()?,
        created_at: time(record.created_at_ms, "created_at")?,
        updated_at: time(record.updated_at_ms, "updated_at")?,
        version: record.version,
        last_block_request: record
            .last_block_request
            .map(|r| {
                Ok::<_, RepoError>(BlockRequest {
                    key: IdempotencyKey::parse(&r.key).map_err(field)?,
                    blocked: r.blocked,
                })
            })
            .transpose()?,
    })
}

/// Unix milliseconds of `t`, rounded towards the past so that truncation never reorders
/// two instants (plain division would round times before 1970 towards the future).
pub(crate) fn to_millis(t: OffsetDateTime) -> Result<i64, RepoError> {
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    // Every `OffsetDateTime` (±9999 years) fits; the error is for completeness.
    i64::try_from(ms).map_err(|_| RepoError::Other(format!("time {t} is out of range")))
}

/// The instant `ms` Unix milliseconds after the epoch, in UTC.
fn from_millis(ms: i64) -> Result<OffsetDateTime, time::error::ComponentRange> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use repository_contract::sample_user;
    use time::Duration;

    use super::*;

    fn other(r: Result<User, RepoError>) -> String {
        match r {
            Err(RepoError::Other(message)) => message,
            wrong => panic!("expected RepoError::Other, got {wrong:?}"),
        }
    }

    #[test]
    fn a_record_round_trips_every_field() {
        let mut user = sample_user("Round.Trip", Some("Round.Trip@Example.org"));
        user.locked_until = Some(user.created_at + Duration::minutes(15));
        user.last_login_at = Some(user.created_at - Duration::days(400));
        user.failed_logins = 4;
        let bytes = encode(&user).unwrap();
        assert_eq!(decode(user.id, &bytes).unwrap(), user);
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["v"], 1);
    }

    #[test]
    fn times_are_truncated_to_the_millisecond_towards_the_past() {
        let mut user = sample_user("precise", None);
        user.created_at += Duration::nanoseconds(999_999);
        let before_epoch = OffsetDateTime::UNIX_EPOCH - Duration::nanoseconds(1);
        user.last_login_at = Some(before_epoch);
        let back = decode(user.id, &encode(&user).unwrap()).unwrap();
        assert_eq!(
            back.created_at,
            user.created_at - Duration::nanoseconds(999_999)
        );
        assert_eq!(
            back.last_login_at,
            Some(OffsetDateTime::UNIX_EPOCH - Duration::milliseconds(1))
        );
    }

    #[test]
    fn unreadable_or_invalid_records_are_errors_not_panics() {
        let user = sample_user("victim", Some("victim@example.org"));
        let good: serde_json::Value = serde_json::from_slice(&encode(&user).unwrap()).unwrap();
        let with = |key: &str, value: serde_json::Value| {
            let mut record = good.clone();
            record[key] = value;
            serde_json::to_vec(&record).unwrap()
        };

        assert!(other(decode(user.id, b"not json")).contains("unreadable"));
        assert!(other(decode(user.id, b"")).contains("unreadable"));
        assert!(other(decode(user.id, &with("v", 2.into()))).contains("version 2"));
        assert!(other(decode(user.id, &with("login", "a b".into()))).contains("login"));
        assert!(other(decode(user.id, &with("email", "nope".into()))).contains("email"));
        assert!(other(decode(user.id, &with("role", "ROOT".into()))).contains("role"));
        assert!(other(decode(user.id, &with("sex", "X".into()))).contains("sex"));
        assert!(other(decode(user.id, &with("agent_id", "42".into()))).contains("agent_id"));
        assert!(
            other(decode(user.id, &with("created_at_ms", i64::MAX.into()))).contains("created_at")
        );
        assert!(other(decode(user.id, &with("failed_logins", (-1).into()))).contains("unreadable"));
        let elsewhere = sample_user("elsewhere", None).id;
        assert!(other(decode(elsewhere, &encode(&user).unwrap())).contains("differs"));
    }
}
