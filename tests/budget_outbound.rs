//! The server's outbound memory budget holds across connections: 64 clients
//! that never read, and a server that sends to each until it is refused.
//! Each connection alone may queue 64 MiB (its send queue limit); together
//! they queue no more than the budget, and the process stays under the
//! budget plus 32 MiB. Alone in its process, so that the resident memory it
//! reads is the test's own.

#[path = "support.rs"]
mod support;

use support::*;
use websocket::transport::server::Server;
use websocket::transport::{SendError, ServerConfig};

#[test]
fn clients_that_never_read_stay_within_the_outbound_budget() {
    const BUDGET: usize = 64 << 20;
    const CLIENTS: usize = 64;
    const MESSAGE: usize = 256 << 10;
    let config = ServerConfig {
        outbound_budget: BUDGET,
        ..ServerConfig::default()
    };
    let rec = Recorder::new();
    let server = Server::listen("127.0.0.1", 0, config, rec.clone()).expect("listen");
    let addr = server.local_addr();
    let raws: Vec<Raw> = (0..CLIENTS).map(|_| raw_client(addr, "/")).collect();
    let conns: Vec<_> = (0..CLIENTS).map(|i| rec.opened(i)).collect();

    let start_rss = rss();
    let message = vec![7u8; MESSAGE];
    let mut queued = 0;
    let mut refused_early = 0;
    for conn in &conns {
        let mut mine = 0;
        loop {
            match conn.send_binary(&message) {
                Ok(_) => mine += MESSAGE,
                Err(SendError::QueueFull) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        if mine < 64 << 20 {
            refused_early += 1; // before its own queue limit: the budget said no
        }
        queued += mine;
    }
    let grown = rss().saturating_sub(start_rss) as usize;
    eprintln!(
        "{CLIENTS} clients that never read: {} MiB queued in all (budget {} MiB), \
         {refused_early} refused before their own limit; memory grew by {} MiB",
        queued >> 20,
        BUDGET >> 20,
        grown >> 20
    );
    // What the sockets took (kernel buffers) is not queued here; the rest is
    // bounded by the budget plus each connection's allowance outside it.
    let allowance = CLIENTS * (64 << 10);
    let in_sockets = CLIENTS * (8 << 20);
    assert!(
        queued <= BUDGET + allowance + in_sockets,
        "{} MiB queued",
        queued >> 20
    );
    assert!(refused_early >= CLIENTS - 2, "{refused_early}");
    assert!(
        grown < BUDGET + (32 << 20),
        "memory grew by {} MiB with a budget of {} MiB",
        grown >> 20,
        BUDGET >> 20
    );
    drop(raws);
}
