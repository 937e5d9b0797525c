//! Per-client-IP rate limiting of the routes that check or set a password (login, register,
//! password changes and resets): a GCRA limiter (`governor`) keyed by the client's address,
//! answering 429 with `Retry-After` in the route's dialect.
//!
//! It complements the per-account lockout (rule 9): the lockout stops guessing one
//! account's password, this stops one client from guessing many accounts', or from making
//! the service hash without end.
//!
//! The client is the TCP peer, unless the peer is a configured trusted proxy: then it is
//! the right-most address of `X-Forwarded-For` that is not itself a trusted proxy (what a
//! client writes to the left of the proxies' entries is never believed).

use std::marker::PhantomData;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, X_FORWARDED_FOR};
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
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Network>,
}

/// An IP network (`10.0.0.0/8`, `::1/128`), or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `a.b.c.d`, `a.b.c.d/n`, an IPv6 address, or one with `/n`.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self {
            addr: addr.to_canonical(),
            prefix,
        })
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => (u128::from(v4.to_bits()), 32),
            IpAddr::V6(v6) => (v6.to_bits(), 128),
        };
        let ((net, width), (candidate, candidate_width)) =
            (bits(self.addr), bits(ip.to_canonical()));
        if width != candidate_width {
            return false;
        }
        let host_bits = u32::from(width - self.prefix);
        net.checked_shr(host_bits) == candidate.checked_shr(host_bits)
    }
}

/// The limiter shared by every worker (it lives in [`AppState`]).
#[derive(Debug)]
pub struct Throttle {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    trusted: Vec<Network>,
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
            trusted: limits.trusted_proxies.clone(),
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

    /// The client of a request from `peer` with these headers (see the module docs).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.is_trusted(client) {
            return client;
        }
        let hops = headers
            .get_all(X_FORWARDED_FOR)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            // An unreadable hop ends the walk: nothing to its left can be trusted.
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = ip.to_canonical();
            if !self.is_trusted(client) {
                break;
            }
        }
        client
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(ip))
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
        let throttle = req
            .app_data::<web::Data<AppState>>()
            .and_then(|state| state.throttle.as_ref());
        let verdict = match (throttle, req.peer_addr()) {
            (Some(throttle), Some(peer)) => throttle
                .check(throttle.client(peer.ip(), req.headers()))
                .map_err(ApiError::rate_limited),
            _ => Ok(()),
        };
        std::future::ready(verdict.map(|()| Self(PhantomData)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use actix_web::http::header::HeaderValue;

    use super::*;

    fn limits(per_minute: u32, burst: u32, trusted: &[&str]) -> RateLimits {
        RateLimits {
            per_minute: NonZeroU32::new(per_minute).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
            trusted_proxies: trusted.iter().map(|t| Network::parse(t).unwrap()).collect(),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn networks_parse_and_contain() {
        let net = Network::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.255.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(
            net.contains(ip("::ffff:10.1.0.9")),
            "IPv4-mapped IPv6 is the same host"
        );
        assert!(!net.contains(ip("::1")));
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("203.0.113.9"))
        );
        assert!(Network::parse("::1").unwrap().contains(ip("::1")));
        assert!(Network::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
            "proxy.local",
            "10.0.0/8",
        ] {
            assert!(Network::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_burst_then_429_with_the_wait() {
        let throttle = Throttle::new(&limits(6, 2, &[]));
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

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let throttle = Throttle::new(&limits(60, 10, &["10.0.0.0/8"]));
        let spoofed = forwarded(&["198.51.100.7"]);
        assert_eq!(
            throttle.client(ip("203.0.113.5"), &spoofed),
            ip("203.0.113.5")
        );
        assert_eq!(
            throttle.client(ip("10.0.0.2"), &spoofed),
            ip("198.51.100.7")
        );
        // The right-most untrusted hop wins: what the client wrote on the left is ignored.
        let chain = forwarded(&["1.2.3.4, 198.51.100.7", "10.0.0.9"]);
        assert_eq!(throttle.client(ip("10.0.0.2"), &chain), ip("198.51.100.7"));
        // Garbage stops the walk at the nearest trusted hop.
        let garbage = forwarded(&["198.51.100.7, not-an-ip, 10.0.0.9"]);
        assert_eq!(throttle.client(ip("10.0.0.2"), &garbage), ip("10.0.0.9"));
        // No header: the proxy itself.
        assert_eq!(
            throttle.client(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }
}
