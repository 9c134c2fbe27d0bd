//! Control of the opening handshake, over real loopback sockets: our client
//! against our server, and raw HTTP peers (support.rs) on either side.
//!
//! - Subprotocols: the server's preference wins; the client's offer goes out in
//!   its order; no common one is a 400 naming both lists; a client that offered
//!   some refuses a 101 that chose none; offering none opens without one.
//! - Origin: `ClientConfig.origin` is sent; the server's allow-list lets listed
//!   origins (case-insensitive, trailing slash ignored) and requests without
//!   `Origin` through, and answers 403 to the others.
//! - Handshake headers: readable on both ends (`Connection::header`, `headers`).
//! - The application's decision (`Handler::wants_upgrades`/`upgrade`): accept
//!   with a subprotocol and headers, reject with a status, headers and a body,
//!   answer later from another thread, never (503 after the handshake timeout)
//!   or drop the request (500); what `PendingUpgrade` shows of the request.
//! - HTTP CONNECT proxies (a small proxy written here): the tunnel, Basic
//!   credentials from the proxy URL, a 407 refusal, `ProxyChoice::Direct` and
//!   the environment (in a child process, so this process's environment is
//!   never changed), and `connect_timeout` against a proxy that never answers.
//! - Plain HTTP on the WebSocket port: static files, a fixed response, and the
//!   400 when there is neither, with WebSocket clients still served; a long
//!   download outlasts the handshake timeout while the client reads, a stalled
//!   one is dropped; a large rejection reaches a client that sent more than
//!   its request (the server drains before closing); a 204 rejection has no body.

#[path = "support.rs"]
mod support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use support::{
    accept, accept_for, base64, client_frame, eventually, header, raw_listener, request, status,
    switching_protocols, Ev, Raw, Recorder, RFC_KEY, TEXT, WAIT,
};
use websocket::protocol::proxy::parse_proxy_url;
use websocket::transport::client::connect;
use websocket::transport::config::ProxyChoice;
use websocket::transport::http_files::{PlainResponse, StaticDir};
use websocket::transport::server::Server;
use websocket::transport::upgrade::{Answer, AnswerError, PendingUpgrade};
use websocket::transport::{
    ClientConfig, Connection, ConnectionState, ErrorKind, Event, Handler, ServerConfig,
};

// ===========================================================================
// Helpers
// ===========================================================================

fn listen(handler: Arc<dyn Handler>, config: ServerConfig) -> Server {
    Server::listen("127.0.0.1", 0, config, handler).expect("listen")
}

fn url(server: &Server) -> String {
    format!("ws://{}/", server.local_addr())
}

/// A client config that ignores proxy variables in the environment.
fn direct() -> ClientConfig {
    ClientConfig {
        proxy: ProxyChoice::Direct,
        ..ClientConfig::default()
    }
}

fn offering(subprotocols: &[&str]) -> ClientConfig {
    ClientConfig {
        subprotocols: strings(subprotocols),
        ..direct()
    }
}

fn with_origin(origin: Option<&str>) -> ClientConfig {
    ClientConfig {
        origin: origin.map(str::to_string),
        ..direct()
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Connects a client and waits for its `Open` event.
fn open_client(url: &str, crec: &Arc<Recorder>, config: ClientConfig) -> Arc<Connection> {
    let client = connect(url, config, crec.clone()).expect("connect");
    crec.wait_event(&client, "the client's Open", |e| *e == Ev::Open);
    assert_eq!(client.state(), ConnectionState::Open);
    client
}

/// Connects a client that must fail before opening: its only events are
/// `Error(kind, message)` then `Close(1006)`. Returns the message.
fn failed_client(url: &str, config: ClientConfig, kind: ErrorKind) -> String {
    let crec = Recorder::new();
    let client = connect(url, config, crec.clone()).expect("connect");
    crec.wait_close(&client);
    let events = crec.events(&client);
    let message = match &events[..] {
        [Ev::Error(k, m), Ev::Close(1006, reason)] if *k == kind && reason.is_empty() => m.clone(),
        other => panic!("expected Error({kind:?}, _) then Close(1006), got {other:?}"),
    };
    assert!(!client.was_opened());
    assert_eq!(client.failure(), Some((kind, message.as_str())));
    message
}

fn subprotocol(conn: &Connection) -> &str {
    conn.subprotocol().to_str().expect("UTF-8 subprotocol")
}

fn conn_header(conn: &Connection, name: &str) -> Option<String> {
    conn.header(name)
        .map(|v| v.to_str().expect("UTF-8 header").to_string())
}

fn conn_headers(conn: &Connection) -> Vec<(String, String)> {
    (0..conn.header_count())
        .filter_map(|i| conn.header_at(i))
        .map(|(n, v)| {
            (
                n.to_str().expect("UTF-8 name").to_string(),
                v.to_str().expect("UTF-8 value").to_string(),
            )
        })
        .collect()
}

/// Sends a text message on `client` (connected to an echo server) and waits
/// for it to come back.
fn echoes(crec: &Recorder, client: &Arc<Connection>, text: &str) {
    client.send_text(text.as_bytes()).expect("send");
    let got = crec.wait_message(client, 0);
    assert_eq!(got, Ev::Text(text.as_bytes().to_vec()));
}

/// Sends `request` from a raw client and reads the whole answer until the
/// server closes: the head (with its blank line) and the body, checked
/// against `Content-Length` (except for HEAD).
fn raw_http(addr: SocketAddr, request: &str) -> (String, Vec<u8>) {
    let mut raw = Raw::connect(addr);
    raw.send(request.as_bytes());
    let (bytes, _) = raw.read_to_end();
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(&bytes)))
        + 4;
    let head = String::from_utf8(bytes[..end].to_vec()).expect("ASCII head");
    let body = bytes[end..].to_vec();
    if let (Some(length), false) = (
        header(&head, "Content-Length"),
        request.starts_with("HEAD "),
    ) {
        assert_eq!(length, body.len().to_string(), "Content-Length of {head}");
    }
    (head, body)
}

/// A plain HTTP GET (no upgrade headers).
fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

// ===========================================================================
// A handler that decides upgrades
// ===========================================================================

/// What [`Decider`] does with each upgrade request.
#[derive(Clone)]
enum Decision {
    /// Answers at once, on the runtime thread.
    Now(Answer),
    /// Answers from another thread after this delay.
    Later(Duration, Answer),
    /// Keeps the request and never answers.
    Never,
    /// Drops the request without answering.
    Drop,
}

/// A [`Handler`] with `wants_upgrades() == true` that records connection
/// events in a [`Recorder`] and answers upgrade requests as told.
struct Decider {
    rec: Arc<Recorder>,
    decision: Decision,
    /// The requests seen (all but those dropped), kept alive.
    seen: Mutex<Vec<Arc<PendingUpgrade>>>,
    /// What `answer()` returned, in order (shared with answering threads).
    results: Arc<Mutex<Vec<Result<(), AnswerError>>>>,
}

impl Decider {
    fn new(decision: Decision) -> (Arc<Decider>, Arc<Recorder>) {
        let rec = Recorder::new();
        let decider = Arc::new(Decider {
            rec: rec.clone(),
            decision,
            seen: Mutex::new(Vec::new()),
            results: Arc::new(Mutex::new(Vec::new())),
        });
        (decider, rec)
    }

    fn seen(&self) -> Vec<Arc<PendingUpgrade>> {
        self.seen.lock().unwrap().clone()
    }

    fn results(&self) -> Vec<Result<(), AnswerError>> {
        self.results.lock().unwrap().clone()
    }
}

impl Handler for Decider {
    fn event(&self, conn: &Arc<Connection>, event: Event<'_>) {
        self.rec.event(conn, event);
    }

    fn wants_upgrades(&self) -> bool {
        true
    }

    fn upgrade(&self, request: Arc<PendingUpgrade>) {
        if let Decision::Drop = self.decision {
            return;
        }
        self.seen.lock().unwrap().push(request.clone());
        match &self.decision {
            Decision::Now(answer) => {
                let result = request.answer(answer.clone());
                self.results.lock().unwrap().push(result);
            }
            Decision::Later(delay, answer) => {
                let (delay, answer) = (*delay, answer.clone());
                let results = self.results.clone();
                thread::spawn(move || {
                    thread::sleep(delay);
                    let result = request.answer(answer);
                    results.lock().unwrap().push(result);
                });
            }
            Decision::Never | Decision::Drop => {}
        }
    }
}

fn accept_with(subprotocol: Option<&str>, headers: &[(&str, &str)]) -> Answer {
    Answer::Accept {
        subprotocol: subprotocol.map(str::to_string),
        headers: pairs(headers),
        app_data: 0,
    }
}

// ===========================================================================
// A small HTTP CONNECT proxy
// ===========================================================================

/// How [`TestProxy`] answers a CONNECT.
#[derive(Clone)]
enum ProxyMode {
    /// Opens the tunnel.
    Tunnel,
    /// Opens the tunnel only with this `Proxy-Authorization` value, else 407.
    RequireAuth(String),
    /// Always 407.
    Refuse,
    /// Reads the request and never answers.
    Silent,
}

/// A CONNECT proxy on 127.0.0.1 (one thread per client, two per tunnel) that
/// records each request head and counts the tunnels it opened.
struct TestProxy {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    tunnels: Arc<AtomicUsize>,
}

impl TestProxy {
    fn start(mode: ProxyMode) -> TestProxy {
        let (listener, addr) = raw_listener();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let tunnels = Arc::new(AtomicUsize::new(0));
        let (h, t) = (heads.clone(), tunnels.clone());
        // The accepting thread lives as long as the test process.
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (mode, h, t) = (mode.clone(), h.clone(), t.clone());
                thread::spawn(move || proxy_one(stream, &mode, &h, &t));
            }
        });
        TestProxy {
            addr,
            heads,
            tunnels,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }
}

const PROXY_407: &str = "HTTP/1.1 407 Proxy Authentication Required\r\n\
     Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

fn proxy_one(
    mut client: TcpStream,
    mode: &ProxyMode,
    heads: &Mutex<Vec<String>>,
    tunnels: &AtomicUsize,
) {
    client.set_read_timeout(Some(WAIT)).unwrap();
    // Read the head a byte at a time: nothing of the tunnel is taken.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) if head.len() < 16 * 1024 => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    heads.lock().unwrap().push(head.clone());
    let authorized = match mode {
        ProxyMode::Tunnel => true,
        ProxyMode::RequireAuth(expected) => header(&head, "Proxy-Authorization") == Some(expected),
        ProxyMode::Refuse => false,
        ProxyMode::Silent => {
            // Hold the connection until the client gives up.
            client
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let _ = client.read(&mut [0u8; 64]);
            return;
        }
    };
    if !authorized {
        let _ = client.write_all(PROXY_407.as_bytes());
        return;
    }
    let target = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_default()
        .to_string();
    let Ok(server) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    tunnels.fetch_add(1, Ordering::SeqCst);
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    client.set_read_timeout(None).unwrap();
    let (client2, server2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = thread::spawn(move || pipe(client2, server2));
    pipe(server, client);
    let _ = up.join();
}

/// Copies `from` to `to` until `from` ends, then ends `to`'s writing side.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

fn through(proxy_url: &str) -> ClientConfig {
    ClientConfig {
        proxy: ProxyChoice::Use(parse_proxy_url(proxy_url).expect("proxy URL")),
        ..ClientConfig::default()
    }
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("ws-handshake-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ===========================================================================
// Subprotocols
// ===========================================================================

#[test]
fn the_servers_preferred_subprotocol_is_chosen() {
    let srec = Recorder::new();
    let server = listen(
        srec.clone(),
        ServerConfig {
            subprotocols: strings(&["a", "b"]),
            ..ServerConfig::default()
        },
    );
    let crec = Recorder::new();
    let client = open_client(&url(&server), &crec, offering(&["b", "a"]));
    let sconn = srec.opened(0);
    assert_eq!(subprotocol(&client), "a");
    assert_eq!(subprotocol(&sconn), "a");
    assert_eq!(
        conn_header(&client, "Sec-WebSocket-Protocol").as_deref(),
        Some("a")
    );
    assert_eq!(
        conn_header(&sconn, "Sec-WebSocket-Protocol").as_deref(),
        Some("b, a")
    );
}

#[test]
fn the_client_offers_its_subprotocols_in_its_order() {
    let (listener, addr) = raw_listener();
    let crec = Recorder::new();
    let client = connect(
        &format!("ws://{addr}/"),
        offering(&["b", "a"]),
        crec.clone(),
    )
    .expect("connect");
    let mut raw = accept(&listener);
    let head = raw.read_head();
    assert_eq!(
        header(&head, "Sec-WebSocket-Protocol"),
        Some("b, a"),
        "{head}"
    );
    let key = header(&head, "Sec-WebSocket-Key").expect("key");
    raw.send(switching_protocols(key, "Sec-WebSocket-Protocol: a\r\n").as_bytes());
    crec.wait_event(&client, "the client's Open", |e| *e == Ev::Open);
    assert_eq!(subprotocol(&client), "a");
}

#[test]
fn no_acceptable_subprotocol_is_a_400_naming_both_lists() {
    let srec = Recorder::new();
    let server = listen(
        srec.clone(),
        ServerConfig {
            subprotocols: strings(&["a", "b"]),
            ..ServerConfig::default()
        },
    );
    let message = failed_client(&url(&server), offering(&["x"]), ErrorKind::Handshake);
    assert!(message.contains("400"), "{message}");

    let (head, body) = raw_http(
        server.local_addr(),
        &request("/", RFC_KEY, "Sec-WebSocket-Protocol: x, y\r\n"),
    );
    assert_eq!(status(&head), 400, "{head}");
    assert_eq!(
        String::from_utf8_lossy(&body),
        "none of the subprotocols offered (x, y) is supported (supported: a, b)"
    );
    assert!(srec.all().is_empty(), "the server opened: {:?}", srec.all());
}

#[test]
fn a_server_without_subprotocols_answers_none_and_our_client_refuses_that() {
    let srec = Recorder::new();
    let server = listen(srec.clone(), ServerConfig::default());
    let message = failed_client(&url(&server), offering(&["a"]), ErrorKind::Handshake);
    assert!(
        message.contains("chose none of the subprotocols we offered (a)"),
        "{message}"
    );
    // What the server sent: a 101 without Sec-WebSocket-Protocol.
    let mut raw = Raw::connect(server.local_addr());
    raw.send(request("/", RFC_KEY, "Sec-WebSocket-Protocol: a\r\n").as_bytes());
    let head = raw.read_head();
    assert_eq!(status(&head), 101, "{head}");
    assert_eq!(header(&head, "Sec-WebSocket-Protocol"), None, "{head}");
}

#[test]
fn a_client_offering_none_opens_without_a_subprotocol() {
    let srec = Recorder::new();
    let server = listen(
        srec.clone(),
        ServerConfig {
            subprotocols: strings(&["a"]),
            ..ServerConfig::default()
        },
    );
    let crec = Recorder::new();
    let client = open_client(&url(&server), &crec, direct());
    let sconn = srec.opened(0);
    assert_eq!(subprotocol(&client), "");
    assert_eq!(subprotocol(&sconn), "");
    assert_eq!(conn_header(&client, "Sec-WebSocket-Protocol"), None);
}

// ===========================================================================
// Origin
// ===========================================================================

#[test]
fn the_clients_origin_reaches_the_server() {
    let srec = Recorder::new();
    let server = listen(srec.clone(), ServerConfig::default());
    let crec = Recorder::new();
    open_client(
        &url(&server),
        &crec,
        with_origin(Some("https://app.example")),
    );
    let sconn = srec.opened(0);
    assert_eq!(
        conn_header(&sconn, "Origin").as_deref(),
        Some("https://app.example")
    );
    // Without one, none is sent.
    open_client(&url(&server), &crec, with_origin(None));
    assert_eq!(conn_header(&srec.opened(1), "origin"), None);
}

#[test]
fn the_origin_allow_list_admits_listed_origins_and_refuses_others_with_403() {
    let srec = Recorder::new();
    let server = listen(
        srec.clone(),
        ServerConfig {
            allowed_origins: strings(&["https://App.Example/", "http://localhost:8080"]),
            ..ServerConfig::default()
        },
    );
    let crec = Recorder::new();
    let allowed = [
        Some("https://app.example"),
        Some("HTTPS://APP.EXAMPLE/"),
        Some("http://localhost:8080/"),
        None,
    ];
    for (n, origin) in allowed.into_iter().enumerate() {
        open_client(&url(&server), &crec, with_origin(origin));
        let sconn = srec.opened(n);
        assert_eq!(conn_header(&sconn, "Origin").as_deref(), origin);
    }
    for origin in [
        "https://evil.example",
        "https://app.example.evil",
        "http://localhost:8081",
    ] {
        let message = failed_client(
            &url(&server),
            with_origin(Some(origin)),
            ErrorKind::Handshake,
        );
        assert!(message.contains("403"), "{origin}: {message}");
    }
    let (head, body) = raw_http(
        server.local_addr(),
        &request("/", RFC_KEY, "Origin: https://evil.example\r\n"),
    );
    assert_eq!(status(&head), 403, "{head}");
    assert_eq!(
        String::from_utf8_lossy(&body),
        "origin 'https://evil.example' is not allowed"
    );
    // Only the four allowed clients ever opened on the server.
    let opens = srec.all().iter().filter(|e| **e == Ev::Open).count();
    assert_eq!(opens, allowed.len());
}

// ===========================================================================
// Handshake headers
// ===========================================================================

#[test]
fn handshake_headers_are_readable_on_both_ends() {
    let (decider, srec) = Decider::new(Decision::Now(accept_with(None, &[("X-Session", "42")])));
    let server = listen(decider, ServerConfig::default());
    let crec = Recorder::new();
    let config = ClientConfig {
        headers: pairs(&[("X-Token", "abc"), ("X-Multi", "1"), ("X-Multi", "2")]),
        ..direct()
    };
    let client = open_client(&url(&server), &crec, config);
    let sconn = srec.opened(0);

    // The request, on the server.
    assert_eq!(conn_header(&sconn, "x-token").as_deref(), Some("abc"));
    assert_eq!(conn_header(&sconn, "X-MULTI").as_deref(), Some("1"));
    let request_headers = conn_headers(&sconn);
    let names: Vec<&str> = request_headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Host",
            "Upgrade",
            "Connection",
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Version",
            "X-Token",
            "X-Multi",
            "X-Multi"
        ]
    );
    assert_eq!(
        request_headers[5..],
        pairs(&[("X-Token", "abc"), ("X-Multi", "1"), ("X-Multi", "2")])[..]
    );
    assert_eq!(request_headers[0].1, server.local_addr().to_string());

    // The response, on the client.
    let key = conn_header(&sconn, "Sec-WebSocket-Key").expect("key");
    assert_eq!(
        conn_header(&client, "sec-websocket-accept"),
        Some(accept_for(&key))
    );
    assert_eq!(conn_header(&client, "x-session").as_deref(), Some("42"));
    let response_names: Vec<String> = conn_headers(&client).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        response_names,
        ["Upgrade", "Connection", "Sec-WebSocket-Accept", "X-Session"]
    );
}

// ===========================================================================
// The application's decision
// ===========================================================================

#[test]
fn the_application_accepts_with_its_subprotocol_and_headers() {
    let answer = accept_with(Some("y"), &[("X-Session", "42")]);
    let (decider, srec) = Decider::new(Decision::Now(answer));
    // The application's choice wins over the server's own list.
    let config = ServerConfig {
        subprotocols: strings(&["x"]),
        ..ServerConfig::default()
    };
    let server = listen(decider.clone(), config);
    let crec = Recorder::new();
    let client = open_client(&url(&server), &crec, offering(&["x", "y"]));
    let sconn = srec.opened(0);
    assert_eq!(subprotocol(&client), "y");
    assert_eq!(subprotocol(&sconn), "y");
    assert_eq!(conn_header(&client, "X-Session").as_deref(), Some("42"));
    assert_eq!(decider.results(), [Ok(())]);
    assert_eq!(decider.seen().len(), 1);
}

#[test]
fn the_application_rejects_with_its_status_headers_and_body() {
    let answer = Answer::Reject {
        status: 403,
        headers: pairs(&[("X-Reason", "policy")]),
        body: b"go away".to_vec(),
    };
    let (decider, srec) = Decider::new(Decision::Now(answer));
    let server = listen(decider.clone(), ServerConfig::default());

    let (head, body) = raw_http(server.local_addr(), &request("/", RFC_KEY, ""));
    assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
    assert_eq!(header(&head, "X-Reason"), Some("policy"), "{head}");
    assert_eq!(header(&head, "Content-Length"), Some("7"), "{head}");
    assert_eq!(header(&head, "Sec-WebSocket-Accept"), None, "{head}");
    assert_eq!(body, b"go away");

    let message = failed_client(&url(&server), direct(), ErrorKind::Handshake);
    assert!(message.contains("403"), "{message}");
    assert_eq!(decider.results(), [Ok(()), Ok(())]);
    assert!(srec.all().is_empty(), "the server opened: {:?}", srec.all());
}

#[test]
fn the_application_may_answer_later_from_another_thread() {
    let delay = Duration::from_millis(200);
    let (decider, srec) = Decider::new(Decision::Later(delay, accept_with(None, &[])));
    let server = listen(decider.clone(), ServerConfig::default());
    let crec = Recorder::new();
    let started = Instant::now();
    let client = connect(&url(&server), direct(), crec.clone()).expect("connect");
    let opened_at = crec.wait("the client's Open", |recs| {
        recs.iter()
            .find(|r| Arc::ptr_eq(&r.conn, &client) && r.ev == Ev::Open)
            .map(|r| r.at)
    });
    assert!(
        opened_at - started >= delay,
        "opened after {:?}, before the answer",
        opened_at - started
    );
    srec.opened(0);
    // The answering thread records the result after answer() returned.
    eventually("the answer's result", || !decider.results().is_empty());
    assert_eq!(decider.results(), [Ok(())]);
    // A request is answered once.
    let pending = decider.seen().pop().expect("the request");
    assert_eq!(
        pending.answer(accept_with(None, &[])),
        Err(AnswerError::Gone)
    );
}

#[test]
fn an_accepted_request_whose_client_left_ends_in_error_and_close() {
    use std::os::fd::AsRawFd;
    let answer = Answer::Accept {
        subprotocol: None,
        headers: Vec::new(),
        app_data: 0x5eed,
    };
    let (decider, srec) = Decider::new(Decision::Later(Duration::from_millis(300), answer));
    let server = listen(decider.clone(), ServerConfig::default());
    let mut raw = TcpStream::connect(server.local_addr()).unwrap();
    raw.write_all(request("/", RFC_KEY, "").as_bytes()).unwrap();
    eventually("the request reaches the application", || {
        !decider.seen().is_empty()
    });
    // Leave with a reset (linger 0): the 101 written later fails.
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a linger struct of the size given.
    let rc = unsafe {
        libc::setsockopt(
            raw.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(raw);
    eventually("the answer's result", || !decider.results().is_empty());
    let closed = srec.wait("the Close", |recs| {
        recs.iter()
            .find(|r| matches!(r.ev, Ev::Close(..)))
            .map(|r| r.conn.clone())
    });
    let events = srec.events(&closed);
    assert!(
        matches!(&events[..], [Ev::Error(ErrorKind::Io, m), Ev::Close(1006, _)] if m.contains("101")),
        "{events:?}"
    );
    assert_eq!(
        closed.app_data.load(Ordering::Relaxed) as usize,
        0x5eed,
        "the connection has the answer's app_data"
    );
    assert_eq!(server.connection_count(), 0);
}

#[test]
fn an_unanswered_request_gets_503_after_the_handshake_timeout() {
    let (decider, srec) = Decider::new(Decision::Never);
    let mut config = ServerConfig::default();
    config.connection.handshake_timeout = Duration::from_millis(400);
    let server = listen(decider.clone(), config);
    let started = Instant::now();
    let (head, body) = raw_http(server.local_addr(), &request("/", RFC_KEY, ""));
    let took = started.elapsed();
    assert_eq!(status(&head), 503, "{head}");
    assert_eq!(
        String::from_utf8_lossy(&body),
        "the application did not answer the handshake in time"
    );
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(3),
        "503 after {took:?}"
    );
    // The server stopped waiting: a late answer is refused.
    let pending = decider.seen().pop().expect("the request");
    assert_eq!(
        pending.answer(accept_with(None, &[])),
        Err(AnswerError::Gone)
    );
    // Our client sees the 503 as a handshake failure.
    let message = failed_client(&url(&server), direct(), ErrorKind::Handshake);
    assert!(message.contains("503"), "{message}");
    assert!(srec.all().is_empty(), "the server opened: {:?}", srec.all());
}

#[test]
fn a_dropped_request_gets_500() {
    let (decider, srec) = Decider::new(Decision::Drop);
    let server = listen(decider, ServerConfig::default());
    let (head, body) = raw_http(server.local_addr(), &request("/", RFC_KEY, ""));
    assert_eq!(status(&head), 500, "{head}");
    assert_eq!(
        String::from_utf8_lossy(&body),
        "the application dropped the request without answering"
    );
    let message = failed_client(&url(&server), direct(), ErrorKind::Handshake);
    assert!(message.contains("500"), "{message}");
    assert!(srec.all().is_empty(), "the server opened: {:?}", srec.all());
}

#[test]
fn the_pending_request_shows_what_the_client_sent() {
    let (decider, srec) = Decider::new(Decision::Now(accept_with(Some("two"), &[])));
    let server = listen(decider.clone(), ServerConfig::default());
    let mut raw = Raw::connect(server.local_addr());
    let extra = "Sec-WebSocket-Protocol: one, two\r\n\
                 Sec-WebSocket-Protocol: three\r\n\
                 X-Custom: value\r\n";
    raw.send(request("/chat/room?id=7&x=y", RFC_KEY, extra).as_bytes());
    let head = raw.read_head();
    assert_eq!(status(&head), 101, "{head}");
    assert_eq!(
        header(&head, "Sec-WebSocket-Protocol"),
        Some("two"),
        "{head}"
    );
    srec.opened(0);

    let seen = decider.seen();
    let [pending] = &seen[..] else {
        panic!("expected one request, got {}", seen.len())
    };
    assert_eq!(pending.request.method, "GET");
    assert_eq!(pending.request.path, "/chat/room");
    assert_eq!(pending.request.query, "id=7&x=y");
    assert_eq!(pending.request.headers.get("x-custom"), Some("value"));
    assert_eq!(pending.request.headers.get("host"), Some("localhost"));
    let names: Vec<&str> = pending
        .request
        .headers
        .0
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Host",
            "Upgrade",
            "Connection",
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Version",
            "Sec-WebSocket-Protocol",
            "Sec-WebSocket-Protocol",
            "X-Custom"
        ]
    );
    assert_eq!(pending.offered_subprotocols(), ["one", "two", "three"]);
    assert_eq!(pending.peer, raw.stream.local_addr().unwrap());
    assert_eq!(pending.peer.ip().to_string(), "127.0.0.1");
    assert!(!pending.secure);
}

// ===========================================================================
// Proxies
// ===========================================================================

#[test]
fn a_client_tunnels_through_an_http_connect_proxy() {
    let proxy = TestProxy::start(ProxyMode::Tunnel);
    let srec = Recorder::echo();
    let server = listen(srec.clone(), ServerConfig::default());
    let port = server.local_addr().port();
    let crec = Recorder::new();
    let proxy_url = format!("http://127.0.0.1:{}", proxy.addr.port());
    let client = open_client(&url(&server), &crec, through(&proxy_url));
    echoes(&crec, &client, "through the tunnel");
    assert_eq!(client.peer().to_str().unwrap(), proxy.addr.to_string());
    assert_eq!(proxy.tunnels(), 1);
    let heads = proxy.heads();
    let [head] = &heads[..] else {
        panic!("expected one CONNECT, got {heads:?}")
    };
    let first = head.split("\r\n").next().unwrap();
    assert_eq!(first, format!("CONNECT 127.0.0.1:{port} HTTP/1.1"));
    let target = format!("127.0.0.1:{port}");
    assert_eq!(header(head, "Host"), Some(target.as_str()), "{head}");
    assert_eq!(header(head, "Proxy-Authorization"), None, "{head}");
    srec.opened(0);
}

#[test]
fn proxy_credentials_from_the_url_are_sent_as_basic_auth() {
    let expected = format!("Basic {}", base64(b"user:p@ss"));
    let proxy = TestProxy::start(ProxyMode::RequireAuth(expected.clone()));
    let server = listen(Recorder::echo(), ServerConfig::default());
    let port = proxy.addr.port();
    let crec = Recorder::new();
    let config = through(&format!("http://user:p%40ss@127.0.0.1:{port}"));
    let client = open_client(&url(&server), &crec, config);
    echoes(&crec, &client, "authenticated");
    let heads = proxy.heads();
    assert_eq!(
        header(&heads[0], "Proxy-Authorization"),
        Some(expected.as_str())
    );
    // Wrong credentials: the proxy's 407 is a connect error.
    let config = through(&format!("http://user:wrong@127.0.0.1:{port}"));
    let message = failed_client(&url(&server), config, ErrorKind::Connect);
    assert!(message.contains("407"), "{message}");
    assert_eq!(proxy.tunnels(), 1);
}

#[test]
fn a_proxy_refusal_is_a_connect_error() {
    let proxy = TestProxy::start(ProxyMode::Refuse);
    let srec = Recorder::new();
    let server = listen(srec.clone(), ServerConfig::default());
    let message = failed_client(&url(&server), through(&proxy.url()), ErrorKind::Connect);
    assert!(message.contains("407"), "{message}");
    assert!(message.contains(&proxy.addr.to_string()), "{message}");
    assert_eq!(proxy.heads().len(), 1);
    assert_eq!(proxy.tunnels(), 0);
    assert!(srec.all().is_empty());
}

/// Environment variables that name the child's server and proxy.
const CHILD_SERVER: &str = "WS_HANDSHAKE_TEST_SERVER";
const CHILD_PROXY: &str = "WS_HANDSHAKE_TEST_PROXY";

/// Runs [`child_connects_with_the_environment_proxy`] in a child process whose
/// `http_proxy` names our proxy (this process's environment stays untouched).
#[test]
fn the_environment_proxy_is_used_and_direct_ignores_it() {
    let proxy = TestProxy::start(ProxyMode::Tunnel);
    let server = listen(Recorder::echo(), ServerConfig::default());
    let mut child = Command::new(std::env::current_exe().expect("test binary"));
    child.args([
        "--exact",
        "child_connects_with_the_environment_proxy",
        "--ignored",
        "--test-threads=1",
    ]);
    for name in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        child.env_remove(name);
    }
    child
        .env("http_proxy", proxy.url())
        .env(CHILD_SERVER, server.local_addr().to_string())
        .env(CHILD_PROXY, proxy.addr.to_string());
    let out = child.output().expect("run the child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // One tunnel: the FromEnvironment client's; the Direct one went straight.
    assert_eq!(proxy.tunnels(), 1);
    let port = server.local_addr().port();
    assert!(
        proxy.heads()[0].starts_with(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n")),
        "{:?}",
        proxy.heads()
    );
}

#[test]
#[ignore = "run in a child process with http_proxy set by the_environment_proxy_is_used_and_direct_ignores_it"]
fn child_connects_with_the_environment_proxy() {
    let var = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is not set: this test runs as a child process"))
    };
    let (server, proxy) = (var(CHILD_SERVER), var(CHILD_PROXY));
    let url = format!("ws://{server}/");
    let crec = Recorder::new();
    let config = ClientConfig {
        proxy: ProxyChoice::FromEnvironment,
        ..ClientConfig::default()
    };
    let via_env = open_client(&url, &crec, config);
    assert_eq!(via_env.peer().to_str().unwrap(), proxy);
    echoes(&crec, &via_env, "via http_proxy");
    let crec = Recorder::new();
    let straight = open_client(&url, &crec, direct());
    assert_eq!(straight.peer().to_str().unwrap(), server);
    echoes(&crec, &straight, "direct");
}

#[test]
fn connect_timeout_bounds_a_proxy_that_never_answers() {
    let proxy = TestProxy::start(ProxyMode::Silent);
    let server = listen(Recorder::new(), ServerConfig::default());
    let config = ClientConfig {
        connect_timeout: Duration::from_millis(300),
        ..through(&proxy.url())
    };
    let started = Instant::now();
    let message = failed_client(&url(&server), config, ErrorKind::Timeout);
    let took = started.elapsed();
    assert_eq!(
        message,
        format!(
            "connect to {}: no connection within 300 ms",
            server.local_addr()
        )
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "timed out after {took:?}"
    );
    // The proxy had the CONNECT: the wait was for its answer.
    eventually("the proxy to record the CONNECT", || {
        proxy.heads().len() == 1
    });
    assert_eq!(proxy.tunnels(), 0);
}

// ===========================================================================
// Plain HTTP on the WebSocket port
// ===========================================================================

#[test]
fn static_files_and_websockets_share_the_port() {
    let dir = TempDir::new("static");
    let index = "<!doctype html>\n<title>héllo</title>\n<p>static ☃</p>\n".as_bytes();
    let script = b"console.log('app');\n";
    std::fs::write(dir.0.join("index.html"), index).unwrap();
    std::fs::write(dir.0.join("app.js"), script).unwrap();
    let srec = Recorder::echo();
    let config = ServerConfig {
        static_dir: Some(StaticDir::new(&dir.0).expect("static dir")),
        ..ServerConfig::default()
    };
    let server = listen(srec.clone(), config);
    let addr = server.local_addr();

    let (head, body) = raw_http(addr, &get("/"));
    assert_eq!(status(&head), 200, "{head}");
    assert_eq!(
        header(&head, "Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(body, index);

    let (head, body) = raw_http(addr, &get("/app.js"));
    assert_eq!(status(&head), 200, "{head}");
    assert_eq!(
        header(&head, "Content-Type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(body, script);

    let (head, body) = raw_http(addr, "HEAD /app.js HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(status(&head), 200, "{head}");
    assert_eq!(header(&head, "Content-Length"), Some("20"), "{head}");
    assert!(body.is_empty());

    let (head, _) = raw_http(addr, &get("/missing"));
    assert_eq!(status(&head), 404, "{head}");

    let crec = Recorder::new();
    let client = open_client(&url(&server), &crec, direct());
    echoes(&crec, &client, "still a WebSocket server");
    srec.opened(0);
}

#[test]
fn a_fixed_http_response_answers_other_requests() {
    let srec = Recorder::echo();
    let config = ServerConfig {
        http_response: Some(PlainResponse {
            status: 200,
            content_type: "text/plain".into(),
            body: b"hello".to_vec(),
        }),
        ..ServerConfig::default()
    };
    let server = listen(srec.clone(), config);
    let (head, body) = raw_http(server.local_addr(), &get("/anything?x=1"));
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\
         Connection: close\r\n\r\n"
    );
    assert_eq!(body, b"hello");
    let crec = Recorder::new();
    let client = open_client(&url(&server), &crec, direct());
    echoes(&crec, &client, "upgrades still work");
    srec.opened(0);
}

#[test]
fn without_static_files_or_response_a_plain_get_is_a_400() {
    let srec = Recorder::new();
    let server = listen(srec.clone(), ServerConfig::default());
    let (head, body) = raw_http(server.local_addr(), &get("/"));
    assert_eq!(status(&head), 400, "{head}");
    assert_eq!(
        String::from_utf8_lossy(&body),
        "missing Upgrade header (expected 'Upgrade: websocket')"
    );
    assert!(srec.all().is_empty());
}

// ===========================================================================
// Ending plain HTTP answers well
// ===========================================================================

/// A server on a temporary directory holding `big.bin` of `size` bytes, with
/// a 300 ms handshake timeout.
fn big_file_server(name: &str, size: usize) -> (Server, TempDir, Vec<u8>) {
    let dir = TempDir::new(name);
    let content: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.0.join("big.bin"), &content).unwrap();
    let mut config = ServerConfig {
        static_dir: Some(StaticDir::new(&dir.0).expect("static dir")),
        ..ServerConfig::default()
    };
    config.connection.handshake_timeout = Duration::from_millis(300);
    (listen(Recorder::new(), config), dir, content)
}

#[test]
fn a_static_download_may_outlast_the_handshake_timeout_while_the_client_reads() {
    let (server, _dir, content) = big_file_server("slow-reader", 4 << 20);
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.write_all(get("/big.bin").as_bytes()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // About 1.3 s in all: far past the 300 ms handshake timeout, but the
        // transfer never stalls for 300 ms.
        thread::sleep(Duration::from_millis(20));
        match stream.read(&mut chunk).expect("read") {
            0 => break,
            n => got.extend_from_slice(&chunk[..n]),
        }
    }
    assert!(
        started.elapsed() > Duration::from_millis(600),
        "read too fast to test"
    );
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(status(&String::from_utf8_lossy(&got[..end])), 200);
    assert!(
        got[end..] == content[..],
        "got {} of {} bytes",
        got.len() - end,
        content.len()
    );
}

#[test]
fn a_client_that_stops_reading_a_static_download_is_dropped() {
    let size = 64 << 20;
    let (server, _dir, _) = big_file_server("stalled-reader", size);
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.write_all(get("/big.bin").as_bytes()).unwrap();
    // Stop reading long enough for the server's 300 ms idle limit to pass.
    thread::sleep(Duration::from_millis(1500));
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut total = 0usize;
    let mut chunk = vec![0u8; 256 * 1024];
    let started = Instant::now();
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
        assert!(
            started.elapsed() < WAIT,
            "the server kept the stalled download open"
        );
    }
    assert!(
        total < size,
        "the whole file arrived ({total} bytes): nothing was dropped"
    );
}

#[test]
fn a_large_rejection_reaches_a_client_that_sent_more_after_its_request() {
    // Closing a socket with unread input resets the connection at once, which
    // throws away what is still unsent in the server's send buffer: the server
    // must read (and drop) the client's extra bytes before it closes.
    let body: Vec<u8> = (0..(4 << 20)).map(|i| b'a' + (i % 26) as u8).collect();
    let answer = Answer::Reject {
        status: 403,
        headers: Vec::new(),
        body: body.clone(),
    };
    let (decider, srec) = Decider::new(Decision::Now(answer));
    let server = listen(decider, ServerConfig::default());
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    let mut bytes = request("/", RFC_KEY, "").into_bytes();
    bytes.extend(std::iter::repeat_n(0x81u8, 32 * 1024)); // early frames
    stream.write_all(&bytes).unwrap();
    // Let the server write what the socket takes and close, before reading.
    thread::sleep(Duration::from_millis(300));
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = Vec::new();
    let result = stream.read_to_end(&mut got);
    let end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    assert!(got.starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
    assert_eq!(
        got.len() - end,
        body.len(),
        "the body was cut short ({result:?})"
    );
    assert!(got[end..] == body[..]);
    assert!(srec.all().is_empty());
}

#[test]
fn a_204_rejection_has_no_body() {
    let answer = Answer::Reject {
        status: 204,
        headers: pairs(&[("X-Why", "nothing")]),
        body: b"dropped".to_vec(),
    };
    let (decider, _srec) = Decider::new(Decision::Now(answer));
    let server = listen(decider, ServerConfig::default());
    let (head, body) = raw_http(server.local_addr(), &request("/", RFC_KEY, ""));
    assert!(head.starts_with("HTTP/1.1 204 No Content\r\n"), "{head}");
    assert_eq!(header(&head, "X-Why"), Some("nothing"));
    assert_eq!(header(&head, "Content-Length"), None, "{head}");
    assert!(body.is_empty());
}

#[test]
fn an_upgrade_request_with_a_body_gets_400_and_its_body_is_never_read_as_frames() {
    let srec = Recorder::new();
    let server = listen(srec.clone(), ServerConfig::default());
    // A masked text frame "hi" as the "body": it must not reach the application.
    let body = client_frame(TEXT, b"hi");
    for extra in [
        format!("Content-Length: {}\r\n", body.len()),
        "Transfer-Encoding: chunked\r\n".to_string(),
        "Content-Length: 0\r\nContent-Length: 8\r\n".to_string(),
    ] {
        let mut raw = Raw::connect(server.local_addr());
        raw.send(request("/", RFC_KEY, &extra).as_bytes());
        raw.send(&body);
        let head = raw.read_head();
        assert_eq!(status(&head), 400, "{extra}: {head}");
    }
    assert!(srec.all().is_empty(), "the server opened: {:?}", srec.all());
}
