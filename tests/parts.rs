//! Messages in parts over loopback sockets: sent in parts (from several
//! threads, checked across parts) and received in parts (with bounded
//! memory, compressed or not).

#[path = "support.rs"]
mod support;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;
use websocket::protocol::deflate::DeflateConfig;
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::{
    ClientConfig, Connection, Event, Handler, SendError, SendOptions, Sent, ServerConfig,
};

/// Options of a part: the first (`continues` false), a middle one, or the
/// last (`more` false).
fn part(continues: bool, more: bool) -> SendOptions {
    SendOptions {
        continues,
        more,
        ..SendOptions::default()
    }
}

/// A recording server (in parts when `parts`) and a client connected to it.
fn pair(
    server: ServerConfig,
    client: ClientConfig,
) -> (
    Server,
    Arc<Recorder>,
    Arc<Connection>,
    Arc<Recorder>,
    Arc<Connection>,
) {
    let srec = Recorder::new();
    let server = Server::listen("127.0.0.1", 0, server, srec.clone()).expect("listen");
    let crec = Recorder::new();
    let url = format!("ws://{}/", server.local_addr());
    let client = connect(&url, client, crec.clone()).expect("connect");
    crec.wait_event(&client, "the client's Open", |e| *e == Ev::Open);
    let sconn = srec.opened(0);
    (server, srec, sconn, crec, client)
}

fn parts_server() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.connection.receive_parts = true;
    config
}

/// The pieces of the messages `rec` got on `conn`, joined per message, after
/// checking their flags, totals and (text) UTF-8.
fn joined(rec: &Recorder, conn: &Arc<Connection>) -> Vec<(bool, Vec<u8>)> {
    let mut messages = Vec::new();
    let mut current: Option<(bool, Vec<u8>)> = None;
    for ev in rec.events(conn) {
        let Ev::Part(text, data, first, last, total) = ev else {
            continue;
        };
        assert_eq!(
            first,
            current.is_none(),
            "first exactly on a message's first piece"
        );
        if text {
            assert!(
                std::str::from_utf8(&data).is_ok(),
                "a text piece is UTF-8 by itself"
            );
        }
        let (_, bytes) = current.get_or_insert((text, Vec::new()));
        bytes.extend_from_slice(&data);
        assert_eq!(total, bytes.len() as u64, "total counts the message so far");
        if last {
            messages.push(current.take().expect("set above"));
        }
    }
    assert!(current.is_none(), "a message without its last piece");
    messages
}

#[test]
fn parts_sent_from_several_threads_make_one_message_and_others_wait_for_it() {
    let (_server, srec, sconn, crec, client) =
        pair(ServerConfig::default(), ClientConfig::default());
    client
        .send_message(true, b"A0;", part(false, true))
        .unwrap();
    let whole_sender = {
        let client = client.clone();
        std::thread::spawn(move || {
            for i in 0..200 {
                client.send_text(format!("B{i}").as_bytes()).unwrap();
            }
        })
    };
    for i in 1..200 {
        let client = client.clone();
        // Each part from a thread of its own, one after the other.
        std::thread::spawn(move || {
            client
                .send_message(true, format!("A{i};").as_bytes(), part(true, true))
                .unwrap();
        })
        .join()
        .unwrap();
    }
    client
        .send_message(true, b"end", part(true, false))
        .unwrap();
    whole_sender.join().unwrap();
    srec.wait_message(&sconn, 200);
    let got = messages(&srec.events(&sconn));
    let expected_a: String = (0..200).map(|i| format!("A{i};")).collect::<String>() + "end";
    let a: Vec<_> = got
        .iter()
        .filter(|m| matches!(m, Ev::Text(t) if t.starts_with(b"A")))
        .collect();
    assert_eq!(
        a,
        [&Ev::Text(expected_a.into_bytes())],
        "one message, its parts in order"
    );
    let b: Vec<_> = got
        .iter()
        .filter(|m| matches!(m, Ev::Text(t) if t.starts_with(b"B")))
        .cloned()
        .collect();
    let expected_b: Vec<_> = (0..200)
        .map(|i| Ev::Text(format!("B{i}").into_bytes()))
        .collect();
    assert_eq!(b, expected_b, "the whole messages, in order, none cut");
    client.close(Some(1000), "").unwrap();
    assert_eq!(crec.wait_close(&client).0, 1000);
}

#[test]
fn text_in_parts_is_checked_across_parts() {
    let (_server, srec, sconn, _crec, client) =
        pair(ServerConfig::default(), ClientConfig::default());
    let e_acute = "é".as_bytes();
    client
        .send_message(true, &[b'x', e_acute[0]], part(false, true))
        .unwrap();
    assert_eq!(
        client.send_message(true, &e_acute[..1], part(true, false)),
        Err(SendError::InvalidUtf8),
        "a message may not end inside a character"
    );
    assert_eq!(
        client.send_message(true, b"\xff", part(true, true)),
        Err(SendError::InvalidUtf8)
    );
    assert_eq!(
        client.send_message(false, b"x", part(true, false)),
        Err(SendError::PartKindMismatch)
    );
    assert_eq!(
        client.send_message(true, b"new", part(false, true)),
        Err(SendError::MessageInPartsOpen)
    );
    client
        .send_message(true, &[e_acute[1], b'!'], part(true, false))
        .unwrap();
    assert_eq!(
        client.send_message(true, b"y", part(true, false)),
        Err(SendError::NoMessageInParts)
    );
    assert_eq!(srec.wait_message(&sconn, 0), Ev::Text("xé!".into()));
}

#[test]
fn messages_arrive_in_pieces_compressed_or_not() {
    let deflate = || Some(DeflateConfig::default());
    let mut server = parts_server();
    server.connection.deflate = deflate();
    server.connection.max_message_size = 64 << 20;
    let mut client = ClientConfig::default();
    client.connection.deflate = deflate();
    let (_server, srec, sconn, _crec, conn) = pair(server, client);
    // Compressed: inflated a step at a time, each step a piece.
    let text = "ünïcödé text that compresses well; ".repeat(300_000);
    conn.send_text(text.as_bytes()).unwrap();
    // Not compressed (under the threshold), one piece.
    conn.send_binary(b"small").unwrap();
    // Empty.
    conn.send_text(b"").unwrap();
    srec.wait("three messages", |recs| {
        (recs
            .iter()
            .filter(|r| matches!(r.ev, Ev::Part(_, _, _, true, _)))
            .count()
            == 3)
            .then_some(())
    });
    let got = joined(&srec, &sconn);
    assert_eq!(
        got,
        [
            (true, text.into_bytes()),
            (false, b"small".to_vec()),
            (true, Vec::new())
        ]
    );
    let pieces = srec
        .events(&sconn)
        .iter()
        .filter(|e| matches!(e, Ev::Part(..)))
        .count();
    assert!(
        pieces > 20,
        "the large message came in many pieces ({pieces})"
    );
    let largest = srec
        .events(&sconn)
        .iter()
        .map(|e| match e {
            Ev::Part(_, d, ..) => d.len(),
            _ => 0,
        })
        .max()
        .unwrap();
    assert!(
        largest <= 256 * 1024 + 3,
        "no piece over an inflation step ({largest})"
    );
}

/// A server handler that checks the pieces of one large binary message as
/// they come, keeping only a checksum.
#[derive(Default)]
struct Streamed {
    crc: Mutex<flate2::Crc>,
    pieces: AtomicUsize,
    largest: AtomicUsize,
    /// The message's total when its last piece came (0 until then).
    done: AtomicU64,
}

impl Handler for Streamed {
    fn event(&self, _: &Arc<Connection>, event: Event<'_>) {
        if let Event::Part {
            data,
            last,
            total,
            first,
            ..
        } = event
        {
            assert_eq!(first, self.pieces.fetch_add(1, Ordering::SeqCst) == 0);
            self.crc.lock().unwrap().update(data);
            self.largest.fetch_max(data.len(), Ordering::SeqCst);
            if last {
                self.done.store(total, Ordering::SeqCst);
            }
        }
    }
}

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = status.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_gigabyte_message_passes_in_parts_with_bounded_memory() {
    const PART: usize = 1 << 20;
    const PARTS: usize = 1024;
    let mut config = parts_server();
    config.connection.max_message_size = 2 << 30;
    let streamed = Arc::new(Streamed::default());
    let server = Server::listen("127.0.0.1", 0, config, streamed.clone()).expect("listen");
    let crec = Recorder::new();
    let url = format!("ws://{}/", server.local_addr());
    let client = connect(&url, ClientConfig::default(), crec.clone()).expect("connect");
    crec.wait_event(&client, "the client's Open", |e| *e == Ev::Open);

    let mut block: Vec<u8> = (0..PART).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut sent_crc = flate2::Crc::new();
    let start_rss = rss();
    let mut peak_rss = start_rss;
    let deadline = Instant::now() + Duration::from_secs(120);
    for k in 0..PARTS {
        block[..8].copy_from_slice(&(k as u64).to_le_bytes());
        sent_crc.update(&block);
        let options = part(k > 0, k + 1 < PARTS);
        if client.send_message(false, &block, options).unwrap() == Sent::Backpressure {
            // Flow control: wait until the queue drains (a program would wait for Drain).
            while client.buffered_amount() > 256 << 10 {
                assert!(Instant::now() < deadline, "the queue never drained");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        peak_rss = peak_rss.max(rss());
    }
    eventually("the last piece", || {
        streamed.done.load(Ordering::SeqCst) != 0
    });
    assert_eq!(streamed.done.load(Ordering::SeqCst), (PART * PARTS) as u64);
    assert_eq!(
        streamed.crc.lock().unwrap().sum(),
        sent_crc.sum(),
        "the bytes, in order"
    );
    let largest = streamed.largest.load(Ordering::SeqCst);
    assert!(
        largest <= 256 << 10,
        "pieces are what a read brings ({largest} bytes)"
    );
    let grown = peak_rss.saturating_sub(start_rss);
    assert!(
        grown < 128 << 20,
        "memory grew by {} MiB for a 1 GiB message",
        grown >> 20
    );
}
