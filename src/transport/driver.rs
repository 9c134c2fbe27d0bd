//! The task that drives one open connection: reads frames, delivers events,
//! writes queued frames, and runs the close handshake (RFC 6455 section 7).

use super::connection::{close_frame, mask_for, CloseInfo, Command, Connection};
use super::outqueue::OutQueue;
use super::{ConnectionConfig, ErrorKind, Event, Handler};
use crate::protocol::error::ProtocolError;
use crate::protocol::frame::{encode_frame, OpCode};
use crate::protocol::receiver::{Incoming, Receiver, Role};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{sleep_until, Instant, Sleep};

/// First size of a connection's read buffer.
const READ_MIN: usize = 8 * 1024;
/// The read buffer grows (doubling, while reads fill it) up to this size.
const READ_MAX: usize = 256 * 1024;
/// While more than this many bytes wait to be written, the driver stops reading
/// and stops taking commands, so a peer that does not read cannot grow memory.
const OUT_HIGH_WATER: usize = 256 * 1024;

/// What one connection's driver needs.
pub(crate) struct Link {
    /// The shared connection.
    pub conn: Arc<Connection>,
    /// Where events go.
    pub handler: Arc<dyn Handler>,
    /// Frames and closes queued by the application.
    pub commands: UnboundedReceiver<Command>,
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
    link.conn.mark_closed(CloseInfo {
        code,
        reason: reason.clone(),
    });
    deliver(
        &*link.handler,
        &link.conn,
        Event::Close {
            code,
            reason: &reason,
        },
    )
    .await;
}

/// The keepalive of a connection (`ConnectionConfig::keepalive`): pings a
/// peer that went quiet, and says when it stayed quiet too long.
struct Keepalive {
    interval: Duration,
    /// When the peer was last heard from.
    heard: Instant,
    /// A ping went out since then.
    pinged: bool,
    /// Fires at the next time to check.
    timer: std::pin::Pin<Box<Sleep>>,
}

/// What the keepalive timer asks for when it fires.
enum KeepaliveAction {
    /// Nothing yet (the peer was heard from since the timer was set).
    Wait,
    /// Send a ping.
    Ping,
    /// The peer did not answer: fail the connection.
    Fail,
}

impl Keepalive {
    fn new(interval: Duration) -> Self {
        let now = Instant::now();
        Keepalive {
            interval,
            heard: now,
            pinged: false,
            timer: Box::pin(sleep_until(now + interval)),
        }
    }

    /// The peer was pinged and has stayed silent past the deadline.
    fn expired(&self) -> bool {
        self.pinged && Instant::now() >= self.heard + self.interval
    }

    fn heard(&mut self) {
        self.heard = Instant::now();
        self.pinged = false;
    }

    /// Called when the timer fired: re-arms it and says what to do.
    fn fired(&mut self) -> KeepaliveAction {
        let now = Instant::now();
        let quiet_until = self.heard + self.interval;
        if now < quiet_until {
            self.timer.as_mut().reset(quiet_until);
            KeepaliveAction::Wait
        } else if !self.pinged {
            self.pinged = true;
            self.timer.as_mut().reset(now + self.interval);
            KeepaliveAction::Ping
        } else {
            KeepaliveAction::Fail
        }
    }
}

/// Where the close handshake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Normal operation.
    Open,
    /// We sent a close frame and wait for the peer's.
    CloseSent,
    /// Close frames exchanged (or the connection failed): flush, then wait for
    /// the peer to close TCP, discarding anything it still sends.
    Draining,
}

/// Moves the application's queued commands (starting with `first`) into `out`
/// in order, so frames the driver adds itself (pongs, close frames) never
/// overtake messages sent before them. Stops early while `out` is over its mark.
fn take_commands(
    link: &mut Link,
    out: &mut OutQueue,
    phase: &mut Phase,
    deadline: &mut Option<Instant>,
    first: Option<Command>,
) {
    let room = |out: &OutQueue| out.len() < OUT_HIGH_WATER;
    let mut next = first.or_else(|| room(out).then(|| link.commands.try_recv().ok()).flatten());
    while let Some(cmd) = next.take() {
        match cmd {
            Command::Frame(bytes, charged) => {
                link.conn.unqueue(charged);
                if *phase == Phase::Open {
                    out.push(bytes);
                }
            }
            Command::Close(code, reason) => {
                if *phase == Phase::Open {
                    out.push_with(|v| close_frame(link.conn.role(), code, &reason, v));
                    *phase = Phase::CloseSent;
                    *deadline = Some(Instant::now() + link.config.close_timeout);
                }
            }
        }
        if room(out) {
            next = link.commands.try_recv().ok();
        }
    }
}

/// Drives a connection over its `reader` and `writer` (the two halves of a
/// TCP stream, or of any other byte stream), the handshake done and `pending`
/// holding bytes read past it, until the connection is closed; then delivers
/// the `Close` event.
pub(crate) async fn drive<R, W>(mut reader: R, mut writer: W, mut pending: Vec<u8>, mut link: Link)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let conn = link.conn.clone();
    let handler = link.handler.clone();
    let role = conn.role();
    let mut rx = Receiver::new(role, link.config.max_message_size, conn.inflater())
        .with_max_fragments(link.config.max_fragments);
    let mut out = OutQueue::default();
    let mut buf = std::mem::take(&mut pending);
    let mut filled = buf.len();
    buf.resize(filled.max(READ_MIN), 0);

    let mut phase = Phase::Open;
    let mut deadline: Option<Instant> = None;
    let mut peer_close: Option<(u16, String)> = None;
    let mut error: Option<(ErrorKind, String)> = None;
    let mut commands_open = true;
    let mut write_shut = false;
    // Bytes were written since the last flush (see the write step below).
    let mut unflushed = false;
    // The peer sent FIN: stop reading, but still flush what we owe it.
    let mut peer_eof = false;
    // A pong owed while `out` was over its mark (only the latest ping is answered).
    let mut pending_pong: Option<Vec<u8>> = None;
    // Size of the last read, to notice when traffic goes quiet.
    let mut last_read = 0;
    let mut keepalive = link.config.keepalive.map(Keepalive::new);

    if conn.mark_open() {
        deliver(&*handler, &conn, Event::Open).await;
    }

    'run: loop {
        // Decode everything that has arrived.
        if phase != Phase::Draining {
            let mut start = 0;
            let failure: Option<ProtocolError> = loop {
                let (used, incoming) = match rx.decode(&mut buf[start..filled]) {
                    Ok(r) => r,
                    Err(e) => break Some(e),
                };
                start += used;
                let Some(incoming) = incoming else { break None };
                match incoming {
                    Incoming::Text(data) => {
                        deliver(&*handler, &conn, Event::Message { text: true, data }).await
                    }
                    Incoming::Binary(data) => {
                        deliver(&*handler, &conn, Event::Message { text: false, data }).await
                    }
                    Incoming::Ping(data) => {
                        take_commands(&mut link, &mut out, &mut phase, &mut deadline, None);
                        if phase == Phase::Open && out.len() < OUT_HIGH_WATER {
                            out.push_with(|v| {
                                encode_frame(v, true, OpCode::Pong, mask_for(role), data)
                            });
                        } else if phase == Phase::Open {
                            // RFC 6455 5.5.3: answering only the latest ping is enough.
                            pending_pong = Some(data.to_vec());
                        }
                        deliver(&*handler, &conn, Event::Ping(data)).await;
                    }
                    Incoming::Pong(data) => deliver(&*handler, &conn, Event::Pong(data)).await,
                    Incoming::Close(code, reason) => {
                        take_commands(&mut link, &mut out, &mut phase, &mut deadline, None);
                        peer_close = Some((code.unwrap_or(1005), reason.to_string()));
                        if phase == Phase::Open {
                            out.push_with(|v| close_frame(role, code, "", v));
                        }
                        conn.mark_closing();
                        phase = Phase::Draining;
                        deadline = Some(Instant::now() + link.config.close_timeout);
                        break None;
                    }
                }
            };
            if let Some(e) = failure {
                let message = format!("peer violated the protocol: {e}");
                take_commands(&mut link, &mut out, &mut phase, &mut deadline, None);
                if phase == Phase::Open {
                    out.push_with(|v| close_frame(role, Some(e.code), e.reason, v));
                }
                conn.mark_closing();
                conn.mark_failed(ErrorKind::Protocol, message.clone());
                deliver(
                    &*handler,
                    &conn,
                    Event::Error(ErrorKind::Protocol, &message),
                )
                .await;
                error = Some((ErrorKind::Protocol, message));
                phase = Phase::Draining;
                deadline = Some(Instant::now() + link.config.close_timeout);
                filled = 0;
            } else if phase == Phase::Draining {
                filled = 0;
            } else {
                buf.copy_within(start..filled, 0);
                filled -= start;
            }
            // Traffic went quiet (a small read): give a grown buffer back, so an
            // idle connection keeps READ_MIN bytes whatever it once received.
            if last_read < READ_MIN / 2 && buf.len() > READ_MIN && filled <= READ_MIN {
                buf.truncate(READ_MIN);
                buf.shrink_to_fit();
            }
        }

        // Once draining and flushed, the server closes its side first.
        if phase == Phase::Draining && out.is_empty() && !write_shut && role == Role::Server {
            write_shut = true;
            // Bounded: over TLS, shutdown also writes what the TLS layer still
            // holds, which a peer that stopped reading would never take.
            let _ = tokio::time::timeout(link.config.close_timeout, writer.shutdown()).await;
        }

        if let Some(payload) = pending_pong.take_if(|_| out.len() < OUT_HIGH_WATER) {
            if phase == Phase::Open {
                out.push_with(|v| encode_frame(v, true, OpCode::Pong, mask_for(role), &payload));
            }
        }
        if peer_eof && out.is_empty() && !unflushed {
            break 'run;
        }
        // Reading never waits for writing (two peers sending large messages to
        // each other must not deadlock); what reading adds to `out` is bounded
        // (one pong, one close frame), and commands wait while `out` is full.
        let can_read = !peer_eof;
        let accept_commands = commands_open && out.len() < OUT_HIGH_WATER;
        enum Step {
            Wrote(std::io::Result<usize>),
            Flushed(std::io::Result<()>),
            Read(std::io::Result<usize>),
            Command(Option<Command>),
            CloseRequested,
            Timeout,
            Keepalive,
        }
        let step = {
            let slices = out.slices();
            // A TLS writer may take bytes into its own buffer when the socket is
            // full: once `out` is empty, flush until they are all on the socket.
            let writing = async {
                if slices.is_empty() {
                    Step::Flushed(writer.flush().await)
                } else {
                    Step::Wrote(writer.write_vectored(&slices).await)
                }
            };
            tokio::select! {
                step = writing, if !slices.is_empty() || unflushed => step,
                r = reader.read(&mut buf[filled..]), if can_read => Step::Read(r),
                c = link.commands.recv(), if accept_commands => Step::Command(c),
                _ = conn.close_requested(), if deadline.is_none() => Step::CloseRequested,
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => Step::Timeout,
                _ = async { keepalive.as_mut().unwrap().timer.as_mut().await },
                    if keepalive.is_some() && deadline.is_none() => Step::Keepalive,
            }
        };
        // The driver may have been held up (delivering to a full event queue)
        // while the peer's pong arrived: before giving up on the peer, take
        // what the socket already has.
        let step = match step {
            Step::Keepalive if can_read && keepalive.as_ref().is_some_and(Keepalive::expired) => {
                match tokio::time::timeout(Duration::ZERO, reader.read(&mut buf[filled..])).await {
                    Ok(r) => Step::Read(r),
                    Err(_) => Step::Keepalive,
                }
            }
            step => step,
        };
        match step {
            Step::Wrote(Ok(n)) => {
                out.advance(n);
                unflushed = true;
            }
            Step::Flushed(Ok(())) => unflushed = false,
            Step::Wrote(Err(e)) | Step::Flushed(Err(e)) => {
                error.get_or_insert((ErrorKind::Io, format!("write failed: {e}")));
                break 'run;
            }
            Step::Read(Ok(0)) => {
                if out.is_empty() && !unflushed {
                    break 'run;
                }
                peer_eof = true;
                deadline.get_or_insert_with(|| Instant::now() + link.config.close_timeout);
            }
            Step::Read(Ok(n)) => {
                last_read = n;
                if let Some(k) = keepalive.as_mut() {
                    k.heard();
                }
                if phase != Phase::Draining {
                    filled += n;
                    // A read that filled the buffer: more is coming, read bigger.
                    if filled == buf.len() && buf.len() < READ_MAX {
                        buf.resize(buf.len() * 2, 0);
                    }
                }
            }
            Step::Read(Err(e)) => {
                if phase != Phase::Draining {
                    error.get_or_insert((ErrorKind::Io, format!("read failed: {e}")));
                }
                break 'run;
            }
            Step::Command(None) => commands_open = false,
            Step::Command(Some(cmd)) => {
                take_commands(&mut link, &mut out, &mut phase, &mut deadline, Some(cmd))
            }
            Step::Keepalive => match keepalive.as_mut().map(Keepalive::fired) {
                Some(KeepaliveAction::Ping) => {
                    take_commands(&mut link, &mut out, &mut phase, &mut deadline, None);
                    if phase == Phase::Open {
                        out.push_with(|v| encode_frame(v, true, OpCode::Ping, mask_for(role), &[]));
                    }
                }
                Some(KeepaliveAction::Fail) => {
                    let silence = link.config.keepalive.unwrap_or_default() * 2;
                    error.get_or_insert((
                        ErrorKind::Timeout,
                        format!(
                            "the peer sent nothing for {} ms, not even a pong to our ping",
                            silence.as_millis()
                        ),
                    ));
                    break 'run;
                }
                Some(KeepaliveAction::Wait) | None => {}
            },
            Step::CloseRequested => {
                // The close frame may wait behind data the peer is slow to read:
                // the close timeout runs from the request, not from the frame.
                deadline = Some(Instant::now() + link.config.close_timeout);
            }
            Step::Timeout => {
                let why = match phase {
                    Phase::CloseSent => Some("the peer did not answer our close frame in time"),
                    Phase::Open => {
                        Some("the close frame could not be sent in time (the peer is not reading)")
                    }
                    Phase::Draining => None,
                };
                if let Some(why) = why {
                    error.get_or_insert((ErrorKind::Timeout, why.into()));
                }
                break 'run;
            }
        }
    }

    drop((reader, writer));
    let (code, reason) = match peer_close {
        Some(close) => close,
        None => (1006, String::new()),
    };
    if let Some((kind, message)) = error {
        if kind != ErrorKind::Protocol {
            conn.mark_failed(kind, message.clone());
            deliver(&*handler, &conn, Event::Error(kind, &message)).await;
        }
    }
    // Frames still queued will never be sent: give back their charge.
    link.commands.close();
    while let Ok(cmd) = link.commands.try_recv() {
        if let Command::Frame(_, charged) = cmd {
            conn.unqueue(charged);
        }
    }
    finish(&link, code, reason).await;
}
