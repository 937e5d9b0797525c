//! The OpenAPI 3.1 description of both dialects (`GET /openapi.json`) and a browsable page
//! that renders it (`GET /docs`).
//!
//! The document is hand-written JSON compiled into the binary (`openapi.json`): no schema
//! generator, no derive macro on the DTOs, nothing fetched at build or run time. Tests keep
//! it honest by comparing it with the routes and with real response bodies.
//!
//! The page is static HTML whose script and style are served as separate files from this
//! origin, so its Content-Security-Policy allows no inline code and no third party.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use serde_json::Value;

/// The OpenAPI 3.1 document.
pub const DOCUMENT: &str = include_str!("openapi.json");

const DOCS_HTML: &str = include_str!("docs.html");
const DOCS_JS: &str = include_str!("docs.js");
const DOCS_CSS: &str = include_str!("docs.css");

/// The page may load its own script, style and the document, and nothing else; it can be
/// framed by no one and submits no form.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'";

/// The documents change only with the binary: let clients revalidate, never serve stale.
const CACHE: &str = "no-cache";

/// HTTP methods in the order `Allow` lists them.
const METHODS: [&str; 8] = [
    "get", "head", "post", "put", "patch", "delete", "options", "trace",
];

/// The `Allow` value of every documented path template, built once from [`DOCUMENT`], so
/// the document is the one list of what each route serves (tests check that it matches the
/// routing).
static ALLOW: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    let doc: Value = serde_json::from_str(DOCUMENT).unwrap_or_default();
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    paths
        .into_iter()
        .map(|(path, item)| {
            let allowed: Vec<String> = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| m.to_ascii_uppercase())
                .collect();
            (path, allowed.join(", "))
        })
        .collect()
});

/// The methods a route pattern (`/api/v1/admin/users/{id}`) serves, as an `Allow` value.
pub fn allowed_methods(route_pattern: &str) -> Option<&'static str> {
    ALLOW.get(route_pattern).map(String::as_str)
}

/// Registers `/openapi.json`, `/docs` and the page's assets.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(document))
        .route("/docs", web::get().to(docs))
        .route("/docs/docs.js", web::get().to(docs_js))
        .route("/docs/docs.css", web::get().to(docs_css));
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static(CACHE)))
        .body(body)
}

async fn document() -> HttpResponse {
    asset("application/json", DOCUMENT)
}

async fn docs() -> HttpResponse {
    let mut response = asset("text/html; charset=utf-8", DOCS_HTML);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    response
}

async fn docs_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", DOCS_JS)
}

async fn docs_css() -> HttpResponse {
    asset("text/css; charset=utf-8", DOCS_CSS)
}
