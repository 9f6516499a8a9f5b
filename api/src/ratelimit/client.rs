//! Who the client is: the socket peer, or, only when the peer is one of the
//! configured trusted proxies (the ingress), the right-most address in the
//! forwarding header that is not itself a trusted proxy.
//!
//! Anyone can send `X-Forwarded-For` or `Forwarded`; a proxy appends the
//! address it saw to what it was sent. So only the hops added by proxies we
//! trust mean anything, and those are at the right-hand end: everything left of
//! the first untrusted hop (reading from the right) may be made up. Only the one
//! header the proxies are configured to set is read, since a proxy that sets one
//! passes the other through from the client untouched.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};
use axum::middleware::Next;
use axum::response::Response;
use clap::ValueEnum;
use ipnet::IpNet;

use crate::state::AppState;

/// The forwarding header the trusted proxies set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (what the Kubernetes NGINX ingress sets).
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1, …`.
    Forwarded,
}

impl ForwardedHeader {
    fn name(self) -> HeaderName {
        match self {
            Self::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            Self::Forwarded => HeaderName::from_static("forwarded"),
        }
    }
}

/// A trusted proxy: one address or a network (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(IpNet);

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        raw.parse::<IpNet>()
            .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
            .map(|net| Self(net.trunc()))
            .map_err(|_| format!("{raw:?} is not an IP address or network like 10.0.0.0/8"))
    }
}

/// How the client address of a request is decided.
#[derive(Debug, Clone)]
pub struct ClientAddressRule {
    trusted: Vec<IpNet>,
    header: ForwardedHeader,
}

impl Default for ClientAddressRule {
    /// Trusts no proxy: the socket peer is the client.
    fn default() -> Self {
        Self::new(&[], ForwardedHeader::XForwardedFor)
    }
}

impl ClientAddressRule {
    /// Honours `header` from peers in `trusted` only.
    pub fn new(trusted: &[TrustedProxy], header: ForwardedHeader) -> Self {
        Self {
            trusted: trusted.iter().map(|p| p.0).collect(),
            header,
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client behind a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let hops: Vec<Option<IpAddr>> = headers
            .get_all(self.header.name())
            .iter()
            .flat_map(|value| match value.to_str() {
                Ok(value) => value.split(',').map(|hop| self.hop(hop)).collect(),
                Err(_) => vec![None],
            })
            .collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            match hop {
                // Whatever lies left of a hop we cannot read was not vouched
                // for: the last proxy we trust is as far as we can see.
                None => return client,
                Some(ip) => {
                    client = ip.to_canonical();
                    if !self.is_trusted(client) {
                        return client;
                    }
                }
            }
        }
        client
    }

    /// One hop of the header: an address, possibly with a port; `None` for
    /// `unknown`, obfuscated identifiers or garbage.
    fn hop(&self, raw: &str) -> Option<IpAddr> {
        let raw = match self.header {
            ForwardedHeader::XForwardedFor => raw.trim(),
            ForwardedHeader::Forwarded => raw
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                .map(|(_, value)| value.trim().trim_matches('"'))?,
        };
        if let Ok(ip) = raw.parse::<IpAddr>() {
            return Some(ip);
        }
        if let Ok(addr) = raw.parse::<SocketAddr>() {
            return Some(addr.ip());
        }
        raw.strip_prefix('[')
            .and_then(|v6| v6.strip_suffix(']'))
            .and_then(|v6| v6.parse().ok())
    }
}

/// The client's address as the [`ClientAddressRule`] decided it, or `None`
/// when the server was not started with connect info (so it has no peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

/// Middleware: decides each request's client address once, for the rate
/// limits and the hashed address in event metadata alike.
pub async fn resolve(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = peer.map(|peer| state.client_addresses.client(peer, request.headers()));
    request.extensions_mut().insert(ClientAddr(client));
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(client) = parts.extensions.get::<ClientAddr>() {
            return Ok(*client);
        }
        // Served without the middleware: the socket peer, if known.
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_canonical()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().expect("an address")
    }

    fn rule(trusted: &[&str], header: ForwardedHeader) -> ClientAddressRule {
        let trusted: Vec<TrustedProxy> = trusted
            .iter()
            .map(|t| t.parse().expect("a proxy"))
            .collect();
        ClientAddressRule::new(&trusted, header)
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).expect("a name"),
                HeaderValue::from_str(value).expect("a value"),
            );
        }
        headers
    }

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_it_claims() {
        let rule = rule(&[], XFF);
        let spoofed = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            rule.client(ip("198.51.100.7"), &spoofed),
            ip("198.51.100.7")
        );
        let spoofed = headers("forwarded", &["for=203.0.113.9"]);
        assert_eq!(
            rule.client(ip("198.51.100.7"), &spoofed),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_borrow_trust_by_naming_a_proxy() {
        let rule = rule(&["10.0.0.0/8"], XFF);
        let spoofed = headers("x-forwarded-for", &["203.0.113.9, 10.0.0.2"]);
        assert_eq!(
            rule.client(ip("198.51.100.7"), &spoofed),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_address_it_saw_is_the_client() {
        let rule = rule(&["10.0.0.0/8"], XFF);
        let forwarded = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(rule.client(ip("10.1.2.3"), &forwarded), ip("203.0.113.9"));
    }

    #[test]
    fn addresses_a_client_prepends_do_not_move_it_out_of_its_bucket() {
        // The client sent "1.2.3.4"; the ingress appended what it saw.
        let rule = rule(&["10.0.0.0/8"], XFF);
        let forwarded = headers("x-forwarded-for", &["1.2.3.4, 203.0.113.9"]);
        assert_eq!(rule.client(ip("10.1.2.3"), &forwarded), ip("203.0.113.9"));
        // Also when the client's header line stays separate.
        let forwarded = headers("x-forwarded-for", &["1.2.3.4", "203.0.113.9"]);
        assert_eq!(rule.client(ip("10.1.2.3"), &forwarded), ip("203.0.113.9"));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_hop() {
        let rule = rule(&["10.0.0.0/8", "192.0.2.1"], XFF);
        let forwarded = headers(
            "x-forwarded-for",
            &["6.6.6.6, 203.0.113.9, 192.0.2.1, 10.0.0.5"],
        );
        assert_eq!(rule.client(ip("10.1.2.3"), &forwarded), ip("203.0.113.9"));
    }

    #[test]
    fn when_every_hop_is_trusted_the_left_most_is_the_client() {
        let rule = rule(&["10.0.0.0/8"], XFF);
        let forwarded = headers("x-forwarded-for", &["10.9.9.9, 10.0.0.5"]);
        assert_eq!(rule.client(ip("10.1.2.3"), &forwarded), ip("10.9.9.9"));
        assert_eq!(
            rule.client(ip("10.1.2.3"), &HeaderMap::new()),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn garbage_in_the_chain_stops_the_walk_at_the_last_trusted_proxy() {
        let rule = rule(&["10.0.0.0/8"], XFF);
        let forwarded = headers(
            "x-forwarded-for",
            &["203.0.113.9, not-an-address, 10.0.0.5"],
        );
        assert_eq!(rule.client(ip("10.1.2.3"), &forwarded), ip("10.0.0.5"));
        let forwarded = headers("x-forwarded-for", &["unknown"]);
        assert_eq!(rule.client(ip("10.1.2.3"), &forwarded), ip("10.1.2.3"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // The ingress appends X-Forwarded-For; a Forwarded header can only come
        // from the client.
        let rule = rule(&["10.0.0.0/8"], XFF);
        let mut both = headers("x-forwarded-for", &["203.0.113.9"]);
        both.append("forwarded", HeaderValue::from_static("for=1.2.3.4"));
        assert_eq!(rule.client(ip("10.1.2.3"), &both), ip("203.0.113.9"));
        let only_forwarded = headers("forwarded", &["for=1.2.3.4"]);
        assert_eq!(rule.client(ip("10.1.2.3"), &only_forwarded), ip("10.1.2.3"));
    }

    #[test]
    fn rfc_7239_elements_are_read_with_quotes_ports_and_ipv6() {
        let rule = rule(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let forwarded = headers(
            "forwarded",
            &["for=1.2.3.4;proto=https, For=\"[2001:db8:cafe::17]:4711\";by=10.0.0.1"],
        );
        assert_eq!(
            rule.client(ip("10.1.2.3"), &forwarded),
            ip("2001:db8:cafe::17")
        );
        let forwarded = headers("forwarded", &["for=192.0.2.60:8080"]);
        assert_eq!(rule.client(ip("10.1.2.3"), &forwarded), ip("192.0.2.60"));
        let obfuscated = headers("forwarded", &["for=_hidden, for=10.0.0.7"]);
        assert_eq!(rule.client(ip("10.1.2.3"), &obfuscated), ip("10.0.0.7"));
        let without_for = headers("forwarded", &["proto=https"]);
        assert_eq!(rule.client(ip("10.1.2.3"), &without_for), ip("10.1.2.3"));
    }

    #[test]
    fn ipv4_mapped_peers_count_as_their_ipv4_address() {
        let rule = rule(&["10.0.0.1"], XFF);
        let forwarded = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            rule.client(ip("::ffff:10.0.0.1"), &forwarded),
            ip("203.0.113.9")
        );
        let rule = rule_none();
        assert_eq!(
            rule.client(ip("::ffff:198.51.100.7"), &forwarded),
            ip("198.51.100.7")
        );
    }

    fn rule_none() -> ClientAddressRule {
        ClientAddressRule::default()
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        assert!("10.0.0.1".parse::<TrustedProxy>().is_ok());
        assert!("10.0.0.0/8".parse::<TrustedProxy>().is_ok());
        assert!("fd00::/8".parse::<TrustedProxy>().is_ok());
        assert!("ingress".parse::<TrustedProxy>().is_err());
        assert!("10.0.0.0/33".parse::<TrustedProxy>().is_err());
    }
}
