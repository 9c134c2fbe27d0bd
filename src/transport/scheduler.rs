//! Runs the open connections of each I/O thread.
//!
//! An open connection is not a tokio task: it is its own waker. Waking it puts
//! it on its thread's run queue (once, however often it is woken), and one
//! task per I/O thread, the runner, polls the queued connections in turn. So
//! an idle connection costs its state and its socket's registration, and no
//! task; a wake-up on the connection's own thread is a push on a local queue.
//!
//! A connection that has more work than one turn allows asks to yield
//! ([`yield_now`]): it goes to the back of the queue, and the runner lets the
//! rest of the thread (handshakes, timers, new I/O events) run before it polls
//! again, so one busy connection cannot keep the others waiting.

use super::connection::Connection;
use super::fork::PerProcess;
use super::{driver, reactor, runtime};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Connections one turn of the runner polls before it lets the thread's other
/// tasks run.
const TURN: usize = 128;

/// Work handed to an I/O thread, run there on its runner's next turn.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The part of a thread's run queue other threads reach.
struct Remote {
    /// Connections woken from other threads.
    woken: Mutex<Vec<Arc<Connection>>>,
    /// Jobs handed over by other threads ([`run_on`]).
    jobs: Mutex<Vec<Job>>,
    /// `woken` or `jobs` has entries (read without the lock).
    pending: AtomicBool,
    /// The runner's waker, once it runs.
    runner: Mutex<Option<Waker>>,
    /// The runner task was spawned.
    started: AtomicBool,
}

/// One per I/O thread (a child process gets its own, for its own threads).
static REMOTES: PerProcess<Box<[Remote]>> = PerProcess::new();

thread_local! {
    /// Connections woken on this thread, in order.
    static QUEUE: RefCell<VecDeque<Arc<Connection>>> = const { RefCell::new(VecDeque::new()) };
    /// The runner is polling connections right now.
    static RUNNING: Cell<bool> = const { Cell::new(false) };
    /// The connection being polled asked to yield.
    static YIELD: Cell<bool> = const { Cell::new(false) };
    /// This thread's runner waker, to wake it without a lock.
    static RUNNER: RefCell<Option<Waker>> = const { RefCell::new(None) };
}

fn remotes() -> &'static [Remote] {
    REMOTES.get_or_init(|_| {
        let threads = runtime::thread_count().unwrap_or(1);
        (0..threads)
            .map(|_| Remote {
                woken: Mutex::new(Vec::new()),
                jobs: Mutex::new(Vec::new()),
                pending: AtomicBool::new(false),
                runner: Mutex::new(None),
                started: AtomicBool::new(false),
            })
            .collect()
    })
}

/// The remote side of I/O thread `thread`'s queue, its runner started.
fn remote(thread: usize) -> &'static Remote {
    let all = remotes();
    let remote = &all[thread % all.len()];
    if !remote.started.swap(true, Ordering::AcqRel) {
        if let Ok(handle) = runtime::handle(thread) {
            handle.spawn(run(thread));
        }
    }
    remote
}

impl Wake for Connection {
    fn wake(self: Arc<Self>) {
        schedule(&self);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        schedule(self);
    }
}

/// Queues `conn` to be polled on its I/O thread (once: it may already be).
pub(crate) fn schedule(conn: &Arc<Connection>) {
    if conn.scheduled.swap(true, Ordering::AcqRel) {
        return;
    }
    let thread = conn.thread();
    if runtime::current() == Some(thread) {
        let remote = remote(thread);
        QUEUE.with(|q| q.borrow_mut().push_back(conn.clone()));
        if !RUNNING.get() {
            let woke = RUNNER.with(|r| r.borrow().as_ref().map(Waker::wake_by_ref));
            if woke.is_none() {
                wake_runner(remote);
            }
        }
    } else {
        let remote = remote(thread);
        remote
            .woken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn.clone());
        if !remote.pending.swap(true, Ordering::AcqRel) {
            wake_runner(remote);
        }
    }
}

/// Runs `job` on I/O thread `thread`, on its runner's next turn, before
/// the connections it polls then (for one hand-over to many of them).
pub(crate) fn run_on(thread: usize, job: Job) {
    let remote = remote(thread);
    remote
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(job);
    if !remote.pending.swap(true, Ordering::AcqRel) {
        wake_runner(remote);
    }
}

fn wake_runner(remote: &Remote) {
    let runner = remote.runner.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(waker) = runner.as_ref() {
        waker.wake_by_ref();
    }
}

/// Called by a connection being polled: poll it again later, after the rest
/// of the thread had its turn.
pub(crate) fn yield_now(conn: &Arc<Connection>) {
    YIELD.set(true);
    schedule(conn);
}

/// The text of a caught panic ("unknown panic" when it carried no string).
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The runner of I/O thread `thread`.
async fn run(thread: usize) {
    poll_fn(|cx| turn(thread, cx)).await
}

/// One turn of the runner: polls what is queued, up to [`TURN`] connections.
fn turn(thread: usize, cx: &mut Context<'_>) -> Poll<()> {
    let remote = remote(thread);
    let known = RUNNER.with(|r| r.borrow().as_ref().is_some_and(|w| w.will_wake(cx.waker())));
    if !known {
        RUNNER.with(|r| *r.borrow_mut() = Some(cx.waker().clone()));
        *remote.runner.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
    }
    let mut jobs = Vec::new();
    if remote.pending.swap(false, Ordering::AcqRel) {
        let woken = std::mem::take(&mut *remote.woken.lock().unwrap_or_else(|e| e.into_inner()));
        QUEUE.with(|q| q.borrow_mut().extend(woken));
        jobs = std::mem::take(&mut *remote.jobs.lock().unwrap_or_else(|e| e.into_inner()));
    }
    RUNNING.set(true);
    for job in jobs {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
            crate::log!(
                super::log::Level::Error,
                0,
                "internal error in a job of I/O thread {thread}: {}",
                panic_text(&*panic)
            );
        }
    }
    // Sockets that became readable or writable wake their connections.
    let more_events = reactor::poll_events(cx, schedule);
    let mut polled = 0;
    while polled < TURN {
        let Some(conn) = QUEUE.with(|q| q.borrow_mut().pop_front()) else {
            break;
        };
        // Cleared first: a wake-up during the poll queues it again.
        conn.scheduled.store(false, Ordering::Release);
        let waker = Waker::from(conn.clone());
        let poll = || driver::poll(&conn, &mut Context::from_waker(&waker));
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(poll)) {
            // A bug: it must not take the thread's other connections with it.
            driver::abandon(&conn, &panic_text(&*panic));
        }
        polled += 1;
        if YIELD.replace(false) {
            break;
        }
    }
    RUNNING.set(false);
    let more = more_events
        || QUEUE.with(|q| !q.borrow().is_empty())
        || remote.pending.load(Ordering::Acquire);
    if more {
        // Come back after the runtime has looked for new I/O events, so that
        // connections with endless work do not keep new ones waiting.
        let mut yielded = std::pin::pin!(tokio::task::yield_now());
        let _ = yielded.as_mut().poll(cx);
    }
    Poll::Pending
}
