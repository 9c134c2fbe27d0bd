//! `ws_conn_get_stats`, `ws_server_get_stats`, `ws_conn_id`: what connections and
//! servers carried, read in one call.
//!
//! The structs start with their own `size`, like `ws_callbacks`: the
//! library writes only the fields within the `size` bytes the program says
//! it has, so fields can be added at the end without breaking compiled
//! programs.

use super::handle::handle;
use super::server::ws_server;
use super::status::{guard, guard_status, ws_status, Failure, WS_ERR_INVALID_ARGUMENT};
use crate::transport::stats::{ConnStats, ServerStats};
use crate::transport::Connection;

/// What one connection carried. Messages are whole messages of the
/// application (control frames are not counted); bytes are their payload
/// bytes as the application sees them: before compression on the way out,
/// after decompression on the way in (permessage-deflate does not change
/// them). Set `size` to `sizeof(ws_conn_stats)` before calling
/// `ws_conn_get_stats`. Fields may be added at the end in later versions.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ws_conn_stats {
    /// `sizeof(ws_conn_stats)` as the program was compiled: set it before
    /// the call.
    pub size: usize,
    /// The connection's id (`ws_conn_id`).
    pub id: u64,
    /// Messages received and delivered to the application (a message in
    /// parts when its last piece was).
    pub messages_in: u64,
    /// Payload bytes of those messages (of each piece as it is delivered).
    pub bytes_in: u64,
    /// Messages the application sent, counted when the connection's I/O
    /// thread took them (at once for a send from a callback of the
    /// connection; a message in parts when its last part was taken);
    /// messages refused by the send are not counted, messages taken but
    /// dropped by the connection's end (still queued when it closed) are.
    pub messages_out: u64,
    /// Payload bytes of those messages (of each part as it is taken).
    pub bytes_out: u64,
    /// The most bytes that waited to be written at once (the highest
    /// `ws_conn_buffered_amount` seen by the connection's I/O thread).
    pub send_queue_high_water: u64,
}

/// What a server counted since it started listening. Set `size` to
/// `sizeof(ws_server_stats)` before calling `ws_server_get_stats`. Fields may be
/// added at the end in later versions.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ws_server_stats {
    /// `sizeof(ws_server_stats)` as the program was compiled: set it before
    /// the call.
    pub size: usize,
    /// Connections open now (as `ws_server_connection_count`).
    pub connections_open: u64,
    /// Connections that completed the opening handshake, in total.
    pub connections_accepted: u64,
    /// Requests refused with 503 because the server was full
    /// (`ws_server_config_set_max_connections`), stopping, or its polled
    /// event queue too full to ask the application.
    pub refused_full: u64,
    /// Requests refused as invalid upgrades (400 and the like: malformed
    /// head, missing or bad WebSocket headers, no common subprotocol).
    pub refused_bad_handshake: u64,
    /// Requests refused by the application (`ws_handshake_reject`, or a
    /// request dropped unanswered) or by the origin allow-list (403).
    pub refused_rejected: u64,
    /// Connections that did not complete the opening handshake (TLS
    /// included) within the handshake timeout, or that the application did
    /// not answer in time.
    pub refused_timeout: u64,
    /// Failed TLS handshakes, and plain requests sent to a TLS port.
    pub refused_tls: u64,
    /// Messages received, over all its connections (closed ones included),
    /// counted as in `ws_conn_stats`.
    pub messages_in: u64,
    /// Payload bytes of those messages.
    pub bytes_in: u64,
    /// Messages sent, over all its connections.
    pub messages_out: u64,
    /// Payload bytes of those messages.
    pub bytes_out: u64,
    /// The highest `send_queue_high_water` of any of its connections.
    pub send_queue_high_water: u64,
}

/// Largest `size` taken as a real struct (a larger one is uninitialised memory).
const MAX_STATS_SIZE: usize = 4096;

/// Writes `ours` to `out`: only the fields within the `size` bytes `out`
/// says it has (those past the end of `ours`, from a newer header, become
/// 0), and not `size` itself.
///
/// # Safety
/// A non-NULL `out` points to a struct whose first member is its `size` and
/// that holds `size` writable bytes.
unsafe fn fill<T: Copy>(ours: &T, out: *mut T) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::null("out"));
    }
    let word = std::mem::size_of::<usize>();
    let size = out.cast::<usize>().read();
    if size < word || size % 8 != 0 || size > MAX_STATS_SIZE {
        return Err(Failure::new(
            WS_ERR_INVALID_ARGUMENT,
            format!("out->size is {size}: set it to the sizeof of the stats struct"),
        ));
    }
    let theirs = out.cast::<u8>();
    let ours_size = std::mem::size_of::<T>();
    let known = size.min(ours_size);
    let from = (ours as *const T).cast::<u8>();
    std::ptr::copy_nonoverlapping(from.add(word), theirs.add(word), known.saturating_sub(word));
    if size > ours_size {
        std::ptr::write_bytes(theirs.add(ours_size), 0, size - ours_size);
    }
    Ok(())
}

impl ws_conn_stats {
    fn of(id: u64, s: &ConnStats) -> Self {
        ws_conn_stats {
            size: std::mem::size_of::<Self>(),
            id,
            messages_in: s.messages_in,
            bytes_in: s.bytes_in,
            messages_out: s.messages_out,
            bytes_out: s.bytes_out,
            send_queue_high_water: s.send_queue_high_water,
        }
    }
}

impl ws_server_stats {
    fn of(s: &ServerStats) -> Self {
        ws_server_stats {
            size: std::mem::size_of::<Self>(),
            connections_open: s.connections_open,
            connections_accepted: s.connections_accepted,
            refused_full: s.refused_full,
            refused_bad_handshake: s.refused_bad_handshake,
            refused_rejected: s.refused_rejected,
            refused_timeout: s.refused_timeout,
            refused_tls: s.refused_tls,
            messages_in: s.traffic.messages_in,
            bytes_in: s.traffic.bytes_in,
            messages_out: s.traffic.messages_out,
            bytes_out: s.traffic.bytes_out,
            send_queue_high_water: s.traffic.send_queue_high_water,
        }
    }
}

/// The connection's id: a number from 1, unique in the process and never
/// reused, the `conn_id` of the log lines about it. 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_id(c: *const Connection) -> u64 {
    guard(0, || Ok(handle(c)?.id()))
}

/// Fills `out` with what the connection carried so far (it keeps counting
/// until it closes, and the handle answers after that). Set `out->size =
/// sizeof *out` first: the library writes only the fields within `size`
/// bytes (0 in those it does not know). Any thread; the counters are read
/// one by one, not as one snapshot. `WS_ERR_NULL` for NULL,
/// `WS_ERR_INVALID_ARGUMENT` when `size` is not a multiple of 8 from 8 to 4096.
#[no_mangle]
pub unsafe extern "C" fn ws_conn_get_stats(
    c: *const Connection,
    out: *mut ws_conn_stats,
) -> ws_status {
    guard_status(|| {
        let c = handle(c)?;
        fill(&ws_conn_stats::of(c.id(), &c.stats()), out)
    })
}

/// Fills `out` with what the server counted since it started: connections,
/// refusals by reason, and the traffic of all its connections, closed ones
/// included. Set `out->size = sizeof *out` first (see `ws_conn_get_stats`). Any
/// thread; it takes the server's connection list for a moment (the I/O
/// threads never wait for it per message). `WS_ERR_NULL` for NULL,
/// `WS_ERR_INVALID_ARGUMENT` for a bad `size`.
#[no_mangle]
pub unsafe extern "C" fn ws_server_get_stats(
    server: *const ws_server,
    out: *mut ws_server_stats,
) -> ws_status {
    guard_status(|| fill(&ws_server_stats::of(&handle(server)?.server.stats()), out))
}
