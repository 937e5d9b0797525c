//! Per-client-IP rate limiting of the routes that check or set a password (login, register,
//! password changes and resets): a GCRA limiter (`governor`) keyed by the client's address,
//! answering 429 with `Retry-After` in the route's dialect.
//!
//! It complements the per-account lockout (rule 9): the lockout stops guessing one
//! account's password, this stops one client from guessing many accounts', or from making
//! the service hash without end.
//!
//! The client is the one [`crate::proxies::TrustedProxies::client`] names (the TCP peer,
//! or behind trusted proxies the address they forwarded).

use std::marker::PhantomData;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::state::AppState;

/// The limits, from configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per minute a client may sustain.
    pub per_minute: NonZeroU32,
    /// Requests a client may make at once before the pace applies.
    pub burst: NonZeroU32,
}

/// The limiter shared by every worker (it lives in [`AppState`]).
#[derive(Debug)]
pub struct Throttle {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
}

/// Checks between two sweeps of the clients whose budget is full again: bounds the map to
/// the clients of the last minutes, at a cost spread over the requests.
const SWEEP_EVERY: u64 = 4096;

impl Throttle {
    /// A limiter with these limits.
    pub fn new(limits: &RateLimits) -> Self {
        let quota = Quota::per_minute(limits.per_minute).allow_burst(limits.burst);
        Self {
            limiter: RateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one request of `client`; `Err` with the wait when it is over its limit.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Extractor that admits the request or answers 429 in dialect `D`; a no-op when the
/// state has no [`Throttle`] (rate limiting disabled) or the peer is unknown (a Unix
/// socket, tests).
pub struct Limited<D>(PhantomData<fn() -> D>);

impl<D> std::fmt::Debug for Limited<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limited")
    }
}

impl<D: crate::dialect::Dialect> FromRequest for Limited<D> {
    type Error = ApiError<D>;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>();
        let throttle = state.and_then(|state| state.throttle.as_ref().map(|t| (state, t)));
        let verdict = match (throttle, req.peer_addr()) {
            (Some((state, throttle)), Some(peer)) => throttle
                .check(state.proxies.client(peer.ip(), req.headers()))
                .map_err(ApiError::rate_limited),
            _ => Ok(()),
        };
        std::future::ready(verdict.map(|()| Self(PhantomData)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn limits(per_minute: u32, burst: u32) -> RateLimits {
        RateLimits {
            per_minute: NonZeroU32::new(per_minute).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_burst_then_429_with_the_wait() {
        let throttle = Throttle::new(&limits(6, 2));
        let client = ip("192.0.2.1");
        assert!(throttle.check(client).is_ok());
        assert!(throttle.check(client).is_ok());
        let wait = throttle.check(client).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        // Another client has its own budget.
        assert!(throttle.check(ip("192.0.2.2")).is_ok());
    }
}
