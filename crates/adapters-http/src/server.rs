//! Builds the actix application and runs it on an already-bound listener, so tests can bind
//! port 0 and read the real port back.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
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

/// The whole application: every route, wrapped in the middleware that gives every response
/// (the default 404 included) its request id, security headers, log line and metrics.
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
    App::new()
        .configure(configure(state))
        .wrap(from_fn(middleware::standard_headers))
        .wrap(from_fn(middleware::observe))
}

/// Starts serving on `listener`; SIGTERM stops it gracefully (in-flight requests complete,
/// within actix's 30-second shutdown timeout), SIGINT and SIGQUIT at once.
pub fn run(listener: TcpListener, state: AppState, workers: usize) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || app(state.clone()))
        .workers(workers.max(1))
        .listen(listener)?
        .run();
    Ok(server)
}
