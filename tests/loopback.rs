//! Our client against our server over loopback: messages, pings, the close
//! handshake from either side, server stop, send errors and IPv6.

#[path = "support.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;
use support::{assert_same_messages, eventually, messages, send, Ev, Recorder, WAIT};
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::{
    ClientConfig, CloseInfo, Connection, ConnectionState, ErrorKind, Event, Handler, SendError,
    ServerConfig,
};

/// A server, our client connected to it, and both ends' recorders.
struct Pair {
    server: Server,
    srec: Arc<Recorder>,
    /// The server's end of the connection.
    sconn: Arc<Connection>,
    crec: Arc<Recorder>,
    /// The client's end.
    client: Arc<Connection>,
}

fn listen(srec: &Arc<Recorder>, config: ServerConfig) -> Server {
    Server::listen("127.0.0.1", 0, config, srec.clone()).expect("listen")
}

fn url(server: &Server, target: &str) -> String {
    format!("ws://{}{}", server.local_addr(), target)
}

/// Connects a client and waits for its `Open` event.
fn open_client(url: &str, crec: &Arc<Recorder>, config: ClientConfig) -> Arc<Connection> {
    let client = connect(url, config, crec.clone()).expect("connect");
    crec.wait_event(&client, "the client's Open", |e| *e == Ev::Open);
    assert_eq!(client.state(), ConnectionState::Open);
    client
}

fn pair_with(srec: Arc<Recorder>, config: ServerConfig) -> Pair {
    let server = listen(&srec, config);
    let crec = Recorder::new();
    let client = open_client(&url(&server, "/"), &crec, ClientConfig::default());
    let sconn = srec.opened(0);
    Pair {
        server,
        srec,
        sconn,
        crec,
        client,
    }
}

fn pair() -> Pair {
    pair_with(Recorder::new(), ServerConfig::default())
}

#[test]
fn text_and_binary_round_trips_through_an_echo_server() {
    let p = pair_with(Recorder::echo(), ServerConfig::default());
    let all_bytes: Vec<u8> = (0..=255).collect();
    let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let big_text = "héllo wörld ☃ 😀 \u{10FFFF} ".repeat(3000);
    assert!(big_text.len() > 70_000);
    let sent = vec![
        Ev::Text(Vec::new()),
        Ev::Text(b"hello".to_vec()),
        Ev::Text("¿ünïcödé? ☃ 😀 日本".as_bytes().to_vec()),
        Ev::Binary(Vec::new()),
        Ev::Binary(all_bytes.clone()),
        Ev::Binary(all_bytes.iter().rev().copied().collect()),
        Ev::Binary(big),
        Ev::Text(big_text.into_bytes()),
        Ev::Binary(vec![0]),
    ];
    for m in &sent {
        send(&p.client, m);
    }
    p.crec.wait_message(&p.client, sent.len() - 1);
    assert_same_messages(&messages(&p.srec.events(&p.sconn)), &sent, "server");
    assert_same_messages(&messages(&p.crec.events(&p.client)), &sent, "client");
    eventually("the client's send queue to drain", || {
        p.client.buffered_amount() == 0
    });
}

#[test]
fn five_megabyte_messages_both_ways() {
    let p = pair();
    let bin: Vec<u8> = (0..5u32 << 20).map(|i| (i ^ (i >> 9)) as u8).collect();
    let text = "0123456789abcdef ünï ☃ 😀\n"
        .repeat((5 << 20) / 32)
        .into_bytes();
    assert!(text.len() >= 5 << 20);
    let sent = vec![Ev::Binary(bin), Ev::Text(text), Ev::Text(b"after".to_vec())];
    // One direction at a time (both at once: see the deadlock test below).
    for m in &sent {
        send(&p.client, m);
    }
    p.srec.wait_message(&p.sconn, sent.len() - 1);
    assert_same_messages(&messages(&p.srec.events(&p.sconn)), &sent, "server");
    for m in &sent {
        send(&p.sconn, m);
    }
    p.crec.wait_message(&p.client, sent.len() - 1);
    assert_same_messages(&messages(&p.crec.events(&p.client)), &sent, "client");
}

/// Both ends send a message larger than the loopback socket buffers at the same
/// time. Each driver stops reading while over 256 KiB wait to be written
/// (`can_read = out.len() < OUT_HIGH_WATER` in src/transport/driver.rs), so
/// neither reads what the other writes: both stall for good.
#[test]
fn simultaneous_large_messages_both_ways_do_not_deadlock() {
    let p = pair();
    let big = vec![0x5a_u8; 8 << 20];
    p.client.send_binary(&big).expect("client send");
    p.sconn.send_binary(&big).expect("server send");
    let at_server = p.srec.wait_within(WAIT, |recs| {
        recs.iter()
            .any(|r| matches!(r.ev, Ev::Binary(_)))
            .then_some(())
    });
    let limit = if at_server.is_ok() {
        WAIT
    } else {
        Duration::from_millis(100)
    };
    let at_client = p.crec.wait_within(limit, |recs| {
        recs.iter()
            .any(|r| matches!(r.ev, Ev::Binary(_)))
            .then_some(())
    });
    assert!(
        at_server.is_ok() && at_client.is_ok(),
        "8 MiB sent by each end at once: delivered at the server: {}, at the client: {} \
         (both drivers stopped reading while their own write was blocked)",
        at_server.is_ok(),
        at_client.is_ok()
    );
}

#[test]
fn ten_thousand_small_messages_arrive_in_order() {
    const N: usize = 10_000;
    let p = pair();
    for i in 0..N {
        p.client
            .send_text(i.to_string().as_bytes())
            .expect("client send");
        p.sconn
            .send_binary(&(i as u32).to_be_bytes())
            .expect("server send");
    }
    // One connection per recorder: Open plus N messages.
    p.srec.wait("all messages at the server", |recs| {
        (recs.len() > N).then_some(())
    });
    p.crec.wait("all messages at the client", |recs| {
        (recs.len() > N).then_some(())
    });
    let at_server = p.srec.events(&p.sconn);
    let at_client = p.crec.events(&p.client);
    assert_eq!(at_server[0], Ev::Open);
    assert_eq!(at_client[0], Ev::Open);
    for i in 0..N {
        assert_eq!(
            at_server[i + 1],
            Ev::Text(i.to_string().into_bytes()),
            "server message #{i}"
        );
        assert_eq!(
            at_client[i + 1],
            Ev::Binary((i as u32).to_be_bytes().to_vec()),
            "client message #{i}"
        );
    }
}

fn pongs(events: &[Ev]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            Ev::Pong(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn pings(events: &[Ev]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            Ev::Ping(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn pings_are_answered_with_pongs_carrying_the_same_payload() {
    let p = pair();
    let payloads: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"abc".to_vec(),
        (0..125u8).collect(),
        vec![0xff; 7],
    ];
    // Client pings: the server sees Ping, the client gets the automatic Pong.
    for payload in &payloads {
        p.client.ping(payload).expect("client ping");
    }
    p.crec.wait("the client's pongs", |recs| {
        (recs.iter().filter(|r| matches!(r.ev, Ev::Pong(_))).count() >= payloads.len())
            .then_some(())
    });
    assert_eq!(pongs(&p.crec.events(&p.client)), payloads);
    assert_eq!(pings(&p.srec.events(&p.sconn)), payloads);

    // Server pings: the other way round.
    for payload in &payloads {
        p.sconn.ping(payload).expect("server ping");
    }
    p.srec.wait("the server's pongs", |recs| {
        (recs.iter().filter(|r| matches!(r.ev, Ev::Pong(_))).count() >= payloads.len())
            .then_some(())
    });
    assert_eq!(pongs(&p.srec.events(&p.sconn)), payloads);
    assert_eq!(pings(&p.crec.events(&p.client)), payloads);

    // An unsolicited pong is delivered and not answered.
    p.client.pong(b"unsolicited").expect("pong");
    p.client.send_text(b"marker").expect("marker");
    p.srec.wait_message(&p.sconn, 0);
    let at_server = p.srec.events(&p.sconn);
    assert_eq!(
        &at_server[at_server.len() - 2..],
        &[
            Ev::Pong(b"unsolicited".to_vec()),
            Ev::Text(b"marker".to_vec())
        ]
    );
    assert_eq!(pongs(&p.crec.events(&p.client)).len(), payloads.len());
}

#[test]
fn client_initiated_close_delivers_code_and_reason() {
    let p = pair();
    p.client.close(Some(4000), "client bye").expect("close");
    // Closing at once (or already Closed if the handshake was that quick).
    assert!(p.client.state() >= ConnectionState::Closing);
    assert_eq!(
        p.srec.wait_close(&p.sconn),
        (4000, "client bye".to_string())
    );
    // The initiator's Close event carries the code the peer answered with.
    assert_eq!(p.crec.wait_close(&p.client), (4000, String::new()));
    assert_eq!(
        p.client.wait_for(ConnectionState::Closed, Some(WAIT)),
        ConnectionState::Closed
    );
    assert_eq!(
        p.client.close_info(),
        Some(&CloseInfo {
            code: 4000,
            reason: String::new()
        })
    );
    assert_eq!(
        p.sconn.close_info(),
        Some(&CloseInfo {
            code: 4000,
            reason: "client bye".into()
        })
    );
    assert!(p.client.failure().is_none(), "{:?}", p.client.failure());
    assert!(p.sconn.failure().is_none(), "{:?}", p.sconn.failure());
    support::assert_events(
        &p.crec,
        &p.client,
        &[Ev::Open, Ev::Close(4000, String::new())],
    );
    support::assert_events(
        &p.srec,
        &p.sconn,
        &[Ev::Open, Ev::Close(4000, "client bye".into())],
    );
    eventually("the server to forget the connection", || {
        p.server.connection_count() == 0
    });
}

#[test]
fn server_initiated_close_delivers_code_and_reason() {
    let p = pair();
    p.sconn.close(Some(1001), "server bye ☃").expect("close");
    // Closing at once (or already Closed if the handshake was that quick).
    assert!(p.sconn.state() >= ConnectionState::Closing);
    assert_eq!(
        p.crec.wait_close(&p.client),
        (1001, "server bye ☃".to_string())
    );
    assert_eq!(p.srec.wait_close(&p.sconn), (1001, String::new()));
    assert_eq!(
        p.sconn.wait_for(ConnectionState::Closed, Some(WAIT)),
        ConnectionState::Closed
    );
    assert!(p.client.failure().is_none(), "{:?}", p.client.failure());
    assert!(p.sconn.failure().is_none(), "{:?}", p.sconn.failure());
    support::assert_events(
        &p.crec,
        &p.client,
        &[Ev::Open, Ev::Close(1001, "server bye ☃".into())],
    );
    support::assert_events(
        &p.srec,
        &p.sconn,
        &[Ev::Open, Ev::Close(1001, String::new())],
    );
}

#[test]
fn messages_sent_before_close_are_delivered_before_it() {
    let p = pair();
    for i in 0..100u32 {
        p.client.send_binary(&i.to_be_bytes()).expect("send");
    }
    p.client.close(Some(1000), "done").expect("close");
    assert_eq!(p.srec.wait_close(&p.sconn), (1000, "done".to_string()));
    let at_server = p.srec.events(&p.sconn);
    assert_eq!(at_server.len(), 102, "Open, 100 messages, Close");
    for (i, ev) in at_server[1..101].iter().enumerate() {
        assert_eq!(ev, &Ev::Binary((i as u32).to_be_bytes().to_vec()));
    }
}

#[test]
fn close_without_a_code_is_seen_as_1005() {
    let p = pair();
    p.client.close(None, "").expect("close");
    assert_eq!(p.srec.wait_close(&p.sconn), (1005, String::new()));
    assert_eq!(p.crec.wait_close(&p.client), (1005, String::new()));
    assert_eq!(p.client.close_info().map(|c| c.code), Some(1005));
    assert!(p.client.failure().is_none());
}

#[test]
fn server_stop_closes_every_client_with_1001() {
    let srec = Recorder::new();
    let server = listen(&srec, ServerConfig::default());
    let crec = Recorder::new();
    let c1 = open_client(&url(&server, "/a"), &crec, ClientConfig::default());
    let c2 = open_client(&url(&server, "/b"), &crec, ClientConfig::default());
    let s1 = srec.opened(0);
    let s2 = srec.opened(1);
    assert_eq!(server.connection_count(), 2);
    let mut paths: Vec<String> = server
        .connections()
        .iter()
        .map(|c| c.path().to_str().unwrap().to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, ["/a", "/b"]);
    assert_eq!(server.broadcast(true, b"to all"), 2);
    crec.wait_message(&c1, 0);
    crec.wait_message(&c2, 0);

    server.stop();
    for c in [&c1, &c2] {
        let (code, _reason) = crec.wait_close(c);
        assert_eq!(code, 1001);
        assert!(c.failure().is_none(), "{:?}", c.failure());
    }
    for s in [&s1, &s2] {
        assert_eq!(srec.wait_close(s).0, 1001, "the clients echo 1001");
    }
    eventually("the server to forget its connections", || {
        server.connection_count() == 0
    });

    // No more connections are accepted.
    let late = connect(
        &url(&server, "/late"),
        ClientConfig::default(),
        crec.clone(),
    )
    .expect("connect");
    assert_eq!(crec.wait_close(&late).0, 1006);
    let events = crec.events(&late);
    assert!(
        matches!(
            events[..],
            [
                Ev::Error(ErrorKind::Connect | ErrorKind::Handshake, _),
                Ev::Close(1006, _)
            ]
        ),
        "{events:?}"
    );
}

#[test]
fn dropping_the_server_closes_clients_with_1001() {
    let srec = Recorder::new();
    let server = listen(&srec, ServerConfig::default());
    let crec = Recorder::new();
    let client = open_client(&url(&server, "/"), &crec, ClientConfig::default());
    srec.opened(0);
    drop(server);
    assert_eq!(crec.wait_close(&client).0, 1001);
}

#[test]
fn send_errors_are_reported_and_leave_the_connection_usable() {
    let p = pair();
    let c = &p.client;
    for bad in [
        &b"\xff"[..],
        b"abc\xc3",
        b"\xed\xa0\x80",
        b"\xc0\xaf",
        b"\xf4\x90\x80\x80",
    ] {
        assert_eq!(c.send_text(bad), Err(SendError::InvalidUtf8), "{bad:?}");
    }
    assert_eq!(c.ping(&[0; 126]), Err(SendError::TooLarge));
    assert_eq!(c.pong(&[0; 126]), Err(SendError::TooLarge));
    assert_eq!(p.sconn.ping(&[0; 200]), Err(SendError::TooLarge));
    for code in [1005, 1006, 1015, 999, 0, 1004, 2999, 5000, u16::MAX] {
        assert_eq!(
            c.close(Some(code), ""),
            Err(SendError::InvalidCloseCode),
            "close code {code}"
        );
    }
    assert_eq!(c.close(None, "a reason"), Err(SendError::InvalidCloseCode));
    assert_eq!(
        c.close(Some(1000), &"r".repeat(124)),
        Err(SendError::TooLarge)
    );
    // Nothing above changed the connection.
    assert_eq!(c.state(), ConnectionState::Open);
    c.ping(&[7; 125]).expect("125-byte ping");
    c.send_text(b"still open").expect("send");
    p.srec.wait_message(&p.sconn, 0);

    // A 123-byte reason is the largest allowed.
    let reason = "r".repeat(123);
    c.close(Some(3000), &reason).expect("close");
    for result in [
        c.send_text(b"x").map(drop),
        c.send_binary(b"x").map(drop),
        c.ping(b"x").map(drop),
        c.pong(b"x").map(drop),
        c.close(Some(1000), ""),
    ] {
        assert_eq!(result, Err(SendError::NotOpen));
    }
    assert_eq!(p.srec.wait_close(&p.sconn), (3000, reason));
    p.crec.wait_close(c);
    assert_eq!(c.state(), ConnectionState::Closed);
    assert_eq!(c.send_text(b"x"), Err(SendError::NotOpen));
    assert_eq!(p.sconn.send_binary(b"x"), Err(SendError::NotOpen));
    assert_eq!(p.sconn.close(Some(1000), ""), Err(SendError::NotOpen));
    // The server only saw the one valid message (the refused sends sent nothing).
    assert_eq!(
        messages(&p.srec.events(&p.sconn)),
        [Ev::Text(b"still open".to_vec())]
    );
}

#[test]
fn close_while_connecting_ends_the_connection() {
    // A listener that never answers: the client stays in the handshake.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let crec = Recorder::new();
    let client = connect(
        &format!("ws://127.0.0.1:{port}/"),
        ClientConfig::default(),
        crec.clone(),
    )
    .expect("connect");
    assert_eq!(client.state(), ConnectionState::Connecting);
    let started = std::time::Instant::now();
    client.close(Some(1000), "never mind").expect("close");
    // The close abandons the attempt at once (not after the 10 s handshake
    // timeout), and the connection ends as never opened (1006), without an error.
    let (code, _) = crec.wait_close(&client);
    assert_eq!(code, 1006);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert!(!client.was_opened());
    assert!(client.failure().is_none(), "{:?}", client.failure());
    let events = crec.events(&client);
    assert!(
        !events.iter().any(|e| matches!(e, Ev::Error(..))),
        "{events:?}"
    );
    assert_eq!(client.state(), ConnectionState::Closed);
}

#[test]
fn path_query_and_peer_are_reported_on_both_ends() {
    let srec = Recorder::new();
    let server = listen(&srec, ServerConfig::default());
    let crec = Recorder::new();
    let client = open_client(
        &url(&server, "/chat/room%201?user=ann&x=%2F"),
        &crec,
        ClientConfig::default(),
    );
    let sconn = srec.opened(0);
    assert_eq!(sconn.path().to_str().unwrap(), "/chat/room%201");
    assert_eq!(sconn.query().to_str().unwrap(), "user=ann&x=%2F");
    assert_eq!(client.path().to_str().unwrap(), "/chat/room%201");
    assert_eq!(client.query().to_str().unwrap(), "user=ann&x=%2F");
    assert_eq!(
        client.peer().to_str().unwrap(),
        server.local_addr().to_string()
    );
    let speer = sconn.peer().to_str().unwrap().to_string();
    assert!(speer.starts_with("127.0.0.1:"), "{speer}");
}

#[test]
fn extra_client_headers_do_not_break_the_handshake() {
    let srec = Recorder::new();
    let server = listen(&srec, ServerConfig::default());
    let crec = Recorder::new();
    let config = ClientConfig {
        headers: vec![
            ("Origin".into(), "http://example.com".into()),
            ("X-Token".into(), "abc".into()),
        ],
        ..ClientConfig::default()
    };
    let client = open_client(&url(&server, "/"), &crec, config);
    client.send_text(b"hi").unwrap();
    assert_eq!(
        srec.wait_message(&srec.opened(0), 0),
        Ev::Text(b"hi".to_vec())
    );
}

#[test]
fn ipv6_loopback_with_path_and_query() {
    let srec = Recorder::new();
    let server =
        Server::listen("::1", 0, ServerConfig::default(), srec.clone()).expect("listen ::1");
    assert!(server.local_addr().is_ipv6());
    let port = server.local_addr().port();
    let crec = Recorder::new();
    let client = open_client(
        &format!("ws://[::1]:{port}/path?q=1"),
        &crec,
        ClientConfig::default(),
    );
    let sconn = srec.opened(0);
    assert_eq!(sconn.path().to_str().unwrap(), "/path");
    assert_eq!(sconn.query().to_str().unwrap(), "q=1");
    assert_eq!(client.peer().to_str().unwrap(), format!("[::1]:{port}"));
    assert!(
        sconn.peer().to_str().unwrap().starts_with("[::1]:"),
        "{:?}",
        sconn.peer()
    );
    client.send_binary(b"v6").unwrap();
    assert_eq!(srec.wait_message(&sconn, 0), Ev::Binary(b"v6".to_vec()));
    sconn.send_text(b"back").unwrap();
    assert_eq!(crec.wait_message(&client, 0), Ev::Text(b"back".to_vec()));
    client.close(Some(1000), "").unwrap();
    assert_eq!(srec.wait_close(&sconn).0, 1000);
    assert_eq!(crec.wait_close(&client).0, 1000);
}

#[test]
fn client_max_message_size_is_enforced() {
    let srec = Recorder::new();
    let server = listen(&srec, ServerConfig::default());
    let crec = Recorder::new();
    let mut config = ClientConfig::default();
    config.connection.max_message_size = 1000;
    let client = open_client(&url(&server, "/"), &crec, config);
    let sconn = srec.opened(0);
    sconn.send_binary(&[1; 1000]).unwrap();
    assert_eq!(crec.wait_message(&client, 0), Ev::Binary(vec![1; 1000]));
    sconn.send_binary(&[2; 1001]).unwrap();
    assert_eq!(srec.wait_close(&sconn).0, 1009);
    assert_eq!(crec.wait_close(&client).0, 1006);
    let events = crec.events(&client);
    assert!(
        matches!(
            &events[..],
            [
                Ev::Open,
                Ev::Binary(_),
                Ev::Error(ErrorKind::Protocol, _),
                Ev::Close(1006, _)
            ]
        ),
        "{events:?}"
    );
}

#[test]
fn connect_and_listen_errors_are_returned() {
    use websocket::transport::client::ConnectError;
    let crec = Recorder::new();
    for bad in ["http://127.0.0.1:1/", "ws://", "127.0.0.1:80", "ws://a b/"] {
        assert!(
            matches!(
                connect(bad, ClientConfig::default(), crec.clone()),
                Err(ConnectError::BadUrl(_))
            ),
            "{bad}"
        );
    }
    // TLS options that cannot work are refused at once.
    let mut no_roots = ClientConfig::default();
    no_roots.tls.system_roots = false;
    assert!(matches!(
        connect("wss://127.0.0.1:1/", no_roots, crec.clone()),
        Err(ConnectError::Tls(m)) if m.contains("no trusted CA")
    ));
    assert!(crec.all().is_empty());

    let srec = Recorder::new();
    let server = listen(&srec, ServerConfig::default());
    let port = server.local_addr().port();
    assert!(Server::listen("127.0.0.1", port, ServerConfig::default(), srec.clone()).is_err());
}

#[test]
fn connect_by_host_name() {
    let srec = Recorder::new();
    let server = listen(&srec, ServerConfig::default());
    let crec = Recorder::new();
    let port = server.local_addr().port();
    let client = open_client(
        &format!("ws://localhost:{port}/named"),
        &crec,
        ClientConfig::default(),
    );
    assert_eq!(client.peer().to_str().unwrap(), format!("127.0.0.1:{port}"));
    assert_eq!(srec.opened(0).path().to_str().unwrap(), "/named");
}

/// Records like an echoing [`Recorder`], but panics on the text "panic": a
/// bug while a connection is polled.
struct Panicky(Arc<Recorder>);

impl Handler for Panicky {
    fn event(&self, conn: &Arc<Connection>, event: Event<'_>) {
        if matches!(event, Event::Message { data: b"panic", .. }) {
            panic!("a bug in the handler");
        }
        self.0.event(conn, event);
    }
}

/// Records like a [`Recorder`], but panics on the first error: a bug while
/// a connection is being opened.
struct PanicOnError(Arc<Recorder>, std::sync::atomic::AtomicBool);

impl Handler for PanicOnError {
    fn event(&self, conn: &Arc<Connection>, event: Event<'_>) {
        if matches!(event, Event::Error(..))
            && !self.1.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            panic!("a bug while connecting");
        }
        self.0.event(conn, event);
    }
}

#[test]
fn a_panic_while_a_client_connects_ends_it_with_1011() {
    let rec = Recorder::new();
    let handler = Arc::new(PanicOnError(rec.clone(), Default::default()));
    // Nothing listens there: the connect fails, and its error panics.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conn = connect(
        &format!("ws://127.0.0.1:{port}/"),
        ClientConfig::default(),
        handler,
    )
    .expect("connect starts");
    let (code, _) = rec.wait_close(&conn);
    assert_eq!(code, 1011, "the close still comes, saying: internal error");
    assert_eq!(conn.state(), ConnectionState::Closed);
    assert!(
        rec.all().iter().any(|e| matches!(e,
            Ev::Error(ErrorKind::Internal, m) if m.contains("a bug while connecting"))),
        "the internal error is reported with the panic's text: {:?}",
        rec.all()
    );
}

#[test]
fn a_panic_while_one_connection_is_handled_ends_only_that_one() {
    let srec = Recorder::echo();
    let server = Server::listen(
        "127.0.0.1",
        0,
        ServerConfig::default(),
        Arc::new(Panicky(srec.clone())),
    )
    .expect("listen");
    let (arec, brec) = (Recorder::new(), Recorder::new());
    let a = open_client(&url(&server, "/a"), &arec, ClientConfig::default());
    let b = open_client(&url(&server, "/b"), &brec, ClientConfig::default());
    a.send_text(b"panic").unwrap();
    // The server ends that connection and says why; its client sees it go.
    assert_eq!(arec.wait_close(&a).0, 1006);
    let sconn = srec.wait("the server's end of /a", |recs| {
        recs.iter()
            .find(|r| r.conn.path().to_bytes() == b"/a")
            .map(|r| r.conn.clone())
    });
    let (code, _) = srec.wait_close(&sconn);
    assert_eq!(code, 1011, "on_close says: internal error");
    let (kind, message) = sconn.failure().expect("a failure");
    assert_eq!(kind, ErrorKind::Internal);
    assert!(message.contains("a bug in the handler"), "{message}");
    // The other connection, on the same I/O thread or not, goes on.
    b.send_text(b"still here").unwrap();
    brec.wait_event(&b, "the echo", |e| *e == Ev::Text(b"still here".to_vec()));
    let c = open_client(
        &url(&server, "/c"),
        &Recorder::new(),
        ClientConfig::default(),
    );
    assert_eq!(c.state(), ConnectionState::Open);
}
