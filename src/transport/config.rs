//! Options of connections, servers and clients, with their documented defaults.

use super::http_files::{PlainResponse, StaticDir};
use super::reconnect::Reconnect;
use super::tls::{ClientTls, ServerTls};
use super::topics::SlowSubscriber;
use crate::protocol::deflate::DeflateConfig;
use crate::protocol::proxy::Proxy;
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
    /// Most frames one message may be made of; a message with more fails the
    /// connection with 1009. 0 (the default) means no limit.
    pub max_fragments: usize,
    /// Most bytes of outgoing messages waiting to be written; a send beyond it is
    /// refused with a "queue full" error instead of growing memory. Default 64 MiB.
    pub send_queue_limit: usize,
    /// Flow control: when more than this many bytes wait to be sent, a send
    /// still queues but reports backpressure, and the connection stops
    /// reading from its socket once one more message has arrived (so TCP
    /// pushes back on a peer that sends without reading). Default 1 MiB.
    pub send_high_water: usize,
    /// Flow control: after backpressure, a `Drain` event comes once this many
    /// bytes or fewer wait to be sent. Default 256 KiB.
    pub send_low_water: usize,
    /// Time allowed for the opening handshake. Default 10 s.
    pub handshake_timeout: Duration,
    /// Time allowed for the peer to answer our close frame. Default 5 s.
    pub close_timeout: Duration,
    /// Keepalive: after this long without hearing from the peer, send it a
    /// ping; when it stays silent as long again (not even a pong), the
    /// connection fails with a timeout error and closes with 1006, so dead
    /// peers and broken networks do not hold connections open. `None` (the
    /// default) never pings.
    pub keepalive: Option<Duration>,
    /// permessage-deflate settings; `None` (the default) neither offers nor accepts it.
    pub deflate: Option<DeflateConfig>,
    /// When compression was negotiated, messages smaller than this many bytes
    /// are sent uncompressed. Default: the library-wide default (10240).
    pub compression_threshold: usize,
    /// Messages arrive in pieces as they come off the socket
    /// ([`Event::Part`](super::Event::Part)) instead of whole, so a message of
    /// any size passes through bounded memory; `max_message_size` still
    /// limits each message's total. Default false.
    pub receive_parts: bool,
    /// Pings are answered with pongs by the library (the default). When
    /// false, a ping is still reported (`Event::Ping`) but the application
    /// sends the pong ([`super::Connection::pong`]).
    pub auto_pong: bool,
    /// Keep the opening handshake's request and response heads as they went
    /// over the wire ([`super::Connection::request_text`]), a few hundred
    /// bytes per connection. Default false.
    pub keep_handshake_text: bool,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            max_message_size: 32 << 20,
            max_fragments: 0,
            send_queue_limit: 64 << 20,
            send_high_water: 1 << 20,
            send_low_water: 256 << 10,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            keepalive: None,
            deflate: None,
            compression_threshold: default_compression_threshold(),
            receive_parts: false,
            auto_pong: true,
            keep_handshake_text: false,
        }
    }
}

/// Options of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Options of each accepted connection.
    pub connection: ConnectionConfig,
    /// Most open connections at once; the next upgrade request gets HTTP
    /// 503. Connections still in the opening handshake do not count here
    /// (see `max_handshakes`). Default 10000.
    pub max_connections: usize,
    /// Most connections at once still in the opening handshake (accepted,
    /// their request not read yet). When a new one comes and there are
    /// that many, the oldest is dropped: a slow or idle peer cannot hold a
    /// place a fresh client needs. From half that many on, new ones get a
    /// short handshake deadline (at most 2 s). Default 4096.
    pub max_handshakes: usize,
    /// What its connections together may hold of messages being received
    /// (reassembled, inflated). When a message needs more than it leaves,
    /// the connection holding the most fails with 1009 (see
    /// [`super::budget`]).
    /// Default 512 MiB. (The process's budget, `budget::PROCESS`, bounds all
    /// connections together.)
    pub inbound_budget: usize,
    /// What its connections together may hold of messages sent and not yet
    /// written: a send that would queue more is refused. Default 512 MiB.
    pub outbound_budget: usize,
    /// Binds with `SO_REUSEPORT`, so that several servers (in one process or
    /// several) may listen on the same port, each also asking for it, and the
    /// kernel spreads new connections over them. Default off.
    pub reuse_port: bool,
    /// What happens to a subscriber too slow to take a published message.
    pub slow_subscriber: SlowSubscriber,
    /// TLS: with a certificate set, the port speaks only TLS (wss://, https://).
    pub tls: ServerTls,
    /// Subprotocols the server speaks, preferred first. When a client offers
    /// some and none is here, the handshake is refused with 400.
    pub subprotocols: Vec<String>,
    /// When not empty, an upgrade request whose `Origin` is not in this list
    /// gets 403 (compared case-insensitively). Requests without `Origin`
    /// (clients that are not browsers) are let through.
    pub allowed_origins: Vec<String>,
    /// Requests that are not WebSocket upgrades are answered from this
    /// directory (GET and HEAD) ...
    pub static_dir: Option<StaticDir>,
    /// ... or else with this response; with neither, with the 400 that names
    /// what the request lacks to be an upgrade.
    pub http_response: Option<PlainResponse>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            connection: ConnectionConfig::default(),
            max_connections: 10_000,
            max_handshakes: 4096,
            inbound_budget: super::budget::DEFAULT_SERVER,
            outbound_budget: super::budget::DEFAULT_SERVER,
            reuse_port: false,
            slow_subscriber: SlowSubscriber::default(),
            tls: ServerTls::default(),
            subprotocols: Vec::new(),
            allowed_origins: Vec::new(),
            static_dir: None,
            http_response: None,
        }
    }
}

/// Which HTTP proxy a client tunnels through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProxyChoice {
    /// As curl does: `https_proxy` / `http_proxy` / `all_proxy`, minus `no_proxy`.
    #[default]
    FromEnvironment,
    /// Connect directly, whatever the environment says.
    Direct,
    /// Always this proxy (`no_proxy` is not consulted).
    Use(Proxy),
}

/// Options of a client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Options of the connection; `handshake_timeout` bounds the TLS and
    /// WebSocket handshakes once the TCP connection is made.
    pub connection: ConnectionConfig,
    /// Time allowed to make the TCP connection (through the proxy, if any).
    /// Default 10 s.
    pub connect_timeout: Duration,
    /// Extra request headers, sent after the standard ones.
    pub headers: Vec<(String, String)>,
    /// Subprotocols to offer, preferred first; the server must choose one.
    pub subprotocols: Vec<String>,
    /// The `Origin` header to send, if any.
    pub origin: Option<String>,
    /// The proxy to go through.
    pub proxy: ProxyChoice,
    /// TLS options for wss:// URLs.
    pub tls: ClientTls,
    /// How a lost connection is replaced (see [`super::reconnecting`]);
    /// `None`, the default: it is not.
    pub reconnect: Option<Reconnect>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connection: ConnectionConfig::default(),
            connect_timeout: Duration::from_secs(10),
            headers: Vec::new(),
            subprotocols: Vec::new(),
            origin: None,
            proxy: ProxyChoice::default(),
            tls: ClientTls::default(),
            reconnect: None,
        }
    }
}
