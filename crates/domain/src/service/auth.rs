//! Sessions: self-registration, login, token checks, logout and the own-password change.

use super::admin::NewUser;
use super::audit::Entry;
use super::{Effects, UserService};
use crate::error::{DomainError, FieldError};
use crate::model::{Actor, AuditKind, Email, FullName, Login, PlainPassword, User, UserId, fold};
use crate::ports::Update;

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
        let entry = Entry::new(AuditKind::Registered);
        let result = self.register_unaudited(registration, entry.clone()).await;
        self.settle(entry, result).await
    }

    async fn register_unaudited(
        &self,
        registration: Registration,
        entry: Entry,
    ) -> Result<User, DomainError> {
        let login = match registration.login {
            Some(login) => login,
            None => Login::parse(registration.email.as_str()).map_err(|_| {
                DomainError::Validation(vec![FieldError::new(
                    "email",
                    "EMAIL_NOT_USABLE_AS_LOGIN",
                    "this address cannot serve as a login (at most 64 characters among letters, digits and . _ - @ +, in one script)",
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
        self.create(new, false, entry).await
    }

    /// Finds an account by login or e-mail, ignoring case.
    async fn find_by_identifier(&self, identifier: &str) -> Result<Option<User>, DomainError> {
        if let Ok(login) = Login::recognise(identifier)
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
    /// The attempt is counted against the client and the identifier first (rate limits),
    /// then, for a known account, reserved under the lockout before the password is
    /// verified (see `verify_under_lockout`). Unknown identifiers cost one verification
    /// against a dummy hash and fail exactly like a wrong password. A locked account answers
    /// `AccountLocked` without verifying; blocked and inactive are revealed only after a
    /// correct password. A correct password resets the failure counter (unless a
    /// concurrent failure locked the account) and upgrades an outdated hash.
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
        self.settle(Entry::new(AuditKind::LoginFailed).on(account), result)
            .await
    }

    async fn login_unaudited(
        &self,
        identifier: &str,
        password: &PlainPassword,
        account: &mut Option<UserId>,
    ) -> Result<User, DomainError> {
        // Keyed by what was typed, known account or not: a budget that only known
        // accounts had would tell them apart.
        let hasher = self.passwords(&fold(identifier.trim()))?;
        let Some(mut user) = self.find_by_identifier(identifier).await? else {
            let _ = hasher.verify(password, &hasher.dummy_hash()).await?;
            return Err(DomainError::InvalidCredentials);
        };
        *account = Some(user.id);
        // Blocked and inactive are checked after the password, from the user read before
        // it: a block that lands meanwhile revokes the token at its first use (rule 6).
        let blocked_or_inactive = if user.blocked {
            Some(DomainError::AccountBlocked)
        } else if !user.active {
            Some(DomainError::AccountInactive)
        } else {
            None
        };
        let success = match blocked_or_inactive {
            Some(_) => Vec::new(),
            None => vec![
                Entry::new(AuditKind::LoginSucceeded)
                    .by(user.id)
                    .on(user.id),
            ],
        };
        // A blocked or inactive account's attempts count like any other; a correct
        // password there records no login, it only reveals the state.
        let verified = self
            .verify_under_lockout(
                hasher,
                &user,
                password,
                blocked_or_inactive.is_none(),
                success,
            )
            .await?;
        if !verified {
            return Err(DomainError::InvalidCredentials);
        }
        if let Some(refusal) = blocked_or_inactive {
            return Err(refusal);
        }
        let now = self.clock.now();
        user.failed_logins = 0;
        user.last_login_at = Some(now);
        if hasher.needs_rehash(&user.password_hash) {
            // Best effort: a concurrent update only postpones the upgrade to the next login.
            if let Ok(hash) = hasher.hash(password).await {
                let mut upgraded = user.clone();
                upgraded.password_hash = hash;
                upgraded.version += 1;
                upgraded.updated_at = now;
                let update = Update::new(&upgraded, user.version);
                if self.repo.update(&update).await.is_ok() {
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
        let entry = Entry::new(AuditKind::Logout).by(actor.id).on(actor.id);
        let result = self
            .modify(actor.id, |user| {
                user.revoke_tokens();
                Ok(Effects::recorded(entry.clone()))
            })
            .await
            .map(drop);
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
        let entry = Entry::new(AuditKind::PasswordChanged)
            .by(actor.id)
            .on(actor.id);
        let result = self
            .change_own_password_unaudited(actor, current, new, &entry)
            .await;
        self.settle(entry, result).await
    }

    async fn change_own_password_unaudited(
        &self,
        actor: &Actor,
        current: &PlainPassword,
        new: &PlainPassword,
        entry: &Entry,
    ) -> Result<User, DomainError> {
        let user = self.load(actor.id).await?;
        let hasher = self.passwords(user.login.key())?;
        self.confirm_password(hasher, &user, current).await?;
        self.check_new_password(
            hasher,
            new,
            Some(&user.login),
            user.email.as_ref(),
            Some(&user.password_hash),
        )
        .await?;
        let hash = hasher.hash(new).await?;
        self.modify(actor.id, |user| {
            user.set_password(hash.clone(), true);
            Ok(Effects::recorded(entry.clone()))
        })
        .await
    }
}
