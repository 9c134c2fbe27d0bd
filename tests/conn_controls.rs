//! Per-connection controls over real sockets, through their C functions:
//! automatic pongs switched off (`ws_*_config_set_auto_pong`,
//! `ws_conn_set_auto_pong`) with the application answering by `ws_conn_pong`,
//! a message-size limit set on an open connection
//! (`ws_conn_set_max_message_size`), ending one at once (`ws_conn_abort`),
//! and the opening handshake kept as it went over the wire
//! (`ws_conn_request_text`, `ws_conn_response_text`). The peers are hand-written (see `support.rs`), so what
//! goes over the wire is seen byte for byte.

#[path = "support.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use support::*;
use websocket::ffi::conn::{
    ws_conn_abort, ws_conn_pong, ws_conn_request_text, ws_conn_response_text, ws_conn_send_text,
    ws_conn_set_auto_pong, ws_conn_set_max_message_size,
};
use websocket::ffi::status::{
    ws_status, WS_ERR_INVALID_ARGUMENT, WS_ERR_NOT_OPEN, WS_ERR_NULL, WS_STATUS_OK,
};
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::{ClientConfig, Connection, ConnectionConfig, ServerConfig};

/// A server recording its events, with `auto_pong` as given.
fn server(auto_pong: bool) -> (Server, Arc<Recorder>, SocketAddr) {
    let rec = Recorder::new();
    let config = ServerConfig {
        connection: ConnectionConfig {
            auto_pong,
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = Server::listen("127.0.0.1", 0, config, rec.clone()).expect("listen");
    let addr = server.local_addr();
    (server, rec, addr)
}

/// The C handle of a connection.
fn c(conn: &Arc<Connection>) -> *mut Connection {
    Arc::as_ptr(conn).cast_mut()
}

/// Sends text through the C API.
fn send_text(conn: &Arc<Connection>, text: &str) -> ws_status {
    unsafe { ws_conn_send_text(c(conn), text.as_ptr().cast(), text.len()) }
}

/// The raw client pings; once the server reported the ping, it sends a
/// marker. The next frame the client reads is the pong when the server
/// answered pings by itself (it queued the pong before reporting the ping),
/// else the marker.
fn ping_then_marker(raw: &mut Raw, rec: &Recorder, conn: &Arc<Connection>, n: usize) -> Frame {
    raw.send(&client_frame(PING, b"are you there"));
    rec.wait("the ping", |recs| {
        let pings = recs
            .iter()
            .filter(|r| Arc::ptr_eq(&r.conn, conn) && matches!(r.ev, Ev::Ping(_)))
            .count();
        (pings > n).then_some(())
    });
    assert_eq!(send_text(conn, "marker"), WS_STATUS_OK);
    raw.read_frame()
}

#[test]
fn with_auto_pong_off_a_ping_is_reported_and_the_application_answers() {
    let (_server, rec, addr) = server(false);
    let mut raw = raw_client(addr, "/");
    let conn = rec.opened(0);
    let first = ping_then_marker(&mut raw, &rec, &conn, 0);
    assert_eq!(
        (first.opcode, &first.payload[..]),
        (TEXT, &b"marker"[..]),
        "no pong went out by itself"
    );
    let rc = unsafe { ws_conn_pong(c(&conn), b"are you there".as_ptr(), 13) };
    assert_eq!(rc, WS_STATUS_OK);
    let pong = raw.read_frame();
    assert_eq!(
        (pong.opcode, &pong.payload[..]),
        (PONG, &b"are you there"[..])
    );
    // Switched on for this connection, the next ping is answered by itself.
    assert_eq!(unsafe { ws_conn_set_auto_pong(c(&conn), 1) }, WS_STATUS_OK);
    let first = ping_then_marker(&mut raw, &rec, &conn, 1);
    assert_eq!(
        (first.opcode, &first.payload[..]),
        (PONG, &b"are you there"[..])
    );
    assert_eq!(raw.read_frame().payload, b"marker");
}

#[test]
fn auto_pong_can_be_switched_off_on_one_open_connection() {
    let (_server, rec, addr) = server(true);
    let mut raw = raw_client(addr, "/");
    let conn = rec.opened(0);
    let first = ping_then_marker(&mut raw, &rec, &conn, 0);
    assert_eq!(first.opcode, PONG, "on by default");
    assert_eq!(raw.read_frame().payload, b"marker");
    assert_eq!(unsafe { ws_conn_set_auto_pong(c(&conn), 0) }, WS_STATUS_OK);
    let first = ping_then_marker(&mut raw, &rec, &conn, 1);
    assert_eq!((first.opcode, &first.payload[..]), (TEXT, &b"marker"[..]));
    assert_eq!(
        unsafe { ws_conn_set_auto_pong(std::ptr::null_mut(), 0) },
        WS_ERR_NULL
    );
    raw.send(&client_frame(CLOSE, &close_payload(1000, "")));
    raw.read_until_close();
    drop(raw);
    rec.wait_close(&conn);
    assert_eq!(
        unsafe { ws_conn_set_auto_pong(c(&conn), 1) },
        WS_ERR_NOT_OPEN
    );
}

#[test]
fn a_client_with_auto_pong_off_does_not_answer_pings() {
    let (listener, addr) = raw_listener();
    let rec = Recorder::new();
    let config = ClientConfig {
        connection: ConnectionConfig {
            auto_pong: false,
            ..ConnectionConfig::default()
        },
        ..ClientConfig::default()
    };
    let conn = connect(&format!("ws://{addr}/"), config, rec.clone()).expect("connect");
    let (mut raw, _) = accept_ws(&listener);
    rec.opened(0);
    raw.send(&server_frame(PING, b"p"));
    rec.wait_event(&conn, "the ping", |e| *e == Ev::Ping(b"p".to_vec()));
    assert_eq!(send_text(&conn, "marker"), WS_STATUS_OK);
    let first = raw.read_frame();
    assert_eq!((first.opcode, &first.payload[..]), (TEXT, &b"marker"[..]));
}

#[test]
fn a_connection_limit_fails_larger_messages_with_1009() {
    let (_server, rec, addr) = server(true);
    let mut raw = raw_client(addr, "/");
    let conn = rec.opened(0);
    let set = |bytes| unsafe { ws_conn_set_max_message_size(c(&conn), bytes) };
    assert_eq!(set(0), WS_ERR_INVALID_ARGUMENT);
    assert_eq!(
        unsafe { ws_conn_set_max_message_size(std::ptr::null_mut(), 5) },
        WS_ERR_NULL
    );
    assert_eq!(set(5), WS_STATUS_OK);
    raw.send(&client_frame(TEXT, b"12345"));
    assert_eq!(rec.wait_message(&conn, 0), Ev::Text(b"12345".to_vec()));
    raw.send(&client_frame(TEXT, b"123456"));
    let (_, close) = raw.read_until_close();
    assert_eq!(close.close_code().map(|(code, _)| code), Some(1009));
    drop(raw);
    assert_eq!(
        rec.wait_close(&conn).0,
        1006,
        "the peer sent no close frame"
    );
    assert_eq!(rec.events(&conn).len(), 4, "open, message, error, close");
    assert_eq!(set(5), WS_ERR_NOT_OPEN);
}

#[test]
fn a_limit_set_in_a_callback_applies_to_the_next_message() {
    /// Sets the limit to 3 when a message arrives.
    struct Limiter(Arc<Recorder>);
    impl websocket::transport::Handler for Limiter {
        fn event(&self, conn: &Arc<Connection>, event: websocket::transport::Event<'_>) {
            if let websocket::transport::Event::Message { .. } = event {
                let rc = unsafe { ws_conn_set_max_message_size(c(conn), 3) };
                assert_eq!(rc, WS_STATUS_OK);
            }
            self.0.event(conn, event);
        }
    }
    let rec = Recorder::new();
    let handler = Arc::new(Limiter(rec.clone()));
    let server = Server::listen("127.0.0.1", 0, ServerConfig::default(), handler).unwrap();
    let mut raw = raw_client(server.local_addr(), "/");
    let conn = rec.opened(0);
    // Both in one write: the second is read while the first is handled.
    let mut both = client_frame(TEXT, b"first, long");
    both.extend(client_frame(TEXT, b"long"));
    raw.send(&both);
    let (_, close) = raw.read_until_close();
    assert_eq!(close.close_code().map(|(code, _)| code), Some(1009));
    drop(raw);
    assert_eq!(
        rec.wait_message(&conn, 0),
        Ev::Text(b"first, long".to_vec())
    );
    rec.wait_close(&conn);
    assert_eq!(rec.events(&conn).len(), 4, "open, message, error, close");
}

#[test]
fn an_aborted_server_connection_ends_without_a_close_frame() {
    let (_server, rec, addr) = server(true);
    let mut raw = raw_client(addr, "/");
    let conn = rec.opened(0);
    assert_eq!(unsafe { ws_conn_abort(c(&conn)) }, WS_STATUS_OK);
    let (rest, _how) = raw.read_to_end();
    assert!(rest.is_empty(), "nothing was sent, not even a close frame");
    assert_eq!(rec.wait_close(&conn), (1006, "aborted".to_string()));
    assert_eq!(unsafe { ws_conn_abort(c(&conn)) }, WS_ERR_NOT_OPEN);
    assert_eq!(unsafe { ws_conn_abort(std::ptr::null_mut()) }, WS_ERR_NULL);
}

#[test]
fn an_aborted_client_connection_drops_what_it_queued() {
    let (listener, addr) = raw_listener();
    let rec = Recorder::new();
    let conn = connect(
        &format!("ws://{addr}/"),
        ClientConfig::default(),
        rec.clone(),
    )
    .unwrap();
    let (mut raw, _) = accept_ws(&listener);
    rec.opened(0);
    // The raw server does not read: a large message stays queued.
    let big = vec![b'x'; 16 << 20];
    let _ = conn.send_text(&big);
    assert_eq!(unsafe { ws_conn_abort(c(&conn)) }, WS_STATUS_OK);
    assert_eq!(rec.wait_close(&conn), (1006, "aborted".to_string()));
    assert_eq!(send_text(&conn, "late"), WS_ERR_NOT_OPEN);
    // The message was cut (so nothing, no close frame either, came after it).
    let (rest, _) = raw.read_to_end();
    assert!(rest.len() < big.len(), "the queued message was dropped");
}

#[test]
fn abort_from_a_callback_ends_the_connection() {
    /// Aborts on the first message.
    struct Aborter(Arc<Recorder>);
    impl websocket::transport::Handler for Aborter {
        fn event(&self, conn: &Arc<Connection>, event: websocket::transport::Event<'_>) {
            if let websocket::transport::Event::Message { .. } = event {
                assert_eq!(unsafe { ws_conn_abort(c(conn)) }, WS_STATUS_OK);
                assert_eq!(send_text(conn, "after"), WS_ERR_NOT_OPEN);
            }
            self.0.event(conn, event);
        }
    }
    let rec = Recorder::new();
    let handler = Arc::new(Aborter(rec.clone()));
    let server = Server::listen("127.0.0.1", 0, ServerConfig::default(), handler).unwrap();
    let mut raw = raw_client(server.local_addr(), "/");
    let conn = rec.opened(0);
    let mut two = client_frame(TEXT, b"one");
    two.extend(client_frame(TEXT, b"two"));
    two.extend(client_frame(PING, b"p"));
    raw.send(&two);
    let (rest, _) = raw.read_to_end();
    assert!(rest.is_empty(), "no pong, no close frame: {rest:?}");
    assert_eq!(rec.wait_close(&conn), (1006, "aborted".to_string()));
    assert_eq!(
        rec.events(&conn),
        vec![
            Ev::Open,
            Ev::Text(b"one".to_vec()),
            Ev::Close(1006, "aborted".to_string())
        ]
    );
}

/// The text `get` returns for `conn`, `None` for NULL.
fn text_of(
    conn: &Arc<Connection>,
    get: unsafe extern "C" fn(*const Connection) -> *const std::ffi::c_char,
) -> Option<String> {
    let p = unsafe { get(Arc::as_ptr(conn)) };
    (!p.is_null()).then(|| {
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned()
    })
}

#[test]
fn a_server_keeps_the_handshake_as_it_went_over_the_wire_when_asked() {
    let rec = Recorder::new();
    let config = ServerConfig {
        connection: ConnectionConfig {
            keep_handshake_text: true,
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let keeping = Server::listen("127.0.0.1", 0, config, rec.clone()).expect("listen");
    let mut raw = Raw::connect(keeping.local_addr());
    let sent = request("/chat?room=1", RFC_KEY, "X-Custom: yes\r\n");
    raw.send(sent.as_bytes());
    let answered = raw.read_head();
    let conn = rec.opened(0);
    assert_eq!(text_of(&conn, ws_conn_request_text), Some(sent));
    assert_eq!(text_of(&conn, ws_conn_response_text), Some(answered));
    assert!(unsafe { ws_conn_request_text(std::ptr::null()) }.is_null());
    // Off (the default), nothing is kept.
    let (_plain, rec, addr) = server(true);
    let _raw = raw_client(addr, "/");
    let conn = rec.opened(0);
    assert_eq!(text_of(&conn, ws_conn_request_text), None);
    assert_eq!(text_of(&conn, ws_conn_response_text), None);
}

#[test]
fn a_client_keeps_the_handshake_with_its_extra_headers() {
    let (listener, addr) = raw_listener();
    let rec = Recorder::new();
    let config = ClientConfig {
        headers: vec![("X-Token".to_string(), "abc".to_string())],
        connection: ConnectionConfig {
            keep_handshake_text: true,
            ..ConnectionConfig::default()
        },
        ..ClientConfig::default()
    };
    let conn = connect(&format!("ws://{addr}/path"), config, rec.clone()).expect("connect");
    let mut raw = accept(&listener);
    let received = raw.read_head();
    let key = header(&received, "Sec-WebSocket-Key").unwrap().to_string();
    assert_eq!(text_of(&conn, ws_conn_request_text), None, "not open yet");
    let answer = switching_protocols(&key, "X-Server: hi\r\n");
    raw.send(answer.as_bytes());
    rec.opened(0);
    let sent = text_of(&conn, ws_conn_request_text).expect("kept");
    assert_eq!(sent, received);
    assert!(sent.starts_with("GET /path HTTP/1.1\r\n") && sent.ends_with("\r\n\r\n"));
    assert!(sent.contains("\r\nX-Token: abc\r\n"), "{sent}");
    assert_eq!(text_of(&conn, ws_conn_response_text), Some(answer));
}
