//! Administration of accounts: create, list, read, update, block, reset, delete (and the
//! system-level creation of ADMINs for the CLI and the bootstrap).

use uuid::Uuid;

use super::audit::Entry;
use super::{Effects, UserService};
use crate::error::DomainError;
use crate::model::{
    Actor, Address, AuditKind, BlockRequest, Email, FullName, Grade, IdempotencyKey, Login,
    Permission, Phone, PlainPassword, Reason, Role, Sex, User, UserId, check_links,
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
            self.create(new, true, entry.clone()).await
        }
        .await;
        self.settle(entry, result).await
    }

    /// Creates an ADMIN outside any session (command line), with a first-login password change.
    pub async fn create_admin(
        &self,
        login: Login,
        email: Option<Email>,
        password: PlainPassword,
    ) -> Result<User, DomainError> {
        let entry = Entry::new(AuditKind::UserCreated).detail("role", Role::Admin.code());
        let result = async {
            let full_name =
                FullName::parse(login.as_str()).map_err(|e| DomainError::Validation(vec![e]))?;
            let mut new = NewUser::minimal(login, password, full_name, Role::Admin);
            new.email = email;
            self.create(new, true, entry.clone()).await
        }
        .await;
        self.settle(entry, result).await
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
        if self
            .repo
            .list(&UserFilter::active_admins(), count)
            .await?
            .total
            > 0
        {
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

    /// The one creation path: rule 2, rule 3, hashing, then an insert that enforces rule 1
    /// and carries `entry`, completed with the new user as its target.
    pub(super) async fn create(
        &self,
        new: NewUser,
        must_change_password: bool,
        entry: Entry,
    ) -> Result<User, DomainError> {
        check_links(new.role, new.agent_id, new.taxpayer_id)?;
        // A creation has no account to protect yet: its budget is the identity being
        // claimed, apart from that login's attempts (registrations answer 409 when taken).
        let hasher = self.passwords(&format!("new:{}", new.login.key()))?;
        self.check_new_password(
            hasher,
            &new.password,
            Some(&new.login),
            new.email.as_ref(),
            None,
        )
        .await?;
        let id = self.ids.new_id();
        self.ensure_unambiguous(id, Some(&new.login), new.email.as_ref())
            .await?;
        let password_hash = hasher.hash(&new.password).await?;
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
            last_block_request: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.repo
            .insert(&user, &[self.record_of(entry.on(id), None)])
            .await?;
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

    /// Updates another user's account (rules 2, 7, 8 and 13). An administrator's own
    /// password or e-mail changes only through the self-service routes, which ask for the
    /// current password.
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
        let result = self.update_user_unaudited(actor, id, update, &entry).await;
        self.settle(entry, result).await
    }

    async fn update_user_unaudited(
        &self,
        actor: &Actor,
        id: UserId,
        update: UserUpdate,
        entry: &Entry,
    ) -> Result<User, DomainError> {
        actor.authorize(Permission::UsersUpdate)?;
        if actor.id == id && (update.password.is_some() || update.email.is_some()) {
            return Err(DomainError::UseSelfService);
        }
        let target = self.load(id).await?;
        actor.may_manage(&target)?;
        let new_hash = match &update.password {
            Some(password) => {
                let hasher = self.passwords(target.login.key())?;
                let email = update
                    .email
                    .as_ref()
                    .map_or(target.email.as_ref(), Option::as_ref);
                // Never compared with the current password: that would tell the
                // administrator whether a value is this user's password.
                self.check_new_password(hasher, password, Some(&target.login), email, None)
                    .await?;
                Some(hasher.hash(password).await?)
            }
            None => None,
        };
        if let Some(Some(email)) = &update.email {
            self.ensure_unambiguous(id, None, Some(email)).await?;
        }
        let default_role = self.config.default_role;
        // A password set by an administrator is a reset: it clears the lock (rule 9).
        self.modify(id, |user| {
            actor.may_manage(user)?;
            let before = user.role;
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
                user.set_password(hash.clone(), false);
            }
            let mut effects = Effects::recorded(entry.clone()).clearing_lockout(new_hash.is_some());
            if before != user.role {
                effects.events.push(
                    Entry::new(AuditKind::RoleChanged)
                        .by(actor.id)
                        .on(id)
                        .detail("from", before.code())
                        .detail("to", user.role.code()),
                );
            }
            Ok(effects)
        })
        .await
    }

    /// Blocks or unblocks (`None` toggles), for `reason` if given (kept in the audit trail
    /// only). Unblocking also clears a brute-force lock (rule 9). A request carrying an
    /// idempotency `key` is applied once: asked again with the key of the account's last
    /// block request, it changes nothing and answers the account as it is, so a retried
    /// toggle never undoes itself. Asking for the state the account is already in changes
    /// nothing either.
    pub async fn set_blocked(
        &self,
        actor: &Actor,
        id: UserId,
        blocked: Option<bool>,
        reason: Option<&Reason>,
        key: Option<&IdempotencyKey>,
    ) -> Result<User, DomainError> {
        let entry_for = |blocks: bool| {
            let kind = if blocks {
                AuditKind::UserBlocked
            } else {
                AuditKind::UserUnblocked
            };
            let mut entry = Entry::new(kind).by(actor.id).on(id);
            if let Some(reason) = reason {
                entry = entry.detail("reason", reason.as_str());
            }
            entry
        };
        let result = async {
            actor.authorize(Permission::UsersBlock)?;
            self.modify(id, |user| {
                actor.refuse_self(user)?;
                actor.may_manage(user)?;
                let replay = key.is_some_and(|key| {
                    user.last_block_request
                        .as_ref()
                        .is_some_and(|last| &last.key == key)
                });
                // A retry is not a new call: nothing to change, nothing to record.
                if replay {
                    return Ok(Effects::default());
                }
                let wanted = blocked.unwrap_or(!user.blocked);
                if let Some(key) = key {
                    user.last_block_request = Some(BlockRequest {
                        key: key.clone(),
                        blocked: wanted,
                    });
                }
                // An unblock also lifts a brute-force lock (rule 9).
                user.set_blocked(wanted);
                Ok(Effects::recorded(entry_for(wanted)).clearing_lockout(!wanted))
            })
            .await
        }
        .await;
        // A refused toggle records the direction asked for, or blocking when it was a toggle.
        self.settle(entry_for(blocked.unwrap_or(true)), result)
            .await
    }

    /// Replaces a user's password with `password`, or with a generated temporary one that is
    /// returned once. The owner must change it at next login; the lock is cleared (rules 9,
    /// 13). One's own password changes through the self-service routes instead.
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
        let result = self
            .reset_password_unaudited(actor, id, password, &entry)
            .await;
        self.settle(entry, result).await
    }

    async fn reset_password_unaudited(
        &self,
        actor: &Actor,
        id: UserId,
        password: Option<PlainPassword>,
        entry: &Entry,
    ) -> Result<(User, Option<PlainPassword>), DomainError> {
        actor.authorize(Permission::UsersResetPassword)?;
        if actor.id == id {
            return Err(DomainError::UseSelfService);
        }
        let target = self.load(id).await?;
        actor.may_manage(&target)?;
        let hasher = self.passwords(target.login.key())?;
        let (password, generated) = match password {
            Some(p) => {
                self.check_new_password(
                    hasher,
                    &p,
                    Some(&target.login),
                    target.email.as_ref(),
                    None,
                )
                .await?;
                (p, false)
            }
            None => (self.secrets.temporary_password(), true),
        };
        let hash = hasher.hash(&password).await?;
        let user = self
            .modify(id, |user| {
                actor.may_manage(user)?;
                user.set_password(hash.clone(), false);
                Ok(Effects::recorded(entry.clone()).clearing_lockout(true))
            })
            .await?;
        Ok((user, generated.then_some(password)))
    }

    /// Deletes another user's account (rule 8); the store refuses the last active ADMIN.
    pub async fn delete_user(&self, actor: &Actor, id: UserId) -> Result<(), DomainError> {
        let entry = Entry::new(AuditKind::UserDeleted).by(actor.id).on(id);
        let result = async {
            actor.authorize(Permission::UsersDelete)?;
            let target = self.load(id).await?;
            actor.refuse_self(&target)?;
            actor.may_manage(&target)?;
            Ok(self
                .repo
                .delete(id, &[self.record_of(entry.clone(), None)])
                .await?)
        }
        .await;
        self.settle(entry, result).await
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
