//! Password adapters of users-service: the [`Hasher`] behind the domain's
//! `PasswordHasher` port (rule 11) and the [`OsSecretGenerator`] behind its
//! `SecretGenerator` port (rule 13).
//!
//! # Layout
//! - [`config`]: [`HasherConfig`], with the [`Algorithm`] of new hashes (argon2id by
//!   default, or bcrypt) and the [`Argon2Params`] (OWASP's m=19456, t=2, p=1 by default).
//! - `hasher`: [`Hasher`]. New hashes use the configured algorithm; `verify` recognises
//!   argon2 PHC strings (`$argon2id$`, `$argon2i$`, `$argon2d$`) and bcrypt
//!   (`$2a$`, `$2b$`, `$2y$`) so that accounts imported from the old service keep working,
//!   and `needs_rehash` tells login when to upgrade a stored hash. Every hash and
//!   verification runs on tokio's blocking pool, at most `max_concurrent` at a time.
//! - `secret`: [`OsSecretGenerator`], 24-character temporary passwords (about 145 bits)
//!   that the default password policy accepts.
//!
//! Passwords never appear in errors; `HashError` messages describe the failure only.

pub mod config;
mod hasher;
mod secret;

pub use config::{Algorithm, Argon2Params, HasherConfig};
pub use hasher::Hasher;
pub use secret::OsSecretGenerator;
