//! The request's extractors: authentication (Bearer token → verified claims → stored user)
//! and the use cases bound to the request (its id and client stamped on audit events).

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use domain::model::{Actor, RequestContext, User, UserId};
use domain::service::UserService;
use futures::future::LocalBoxFuture;

use crate::dialect::Dialect;
use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::state::AppState;

/// The user behind a valid, unrevoked token, as stored now (rules 6, 7, 12).
#[derive(Debug)]
pub struct Authenticated<D> {
    /// The stored user.
    pub user: User,
    dialect: PhantomData<fn() -> D>,
}

impl<D> Authenticated<D> {
    /// The principal for use cases.
    pub fn actor(&self) -> Actor {
        self.user.as_actor()
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

impl<D: Dialect> FromRequest for Authenticated<D> {
    type Error = ApiError<D>;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                ApiError::new(
                    actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_ERROR",
                    "application state missing",
                )
            })?;
            let token = token.ok_or_else(|| {
                ApiError::unauthenticated("UNAUTHENTICATED", "missing bearer token")
            })?;
            let invalid = || ApiError::unauthenticated("INVALID_TOKEN", "invalid or revoked token");
            let claims = state.tokens.verify(&token).map_err(|_| invalid())?;
            let id = UserId::parse(&claims.sub).ok_or_else(invalid)?;
            let user = state.users.authenticate(id, claims.ver).await?;
            Ok(Self {
                user,
                dialect: PhantomData,
            })
        })
    }
}

/// The use cases, recording this request's id and client address on the audit events
/// they write.
#[derive(Debug)]
pub struct Users(UserService);

impl std::ops::Deref for Users {
    type Target = UserService;

    fn deref(&self) -> &UserService {
        &self.0
    }
}

impl FromRequest for Users {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return std::future::ready(Err(actix_web::error::ErrorInternalServerError(
                "application state missing",
            )));
        };
        let context = RequestContext {
            request_id: req
                .extensions()
                .get::<RequestId>()
                .map(|id| id.as_str().to_owned()),
            client_ip: req
                .peer_addr()
                .map(|peer| state.proxies.client(peer.ip(), req.headers()).to_string()),
        };
        std::future::ready(Ok(Self(state.users.in_context(context))))
    }
}
