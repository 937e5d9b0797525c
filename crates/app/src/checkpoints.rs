//! Audit checkpoints in the binary: the key that signs them, the keys that verify them, and
//! `serve`'s background task (docs/decisions.md, "Audit checkpoints").
//!
//! The token signing key signs: `auth.signing_key_file` with EdDSA, `auth.jwt_secret` with
//! HS256. Without a configured secret there is no durable key (the generated one dies with
//! the process), so no checkpoint is made and `Settings::warnings` says so. Every token key
//! the configuration names verifies checkpoints, and so do the retired keys of
//! `audit.checkpoint_verification_key_files`, which verify nothing else.

use std::num::NonZeroU64;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::rt::task::JoinHandle;
use audit_chain::checkpoint::{CheckpointKey, Keyring, VerifyingKey};
use domain::ports::{AuditLog, SystemClock};
use domain::service::checkpoint::{AuditCheckpoints, CheckpointOutcome};

use crate::settings::{Settings, SettingsError, TokenAlgorithm, comma_list};

/// How often `serve` looks whether a checkpoint is due; each look reads one event at most.
const POLL: Duration = Duration::from_secs(1);
/// How long the shutdown checkpoint may delay the exit (a store that is down).
const SHUTDOWN_BUDGET: Duration = Duration::from_secs(5);

fn read_pem(setting: &str, path: &Path) -> Result<String, SettingsError> {
    std::fs::read_to_string(path)
        .map_err(|e| SettingsError::new(setting, format!("cannot read {}: {e}", path.display())))
}

/// The key that signs checkpoints, or `None` when the configuration has no durable one.
///
/// # Errors
/// The EdDSA signing key file cannot be read or holds no Ed25519 private key.
pub fn signer(settings: &Settings) -> Result<Option<CheckpointKey>, SettingsError> {
    let auth = &settings.auth;
    match (auth.algorithm, &auth.signing_key_file, &auth.jwt_secret) {
        (TokenAlgorithm::EdDsa, Some(path), _) => {
            let setting = "auth.signing_key_file";
            let pem = read_pem(setting, path)?;
            let key = CheckpointKey::ed25519_pem(&pem)
                .map_err(|e| SettingsError::new(setting, format!("{}: {e}", path.display())))?;
            Ok(Some(key))
        }
        (TokenAlgorithm::Hs256, _, Some(secret)) => {
            Ok(Some(CheckpointKey::hmac(secret.expose().as_bytes())))
        }
        _ => Ok(None),
    }
}

/// Every key that verifies checkpoints: the token keys, signing or verifying, and
/// `audit.checkpoint_verification_key_files`.
///
/// # Errors
/// A key file cannot be read or holds no Ed25519 key; the error names its setting.
pub fn keyring(settings: &Settings) -> Result<Keyring, SettingsError> {
    let mut keys = Keyring::new();
    if let Some(key) = signer(settings)? {
        keys.add(key.verifying_key());
    }
    if let Some(secret) = &settings.auth.jwt_secret {
        keys.add(VerifyingKey::hmac(secret.expose().as_bytes()));
    }
    let files = [
        (
            "auth.signing_key_file",
            settings
                .auth
                .signing_key_file
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>(),
        ),
        (
            "auth.verification_key_files",
            comma_list(settings.auth.verification_key_files.as_deref())
                .map(str::to_owned)
                .collect(),
        ),
        (
            "audit.checkpoint_verification_key_files",
            comma_list(settings.audit.checkpoint_verification_key_files.as_deref())
                .map(str::to_owned)
                .collect(),
        ),
    ];
    for (setting, paths) in files {
        for path in paths {
            let pem = read_pem(setting, Path::new(&path))?;
            let key = VerifyingKey::ed25519_pem(&pem)
                .map_err(|e| SettingsError::new(setting, format!("{path}: {e}")))?;
            keys.add(key);
        }
    }
    Ok(keys)
}

/// The checkpoint use case over `audit`, signed by `key`.
pub fn use_case(audit: Arc<dyn AuditLog>, key: CheckpointKey) -> AuditCheckpoints {
    AuditCheckpoints::new(audit, Arc::new(key), Arc::new(SystemClock::new()))
}

/// Logs what a request for a checkpoint did. The line of a new checkpoint carries its event
/// and hash: a log shipper that keeps it keeps a head outside the store.
pub fn log_outcome(outcome: &CheckpointOutcome) {
    match outcome {
        CheckpointOutcome::Made(c) => tracing::info!(
            seq = c.seq,
            hash = %c.hash,
            key_id = %c.key_id,
            "audit checkpoint: event {}, hash {}",
            c.seq,
            c.hash
        ),
        CheckpointOutcome::Current(c) => {
            tracing::debug!(seq = c.seq, "audit checkpoint: the last one names the head");
        }
        CheckpointOutcome::EmptyTrail | CheckpointOutcome::NotDue => {}
        CheckpointOutcome::Contradicted { checkpoint, head } => tracing::error!(
            checkpoint_seq = checkpoint.seq,
            head_seq = head.seq,
            "audit trail cut or rewritten: the last checkpoint names event {} with hash {}, \
             the trail's newest event is {} with hash {}; no checkpoint signed (run \
             `users-service audit verify`)",
            checkpoint.seq,
            checkpoint.hash,
            head.seq,
            head.hash
        ),
    }
}

/// `serve`'s checkpoints: one at start-up, then whenever `audit.checkpoint_every` events
/// were appended (looked at every second), and one at shutdown.
pub struct Checkpointer {
    checkpoints: Arc<AuditCheckpoints>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer").finish_non_exhaustive()
    }
}

impl Checkpointer {
    /// Starts the background task, when the configuration has a durable key and a period
    /// (the warning for a missing key is `Settings::warnings`'). Must run inside the actix
    /// runtime.
    ///
    /// # Errors
    /// See [`signer`].
    pub fn start(
        settings: &Settings,
        audit: Arc<dyn AuditLog>,
    ) -> Result<Option<Self>, SettingsError> {
        let Some(every) = settings.audit.every() else {
            tracing::info!(
                "audit checkpoints: only on demand (`users-service audit checkpoint`), \
                 audit.checkpoint_every = 0"
            );
            return Ok(None);
        };
        let Some(key) = signer(settings)? else {
            return Ok(None);
        };
        tracing::info!(
            key_id = key.id(),
            "audit checkpoints: every {every} events, signed by key {}",
            key.id()
        );
        let checkpoints = Arc::new(use_case(audit, key));
        let task = actix_web::rt::spawn(run(Arc::clone(&checkpoints), every));
        Ok(Some(Self { checkpoints, task }))
    }

    /// Stops the task and checkpoints the head one last time (bounded: a store that is down
    /// does not hold the exit up).
    pub async fn stop(self) {
        self.task.abort();
        match tokio::time::timeout(SHUTDOWN_BUDGET, self.checkpoints.checkpoint()).await {
            Ok(Ok(outcome)) => log_outcome(&outcome),
            Ok(Err(e)) => tracing::warn!("audit checkpoint at shutdown failed: {e}"),
            Err(_) => tracing::warn!(
                "audit checkpoint at shutdown gave up after {} s",
                SHUTDOWN_BUDGET.as_secs()
            ),
        }
    }
}

async fn run(checkpoints: Arc<AuditCheckpoints>, every: NonZeroU64) {
    let mut ticker = tokio::time::interval(POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Checkpointing the head at start-up also tells, at once, whether the trail was cut
    // while the service was stopped (a contradicted checkpoint is logged as an error).
    let mut started = false;
    let mut failing = false;
    loop {
        ticker.tick().await;
        let outcome = if started {
            checkpoints.checkpoint_if_due(every).await
        } else {
            checkpoints.checkpoint().await
        };
        match outcome {
            Ok(outcome) => {
                started = true;
                if failing {
                    tracing::info!("audit checkpoints: the store answers again");
                    failing = false;
                }
                log_outcome(&outcome);
            }
            // One line per outage, not one per second.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!("audit checkpoint failed, trying again every second: {e}");
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use adapters_http::token::{Key, TokenService};
    use domain::model::{Email, FullName, Login, PasswordHash, Role, User};
    use domain::ports::{IdGenerator, UuidV4Ids};
    use time::OffsetDateTime;

    use super::*;

    const SECRET: &str = "test-secret-0123456789abcdef-0123456789abcdef";
    const KEY_A: &str = include_str!("../../adapters-http/tests/keys/ed25519-a.pem");

    fn user() -> User {
        User {
            id: UuidV4Ids.new_id(),
            login: Login::parse("ada").unwrap(),
            email: Some(Email::parse("ada@example.org").unwrap()),
            full_name: FullName::parse("Ada").unwrap(),
            phone: None,
            role: Role::Admin,
            grade: None,
            sex: None,
            address: None,
            agent_id: None,
            taxpayer_id: None,
            password_hash: PasswordHash::new("x"),
            active: true,
            blocked: false,
            must_change_password: false,
            failed_logins: 0,
            locked_until: None,
            token_version: 0,
            last_login_at: None,
            last_block_request: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            version: 1,
        }
    }

    /// The `kid` of the tokens `key` signs.
    fn token_kid(key: &Key) -> String {
        let tokens = TokenService::with_keys(
            key,
            &[],
            "users-service".into(),
            "users-service".into(),
            Duration::from_secs(60),
        )
        .unwrap();
        let token = tokens
            .issue(&user(), OffsetDateTime::now_utc())
            .unwrap()
            .token;
        jsonwebtoken::decode_header(&token).unwrap().kid.unwrap()
    }

    #[test]
    fn a_key_has_one_id_for_tokens_and_checkpoints() {
        let hs = CheckpointKey::hmac(SECRET.as_bytes());
        assert_eq!(hs.id(), token_kid(&Key::Hs256(SECRET.as_bytes().to_vec())));
        let ed = CheckpointKey::ed25519_pem(KEY_A).unwrap();
        assert_eq!(ed.id(), token_kid(&Key::Ed25519Private(KEY_A.to_owned())));
    }
}
