//! Who the client of a request is: the TCP peer, unless the peer is a configured trusted
//! proxy; then the right-most address of `X-Forwarded-For` that is not itself a trusted
//! proxy (what a client writes to the left of the proxies' entries is never believed).
//! The rate limiter counts requests per client, and audit events record it.

use std::net::IpAddr;

use actix_web::http::header::{HeaderMap, X_FORWARDED_FOR};

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

/// The reverse proxies whose `X-Forwarded-For` is believed; none by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    trusted: Vec<Network>,
}

impl TrustedProxies {
    /// The proxies in these networks.
    pub fn new(trusted: Vec<Network>) -> Self {
        Self { trusted }
    }

    /// A comma-separated list of addresses and networks (empty: none).
    ///
    /// # Errors
    /// The message of the first entry that is not an address or a network.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(Network::parse)
            .collect::<Result<_, _>>()
            .map(Self::new)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use actix_web::http::header::HeaderValue;

    use super::*;

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
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let spoofed = forwarded(&["198.51.100.7"]);
        assert_eq!(
            proxies.client(ip("203.0.113.5"), &spoofed),
            ip("203.0.113.5")
        );
        assert_eq!(proxies.client(ip("10.0.0.2"), &spoofed), ip("198.51.100.7"));
        // The right-most untrusted hop wins: what the client wrote on the left is ignored.
        let chain = forwarded(&["1.2.3.4, 198.51.100.7", "10.0.0.9"]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &chain), ip("198.51.100.7"));
        // Garbage stops the walk at the nearest trusted hop.
        let garbage = forwarded(&["198.51.100.7, not-an-ip, 10.0.0.9"]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &garbage), ip("10.0.0.9"));
        // No header: the proxy itself.
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }
}
