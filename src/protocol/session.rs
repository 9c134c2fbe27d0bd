//! The protocol state machine of one open connection, without I/O.
//!
//! A [`Session`] is what a connection is between the opening handshake and the
//! end of TCP: bytes read from the socket go in ([`Session::receive`]), messages
//! the application sends go in ([`Session::send`], [`Session::close`]), and the
//! bytes to write come out ([`Session::output`]). It keeps every rule that is
//! not about sockets:
//!
//! - the close handshake (RFC 6455 7): answering the peer's close frame,
//!   refusing to send after ours, discarding what arrives once both are
//!   exchanged, and the close timeout;
//! - the pong policy: every ping is answered, but while the output is over its
//!   high-water mark only the latest one is (RFC 6455 5.5.3), and none after
//!   our close frame;
//! - keepalive: a ping after a quiet interval, a failure after a second one;
//! - ordering: frames the session adds itself (pongs, close frames) queue
//!   behind messages sent before them;
//! - permessage-deflate on the sending side.
//!
//! Time is an argument (`now`), never read here, so tests drive it.

use super::close::{is_valid_wire_code, write_close_payload};
use super::deflate::{Compressor, Decompressor, PartEnd};
use super::error::ProtocolError;
use super::frame::{write_header, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, RSV1};
use super::mask::apply_mask;
use super::outqueue::{OutQueue, MAX_SLICES};
use super::published::Published;
use super::receiver::{Incoming, Payload, Receiver, Role};
use std::collections::VecDeque;
use std::fmt;
use std::io::IoSlice;
use std::time::{Duration, Instant};

/// While this many bytes wait to be written, the session answers only the
/// latest ping (the others would pile up behind data the peer is not reading).
pub const OUT_HIGH_WATER: usize = 256 * 1024;

/// Frames at least this large go to the socket straight from the caller's
/// memory when the session can ([`Session::send`]); smaller ones are copied
/// into the output, where they batch with others.
pub const WRITE_THROUGH_MIN: usize = 16 * 1024;

/// Compressed messages larger than this are compressed a slice of this size
/// at a time (see [`Session::work`]), each slice sent as a fragment, so that
/// compressing a large message does not hold up the thread for long.
pub const COMPRESS_SLICE: usize = 64 * 1024;

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
    /// A part that continues a message, but no message in parts is open.
    NoMessageInParts,
    /// A new message in parts while another one is still open.
    MessageInPartsOpen,
    /// A part whose kind (text or binary) differs from its message's.
    PartKindMismatch,
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
            SendError::NoMessageInParts => "no message in parts is open to continue",
            SendError::MessageInPartsOpen => {
                "a message in parts is still open: send its last part first"
            }
            SendError::PartKindMismatch => {
                "a part's kind differs from its message's (text or binary)"
            }
        })
    }
}

/// Checks a close code and reason the application wants to send.
pub fn check_close(code: Option<u16>, reason: &str) -> Result<(), SendError> {
    match code {
        Some(c) if !is_valid_wire_code(c) => return Err(SendError::InvalidCloseCode),
        None if !reason.is_empty() => return Err(SendError::InvalidCloseCode),
        _ => {}
    }
    if reason.len() > MAX_CONTROL_PAYLOAD - 2 {
        return Err(SendError::TooLarge);
    }
    Ok(())
}

/// Whether a message goes compressed, when permessage-deflate was negotiated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    /// Compressed when at least the compression threshold (the default).
    #[default]
    Auto,
    /// Compressed whatever its size.
    Always,
    /// Never compressed.
    Never,
}

/// How a message (or a part of one) is sent ([`Session::send`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Compressed or not (a message in parts: decided by its first part).
    pub compression: Compression,
    /// This part continues the message in parts that is open.
    pub continues: bool,
    /// More parts of this message follow.
    pub more: bool,
}

impl SendOptions {
    /// A part of a message sent in parts (its first, a middle one, or its last).
    pub fn is_part(&self) -> bool {
        self.continues || self.more
    }
}

/// What a session is configured with.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Our side: clients mask their frames.
    pub role: Role,
    /// Largest message accepted (1009 beyond).
    pub max_message_size: usize,
    /// Most frames per message (0: no limit; 1009 beyond).
    pub max_fragments: usize,
    /// Time allowed for the close handshake.
    pub close_timeout: Duration,
    /// Ping after this long without hearing from the peer; fail after as long again.
    pub keepalive: Option<Duration>,
    /// Hand messages out in pieces as they arrive ([`Incoming::Part`]).
    pub receive_parts: bool,
    /// Answer pings with pongs by itself (see [`Session::set_auto_pong`]).
    pub auto_pong: bool,
}

/// Where the close handshake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Messages flow both ways.
    Open,
    /// The peer's close frame came, and our answer waits (only when the
    /// session was asked to hold it, [`Session::hold_close_answer`]): what
    /// the application sends meanwhile, in answer to the messages before the
    /// close frame, goes out first. Nothing more is read.
    CloseReceived,
    /// We sent a close frame and wait for the peer's; messages still arrive.
    CloseSent,
    /// Close frames were exchanged (or the connection failed): what is queued
    /// is flushed, what arrives is discarded, and TCP ends.
    Draining,
}

/// What a timer deadline meant ([`Session::on_timer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timer {
    /// Nothing ends (a keepalive ping may have been queued).
    Continue,
    /// The close handshake's time is up after a normal close: end TCP now.
    Finished,
    /// The connection fails for this reason (a timeout).
    Failed(String),
}

/// Sending side of permessage-deflate.
struct Deflater {
    compressor: Compressor,
    /// Messages shorter than this are sent uncompressed.
    threshold: usize,
}

/// The keepalive of a connection: pings a peer that went quiet, and says when
/// it stayed quiet too long.
#[derive(Debug)]
struct Keepalive {
    interval: Duration,
    /// When the peer was last heard from.
    heard: Instant,
    /// A ping went out since then.
    pinged: bool,
    /// When to look again.
    due: Instant,
}

/// The state of one connection's protocol, from open to the end of TCP.
pub struct Session {
    role: Role,
    /// Masking keys for our frames (clients only).
    mask: Option<fn() -> [u8; 4]>,
    rx: Receiver,
    out: OutQueue,
    phase: Phase,
    deflater: Option<Box<Deflater>>,
    /// What rarely happens: the close handshake, owed pongs, keepalive.
    rare: Option<Box<Rare>>,
    /// Time allowed for the close handshake, in milliseconds.
    close_timeout_ms: u32,
    /// The peer ended its side of TCP.
    peer_eof: bool,
    /// We ended our side of TCP (after the close handshake).
    shut_down: bool,
    /// A peer's close frame is answered when [`Session::answer_close`] says
    /// so, not at once.
    hold_close_answer: bool,
    /// Pings are answered by the session (otherwise by the application).
    auto_pong: bool,
}

/// Session state most connections never need, kept out of line so that an
/// idle connection stays small.
#[derive(Default)]
struct Rare {
    /// The peer's close frame: its code (1005 when it had none) and reason.
    peer_close: Option<(u16, String)>,
    /// A pong owed while the output was over its mark (the latest ping's payload).
    pending_pong: Option<Vec<u8>>,
    /// A close the application asked for once what has arrived is handled
    /// ([`Session::close_after_input`]): its code and reason.
    pending_close: Option<(Option<u16>, String)>,
    /// When the close handshake (or the flush before ending, or a held
    /// close) must be done.
    deadline: Option<Instant>,
    keepalive: Option<Keepalive>,
    /// Why the connection failed, when the session decided it did.
    failure: Option<String>,
    /// What waits behind a message being compressed a slice at a time, or
    /// behind a message in parts that is not finished.
    deferred: VecDeque<Deferred>,
    /// Payload bytes the deferred messages hold.
    deferred_bytes: usize,
    /// The application has a message in parts open: its first part came,
    /// its last has not (the parts are in a `Deferred::Parts`, or went out).
    parts_open: bool,
    /// The largest message size for messages that start from now on, until
    /// the receiver is between messages (see
    /// [`Session::set_max_message_size`]).
    next_max_message_size: Option<usize>,
    /// The application ended the connection at once ([`Session::abort`]).
    aborted: bool,
}

/// Something sent while a large message was still being compressed, kept in
/// order until its turn ([`Session::work`]).
enum Deferred {
    /// A message; compressed a slice at a time when `compress`, else sent whole.
    Message {
        opcode: OpCode,
        data: Vec<u8>,
        compress: bool,
        /// Bytes of `data` compressed so far.
        done: usize,
        /// Its first frame went out (later ones are continuations).
        started: bool,
    },
    /// A message sent in parts: the parts given that wait their turn. While
    /// it is first in line with no part waiting and not ended, everything
    /// behind it waits for its next part.
    Parts {
        message: PartsState,
        /// Each part and whether it is the last.
        parts: VecDeque<(Vec<u8>, bool)>,
        /// No more parts will come (the last came, or a close cut it).
        ended: bool,
    },
    /// The close frame, after everything sent before it.
    Close(Option<u16>, String),
}

/// A message being sent in parts.
#[derive(Debug, Clone, Copy)]
struct PartsState {
    opcode: OpCode,
    compress: bool,
    /// Its first frame went out (later ones are continuations).
    started: bool,
}

impl Deferred {
    /// A message in parts waiting for its next part: nothing behind it can go.
    fn waits_for_a_part(&self) -> bool {
        matches!(self, Deferred::Parts { parts, ended: false, .. } if parts.is_empty())
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("phase", &self.phase)
            .field("queued", &self.out.len())
            .finish()
    }
}

impl Session {
    /// A session for an open connection. `mask` makes masking keys (required
    /// for clients, ignored for servers).
    pub fn new(config: &SessionConfig, mask: fn() -> [u8; 4], now: Instant) -> Session {
        let mut rx = Receiver::new(config.role, config.max_message_size, None)
            .with_max_fragments(config.max_fragments);
        if config.receive_parts {
            rx = rx.deliver_parts();
        }
        let mut session = Session {
            role: config.role,
            mask: (config.role == Role::Client).then_some(mask),
            rx,
            out: OutQueue::default(),
            phase: Phase::Open,
            deflater: None,
            rare: None,
            close_timeout_ms: config
                .close_timeout
                .as_millis()
                .try_into()
                .unwrap_or(u32::MAX),
            peer_eof: false,
            shut_down: false,
            hold_close_answer: false,
            auto_pong: config.auto_pong,
        };
        if let Some(interval) = config.keepalive {
            session.rare().keepalive = Some(Keepalive {
                interval,
                heard: now,
                pinged: false,
                due: now + interval,
            });
        }
        session
    }

    /// Turns on permessage-deflate: `compressor` for what we send (messages of
    /// at least `threshold` bytes), `inflater` for what the peer sends.
    pub fn with_deflate(
        mut self,
        compressor: Compressor,
        threshold: usize,
        inflater: Decompressor,
    ) -> Self {
        self.deflater = Some(Box::new(Deflater {
            compressor,
            threshold,
        }));
        self.rx.set_inflater(inflater);
        self
    }

    /// From now on, a peer's close frame is not answered at once: the session
    /// goes to [`Phase::CloseReceived`] and answers when
    /// [`Session::answer_close`] is called (or when the close timeout
    /// passes). For an application that handles messages on another thread:
    /// its answers to the messages before the close frame still go out.
    pub fn hold_close_answer(&mut self) {
        self.hold_close_answer = true;
    }

    /// Answers each ping with a pong by itself (`on`, the default), or
    /// leaves that to the application (which sends its pong as any other).
    /// Applies to the pings received from now on.
    pub fn set_auto_pong(&mut self, on: bool) {
        self.auto_pong = on;
    }

    /// Changes the largest message accepted (1009 beyond) for the messages
    /// that start from now on: one being received keeps its limit.
    pub fn set_max_message_size(&mut self, max_message_size: usize) {
        if self.rx.between_messages() {
            self.rx.set_max_message_size(max_message_size);
        } else {
            self.rare().next_max_message_size = Some(max_message_size);
        }
    }

    /// Gives the receiver a limit set while a message was being received,
    /// once it is between messages.
    fn apply_next_limit(&mut self) {
        let Some(rare) = self.rare.as_mut() else {
            return;
        };
        if rare.next_max_message_size.is_none() || !self.rx.between_messages() {
            return;
        }
        if let Some(max) = rare.next_max_message_size.take() {
            self.rx.set_max_message_size(max);
        }
    }

    fn close_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.close_timeout_ms))
    }

    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Where the close handshake is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    // ---- input ----

    /// Decodes the next event from `buf` (bytes read from the socket, unmasked
    /// in place). Returns how many bytes were used and the event, if one is
    /// complete; call again with the rest until no event comes. The session
    /// reacts by itself: a ping queues its pong, a close frame its answer.
    /// Once draining, everything is discarded. An error has already queued the
    /// close frame that fails the connection.
    pub fn receive<'a>(
        &mut self,
        buf: &'a mut [u8],
        now: Instant,
    ) -> Result<(usize, Option<Incoming<'a>>), ProtocolError> {
        if matches!(self.phase, Phase::Draining | Phase::CloseReceived) {
            return Ok((buf.len(), None));
        }
        self.apply_next_limit();
        match self.rx.decode(buf) {
            Ok((used, Some(event))) => {
                match &event {
                    Incoming::Ping(data) => self.answer_ping(data),
                    Incoming::Close(code, reason) => {
                        self.rare().peer_close = Some((code.unwrap_or(1005), reason.clone()));
                        match self.phase {
                            Phase::Open if self.hold_close_answer => {
                                self.phase = Phase::CloseReceived;
                                self.rx.discard();
                                let timeout = self.close_timeout();
                                self.rare().deadline = Some(now + timeout);
                            }
                            Phase::Open => self.queue_close_answer(now),
                            _ => self.drain(now),
                        }
                    }
                    _ => {}
                }
                Ok((used, Some(event)))
            }
            Ok(none) => Ok(none),
            Err(e) => {
                if self.phase == Phase::Open {
                    self.queue_close(Some(e.code), e.reason);
                }
                self.drain(now);
                Err(e)
            }
        }
    }

    /// Bytes held for the message being received (see [`Receiver::held`]).
    pub fn inbound_held(&self) -> usize {
        self.rx.held()
    }

    /// Holds at most `room` bytes for the message being received (see
    /// [`Receiver::set_room`]).
    pub fn set_inbound_room(&mut self, room: usize) {
        self.rx.set_room(room);
    }

    /// Ends the connection at once, without a close frame: what waits to be
    /// sent is dropped, nothing more is read or written, and the session is
    /// finished (end TCP now). It reports 1006 with the reason "aborted".
    pub fn abort(&mut self) {
        self.phase = Phase::Draining;
        self.rx.discard();
        self.out.advance(self.out.len());
        self.peer_eof = true;
        self.shut_down = true;
        let rare = self.rare();
        rare.aborted = true;
        rare.pending_pong = None;
        rare.pending_close = None;
        rare.deadline = None;
        rare.keepalive = None;
        rare.deferred = VecDeque::new();
        rare.deferred_bytes = 0;
        rare.parts_open = false;
    }

    /// Fails the connection with `code` and `reason` for a cause found
    /// outside the session (a memory budget): as a protocol error would, it
    /// queues the close frame (when still open) and drains. Returns the
    /// error to report.
    pub fn fail_with(&mut self, code: u16, reason: &'static str, now: Instant) -> ProtocolError {
        if self.phase == Phase::Open {
            self.queue_close(Some(code), reason);
        }
        self.drain(now);
        ProtocolError { code, reason }
    }

    /// Gives back the buffer of an owned payload (see [`Payload`]).
    pub fn recycle(&mut self, payload: Payload<'_>) {
        if let Payload::Owned(buf) = payload {
            self.rx.recycle(buf);
        }
    }

    /// The peer was heard from (bytes arrived) at `now`.
    pub fn heard(&mut self, now: Instant) {
        if let Some(k) = self.rare.as_mut().and_then(|r| r.keepalive.as_mut()) {
            k.heard = now;
            k.pinged = false;
        }
    }

    /// True when the keepalive needs [`Session::heard`] after each read.
    pub fn needs_clock(&self) -> bool {
        self.rare.as_ref().is_some_and(|r| r.keepalive.is_some())
    }

    /// The peer ended its side of TCP. Returns true when nothing is left to
    /// write, so the connection can end now; otherwise what is queued is still
    /// flushed (within the close timeout).
    pub fn peer_closed(&mut self, now: Instant) -> bool {
        self.peer_eof = true;
        // Also when finished: the caller may still wait for the
        // application's answers, within the close timeout.
        let timeout = self.close_timeout();
        self.rare().deadline.get_or_insert(now + timeout);
        self.is_finished()
    }

    /// True while the session has work left from what it received (a large
    /// compressed message being inflated a step at a time): call
    /// [`Session::receive`] again, with no new bytes if need be, after letting
    /// other work run.
    pub fn is_busy(&self) -> bool {
        self.reads() && self.rx.is_busy()
    }

    /// True while what arrives is handled (not once the peer's close frame came).
    fn reads(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::CloseSent)
    }

    /// Bytes the peer is known to send next: the rest of the frame it is
    /// sending (0 between frames, or once nothing more is read).
    pub fn bytes_expected(&self) -> u64 {
        if !self.reads() {
            return 0;
        }
        self.rx.frame_remaining()
    }

    /// True while the peer may still send something worth reading.
    pub fn wants_read(&self) -> bool {
        !self.peer_eof
    }

    fn answer_ping(&mut self, data: &[u8]) {
        if self.phase != Phase::Open || !self.auto_pong {
            return;
        }
        if self.out.len() < OUT_HIGH_WATER {
            self.queue_control(OpCode::Pong, data);
        } else {
            // RFC 6455 5.5.3: answering only the latest ping is enough.
            self.rare().pending_pong = Some(data.to_vec());
        }
    }

    /// True while the application may send messages: open, or holding the
    /// answer to the peer's close frame.
    pub fn accepts_messages(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::CloseReceived)
    }

    /// Sends the held answer to the peer's close frame
    /// ([`Phase::CloseReceived`]; otherwise does nothing).
    pub fn answer_close(&mut self, now: Instant) {
        if self.phase == Phase::CloseReceived {
            self.queue_close_answer(now);
        }
    }

    /// Answers the peer's close frame (echoing its code) after what was sent
    /// before, and goes on to flush and end. Messages still waiting to be
    /// compressed go first; a message in parts ends with the parts given.
    fn queue_close_answer(&mut self, now: Instant) {
        let code = self
            .rare
            .as_ref()
            .and_then(|r| r.peer_close.as_ref())
            .map(|(code, _)| *code)
            .filter(|&code| code != 1005);
        match self.rare.as_mut().filter(|r| !r.deferred.is_empty()) {
            Some(rare) => {
                if rare.parts_open {
                    rare.cut_open_parts();
                }
                rare.deferred
                    .push_back(Deferred::Close(code, String::new()));
            }
            None => self.queue_close(code, ""),
        }
        self.phase = Phase::Draining;
        self.rx.discard();
        let timeout = self.close_timeout();
        let rare = self.rare();
        rare.deadline = Some(now + timeout);
        rare.pending_close = None;
    }

    /// The connection failed, or close frames were exchanged after ours:
    /// flush, then end. Messages still waiting to be compressed can no
    /// longer go.
    fn drain(&mut self, now: Instant) {
        self.phase = Phase::Draining;
        self.rx.discard();
        let timeout = self.close_timeout();
        let rare = self.rare();
        rare.deadline = Some(now + timeout);
        rare.deferred = VecDeque::new();
        rare.deferred_bytes = 0;
        rare.parts_open = false;
    }

    // ---- output from the application ----

    /// Queues a message (`Text`, `Binary`) or a ping or pong, compressing it
    /// when permessage-deflate was negotiated and `options` and its size say
    /// so, or a part of a message sent in parts (see [`SendOptions`]).
    ///
    /// `write` may put bytes straight on the socket: given everything queued
    /// followed by the new frame, it returns how many bytes it wrote (0 when
    /// it cannot). It is called only for large frames that need neither
    /// masking nor compression, so they are not copied when the socket takes
    /// them. Text must already be checked to be UTF-8.
    pub fn send(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        options: SendOptions,
        write: &mut dyn FnMut(&[IoSlice<'_>]) -> usize,
    ) -> Result<(), SendError> {
        if !self.accepts_messages() {
            return Err(SendError::NotOpen);
        }
        if opcode.is_control() {
            // Control frames may go between the fragments of a message.
            if payload.len() > MAX_CONTROL_PAYLOAD {
                return Err(SendError::TooLarge);
            }
            self.queue_control(opcode, payload);
            return Ok(());
        }
        if options.is_part() {
            return self.send_part(opcode, payload.to_vec(), options);
        }
        let compress = self.compresses(payload.len(), options.compression);
        if self.must_defer(payload.len(), compress) {
            self.defer(opcode, payload.to_vec(), compress);
            return Ok(());
        }
        if let Some(d) = self.deflater.as_mut().filter(|_| compress) {
            let mask = self.mask.map(|m| m());
            let frame = compress_frame(&mut d.compressor, opcode, payload, mask);
            self.out.push(frame);
            return Ok(());
        }
        let mask = self.mask.map(|m| m());
        let mut header = Vec::with_capacity(MAX_HEADER_LEN);
        write_header(&mut header, true, 0, opcode, mask, payload.len());
        let (mut skip_header, mut skip_payload) = (0, 0);
        if mask.is_none() && payload.len() >= WRITE_THROUGH_MIN {
            let written = self.write_through(&header, payload, write);
            skip_header = written.min(header.len());
            skip_payload = written - skip_header;
            if skip_payload == payload.len() && skip_header == header.len() {
                return Ok(());
            }
        }
        let (header, payload) = (&header[skip_header..], &payload[skip_payload..]);
        let encode = |v: &mut Vec<u8>| {
            v.extend_from_slice(header);
            let start = v.len();
            v.extend_from_slice(payload);
            if let Some(key) = mask {
                apply_mask(&mut v[start..], key, 0);
            }
        };
        if payload.len() >= WRITE_THROUGH_MIN {
            // A large frame gets a buffer of its own: appended to a shared
            // chunk it would be copied again as the chunk grows or is taken
            // back.
            let mut frame = Vec::with_capacity(header.len() + payload.len());
            encode(&mut frame);
            self.out.push(frame);
        } else {
            self.out.push_with(encode);
        }
        Ok(())
    }

    /// Queues a message whose payload the caller gives away: a large one is
    /// kept as is (masked in place for clients) instead of copied.
    pub fn send_owned(
        &mut self,
        opcode: OpCode,
        payload: Vec<u8>,
        options: SendOptions,
    ) -> Result<(), SendError> {
        if !self.accepts_messages() || opcode.is_control() {
            return self.send(opcode, &payload, options, &mut |_| 0);
        }
        if options.is_part() {
            return self.send_part(opcode, payload, options);
        }
        let compress = self.compresses(payload.len(), options.compression);
        if self.must_defer(payload.len(), compress) {
            self.defer(opcode, payload, compress);
            return Ok(());
        }
        if compress || payload.len() < WRITE_THROUGH_MIN {
            return self.send(opcode, &payload, options, &mut |_| 0);
        }
        self.queue_whole(opcode, payload);
        Ok(())
    }

    /// Queues a message encoded once for many connections: its shared frame,
    /// or its shared compressed frame when this session compresses it
    /// afresh (no context takeover). Compressed with context takeover, or
    /// behind other messages still waiting, it goes as any message does.
    pub fn send_published(&mut self, message: &Published) -> Result<(), SendError> {
        if !self.accepts_messages() {
            return Err(SendError::NotOpen);
        }
        let (opcode, payload) = (message.opcode(), message.payload());
        let compress = self.compresses(payload.len(), Compression::Auto);
        if self.mask.is_some() || self.must_defer(payload.len(), compress) {
            return self.send(opcode, payload, SendOptions::default(), &mut |_| 0);
        }
        match self.deflater.as_mut().filter(|_| compress) {
            Some(d) => match d.compressor.shared_settings() {
                Some(settings) => self.out.push_shared(&message.compressed(settings)),
                None => self
                    .out
                    .push(compress_frame(&mut d.compressor, opcode, payload, None)),
            },
            None => self.out.push_shared(message.frame()),
        }
        Ok(())
    }

    /// True when a message of `len` bytes must wait its turn: others are
    /// waiting already, or it is large and is to be compressed in slices.
    fn must_defer(&self, len: usize, compress: bool) -> bool {
        let waiting = self.rare.as_ref().is_some_and(|r| !r.deferred.is_empty());
        waiting || compress && len > COMPRESS_SLICE
    }

    /// Whether a message (or the first part of one) of `len` bytes goes compressed.
    fn compresses(&self, len: usize, compression: Compression) -> bool {
        self.deflater.as_ref().is_some_and(|d| match compression {
            Compression::Auto => len >= d.threshold,
            Compression::Always => true,
            Compression::Never => false,
        })
    }

    /// Queues a part of a message sent in parts: its first part (not
    /// `continues`) starts it, one without `more` ends it. Other messages
    /// sent meanwhile wait until it ends, so nothing goes between its frames.
    fn send_part(
        &mut self,
        opcode: OpCode,
        payload: Vec<u8>,
        options: SendOptions,
    ) -> Result<(), SendError> {
        let open = self.rare.as_ref().is_some_and(|r| r.parts_open);
        match (options.continues, open) {
            (true, false) => return Err(SendError::NoMessageInParts),
            (false, true) => return Err(SendError::MessageInPartsOpen),
            _ => {}
        }
        let last = !options.more;
        let compress = self.compresses(payload.len(), options.compression);
        let Session {
            rare,
            out,
            deflater,
            mask,
            ..
        } = self;
        let rare = rare.get_or_insert_with(Box::default);
        rare.parts_open = !last;
        if !options.continues {
            let mut message = PartsState {
                opcode,
                compress,
                started: false,
            };
            let mut parts = VecDeque::new();
            if rare.deferred.is_empty() {
                push_part(out, deflater, *mask, &mut message, payload, last);
            } else {
                rare.deferred_bytes += payload.len();
                parts.push_back((payload, last));
            }
            if !last || !parts.is_empty() {
                rare.deferred.push_back(Deferred::Parts {
                    message,
                    parts,
                    ended: last,
                });
            }
            return Ok(());
        }
        let at = rare
            .deferred
            .iter()
            .rposition(|d| matches!(d, Deferred::Parts { ended: false, .. }))
            .expect("an open message in parts is deferred");
        let Deferred::Parts {
            message,
            parts,
            ended,
        } = &mut rare.deferred[at]
        else {
            unreachable!("found above")
        };
        if message.opcode != opcode {
            rare.parts_open = true;
            return Err(SendError::PartKindMismatch);
        }
        *ended = last;
        if at == 0 && parts.is_empty() {
            push_part(out, deflater, *mask, message, payload, last);
            if last {
                rare.deferred.pop_front();
            }
        } else {
            rare.deferred_bytes += payload.len();
            parts.push_back((payload, last));
        }
        Ok(())
    }

    fn defer(&mut self, opcode: OpCode, data: Vec<u8>, compress: bool) {
        let rare = self.rare();
        rare.deferred_bytes += data.len();
        rare.deferred.push_back(Deferred::Message {
            opcode,
            data,
            compress,
            done: 0,
            started: false,
        });
    }

    /// True when deferred work can go on now ([`Session::work`]).
    pub fn has_work(&self) -> bool {
        self.out.len() < OUT_HIGH_WATER
            && self
                .rare
                .as_ref()
                .and_then(|r| r.deferred.front())
                .is_some_and(|d| !d.waits_for_a_part())
    }

    /// Does the next step of deferred work while the output has room: sends
    /// what waits in order, and compresses one slice of a large message (a
    /// fragment). Returns true when more can be done right away; call again
    /// after letting other work run.
    pub fn work(&mut self) -> bool {
        while self.has_work() {
            let rare = self.rare.as_mut().expect("has_work");
            let job = rare.deferred.front_mut().expect("has_work");
            match job {
                Deferred::Parts {
                    message,
                    parts,
                    ended,
                } => {
                    match parts.pop_front() {
                        Some((data, last)) => {
                            rare.deferred_bytes -= data.len();
                            let (out, deflater) = (&mut self.out, &mut self.deflater);
                            push_part(out, deflater, self.mask, message, data, last);
                            if last {
                                rare.deferred.pop_front();
                            }
                        }
                        None if *ended => {
                            // Cut by a close: what was given went out.
                            rare.deferred.pop_front();
                        }
                        None => return false,
                    }
                    return self.has_work();
                }
                Deferred::Close(code, reason) => {
                    let (code, reason) = (*code, std::mem::take(reason));
                    rare.deferred.pop_front();
                    self.queue_close(code, &reason);
                }
                Deferred::Message {
                    compress: false, ..
                } => {
                    let Some(Deferred::Message { opcode, data, .. }) = rare.deferred.pop_front()
                    else {
                        unreachable!("matched above")
                    };
                    rare.deferred_bytes -= data.len();
                    self.queue_whole(opcode, data);
                }
                Deferred::Message {
                    opcode,
                    data,
                    done,
                    started,
                    ..
                } => {
                    let end = (*done + COMPRESS_SLICE).min(data.len());
                    let last = end == data.len();
                    let d = self.deflater.as_mut().expect("compressed needs a deflater");
                    let mut body = Vec::new();
                    let part_end = if last { PartEnd::Last } else { PartEnd::More };
                    d.compressor
                        .compress_part(&data[*done..end], &mut body, part_end);
                    rare.deferred_bytes -= end - *done;
                    *done = end;
                    if !body.is_empty() || last {
                        let (op, rsv) = if *started {
                            (OpCode::Continuation, 0)
                        } else {
                            (*opcode, RSV1)
                        };
                        *started = true;
                        let mask = self.mask.map(|m| m());
                        self.out.push_with(|v| {
                            write_header(v, last, rsv, op, mask, body.len());
                            let start = v.len();
                            v.extend_from_slice(&body);
                            if let Some(key) = mask {
                                apply_mask(&mut v[start..], key, 0);
                            }
                        });
                    }
                    if last {
                        rare.deferred.pop_front();
                    }
                    return self.has_work();
                }
            }
        }
        false
    }

    /// Queues a whole message frame (no compression), taking its payload.
    fn queue_whole(&mut self, opcode: OpCode, mut data: Vec<u8>) {
        let mask = self.mask.map(|m| m());
        self.out
            .push_with(|v| write_header(v, true, 0, opcode, mask, data.len()));
        if let Some(key) = mask {
            apply_mask(&mut data, key, 0);
        }
        self.out.push(data);
    }

    /// Hands everything queued and then `header` + `payload` to `write`; takes
    /// what it wrote out of the queue and returns how much of the new frame went.
    fn write_through(
        &mut self,
        header: &[u8],
        payload: &[u8],
        write: &mut dyn FnMut(&[IoSlice<'_>]) -> usize,
    ) -> usize {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES + 2];
        let n = self.out.io_slices(&mut slices[..MAX_SLICES]);
        if n == MAX_SLICES {
            // More queued than one write takes: the frame waits its turn.
            return 0;
        }
        slices[n] = IoSlice::new(header);
        slices[n + 1] = IoSlice::new(payload);
        let written = write(&slices[..n + 2]);
        let queued = self.out.len();
        self.out.advance(written.min(queued));
        written.saturating_sub(queued)
    }

    /// Starts the close handshake with `code` (`None`: no code, and no reason)
    /// and `reason`, checked with [`check_close`]. While the answer to the
    /// peer's close frame is held ([`Phase::CloseReceived`]), it goes now
    /// (with the peer's code).
    pub fn close(
        &mut self,
        code: Option<u16>,
        reason: &str,
        now: Instant,
    ) -> Result<(), SendError> {
        check_close(code, reason)?;
        if self.phase == Phase::CloseReceived {
            self.answer_close(now);
            return Ok(());
        }
        if self.phase != Phase::Open {
            return Err(SendError::NotOpen);
        }
        if let Some(rare) = self.rare.as_mut() {
            rare.pending_close = None;
        }
        match self.rare.as_mut().filter(|r| !r.deferred.is_empty()) {
            Some(rare) => {
                if rare.parts_open {
                    rare.cut_open_parts();
                }
                rare.deferred
                    .push_back(Deferred::Close(code, reason.to_string()))
            }
            None => self.queue_close(code, reason),
        }
        self.phase = Phase::CloseSent;
        let timeout = self.close_timeout();
        self.rare().deadline = Some(now + timeout);
        Ok(())
    }

    /// Asks for a close with `code` and `reason` (checked with
    /// [`check_close`]) once what has already arrived is handled: the caller
    /// reads what is there, delivers it, lets the application answer, then
    /// calls [`Session::close_pending`]. If that takes longer than the close
    /// timeout, the close starts by itself ([`Session::on_timer`]). Messages
    /// can be sent until then.
    pub fn close_after_input(
        &mut self,
        code: Option<u16>,
        reason: &str,
        now: Instant,
    ) -> Result<(), SendError> {
        check_close(code, reason)?;
        if self.phase != Phase::Open {
            return Err(SendError::NotOpen);
        }
        let timeout = self.close_timeout();
        let rare = self.rare();
        rare.pending_close = Some((code, reason.to_string()));
        let at = now + timeout;
        rare.deadline = Some(rare.deadline.map_or(at, |d| d.min(at)));
        Ok(())
    }

    /// True while a close asked for with [`Session::close_after_input`] waits.
    pub fn has_pending_close(&self) -> bool {
        self.rare
            .as_ref()
            .is_some_and(|r| r.pending_close.is_some())
    }

    /// Starts the close asked for with [`Session::close_after_input`], if
    /// one waits.
    pub fn close_pending(&mut self, now: Instant) {
        if let Some((code, reason)) = self.rare.as_mut().and_then(|r| r.pending_close.take()) {
            // Checked when asked for, and the session is still open.
            let _ = self.close(code, &reason, now);
        }
    }

    fn queue_control(&mut self, opcode: OpCode, payload: &[u8]) {
        let mask = self.mask.map(|m| m());
        self.out.push_with(|v| {
            write_header(v, true, 0, opcode, mask, payload.len());
            let start = v.len();
            v.extend_from_slice(payload);
            if let Some(key) = mask {
                apply_mask(&mut v[start..], key, 0);
            }
        });
    }

    fn queue_close(&mut self, code: Option<u16>, reason: &str) {
        let mut payload = Vec::with_capacity(2 + reason.len());
        write_close_payload(&mut payload, code, reason);
        self.queue_control(OpCode::Close, &payload);
    }

    // ---- output to the socket ----

    /// Bytes waiting to be written, and payload bytes of messages waiting to
    /// be compressed.
    pub fn queued(&self) -> usize {
        self.out.len() + self.rare.as_ref().map_or(0, |r| r.deferred_bytes)
    }

    /// The queue of bytes to write (read it with `io_slices`, then call
    /// [`Session::wrote`]).
    pub fn output(&self) -> &OutQueue {
        &self.out
    }

    /// The queue, to lend it a buffer or take one back.
    pub fn output_mut(&mut self) -> &mut OutQueue {
        &mut self.out
    }

    /// `n` bytes of the output were written. An owed pong queues once there is room.
    pub fn wrote(&mut self, n: usize) {
        self.out.advance(n);
        if self.out.len() < OUT_HIGH_WATER {
            if let Some(payload) = self.rare.as_mut().and_then(|r| r.pending_pong.take()) {
                if self.phase == Phase::Open {
                    self.queue_control(OpCode::Pong, &payload);
                }
            }
        }
    }

    /// True when we should end our side of TCP now: a server does, once the
    /// close handshake is over and everything is flushed (RFC 6455 7.1.1).
    pub fn wants_shutdown(&self) -> bool {
        self.phase == Phase::Draining
            && self.role == Role::Server
            && !self.shut_down
            && self.queued() == 0
    }

    /// Our side of TCP was ended.
    pub fn shut_down(&mut self) {
        self.shut_down = true;
    }

    /// True when the connection is over: the peer ended TCP and everything
    /// was written.
    pub fn is_finished(&self) -> bool {
        self.peer_eof
            && self.queued() == 0
            && self.phase != Phase::CloseReceived
            && !self.has_pending_close()
    }

    // ---- time ----

    /// When [`Session::on_timer`] should run next, if ever.
    pub fn next_timer(&self) -> Option<Instant> {
        let rare = self.rare.as_ref()?;
        rare.deadline
            .or_else(|| rare.keepalive.as_ref().map(|k| k.due))
    }

    /// Runs what is due at `now`: the end of the close handshake's time, or a
    /// keepalive step (a ping, or a failure after a silent interval).
    pub fn on_timer(&mut self, now: Instant) -> Timer {
        let (phase, queued) = (self.phase, self.queued());
        let Some(rare) = self.rare.as_mut() else {
            return Timer::Continue;
        };
        if let Some(deadline) = rare.deadline {
            if now < deadline {
                return Timer::Continue;
            }
            let why = match phase {
                Phase::Draining if rare.failure.is_none() => return Timer::Finished,
                Phase::Draining => "the peer did not end the connection in time",
                Phase::CloseSent if queued > 0 => {
                    "the close frame could not be sent in time (the peer is not reading)"
                }
                Phase::CloseSent => "the peer did not answer our close frame in time",
                Phase::CloseReceived => {
                    // The application's answers did not come in time: answer now.
                    self.answer_close(now);
                    return Timer::Continue;
                }
                Phase::Open if rare.pending_close.is_some() => {
                    self.close_pending(now);
                    return Timer::Continue;
                }
                // The peer ended TCP; the application's answers did not come in time.
                Phase::Open if queued == 0 => return Timer::Finished,
                Phase::Open => "the peer ended the connection but did not read what was left",
            };
            return self.fail(why.to_string());
        }
        let Some(k) = rare.keepalive.as_mut() else {
            return Timer::Continue;
        };
        if now < k.due {
            return Timer::Continue;
        }
        let quiet_until = k.heard + k.interval;
        if now < quiet_until {
            k.due = quiet_until;
            Timer::Continue
        } else if !k.pinged {
            k.pinged = true;
            k.due = now + k.interval;
            if self.phase == Phase::Open {
                self.queue_control(OpCode::Ping, &[]);
            }
            Timer::Continue
        } else {
            let why = format!(
                "the peer sent nothing for {} ms, not even a pong to our ping",
                (k.interval * 2).as_millis()
            );
            self.fail(why)
        }
    }

    fn fail(&mut self, why: String) -> Timer {
        self.phase = Phase::Draining;
        self.rx.discard();
        self.rare().failure = Some(why.clone());
        Timer::Failed(why)
    }

    /// The close code and reason to report when the connection ends: the
    /// peer's close frame, or 1006 (no close frame) when there was none
    /// (with the reason "aborted" after [`Session::abort`]).
    pub fn close_status(&self) -> (u16, String) {
        if self.rare.as_ref().is_some_and(|r| r.aborted) {
            return (1006, "aborted".to_string());
        }
        self.rare
            .as_ref()
            .and_then(|r| r.peer_close.clone())
            .unwrap_or((1006, String::new()))
    }
}

impl Rare {
    /// Closing while a message in parts is open: it ends with the parts
    /// given so far (the close frame follows them), and the messages sent
    /// after its first part, which could only go after its last, are dropped.
    fn cut_open_parts(&mut self) {
        self.parts_open = false;
        let Some(at) = self
            .deferred
            .iter()
            .rposition(|d| matches!(d, Deferred::Parts { ended: false, .. }))
        else {
            return;
        };
        for dropped in self.deferred.drain(at + 1..) {
            if let Deferred::Message { data, done, .. } = dropped {
                self.deferred_bytes -= data.len() - done;
            }
        }
        if let Some(Deferred::Parts { ended, .. }) = self.deferred.back_mut() {
            *ended = true;
        }
    }
}

/// Queues the frame of one part of a message sent in parts: compressed when
/// the message is (flushed, so each part reaches the peer when sent), masked
/// with a fresh key when `mask` is given. A part that yields no bytes sends
/// no frame unless it is the last.
fn push_part(
    out: &mut OutQueue,
    deflater: &mut Option<Box<Deflater>>,
    mask: Option<fn() -> [u8; 4]>,
    message: &mut PartsState,
    payload: Vec<u8>,
    last: bool,
) {
    let mut body = payload;
    if let Some(d) = deflater.as_mut().filter(|_| message.compress) {
        let end = if last { PartEnd::Last } else { PartEnd::Flush };
        let mut compressed = Vec::new();
        d.compressor.compress_part(&body, &mut compressed, end);
        body = compressed;
    }
    if body.is_empty() && !last {
        return;
    }
    let (opcode, rsv) = match (message.started, message.compress) {
        (true, _) => (OpCode::Continuation, 0),
        (false, true) => (message.opcode, RSV1),
        (false, false) => (message.opcode, 0),
    };
    message.started = true;
    let key = mask.map(|m| m());
    if body.len() >= WRITE_THROUGH_MIN {
        // A large part is queued as it is, after its header: not copied.
        out.push_with(|v| write_header(v, last, rsv, opcode, key, body.len()));
        if let Some(key) = key {
            apply_mask(&mut body, key, 0);
        }
        out.push(body);
        return;
    }
    out.push_with(|v| {
        write_header(v, last, rsv, opcode, key, body.len());
        let start = v.len();
        v.extend_from_slice(&body);
        if let Some(key) = key {
            apply_mask(&mut v[start..], key, 0);
        }
    });
}

/// Compresses `payload` into a whole frame (RSV1 set, masked with `mask`).
pub(super) fn compress_frame(
    compressor: &mut Compressor,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> Vec<u8> {
    // Compress straight into the frame, after room for the largest header;
    // then put the real header just before the body and drop the spare room.
    let mut frame = vec![0u8; MAX_HEADER_LEN];
    frame.reserve(payload.len() / 2 + 64);
    compressor.compress(payload, &mut frame);
    let body_len = frame.len() - MAX_HEADER_LEN;
    let mut header = Vec::with_capacity(MAX_HEADER_LEN);
    write_header(&mut header, true, RSV1, opcode, mask, body_len);
    let start = MAX_HEADER_LEN - header.len();
    frame[start..MAX_HEADER_LEN].copy_from_slice(&header);
    frame.drain(..start);
    if let Some(key) = mask {
        apply_mask(&mut frame[header.len()..], key, 0);
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const SECOND: Duration = Duration::from_secs(1);

    /// A whole message, compressed by the threshold.
    const WHOLE: SendOptions = SendOptions {
        compression: Compression::Auto,
        continues: false,
        more: false,
    };

    fn key() -> [u8; 4] {
        [1, 2, 3, 4]
    }

    fn config(role: Role) -> SessionConfig {
        SessionConfig {
            role,
            max_message_size: 1 << 20,
            max_fragments: 0,
            receive_parts: false,
            auto_pong: true,
            close_timeout: SECOND,
            keepalive: None,
        }
    }

    /// What one endpoint saw, owned.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Seen {
        Text(Vec<u8>),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<u16>, String),
        Error(u16),
        /// A piece: text, its bytes, first, last.
        Part(bool, Vec<u8>, bool, bool),
    }

    /// Two sessions talking in memory: what one writes, the other reads,
    /// `chunk` bytes at a time.
    struct Pair {
        client: Session,
        server: Session,
        now: Instant,
        chunk: usize,
    }

    impl Pair {
        fn new() -> Pair {
            Pair::with(config(Role::Client), config(Role::Server))
        }

        fn with(client: SessionConfig, server: SessionConfig) -> Pair {
            let now = Instant::now();
            Pair {
                client: Session::new(&client, key, now),
                server: Session::new(&server, key, now),
                now,
                chunk: 7,
            }
        }

        /// Moves the bytes `from` queued into `to`, as reads of `chunk` bytes;
        /// returns what `to` saw.
        fn flow(from: &mut Session, to: &mut Session, now: Instant, chunk: usize) -> Vec<Seen> {
            let mut wire = Vec::new();
            while from.queued() > 0 {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let n = from.output().io_slices(&mut slices);
                let mut total = 0;
                for s in &slices[..n] {
                    wire.extend_from_slice(s);
                    total += s.len();
                }
                from.wrote(total);
            }
            let mut seen = Vec::new();
            let mut pending: Vec<u8> = Vec::new();
            for piece in wire.chunks(chunk.max(1)) {
                pending.extend_from_slice(piece);
                let mut start = 0;
                loop {
                    match to.receive(&mut pending[start..], now) {
                        Ok((used, event)) => {
                            start += used;
                            let Some(event) = event else {
                                if to.is_busy() {
                                    continue;
                                }
                                break;
                            };
                            seen.push(match &event {
                                Incoming::Text(d) => Seen::Text(d.to_vec()),
                                Incoming::Binary(d) => Seen::Binary(d.to_vec()),
                                Incoming::Ping(d) => Seen::Ping(d.to_vec()),
                                Incoming::Pong(d) => Seen::Pong(d.to_vec()),
                                Incoming::Close(c, r) => Seen::Close(*c, r.clone()),
                                Incoming::Part(p) => {
                                    Seen::Part(p.text, p.payload.to_vec(), p.first, p.last)
                                }
                            });
                            match event {
                                Incoming::Text(p) | Incoming::Binary(p) => to.recycle(p),
                                Incoming::Part(p) => to.recycle(p.payload),
                                _ => {}
                            }
                        }
                        Err(e) => {
                            seen.push(Seen::Error(e.code));
                            start = pending.len();
                            break;
                        }
                    }
                }
                pending.drain(..start);
            }
            seen
        }

        /// A masked text frame, as a client sends it.
        fn masked_text(payload: &[u8]) -> Vec<u8> {
            let mut frame = Vec::new();
            write_header(
                &mut frame,
                true,
                0,
                OpCode::Text,
                Some(key()),
                payload.len(),
            );
            let start = frame.len();
            frame.extend_from_slice(payload);
            apply_mask(&mut frame[start..], key(), 0);
            frame
        }

        fn client_to_server(&mut self) -> Vec<Seen> {
            Pair::flow(&mut self.client, &mut self.server, self.now, self.chunk)
        }

        fn server_to_client(&mut self) -> Vec<Seen> {
            Pair::flow(&mut self.server, &mut self.client, self.now, self.chunk)
        }
    }

    fn no_write(_: &[IoSlice<'_>]) -> usize {
        0
    }

    #[test]
    fn messages_flow_both_ways_in_order() {
        let mut p = Pair::new();
        p.client
            .send(OpCode::Text, b"hello", WHOLE, &mut no_write)
            .unwrap();
        p.client
            .send(OpCode::Binary, &[0, 1, 2], WHOLE, &mut no_write)
            .unwrap();
        p.client
            .send(OpCode::Text, &vec![b'x'; 70_000], WHOLE, &mut no_write)
            .unwrap();
        assert_eq!(
            p.client_to_server(),
            vec![
                Seen::Text(b"hello".to_vec()),
                Seen::Binary(vec![0, 1, 2]),
                Seen::Text(vec![b'x'; 70_000])
            ]
        );
        p.server
            .send(OpCode::Text, b"back", WHOLE, &mut no_write)
            .unwrap();
        assert_eq!(p.server_to_client(), vec![Seen::Text(b"back".to_vec())]);
    }

    #[test]
    fn pings_are_answered_with_the_same_payload() {
        let mut p = Pair::new();
        p.client
            .send(OpCode::Ping, b"are you there", WHOLE, &mut no_write)
            .unwrap();
        assert_eq!(
            p.client_to_server(),
            vec![Seen::Ping(b"are you there".to_vec())]
        );
        assert_eq!(
            p.server_to_client(),
            vec![Seen::Pong(b"are you there".to_vec())]
        );
        let long = [0u8; 126];
        assert_eq!(
            p.client.send(OpCode::Ping, &long, WHOLE, &mut no_write),
            Err(SendError::TooLarge)
        );
    }

    #[test]
    fn without_auto_pong_pings_are_reported_but_not_answered() {
        let mut p = Pair::new();
        p.server.set_auto_pong(false);
        p.client
            .send(OpCode::Ping, b"one", WHOLE, &mut no_write)
            .unwrap();
        assert_eq!(p.client_to_server(), vec![Seen::Ping(b"one".to_vec())]);
        assert_eq!(p.server.queued(), 0, "no pong queued");
        // The application answers.
        p.server
            .send(OpCode::Pong, b"mine", WHOLE, &mut no_write)
            .unwrap();
        assert_eq!(p.server_to_client(), vec![Seen::Pong(b"mine".to_vec())]);
        // On again: the next ping is answered by the session.
        p.server.set_auto_pong(true);
        p.client
            .send(OpCode::Ping, b"two", WHOLE, &mut no_write)
            .unwrap();
        p.client_to_server();
        assert_eq!(p.server_to_client(), vec![Seen::Pong(b"two".to_vec())]);
    }

    #[test]
    fn a_new_message_size_limit_applies_to_messages_that_start_after_it() {
        let mut p = Pair::new();
        let first = |fin: bool, payload: &[u8]| {
            let mut frame = Pair::masked_text(payload);
            if !fin {
                frame[0] &= 0x7f;
            }
            frame
        };
        // A message of two frames is under way when the limit drops to 4.
        let mut wire = first(false, b"abc");
        let (used, event) = p.server.receive(&mut wire, p.now).unwrap();
        assert!(used > 0 && event.is_none());
        p.server.set_max_message_size(4);
        let mut rest = Pair::masked_text(b"def");
        rest[0] &= 0xf0; // a continuation, with FIN
        let (_, event) = p.server.receive(&mut rest, p.now).unwrap();
        assert!(matches!(event, Some(Incoming::Text(t)) if &t[..] == b"abcdef"));
        // The next message is held to it.
        let mut small = Pair::masked_text(b"four");
        assert!(p.server.receive(&mut small, p.now).unwrap().1.is_some());
        let mut big = Pair::masked_text(b"fives");
        assert_eq!(p.server.receive(&mut big, p.now).unwrap_err().code, 1009);
    }

    #[test]
    fn an_aborted_session_sends_nothing_more_and_is_finished() {
        let mut p = Pair::new();
        p.server
            .send(OpCode::Text, b"never sent", WHOLE, &mut no_write)
            .unwrap();
        p.server.abort();
        assert_eq!(p.server.queued(), 0);
        assert!(p.server.is_finished());
        assert!(!p.server.wants_shutdown(), "no orderly shutdown either");
        assert!(!p.server.wants_read());
        assert_eq!(p.server.next_timer(), None);
        assert_eq!(p.server.close_status(), (1006, "aborted".to_string()));
        assert_eq!(
            p.server.send(OpCode::Text, b"x", WHOLE, &mut no_write),
            Err(SendError::NotOpen)
        );
        let mut ping = Pair::masked_text(b"late");
        ping[0] = 0x89;
        assert!(p.server.receive(&mut ping, p.now).unwrap().1.is_none());
        assert_eq!(p.server.queued(), 0, "what arrives is not answered");
    }

    #[test]
    fn a_pong_keeps_its_place_among_the_messages() {
        let mut p = Pair::new();
        p.client
            .send(OpCode::Ping, b"p", WHOLE, &mut no_write)
            .unwrap();
        p.client_to_server();
        // A message sent after the ping arrived goes after its pong ...
        p.server
            .send(OpCode::Text, b"after", WHOLE, &mut no_write)
            .unwrap();
        assert_eq!(
            p.server_to_client(),
            vec![Seen::Pong(b"p".to_vec()), Seen::Text(b"after".to_vec())]
        );
        // ... and one sent before the ping arrived goes before it.
        p.server
            .send(OpCode::Text, b"before", WHOLE, &mut no_write)
            .unwrap();
        p.client
            .send(OpCode::Ping, b"q", WHOLE, &mut no_write)
            .unwrap();
        p.client_to_server();
        assert_eq!(
            p.server_to_client(),
            vec![Seen::Text(b"before".to_vec()), Seen::Pong(b"q".to_vec())]
        );
    }

    #[test]
    fn over_the_high_water_mark_only_the_latest_ping_is_answered() {
        let mut p = Pair::new();
        // The server has a lot queued for a client that is not reading.
        let big = vec![7u8; OUT_HIGH_WATER];
        p.server
            .send(OpCode::Binary, &big, WHOLE, &mut no_write)
            .unwrap();
        for payload in [b"1", b"2", b"3"] {
            p.client
                .send(OpCode::Ping, payload, WHOLE, &mut no_write)
                .unwrap();
        }
        assert_eq!(p.client_to_server().len(), 3);
        let queued = p.server.queued();
        assert!(queued < OUT_HIGH_WATER + 20, "no pong queued yet: {queued}");
        // The client reads: the data, then a single pong for the latest ping.
        assert_eq!(
            p.server_to_client(),
            vec![Seen::Binary(big), Seen::Pong(b"3".to_vec())]
        );
    }

    #[test]
    fn close_handshake_started_by_the_client() {
        let mut p = Pair::new();
        p.client
            .send(OpCode::Text, b"last words", WHOLE, &mut no_write)
            .unwrap();
        p.client.close(Some(1000), "bye", p.now).unwrap();
        assert_eq!(p.client.phase(), Phase::CloseSent);
        assert_eq!(
            p.client
                .send(OpCode::Text, b"too late", WHOLE, &mut no_write),
            Err(SendError::NotOpen)
        );
        assert_eq!(
            p.client.close(Some(1000), "", p.now),
            Err(SendError::NotOpen)
        );
        assert_eq!(
            p.client_to_server(),
            vec![
                Seen::Text(b"last words".to_vec()),
                Seen::Close(Some(1000), "bye".into())
            ]
        );
        assert_eq!(p.server.phase(), Phase::Draining);
        assert_eq!(p.server.close_status(), (1000, "bye".to_string()));
        // The server answers with the same code and may send nothing more.
        assert_eq!(
            p.server.send(OpCode::Text, b"x", WHOLE, &mut no_write),
            Err(SendError::NotOpen)
        );
        assert_eq!(
            p.server_to_client(),
            vec![Seen::Close(Some(1000), String::new())]
        );
        assert_eq!(p.client.phase(), Phase::Draining);
        // The server ends TCP first, once flushed.
        assert!(p.server.wants_shutdown());
        assert!(!p.client.wants_shutdown());
        assert!(p.client.peer_closed(p.now));
        assert!(p.client.is_finished());
    }

    #[test]
    fn messages_still_arrive_after_our_close_frame() {
        let mut p = Pair::new();
        p.client.close(Some(1001), "", p.now).unwrap();
        p.server
            .send(OpCode::Text, b"in flight", WHOLE, &mut no_write)
            .unwrap();
        p.client_to_server();
        assert_eq!(
            p.server_to_client(),
            vec![
                Seen::Text(b"in flight".to_vec()),
                Seen::Close(Some(1001), String::new())
            ]
        );
        // Nothing answered the server's close: the client only drains.
        assert_eq!(p.client.queued(), 0);
    }

    #[test]
    fn a_close_without_code_reports_1005_and_is_answered_without_code() {
        let mut p = Pair::new();
        p.client.close(None, "", p.now).unwrap();
        assert_eq!(p.client_to_server(), vec![Seen::Close(None, String::new())]);
        assert_eq!(p.server.close_status(), (1005, String::new()));
        assert_eq!(p.server_to_client(), vec![Seen::Close(None, String::new())]);
    }

    #[test]
    fn bad_close_codes_and_reasons_are_refused() {
        let mut p = Pair::new();
        let now = p.now;
        assert_eq!(
            p.client.close(Some(1005), "", now),
            Err(SendError::InvalidCloseCode)
        );
        assert_eq!(
            p.client.close(None, "why", now),
            Err(SendError::InvalidCloseCode)
        );
        assert_eq!(
            p.client.close(Some(1000), &"r".repeat(124), now),
            Err(SendError::TooLarge)
        );
        assert_eq!(p.client.phase(), Phase::Open);
        assert!(p.client.close(Some(4999), &"r".repeat(123), now).is_ok());
    }

    #[test]
    fn a_protocol_violation_fails_with_its_close_code_and_drains() {
        let mut p = Pair::new();
        // A server frame that is masked is a violation for the client.
        let mut frame = Vec::new();
        write_header(&mut frame, true, 0, OpCode::Text, Some([9; 4]), 2);
        frame.extend_from_slice(b"hi");
        let err = p.client.receive(&mut frame, p.now).unwrap_err();
        assert_eq!(err.code, 1002);
        assert_eq!(p.client.phase(), Phase::Draining);
        // The close frame that says so goes to the server; later bytes are ignored.
        let mut more = frame.clone();
        let len = more.len();
        assert_eq!(p.client.receive(&mut more, p.now).unwrap(), (len, None));
        assert_eq!(
            p.client_to_server(),
            vec![Seen::Close(Some(1002), "server frame is masked".into())]
        );
        assert_eq!(p.client.close_status().0, 1006, "no close frame came");
    }

    #[test]
    fn invalid_utf8_fails_with_1007() {
        let mut p = Pair::new();
        p.client
            .send(OpCode::Text, &[0xff, 0xfe], WHOLE, &mut no_write)
            .unwrap();
        assert_eq!(p.client_to_server(), vec![Seen::Error(1007)]);
        assert_eq!(
            p.server_to_client(),
            vec![Seen::Close(
                Some(1007),
                "invalid UTF-8 in text message".into()
            )]
        );
    }

    #[test]
    fn the_close_timeout_fails_a_peer_that_does_not_answer() {
        let mut p = Pair::new();
        let t0 = p.now;
        p.client.close(Some(1000), "", t0).unwrap();
        assert_eq!(p.client.next_timer(), Some(t0 + SECOND));
        assert_eq!(p.client.on_timer(t0 + SECOND / 2), Timer::Continue);
        // The frame was never written: the peer is not reading.
        match p.client.on_timer(t0 + SECOND) {
            Timer::Failed(why) => assert!(why.contains("not reading"), "{why}"),
            other => panic!("{other:?}"),
        }
        // Written, but unanswered.
        let mut p = Pair::new();
        p.client.close(Some(1000), "", t0).unwrap();
        p.client_to_server();
        p.server = Session::new(&config(Role::Server), key, t0); // a peer that lost it
        match p.client.on_timer(t0 + SECOND) {
            Timer::Failed(why) => assert!(why.contains("did not answer"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn after_a_clean_close_the_timer_only_ends_tcp() {
        let mut p = Pair::new();
        let t0 = p.now;
        p.client.close(Some(1000), "", t0).unwrap();
        p.client_to_server();
        p.server_to_client();
        // The server waits for the client to end TCP, at most the close timeout.
        assert_eq!(p.server.on_timer(t0 + SECOND), Timer::Finished);
        assert_eq!(p.server.close_status(), (1000, String::new()));
    }

    #[test]
    fn keepalive_pings_a_quiet_peer_then_fails_it() {
        let interval = Duration::from_millis(200);
        let mut cfg = config(Role::Server);
        cfg.keepalive = Some(interval);
        let mut p = Pair::with(config(Role::Client), cfg);
        let t0 = p.now;
        assert!(p.server.needs_clock());
        assert_eq!(p.server.next_timer(), Some(t0 + interval));
        // Heard from halfway: the timer moves on without a ping.
        p.server.heard(t0 + interval / 2);
        assert_eq!(p.server.on_timer(t0 + interval), Timer::Continue);
        assert_eq!(p.server.queued(), 0);
        assert_eq!(p.server.next_timer(), Some(t0 + interval * 3 / 2));
        // Quiet for a whole interval: a ping.
        let t1 = t0 + interval * 3 / 2;
        assert_eq!(p.server.on_timer(t1), Timer::Continue);
        assert_eq!(p.server_to_client(), vec![Seen::Ping(vec![])]);
        // Silent for another interval: the connection fails.
        match p.server.on_timer(t1 + interval) {
            Timer::Failed(why) => assert!(why.contains("400 ms"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(p.server.phase(), Phase::Draining);
    }

    #[test]
    fn keepalive_is_satisfied_by_the_pong() {
        let interval = Duration::from_millis(200);
        let mut cfg = config(Role::Client);
        cfg.keepalive = Some(interval);
        let mut p = Pair::with(cfg, config(Role::Server));
        let t1 = p.now + interval;
        assert_eq!(p.client.on_timer(t1), Timer::Continue);
        assert_eq!(p.client_to_server(), vec![Seen::Ping(vec![])]);
        assert_eq!(p.server_to_client(), vec![Seen::Pong(vec![])]);
        p.client.heard(t1 + interval / 2);
        assert_eq!(p.client.on_timer(t1 + interval), Timer::Continue);
        assert_eq!(p.client.phase(), Phase::Open);
    }

    #[test]
    fn the_peer_ending_tcp_with_data_left_gets_the_close_timeout() {
        let mut p = Pair::new();
        let t0 = p.now;
        p.server
            .send(OpCode::Text, b"unread", WHOLE, &mut no_write)
            .unwrap();
        assert!(!p.server.peer_closed(t0));
        assert!(!p.server.is_finished());
        assert_eq!(p.server.next_timer(), Some(t0 + SECOND));
        p.server_to_client();
        assert!(p.server.is_finished());
    }

    #[test]
    fn large_frames_go_straight_to_the_socket_and_only_the_rest_is_queued() {
        let mut p = Pair::new();
        p.server
            .send(OpCode::Text, b"small", WHOLE, &mut no_write)
            .unwrap();
        let big = vec![3u8; WRITE_THROUGH_MIN * 2];
        let mut wire = Vec::new();
        let mut calls = 0;
        // The socket takes everything queued, the header, and 1000 payload bytes.
        let mut socket = |slices: &[IoSlice<'_>]| {
            calls += 1;
            let budget = 7 + 4 + 1000;
            let mut n = 0;
            for s in slices {
                let take = s.len().min(budget - n);
                wire.extend_from_slice(&s[..take]);
                n += take;
            }
            n
        };
        p.server
            .send(OpCode::Binary, &big, WHOLE, &mut socket)
            .unwrap();
        assert_eq!(calls, 1);
        assert_eq!(
            p.server.queued(),
            big.len() - 1000,
            "only the rest is copied"
        );
        // The client sees both messages whole.
        let mut rest = Vec::new();
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let n = p.server.output().io_slices(&mut slices);
        for s in &slices[..n] {
            rest.extend_from_slice(s);
        }
        p.server.wrote(rest.len());
        wire.extend(rest);
        let mut seen = Vec::new();
        let mut start = 0;
        while let (used, Some(event)) = p.client.receive(&mut wire[start..], p.now).unwrap() {
            start += used;
            seen.push(payload_len(&event));
        }
        assert_eq!(seen, vec![5, big.len()]);
        // Small frames and masked (client) frames never write through.
        p.client
            .send(OpCode::Binary, &big, WHOLE, &mut |_| {
                panic!("masked frames are copied")
            })
            .unwrap();
        p.server
            .send(OpCode::Binary, &[1; 100], WHOLE, &mut |_| {
                panic!("small frames batch")
            })
            .unwrap();
    }

    /// The payload length of an event, for compact assertions.
    fn payload_len(event: &Incoming<'_>) -> usize {
        match event {
            Incoming::Text(d) | Incoming::Binary(d) | Incoming::Ping(d) | Incoming::Pong(d) => {
                d.len()
            }
            Incoming::Close(..) => usize::MAX,
            Incoming::Part(p) => p.payload.len(),
        }
    }

    #[test]
    fn owned_payloads_are_queued_without_a_copy_and_masked_for_clients() {
        let mut p = Pair::new();
        let big = vec![9u8; WRITE_THROUGH_MIN];
        p.client
            .send_owned(OpCode::Binary, big.clone(), WHOLE)
            .unwrap();
        p.client
            .send_owned(OpCode::Text, b"tiny".to_vec(), WHOLE)
            .unwrap();
        p.chunk = 4096;
        assert_eq!(
            p.client_to_server(),
            vec![Seen::Binary(big), Seen::Text(b"tiny".to_vec())]
        );
    }

    #[test]
    fn permessage_deflate_compresses_above_the_threshold() {
        let mut p = Pair::new();
        let deflating = |role| {
            Session::new(&config(role), key, p.now).with_deflate(
                Compressor::new(15, false, 6, 8),
                100,
                Decompressor::new(15, false),
            )
        };
        p.client = deflating(Role::Client);
        p.server = deflating(Role::Server);
        let text = "compress me ".repeat(100);
        p.client
            .send(OpCode::Text, text.as_bytes(), WHOLE, &mut no_write)
            .unwrap();
        let wire_size = p.client.queued();
        assert!(wire_size < text.len() / 4, "compressed: {wire_size}");
        assert_eq!(
            p.client_to_server(),
            vec![Seen::Text(text.clone().into_bytes())]
        );
        // Below the threshold: sent as is.
        p.server
            .send(OpCode::Text, b"short", WHOLE, &mut no_write)
            .unwrap();
        assert_eq!(p.server.queued(), 2 + 5);
        p.server
            .send(OpCode::Text, text.as_bytes(), WHOLE, &mut no_write)
            .unwrap();
        assert_eq!(
            p.server_to_client(),
            vec![Seen::Text(b"short".to_vec()), Seen::Text(text.into_bytes())]
        );
    }

    /// A pair whose server compresses messages of 100 bytes or more, with or
    /// without context takeover.
    fn pair_compressing(context_takeover: bool) -> Pair {
        let mut p = Pair::new();
        let fresh = !context_takeover;
        p.client = Session::new(&config(Role::Client), key, p.now).with_deflate(
            Compressor::new(15, false, 6, 8),
            100,
            Decompressor::new(15, fresh),
        );
        p.server = Session::new(&config(Role::Server), key, p.now).with_deflate(
            Compressor::new(15, fresh, 6, 8),
            100,
            Decompressor::new(15, false),
        );
        p
    }

    #[test]
    fn a_published_message_reaches_every_kind_of_subscriber_intact() {
        let long = "published to all ".repeat(2000);
        // The binary message is large enough to be compressed a slice at a
        // time: what is published after it waits its turn.
        let published = [
            Published::new(true, b"hi"),
            Published::new(true, long.as_bytes()),
            Published::new(false, &[0xff; 70_000]),
        ];
        let expected = vec![
            Seen::Text(b"hi".to_vec()),
            Seen::Text(long.clone().into_bytes()),
            Seen::Binary(vec![0xff; 70_000]),
        ];
        let mut pairs = [
            Pair::new(),
            pair_compressing(false),
            pair_compressing(false),
            pair_compressing(true),
        ];
        for p in &mut pairs {
            p.chunk = 5000;
            for message in &published {
                p.server.send_published(message).unwrap();
            }
            // The long text once more: with context takeover it compresses
            // to other bytes the second time.
            p.server.send_published(&published[1]).unwrap();
            while p.server.has_work() {
                p.server.work();
            }
            let mut expected = expected.clone();
            expected.push(Seen::Text(long.clone().into_bytes()));
            assert_eq!(p.server_to_client(), expected);
        }
        // The two subscribers without context takeover shared one
        // compressed frame; the one with it compressed on its own.
        let made = published[1].compressed.lock().unwrap();
        assert_eq!(made.len(), 1);
        assert_eq!(Arc::strong_count(&made[0].1), 1, "written and released");
        assert!(made[0].1.len() < long.len() / 10, "compressed");
    }

    #[test]
    fn a_published_message_waits_behind_a_message_in_parts() {
        let mut p = Pair::new();
        let part = |more| SendOptions {
            more,
            continues: !more,
            ..WHOLE
        };
        p.server
            .send(OpCode::Text, b"first ", part(true), &mut no_write)
            .unwrap();
        p.server
            .send_published(&Published::new(true, b"published"))
            .unwrap();
        p.server
            .send(OpCode::Text, b"last", part(false), &mut no_write)
            .unwrap();
        while p.server.has_work() {
            p.server.work();
        }
        assert_eq!(
            p.server_to_client(),
            vec![
                Seen::Text(b"first last".to_vec()),
                Seen::Text(b"published".to_vec())
            ]
        );
        p.server.close(Some(1000), "", p.now).unwrap();
        assert_eq!(
            p.server.send_published(&Published::new(true, b"late")),
            Err(SendError::NotOpen)
        );
    }

    /// A pair that negotiated permessage-deflate (threshold 100 bytes), and
    /// takes messages of up to 16 MiB.
    fn deflating_pair() -> Pair {
        let mut p = Pair::new();
        let deflating = |role| {
            let mut config = config(role);
            config.max_message_size = 16 << 20;
            Session::new(&config, key, p.now).with_deflate(
                Compressor::new(15, false, 6, 8),
                100,
                Decompressor::new(15, false),
            )
        };
        p.client = deflating(Role::Client);
        p.server = deflating(Role::Server);
        p.chunk = 1 << 20;
        p
    }

    /// What was seen, in short: kinds and payload sizes.
    fn brief(seen: &[Seen]) -> Vec<String> {
        seen.iter()
            .map(|s| match s {
                Seen::Text(d) => format!("Text({})", d.len()),
                Seen::Binary(d) => format!("Binary({})", d.len()),
                Seen::Ping(d) => format!("Ping({})", d.len()),
                Seen::Pong(d) => format!("Pong({})", d.len()),
                Seen::Close(..) => "Close".into(),
                Seen::Error(code) => format!("Error({code})"),
                Seen::Part(_, d, first, last) => format!("Part({}, {first}, {last})", d.len()),
            })
            .collect()
    }

    /// Runs the deferred work of `s` to its end; returns how many steps it took.
    fn work_all(s: &mut Session) -> usize {
        let mut steps = 0;
        while s.has_work() {
            s.work();
            steps += 1;
        }
        steps
    }

    #[test]
    fn a_large_compressed_message_goes_a_slice_at_a_time_and_keeps_its_place() {
        let mut p = deflating_pair();
        let big = "a large and repetitive message "
            .repeat(20_000)
            .into_bytes();
        p.server
            .send(OpCode::Text, b"first", WHOLE, &mut no_write)
            .unwrap();
        p.server
            .send(OpCode::Text, &big, WHOLE, &mut no_write)
            .unwrap();
        // Sent after it: they wait their turn (control frames do not).
        p.server
            .send(OpCode::Binary, &[1, 2, 3], WHOLE, &mut no_write)
            .unwrap();
        p.server
            .send(OpCode::Ping, b"now", WHOLE, &mut no_write)
            .unwrap();
        p.server.close(Some(1000), "after all", p.now).unwrap();
        assert_eq!(p.server.phase(), Phase::CloseSent);
        assert!(
            p.server.queued() >= big.len(),
            "waiting bytes count as queued"
        );
        assert!(p.server.has_work());
        let steps = work_all(&mut p.server);
        assert!(steps >= big.len() / COMPRESS_SLICE, "{steps} steps");
        let seen = p.server_to_client();
        assert!(
            seen[2] == Seen::Text(big),
            "the large message arrives whole, third"
        );
        assert_eq!(
            brief(&seen),
            vec!["Text(5)", "Ping(3)", "Text(620000)", "Binary(3)", "Close"]
        );
    }

    #[test]
    fn a_client_compresses_in_slices_too_and_the_context_carries_on() {
        let mut p = deflating_pair();
        let big = (0..300_000u32).map(|i| (i % 7) as u8).collect::<Vec<u8>>();
        p.client
            .send_owned(OpCode::Binary, big.clone(), WHOLE)
            .unwrap();
        work_all(&mut p.client);
        p.client
            .send(OpCode::Binary, &big[..5000], WHOLE, &mut no_write)
            .unwrap();
        let seen = p.client_to_server();
        assert_eq!(brief(&seen), vec!["Binary(300000)", "Binary(5000)"]);
        assert!(
            seen[0] == Seen::Binary(big.clone()) && seen[1] == Seen::Binary(big[..5000].to_vec())
        );
    }

    #[test]
    fn a_message_that_inflates_to_megabytes_is_handled_in_steps() {
        let mut p = deflating_pair();
        let big = vec![b'z'; 8 << 20];
        let mut frame = Vec::new();
        // One frame, compressed whole by the peer (as a non-slicing peer would).
        let mut c = Compressor::new(15, false, 6, 8);
        let body = {
            let mut body = Vec::new();
            c.compress(&big, &mut body);
            body
        };
        write_header(
            &mut frame,
            true,
            RSV1,
            OpCode::Binary,
            Some(key()),
            body.len(),
        );
        let start = frame.len();
        frame.extend_from_slice(&body);
        apply_mask(&mut frame[start..], key(), 0);
        frame.extend(Pair::masked_text(b"next"));
        let mut steps = 0;
        let mut seen = Vec::new();
        let mut pos = 0;
        loop {
            let (used, event) = p.server.receive(&mut frame[pos..], p.now).unwrap();
            pos += used;
            match event {
                Some(Incoming::Binary(d)) => seen.push(d.len()),
                Some(Incoming::Text(d)) => seen.push(d.len()),
                Some(other) => panic!("{other:?}"),
                None if p.server.is_busy() => steps += 1,
                None => break,
            }
        }
        assert_eq!(seen, vec![big.len(), 4]);
        assert!(steps >= 16, "{steps} steps for 8 MiB");
    }

    #[test]
    fn a_peer_close_is_answered_after_what_waits_to_be_compressed() {
        let mut p = deflating_pair();
        p.server
            .send(OpCode::Text, &vec![b'q'; 500_000], WHOLE, &mut no_write)
            .unwrap();
        p.server.work();
        p.client.close(Some(1001), "", p.now).unwrap();
        p.client_to_server();
        assert_eq!(p.server.phase(), Phase::Draining);
        // The message being compressed is not cut: the answer goes after it.
        assert!(p.server.has_work());
        work_all(&mut p.server);
        assert_eq!(brief(&p.server_to_client()), vec!["Text(500000)", "Close"]);
        assert_eq!(p.client.phase(), Phase::Draining);
    }

    #[test]
    fn a_held_close_answer_lets_the_answers_to_earlier_messages_go_first() {
        let mut p = Pair::new();
        p.server.hold_close_answer();
        p.client
            .send(OpCode::Text, b"question", WHOLE, &mut no_write)
            .unwrap();
        p.client.close(Some(1000), "done", p.now).unwrap();
        assert_eq!(
            p.client_to_server(),
            vec![
                Seen::Text(b"question".to_vec()),
                Seen::Close(Some(1000), "done".into())
            ]
        );
        assert_eq!(p.server.phase(), Phase::CloseReceived);
        assert_eq!(p.server.queued(), 0, "no answer to the close yet");
        assert!(p.server.accepts_messages());
        assert_eq!(p.server.bytes_expected(), 0);
        // Anything the peer sends after its close frame is not read.
        let mut late = Pair::masked_text(b"late");
        let len = late.len();
        assert_eq!(p.server.receive(&mut late, p.now).unwrap(), (len, None));
        p.server
            .send(OpCode::Text, b"answer", WHOLE, &mut no_write)
            .unwrap();
        p.server.peer_closed(p.now);
        assert!(!p.server.is_finished(), "the close answer is still owed");
        p.server.answer_close(p.now);
        assert_eq!(p.server.phase(), Phase::Draining);
        assert!(!p.server.accepts_messages());
        assert_eq!(
            p.server_to_client(),
            vec![
                Seen::Text(b"answer".to_vec()),
                Seen::Close(Some(1000), String::new())
            ]
        );
        assert!(p.server.is_finished());
        assert_eq!(p.server.close_status(), (1000, "done".into()));
    }

    #[test]
    fn a_held_close_answer_goes_when_the_close_timeout_passes_or_on_close() {
        let mut p = Pair::new();
        p.server.hold_close_answer();
        p.client.close(None, "", p.now).unwrap();
        p.client_to_server();
        assert_eq!(p.server.phase(), Phase::CloseReceived);
        assert_eq!(p.server.next_timer(), Some(p.now + SECOND));
        assert_eq!(p.server.on_timer(p.now + SECOND / 2), Timer::Continue);
        assert_eq!(p.server.phase(), Phase::CloseReceived);
        assert_eq!(p.server.on_timer(p.now + SECOND), Timer::Continue);
        assert_eq!(p.server.phase(), Phase::Draining);
        assert_eq!(p.server_to_client(), vec![Seen::Close(None, String::new())]);

        // The application closing meanwhile sends the answer at once.
        let mut p = Pair::new();
        p.server.hold_close_answer();
        p.client.close(Some(4001), "", p.now).unwrap();
        p.client_to_server();
        p.server.close(Some(1000), "mine", p.now).unwrap();
        assert_eq!(p.server.phase(), Phase::Draining);
        assert_eq!(
            p.server_to_client(),
            vec![Seen::Close(Some(4001), String::new())]
        );
    }

    #[test]
    fn a_close_after_input_waits_to_be_asked_for_or_for_the_close_timeout() {
        let mut p = Pair::new();
        p.server
            .close_after_input(Some(1001), "going away", p.now)
            .unwrap();
        assert!(p.server.has_pending_close());
        assert_eq!(p.server.phase(), Phase::Open);
        assert_eq!(
            p.server.close_after_input(Some(999), "", p.now),
            Err(SendError::InvalidCloseCode)
        );
        p.client
            .send(OpCode::Text, b"in flight", WHOLE, &mut no_write)
            .unwrap();
        assert_eq!(
            p.client_to_server(),
            vec![Seen::Text(b"in flight".to_vec())]
        );
        p.server
            .send(OpCode::Text, b"answered", WHOLE, &mut no_write)
            .unwrap();
        p.server.close_pending(p.now);
        assert!(!p.server.has_pending_close());
        assert_eq!(p.server.phase(), Phase::CloseSent);
        assert_eq!(
            p.server_to_client(),
            vec![
                Seen::Text(b"answered".to_vec()),
                Seen::Close(Some(1001), "going away".into())
            ]
        );

        // Not asked for in time: the close starts by itself.
        let mut p = Pair::new();
        p.server.close_after_input(Some(1001), "", p.now).unwrap();
        p.server.peer_closed(p.now);
        assert!(!p.server.is_finished(), "the close still waits to be sent");
        assert_eq!(p.server.on_timer(p.now + SECOND), Timer::Continue);
        assert_eq!(p.server.phase(), Phase::CloseSent);
        assert_eq!(
            p.server_to_client(),
            vec![Seen::Close(Some(1001), String::new())]
        );
        assert!(p.server.is_finished());
    }

    #[test]
    fn after_the_peer_ended_tcp_the_session_waits_out_the_close_timeout_for_answers() {
        let mut p = Pair::new();
        assert!(p.server.peer_closed(p.now), "nothing to send: finished");
        // The transport may wait for answers from the application anyway;
        // when none came in time, nothing is left to flush: it ends.
        assert_eq!(p.server.next_timer(), Some(p.now + SECOND));
        assert_eq!(p.server.on_timer(p.now + SECOND), Timer::Finished);
    }

    #[test]
    fn the_rest_of_a_frame_on_its_way_is_known() {
        let mut p = Pair::new();
        let mut frame = Pair::masked_text(&[b'y'; 100_000]);
        assert_eq!(p.server.bytes_expected(), 0);
        let (used, _) = p.server.receive(&mut frame[..30_000], p.now).unwrap();
        assert_eq!(used, 30_000);
        // 30 000 bytes in, 14 of them header: the rest of the payload is due.
        assert_eq!(p.server.bytes_expected(), 100_000 - (30_000 - 14));
        let (_, event) = p.server.receive(&mut frame[30_000..], p.now).unwrap();
        assert!(matches!(event, Some(Incoming::Text(_))));
        assert_eq!(p.server.bytes_expected(), 0);
    }

    #[test]
    fn an_idle_session_is_small_and_holds_no_buffers() {
        let mut p = Pair::new();
        p.client
            .send(OpCode::Text, &vec![b'a'; 50_000], WHOLE, &mut no_write)
            .unwrap();
        p.client_to_server();
        assert!(p.server.rare.is_none(), "nothing rare happened");
        assert_eq!(p.client.queued(), 0);
        assert!(
            std::mem::size_of::<Session>() <= 256,
            "{}",
            std::mem::size_of::<Session>()
        );
    }

    // ---- messages sent in parts ----

    fn part(continues: bool, more: bool) -> SendOptions {
        SendOptions {
            continues,
            more,
            ..WHOLE
        }
    }

    /// A pair whose server takes messages in parts.
    fn with_parts_server(mut p: Pair, deflate: bool) -> Pair {
        let mut config = config(Role::Server);
        config.receive_parts = true;
        p.server = Session::new(&config, key, p.now);
        if deflate {
            let server = std::mem::replace(&mut p.server, Session::new(&config, key, p.now));
            p.server = server.with_deflate(
                Compressor::new(15, false, 6, 8),
                100,
                Decompressor::new(15, false),
            );
        }
        p
    }

    #[test]
    fn a_message_in_parts_arrives_whole_and_nothing_goes_between_its_frames() {
        let mut p = Pair::new();
        let c = &mut p.client;
        c.send(OpCode::Text, b"one ", part(false, true), &mut no_write)
            .unwrap();
        c.send(OpCode::Binary, b"between", WHOLE, &mut no_write)
            .unwrap();
        c.send(OpCode::Ping, b"p", WHOLE, &mut no_write).unwrap();
        c.send(OpCode::Text, b"two ", part(true, true), &mut no_write)
            .unwrap();
        assert!(
            !c.has_work(),
            "what waits behind the message waits for its end"
        );
        c.send_owned(OpCode::Text, b"three".to_vec(), part(true, false))
            .unwrap();
        work_all(c);
        assert_eq!(
            p.client_to_server(),
            [
                Seen::Ping(b"p".to_vec()),
                Seen::Text(b"one two three".to_vec()),
                Seen::Binary(b"between".to_vec())
            ],
            "a ping may go between the frames, a message may not"
        );
    }

    #[test]
    fn parts_out_of_order_are_refused() {
        let mut p = Pair::new();
        let c = &mut p.client;
        let mut send = |op, data: &[u8], options| c.send(op, data, options, &mut no_write);
        let text = OpCode::Text;
        assert_eq!(
            send(text, b"x", part(true, false)),
            Err(SendError::NoMessageInParts)
        );
        send(text, b"a", part(false, true)).unwrap();
        assert_eq!(
            send(text, b"x", part(false, true)),
            Err(SendError::MessageInPartsOpen)
        );
        let binary = OpCode::Binary;
        assert_eq!(
            send(binary, b"x", part(true, false)),
            Err(SendError::PartKindMismatch)
        );
        send(text, b"b", part(true, false)).unwrap();
        assert_eq!(p.client_to_server(), [Seen::Text(b"ab".to_vec())]);
    }

    #[test]
    fn a_message_in_parts_waits_behind_one_being_compressed() {
        let mut p = deflating_pair();
        let c = &mut p.client;
        let big = vec![b'z'; 3 * COMPRESS_SLICE];
        c.send(OpCode::Text, &big, WHOLE, &mut no_write).unwrap();
        c.send(OpCode::Binary, b"first ", part(false, true), &mut no_write)
            .unwrap();
        c.send(OpCode::Binary, b"last", part(true, false), &mut no_write)
            .unwrap();
        c.send(OpCode::Text, b"after", WHOLE, &mut no_write)
            .unwrap();
        work_all(c);
        assert_eq!(
            p.client_to_server(),
            [
                Seen::Text(big),
                Seen::Binary(b"first last".to_vec()),
                Seen::Text(b"after".to_vec())
            ]
        );
    }

    #[test]
    fn compressed_parts_reach_the_peer_as_they_are_sent() {
        let mut p = with_parts_server(deflating_pair(), true);
        let always = SendOptions {
            compression: Compression::Always,
            ..part(false, true)
        };
        p.client
            .send(OpCode::Text, b"hello ", always, &mut no_write)
            .unwrap();
        let seen = p.client_to_server();
        assert_eq!(seen, [Seen::Part(true, b"hello ".to_vec(), true, false)]);
        p.client
            .send(OpCode::Text, b"world", part(true, false), &mut no_write)
            .unwrap();
        let seen = p.client_to_server();
        assert_eq!(seen, [Seen::Part(true, b"world".to_vec(), false, true)]);
    }

    #[test]
    fn a_compressed_message_in_parts_may_end_with_an_empty_part() {
        // The empty last part once left the message ending with the earlier
        // flush's 00 00 ff ff, and the peer's next message inflated to garbage.
        let mut p = deflating_pair();
        let always = SendOptions {
            compression: Compression::Always,
            ..part(false, true)
        };
        let c = &mut p.client;
        c.send(OpCode::Text, b"hello", always, &mut no_write)
            .unwrap();
        c.send(OpCode::Text, b"", part(true, false), &mut no_write)
            .unwrap();
        let whole = SendOptions {
            compression: Compression::Always,
            ..WHOLE
        };
        c.send(OpCode::Text, b"after", whole, &mut no_write)
            .unwrap();
        work_all(c);
        assert_eq!(
            p.client_to_server(),
            [Seen::Text(b"hello".to_vec()), Seen::Text(b"after".to_vec())]
        );
    }

    /// The first byte of what `s` queued: FIN, RSV1 and the opcode.
    fn first_byte(s: &Session) -> u8 {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        s.output().io_slices(&mut slices);
        slices[0][0]
    }

    #[test]
    fn a_message_may_be_compressed_or_not_whatever_its_size() {
        let mut p = deflating_pair();
        let never = SendOptions {
            compression: Compression::Never,
            ..WHOLE
        };
        p.server
            .send(OpCode::Binary, &[7; 1000], never, &mut no_write)
            .unwrap();
        assert_eq!(first_byte(&p.server), 0x82, "FIN, binary, no RSV1");
        assert_eq!(p.server_to_client(), [Seen::Binary(vec![7; 1000])]);
        let always = SendOptions {
            compression: Compression::Always,
            ..WHOLE
        };
        p.server
            .send(OpCode::Text, b"abc", always, &mut no_write)
            .unwrap();
        assert_eq!(first_byte(&p.server), 0xC1, "FIN, RSV1, text");
        assert_eq!(p.server_to_client(), [Seen::Text(b"abc".to_vec())]);
    }

    #[test]
    fn closing_ends_an_open_message_in_parts_with_what_was_given() {
        let mut p = with_parts_server(Pair::new(), false);
        p.chunk = 1 << 20;
        let c = &mut p.client;
        c.send(OpCode::Text, b"given", part(false, true), &mut no_write)
            .unwrap();
        c.send(OpCode::Binary, b"after", WHOLE, &mut no_write)
            .unwrap();
        assert_eq!(c.queued() - c.output().len(), 5, "the message behind waits");
        c.close(Some(1000), "", p.now).unwrap();
        work_all(c);
        assert_eq!(c.queued(), c.output().len(), "nothing waits any more");
        assert_eq!(
            p.client_to_server(),
            [
                Seen::Part(true, b"given".to_vec(), true, false),
                Seen::Close(Some(1000), String::new())
            ]
        );
    }
}
