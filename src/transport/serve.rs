//! One accepted TCP connection on a server: TLS (when configured), the request
//! head, plain HTTP answers to requests that are not upgrades, the checks and
//! the application's decision on the upgrade, the 101 answer, then the
//! connection's driver.

use super::connection::Connection;
use super::driver::start;
use super::handshakes::{Cut, Ticket};
use super::http_files::{self, reason_phrase};
use super::log::Level;
use super::opening::{fail_before_open, open_session, opening, Link};
use super::server::{Shared, Slot};
use super::stats::Refusal;
use super::stream::{read_more, IdleTimeout, Stream};
use super::upgrade::{upgrade_cost, Answer, PendingUpgrade};
use super::{runtime, ErrorKind, Handler, ServerConfig};
use crate::protocol::deflate::server_accept;
use crate::protocol::handshake::{
    build_accept_response, build_error_response, offered_subprotocols, parse_request,
    validate_request, HandshakeError, Request,
};
use crate::protocol::receiver::Role;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};

/// The first byte of every TLS connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Serves one accepted connection until it ends; `ticket` is its place
/// among the handshakes under way.
pub(super) async fn serve(tcp: TcpStream, peer: SocketAddr, slot: Slot, mut ticket: Ticket) {
    let _ = tcp.set_nodelay(true);
    let Some(acceptor) = slot.shared.tls.clone() else {
        return handle(tcp, peer, slot, ticket, false).await;
    };
    let shared = slot.shared.clone();
    let mut first = [0u8; 1];
    match ticket.run(tcp.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_RECORD => {}
        Ok(Ok(1)) => {
            // Most likely plain HTTP (ws:// or http://) sent to the TLS port.
            let response = build_error_response(
                400,
                "Plain HTTP Request Sent To TLS Port",
                &[],
                "this server speaks TLS only: use wss:// or https://",
            );
            let why = "a plain HTTP request came to the TLS port";
            return refuse(tcp, &shared, peer, Refusal::Tls, why, &response).await;
        }
        Err(cut) => {
            let why = match cut {
                Cut::Timeout => "it sent nothing within the handshake timeout",
                Cut::Dropped => DROPPED,
            };
            return shared.refused(Refusal::Timeout, peer, None, why);
        }
        Ok(_) => return crate::log!(Level::Debug, 0, "{peer} left before the TLS handshake"),
    }
    // A failed TLS handshake has no connection to report to: the client sees
    // the alert, the server application only the statistics and the log.
    // Boxed: TLS state is large, and plain connections should not carry its
    // size in their own task.
    Box::pin(async move {
        match ticket.run(acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => handle(stream, peer, slot, ticket, true).await,
            Ok(Err(e)) => shared.refused(
                Refusal::Tls,
                peer,
                None,
                &format!("the TLS handshake failed: {e}"),
            ),
            Err(Cut::Timeout) => shared.refused(
                Refusal::Timeout,
                peer,
                None,
                "the TLS handshake took longer than the handshake timeout",
            ),
            Err(Cut::Dropped) => shared.refused(Refusal::Timeout, peer, None, DROPPED),
        }
    })
    .await
}

/// Why a connection still in its handshake was dropped for a newer one.
const DROPPED: &str = "dropped while still in its handshake: the most connections that may \
                       be handshaking at once (max_handshakes) were, and it was the oldest";

/// Counts and logs a refusal, then answers `response` and closes.
async fn refuse<S: Stream>(
    stream: S,
    shared: &Shared,
    peer: SocketAddr,
    why: Refusal,
    reason: &str,
    response: &[u8],
) {
    shared.refused(why, peer, status_in(response), reason);
    reject(stream, response, shared.config.connection.close_timeout).await
}

/// The status code of an HTTP response ("HTTP/1.1 400 ...").
fn status_in(response: &[u8]) -> Option<u16> {
    std::str::from_utf8(response.get(9..12)?).ok()?.parse().ok()
}

/// The HTTP part: answer the request, and run the connection if it upgrades.
async fn handle<S: Stream>(
    mut stream: S,
    peer: SocketAddr,
    slot: Slot,
    mut ticket: Ticket,
    secure: bool,
) {
    let shared = slot.shared.clone();
    let shared = &shared;
    let config = &shared.config;
    let linger = config.connection.close_timeout;
    let deadline = ticket.deadline;
    let keep_head = config.connection.keep_handshake_text;
    let read = ticket.run(read_request(&mut stream, keep_head)).await;
    // The request is read: the rest of the handshake is up to this server
    // (and its application), not to the peer.
    drop(ticket);
    let (request, head, leftover) = match read {
        Err(Cut::Dropped) => return shared.refused(Refusal::Timeout, peer, None, DROPPED),
        Ok(Ok(r)) => r,
        Ok(Err(Some(e))) => {
            let why = format!("bad request: {}", e.message);
            return refuse(
                stream,
                shared,
                peer,
                Refusal::BadHandshake,
                &why,
                &e.response,
            )
            .await;
        }
        Ok(Err(None)) => {
            crate::log!(
                Level::Debug,
                0,
                "{peer} left before sending a whole request"
            );
            return reject(stream, &[], linger).await;
        }
        Err(Cut::Timeout) => {
            let response = build_error_response(408, "Request Timeout", &[], "handshake timed out");
            let why = "no whole request within the handshake timeout";
            return refuse(stream, shared, peer, Refusal::Timeout, why, &response).await;
        }
    };
    let full = slot.server_is_full();
    if full || shared.is_stopped() {
        let response = build_error_response(
            503,
            "Service Unavailable",
            &[],
            "server is not accepting connections",
        );
        let why = match full {
            true => format!(
                "the server is full ({} connections)",
                config.max_connections
            ),
            false => "the server is stopping".to_string(),
        };
        return refuse(stream, shared, peer, Refusal::Full, &why, &response).await;
    }
    if !request.headers.has_token("Upgrade", "websocket") {
        let (method, path) = (&request.method, &request.path);
        crate::log!(
            Level::Debug,
            0,
            "{peer} sent a plain HTTP request: {method} {path}"
        );
        // Plain HTTP: the transfer may take as long as the client keeps
        // reading; a client that stops reading for the handshake timeout ends it.
        let idle = config.connection.handshake_timeout;
        if let Some(dir) = &config.static_dir {
            let mut writer = IdleTimeout::new(&mut stream, idle);
            let _ = Box::pin(http_files::serve(&mut writer, dir, &request)).await;
            return reject(stream, &[], linger).await;
        }
        if let Some(response) = &config.http_response {
            let mut writer = IdleTimeout::new(&mut stream, idle);
            let _ = Box::pin(http_files::write_plain(&mut writer, &request, response)).await;
            return reject(stream, &[], linger).await;
        }
    }
    let key = match validate_request(&request) {
        Ok(key) => key,
        Err(e) => {
            let why = format!("bad upgrade request: {}", e.message);
            return refuse(
                stream,
                shared,
                peer,
                Refusal::BadHandshake,
                &why,
                &e.response,
            )
            .await;
        }
    };
    if let Some((response, why)) = refusal(config, &request) {
        return refuse(stream, shared, peer, Refusal::Rejected, &why, &response).await;
    }
    let answer = if shared.common.handler.wants_upgrades() {
        match ask(
            &*shared.common.handler,
            request.clone(),
            peer,
            secure,
            deadline,
        )
        .await
        {
            Ok(answer) => answer,
            Err((why, status, reason)) => {
                let response = http_response(status, &[], reason.as_bytes());
                return refuse(stream, shared, peer, why, reason, &response).await;
            }
        }
    } else {
        Answer::Accept {
            subprotocol: None,
            headers: Vec::new(),
            app_data: 0,
        }
    };
    let (subprotocol, mut headers, app_data) = match answer {
        Answer::Reject {
            status,
            headers,
            body,
        } => {
            let response = http_response(status, &headers, &body);
            let why = "rejected by the application";
            return refuse(stream, shared, peer, Refusal::Rejected, why, &response).await;
        }
        Answer::Accept {
            subprotocol: Some(p),
            headers,
            app_data,
        } => (Some(p), headers, app_data),
        Answer::Accept {
            subprotocol: None,
            headers,
            app_data,
        } => match choose_subprotocol(&config.subprotocols, &offered_subprotocols(&request)) {
            Ok(p) => (p, headers, app_data),
            Err(why) => {
                let response = build_error_response(400, "Bad Request", &[], &why);
                return refuse(stream, shared, peer, Refusal::BadHandshake, &why, &response).await;
            }
        },
    };
    // permessage-deflate: accept the client's first acceptable offer, if enabled.
    let conn_config = &config.connection;
    let deflate = conn_config.deflate.as_ref().and_then(|dc| {
        let offers: Vec<&str> = request.headers.all("Sec-WebSocket-Extensions").collect();
        server_accept(dc, &offers).map(|params| (dc, params))
    });
    if let Some((_, params)) = &deflate {
        headers.push(("Sec-WebSocket-Extensions".into(), params.to_header()));
    }
    if let Some(p) = &subprotocol {
        headers.push(("Sec-WebSocket-Protocol".into(), p.clone()));
    }
    let extra: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let accepted = build_accept_response(&key, &extra);
    let thread = runtime::current().expect("connections are served on an I/O thread");
    let conn = Connection::new(
        Role::Server,
        thread,
        &request.path,
        &request.query,
        shared.common.clone(),
    );
    opening(&conn);
    conn.set_peer(peer);
    conn.app_data
        .store(app_data as *mut std::ffi::c_void, Ordering::Release);
    let extensions = deflate.as_ref().map(|(_, p)| p.to_header());
    conn.set_handshake(
        &request.headers,
        subprotocol.as_deref(),
        extensions.as_deref().unwrap_or(""),
        secure,
        head.as_deref().map(|head| [head, &accepted[..]]),
    );
    let link = Link {
        conn: conn.clone(),
        config: conn_config.clone(),
    };
    // Listed before the 101 goes out, so that a server counts a connection by
    // the time its client sees it open (unlisted again if it fails here).
    let registration = slot.register(conn.clone());
    // Every accepted request ends in an open connection or in a failure the
    // application hears of: it may hold state for it (its user data).
    let failure = match timeout_at(deadline, stream.write_all(&accepted)).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some((
            ErrorKind::Io,
            format!("writing the 101 response failed: {e}"),
        )),
        Err(_) => Some((
            ErrorKind::Timeout,
            "the client did not take the 101 response within the handshake timeout".to_string(),
        )),
    };
    if let Some((kind, message)) = failure {
        if kind == ErrorKind::Timeout {
            shared.refused(Refusal::Timeout, peer, None, &message);
        }
        return fail_before_open(&link, kind, message).await;
    }
    let transport = match stream.into_transport(&conn) {
        Ok(transport) => transport,
        Err(e) => {
            let message = format!("cannot watch the socket: {e}");
            return fail_before_open(&link, ErrorKind::Io, message).await;
        }
    };
    registration.count_accepted();
    if shared.is_stopped() {
        // stop() ran between the check above and the registration.
        let _ = conn.close(Some(1001), "server shutting down");
    }
    let negotiated = deflate.as_ref().map(|(dc, p)| (*dc, p));
    let session = open_session(Role::Server, conn_config, negotiated);
    start(link, transport, session, leftover, Some(registration));
}

/// Reads the request head; returns it (parsed, and as it came when
/// `keep_head`) with the bytes that followed it, or what is wrong with it
/// (with the response to send), or `None` when the client left before
/// sending all of it.
async fn read_request<S: Stream>(
    stream: &mut S,
    keep_head: bool,
) -> Result<(Request, Option<Vec<u8>>, Vec<u8>), Option<HandshakeError>> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        match parse_request(&buf) {
            Ok(Some((req, n))) => {
                let leftover = buf.split_off(n);
                return Ok((req, keep_head.then_some(buf), leftover));
            }
            Ok(None) => {}
            Err(e) => return Err(Some(e)),
        }
        match read_more(stream, &mut buf).await {
            Ok(0) | Err(_) => return Err(None),
            Ok(_) => {}
        }
    }
}

/// Sends `response` (if any) and closes, all within `limit`. Before closing
/// it reads and drops what the client still sends (up to 64 KiB): closing a
/// socket with unread data resets the connection, which can destroy the
/// response before the client reads it.
async fn reject<S: Stream>(mut stream: S, response: &[u8], limit: Duration) {
    let _ = timeout(limit, async {
        if !response.is_empty() {
            stream.write_all(response).await?;
        }
        stream.shutdown().await?;
        let mut drained = 0;
        let mut sink = vec![0u8; 1024];
        while drained < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// The 403 for an `Origin` outside the allow-list, if the list is set, and
/// why.
fn refusal(config: &ServerConfig, request: &Request) -> Option<(Vec<u8>, String)> {
    if config.allowed_origins.is_empty() {
        return None;
    }
    let origin = request.headers.get("Origin")?;
    let same = |allowed: &String| {
        allowed
            .trim_end_matches('/')
            .eq_ignore_ascii_case(origin.trim_end_matches('/'))
    };
    if config.allowed_origins.iter().any(same) {
        return None;
    }
    let why = format!("origin '{origin}' is not allowed");
    Some((build_error_response(403, "Forbidden", &[], &why), why))
}

/// The server's own choice: the first of its subprotocols the client offered.
/// None when the client offered none or the server has none; why not (for a
/// 400) when the client offered some and the server speaks none of them.
fn choose_subprotocol(ours: &[String], offered: &[&str]) -> Result<Option<String>, String> {
    if offered.is_empty() || ours.is_empty() {
        return Ok(None);
    }
    match ours.iter().find(|p| offered.contains(&p.as_str())) {
        Some(p) => Ok(Some(p.clone())),
        None => Err(format!(
            "none of the subprotocols offered ({}) is supported (supported: {})",
            offered.join(", "),
            ours.join(", ")
        )),
    }
}

/// Why the library refused a request in the application's stead: the
/// reason counted, the HTTP status and the body (a sentence).
type Unanswered = (Refusal, u16, &'static str);

/// Hands the request to the application and waits for its answer until the
/// handshake deadline.
async fn ask(
    handler: &dyn Handler,
    request: Request,
    peer: SocketAddr,
    secure: bool,
    deadline: Instant,
) -> Result<Answer, Unanswered> {
    if let Some((queue, limit)) = handler.flow_control() {
        let cost = upgrade_cost(&request, limit);
        match timeout_at(deadline, queue.acquire_many(cost)).await {
            Ok(Ok(permit)) => permit.forget(),
            _ => return Err((Refusal::Full, 503, "the server is too busy to answer")),
        }
    }
    let (pending, answer) = PendingUpgrade::new(request, peer, secure);
    handler.upgrade(Arc::new(pending));
    match timeout_at(deadline, answer).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(_)) => Err((
            Refusal::Rejected,
            500,
            "the application dropped the request without answering",
        )),
        Err(_) => Err((
            Refusal::Timeout,
            503,
            "the application did not answer the handshake in time",
        )),
    }
}

/// A complete HTTP response for a rejection, closing the connection. 204 and
/// 304 have no body (nor its headers).
fn http_response(status: u16, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    let has_body = !matches!(status, 204 | 304);
    if has_body {
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
        {
            out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("Connection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    if has_body {
        out.extend_from_slice(body);
    }
    out
}
