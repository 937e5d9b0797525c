//! The audit trail: how use cases record their calls, and reading it back (ADMIN only).
//!
//! Every call of a security-relevant use case leaves one event, whether it took effect or
//! failed (a refused login, a forbidden deletion: the attempts matter as much as the acts).
//! The event is appended after the call: when the append fails, a call that had succeeded
//! reports the store error instead, so nothing is acknowledged without its event (the change
//! itself is kept: every store writes the two separately).

use super::UserService;
use crate::error::DomainError;
use crate::model::{
    Actor, AuditEvent, AuditFilter, AuditKind, AuditRecord, Permission, User, UserId,
};
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
    /// Records `result` as the outcome of `entry` and passes it on (see the module's docs
    /// for a failing append).
    pub(super) async fn settle<T>(
        &self,
        entry: Entry,
        result: Result<T, DomainError>,
    ) -> Result<T, DomainError> {
        let recorded = self.record(entry, result.as_ref().err()).await;
        let value = result?;
        recorded?;
        Ok(value)
    }

    /// Like [`UserService::settle`] for a creation: the target is the user created, if any.
    pub(super) async fn settle_creation(
        &self,
        entry: Entry,
        result: Result<User, DomainError>,
    ) -> Result<User, DomainError> {
        let target = result.as_ref().ok().map(|user| user.id);
        self.settle(entry.on(target), result).await
    }

    /// Appends one event.
    pub(super) async fn record(
        &self,
        entry: Entry,
        failure: Option<&DomainError>,
    ) -> Result<(), DomainError> {
        let record = AuditRecord {
            at: AuditRecord::truncate_to_millis(self.clock.now()),
            kind: entry.kind,
            failure: failure.map(|e| e.code().to_owned()),
            actor: entry.actor,
            target: entry.target,
            context: self.context.clone(),
            details: entry.details,
        };
        self.audit.append(&record).await?;
        Ok(())
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
