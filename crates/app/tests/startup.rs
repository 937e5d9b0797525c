//! The composition root, in process: port 0, bootstrap, start-up failures and their exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use app::settings::{DatabaseKind, Secret, Settings};
use app::startup::{self, Application, StartupError};
use domain::model::PlainPassword;

fn settings() -> Settings {
    let mut s = Settings::default();
    s.server.host = "127.0.0.1".to_owned();
    s.server.port = 0;
    s.server.workers = 1;
    // Each test gets a fresh store; the default (embedded) would share ./data between runs.
    s.database.kind = DatabaseKind::Memory;
    s.auth.jwt_secret = Some(Secret::new("k".repeat(32)));
    s
}

fn with_bootstrap(login: &str, password: &str) -> Settings {
    let mut s = settings();
    s.bootstrap.admin_login = Some(login.to_owned());
    s.bootstrap.admin_password = Some(Secret::new(password));
    s
}

#[actix_web::test]
async fn port_zero_binds_a_free_port_and_reports_it() {
    let app = Application::build(&settings()).await.unwrap();
    assert_ne!(app.port(), 0);
    assert_eq!(app.address().port(), app.port());
}

#[actix_web::test]
async fn a_taken_port_is_a_runtime_failure() {
    let first = Application::build(&settings()).await.unwrap();
    let mut s = settings();
    s.server.port = first.port();

    let error = Application::build(&s).await.unwrap_err();

    assert!(matches!(error, StartupError::Bind { .. }), "{error}");
    assert_eq!(error.exit_code(), 1);
}

#[actix_web::test]
async fn bootstrap_creates_the_first_admin_once() {
    let s = with_bootstrap("root", "Chief-0f-st4ff!");
    let users = startup::build_user_service(&s).await.unwrap();

    startup::bootstrap_admin(&users, &s.bootstrap)
        .await
        .unwrap();
    // A second run (a restart over a persistent store) finds the ADMIN and does nothing.
    startup::bootstrap_admin(&users, &s.bootstrap)
        .await
        .unwrap();

    let password = PlainPassword::new("Chief-0f-st4ff!").unwrap();
    let admin = users.login("root", &password).await.unwrap();
    assert!(admin.role.is_admin());
    assert!(admin.must_change_password);
}

#[actix_web::test]
async fn a_weak_bootstrap_password_is_invalid_configuration() {
    let s = with_bootstrap("root", "weak");

    let error = Application::build(&s).await.unwrap_err();

    assert_eq!(error.exit_code(), 2);
    let message = error.to_string();
    assert!(
        message.starts_with("invalid configuration: bootstrap.admin_password:"),
        "{message}"
    );
    assert!(
        !message.contains("weak"),
        "the password itself is never shown: {message}"
    );
}

#[actix_web::test]
async fn without_a_jwt_secret_a_token_service_is_still_built() {
    let mut s = settings();
    s.auth.jwt_secret = None;
    let tokens = startup::build_token_service(&s.auth).unwrap();
    assert_eq!(tokens.ttl_secs(), 86_400);
}

#[actix_web::test]
async fn a_token_key_that_cannot_be_used_is_invalid_configuration_naming_it() {
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters-http/tests/keys");
    for (setting, signing, verifying, needle) in [
        ("auth.signing_key_file", "missing.pem", None, "cannot read"),
        (
            "auth.signing_key_file",
            "README.md",
            None,
            "not a PEM Ed25519 key",
        ),
        (
            "auth.signing_key_file",
            "ed25519-a.pub.pem",
            None,
            "cannot sign",
        ),
        (
            "auth.verification_key_files",
            "ed25519-a.pem",
            Some("nope.pem"),
            "cannot read",
        ),
    ] {
        let mut s = settings();
        s.auth.algorithm = app::settings::TokenAlgorithm::EdDsa;
        s.auth.signing_key_file = Some(keys.join(signing));
        s.auth.verification_key_files =
            verifying.map(|v| keys.join(v).to_string_lossy().into_owned());
        let error = Application::build(&s).await.unwrap_err();
        assert_eq!(error.exit_code(), 2, "{error}");
        let message = error.to_string();
        assert!(
            message.contains(setting) && message.contains(needle),
            "{message}"
        );
    }
    let mut s = settings();
    s.auth.algorithm = app::settings::TokenAlgorithm::EdDsa;
    s.auth.signing_key_file = Some(keys.join("ed25519-a.pem"));
    s.auth.verification_key_files = Some(keys.join("ed25519-b.pub.pem").to_string_lossy().into());
    Application::build(&s).await.unwrap();
}
