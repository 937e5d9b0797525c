//! JWT sessions (SPEC §3.4): issuing and verifying, with the algorithm pinned.

use std::time::Duration;

use domain::model::User;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
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

/// Signs and verifies session tokens. Keys and validation rules are prepared once.
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    header: Header,
    validation: Validation,
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
    /// An HS256 token service.
    pub fn hs256(settings: TokenSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(&settings.secret),
            decoding: DecodingKey::from_secret(&settings.secret),
            header: Header::new(Algorithm::HS256),
            validation,
            issuer: settings.issuer,
            audience: settings.audience,
            ttl: settings.ttl,
        }
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

    /// Verifies signature, algorithm, expiry, not-before, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError(e.to_string()))
    }
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
}
