//! The tables of the database file, the indexes kept in step with the users, and the
//! queries over them. Everything here is synchronous and runs inside one redb transaction
//! handed in by the caller; `lib.rs` decides which transaction and on which thread.
//!
//! Keys: a user id is the UUID as a `u128` (`Uuid::as_u128` is big-endian, so numeric order
//! is the UUID's byte order, the order the contract asks for); index keys are the
//! case-folded forms the domain defines (`Login::key`, `Email::key`,
//! `SearchText::keys_of`), so look-ups and search agree with the reference semantics by
//! construction.

use domain::error::UniqueField;
use domain::model::{Role, User, UserId, identity_collisions};
use domain::ports::{Page, PageRequest, RepoError, SearchText, UserFilter};
use redb::{
    MultimapTableDefinition, ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata,
    Table, TableDefinition, WriteTransaction,
};
use uuid::Uuid;

use crate::record;

/// Users by id; the value is a [`record`] (JSON bytes).
pub(crate) const USERS: TableDefinition<u128, &[u8]> = TableDefinition::new("users");
/// Unique index: case-folded login → id.
pub(crate) const LOGINS: TableDefinition<&str, u128> = TableDefinition::new("login_lc");
/// Unique index: the login's confusable skeleton (`Login::skeleton`) → id.
pub(crate) const SKELETONS: TableDefinition<&str, u128> = TableDefinition::new("login_skeleton");
/// Unique index: case-folded e-mail → id; users without an e-mail have no entry.
const EMAILS: TableDefinition<&str, u128> = TableDefinition::new("email_lc");
/// Ordered index: (creation time in Unix milliseconds, id) → [`facets`] of the user. The
/// key order is the list order; the value lets lists filter by role and status, and count,
/// without reading a single record.
const CREATED: TableDefinition<(i64, u128), u8> = TableDefinition::new("created");
/// Search index: (search key, creation time in ms, id) → [`facets`], one entry per
/// distinct key of `SearchText::keys_of(user)`. The users having one key are a contiguous
/// run in list order, so a search on the prefix of a single key reads its page directly.
pub(crate) const SEARCH: TableDefinition<(&str, i64, u128), u8> = TableDefinition::new("search");
/// Number of users having each search key: the total of a single-key search without
/// reading its entries.
pub(crate) const SEARCH_COUNT: TableDefinition<&str, u64> = TableDefinition::new("search_count");
/// Layout 1's search index (name words only), dropped when a file is upgraded to 2.
pub(crate) const NAME_WORDS_V1: MultimapTableDefinition<&str, u128> =
    MultimapTableDefinition::new("name_word");
/// Facts about the file itself: `schema` is the layout version of the tables.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Version of the table layout above. Layout 1 (written before the search index) and
/// layout 2 (keys folded by `to_lowercase`, no skeletons) are upgraded in place when
/// opened; a newer one (written by a newer build) is refused rather than misread.
pub(crate) const SCHEMA_VERSION: u64 = 3;
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

/// Creates every table of a new file and checks the layout version of an existing one,
/// upgrading layout 1 (see [`upgrade_from_1`]).
pub(crate) fn initialise(txn: &WriteTransaction) -> Result<(), RepoError> {
    let stored = {
        let meta = txn.open_table(META).map_err(storage)?;
        meta.get(SCHEMA_KEY).map_err(storage)?.map(|v| v.value())
    };
    // Opening a table in a write transaction creates it: after this, read transactions
    // can open every table without a "does not exist" case.
    drop(WriteTables::open(txn)?);
    let mut meta = txn.open_table(META).map_err(storage)?;
    match stored {
        None => {
            meta.insert(SCHEMA_KEY, SCHEMA_VERSION).map_err(storage)?;
            Ok(())
        }
        Some(version @ (1 | 2)) => {
            drop(meta);
            if version == 1 {
                drop_layout_1(txn)?;
            }
            rekey(txn)?;
            let mut meta = txn.open_table(META).map_err(storage)?;
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

/// Layout 1 had a name-word table instead of the search index (which [`rekey`] builds).
fn drop_layout_1(txn: &WriteTransaction) -> Result<(), RepoError> {
    txn.delete_multimap_table(NAME_WORDS_V1).map_err(storage)?;
    Ok(())
}

/// Rebuilds every derived key — login and e-mail keys, login skeletons, search entries —
/// from the stored users, with the domain's current folding (layouts 1 and 2 folded with
/// `to_lowercase` and had no skeletons), in the caller's write transaction: a crash
/// half-way leaves the old layout intact.
///
/// Accounts that the new keys would merge ("ａｄｍｉｎ" and "admin", or two logins that look
/// alike) are never merged: the upgrade stops, changes nothing, and names every group, so
/// that an operator resolves them (with the previous version) before upgrading.
fn rekey(txn: &WriteTransaction) -> Result<(), RepoError> {
    let users: Vec<User> = {
        let table = txn.open_table(USERS).map_err(storage)?;
        let mut users = Vec::new();
        for entry in table.iter().map_err(storage)? {
            let (key, bytes) = entry.map_err(storage)?;
            users.push(record::decode(id_of(key.value()), bytes.value())?);
        }
        users
    };
    let collisions = identity_collisions(users.iter().map(|u| (u.id, &u.login, u.email.as_ref())));
    if !collisions.is_empty() {
        return Err(RepoError::Other(format!(
            "embedded store cannot be upgraded to table layout {SCHEMA_VERSION}: accounts \
             would share a login or an e-mail under Unicode folding and confusable detection \
             (nothing was changed; keep the previous users-service until each group is down \
             to one account): {}",
            collisions.join("; ")
        )));
    }
    for index in [LOGINS, SKELETONS, EMAILS] {
        txn.delete_table(index).map_err(storage)?;
    }
    txn.delete_table(SEARCH).map_err(storage)?;
    txn.delete_table(SEARCH_COUNT).map_err(storage)?;
    let mut tables = WriteTables::open(txn)?;
    for user in &users {
        let key = key_of(user.id);
        tables
            .users
            .insert(key, record::encode(user)?.as_slice())
            .map_err(storage)?;
        tables.index_identity(user)?;
        tables.index_search(user)?;
    }
    Ok(())
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

/// A window of candidates given in list order as (id, facets): the ids of the window and
/// the number of candidates passing the role/active/blocked part of `filter`.
///
/// `known_total` is the number of candidates when the caller knows it without walking
/// them; without facet filters it is the total, and the walk stops after the window.
fn window(
    candidates: impl Iterator<Item = Result<(u128, u8), RepoError>>,
    known_total: Option<u64>,
    filter: &UserFilter,
    page: PageRequest,
) -> Result<(Vec<u128>, u64), RepoError> {
    let unfiltered = filter.role.is_none() && filter.active.is_none() && filter.blocked.is_none();
    let window = page.offset..page.offset.saturating_add(u64::from(page.limit));
    let mut keys = Vec::new();
    let mut position: u64 = 0;
    for candidate in candidates {
        if unfiltered && known_total.is_some() && position >= window.end {
            break;
        }
        let (key, bits) = candidate?;
        if !unfiltered && !facets::decode(bits)?.pass(filter) {
            continue;
        }
        if window.contains(&position) {
            keys.push(key);
        }
        position += 1;
    }
    let total = match known_total {
        Some(total) if unfiltered => total,
        _ => position,
    };
    Ok((keys, total))
}

/// The stored user with that id. Point reads open only the tables they need: they run on
/// the caller's thread, once per authenticated request.
pub(crate) fn get(txn: &ReadTransaction, id: UserId) -> Result<Option<User>, RepoError> {
    load(&txn.open_table(USERS).map_err(storage)?, key_of(id))
}

/// The user whose case-folded login is `login_key`.
pub(crate) fn by_login(txn: &ReadTransaction, login_key: &str) -> Result<Option<User>, RepoError> {
    let index = txn.open_table(LOGINS).map_err(storage)?;
    by_unique_key(
        &index,
        "login_lc",
        &txn.open_table(USERS).map_err(storage)?,
        login_key,
    )
}

/// The user whose case-folded e-mail is `email_key`.
pub(crate) fn by_email(txn: &ReadTransaction, email_key: &str) -> Result<Option<User>, RepoError> {
    let index = txn.open_table(EMAILS).map_err(storage)?;
    by_unique_key(
        &index,
        "email_lc",
        &txn.open_table(USERS).map_err(storage)?,
        email_key,
    )
}

/// Number of stored users.
pub(crate) fn count(txn: &ReadTransaction) -> Result<u64, RepoError> {
    txn.open_table(USERS)
        .map_err(storage)?
        .len()
        .map_err(storage)
}

/// The tables a list needs, opened in one read transaction (one consistent snapshot).
pub(crate) struct ReadTables {
    users: ReadOnlyTable<u128, &'static [u8]>,
    created: ReadOnlyTable<(i64, u128), u8>,
    search: ReadOnlyTable<(&'static str, i64, u128), u8>,
    search_count: ReadOnlyTable<&'static str, u64>,
}

impl ReadTables {
    pub(crate) fn open(txn: &ReadTransaction) -> Result<Self, RepoError> {
        Ok(Self {
            users: txn.open_table(USERS).map_err(storage)?,
            created: txn.open_table(CREATED).map_err(storage)?,
            search: txn.open_table(SEARCH).map_err(storage)?,
            search_count: txn.open_table(SEARCH_COUNT).map_err(storage)?,
        })
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
        let entries = self.created.iter().map_err(storage)?.map(|entry| {
            let (key, bits) = entry.map_err(storage)?;
            Ok((key.value().1, bits.value()))
        });
        let total = self.created.len().map_err(storage)?;
        let (keys, total) = window(entries, Some(total), filter, page)?;
        self.load_page(keys, total, filter, "created")
    }

    /// Lists with search text from the [`SEARCH`] index.
    ///
    /// When `q` is the prefix of a single key (e.g. "kab" of "kabila"), that key's entries
    /// are already in list order: without facet filters the page costs `offset + limit`
    /// entries and the total one read of [`SEARCH_COUNT`]; with them, every entry of the
    /// key. When `q` starts several keys, one user may hold more than one of them: all M
    /// matching entries are read, sorted and deduplicated (O(M log M)). Only the page's
    /// records are decoded.
    pub(crate) fn search(
        &self,
        q: &SearchText,
        filter: &UserFilter,
        page: PageRequest,
    ) -> Result<Page<User>, RepoError> {
        let prefix = q.as_str();
        // Keys sort as bytes: those starting with `prefix` are one run from `prefix` on.
        let mut keys = Vec::with_capacity(2);
        for entry in self.search_count.range(prefix..).map_err(storage)?.take(2) {
            let (key, count) = entry.map_err(storage)?;
            if !key.value().starts_with(prefix) {
                break;
            }
            keys.push((key.value().to_owned(), count.value()));
        }
        let (ids, total) = match keys.as_slice() {
            [] => (Vec::new(), 0),
            [(key, count)] => {
                let run = self
                    .search
                    .range((key.as_str(), i64::MIN, 0)..=(key.as_str(), i64::MAX, u128::MAX))
                    .map_err(storage)?
                    .map(|entry| {
                        let (key, bits) = entry.map_err(storage)?;
                        Ok((key.value().2, bits.value()))
                    });
                window(run, Some(*count), filter, page)?
            }
            _ => {
                let mut all: Vec<(i64, u128, u8)> = Vec::new();
                for entry in self
                    .search
                    .range((prefix, i64::MIN, 0)..)
                    .map_err(storage)?
                {
                    let (key, bits) = entry.map_err(storage)?;
                    let (word, millis, id) = key.value();
                    if !word.starts_with(prefix) {
                        break;
                    }
                    all.push((millis, id, bits.value()));
                }
                all.sort_unstable();
                all.dedup_by_key(|(millis, id, _)| (*millis, *id));
                let known = all.len() as u64;
                let run = all.into_iter().map(|(_, id, bits)| Ok((id, bits)));
                window(run, Some(known), filter, page)?
            }
        };
        self.load_page(ids, total, filter, "search")
    }

    /// The records of a page found through `index`, checked against the full filter.
    fn load_page(
        &self,
        keys: Vec<u128>,
        total: u64,
        filter: &UserFilter,
        index: &str,
    ) -> Result<Page<User>, RepoError> {
        let mut items = Vec::with_capacity(keys.len());
        for key in keys {
            let user = load(&self.users, key)?.ok_or_else(|| dangling(index, key))?;
            // Index entries are derived data; a disagreement means a damaged file, and a
            // wrong answer would be worse than an error.
            if !filter.matches(&user) {
                return Err(RepoError::Other(format!(
                    "embedded store is inconsistent: the {index} index entry of user {} is stale",
                    user.id
                )));
            }
            items.push(user);
        }
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
    skeletons: Table<'txn, &'static str, u128>,
    emails: Table<'txn, &'static str, u128>,
    created: Table<'txn, (i64, u128), u8>,
    search: Table<'txn, (&'static str, i64, u128), u8>,
    search_count: Table<'txn, &'static str, u64>,
}

impl<'txn> WriteTables<'txn> {
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<Self, RepoError> {
        Ok(Self {
            users: txn.open_table(USERS).map_err(storage)?,
            logins: txn.open_table(LOGINS).map_err(storage)?,
            skeletons: txn.open_table(SKELETONS).map_err(storage)?,
            emails: txn.open_table(EMAILS).map_err(storage)?,
            created: txn.open_table(CREATED).map_err(storage)?,
            search: txn.open_table(SEARCH).map_err(storage)?,
            search_count: txn.open_table(SEARCH_COUNT).map_err(storage)?,
        })
    }

    /// Whether a user other than `except` is an active ADMIN: walks the [`CREATED`]
    /// index's facets and stops at the first (ADMINs are usually among the first users).
    pub(crate) fn another_active_admin(&self, except: UserId) -> Result<bool, RepoError> {
        let (role, active, blocked) = User::ACTIVE_ADMIN;
        let active_admins = UserFilter {
            role: Some(role),
            active: Some(active),
            blocked: Some(blocked),
            q: None,
        };
        let except = key_of(except);
        for entry in self.created.iter().map_err(storage)? {
            let (key, bits) = entry.map_err(storage)?;
            if key.value().1 != except && facets::decode(bits.value())?.pass(&active_admins) {
                return Ok(true);
            }
        }
        Ok(false)
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
        if owner(&self.logins, user.login.key())?.is_some_and(|id| id != me)
            || owner(&self.skeletons, &user.login.skeleton())?.is_some_and(|id| id != me)
        {
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
        self.index_identity(user)?;
        self.created
            .insert(
                (record::to_millis(user.created_at)?, key),
                facets::encode(user),
            )
            .map_err(storage)?;
        self.index_search(user)
    }

    /// Adds `user`'s entries to the unique indexes (login key, skeleton, e-mail key).
    fn index_identity(&mut self, user: &User) -> Result<(), RepoError> {
        let key = key_of(user.id);
        self.logins.insert(user.login.key(), key).map_err(storage)?;
        self.skeletons
            .insert(user.login.skeleton().as_str(), key)
            .map_err(storage)?;
        if let Some(email) = &user.email {
            self.emails.insert(email.key(), key).map_err(storage)?;
        }
        Ok(())
    }

    /// Adds `user`'s entries to the search index and its counts.
    fn index_search(&mut self, user: &User) -> Result<(), RepoError> {
        let (millis, key, bits) = (
            record::to_millis(user.created_at)?,
            key_of(user.id),
            facets::encode(user),
        );
        for word in SearchText::keys_of(user) {
            self.search
                .insert((word.as_str(), millis, key), bits)
                .map_err(storage)?;
            let count = self.search_count_of(&word)?;
            self.search_count
                .insert(word.as_str(), count + 1)
                .map_err(storage)?;
        }
        Ok(())
    }

    fn search_count_of(&self, word: &str) -> Result<u64, RepoError> {
        Ok(self
            .search_count
            .get(word)
            .map_err(storage)?
            .map_or(0, |count| count.value()))
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
        self.skeletons
            .remove(user.login.skeleton().as_str())
            .map_err(storage)?;
        if let Some(email) = &user.email {
            self.emails.remove(email.key()).map_err(storage)?;
        }
        self.created
            .remove((record::to_millis(user.created_at)?, key))
            .map_err(storage)?;
        let millis = record::to_millis(user.created_at)?;
        for word in SearchText::keys_of(user) {
            self.search
                .remove((word.as_str(), millis, key))
                .map_err(storage)?;
            match self.search_count_of(&word)? {
                0 | 1 => self.search_count.remove(word.as_str()).map(drop),
                count => self.search_count.insert(word.as_str(), count - 1).map(drop),
            }
            .map_err(storage)?;
        }
        Ok(())
    }
}
