//! Dialect v1 (`/api/v1/...`), FastAPI style: bare JSON bodies, errors as
//! `{"detail", "code"}`.

mod dto;
mod handlers;

use actix_web::web;

use crate::dialect::V1;
use crate::error::{form_config, path_config, query_config};

pub use dto::UserOut;

/// Registers the v1 routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(form_config::<V1>())
            .app_data(query_config::<V1>())
            .app_data(path_config::<V1>())
            .route("/auth/register", web::post().to(handlers::register))
            .route("/auth/login", web::post().to(handlers::login))
            .route("/auth/logout", web::post().to(handlers::logout))
            .route("/users/me", web::get().to(handlers::me))
            .route("/users/me", web::put().to(handlers::update_me))
            .route("/users/me", web::delete().to(handlers::delete_me))
            .route("/admin/users", web::get().to(handlers::list_users))
            .route("/admin/users/{id}", web::get().to(handlers::get_user))
            .route("/admin/users/{id}", web::put().to(handlers::update_user))
            .route("/admin/users/{id}", web::delete().to(handlers::delete_user))
            .route("/admin/audit", web::get().to(handlers::audit)),
    );
}
