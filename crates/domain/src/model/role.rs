//! The nine roles, the permission matrix, and who may act on whom (rule 8).

use std::fmt;

use crate::error::FieldError;

/// Role of a user; authorisation always reads the role stored for the user (rule 12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// System administrator.
    Admin,
    /// Director.
    Directeur,
    /// Head of a division.
    ChefDeDivision,
    /// Head of an office.
    ChefDeBureau,
    /// Tax assessor.
    Taxateur,
    /// Tax collector.
    ReceveurDesImpots,
    /// Tax inspector.
    Controlleur,
    /// IT staff.
    Informaticien,
    /// Taxpayer.
    Contribuable,
}

/// Something a role may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// List users and read any user.
    UsersRead,
    /// Create users.
    UsersCreate,
    /// Update other users.
    UsersUpdate,
    /// Block and unblock users.
    UsersBlock,
    /// Reset another user's password.
    UsersResetPassword,
    /// Delete users.
    UsersDelete,
    /// Read the audit trail.
    AuditRead,
}

impl Permission {
    /// Every permission; each is administrative (self-service needs none).
    pub const ALL: [Permission; 7] = [
        UsersRead,
        UsersCreate,
        UsersUpdate,
        UsersBlock,
        UsersResetPassword,
        UsersDelete,
        AuditRead,
    ];
}

use Permission::*;
use Role::*;

/// The permission matrix, the single source for both HTTP dialects.
/// Self-service (own profile, own password, own deletion) needs no entry: every authenticated user has it.
const MATRIX: &[(Permission, &[Role])] = &[
    (UsersRead, &[Admin, Directeur, Informaticien]),
    (UsersCreate, &[Admin, Informaticien]),
    (UsersUpdate, &[Admin, Informaticien]),
    (UsersBlock, &[Admin, Directeur]),
    (UsersResetPassword, &[Admin, Informaticien]),
    (UsersDelete, &[Admin]),
    (AuditRead, &[Admin]),
];

impl Role {
    /// Every role, in the documented order.
    pub const ALL: [Role; 9] = [
        Admin,
        Directeur,
        ChefDeDivision,
        ChefDeBureau,
        Taxateur,
        ReceveurDesImpots,
        Controlleur,
        Informaticien,
        Contribuable,
    ];

    /// The wire and storage name, e.g. `CHEF_DE_BUREAU`.
    pub fn code(self) -> &'static str {
        match self {
            Admin => "ADMIN",
            Directeur => "DIRECTEUR",
            ChefDeDivision => "CHEF_DE_DIVISION",
            ChefDeBureau => "CHEF_DE_BUREAU",
            Taxateur => "TAXATEUR",
            ReceveurDesImpots => "RECEVEUR_DES_IMPOTS",
            Controlleur => "CONTROLLEUR",
            Informaticien => "INFORMATICIEN",
            Contribuable => "CONTRIBUABLE",
        }
    }

    /// Parses a wire name exactly (case-sensitive, as documented).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|r| r.code() == raw)
            .ok_or_else(|| {
                FieldError::new("role", "ROLE_INVALID", "role is not one of the nine roles")
            })
    }

    /// Whether this role holds `permission` according to the matrix.
    pub fn can(self, permission: Permission) -> bool {
        MATRIX
            .iter()
            .any(|(p, roles)| *p == permission && roles.contains(&self))
    }

    /// `is_admin` of the v1 dialect.
    pub fn is_admin(self) -> bool {
        self == Admin
    }

    /// Taxpayers are linked to a `taxpayer_id`; every other role to an `agent_id` (rule 2).
    pub fn is_taxpayer(self) -> bool {
        self == Contribuable
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_matches_the_specification_cell_by_cell() {
        let expect: &[(Permission, &[Role])] = &[
            (UsersRead, &[Admin, Directeur, Informaticien]),
            (UsersCreate, &[Admin, Informaticien]),
            (UsersUpdate, &[Admin, Informaticien]),
            (UsersBlock, &[Admin, Directeur]),
            (UsersResetPassword, &[Admin, Informaticien]),
            (UsersDelete, &[Admin]),
        ];
        for (permission, allowed) in expect {
            for role in Role::ALL {
                assert_eq!(
                    role.can(*permission),
                    allowed.contains(&role),
                    "{role} / {permission:?}"
                );
            }
        }
    }

    #[test]
    fn role_codes_round_trip_and_are_case_sensitive() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.code()).unwrap(), role);
        }
        assert!(Role::parse("admin").is_err());
        assert!(Role::parse("SUPERUSER").is_err());
    }
}
