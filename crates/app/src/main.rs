//! `users-service`: see `users-service --help`.

use std::process::ExitCode;

use app::cli::Cli;
use app::startup::EXIT_INVALID;
use clap::Parser;

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` land here too, with exit code 0.
            drop(e.print());
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_INVALID));
        }
    };
    app::commands::run(cli).await
}
