//! From driver errors to `RepoError`: what counts as "store unavailable", and how a
//! duplicate key is recognised and attributed to a field on MongoDB and on FerretDB.

use bson::RawDocument;
use mongodb::error::{Error, ErrorKind, WriteFailure};

use domain::ports::RepoError;

use crate::document::field;

/// Server error codes meaning "not now" rather than "never": a node stepping down,
/// shutting down or unreachable behind a mongos, or a server-side time limit.
const TRANSIENT_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    50,    // MaxTimeMSExpired
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// MongoDB's duplicate-key code (also FerretDB's, on insert).
const DUPLICATE_KEY: i32 = 11000;

/// A unique index the store may report as violated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UniqueKey {
    Id,
    Login,
    Email,
}

/// What a failed write means for the repository.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// A unique index refused the write; `Some` when the error says which one.
    Duplicate(Option<UniqueKey>),
    /// Anything else, already translated.
    Repo(RepoError),
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        match duplicate_key(&e) {
            Some(key) => Self::Duplicate(key),
            None => Self::Repo(repo_error(&e)),
        }
    }
}

/// Whether the driver error is a duplicate key, and if so on which index when known.
///
/// - MongoDB: code 11000, from a write error (insert, update) or a command error
///   (findAndModify); the reply names the index (`index: login_lc_unique dup key: …`)
///   and, since 4.2, holds its `keyPattern`.
/// - FerretDB 1.x: code 11000 on insert, without the index; on update, code 1
///   (`InternalError`) carrying SQLite's `UNIQUE constraint failed: index
///   '<collection>_<hash>_login_lc_unique'`.
fn duplicate_key(e: &Error) -> Option<Option<UniqueKey>> {
    let (code, message) = match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => (w.code, w.message.as_str()),
        ErrorKind::Command(c) => (c.code, c.message.as_str()),
        _ => return None,
    };
    let is_duplicate =
        code == DUPLICATE_KEY || (code == 1 && message.contains("UNIQUE constraint failed"));
    if !is_duplicate {
        return None;
    }
    let key = e
        .server_response()
        .and_then(|reply| key_from_pattern(reply))
        .or_else(|| index_name(message).and_then(key_from_index_name));
    Some(key)
}

/// The first field of the `keyPattern` MongoDB adds to a duplicate-key reply, at the top
/// level (command errors) or in the first write error.
fn key_from_pattern(reply: &RawDocument) -> Option<UniqueKey> {
    let pattern = reply.get_document("keyPattern").ok().or_else(|| {
        let errors = reply.get_array("writeErrors").ok()?;
        let first = errors.into_iter().next()?.ok()?;
        first.as_document()?.get_document("keyPattern").ok()
    })?;
    let (name, _) = pattern.into_iter().next()?.ok()?;
    match name.as_str() {
        field::ID => Some(UniqueKey::Id),
        field::LOGIN_LC | field::LOGIN_SKELETON => Some(UniqueKey::Login),
        field::EMAIL_LC => Some(UniqueKey::Email),
        _ => None,
    }
}

/// The index named by a duplicate-key message: MongoDB's `index: NAME dup key`, or
/// FerretDB's (SQLite's) `index 'NAME'`. Only the name is looked at: the message also
/// quotes the duplicate value, which is user input and may spell a field name.
fn index_name(message: &str) -> Option<&str> {
    if let Some((_, rest)) = message.split_once("index: ") {
        return rest.split_whitespace().next();
    }
    let (_, rest) = message.split_once("index '")?;
    rest.split_once('\'').map(|(name, _)| name)
}

fn key_from_index_name(name: &str) -> Option<UniqueKey> {
    // FerretDB prefixes the name given by the migration with the table's name.
    if name == "_id_" || name.ends_with("__id_") {
        Some(UniqueKey::Id)
    } else if name.ends_with("login_lc_unique") || name.ends_with("login_skel_unique") {
        Some(UniqueKey::Login)
    } else if name.ends_with("email_lc_unique") {
        Some(UniqueKey::Email)
    } else {
        None
    }
}

/// Translates any other driver error: unreachable or overloaded store → `Unavailable`
/// (the HTTP layer answers 503 and the client retries), everything else → `Other`.
pub(crate) fn repo_error(e: &Error) -> RepoError {
    if is_unavailable(e) {
        RepoError::Unavailable(e.to_string())
    } else {
        RepoError::Other(e.to_string())
    }
}

fn is_unavailable(e: &Error) -> bool {
    let transient_label = e.contains_label("RetryableWriteError")
        || e.contains_label("TransientTransactionError")
        || e.contains_label("SystemOverloadedError");
    transient_label
        || match &*e.kind {
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            // Wrong credentials, or a user dropped on the server: the store cannot be
            // used until an operator acts; requests get 503, readiness fails.
            | ErrorKind::Authentication { .. }
            | ErrorKind::DnsResolve { .. }
            | ErrorKind::Shutdown => true,
            ErrorKind::Command(c) => TRANSIENT_CODES.contains(&c.code),
            ErrorKind::Write(WriteFailure::WriteError(w)) => TRANSIENT_CODES.contains(&w.code),
            ErrorKind::Write(WriteFailure::WriteConcernError(w)) => {
                TRANSIENT_CODES.contains(&w.code)
            }
            _ => false,
        }
}

/// The error of an operation that did not finish within the bound.
pub(crate) fn timed_out(operation: &str, after: std::time::Duration) -> RepoError {
    RepoError::Unavailable(format!(
        "MongoDB did not answer {operation} within {} ms",
        after.as_millis()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_are_read_from_both_dialects() {
        let mongo = r#"E11000 duplicate key error collection: users.users index: login_lc_unique dup key: { login_lc: "email_lc_unique" }"#;
        assert_eq!(index_name(mongo), Some("login_lc_unique"));
        let ferret = "[msg_update.go:133 …] constraint failed: UNIQUE constraint failed: index 'users_5e7cc513_email_lc_unique' (2067)";
        assert_eq!(index_name(ferret), Some("users_5e7cc513_email_lc_unique"));
        assert_eq!(
            index_name("E11000 duplicate key error collection: db.users"),
            None
        );
    }

    #[test]
    fn index_names_map_to_fields() {
        assert_eq!(
            key_from_index_name("login_lc_unique"),
            Some(UniqueKey::Login)
        );
        assert_eq!(
            key_from_index_name("users_5e7cc513_email_lc_unique"),
            Some(UniqueKey::Email)
        );
        assert_eq!(key_from_index_name("_id_"), Some(UniqueKey::Id));
        assert_eq!(key_from_index_name("something_else"), None);
    }
}
