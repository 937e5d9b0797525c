//! Prometheus metrics of the HTTP adapter, in a registry of their own (never the process-wide
//! default one, so two apps in one test process do not share counters).
//!
//! Requests are labelled by route PATTERN (`/api/v1/admin/users/{id}`), never by raw path:
//! a label per user id would grow without bound.
//!
//! Besides what the HTTP middleware records, the registry holds the series of the outbound
//! ports (password hashing, user store). This crate only defines them and hands out
//! [`HashMetrics`] and [`StoreMetrics`]; the composition root records into them by wrapping
//! the ports in decorators, so neither the domain nor the store and password adapters know
//! about metrics.

use actix_web::http::StatusCode;
use domain::ports::RepoError;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Route label of requests that matched no route (404 from the default service).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Outcome label of `users_login_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// 200: a token was issued.
    Success,
    /// 401: unknown identifier or wrong password (indistinguishable by design, rule 10).
    Invalid,
    /// 423: temporarily locked after too many failures (rule 9).
    Locked,
    /// 403 `ACCOUNT_BLOCKED`.
    Blocked,
    /// 403 `ACCOUNT_INACTIVE`.
    Inactive,
}

impl LoginOutcome {
    /// Every outcome, so each series exists (at 0) from the start.
    pub const ALL: [Self; 5] = [
        Self::Success,
        Self::Invalid,
        Self::Locked,
        Self::Blocked,
        Self::Inactive,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Invalid => "invalid",
            Self::Locked => "locked",
            Self::Blocked => "blocked",
            Self::Inactive => "inactive",
        }
    }
}

/// Buckets of `users_password_hash_duration_seconds`, 1 ms to 2 s: argon2 and bcrypt at
/// sensible costs take tens to hundreds of milliseconds; the ends catch test settings and
/// an overloaded blocking pool.
const HASH_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0,
];

/// Buckets of `users_store_operation_duration_seconds`, 0.5 ms to 5 s: the memory and
/// embedded stores answer well under a millisecond, MongoDB in milliseconds, and the upper
/// buckets show timeouts of an unreachable store.
const STORE_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// `operation` label of `users_password_hash_duration_seconds`: the `PasswordHasher`
/// method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashOperation {
    /// Hashing a new password.
    Hash,
    /// Checking a password against a stored hash (the dummy hash of unknown users included).
    Verify,
}

impl HashOperation {
    /// Every operation, so each series exists (at 0) from the start.
    pub const ALL: [Self; 2] = [Self::Hash, Self::Verify];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hash => "hash",
            Self::Verify => "verify",
        }
    }
}

/// `operation` label of the store series: the `UserRepository` method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOperation {
    /// `insert`.
    Insert,
    /// `get`.
    Get,
    /// `find_by_login`.
    FindByLogin,
    /// `find_by_email`.
    FindByEmail,
    /// `update`.
    Update,
    /// `delete`.
    Delete,
    /// `list`.
    List,
    /// `reserve_login_attempt`.
    ReserveLoginAttempt,
    /// `record_success`.
    RecordSuccess,
    /// `lock`.
    Lock,
    /// `ping`.
    Ping,
    /// `AuditLog::append`.
    AuditAppend,
    /// `AuditLog::find`.
    AuditFind,
    /// `AuditLog::chain`.
    AuditChain,
    /// `AuditLog::save_checkpoint`.
    AuditSaveCheckpoint,
    /// `AuditLog::latest_checkpoint`.
    AuditLatestCheckpoint,
    /// `AuditLog::checkpoints`.
    AuditCheckpoints,
}

impl StoreOperation {
    /// Every operation.
    pub const ALL: [Self; 17] = [
        Self::Insert,
        Self::Get,
        Self::FindByLogin,
        Self::FindByEmail,
        Self::Update,
        Self::Delete,
        Self::List,
        Self::ReserveLoginAttempt,
        Self::RecordSuccess,
        Self::Lock,
        Self::Ping,
        Self::AuditAppend,
        Self::AuditFind,
        Self::AuditChain,
        Self::AuditSaveCheckpoint,
        Self::AuditLatestCheckpoint,
        Self::AuditCheckpoints,
    ];

    /// The label value: the method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Get => "get",
            Self::FindByLogin => "find_by_login",
            Self::FindByEmail => "find_by_email",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::List => "list",
            Self::ReserveLoginAttempt => "reserve_login_attempt",
            Self::RecordSuccess => "record_success",
            Self::Lock => "lock",
            Self::Ping => "ping",
            Self::AuditAppend => "audit_append",
            Self::AuditFind => "audit_find",
            Self::AuditChain => "audit_chain",
            Self::AuditSaveCheckpoint => "audit_save_checkpoint",
            Self::AuditLatestCheckpoint => "audit_latest_checkpoint",
            Self::AuditCheckpoints => "audit_checkpoints",
        }
    }
}

/// `kind` label of `users_store_errors_total`: which `RepoError` a store call returned.
///
/// `conflict`, `not_found` and `version_mismatch` are answers the use cases expect (a taken
/// login, a deleted user, a concurrent edit); `unavailable` and `other` are failures. They
/// are one family so that a dashboard sums what it means, never what it does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// `RepoError::Unavailable`: the store cannot be reached or timed out.
    Unavailable,
    /// `RepoError::Conflict`: a unique login or e-mail is taken.
    Conflict,
    /// `RepoError::NotFound`: no user has that id.
    NotFound,
    /// `RepoError::VersionMismatch`: the record changed since it was read.
    VersionMismatch,
    /// `RepoError::LastAdmin`: the write would have left no active ADMIN.
    LastAdmin,
    /// `RepoError::Other`: anything else (corrupt record, unexpected driver error).
    Other,
}

impl StoreErrorKind {
    /// The kind of `error`.
    pub fn of(error: &RepoError) -> Self {
        match error {
            RepoError::Unavailable(_) => Self::Unavailable,
            RepoError::Conflict(_) => Self::Conflict,
            RepoError::NotFound => Self::NotFound,
            RepoError::VersionMismatch => Self::VersionMismatch,
            RepoError::LastAdmin => Self::LastAdmin,
            RepoError::Other(_) => Self::Other,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::Conflict => "conflict",
            Self::NotFound => "not_found",
            Self::VersionMismatch => "version_mismatch",
            Self::LastAdmin => "last_admin",
            Self::Other => "other",
        }
    }
}

/// Handle on `users_password_hash_duration_seconds`, for the hasher decorator.
#[derive(Clone)]
pub struct HashMetrics {
    duration: HistogramVec,
}

impl std::fmt::Debug for HashMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashMetrics").finish_non_exhaustive()
    }
}

impl HashMetrics {
    /// Records one hasher call, successful or not.
    pub fn observe(&self, operation: HashOperation, seconds: f64) {
        self.duration
            .with_label_values(&[operation.as_str()])
            .observe(seconds);
    }
}

/// Handles on `users_store_operation_duration_seconds` and `users_store_errors_total`, for
/// the repository decorator.
#[derive(Clone)]
pub struct StoreMetrics {
    duration: HistogramVec,
    errors: IntCounterVec,
}

impl std::fmt::Debug for StoreMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreMetrics").finish_non_exhaustive()
    }
}

impl StoreMetrics {
    /// Records one store call: its duration whatever the outcome, and its error if any.
    pub fn observe(&self, operation: StoreOperation, seconds: f64, error: Option<&RepoError>) {
        self.duration
            .with_label_values(&[operation.as_str()])
            .observe(seconds);
        if let Some(error) = error {
            self.errors
                .with_label_values(&[operation.as_str(), StoreErrorKind::of(error).as_str()])
                .inc();
        }
    }
}

/// The service's metrics and the registry that exposes them on `GET /metrics`.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    logins: IntCounterVec,
    hashing: HashMetrics,
    store: StoreMetrics,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    ///
    /// Names, help texts and label sets are constants of this file, so registration can only
    /// fail on a programming error, caught by any test that builds an `AppState`.
    #[allow(
        clippy::expect_used,
        reason = "constant metric definitions: failure is a programming error"
    )]
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests served, by method, route pattern and status.",
            ),
            &["method", "route", "status"],
        )
        .expect("valid http_requests_total definition");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to produce the response head, by method and route pattern.",
            ),
            &["method", "route"],
        )
        .expect("valid http_request_duration_seconds definition");
        let logins = IntCounterVec::new(
            Opts::new(
                "users_login_total",
                "Login attempts on both dialects, by outcome.",
            ),
            &["outcome"],
        )
        .expect("valid users_login_total definition");
        let hash_duration = HistogramVec::new(
            HistogramOpts::new(
                "users_password_hash_duration_seconds",
                "Time of password hasher calls (queueing for a blocking thread included), by operation.",
            )
            .buckets(HASH_BUCKETS.to_vec()),
            &["operation"],
        )
        .expect("valid users_password_hash_duration_seconds definition");
        let store_duration = HistogramVec::new(
            HistogramOpts::new(
                "users_store_operation_duration_seconds",
                "Time of user store calls, whatever their outcome, by repository method.",
            )
            .buckets(STORE_BUCKETS.to_vec()),
            &["operation"],
        )
        .expect("valid users_store_operation_duration_seconds definition");
        let store_errors = IntCounterVec::new(
            Opts::new(
                "users_store_errors_total",
                "User store calls that returned an error, by repository method and kind \
                 (conflict, not_found and version_mismatch are expected answers; \
                 unavailable and other are failures).",
            ),
            &["operation", "kind"],
        )
        .expect("valid users_store_errors_total definition");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(logins.clone()),
            Box::new(hash_duration.clone()),
            Box::new(store_duration.clone()),
            Box::new(store_errors.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        for outcome in LoginOutcome::ALL {
            logins.with_label_values(&[outcome.as_str()]);
        }
        for operation in HashOperation::ALL {
            hash_duration.with_label_values(&[operation.as_str()]);
        }
        // The failures an operator alerts on exist from the start, so a rate over them is 0
        // rather than absent; the other kinds appear with their first occurrence.
        for operation in StoreOperation::ALL {
            store_errors
                .with_label_values(&[operation.as_str(), StoreErrorKind::Unavailable.as_str()]);
        }
        Self {
            registry,
            requests,
            duration,
            logins,
            hashing: HashMetrics {
                duration: hash_duration,
            },
            store: StoreMetrics {
                duration: store_duration,
                errors: store_errors,
            },
        }
    }

    /// Records one finished request.
    pub fn observe_request(&self, method: &str, route: &str, status: StatusCode, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Records one login attempt.
    pub fn observe_login(&self, outcome: LoginOutcome) {
        self.logins.with_label_values(&[outcome.as_str()]).inc();
    }

    /// The handle a `PasswordHasher` decorator records into.
    pub fn hashing(&self) -> HashMetrics {
        self.hashing.clone()
    }

    /// The handle a `UserRepository` decorator records into.
    pub fn store(&self) -> StoreMetrics {
        self.store.clone()
    }

    /// Every metric in the Prometheus text format 0.0.4.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn renders_every_family_with_login_outcomes_at_zero() {
        let m = Metrics::new();
        m.observe_request("GET", "/health", StatusCode::OK, 0.001);
        let text = m.render().unwrap();
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="/health",status="200"} 1"#)
        );
        assert!(text.contains("http_request_duration_seconds_bucket"));
        for outcome in LoginOutcome::ALL {
            assert!(text.contains(&format!(
                r#"users_login_total{{outcome="{}"}} 0"#,
                outcome.as_str()
            )));
        }
        for operation in HashOperation::ALL {
            assert!(text.contains(&format!(
                r#"users_password_hash_duration_seconds_count{{operation="{}"}} 0"#,
                operation.as_str()
            )));
        }
        for operation in StoreOperation::ALL {
            assert!(text.contains(&format!(
                r#"users_store_errors_total{{kind="unavailable",operation="{}"}} 0"#,
                operation.as_str()
            )));
        }
    }

    #[test]
    fn store_calls_are_timed_and_errors_counted_by_kind() {
        let m = Metrics::new();
        let store = m.store();
        store.observe(StoreOperation::FindByLogin, 0.0002, None);
        store.observe(
            StoreOperation::Insert,
            0.003,
            Some(&RepoError::Conflict(domain::error::UniqueField::Login)),
        );
        store.observe(StoreOperation::Delete, 0.001, Some(&RepoError::NotFound));
        store.observe(
            StoreOperation::Ping,
            4.0,
            Some(&RepoError::Unavailable("timeout".into())),
        );
        let text = m.render().unwrap();
        for line in [
            r#"users_store_operation_duration_seconds_bucket{operation="find_by_login",le="0.0005"} 1"#,
            r#"users_store_operation_duration_seconds_count{operation="insert"} 1"#,
            r#"users_store_operation_duration_seconds_bucket{operation="ping",le="2.5"} 0"#,
            r#"users_store_operation_duration_seconds_bucket{operation="ping",le="5"} 1"#,
            r#"users_store_errors_total{kind="conflict",operation="insert"} 1"#,
            r#"users_store_errors_total{kind="not_found",operation="delete"} 1"#,
            r#"users_store_errors_total{kind="unavailable",operation="ping"} 1"#,
            r#"users_store_errors_total{kind="unavailable",operation="insert"} 0"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(!text.contains(r#"kind="conflict",operation="find_by_login""#));
    }

    #[test]
    fn hash_calls_are_timed_by_operation() {
        let m = Metrics::new();
        m.hashing().observe(HashOperation::Verify, 0.05);
        let text = m.render().unwrap();
        assert!(text.contains(
            r#"users_password_hash_duration_seconds_bucket{operation="verify",le="0.05"} 1"#
        ));
        assert!(text.contains(r#"users_password_hash_duration_seconds_count{operation="hash"} 0"#));
    }

    #[test]
    fn every_repo_error_has_a_kind() {
        let kinds = [
            RepoError::Unavailable(String::new()),
            RepoError::Conflict(domain::error::UniqueField::Email),
            RepoError::NotFound,
            RepoError::VersionMismatch,
            RepoError::LastAdmin,
            RepoError::Other(String::new()),
        ]
        .iter()
        .map(|e| StoreErrorKind::of(e).as_str())
        .collect::<Vec<_>>();
        assert_eq!(
            kinds,
            [
                "unavailable",
                "conflict",
                "not_found",
                "version_mismatch",
                "last_admin",
                "other"
            ]
        );
    }

    #[test]
    fn two_instances_do_not_share_counters() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.store().observe(
            StoreOperation::Ping,
            0.001,
            Some(&RepoError::Unavailable(String::new())),
        );
        assert!(
            b.render()
                .unwrap()
                .contains(r#"users_store_errors_total{kind="unavailable",operation="ping"} 0"#)
        );
    }
}
