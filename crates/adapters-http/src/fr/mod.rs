//! Dialect fr (`/api/auth/login`, `/api/utilisateurs...`, SPEC §3.2): French field names,
//! successes as `{"success": true, "data": ...}`, errors as
//! `{"success": false, "error": {"code", "message", "details"}}`.
//!
//! # Layout
//! - `dto`: request bodies with their `try_into_domain()`, and the response shapes.
//! - `handlers`: one use case per route.
//! - [`messages`]: the fr code and the French message of every stable code.

mod dto;
mod handlers;
pub mod messages;

use actix_web::web;

use crate::dialect::Fr;
use crate::error::{path_config, query_config};

pub use dto::Utilisateur;

/// A resource whose other methods answer 405 in the fr shape.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(handlers::method_not_allowed))
}

/// Registers the fr routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .app_data(query_config::<Fr>())
            .app_data(path_config::<Fr>())
            .service(resource("/auth/login").route(web::post().to(handlers::login)))
            .service(
                resource("/utilisateurs")
                    .route(web::get().to(handlers::list_users))
                    .route(web::post().to(handlers::create_user)),
            )
            // Static segments before `{id}`, which would otherwise capture them.
            .service(
                resource("/utilisateurs/change-password")
                    .route(web::post().to(handlers::change_password)),
            )
            .service(resource("/utilisateurs/me").route(web::get().to(handlers::me)))
            .service(
                resource("/utilisateurs/{id}")
                    .route(web::get().to(handlers::get_user))
                    .route(web::put().to(handlers::update_user)),
            )
            .service(
                resource("/utilisateurs/{id}/bloquer").route(web::post().to(handlers::set_blocked)),
            )
            .service(
                resource("/utilisateurs/{id}/historique").route(web::get().to(handlers::history)),
            )
            .service(
                resource("/utilisateurs/{id}/reset-password")
                    .route(web::post().to(handlers::reset_password)),
            )
            .default_service(web::to(handlers::route_not_found)),
    );
}
