//! Fast, deterministic test doubles of the ports, for this crate's tests and for adapters'
//! (enabled by the `mocks` feature, next to the mockall mocks). Never used in production.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::model::{PasswordHash, PlainPassword};
use crate::ports::{HashError, PasswordHasher, SecretGenerator};

/// A reversible "hasher" (`fake$<password>`) that counts its calls: exercises login without
/// argon2's cost. Hashes starting with `legacy$` verify too but count as outdated, like
/// bcrypt hashes under an argon2id configuration.
#[derive(Debug, Default)]
pub struct PlainTextHasher {
    /// Number of `verify` calls so far.
    pub verifies: AtomicU64,
    /// Number of `hash` calls so far.
    pub hashes: AtomicU64,
}

#[async_trait]
impl PasswordHasher for PlainTextHasher {
    async fn hash(&self, password: &PlainPassword) -> Result<PasswordHash, HashError> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        Ok(PasswordHash::new(format!("fake${}", password.expose())))
    }

    async fn verify(
        &self,
        password: &PlainPassword,
        hash: &PasswordHash,
    ) -> Result<bool, HashError> {
        self.verifies.fetch_add(1, Ordering::SeqCst);
        let stored = hash.as_str();
        let plain = stored
            .strip_prefix("fake$")
            .or_else(|| stored.strip_prefix("legacy$"));
        Ok(plain == Some(password.expose()))
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        !hash.as_str().starts_with("fake$")
    }

    fn dummy_hash(&self) -> PasswordHash {
        PasswordHash::new("fake$\u{0}dummy")
    }
}

/// The temporary password [`FixedSecrets`] hands out.
pub const TEMPORARY_PASSWORD: &str = "Tmp-9f8e7d6c5b4a-Qz!";

/// Always generates [`TEMPORARY_PASSWORD`], so tests can log in with it.
#[derive(Debug, Default)]
pub struct FixedSecrets;

impl SecretGenerator for FixedSecrets {
    fn temporary_password(&self) -> PlainPassword {
        PlainPassword::new(TEMPORARY_PASSWORD).unwrap_or_else(|_| unreachable!("short constant"))
    }
}
