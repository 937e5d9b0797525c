//! MongoDB implementation of `domain::ports::UserRepository`, and the runner of the
//! versioned migrations in `migrations/`. Works on MongoDB 6/7 and on FerretDB 1.x: no
//! transactions, collations or partial indexes.
//!
//! # Layout
//! - [`MongoUserRepository`] (`repository.rs`): the adapter. [`connect`] prepares a
//!   client without touching the network; every call is bounded by [`MongoOptions`]
//!   (about 2 s when the store is down, then `RepoError::Unavailable`), and the driver
//!   reconnects by itself when the store returns.
//! - `document.rs`: `UserDocument`, the storage shape of a user, separate from the
//!   domain's `User`, and the conversions both ways; reading re-validates every field
//!   with the domain's parsers, so a corrupt document is `RepoError::Other`, never a panic.
//! - `query.rs`: look-up and list filters; the search as anchored, regex-escaped prefixes.
//! - `error.rs`: driver errors to `RepoError`; duplicate keys recognised on MongoDB
//!   (code 11000, index name or `keyPattern`) and on FerretDB (11000 without index on
//!   insert, code 1 with SQLite's `UNIQUE constraint failed` on update).
//! - `audit.rs`: the audit trail (collection `audit_events`), appended without
//!   transactions: `_id` is the event's number, so racing appends cannot share one.
//! - `outbox.rs`: a write's audit events travel on the user's document (`_outbox`) in the
//!   same single-document write, then move to the trail once; deletions mark first.
//! - `admin_lease.rs`: the writes that take an active ADMIN out hold one lease (`_locks`)
//!   across replicas while they count the others and write (rule 8 without transactions).
//! - `rekey.rs`: migration steps in Rust (`rekey_identities`, migration `0004`).
//! - `write_gate.rs`: serialises this process's writes to one user, because FerretDB 1.x
//!   does not apply updates atomically (see there).
//! - [`migrate`] (`migrate.rs`): the [`Migrator`], its [`MigrationReport`] and
//!   [`MigrationError`]; the files are embedded at compile time by `build.rs`, so the
//!   binary needs none at run time.
//!
//! # Storage
//! Collection `users`, one document per user: `_id` is the UUID as canonical text;
//! `login_lc` and `email_lc` (case-folded, `email_lc` absent without e-mail) carry the
//! unique indexes; `name_words` (the case-folded words of the full name) serves the
//! prefix search; times are BSON dates (milliseconds); `version` drives optimistic
//! concurrency. The indexes are created by migrations `0001` and `0002`, never by this
//! code: run [`migrate`] (or [`MongoUserRepository::migrate`]) before serving.
//!
//! # FerretDB 1.x
//! The tests run against FerretDB 1.24 (SQLite backend), which differs from MongoDB in
//! ways this crate works around, each measured there:
//! - updates are read-modify-write without a lock, so concurrent `$inc` lose increments
//!   and two updates filtered on one `version` can both win: `write_gate.rs` serialises
//!   this process's writes to a user (enough for one replica; use MongoDB for several);
//! - a unique-index violation on update is code 1 with SQLite's message, not 11000, and
//!   11000 on insert does not name the index: `error.rs` reads both, and otherwise asks
//!   the store who holds the login or e-mail;
//! - `null` is a value for a unique index, so absent values are absent fields;
//! - `findAndModify` refuses a projection, so `reserve_login_attempt` reads whole documents;
//! - only an equality on a string `_id` becomes a primary-key look-up, one reason ids are
//!   stored as text.
//!
//! [`connect`]: MongoUserRepository::connect

mod admin_lease;
mod audit;
mod collections;
mod document;
mod error;
pub mod migrate;
mod migration_name;
mod outbox;
mod query;
mod rekey;
mod repository;
mod trail;
mod write_gate;

pub use admin_lease::LOCKS_COLLECTION;
pub use collections::{AUDIT_COLLECTION, CHECKPOINT_COLLECTION, MAX_PAGE, USERS_COLLECTION};
pub use migrate::{Migration, MigrationError, MigrationReport, Migrator, migrate};
pub use repository::{MongoOptions, MongoUserRepository};
