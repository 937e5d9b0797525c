//! Smoke tests of the built `users-service` binary: it starts, answers, refuses what it
//! should, and stops cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use serde_json::json;
use support::{run_cli, spawn_app};

const STRONG: &str = "Chief-0f-st4ff!";

#[test]
fn serve_prints_its_address_and_refuses_an_anonymous_me_with_json_401() {
    let app = spawn_app(&[]);
    assert_ne!(app.address.port(), 0, "the real port is printed, not 0");

    let response = app.get("/api/v1/users/me");

    assert_eq!(response.status, 401, "{}", response.body);
    assert!(
        response
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("application/json")),
        "{:?}",
        response.headers
    );
    let body = response.json();
    assert!(body["detail"].is_string(), "{body}");
    assert!(body["code"].is_string(), "{body}");
    assert!(
        app.logs()
            .contains(&format!("listening on {}", app.address))
    );
}

#[test]
fn the_bootstrap_admin_can_log_in_and_no_secret_reaches_the_logs() {
    let app = spawn_app(&[
        ("USERS__BOOTSTRAP__ADMIN_LOGIN", "root"),
        ("USERS__BOOTSTRAP__ADMIN_PASSWORD", STRONG),
    ]);

    let response = app.post_json(
        "/api/v1/auth/login",
        &json!({"email": "root", "password": STRONG}),
    );

    assert_eq!(response.status, 200, "{}", response.body);
    let body = response.json();
    assert_eq!(body["must_change_password"], true, "{body}");
    let token = body["access_token"].as_str().expect("a token");
    let me = app.get_authed("/api/v1/users/me", token);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["is_admin"], true);

    let logs = app.logs();
    assert!(
        logs.contains("bootstrap: created the first administrator"),
        "{logs}"
    );
    assert!(!logs.contains(STRONG), "the password leaked into the logs");
    assert!(!logs.contains(token), "the token leaked into the logs");
    assert!(!logs.contains("$argon2"), "a hash leaked into the logs");
}

#[test]
fn create_admin_refuses_a_weak_password_listing_each_violation() {
    let out = run_cli(
        &["create-admin", "--login", "boss"],
        &[("USERS_ADMIN_PASSWORD", "weak")],
        None,
    );

    assert_eq!(out.code, Some(2), "{out:?}");
    let violations: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("- "))
        .collect();
    assert!(violations.len() >= 3, "{}", out.stderr);
    for code in [
        "PASSWORD_TOO_SHORT",
        "PASSWORD_NO_DIGIT",
        "PASSWORD_NO_UPPERCASE",
    ] {
        assert!(
            violations.iter().any(|l| l.contains(code)),
            "{code} missing from:\n{}",
            out.stderr
        );
    }
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[test]
fn create_admin_prints_the_new_id() {
    let out = run_cli(
        &[
            "create-admin",
            "--login",
            "boss",
            "--email",
            "boss@example.org",
        ],
        &[("USERS_ADMIN_PASSWORD", STRONG)],
        None,
    );

    assert_eq!(out.code, Some(0), "{out:?}");
    let id = out.stdout.trim();
    assert_eq!(id.len(), 36, "not a UUID: {id:?}");
    assert_eq!(id.matches('-').count(), 4, "not a UUID: {id:?}");
    assert!(
        out.stderr.contains("memory"),
        "the memory-store note is missing: {}",
        out.stderr
    );
}

#[test]
fn create_admin_without_a_password_or_a_terminal_says_how_to_give_one() {
    let out = run_cli(&["create-admin", "--login", "boss"], &[], Some(""));

    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("USERS_ADMIN_PASSWORD"),
        "{}",
        out.stderr
    );
}

#[test]
fn hash_password_prints_a_phc_string_with_the_configured_algorithm() {
    let out = run_cli(&["hash-password"], &[], Some("S3cret!pass\n"));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.lines().count(), 1);

    let bcrypt = run_cli(
        &["hash-password"],
        &[
            ("USERS__PASSWORD__ALGORITHM", "bcrypt"),
            ("USERS__PASSWORD__BCRYPT_COST", "4"),
        ],
        Some("S3cret!pass\n"),
    );
    assert_eq!(bcrypt.code, Some(0), "{bcrypt:?}");
    assert!(bcrypt.stdout.starts_with("$2b$04$"), "{}", bcrypt.stdout);
}

#[test]
fn hash_password_refuses_empty_input() {
    let out = run_cli(&["hash-password"], &[], Some("\n"));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn migrate_has_nothing_to_do_for_the_memory_store() {
    let out = run_cli(&["migrate"], &[], None);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("nothing to do"), "{}", out.stdout);
}

#[test]
fn check_config_prints_the_effective_configuration_with_secrets_masked() {
    let out = run_cli(
        &["check-config"],
        &[
            ("USERS__SERVER__PORT", "8088"),
            (
                "USERS__AUTH__JWT_SECRET",
                "a-very-secret-value-that-must-not-show",
            ),
            ("USERS__BOOTSTRAP__ADMIN_LOGIN", "root"),
            ("USERS__BOOTSTRAP__ADMIN_PASSWORD", STRONG),
        ],
        None,
    );

    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("port = 8088"), "{}", out.stdout);
    assert!(
        out.stdout.contains("jwt_secret = \"***\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("admin_password = \"***\""),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("a-very-secret-value"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(STRONG), "{}", out.stdout);

    let json = run_cli(&["check-config", "--format", "json"], &[], None);
    assert_eq!(json.code, Some(0), "{json:?}");
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON output");
    assert_eq!(value["auth"]["jwt_secret"], "***");
}

#[test]
fn invalid_configuration_stops_with_one_line_naming_the_key_and_exit_code_2() {
    for (key, value, named) in [
        ("USERS__SERVER__PORT", "abc", "server.port"),
        ("USERS__DATABASE__KIND", "oracle", "database.kind"),
        ("USERS__SERVER__PROT", "1", "server.prot"),
    ] {
        for args in [&["serve"][..], &["check-config"][..]] {
            let out = run_cli(args, &[(key, value)], None);
            assert_eq!(out.code, Some(2), "{key}={value} {args:?}: {out:?}");
            let stderr = out.stderr.trim();
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(
                stderr.starts_with(&format!("invalid configuration: {named}: ")),
                "{stderr}"
            );
        }
    }
}

#[test]
fn usage_errors_exit_with_2_and_help_with_0() {
    let bad = run_cli(&["frobnicate"], &[], None);
    assert_eq!(bad.code, Some(2), "{bad:?}");

    let help = run_cli(&["--help"], &[], None);
    assert_eq!(help.code, Some(0), "{help:?}");
    for expected in [
        "USERS__SERVER__PORT",
        "create-admin",
        "check-config",
        "Exit codes",
    ] {
        assert!(
            help.stdout.contains(expected),
            "{expected} missing from --help"
        );
    }
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_service_gracefully_with_exit_code_0() {
    let mut app = spawn_app(&[]);
    assert_eq!(app.get("/api/v1/users/me").status, 401);

    let status = app
        .terminate(Duration::from_secs(10))
        .expect("still running 10 s after SIGTERM");

    assert!(status.success(), "{status:?}\n{}", app.logs());
}

#[test]
fn the_default_embedded_store_keeps_accounts_across_a_restart() {
    let dir = std::env::temp_dir().join(format!("users-service-smoke-{}", std::process::id()));
    let path = dir.join("nested").join("users.redb");
    let path_str = path.to_str().unwrap().to_owned();
    let env = [
        ("USERS__DATABASE__KIND", "embedded"),
        ("USERS__DATABASE__PATH", path_str.as_str()),
    ];
    let registration = json!({
        "email": "ada@example.com", "username": "Ada Lovelace", "password": "Analytical-Engine-1843"
    });
    let login = json!({"email": "ADA@example.com", "password": "Analytical-Engine-1843"});

    let mut first = spawn_app(&env);
    assert_eq!(
        first
            .post_json("/api/v1/auth/register", &registration)
            .status,
        201
    );
    assert!(
        first
            .terminate(Duration::from_secs(10))
            .is_some_and(|s| s.success())
    );
    assert!(
        path.exists(),
        "the store file is created, parent directories included"
    );

    let second = spawn_app(&env);
    let response = second.post_json("/api/v1/auth/login", &login);
    assert_eq!(response.status, 200, "{}", response.body);
    let again = second.post_json("/api/v1/auth/register", &registration);
    assert_eq!(
        again.status, 409,
        "uniqueness survives the restart: {}",
        again.body
    );
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Blocks the ADMIN `login` in the embedded store at `path`, behind the service's back: the
/// service refuses to shut out its last active ADMIN (rule 8), but a direct edit of the
/// store during an incident, or a file written before the store enforced rule 8, does not.
fn block_in_store(path: &std::path::Path, login: &str) {
    use domain::ports::UserRepository;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut user = runtime.block_on(async {
        let repo = adapters_embedded::EmbeddedUserRepository::open(path).unwrap();
        let login = domain::model::Login::parse(login).unwrap();
        repo.find_by_login(&login).await.unwrap().expect("stored")
    });
    assert!(user.role.is_admin());
    user.blocked = true;
    user.version += 1;
    adapters_embedded::tampering::replace_user(path, &user).unwrap();
}

#[test]
fn a_blocked_only_admin_is_not_replaced_by_the_bootstrap_admin_at_restart() {
    let dir = std::env::temp_dir().join(format!(
        "users-service-smoke-blocked-admin-{}",
        std::process::id()
    ));
    drop(std::fs::remove_dir_all(&dir));
    let path = dir.join("users.redb");
    let path_str = path.to_str().unwrap().to_owned();
    let store = [
        ("USERS__DATABASE__KIND", "embedded"),
        ("USERS__DATABASE__PATH", path_str.as_str()),
    ];
    // The store's only ADMIN, created by an operator, then blocked.
    let mut create = store.to_vec();
    create.push(("USERS_ADMIN_PASSWORD", "Tr3asury-Chief!"));
    let created = run_cli(&["create-admin", "--login", "boss"], &create, None);
    assert_eq!(created.code, Some(0), "{created:?}");
    block_in_store(&path, "boss");

    // The deployment still carries bootstrap settings with a known password.
    let mut serve = store.to_vec();
    serve.extend([
        ("USERS__BOOTSTRAP__ADMIN_LOGIN", "root"),
        ("USERS__BOOTSTRAP__ADMIN_PASSWORD", STRONG),
    ]);
    let app = spawn_app(&serve);

    let response = app.post_json(
        "/api/v1/auth/login",
        &json!({"email": "root", "password": STRONG}),
    );
    assert_eq!(
        response.status, 401,
        "the bootstrap ADMIN was recreated: {}",
        response.body
    );
    let logs = app.logs();
    let warning = logs
        .lines()
        .find(|l| l.contains("bootstrap: administrators exist but none is active"))
        .unwrap_or_else(|| panic!("no bootstrap warning:\n{logs}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("users-service create-admin --login"),
        "{warning}"
    );
    assert!(!logs.contains("created the first administrator"), "{logs}");
    drop(app);
    drop(std::fs::remove_dir_all(&dir));
}
