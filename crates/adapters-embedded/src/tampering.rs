//! Edits of the audit trail behind the store's back, as an attacker with the file would make
//! them: for tests proving that verification finds them (feature `tampering`, tests only).

use std::path::Path;

use redb::{Database, ReadableTable, TableHandle};

use crate::audit::{CHECKPOINTS, EVENTS};

fn edit_table(
    path: &Path,
    definition: redb::TableDefinition<'_, u64, &'static [u8]>,
    edit: impl FnOnce(&mut redb::Table<'_, u64, &[u8]>) -> Result<(), String>,
) -> Result<(), String> {
    let db = Database::open(path).map_err(|e| e.to_string())?;
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    {
        let mut table = txn.open_table(definition).map_err(|e| e.to_string())?;
        edit(&mut table)?;
    }
    txn.commit().map_err(|e| e.to_string())
}

fn edit_events(
    path: &Path,
    edit: impl FnOnce(&mut redb::Table<'_, u64, &[u8]>) -> Result<(), String>,
) -> Result<(), String> {
    edit_table(path, EVENTS, edit)
}

/// Rewrites the stored JSON of `seq`'s entry of `definition` through `change`.
fn alter_json(
    path: &Path,
    definition: redb::TableDefinition<'_, u64, &'static [u8]>,
    seq: u64,
    change: impl FnOnce(&mut serde_json::Value),
) -> Result<(), String> {
    let name = definition.name().to_owned();
    edit_table(path, definition, |table| {
        let bytes = table
            .get(seq)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no entry {seq} in {name}"))?
            .value()
            .to_vec();
        let mut json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        change(&mut json);
        let bytes = serde_json::to_vec(&json).map_err(|e| e.to_string())?;
        table
            .insert(seq, bytes.as_slice())
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Rewrites the stored JSON of event `seq` through `change`, leaving its hashes as they were.
///
/// # Errors
/// The file cannot be opened (it is in use) or has no event `seq`.
pub fn alter_event(
    path: &Path,
    seq: u64,
    change: impl FnOnce(&mut serde_json::Value),
) -> Result<(), String> {
    alter_json(path, EVENTS, seq, change)
}

/// Rewrites the stored JSON of the checkpoint of event `seq` through `change`, leaving its
/// signature as it was.
///
/// # Errors
/// The file cannot be opened (it is in use) or has no checkpoint of event `seq`.
pub fn alter_checkpoint(
    path: &Path,
    seq: u64,
    change: impl FnOnce(&mut serde_json::Value),
) -> Result<(), String> {
    alter_json(path, CHECKPOINTS, seq, change)
}

/// Removes every event numbered above `keep` (the newest ones), as a cut of the trail's
/// end; returns how many were removed.
///
/// # Errors
/// The file cannot be opened (it is in use).
pub fn truncate_trail(path: &Path, keep: u64) -> Result<u64, String> {
    let mut removed = 0;
    edit_events(path, |table| {
        let Some(first) = keep.checked_add(1) else {
            return Ok(());
        };
        let doomed: Vec<u64> = table
            .range(first..)
            .map_err(|e| e.to_string())?
            .map(|entry| entry.map(|(seq, _)| seq.value()).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        for seq in doomed {
            table.remove(seq).map_err(|e| e.to_string())?;
            removed += 1;
        }
        Ok(())
    })?;
    Ok(removed)
}

/// Removes event `seq`.
///
/// # Errors
/// The file cannot be opened (it is in use) or has no event `seq`.
pub fn remove_event(path: &Path, seq: u64) -> Result<(), String> {
    edit_events(path, |table| {
        table
            .remove(seq)
            .map_err(|e| e.to_string())?
            .map(drop)
            .ok_or_else(|| format!("no audit event {seq}"))
    })
}

/// Stores `user` in place of the stored user with its id, record and indexes alike, with
/// none of the store's checks: a state the service itself refuses to write (the only ADMIN
/// blocked, as a file from before rule 8 was enforced by the store may hold).
///
/// # Errors
/// The file cannot be opened (it is in use), or holds no user with that id.
pub fn replace_user(path: &Path, user: &domain::model::User) -> Result<(), String> {
    let db = Database::open(path).map_err(|e| e.to_string())?;
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    {
        let mut tables = crate::tables::WriteTables::open(&txn).map_err(|e| e.to_string())?;
        let current = tables.existing(user.id).map_err(|e| e.to_string())?;
        tables
            .put(user, Some(&current))
            .map_err(|e| e.to_string())?;
    }
    txn.commit().map_err(|e| e.to_string())
}
