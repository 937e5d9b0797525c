//! fr handlers: decode, call one use case, encode in the `{success, data}` envelope.
//! No rule lives here.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use domain::DomainError;
use domain::error::FieldError;
use domain::model::{IdempotencyKey, User, UserId};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::dto::{
    BloquerIn, ChangePasswordIn, CreateIn, HistoriqueData, HistoriqueQuery, ListQuery, ListeData,
    LoginIn, ResetData, ResetIn, SessionData, UpdateIn, UtilisateurData, success,
};
use crate::body;
use crate::dialect::Fr;
use crate::error::ApiError;
use crate::extract::{Authenticated, Users};
use crate::state::AppState;

type Result<T> = std::result::Result<T, ApiError<Fr>>;
type Auth = Authenticated<Fr>;
type Json<T> = body::Json<T, Fr>;

fn internal(e: impl std::fmt::Display) -> ApiError<Fr> {
    ApiError::from(DomainError::Internal(e.to_string()))
}

/// A malformed id names no user: 404, like an unknown one.
fn user_id(raw: &str) -> Result<UserId> {
    UserId::parse(raw).ok_or_else(|| ApiError::from(DomainError::NotFound))
}

/// The domain reports password-policy problems on `password` (`motDePasse` in fr); on the
/// routes where the new password is `nouveauMotDePasse`, the details name that field.
fn new_password_field(e: DomainError) -> ApiError<Fr> {
    let mut e = ApiError::<Fr>::from(e);
    for detail in &mut e.details {
        if detail.field == "motDePasse" {
            "nouveauMotDePasse".clone_into(&mut detail.field);
        }
    }
    e
}

/// Responses that carry a token or a password must not be cached by anyone.
fn no_store(mut response: HttpResponseBuilder) -> HttpResponseBuilder {
    response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    response
}

/// A fresh session token for `user`, with the user.
fn session_response(state: &AppState, user: &User) -> Result<HttpResponse> {
    let issued = state
        .tokens
        .issue(user, OffsetDateTime::now_utc())
        .map_err(internal)?;
    Ok(no_store(HttpResponse::Ok()).json(success(SessionData::new(issued, user))))
}

/// Reads a body that may be absent: `None` when empty (whatever the `Content-Type`), else
/// JSON with the same rules as [`crate::body::Json`].
async fn optional_json<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Option<T>> {
    let bytes = body::read_limited(req, &mut payload.into_inner()).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    body::require_json_content_type(req)?;
    body::parse(&bytes).map(Some)
}

/// `POST /auth/login`.
pub async fn login(
    state: web::Data<AppState>,
    users: Users,
    body: Json<LoginIn>,
) -> Result<HttpResponse> {
    let (identifier, password) = body.into_inner().try_into_domain()?;
    let user = users.login(&identifier, &password).await?;
    session_response(&state, &user)
}

/// `GET /utilisateurs`.
pub async fn list_users(
    users: Users,
    auth: Auth,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    let request = query.into_inner().try_into_domain()?;
    let found = users
        .list_users(&auth.actor(), &request.filter, request.page)
        .await?;
    Ok(HttpResponse::Ok().json(success(ListeData::new(&found, &request))))
}

/// `GET /utilisateurs/{id}/historique`: the events where the user acted or was acted on,
/// newest first (ADMIN).
pub async fn history(
    users: Users,
    auth: Auth,
    id: web::Path<String>,
    query: web::Query<HistoriqueQuery>,
) -> Result<HttpResponse> {
    let id = user_id(&id)?;
    let request = query.into_inner().try_into_domain()?;
    let found = users
        .user_history(&auth.actor(), id, request.window)
        .await?;
    Ok(HttpResponse::Ok().json(success(HistoriqueData::new(&found, &request))))
}

/// `GET /utilisateurs/{id}`.
pub async fn get_user(users: Users, auth: Auth, id: web::Path<String>) -> Result<HttpResponse> {
    let user = users.get_user(&auth.actor(), user_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(success(UtilisateurData::from(&user))))
}

/// `POST /utilisateurs`.
pub async fn create_user(users: Users, auth: Auth, body: Json<CreateIn>) -> Result<HttpResponse> {
    let user = users
        .create_user(&auth.actor(), body.into_inner().try_into_domain()?)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/utilisateurs/{}", user.id)))
        .json(success(UtilisateurData::from(&user))))
}

/// `PUT /utilisateurs/{id}`.
pub async fn update_user(
    users: Users,
    auth: Auth,
    id: web::Path<String>,
    body: Json<UpdateIn>,
) -> Result<HttpResponse> {
    let id = user_id(&id)?;
    let user = users
        .update_user(&auth.actor(), id, body.into_inner().try_into_domain()?)
        .await?;
    Ok(HttpResponse::Ok().json(success(UtilisateurData::from(&user))))
}

/// `POST /utilisateurs/{id}/bloquer`: `{bloque, motif?}`, or no body to toggle. With an
/// `Idempotency-Key` header, a repeated request (a client's retry) changes nothing more.
pub async fn set_blocked(
    users: Users,
    auth: Auth,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let id = user_id(&id)?;
    let key = idempotency_key(&req)?;
    let request = optional_json::<BloquerIn>(&req, payload)
        .await?
        .map(BloquerIn::try_into_domain)
        .transpose()?;
    let actor = auth.actor();
    let user = users
        .set_blocked(
            &actor,
            id,
            request.as_ref().map(|r| r.blocked),
            request.as_ref().and_then(|r| r.motif.as_ref()),
            key.as_ref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(success(UtilisateurData::from(&user))))
}

/// The `Idempotency-Key` header, when sent.
fn idempotency_key(req: &HttpRequest) -> Result<Option<IdempotencyKey>> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = |e: FieldError| ApiError::from(DomainError::Validation(vec![e]));
    let text = value.to_str().map_err(|_| {
        invalid(FieldError::new(
            "idempotency_key",
            "IDEMPOTENCY_KEY_INVALID",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ))
    })?;
    IdempotencyKey::parse(text).map(Some).map_err(invalid)
}

/// `POST /utilisateurs/{id}/reset-password`: `{nouveauMotDePasse}`, or no body to get a
/// generated temporary password, shown once.
pub async fn reset_password(
    users: Users,
    auth: Auth,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let id = user_id(&id)?;
    let chosen = match optional_json::<ResetIn>(&req, payload).await? {
        Some(body) => body.try_into_domain()?,
        None => None,
    };
    let (user, temporary) = users
        .reset_password(&auth.actor(), id, chosen)
        .await
        .map_err(new_password_field)?;
    Ok(no_store(HttpResponse::Ok()).json(success(ResetData::new(&user, temporary))))
}

/// `POST /utilisateurs/change-password`: older tokens are revoked, so a fresh one is returned.
pub async fn change_password(
    state: web::Data<AppState>,
    users: Users,
    auth: Auth,
    body: Json<ChangePasswordIn>,
) -> Result<HttpResponse> {
    let (current, new) = body.into_inner().try_into_domain()?;
    let user = users
        .change_own_password(&auth.actor(), &current, &new)
        .await
        .map_err(new_password_field)?;
    session_response(&state, &user)
}

/// `GET /utilisateurs/me`: the account behind the token, as stored now.
pub async fn me(auth: Auth) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(success(UtilisateurData::from(&auth.user))))
}

/// Any other path under `/api`.
pub async fn route_not_found() -> Result<HttpResponse> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "ROUTE_NOT_FOUND",
        "no such route",
    ))
}

/// A known path with a method it does not serve.
pub async fn method_not_allowed() -> Result<HttpResponse> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "method not allowed on this route",
    ))
}
