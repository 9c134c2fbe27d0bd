//! The shared side of one connection: what any thread may ask of it.
//!
//! A `Connection` lives in an `Arc` shared by its driver task and by whoever
//! holds a handle to it. Sends encode the frame on the caller's thread (masking
//! included) and pass the bytes to the driver over a channel, so they never block
//! and never touch the socket.

use crate::protocol::close::{is_valid_wire_code, write_close_payload};
use crate::protocol::deflate::{Compressor, Decompressor, DeflateConfig, DeflateParams};
use crate::protocol::frame::{
    encode_frame, write_header, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};
use crate::protocol::handshake::Headers;
use crate::protocol::mask::apply_mask;
use crate::protocol::receiver::Role;
use crate::transport::{random, ErrorKind};
use std::ffi::{c_void, CStr, CString};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum ConnectionState {
    /// The opening handshake is under way.
    Connecting = 0,
    /// Messages can be sent and received.
    Open = 1,
    /// A close frame was sent or received; the close handshake is under way.
    Closing = 2,
    /// The connection is closed.
    Closed = 3,
}

impl ConnectionState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => ConnectionState::Connecting,
            1 => ConnectionState::Open,
            2 => ConnectionState::Closing,
            _ => ConnectionState::Closed,
        }
    }
}

/// Why a send or close was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The connection is not open (closing, closed, or not open yet).
    NotOpen,
    /// The send queue limit would be exceeded.
    QueueFull,
    /// A control frame payload over 125 bytes, or a close reason over 123 bytes.
    TooLarge,
    /// Text that is not valid UTF-8.
    InvalidUtf8,
    /// A close code that may not be sent (see `is_valid_wire_code`).
    InvalidCloseCode,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::NotOpen => "the connection is not open",
            SendError::QueueFull => "the send queue is full (the peer is not reading fast enough)",
            SendError::TooLarge => "control frame payload over 125 bytes (close reason over 123)",
            SendError::InvalidUtf8 => "text is not valid UTF-8",
            SendError::InvalidCloseCode => {
                "close code may not be sent (use 1000-1003, 1007-1011 or 3000-4999)"
            }
        })
    }
}

/// A command from a caller's thread to the connection's driver.
#[derive(Debug)]
pub(crate) enum Command {
    /// Encoded frame bytes to write, and the bytes charged to the send queue.
    Frame(Vec<u8>, usize),
    /// Start the close handshake with this code (`None`: no code) and reason.
    Close(Option<u16>, String),
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// Close code reported to the application (1005 none, 1006 abnormal).
    pub code: u16,
    /// Close reason.
    pub reason: String,
}

/// What the opening handshake settled.
struct HandshakeInfo {
    /// The peer's handshake headers.
    headers: Vec<(CString, CString)>,
    /// The chosen subprotocol, "" when none.
    subprotocol: CString,
    /// Over TLS.
    secure: bool,
}

/// One WebSocket connection, shared between its driver and the application.
pub struct Connection {
    role: Role,
    state: AtomicU8,
    /// Set once the connection reached `Open` (it may have closed since).
    opened: AtomicBool,
    commands: mpsc::UnboundedSender<Command>,
    /// Bytes of frames in the channel, not yet taken by the driver.
    queued: AtomicUsize,
    send_queue_limit: usize,
    peer: OnceLock<CString>,
    path: CString,
    query: CString,
    close_info: OnceLock<CloseInfo>,
    failure: OnceLock<(ErrorKind, String)>,
    /// permessage-deflate, once negotiated.
    deflate: OnceLock<Negotiated>,
    /// What the opening handshake settled, once it completed.
    handshake: OnceLock<HandshakeInfo>,
    /// Wakes the driver when the application asks to close, so the close
    /// timeout starts even if the close frame waits behind unsent data.
    close_notify: Notify,
    /// Guards state changes so waiters never miss one.
    changed_lock: Mutex<()>,
    changed: Condvar,
    /// A pointer the application attaches to the connection (C `user_data`).
    pub app_data: AtomicPtr<c_void>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state())
            .field("peer", &self.peer())
            .field("path", &self.path)
            .finish()
    }
}

impl Connection {
    /// A new connection in the `Connecting` state and the receiving end of its
    /// command channel (for the driver).
    pub(crate) fn new(
        role: Role,
        path: String,
        query: String,
        send_queue_limit: usize,
    ) -> (Connection, mpsc::UnboundedReceiver<Command>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = Connection {
            role,
            state: AtomicU8::new(ConnectionState::Connecting as u8),
            opened: AtomicBool::new(false),
            commands: tx,
            queued: AtomicUsize::new(0),
            send_queue_limit,
            peer: OnceLock::new(),
            path: c_string(path),
            query: c_string(query),
            close_info: OnceLock::new(),
            failure: OnceLock::new(),
            deflate: OnceLock::new(),
            handshake: OnceLock::new(),
            close_notify: Notify::new(),
            changed_lock: Mutex::new(()),
            changed: Condvar::new(),
            app_data: AtomicPtr::new(std::ptr::null_mut()),
        };
        (conn, rx)
    }

    /// Client or server side.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current state.
    pub fn state(&self) -> ConnectionState {
        ConnectionState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// True once the opening handshake completed (even if closed since).
    pub fn was_opened(&self) -> bool {
        self.opened.load(Ordering::Acquire)
    }

    /// The negotiated `Sec-WebSocket-Extensions` value ("" when none).
    pub fn extensions(&self) -> &CStr {
        self.deflate
            .get()
            .map(|d| d.header.as_c_str())
            .unwrap_or_default()
    }

    /// The subprotocol the handshake settled on ("" when none).
    pub fn subprotocol(&self) -> &CStr {
        self.handshake
            .get()
            .map(|h| h.subprotocol.as_c_str())
            .unwrap_or_default()
    }

    /// The headers the peer sent in the opening handshake, in order: the
    /// request's on a server, the response's on a client. Empty until then.
    pub fn headers(&self) -> &[(CString, CString)] {
        self.handshake
            .get()
            .map(|h| h.headers.as_slice())
            .unwrap_or_default()
    }

    /// The first handshake header named `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&CStr> {
        find_header(self.headers(), name)
    }

    /// True when the connection runs over TLS.
    pub fn is_secure(&self) -> bool {
        self.handshake.get().is_some_and(|h| h.secure)
    }

    /// The peer's address as `ip:port` (`[v6]:port`), empty until connected.
    pub fn peer(&self) -> &CStr {
        self.peer.get().map(CString::as_c_str).unwrap_or_default()
    }

    /// The request path (`/chat`).
    pub fn path(&self) -> &CStr {
        &self.path
    }

    /// The request query without `?` (empty when none).
    pub fn query(&self) -> &CStr {
        &self.query
    }

    /// How the connection ended; `None` until it is closed.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.close_info.get()
    }

    /// The error that failed the connection, if one did.
    pub fn failure(&self) -> Option<(ErrorKind, &str)> {
        self.failure.get().map(|(k, m)| (*k, m.as_str()))
    }

    /// Bytes of sent messages not yet handed to the socket driver.
    pub fn buffered_amount(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Queues a text message (checked to be UTF-8).
    pub fn send_text(&self, text: &[u8]) -> Result<(), SendError> {
        std::str::from_utf8(text).map_err(|_| SendError::InvalidUtf8)?;
        self.send_frame(OpCode::Text, text)
    }

    /// Queues a binary message.
    pub fn send_binary(&self, data: &[u8]) -> Result<(), SendError> {
        self.send_frame(OpCode::Binary, data)
    }

    /// Queues a ping (payload of at most 125 bytes).
    pub fn ping(&self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues an unsolicited pong (payload of at most 125 bytes).
    pub fn pong(&self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    fn send_control(&self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::TooLarge);
        }
        self.send_frame(opcode, payload)
    }

    fn send_frame(&self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        if self.state() != ConnectionState::Open {
            return Err(SendError::NotOpen);
        }
        let size = payload.len() + MAX_HEADER_LEN;
        let before = self.queued.fetch_add(size, Ordering::AcqRel);
        if before + size > self.send_queue_limit {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            return Err(SendError::QueueFull);
        }
        if let Some(deflate) = self.deflate.get() {
            if !opcode.is_control() && payload.len() >= deflate.threshold {
                return self.send_compressed(deflate, opcode, payload, size);
            }
        }
        let mut frame = Vec::new();
        encode_frame(&mut frame, true, opcode, mask_for(self.role), payload);
        // The driver gives `size` back when it takes the frame (`unqueue`).
        if self.commands.send(Command::Frame(frame, size)).is_err() {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            return Err(SendError::NotOpen);
        }
        Ok(())
    }

    /// Compresses and queues a message whose `size` is already charged. The
    /// compressor stays locked until the frame is queued, so frames leave in the
    /// order they were compressed (the peer's inflater depends on it).
    fn send_compressed(
        &self,
        deflate: &Negotiated,
        opcode: OpCode,
        payload: &[u8],
        size: usize,
    ) -> Result<(), SendError> {
        let Ok(mut compressor) = deflate.compressor.lock() else {
            // A send panicked mid-message: the peer's context no longer matches ours.
            self.queued.fetch_sub(size, Ordering::AcqRel);
            let _ = self.close(Some(1011), "compressor failed");
            return Err(SendError::NotOpen);
        };
        // Compress straight into the frame, after room for the largest header;
        // then put the real header just before the body and drop the spare room.
        let mut frame = vec![0u8; MAX_HEADER_LEN];
        frame.reserve(payload.len() / 2 + 64);
        compressor.compress(payload, &mut frame);
        let body_len = frame.len() - MAX_HEADER_LEN;
        let mask = mask_for(self.role);
        let mut header = Vec::with_capacity(MAX_HEADER_LEN);
        write_header(&mut header, true, RSV1, opcode, mask, body_len);
        let start = MAX_HEADER_LEN - header.len();
        frame[start..MAX_HEADER_LEN].copy_from_slice(&header);
        frame.drain(..start);
        if let Some(key) = mask {
            apply_mask(&mut frame[header.len()..], key, 0);
        }
        // Charge what is really queued (incompressible data grows a little).
        let charged = size.max(frame.len());
        self.queued.fetch_add(charged - size, Ordering::AcqRel);
        if self.commands.send(Command::Frame(frame, charged)).is_err() {
            self.queued.fetch_sub(charged, Ordering::AcqRel);
            return Err(SendError::NotOpen);
        }
        Ok(())
    }

    /// Starts the close handshake. `code` `None` sends a close frame without a
    /// code (then `reason` must be empty). Refused when already closing or closed.
    pub fn close(&self, code: Option<u16>, reason: &str) -> Result<(), SendError> {
        match code {
            Some(c) if !is_valid_wire_code(c) => return Err(SendError::InvalidCloseCode),
            None if !reason.is_empty() => return Err(SendError::InvalidCloseCode),
            _ => {}
        }
        if reason.len() > MAX_CONTROL_PAYLOAD - 2 {
            return Err(SendError::TooLarge);
        }
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state >= ConnectionState::Closing as u8 {
                return Err(SendError::NotOpen);
            }
            match self.state.compare_exchange(
                state,
                ConnectionState::Closing as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        self.notify();
        self.close_notify.notify_one();
        self.commands
            .send(Command::Close(code, reason.to_string()))
            .map_err(|_| SendError::NotOpen)
    }

    /// Completes when the application has asked to close (see `close`).
    pub(crate) async fn close_requested(&self) {
        self.close_notify.notified().await
    }

    /// Waits until the state is at least `state` or `timeout` passes (`None`:
    /// forever). Returns the state reached.
    pub fn wait_for(&self, state: ConnectionState, timeout: Option<Duration>) -> ConnectionState {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut guard = self.changed_lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = self.state();
            if now >= state {
                return now;
            }
            guard = match deadline {
                None => self.changed.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return now;
                    }
                    self.changed
                        .wait_timeout(guard, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    fn notify(&self) {
        let _guard = self.changed_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.changed.notify_all();
    }

    // ---- used by the transport ----

    /// Turns on permessage-deflate with the negotiated `params` (before the
    /// connection opens).
    pub(crate) fn set_deflate(
        &self,
        params: &DeflateParams,
        config: &DeflateConfig,
        threshold: usize,
    ) {
        let (ours, theirs) = match self.role {
            Role::Server => (
                (
                    params.server_max_window_bits,
                    params.server_no_context_takeover,
                ),
                (
                    params.client_max_window_bits,
                    params.client_no_context_takeover,
                ),
            ),
            Role::Client => (
                (
                    params.client_max_window_bits,
                    params.client_no_context_takeover,
                ),
                (
                    params.server_max_window_bits,
                    params.server_no_context_takeover,
                ),
            ),
        };
        let compressor = Compressor::new(ours.0, ours.1, config.level, config.mem_level);
        let _ = self.deflate.set(Negotiated {
            header: c_string(params.to_header()),
            threshold,
            compressor: Mutex::new(compressor),
            inflate: theirs,
        });
    }

    /// A fresh inflater for the peer's messages, when deflate was negotiated.
    pub(crate) fn inflater(&self) -> Option<Decompressor> {
        self.deflate
            .get()
            .map(|d| Decompressor::new(d.inflate.0, d.inflate.1))
    }

    /// Records what the opening handshake settled (before the connection opens).
    pub(crate) fn set_handshake(&self, headers: &Headers, subprotocol: Option<&str>, secure: bool) {
        let _ = self.handshake.set(HandshakeInfo {
            headers: headers
                .0
                .iter()
                .map(|(n, v)| (c_string(n.clone()), c_string(v.clone())))
                .collect(),
            subprotocol: c_string(subprotocol.unwrap_or_default().to_string()),
            secure,
        });
    }

    pub(crate) fn set_peer(&self, peer: String) {
        let _ = self.peer.set(c_string(peer));
    }

    /// Moves from `Connecting` to `Open`; false if a close came first.
    pub(crate) fn mark_open(&self) -> bool {
        let ok = self
            .state
            .compare_exchange(
                ConnectionState::Connecting as u8,
                ConnectionState::Open as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if ok {
            self.opened.store(true, Ordering::Release);
        }
        self.notify();
        ok
    }

    pub(crate) fn mark_closing(&self) {
        let _ = self
            .state
            .fetch_max(ConnectionState::Closing as u8, Ordering::AcqRel);
        self.notify();
    }

    pub(crate) fn mark_failed(&self, kind: ErrorKind, message: String) {
        let _ = self.failure.set((kind, message));
    }

    pub(crate) fn mark_closed(&self, info: CloseInfo) {
        let _ = self.close_info.set(info);
        let _guard = self.changed_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.state
            .store(ConnectionState::Closed as u8, Ordering::Release);
        self.changed.notify_all();
    }

    /// Called by the driver when it takes a frame from the channel.
    pub(crate) fn unqueue(&self, charged: usize) {
        self.queued.fetch_sub(charged, Ordering::AcqRel);
    }
}

/// RSV1: the frame starts a compressed message.
const RSV1: u8 = 0b100;

/// permessage-deflate state of a connection.
struct Negotiated {
    /// The negotiated extension, as the server answered it.
    header: CString,
    /// Messages shorter than this are sent uncompressed.
    threshold: usize,
    /// Our compressor; locked while a message is compressed and queued.
    compressor: Mutex<Compressor>,
    /// Window bits and no-context-takeover of the peer's compression.
    inflate: (u8, bool),
}

/// Builds a close frame for `role` (masked for clients).
pub(crate) fn close_frame(role: Role, code: Option<u16>, reason: &str, out: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(2 + reason.len());
    write_close_payload(&mut payload, code, reason);
    encode_frame(out, true, OpCode::Close, mask_for(role), &payload);
}

/// A fresh masking key for a client's frames; servers do not mask.
pub(crate) fn mask_for(role: Role) -> Option<[u8; 4]> {
    match role {
        Role::Client => Some(random::mask_key()),
        Role::Server => None,
    }
}

/// A C string of `s`, cut at the first NUL byte if it has one.
/// The value of the first header named `name` (case-insensitive) in a list of
/// C-string pairs, as connections and pending handshakes keep them.
pub fn find_header<'a>(headers: &'a [(CString, CString)], name: &str) -> Option<&'a CStr> {
    headers
        .iter()
        .find(|(n, _)| n.to_bytes().eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.as_c_str())
}

fn c_string(mut s: String) -> CString {
    if let Some(nul) = s.find('\0') {
        s.truncate(nul);
    }
    CString::new(s).unwrap_or_default()
}
