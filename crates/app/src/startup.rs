//! The composition root (zero2prod's `startup.rs`): builds every adapter from the typed
//! [`Settings`], wires them into the domain's `UserService`, runs the bootstrap of the
//! first administrator, and binds the listener, so that [`Application::port`] is known
//! before serving starts (tests bind port 0 and read the real port back).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::Server;
use adapters_embedded::EmbeddedUserRepository;
use adapters_http::AppState;
use adapters_http::metrics::Metrics;
use adapters_http::throttle::Throttle;
use adapters_http::token::{Key, TokenService};
use adapters_memory::InMemoryUserRepository;
use adapters_mongo::MongoUserRepository;
use adapters_password::{Hasher, OsSecretGenerator};
use domain::DomainError;
use domain::model::{Login, PlainPassword};
use domain::ports::{
    AuditLog, HashError, PasswordHasher, RateLimiter, SystemClock, Unlimited, UserRepository,
    UuidV4Ids,
};
use domain::service::{Bootstrap, Ports, UserService};
use rand::RngCore;
use rand::rngs::OsRng;

use crate::checkpoints::Checkpointer;
use crate::instrument::{InstrumentedHasher, InstrumentedRepository};
use crate::settings::{
    AuthSettings, BootstrapSettings, DatabaseKind, DatabaseSettings, MIN_JWT_SECRET_BYTES,
    Settings, SettingsError, TokenAlgorithm, comma_list,
};

/// Exit code of a runtime failure (store down, port taken, I/O).
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code of invalid configuration, arguments or input.
pub const EXIT_INVALID: u8 = 2;
/// Exit code of `audit verify` (and `audit checkpoint`) when the audit trail shows
/// tampering: a broken chain, a forged checkpoint, a cut or rewritten trail, a missing
/// expected head.
pub const EXIT_BROKEN_CHAIN: u8 = 3;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// `database.kind` names a store this build does not contain.
    #[error("invalid configuration: database.kind: {0:?} is not yet available in this build")]
    StoreNotAvailable(DatabaseKind),
    /// The store could not be opened or reached.
    #[error("cannot open the {kind} store: {reason}")]
    Store {
        /// Which store.
        kind: DatabaseKind,
        /// What failed.
        reason: String,
    },
    /// Settings refused while building (normally caught by `Settings::validate` first).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The hasher refused its settings.
    #[error("invalid configuration: password: {0}")]
    Hasher(#[source] HashError),
    /// The bootstrap administrator's login or password is refused (policy, format).
    #[error("invalid configuration: {}", describe_refusal(.0))]
    BootstrapRefused(#[source] DomainError),
    /// The bootstrap could not run (store error).
    #[error("cannot create the bootstrap administrator: {0}")]
    Bootstrap(#[source] DomainError),
    /// No randomness for the generated JWT secret.
    #[error("cannot generate a JWT secret: {0}")]
    Random(String),
    /// The address cannot be bound (taken, not local, not permitted).
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// `host:port` as configured.
        address: String,
        /// The system's answer.
        #[source]
        source: io::Error,
    },
    /// The HTTP server could not start.
    #[error("cannot start the HTTP server: {0}")]
    Server(#[source] io::Error),
}

impl StartupError {
    /// The process exit code this failure maps to: 2 when the configuration is at fault,
    /// 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::StoreNotAvailable(_)
            | Self::Settings(_)
            | Self::Hasher(_)
            | Self::BootstrapRefused(_) => EXIT_INVALID,
            Self::Store { .. }
            | Self::Bootstrap(_)
            | Self::Random(_)
            | Self::Bind { .. }
            | Self::Server(_) => EXIT_RUNTIME,
        }
    }
}

/// One line naming the bootstrap setting at fault and every reason.
fn describe_refusal(error: &DomainError) -> String {
    match error {
        DomainError::WeakPassword(violations) => {
            let reasons: Vec<&str> = violations.iter().map(|v| v.message()).collect();
            format!(
                "bootstrap.admin_password: refused by the password policy: {}",
                reasons.join("; ")
            )
        }
        DomainError::Validation(fields) => {
            let reasons: Vec<&str> = fields.iter().map(|f| f.message).collect();
            format!("bootstrap.admin_login: {}", reasons.join("; "))
        }
        other => format!("bootstrap: {other}"),
    }
}

/// One store's two faces: its users and its audit trail.
#[allow(missing_debug_implementations, reason = "trait objects only")]
#[derive(Clone)]
pub struct Store {
    /// The users.
    pub users: Arc<dyn UserRepository>,
    /// The audit trail.
    pub audit: Arc<dyn AuditLog>,
    /// MongoDB only: the store whose outboxes a background task sweeps (see
    /// [`sweep_outboxes`]).
    pub outboxes: Option<MongoUserRepository>,
}

impl Store {
    fn of(store: impl UserRepository + AuditLog + 'static) -> Self {
        let store = Arc::new(store);
        Self {
            users: store.clone(),
            audit: store,
            outboxes: None,
        }
    }
}

/// How often `serve` sweeps MongoDB's outboxes: what a crash left there waits this long at
/// most (the writes themselves drain their own at once).
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Moves to the audit trail the events a crash left on MongoDB user documents, now and then
/// every [`SWEEP_EVERY`], for as long as the process runs.
pub fn sweep_outboxes(store: MongoUserRepository) {
    actix_web::rt::spawn(async move {
        loop {
            match store.sweep_outboxes().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(users = n, "moved pending audit events to the trail"),
                Err(e) => tracing::warn!(error = %e, "could not sweep the audit outboxes"),
            }
            actix_web::rt::time::sleep(SWEEP_EVERY).await;
        }
    });
}

/// Opens the configured store; for MongoDB, applies pending migrations first unless
/// `database.migrate_on_start` is off.
///
/// # Errors
/// `StoreNotAvailable` for a kind this build lacks; `Store` when it cannot be opened.
pub async fn build_store(database: &DatabaseSettings) -> Result<Store, StartupError> {
    match database.kind {
        DatabaseKind::Memory => Ok(Store::of(InMemoryUserRepository::new())),
        DatabaseKind::Embedded => {
            let path = database.path.clone();
            let failed = |reason: String| StartupError::Store {
                kind: DatabaseKind::Embedded,
                reason,
            };
            // Opening reads and may create the file: keep it off the async executor.
            let repo = tokio::task::spawn_blocking(move || EmbeddedUserRepository::open(path))
                .await
                .map_err(|e| failed(e.to_string()))?
                .map_err(|e| failed(e.to_string()))?;
            Ok(Store::of(repo))
        }
        DatabaseKind::Mongo => {
            let repo = connect_mongo(database).await?;
            if database.migrate_on_start {
                let report = repo.migrate().await.map_err(|e| StartupError::Store {
                    kind: DatabaseKind::Mongo,
                    reason: format!("migrations failed: {e}"),
                })?;
                tracing::info!("migrations: {report}");
            }
            Ok(Store {
                outboxes: Some(repo.clone()),
                ..Store::of(repo)
            })
        }
    }
}

/// A MongoDB client for the configured database; it connects lazily, so a server that is
/// down now only fails the first operation (within the adapter's bounded timeouts).
///
/// # Errors
/// `Store` for a malformed URL or database name.
pub async fn connect_mongo(
    database: &DatabaseSettings,
) -> Result<MongoUserRepository, StartupError> {
    let url = database
        .url
        .as_ref()
        .map(|u| u.expose().to_owned())
        .unwrap_or_default();
    MongoUserRepository::connect(&url, &database.name)
        .await
        .map_err(|e| StartupError::Store {
            kind: DatabaseKind::Mongo,
            reason: e.to_string(),
        })
}

/// The password hasher, validated.
///
/// # Errors
/// `Hasher` when the argon2 or bcrypt settings are refused.
pub fn build_hasher(settings: &Settings) -> Result<Hasher, StartupError> {
    Hasher::new(settings.hasher_config()).map_err(StartupError::Hasher)
}

/// The use cases over the configured store and hasher, unmeasured and unlimited (one-shot
/// commands: the operator at the console is not a client to throttle).
///
/// # Errors
/// See [`build_store`] and [`build_hasher`].
pub async fn build_user_service(settings: &Settings) -> Result<UserService, StartupError> {
    let store = build_store(&settings.database).await?;
    let hasher = build_hasher(settings)?;
    Ok(user_service(
        settings,
        store,
        Arc::new(hasher),
        Arc::new(Unlimited),
    ))
}

/// The use cases over the configured store and hasher, each wrapped in its metric
/// decorator recording into `metrics` (what `serve` exposes on `/metrics`).
///
/// # Errors
/// See [`build_store`] and [`build_hasher`].
pub async fn build_instrumented_user_service(
    settings: &Settings,
    metrics: &Metrics,
) -> Result<UserService, StartupError> {
    Ok(build_instrumented(settings, metrics).await?.0)
}

/// The measured use cases, and the measured store they run on (which `serve`'s audit
/// checkpoints also use).
async fn build_instrumented(
    settings: &Settings,
    metrics: &Metrics,
) -> Result<(UserService, Store), StartupError> {
    let store = build_store(&settings.database).await?;
    if let Some(outboxes) = store.outboxes.clone() {
        sweep_outboxes(outboxes);
    }
    let hasher = build_hasher(settings)?;
    let store = Store {
        users: Arc::new(InstrumentedRepository::new(store.users, metrics.store())),
        audit: Arc::new(InstrumentedRepository::new(store.audit, metrics.store())),
        ..store
    };
    let limiter: Arc<dyn RateLimiter> = match settings.rate_limit.limits()? {
        Some(limits) => Arc::new(Throttle::new(&limits)),
        None => Arc::new(Unlimited),
    };
    let users = user_service(
        settings,
        store.clone(),
        Arc::new(InstrumentedHasher::new(hasher, metrics.hashing())),
        limiter,
    );
    Ok((users, store))
}

/// The use cases over `repo` and `hasher`, with the system's clock, ids and secrets.
fn user_service(
    settings: &Settings,
    store: Store,
    hasher: Arc<dyn PasswordHasher>,
    limiter: Arc<dyn RateLimiter>,
) -> UserService {
    let ports = Ports {
        repo: store.users,
        audit: store.audit,
        hasher,
        clock: Arc::new(SystemClock::new()),
        ids: Arc::new(UuidV4Ids),
        secrets: Arc::new(OsSecretGenerator),
        limiter,
    };
    UserService::new(ports, settings.service_config())
}

/// The token service; without a configured secret, one is generated (the warning is in
/// [`Settings::warnings`]).
///
/// # Errors
/// `Random` when the operating system has no randomness to give.
pub fn build_token_service(auth: &AuthSettings) -> Result<TokenService, StartupError> {
    let secret = match (auth.algorithm, &auth.jwt_secret) {
        (TokenAlgorithm::Hs256, Some(secret)) => Some(secret.expose().as_bytes().to_vec()),
        // Under EdDSA the secret is a rotation key only when listed as one: left in place
        // by default, it would verify HS256 tokens forever.
        (TokenAlgorithm::EdDsa, Some(secret)) if auth.verify_previous_hs256 => {
            Some(secret.expose().as_bytes().to_vec())
        }
        (TokenAlgorithm::EdDsa, _) => None,
        (TokenAlgorithm::Hs256, None) => {
            let mut secret = vec![0u8; MIN_JWT_SECRET_BYTES];
            OsRng
                .try_fill_bytes(&mut secret)
                .map_err(|e| StartupError::Random(e.to_string()))?;
            Some(secret)
        }
    };
    let mut also_verify = comma_list(auth.verification_key_files.as_deref())
        .map(|path| read_key("auth.verification_key_files", Path::new(path)))
        .collect::<Result<Vec<_>, _>>()?;
    let signing = match (auth.algorithm, &auth.signing_key_file, secret) {
        (TokenAlgorithm::EdDsa, Some(path), secret) => {
            // With `verify_previous_hs256`, the secret verifies the HS256 tokens issued
            // before the switch, so that the switch logs nobody out.
            also_verify.extend(secret.map(Key::Hs256));
            read_key("auth.signing_key_file", path)?
        }
        (TokenAlgorithm::Hs256, _, Some(secret)) => Key::Hs256(secret),
        _ => {
            return Err(SettingsError::new(
                "auth.signing_key_file",
                "required when auth.algorithm = \"EdDSA\"",
            )
            .into());
        }
    };
    TokenService::with_keys(
        &signing,
        &also_verify,
        auth.jwt_issuer.clone(),
        auth.jwt_audience.clone(),
        auth.token_ttl(),
    )
    .map_err(|e| SettingsError::new("auth.signing_key_file", e.to_string()).into())
}

/// The key in the PEM file at `path`, told apart by its PEM label.
fn read_key(setting: &str, path: &Path) -> Result<Key, StartupError> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| SettingsError::new(setting, format!("cannot read {}: {e}", path.display())))?;
    if pem.contains("-----BEGIN PRIVATE KEY-----") {
        Ok(Key::Ed25519Private(pem))
    } else if pem.contains("-----BEGIN PUBLIC KEY-----") {
        Ok(Key::Ed25519Public(pem))
    } else {
        Err(SettingsError::new(
            setting,
            format!(
                "{} is not a PEM Ed25519 key (BEGIN PRIVATE KEY or BEGIN PUBLIC KEY)",
                path.display()
            ),
        )
        .into())
    }
}

/// SPEC §5: when `bootstrap.admin_login` and `admin_password` are set and the store has
/// no ADMIN at all, creates that ADMIN with a first-login password change. Logs what
/// happened, never the password. ADMINs that all are blocked or deactivated are not
/// replaced: a warning says how to recover instead.
///
/// A login already taken by an account that is not an ADMIN is logged and
/// skipped rather than fatal: a restart loop would not fix it, and the service is
/// otherwise usable.
///
/// # Errors
/// `BootstrapRefused` when the login or password is refused; `Bootstrap` on store errors.
pub async fn bootstrap_admin(
    users: &UserService,
    bootstrap: &BootstrapSettings,
) -> Result<(), StartupError> {
    let (Some(login), Some(password)) = (&bootstrap.admin_login, &bootstrap.admin_password) else {
        tracing::debug!("bootstrap: no bootstrap administrator configured");
        return Ok(());
    };
    let refused = |e: domain::error::FieldError| {
        StartupError::BootstrapRefused(DomainError::Validation(vec![e]))
    };
    let login = Login::parse(login).map_err(refused)?;
    let password = PlainPassword::new(password.expose()).map_err(refused)?;
    match users.bootstrap_admin(login.clone(), password).await {
        Ok(Bootstrap::Created(user)) => {
            tracing::info!(
                user_id = %user.id,
                login = %user.login,
                "bootstrap: created the first administrator; its password must be changed at first login"
            );
            Ok(())
        }
        Ok(Bootstrap::ActiveAdminExists) => {
            tracing::info!("bootstrap: an active administrator already exists; nothing to do");
            Ok(())
        }
        Ok(Bootstrap::NoActiveAdmin { admins }) => {
            // Not fatal: the service still serves every other account, and the way out is
            // an operator's deliberate act, not a restart.
            tracing::warn!(
                admins,
                login = %login,
                "bootstrap: administrators exist but none is active (blocked or deactivated), so the \
                 bootstrap administrator is not created; create one with `users-service create-admin \
                 --login <login>`, or unblock or reactivate an existing one"
            );
            Ok(())
        }
        Err(DomainError::Conflict(field)) => {
            tracing::warn!(
                login = %login,
                "bootstrap: the {} is already used by an account that is not an administrator; no administrator created",
                field.name()
            );
            Ok(())
        }
        Err(e @ (DomainError::WeakPassword(_) | DomainError::Validation(_))) => {
            Err(StartupError::BootstrapRefused(e))
        }
        Err(e) => Err(StartupError::Bootstrap(e)),
    }
}

/// The running service: a bound listener, the HTTP server on it, and the audit
/// checkpoints' background task.
pub struct Application {
    address: SocketAddr,
    server: Server,
    checkpointer: Option<Checkpointer>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Builds everything from `settings`, runs the bootstrap, binds `server.host:port`
    /// (port 0 picks a free port) and starts the HTTP server. Must run inside the actix
    /// runtime (`#[actix_web::main]`, `#[actix_web::test]`).
    ///
    /// # Errors
    /// See [`StartupError`].
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        // The registry comes first: the store and hasher decorators record into it, and
        // the HTTP adapter serves it.
        let metrics = Metrics::new();
        let (users, store) = build_instrumented(settings, &metrics).await?;
        bootstrap_admin(&users, &settings.bootstrap).await?;
        let tokens = build_token_service(&settings.auth)?;
        let (host, port) = settings.bind_address();
        let listener = TcpListener::bind((host, port)).map_err(|source| StartupError::Bind {
            address: format_address(host, port),
            source,
        })?;
        let address = listener.local_addr().map_err(StartupError::Server)?;
        let state = AppState::with_metrics(users, tokens, metrics)
            .with_proxies(settings.rate_limit.proxies()?);
        let server = adapters_http::run(listener, state, settings.transport()?)
            .map_err(StartupError::Server)?;
        let checkpointer = Checkpointer::start(settings, store.audit)?;
        tracing::info!(%address, "listening on {address}");
        Ok(Self {
            address,
            server,
            checkpointer,
        })
    }

    /// The bound port (the real one when 0 was configured).
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until the server stops: SIGTERM stops it gracefully (in-flight requests
    /// complete, within actix's 30-second shutdown timeout); SIGINT and SIGQUIT stop it at once.
    /// Then the audit trail's head is checkpointed (within 5 s).
    ///
    /// # Errors
    /// An I/O error of the server.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        let served = self.server.await;
        if let Some(checkpointer) = self.checkpointer {
            checkpointer.stop().await;
        }
        served
    }
}

/// `host:port`, with brackets around IPv6 literals.
fn format_address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
