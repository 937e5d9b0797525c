//! v1 handlers: decode, call one use case, encode. No rule lives here.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use domain::model::{PlainPassword, User, UserId};
use time::OffsetDateTime;

use super::dto::{
    AdminUpdateIn, AuditEventOut, AuditListQuery, DeleteMeIn, ListQuery, LoginForm, LoginJson,
    RegisterIn, TokenOut, UpdateMeIn, UserOut,
};
use crate::dialect::V1;
use crate::error::ApiError;
use crate::extract::{Authenticated, Users};
use crate::state::AppState;
use crate::wire::Secret;

type Result<T> = std::result::Result<T, ApiError<V1>>;
type Auth = Authenticated<V1>;
type Json<T> = crate::body::Json<T, V1>;

fn internal(e: impl std::fmt::Display) -> ApiError<V1> {
    ApiError::from(domain::DomainError::Internal(e.to_string()))
}

fn user_id(raw: &str) -> Result<UserId> {
    UserId::parse(raw).ok_or_else(|| ApiError::from(domain::DomainError::NotFound))
}

fn password(raw: Secret, field: &'static str) -> Result<PlainPassword> {
    raw.into_password().map_err(|mut e| {
        e.field = field;
        ApiError::from(domain::DomainError::Validation(vec![e]))
    })
}

pub async fn register(users: Users, body: Json<RegisterIn>) -> Result<HttpResponse> {
    let user = users.register(body.into_inner().try_into_domain()?).await?;
    Ok(HttpResponse::Created().json(UserOut::from(&user)))
}

/// A token response; never cached by intermediaries.
fn token_response(state: &AppState, user: &User) -> Result<HttpResponse> {
    let issued = state
        .tokens
        .issue(user, OffsetDateTime::now_utc())
        .map_err(internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(TokenOut {
            access_token: issued.token,
            token_type: "bearer",
            expires_in: issued.expires_in,
            must_change_password: user.must_change_password,
        }))
}

/// JSON `{email, password}`, or the OAuth2 password form `username=&password=`. Extractor
/// errors pass through as the v1 configs rendered them (field list included).
pub async fn login(
    state: web::Data<AppState>,
    users: Users,
    req: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let mut payload = payload.into_inner();
    let (identifier, secret) = if is_form {
        let form = web::Form::<LoginForm>::from_request(&req, &mut payload).await?;
        let form = form.into_inner();
        (form.username, form.password)
    } else {
        let json = Json::<LoginJson>::from_request(&req, &mut payload).await?;
        let json = json.into_inner();
        (json.email, json.password)
    };
    let user = users
        .login(&identifier, &password(secret, "password")?)
        .await
        .map_err(ApiError::<V1>::from)?;
    Ok(token_response(&state, &user)?)
}

pub async fn logout(users: Users, auth: Auth) -> Result<HttpResponse> {
    users.logout(&auth.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn me(auth: Auth) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(UserOut::from(&auth.user)))
}

pub async fn update_me(users: Users, auth: Auth, body: Json<UpdateMeIn>) -> Result<HttpResponse> {
    let user = users
        .update_profile(&auth.actor(), body.into_inner().try_into_domain()?)
        .await?;
    Ok(HttpResponse::Ok().json(UserOut::from(&user)))
}

pub async fn delete_me(users: Users, auth: Auth, body: Json<DeleteMeIn>) -> Result<HttpResponse> {
    let current = password(body.into_inner().current_password, "current_password")?;
    users.delete_own_account(&auth.actor(), &current).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list_users(
    users: Users,
    auth: Auth,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    let (filter, page) = query.into_inner().try_into_domain()?;
    let found = users.list_users(&auth.actor(), &filter, page).await?;
    let body: Vec<UserOut> = found.items.iter().map(UserOut::from).collect();
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", found.total.to_string()))
        .json(body))
}

pub async fn get_user(users: Users, auth: Auth, id: web::Path<String>) -> Result<HttpResponse> {
    let user = users.get_user(&auth.actor(), user_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(UserOut::from(&user)))
}

pub async fn update_user(
    users: Users,
    auth: Auth,
    id: web::Path<String>,
    body: Json<AdminUpdateIn>,
) -> Result<HttpResponse> {
    let id = user_id(&id)?;
    let user = users
        .update_user(&auth.actor(), id, body.into_inner().try_into_domain()?)
        .await?;
    Ok(HttpResponse::Ok().json(UserOut::from(&user)))
}

pub async fn delete_user(users: Users, auth: Auth, id: web::Path<String>) -> Result<HttpResponse> {
    users.delete_user(&auth.actor(), user_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The audit trail, newest first, with the total in `X-Total-Count` (ADMIN).
pub async fn audit(
    users: Users,
    auth: Auth,
    query: web::Query<AuditListQuery>,
) -> Result<HttpResponse> {
    let (filter, page) = query.into_inner().try_into_domain()?;
    let found = users.audit_trail(&auth.actor(), &filter, page).await?;
    let body: Vec<AuditEventOut> = found.items.iter().map(AuditEventOut::from).collect();
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", found.total.to_string()))
        .json(body))
}
