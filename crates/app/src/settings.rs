//! Typed settings (SPEC §5), layered with the `config` crate as in zero2prod's
//! `configuration.rs`. Later layers override earlier ones:
//!
//! 1. built-in defaults (the `Default` implementations below);
//! 2. `<dir>/default.toml` (optional);
//! 3. `<dir>/<USERS_ENV>.toml`, e.g. `config/production.toml` (optional);
//! 4. environment variables `USERS__<SECTION>__<KEY>`, two underscores between the parts
//!    (`USERS__SERVER__PORT=8080`). Empty variables count as unset.
//!
//! [`Settings::load_from`] checks types, unknown keys and every constraint below, and
//! reports the first problem as one [`SettingsError`] that names the key: a bad
//! deployment stops at start-up with one line instead of failing on some later request.
//!
//! Secrets ([`Secret`], the password inside [`DatabaseUrl`]) print as `***` in `Debug`
//! and when serialised, so `check-config` and logs never show them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use adapters_http::Transport;
use adapters_http::proxies::TrustedProxies;
use adapters_http::throttle::{Budget, RateLimits};
use adapters_password::{Algorithm, Argon2Params, HasherConfig};
use config::{Config, ConfigError, Environment, File, FileFormat, Source};
use domain::model::{Login, Permission, PlainPassword, Role};
use domain::policy::{LockoutPolicy, PasswordPolicy};
use domain::service::ServiceConfig;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Prefix of the environment variables read as settings (`USERS__SERVER__PORT`).
pub const ENV_PREFIX: &str = "USERS";
/// Separator between prefix, section and key in environment variables.
pub const ENV_SEPARATOR: &str = "__";
/// Environment variable naming the optional per-environment file (`production` →
/// `config/production.toml`).
pub const ENV_NAME_VAR: &str = "USERS_ENV";
/// Environment variable naming the configuration directory (default [`DEFAULT_CONFIG_DIR`]).
pub const CONFIG_DIR_VAR: &str = "USERS_CONFIG_DIR";
/// Configuration directory, relative to the working directory, when nothing else is given.
pub const DEFAULT_CONFIG_DIR: &str = "config";
/// Below this many bytes an HS256 secret is weak (RFC 7518 §3.2 asks for at least 256 bits).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Longest token lifetime accepted: one year. Longer is almost surely a unit mistake
/// (milliseconds for seconds), and a bounded value can never overflow a timestamp.
const MAX_TOKEN_TTL_SECS: u64 = 365 * 24 * 60 * 60;
/// Longest lockout accepted: one year, for the same reasons.
const MAX_LOCK_MINUTES: u64 = 365 * 24 * 60;
/// Most argon2 memory accepted, in KiB (1 GiB); each concurrent hash holds that much.
const MAX_ARGON2_MEMORY_KIB: u32 = 1024 * 1024;
/// Most argon2 passes accepted; beyond this a login takes seconds.
const MAX_ARGON2_ITERATIONS: u32 = 64;
/// Most argon2 lanes accepted.
const MAX_ARGON2_PARALLELISM: u32 = 64;
/// Most HTTP workers accepted.
const MAX_WORKERS: usize = 1024;

/// The whole configuration of the service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `[server]`: where the HTTP service listens.
    pub server: ServerSettings,
    /// `[database]`: which store holds the users.
    pub database: DatabaseSettings,
    /// `[auth]`: session tokens.
    pub auth: AuthSettings,
    /// `[password]`: hashing and the password policy (rules 3 and 11).
    pub password: PasswordSettings,
    /// `[lockout]`: brute-force protection (rule 9).
    pub lockout: LockoutSettings,
    /// `[registration]`: self-registration.
    pub registration: RegistrationSettings,
    /// `[rate_limit]`: per-client limits of the password routes.
    pub rate_limit: RateLimitSettings,
    /// `[bootstrap]`: the first administrator.
    pub bootstrap: BootstrapSettings,
    /// `[audit]`: checkpoints of the audit trail.
    pub audit: AuditSettings,
    /// `[log]`: telemetry.
    pub log: LogSettings,
}

/// `[server]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Interface to bind (`0.0.0.0` for every IPv4 interface, `127.0.0.1` for local only).
    pub host: String,
    /// TCP port; 0 lets the system pick a free one (tests).
    #[serde(deserialize_with = "number")]
    pub port: u16,
    /// HTTP worker threads; defaults to the number of available cores.
    #[serde(deserialize_with = "number")]
    pub workers: usize,
    /// `production` turns the start-up warnings about unsafe settings into refusals.
    pub profile: Profile,
    /// Seconds a client has to send a request's head (408 after).
    #[serde(deserialize_with = "number")]
    pub request_timeout_secs: u64,
    /// Seconds an idle keep-alive connection stays open.
    #[serde(deserialize_with = "number")]
    pub keep_alive_secs: u64,
    /// Most connections open at once, per worker.
    #[serde(deserialize_with = "number")]
    pub max_connections: usize,
    /// Comma-separated origins (`https://app.example`) allowed to call the API from a
    /// browser; unset: no CORS.
    pub cors_origins: Option<String>,
}

/// How strict the start-up checks are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Unsafe settings (no JWT secret, a short one, the memory store) start with a warning.
    #[default]
    Development,
    /// Unsafe settings stop the start, naming the key.
    Production,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".to_owned(),
            port: 3003,
            workers: std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            profile: Profile::Development,
            request_timeout_secs: 5,
            keep_alive_secs: 30,
            max_connections: 10_000,
            cors_origins: None,
        }
    }
}

/// The kinds of user store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    /// In the process memory: lost at exit (tests, demos).
    Memory,
    /// Embedded persistent store (redb) in `database.path`: the zero-setup default.
    #[default]
    Embedded,
    /// MongoDB at `database.url`, database `database.name`.
    Mongo,
}

impl DatabaseKind {
    /// The kinds this build can open (each wired in `startup::build_store`); a build
    /// without an adapter leaves its kind out and gets a clear refusal.
    pub const AVAILABLE: &'static [DatabaseKind] = &[
        DatabaseKind::Memory,
        DatabaseKind::Embedded,
        DatabaseKind::Mongo,
    ];

    /// The configuration value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Embedded => "embedded",
            Self::Mongo => "mongo",
        }
    }

    /// Whether this build has the adapter.
    pub fn is_available(self) -> bool {
        Self::AVAILABLE.contains(&self)
    }
}

impl fmt::Display for DatabaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[database]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `memory`, `embedded` or `mongo`.
    pub kind: DatabaseKind,
    /// File of the embedded store.
    pub path: PathBuf,
    /// MongoDB connection string (`mongodb://user:password@host:27017`); its password is
    /// masked when printed.
    pub url: Option<DatabaseUrl>,
    /// MongoDB database name.
    pub name: String,
    /// Apply pending MongoDB migrations before serving (the unique indexes must exist
    /// before anything is written); `users-service migrate` applies them on demand.
    pub migrate_on_start: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            kind: DatabaseKind::default(),
            path: PathBuf::from("./data/users.redb"),
            url: None,
            name: "users".to_owned(),
            migrate_on_start: true,
        }
    }
}

/// Algorithm that signs new session tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenAlgorithm {
    /// HMAC-SHA256 with `auth.jwt_secret`.
    #[default]
    #[serde(rename = "HS256")]
    Hs256,
    /// Ed25519 with `auth.signing_key_file`; public keys at `/.well-known/jwks.json`.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

/// `[auth]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Algorithm of new tokens.
    pub algorithm: TokenAlgorithm,
    /// Ed25519 private key (PKCS#8 PEM) that signs tokens when `algorithm = "EdDSA"`.
    pub signing_key_file: Option<PathBuf>,
    /// Comma-separated PEM files of further keys that verify tokens (the previous signing
    /// key during a rotation); public or private Ed25519 keys.
    pub verification_key_files: Option<String>,
    /// HS256 signing secret. Unset: a random one is generated at each start, so tokens do
    /// not survive a restart (and are not shared between replicas).
    pub jwt_secret: Option<Secret>,
    /// With `algorithm = "EdDSA"`, keeps `jwt_secret` as a rotation key that verifies the
    /// HS256 tokens issued before the switch. Off (the default), EdDSA ignores the secret:
    /// one merely left in place must not keep verifying tokens forever, nor let whoever
    /// still holds it mint tokens that pass.
    pub verify_previous_hs256: bool,
    /// `iss` claim.
    pub jwt_issuer: String,
    /// `aud` claim.
    pub jwt_audience: String,
    /// Token lifetime, in seconds (1 to one year).
    #[serde(deserialize_with = "number")]
    pub token_ttl_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            algorithm: TokenAlgorithm::Hs256,
            signing_key_file: None,
            verification_key_files: None,
            jwt_secret: None,
            verify_previous_hs256: false,
            jwt_issuer: "users-service".to_owned(),
            jwt_audience: "users-service".to_owned(),
            token_ttl_secs: 24 * 60 * 60,
        }
    }
}

impl AuthSettings {
    /// Token lifetime.
    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }
}

/// Algorithm of new password hashes; verification accepts both whatever this says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgorithm {
    /// argon2id with the `argon2_*` parameters.
    #[default]
    Argon2id,
    /// bcrypt with `bcrypt_cost`, for deployments that must stay readable by the old service.
    Bcrypt,
}

/// `[password]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordSettings {
    /// `argon2id` or `bcrypt`.
    pub algorithm: HashAlgorithm,
    /// argon2 memory cost, KiB.
    #[serde(deserialize_with = "number")]
    pub argon2_memory_kib: u32,
    /// argon2 passes.
    #[serde(deserialize_with = "number")]
    pub argon2_iterations: u32,
    /// argon2 lanes.
    #[serde(deserialize_with = "number")]
    pub argon2_parallelism: u32,
    /// bcrypt cost (log2 of the rounds, 4 to 31).
    #[serde(deserialize_with = "number")]
    pub bcrypt_cost: u32,
    /// Fewest characters.
    #[serde(deserialize_with = "number")]
    pub min_length: usize,
    /// Most characters.
    #[serde(deserialize_with = "number")]
    pub max_length: usize,
    /// Needs a lowercase letter.
    pub require_lowercase: bool,
    /// Needs an uppercase letter.
    pub require_uppercase: bool,
    /// Needs a digit.
    pub require_digit: bool,
    /// Needs a character that is neither a letter nor a digit.
    pub require_symbol: bool,
    /// Refuses passwords containing the login or the e-mail's local part.
    pub forbid_personal_data: bool,
    /// Refuses common passwords.
    pub forbid_common: bool,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        let argon2 = Argon2Params::OWASP;
        let policy = PasswordPolicy::default();
        Self {
            algorithm: HashAlgorithm::default(),
            argon2_memory_kib: argon2.memory_kib,
            argon2_iterations: argon2.iterations,
            argon2_parallelism: argon2.parallelism,
            bcrypt_cost: Algorithm::DEFAULT_BCRYPT_COST,
            min_length: policy.min_length,
            max_length: policy.max_length,
            require_lowercase: policy.require_lowercase,
            require_uppercase: policy.require_uppercase,
            require_digit: policy.require_digit,
            require_symbol: policy.require_symbol,
            forbid_personal_data: policy.forbid_personal_data,
            forbid_common: policy.forbid_common,
        }
    }
}

/// `[lockout]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutSettings {
    /// Consecutive failed logins that lock the account.
    #[serde(deserialize_with = "number")]
    pub max_failures: u32,
    /// How long the lock lasts, in minutes.
    #[serde(deserialize_with = "number")]
    pub lock_minutes: u64,
}

impl Default for LockoutSettings {
    fn default() -> Self {
        let policy = LockoutPolicy::default();
        Self {
            max_failures: policy.max_failures,
            lock_minutes: policy.lock_duration.as_secs() / 60,
        }
    }
}

/// `[rate_limit]`: every use case that verifies or sets a password, per client and per account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Off: no limit (tests, or a gateway that limits already).
    pub enabled: bool,
    /// Password attempts per minute a client may sustain.
    #[serde(deserialize_with = "number")]
    pub per_minute: u32,
    /// Password attempts a client may make at once before the pace applies.
    #[serde(deserialize_with = "number")]
    pub burst: u32,
    /// Password attempts per minute one account may receive, from all clients together.
    #[serde(deserialize_with = "number")]
    pub account_per_minute: u32,
    /// Password attempts one account may receive at once before that pace applies.
    #[serde(deserialize_with = "number")]
    pub account_burst: u32,
    /// Prefix length that groups IPv4 clients (32: each address is a client).
    #[serde(deserialize_with = "number")]
    pub ipv4_prefix: u8,
    /// Prefix length that groups IPv6 clients (64: a host's usual allocation).
    #[serde(deserialize_with = "number")]
    pub ipv6_prefix: u8,
    /// Comma-separated IPs or networks (`10.0.0.0/8`) of reverse proxies whose
    /// `X-Forwarded-For` names the client; unset: the TCP peer is the client.
    pub trusted_proxies: Option<String>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        // An office behind one NAT address logs in together in the morning: generous per
        // address, still 1,000× slower than an unthrottled password-guessing script.
        // An account sees far fewer attempts than an office: its owner and, rarely, an
        // administrator; the lockout stops guessing first, this stops a botnet's many
        // clients from each spending a little of one account.
        Self {
            enabled: true,
            per_minute: 60,
            burst: 20,
            account_per_minute: 30,
            account_burst: 10,
            ipv4_prefix: 32,
            ipv6_prefix: 64,
            trusted_proxies: None,
        }
    }
}

impl RateLimitSettings {
    /// The limits, or `None` when disabled.
    ///
    /// # Errors
    /// A zero limit, or one above the largest.
    pub fn limits(&self) -> Result<Option<RateLimits>, SettingsError> {
        if !self.enabled {
            return Ok(None);
        }
        let positive = |key: &str, n: u32| {
            NonZeroU32::new(n)
                .filter(|n| n.get() <= MAX_RATE)
                .ok_or_else(|| SettingsError::new(key, format!("must be 1 to {MAX_RATE}, got {n}")))
        };
        let prefix = |key: &str, n: u8, max: u8| {
            if n <= max {
                Ok(n)
            } else {
                Err(SettingsError::new(
                    key,
                    format!("must be 0 to {max}, got {n}"),
                ))
            }
        };
        Ok(Some(RateLimits {
            client: Budget {
                per_minute: positive("rate_limit.per_minute", self.per_minute)?,
                burst: positive("rate_limit.burst", self.burst)?,
            },
            account: Budget {
                per_minute: positive("rate_limit.account_per_minute", self.account_per_minute)?,
                burst: positive("rate_limit.account_burst", self.account_burst)?,
            },
            ipv4_prefix: prefix("rate_limit.ipv4_prefix", self.ipv4_prefix, 32)?,
            ipv6_prefix: prefix("rate_limit.ipv6_prefix", self.ipv6_prefix, 128)?,
        }))
    }

    /// The reverse proxies whose `X-Forwarded-For` names the client, for the rate limits
    /// and the audit trail alike (so read even when rate limiting is off).
    ///
    /// # Errors
    /// The first entry that is not an IP or a network.
    pub fn proxies(&self) -> Result<TrustedProxies, SettingsError> {
        TrustedProxies::parse(self.trusted_proxies.as_deref().unwrap_or_default())
            .map_err(|e| SettingsError::new("rate_limit.trusted_proxies", e))
    }
}

/// Longest `server.request_timeout_secs` and `server.keep_alive_secs`.
const MAX_TIMEOUT_SECS: u64 = 300;
/// Largest `server.max_connections`.
const MAX_CONNECTIONS: usize = 1_000_000;

/// Whether `text` is a browser origin: `http(s)://host[:port]`, nothing after.
fn is_origin(text: &str) -> bool {
    let Some(authority) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
            (host, Some(port))
        }
        _ => (authority, None),
    };
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

/// The non-empty, trimmed entries of a comma-separated setting (unset: none).
pub fn comma_list(value: Option<&str>) -> impl Iterator<Item = &str> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
}

/// Largest `rate_limit.per_minute` and `rate_limit.burst`.
const MAX_RATE: u32 = 1_000_000;

/// `[registration]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationSettings {
    /// Role of self-registered users (and of ADMINs demoted by v1's `is_admin: false`).
    #[serde(serialize_with = "role_out", deserialize_with = "role_in")]
    pub default_role: Role,
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        Self {
            default_role: ServiceConfig::default().default_role,
        }
    }
}

/// `[bootstrap]`: when both are set and the store has no ADMIN at all (active or not), this
/// ADMIN is created at start-up, with a first-login password change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapSettings {
    /// Login of the first administrator.
    pub admin_login: Option<String>,
    /// Its initial password (must satisfy the password policy).
    pub admin_password: Option<Secret>,
}

/// Largest `audit.checkpoint_every`.
const MAX_CHECKPOINT_EVERY: u64 = 1_000_000_000;

/// `[audit]`: signed checkpoints of the audit trail (docs/operations.md, "Audit trail").
/// They are signed with the token signing key: `auth.signing_key_file` with EdDSA,
/// `auth.jwt_secret` with HS256 (none without a configured secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// `serve` checkpoints the head once this many events were appended since the last
    /// checkpoint (and at start-up and shutdown); 0 leaves it to `audit checkpoint`.
    #[serde(deserialize_with = "number")]
    pub checkpoint_every: u64,
    /// Comma-separated PEM files of Ed25519 keys (public or private) that verify the
    /// checkpoints signed before a rotation, without verifying tokens.
    pub checkpoint_verification_key_files: Option<String>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        // At 100, a cut of the trail's end goes unseen for at most 99 events plus the
        // polling second, for one signature and one small write per 100 events.
        Self {
            checkpoint_every: 100,
            checkpoint_verification_key_files: None,
        }
    }
}

impl AuditSettings {
    /// The period of `serve`'s checkpoints, or `None` when only `audit checkpoint` makes them.
    pub fn every(&self) -> Option<std::num::NonZeroU64> {
        std::num::NonZeroU64::new(self.checkpoint_every)
    }
}

/// Output format of the logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// Filter in `RUST_LOG` syntax (`info`, `debug`, `info,actix_server=warn`);
    /// `RUST_LOG`, when set, wins.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::default(),
        }
    }
}

/// A secret setting: `***` in `Debug` and when serialised.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

/// A connection string whose password (`scheme://user:PASSWORD@host`) is masked in
/// `Debug` and when serialised; the rest stays visible, which is what one checks.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a connection string.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The connection string, password included.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The connection string with its password replaced by `***`.
    pub fn masked(&self) -> String {
        let url = &self.0;
        let authority_start = url.find("://").map_or(0, |i| i + 3);
        let rest = &url[authority_start..];
        // The user information ends at the last `@` before the path.
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let Some(at) = rest[..authority_end].rfind('@') else {
            return url.clone();
        };
        match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..authority_start],
                &rest[..colon],
                &rest[at..]
            ),
            None => url.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.masked())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

/// Why the configuration was refused: the key at fault and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {}", self.detail())]
pub struct SettingsError {
    key: Option<String>,
    message: String,
}

impl SettingsError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: Some(key.into()),
            message: message.into(),
        }
    }

    fn unkeyed(message: impl Into<String>) -> Self {
        Self {
            key: None,
            message: message.into(),
        }
    }

    /// The dotted key at fault (`server.port`), when there is one.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Adds where the offending value came from (a file, or the environment).
    fn located(mut self, config: &Config) -> Self {
        if let Some(origin) = self.key.as_deref().and_then(|key| origin_of(config, key)) {
            self.message = format!("{} (from {origin})", self.message);
        }
        self
    }

    /// `key: message`, or the message alone.
    pub fn detail(&self) -> String {
        match &self.key {
            Some(key) => format!("{key}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

impl From<ConfigError> for SettingsError {
    fn from(error: ConfigError) -> Self {
        match error {
            ConfigError::At { error, key, .. } => {
                let inner = Self::from(*error);
                Self {
                    key: key.or(inner.key),
                    message: inner.message,
                }
            }
            ConfigError::Type {
                key,
                unexpected,
                expected,
                ..
            } => Self {
                key,
                message: format!("expected {expected}, found {unexpected}"),
            },
            ConfigError::NotFound(key) => Self::new(key, "missing"),
            ConfigError::FileParse { uri, cause } => {
                let cause = one_line(&cause.to_string());
                match uri {
                    Some(uri) => Self::unkeyed(format!("{uri}: {cause}")),
                    None => Self::unkeyed(cause),
                }
            }
            other => Self::unkeyed(other.to_string()),
        }
    }
}

/// Where the settings come from.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// Directory of `default.toml` and `<env_name>.toml`.
    pub dir: PathBuf,
    /// Name of the per-environment file (`USERS_ENV`), if any.
    pub env_name: Option<String>,
    /// The environment variables to read; `None` reads the process environment. Tests
    /// pass a map, since changing the process environment is not thread-safe.
    pub vars: Option<HashMap<String, String>>,
}

impl Sources {
    /// The sources of a real run: `dir` or `$USERS_CONFIG_DIR` or `./config`, the file
    /// named by `$USERS_ENV`, and the process environment.
    ///
    /// # Errors
    /// When `USERS_ENV` or `USERS_CONFIG_DIR` is not valid UTF-8, or `USERS_ENV` is not a
    /// plain name.
    pub fn from_process_env(dir: Option<PathBuf>) -> Result<Self, SettingsError> {
        let read = |name: &str| match std::env::var(name) {
            Ok(value) if value.trim().is_empty() => Ok(None),
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(SettingsError::new(name, "not valid UTF-8"))
            }
        };
        let dir = match dir {
            Some(dir) => dir,
            None => read(CONFIG_DIR_VAR)?
                .map_or_else(|| PathBuf::from(DEFAULT_CONFIG_DIR), PathBuf::from),
        };
        Ok(Self {
            dir,
            env_name: read(ENV_NAME_VAR)?,
            vars: None,
        })
    }

    /// The configuration files consulted, in order, whether they exist or not.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.dir.join("default.toml")];
        if let Some(name) = &self.env_name {
            files.push(self.dir.join(format!("{name}.toml")));
        }
        files
    }

    /// The configuration files that exist and are therefore read.
    pub fn existing_files(&self) -> Vec<PathBuf> {
        self.files().into_iter().filter(|f| f.is_file()).collect()
    }
}

impl Settings {
    /// Loads and validates the settings from `sources`.
    ///
    /// # Errors
    /// The first problem found, naming its key: a file that does not parse, a value of
    /// the wrong type, an unknown key, or a value outside what [`Settings::validate`] accepts.
    pub fn load_from(sources: &Sources) -> Result<Self, SettingsError> {
        if let Some(name) = &sources.env_name {
            let plain = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !plain {
                return Err(SettingsError::new(
                    ENV_NAME_VAR,
                    format!(
                        "{name:?} is not a plain environment name such as `production` \
                         (letters, digits, `-` and `_` only)"
                    ),
                ));
            }
        }
        let mut builder = Config::builder();
        for file in sources.files() {
            builder = builder.add_source(
                File::from(file.as_path())
                    .format(FileFormat::Toml)
                    .required(false),
            );
        }
        let environment = Environment::with_prefix(ENV_PREFIX)
            .prefix_separator(ENV_SEPARATOR)
            .separator(ENV_SEPARATOR)
            .ignore_empty(true)
            // Keep every value a string until its field asks for a type: a secret such
            // as "0123" must not become the number 123.
            .try_parsing(false)
            .source(
                sources
                    .vars
                    .as_ref()
                    .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            );
        let config = builder.add_source(environment).build()?;
        check_known_keys(&config)?;
        let mut settings: Self = config
            .clone()
            .try_deserialize()
            .map_err(|e| SettingsError::from(e).located(&config))?;
        // A MongoDB URL without an explicit kind means MongoDB (SPEC §5).
        if config.get_string("database.kind").is_err() && settings.database.url.is_some() {
            settings.database.kind = DatabaseKind::Mongo;
        }
        settings.validate().map_err(|e| e.located(&config))?;
        Ok(settings)
    }

    /// Checks what types cannot: ranges, required combinations, available stores.
    ///
    /// # Errors
    /// The first violated constraint, naming its key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.validate_server()?;
        self.validate_database()?;
        self.validate_auth()?;
        self.validate_password()?;
        self.validate_lockout()?;
        self.validate_registration()?;
        self.rate_limit.limits()?;
        self.rate_limit.proxies()?;
        self.validate_bootstrap()?;
        if self.audit.checkpoint_every > MAX_CHECKPOINT_EVERY {
            return Err(SettingsError::new(
                "audit.checkpoint_every",
                format!(
                    "must be 0 (off) to {MAX_CHECKPOINT_EVERY} events, got {}",
                    self.audit.checkpoint_every
                ),
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(SettingsError::new("log.level", e.to_string()));
        }
        Ok(())
    }

    /// How the HTTP server treats connections and browsers.
    ///
    /// # Errors
    /// A timeout or limit out of range, or an origin that is not `scheme://host[:port]`.
    pub fn transport(&self) -> Result<Transport, SettingsError> {
        let server = &self.server;
        let seconds = |key: &str, secs: u64| {
            if (1..=MAX_TIMEOUT_SECS).contains(&secs) {
                Ok(Duration::from_secs(secs))
            } else {
                Err(SettingsError::new(
                    key,
                    format!("must be 1 to {MAX_TIMEOUT_SECS} seconds, got {secs}"),
                ))
            }
        };
        if !(1..=MAX_CONNECTIONS).contains(&server.max_connections) {
            return Err(SettingsError::new(
                "server.max_connections",
                format!(
                    "must be 1 to {MAX_CONNECTIONS}, got {}",
                    server.max_connections
                ),
            ));
        }
        let cors_origins = comma_list(server.cors_origins.as_deref())
            .map(|origin| {
                if is_origin(origin) {
                    Ok(origin.to_owned())
                } else {
                    Err(SettingsError::new(
                        "server.cors_origins",
                        format!(
                            "{origin:?} is not an origin: write scheme://host[:port], \
                             e.g. https://app.example (no path, no wildcard)"
                        ),
                    ))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Transport {
            workers: server.workers,
            request_timeout: seconds("server.request_timeout_secs", server.request_timeout_secs)?,
            keep_alive: seconds("server.keep_alive_secs", server.keep_alive_secs)?,
            max_connections: server.max_connections,
            cors_origins,
        })
    }

    fn validate_server(&self) -> Result<(), SettingsError> {
        if self.server.host.trim().is_empty() {
            return Err(SettingsError::new("server.host", "must not be empty"));
        }
        self.transport()?;
        if !(1..=MAX_WORKERS).contains(&self.server.workers) {
            return Err(SettingsError::new(
                "server.workers",
                format!("must be 1 to {MAX_WORKERS}, got {}", self.server.workers),
            ));
        }
        Ok(())
    }

    fn validate_database(&self) -> Result<(), SettingsError> {
        let db = &self.database;
        if !db.kind.is_available() {
            let available: Vec<&str> = DatabaseKind::AVAILABLE.iter().map(|k| k.as_str()).collect();
            return Err(SettingsError::new(
                "database.kind",
                format!(
                    "{:?} is not yet available in this build (available: {})",
                    db.kind.as_str(),
                    available.join(", ")
                ),
            ));
        }
        match db.kind {
            DatabaseKind::Memory if self.server.profile == Profile::Production => {
                return Err(SettingsError::new(
                    "database.kind",
                    "\"memory\" loses every account at exit: refused when \
                     server.profile = \"production\"",
                ));
            }
            DatabaseKind::Memory => {}
            DatabaseKind::Embedded => {
                if db.path.as_os_str().is_empty() {
                    return Err(SettingsError::new(
                        "database.path",
                        "required when database.kind = \"embedded\"",
                    ));
                }
            }
            DatabaseKind::Mongo => {
                if db.url.as_ref().is_none_or(|u| u.expose().trim().is_empty()) {
                    return Err(SettingsError::new(
                        "database.url",
                        "required when database.kind = \"mongo\" (e.g. mongodb://localhost:27017)",
                    ));
                }
                if db.name.trim().is_empty() {
                    return Err(SettingsError::new("database.name", "must not be empty"));
                }
            }
        }
        Ok(())
    }

    fn validate_auth(&self) -> Result<(), SettingsError> {
        let auth = &self.auth;
        if auth.algorithm == TokenAlgorithm::EdDsa && auth.signing_key_file.is_none() {
            return Err(SettingsError::new(
                "auth.signing_key_file",
                "required when auth.algorithm = \"EdDSA\" (an Ed25519 private key, PKCS#8 PEM: \
                 `openssl genpkey -algorithm ed25519`)",
            ));
        }
        let keeps_previous_hs256 =
            auth.algorithm == TokenAlgorithm::EdDsa && auth.verify_previous_hs256;
        if keeps_previous_hs256 && auth.jwt_secret.is_none() {
            // The operator asked to keep the old sessions; starting without the secret
            // would log everyone out anyway, the opposite of what was asked.
            return Err(SettingsError::new(
                "auth.jwt_secret",
                "required when auth.verify_previous_hs256 = true (the HS256 secret that \
                 signed the tokens issued before the switch to EdDSA)",
            ));
        }
        let needs_secret = auth.algorithm == TokenAlgorithm::Hs256 || keeps_previous_hs256;
        if self.server.profile == Profile::Production && needs_secret {
            // A generated secret differs per replica and per start: random 401s, and every
            // session lost at each deployment. A short one can be brute-forced offline
            // from any token (RFC 7518 §3.2 asks for at least 256 bits).
            let long_enough = auth
                .jwt_secret
                .as_ref()
                .is_some_and(|s| s.expose().len() >= MIN_JWT_SECRET_BYTES);
            if !long_enough {
                return Err(SettingsError::new(
                    "auth.jwt_secret",
                    format!(
                        "must be set, at least {MIN_JWT_SECRET_BYTES} bytes, when \
                         server.profile = \"production\" (e.g. `openssl rand -hex 32`)"
                    ),
                ));
            }
        }
        if auth.jwt_issuer.trim().is_empty() {
            return Err(SettingsError::new("auth.jwt_issuer", "must not be empty"));
        }
        if auth.jwt_audience.trim().is_empty() {
            return Err(SettingsError::new("auth.jwt_audience", "must not be empty"));
        }
        if !(1..=MAX_TOKEN_TTL_SECS).contains(&auth.token_ttl_secs) {
            return Err(SettingsError::new(
                "auth.token_ttl_secs",
                format!(
                    "must be 1 to {MAX_TOKEN_TTL_SECS} seconds (one year), got {}",
                    auth.token_ttl_secs
                ),
            ));
        }
        Ok(())
    }

    fn validate_password(&self) -> Result<(), SettingsError> {
        let p = &self.password;
        if !(1..=MAX_ARGON2_PARALLELISM).contains(&p.argon2_parallelism) {
            return Err(SettingsError::new(
                "password.argon2_parallelism",
                format!(
                    "must be 1 to {MAX_ARGON2_PARALLELISM}, got {}",
                    p.argon2_parallelism
                ),
            ));
        }
        if !(1..=MAX_ARGON2_ITERATIONS).contains(&p.argon2_iterations) {
            return Err(SettingsError::new(
                "password.argon2_iterations",
                format!(
                    "must be 1 to {MAX_ARGON2_ITERATIONS}, got {}",
                    p.argon2_iterations
                ),
            ));
        }
        // argon2 needs at least 8 KiB per lane.
        let min_memory = 8 * p.argon2_parallelism;
        if !(min_memory..=MAX_ARGON2_MEMORY_KIB).contains(&p.argon2_memory_kib) {
            return Err(SettingsError::new(
                "password.argon2_memory_kib",
                format!(
                    "must be {min_memory} (8 per lane) to {MAX_ARGON2_MEMORY_KIB} KiB, got {}",
                    p.argon2_memory_kib
                ),
            ));
        }
        if !(4..=31).contains(&p.bcrypt_cost) {
            return Err(SettingsError::new(
                "password.bcrypt_cost",
                format!("must be 4 to 31, got {}", p.bcrypt_cost),
            ));
        }
        if p.min_length == 0 {
            return Err(SettingsError::new(
                "password.min_length",
                "must be at least 1",
            ));
        }
        if p.max_length < p.min_length || p.max_length > PlainPassword::MAX_BYTES {
            return Err(SettingsError::new(
                "password.max_length",
                format!(
                    "must be between password.min_length ({}) and {}, got {}",
                    p.min_length,
                    PlainPassword::MAX_BYTES,
                    p.max_length
                ),
            ));
        }
        Ok(())
    }

    fn validate_lockout(&self) -> Result<(), SettingsError> {
        if self.lockout.max_failures == 0 {
            return Err(SettingsError::new(
                "lockout.max_failures",
                "must be at least 1",
            ));
        }
        if !(1..=MAX_LOCK_MINUTES).contains(&self.lockout.lock_minutes) {
            return Err(SettingsError::new(
                "lockout.lock_minutes",
                format!(
                    "must be 1 to {MAX_LOCK_MINUTES} minutes (one year), got {}",
                    self.lockout.lock_minutes
                ),
            ));
        }
        Ok(())
    }

    fn validate_registration(&self) -> Result<(), SettingsError> {
        // Anyone can register: a role that administers accounts would hand that power
        // to strangers.
        let role = self.registration.default_role;
        if Permission::ALL.iter().any(|p| role.can(*p)) {
            return Err(SettingsError::new(
                "registration.default_role",
                format!(
                    "{role} may administer accounts; self-registered users need a role \
                     without administrative permissions (e.g. CONTRIBUABLE)"
                ),
            ));
        }
        Ok(())
    }

    fn validate_bootstrap(&self) -> Result<(), SettingsError> {
        let b = &self.bootstrap;
        match (&b.admin_login, &b.admin_password) {
            (None, None) => Ok(()),
            (Some(_), None) => Err(SettingsError::new(
                "bootstrap.admin_password",
                "required when bootstrap.admin_login is set",
            )),
            (None, Some(_)) => Err(SettingsError::new(
                "bootstrap.admin_login",
                "required when bootstrap.admin_password is set",
            )),
            (Some(login), Some(password)) => {
                Login::parse(login)
                    .map_err(|e| SettingsError::new("bootstrap.admin_login", e.message))?;
                PlainPassword::new(password.expose())
                    .map_err(|e| SettingsError::new("bootstrap.admin_password", e.message))?;
                Ok(())
            }
        }
    }

    /// Things that work but deserve a warning at start-up and in `check-config`.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let auth = &self.auth;
        let eddsa = auth.algorithm == TokenAlgorithm::EdDsa;
        match &auth.jwt_secret {
            None if eddsa => {}
            Some(_) if eddsa && !auth.verify_previous_hs256 => out.push(
                "auth.jwt_secret is set but unused: with auth.algorithm = \"EdDSA\" it verifies \
                 HS256 tokens only when auth.verify_previous_hs256 = true, so HS256 tokens are \
                 refused; remove the secret, or set that flag for one token lifetime after the \
                 switch"
                    .to_owned(),
            ),
            None => out.push(
                "auth.jwt_secret is not set: a random secret is generated at each start, so \
                 tokens will not survive a restart (set USERS__AUTH__JWT_SECRET)"
                    .to_owned(),
            ),
            Some(secret) if secret.expose().len() < MIN_JWT_SECRET_BYTES => out.push(format!(
                "auth.jwt_secret is shorter than {MIN_JWT_SECRET_BYTES} bytes: use a longer \
                 random secret (e.g. `openssl rand -hex 32`)"
            )),
            Some(_) => {}
        }
        if auth.verify_previous_hs256 && !eddsa {
            out.push(
                "auth.verify_previous_hs256 has no effect with auth.algorithm = \"HS256\": the \
                 secret signs and verifies already"
                    .to_owned(),
            );
        }
        if self.database.kind == DatabaseKind::Memory {
            out.push(
                "database.kind is \"memory\": every account is lost when the process stops"
                    .to_owned(),
            );
        }
        if !self.signs_checkpoints() && self.audit.every().is_some() {
            out.push(
                "audit checkpoints are off: auth.jwt_secret is not set, and a secret generated \
                 at each start could not verify them after a restart, so a cut of the audit \
                 trail's end would go unseen (set USERS__AUTH__JWT_SECRET, or use EdDSA)"
                    .to_owned(),
            );
        }
        out
    }

    /// Whether a durable key signs audit checkpoints: the EdDSA signing key, or a
    /// configured HS256 secret (a generated one dies with the process).
    pub fn signs_checkpoints(&self) -> bool {
        self.auth.algorithm == TokenAlgorithm::EdDsa || self.auth.jwt_secret.is_some()
    }

    /// The `host:port` to bind.
    pub fn bind_address(&self) -> (&str, u16) {
        (self.server.host.trim(), self.server.port)
    }

    /// The domain's tunables.
    pub fn service_config(&self) -> ServiceConfig {
        let p = &self.password;
        ServiceConfig {
            password_policy: PasswordPolicy {
                min_length: p.min_length,
                max_length: p.max_length,
                require_lowercase: p.require_lowercase,
                require_uppercase: p.require_uppercase,
                require_digit: p.require_digit,
                require_symbol: p.require_symbol,
                forbid_personal_data: p.forbid_personal_data,
                forbid_common: p.forbid_common,
            },
            lockout: LockoutPolicy {
                max_failures: self.lockout.max_failures,
                lock_duration: Duration::from_secs(self.lockout.lock_minutes.saturating_mul(60)),
            },
            default_role: self.registration.default_role,
        }
    }

    /// The hasher's configuration.
    pub fn hasher_config(&self) -> HasherConfig {
        let p = &self.password;
        HasherConfig {
            algorithm: match p.algorithm {
                HashAlgorithm::Argon2id => Algorithm::Argon2id,
                HashAlgorithm::Bcrypt => Algorithm::Bcrypt {
                    cost: p.bcrypt_cost,
                },
            },
            argon2: Argon2Params {
                memory_kib: p.argon2_memory_kib,
                iterations: p.argon2_iterations,
                parallelism: p.argon2_parallelism,
            },
            ..HasherConfig::default()
        }
    }
}

/// Refuses keys that no setting reads, so that a typo (`USERS__SERVER__PROT`, or
/// `USERS__SERVER_PORT` with one underscore) stops the start instead of being ignored.
fn check_known_keys(config: &Config) -> Result<(), SettingsError> {
    let known = known_keys()?;
    let sections: Vec<&str> = known.keys().map(String::as_str).collect();
    for (section, value) in config.collect()? {
        let origin = value
            .origin()
            .map(|o| format!(" (from {o})"))
            .unwrap_or_default();
        let Some(keys) = known.get(&section) else {
            return Err(SettingsError::new(
                section,
                format!(
                    "unknown section{origin}; sections are {}. Environment variables name \
                     a section and a key with two underscores each: USERS__SERVER__PORT",
                    sections.join(", ")
                ),
            ));
        };
        let table = value.into_table().map_err(|_| {
            SettingsError::new(
                section.as_str(),
                format!("expected a table of settings{origin}, found a single value"),
            )
        })?;
        for (key, value) in table {
            if !keys.contains(&key) {
                let origin = value
                    .origin()
                    .map(|o| format!(" (from {o})"))
                    .unwrap_or_default();
                let list: Vec<&str> = keys.iter().map(String::as_str).collect();
                return Err(SettingsError::new(
                    format!("{section}.{key}"),
                    format!(
                        "unknown setting{origin}; [{section}] has {}",
                        list.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Where the value of a dotted `key` came from: a file path or "the environment".
fn origin_of(config: &Config, key: &str) -> Option<String> {
    let mut parts = key.split('.');
    let mut value = config.collect().ok()?.remove(parts.next()?)?;
    for part in parts {
        value = value.into_table().ok()?.remove(part)?;
    }
    value.origin().map(str::to_owned)
}

/// A parser's message on one line: the TOML parser draws the offending line with `|`
/// gutters and a caret, which only the first and last lines need to convey.
fn one_line(message: &str) -> String {
    let is_snippet = |line: &str| {
        line.trim_start()
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start()
            .starts_with('|')
    };
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_snippet(line))
        .collect();
    lines.join(": ")
}

/// Every `section → keys`, read off the serialised defaults so it can never drift from
/// the structs.
fn known_keys() -> Result<BTreeMap<String, BTreeSet<String>>, SettingsError> {
    let defaults = serde_json::to_value(Settings::default())
        .map_err(|e| SettingsError::unkeyed(format!("cannot list the known settings: {e}")))?;
    let mut out = BTreeMap::new();
    if let serde_json::Value::Object(sections) = defaults {
        for (section, keys) in sections {
            let keys = match keys {
                serde_json::Value::Object(keys) => keys.into_iter().map(|(k, _)| k).collect(),
                _ => BTreeSet::new(),
            };
            out.insert(section, keys);
        }
    }
    Ok(out)
}

/// Reads a number given as a TOML number or as text (environment variables are text), and
/// reports what `str::parse` says when it is not one ("invalid digit found in string").
fn number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    struct Text;

    impl Visitor<'_> for Text {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.trim().to_owned())
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }

        fn visit_i128<E: de::Error>(self, v: i128) -> Result<String, E> {
            Ok(v.to_string())
        }

        fn visit_u128<E: de::Error>(self, v: u128) -> Result<String, E> {
            Ok(v.to_string())
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }

    let text = deserializer.deserialize_any(Text)?;
    text.parse::<T>()
        .map_err(|e| de::Error::custom(format!("{e} (got {text:?})")))
}

/// Reads one of `choices`, ignoring case and surrounding spaces, and lists them all when
/// the value is none of them.
fn choice<'de, D, T>(deserializer: D, choices: &[(&str, T)]) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Copy,
{
    let raw = String::deserialize(deserializer)?;
    let wanted = raw.trim();
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
            de::Error::custom(format!(
                "unknown value {raw:?}; expected one of {}",
                names.join(", ")
            ))
        })
}

impl<'de> Deserialize<'de> for DatabaseKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let all = [Self::Memory, Self::Embedded, Self::Mongo].map(|k| (k.as_str(), k));
        choice(deserializer, &all)
    }
}

impl<'de> Deserialize<'de> for HashAlgorithm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        choice(
            deserializer,
            &[("argon2id", Self::Argon2id), ("bcrypt", Self::Bcrypt)],
        )
    }
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        choice(deserializer, &[("text", Self::Text), ("json", Self::Json)])
    }
}

fn role_in<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Role, D::Error> {
    let raw = String::deserialize(deserializer)?;
    Role::parse(raw.trim()).map_err(|_| {
        let all: Vec<&str> = Role::ALL.iter().map(|r| r.code()).collect();
        de::Error::custom(format!(
            "unknown role {raw:?}; roles are {} (upper case)",
            all.join(", ")
        ))
    })
}

fn role_out<S: Serializer>(role: &Role, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(role.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_masks_only_the_password() {
        let url = DatabaseUrl::new("mongodb://app:s3cr%40t@db1:27017,db2/users?authSource=admin");
        assert_eq!(
            url.masked(),
            "mongodb://app:***@db1:27017,db2/users?authSource=admin"
        );
        let plain = DatabaseUrl::new("mongodb://localhost:27017");
        assert_eq!(plain.masked(), "mongodb://localhost:27017");
        let user_only = DatabaseUrl::new("mongodb://app@localhost");
        assert_eq!(user_only.masked(), "mongodb://app@localhost");
        assert!(!format!("{url:?}").contains("s3cr"));
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(serde_json::to_string(&s).ok().as_deref(), Some("\"***\""));
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Settings::default().validate(), Ok(()));
    }

    #[test]
    fn known_keys_cover_optional_fields() {
        let known = known_keys().unwrap_or_default();
        assert!(known["auth"].contains("jwt_secret"));
        assert!(known["bootstrap"].contains("admin_password"));
        assert!(known["database"].contains("url"));
    }
}
