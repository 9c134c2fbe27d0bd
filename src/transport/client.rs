//! Connecting: resolve, connect, run the client side of the opening handshake,
//! then hand the connection to its driver.

use super::connection::Connection;
use super::driver::{drive, fail_before_open, finish, Link};
use super::{runtime, ClientConfig, ErrorKind, Handler};
use crate::protocol::deflate::{client_accept, client_offer};
use crate::protocol::handshake::{
    build_request, generate_key, parse_response, validate_response, MAX_HEAD_BYTES,
};
use crate::protocol::receiver::Role;
use crate::protocol::url::{self, WsUrl};
use crate::transport::random;
use std::fmt;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Why a connection could not even be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The URL is not a valid ws:// or wss:// URL.
    BadUrl(String),
    /// The URL asks for something not supported yet (wss://).
    NotSupported(String),
    /// The runtime could not start.
    Runtime(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::BadUrl(m) | ConnectError::NotSupported(m) | ConnectError::Runtime(m) => {
                f.write_str(m)
            }
        }
    }
}

/// Starts connecting to `url` and returns the connection at once, in the
/// `Connecting` state. The outcome arrives as events: `Open`, or `Error` then
/// `Close` (1006).
pub fn connect(
    url: &str,
    config: ClientConfig,
    handler: Arc<dyn Handler>,
) -> Result<Arc<Connection>, ConnectError> {
    let target =
        url::parse(url).map_err(|e| ConnectError::BadUrl(format!("bad URL {url:?}: {e}")))?;
    if target.secure {
        return Err(ConnectError::NotSupported(format!(
            "{url}: wss:// (TLS) is not supported yet"
        )));
    }
    let rt = runtime::handle().map_err(|e| ConnectError::Runtime(e.to_string()))?;
    let (conn, commands) = Connection::new(
        Role::Client,
        target.path.clone(),
        target.query.clone(),
        config.connection.send_queue_limit,
    );
    let conn = Arc::new(conn);
    let link = Link {
        conn: conn.clone(),
        handler,
        commands,
        config: config.connection.clone(),
    };
    rt.spawn(run(target, config, link));
    Ok(conn)
}

async fn run(target: WsUrl, config: ClientConfig, mut link: Link) {
    let limit = config.connection.handshake_timeout;
    let opening = timeout(limit, open(&target, &config, &link.conn));
    // While connecting, the only command that can arrive is a close (sends are
    // refused until open): it abandons the attempt at once.
    let outcome = tokio::select! {
        outcome = opening => outcome,
        _ = link.commands.recv() => return finish(&link, 1006, String::new()).await,
    };
    match outcome {
        Ok(Ok((stream, leftover))) => {
            let (reader, writer) = stream.into_split();
            drive(reader, writer, leftover, link).await
        }
        Ok(Err((kind, message))) => fail_before_open(&link, kind, message).await,
        Err(_) => {
            let message = format!(
                "connect to {}:{}: no handshake within {} ms",
                target.host,
                target.port,
                limit.as_millis()
            );
            fail_before_open(&link, ErrorKind::Timeout, message).await
        }
    }
}

/// TCP connect plus the opening handshake.
async fn open(
    target: &WsUrl,
    config: &ClientConfig,
    conn: &Connection,
) -> Result<(TcpStream, Vec<u8>), (ErrorKind, String)> {
    let where_ = format!("{}:{}", target.host, target.port);
    let mut stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| (ErrorKind::Connect, format!("connect to {where_}: {e}")))?;
    let _ = stream.set_nodelay(true);
    if let Ok(peer) = stream.peer_addr() {
        conn.set_peer(peer.to_string());
    }
    let mut nonce = [0u8; 16];
    random::fill(&mut nonce);
    let key = generate_key(nonce);
    let mut headers = config.headers.clone();
    let deflate = config.connection.deflate.as_ref();
    if let Some(dc) = deflate {
        headers.push(("Sec-WebSocket-Extensions".into(), client_offer(dc)));
    }
    let request = build_request(&target.host_header(), &target.resource(), &key, &headers);
    let io_err = |e: std::io::Error| {
        (
            ErrorKind::Handshake,
            format!("handshake with {where_}: {e}"),
        )
    };
    stream.write_all(&request).await.map_err(io_err)?;

    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        match parse_response(&buf) {
            Ok(Some((response, n))) => {
                let failed = |m: String| {
                    (
                        ErrorKind::Handshake,
                        format!("handshake with {where_}: {m}"),
                    )
                };
                validate_response(&response, &key, deflate.is_some())
                    .map_err(|e| failed(e.message))?;
                if let Some(dc) = deflate {
                    let answer: Vec<&str> =
                        response.headers.all("Sec-WebSocket-Extensions").collect();
                    if !answer.is_empty() {
                        let params = client_accept(dc, &answer.join(", "))
                            .map_err(|e| failed(e.to_string()))?;
                        conn.set_deflate(&params, dc, config.connection.compression_threshold);
                    }
                }
                return Ok((stream, buf.split_off(n)));
            }
            Ok(None) => {}
            Err(e) => {
                return Err((
                    ErrorKind::Handshake,
                    format!("handshake with {where_}: {}", e.message),
                ))
            }
        }
        let room = (MAX_HEAD_BYTES + 1 - buf.len()).min(chunk.len());
        let n = stream
            .read(&mut chunk[..room.max(1)])
            .await
            .map_err(io_err)?;
        if n == 0 {
            return Err((
                ErrorKind::Handshake,
                format!("handshake with {where_}: the server closed the connection"),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
