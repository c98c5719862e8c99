//! Reading the proxy headers `X-Forwarded-For` and RFC 7239 `Forwarded` into hops, nearest
//! (rightmost) first. Pure parsing: which peers and which header are believed is
//! `client_ip`'s business.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;
use axum::http::header::FORWARDED;

use crate::config::ClientIpHeader;

/// `X-Forwarded-For`.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// One hop named by a proxy header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// An address (IPv4-mapped IPv6 addresses read as IPv4).
    Ip(IpAddr),
    /// `unknown`, an obfuscated identifier (`_hidden`), an element without `for=`, or
    /// anything unreadable.
    Unknown,
}

/// The hops of the one header `which` names (`TOKENMINT_CLIENT_IP_HEADER`), nearest first;
/// `None` when it is absent. The other header is never read: a proxy that writes one passes
/// the other on as the client sent it.
pub fn hops(headers: &HeaderMap, which: ClientIpHeader) -> Option<Vec<Hop>> {
    match which {
        ClientIpHeader::XForwardedFor => headers
            .contains_key(X_FORWARDED_FOR)
            .then(|| x_forwarded_for(headers)),
        ClientIpHeader::Forwarded => headers.contains_key(FORWARDED).then(|| forwarded(headers)),
    }
}

/// The hops of every `X-Forwarded-For` line, nearest first: `client, proxy1, proxy2`.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Hop> {
    headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .rev()
        .flat_map(|line| line.to_str().unwrap_or("").rsplit(','))
        .map(|item| node(item.trim()))
        .collect()
}

/// The `for=` hops of every `Forwarded` line, nearest first (RFC 7239 §4, §7.1).
fn forwarded(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for line in headers.get_all(FORWARDED).iter().rev() {
        let Ok(text) = line.to_str() else {
            hops.push(Hop::Unknown);
            continue;
        };
        hops.extend(split_unquoted(text, b',').into_iter().rev().map(element));
    }
    hops
}

/// The `for` parameter of one `Forwarded` element (`for=192.0.2.60;proto=http;by=…`).
fn element(element: &str) -> Hop {
    let value = split_unquoted(element, b';').into_iter().find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| unquote(value.trim()))
    });
    match value.as_deref() {
        // RFC 7239 §6.2, §6.3: no address to go by.
        None | Some("unknown") => Hop::Unknown,
        Some(obfuscated) if obfuscated.starts_with('_') => Hop::Unknown,
        Some(node_text) => node(node_text),
    }
}

/// A node: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`; a port may be obfuscated (`192.0.2.1:_abc`).
fn node(text: &str) -> Hop {
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            let (inner, rest) = text.strip_prefix('[')?.split_once(']')?;
            let port_or_nothing = rest.is_empty() || rest.starts_with(':');
            port_or_nothing
                .then(|| inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6))
                .flatten()
        })
        .or_else(|| {
            let (host, _port) = text.split_once(':')?;
            host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
        });
    ip.map_or(Hop::Unknown, |ip| Hop::Ip(ip.to_canonical()))
}

/// Splits on `separator` outside quoted strings (which may hold it, and `\"`).
fn split_unquoted(text: &str, separator: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, byte) in text.bytes().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match byte {
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            _ if byte == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A token as is; a quoted string without its quotes and escapes (RFC 7230 §3.2.6).
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or(c)
        } else {
            c
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(lines: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(*name, HeaderValue::from_bytes(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> Hop {
        Hop::Ip(text.parse().unwrap())
    }

    #[test]
    fn x_forwarded_for_lists_hops_nearest_first_across_lines() {
        let map = headers(&[
            (X_FORWARDED_FOR, b"203.0.113.9, 198.51.100.1"),
            (X_FORWARDED_FOR, b" 10.0.0.2 "),
        ]);
        assert_eq!(
            hops(&map, ClientIpHeader::XForwardedFor).unwrap(),
            [ip("10.0.0.2"), ip("198.51.100.1"), ip("203.0.113.9")]
        );
    }

    #[test]
    fn nodes_with_ports_brackets_and_mapped_addresses_are_read() {
        let cases = [
            ("192.0.2.1", ip("192.0.2.1")),
            ("192.0.2.1:4711", ip("192.0.2.1")),
            ("192.0.2.1:_port", ip("192.0.2.1")),
            ("2001:db8::1", ip("2001:db8::1")),
            ("[2001:db8::1]", ip("2001:db8::1")),
            ("[2001:db8::1]:4711", ip("2001:db8::1")),
            ("[2001:db8::1]:_port", ip("2001:db8::1")),
            ("::ffff:192.0.2.1", ip("192.0.2.1")),
            ("", Hop::Unknown),
            ("unknown", Hop::Unknown),
            ("_hidden", Hop::Unknown),
            ("example.com", Hop::Unknown),
            ("[2001:db8::1]x", Hop::Unknown),
            ("[192.0.2.1]", Hop::Unknown),
            ("300.0.0.1", Hop::Unknown),
            ("fe80::1%eth0", Hop::Unknown),
        ];
        for (text, expected) in cases {
            assert_eq!(node(text), expected, "{text:?}");
        }
    }

    #[test]
    fn forwarded_reads_for_in_quoted_and_plain_form() {
        let map = headers(&[(
            "forwarded",
            br#"for=192.0.2.43;proto=https, For="[2001:db8:cafe::17]:4711";by=10.0.0.1,for=unknown, proto=http;for="_gazonk""#,
        )]);
        assert_eq!(
            hops(&map, ClientIpHeader::Forwarded).unwrap(),
            [
                Hop::Unknown,
                Hop::Unknown,
                ip("2001:db8:cafe::17"),
                ip("192.0.2.43")
            ]
        );
    }

    #[test]
    fn forwarded_keeps_separators_inside_quotes_and_unescapes() {
        let map = headers(&[(
            "forwarded",
            br#"for=192.0.2.1;ext="a,b;c=\"d\"", for="\[2001:db8::2\]""#,
        )]);
        assert_eq!(
            hops(&map, ClientIpHeader::Forwarded).unwrap(),
            [ip("2001:db8::2"), ip("192.0.2.1")]
        );
    }

    #[test]
    fn forwarded_elements_without_a_readable_for_are_unknown() {
        for bad in [
            &b"proto=https"[..],
            b"for",
            b"for=\"[2001:db8::1]",
            b"for=\"\"",
            b"for=\xff\xfe",
        ] {
            let map = headers(&[("forwarded", bad)]);
            assert_eq!(
                hops(&map, ClientIpHeader::Forwarded).unwrap(),
                [Hop::Unknown],
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn only_the_configured_header_is_read_and_absence_is_none() {
        let map = headers(&[
            ("forwarded", b"for=192.0.2.1"),
            (X_FORWARDED_FOR, b"192.0.2.2"),
        ]);
        assert_eq!(
            hops(&map, ClientIpHeader::XForwardedFor).unwrap(),
            [ip("192.0.2.2")]
        );
        assert_eq!(
            hops(&map, ClientIpHeader::Forwarded).unwrap(),
            [ip("192.0.2.1")]
        );
        let only_xff = headers(&[(X_FORWARDED_FOR, b"192.0.2.2")]);
        assert_eq!(hops(&only_xff, ClientIpHeader::Forwarded), None);
        let only_forwarded = headers(&[("forwarded", b"for=192.0.2.1")]);
        assert_eq!(hops(&only_forwarded, ClientIpHeader::XForwardedFor), None);
        assert_eq!(hops(&HeaderMap::new(), ClientIpHeader::XForwardedFor), None);
        let unreadable = headers(&[(X_FORWARDED_FOR, b"192.0.2.3, \xff")]);
        assert_eq!(
            hops(&unreadable, ClientIpHeader::XForwardedFor).unwrap(),
            [Hop::Unknown]
        );
    }
}
