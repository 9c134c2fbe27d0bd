//! Listening: accept TCP connections and hand each to [`super::serve`];
//! keep the set of open connections for broadcast, stop and wait_closed.

use super::budget::Budgets;
use super::connection::{Common, Connection, SendLimits};
use super::handshakes::{HandshakePool, Ticket};
use super::log::Level;
use super::opening::supervised;
use super::serve::serve;
use super::server_certs::ServerCerts;
use super::stats::{ConnStats, Refusal, Refusals, ServerStats};
use super::tls::Identity;
use super::topics::Topics;
use super::{runtime, Handler, ServerConfig};
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::MutexGuard;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// A listening WebSocket server.
pub struct Server {
    shared: Arc<Shared>,
    local: SocketAddr,
    /// The certificates presented, when the server speaks TLS.
    certs: Option<Arc<ServerCerts>>,
}

pub(super) struct Shared {
    pub(super) config: ServerConfig,
    /// The handler and the send limits (from `config`) of its connections,
    /// shared by them.
    pub(super) common: Arc<Common>,
    /// The TLS side, when the server speaks TLS.
    pub(super) tls: Option<TlsAcceptor>,
    connections: Mutex<Registry>,
    /// Signalled when the last connection is removed.
    emptied: Condvar,
    /// Connections whose request is not read yet.
    pub(super) handshakes: Arc<HandshakePool>,
    /// Connections that opened, in total.
    opened: AtomicU64,
    /// Connections refused before they opened, by reason.
    refusals: Refusals,
    stopped: AtomicBool,
    stop: watch::Sender<bool>,
}

/// The open connections by id, and what the closed ones carried.
#[derive(Default)]
struct Registry {
    open: HashMap<u64, Arc<Connection>>,
    closed: ConnStats,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a connection refused before it opened, and logs why (`status`:
    /// the HTTP status answered, if any).
    pub(super) fn refused(
        &self,
        why: Refusal,
        peer: SocketAddr,
        status: Option<u16>,
        reason: &str,
    ) {
        self.refusals.count(why);
        match status {
            Some(status) => crate::log!(Level::Info, 0, "refused {peer} with {status}: {reason}"),
            None => crate::log!(Level::Info, 0, "refused {peer}: {reason}"),
        }
    }
}

/// Connections the kernel keeps waiting for `accept` (it caps this at
/// `net.core.somaxconn`): a burst of clients connecting at once waits in this
/// queue instead of having its SYNs dropped and retried a second later.
const LISTEN_BACKLOG: libc::c_int = 4096;

/// Raises the backlog of a listening socket (std listens with 128): Linux
/// takes a second `listen` on a listening socket as a new backlog. Best
/// effort: on failure the socket keeps the smaller one.
fn deepen_backlog(listener: &StdListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: plain system call on a descriptor the listener owns.
    unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) };
}

/// A listening socket on `addr`; with `reuse_port`, one that other sockets
/// asking for it too may share (`SO_REUSEPORT`).
fn bind(
    addr: SocketAddr,
    reuse_port: bool,
    rt: &tokio::runtime::Handle,
) -> io::Result<StdListener> {
    if !reuse_port {
        return StdListener::bind(addr);
    }
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    let _enter = rt.enter();
    socket.listen(LISTEN_BACKLOG as u32)?.into_std()
}

/// An integer socket option of `fd`.
fn socket_option(fd: RawFd, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes to `value`, which has them.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

/// Why `fd` cannot be served on, if it cannot: it must be a TCP (IPv4 or
/// IPv6 stream) socket in the listening state.
fn check_listener(fd: RawFd) -> Result<(), String> {
    if fd < 0 {
        return Err(format!("fd {fd} is not a file descriptor"));
    }
    let option = |name| {
        socket_option(fd, name).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTSOCK) => format!("fd {fd} is not a socket"),
            Some(libc::EBADF) => format!("fd {fd} is not an open file descriptor"),
            _ => format!("fd {fd}: getsockopt: {e}"),
        })
    };
    let tcp = option(libc::SO_TYPE)? == libc::SOCK_STREAM
        && matches!(option(libc::SO_DOMAIN)?, libc::AF_INET | libc::AF_INET6);
    if !tcp {
        return Err(format!("fd {fd} is not a TCP socket"));
    }
    if option(libc::SO_ACCEPTCONN)? == 0 {
        return Err(format!(
            "fd {fd} is a TCP socket, but not listening (bind and listen first)"
        ));
    }
    Ok(())
}

/// A listener of our own on a duplicate of `fd` (see [`Server::adopt`]).
fn duplicate_listener(fd: RawFd) -> io::Result<StdListener> {
    check_listener(fd).map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
    // SAFETY: fcntl on a descriptor checked above; a new descriptor is
    // returned, which nothing else owns.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if copy < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("fd {fd}: dup: {e}")));
    }
    // SAFETY: `copy` was just made, and is owned by nothing else.
    Ok(StdListener::from(unsafe { OwnedFd::from_raw_fd(copy) }))
}

impl Server {
    /// Binds `host:port` (port 0 picks a free one) and starts accepting.
    /// Binding and the TLS setup happen before this returns, so their errors
    /// are returned here.
    pub fn listen(
        host: &str,
        port: u16,
        config: ServerConfig,
        handler: Arc<dyn Handler>,
    ) -> io::Result<Server> {
        let (_, rt) = runtime::pick()?;
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| io::Error::new(e.kind(), format!("resolve {host}: {e}")))?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
        let mut bound = None;
        for addr in addrs {
            match bind(addr, config.reuse_port, rt) {
                Ok(l) => {
                    bound = Some(l);
                    break;
                }
                Err(e) => last = io::Error::new(e.kind(), format!("listen on {addr}: {e}")),
            }
        }
        let std_listener = bound.ok_or(last)?;
        deepen_backlog(&std_listener);
        Server::serve(std_listener, config, handler, rt)
    }

    /// Serves on `fd`, a TCP socket the caller bound and put in the
    /// listening state: the server works on a duplicate of it (close-on-exec,
    /// non-blocking; the flag is shared with `fd`), so the caller keeps `fd`
    /// and may close it. Refused (`InvalidInput`) when `fd` is not a
    /// listening TCP socket. The TLS setup happens before this returns.
    pub fn adopt(fd: RawFd, config: ServerConfig, handler: Arc<dyn Handler>) -> io::Result<Server> {
        let listener = duplicate_listener(fd)?;
        let (_, rt) = runtime::pick()?;
        Server::serve(listener, config, handler, rt)
    }

    /// Starts accepting on `std_listener`, on I/O thread `rt`.
    fn serve(
        std_listener: StdListener,
        config: ServerConfig,
        handler: Arc<dyn Handler>,
        rt: &tokio::runtime::Handle,
    ) -> io::Result<Server> {
        let setup = config
            .tls
            .build()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let (tls, certs) = match setup {
            Some(setup) => (Some(TlsAcceptor::from(setup.config)), Some(setup.certs)),
            None => (None, None),
        };
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        let listener = {
            let _enter = rt.enter();
            // SAFETY: the listener owns its descriptor for as long as the
            // AsyncFd owns the listener, and always reports that one.
            unsafe { AsyncFd::register_with_interest(std_listener, Interest::READABLE)? }
        };
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            common: Arc::new(Common {
                handler,
                limits: SendLimits::of(
                    &config.connection,
                    Some(Arc::new(Budgets::new(
                        config.inbound_budget,
                        config.outbound_budget,
                    ))),
                ),
                topics: Some(Topics::new(
                    config.slow_subscriber,
                    config.connection.send_queue_limit,
                )),
            }),
            config,
            tls,
            connections: Mutex::new(Registry::default()),
            emptied: Condvar::new(),
            handshakes: Arc::default(),
            opened: AtomicU64::new(0),
            refusals: Refusals::default(),
            stopped: AtomicBool::new(false),
            stop,
        });
        rt.spawn(accept_loop(listener, shared.clone(), stop_rx));
        let tls = if shared.tls.is_some() { " (TLS)" } else { "" };
        crate::log!(Level::Info, 0, "listening on {local}{tls}");
        Ok(Server {
            shared,
            local,
            certs,
        })
    }

    /// The bound address (with the port picked when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The open connections (those past the opening handshake, not yet closed).
    pub fn connections(&self) -> Vec<Arc<Connection>> {
        self.shared.registry().open.values().cloned().collect()
    }

    /// How many connections are open.
    pub fn connection_count(&self) -> usize {
        self.shared.registry().open.len()
    }

    /// What the server counted: connections, refusals, and the traffic of
    /// its closed connections plus that of the open ones now.
    pub fn stats(&self) -> ServerStats {
        let mut stats = ServerStats::default();
        {
            let registry = self.shared.registry();
            stats.connections_open = registry.open.len() as u64;
            stats.traffic = registry.closed;
            for conn in registry.open.values() {
                stats.traffic.add(&conn.stats());
            }
        }
        stats.connections_accepted = self.shared.opened.load(Ordering::Relaxed);
        self.shared.refusals.fill(&mut stats);
        stats
    }

    /// Sends a message (`text`: checked to be UTF-8) to every subscriber of
    /// topic `name`, encoded once; returns how many subscribers it went to.
    /// From any thread (see [`super::topics`]).
    pub fn publish(&self, name: &[u8], text: bool, data: &[u8]) -> usize {
        self.topics().publish(name, text, data)
    }

    /// How many connections are subscribed to topic `name`.
    pub fn subscriber_count(&self, name: &[u8]) -> usize {
        self.topics().subscriber_count(name)
    }

    fn topics(&self) -> &Topics {
        self.shared.topics()
    }

    /// Sends a message to every open connection; returns how many took it.
    pub fn broadcast(&self, text: bool, data: &[u8]) -> usize {
        self.connections()
            .iter()
            .filter(|c| {
                if text {
                    c.send_text(data).is_ok()
                } else {
                    c.send_binary(data).is_ok()
                }
            })
            .count()
    }

    /// True when the server speaks TLS.
    pub fn is_secure(&self) -> bool {
        self.shared.tls.is_some()
    }

    /// Presents `identity` to the TLS handshakes that start from now on:
    /// with `hostname`, to clients asking for that server name (SNI; added
    /// when the server had no certificate for it), without, to the others.
    /// Open connections keep the certificate they were made with. An error,
    /// and no change, when the server does not speak TLS or `hostname` does
    /// not suit the certificate.
    pub fn reload_tls(&self, hostname: Option<&str>, identity: &Identity) -> Result<(), String> {
        let certs = self.certs.as_ref().ok_or(
            "the server does not speak TLS: only a server started with a certificate \
             can change it",
        )?;
        match hostname {
            Some(name) => certs.replace_named(name, identity),
            None => {
                certs.replace_default(identity);
                Ok(())
            }
        }
    }

    /// Stops accepting and closes every connection with 1001 (going away).
    /// What has already arrived on a connection is delivered first, and the
    /// application's answers go before the close frame (within the close
    /// timeout; see [`Connection::close_after_input`]). Connections finish
    /// their close handshake in the background.
    pub fn stop(&self) {
        if !self.shared.stopped.swap(true, Ordering::AcqRel) {
            crate::log!(Level::Info, 0, "stopped listening on {}", self.local);
        }
        let _ = self.shared.stop.send(true);
        for conn in self.connections() {
            let _ = conn.close_after_input(Some(1001), "server shutting down");
        }
    }
}

impl Server {
    /// Waits until no connection is open (typically after [`Server::stop`], while
    /// the close handshakes finish), at most `timeout` (`None`: no limit).
    /// Returns true when none is open.
    pub fn wait_closed(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut connections = self.shared.registry();
        while !connections.open.is_empty() {
            connections = match deadline {
                None => self
                    .shared
                    .emptied
                    .wait(connections)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.shared
                        .emptied
                        .wait_timeout(connections, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        true
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Accepts connections and hands each to the next I/O thread in turn, where
/// it lives from its handshake to its end.
async fn accept_loop(
    listener: AsyncFd<StdListener>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.async_io(Interest::READABLE, |l| l.accept()) => accepted,
        };
        match accepted.and_then(|(stream, peer)| Ok((runtime::pick()?, stream, peer))) {
            Ok(((_, thread), stream, peer)) => {
                crate::log!(Level::Debug, 0, "accepted a TCP connection from {peer}");
                let config = &shared.config;
                let timeout = config.connection.handshake_timeout;
                let ticket = Ticket::take(&shared.handshakes, config.max_handshakes, timeout);
                let slot = Slot {
                    shared: shared.clone(),
                };
                thread.spawn(async move {
                    // Registered with the reactor of the thread it lives on.
                    let stream = stream
                        .set_nonblocking(true)
                        .and_then(|()| TcpStream::from_std(stream));
                    if let Ok(stream) = stream {
                        supervised(serve(stream, peer, slot, ticket), None).await;
                    }
                });
            }
            Err(e) => {
                crate::log!(Level::Error, 0, "accepting a connection failed: {e}");
                // Out of file descriptors or similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One accepted TCP connection of a server, from accept until its task ends.
pub(super) struct Slot {
    pub(super) shared: Arc<Shared>,
}

impl Slot {
    /// True when the server has `max_connections` open connections.
    pub(super) fn server_is_full(&self) -> bool {
        self.shared.registry().open.len() >= self.shared.config.max_connections
    }

    /// Adds the connection `conn`, answered with 101, to the server's list,
    /// keeping its slot, until the registration is dropped.
    pub(super) fn register(self, conn: Arc<Connection>) -> Registration {
        let id = conn.id();
        self.shared.registry().open.insert(id, conn);
        Registration { slot: self, id }
    }
}

/// An open connection in its server's list; dropped when it has closed.
pub(crate) struct Registration {
    slot: Slot,
    id: u64,
}

impl Registration {
    /// Counts the connection as accepted (its 101 response went out).
    pub(super) fn count_accepted(&self) {
        self.slot.shared.opened.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let shared = &self.slot.shared;
        let mut registry = shared.registry();
        if let Some(conn) = registry.open.remove(&self.id) {
            registry.closed.add(&conn.stats());
        }
        if registry.open.is_empty() {
            shared.emptied.notify_all();
        }
    }
}

impl Shared {
    /// The topics of its connections.
    fn topics(&self) -> &Topics {
        self.common
            .topics
            .as_ref()
            .expect("a server's connections have topics")
    }

    /// True once [`Server::stop`] ran.
    pub(super) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}
