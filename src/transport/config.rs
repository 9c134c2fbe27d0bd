//! Options of connections, servers and clients, with their documented defaults.

use crate::protocol::deflate::DeflateConfig;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The library-wide default `compression_threshold` for configs created after
/// it is set (the Perl seed's WEBSOCKET_COMPRESSION_THRESHOLD: 10240 bytes).
static DEFAULT_COMPRESSION_THRESHOLD: AtomicUsize = AtomicUsize::new(10240);

/// Sets the default `compression_threshold` of configs created from now on.
pub fn set_default_compression_threshold(bytes: usize) {
    DEFAULT_COMPRESSION_THRESHOLD.store(bytes, Ordering::Relaxed);
}

/// The current default `compression_threshold`.
pub fn default_compression_threshold() -> usize {
    DEFAULT_COMPRESSION_THRESHOLD.load(Ordering::Relaxed)
}

/// Options every connection has, whichever side opened it.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Largest message accepted, in bytes (after reassembly); larger ones fail
    /// the connection with 1009. Default 32 MiB.
    pub max_message_size: usize,
    /// Most bytes of outgoing messages waiting to be written; a send beyond it is
    /// refused with a "queue full" error instead of growing memory. Default 64 MiB.
    pub send_queue_limit: usize,
    /// Time allowed for the opening handshake. Default 10 s.
    pub handshake_timeout: Duration,
    /// Time allowed for the peer to answer our close frame. Default 5 s.
    pub close_timeout: Duration,
    /// permessage-deflate settings; `None` (the default) neither offers nor accepts it.
    pub deflate: Option<DeflateConfig>,
    /// When compression was negotiated, messages smaller than this many bytes
    /// are sent uncompressed. Default: the library-wide default (10240).
    pub compression_threshold: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            max_message_size: 32 << 20,
            send_queue_limit: 64 << 20,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            deflate: None,
            compression_threshold: default_compression_threshold(),
        }
    }
}

/// Options of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Options of each accepted connection.
    pub connection: ConnectionConfig,
    /// Most connections at once, counting those still in the opening handshake;
    /// the next one gets HTTP 503. Default 10000.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            connection: ConnectionConfig::default(),
            max_connections: 10_000,
        }
    }
}

/// Options of a client.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// Options of the connection; `handshake_timeout` also bounds the TCP connect.
    pub connection: ConnectionConfig,
    /// Extra request headers, sent after the standard ones.
    pub headers: Vec<(String, String)>,
}
