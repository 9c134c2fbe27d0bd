//! The task that drives one open connection: it reads, hands what it read to
//! the session ([`crate::protocol::session`]) and the events to the handler,
//! writes what the session queued, and waits. Every protocol rule lives in the
//! session; this is only the loop around it.
//!
//! Each I/O thread owns one read buffer and one cork buffer, lent to the
//! connection it is handling: an idle connection holds neither, only the
//! start of a frame header cut by the end of its last read. Everything sent
//! while one read is handled (answers from callbacks, pongs) goes out in one
//! write after it.

use super::connection::{CloseInfo, Connection, Local};
use super::stream::Transport;
use super::{ConnectionConfig, ErrorKind, Event, Handler};
use crate::protocol::deflate::{Compressor, Decompressor, DeflateConfig, DeflateParams};
use crate::protocol::frame::MAX_HEADER_LEN;
use crate::protocol::outqueue::MAX_SLICES;
use crate::protocol::receiver::{Incoming, Payload, Role};
use crate::protocol::session::{Phase, Session, SessionConfig, Timer};
use crate::transport::random;
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::TryAcquireError;
use tokio::time::{sleep_until, Sleep};

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

/// What one connection's task needs.
pub(crate) struct Link {
    /// The shared connection.
    pub conn: Arc<Connection>,
    /// Where events go.
    pub handler: Arc<dyn Handler>,
    /// Limits and timeouts.
    pub config: ConnectionConfig,
}

/// Permits an event costs in a bounded event queue of `limit` bytes.
pub fn event_cost(event: &Event<'_>, limit: u32) -> u32 {
    let payload = match event {
        Event::Message { data, .. } => data.len(),
        Event::Ping(d) | Event::Pong(d) => d.len(),
        Event::Error(_, m) => m.len(),
        Event::Close { reason, .. } => reason.len(),
        Event::Open => 0,
    };
    (payload.saturating_add(256)).min(limit as usize) as u32
}

/// Hands `event` to the handler, first waiting for room in its queue if it has one.
pub(crate) async fn deliver(handler: &dyn Handler, conn: &Arc<Connection>, event: Event<'_>) {
    if let Some((queue, limit)) = handler.flow_control() {
        if let Ok(permit) = queue.acquire_many(event_cost(&event, limit)).await {
            permit.forget();
        }
    }
    handler.event(conn, event);
}

/// Delivers the error and the final close of a connection that never opened:
/// 1015 when TLS failed, 1006 otherwise.
pub(crate) async fn fail_before_open(link: &Link, kind: ErrorKind, message: String) {
    link.conn.mark_failed(kind, message.clone());
    deliver(&*link.handler, &link.conn, Event::Error(kind, &message)).await;
    let code = if kind == ErrorKind::Tls { 1015 } else { 1006 };
    finish(link, code, String::new()).await;
}

/// Marks the connection closed and delivers its `Close` event.
pub(crate) async fn finish(link: &Link, code: u16, reason: String) {
    close(&link.conn, &*link.handler, code, reason).await
}

async fn close(conn: &Arc<Connection>, handler: &dyn Handler, code: u16, reason: String) {
    conn.mark_closed(CloseInfo {
        code,
        reason: reason.clone(),
    });
    let event = Event::Close {
        code,
        reason: &reason,
    };
    deliver(handler, conn, event).await;
}

/// The session of a connection that just opened, with permessage-deflate
/// when the handshake negotiated it (`deflate`).
pub(crate) fn open_session(
    role: Role,
    config: &ConnectionConfig,
    deflate: Option<(&DeflateConfig, &DeflateParams)>,
) -> Session {
    let session_config = SessionConfig {
        role,
        max_message_size: config.max_message_size,
        max_fragments: config.max_fragments,
        close_timeout: config.close_timeout,
        keepalive: config.keepalive,
    };
    let session = Session::new(&session_config, random::mask_key, Instant::now());
    let Some((dc, params)) = deflate else {
        return session;
    };
    let (ours, theirs) = match role {
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
    session.with_deflate(
        Compressor::new(ours.0, ours.1, dc.level, dc.mem_level),
        config.compression_threshold,
        Decompressor::new(theirs.0, theirs.1),
    )
}

/// An event kept until there is room for it in the handler's queue.
enum Held {
    Message(bool, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Error(ErrorKind, String),
}

impl Held {
    fn new(event: &Event<'_>) -> Held {
        match *event {
            Event::Message { text, data } => Held::Message(text, data.to_vec()),
            Event::Ping(d) => Held::Ping(d.to_vec()),
            Event::Pong(d) => Held::Pong(d.to_vec()),
            Event::Error(kind, m) => Held::Error(kind, m.to_string()),
            Event::Open | Event::Close { .. } => {
                unreachable!("open and close are delivered by the task itself")
            }
        }
    }

    fn event(&self) -> Event<'_> {
        match self {
            Held::Message(text, data) => Event::Message { text: *text, data },
            Held::Ping(d) => Event::Ping(d),
            Held::Pong(d) => Event::Pong(d),
            Held::Error(kind, m) => Event::Error(*kind, m),
        }
    }
}

/// Why the driver stopped polling.
enum Stop {
    /// The connection is over, because of this error if one ended it.
    Ended(Option<(ErrorKind, String)>),
    /// This event waits for room in the handler's queue (this many permits).
    Wait(Held, u32),
}

/// Starts the task of a connection that just opened over `stream`, with
/// `pending` the bytes read past the handshake. Called on the connection's
/// I/O thread, by the task that made the handshake, which then ends: the
/// connection's own task holds little more than its two handles, so an idle
/// connection costs only its state. `keep` is dropped when the connection
/// has closed (a server's registration of it).
pub(crate) fn start(
    link: Link,
    stream: Transport,
    session: Session,
    pending: Vec<u8>,
    keep: impl Send + 'static,
) {
    let Link { conn, handler, .. } = link;
    *conn.local().borrow_mut() = Some(Local {
        stream,
        session,
        corked: false,
        counted: 0,
        waker: None,
        unflushed: false,
        partial: [0; MAX_HEADER_LEN],
        partial_len: 0,
        stash: pending,
    });
    tokio::spawn(async move {
        drive(conn, handler).await;
        drop(keep);
    });
}

/// Runs an open connection until it is closed; then delivers the `Close` event.
async fn drive(conn: Arc<Connection>, handler: Arc<dyn Handler>) {
    if conn.mark_open() {
        deliver(&*handler, &conn, Event::Open).await;
    }
    let mut timer = None;
    let ended = loop {
        let stop = poll_fn(|cx| poll_connection(&conn, &*handler, &mut timer, cx)).await;
        match stop {
            Stop::Ended(error) => break error,
            Stop::Wait(held, cost) => {
                if let Some((queue, _)) = handler.flow_control() {
                    if let Ok(permit) = queue.acquire_many(cost).await {
                        permit.forget();
                    }
                }
                handler.event(&conn, held.event());
            }
        }
    };
    let local = conn.local().borrow_mut().take();
    let (code, reason) = local.map_or((1006, String::new()), |l| l.session.close_status());
    if let Some((kind, message)) = ended {
        conn.mark_failed(kind, message.clone());
        deliver(&*handler, &conn, Event::Error(kind, &message)).await;
    }
    close(&conn, &*handler, code, reason).await;
}

/// Runs `f` on the connection's local state.
fn with<R>(conn: &Connection, f: impl FnOnce(&mut Local) -> R) -> R {
    let mut guard = conn.local().borrow_mut();
    f(guard
        .as_mut()
        .expect("the local state lives as long as the driver"))
}

/// One turn of the connection: read and dispatch, write, run timers, until
/// nothing is ready or the turn's budget is spent.
fn poll_connection(
    conn: &Arc<Connection>,
    handler: &dyn Handler,
    timer: &mut Option<Pin<Box<Sleep>>>,
    cx: &mut Context<'_>,
) -> Poll<Stop> {
    let mut reads = 0;
    loop {
        with(conn, |local| {
            if !local
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                local.waker = Some(cx.waker().clone());
                conn.inbox().waker = Some(cx.waker().clone());
            }
            if conn.has_mail() {
                local.take_mail(conn);
            }
        });
        let mut progress = false;
        if reads < READS_PER_TURN {
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
                Poll::Pending => {}
            }
        }
        // One slice of deferred work (compressing a large message) per turn.
        let more_work = with(conn, |local| local.session.work());
        let wrote = with(conn, |local| {
            let result = poll_write(local, cx);
            uncork(local);
            local.count(conn);
            if local.session.phase() != Phase::Open {
                conn.mark_closing();
            }
            result
        });
        match wrote {
            Poll::Ready(Err(e)) => {
                return Poll::Ready(Stop::Ended(Some((
                    ErrorKind::Io,
                    format!("write failed: {e}"),
                ))))
            }
            Poll::Ready(Ok(true)) => return Poll::Ready(Stop::Ended(None)),
            Poll::Ready(Ok(false)) | Poll::Pending => {}
        }
        match poll_timer(conn, timer, cx) {
            Poll::Ready(Timer::Continue) => progress = true,
            Poll::Ready(Timer::Finished) => return Poll::Ready(Stop::Ended(None)),
            Poll::Ready(Timer::Failed(why)) => {
                return Poll::Ready(Stop::Ended(Some((ErrorKind::Timeout, why))))
            }
            Poll::Pending => {}
        }
        if more_work || reads >= READS_PER_TURN {
            yield_turn(cx);
            return Poll::Pending;
        }
        // Writing may have made room for deferred work.
        if !progress && !with(conn, |local| local.session.has_work()) {
            return Poll::Pending;
        }
    }
}

/// Lets the other connections of this thread run and comes back after them:
/// the wake-up is deferred until the runtime has looked for new I/O events, so
/// even a connection with endless work cannot keep new ones waiting.
fn yield_turn(cx: &mut Context<'_>) {
    let mut yielded = std::pin::pin!(tokio::task::yield_now());
    let _ = yielded.as_mut().poll(cx);
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
fn poll_timer(
    conn: &Connection,
    timer: &mut Option<Pin<Box<Sleep>>>,
    cx: &mut Context<'_>,
) -> Poll<Timer> {
    let Some(at) = with(conn, |local| local.session.next_timer()) else {
        *timer = None;
        return Poll::Pending;
    };
    let at = tokio::time::Instant::from_std(at);
    let sleep = timer.get_or_insert_with(|| Box::pin(sleep_until(at)));
    if sleep.deadline() != at {
        sleep.as_mut().reset(at);
    }
    if sleep.as_mut().poll(cx).is_pending() {
        return Poll::Pending;
    }
    let now = Instant::now();
    let (result, next) = with(conn, |local| {
        (local.session.on_timer(now), local.session.next_timer())
    });
    if result == Timer::Continue && next.is_some_and(|n| n <= now) {
        // Not due yet by the session's clock: look again in a moment rather
        // than spin on a timer that already fired.
        sleep
            .as_mut()
            .reset(tokio::time::Instant::now() + std::time::Duration::from_millis(1));
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
        (std::mem::take(&mut local.stash), local.session.is_busy())
    });
    if !stash.is_empty() || busy {
        return Poll::Ready(dispatch(conn, handler, &mut stash, Instant::now()));
    }
    let mut buf = take_read_buffer();
    let read = with(conn, |local| {
        if !local.session.wants_read() {
            return Poll::Pending;
        }
        let kept = local.partial_len;
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
            let error = (!draining).then(|| (ErrorKind::Io, format!("read failed: {e}")));
            Poll::Ready(Err(Stop::Ended(error)))
        }
        Poll::Ready(Ok((_, 0))) => {
            let now = Instant::now();
            match with(conn, |local| local.session.peer_closed(now)) {
                true => Poll::Ready(Err(Stop::Ended(None))),
                false => Poll::Ready(Ok(false)),
            }
        }
        Poll::Ready(Ok((kept, n))) => {
            let now = Instant::now();
            with(conn, |local| {
                local.partial_len = 0;
                local.session.heard(now);
            });
            Poll::Ready(dispatch(conn, handler, &mut buf[..kept + n], now))
        }
    };
    give_read_buffer(buf);
    result
}

/// Decodes `buf` and delivers its events, corked: what the callbacks send
/// goes out after, in one write. Keeps what is left undecoded (an incomplete
/// frame header) for the next read, or everything left when an event has to
/// wait for room in the handler's queue or the session did a step of
/// expensive work. `Ok(busy)`: `busy` when the session has work left.
fn dispatch(
    conn: &Arc<Connection>,
    handler: &dyn Handler,
    buf: &mut [u8],
    now: Instant,
) -> Result<bool, Stop> {
    with(conn, cork);
    let flow = handler.flow_control();
    let mut pos = 0;
    let mut held = None;
    let mut busy = false;
    loop {
        let decoded = with(conn, |local| local.session.receive(&mut buf[pos..], now));
        let (used, incoming) = match decoded {
            Ok(decoded) => decoded,
            Err(e) => {
                pos = buf.len();
                let message = format!("peer violated the protocol: {e}");
                conn.mark_closing();
                conn.mark_failed(ErrorKind::Protocol, message.clone());
                let event = Event::Error(ErrorKind::Protocol, &message);
                held = deliver_now(handler, conn, flow, event);
                break;
            }
        };
        pos += used;
        let Some(incoming) = incoming else {
            busy = with(conn, |local| local.session.is_busy());
            break;
        };
        let (event, payload) = match incoming {
            Incoming::Text(p) => (true, p),
            Incoming::Binary(p) => (false, p),
            Incoming::Ping(p) => {
                held = deliver_now(handler, conn, flow, Event::Ping(&p));
                if held.is_some() {
                    break;
                }
                continue;
            }
            Incoming::Pong(p) => {
                held = deliver_now(handler, conn, flow, Event::Pong(&p));
                if held.is_some() {
                    break;
                }
                continue;
            }
            Incoming::Close(..) => {
                conn.mark_closing();
                continue;
            }
        };
        held = deliver_now(
            handler,
            conn,
            flow,
            Event::Message {
                text: event,
                data: &payload,
            },
        );
        if let Payload::Owned(_) = payload {
            with(conn, |local| local.session.recycle(payload));
        }
        if held.is_some() {
            break;
        }
    }
    with(conn, |local| {
        let rest = &buf[pos..];
        if held.is_none() && !busy && rest.len() <= MAX_HEADER_LEN {
            local.partial[..rest.len()].copy_from_slice(rest);
            local.partial_len = rest.len();
        } else {
            local.stash = rest.to_vec();
        }
    });
    match held {
        Some((held, cost)) => Err(Stop::Wait(held, cost)),
        None => Ok(busy),
    }
}

/// Delivers `event` now if the handler's queue has room for it (or it has
/// none); otherwise returns it, owned, with the permits it needs.
fn deliver_now(
    handler: &dyn Handler,
    conn: &Arc<Connection>,
    flow: Option<(&tokio::sync::Semaphore, u32)>,
    event: Event<'_>,
) -> Option<(Held, u32)> {
    if let Some((queue, limit)) = flow {
        let cost = event_cost(&event, limit);
        match queue.try_acquire_many(cost) {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => return Some((Held::new(&event), cost)),
            Err(TryAcquireError::Closed) => {}
        }
    }
    handler.event(conn, event);
    None
}
