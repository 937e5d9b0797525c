//! Use cases: one method of [`UserService`] per operation of both HTTP dialects.

mod admin;
mod audit;
mod auth;
pub mod checkpoint;
mod profile;

use std::sync::Arc;

pub use admin::{Bootstrap, NewUser, UserUpdate};
pub use auth::Registration;
pub use profile::ProfileUpdate;

use self::audit::Entry;
use crate::error::{DomainError, PolicyViolation, UniqueField};
use crate::model::{
    AuditKind, Email, Login, PasswordHash, PlainPassword, RequestContext, Role, User, UserId,
};
use crate::policy::{AttemptVerdict, LockoutPolicy, PasswordContext, PasswordPolicy};
use crate::ports::{
    AuditLog, Clock, IdGenerator, LimitScope, PasswordHasher, RateLimiter, RepoError,
    SecretGenerator, Update, UserRepository,
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
    /// Budgets of password attempts per client and per account ([`crate::ports::Unlimited`]
    /// to turn them off).
    pub limiter: Arc<dyn RateLimiter>,
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
    limiter: Arc<dyn RateLimiter>,
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

/// What a change of a user carries into its write (see [`UserService::modify`]).
#[derive(Debug, Default)]
struct Effects {
    /// The audit events of the change, appended atomically with it.
    events: Vec<Entry>,
    /// Whether the write also clears the lockout (an administrator's unblock or reset).
    clear_lockout: bool,
}

impl Effects {
    /// A change recorded by `entry`.
    fn recorded(entry: Entry) -> Self {
        Self {
            events: vec![entry],
            clear_lockout: false,
        }
    }

    /// The same, also clearing the lockout when `clear` (rule 9).
    fn clearing_lockout(self, clear: bool) -> Self {
        Self {
            clear_lockout: clear,
            ..self
        }
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
            limiter: ports.limiter,
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

    /// Loads `id`, applies `change`, and writes the result guarded by the version read,
    /// with the [`Effects`] `change` returns; on a concurrent write it starts again from
    /// fresh data, so `change` always judges the current state. A call that changes
    /// nothing writes nothing; its events, if any, record the call alone (there is no
    /// change for them to go with). The store refuses to remove the last active ADMIN
    /// atomically with the write (rule 8), for every path.
    async fn modify(
        &self,
        id: UserId,
        mut change: impl FnMut(&mut User) -> Result<Effects, DomainError> + Send,
    ) -> Result<User, DomainError> {
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let current = self.load(id).await?;
            let mut next = current.clone();
            let effects = change(&mut next)?;
            let clear_lockout = effects.clear_lockout && current.has_lockout();
            if next == current && !clear_lockout {
                for entry in effects.events {
                    self.audit.append(&self.record_of(entry, None)).await?;
                }
                return Ok(current);
            }
            next.version = current.version + 1;
            next.updated_at = self.clock.now();
            let events: Vec<_> = effects
                .events
                .into_iter()
                .map(|e| self.record_of(e, None))
                .collect();
            let update = Update {
                user: next.clone(),
                expected_version: current.version,
                clear_lockout,
                events,
            };
            match self.repo.update(&update).await {
                Ok(()) => {
                    if clear_lockout {
                        next.failed_logins = 0;
                        next.locked_until = None;
                    }
                    return Ok(next);
                }
                Err(RepoError::VersionMismatch) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::VersionConflict)
    }

    /// Counts a password attempt against the client of this request and against
    /// `account`, before any hashing: every use case that verifies or sets a password
    /// gets its hasher from here, so none can skip the budgets. An account is named by its
    /// login key, which is also what a login by login counts against (a login by e-mail
    /// counts against the address: the identifier typed, whether an account has it or not).
    fn passwords(&self, account: &str) -> Result<&dyn PasswordHasher, DomainError> {
        let over = |retry_after| DomainError::RateLimited { retry_after };
        if let Some(client) = &self.context.client_ip {
            self.limiter
                .check(LimitScope::Client, client)
                .map_err(over)?;
        }
        self.limiter
            .check(LimitScope::Account, account)
            .map_err(over)?;
        Ok(&*self.hasher)
    }

    /// Rule 3 in full: the policy, plus "differs from the current password" when there is
    /// one (only the owner's own changes compare: no one else may learn whether a value is
    /// someone's current password).
    async fn check_new_password(
        &self,
        hasher: &dyn PasswordHasher,
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
            && hasher.verify(password, current).await?
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
            && let Ok(as_login) = Login::recognise(email.as_str())
            && let Some(other) = self.repo.find_by_login(&as_login).await?
            && other.id != owner
        {
            return Err(DomainError::Conflict(UniqueField::Email));
        }
        Ok(())
    }

    /// Verifies `password` for `user` under the lockout (rule 9): the attempt is counted
    /// before it is verified, a wrong one may lock the account, a right one resets the count
    /// unless the account got locked meanwhile (a success never clears a lock). A `login`
    /// also records the time as `last_login_at`, and its `success` events with it.
    ///
    /// `Ok(false)` is a wrong password that did not lock; a lock, old or new, is
    /// `AccountLocked`.
    async fn verify_under_lockout(
        &self,
        hasher: &dyn PasswordHasher,
        user: &User,
        password: &PlainPassword,
        login: bool,
        success: Vec<Entry>,
    ) -> Result<bool, DomainError> {
        let policy = self.config.lockout;
        let now = self.clock.now();
        let reserved = self
            .repo
            .reserve_login_attempt(user.id, now, policy.attempt_limit())
            .await?;
        let number = match policy.judge(reserved, now) {
            AttemptVerdict::Verify { number } => number,
            AttemptVerdict::Refuse { retry_after } => {
                return Err(DomainError::AccountLocked { retry_after });
            }
            AttemptVerdict::LockNow => {
                return Err(self
                    .lock_account(user.id, policy.lock_until(now), now)
                    .await?);
            }
        };
        if !hasher.verify(password, &user.password_hash).await? {
            let now = self.clock.now();
            return match policy.after_failure(number, now) {
                Some(until) => Err(self.lock_account(user.id, until, now).await?),
                None => Ok(false),
            };
        }
        let now = self.clock.now();
        let events: Vec<_> = success
            .into_iter()
            .map(|e| self.record_of(e, None))
            .collect();
        let last_login = login.then_some(now);
        match self
            .repo
            .record_success(user.id, now, last_login, &events)
            .await?
        {
            None => Ok(true),
            Some(until) => Err(DomainError::AccountLocked {
                retry_after: LockoutPolicy::remaining(until, now),
            }),
        }
    }

    /// Locks `id` until `until`, recording the lock once (a lock already in place stays as
    /// it is); the error to answer.
    async fn lock_account(
        &self,
        id: UserId,
        until: time::OffsetDateTime,
        now: time::OffsetDateTime,
    ) -> Result<DomainError, DomainError> {
        let policy = self.config.lockout;
        let entry = Entry::new(AuditKind::AccountLocked)
            .on(id)
            .detail("failures", policy.attempt_limit().to_string())
            .detail("seconds", policy.lock_duration.as_secs().to_string());
        self.repo
            .lock(id, until, now, &[self.record_of(entry, None)])
            .await?;
        Ok(DomainError::AccountLocked {
            retry_after: LockoutPolicy::remaining(until, now),
        })
    }

    /// Verifies a password given to confirm a self-service change; a wrong one counts
    /// towards the lockout like a failed login (rule 9).
    async fn confirm_password(
        &self,
        hasher: &dyn PasswordHasher,
        user: &User,
        password: &PlainPassword,
    ) -> Result<(), DomainError> {
        if self
            .verify_under_lockout(hasher, user, password, false, Vec::new())
            .await?
        {
            Ok(())
        } else {
            Err(DomainError::WrongCurrentPassword)
        }
    }
}
