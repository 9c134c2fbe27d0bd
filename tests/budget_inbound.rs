//! The server's inbound memory budget holds across connections: many
//! clients each send the start of a compressed message that inflates to
//! megabytes and never finish it. Without a budget each connection would
//! hold its unfinished message; with one, those past the budget fail with
//! 1009 and the process stays under the budget plus 32 MiB. Alone in its
//! process, so that the resident memory it reads is the test's own.

#[path = "support.rs"]
mod support;

use std::sync::Arc;
use support::*;
use websocket::protocol::deflate::DeflateConfig;
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::{ClientConfig, Compression, Connection, SendOptions, ServerConfig};

#[test]
fn unfinished_compressed_messages_stay_within_the_inbound_budget() {
    const BUDGET: usize = 64 << 20;
    const CLIENTS: usize = 40;
    const PART: usize = 1 << 20;
    const PARTS: usize = 8; // each client's message would hold 8 MiB
    let mut config = ServerConfig {
        inbound_budget: BUDGET,
        ..ServerConfig::default()
    };
    config.connection.deflate = Some(DeflateConfig::default());
    config.connection.max_message_size = 64 << 20;
    let server = Server::listen("127.0.0.1", 0, config, Recorder::new()).expect("listen");
    let url = format!("ws://{}/", server.local_addr());
    let mut client_config = ClientConfig::default();
    client_config.connection.deflate = Some(DeflateConfig::default());

    let start_rss = rss();
    let mut peak_rss = start_rss;
    let zeros = vec![0u8; PART];
    let rec = Recorder::new();
    let clients: Vec<Arc<Connection>> = (0..CLIENTS)
        .map(|_| {
            let c = connect(&url, client_config.clone(), rec.clone()).expect("connect");
            rec.wait_event(&c, "the client's Open", |e| *e == Ev::Open);
            c
        })
        .collect();
    for (i, client) in clients.iter().enumerate() {
        for k in 0..PARTS {
            let options = SendOptions {
                compression: Compression::Always,
                continues: k > 0,
                more: true, // never finished
            };
            if client.send_message(false, &zeros, options).is_err() {
                break; // failed already: the server closed it
            }
            // A client with flow control: the next part once this one went
            // (the client side holds little; what is measured is the server).
            eventually("the part to go", || {
                client.buffered_amount() == 0 || client.close_info().is_some()
            });
        }
        if i % 4 == 0 {
            peak_rss = peak_rss.max(rss());
        }
    }
    // The budget holds 8 of these messages: at least the others fail.
    let expected = CLIENTS - BUDGET / (PART * PARTS);
    let closed = || clients.iter().filter(|c| c.close_info().is_some()).count();
    let _ = rec.wait_within(std::time::Duration::from_secs(10), |_| {
        (closed() >= expected).then_some(())
    });
    let mut over_budget = 0;
    for client in &clients {
        if let Some(info) = client.close_info() {
            assert_eq!(info.code, 1009, "{}", info.reason);
            assert_eq!(info.reason, "message too big for the memory left");
            over_budget += 1;
        }
    }
    let held = CLIENTS - over_budget;
    peak_rss = peak_rss.max(rss());
    let grown = peak_rss.saturating_sub(start_rss) as usize;
    eprintln!(
        "{over_budget} of {CLIENTS} unfinished messages failed with 1009, {held} held; \
         memory grew by {} MiB (budget {} MiB)",
        grown >> 20,
        BUDGET >> 20
    );
    assert!(
        over_budget >= expected,
        "{over_budget} of {CLIENTS} failed with 1009 ({held} hold their message)"
    );
    assert!(held >= 1, "the budget holds some messages: {held}");
    assert!(
        grown < BUDGET + (32 << 20),
        "memory grew by {} MiB with a budget of {} MiB",
        grown >> 20,
        BUDGET >> 20
    );
}
