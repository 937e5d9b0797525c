//! Embedded, persistent implementation of `domain::ports::UserRepository` on
//! [redb](https://www.redb.org): the zero-setup default store of users-service
//! (`./data/users.redb` unless configured otherwise). One file, no server; it passes the
//! shared contract suite (`repository-contract`) like every other store.
//!
//! # Layout
//! - [`EmbeddedUserRepository`] (this file): opening the file, and the port's methods, each
//!   one redb transaction run on tokio's blocking pool (`spawn_blocking`). redb is
//!   synchronous and a commit waits for `fsync`; the async executor threads never do.
//! - `tables` (private): the table definitions, the indexes kept in step with the users
//!   inside the same write transaction, and the list and search queries.
//!   - `users`: id (`u128`) → record;
//!   - `login_lc`, `email_lc`: case-folded login / e-mail → id (unique indexes);
//!   - `created`: (creation time in ms, id) → role/active/blocked packed in a byte: the
//!     list order, and the filters without reading records;
//!   - `search`: (search key, creation time in ms, id) → the same byte, for every key of
//!     `SearchText::keys_of` (login, e-mail, name words); `search_count`: users per key;
//!   - `meta`: the layout version of the tables.
//! - `record` (private): the stored form of a user, a JSON object versioned by its `v`
//!   field, separate from the domain `User`; reading it back re-validates every field
//!   through the domain's `parse` functions.
//!
//! # Guarantees
//! - **Atomicity.** redb runs one write transaction at a time. Every write (insert, update,
//!   delete, failed-login increment, lock) reads what it checks — unique indexes, stored
//!   version, current count — and writes the record and its index entries in the same
//!   write transaction, so two concurrent inserts of one login cannot both pass the check,
//!   and no increment is lost. Reads see one consistent snapshot (MVCC) and do not wait
//!   for writers.
//! - **Durability.** Write transactions commit with redb's default
//!   `Durability::Immediate`: when a method returns `Ok`, the change is on disk (redb's
//!   copy-on-write B-trees with checksummed commit slots), and it survives a crash or a
//!   power cut; a commit interrupted half-way is rolled back when the file is next opened.
//! - **One process per file.** redb locks the file; a second `open` of it, from another
//!   process or this one, fails with `RepoError::Unavailable` naming the lock.
//! - **Precision.** Times are stored to the millisecond (rounded towards the past), as the
//!   contract allows.
//! - **Corruption** — an unreadable record, a value the domain refuses, an index entry
//!   without its user — is `RepoError::Other`, never a panic. I/O failures are
//!   `RepoError::Unavailable`.
//!
//! # Cost of `list`
//! Without search text, `list` walks the `created` index in order: without filters it
//! reads `offset + limit` index entries and decodes `limit` records, the total being the
//! table's length; with role/active/blocked filters it reads every index entry (one byte of
//! value each, no record) to count the total. With search text that is the prefix of a
//! single key, the same holds within that key's run of the `search` index (total from
//! `search_count`); a prefix of several keys reads, sorts and deduplicates the M matching
//! entries. Only the page's records are ever decoded.
//!
//! # Reads on the caller's thread
//! Point reads (`get`, `find_by_login`, `find_by_email`, `ping`) run on the calling thread:
//! each is one read transaction touching a few B-tree pages, nearly always in redb's cache,
//! and a hop to the blocking pool cost more than the read itself (it tripled the tail
//! latency of every authenticated request, which re-reads its user). `get` also keeps the
//! last users it read, decoded, and every write forgets its user as it commits (see
//! `Recent`). Lists and every write, which may scan or wait for `fsync`, go to the blocking
//! pool.

mod audit;
mod record;
mod tables;
#[cfg(feature = "tampering")]
pub mod tampering;

use std::collections::HashMap;
use std::fs::File;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use domain::model::{AuditEvent, AuditFilter, AuditRecord, Email, Login, User, UserId};
use domain::ports::{AuditLog, Page, PageRequest, RepoError, UserFilter, UserRepository};
use redb::{Database, DatabaseError, ReadTransaction, ReadableDatabase, StorageError};
use time::OffsetDateTime;

use crate::tables::{ReadTables, WriteTables, storage};

/// Users stored in a redb file. Cheap to clone: clones share the open database.
#[derive(Clone, Debug)]
pub struct EmbeddedUserRepository {
    db: Arc<Database>,
    recent: Arc<Mutex<Recent>>,
}

/// Users recently read by id, decoded: the one read every authenticated request makes
/// (rule 6 re-checks the stored user) then costs a map look-up instead of a read
/// transaction and a record decode.
///
/// Never stale: this process is the only writer of the file (redb locks it), and every
/// write forgets its user right after its commit, before it returns. A read that raced a
/// write is not remembered: `writes` counts the writes, and a read only fills the map when
/// none happened since it began.
#[derive(Debug, Default)]
struct Recent {
    writes: u64,
    users: HashMap<UserId, User>,
}

/// Most users `Recent` holds (about 1 KiB each); when full, it starts over.
const RECENT_CAPACITY: usize = 1024;

impl EmbeddedUserRepository {
    /// Opens the store at `path`, creating the file and its parent directories when they
    /// do not exist, and the tables when the file is new.
    ///
    /// Blocking (it may create files and, after a crash, repair the file): call it at
    /// start-up, before serving, or from `spawn_blocking`.
    ///
    /// # Errors
    /// `RepoError::Unavailable` when the file is locked by another open handle (another
    /// users-service process on the same file) or cannot be created or read (permissions,
    /// missing disk); `RepoError::Other` when the file is not a redb database, is corrupt,
    /// or was written by a newer version of redb or of this crate.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RepoError> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                RepoError::Unavailable(format!(
                    "cannot create the directory {} of the embedded store: {e}",
                    parent.display()
                ))
            })?;
        }
        let db = builder()
            .create(path)
            .map_err(|e| open_error(&path.display().to_string(), e))?;
        Self::initialise(db)
    }

    /// Opens the store in an already open file, which must be empty or hold a store; for
    /// callers that manage the file themselves, e.g. an anonymous temporary file in tests
    /// (`tempfile::tempfile()`), which nothing needs to clean up.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn from_file(file: File) -> Result<Self, RepoError> {
        let db = builder()
            .create_file(file)
            .map_err(|e| open_error("the given file", e))?;
        Self::initialise(db)
    }

    fn initialise(db: Database) -> Result<Self, RepoError> {
        let txn = db.begin_write().map_err(storage)?;
        tables::initialise(&txn)?;
        audit::create_tables(&txn)?;
        txn.commit().map_err(storage)?;
        Ok(Self {
            db: Arc::new(db),
            recent: Arc::default(),
        })
    }

    /// Runs `op` on the blocking pool with the database, so that the caller's executor
    /// thread never waits for disk I/O.
    async fn blocking<T, Op>(&self, op: Op) -> Result<T, RepoError>
    where
        T: Send + 'static,
        Op: FnOnce(&Database) -> Result<T, RepoError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || op(&db))
            .await
            .map_err(|e| RepoError::Other(format!("embedded store task failed: {e}")))?
    }

    /// `op` in a read transaction, on the blocking pool.
    async fn read<T, Op>(&self, op: Op) -> Result<T, RepoError>
    where
        T: Send + 'static,
        Op: FnOnce(&ReadTables) -> Result<T, RepoError> + Send + 'static,
    {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(storage)?;
            op(&ReadTables::open(&txn)?)
        })
        .await
    }

    /// `op` in a read transaction on the calling thread: point reads only (see "Reads on
    /// the caller's thread" above).
    fn read_now<T>(
        &self,
        op: impl FnOnce(&ReadTransaction) -> Result<T, RepoError>,
    ) -> Result<T, RepoError> {
        op(&self.db.begin_read().map_err(storage)?)
    }

    /// `op` in a write transaction, on the blocking pool; committed when `op` succeeds,
    /// rolled back when it fails.
    async fn write<T, Op>(&self, id: UserId, op: Op) -> Result<T, RepoError>
    where
        T: Send + 'static,
        Op: FnOnce(&mut WriteTables<'_>) -> Result<T, RepoError> + Send + 'static,
    {
        let recent = Arc::clone(&self.recent);
        self.blocking(move |db| {
            let value = write(db, op)?;
            // Here, on the blocking thread: a cancelled caller must not skip it.
            let mut recent = lock(&recent);
            recent.writes = recent.writes.wrapping_add(1);
            recent.users.remove(&id);
            Ok(value)
        })
        .await
    }

    /// The user `id`, from [`Recent`] or read (on the calling thread) and remembered.
    fn get_recent(&self, id: UserId) -> Result<Option<User>, RepoError> {
        let writes = {
            let recent = lock(&self.recent);
            if let Some(user) = recent.users.get(&id) {
                return Ok(Some(user.clone()));
            }
            recent.writes
        };
        let user = self.read_now(|txn| tables::get(txn, id))?;
        if let Some(user) = &user {
            let mut recent = lock(&self.recent);
            if recent.writes == writes {
                if recent.users.len() >= RECENT_CAPACITY {
                    recent.users.clear();
                }
                recent.users.insert(id, user.clone());
            }
        }
        Ok(user)
    }
}

/// The map of recent users. A panic cannot leave it half-updated (a count and a map
/// operation), so a poisoned lock is still usable.
fn lock(recent: &Mutex<Recent>) -> MutexGuard<'_, Recent> {
    recent.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `op` over the user tables in one write transaction, committed only when `op`
/// succeeds. `begin_write` waits for the previous write transaction to end: this wait is
/// what serialises writers.
fn write<T>(
    db: &Database,
    op: impl FnOnce(&mut WriteTables<'_>) -> Result<T, RepoError>,
) -> Result<T, RepoError> {
    let txn = db.begin_write().map_err(storage)?;
    let value = {
        // The tables borrow the transaction: they must be closed before the commit.
        let mut tables = WriteTables::open(&txn)?;
        op(&mut tables)?
    };
    // On any early return above, dropping the uncommitted transaction rolls it back.
    txn.commit().map_err(storage)?;
    Ok(value)
}

/// redb's page cache. Small on purpose: redb's default (1 GiB) dwarfs the service's own
/// needs and counts against a container's memory limit, while the OS page cache keeps the
/// file's pages anyway; a page outside this cache costs one `pread` served from it
/// (microseconds), and the hottest read, the user of each authenticated request, is served
/// by `Recent`. Measured at 100,000 users: lists as fast as with 64 MiB (bench/).
const CACHE_BYTES: usize = 4 * 1024 * 1024;

fn builder() -> redb::Builder {
    let mut builder = Database::builder();
    builder.set_cache_size(CACHE_BYTES);
    builder
}

/// A clear message for a file that cannot be opened as a store.
fn open_error(location: &str, error: DatabaseError) -> RepoError {
    match error {
        DatabaseError::DatabaseAlreadyOpen => RepoError::Unavailable(format!(
            "embedded store {location} is locked: another process (or another handle in this \
             process) has it open; stop it or configure another path"
        )),
        DatabaseError::UpgradeRequired(version) => RepoError::Other(format!(
            "embedded store {location} uses redb file format {version}, which this build \
             cannot open without a manual upgrade"
        )),
        DatabaseError::Storage(StorageError::Corrupted(detail)) => RepoError::Other(format!(
            "embedded store {location} is corrupt or not a redb database: {detail}"
        )),
        // redb reports a foreign file (wrong magic number) as invalid data.
        DatabaseError::Storage(StorageError::Io(e)) if e.kind() == ErrorKind::InvalidData => {
            RepoError::Other(format!(
                "embedded store {location} is corrupt or not a redb database: {e}"
            ))
        }
        DatabaseError::Storage(StorageError::Io(e)) => {
            RepoError::Unavailable(format!("cannot open embedded store {location}: {e}"))
        }
        other => RepoError::Other(format!("cannot open embedded store {location}: {other}")),
    }
}

#[async_trait]
impl AuditLog for EmbeddedUserRepository {
    async fn append(&self, record: &AuditRecord) -> Result<AuditEvent, RepoError> {
        let record = record.clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(storage)?;
            let event = audit::append(&txn, &record)?;
            txn.commit().map_err(storage)?;
            Ok(event)
        })
        .await
    }

    async fn find(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, RepoError> {
        let filter = filter.clone();
        self.blocking(move |db| audit::find(&db.begin_read().map_err(storage)?, &filter, page))
            .await
    }

    async fn chain(&self, after: u64, limit: u32) -> Result<Vec<AuditEvent>, RepoError> {
        self.blocking(move |db| audit::chain(&db.begin_read().map_err(storage)?, after, limit))
            .await
    }

    async fn save_checkpoint(
        &self,
        checkpoint: &domain::model::AuditCheckpoint,
    ) -> Result<bool, RepoError> {
        let checkpoint = checkpoint.clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(storage)?;
            let saved = audit::save_checkpoint(&txn, &checkpoint)?;
            txn.commit().map_err(storage)?;
            Ok(saved)
        })
        .await
    }

    async fn latest_checkpoint(&self) -> Result<Option<domain::model::AuditCheckpoint>, RepoError> {
        self.blocking(move |db| audit::latest_checkpoint(&db.begin_read().map_err(storage)?))
            .await
    }

    async fn checkpoints(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<domain::model::AuditCheckpoint>, RepoError> {
        self.blocking(move |db| {
            audit::checkpoints(&db.begin_read().map_err(storage)?, after, limit)
        })
        .await
    }
}

#[async_trait]
impl UserRepository for EmbeddedUserRepository {
    async fn insert(&self, user: &User) -> Result<(), RepoError> {
        let user = user.clone();
        self.write(user.id, move |t| {
            t.check_unique(&user)?;
            // Ids come from the IdGenerator, so this is a caller bug; replacing the stored
            // user would silently lose it.
            if t.contains(user.id)? {
                return Err(RepoError::Other(format!(
                    "user id {} already stored",
                    user.id
                )));
            }
            t.put(&user, None)
        })
        .await
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError> {
        self.get_recent(id)
    }

    async fn find_by_login(&self, login: &Login) -> Result<Option<User>, RepoError> {
        self.read_now(|txn| tables::by_login(txn, login.key()))
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        self.read_now(|txn| tables::by_email(txn, email.key()))
    }

    async fn update(&self, user: &User, expected_version: u64) -> Result<(), RepoError> {
        let user = user.clone();
        self.write(user.id, move |t| {
            let current = t.existing(user.id)?;
            if current.version != expected_version {
                return Err(RepoError::VersionMismatch);
            }
            t.check_unique(&user)?;
            // The bookkeeping belongs to its own methods (see the trait docs).
            let next = User {
                failed_logins: current.failed_logins,
                locked_until: current.locked_until,
                last_login_at: current.last_login_at,
                ..user
            };
            t.put(&next, Some(&current))
        })
        .await
    }

    async fn delete(&self, id: UserId) -> Result<(), RepoError> {
        self.write(id, move |t| {
            let current = t.existing(id)?;
            t.remove(&current)
        })
        .await
    }

    async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>, RepoError> {
        let filter = filter.clone();
        self.read(move |t| match &filter.q {
            Some(q) => t.search(q, &filter, page),
            None => t.list_in_creation_order(&filter, page),
        })
        .await
    }

    async fn count_active_admins(&self) -> Result<u64, RepoError> {
        self.read(ReadTables::count_active_admins).await
    }

    async fn record_failed_login(&self, id: UserId) -> Result<u32, RepoError> {
        self.write(id, move |t| {
            let mut user = t.existing(id)?;
            // Saturating: a stored count at u32::MAX must not panic (debug) or wrap to 0.
            user.failed_logins = user.failed_logins.saturating_add(1);
            t.put_record(&user)?;
            Ok(user.failed_logins)
        })
        .await
    }

    async fn lock(&self, id: UserId, until: OffsetDateTime) -> Result<(), RepoError> {
        self.write(id, move |t| {
            let mut user = t.existing(id)?;
            user.locked_until = Some(until);
            user.failed_logins = 0;
            t.put_record(&user)
        })
        .await
    }

    async fn clear_failures(
        &self,
        id: UserId,
        last_login_at: Option<OffsetDateTime>,
    ) -> Result<(), RepoError> {
        self.write(id, move |t| {
            let mut user = t.existing(id)?;
            user.failed_logins = 0;
            user.locked_until = None;
            if last_login_at.is_some() {
                user.last_login_at = last_login_at;
            }
            t.put_record(&user)
        })
        .await
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.read_now(|txn| tables::count(txn).map(drop))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use repository_contract::sample_user;

    use super::*;

    fn fresh() -> EmbeddedUserRepository {
        EmbeddedUserRepository::from_file(tempfile::tempfile().unwrap()).unwrap()
    }

    fn is_other<T: std::fmt::Debug>(r: Result<T, RepoError>, needle: &str) {
        match r {
            Err(RepoError::Other(message)) => {
                assert!(message.contains(needle), "{message:?} lacks {needle:?}");
            }
            wrong => panic!("expected RepoError::Other({needle:?}…), got {wrong:?}"),
        }
    }

    /// Writes `value` under `key` in `table`, behind the repository's back.
    fn poke<K: redb::Key + 'static, V: redb::Value + 'static>(
        repo: &EmbeddedUserRepository,
        table: redb::TableDefinition<'static, K, V>,
        edit: impl FnOnce(&mut redb::Table<'_, K, V>),
    ) {
        let txn = repo.db.begin_write().unwrap();
        edit(&mut txn.open_table(table).unwrap());
        txn.commit().unwrap();
    }

    #[tokio::test]
    async fn a_corrupt_record_is_an_error_not_a_panic() {
        let repo = fresh();
        let user = sample_user("damaged", Some("damaged@example.org"));
        repo.insert(&user).await.unwrap();
        let key = user.id.as_uuid().as_u128();
        poke(&repo, tables::USERS, |t| {
            t.insert(key, b"{\"v\":1,\"id\":\"garbage\"".as_slice())
                .unwrap();
        });

        is_other(repo.get(user.id).await, "corrupt");
        is_other(repo.find_by_login(&user.login).await, "corrupt");
        is_other(
            repo.list(
                &UserFilter::default(),
                PageRequest {
                    offset: 0,
                    limit: 10,
                },
            )
            .await,
            "corrupt",
        );
        is_other(repo.record_failed_login(user.id).await, "corrupt");
        is_other(repo.update(&user, user.version).await, "corrupt");
        is_other(repo.delete(user.id).await, "corrupt");
        // The failed writes were rolled back, and the store still answers.
        assert_eq!(repo.ping().await, Ok(()));
        assert_eq!(repo.count_active_admins().await, Ok(0));
    }

    #[tokio::test]
    async fn an_index_entry_without_its_user_is_an_error() {
        let repo = fresh();
        let missing = sample_user("missing", None);
        poke(&repo, tables::LOGINS, |t| {
            t.insert("ghost", missing.id.as_uuid().as_u128()).unwrap();
        });
        let ghost = sample_user("Ghost", None);
        is_other(repo.find_by_login(&ghost.login).await, "inconsistent");
        // The stray entry still holds its login: better refused than silently re-pointed.
        assert_eq!(
            repo.insert(&ghost).await,
            Err(RepoError::Conflict(domain::error::UniqueField::Login))
        );
    }

    #[tokio::test]
    async fn a_file_from_a_newer_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.redb");
        let repo = EmbeddedUserRepository::open(&path).unwrap();
        let newer = tables::SCHEMA_VERSION + 1;
        poke(&repo, tables::META, |t| {
            t.insert(tables::SCHEMA_KEY, newer).unwrap();
        });
        drop(repo);
        is_other(
            EmbeddedUserRepository::open(&path),
            &format!("layout version {newer}"),
        );
    }

    #[tokio::test]
    async fn a_remembered_user_is_forgotten_by_every_write() {
        let repo = fresh();
        let user = sample_user("remembered", None);
        repo.insert(&user).await.unwrap();
        assert_eq!(repo.get(user.id).await.unwrap(), Some(user.clone()));
        assert!(lock(&repo.recent).users.contains_key(&user.id));

        let mut renamed = user.clone();
        renamed.login = domain::model::Login::parse("renamed").unwrap();
        renamed.version += 1;
        repo.update(&renamed, user.version).await.unwrap();
        assert_eq!(repo.get(user.id).await.unwrap(), Some(renamed.clone()));
        // The bookkeeping writes too.
        repo.record_failed_login(user.id).await.unwrap();
        assert_eq!(repo.get(user.id).await.unwrap().unwrap().failed_logins, 1);
        repo.clear_failures(user.id, None).await.unwrap();
        assert_eq!(repo.get(user.id).await.unwrap().unwrap().failed_logins, 0);
        repo.delete(user.id).await.unwrap();
        assert_eq!(repo.get(user.id).await.unwrap(), None);
        assert!(lock(&repo.recent).users.is_empty());
    }

    #[test]
    fn the_map_of_recent_users_is_bounded() {
        let repo = fresh();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for i in 0..=RECENT_CAPACITY {
            let user = sample_user(&format!("user{i}"), None);
            runtime.block_on(repo.insert(&user)).unwrap();
            runtime.block_on(repo.get(user.id)).unwrap();
            assert!(lock(&repo.recent).users.len() <= RECENT_CAPACITY);
        }
    }

    #[tokio::test]
    async fn a_layout_1_file_gets_its_search_index_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.redb");
        let repo = EmbeddedUserRepository::open(&path).unwrap();
        let mut user = sample_user("kabila", Some("j.kabila@example.cd"));
        user.full_name = domain::model::FullName::parse("Joseph Kabila").unwrap();
        repo.insert(&user).await.unwrap();
        // Back to layout 1: no search tables, a name-word table, schema 1.
        let txn = repo.db.begin_write().unwrap();
        txn.delete_table(tables::SEARCH).unwrap();
        txn.delete_table(tables::SEARCH_COUNT).unwrap();
        txn.open_multimap_table(tables::NAME_WORDS_V1)
            .unwrap()
            .insert("joseph", user.id.as_uuid().as_u128())
            .unwrap();
        txn.open_table(tables::META)
            .unwrap()
            .insert(tables::SCHEMA_KEY, 1)
            .unwrap();
        txn.commit().unwrap();
        drop(repo);

        let repo = EmbeddedUserRepository::open(&path).unwrap();
        for q in ["jos", "KAB", "j.kab"] {
            let filter = UserFilter {
                q: domain::ports::SearchText::new(q),
                ..UserFilter::default()
            };
            let found = repo
                .list(
                    &filter,
                    PageRequest {
                        offset: 0,
                        limit: 10,
                    },
                )
                .await
                .unwrap();
            assert_eq!((found.total, found.items), (1, vec![user.clone()]), "{q}");
        }
        let txn = repo.db.begin_read().unwrap();
        let schema = txn.open_table(tables::META).unwrap();
        let schema = schema.get(tables::SCHEMA_KEY).unwrap().unwrap().value();
        assert_eq!(schema, tables::SCHEMA_VERSION);
        assert!(txn.open_multimap_table(tables::NAME_WORDS_V1).is_err());
    }
}
