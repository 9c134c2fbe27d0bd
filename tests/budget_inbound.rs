//! The server's inbound memory budget holds across connections: many
//! clients each send the start of a compressed message that inflates to
//! megabytes and never finish it. Without a budget each connection would
//! hold its unfinished message; with one, all but as many as the budget
//! holds fail with 1009 and the process stays under the budget plus 32 MiB.
//! When the budget is spent, a smaller message still comes through: the
//! connection holding the most is failed for it. Alone in their process (and
//! one at a time), so that the resident memory they read is their own.

#[path = "support.rs"]
mod support;

use std::sync::{Arc, Mutex};
use support::*;
use websocket::protocol::deflate::DeflateConfig;
use websocket::transport::budget;
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::{ClientConfig, Compression, Connection, SendOptions, ServerConfig};

/// One test at a time: each reads the process's resident memory.
static ALONE: Mutex<()> = Mutex::new(());

/// A server with an inbound budget of `budget` bytes and compression.
fn server(budget: usize, rec: Arc<Recorder>) -> (Server, String) {
    let mut config = ServerConfig {
        inbound_budget: budget,
        ..ServerConfig::default()
    };
    config.connection.deflate = Some(DeflateConfig::default());
    config.connection.max_message_size = 64 << 20;
    let server = Server::listen("127.0.0.1", 0, config, rec).expect("listen");
    let url = format!("ws://{}/", server.local_addr());
    (server, url)
}

/// Opens `n` clients with compression, recording into `rec`.
fn clients(url: &str, n: usize, rec: &Arc<Recorder>) -> Vec<Arc<Connection>> {
    let mut config = ClientConfig::default();
    config.connection.deflate = Some(DeflateConfig::default());
    (0..n)
        .map(|_| {
            let c = connect(url, config.clone(), rec.clone()).expect("connect");
            rec.wait_event(&c, "the client's Open", |e| *e == Ev::Open);
            c
        })
        .collect()
}

/// Sends `parts` compressed parts of `part` zero bytes, never the end, each
/// once the one before went; stops when the server closed the connection.
fn send_unfinished(client: &Connection, part: usize, parts: usize) {
    let zeros = vec![0u8; part];
    for k in 0..parts {
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
}

#[test]
fn unfinished_compressed_messages_stay_within_the_inbound_budget() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    const BUDGET: usize = 64 << 20;
    const CLIENTS: usize = 40;
    const PART: usize = 1 << 20;
    const PARTS: usize = 8; // each client's message would hold 8 MiB
    let (_server, url) = server(BUDGET, Recorder::new());
    let start_rss = rss();
    let mut peak_rss = start_rss;
    let rec = Recorder::new();
    let clients = clients(&url, CLIENTS, &rec);
    for (i, client) in clients.iter().enumerate() {
        send_unfinished(client, PART, PARTS);
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
    close_all(&clients);
}

/// Closes `clients` and waits until the server has given back what they
/// counted against the budgets.
fn close_all(clients: &[Arc<Connection>]) {
    for client in clients {
        let _ = client.close(Some(1000), "");
    }
    eventually("the budgets to be given back", || {
        budget::PROCESS.inbound.used() == 0
    });
}

#[test]
fn the_connection_holding_the_most_makes_room_for_a_smaller_message() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    const BUDGET: usize = 64 << 20;
    // Four unfinished messages of 8 MiB each spend the budget (each holds
    // 16 MiB: its buffer doubled when the 8th MiB filled it).
    let srec = Recorder::new();
    let (_server, url) = server(BUDGET, srec.clone());
    let rec = Recorder::new();
    let holders = clients(&url, 4, &rec);
    for holder in &holders {
        send_unfinished(holder, 1 << 20, 8);
    }
    let held = 4 * ((16 << 20) - budget::FREE);
    eventually("the server to hold the 4 messages", || {
        budget::PROCESS.inbound.used() == held
    });
    let closed = holders.iter().map(|h| h.close_info()).collect::<Vec<_>>();
    assert!(closed.iter().all(Option::is_none), "all fit: {closed:?}");

    // A 2 MiB message comes whole; one of the holders fails for it.
    let newcomer = clients(&url, 1, &rec).remove(0);
    let message = vec![7u8; 2 << 20];
    newcomer.send_binary(&message).expect("send");
    srec.wait("the 2 MiB message", |recs| {
        recs.iter()
            .any(|r| matches!(&r.ev, Ev::Binary(m) if m.len() == message.len()))
            .then_some(())
    });
    let failed = |h: &&Arc<Connection>| h.close_info().is_some();
    eventually("a holder to fail", || holders.iter().any(|h| failed(&h)));
    let closed: Vec<_> = holders.iter().filter(failed).collect();
    assert_eq!(closed.len(), 1, "only as many as the message needs");
    let info = closed[0].close_info().unwrap();
    assert_eq!(
        (info.code, info.reason.as_str()),
        (1009, "message too big for the memory left")
    );
    assert!(newcomer.close_info().is_none());
    close_all(&holders);
}
