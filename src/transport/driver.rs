//! What drives one open connection, each time its thread's scheduler polls
//! it: it reads, hands what it read to the session
//! ([`crate::protocol::session`]) and the events to the handler, writes what
//! the session queued, and runs its timer. Every protocol rule lives in the
//! session; this is only the loop around it.
//!
//! Each I/O thread owns one read buffer and one cork buffer, lent to the
//! connection it is handling: an idle connection holds neither, only the
//! start of a frame header cut by the end of its last read. Everything sent
//! while one read is handled (answers from callbacks, pongs) goes out in one
//! write after it.

use super::budget::InboundCharge;
use super::connection::{CloseInfo, Connection, ConnectionState};
use super::delivery::{deliver_or_hold, Waiting};
use super::local::Local;
use super::log::Level;
use super::opening::Link;
use super::server::Registration;
use super::stream::Transport;
use super::{memory, scheduler, ErrorKind, Event, Handler};
use crate::protocol::error::ProtocolError;
use crate::protocol::frame::MAX_HEADER_LEN;
use crate::protocol::outqueue::MAX_SLICES;
use crate::protocol::receiver::{Incoming, Payload, OVER_BUDGET_REASON};
use crate::protocol::session::{Phase, Session, Timer};
use std::cell::Cell;
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::sleep_until;

/// Size of each I/O thread's read buffer.
const READ_BUFFER: usize = 256 * 1024;
/// Size of each I/O thread's cork buffer.
const CORK_BUFFER: usize = 64 * 1024;
/// Reads one connection may handle before it lets the others on its thread run.
const READS_PER_TURN: usize = 16;

thread_local! {
    static READ_BUF: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
    static CORK_BUF: Cell<Option<Vec<u8>>> = const { Cell::new(None) };
}

/// The thread's read buffer (a fresh one if it is lent out already).
fn take_read_buffer() -> Box<[u8]> {
    READ_BUF
        .take()
        .unwrap_or_else(|| vec![0; READ_BUFFER].into_boxed_slice())
}

fn give_read_buffer(buf: Box<[u8]>) {
    READ_BUF.set(Some(buf));
}

/// Lends the thread's cork buffer to `local`'s output (when it holds nothing).
fn cork(local: &mut Local) {
    local.corked = true;
    let buf = CORK_BUF
        .take()
        .unwrap_or_else(|| Vec::with_capacity(CORK_BUFFER));
    if let Some(unused) = local.session.output_mut().lend(buf) {
        CORK_BUF.set(Some(unused));
    }
}

/// Takes the cork buffer back from `local`'s output.
fn uncork(local: &mut Local) {
    local.corked = false;
    if let Some(buf) = local.session.output_mut().take_lent() {
        CORK_BUF.set(Some(buf));
    }
}

/// Where an open connection is in its life.
pub(crate) enum Stage {
    /// Its `Open` event is next.
    Opening,
    /// Reading, writing, waiting.
    Running,
    /// It is over (because of this error, if one ended it): the socket is
    /// closed next, and the last events delivered.
    Ending(Option<Box<(ErrorKind, String)>>),
    /// Its `Close` event is next.
    Closing(Box<CloseInfo>),
    /// Everything was delivered: its state can go.
    Done,
}

/// Why the driver stopped polling.
enum Stop {
    /// The connection is over, because of this error if one ended it.
    Ended(Option<Box<(ErrorKind, String)>>),
    /// An event waits for room in the handler's queue.
    Wait(Box<Waiting>),
}

/// Starts driving a connection that just opened over `stream`, with
/// `pending` the bytes read past the handshake. Called on the connection's
/// I/O thread by the task that made the handshake, which then ends: from now
/// on the connection is polled by its thread's scheduler
/// ([`super::scheduler`]), not by a task of its own. A server connection's
/// `registration` is dropped when the connection is over.
pub(crate) fn start(
    link: Link,
    stream: Transport,
    session: Session,
    pending: Vec<u8>,
    registration: Option<Registration>,
) {
    let conn = link.conn;
    let mut session = session;
    if conn.handler().flow_control().is_some() {
        // Its events are handled on another thread: the answers to messages
        // before the peer's close frame go out before our answer to it.
        session.hold_close_answer();
    }
    *conn.local().borrow_mut() = Some(Local {
        stream,
        session,
        stage: Stage::Opening,
        corked: false,
        peer_closed_first: false,
        counted: 0,
        unflushed: false,
        one_more_message: true,
        partial: [0; MAX_HEADER_LEN],
        partial_len: 0,
        stash: (!pending.is_empty()).then(|| Box::new(pending)),
        timer: None,
        waiting: None,
        inbound: InboundCharge::new(conn.server_budgets()),
        _registration: registration,
    });
    scheduler::schedule(&conn);
}

/// Runs `f` on the connection's local state.
fn with<R>(conn: &Connection, f: impl FnOnce(&mut Local) -> R) -> R {
    let mut guard = conn.local().borrow_mut();
    f(guard
        .as_mut()
        .expect("the local state lives as long as the connection runs"))
}

/// Polls an open connection (its scheduler does, with the connection as the
/// waker): does what its stage calls for, until it has to wait. `Ready` once
/// it is over and its state is gone.
pub(crate) fn poll(conn: &Arc<Connection>, cx: &mut Context<'_>) -> Poll<()> {
    let handler = conn.handler();
    loop {
        let waiting = {
            let mut guard = conn.local().borrow_mut();
            let Some(local) = guard.as_mut() else {
                return Poll::Ready(());
            };
            local.waiting.take()
        };
        if let Some(mut waiting) = waiting {
            // An event waiting for room in the handler's queue goes first.
            if waiting.poll_deliver(conn, cx).is_pending() {
                with(conn, |local| local.waiting = Some(waiting));
                return Poll::Pending;
            }
        }
        let stage = with(conn, |local| {
            std::mem::replace(&mut local.stage, Stage::Running)
        });
        let waiting = match stage {
            Stage::Opening => {
                if conn.mark_open() {
                    log_open(conn);
                    deliver_or_hold(handler, conn, Event::Open)
                } else {
                    None
                }
            }
            Stage::Running => match poll_connection(conn, handler, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Stop::Wait(waiting)) => Some(waiting),
                Poll::Ready(Stop::Ended(error)) => {
                    with(conn, |local| local.stage = Stage::Ending(error));
                    None
                }
            },
            Stage::Ending(error) => {
                with(conn, |local| {
                    local.stream = Transport::Closed;
                    local.timer = None;
                    // What it still holds goes when its state does.
                    memory::released(local.session.queued());
                    let (code, reason) = local.session.close_status();
                    log_close(
                        conn,
                        code,
                        &reason,
                        error.is_some(),
                        local.peer_closed_first,
                    );
                    local.stage = Stage::Closing(Box::new(CloseInfo { code, reason }));
                });
                match error {
                    Some(error) => {
                        let (kind, message) = *error;
                        if kind != ErrorKind::Protocol {
                            // Protocol errors were logged with their close code.
                            crate::log!(Level::Warn, conn.id(), "failed: {message}");
                        }
                        conn.mark_failed(kind, message.clone());
                        deliver_or_hold(handler, conn, Event::Error(kind, &message))
                    }
                    None => None,
                }
            }
            Stage::Closing(info) => {
                with(conn, |local| local.stage = Stage::Done);
                conn.mark_closed((*info).clone());
                let event = Event::Close {
                    code: info.code,
                    reason: &info.reason,
                };
                deliver_or_hold(handler, conn, event)
            }
            Stage::Done => {
                // Dropped outside the borrow: dropping the registration
                // takes its server's lock.
                let local = conn.local().borrow_mut().take();
                drop(local);
                return Poll::Ready(());
            }
        };
        if let Some(waiting) = waiting {
            with(conn, |local| local.waiting = Some(waiting));
        }
    }
}

/// Logs that `conn` opened: with whom, and what the handshake settled.
fn log_open(conn: &Connection) {
    let side = match conn.role() {
        crate::protocol::receiver::Role::Server => "from",
        crate::protocol::receiver::Role::Client => "to",
    };
    crate::log!(
        Level::Info,
        conn.id(),
        "open: {side} {}, path {:?}, subprotocol {:?}, extensions {:?}{}",
        conn.peer().to_string_lossy(),
        conn.path().to_string_lossy(),
        conn.subprotocol().to_string_lossy(),
        conn.extensions().to_string_lossy(),
        if conn.is_secure() { ", over TLS" } else { "" },
    );
}

/// Logs how `conn` ended: its close code and reason, and who ended it.
fn log_close(conn: &Connection, code: u16, reason: &str, failed: bool, peer_first: bool) {
    let who = if failed {
        "the connection failed"
    } else if code == 1006 {
        "the connection ended without a close frame"
    } else if peer_first {
        "the peer closed it"
    } else {
        "we closed it and the peer answered"
    };
    crate::log!(
        Level::Info,
        conn.id(),
        "closed with {code} {reason:?}: {who}"
    );
}

/// The close code a connection ends with when the library failed it (RFC 6455 7.4.1).
const INTERNAL_ERROR: u16 = 1011;

/// Ends a connection whose polling panicked (a bug in the library): its socket
/// is closed and its state dropped (the peer sees the connection end without
/// a close frame), and the application hears of it: an internal error with
/// the panic's text, then a close with 1011 (internal error), so that nothing
/// waits for it forever.
pub(crate) fn abandon(conn: &Arc<Connection>, why: &str) {
    let local = conn
        .local()
        .try_borrow_mut()
        .ok()
        .and_then(|mut l| l.take());
    drop(local);
    if conn.state() == ConnectionState::Closed {
        return;
    }
    let message = format!("internal error: {why}");
    crate::log!(Level::Error, conn.id(), "{message}; closing with 1011");
    conn.mark_failed(ErrorKind::Internal, message.clone());
    conn.mark_closed(CloseInfo {
        code: INTERNAL_ERROR,
        reason: String::new(),
    });
    let handler = conn.handler();
    // Each on its own: a handler that panics on the error still gets the close.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        handler.event(conn, Event::Error(ErrorKind::Internal, &message));
    }));
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let close = Event::Close {
            code: INTERNAL_ERROR,
            reason: "",
        };
        handler.event(conn, close);
    }));
}

/// One turn of the connection: read and dispatch, write, run timers, until
/// nothing is ready or the turn's budget is spent.
fn poll_connection(
    conn: &Arc<Connection>,
    handler: &dyn Handler,
    cx: &mut Context<'_>,
) -> Poll<Stop> {
    let mut reads = 0;
    loop {
        let evicted = with(conn, |local| {
            if conn.has_mail() {
                local.take_mail(conn);
            }
            // Told to fail to make room for another connection's message.
            let evicted = local.inbound.evicted();
            evicted.then(|| fail_over_budget(conn, local, Instant::now()))
        });
        if let Some(e) = evicted {
            if let Some(waiting) = report_failure(conn, handler, e) {
                return Poll::Ready(Stop::Wait(waiting));
            }
        }
        let mut progress = false;
        // Nothing more to read for now (a close waiting for that can go).
        let mut dry = false;
        let over = over_the_mark(conn);
        let was_paused = with(conn, |local| {
            if !over {
                local.one_more_message = true;
            }
            !local.one_more_message
        });
        if reads < READS_PER_TURN && !was_paused {
            match poll_read(conn, handler, cx) {
                Poll::Ready(Ok(busy)) => {
                    // After a step of expensive work, let the others run.
                    reads = if busy { READS_PER_TURN } else { reads + 1 };
                    progress = true;
                }
                Poll::Ready(Err(stop)) => {
                    with(conn, uncork);
                    return Poll::Ready(stop);
                }
                Poll::Pending => dry = true,
            }
        } else if was_paused {
            dry = true;
        }
        with(conn, |local| close_when_answered(conn, local, dry));
        // One slice of deferred work (compressing a large message) per turn.
        let more_work = with(conn, |local| local.session.work());
        let wrote = with(conn, |local| {
            if !local.session.accepts_messages() {
                // Before the close frame can reach the peer: a send the
                // application makes after seeing it must be refused.
                conn.mark_closing();
            }
            let queued = local.session.queued();
            let result = poll_write(local, cx);
            if was_paused && local.session.queued() < queued {
                // Not reading, we cannot hear the peer; taking what we send
                // shows it is there, which is what keepalive asks.
                local.session.heard(Instant::now());
            }
            uncork(local);
            local.count(conn);
            result
        });
        match wrote {
            Poll::Ready(Err(e)) => {
                let why = format!("write failed: {e}");
                return Poll::Ready(Stop::Ended(Some(Box::new((ErrorKind::Io, why)))));
            }
            // The peer ended TCP, but the application may still answer
            // what came before (it is woken when it has).
            Poll::Ready(Ok(true)) if awaits_answers(conn) => {}
            Poll::Ready(Ok(true)) => return Poll::Ready(Stop::Ended(None)),
            Poll::Ready(Ok(false)) | Poll::Pending => {}
        }
        if was_paused && !over_the_mark(conn) {
            // Writing made room: read again (nothing else would wake it for that).
            progress = true;
        }
        if conn.take_drained() && conn.state() == ConnectionState::Open {
            crate::log!(Level::Debug, conn.id(), "drained to the low-water mark");
            if let Some(waiting) = deliver_or_hold(handler, conn, Event::Drain) {
                return Poll::Ready(Stop::Wait(waiting));
            }
            progress = true;
        }
        match with(conn, |local| poll_timer(local, cx)) {
            Poll::Ready(Timer::Continue) => progress = true,
            Poll::Ready(Timer::Finished) => return Poll::Ready(Stop::Ended(None)),
            Poll::Ready(Timer::Failed(why)) => {
                return Poll::Ready(Stop::Ended(Some(Box::new((ErrorKind::Timeout, why)))))
            }
            Poll::Pending => {}
        }
        if more_work || reads >= READS_PER_TURN {
            // Let the other connections of this thread run; come back after them.
            scheduler::yield_now(conn);
            return Poll::Pending;
        }
        // Writing may have made room for deferred work.
        if !progress && !with(conn, |local| local.session.has_work()) {
            return Poll::Pending;
        }
    }
}

/// Sends the close that waits for the application's answers, once they
/// can have come: our answer to the peer's close frame (held while the
/// application handles messages on another thread), or a close asked for
/// after what has arrived (`dry`: nothing more to read for now). Both wait
/// until the application's thread has dispatched every event before them;
/// what it sent in answer goes first.
fn close_when_answered(conn: &Connection, local: &mut Local, dry: bool) {
    let session = &local.session;
    let waits = session.phase() == Phase::CloseReceived || dry && session.has_pending_close();
    if !waits || conn.host_holds_events() {
        return;
    }
    if conn.has_mail() {
        local.take_mail(conn);
    }
    let now = Instant::now();
    local.session.answer_close(now);
    local.session.close_pending(now);
}

/// The peer ended TCP while the connection was open, and the application
/// has not dispatched all the events before that yet, or has sent answers
/// not taken yet: what it sends in answer still goes out (within the close
/// timeout). The answers to an event are posted before it counts as
/// dispatched, so once none is held, every answer shows as mail.
fn awaits_answers(conn: &Connection) -> bool {
    conn.state() == ConnectionState::Open && (conn.host_holds_events() || conn.has_mail())
}

/// Flow control: an open connection with more than its high-water mark
/// waiting to be sent, or paused by the application. It stops reading after
/// one more message (see `Local::one_more_message`), so TCP pushes back on
/// its peer. Closing, it reads on, to see the peer's close frame.
fn over_the_mark(conn: &Connection) -> bool {
    (conn.over_high_water() || conn.is_paused()) && conn.state() == ConnectionState::Open
}

/// Writes what is queued, flushes, and ends our side of TCP when the session
/// wants it. `Ok(true)` when the connection is finished.
fn poll_write(local: &mut Local, cx: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
    loop {
        if local.session.output().is_empty() {
            break;
        }
        let Local {
            stream, session, ..
        } = local;
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let n = session.output().io_slices(&mut slices);
        match Pin::new(&mut *stream).poll_write_vectored(cx, &slices[..n]) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(written)) => {
                session.wrote(written);
                local.unflushed = stream.needs_flush();
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
    if local.unflushed {
        match Pin::new(&mut local.stream).poll_flush(cx) {
            Poll::Ready(Ok(())) => local.unflushed = false,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
    if local.session.wants_shutdown() {
        // Over TLS this also writes the close_notify alert; a peer that does
        // not read keeps it pending until the close timeout ends the wait.
        match Pin::new(&mut local.stream).poll_shutdown(cx) {
            Poll::Ready(_) => local.session.shut_down(),
            Poll::Pending => return Poll::Pending,
        }
    }
    Poll::Ready(Ok(local.session.is_finished()))
}

/// Waits for the session's next deadline; when it comes, runs it.
fn poll_timer(local: &mut Local, cx: &mut Context<'_>) -> Poll<Timer> {
    let Some(at) = local.session.next_timer() else {
        local.timer = None;
        return Poll::Pending;
    };
    let at = tokio::time::Instant::from_std(at);
    let sleep = local.timer.get_or_insert_with(|| Box::pin(sleep_until(at)));
    if sleep.deadline() != at {
        sleep.as_mut().reset(at);
    }
    if sleep.as_mut().poll(cx).is_pending() {
        return Poll::Pending;
    }
    let now = Instant::now();
    let result = local.session.on_timer(now);
    if result == Timer::Continue && local.session.next_timer().is_some_and(|n| n <= now) {
        // Not due yet by the session's clock: look again in a moment rather
        // than spin on a timer that already fired.
        let soon = tokio::time::Instant::now() + std::time::Duration::from_millis(1);
        sleep.as_mut().reset(soon);
        return Poll::Pending;
    }
    Poll::Ready(result)
}

/// Handles bytes kept from before (or work the session has left), or reads
/// more and handles them. `Ok(busy)` when something was handled (`busy`: the
/// session has more work before it needs new bytes), `Pending` when there is
/// nothing to read.
fn poll_read(
    conn: &Arc<Connection>,
    handler: &dyn Handler,
    cx: &mut Context<'_>,
) -> Poll<Result<bool, Stop>> {
    let (mut stash, busy) = with(conn, |local| {
        let stash = local.stash.take().map(|s| *s).unwrap_or_default();
        (stash, local.session.is_busy())
    });
    if !stash.is_empty() || busy {
        return Poll::Ready(dispatch(conn, handler, &mut stash, Instant::now()));
    }
    let mut buf = take_read_buffer();
    let read = with(conn, |local| {
        if !local.session.wants_read() {
            return Poll::Pending;
        }
        let kept = usize::from(local.partial_len);
        buf[..kept].copy_from_slice(&local.partial[..kept]);
        let mut read_buf = ReadBuf::new(&mut buf[kept..]);
        match Pin::new(&mut local.stream).poll_read(cx, &mut read_buf) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok((kept, read_buf.filled().len()))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    });
    let result = match read {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Err(e)) => {
            let draining = with(conn, |local| local.session.phase() == Phase::Draining);
            let error = (!draining).then(|| Box::new((ErrorKind::Io, format!("read failed: {e}"))));
            Poll::Ready(Err(Stop::Ended(error)))
        }
        Poll::Ready(Ok((_, 0))) => {
            let now = Instant::now();
            match with(conn, |local| local.session.peer_closed(now)) {
                true if !awaits_answers(conn) => Poll::Ready(Err(Stop::Ended(None))),
                _ => Poll::Ready(Ok(false)),
            }
        }
        Poll::Ready(Ok((kept, n))) => {
            let now = Instant::now();
            with(conn, |local| {
                local.partial_len = 0;
                local.session.heard(now);
            });
            let result = dispatch(conn, handler, &mut buf[..kept + n], now);
            with(conn, |local| {
                // With keepalive on, every piece that arrives counts as
                // hearing from the peer, however slowly a frame trickles in.
                let expected = match local.session.needs_clock() {
                    true => 0,
                    false => local.session.bytes_expected(),
                };
                local.stream.expect(expected);
            });
            Poll::Ready(result)
        }
    };
    give_read_buffer(buf);
    result
}

/// Counts what the session holds of the message it receives against the
/// memory budgets (see [`InboundCharge::hold`]). False when it may not.
fn hold_inbound(conn: &Arc<Connection>, local: &mut Local) -> bool {
    let held = local.session.inbound_held();
    local.inbound.hold(held, || Waker::from(conn.clone()))
}

/// Fails the connection with 1009 for the memory budgets: the message it
/// receives would take more than they leave, or it holds the most and
/// another needs the room. Its memory goes at once.
fn fail_over_budget(conn: &Arc<Connection>, local: &mut Local, now: Instant) -> ProtocolError {
    let e = local.session.fail_with(1009, OVER_BUDGET_REASON, now);
    hold_inbound(conn, local);
    e
}

/// Tells the application that the connection failed with `e` (its close
/// frame is queued): marks it failed and closing, and hands it the error.
fn report_failure(
    conn: &Arc<Connection>,
    handler: &dyn Handler,
    e: ProtocolError,
) -> Option<Box<Waiting>> {
    let message = match e.reason {
        OVER_BUDGET_REASON => e.reason.to_string(),
        _ => format!("peer violated the protocol: {e}"),
    };
    crate::log!(
        Level::Warn,
        conn.id(),
        "failed: {message}; closing with {}",
        e.code
    );
    conn.mark_closing();
    conn.mark_failed(ErrorKind::Protocol, message.clone());
    deliver_or_hold(handler, conn, Event::Error(ErrorKind::Protocol, &message))
}

/// Decodes `buf` and delivers its events, corked: what the callbacks send
/// goes out after, in one write. Keeps what is left undecoded (an incomplete
/// frame header) for the next read, or everything left when an event has to
/// wait for room in the handler's queue, the session did a step of expensive
/// work, or flow control paused reading. `Ok(busy)`: `busy` when the session has work left.
fn dispatch(
    conn: &Arc<Connection>,
    handler: &dyn Handler,
    buf: &mut [u8],
    now: Instant,
) -> Result<bool, Stop> {
    with(conn, |local| {
        cork(local);
        local.session.set_inbound_room(local.inbound.room());
    });
    let mut pos = 0;
    let mut held = None;
    let mut busy = false;
    let mut paused_here = false;
    loop {
        let decoded = with(conn, |local| {
            let decoded = local.session.receive(&mut buf[pos..], now);
            let fits = hold_inbound(conn, local);
            match decoded {
                Ok(_) if !fits => Err(fail_over_budget(conn, local, now)),
                decoded => decoded,
            }
        });
        let (used, incoming) = match decoded {
            Ok(decoded) => decoded,
            Err(e) => {
                pos = buf.len();
                held = report_failure(conn, handler, e);
                break;
            }
        };
        pos += used;
        let Some(incoming) = incoming else {
            busy = with(conn, |local| local.session.is_busy());
            break;
        };
        let (text, payload, part) = match incoming {
            Incoming::Text(p) => (true, p, None),
            Incoming::Binary(p) => (false, p, None),
            Incoming::Part(part) => (
                part.text,
                part.payload,
                Some((part.first, part.last, part.total)),
            ),
            Incoming::Ping(p) => {
                held = deliver_or_hold(handler, conn, Event::Ping(&p));
                if held.is_some() {
                    break;
                }
                continue;
            }
            Incoming::Pong(p) => {
                held = deliver_or_hold(handler, conn, Event::Pong(&p));
                if held.is_some() {
                    break;
                }
                continue;
            }
            Incoming::Close(code, reason) => {
                let first = conn.state() == ConnectionState::Open;
                let answer_held = with(conn, |local| {
                    local.peer_closed_first = first;
                    local.session.phase() == Phase::CloseReceived
                });
                match code {
                    Some(code) => crate::log!(
                        Level::Debug,
                        conn.id(),
                        "the peer sent a close frame: {code} {reason:?}"
                    ),
                    None => crate::log!(
                        Level::Debug,
                        conn.id(),
                        "the peer sent a close frame without a code"
                    ),
                }
                if !answer_held {
                    conn.mark_closing();
                }
                continue;
            }
        };
        let ends = part.is_none_or(|(_, last, _)| last);
        conn.traffic().received(payload.len(), ends);
        let event = match part {
            None => Event::Message {
                text,
                data: &payload,
            },
            Some((first, last, total)) => Event::Part {
                text,
                data: &payload,
                first,
                last,
                total,
            },
        };
        held = deliver_or_hold(handler, conn, event);
        if let Payload::Owned(_) = payload {
            with(conn, |local| local.session.recycle(payload));
        }
        if over_the_mark(conn) {
            // The rest waits (stashed) until the connection is under the mark.
            if conn.is_paused() {
                crate::log!(
                    Level::Debug,
                    conn.id(),
                    "paused by the application: reading pauses"
                );
            } else {
                crate::log!(
                    Level::Debug,
                    conn.id(),
                    "{} bytes wait to be sent, over the high-water mark: reading pauses",
                    conn.buffered_amount()
                );
            }
            with(conn, |local| local.one_more_message = false);
            paused_here = true;
            break;
        }
        if held.is_some() {
            break;
        }
    }
    with(conn, |local| {
        let rest = &buf[pos..];
        if held.is_none() && !busy && !paused_here && rest.len() <= MAX_HEADER_LEN {
            local.partial[..rest.len()].copy_from_slice(rest);
            local.partial_len = rest.len() as u8;
        } else if !rest.is_empty() {
            local.stash = Some(Box::new(rest.to_vec()));
        }
    });
    match held {
        Some(waiting) => Err(Stop::Wait(waiting)),
        None => Ok(busy),
    }
}
