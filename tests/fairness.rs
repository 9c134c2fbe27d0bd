//! Fairness: a connection doing expensive work does not hold up the others on
//! its I/O thread. One client sends compressed messages that inflate to 31 MiB
//! each, as fast as it can, to an echo server that compresses them back; a
//! fresh client still connects and gets its echo quickly.
//!
//! On its own in this test binary, so nothing else shares the I/O thread.

#[path = "support.rs"]
mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use websocket::protocol::deflate::{Compressor, DeflateConfig};
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::{
    ClientConfig, Connection, ConnectionConfig, Event, Handler, ServerConfig,
};

const OFFER: &str = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/// Echoes every message, and counts them, without keeping them.
struct Echo(AtomicUsize);

impl Handler for Echo {
    fn event(&self, conn: &Arc<Connection>, event: Event<'_>) {
        if let Event::Message { text, data } = event {
            self.0.fetch_add(1, Ordering::Relaxed);
            let _ = if text {
                conn.send_text(data)
            } else {
                conn.send_binary(data)
            };
        }
    }
}

/// A raw client that sends `frame` over and over and reads (and drops)
/// whatever comes back, until `stop`.
fn flood(
    addr: SocketAddr,
    frame: Vec<u8>,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut raw = Raw::connect(addr);
    raw.send(request("/", RFC_KEY, OFFER).as_bytes());
    let head = raw.read_head();
    assert_eq!(status(&head), 101, "{head}");
    assert!(
        header(&head, "Sec-WebSocket-Extensions")
            .is_some_and(|e| e.starts_with("permessage-deflate")),
        "{head}"
    );
    let mut writer = raw.stream.try_clone().expect("clone");
    let mut reader = raw.stream.try_clone().expect("clone");
    reader
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let stop_writing = stop.clone();
    let sender = std::thread::spawn(move || {
        while !stop_writing.load(Ordering::Relaxed) {
            if writer.write_all(&frame).is_err() {
                return;
            }
        }
    });
    let drain = std::thread::spawn(move || {
        let mut sink = vec![0u8; 1 << 16];
        while !stop.load(Ordering::Relaxed) {
            match reader.read(&mut sink) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return,
            }
        }
    });
    vec![sender, drain]
}

/// Connects a fresh client, sends one message and waits for its echo;
/// returns how long that took.
fn fresh_round_trip(url: &str) -> Duration {
    let rec = Recorder::new();
    let started = Instant::now();
    let conn = connect(url, ClientConfig::default(), rec.clone()).expect("connect");
    rec.wait_event(&conn, "Open", |e| *e == Ev::Open);
    conn.send_text(b"hello").expect("send");
    rec.wait_event(&conn, "the echo", |e| *e == Ev::Text(b"hello".to_vec()));
    let took = started.elapsed();
    let _ = conn.close(Some(1000), "");
    rec.wait_close(&conn);
    took
}

#[test]
fn a_fresh_client_is_served_while_another_sends_messages_that_inflate_to_31_mib() {
    let echo = Arc::new(Echo(AtomicUsize::new(0)));
    let config = ServerConfig {
        connection: ConnectionConfig {
            deflate: Some(DeflateConfig::default()),
            compression_threshold: 0,
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = Server::listen("127.0.0.1", 0, config, echo.clone()).expect("listen");
    let addr = server.local_addr();

    // 31 MiB of one byte compresses to about 31 KiB.
    let message = vec![b'a'; 31 << 20];
    let mut body = Vec::new();
    Compressor::new(15, false, 6, 8).compress(&message, &mut body);
    assert!(body.len() < 64 * 1024, "{}", body.len());
    let frame = frame_rsv(true, 0b100, BINARY, Some([7, 1, 3, 9]), &body);
    let stop = Arc::new(AtomicBool::new(false));
    let threads = flood(addr, frame, stop.clone());
    eventually("the first 31 MiB message to be echoed", || {
        echo.0.load(Ordering::Relaxed) > 0
    });

    let url = format!("ws://{addr}/");
    let times: Vec<Duration> = (0..5).map(|_| fresh_round_trip(&url)).collect();
    let heavy = echo.0.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    drop(server);
    for t in threads {
        let _ = t.join();
    }
    eprintln!("fresh round trips: {times:?}; large messages echoed: {heavy}");
    let mut sorted = times.clone();
    sorted.sort();
    // The flood kept going meanwhile (it was not starved either).
    assert!(heavy >= 2, "only {heavy} large messages were echoed");
    assert!(
        sorted[2] < Duration::from_millis(100),
        "fresh clients waited {times:?} for their echo (median over 100 ms)"
    );
}
