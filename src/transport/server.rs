//! Listening: accept TCP connections, run the server side of the opening
//! handshake, then hand each connection to its driver.

use super::connection::Connection;
use super::driver::{drive, Link};
use super::{runtime, Handler, ServerConfig};
use crate::protocol::deflate::server_accept;
use crate::protocol::handshake::{
    build_accept_response, build_error_response, parse_request, validate_request, Request,
    MAX_HEAD_BYTES,
};
use crate::protocol::receiver::Role;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::timeout;

/// A listening WebSocket server.
pub struct Server {
    shared: Arc<Shared>,
    local: SocketAddr,
}

struct Shared {
    config: ServerConfig,
    handler: Arc<dyn Handler>,
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
    /// Signalled when the last connection is removed.
    emptied: Condvar,
    next_id: AtomicU64,
    /// TCP connections accepted and not yet finished (handshaking or open).
    accepted: AtomicUsize,
    stopped: AtomicBool,
    stop: watch::Sender<bool>,
}

impl Shared {
    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Connection>>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Server {
    /// Binds `host:port` (port 0 picks a free one) and starts accepting.
    /// Binding happens before this returns, so its errors are returned here.
    pub fn listen(
        host: &str,
        port: u16,
        config: ServerConfig,
        handler: Arc<dyn Handler>,
    ) -> io::Result<Server> {
        let rt = runtime::handle()?;
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| io::Error::new(e.kind(), format!("resolve {host}: {e}")))?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
        let mut bound = None;
        for addr in addrs {
            match StdListener::bind(addr) {
                Ok(l) => {
                    bound = Some(l);
                    break;
                }
                Err(e) => last = io::Error::new(e.kind(), format!("listen on {addr}: {e}")),
            }
        }
        let std_listener = bound.ok_or(last)?;
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        let listener = {
            let _enter = rt.enter();
            TcpListener::from_std(std_listener)?
        };
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            config,
            handler,
            connections: Mutex::new(HashMap::new()),
            emptied: Condvar::new(),
            next_id: AtomicU64::new(1),
            accepted: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            stop,
        });
        rt.spawn(accept_loop(listener, shared.clone(), stop_rx));
        Ok(Server { shared, local })
    }

    /// The bound address (with the port picked when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The open connections (those past the opening handshake, not yet closed).
    pub fn connections(&self) -> Vec<Arc<Connection>> {
        self.shared.connections().values().cloned().collect()
    }

    /// How many connections are open.
    pub fn connection_count(&self) -> usize {
        self.shared.connections().len()
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

    /// Stops accepting and closes every connection with 1001 (going away).
    /// Connections finish their close handshake in the background.
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Release);
        let _ = self.shared.stop.send(true);
        for conn in self.connections() {
            let _ = conn.close(Some(1001), "server shutting down");
        }
    }
}

impl Server {
    /// Waits until no connection is open (typically after [`Server::stop`], while
    /// the close handshakes finish), at most `timeout` (`None`: no limit).
    /// Returns true when none is open.
    pub fn wait_closed(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut connections = self.shared.connections();
        while !connections.is_empty() {
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

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let slot = Slot::take(&shared);
                    tokio::spawn(serve(stream, peer, slot));
                }
                Err(_) => {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// Reads the request head; returns it with the bytes that followed it.
async fn read_request(stream: &mut TcpStream) -> Result<(Request, Vec<u8>), Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        match parse_request(&buf) {
            Ok(Some((req, n))) => return Ok((req, buf.split_off(n))),
            Ok(None) => {}
            Err(e) => return Err(e.response),
        }
        let room = (MAX_HEAD_BYTES + 1 - buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..room.max(1)]).await {
            Ok(0) | Err(_) => return Err(Vec::new()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn reject(stream: &mut TcpStream, response: &[u8]) {
    if !response.is_empty() {
        let _ = stream.write_all(response).await;
    }
    let _ = stream.shutdown().await;
}

/// One accepted TCP connection counted against `max_connections`, from accept
/// (so clients still in the handshake count too) until its task ends.
struct Slot {
    shared: Arc<Shared>,
    /// More connections than allowed: this one only gets a 503.
    over_limit: bool,
}

impl Slot {
    fn take(shared: &Arc<Shared>) -> Slot {
        let before = shared.accepted.fetch_add(1, Ordering::AcqRel);
        Slot {
            shared: shared.clone(),
            over_limit: before >= shared.config.max_connections,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.accepted.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn serve(mut stream: TcpStream, peer: SocketAddr, slot: Slot) {
    let shared = slot.shared.clone();
    let _ = stream.set_nodelay(true);
    let config = &shared.config.connection;
    let (request, leftover) = match timeout(config.handshake_timeout, read_request(&mut stream))
        .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(response)) => return reject(&mut stream, &response).await,
        Err(_) => {
            let response = build_error_response(408, "Request Timeout", &[], "handshake timed out");
            return reject(&mut stream, &response).await;
        }
    };
    let key = match validate_request(&request) {
        Ok(key) => key,
        Err(e) => return reject(&mut stream, &e.response).await,
    };
    if slot.over_limit || shared.stopped.load(Ordering::Acquire) {
        let response = build_error_response(
            503,
            "Service Unavailable",
            &[],
            "server is not accepting connections",
        );
        return reject(&mut stream, &response).await;
    }
    // permessage-deflate: accept the client's first acceptable offer, if enabled.
    let deflate = config.deflate.as_ref().and_then(|dc| {
        let offers: Vec<&str> = request.headers.all("Sec-WebSocket-Extensions").collect();
        server_accept(dc, &offers).map(|params| (dc, params))
    });
    let answer = deflate.as_ref().map(|(_, params)| params.to_header());
    let extra: Vec<(&str, &str)> = answer
        .iter()
        .map(|a| ("Sec-WebSocket-Extensions", a.as_str()))
        .collect();
    let accepted = build_accept_response(&key, &extra);
    match timeout(config.handshake_timeout, stream.write_all(&accepted)).await {
        Ok(Ok(())) => {}
        _ => return,
    }
    let (conn, commands) = Connection::new(
        Role::Server,
        request.path,
        request.query,
        config.send_queue_limit,
    );
    conn.set_peer(peer.to_string());
    if let Some((dc, params)) = &deflate {
        conn.set_deflate(params, dc, config.compression_threshold);
    }
    let conn = Arc::new(conn);
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.connections().insert(id, conn.clone());
    let link = Link {
        conn: conn.clone(),
        handler: shared.handler.clone(),
        commands,
        config: config.clone(),
    };
    if shared.stopped.load(Ordering::Acquire) {
        // stop() ran between the check above and the registration.
        let _ = conn.close(Some(1001), "server shutting down");
    }
    let (reader, writer) = stream.into_split();
    drive(reader, writer, leftover, link).await;
    let mut connections = shared.connections();
    connections.remove(&id);
    if connections.is_empty() {
        shared.emptied.notify_all();
    }
}
