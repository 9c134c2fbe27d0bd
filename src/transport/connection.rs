//! One connection: the part any thread may use, and the part only its I/O
//! thread touches.
//!
//! A `Connection` lives in an `Arc` shared by its I/O thread and by whoever
//! holds a handle to it. Its protocol state (a
//! [`Session`](crate::protocol::session::Session)) and its socket live in a
//! cell that only the connection's own I/O thread may open (see
//! [`super::local`]). So a send has two paths:
//!
//! - on the connection's I/O thread (a callback answering a message), it goes
//!   straight into the session's output: no lock, no copy beyond the frame
//!   itself, no wake-up. While the driver handles a read, output is corked and
//!   goes out in one write after it; otherwise it is written at once, and only
//!   what the socket does not take stays queued;
//! - on any other thread, the message is copied into the connection's inbox
//!   (a locked queue) and the I/O thread is woken to take it.

use super::budget::{self, Budgets};
use super::fork::{self, PerProcess};
use super::local::{Local, ThreadBound};
use super::stats::{ConnStats, Traffic};
use super::topics::{Subscriptions, TopicError, Topics};
use crate::protocol::frame::{OpCode, MAX_HEADER_LEN};
use crate::protocol::handshake::Headers;
use crate::protocol::published::Published;
use crate::protocol::receiver::Role;
use crate::protocol::session::{check_close, SendOptions};
use crate::protocol::utf8::Utf8Validator;
use crate::transport::{scheduler, ConnectionConfig, ErrorKind, Handler};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{c_void, CStr, CString};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::Arc;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

pub use crate::protocol::session::SendError;

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

/// A command from another thread to the connection's I/O thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// A message (or part of one, ping, pong) to send, the bytes charged
    /// for it, and how it is sent.
    Send(OpCode, Vec<u8>, usize, SendOptions),
    /// Start the close handshake with this code (`None`: no code) and reason.
    Close(Option<u16>, String),
    /// The same, once what has already arrived is delivered and answered
    /// (see [`Connection::close_after_input`]).
    CloseAfterInput(Option<u16>, String),
    /// A message published to a topic it is subscribed to, and the bytes
    /// charged for it.
    Published(Arc<Published>, usize),
    /// Change a setting of the open connection.
    Set(Setting),
    /// End the connection at once, without a close frame.
    Abort,
}

/// A setting the application changes on an open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    /// Answer pings by itself (see [`Connection::set_auto_pong`]).
    AutoPong(bool),
    /// The largest message accepted (see [`Connection::set_max_message_size`]).
    MaxMessageSize(usize),
}

/// Commands from other threads (made on first use: most connections never
/// get one).
#[derive(Default)]
pub(crate) struct Inbox {
    pub commands: VecDeque<Command>,
    /// The task making the opening handshake, to wake for a close.
    pub waker: Option<Waker>,
    /// The message being sent in parts, while one is open.
    pub parts: Option<OpenParts>,
}

/// A message being sent in parts: its kind, and the UTF-8 of its text so
/// far (a part may end inside a character, the message may not). This is
/// the check callers hear of (it runs on the sending thread, under the
/// inbox's lock); the session repeats the order rules only for its own,
/// sans-I/O callers, and never disagrees with it.
#[derive(Debug, Clone)]
pub(crate) struct OpenParts {
    opcode: OpCode,
    utf8: Utf8Validator,
}

impl OpenParts {
    /// What the message in parts (`open`) becomes with one more part, or why
    /// the part is refused. `None`: no message in parts is open after it.
    fn next(
        open: Option<&OpenParts>,
        opcode: OpCode,
        data: &[u8],
        options: SendOptions,
    ) -> Result<Option<OpenParts>, SendError> {
        let mut next = match (options.continues, open) {
            (false, None) => OpenParts {
                opcode,
                utf8: Utf8Validator::new(),
            },
            (true, Some(open)) if open.opcode == opcode => open.clone(),
            (true, Some(_)) => return Err(SendError::PartKindMismatch),
            (true, None) => return Err(SendError::NoMessageInParts),
            (false, Some(_)) => return Err(SendError::MessageInPartsOpen),
        };
        if opcode == OpCode::Text {
            let ends = !options.more;
            if next.utf8.feed(data).is_err() || ends && !next.utf8.is_complete() {
                return Err(SendError::InvalidUtf8);
            }
        }
        Ok(options.more.then_some(next))
    }
}

/// The inbox, and whether it still takes commands.
#[derive(Default)]
pub(crate) struct Mailbox {
    /// The connection is over: nothing will take commands any more.
    pub closed: bool,
    pub inbox: Option<Box<Inbox>>,
}

impl Mailbox {
    /// The inbox, made if need be.
    pub fn inbox(&mut self) -> &mut Inbox {
        self.inbox.get_or_insert_with(Box::default)
    }
}

/// Guards state changes of all connections, so that waiters never miss one
/// (shared: waiting is rare, and a waiter checks its own connection). One per
/// process: a parent's I/O thread may have held it at a fork.
static CHANGED: PerProcess<(Mutex<()>, Condvar)> = PerProcess::new();

/// [`CHANGED`]'s lock, taken, and its condition variable.
fn changed() -> (MutexGuard<'static, ()>, &'static Condvar) {
    let (lock, condvar) = CHANGED.get_or_init(|_| (Mutex::new(()), Condvar::new()));
    (lock.lock().unwrap_or_else(|e| e.into_inner()), condvar)
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// Close code reported to the application (1005 none, 1006 abnormal).
    pub code: u16,
    /// Close reason.
    pub reason: String,
}

/// What the opening handshake settled, in one allocation: a byte of flags
/// (it ran over TLS; the heads are kept), then C strings: the subprotocol,
/// the extensions, the request and response heads when kept, then each
/// header's name and value.
struct HandshakeInfo(Box<[u8]>);

/// [`HandshakeInfo`]'s flag: the handshake ran over TLS.
const SECURE: u8 = 1;
/// [`HandshakeInfo`]'s flag: it keeps the request and response heads.
const HEADS: u8 = 2;

impl HandshakeInfo {
    /// `heads`: the request and response heads as they went over the wire,
    /// to keep.
    fn new(
        headers: &Headers,
        subprotocol: &str,
        extensions: &str,
        secure: bool,
        heads: Option<[&[u8]; 2]>,
    ) -> Self {
        let flags = if secure { SECURE } else { 0 } | if heads.is_some() { HEADS } else { 0 };
        let mut bytes = vec![flags];
        let mut put = |s: &[u8]| {
            bytes.extend(s.iter().take_while(|&&b| b != 0));
            bytes.push(0);
        };
        put(subprotocol.as_bytes());
        put(extensions.as_bytes());
        for head in heads.into_iter().flatten() {
            put(head);
        }
        for (name, value) in &headers.0 {
            put(name.as_bytes());
            put(value.as_bytes());
        }
        HandshakeInfo(bytes.into_boxed_slice())
    }

    fn secure(&self) -> bool {
        self.0[0] & SECURE != 0
    }

    /// How many strings come before the headers.
    fn before_headers(&self) -> usize {
        if self.0[0] & HEADS != 0 {
            4
        } else {
            2
        }
    }

    /// The request (`0`) or response (`1`) head, when kept.
    fn head(&self, which: usize) -> Option<&CStr> {
        (self.0[0] & HEADS != 0).then(|| self.all().nth(2 + which))?
    }

    /// The C strings in order.
    fn all(&self) -> impl Iterator<Item = &CStr> {
        self.0[1..]
            .split_inclusive(|&b| b == 0)
            .map(|s| CStr::from_bytes_with_nul(s).unwrap_or_default())
    }

    fn header_count(&self) -> usize {
        self.all().count().saturating_sub(self.before_headers()) / 2
    }

    fn header_at(&self, index: usize) -> Option<(&CStr, &CStr)> {
        if index >= self.header_count() {
            return None;
        }
        let mut rest = self.all().skip(self.before_headers() + 2 * index);
        Some((rest.next()?, rest.next()?))
    }
}

/// How many outgoing bytes a connection may hold (see [`ConnectionConfig`]).
#[derive(Debug, Clone)]
pub(crate) struct SendLimits {
    /// A send beyond it is refused.
    pub queue_limit: usize,
    /// Over it, sends report backpressure and reading pauses.
    pub high_water: usize,
    /// After backpressure, at or under it the connection has drained.
    pub low_water: usize,
    /// The memory budgets of its server's connections (a server's only).
    pub budgets: Option<Arc<Budgets>>,
}

impl SendLimits {
    pub fn of(config: &ConnectionConfig, budgets: Option<Arc<Budgets>>) -> SendLimits {
        SendLimits {
            queue_limit: config.send_queue_limit,
            high_water: config.send_high_water,
            low_water: config.send_low_water,
            budgets,
        }
    }

    /// The bytes waiting to be sent on a connection went from `before` to
    /// `after` (in one atomic step, so the budgets' counts stay exact).
    fn moved(&self, before: usize, after: usize) {
        budget::moved_outbound(self.budgets.as_deref(), before, after);
    }

    /// True when a send of `size` bytes, with `buffered` bytes waiting, is
    /// over the connection's queue limit or its memory budgets.
    fn refuses(&self, buffered: usize, size: usize) -> bool {
        buffered.saturating_add(size) > self.queue_limit
            || budget::refuses_send(self.budgets.as_deref(), buffered, size)
    }
}

/// What the connections of one server (or a client's connection) have in
/// common: the handler of their events and their send limits, behind one
/// pointer per connection.
pub(crate) struct Common {
    /// Hears every connection's events.
    pub handler: Arc<dyn Handler>,
    /// Their send limits.
    pub limits: SendLimits,
    /// The topics they may subscribe to (a server's connections only).
    pub topics: Option<Topics>,
}

/// What a send that was taken says about the connection's outgoing bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Queued (or written), and the connection is under its high-water mark.
    Queued,
    /// Queued, but more than the high-water mark now waits to be sent: stop
    /// sending until the `Drain` event.
    Backpressure,
}

/// The id of the next connection made in this process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One WebSocket connection, shared between its driver and the application.
// In declaration order (`repr(C)`): what every send and every turn of its
// driver touches comes first, so that it shares one cache line with the
// reference counts (a server with many connections touches that line of
// each subscriber for every published message).
#[repr(C)]
pub struct Connection {
    /// It is on its thread's run queue (see [`super::scheduler`]).
    pub(crate) scheduled: AtomicBool,
    state: AtomicU8,
    /// The inbox has commands (read without the lock).
    mail: AtomicBool,
    /// A send found it over the high-water mark; cleared when it drained.
    pressed: AtomicBool,
    /// The application paused reading (`ws_conn_pause`) until it resumes it.
    paused: AtomicBool,
    /// Set once the connection reached `Open` (it may have closed since).
    opened: AtomicBool,
    role: Role,
    /// The fork generation of the process that made it (see [`fork`]).
    generation: u32,
    /// Bytes of sent messages not yet written: in the session's output or in
    /// the inbox.
    buffered: AtomicUsize,
    /// Where its events go, and its send limits: shared by the connections
    /// of a server.
    common: Arc<Common>,
    /// What it has once something happened to it (see [`Record`]).
    record: OnceLock<Box<Record>>,
    /// Its number in this process (from 1), for logs and statistics.
    id: u64,
    /// The session and socket, on the connection's I/O thread (the one it
    /// lives on), once open.
    local: ThreadBound<RefCell<Option<Local>>>,
    /// "path\0query\0".
    target: Box<[u8]>,
    peer: OnceLock<SocketAddr>,
    /// What the opening handshake settled, once it completed.
    handshake: OnceLock<HandshakeInfo>,
    /// Commands from other threads.
    mailbox: Mutex<Mailbox>,
    /// Its driver waits until the application's thread has dispatched all
    /// of `held_events` (and is woken when it has).
    awaits_host: AtomicBool,
    /// Its events waiting in a queue for the application's thread (poll
    /// dispatch): what the application will answer is not all sent yet.
    held_events: AtomicU32,
    /// A pointer the application attaches to the connection (C `user_data`).
    pub app_data: AtomicPtr<c_void>,
}

/// What a connection has only once something happened to it, made on first
/// need (an idle connection has none): one pointer in every connection
/// instead of four slots.
#[derive(Default)]
struct Record {
    /// Messages and bytes both ways, written by its I/O thread.
    traffic: Traffic,
    /// Its peer's address as text, once asked for.
    peer_text: OnceLock<Box<CStr>>,
    /// Why it failed, if it did.
    failure: OnceLock<(ErrorKind, String)>,
    /// How it closed, once it has.
    close_info: OnceLock<CloseInfo>,
    /// The topics it is subscribed to.
    subscriptions: Mutex<Subscriptions>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("state", &self.state())
            .field("peer", &self.peer())
            .field("path", &self.path())
            .finish()
    }
}

impl Connection {
    /// A new connection in the `Connecting` state, to live on I/O thread
    /// `thread` and hand its events to `common`'s handler.
    pub(crate) fn new(
        role: Role,
        thread: usize,
        path: &str,
        query: &str,
        common: Arc<Common>,
    ) -> Arc<Connection> {
        let mut target = Vec::with_capacity(path.len() + query.len() + 2);
        for part in [path, query] {
            target.extend(part.bytes().take_while(|&b| b != 0));
            target.push(0);
        }
        Arc::new(Connection {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            generation: fork::generation(),
            role,
            scheduled: AtomicBool::new(false),
            common,
            state: AtomicU8::new(ConnectionState::Connecting as u8),
            opened: AtomicBool::new(false),
            buffered: AtomicUsize::new(0),
            pressed: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            target: target.into_boxed_slice(),
            peer: OnceLock::new(),
            handshake: OnceLock::new(),
            mailbox: Mutex::new(Mailbox::default()),
            mail: AtomicBool::new(false),
            awaits_host: AtomicBool::new(false),
            held_events: AtomicU32::new(0),
            local: ThreadBound::new(thread, RefCell::new(None)),
            app_data: AtomicPtr::new(std::ptr::null_mut()),
            record: OnceLock::new(),
        })
    }

    /// The memory budgets of its server's connections (a server's only).
    pub(crate) fn server_budgets(&self) -> Option<Arc<Budgets>> {
        self.common.limits.budgets.clone()
    }

    /// Its number in this process: from 1, never reused, the same in every
    /// log line about it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The fork generation of the process that made it: a child process
    /// must not use a connection of its parent's (see [`fork`]).
    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    /// What it carried so far (see [`ConnStats`]).
    pub fn stats(&self) -> ConnStats {
        self.record
            .get()
            .map_or_else(ConnStats::default, |r| r.traffic.snapshot())
    }

    /// Its record, made now if it has none yet.
    fn record(&self) -> &Record {
        self.record.get_or_init(Box::default)
    }

    /// Its counters, for its I/O thread to write.
    pub(crate) fn traffic(&self) -> &Traffic {
        &self.record().traffic
    }

    /// The I/O thread the connection lives on.
    pub(crate) fn thread(&self) -> usize {
        self.local.owner()
    }

    /// Where its events go.
    pub(crate) fn handler(&self) -> &dyn Handler {
        &*self.common.handler
    }

    /// This connection as the `Arc` it lives in.
    fn arc(&self) -> Arc<Connection> {
        // SAFETY: a Connection is only ever made by `Connection::new`, inside
        // an Arc it never leaves, so `self` points into a live Arc allocation;
        // the count is raised for the handle made here.
        unsafe {
            Arc::increment_strong_count(self);
            Arc::from_raw(self)
        }
    }

    /// Tells its socket what its thread's epoll said (on its I/O thread).
    pub(crate) fn socket_ready(&self, events: u32) {
        if let Some(Ok(mut local)) = self.local.get().map(RefCell::try_borrow_mut) {
            if let Some(local) = local.as_mut() {
                local.stream.ready(events);
            }
        }
    }

    /// Has its I/O thread poll it (to write what a send left queued, take
    /// commands, or run deferred work).
    pub(crate) fn wake(&self) {
        if !self.scheduled.load(Ordering::Acquire) {
            scheduler::schedule(&self.arc());
        }
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

    fn handshake_string(&self, index: usize) -> &CStr {
        self.handshake
            .get()
            .and_then(|h| h.all().nth(index))
            .unwrap_or_default()
    }

    /// The negotiated `Sec-WebSocket-Extensions` value ("" when none).
    pub fn extensions(&self) -> &CStr {
        self.handshake_string(1)
    }

    /// The subprotocol the handshake settled on ("" when none).
    pub fn subprotocol(&self) -> &CStr {
        self.handshake_string(0)
    }

    /// How many headers the peer sent in the opening handshake (0 until then).
    pub fn header_count(&self) -> usize {
        self.handshake.get().map_or(0, HandshakeInfo::header_count)
    }

    /// The handshake header at `index`, in the order received: the request's
    /// on a server, the response's on a client.
    pub fn header_at(&self, index: usize) -> Option<(&CStr, &CStr)> {
        self.handshake.get()?.header_at(index)
    }

    /// The first handshake header named `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&CStr> {
        (0..self.header_count())
            .filter_map(|i| self.header_at(i))
            .find(|(n, _)| n.to_bytes().eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The request head of the opening handshake (request line, headers and
    /// the blank line) as it went over the wire: the one sent by a client,
    /// received by a server. `None` until the connection opened, and when
    /// its config did not ask to keep it
    /// ([`ConnectionConfig::keep_handshake_text`]).
    pub fn request_text(&self) -> Option<&CStr> {
        self.handshake_head(0)
    }

    /// The response head of the opening handshake as it went over the
    /// wire: received by a client, sent by a server (the 101). As
    /// [`Connection::request_text`].
    pub fn response_text(&self) -> Option<&CStr> {
        self.handshake_head(1)
    }

    fn handshake_head(&self, which: usize) -> Option<&CStr> {
        if !self.was_opened() {
            return None;
        }
        self.handshake.get()?.head(which)
    }

    /// True when the connection runs over TLS.
    pub fn is_secure(&self) -> bool {
        self.handshake.get().is_some_and(HandshakeInfo::secure)
    }

    /// The peer's address as `ip:port` (`[v6]:port`), empty until connected.
    pub fn peer(&self) -> &CStr {
        match self.peer.get() {
            Some(addr) => self.record().peer_text.get_or_init(|| {
                CString::new(addr.to_string())
                    .unwrap_or_default()
                    .into_boxed_c_str()
            }),
            None => c"",
        }
    }

    /// The peer's address, once connected.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer.get().copied()
    }

    fn target_part(&self, index: usize) -> &CStr {
        self.target
            .split_inclusive(|&b| b == 0)
            .nth(index)
            .and_then(|s| CStr::from_bytes_with_nul(s).ok())
            .unwrap_or_default()
    }

    /// The request path (`/chat`).
    pub fn path(&self) -> &CStr {
        self.target_part(0)
    }

    /// The request query without `?` (empty when none).
    pub fn query(&self) -> &CStr {
        self.target_part(1)
    }

    /// How the connection ended; `None` until it is closed.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.record.get().and_then(|r| r.close_info.get())
    }

    /// The error that failed the connection, if one did.
    pub fn failure(&self) -> Option<(ErrorKind, &str)> {
        let failure = self.record.get().and_then(|r| r.failure.get());
        failure.map(|f| (f.0, f.1.as_str()))
    }

    /// Bytes of sent messages not yet written to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.buffered.load(Ordering::Acquire)
    }

    /// Queues a text message (checked to be UTF-8).
    pub fn send_text(&self, text: &[u8]) -> Result<Sent, SendError> {
        self.send_message(true, text, SendOptions::default())
    }

    /// Queues a binary message.
    pub fn send_binary(&self, data: &[u8]) -> Result<Sent, SendError> {
        self.send_message(false, data, SendOptions::default())
    }

    /// Queues a text (checked to be UTF-8) or binary message, or a part of
    /// one, as `options` say. The parts of a message may come from any
    /// thread, in order; messages sent meanwhile go after its last part.
    /// A text message in parts is checked across its parts: a part may end
    /// inside a character, the message may not.
    pub fn send_message(
        &self,
        text: bool,
        data: &[u8],
        options: SendOptions,
    ) -> Result<Sent, SendError> {
        let opcode = if text { OpCode::Text } else { OpCode::Binary };
        if options.is_part() {
            return self.send_part(opcode, data, options);
        }
        if text {
            std::str::from_utf8(data).map_err(|_| SendError::InvalidUtf8)?;
        }
        self.send_frame(opcode, data, options)
    }

    /// Queues a part of a message. Parts always go through the inbox, checked
    /// and queued under its lock, so parts sent from several threads keep
    /// the order in which they were checked.
    fn send_part(
        &self,
        opcode: OpCode,
        data: &[u8],
        options: SendOptions,
    ) -> Result<Sent, SendError> {
        if self.state() != ConnectionState::Open {
            return Err(SendError::NotOpen);
        }
        let mut mailbox = self.mailbox();
        if mailbox.closed {
            return Err(SendError::NotOpen);
        }
        let next = OpenParts::next(mailbox.inbox().parts.as_ref(), opcode, data, options)?;
        let size = data.len() + MAX_HEADER_LEN;
        let before = self.charge_send(size)?;
        let sent = self.pressure(before + size);
        mailbox.inbox().parts = next;
        self.post_locked(mailbox, Command::Send(opcode, data.to_vec(), size, options));
        Ok(sent)
    }

    /// Queues a message published to a topic it is subscribed to (see
    /// [`super::topics`]). Called on its I/O thread: the frame goes into
    /// the session's output at once when it can, and is written on the
    /// thread's next turn (with whatever else is published meanwhile).
    pub(crate) fn send_published(&self, message: &Arc<Published>) -> Result<(), SendError> {
        if self.state() != ConnectionState::Open {
            return Err(SendError::NotOpen);
        }
        let size = message.payload().len() + MAX_HEADER_LEN;
        let direct = self.with_local(|local| {
            let buffered = self.buffered.load(Ordering::Acquire);
            if self.common.limits.refuses(buffered, size) {
                return Err(SendError::QueueFull);
            }
            local.send_published(self, message)
        });
        if let Some(result) = direct {
            return result;
        }
        // Its state is in use (this is its own callback): through the inbox.
        self.charge_send(size)?;
        self.post(Command::Published(message.clone(), size))
            .inspect_err(|_| self.sub_buffered(size))
    }

    /// Subscribes it to topic `name` (see [`super::topics`]); `Ok(false)`
    /// when it already was. A server's connections only; from any thread.
    pub fn subscribe(&self, name: &[u8]) -> Result<bool, TopicError> {
        let topics = self.common.topics.as_ref().ok_or(TopicError::NotOpen)?;
        topics.subscribe(&self.arc(), name)
    }

    /// Unsubscribes it from topic `name`; `Ok(false)` when it was not
    /// subscribed. From any thread.
    pub fn unsubscribe(&self, name: &[u8]) -> Result<bool, TopicError> {
        let topics = self.common.topics.as_ref().ok_or(TopicError::NotOpen)?;
        topics.unsubscribe(self, name)
    }

    /// True when it is subscribed to topic `name`.
    pub fn is_subscribed(&self, name: &[u8]) -> bool {
        self.record
            .get()
            .is_some_and(|_| Topics::is_subscribed(self, name))
    }

    /// The topics it is subscribed to, for [`Topics`] to change.
    pub(crate) fn subscriptions(&self) -> &Mutex<Subscriptions> {
        &self.record().subscriptions
    }

    /// Queues a ping (payload of at most 125 bytes).
    pub fn ping(&self, payload: &[u8]) -> Result<Sent, SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues an unsolicited pong (payload of at most 125 bytes).
    pub fn pong(&self, payload: &[u8]) -> Result<Sent, SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    fn send_control(&self, opcode: OpCode, payload: &[u8]) -> Result<Sent, SendError> {
        if payload.len() > crate::protocol::frame::MAX_CONTROL_PAYLOAD {
            return Err(SendError::TooLarge);
        }
        self.send_frame(opcode, payload, SendOptions::default())
    }

    fn send_frame(
        &self,
        opcode: OpCode,
        payload: &[u8],
        options: SendOptions,
    ) -> Result<Sent, SendError> {
        if self.state() != ConnectionState::Open {
            return Err(SendError::NotOpen);
        }
        let size = payload.len() + MAX_HEADER_LEN;
        if let Some(result) = self.with_local(|local| {
            if self
                .common
                .limits
                .refuses(self.buffered.load(Ordering::Acquire), size)
            {
                return Err(SendError::QueueFull);
            }
            local.send(self, opcode, payload, options)
        }) {
            result?;
            return Ok(self.pressure(self.buffered.load(Ordering::Acquire)));
        }
        let before = self.charge_send(size)?;
        // Before posting: the I/O thread may drain it as soon as it is posted.
        let sent = self.pressure(before + size);
        self.post(Command::Send(opcode, payload.to_vec(), size, options))
            .inspect_err(|_| {
                self.sub_buffered(size);
            })?;
        Ok(sent)
    }

    /// What a send leaving `buffered` bytes to write says; over the high-water
    /// mark, remembers to tell when the connection has drained.
    fn pressure(&self, buffered: usize) -> Sent {
        if buffered <= self.common.limits.high_water {
            return Sent::Queued;
        }
        self.pressed.store(true, Ordering::Release);
        Sent::Backpressure
    }

    /// True once, when a connection that reported backpressure has drained to
    /// its low-water mark. Called by the driver after it wrote.
    pub(crate) fn take_drained(&self) -> bool {
        let drained = self.pressed.load(Ordering::Acquire)
            && self.buffered.load(Ordering::Acquire) <= self.common.limits.low_water
            && self.pressed.swap(false, Ordering::AcqRel);
        if drained && self.over_high_water() {
            // A send on another thread went over the mark after the amount
            // was read, and its `pressed` was just cleared with the old one:
            // keep it, so that this backpressure gets its drain too.
            self.pressed.store(true, Ordering::Release);
        }
        drained
    }

    /// More than the high-water mark waits to be sent: reading pauses.
    pub(crate) fn over_high_water(&self) -> bool {
        self.buffered.load(Ordering::Acquire) > self.common.limits.high_water
    }

    /// Stops reading from the socket (after at most the message being read)
    /// until [`Connection::resume`], so that TCP pushes back on the peer: for
    /// an application that cannot take more messages now. From any thread.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::Release);
    }

    /// Reads again after [`Connection::pause`]. From any thread.
    pub fn resume(&self) {
        if self.paused.swap(false, Ordering::AcqRel) {
            self.wake();
        }
    }

    /// The application paused reading.
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Runs `f` on the local state when called on the connection's I/O thread
    /// while the connection is open there and nobody else holds the state;
    /// `None` otherwise (then the inbox is the way). Commands waiting in the
    /// inbox go first, so nothing overtakes them.
    fn with_local<R>(&self, f: impl FnOnce(&mut Local) -> R) -> Option<R> {
        let mut guard = self.local.get()?.try_borrow_mut().ok()?;
        let local = guard.as_mut()?;
        if self.mail.load(Ordering::Acquire) {
            local.take_mail(self);
        }
        Some(f(local))
    }

    /// Hands a command to the I/O thread and wakes it.
    fn post(&self, command: Command) -> Result<(), SendError> {
        let mailbox = self.mailbox();
        if mailbox.closed {
            return Err(SendError::NotOpen);
        }
        self.post_locked(mailbox, command);
        Ok(())
    }

    /// Posts a command into an open mailbox (its lock held), then wakes the
    /// I/O thread.
    fn post_locked(&self, mut mailbox: MutexGuard<'_, Mailbox>, command: Command) {
        let inbox = mailbox.inbox();
        inbox.commands.push_back(command);
        self.mail.store(true, Ordering::Release);
        if let Some(waker) = &inbox.waker {
            waker.wake_by_ref();
        }
        drop(mailbox);
        self.wake();
    }

    /// Starts the close handshake. `code` `None` sends a close frame without a
    /// code (then `reason` must be empty). Refused when already closing or closed.
    pub fn close(&self, code: Option<u16>, reason: &str) -> Result<(), SendError> {
        check_close(code, reason)?;
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
        self.handler().closed_by_application(self);
        let on_thread = self.with_local(|local| {
            let result = local.session.close(code, reason, Instant::now());
            if !local.corked {
                local.write_now(self);
            }
            // The close timeout needs the driver's timer.
            self.wake();
            local.count(self);
            result
        });
        match on_thread {
            Some(result) => result,
            None => self.post(Command::Close(code, reason.to_string())),
        }
    }

    /// Answers pings with pongs by itself (`on`), or leaves that to the
    /// application ([`Connection::pong`]); pings are reported either way.
    /// Applies to the pings handled after it. From any thread; refused
    /// unless the connection is open (or closing).
    pub fn set_auto_pong(&self, on: bool) -> Result<(), SendError> {
        self.change(Setting::AutoPong(on))
    }

    /// Changes the largest message accepted (larger ones fail the
    /// connection with 1009) for the messages that start after it. From any
    /// thread; refused unless the connection is open (or closing).
    pub fn set_max_message_size(&self, max: usize) -> Result<(), SendError> {
        self.change(Setting::MaxMessageSize(max))
    }

    /// Changes a setting of the session, on its thread.
    fn change(&self, setting: Setting) -> Result<(), SendError> {
        if self.state() == ConnectionState::Connecting {
            return Err(SendError::NotOpen);
        }
        match self.with_local(|local| local.change(setting)) {
            Some(()) => Ok(()),
            None => self.post(Command::Set(setting)),
        }
    }

    /// Ends an open connection at once, without a close frame: what waits
    /// to be sent is dropped, the socket is closed, and its `Close` event
    /// reports 1006 with the reason "aborted". From any thread. Refused
    /// unless open (not before, nor once closing).
    pub fn abort(&self) -> Result<(), SendError> {
        self.state
            .compare_exchange(
                ConnectionState::Open as u8,
                ConnectionState::Closing as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .map_err(|_| SendError::NotOpen)?;
        self.notify();
        self.handler().closed_by_application(self);
        let on_thread = self.with_local(|local| {
            local.abort();
            self.wake();
        });
        match on_thread {
            Some(()) => Ok(()),
            None => self.post(Command::Abort),
        }
    }

    /// Closes like [`Connection::close`], but only once what has already
    /// arrived is delivered and the application had its turn to answer:
    /// the connection first reads what is there, hands it to the handler
    /// (and, when the handler's events wait for another thread, waits until
    /// that thread dispatched them), and the answers go before the close
    /// frame. Within the close timeout. A graceful stop of a server does
    /// this. Until then messages can be sent.
    pub fn close_after_input(&self, code: Option<u16>, reason: &str) -> Result<(), SendError> {
        check_close(code, reason)?;
        if self.state() != ConnectionState::Open {
            return self.close(code, reason);
        }
        self.post(Command::CloseAfterInput(code, reason.to_string()))
    }

    /// One more of its events waits in a queue for the application's thread
    /// (called by that queue).
    pub fn event_queued(&self) {
        self.held_events.fetch_add(1, Ordering::SeqCst);
    }

    /// The application's thread dispatched (or dropped) one of its queued
    /// events, after its callback returned (called by that queue). After the
    /// last one, its driver is woken if it waits for that.
    pub fn event_dispatched(&self) {
        if self.held_events.fetch_sub(1, Ordering::SeqCst) == 1
            && self.awaits_host.swap(false, Ordering::SeqCst)
        {
            self.wake();
        }
    }

    /// True while events of it wait for the application's thread; then the
    /// driver is woken once the last of them is dispatched.
    pub(crate) fn host_holds_events(&self) -> bool {
        if self.held_events.load(Ordering::SeqCst) == 0 {
            return false;
        }
        self.awaits_host.store(true, Ordering::SeqCst);
        // Dispatched meanwhile: the dispatching thread may not have seen the flag.
        if self.held_events.load(Ordering::SeqCst) == 0 {
            self.awaits_host.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Waits until the state is at least `state` or `timeout` passes (`None`:
    /// forever). Returns the state reached.
    pub fn wait_for(&self, state: ConnectionState, timeout: Option<Duration>) -> ConnectionState {
        let deadline = timeout.map(|t| Instant::now() + t);
        let (mut guard, changed) = changed();
        loop {
            let now = self.state();
            if now >= state {
                return now;
            }
            guard = match deadline {
                None => changed.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return now;
                    }
                    changed
                        .wait_timeout(guard, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    fn notify(&self) {
        let (_guard, changed) = changed();
        changed.notify_all();
    }

    /// Counts a send of `size` bytes made on another thread as waiting to
    /// be sent, unless the queue limit or the memory budgets refuse it;
    /// returns what waited before. The limit is checked on the count after
    /// adding (exact with concurrent senders); the budgets, before (they
    /// count this send as soon as it is added).
    fn charge_send(&self, size: usize) -> Result<usize, SendError> {
        let budgets = self.common.limits.budgets.as_deref();
        if budget::refuses_send(budgets, self.buffered.load(Ordering::Acquire), size) {
            return Err(SendError::QueueFull);
        }
        let before = self.add_buffered(size);
        if before + size > self.common.limits.queue_limit {
            self.sub_buffered(size);
            return Err(SendError::QueueFull);
        }
        Ok(before)
    }

    /// Adds `n` to the bytes waiting to be sent; returns what it was before.
    fn add_buffered(&self, n: usize) -> usize {
        let before = self.buffered.fetch_add(n, Ordering::AcqRel);
        self.common.limits.moved(before, before + n);
        before
    }

    /// Takes `n` from the bytes waiting to be sent.
    fn sub_buffered(&self, n: usize) {
        let before = self.buffered.fetch_sub(n, Ordering::AcqRel);
        self.common.limits.moved(before, before - n);
    }

    /// Moves `buffered_amount` from counting `from` bytes to counting `to`.
    pub(crate) fn recount(&self, from: usize, to: usize) {
        if to > from {
            self.add_buffered(to - from);
        } else if to < from {
            self.sub_buffered(from - to);
        }
    }

    /// Takes the commands other threads left, in order.
    pub(crate) fn take_commands(&self) -> VecDeque<Command> {
        let mut mailbox = self.mailbox();
        self.mail.store(false, Ordering::Release);
        mailbox
            .inbox
            .as_mut()
            .map(|i| std::mem::take(&mut i.commands))
            .unwrap_or_default()
    }

    // ---- used by the transport ----

    pub(crate) fn mailbox(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when other threads left commands in the inbox.
    pub(crate) fn has_mail(&self) -> bool {
        self.mail.load(Ordering::Acquire)
    }

    /// Ready once the inbox has a command (before the connection opens, that
    /// can only be a close); until then the task of `cx` is woken for one.
    pub(crate) fn poll_mail(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.has_mail() {
            return std::task::Poll::Ready(());
        }
        let mut mailbox = self.mailbox();
        let inbox = mailbox.inbox();
        if !inbox
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            inbox.waker = Some(cx.waker().clone());
        }
        if self.has_mail() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }

    /// The thread-bound local state (on the connection's I/O thread only).
    pub(crate) fn local(&self) -> &RefCell<Option<Local>> {
        self.local
            .get()
            .expect("the driver runs on the connection's I/O thread")
    }

    /// Records what the opening handshake settled (before the connection
    /// opens), with its request and response heads when they are kept.
    pub(crate) fn set_handshake(
        &self,
        headers: &Headers,
        subprotocol: Option<&str>,
        extensions: &str,
        secure: bool,
        heads: Option<[&[u8]; 2]>,
    ) {
        let subprotocol = subprotocol.unwrap_or("");
        let info = HandshakeInfo::new(headers, subprotocol, extensions, secure, heads);
        let _ = self.handshake.set(info);
    }

    pub(crate) fn set_peer(&self, peer: SocketAddr) {
        let _ = self.peer.set(peer);
    }

    /// Moves from `Connecting` to `Open`; false if a close came first.
    pub(crate) fn mark_open(&self) -> bool {
        // Under the lock waiters read the state with: one that sees `Open`
        // sees `opened` too.
        let (_guard, changed) = changed();
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
        changed.notify_all();
        ok
    }

    pub(crate) fn mark_closing(&self) {
        let before = self
            .state
            .fetch_max(ConnectionState::Closing as u8, Ordering::AcqRel);
        if before < ConnectionState::Closing as u8 {
            self.notify();
        }
    }

    pub(crate) fn mark_failed(&self, kind: ErrorKind, message: String) {
        let _ = self.record().failure.set((kind, message));
    }

    /// Marks the connection closed; commands can no longer be queued and what
    /// was queued is given up.
    pub(crate) fn mark_closed(&self, info: CloseInfo) {
        {
            let mut mailbox = self.mailbox();
            mailbox.closed = true;
            mailbox.inbox = None;
        }
        let before = self.buffered.swap(0, Ordering::AcqRel);
        self.common.limits.moved(before, 0);
        let _ = self.record().close_info.set(info);
        {
            let (_guard, changed) = changed();
            self.state
                .store(ConnectionState::Closed as u8, Ordering::Release);
            changed.notify_all();
        }
        // Before its `Close` event: the application hears of it only once
        // it is no subscriber any more.
        if let Some(topics) = &self.common.topics {
            topics.leave_all(self);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler that ignores everything, and small limits.
    fn nobody() -> Arc<Common> {
        struct Nobody;
        impl Handler for Nobody {
            fn event(&self, _: &Arc<Connection>, _: crate::transport::Event<'_>) {}
        }
        Arc::new(Common {
            handler: Arc::new(Nobody),
            limits: SendLimits {
                queue_limit: 100,
                high_water: 100,
                low_water: 0,
                budgets: None,
            },
            topics: None,
        })
    }

    #[test]
    fn handshake_strings_are_kept_in_one_allocation() {
        let headers = Headers(vec![
            ("Host".into(), "example.com".into()),
            ("X-Empty".into(), String::new()),
            ("Cut".into(), "before\0after".into()),
        ]);
        let info = HandshakeInfo::new(&headers, "chat", "permessage-deflate", true, None);
        let all: Vec<&CStr> = info.all().collect();
        assert_eq!(all.len(), 8);
        assert!(info.secure());
        assert_eq!(info.header_count(), 3);
        let plain = HandshakeInfo::new(&Headers(Vec::new()), "", "", false, None);
        assert!(!plain.secure());
        assert_eq!((plain.header_count(), plain.header_at(0)), (0, None));
        assert_eq!(info.header_at(0), Some((c"Host", c"example.com")));
        assert_eq!(info.header_at(1), Some((c"X-Empty", c"")));
        assert_eq!(info.header_at(2), Some((c"Cut", c"before")));
        assert_eq!(info.header_at(3), None);
        assert_eq!(info.header_at(usize::MAX), None);
    }

    #[test]
    fn handshake_heads_are_kept_only_when_asked_for() {
        let headers = Headers(vec![("Host".into(), "example.com".into())]);
        let request = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let response = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        let kept = HandshakeInfo::new(&headers, "", "", true, Some([request, response]));
        assert!(kept.secure());
        assert_eq!(kept.head(0).map(CStr::to_bytes), Some(&request[..]));
        assert_eq!(kept.head(1).map(CStr::to_bytes), Some(&response[..]));
        assert_eq!(kept.header_count(), 1);
        assert_eq!(kept.header_at(0), Some((c"Host", c"example.com")));
        let plain = HandshakeInfo::new(&headers, "", "", false, None);
        assert_eq!((plain.head(0), plain.head(1)), (None, None));
        assert_eq!(plain.header_at(0), Some((c"Host", c"example.com")));
        assert_eq!(
            plain.0.len() + 2 + request.len() + response.len(),
            kept.0.len()
        );
    }

    #[test]
    fn target_splits_into_path_and_query() {
        let conn = Connection::new(Role::Server, 0, "/a/b", "x=1", nobody());
        assert_eq!(conn.path(), c"/a/b");
        assert_eq!(conn.query(), c"x=1");
        let conn = Connection::new(Role::Server, 0, "/", "", nobody());
        assert_eq!((conn.path(), conn.query()), (c"/", c""));
    }

    #[test]
    fn the_local_state_is_out_of_reach_off_its_thread() {
        let conn = Connection::new(Role::Server, 0, "/", "", nobody());
        assert!(
            conn.local.get().is_none(),
            "this test thread is no I/O thread"
        );
        assert!(conn.with_local(|_| ()).is_none());
    }
}
