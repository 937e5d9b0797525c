//! Builds the actix application and runs it on an already-bound listener, so tests can bind
//! port 0 and read the real port back.

use std::net::TcpListener;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpRequest, HttpServer, web};

use crate::dialect::V1;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{fr, middleware, openapi, ops, v1};

/// Registers every route on an actix `ServiceConfig`.
pub fn configure(state: web::Data<AppState>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state.clone())
            .configure(v1::routes)
            .configure(fr::routes)
            .configure(ops::routes)
            .configure(openapi::routes)
            .default_service(web::to(|req: HttpRequest| async move {
                // A known path asked with a method it does not serve is a 405 (the middleware
                // adds `Allow`); anything else is a 404.
                let (status, code, message) = if req.match_pattern().is_some() {
                    (
                        StatusCode::METHOD_NOT_ALLOWED,
                        "METHOD_NOT_ALLOWED",
                        "method not allowed on this route",
                    )
                } else {
                    (StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND", "no such route")
                };
                Err::<actix_web::HttpResponse, _>(ApiError::<V1>::new(status, code, message))
            }));
    }
}

/// How the server treats connections and browsers; [`Transport::default`] is what an
/// unconfigured service does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transport {
    /// HTTP worker threads.
    pub workers: usize,
    /// Time a client has to send a request's head (slow clients are cut: 408).
    pub request_timeout: Duration,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: Duration,
    /// Most connections open at once, per worker; further ones wait in the backlog.
    pub max_connections: usize,
    /// Origins (`https://app.example`) whose browser pages may call the API; empty: no
    /// CORS headers at all, so browsers keep other origins out.
    pub cors_origins: Vec<String>,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            workers: 1,
            request_timeout: Duration::from_secs(5),
            keep_alive: Duration::from_secs(30),
            max_connections: 10_000,
            cors_origins: Vec::new(),
        }
    }
}

/// The CORS policy for `origins`: the API's methods and request headers, the response
/// headers clients read, no cookies (sessions are bearer tokens).
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(["GET", "POST", "PUT", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-total-count"),
            header::RETRY_AFTER,
            header::LOCATION,
        ])
        .max_age(600)
}

/// The whole application without CORS: see [`app_with`].
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    app_with(state, Vec::new())
}

/// The whole application: every route, wrapped in the middleware that gives every response
/// (the default 404 and CORS preflights included) its request id, security headers, log
/// line and metrics; CORS for `cors_origins` when there are any.
pub fn app_with(
    state: web::Data<AppState>,
    cors_origins: Vec<String>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(configure(state))
        .wrap(Condition::new(
            !cors_origins.is_empty(),
            cors(&cors_origins),
        ))
        .wrap(from_fn(middleware::transport_refusals))
        .wrap(from_fn(middleware::standard_headers))
        .wrap(from_fn(middleware::observe))
}

/// Starts serving on `listener`; SIGTERM stops it gracefully (in-flight requests complete,
/// within actix's 30-second shutdown timeout), SIGINT and SIGQUIT at once.
///
/// Request heads beyond 16 KiB or 64 header lines are refused (431, `middleware::transport_refusals`).
pub fn run(
    listener: TcpListener,
    state: AppState,
    transport: Transport,
) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let origins = transport.cors_origins.clone();
    let server = HttpServer::new(move || app_with(state.clone(), origins.clone()))
        .workers(transport.workers.max(1))
        .client_request_timeout(transport.request_timeout)
        .keep_alive(transport.keep_alive)
        .max_connections(transport.max_connections.max(1))
        .listen(listener)?
        .run();
    Ok(server)
}
