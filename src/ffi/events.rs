//! The polled event queue: events of `WS_DISPATCH_POLL` endpoints wait here until
//! the application calls `ws_dispatch()` on its own thread. A file descriptor is
//! readable while the queue is not empty ([`Wakeup`]), so the queue fits
//! select/poll/epoll loops.
//!
//! The queue is bounded in bytes: connection drivers take permits before queueing
//! (and stop reading their sockets while none are left); dispatching gives them back.
//! Log lines (`ws_set_log_dispatch`) share the queue, so they come in order with
//! the events, but never wait: they only try to take permits, and together hold
//! at most an eighth of the bound ([`Queue::try_reserve_log`]).

use super::callbacks::Endpoint;
use super::constants::ws_part_flags;
use super::polled_log::Line;
use super::status::{
    guard, guard_count, guard_status, ws_status, Failure, WS_ERR_BAD_STATE,
    WS_ERR_INVALID_ARGUMENT, WS_ERR_IO,
};
use super::wakeup::Wakeup;
use crate::transport::fork::PerProcess;
use crate::transport::upgrade::PendingUpgrade;
use crate::transport::{Attempt, Connection};
use std::collections::VecDeque;
use std::ffi::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::sync::Semaphore;

/// An event as the callbacks see it (borrowed payloads).
pub(crate) enum QueuedKind<'a> {
    Open,
    Drain,
    Message(bool, &'a [u8]),
    /// Text or binary, the piece, `WS_PART_*` flags, the message's size so far.
    Part(bool, &'a [u8], ws_part_flags, u64),
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    Error(ws_status, &'a str),
    Close(u16, &'a str),
    Handshake(&'a Arc<PendingUpgrade>),
    /// A reconnecting client's attempt, to let go ahead or cancel.
    Reconnect(&'a Arc<Attempt>),
    /// A reconnecting client's attempt of this number opened.
    Reconnected(u32),
}

/// An event as it waits in the queue (owned payloads).
enum Owned {
    Open,
    Drain,
    Message(bool, Vec<u8>),
    Part(bool, Vec<u8>, ws_part_flags, u64),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Error(ws_status, String),
    Close(u16, String),
    Handshake(Arc<PendingUpgrade>),
    Reconnect(Arc<Attempt>),
    Reconnected(u32),
}

impl Owned {
    fn borrow(&self) -> QueuedKind<'_> {
        match self {
            Owned::Open => QueuedKind::Open,
            Owned::Message(t, d) => QueuedKind::Message(*t, d),
            Owned::Part(t, d, f, n) => QueuedKind::Part(*t, d, *f, *n),
            Owned::Ping(d) => QueuedKind::Ping(d),
            Owned::Pong(d) => QueuedKind::Pong(d),
            Owned::Drain => QueuedKind::Drain,
            Owned::Error(s, m) => QueuedKind::Error(*s, m),
            Owned::Close(c, r) => QueuedKind::Close(*c, r),
            Owned::Handshake(p) => QueuedKind::Handshake(p),
            Owned::Reconnect(a) => QueuedKind::Reconnect(a),
            Owned::Reconnected(n) => QueuedKind::Reconnected(*n),
        }
    }
}

/// What a queued item delivers.
enum Item {
    /// An event of a server's or client's connection.
    Event {
        endpoint: Arc<Endpoint>,
        /// `None` for a handshake, which has no connection yet.
        conn: Option<Arc<Connection>>,
        kind: Owned,
    },
    /// A line of the library's log.
    Log(Line),
}

/// One queued item with what it needs to be dispatched.
pub(crate) struct Queued {
    item: Item,
    /// Permits taken for it, given back when it is dispatched.
    cost: u32,
}

impl Queued {
    pub fn new(
        endpoint: Arc<Endpoint>,
        conn: Option<Arc<Connection>>,
        kind: &QueuedKind<'_>,
        cost: u32,
    ) -> Self {
        let kind = match *kind {
            QueuedKind::Open => Owned::Open,
            QueuedKind::Message(t, d) => Owned::Message(t, d.to_vec()),
            QueuedKind::Part(t, d, f, n) => Owned::Part(t, d.to_vec(), f, n),
            QueuedKind::Ping(d) => Owned::Ping(d.to_vec()),
            QueuedKind::Pong(d) => Owned::Pong(d.to_vec()),
            QueuedKind::Drain => Owned::Drain,
            QueuedKind::Error(s, m) => Owned::Error(s, m.to_string()),
            QueuedKind::Close(c, r) => Owned::Close(c, r.to_string()),
            QueuedKind::Handshake(p) => Owned::Handshake(p.clone()),
            QueuedKind::Reconnect(a) => Owned::Reconnect(a.clone()),
            QueuedKind::Reconnected(n) => Owned::Reconnected(n),
        };
        Queued {
            item: Item::Event {
                endpoint,
                conn,
                kind,
            },
            cost,
        }
    }

    /// A log line, its `cost` reserved with [`Queue::try_reserve_log`].
    pub fn log(line: Line, cost: u32) -> Self {
        Queued {
            item: Item::Log(line),
            cost,
        }
    }

    /// The connection of an event (a handshake and a log line have none).
    fn conn(&self) -> Option<&Connection> {
        match &self.item {
            Item::Event { conn, .. } => conn.as_deref(),
            Item::Log(_) => None,
        }
    }

    /// True for an event of `endpoint`.
    fn is_of(&self, endpoint: &Endpoint) -> bool {
        matches!(&self.item, Item::Event { endpoint: e, .. } if e.is(endpoint))
    }

    /// Runs its callback on this thread.
    fn dispatch(&self) {
        match &self.item {
            Item::Event {
                endpoint,
                conn,
                kind,
            } => endpoint.invoke(conn.as_ref(), &kind.borrow()),
            Item::Log(line) => line.deliver(),
        }
    }
}

/// The process-wide queue.
pub(crate) struct Queue {
    items: Mutex<VecDeque<Queued>>,
    wakeup: Wakeup,
    permits: Semaphore,
    limit: u32,
    /// Bytes of permits held by queued log lines (at most `limit / 8`).
    log_bytes: AtomicUsize,
}

/// Default bound of the queue: 64 MiB of payload.
const DEFAULT_LIMIT: usize = 64 << 20;
static LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_LIMIT);

/// The queue of a process, made on first use.
struct Slot {
    /// Serializes creating the queue with `ws_event_queue_set_limit`; true once created.
    created: Mutex<bool>,
    queue: OnceLock<Result<Queue, String>>,
}

static SLOT: PerProcess<Slot> = PerProcess::new();

fn slot() -> &'static Slot {
    SLOT.get_or_init(|_| Slot {
        created: Mutex::new(false),
        queue: OnceLock::new(),
    })
}

impl Queue {
    fn create() -> Result<Queue, String> {
        let wakeup = Wakeup::new().map_err(|e| e.to_string())?;
        let limit = LIMIT.load(Ordering::Acquire).min(u32::MAX as usize) as u32;
        Ok(Queue {
            items: Mutex::new(VecDeque::new()),
            wakeup,
            permits: Semaphore::new(limit as usize),
            limit,
            log_bytes: AtomicUsize::new(0),
        })
    }

    /// Takes `cost` permits for a log line if they are free now and log lines
    /// would hold no more than an eighth of the queue; never waits.
    pub fn try_reserve_log(&self, cost: u32) -> bool {
        let budget = self.limit as usize / 8;
        let reserved = self
            .log_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(cost as usize).filter(|&n| n <= budget)
            })
            .is_ok();
        if !reserved {
            return false;
        }
        match self.permits.try_acquire_many(cost) {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => {
                self.log_bytes.fetch_sub(cost as usize, Ordering::AcqRel);
                false
            }
        }
    }

    /// Gives back what `item` held: its permits, and its share of the log
    /// budget for a log line; and tells its connection it left the queue.
    fn release(&self, item: &Queued) {
        if let Some(conn) = item.conn() {
            conn.event_dispatched();
        }
        if matches!(item.item, Item::Log(_)) {
            self.log_bytes
                .fetch_sub(item.cost as usize, Ordering::AcqRel);
        }
        self.permits.add_permits(item.cost as usize);
    }

    /// The semaphore bounding the queue.
    pub fn permits(&self) -> &Semaphore {
        &self.permits
    }

    /// The queue's size in bytes.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    fn items(&self) -> MutexGuard<'_, VecDeque<Queued>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The queue, created on first use.
pub(crate) fn queue() -> Result<&'static Queue, Failure> {
    let slot = slot();
    slot.queue
        .get_or_init(|| {
            let mut created = slot.created.lock().unwrap_or_else(|e| e.into_inner());
            *created = true;
            Queue::create()
        })
        .as_ref()
        .map_err(|e| Failure::new(WS_ERR_IO, format!("cannot create the event queue: {e}")))
}

/// Queues an item (its permits already taken). An event of a freed endpoint is
/// dropped instead: checked under the queue lock, so it cannot slip in after
/// `purge` (which runs after the endpoint is marked dead).
pub(crate) fn push(event: Queued) {
    if let Ok(q) = queue() {
        if let Some(conn) = event.conn() {
            conn.event_queued(); // until `release`
        }
        let mut items = q.items();
        if let Item::Event { endpoint, .. } = &event.item {
            if !endpoint.is_alive() {
                drop(items);
                q.release(&event);
                return;
            }
        }
        if items.is_empty() {
            q.wakeup.signal();
        }
        items.push_back(event);
    }
}

/// Drops every queued event of `endpoint` (it was freed), giving back their permits.
pub(crate) fn purge(endpoint: &Endpoint) {
    purge_where(|e| e.is_of(endpoint));
}

/// Drops every queued log line `stale` says is stale, giving back what they held.
pub(crate) fn purge_log(stale: impl Fn(&Line) -> bool) {
    purge_where(|e| matches!(&e.item, Item::Log(line) if stale(line)));
}

/// Drops every queued item `drop_it` picks, giving back what they held.
fn purge_where(drop_it: impl Fn(&Queued) -> bool) {
    let Some(Ok(q)) = SLOT.get().and_then(|s| s.queue.get()) else {
        return;
    };
    let mut items = q.items();
    let mut dropped = Vec::new();
    let mut kept = VecDeque::with_capacity(items.len());
    for item in items.drain(..) {
        if drop_it(&item) {
            dropped.push(item);
        } else {
            kept.push_back(item);
        }
    }
    *items = kept;
    if items.is_empty() {
        q.wakeup.unsignal();
    }
    drop(items);
    for item in &dropped {
        q.release(item);
    }
}

/// The file descriptor that is readable while polled events wait for
/// `ws_dispatch()`; -1 on error. Owned by the library: do not close it, only
/// wait on it (select, poll, epoll, AnyEvent, asyncio ...). It is an eventfd on
/// Linux, and the read end of a pipe where eventfd is missing or refused, or
/// when the environment variable `WS_EVENT_FD` is `pipe` as the queue is made.
#[no_mangle]
pub extern "C" fn ws_event_fd() -> c_int {
    guard(-1, || Ok(queue()?.wakeup.fd()))
}

/// Runs the callbacks of up to `max_events` queued events (of all that are
/// queued when called, if `max_events` <= 0) on the calling thread, one at a
/// time and in order (a callback may itself call `ws_dispatch`: the order holds).
/// Log lines queued by `ws_set_log_dispatch(WS_DISPATCH_POLL)` are events too:
/// their log callback runs here, in order with the others.
/// Returns how many events were taken from the queue (0 when none waited; it
/// never blocks), or a negative status. Events of a freed server or client are
/// taken and dropped without a callback.
#[no_mangle]
pub extern "C" fn ws_dispatch(max_events: c_int) -> c_int {
    guard_count(|| {
        let q = queue()?;
        let limit = if max_events <= 0 {
            q.items().len()
        } else {
            max_events as usize
        };
        let mut count = 0;
        while count < limit {
            let event = {
                let mut items = q.items();
                let Some(event) = items.pop_front() else {
                    break;
                };
                if items.is_empty() {
                    q.wakeup.unsignal();
                }
                event
            };
            count += 1;
            // Give the permits back even if the callback unwinds.
            let _permits = GiveBack(q, &event);
            event.dispatch();
        }
        Ok(count.min(c_int::MAX as usize) as c_int)
    })
}

/// Gives back what a dispatched item held when dropped.
struct GiveBack<'a>(&'a Queue, &'a Queued);

impl Drop for GiveBack<'_> {
    fn drop(&mut self) {
        self.0.release(self.1);
    }
}

/// Sets the bound of the polled event queue in bytes (default 64 MiB; at least
/// 64 KiB). A message larger than the bound is still queued, alone: the queue
/// holds at most the bound or one message, whichever is larger. Only before the queue is first used (before any `WS_DISPATCH_POLL`
/// endpoint exists or `ws_event_fd()` is called); `WS_ERR_BAD_STATE` after.
#[no_mangle]
pub extern "C" fn ws_event_queue_set_limit(bytes: usize) -> ws_status {
    guard_status(|| {
        if !(64 * 1024..=u32::MAX as usize).contains(&bytes) {
            return Err(Failure::new(
                WS_ERR_INVALID_ARGUMENT,
                "event queue limit must be between 64 KiB and 4 GiB",
            ));
        }
        let created = slot().created.lock().unwrap_or_else(|e| e.into_inner());
        if *created {
            return Err(Failure::new(
                WS_ERR_BAD_STATE,
                "the event queue is already in use; set its limit before the first polled endpoint",
            ));
        }
        LIMIT.store(bytes, Ordering::Release);
        Ok(())
    })
}
