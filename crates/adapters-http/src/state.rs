//! What every handler shares.

use domain::service::UserService;

use crate::metrics::Metrics;
use crate::proxies::TrustedProxies;
use crate::token::TokenService;

/// Shared application state, built once by the composition root with
/// [`AppState::with_metrics`] (or [`AppState::new`] when nothing else records metrics).
#[derive(Debug)]
pub struct AppState {
    /// The use cases.
    pub users: UserService,
    /// Session tokens.
    pub tokens: TokenService,
    /// Prometheus metrics, in a registry of their own.
    pub metrics: Metrics,
    /// Whose `X-Forwarded-For` names the client (rate limits, audit events).
    pub proxies: TrustedProxies,
}

impl AppState {
    /// The state over the use cases and the token service; builds what the adapter owns
    /// itself (metrics), so callers do not change when such fields are added.
    pub fn new(users: UserService, tokens: TokenService) -> Self {
        Self::with_metrics(users, tokens, Metrics::new())
    }

    /// The state over a registry created earlier, so that the decorators of the ports the
    /// use cases were built on (hasher, store) record into the registry `/metrics` serves.
    pub fn with_metrics(users: UserService, tokens: TokenService, metrics: Metrics) -> Self {
        Self {
            users,
            tokens,
            metrics,
            proxies: TrustedProxies::default(),
        }
    }

    /// The same state, believing `X-Forwarded-For` from `proxies`.
    pub fn with_proxies(self, proxies: TrustedProxies) -> Self {
        Self { proxies, ..self }
    }
}
