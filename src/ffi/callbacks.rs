//! The callbacks struct, and the endpoint that runs a server's or client's
//! callbacks either on the I/O threads or through the polled event queue.

use super::constants::{
    ws_close_code, ws_dispatch_mode, ws_message_type, ws_part_flags, WS_DISPATCH_POLL,
    WS_MESSAGE_BINARY, WS_MESSAGE_TEXT, WS_PART_FIRST, WS_PART_LAST,
};
use super::events::{self, Queued, QueuedKind};
use super::handshake::{self, ws_handshake};
use super::status::{ws_status, Failure, WS_ERR_INVALID_ARGUMENT, WS_ERR_NOT_SUPPORTED};
use super::status_of;
use crate::transport::upgrade::{upgrade_cost, PendingUpgrade};
use crate::transport::{
    event_cost, runtime, Attempt, Connection, ConnectionConfig, Event, Handler,
};
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Semaphore;

/// Event callbacks of a server or a client. Every callback may be NULL (ignored).
///
/// Set `size` to `sizeof(ws_callbacks)`: start from `WS_CALLBACKS_INIT`
/// (`ws_callbacks cb = WS_CALLBACKS_INIT; cb.on_open = ...;`) or write
/// `ws_callbacks cb = { .size = sizeof cb, .on_open = ... };`. New callbacks
/// are only ever added at the end, and the library reads only the first
/// `size` bytes, so a program built with an older header keeps working with a
/// newer library. A `size` that is not a multiple of a pointer's size, or is
/// larger than this library's struct while a callback it does not know is
/// set, is refused (`WS_ERR_INVALID_ARGUMENT`, `WS_ERR_NOT_SUPPORTED`).
///
/// Each gets the `user_data` given to `ws_server_listen` / `ws_client_connect`
/// first, and the connection. Pointers to data (`data`, `reason`, `message`) are
/// valid only during the call: copy what you keep. The `Connection *` stays valid
/// until `on_close` returns; call `ws_conn_retain` to keep it longer.
/// In `WS_DISPATCH_THREAD` mode the callbacks run on the connection's I/O
/// thread (the same one for the connection's whole life; see
/// `ws_set_io_threads`), in `WS_DISPATCH_POLL` mode inside `ws_dispatch()` on
/// the caller's thread. Either way one connection's callbacks never overlap and
/// come in order; `on_handshake` runs on the thread of the connection it may
/// become. Any library function may be called from a callback. The I/O threads
/// block SIGPIPE (so that a peer resetting a connection cannot kill the
/// program): a thread-mode callback writing to a closed pipe of its own gets
/// EPIPE.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ws_callbacks {
    /// `sizeof(ws_callbacks)` as the program was compiled (see above).
    pub size: usize,
    /// The opening handshake completed: the connection is open.
    pub on_open: Option<unsafe extern "C" fn(user_data: *mut c_void, conn: *mut Connection)>,
    /// A complete message arrived. `kind` is `WS_MESSAGE_TEXT` (valid UTF-8, not
    /// NUL-terminated) or `WS_MESSAGE_BINARY`.
    pub on_message: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            conn: *mut Connection,
            kind: ws_message_type,
            data: *const u8,
            len: usize,
        ),
    >,
    /// A ping arrived. The library answers it with a pong by itself (when many
    /// pings arrive faster than the peer reads, only the latest is answered;
    /// none once a close frame was sent).
    pub on_ping: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            conn: *mut Connection,
            data: *const u8,
            len: usize,
        ),
    >,
    /// A pong arrived.
    pub on_pong: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            conn: *mut Connection,
            data: *const u8,
            len: usize,
        ),
    >,
    /// The connection closed: the last callback of every connection, including
    /// one that never opened. `code` is the peer's close code, `WS_NO_STATUS`
    /// (1005) if its close frame had none, `WS_CLOSED_ABNORMALLY` (1006) if the
    /// connection ended without a close frame; `reason` is the peer's reason.
    pub on_close: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            conn: *mut Connection,
            code: ws_close_code,
            reason: *const c_char,
        ),
    >,
    /// Something failed (connect, handshake, protocol violation by the peer, I/O,
    /// timeout); `on_close` follows.
    pub on_error: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            conn: *mut Connection,
            status: ws_status,
            message: *const c_char,
        ),
    >,
    /// Servers only: a WebSocket upgrade request arrived. Read it with
    /// `ws_handshake_*` and answer it once with `ws_handshake_accept` or
    /// `ws_handshake_reject`, now or later from any thread (within the
    /// handshake timeout; unanswered requests then get 503). When NULL, the
    /// server accepts every request its config allows.
    pub on_handshake: Option<unsafe extern "C" fn(user_data: *mut c_void, hs: *mut ws_handshake)>,
    /// A send returned `WS_STATUS_BACKPRESSURE`, and the bytes waiting to be
    /// sent have since fallen to the low-water mark
    /// (`ws_*_config_set_send_watermarks`): sending may go on. Comes once per
    /// time the high-water mark was passed.
    pub on_drain: Option<unsafe extern "C" fn(user_data: *mut c_void, conn: *mut Connection)>,
    /// With `ws_*_config_set_receive_parts` on, called instead of `on_message`
    /// for each piece of a message as it arrives, in order: `flags` has
    /// `WS_PART_FIRST` on its first piece and `WS_PART_LAST` on its last (a
    /// one-piece message has both; the last piece may be empty), and `total`
    /// counts the message's bytes so far, this piece included. Text pieces
    /// end on character boundaries, so each is valid UTF-8 by itself. It
    /// runs where the other callbacks run, in order with them.
    pub on_message_part: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            conn: *mut Connection,
            kind: ws_message_type,
            data: *const u8,
            len: usize,
            flags: ws_part_flags,
            total: u64,
        ),
    >,
    /// Reconnecting clients only (`ws_client_config_set_reconnect`): the
    /// client's connection `conn` was lost (its `on_close` came just before)
    /// and reconnect attempt number `attempt` (1 for the first since a
    /// connection lasted) will connect after `delay_ms` milliseconds,
    /// counted from the close. Return 0 to let it go ahead, anything else
    /// to cancel it and every attempt after it: the client then ends as it
    /// would without reconnecting. It is not called for an attempt the
    /// application stopped first (`ws_client_close`). Once it returns, the attempt's new
    /// connection replaces `conn` as the client's (`ws_client_conn`); with
    /// `WS_DISPATCH_POLL` that happens inside `ws_dispatch()` on your
    /// thread (also when this callback is NULL), so a `ws_conn` from
    /// `ws_client_conn` is good until the dispatch that runs this callback.
    /// While a callback is NULL, every attempt goes ahead.
    pub on_reconnect: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            conn: *mut Connection,
            attempt: u32,
            delay_ms: u64,
        ) -> c_int,
    >,
    /// Reconnecting clients only: reconnect attempt number `attempt` opened
    /// `conn` (its `on_open` came just before), the client's connection from
    /// now on: the place to subscribe again and resend state.
    pub on_reconnected:
        Option<unsafe extern "C" fn(user_data: *mut c_void, conn: *mut Connection, attempt: u32)>,
}

/// Largest `size` taken as a real struct (a larger one is uninitialised memory).
const MAX_CALLBACKS_SIZE: usize = 4096;

impl ws_callbacks {
    /// The callbacks behind a pointer from C: none for NULL, else the first
    /// `size` bytes of the program's struct (callbacks it does not have stay
    /// NULL).
    ///
    /// # Safety
    /// A non-NULL `ptr` points to a struct whose first member is its `size`
    /// and that holds `size` readable bytes.
    pub(crate) unsafe fn read(ptr: *const ws_callbacks) -> Result<ws_callbacks, Failure> {
        let mut callbacks = ws_callbacks::default();
        if ptr.is_null() {
            return Ok(callbacks);
        }
        let word = std::mem::size_of::<usize>();
        let ours = std::mem::size_of::<ws_callbacks>();
        let size = ptr.cast::<usize>().read();
        if size < word || size % word != 0 || size > MAX_CALLBACKS_SIZE {
            return Err(Failure::new(
                WS_ERR_INVALID_ARGUMENT,
                format!(
                    "callbacks->size is {size}: set it to sizeof(ws_callbacks) (start from WS_CALLBACKS_INIT)"
                ),
            ));
        }
        let theirs = ptr.cast::<u8>();
        if size > ours {
            let extra = std::slice::from_raw_parts(theirs.add(ours), size - ours);
            if let Some(i) = extra.chunks(word).position(|c| c.iter().any(|&b| b != 0)) {
                return Err(Failure::new(
                    WS_ERR_NOT_SUPPORTED,
                    format!(
                        "callback {} of the program's ws_callbacks is set, but this library (version {}) has only {}",
                        ours / word + i,
                        env!("CARGO_PKG_VERSION"),
                        ours / word - 1
                    ),
                ));
            }
        }
        let into = (&mut callbacks as *mut ws_callbacks).cast::<u8>();
        std::ptr::copy_nonoverlapping(theirs, into, size.min(ours));
        callbacks.size = ours;
        Ok(callbacks)
    }

    /// Refuses callbacks that lack one the connection config needs.
    pub(crate) fn check_for(&self, config: &ConnectionConfig) -> Result<(), Failure> {
        if config.receive_parts && self.on_message_part.is_none() {
            return Err(Failure::new(
                WS_ERR_INVALID_ARGUMENT,
                "receive_parts is on, but callbacks->on_message_part is NULL",
            ));
        }
        Ok(())
    }
}

/// The application's `void *user_data`, carried to whichever thread runs callbacks.
#[derive(Clone, Copy)]
struct UserData(*mut c_void);
// SAFETY: the pointer is only handed back to the application's callbacks; the
// header documents on which thread they run.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

thread_local! {
    static THREAD_TAG: Cell<u64> = const { Cell::new(0) };
}
static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

/// A small number naming the calling thread (never 0).
fn thread_tag() -> u64 {
    THREAD_TAG.with(|t| {
        if t.get() == 0 {
            t.set(NEXT_TAG.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
}

/// Set while one I/O thread runs a callback of an endpoint; on a cache line
/// of its own, so threads running callbacks never share one.
#[repr(align(64))]
#[derive(Default)]
struct Busy(AtomicBool);

/// Clears a `Busy` flag when dropped (also if the callback unwinds).
struct Clear<'a>(&'a AtomicBool);

impl Drop for Clear<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The callbacks and user data of one server or client, and whether they may
/// still be called.
pub(crate) struct Endpoint {
    me: Weak<Endpoint>,
    callbacks: ws_callbacks,
    user_data: UserData,
    polled: bool,
    /// Cleared when the server or client is freed: no callback runs after that.
    alive: AtomicBool,
    /// Thread dispatch: one flag per I/O thread, set while it runs a callback,
    /// so freeing waits for running callbacks without a lock per callback.
    busy: Box<[Busy]>,
    /// Poll dispatch: held while a callback runs, so that freeing from another
    /// thread waits for a running callback to return.
    running: Mutex<()>,
    /// Poll dispatch: `thread_tag()` of the thread running a callback (0: none).
    runner: AtomicU64,
}

impl Endpoint {
    pub fn new(
        callbacks: ws_callbacks,
        user_data: *mut c_void,
        dispatch: ws_dispatch_mode,
    ) -> Arc<Endpoint> {
        Arc::new_cyclic(|me| Endpoint {
            me: me.clone(),
            callbacks,
            user_data: UserData(user_data),
            polled: dispatch == WS_DISPATCH_POLL,
            alive: AtomicBool::new(true),
            busy: (0..runtime::thread_count().unwrap_or(1))
                .map(|_| Busy::default())
                .collect(),
            running: Mutex::new(()),
            runner: AtomicU64::new(0),
        })
    }

    /// Stops all further callbacks. Called from inside a callback it returns at
    /// once; from another thread it first waits for running callbacks to end.
    pub fn shut(&self) {
        if !self.polled {
            self.alive.store(false, Ordering::SeqCst);
            if !runtime::on_runtime_thread() {
                for busy in self.busy.iter() {
                    while busy.0.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                }
            }
            return;
        }
        if self.runner.load(Ordering::Acquire) == thread_tag() {
            self.alive.store(false, Ordering::Release);
        } else {
            let _running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            self.alive.store(false, Ordering::Release);
        }
        events::purge(self);
    }

    /// Runs `call` as a callback unless the endpoint was shut.
    fn run(&self, call: impl FnOnce(&ws_callbacks, *mut c_void)) {
        if !self.polled {
            if let Some(busy) = runtime::current().and_then(|i| self.busy.get(i)) {
                // Paired with `shut`: either this sees `alive` cleared, or
                // `shut` sees the flag set and waits for it.
                busy.0.store(true, Ordering::SeqCst);
                let _clear = Clear(&busy.0);
                if self.alive.load(Ordering::SeqCst) {
                    call(&self.callbacks, self.user_data.0);
                }
                return;
            }
        }
        if self.runner.load(Ordering::Acquire) == thread_tag() {
            // Nested: a callback of this endpoint called ws_dispatch(), which runs
            // the next one on the same thread. It already holds `running`.
            if self.alive.load(Ordering::Acquire) {
                call(&self.callbacks, self.user_data.0);
            }
            return;
        }
        let _running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if !self.alive.load(Ordering::Acquire) {
            return;
        }
        let previous = self.runner.swap(thread_tag(), Ordering::AcqRel);
        call(&self.callbacks, self.user_data.0);
        self.runner.store(previous, Ordering::Release);
    }

    /// Calls the C callback for an event now, on this thread. `conn` is `None`
    /// only for a handshake, which has no connection yet.
    pub fn invoke(&self, conn: Option<&Arc<Connection>>, event: &QueuedKind<'_>) {
        let c = conn.map_or(std::ptr::null_mut(), |c| Arc::as_ptr(c) as *mut Connection);
        self.run(|cb, ud| {
            // SAFETY: the callbacks were given by the application for exactly
            // these arguments; data pointers are valid for the call.
            unsafe {
                match *event {
                    QueuedKind::Open => {
                        if let Some(f) = cb.on_open {
                            f(ud, c)
                        }
                    }
                    QueuedKind::Message(text, data) => {
                        if let Some(f) = cb.on_message {
                            let t = if text {
                                WS_MESSAGE_TEXT
                            } else {
                                WS_MESSAGE_BINARY
                            };
                            f(ud, c, t, data.as_ptr(), data.len())
                        }
                    }
                    QueuedKind::Part(text, data, flags, total) => {
                        if let Some(f) = cb.on_message_part {
                            let t = if text {
                                WS_MESSAGE_TEXT
                            } else {
                                WS_MESSAGE_BINARY
                            };
                            f(ud, c, t, data.as_ptr(), data.len(), flags, total)
                        }
                    }
                    QueuedKind::Ping(data) => {
                        if let Some(f) = cb.on_ping {
                            f(ud, c, data.as_ptr(), data.len())
                        }
                    }
                    QueuedKind::Pong(data) => {
                        if let Some(f) = cb.on_pong {
                            f(ud, c, data.as_ptr(), data.len())
                        }
                    }
                    QueuedKind::Drain => {
                        if let Some(f) = cb.on_drain {
                            f(ud, c)
                        }
                    }
                    QueuedKind::Error(status, message) => {
                        if let Some(f) = cb.on_error {
                            let m = c_string(message);
                            f(ud, c, status, m.as_ptr())
                        }
                    }
                    QueuedKind::Close(code, reason) => {
                        if let Some(f) = cb.on_close {
                            let r = c_string(reason);
                            f(ud, c, code, r.as_ptr())
                        }
                    }
                    QueuedKind::Handshake(pending) => {
                        if let Some(f) = cb.on_handshake {
                            f(ud, handshake::register(pending.clone()))
                        }
                    }
                    QueuedKind::Reconnect(attempt) => {
                        let number = attempt.number();
                        let ms = attempt.delay().as_millis().min(u64::MAX as u128) as u64;
                        let cancel = attempt.is_stopped()
                            || cb.on_reconnect.is_some_and(|f| f(ud, c, number, ms) != 0);
                        if cancel {
                            attempt.cancel()
                        } else {
                            attempt.go()
                        }
                    }
                    QueuedKind::Reconnected(number) => {
                        if let Some(f) = cb.on_reconnected {
                            f(ud, c, number)
                        }
                    }
                }
            }
        });
    }

    /// False once the server or client was freed.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// True when this endpoint is `other`.
    pub fn is(&self, other: &Endpoint) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Endpoint {
    /// Queues or runs a reconnecting client's own event (one per connection
    /// at most, so it is queued without taking room in the bounded queue).
    fn deliver_client_event(&self, conn: &Arc<Connection>, kind: &QueuedKind<'_>) {
        match (self.polled, self.me.upgrade()) {
            (true, Some(me)) => events::push(Queued::new(me, Some(conn.clone()), kind, 0)),
            _ => self.invoke(Some(conn), kind),
        }
    }
}

fn c_string(s: &str) -> CString {
    let end = s.find('\0').unwrap_or(s.len());
    CString::new(&s[..end]).unwrap_or_default()
}

impl Handler for Endpoint {
    fn event(&self, conn: &Arc<Connection>, event: Event<'_>) {
        let cost = self
            .flow_control()
            .map(|(_, limit)| event_cost(&event, limit));
        if !self.alive.load(Ordering::Acquire) {
            // Freed: nobody may be dispatching any more, so do not queue.
            if let Some((permits, _)) = self.flow_control() {
                permits.add_permits(cost.unwrap_or(0) as usize);
            }
            return;
        }
        let kind = match event {
            Event::Open => QueuedKind::Open,
            Event::Message { text, data } => QueuedKind::Message(text, data),
            Event::Part {
                text,
                data,
                first,
                last,
                total,
            } => {
                let flags =
                    if first { WS_PART_FIRST } else { 0 } | if last { WS_PART_LAST } else { 0 };
                QueuedKind::Part(text, data, flags, total)
            }
            Event::Ping(d) => QueuedKind::Ping(d),
            Event::Pong(d) => QueuedKind::Pong(d),
            Event::Drain => QueuedKind::Drain,
            Event::Error(kind, m) => QueuedKind::Error(status_of(kind), m),
            Event::Close { code, reason } => QueuedKind::Close(code, reason),
        };
        match (cost, self.me.upgrade()) {
            (Some(cost), Some(me)) => {
                events::push(Queued::new(me, Some(conn.clone()), &kind, cost))
            }
            _ => self.invoke(Some(conn), &kind),
        }
    }

    fn wants_upgrades(&self) -> bool {
        self.callbacks.on_handshake.is_some()
    }

    /// Queues or runs `on_handshake`. If the endpoint was freed, or the
    /// callback never answers, dropping the request makes the server refuse it.
    fn upgrade(&self, request: Arc<PendingUpgrade>) {
        let kind = QueuedKind::Handshake(&request);
        let polled = self.flow_control().map(|(_, limit)| limit);
        match (polled, self.me.upgrade()) {
            (Some(limit), Some(me)) => {
                let cost = upgrade_cost(&request.request, limit);
                events::push(Queued::new(me, None, &kind, cost))
            }
            _ => self.invoke(None, &kind),
        }
    }

    fn reconnecting(&self, conn: &Arc<Connection>, attempt: Arc<Attempt>) {
        self.deliver_client_event(conn, &QueuedKind::Reconnect(&attempt));
    }

    fn reconnected(&self, conn: &Arc<Connection>, attempt: u32) {
        self.deliver_client_event(conn, &QueuedKind::Reconnected(attempt));
    }

    fn flow_control(&self) -> Option<(&'static Semaphore, u32)> {
        if self.polled {
            events::queue().ok().map(|q| (q.permits(), q.limit()))
        } else {
            None
        }
    }
}
