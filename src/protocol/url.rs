//! Parsing `ws://` and `wss://` URLs (RFC 6455 section 3).

use std::fmt;
use std::net::Ipv6Addr;

/// A parsed WebSocket URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// `true` for `wss://`.
    pub secure: bool,
    /// Host name or IP literal, without the brackets of an IPv6 literal.
    pub host: String,
    /// Port: explicit, or 80 for ws / 443 for wss.
    pub port: u16,
    /// Path, starting with `/` (`/` when the URL has none).
    pub path: String,
    /// Query without the `?` (empty when none).
    pub query: String,
}

/// Why a URL was refused, as a human sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(pub String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UrlError {}

fn err(message: impl Into<String>) -> UrlError {
    UrlError(message.into())
}

/// Percent-encodes the bytes of `s` that may not appear verbatim in a request
/// target (non-ASCII and characters such as `"` `<` `>` `\` `^` `` ` `` `{` `|`
/// `}` `[` `]`). Existing `%XX` escapes are kept as they are.
fn encode_target_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
                    | b'?'
                    | b'%'
            );
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses a `ws://` or `wss://` URL.
///
/// The scheme is case-insensitive. The host is required (an IPv6 literal goes
/// in brackets and is stored without them); the port defaults to 80 (`ws`) or
/// 443 (`wss`); the path defaults to `/`. A fragment, user information,
/// whitespace or control characters are refused. Characters that cannot appear
/// verbatim in an HTTP request target (for example non-ASCII text) are
/// percent-encoded in the path and query.
pub fn parse(url: &str) -> Result<WsUrl, UrlError> {
    if url.is_empty() {
        return Err(err(
            "the URL is empty (expected ws://host/path or wss://host/path)",
        ));
    }
    if let Some(c) = url.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(err(format!(
            "the URL '{}' contains whitespace or a control character ({:?})",
            url.escape_debug(),
            c
        )));
    }
    let (scheme, rest) = match url.find(':') {
        Some(i) => (&url[..i], &url[i + 1..]),
        None => return Err(err(format!("'{url}' has no scheme (use ws:// or wss://)"))),
    };
    let secure = if scheme.eq_ignore_ascii_case("ws") {
        false
    } else if scheme.eq_ignore_ascii_case("wss") {
        true
    } else if scheme.is_empty() {
        return Err(err(format!("'{url}' has no scheme (use ws:// or wss://)")));
    } else {
        return Err(err(format!(
            "unsupported scheme '{scheme}' (use ws:// or wss://)"
        )));
    };
    if url.contains('#') {
        return Err(err(format!(
            "the URL '{url}' has a fragment ('#'), which WebSocket URLs must not have (RFC 6455 section 3)"
        )));
    }
    let rest = rest.strip_prefix("//").ok_or_else(|| {
        err(format!(
            "the URL '{url}' is missing '//' after '{scheme}:' (expected {scheme}://host/path)"
        ))
    })?;

    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(err(format!(
            "the URL '{url}' contains user information ('user@'), which WebSocket URLs do not support"
        )));
    }

    let (host, port_str) = if let Some(after_bracket) = authority.strip_prefix('[') {
        let close = after_bracket.find(']').ok_or_else(|| {
            err(format!(
                "the URL '{url}' has an IPv6 address without its closing ']'"
            ))
        })?;
        let host = &after_bracket[..close];
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(err(format!(
                "'[{host}]' in the URL '{url}' is not a valid IPv6 address"
            )));
        }
        let after = &after_bracket[close + 1..];
        let port_str = if after.is_empty() {
            None
        } else if let Some(p) = after.strip_prefix(':') {
            Some(p)
        } else {
            return Err(err(format!(
                "unexpected '{after}' after the IPv6 address in the URL '{url}' (expected ':port')"
            )));
        };
        (host, port_str)
    } else {
        let (host, port_str) = match authority.find(':') {
            Some(i) => (&authority[..i], Some(&authority[i + 1..])),
            None => (authority, None),
        };
        if port_str.is_some_and(|p| p.contains(':')) {
            return Err(err(format!(
                "the host in the URL '{url}' has more than one ':' (IPv6 addresses must be written in brackets, e.g. ws://[::1]:9001/)"
            )));
        }
        if host.is_empty() {
            return Err(err(format!("the URL '{url}' has no host")));
        }
        if let Some(c) = host
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
        {
            return Err(err(format!(
                "the host '{host}' in the URL '{url}' contains the invalid character '{c}'"
            )));
        }
        (host, port_str)
    };
    if host.is_empty() {
        return Err(err(format!("the URL '{url}' has no host")));
    }

    let port = match port_str {
        None => {
            if secure {
                443
            } else {
                80
            }
        }
        Some("") => {
            return Err(err(format!(
                "the URL '{url}' has a ':' but no port number after it"
            )))
        }
        Some(p) => {
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(format!(
                    "the port '{p}' in the URL '{url}' is not a number"
                )));
            }
            let trimmed = p.trim_start_matches('0');
            match trimmed.parse::<u16>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(err(format!(
                        "the port '{p}' in the URL '{url}' is out of range (1-65535)"
                    )))
                }
            }
        }
    };

    let (path, query) = match target.find('?') {
        Some(i) => (&target[..i], &target[i + 1..]),
        None => (target, ""),
    };
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        encode_target_part(path)
    };
    let query = encode_target_part(query);

    Ok(WsUrl {
        secure,
        host: host.to_string(),
        port,
        path,
        query,
    })
}

impl WsUrl {
    /// The request target: path plus `?query` when there is a query.
    pub fn resource(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// The `Host` header value: host (bracketed if IPv6), plus `:port` when not the default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default_port = if self.secure { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> WsUrl {
        parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    fn bad(url: &str) -> String {
        match parse(url) {
            Ok(u) => panic!("{url} unexpectedly parsed as {u:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn simple_ws() {
        let u = ok("ws://example.com/chat");
        assert_eq!(
            u,
            WsUrl {
                secure: false,
                host: "example.com".into(),
                port: 80,
                path: "/chat".into(),
                query: String::new(),
            }
        );
        assert_eq!(u.resource(), "/chat");
        assert_eq!(u.host_header(), "example.com");
    }

    #[test]
    fn simple_wss_defaults() {
        let u = ok("wss://example.com");
        assert!(u.secure);
        assert_eq!(u.port, 443);
        assert_eq!(u.path, "/");
        assert_eq!(u.query, "");
        assert_eq!(u.resource(), "/");
        assert_eq!(u.host_header(), "example.com");
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert!(!ok("WS://h/").secure);
        assert!(ok("WsS://h/").secure);
        assert!(ok("wSs://h").secure);
    }

    #[test]
    fn unsupported_schemes() {
        assert_eq!(
            bad("http://example.com/"),
            "unsupported scheme 'http' (use ws:// or wss://)"
        );
        assert!(bad("https://example.com/").contains("unsupported scheme 'https'"));
        assert!(bad("ftp://x").contains("unsupported scheme"));
        assert!(bad("example.com").contains("no scheme"));
        assert!(bad("://example.com").contains("no scheme"));
        assert!(bad("ws:example.com").contains("missing '//'"));
        assert!(bad("ws:/example.com").contains("missing '//'"));
        assert!(bad("").contains("empty"));
    }

    #[test]
    fn explicit_ports() {
        let u = ok("ws://localhost:9001/x");
        assert_eq!(u.port, 9001);
        assert_eq!(u.host_header(), "localhost:9001");
        let u = ok("wss://h:443/");
        assert_eq!(u.port, 443);
        assert_eq!(u.host_header(), "h");
        let u = ok("ws://h:443/");
        assert_eq!(u.host_header(), "h:443");
        let u = ok("wss://h:80/");
        assert_eq!(u.host_header(), "h:80");
        assert_eq!(ok("ws://h:1").port, 1);
        assert_eq!(ok("ws://h:65535").port, 65535);
        assert_eq!(ok("ws://h:08080").port, 8080);
        assert_eq!(ok("ws://h:8080?a=b").port, 8080);
    }

    #[test]
    fn bad_ports() {
        assert!(bad("ws://h:0/").contains("out of range"));
        assert!(bad("ws://h:65536/").contains("out of range"));
        assert!(bad("ws://h:99999999999999999999/").contains("out of range"));
        assert!(bad("ws://h:000/").contains("out of range"));
        assert!(bad("ws://h:/").contains("no port"));
        assert!(bad("ws://h:abc/").contains("not a number"));
        assert!(bad("ws://h:-1/").contains("not a number"));
        assert!(bad("ws://h:+80/").contains("not a number"));
        assert!(bad("ws://h:1:2/").contains("brackets"));
    }

    #[test]
    fn ipv6() {
        let u = ok("ws://[::1]:9001/x");
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, 9001);
        assert_eq!(u.path, "/x");
        assert_eq!(u.host_header(), "[::1]:9001");
        let u = ok("wss://[2001:db8::7]");
        assert_eq!(u.host, "2001:db8::7");
        assert_eq!(u.port, 443);
        assert_eq!(u.host_header(), "[2001:db8::7]");
        let u = ok("ws://[::ffff:192.0.2.1]?q");
        assert_eq!(u.host, "::ffff:192.0.2.1");
        assert_eq!(u.path, "/");
        assert_eq!(u.query, "q");
    }

    #[test]
    fn bad_ipv6() {
        assert!(bad("ws://[::1/").contains("closing ']'"));
        assert!(bad("ws://[nothex]/").contains("not a valid IPv6"));
        assert!(bad("ws://[1.2.3.4]/").contains("not a valid IPv6"));
        assert!(bad("ws://[]/").contains("not a valid IPv6"));
        assert!(bad("ws://[::1]x/").contains("after the IPv6"));
        assert!(bad("ws://[::1]:/").contains("no port"));
        assert!(bad("ws://::1/").contains("brackets"));
    }

    #[test]
    fn ipv4_and_names() {
        let u = ok("ws://127.0.0.1:8080/");
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.host_header(), "127.0.0.1:8080");
        let u = ok("ws://Example.COM/");
        assert_eq!(u.host, "Example.COM");
        assert_eq!(ok("ws://my_host-1.local/").host, "my_host-1.local");
    }

    #[test]
    fn empty_host() {
        assert!(bad("ws:///path").contains("no host"));
        assert!(bad("ws://").contains("no host"));
        assert!(bad("ws://:80/").contains("no host"));
        assert!(bad("ws://?q").contains("no host"));
    }

    #[test]
    fn invalid_host_chars() {
        assert!(bad("ws://exa%6Dple.com/").contains("invalid character '%'"));
        assert!(bad("ws://h!st/").contains("invalid character '!'"));
        assert!(bad("ws://hé.com/").contains("invalid character 'é'"));
    }

    #[test]
    fn path_and_query() {
        let u = ok("ws://h/a/b?x=1&y=2");
        assert_eq!(u.path, "/a/b");
        assert_eq!(u.query, "x=1&y=2");
        assert_eq!(u.resource(), "/a/b?x=1&y=2");

        let u = ok("ws://h?x=1");
        assert_eq!(u.path, "/");
        assert_eq!(u.query, "x=1");
        assert_eq!(u.resource(), "/?x=1");

        let u = ok("ws://h/p?");
        assert_eq!(u.query, "");
        assert_eq!(u.resource(), "/p");

        let u = ok("ws://h/p?a?b/c");
        assert_eq!(u.path, "/p");
        assert_eq!(u.query, "a?b/c");

        let u = ok("ws://h/p%20q:@;=");
        assert_eq!(u.path, "/p%20q:@;=");
    }

    #[test]
    fn unsafe_target_chars_are_percent_encoded() {
        let u = ok("ws://h/caf\u{e9}?q=\u{e9}|x");
        assert_eq!(u.path, "/caf%C3%A9");
        assert_eq!(u.query, "q=%C3%A9%7Cx");
        assert_eq!(ok("ws://h/a\"b<c>").path, "/a%22b%3Cc%3E");
    }

    #[test]
    fn fragment_is_refused() {
        assert!(bad("ws://h/p#frag").contains("fragment"));
        assert!(bad("ws://h/#").contains("fragment"));
        assert!(bad("ws://h/p?q#f").contains("RFC 6455"));
    }

    #[test]
    fn userinfo_is_refused() {
        assert!(bad("ws://user@h/").contains("user information"));
        assert!(bad("ws://user:pw@h:80/").contains("user information"));
        // '@' in the path is fine.
        assert_eq!(ok("ws://h/a@b").path, "/a@b");
    }

    #[test]
    fn whitespace_and_controls_are_refused() {
        assert!(bad("ws://h/a b").contains("whitespace"));
        assert!(bad(" ws://h/").contains("whitespace"));
        assert!(bad("ws://h/\n").contains("whitespace"));
        assert!(bad("ws://h/\t").contains("whitespace"));
        assert!(bad("ws://h/\0").contains("control"));
        assert!(bad("ws://h/\u{7f}").contains("control"));
        assert!(bad("ws://h/\u{a0}").contains("whitespace"));
    }

    #[test]
    fn error_is_std_error() {
        let e: Box<dyn std::error::Error> = Box::new(parse("http://x").unwrap_err());
        assert!(e.to_string().starts_with("unsupported scheme"));
    }
}
