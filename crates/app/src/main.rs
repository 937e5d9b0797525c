//! `users-service`: see `users-service --help`.

use std::process::ExitCode;

use app::cli::Cli;
use app::startup::EXIT_INVALID;
use clap::Parser;

fn main() -> ExitCode {
    return_large_buffers_to_the_os();
    actix_web::rt::System::new().block_on(run())
}

/// Tunes glibc's allocator for a service whose big allocations are argon2's buffers.
///
/// - Every allocation of 1 MiB or more gets its own mapping, returned to the OS when
///   freed. Why: each argon2id run needs a 19 MiB buffer (OWASP's m=19456) on one of
///   tokio's blocking threads; glibc's default threshold adapts upwards after the first
///   such buffer is freed, after which they come from per-thread arenas that keep the
///   memory. Measured: 4.2 GiB resident after a login storm, 0.6 GiB idle; with this,
///   74 MiB and 30 MiB. The hasher reuses its buffers while it is busy
///   (adapters-password), so a storm does not pay for fresh pages at every hash.
/// - At most two arenas (glibc's default is 8 per core): the blocking threads each got
///   their own, each keeping its free fragments (measured: -3 MiB idle after 10,000
///   registrations, no throughput change within noise).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn return_large_buffers_to_the_os() {
    const THRESHOLD: libc::c_int = 1024 * 1024;
    const ARENAS: libc::c_int = 2;
    // SAFETY: mallopt only changes allocator parameters (under glibc's own lock), with
    // valid values, before any thread is started. Its result (0 when a value is refused)
    // is not needed: the allocator works either way.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
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
