//! Operational surface of the HTTP adapter: `/health`, `/ready`, `/metrics`, request ids,
//! security headers, `/openapi.json` and `/docs`, through the whole app (`adapters_http::app`)
//! with its middleware, over the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{test, web};
use adapters_http::AppState;
use adapters_http::token::{TokenService, TokenSettings};
use adapters_memory::InMemoryUserRepository;
use domain::ports::{MockUserRepository, RepoError, SystemClock, UserRepository, UuidV4Ids};
use domain::service::{Ports, ServiceConfig, UserService};
use domain::testing::{FixedSecrets, PlainTextHasher};
use serde_json::{Value, json};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

fn state_over(repo: Arc<dyn UserRepository>) -> web::Data<AppState> {
    let users = UserService::new(
        Ports {
            repo,
            audit: Arc::new(InMemoryUserRepository::new()),
            hasher: Arc::new(PlainTextHasher::default()),
            clock: Arc::new(SystemClock::new()),
            ids: Arc::new(UuidV4Ids),
            secrets: Arc::new(FixedSecrets),
            limiter: Arc::new(domain::ports::Unlimited),
        },
        ServiceConfig::default(),
    );
    let tokens = TokenService::hs256(TokenSettings {
        secret: b"0123456789abcdef0123456789abcdef".to_vec(),
        issuer: "users-service".into(),
        audience: "users".into(),
        ttl: Duration::from_secs(3600),
    });
    web::Data::new(AppState::new(users, tokens))
}

fn memory_state() -> web::Data<AppState> {
    state_over(Arc::new(InMemoryUserRepository::new()))
}

/// A store whose every call fails as unreachable.
fn down_state() -> web::Data<AppState> {
    let mut repo = MockUserRepository::new();
    repo.expect_ping()
        .returning(|| Err(RepoError::Unavailable("connection refused".into())));
    state_over(Arc::new(repo))
}

/// Sends a `TestRequest` to an app; evaluates to the status, the headers and the body.
macro_rules! call {
    ($app:expr, $req:expr $(,)?) => {{
        let res = test::call_service($app, ($req).to_request()).await;
        let status: StatusCode = res.status();
        let headers: header::HeaderMap = res.headers().clone();
        let body: Vec<u8> = test::read_body(res).await.to_vec();
        (status, headers, body)
    }};
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

fn header_str<'a>(headers: &'a header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .unwrap()
}

const PASSWORD: &str = "Kx7#pQ9!vLm2$wRt";

// ---------------------------------------------------------------------------------------
// /health, /ready, /metrics
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn health_answers_ok() {
    let app = test::init_service(adapters_http::app(memory_state())).await;
    let (status, headers, body) = call!(&app, test::TestRequest::get().uri("/health"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&body), json!({ "status": "ok" }));
    assert_eq!(header_str(&headers, "cache-control"), "no-store");
}

#[actix_web::test]
async fn ready_on_the_memory_store() {
    let app = test::init_service(adapters_http::app(memory_state())).await;
    let (status, _, body) = call!(&app, test::TestRequest::get().uri("/ready"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&body), json!({ "status": "ready" }));
}

#[actix_web::test]
async fn not_ready_when_the_store_is_down() {
    let app = test::init_service(adapters_http::app(down_state())).await;
    let (status, headers, body) = call!(&app, test::TestRequest::get().uri("/ready"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json_of(&body), json!({ "status": "unavailable" }));
    assert!(header_str(&headers, "retry-after").parse::<u64>().unwrap() > 0);

    let (_, _, metrics) = call!(&app, test::TestRequest::get().uri("/metrics"));
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains(r#"http_requests_total{method="GET",route="/ready",status="503"} 1"#));
    // Store errors are counted by the store decorator of the composition root (by operation
    // and kind), never inferred here from 503s: this bare mock is not decorated.
    assert!(
        metrics.contains(r#"users_store_errors_total{kind="unavailable",operation="ping"} 0"#),
        "{metrics}"
    );
}

/// The value of one sample line of the Prometheus text format.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern() {
    let app = test::init_service(adapters_http::app(memory_state())).await;
    call!(&app, test::TestRequest::get().uri("/health"));

    let (status, headers, body) = call!(&app, test::TestRequest::get().uri("/metrics"));
    assert_eq!(status, StatusCode::OK);
    assert!(header_str(&headers, "content-type").starts_with("text/plain; version=0.0.4"));
    let before = String::from_utf8(body).unwrap();
    let health = r#"http_requests_total{method="GET",route="/health",status="200"}"#;
    assert_eq!(sample(&before, health), Some(1.0), "{before}");
    assert!(
        before.contains(r#"http_request_duration_seconds_bucket{method="GET",route="/health",le="#)
    );

    // Ids never become labels: the pattern does, and unknown paths share one label.
    let id = Uuid::new_v4();
    call!(&app, test::TestRequest::get().uri("/health"));
    call!(
        &app,
        test::TestRequest::get().uri(&format!("/api/v1/admin/users/{id}"))
    );
    call!(
        &app,
        test::TestRequest::get().uri(&format!("/no/such/{id}"))
    );
    let (_, _, body) = call!(&app, test::TestRequest::get().uri("/metrics"));
    let after = String::from_utf8(body).unwrap();
    assert_eq!(sample(&after, health), Some(2.0), "{after}");
    assert_eq!(
        sample(
            &after,
            r#"http_requests_total{method="GET",route="/api/v1/admin/users/{id}",status="401"}"#
        ),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            r#"http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        Some(1.0),
        "{after}"
    );
    assert!(!after.contains(&id.to_string()));
}

#[actix_web::test]
async fn login_outcomes_are_counted_for_both_dialects() {
    let app = test::init_service(adapters_http::app(memory_state())).await;
    let email = "ada@example.com";
    let (status, _, _) = call!(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/auth/register")
            .set_json(json!({ "email": email, "username": "Ada Lovelace", "password": PASSWORD })),
    );
    assert_eq!(status, StatusCode::CREATED);

    let v1 = |password: &str| {
        test::TestRequest::post()
            .uri("/api/v1/auth/login")
            .set_json(json!({ "email": email, "password": password }))
    };
    let fr = |password: &str| {
        test::TestRequest::post()
            .uri("/api/auth/login")
            .set_json(json!({ "login": email, "motDePasse": password }))
    };
    assert_eq!(call!(&app, v1(PASSWORD)).0, StatusCode::OK);
    assert_eq!(call!(&app, v1("wrong")).0, StatusCode::UNAUTHORIZED);
    assert_eq!(call!(&app, fr(PASSWORD)).0, StatusCode::OK);
    assert_eq!(call!(&app, fr("wrong")).0, StatusCode::UNAUTHORIZED);
    // Not an attempt: a malformed body is not counted.
    let (status, _, _) = call!(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/auth/login")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload("{"),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, _, body) = call!(&app, test::TestRequest::get().uri("/metrics"));
    let metrics = String::from_utf8(body).unwrap();
    assert_eq!(
        sample(&metrics, r#"users_login_total{outcome="success"}"#),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, r#"users_login_total{outcome="invalid"}"#),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, r#"users_login_total{outcome="locked"}"#),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, r#"users_login_total{outcome="blocked"}"#),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, r#"users_login_total{outcome="inactive"}"#),
        Some(0.0),
        "{metrics}"
    );
}

// ---------------------------------------------------------------------------------------
// Request ids and security headers
// ---------------------------------------------------------------------------------------

/// One request of each kind: success, unknown route (default service), 401 of each dialect.
fn sample_requests() -> Vec<test::TestRequest> {
    vec![
        test::TestRequest::get().uri("/health"),
        test::TestRequest::get().uri("/no/such/route"),
        test::TestRequest::get().uri("/api/v1/users/me"),
        test::TestRequest::get().uri("/api/utilisateurs/me"),
    ]
}

#[actix_web::test]
async fn a_valid_client_request_id_is_echoed_on_every_response() {
    let app = test::init_service(adapters_http::app(memory_state())).await;
    for req in sample_requests() {
        let (status, headers, _) = call!(
            &app,
            req.insert_header(("X-Request-Id", "client-id_42:a/b"))
        );
        assert_eq!(
            header_str(&headers, "x-request-id"),
            "client-id_42:a/b",
            "status {status}"
        );
    }
}

#[actix_web::test]
async fn a_request_id_is_generated_when_missing_or_unacceptable() {
    let app = test::init_service(adapters_http::app(memory_state())).await;
    let too_long = "a".repeat(129);
    for sent in [
        None,
        Some(""),
        Some("has space"),
        Some(too_long.as_str()),
        Some("é"),
    ] {
        let mut seen = BTreeSet::new();
        for req in sample_requests() {
            let req = match sent {
                Some(value) => req.insert_header(("X-Request-Id", value)),
                None => req,
            };
            let (status, headers, _) = call!(&app, req);
            let id = header_str(&headers, "x-request-id");
            assert!(
                Uuid::parse_str(id).is_ok(),
                "{sent:?} → {id:?} (status {status})"
            );
            seen.insert(id.to_owned());
        }
        assert_eq!(seen.len(), 4, "every request gets its own id");
    }
}

#[actix_web::test]
async fn security_headers_are_on_every_response() {
    let app = test::init_service(adapters_http::app(memory_state())).await;
    for req in sample_requests() {
        let (status, headers, _) = call!(&app, req);
        assert_eq!(
            header_str(&headers, "x-content-type-options"),
            "nosniff",
            "status {status}"
        );
        assert_eq!(
            header_str(&headers, "referrer-policy"),
            "no-referrer",
            "status {status}"
        );
        assert_eq!(
            header_str(&headers, "x-frame-options"),
            "DENY",
            "status {status}"
        );
    }
    // API answers are never cached, errors included.
    let (status, headers, _) = call!(&app, test::TestRequest::get().uri("/api/v1/users/me"));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(header_str(&headers, "cache-control"), "no-store");
    let (status, headers, _) = call!(&app, test::TestRequest::get().uri("/api/v1/nothing-here"));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(header_str(&headers, "cache-control"), "no-store");
}

#[actix_web::test]
async fn unserved_methods_of_known_routes_answer_405_with_allow() {
    let app = test::init_service(adapters_http::app(memory_state())).await;
    let id = Uuid::new_v4();
    let cases = [
        (
            Method::PATCH,
            "/api/v1/users/me".to_owned(),
            "GET, PUT, DELETE",
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{id}"),
            "GET, PUT, DELETE",
        ),
        (Method::PATCH, format!("/api/utilisateurs/{id}"), "GET, PUT"),
        (Method::DELETE, "/api/utilisateurs".to_owned(), "GET, POST"),
        (Method::DELETE, "/health".to_owned(), "GET"),
    ];
    for (method, uri, allow) in cases {
        let (status, headers, _) = call!(
            &app,
            test::TestRequest::default()
                .method(method.clone())
                .uri(&uri)
        );
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert_eq!(header_str(&headers, "allow"), allow, "{method} {uri}");
        assert!(headers.contains_key("x-request-id"));
    }
    let (status, _, _) = call!(
        &app,
        test::TestRequest::patch().uri("/api/v1/no-such-route")
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// OpenAPI document and /docs
// ---------------------------------------------------------------------------------------

async fn openapi_document() -> Value {
    let app = test::init_service(adapters_http::app(memory_state())).await;
    let (status, headers, body) = call!(&app, test::TestRequest::get().uri("/openapi.json"));
    assert_eq!(status, StatusCode::OK);
    assert!(header_str(&headers, "content-type").starts_with("application/json"));
    json_of(&body)
}

/// Every route: SPEC §3.1, §3.2 and §3.3, and the audit trail's two.
const SPEC_ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/users/me"),
    ("put", "/api/v1/users/me"),
    ("delete", "/api/v1/users/me"),
    ("get", "/api/v1/admin/users"),
    ("get", "/api/v1/admin/users/{id}"),
    ("put", "/api/v1/admin/users/{id}"),
    ("delete", "/api/v1/admin/users/{id}"),
    ("get", "/api/v1/admin/audit"),
    ("post", "/api/auth/login"),
    ("get", "/api/utilisateurs"),
    ("get", "/api/utilisateurs/{id}"),
    ("post", "/api/utilisateurs"),
    ("put", "/api/utilisateurs/{id}"),
    ("post", "/api/utilisateurs/{id}/bloquer"),
    ("get", "/api/utilisateurs/{id}/historique"),
    ("post", "/api/utilisateurs/{id}/reset-password"),
    ("post", "/api/utilisateurs/change-password"),
    ("get", "/api/utilisateurs/me"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
    ("get", "/.well-known/jwks.json"),
];

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in HTTP_METHODS {
            if item.get(method).is_some() {
                out.insert((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

#[actix_web::test]
async fn openapi_is_3_1_and_documents_exactly_the_spec_routes() {
    let doc = openapi_document().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        doc["info"]["version"],
        env!("CARGO_PKG_VERSION"),
        "bump info.version with the crate"
    );
    let documented = documented_operations(&doc);
    let expected: BTreeSet<(String, String)> = SPEC_ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, expected);
}

#[actix_web::test]
async fn every_documented_operation_is_served() {
    let doc = openapi_document().await;
    let app = test::init_service(adapters_http::app(memory_state())).await;
    for (method, path) in documented_operations(&doc) {
        let uri = path.replace("{id}", &Uuid::new_v4().to_string());
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, _, body) = call!(
            &app,
            test::TestRequest::default()
                .method(method.clone())
                .uri(&uri)
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if status == StatusCode::NOT_FOUND {
            let body = json_of(&body);
            let code = body["code"]
                .as_str()
                .or(body["error"]["code"].as_str())
                .unwrap_or_default();
            assert!(
                !code.starts_with("ROUTE_"),
                "{method} {path} is not routed: {body}"
            );
        }
    }
}

#[actix_web::test]
async fn every_reference_resolves() {
    let doc = openapi_document().await;
    fn walk(doc: &Value, node: &Value) {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    let pointer = target.strip_prefix('#').expect("local reference");
                    assert!(doc.pointer(pointer).is_some(), "dangling {target}");
                }
                map.values().for_each(|v| walk(doc, v));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(doc, v)),
            _ => {}
        }
    }
    walk(&doc, &doc);
}

/// The JSON Schema subset the document uses, enough to check real bodies against it:
/// `$ref`, `type` (one or several), `const`, `enum`, `properties`, `required`,
/// `additionalProperties: false`, `items`, `anyOf`.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        let resolved = doc
            .pointer(target.trim_start_matches('#'))
            .ok_or(format!("dangling {target}"))?;
        return conforms(doc, resolved, value, at);
    }
    if let Some(variants) = schema.get("anyOf").and_then(Value::as_array) {
        return if variants.iter().any(|v| conforms(doc, v, value, at).is_ok()) {
            Ok(())
        } else {
            Err(format!("{at}: matches no variant: {value}"))
        };
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let integer_as_number = actual == "integer" && types.contains(&"number");
        if !(types.contains(&actual) || integer_as_number) {
            return Err(format!("{at}: {actual} where {types:?} expected"));
        }
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        return Err(format!("{at}: {value} where {expected} expected"));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} not in {allowed:?}"));
    }
    if let Value::Object(map) = value {
        let props = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = required.as_str().unwrap_or_default();
            if !map.contains_key(name) {
                return Err(format!("{at}: missing required {name}"));
            }
        }
        for (name, v) in map {
            match props.and_then(|p| p.get(name)) {
                Some(sub) => conforms(doc, sub, v, &format!("{at}.{name}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}: undocumented property {name}"));
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            conforms(doc, item_schema, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Checks a real response against the document: status documented, headers present,
/// body conforms to the schema of its media type.
fn check_response(
    doc: &Value,
    method: &str,
    path: &str,
    status: StatusCode,
    headers: &header::HeaderMap,
    body: &[u8],
) {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} undocumented");
    let mut response = &op["responses"][status.as_str()];
    assert!(
        response.is_object(),
        "{method} {path}: status {status} undocumented"
    );
    if let Some(target) = response.get("$ref").and_then(Value::as_str) {
        response = doc.pointer(target.trim_start_matches('#')).unwrap();
    }
    for (name, h) in response["headers"].as_object().into_iter().flatten() {
        let h = match h.get("$ref").and_then(Value::as_str) {
            Some(target) => doc.pointer(target.trim_start_matches('#')).unwrap(),
            None => h,
        };
        if h["required"] == Value::Bool(true) {
            assert!(
                headers.contains_key(name.as_str()),
                "{method} {path} {status}: missing header {name}"
            );
        }
    }
    if let Some(content) = response["content"].as_object() {
        let media = header_str(headers, "content-type")
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_owned();
        let entry = content
            .get(&media)
            .unwrap_or_else(|| panic!("{method} {path} {status}: undocumented media type {media}"));
        if media == "application/json" {
            let value = json_of(body);
            if let Err(e) = conforms(doc, &entry["schema"], &value, "$") {
                panic!("{method} {path} {status}: {e}\n{value:#}");
            }
        }
    } else {
        assert!(
            body.is_empty(),
            "{method} {path} {status}: undocumented body"
        );
    }
}

#[actix_web::test]
async fn real_responses_conform_to_the_document() {
    let doc = openapi_document().await;
    let app = test::init_service(adapters_http::app(memory_state())).await;
    macro_rules! check {
        ($method:literal, $path:literal, $req:expr) => {{
            let (status, headers, body) = call!(&app, $req);
            check_response(&doc, $method, $path, status, &headers, &body);
            (status, body)
        }};
    }
    let email = "grace@example.com";

    // v1
    let (status, _) = check!(
        "post",
        "/api/v1/auth/register",
        test::TestRequest::post()
            .uri("/api/v1/auth/register")
            .set_json(json!({ "email": email, "username": "Grace Hopper", "password": PASSWORD }))
    );
    assert_eq!(status, StatusCode::CREATED);
    check!(
        "post",
        "/api/v1/auth/register",
        test::TestRequest::post()
            .uri("/api/v1/auth/register")
            .set_json(json!({ "email": email, "username": "Grace Hopper", "password": PASSWORD }))
    );
    check!(
        "post",
        "/api/v1/auth/register",
        test::TestRequest::post()
            .uri("/api/v1/auth/register")
            .set_json(
                json!({ "email": "x", "username": "", "password": "short", "is_admin": true })
            )
    );
    check!(
        "post",
        "/api/v1/auth/register",
        test::TestRequest::post()
            .uri("/api/v1/auth/register")
            .set_json(
                json!({ "email": "nobody@example.com", "username": "N", "password": "password" })
            )
    );
    let (status, body) = check!(
        "post",
        "/api/v1/auth/login",
        test::TestRequest::post()
            .uri("/api/v1/auth/login")
            .set_form([
                ("username", email),
                ("password", PASSWORD),
                ("grant_type", "password")
            ])
    );
    assert_eq!(status, StatusCode::OK);
    let token = json_of(&body)["access_token"].as_str().unwrap().to_owned();
    check!(
        "post",
        "/api/v1/auth/login",
        test::TestRequest::post()
            .uri("/api/v1/auth/login")
            .set_json(json!({ "email": email, "password": "nope" }))
    );
    check!(
        "post",
        "/api/v1/auth/login",
        test::TestRequest::post()
            .uri("/api/v1/auth/login")
            .insert_header((header::CONTENT_TYPE, "text/plain"))
            .set_payload("hello")
    );
    let bearer = (header::AUTHORIZATION, format!("Bearer {token}"));
    let (status, _) = check!(
        "get",
        "/api/v1/users/me",
        test::TestRequest::get()
            .uri("/api/v1/users/me")
            .insert_header(bearer.clone())
    );
    assert_eq!(status, StatusCode::OK);
    check!(
        "get",
        "/api/v1/users/me",
        test::TestRequest::get().uri("/api/v1/users/me")
    );
    check!(
        "get",
        "/api/v1/admin/users",
        test::TestRequest::get()
            .uri("/api/v1/admin/users")
            .insert_header(bearer.clone())
    );
    check!(
        "put",
        "/api/v1/users/me",
        test::TestRequest::put()
            .uri("/api/v1/users/me")
            .insert_header(bearer.clone())
            .set_json(json!({ "username": "Grace B. Hopper", "email": null }))
    );

    // fr
    let (status, body) = check!(
        "post",
        "/api/auth/login",
        test::TestRequest::post()
            .uri("/api/auth/login")
            .set_json(json!({ "login": email, "motDePasse": PASSWORD }))
    );
    assert_eq!(status, StatusCode::OK);
    let token = json_of(&body)["data"]["token"].as_str().unwrap().to_owned();
    let bearer = (header::AUTHORIZATION, format!("Bearer {token}"));
    check!(
        "post",
        "/api/auth/login",
        test::TestRequest::post()
            .uri("/api/auth/login")
            .set_json(json!({ "login": email, "motDePasse": "nope" }))
    );
    check!(
        "post",
        "/api/auth/login",
        test::TestRequest::post()
            .uri("/api/auth/login")
            .set_json(json!({ "login": email }))
    );
    let (status, _) = check!(
        "get",
        "/api/utilisateurs/me",
        test::TestRequest::get()
            .uri("/api/utilisateurs/me")
            .insert_header(bearer.clone())
    );
    assert_eq!(status, StatusCode::OK);
    check!(
        "get",
        "/api/utilisateurs",
        test::TestRequest::get()
            .uri("/api/utilisateurs?size=500")
            .insert_header(bearer.clone())
    );
    check!(
        "get",
        "/api/utilisateurs/{id}",
        test::TestRequest::get()
            .uri("/api/utilisateurs/not-a-uuid")
            .insert_header(bearer.clone())
    );

    // ops
    check!("get", "/health", test::TestRequest::get().uri("/health"));
    check!("get", "/ready", test::TestRequest::get().uri("/ready"));
    check!("get", "/metrics", test::TestRequest::get().uri("/metrics"));
    check!(
        "get",
        "/openapi.json",
        test::TestRequest::get().uri("/openapi.json")
    );
    check!("get", "/docs", test::TestRequest::get().uri("/docs"));

    let app = test::init_service(adapters_http::app(down_state())).await;
    let (status, headers, body) = call!(&app, test::TestRequest::get().uri("/ready"));
    check_response(&doc, "get", "/ready", status, &headers, &body);
}

#[actix_web::test]
async fn docs_is_a_self_contained_page_under_a_strict_csp() {
    let app = test::init_service(adapters_http::app(memory_state())).await;
    let (status, headers, body) = call!(&app, test::TestRequest::get().uri("/docs"));
    assert_eq!(status, StatusCode::OK);
    assert!(header_str(&headers, "content-type").starts_with("text/html"));
    let csp = header_str(&headers, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );

    let html = String::from_utf8(body).unwrap();
    // No inline script or style (the CSP would block them) and nothing from elsewhere.
    assert!(!html.contains("<script>") && !html.contains("<style") && !html.contains(" style="));
    assert!(!html.contains("http://") && !html.contains("https://"));
    for asset in ["docs/docs.js", "docs/docs.css"] {
        assert!(
            html.contains(&format!("\"{asset}\"")),
            "{asset} not referenced"
        );
        let (status, headers, body) =
            call!(&app, test::TestRequest::get().uri(&format!("/{asset}")));
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(!body.is_empty());
        let content_type = header_str(&headers, "content-type");
        assert!(
            content_type.starts_with("text/javascript") || content_type.starts_with("text/css")
        );
    }
}
