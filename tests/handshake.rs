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
//!   400 when there is neither, with WebSocket clients still served.

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
    accept, accept_for, base64, eventually, header, raw_listener, request, status,
    switching_protocols, Ev, Raw, Recorder, RFC_KEY, WAIT,
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
    conn.headers()
        .iter()
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
/// server closes: the head (with its blank line) and the body.
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
    if let Some(length) = header(&head, "Content-Length") {
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
