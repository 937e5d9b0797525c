//! Use cases: one method of [`UserService`] per operation of both HTTP dialects.

mod admin;
mod audit;
mod auth;
pub mod checkpoint;
mod profile;

use std::sync::Arc;

pub use admin::{NewUser, UserUpdate};
pub use auth::Registration;
pub use profile::ProfileUpdate;

use crate::error::{DomainError, PolicyViolation, UniqueField};
use crate::model::{Email, Login, PasswordHash, PlainPassword, RequestContext, Role, User, UserId};
use crate::policy::{LockoutPolicy, PasswordContext, PasswordPolicy};
use crate::ports::{
    AuditLog, Clock, IdGenerator, PasswordHasher, RepoError, SecretGenerator, UserRepository,
};

/// Tunable behaviour of the use cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Rule 3.
    pub password_policy: PasswordPolicy,
    /// Rule 9.
    pub lockout: LockoutPolicy,
    /// Role given to self-registered users, and to ADMINs demoted by `is_admin: false`.
    pub default_role: Role,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            password_policy: PasswordPolicy::default(),
            lockout: LockoutPolicy::default(),
            default_role: Role::Contribuable,
        }
    }
}

/// The adapters a [`UserService`] works through.
#[allow(missing_debug_implementations, reason = "trait objects only")]
#[derive(Clone)]
pub struct Ports {
    /// Where users live.
    pub repo: Arc<dyn UserRepository>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// New ids.
    pub ids: Arc<dyn IdGenerator>,
    /// Temporary passwords.
    pub secrets: Arc<dyn SecretGenerator>,
    /// The audit trail.
    pub audit: Arc<dyn AuditLog>,
}

/// Every use case of the service, over the ports.
#[derive(Clone)]
pub struct UserService {
    repo: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    secrets: Arc<dyn SecretGenerator>,
    audit: Arc<dyn AuditLog>,
    config: ServiceConfig,
    context: RequestContext,
}

impl std::fmt::Debug for UserService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Optimistic-concurrency retries before giving up with `VersionConflict`.
const MAX_UPDATE_ATTEMPTS: usize = 5;

impl UserService {
    /// Builds the service over its ports.
    pub fn new(ports: Ports, config: ServiceConfig) -> Self {
        Self {
            repo: ports.repo,
            hasher: ports.hasher,
            clock: ports.clock,
            ids: ports.ids,
            secrets: ports.secrets,
            audit: ports.audit,
            config,
            context: RequestContext::default(),
        }
    }

    /// The same service, stamping `context` on the audit events of the calls made through it:
    /// one per request, so use cases need no extra parameter (a clone is a few `Arc`s).
    pub fn in_context(&self, context: RequestContext) -> Self {
        Self {
            context,
            ..self.clone()
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// Readiness: whether the store answers.
    pub async fn store_ready(&self) -> Result<(), DomainError> {
        Ok(self.repo.ping().await?)
    }

    async fn load(&self, id: UserId) -> Result<User, DomainError> {
        self.repo.get(id).await?.ok_or(DomainError::NotFound)
    }

    /// Loads `id`, applies `change`, and writes the result guarded by the version read;
    /// on a concurrent write it starts again from fresh data, so `change` always judges
    /// the current state. Removing the last active ADMIN is refused here, for every path.
    async fn modify(
        &self,
        id: UserId,
        mut change: impl FnMut(&mut User) -> Result<(), DomainError> + Send,
    ) -> Result<User, DomainError> {
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let current = self.load(id).await?;
            let mut next = current.clone();
            change(&mut next)?;
            if current.is_active_admin() && !next.is_active_admin() {
                self.ensure_another_active_admin().await?;
            }
            next.version = current.version + 1;
            next.updated_at = self.clock.now();
            match self.repo.update(&next, current.version).await {
                Ok(()) => return Ok(next),
                Err(RepoError::VersionMismatch) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::VersionConflict)
    }

    /// Rule 8: the target is an active ADMIN about to stop being one.
    async fn ensure_another_active_admin(&self) -> Result<(), DomainError> {
        if self.repo.count_active_admins().await? <= 1 {
            Err(DomainError::LastAdmin)
        } else {
            Ok(())
        }
    }

    /// Rule 3 in full: the policy, plus "differs from the current password" when there is one.
    async fn check_new_password(
        &self,
        password: &PlainPassword,
        login: Option<&Login>,
        email: Option<&Email>,
        current: Option<&PasswordHash>,
    ) -> Result<(), DomainError> {
        let mut violations = self
            .config
            .password_policy
            .check(password, PasswordContext { login, email });
        if let Some(current) = current
            && self.hasher.verify(password, current).await?
        {
            violations.push(PolicyViolation::SameAsCurrent);
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(DomainError::WeakPassword(violations))
        }
    }

    /// Login accepts a login or an e-mail, so a login must not be another user's e-mail,
    /// nor an e-mail another user's login: either pair would make one account unreachable
    /// by its identifier (rule 1, read across both fields).
    async fn ensure_unambiguous(
        &self,
        owner: UserId,
        login: Option<&Login>,
        email: Option<&Email>,
    ) -> Result<(), DomainError> {
        if let Some(login) = login
            && let Ok(as_email) = Email::parse(login.as_str())
            && let Some(other) = self.repo.find_by_email(&as_email).await?
            && other.id != owner
        {
            // When the login is the account's own address (v1), the clash is the address's.
            let field = if email.is_some_and(|e| e.key() == login.key()) {
                UniqueField::Email
            } else {
                UniqueField::Login
            };
            return Err(DomainError::Conflict(field));
        }
        if let Some(email) = email
            && let Ok(as_login) = Login::parse(email.as_str())
            && let Some(other) = self.repo.find_by_login(&as_login).await?
            && other.id != owner
        {
            return Err(DomainError::Conflict(UniqueField::Email));
        }
        Ok(())
    }

    /// Verifies a password given to confirm a self-service change.
    async fn confirm_password(
        &self,
        user: &User,
        password: &PlainPassword,
    ) -> Result<(), DomainError> {
        if self.hasher.verify(password, &user.password_hash).await? {
            Ok(())
        } else {
            Err(DomainError::WrongCurrentPassword)
        }
    }
}
