//! permessage-deflate (RFC 7692) over real loopback sockets: our client against
//! our server with compression on both sides, on one side only, with context
//! takeover or not and with several window sizes; a raw client (its deflate
//! streams made with flate2, independently of the library) against our server;
//! and a raw server against our client. Covers negotiation, RSV1 rules, the
//! compression threshold, the close codes of bad compressed data (1002, 1007,
//! 1009) and the handshake failures of bad extension answers. A small
//! independent deflate decoder ([`puff`]) checks on the wire that window sizes
//! and no-context-takeover are honoured.

#[path = "support.rs"]
mod support;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use websocket::protocol::deflate::DeflateConfig;
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::{
    ClientConfig, Connection, ConnectionConfig, ConnectionState, ErrorKind, ServerConfig,
};
use websocket::transport::{Compression as MessageCompression, SendOptions};

/// The empty stored block a sync flush ends with (RFC 7692 7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What a raw client offers unless a test says otherwise.
const OFFER: &str = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

// ===========================================================================
// Independent deflate helpers (flate2, raw deflate, no zlib header)
// ===========================================================================

/// A raw-deflate compressor with zlib's default level and a 15-bit window.
fn compressor() -> Compress {
    Compress::new(Compression::default(), false)
}

/// Compresses one message with `c` (sync flush) and removes the 00 00 ff ff
/// tail, as RFC 7692 7.2.1 says a sender does.
fn deflate_msg(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let start = c.total_in();
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        }
        let consumed = (c.total_in() - start) as usize;
        c.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
            .expect("deflate");
        if (c.total_in() - start) as usize == data.len() && out.len() < out.capacity() {
            break;
        }
    }
    if out.is_empty() {
        // zlib writes nothing for an empty message right after a flush: the
        // payload is then the empty stored block's first byte (RFC 7692 7.2.3.6).
        return vec![0x00];
    }
    assert!(out.ends_with(&TAIL), "a sync flush ends with 00 00 ff ff");
    out.truncate(out.len() - TAIL.len());
    out
}

/// One message compressed by a fresh compressor.
fn deflated(data: &[u8]) -> Vec<u8> {
    deflate_msg(&mut compressor(), data)
}

/// One message as a complete deflate stream (its last block has BFINAL set),
/// the alternative flush of RFC 7692 7.2.3.4.
fn deflated_final(data: &[u8]) -> Vec<u8> {
    let mut c = compressor();
    let mut out = Vec::with_capacity(data.len() + 1024);
    let status = c
        .compress_vec(data, &mut out, FlushCompress::Finish)
        .expect("deflate");
    assert_eq!(status, Status::StreamEnd);
    out
}

/// A raw inflater for a peer compressing with `bits` (9..=15).
fn inflater(bits: u8) -> Decompress {
    Decompress::new_with_window_bits(false, bits)
}

/// Inflates one message's payload with `d`, appending the 00 00 ff ff tail
/// first (RFC 7692 7.2.2). The output is taken out 256 bytes at a time, so
/// back-references can only reach into what `d` keeps of earlier output: a
/// message referring to one `d` never saw fails ("too far back"). (zlib-rs
/// keeps more than its nominal window, so window sizes are checked with
/// [`puff`] instead.)
fn inflate_msg(d: &mut Decompress, payload: &[u8]) -> Result<Vec<u8>, String> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&TAIL);
    let mut result = Vec::new();
    let mut chunk: Vec<u8> = Vec::with_capacity(256);
    let mut pos = 0;
    loop {
        chunk.clear();
        let before = d.total_in();
        let status = d
            .decompress_vec(&input[pos..], &mut chunk, FlushDecompress::None)
            .map_err(|e| format!("inflate failed after {} bytes out: {e}", result.len()))?;
        let read = (d.total_in() - before) as usize;
        pos += read;
        result.extend_from_slice(&chunk);
        if status == Status::StreamEnd {
            break;
        }
        if pos == input.len() && chunk.len() < chunk.capacity() {
            break;
        }
        if read == 0 && chunk.is_empty() {
            return Err(format!("inflate made no progress at input byte {pos}"));
        }
    }
    Ok(result)
}

/// An independent deflate decoder (after zlib's puff.c), small and slow, that
/// also reports how far back references reach. `history` holds the output of
/// the earlier messages of the stream (empty for a fresh context); the message
/// (`payload` plus the 00 00 ff ff tail) is appended to it. Returns the message
/// and its longest back-reference distance; a reference before the start of
/// `history` is an error.
fn puff(history: &mut Vec<u8>, payload: &[u8]) -> Result<(Vec<u8>, usize), String> {
    const LBASE: [usize; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LEXT: [u32; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DBASE: [usize; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    const DEXT: [u32; 30] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13,
    ];
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];

    struct Bits<'a> {
        data: &'a [u8],
        pos: usize,
    }
    impl Bits<'_> {
        fn bits(&mut self, n: u32) -> Result<usize, String> {
            let mut v = 0;
            for i in 0..n {
                let byte = *self
                    .data
                    .get(self.pos / 8)
                    .ok_or("deflate data ends early")?;
                v |= usize::from((byte >> (self.pos % 8)) & 1) << i;
                self.pos += 1;
            }
            Ok(v)
        }
    }
    /// Canonical Huffman code: the count of codes of each length and the
    /// symbols in code order.
    struct Huffman {
        count: [usize; 16],
        symbol: Vec<usize>,
    }
    impl Huffman {
        fn new(lengths: &[usize]) -> Huffman {
            let mut count = [0; 16];
            for &l in lengths {
                count[l] += 1;
            }
            count[0] = 0;
            let mut symbol = Vec::new();
            for len in 1..16 {
                for (sym, &l) in lengths.iter().enumerate() {
                    if l == len {
                        symbol.push(sym);
                    }
                }
            }
            Huffman { count, symbol }
        }
        fn decode(&self, b: &mut Bits) -> Result<usize, String> {
            let (mut code, mut first, mut index) = (0usize, 0usize, 0usize);
            for len in 1..16 {
                code |= b.bits(1)?;
                let count = self.count[len];
                if code < first + count {
                    return Ok(self.symbol[index + code - first]);
                }
                index += count;
                first = (first + count) << 1;
                code <<= 1;
            }
            Err("invalid Huffman code".into())
        }
    }

    let mut data = payload.to_vec();
    data.extend_from_slice(&TAIL);
    let start = history.len();
    let out = history;
    let mut b = Bits {
        data: &data,
        pos: 0,
    };
    let mut max_dist = 0;
    while b.pos < data.len() * 8 {
        let last = b.bits(1)? == 1;
        match b.bits(2)? {
            0 => {
                b.pos = b.pos.div_ceil(8) * 8;
                let len = b.bits(16)?;
                if b.bits(16)? != !len & 0xffff {
                    return Err("stored block length mismatch".into());
                }
                for _ in 0..len {
                    out.push(b.bits(8)? as u8);
                }
            }
            kind @ (1 | 2) => {
                let (lit, dist) = if kind == 1 {
                    let mut l = vec![8; 144];
                    l.extend([9; 112]);
                    l.extend([7; 24]);
                    l.extend([8; 8]);
                    (Huffman::new(&l), Huffman::new(&[5; 30]))
                } else {
                    let nlen = b.bits(5)? + 257;
                    let ndist = b.bits(5)? + 1;
                    let ncode = b.bits(4)? + 4;
                    let mut cl = [0; 19];
                    for &i in &ORDER[..ncode] {
                        cl[i] = b.bits(3)?;
                    }
                    let clh = Huffman::new(&cl);
                    let mut lengths = Vec::new();
                    while lengths.len() < nlen + ndist {
                        let (value, repeat) = match clh.decode(&mut b)? {
                            sym @ 0..=15 => (sym, 1),
                            16 => (
                                *lengths.last().ok_or("repeat with no length")?,
                                3 + b.bits(2)?,
                            ),
                            17 => (0, 3 + b.bits(3)?),
                            _ => (0, 11 + b.bits(7)?),
                        };
                        lengths.extend(std::iter::repeat_n(value, repeat));
                    }
                    if lengths.len() != nlen + ndist {
                        return Err("too many code lengths".into());
                    }
                    (
                        Huffman::new(&lengths[..nlen]),
                        Huffman::new(&lengths[nlen..]),
                    )
                };
                loop {
                    let sym = lit.decode(&mut b)?;
                    if sym < 256 {
                        out.push(sym as u8);
                    } else if sym == 256 {
                        break;
                    } else {
                        let i = sym - 257;
                        let len = LBASE.get(i).ok_or("bad length code")? + b.bits(LEXT[i])?;
                        let d = dist.decode(&mut b)?;
                        let distance =
                            DBASE.get(d).ok_or("bad distance code")? + b.bits(DEXT[d])?;
                        if distance > out.len() {
                            return Err(format!(
                                "distance {distance} reaches before the stream's start"
                            ));
                        }
                        max_dist = max_dist.max(distance);
                        for _ in 0..len {
                            out.push(out[out.len() - distance]);
                        }
                    }
                }
            }
            _ => return Err("reserved block type".into()),
        }
        if last {
            break;
        }
    }
    Ok((out[start..].to_vec(), max_dist))
}

/// A deterministic pseudo-random generator (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// JSON-like text of at least `len` bytes (compressible, with non-ASCII).
fn json_like(len: usize, seed: u64) -> Vec<u8> {
    let names = [
        "alice",
        "bob",
        "carol",
        "dave",
        "eve",
        "mallory",
        "trent",
        "ünïcödé",
        "日本語",
        "☃😀",
    ];
    let mut rng = Lcg(seed);
    let mut s = String::from("[");
    let mut id = 0u32;
    while s.len() < len {
        id += 1;
        let _ = write!(
            s,
            r#"{{"id":{id},"name":"{}","score":{}.{:02},"tags":["{}","{}"],"active":{}}},"#,
            names[rng.below(names.len())],
            rng.below(10_000),
            rng.below(100),
            names[rng.below(names.len())],
            names[rng.below(names.len())],
            rng.below(2) == 1
        );
    }
    s.push_str("{}]");
    s.into_bytes()
}

/// Pseudo-random blocks repeated at distances of several KB: compressible only
/// with a window larger than 512 bytes, so a compressor using a larger window
/// than agreed produces back-references a small-window inflater refuses.
fn far_repeats(seed: u64) -> Vec<u8> {
    let mut rng = Lcg(seed);
    let block = rng.bytes(3000);
    let mut data = Vec::new();
    for i in 0..6u8 {
        data.extend_from_slice(&block);
        data.push(i);
    }
    data
}

#[test]
fn helpers_detect_window_and_context_violations() {
    // The same inflater across messages follows the context.
    let mut c = compressor();
    let mut d = inflater(15);
    let a = json_like(2000, 1);
    let first = deflate_msg(&mut c, &a);
    let second = deflate_msg(&mut c, &a);
    assert!(
        second.len() < first.len() / 4,
        "context takeover shrinks a repeat"
    );
    assert_eq!(inflate_msg(&mut d, &first).unwrap(), a);
    assert_eq!(inflate_msg(&mut d, &second).unwrap(), a);
    // A fresh inflater cannot follow a message that refers to an earlier one.
    assert!(inflate_msg(&mut inflater(15), &second).is_err());
    // puff sees how far references reach: far beyond 512 bytes with a
    // 15-bit window...
    let far = far_repeats(2);
    let (got, dist) = puff(&mut Vec::new(), &deflated(&far)).unwrap();
    assert_eq!(got, far);
    assert!(dist > 2000, "{dist}");
    // ...and not with a 9-bit one.
    let mut c9 = Compress::new_with_window_bits(Compression::default(), false, 9);
    let z9 = deflate_msg(&mut c9, &far);
    assert_eq!(inflate_msg(&mut inflater(9), &z9).unwrap(), far);
    let (got, dist) = puff(&mut Vec::new(), &z9).unwrap();
    assert_eq!(got, far);
    assert!(dist <= 512, "{dist}");
    // puff follows a context across messages, and fails without it.
    let mut history = Vec::new();
    assert_eq!(puff(&mut history, &first).unwrap().0, a);
    assert_eq!(puff(&mut history, &second).unwrap().0, a);
    assert!(puff(&mut Vec::new(), &second).is_err());
    // Fixed-Huffman, stored and final blocks.
    for level in [0, 1, 9] {
        let mut c = Compress::new(Compression::new(level), false);
        let z = deflate_msg(&mut c, b"abcabcabcabc hello hello");
        assert_eq!(
            puff(&mut Vec::new(), &z).unwrap().0,
            b"abcabcabcabc hello hello"
        );
    }
    assert_eq!(puff(&mut Vec::new(), &deflated_final(&far)).unwrap().0, far);
    assert_eq!(puff(&mut Vec::new(), &[0x00]).unwrap().0, b"");
    // A complete stream (BFINAL) inflates too.
    assert_eq!(
        inflate_msg(&mut inflater(15), &deflated_final(&a)).unwrap(),
        a
    );
}

// ===========================================================================
// Configs and our client against our server
// ===========================================================================

fn conn_config(deflate: Option<DeflateConfig>, threshold: usize) -> ConnectionConfig {
    ConnectionConfig {
        deflate,
        compression_threshold: threshold,
        ..ConnectionConfig::default()
    }
}

fn server_config(deflate: Option<DeflateConfig>, threshold: usize) -> ServerConfig {
    ServerConfig {
        connection: conn_config(deflate, threshold),
        ..ServerConfig::default()
    }
}

fn client_config(deflate: Option<DeflateConfig>, threshold: usize) -> ClientConfig {
    ClientConfig {
        connection: conn_config(deflate, threshold),
        ..ClientConfig::default()
    }
}

fn on() -> Option<DeflateConfig> {
    Some(DeflateConfig::default())
}

fn with_bits(server_bits: u8, client_bits: u8) -> Option<DeflateConfig> {
    Some(DeflateConfig {
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        ..DeflateConfig::default()
    })
}

fn no_takeover() -> Option<DeflateConfig> {
    Some(DeflateConfig {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    })
}

fn ext(conn: &Connection) -> String {
    conn.extensions()
        .to_str()
        .expect("ASCII extensions")
        .to_string()
}

/// Our server (echoing every message) and our client connected to it.
struct Pair {
    _server: Server,
    srec: Arc<Recorder>,
    sconn: Arc<Connection>,
    crec: Arc<Recorder>,
    client: Arc<Connection>,
}

fn pair(server: ServerConfig, client: ClientConfig, echo: bool) -> Pair {
    let srec = if echo {
        Recorder::echo()
    } else {
        Recorder::new()
    };
    let server = Server::listen("127.0.0.1", 0, server, srec.clone()).expect("listen");
    let crec = Recorder::new();
    let url = format!("ws://{}/", server.local_addr());
    let client = connect(&url, client, crec.clone()).expect("connect");
    crec.wait_event(&client, "the client's Open", |e| *e == Ev::Open);
    assert_eq!(client.state(), ConnectionState::Open);
    let sconn = srec.opened(0);
    Pair {
        _server: server,
        srec,
        sconn,
        crec,
        client,
    }
}

/// Sends `sent` from the client to the echoing server and checks both the
/// server's and the client's copies.
fn echo_round_trip(p: &Pair, sent: &[Ev]) {
    let before = messages(&p.crec.events(&p.client)).len();
    for m in sent {
        send(&p.client, m);
    }
    if !sent.is_empty() {
        p.crec.wait_message(&p.client, before + sent.len() - 1);
    }
    let server_got = messages(&p.srec.events(&p.sconn));
    assert_same_messages(&server_got[before..], sent, "server");
    let client_got = messages(&p.crec.events(&p.client));
    assert_same_messages(&client_got[before..], sent, "client");
}

/// Closes from the client with 1000 and checks both ends saw a clean close.
fn clean_close(p: &Pair) {
    p.client.close(Some(1000), "bye").unwrap();
    assert_eq!(p.crec.wait_close(&p.client).0, 1000);
    assert_eq!(p.srec.wait_close(&p.sconn), (1000, "bye".to_string()));
    assert!(p.client.failure().is_none(), "{:?}", p.client.failure());
    assert!(p.sconn.failure().is_none(), "{:?}", p.sconn.failure());
}

fn text(s: impl Into<Vec<u8>>) -> Ev {
    Ev::Text(s.into())
}

fn binary(b: impl Into<Vec<u8>>) -> Ev {
    Ev::Binary(b.into())
}

#[test]
fn both_sides_agree_on_the_extension_and_messages_round_trip() {
    let p = pair(server_config(on(), 100), client_config(on(), 100), true);
    let (c, s) = (ext(&p.client), ext(&p.sconn));
    assert!(c.starts_with("permessage-deflate"), "client: {c:?}");
    assert_eq!(c, s, "both ends report the same extension");

    let mut rng = Lcg(7);
    let mut sent = Vec::new();
    for len in [0, 1, 99, 100, 101] {
        sent.push(text("x".repeat(len)));
        sent.push(binary(vec![b'y'; len]));
        sent.push(binary(rng.bytes(len)));
    }
    sent.push(text("¿ünïcödé? ☃ 😀 日本 ".repeat(40)));
    sent.push(text(json_like(1 << 20, 3)));
    sent.push(binary(json_like(300_000, 4)));
    // Incompressible: the compressed form is larger than the message.
    sent.push(binary(rng.bytes(1 << 20)));
    sent.push(text("after the big ones".repeat(10)));
    echo_round_trip(&p, &sent);

    // Control frames are never compressed and still work.
    p.client.ping(b"ping!").unwrap();
    p.crec
        .wait_event(&p.client, "the pong", |e| *e == Ev::Pong(b"ping!".to_vec()));
    clean_close(&p);
}

#[test]
fn context_takeover_across_1000_messages() {
    // Threshold 0: every message is compressed, empty ones included.
    let p = pair(server_config(on(), 0), client_config(on(), 0), true);
    assert_eq!(ext(&p.client), ext(&p.sconn));
    assert!(!ext(&p.client).is_empty());
    let mut rng = Lcg(11);
    let sent: Vec<Ev> = (0..1000)
        .map(|i| {
            let len = match i % 10 {
                0 => 0,
                1 => rng.below(20),
                _ => 50 + rng.below(2000),
            };
            let mut data = json_like(len, i as u64 % 17);
            data.truncate(len);
            if i % 3 == 0 {
                binary(data)
            } else {
                // Truncation at an ASCII byte keeps it UTF-8 in most cases;
                // make sure anyway.
                let s = String::from_utf8_lossy(&data).into_owned();
                text(s)
            }
        })
        .collect();
    echo_round_trip(&p, &sent);
    // And the same 1000 again: now every one repeats earlier context.
    echo_round_trip(&p, &sent);
    clean_close(&p);
}

#[test]
fn no_context_takeover_on_both_sides() {
    let p = pair(
        server_config(no_takeover(), 10),
        client_config(no_takeover(), 10),
        true,
    );
    let e = ext(&p.client);
    assert_eq!(e, ext(&p.sconn));
    assert!(e.starts_with("permessage-deflate"), "{e:?}");
    assert!(e.contains("server_no_context_takeover"), "{e:?}");
    assert!(e.contains("client_no_context_takeover"), "{e:?}");
    let repeated = json_like(5000, 5);
    let mut sent = Vec::new();
    for i in 0..200u64 {
        sent.push(text(repeated.clone()));
        sent.push(binary(json_like(100 + i as usize * 10, i)));
    }
    sent.push(text(json_like(1 << 20, 6)));
    echo_round_trip(&p, &sent);
    clean_close(&p);
}

#[test]
fn window_bits_on_both_sides() {
    for bits in [9u8, 10, 12, 14, 15] {
        let p = pair(
            server_config(with_bits(bits, bits), 10),
            client_config(with_bits(bits, bits), 10),
            true,
        );
        let e = ext(&p.client);
        assert_eq!(e, ext(&p.sconn), "bits {bits}");
        assert!(e.starts_with("permessage-deflate"), "bits {bits}: {e:?}");
        if bits < 15 {
            assert!(
                e.contains(&format!("server_max_window_bits={bits}")),
                "bits {bits}: {e:?}"
            );
            assert!(
                e.contains(&format!("client_max_window_bits={bits}")),
                "bits {bits}: {e:?}"
            );
        }
        let mut sent = Vec::new();
        for i in 0..20u64 {
            sent.push(binary(far_repeats(i)));
            sent.push(text(json_like(40_000, i)));
        }
        echo_round_trip(&p, &sent);
        clean_close(&p);
    }
}

#[test]
fn different_window_limits_on_each_side() {
    // (client's server_max, client's client_max, server's server_max, server's client_max)
    for (a, b, c, d) in [
        (9, 15, 15, 15),
        (15, 9, 15, 15),
        (15, 15, 9, 15),
        (15, 15, 15, 9),
        (12, 10, 9, 13),
        (15, 15, 9, 9),
    ] {
        let p = pair(
            server_config(with_bits(c, d), 10),
            client_config(with_bits(a, b), 10),
            true,
        );
        let what = format!("client ({a}, {b}), server ({c}, {d})");
        let e = ext(&p.client);
        assert_eq!(e, ext(&p.sconn), "{what}");
        assert!(e.starts_with("permessage-deflate"), "{what}: {e:?}");
        let mut sent = Vec::new();
        for i in 0..10u64 {
            sent.push(binary(far_repeats(i)));
            sent.push(text(json_like(30_000, i)));
        }
        echo_round_trip(&p, &sent);
        clean_close(&p);
    }
}

#[test]
fn concurrent_senders_share_one_compression_context() {
    let p = pair(server_config(on(), 0), client_config(on(), 0), false);
    let threads = 4;
    let per_thread = 250;
    let payload = |t: usize, i: usize| format!("thread {t} message {i} {}", "abc".repeat(i % 50));
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (client, sconn) = (&p.client, &p.sconn);
            scope.spawn(move || {
                for i in 0..per_thread {
                    client.send_text(payload(t, i).as_bytes()).unwrap();
                    sconn.send_binary(payload(t, i).as_bytes()).unwrap();
                }
            });
        }
    });
    let total = threads * per_thread;
    p.srec.wait_message(&p.sconn, total - 1);
    p.crec.wait_message(&p.client, total - 1);
    for (side, got) in [
        ("server", messages(&p.srec.events(&p.sconn))),
        ("client", messages(&p.crec.events(&p.client))),
    ] {
        assert_eq!(got.len(), total, "{side}");
        // Each thread's messages arrive intact and in its order.
        let mut next = vec![0usize; threads];
        for m in got {
            let (Ev::Text(d) | Ev::Binary(d)) = m else {
                unreachable!()
            };
            let s = String::from_utf8(d).unwrap();
            let t: usize = s
                .strip_prefix("thread ")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{side}: garbled message {s:?}"));
            assert_eq!(s, payload(t, next[t]), "{side}");
            next[t] += 1;
        }
    }
    clean_close(&p);
}

#[test]
fn deflate_on_the_client_only_gives_no_extension() {
    let p = pair(server_config(None, 0), client_config(on(), 0), true);
    assert_eq!(ext(&p.client), "");
    assert_eq!(ext(&p.sconn), "");
    let sent = vec![
        text(json_like(50_000, 1)),
        binary(vec![7; 20_000]),
        text(""),
    ];
    echo_round_trip(&p, &sent);
    clean_close(&p);
}

#[test]
fn deflate_on_the_server_only_gives_no_extension() {
    let p = pair(server_config(on(), 0), client_config(None, 0), true);
    assert_eq!(ext(&p.client), "");
    assert_eq!(ext(&p.sconn), "");
    let sent = vec![
        text(json_like(50_000, 1)),
        binary(vec![7; 20_000]),
        text(""),
    ];
    echo_round_trip(&p, &sent);
    clean_close(&p);
}

// ===========================================================================
// A raw client against our server
// ===========================================================================

fn deflate_server(
    deflate: Option<DeflateConfig>,
    f: impl FnOnce(&mut ConnectionConfig),
) -> (Server, Arc<Recorder>, SocketAddr) {
    let mut config = server_config(deflate, 100);
    f(&mut config.connection);
    let rec = Recorder::new();
    let server = Server::listen("127.0.0.1", 0, config, rec.clone()).expect("listen");
    let addr = server.local_addr();
    (server, rec, addr)
}

/// A raw client that sent `extra` header lines; returns it and the 101 head.
fn raw_client_with(addr: SocketAddr, extra: &str) -> (Raw, String) {
    let mut raw = Raw::connect(addr);
    raw.send(request("/", RFC_KEY, extra).as_bytes());
    let head = raw.read_head();
    assert_eq!(status(&head), 101, "{head}");
    (raw, head)
}

/// A masked frame with RSV bits (what a raw client sends).
fn cframe(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame_rsv(fin, rsv, opcode, Some(KEY), payload)
}

const RSV1: u8 = 0b100;

/// On a fresh raw connection that negotiated deflate, sends `bytes`; the
/// server must answer with a close frame carrying `code` and close TCP.
/// Returns how long the close frame took.
fn deflate_violation(
    addr: SocketAddr,
    rec: &Recorder,
    n: usize,
    what: &str,
    bytes: &[u8],
    code: u16,
) -> Duration {
    let (raw, head) = raw_client_with(addr, OFFER);
    assert!(
        header(&head, "Sec-WebSocket-Extensions").is_some(),
        "{what}: {head}"
    );
    let conn = rec.opened(n);
    expect_violation_close(raw, rec, &conn, what, bytes, code)
}

#[test]
fn raw_client_negotiates_and_its_compressed_messages_inflate() {
    let (_server, rec, addr) = deflate_server(on(), |_| {});
    let (mut raw, head) = raw_client_with(addr, OFFER);
    let answer = header(&head, "Sec-WebSocket-Extensions").expect("an extension answer");
    assert!(answer.starts_with("permessage-deflate"), "{head}");
    // We offered a bare client_max_window_bits and the server wants 15: the
    // answer has no parameter that would limit or change anything.
    assert_eq!(answer, "permessage-deflate", "{head}");
    let conn = rec.opened(0);
    assert_eq!(ext(&conn), answer);

    let mut expected = Vec::new();
    let mut c = compressor();
    // One frame, text and binary, with context taken over between them.
    let hello = "Hello, wörld! ".repeat(20);
    raw.send(&cframe(
        true,
        RSV1,
        TEXT,
        &deflate_msg(&mut c, hello.as_bytes()),
    ));
    expected.push(text(hello.clone()));
    raw.send(&cframe(
        true,
        RSV1,
        TEXT,
        &deflate_msg(&mut c, hello.as_bytes()),
    ));
    expected.push(text(hello.clone()));
    let bin: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
    raw.send(&cframe(true, RSV1, BINARY, &deflate_msg(&mut c, &bin)));
    expected.push(binary(bin.clone()));
    // Two fragments, RSV1 on the first only, a ping between them.
    let json = json_like(20_000, 9);
    let z = deflate_msg(&mut c, &json);
    let (a, b) = z.split_at(z.len() / 2);
    raw.send(&cframe(false, RSV1, TEXT, a));
    raw.send(&cframe(true, 0, PING, b"mid"));
    raw.send(&cframe(true, 0, CONT, b));
    expected.push(text(json.clone()));
    // Three fragments with an empty one in the middle.
    let z = deflate_msg(&mut c, &bin);
    raw.send(&cframe(false, RSV1, BINARY, &z[..1]));
    raw.send(&cframe(false, 0, CONT, b""));
    raw.send(&cframe(true, 0, CONT, &z[1..]));
    expected.push(binary(bin.clone()));
    // An uncompressed message in between is taken as is.
    raw.send(&cframe(true, 0, TEXT, b"plain"));
    expected.push(text("plain"));
    // An empty message compresses to the single byte 00 (RFC 7692 7.2.3.6).
    // (An RSV1 frame with no payload at all is not valid deflate: the 00 00 ff
    // ff tail alone is not a whole stored block.)
    raw.send(&cframe(true, RSV1, TEXT, &[0x00]));
    expected.push(text(""));
    raw.send(&cframe(true, RSV1, BINARY, &[0x00]));
    expected.push(binary(Vec::new()));
    // Context still intact after all that.
    raw.send(&cframe(
        true,
        RSV1,
        TEXT,
        &deflate_msg(&mut c, hello.as_bytes()),
    ));
    expected.push(text(hello.clone()));
    // A compressed frame written one byte at a time.
    let one = cframe(
        true,
        RSV1,
        TEXT,
        &deflate_msg(&mut c, b"byte by byte, still whole"),
    );
    for byte in &one {
        raw.send(std::slice::from_ref(byte));
    }
    expected.push(text("byte by byte, still whole"));
    // A message ending the deflate stream (BFINAL); the next compressed
    // message starts a new stream.
    raw.send(&cframe(true, RSV1, TEXT, &deflated_final(hello.as_bytes())));
    expected.push(text(hello.clone()));
    let mut c = compressor();
    raw.send(&cframe(
        true,
        RSV1,
        TEXT,
        &deflate_msg(&mut c, b"a fresh stream"),
    ));
    expected.push(text("a fresh stream"));

    let pong = raw.read_frame();
    assert_eq!((pong.opcode, &pong.payload[..]), (PONG, &b"mid"[..]));
    rec.wait_message(&conn, expected.len() - 1);
    assert_same_messages(&messages(&rec.events(&conn)), &expected, "server");
    assert!(conn.failure().is_none(), "{:?}", conn.failure());

    raw.send(&cframe(true, 0, CLOSE, &close_payload(1000, "done")));
    let reply = raw.read_frame();
    assert_eq!(reply.close_code(), Some((1000, String::new())));
    assert_eq!(reply.rsv, 0);
    raw.expect_end();
    drop(raw);
    assert_eq!(rec.wait_close(&conn), (1000, "done".to_string()));
}

#[test]
fn server_compresses_messages_at_or_above_the_threshold() {
    let (_server, rec, addr) = deflate_server(on(), |_| {});
    let (mut raw, _head) = raw_client_with(addr, OFFER);
    let conn = rec.opened(0);
    let mut d = inflater(15);
    let check = |raw: &mut Raw, d: &mut Decompress, opcode: u8, data: &[u8]| {
        let mut f = raw.read_frame();
        let what = format!("{} bytes", data.len());
        assert!(!f.masked, "{what}: {f:?}");
        assert_eq!(f.opcode, opcode, "{what}");
        // Messages over 64 KiB are compressed a slice at a time, as fragments.
        let mut fragments = 1;
        while !f.fin {
            let next = raw.read_frame();
            assert_eq!(
                (next.opcode, next.rsv),
                (CONT, 0),
                "{what}: fragment {fragments}"
            );
            f.payload.extend(next.payload);
            f.fin = next.fin;
            fragments += 1;
        }
        assert_eq!(
            fragments > 1,
            data.len() > 64 * 1024,
            "{what}: {fragments} fragments"
        );
        if data.len() >= 100 {
            assert_eq!(f.rsv, RSV1, "{what}: compressed");
            let inflated = inflate_msg(d, &f.payload).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(inflated == data, "{what}: inflates to something else");
            f.payload.len()
        } else {
            assert_eq!(f.rsv, 0, "{what}: below the threshold, not compressed");
            assert_eq!(f.payload, data, "{what}");
            f.payload.len()
        }
    };
    for len in [0usize, 1, 99, 100, 101, 5000] {
        let t = "t".repeat(len);
        conn.send_text(t.as_bytes()).unwrap();
        check(&mut raw, &mut d, TEXT, t.as_bytes());
        let b = vec![0xb5; len];
        conn.send_binary(&b).unwrap();
        check(&mut raw, &mut d, BINARY, &b);
    }
    // Context takeover: a repeat of an earlier message is much smaller.
    let json = json_like(4000, 2);
    conn.send_text(&json).unwrap();
    let first = check(&mut raw, &mut d, TEXT, &json);
    conn.send_text(&json).unwrap();
    let second = check(&mut raw, &mut d, TEXT, &json);
    assert!(second * 4 < first, "repeat: {second} bytes vs {first}");
    // Large and many.
    let big = json_like(1 << 20, 3);
    conn.send_text(&big).unwrap();
    check(&mut raw, &mut d, TEXT, &big);
    for i in 0..300u64 {
        let m = json_like(100 + (i as usize * 37) % 3000, i);
        conn.send_binary(&m).unwrap();
        check(&mut raw, &mut d, BINARY, &m);
    }
    // Control frames are never compressed.
    conn.ping(&[b'p'; 125]).unwrap();
    let f = raw.read_frame();
    assert_eq!((f.opcode, f.rsv, f.payload.len()), (PING, 0, 125));
    conn.close(Some(1000), &"r".repeat(120)).unwrap();
    let f = raw.read_frame();
    assert_eq!((f.opcode, f.rsv), (CLOSE, 0));
    assert_eq!(f.close_code(), Some((1000, "r".repeat(120))));
}

/// Reads `count` messages of `far_repeats` data from `raw` (sent by our end
/// with `send`) and checks that each is compressed, inflates, and refers back
/// at most `1 << bits` bytes; with `fresh`, that each is a deflate stream of
/// its own (no reference to an earlier message).
fn check_window(
    what: &str,
    raw: &mut Raw,
    send: impl Fn(&[u8]),
    bits: u8,
    fresh: bool,
    count: u64,
) {
    let mut history = Vec::new();
    for i in 0..count {
        // The same data every other time: with context takeover the repeat
        // refers to the previous message.
        let m = far_repeats(i / 2);
        send(&m);
        let f = raw.read_frame();
        assert_eq!(f.rsv, RSV1, "{what}: message {i}");
        if fresh {
            history.clear();
        }
        let (inflated, dist) =
            puff(&mut history, &f.payload).unwrap_or_else(|e| panic!("{what}: message {i}: {e}"));
        assert!(
            inflated == m,
            "{what}: message {i} inflates to something else"
        );
        assert!(
            dist <= 1 << bits,
            "{what}: message {i} refers {dist} bytes back, beyond the {bits}-bit window"
        );
    }
}

#[test]
fn server_honours_server_no_context_takeover_and_window_bits() {
    let (_server, rec, addr) = deflate_server(on(), |_| {});
    for (n, (offer, expected, bits, fresh)) in [
        (
            "server_no_context_takeover; server_max_window_bits=9; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9",
            9,
            true,
        ),
        (
            "server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10",
            10,
            false,
        ),
        (
            "server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover",
            15,
            true,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let (mut raw, head) = raw_client_with(
            addr,
            &format!("Sec-WebSocket-Extensions: permessage-deflate; {offer}\r\n"),
        );
        let answer = header(&head, "Sec-WebSocket-Extensions");
        assert_eq!(answer, Some(expected), "{offer}");
        let conn = rec.opened(n);
        assert_eq!(ext(&conn), expected);
        check_window(
            offer,
            &mut raw,
            |m| {
                conn.send_binary(m).unwrap();
            },
            bits,
            fresh,
            6,
        );
    }
}

#[test]
fn server_limits_the_client_window_only_when_offered() {
    // The server wants the client to compress with at most 10 bits.
    let config = Some(DeflateConfig {
        client_max_window_bits: 10,
        ..DeflateConfig::default()
    });
    let (_server, rec, addr) = deflate_server(config.clone(), |_| {});
    let (mut raw, head) = raw_client_with(addr, OFFER);
    let answer = header(&head, "Sec-WebSocket-Extensions").expect("an extension answer");
    assert!(answer.contains("client_max_window_bits=10"), "{answer}");
    let conn = rec.opened(0);
    let m = far_repeats(1);
    let mut c10 = Compress::new_with_window_bits(Compression::default(), false, 10);
    raw.send(&cframe(true, RSV1, BINARY, &deflate_msg(&mut c10, &m)));
    assert_eq!(rec.wait_message(&conn, 0), binary(m.clone()));

    // A client that did not offer client_max_window_bits cannot be limited: the
    // answer must not carry the parameter (RFC 7692 7.1.2.2).
    let (mut raw, head) = raw_client_with(addr, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    let conn = rec.opened(1);
    if let Some(answer) = header(&head, "Sec-WebSocket-Extensions") {
        assert!(!answer.contains("client_max_window_bits"), "{answer}");
        assert_eq!(ext(&conn), answer);
        // It then compresses with 15 bits, and the server inflates that.
        raw.send(&cframe(true, RSV1, BINARY, &deflated(&m)));
        assert_eq!(rec.wait_message(&conn, 0), binary(m));
    }
}

#[test]
fn server_picks_the_first_acceptable_offer() {
    let (_server, rec, addr) = deflate_server(on(), |_| {});
    let cases: [(&str, Option<&str>); 6] = [
        (
            "Sec-WebSocket-Extensions: x-webkit-deflate-frame, permessage-deflate; \
             server_max_window_bits=8, permessage-deflate; foo=bar, \
             permessage-deflate; client_max_window_bits=10\r\n",
            Some("permessage-deflate; client_max_window_bits=10"),
        ),
        (
            "Sec-WebSocket-Extensions: x-foo\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        (
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16, \
             permessage-deflate; client_max_window_bits=\"12\"\r\n",
            Some("permessage-deflate; client_max_window_bits=12"),
        ),
        (
            "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; \
             client_no_context_takeover\r\n",
            None,
        ),
        ("Sec-WebSocket-Extensions: x-foo; bar\r\n", None),
        (
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover=1\r\n",
            None,
        ),
    ];
    for (n, (offer, expected)) in cases.iter().enumerate() {
        let (mut raw, head) = raw_client_with(addr, offer);
        let got = header(&head, "Sec-WebSocket-Extensions");
        assert_eq!(got, *expected, "offer {offer:?}");
        let conn = rec.opened(n);
        assert_eq!(ext(&conn), expected.unwrap_or(""), "offer {offer:?}");
        let hello = "hello hello hello";
        if expected.is_some() {
            raw.send(&cframe(true, RSV1, TEXT, &deflated(hello.as_bytes())));
        } else {
            raw.send(&cframe(true, 0, TEXT, hello.as_bytes()));
        }
        assert_eq!(rec.wait_message(&conn, 0), text(hello), "offer {offer:?}");
    }
}

#[test]
fn bad_compressed_frames_fail_the_connection_with_the_right_code() {
    let (_server, rec, addr) = deflate_server(on(), |_| {});
    let z = deflated(&json_like(3000, 1));
    let (z1, z2) = z.split_at(z.len() / 2);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "RSV1 on a continuation of a compressed message",
            [cframe(false, RSV1, TEXT, z1), cframe(true, RSV1, CONT, z2)].concat(),
            1002,
        ),
        (
            "RSV1 on a continuation of an uncompressed message",
            [
                cframe(false, 0, TEXT, b"ab"),
                cframe(true, RSV1, CONT, b"cd"),
            ]
            .concat(),
            1002,
        ),
        (
            "RSV1 on a ping",
            cframe(true, RSV1, PING, &deflated(b"p")),
            1002,
        ),
        ("RSV1 on an empty ping", cframe(true, RSV1, PING, b""), 1002),
        ("RSV1 on a pong", cframe(true, RSV1, PONG, b"p"), 1002),
        (
            "RSV1 on a close",
            cframe(true, RSV1, CLOSE, &close_payload(1000, "")),
            1002,
        ),
        (
            "RSV2 on a text frame",
            cframe(true, 0b010, TEXT, b"x"),
            1002,
        ),
        (
            "RSV1 and RSV3 on a binary frame",
            cframe(true, 0b101, BINARY, &deflated(b"x")),
            1002,
        ),
        (
            "not deflate (reserved block type)",
            cframe(true, RSV1, BINARY, &[0xff; 16]),
            1007,
        ),
        (
            "not deflate (bad stored block length)",
            cframe(true, RSV1, BINARY, &[0x00, 0x05, 0x00, 0x00, 0x00, 1, 2, 3]),
            1007,
        ),
        (
            // The first fragment ends at a block boundary (a sync flush), so
            // the second starts a block of the reserved type 3.
            "not deflate, in the second fragment",
            [
                cframe(false, RSV1, BINARY, &z),
                cframe(true, 0, CONT, &[0xff; 16]),
            ]
            .concat(),
            1007,
        ),
        (
            "compressed invalid UTF-8",
            cframe(true, RSV1, TEXT, &deflated(b"valid so far \xff")),
            1007,
        ),
        (
            "compressed surrogate",
            cframe(true, RSV1, TEXT, &deflated(b"a\xed\xa0\x80b")),
            1007,
        ),
        (
            "compressed text ending inside a sequence",
            cframe(true, RSV1, TEXT, &deflated(b"euro \xe2\x82")),
            1007,
        ),
        (
            "compressed invalid UTF-8 across fragments",
            {
                let z = deflated(b"a\xc3\x28 and some more text after it");
                [
                    cframe(false, RSV1, TEXT, &z[..3]),
                    cframe(true, 0, CONT, &z[3..]),
                ]
                .concat()
            },
            1007,
        ),
    ];
    for (n, (what, bytes, code)) in cases.iter().enumerate() {
        deflate_violation(addr, &rec, n, what, bytes, *code);
    }
}

#[test]
fn decompression_bomb_fails_fast_with_1009() {
    let limit = 1 << 20;
    let (_server, rec, addr) = deflate_server(on(), |c| c.max_message_size = limit);

    // Exactly the limit inflates; one byte more does not.
    let (mut raw, _) = raw_client_with(addr, OFFER);
    let conn = rec.opened(0);
    raw.send(&cframe(true, RSV1, BINARY, &deflated(&vec![0; limit])));
    assert_eq!(rec.wait_message(&conn, 0), binary(vec![0; limit]));
    drop(raw);
    rec.wait_close(&conn);
    let over = cframe(true, RSV1, BINARY, &deflated(&vec![0; limit + 1]));
    deflate_violation(addr, &rec, 1, "limit + 1 byte", &over, 1009);

    // 20 MB of zeros in about 20 KB.
    let bomb = deflated(&vec![0; 20 << 20]);
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    let took = deflate_violation(
        addr,
        &rec,
        2,
        "20 MB bomb",
        &cframe(true, RSV1, BINARY, &bomb),
        1009,
    );
    assert!(took < Duration::from_secs(2), "1009 took {took:?}");
    // As text, too.
    let took = deflate_violation(
        addr,
        &rec,
        3,
        "20 MB text bomb",
        &cframe(true, RSV1, TEXT, &deflated(&vec![b'a'; 20 << 20])),
        1009,
    );
    assert!(took < Duration::from_secs(2), "1009 took {took:?}");
    // Fragments each under the limit, together over it.
    let mut data = vec![1; limit / 2 + 1];
    data.extend(vec![2; limit / 2 + 1]);
    let z = deflated(&data);
    let (a, b) = z.split_at(z.len() / 2);
    let fragmented = [cframe(false, RSV1, BINARY, a), cframe(true, 0, CONT, b)].concat();
    deflate_violation(addr, &rec, 4, "fragmented bomb", &fragmented, 1009);
}

#[test]
fn rsv1_without_negotiation_is_1002() {
    let (_server, rec, addr) = deflate_server(on(), |_| {});
    // No offer: no answer, and the server's large messages are not compressed.
    let (mut raw, head) = raw_client_with(addr, "");
    assert_eq!(header(&head, "Sec-WebSocket-Extensions"), None, "{head}");
    let conn = rec.opened(0);
    assert_eq!(ext(&conn), "");
    let big = json_like(50_000, 1);
    conn.send_text(&big).unwrap();
    let f = raw.read_frame();
    assert_eq!((f.rsv, f.opcode), (0, TEXT));
    assert!(f.payload == big);
    raw.send(&cframe(true, RSV1, TEXT, &deflated(b"compressed anyway")));
    let (before, close) = raw.read_until_close();
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(close.close_code().map(|c| c.0), Some(1002));
    raw.expect_end();
    drop(raw);
    assert_failed_by_peer(&rec, &conn);

    // An offer the server declines: the same.
    let (mut raw, head) = raw_client_with(
        addr,
        "Sec-WebSocket-Extensions: permessage-deflate; bogus\r\n",
    );
    assert_eq!(header(&head, "Sec-WebSocket-Extensions"), None, "{head}");
    let conn = rec.opened(1);
    raw.send(&cframe(true, RSV1, BINARY, &deflated(b"x")));
    let (_, close) = raw.read_until_close();
    assert_eq!(close.close_code().map(|c| c.0), Some(1002));
    drop(raw);
    assert_failed_by_peer(&rec, &conn);
}

// ===========================================================================
// A raw server against our client
// ===========================================================================

/// Our client (with `config`) connected to a raw server that answered 101 with
/// `answer` as `Sec-WebSocket-Extensions` (none when `None`). Returns without
/// waiting for the client's Open.
fn raw_server_answering(
    config: ClientConfig,
    answer: Option<&str>,
) -> (Arc<Connection>, Arc<Recorder>, Raw, String) {
    let (listener, addr): (TcpListener, SocketAddr) = raw_listener();
    let rec = Recorder::new();
    let conn = connect(&format!("ws://{addr}/"), config, rec.clone()).expect("connect");
    let mut raw = accept(&listener);
    let head = raw.read_head();
    let key = header(&head, "Sec-WebSocket-Key").expect("Sec-WebSocket-Key");
    let extra = answer
        .map(|a| format!("Sec-WebSocket-Extensions: {a}\r\n"))
        .unwrap_or_default();
    raw.send(switching_protocols(key, &extra).as_bytes());
    (conn, rec, raw, head)
}

/// Like [`raw_server_answering`], then waits for the client's Open.
fn opened_raw_server(
    config: ClientConfig,
    answer: Option<&str>,
) -> (Arc<Connection>, Arc<Recorder>, Raw, String) {
    let (conn, rec, raw, head) = raw_server_answering(config, answer);
    rec.wait_event(&conn, "the client's Open", |e| {
        assert!(
            !matches!(e, Ev::Close(..)),
            "the client closed instead of opening: {:?}",
            conn.failure()
        );
        *e == Ev::Open
    });
    (conn, rec, raw, head)
}

/// An unmasked frame with RSV bits (what a raw server sends).
fn sframe(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame_rsv(fin, rsv, opcode, None, payload)
}

#[test]
fn client_offers_deflate_and_inflates_the_servers_messages() {
    let (conn, rec, mut raw, head) =
        opened_raw_server(client_config(on(), 100), Some("permessage-deflate"));
    let offer = header(&head, "Sec-WebSocket-Extensions").expect("an offer");
    assert!(offer.starts_with("permessage-deflate"), "{offer}");
    assert_eq!(ext(&conn), "permessage-deflate");

    let mut expected = Vec::new();
    let mut c = compressor();
    let hello = "Hello from the raw server, ünïcödé ☃. ".repeat(10);
    for _ in 0..3 {
        raw.send(&sframe(
            true,
            RSV1,
            TEXT,
            &deflate_msg(&mut c, hello.as_bytes()),
        ));
        expected.push(text(hello.clone()));
    }
    let bin = far_repeats(3);
    let z = deflate_msg(&mut c, &bin);
    raw.send(&sframe(false, RSV1, BINARY, &z[..10]));
    raw.send(&sframe(true, 0, PING, b"mid"));
    raw.send(&sframe(true, 0, CONT, &z[10..]));
    expected.push(binary(bin));
    raw.send(&sframe(true, 0, TEXT, b"uncompressed"));
    expected.push(text("uncompressed"));
    let big = json_like(1 << 20, 8);
    raw.send(&sframe(true, RSV1, TEXT, &deflate_msg(&mut c, &big)));
    expected.push(text(big));
    raw.send(&sframe(true, RSV1, TEXT, &deflated_final(hello.as_bytes())));
    expected.push(text(hello.clone()));

    let pong = raw.read_frame();
    assert_eq!((pong.opcode, pong.rsv, pong.masked), (PONG, 0, true));
    assert_eq!(pong.payload, b"mid");
    rec.wait_message(&conn, expected.len() - 1);
    assert_same_messages(&messages(&rec.events(&conn)), &expected, "client");

    // The client's own messages: compressed from the threshold on, masked.
    let mut d = inflater(15);
    for (len, opcode) in [
        (0, TEXT),
        (99, TEXT),
        (100, TEXT),
        (101, BINARY),
        (99, BINARY),
    ] {
        let data = vec![b'z'; len];
        if opcode == TEXT {
            conn.send_text(&data).unwrap();
        } else {
            conn.send_binary(&data).unwrap();
        }
        let f = raw.read_frame();
        assert!(f.masked && f.fin, "{len}: {f:?}");
        assert_eq!(f.opcode, opcode, "{len}");
        if len >= 100 {
            assert_eq!(f.rsv, RSV1, "{len}: compressed");
            assert_eq!(inflate_msg(&mut d, &f.payload).unwrap(), data, "{len}");
        } else {
            assert_eq!(f.rsv, 0, "{len}: not compressed");
            assert_eq!(f.payload, data, "{len}");
        }
    }
    for i in 0..200u64 {
        let m = json_like(100 + (i as usize * 53) % 5000, i);
        conn.send_text(&m).unwrap();
        let f = raw.read_frame();
        assert_eq!(f.rsv, RSV1, "message {i}");
        let inflated = inflate_msg(&mut d, &f.payload).unwrap_or_else(|e| panic!("{i}: {e}"));
        assert!(inflated == m, "message {i} inflates to something else");
    }
    conn.close(Some(1000), "").unwrap();
    let f = raw.read_frame();
    assert_eq!((f.opcode, f.rsv), (CLOSE, 0));
    raw.send(&sframe(true, 0, CLOSE, &close_payload(1000, "")));
    drop(raw);
    assert_eq!(rec.wait_close(&conn).0, 1000);
}

#[test]
fn client_honours_client_no_context_takeover_and_window_bits() {
    for (answer, bits, fresh) in [
        (
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=9",
            9,
            true,
        ),
        (
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=12",
            12,
            true,
        ),
        ("permessage-deflate; client_max_window_bits=11", 11, false),
        ("permessage-deflate; client_no_context_takeover", 15, true),
        // zlib cannot compress with an 8-bit window; the client must still
        // keep within it (stored blocks do).
        (
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=8",
            8,
            true,
        ),
        ("permessage-deflate; client_max_window_bits=8", 8, false),
    ] {
        let (conn, _rec, mut raw, _) = opened_raw_server(client_config(on(), 0), Some(answer));
        assert_eq!(ext(&conn), answer);
        check_window(
            answer,
            &mut raw,
            |m| {
                conn.send_binary(m).unwrap();
            },
            bits,
            fresh,
            6,
        );
    }
}

#[test]
fn client_accepts_server_no_context_takeover_it_did_not_ask_for() {
    let answer = "permessage-deflate; server_no_context_takeover";
    let (conn, rec, mut raw, _) = opened_raw_server(client_config(on(), 0), Some(answer));
    assert_eq!(ext(&conn), answer);
    let m = json_like(5000, 1);
    for i in 0..3 {
        // Each message a fresh stream, as the raw server promised.
        raw.send(&sframe(true, RSV1, BINARY, &deflated(&m)));
        assert_eq!(rec.wait_message(&conn, i), binary(m.clone()));
    }
}

#[test]
fn client_fails_the_handshake_on_bad_extension_answers() {
    let default = || client_config(on(), 100);
    let cases: Vec<(ClientConfig, &str)> = vec![
        (default(), "x-foo"),
        (default(), "permessage-deflate; server_max_window_bits=3"),
        (default(), "permessage-deflate; server_max_window_bits=16"),
        (default(), "permessage-deflate; server_max_window_bits"),
        (default(), "permessage-deflate; server_max_window_bits=09"),
        (default(), "permessage-deflate; client_max_window_bits"),
        (default(), "permessage-deflate; foo"),
        (
            default(),
            "permessage-deflate; server_no_context_takeover=yes",
        ),
        (
            default(),
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        ),
        (default(), "permessage-deflate, permessage-deflate"),
        (default(), "permessage-deflate, x-foo"),
        // We offered client_max_window_bits=10: the server may not raise it.
        (
            client_config(with_bits(15, 10), 100),
            "permessage-deflate; client_max_window_bits=12",
        ),
    ];
    for (config, answer) in cases {
        let (conn, rec, mut raw, _) = raw_server_answering(config, Some(answer));
        assert_eq!(rec.wait_close(&conn), (1006, String::new()), "{answer}");
        let events = rec.events(&conn);
        let [Ev::Error(ErrorKind::Handshake, message), Ev::Close(1006, _)] = &events[..] else {
            panic!("{answer}: {events:?}");
        };
        assert!(!message.is_empty(), "{answer}");
        assert_eq!(
            conn.failure().map(|f| f.0),
            Some(ErrorKind::Handshake),
            "{answer}"
        );
        assert_eq!(conn.state(), ConnectionState::Closed, "{answer}");
        assert_eq!(ext(&conn), "", "{answer}");
        // The client dropped the TCP connection.
        raw.read_to_end();
    }
}

#[test]
fn requests_to_the_server_have_a_fallback_offer_the_server_may_pick() {
    // We ask the server for a window of 10 bits and no context takeover; the
    // request carries a second, plain offer, and a server that answers that
    // one (plainly, or with a window the first offer did not allow) is accepted.
    let asking = || {
        client_config(
            Some(DeflateConfig {
                server_no_context_takeover: true,
                server_max_window_bits: 10,
                ..DeflateConfig::default()
            }),
            100,
        )
    };
    for answer in [
        "permessage-deflate",
        "permessage-deflate; server_max_window_bits=11",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
    ] {
        let (conn, rec, _raw, head) = raw_server_answering(asking(), Some(answer));
        let offer = header(&head, "Sec-WebSocket-Extensions")
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            offer.matches("permessage-deflate").count(),
            2,
            "two offers: {offer}"
        );
        rec.wait_event(&conn, "Open", |e| *e == Ev::Open);
        assert!(ext(&conn).starts_with("permessage-deflate"), "{answer}");
    }
}

#[test]
fn client_accepts_good_extension_answers() {
    for answer in [
        "permessage-deflate",
        "permessage-deflate; server_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=\"10\"",
        "permessage-deflate ;client_max_window_bits=9 ; server_no_context_takeover",
        "permessage-deflate; server_max_window_bits=8",
    ] {
        let (conn, rec, mut raw, _) = opened_raw_server(client_config(on(), 0), Some(answer));
        assert!(!ext(&conn).is_empty(), "{answer}");
        let m = json_like(3000, 5);
        let mut c = Compress::new_with_window_bits(Compression::default(), false, 9);
        raw.send(&sframe(true, RSV1, TEXT, &deflate_msg(&mut c, &m)));
        assert_eq!(rec.wait_message(&conn, 0), text(m.clone()), "{answer}");
        conn.send_text(&m).unwrap();
        let f = raw.read_frame();
        assert_eq!(f.rsv, RSV1, "{answer}");
        assert_eq!(
            inflate_msg(&mut inflater(15), &f.payload).unwrap(),
            m,
            "{answer}"
        );
    }
}

#[test]
fn client_without_an_extension_answer_works_uncompressed() {
    let (conn, rec, mut raw, head) = opened_raw_server(client_config(on(), 0), None);
    assert!(
        header(&head, "Sec-WebSocket-Extensions").is_some(),
        "{head}"
    );
    assert_eq!(ext(&conn), "");
    let big = json_like(100_000, 2);
    conn.send_text(&big).unwrap();
    let f = raw.read_frame();
    assert_eq!((f.rsv, f.opcode, f.masked), (0, TEXT, true));
    assert!(f.payload == big);
    raw.send(&sframe(true, 0, BINARY, &big));
    assert_eq!(rec.wait_message(&conn, 0), binary(big));
    // A compressed frame now breaks the protocol.
    raw.send(&sframe(true, RSV1, TEXT, &deflated(b"surprise")));
    let (before, close) = raw.read_until_close();
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(close.close_code().map(|c| c.0), Some(1002));
    drop(raw);
    assert_eq!(rec.wait_close(&conn), (1006, String::new()));
    assert_eq!(conn.failure().map(|f| f.0), Some(ErrorKind::Protocol));
}

#[test]
fn client_fails_bad_compressed_frames_from_the_server() {
    for (what, bytes, code) in [
        ("not deflate", sframe(true, RSV1, BINARY, &[0xff; 16]), 1007),
        (
            "compressed invalid UTF-8",
            sframe(true, RSV1, TEXT, &deflated(b"ok \xff")),
            1007,
        ),
        (
            "RSV1 on a continuation",
            [
                sframe(false, RSV1, TEXT, &deflated(b"abc")[..1]),
                sframe(true, RSV1, CONT, &deflated(b"abc")[1..]),
            ]
            .concat(),
            1002,
        ),
        ("RSV1 on a ping", sframe(true, RSV1, PING, b""), 1002),
    ] {
        let (conn, rec, mut raw, _) =
            opened_raw_server(client_config(on(), 100), Some("permessage-deflate"));
        raw.send(&bytes);
        let (before, close) = raw.read_until_close();
        assert!(before.is_empty(), "{what}: {before:?}");
        assert!(close.masked, "{what}");
        assert_eq!(close.close_code().map(|c| c.0), Some(code), "{what}");
        drop(raw);
        assert_eq!(rec.wait_close(&conn), (1006, String::new()), "{what}");
        assert_eq!(conn.failure().map(|f| f.0), Some(ErrorKind::Protocol));
    }
}

#[test]
fn client_stops_inflating_a_bomb_at_its_limit() {
    let mut config = client_config(on(), 100);
    config.connection.max_message_size = 1 << 20;
    let (conn, rec, mut raw, _) = opened_raw_server(config, Some("permessage-deflate"));
    raw.send(&sframe(true, RSV1, BINARY, &deflated(&vec![0; 20 << 20])));
    let (_, close) = raw.read_until_close();
    // 1009: inflating stopped at the limit (1 MiB), not at the bomb's 20 MiB.
    assert_eq!(close.close_code().map(|c| c.0), Some(1009));
    drop(raw);
    assert_eq!(rec.wait_close(&conn), (1006, String::new()));
}

#[test]
fn compression_levels_and_every_size_round_trip() {
    for level in [0, 1, 6, 9] {
        let config = Some(DeflateConfig {
            level,
            ..DeflateConfig::default()
        });
        let p = pair(
            server_config(config.clone(), 0),
            client_config(config, 0),
            true,
        );
        let mut rng = Lcg(u64::from(level));
        let mut sent = Vec::new();
        // Every size from 0 to 600, then larger ones: incompressible,
        // compressible and in between, so that zlib's output lands on every
        // possible buffer boundary.
        for len in (0..600).chain((600..70_000).step_by(997)) {
            let data = match len % 3 {
                0 => rng.bytes(len),
                1 => vec![b'a' + (len % 26) as u8; len],
                _ => {
                    let mut d = json_like(len, len as u64);
                    d.truncate(len);
                    d
                }
            };
            sent.push(binary(data));
        }
        echo_round_trip(&p, &sent);
        clean_close(&p);
    }
}

#[test]
fn default_threshold_is_10240() {
    assert_eq!(ConnectionConfig::default().compression_threshold, 10240);
    let mut config = ServerConfig::default();
    config.connection.deflate = on();
    let rec = Recorder::new();
    let server = Server::listen("127.0.0.1", 0, config, rec.clone()).expect("listen");
    let (mut raw, _) = raw_client_with(server.local_addr(), OFFER);
    let conn = rec.opened(0);
    let mut d = inflater(15);
    for (len, compressed) in [(10239, false), (10240, true), (10241, true)] {
        let m = vec![b'q'; len];
        conn.send_binary(&m).unwrap();
        let f = raw.read_frame();
        if compressed {
            assert_eq!(f.rsv, RSV1, "{len}");
            assert_eq!(inflate_msg(&mut d, &f.payload).unwrap(), m, "{len}");
        } else {
            assert_eq!(f.rsv, 0, "{len}");
            assert_eq!(f.payload, m, "{len}");
        }
    }
}

#[test]
fn compressed_frames_right_after_the_handshake_are_inflated() {
    // A raw client sends its request and a compressed message in one write.
    let (_server, rec, addr) = deflate_server(on(), |_| {});
    let mut raw = Raw::connect(addr);
    let mut bytes = request("/", RFC_KEY, OFFER).into_bytes();
    let m = json_like(5000, 1);
    bytes.extend(cframe(true, RSV1, TEXT, &deflated(&m)));
    raw.send(&bytes);
    let head = raw.read_head();
    assert_eq!(status(&head), 101, "{head}");
    let conn = rec.opened(0);
    assert_eq!(rec.wait_message(&conn, 0), text(m.clone()));

    // A raw server sends its 101 and a compressed message in one write.
    let (listener, addr) = raw_listener();
    let crec = Recorder::new();
    let client = connect(
        &format!("ws://{addr}/"),
        client_config(on(), 0),
        crec.clone(),
    )
    .expect("connect");
    let mut raw = accept(&listener);
    let head = raw.read_head();
    let key = header(&head, "Sec-WebSocket-Key").unwrap();
    let mut bytes =
        switching_protocols(key, "Sec-WebSocket-Extensions: permessage-deflate\r\n").into_bytes();
    bytes.extend(sframe(true, RSV1, BINARY, &deflated(&m)));
    raw.send(&bytes);
    assert_eq!(crec.wait_message(&client, 0), binary(m));
}

#[test]
fn broadcast_compresses_per_connection() {
    let (server, rec, addr) = deflate_server(on(), |_| {});
    let offers = [
        "",
        OFFER,
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
    ];
    let mut raws: Vec<Raw> = offers
        .iter()
        .enumerate()
        .map(|(n, offer)| {
            let (raw, _) = raw_client_with(addr, offer);
            rec.opened(n);
            raw
        })
        .collect();
    let mut inflaters = [inflater(15), inflater(15), inflater(15)];
    let m = json_like(3000, 4);
    for round in 0..3 {
        assert_eq!(server.broadcast(true, &m), 3);
        for (n, raw) in raws.iter_mut().enumerate() {
            let f = raw.read_frame();
            let what = format!("connection {n}, round {round}");
            if n == 0 {
                assert_eq!(f.rsv, 0, "{what}");
                assert!(f.payload == m, "{what}");
            } else {
                assert_eq!(f.rsv, RSV1, "{what}");
                if n == 2 {
                    inflaters[n] = inflater(15);
                }
                assert!(
                    inflate_msg(&mut inflaters[n], &f.payload).unwrap() == m,
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn each_side_keeps_its_own_configured_window() {
    // Our server limited to 9 bits answers so and compresses within it.
    let (_server, rec, addr) = deflate_server(with_bits(9, 15), |_| {});
    let (mut raw, head) = raw_client_with(addr, OFFER);
    let answer = header(&head, "Sec-WebSocket-Extensions");
    assert_eq!(answer, Some("permessage-deflate; server_max_window_bits=9"));
    let conn = rec.opened(0);
    check_window(
        "server limited to 9 bits",
        &mut raw,
        |m| {
            conn.send_binary(m).unwrap();
        },
        9,
        false,
        6,
    );

    // Our client offered client_max_window_bits=10, which promises a window of
    // at most 10 bits even when the answer does not mention it (RFC 7692
    // 7.1.2.2).
    let (conn, _rec, mut raw, head) = opened_raw_server(
        client_config(with_bits(15, 10), 0),
        Some("permessage-deflate"),
    );
    let offer = header(&head, "Sec-WebSocket-Extensions").unwrap();
    assert!(offer.contains("client_max_window_bits=10"), "{offer}");
    check_window(
        "client offering 10 bits",
        &mut raw,
        |m| {
            conn.send_binary(m).unwrap();
        },
        10,
        false,
        6,
    );
}

#[test]
fn out_of_range_settings_are_clamped_not_fatal() {
    let odd = Some(DeflateConfig {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 0,
        client_max_window_bits: 200,
        mem_level: 0,
        level: 100,
    });
    let p = pair(server_config(odd.clone(), 0), client_config(odd, 0), true);
    assert_eq!(ext(&p.client), ext(&p.sconn));
    let sent = vec![binary(far_repeats(1)), text(json_like(10_000, 2))];
    echo_round_trip(&p, &sent);
    clean_close(&p);
}

#[test]
fn compressed_text_in_tiny_fragments_keeps_utf8_sequences_whole() {
    let (_server, rec, addr) = deflate_server(on(), |_| {});
    let (mut raw, _) = raw_client_with(addr, OFFER);
    let conn = rec.opened(0);
    let mut c = compressor();
    let mut expected = Vec::new();
    for (n, step) in [1usize, 2, 3, 5, 7].into_iter().enumerate() {
        // Multi-byte characters everywhere, so inflated pieces end mid-sequence.
        let t = "ü日本語☃😀 ".repeat(500 + n);
        let z = deflate_msg(&mut c, t.as_bytes());
        let pieces: Vec<&[u8]> = z.chunks(step).collect();
        let mut bytes = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let (rsv, opcode) = if i == 0 { (RSV1, TEXT) } else { (0, CONT) };
            bytes.extend(cframe(i + 1 == pieces.len(), rsv, opcode, piece));
        }
        raw.send(&bytes);
        expected.push(text(t));
    }
    rec.wait_message(&conn, expected.len() - 1);
    assert_same_messages(&messages(&rec.events(&conn)), &expected, "server");
    assert!(conn.failure().is_none(), "{:?}", conn.failure());
}

#[test]
fn incompressible_message_of_exactly_max_message_size_is_accepted() {
    incompressible_message_at_the_limit(100_000, 8);
}

#[test]
fn incompressible_message_at_the_limit_with_the_lowest_memory_level() {
    // Memory level 1 makes zlib emit a stored block every ~300 bytes: random
    // data grows by about 4% when "compressed".
    incompressible_message_at_the_limit(1_000_000, 1);
}

fn incompressible_message_at_the_limit(limit: usize, mem_level: u8) {
    // A message of exactly max_message_size bytes is within the limit
    // ("largest message accepted, in bytes (after reassembly)"), whether or
    // not it was compressed on the way. Random data does not compress: its
    // deflate form is a few bytes longer than the message itself.
    let with_level = || {
        Some(DeflateConfig {
            mem_level,
            ..DeflateConfig::default()
        })
    };
    let mut server = server_config(with_level(), 0);
    server.connection.max_message_size = limit;
    let mut client = client_config(with_level(), 0);
    client.connection.max_message_size = limit;
    let p = pair(server, client, true);
    assert!(!ext(&p.client).is_empty());
    let m = Lcg(42).bytes(limit);
    assert!(deflated(&m).len() > limit, "random data does not shrink");
    p.client.send_binary(&m).unwrap();
    // The first message or failure of the server's end (no 5 s wait).
    let outcome = p.srec.wait_event(&p.sconn, "a message or a failure", |e| {
        matches!(e, Ev::Binary(_) | Ev::Error(..) | Ev::Close(..))
    });
    match outcome {
        Ev::Binary(got) => assert!(got == m, "the message arrived altered"),
        other => panic!(
            "the server refused a message of exactly max_message_size: {other:?} \
             (its compressed form is {} bytes)",
            deflated(&m).len()
        ),
    }
    assert_eq!(p.crec.wait_message(&p.client, 0), binary(m));
    clean_close(&p);
}

#[test]
fn each_message_may_ask_for_compression_or_not_and_parts_are_flushed() {
    let (_server, rec, addr) = deflate_server(on(), |_| {});
    let (mut raw, _) = raw_client_with(addr, OFFER);
    let conn = rec.opened(0);
    let mut d = inflater(15);
    let options = |compression, continues, more| SendOptions {
        compression,
        continues,
        more,
    };
    // Below the threshold (100), compressed all the same.
    conn.send_message(
        true,
        b"tiny",
        options(MessageCompression::Always, false, false),
    )
    .unwrap();
    let f = raw.read_frame();
    assert_eq!((f.fin, f.rsv, f.opcode), (true, RSV1, TEXT));
    assert_eq!(inflate_msg(&mut d, &f.payload).unwrap(), b"tiny");
    // Above it, sent as is.
    let big = vec![b'b'; 1000];
    conn.send_message(
        false,
        &big,
        options(MessageCompression::Never, false, false),
    )
    .unwrap();
    let f = raw.read_frame();
    assert_eq!((f.fin, f.rsv, f.opcode), (true, 0, BINARY));
    assert_eq!(f.payload, big);
    // A message in parts: each part reaches the peer when sent.
    let first = "first part, ".repeat(20);
    conn.send_message(
        true,
        first.as_bytes(),
        options(MessageCompression::Auto, false, true),
    )
    .unwrap();
    let f1 = raw.read_frame();
    assert_eq!((f1.fin, f1.rsv, f1.opcode), (false, RSV1, TEXT));
    conn.send_message(
        true,
        b"last",
        options(MessageCompression::Auto, true, false),
    )
    .unwrap();
    let f2 = raw.read_frame();
    assert_eq!((f2.fin, f2.rsv, f2.opcode), (true, 0, CONT));
    let mut payload = f1.payload;
    payload.extend_from_slice(&f2.payload);
    assert_eq!(
        inflate_msg(&mut d, &payload).unwrap(),
        format!("{first}last").as_bytes()
    );
}
