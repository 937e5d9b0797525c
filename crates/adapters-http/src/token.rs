//! JWT sessions (SPEC §3.4): issuing and verifying, with the algorithm pinned per key.
//!
//! Tokens are signed with one key (HS256 secret or Ed25519 private key) and carry its id
//! (`kid`); any number of further keys verify, so a new signing key can be deployed
//! while tokens signed with the previous one stay valid until they expire. A token's key
//! is found by its `kid`, and the token must use that key's algorithm: a token signed with
//! HMAC over the Ed25519 public key (algorithm confusion) finds an EdDSA key and is
//! refused. Ed25519 public keys are published as a JWK set (`/.well-known/jwks.json`);
//! HMAC secrets never are.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::model::User;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

/// Claims of a session token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Role at issue time; informative only, authorisation reads the stored role (rule 12).
    pub role: String,
    /// `token_version` at issue time; a mismatch revokes the token (rule 7).
    pub ver: u64,
    /// Password change required at issue time (rule 5).
    pub pcr: bool,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Unique token id.
    pub jti: String,
}

/// A freshly signed token.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// Token settings.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// HS256 secret.
    pub secret: Vec<u8>,
    /// `iss` claim.
    pub issuer: String,
    /// `aud` claim.
    pub audience: String,
    /// Token lifetime.
    pub ttl: Duration,
}

/// A key as configured.
#[derive(Clone)]
pub enum Key {
    /// An HS256 shared secret: signs and verifies.
    Hs256(Vec<u8>),
    /// An Ed25519 private key (PKCS#8 PEM): signs, and its public half verifies.
    Ed25519Private(String),
    /// An Ed25519 public key (SPKI PEM): verifies only.
    Ed25519Public(String),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the material: these end up in logs.
        f.write_str(match self {
            Self::Hs256(_) => "Key::Hs256(..)",
            Self::Ed25519Private(_) => "Key::Ed25519Private(..)",
            Self::Ed25519Public(_) => "Key::Ed25519Public(..)",
        })
    }
}

/// A key that verifies tokens, with everything prepared once.
struct Verifier {
    kid: String,
    alg: Algorithm,
    key: DecodingKey,
    validation: Validation,
    /// The public JWK, for Ed25519 keys.
    jwk: Option<Value>,
}

/// Signs and verifies session tokens. Keys and validation rules are prepared once.
pub struct TokenService {
    encoding: EncodingKey,
    header: Header,
    verifiers: Vec<Verifier>,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("alg", &self.header.alg)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused; never shown to clients beyond "invalid token".
#[derive(Debug, thiserror::Error)]
#[error("invalid token: {0}")]
pub struct TokenError(String);

impl TokenService {
    /// An HS256 token service with one secret.
    pub fn hs256(settings: TokenSettings) -> Self {
        let TokenSettings {
            secret,
            issuer,
            audience,
            ttl,
        } = settings;
        let verifier = hs256_verifier(&secret, &issuer, &audience);
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(verifier.kid.clone());
        Self {
            encoding: EncodingKey::from_secret(&secret),
            header,
            verifiers: vec![verifier],
            issuer,
            audience,
            ttl,
        }
    }

    /// A token service signing with `signing` and verifying with it and `also_verify`
    /// (previous keys during a rotation). The claims settings come from `settings`, whose
    /// secret is ignored.
    ///
    /// # Errors
    /// A key that cannot be read (not PEM, not Ed25519), or a public key asked to sign.
    pub fn with_keys(
        signing: &Key,
        also_verify: &[Key],
        issuer: String,
        audience: String,
        ttl: Duration,
    ) -> Result<Self, TokenError> {
        let (encoding, alg) = match signing {
            Key::Hs256(secret) => (EncodingKey::from_secret(secret), Algorithm::HS256),
            Key::Ed25519Private(pem) => (
                EncodingKey::from_ed_pem(pem.as_bytes())
                    .map_err(|e| TokenError(format!("Ed25519 private key: {e}")))?,
                Algorithm::EdDSA,
            ),
            Key::Ed25519Public(_) => {
                return Err(TokenError(
                    "a public key cannot sign: give the private key".to_owned(),
                ));
            }
        };
        let mut verifiers: Vec<Verifier> = Vec::new();
        for key in std::iter::once(signing).chain(also_verify) {
            let verifier = verifier(key, &issuer, &audience)?;
            if !verifiers.iter().any(|v| v.kid == verifier.kid) {
                verifiers.push(verifier);
            }
        }
        let mut header = Header::new(alg);
        header.kid = verifiers.first().map(|v| v.kid.clone());
        Ok(Self {
            encoding,
            header,
            verifiers,
            issuer,
            audience,
            ttl,
        })
    }

    /// The public keys as a JWK set (`{"keys": [...]}`): the Ed25519 keys, never a secret.
    pub fn jwks(&self) -> Value {
        let keys: Vec<&Value> = self
            .verifiers
            .iter()
            .filter_map(|v| v.jwk.as_ref())
            .collect();
        json!({ "keys": keys })
    }

    /// Token lifetime in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// Signs a token for `user` as stored now.
    pub fn issue(&self, user: &User, now: OffsetDateTime) -> Result<IssuedToken, TokenError> {
        let iat = now.unix_timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).map_err(|e| TokenError(e.to_string()))?;
        let claims = Claims {
            sub: user.id.to_string(),
            role: user.role.code().to_owned(),
            ver: user.token_version,
            pcr: user.must_change_password,
            iat,
            nbf: iat,
            exp: iat + ttl,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: Uuid::new_v4().to_string(),
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.encoding)
            .map_err(|e| TokenError(e.to_string()))?;
        Ok(IssuedToken {
            token,
            expires_in: self.ttl.as_secs(),
        })
    }

    /// Verifies the key (by `kid`), the algorithm (the key's own), signature, expiry,
    /// not-before, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError(e.to_string()))?;
        let verifier = match &header.kid {
            Some(kid) => self.verifiers.iter().find(|v| &v.kid == kid),
            // Tokens issued before key ids were introduced: HS256 ones only.
            None => self.verifiers.iter().find(|v| v.alg == Algorithm::HS256),
        }
        .ok_or_else(|| TokenError("no key with this id".to_owned()))?;
        // The key's validation admits its own algorithm only: a token naming another is
        // refused by `decode`.
        jsonwebtoken::decode::<Claims>(token, &verifier.key, &verifier.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError(e.to_string()))
    }
}

/// The checks every token passes, for a key of algorithm `alg`.
fn validation(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.validate_nbf = true;
    validation.leeway = 5;
    validation
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An HMAC secret's verifier. Its id is a hash of the secret, which tells nothing an
/// HS256 signature does not already let one check offline.
fn hs256_verifier(secret: &[u8], issuer: &str, audience: &str) -> Verifier {
    let digest = Sha256::new()
        .chain_update(b"users-service hs256 key id\0")
        .chain_update(secret)
        .finalize();
    Verifier {
        kid: format!("hs256-{}", b64(&digest[..12])),
        alg: Algorithm::HS256,
        key: DecodingKey::from_secret(secret),
        validation: validation(Algorithm::HS256, issuer, audience),
        jwk: None,
    }
}

/// The verifier of `key`: for Ed25519, its public half, identified by its RFC 7638
/// thumbprint.
fn verifier(key: &Key, issuer: &str, audience: &str) -> Result<Verifier, TokenError> {
    let public = match key {
        Key::Hs256(secret) => return Ok(hs256_verifier(secret, issuer, audience)),
        Key::Ed25519Private(pem) => ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| TokenError(format!("Ed25519 private key: {e}")))?
            .verifying_key(),
        Key::Ed25519Public(pem) => ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map_err(|e| TokenError(format!("Ed25519 public key: {e}")))?,
    };
    let x = b64(public.as_bytes());
    let thumbprint = Sha256::digest(format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
    let kid = b64(&thumbprint);
    Ok(Verifier {
        key: DecodingKey::from_ed_components(&x)
            .map_err(|e| TokenError(format!("Ed25519 public key: {e}")))?,
        alg: Algorithm::EdDSA,
        validation: validation(Algorithm::EdDSA, issuer, audience),
        jwk: Some(json!({
            "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA"
        })),
        kid,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn service(secret: &[u8]) -> TokenService {
        TokenService::hs256(TokenSettings {
            secret: secret.to_vec(),
            issuer: "users-service".into(),
            audience: "users".into(),
            ttl: Duration::from_secs(3600),
        })
    }

    fn encode_raw(header: &str, claims: &serde_json::Value) -> String {
        use base64_like::encode;
        format!(
            "{}.{}.",
            encode(header.as_bytes()),
            encode(claims.to_string().as_bytes())
        )
    }

    /// Minimal URL-safe base64 without padding, enough to forge test tokens.
    mod base64_like {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        pub fn encode(input: &[u8]) -> String {
            let mut out = String::new();
            for chunk in input.chunks(3) {
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                for i in 0..=chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
                }
            }
            out
        }
    }

    #[test]
    fn alg_none_is_refused() {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = serde_json::json!({
            "sub": Uuid::new_v4().to_string(), "role": "ADMIN", "ver": 0, "pcr": false,
            "iat": now, "nbf": now, "exp": now + 60, "iss": "users-service", "aud": "users", "jti": "x"
        });
        let token = encode_raw(r#"{"alg":"none","typ":"JWT"}"#, &claims);
        assert!(
            service(b"0123456789abcdef0123456789abcdef")
                .verify(&token)
                .is_err()
        );
    }

    #[test]
    fn wrong_key_is_refused() {
        let a = service(b"0123456789abcdef0123456789abcdef");
        let b = service(b"fedcba9876543210fedcba9876543210");
        let claims = Claims {
            sub: Uuid::new_v4().to_string(),
            role: "ADMIN".into(),
            ver: 0,
            pcr: false,
            iat: OffsetDateTime::now_utc().unix_timestamp(),
            nbf: OffsetDateTime::now_utc().unix_timestamp(),
            exp: OffsetDateTime::now_utc().unix_timestamp() + 60,
            iss: "users-service".into(),
            aud: "users".into(),
            jti: "j".into(),
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &b.encoding).unwrap();
        assert!(a.verify(&token).is_err());
        assert!(b.verify(&token).is_ok());
    }

    const KEY_A: &str = include_str!("../tests/keys/ed25519-a.pem");
    const KEY_A_PUB: &str = include_str!("../tests/keys/ed25519-a.pub.pem");
    const KEY_B: &str = include_str!("../tests/keys/ed25519-b.pem");

    fn ed(signing: &str, also: &[Key]) -> TokenService {
        TokenService::with_keys(
            &Key::Ed25519Private(signing.to_owned()),
            also,
            "users-service".into(),
            "users".into(),
            Duration::from_secs(3600),
        )
        .unwrap()
    }

    fn claims() -> Claims {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        Claims {
            sub: Uuid::new_v4().to_string(),
            role: "ADMIN".into(),
            ver: 0,
            pcr: false,
            iat: now,
            nbf: now,
            exp: now + 60,
            iss: "users-service".into(),
            aud: "users".into(),
            jti: "j".into(),
        }
    }

    fn sign(service: &TokenService) -> String {
        jsonwebtoken::encode(&service.header, &claims(), &service.encoding).unwrap()
    }

    #[test]
    fn ed25519_tokens_carry_the_kid_published_in_the_jwks() {
        let a = ed(KEY_A, &[]);
        let token = sign(&a);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        let jwks = a.jwks();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert_eq!(jwks["keys"][0]["kid"].as_str(), header.kid.as_deref());
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert!(a.verify(&token).is_ok());
        // The public key alone verifies, and has the same id.
        let verify_only = TokenService::with_keys(
            &Key::Ed25519Private(KEY_B.to_owned()),
            &[Key::Ed25519Public(KEY_A_PUB.to_owned())],
            "users-service".into(),
            "users".into(),
            Duration::from_secs(3600),
        )
        .unwrap();
        assert!(verify_only.verify(&token).is_ok());
        // An HS256 service publishes nothing.
        assert_eq!(
            service(b"0123456789abcdef0123456789abcdef").jwks()["keys"],
            json!([])
        );
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_until_their_key_is_dropped() {
        let old = ed(KEY_A, &[]);
        let token = sign(&old);
        let rotated = ed(KEY_B, &[Key::Ed25519Public(KEY_A_PUB.to_owned())]);
        assert!(rotated.verify(&token).is_ok(), "old key still verifies");
        assert!(rotated.verify(&sign(&rotated)).is_ok());
        assert_eq!(rotated.jwks()["keys"].as_array().unwrap().len(), 2);
        let done = ed(KEY_B, &[]);
        assert!(done.verify(&token).is_err(), "old key dropped");
        // HS256 → EdDSA: the old secret verifies the tokens it signed.
        let hs = service(b"0123456789abcdef0123456789abcdef");
        let hs_token = sign(&hs);
        let migrated = ed(
            KEY_A,
            &[Key::Hs256(b"0123456789abcdef0123456789abcdef".to_vec())],
        );
        assert!(migrated.verify(&hs_token).is_ok());
        assert_eq!(
            migrated.jwks()["keys"].as_array().unwrap().len(),
            1,
            "no secret published"
        );
    }

    #[test]
    fn an_unknown_kid_or_an_algorithm_other_than_the_keys_is_refused() {
        let a = ed(KEY_A, &[]);
        let kid = a.header.kid.clone().unwrap();
        // Unknown kid.
        let mut header = a.header.clone();
        header.kid = Some("no-such-key".into());
        let token = jsonwebtoken::encode(&header, &claims(), &a.encoding).unwrap();
        assert!(a.verify(&token).is_err());
        // Algorithm confusion: HS256 keyed with the public key's bytes, under the EdDSA kid.
        for secret in [
            KEY_A_PUB.as_bytes().to_vec(),
            a.jwks()["keys"][0]["x"].to_string().into_bytes(),
        ] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(kid.clone());
            let forged =
                jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&secret))
                    .unwrap();
            assert!(a.verify(&forged).is_err());
        }
        // A kid-less token is tried on HS256 keys only.
        let mut header = a.header.clone();
        header.kid = None;
        let token = jsonwebtoken::encode(&header, &claims(), &a.encoding).unwrap();
        assert!(a.verify(&token).is_err());
        let hs = service(b"0123456789abcdef0123456789abcdef");
        let legacy =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(), &hs.encoding).unwrap();
        assert!(hs.verify(&legacy).is_ok(), "tokens from before key ids");
    }

    #[test]
    fn unreadable_or_public_signing_keys_are_errors() {
        let with = |key: Key| {
            TokenService::with_keys(&key, &[], "i".into(), "a".into(), Duration::from_secs(1))
        };
        assert!(with(Key::Ed25519Public(KEY_A_PUB.to_owned())).is_err());
        assert!(with(Key::Ed25519Private("not a pem".to_owned())).is_err());
        assert!(with(Key::Ed25519Private(KEY_A_PUB.to_owned())).is_err());
        assert!(format!("{:?}", Key::Ed25519Private(KEY_A.to_owned())).ends_with("(..)"));
    }
}
