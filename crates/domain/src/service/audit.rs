//! The audit trail: how use cases record their calls, and reading it back (ADMIN only).
//!
//! Every call of a security-relevant use case leaves one event, whether it took effect or
//! failed (a refused login, a forbidden deletion: the attempts matter as much as the acts).
//! The event of a change travels with the change: the use case hands it to the store's
//! write, which appends it atomically with the change (no change without its event, no
//! event for a change that did not happen). A refusal changes nothing, so its event is
//! appended on its own, after the call ([`UserService::settle`]).

use super::UserService;
use crate::error::DomainError;
use crate::model::{Actor, AuditEvent, AuditFilter, AuditKind, AuditRecord, Permission, UserId};
use crate::ports::{Page, PageRequest};

/// The part of an event a use case knows; the service adds the time, the outcome and the
/// request context.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    kind: AuditKind,
    actor: Option<UserId>,
    target: Option<UserId>,
    details: Vec<(String, String)>,
}

impl Entry {
    pub(super) fn new(kind: AuditKind) -> Self {
        Self {
            kind,
            actor: None,
            target: None,
            details: Vec::new(),
        }
    }

    pub(super) fn by(mut self, actor: UserId) -> Self {
        self.actor = Some(actor);
        self
    }

    pub(super) fn on(mut self, target: impl Into<Option<UserId>>) -> Self {
        self.target = target.into();
        self
    }

    pub(super) fn detail(mut self, name: &str, value: impl Into<String>) -> Self {
        self.details.push((name.to_owned(), value.into()));
        self
    }

    /// Names the fields a call changes (never their values: one of them may be a password).
    pub(super) fn fields(self, names: &[&str]) -> Self {
        if names.is_empty() {
            self
        } else {
            self.detail("fields", names.join(","))
        }
    }
}

impl UserService {
    /// Passes `result` on; a failure is recorded as the outcome of `entry` (a success's
    /// event went with its write). A refusal keeps its own error even when its event
    /// cannot be appended: that failure is logged by the store's decorator.
    pub(super) async fn settle<T>(
        &self,
        entry: Entry,
        result: Result<T, DomainError>,
    ) -> Result<T, DomainError> {
        if let Err(error) = &result {
            let _ = self.audit.append(&self.record_of(entry, Some(error))).await;
        }
        result
    }

    /// The event `entry` describes, stamped with the time and this request's context.
    pub(super) fn record_of(&self, entry: Entry, failure: Option<&DomainError>) -> AuditRecord {
        AuditRecord {
            at: AuditRecord::truncate_to_millis(self.clock.now()),
            kind: entry.kind,
            failure: failure.map(|e| e.code().to_owned()),
            actor: entry.actor,
            target: entry.target,
            context: self.context.clone(),
            details: entry.details,
        }
    }

    /// One page of the audit trail, newest first.
    pub async fn audit_trail(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, DomainError> {
        actor.authorize(Permission::AuditRead)?;
        Ok(self.audit.find(filter, page).await?)
    }

    /// The events where `id` acted or was acted on, newest first. A deleted user's history
    /// outlives the account, so an unknown id is an empty history, not a 404.
    pub async fn user_history(
        &self,
        actor: &Actor,
        id: UserId,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, DomainError> {
        let filter = AuditFilter {
            involving: Some(id),
            ..AuditFilter::default()
        };
        self.audit_trail(actor, &filter, page).await
    }
}
