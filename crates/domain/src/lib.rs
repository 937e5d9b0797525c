//! The pure core of users-service: the user model, every business rule, the use cases,
//! and the ports through which they reach the outside world.
//!
//! # Layout
//! - [`model`]: valid-by-construction values (`Login`, `Email`, `PlainPassword`, …),
//!   the nine [`model::Role`]s with the permission matrix, the [`model::User`] entity and
//!   the [`model::Actor`] who acts (rules 2, 5, 7, 8, 12).
//! - [`policy`]: the password policy (rule 3) and the lockout policy (rule 9), whose
//!   decisions (`judge`, `after_failure`) the use cases carry out.
//! - [`ports`]: the traits adapters implement (`UserRepository`, `AuditLog`,
//!   `PasswordHasher`, `Clock`, `IdGenerator`, `SecretGenerator`, `RateLimiter`); mockall
//!   mocks behind the `mocks` feature. The invariants that span users (unique identities,
//!   the last active ADMIN) and a change's audit events are kept by the stores, atomically
//!   with the writes; which users and which events is the domain's to say.
//! - [`service`]: [`service::UserService`], one method per use case of both HTTP dialects.
//! - [`error`]: [`error::DomainError`] and its stable codes.
//! - `testing` (feature `mocks`): fast fakes of the ports for tests.
//!
//! This crate depends on no web framework, database driver, hashing library or async
//! runtime: adapters point at it, never the reverse.

pub mod error;
pub mod model;
pub mod policy;
pub mod ports;
pub mod service;
#[cfg(any(test, feature = "mocks"))]
pub mod testing;

pub use error::DomainError;
