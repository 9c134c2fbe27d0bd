//! A 1 GiB message in parts over a loopback socket passes through bounded
//! memory: the client sends it part by part (waiting for the queue to drain
//! under backpressure), the server takes it piece by piece. Alone in its
//! process, so that the resident memory it reads is the test's own.

#[path = "support.rs"]
mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::{
    ClientConfig, Connection, Event, Handler, SendOptions, Sent, ServerConfig,
};

/// A server handler that checks the pieces of one large binary message as
/// they come, keeping only a checksum.
#[derive(Default)]
struct Streamed {
    crc: Mutex<flate2::Crc>,
    pieces: AtomicUsize,
    largest: AtomicUsize,
    /// The message's total when its last piece came (0 until then).
    done: AtomicU64,
    /// A piece's `first` flag was wrong (checked by the test's thread).
    bad_first: AtomicBool,
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

#[test]
fn a_gigabyte_message_passes_in_parts_with_bounded_memory() {
    const PART: usize = 1 << 20;
    const PARTS: usize = 1024;
    let mut config = ServerConfig::default();
    config.connection.receive_parts = true;
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
        let options = SendOptions {
            continues: k > 0,
            more: k + 1 < PARTS,
            ..SendOptions::default()
        };
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
    assert!(
        !streamed.bad_first.load(Ordering::SeqCst),
        "first exactly on the first piece"
    );
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
