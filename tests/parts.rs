//! Messages in parts over loopback sockets: sent in parts (from several
//! threads, checked across parts) and received in parts (compressed or
//! not). A 1 GiB message in parts is in `parts_memory.rs`, a process of its
//! own so that its memory is measured alone.

#[path = "support.rs"]
mod support;

use std::sync::Arc;
use support::*;
use websocket::protocol::deflate::DeflateConfig;
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::{ClientConfig, Connection, SendError, SendOptions, ServerConfig};

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
