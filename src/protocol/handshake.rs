//! The opening handshake (RFC 6455 section 4), both roles, as pure functions.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// Most bytes an HTTP request or response head may take before it is refused.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The GUID appended to the key when computing `Sec-WebSocket-Accept`.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Most header lines a request or response head may have before it is refused.
const MAX_HEADERS: usize = 100;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(sha1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// A `Sec-WebSocket-Key` from 16 random bytes (base64).
pub fn generate_key(random: [u8; 16]) -> String {
    BASE64.encode(random)
}

/// A parsed HTTP header list with case-insensitive lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The value of the first header named `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when any header `name` has `token` among its comma-separated
    /// values (both compared case-insensitively, whitespace trimmed).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        let token = token.trim_matches(is_ows);
        self.all(name).any(|v| {
            v.split(',')
                .any(|t| t.trim_matches(is_ows).eq_ignore_ascii_case(token))
        })
    }

    /// All values of headers named `name` (case-insensitive), in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many headers are named `name` (case-insensitive).
    fn count(&self, name: &str) -> usize {
        self.all(name).count()
    }
}

/// A parsed HTTP request head (the server's side of the handshake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path part of the request target (starts with `/`).
    pub path: String,
    /// Query part of the request target without `?` (empty when none).
    pub query: String,
    /// Headers in order.
    pub headers: Headers,
}

/// A parsed HTTP response head (the client's side of the handshake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. 101.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers in order.
    pub headers: Headers,
}

/// A handshake failure, as a human sentence plus, for the server, the HTTP
/// response to send back before closing (400, 426, 431 ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeError {
    /// What went wrong, e.g. "missing Sec-WebSocket-Key header".
    pub message: String,
    /// Server side: the complete HTTP response to send; empty on the client side.
    pub response: Vec<u8>,
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandshakeError {}

// ---------------------------------------------------------------------------
// Shared head parsing
// ---------------------------------------------------------------------------

/// Why a head could not be parsed, before it is turned into a role-specific
/// [`HandshakeError`].
#[derive(Debug)]
enum HeadError {
    /// Malformed syntax (server answers 400).
    Malformed(String),
    /// Too big: over MAX_HEAD_BYTES or MAX_HEADERS (server answers 431).
    TooLarge(String),
}

/// A split head: the start line, the headers and the total length.
struct Head<'a> {
    start_line: &'a [u8],
    headers: Headers,
    len: usize,
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Bytes allowed in a header value or reason phrase: HTAB, visible ASCII,
/// space and obs-text.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// Whether `v` looks like an HTTP version: `HTTP/` followed by up to three
/// digits and dots (`HTTP/1.0`, `HTTP/2`).
fn is_http_version(v: &[u8]) -> bool {
    v.strip_prefix(b"HTTP/").is_some_and(|n| {
        !n.is_empty() && n.len() <= 3 && n.iter().all(|&b| b.is_ascii_digit() || b == b'.')
    })
}

/// `bytes` for quoting in a message: lossily decoded, escaped, and cut to 80
/// characters.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        out.push_str("...");
    }
    out.escape_debug().to_string()
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Splits `buf` into a head, checking line endings, sizes and header syntax.
/// `what` names the head in messages ("request" or "response").
fn parse_head<'a>(buf: &'a [u8], what: &str) -> Result<Option<Head<'a>>, HeadError> {
    // Find the CRLF CRLF terminator within the first MAX_HEAD_BYTES, refusing
    // bare CR or LF on the way.
    let scan = &buf[..buf.len().min(MAX_HEAD_BYTES)];
    let mut end = None;
    for (i, &b) in scan.iter().enumerate() {
        match b {
            b'\n' if i == 0 || scan[i - 1] != b'\r' => {
                return Err(HeadError::Malformed(format!(
                    "the HTTP {what} uses a bare LF line ending (lines must end with CRLF)"
                )));
            }
            b'\r' if i + 1 < buf.len() && buf[i + 1] != b'\n' => {
                return Err(HeadError::Malformed(format!(
                    "the HTTP {what} contains a CR that is not followed by LF"
                )));
            }
            b'\n' if i >= 3 && &scan[i - 3..=i] == b"\r\n\r\n" => {
                end = Some(i + 1);
                break;
            }
            _ => {}
        }
    }
    let Some(len) = end else {
        if buf.len() > MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge(format!(
                "the HTTP {what} head is larger than {MAX_HEAD_BYTES} bytes"
            )));
        }
        return Ok(None);
    };

    let text = &buf[..len - 4];
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let start_line = lines.next().unwrap_or_default();
    if start_line.is_empty() {
        return Err(HeadError::Malformed(format!(
            "the HTTP {what} starts with an empty line"
        )));
    }

    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == MAX_HEADERS {
            return Err(HeadError::TooLarge(format!(
                "the HTTP {what} has more than {MAX_HEADERS} header lines"
            )));
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(HeadError::Malformed(format!(
                "the HTTP {what} uses obsolete header line folding (a line starting with whitespace)"
            )));
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(HeadError::Malformed(format!(
                "header line '{}' in the HTTP {what} has no ':'",
                snippet(line)
            )));
        };
        let name = &line[..colon];
        if name.is_empty() {
            return Err(HeadError::Malformed(format!(
                "header line '{}' in the HTTP {what} has an empty name",
                snippet(line)
            )));
        }
        if !is_token(name) {
            return Err(HeadError::Malformed(format!(
                "header name '{}' in the HTTP {what} is not a valid token",
                snippet(name)
            )));
        }
        let value = trim_ows(&line[colon + 1..]);
        if !value.iter().all(|&b| is_field_byte(b)) {
            return Err(HeadError::Malformed(format!(
                "header '{}' in the HTTP {what} contains a control character",
                String::from_utf8_lossy(name)
            )));
        }
        headers.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }

    Ok(Some(Head {
        start_line,
        headers: Headers(headers),
        len,
    }))
}

// ---------------------------------------------------------------------------
// Server side
// ---------------------------------------------------------------------------

/// A server-side error: `message`, answered with `status reason` and `extra` headers.
fn server_error(
    status: u16,
    reason: &str,
    extra: &[(&str, &str)],
    message: String,
) -> HandshakeError {
    let response = build_error_response(status, reason, extra, &message);
    HandshakeError { message, response }
}

fn bad_request(message: String) -> HandshakeError {
    server_error(400, "Bad Request", &[], message)
}

/// The server-side form of a head error (with a 400 or 431 response).
fn server_head_error(e: HeadError) -> HandshakeError {
    match e {
        HeadError::Malformed(m) => bad_request(m),
        HeadError::TooLarge(m) => server_error(431, "Request Header Fields Too Large", &[], m),
    }
}

/// Splits a request target into path and query. Accepts origin-form
/// (`/path?query`) and absolute-form (`http://host/path?query`, also `https`,
/// `ws` and `wss`), taking only the path and query of the latter.
fn split_target(target: &str) -> Result<(String, String), HandshakeError> {
    if target.contains('#') {
        return Err(bad_request(format!(
            "the request target '{target}' contains a fragment ('#')"
        )));
    }
    let origin_form = if target.starts_with('/') {
        target
    } else {
        let lower = target.to_ascii_lowercase();
        let after_scheme = ["http://", "https://", "ws://", "wss://"]
            .iter()
            .find(|s| lower.starts_with(*s))
            .map(|s| &target[s.len()..])
            .ok_or_else(|| {
                bad_request(format!(
                    "the request target '{target}' does not start with '/'"
                ))
            })?;
        let authority_end = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
        if authority_end == 0 {
            return Err(bad_request(format!(
                "the request target '{target}' has no host"
            )));
        }
        &after_scheme[authority_end..]
    };
    let (path, query) = match origin_form.find('?') {
        Some(i) => (&origin_form[..i], &origin_form[i + 1..]),
        None => (origin_form, ""),
    };
    let path = if path.is_empty() { "/" } else { path };
    Ok((path.to_string(), query.to_string()))
}

/// Parses an HTTP request head from `buf`. `Ok(None)` means more bytes are
/// needed; `Ok(Some((request, n)))` means the head took the first `n` bytes.
/// Errors carry a 400 (malformed) or 431 (head over MAX_HEAD_BYTES) response.
///
/// The request line must be `METHOD SP target SP HTTP/1.1`; the target may be
/// origin-form (`/path?query`) or absolute-form (`http://host/path?query`, of
/// which only the path and query are kept). Lines must end with CRLF; obsolete
/// line folding, header lines without `:` and more than 100 header lines are
/// refused (the last with 431).
pub fn parse_request(buf: &[u8]) -> Result<Option<(Request, usize)>, HandshakeError> {
    let Some(head) = parse_head(buf, "request").map_err(server_head_error)? else {
        return Ok(None);
    };
    let line = head.start_line;
    let malformed = || {
        bad_request(format!(
            "malformed request line '{}' (expected 'GET /path HTTP/1.1')",
            snippet(line)
        ))
    };
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(malformed());
    };
    if !is_token(method) || target.is_empty() || !target.iter().all(|&b| (b'!'..=b'~').contains(&b))
    {
        return Err(malformed());
    }
    if version != b"HTTP/1.1" {
        if is_http_version(version) {
            return Err(bad_request(format!(
                "unsupported HTTP version '{}' (a WebSocket handshake needs HTTP/1.1)",
                String::from_utf8_lossy(version)
            )));
        }
        return Err(malformed());
    }
    // Both checked to be ASCII above.
    let method = String::from_utf8_lossy(method).into_owned();
    let (path, query) = split_target(&String::from_utf8_lossy(target))?;
    Ok(Some((
        Request {
            method,
            path,
            query,
            headers: head.headers,
        },
        head.len,
    )))
}

/// Checks a parsed request is a valid WebSocket upgrade (GET, HTTP/1.1,
/// Upgrade: websocket, Connection: upgrade token, a 16-byte base64 key,
/// Sec-WebSocket-Version: 13) and returns its key. A wrong version gets a 426
/// response with `Sec-WebSocket-Version: 13`; anything else malformed gets 400.
///
/// Exception: a method other than `GET` gets `405 Method Not Allowed` with
/// `Allow: GET`. (The HTTP version is checked by [`parse_request`], which only
/// accepts HTTP/1.1.) A missing `Sec-WebSocket-Version` gets 400, and so does
/// a request with a body (see [`check_no_body`]).
pub fn validate_request(req: &Request) -> Result<String, HandshakeError> {
    let h = &req.headers;
    if req.method != "GET" {
        return Err(server_error(
            405,
            "Method Not Allowed",
            &[("Allow", "GET")],
            format!("a WebSocket handshake must use GET, not {}", req.method),
        ));
    }
    check_no_body(h)?;
    match h.count("Host") {
        0 => return Err(bad_request("missing Host header".into())),
        1 => {}
        _ => return Err(bad_request("more than one Host header".into())),
    }
    if h.get("Host").is_some_and(str::is_empty) {
        return Err(bad_request("empty Host header".into()));
    }
    if !h.has_token("Upgrade", "websocket") {
        return Err(bad_request(match h.get("Upgrade") {
            None => "missing Upgrade header (expected 'Upgrade: websocket')".into(),
            Some(v) => format!("the Upgrade header '{v}' does not name websocket"),
        }));
    }
    if !h.has_token("Connection", "upgrade") {
        return Err(bad_request(match h.get("Connection") {
            None => "missing Connection header (expected 'Connection: Upgrade')".into(),
            Some(v) => format!("the Connection header '{v}' does not contain the 'Upgrade' token"),
        }));
    }
    match h.count("Sec-WebSocket-Version") {
        0 => {
            return Err(bad_request(
                "missing Sec-WebSocket-Version header (expected 13)".into(),
            ))
        }
        1 => {}
        _ => {
            return Err(bad_request(
                "more than one Sec-WebSocket-Version header".into(),
            ))
        }
    }
    let version = h.get("Sec-WebSocket-Version").unwrap_or_default();
    if version != "13" {
        return Err(server_error(
            426,
            "Upgrade Required",
            &[("Sec-WebSocket-Version", "13")],
            format!(
                "unsupported Sec-WebSocket-Version '{version}' (this server speaks version 13)"
            ),
        ));
    }
    let key = match h.count("Sec-WebSocket-Key") {
        0 => return Err(bad_request("missing Sec-WebSocket-Key header".into())),
        1 => h.get("Sec-WebSocket-Key").unwrap_or_default(),
        _ => return Err(bad_request("more than one Sec-WebSocket-Key header".into())),
    };
    match BASE64.decode(key) {
        Ok(bytes) if bytes.len() == 16 => Ok(key.to_string()),
        Ok(bytes) => Err(bad_request(format!(
            "the Sec-WebSocket-Key '{key}' decodes to {} bytes instead of 16",
            bytes.len()
        ))),
        Err(_) => Err(bad_request(format!(
            "the Sec-WebSocket-Key '{key}' is not valid base64"
        ))),
    }
}

/// Refuses (400) an upgrade request that says it has a body: `Transfer-Encoding`,
/// a `Content-Length` other than 0, or `Content-Length` headers that disagree.
/// The bytes after the head are frames: a body would be read as frames, and
/// a proxy in front, reading it as a body, would see another stream.
fn check_no_body(h: &Headers) -> Result<(), HandshakeError> {
    if h.count("Transfer-Encoding") > 0 {
        return Err(bad_request(
            "an upgrade request may not have a body (it has Transfer-Encoding)".into(),
        ));
    }
    let mut lengths = h.all("Content-Length").map(str::trim);
    let Some(first) = lengths.next() else {
        return Ok(());
    };
    if lengths.any(|other| other != first) {
        return Err(bad_request("Content-Length headers that disagree".into()));
    }
    match first.parse::<u64>() {
        Ok(0) => Ok(()),
        Ok(n) => Err(bad_request(format!(
            "an upgrade request may not have a body (Content-Length: {n})"
        ))),
        Err(_) => Err(bad_request(format!("invalid Content-Length '{first}'"))),
    }
}

/// The `101 Switching Protocols` response for a request with key `key`, with
/// extra headers (such as the negotiated `Sec-WebSocket-Extensions`).
pub fn build_accept_response(key: &str, extra_headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        accept_key(key)
    );
    for (name, value) in extra_headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// A complete HTTP error response with `Connection: close`, the given extra
/// headers and a text body.
pub fn build_error_response(
    status: u16,
    reason: &str,
    extra_headers: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    for (name, value) in extra_headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

// ---------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------

fn client_error(message: String) -> HandshakeError {
    HandshakeError {
        message,
        response: Vec::new(),
    }
}

/// The client's upgrade request for `resource` on `host_header`, with `key` and
/// extra headers (written verbatim after the standard ones).
pub fn build_request(
    host_header: &str,
    resource: &str,
    key: &str,
    extra_headers: &[(String, String)],
) -> Vec<u8> {
    let mut out = format!(
        "GET {resource} HTTP/1.1\r\n\
         Host: {host_header}\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in extra_headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Parses an HTTP response head from `buf`; `Ok(None)` means more bytes are needed.
///
/// The status line must be `HTTP/1.1 SP 3DIGIT SP reason` (a missing reason
/// phrase is tolerated). Header rules and size limits are those of
/// [`parse_request`]; errors carry an empty `response`.
pub fn parse_response(buf: &[u8]) -> Result<Option<(Response, usize)>, HandshakeError> {
    let head = match parse_head(buf, "response") {
        Ok(Some(head)) => head,
        Ok(None) => return Ok(None),
        Err(HeadError::Malformed(m) | HeadError::TooLarge(m)) => {
            return Err(client_error(format!(
                "server sent an invalid handshake response: {m}"
            )))
        }
    };
    let line = head.start_line;
    let malformed = || {
        client_error(format!(
            "server sent a malformed status line '{}' (expected 'HTTP/1.1 101 Switching Protocols')",
            snippet(line)
        ))
    };
    let Some(rest) = line.strip_prefix(b"HTTP/1.1 ") else {
        let version = line.split(|&b| b == b' ').next().unwrap_or_default();
        if is_http_version(version) {
            return Err(client_error(format!(
                "server answered with HTTP version '{}' instead of HTTP/1.1",
                snippet(version)
            )));
        }
        return Err(malformed());
    };
    let (code, reason) = match rest {
        [a, b, c] => ([*a, *b, *c], &[][..]),
        [a, b, c, b' ', reason @ ..] => ([*a, *b, *c], reason),
        _ => return Err(malformed()),
    };
    if !code.iter().all(u8::is_ascii_digit) || !reason.iter().all(|&b| is_field_byte(b)) {
        return Err(malformed());
    }
    let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    Ok(Some((
        Response {
            status,
            reason: String::from_utf8_lossy(reason).into_owned(),
            headers: head.headers,
        },
        head.len,
    )))
}

/// Checks the server's response to our request with key `key`: status 101,
/// Upgrade/Connection tokens, and the right Sec-WebSocket-Accept; no extension
/// unless `extensions_offered` (then the caller negotiates the
/// `Sec-WebSocket-Extensions` answer itself). Returns the subprotocol the server
/// chose: it must be one of `subprotocols` (what we offered), and when we offered
/// any the server must choose one (as browsers and Node `ws` require).
pub fn validate_response(
    resp: &Response,
    key: &str,
    extensions_offered: bool,
    subprotocols: &[String],
) -> Result<Option<String>, HandshakeError> {
    let h = &resp.headers;
    if resp.status != 101 {
        let answered = if resp.reason.is_empty() {
            resp.status.to_string()
        } else {
            format!("{} {}", resp.status, resp.reason)
        };
        return Err(client_error(format!(
            "server answered {answered} instead of 101 Switching Protocols"
        )));
    }
    if !h.has_token("Upgrade", "websocket") {
        return Err(client_error(match h.get("Upgrade") {
            None => {
                "server's 101 response has no Upgrade header (expected 'Upgrade: websocket')".into()
            }
            Some(v) => format!("server upgraded to '{v}' instead of websocket"),
        }));
    }
    if !h.has_token("Connection", "upgrade") {
        return Err(client_error(match h.get("Connection") {
            None => {
                "server's 101 response has no Connection header (expected 'Connection: Upgrade')"
                    .into()
            }
            Some(v) => {
                format!("server's Connection header '{v}' does not contain the 'Upgrade' token")
            }
        }));
    }
    let expected = accept_key(key);
    match h.count("Sec-WebSocket-Accept") {
        0 => {
            return Err(client_error(
                "server did not send a Sec-WebSocket-Accept header".into(),
            ))
        }
        1 => {}
        _ => {
            return Err(client_error(
                "server sent more than one Sec-WebSocket-Accept header".into(),
            ))
        }
    }
    let got = h.get("Sec-WebSocket-Accept").unwrap_or_default();
    if got != expected {
        return Err(client_error(format!(
            "server sent a wrong Sec-WebSocket-Accept ('{got}', expected '{expected}')"
        )));
    }
    if !extensions_offered && h.count("Sec-WebSocket-Extensions") > 0 {
        let list: Vec<&str> = h.all("Sec-WebSocket-Extensions").collect();
        return Err(client_error(format!(
            "server selected extension(s) we did not offer: {}",
            list.join(", ")
        )));
    }
    let chosen: Vec<&str> = h.all("Sec-WebSocket-Protocol").collect();
    match (chosen.as_slice(), subprotocols) {
        ([], []) => Ok(None),
        ([], offered) => Err(client_error(format!(
            "server chose none of the subprotocols we offered ({})",
            offered.join(", ")
        ))),
        ([one], offered) if offered.iter().any(|o| o == one) => Ok(Some(one.to_string())),
        (list, []) => Err(client_error(format!(
            "server selected subprotocol '{}' but we did not offer any",
            list.join(", ")
        ))),
        ([one], offered) => Err(client_error(format!(
            "server selected subprotocol '{one}', which we did not offer (we offered {})",
            offered.join(", ")
        ))),
        (list, _) => Err(client_error(format!(
            "server selected more than one subprotocol: {}",
            list.join(", ")
        ))),
    }
}

/// The subprotocols a client offers, in its order: the comma-separated values
/// of every `Sec-WebSocket-Protocol` header, trimmed, empty items skipped.
pub fn offered_subprotocols(req: &Request) -> Vec<&str> {
    req.headers
        .all("Sec-WebSocket-Protocol")
        .flat_map(|v| v.split(','))
        .map(|p| p.trim_matches(is_ows))
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether `name` can be a subprotocol: a non-empty HTTP token (RFC 6455 4.1).
pub fn is_valid_subprotocol(name: &str) -> bool {
    !name.is_empty() && is_token(name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    const GOOD_REQUEST: &str = "GET /chat?room=1 HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\n\
        Sec-WebSocket-Version: 13\r\n\
        \r\n";

    fn req(s: &str) -> Request {
        parse_request(s.as_bytes())
            .unwrap_or_else(|e| panic!("{s:?}: {}", e.message))
            .expect("complete head")
            .0
    }

    fn req_err(s: &[u8]) -> HandshakeError {
        match parse_request(s) {
            Err(e) => e,
            Ok(r) => panic!("{:?} unexpectedly gave {r:?}", String::from_utf8_lossy(s)),
        }
    }

    fn status_of(response: &[u8]) -> u16 {
        let text = String::from_utf8_lossy(response);
        text.strip_prefix("HTTP/1.1 ").expect("status line")[..3]
            .parse()
            .unwrap()
    }

    fn valid_err(s: &str) -> HandshakeError {
        validate_request(&req(s)).expect_err("validation should fail")
    }

    /// GOOD_REQUEST with the header line starting `name:` replaced (or removed when `line` is empty).
    fn with_header(name: &str, line: &str) -> String {
        let mut out = String::new();
        for l in GOOD_REQUEST.split_inclusive("\r\n") {
            if l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
            {
                if !line.is_empty() {
                    out.push_str(line);
                    out.push_str("\r\n");
                }
            } else {
                out.push_str(l);
            }
        }
        out
    }

    fn resp(s: &str) -> Response {
        parse_response(s.as_bytes())
            .unwrap_or_else(|e| panic!("{s:?}: {}", e.message))
            .expect("complete head")
            .0
    }

    fn good_response() -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        )
    }

    // --- keys ----------------------------------------------------------------

    #[test]
    fn accept_key_rfc_example() {
        assert_eq!(accept_key(KEY), ACCEPT);
    }

    #[test]
    fn generate_key_is_base64_of_16_bytes() {
        let nonce = *b"the sample nonce";
        assert_eq!(generate_key(nonce), KEY);
        let k = generate_key([0xff; 16]);
        assert_eq!(k.len(), 24);
        assert_eq!(BASE64.decode(&k).unwrap(), vec![0xff; 16]);
    }

    // --- Headers ------------------------------------------------------------

    #[test]
    fn headers_get_and_tokens() {
        let h = Headers(vec![
            ("Connection".into(), "keep-alive, Upgrade".into()),
            ("X-A".into(), "1".into()),
            ("x-a".into(), "2".into()),
            ("Upgrade".into(), "h2c".into()),
            ("upgrade".into(), " WebSocket ,foo".into()),
        ]);
        assert_eq!(h.get("connection"), Some("keep-alive, Upgrade"));
        assert_eq!(h.get("X-A"), Some("1"));
        assert_eq!(h.get("missing"), None);
        assert!(h.has_token("CONNECTION", "upgrade"));
        assert!(h.has_token("connection", "Keep-Alive"));
        assert!(!h.has_token("connection", "keep"));
        assert!(h.has_token("Upgrade", "websocket"));
        assert!(h.has_token("Upgrade", "FOO"));
        assert!(!h.has_token("Upgrade", "websocket2"));
        assert!(!h.has_token("Missing", "x"));
        assert_eq!(h.count("x-A"), 2);
        assert_eq!(Headers::default().get("a"), None);
    }

    // --- parse_request ------------------------------------------------------

    #[test]
    fn parses_rfc_request() {
        let (r, n) = parse_request(GOOD_REQUEST.as_bytes()).unwrap().unwrap();
        assert_eq!(n, GOOD_REQUEST.len());
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/chat");
        assert_eq!(r.query, "room=1");
        assert_eq!(r.headers.0.len(), 6);
        assert_eq!(r.headers.get("host"), Some("server.example.com"));
        assert_eq!(r.headers.get("origin"), Some("http://example.com"));
        assert_eq!(validate_request(&r).unwrap(), KEY);
    }

    #[test]
    fn request_with_trailing_bytes_reports_head_length() {
        let mut buf = GOOD_REQUEST.as_bytes().to_vec();
        buf.extend_from_slice(b"\x81\x85extra");
        let (_, n) = parse_request(&buf).unwrap().unwrap();
        assert_eq!(n, GOOD_REQUEST.len());
    }

    #[test]
    fn incomplete_request_needs_more() {
        let full = GOOD_REQUEST.as_bytes();
        for i in 0..full.len() {
            assert_eq!(parse_request(&full[..i]).unwrap(), None, "prefix {i}");
        }
        assert!(parse_request(full).unwrap().is_some());
    }

    #[test]
    fn header_whitespace_is_trimmed() {
        let r = req("GET / HTTP/1.1\r\nHost:h\r\nX-Y: \t spaced value \t\r\nEmpty:\r\n\r\n");
        assert_eq!(r.headers.get("host"), Some("h"));
        assert_eq!(r.headers.get("x-y"), Some("spaced value"));
        assert_eq!(r.headers.get("empty"), Some(""));
        assert_eq!(r.path, "/");
        assert_eq!(r.query, "");
    }

    #[test]
    fn obs_text_in_value_is_kept() {
        let r = req("GET / HTTP/1.1\r\nX: caf\u{e9}\r\n\r\n");
        assert_eq!(r.headers.get("x"), Some("caf\u{e9}"));
    }

    #[test]
    fn request_without_headers() {
        let r = req("GET / HTTP/1.1\r\n\r\n");
        assert!(r.headers.0.is_empty());
        assert_eq!(
            valid_err("GET / HTTP/1.1\r\n\r\n").message,
            "missing Host header"
        );
    }

    #[test]
    fn target_splitting() {
        let r = req("GET /a/b?x=1?y HTTP/1.1\r\n\r\n");
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/a/b", "x=1?y"));
        let r = req("GET /? HTTP/1.1\r\n\r\n");
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/", ""));
    }

    #[test]
    fn absolute_form_target_is_accepted() {
        let r = req("GET http://example.com:8080/chat?x HTTP/1.1\r\n\r\n");
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/chat", "x"));
        let r = req("GET HTTP://example.com HTTP/1.1\r\n\r\n");
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/", ""));
        let r = req("GET wss://example.com?q=1 HTTP/1.1\r\n\r\n");
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/", "q=1"));
        let e = req_err(b"GET http:///x HTTP/1.1\r\n\r\n");
        assert_eq!(status_of(&e.response), 400);
        assert!(e.message.contains("no host"));
    }

    #[test]
    fn bad_targets() {
        for t in ["*", "example.com:80", "chat", "ftp://h/x"] {
            let e = req_err(format!("GET {t} HTTP/1.1\r\n\r\n").as_bytes());
            assert_eq!(status_of(&e.response), 400, "{t}");
            assert!(
                e.message.contains("does not start with '/'"),
                "{}",
                e.message
            );
        }
        let e = req_err(b"GET /x#frag HTTP/1.1\r\n\r\n");
        assert!(e.message.contains("fragment"));
    }

    #[test]
    fn malformed_request_lines() {
        for line in [
            "GET / HTTP/1.1 extra",
            "GET  / HTTP/1.1",
            "GET /",
            "GET",
            " GET / HTTP/1.1",
            "G(T / HTTP/1.1",
            "GET / http/1.1",
            "GET / HTTP/1.1 ",
            "GET /\u{e9} HTTP/1.1",
            "GET /\x01 HTTP/1.1",
        ] {
            let e = req_err(format!("{line}\r\nHost: h\r\n\r\n").as_bytes());
            assert_eq!(status_of(&e.response), 400, "{line:?}");
            assert!(
                e.message.contains("malformed request line"),
                "{line:?}: {}",
                e.message
            );
        }
        let e = req_err(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(status_of(&e.response), 400);
        assert!(e.message.contains("HTTP/1.0"));
        assert!(e.message.contains("needs HTTP/1.1"));
        let e = req_err(b"GET / HTTP/2\r\n\r\n");
        assert!(e.message.contains("unsupported HTTP version"));
    }

    #[test]
    fn empty_first_line_is_refused() {
        let e = req_err(b"\r\nGET / HTTP/1.1\r\n\r\n");
        assert_eq!(status_of(&e.response), 400);
        let e = req_err(b"\r\n\r\n");
        assert!(e.message.contains("empty line"));
    }

    #[test]
    fn malformed_header_lines() {
        let cases: &[(&[u8], &str)] = &[
            (b"GET / HTTP/1.1\r\nHost h\r\n\r\n", "has no ':'"),
            (b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", "folding"),
            (b"GET / HTTP/1.1\r\nHost: h\r\n\tfolded\r\n\r\n", "folding"),
            (b"GET / HTTP/1.1\r\n: v\r\n\r\n", "empty name"),
            (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", "not a valid token"),
            (
                b"GET / HTTP/1.1\r\nBad(Name): h\r\n\r\n",
                "not a valid token",
            ),
            (b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", "control character"),
            (b"GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n", "control character"),
        ];
        for (input, needle) in cases {
            let e = req_err(input);
            assert_eq!(
                status_of(&e.response),
                400,
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert!(
                e.message.contains(needle),
                "{:?}: {}",
                String::from_utf8_lossy(input),
                e.message
            );
        }
    }

    #[test]
    fn bare_line_endings_are_refused_early() {
        // Refused as soon as seen, even before the head is complete.
        let e = req_err(b"GET / HTTP/1.1\nHost: h");
        assert_eq!(status_of(&e.response), 400);
        assert!(e.message.contains("bare LF"));
        let e = req_err(b"GET / HTTP/1.1\r\nHost: h\n\n");
        assert!(e.message.contains("bare LF"));
        let e = req_err(b"\n");
        assert!(e.message.contains("bare LF"));
        let e = req_err(b"GET / HTTP/1.1\rHost: h");
        assert!(e.message.contains("CR that is not followed by LF"));
        // A trailing CR is just incomplete.
        assert_eq!(parse_request(b"GET / HTTP/1.1\r").unwrap(), None);
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\n\r").unwrap(), None);
    }

    #[test]
    fn head_size_limit() {
        // Exactly MAX_HEAD_BYTES with the terminator is accepted.
        let prefix = "GET / HTTP/1.1\r\nX: ";
        let filler = MAX_HEAD_BYTES - prefix.len() - 4;
        let exact = format!("{prefix}{}\r\n\r\n", "a".repeat(filler));
        assert_eq!(exact.len(), MAX_HEAD_BYTES);
        let (_, n) = parse_request(exact.as_bytes()).unwrap().unwrap();
        assert_eq!(n, MAX_HEAD_BYTES);

        // One byte more is refused with 431.
        let over = format!("{prefix}{}\r\n\r\n", "a".repeat(filler + 1));
        let e = req_err(over.as_bytes());
        assert_eq!(status_of(&e.response), 431);
        assert!(e.message.contains("larger than 16384 bytes"));

        // Incomplete: waiting up to MAX_HEAD_BYTES, refused beyond.
        let partial = format!("{prefix}{}", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(
            parse_request(&partial.as_bytes()[..MAX_HEAD_BYTES]).unwrap(),
            None
        );
        let e = req_err(&partial.as_bytes()[..MAX_HEAD_BYTES + 1]);
        assert_eq!(status_of(&e.response), 431);
        let e = req_err(partial.as_bytes());
        assert_eq!(status_of(&e.response), 431);
    }

    #[test]
    fn long_lines_are_cut_in_messages() {
        let line = format!("GET / HTTP/1.1\r\n{}\r\n\r\n", "x".repeat(1000));
        let e = req_err(line.as_bytes());
        assert!(e.message.contains("has no ':'"));
        assert!(e.message.contains(&format!("'{}...'", "x".repeat(80))));
        assert!(e.message.len() < 200);
    }

    #[test]
    fn header_count_limit() {
        let make = |n: usize| {
            let mut s = String::from("GET / HTTP/1.1\r\n");
            for i in 0..n {
                s.push_str(&format!("X-{i}: v\r\n"));
            }
            s.push_str("\r\n");
            s
        };
        assert_eq!(req(&make(MAX_HEADERS)).headers.0.len(), MAX_HEADERS);
        let e = req_err(make(MAX_HEADERS + 1).as_bytes());
        assert_eq!(status_of(&e.response), 431);
        assert!(e.message.contains("more than 100 header lines"));
    }

    #[test]
    fn error_responses_carry_the_message_as_body() {
        let e = req_err(b"GET / HTTP/1.1\r\nHost h\r\n\r\n");
        let text = String::from_utf8(e.response.clone()).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with(&format!("\r\n\r\n{}", e.message)));
        assert_eq!(e.to_string(), e.message);
    }

    // --- validate_request ---------------------------------------------------

    #[test]
    fn validation_accepts_variants() {
        let s = with_header("Connection", "Connection: keep-alive, Upgrade");
        assert_eq!(validate_request(&req(&s)).unwrap(), KEY);
        let s = with_header("Connection", "connection:upgrade");
        assert_eq!(validate_request(&req(&s)).unwrap(), KEY);
        let s = with_header("Upgrade", "UPGRADE: WebSocket");
        assert_eq!(validate_request(&req(&s)).unwrap(), KEY);
        let s = with_header("Upgrade", "Upgrade: foo/1, websocket");
        assert_eq!(validate_request(&req(&s)).unwrap(), KEY);
        let key = generate_key([7; 16]);
        let s = with_header(
            "Sec-WebSocket-Key",
            &format!("sec-websocket-key:   {key}  "),
        );
        assert_eq!(validate_request(&req(&s)).unwrap(), key);
    }

    #[test]
    fn validation_method() {
        let e = valid_err(&GOOD_REQUEST.replacen("GET", "POST", 1));
        assert_eq!(status_of(&e.response), 405);
        assert!(String::from_utf8_lossy(&e.response).contains("\r\nAllow: GET\r\n"));
        assert!(e.message.contains("must use GET, not POST"));
        let e = valid_err(&GOOD_REQUEST.replacen("GET", "get", 1));
        assert_eq!(status_of(&e.response), 405);
    }

    #[test]
    fn a_request_with_a_body_is_refused() {
        let with =
            |extra: &str| GOOD_REQUEST.replacen("\r\n\r\n", &format!("\r\n{extra}\r\n\r\n"), 1);
        for (extra, why) in [
            ("Content-Length: 5", "(Content-Length: 5)"),
            ("Transfer-Encoding: chunked", "Transfer-Encoding"),
            ("Content-Length: 0\r\nContent-Length: 7", "disagree"),
            ("Content-Length: 0\r\nContent-Length: 00", "disagree"),
            ("Content-Length: -1", "invalid Content-Length"),
            ("Content-Length: 1, 1", "invalid Content-Length"),
        ] {
            let e = valid_err(&with(extra));
            assert_eq!(status_of(&e.response), 400, "{extra}");
            assert!(e.message.contains(why), "{extra}: {}", e.message);
        }
        for fine in [
            "Content-Length: 0",
            "Content-Length: 0\r\nContent-Length:  0",
        ] {
            assert!(validate_request(&req(&with(fine))).is_ok(), "{fine}");
        }
    }

    #[test]
    fn validation_host() {
        let e = valid_err(&with_header("Host", ""));
        assert_eq!(
            (status_of(&e.response), e.message.as_str()),
            (400, "missing Host header")
        );
        let e = valid_err(&with_header("Host", "Host: a\r\nHost: b"));
        assert_eq!(status_of(&e.response), 400);
        assert!(e.message.contains("more than one Host"));
        let e = valid_err(&with_header("Host", "Host:"));
        assert!(e.message.contains("empty Host"));
    }

    #[test]
    fn validation_upgrade_and_connection() {
        let e = valid_err(&with_header("Upgrade", ""));
        assert_eq!(status_of(&e.response), 400);
        assert!(e.message.contains("missing Upgrade header"));
        let e = valid_err(&with_header("Upgrade", "Upgrade: h2c"));
        assert!(e.message.contains("'h2c' does not name websocket"));
        let e = valid_err(&with_header("Connection", ""));
        assert_eq!(status_of(&e.response), 400);
        assert!(e.message.contains("missing Connection header"));
        let e = valid_err(&with_header("Connection", "Connection: keep-alive"));
        assert!(e.message.contains("does not contain the 'Upgrade' token"));
        let e = valid_err(&with_header("Connection", "Connection: upgraded"));
        assert!(e.message.contains("does not contain the 'Upgrade' token"));
    }

    #[test]
    fn validation_version() {
        let e = valid_err(&with_header("Sec-WebSocket-Version", ""));
        assert_eq!(status_of(&e.response), 400);
        assert!(e.message.contains("missing Sec-WebSocket-Version"));
        for v in ["8", "14", "13, 8", "", "013"] {
            let e = valid_err(&with_header(
                "Sec-WebSocket-Version",
                &format!("Sec-WebSocket-Version: {v}"),
            ));
            assert_eq!(status_of(&e.response), 426, "{v}");
            let text = String::from_utf8_lossy(&e.response);
            assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
            assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
            assert!(e.message.contains("unsupported Sec-WebSocket-Version"));
        }
        let e = valid_err(&with_header(
            "Sec-WebSocket-Version",
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13",
        ));
        assert_eq!(status_of(&e.response), 400);
    }

    #[test]
    fn validation_key() {
        let e = valid_err(&with_header("Sec-WebSocket-Key", ""));
        assert_eq!(status_of(&e.response), 400);
        assert_eq!(e.message, "missing Sec-WebSocket-Key header");
        let e = valid_err(&with_header(
            "Sec-WebSocket-Key",
            &format!("Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Key: {KEY}"),
        ));
        assert!(e.message.contains("more than one Sec-WebSocket-Key"));
        for (k, needle) in [
            ("not base64!", "not valid base64"),
            ("", "decodes to 0 bytes"),
            ("AAAAAAAAAAAAAAAAAAAA", "decodes to 15 bytes"),
            ("AAAAAAAAAAAAAAAAAAAAAAAA", "decodes to 18 bytes"),
            ("dGhlIHNhbXBsZSBub25jZQ", "not valid base64"),
        ] {
            let e = valid_err(&with_header(
                "Sec-WebSocket-Key",
                &format!("Sec-WebSocket-Key: {k}"),
            ));
            assert_eq!(status_of(&e.response), 400, "{k}");
            assert!(e.message.contains(needle), "{k}: {}", e.message);
        }
    }

    // --- server responses ---------------------------------------------------

    #[test]
    fn accept_response_bytes() {
        assert_eq!(
            build_accept_response(KEY, &[]),
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
            )
            .into_bytes()
        );
    }

    #[test]
    fn error_response_bytes() {
        let body = "caf\u{e9} is closed";
        let r = build_error_response(
            426,
            "Upgrade Required",
            &[("Sec-WebSocket-Version", "13")],
            body,
        );
        let expected = format!(
            "HTTP/1.1 426 Upgrade Required\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\n\
             Connection: close\r\n\
             Sec-WebSocket-Version: 13\r\n\
             \r\n{body}",
            body.len()
        );
        assert_eq!(body.len(), 15);
        assert_eq!(String::from_utf8(r).unwrap(), expected);
        let r = build_error_response(400, "Bad Request", &[], "");
        assert_eq!(
            String::from_utf8(r).unwrap(),
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    // --- client side --------------------------------------------------------

    #[test]
    fn request_bytes() {
        let r = build_request("example.com:9001", "/chat?x=1", KEY, &[]);
        assert_eq!(
            String::from_utf8(r).unwrap(),
            format!(
                "GET /chat?x=1 HTTP/1.1\r\nHost: example.com:9001\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
        );
        let extra = vec![
            ("Origin".to_string(), "http://example.com".to_string()),
            ("X-Token".to_string(), "abc".to_string()),
        ];
        let r = build_request("h", "/", KEY, &extra);
        let text = String::from_utf8(r).unwrap();
        assert!(text.ends_with(
            "Sec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\nX-Token: abc\r\n\r\n"
        ));
    }

    #[test]
    fn built_request_round_trips_through_server_side() {
        let key = generate_key([42; 16]);
        let extra = vec![("Origin".to_string(), "null".to_string())];
        let bytes = build_request("[::1]:9001", "/a?b", &key, &extra);
        let (r, n) = parse_request(&bytes).unwrap().unwrap();
        assert_eq!(n, bytes.len());
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/a", "b"));
        assert_eq!(r.headers.get("host"), Some("[::1]:9001"));
        assert_eq!(r.headers.get("origin"), Some("null"));
        assert_eq!(validate_request(&r).unwrap(), key);

        let answer = build_accept_response(&key, &[]);
        let (resp, n) = parse_response(&answer).unwrap().unwrap();
        assert_eq!(n, answer.len());
        validate_response(&resp, &key, false, &[]).unwrap();
    }

    #[test]
    fn parses_response() {
        let text = good_response();
        let mut buf = text.clone().into_bytes();
        buf.extend_from_slice(b"\x81\x00");
        let (r, n) = parse_response(&buf).unwrap().unwrap();
        assert_eq!(n, text.len());
        assert_eq!(r.status, 101);
        assert_eq!(r.reason, "Switching Protocols");
        assert_eq!(r.headers.get("sec-websocket-accept"), Some(ACCEPT));
        for i in 0..text.len() {
            assert_eq!(
                parse_response(&text.as_bytes()[..i]).unwrap(),
                None,
                "prefix {i}"
            );
        }
    }

    #[test]
    fn response_reason_variants() {
        let r = resp("HTTP/1.1 404 Not Found\r\n\r\n");
        assert_eq!((r.status, r.reason.as_str()), (404, "Not Found"));
        let r = resp("HTTP/1.1 101 \r\n\r\n");
        assert_eq!((r.status, r.reason.as_str()), (101, ""));
        let r = resp("HTTP/1.1 101\r\n\r\n");
        assert_eq!((r.status, r.reason.as_str()), (101, ""));
        let r = resp("HTTP/1.1 500 Internal  Server\tError\r\n\r\n");
        assert_eq!(r.reason, "Internal  Server\tError");
    }

    #[test]
    fn malformed_responses() {
        for line in [
            "HTTP/1.1 1010 Switching",
            "HTTP/1.1 10 Switching",
            "HTTP/1.1 abc Switching",
            "HTTP/1.1  101 Switching",
            "HTTP/1.1101 Switching",
            "http/1.1 101 Switching",
            "ICY 200 OK",
            "HTTP/1.1 101 Bad\x01Reason",
        ] {
            let e = parse_response(format!("{line}\r\n\r\n").as_bytes()).unwrap_err();
            assert!(e.response.is_empty());
            assert!(
                e.message.contains("malformed status line"),
                "{line:?}: {}",
                e.message
            );
        }
        let e = parse_response(b"HTTP/1.0 101 Switching Protocols\r\n\r\n").unwrap_err();
        assert!(e.message.contains("HTTP version 'HTTP/1.0'"));
        let e = parse_response(b"HTTP/2 101\r\n\r\n").unwrap_err();
        assert!(e.message.contains("HTTP version 'HTTP/2'"));
        let e = parse_response(b"HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n").unwrap_err();
        assert!(e.response.is_empty());
        assert!(e.message.contains("has no ':'"));
        let e = parse_response(b"HTTP/1.1 101 OK\r\nA: b\r\n c\r\n\r\n").unwrap_err();
        assert!(e.message.contains("folding"));
        let e = parse_response(b"HTTP/1.1 101 OK\nUpgrade: websocket").unwrap_err();
        assert!(e.message.contains("bare LF"));
    }

    #[test]
    fn response_limits() {
        let mut big = b"HTTP/1.1 101 OK\r\nX: ".to_vec();
        big.resize(MAX_HEAD_BYTES + 1, b'a');
        let e = parse_response(&big).unwrap_err();
        assert!(e.response.is_empty());
        assert!(e.message.contains("larger than"));
        assert_eq!(parse_response(&big[..MAX_HEAD_BYTES]).unwrap(), None);

        let mut many = String::from("HTTP/1.1 101 OK\r\n");
        for i in 0..=MAX_HEADERS {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        let e = parse_response(many.as_bytes()).unwrap_err();
        assert!(e.response.is_empty());
        assert!(e.message.contains("more than 100 header lines"));
    }

    // --- validate_response --------------------------------------------------

    fn resp_err(s: &str) -> HandshakeError {
        let e = validate_response(&resp(s), KEY, false, &[]).expect_err("validation should fail");
        assert!(e.response.is_empty());
        e
    }

    #[test]
    fn validates_good_response() {
        validate_response(&resp(&good_response()), KEY, false, &[]).unwrap();
        let relaxed = format!(
            "HTTP/1.1 101 Web Socket Protocol Handshake\r\nupgrade: WebSocket\r\n\
             connection: keep-alive, upgrade\r\nsec-websocket-accept:{ACCEPT}\r\nServer: x\r\n\r\n"
        );
        validate_response(&resp(&relaxed), KEY, false, &[]).unwrap();
    }

    #[test]
    fn response_wrong_status() {
        let e = resp_err("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            e.message,
            "server answered 404 Not Found instead of 101 Switching Protocols"
        );
        let e = resp_err("HTTP/1.1 200\r\n\r\n");
        assert_eq!(
            e.message,
            "server answered 200 instead of 101 Switching Protocols"
        );
    }

    #[test]
    fn response_missing_upgrade_or_connection() {
        let good = good_response();
        let e = resp_err(&good.replace("Upgrade: websocket\r\n", ""));
        assert!(e.message.contains("no Upgrade header"));
        let e = resp_err(&good.replace("Upgrade: websocket", "Upgrade: h2c"));
        assert!(e.message.contains("upgraded to 'h2c' instead of websocket"));
        let e = resp_err(&good.replace("Connection: Upgrade\r\n", ""));
        assert!(e.message.contains("no Connection header"));
        let e = resp_err(&good.replace("Connection: Upgrade", "Connection: close"));
        assert!(e
            .message
            .contains("'close' does not contain the 'Upgrade' token"));
    }

    #[test]
    fn response_accept_checks() {
        let good = good_response();
        let e = resp_err(&good.replace(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n"), ""));
        assert!(e.message.contains("did not send a Sec-WebSocket-Accept"));
        let e = resp_err(&good.replace(ACCEPT, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="));
        assert!(e
            .message
            .starts_with("server sent a wrong Sec-WebSocket-Accept"));
        let e = resp_err(&good.replace(ACCEPT, &ACCEPT.to_lowercase()));
        assert!(e
            .message
            .starts_with("server sent a wrong Sec-WebSocket-Accept"));
        let dup = good.replace(
            "\r\n\r\n",
            &format!("\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"),
        );
        let e = resp_err(&dup);
        assert!(e.message.contains("more than one Sec-WebSocket-Accept"));
        // Right answer for another key.
        let e = validate_response(&resp(&good), &generate_key([1; 16]), false, &[]).unwrap_err();
        assert!(e
            .message
            .starts_with("server sent a wrong Sec-WebSocket-Accept"));
    }

    #[test]
    fn response_unrequested_extension_or_protocol() {
        let good = good_response();
        let ext = good.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        );
        let e = resp_err(&ext);
        assert_eq!(
            e.message,
            "server selected extension(s) we did not offer: permessage-deflate"
        );
        let proto = good.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
        let e = resp_err(&proto);
        assert!(e.message.contains("subprotocol 'chat'"));
        assert!(e.message.contains("did not offer"));
    }

    #[test]
    fn response_subprotocol_rules() {
        let good = good_response();
        let with = |p: &str| {
            resp(&good.replace(
                "\r\n\r\n",
                &format!("\r\nSec-WebSocket-Protocol: {p}\r\n\r\n"),
            ))
        };
        let offered = vec!["chat".to_string(), "superchat".to_string()];
        assert_eq!(
            validate_response(&with("superchat"), KEY, false, &offered).unwrap(),
            Some("superchat".to_string())
        );
        let e = validate_response(&resp(&good), KEY, false, &offered).unwrap_err();
        assert_eq!(
            e.message,
            "server chose none of the subprotocols we offered (chat, superchat)"
        );
        let e = validate_response(&with("other"), KEY, false, &offered).unwrap_err();
        assert!(e.message.contains("'other', which we did not offer"));
        let e = validate_response(&with("chat, superchat"), KEY, false, &offered).unwrap_err();
        assert!(
            e.message.contains("which we did not offer"),
            "{}",
            e.message
        );
        let two = resp(&good.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
        ));
        let e = validate_response(&two, KEY, false, &offered).unwrap_err();
        assert!(e.message.contains("more than one subprotocol"));
    }

    #[test]
    fn offered_subprotocols_are_split_and_trimmed() {
        let text = GOOD_REQUEST.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Protocol: a, b ,,c\r\nSec-WebSocket-Protocol: d\r\n\r\n",
        );
        let (r, _) = parse_request(text.as_bytes()).unwrap().unwrap();
        assert_eq!(offered_subprotocols(&r), vec!["a", "b", "c", "d"]);
        assert!(is_valid_subprotocol("chat.v2"));
        assert!(!is_valid_subprotocol(""));
        assert!(!is_valid_subprotocol("a b"));
        assert!(!is_valid_subprotocol("a,b"));
    }
}
