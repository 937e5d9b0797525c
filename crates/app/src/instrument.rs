//! Metric decorators of the outbound ports: [`InstrumentedRepository`] and
//! [`InstrumentedHasher`] implement `UserRepository`, `AuditLog` and `PasswordHasher` by calling the
//! port they wrap, timing each call and recording it into the metric handles they were
//! given (`users_store_operation_duration_seconds`, `users_store_errors_total`,
//! `users_password_hash_duration_seconds`).
//!
//! They live in the composition root because it is the only place that sees both sides:
//! the domain knows ports and no metrics, the store and password adapters know their
//! technology and no metrics, and the HTTP adapter owns the registry served on `/metrics`
//! but never touches the outbound ports. Wrapping at construction keeps every store (memory,
//! embedded, MongoDB) and every hash algorithm measured the same way, with no change to them.
//!
//! A call abandoned half-way (its request dropped by the client) is not recorded: it has no
//! outcome to report.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use adapters_http::metrics::{HashMetrics, HashOperation, StoreMetrics, StoreOperation};
use async_trait::async_trait;
use domain::model::{
    AuditEvent, AuditFilter, AuditRecord, Email, Login, PasswordHash, PlainPassword, User, UserId,
};
use domain::ports::{
    Attempt, AuditLog, HashError, Page, PageRequest, PasswordHasher, RepoError, Update, UserFilter,
    UserRepository,
};
use time::OffsetDateTime;

/// A `UserRepository` or an `AuditLog` that times every call of the store it wraps and
/// counts its errors by kind.
///
/// The store is held behind an `Arc` (and may be unsized) because the composition root
/// chooses it at run time and holds it as `Arc<dyn UserRepository>` (`Arc<dyn AuditLog>`).
pub struct InstrumentedRepository<R: ?Sized> {
    inner: Arc<R>,
    metrics: StoreMetrics,
}

impl<R: ?Sized> std::fmt::Debug for InstrumentedRepository<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentedRepository")
            .finish_non_exhaustive()
    }
}

impl<R: ?Sized> InstrumentedRepository<R> {
    /// Wraps `inner`, recording into `metrics`.
    pub fn new(inner: Arc<R>, metrics: StoreMetrics) -> Self {
        Self { inner, metrics }
    }

    /// Awaits `call`, then records its duration and its error, if any, under `operation`.
    async fn timed<T>(
        &self,
        operation: StoreOperation,
        call: impl Future<Output = Result<T, RepoError>>,
    ) -> Result<T, RepoError> {
        let started = Instant::now();
        let result = call.await;
        self.metrics.observe(
            operation,
            started.elapsed().as_secs_f64(),
            result.as_ref().err(),
        );
        result
    }
}

#[async_trait]
impl<R: UserRepository + ?Sized> UserRepository for InstrumentedRepository<R> {
    async fn insert(&self, user: &User, events: &[AuditRecord]) -> Result<(), RepoError> {
        self.timed(StoreOperation::Insert, self.inner.insert(user, events))
            .await
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError> {
        self.timed(StoreOperation::Get, self.inner.get(id)).await
    }

    async fn find_by_login(&self, login: &Login) -> Result<Option<User>, RepoError> {
        self.timed(StoreOperation::FindByLogin, self.inner.find_by_login(login))
            .await
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        self.timed(StoreOperation::FindByEmail, self.inner.find_by_email(email))
            .await
    }

    async fn update(&self, update: &Update) -> Result<(), RepoError> {
        self.timed(StoreOperation::Update, self.inner.update(update))
            .await
    }

    async fn delete(&self, id: UserId, events: &[AuditRecord]) -> Result<(), RepoError> {
        self.timed(StoreOperation::Delete, self.inner.delete(id, events))
            .await
    }

    async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>, RepoError> {
        self.timed(StoreOperation::List, self.inner.list(filter, page))
            .await
    }

    async fn reserve_login_attempt(
        &self,
        id: UserId,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Attempt, RepoError> {
        self.timed(
            StoreOperation::ReserveLoginAttempt,
            self.inner.reserve_login_attempt(id, now, limit),
        )
        .await
    }

    async fn record_success(
        &self,
        id: UserId,
        now: OffsetDateTime,
        last_login_at: Option<OffsetDateTime>,
        events: &[AuditRecord],
    ) -> Result<Option<OffsetDateTime>, RepoError> {
        self.timed(
            StoreOperation::RecordSuccess,
            self.inner.record_success(id, now, last_login_at, events),
        )
        .await
    }

    async fn lock(
        &self,
        id: UserId,
        until: OffsetDateTime,
        now: OffsetDateTime,
        events: &[AuditRecord],
    ) -> Result<bool, RepoError> {
        self.timed(
            StoreOperation::Lock,
            self.inner.lock(id, until, now, events),
        )
        .await
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.timed(StoreOperation::Ping, self.inner.ping()).await
    }
}

#[async_trait]
impl<R: AuditLog + ?Sized> AuditLog for InstrumentedRepository<R> {
    async fn append(&self, record: &AuditRecord) -> Result<AuditEvent, RepoError> {
        self.timed(StoreOperation::AuditAppend, self.inner.append(record))
            .await
    }

    async fn find(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, RepoError> {
        self.timed(StoreOperation::AuditFind, self.inner.find(filter, page))
            .await
    }

    async fn chain(&self, after: u64, limit: u32) -> Result<Vec<AuditEvent>, RepoError> {
        self.timed(StoreOperation::AuditChain, self.inner.chain(after, limit))
            .await
    }

    async fn save_checkpoint(
        &self,
        checkpoint: &domain::model::AuditCheckpoint,
    ) -> Result<bool, RepoError> {
        self.timed(
            StoreOperation::AuditSaveCheckpoint,
            self.inner.save_checkpoint(checkpoint),
        )
        .await
    }

    async fn latest_checkpoint(&self) -> Result<Option<domain::model::AuditCheckpoint>, RepoError> {
        self.timed(
            StoreOperation::AuditLatestCheckpoint,
            self.inner.latest_checkpoint(),
        )
        .await
    }

    async fn checkpoints(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<domain::model::AuditCheckpoint>, RepoError> {
        self.timed(
            StoreOperation::AuditCheckpoints,
            self.inner.checkpoints(after, limit),
        )
        .await
    }
}

/// A `PasswordHasher` that times `hash` and `verify` of the hasher it wraps, successful or
/// not. The time includes waiting for a blocking thread, which is what a login pays.
/// `needs_rehash` and `dummy_hash` are cheap and not measured.
pub struct InstrumentedHasher<H: PasswordHasher> {
    inner: H,
    metrics: HashMetrics,
}

impl<H: PasswordHasher> std::fmt::Debug for InstrumentedHasher<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentedHasher").finish_non_exhaustive()
    }
}

impl<H: PasswordHasher> InstrumentedHasher<H> {
    /// Wraps `inner`, recording into `metrics`.
    pub fn new(inner: H, metrics: HashMetrics) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl<H: PasswordHasher> PasswordHasher for InstrumentedHasher<H> {
    async fn hash(&self, password: &PlainPassword) -> Result<PasswordHash, HashError> {
        let started = Instant::now();
        let result = self.inner.hash(password).await;
        self.metrics
            .observe(HashOperation::Hash, started.elapsed().as_secs_f64());
        result
    }

    async fn verify(
        &self,
        password: &PlainPassword,
        hash: &PasswordHash,
    ) -> Result<bool, HashError> {
        let started = Instant::now();
        let result = self.inner.verify(password, hash).await;
        self.metrics
            .observe(HashOperation::Verify, started.elapsed().as_secs_f64());
        result
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        self.inner.needs_rehash(hash)
    }

    fn dummy_hash(&self) -> PasswordHash {
        self.inner.dummy_hash()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use adapters_http::metrics::Metrics;
    use adapters_memory::InMemoryUserRepository;
    use domain::ports::{IdGenerator, MockUserRepository, UuidV4Ids};
    use domain::testing::PlainTextHasher;

    use super::*;

    /// The value of the sample `series` (name and labels as rendered), if present.
    fn sample(metrics: &Metrics, series: &str) -> Option<f64> {
        metrics
            .render()
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|v| v.trim().parse().unwrap())
    }

    /// An id no user has.
    fn user_id() -> UserId {
        UuidV4Ids.new_id()
    }

    #[actix_web::test]
    async fn store_calls_are_timed_and_their_results_passed_through() {
        let metrics = Metrics::new();
        let repo =
            InstrumentedRepository::new(Arc::new(InMemoryUserRepository::new()), metrics.store());
        let login = Login::parse("ada").unwrap();

        assert_eq!(repo.find_by_login(&login).await, Ok(None));
        assert_eq!(repo.find_by_login(&login).await, Ok(None));
        assert_eq!(repo.ping().await, Ok(()));

        let count = r#"users_store_operation_duration_seconds_count{operation="find_by_login"}"#;
        assert_eq!(sample(&metrics, count), Some(2.0));
        let count = r#"users_store_operation_duration_seconds_count{operation="ping"}"#;
        assert_eq!(sample(&metrics, count), Some(1.0));
        // An absent user is an answer, not an error.
        let errors = r#"users_store_errors_total{kind="not_found",operation="find_by_login"}"#;
        assert_eq!(sample(&metrics, errors), None);
    }

    #[actix_web::test]
    async fn store_errors_are_counted_by_operation_and_kind() {
        let metrics = Metrics::new();
        let repo =
            InstrumentedRepository::new(Arc::new(InMemoryUserRepository::new()), metrics.store());

        assert_eq!(repo.delete(user_id(), &[]).await, Err(RepoError::NotFound));
        assert_eq!(
            repo.reserve_login_attempt(user_id(), OffsetDateTime::UNIX_EPOCH, 5)
                .await,
            Err(RepoError::NotFound)
        );

        for (series, value) in [
            (
                r#"users_store_errors_total{kind="not_found",operation="delete"}"#,
                1.0,
            ),
            (
                r#"users_store_errors_total{kind="not_found",operation="reserve_login_attempt"}"#,
                1.0,
            ),
            (
                r#"users_store_operation_duration_seconds_count{operation="delete"}"#,
                1.0,
            ),
            (
                r#"users_store_errors_total{kind="unavailable",operation="delete"}"#,
                0.0,
            ),
        ] {
            assert_eq!(sample(&metrics, series), Some(value), "{series}");
        }
    }

    #[actix_web::test]
    async fn an_unreachable_store_counts_as_unavailable() {
        let mut down = MockUserRepository::new();
        down.expect_ping()
            .returning(|| Err(RepoError::Unavailable("connection refused".into())));
        down.expect_list()
            .returning(|_, _| Err(RepoError::Other("corrupt record".into())));
        let metrics = Metrics::new();
        let repo: Arc<dyn UserRepository> = Arc::new(down);
        let repo = InstrumentedRepository::new(repo, metrics.store());

        assert!(matches!(repo.ping().await, Err(RepoError::Unavailable(_))));
        assert!(matches!(
            repo.list(
                &UserFilter::default(),
                PageRequest {
                    offset: 0,
                    limit: 1
                }
            )
            .await,
            Err(RepoError::Other(_))
        ));

        let unavailable = r#"users_store_errors_total{kind="unavailable",operation="ping"}"#;
        assert_eq!(sample(&metrics, unavailable), Some(1.0));
        let other = r#"users_store_errors_total{kind="other",operation="list"}"#;
        assert_eq!(sample(&metrics, other), Some(1.0));
    }

    #[actix_web::test]
    async fn checkpoint_calls_are_forwarded_and_timed() {
        let metrics = Metrics::new();
        let log =
            InstrumentedRepository::new(Arc::new(InMemoryUserRepository::new()), metrics.store());
        let checkpoint = domain::model::AuditCheckpoint {
            seq: 3,
            hash: "ab".repeat(32),
            at: OffsetDateTime::UNIX_EPOCH,
            key_id: "hs256-test".into(),
            signature: "00".into(),
        };
        assert_eq!(log.save_checkpoint(&checkpoint).await, Ok(true));
        assert_eq!(log.save_checkpoint(&checkpoint).await, Ok(false));
        assert_eq!(log.latest_checkpoint().await, Ok(Some(checkpoint.clone())));
        assert_eq!(log.checkpoints(0, 10).await, Ok(vec![checkpoint]));
        for (operation, calls) in [
            ("audit_save_checkpoint", 2.0),
            ("audit_latest_checkpoint", 1.0),
            ("audit_checkpoints", 1.0),
        ] {
            let series = format!(
                r#"users_store_operation_duration_seconds_count{{operation="{operation}"}}"#
            );
            assert_eq!(sample(&metrics, &series), Some(calls), "{series}");
        }
    }

    #[actix_web::test]
    async fn hasher_calls_are_timed_by_operation() {
        let metrics = Metrics::new();
        let hasher = InstrumentedHasher::new(PlainTextHasher::default(), metrics.hashing());
        let password = PlainPassword::new("Kx7#pQ9!vLm2$wRt").unwrap();

        let hash = hasher.hash(&password).await.unwrap();
        assert!(hasher.verify(&password, &hash).await.unwrap());
        assert!(
            !hasher
                .verify(&password, &hasher.dummy_hash())
                .await
                .unwrap()
        );
        assert!(!hasher.needs_rehash(&hash));

        let hash_count = r#"users_password_hash_duration_seconds_count{operation="hash"}"#;
        assert_eq!(sample(&metrics, hash_count), Some(1.0));
        let verify_count = r#"users_password_hash_duration_seconds_count{operation="verify"}"#;
        assert_eq!(sample(&metrics, verify_count), Some(2.0));
    }
}
