//! Sessions and token attacks (SPEC §3.4, rules 6, 7, 12): logout, missing or malformed
//! credentials, `alg: none`, another key, another algorithm, expired, not yet valid, wrong
//! issuer or audience, tampered payload, stale `ver`, deleted or unknown subject. Forged
//! tokens use the suite's known secret; a control test proves a faithful forgery is accepted,
//! so every refusal below is due to the one thing each test changes.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{
    AUDIENCE, ISSUER, JWT_SECRET, OTHER_PASSWORD, Response, Store, TestApp, TestUser, spawn_app,
    str_of,
};

/// `{"alg":"none","typ":"JWT"}`, base64url.
const ALG_NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    i64::try_from(secs).expect("fits")
}

/// The claims of a real token (no verification: we only read what the service wrote).
fn claims_of(token: &str) -> Value {
    jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .expect("a JWT")
        .claims
}

/// Claims like the service's for `user`, valid for an hour.
fn claims_for(user: &TestUser) -> Value {
    let real = claims_of(user.token());
    let now = now();
    json!({
        "sub": user.id,
        "role": user.role,
        "ver": real["ver"],
        "pcr": real["pcr"],
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "jti": format!("forged-{now}"),
    })
}

fn sign_with(claims: &Value, algorithm: Algorithm, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("signing works")
}

/// Signed like the service signs (HS256, the known secret).
fn sign(claims: &Value) -> String {
    sign_with(claims, Algorithm::HS256, JWT_SECRET.as_bytes())
}

/// The three segments of a compact JWT.
fn segments(token: &str) -> (String, String, String) {
    let mut parts = token.split('.').map(str::to_owned);
    let header = parts.next().expect("header");
    let payload = parts.next().expect("payload");
    let signature = parts.next().expect("signature");
    (header, payload, signature)
}

fn assert_refused(app: &TestApp, token: &str, why: &str) {
    let v1 = app.get_me(token);
    assert_eq!(v1.status, 401, "{why}: {}", v1.body);
    v1.assert_v1_error(401, "INVALID_TOKEN");
    assert_eq!(v1.header("www-authenticate"), Some("Bearer"), "{why}");
    app.get_utilisateur_me(token)
        .assert_fr_error(401, "JETON_INVALIDE");
}

fn me_id(response: &Response) -> String {
    response.assert_status(200);
    str_of(&response.json()["id"])
}

#[test]
fn a_faithful_forgery_is_accepted_so_the_refusals_below_are_meaningful() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");

    let forged = sign(&claims_for(&user));

    assert_eq!(me_id(&app.get_me(&forged)), user.id);
    // One token type for both dialects.
    let v1_token = str_of(&app.post_login_v1(&user.login, &user.password).json()["access_token"]);
    app.get_utilisateur_me(&v1_token).assert_status(200);
    app.get_me(user.token()).assert_status(200);
    // The scheme is case-insensitive (RFC 7235).
    let lower = app
        .request("GET", "/api/v1/users/me")
        .header("Authorization", &format!("bearer {}", user.token()))
        .send();
    lower.assert_status(200);
}

#[test]
fn issued_tokens_carry_the_documented_claims() {
    let app = spawn_app();
    let user = app.create_active_user("CHEF_DE_BUREAU");

    let claims = claims_of(user.token());
    let header = jsonwebtoken::decode_header(user.token()).expect("a JWT header");

    assert_eq!(header.alg, Algorithm::HS256);
    let mut names: Vec<&str> = claims
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    for name in [
        "aud", "exp", "iat", "iss", "jti", "pcr", "role", "sub", "ver",
    ] {
        assert!(names.contains(&name), "{name} missing: {claims}");
    }
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["role"], "CHEF_DE_BUREAU");
    assert_eq!(claims["pcr"], false);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], AUDIENCE);
    let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    assert_eq!(lifetime, 24 * 3600, "24 h by default: {claims}");
    assert!(
        (claims["iat"].as_i64().unwrap_or(0) - now()).abs() < 60,
        "{claims}"
    );
    let other = claims_of(&str_of(
        &app.post_login(&user.login, &user.password).data()["token"],
    ));
    assert_ne!(claims["jti"], other["jti"], "one jti per token");
}

#[test]
fn the_token_lifetime_is_configurable() {
    let app = TestApp::spawn_with_env(
        crate::helpers::Store::from_env(),
        &[("USERS__AUTH__TOKEN_TTL_SECS", "600")],
    );

    let login = app.post_login_v1(&app.admin.login, &app.admin.password);

    assert_eq!(login.json()["expires_in"], 600);
    let claims = claims_of(&str_of(&login.json()["access_token"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0),
        600
    );
}

#[test]
fn missing_or_malformed_credentials_are_401() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");

    let missing = app.get("/api/v1/users/me");
    missing.assert_v1_error(401, "UNAUTHENTICATED");
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    app.get("/api/utilisateurs/me")
        .assert_fr_error(401, "NON_AUTHENTIFIE");
    app.get("/api/utilisateurs")
        .assert_fr_error(401, "NON_AUTHENTIFIE");
    app.get("/api/v1/admin/users")
        .assert_v1_error(401, "UNAUTHENTICATED");
    app.request("POST", "/api/v1/auth/logout")
        .send()
        .assert_v1_error(401, "UNAUTHENTICATED");

    for value in [
        format!("Basic {}", user.token()),
        format!("Token {}", user.token()),
        user.token().to_owned(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
    ] {
        let response = app
            .request("GET", "/api/v1/users/me")
            .header("Authorization", &value)
            .send();
        response.assert_status(401);
    }
    for garbage in ["not-a-jwt", "a.b.c", "....", "eyJ.eyJ.", &"A".repeat(5000)] {
        assert_refused(&app, garbage, garbage);
    }
}

#[test]
fn alg_none_is_refused() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");
    let (_, payload, signature) = segments(user.token());

    assert_refused(&app, &format!("{ALG_NONE_HEADER}.{payload}."), "alg none");
    assert_refused(
        &app,
        &format!("{ALG_NONE_HEADER}.{payload}.{signature}"),
        "alg none with the old signature",
    );
}

#[test]
fn another_key_or_another_algorithm_is_refused() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");
    let claims = claims_for(&user);

    let other_key = sign_with(
        &claims,
        Algorithm::HS256,
        b"another-secret-of-the-same-length-0123456789ab",
    );
    assert_refused(&app, &other_key, "signed with another secret");
    assert_refused(
        &app,
        &sign_with(&claims, Algorithm::HS384, JWT_SECRET.as_bytes()),
        "HS384",
    );
    assert_refused(
        &app,
        &sign_with(&claims, Algorithm::HS512, JWT_SECRET.as_bytes()),
        "HS512",
    );
}

#[test]
fn expired_or_not_yet_valid_tokens_are_refused() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");
    let now = now();

    let mut expired = claims_for(&user);
    expired["iat"] = json!(now - 7200);
    expired["nbf"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    assert_refused(&app, &sign(&expired), "expired an hour ago");

    let mut early = claims_for(&user);
    early["nbf"] = json!(now + 3600);
    early["iat"] = json!(now + 3600);
    early["exp"] = json!(now + 7200);
    assert_refused(&app, &sign(&early), "not valid before an hour from now");

    let mut no_exp = claims_for(&user);
    no_exp.as_object_mut().map(|c| c.remove("exp"));
    assert_refused(&app, &sign(&no_exp), "no exp");
}

#[test]
fn another_issuer_or_audience_is_refused() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");

    let mut issuer = claims_for(&user);
    issuer["iss"] = json!("someone-else");
    assert_refused(&app, &sign(&issuer), "wrong iss");

    let mut audience = claims_for(&user);
    audience["aud"] = json!("another-service");
    assert_refused(&app, &sign(&audience), "wrong aud");

    let mut no_audience = claims_for(&user);
    no_audience.as_object_mut().map(|c| c.remove("aud"));
    assert_refused(&app, &sign(&no_audience), "no aud");
}

#[test]
fn a_tampered_payload_with_the_original_signature_is_refused() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");
    let (header, _, signature) = segments(user.token());
    let real = claims_of(user.token());

    let mut as_admin = real.clone();
    as_admin["role"] = json!("ADMIN");
    // The payload segment of any token carrying these claims is their base64url JSON.
    let (_, admin_payload, _) = segments(&sign_with(&as_admin, Algorithm::HS256, b"x"));
    assert_refused(
        &app,
        &format!("{header}.{admin_payload}.{signature}"),
        "role changed to ADMIN",
    );

    let mut as_root = real;
    as_root["sub"] = json!(app.admin.id);
    let (_, root_payload, _) = segments(&sign_with(&as_root, Algorithm::HS256, b"x"));
    assert_refused(
        &app,
        &format!("{header}.{root_payload}.{signature}"),
        "sub changed to the ADMIN",
    );
}

#[test]
fn the_role_and_first_login_claims_are_never_trusted() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");

    // Correctly signed, but the stored role decides (rule 12).
    let mut claims = claims_for(&user);
    claims["role"] = json!("ADMIN");
    let token = sign(&claims);
    app.get_utilisateurs(&token, "")
        .assert_fr_error(403, "ACCES_REFUSE");
    app.get_admin_users(&token, "")
        .assert_v1_error(403, "PERMISSION_DENIED");

    // Same for the first-login flag (rule 5).
    let mut restricted = app.create_user("DIRECTEUR");
    app.log_in(&mut restricted);
    let mut claims = claims_for(&restricted);
    claims["pcr"] = json!(false);
    app.get_utilisateurs(&sign(&claims), "")
        .assert_fr_error(403, "CHANGEMENT_MOT_DE_PASSE_REQUIS");
}

#[test]
fn a_role_change_revokes_tokens_and_applies_on_the_next_request() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");

    app.put_utilisateur(app.admin_token(), &user.id, &json!({"role": "DIRECTEUR"}))
        .assert_status(200);

    app.get_me(user.token())
        .assert_v1_error(401, "INVALID_TOKEN");
    let login = app.post_login(&user.login, &user.password);
    login.assert_status(200);
    app.get_utilisateurs(&str_of(&login.data()["token"]), "")
        .assert_status(200);
}

#[test]
fn a_stale_ver_is_refused_after_a_password_change() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");
    let stale = claims_for(&user);

    let changed = app.post_change_password(user.token(), &user.password, OTHER_PASSWORD);
    changed.assert_status(200);
    let fresh = str_of(&changed.data()["token"]);

    app.get_me(user.token())
        .assert_v1_error(401, "INVALID_TOKEN");
    assert_refused(&app, &sign(&stale), "re-signed with the old ver");
    assert!(
        claims_of(&fresh)["ver"].as_u64() > stale["ver"].as_u64(),
        "the change bumps ver"
    );
    let mut current = stale;
    current["ver"] = claims_of(&fresh)["ver"].clone();
    app.get_me(&sign(&current)).assert_status(200);
}

#[test]
fn a_deleted_or_unknown_subject_is_refused() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");
    let claims = claims_for(&user);

    app.delete_admin_user(app.admin_token(), &user.id)
        .assert_status(204);

    assert_refused(&app, user.token(), "deleted user");
    assert_refused(&app, &sign(&claims), "deleted user, fresh signature");
    let mut unknown = claims.clone();
    unknown["sub"] = json!("6f1c1c1e-9a4b-4c5e-8f00-000000000000");
    assert_refused(&app, &sign(&unknown), "unknown id");
    let mut not_an_id = claims;
    not_an_id["sub"] = json!("root");
    assert_refused(&app, &sign(&not_an_id), "sub is not an id");
}

#[test]
fn logout_answers_204_and_revokes_every_token_of_the_user() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");
    let second = str_of(&app.post_login(&user.login, &user.password).data()["token"]);
    app.get_me(&second).assert_status(200);

    let response = app.post_logout(user.token());

    response.assert_status(204);
    assert!(response.body.is_empty());
    assert_refused(&app, user.token(), "logged out");
    assert_refused(&app, &second, "another session of the same user");
    app.post_logout(user.token())
        .assert_v1_error(401, "INVALID_TOKEN");

    let again = app.post_login(&user.login, &user.password);
    again.assert_status(200);
    app.get_utilisateur_me(&str_of(&again.data()["token"]))
        .assert_status(200);
    // Other users are unaffected.
    app.get_utilisateur_me(app.admin_token()).assert_status(200);
}

/// The suite's Ed25519 test keys (public: see their README).
const ED25519_A: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../adapters-http/tests/keys/ed25519-a.pem"
);
const ED25519_B_PUB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../adapters-http/tests/keys/ed25519-b.pub.pem"
);

/// Signing with key A, also verifying with B's public key; `secret` "" unsets the HS256
/// secret the suite otherwise configures.
fn eddsa_app(secret: Option<&str>) -> TestApp {
    eddsa_app_with(secret, &[])
}

/// [`eddsa_app`] with further settings.
fn eddsa_app_with(secret: Option<&str>, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![
        ("USERS__AUTH__ALGORITHM", "EdDSA"),
        ("USERS__AUTH__SIGNING_KEY_FILE", ED25519_A),
        ("USERS__AUTH__VERIFICATION_KEY_FILES", ED25519_B_PUB),
    ];
    env.extend(secret.map(|s| ("USERS__AUTH__JWT_SECRET", s)));
    env.extend_from_slice(extra);
    TestApp::spawn_with_env(Store::from_env(), &env)
}

#[test]
fn eddsa_sessions_name_their_key_and_the_jwks_publishes_it() {
    let app = eddsa_app(None);
    let user = app.create_active_user("TAXATEUR");
    let header = jsonwebtoken::decode_header(user.token()).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    let kid = header.kid.expect("a kid");
    app.get_me(user.token()).assert_status(200);

    let jwks = app.get("/.well-known/jwks.json");
    jwks.assert_status(200);
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    let keys = jwks.json()["keys"].as_array().unwrap().clone();
    assert_eq!(
        keys.len(),
        2,
        "the signing key and the verification key: {keys:?}"
    );
    assert_eq!(keys[0]["kid"], kid.as_str());
    for key in &keys {
        assert_eq!(
            (key["kty"].as_str(), key["alg"].as_str()),
            (Some("OKP"), Some("EdDSA"))
        );
        assert!(
            key.get("d").is_none() && key.get("k").is_none(),
            "no private part: {key}"
        );
    }
    // HS256 deployments publish no key: a secret is never shown.
    let hs = spawn_app();
    assert_eq!(hs.get("/.well-known/jwks.json").json()["keys"], json!([]));
}

#[test]
fn eddsa_keys_refuse_algorithm_confusion_and_unknown_kids() {
    let app = eddsa_app(Some(""));
    let user = app.create_active_user("TAXATEUR");
    let kid = jsonwebtoken::decode_header(user.token())
        .unwrap()
        .kid
        .unwrap();
    let claims = claims_for(&user);
    let public_pem = std::fs::read_to_string(ED25519_A.replace(".pem", ".pub.pem")).unwrap();
    let x = app.get("/.well-known/jwks.json").json()["keys"][0]["x"].clone();
    // HS256 keyed with the public key (as PEM, as published), under the EdDSA key's id.
    for secret in [public_pem.clone(), str_of(&x)] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        let forged = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        assert_refused(&app, &forged, "HS256 with the public key as secret");
    }
    // A kid that names no key, and a token without kid (no HS256 key is configured).
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("no-such-key".to_owned());
    let unknown = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_refused(&app, &unknown, "unknown kid");
    assert_refused(&app, &sign(&claims), "no kid and no HS256 secret");
}

#[test]
fn switching_to_eddsa_keeps_the_sessions_signed_with_the_old_secret() {
    // The suite's secret stays configured and is listed as a rotation key: tokens it signed
    // (before the switch) still work, while new ones are EdDSA.
    let app = eddsa_app_with(None, &[("USERS__AUTH__VERIFY_PREVIOUS_HS256", "true")]);
    let user = app.create_active_user("TAXATEUR");
    let legacy = sign(&claims_for(&user));
    app.get_me(&legacy).assert_status(200);
    app.get_utilisateur_me(&legacy).assert_status(200);
    app.get_me(&sign_hs256_with_kid(&claims_for(&user)))
        .assert_status(200);
    let header = jsonwebtoken::decode_header(user.token()).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    // Listing the secret publishes nothing: only the two Ed25519 keys.
    assert_eq!(
        app.get("/.well-known/jwks.json").json()["keys"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[test]
fn once_eddsa_signs_an_old_secret_left_in_place_verifies_nothing() {
    // The suite's secret stays configured, but not as a rotation key: the HS256 tokens it
    // signs are refused, with or without a kid, and the operator is warned at start-up.
    let app = eddsa_app(None);
    let user = app.create_active_user("TAXATEUR");
    app.get_me(user.token()).assert_status(200);
    let claims = claims_for(&user);
    assert_refused(&app, &sign(&claims), "HS256 without kid, secret not listed");
    assert_refused(
        &app,
        &sign_hs256_with_kid(&claims),
        "HS256 with the secret's kid, secret not listed",
    );
    let logs = app.logs();
    assert!(
        logs.contains("auth.jwt_secret is set but unused"),
        "no warning about the unused secret:\n{logs}"
    );
}

/// HS256 with the suite's secret, under the `kid` an HS256 service gives that secret (as
/// the sessions issued before the switch carry).
fn sign_hs256_with_kid(claims: &Value) -> String {
    let hs = spawn_app();
    let kid = jsonwebtoken::decode_header(hs.admin_token())
        .unwrap()
        .kid
        .expect("HS256 tokens name their key");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}
