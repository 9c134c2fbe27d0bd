//! permessage-deflate (RFC 7692): negotiation and the per-message codec, sans-I/O.
//!
//! Negotiation ([`client_offer`], [`client_accept`], [`server_accept`]) parses
//! and writes `Sec-WebSocket-Extensions` values. The codec ([`Compressor`],
//! [`Decompressor`]) turns whole messages into RSV1 payloads and back; it never
//! touches a socket.
//!
//! Window sizes: zlib cannot *compress* with an 8-bit (256-byte) LZ77 window,
//! and a stream compressed with 8 bits must be *inflated* with 9. So the server
//! declines offers that require it to compress with 8 bits, a client told to
//! compress with 8 bits sends stored (uncompressed) deflate blocks, which
//! respect any window, and both sides inflate an 8-bit peer with 9 bits.

use std::fmt;

use flate2::{Decompress, FlushDecompress, Status};
use zlib_rs::{Deflate, DeflateFlush, Method, Strategy};

/// The registered extension name.
const EXTENSION_NAME: &str = "permessage-deflate";
/// The empty stored block that ends a sync flush (RFC 7692 7.2.1 / 7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Smallest window size the RFC allows on the wire.
const MIN_WIRE_BITS: u8 = 8;
/// Smallest window size zlib compresses and inflates raw deflate with.
const MIN_ZLIB_BITS: u8 = 9;
/// Largest (and default) window size.
const MAX_BITS: u8 = 15;
/// Smallest growth step of the inflate output buffer.
const INFLATE_CHUNK: usize = 4096;

/// What this side is willing to use; both roles read it.
///
/// Window sizes outside 9..=15 are clamped into that range and `level` is
/// capped at 9 wherever they are used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Ask for / accept that the server resets its compression context per message.
    pub server_no_context_takeover: bool,
    /// Ask for / accept that the client resets its compression context per message.
    pub client_no_context_takeover: bool,
    /// Largest LZ77 window (as bits, 9..=15) the server may compress with.
    pub server_max_window_bits: u8,
    /// Largest LZ77 window (as bits, 9..=15) the client may compress with.
    pub client_max_window_bits: u8,
    /// zlib memory level of the compressor (1..=9, default 8). In zlib-rs it
    /// sizes the pending-symbol buffers, 7 × 2^(mem_level+6) bytes (112 KiB at
    /// 8, under 1 KiB at 1; the hash table is a fixed 128 KiB). Lower levels
    /// emit more blocks: incompressible data grows by up to ~4% at 1.
    pub mem_level: u8,
    /// zlib compression level (0..=9).
    pub level: u32,
}

impl Default for DeflateConfig {
    /// Context takeover in both directions, 15-bit windows both ways, memory
    /// level 8 and compression level 6 (zlib's default speed/ratio trade-off).
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_BITS,
            client_max_window_bits: MAX_BITS,
            mem_level: 8,
            level: 6,
        }
    }
}

/// The parameters agreed for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// Window bits the server compresses with (the client inflates with).
    pub server_max_window_bits: u8,
    /// Window bits the client compresses with (the server inflates with).
    pub client_max_window_bits: u8,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value describing these parameters, as the
    /// server answers it (`permessage-deflate; server_no_context_takeover; ...`).
    ///
    /// The no-context-takeover parameters appear when true, the window
    /// parameters when below 15 (15 is what the peer assumes when absent).
    pub fn to_header(&self) -> String {
        let mut header = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            header.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            header.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < MAX_BITS {
            header.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.client_max_window_bits < MAX_BITS {
            header.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        header
    }
}

/// Why an extension negotiation failed (client side): fail with 1010.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiationError(pub String);

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NegotiationError {}

/// Client: the `Sec-WebSocket-Extensions` request value offering `config`.
///
/// Always offers `client_max_window_bits` (bare when our limit is 15) so the
/// server knows we honour it; asks for `server_max_window_bits=N` only when
/// our limit is below 15, and for the no-context-takeover parameters when set.
///
/// When `config` asks something of the server (`server_no_context_takeover`, a
/// smaller `server_max_window_bits`), a second, fallback offer without those
/// requests follows, so a server that cannot grant them still compresses.
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut offer = single_offer(config);
    if let Some(relaxed) = fallback(config) {
        offer.push_str(", ");
        offer.push_str(&single_offer(&relaxed));
    }
    offer
}

/// `config` without its requests to the server, if it makes any. What the
/// client asks of itself stays: the client may always honour that on its own.
fn fallback(config: &DeflateConfig) -> Option<DeflateConfig> {
    let asks_server =
        config.server_no_context_takeover || config_bits(config.server_max_window_bits) < MAX_BITS;
    asks_server.then(|| DeflateConfig {
        server_no_context_takeover: false,
        server_max_window_bits: MAX_BITS,
        ..config.clone()
    })
}

/// One `permessage-deflate` offer describing `config`.
fn single_offer(config: &DeflateConfig) -> String {
    let server_bits = config_bits(config.server_max_window_bits);
    let client_bits = config_bits(config.client_max_window_bits);
    let mut offer = String::from(EXTENSION_NAME);
    if config.server_no_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if config.client_no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    if server_bits < MAX_BITS {
        offer.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    if client_bits < MAX_BITS {
        offer.push_str(&format!("; client_max_window_bits={client_bits}"));
    } else {
        offer.push_str("; client_max_window_bits");
    }
    offer
}

/// Client: checks the server's `Sec-WebSocket-Extensions` answer to our offer.
///
/// The answer must hold exactly one extension, `permessage-deflate`, whose
/// parameters are valid and compatible with what [`client_offer`] asked for
/// (RFC 7692 section 7.1): a requested `server_no_context_takeover` and a
/// requested `server_max_window_bits` must be echoed (the latter with a value
/// no larger than ours), and `client_max_window_bits` may not exceed ours.
///
/// An answer to the fallback offer (see [`client_offer`]) is accepted too.
pub fn client_accept(
    config: &DeflateConfig,
    answer: &str,
) -> Result<DeflateParams, NegotiationError> {
    accept_answer(config, answer).or_else(|first| match fallback(config) {
        Some(relaxed) => accept_answer(&relaxed, answer).map_err(|_| first),
        None => Err(first),
    })
}

/// [`client_accept`] for the single offer made from `config`.
fn accept_answer(config: &DeflateConfig, answer: &str) -> Result<DeflateParams, NegotiationError> {
    let fail = |msg: String| NegotiationError(msg);
    let mut extensions = Vec::new();
    for element in split_elements(answer) {
        let extension = parse_element(element)
            .map_err(|e| fail(format!("malformed Sec-WebSocket-Extensions answer: {e}")))?;
        extensions.push(extension);
    }
    let extension = match extensions.len() {
        0 => {
            return Err(fail(
                "the server's Sec-WebSocket-Extensions answer names no extension".into(),
            ))
        }
        1 => extensions.pop().expect("one element"),
        n => {
            return Err(fail(format!(
                "the server accepted {n} extensions but we offered only permessage-deflate"
            )))
        }
    };
    if !extension.name.eq_ignore_ascii_case(EXTENSION_NAME) {
        return Err(fail(format!(
            "the server accepted extension {:?} which we did not offer",
            extension.name
        )));
    }
    let got = PmdParams::parse(&extension.params).map_err(fail)?;

    if config.server_no_context_takeover && !got.server_no_context_takeover {
        return Err(fail(
            "the server did not accept server_no_context_takeover, which we requested".into(),
        ));
    }

    let our_server_bits = config_bits(config.server_max_window_bits);
    let server_bits = match got.server_max_window_bits {
        Some(bits) if bits > our_server_bits => {
            return Err(fail(format!(
                "the server answered server_max_window_bits={bits} but we allowed at most {our_server_bits}"
            )))
        }
        Some(bits) => bits,
        None if our_server_bits < MAX_BITS => {
            return Err(fail(format!(
                "the server did not answer server_max_window_bits, which we requested as {our_server_bits}"
            )))
        }
        None => MAX_BITS,
    };

    let our_client_bits = config_bits(config.client_max_window_bits);
    let client_bits = match got.client_max_window_bits {
        Some(None) => {
            return Err(fail(
                "the server answered client_max_window_bits without a value".into(),
            ))
        }
        Some(Some(bits)) if bits > our_client_bits => {
            return Err(fail(format!(
                "the server answered client_max_window_bits={bits} but we offered at most {our_client_bits}"
            )))
        }
        Some(Some(bits)) => bits,
        None => our_client_bits,
    };

    Ok(DeflateParams {
        server_no_context_takeover: got.server_no_context_takeover,
        client_no_context_takeover: got.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    })
}

/// Server: picks the first acceptable `permessage-deflate` offer among the
/// request's `Sec-WebSocket-Extensions` values; `None` declines (no compression).
///
/// Offers that are malformed, carry unknown, duplicated or badly valued
/// parameters, or ask us to compress with an 8-bit window (zlib cannot) are
/// declined and the next one is tried. The result's [`DeflateParams::to_header`]
/// is the answer to send. When the client explicitly offered
/// `server_max_window_bits=15`, the agreed server window is 14 so that the
/// answer carries the parameter, as RFC 7692 7.1.2.1 requires.
pub fn server_accept(config: &DeflateConfig, offers: &[&str]) -> Option<DeflateParams> {
    let our_server_bits = config_bits(config.server_max_window_bits);
    let our_client_bits = config_bits(config.client_max_window_bits);
    for element in offers.iter().flat_map(|value| split_elements(value)) {
        let Ok(extension) = parse_element(element) else {
            continue;
        };
        if !extension.name.eq_ignore_ascii_case(EXTENSION_NAME) {
            continue;
        }
        let Ok(offer) = PmdParams::parse(&extension.params) else {
            continue;
        };
        let server_bits = match offer.server_max_window_bits {
            Some(MIN_WIRE_BITS) => continue,
            // An offered limit must be echoed, and 15 is never written.
            Some(bits) => bits.min(our_server_bits).min(MAX_BITS - 1),
            None => our_server_bits,
        };
        let client_bits = match offer.client_max_window_bits {
            Some(bits) => bits.unwrap_or(MAX_BITS).min(our_client_bits),
            // The client did not say it supports the parameter: it uses 15.
            None => MAX_BITS,
        };
        return Some(DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || config.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || config.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        });
    }
    None
}

/// A configured window size clamped into what zlib supports.
fn config_bits(bits: u8) -> u8 {
    bits.clamp(MIN_ZLIB_BITS, MAX_BITS)
}

/// One parsed list element: `name *( ";" param )`.
#[derive(Debug)]
struct Extension<'a> {
    name: &'a str,
    params: Vec<(&'a str, Option<String>)>,
}

/// The permessage-deflate parameters of one offer or answer, syntax-checked.
#[derive(Debug, Default)]
struct PmdParams {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)` is the bare parameter.
    client_max_window_bits: Option<Option<u8>>,
}

impl PmdParams {
    /// Validates names, duplicates and values (RFC 7692 section 7.1).
    fn parse(params: &[(&str, Option<String>)]) -> Result<Self, String> {
        let mut out = PmdParams::default();
        let mut seen = [false; 4];
        for (name, value) in params {
            let index = [
                "server_no_context_takeover",
                "client_no_context_takeover",
                "server_max_window_bits",
                "client_max_window_bits",
            ]
            .iter()
            .position(|known| name.eq_ignore_ascii_case(known))
            .ok_or_else(|| format!("unknown permessage-deflate parameter {name:?}"))?;
            if std::mem::replace(&mut seen[index], true) {
                return Err(format!("permessage-deflate parameter {name} appears twice"));
            }
            match index {
                0 | 1 => {
                    if value.is_some() {
                        return Err(format!(
                            "permessage-deflate parameter {name} must not have a value"
                        ));
                    }
                    if index == 0 {
                        out.server_no_context_takeover = true;
                    } else {
                        out.client_no_context_takeover = true;
                    }
                }
                2 => {
                    let value = value.as_deref().ok_or_else(|| {
                        format!("permessage-deflate parameter {name} needs a value")
                    })?;
                    out.server_max_window_bits = Some(parse_window_bits(name, value)?);
                }
                _ => {
                    out.client_max_window_bits = Some(match value {
                        Some(value) => Some(parse_window_bits(name, value)?),
                        None => None,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// A window-bits value: a decimal 8..=15 without leading zeros.
fn parse_window_bits(name: &str, value: &str) -> Result<u8, String> {
    let bad = || {
        format!(
            "permessage-deflate parameter {name} has invalid value {value:?} (expected 8 to 15)"
        )
    };
    if value.is_empty()
        || value.len() > 2
        || value.starts_with('0')
        || !value.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    match value.parse::<u8>() {
        Ok(bits) if (MIN_WIRE_BITS..=MAX_BITS).contains(&bits) => Ok(bits),
        _ => Err(bad()),
    }
}

/// Splits a header value at the commas outside quoted strings, dropping
/// empty elements (RFC 7230 7 lets lists contain them).
fn split_elements(value: &str) -> Vec<&str> {
    let bytes = value.as_bytes();
    let mut elements = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quotes = false;
            }
        } else if b == b'"' {
            in_quotes = true;
        } else if b == b',' {
            elements.push(&value[start..i]);
            start = i + 1;
        }
    }
    elements.push(&value[start..]);
    elements.retain(|e| !e.trim_matches(is_ows_char).is_empty());
    elements
}

fn is_ows_char(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses `name *( OWS ";" OWS param )` with `param = token [ OWS "=" OWS
/// ( token / quoted-string ) ]`, surrounded by optional whitespace.
fn parse_element(element: &str) -> Result<Extension<'_>, String> {
    let mut cursor = Cursor {
        text: element,
        pos: 0,
    };
    cursor.skip_ows();
    let name = cursor
        .token()
        .ok_or_else(|| format!("expected an extension name in {element:?}"))?;
    let mut params = Vec::new();
    loop {
        cursor.skip_ows();
        match cursor.peek() {
            None => break,
            Some(b';') => cursor.pos += 1,
            Some(_) => return Err(format!("unexpected character in {element:?}")),
        }
        cursor.skip_ows();
        let param = cursor
            .token()
            .ok_or_else(|| format!("expected a parameter name in {element:?}"))?;
        cursor.skip_ows();
        let value = if cursor.peek() == Some(b'=') {
            cursor.pos += 1;
            cursor.skip_ows();
            let value = if cursor.peek() == Some(b'"') {
                cursor.quoted_string()?
            } else {
                cursor
                    .token()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("expected a value for {param} in {element:?}"))?
            };
            // RFC 6455 9.1: an unescaped quoted value must still be a token.
            if value.is_empty() || !value.bytes().all(is_tchar) {
                return Err(format!(
                    "the value of {param} is not a token in {element:?}"
                ));
            }
            Some(value)
        } else {
            None
        };
        params.push((param, value));
    }
    Ok(Extension { name, params })
}

/// A byte cursor over one list element.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while self.peek().is_some_and(is_ows) {
            self.pos += 1;
        }
    }

    /// One or more `tchar`s, or `None`.
    fn token(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.text[start..self.pos])
    }

    /// A quoted string starting at the opening quote, unescaped.
    fn quoted_string(&mut self) -> Result<String, String> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.pos += 1;
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => return Err(format!("unterminated quoted string in {:?}", self.text)),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b) if b == b'\t' || b >= 0x20 && b != 0x7f => {
                            value.push(b);
                            self.pos += 1;
                        }
                        _ => return Err(format!("bad escape in quoted string in {:?}", self.text)),
                    }
                }
                Some(b) if b == b'\t' || b >= 0x20 && b != 0x7f => {
                    value.push(b);
                    self.pos += 1;
                }
                Some(_) => {
                    return Err(format!(
                        "control character in quoted string in {:?}",
                        self.text
                    ))
                }
            }
        }
        String::from_utf8(value).map_err(|_| format!("bad quoted string in {:?}", self.text))
    }
}

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The inflated message would exceed the limit (fail with 1009).
    TooLarge,
    /// The data is not valid deflate (fail with 1007).
    Invalid,
}

/// What one call of [`Decompressor::inflate_some`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inflated {
    /// Bytes of the input taken.
    pub consumed: usize,
    /// It stopped at the step: more output may come, even without more input.
    pub more: bool,
}

/// How a part given to [`Compressor::compress_part`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartEnd {
    /// More of the message follows; zlib may keep bytes back for later.
    More,
    /// More follows, but all given so far comes out now (a sync flush).
    Flush,
    /// The message ends here.
    Last,
}

/// Compresses whole messages for one direction of one connection.
pub struct Compressor {
    /// Raw deflate stream (no zlib header). Without context takeover it exists
    /// only while a message is compressed, so an idle connection holds no zlib
    /// state (about 256 KiB at 15 window bits and memory level 8).
    inner: Option<Deflate>,
    /// zlib level, window bits and memory level, to create `inner`.
    level: u32,
    bits: u8,
    mem_level: u8,
    /// Start afresh for every message.
    no_context_takeover: bool,
    /// Bytes produced so far for the message being compressed in parts.
    produced: usize,
}

/// What a compressor without context takeover compresses with (see
/// [`Compressor::shared_settings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressorSettings {
    bits: u8,
    level: u32,
    mem_level: u8,
}

impl CompressorSettings {
    /// A compressor with these settings, starting afresh for every message.
    pub fn compressor(self) -> Compressor {
        Compressor::new(self.bits, true, self.level, self.mem_level)
    }
}

impl Compressor {
    /// A compressor with `window_bits` (9..=15) that resets per message when
    /// `no_context_takeover`.
    ///
    /// `window_bits` 8 (which a server may legally impose on a client) cannot
    /// be honoured by zlib's compressor, so it yields stored (uncompressed)
    /// deflate blocks, which contain no back-references at all. `level` is
    /// capped at 9. `mem_level` (1..=9, clamped) sizes the pending-symbol
    /// buffers (see [`DeflateConfig::mem_level`]).
    pub fn new(window_bits: u8, no_context_takeover: bool, level: u32, mem_level: u8) -> Self {
        let (bits, level) = if window_bits <= MIN_WIRE_BITS {
            (MIN_ZLIB_BITS, 0)
        } else {
            (window_bits.min(MAX_BITS), level.min(9))
        };
        Compressor {
            inner: None,
            level,
            bits,
            mem_level: mem_level.clamp(1, 9),
            no_context_takeover,
            produced: 0,
        }
    }

    /// The settings it compresses with, when it starts afresh for every
    /// message (no context takeover): then every compressor with the same
    /// settings turns a message into the same bytes, which connections can
    /// share. `None` with context takeover.
    pub fn shared_settings(&self) -> Option<CompressorSettings> {
        self.no_context_takeover.then_some(CompressorSettings {
            bits: self.bits,
            level: self.level,
            mem_level: self.mem_level,
        })
    }

    /// Appends the compressed payload of one message to `out` (sync-flushed,
    /// the trailing 00 00 ff ff removed, RFC 7692 7.2.1).
    ///
    /// The payload is never empty: an empty message compresses to the single
    /// byte `00` (an empty stored block, RFC 7692 7.2.3.6), which leaves the
    /// peer's inflater at a block boundary.
    pub fn compress(&mut self, message: &[u8], out: &mut Vec<u8>) {
        self.compress_part(message, out, PartEnd::Last);
    }

    /// Compresses the next part of a message, appending what comes out to
    /// `out` (possibly nothing: zlib may keep it for later, unless `end` is
    /// `Flush`); `PartEnd::Last` ends the message as [`Compressor::compress`]
    /// does. A message compressed in parts can be sent as fragments, each
    /// carrying what its part produced.
    pub fn compress_part(&mut self, input: &[u8], out: &mut Vec<u8>, end: PartEnd) {
        let last = end == PartEnd::Last;
        let config = zlib_rs::DeflateConfig {
            level: self.level as i32,
            method: Method::Deflated,
            window_bits: -i32::from(self.bits), // negative: raw deflate, no header
            mem_level: i32::from(self.mem_level),
            strategy: Strategy::Default,
        };
        let key = (self.level, self.bits, self.mem_level);
        let fresh = self.no_context_takeover;
        let inner = self.inner.get_or_insert_with(|| match fresh {
            true => pool::take_deflate(key).unwrap_or_else(|| Deflate::new_with_config(config)),
            false => Deflate::new_with_config(config),
        });
        let flush = match end {
            PartEnd::More => DeflateFlush::NoFlush,
            PartEnd::Flush | PartEnd::Last => DeflateFlush::SyncFlush,
        };
        let start = out.len();
        let mut consumed = 0;
        loop {
            // Room for the next piece: a guess at the compressed size.
            let written = out.len();
            let room = (input.len() - consumed) / 4 + 64;
            out.resize(written + room, 0);
            let (before_in, before_out) = (inner.total_in(), inner.total_out());
            inner
                .compress(&input[consumed..], &mut out[written..], flush)
                .expect("deflate cannot fail on a valid stream");
            consumed += (inner.total_in() - before_in) as usize;
            let produced = (inner.total_out() - before_out) as usize;
            out.truncate(written + produced);
            // Done once all input is in and zlib left room.
            if consumed == input.len() && produced < room {
                break;
            }
        }
        if !last {
            self.produced += out.len() - start;
            return;
        }
        if out.len() > start {
            assert!(
                out[start..].ends_with(&TAIL),
                "a sync flush ends with 00 00 ff ff"
            );
            out.truncate(out.len() - TAIL.len());
        }
        // zlib skips a second sync flush in a row (an empty message after a
        // message, or an empty last part after a flushed one, same context):
        // send the empty stored block ourselves. Without it the payload would
        // end with the 00 00 ff ff of the earlier flush, which the peer
        // appends again, leaving its inflater inside a stored block header
        // that swallows the next message.
        if out.len() == start {
            out.push(0x00);
        }
        self.produced = 0;
        if self.no_context_takeover {
            if let Some(state) = self.inner.take() {
                pool::give_deflate(key, state);
            }
        }
    }
}

/// Inflates the messages of one direction of one connection, in pieces.
pub struct Decompressor {
    /// Raw inflate stream (no zlib header). Without context takeover it exists
    /// only while a message is inflated (see `Compressor::inner`).
    inner: Option<Decompress>,
    /// Window bits, to create `inner`.
    bits: u8,
    /// Start afresh for every message.
    no_context_takeover: bool,
    /// The peer ended the deflate stream (a block with BFINAL set) in this
    /// message: the rest of the message is ignored and the stream restarts.
    ended: bool,
    /// A previous call failed; the connection is failing.
    failed: bool,
}

impl Decompressor {
    /// A decompressor for a peer compressing with up to `window_bits`, that
    /// resets per message when `no_context_takeover`.
    ///
    /// 8 (and anything smaller) inflates with 9 bits: zlib's inflater needs a
    /// 9-bit window there, and a larger window is always safe.
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        Decompressor {
            inner: None,
            bits: config_bits(window_bits),
            no_context_takeover,
            ended: false,
            failed: false,
        }
    }

    /// Inflates the next piece of a compressed message, appending to `out`;
    /// fails as soon as `out` would grow past `limit` bytes.
    ///
    /// `out` is grown in steps and never allocated beyond `limit + 1` bytes by
    /// this call, so a decompression bomb is caught early. After an error the
    /// decompressor stays failed (every later call returns
    /// [`InflateError::Invalid`]). Should the peer end the deflate stream with
    /// a BFINAL block, the rest of that message is ignored and the next message
    /// starts a fresh stream.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        self.inflate_some(input, out, limit, usize::MAX).map(|_| ())
    }

    /// As [`Decompressor::inflate`], but stops once `out` grew by `step`
    /// bytes, so that a small input that inflates to a lot is handled in
    /// slices. Says how much of `input` it took and whether it stopped early;
    /// then call again with the rest of `input` (possibly none).
    pub fn inflate_some(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        step: usize,
    ) -> Result<Inflated, InflateError> {
        if self.failed {
            return Err(InflateError::Invalid);
        }
        let result = self.inflate_inner(input, out, limit, step);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn inflate_inner(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        step: usize,
    ) -> Result<Inflated, InflateError> {
        if out.len() > limit {
            return Err(InflateError::TooLarge);
        }
        let max_capacity = limit.saturating_add(1);
        let bits = self.bits;
        let fresh = self.no_context_takeover;
        let inner = self.inner.get_or_insert_with(|| match fresh {
            true => pool::take_inflate(bits)
                .unwrap_or_else(|| Decompress::new_with_window_bits(false, bits)),
            false => Decompress::new_with_window_bits(false, bits),
        });
        let start = out.len();
        let mut consumed = 0;
        while !self.ended {
            if out.len() - start >= step {
                return Ok(Inflated {
                    consumed,
                    more: true,
                });
            }
            if out.len() == out.capacity() {
                // Room for at least one byte: out.len() <= limit here.
                let grow = out.len().max(INFLATE_CHUNK).min(max_capacity - out.len());
                out.reserve_exact(grow);
            }
            let (before_in, before_out) = (inner.total_in(), inner.total_out());
            // The room offered to zlib: the spare capacity, or less when the
            // step allows less (then into a bounded window).
            let room = (out.capacity() - out.len()).min(step - (out.len() - start));
            let status = if room == out.capacity() - out.len() {
                inner.decompress_vec(&input[consumed..], out, FlushDecompress::None)
            } else {
                let len = out.len();
                out.resize(len + room, 0);
                let result =
                    inner.decompress(&input[consumed..], &mut out[len..], FlushDecompress::None);
                out.truncate(len + (inner.total_out() - before_out) as usize);
                result
            }
            .map_err(|_| InflateError::Invalid)?;
            let read = (inner.total_in() - before_in) as usize;
            let written = (inner.total_out() - before_out) as usize;
            consumed += read;
            if out.len() > limit {
                return Err(InflateError::TooLarge);
            }
            match status {
                Status::StreamEnd => self.ended = true,
                Status::Ok | Status::BufError => {
                    // zlib stops early only when the output is full; with room
                    // left and input consumed, everything has been inflated.
                    let room_left = written < room;
                    if room_left && consumed == input.len() {
                        break;
                    }
                    if room_left && read == 0 && written == 0 {
                        // No progress despite input and room: never expected.
                        return Err(InflateError::Invalid);
                    }
                }
            }
        }
        if self.ended {
            // The rest of the message after a final block is ignored.
            consumed = input.len();
        }
        Ok(Inflated {
            consumed,
            more: false,
        })
    }

    /// Ends the message: inflates the implied 00 00 ff ff tail, and resets the
    /// context when negotiated.
    pub fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        self.inflate(&TAIL, out, limit)?;
        if self.ended || self.no_context_takeover {
            match self.inner.take() {
                Some(state) if self.no_context_takeover => pool::give_inflate(self.bits, state),
                _ => {}
            }
            self.ended = false;
        }
        Ok(())
    }
}

/// zlib states of connections that keep no context between messages: reset
/// after each message and kept by the thread for the next one, so such
/// connections hold no zlib state while idle and allocate none per message
/// (a compressor's state is about 256 KiB at 15 window bits and memory
/// level 8, an inflater's about 40 KiB). A thread keeps a few of each kind.
mod pool {
    use flate2::Decompress;
    use std::cell::RefCell;
    use zlib_rs::Deflate;

    /// States one thread keeps, of each kind.
    const KEEP: usize = 4;

    /// A compressor's settings: level, window bits, memory level.
    pub type Key = (u32, u8, u8);

    thread_local! {
        static DEFLATES: RefCell<Vec<(Key, Deflate)>> = const { RefCell::new(Vec::new()) };
        static INFLATES: RefCell<Vec<(u8, Decompress)>> = const { RefCell::new(Vec::new()) };
    }

    pub fn take_deflate(key: Key) -> Option<Deflate> {
        DEFLATES.with(|pool| {
            let mut pool = pool.borrow_mut();
            let i = pool.iter().position(|(k, _)| *k == key)?;
            Some(pool.swap_remove(i).1)
        })
    }

    pub fn give_deflate(key: Key, mut state: Deflate) {
        state.reset();
        DEFLATES.with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < KEEP {
                pool.push((key, state));
            }
        });
    }

    pub fn take_inflate(bits: u8) -> Option<Decompress> {
        INFLATES.with(|pool| {
            let mut pool = pool.borrow_mut();
            let i = pool.iter().position(|(b, _)| *b == bits)?;
            Some(pool.swap_remove(i).1)
        })
    }

    pub fn give_inflate(bits: u8, mut state: Decompress) {
        state.reset(false);
        INFLATES.with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < KEEP {
                pool.push((bits, state));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: sbits,
            client_max_window_bits: cbits,
        }
    }

    fn cfg(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateConfig {
        DeflateConfig {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: sbits,
            client_max_window_bits: cbits,
            ..DeflateConfig::default()
        }
    }

    fn server(offer: &str) -> Option<DeflateParams> {
        server_accept(&DeflateConfig::default(), &[offer])
    }

    fn client(answer: &str) -> Result<DeflateParams, NegotiationError> {
        client_accept(&DeflateConfig::default(), answer)
    }

    // ---- configuration and header writing ----

    #[test]
    fn default_config() {
        let c = DeflateConfig::default();
        assert_eq!(c, cfg(false, false, 15, 15));
        assert_eq!((c.level, c.mem_level), (6, 8));
    }

    #[test]
    fn client_offer_variants() {
        let d = DeflateConfig::default();
        assert_eq!(
            client_offer(&d),
            "permessage-deflate; client_max_window_bits"
        );
        assert_eq!(
            client_offer(&cfg(true, true, 10, 12)),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=12, \
             permessage-deflate; client_no_context_takeover; client_max_window_bits=12"
        );
        assert_eq!(
            client_offer(&cfg(false, true, 15, 9)),
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=9"
        );
        // Out-of-range configuration is clamped to 9..=15.
        assert_eq!(
            client_offer(&cfg(false, false, 3, 200)),
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits, \
             permessage-deflate; client_max_window_bits"
        );
    }

    #[test]
    fn to_header_variants() {
        assert_eq!(
            params(false, false, 15, 15).to_header(),
            "permessage-deflate"
        );
        assert_eq!(
            params(true, true, 9, 10).to_header(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=9; client_max_window_bits=10"
        );
        assert_eq!(
            params(false, true, 15, 8).to_header(),
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=8"
        );
    }

    // ---- server side ----

    #[test]
    fn server_plain_offers() {
        assert_eq!(
            server("permessage-deflate"),
            Some(params(false, false, 15, 15))
        );
        assert_eq!(
            server("permessage-deflate; client_max_window_bits"),
            Some(params(false, false, 15, 15))
        );
        assert_eq!(
            server("PerMessage-Deflate"),
            Some(params(false, false, 15, 15))
        );
    }

    #[test]
    fn server_no_offer_declines() {
        assert_eq!(server_accept(&DeflateConfig::default(), &[]), None);
        assert_eq!(server(""), None);
        assert_eq!(server(" , ,"), None);
        assert_eq!(server("x-webkit-deflate-frame"), None);
        assert_eq!(server("deflate-frame; no_context_takeover, foo"), None);
    }

    #[test]
    fn server_context_takeover_params() {
        assert_eq!(
            server("permessage-deflate; server_no_context_takeover"),
            Some(params(true, false, 15, 15))
        );
        assert_eq!(
            server("permessage-deflate; client_no_context_takeover"),
            Some(params(false, true, 15, 15))
        );
        assert_eq!(
            server("permessage-deflate;server_no_context_takeover;client_no_context_takeover"),
            Some(params(true, true, 15, 15))
        );
        // Our configuration may impose resets the client did not ask for.
        let c = cfg(true, true, 15, 15);
        assert_eq!(
            server_accept(&c, &["permessage-deflate"]),
            Some(params(true, true, 15, 15))
        );
    }

    #[test]
    fn server_window_bits_matrix() {
        for bits in 8..=15u8 {
            // server_max_window_bits: 8 is declined (zlib cannot compress with
            // it); 15 is echoed as 14 so that the answer carries it.
            let offer = format!("permessage-deflate; server_max_window_bits={bits}");
            let expected = match bits {
                8 => None,
                15 => Some(params(false, false, 14, 15)),
                b => Some(params(false, false, b, 15)),
            };
            assert_eq!(server(&offer), expected, "{offer}");
            if let Some(p) = &expected {
                assert!(p.to_header().contains("server_max_window_bits="));
            }

            let offer = format!("permessage-deflate; client_max_window_bits={bits}");
            assert_eq!(
                server(&offer),
                Some(params(false, false, 15, bits)),
                "{offer}"
            );

            // Our limits apply too.
            for ours in 9..=15u8 {
                let c = cfg(false, false, ours, ours);
                let offer = format!(
                    "permessage-deflate; server_max_window_bits={bits}; client_max_window_bits={bits}"
                );
                let got = server_accept(&c, &[&offer]);
                if bits == 8 {
                    assert_eq!(got, None);
                } else {
                    let s = bits.min(ours).min(14);
                    assert_eq!(
                        got,
                        Some(params(false, false, s, bits.min(ours))),
                        "{offer} {ours}"
                    );
                }
                let got = server_accept(&c, &["permessage-deflate; client_max_window_bits"]);
                assert_eq!(got, Some(params(false, false, ours, ours)));
                // The client did not offer client_max_window_bits: it uses 15.
                let got = server_accept(&c, &["permessage-deflate"]);
                assert_eq!(got, Some(params(false, false, ours, 15)));
                assert!(!got.unwrap().to_header().contains("client_max_window_bits"));
            }
        }
    }

    #[test]
    fn server_rejects_invalid_offers() {
        for offer in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=09",
            "permessage-deflate; server_max_window_bits=+9",
            "permessage-deflate; server_max_window_bits=abc",
            "permessage-deflate; server_max_window_bits=\"\"",
            "permessage-deflate; client_max_window_bits=0",
            "permessage-deflate; client_max_window_bits=100",
            "permessage-deflate; client_max_window_bits=\"1 0\"",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=\"\"",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            "permessage-deflate; unknown_param",
            "permessage-deflate; mux=1",
            // Malformed syntax.
            "permessage-deflate;",
            "permessage-deflate; ; server_no_context_takeover",
            "permessage-deflate server_no_context_takeover",
            "permessage-deflate; client_max_window_bits=",
            "permessage-deflate; client_max_window_bits=\"10",
            "permessage-deflate; client_max_window_bits=10 11",
            "; permessage-deflate",
            "\"permessage-deflate\"",
            "permessage-deflate; client_max_window_bits==10",
        ] {
            assert_eq!(server(offer), None, "{offer}");
        }
    }

    #[test]
    fn server_quoted_values_and_whitespace() {
        assert_eq!(
            server("permessage-deflate; client_max_window_bits=\"10\""),
            Some(params(false, false, 15, 10))
        );
        assert_eq!(
            server("permessage-deflate; server_max_window_bits=\"1\\2\""),
            Some(params(false, false, 12, 15))
        );
        assert_eq!(
            server(
                "  permessage-deflate \t;\tserver_max_window_bits = 11 ; client_max_window_bits  "
            ),
            Some(params(false, false, 11, 15))
        );
    }

    #[test]
    fn server_takes_first_acceptable_offer() {
        // The first offer is invalid, the second is taken.
        assert_eq!(
            server(
                "permessage-deflate; server_max_window_bits=20, \
                 permessage-deflate; client_no_context_takeover"
            ),
            Some(params(false, true, 15, 15))
        );
        // A comma inside a quoted string does not separate offers.
        assert_eq!(
            server(
                "foo; bar=\"a,permessage-deflate\", permessage-deflate; server_max_window_bits=10"
            ),
            Some(params(false, false, 10, 15))
        );
        // The first valid offer wins over later ones.
        assert_eq!(
            server("permessage-deflate; server_max_window_bits=10, permessage-deflate"),
            Some(params(false, false, 10, 15))
        );
        // An offer needing an 8-bit server window is skipped.
        assert_eq!(
            server("permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9"),
            Some(params(false, false, 9, 15))
        );
        // Several header values are read in order, and a broken quote in one
        // does not spill into the next.
        let d = DeflateConfig::default();
        assert_eq!(
            server_accept(
                &d,
                &[
                    "foo; a=\"unterminated",
                    "permessage-deflate; client_max_window_bits=11"
                ]
            ),
            Some(params(false, false, 15, 11))
        );
        assert_eq!(
            server_accept(
                &d,
                &[
                    "permessage-deflate; x",
                    "permessage-deflate; server_no_context_takeover"
                ]
            ),
            Some(params(true, false, 15, 15))
        );
        assert_eq!(server_accept(&d, &["foo", "bar, baz"]), None);
    }

    // ---- client side ----

    #[test]
    fn client_accepts_plain_answers() {
        assert_eq!(
            client("permessage-deflate"),
            Ok(params(false, false, 15, 15))
        );
        assert_eq!(
            client(" permessage-deflate , "),
            Ok(params(false, false, 15, 15))
        );
        assert_eq!(
            client("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            Ok(params(true, true, 15, 15))
        );
        // The server may impose window sizes we did not ask for.
        for bits in 8..=15u8 {
            assert_eq!(
                client(&format!(
                    "permessage-deflate; server_max_window_bits={bits}"
                )),
                Ok(params(false, false, bits, 15))
            );
            assert_eq!(
                client(&format!(
                    "permessage-deflate; client_max_window_bits=\"{bits}\""
                )),
                Ok(params(false, false, 15, bits))
            );
        }
    }

    #[test]
    fn client_rejects_bad_answers() {
        for answer in [
            "",
            "  ",
            "x-webkit-deflate-frame",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate, foo",
            "foo, permessage-deflate",
            "permessage-deflate; unknown",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=x",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; client_max_window_bits=99",
            "permessage-deflate; client_max_window_bits=9; client_max_window_bits=9",
            "permessage-deflate;",
            "permessage-deflate; client_max_window_bits=\"9",
        ] {
            let err = client(answer).expect_err(answer);
            assert!(!err.to_string().is_empty());
        }
        assert!(client("foo").unwrap_err().0.contains("did not offer"));
    }

    #[test]
    fn client_checks_what_it_requested() {
        // server_no_context_takeover requested: an answer to that offer must
        // echo it; a plain answer is the fallback offer's.
        let c = cfg(true, false, 15, 15);
        assert!(accept_answer(&c, "permessage-deflate").is_err());
        assert_eq!(
            client_accept(&c, "permessage-deflate"),
            Ok(params(false, false, 15, 15))
        );
        assert_eq!(
            client_accept(&c, "permessage-deflate; server_no_context_takeover"),
            Ok(params(true, false, 15, 15))
        );
        // client_no_context_takeover is our own choice: kept even if not echoed.
        let c = cfg(false, true, 15, 15);
        assert_eq!(
            client_accept(&c, "permessage-deflate"),
            Ok(params(false, true, 15, 15))
        );

        for ours in 9..=14u8 {
            // server_max_window_bits requested: echoed with a value <= ours.
            let c = cfg(false, false, ours, 15);
            assert!(accept_answer(&c, "permessage-deflate").is_err());
            for bits in 8..=15u8 {
                let got = accept_answer(
                    &c,
                    &format!("permessage-deflate; server_max_window_bits={bits}"),
                );
                if bits <= ours {
                    assert_eq!(got, Ok(params(false, false, bits, 15)));
                } else {
                    assert!(got.is_err(), "{bits} > {ours}");
                }
            }
            // client_max_window_bits=ours offered: the answer may lower it.
            let c = cfg(false, false, 15, ours);
            assert_eq!(
                client_accept(&c, "permessage-deflate"),
                Ok(params(false, false, 15, ours))
            );
            for bits in 8..=15u8 {
                let got = client_accept(
                    &c,
                    &format!("permessage-deflate; client_max_window_bits={bits}"),
                );
                if bits <= ours {
                    assert_eq!(got, Ok(params(false, false, 15, bits)));
                } else {
                    assert!(got.is_err(), "{bits} > {ours}");
                }
            }
        }
    }

    #[test]
    fn negotiation_round_trips() {
        let bools = [false, true];
        let bits = [9u8, 10, 12, 14, 15];
        for &snct in &bools {
            for &cnct in &bools {
                for &sbits in &bits {
                    for &cbits in &bits {
                        let c = cfg(snct, cnct, sbits, cbits);
                        // Our client against our server, same config and default.
                        for server_cfg in [
                            c.clone(),
                            DeflateConfig::default(),
                            cfg(!snct, !cnct, 11, 10),
                        ] {
                            let offer = client_offer(&c);
                            let agreed = server_accept(&server_cfg, &[&offer]).expect(&offer);
                            let answer = agreed.to_header();
                            assert_eq!(
                                client_accept(&c, &answer),
                                Ok(agreed.clone()),
                                "{offer} -> {answer}"
                            );
                            assert!(agreed.server_max_window_bits <= sbits);
                            assert!(agreed.client_max_window_bits <= cbits);
                        }
                    }
                }
            }
        }
        // The server's own view of an answer parses identically.
        let p = params(true, false, 11, 9);
        assert_eq!(
            client_accept(&cfg(true, false, 11, 9), &p.to_header()),
            Ok(p)
        );
    }

    // ---- codec ----

    /// Deterministic pseudo-random bytes (xorshift64).
    fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    fn json(n: usize) -> Vec<u8> {
        let mut s = String::from("[");
        for i in 0..n {
            s.push_str(&format!(
                "{{\"id\":{i},\"name\":\"user{}\",\"active\":{},\"tags\":[\"a\",\"b\"]}},",
                i * 7 % 13,
                i % 2 == 0
            ));
        }
        s.push(']');
        s.into_bytes()
    }

    fn compress(c: &mut Compressor, message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        c.compress(message, &mut out);
        out
    }

    fn inflate(d: &mut Decompressor, payload: &[u8]) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        d.inflate(payload, &mut out, usize::MAX)?;
        d.finish(&mut out, usize::MAX)?;
        Ok(out)
    }

    #[test]
    fn a_message_compressed_in_parts_inflates_whole_and_keeps_the_context() {
        for no_context_takeover in [false, true] {
            let mut c = Compressor::new(15, no_context_takeover, 6, 8);
            let mut d = Decompressor::new(15, no_context_takeover);
            let mut message = json(3000);
            message.extend(noise(50_000, 7));
            for round in 0..3 {
                let mut payload = Vec::new();
                let parts: Vec<&[u8]> = message.chunks(7000).collect();
                for (i, part) in parts.iter().enumerate() {
                    let end = match i + 1 == parts.len() {
                        true => PartEnd::Last,
                        false => PartEnd::More,
                    };
                    c.compress_part(part, &mut payload, end);
                }
                assert_eq!(inflate(&mut d, &payload).unwrap(), message, "round {round}");
                // The same message in one piece inflates the same way after it.
                assert_eq!(
                    inflate(&mut d, &compress(&mut c, &message)).unwrap(),
                    message
                );
            }
            // An empty last part, and an empty message, still make a valid payload.
            let mut payload = Vec::new();
            c.compress_part(b"abc", &mut payload, PartEnd::More);
            c.compress_part(b"", &mut payload, PartEnd::Last);
            assert_eq!(inflate(&mut d, &payload).unwrap(), b"abc");
            assert_eq!(compress(&mut c, b""), vec![0x00]);
        }
    }

    #[test]
    fn an_empty_last_part_after_a_flushed_one_keeps_the_next_message_intact() {
        // Found by the receiver_deflate fuzz target: the empty last part
        // produced nothing, so the message ended with the 00 00 ff ff of the
        // flush before it and the peer's next message inflated to garbage.
        for no_context_takeover in [false, true] {
            let mut c = Compressor::new(15, no_context_takeover, 6, 8);
            let mut d = Decompressor::new(15, no_context_takeover);
            let mut payload = Vec::new();
            c.compress_part(b"abc", &mut payload, PartEnd::Flush);
            let mut last = Vec::new();
            c.compress_part(b"", &mut last, PartEnd::Last);
            assert_eq!(last, vec![0x00], "the empty stored block's header");
            payload.extend(last);
            assert_eq!(inflate(&mut d, &payload).unwrap(), b"abc");
            assert_eq!(inflate(&mut d, &compress(&mut c, b"xyz")).unwrap(), b"xyz");
        }
    }

    #[test]
    fn inflating_in_steps_gives_the_same_bytes() {
        let message = json(20_000);
        let payload = compress(&mut Compressor::new(15, false, 6, 8), &message);
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        let mut rest: &[u8] = &payload;
        let mut steps = 0;
        loop {
            let before = out.len();
            let done = d.inflate_some(rest, &mut out, usize::MAX, 10_000).unwrap();
            assert!(
                out.len() - before <= 10_000 + 4096,
                "a step stays near its size"
            );
            rest = &rest[done.consumed..];
            steps += 1;
            if rest.is_empty() && !done.more {
                break;
            }
        }
        d.finish(&mut out, usize::MAX).unwrap();
        assert_eq!(out, message);
        assert!(steps > message.len() / 10_000 / 2, "{steps} steps");
    }

    #[test]
    fn connections_without_context_reuse_the_threads_zlib_states() {
        let (m1, m2) = (json(500), noise(3000, 3));
        let fresh = compress(&mut Compressor::new(15, true, 6, 8), &m1);
        let (mut a, mut b) = (
            Compressor::new(15, true, 6, 8),
            Compressor::new(15, true, 6, 8),
        );
        let (mut da, mut db) = (Decompressor::new(15, true), Decompressor::new(15, true));
        for _ in 0..3 {
            // A reused state was reset: the same bytes as a fresh compressor.
            let p1 = compress(&mut a, &m1);
            assert_eq!(p1, fresh);
            let p2 = compress(&mut b, &m2);
            assert_eq!(inflate(&mut da, &p2).unwrap(), m2);
            assert_eq!(inflate(&mut db, &p1).unwrap(), m1);
        }
        // Nothing is kept between messages; the thread keeps the states.
        assert!(a.inner.is_none() && b.inner.is_none());
        assert!(da.inner.is_none() && db.inner.is_none());
        let deflate = pool::take_deflate((6, 15, 8));
        let inflate = pool::take_inflate(15);
        assert!(deflate.is_some() && inflate.is_some());
        pool::give_deflate((6, 15, 8), deflate.unwrap());
        pool::give_inflate(15, inflate.unwrap());
        // A different setting gets a state of its own.
        assert!(pool::take_deflate((1, 15, 8)).is_none());
    }

    #[test]
    fn round_trip_with_context_takeover() {
        let mut c = Compressor::new(15, false, 6, 8);
        let mut d = Decompressor::new(15, false);
        let message = json(200);
        let first = compress(&mut c, &message);
        let second = compress(&mut c, &message);
        assert!(first.len() < message.len() / 4);
        assert!(
            second.len() * 5 < first.len(),
            "{} vs {}",
            second.len(),
            first.len()
        );
        assert_eq!(inflate(&mut d, &first).unwrap(), message);
        assert_eq!(inflate(&mut d, &second).unwrap(), message);
        let random = noise(100_000, 7);
        for _ in 0..3 {
            let payload = compress(&mut c, &random);
            assert_eq!(inflate(&mut d, &payload).unwrap(), random);
        }
    }

    #[test]
    fn round_trip_without_context_takeover() {
        let mut c = Compressor::new(15, true, 6, 8);
        let mut d = Decompressor::new(15, true);
        let message = json(200);
        let first = compress(&mut c, &message);
        for _ in 0..3 {
            let again = compress(&mut c, &message);
            assert_eq!(again, first);
            assert_eq!(inflate(&mut d, &again).unwrap(), message);
        }
        // A fresh decompressor can read any later message.
        assert_eq!(
            inflate(&mut Decompressor::new(15, false), &first).unwrap(),
            message
        );
    }

    #[test]
    fn round_trip_all_window_sizes_and_levels() {
        let mut message = json(300);
        message.extend(noise(5000, 3));
        message.extend(json(300));
        for bits in 9..=15u8 {
            for level in [0, 1, 6, 9] {
                for nct in [false, true] {
                    let mut c = Compressor::new(bits, nct, level, 8);
                    let mut d = Decompressor::new(bits, nct);
                    for _ in 0..3 {
                        let payload = compress(&mut c, &message);
                        assert_eq!(
                            inflate(&mut d, &payload).unwrap(),
                            message,
                            "{bits} {level}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn window_eight_is_stored_and_inflates_with_nine() {
        let message = json(50);
        let mut c = Compressor::new(8, false, 6, 8);
        let mut d = Decompressor::new(8, false);
        for _ in 0..2 {
            let payload = compress(&mut c, &message);
            // Stored blocks only: no back-references at all.
            assert!(payload.len() >= message.len());
            assert_eq!(inflate(&mut d, &payload).unwrap(), message);
        }
    }

    #[test]
    fn inflate_in_arbitrary_pieces() {
        let mut c = Compressor::new(15, false, 6, 8);
        let mut message = json(500);
        message.extend(noise(20_000, 11));
        let payloads: Vec<Vec<u8>> = (0..3).map(|_| compress(&mut c, &message)).collect();
        for step in [1usize, 2, 3, 7, 100, 4096] {
            let mut d = Decompressor::new(15, false);
            for payload in &payloads {
                let mut out = Vec::new();
                for piece in payload.chunks(step) {
                    d.inflate(piece, &mut out, usize::MAX).unwrap();
                }
                d.inflate(&[], &mut out, usize::MAX).unwrap();
                d.finish(&mut out, usize::MAX).unwrap();
                assert_eq!(out, message, "step {step}");
            }
        }
    }

    #[test]
    fn one_small_input_inflates_to_many_chunks() {
        let message = vec![b'a'; 3_000_000];
        let payload = compress(&mut Compressor::new(15, false, 9, 8), &message);
        assert!(payload.len() < 10_000);
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        d.inflate(&payload, &mut out, message.len()).unwrap();
        d.finish(&mut out, message.len()).unwrap();
        assert_eq!(out.len(), message.len());
        assert!(out == message);
    }

    #[test]
    fn exact_limit_is_allowed_and_one_more_is_not() {
        let message = noise(10_000, 5);
        let payload = compress(&mut Compressor::new(15, false, 6, 8), &message);
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        d.inflate(&payload, &mut out, 10_000).unwrap();
        d.finish(&mut out, 10_000).unwrap();
        assert_eq!(out, message);

        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        let result = d
            .inflate(&payload, &mut out, 9_999)
            .and_then(|()| d.finish(&mut out, 9_999));
        assert_eq!(result, Err(InflateError::TooLarge));
        assert!(out.capacity() <= 10_000);
    }

    #[test]
    fn empty_message() {
        for nct in [false, true] {
            let mut c = Compressor::new(15, nct, 6, 8);
            let mut d = Decompressor::new(15, nct);
            // Fresh context, after a message, twice in a row, then a message.
            for message in [&b""[..], b"", b"Hello", b"", b"", b"Hello"] {
                let payload = compress(&mut c, message);
                if message.is_empty() {
                    assert_eq!(payload, [0x00]);
                }
                assert_eq!(inflate(&mut d, &payload).unwrap(), message);
            }
        }
        // An empty payload is not produced by us but must not crash.
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        let _ = d
            .inflate(&[], &mut out, 100)
            .and_then(|()| d.finish(&mut out, 100));
    }

    #[test]
    fn compress_appends_to_existing_output() {
        let mut c = Compressor::new(15, false, 6, 8);
        let mut out = b"header".to_vec();
        c.compress(b"Hello", &mut out);
        assert_eq!(&out[..6], b"header");
        let mut d = Decompressor::new(15, false);
        assert_eq!(inflate(&mut d, &out[6..]).unwrap(), b"Hello");
    }

    #[test]
    fn rfc7692_examples() {
        // 7.2.3.1: a message compressed with a single block.
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let mut d = Decompressor::new(15, false);
        assert_eq!(inflate(&mut d, &hello).unwrap(), b"Hello");
        // 7.2.3.2: the second "Hello" with context takeover.
        assert_eq!(
            inflate(&mut d, &[0xf2, 0x00, 0x11, 0x00, 0x00]).unwrap(),
            b"Hello"
        );
        // The same message in two fragments.
        let mut out = Vec::new();
        d.inflate(&[0xf2, 0x48, 0xcd], &mut out, 100).unwrap();
        d.inflate(&[0xc9, 0xc9, 0x07, 0x00], &mut out, 100).unwrap();
        d.finish(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");

        // 7.2.3.3: a stored block.
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(
            inflate(&mut Decompressor::new(15, false), &stored).unwrap(),
            b"Hello"
        );
        // 7.2.3.5: two blocks in one message.
        let two = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        assert_eq!(
            inflate(&mut Decompressor::new(15, false), &two).unwrap(),
            b"Hello"
        );
        // 7.2.3.6: an empty block for an empty message.
        assert_eq!(
            inflate(&mut Decompressor::new(15, false), &[0x00]).unwrap(),
            b""
        );

        // Our compressor produces the RFC's bytes.
        let mut c = Compressor::new(15, false, 6, 8);
        assert_eq!(compress(&mut c, b"Hello"), hello);
        assert_eq!(compress(&mut c, b"Hello"), [0xf2, 0x00, 0x11, 0x00, 0x00]);
        let mut c = Compressor::new(15, true, 6, 8);
        assert_eq!(compress(&mut c, b"Hello"), hello);
        assert_eq!(compress(&mut c, b"Hello"), hello);
    }

    #[test]
    fn bfinal_block_ends_the_stream() {
        // 7.2.3.4: BFINAL set; the appended tail is ignored and the next
        // message starts a fresh stream.
        let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        let mut d = Decompressor::new(15, false);
        assert_eq!(inflate(&mut d, &bfinal).unwrap(), b"Hello");
        assert_eq!(inflate(&mut d, &bfinal).unwrap(), b"Hello");
        assert_eq!(
            inflate(&mut d, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]).unwrap(),
            b"Hello"
        );
    }

    #[test]
    fn decompression_bomb_is_stopped_early() {
        let zeros = vec![0u8; 10 * 1024 * 1024];
        let payload = compress(&mut Compressor::new(15, false, 9, 8), &zeros);
        assert!(payload.len() < 20_000);
        let limit = 1024 * 1024;
        // In one piece.
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        assert_eq!(
            d.inflate(&payload, &mut out, limit),
            Err(InflateError::TooLarge)
        );
        assert!(out.capacity() < 2 * 1024 * 1024, "{}", out.capacity());
        assert!(out.capacity() <= limit + 1);
        // Dead afterwards.
        assert_eq!(d.finish(&mut out, limit), Err(InflateError::Invalid));
        // In pieces.
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        let mut result = Ok(());
        for piece in payload.chunks(100) {
            result = d.inflate(piece, &mut out, limit);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(InflateError::TooLarge));
        assert!(out.capacity() <= limit + 1);
    }

    #[test]
    fn invalid_data() {
        // Reserved block type 11.
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        assert_eq!(
            d.inflate(&[0xff, 0xff, 0xff], &mut out, 1000),
            Err(InflateError::Invalid)
        );
        assert_eq!(
            d.inflate(b"Hello", &mut out, 1000),
            Err(InflateError::Invalid)
        );
        // Stored block with a bad length complement.
        let mut d = Decompressor::new(15, false);
        let result = inflate(&mut d, &[0x00, 0x05, 0x00, 0x00, 0x00, b'H']);
        assert_eq!(result, Err(InflateError::Invalid));
        // A back-reference before the start of the stream.
        let mut d = Decompressor::new(15, false);
        assert_eq!(
            inflate(&mut d, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
            Err(InflateError::Invalid)
        );
        // Context takeover used by the peer while we reset: invalid distance.
        let mut c = Compressor::new(15, false, 6, 8);
        let mut d = Decompressor::new(15, true);
        let message = json(20);
        assert_eq!(
            inflate(&mut d, &compress(&mut c, &message)).unwrap(),
            message
        );
        assert_eq!(
            inflate(&mut d, &compress(&mut c, &message)),
            Err(InflateError::Invalid)
        );
    }

    #[test]
    fn larger_inflate_window_is_safe() {
        let mut message = noise(2000, 9);
        let copy = message.clone();
        message.extend_from_slice(&copy);
        message.extend(json(100));
        for bits in 9..=15u8 {
            let mut c = Compressor::new(bits, false, 6, 8);
            let mut d = Decompressor::new(15, false);
            for _ in 0..3 {
                let payload = compress(&mut c, &message);
                assert_eq!(inflate(&mut d, &payload).unwrap(), message, "{bits}");
            }
        }
    }

    #[test]
    fn without_context_takeover_no_zlib_state_is_kept_between_messages() {
        let mut c = Compressor::new(15, true, 6, 8);
        let mut d = Decompressor::new(15, true);
        for message in [&b"first message"[..], b"second", b""] {
            let mut wire = Vec::new();
            c.compress(message, &mut wire);
            assert!(
                c.inner.is_none(),
                "compressor state dropped after a message"
            );
            let mut out = Vec::new();
            d.inflate(&wire, &mut out, 1 << 20).unwrap();
            d.finish(&mut out, 1 << 20).unwrap();
            assert!(d.inner.is_none(), "inflater state dropped after a message");
            assert_eq!(out, message);
        }
        // With context takeover the state is kept (it is the context).
        let mut c = Compressor::new(15, false, 6, 8);
        c.compress(b"x", &mut Vec::new());
        assert!(c.inner.is_some());
    }

    #[test]
    fn requests_to_the_server_come_with_a_fallback_offer() {
        let config = DeflateConfig {
            server_no_context_takeover: true,
            server_max_window_bits: 10,
            ..DeflateConfig::default()
        };
        let offer = client_offer(&config);
        assert_eq!(
            offer,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
             client_max_window_bits, permessage-deflate; client_max_window_bits"
        );
        // A server granting the requests, and one picking the fallback.
        let granted = client_accept(
            &config,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
        )
        .unwrap();
        assert!(granted.server_no_context_takeover);
        assert_eq!(granted.server_max_window_bits, 10);
        let plain = client_accept(&config, "permessage-deflate").unwrap();
        assert!(!plain.server_no_context_takeover);
        assert_eq!(plain.server_max_window_bits, 15);
        // Still refused: a window larger than either offer allows is impossible
        // anyway; an unknown parameter fails both.
        assert!(client_accept(&config, "permessage-deflate; x=1").is_err());
        // Only client-side wishes: one offer, no fallback.
        let own = DeflateConfig {
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        assert!(!client_offer(&own).contains(','));
    }
}
