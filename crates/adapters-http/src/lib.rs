//! HTTP adapter of users-service (actix-web): translates HTTP to use cases and back, and
//! holds no business rule.
//!
//! # Layout
//! - [`server`]: builds the actix application from an [`AppState`] and runs it on a bound listener.
//! - [`v1`]: dialect v1 (`/api/v1/...`, FastAPI-style bodies).
//! - [`fr`]: dialect fr (`/api/auth/login`, `/api/utilisateurs...`, `{success, data}` envelope).
//! - [`body`]: the JSON body extractor (size limit, content type, field-naming errors).
//! - [`dialect`]: how each dialect names fields and shapes errors.
//! - [`error`]: the single mapping from domain errors and malformed requests to statuses and codes.
//! - [`extract`]: the authentication extractor (Bearer → JWT → stored user).
//! - [`token`]: JWT issuing and verification.
//! - [`state`]: what handlers share.
//! - [`proxies`]: who the client of a request is (trusted reverse proxies).
//! - [`throttle`]: per-client rate limiting of the password routes.
//! - [`middleware`]: request id, tracing span, metrics and security headers on every response.
//! - [`metrics`]: the Prometheus metrics, in their own registry.
//! - [`ops`]: `/health`, `/ready`, `/metrics`.
//! - [`openapi`]: `/openapi.json` (OpenAPI 3.1, both dialects) and the `/docs` page.

pub mod body;
pub mod dialect;
pub mod error;
pub mod extract;
pub mod fr;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod proxies;
pub mod server;
pub mod state;
pub mod throttle;
pub mod token;
pub mod v1;

mod wire;

pub use server::{Transport, app, app_with, configure, run};
pub use state::AppState;
