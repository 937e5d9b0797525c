//! The `users-service` binary's library: typed configuration, the composition root, the
//! command line and telemetry. The binary (`src/main.rs`) only parses the command line
//! and calls [`commands::run`]; tests reuse the same pieces.
//!
//! # Layout
//! - [`settings`]: [`settings::Settings`], layered defaults → `config/default.toml` →
//!   `config/$USERS_ENV.toml` → `USERS__SECTION__KEY` environment variables, validated
//!   once with errors that name the key.
//! - [`startup`]: the composition root, [`startup::Application`] (`build`, `port`,
//!   `run_until_stopped`), store/hasher/service/token wiring and the bootstrap ADMIN.
//! - [`checkpoints`]: the keys that sign and verify audit checkpoints, and `serve`'s
//!   background task that makes them.
//! - [`instrument`]: metric decorators of the store and hasher ports (durations, store
//!   errors by kind), wired by [`startup`] for `serve`.
//! - [`cli`]: the `clap` command line (`serve`, `create-admin`, `hash-password`,
//!   `migrate`, `check-config`, `audit verify`, `audit checkpoint`).
//! - [`commands`]: what each subcommand does and its exit code (0 ok, 1 runtime
//!   failure, 2 invalid configuration, arguments or input, 3 a tampered audit trail).
//! - [`telemetry`]: `tracing` to standard error, text or JSON, `RUST_LOG` over `log.level`.

pub mod checkpoints;
pub mod cli;
pub mod commands;
pub mod instrument;
pub mod settings;
pub mod startup;
pub mod telemetry;

pub use settings::{Settings, SettingsError, Sources};
pub use startup::{Application, StartupError};
