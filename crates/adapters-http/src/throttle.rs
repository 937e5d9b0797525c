//! The budgets of password attempts (`domain::ports::RateLimiter`): GCRA limiters
//! (`governor`), one keyed by client, one keyed by account. The domain asks before every
//! use case that verifies or sets a password hashes anything (logins, registration,
//! password changes, own-account deletion, resets, an administrator's password set), so no
//! route can forget them; the refusal is `DomainError::RateLimited`, which both dialects
//! render as 429 with `Retry-After`.
//!
//! They complement the per-account lockout (rule 9): the lockout stops guessing one
//! account's password, the client budget stops one client from guessing many accounts' or
//! making the service hash without end, and the account budget stops many clients (a
//! botnet) from spending one account's attempts, successes included.
//!
//! Clients are grouped by network: an IPv4 address is one client (/32 by default), an IPv6
//! client by its /64 (default), since one host usually holds a whole /64 and could
//! otherwise take a fresh address per attempt. The client is the one
//! [`crate::proxies::TrustedProxies::client`] names (the TCP peer, or behind trusted proxies
//! the address they forwarded).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use domain::ports::{LimitScope, RateLimiter};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter as Gcra};

/// One budget: a sustained pace and a burst.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Attempts per minute that may be sustained.
    pub per_minute: NonZeroU32,
    /// Attempts that may be made at once before the pace applies.
    pub burst: NonZeroU32,
}

/// The limits, from configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Per client (network, see the module docs).
    pub client: Budget,
    /// Per account.
    pub account: Budget,
    /// Prefix length grouping IPv4 clients (32: one address).
    pub ipv4_prefix: u8,
    /// Prefix length grouping IPv6 clients (64 by default).
    pub ipv6_prefix: u8,
}

/// Both limiters, shared by every worker.
#[derive(Debug)]
pub struct Throttle {
    clients: DefaultKeyedRateLimiter<IpAddr>,
    accounts: DefaultKeyedRateLimiter<String>,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
    checks: AtomicU64,
}

/// Checks between two sweeps of the keys whose budget is full again: bounds the maps to
/// the clients and accounts of the last minutes, at a cost spread over the requests.
const SWEEP_EVERY: u64 = 4096;

fn quota(budget: &Budget) -> Quota {
    Quota::per_minute(budget.per_minute).allow_burst(budget.burst)
}

/// `ip` with every bit past `prefix` cleared: the network that stands for its client.
pub fn network_of(ip: IpAddr, ipv4_prefix: u8, ipv6_prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let host_bits = 32 - u32::from(ipv4_prefix.min(32));
            let mask = u32::MAX.checked_shl(host_bits).unwrap_or(0);
            IpAddr::V4((v4.to_bits() & mask).into())
        }
        IpAddr::V6(v6) => {
            let host_bits = 128 - u32::from(ipv6_prefix.min(128));
            let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
            IpAddr::V6((v6.to_bits() & mask).into())
        }
    }
}

impl Throttle {
    /// Limiters with these limits.
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            clients: Gcra::keyed(quota(&limits.client)),
            accounts: Gcra::keyed(quota(&limits.account)),
            ipv4_prefix: limits.ipv4_prefix,
            ipv6_prefix: limits.ipv6_prefix,
            checks: AtomicU64::new(0),
        }
    }

    fn wait(not_until: &governor::NotUntil<<DefaultClock as Clock>::Instant>) -> Duration {
        not_until.wait_time_from(DefaultClock::default().now())
    }
}

impl RateLimiter for Throttle {
    fn check(&self, scope: LimitScope, key: &str) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.clients.retain_recent();
            self.clients.shrink_to_fit();
            self.accounts.retain_recent();
            self.accounts.shrink_to_fit();
        }
        match scope {
            LimitScope::Client => {
                // The request context names clients by address; anything else (a test's
                // label) is counted as one client of its own.
                let Ok(ip) = key.parse::<IpAddr>() else {
                    return self
                        .accounts
                        .check_key(&format!("client:{key}"))
                        .map_err(|n| Self::wait(&n));
                };
                let network = network_of(ip, self.ipv4_prefix, self.ipv6_prefix);
                self.clients.check_key(&network).map_err(|n| Self::wait(&n))
            }
            LimitScope::Account => self
                .accounts
                .check_key(&key.to_owned())
                .map_err(|n| Self::wait(&n)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn budget(per_minute: u32, burst: u32) -> Budget {
        Budget {
            per_minute: NonZeroU32::new(per_minute).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    fn throttle(burst: u32) -> Throttle {
        Throttle::new(&RateLimits {
            client: budget(6, burst),
            account: budget(6, burst),
            ipv4_prefix: 32,
            ipv6_prefix: 64,
        })
    }

    #[test]
    fn the_burst_then_the_wait() {
        let throttle = throttle(2);
        let client = "192.0.2.1";
        assert!(throttle.check(LimitScope::Client, client).is_ok());
        assert!(throttle.check(LimitScope::Client, client).is_ok());
        let wait = throttle.check(LimitScope::Client, client).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        // Another client, and any account, have their own budgets.
        assert!(throttle.check(LimitScope::Client, "192.0.2.2").is_ok());
        assert!(throttle.check(LimitScope::Account, client).is_ok());
    }

    #[test]
    fn ipv6_clients_share_their_64_and_ipv4_ones_do_not_share_a_24() {
        let throttle = throttle(1);
        assert!(
            throttle
                .check(LimitScope::Client, "2001:db8:1:2::1")
                .is_ok()
        );
        assert!(
            throttle
                .check(LimitScope::Client, "2001:db8:1:2:ffff::9")
                .is_err()
        );
        assert!(
            throttle
                .check(LimitScope::Client, "2001:db8:1:3::1")
                .is_ok()
        );
        assert!(throttle.check(LimitScope::Client, "198.51.100.1").is_ok());
        assert!(throttle.check(LimitScope::Client, "198.51.100.2").is_ok());
        // An IPv4-mapped IPv6 address is its IPv4 client.
        assert!(
            throttle
                .check(LimitScope::Client, "::ffff:198.51.100.1")
                .is_err()
        );
    }

    #[test]
    fn networks_mask_the_host_bits() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(network_of(ip("10.1.2.3"), 24, 64), ip("10.1.2.0"));
        assert_eq!(network_of(ip("10.1.2.3"), 32, 64), ip("10.1.2.3"));
        assert_eq!(network_of(ip("10.1.2.3"), 0, 64), ip("0.0.0.0"));
        assert_eq!(network_of(ip("2001:db8::1:2:3"), 32, 48), ip("2001:db8::"));
        assert_eq!(network_of(ip("2001:db8::1"), 32, 128), ip("2001:db8::1"));
    }
}
