//! Log lines in `WS_DISPATCH_POLL` mode (`ws_set_log_dispatch`): queued in the
//! polled event queue by the thread that logs, delivered inside `ws_dispatch()`.
//!
//! A thread that logs never waits: a line that finds no room is dropped and
//! counted, and the next line queued carries the count, so that a WARN line
//! saying how many were dropped is delivered just before it. Each line carries
//! the generation of the callback it was logged for; `ws_set_log_callback`
//! starts a new generation, drops the queued lines of older ones and waits
//! for a line being delivered, so no line reaches a replaced callback's
//! `user_data` after the call returns.

use super::events::{self, Queued};
use super::log::Target;
use crate::transport::fork::PerProcess;
use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Permits a line costs beyond its text (what the queue holds for it).
const LINE_OVERHEAD: usize = 64;

/// The generation of the current log callback: lines of older ones are not
/// delivered.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Lines dropped since the last line queued.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Held while a queued line's callback runs, so that replacing the callback
/// can wait for it (one per process, see `transport::fork`).
static DELIVERING: PerProcess<Mutex<()>> = PerProcess::new();

/// [`DELIVERING`], taken.
fn delivering() -> MutexGuard<'static, ()> {
    DELIVERING
        .get_or_init(|_| Mutex::new(()))
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    /// This thread holds `DELIVERING` (a log callback calling `ws_dispatch` or
    /// `ws_set_log_callback`): it must not wait for itself.
    static HOLDS_DELIVERING: Cell<bool> = const { Cell::new(false) };
}

/// A log line waiting in the event queue.
pub(crate) struct Line {
    target: Target,
    generation: u64,
    level: i32,
    conn_id: u64,
    text: CString,
    /// Lines dropped just before this one, for want of room.
    dropped_before: u64,
}

/// The generation a callback set now gets (the current one plus 1); it
/// becomes current with [`make_current`].
pub(crate) fn next_generation() -> u64 {
    GENERATION.load(Ordering::Acquire) + 1
}

/// Queues a line for `target` of `generation`, or drops and counts it when
/// the queue has no room for it. Never waits.
pub(crate) fn queue(target: Target, generation: u64, level: i32, conn_id: u64, text: &CStr) {
    let Ok(q) = events::queue() else {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let cost = (text.to_bytes().len() + LINE_OVERHEAD).min(q.limit() as usize) as u32;
    if !q.try_reserve_log(cost) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let line = Line {
        target,
        generation,
        level,
        conn_id,
        text: text.to_owned(),
        dropped_before: DROPPED.swap(0, Ordering::Relaxed),
    };
    events::push(Queued::log(line, cost));
}

/// Makes `generation` current (its callback is set): drops the queued lines
/// of older callbacks and the count of dropped lines. Called with the
/// setter's lock held, so generations become current in the order they
/// were handed out.
pub(crate) fn make_current(generation: u64) {
    GENERATION.store(generation, Ordering::Release);
    events::purge_log(|line| line.generation < generation);
    DROPPED.store(0, Ordering::Relaxed);
}

/// Waits until no line is being delivered on another thread (one already
/// taken by a `ws_dispatch` there may be reaching an older callback).
pub(crate) fn wait_for_delivery() {
    if !HOLDS_DELIVERING.with(Cell::get) {
        drop(delivering());
    }
}

impl Line {
    /// Calls its callback on this thread (inside `ws_dispatch`), after a WARN
    /// line counting the lines dropped before it, unless the callback was
    /// replaced since.
    pub(crate) fn deliver(&self) {
        let _held = (!HOLDS_DELIVERING.with(Cell::get)).then(Holding::take);
        if self.generation < GENERATION.load(Ordering::Acquire) {
            return;
        }
        if self.dropped_before > 0 {
            let warning = CString::new(format!(
                "dropped {} log lines: the event queue had no room for them \
                 (call ws_dispatch more often, or raise ws_event_queue_set_limit)",
                self.dropped_before
            ))
            .unwrap_or_default();
            self.target.call(super::log::WS_LOG_WARN, 0, &warning);
        }
        self.target.call(self.level, self.conn_id, &self.text);
    }
}

/// `DELIVERING`, held by this thread until dropped (also if the callback
/// unwinds).
struct Holding {
    _guard: MutexGuard<'static, ()>,
}

impl Holding {
    fn take() -> Holding {
        let guard = delivering();
        HOLDS_DELIVERING.with(|h| h.set(true));
        Holding { _guard: guard }
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        HOLDS_DELIVERING.with(|h| h.set(false));
    }
}
