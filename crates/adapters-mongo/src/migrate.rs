//! The migration runner: applies the versioned files of `migrations/` in order, once per
//! database, and records each in the `_migrations` collection.
//!
//! A migration is a JSON file `NNNN_lower_snake_name.json`:
//! `{"description": "…", "commands": [{…}, …]}`, each command a MongoDB database command
//! (`createIndexes`, `collMod`, `update`, …) run with `runCommand`, in order. Key order is
//! kept (a command's name is its first key), and MongoDB extended JSON (`{"$date": …}`)
//! may be used for values. The files are embedded at compile time by `build.rs`.
//!
//! # Protocol
//! 1. Read `_migrations`; refuse to go on when an applied migration's file changed
//!    (SHA-256 of its contents) or was renamed: what is stored would no longer be what
//!    the files say.
//! 2. For each migration not yet applied, in version order: insert its record
//!    `{_id: version, name, checksum, state: "applying", started_at}` FIRST. The unique
//!    `_id` makes this the lock between concurrent runners (two replicas starting): the
//!    one whose insert succeeds applies the commands, then sets `state: "applied"` and
//!    `applied_at`. A runner whose insert fails with a duplicate key waits for the other
//!    to finish (bounded), and never applies it itself. Insert is atomic on MongoDB and
//!    on FerretDB alike (conditional updates are not atomic on FerretDB 1.x).
//! 3. A command that fails deletes the record (so that a later run retries) and stops the
//!    run with the file name and the command's position.
//!
//! Only waiting for a server is bounded (the client's server selection timeout, about 2 s
//! when the database is down): an index build on a large collection may rightly take
//! minutes.
//!
//! A runner killed between steps 2 and 3 leaves an `applying` record: later runs wait,
//! then stop with a message that says how to clear it. Commands should be idempotent
//! (`createIndexes` with the same specification is), so that re-applying after such a
//! crash is safe.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use bson::{DateTime, Document, doc};
use domain::ports::RepoError;
use futures::TryStreamExt;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::error::{WriteError, repo_error};
use crate::migration_name::version_of;
use crate::rekey;

/// The collection that records applied migrations.
pub const MIGRATIONS_COLLECTION: &str = "_migrations";

/// How often a runner looks whether another runner has finished.
const POLL: Duration = Duration::from_millis(200);

/// Bound on the records read at once: far above any realistic number of migrations.
const MAX_RECORDS: i64 = 100_000;

const APPLYING: &str = "applying";
const APPLIED: &str = "applied";

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The migrations embedded in this build, in version order.
pub fn embedded() -> &'static [Migration] {
    EMBEDDED
}

/// Applies the embedded migrations this database lacks. See the module docs.
///
/// # Errors
/// See [`MigrationError`].
pub async fn migrate(db: &Database) -> Result<MigrationReport, MigrationError> {
    Migrator::embedded().run(db).await
}

/// One migration file: its version (from the name), name and contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    version: u32,
    name: Cow<'static, str>,
    contents: Cow<'static, str>,
}

impl Migration {
    /// An embedded file; `build.rs` has checked the name.
    pub(crate) const fn embedded(version: u32, name: &'static str, contents: &'static str) -> Self {
        Self {
            version,
            name: Cow::Borrowed(name),
            contents: Cow::Borrowed(contents),
        }
    }

    /// A migration built at run time (tests, tools); the version comes from the name.
    ///
    /// # Errors
    /// `Invalid` when the name is not `NNNN_lower_snake_name.json`.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        contents: impl Into<Cow<'static, str>>,
    ) -> Result<Self, MigrationError> {
        let name = name.into();
        let version = version_of(&name).ok_or_else(|| MigrationError::Invalid {
            file: name.to_string(),
            reason: "the name must be NNNN_lower_snake_name.json, NNNN above 0000".to_owned(),
        })?;
        Ok(Self {
            version,
            name,
            contents: contents.into(),
        })
    }

    /// The version, from the file name's four digits.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's contents.
    pub fn contents(&self) -> &str {
        &self.contents
    }

    /// SHA-256 of the file's contents, in lower-case hexadecimal.
    pub fn checksum(&self) -> String {
        Sha256::digest(self.contents.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The commands of the file, parsed.
    ///
    /// # Errors
    /// `Invalid` when the file is not a migration document or a command is empty.
    pub fn commands(&self) -> Result<Vec<Document>, MigrationError> {
        let invalid = |reason: String| MigrationError::Invalid {
            file: self.name.to_string(),
            reason,
        };
        // Straight into BSON documents: a JSON map would sort keys, and a command's name
        // must stay its first key.
        let file: MigrationFile =
            serde_json::from_str(&self.contents).map_err(|e| invalid(e.to_string()))?;
        if file.description.trim().is_empty() {
            return Err(invalid("the description is empty".to_owned()));
        }
        if file.commands.is_empty() {
            return Err(invalid("there is no command".to_owned()));
        }
        if let Some(position) = file.commands.iter().position(Document::is_empty) {
            return Err(invalid(format!("command {} is empty", position + 1)));
        }
        for (position, command) in file.commands.iter().enumerate() {
            if let Some(step) = step_of(command)
                && !rekey::STEPS.contains(&step)
            {
                return Err(invalid(format!(
                    "command {} names the unknown step {step:?}",
                    position + 1
                )));
            }
        }
        Ok(file.commands)
    }
}

/// The Rust step a command names instead of being a database command (see `rekey.rs`).
fn step_of(command: &Document) -> Option<&str> {
    command.get_str(rekey::STEP_KEY).ok()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrationFile {
    description: String,
    commands: Vec<Document>,
}

/// A record of `_migrations`.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    #[serde(rename = "_id")]
    version: i64,
    name: String,
    checksum: String,
    state: String,
    started_at: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    applied_at: Option<DateTime>,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Files this run applied, in order.
    pub applied: Vec<String>,
    /// Files found applied already (by an earlier run, or by a concurrent runner).
    pub already_applied: Vec<String>,
    /// Versions recorded in the database that this build does not know: a newer build
    /// has migrated the database.
    pub unknown_versions: Vec<i64>,
}

impl MigrationReport {
    /// Whether the run changed nothing.
    pub fn is_noop(&self) -> bool {
        self.applied.is_empty()
    }
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_noop() {
            write!(
                f,
                "nothing to do: {} migration(s) already applied",
                self.already_applied.len()
            )?;
        } else {
            write!(
                f,
                "applied {} ({} already applied)",
                self.applied.join(", "),
                self.already_applied.len()
            )?;
        }
        if !self.unknown_versions.is_empty() {
            write!(
                f,
                "; the database also records version(s) {:?} that this build does not know (applied by a newer build)",
                self.unknown_versions
            )?;
        }
        Ok(())
    }
}

/// Why migrations could not be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MigrationError {
    /// A migration file is malformed (name, JSON, commands).
    #[error("migration {file} is invalid: {reason}")]
    Invalid {
        /// File name.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// An applied migration's file changed since.
    #[error(
        "migration {file} was modified after it was applied (recorded SHA-256 {recorded}, the file's is now {current}): applied migrations must never change; restore the file and put the change in a new migration"
    )]
    Edited {
        /// File name.
        file: String,
        /// Checksum recorded when it was applied.
        recorded: String,
        /// Checksum of the file now.
        current: String,
    },
    /// An applied migration's file was renamed since.
    #[error(
        "migration version {version} was applied as {recorded} but the file is now named {file}: restore the name"
    )]
    Renamed {
        /// Version.
        version: u32,
        /// Name recorded when it was applied.
        recorded: String,
        /// File name now.
        file: String,
    },
    /// Another runner has been applying a migration for longer than this runner waits.
    #[error(
        "migration {file} has been being applied by another runner since {since}; if no other runner is active, an earlier run stopped midway: check the migration's effects, delete {{_id: {version}}} from the {MIGRATIONS_COLLECTION} collection, and run the migrations again"
    )]
    InProgress {
        /// File name.
        file: String,
        /// Version (the record's `_id`).
        version: u32,
        /// When the other runner started it.
        since: String,
    },
    /// A command of a migration failed; the migration is not recorded.
    #[error("migration {file} failed at command {step}: {message}")]
    Failed {
        /// File name.
        file: String,
        /// Position of the failed command, from 1.
        step: usize,
        /// The server's error.
        message: String,
    },
    /// The database cannot be reached.
    #[error("MongoDB unavailable: {0}")]
    Unavailable(String),
    /// Reading or writing `_migrations` failed otherwise.
    #[error("cannot maintain {MIGRATIONS_COLLECTION}: {0}")]
    Store(String),
}

impl From<RepoError> for MigrationError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Unavailable(m) => Self::Unavailable(m),
            other => Self::Store(other.to_string()),
        }
    }
}

impl From<mongodb::error::Error> for MigrationError {
    fn from(e: mongodb::error::Error) -> Self {
        repo_error(&e).into()
    }
}

/// Applies a list of migrations to a database. [`migrate`] runs the embedded list; tests
/// run modified lists.
#[derive(Clone, Debug)]
pub struct Migrator<'a> {
    migrations: &'a [Migration],
    wait_for_other_runner: Duration,
}

impl Migrator<'static> {
    /// The migrations embedded in this build.
    pub fn embedded() -> Self {
        Self::new(EMBEDDED)
    }
}

impl<'a> Migrator<'a> {
    /// A runner of `migrations` (any order; versions must be distinct).
    pub fn new(migrations: &'a [Migration]) -> Self {
        Self {
            migrations,
            // Index builds on a users collection take seconds at most.
            wait_for_other_runner: Duration::from_secs(60),
        }
    }

    /// How long to wait for a concurrent runner to finish a migration before giving up
    /// with [`MigrationError::InProgress`].
    pub fn wait_for_other_runner(mut self, wait: Duration) -> Self {
        self.wait_for_other_runner = wait;
        self
    }

    /// Applies the pending migrations. See the module docs.
    ///
    /// # Errors
    /// See [`MigrationError`]; nothing is applied when a file is invalid or an applied
    /// one was changed.
    pub async fn run(&self, db: &Database) -> Result<MigrationReport, MigrationError> {
        let plan = self.plan()?;
        let records: Collection<Record> = db.collection(MIGRATIONS_COLLECTION);
        let recorded: BTreeMap<i64, Record> = records
            .find(doc! {})
            .limit(MAX_RECORDS)
            .await?
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .map(|r| (r.version, r))
            .collect();
        for step in &plan {
            if let Some(record) = recorded.get(&i64::from(step.migration.version)) {
                step.verify(record)?;
            }
        }

        let mut report = MigrationReport {
            unknown_versions: recorded
                .keys()
                .filter(|v| !plan.iter().any(|s| i64::from(s.migration.version) == **v))
                .copied()
                .collect(),
            ..MigrationReport::default()
        };
        for step in &plan {
            let name = step.migration.name().to_owned();
            let version = i64::from(step.migration.version);
            if recorded.get(&version).is_some_and(|r| r.state == APPLIED) {
                report.already_applied.push(name);
            } else if self.apply_or_wait(db, &records, step).await? {
                tracing::info!(migration = %name, "applied migration");
                report.applied.push(name);
            } else {
                report.already_applied.push(name);
            }
        }
        Ok(report)
    }

    /// The migrations in version order, each parsed; refuses the whole list when one is
    /// invalid, before anything touches the database.
    fn plan(&self) -> Result<Vec<Step<'a>>, MigrationError> {
        let mut plan = self
            .migrations
            .iter()
            .map(|migration| {
                Ok(Step {
                    migration,
                    commands: migration.commands()?,
                    checksum: migration.checksum(),
                })
            })
            .collect::<Result<Vec<_>, MigrationError>>()?;
        plan.sort_by_key(|s| s.migration.version);
        if let Some(pair) = plan
            .windows(2)
            .find(|w| w[0].migration.version == w[1].migration.version)
        {
            return Err(MigrationError::Invalid {
                file: pair[1].migration.name().to_owned(),
                reason: format!("same version as {}", pair[0].migration.name()),
            });
        }
        Ok(plan)
    }

    /// Applies `step` unless another runner holds it; `true` when this runner applied it.
    async fn apply_or_wait(
        &self,
        db: &Database,
        records: &Collection<Record>,
        step: &Step<'_>,
    ) -> Result<bool, MigrationError> {
        let version = i64::from(step.migration.version);
        loop {
            let claim = Record {
                version,
                name: step.migration.name().to_owned(),
                checksum: step.checksum.clone(),
                state: APPLYING.to_owned(),
                started_at: DateTime::now(),
                applied_at: None,
            };
            match records.insert_one(&claim).await.map_err(WriteError::from) {
                Ok(_) => {
                    step.apply(db, records).await?;
                    return Ok(true);
                }
                Err(WriteError::Duplicate(_)) => {}
                Err(WriteError::Repo(e)) => return Err(e.into()),
            }
            // Someone else holds it: wait until it is applied, or gone (their run failed
            // and released it: claim it again).
            if self.wait_for_other(records, step).await? {
                return Ok(false);
            }
        }
    }

    /// `true` once the other runner recorded `step` as applied, `false` when its record
    /// disappeared.
    async fn wait_for_other(
        &self,
        records: &Collection<Record>,
        step: &Step<'_>,
    ) -> Result<bool, MigrationError> {
        let deadline = Instant::now() + self.wait_for_other_runner;
        loop {
            let Some(record) = records.find_one(step.record_filter()).await? else {
                return Ok(false);
            };
            step.verify(&record)?;
            if record.state == APPLIED {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Err(MigrationError::InProgress {
                    file: step.migration.name().to_owned(),
                    version: step.migration.version,
                    since: record
                        .started_at
                        .try_to_rfc3339_string()
                        .unwrap_or_else(|_| record.started_at.to_string()),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// A migration of the plan, parsed and hashed.
struct Step<'a> {
    migration: &'a Migration,
    commands: Vec<Document>,
    checksum: String,
}

impl Step<'_> {
    fn record_filter(&self) -> Document {
        doc! { "_id": i64::from(self.migration.version) }
    }

    /// Refuses a record that does not describe this file.
    fn verify(&self, record: &Record) -> Result<(), MigrationError> {
        if record.name != self.migration.name() {
            return Err(MigrationError::Renamed {
                version: self.migration.version,
                recorded: record.name.clone(),
                file: self.migration.name().to_owned(),
            });
        }
        if record.checksum != self.checksum {
            return Err(MigrationError::Edited {
                file: self.migration.name().to_owned(),
                recorded: record.checksum.clone(),
                current: self.checksum.clone(),
            });
        }
        Ok(())
    }

    /// Runs the commands, then marks the record applied; on failure, releases the record.
    async fn apply(
        &self,
        db: &Database,
        records: &Collection<Record>,
    ) -> Result<(), MigrationError> {
        for (index, command) in self.commands.iter().enumerate() {
            let outcome = match step_of(command) {
                Some(step) => rekey::run(db, step).await.map_err(|e| e.to_string()),
                None => db
                    .run_command(command.clone())
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string()),
            };
            if let Err(e) = outcome {
                // Best effort: if this fails too, the record stays `applying` and the
                // next run says how to clear it.
                if let Err(release) = records.delete_one(self.record_filter()).await {
                    tracing::warn!(
                        migration = %self.migration.name(),
                        error = %release,
                        "could not release the record of a failed migration"
                    );
                }
                return Err(MigrationError::Failed {
                    file: self.migration.name().to_owned(),
                    step: index + 1,
                    message: e,
                });
            }
        }
        // Only this runner, the holder of the record, writes it, so a plain update is
        // enough even where updates are not atomic (FerretDB 1.x).
        records
            .update_one(
                self.record_filter(),
                doc! { "$set": { "state": APPLIED, "applied_at": DateTime::now() } },
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn embedded_migrations_are_ordered_and_parse() {
        let all = embedded();
        assert!(!all.is_empty());
        for pair in all.windows(2) {
            assert!(pair[0].version() < pair[1].version());
        }
        for migration in all {
            let commands = migration.commands().unwrap();
            assert!(!commands.is_empty(), "{}", migration.name());
            assert_eq!(migration.checksum().len(), 64);
        }
        assert_eq!(all[0].name(), "0001_users_unique_indexes.json");
    }

    #[test]
    fn command_names_stay_first() {
        let m = Migration::new(
            "0007_order.json",
            r#"{"description": "d", "commands": [{"insert": "x", "documents": [{"b": 1, "a": -1}]}]}"#,
        )
        .unwrap();
        let commands = m.commands().unwrap();
        assert_eq!(commands[0].keys().next().unwrap(), "insert");
        let first = commands[0].get_array("documents").unwrap()[0]
            .as_document()
            .unwrap();
        assert_eq!(first.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(m.version(), 7);
    }

    #[test]
    fn malformed_migrations_are_refused_with_their_file_name() {
        assert!(matches!(
            Migration::new("7_short.json", "{}"),
            Err(MigrationError::Invalid { file, .. }) if file == "7_short.json"
        ));
        assert!(Migration::new("0000_zero.json", "{}").is_err());
        assert!(Migration::new("0001_Upper.json", "{}").is_err());
        assert!(Migration::new("0001_name.yaml", "{}").is_err());
        for contents in [
            "not json",
            r#"{"description": "d", "commands": []}"#,
            r#"{"description": " ", "commands": [{"ping": 1}]}"#,
            r#"{"description": "d", "commands": [{}]}"#,
            r#"{"description": "d", "commands": [{"ping": 1}], "extra": 1}"#,
        ] {
            let m = Migration::new("0003_bad.json", contents).unwrap();
            assert!(
                matches!(m.commands(), Err(MigrationError::Invalid { ref file, .. }) if file == "0003_bad.json"),
                "{contents}"
            );
        }
    }

    #[test]
    fn duplicate_versions_are_refused_before_touching_the_database() {
        let body = r#"{"description": "d", "commands": [{"ping": 1}]}"#;
        let list = [
            Migration::new("0001_a.json", body).unwrap(),
            Migration::new("0001_b.json", body).unwrap(),
        ];
        assert!(matches!(
            Migrator::new(&list).plan(),
            Err(MigrationError::Invalid { file, .. }) if file == "0001_b.json"
        ));
    }

    #[test]
    fn checksums_are_sha256_of_the_contents() {
        let m = Migration::new("0001_x.json", "abc").unwrap();
        assert_eq!(
            m.checksum(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_report_says_nothing_to_do() {
        let report = MigrationReport {
            already_applied: vec!["0001_a.json".to_owned()],
            ..MigrationReport::default()
        };
        assert!(report.is_noop());
        assert_eq!(
            report.to_string(),
            "nothing to do: 1 migration(s) already applied"
        );
    }
}
