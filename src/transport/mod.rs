//! The async side: the I/O threads (tokio runtimes, see [`runtime`]), listeners,
//! and one task per connection that drives the sans-I/O protocol core
//! ([`crate::protocol::session`]) over a TCP or TLS socket.
//!
//! Data flows socket → driver → session → [`Handler`]; sends flow
//! [`Connection`] methods → session → socket on the connection's own I/O
//! thread, or → inbox → driver → session → socket from any other thread.

pub mod budget;
pub mod client;
pub mod config;
pub mod connection;
mod delivery;
mod driver;
pub(crate) mod fork;
mod handshakes;
pub mod http_files;
mod local;
pub mod log;
mod memory;
mod opening;
pub mod random;
mod reactor;
pub mod runtime;
mod scheduler;
mod serve;
pub mod server;
pub mod server_certs;
pub mod stats;
mod stream;
pub mod tls;
pub mod topics;
pub mod upgrade;

pub use crate::protocol::session::{Compression, SendOptions};
pub use config::{ClientConfig, ConnectionConfig, ServerConfig};
pub use connection::{CloseInfo, Connection, ConnectionState, SendError, Sent};
pub use delivery::event_cost;
pub use scheduler::panic_text;

use std::sync::Arc;
use tokio::sync::Semaphore;

/// Why a connection failed, for the `Error` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The TCP connection could not be made (refused, unreachable, name lookup).
    Connect,
    /// The opening handshake failed.
    Handshake,
    /// The peer broke the protocol; the connection was failed with a close code.
    Protocol,
    /// A socket read or write failed.
    Io,
    /// A handshake or close handshake took too long.
    Timeout,
    /// The TLS handshake failed (untrusted or wrong certificate, not a TLS
    /// peer, refused client certificate); the close code is 1015.
    Tls,
    /// A bug in the library (a caught panic) ended the connection.
    Internal,
}

/// Something that happened on a connection, handed to the [`Handler`].
#[derive(Debug)]
pub enum Event<'a> {
    /// The opening handshake completed.
    Open,
    /// A complete message (`text` is valid UTF-8 when true).
    Message {
        /// Text (true) or binary (false).
        text: bool,
        /// The payload, valid only during the call.
        data: &'a [u8],
    },
    /// A piece of a message, when the connection takes messages in parts
    /// ([`ConnectionConfig::receive_parts`]): pieces come in order as they
    /// arrive, and text pieces are valid UTF-8 each.
    Part {
        /// Text (true) or binary (false).
        text: bool,
        /// The piece, valid only during the call (the last may be empty).
        data: &'a [u8],
        /// The first piece of its message.
        first: bool,
        /// The last piece of its message.
        last: bool,
        /// Bytes of the message so far, this piece included.
        total: u64,
    },
    /// A ping arrived (the pong is sent automatically).
    Ping(&'a [u8]),
    /// A pong arrived.
    Pong(&'a [u8]),
    /// A send reported backpressure, and the bytes waiting to be sent have
    /// since fallen to the low-water mark: sending may go on.
    Drain,
    /// Something went wrong; a `Close` event follows.
    Error(ErrorKind, &'a str),
    /// The connection is closed: the last event of every connection.
    Close {
        /// The peer's close code, 1005 if its close frame had none, 1006 if there
        /// was no close frame (dropped, failed or timed out).
        code: u16,
        /// The peer's close reason.
        reason: &'a str,
    },
}

/// Receives a connection's events on the runtime thread.
pub trait Handler: Send + Sync + 'static {
    /// Called for each event of `conn`, in order.
    fn event(&self, conn: &Arc<Connection>, event: Event<'_>);

    /// When the events are queued for another thread: the semaphore that bounds
    /// that queue (one permit per byte; it lives as long as the process) and
    /// its size. The driver takes
    /// [`event_cost`] permits before delivering each event, which stops reading
    /// from the socket while the consumer is behind; the consumer gives them back.
    fn flow_control(&self) -> Option<(&'static Semaphore, u32)> {
        None
    }

    /// True when the application decides on upgrade requests itself (a
    /// server's handshake callback); then each one goes to [`Handler::upgrade`].
    fn wants_upgrades(&self) -> bool {
        false
    }

    /// An upgrade request for the application to answer (see
    /// [`upgrade::PendingUpgrade::answer`]), now or later, from any thread.
    fn upgrade(&self, _request: Arc<upgrade::PendingUpgrade>) {}
}
