//! What a connection needs before it opens: its options, the session it
//! opens with, the end of one that never opens, and the supervision of the
//! task that opens it.

use super::connection::{CloseInfo, Connection};
use super::delivery::deliver;
use super::log::Level;
use super::{driver, panic_text, ConnectionConfig, ErrorKind, Event};
use crate::protocol::deflate::{Compressor, Decompressor, DeflateConfig, DeflateParams};
use crate::protocol::receiver::Role;
use crate::protocol::session::{Session, SessionConfig};
use crate::transport::random;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

thread_local! {
    /// The connection of the opening task being polled on this thread, if it
    /// has one yet (see [`supervised`]).
    static OPENING: RefCell<Option<Arc<Connection>>> = const { RefCell::new(None) };
}

/// Names the connection the running opening task works for: if the task
/// panics from now on, that connection is ended and its application told.
pub(crate) fn opening(conn: &Arc<Connection>) {
    OPENING.with(|o| *o.borrow_mut() = Some(conn.clone()));
}

/// Runs the task that opens a connection (`conn`, or the one it names with
/// [`opening`] once it has made it: a server learns it only when it accepts
/// the request). A panic in it (a bug in the library) ends that connection
/// as [`driver::abandon`] does: an internal error with the panic's text, then
/// a close with 1011; never a connection whose `Close` never comes.
///
/// The task is held in place, not copied: an `async fn` wrapper would keep
/// the task's state two or three times over (its argument, its pinned copy,
/// its closure's), in every handshake under way.
pub(crate) fn supervised<F: Future<Output = ()>>(
    task: F,
    conn: Option<Arc<Connection>>,
) -> Supervised<F> {
    Supervised { task, conn }
}

/// The future [`supervised`] returns.
pub(crate) struct Supervised<F> {
    task: F,
    conn: Option<Arc<Connection>>,
}

impl<F: Future<Output = ()>> Future for Supervised<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `task` is pinned structurally: it is only ever reached
        // through this pinned projection, never moved out, and `Supervised`
        // has no `Drop` of its own and is `Unpin` only when `F` is.
        let this = unsafe { self.get_unchecked_mut() };
        let mut task = unsafe { Pin::new_unchecked(&mut this.task) };
        let outer = OPENING.with(|o| o.replace(this.conn.take()));
        let polled = catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(cx)));
        this.conn = OPENING.with(|o| o.replace(outer));
        match polled {
            Ok(poll) => poll,
            Err(panic) => {
                if let Some(conn) = this.conn.take() {
                    driver::abandon(&conn, &panic_text(&*panic));
                }
                Poll::Ready(())
            }
        }
    }
}

/// A connection being opened, and its options.
pub(crate) struct Link {
    /// The shared connection.
    pub conn: Arc<Connection>,
    /// Limits and timeouts.
    pub config: ConnectionConfig,
}

/// Delivers the error and the final close of a connection that never opened:
/// 1015 when TLS failed, 1006 otherwise.
pub(crate) async fn fail_before_open(link: &Link, kind: ErrorKind, message: String) {
    crate::log!(
        Level::Warn,
        link.conn.id(),
        "failed before opening: {message}"
    );
    link.conn.mark_failed(kind, message.clone());
    deliver(&link.conn, Event::Error(kind, &message)).await;
    let code = if kind == ErrorKind::Tls { 1015 } else { 1006 };
    finish(link, code, String::new()).await;
}

/// Marks a connection that never opened closed and delivers its `Close` event.
pub(crate) async fn finish(link: &Link, code: u16, reason: String) {
    crate::log!(
        Level::Info,
        link.conn.id(),
        "closed with {code} before opening"
    );
    link.conn.mark_closed(CloseInfo {
        code,
        reason: reason.clone(),
    });
    let event = Event::Close {
        code,
        reason: &reason,
    };
    deliver(&link.conn, event).await;
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
        receive_parts: config.receive_parts,
        auto_pong: config.auto_pong,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervising_a_task_does_not_copy_its_state() {
        // Every handshake under way holds its task: the guard around it must
        // add a few words, not copies of the task.
        let state = [7u8; 1000];
        let task = async move {
            std::future::ready(()).await;
            std::hint::black_box(&state);
        };
        let size = std::mem::size_of_val(&task);
        let guarded = supervised(task, None);
        assert!(
            std::mem::size_of_val(&guarded) <= size + 16,
            "{} for a task of {size}",
            std::mem::size_of_val(&guarded)
        );
    }
}
