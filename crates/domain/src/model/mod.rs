//! The user model: value types, roles and the `User` entity.

mod audit;
mod role;
mod user;
mod values;

pub use audit::{AuditCheckpoint, AuditEvent, AuditFilter, AuditKind, AuditRecord, RequestContext};
pub use role::{Permission, Role};
pub use user::{Actor, User, check_links};
pub use values::{
    Address, Email, FullName, Grade, Login, PasswordHash, Phone, PlainPassword, Sex, UserId,
};
