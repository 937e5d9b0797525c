//! `users-service`: see `users-service --help`.

use std::process::ExitCode;

use app::cli::Cli;
use app::startup::EXIT_INVALID;
use clap::Parser;

fn main() -> ExitCode {
    return_large_buffers_to_the_os();
    actix_web::rt::System::new().block_on(run())
}

/// Makes glibc serve every allocation of 1 MiB or more with its own mapping, returned to
/// the OS when freed.
///
/// Why: each argon2id run needs a 19 MiB buffer (OWASP's m=19456), on one of tokio's
/// blocking threads. glibc's default threshold adapts upwards after the first such buffer
/// is freed, after which they come from per-thread arenas that keep the memory: measured,
/// 4.2 GiB resident after a login storm, 0.6 GiB idle. Fixed at 1 MiB: 0.1 GiB peak.
/// The hasher keeps its buffers while requests queue (adapters-password), so a storm
/// does not pay for fresh pages at every hash.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn return_large_buffers_to_the_os() {
    const THRESHOLD: libc::c_int = 1024 * 1024;
    // SAFETY: mallopt only changes allocator parameters (it takes glibc's arena lock);
    // called before any thread is started. Its result (0 on an invalid value) is not
    // needed: the value is valid, and the allocator works either way.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_buffers_to_the_os() {}

async fn run() -> ExitCode {
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
