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
//!   - `login_lc`, `login_skeleton`, `email_lc`: folded login, its confusable skeleton,
//!     folded e-mail → id (unique indexes);
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
//!   delete, attempt reservation, success, lock) reads what it checks — unique indexes,
//!   stored version, current count, the other active ADMINs — and writes the record, its
//!   index entries and the audit events it carries in the same write transaction, so two
//!   concurrent inserts of one login cannot both pass the check, no count is lost, the last
//!   active ADMIN cannot be removed by two racing writes, and a change never lands without
//!   its events (nor they without it). Reads see one consistent snapshot (MVCC) and do not wait
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
use domain::ports::{
    Attempt, AuditLog, Page, PageRequest, RepoError, Update, UserFilter, UserRepository,
};
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
    /// rolled back when it fails. `op` appends the change's audit events through the
    /// [`Trail`] in the same transaction.
    async fn write<T, Op>(&self, id: UserId, op: Op) -> Result<T, RepoError>
    where
        T: Send + 'static,
        Op: FnOnce(&mut WriteTables<'_>, &Trail<'_>) -> Result<T, RepoError> + Send + 'static,
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

/// The audit trail inside a write transaction: what a user write appends its events to.
struct Trail<'txn>(&'txn redb::WriteTransaction);

impl Trail<'_> {
    /// Appends `records` in order, after the trail's last event.
    fn append(&self, records: &[AuditRecord]) -> Result<(), RepoError> {
        for record in records {
            audit::append(self.0, record)?;
        }
        Ok(())
    }
}

/// Runs `op` over the user tables in one write transaction, committed only when `op`
/// succeeds. `begin_write` waits for the previous write transaction to end: this wait is
/// what serialises writers.
fn write<T>(
    db: &Database,
    op: impl FnOnce(&mut WriteTables<'_>, &Trail<'_>) -> Result<T, RepoError>,
) -> Result<T, RepoError> {
    let txn = db.begin_write().map_err(storage)?;
    let value = {
        // The tables borrow the transaction: they must be closed before the commit.
        let mut tables = WriteTables::open(&txn)?;
        op(&mut tables, &Trail(&txn))?
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
    async fn insert(&self, user: &User, events: &[AuditRecord]) -> Result<(), RepoError> {
        let (user, events) = (user.clone(), events.to_vec());
        self.write(user.id, move |t, trail| {
            t.check_unique(&user)?;
            // Ids come from the IdGenerator, so this is a caller bug; replacing the stored
            // user would silently lose it.
            if t.contains(user.id)? {
                return Err(RepoError::Other(format!(
                    "user id {} already stored",
                    user.id
                )));
            }
            t.put(&user, None)?;
            trail.append(&events)
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

    async fn update(&self, update: &Update) -> Result<(), RepoError> {
        let user = update.user.clone();
        let (expected_version, clear_lockout) = (update.expected_version, update.clear_lockout);
        let events = update.events.to_vec();
        self.write(user.id, move |t, trail| {
            let current = t.existing(user.id)?;
            if current.version != expected_version {
                return Err(RepoError::VersionMismatch);
            }
            t.check_unique(&user)?;
            if current.is_active_admin()
                && !user.is_active_admin()
                && !t.another_active_admin(user.id)?
            {
                return Err(RepoError::LastAdmin);
            }
            // The bookkeeping belongs to its own methods (see the trait docs).
            let next = User {
                failed_logins: if clear_lockout {
                    0
                } else {
                    current.failed_logins
                },
                locked_until: if clear_lockout {
                    None
                } else {
                    current.locked_until
                },
                last_login_at: current.last_login_at,
                ..user
            };
            t.put(&next, Some(&current))?;
            trail.append(&events)
        })
        .await
    }

    async fn delete(&self, id: UserId, events: &[AuditRecord]) -> Result<(), RepoError> {
        let events = events.to_vec();
        self.write(id, move |t, trail| {
            let current = t.existing(id)?;
            if current.is_active_admin() && !t.another_active_admin(id)? {
                return Err(RepoError::LastAdmin);
            }
            t.remove(&current)?;
            trail.append(&events)
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

    async fn reserve_login_attempt(
        &self,
        id: UserId,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Attempt, RepoError> {
        self.write(id, move |t, _| {
            let mut user = t.existing(id)?;
            if let Some(until) = user.locked_until.filter(|until| *until > now) {
                return Ok(Attempt::Locked { until });
            }
            if user.failed_logins >= limit {
                return Ok(Attempt::Saturated);
            }
            user.failed_logins += 1;
            t.put_record(&user)?;
            Ok(Attempt::Admitted {
                number: user.failed_logins,
            })
        })
        .await
    }

    async fn record_success(
        &self,
        id: UserId,
        now: OffsetDateTime,
        last_login_at: Option<OffsetDateTime>,
        events: &[AuditRecord],
    ) -> Result<Option<OffsetDateTime>, RepoError> {
        let events = events.to_vec();
        self.write(id, move |t, trail| {
            let mut user = t.existing(id)?;
            if let Some(until) = user.locked_until.filter(|until| *until > now) {
                return Ok(Some(until));
            }
            user.failed_logins = 0;
            if last_login_at.is_some() {
                user.last_login_at = last_login_at;
            }
            t.put_record(&user)?;
            trail.append(&events)?;
            Ok(None)
        })
        .await
    }

    async fn lock(
        &self,
        id: UserId,
        until: OffsetDateTime,
        now: OffsetDateTime,
        events: &[AuditRecord],
    ) -> Result<bool, RepoError> {
        let events = events.to_vec();
        self.write(id, move |t, trail| {
            let mut user = t.existing(id)?;
            if user.locked_until.is_some_and(|current| current > now) {
                return Ok(false);
            }
            user.locked_until = Some(until);
            user.failed_logins = 0;
            t.put_record(&user)?;
            trail.append(&events)?;
            Ok(true)
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

    use domain::model::Login;
    use redb::ReadableTable;
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
        repo.insert(&user, &[]).await.unwrap();
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
        is_other(
            repo.reserve_login_attempt(user.id, user.created_at, 5)
                .await,
            "corrupt",
        );
        is_other(
            repo.update(&Update::new(&user, user.version)).await,
            "corrupt",
        );
        is_other(repo.delete(user.id, &[]).await, "corrupt");
        // The failed writes were rolled back, and the store still answers.
        assert_eq!(repo.ping().await, Ok(()));
        let admins = repo
            .list(
                &UserFilter::active_admins(),
                PageRequest {
                    offset: 0,
                    limit: 0,
                },
            )
            .await;
        assert_eq!(admins.map(|p| p.total), Ok(0));
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
            repo.insert(&ghost, &[]).await,
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
        repo.insert(&user, &[]).await.unwrap();
        assert_eq!(repo.get(user.id).await.unwrap(), Some(user.clone()));
        assert!(lock(&repo.recent).users.contains_key(&user.id));

        let mut renamed = user.clone();
        renamed.login = domain::model::Login::parse("renamed").unwrap();
        renamed.version += 1;
        repo.update(&Update::new(&renamed, user.version))
            .await
            .unwrap();
        assert_eq!(repo.get(user.id).await.unwrap(), Some(renamed.clone()));
        // The bookkeeping writes too.
        repo.reserve_login_attempt(user.id, user.created_at, 5)
            .await
            .unwrap();
        assert_eq!(repo.get(user.id).await.unwrap().unwrap().failed_logins, 1);
        repo.record_success(user.id, user.created_at, None, &[])
            .await
            .unwrap();
        assert_eq!(repo.get(user.id).await.unwrap().unwrap().failed_logins, 0);
        repo.delete(user.id, &[]).await.unwrap();
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
            runtime.block_on(repo.insert(&user, &[])).unwrap();
            runtime.block_on(repo.get(user.id)).unwrap();
            assert!(lock(&repo.recent).users.len() <= RECENT_CAPACITY);
        }
    }

    #[tokio::test]
    async fn a_change_whose_event_cannot_be_appended_is_not_made() {
        let repo = fresh();
        let user = sample_user("audited", Some("audited@example.org"));
        let record = |kind| domain::model::AuditRecord {
            at: user.created_at,
            kind,
            failure: None,
            actor: Some(user.id),
            target: Some(user.id),
            context: domain::model::RequestContext::default(),
            details: Vec::new(),
        };
        repo.insert(&user, &[record(domain::model::AuditKind::UserCreated)])
            .await
            .unwrap();
        // The trail fails mid-request: its newest event no longer reads back.
        poke(&repo, audit::EVENTS, |t| {
            t.insert(1, b"not an event".as_slice()).unwrap();
        });
        let mut blocked = user.clone();
        blocked.blocked = true;
        blocked.version += 1;
        let update = Update {
            events: vec![record(domain::model::AuditKind::UserBlocked)],
            ..Update::new(&blocked, user.version)
        };
        is_other(repo.update(&update).await, "audit event 1");
        assert_eq!(
            repo.get(user.id).await.unwrap(),
            Some(user.clone()),
            "not made"
        );
        is_other(
            repo.delete(user.id, &[record(domain::model::AuditKind::UserDeleted)])
                .await,
            "audit event 1",
        );
        assert!(repo.get(user.id).await.unwrap().is_some(), "not deleted");
    }

    /// Back to layout 2: keys folded by `to_lowercase`, no skeleton table, schema 2.
    fn downgrade_to_layout_2(repo: &EmbeddedUserRepository, legacy: &[(&User, &str)]) {
        let txn = repo.db.begin_write().unwrap();
        txn.delete_table(tables::SKELETONS).unwrap();
        {
            let mut logins = txn.open_table(tables::LOGINS).unwrap();
            let mut users = txn.open_table(tables::USERS).unwrap();
            for (user, login) in legacy {
                let key = user.id.as_uuid().as_u128();
                logins.remove(user.login.key()).unwrap();
                logins.insert(login.to_lowercase().as_str(), key).unwrap();
                let bytes = users.get(key).unwrap().unwrap().value().to_vec();
                let mut record: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                record["login"] = serde_json::Value::from(*login);
                let bytes = serde_json::to_vec(&record).unwrap();
                users.insert(key, bytes.as_slice()).unwrap();
            }
        }
        txn.open_table(tables::META)
            .unwrap()
            .insert(tables::SCHEMA_KEY, 2)
            .unwrap();
        txn.commit().unwrap();
    }

    #[tokio::test]
    async fn a_layout_2_file_is_rekeyed_and_collisions_stop_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.redb");
        let repo = EmbeddedUserRepository::open(&path).unwrap();
        let strasse = sample_user("placeholder-1", None);
        let admin = sample_user("admin", None);
        let twin = sample_user("placeholder-2", None);
        for user in [&strasse, &admin, &twin] {
            repo.insert(user, &[]).await.unwrap();
        }
        // As the previous version stored them: "Straße" under "straße", and a full-width
        // "ＡＤＭＩＮ" under its own lower case, beside "admin".
        downgrade_to_layout_2(&repo, &[(&strasse, "Straße"), (&twin, "ＡＤＭＩＮ")]);
        drop(repo);

        let refused = EmbeddedUserRepository::open(&path).unwrap_err().to_string();
        assert!(refused.contains("same login"), "{refused}");
        assert!(refused.contains(&admin.id.to_string()), "{refused}");
        assert!(refused.contains(&twin.id.to_string()), "{refused}");
        {
            // Nothing changed: still layout 2.
            let db = redb::Database::open(&path).unwrap();
            let txn = db.begin_read().unwrap();
            let meta = txn.open_table(tables::META).unwrap();
            assert_eq!(meta.get(tables::SCHEMA_KEY).unwrap().unwrap().value(), 2);
            drop((meta, txn));
            // The operator resolves the group (here: removes the impostor's record).
            let txn = db.begin_write().unwrap();
            txn.open_table(tables::USERS)
                .unwrap()
                .remove(twin.id.as_uuid().as_u128())
                .unwrap();
            txn.open_table(tables::LOGINS)
                .unwrap()
                .remove("ａｄｍｉｎ")
                .unwrap();
            txn.commit().unwrap();
        }

        let repo = EmbeddedUserRepository::open(&path).unwrap();
        let found = repo
            .find_by_login(&Login::parse("STRASSE").unwrap())
            .await
            .unwrap()
            .expect("found under the folded key");
        assert_eq!(found.id, strasse.id);
        assert_eq!(found.login.as_str(), "Straße");
        let mut lookalike = sample_user("adrnin", None);
        lookalike.login = Login::parse("adrnin").unwrap();
        assert_eq!(
            repo.insert(&lookalike, &[]).await,
            Err(RepoError::Conflict(domain::error::UniqueField::Login)),
            "the skeleton index was built"
        );
    }

    #[tokio::test]
    async fn a_layout_1_file_gets_its_search_index_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.redb");
        let repo = EmbeddedUserRepository::open(&path).unwrap();
        let mut user = sample_user("kabila", Some("j.kabila@example.cd"));
        user.full_name = domain::model::FullName::parse("Joseph Kabila").unwrap();
        repo.insert(&user, &[]).await.unwrap();
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
