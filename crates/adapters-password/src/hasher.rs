//! The `PasswordHasher` adapter: argon2id by default, bcrypt for accounts imported from
//! the old service (rule 11), always on tokio's blocking pool and never more than
//! `max_concurrent` runs at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::Block;
use argon2::password_hash::{self as phc, ParamsString, SaltString};
use async_trait::async_trait;
use domain::model::{PasswordHash, PlainPassword};
use domain::ports::{HashError, PasswordHasher};
use rand::RngCore;
use rand::rngs::OsRng;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use crate::config::{Algorithm, Argon2Params, HasherConfig};

/// bcrypt's cost bounds; the crate refuses anything outside them.
const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// Bytes of salt in new argon2 hashes: the length RFC 9106 recommends.
const SALT_LEN: usize = 16;

/// Bytes of the random secret behind `dummy_hash`.
const DUMMY_SECRET_LEN: usize = 32;

// Ceilings on the cost a stored hash may ask `verify` for. The parameters come from the
// store, and the argon2 crate allocates `m` KiB up front: a corrupt or planted
// `m=4294967295` would abort the whole process on allocation failure, and a bcrypt cost
// of 31 would hold a blocking thread and a permit for days. Hashes above both the
// ceiling and the configured value are treated as malformed (`Ok(false)`). The ceilings
// sit far above any setting in use (OWASP's strongest argon2id option is m=47104, t=1),
// so they only ever stop absurd values.
/// Largest argon2 memory cost `verify` accepts, in KiB (256 MiB).
const VERIFY_MAX_MEMORY_KIB: u32 = 256 * 1024;
/// Largest argon2 iteration count `verify` accepts.
const VERIFY_MAX_ITERATIONS: u32 = 16;
/// Largest bcrypt cost `verify` accepts (2^16 rounds, a few seconds).
const VERIFY_MAX_BCRYPT_COST: u32 = 16;

/// Hashes with argon2id (or bcrypt, if configured) and verifies argon2 and bcrypt hashes.
///
/// Cloning is cheap and clones share the concurrency bound.
#[derive(Clone, Debug)]
pub struct Hasher {
    target: Target,
    limits: Limits,
    dummy: PasswordHash,
    permits: Arc<Semaphore>,
    memory: Arc<Workspaces>,
}

/// argon2's working memory (`m` KiB: 19 MiB with the OWASP default), kept from one run to
/// the next while hashing is busy and freed [`LINGER`] after the last run.
///
/// Why: allocating it for every run costs fresh pages (page faults, the kernel zeroing
/// 19 MiB: measured +45 % CPU per login), and keeping it for good costs 19 MiB per hashing
/// slot while the service idles. Freed, it goes back to the OS (the binary's allocator
/// setting serves such sizes with their own mappings).
#[derive(Debug, Default)]
struct Workspaces {
    /// Hash and verify calls between their start and the end of their job.
    pending: AtomicUsize,
    spare: Mutex<Spare>,
}

/// How long a spare buffer outlives the last run: longer than the gap between the
/// requests of a busy service, shorter than the pause after which it counts as idle.
const LINGER: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
struct Spare {
    buffers: Vec<Vec<Block>>,
    /// Bumped at every return: a scheduled release only frees what nothing used since.
    returns: u64,
}

impl Workspaces {
    /// Counts a request as pending until the guard is dropped.
    fn enter(self: &Arc<Self>) -> Pending {
        self.pending.fetch_add(1, Ordering::AcqRel);
        Pending(Arc::clone(self))
    }

    /// At least `blocks` blocks: a spare buffer, or a new one.
    fn take(&self, blocks: usize) -> Vec<Block> {
        let mut memory = self
            .spare
            .lock()
            .ok()
            .and_then(|mut spare| spare.buffers.pop())
            .unwrap_or_default();
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        memory
    }

    /// Keeps `memory` as a spare; when no other request is pending, schedules the release
    /// of the spares in [`LINGER`] (at once outside a tokio runtime: at start-up).
    fn give_back(self: &Arc<Self>, memory: Vec<Block>) {
        let Ok(mut spare) = self.spare.lock() else {
            return;
        };
        spare.buffers.push(memory);
        spare.returns = spare.returns.wrapping_add(1);
        if self.pending.load(Ordering::Acquire) > 1 {
            return;
        }
        let Ok(runtime) = Handle::try_current() else {
            spare.buffers.clear();
            return;
        };
        let (pool, returns) = (Arc::clone(self), spare.returns);
        runtime.spawn(async move {
            tokio::time::sleep(LINGER).await;
            pool.release_unless_used_since(returns);
        });
    }

    fn release_unless_used_since(&self, returns: u64) {
        if let Ok(mut spare) = self.spare.lock()
            && spare.returns == returns
            && self.pending.load(Ordering::Acquire) == 0
        {
            spare.buffers = Vec::new();
        }
    }

    /// Runs `argon2` into `out` on a working buffer of this pool.
    fn argon2(
        self: &Arc<Self>,
        argon2: &argon2::Argon2<'_>,
        blocks: usize,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), argon2::Error> {
        let mut memory = self.take(blocks);
        let result = argon2.hash_password_into_with_memory(password, salt, out, &mut memory);
        self.give_back(memory);
        result
    }
}

/// A pending request of [`Workspaces`].
struct Pending(Arc<Workspaces>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What new hashes are made with, once validated.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// argon2id v19 with these parameters (output length pinned to 32 bytes, so that
    /// comparing them with a stored hash's parameters also compares the output length).
    Argon2id(argon2::Params),
    /// bcrypt (`$2b$`) with this cost.
    Bcrypt { cost: u32 },
}

/// Largest costs `verify` accepts from a stored hash: the configured ones or the
/// ceilings above, whichever is higher.
#[derive(Clone, Copy, Debug)]
struct Limits {
    argon2_memory_kib: u32,
    argon2_iterations: u32,
    bcrypt_cost: u32,
}

/// The formats `verify` recognises, told apart by their prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// PHC string of any argon2 variant: `$argon2id$`, `$argon2i$`, `$argon2d$`.
    Argon2,
    /// Modular-crypt bcrypt: `$2a$`, `$2b$`, `$2y$`. `$2x$` is left out on purpose: it
    /// marks hashes of crypt_blowfish's sign-extension bug, which the bcrypt crate would
    /// compute as `$2b$` and so get wrong for non-ASCII passwords.
    Bcrypt,
}

impl Format {
    fn of(hash: &str) -> Option<Self> {
        const ARGON2: [&str; 3] = ["$argon2id$", "$argon2i$", "$argon2d$"];
        const BCRYPT: [&str; 3] = ["$2a$", "$2b$", "$2y$"];
        if ARGON2.iter().any(|p| hash.starts_with(p)) {
            Some(Self::Argon2)
        } else if BCRYPT.iter().any(|p| hash.starts_with(p)) {
            Some(Self::Bcrypt)
        } else {
            None
        }
    }
}

impl Hasher {
    /// Validates `config` and computes the dummy hash (one hash at the configured cost,
    /// on the calling thread: call it at start-up, not from a request).
    ///
    /// # Errors
    /// `HashError` when the argon2 parameters are refused by the argon2 crate (even when
    /// bcrypt is configured: a wrong setting should not wait for the day someone
    /// switches algorithm), when the bcrypt cost is outside 4..=31, when `max_concurrent`
    /// is 0 (every request would wait forever) or too large for a semaphore, or when the
    /// OS random generator fails.
    pub fn new(config: HasherConfig) -> Result<Self, HashError> {
        let argon2 = argon2_params(config.argon2)?;
        let target = match config.algorithm {
            Algorithm::Argon2id => Target::Argon2id(argon2),
            Algorithm::Bcrypt { cost } if BCRYPT_COSTS.contains(&cost) => Target::Bcrypt { cost },
            Algorithm::Bcrypt { cost } => {
                return Err(HashError(format!(
                    "bcrypt cost must be 4 to 31, got {cost}"
                )));
            }
        };
        if !(1..=Semaphore::MAX_PERMITS).contains(&config.max_concurrent) {
            return Err(HashError(format!(
                "max_concurrent must be 1 to {}, got {}",
                Semaphore::MAX_PERMITS,
                config.max_concurrent
            )));
        }
        let limits = Limits {
            argon2_memory_kib: config.argon2.memory_kib.max(VERIFY_MAX_MEMORY_KIB),
            argon2_iterations: config.argon2.iterations.max(VERIFY_MAX_ITERATIONS),
            bcrypt_cost: match target {
                Target::Bcrypt { cost } => cost.max(VERIFY_MAX_BCRYPT_COST),
                Target::Argon2id(_) => VERIFY_MAX_BCRYPT_COST,
            },
        };
        // A real hash of a secret nobody knows: verifying against it takes as long as
        // verifying a real user's hash, and no password can match it.
        let mut secret = [0u8; DUMMY_SECRET_LEN];
        fill_random(&mut secret)?;
        let memory = Arc::new(Workspaces::default());
        let dummy = PasswordHash::new(target.hash(&secret, &memory)?);
        Ok(Self {
            target,
            limits,
            dummy,
            permits: Arc::new(Semaphore::new(config.max_concurrent)),
            memory,
        })
    }

    /// Runs `job` on tokio's blocking pool once one of the `max_concurrent` permits is
    /// free.
    ///
    /// The permit is taken before spawning, so requests beyond the bound wait here,
    /// asynchronously, instead of each occupying a blocking thread. It then moves into
    /// the job, so it is released when the work ends, even if the caller stopped waiting:
    /// a cancelled request cannot free a slot while its hash is still running.
    async fn run_blocking<T, F>(&self, job: F) -> Result<T, HashError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // Checked first so that a call from outside a tokio runtime is an error, not a
        // panic inside `spawn_blocking`.
        let runtime = Handle::try_current()
            .map_err(|e| HashError(format!("no tokio runtime to hash on: {e}")))?;
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| HashError("hashing slots closed".to_owned()))?;
        runtime
            .spawn_blocking(move || {
                let _permit = permit;
                job()
            })
            .await
            .map_err(|e| HashError(format!("hashing task failed: {e}")))
    }
}

#[async_trait]
impl PasswordHasher for Hasher {
    async fn hash(&self, password: &PlainPassword) -> Result<PasswordHash, HashError> {
        // The job must own what it reads: it may outlive this call if the caller is
        // cancelled.
        let password = password.clone();
        let target = self.target.clone();
        let memory = Arc::clone(&self.memory);
        let _pending = self.memory.enter();
        let encoded = self
            .run_blocking(move || target.hash(password.expose().as_bytes(), &memory))
            .await??;
        Ok(PasswordHash::new(encoded))
    }

    async fn verify(
        &self,
        password: &PlainPassword,
        hash: &PasswordHash,
    ) -> Result<bool, HashError> {
        // Unrecognised formats are answered at once: there is nothing to compute.
        let Some(format) = Format::of(hash.as_str()) else {
            return Ok(false);
        };
        let password = password.clone();
        let hash = hash.clone();
        let limits = self.limits;
        let memory = Arc::clone(&self.memory);
        let _pending = self.memory.enter();
        self.run_blocking(move || {
            let password = password.expose().as_bytes();
            match format {
                Format::Argon2 => verify_argon2(password, hash.as_str(), limits, &memory),
                Format::Bcrypt => verify_bcrypt(password, hash.as_str(), limits),
            }
        })
        .await
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let hash = hash.as_str();
        match (&self.target, Format::of(hash)) {
            // Any difference counts, stronger included: a hash is current only when it is
            // exactly what `hash` would produce today.
            (Target::Argon2id(params), Some(Format::Argon2)) => !is_argon2id_with(hash, params),
            (Target::Bcrypt { cost }, Some(Format::Bcrypt)) => bcrypt_cost(hash) != Some(*cost),
            // Another algorithm than the configured one, or unparsable.
            _ => true,
        }
    }

    fn dummy_hash(&self) -> PasswordHash {
        self.dummy.clone()
    }
}

impl Target {
    /// Hashes `password` on the current thread.
    fn hash(&self, password: &[u8], memory: &Arc<Workspaces>) -> Result<String, HashError> {
        let failed = |e: &dyn std::fmt::Display| HashError(format!("argon2: {e}"));
        match self {
            Self::Argon2id(params) => {
                let mut salt = [0u8; SALT_LEN];
                fill_random(&mut salt)?;
                let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
                memory
                    .argon2(
                        &argon2_id(params.clone()),
                        params.block_count(),
                        password,
                        &salt,
                        &mut out,
                    )
                    .map_err(|e| failed(&e))?;
                // The PHC string the crate's `hash_password` would write.
                let salt = SaltString::encode_b64(&salt).map_err(|e| failed(&e))?;
                let encoded = phc::PasswordHash {
                    algorithm: argon2::ARGON2ID_IDENT,
                    version: Some(argon2::Version::V0x13.into()),
                    params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
                    salt: Some(salt.as_salt()),
                    hash: Some(phc::Output::new(&out).map_err(|e| failed(&e))?),
                }
                .to_string();
                Ok(encoded)
            }
            // bcrypt reads at most 72 bytes: a longer password would be silently cut, and
            // every password sharing its first 72 bytes would then match. We refuse
            // instead of pre-hashing (e.g. HMAC-SHA256 then bcrypt), because a pre-hashed
            // bcrypt string looks like a plain one yet no other bcrypt implementation
            // could verify it, which defeats the only reason to configure bcrypt
            // (staying readable by the old service). argon2id, the default, has no such
            // limit. The crate's non-truncating variant refuses from 72 bytes on, not 73:
            // see `verify_bcrypt` for why 72 itself is ambiguous.
            Self::Bcrypt { cost } => {
                bcrypt::non_truncating_hash(password, *cost).map_err(|e| match e {
                    bcrypt::BcryptError::Truncation(_) => HashError(
                        "bcrypt cannot hash passwords of 72 bytes or more without \
                         truncating them; use argon2id"
                            .to_owned(),
                    ),
                    other => HashError(format!("bcrypt: {other}")),
                })
            }
        }
    }
}

/// The argon2id v19 instance new hashes are made with.
fn argon2_id(params: argon2::Params) -> argon2::Argon2<'static> {
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// `config` as argon2 parameters, with the crate's own validation.
fn argon2_params(config: Argon2Params) -> Result<argon2::Params, HashError> {
    argon2::Params::new(
        config.memory_kib,
        config.iterations,
        config.parallelism,
        Some(argon2::Params::DEFAULT_OUTPUT_LEN),
    )
    .map_err(|e| {
        HashError(format!(
            "invalid argon2 parameters m={}, t={}, p={}: {e}",
            config.memory_kib, config.iterations, config.parallelism
        ))
    })
}

/// Whether `hash` is an argon2id v19 PHC string with exactly `params` (output length
/// included).
fn is_argon2id_with(hash: &str, params: &argon2::Params) -> bool {
    let Ok(parsed) = phc::PasswordHash::new(hash) else {
        return false;
    };
    parsed.algorithm == argon2::ARGON2ID_IDENT
        && parsed.version == Some(argon2::Version::V0x13.into())
        && parsed.salt.is_some()
        && argon2::Params::try_from(&parsed).is_ok_and(|stored| &stored == params)
}

/// The cost of a well-formed bcrypt hash: `$2a$`, `$2b$` or `$2y$`, a two-digit cost,
/// `$`, then 53 characters of bcrypt's base64 alphabet (22 of salt, 31 of hash).
///
/// Checked here rather than left to the bcrypt crate, whose parser is lenient (it skips
/// empty `$`-fields and decodes the base64 only when verifying), so that `needs_rehash`
/// calls a damaged hash unparsable.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let rest = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .find_map(|prefix| hash.strip_prefix(prefix))?;
    let (cost, encoded) = rest.split_once('$')?;
    let well_formed = cost.len() == 2
        && cost.bytes().all(|b| b.is_ascii_digit())
        && encoded.len() == 53
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
    if well_formed { cost.parse().ok() } else { None }
}

/// Verifies an argon2 PHC string of any variant; malformed or over-limit is `false`.
///
/// What the crate's `verify_password` does, on a buffer of `memory` instead of a fresh
/// allocation: the variant, version, parameters (output length included) and salt come
/// from the stored string, and the outputs are compared in constant time
/// (`phc::Output`'s `PartialEq`).
fn verify_argon2(password: &[u8], hash: &str, limits: Limits, memory: &Arc<Workspaces>) -> bool {
    let Ok(parsed) = phc::PasswordHash::new(hash) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > limits.argon2_memory_kib || params.t_cost() > limits.argon2_iterations {
        return false;
    }
    let (Ok(algorithm), Some(salt), Some(expected)) = (
        argon2::Algorithm::try_from(parsed.algorithm),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let Ok(version) = parsed
        .version
        .map_or(Ok(argon2::Version::default()), argon2::Version::try_from)
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = [0u8; phc::Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = argon2::Argon2::new(algorithm, version, params);
    memory.argon2(&argon2, blocks, password, salt, out).is_ok()
        && phc::Output::new(out).is_ok_and(|computed| computed == expected)
}

/// Verifies a bcrypt hash; malformed, over-limit or a password bcrypt would truncate is
/// `false`.
///
/// bcrypt hashes the password followed by a NUL byte, cut to 72 bytes. A password of up
/// to 71 bytes therefore always keeps its NUL and is hashed unambiguously; from 72 bytes
/// on, the NUL (and anything past byte 72) is dropped, so the hash of a 100-byte password
/// made by a truncating implementation (the old service, OpenBSD, passlib) matches its
/// first 72 bytes and anything that follows them. `non_truncating_verify` refuses those
/// passwords, so an attacker who learns the first 72 bytes of a long password gains
/// nothing. The price: an imported account whose real password is 72 bytes or longer
/// cannot log in and needs a reset (there is no way to tell it apart from the attack).
fn verify_bcrypt(password: &[u8], hash: &str, limits: Limits) -> bool {
    match bcrypt_cost(hash) {
        Some(cost) if cost <= limits.bcrypt_cost => {
            // Compares in constant time (`subtle`); a truncation refusal is an error,
            // hence `false`.
            bcrypt::non_truncating_verify(password, hash).unwrap_or(false)
        }
        _ => false,
    }
}

/// Fills `buf` from the operating system's generator.
fn fill_random(buf: &mut [u8]) -> Result<(), HashError> {
    OsRng
        .try_fill_bytes(buf)
        .map_err(|e| HashError(format!("OS random generator failed: {e}")))
}

#[cfg(test)]
mod tests;
