//! Dialect fr (SPEC §3.2) through the actix app over the in-memory store: envelopes,
//! statuses and codes, paging and filters, null-clearing updates, block toggling, password
//! reset and change, and the refusal of every malformed request without a 5xx.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::test::{self, TestRequest};
use actix_web::{App, web};
use adapters_http::AppState;
use adapters_http::token::{TokenService, TokenSettings};
use adapters_memory::InMemoryUserRepository;
use domain::model::{Login, PlainPassword};
use domain::ports::{SystemClock, UuidV4Ids};
use domain::service::{Ports, ServiceConfig, UserService};
use domain::testing::{FixedSecrets, PlainTextHasher};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

const TEMPORARY: &str = domain::testing::TEMPORARY_PASSWORD;

const ROOT_FIRST_PW: &str = "Admin-First-2024!";
const ROOT_PW: &str = "Admin-Changed-2024!";
const INITIAL_PW: &str = "Initial-Secret-7#";
const CHOSEN_PW: &str = "Chosen-Secret-8$";

/// One response, read in full.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: header::HeaderMap,
    body: Value,
}

impl Reply {
    fn data(&self) -> &Value {
        assert_eq!(
            self.body["success"],
            json!(true),
            "not a success: {}",
            self.body
        );
        &self.body["data"]
    }

    /// The fr error code, after checking the error envelope.
    fn code(&self) -> &str {
        assert_eq!(
            self.body["success"],
            json!(false),
            "not an error: {}",
            self.body
        );
        self.body["error"]["code"].as_str().expect("error.code")
    }

    fn champs(&self) -> Vec<&str> {
        self.body["error"]["details"]
            .as_array()
            .expect("error.details")
            .iter()
            .map(|d| d["champ"].as_str().expect("champ"))
            .collect()
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

type Sender = Box<dyn Fn(TestRequest) -> Pin<Box<dyn Future<Output = Reply>>>>;

/// The app over a fresh store, with an ADMIN `root` whose first password is already changed.
struct Api {
    send: Sender,
    root: String,
}

impl Api {
    async fn new() -> Self {
        let store = Arc::new(InMemoryUserRepository::new());
        let users = UserService::new(
            Ports {
                repo: store.clone(),
                audit: store,
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
        let state = web::Data::new(AppState::new(users, tokens));
        let admin = state
            .users
            .create_admin(Login::parse("root").unwrap(), None, pw(ROOT_FIRST_PW))
            .await
            .unwrap();
        state
            .users
            .change_own_password(&admin.as_actor(), &pw(ROOT_FIRST_PW), &pw(ROOT_PW))
            .await
            .unwrap();

        let app = Rc::new(
            test::init_service(App::new().configure(adapters_http::configure(state.clone()))).await,
        );
        let send: Sender = Box::new(move |req: TestRequest| {
            let app = Rc::clone(&app);
            Box::pin(async move {
                let res = test::call_service(&*app, req.to_request()).await;
                let status = res.status();
                let headers = res.headers().clone();
                let bytes = test::read_body(res).await;
                assert!(
                    !status.is_server_error(),
                    "{status}: {}",
                    String::from_utf8_lossy(&bytes)
                );
                let body = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                        panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes))
                    })
                };
                Reply {
                    status,
                    headers,
                    body,
                }
            })
        });
        let mut api = Self {
            send,
            root: String::new(),
        };
        api.root = api.token_of("root", ROOT_PW).await;
        api
    }

    async fn call(&self, req: TestRequest) -> Reply {
        (self.send)(req).await
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(TestRequest::get().uri(path).insert_header(bearer(token)))
            .await
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call(
            TestRequest::post()
                .uri(path)
                .insert_header(bearer(token))
                .set_json(body),
        )
        .await
    }

    /// A POST with no body and no `Content-Type`.
    async fn post_empty(&self, path: &str, token: &str) -> Reply {
        self.call(TestRequest::post().uri(path).insert_header(bearer(token)))
            .await
    }

    async fn put(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call(
            TestRequest::put()
                .uri(path)
                .insert_header(bearer(token))
                .set_json(body),
        )
        .await
    }

    async fn login(&self, login: &str, password: &str) -> Reply {
        self.call(
            TestRequest::post()
                .uri("/api/auth/login")
                .set_json(json!({ "login": login, "motDePasse": password })),
        )
        .await
    }

    async fn token_of(&self, login: &str, password: &str) -> String {
        let reply = self.login(login, password).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.data()["token"].as_str().unwrap().to_owned()
    }

    /// Creates a user as root; returns its id.
    async fn create(&self, login: &str, role: &str) -> String {
        let reply = self
            .post(
                "/api/utilisateurs",
                &self.root,
                &json!({ "login": login, "motDePasse": INITIAL_PW, "nomComplet": format!("{login} Testeur"), "role": role }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.data()["utilisateur"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a user, then lets it log in and change its first password; returns a token
    /// with full access.
    async fn create_active(&self, login: &str, role: &str) -> String {
        self.create(login, role).await;
        let first = self.token_of(login, INITIAL_PW).await;
        let reply = self
            .post(
                "/api/utilisateurs/change-password",
                &first,
                &json!({ "ancienMotDePasse": INITIAL_PW, "nouveauMotDePasse": CHOSEN_PW }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.data()["token"].as_str().unwrap().to_owned()
    }
}

fn pw(s: &str) -> PlainPassword {
    PlainPassword::new(s).unwrap()
}

fn bearer(token: &str) -> (header::HeaderName, String) {
    (header::AUTHORIZATION, format!("Bearer {token}"))
}

/// Every field of the `Utilisateur` representation, and nothing else.
const UTILISATEUR_KEYS: [&str; 16] = [
    "actif",
    "adresse",
    "agentId",
    "bloque",
    "contribuableId",
    "createdAt",
    "email",
    "grade",
    "id",
    "login",
    "nomComplet",
    "premierConnexion",
    "role",
    "sexe",
    "telephone",
    "updatedAt",
];

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

// ---------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn login_answers_a_bearer_token_with_the_user_in_the_success_envelope() {
    let api = Api::new().await;
    api.create("agent1", "TAXATEUR").await;

    let reply = api.login("agent1", INITIAL_PW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(header::CACHE_CONTROL), Some("no-store"));
    let data = reply.data();
    assert!(!data["token"].as_str().unwrap().is_empty());
    assert_eq!(data["tokenType"], "Bearer");
    assert_eq!(data["expiresIn"], 3600);
    assert_eq!(data["premierConnexion"], true);
    assert_eq!(data["utilisateur"]["login"], "agent1");
    assert_eq!(keys(&data["utilisateur"]), UTILISATEUR_KEYS);
    let text = reply.body.to_string();
    assert!(
        !text.contains(INITIAL_PW) && !text.contains("fake$"),
        "{text}"
    );
}

#[actix_web::test]
async fn login_accepts_the_email_ignoring_case() {
    let api = Api::new().await;
    let reply = api
        .post(
            "/api/utilisateurs",
            &api.root,
            &json!({ "login": "agent1", "motDePasse": INITIAL_PW, "nomComplet": "KABILA Joseph",
                     "role": "TAXATEUR", "email": "agent1@dprihkat.cd" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);

    let reply = api.login("AGENT1@dprihkat.cd", INITIAL_PW).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.data()["utilisateur"]["login"], "agent1");
}

#[actix_web::test]
async fn login_failures_are_identical_for_unknown_login_and_wrong_password() {
    let api = Api::new().await;
    api.create("agent1", "TAXATEUR").await;

    let wrong = api.login("agent1", "Not-The-Password-1!").await;
    let unknown = api.login("nobody", "Not-The-Password-1!").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.code(), "IDENTIFIANTS_INVALIDES");
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(unknown.body, wrong.body);
    assert!(wrong.body["error"]["message"].is_string());
}

#[actix_web::test]
async fn a_blocked_account_cannot_log_in() {
    let api = Api::new().await;
    let id = api.create("agent1", "TAXATEUR").await;
    let reply = api
        .post(
            &format!("/api/utilisateurs/{id}/bloquer"),
            &api.root,
            &json!({ "bloque": true }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);

    let reply = api.login("agent1", INITIAL_PW).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "COMPTE_BLOQUE");
}

// ---------------------------------------------------------------------------------------
// Creation
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn create_answers_201_with_the_full_representation_then_409_on_a_duplicate_login() {
    let api = Api::new().await;
    let body = json!({
        "login": "agent1", "motDePasse": INITIAL_PW, "nomComplet": "KABILA Joseph",
        "email": "agent1@dprihkat.cd", "telephone": "+243820123456", "role": "TAXATEUR",
        "grade": "Agent", "sexe": "M", "adresse": "Lubumbashi",
        "agentId": "550e8400-e29b-41d4-a716-446655440010"
    });
    let reply = api.post("/api/utilisateurs", &api.root, &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let user = &reply.data()["utilisateur"];
    assert_eq!(keys(user), UTILISATEUR_KEYS);
    let id = user["id"].as_str().unwrap();
    assert_eq!(
        reply.header(header::LOCATION),
        Some(format!("/api/utilisateurs/{id}").as_str())
    );
    assert_eq!(user["login"], "agent1");
    assert_eq!(user["nomComplet"], "KABILA Joseph");
    assert_eq!(user["email"], "agent1@dprihkat.cd");
    assert_eq!(user["telephone"], "+243820123456");
    assert_eq!(user["role"], "TAXATEUR");
    assert_eq!(user["grade"], "Agent");
    assert_eq!(user["sexe"], "M");
    assert_eq!(user["adresse"], "Lubumbashi");
    assert_eq!(user["agentId"], "550e8400-e29b-41d4-a716-446655440010");
    assert_eq!(user["contribuableId"], Value::Null);
    assert_eq!(user["actif"], true);
    assert_eq!(user["bloque"], false);
    assert_eq!(user["premierConnexion"], true);
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(!reply.body.to_string().contains(INITIAL_PW));

    let mut duplicate = body.clone();
    duplicate["login"] = json!("AGENT1");
    duplicate["email"] = json!("other@dprihkat.cd");
    let reply = api.post("/api/utilisateurs", &api.root, &duplicate).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.code(), "LOGIN_DEJA_UTILISE");
    assert_eq!(reply.champs()[0], "login");

    let mut same_email = body;
    same_email["login"] = json!("agent2");
    same_email["email"] = json!("Agent1@DPRIHKAT.cd");
    let reply = api.post("/api/utilisateurs", &api.root, &same_email).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.code(), "EMAIL_DEJA_UTILISE");
    assert_eq!(reply.champs(), ["email"]);
}

#[actix_web::test]
async fn create_reports_every_invalid_field_at_once_with_french_names() {
    let api = Api::new().await;
    let reply = api
        .post(
            "/api/utilisateurs",
            &api.root,
            &json!({ "login": "a b", "motDePasse": INITIAL_PW, "nomComplet": "  ", "role": "CHEF",
                     "email": "nope", "telephone": "0820", "sexe": "X", "agentId": "not-a-uuid",
                     "contribuableId": "123" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.code(), "DONNEES_INVALIDES");
    let mut champs = reply.champs();
    champs.sort_unstable();
    assert_eq!(
        champs,
        [
            "agentId",
            "contribuableId",
            "email",
            "login",
            "nomComplet",
            "role",
            "sexe",
            "telephone"
        ]
    );
}

#[actix_web::test]
async fn create_refuses_weak_passwords_and_agent_taxpayer_mixes() {
    let api = Api::new().await;
    let reply = api
        .post(
            "/api/utilisateurs",
            &api.root,
            &json!({ "login": "agent1", "motDePasse": "short", "nomComplet": "A", "role": "TAXATEUR" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.code(), "MOT_DE_PASSE_FAIBLE");
    assert!(reply.champs().iter().all(|c| *c == "motDePasse"));

    let reply = api
        .post(
            "/api/utilisateurs",
            &api.root,
            &json!({ "login": "contrib1", "motDePasse": INITIAL_PW, "nomComplet": "A", "role": "CONTRIBUABLE",
                     "agentId": "550e8400-e29b-41d4-a716-446655440010" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.code(), "AGENT_CONTRIBUABLE_INCOMPATIBLES");
}

// ---------------------------------------------------------------------------------------
// Listing and reading
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn list_pages_with_total_and_combines_filters() {
    let api = Api::new().await;
    for (login, role) in [
        ("alpha", "TAXATEUR"),
        ("bravo", "TAXATEUR"),
        ("charlie", "DIRECTEUR"),
        ("delta", "TAXATEUR"),
    ] {
        api.create(login, role).await;
    }

    // Five users: root + four, in creation order.
    let reply = api.get("/api/utilisateurs?page=1&size=2", &api.root).await;
    assert_eq!(reply.status, StatusCode::OK);
    let data = reply.data();
    assert_eq!(data["total"], 5);
    assert_eq!(data["page"], 1);
    assert_eq!(data["size"], 2);
    let logins = |data: &Value| -> Vec<String> {
        data["utilisateurs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["login"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(logins(data), ["root", "alpha"]);
    let reply = api.get("/api/utilisateurs?page=2&size=2", &api.root).await;
    assert_eq!(logins(reply.data()), ["bravo", "charlie"]);
    let reply = api.get("/api/utilisateurs?page=3&size=2", &api.root).await;
    assert_eq!(logins(reply.data()), ["delta"]);
    let reply = api.get("/api/utilisateurs?page=9&size=2", &api.root).await;
    assert_eq!(reply.data()["total"], 5);
    assert_eq!(logins(reply.data()), Vec::<String>::new());

    // Defaults.
    let reply = api.get("/api/utilisateurs", &api.root).await;
    assert_eq!(reply.data()["page"], 1);
    assert_eq!(reply.data()["size"], 20);
    assert_eq!(keys(&reply.data()["utilisateurs"][0]), UTILISATEUR_KEYS);

    // Filters combine with AND.
    let reply = api.get("/api/utilisateurs?role=TAXATEUR", &api.root).await;
    assert_eq!(reply.data()["total"], 3);
    let id = api.get("/api/utilisateurs?q=bra", &api.root).await.data()["utilisateurs"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.post_empty(&format!("/api/utilisateurs/{id}/bloquer"), &api.root)
        .await;
    let reply = api
        .get(
            "/api/utilisateurs?role=TAXATEUR&bloque=false&actif=true",
            &api.root,
        )
        .await;
    assert_eq!(logins(reply.data()), ["alpha", "delta"]);
    let reply = api.get("/api/utilisateurs?bloque=true", &api.root).await;
    assert_eq!(logins(reply.data()), ["bravo"]);
    let reply = api.get("/api/utilisateurs?q=CHAR", &api.root).await;
    assert_eq!(logins(reply.data()), ["charlie"]);
    let reply = api.get("/api/utilisateurs?q=.*", &api.root).await;
    assert_eq!(reply.data()["total"], 0);
}

#[actix_web::test]
async fn the_last_documented_page_is_served_empty() {
    let api = Api::new().await;
    for size in [1, 20, 100] {
        let reply = api
            .get(
                &format!("/api/utilisateurs?page=184467440737095517&size={size}"),
                &api.root,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "size {size}");
        assert_eq!(reply.data()["utilisateurs"], serde_json::json!([]));
    }
}

#[actix_web::test]
async fn list_refuses_out_of_range_paging_with_details() {
    let api = Api::new().await;
    for (query, champ) in [
        ("page=0", "page"),
        // One past the documented maximum, whatever the size (found by schemathesis).
        ("page=184467440737095518", "page"),
        ("page=184467440737095518&size=1", "page"),
        ("size=0", "size"),
        ("size=101", "size"),
        ("role=CHEF", "role"),
    ] {
        let reply = api
            .get(&format!("/api/utilisateurs?{query}"), &api.root)
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(reply.code(), "DONNEES_INVALIDES", "{query}");
        assert_eq!(reply.champs(), [champ], "{query}");
    }
    for query in [
        "page=-1",
        "page=abc",
        "size=1e3",
        "actif=peut-etre",
        "page=99999999999999999999999",
    ] {
        let reply = api
            .get(&format!("/api/utilisateurs?{query}"), &api.root)
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
    }
    let reply = api
        .get(
            &format!("/api/utilisateurs?page={}&size=100", u64::MAX),
            &api.root,
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.champs(), ["page"]);
}

#[actix_web::test]
async fn get_by_id_and_404_for_unknown_or_malformed_ids() {
    let api = Api::new().await;
    let id = api.create("agent1", "TAXATEUR").await;

    let reply = api.get(&format!("/api/utilisateurs/{id}"), &api.root).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.data()["utilisateur"]["id"], id.as_str());
    assert_eq!(reply.data()["utilisateur"]["login"], "agent1");

    for bad in [
        "not-a-uuid",
        "550e8400-e29b-41d4-a716-446655440999",
        "%00",
        "'%20OR%201=1",
    ] {
        let reply = api
            .get(&format!("/api/utilisateurs/{bad}"), &api.root)
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(reply.code(), "UTILISATEUR_INTROUVABLE", "{bad}");
    }
}

#[actix_web::test]
async fn me_answers_the_stored_user_and_is_not_captured_by_the_id_route() {
    let api = Api::new().await;
    let reply = api.get("/api/utilisateurs/me", &api.root).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.data()["utilisateur"]["login"], "root");
    assert_eq!(reply.data()["utilisateur"]["role"], "ADMIN");
    assert_eq!(reply.data()["utilisateur"]["premierConnexion"], false);
}

// ---------------------------------------------------------------------------------------
// Update
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn update_null_clears_an_optional_field_and_absent_leaves_it() {
    let api = Api::new().await;
    let id = api.create("agent1", "TAXATEUR").await;
    let path = format!("/api/utilisateurs/{id}");

    let reply = api
        .put(
            &path,
            &api.root,
            &json!({ "email": "agent1@dprihkat.cd", "telephone": "+243820123456", "grade": "Agent",
                     "sexe": "F", "adresse": "Lubumbashi", "agentId": "550e8400-e29b-41d4-a716-446655440010" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.data()["utilisateur"]["email"], "agent1@dprihkat.cd");
    assert_eq!(reply.data()["utilisateur"]["sexe"], "F");

    let reply = api
        .put(&path, &api.root, &json!({ "email": null, "agentId": null, "grade": "Chef", "nomComplet": "MUTOMBO Jean" }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let user = &reply.data()["utilisateur"];
    assert_eq!(user["email"], Value::Null);
    assert_eq!(user["agentId"], Value::Null);
    assert_eq!(user["grade"], "Chef");
    assert_eq!(user["nomComplet"], "MUTOMBO Jean");
    assert_eq!(user["telephone"], "+243820123456");
    assert_eq!(user["adresse"], "Lubumbashi");
    assert_eq!(user["sexe"], "F");

    // Stored, not only echoed.
    let reply = api.get(&path, &api.root).await;
    assert_eq!(reply.data()["utilisateur"]["email"], Value::Null);
    assert_eq!(reply.data()["utilisateur"]["telephone"], "+243820123456");

    // A role change to CONTRIBUABLE with a taxpayer link, then deactivation.
    let reply = api
        .put(
            &path,
            &api.root,
            &json!({ "role": "CONTRIBUABLE", "contribuableId": "550e8400-e29b-41d4-a716-446655440011", "actif": false }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.data()["utilisateur"]["role"], "CONTRIBUABLE");
    assert_eq!(reply.data()["utilisateur"]["actif"], false);
}

#[actix_web::test]
async fn update_refuses_null_on_required_fields_the_password_and_unknown_fields() {
    let api = Api::new().await;
    let id = api.create("agent1", "TAXATEUR").await;
    let path = format!("/api/utilisateurs/{id}");

    let reply = api
        .put(
            &path,
            &api.root,
            &json!({ "nomComplet": null, "role": null, "actif": null, "email": "bad" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut champs = reply.champs();
    champs.sort_unstable();
    assert_eq!(champs, ["actif", "email", "nomComplet", "role"]);

    for field in ["motDePasse", "bloque", "premierConnexion", "login", "id"] {
        let reply = api.put(&path, &api.root, &json!({ field: "x" })).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert_eq!(reply.champs(), [field], "{field}");
    }

    let reply = api
        .put(
            "/api/utilisateurs/nope",
            &api.root,
            &json!({ "grade": "A" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// Block
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn bloquer_without_a_body_toggles_and_with_a_body_sets() {
    let api = Api::new().await;
    let id = api.create("agent1", "TAXATEUR").await;
    let path = format!("/api/utilisateurs/{id}/bloquer");

    let reply = api.post_empty(&path, &api.root).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.data()["utilisateur"]["bloque"], true);
    let reply = api.post_empty(&path, &api.root).await;
    assert_eq!(reply.data()["utilisateur"]["bloque"], false);
    // An empty JSON body toggles too.
    let reply = api
        .call(
            TestRequest::post()
                .uri(&path)
                .insert_header(bearer(&api.root))
                .insert_header(header::ContentType::json()),
        )
        .await;
    assert_eq!(reply.data()["utilisateur"]["bloque"], true);

    let reply = api
        .post(
            &path,
            &api.root,
            &json!({ "bloque": true, "motif": "fraude" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.data()["utilisateur"]["bloque"], true);
    let reply = api
        .post(&path, &api.root, &json!({ "bloque": false }))
        .await;
    assert_eq!(reply.data()["utilisateur"]["bloque"], false);
    let reply = api
        .post(&path, &api.root, &json!({ "bloque": false }))
        .await;
    assert_eq!(reply.data()["utilisateur"]["bloque"], false);
}

#[actix_web::test]
async fn bloquer_refuses_bad_bodies_and_self_blocking() {
    let api = Api::new().await;
    let id = api.create("agent1", "TAXATEUR").await;
    let path = format!("/api/utilisateurs/{id}/bloquer");
    let raw = |body: Vec<u8>, content_type: &'static str| {
        TestRequest::post()
            .uri(&path)
            .insert_header(bearer(&api.root))
            .insert_header((header::CONTENT_TYPE, content_type))
            .set_payload(body)
    };

    let reply = api
        .call(raw(b"{\"bloque\": tru".to_vec(), "application/json"))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["success"], false);

    let reply = api
        .post(&path, &api.root, &json!({ "bloque": "oui" }))
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reply = api
        .post(&path, &api.root, &json!({ "bloque": true, "raison": "x" }))
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.champs(), ["raison"]);
    let reply = api
        .post(
            &path,
            &api.root,
            &json!({ "bloque": true, "motif": "x".repeat(501) }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.champs(), ["motif"]);

    let reply = api.call(raw(b"bloque=true".to_vec(), "text/plain")).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let mut big = b"{\"bloque\": true, \"motif\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'x', 70 * 1024));
    big.extend(b"\"}");
    let reply = api.call(raw(big, "application/json")).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.body["success"], false);

    // None of these changed anything.
    let reply = api.get(&format!("/api/utilisateurs/{id}"), &api.root).await;
    assert_eq!(reply.data()["utilisateur"]["bloque"], false);

    let root_id = api.get("/api/utilisateurs/me", &api.root).await.data()["utilisateur"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = api
        .post_empty(&format!("/api/utilisateurs/{root_id}/bloquer"), &api.root)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "ACTION_SUR_SOI_INTERDITE");

    let reply = api
        .post_empty("/api/utilisateurs/not-a-uuid/bloquer", &api.root)
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn blocking_revokes_the_users_tokens() {
    let api = Api::new().await;
    let token = api.create_active("agent1", "TAXATEUR").await;
    assert_eq!(
        api.get("/api/utilisateurs/me", &token).await.status,
        StatusCode::OK
    );
    let id = api.get("/api/utilisateurs/me", &token).await.data()["utilisateur"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.post_empty(&format!("/api/utilisateurs/{id}/bloquer"), &api.root)
        .await;

    let reply = api.get("/api/utilisateurs/me", &token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.code(), "JETON_INVALIDE");
}

// ---------------------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn reset_password_generates_a_temporary_password_shown_once_that_logs_in() {
    let api = Api::new().await;
    let token = api.create_active("agent1", "TAXATEUR").await;
    let id = api.get("/api/utilisateurs/me", &token).await.data()["utilisateur"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/utilisateurs/{id}/reset-password");

    let reply = api.post_empty(&path, &api.root).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header(header::CACHE_CONTROL), Some("no-store"));
    assert_eq!(reply.data()["motDePasseTemporaire"], TEMPORARY);
    assert_eq!(reply.data()["utilisateur"]["premierConnexion"], true);

    // The old password and the old token no longer work; the temporary one does, once
    // more under the first-login restriction.
    assert_eq!(
        api.login("agent1", CHOSEN_PW).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get("/api/utilisateurs/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let reply = api.login("agent1", TEMPORARY).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.data()["premierConnexion"], true);

    // Shown once: the user's representation never carries it.
    let reply = api.get(&format!("/api/utilisateurs/{id}"), &api.root).await;
    assert!(!reply.body.to_string().contains(TEMPORARY));

    // A chosen password is not echoed.
    let reply = api
        .post(
            &path,
            &api.root,
            &json!({ "nouveauMotDePasse": "Admin-Chosen-9%" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.data().get("motDePasseTemporaire").is_none());
    assert_eq!(
        api.login("agent1", "Admin-Chosen-9%").await.status,
        StatusCode::OK
    );

    let reply = api
        .post(&path, &api.root, &json!({ "nouveauMotDePasse": "weak" }))
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.code(), "MOT_DE_PASSE_FAIBLE");
    assert!(reply.champs().iter().all(|c| *c == "nouveauMotDePasse"));

    let reply = api
        .post(
            &path,
            &api.root,
            &json!({ "motDePasse": "Admin-Chosen-9%" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn change_password_returns_a_fresh_token_and_revokes_the_old_one() {
    let api = Api::new().await;
    api.create("info1", "INFORMATICIEN").await;
    let first = api.token_of("info1", INITIAL_PW).await;

    // First-login restriction: only the own profile and the password change.
    let reply = api.get("/api/utilisateurs", &first).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "CHANGEMENT_MOT_DE_PASSE_REQUIS");
    let reply = api.get("/api/utilisateurs/me", &first).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.data()["utilisateur"]["premierConnexion"], true);

    let reply = api
        .post(
            "/api/utilisateurs/change-password",
            &first,
            &json!({ "ancienMotDePasse": "Wrong-Secret-1!", "nouveauMotDePasse": CHOSEN_PW }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.code(), "ANCIEN_MOT_DE_PASSE_INVALIDE");

    let reply = api
        .post(
            "/api/utilisateurs/change-password",
            &first,
            &json!({ "ancienMotDePasse": INITIAL_PW, "nouveauMotDePasse": INITIAL_PW }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.champs(), ["nouveauMotDePasse"]);

    let reply = api
        .post(
            "/api/utilisateurs/change-password",
            &first,
            &json!({ "ancienMotDePasse": INITIAL_PW, "nouveauMotDePasse": CHOSEN_PW }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header(header::CACHE_CONTROL), Some("no-store"));
    let data = reply.data();
    assert_eq!(data["tokenType"], "Bearer");
    assert_eq!(data["premierConnexion"], false);
    assert_eq!(data["utilisateur"]["premierConnexion"], false);
    let fresh = data["token"].as_str().unwrap().to_owned();

    let reply = api.get("/api/utilisateurs/me", &first).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.code(), "JETON_INVALIDE");
    assert_eq!(
        api.get("/api/utilisateurs/me", &fresh).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/api/utilisateurs", &fresh).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.login("info1", CHOSEN_PW).await.data()["premierConnexion"],
        false
    );
}

// ---------------------------------------------------------------------------------------
// Authorisation
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn roles_without_the_permission_get_403_acces_refuse() {
    let api = Api::new().await;
    let target = api.create("agent1", "TAXATEUR").await;
    let taxateur = api.create_active("agent2", "TAXATEUR").await;
    let directeur = api.create_active("dir1", "DIRECTEUR").await;
    let informaticien = api.create_active("info1", "INFORMATICIEN").await;

    let reply = api.get("/api/utilisateurs", &taxateur).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "ACCES_REFUSE");
    let reply = api
        .get(&format!("/api/utilisateurs/{target}"), &taxateur)
        .await;
    assert_eq!(reply.code(), "ACCES_REFUSE");

    // DIRECTEUR reads and blocks but neither creates nor resets.
    assert_eq!(
        api.get("/api/utilisateurs", &directeur).await.status,
        StatusCode::OK
    );
    let reply = api
        .post(
            "/api/utilisateurs",
            &directeur,
            &json!({ "login": "agent3", "motDePasse": INITIAL_PW, "nomComplet": "A", "role": "TAXATEUR" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "ACCES_REFUSE");
    let reply = api
        .post_empty(
            &format!("/api/utilisateurs/{target}/reset-password"),
            &directeur,
        )
        .await;
    assert_eq!(reply.code(), "ACCES_REFUSE");
    let reply = api
        .post_empty(&format!("/api/utilisateurs/{target}/bloquer"), &directeur)
        .await;
    assert_eq!(reply.status, StatusCode::OK);

    // INFORMATICIEN neither blocks nor creates an ADMIN.
    let reply = api
        .post_empty(
            &format!("/api/utilisateurs/{target}/bloquer"),
            &informaticien,
        )
        .await;
    assert_eq!(reply.code(), "ACCES_REFUSE");
    let reply = api
        .post(
            "/api/utilisateurs",
            &informaticien,
            &json!({ "login": "admin2", "motDePasse": INITIAL_PW, "nomComplet": "A", "role": "ADMIN" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "ACCES_REFUSE");
}

#[actix_web::test]
async fn missing_or_invalid_tokens_get_401_in_the_fr_shape() {
    let api = Api::new().await;
    let reply = api
        .call(TestRequest::get().uri("/api/utilisateurs/me"))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.code(), "NON_AUTHENTIFIE");
    assert_eq!(reply.header(header::WWW_AUTHENTICATE), Some("Bearer"));

    let reply = api.get("/api/utilisateurs", "not.a.jwt").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.code(), "JETON_INVALIDE");
}

// ---------------------------------------------------------------------------------------
// Malformed requests
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn malformed_requests_are_refused_in_the_fr_shape_without_a_5xx() {
    let api = Api::new().await;
    let json_post = |path: &str, body: &[u8]| {
        TestRequest::post()
            .uri(path)
            .insert_header(bearer(&api.root))
            .insert_header(header::ContentType::json())
            .set_payload(body.to_vec())
    };

    // Unknown field: mass assignment is refused.
    let reply = api
        .post(
            "/api/utilisateurs",
            &api.root,
            &json!({ "login": "agent1", "motDePasse": INITIAL_PW, "nomComplet": "A", "role": "TAXATEUR", "bloque": true }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.code(), "DONNEES_INVALIDES");
    assert_eq!(reply.champs(), ["bloque"]);

    // Missing required field.
    let reply = api
        .post(
            "/api/utilisateurs",
            &api.root,
            &json!({ "login": "agent1", "motDePasse": INITIAL_PW }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Malformed JSON.
    let reply = api
        .call(json_post("/api/utilisateurs", b"{\"login\": "))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["success"], false);
    let reply = api.call(json_post("/api/auth/login", b"not json")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    // Wrong content type.
    let reply = api
        .call(
            TestRequest::post()
                .uri("/api/auth/login")
                .insert_header((header::CONTENT_TYPE, "text/plain"))
                .set_payload("login=root&motDePasse=x"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(reply.body["success"], false);

    // Operator injection: a value of the wrong type, not a query.
    let reply = api
        .call(
            TestRequest::post()
                .uri("/api/auth/login")
                .set_json(json!({ "login": { "$ne": null }, "motDePasse": { "$ne": null } })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.code(), "DONNEES_INVALIDES");
    let reply = api
        .call(
            TestRequest::post()
                .uri("/api/auth/login")
                .set_json(json!({ "login": "root", "motDePasse": ROOT_PW, "role": "ADMIN" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Too big.
    let mut big = b"{\"login\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 70 * 1024));
    big.extend(b"\", \"motDePasse\": \"x\"}");
    let reply = api.call(json_post("/api/auth/login", &big)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Unknown route and wrong method under /api answer in the fr shape.
    let reply = api.get("/api/inconnu", &api.root).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.body["success"], false);
    let reply = api
        .call(
            TestRequest::delete()
                .uri("/api/utilisateurs/me")
                .insert_header(bearer(&api.root)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.body["success"], false);
    let reply = api
        .get("/api/utilisateurs/change-password", &api.root)
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}
