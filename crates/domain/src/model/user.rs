//! The `User` entity and the `Actor` acting on users.

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use super::role::{Permission, Role};
use super::values::{
    Address, Email, FullName, Grade, IdempotencyKey, Login, PasswordHash, Phone, Sex, UserId,
};
use crate::error::DomainError;

/// A person who uses the system.
///
/// Fields are public so that stores can rebuild a user field by field; use cases change
/// a user only through the methods below, which keep the invariants (rules 2, 5, 7, 13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// Unique login, case-insensitive.
    pub login: Login,
    /// Unique e-mail when present, case-insensitive.
    pub email: Option<Email>,
    /// Full name (`username` in v1, `nomComplet` in fr).
    pub full_name: FullName,
    /// Telephone number.
    pub phone: Option<Phone>,
    /// Role, the only source of authorisation.
    pub role: Role,
    /// Administrative grade.
    pub grade: Option<Grade>,
    /// Sex.
    pub sex: Option<Sex>,
    /// Postal address.
    pub address: Option<Address>,
    /// Link to an agent record (never for CONTRIBUABLE).
    pub agent_id: Option<Uuid>,
    /// Link to a taxpayer record (only for CONTRIBUABLE).
    pub taxpayer_id: Option<Uuid>,
    /// Hash of the current password.
    pub password_hash: PasswordHash,
    /// Administrative status.
    pub active: bool,
    /// Security block set by an authorised person.
    pub blocked: bool,
    /// The password was chosen by someone else and must be changed before anything else.
    pub must_change_password: bool,
    /// Consecutive failed logins since the last success or lock.
    pub failed_logins: u32,
    /// End of the current brute-force lock.
    pub locked_until: Option<OffsetDateTime>,
    /// Bumped to revoke every token issued before.
    pub token_version: u64,
    /// Last successful login.
    pub last_login_at: Option<OffsetDateTime>,
    /// The last block or unblock asked with an idempotency key: asked again, it changes nothing.
    pub last_block_request: Option<BlockRequest>,
    /// Creation time (UTC).
    pub created_at: OffsetDateTime,
    /// Last update time (UTC).
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version, incremented by every update.
    pub version: u64,
}

/// A block or unblock request made with an idempotency key, and the state it asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRequest {
    /// The client's key.
    pub key: IdempotencyKey,
    /// The state it set.
    pub blocked: bool,
}

/// Checks rule 2: a user is an agent or a taxpayer, never both.
pub fn check_links(
    role: Role,
    agent_id: Option<Uuid>,
    taxpayer_id: Option<Uuid>,
) -> Result<(), DomainError> {
    if role.is_taxpayer() && agent_id.is_some() {
        return Err(DomainError::AgentTaxpayerMismatch(
            "a CONTRIBUABLE cannot be linked to an agent",
        ));
    }
    if !role.is_taxpayer() && taxpayer_id.is_some() {
        return Err(DomainError::AgentTaxpayerMismatch(
            "only a CONTRIBUABLE can be linked to a taxpayer",
        ));
    }
    Ok(())
}

impl User {
    /// Whether the account is under a brute-force lock at `now`, and for how long still.
    pub fn lock_remaining(&self, now: OffsetDateTime) -> Option<Duration> {
        let until = self.locked_until?;
        let left = until - now;
        if left.is_positive() {
            Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
        } else {
            None
        }
    }

    /// Role, `active` and `blocked` of an active ADMIN, the users rule 8 keeps at least one
    /// of: the one definition, which `UserFilter::active_admins` states as a filter.
    pub const ACTIVE_ADMIN: (Role, bool, bool) = (Role::Admin, true, false);

    /// Whether this user counts towards the "last active ADMIN" protection (rule 8).
    pub fn is_active_admin(&self) -> bool {
        (self.role, self.active, self.blocked) == Self::ACTIVE_ADMIN
    }

    /// Whether failed logins are counted or a lock is set (what an unblock or a reset clears).
    pub fn has_lockout(&self) -> bool {
        self.failed_logins > 0 || self.locked_until.is_some()
    }

    /// Revokes every token issued so far (rule 7).
    pub fn revoke_tokens(&mut self) {
        self.token_version += 1;
    }

    /// Replaces the password. A password chosen by someone else must be changed at next
    /// login (rules 5 and 13); every existing token is revoked (rule 7).
    pub fn set_password(&mut self, hash: PasswordHash, chosen_by_owner: bool) {
        self.password_hash = hash;
        self.must_change_password = !chosen_by_owner;
        self.revoke_tokens();
    }

    /// Blocks or unblocks; blocking revokes every token at once (rules 6 and 7).
    pub fn set_blocked(&mut self, blocked: bool) {
        if blocked && !self.blocked {
            self.revoke_tokens();
        }
        self.blocked = blocked;
    }

    /// Activates or deactivates; deactivation revokes every token (rule 6).
    pub fn set_active(&mut self, active: bool) {
        if !active && self.active {
            self.revoke_tokens();
        }
        self.active = active;
    }

    /// Changes the role; a change revokes every token (rule 7) and must respect rule 2.
    pub fn set_role(&mut self, role: Role) -> Result<(), DomainError> {
        check_links(role, self.agent_id, self.taxpayer_id)?;
        if role != self.role {
            self.role = role;
            self.revoke_tokens();
        }
        Ok(())
    }

    /// The principal this user acts as.
    pub fn as_actor(&self) -> Actor {
        Actor {
            id: self.id,
            role: self.role,
            must_change_password: self.must_change_password,
        }
    }
}

/// The authenticated user performing a use case, built from the stored user at request time (rule 12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Who acts.
    pub id: UserId,
    /// Their role as stored now, never as claimed by a token.
    pub role: Role,
    /// Whether they are restricted to the first-login routes (rule 5).
    pub must_change_password: bool,
}

impl Actor {
    /// The one gate of every administrative use case: the first-login restriction (rule 5)
    /// comes first, then the permission matrix.
    pub fn authorize(&self, permission: Permission) -> Result<(), DomainError> {
        self.require_full_access()?;
        if self.role.can(permission) {
            Ok(())
        } else {
            Err(DomainError::PermissionDenied)
        }
    }

    /// Refuses everything but the first-login routes while the password must be changed (rule 5).
    pub fn require_full_access(&self) -> Result<(), DomainError> {
        if self.must_change_password {
            Err(DomainError::PasswordChangeRequired)
        } else {
            Ok(())
        }
    }

    /// Rule 8: only an ADMIN may modify, block, reset or delete an ADMIN account.
    pub fn may_manage(&self, target: &User) -> Result<(), DomainError> {
        if target.role.is_admin() && !self.role.is_admin() {
            Err(DomainError::PermissionDenied)
        } else {
            Ok(())
        }
    }

    /// Rule 8: only an ADMIN may give the ADMIN role or take it away.
    pub fn may_assign_role(&self, from: Option<Role>, to: Role) -> Result<(), DomainError> {
        let touches_admin = to.is_admin() || from.is_some_and(Role::is_admin);
        if touches_admin && !self.role.is_admin() {
            Err(DomainError::PermissionDenied)
        } else {
            Ok(())
        }
    }

    /// Least privilege: only an ADMIN may change their own role or status through the admin
    /// routes, so that no one else can promote themselves. (An ADMIN doing so still meets
    /// the last-ADMIN protection.)
    pub fn may_change_own_standing(&self, target: &User) -> Result<(), DomainError> {
        if self.id == target.id && !self.role.is_admin() {
            Err(DomainError::SelfActionForbidden)
        } else {
            Ok(())
        }
    }

    /// Rule 8: nobody blocks or deletes their own account through the admin routes.
    pub fn refuse_self(&self, target: &User) -> Result<(), DomainError> {
        if self.id == target.id {
            Err(DomainError::SelfActionForbidden)
        } else {
            Ok(())
        }
    }
}

/// The groups of accounts that share a login key, a login skeleton or an e-mail key, each
/// as one readable line (ids, logins, e-mails): what a store's migration to new keys
/// reports instead of merging accounts. Empty when every account keeps keys of its own.
pub fn identity_collisions<'a>(
    users: impl IntoIterator<Item = (UserId, &'a Login, Option<&'a Email>)>,
) -> Vec<String> {
    use std::collections::BTreeMap;
    type Member<'a> = (UserId, &'a Login, Option<&'a Email>);
    let mut groups: BTreeMap<(&str, String), Vec<Member<'a>>> = BTreeMap::new();
    for member @ (_, login, email) in users {
        groups
            .entry(("login", login.key().to_owned()))
            .or_default()
            .push(member);
        groups
            .entry(("login skeleton", login.skeleton().to_owned()))
            .or_default()
            .push(member);
        if let Some(email) = email {
            groups
                .entry(("e-mail", email.key().to_owned()))
                .or_default()
                .push(member);
        }
    }
    groups
        .into_iter()
        .filter(|(_, members)| members.len() > 1)
        .map(|((what, _), members)| {
            let names: Vec<String> = members
                .iter()
                .map(|(id, login, email)| {
                    let email = email.map_or("", |e| e.as_str());
                    format!("{id} (login {:?}, e-mail {email:?})", login.as_str())
                })
                .collect();
            format!("same {what}: {}", names.join(", "))
        })
        .collect()
}
