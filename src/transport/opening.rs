//! What a connection needs before it opens: its options, the session it
//! opens with, and the end of one that never opens.

use super::connection::{CloseInfo, Connection};
use super::delivery::deliver;
use super::{ConnectionConfig, ErrorKind, Event};
use crate::protocol::deflate::{Compressor, Decompressor, DeflateConfig, DeflateParams};
use crate::protocol::receiver::Role;
use crate::protocol::session::{Session, SessionConfig};
use crate::transport::random;
use std::sync::Arc;
use std::time::Instant;

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
    link.conn.mark_failed(kind, message.clone());
    deliver(&link.conn, Event::Error(kind, &message)).await;
    let code = if kind == ErrorKind::Tls { 1015 } else { 1006 };
    finish(link, code, String::new()).await;
}

/// Marks a connection that never opened closed and delivers its `Close` event.
pub(crate) async fn finish(link: &Link, code: u16, reason: String) {
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
