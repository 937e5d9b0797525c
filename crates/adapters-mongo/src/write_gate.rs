//! Serialises, within this process, the writes to one user.
//!
//! Why: FerretDB 1.x (SQLite backend, the test server here) executes an update as "read
//! the matching documents, apply the operators in Go, write the whole documents back"
//! with no lock between the read and the write. Measured on FerretDB 1.24.2: 50
//! concurrent `$inc` of one field left 4, and 20 concurrent updates filtered on one
//! `version` had 7 winners. MongoDB applies each single-document update atomically, so
//! there the filters and operators alone are correct across processes, and this gate
//! only costs a lock per write.
//!
//! With the gate, writes to one user from this process take turns, which restores the
//! port's guarantees on FerretDB for a single replica. Several replicas writing the same
//! user through FerretDB 1.x can still lose updates: run one replica on FerretDB, or use
//! MongoDB.
//!
//! Striped: a fixed table of async mutexes indexed by a hash of the id, so memory stays
//! bounded whatever the number of users; two users sharing a stripe only wait for each
//! other's (short) writes.

use std::hash::{DefaultHasher, Hash, Hasher};

use domain::model::UserId;
use tokio::sync::{Mutex, MutexGuard};

/// Stripes: far more than the writes one replica has in flight at once.
const STRIPES: usize = 256;

#[derive(Debug)]
pub(crate) struct WriteGate {
    stripes: [Mutex<()>; STRIPES],
}

impl WriteGate {
    pub(crate) fn new() -> Self {
        Self {
            stripes: std::array::from_fn(|_| Mutex::new(())),
        }
    }

    /// Waits for this process's other writes to `id`; the turn ends when the guard drops
    /// (also when the operation times out or its future is dropped).
    pub(crate) async fn enter(&self, id: UserId) -> MutexGuard<'_, ()> {
        // SipHash of every byte: sample and real ids differ in any of their bytes.
        let mut hasher = DefaultHasher::new();
        id.hash(&mut hasher);
        // The remainder is below STRIPES, so it fits in usize.
        let index = usize::try_from(hasher.finish() % STRIPES as u64).unwrap_or(0);
        self.stripes[index].lock().await
    }
}
