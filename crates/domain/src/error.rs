//! Errors of the domain, each with a stable machine code that both HTTP dialects render.

use std::time::Duration;

/// A field that must be unique ignoring case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UniqueField {
    /// The login.
    Login,
    /// The e-mail address.
    Email,
}

impl UniqueField {
    /// Field name in error details.
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Email => "email",
        }
    }
}

/// One invalid input field, with a stable code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Domain name of the field (`login`, `email`, `full_name`, …); dialects rename it.
    pub field: &'static str,
    /// Stable code, e.g. `LOGIN_LENGTH`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: &'static str,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: &'static str, code: &'static str, message: &'static str) -> Self {
        Self {
            field,
            code,
            message,
        }
    }
}

/// One broken rule of the password policy (rule 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyViolation {
    /// Shorter than the minimum.
    TooShort,
    /// Longer than the maximum.
    TooLong,
    /// No lowercase letter.
    NoLowercase,
    /// No uppercase letter.
    NoUppercase,
    /// No digit.
    NoDigit,
    /// No character that is neither letter nor digit.
    NoSymbol,
    /// Equals or contains the login.
    ContainsLogin,
    /// Equals or contains the local part of the e-mail address.
    ContainsEmail,
    /// Found in the list of common passwords.
    TooCommon,
    /// Same as the current password.
    SameAsCurrent,
}

impl PolicyViolation {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::TooShort => "PASSWORD_TOO_SHORT",
            Self::TooLong => "PASSWORD_TOO_LONG",
            Self::NoLowercase => "PASSWORD_NO_LOWERCASE",
            Self::NoUppercase => "PASSWORD_NO_UPPERCASE",
            Self::NoDigit => "PASSWORD_NO_DIGIT",
            Self::NoSymbol => "PASSWORD_NO_SYMBOL",
            Self::ContainsLogin => "PASSWORD_CONTAINS_LOGIN",
            Self::ContainsEmail => "PASSWORD_CONTAINS_EMAIL",
            Self::TooCommon => "PASSWORD_TOO_COMMON",
            Self::SameAsCurrent => "PASSWORD_SAME_AS_CURRENT",
        }
    }

    /// Human-readable explanation.
    pub fn message(self) -> &'static str {
        match self {
            Self::TooShort => "password is too short",
            Self::TooLong => "password is too long",
            Self::NoLowercase => "password needs a lowercase letter",
            Self::NoUppercase => "password needs an uppercase letter",
            Self::NoDigit => "password needs a digit",
            Self::NoSymbol => "password needs a character that is neither a letter nor a digit",
            Self::ContainsLogin => "password must not contain the login",
            Self::ContainsEmail => "password must not contain the e-mail address",
            Self::TooCommon => "password is too common",
            Self::SameAsCurrent => "new password must differ from the current one",
        }
    }
}

/// Everything a use case can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Input fields are invalid (all of them are reported).
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    /// The password policy is not met (all violations are reported).
    #[error("password does not meet the policy")]
    WeakPassword(Vec<PolicyViolation>),
    /// Rule 2 is broken.
    #[error("{0}")]
    AgentTaxpayerMismatch(&'static str),
    /// A unique field is already taken (rule 1).
    #[error("{} already in use", .0.name())]
    Conflict(UniqueField),
    /// The record changed since it was read; retry.
    #[error("the user was modified concurrently")]
    VersionConflict,
    /// The current password given to confirm a self-service change is wrong.
    #[error("current password is incorrect")]
    WrongCurrentPassword,
    /// Unknown identifier or wrong password; deliberately indistinguishable (rule 10).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed logins; try again later (rule 9).
    #[error("account temporarily locked")]
    AccountLocked {
        /// Time until the lock ends.
        retry_after: Duration,
    },
    /// The account is blocked (revealed only after a correct password).
    #[error("account blocked")]
    AccountBlocked,
    /// The account is deactivated (revealed only after a correct password).
    #[error("account inactive")]
    AccountInactive,
    /// The token no longer designates a usable account (missing, blocked, inactive, revoked).
    #[error("invalid or revoked token")]
    InvalidToken,
    /// The password must be changed before anything else (rule 5).
    #[error("password change required")]
    PasswordChangeRequired,
    /// The role lacks the permission, or rule 8 forbids acting on that account.
    #[error("permission denied")]
    PermissionDenied,
    /// Nobody blocks or deletes their own account through the admin routes (rule 8).
    #[error("this action cannot target your own account")]
    SelfActionForbidden,
    /// The last active ADMIN cannot be removed (rule 8).
    #[error("the last active administrator cannot be removed")]
    LastAdmin,
    /// One's own password or e-mail changes only through the self-service routes, which
    /// ask for the current password, never through the administration routes.
    #[error(
        "your own password and e-mail change only through the self-service routes, which ask for your current password"
    )]
    UseSelfService,
    /// Too many password attempts from this client or against this account; retry later.
    #[error("too many attempts; retry later")]
    RateLimited {
        /// Time until the next attempt is admitted.
        retry_after: Duration,
    },
    /// No such user.
    #[error("user not found")]
    NotFound,
    /// The store cannot be reached; retry later.
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
    /// An unexpected failure; the message is for logs, never for clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "VALIDATION_ERROR",
            Self::WeakPassword(_) => "WEAK_PASSWORD",
            Self::AgentTaxpayerMismatch(_) => "AGENT_TAXPAYER_MISMATCH",
            Self::Conflict(UniqueField::Login) => "LOGIN_TAKEN",
            Self::Conflict(UniqueField::Email) => "EMAIL_TAKEN",
            Self::VersionConflict => "CONFLICT",
            Self::WrongCurrentPassword => "INVALID_CURRENT_PASSWORD",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::AccountLocked { .. } => "ACCOUNT_LOCKED",
            Self::AccountBlocked => "ACCOUNT_BLOCKED",
            Self::AccountInactive => "ACCOUNT_INACTIVE",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::PasswordChangeRequired => "PASSWORD_CHANGE_REQUIRED",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::SelfActionForbidden => "SELF_ACTION_FORBIDDEN",
            Self::LastAdmin => "LAST_ADMIN",
            Self::UseSelfService => "USE_SELF_SERVICE_ROUTE",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::NotFound => "NOT_FOUND",
            Self::StoreUnavailable(_) => "STORE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }
}
