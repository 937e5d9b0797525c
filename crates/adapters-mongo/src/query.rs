//! Query documents: look-ups, the list filter, and the plain-text prefix search.

use bson::{Bson, Document, doc};
use domain::model::UserId;
use domain::ports::{SearchText, UserFilter};

use crate::document::{field, id_key};

/// The document with that id, live or being deleted (see `outbox.rs`).
pub(crate) fn by_id(id: UserId) -> Document {
    doc! { field::ID: id_key(id) }
}

/// The condition of a user not being deleted: every read and every change adds it, so that
/// a document marked `_deleted` is gone for everyone but the outbox's drain.
fn live() -> Document {
    doc! { "$exists": false }
}

/// The live user with that id.
pub(crate) fn live_by_id(id: UserId) -> Document {
    doc! { field::ID: id_key(id), field::DELETED: live() }
}

/// The live user whose `key_field` (`login_lc`, `email_lc`) is `key`.
pub(crate) fn live_by_key(key_field: &str, key: &str) -> Document {
    doc! { key_field: key, field::DELETED: live() }
}

/// `filter` restricted to users that are not active ADMINs (the domain's one definition,
/// `UserFilter::active_admins`): a write under it cannot take an active ADMIN out.
pub(crate) fn unless_active_admin(mut filter: Document) -> Document {
    filter.insert("$nor", vec![list_criteria(&UserFilter::active_admins())]);
    filter
}

/// `filter` restricted to accounts not locked at `now` (rule 9).
pub(crate) fn unless_locked(mut filter: Document, now: bson::DateTime) -> Document {
    filter.insert(
        "$or",
        vec![
            doc! { field::LOCKED_UNTIL: { "$exists": false } },
            doc! { field::LOCKED_UNTIL: { "$lte": now } },
        ],
    );
    filter
}

/// The list order the port promises: creation time, then id (whose text sorts like the
/// UUID's bytes). Backed by the `created_at_id` index.
pub(crate) fn list_order() -> Document {
    doc! { field::CREATED_AT: 1, field::ID: 1 }
}

/// The filter of `list`: every given criterion must hold (AND), on live users.
pub(crate) fn list_filter(filter: &UserFilter) -> Document {
    let mut query = list_criteria(filter);
    query.insert(field::DELETED, live());
    query
}

/// The criteria of `filter` alone.
fn list_criteria(filter: &UserFilter) -> Document {
    let mut query = Document::new();
    if let Some(role) = filter.role {
        query.insert(field::ROLE, role.code());
    }
    if let Some(active) = filter.active {
        query.insert(field::ACTIVE, active);
    }
    if let Some(blocked) = filter.blocked {
        query.insert(field::BLOCKED, blocked);
    }
    if let Some(q) = &filter.q {
        query.insert("$or", search(q));
    }
    query
}

/// `SearchText` semantics: a prefix of the login, of the e-mail, or of any word of the
/// full name (`name_words` is an array; a condition on it matches any element). Both
/// sides are case-folded by the same `to_lowercase`, so the regex needs no `i` flag,
/// which would fold differently from Rust beyond ASCII and defeat the indexes.
fn search(q: &SearchText) -> Bson {
    let pattern = format!("^{}", escape_regex(q.as_str()));
    let prefix = |name: &str| doc! { name: { "$regex": pattern.as_str() } };
    Bson::Array(vec![
        prefix(field::LOGIN_LC).into(),
        prefix(field::EMAIL_LC).into(),
        prefix(field::NAME_WORDS).into(),
    ])
}

/// Escapes `text` so that it matches itself only, under both PCRE (MongoDB) and RE2 (Go's
/// `regexp`, FerretDB).
///
/// Every ASCII character that is not a letter or a digit is escaped: both engines read
/// a backslash before ASCII punctuation or space as that character. Control characters
/// become `\x{..}` (a NUL could not even travel in a BSON regex). Letters, digits and
/// every non-ASCII character are no metacharacter in either engine and stay as they are.
pub(crate) fn escape_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii_control() {
            out.push_str(&format!("\\x{{{:x}}}", u32::from(c)));
        } else if c.is_ascii() && !c.is_ascii_alphanumeric() {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use domain::model::Role;

    use super::*;

    #[test]
    fn every_ascii_metacharacter_is_escaped() {
        assert_eq!(escape_regex(".*"), r"\.\*");
        assert_eq!(
            escape_regex("a+b(c)[d]{e}|^$?\\"),
            r"a\+b\(c\)\[d\]\{e\}\|\^\$\?\\"
        );
        assert_eq!(escape_regex("a b/c#d-e"), r"a\ b\/c\#d\-e");
        assert_eq!(escape_regex("\0\n"), r"\x{0}\x{a}");
        assert_eq!(escape_regex("élodie skł 42"), r"élodie\ skł\ 42");
        for c in (0u8..128).map(char::from) {
            let escaped = escape_regex(&c.to_string());
            if c.is_ascii_alphanumeric() {
                assert_eq!(escaped, c.to_string());
            } else {
                assert!(escaped.starts_with('\\'), "{c:?} -> {escaped}");
            }
        }
    }

    #[test]
    fn the_list_filter_combines_criteria_with_and() {
        let live = doc! { "_deleted": { "$exists": false } };
        assert_eq!(list_filter(&UserFilter::default()), live);
        let filter = UserFilter {
            q: SearchText::new(" J.D "),
            role: Some(Role::Admin),
            active: Some(true),
            blocked: Some(false),
        };
        let prefix = r"^j\.d";
        assert_eq!(
            list_filter(&filter),
            doc! {
                "role": "ADMIN",
                "active": true,
                "blocked": false,
                "$or": [
                    { "login_lc": { "$regex": prefix } },
                    { "email_lc": { "$regex": prefix } },
                    { "name_words": { "$regex": prefix } },
                ],
                "_deleted": { "$exists": false },
            }
        );
    }
}
