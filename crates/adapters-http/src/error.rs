//! The one mapping from domain errors (and malformed requests) to HTTP statuses and stable
//! codes; each dialect then renders the same error in its own shape.

use std::fmt;
use std::marker::PhantomData;

use actix_web::error::{PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use domain::DomainError;

pub use crate::dialect::Detail;
use crate::dialect::{Dialect, ErrorView};

/// Largest accepted request body (SPEC §3).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Seconds a client should wait before retrying when the store is unavailable.
const STORE_RETRY_AFTER_SECS: u64 = 5;

/// An error response in dialect `D`.
pub struct ApiError<D> {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) details: Vec<Detail>,
    pub(crate) retry_after: Option<u64>,
    dialect: PhantomData<fn() -> D>,
}

impl<D> ApiError<D> {
    /// An error with a status, a stable code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
            dialect: PhantomData,
        }
    }

    /// A 422 listing every invalid field.
    pub fn validation(details: Vec<Detail>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "invalid input",
        );
        e.details = details;
        e
    }

    /// 401 for a request without usable credentials.
    pub fn unauthenticated(code: &'static str, message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl<D> fmt::Debug for ApiError<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl<D> fmt::Display for ApiError<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl<D: Dialect> From<DomainError> for ApiError<D> {
    fn from(e: DomainError) -> Self {
        use DomainError as E;
        let status = match &e {
            E::Validation(_) | E::WeakPassword(_) | E::AgentTaxpayerMismatch(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            E::WrongCurrentPassword => StatusCode::BAD_REQUEST,
            E::Conflict(_) | E::VersionConflict | E::LastAdmin => StatusCode::CONFLICT,
            E::InvalidCredentials | E::InvalidToken => StatusCode::UNAUTHORIZED,
            E::AccountLocked { .. } => StatusCode::LOCKED,
            E::AccountBlocked
            | E::AccountInactive
            | E::PasswordChangeRequired
            | E::PermissionDenied
            | E::SelfActionForbidden
            | E::UseSelfService => StatusCode::FORBIDDEN,
            E::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            E::NotFound => StatusCode::NOT_FOUND,
            E::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &e {
            // Causes are for the logs; clients get an opaque sentence.
            E::StoreUnavailable(cause) => {
                tracing::warn!(error = %cause, "store unavailable");
                "the user store is unavailable, retry later".to_owned()
            }
            E::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut out = Self::new(status, e.code(), message);
        match e {
            E::Validation(fields) => {
                out.details = fields.iter().map(Detail::from_field::<D>).collect()
            }
            E::WeakPassword(violations) => {
                out.details = violations
                    .iter()
                    .map(|v| Detail {
                        field: D::wire_field("password").to_owned(),
                        code: v.code(),
                        message: v.message().to_owned(),
                    })
                    .collect();
            }
            E::Conflict(field) => {
                out.details = vec![Detail {
                    field: D::wire_field(field.name()).to_owned(),
                    code: out.code,
                    message: out.message.clone(),
                }];
            }
            E::AccountLocked { retry_after } => {
                out.retry_after = Some(retry_after.as_secs().max(1))
            }
            // Rounded up: retrying on time must succeed.
            E::RateLimited { retry_after } => {
                out.retry_after =
                    Some((retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1))
            }
            E::StoreUnavailable(_) => out.retry_after = Some(STORE_RETRY_AFTER_SECS),
            _ => {}
        }
        out
    }
}

impl<D: Dialect> ApiError<D> {
    /// The JSON body in dialect `D`.
    pub fn body(&self) -> serde_json::Value {
        D::error_body(&ErrorView {
            status: self.status.as_u16(),
            code: self.code,
            message: &self.message,
            details: &self.details,
        })
    }
}

impl<D: Dialect> ResponseError for ApiError<D> {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(self.body())
    }
}

/// Best effort: serde names the offending field in backquotes ("unknown field `is_admin`").
pub(crate) fn field_of_serde_message(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .map(str::to_owned)
        .unwrap_or_default()
}

/// Form body extraction (OAuth2 password form of v1 login), same rules as JSON.
pub fn form_config<D: Dialect>() -> web::FormConfig {
    web::FormConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(|err, _req: &HttpRequest| {
            let e: ApiError<D> = match err {
                UrlencodedError::Overflow { .. } => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    format!("request body is larger than {MAX_BODY_BYTES} bytes"),
                ),
                UrlencodedError::ContentType => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "request body must be application/x-www-form-urlencoded",
                ),
                other => ApiError::validation(vec![Detail {
                    field: String::new(),
                    code: "INVALID_FORM",
                    message: other.to_string(),
                }]),
            };
            e.into()
        })
}

/// Query-string extraction: a malformed query is a 422 in the dialect's shape.
pub fn query_config<D: Dialect>() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req: &HttpRequest| {
        let QueryPayloadError::Deserialize(e) = &err else {
            return ApiError::<D>::validation(Vec::new()).into();
        };
        let message = e.to_string();
        ApiError::<D>::validation(vec![Detail {
            field: field_of_serde_message(&message),
            code: "INVALID_QUERY",
            message,
        }])
        .into()
    })
}

/// Path extraction: a malformed id is a 404 (SPEC §3.1), never a 500.
pub fn path_config<D: Dialect>() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err: PathError, _req: &HttpRequest| {
        ApiError::<D>::new(StatusCode::NOT_FOUND, "NOT_FOUND", "user not found").into()
    })
}
