//! Layering and validation of the settings, through the library (no process needed: the
//! environment is passed as a map).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use adapters_http::proxies::TrustedProxies;
use app::settings::{DatabaseKind, LogFormat, Profile, Settings, SettingsError, Sources};
use domain::model::Role;

/// A fresh directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "users-service-settings-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        drop(std::fs::remove_dir_all(&path));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn write(&self, name: &str, contents: &str) -> &Self {
        std::fs::write(self.0.join(name), contents).unwrap();
        self
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        drop(std::fs::remove_dir_all(&self.0));
    }
}

fn sources(dir: &Path, env_name: Option<&str>, vars: &[(&str, &str)]) -> Sources {
    Sources {
        dir: dir.to_path_buf(),
        env_name: env_name.map(str::to_owned),
        vars: Some(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let dir = TempDir::new();
    Settings::load_from(&sources(dir.path(), None, vars))
}

fn error(vars: &[(&str, &str)]) -> SettingsError {
    load(vars).expect_err("the configuration should be refused")
}

#[test]
fn without_files_or_variables_the_documented_defaults_apply() {
    let s = load(&[]).unwrap();
    assert_eq!(s.server.host, "0.0.0.0");
    assert_eq!(s.server.port, 3003);
    assert!(s.server.workers >= 1);
    assert_eq!(s.database.kind, DatabaseKind::Embedded);
    assert_eq!(s.database.path, PathBuf::from("./data/users.redb"));
    assert_eq!(s.database.name, "users");
    assert!(s.auth.jwt_secret.is_none());
    assert_eq!(s.auth.jwt_issuer, "users-service");
    assert_eq!(s.auth.jwt_audience, "users-service");
    assert_eq!(s.auth.token_ttl_secs, 86_400);
    assert_eq!(s.password.argon2_memory_kib, 19_456);
    assert_eq!(s.password.argon2_iterations, 2);
    assert_eq!(s.password.argon2_parallelism, 1);
    assert_eq!(s.password.bcrypt_cost, 12);
    assert_eq!((s.password.min_length, s.password.max_length), (8, 128));
    assert_eq!(s.lockout.max_failures, 5);
    assert_eq!(s.lockout.lock_minutes, 15);
    assert_eq!(s.registration.default_role, Role::Contribuable);
    assert!(s.bootstrap.admin_login.is_none());
    assert_eq!(s.log.level, "info");
    assert_eq!(s.log.format, LogFormat::Text);
}

#[test]
fn environment_overrides_the_environment_file_which_overrides_default_toml() {
    let dir = TempDir::new();
    dir.write(
        "default.toml",
        "[server]\nhost = \"127.0.0.1\"\nport = 4000\n[lockout]\nmax_failures = 7\n",
    )
    .write("production.toml", "[server]\nport = 5000\n");

    let only_default = Settings::load_from(&sources(dir.path(), None, &[])).unwrap();
    assert_eq!(only_default.server.port, 4000);
    assert_eq!(only_default.server.host, "127.0.0.1");

    let with_env_file = Settings::load_from(&sources(dir.path(), Some("production"), &[])).unwrap();
    assert_eq!(with_env_file.server.port, 5000);
    assert_eq!(
        with_env_file.server.host, "127.0.0.1",
        "untouched keys keep lower layers"
    );
    assert_eq!(with_env_file.lockout.max_failures, 7);

    let with_variables = Settings::load_from(&sources(
        dir.path(),
        Some("production"),
        &[
            ("USERS__SERVER__PORT", "6000"),
            ("USERS__LOG__FORMAT", "json"),
        ],
    ))
    .unwrap();
    assert_eq!(with_variables.server.port, 6000);
    assert_eq!(with_variables.server.host, "127.0.0.1");
    assert_eq!(with_variables.log.format, LogFormat::Json);
}

#[test]
fn a_missing_environment_file_is_not_an_error() {
    let dir = TempDir::new();
    let s = Settings::load_from(&sources(dir.path(), Some("staging"), &[])).unwrap();
    assert_eq!(s.server.port, 3003);
}

#[test]
fn variables_outside_the_prefix_and_empty_variables_are_ignored() {
    let s = load(&[
        ("USERS_ENV", "whatever"),
        ("USERS_ADMIN_PASSWORD", "x"),
        ("PATH", "/bin"),
        ("USERS__AUTH__JWT_SECRET", ""),
    ])
    .unwrap();
    assert!(s.auth.jwt_secret.is_none());
}

#[test]
fn secrets_that_look_like_numbers_keep_their_text() {
    let s = load(&[("USERS__AUTH__JWT_SECRET", "000123")]).unwrap();
    assert_eq!(s.auth.jwt_secret.unwrap().expose(), "000123");
}

#[test]
fn an_invalid_port_names_server_port() {
    let e = error(&[("USERS__SERVER__PORT", "abc")]);
    assert_eq!(e.key(), Some("server.port"));
    assert!(e.message().contains("invalid digit found in string"), "{e}");
    assert!(
        e.to_string()
            .starts_with("invalid configuration: server.port: invalid digit found in string"),
        "{e}"
    );

    let too_big = error(&[("USERS__SERVER__PORT", "70000")]);
    assert_eq!(too_big.key(), Some("server.port"));
}

#[test]
fn an_invalid_port_in_a_file_names_the_key_and_the_file() {
    let dir = TempDir::new();
    dir.write("default.toml", "[server]\nport = \"x\"\n");
    let e = Settings::load_from(&sources(dir.path(), None, &[])).unwrap_err();
    assert_eq!(e.key(), Some("server.port"));
    assert!(e.message().contains("default.toml"), "{e}");
}

#[test]
fn an_unknown_database_kind_names_database_kind() {
    let e = error(&[("USERS__DATABASE__KIND", "oracle")]);
    assert_eq!(e.key(), Some("database.kind"));
    assert!(
        e.message().contains("memory"),
        "the accepted values are listed: {e}"
    );
}

#[test]
fn a_mongodb_url_implies_the_mongo_store_unless_a_kind_is_given() {
    let s = load(&[("USERS__DATABASE__URL", "mongodb://localhost:27017")]).unwrap();
    assert_eq!(s.database.kind, DatabaseKind::Mongo);
    assert!(s.database.migrate_on_start);
    let s = load(&[
        ("USERS__DATABASE__URL", "mongodb://localhost:27017"),
        ("USERS__DATABASE__KIND", "memory"),
    ])
    .unwrap();
    assert_eq!(s.database.kind, DatabaseKind::Memory);
    let e = error(&[("USERS__DATABASE__KIND", "mongo")]);
    assert_eq!(e.key(), Some("database.url"));
}

#[test]
fn unknown_keys_are_refused_so_that_typos_do_not_pass_silently() {
    let e = error(&[("USERS__SERVER__PROT", "8080")]);
    assert_eq!(e.key(), Some("server.prot"));
    assert!(
        e.message().contains("port"),
        "the known keys are listed: {e}"
    );

    let one_underscore = error(&[("USERS__SERVER_PORT", "8080")]);
    assert_eq!(one_underscore.key(), Some("server_port"));
    assert!(
        one_underscore.message().contains("two underscores"),
        "{one_underscore}"
    );
}

#[test]
fn semantic_constraints_name_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("USERS__LOCKOUT__LOCK_MINUTES", "0", "lockout.lock_minutes"),
        ("USERS__LOCKOUT__MAX_FAILURES", "0", "lockout.max_failures"),
        ("USERS__SERVER__WORKERS", "0", "server.workers"),
        ("USERS__AUTH__TOKEN_TTL_SECS", "0", "auth.token_ttl_secs"),
        ("USERS__PASSWORD__BCRYPT_COST", "3", "password.bcrypt_cost"),
        (
            "USERS__PASSWORD__ARGON2_MEMORY_KIB",
            "4",
            "password.argon2_memory_kib",
        ),
        ("USERS__PASSWORD__MIN_LENGTH", "0", "password.min_length"),
        ("USERS__PASSWORD__MAX_LENGTH", "4", "password.max_length"),
        ("USERS__PASSWORD__ALGORITHM", "md5", "password.algorithm"),
        (
            "USERS__PASSWORD__REQUIRE_DIGIT",
            "maybe",
            "password.require_digit",
        ),
        (
            "USERS__REGISTRATION__DEFAULT_ROLE",
            "KING",
            "registration.default_role",
        ),
        (
            "USERS__REGISTRATION__DEFAULT_ROLE",
            "ADMIN",
            "registration.default_role",
        ),
        ("USERS__LOG__LEVEL", "info,=bogus=", "log.level"),
        ("USERS__LOG__FORMAT", "xml", "log.format"),
        ("USERS__SERVER__HOST", " ", "server.host"),
    ];
    for (var, value, key) in cases {
        let e = error(&[(var, value)]);
        assert_eq!(e.key(), Some(*key), "{var}={value:?} gave: {e}");
    }
}

#[test]
fn bootstrap_needs_both_login_and_password() {
    let e = error(&[("USERS__BOOTSTRAP__ADMIN_LOGIN", "root")]);
    assert_eq!(e.key(), Some("bootstrap.admin_password"));
    let e = error(&[("USERS__BOOTSTRAP__ADMIN_PASSWORD", "Chief-0f-st4ff!")]);
    assert_eq!(e.key(), Some("bootstrap.admin_login"));
    let e = error(&[
        ("USERS__BOOTSTRAP__ADMIN_LOGIN", "r"),
        ("USERS__BOOTSTRAP__ADMIN_PASSWORD", "Chief-0f-st4ff!"),
    ]);
    assert_eq!(e.key(), Some("bootstrap.admin_login"));
}

#[test]
fn a_missing_or_short_jwt_secret_is_a_warning_not_an_error() {
    let none = load(&[]).unwrap();
    assert!(
        none.warnings()
            .iter()
            .any(|w| w.contains("auth.jwt_secret") && w.contains("not survive a restart"))
    );
    let short = load(&[("USERS__AUTH__JWT_SECRET", "short")]).unwrap();
    assert!(
        short
            .warnings()
            .iter()
            .any(|w| w.contains("shorter than 32 bytes"))
    );
    let long = load(&[("USERS__AUTH__JWT_SECRET", &"k".repeat(32))]).unwrap();
    assert!(!long.warnings().iter().any(|w| w.contains("jwt_secret")));
}

#[test]
fn settings_become_the_domain_and_hasher_configuration() {
    let s = load(&[
        ("USERS__LOCKOUT__LOCK_MINUTES", "30"),
        ("USERS__LOCKOUT__MAX_FAILURES", "3"),
        ("USERS__PASSWORD__MIN_LENGTH", "12"),
        ("USERS__PASSWORD__REQUIRE_SYMBOL", "false"),
        ("USERS__REGISTRATION__DEFAULT_ROLE", "TAXATEUR"),
        ("USERS__PASSWORD__ALGORITHM", "bcrypt"),
        ("USERS__PASSWORD__BCRYPT_COST", "10"),
    ])
    .unwrap();
    let service = s.service_config();
    assert_eq!(service.lockout.lock_duration, Duration::from_secs(1800));
    assert_eq!(service.lockout.max_failures, 3);
    assert_eq!(service.password_policy.min_length, 12);
    assert!(!service.password_policy.require_symbol);
    assert_eq!(service.default_role, Role::Taxateur);
    assert_eq!(
        s.hasher_config().algorithm,
        adapters_password::Algorithm::Bcrypt { cost: 10 }
    );
}

#[test]
fn an_environment_name_must_be_a_plain_name() {
    let dir = TempDir::new();
    let e = Settings::load_from(&sources(dir.path(), Some("../etc"), &[])).unwrap_err();
    assert_eq!(e.key(), Some("USERS_ENV"));
}

#[test]
fn the_production_profile_refuses_what_development_only_warns_about() {
    let production = ("USERS__SERVER__PROFILE", "production");
    let long = "k".repeat(32);
    let short = "k".repeat(31);
    for vars in [
        vec![production],
        vec![production, ("USERS__AUTH__JWT_SECRET", short.as_str())],
    ] {
        let e = error(&vars);
        assert_eq!(e.key(), Some("auth.jwt_secret"), "{vars:?}: {e}");
        assert!(e.to_string().contains("at least 32 bytes"), "{e}");
    }
    let memory = error(&[
        production,
        ("USERS__AUTH__JWT_SECRET", long.as_str()),
        ("USERS__DATABASE__KIND", "memory"),
    ]);
    assert_eq!(memory.key(), Some("database.kind"), "{memory}");

    let accepted = load(&[production, ("USERS__AUTH__JWT_SECRET", long.as_str())]).unwrap();
    assert_eq!(accepted.server.profile, Profile::Production);
    assert!(accepted.warnings().is_empty(), "{:?}", accepted.warnings());
    // The same settings in development start, with warnings.
    assert_eq!(load(&[]).unwrap().server.profile, Profile::Development);
    assert!(load(&[("USERS__DATABASE__KIND", "memory")]).is_ok());
    assert_eq!(
        error(&[("USERS__SERVER__PROFILE", "staging")]).key(),
        Some("server.profile")
    );
}

/// Each variable alone is refused, and the error names its key (`USERS__A__B` → `a.b`).
fn each_names_its_key(cases: &[(&str, &str)]) {
    for (variable, value) in cases {
        let e = error(&[(variable, value)]);
        let key = variable
            .trim_start_matches("USERS__")
            .to_lowercase()
            .replace("__", ".");
        assert_eq!(e.key(), Some(key.as_str()), "{value}: {e}");
    }
}

#[test]
fn rate_limits_are_checked_and_can_be_turned_off() {
    let defaults = load(&[]).unwrap().rate_limit.limits().unwrap().unwrap();
    assert_eq!(
        (
            defaults.client.per_minute.get(),
            defaults.client.burst.get()
        ),
        (60, 20)
    );
    assert_eq!(
        (
            defaults.account.per_minute.get(),
            defaults.account.burst.get()
        ),
        (30, 10)
    );
    assert_eq!((defaults.ipv4_prefix, defaults.ipv6_prefix), (32, 64));
    let none = load(&[]).unwrap().rate_limit.proxies().unwrap();
    assert_eq!(none, TrustedProxies::default());
    let off = load(&[("USERS__RATE_LIMIT__ENABLED", "false")]).unwrap();
    assert_eq!(off.rate_limit.limits().unwrap(), None);
    let proxies = load(&[(
        "USERS__RATE_LIMIT__TRUSTED_PROXIES",
        "10.0.0.0/8, 192.168.1.7,fd00::/8",
    )])
    .unwrap();
    let parsed = proxies.rate_limit.proxies().unwrap();
    assert_eq!(
        parsed,
        TrustedProxies::parse("10.0.0.0/8,192.168.1.7,fd00::/8").unwrap()
    );
    assert_ne!(parsed, TrustedProxies::default());
    each_names_its_key(&[
        (
            "USERS__RATE_LIMIT__TRUSTED_PROXIES",
            "10.0.0.0/8,proxy.local",
        ),
        ("USERS__RATE_LIMIT__TRUSTED_PROXIES", "10.0.0.0/40"),
        ("USERS__RATE_LIMIT__PER_MINUTE", "0"),
        ("USERS__RATE_LIMIT__BURST", "0"),
    ]);
}

#[test]
fn transport_settings_are_checked() {
    let t = load(&[]).unwrap().transport().unwrap();
    assert_eq!(t.request_timeout, Duration::from_secs(5));
    assert_eq!(t.keep_alive, Duration::from_secs(30));
    assert!(t.cors_origins.is_empty());
    let cors = load(&[(
        "USERS__SERVER__CORS_ORIGINS",
        "https://app.example, http://localhost:5173,https://[::1]:8443",
    )])
    .unwrap();
    assert_eq!(cors.transport().unwrap().cors_origins.len(), 3);
    each_names_its_key(&[
        ("USERS__SERVER__CORS_ORIGINS", "*"),
        ("USERS__SERVER__CORS_ORIGINS", "https://app.example/path"),
        ("USERS__SERVER__CORS_ORIGINS", "app.example"),
        ("USERS__SERVER__CORS_ORIGINS", "https://app.example:99999"),
        ("USERS__SERVER__REQUEST_TIMEOUT_SECS", "0"),
        ("USERS__SERVER__KEEP_ALIVE_SECS", "301"),
        ("USERS__SERVER__MAX_CONNECTIONS", "0"),
    ]);
}

#[test]
fn eddsa_needs_a_signing_key_file_and_no_secret() {
    let e = error(&[("USERS__AUTH__ALGORITHM", "EdDSA")]);
    assert_eq!(e.key(), Some("auth.signing_key_file"), "{e}");
    let eddsa = [
        ("USERS__SERVER__PROFILE", "production"),
        ("USERS__AUTH__ALGORITHM", "EdDSA"),
        (
            "USERS__AUTH__SIGNING_KEY_FILE",
            "/etc/users-service/token-key.pem",
        ),
    ];
    let s = load(&eddsa).unwrap();
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    assert_eq!(
        error(&[("USERS__AUTH__ALGORITHM", "RS512")]).key(),
        Some("auth.algorithm")
    );
}

#[test]
fn under_eddsa_the_hs256_secret_verifies_only_when_listed_as_a_rotation_key() {
    let long = "k".repeat(32);
    let eddsa = [
        ("USERS__AUTH__ALGORITHM", "EdDSA"),
        (
            "USERS__AUTH__SIGNING_KEY_FILE",
            "/etc/users-service/token-key.pem",
        ),
    ];
    fn with<'a>(
        eddsa: &[(&'a str, &'a str)],
        extra: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        let mut vars = eddsa.to_vec();
        vars.extend_from_slice(extra);
        vars
    }
    // A secret merely left in place is unused, and the operator is told so.
    let left = load(&with(&eddsa, &[("USERS__AUTH__JWT_SECRET", long.as_str())])).unwrap();
    assert!(!left.auth.verify_previous_hs256);
    assert!(
        left.warnings()
            .iter()
            .any(|w| w.contains("auth.jwt_secret is set but unused")
                && w.contains("auth.verify_previous_hs256 = true")),
        "{:?}",
        left.warnings()
    );
    // Listed: no warning; it must then exist, and be strong in production.
    let listed = load(&with(
        &eddsa,
        &[
            ("USERS__AUTH__JWT_SECRET", long.as_str()),
            ("USERS__AUTH__VERIFY_PREVIOUS_HS256", "true"),
        ],
    ))
    .unwrap();
    assert!(listed.auth.verify_previous_hs256);
    assert!(listed.warnings().is_empty(), "{:?}", listed.warnings());
    let e = error(&with(
        &eddsa,
        &[("USERS__AUTH__VERIFY_PREVIOUS_HS256", "true")],
    ));
    assert_eq!(e.key(), Some("auth.jwt_secret"), "{e}");
    assert!(e.to_string().contains("verify_previous_hs256"), "{e}");
    let e = error(&with(
        &eddsa,
        &[
            ("USERS__SERVER__PROFILE", "production"),
            ("USERS__AUTH__JWT_SECRET", "short"),
            ("USERS__AUTH__VERIFY_PREVIOUS_HS256", "true"),
        ],
    ));
    assert_eq!(e.key(), Some("auth.jwt_secret"), "{e}");
    // An unused short secret does not stop a production start.
    assert!(
        load(&with(
            &eddsa,
            &[
                ("USERS__SERVER__PROFILE", "production"),
                ("USERS__AUTH__JWT_SECRET", "short"),
            ]
        ))
        .is_ok()
    );
    // Under HS256 the flag means nothing: a warning, not a refusal.
    let hs = load(&[
        ("USERS__AUTH__JWT_SECRET", long.as_str()),
        ("USERS__AUTH__VERIFY_PREVIOUS_HS256", "true"),
    ])
    .unwrap();
    assert!(
        hs.warnings()
            .iter()
            .any(|w| w.contains("verify_previous_hs256 has no effect")),
        "{:?}",
        hs.warnings()
    );
    assert_eq!(
        error(&with(
            &eddsa,
            &[("USERS__AUTH__VERIFY_PREVIOUS_HS256", "maybe")]
        ))
        .key(),
        Some("auth.verify_previous_hs256")
    );
}
