//! The tables of the database file, the indexes kept in step with the users, and the
//! queries over them. Everything here is synchronous and runs inside one redb transaction
//! handed in by the caller; `lib.rs` decides which transaction and on which thread.
//!
//! Keys: a user id is the UUID as a `u128` (`Uuid::as_u128` is big-endian, so numeric order
//! is the UUID's byte order, the order the contract asks for); index keys are the
//! case-folded forms the domain defines (`Login::key`, `Email::key`,
//! `SearchText::name_words`), so look-ups and search agree with the reference semantics by
//! construction.

use std::collections::BTreeSet;

use domain::error::UniqueField;
use domain::model::{Role, User, UserId};
use domain::ports::{Page, PageRequest, RepoError, SearchText, UserFilter};
use redb::{
    MultimapTable, MultimapTableDefinition, ReadOnlyMultimapTable, ReadOnlyTable, ReadTransaction,
    ReadableTable, ReadableTableMetadata, Table, TableDefinition, WriteTransaction,
};
use uuid::Uuid;

use crate::record;

/// Users by id; the value is a [`record`] (JSON bytes).
pub(crate) const USERS: TableDefinition<u128, &[u8]> = TableDefinition::new("users");
/// Unique index: case-folded login → id.
pub(crate) const LOGINS: TableDefinition<&str, u128> = TableDefinition::new("login_lc");
/// Unique index: case-folded e-mail → id; users without an e-mail have no entry.
const EMAILS: TableDefinition<&str, u128> = TableDefinition::new("email_lc");
/// Ordered index: (creation time in Unix milliseconds, id) → [`facets`] of the user. The
/// key order is the list order; the value lets lists filter by role and status, and count,
/// without reading a single record.
const CREATED: TableDefinition<(i64, u128), u8> = TableDefinition::new("created");
/// Search index: each case-folded word of the full name → ids of the users having it.
const NAME_WORDS: MultimapTableDefinition<&str, u128> = MultimapTableDefinition::new("name_word");
/// Facts about the file itself: `schema` is the layout version of the tables.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Version of the table layout above; a file with another one (written by a newer build)
/// is refused rather than misread.
const SCHEMA_VERSION: u64 = 1;
pub(crate) const SCHEMA_KEY: &str = "schema";

/// Maps any redb error to the port's error: I/O trouble is `Unavailable` (the disk may come
/// back: full, remounted), everything else (corruption, misuse) is `Other`.
pub(crate) fn storage(error: impl Into<redb::Error>) -> RepoError {
    match error.into() {
        e @ (redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed) => {
            RepoError::Unavailable(format!("embedded store: {e}"))
        }
        e => RepoError::Other(format!("embedded store: {e}")),
    }
}

fn key_of(id: UserId) -> u128 {
    id.as_uuid().as_u128()
}

fn id_of(key: u128) -> UserId {
    UserId::from_uuid(Uuid::from_u128(key))
}

/// An index entry whose user is missing: the file was damaged or edited behind our back.
fn dangling(index: &str, key: u128) -> RepoError {
    RepoError::Other(format!(
        "embedded store is inconsistent: {index} points at user {} which is not stored",
        id_of(key)
    ))
}

/// Creates every table of a new file and checks the layout version of an existing one.
pub(crate) fn initialise(txn: &WriteTransaction) -> Result<(), RepoError> {
    // Opening a table in a write transaction creates it: after this, read transactions
    // can open every table without a "does not exist" case.
    drop(WriteTables::open(txn)?);
    let mut meta = txn.open_table(META).map_err(storage)?;
    let stored = meta.get(SCHEMA_KEY).map_err(storage)?.map(|v| v.value());
    match stored {
        None => {
            meta.insert(SCHEMA_KEY, SCHEMA_VERSION).map_err(storage)?;
            Ok(())
        }
        Some(SCHEMA_VERSION) => Ok(()),
        Some(other) => Err(RepoError::Other(format!(
            "embedded store has table layout version {other}, this build reads version \
             {SCHEMA_VERSION}: it was written by a newer users-service"
        ))),
    }
}

/// Role, `active` and `blocked` packed into the value of the [`CREATED`] index:
/// bits 0–3 the role's tag, bit 6 active, bit 7 blocked.
mod facets {
    use super::{RepoError, Role, User, UserFilter};

    const ACTIVE: u8 = 1 << 6;
    const BLOCKED: u8 = 1 << 7;
    const ROLE_MASK: u8 = 0x0f;

    /// What the list filters look at, read from the index.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Facets {
        role: Role,
        active: bool,
        blocked: bool,
    }

    impl Facets {
        /// The role, active and blocked parts of `filter` (not `q`).
        pub(crate) fn pass(self, filter: &UserFilter) -> bool {
            filter.role.is_none_or(|r| r == self.role)
                && filter.active.is_none_or(|a| a == self.active)
                && filter.blocked.is_none_or(|b| b == self.blocked)
        }

        /// Same meaning as `User::is_active_admin`.
        pub(crate) fn is_active_admin(self) -> bool {
            self.role.is_admin() && self.active && !self.blocked
        }
    }

    // Explicit tags rather than positions in `Role::ALL`: the file must not change meaning
    // if the domain reorders its roles, and a new role fails to compile here.
    fn tag(role: Role) -> u8 {
        match role {
            Role::Admin => 0,
            Role::Directeur => 1,
            Role::ChefDeDivision => 2,
            Role::ChefDeBureau => 3,
            Role::Taxateur => 4,
            Role::ReceveurDesImpots => 5,
            Role::Controlleur => 6,
            Role::Informaticien => 7,
            Role::Contribuable => 8,
        }
    }

    pub(crate) fn encode(user: &User) -> u8 {
        let mut bits = tag(user.role);
        if user.active {
            bits |= ACTIVE;
        }
        if user.blocked {
            bits |= BLOCKED;
        }
        bits
    }

    pub(crate) fn decode(bits: u8) -> Result<Facets, RepoError> {
        let role = Role::ALL
            .into_iter()
            .find(|r| tag(*r) == bits & ROLE_MASK)
            .ok_or_else(|| {
                RepoError::Other(format!(
                    "embedded store is corrupt: unknown role tag in index value {bits:#04x}"
                ))
            })?;
        Ok(Facets {
            role,
            active: bits & ACTIVE != 0,
            blocked: bits & BLOCKED != 0,
        })
    }
}

/// The stored user `key`, decoded and re-validated.
fn load(
    users: &impl ReadableTable<u128, &'static [u8]>,
    key: u128,
) -> Result<Option<User>, RepoError> {
    match users.get(key).map_err(storage)? {
        Some(bytes) => record::decode(id_of(key), bytes.value()).map(Some),
        None => Ok(None),
    }
}

/// The owner of `key` in a unique index.
fn owner(
    index: &impl ReadableTable<&'static str, u128>,
    key: &str,
) -> Result<Option<u128>, RepoError> {
    Ok(index.get(key).map_err(storage)?.map(|id| id.value()))
}

/// The user a unique index maps `key` to.
fn by_unique_key(
    index: &impl ReadableTable<&'static str, u128>,
    index_name: &str,
    users: &impl ReadableTable<u128, &'static [u8]>,
    key: &str,
) -> Result<Option<User>, RepoError> {
    match owner(index, key)? {
        Some(id) => load(users, id)?
            .map(Some)
            .ok_or_else(|| dangling(index_name, id)),
        None => Ok(None),
    }
}

/// Adds to `out` the ids of every key of `index` that starts with `prefix`. Keys sort as
/// bytes, so they form one contiguous run from `prefix` on.
fn ids_with_prefix(
    index: &impl ReadableTable<&'static str, u128>,
    prefix: &str,
    out: &mut BTreeSet<u128>,
) -> Result<(), RepoError> {
    for entry in index.range(prefix..).map_err(storage)? {
        let (key, id) = entry.map_err(storage)?;
        if !key.value().starts_with(prefix) {
            break;
        }
        out.insert(id.value());
    }
    Ok(())
}

/// The tables a read needs, opened in one read transaction (one consistent snapshot).
pub(crate) struct ReadTables {
    users: ReadOnlyTable<u128, &'static [u8]>,
    logins: ReadOnlyTable<&'static str, u128>,
    emails: ReadOnlyTable<&'static str, u128>,
    created: ReadOnlyTable<(i64, u128), u8>,
    name_words: ReadOnlyMultimapTable<&'static str, u128>,
}

impl ReadTables {
    pub(crate) fn open(txn: &ReadTransaction) -> Result<Self, RepoError> {
        Ok(Self {
            users: txn.open_table(USERS).map_err(storage)?,
            logins: txn.open_table(LOGINS).map_err(storage)?,
            emails: txn.open_table(EMAILS).map_err(storage)?,
            created: txn.open_table(CREATED).map_err(storage)?,
            name_words: txn.open_multimap_table(NAME_WORDS).map_err(storage)?,
        })
    }

    pub(crate) fn get(&self, id: UserId) -> Result<Option<User>, RepoError> {
        load(&self.users, key_of(id))
    }

    pub(crate) fn by_login(&self, login_key: &str) -> Result<Option<User>, RepoError> {
        by_unique_key(&self.logins, "login_lc", &self.users, login_key)
    }

    pub(crate) fn by_email(&self, email_key: &str) -> Result<Option<User>, RepoError> {
        by_unique_key(&self.emails, "email_lc", &self.users, email_key)
    }

    /// Number of stored users.
    pub(crate) fn count(&self) -> Result<u64, RepoError> {
        self.users.len().map_err(storage)
    }

    /// Walks the [`CREATED`] index; only the facets are read.
    pub(crate) fn count_active_admins(&self) -> Result<u64, RepoError> {
        let mut count = 0;
        for entry in self.created.iter().map_err(storage)? {
            let (_, bits) = entry.map_err(storage)?;
            if facets::decode(bits.value())?.is_active_admin() {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Lists without search text by walking the [`CREATED`] index in order.
    ///
    /// Cost for N stored users: without filters, `offset + limit` index entries and
    /// `limit` records, the total being the table's length; with role/active/blocked
    /// filters, all N index entries (one byte of facets each, no record decoded) for the
    /// total, plus `limit` records.
    pub(crate) fn list_in_creation_order(
        &self,
        filter: &UserFilter,
        page: PageRequest,
    ) -> Result<Page<User>, RepoError> {
        let unfiltered =
            filter.role.is_none() && filter.active.is_none() && filter.blocked.is_none();
        let window = page.offset..page.offset.saturating_add(u64::from(page.limit));
        let mut keys = Vec::new();
        let mut position: u64 = 0;
        for entry in self.created.iter().map_err(storage)? {
            if unfiltered && position >= window.end {
                // The total is the table's length: nothing after the window matters.
                break;
            }
            let (key, bits) = entry.map_err(storage)?;
            if !unfiltered && !facets::decode(bits.value())?.pass(filter) {
                continue;
            }
            if window.contains(&position) {
                keys.push(key.value().1);
            }
            position += 1;
        }
        let total = if unfiltered {
            self.created.len().map_err(storage)?
        } else {
            position
        };
        let mut items = Vec::with_capacity(keys.len());
        for key in keys {
            let user = load(&self.users, key)?.ok_or_else(|| dangling("created", key))?;
            // The facets are derived data; a disagreement means a damaged file, and a
            // wrong answer would be worse than an error.
            if !filter.matches(&user) {
                return Err(RepoError::Other(format!(
                    "embedded store is inconsistent: index facets of user {} are stale",
                    user.id
                )));
            }
            items.push(user);
        }
        Ok(Page { items, total })
    }

    /// Lists with search text: the prefix indexes give the candidates (every user whose
    /// login, e-mail or a name word starts with `q`), the reference semantics
    /// (`UserFilter::matches`) decide, then candidates are sorted into list order.
    ///
    /// Cost: three range scans over the matching index keys, and one record decoded per
    /// candidate (M candidates: O(M log M) for the sort), independent of the users that do
    /// not match.
    pub(crate) fn search(
        &self,
        q: &SearchText,
        filter: &UserFilter,
        page: PageRequest,
    ) -> Result<Page<User>, RepoError> {
        let prefix = q.as_str();
        let mut candidates = BTreeSet::new();
        ids_with_prefix(&self.logins, prefix, &mut candidates)?;
        ids_with_prefix(&self.emails, prefix, &mut candidates)?;
        for entry in self.name_words.range(prefix..).map_err(storage)? {
            let (word, ids) = entry.map_err(storage)?;
            if !word.value().starts_with(prefix) {
                break;
            }
            for id in ids {
                candidates.insert(id.map_err(storage)?.value());
            }
        }

        let mut found = Vec::new();
        for key in candidates {
            let user = load(&self.users, key)?.ok_or_else(|| dangling("a search index", key))?;
            if filter.matches(&user) {
                found.push(user);
            }
        }
        // Times are stored to the millisecond, so this is the order of the CREATED index.
        found.sort_by_key(|u| (u.created_at, u.id));
        let total = found.len() as u64;
        // An offset or limit beyond what memory can index just means "all of it".
        let skip = usize::try_from(page.offset).unwrap_or(usize::MAX);
        let take = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let items = found.into_iter().skip(skip).take(take).collect();
        Ok(Page { items, total })
    }
}

/// The tables a write needs, opened in one write transaction. redb runs one write
/// transaction at a time, so every check made through these tables still holds when the
/// transaction commits: this is what makes uniqueness, version checks and increments
/// atomic.
pub(crate) struct WriteTables<'txn> {
    users: Table<'txn, u128, &'static [u8]>,
    logins: Table<'txn, &'static str, u128>,
    emails: Table<'txn, &'static str, u128>,
    created: Table<'txn, (i64, u128), u8>,
    name_words: MultimapTable<'txn, &'static str, u128>,
}

impl<'txn> WriteTables<'txn> {
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<Self, RepoError> {
        Ok(Self {
            users: txn.open_table(USERS).map_err(storage)?,
            logins: txn.open_table(LOGINS).map_err(storage)?,
            emails: txn.open_table(EMAILS).map_err(storage)?,
            created: txn.open_table(CREATED).map_err(storage)?,
            name_words: txn.open_multimap_table(NAME_WORDS).map_err(storage)?,
        })
    }

    /// Whether a user with that id is stored (its record is not read).
    pub(crate) fn contains(&self, id: UserId) -> Result<bool, RepoError> {
        Ok(self.users.get(key_of(id)).map_err(storage)?.is_some())
    }

    /// The stored user, or `NotFound`.
    pub(crate) fn existing(&self, id: UserId) -> Result<User, RepoError> {
        load(&self.users, key_of(id))?.ok_or(RepoError::NotFound)
    }

    /// Refuses `user`'s login or e-mail when a user other than `user.id` holds it.
    pub(crate) fn check_unique(&self, user: &User) -> Result<(), RepoError> {
        let me = key_of(user.id);
        if owner(&self.logins, user.login.key())?.is_some_and(|id| id != me) {
            return Err(RepoError::Conflict(UniqueField::Login));
        }
        if let Some(email) = &user.email
            && owner(&self.emails, email.key())?.is_some_and(|id| id != me)
        {
            return Err(RepoError::Conflict(UniqueField::Email));
        }
        Ok(())
    }

    /// Writes `user`'s record and its index entries, replacing those of `previous` (the
    /// user as stored before, if any). Callers have checked uniqueness.
    pub(crate) fn put(&mut self, user: &User, previous: Option<&User>) -> Result<(), RepoError> {
        if let Some(previous) = previous {
            self.unindex(previous)?;
        }
        let bytes = record::encode(user)?;
        let key = key_of(user.id);
        self.users.insert(key, bytes.as_slice()).map_err(storage)?;
        self.logins.insert(user.login.key(), key).map_err(storage)?;
        if let Some(email) = &user.email {
            self.emails.insert(email.key(), key).map_err(storage)?;
        }
        self.created
            .insert(
                (record::to_millis(user.created_at)?, key),
                facets::encode(user),
            )
            .map_err(storage)?;
        for word in SearchText::name_words(user.full_name.as_str()) {
            self.name_words
                .insert(word.as_str(), key)
                .map_err(storage)?;
        }
        Ok(())
    }

    /// Rewrites the record of a user whose indexed fields did not change (the login
    /// bookkeeping).
    pub(crate) fn put_record(&mut self, user: &User) -> Result<(), RepoError> {
        let bytes = record::encode(user)?;
        self.users
            .insert(key_of(user.id), bytes.as_slice())
            .map_err(storage)?;
        Ok(())
    }

    /// Removes `user`'s record and every index entry.
    pub(crate) fn remove(&mut self, user: &User) -> Result<(), RepoError> {
        self.unindex(user)?;
        self.users.remove(key_of(user.id)).map_err(storage)?;
        Ok(())
    }

    fn unindex(&mut self, user: &User) -> Result<(), RepoError> {
        let key = key_of(user.id);
        self.logins.remove(user.login.key()).map_err(storage)?;
        if let Some(email) = &user.email {
            self.emails.remove(email.key()).map_err(storage)?;
        }
        self.created
            .remove((record::to_millis(user.created_at)?, key))
            .map_err(storage)?;
        for word in SearchText::name_words(user.full_name.as_str()) {
            self.name_words
                .remove(word.as_str(), key)
                .map_err(storage)?;
        }
        Ok(())
    }
}
