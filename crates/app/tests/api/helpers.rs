//! The harness: start the real `users-service` binary, talk to it over HTTP.
//!
//! - [`spawn_app`] / [`TestApp::spawn_with`] start `users-service serve` on `127.0.0.1`,
//!   port 0, with the store named by `USERS_E2E_STORE` (`memory` by default, `embedded`,
//!   `mongo`), a bootstrap ADMIN, a fixed JWT secret ([`JWT_SECRET`], so tests can forge
//!   tokens) and cheap argon2 parameters. They wait for the `users-service listening on …`
//!   line, log the bootstrap ADMIN in and change its first-login password, and hand back a
//!   [`TestApp`] whose [`TestApp::admin`] holds a full-access ADMIN session.
//! - Every request goes through [`TestApp::request`], which checks two things on *every*
//!   response, so no test can forget them: the status is not a 5xx, and `X-Request-Id` is
//!   present.
//! - Typed helpers name the routes: `app.post_login(..)` (fr), `app.post_login_v1(..)`,
//!   `app.get_utilisateurs(..)`, `app.put_admin_user(..)`, …
//! - Fixtures: [`TestApp::create_user`] (created by the ADMIN, first-login restriction
//!   pending) and [`TestApp::create_active_user`] (logged in, password changed, ready).
//!
//! The child's standard output and error go to one file per app ([`TestApp::log_path`],
//! read with [`TestApp::logs`]). It is deleted when the app is dropped unless the test
//! panicked or `USERS_E2E_KEEP_LOGS` is set; its path is printed when kept.
//!
//! MongoDB runs read `USERS_E2E_MONGO_URL`, else `USERS_TEST_MONGODB_URI` (default
//! `mongodb://127.0.0.1:27017`) and use a
//! fresh database per app (`e2e_<pid>_<n>`), which is not dropped afterwards.

use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support;

/// HS256 secret of every test process (≥ 32 bytes), known to tests so they can forge tokens.
pub const JWT_SECRET: &str = support::TEST_JWT_SECRET;
/// `iss` and `aud` the service uses by default.
pub const ISSUER: &str = "users-service";
/// See [`ISSUER`].
pub const AUDIENCE: &str = "users-service";
/// Default token lifetime, seconds (24 h).
pub const TOKEN_TTL_SECS: u64 = 24 * 60 * 60;

/// Login of the bootstrap ADMIN.
pub const ROOT_LOGIN: &str = "root";
/// Its password at start-up (must be changed at first login).
pub const ROOT_INITIAL_PASSWORD: &str = "B00tstrap-Adm1n!";
/// Its password once changed by the harness.
pub const ROOT_PASSWORD: &str = "Ch0sen-By-Adm1n!";

/// Password the ADMIN gives to the users it creates.
pub const INITIAL_PASSWORD: &str = "Tempo-Init-42!x";
/// Password users choose at first login.
pub const PASSWORD: &str = "Chosen-Secret-7!";
/// Another acceptable password.
pub const OTHER_PASSWORD: &str = "Second-Secret-8?";

/// The nine roles, in the documented order.
pub const ROLES: [&str; 9] = [
    "ADMIN",
    "DIRECTEUR",
    "CHEF_DE_DIVISION",
    "CHEF_DE_BUREAU",
    "TAXATEUR",
    "RECEVEUR_DES_IMPOTS",
    "CONTROLLEUR",
    "INFORMATICIEN",
    "CONTRIBUABLE",
];

/// Fields of v1's `UserOut`, exactly.
pub const USER_OUT_FIELDS: [&str; 10] = [
    "created_at",
    "email",
    "id",
    "is_active",
    "is_admin",
    "is_blocked",
    "must_change_password",
    "role",
    "updated_at",
    "username",
];

/// Fields of fr's `Utilisateur`, exactly.
pub const UTILISATEUR_FIELDS: [&str; 16] = [
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

/// How long a process may take to start listening (debug build, busy 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Makes names unique across every app of this test binary.
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn next_number() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------------------

/// Which store the service under test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// In-process memory.
    Memory,
    /// Embedded persistent store, in a fresh directory per app.
    Embedded,
    /// MongoDB (or FerretDB) at `USERS_E2E_MONGO_URL`, a fresh database per app.
    Mongo,
}

impl Store {
    /// `USERS_E2E_STORE` (`memory`, `embedded`, `mongo`; default `memory`).
    pub fn from_env() -> Self {
        match std::env::var("USERS_E2E_STORE")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "memory" => Self::Memory,
            "embedded" => Self::Embedded,
            "mongo" | "mongodb" => Self::Mongo,
            other => panic!("USERS_E2E_STORE={other:?}: expected memory, embedded or mongo"),
        }
    }

    /// The `database.kind` value.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Embedded => "embedded",
            Self::Mongo => "mongo",
        }
    }

    /// The settings that select this store for an app whose files live in `dir`.
    fn env(self, dir: &Path, id: &str) -> Vec<(String, String)> {
        let mut env = vec![("USERS__DATABASE__KIND".to_owned(), self.kind().to_owned())];
        match self {
            Self::Memory => {}
            Self::Embedded => env.push((
                "USERS__DATABASE__PATH".to_owned(),
                dir.join("users.redb").display().to_string(),
            )),
            Self::Mongo => {
                let url = std::env::var("USERS_E2E_MONGO_URL")
                    .or_else(|_| std::env::var("USERS_TEST_MONGODB_URI"))
                    .unwrap_or_else(|_| "mongodb://127.0.0.1:27017".to_owned());
                env.push(("USERS__DATABASE__URL".to_owned(), url));
                env.push(("USERS__DATABASE__NAME".to_owned(), format!("e2e_{id}")));
            }
        }
        env
    }
}

// ---------------------------------------------------------------------------------------
// The running service
// ---------------------------------------------------------------------------------------

/// A user the tests know the secrets of.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// Id (UUID).
    pub id: String,
    /// Login.
    pub login: String,
    /// E-mail (`<login>@e2e.test`).
    pub email: String,
    /// Current password.
    pub password: String,
    /// Role.
    pub role: String,
    /// A session token, when the user has logged in.
    pub token: Option<String>,
}

impl TestUser {
    /// The session token; panics for a user that never logged in.
    pub fn token(&self) -> &str {
        self.token
            .as_deref()
            .unwrap_or_else(|| panic!("{} has not logged in", self.login))
    }
}

/// A running `users-service serve`, killed when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The store it runs on.
    pub store: Store,
    /// The bootstrap ADMIN, with its first-login password already changed and a token.
    pub admin: TestUser,
    dir: PathBuf,
    log_path: PathBuf,
    child: Child,
    agent: ureq::Agent,
}

impl fmt::Debug for TestApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestApp")
            .field("base_url", &self.base_url)
            .field("store", &self.store)
            .field("log_path", &self.log_path)
            .finish_non_exhaustive()
    }
}

/// Starts the service on the store named by `USERS_E2E_STORE`.
pub fn spawn_app() -> TestApp {
    TestApp::spawn_with(Store::from_env())
}

impl TestApp {
    /// Starts the service on `store`, with the test defaults.
    pub fn spawn_with(store: Store) -> Self {
        Self::spawn_with_env(store, &[])
    }

    /// Starts the service on `store` with extra `USERS__…` settings on top of the test
    /// defaults, and opens the bootstrap ADMIN's session.
    pub fn spawn_with_env(store: Store, extra: &[(&str, &str)]) -> Self {
        let id = format!("{}_{}", std::process::id(), next_number());
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("api").join(&id);
        fs::create_dir_all(&dir).expect("cannot create the app directory");
        let log_path = dir.join("users-service.log");
        let log = File::create(&log_path).expect("cannot create the log file");
        let log_out = log.try_clone().expect("cannot share the log file");

        let mut cmd = support::command();
        cmd.arg("serve")
            .env("USERS__SERVER__HOST", "127.0.0.1")
            .env("USERS__SERVER__PORT", "0")
            .env("USERS__SERVER__WORKERS", "2")
            .env("USERS__AUTH__JWT_SECRET", JWT_SECRET)
            .env("USERS__BOOTSTRAP__ADMIN_LOGIN", ROOT_LOGIN)
            .env("USERS__BOOTSTRAP__ADMIN_PASSWORD", ROOT_INITIAL_PASSWORD)
            // Cheap hashing: the suite hashes hundreds of passwords on 2 cores.
            .env("USERS__PASSWORD__ARGON2_MEMORY_KIB", "1024")
            .env("USERS__PASSWORD__ARGON2_ITERATIONS", "1")
            .env("USERS__PASSWORD__ARGON2_PARALLELISM", "1")
            .env("USERS__LOG__LEVEL", "info")
            // Every test logs in from 127.0.0.1; `rate_limit` turns the limiter back on.
            .env("USERS__RATE_LIMIT__ENABLED", "false")
            .envs(store.env(&dir, &id))
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_out))
            .stderr(Stdio::from(log));
        let mut child = cmd.spawn().expect("cannot start users-service");

        let base_url = match wait_for_address(&mut child, &log_path) {
            Ok(url) => url,
            Err(why) => {
                drop(child.kill());
                drop(child.wait());
                let logs = fs::read_to_string(&log_path).unwrap_or_default();
                panic!(
                    "users-service did not start on the {} store ({why}); its output ({}):\n{logs}",
                    store.kind(),
                    log_path.display()
                );
            }
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut app = Self {
            base_url,
            store,
            admin: TestUser {
                id: String::new(),
                login: ROOT_LOGIN.to_owned(),
                email: String::new(),
                password: ROOT_INITIAL_PASSWORD.to_owned(),
                role: "ADMIN".to_owned(),
                token: None,
            },
            dir,
            log_path,
            child,
            agent,
        };
        app.open_root_session();
        app
    }

    /// Logs the bootstrap ADMIN in (first-login restriction, SPEC §5) and changes its password.
    fn open_root_session(&mut self) {
        let login = self.post_login(ROOT_LOGIN, ROOT_INITIAL_PASSWORD);
        login.assert_status(200);
        let data = login.data();
        assert_eq!(
            data["premierConnexion"], true,
            "the bootstrap ADMIN must change its password at first login: {data}"
        );
        let token = data["token"].as_str().expect("a token").to_owned();
        let changed = self.post_change_password(&token, ROOT_INITIAL_PASSWORD, ROOT_PASSWORD);
        changed.assert_status(200);
        let data = changed.data();
        self.admin.id = str_of(&data["utilisateur"]["id"]);
        self.admin.password = ROOT_PASSWORD.to_owned();
        self.admin.token = Some(str_of(&data["token"]));
    }

    /// The full-access token of the bootstrap ADMIN.
    pub fn admin_token(&self) -> &str {
        self.admin.token()
    }

    /// Stops the process (its files stay until the app is dropped), e.g. to run a
    /// one-shot command on its embedded store.
    pub fn stop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }

    /// Stops the process with SIGTERM, as an orchestrator does, and waits until it has
    /// exited, its shutdown work done.
    pub fn terminate(&mut self) {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self
                .child
                .try_wait()
                .expect("cannot wait for the child")
                .is_some()
            {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("users-service did not stop within 30 s of SIGTERM");
    }

    /// The settings that select this app's store, for a one-shot command on it.
    pub fn store_settings(&self) -> Vec<(String, String)> {
        let id = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.store.env(&self.dir, &id)
    }

    /// The embedded store's file (on the embedded store).
    pub fn embedded_path(&self) -> PathBuf {
        self.dir.join("users.redb")
    }

    /// The file that receives the process's standard output and error.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the process wrote so far.
    pub fn logs(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    // -----------------------------------------------------------------------------------
    // Requests
    // -----------------------------------------------------------------------------------

    /// Starts a request to `path` (which may carry a query string).
    pub fn request<'a>(&'a self, method: &'a str, path: &str) -> RequestBuilder<'a> {
        RequestBuilder {
            app: self,
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// `GET path`, anonymous.
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path).send()
    }

    /// `GET path` with a bearer token.
    pub fn get_authed(&self, path: &str, token: &str) -> Response {
        self.request("GET", path).bearer(token).send()
    }

    // --- v1 -----------------------------------------------------------------------------

    /// `POST /api/v1/auth/register`.
    pub fn post_register(&self, body: &Value) -> Response {
        self.request("POST", "/api/v1/auth/register")
            .json(body)
            .send()
    }

    /// `POST /api/v1/auth/login` as JSON `{email, password}`.
    pub fn post_login_v1(&self, email: &str, password: &str) -> Response {
        self.request("POST", "/api/v1/auth/login")
            .json(&json!({"email": email, "password": password}))
            .send()
    }

    /// `POST /api/v1/auth/login` as the OAuth2 password form.
    pub fn post_login_form(&self, username: &str, password: &str) -> Response {
        self.request("POST", "/api/v1/auth/login")
            .form(&[("username", username), ("password", password)])
            .send()
    }

    /// `POST /api/v1/auth/logout`.
    pub fn post_logout(&self, token: &str) -> Response {
        self.request("POST", "/api/v1/auth/logout")
            .bearer(token)
            .send()
    }

    /// `GET /api/v1/users/me`.
    pub fn get_me(&self, token: &str) -> Response {
        self.get_authed("/api/v1/users/me", token)
    }

    /// `PUT /api/v1/users/me`.
    pub fn put_me(&self, token: &str, body: &Value) -> Response {
        self.request("PUT", "/api/v1/users/me")
            .bearer(token)
            .json(body)
            .send()
    }

    /// `DELETE /api/v1/users/me` with `{current_password}`.
    pub fn delete_me(&self, token: &str, current_password: &str) -> Response {
        self.request("DELETE", "/api/v1/users/me")
            .bearer(token)
            .json(&json!({ "current_password": current_password }))
            .send()
    }

    /// `GET /api/v1/admin/users?query`.
    pub fn get_admin_users(&self, token: &str, query: &str) -> Response {
        self.get_authed(&format!("/api/v1/admin/users{}", with_q(query)), token)
    }

    /// `GET /api/v1/admin/users/{id}`.
    pub fn get_admin_user(&self, token: &str, id: &str) -> Response {
        self.get_authed(&format!("/api/v1/admin/users/{id}"), token)
    }

    /// `PUT /api/v1/admin/users/{id}`.
    pub fn put_admin_user(&self, token: &str, id: &str, body: &Value) -> Response {
        self.request("PUT", &format!("/api/v1/admin/users/{id}"))
            .bearer(token)
            .json(body)
            .send()
    }

    /// `DELETE /api/v1/admin/users/{id}`.
    pub fn delete_admin_user(&self, token: &str, id: &str) -> Response {
        self.request("DELETE", &format!("/api/v1/admin/users/{id}"))
            .bearer(token)
            .send()
    }

    // --- fr -----------------------------------------------------------------------------

    /// `POST /api/auth/login` with `{login, motDePasse}`.
    pub fn post_login(&self, login: &str, password: &str) -> Response {
        self.request("POST", "/api/auth/login")
            .json(&json!({"login": login, "motDePasse": password}))
            .send()
    }

    /// `GET /api/utilisateurs?query`.
    pub fn get_admin_audit(&self, token: &str, query: &str) -> Response {
        self.get_authed(&format!("/api/v1/admin/audit{}", with_q(query)), token)
    }

    pub fn get_historique(&self, token: &str, id: &str, query: &str) -> Response {
        self.get_authed(
            &format!("/api/utilisateurs/{id}/historique{}", with_q(query)),
            token,
        )
    }

    pub fn get_utilisateurs(&self, token: &str, query: &str) -> Response {
        self.get_authed(&format!("/api/utilisateurs{}", with_q(query)), token)
    }

    /// `GET /api/utilisateurs/{id}`.
    pub fn get_utilisateur(&self, token: &str, id: &str) -> Response {
        self.get_authed(&format!("/api/utilisateurs/{id}"), token)
    }

    /// `GET /api/utilisateurs/me`.
    pub fn get_utilisateur_me(&self, token: &str) -> Response {
        self.get_authed("/api/utilisateurs/me", token)
    }

    /// `POST /api/utilisateurs`.
    pub fn post_utilisateur(&self, token: &str, body: &Value) -> Response {
        self.request("POST", "/api/utilisateurs")
            .bearer(token)
            .json(body)
            .send()
    }

    /// `PUT /api/utilisateurs/{id}`.
    pub fn put_utilisateur(&self, token: &str, id: &str, body: &Value) -> Response {
        self.request("PUT", &format!("/api/utilisateurs/{id}"))
            .bearer(token)
            .json(body)
            .send()
    }

    /// `POST /api/utilisateurs/{id}/bloquer`, with `{bloque, motif?}` or without a body.
    pub fn post_bloquer(&self, token: &str, id: &str, body: Option<&Value>) -> Response {
        let request = self
            .request("POST", &format!("/api/utilisateurs/{id}/bloquer"))
            .bearer(token);
        match body {
            Some(body) => request.json(body).send(),
            None => request.send(),
        }
    }

    /// `POST /api/utilisateurs/{id}/reset-password`, with `{nouveauMotDePasse}` or without
    /// a body.
    pub fn post_reset_password(&self, token: &str, id: &str, body: Option<&Value>) -> Response {
        let request = self
            .request("POST", &format!("/api/utilisateurs/{id}/reset-password"))
            .bearer(token);
        match body {
            Some(body) => request.json(body).send(),
            None => request.send(),
        }
    }

    /// `POST /api/utilisateurs/change-password`.
    pub fn post_change_password(&self, token: &str, current: &str, new: &str) -> Response {
        self.request("POST", "/api/utilisateurs/change-password")
            .bearer(token)
            .json(&json!({"ancienMotDePasse": current, "nouveauMotDePasse": new}))
            .send()
    }

    // -----------------------------------------------------------------------------------
    // Fixtures
    // -----------------------------------------------------------------------------------

    /// A unique login starting with `prefix`.
    pub fn unique_login(prefix: &str) -> String {
        format!(
            "{}-{}",
            prefix.to_ascii_lowercase().replace('_', "-"),
            next_number()
        )
    }

    /// The fr creation body of a fresh user with `role`.
    pub fn new_user_body(role: &str) -> (String, Value) {
        let login = Self::unique_login(role);
        let body = json!({
            "login": login,
            "motDePasse": INITIAL_PASSWORD,
            "nomComplet": format!("Test {login}"),
            "email": format!("{login}@e2e.test"),
            "role": role,
        });
        (login, body)
    }

    /// Creates a user with `role` as `creator` (a token with `users.create`); the new
    /// user must change its password at first login.
    pub fn create_user_as(&self, creator: &str, role: &str) -> TestUser {
        let (login, body) = Self::new_user_body(role);
        let created = self.post_utilisateur(creator, &body);
        created.assert_status(201);
        let user = &created.data()["utilisateur"];
        TestUser {
            id: str_of(&user["id"]),
            email: format!("{login}@e2e.test"),
            login,
            password: INITIAL_PASSWORD.to_owned(),
            role: role.to_owned(),
            token: None,
        }
    }

    /// Creates a user with `role` as the bootstrap ADMIN; not logged in yet.
    pub fn create_user(&self, role: &str) -> TestUser {
        self.create_user_as(self.admin_token(), role)
    }

    /// Logs `user` in (fr) and keeps the token; its first-login restriction may remain.
    pub fn log_in(&self, user: &mut TestUser) {
        let login = self.post_login(&user.login, &user.password);
        login.assert_status(200);
        user.token = Some(str_of(&login.data()["token"]));
    }

    /// Logs `user` in and changes its password to [`PASSWORD`]: a full-access session.
    pub fn activate(&self, user: &mut TestUser) {
        self.log_in(user);
        let changed = self.post_change_password(user.token(), &user.password, PASSWORD);
        changed.assert_status(200);
        user.password = PASSWORD.to_owned();
        user.token = Some(str_of(&changed.data()["token"]));
    }

    /// A user with `role`, logged in, first-login password already changed.
    pub fn create_active_user(&self, role: &str) -> TestUser {
        let mut user = self.create_user(role);
        self.activate(&mut user);
        user
    }

    /// The stored state of a user as the ADMIN sees it (fr `Utilisateur`).
    pub fn utilisateur(&self, id: &str) -> Value {
        let found = self.get_utilisateur(self.admin_token(), id);
        found.assert_status(200);
        found.data()["utilisateur"].clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
        let keep = thread::panicking() || std::env::var_os("USERS_E2E_KEEP_LOGS").is_some();
        if keep {
            eprintln!("users-service output kept in {}", self.log_path.display());
        } else {
            drop(fs::remove_dir_all(&self.dir));
        }
    }
}

/// Waits for the `users-service listening on http://…` line; `Err` when the process exits
/// or the time is up.
fn wait_for_address(child: &mut Child, log_path: &Path) -> Result<String, String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let output = fs::read_to_string(log_path).unwrap_or_default();
        let url = output
            .lines()
            .find_map(|line| line.strip_prefix(support::LISTENING_PREFIX));
        if let Some(url) = url {
            return Ok(url.trim().to_owned());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited with {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!("no address after {START_TIMEOUT:?}"));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// `?query` or nothing.
fn with_q(query: &str) -> String {
    if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    }
}

/// A JSON string's text; panics with the value otherwise.
pub fn str_of(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_owned()
}

/// The keys of a JSON object, sorted.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("expected an object, got {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// Whether `text` is an RFC 3339 UTC timestamp as the service writes them
/// (`2026-11-21T10:00:00Z`, optionally with fractional seconds).
pub fn is_utc_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && text.ends_with('Z')
}

/// Whether `text` is a hyphenated UUID.
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

// ---------------------------------------------------------------------------------------
// Requests and responses
// ---------------------------------------------------------------------------------------

/// A request being put together; [`RequestBuilder::send`] sends it.
#[derive(Debug)]
pub struct RequestBuilder<'a> {
    app: &'a TestApp,
    method: &'a str,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl RequestBuilder<'_> {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(self, body: &Value) -> Self {
        self.header("Content-Type", "application/json")
            .body(body.to_string().into_bytes())
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn form(self, pairs: &[(&str, &str)]) -> Self {
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(encoded.join("&").into_bytes())
    }

    /// Raw body bytes; set the content type with [`RequestBuilder::header`] (or none).
    pub fn body(mut self, bytes: Vec<u8>) -> Self {
        self.body = Some(bytes);
        self
    }

    /// Sends the request. Panics when the service answers a 5xx (never acceptable for
    /// what a client sends) or forgets `X-Request-Id`.
    pub fn send(self) -> Response {
        let url = format!("{}{}", self.app.base_url, self.path);
        let what = format!("{} {}", self.method, self.path);
        let agent = &self.app.agent;
        macro_rules! dispatch {
            ($builder:expr) => {{
                let mut b = $builder;
                for (name, value) in &self.headers {
                    b = b.header(name.as_str(), value.as_str());
                }
                match self.body {
                    Some(bytes) => b.force_send_body().send(bytes),
                    None => b.call(),
                }
            }};
        }
        macro_rules! dispatch_with_body {
            ($builder:expr) => {{
                let mut b = $builder;
                for (name, value) in &self.headers {
                    b = b.header(name.as_str(), value.as_str());
                }
                match self.body {
                    Some(bytes) => b.send(bytes),
                    None => b.send_empty(),
                }
            }};
        }
        let result = match self.method {
            "GET" => dispatch!(agent.get(&url)),
            "DELETE" => dispatch!(agent.delete(&url)),
            "HEAD" => dispatch!(agent.head(&url)),
            "OPTIONS" => dispatch!(agent.options(&url)),
            "POST" => dispatch_with_body!(agent.post(&url)),
            "PUT" => dispatch_with_body!(agent.put(&url)),
            "PATCH" => dispatch_with_body!(agent.patch(&url)),
            other => panic!("unsupported method {other}"),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = if self.method == "HEAD" {
            String::new()
        } else {
            response
                .body_mut()
                .read_to_string()
                .unwrap_or_else(|e| panic!("{what}: cannot read the body: {e}"))
        };
        let response = Response {
            what,
            status,
            headers,
            body,
        };
        assert!(
            status < 500,
            "{}: a client request must never cause a 5xx: {status} {}",
            response.what,
            response.body
        );
        assert!(
            response
                .header("x-request-id")
                .is_some_and(|id| !id.is_empty()),
            "{}: every response carries X-Request-Id: {:?}",
            response.what,
            response.headers
        );
        response
    }
}

/// `application/x-www-form-urlencoded` encoding of one key or value.
fn form_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// An HTTP answer.
#[derive(Clone, Debug)]
pub struct Response {
    /// `METHOD /path`, for messages.
    pub what: String,
    /// Status code.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
}

impl Response {
    /// A header's value (the first one).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status, showing the body otherwise.
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(
            self.status, expected,
            "{}: expected {expected}, got {}: {}",
            self.what, self.status, self.body
        );
        self
    }

    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {:?}", self.what, self.body))
    }

    /// fr success: asserts `{"success": true, "data": …}` (and nothing else) and returns `data`.
    pub fn data(&self) -> Value {
        let body = self.json();
        assert_eq!(
            keys(&body),
            ["data", "success"],
            "{}: fr success envelope: {body}",
            self.what
        );
        assert_eq!(body["success"], true, "{}: {body}", self.what);
        body["data"].clone()
    }

    /// Asserts a JSON content type.
    pub fn assert_json_content_type(&self) -> &Self {
        assert!(
            self.header("content-type")
                .is_some_and(|ct| ct.starts_with("application/json")),
            "{}: expected a JSON content type: {:?}",
            self.what,
            self.headers
        );
        self
    }

    /// Asserts a v1 error: the status, `{"detail": …, "code": code}` and nothing else.
    /// Returns `detail`.
    pub fn assert_v1_error(&self, status: u16, code: &str) -> Value {
        self.assert_status(status).assert_json_content_type();
        let body = self.json();
        assert_eq!(
            keys(&body),
            ["code", "detail"],
            "{}: v1 error shape: {body}",
            self.what
        );
        assert_eq!(body["code"], code, "{}: {body}", self.what);
        assert!(
            body["detail"].is_string() || body["detail"].is_array(),
            "{}: {body}",
            self.what
        );
        body["detail"].clone()
    }

    /// Asserts a v1 validation error: 422, `detail` a list of `{loc, msg, type}`, `code`.
    /// Returns the detail list.
    pub fn assert_v1_validation(&self, code: &str) -> Vec<Value> {
        let detail = self.assert_v1_error(422, code);
        let items = detail
            .as_array()
            .unwrap_or_else(|| panic!("{}: detail should be a list: {detail}", self.what))
            .clone();
        for item in &items {
            assert_eq!(keys(item), ["loc", "msg", "type"], "{}: {item}", self.what);
            assert_eq!(item["loc"][0], "body", "{}: {item}", self.what);
        }
        items
    }

    /// Asserts an fr error: the status and
    /// `{"success": false, "error": {"code": code, "message", "details"}}`. Returns `error`.
    pub fn assert_fr_error(&self, status: u16, code: &str) -> Value {
        self.assert_status(status).assert_json_content_type();
        let body = self.json();
        assert_eq!(
            keys(&body),
            ["error", "success"],
            "{}: fr error shape: {body}",
            self.what
        );
        assert_eq!(body["success"], false, "{}: {body}", self.what);
        let error = &body["error"];
        assert_eq!(error["code"], code, "{}: {body}", self.what);
        assert!(error["message"].is_string(), "{}: {body}", self.what);
        assert!(error["details"].is_array(), "{}: {body}", self.what);
        error.clone()
    }

    /// Asserts an fr error with `status`, whatever its code; returns the code.
    pub fn assert_fr_error_status(&self, status: u16) -> String {
        self.assert_status(status);
        let code = str_of(&self.json()["error"]["code"]);
        self.assert_fr_error(status, &code);
        code
    }

    /// Asserts a v1 error with `status`, whatever its code; returns the code.
    pub fn assert_v1_error_status(&self, status: u16) -> String {
        self.assert_status(status);
        let code = str_of(&self.json()["code"]);
        self.assert_v1_error(status, &code);
        code
    }

    /// The `champ` of every fr error detail, sorted.
    pub fn fr_fields(&self) -> Vec<String> {
        let body = self.json();
        let mut fields: Vec<String> = body["error"]["details"]
            .as_array()
            .map(|details| {
                details
                    .iter()
                    .map(|d| d["champ"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        fields.sort();
        fields.dedup();
        fields
    }

    /// Asserts `Cache-Control: no-store`.
    pub fn assert_no_store(&self) -> &Self {
        assert_eq!(
            self.header("cache-control"),
            Some("no-store"),
            "{}: {:?}",
            self.what,
            self.headers
        );
        self
    }

    /// Asserts a 4xx (any), for hostile input whose exact status is not the point.
    pub fn assert_client_error(&self) -> &Self {
        assert!(
            (400..500).contains(&self.status),
            "{}: expected a 4xx, got {}: {}",
            self.what,
            self.status,
            self.body
        );
        self
    }
}
