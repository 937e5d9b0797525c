//! Administration of accounts: create, list, read, update, block, reset, delete (and the
//! system-level creation of ADMINs for the CLI and the bootstrap).

use uuid::Uuid;

use super::UserService;
use super::audit::Entry;
use crate::error::DomainError;
use crate::model::{
    Actor, Address, AuditKind, Email, FullName, Grade, Login, Permission, Phone, PlainPassword,
    Role, Sex, User, UserId, check_links,
};
use crate::ports::{Page, PageRequest, UserFilter};

/// What [`UserService::bootstrap_admin`] found and did.
#[derive(Clone, Debug)]
pub enum Bootstrap {
    /// The store had no ADMIN: this one was created, with a first-login password change.
    Created(Box<User>),
    /// An active, unblocked ADMIN exists: nothing was done.
    ActiveAdminExists,
    /// ADMINs exist but every one is blocked or deactivated: nothing was created.
    NoActiveAdmin {
        /// How many ADMINs the store holds.
        admins: u64,
    },
}

/// What an account is created with.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login.
    pub login: Login,
    /// Initial password (its policy is checked).
    pub password: PlainPassword,
    /// Full name.
    pub full_name: FullName,
    /// E-mail.
    pub email: Option<Email>,
    /// Telephone.
    pub phone: Option<Phone>,
    /// Role.
    pub role: Role,
    /// Grade.
    pub grade: Option<Grade>,
    /// Sex.
    pub sex: Option<Sex>,
    /// Address.
    pub address: Option<Address>,
    /// Agent link (not for CONTRIBUABLE).
    pub agent_id: Option<Uuid>,
    /// Taxpayer link (only for CONTRIBUABLE).
    pub taxpayer_id: Option<Uuid>,
}

impl NewUser {
    /// A user with only the required fields.
    pub fn minimal(login: Login, password: PlainPassword, full_name: FullName, role: Role) -> Self {
        Self {
            login,
            password,
            full_name,
            email: None,
            phone: None,
            role,
            grade: None,
            sex: None,
            address: None,
            agent_id: None,
            taxpayer_id: None,
        }
    }
}

/// A partial update by an administrator: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    /// Full name.
    pub full_name: Option<FullName>,
    /// E-mail.
    pub email: Option<Option<Email>>,
    /// Telephone.
    pub phone: Option<Option<Phone>>,
    /// Role.
    pub role: Option<Role>,
    /// v1's `is_admin`: `true` means ADMIN; `false` on an ADMIN demotes to `role` if
    /// given, else to the default role.
    pub is_admin: Option<bool>,
    /// Grade.
    pub grade: Option<Option<Grade>>,
    /// Sex.
    pub sex: Option<Option<Sex>>,
    /// Address.
    pub address: Option<Option<Address>>,
    /// Administrative status.
    pub active: Option<bool>,
    /// Agent link.
    pub agent_id: Option<Option<Uuid>>,
    /// Taxpayer link.
    pub taxpayer_id: Option<Option<Uuid>>,
    /// A new password chosen by the administrator (rule 13).
    pub password: Option<PlainPassword>,
}

impl UserUpdate {
    /// The names of the fields it sets, for the audit trail (v1's `is_admin` counts as `role`).
    fn field_names(&self) -> Vec<&'static str> {
        [
            ("full_name", self.full_name.is_some()),
            ("email", self.email.is_some()),
            ("phone", self.phone.is_some()),
            ("role", self.role.is_some() || self.is_admin.is_some()),
            ("grade", self.grade.is_some()),
            ("sex", self.sex.is_some()),
            ("address", self.address.is_some()),
            ("active", self.active.is_some()),
            ("agent_id", self.agent_id.is_some()),
            ("taxpayer_id", self.taxpayer_id.is_some()),
            ("password", self.password.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect()
    }
}

/// The role an update asks for, reconciling `role` and v1's `is_admin`.
fn requested_role(update: &UserUpdate, current: Role, default_role: Role) -> Role {
    match (update.is_admin, update.role) {
        (Some(true), _) => Role::Admin,
        (Some(false), Some(role)) => role,
        (Some(false), None) if current.is_admin() => default_role,
        (_, Some(role)) => role,
        (_, None) => current,
    }
}

impl UserService {
    /// Creates an account on behalf of an administrator; its owner must change the
    /// password at first login (rules 4 and 13). Only an ADMIN creates an ADMIN (rule 8).
    pub async fn create_user(&self, actor: &Actor, new: NewUser) -> Result<User, DomainError> {
        let entry = Entry::new(AuditKind::UserCreated)
            .by(actor.id)
            .detail("role", new.role.code());
        let result = async {
            actor.authorize(Permission::UsersCreate)?;
            actor.may_assign_role(None, new.role)?;
            self.create(new, true).await
        }
        .await;
        self.settle_creation(entry, result).await
    }

    /// Creates an ADMIN outside any session (command line), with a first-login password change.
    pub async fn create_admin(
        &self,
        login: Login,
        email: Option<Email>,
        password: PlainPassword,
    ) -> Result<User, DomainError> {
        let full_name =
            FullName::parse(login.as_str()).map_err(|e| DomainError::Validation(vec![e]))?;
        let mut new = NewUser::minimal(login, password, full_name, Role::Admin);
        new.email = email;
        let result = self.create(new, true).await;
        let entry = Entry::new(AuditKind::UserCreated).detail("role", Role::Admin.code());
        self.settle_creation(entry, result).await
    }

    /// Creates the first ADMIN only when the store has no ADMIN at all, active or not.
    pub async fn bootstrap_admin(
        &self,
        login: Login,
        password: PlainPassword,
    ) -> Result<Bootstrap, DomainError> {
        // Counts only: no user is read.
        let count = PageRequest {
            offset: 0,
            limit: 0,
        };
        let admins = UserFilter {
            role: Some(Role::Admin),
            ..UserFilter::default()
        };
        let active_admins = UserFilter {
            active: Some(true),
            blocked: Some(false),
            ..admins.clone()
        };
        if self.repo.list(&active_admins, count).await?.total > 0 {
            return Ok(Bootstrap::ActiveAdminExists);
        }
        // ADMINs that were blocked or deactivated were shut out on purpose: recreating one
        // with the configured, widely known password would undo that at every restart.
        let inactive = self.repo.list(&admins, count).await?.total;
        if inactive > 0 {
            return Ok(Bootstrap::NoActiveAdmin { admins: inactive });
        }
        self.create_admin(login, None, password)
            .await
            .map(|user| Bootstrap::Created(Box::new(user)))
    }

    /// The one creation path: rule 2, rule 3, hashing, then an insert that enforces rule 1.
    pub(super) async fn create(
        &self,
        new: NewUser,
        must_change_password: bool,
    ) -> Result<User, DomainError> {
        check_links(new.role, new.agent_id, new.taxpayer_id)?;
        self.check_new_password(&new.password, Some(&new.login), new.email.as_ref(), None)
            .await?;
        let id = self.ids.new_id();
        self.ensure_unambiguous(id, Some(&new.login), new.email.as_ref())
            .await?;
        let password_hash = self.hasher.hash(&new.password).await?;
        let now = self.clock.now();
        let user = User {
            id,
            login: new.login,
            email: new.email,
            full_name: new.full_name,
            phone: new.phone,
            role: new.role,
            grade: new.grade,
            sex: new.sex,
            address: new.address,
            agent_id: new.agent_id,
            taxpayer_id: new.taxpayer_id,
            password_hash,
            active: true,
            blocked: false,
            must_change_password,
            failed_logins: 0,
            locked_until: None,
            token_version: 0,
            last_login_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.repo.insert(&user).await?;
        Ok(user)
    }

    /// One page of users matching `filter`, with the total.
    pub async fn list_users(
        &self,
        actor: &Actor,
        filter: &UserFilter,
        page: PageRequest,
    ) -> Result<Page<User>, DomainError> {
        actor.authorize(Permission::UsersRead)?;
        Ok(self.repo.list(filter, page).await?)
    }

    /// Any user, by id.
    pub async fn get_user(&self, actor: &Actor, id: UserId) -> Result<User, DomainError> {
        actor.authorize(Permission::UsersRead)?;
        self.load(id).await
    }

    /// Updates another user's account (rules 2, 7, 8 and 13).
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: UserId,
        update: UserUpdate,
    ) -> Result<User, DomainError> {
        let entry = Entry::new(AuditKind::UserUpdated)
            .by(actor.id)
            .on(id)
            .fields(&update.field_names());
        let mut previous_role = None;
        let result = self
            .update_user_unaudited(actor, id, update, &mut previous_role)
            .await;
        let user = self.settle(entry, result).await?;
        if let Some(before) = previous_role.filter(|before| *before != user.role) {
            let entry = Entry::new(AuditKind::RoleChanged)
                .by(actor.id)
                .on(id)
                .detail("from", before.code())
                .detail("to", user.role.code());
            self.record(entry, None).await?;
        }
        Ok(user)
    }

    /// `previous_role` receives the role the stored user had when the update applied.
    async fn update_user_unaudited(
        &self,
        actor: &Actor,
        id: UserId,
        update: UserUpdate,
        previous_role: &mut Option<Role>,
    ) -> Result<User, DomainError> {
        actor.authorize(Permission::UsersUpdate)?;
        let target = self.load(id).await?;
        actor.may_manage(&target)?;
        let new_hash = match &update.password {
            Some(password) => {
                let email = update
                    .email
                    .as_ref()
                    .map_or(target.email.as_ref(), Option::as_ref);
                self.check_new_password(
                    password,
                    Some(&target.login),
                    email,
                    Some(&target.password_hash),
                )
                .await?;
                Some(self.hasher.hash(password).await?)
            }
            None => None,
        };
        if let Some(Some(email)) = &update.email {
            self.ensure_unambiguous(id, None, Some(email)).await?;
        }
        let default_role = self.config.default_role;
        let user = self
            .modify(id, |user| {
                actor.may_manage(user)?;
                *previous_role = Some(user.role);
                let role = requested_role(&update, user.role, default_role);
                if role != user.role {
                    actor.may_change_own_standing(user)?;
                    actor.may_assign_role(Some(user.role), role)?;
                }
                if let Some(active) = update.active {
                    if active != user.active {
                        actor.may_change_own_standing(user)?;
                    }
                    user.set_active(active);
                }
                if let Some(v) = &update.full_name {
                    user.full_name = v.clone();
                }
                if let Some(v) = &update.email {
                    user.email = v.clone();
                }
                if let Some(v) = &update.phone {
                    user.phone = v.clone();
                }
                if let Some(v) = &update.grade {
                    user.grade = v.clone();
                }
                if let Some(v) = update.sex {
                    user.sex = v;
                }
                if let Some(v) = &update.address {
                    user.address = v.clone();
                }
                if let Some(v) = update.agent_id {
                    user.agent_id = v;
                }
                if let Some(v) = update.taxpayer_id {
                    user.taxpayer_id = v;
                }
                user.set_role(role)?;
                if let Some(hash) = &new_hash {
                    user.set_password(hash.clone(), actor.id == user.id);
                }
                Ok(())
            })
            .await?;
        let mut user = user;
        // A password set by an administrator is a reset: it clears the lock (rule 9).
        if new_hash.is_some() {
            self.repo.clear_failures(id, None).await?;
            user.failed_logins = 0;
            user.locked_until = None;
        }
        Ok(user)
    }

    /// Blocks or unblocks (`None` toggles), for `reason` if given (kept in the audit trail
    /// only). Unblocking also clears a brute-force lock (rule 9).
    pub async fn set_blocked(
        &self,
        actor: &Actor,
        id: UserId,
        blocked: Option<bool>,
        reason: Option<&str>,
    ) -> Result<User, DomainError> {
        let result = async {
            actor.authorize(Permission::UsersBlock)?;
            let mut user = self
                .modify(id, |user| {
                    actor.refuse_self(user)?;
                    actor.may_manage(user)?;
                    user.set_blocked(blocked.unwrap_or(!user.blocked));
                    Ok(())
                })
                .await?;
            if !user.blocked {
                self.repo.clear_failures(id, None).await?;
                user.failed_logins = 0;
                user.locked_until = None;
            }
            Ok(user)
        }
        .await;
        // A refused toggle records the direction asked for, or blocking when it was a toggle.
        let blocks = match &result {
            Ok(user) => user.blocked,
            Err(_) => blocked.unwrap_or(true),
        };
        let kind = if blocks {
            AuditKind::UserBlocked
        } else {
            AuditKind::UserUnblocked
        };
        let mut entry = Entry::new(kind).by(actor.id).on(id);
        if let Some(reason) = reason {
            entry = entry.detail("reason", reason);
        }
        self.settle(entry, result).await
    }

    /// Replaces a user's password with `password`, or with a generated temporary one that is
    /// returned once. The owner must change it at next login; the lock is cleared (rules 9, 13).
    pub async fn reset_password(
        &self,
        actor: &Actor,
        id: UserId,
        password: Option<PlainPassword>,
    ) -> Result<(User, Option<PlainPassword>), DomainError> {
        let entry = Entry::new(AuditKind::PasswordReset)
            .by(actor.id)
            .on(id)
            .detail("generated", password.is_none().to_string());
        let result = self.reset_password_unaudited(actor, id, password).await;
        self.settle(entry, result).await
    }

    async fn reset_password_unaudited(
        &self,
        actor: &Actor,
        id: UserId,
        password: Option<PlainPassword>,
    ) -> Result<(User, Option<PlainPassword>), DomainError> {
        actor.authorize(Permission::UsersResetPassword)?;
        let target = self.load(id).await?;
        actor.may_manage(&target)?;
        let (password, generated) = match password {
            Some(p) => {
                self.check_new_password(&p, Some(&target.login), target.email.as_ref(), None)
                    .await?;
                (p, false)
            }
            None => (self.secrets.temporary_password(), true),
        };
        let hash = self.hasher.hash(&password).await?;
        let mut user = self
            .modify(id, |user| {
                actor.may_manage(user)?;
                user.set_password(hash.clone(), false);
                Ok(())
            })
            .await?;
        self.repo.clear_failures(id, None).await?;
        user.failed_logins = 0;
        user.locked_until = None;
        Ok((user, generated.then_some(password)))
    }

    /// Deletes another user's account (rule 8).
    pub async fn delete_user(&self, actor: &Actor, id: UserId) -> Result<(), DomainError> {
        let result = async {
            actor.authorize(Permission::UsersDelete)?;
            let target = self.load(id).await?;
            actor.refuse_self(&target)?;
            actor.may_manage(&target)?;
            if target.is_active_admin() {
                self.ensure_another_active_admin().await?;
            }
            Ok(self.repo.delete(id).await?)
        }
        .await;
        self.settle(
            Entry::new(AuditKind::UserDeleted).by(actor.id).on(id),
            result,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(is_admin: Option<bool>, role: Option<Role>) -> UserUpdate {
        UserUpdate {
            is_admin,
            role,
            ..UserUpdate::default()
        }
    }

    #[test]
    fn v1_is_admin_maps_to_roles() {
        let d = Role::Contribuable;
        assert_eq!(
            requested_role(&update(Some(true), None), Role::Taxateur, d),
            Role::Admin
        );
        assert_eq!(
            requested_role(&update(Some(false), None), Role::Admin, d),
            d
        );
        assert_eq!(
            requested_role(&update(Some(false), Some(Role::Directeur)), Role::Admin, d),
            Role::Directeur
        );
        assert_eq!(
            requested_role(&update(Some(false), None), Role::Taxateur, d),
            Role::Taxateur
        );
        assert_eq!(
            requested_role(&update(None, None), Role::Taxateur, d),
            Role::Taxateur
        );
        assert_eq!(
            requested_role(&update(None, Some(Role::Controlleur)), Role::Taxateur, d),
            Role::Controlleur
        );
    }
}
