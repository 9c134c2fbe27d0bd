//! Traffic counters: per connection, written only by its I/O thread, and
//! per server, the sum of its connections, read in one call.
//!
//! Nothing here is shared between I/O threads on the per-message path: a
//! connection's counters live in the connection and are written by its own
//! thread alone (a relaxed load and store, no locked instruction); a server
//! adds a connection's counters to its totals once, when the connection
//! ends, and sums the open ones only when asked.

use std::sync::atomic::{AtomicU64, Ordering};

/// What one connection carried, as the application sees it: messages (not
/// control frames) and their payload bytes before compression on the way out
/// and after decompression on the way in.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConnStats {
    /// Messages delivered to the application.
    pub messages_in: u64,
    /// Payload bytes of those messages.
    pub bytes_in: u64,
    /// Messages the application sent, counted once taken by the
    /// connection's I/O thread (sent from another thread: when that thread
    /// took it from the inbox).
    pub messages_out: u64,
    /// Payload bytes of those messages.
    pub bytes_out: u64,
    /// The most bytes waiting to be written at once (what
    /// `buffered_amount` said at its highest).
    pub send_queue_high_water: u64,
}

impl ConnStats {
    /// Adds `other`'s counts to these; the high-water mark is the higher one.
    pub fn add(&mut self, other: &ConnStats) {
        self.messages_in += other.messages_in;
        self.bytes_in += other.bytes_in;
        self.messages_out += other.messages_out;
        self.bytes_out += other.bytes_out;
        self.send_queue_high_water = self.send_queue_high_water.max(other.send_queue_high_water);
    }
}

/// A connection's live counters: written by its I/O thread only, read by
/// any thread.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    send_queue_high_water: AtomicU64,
}

/// Adds `n` to a counter only one thread writes (no locked instruction).
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

impl Traffic {
    /// `len` payload bytes of a message were delivered; `ends`: they end
    /// it (a whole message, or its last piece).
    pub fn received(&self, len: usize, ends: bool) {
        bump(&self.messages_in, u64::from(ends));
        bump(&self.bytes_in, len as u64);
    }

    /// `len` payload bytes of a message were taken for sending; `ends`:
    /// they end it (a whole message, or its last part).
    pub fn sent(&self, len: usize, ends: bool) {
        bump(&self.messages_out, u64::from(ends));
        bump(&self.bytes_out, len as u64);
    }

    /// `bytes` wait to be written now.
    pub fn buffered(&self, bytes: usize) {
        if bytes as u64 > self.send_queue_high_water.load(Ordering::Relaxed) {
            self.send_queue_high_water
                .store(bytes as u64, Ordering::Relaxed);
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> ConnStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ConnStats {
            messages_in: read(&self.messages_in),
            bytes_in: read(&self.bytes_in),
            messages_out: read(&self.messages_out),
            bytes_out: read(&self.bytes_out),
            send_queue_high_water: read(&self.send_queue_high_water),
        }
    }
}

/// Why a server refused a connection before it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over `max_connections`, stopping, or too busy to ask the application
    /// (HTTP 503).
    Full,
    /// Not a valid WebSocket upgrade request (HTTP 400 and the like): the
    /// reason is in the log.
    BadHandshake,
    /// Refused by the application (its handshake callback), or by the
    /// server's policy (an origin not allowed, 403).
    Rejected,
    /// The opening handshake took longer than the handshake timeout.
    Timeout,
    /// The TLS handshake failed, or a plain request came to the TLS port.
    Tls,
}

/// Everything a server counted, read in one call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections open now (past the opening handshake, not yet closed).
    pub connections_open: u64,
    /// Connections that opened, in total.
    pub connections_accepted: u64,
    /// Refused over `max_connections` or while stopping (503).
    pub refused_full: u64,
    /// Refused as invalid upgrade requests (400, 405, 426 ...).
    pub refused_bad_handshake: u64,
    /// Refused by the application or the origin allow-list.
    pub refused_rejected: u64,
    /// Refused at the handshake timeout.
    pub refused_timeout: u64,
    /// Failed TLS handshakes.
    pub refused_tls: u64,
    /// The traffic of all its connections, closed ones included; the
    /// high-water mark is the highest of any connection.
    pub traffic: ConnStats,
}

/// A server's refusal counters (written once per refused connection).
#[derive(Debug, Default)]
pub(crate) struct Refusals([AtomicU64; 5]);

impl Refusals {
    fn index(why: Refusal) -> usize {
        match why {
            Refusal::Full => 0,
            Refusal::BadHandshake => 1,
            Refusal::Rejected => 2,
            Refusal::Timeout => 3,
            Refusal::Tls => 4,
        }
    }

    pub fn count(&self, why: Refusal) {
        self.0[Self::index(why)].fetch_add(1, Ordering::Relaxed);
    }

    /// Writes the counts into `stats`.
    pub fn fill(&self, stats: &mut ServerStats) {
        let read = |why| self.0[Self::index(why)].load(Ordering::Relaxed);
        stats.refused_full = read(Refusal::Full);
        stats.refused_bad_handshake = read(Refusal::BadHandshake);
        stats.refused_rejected = read(Refusal::Rejected);
        stats.refused_timeout = read(Refusal::Timeout);
        stats.refused_tls = read(Refusal::Tls);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_counts_messages_bytes_and_the_highest_queue() {
        let t = Traffic::default();
        t.received(10, true);
        t.received(3, false); // a piece of a message...
        t.received(2, true); // ...and its last
        t.sent(4, false);
        t.sent(3, true);
        t.buffered(100);
        t.buffered(40);
        let s = t.snapshot();
        assert_eq!((s.messages_in, s.bytes_in), (2, 15));
        assert_eq!((s.messages_out, s.bytes_out), (1, 7));
        assert_eq!(s.send_queue_high_water, 100);
        let mut total = ConnStats {
            send_queue_high_water: 500,
            ..s
        };
        total.add(&s);
        assert_eq!((total.messages_in, total.bytes_out), (4, 14));
        assert_eq!(total.send_queue_high_water, 500);
    }

    #[test]
    fn refusals_are_counted_by_reason() {
        let r = Refusals::default();
        r.count(Refusal::Full);
        r.count(Refusal::Tls);
        r.count(Refusal::Tls);
        let mut s = ServerStats::default();
        r.fill(&mut s);
        assert_eq!(
            (s.refused_full, s.refused_tls, s.refused_timeout),
            (1, 2, 0)
        );
    }
}
