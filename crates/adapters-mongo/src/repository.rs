//! `MongoUserRepository`: the `UserRepository` port over one MongoDB database.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use bson::{Bson, Document, RawDocumentBuf, doc};
use domain::error::UniqueField;
use domain::model::{AuditRecord, Email, Login, User, UserId};
use domain::ports::{Attempt, Page, PageRequest, RepoError, Update, UserFilter, UserRepository};

use mongodb::options::{ClientOptions, ReturnDocument};
use mongodb::{Client, Collection, Database};

use time::OffsetDateTime;

use crate::admin_lease::{AdminLease, LOCKS_COLLECTION};
use crate::collections::{AUDIT_COLLECTION, USERS_COLLECTION, read_page};
use crate::document::{UserDocument, bson_date, field, id_key, user_from_raw};
use crate::error::{UniqueKey, WriteError, repo_error, timed_out};
use crate::migrate::{MigrationError, MigrationReport, Migrator};
use crate::outbox::{self, Outbox};
use crate::query;
use crate::write_gate::WriteGate;

/// Times a write is attempted when a duplicate key cannot be attributed to a field
/// because the user holding it disappeared in between (see `attribute`).
const WRITE_ATTEMPTS: usize = 3;

/// Bounds of every call, so that a store that is down or hangs costs a request about two
/// seconds, not a stuck worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MongoOptions {
    /// How long an operation waits for a usable server (the store is down: the call
    /// fails after this). Used unless the URI sets `serverSelectionTimeoutMS`.
    pub server_selection_timeout: Duration,
    /// TCP and TLS connection set-up. Used unless the URI sets `connectTimeoutMS`.
    pub connect_timeout: Duration,
    /// Upper bound of a whole repository call (waiting for a server, this process's other
    /// writes to the same user, the round trips): a server that accepts connections but
    /// does not answer fails the call after this.
    pub operation_timeout: Duration,
}

impl Default for MongoOptions {
    fn default() -> Self {
        Self {
            server_selection_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            // Above the server selection timeout, so that a store that is down reports
            // the driver's own, more precise, error.
            operation_timeout: Duration::from_secs(3),
        }
    }
}

/// Users in the `users` collection of one MongoDB (or FerretDB) database.
///
/// Cheap to clone: clones share the driver's connection pool and the write gate.
#[derive(Clone, Debug)]
pub struct MongoUserRepository {
    db: Database,
    users: Collection<Document>,
    /// The same collection, read as raw BSON (see `document::user_from_raw`).
    raw_users: Collection<RawDocumentBuf>,
    gate: std::sync::Arc<WriteGate>,
    /// The audit trail (see `audit.rs`).
    pub(crate) audit: Collection<Document>,
    /// This process's audit appends take turns.
    pub(crate) audit_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Writes that remove an active ADMIN take turns (see `admin_lease.rs`).
    lease: std::sync::Arc<AdminLease>,
    operation_timeout: Duration,
}

impl MongoUserRepository {
    /// Prepares a client for `uri` and the database `db_name`, with the default bounds.
    ///
    /// Does no network I/O: the driver connects lazily and reconnects by itself, so this
    /// succeeds while the server is down; [`UserRepository::ping`] tells whether it
    /// answers.
    ///
    /// # Errors
    /// `RepoError::Other` when the URI or the database name is invalid.
    pub async fn connect(uri: &str, db_name: &str) -> Result<Self, RepoError> {
        Self::connect_with(uri, db_name, MongoOptions::default()).await
    }

    /// [`connect`](Self::connect) with explicit bounds.
    ///
    /// # Errors
    /// `RepoError::Other` when the URI or the database name is invalid.
    pub async fn connect_with(
        uri: &str,
        db_name: &str,
        options: MongoOptions,
    ) -> Result<Self, RepoError> {
        check_database_name(db_name)?;
        // The driver's message names the offending part, never the password.
        let mut client_options = ClientOptions::parse(uri)
            .await
            .map_err(|e| RepoError::Other(format!("invalid MongoDB connection string: {e}")))?;
        client_options
            .server_selection_timeout
            .get_or_insert(options.server_selection_timeout);
        client_options
            .connect_timeout
            .get_or_insert(options.connect_timeout);
        client_options
            .app_name
            .get_or_insert_with(|| "users-service".to_owned());
        let client = Client::with_options(client_options)
            .map_err(|e| RepoError::Other(format!("cannot create the MongoDB client: {e}")))?;
        let db = client.database(db_name);
        let lease = std::sync::Arc::new(AdminLease::new(db.collection(LOCKS_COLLECTION)));
        Ok(Self {
            lease,
            users: db.collection(USERS_COLLECTION),
            audit: db.collection(AUDIT_COLLECTION),
            raw_users: db.collection(USERS_COLLECTION),
            db,
            gate: std::sync::Arc::new(WriteGate::new()),
            audit_turn: std::sync::Arc::default(),

            operation_timeout: options.operation_timeout,
        })
    }

    /// The database this repository works in (for the migration runner, and for tests
    /// that inspect raw documents).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Moves the audit events that writes left on user documents to the trail, and finishes
    /// the deletions a crash interrupted (see `outbox.rs`); the number of users drained.
    /// The service runs it at start-up and periodically.
    ///
    /// # Errors
    /// The store's, when it cannot be read or written.
    pub async fn sweep_outboxes(&self) -> Result<usize, RepoError> {
        self.outbox().sweep().await
    }

    fn outbox(&self) -> Outbox<'_> {
        Outbox {
            users: &self.users,
            audit: &self.audit,
            audit_turn: &self.audit_turn,
        }
    }

    /// After a write that carried events: moves them to the trail now. A failure here loses
    /// nothing (they wait on the document for the next drain or sweep), so the write stands.
    async fn drain(&self, id: UserId) {
        if let Err(e) = self.outbox().drain(id).await {
            tracing::warn!(user = %id, error = %e, "audit events wait on the user document for the next sweep");
        }
    }

    /// Applies the embedded migrations that this database lacks (see [`crate::migrate`]).
    ///
    /// # Errors
    /// See [`MigrationError`].
    pub async fn migrate(&self) -> Result<MigrationReport, MigrationError> {
        Migrator::embedded().run(&self.db).await
    }

    /// Runs `work` within the operation bound.
    pub(crate) async fn bounded<T>(
        &self,
        operation: &str,
        work: impl Future<Output = Result<T, RepoError>>,
    ) -> Result<T, RepoError> {
        tokio::time::timeout(self.operation_timeout, work)
            .await
            .unwrap_or_else(|_| Err(timed_out(operation, self.operation_timeout)))
    }

    async fn find_one(&self, filter: Document) -> Result<Option<User>, RepoError> {
        let found = self
            .raw_users
            .find_one(filter)
            .await
            .map_err(|e| repo_error(&e))?;
        found.as_deref().map(user_from_raw).transpose()
    }

    /// Whether some document matches `filter`.
    async fn exists(&self, filter: Document) -> Result<bool, RepoError> {
        let found = self
            .users
            .find_one(filter)
            .projection(doc! { field::ID: 1 })
            .await
            .map_err(|e| repo_error(&e))?;
        Ok(found.is_some())
    }

    /// After a conditional write matched nothing: `NotFound` when the user is gone,
    /// `VersionMismatch` when only the condition on the version failed.
    async fn missing_or_stale(&self, id: UserId) -> RepoError {
        match self.exists(query::live_by_id(id)).await {
            Ok(true) => RepoError::VersionMismatch,
            Ok(false) => RepoError::NotFound,
            Err(e) => e,
        }
    }

    /// The stored user `id` (live), read fresh.
    async fn current(&self, id: UserId) -> Result<User, RepoError> {
        self.find_one(query::live_by_id(id))
            .await?
            .ok_or(RepoError::NotFound)
    }

    /// Whether a live user other than `id` is an active ADMIN.
    async fn another_active_admin(&self, id: UserId) -> Result<bool, RepoError> {
        let mut filter = query::list_filter(&domain::ports::UserFilter::active_admins());
        filter.insert(field::ID, doc! { "$ne": id_key(id) });
        self.exists(filter).await
    }

    /// Names the field of a duplicate key that `user`'s write ran into.
    ///
    /// When the error named the index (MongoDB), that is the answer. Otherwise (FerretDB
    /// on insert), the store is asked who else holds the login, then the e-mail. `None`
    /// when nobody does any more (the holder was deleted meanwhile): the caller tries the
    /// write again.
    async fn attribute(
        &self,
        key: Option<UniqueKey>,
        user: &User,
    ) -> Result<Option<RepoError>, RepoError> {
        match key {
            Some(UniqueKey::Login) => return Ok(Some(RepoError::Conflict(UniqueField::Login))),
            Some(UniqueKey::Email) => return Ok(Some(RepoError::Conflict(UniqueField::Email))),
            Some(UniqueKey::Id) => return Ok(Some(duplicate_id(user.id))),
            None => {}
        }
        let others = doc! { "$ne": id_key(user.id) };
        let login_taken = doc! { field::LOGIN_LC: user.login.key(), field::ID: others.clone() };
        let skeleton_taken =
            doc! { field::LOGIN_SKELETON: user.login.skeleton(), field::ID: others.clone() };
        if self.exists(login_taken).await? || self.exists(skeleton_taken).await? {
            return Ok(Some(RepoError::Conflict(UniqueField::Login)));
        }
        if let Some(email) = &user.email {
            let email_taken = doc! { field::EMAIL_LC: email.key(), field::ID: others };
            if self.exists(email_taken).await? {
                return Ok(Some(RepoError::Conflict(UniqueField::Email)));
            }
        }
        if self.exists(query::by_id(user.id)).await? {
            return Ok(Some(duplicate_id(user.id)));
        }
        Ok(None)
    }

    /// A conditional `update_one` of one live user, under the write gate, with the outbox
    /// entry of `records`; whether it matched. Its events are drained when it did.
    async fn update_if(
        &self,
        id: UserId,
        filter: Document,
        operators: Document,
        records: &[AuditRecord],
    ) -> Result<bool, WriteError> {
        let entry = outbox::entry(records).map_err(WriteError::Repo)?;
        let matched = {
            let _turn = self.gate.enter(id).await;
            self.users
                .update_one(filter, outbox::pushing(operators, entry.as_ref()))
                .await?
                .matched_count
                == 1
        };
        if matched && entry.is_some() {
            self.drain(id).await;
        }
        Ok(matched)
    }

    /// The lockout fields of the live user `id`.
    async fn lockout_of(&self, id: UserId) -> Result<(u32, Option<OffsetDateTime>), RepoError> {
        let user = self.current(id).await?;
        Ok((user.failed_logins, user.locked_until))
    }

    /// `update` without the bound: the filter guards versions and rule 8, the lease the
    /// writes that take an active ADMIN out.
    async fn update_unbounded(&self, update: &Update) -> Result<(), RepoError> {
        let user = &update.user;
        let mut operators = UserDocument::try_from(user)?.update_operators()?;
        if update.clear_lockout {
            if let Some(Bson::Document(set)) = operators.get_mut("$set") {
                set.insert(field::FAILED_LOGINS, 0_i64);
            }
            match operators.get_mut("$unset") {
                Some(Bson::Document(unset)) => {
                    unset.insert(field::LOCKED_UNTIL, "");
                }
                _ => {
                    operators.insert("$unset", doc! { field::LOCKED_UNTIL: "" });
                }
            }
        }
        // No stored version exceeds i64::MAX (writes refuse it), so such an expected
        // version can only be stale, or the user missing.
        let Ok(expected) = i64::try_from(update.expected_version) else {
            return Err(self.missing_or_stale(user.id).await);
        };
        let mut filter = query::live_by_id(user.id);
        filter.insert(field::VERSION, expected);
        if user.is_active_admin() {
            // Cannot take an active ADMIN out: the filter alone guards it.
            return self
                .write_update(user, filter, operators, &update.events)
                .await;
        }
        let unguarded = query::unless_active_admin(filter.clone());
        match self
            .write_update(user, unguarded, operators.clone(), &update.events)
            .await
        {
            Err(RepoError::VersionMismatch) => {}
            other => return other,
        }
        // Nothing matched: stale, gone, or the stored user is an active ADMIN.
        let stored = self.current(user.id).await?;
        if stored.version != update.expected_version || !stored.is_active_admin() {
            return Err(self.missing_or_stale(user.id).await);
        }
        self.lease
            .hold(async {
                if !self.another_active_admin(user.id).await? {
                    return Err(RepoError::LastAdmin);
                }
                self.write_update(user, filter, operators, &update.events)
                    .await
            })
            .await
    }

    /// One guarded `update_one` of `user`: conflicts attributed, a non-match reported as
    /// `VersionMismatch` or `NotFound`.
    async fn write_update(
        &self,
        user: &User,
        filter: Document,
        operators: Document,
        records: &[AuditRecord],
    ) -> Result<(), RepoError> {
        for _ in 0..WRITE_ATTEMPTS {
            // `$set` of the profile only: the login bookkeeping is never written here, so
            // a concurrent attempt count survives.
            let key = match self
                .update_if(user.id, filter.clone(), operators.clone(), records)
                .await
            {
                Ok(true) => return Ok(()),
                Ok(false) => return Err(self.missing_or_stale(user.id).await),
                Err(WriteError::Duplicate(key)) => key,
                Err(WriteError::Repo(e)) => return Err(e),
            };
            if let Some(conflict) = self.attribute(key, user).await? {
                return Err(conflict);
            }
        }
        Err(RepoError::Other(
            "update kept hitting a duplicate key that no other user holds".to_owned(),
        ))
    }

    /// `delete` without the bound: the user is marked `_deleted` with its events, which the
    /// drain then moves to the trail before removing the document.
    async fn delete_unbounded(&self, id: UserId, records: &[AuditRecord]) -> Result<(), RepoError> {
        let mark = doc! { "$set": { field::DELETED: true } };
        let unguarded = query::unless_active_admin(query::live_by_id(id));
        let marked = if self
            .mark_deleted(id, unguarded, mark.clone(), records)
            .await?
        {
            true
        } else {
            let stored = self.current(id).await?;
            if !stored.is_active_admin() {
                // Changed in between: the caller may simply try again.
                return Err(RepoError::Unavailable(
                    "the user changed while being deleted; retry".to_owned(),
                ));
            }
            self.lease
                .hold(async {
                    if !self.another_active_admin(id).await? {
                        return Err(RepoError::LastAdmin);
                    }
                    self.mark_deleted(id, query::live_by_id(id), mark, records)
                        .await
                })
                .await?
        };
        if !marked {
            return Err(RepoError::NotFound);
        }
        // The drain removes the document once its events are in the trail; without events,
        // there is nothing to wait for.
        if records.is_empty() {
            self.users
                .delete_one(query::by_id(id))
                .await
                .map_err(|e| repo_error(&e))?;
        } else {
            self.drain(id).await;
        }
        Ok(())
    }

    async fn mark_deleted(
        &self,
        id: UserId,
        filter: Document,
        mark: Document,
        records: &[AuditRecord],
    ) -> Result<bool, RepoError> {
        let entry = outbox::entry(records)?;
        let _turn = self.gate.enter(id).await;
        let result = self
            .users
            .update_one(filter, outbox::pushing(mark, entry.as_ref()))
            .await
            .map_err(|e| repo_error(&e))?;
        Ok(result.matched_count == 1)
    }
}

/// A write error that cannot be a duplicate key (no unique field is written).
fn plain(e: WriteError) -> RepoError {
    match e {
        WriteError::Repo(e) => e,
        WriteError::Duplicate(_) => RepoError::Other("unexpected duplicate key".to_owned()),
    }
}

/// The same id inserted twice: ids come from the `IdGenerator`, so this is a caller bug,
/// not a conflict a user could resolve.
fn duplicate_id(id: UserId) -> RepoError {
    RepoError::Other(format!("user id {id} already stored"))
}

/// The counter in a (projected) document, which may hold a 32- or 64-bit integer.
fn failed_logins(doc: &Document) -> Result<u32, RepoError> {
    let value = match doc.get(field::FAILED_LOGINS) {
        Some(Bson::Int64(n)) => Some(*n),
        Some(Bson::Int32(n)) => Some(i64::from(*n)),
        _ => None,
    };
    value
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| RepoError::Other(format!("corrupt failed_logins in user document {doc}")))
}

/// MongoDB's rules for database names, checked once at start-up rather than failing every
/// call later.
fn check_database_name(name: &str) -> Result<(), RepoError> {
    const FORBIDDEN: &[char] = &['/', '\\', '.', ' ', '"', '$', '*', '<', '>', ':', '|', '?'];
    if name.is_empty() || name.len() > 63 || name.contains(FORBIDDEN) || name.contains('\0') {
        return Err(RepoError::Other(format!(
            "invalid MongoDB database name {name:?}: 1 to 63 bytes, none of / \\ . space \" $ * < > : | ?"
        )));
    }
    Ok(())
}

#[async_trait]
impl UserRepository for MongoUserRepository {
    async fn insert(&self, user: &User, events: &[AuditRecord]) -> Result<(), RepoError> {
        let mut document = UserDocument::try_from(user)?.to_bson()?;
        if let Some(entry) = outbox::entry(events)? {
            document.insert(field::OUTBOX, vec![Bson::Document(entry)]);
        }
        self.bounded("insert", async {
            for _ in 0..WRITE_ATTEMPTS {
                // The unique indexes check login, skeleton and e-mail atomically with the write.
                let key = match self.users.insert_one(document.clone()).await {
                    Ok(_) => {
                        if !events.is_empty() {
                            self.drain(user.id).await;
                        }
                        return Ok(());
                    }
                    Err(e) => match WriteError::from(e) {
                        WriteError::Duplicate(key) => key,
                        WriteError::Repo(e) => return Err(e),
                    },
                };
                if let Some(conflict) = self.attribute(key, user).await? {
                    return Err(conflict);
                }
            }
            Err(RepoError::Other(
                "insert kept hitting a duplicate key that no stored user holds".to_owned(),
            ))
        })
        .await
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError> {
        self.bounded("get", self.find_one(query::live_by_id(id)))
            .await
    }

    async fn find_by_login(&self, login: &Login) -> Result<Option<User>, RepoError> {
        let filter = query::live_by_key(field::LOGIN_LC, login.key());
        self.bounded("find_by_login", self.find_one(filter)).await
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        let filter = query::live_by_key(field::EMAIL_LC, email.key());
        self.bounded("find_by_email", self.find_one(filter)).await
    }

    async fn update(&self, update: &Update) -> Result<(), RepoError> {
        self.bounded("update", self.update_unbounded(update)).await
    }

    async fn delete(&self, id: UserId, events: &[AuditRecord]) -> Result<(), RepoError> {
        self.bounded("delete", self.delete_unbounded(id, events))
            .await
    }

    async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>, RepoError> {
        let filter = query::list_filter(filter);
        self.bounded("list", async {
            let found = read_page(&self.raw_users, filter, query::list_order(), page).await?;
            let items = found
                .items
                .iter()
                .map(|raw| user_from_raw(raw))
                .collect::<Result<_, _>>()?;
            Ok(Page {
                items,
                total: found.total,
            })
        })
        .await
    }

    async fn reserve_login_attempt(
        &self,
        id: UserId,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Attempt, RepoError> {
        let at = bson_date(now)?;
        self.bounded("reserve_login_attempt", async {
            let updated = {
                let _turn = self.gate.enter(id).await;
                // One atomic step: not locked, below the limit, counted.
                let mut filter = query::unless_locked(query::live_by_id(id), at);
                filter.insert(field::FAILED_LOGINS, doc! { "$lt": i64::from(limit) });
                self.users
                    .find_one_and_update(filter, doc! { "$inc": { field::FAILED_LOGINS: 1_i64 } })
                    .return_document(ReturnDocument::After)
                    // No projection: FerretDB 1.x refuses `fields` in findAndModify.
                    .await
                    .map_err(|e| repo_error(&e))?
            };
            if let Some(document) = updated {
                return Ok(Attempt::Admitted {
                    number: failed_logins(&document)?,
                });
            }
            match self.lockout_of(id).await? {
                (_, Some(until)) if until > now => Ok(Attempt::Locked { until }),
                _ => Ok(Attempt::Saturated),
            }
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
        let at = bson_date(now)?;
        let mut set = doc! { field::FAILED_LOGINS: 0_i64 };
        if let Some(last) = last_login_at {
            set.insert(field::LAST_LOGIN_AT, bson_date(last)?);
        }
        self.bounded("record_success", async {
            let filter = query::unless_locked(query::live_by_id(id), at);
            if self
                .update_if(id, filter, doc! { "$set": set.clone() }, events)
                .await
                .map_err(plain)?
            {
                return Ok(None);
            }
            match self.lockout_of(id).await? {
                (_, Some(until)) if until > now => Ok(Some(until)),
                // Unlocked in between (an administrator's unblock): the success stands.
                _ => Err(RepoError::Unavailable(
                    "the account changed while its login was recorded; retry".to_owned(),
                )),
            }
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
        let (at, until) = (bson_date(now)?, bson_date(until)?);
        let operators = doc! {
            "$set": { field::LOCKED_UNTIL: until, field::FAILED_LOGINS: 0_i64 },
        };
        self.bounded("lock", async {
            let filter = query::unless_locked(query::live_by_id(id), at);
            if self
                .update_if(id, filter, operators, events)
                .await
                .map_err(plain)?
            {
                return Ok(true);
            }
            // Already locked, or gone.
            self.current(id).await.map(|_| false)
        })
        .await
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.bounded("ping", async {
            self.db
                .run_command(doc! { "ping": 1 })
                .await
                .map(drop)
                .map_err(|e| repo_error(&e))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_follow_mongodb_rules() {
        for good in ["users", "test_0123abcd", "Users-2"] {
            assert_eq!(check_database_name(good), Ok(()), "{good}");
        }
        let long = "x".repeat(64);
        for bad in ["", "a.b", "a b", "a/b", "a$b", "a\0b", long.as_str()] {
            assert!(
                matches!(check_database_name(bad), Err(RepoError::Other(_))),
                "{bad:?}"
            );
        }
    }
}
