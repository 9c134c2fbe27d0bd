//! Connecting: TCP (directly or through an HTTP CONNECT proxy), TLS for
//! wss://, the client side of the opening handshake, then the driver.

use super::config::ProxyChoice;
use super::connection::{Common, Connection, SendLimits};
use super::driver;
use super::log::Level;
use super::opening::{fail_before_open, finish, open_session, supervised, Link};
use super::stream::{read_more, Stream};
use super::tls;
use super::{runtime, ClientConfig, ErrorKind, Handler};
use crate::protocol::deflate::{client_accept, client_offer, DeflateParams};
use crate::protocol::handshake::{build_request, generate_key, parse_response, validate_response};
use crate::protocol::proxy::{self, Proxy};
use crate::protocol::receiver::Role;
use crate::protocol::url::{self, WsUrl};
use crate::transport::random;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::time::{sleep_until, timeout, timeout_at, Instant};
use tokio_rustls::TlsConnector;

/// Why a connection could not even be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The URL is not a valid ws:// or wss:// URL.
    BadUrl(String),
    /// The proxy setting (or environment variable) does not parse.
    BadProxy(String),
    /// The TLS options cannot work (no trusted CA at all, unusable certificate).
    Tls(String),
    /// The runtime could not start.
    Runtime(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::BadUrl(m)
            | ConnectError::BadProxy(m)
            | ConnectError::Tls(m)
            | ConnectError::Runtime(m) => f.write_str(m),
        }
    }
}

/// Everything settled before a connection task starts: what every
/// connection of a client is made from.
pub(crate) struct Plan {
    target: WsUrl,
    pub(crate) config: ClientConfig,
    proxy: Option<Proxy>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// A failure while opening: what kind, and the sentence.
type Failed = (ErrorKind, String);

/// Starts connecting to `url` and returns the connection at once, in the
/// `Connecting` state. The outcome arrives as events: `Open`, or `Error` then
/// `Close` (1006, or 1015 when TLS failed).
pub fn connect(
    url: &str,
    config: ClientConfig,
    handler: Arc<dyn Handler>,
) -> Result<Arc<Connection>, ConnectError> {
    let plan = Arc::new(plan(url, config)?);
    let common = Arc::new(common(&plan, handler));
    let (thread, rt) = pick_thread()?;
    let conn = prepare(&plan, &common, thread);
    start(&plan, &conn, rt, None);
    Ok(conn)
}

/// Checks `url` and `config` and settles what can be before connecting.
pub(crate) fn plan(url: &str, config: ClientConfig) -> Result<Plan, ConnectError> {
    let target =
        url::parse(url).map_err(|e| ConnectError::BadUrl(format!("bad URL {url:?}: {e}")))?;
    let tls = if target.secure {
        let tls = config.tls.build().map_err(ConnectError::Tls)?;
        tls::server_name(&target.host).map_err(ConnectError::Tls)?;
        Some(tls)
    } else {
        None
    };
    let proxy = match &config.proxy {
        ProxyChoice::Direct => None,
        ProxyChoice::Use(p) => Some(p.clone()),
        ProxyChoice::FromEnvironment => {
            proxy::proxy_from_env(target.secure, &target.host, target.port, |name| {
                std::env::var(name).ok()
            })
            .map_err(ConnectError::BadProxy)?
        }
    };
    Ok(Plan {
        target,
        config,
        proxy,
        tls,
    })
}

/// What the connections made from `plan` share: `handler` and their send limits.
pub(crate) fn common(plan: &Plan, handler: Arc<dyn Handler>) -> Common {
    Common {
        handler,
        limits: SendLimits::of(&plan.config.connection, None),
        topics: None,
    }
}

/// The I/O thread for a new connection, and its runtime.
pub(crate) fn pick_thread() -> Result<(usize, &'static Handle), ConnectError> {
    runtime::pick().map_err(|e| ConnectError::Runtime(e.to_string()))
}

/// A connection made from `plan`, to live on I/O thread `thread`; it
/// connects once [`start`]ed.
pub(crate) fn prepare(plan: &Plan, common: &Arc<Common>, thread: usize) -> Arc<Connection> {
    let target = &plan.target;
    Connection::new(
        Role::Client,
        thread,
        &target.path,
        &target.query,
        common.clone(),
    )
}

/// Starts connecting `conn` (made by [`prepare`] for the thread of `rt`),
/// at once or at `due` (until then it stays `Connecting`, and a close ends
/// it with 1006).
pub(crate) fn start(plan: &Arc<Plan>, conn: &Arc<Connection>, rt: &Handle, due: Option<Instant>) {
    let target = &plan.target;
    let through = if plan.proxy.is_some() {
        " through a proxy"
    } else {
        ""
    };
    let (host, port, path) = (&target.host, target.port, &target.path);
    crate::log!(
        Level::Debug,
        conn.id(),
        "connecting to {host}:{port}{path}{through}"
    );
    let link = Link {
        conn: conn.clone(),
        config: plan.config.connection.clone(),
    };
    rt.spawn(supervised(run(plan.clone(), link, due), Some(conn.clone())));
}

/// Runs `step` unless the application closes first (while connecting, the only
/// command that can arrive is a close: sends are refused until open).
async fn unless_closed<F: Future>(link: &Link, step: F) -> Option<F::Output> {
    tokio::select! {
        out = step => Some(out),
        _ = std::future::poll_fn(|cx| link.conn.poll_mail(cx)) => None,
    }
}

async fn run(plan: Arc<Plan>, link: Link, due: Option<Instant>) {
    if let Some(due) = due {
        if unless_closed(&link, sleep_until(due)).await.is_none() {
            return finish(&link, 1006, String::new()).await;
        }
    }
    let target = &plan.target;
    let where_ = format!("{}:{}", target.host, target.port);
    let limit = plan.config.connect_timeout;
    let tcp = match unless_closed(&link, timeout(limit, dial(&plan))).await {
        None => return finish(&link, 1006, String::new()).await,
        Some(Ok(Ok(tcp))) => tcp,
        Some(Ok(Err((kind, message)))) => return fail_before_open(&link, kind, message).await,
        Some(Err(_)) => {
            let message = format!(
                "connect to {where_}: no connection within {} ms",
                limit.as_millis()
            );
            return fail_before_open(&link, ErrorKind::Timeout, message).await;
        }
    };
    let _ = tcp.set_nodelay(true);
    if let Ok(peer) = tcp.peer_addr() {
        link.conn.set_peer(peer);
    }
    let deadline = Instant::now() + plan.config.connection.handshake_timeout;
    let Some(tls) = plan.tls.clone() else {
        return upgrade_and_drive(tcp, &plan, deadline, link).await;
    };
    // Boxed: TLS state is large, and plain connections should not carry its
    // size in their own task.
    Box::pin(secure_and_drive(tcp, tls, &plan, deadline, link)).await
}

/// The TLS handshake over `tcp`, then the opening handshake and the connection.
async fn secure_and_drive(
    tcp: TcpStream,
    tls: Arc<rustls::ClientConfig>,
    plan: &Plan,
    deadline: Instant,
    link: Link,
) {
    let target = &plan.target;
    let where_ = format!("{}:{}", target.host, target.port);
    let name = match tls::server_name(&target.host) {
        Ok(name) => name,
        Err(m) => return fail_before_open(&link, ErrorKind::Tls, m).await,
    };
    let handshake = timeout_at(deadline, TlsConnector::from(tls).connect(name, tcp));
    match unless_closed(&link, handshake).await {
        None => finish(&link, 1006, String::new()).await,
        Some(Ok(Ok(stream))) => upgrade_and_drive(stream, plan, deadline, link).await,
        Some(Ok(Err(e))) => {
            let why = tls::describe(&e, &target.host).unwrap_or_else(|| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    "the server closed the connection (is it a TLS server?)".to_string()
                } else {
                    e.to_string()
                }
            });
            let message = format!("TLS handshake with {where_}: {why}");
            fail_before_open(&link, ErrorKind::Tls, message).await
        }
        Some(Err(_)) => {
            let message = format!(
                "TLS handshake with {where_}: no answer within {} ms",
                plan.config.connection.handshake_timeout.as_millis()
            );
            fail_before_open(&link, ErrorKind::Timeout, message).await
        }
    }
}

/// The TCP connection to the server, or to the proxy and through its tunnel.
async fn dial(plan: &Plan) -> Result<TcpStream, Failed> {
    let target = &plan.target;
    let Some(proxy) = &plan.proxy else {
        return TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| {
                let message = format!("connect to {}:{}: {e}", target.host, target.port);
                (ErrorKind::Connect, message)
            });
    };
    let at = format!("proxy {}:{}", proxy.host, proxy.port);
    let failed = |m: String| (ErrorKind::Connect, format!("{at}: {m}"));
    let mut stream = TcpStream::connect((proxy.host.as_str(), proxy.port))
        .await
        .map_err(|e| failed(format!("connect: {e}")))?;
    let request =
        proxy::build_connect_request(&target.host, target.port, proxy.authorization.as_deref());
    stream
        .write_all(&request)
        .await
        .map_err(|e| failed(e.to_string()))?;
    // Read the answer a byte at a time so no byte of the tunnel is taken.
    let mut head = Vec::with_capacity(128);
    loop {
        let byte = stream.read_u8().await.map_err(|e| {
            failed(match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    "closed the connection without answering".into()
                }
                _ => e.to_string(),
            })
        })?;
        head.push(byte);
        if byte == b'\n' {
            if let Some(_len) = proxy::parse_connect_response(&head).map_err(failed)? {
                return Ok(stream);
            }
        } else if head.len() > proxy::MAX_CONNECT_HEAD {
            proxy::parse_connect_response(&head).map_err(failed)?;
        }
    }
}

/// Runs the opening handshake over `stream`, then the connection.
async fn upgrade_and_drive<S: Stream>(mut stream: S, plan: &Plan, deadline: Instant, link: Link) {
    let conn = link.conn.clone();
    let upgrade = timeout_at(deadline, upgrade(&mut stream, plan, &conn));
    match unless_closed(&link, upgrade).await {
        None => finish(&link, 1006, String::new()).await,
        Some(Ok(Ok((leftover, deflate)))) => {
            let dc = plan.config.connection.deflate.as_ref();
            let negotiated = dc.zip(deflate.as_ref());
            let session = open_session(Role::Client, &link.config, negotiated);
            match stream.into_transport(&conn) {
                Ok(transport) => driver::start(link, transport, session, leftover, None),
                Err(e) => {
                    let message = format!("cannot watch the socket: {e}");
                    fail_before_open(&link, ErrorKind::Io, message).await
                }
            }
        }
        Some(Ok(Err((kind, message)))) => fail_before_open(&link, kind, message).await,
        Some(Err(_)) => {
            let message = format!(
                "handshake with {}:{}: no answer within {} ms",
                plan.target.host,
                plan.target.port,
                plan.config.connection.handshake_timeout.as_millis()
            );
            fail_before_open(&link, ErrorKind::Timeout, message).await
        }
    }
}

/// Sends the upgrade request, reads and checks the response; returns the bytes
/// that followed the response head, and permessage-deflate's parameters when
/// the server accepted it.
async fn upgrade<S: Stream>(
    stream: &mut S,
    plan: &Plan,
    conn: &Connection,
) -> Result<(Vec<u8>, Option<DeflateParams>), Failed> {
    let (target, config) = (&plan.target, &plan.config);
    let where_ = format!("{}:{}", target.host, target.port);
    let mut nonce = [0u8; 16];
    random::fill(&mut nonce);
    let key = generate_key(nonce);
    let mut headers = Vec::new();
    if let Some(origin) = &config.origin {
        headers.push(("Origin".to_string(), origin.clone()));
    }
    if !config.subprotocols.is_empty() {
        let list = config.subprotocols.join(", ");
        headers.push(("Sec-WebSocket-Protocol".to_string(), list));
    }
    headers.extend(config.headers.iter().cloned());
    let deflate = config.connection.deflate.as_ref();
    if let Some(dc) = deflate {
        headers.push(("Sec-WebSocket-Extensions".into(), client_offer(dc)));
    }
    let request = build_request(&target.host_header(), &target.resource(), &key, &headers);
    // A TLS alert can arrive here (TLS 1.3 servers check client certificates
    // after the client thinks the handshake is done): report it as TLS.
    let io_err = |e: std::io::Error| match tls::describe(&e, &target.host) {
        Some(why) => (
            ErrorKind::Tls,
            format!("TLS handshake with {where_}: {why}"),
        ),
        None => (
            ErrorKind::Handshake,
            format!("handshake with {where_}: {e}"),
        ),
    };
    let failed = |m: String| {
        (
            ErrorKind::Handshake,
            format!("handshake with {where_}: {m}"),
        )
    };
    stream.write_all(&request).await.map_err(io_err)?;

    let mut buf = Vec::with_capacity(1024);
    loop {
        match parse_response(&buf) {
            Ok(Some((response, n))) => {
                let subprotocol =
                    validate_response(&response, &key, deflate.is_some(), &config.subprotocols)
                        .map_err(|e| failed(e.message))?;
                let mut params = None;
                if let Some(dc) = deflate {
                    let answer: Vec<&str> =
                        response.headers.all("Sec-WebSocket-Extensions").collect();
                    if !answer.is_empty() {
                        let accepted = client_accept(dc, &answer.join(", "))
                            .map_err(|e| failed(e.to_string()))?;
                        params = Some(accepted);
                    }
                }
                let extensions = params.as_ref().map(DeflateParams::to_header);
                let keep = config.connection.keep_handshake_text;
                conn.set_handshake(
                    &response.headers,
                    subprotocol.as_deref(),
                    extensions.as_deref().unwrap_or(""),
                    plan.tls.is_some(),
                    keep.then_some([&request[..], &buf[..n]]),
                );
                return Ok((buf.split_off(n), params));
            }
            Ok(None) => {}
            Err(e) => return Err(failed(e.message)),
        }
        let n = read_more(stream, &mut buf).await.map_err(io_err)?;
        if n == 0 {
            return Err(failed("the server closed the connection".into()));
        }
    }
}
