//! Topics over real sockets: subscribers get what is published to their
//! topics, in order, and nothing else; publishing works from any thread and
//! from inside callbacks; closing leaves every topic; slow subscribers are
//! skipped or closed as configured; subscribers that agreed on
//! permessage-deflate get the message intact.
//!
//! This binary runs 4 I/O threads, so that subscribers of one topic live on
//! several threads and a publish reaches them through each thread's queue.

#[path = "support.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use websocket::protocol::deflate::DeflateConfig;
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::topics::{SlowSubscriber, TopicError};
use websocket::transport::{
    runtime, ClientConfig, Connection, ConnectionConfig, ConnectionState, Event, Handler,
    ServerConfig,
};

fn four_threads() {
    // The first test to start sets it; the others find it set.
    let _ = runtime::set_threads(4);
}

/// Subscribes each connection to the topic its path names ("/news" →
/// "news") when it opens; with `chat`, publishes every message it gets to
/// its topic.
struct Rooms {
    rec: Arc<Recorder>,
    chat: bool,
}

impl Handler for Rooms {
    fn event(&self, conn: &Arc<Connection>, event: Event<'_>) {
        match &event {
            Event::Open => {
                let room = conn.path().to_bytes()[1..].to_vec();
                conn.subscribe(&room).expect("subscribe");
            }
            Event::Message { text, data } if self.chat => {
                let room = conn.path().to_bytes()[1..].to_vec();
                let server = SERVER.get().expect("the server is up");
                server.publish(&room, *text, data);
            }
            _ => {}
        }
        self.rec.event(conn, event);
    }
}

/// The chat test's server, for its handler to publish on.
static SERVER: std::sync::OnceLock<Server> = std::sync::OnceLock::new();

fn rooms(config: ServerConfig) -> (Server, Arc<Recorder>) {
    four_threads();
    let rec = Recorder::new();
    let handler = Arc::new(Rooms {
        rec: rec.clone(),
        chat: false,
    });
    let server = Server::listen("127.0.0.1", 0, config, handler).expect("listen");
    (server, rec)
}

fn read_texts(raw: &mut Raw, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let frame = raw.read_frame();
            assert_eq!(frame.opcode, TEXT, "{frame:?}");
            assert!(!frame.masked && frame.fin && frame.rsv == 0, "{frame:?}");
            String::from_utf8(frame.payload).expect("UTF-8")
        })
        .collect()
}

#[test]
fn subscribers_get_their_topics_messages_in_order_and_nothing_else() {
    let (server, rec) = rooms(ServerConfig::default());
    let addr = server.local_addr();
    let mut news: Vec<Raw> = (0..5).map(|_| raw_client(addr, "/news")).collect();
    let mut sport: Vec<Raw> = (0..3).map(|_| raw_client(addr, "/sport")).collect();
    rec.opened(7);
    eventually("8 subscriptions", || {
        server.subscriber_count(b"news") == 5 && server.subscriber_count(b"sport") == 3
    });
    assert_eq!(server.subscriber_count(b"weather"), 0);
    assert_eq!(server.publish(b"weather", true, b"nobody hears this"), 0);

    // From this thread (no I/O thread): every thread's queue.
    for i in 0..200 {
        assert_eq!(
            server.publish(b"news", true, format!("news {i}").as_bytes()),
            5
        );
        if i % 2 == 0 {
            assert_eq!(
                server.publish(b"sport", true, format!("sport {i}").as_bytes()),
                3
            );
        }
    }
    let big = vec![0xab; 300_000];
    assert_eq!(server.publish(b"sport", false, &big), 3);
    for raw in &mut news {
        let expected: Vec<String> = (0..200).map(|i| format!("news {i}")).collect();
        assert_eq!(read_texts(raw, 200), expected);
    }
    for raw in &mut sport {
        let expected: Vec<String> = (0..200).step_by(2).map(|i| format!("sport {i}")).collect();
        assert_eq!(read_texts(raw, 100), expected);
        let frame = raw.read_frame();
        assert_eq!((frame.opcode, frame.payload.len()), (BINARY, big.len()));
        assert!(frame.payload == big);
    }
    // Nothing else came: the next frame is the close of the server's stop.
    drop(server);
    for raw in news.iter_mut().chain(&mut sport) {
        let frame = raw.read_frame();
        assert_eq!(
            frame.close_code(),
            Some((1001, "server shutting down".into()))
        );
    }
}

#[test]
fn a_chat_publishes_from_its_callbacks_to_every_member_the_sender_included() {
    four_threads();
    let rec = Recorder::new();
    let handler = Arc::new(Rooms {
        rec: rec.clone(),
        chat: true,
    });
    let server = SERVER.get_or_init(|| {
        Server::listen("127.0.0.1", 0, ServerConfig::default(), handler).expect("listen")
    });
    let addr = server.local_addr();
    let mut members: Vec<Raw> = (0..6).map(|_| raw_client(addr, "/lobby")).collect();
    let mut elsewhere = raw_client(addr, "/other");
    rec.opened(6);
    eventually("7 subscriptions", || server.subscriber_count(b"lobby") == 6);
    // Each member says two lines; everyone hears every line, each member's
    // lines in the order said.
    for (i, raw) in members.iter_mut().enumerate() {
        for line in 0..2 {
            raw.send(&client_frame(TEXT, format!("{i}:{line}").as_bytes()));
        }
    }
    for raw in &mut members {
        let heard = read_texts(raw, 12);
        for i in 0..6 {
            let first = heard.iter().position(|h| *h == format!("{i}:0"));
            let second = heard.iter().position(|h| *h == format!("{i}:1"));
            assert!(first.is_some() && first < second, "{heard:?}");
        }
    }
    elsewhere.send(&client_frame(TEXT, b"alone"));
    assert_eq!(read_texts(&mut elsewhere, 1), ["alone"]);
}

#[test]
fn unsubscribing_and_closing_leave_topics() {
    let (server, rec) = rooms(ServerConfig::default());
    let addr = server.local_addr();
    let mut first = raw_client(addr, "/t");
    let conn = rec.opened(0);
    let _second = raw_client(addr, "/t");
    let other = rec.opened(1);
    eventually("2 subscriptions", || server.subscriber_count(b"t") == 2);
    assert!(conn.is_subscribed(b"t") && !conn.is_subscribed(b"u"));
    assert_eq!(conn.subscribe(b"t"), Ok(false), "already subscribed");
    assert_eq!(conn.subscribe(b"u"), Ok(true));
    assert_eq!(conn.subscribe(b""), Err(TopicError::BadName));
    assert_eq!(conn.subscribe(&[b'x'; 1025]), Err(TopicError::BadName));
    assert_eq!(conn.unsubscribe(b"t"), Ok(true));
    assert_eq!(conn.unsubscribe(b"t"), Ok(false));
    assert!(!conn.is_subscribed(b"t"));
    assert_eq!(server.subscriber_count(b"t"), 1);
    assert_eq!(server.publish(b"u", true, b"to u"), 1);
    assert_eq!(read_texts(&mut first, 1), ["to u"]);

    // Closing leaves every topic, and a closed connection takes no new one.
    first.send(&client_frame(CLOSE, &close_payload(1000, "")));
    assert_eq!(first.read_frame().close_code(), Some((1000, String::new())));
    drop(first);
    rec.wait_close(&conn);
    // Left before its Close event.
    assert_eq!(server.subscriber_count(b"u"), 0);
    assert_eq!(server.subscriber_count(b"t"), 1);
    assert_eq!(conn.subscribe(b"t"), Err(TopicError::NotOpen));
    assert!(!conn.is_subscribed(b"u"));
    assert_eq!(other.unsubscribe(b"t"), Ok(true));
    assert_eq!(server.subscriber_count(b"t"), 0);

    // A client's connection has no topics.
    let crec = Recorder::new();
    let client = connect(
        &format!("ws://{addr}/t"),
        ClientConfig::default(),
        crec.clone(),
    )
    .expect("connect");
    crec.wait_event(&client, "the client's Open", |e| *e == Ev::Open);
    assert_eq!(client.subscribe(b"t"), Err(TopicError::NotOpen));
}

/// A server whose connections may queue at most 64 KiB, with `slow`.
fn slow_config(slow: SlowSubscriber) -> ServerConfig {
    ServerConfig {
        connection: ConnectionConfig {
            send_queue_limit: 64 * 1024,
            send_high_water: 32 * 1024,
            send_low_water: 0,
            close_timeout: Duration::from_millis(300),
            ..ConnectionConfig::default()
        },
        slow_subscriber: slow,
        ..ServerConfig::default()
    }
}

/// Publishes 2000 16 KiB messages to "/feed" (32 MiB: more than the socket
/// buffers of a subscriber that does not read take), or fewer when that
/// subscriber is closed first; returns how many went out. Each waits until
/// a subscriber that reads has read the one before (`read` counts what it
/// read), or else a moment every 100 messages, for the I/O threads to keep up.
fn flood(server: &Server, sleeper: &Connection, read: Option<&AtomicUsize>) -> usize {
    let chunk = vec![b'z'; 16 * 1024];
    let mut sent = 0;
    while sent < 2000 && sleeper.state() == ConnectionState::Open {
        if read.is_none() && sent % 100 == 99 {
            std::thread::sleep(Duration::from_millis(2));
        }
        if let Some(read) = read {
            let deadline = Instant::now() + WAIT;
            while read.load(Ordering::Acquire) < sent {
                assert!(Instant::now() < deadline, "the reader got {sent} messages");
                std::thread::yield_now();
            }
        }
        server.publish(b"feed", true, &chunk);
        sent += 1;
    }
    sent
}

#[test]
fn a_slow_subscriber_misses_messages_under_skip() {
    let (server, rec) = rooms(slow_config(SlowSubscriber::Skip));
    let addr = server.local_addr();
    let sleeper_raw = raw_client(addr, "/feed");
    let sleeper = rec.opened(0);
    let mut reader = raw_client(addr, "/feed");
    rec.opened(1);
    eventually("2 subscriptions", || server.subscriber_count(b"feed") == 2);
    // The reader reads as it goes, on its own thread.
    let read = Arc::new(AtomicUsize::new(0));
    let reading = {
        let read = read.clone();
        std::thread::spawn(move || loop {
            let frame = reader.read_frame();
            if frame.opcode != TEXT {
                return read.load(Ordering::Acquire);
            }
            assert_eq!(frame.payload.len(), 16 * 1024);
            read.fetch_add(1, Ordering::AcqRel);
        })
    };
    let sent = flood(&server, &sleeper, Some(&read));
    assert_eq!(sent, 2000, "a skipped subscriber stays open");
    assert_eq!(sleeper.state(), ConnectionState::Open);
    assert!(sleeper.buffered_amount() <= 64 * 1024);
    assert_eq!(server.subscriber_count(b"feed"), 2);
    // Everything reached the reader: only the sleeper missed messages.
    server.publish(b"feed", false, b"end");
    assert_eq!(reading.join().unwrap(), 2000);
    drop(sleeper_raw);
}

#[test]
fn a_slow_subscriber_is_closed_with_1008_under_close() {
    let (server, rec) = rooms(slow_config(SlowSubscriber::Close));
    let addr = server.local_addr();
    let _sleeper_raw = raw_client(addr, "/feed");
    let sleeper = rec.opened(0);
    flood(&server, &sleeper, None);
    let (code, _) = rec.wait_close(&sleeper);
    // It never reads, so its close handshake cannot finish: the close
    // timeout ends it.
    assert!(code == 1008 || code == 1006, "closed with {code}");
    eventually("the topic to be left", || {
        server.subscriber_count(b"feed") == 0
    });
}

#[test]
fn deflate_subscribers_get_published_messages_intact() {
    let deflate = |no_takeover: bool| {
        Some(DeflateConfig {
            server_no_context_takeover: no_takeover,
            client_no_context_takeover: no_takeover,
            ..DeflateConfig::default()
        })
    };
    let config = ServerConfig {
        connection: ConnectionConfig {
            deflate: deflate(false),
            compression_threshold: 100,
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let (server, rec) = rooms(config);
    let url = format!("ws://{}/deflated", server.local_addr());
    let crec = Recorder::new();
    // Two without context takeover (they share a compressed frame), one
    // with, and one that did not ask for compression at all.
    let clients: Vec<Arc<Connection>> = [deflate(true), deflate(true), deflate(false), None]
        .into_iter()
        .map(|deflate| {
            let config = ClientConfig {
                connection: ConnectionConfig {
                    deflate,
                    ..ConnectionConfig::default()
                },
                ..ClientConfig::default()
            };
            connect(&url, config, crec.clone()).expect("connect")
        })
        .collect();
    rec.opened(3);
    eventually("4 subscriptions", || {
        server.subscriber_count(b"deflated") == 4
    });
    let texts: Vec<String> = (0..3)
        .map(|i| format!("message {i}: ") + &"compress me ".repeat(500))
        .collect();
    for text in &texts {
        assert_eq!(server.publish(b"deflated", true, text.as_bytes()), 4);
    }
    for client in &clients {
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(
                crec.wait_message(client, i),
                Ev::Text(text.clone().into_bytes())
            );
        }
    }
    let negotiated: Vec<bool> = clients
        .iter()
        .map(|c| c.extensions().to_bytes().starts_with(b"permessage-deflate"))
        .collect();
    assert_eq!(negotiated, [true, true, true, false]);
}
