//! The migration runner against a real server: idempotence, checksums, refusal of edited
//! or renamed files, failures, concurrent runners, and the indexes it creates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use adapters_mongo::migrate::{MIGRATIONS_COLLECTION, embedded};
use adapters_mongo::{Migration, MigrationError, Migrator, USERS_COLLECTION};
use bson::{Bson, DateTime, Document, doc};
use futures::TryStreamExt;
use mongodb::Database;

fn embedded_names() -> Vec<String> {
    embedded().iter().map(|m| m.name().to_owned()).collect()
}

async fn records(db: &Database) -> Vec<Document> {
    db.collection::<Document>(MIGRATIONS_COLLECTION)
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// The embedded list plus extra migrations.
fn with_extra(extra: &[(&'static str, &'static str)]) -> Vec<Migration> {
    let mut list = embedded().to_vec();
    for (name, contents) in extra {
        list.push(Migration::new(*name, *contents).unwrap());
    }
    list
}

const SCRATCH_INDEX: &str = r#"{
  "description": "An index on a scratch collection.",
  "commands": [
    { "createIndexes": "scratch", "indexes": [ { "key": { "n": 1 }, "name": "n_1" } ] }
  ]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_twice_changes_nothing_the_second_time() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::unmigrated_repo(&uri).await;

    let first = repo.migrate().await.unwrap();
    assert_eq!(first.applied, embedded_names());
    assert!(first.already_applied.is_empty());
    assert!(!first.is_noop());

    let second = repo.migrate().await.unwrap();
    assert!(second.is_noop(), "{second}");
    assert!(second.applied.is_empty());
    assert_eq!(second.already_applied, embedded_names());
    assert!(second.to_string().starts_with("nothing to do"), "{second}");
    assert_eq!(records(repo.database()).await.len(), embedded().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_applied_migration_is_recorded_with_its_checksum() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::fresh_repo(&uri).await;

    let stored = records(repo.database()).await;
    assert_eq!(stored.len(), embedded().len());
    for (record, migration) in stored.iter().zip(embedded()) {
        assert_eq!(
            record.get("_id"),
            Some(&Bson::Int64(i64::from(migration.version())))
        );
        assert_eq!(record.get_str("name").unwrap(), migration.name());
        assert_eq!(record.get_str("checksum").unwrap(), migration.checksum());
        assert_eq!(record.get_str("state").unwrap(), "applied");
        assert!(matches!(record.get("applied_at"), Some(Bson::DateTime(_))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_indexes_exist_afterwards() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::fresh_repo(&uri).await;

    let indexes: Vec<Document> = repo
        .database()
        .run_command(doc! { "listIndexes": USERS_COLLECTION })
        .await
        .unwrap()
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()
        .iter()
        .map(|i| i.as_document().unwrap().clone())
        .collect();
    let find = |name: &str| {
        indexes
            .iter()
            .find(|i| i.get_str("name").ok() == Some(name))
            .unwrap_or_else(|| panic!("index {name} missing from {indexes:?}"))
    };
    for (name, key) in [
        ("login_lc_unique", doc! { "login_lc": 1 }),
        ("email_lc_unique", doc! { "email_lc": 1 }),
        ("created_at_id", doc! { "created_at": 1, "_id": 1 }),
        ("name_words", doc! { "name_words": 1 }),
        (
            "role_active_blocked",
            doc! { "role": 1, "active": 1, "blocked": 1 },
        ),
    ] {
        let index = find(name);
        let stored_key = index.get_document("key").unwrap();
        let stored: Vec<&str> = stored_key.keys().map(String::as_str).collect();
        let wanted: Vec<&str> = key.keys().map(String::as_str).collect();
        assert_eq!(stored, wanted, "key of {name}");
    }
    for unique in ["login_lc_unique", "email_lc_unique"] {
        assert_eq!(find(unique).get_bool("unique").ok(), Some(true), "{unique}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_applied_migration_is_refused_and_nothing_else_runs() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::fresh_repo(&uri).await;

    let mut list = with_extra(&[("0900_scratch_index.json", SCRATCH_INDEX)]);
    let first = &list[0];
    let edited = first
        .contents()
        .replace("\"unique\": true", "\"unique\": false");
    assert_ne!(edited, first.contents());
    list[0] = Migration::new(first.name().to_owned(), edited).unwrap();

    let refused = Migrator::new(&list).run(repo.database()).await.unwrap_err();
    match &refused {
        MigrationError::Edited {
            file,
            recorded,
            current,
        } => {
            assert_eq!(file, "0001_users_unique_indexes.json");
            assert_eq!(*recorded, embedded()[0].checksum());
            assert_eq!(*current, list[0].checksum());
        }
        other => panic!("expected Edited, got {other:?}"),
    }
    assert!(
        refused
            .to_string()
            .contains("0001_users_unique_indexes.json"),
        "{refused}"
    );
    // The pending migration of the same list was not applied.
    assert_eq!(records(repo.database()).await.len(), embedded().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_applied_migration_is_refused() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::fresh_repo(&uri).await;

    let mut list = embedded().to_vec();
    list[0] = Migration::new("0001_renamed.json", list[0].contents().to_owned()).unwrap();
    let refused = Migrator::new(&list).run(repo.database()).await.unwrap_err();
    assert!(
        matches!(&refused, MigrationError::Renamed { version: 1, recorded, file }
            if recorded == "0001_users_unique_indexes.json" && file == "0001_renamed.json"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_migration_is_applied_after_the_recorded_ones() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::fresh_repo(&uri).await;

    let list = with_extra(&[("0900_scratch_index.json", SCRATCH_INDEX)]);
    let report = Migrator::new(&list).run(repo.database()).await.unwrap();
    assert_eq!(report.applied, ["0900_scratch_index.json"]);
    assert_eq!(report.already_applied, embedded_names());
    let names = repo
        .database()
        .collection::<Document>("scratch")
        .list_index_names()
        .await
        .unwrap();
    assert!(names.contains(&"n_1".to_owned()), "{names:?}");

    // The embedded list alone, on a database a newer build migrated: not an error.
    let older = repo.migrate().await.unwrap();
    assert!(older.is_noop());
    assert_eq!(older.unknown_versions, [900]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_migration_is_not_recorded_and_is_retried_next_time() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::fresh_repo(&uri).await;

    let broken = r#"{
      "description": "Second command is no command at all.",
      "commands": [ { "ping": 1 }, { "noSuchCommandAnywhere": 1 } ]
    }"#;
    let list = with_extra(&[("0900_broken.json", broken)]);
    let failed = Migrator::new(&list).run(repo.database()).await.unwrap_err();
    assert!(
        matches!(&failed, MigrationError::Failed { file, step: 2, .. } if file == "0900_broken.json"),
        "{failed:?}"
    );
    assert_eq!(records(repo.database()).await.len(), embedded().len());

    // Fixed (a new file under the same version, never applied): it applies.
    let list = with_extra(&[("0900_broken.json", SCRATCH_INDEX)]);
    let report = Migrator::new(&list).run(repo.database()).await.unwrap();
    assert_eq!(report.applied, ["0900_broken.json"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runners_apply_each_migration_once() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::unmigrated_repo(&uri).await;
    // A second client, as a second replica would have.
    let other = mongodb::Client::with_uri_str(&uri)
        .await
        .unwrap()
        .database(repo.database().name());

    let (first, second) = (Migrator::embedded(), Migrator::embedded());
    let (a, b) = tokio::join!(first.run(repo.database()), second.run(&other));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut applied: Vec<String> = a.applied.iter().chain(&b.applied).cloned().collect();
    applied.sort();
    assert_eq!(
        applied,
        embedded_names(),
        "each applied exactly once: {a:?} / {b:?}"
    );
    for report in [&a, &b] {
        let mut seen: Vec<&String> = report
            .applied
            .iter()
            .chain(&report.already_applied)
            .collect();
        seen.sort();
        assert_eq!(seen.len(), embedded().len(), "{report:?}");
    }
    let stored = records(repo.database()).await;
    assert!(
        stored
            .iter()
            .all(|r| r.get_str("state").ok() == Some("applied"))
    );
}

/// Records `version` of the embedded list as being applied by someone else.
async fn claim_as_other_runner(db: &Database, index: usize) {
    let migration = &embedded()[index];
    db.collection::<Document>(MIGRATIONS_COLLECTION)
        .insert_one(doc! {
            "_id": i64::from(migration.version()),
            "name": migration.name(),
            "checksum": migration.checksum(),
            "state": "applying",
            "started_at": DateTime::now(),
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_waits_for_another_runner_to_finish() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::unmigrated_repo(&uri).await;
    claim_as_other_runner(repo.database(), 0).await;

    let db = repo.database().clone();
    let finisher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        // What the other runner does: apply, then mark applied.
        for command in embedded()[0].commands().unwrap() {
            db.run_command(command).await.unwrap();
        }
        db.collection::<Document>(MIGRATIONS_COLLECTION)
            .update_one(
                doc! { "_id": 1_i64 },
                doc! { "$set": { "state": "applied", "applied_at": DateTime::now() } },
            )
            .await
            .unwrap();
    });
    let report = Migrator::embedded()
        .wait_for_other_runner(Duration::from_secs(20))
        .run(repo.database())
        .await
        .unwrap();
    finisher.await.unwrap();
    assert_eq!(report.already_applied, ["0001_users_unique_indexes.json"]);
    assert_eq!(report.applied, embedded_names()[1..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_that_stopped_midway_is_reported_with_instructions() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::unmigrated_repo(&uri).await;
    claim_as_other_runner(repo.database(), 0).await;

    let stuck = Migrator::embedded()
        .wait_for_other_runner(Duration::from_millis(500))
        .run(repo.database())
        .await
        .unwrap_err();
    assert!(
        matches!(&stuck, MigrationError::InProgress { file, version: 1, .. } if file == "0001_users_unique_indexes.json"),
        "{stuck:?}"
    );
    let message = stuck.to_string();
    assert!(message.contains("delete {_id: 1}"), "{message}");
    // Nothing after it was applied either.
    assert_eq!(records(repo.database()).await.len(), 1);
}

/// A user document as the version before migration 0004 wrote it: keys folded with
/// `to_lowercase`, no skeleton.
fn legacy_user(id: u128, login: &str, email: &str, name: &str) -> Document {
    let id = uuid::Uuid::from_u128(id).hyphenated().to_string();
    let now = DateTime::from_millis(1_780_000_000_000);
    doc! {
        "_id": &id, "login": login, "login_lc": login.to_lowercase(),
        "email": email, "email_lc": email.to_lowercase(),
        "full_name": name, "name_words": name.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>(),
        "role": "TAXATEUR", "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        "active": true, "blocked": false, "must_change_password": false,
        "failed_logins": 0_i64, "token_version": 0_i64,
        "created_at": now, "updated_at": now, "version": 1_i64,
    }
}

const UP_TO_0003: usize = 3;

/// Migration 0004 re-keys every user under Unicode folding and gives logins their
/// confusable skeleton; when the new keys would merge accounts it stops before changing
/// anything, names every group, and applies once an operator resolved them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_keys_are_refolded_and_collisions_stop_the_migration() {
    let Some(uri) = support::server_uri() else {
        return;
    };
    let repo = support::unmigrated_repo(&uri).await;
    let db = repo.database();
    Migrator::new(&embedded()[..UP_TO_0003])
        .run(db)
        .await
        .unwrap();
    let users = db.collection::<Document>(USERS_COLLECTION);
    users
        .insert_many([
            legacy_user(1, "Straße", "Gross@Example.org", "Hans Großmann"),
            legacy_user(2, "admin", "admin@example.org", "Vrai Admin"),
            // Full-width: "ａｄｍｉｎ" to_lowercase is still full-width, a distinct key before.
            legacy_user(3, "ＡＤＭＩＮ", "fake@example.org", "Faux Admin"),
        ])
        .await
        .unwrap();

    let refused = repo.migrate().await.unwrap_err().to_string();
    assert!(refused.contains("same login"), "{refused}");
    for id in [2_u128, 3] {
        assert!(
            refused.contains(&uuid::Uuid::from_u128(id).to_string()),
            "{refused}"
        );
    }
    let untouched = users
        .find_one(doc! { "_id": uuid::Uuid::from_u128(1).to_string() })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        untouched.get_str("login_lc").unwrap(),
        "straße",
        "nothing changed"
    );
    assert!(!untouched.contains_key("login_skel"));

    // The operator resolves the group, then the migration applies.
    users
        .delete_one(doc! { "_id": uuid::Uuid::from_u128(3).to_string() })
        .await
        .unwrap();
    repo.migrate().await.unwrap();
    let rekeyed = users
        .find_one(doc! { "_id": uuid::Uuid::from_u128(1).to_string() })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rekeyed.get_str("login_lc").unwrap(), "strasse");
    assert!(!rekeyed.get_str("login_skel").unwrap().is_empty());
    assert_eq!(rekeyed.get_str("email_lc").unwrap(), "gross@example.org");
    let words: Vec<&str> = rekeyed
        .get_array("name_words")
        .unwrap()
        .iter()
        .filter_map(Bson::as_str)
        .collect();
    assert_eq!(words, ["hans", "grossmann"]);
    use domain::ports::UserRepository;
    let found = repo
        .find_by_login(&domain::model::Login::parse("STRASSE").unwrap())
        .await
        .unwrap()
        .expect("found under the folded key");
    assert_eq!(found.login.as_str(), "Straße");
}
