//! Self-service on one's own account.

use super::audit::Entry;
use super::{Effects, UserService};
use crate::error::{DomainError, FieldError};
use crate::model::{Actor, AuditKind, Email, FullName, PlainPassword, User};

/// A change of one's own profile (v1 `PUT /users/me`).
#[derive(Clone, Debug, Default)]
pub struct ProfileUpdate {
    /// New e-mail (needs `current_password`).
    pub email: Option<Email>,
    /// New full name.
    pub full_name: Option<FullName>,
    /// New password (needs `current_password`).
    pub password: Option<PlainPassword>,
    /// Confirms e-mail and password changes.
    pub current_password: Option<PlainPassword>,
}

impl ProfileUpdate {
    /// The names of the fields it changes, for the audit trail.
    fn field_names(&self) -> Vec<&'static str> {
        [
            ("email", self.email.is_some()),
            ("full_name", self.full_name.is_some()),
            ("password", self.password.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect()
    }
}

impl UserService {
    /// The actor's own account, as stored now.
    pub async fn profile(&self, actor: &Actor) -> Result<User, DomainError> {
        self.load(actor.id).await
    }

    /// Changes one's own e-mail, name or password. While the first-login restriction holds,
    /// only the password may change (rule 5). A new password revokes older tokens (rule 7).
    /// A change that includes the password is audited as a password change.
    pub async fn update_profile(
        &self,
        actor: &Actor,
        update: ProfileUpdate,
    ) -> Result<User, DomainError> {
        let kind = if update.password.is_some() {
            AuditKind::PasswordChanged
        } else {
            AuditKind::ProfileUpdated
        };
        let entry = Entry::new(kind)
            .by(actor.id)
            .on(actor.id)
            .fields(&update.field_names());
        let result = self.update_profile_unaudited(actor, update, &entry).await;
        self.settle(entry, result).await
    }

    async fn update_profile_unaudited(
        &self,
        actor: &Actor,
        update: ProfileUpdate,
        entry: &Entry,
    ) -> Result<User, DomainError> {
        if update.email.is_some() || update.full_name.is_some() {
            actor.require_full_access()?;
        }
        let user = self.load(actor.id).await?;
        if let Some(email) = &update.email {
            self.ensure_unambiguous(actor.id, None, Some(email)).await?;
        }
        let mut new_hash = None;
        if update.email.is_some() || update.password.is_some() {
            let Some(current) = &update.current_password else {
                return Err(DomainError::Validation(vec![FieldError::new(
                    "current_password",
                    "CURRENT_PASSWORD_REQUIRED",
                    "changing the e-mail or the password requires current_password",
                )]));
            };
            let hasher = self.passwords(user.login.key())?;
            self.confirm_password(hasher, &user, current).await?;
            if let Some(password) = &update.password {
                let email = update.email.as_ref().or(user.email.as_ref());
                self.check_new_password(
                    hasher,
                    password,
                    Some(&user.login),
                    email,
                    Some(&user.password_hash),
                )
                .await?;
                new_hash = Some(hasher.hash(password).await?);
            }
        }
        self.modify(actor.id, |user| {
            if let Some(email) = &update.email {
                user.email = Some(email.clone());
            }
            if let Some(name) = &update.full_name {
                user.full_name = name.clone();
            }
            if let Some(hash) = &new_hash {
                user.set_password(hash.clone(), true);
            }
            Ok(Effects::recorded(entry.clone()))
        })
        .await
    }

    /// Deletes one's own account after confirming the password; the store refuses the last
    /// active ADMIN (rule 8).
    pub async fn delete_own_account(
        &self,
        actor: &Actor,
        current: &PlainPassword,
    ) -> Result<(), DomainError> {
        let entry = Entry::new(AuditKind::AccountDeleted)
            .by(actor.id)
            .on(actor.id);
        let result = async {
            actor.require_full_access()?;
            let user = self.load(actor.id).await?;
            let hasher = self.passwords(user.login.key())?;
            self.confirm_password(hasher, &user, current).await?;
            Ok(self
                .repo
                .delete(actor.id, &[self.record_of(entry.clone(), None)])
                .await?)
        }
        .await;
        self.settle(entry, result).await
    }
}
