//! The user model: value types, roles and the `User` entity.

mod audit;
mod role;
mod user;
mod values;

pub use audit::{AuditCheckpoint, AuditEvent, AuditFilter, AuditKind, AuditRecord, RequestContext};
pub use role::{Permission, Role};
pub use user::{Actor, BlockRequest, User, check_links, identity_collisions};
pub use values::{
    Address, Email, FullName, Grade, IdempotencyKey, Login, PasswordHash, Phone, PlainPassword,
    Reason, Sex, UserId, fold, is_invisible,
};
