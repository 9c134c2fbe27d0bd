//! HTTP CONNECT proxies, sans-I/O: choosing a proxy from a URL or from the
//! environment variables curl reads (`https_proxy`, `http_proxy`, `all_proxy`,
//! `no_proxy`), building the `CONNECT` request and reading the proxy's answer.
//! The transport layer writes and reads the bytes; nothing here touches a socket.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use std::net::{IpAddr, Ipv6Addr};

/// Largest proxy answer head accepted, in bytes (16 KiB).
pub const MAX_CONNECT_HEAD: usize = 16 * 1024;

/// Port used when a proxy URL names none (curl's default).
const DEFAULT_PORT: u16 = 1080;

/// An HTTP proxy to tunnel through with CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// Proxy host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Proxy port.
    pub port: u16,
    /// Value of the `Proxy-Authorization` header (`Basic <base64>`) when the URL had user info.
    pub authorization: Option<String>,
}

// ---------------------------------------------------------------------------
// Proxy URLs
// ---------------------------------------------------------------------------

/// Parses a proxy URL: `http://[user[:password]@]host[:port][/]`, or `host[:port]` with no scheme
/// (taken as http). Default port 1080 (curl's). IPv6 literals in brackets. User and password are
/// percent-decoded before being base64-encoded for Basic auth. Refuses (Err with a clear sentence
/// naming the input) other schemes (https://, socks5://... : "not supported: only http:// proxies"),
/// empty host, bad port, a path other than "/", query or fragment.
///
/// The scheme is case-insensitive. User info without a password sends an empty
/// password (`user:`), as curl does. Error messages show the URL with its
/// password replaced by `***`, so they can be logged.
pub fn parse_proxy_url(url: &str) -> Result<Proxy, String> {
    let refuse = |why: &str| {
        let shown = redact_password(url).escape_debug().to_string();
        format!("the proxy URL '{shown}' {why}")
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refuse("contains whitespace or a control character"));
    }
    let (scheme, rest) = split_scheme(url);
    if scheme.is_some_and(|s| !s.eq_ignore_ascii_case("http")) {
        return Err(refuse("is not supported: only http:// proxies"));
    }
    let (authority, tail) = split_authority(rest);
    check_tail(tail).map_err(refuse)?;
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((user_info, host_port)) => (Some(user_info), host_port),
        None => (None, authority),
    };
    let (host, port) = parse_host_port(host_port).map_err(refuse)?;
    let authorization = user_info
        .map(basic_authorization)
        .transpose()
        .map_err(refuse)?;
    Ok(Proxy {
        host: host.to_string(),
        port,
        authorization,
    })
}

/// Splits `scheme://rest` into the scheme and the rest; `(None, url)` when
/// the URL does not start with a valid scheme followed by `://`.
fn split_scheme(url: &str) -> (Option<&str>, &str) {
    match url.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => (Some(scheme), rest),
        _ => (None, url),
    }
}

/// RFC 3986 scheme: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Splits what follows the scheme into the authority (`user@host:port`) and
/// the tail (path, query and fragment).
fn split_authority(rest: &str) -> (&str, &str) {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest.split_at(end)
}

/// A proxy URL may end with `/` and nothing more.
fn check_tail(tail: &str) -> Result<(), &'static str> {
    if tail.contains('#') {
        Err("has a fragment, which a proxy URL cannot have")
    } else if tail.contains('?') {
        Err("has a query, which a proxy URL cannot have")
    } else if !tail.is_empty() && tail != "/" {
        Err("has a path other than '/', which a proxy URL cannot have")
    } else {
        Ok(())
    }
}

/// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
fn parse_host_port(host_port: &str) -> Result<(&str, u16), &'static str> {
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => split_ipv6_port(bracketed)?,
        None => split_name_port(host_port)?,
    };
    let port = match port {
        Some(text) => parse_port(text)?,
        None => DEFAULT_PORT,
    };
    Ok((host, port))
}

/// Splits `v6]` or `v6]:port` (the text after `[`).
fn split_ipv6_port(bracketed: &str) -> Result<(&str, Option<&str>), &'static str> {
    let (address, after) = bracketed
        .split_once(']')
        .ok_or("has an IPv6 address without its closing ']'")?;
    if address.parse::<Ipv6Addr>().is_err() {
        return Err("has an IPv6 address that is not valid");
    }
    if after.is_empty() {
        return Ok((address, None));
    }
    let port = after
        .strip_prefix(':')
        .ok_or("has something other than ':port' after its IPv6 address")?;
    Ok((address, Some(port)))
}

/// Splits `name` or `name:port` (a host name or an IPv4 address).
fn split_name_port(host_port: &str) -> Result<(&str, Option<&str>), &'static str> {
    if host_port.matches(':').count() > 1 {
        return Err("has an IPv6 address without brackets (write it as [address])");
    }
    let (host, port) = match host_port.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    };
    if host.is_empty() {
        return Err("has no host");
    }
    let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    if !host.bytes().all(valid) {
        return Err("has a host with characters a host name cannot have");
    }
    Ok((host, port))
}

/// A port is 1 to 65535, written in decimal digits only.
fn parse_port(text: &str) -> Result<u16, &'static str> {
    let bad = "has a bad port (a number from 1 to 65535 is expected)";
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(bad),
    }
}

/// `Basic base64(user:password)` from the percent-encoded `user[:password]`.
fn basic_authorization(user_info: &str) -> Result<String, &'static str> {
    let (user, password) = user_info.split_once(':').unwrap_or((user_info, ""));
    let mut credentials = percent_decode(user)?;
    credentials.push(b':');
    credentials.extend(percent_decode(password)?);
    Ok(format!("Basic {}", BASE64.encode(credentials)))
}

/// Decodes `%XX` escapes into bytes; other characters are kept as they are.
fn percent_decode(text: &str) -> Result<Vec<u8>, &'static str> {
    let bad = "has a bad percent escape in its user info (%XX with two hex digits is expected)";
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = bytes.get(i + 1).and_then(|&b| hex_value(b)).ok_or(bad)?;
            let low = bytes.get(i + 2).and_then(|&b| hex_value(b)).ok_or(bad)?;
            out.push((high << 4) | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// The value of one hexadecimal digit.
fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|v| v as u8)
}

/// `url` with the password in its user info replaced by `***`, for error messages.
fn redact_password(url: &str) -> String {
    let (_, rest) = split_scheme(url);
    let (authority, _) = split_authority(rest);
    let Some((user_info, _)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let Some((user, _)) = user_info.split_once(':') else {
        return url.to_string();
    };
    let prefix = &url[..url.len() - rest.len()];
    let after_user_info = &rest[user_info.len()..];
    format!("{prefix}{user}:***{after_user_info}")
}

// ---------------------------------------------------------------------------
// The environment
// ---------------------------------------------------------------------------

/// Which proxy to use for a connection to `host:port` (`secure` = wss://) according to the
/// environment as curl reads it; `env` looks a variable up (tests pass a closure; the caller
/// passes std::env::var(..).ok()). Empty values count as unset.
/// - secure: `https_proxy`, then `HTTPS_PROXY`; plain: `http_proxy` only (curl ignores upper-case
///   HTTP_PROXY, for the CGI "httpoxy" reason); then for both `all_proxy`, then `ALL_PROXY`.
/// - `no_proxy`, then `NO_PROXY`: if it matches the host (see no_proxy_matches), no proxy.
///
/// Returns Ok(None) for no proxy, Err when the chosen variable's value does not parse (the error
/// names the variable).
///
/// Whitespace around a value is ignored. A bad proxy value is not an error
/// when `no_proxy` says this host goes direct anyway.
pub fn proxy_from_env(
    secure: bool,
    host: &str,
    port: u16,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, String> {
    let names: &[&str] = if secure {
        &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        &["http_proxy", "all_proxy", "ALL_PROXY"]
    };
    let Some((name, value)) = first_set(&env, names) else {
        return Ok(None);
    };
    if let Some((_, no_proxy)) = first_set(&env, &["no_proxy", "NO_PROXY"]) {
        if no_proxy_matches(&no_proxy, host, port) {
            return Ok(None);
        }
    }
    parse_proxy_url(&value)
        .map(Some)
        .map_err(|e| format!("{name}: {e}"))
}

/// The first of `names` whose value is not empty (after trimming), with that value.
fn first_set<'n>(
    env: &impl Fn(&str) -> Option<String>,
    names: &[&'n str],
) -> Option<(&'n str, String)> {
    names.iter().find_map(|&name| {
        let value = env(name)?;
        let value = value.trim();
        (!value.is_empty()).then(|| (name, value.to_string()))
    })
}

// ---------------------------------------------------------------------------
// no_proxy
// ---------------------------------------------------------------------------

/// True when `no_proxy` (a comma-separated list, whitespace around entries ignored, as curl) says
/// `host` must not go through a proxy: `*` alone matches everything; a domain entry matches the host
/// itself and its subdomains ("example.com" and ".example.com" both match "example.com" and
/// "a.example.com" but not "badexample.com"); comparison is case-insensitive and ignores a trailing
/// dot; an IP literal entry matches the same address (IPv6 with or without brackets); an entry in
/// CIDR form ("10.0.0.0/8", "::1/128") matches addresses of `host` when `host` is an IP literal
/// in that network; an entry may carry ":port", which then must equal `port`.
///
/// `host` may be given with or without the brackets of an IPv6 literal. Names
/// are not resolved: a domain entry never matches an IP literal host, and an
/// IP entry never matches a host name.
pub fn no_proxy_matches(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = normalize_name(strip_brackets(host));
    let host_ip = host.parse::<IpAddr>().ok();
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| entry_matches(entry, &host, host_ip, port))
}

/// Whether one `no_proxy` entry matches the (normalized) host and port.
fn entry_matches(entry: &str, host: &str, host_ip: Option<IpAddr>, port: u16) -> bool {
    let (pattern, entry_port) = split_entry_port(entry);
    if entry_port.is_some_and(|p| p.parse::<u16>() != Ok(port)) {
        return false;
    }
    let pattern = pattern.replace(['[', ']'], "");
    if pattern == "*" {
        return true;
    }
    match host_ip {
        Some(ip) => ip_pattern_matches(&pattern, ip),
        None => domain_matches(&pattern, host),
    }
}

/// Splits `pattern:port` when the entry ends with a port: the last `:` is
/// followed by digits only, and is the only `:` or follows a `]`.
fn split_entry_port(entry: &str) -> (&str, Option<&str>) {
    if let Some((pattern, port)) = entry.rsplit_once(':') {
        let is_number = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        let unambiguous = !pattern.contains(':') || pattern.ends_with(']');
        if is_number && unambiguous {
            return (pattern, Some(port));
        }
    }
    (entry, None)
}

/// An IP host matches an equal address or a CIDR network containing it.
fn ip_pattern_matches(pattern: &str, ip: IpAddr) -> bool {
    match pattern.split_once('/') {
        Some((network, prefix)) => match (network.parse(), prefix.parse()) {
            (Ok(network), Ok(prefix)) => in_network(ip, network, prefix),
            _ => false,
        },
        None => pattern.parse() == Ok(ip),
    }
}

/// Whether `ip` is in `network/prefix` (same address family only).
fn in_network(ip: IpAddr, network: IpAddr, prefix: u32) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            same_prefix(u32::from(ip).into(), u32::from(network).into(), prefix, 32)
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            same_prefix(u128::from(ip), u128::from(network), prefix, 128)
        }
        _ => false,
    }
}

/// Whether the first `prefix` of the low `bits` bits of `a` and `b` agree.
fn same_prefix(a: u128, b: u128, prefix: u32, bits: u32) -> bool {
    if prefix > bits {
        return false;
    }
    if prefix == 0 {
        return true;
    }
    let shift = bits - prefix;
    a >> shift == b >> shift
}

/// A host name matches a domain entry equal to it or to one of its parent domains.
fn domain_matches(pattern: &str, host: &str) -> bool {
    let domain = normalize_name(pattern.strip_prefix('.').unwrap_or(pattern));
    if domain.is_empty() {
        return false;
    }
    host == domain
        || host
            .strip_suffix(&domain)
            .is_some_and(|sub| sub.ends_with('.'))
}

/// Lower-case, without a trailing dot.
fn normalize_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// `[v6]` → `v6`; anything else unchanged.
fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

// ---------------------------------------------------------------------------
// CONNECT request and answer
// ---------------------------------------------------------------------------

/// The CONNECT request for `host:port` (IPv6 literals bracketed in both the request target and
/// the Host header), with `Proxy-Authorization` when given:
/// "CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\n[Proxy-Authorization: ...\r\n]\r\n".
///
/// `host` is a parsed host (as in [`crate::protocol::url::WsUrl`]), without
/// brackets and without CR or LF.
pub fn build_connect_request(host: &str, port: u16, authorization: Option<&str>) -> Vec<u8> {
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(authorization) = authorization {
        request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Parses the proxy's answer to CONNECT from the bytes read so far.
/// Ok(None): the head is not complete yet (no "\r\n\r\n"); Ok(Some(n)): a 2xx answer whose head
/// is `n` bytes long (bytes after it belong to the tunnel). Err(sentence) for anything else:
/// a non-2xx status ("proxy answered 407 Proxy Authentication Required" — status and reason as
/// sent), a malformed status line, or a head longer than MAX_CONNECT_HEAD bytes without its end.
/// Accepts "HTTP/1.0" and "HTTP/1.1" status lines (real proxies answer either).
///
/// The status line is checked as soon as it is complete, so a refusal is
/// reported without waiting for the rest of the head.
pub fn parse_connect_response(buf: &[u8]) -> Result<Option<usize>, String> {
    let window = &buf[..buf.len().min(MAX_CONNECT_HEAD)];
    if let Some(line_end) = find(window, b"\r\n") {
        check_status_line(&window[..line_end])?;
    }
    match find(window, b"\r\n\r\n") {
        Some(end) => Ok(Some(end + 4)),
        None if buf.len() >= MAX_CONNECT_HEAD => Err(format!(
            "the proxy's answer to CONNECT has no end of head in its first {MAX_CONNECT_HEAD} bytes"
        )),
        None => Ok(None),
    }
}

/// Accepts `HTTP/1.x 2xx [reason]`; any other status or shape is an error sentence.
fn check_status_line(line: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(line);
    let malformed = || {
        let shown: String = text.chars().take(80).collect();
        format!("the proxy's answer to CONNECT has a malformed status line: {shown:?}")
    };
    let rest = text
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))
        .ok_or_else(malformed)?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    if code.starts_with('2') {
        return Ok(());
    }
    Err(format!("proxy answered {code} {reason}")
        .trim_end()
        .to_string())
}

/// Position of the first occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ok(url: &str) -> Proxy {
        parse_proxy_url(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    fn bad(url: &str) -> String {
        match parse_proxy_url(url) {
            Ok(p) => panic!("{url} unexpectedly parsed as {p:?}"),
            Err(e) => e,
        }
    }

    fn proxy(host: &str, port: u16) -> Proxy {
        Proxy {
            host: host.into(),
            port,
            authorization: None,
        }
    }

    fn basic(credentials: &[u8]) -> Option<String> {
        Some(format!("Basic {}", BASE64.encode(credentials)))
    }

    // --- proxy URLs ---

    #[test]
    fn url_with_scheme_and_port() {
        assert_eq!(
            ok("http://proxy.example:3128"),
            proxy("proxy.example", 3128)
        );
        assert_eq!(
            ok("http://proxy.example:3128/"),
            proxy("proxy.example", 3128)
        );
        assert_eq!(
            ok("HTTP://proxy.example:3128"),
            proxy("proxy.example", 3128)
        );
        assert_eq!(ok("http://10.1.2.3:8080"), proxy("10.1.2.3", 8080));
    }

    #[test]
    fn url_without_scheme() {
        assert_eq!(ok("proxy.example:3128"), proxy("proxy.example", 3128));
        assert_eq!(ok("proxy.example"), proxy("proxy.example", 1080));
        assert_eq!(ok("proxy.example/"), proxy("proxy.example", 1080));
        assert_eq!(ok("[::1]:3128"), proxy("::1", 3128));
    }

    #[test]
    fn default_port_is_1080() {
        assert_eq!(ok("http://proxy.example"), proxy("proxy.example", 1080));
        assert_eq!(ok("http://[2001:db8::1]"), proxy("2001:db8::1", 1080));
        assert_eq!(ok("http://u@h").port, 1080);
    }

    #[test]
    fn ipv6_literals() {
        assert_eq!(ok("http://[::1]:8080"), proxy("::1", 8080));
        assert_eq!(ok("http://[2001:db8::1]:3128/"), proxy("2001:db8::1", 3128));
        assert_eq!(ok("http://u:p@[::1]:8080").authorization, basic(b"u:p"));
    }

    #[test]
    fn user_info_becomes_basic_auth() {
        let p = ok("http://alice:secret@proxy.example:3128");
        assert_eq!(p.host, "proxy.example");
        assert_eq!(p.port, 3128);
        assert_eq!(p.authorization, basic(b"alice:secret"));
        assert_eq!(p.authorization.as_deref(), Some("Basic YWxpY2U6c2VjcmV0"));
    }

    #[test]
    fn user_without_password_has_empty_password() {
        assert_eq!(
            ok("http://alice@proxy.example").authorization,
            basic(b"alice:")
        );
        assert_eq!(ok("alice@proxy.example").authorization, basic(b"alice:"));
    }

    #[test]
    fn user_info_is_percent_decoded() {
        let p = ok("http://us%65r%40corp:p%3Ass%2Fw%25rd@proxy.example:3128");
        assert_eq!(p.authorization, basic(b"user@corp:p:ss/w%rd"));
        // Non-ASCII bytes decode as bytes (UTF-8 "é" here).
        assert_eq!(
            ok("http://%C3%A9:x@h").authorization,
            basic("é:x".as_bytes())
        );
        // Only the first ':' separates user from password.
        assert_eq!(ok("http://u:a:b@h").authorization, basic(b"u:a:b"));
        // The last '@' ends the user info.
        assert_eq!(ok("http://u:p@ss@h").authorization, basic(b"u:p@ss"));
    }

    #[test]
    fn no_user_info_means_no_authorization() {
        assert_eq!(ok("http://proxy.example:3128").authorization, None);
    }

    #[test]
    fn other_schemes_are_refused() {
        for url in [
            "https://proxy.example:3128",
            "socks5://proxy.example:1080",
            "socks5h://proxy.example",
            "socks4://proxy.example",
            "ftp://proxy.example",
        ] {
            let e = bad(url);
            assert!(e.contains("not supported: only http:// proxies"), "{e}");
            assert!(e.contains(url), "{e}");
        }
    }

    #[test]
    fn empty_host_is_refused() {
        for url in [
            "http://",
            "http://:3128",
            "http://user@",
            "http://u:p@:80",
            "",
        ] {
            let e = bad(url);
            assert!(e.contains("has no host"), "{url}: {e}");
        }
    }

    #[test]
    fn bad_ports_are_refused() {
        for url in [
            "http://h:",
            "http://h:0",
            "http://h:65536",
            "http://h:99999999999",
            "http://h:+80",
            "http://h:8o",
            "http://[::1]:",
            "http://[::1]:x",
        ] {
            let e = bad(url);
            assert!(e.contains("bad port"), "{url}: {e}");
            assert!(e.contains(url), "{url}: {e}");
        }
        assert_eq!(ok("http://h:65535").port, 65535);
        assert_eq!(ok("http://h:1").port, 1);
    }

    #[test]
    fn path_query_and_fragment_are_refused() {
        assert!(bad("http://h:3128/proxy").contains("path other than '/'"));
        assert!(bad("http://h//").contains("path other than '/'"));
        assert!(bad("h:3128/x").contains("path other than '/'"));
        assert!(bad("http://h:3128/?a=b").contains("has a query"));
        assert!(bad("http://h:3128?a").contains("has a query"));
        assert!(bad("http://h:3128#top").contains("has a fragment"));
        assert!(bad("http://h/#").contains("has a fragment"));
    }

    #[test]
    fn bad_hosts_are_refused() {
        assert!(bad("http://::1:8080").contains("without brackets"));
        assert!(bad("http://[::1:8080").contains("closing ']'"));
        assert!(bad("http://[not-v6]:80").contains("IPv6 address that is not valid"));
        assert!(bad("http://[]:80").contains("IPv6 address that is not valid"));
        assert!(bad("http://[::1]x").contains("after its IPv6 address"));
        assert!(bad("http://h%41st").contains("characters a host name cannot have"));
        assert!(bad("http://h\u{e9}st").contains("characters a host name cannot have"));
    }

    #[test]
    fn whitespace_and_controls_are_refused() {
        for url in [
            "http://h :80",
            " http://h",
            "http://h\r\nX: y",
            "http://h\t",
        ] {
            assert!(
                bad(url).contains("whitespace or a control character"),
                "{url:?}"
            );
        }
    }

    #[test]
    fn bad_percent_escapes_are_refused() {
        for url in [
            "http://a%:b@h",
            "http://a%4:b@h",
            "http://a:%zz@h",
            "http://a:%+1@h",
        ] {
            assert!(bad(url).contains("bad percent escape"), "{url}");
        }
    }

    #[test]
    fn errors_hide_the_password() {
        let e = bad("http://alice:hunter2@h:0");
        assert!(e.contains("'http://alice:***@h:0'"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = bad("socks5://bob:pw@h");
        assert!(e.contains("'socks5://bob:***@h'"), "{e}");
        let e = bad("carol:pw@h:x");
        assert!(e.contains("'carol:***@h:x'"), "{e}");
        // No password: nothing to hide.
        assert!(bad("http://dave@h:0").contains("'http://dave@h:0'"));
    }

    // --- the environment ---

    /// A lookup over a fixed set of variables, like the real environment.
    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn from_env(secure: bool, host: &str, vars: &[(&str, &str)]) -> Option<Proxy> {
        proxy_from_env(secure, host, 443, env_of(vars)).unwrap()
    }

    #[test]
    fn nothing_set_means_no_proxy() {
        assert_eq!(from_env(true, "example.com", &[]), None);
        assert_eq!(from_env(false, "example.com", &[]), None);
        // no_proxy alone does not invent a proxy.
        assert_eq!(
            from_env(true, "example.com", &[("no_proxy", "other")]),
            None
        );
    }

    #[test]
    fn secure_prefers_lower_case_https_proxy() {
        let vars = [("https_proxy", "lower:1"), ("HTTPS_PROXY", "upper:2")];
        assert_eq!(
            from_env(true, "example.com", &vars),
            Some(proxy("lower", 1))
        );
        let vars = [("HTTPS_PROXY", "upper:2"), ("all_proxy", "all:3")];
        assert_eq!(
            from_env(true, "example.com", &vars),
            Some(proxy("upper", 2))
        );
    }

    #[test]
    fn secure_ignores_http_proxy() {
        let vars = [("http_proxy", "plain:1")];
        assert_eq!(from_env(true, "example.com", &vars), None);
    }

    #[test]
    fn plain_uses_http_proxy_and_ignores_upper_case() {
        let vars = [("http_proxy", "lower:1"), ("HTTP_PROXY", "upper:2")];
        assert_eq!(
            from_env(false, "example.com", &vars),
            Some(proxy("lower", 1))
        );
        // HTTP_PROXY alone is ignored (httpoxy), so no proxy at all ...
        assert_eq!(
            from_env(false, "example.com", &[("HTTP_PROXY", "upper:2")]),
            None
        );
        // ... or the all_proxy fallback.
        let vars = [("HTTP_PROXY", "upper:2"), ("ALL_PROXY", "all:3")];
        assert_eq!(from_env(false, "example.com", &vars), Some(proxy("all", 3)));
        // Plain connections ignore https_proxy.
        assert_eq!(
            from_env(false, "example.com", &[("https_proxy", "s:4")]),
            None
        );
    }

    #[test]
    fn all_proxy_is_the_fallback() {
        for secure in [false, true] {
            let vars = [("all_proxy", "lower:1"), ("ALL_PROXY", "upper:2")];
            assert_eq!(
                from_env(secure, "example.com", &vars),
                Some(proxy("lower", 1))
            );
            let vars = [("ALL_PROXY", "upper:2")];
            assert_eq!(
                from_env(secure, "example.com", &vars),
                Some(proxy("upper", 2))
            );
        }
    }

    #[test]
    fn empty_values_count_as_unset() {
        let vars = [("https_proxy", ""), ("HTTPS_PROXY", "upper:2")];
        assert_eq!(
            from_env(true, "example.com", &vars),
            Some(proxy("upper", 2))
        );
        let vars = [("http_proxy", "  "), ("all_proxy", "all:3")];
        assert_eq!(from_env(false, "example.com", &vars), Some(proxy("all", 3)));
        let vars = [("http_proxy", ""), ("all_proxy", ""), ("ALL_PROXY", "")];
        assert_eq!(from_env(false, "example.com", &vars), None);
        // An empty no_proxy falls through to NO_PROXY.
        let vars = [
            ("https_proxy", "p:1"),
            ("no_proxy", ""),
            ("NO_PROXY", "example.com"),
        ];
        assert_eq!(from_env(true, "example.com", &vars), None);
    }

    #[test]
    fn values_are_trimmed_and_parsed_fully() {
        let vars = [("https_proxy", " http://u:p@proxy.example:3128/ \n")];
        let p = from_env(true, "example.com", &vars).unwrap();
        assert_eq!(p.host, "proxy.example");
        assert_eq!(p.port, 3128);
        assert_eq!(p.authorization, basic(b"u:p"));
    }

    #[test]
    fn no_proxy_beats_the_proxy() {
        let vars = [
            ("https_proxy", "p:1"),
            ("no_proxy", "internal.corp, .example.com"),
        ];
        assert_eq!(from_env(true, "a.example.com", &vars), None);
        assert_eq!(from_env(true, "internal.corp", &vars), None);
        assert_eq!(from_env(true, "example.org", &vars), Some(proxy("p", 1)));
        let vars = [("http_proxy", "p:1"), ("NO_PROXY", "*")];
        assert_eq!(from_env(false, "anything", &vars), None);
    }

    #[test]
    fn lower_case_no_proxy_wins_over_upper_case() {
        let vars = [
            ("https_proxy", "p:1"),
            ("no_proxy", "other.com"),
            ("NO_PROXY", "example.com"),
        ];
        assert_eq!(from_env(true, "example.com", &vars), Some(proxy("p", 1)));
    }

    #[test]
    fn no_proxy_port_uses_the_connection_port() {
        let vars = [("https_proxy", "p:1"), ("no_proxy", "example.com:443")];
        let env = env_of(&vars);
        assert_eq!(proxy_from_env(true, "example.com", 443, &env), Ok(None));
        assert_eq!(
            proxy_from_env(true, "example.com", 8443, &env),
            Ok(Some(proxy("p", 1)))
        );
    }

    #[test]
    fn bad_value_error_names_the_variable() {
        let e =
            proxy_from_env(true, "h", 443, env_of(&[("HTTPS_PROXY", "socks5://s:1")])).unwrap_err();
        assert!(e.starts_with("HTTPS_PROXY: "), "{e}");
        assert!(e.contains("not supported: only http:// proxies"), "{e}");
        let e = proxy_from_env(false, "h", 80, env_of(&[("all_proxy", "http://h:0")])).unwrap_err();
        assert!(e.starts_with("all_proxy: "), "{e}");
        assert!(e.contains("bad port"), "{e}");
    }

    #[test]
    fn bad_value_is_ignored_when_no_proxy_matches() {
        let vars = [("https_proxy", "socks5://s:1"), ("no_proxy", "h")];
        assert_eq!(proxy_from_env(true, "h", 443, env_of(&vars)), Ok(None));
    }

    #[test]
    fn env_is_only_asked_for_known_names() {
        let asked = std::cell::RefCell::new(Vec::new());
        let env = |name: &str| {
            asked.borrow_mut().push(name.to_string());
            None
        };
        assert_eq!(proxy_from_env(false, "h", 80, env), Ok(None));
        assert_eq!(*asked.borrow(), ["http_proxy", "all_proxy", "ALL_PROXY"]);
    }

    // --- no_proxy ---

    #[test]
    fn star_matches_everything() {
        assert!(no_proxy_matches("*", "example.com", 443));
        assert!(no_proxy_matches(" * ", "10.0.0.1", 80));
        assert!(no_proxy_matches("other.com, *", "[::1]", 80));
        assert!(!no_proxy_matches("*.example.com", "a.example.com", 80));
    }

    #[test]
    fn domain_matches_itself_and_subdomains() {
        for entry in ["example.com", ".example.com"] {
            assert!(no_proxy_matches(entry, "example.com", 443), "{entry}");
            assert!(no_proxy_matches(entry, "a.example.com", 443), "{entry}");
            assert!(no_proxy_matches(entry, "x.y.example.com", 443), "{entry}");
            assert!(!no_proxy_matches(entry, "badexample.com", 443), "{entry}");
            assert!(!no_proxy_matches(entry, "example.com.evil", 443), "{entry}");
            assert!(!no_proxy_matches(entry, "example.org", 443), "{entry}");
            assert!(!no_proxy_matches(entry, "com", 443), "{entry}");
        }
    }

    #[test]
    fn domain_comparison_ignores_case_and_trailing_dot() {
        assert!(no_proxy_matches("Example.COM", "a.example.com", 443));
        assert!(no_proxy_matches("example.com", "A.EXAMPLE.Com", 443));
        assert!(no_proxy_matches("example.com.", "a.example.com", 443));
        assert!(no_proxy_matches("example.com", "example.com.", 443));
        assert!(no_proxy_matches(".example.com.", "A.Example.Com.", 443));
    }

    #[test]
    fn list_is_comma_separated_with_whitespace_ignored() {
        let list = "  localhost ,\t.corp.example,, 10.0.0.0/8 ,";
        assert!(no_proxy_matches(list, "localhost", 80));
        assert!(no_proxy_matches(list, "git.corp.example", 80));
        assert!(no_proxy_matches(list, "10.20.30.40", 80));
        assert!(!no_proxy_matches(list, "example.com", 80));
        assert!(!no_proxy_matches("", "example.com", 80));
        assert!(!no_proxy_matches(" , ,", "example.com", 80));
        assert!(!no_proxy_matches(".", "example.com", 80));
    }

    #[test]
    fn ip_literal_entries_match_the_same_address() {
        assert!(no_proxy_matches("127.0.0.1", "127.0.0.1", 80));
        assert!(!no_proxy_matches("127.0.0.1", "127.0.0.2", 80));
        assert!(no_proxy_matches("::1", "::1", 80));
        assert!(no_proxy_matches("::1", "[::1]", 80));
        assert!(no_proxy_matches("[::1]", "::1", 80));
        assert!(no_proxy_matches("[::1]", "[::1]", 80));
        assert!(no_proxy_matches("::1", "0:0:0:0:0:0:0:1", 80));
        assert!(no_proxy_matches("2001:DB8::1", "2001:db8::1", 80));
        assert!(!no_proxy_matches("::1", "::2", 80));
        assert!(!no_proxy_matches("127.0.0.1", "::1", 80));
    }

    #[test]
    fn names_and_addresses_never_match_each_other() {
        assert!(!no_proxy_matches("localhost", "127.0.0.1", 80));
        assert!(!no_proxy_matches("127.0.0.1", "localhost", 80));
        // A domain suffix is not an address suffix.
        assert!(!no_proxy_matches("0.0.1", "127.0.0.1", 80));
        assert!(!no_proxy_matches("10.0.0.0/8", "10.example.com", 80));
    }

    #[test]
    fn cidr_entries_match_addresses_in_the_network() {
        assert!(no_proxy_matches("10.0.0.0/8", "10.255.1.2", 80));
        assert!(!no_proxy_matches("10.0.0.0/8", "11.0.0.1", 80));
        assert!(no_proxy_matches("192.168.1.0/24", "192.168.1.77", 80));
        assert!(!no_proxy_matches("192.168.1.0/24", "192.168.2.1", 80));
        assert!(no_proxy_matches("192.168.1.5/32", "192.168.1.5", 80));
        assert!(!no_proxy_matches("192.168.1.5/32", "192.168.1.6", 80));
        assert!(no_proxy_matches("0.0.0.0/0", "8.8.8.8", 80));
        assert!(no_proxy_matches("::1/128", "::1", 80));
        assert!(no_proxy_matches("::1/128", "[::1]", 80));
        assert!(!no_proxy_matches("::1/128", "::2", 80));
        assert!(no_proxy_matches("2001:db8::/32", "2001:db8:ffff::1", 80));
        assert!(!no_proxy_matches("2001:db8::/32", "2001:db9::1", 80));
        assert!(no_proxy_matches("::/0", "fe80::1", 80));
        assert!(no_proxy_matches("[2001:db8::]/32", "2001:db8::5", 80));
    }

    #[test]
    fn cidr_does_not_cross_families_or_accept_bad_prefixes() {
        assert!(!no_proxy_matches("0.0.0.0/0", "::1", 80));
        assert!(!no_proxy_matches("::/0", "127.0.0.1", 80));
        assert!(!no_proxy_matches("10.0.0.0/33", "10.0.0.1", 80));
        assert!(!no_proxy_matches("::1/129", "::1", 80));
        assert!(!no_proxy_matches("10.0.0.0/x", "10.0.0.1", 80));
        assert!(!no_proxy_matches("10.0.0.0/", "10.0.0.1", 80));
        assert!(!no_proxy_matches("nonsense/8", "10.0.0.1", 80));
    }

    #[test]
    fn entry_port_must_equal_the_port() {
        assert!(no_proxy_matches("example.com:8080", "example.com", 8080));
        assert!(no_proxy_matches("example.com:8080", "a.example.com", 8080));
        assert!(!no_proxy_matches("example.com:8080", "example.com", 443));
        assert!(no_proxy_matches("127.0.0.1:80", "127.0.0.1", 80));
        assert!(!no_proxy_matches("127.0.0.1:80", "127.0.0.1", 81));
        assert!(no_proxy_matches("[::1]:8080", "::1", 8080));
        assert!(!no_proxy_matches("[::1]:8080", "::1", 8081));
        assert!(no_proxy_matches("10.0.0.0/8:443", "10.1.1.1", 443));
        assert!(!no_proxy_matches("10.0.0.0/8:443", "10.1.1.1", 80));
        assert!(!no_proxy_matches("example.com:99999", "example.com", 34463));
    }

    #[test]
    fn bare_ipv6_entry_has_no_port() {
        // "::1:80" is an IPv6 address, not "::1" port 80.
        assert!(!no_proxy_matches("::1:80", "::1", 80));
        assert!(no_proxy_matches("::1:80", "::1:80", 443));
    }

    // --- CONNECT request ---

    #[test]
    fn connect_request_plain() {
        assert_eq!(
            build_connect_request("example.com", 443, None),
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        );
        assert_eq!(
            build_connect_request("10.0.0.1", 80, None),
            b"CONNECT 10.0.0.1:80 HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\r\n"
        );
    }

    #[test]
    fn connect_request_ipv6_is_bracketed() {
        assert_eq!(
            build_connect_request("2001:db8::1", 8443, None),
            b"CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n"
        );
    }

    #[test]
    fn connect_request_with_authorization() {
        let p = ok("http://alice:secret@proxy:3128");
        assert_eq!(
            build_connect_request("example.com", 443, p.authorization.as_deref()),
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\
              Proxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n"
        );
    }

    // --- CONNECT answer ---

    #[test]
    fn incomplete_answer_waits() {
        assert_eq!(parse_connect_response(b""), Ok(None));
        assert_eq!(parse_connect_response(b"HTTP/1.1 2"), Ok(None));
        assert_eq!(parse_connect_response(b"HTTP/1.1 200 OK\r\n"), Ok(None));
        assert_eq!(
            parse_connect_response(b"HTTP/1.1 200 OK\r\nVia: x\r\n\r"),
            Ok(None)
        );
    }

    #[test]
    fn answer_200_with_leftover_bytes() {
        let head = b"HTTP/1.1 200 Connection established\r\nVia: 1.1 proxy\r\n\r\n";
        let mut buf = head.to_vec();
        buf.extend_from_slice(b"\x16\x03\x01tls bytes");
        assert_eq!(parse_connect_response(&buf), Ok(Some(head.len())));
        assert_eq!(parse_connect_response(head), Ok(Some(head.len())));
    }

    #[test]
    fn answer_http_1_0_and_other_2xx() {
        let head = b"HTTP/1.0 200 Connection established\r\n\r\n";
        assert_eq!(parse_connect_response(head), Ok(Some(head.len())));
        let head = b"HTTP/1.1 204\r\n\r\n";
        assert_eq!(parse_connect_response(head), Ok(Some(head.len())));
        let head = b"HTTP/1.1 200 \r\n\r\n";
        assert_eq!(parse_connect_response(head), Ok(Some(head.len())));
    }

    #[test]
    fn answer_407_is_refused_with_status_and_reason() {
        let answer = b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                       Proxy-Authenticate: Basic realm=\"corp\"\r\n\r\n";
        assert_eq!(
            parse_connect_response(answer),
            Err("proxy answered 407 Proxy Authentication Required".to_string())
        );
        // Reported as soon as the status line is complete.
        assert_eq!(
            parse_connect_response(b"HTTP/1.0 403 Forbidden\r\n"),
            Err("proxy answered 403 Forbidden".to_string())
        );
        assert_eq!(
            parse_connect_response(b"HTTP/1.1 502\r\n\r\n"),
            Err("proxy answered 502".to_string())
        );
        assert_eq!(
            parse_connect_response(b"HTTP/1.1 100 Continue\r\n\r\n"),
            Err("proxy answered 100 Continue".to_string())
        );
    }

    #[test]
    fn malformed_status_lines_are_refused() {
        for answer in [
            &b"\r\n\r\n"[..],
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.1 20\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1  200 OK\r\n\r\n",
            b"http/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1\r\n\r\n",
        ] {
            let e = parse_connect_response(answer).unwrap_err();
            assert!(e.contains("malformed status line"), "{answer:?}: {e}");
        }
    }

    #[test]
    fn malformed_status_line_message_is_short_and_escaped() {
        let mut answer = b"\x01garbage".repeat(100);
        answer.extend_from_slice(b"\r\n");
        let e = parse_connect_response(&answer).unwrap_err();
        assert!(e.len() < 300, "{e}");
        assert!(e.contains("\\u{1}garbage"), "{e}");
    }

    #[test]
    fn oversized_head_is_refused() {
        let mut answer = b"HTTP/1.1 200 OK\r\n".to_vec();
        while answer.len() < MAX_CONNECT_HEAD {
            answer.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let e = parse_connect_response(&answer).unwrap_err();
        assert!(e.contains("no end of head"), "{e}");
        assert!(e.contains("16384"), "{e}");
        // A status line that never ends is refused the same way.
        let e = parse_connect_response(&vec![b'H'; MAX_CONNECT_HEAD]).unwrap_err();
        assert!(e.contains("no end of head"), "{e}");
    }

    #[test]
    fn head_of_exactly_the_limit_is_accepted() {
        let mut answer = b"HTTP/1.1 200 OK\r\nX-Filler: ".to_vec();
        answer.resize(MAX_CONNECT_HEAD - 4, b'a');
        answer.extend_from_slice(b"\r\n\r\n");
        assert_eq!(answer.len(), MAX_CONNECT_HEAD);
        assert_eq!(parse_connect_response(&answer), Ok(Some(MAX_CONNECT_HEAD)));
        // One byte more and the end falls outside the limit.
        let mut longer = answer[..MAX_CONNECT_HEAD - 4].to_vec();
        longer.extend_from_slice(b"a\r\n\r\n");
        assert!(parse_connect_response(&longer).is_err());
    }
}
