//! The client's address, resolved once per request by the request envelope and kept in the
//! request's extensions as [`ClientIp`]: the per-IP rate limits key on it, and sessions and
//! audit events record it (`extract::request_context`).
//!
//! The TCP peer is the client, unless it is one of `TOKENMINT_TRUSTED_PROXIES`. Then the one
//! proxy header `TOKENMINT_CLIENT_IP_HEADER` names is believed (`X-Forwarded-For` by default,
//! or `Forwarded`; see [`forwarded`]) — never the other, which the proxy passes on as the client
//! wrote it — walking from the nearest hop: each hop that is itself a trusted proxy is passed, and the
//! first that is not is the client. Headers from any other peer are ignored, so a client
//! cannot pick its own address. A hop that names no address (`unknown`, an obfuscated id,
//! garbage) ends the walk at the peer: nothing to the left of it can be vouched for. When every
//! hop is a trusted proxy, the farthest one is the client.
//!
//! [`forwarded`]: super::forwarded

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

use super::forwarded::{self, Hop};
use crate::config::ClientIpHeader;

/// The resolved client address of a request (an IPv4-mapped IPv6 peer reads as IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The client of a request from `peer`, believing `header` from `trusted` proxies (see the
/// module documentation).
pub fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[IpNet],
    header: ClientIpHeader,
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(hops) = forwarded::hops(headers, header) else {
        return peer;
    };
    let mut farthest = peer;
    for hop in hops {
        let Hop::Ip(ip) = hop else {
            return peer;
        };
        if !is_trusted(&ip) {
            return ip;
        }
        farthest = ip;
    }
    farthest
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::config::limits::parse_trusted_proxies;

    fn resolve(peer: &str, trusted: &str, header: Option<(&'static str, &str)>) -> String {
        let mut headers = HeaderMap::new();
        if let Some((name, value)) = header {
            headers.insert(name, HeaderValue::from_str(value).unwrap());
        }
        let trusted = parse_trusted_proxies(trusted).unwrap();
        let which = match header {
            Some(("forwarded", _)) => ClientIpHeader::Forwarded,
            _ => ClientIpHeader::XForwardedFor,
        };
        client_ip(peer.parse().unwrap(), &headers, &trusted, which).to_string()
    }

    const XFF: &str = "x-forwarded-for";

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let spoof = Some((XFF, "192.0.2.1"));
        assert_eq!(resolve("203.0.113.5", "", spoof), "203.0.113.5");
        assert_eq!(resolve("203.0.113.5", "10.0.0.0/8", spoof), "203.0.113.5");
        let forwarded = Some(("forwarded", "for=192.0.2.1"));
        assert_eq!(
            resolve("203.0.113.5", "10.0.0.0/8", forwarded),
            "203.0.113.5"
        );
    }

    #[test]
    fn a_trusted_peer_names_the_first_untrusted_hop_from_the_right() {
        let chain = Some((XFF, "6.6.6.6, 192.0.2.1, 10.0.0.7"));
        assert_eq!(resolve("10.0.0.1", "10.0.0.0/8", chain), "192.0.2.1");
        // Only the peer is trusted: the nearest hop is the client, whatever is left of it.
        assert_eq!(resolve("10.0.0.1", "10.0.0.1", chain), "10.0.0.7");
        let all_trusted = Some((XFF, "10.0.0.9, 10.0.0.8"));
        assert_eq!(resolve("10.0.0.1", "10.0.0.0/8", all_trusted), "10.0.0.9");
        assert_eq!(resolve("10.0.0.1", "10.0.0.0/8", None), "10.0.0.1");
    }

    #[test]
    fn an_unreadable_hop_falls_back_to_the_peer() {
        for value in ["unknown", "192.0.2.1, garbage", "192.0.2.1,", ""] {
            assert_eq!(
                resolve("10.0.0.1", "10.0.0.0/8", Some((XFF, value))),
                "10.0.0.1",
                "{value:?}"
            );
        }
        let obfuscated = Some(("forwarded", "for=_hidden"));
        assert_eq!(resolve("10.0.0.1", "10.0.0.0/8", obfuscated), "10.0.0.1");
        let unknown = Some(("forwarded", "for=192.0.2.1, for=unknown"));
        assert_eq!(resolve("10.0.0.1", "10.0.0.0/8", unknown), "10.0.0.1");
    }

    #[test]
    fn cidr_matching_respects_prefix_boundaries_in_both_families() {
        let xff = Some((XFF, "192.0.2.1"));
        assert_eq!(resolve("10.255.255.255", "10.0.0.0/8", xff), "192.0.2.1");
        assert_eq!(resolve("11.0.0.0", "10.0.0.0/8", xff), "11.0.0.0");
        assert_eq!(resolve("9.255.255.255", "10.0.0.0/8", xff), "9.255.255.255");
        assert_eq!(
            resolve("2001:db8:ffff::1", "2001:db8::/32", xff),
            "192.0.2.1"
        );
        assert_eq!(resolve("2001:db9::1", "2001:db8::/32", xff), "2001:db9::1");
        assert_eq!(resolve("::1", "::1", xff), "192.0.2.1");
        assert_eq!(resolve("::2", "::1", xff), "::2");
        // A dual-stack socket reports IPv4 peers as mapped IPv6 addresses.
        assert_eq!(
            resolve("::ffff:127.0.0.1", "127.0.0.1/32", xff),
            "192.0.2.1"
        );
        assert_eq!(
            resolve("::ffff:127.0.0.2", "127.0.0.1/32", xff),
            "127.0.0.2"
        );
    }

    #[test]
    fn forwarded_names_quoted_ipv6_clients() {
        let header = Some(("forwarded", "for=\"[2001:db8::1]:4711\";proto=https"));
        assert_eq!(resolve("10.0.0.1", "10.0.0.0/8", header), "2001:db8::1");
    }
}
