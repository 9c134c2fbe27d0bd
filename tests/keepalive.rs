//! Keepalive (`ConnectionConfig::keepalive`) against hand-written peers: a
//! quiet peer gets pings; one that answers them stays connected; one that
//! stays silent is dropped with a timeout error and 1006; traffic from the
//! peer postpones the pings. Both roles.

#[path = "support.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use support::*;
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::{
    ClientConfig, Connection, ConnectionConfig, ConnectionState, ErrorKind, Event, Handler,
    ServerConfig,
};

const INTERVAL: Duration = Duration::from_millis(200);

fn keepalive_server() -> (Server, Arc<Recorder>, SocketAddr) {
    let config = ServerConfig {
        connection: ConnectionConfig {
            keepalive: Some(INTERVAL),
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let rec = Recorder::new();
    let server = Server::listen("127.0.0.1", 0, config, rec.clone()).expect("listen");
    let addr = server.local_addr();
    (server, rec, addr)
}

fn assert_dropped_for_silence(rec: &Recorder, conn: &Arc<Connection>) {
    let (code, _) = rec.wait_close(conn);
    assert_eq!(code, 1006);
    let mut events = rec.events(conn);
    events.retain(|e| !matches!(e, Ev::Pong(_)));
    assert!(
        matches!(&events[..], [Ev::Open, Ev::Error(ErrorKind::Timeout, m), Ev::Close(1006, _)]
            if m.contains("not even a pong")),
        "{events:?}"
    );
}

#[test]
fn server_pings_a_quiet_client_and_drops_it_when_it_stays_silent() {
    let (_server, rec, addr) = keepalive_server();
    let mut raw = raw_client(addr, "/");
    let conn = rec.opened(0);
    let start = Instant::now();
    let ping = raw.read_frame();
    let waited = start.elapsed();
    assert_eq!(ping.opcode, PING, "{ping:?}");
    assert!(!ping.masked);
    assert!(waited >= INTERVAL - Duration::from_millis(50), "{waited:?}");
    // We never answer: the server gives up one interval after its ping.
    raw.expect_end();
    let total = start.elapsed();
    assert!(
        total >= INTERVAL * 2 - Duration::from_millis(50),
        "{total:?}"
    );
    assert_dropped_for_silence(&rec, &conn);
    assert_eq!(conn.state(), ConnectionState::Closed);
}

#[test]
fn a_client_that_answers_pings_stays_connected() {
    let (_server, rec, addr) = keepalive_server();
    let mut raw = raw_client(addr, "/");
    let conn = rec.opened(0);
    for _ in 0..4 {
        let ping = raw.read_frame();
        assert_eq!(ping.opcode, PING);
        raw.send(&client_frame(PONG, &ping.payload));
    }
    let pongs = || {
        rec.events(&conn)
            .iter()
            .filter(|e| matches!(e, Ev::Pong(_)))
            .count()
    };
    eventually("the four pongs arrive", || pongs() == 4);
    assert_eq!(conn.state(), ConnectionState::Open);
}

#[test]
fn traffic_from_the_client_postpones_the_pings() {
    let (_server, rec, addr) = keepalive_server();
    let mut raw = raw_client(addr, "/");
    let conn = rec.opened(0);
    // Messages every half interval for three intervals: no ping is needed.
    let start = Instant::now();
    while start.elapsed() < INTERVAL * 3 {
        raw.send(&client_frame(TEXT, b"tick"));
        std::thread::sleep(INTERVAL / 2);
    }
    let ticks = || {
        rec.events(&conn)
            .iter()
            .filter(|e| matches!(e, Ev::Text(_)))
            .count()
    };
    eventually("the ticks arrive", || ticks() >= 6);
    // The first frame the server sends is the ping after we went quiet.
    let quiet = Instant::now();
    let ping = raw.read_frame();
    assert_eq!(ping.opcode, PING);
    assert!(quiet.elapsed() >= INTERVAL / 3, "{:?}", quiet.elapsed());
    assert_eq!(conn.state(), ConnectionState::Open);
}

#[test]
fn client_pings_a_quiet_server_and_drops_it_when_it_stays_silent() {
    let (listener, addr) = raw_listener();
    let rec = Recorder::new();
    let config = ClientConfig {
        connection: ConnectionConfig {
            keepalive: Some(INTERVAL),
            ..ConnectionConfig::default()
        },
        ..ClientConfig::default()
    };
    let conn = connect(&format!("ws://{addr}/"), config, rec.clone()).expect("connect");
    let (mut raw, _) = accept_ws(&listener);
    rec.wait_event(&conn, "Open", |e| *e == Ev::Open);
    let ping = raw.read_frame();
    assert_eq!(ping.opcode, PING);
    assert!(ping.masked, "client frames are masked");
    // Answer once: the next ping comes one interval later.
    raw.send(&server_frame(PONG, &ping.payload));
    let answered = Instant::now();
    let again = raw.read_frame();
    assert_eq!(again.opcode, PING);
    assert!(answered.elapsed() >= INTERVAL - Duration::from_millis(50));
    // Then stay silent.
    raw.expect_end();
    assert_dropped_for_silence(&rec, &conn);
}

/// Records like [`Recorder`], and blocks the I/O thread for a while on the
/// text message "block" (a slow thread-dispatch callback of another connection).
struct Blocking(Arc<Recorder>);

impl Handler for Blocking {
    fn event(&self, conn: &Arc<Connection>, event: Event<'_>) {
        if matches!(event, Event::Message { data: b"block", .. }) {
            std::thread::sleep(INTERVAL * 2);
        }
        self.0.event(conn, event);
    }
}

#[test]
fn a_pong_that_waited_while_the_io_thread_was_busy_counts() {
    let rec = Recorder::new();
    let config = ServerConfig {
        connection: ConnectionConfig {
            keepalive: Some(INTERVAL),
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = Server::listen("127.0.0.1", 0, config, Arc::new(Blocking(rec.clone()))).unwrap();
    let addr = server.local_addr();
    // Several quiet peers, each pinged at about the same time: every one
    // answers at once, while another connection's callback holds the I/O
    // thread past their deadline. When it lets go, each driver finds both
    // its expired timer and the pong; the pong must win, every time. (With
    // several I/O threads, only the peers sharing the busy one's thread wait.)
    let quiet: Vec<Raw> = (0..8).map(|_| raw_client(addr, "/quiet")).collect();
    let mut busy = raw_client(addr, "/busy");
    eventually("all open", || rec.count() >= 9);
    let conns: Vec<_> = (0..9).map(|n| rec.opened(n)).collect();
    let pinged = Arc::new(Barrier::new(quiet.len() + 1));
    let answer = Arc::new(Barrier::new(quiet.len() + 1));
    let peers: Vec<_> = quiet
        .into_iter()
        .map(|mut raw| {
            let (pinged, answer) = (pinged.clone(), answer.clone());
            std::thread::spawn(move || {
                assert_eq!(raw.read_frame().opcode, PING);
                pinged.wait();
                answer.wait();
                raw.send(&client_frame(PONG, b""));
                // Answer later pings too, so that only the first one is in question.
                while let Ok(f) = raw.try_read_frame() {
                    match f.opcode {
                        PING => raw.send(&client_frame(PONG, &f.payload)),
                        CLOSE => return,
                        _ => {}
                    }
                }
            })
        })
        .collect();
    pinged.wait();
    busy.send(&client_frame(TEXT, b"block"));
    std::thread::sleep(INTERVAL / 4);
    answer.wait();
    eventually("the callback returned", || {
        rec.all().iter().any(|e| *e == Ev::Text(b"block".to_vec()))
    });
    std::thread::sleep(INTERVAL / 2);
    for conn in &conns {
        let events = rec.events(conn);
        assert!(
            !events.iter().any(|e| matches!(e, Ev::Error(..))),
            "{events:?}"
        );
        assert_eq!(conn.state(), ConnectionState::Open);
    }
    drop(server);
    for peer in peers {
        peer.join().expect("peer thread");
    }
}

#[test]
fn a_large_frame_that_trickles_in_keeps_the_connection_alive() {
    let (_server, rec, addr) = keepalive_server();
    let mut raw = raw_client(addr, "/");
    let conn = rec.opened(0);
    // 13 pieces, INTERVAL / 2 apart: far longer than the keepalive allows
    // silence, but the peer is never silent for a whole interval.
    let payload = vec![b'x'; 200 * 1024];
    for piece in client_frame(BINARY, &payload).chunks(16 * 1024) {
        raw.send(piece);
        std::thread::sleep(INTERVAL / 2);
    }
    rec.wait_event(&conn, "the large message", |e| {
        *e == Ev::Binary(payload.clone())
    });
    assert_eq!(conn.state(), ConnectionState::Open);
    assert!(conn.failure().is_none(), "{:?}", conn.failure());
}

#[test]
fn without_keepalive_a_quiet_peer_gets_no_ping() {
    let rec = Recorder::new();
    let server = Server::listen("127.0.0.1", 0, ServerConfig::default(), rec.clone()).unwrap();
    let mut raw = raw_client(server.local_addr(), "/");
    let conn = rec.opened(0);
    std::thread::sleep(INTERVAL * 3);
    raw.stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let read = std::io::Read::read(&mut raw.stream, &mut byte);
    assert!(
        matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the server sent something: {read:?}"
    );
    assert_eq!(conn.state(), ConnectionState::Open);
}
