//! What each subcommand does, and how its outcome becomes an exit code.

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;

use domain::DomainError;
use domain::model::{Email, Login, PlainPassword};
use domain::ports::{AuditLog, PasswordHasher};
use domain::service::checkpoint::CheckpointOutcome;

use crate::checkpoints;
use crate::cli::{
    ADMIN_PASSWORD_VAR, AuditCommand, CheckConfigArgs, Cli, Command, ConfigFormat, CreateAdminArgs,
    VerifyArgs,
};
use crate::settings::{DatabaseKind, Settings, SettingsError, Sources};
use crate::startup::{
    self, Application, EXIT_BROKEN_CHAIN, EXIT_INVALID, EXIT_RUNTIME, StartupError,
};
use crate::telemetry;

/// A failed command: what to print on standard error and the exit code.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Invalid configuration, arguments or input (exit code 2).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_INVALID,
            message: message.into(),
        }
    }

    /// A runtime failure (exit code 1).
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_RUNTIME,
            message: message.into(),
        }
    }

    /// The exit code.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// The message, possibly several lines.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<SettingsError> for Failure {
    fn from(e: SettingsError) -> Self {
        Self::invalid(e.to_string())
    }
}

impl From<StartupError> for Failure {
    fn from(e: StartupError) -> Self {
        Self {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

/// Runs the parsed command line to completion.
pub async fn run(cli: Cli) -> ExitCode {
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // One write, so that the lines of a multi-line message stay together.
            let mut stderr = io::stderr().lock();
            drop(writeln!(stderr, "{}", failure.message));
            ExitCode::from(failure.code)
        }
    }
}

async fn execute(cli: Cli) -> Result<(), Failure> {
    let sources = Sources::from_process_env(cli.config_dir.clone())?;
    let settings = Settings::load_from(&sources)?;
    let command = cli.action();
    // check-config reports on standard output and error itself; the others log.
    if !matches!(command, Command::CheckConfig(_)) {
        telemetry::init(&settings.log)?;
    }
    match command {
        Command::Serve => serve(&settings).await,
        Command::CreateAdmin(args) => create_admin(&settings, &args).await,
        Command::HashPassword => hash_password(&settings).await,
        Command::Migrate => migrate(&settings).await,
        Command::CheckConfig(args) => check_config(&settings, &sources, &args),
        Command::Audit(AuditCommand::Verify(args)) => audit_verify(&settings, &args).await,
        Command::Audit(AuditCommand::Checkpoint) => audit_checkpoint(&settings).await,
    }
}

/// Writes `text` and a newline on standard output; a closed pipe is not worth a panic.
fn say(text: &str) {
    let mut stdout = io::stdout().lock();
    drop(writeln!(stdout, "{text}").and_then(|()| stdout.flush()));
}

/// Writes `text` and a newline on standard error.
fn note(text: &str) {
    drop(writeln!(io::stderr().lock(), "{text}"));
}

async fn serve(settings: &Settings) -> Result<(), Failure> {
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    let app = Application::build(settings).await?;
    // The line tests and scripts wait for; the address is the real one when port 0 was asked.
    say(&format!(
        "users-service listening on http://{}",
        app.address()
    ));
    app.run_until_stopped()
        .await
        .map_err(|e| Failure::runtime(format!("the HTTP server failed: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}

async fn create_admin(settings: &Settings, args: &CreateAdminArgs) -> Result<(), Failure> {
    let login = Login::parse(&args.login)
        .map_err(|e| Failure::invalid(format!("--login: {}", e.message)))?;
    let email = args
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|e| Failure::invalid(format!("--email: {}", e.message)))?;
    if settings.database.kind == DatabaseKind::Memory {
        note(
            "note: database.kind is \"memory\": this administrator exists only inside this \
             command and is gone when it exits. To give a memory-backed service its first \
             administrator, start it with USERS__BOOTSTRAP__ADMIN_LOGIN and \
             USERS__BOOTSTRAP__ADMIN_PASSWORD.",
        );
    }
    let password = admin_password(&login)?;
    let users = startup::build_user_service(settings).await?;
    match users.create_admin(login.clone(), email, password).await {
        Ok(user) => {
            note(&format!(
                "created administrator {} (id {}); the password must be changed at first login",
                user.login, user.id
            ));
            say(&user.id.to_string());
            Ok(())
        }
        Err(DomainError::WeakPassword(violations)) => {
            let mut message = String::from("password refused by the password policy:");
            for v in violations {
                message.push_str(&format!("\n  - {} ({})", v.message(), v.code()));
            }
            Err(Failure::invalid(message))
        }
        Err(DomainError::Validation(fields)) => {
            let reasons: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect();
            Err(Failure::invalid(reasons.join("\n")))
        }
        // A taken login or e-mail, or the store failing.
        Err(e) => Err(Failure::runtime(format!(
            "cannot create administrator {login}: {e}"
        ))),
    }
}

/// The password of `create-admin`: `$USERS_ADMIN_PASSWORD`, else a hidden prompt (twice)
/// when standard input is a terminal.
fn admin_password(login: &Login) -> Result<PlainPassword, Failure> {
    let from_env = match std::env::var(ADMIN_PASSWORD_VAR) {
        Ok(value) if !value.is_empty() => Some(value),
        Ok(_) | Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(Failure::invalid(format!(
                "{ADMIN_PASSWORD_VAR} is not valid UTF-8"
            )));
        }
    };
    let raw = match from_env {
        Some(value) => value,
        None => {
            if !io::stdin().is_terminal() {
                return Err(Failure::invalid(format!(
                    "no password given: set {ADMIN_PASSWORD_VAR}, or run create-admin in an \
                     interactive terminal to be prompted for it"
                )));
            }
            let first = rpassword::prompt_password(format!("Password for {login}: "))
                .map_err(|e| Failure::runtime(format!("cannot read the password: {e}")))?;
            let second = rpassword::prompt_password("Repeat the password: ")
                .map_err(|e| Failure::runtime(format!("cannot read the password: {e}")))?;
            if first != second {
                return Err(Failure::invalid("the two passwords differ"));
            }
            first
        }
    };
    PlainPassword::new(raw).map_err(|e| Failure::invalid(e.message))
}

async fn hash_password(settings: &Settings) -> Result<(), Failure> {
    let raw = if io::stdin().is_terminal() {
        rpassword::prompt_password("Password to hash: ")
            .map_err(|e| Failure::runtime(format!("cannot read the password: {e}")))?
    } else {
        read_line_from_stdin()?
    };
    if raw.is_empty() {
        return Err(Failure::invalid(
            "empty password: write the password on standard input, e.g. \
             printf '%s\\n' \"$PASSWORD\" | users-service hash-password",
        ));
    }
    let password = PlainPassword::new(raw).map_err(|e| Failure::invalid(e.message))?;
    let hasher = startup::build_hasher(settings)?;
    let hash = hasher
        .hash(&password)
        .await
        .map_err(|e| Failure::runtime(e.to_string()))?;
    say(hash.as_str());
    Ok(())
}

/// The first line of standard input, without its line ending; bounded so that a stream
/// without newlines cannot exhaust memory.
fn read_line_from_stdin() -> Result<String, Failure> {
    let limit = PlainPassword::MAX_BYTES + 2; // room for "\r\n"
    let mut line = String::new();
    io::stdin()
        .lock()
        .take(u64::try_from(limit).unwrap_or(u64::MAX))
        .read_line(&mut line)
        .map_err(|e| Failure::invalid(format!("cannot read standard input: {e}")))?;
    let stripped = line.strip_suffix('\n').unwrap_or(&line);
    let stripped = stripped.strip_suffix('\r').unwrap_or(stripped);
    if stripped.len() > PlainPassword::MAX_BYTES {
        return Err(Failure::invalid(format!(
            "password is too long (more than {} bytes)",
            PlainPassword::MAX_BYTES
        )));
    }
    Ok(stripped.to_owned())
}

async fn migrate(settings: &Settings) -> Result<(), Failure> {
    match settings.database.kind {
        DatabaseKind::Memory => {
            say("nothing to do: the configured store (memory) has no migrations");
            Ok(())
        }
        // redb checks its table-layout version when it opens the file.
        DatabaseKind::Embedded => {
            say("nothing to do: the embedded store checks its schema version when it opens");
            Ok(())
        }
        DatabaseKind::Mongo => {
            let repo = startup::connect_mongo(&settings.database).await?;
            let report = repo.migrate().await.map_err(|e| StartupError::Store {
                kind: DatabaseKind::Mongo,
                reason: format!("migrations failed: {e}"),
            })?;
            say(&report.to_string());
            Ok(())
        }
    }
}

/// The configured store's audit trail, opened without creating or migrating anything: a
/// mistyped embedded path would otherwise verify as an empty, intact trail. `None` for the
/// memory store, whose trail lives and dies with its process.
async fn open_trail(settings: &Settings) -> Result<Option<Arc<dyn AuditLog>>, Failure> {
    match settings.database.kind {
        DatabaseKind::Memory => Ok(None),
        DatabaseKind::Embedded if !settings.database.path.exists() => {
            Err(Failure::runtime(format!(
                "no embedded store at {} (database.path)",
                settings.database.path.display()
            )))
        }
        // Checkpoints need no index (`_id` is the event number): no migration either.
        DatabaseKind::Mongo => Ok(Some(Arc::new(
            startup::connect_mongo(&settings.database).await?,
        ))),
        DatabaseKind::Embedded => Ok(Some(startup::build_store(&settings.database).await?.audit)),
    }
}

/// `--expect-head` as `audit verify` prints hashes (64 lowercase hex digits).
fn expected_head(raw: &str) -> Result<String, Failure> {
    let head = raw.trim().to_ascii_lowercase();
    if head.len() == 64 && head.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(head)
    } else {
        Err(Failure::invalid(format!(
            "--expect-head: {raw:?} is not an event hash (64 hexadecimal digits, as `audit \
             verify` prints the head)"
        )))
    }
}

async fn audit_verify(settings: &Settings, args: &VerifyArgs) -> Result<(), Failure> {
    let expected = args.expect_head.as_deref().map(expected_head).transpose()?;
    let keys = checkpoints::keyring(settings)?;
    let Some(audit) = open_trail(settings).await? else {
        say("nothing to verify: the memory store keeps no audit trail beyond its process");
        return Ok(());
    };
    let report = audit_chain::verify_with(&*audit, &keys, expected.as_deref())
        .await
        .map_err(|e| Failure::runtime(format!("cannot read the audit trail: {e}")))?;
    if report.unverifiable > 0 {
        note(&format!(
            "note: {} checkpoint(s) signed by key {}, which this configuration does not \
             have, were not checked and prove nothing (keep a retired key in \
             audit.checkpoint_verification_key_files)",
            report.unverifiable,
            report.unknown_keys.join(", ")
        ));
    }
    if report.is_intact() {
        say(&format!(
            "audit trail intact: {} events, head {}",
            report.checked, report.head
        ));
        say(&match &report.last_checkpoint {
            Some(last) => format!(
                "checkpoints: {} verified, the last names event {} (signed by key {}); {} \
                 event(s) after it",
                report.confirmed,
                last.seq,
                last.key_id,
                report.checked.saturating_sub(last.seq)
            ),
            None => "checkpoints: none verified: a cut of the trail's end would not show \
                     (see `users-service audit checkpoint`)"
                .to_owned(),
        });
        if let Some(expected) = &expected {
            say(&format!("expected head {expected} found in the trail"));
        }
        return Ok(());
    }
    let mut lines = Vec::new();
    if let Some(broken) = &report.broken {
        lines.push(format!("audit trail BROKEN: {broken}"));
    }
    for finding in &report.findings {
        lines.push(format!("audit trail TAMPERED: {finding}"));
    }
    lines.push(if report.broken.is_some() {
        format!(
            "{} events before it verify (last good hash {})",
            report.checked, report.head
        )
    } else {
        format!(
            "the {} events present link up (head {})",
            report.checked, report.head
        )
    });
    Err(Failure {
        code: EXIT_BROKEN_CHAIN,
        message: lines.join("\n"),
    })
}

async fn audit_checkpoint(settings: &Settings) -> Result<(), Failure> {
    let Some(key) = checkpoints::signer(settings)? else {
        return Err(Failure::invalid(
            "cannot sign a checkpoint: auth.jwt_secret is not set, and a secret generated for \
             this command could never verify it (set USERS__AUTH__JWT_SECRET, or use EdDSA \
             with auth.signing_key_file)",
        ));
    };
    let Some(audit) = open_trail(settings).await? else {
        say("nothing to checkpoint: the memory store keeps no audit trail beyond its process");
        return Ok(());
    };
    let outcome = checkpoints::use_case(audit, key)
        .checkpoint()
        .await
        .map_err(|e| Failure::runtime(format!("cannot checkpoint the audit trail: {e}")))?;
    match outcome {
        CheckpointOutcome::Made(c) => say(&format!(
            "checkpoint of event {} (hash {}), signed by key {}",
            c.seq, c.hash, c.key_id
        )),
        CheckpointOutcome::Current(c) => say(&format!(
            "the last checkpoint already names the head: event {} (hash {})",
            c.seq, c.hash
        )),
        CheckpointOutcome::EmptyTrail | CheckpointOutcome::NotDue => {
            say("nothing to checkpoint: the audit trail is empty");
        }
        CheckpointOutcome::Contradicted { checkpoint, head } => {
            return Err(Failure {
                code: EXIT_BROKEN_CHAIN,
                message: format!(
                    "audit trail TAMPERED: the last checkpoint names event {} with hash {}, \
                     the trail's newest event is {} with hash {}: it was cut or rewritten; \
                     no checkpoint signed (run `users-service audit verify`)",
                    checkpoint.seq, checkpoint.hash, head.seq, head.hash
                ),
            });
        }
    }
    Ok(())
}

fn check_config(
    settings: &Settings,
    sources: &Sources,
    args: &CheckConfigArgs,
) -> Result<(), Failure> {
    let rendered = match args.format {
        ConfigFormat::Toml => {
            let body = toml::to_string_pretty(settings)
                .map_err(|e| Failure::runtime(format!("cannot render the configuration: {e}")))?;
            let files: Vec<String> = sources
                .existing_files()
                .iter()
                .map(|f| f.display().to_string())
                .collect();
            let files = if files.is_empty() {
                "none".to_owned()
            } else {
                files.join(", ")
            };
            format!(
                "# Effective configuration of users-service; secrets are shown as \"***\".\n\
                 # Files read: {files}; then USERS__<SECTION>__<KEY> environment variables.\n\
                 # Unset optional keys are not shown.\n\n{body}"
            )
        }
        ConfigFormat::Json => serde_json::to_string_pretty(settings)
            .map_err(|e| Failure::runtime(format!("cannot render the configuration: {e}")))?,
    };
    say(rendered.trim_end());
    for warning in settings.warnings() {
        note(&format!("warning: {warning}"));
    }
    Ok(())
}
