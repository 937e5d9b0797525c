//! Operational endpoints (SPEC §3.3): liveness, readiness and Prometheus metrics.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

/// Longest a readiness probe waits for the store; a store slower than this is not ready.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Seconds a prober should wait before asking again when the store is down.
const READY_RETRY_AFTER_SECS: &str = "5";

/// Prometheus text exposition format 0.0.4.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Registers `/health`, `/ready` and `/metrics`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics))
        .route("/.well-known/jwks.json", web::get().to(jwks));
}

/// The public keys that verify session tokens (RFC 7517 JWK set): the Ed25519 keys, none
/// when tokens are HS256 (a shared secret is never published). Cacheable for 5 minutes:
/// publish a new key at least that long before signing with it.
async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ))
        .json(state.tokens.jwks())
}

fn no_store() -> (header::HeaderName, HeaderValue) {
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

/// Liveness: the process answers. No I/O, so a slow store never gets the process restarted.
async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(no_store())
        .json(json!({ "status": "ok" }))
}

/// Readiness: the store answers within [`READY_TIMEOUT`].
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let outcome = actix_web::rt::time::timeout(READY_TIMEOUT, state.users.store_ready()).await;
    match outcome {
        Ok(Ok(())) => HttpResponse::Ok()
            .insert_header(no_store())
            .json(json!({ "status": "ready" })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            unavailable()
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = READY_TIMEOUT.as_millis(),
                "readiness check timed out"
            );
            unavailable()
        }
    }
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(no_store())
        .insert_header((
            header::RETRY_AFTER,
            HeaderValue::from_static(READY_RETRY_AFTER_SECS),
        ))
        .json(json!({ "status": "unavailable" }))
}

/// Every metric in the Prometheus text format.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    match state.metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .insert_header(no_store())
            .content_type(METRICS_CONTENT_TYPE)
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "metrics encoding failed");
            HttpResponse::InternalServerError()
                .insert_header(no_store())
                .content_type(METRICS_CONTENT_TYPE)
                .body("")
        }
    }
}
