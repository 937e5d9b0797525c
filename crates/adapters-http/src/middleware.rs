//! Middleware wrapped around the whole application, the default 404 service included:
//!
//! - [`observe`]: request id (echoed or generated), one `tracing` span and one log line per
//!   request, and the request metrics;
//! - [`standard_headers`]: security headers every response carries, the cache policy of
//!   API answers, and `Allow` on 405s.
//!
//! Neither ever looks at headers other than `X-Request-Id`, nor at bodies: tokens and
//! passwords never reach a log line or a label.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};
use tracing::Instrument;
use tracing::field::Empty;
use uuid::Uuid;

use crate::dialect::{Fr, V1};
use crate::error::ApiError;
use crate::metrics::{LoginOutcome, UNMATCHED_ROUTE};
use crate::openapi;
use crate::state::AppState;

/// The request id header, read from clients and set on every response.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-sent request id that is echoed; longer ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Route patterns of the two login routes, whose responses feed `users_login_total`.
const LOGIN_ROUTES: [&str; 2] = ["/api/v1/auth/login", "/api/auth/login"];

/// The id of the current request, in the request extensions for handlers that want it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The client's id when it is 1–128 visible ASCII characters, else a fresh UUID v4.
    fn from_request(req: &ServiceRequest) -> Self {
        req.headers()
            .get(&X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_acceptable_request_id(v))
            .map_or_else(|| Self(Uuid::new_v4().to_string()), |v| Self(v.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 1–128 visible ASCII characters (`!` to `~`): safe to echo in a header and a log line.
fn is_acceptable_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Request id, tracing span, log line and metrics for every request.
///
/// The span carries `request_id`, `method`, `route` (the matched pattern, `unmatched` for
/// the default service), `status` and `latency_ms`; its closing line is logged at info.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = RequestId::from_request(&req);
    let method = req.method().clone();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!(
        "http_request",
        request_id = id.as_str(),
        method = method.as_str(),
        route = Empty,
        status = Empty,
        latency_ms = Empty,
    );

    let result = next.call(req).instrument(span.clone()).await;

    // The pattern is read after routing, so it is the route that actually served the request.
    let (status, route, login_outcome) = match &result {
        Ok(res) => {
            let route = res.request().match_pattern();
            let outcome = route
                .as_deref()
                .filter(|r| LOGIN_ROUTES.contains(r))
                .and_then(|_| login_outcome(res));
            (res.status(), route, outcome)
        }
        // Handlers and extractors turn their errors into responses; only a failing
        // middleware ends here, and actix renders its error itself.
        Err(e) => (e.as_response_error().status_code(), None, None),
    };
    let route = route.as_deref().unwrap_or(UNMATCHED_ROUTE);
    let elapsed = started.elapsed();

    if let Some(state) = &state {
        let metrics = &state.metrics;
        // Store errors are counted where the store is called (`users_store_errors_total`,
        // by operation and kind), not here from 503s, so that one failure is one count.
        metrics.observe_request(method.as_str(), route, status, elapsed.as_secs_f64());
        if let Some(outcome) = login_outcome {
            metrics.observe_login(outcome);
        }
    }

    span.record("route", route);
    span.record("status", status.as_u16());
    span.record(
        "latency_ms",
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
    );
    span.in_scope(|| tracing::info!("request completed"));

    let mut res = result?;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(res)
}

/// What a response of a login route says about the attempt; `None` for responses that are
/// not an attempt (malformed body, store down, …).
fn login_outcome<B>(res: &ServiceResponse<B>) -> Option<LoginOutcome> {
    match res.status() {
        StatusCode::OK => Some(LoginOutcome::Success),
        StatusCode::UNAUTHORIZED => Some(LoginOutcome::Invalid),
        StatusCode::LOCKED => Some(LoginOutcome::Locked),
        // After a correct password, login refuses blocked or inactive accounts with 403.
        StatusCode::FORBIDDEN if error_code(res) == Some("ACCOUNT_INACTIVE") => {
            Some(LoginOutcome::Inactive)
        }
        StatusCode::FORBIDDEN => Some(LoginOutcome::Blocked),
        _ => None,
    }
}

/// The stable code of the `ApiError` a handler returned, if it returned one.
fn error_code<B>(res: &ServiceResponse<B>) -> Option<&'static str> {
    let error = res.response().error()?;
    error
        .as_error::<ApiError<V1>>()
        .map(ApiError::code)
        .or_else(|| error.as_error::<ApiError<Fr>>().map(ApiError::code))
}

/// Headers every response needs whatever produced it: `X-Content-Type-Options`,
/// `Referrer-Policy` and `X-Frame-Options` everywhere; `Cache-Control: no-store` on `/api/`
/// responses that did not choose a cache policy; `Allow` on a 405 that lacks it (RFC 9110
/// requires it), from the methods the OpenAPI document lists for the route.
pub async fn standard_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let is_api = req.path().starts_with("/api/");
    let mut res = next.call(req).await?;
    let allow = missing_allow(&res);
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if is_api && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(allow) = allow {
        headers.insert(header::ALLOW, allow);
    }
    Ok(res)
}

/// Most bytes of a request head (target, header names and values) the service reads.
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most header lines of a request.
pub(crate) const MAX_HEADERS: usize = 64;

/// The refusals of the transport layer as API errors, in the dialect of the path: 431 for
/// a request head beyond [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`] (actix bounds what it
/// buffers, 32 KiB while a head is incomplete, but a larger head arriving in one read
/// passes; this makes the limit exact), and actix-cors's plain-text refusal of an origin
/// outside `server.cors_origins` turned into a 400 with a stable code.
pub async fn transport_refusals(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let headers = req.headers();
    let target = req.uri().path().len() + req.uri().query().map_or(0, str::len);
    let bytes = target
        + headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum::<usize>();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEAD_BYTES {
        let response = refusal(
            req.path(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HEADERS_TOO_LARGE",
            format!("request headers over {MAX_HEADERS} lines or {MAX_HEAD_BYTES} bytes"),
        );
        return Ok(req.into_response(response).map_into_right_body());
    }
    let res = next.call(req).await?;
    let cors_refused = res
        .response()
        .error()
        .and_then(|e| e.as_error::<actix_cors::CorsError>())
        .is_some();
    if !cors_refused {
        return Ok(res.map_into_left_body());
    }
    let (req, _) = res.into_parts();
    let response = refusal(
        req.path(),
        StatusCode::BAD_REQUEST,
        "CORS_ORIGIN_NOT_ALLOWED",
        "this origin, method or header is not allowed to call the API from a browser",
    );
    Ok(ServiceResponse::new(req, response).map_into_right_body())
}

/// An error response in the dialect of `path` (fr under `/api/` outside `/api/v1/`).
fn refusal(
    path: &str,
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> actix_web::HttpResponse {
    if path.starts_with("/api/") && !path.starts_with("/api/v1/") {
        ApiError::<Fr>::new(status, code, message).error_response()
    } else {
        ApiError::<V1>::new(status, code, message).error_response()
    }
}

/// The `Allow` value a 405 without one should carry.
fn missing_allow<B>(res: &ServiceResponse<B>) -> Option<HeaderValue> {
    if res.status() != StatusCode::METHOD_NOT_ALLOWED || res.headers().contains_key(header::ALLOW) {
        return None;
    }
    let pattern = res.request().match_pattern()?;
    HeaderValue::from_str(openapi::allowed_methods(&pattern)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_visible_ascii_up_to_128() {
        assert!(is_acceptable_request_id("abc-123_XYZ.:/"));
        assert!(is_acceptable_request_id(&"a".repeat(128)));
        assert!(!is_acceptable_request_id(""));
        assert!(!is_acceptable_request_id(&"a".repeat(129)));
        assert!(!is_acceptable_request_id("has space"));
        assert!(!is_acceptable_request_id("tab\there"));
        assert!(!is_acceptable_request_id("é"));
    }
}
