//! Checkpoints of the audit trail: the head (an event's number and hash), signed with a key
//! the store does not hold and kept beside the chain. The chain alone cannot show that its
//! newest events were removed (what remains still links); a checkpoint naming an event the
//! trail no longer reaches can, and whoever writes the store cannot sign a replacement.
//!
//! `serve` asks [`AuditCheckpoints::checkpoint_if_due`] periodically and
//! [`AuditCheckpoints::checkpoint`] at shutdown; `users-service audit checkpoint` asks for
//! one on demand. The store checks nothing: verification (crate `audit-chain`) checks every
//! signature and every checkpoint against the chain.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::DomainError;
use crate::model::{AuditCheckpoint, AuditEvent, AuditFilter, AuditRecord};
use crate::ports::{AuditLog, CheckpointSigner, Clock, PageRequest};

/// What a request for a checkpoint found, or did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointOutcome {
    /// A checkpoint of the head was signed and stored.
    Made(AuditCheckpoint),
    /// The latest checkpoint already names the head (perhaps stored by another process).
    Current(AuditCheckpoint),
    /// The trail has no event: there is nothing to vouch for.
    EmptyTrail,
    /// Fewer events than asked for were appended since the latest checkpoint.
    NotDue,
    /// The latest checkpoint names an event beyond the head, or the head with another hash:
    /// the trail was cut or rewritten. Nothing is signed (`audit verify` tells the rest).
    Contradicted {
        /// The latest checkpoint.
        checkpoint: AuditCheckpoint,
        /// The trail's newest event (boxed: it is the rare, large variant).
        head: Box<AuditEvent>,
    },
}

/// Signs and stores checkpoints of the audit trail.
pub struct AuditCheckpoints {
    audit: Arc<dyn AuditLog>,
    signer: Arc<dyn CheckpointSigner>,
    clock: Arc<dyn Clock>,
    /// The highest event number known to be checkpointed, so that a periodic check costs
    /// one small read while nothing is due.
    known: AtomicU64,
}

impl std::fmt::Debug for AuditCheckpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditCheckpoints")
            .field("key_id", &self.signer.key_id())
            .finish_non_exhaustive()
    }
}

impl AuditCheckpoints {
    /// Checkpoints of `audit`, signed by `signer`, dated by `clock`.
    pub fn new(
        audit: Arc<dyn AuditLog>,
        signer: Arc<dyn CheckpointSigner>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            audit,
            signer,
            clock,
            known: AtomicU64::new(0),
        }
    }

    /// Id of the key that signs.
    pub fn key_id(&self) -> String {
        self.signer.key_id()
    }

    /// Checkpoints the head now, unless the latest checkpoint already names it.
    ///
    /// # Errors
    /// The store's error.
    pub async fn checkpoint(&self) -> Result<CheckpointOutcome, DomainError> {
        let newest = PageRequest {
            offset: 0,
            limit: 1,
        };
        let head = self.audit.find(&AuditFilter::default(), newest).await?;
        let Some(head) = head.items.into_iter().next() else {
            return Ok(CheckpointOutcome::EmptyTrail);
        };
        if let Some(latest) = self.audit.latest_checkpoint().await? {
            self.note(latest.seq);
            if latest.seq > head.seq || (latest.seq == head.seq && latest.hash != head.hash) {
                return Ok(CheckpointOutcome::Contradicted {
                    checkpoint: latest,
                    head: Box::new(head),
                });
            }
            if latest.seq == head.seq {
                return Ok(CheckpointOutcome::Current(latest));
            }
        }
        let at = AuditRecord::truncate_to_millis(self.clock.now());
        let checkpoint = self.signer.sign(head.seq, &head.hash, at);
        if self.audit.save_checkpoint(&checkpoint).await? {
            self.note(checkpoint.seq);
            return Ok(CheckpointOutcome::Made(checkpoint));
        }
        // Another process stored a checkpoint of this head first; that one stands.
        let stored = self.audit.latest_checkpoint().await?;
        Ok(CheckpointOutcome::Current(stored.unwrap_or(checkpoint)))
    }

    /// Checkpoints the head when at least `every` events were appended since the latest
    /// checkpoint (since the start of the trail when there is none).
    ///
    /// # Errors
    /// The store's error.
    pub async fn checkpoint_if_due(
        &self,
        every: NonZeroU64,
    ) -> Result<CheckpointOutcome, DomainError> {
        if !self
            .has_event_past(self.known.load(Ordering::Relaxed), every)
            .await?
        {
            return Ok(CheckpointOutcome::NotDue);
        }
        // Due as far as this process knows; another one may have checkpointed since.
        if let Some(latest) = self.audit.latest_checkpoint().await? {
            self.note(latest.seq);
            if !self.has_event_past(latest.seq, every).await? {
                return Ok(CheckpointOutcome::NotDue);
            }
        }
        self.checkpoint().await
    }

    /// Whether the trail holds event `last + every` (one event read at most).
    async fn has_event_past(&self, last: u64, every: NonZeroU64) -> Result<bool, DomainError> {
        let after = last.saturating_add(every.get() - 1);
        Ok(!self.audit.chain(after, 1).await?.is_empty())
    }

    fn note(&self, seq: u64) {
        self.known.fetch_max(seq, Ordering::Relaxed);
    }
}
