//! The command line: `serve` (default), `create-admin`, `hash-password`, `migrate`,
//! `check-config`, `audit verify`, `audit checkpoint`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Environment variable holding the password of `create-admin`.
pub const ADMIN_PASSWORD_VAR: &str = "USERS_ADMIN_PASSWORD";

const ABOUT: &str = "\
users-service: manages the people who use a system: registration, login, profiles,
accounts, roles, blocking and forced password changes. One process serves two HTTP
dialects over the same accounts: /api/v1/... (FastAPI-style JSON) and /api/auth,
/api/utilisateurs... (French field names, {success, data} envelope), plus /health,
/ready and /metrics.";

const AFTER_HELP: &str = "\
Configuration, each layer overriding the previous one:
  1. built-in defaults             (see them with `users-service check-config`)
  2. <config-dir>/default.toml     optional; <config-dir> is --config-dir,
                                   else $USERS_CONFIG_DIR, else ./config
  3. <config-dir>/$USERS_ENV.toml  optional, e.g. USERS_ENV=production
  4. environment variables USERS__<SECTION>__<KEY>, two underscores each:
       USERS__SERVER__PORT=8080              (port 0 picks a free port)
       USERS__DATABASE__KIND=embedded        (default; or memory, mongo)
       USERS__AUTH__JWT_SECRET=\"$(openssl rand -hex 32)\"
       USERS__BOOTSTRAP__ADMIN_LOGIN=admin USERS__BOOTSTRAP__ADMIN_PASSWORD='...'
       USERS__LOG__FORMAT=json               RUST_LOG=debug overrides log.level
An invalid or unknown key stops the program with one line naming it.

Output: command results go to standard output, logs to standard error.

Exit codes:
  0  success
  1  runtime failure (store unreachable, port already in use, I/O error)
  2  invalid configuration, arguments or input (e.g. a password the policy refuses)
  3  the audit trail was tampered with (`audit verify`: an event altered or removed, a
     forged checkpoint, events removed after the last checkpoint, the expected head
     missing; `audit checkpoint`: the trail ends before its last checkpoint)";

const CREATE_ADMIN_ABOUT: &str = "\
Create an ADMIN account whose owner must change the password at first login.

The password is read from $USERS_ADMIN_PASSWORD, or prompted for (hidden, twice) when
standard input is a terminal. It must satisfy the password policy; the reasons for a
refusal are printed one per line. On success the new account's id is printed on
standard output.

With database.kind = \"memory\" the account lives only in this short-lived process and
is gone when it exits: to give a running memory-backed service its first administrator,
start it with USERS__BOOTSTRAP__ADMIN_LOGIN and USERS__BOOTSTRAP__ADMIN_PASSWORD.";

const HASH_PASSWORD_ABOUT: &str = "\
Read one password from standard input (one line; prompted for, hidden, on a terminal)
and print its hash as a PHC string, with the configured algorithm and parameters
(password.algorithm, password.argon2_*, password.bcrypt_cost). Useful to seed a store.

Example: printf '%s\\n' \"$PASSWORD\" | users-service hash-password";

/// The `users-service` command line.
#[derive(Debug, Parser)]
#[command(
    name = "users-service",
    version,
    about = ABOUT,
    after_help = AFTER_HELP,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Directory of default.toml and $USERS_ENV.toml [default: $USERS_CONFIG_DIR or ./config]
    #[arg(long, value_name = "DIR", global = true)]
    pub config_dir: Option<PathBuf>,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The command to run, `serve` by default.
    pub fn action(&self) -> Command {
        self.command.clone().unwrap_or(Command::Serve)
    }
}

/// The subcommands.
#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default when no command is given)
    Serve,
    /// Create an ADMIN account (password from $USERS_ADMIN_PASSWORD or a prompt)
    #[command(long_about = CREATE_ADMIN_ABOUT)]
    CreateAdmin(CreateAdminArgs),
    /// Hash a password read from standard input and print the PHC string
    #[command(long_about = HASH_PASSWORD_ABOUT)]
    HashPassword,
    /// Apply pending store migrations (MongoDB; the memory and embedded stores have none)
    Migrate,
    /// Validate the configuration and print the effective values, secrets masked as "***"
    CheckConfig(CheckConfigArgs),
    /// Work on the audit trail of the configured store
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// The subcommands of `audit`.
#[derive(Clone, Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and the signed checkpoints; exit code 3 when an event was
    /// altered or removed, a checkpoint forged, or the trail cut at its end
    #[command(long_about = AUDIT_VERIFY_ABOUT)]
    Verify(VerifyArgs),
    /// Sign and store a checkpoint of the trail's head now
    #[command(long_about = AUDIT_CHECKPOINT_ABOUT)]
    Checkpoint,
}

/// Arguments of `audit verify`.
#[derive(Clone, Debug, Args)]
pub struct VerifyArgs {
    /// A head kept outside the store (the hash `audit verify` printed, or a checkpoint's
    /// from the logs): the trail must still hold an event with this hash
    #[arg(long, value_name = "HASH")]
    pub expect_head: Option<String>,
}

const AUDIT_VERIFY_ABOUT: &str = "\
Check the audit trail: its hash chain from the first event to the last, and its signed
checkpoints.

Each event stores the hash of the one before it, and its own hash covers that link: an
event altered or removed in the store breaks the chain there. Removing the newest events
leaves a valid, shorter chain; checkpoints show it. A checkpoint names an event and its
hash, signed with the token signing key (auth.jwt_secret with HS256, auth.signing_key_file
with EdDSA), which the store does not hold. Every checkpoint's signature is checked (a bad
one is tampering); the chain must reach the event each names, with that hash. A checkpoint
signed by a key this configuration lacks is not evidence: it is reported, and left out
(keep retired keys in audit.checkpoint_verification_key_files).

Prints the number of events, the hash of the last one and the last checkpoint. Keep the
head elsewhere and give it back with --expect-head: the trail must still hold it, which
also catches a cut that removed the checkpoints with the events.

Exit codes: 0 intact, 3 tampered (what was found is printed on standard error),
1 the store cannot be read, 2 invalid configuration or --expect-head.";

const AUDIT_CHECKPOINT_ABOUT: &str = "\
Sign a checkpoint of the audit trail's head (its last event's number and hash) with the
token signing key and store it beside the trail. `serve` makes one at start-up, every
audit.checkpoint_every events and at shutdown; this makes one now, e.g. before a backup.
On the embedded store, stop the service first (one process per file).

Needs a durable key: auth.jwt_secret (HS256) or auth.signing_key_file (EdDSA). Prints the
checkpoint, or that the last one already names the head.

Exit codes: 0 done (or nothing to do), 3 the trail ends before its last checkpoint (it was
cut: nothing is signed), 1 the store cannot be read or written, 2 invalid configuration
or no durable key.";

/// Arguments of `create-admin`.
#[derive(Clone, Debug, Args)]
pub struct CreateAdminArgs {
    /// Login of the new administrator (3-64 letters, digits, . _ - @ +)
    #[arg(long, value_name = "LOGIN")]
    pub login: String,
    /// Optional e-mail address
    #[arg(long, value_name = "EMAIL")]
    pub email: Option<String>,
}

/// Arguments of `check-config`.
#[derive(Clone, Debug, Args)]
pub struct CheckConfigArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = ConfigFormat::Toml)]
    pub format: ConfigFormat,
}

/// How `check-config` prints the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConfigFormat {
    /// TOML, the format of the configuration files
    Toml,
    /// JSON
    Json,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        <Cli as CommandFactory>::command().debug_assert();
    }

    #[test]
    fn audit_verify_takes_an_expected_head() {
        let cli = Cli::try_parse_from(["users-service", "audit", "verify", "--expect-head", "ab"]);
        assert!(matches!(
            cli.map(|c| c.action()),
            Ok(Command::Audit(AuditCommand::Verify(VerifyArgs { expect_head: Some(h) }))) if h == "ab"
        ));
        let cli = Cli::try_parse_from(["users-service", "audit", "checkpoint"]);
        assert!(matches!(
            cli.map(|c| c.action()),
            Ok(Command::Audit(AuditCommand::Checkpoint))
        ));
    }

    #[test]
    fn serve_is_the_default() {
        let cli = Cli::try_parse_from(["users-service"]);
        assert!(matches!(cli.map(|c| c.action()), Ok(Command::Serve)));
    }
}
