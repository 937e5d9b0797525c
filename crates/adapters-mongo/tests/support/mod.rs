//! Shared by the integration tests: where the MongoDB server is, and fresh databases
//! that are dropped afterwards, so that tests run in parallel against one server.
//!
//! `USERS_TEST_MONGODB_URI` names the server. Unset: with `USERS_TEST_REQUIRE_MONGODB=1`
//! (CI) every test fails loudly; otherwise each prints "skipped" and passes.

// Test code: a failed `expect` is the failure report. Not every test file uses every helper.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use adapters_mongo::{MongoOptions, MongoUserRepository};
use async_trait::async_trait;
use domain::model::{AuditEvent, AuditFilter, AuditRecord, Email, Login, User, UserId};
use domain::ports::{
    Attempt, AuditLog, Page, PageRequest, RepoError, Update, UserFilter, UserRepository,
};
use mongodb::Database;
use time::OffsetDateTime;

/// The server's URI, or `None` after printing why the test is skipped.
///
/// # Panics
/// When the URI is unset but `USERS_TEST_REQUIRE_MONGODB=1`.
pub fn server_uri() -> Option<String> {
    match std::env::var("USERS_TEST_MONGODB_URI") {
        Ok(uri) if !uri.trim().is_empty() => Some(uri),
        _ if std::env::var("USERS_TEST_REQUIRE_MONGODB").as_deref() == Ok("1") => {
            panic!(
                "USERS_TEST_REQUIRE_MONGODB=1 but USERS_TEST_MONGODB_URI is unset: \
                 the MongoDB tests must run here (start one with scripts/ferretdb.sh)"
            )
        }
        _ => {
            eprintln!("skipped: set USERS_TEST_MONGODB_URI");
            None
        }
    }
}

/// A database name no other test uses.
pub fn fresh_name() -> String {
    format!("test_{}", uuid::Uuid::new_v4().simple())
}

/// A repository on a fresh database, NOT migrated.
pub async fn unmigrated_repo(uri: &str) -> TestRepo {
    let name = fresh_name();
    let repo = MongoUserRepository::connect_with(uri, &name, test_options())
        .await
        .expect("connect");
    TestRepo {
        repo,
        uri: uri.to_owned(),
        name,
    }
}

/// A repository on a fresh, migrated database: what the service runs on.
pub async fn fresh_repo(uri: &str) -> TestRepo {
    let repo = unmigrated_repo(uri).await;
    repo.migrate().await.expect("migrations apply");
    repo
}

/// Test bounds: generous, because the contract's concurrency cases queue up to fifty
/// writes to one user behind each other on a shared two-core machine.
fn test_options() -> MongoOptions {
    MongoOptions {
        operation_timeout: std::time::Duration::from_secs(20),
        ..MongoOptions::default()
    }
}

/// A `MongoUserRepository` whose database is dropped when the test is done with it.
#[derive(Debug)]
pub struct TestRepo {
    repo: MongoUserRepository,
    uri: String,
    name: String,
}

impl TestRepo {
    pub fn database(&self) -> &Database {
        self.repo.database()
    }

    pub fn inner(&self) -> &MongoUserRepository {
        &self.repo
    }

    pub async fn migrate(
        &self,
    ) -> Result<adapters_mongo::MigrationReport, adapters_mongo::MigrationError> {
        self.repo.migrate().await
    }
}

impl Drop for TestRepo {
    /// Drops the database from a thread of its own, with its own runtime and client: `Drop`
    /// cannot await, and the test's runtime may be shutting down. Best effort: a leftover
    /// `test_…` database is harmless.
    fn drop(&mut self) {
        let uri = self.uri.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = mongodb::Client::with_uri_str(&uri).await.ok()?;
                client.database(&name).drop().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// Delegation, so that the contract suite runs on the real adapter.
#[async_trait]
impl AuditLog for TestRepo {
    async fn append(&self, record: &AuditRecord) -> Result<AuditEvent, RepoError> {
        self.repo.append(record).await
    }

    async fn find(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, RepoError> {
        self.repo.find(filter, page).await
    }

    async fn chain(&self, after: u64, limit: u32) -> Result<Vec<AuditEvent>, RepoError> {
        self.repo.chain(after, limit).await
    }

    async fn save_checkpoint(
        &self,
        checkpoint: &domain::model::AuditCheckpoint,
    ) -> Result<bool, RepoError> {
        self.repo.save_checkpoint(checkpoint).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<domain::model::AuditCheckpoint>, RepoError> {
        self.repo.latest_checkpoint().await
    }

    async fn checkpoints(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<domain::model::AuditCheckpoint>, RepoError> {
        self.repo.checkpoints(after, limit).await
    }
}

#[async_trait]
impl UserRepository for TestRepo {
    async fn insert(&self, user: &User, events: &[AuditRecord]) -> Result<(), RepoError> {
        self.repo.insert(user, events).await
    }
    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError> {
        self.repo.get(id).await
    }
    async fn find_by_login(&self, login: &Login) -> Result<Option<User>, RepoError> {
        self.repo.find_by_login(login).await
    }
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        self.repo.find_by_email(email).await
    }
    async fn update(&self, update: &Update) -> Result<(), RepoError> {
        self.repo.update(update).await
    }
    async fn delete(&self, id: UserId, events: &[AuditRecord]) -> Result<(), RepoError> {
        self.repo.delete(id, events).await
    }
    async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>, RepoError> {
        self.repo.list(filter, page).await
    }
    async fn reserve_login_attempt(
        &self,
        id: UserId,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Attempt, RepoError> {
        self.repo.reserve_login_attempt(id, now, limit).await
    }
    async fn record_success(
        &self,
        id: UserId,
        now: OffsetDateTime,
        last_login_at: Option<OffsetDateTime>,
        events: &[AuditRecord],
    ) -> Result<Option<OffsetDateTime>, RepoError> {
        self.repo
            .record_success(id, now, last_login_at, events)
            .await
    }
    async fn lock(
        &self,
        id: UserId,
        until: OffsetDateTime,
        now: OffsetDateTime,
        events: &[AuditRecord],
    ) -> Result<bool, RepoError> {
        self.repo.lock(id, until, now, events).await
    }
    async fn ping(&self) -> Result<(), RepoError> {
        self.repo.ping().await
    }
}
