//! Sessions: self-registration, login, token checks, logout and the own-password change.

use super::UserService;
use super::admin::NewUser;
use super::audit::Entry;
use crate::error::{DomainError, FieldError};
use crate::model::{Actor, AuditKind, Email, FullName, Login, PlainPassword, User, UserId};

/// A self-registration.
#[derive(Clone, Debug)]
pub struct Registration {
    /// Login; v1 has none and uses the e-mail address.
    pub login: Option<Login>,
    /// E-mail.
    pub email: Email,
    /// Full name.
    pub full_name: FullName,
    /// Password chosen by the person.
    pub password: PlainPassword,
}

impl UserService {
    /// Self-registration with the default role; the password was chosen by its owner, so
    /// no change is required at first login (rule 4).
    pub async fn register(&self, registration: Registration) -> Result<User, DomainError> {
        let result = self.register_unaudited(registration).await;
        self.settle_creation(Entry::new(AuditKind::Registered), result)
            .await
    }

    async fn register_unaudited(&self, registration: Registration) -> Result<User, DomainError> {
        let login = match registration.login {
            Some(login) => login,
            None => Login::parse(registration.email.as_str()).map_err(|_| {
                DomainError::Validation(vec![FieldError::new(
                    "email",
                    "EMAIL_NOT_USABLE_AS_LOGIN",
                    "this address cannot serve as a login (at most 64 characters among letters, digits and . _ - @ +)",
                )])
            })?,
        };
        let mut new = NewUser::minimal(
            login,
            registration.password,
            registration.full_name,
            self.config.default_role,
        );
        new.email = Some(registration.email);
        self.create(new, false).await
    }

    /// Finds an account by login or e-mail, ignoring case.
    async fn find_by_identifier(&self, identifier: &str) -> Result<Option<User>, DomainError> {
        if let Ok(login) = Login::parse(identifier)
            && let Some(user) = self.repo.find_by_login(&login).await?
        {
            return Ok(Some(user));
        }
        match Email::parse(identifier) {
            Ok(email) => Ok(self.repo.find_by_email(&email).await?),
            Err(_) => Ok(None),
        }
    }

    /// Checks credentials and returns the user to issue a token for (rules 6, 9, 10, 11).
    ///
    /// Unknown identifiers cost one verification against a dummy hash and fail exactly like a
    /// wrong password. A locked account answers `AccountLocked` without verifying; blocked and
    /// inactive are revealed only after a correct password. A correct password resets the
    /// failure counter and upgrades an outdated hash.
    ///
    /// Every attempt is audited, against the account when the identifier named one (the
    /// identifier itself is not kept: it may be a password typed in the wrong field).
    pub async fn login(
        &self,
        identifier: &str,
        password: &PlainPassword,
    ) -> Result<User, DomainError> {
        let mut account = None;
        let result = self
            .login_unaudited(identifier, password, &mut account)
            .await;
        let entry = match &result {
            Ok(user) => Entry::new(AuditKind::LoginSucceeded)
                .by(user.id)
                .on(user.id),
            Err(_) => Entry::new(AuditKind::LoginFailed).on(account),
        };
        self.settle(entry, result).await
    }

    async fn login_unaudited(
        &self,
        identifier: &str,
        password: &PlainPassword,
        account: &mut Option<UserId>,
    ) -> Result<User, DomainError> {
        let Some(mut user) = self.find_by_identifier(identifier).await? else {
            let _ = self
                .hasher
                .verify(password, &self.hasher.dummy_hash())
                .await?;
            return Err(DomainError::InvalidCredentials);
        };
        *account = Some(user.id);
        let now = self.clock.now();
        if let Some(retry_after) = user.lock_remaining(now) {
            return Err(DomainError::AccountLocked { retry_after });
        }
        if !self.hasher.verify(password, &user.password_hash).await? {
            let failures = self.repo.record_failed_login(user.id).await?;
            let lockout = self.config.lockout;
            if failures >= lockout.max_failures {
                let until = now + lockout.lock_duration;
                self.repo.lock(user.id, until).await?;
                let entry = Entry::new(AuditKind::AccountLocked)
                    .on(user.id)
                    .detail("failures", failures.to_string())
                    .detail("seconds", lockout.lock_duration.as_secs().to_string());
                self.record(entry, None).await?;
                return Err(DomainError::AccountLocked {
                    retry_after: lockout.lock_duration,
                });
            }
            return Err(DomainError::InvalidCredentials);
        }
        if user.blocked {
            return Err(DomainError::AccountBlocked);
        }
        if !user.active {
            return Err(DomainError::AccountInactive);
        }
        self.repo.clear_failures(user.id, Some(now)).await?;
        user.failed_logins = 0;
        user.locked_until = None;
        user.last_login_at = Some(now);
        if self.hasher.needs_rehash(&user.password_hash) {
            // Best effort: a concurrent update only postpones the upgrade to the next login.
            if let Ok(hash) = self.hasher.hash(password).await {
                let mut upgraded = user.clone();
                upgraded.password_hash = hash;
                upgraded.version += 1;
                upgraded.updated_at = now;
                if self.repo.update(&upgraded, user.version).await.is_ok() {
                    user = upgraded;
                }
            }
        }
        Ok(user)
    }

    /// Resolves a token's subject to the stored user, refusing missing, blocked or inactive
    /// users and revoked tokens (rules 6, 7, 12).
    pub async fn authenticate(&self, id: UserId, token_version: u64) -> Result<User, DomainError> {
        match self.repo.get(id).await? {
            Some(user) if user.active && !user.blocked && user.token_version == token_version => {
                Ok(user)
            }
            _ => Err(DomainError::InvalidToken),
        }
    }

    /// Revokes every token of the actor (rule 7).
    pub async fn logout(&self, actor: &Actor) -> Result<(), DomainError> {
        let result = self
            .modify(actor.id, |user| {
                user.revoke_tokens();
                Ok(())
            })
            .await
            .map(drop);
        let entry = Entry::new(AuditKind::Logout).by(actor.id).on(actor.id);
        self.settle(entry, result).await
    }

    /// Changes the actor's own password, clears the first-login restriction and revokes
    /// older tokens (rules 3, 5, 7); the caller issues a fresh token for the returned user.
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        current: &PlainPassword,
        new: &PlainPassword,
    ) -> Result<User, DomainError> {
        let result = self
            .change_own_password_unaudited(actor, current, new)
            .await;
        let entry = Entry::new(AuditKind::PasswordChanged)
            .by(actor.id)
            .on(actor.id);
        self.settle(entry, result).await
    }

    async fn change_own_password_unaudited(
        &self,
        actor: &Actor,
        current: &PlainPassword,
        new: &PlainPassword,
    ) -> Result<User, DomainError> {
        let user = self.load(actor.id).await?;
        self.confirm_password(&user, current).await?;
        self.check_new_password(
            new,
            Some(&user.login),
            user.email.as_ref(),
            Some(&user.password_hash),
        )
        .await?;
        let hash = self.hasher.hash(new).await?;
        self.modify(actor.id, |user| {
            user.set_password(hash.clone(), true);
            Ok(())
        })
        .await
    }
}
