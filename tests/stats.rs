//! Statistics over loopback: exact message and byte counts on both ends of a
//! connection and in the server's totals (open and closed connections), the
//! send queue's high-water mark, and refusals counted by reason (server
//! full, bad handshake, rejected by the application, handshake timeout).

#[path = "support.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use support::{eventually, request, status, Ev, Raw, Recorder, RFC_KEY};
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::stats::ConnStats;
use websocket::transport::upgrade::{Answer, PendingUpgrade};
use websocket::transport::{ClientConfig, Connection, Event, Handler, ServerConfig};

fn url(server: &Server) -> String {
    format!("ws://{}/", server.local_addr())
}

/// Connects a client and waits until it is open.
fn open_client(server: &Server, crec: &Arc<Recorder>) -> Arc<Connection> {
    let client = connect(&url(server), ClientConfig::default(), crec.clone()).expect("connect");
    crec.wait_event(&client, "the client's Open", |e| *e == Ev::Open);
    client
}

/// Traffic counters with the high-water mark left out (checked apart).
fn counts(s: ConnStats) -> (u64, u64, u64, u64) {
    (s.messages_in, s.bytes_in, s.messages_out, s.bytes_out)
}

#[test]
fn messages_and_bytes_are_counted_on_both_ends_and_in_the_server_totals() {
    let server =
        Server::listen("127.0.0.1", 0, ServerConfig::default(), Recorder::echo()).expect("listen");
    let crec = Recorder::new();
    let client = open_client(&server, &crec);
    // 3 texts of 5 bytes and 2 binaries of 1000: 5 messages, 2015 bytes.
    for _ in 0..3 {
        client.send_text(b"hello").unwrap();
    }
    client.ping(b"not counted").unwrap();
    for _ in 0..2 {
        client.send_binary(&[7; 1000]).unwrap();
    }
    crec.wait_message(&client, 4);
    crec.wait_event(&client, "the pong", |e| matches!(e, Ev::Pong(_)));
    let expected = (5, 2015, 5, 2015);
    assert_eq!(counts(client.stats()), expected);
    let sconn = server.connections().pop().expect("the server's end");
    assert_eq!(counts(sconn.stats()), expected);
    // Each end held a whole binary message (and its header) waiting at once.
    assert!(client.stats().send_queue_high_water >= 1002);
    assert!(sconn.stats().send_queue_high_water >= 1002);

    let stats = server.stats();
    assert_eq!((stats.connections_open, stats.connections_accepted), (1, 1));
    assert_eq!(counts(stats.traffic), expected);
    assert_eq!(
        stats.traffic.send_queue_high_water,
        sconn.stats().send_queue_high_water
    );

    // A second connection adds its traffic; the first one's stays counted
    // after it closed.
    let second = open_client(&server, &crec);
    second.send_text(b"abc").unwrap();
    crec.wait_message(&second, 0);
    client.close(Some(1000), "done").unwrap();
    crec.wait_close(&client);
    eventually("the first connection leaves the server's list", || {
        server.connection_count() == 1
    });
    assert_eq!(counts(client.stats()), expected, "kept after the close");
    let stats = server.stats();
    assert_eq!((stats.connections_open, stats.connections_accepted), (1, 2));
    assert_eq!(counts(stats.traffic), (6, 2018, 6, 2018));
    assert_eq!(stats.refused_full + stats.refused_bad_handshake, 0);
}

/// Accepts every upgrade request except those for `/no`, rejected with 403.
struct Gate;

impl Handler for Gate {
    fn event(&self, _: &Arc<Connection>, _: Event<'_>) {}

    fn wants_upgrades(&self) -> bool {
        true
    }

    fn upgrade(&self, request: Arc<PendingUpgrade>) {
        let answer = if request.request.path == "/no" {
            Answer::Reject {
                status: 403,
                headers: Vec::new(),
                body: b"not you".to_vec(),
            }
        } else {
            Answer::Accept {
                subprotocol: None,
                headers: Vec::new(),
                app_data: 0,
            }
        };
        request.answer(answer).expect("answer");
    }
}

/// Sends `bytes` on a new TCP connection and returns the HTTP status answered.
fn answer_to(addr: SocketAddr, bytes: &[u8]) -> u16 {
    let mut raw = Raw::connect(addr);
    raw.send(bytes);
    status(&raw.read_head())
}

#[test]
fn refusals_are_counted_by_reason() {
    let config = ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    };
    let server = Server::listen("127.0.0.1", 0, config, Arc::new(Gate)).expect("listen");
    let addr = server.local_addr();
    let crec = Recorder::new();
    let _first = open_client(&server, &crec);
    eventually("the first connection is listed", || {
        server.connection_count() == 1
    });
    let upgrade = request("/", RFC_KEY, "");
    assert_eq!(answer_to(addr, upgrade.as_bytes()), 503);
    let stats = server.stats();
    assert_eq!((stats.refused_full, stats.connections_accepted), (1, 1));

    let server =
        Server::listen("127.0.0.1", 0, ServerConfig::default(), Arc::new(Gate)).expect("listen");
    let addr = server.local_addr();
    let no_key = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    assert_eq!(answer_to(addr, no_key.as_bytes()), 400);
    assert_eq!(answer_to(addr, b"NOT HTTP AT ALL\r\n\r\n"), 400);
    assert_eq!(answer_to(addr, request("/no", RFC_KEY, "").as_bytes()), 403);
    let stats = server.stats();
    assert_eq!(stats.refused_bad_handshake, 2);
    assert_eq!(stats.refused_rejected, 1);
    assert_eq!(
        (stats.refused_full, stats.refused_timeout, stats.refused_tls),
        (0, 0, 0)
    );
    assert_eq!((stats.connections_accepted, stats.connections_open), (0, 0));
}

#[test]
fn a_request_that_never_comes_is_counted_as_a_handshake_timeout() {
    let mut config = ServerConfig::default();
    config.connection.handshake_timeout = Duration::from_millis(200);
    let server = Server::listen("127.0.0.1", 0, config, Recorder::new()).expect("listen");
    let mut silent = Raw::connect(server.local_addr());
    assert_eq!(status(&silent.read_head()), 408);
    let stats = server.stats();
    assert_eq!((stats.refused_timeout, stats.refused_bad_handshake), (1, 0));
}
