//! Typed settings of the hasher. Validation happens once, in `Hasher::new`, so a bad
//! setting stops the service at start-up instead of failing every login.

use std::num::NonZeroUsize;

/// Argon2 cost parameters, as written in a PHC string (`m=…,t=…,p=…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory cost, in KiB (`m`).
    pub memory_kib: u32,
    /// Number of passes over the memory (`t`).
    pub iterations: u32,
    /// Degree of parallelism (`p`).
    pub parallelism: u32,
}

impl Argon2Params {
    /// OWASP's recommended argon2id setting (m=19456 KiB, t=2, p=1), the default of rule 11.
    pub const OWASP: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::OWASP
    }
}

/// The algorithm new hashes are made with. Verification accepts every supported
/// algorithm whatever this says, so that switching it never locks anyone out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// argon2id with `HasherConfig::argon2` (rule 11's default).
    #[default]
    Argon2id,
    /// bcrypt with this cost (log2 of the rounds, 4 to 31); for deployments that must
    /// stay readable by the old service.
    Bcrypt {
        /// log2 of the number of rounds.
        cost: u32,
    },
}

impl Algorithm {
    /// bcrypt's usual cost (2^12 rounds, about 250 ms on one core).
    pub const DEFAULT_BCRYPT_COST: u32 = 12;

    /// bcrypt at [`Self::DEFAULT_BCRYPT_COST`].
    pub const BCRYPT: Self = Self::Bcrypt {
        cost: Self::DEFAULT_BCRYPT_COST,
    };
}

/// Everything `Hasher::new` needs.
///
/// The bcrypt cost lives in [`Algorithm::Bcrypt`] rather than in a field of its own, so
/// there is exactly one place to set it and no field that is silently ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HasherConfig {
    /// Algorithm of new hashes.
    pub algorithm: Algorithm,
    /// Parameters of new argon2id hashes; also the reference `needs_rehash` compares
    /// stored argon2 hashes with when argon2id is configured.
    pub argon2: Argon2Params,
    /// Most hashes or verifications running at once; further requests wait their turn
    /// without holding a thread. Each argon2 run holds `argon2.memory_kib` of memory, so
    /// this also bounds the memory hashing can take.
    pub max_concurrent: usize,
}

impl Default for HasherConfig {
    /// argon2id with OWASP parameters, one concurrent hash per CPU.
    fn default() -> Self {
        Self {
            algorithm: Algorithm::default(),
            argon2: Argon2Params::default(),
            // Hashing is CPU-bound: more runs than cores only adds latency and memory.
            max_concurrent: std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        }
    }
}
