//! The bodies of the fuzz targets, one public function per target.
//!
//! Each function takes the fuzzer's bytes, drives one parser or state machine
//! of the library with them, and panics when the library misbehaves: a panic
//! inside the library, an output that breaks a documented limit (a message
//! over the configured size, text that is not UTF-8, a control frame over 125
//! bytes...), or a round trip that does not give back what went in. Errors the
//! library reports for bad input are expected and fine.
//!
//! The file is shared: every `fuzz/fuzz_targets/<target>.rs` includes it with
//! `#[path]` and calls `harness::<target>`, and `tests/fuzz_corpus.rs` (stable
//! Rust, part of `cargo test`) includes it too, to replay the committed corpora
//! and regression inputs. Keep it free of dependencies other than the library
//! and std.

use std::ffi::{c_int, CStr};

use websocket::ffi::frame::{
    ws_frame_decoder, ws_frame_decoder_append, ws_frame_decoder_close_code, ws_frame_decoder_free,
    ws_frame_decoder_new, ws_frame_decoder_next, ws_frame_decoder_set_max_fragments,
    ws_frame_decoder_set_max_payload_size, ws_frame_encode, ws_frame_encoded_size, ws_opcode,
    WS_OPCODE_BINARY, WS_OPCODE_CLOSE, WS_OPCODE_PING, WS_OPCODE_PONG, WS_OPCODE_TEXT,
};
use websocket::ffi::status::{
    ws_last_error_message, ws_status, WS_ERR_PROTOCOL, WS_ERR_QUEUE_FULL, WS_FRAME_NONE,
    WS_STATUS_OK,
};
use websocket::protocol::close::{is_valid_wire_code, parse_close_payload};
use websocket::protocol::deflate::{
    client_accept, server_accept, Compressor, Decompressor, DeflateConfig, PartEnd,
};
use websocket::protocol::error::ProtocolError;
use websocket::protocol::frame::{write_header, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use websocket::protocol::handshake::{
    build_accept_response, offered_subprotocols, parse_request, parse_response, validate_request,
    validate_response, MAX_HEAD_BYTES,
};
use websocket::protocol::mask::apply_mask;
use websocket::protocol::proxy::{
    build_connect_request, no_proxy_matches, parse_connect_response, parse_proxy_url,
    proxy_from_env, MAX_CONNECT_HEAD,
};
use websocket::protocol::receiver::{Incoming, Payload, Receiver, Role};
use websocket::protocol::url;

// ---------------------------------------------------------------------------
// Reading the fuzzer's bytes
// ---------------------------------------------------------------------------

/// The fuzzer's bytes, read from the front: a few settings, then the rest.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// The next byte, 0 once the input is used up.
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next `n` bytes (fewer at the end of the input).
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}

/// Splits `wire` into the pieces a socket might return: all at once, byte by
/// byte, or pieces of pseudo-random sizes drawn from `seed`.
fn chunks(wire: &[u8], mode: u8, seed: u8) -> Vec<&[u8]> {
    let max = match mode % 4 {
        0 => return vec![wire],
        1 => 1,
        2 => 16,
        _ => 512,
    };
    let mut state = u32::from(seed) | 0x100;
    let mut out = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        // xorshift32: any sequence will do, as long as the seed decides it.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (1 + state as usize % max).min(rest.len());
        let (piece, tail) = rest.split_at(n);
        out.push(piece);
        rest = tail;
    }
    out
}

// ---------------------------------------------------------------------------
// The receiver (frame decoder), plain and with permessage-deflate
// ---------------------------------------------------------------------------

/// Largest-message settings the receiver targets pick from: tiny ones make the
/// size limit easy to reach, 1 MiB lets decompression bombs get going.
const MAX_SIZES: [usize; 8] = [0, 1, 2, 125, 126, 1000, 65536, 1 << 20];

/// Assembly buffers the receiver keeps for reuse may be this large whatever
/// the limit (`KEEP_CAPACITY` in src/protocol/receiver.rs).
const KEPT_CAPACITY: usize = 8 * 1024;

/// Most calls in a row that may return nothing while the receiver says it is
/// busy inflating; each step inflates 256 KiB, so a message within 1 MiB
/// needs a handful. More means it is stuck.
const MAX_IDLE_BUSY_CALLS: usize = 1000;

/// What the receiver handed out, copied so it outlives the borrowed buffer.
#[derive(Debug, Default, PartialEq, Eq)]
struct Received {
    /// Whole messages, `(text, payload)`; with parts, the joined pieces.
    messages: Vec<(bool, Vec<u8>)>,
    /// Ping payloads, in order.
    pings: Vec<Vec<u8>>,
    /// Pong payloads, in order.
    pongs: Vec<Vec<u8>>,
    /// Close frames: code and reason.
    closes: Vec<(Option<u16>, String)>,
}

/// A receiver and the checks of everything it hands out.
struct Checked {
    rx: Receiver,
    max: usize,
    parts: bool,
    got: Received,
    /// The message being handed out in pieces: text, bytes so far.
    partial: Option<(bool, Vec<u8>)>,
}

impl Checked {
    /// Feeds `pieces` one after the other as reads from a socket, decoding
    /// everything each one completes, then lets any inflation under way
    /// finish. Stops at the first error, which it returns.
    fn run(&mut self, pieces: &[&[u8]]) -> Result<(), ProtocolError> {
        let mut pending: Vec<u8> = Vec::new();
        for piece in pieces {
            pending.extend_from_slice(piece);
            self.pump(&mut pending)?;
        }
        // Nothing more arrives: any inflation under way still completes.
        self.pump(&mut pending)
    }

    /// Calls `decode` until it has nothing more to say about `pending`,
    /// keeping what it did not use.
    fn pump(&mut self, pending: &mut Vec<u8>) -> Result<(), ProtocolError> {
        let mut idle_busy = 0;
        loop {
            let len = pending.len();
            let (used, event) = self.rx.decode(pending.as_mut_slice())?;
            assert!(used <= len, "decode used {used} of {len} bytes");
            let got_event = event.is_some();
            if let Some(event) = event {
                self.check(event);
            }
            pending.drain(..used);
            if got_event {
                idle_busy = 0;
                continue;
            }
            if self.rx.is_busy() {
                idle_busy += 1;
                assert!(
                    idle_busy < MAX_IDLE_BUSY_CALLS,
                    "receiver busy for {idle_busy} calls without handing anything out"
                );
                continue;
            }
            // Documented: what is left unused is at most an incomplete header.
            assert!(
                pending.len() < MAX_HEADER_LEN,
                "{} bytes left undecoded",
                pending.len()
            );
            return Ok(());
        }
    }

    /// Checks one event against the limits and records it.
    fn check(&mut self, event: Incoming<'_>) {
        match event {
            Incoming::Text(p) | Incoming::Binary(p) if self.parts => {
                panic!("whole message of {} bytes while delivering parts", p.len())
            }
            Incoming::Text(p) => {
                assert!(std::str::from_utf8(&p).is_ok(), "text is not UTF-8");
                self.message(true, p);
            }
            Incoming::Binary(p) => self.message(false, p),
            Incoming::Ping(p) => {
                assert!(p.len() <= MAX_CONTROL_PAYLOAD, "ping of {} bytes", p.len());
                self.got.pings.push(p.to_vec());
            }
            Incoming::Pong(p) => {
                assert!(p.len() <= MAX_CONTROL_PAYLOAD, "pong of {} bytes", p.len());
                self.got.pongs.push(p.to_vec());
            }
            Incoming::Close(code, reason) => {
                assert!(code.is_none_or(is_valid_wire_code), "close code {code:?}");
                assert!(code.is_some() || reason.is_empty(), "reason without code");
                assert!(reason.len() <= MAX_CONTROL_PAYLOAD - 2);
                self.got.closes.push((code, reason));
            }
            Incoming::Part(part) => {
                assert!(self.parts, "a part while delivering whole messages");
                assert!(
                    !part.text || std::str::from_utf8(&part.payload).is_ok(),
                    "text piece is not UTF-8 by itself"
                );
                assert_eq!(
                    part.first,
                    self.partial.is_none(),
                    "first flag out of order"
                );
                let (text, mut bytes) = self.partial.take().unwrap_or((part.text, Vec::new()));
                assert_eq!(text, part.text, "a message changed type mid-way");
                bytes.extend_from_slice(&part.payload);
                assert_eq!(part.total, bytes.len() as u64, "wrong running total");
                assert!(
                    bytes.len() <= self.max,
                    "{} bytes over the limit",
                    bytes.len()
                );
                if part.last {
                    if text {
                        assert!(std::str::from_utf8(&bytes).is_ok(), "text is not UTF-8");
                    }
                    self.got.messages.push((text, bytes));
                } else {
                    self.partial = Some((text, bytes));
                }
                self.give_back(part.payload);
            }
        }
    }

    /// Checks and records a whole message, then gives its buffer back.
    fn message(&mut self, text: bool, payload: Payload<'_>) {
        assert!(
            payload.len() <= self.max,
            "message of {} bytes over the limit of {}",
            payload.len(),
            self.max
        );
        if let Payload::Owned(v) = &payload {
            // The assembly buffer never grows (much) past the limit.
            let bound = (self.max + 1).max(KEPT_CAPACITY);
            assert!(
                v.capacity() <= bound,
                "assembled in {} bytes for a limit of {}",
                v.capacity(),
                self.max
            );
        }
        self.got.messages.push((text, payload.to_vec()));
        self.give_back(payload);
    }

    /// Hands an owned buffer back to the receiver, as the library does.
    fn give_back(&mut self, payload: Payload<'_>) {
        if let Payload::Owned(v) = payload {
            self.rx.recycle(v);
        }
    }
}

/// The settings of a receiver, read from the first bytes of the input.
struct Setup {
    role: Role,
    parts: bool,
    max: usize,
    max_fragments: usize,
    /// permessage-deflate window bits (8..=15) and whether the context resets
    /// per message; `None` without deflate.
    deflate: Option<(u8, bool)>,
    /// How to cut the wire into reads (see [`chunks`]).
    chunk_mode: u8,
    chunk_seed: u8,
}

impl Setup {
    /// Reads three bytes of settings.
    fn read(input: &mut Input<'_>, deflate: bool) -> Setup {
        let flags = input.byte();
        let bits = input.byte();
        let chunk_seed = input.byte();
        Setup {
            role: if flags & 1 == 0 {
                Role::Server
            } else {
                Role::Client
            },
            parts: flags & 2 != 0,
            max: MAX_SIZES[usize::from(flags >> 2) % MAX_SIZES.len()],
            chunk_mode: flags >> 5,
            max_fragments: usize::from(bits >> 4),
            deflate: deflate.then_some((8 + bits % 8, flags & 0x80 != 0)),
            chunk_seed,
        }
    }

    /// A receiver with these settings.
    fn receiver(&self) -> Checked {
        let inflater = self
            .deflate
            .map(|(bits, no_context)| Decompressor::new(bits, no_context));
        let mut rx = Receiver::new(self.role, self.max, inflater);
        rx.set_max_fragments(self.max_fragments);
        if self.parts {
            rx = rx.deliver_parts();
        }
        Checked {
            rx,
            max: self.max,
            parts: self.parts,
            got: Received::default(),
            partial: None,
        }
    }
}

/// Target `receiver`: arbitrary bytes into a receiver without extensions.
///
/// Input: three bytes of settings (role, whole messages or parts, the size
/// and fragment limits, how the bytes are cut into reads), then the bytes
/// from the peer. Checks that no panic occurs, that nothing handed out breaks
/// a limit, that text is UTF-8, and that errors carry a close code.
pub fn receiver(data: &[u8]) {
    let mut input = Input { data };
    let setup = Setup::read(&mut input, false);
    raw_receive(&setup, input.data);
}

/// Target `receiver_deflate`: a receiver with permessage-deflate negotiated.
///
/// Input: the settings of [`receiver`] (plus window bits and context reset),
/// one byte choosing the mode, then the rest. In raw mode (even mode byte)
/// the rest is the bytes from the peer, as in [`receiver`]. In round-trip
/// mode (odd) the rest describes messages that the harness compresses and
/// frames itself (see [`compressed_wire`]); the receiver must then hand back
/// exactly those messages, or fail with 1009 at the first one over the limit.
pub fn receiver_deflate(data: &[u8]) {
    let mut input = Input { data };
    let setup = Setup::read(&mut input, true);
    let mode = input.byte();
    if mode & 1 == 0 {
        raw_receive(&setup, input.data);
        return;
    }
    let level = u32::from(mode >> 1) % 10;
    let mem_level = 1 + (mode >> 5);
    let (wire, sent) = compressed_wire(&setup, level, mem_level, input.data);
    let mut checked = setup.receiver();
    let result = checked.run(&chunks(&wire, setup.chunk_mode, setup.chunk_seed));
    // Messages over the limit are refused (1009), and so is a message of more
    // frames than the fragment limit; everything before the first refused one
    // comes out as sent.
    let refused = sent.iter().position(|m| {
        m.payload.len() > setup.max
            || (setup.max_fragments != 0 && m.fragments > setup.max_fragments)
    });
    let expected = &sent[..refused.unwrap_or(sent.len())];
    match (refused, result) {
        (None, Ok(())) => {}
        (Some(_), Err(e)) => assert_eq!(e.code, 1009, "refused with {e}"),
        (_, result) => panic!("expected refusal at {refused:?}, got {result:?}"),
    }
    let messages: Vec<(bool, Vec<u8>)> = expected
        .iter()
        .map(|m| (m.text, m.payload.clone()))
        .collect();
    assert_eq!(
        checked.got.messages, messages,
        "messages changed in transit"
    );
    let pings: Vec<Vec<u8>> = expected.iter().filter_map(|m| m.ping.clone()).collect();
    assert!(
        checked.got.pings.len() >= pings.len() && checked.got.pings.starts_with(&pings),
        "pings changed in transit"
    );
}

/// Feeds `wire` to a receiver set up as `setup` says and checks what comes out.
fn raw_receive(setup: &Setup, wire: &[u8]) {
    let mut checked = setup.receiver();
    if let Err(e) = checked.run(&chunks(wire, setup.chunk_mode, setup.chunk_seed)) {
        assert!(
            matches!(e.code, 1002 | 1007 | 1009),
            "unexpected close code in {e}"
        );
    }
}

/// A message the harness sent in round-trip mode.
struct Sent {
    text: bool,
    payload: Vec<u8>,
    /// The frames it was sent in.
    fragments: usize,
    /// A ping sent between its first and second frame.
    ping: Option<Vec<u8>>,
}

/// Builds the wire for round-trip mode: the input is a list of messages, each
/// a header byte (bit 0 text, bits 1-2 one to four fragments, bit 3 compress,
/// bit 4 a ping after the first fragment, bit 5 sync-flush each fragment), a
/// length byte and that many payload bytes (text is made UTF-8 first). They
/// are compressed as the negotiated parameters allow and framed (masked when
/// the receiver is a server).
fn compressed_wire(setup: &Setup, level: u32, mem_level: u8, data: &[u8]) -> (Vec<u8>, Vec<Sent>) {
    let (bits, no_context) = setup.deflate.expect("round trips need deflate");
    let mut compressor = Compressor::new(bits, no_context, level, mem_level);
    let mask = (setup.role == Role::Server).then_some([0x5a, 0x01, 0xc3, 0x7e]);
    let mut input = Input { data };
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    while !input.data.is_empty() {
        let head = input.byte();
        let len = usize::from(input.byte());
        let raw = input.take(len);
        let text = head & 1 != 0;
        let payload = if text {
            String::from_utf8_lossy(raw).into_owned().into_bytes()
        } else {
            raw.to_vec()
        };
        let fragments = 1 + usize::from((head >> 1) & 3);
        let compress = head & 8 != 0;
        let ping = (head & 16 != 0 && fragments > 1).then(|| raw[..raw.len().min(125)].to_vec());
        let end = if head & 32 != 0 {
            PartEnd::Flush
        } else {
            PartEnd::More
        };
        let piece_len = payload.len().div_ceil(fragments).max(1);
        let mut pieces: Vec<&[u8]> = payload.chunks(piece_len).collect();
        pieces.resize(fragments, &[]);
        for (i, piece) in pieces.iter().enumerate() {
            let last = i + 1 == fragments;
            let mut body = Vec::new();
            if compress {
                let end = if last { PartEnd::Last } else { end };
                compressor.compress_part(piece, &mut body, end);
            } else {
                body.extend_from_slice(piece);
            }
            let opcode = match (i, text) {
                (0, true) => OpCode::Text,
                (0, false) => OpCode::Binary,
                _ => OpCode::Continuation,
            };
            let rsv = if compress && i == 0 { 0b100 } else { 0 };
            push_frame(&mut wire, last, rsv, opcode, mask, &body);
            if i == 0 {
                if let Some(ping) = &ping {
                    push_frame(&mut wire, true, 0, OpCode::Ping, mask, ping);
                }
            }
        }
        sent.push(Sent {
            text,
            payload,
            fragments,
            ping,
        });
    }
    (wire, sent)
}

/// Appends one frame to `wire`.
fn push_frame(
    wire: &mut Vec<u8>,
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    write_header(wire, fin, rsv, opcode, mask, payload.len());
    let start = wire.len();
    wire.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut wire[start..], key, 0);
    }
}

// ---------------------------------------------------------------------------
// The handshake
// ---------------------------------------------------------------------------

/// Target `handshake`: the input as an HTTP request head (server side) and as
/// a response head (client side), with the permessage-deflate negotiation of
/// whatever extension headers they carry.
///
/// Checks: no panic; a parsed head's length is within the input and the
/// limit, and parsing just those bytes gives the same result; a server error
/// carries an HTTP response the client parser reads as a 4xx; a request the
/// server accepts gets an answer the client accepts; an extension the server
/// agrees to is one a client with the same settings accepts.
pub fn handshake(data: &[u8]) {
    match parse_request(data) {
        Ok(None) => {}
        Ok(Some((request, n))) => {
            assert!(n <= data.len() && n <= MAX_HEAD_BYTES, "head of {n} bytes");
            assert_eq!(
                parse_request(&data[..n]),
                Ok(Some((request.clone(), n))),
                "the head alone parses differently"
            );
            assert!(request.path.starts_with('/'), "path {:?}", request.path);
            for p in offered_subprotocols(&request) {
                assert!(!p.is_empty());
            }
            let offers: Vec<&str> = request.headers.all("Sec-WebSocket-Extensions").collect();
            let config = DeflateConfig::default();
            if let Some(params) = server_accept(&config, &offers) {
                let answer = params.to_header();
                let accepted = client_accept(&config, &answer);
                assert_eq!(accepted, Ok(params), "client refuses {answer:?}");
            }
            match validate_request(&request) {
                Ok(key) => {
                    let response = build_accept_response(&key, &[]);
                    let (parsed, n) = parse_response(&response)
                        .expect("our 101 parses")
                        .expect("our 101 is complete");
                    assert_eq!(n, response.len());
                    assert_eq!(validate_response(&parsed, &key, false, &[]), Ok(None));
                }
                Err(e) => check_refusal(&e.response),
            }
        }
        Err(e) => check_refusal(&e.response),
    }

    if let Ok(Some((response, n))) = parse_response(data) {
        assert!(n <= data.len() && n <= MAX_HEAD_BYTES, "head of {n} bytes");
        assert_eq!(
            parse_response(&data[..n]),
            Ok(Some((response.clone(), n))),
            "the head alone parses differently"
        );
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let offered = ["chat".to_string(), "superchat".to_string()];
        for (deflate, protocols) in [(false, &[][..]), (true, &offered[..])] {
            if let Ok(Some(chosen)) = validate_response(&response, key, deflate, protocols) {
                assert!(protocols.contains(&chosen), "chose {chosen:?}");
            }
        }
        let answer: Vec<&str> = response.headers.all("Sec-WebSocket-Extensions").collect();
        if !answer.is_empty() {
            let config = DeflateConfig::default();
            if let Ok(params) = client_accept(&config, &answer.join(", ")) {
                for bits in [params.server_max_window_bits, params.client_max_window_bits] {
                    assert!((8..=15).contains(&bits), "window bits {bits}");
                }
            }
        }
    }
}

/// A server's refusal must be a complete 4xx HTTP response.
fn check_refusal(response: &[u8]) {
    match parse_response(response) {
        Ok(Some((parsed, n))) => {
            assert!(
                (400..500).contains(&parsed.status),
                "refused with {parsed:?}"
            );
            assert!(n <= response.len());
        }
        other => panic!(
            "refusal {:?} does not parse: {other:?}",
            String::from_utf8_lossy(response)
        ),
    }
}

// ---------------------------------------------------------------------------
// URLs and proxies
// ---------------------------------------------------------------------------

/// Target `url_proxy`: the input (made UTF-8) as a ws:// URL, as a proxy URL,
/// and, cut at its first `|`, as a `no_proxy` list and a host; the raw bytes
/// as a proxy's answer to CONNECT.
///
/// Checks: no panic; a parsed URL has a host and a path starting with `/`,
/// and printing it back (scheme, Host header, request target) and parsing
/// that gives the same URL; the CONNECT request built from a parsed proxy is
/// exactly the expected lines (nothing smuggled in); a CONNECT answer accepted
/// is a head ending in an empty line, within the limit.
pub fn url_proxy(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    if let Ok(parsed) = url::parse(text) {
        assert!(!parsed.host.is_empty(), "no host in {parsed:?}");
        assert!(parsed.port != 0);
        assert!(parsed.path.starts_with('/'), "path {:?}", parsed.path);
        let target = parsed.resource();
        assert!(
            target.bytes().all(|b| (b'!'..=b'~').contains(&b)),
            "request target {target:?} is not printable ASCII"
        );
        let scheme = if parsed.secure { "wss" } else { "ws" };
        let again = format!("{scheme}://{}{target}", parsed.host_header());
        assert_eq!(
            url::parse(&again).as_ref(),
            Ok(&parsed),
            "reparsing {again}"
        );
        let request = build_connect_request(&parsed.host, parsed.port, None);
        assert_eq!(count(&request, b"\r\n"), 3, "CONNECT request {request:?}");
    }

    if let Ok(proxy) = parse_proxy_url(text) {
        assert!(!proxy.host.is_empty(), "no host in {proxy:?}");
        let request =
            build_connect_request(&proxy.host, proxy.port, proxy.authorization.as_deref());
        let lines = if proxy.authorization.is_some() { 4 } else { 3 };
        assert_eq!(
            count(&request, b"\r\n"),
            lines,
            "CONNECT request {request:?}"
        );
    }

    let (no_proxy, host) = text.split_once('|').unwrap_or((text, "example.com"));
    let port = data.first().map_or(80, |&b| u16::from(b) * 256 + 1);
    no_proxy_matches(no_proxy, host, port);
    for secure in [false, true] {
        let env = |name: &str| match name {
            "no_proxy" => Some(no_proxy.to_string()),
            "http_proxy" | "https_proxy" => Some(host.to_string()),
            _ => None,
        };
        if let Ok(Some(proxy)) = proxy_from_env(secure, host, port, env) {
            assert!(!proxy.host.is_empty());
        }
    }

    if let Ok(Some(n)) = parse_connect_response(data) {
        assert!(
            n <= data.len() && n <= MAX_CONNECT_HEAD,
            "head of {n} bytes"
        );
        assert!(data[..n].ends_with(b"\r\n\r\n"), "head does not end a head");
    }
}

/// How many times `needle` occurs in `haystack`.
fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| w == &needle)
        .count()
}

// ---------------------------------------------------------------------------
// The C frame decoder
// ---------------------------------------------------------------------------

/// A decoder created through the C API, freed when dropped.
struct Decoder(*mut ws_frame_decoder);

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: created by ws_frame_decoder_new, freed only here.
        unsafe { ws_frame_decoder_free(self.0) }
    }
}

impl Decoder {
    /// A decoder with the given limits (`max_payload` > 0).
    fn new(max_payload: u64, max_fragments: u64) -> Decoder {
        let d = Decoder(ws_frame_decoder_new());
        assert!(!d.0.is_null());
        // SAFETY: d.0 is a live decoder.
        unsafe {
            assert_eq!(
                ws_frame_decoder_set_max_payload_size(d.0, max_payload),
                WS_STATUS_OK
            );
            assert_eq!(
                ws_frame_decoder_set_max_fragments(d.0, max_fragments),
                WS_STATUS_OK
            );
        }
        d
    }

    /// `ws_frame_decoder_append`.
    fn append(&self, bytes: &[u8]) -> ws_status {
        // SAFETY: a live decoder; bytes.len() readable bytes.
        unsafe { ws_frame_decoder_append(self.0, bytes.as_ptr(), bytes.len()) }
    }

    /// `ws_frame_decoder_next`: the status, and the frame when it is OK.
    fn next(&self) -> (ws_status, Option<(ws_opcode, Vec<u8>)>) {
        let (mut op, mut data, mut len) = (-1, std::ptr::null(), 0);
        // SAFETY: a live decoder and writable out-parameters.
        let status = unsafe { ws_frame_decoder_next(self.0, &mut op, &mut data, &mut len) };
        if status != WS_STATUS_OK {
            if status == WS_FRAME_NONE {
                assert_eq!(
                    (op, len),
                    (-1, 0),
                    "out-parameters written on WS_FRAME_NONE"
                );
            }
            return (status, None);
        }
        assert!(len == 0 || !data.is_null(), "NULL data for {len} bytes");
        let payload = if len == 0 {
            Vec::new()
        } else {
            // SAFETY: the decoder lends `len` bytes at `data` until the next call.
            unsafe { std::slice::from_raw_parts(data, len) }.to_vec()
        };
        (status, Some((op, payload)))
    }

    /// `ws_frame_decoder_close_code`.
    fn close_code(&self) -> c_int {
        // SAFETY: a live decoder.
        unsafe { ws_frame_decoder_close_code(self.0) }
    }
}

/// Target `ffi_frame_decoder`: the `ws_frame_decoder` C API, called as C
/// would.
///
/// Input: one byte of limits (max payload size, max fragments), one byte of
/// chunking, then bytes appended in pieces, each followed by
/// `ws_frame_decoder_next` until `WS_FRAME_NONE`. Checks: no status other
/// than the documented ones (never `WS_ERR_INTERNAL`, a caught panic); every
/// frame handed out respects the limits and its opcode's rules; a failure
/// carries a close code and a message and stays failed; and each frame
/// handed out, encoded again with `ws_frame_encode`, decodes to itself in a
/// second decoder.
pub fn ffi_frame_decoder(data: &[u8]) {
    let mut input = Input { data };
    let limits = input.byte();
    let chunking = input.byte();
    let max_payload = [1, 2, 125, 126, 1000, 65535, 65536, 1 << 20][usize::from(limits & 7)];
    let max_fragments = u64::from(limits >> 3);
    let decoder = Decoder::new(max_payload, max_fragments);
    let echo = Decoder::new(max_payload, max_fragments);
    let mut masked = chunking & 0x80 != 0;
    for piece in chunks(input.data, chunking >> 2, chunking) {
        let mut status = decoder.append(piece);
        if status == WS_ERR_QUEUE_FULL {
            // Decode first to make room, then the append must go through.
            if !drain(&decoder, &echo, max_payload, &mut masked) {
                return;
            }
            status = decoder.append(piece);
            assert_ne!(status, WS_ERR_QUEUE_FULL, "still full after draining");
        }
        match status {
            WS_STATUS_OK => {}
            WS_ERR_PROTOCOL => return check_failed(&decoder),
            other => panic!("append returned {other:?}"),
        }
        if !drain(&decoder, &echo, max_payload, &mut masked) {
            return;
        }
    }
}

/// Takes every complete frame out of `decoder`, checking each and echoing it
/// through `echo`; false once the stream failed.
fn drain(decoder: &Decoder, echo: &Decoder, max_payload: u64, masked: &mut bool) -> bool {
    loop {
        match decoder.next() {
            (WS_FRAME_NONE, _) => return true,
            (WS_ERR_PROTOCOL, _) => {
                check_failed(decoder);
                return false;
            }
            (WS_STATUS_OK, Some((op, payload))) => {
                check_frame(op, &payload, max_payload);
                *masked = !*masked;
                check_echo(echo, op, &payload, *masked);
            }
            (other, _) => panic!("next returned {other:?}"),
        }
    }
}

/// Checks one frame the C decoder handed out.
fn check_frame(op: ws_opcode, payload: &[u8], max_payload: u64) {
    assert!(
        payload.len() as u64 <= max_payload,
        "{} bytes",
        payload.len()
    );
    match op {
        WS_OPCODE_TEXT => assert!(std::str::from_utf8(payload).is_ok(), "text not UTF-8"),
        WS_OPCODE_BINARY => {}
        WS_OPCODE_PING | WS_OPCODE_PONG => assert!(payload.len() <= MAX_CONTROL_PAYLOAD),
        WS_OPCODE_CLOSE => {
            assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
            assert!(payload.len() != 1, "close payload of 1 byte");
            let close = parse_close_payload(payload).expect("close payload is valid");
            assert!(close.code.is_none_or(is_valid_wire_code));
        }
        other => panic!("opcode {other}"),
    }
}

/// Encodes a frame the decoder handed out with `ws_frame_encode` and checks
/// that a second decoder hands back the same frame.
fn check_echo(echo: &Decoder, op: ws_opcode, payload: &[u8], masked: bool) {
    let masked = c_int::from(masked);
    let size = ws_frame_encoded_size(payload.len(), masked);
    let mut out = vec![0u8; size];
    let mut written = 0;
    // SAFETY: payload and out are valid for their lengths and do not overlap.
    let status = unsafe {
        ws_frame_encode(
            op,
            1,
            masked,
            payload.as_ptr(),
            payload.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut written,
        )
    };
    assert_eq!(status, WS_STATUS_OK, "cannot encode what was decoded");
    assert_eq!(written, size);
    assert_eq!(echo.append(&out), WS_STATUS_OK, "echo refused a frame");
    assert_eq!(
        echo.next(),
        (WS_STATUS_OK, Some((op, payload.to_vec()))),
        "echo decoded something else"
    );
    assert_eq!(echo.next().0, WS_FRAME_NONE);
}

/// After `WS_ERR_PROTOCOL`: a close code, a message, and the failure sticks.
fn check_failed(decoder: &Decoder) {
    let code = decoder.close_code();
    assert!(matches!(code, 1002 | 1007 | 1009), "close code {code}");
    // SAFETY: a NUL-terminated string that lives until the next failing call.
    let message = unsafe { CStr::from_ptr(ws_last_error_message()) };
    assert!(!message.is_empty(), "failure without a message");
    assert_eq!(decoder.next().0, WS_ERR_PROTOCOL, "failure did not stick");
    assert_eq!(decoder.append(b"\x81\x00"), WS_ERR_PROTOCOL);
    assert_eq!(decoder.close_code(), code);
}
