//! Logs: `tracing` events written to standard error, as text or JSON (`log.format`),
//! filtered by `RUST_LOG` when it is set, else by `log.level`.
//!
//! Standard error, because standard output carries the commands' results (`hash-password`
//! prints a hash, `check-config` a configuration, `serve` its address) and must stay
//! clean for scripts. No password, hash or token is ever given to a log event: the
//! domain types that hold them print `***` even by accident.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, LogSettings, SettingsError};

/// The variable whose filter overrides `log.level`.
pub const RUST_LOG: &str = "RUST_LOG";

/// The filter in force: `RUST_LOG` when set and not empty, else `log.level`.
///
/// # Errors
/// When `RUST_LOG` (or `log.level`) is not a valid filter.
pub fn filter(log: &LogSettings) -> Result<EnvFilter, SettingsError> {
    match std::env::var(RUST_LOG) {
        Ok(directives) if !directives.trim().is_empty() => {
            EnvFilter::try_new(&directives).map_err(|e| SettingsError::new(RUST_LOG, e.to_string()))
        }
        Ok(_) | Err(std::env::VarError::NotPresent) => EnvFilter::try_new(&log.level)
            .map_err(|e| SettingsError::new("log.level", e.to_string())),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(SettingsError::new(RUST_LOG, "not valid UTF-8"))
        }
    }
}

/// Installs the global subscriber. A subscriber already installed (by a test harness, or
/// a second call) is kept.
///
/// # Errors
/// When the filter is invalid, see [`filter`].
pub fn init(log: &LogSettings) -> Result<(), SettingsError> {
    let filter = filter(log)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match log.format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    // Only fails when a subscriber is already set; that one keeps working.
    drop(installed);
    Ok(())
}
