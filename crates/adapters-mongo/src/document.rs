//! The storage shape of a user (`UserDocument`) and its conversions from and to the
//! domain's `User`.
//!
//! Encoding choices (each checked by the tests):
//! - `_id` is the UUID as its canonical text (lower-case, hyphenated, 36 characters).
//!   Text sorts like the UUID's bytes, so `{created_at: 1, _id: 1}` gives the order the
//!   port promises; it reads well in a shell and in logs, and FerretDB 1.x turns an
//!   equality on a string `_id` into a primary-key look-up, where a binary `_id` makes it
//!   scan the collection. `agent_id` and `taxpayer_id` use the same form.
//! - Times are BSON dates (milliseconds since the epoch, UTC), truncated towards the
//!   past; the contract suite only stores millisecond times.
//! - Counters are 64-bit integers; a `u64` above `i64::MAX` cannot be stored and is
//!   refused on write.
//! - Absent optional values are absent fields, never `null`: the unique index on
//!   `email_lc` would count `null` as a value (FerretDB does), so two users without
//!   e-mail would clash.
//! - `login_lc`, `email_lc` and `name_words` are derived (the keys of uniqueness and of
//!   the search), written with every user and never read back into the domain.

use bson::{Bson, DateTime, Document, RawDocument};
use domain::model::{
    Address, BlockRequest, Email, FullName, Grade, IdempotencyKey, Login, PasswordHash, Phone,
    Role, Sex, User, UserId, check_links,
};
use domain::ports::{RepoError, SearchText};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The field names queries and updates use; a test checks them against the serialised
/// `UserDocument`.
pub(crate) mod field {
    pub(crate) const ID: &str = "_id";
    pub(crate) const LOGIN: &str = "login";
    pub(crate) const LOGIN_LC: &str = "login_lc";
    pub(crate) const LOGIN_SKELETON: &str = "login_skel";
    pub(crate) const EMAIL: &str = "email";
    pub(crate) const EMAIL_LC: &str = "email_lc";
    pub(crate) const NAME_WORDS: &str = "name_words";
    pub(crate) const FULL_NAME: &str = "full_name";
    pub(crate) const PHONE: &str = "phone";
    pub(crate) const ROLE: &str = "role";
    pub(crate) const GRADE: &str = "grade";
    pub(crate) const SEX: &str = "sex";
    pub(crate) const ADDRESS: &str = "address";
    pub(crate) const AGENT_ID: &str = "agent_id";
    pub(crate) const TAXPAYER_ID: &str = "taxpayer_id";
    pub(crate) const ACTIVE: &str = "active";
    pub(crate) const BLOCKED: &str = "blocked";
    pub(crate) const FAILED_LOGINS: &str = "failed_logins";
    pub(crate) const LOCKED_UNTIL: &str = "locked_until";
    pub(crate) const LAST_LOGIN_AT: &str = "last_login_at";
    pub(crate) const CREATED_AT: &str = "created_at";
    pub(crate) const VERSION: &str = "version";
    /// Audit events of the last writes, not yet moved to the trail (see `outbox.rs`).
    pub(crate) const OUTBOX: &str = "_outbox";
    /// Set on a user being deleted: invisible to every read, removed once its events are
    /// in the trail (see `outbox.rs`).
    pub(crate) const DELETED: &str = "_deleted";

    /// The login bookkeeping: written only by `insert` and by its own methods, never by
    /// `update` (see `UserRepository`).
    pub(crate) const BOOKKEEPING: [&str; 3] = [FAILED_LOGINS, LOCKED_UNTIL, LAST_LOGIN_AT];

    pub(crate) const LAST_BLOCK_REQUEST: &str = "last_block_request";

    /// Fields that are absent when the user has no such value; `update` unsets them.
    pub(crate) const OPTIONAL_PROFILE: [&str; 9] = [
        EMAIL,
        EMAIL_LC,
        PHONE,
        GRADE,
        SEX,
        ADDRESS,
        AGENT_ID,
        TAXPAYER_ID,
        LAST_BLOCK_REQUEST,
    ];
}

/// A user as stored in the `users` collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct UserDocument {
    #[serde(rename = "_id")]
    id: String,
    login: String,
    login_lc: String,
    /// Derived like `login_lc`; absent from documents written before migration 0004.
    #[serde(default)]
    login_skel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email_lc: Option<String>,
    full_name: String,
    name_words: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grade: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    taxpayer_id: Option<String>,
    password_hash: String,
    active: bool,
    blocked: bool,
    must_change_password: bool,
    failed_logins: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    locked_until: Option<DateTime>,
    token_version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_login_at: Option<DateTime>,
    created_at: DateTime,
    updated_at: DateTime,
    version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_block_request: Option<BlockRequestDocument>,
}

/// `User::last_block_request`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct BlockRequestDocument {
    key: String,
    blocked: bool,
}

/// The stored form of an id (see the module docs).
pub(crate) fn id_key(id: UserId) -> String {
    uuid_text(*id.as_uuid())
}

fn uuid_text(uuid: Uuid) -> String {
    uuid.hyphenated().to_string()
}

/// A time as a BSON date: milliseconds since the epoch, rounded towards the past (so that
/// a time before 1970 with a sub-millisecond part does not move forward).
pub(crate) fn bson_date(t: OffsetDateTime) -> Result<DateTime, RepoError> {
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(ms)
        .map(DateTime::from_millis)
        .map_err(|_| RepoError::Other(format!("time {t} cannot be stored as a BSON date")))
}

/// A stored counter: the domain's unsigned integers above `i64::MAX` do not fit.
pub(crate) fn stored_int(value: u64, name: &str) -> Result<i64, RepoError> {
    i64::try_from(value)
        .map_err(|_| RepoError::Other(format!("{name} {value} is too large to be stored")))
}

impl TryFrom<&User> for UserDocument {
    type Error = RepoError;

    fn try_from(user: &User) -> Result<Self, RepoError> {
        Ok(Self {
            id: id_key(user.id),
            login: user.login.as_str().to_owned(),
            login_lc: user.login.key().to_owned(),
            login_skel: user.login.skeleton().to_owned(),
            email: user.email.as_ref().map(|e| e.as_str().to_owned()),
            email_lc: user.email.as_ref().map(|e| e.key().to_owned()),
            full_name: user.full_name.as_str().to_owned(),
            name_words: SearchText::name_words(user.full_name.as_str()).collect(),
            phone: user.phone.as_ref().map(|p| p.as_str().to_owned()),
            role: user.role.code().to_owned(),
            grade: user.grade.as_ref().map(|g| g.as_str().to_owned()),
            sex: user.sex.map(|s| s.code().to_owned()),
            address: user.address.as_ref().map(|a| a.as_str().to_owned()),
            agent_id: user.agent_id.map(uuid_text),
            taxpayer_id: user.taxpayer_id.map(uuid_text),
            password_hash: user.password_hash.as_str().to_owned(),
            active: user.active,
            blocked: user.blocked,
            must_change_password: user.must_change_password,
            failed_logins: i64::from(user.failed_logins),
            locked_until: user.locked_until.map(bson_date).transpose()?,
            token_version: stored_int(user.token_version, "token_version")?,
            last_login_at: user.last_login_at.map(bson_date).transpose()?,
            created_at: bson_date(user.created_at)?,
            updated_at: bson_date(user.updated_at)?,
            version: stored_int(user.version, "version")?,
            last_block_request: user
                .last_block_request
                .as_ref()
                .map(|r| BlockRequestDocument {
                    key: r.key.as_str().to_owned(),
                    blocked: r.blocked,
                }),
        })
    }
}

impl UserDocument {
    /// The document as BSON, for writes.
    pub(crate) fn to_bson(&self) -> Result<Document, RepoError> {
        bson::serialize_to_document(self)
            .map_err(|e| RepoError::Other(format!("cannot encode a user document: {e}")))
    }

    /// The `$set` / `$unset` pair of an `update`: every field but `_id` and the login
    /// bookkeeping is set, and every absent optional field is unset (a removed e-mail
    /// must leave no `email_lc` behind, see the module docs).
    pub(crate) fn update_operators(&self) -> Result<Document, RepoError> {
        let mut set = self.to_bson()?;
        set.remove(field::ID);
        for name in field::BOOKKEEPING {
            set.remove(name);
        }
        let mut unset = Document::new();
        for name in field::OPTIONAL_PROFILE {
            if !set.contains_key(name) {
                unset.insert(name, "");
            }
        }
        let mut operators = Document::new();
        operators.insert("$set", set);
        if !unset.is_empty() {
            operators.insert("$unset", unset);
        }
        Ok(operators)
    }
}

/// Error for a stored document the domain refuses: the store holds something this code
/// did not write (a manual edit, another program), so it is reported, never trusted.
fn corrupt(id: &str, what: &str, why: impl std::fmt::Display) -> RepoError {
    RepoError::Other(format!("corrupt user document {id:?}: {what}: {why}"))
}

fn parse_uuid(id: &str, what: &str, text: &str) -> Result<Uuid, RepoError> {
    let uuid = Uuid::try_parse(text).map_err(|e| corrupt(id, what, e))?;
    // Only the canonical form is ever written; another spelling of the same UUID would
    // not be found by an equality on the canonical one, nor sort like it.
    if uuid_text(uuid) != text {
        return Err(corrupt(id, what, "not a canonical lower-case UUID"));
    }
    Ok(uuid)
}

fn time_of(id: &str, what: &str, date: DateTime) -> Result<OffsetDateTime, RepoError> {
    OffsetDateTime::UNIX_EPOCH
        .checked_add(time::Duration::milliseconds(date.timestamp_millis()))
        .ok_or_else(|| corrupt(id, what, "date out of the supported range"))
}

fn optional<T, E: std::fmt::Display>(
    id: &str,
    what: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, RepoError> {
    value
        .map(|v| parse(v).map_err(|e| corrupt(id, what, e)))
        .transpose()
}

/// Field errors of the domain carry a message meant for people; that is the reason given.
fn reason(e: domain::error::FieldError) -> &'static str {
    e.message
}

impl TryFrom<UserDocument> for User {
    type Error = RepoError;

    /// Re-validates every field with the domain's own parsers, and checks that the keys
    /// of uniqueness agree with the values they stand for.
    fn try_from(doc: UserDocument) -> Result<Self, RepoError> {
        let id = &doc.id;
        let user_id = UserId::from_uuid(parse_uuid(id, "_id", id)?);
        // `recognise`, not `parse`: documents written before a rule was added stay readable.
        let login = Login::recognise(&doc.login).map_err(|e| corrupt(id, "login", reason(e)))?;
        if login.key() != doc.login_lc {
            return Err(corrupt(id, "login_lc", "does not match the login"));
        }
        let email = optional(id, "email", doc.email.as_deref(), |v| {
            Email::parse(v).map_err(reason)
        })?;
        if email.as_ref().map(Email::key) != doc.email_lc.as_deref() {
            return Err(corrupt(id, "email_lc", "does not match the e-mail"));
        }
        let role = Role::parse(&doc.role).map_err(|e| corrupt(id, "role", reason(e)))?;
        let agent_id = optional(id, "agent_id", doc.agent_id.as_deref(), |v| {
            parse_uuid(id, "agent_id", v)
        })?;
        let taxpayer_id = optional(id, "taxpayer_id", doc.taxpayer_id.as_deref(), |v| {
            parse_uuid(id, "taxpayer_id", v)
        })?;
        check_links(role, agent_id, taxpayer_id)
            .map_err(|e| corrupt(id, "agent_id/taxpayer_id", e))?;
        let counter = |what: &str, value: i64| {
            u64::try_from(value).map_err(|_| corrupt(id, what, "negative"))
        };
        Ok(User {
            id: user_id,
            login,
            email,
            full_name: FullName::recognise(&doc.full_name)
                .map_err(|e| corrupt(id, "full_name", reason(e)))?,
            phone: optional(id, "phone", doc.phone.as_deref(), |v| {
                Phone::parse(v).map_err(reason)
            })?,
            role,
            grade: optional(id, "grade", doc.grade.as_deref(), |v| {
                Grade::recognise(v).map_err(reason)
            })?,
            sex: optional(id, "sex", doc.sex.as_deref(), |v| {
                Sex::parse(v).map_err(reason)
            })?,
            address: optional(id, "address", doc.address.as_deref(), |v| {
                Address::recognise(v).map_err(reason)
            })?,
            agent_id,
            taxpayer_id,
            password_hash: PasswordHash::new(doc.password_hash),
            active: doc.active,
            blocked: doc.blocked,
            must_change_password: doc.must_change_password,
            failed_logins: u32::try_from(doc.failed_logins)
                .map_err(|_| corrupt(id, "failed_logins", "out of range"))?,
            locked_until: doc
                .locked_until
                .map(|d| time_of(id, "locked_until", d))
                .transpose()?,
            token_version: counter("token_version", doc.token_version)?,
            last_login_at: doc
                .last_login_at
                .map(|d| time_of(id, "last_login_at", d))
                .transpose()?,
            created_at: time_of(id, "created_at", doc.created_at)?,
            updated_at: time_of(id, "updated_at", doc.updated_at)?,
            version: counter("version", doc.version)?,
            last_block_request: doc
                .last_block_request
                .map(|r| {
                    Ok::<_, RepoError>(BlockRequest {
                        key: IdempotencyKey::parse(&r.key)
                            .map_err(|e| corrupt(id, "last_block_request", reason(e)))?,
                        blocked: r.blocked,
                    })
                })
                .transpose()?,
        })
    }
}

/// Decodes a document read from the collection into a `User`.
///
/// Straight from the BSON bytes: bson's `Document` decoder goes through extended JSON,
/// which clamps a date beyond year 9999 instead of refusing it.
pub(crate) fn user_from_raw(raw: &RawDocument) -> Result<User, RepoError> {
    let doc: UserDocument = bson::deserialize_from_slice(raw.as_bytes()).map_err(|e| {
        // The id, when there is one, makes the document findable.
        let id = raw
            .get(field::ID)
            .ok()
            .flatten()
            .and_then(|v| Bson::try_from(v).ok())
            .map_or_else(|| "<no _id>".to_owned(), |v| v.to_string());
        RepoError::Other(format!("corrupt user document {id}: {e}"))
    })?;
    User::try_from(doc)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use bson::{RawDocumentBuf, doc};
    use repository_contract::sample_user;

    use super::*;

    fn user_from_bson(doc: Document) -> Result<User, RepoError> {
        user_from_raw(&RawDocumentBuf::try_from(&doc).unwrap())
    }

    fn other(r: Result<User, RepoError>) -> String {
        match r {
            Err(RepoError::Other(m)) => m,
            r => panic!("expected RepoError::Other, got {r:?}"),
        }
    }

    #[test]
    fn a_user_round_trips_through_its_document() {
        let mut user = sample_user("Round.Trip", Some("Round.Trip@Example.org"));
        user.failed_logins = u32::MAX;
        user.locked_until = Some(user.created_at + time::Duration::days(1));
        user.last_login_at = Some(OffsetDateTime::UNIX_EPOCH - time::Duration::days(365));
        user.token_version = i64::MAX as u64;
        let raw = UserDocument::try_from(&user).unwrap().to_bson().unwrap();
        assert_eq!(user_from_bson(raw).unwrap(), user);
    }

    #[test]
    fn keys_and_derived_fields_are_written() {
        let mut user = sample_user("MiXed", Some("Mi.Xed@Example.ORG"));
        user.full_name = FullName::parse("Élodie  van DER Berg").unwrap();
        let raw = UserDocument::try_from(&user).unwrap().to_bson().unwrap();
        assert_eq!(raw.get_str("_id").unwrap(), user.id.to_string());
        assert_eq!(raw.get_str("login_lc").unwrap(), "mixed");
        assert_eq!(raw.get_str("email_lc").unwrap(), "mi.xed@example.org");
        let words: Vec<&str> = raw
            .get_array("name_words")
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        assert_eq!(words, ["élodie", "van", "der", "berg"]);
        assert!(matches!(raw.get("created_at"), Some(Bson::DateTime(_))));
        assert!(matches!(raw.get("version"), Some(Bson::Int64(1))));
    }

    #[test]
    fn absent_values_are_absent_fields_not_nulls() {
        let mut user = sample_user("lonely", None);
        user.phone = None;
        user.grade = None;
        user.sex = None;
        user.address = None;
        user.agent_id = None;
        let raw = UserDocument::try_from(&user).unwrap().to_bson().unwrap();
        for name in field::OPTIONAL_PROFILE
            .iter()
            .chain(&[field::LOCKED_UNTIL, field::LAST_LOGIN_AT])
        {
            assert!(!raw.contains_key(name), "{name} in {raw}");
        }
        assert!(raw.values().all(|v| *v != Bson::Null), "{raw}");
    }

    #[test]
    fn the_stored_fields_are_the_documented_ones() {
        let mut user = sample_user("every-field", Some("every@example.org"));
        user.locked_until = Some(user.created_at);
        user.last_login_at = Some(user.created_at);
        let raw = UserDocument::try_from(&user).unwrap().to_bson().unwrap();
        let mut written: Vec<&str> = raw.keys().map(String::as_str).collect();
        written.sort_unstable();
        // The sample has every field but a CONTRIBUABLE's `taxpayer_id` and a block request.
        // (`last_block_request` is in `OPTIONAL_PROFILE`, filtered out below with it.)
        assert_eq!(
            written,
            [
                "_id",
                "active",
                "address",
                "agent_id",
                "blocked",
                "created_at",
                "email",
                "email_lc",
                "failed_logins",
                "full_name",
                "grade",
                "last_login_at",
                "locked_until",
                "login",
                "login_lc",
                "login_skel",
                "must_change_password",
                "name_words",
                "password_hash",
                "phone",
                "role",
                "sex",
                "token_version",
                "updated_at",
                "version",
            ]
        );
        // The names the queries and updates use are among them.
        for name in field::OPTIONAL_PROFILE
            .iter()
            .chain(&field::BOOKKEEPING)
            .chain(&[
                field::ID,
                field::NAME_WORDS,
                field::CREATED_AT,
                field::VERSION,
            ])
            .chain(&[
                field::ROLE,
                field::ACTIVE,
                field::BLOCKED,
                field::LOGIN,
                field::LOGIN_SKELETON,
                field::FULL_NAME,
            ])
            .filter(|n| ![field::TAXPAYER_ID, field::LAST_BLOCK_REQUEST].contains(n))
        {
            assert!(written.contains(name), "{name}");
        }
    }

    #[test]
    fn update_operators_skip_id_and_bookkeeping_and_unset_absent_values() {
        let mut user = sample_user("updated", None);
        user.phone = None;
        user.locked_until = Some(user.created_at);
        let ops = UserDocument::try_from(&user)
            .unwrap()
            .update_operators()
            .unwrap();
        let set = ops.get_document("$set").unwrap();
        for name in field::BOOKKEEPING.iter().chain(&[field::ID]) {
            assert!(!set.contains_key(name), "{name} is set");
        }
        assert_eq!(set.get_i64("version").unwrap(), 1);
        let unset: Vec<&str> = ops
            .get_document("$unset")
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            unset,
            [
                "email",
                "email_lc",
                "phone",
                "taxpayer_id",
                "last_block_request"
            ]
        );
    }

    #[test]
    fn times_keep_milliseconds_and_round_towards_the_past() {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::nanoseconds(1_234_999_999);
        assert_eq!(bson_date(t).unwrap().timestamp_millis(), 1_234);
        let before = OffsetDateTime::UNIX_EPOCH - time::Duration::nanoseconds(1);
        assert_eq!(bson_date(before).unwrap().timestamp_millis(), -1);
    }

    #[test]
    fn unsigned_counters_beyond_i64_are_refused_on_write() {
        let mut user = sample_user("huge", None);
        user.version = u64::MAX;
        assert!(matches!(
            UserDocument::try_from(&user),
            Err(RepoError::Other(m)) if m.contains("version")
        ));
    }

    /// A valid stored document, to corrupt one field at a time.
    fn valid_raw() -> Document {
        let user = sample_user("corruptible", Some("corruptible@example.org"));
        UserDocument::try_from(&user).unwrap().to_bson().unwrap()
    }

    #[test]
    fn corrupt_documents_are_errors_not_panics() {
        // Values of the right BSON type that the domain refuses: the error names the field.
        let refused: Vec<(&str, Document)> = vec![
            ("_id", doc! {"_id": "not-a-uuid"}),
            ("_id", doc! {"_id": "7C9E6679-7425-40DE-944B-E07FC1F90AE7"}),
            ("login", doc! {"login": "no spaces allowed"}),
            ("login_lc", doc! {"login_lc": "someone-else"}),
            ("email", doc! {"email": "not-an-address"}),
            ("email_lc", doc! {"email_lc": "other@example.org"}),
            ("full_name", doc! {"full_name": ""}),
            ("phone", doc! {"phone": "0820"}),
            ("role", doc! {"role": "EMPEROR"}),
            ("sex", doc! {"sex": "X"}),
            ("agent_id", doc! {"agent_id": "nope"}),
            ("agent_id", doc! {"taxpayer_id": Uuid::nil().to_string()}),
            ("failed_logins", doc! {"failed_logins": -1_i64}),
            (
                "failed_logins",
                doc! {"failed_logins": i64::from(u32::MAX) + 1},
            ),
            ("version", doc! {"version": -3_i64}),
            (
                "created_at",
                doc! {"created_at": DateTime::from_millis(i64::MAX)},
            ),
        ];
        for (what, change) in refused {
            let mut raw = valid_raw();
            raw.extend(change.clone());
            let message = other(user_from_bson(raw));
            assert!(message.contains(what), "{change}: {message}");
        }
        let mut stale_key = valid_raw();
        stale_key.remove("email");
        assert!(other(user_from_bson(stale_key)).contains("email_lc"));

        // Wrong BSON types and missing fields: the decoder's message, with the id.
        let mut cases: Vec<Document> = [
            doc! {"_id": 42},
            doc! {"updated_at": "yesterday"},
            doc! {"active": Bson::Null},
            doc! {"name_words": "not an array"},
            doc! {"version": 1.5},
        ]
        .into_iter()
        .map(|change| {
            let mut raw = valid_raw();
            raw.extend(change);
            raw
        })
        .collect();
        let mut without_login = valid_raw();
        without_login.remove("login");
        cases.push(without_login);
        cases.push(Document::new());
        for raw in cases {
            let shown = raw.to_string();
            let message = other(user_from_bson(raw));
            assert!(
                message.starts_with("corrupt user document"),
                "{shown}: {message}"
            );
        }
    }
}
