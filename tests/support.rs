//! Shared helpers of the transport integration tests (`loopback.rs`,
//! `raw_peer.rs`, `deflate.rs` include this file with
//! `#[path = "support.rs"] mod support;`).
//!
//! - [`Recorder`]: a [`Handler`] that records every event in a `Mutex<Vec<_>>`
//!   and wakes waiters through a `Condvar`; [`Recorder::wait`] polls a predicate
//!   over the recorded events with a 5 s deadline.
//! - [`Raw`]: a hand-written WebSocket peer over a blocking `std::net::TcpStream`
//!   (frames are encoded and decoded here, not with the crate's codec).
//! - an independent SHA-1 + base64 for `Sec-WebSocket-Accept`.
//!
//! Built on its own it is a test target too, checking the helpers themselves.

#![allow(dead_code)]

use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use websocket::transport::{Connection, ErrorKind, Event, Handler};

/// How long any wait for something that should happen may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// The key of RFC 6455 section 1.3 and its accept value.
pub const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// ---------------------------------------------------------------------------
// Recording handler
// ---------------------------------------------------------------------------

/// An owned copy of an [`Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Open,
    Drain,
    Text(Vec<u8>),
    Binary(Vec<u8>),
    /// A piece of a message: text, bytes, first, last, total so far.
    Part(bool, Vec<u8>, bool, bool, u64),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Error(ErrorKind, String),
    Close(u16, String),
}

impl Ev {
    fn from_event(event: &Event<'_>) -> Ev {
        match event {
            Event::Open => Ev::Open,
            Event::Drain => Ev::Drain,
            Event::Message { text: true, data } => Ev::Text(data.to_vec()),
            Event::Message { text: false, data } => Ev::Binary(data.to_vec()),
            Event::Part {
                text,
                data,
                first,
                last,
                total,
            } => Ev::Part(*text, data.to_vec(), *first, *last, *total),
            Event::Ping(d) => Ev::Ping(d.to_vec()),
            Event::Pong(d) => Ev::Pong(d.to_vec()),
            Event::Error(kind, message) => Ev::Error(*kind, message.to_string()),
            Event::Close { code, reason } => Ev::Close(*code, reason.to_string()),
        }
    }

    /// A short form for failure messages (payloads cut).
    fn brief(&self) -> String {
        let cut = |d: &[u8]| {
            if d.len() <= 32 {
                format!("{:?}", String::from_utf8_lossy(d))
            } else {
                format!("<{} bytes>", d.len())
            }
        };
        match self {
            Ev::Text(d) => format!("Text({})", cut(d)),
            Ev::Binary(d) => format!("Binary({})", cut(d)),
            Ev::Ping(d) => format!("Ping({})", cut(d)),
            Ev::Pong(d) => format!("Pong({})", cut(d)),
            other => format!("{other:?}"),
        }
    }
}

/// One recorded event and the connection it belongs to.
pub struct Rec {
    pub conn: Arc<Connection>,
    pub ev: Ev,
    pub at: Instant,
}

/// What the recorder does besides recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Record,
    /// Sends every message back on the same connection.
    Echo,
}

/// A [`Handler`] that records events and lets tests wait for them.
pub struct Recorder {
    recs: Mutex<Vec<Rec>>,
    changed: Condvar,
    mode: Mode,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            recs: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            mode: Mode::Record,
        })
    }

    /// A recorder that echoes every message back.
    pub fn echo() -> Arc<Recorder> {
        Arc::new(Recorder {
            recs: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            mode: Mode::Echo,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Rec>> {
        self.recs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (at most [`WAIT`]) until `f` returns `Some` over the recorded events.
    pub fn wait<T>(&self, what: &str, f: impl FnMut(&[Rec]) -> Option<T>) -> T {
        self.wait_within(WAIT, f)
            .unwrap_or_else(|dump| panic!("timed out waiting for {what}; events:\n{dump}"))
    }

    /// Like [`Recorder::wait`] with a custom limit; `Err` holds an event dump.
    pub fn wait_within<T>(
        &self,
        limit: Duration,
        mut f: impl FnMut(&[Rec]) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + limit;
        let mut recs = self.lock();
        loop {
            if let Some(v) = f(&recs) {
                return Ok(v);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(dump(&recs));
            }
            recs = self
                .changed
                .wait_timeout(recs, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The `n`th connection (0-based) that got an `Open` event.
    pub fn opened(&self, n: usize) -> Arc<Connection> {
        self.wait(&format!("connection #{n} to open"), |recs| {
            recs.iter()
                .filter(|r| r.ev == Ev::Open)
                .nth(n)
                .map(|r| r.conn.clone())
        })
    }

    /// The events of `conn` so far.
    pub fn events(&self, conn: &Arc<Connection>) -> Vec<Ev> {
        self.lock()
            .iter()
            .filter(|r| Arc::ptr_eq(&r.conn, conn))
            .map(|r| r.ev.clone())
            .collect()
    }

    /// All events so far, whatever their connection.
    pub fn all(&self) -> Vec<Ev> {
        self.lock().iter().map(|r| r.ev.clone()).collect()
    }

    /// How many events were recorded (all connections).
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// Waits for the first event of `conn` matching `pred` and returns it.
    pub fn wait_event(
        &self,
        conn: &Arc<Connection>,
        what: &str,
        mut pred: impl FnMut(&Ev) -> bool,
    ) -> Ev {
        self.wait(what, |recs| {
            recs.iter()
                .find(|r| Arc::ptr_eq(&r.conn, conn) && pred(&r.ev))
                .map(|r| r.ev.clone())
        })
    }

    /// Waits for the `Close` event of `conn`; returns its code and reason.
    pub fn wait_close(&self, conn: &Arc<Connection>) -> (u16, String) {
        match self.wait_event(conn, "a Close event", |e| matches!(e, Ev::Close(..))) {
            Ev::Close(code, reason) => (code, reason),
            _ => unreachable!(),
        }
    }

    /// Waits for the `Close` event of `conn` and returns when it came.
    pub fn wait_close_at(&self, conn: &Arc<Connection>) -> (u16, String, Instant) {
        self.wait("a Close event", |recs| {
            recs.iter()
                .find(|r| Arc::ptr_eq(&r.conn, conn) && matches!(r.ev, Ev::Close(..)))
                .map(|r| match &r.ev {
                    Ev::Close(code, reason) => (*code, reason.clone(), r.at),
                    _ => unreachable!(),
                })
        })
    }

    /// Waits for the `n`th (0-based) message of `conn`.
    pub fn wait_message(&self, conn: &Arc<Connection>, n: usize) -> Ev {
        self.wait(&format!("message #{n}"), |recs| {
            recs.iter()
                .filter(|r| {
                    Arc::ptr_eq(&r.conn, conn) && matches!(r.ev, Ev::Text(_) | Ev::Binary(_))
                })
                .nth(n)
                .map(|r| r.ev.clone())
        })
    }
}

fn dump(recs: &[Rec]) -> String {
    let mut out = String::new();
    for r in recs.iter().take(50) {
        out.push_str(&format!(
            "  conn {:p}: {}\n",
            Arc::as_ptr(&r.conn),
            r.ev.brief()
        ));
    }
    if recs.len() > 50 {
        out.push_str(&format!("  ... and {} more\n", recs.len() - 50));
    }
    out
}

impl Handler for Recorder {
    fn event(&self, conn: &Arc<Connection>, event: Event<'_>) {
        if self.mode == Mode::Echo {
            if let Event::Message { text, data } = event {
                let _ = if text {
                    conn.send_text(data)
                } else {
                    conn.send_binary(data)
                };
            }
        }
        let ev = Ev::from_event(&event);
        self.lock().push(Rec {
            conn: conn.clone(),
            ev,
            at: Instant::now(),
        });
        self.changed.notify_all();
    }
}

/// Asserts that the events of a connection that ended are exactly `expected`.
pub fn assert_events(rec: &Recorder, conn: &Arc<Connection>, expected: &[Ev]) {
    let got = rec.events(conn);
    let brief = |v: &[Ev]| v.iter().map(Ev::brief).collect::<Vec<_>>().join(", ");
    assert!(
        got == expected,
        "events differ\n  got:      [{}]\n  expected: [{}]",
        brief(&got),
        brief(expected)
    );
}

/// Polls `f` every 2 ms until it holds (for things no event announces, such as
/// a count going down after the last event); panics after [`WAIT`].
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

// ---------------------------------------------------------------------------
// Frames by hand
// ---------------------------------------------------------------------------

pub const CONT: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// A mask key for the raw client's frames.
pub const KEY: [u8; 4] = [0x12, 0x9a, 0xe4, 0x7f];

/// Encodes a frame: `fin`, `rsv` (3 bits), `opcode`, optional mask, payload.
pub fn frame_rsv(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 7) << 4) | (opcode & 0x0f)];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A frame without RSV bits.
pub fn frame(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    frame_rsv(fin, 0, opcode, mask, payload)
}

/// A masked, final frame (what a client sends).
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, opcode, Some(KEY), payload)
}

/// An unmasked, final frame (what a server sends).
pub fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, opcode, None, payload)
}

/// A close frame payload.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// A decoded frame (payload unmasked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The code and reason of a close frame (`None`: empty payload).
    pub fn close_code(&self) -> Option<(u16, String)> {
        assert_eq!(self.opcode, CLOSE, "not a close frame: {self:?}");
        if self.payload.is_empty() {
            return None;
        }
        assert!(self.payload.len() >= 2, "1-byte close payload");
        Some((
            u16::from_be_bytes([self.payload[0], self.payload[1]]),
            String::from_utf8(self.payload[2..].to_vec()).expect("UTF-8 close reason"),
        ))
    }
}

/// Decodes one frame at the start of `buf`: the frame and its length.
fn parse_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let masked = buf[1] & 0x80 != 0;
    let (len, mut n) = match buf[1] & 0x7f {
        126 => {
            if buf.len() < 4 {
                return None;
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4)
        }
        127 => {
            if buf.len() < 10 {
                return None;
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b) as usize, 10)
        }
        l => (l as usize, 2),
    };
    let key = if masked {
        if buf.len() < n + 4 {
            return None;
        }
        let k = [buf[n], buf[n + 1], buf[n + 2], buf[n + 3]];
        n += 4;
        Some(k)
    } else {
        None
    };
    if buf.len() < n + len {
        return None;
    }
    let mut payload = buf[n..n + len].to_vec();
    if let Some(k) = key {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= k[i % 4];
        }
    }
    Some((
        Frame {
            fin: buf[0] & 0x80 != 0,
            rsv: (buf[0] >> 4) & 7,
            opcode: buf[0] & 0x0f,
            masked,
            payload,
        },
        n + len,
    ))
}

// ---------------------------------------------------------------------------
// Raw peer
// ---------------------------------------------------------------------------

/// How a raw peer saw the connection end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// An orderly FIN (`read` returned 0).
    Fin,
    /// A TCP reset.
    Reset,
}

/// A hand-driven TCP peer with a read buffer.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Wraps a stream, with [`WAIT`] as read and write timeout.
    pub fn new(stream: TcpStream) -> Raw {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Raw {
        Raw::new(TcpStream::connect_timeout(&addr, WAIT).expect("connect"))
    }

    /// Writes all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("raw write");
    }

    /// Reads more bytes into the buffer; `Err` when the connection ended.
    fn fill(&mut self, deadline: Instant) -> Result<(), Ended> {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "raw peer: timed out reading");
        self.stream.set_read_timeout(Some(left)).unwrap();
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(Ended::Fin),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if e.kind() == IoKind::ConnectionReset => Err(Ended::Reset),
            Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) => {
                panic!("raw peer: timed out reading (have {:?})", self.snippet())
            }
            Err(e) if e.kind() == IoKind::Interrupted => Ok(()),
            Err(e) => panic!("raw peer: read failed: {e}"),
        }
    }

    fn snippet(&self) -> String {
        String::from_utf8_lossy(&self.buf[..self.buf.len().min(200)]).into_owned()
    }

    /// Reads an HTTP head (up to and including the blank line); bytes after it
    /// stay buffered for [`Raw::read_frame`].
    pub fn read_head(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return String::from_utf8(head).expect("ASCII head");
            }
            if let Err(how) = self.fill(deadline) {
                panic!(
                    "raw peer: connection ended ({how:?}) before the head was complete: {:?}",
                    self.snippet()
                );
            }
        }
    }

    /// Reads everything until the connection ends; returns what came and how it ended.
    pub fn read_to_end(&mut self) -> (Vec<u8>, Ended) {
        self.read_to_end_within(WAIT)
    }

    /// Like [`Raw::read_to_end`] with a custom limit (panics when it passes).
    pub fn read_to_end_within(&mut self, limit: Duration) -> (Vec<u8>, Ended) {
        let deadline = Instant::now() + limit;
        loop {
            if let Err(how) = self.fill(deadline) {
                return (std::mem::take(&mut self.buf), how);
            }
        }
    }

    /// Reads one frame.
    pub fn read_frame(&mut self) -> Frame {
        self.try_read_frame()
            .unwrap_or_else(|how| panic!("raw peer: connection ended ({how:?}) instead of a frame"))
    }

    /// Reads one frame, or says how the connection ended first.
    pub fn try_read_frame(&mut self) -> Result<Frame, Ended> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some((f, n)) = parse_frame(&self.buf) {
                self.buf.drain(..n);
                return Ok(f);
            }
            self.fill(deadline)?;
        }
    }

    /// Reads frames until a close frame and returns it (other frames are returned too).
    pub fn read_until_close(&mut self) -> (Vec<Frame>, Frame) {
        let mut before = Vec::new();
        loop {
            let f = self.read_frame();
            if f.opcode == CLOSE {
                return (before, f);
            }
            before.push(f);
        }
    }

    /// Asserts that the connection ends (FIN or reset) with no more bytes.
    pub fn expect_end(&mut self) -> Ended {
        let (rest, how) = self.read_to_end();
        assert!(rest.is_empty(), "unexpected bytes before the end: {rest:?}");
        how
    }

    /// Closes our writing side (TCP FIN).
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// The bytes buffered but not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }
}

/// A client upgrade request for `target` with `key` and extra header lines.
pub fn request(target: &str, key: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\n\
         Host: localhost\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         {extra}\r\n"
    )
}

/// Connects a raw client to `addr` and completes the opening handshake.
pub fn raw_client(addr: SocketAddr, target: &str) -> Raw {
    let mut raw = Raw::connect(addr);
    raw.send(request(target, RFC_KEY, "").as_bytes());
    let head = raw.read_head();
    assert!(head.starts_with("HTTP/1.1 101 "), "not a 101: {head}");
    raw
}

/// The value of header `name` (case-insensitive) in an HTTP head.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The status code of an HTTP response head.
pub fn status(head: &str) -> u16 {
    head.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head:?}"))
}

/// A raw server: a listener on 127.0.0.1 with a port picked by the system.
pub fn raw_listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// Accepts one connection within [`WAIT`].
pub fn accept(listener: &TcpListener) -> Raw {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return Raw::new(s);
            }
            Err(e) if e.kind() == IoKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no connection to accept");
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Accepts our client's connection, reads its request and answers 101 (with the
/// right accept value). Returns the peer and the request head.
pub fn accept_ws(listener: &TcpListener) -> (Raw, String) {
    let mut raw = accept(listener);
    let head = raw.read_head();
    let key = header(&head, "Sec-WebSocket-Key").expect("Sec-WebSocket-Key");
    raw.send(switching_protocols(key, "").as_bytes());
    (raw, head)
}

/// A `101 Switching Protocols` head answering `key`, with `extra` header lines
/// (each ending in CRLF) before the blank line.
pub fn switching_protocols(key: &str, extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_for(key)
    )
}

/// Sends `bytes` (a protocol violation) from a raw client of our server, then
/// checks what must follow: nothing but a close frame with `code`, the server
/// closing TCP, and Error(Protocol) + Close(1006) on `conn`. Returns how long
/// the close frame took.
pub fn expect_violation_close(
    mut raw: Raw,
    rec: &Recorder,
    conn: &Arc<Connection>,
    what: &str,
    bytes: &[u8],
    code: u16,
) -> Duration {
    let sent = Instant::now();
    raw.send(bytes);
    let (before, close) = raw.read_until_close();
    let took = sent.elapsed();
    assert!(
        before.is_empty(),
        "{what}: frames before the close: {before:?}"
    );
    assert!(!close.masked, "{what}");
    let (got, reason) = close.close_code().expect("a close code");
    assert_eq!(got, code, "{what}: close code (reason {reason:?})");
    // The server closes the TCP connection after its close frame.
    raw.expect_end();
    drop(raw);
    assert_failed_by_peer(rec, conn);
    took
}

// ---------------------------------------------------------------------------
// SHA-1 and base64, written here so the accept value is checked independently
// ---------------------------------------------------------------------------

pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The `Sec-WebSocket-Accept` value for `key`.
pub fn accept_for(key: &str) -> String {
    let mut input = key.as_bytes().to_vec();
    input.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64(&sha1(&input))
}

#[test]
fn helpers_sha1_base64_and_frames() {
    assert_eq!(
        base64(&sha1(b"abc")),
        base64(&[
            0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
            0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
        ])
    );
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(accept_for(RFC_KEY), RFC_ACCEPT);
    for len in [0usize, 5, 125, 126, 65535, 65536, 70_000] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        for mask in [None, Some(KEY)] {
            let bytes = frame(true, BINARY, mask, &payload);
            let (f, n) = parse_frame(&bytes).expect("whole frame");
            assert_eq!(n, bytes.len());
            assert_eq!((f.fin, f.opcode, f.masked), (true, BINARY, mask.is_some()));
            assert_eq!(f.payload, payload);
            assert!(parse_frame(&bytes[..bytes.len() - 1]).is_none() || len == 0);
        }
    }
}

/// The messages (text and binary) among `events`.
pub fn messages(events: &[Ev]) -> Vec<Ev> {
    events
        .iter()
        .filter(|e| matches!(e, Ev::Text(_) | Ev::Binary(_)))
        .cloned()
        .collect()
}

pub fn send(conn: &Connection, message: &Ev) {
    match message {
        Ev::Text(d) => conn.send_text(d),
        Ev::Binary(d) => conn.send_binary(d),
        other => panic!("not a message: {other:?}"),
    }
    .expect("send");
}

/// Compares message lists without printing megabytes on failure.
pub fn assert_same_messages(got: &[Ev], expected: &[Ev], side: &str) {
    assert_eq!(got.len(), expected.len(), "{side}: message count");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        if g != e {
            let (kind_g, data_g) = match g {
                Ev::Text(d) => ("text", d),
                Ev::Binary(d) => ("binary", d),
                _ => unreachable!(),
            };
            let (kind_e, data_e) = match e {
                Ev::Text(d) => ("text", d),
                Ev::Binary(d) => ("binary", d),
                _ => unreachable!(),
            };
            let first_diff = data_g.iter().zip(data_e.iter()).position(|(a, b)| a != b);
            panic!(
                "{side}: message #{i} differs: got {kind_g} of {} bytes, expected {kind_e} of {} \
                 bytes, first differing byte at {first_diff:?}",
                data_g.len(),
                data_e.len()
            );
        }
    }
}

/// Asserts the events of a connection the peer broke: Open, (messages),
/// Error(Protocol), Close(1006).
pub fn assert_failed_by_peer(rec: &Recorder, conn: &Arc<Connection>) {
    assert_eq!(rec.wait_close(conn), (1006, String::new()));
    let events = rec.events(conn);
    assert!(
        matches!(
            &events[..],
            [
                Ev::Open,
                Ev::Error(ErrorKind::Protocol, _),
                Ev::Close(1006, _)
            ]
        ),
        "{events:?}"
    );
    assert_eq!(conn.failure().map(|f| f.0), Some(ErrorKind::Protocol));
}

/// This process's resident memory, in bytes (for the tests that run alone
/// in their process to measure what they hold).
pub fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = status.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}
