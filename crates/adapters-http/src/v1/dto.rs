//! v1 request and response bodies, and their conversion into domain commands.

use std::collections::BTreeMap;

use domain::error::FieldError;
use domain::model::{AuditEvent, AuditFilter, AuditKind, Email, FullName, Role, User};
use domain::ports::{PageRequest, UserFilter};
use domain::service::{ProfileUpdate, Registration, UserUpdate};
use serde::{Deserialize, Serialize};

use crate::dialect::V1;
use crate::error::ApiError;
use crate::wire::{Fields, Secret, details, id, instant, timestamp, user_filter};

type Result<T> = std::result::Result<T, ApiError<V1>>;

/// A user as v1 shows it; never a password or a hash.
#[derive(Debug, Serialize)]
pub struct UserOut {
    id: String,
    email: Option<String>,
    username: String,
    is_admin: bool,
    is_active: bool,
    role: &'static str,
    is_blocked: bool,
    must_change_password: bool,
    created_at: String,
    updated_at: String,
}

impl From<&User> for UserOut {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.as_ref().map(|e| e.as_str().to_owned()),
            username: u.full_name.as_str().to_owned(),
            is_admin: u.role.is_admin(),
            is_active: u.active,
            role: u.role.code(),
            is_blocked: u.blocked,
            must_change_password: u.must_change_password,
            created_at: timestamp(u.created_at),
            updated_at: timestamp(u.updated_at),
        }
    }
}

/// An audit event as v1 shows it.
#[derive(Debug, Serialize)]
pub struct AuditEventOut {
    seq: u64,
    at: String,
    #[serde(rename = "type")]
    kind: &'static str,
    /// `success` or `failure`.
    outcome: &'static str,
    error_code: Option<String>,
    actor_id: Option<String>,
    target_id: Option<String>,
    request_id: Option<String>,
    client_ip: Option<String>,
    details: BTreeMap<String, String>,
    prev_hash: String,
    hash: String,
}

impl From<&AuditEvent> for AuditEventOut {
    fn from(e: &AuditEvent) -> Self {
        let r = &e.record;
        Self {
            seq: e.seq,
            at: timestamp(r.at),
            kind: r.kind.code(),
            outcome: if r.succeeded() { "success" } else { "failure" },
            error_code: r.failure.clone(),
            actor_id: r.actor.map(|id| id.to_string()),
            target_id: r.target.map(|id| id.to_string()),
            request_id: r.context.request_id.clone(),
            client_ip: r.context.client_ip.clone(),
            details: details(e),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

/// `GET /admin/audit` query.
#[derive(Debug, Deserialize)]
pub struct AuditListQuery {
    skip: Option<u64>,
    limit: Option<u32>,
    actor_id: Option<String>,
    target_id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl AuditListQuery {
    pub fn try_into_domain(self) -> Result<(AuditFilter, PageRequest)> {
        let mut f = Fields::default();
        let page = page_request(&mut f, self.skip, self.limit);
        let kind = self.kind.and_then(|raw| {
            f.take(
                AuditKind::parse(raw.trim()).ok_or_else(|| {
                    FieldError::new("type", "UNKNOWN_EVENT_TYPE", "not an audit event type")
                }),
                "type",
            )
        });
        let filter = AuditFilter {
            actor: id(&mut f, self.actor_id, "actor_id"),
            target: id(&mut f, self.target_id, "target_id"),
            involving: None,
            kind,
            from: instant(&mut f, self.from, "from"),
            to: instant(&mut f, self.to, "to"),
        };
        f.finish()?;
        Ok((filter, page))
    }
}

/// `POST /auth/register`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterIn {
    email: String,
    username: String,
    password: Secret,
}

impl RegisterIn {
    pub fn try_into_domain(self) -> Result<Registration> {
        let mut f = Fields::default();
        let email = f.take(Email::parse(&self.email), "email");
        let full_name = f.take(FullName::parse(&self.username), "username");
        let password = f.take(self.password.into_password(), "password");
        f.finish()?;
        match (email, full_name, password) {
            (Some(email), Some(full_name), Some(password)) => Ok(Registration {
                login: None,
                email,
                full_name,
                password,
            }),
            _ => Err(ApiError::validation(Vec::new())),
        }
    }
}

/// `POST /auth/login` as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginJson {
    pub email: String,
    pub password: Secret,
}

/// `POST /auth/login` as the OAuth2 password form; the OAuth2 extras are accepted and ignored.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: Secret,
}

/// A session token.
#[derive(Debug, Serialize)]
pub struct TokenOut {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub must_change_password: bool,
}

/// `PUT /users/me`. Anything else (role, is_admin, is_active…) is refused as unknown.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeIn {
    email: Option<String>,
    username: Option<String>,
    password: Option<Secret>,
    current_password: Option<Secret>,
}

impl UpdateMeIn {
    pub fn try_into_domain(self) -> Result<ProfileUpdate> {
        let mut f = Fields::default();
        let update = ProfileUpdate {
            email: self.email.and_then(|e| f.take(Email::parse(&e), "email")),
            full_name: self
                .username
                .and_then(|n| f.take(FullName::parse(&n), "username")),
            password: self
                .password
                .and_then(|p| f.take(p.into_password(), "password")),
            current_password: self
                .current_password
                .and_then(|p| f.take(p.into_password(), "current_password")),
        };
        f.finish()?;
        Ok(update)
    }
}

/// `DELETE /users/me`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteMeIn {
    pub current_password: Secret,
}

/// Largest page of `GET /admin/users`.
const MAX_LIMIT: u32 = 100;

/// The window of a v1 list: `skip` from 0, `limit` 50 by default.
fn page_request(f: &mut Fields, skip: Option<u64>, limit: Option<u32>) -> PageRequest {
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        f.push(FieldError::new(
            "limit",
            "LIMIT_OUT_OF_RANGE",
            "limit must be between 1 and 100",
        ));
    }
    PageRequest {
        offset: skip.unwrap_or(0),
        limit,
    }
}

/// `GET /admin/users` query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    skip: Option<u64>,
    limit: Option<u32>,
    q: Option<String>,
    role: Option<String>,
    is_active: Option<bool>,
    is_blocked: Option<bool>,
}

impl ListQuery {
    pub fn try_into_domain(self) -> Result<(UserFilter, PageRequest)> {
        let mut f = Fields::default();
        let page = page_request(&mut f, self.skip, self.limit);
        let filter = user_filter(&mut f, self.q, self.role, self.is_active, self.is_blocked);
        f.finish()?;
        Ok((filter, page))
    }
}

/// `PUT /admin/users/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminUpdateIn {
    email: Option<String>,
    username: Option<String>,
    password: Option<Secret>,
    is_admin: Option<bool>,
    is_active: Option<bool>,
    role: Option<String>,
}

impl AdminUpdateIn {
    pub fn try_into_domain(self) -> Result<UserUpdate> {
        let mut f = Fields::default();
        let update = UserUpdate {
            email: self
                .email
                .and_then(|e| f.take(Email::parse(&e), "email"))
                .map(Some),
            full_name: self
                .username
                .and_then(|n| f.take(FullName::parse(&n), "username")),
            password: self
                .password
                .and_then(|p| f.take(p.into_password(), "password")),
            role: self.role.and_then(|r| f.take(Role::parse(&r), "role")),
            is_admin: self.is_admin,
            active: self.is_active,
            ..UserUpdate::default()
        };
        f.finish()?;
        Ok(update)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A password no other part of a body contains, so any occurrence in `Debug` is a leak.
    const PW: &str = "Leaky-Pa55word!";

    fn json<T: serde::de::DeserializeOwned>(body: &str) -> T {
        serde_json::from_str(&body.replace("PW", PW)).unwrap()
    }

    /// Decoded as `web::Form` decodes it (the same urlencoded deserialiser).
    fn form(body: &str) -> LoginForm {
        actix_web::web::Query::<LoginForm>::from_query(body)
            .unwrap()
            .into_inner()
    }

    fn assert_hidden(debug: String) {
        assert!(!debug.contains(PW), "password in Debug: {debug}");
        assert!(
            debug.contains("***"),
            "password field missing from Debug: {debug}"
        );
    }

    #[test]
    fn passwords_never_show_in_debug() {
        assert_hidden(format!(
            "{:?}",
            json::<RegisterIn>(
                r#"{"email": "a@example.org", "username": "A B", "password": "PW"}"#
            )
        ));
        assert_hidden(format!(
            "{:?}",
            json::<LoginJson>(r#"{"email": "a@example.org", "password": "PW"}"#)
        ));
        assert_hidden(format!(
            "{:?}",
            form(&format!("username=a%40example.org&password={PW}&scope="))
        ));
        assert_hidden(format!(
            "{:?}",
            json::<UpdateMeIn>(r#"{"password": "PW", "current_password": "PW"}"#)
        ));
        assert_hidden(format!(
            "{:?}",
            json::<DeleteMeIn>(r#"{"current_password": "PW"}"#)
        ));
        assert_hidden(format!(
            "{:?}",
            json::<AdminUpdateIn>(r#"{"password": "PW"}"#)
        ));
    }

    #[test]
    fn passwords_still_arrive_intact() {
        let body: LoginJson = json(r#"{"email": "a@example.org", "password": "PW"}"#);
        assert_eq!(body.password.into_password().unwrap().expose(), PW);
        let body = form(&format!("username=a&password={PW}"));
        assert_eq!(body.password.into_password().unwrap().expose(), PW);
        // A password is a string on the wire: any other JSON type is still refused.
        assert!(serde_json::from_str::<DeleteMeIn>(r#"{"current_password": 7}"#).is_err());
    }
}
