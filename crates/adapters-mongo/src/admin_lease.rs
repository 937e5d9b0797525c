//! Rule 8 without transactions: "another active ADMIN remains" must hold when a write takes
//! an active ADMIN out (a demotion, a block, a deactivation, a deletion). Counting the
//! others and then writing is two steps; two such writes racing would each count the other
//! and both succeed, leaving no ADMIN. So every write that removes an active ADMIN holds
//! one lease while it counts and writes, and those writes take turns, in this process and
//! across processes.
//!
//! The lease is the document `{_id: "last_active_admin", holder, until}` of collection
//! `_locks`: taken by inserting it (the unique `_id` makes that atomic everywhere), or by
//! taking over one whose `until` has passed (a holder that died), and released by deleting
//! it with its holder. It lasts [`LEASE`], far beyond the operation bound a holder
//! works within (`MongoOptions::operation_timeout`), so it cannot expire under a live holder.
//! Writes that cannot remove an active ADMIN never touch it: they are guarded by their
//! filter alone (see `repository.rs`).
//!
//! Within this process the holders also take turns on a mutex first: FerretDB 1.x does not
//! apply a conditional update atomically, so only the insert of the lease is trusted there
//! (one replica on FerretDB, as for every other guarantee).

use std::future::Future;
use std::time::Duration;

use bson::{DateTime, Document, doc};
use mongodb::Collection;
use tokio::sync::Mutex;

use domain::ports::RepoError;

use crate::error::{WriteError, repo_error};

/// The collection of leases.
pub const LOCKS_COLLECTION: &str = "_locks";

const LEASE_ID: &str = "last_active_admin";

/// How long a lease lasts unless released.
const LEASE: Duration = Duration::from_secs(30);

/// Pause between two attempts to take a lease someone holds.
const RETRY: Duration = Duration::from_millis(5);

/// The lease on removing active ADMINs.
#[derive(Debug)]
pub(crate) struct AdminLease {
    locks: Collection<Document>,
    turn: Mutex<()>,
}

impl AdminLease {
    pub(crate) fn new(locks: Collection<Document>) -> Self {
        Self {
            locks,
            turn: Mutex::new(()),
        }
    }

    /// Runs `work` holding the lease; waits for it as long as the caller's bound allows.
    pub(crate) async fn hold<T>(
        &self,
        work: impl Future<Output = Result<T, RepoError>>,
    ) -> Result<T, RepoError> {
        let _turn = self.turn.lock().await;
        let holder = uuid::Uuid::new_v4().hyphenated().to_string();
        self.take(&holder).await?;
        let result = work.await;
        // Best effort: a lease that cannot be released expires.
        if let Err(e) = self
            .locks
            .delete_one(doc! { "_id": LEASE_ID, "holder": &holder })
            .await
        {
            tracing::warn!(error = %e, "could not release the last-admin lease; it expires by itself");
        }
        result
    }

    async fn take(&self, holder: &str) -> Result<(), RepoError> {
        loop {
            let now = DateTime::now();
            let until = DateTime::from_millis(
                now.timestamp_millis()
                    .saturating_add(i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX)),
            );
            let lease = doc! { "_id": LEASE_ID, "holder": holder, "until": until };
            match self.locks.insert_one(lease).await.map_err(WriteError::from) {
                Ok(_) => return Ok(()),
                Err(WriteError::Duplicate(_)) => {}
                Err(WriteError::Repo(e)) => return Err(e),
            }
            let expired = self
                .locks
                .update_one(
                    doc! { "_id": LEASE_ID, "until": { "$lt": now } },
                    doc! { "$set": { "holder": holder, "until": until } },
                )
                .await
                .map_err(|e| repo_error(&e))?;
            if expired.modified_count == 1 {
                tracing::warn!("took over an expired last-admin lease (its holder died)");
                return Ok(());
            }
            tokio::time::sleep(RETRY).await;
        }
    }
}
