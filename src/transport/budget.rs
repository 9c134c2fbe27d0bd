//! Memory budgets across connections: what a server's connections together,
//! and all connections of the process together, may hold of
//!
//! - inbound bytes: messages being reassembled or inflated, and compressed
//!   bytes waiting to be inflated;
//! - outbound bytes: messages sent and not yet written to the socket.
//!
//! Per connection, `max_message_size` and `send_queue_limit` bound each of
//! these; the budgets bound their sum, so that many connections at once
//! (unfinished compressed messages, clients that never read) cannot take
//! the machine's memory. A connection that would hold more inbound bytes
//! than the budgets leave fails with 1009; a send that would queue more
//! than they leave is refused (`QueueFull`).
//!
//! Only what a connection holds beyond a small allowance ([`FREE`]) is
//! counted, so the shared counters are touched by connections with large
//! messages or backlogs only, never on the path of ordinary messages.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes each way a connection holds without counting against a budget.
pub const FREE: usize = 64 * 1024;

/// Default process-wide budget, each way.
pub const DEFAULT_PROCESS: usize = 1 << 30;

/// Default budget of one server's connections, each way.
pub const DEFAULT_SERVER: usize = 512 << 20;

/// A limit and what is counted against it.
#[derive(Debug)]
pub struct Budget {
    limit: AtomicUsize,
    used: AtomicUsize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub const fn new(limit: usize) -> Budget {
        Budget {
            limit: AtomicUsize::new(limit),
            used: AtomicUsize::new(0),
        }
    }

    /// Bytes counted against it now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Its limit.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Sets its limit.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// True when `more` bytes would not fit.
    fn would_overflow(&self, more: usize) -> bool {
        self.used().saturating_add(more) > self.limit()
    }

    fn adjust(&self, from: usize, to: usize) {
        if to > from {
            self.used.fetch_add(to - from, Ordering::Relaxed);
        } else if to < from {
            self.used.fetch_sub(from - to, Ordering::Relaxed);
        }
    }
}

/// The process-wide budgets.
pub static PROCESS: Budgets = Budgets {
    inbound: Budget::new(DEFAULT_PROCESS),
    outbound: Budget::new(DEFAULT_PROCESS),
};

/// A pair of budgets: inbound and outbound bytes.
#[derive(Debug)]
pub struct Budgets {
    /// Messages being received (reassembled, inflated).
    pub inbound: Budget,
    /// Messages sent and not yet written.
    pub outbound: Budget,
}

impl Budgets {
    /// Budgets of `inbound` and `outbound` bytes.
    pub fn new(inbound: usize, outbound: usize) -> Budgets {
        Budgets {
            inbound: Budget::new(inbound),
            outbound: Budget::new(outbound),
        }
    }
}

/// The process's budgets and, for a server's connection, its server's.
fn scopes(server: Option<&Budgets>) -> impl Iterator<Item = &Budgets> {
    std::iter::once(&PROCESS).chain(server)
}

/// The part of `held` bytes that counts against a budget.
fn counted(held: usize) -> usize {
    held.saturating_sub(FREE)
}

/// What one connection counts against the inbound budgets (its server's, if
/// it has one, and the process's). Given back when dropped.
#[derive(Debug, Default)]
pub(crate) struct InboundCharge {
    server: Option<Arc<Budgets>>,
    charged: usize,
}

impl InboundCharge {
    /// Nothing charged yet, against `server`'s budgets (if any) and the process's.
    pub fn new(server: Option<Arc<Budgets>>) -> InboundCharge {
        InboundCharge { server, charged: 0 }
    }

    /// The connection holds `held` inbound bytes now. False when that is
    /// more than the budgets allow (then nothing more is charged: the
    /// connection is to fail).
    pub fn hold(&mut self, held: usize) -> bool {
        let charge = counted(held);
        if charge == self.charged {
            return true;
        }
        let server = self.server.as_deref();
        let more = charge.saturating_sub(self.charged);
        if more > 0 && scopes(server).any(|b| b.inbound.would_overflow(more)) {
            return false;
        }
        for b in scopes(server) {
            b.inbound.adjust(self.charged, charge);
        }
        self.charged = charge;
        true
    }
}

impl Drop for InboundCharge {
    fn drop(&mut self) {
        self.hold(0);
    }
}

/// The bytes waiting to be sent on a connection went from `before` to
/// `after` in one atomic step: the outbound budgets (its server's,
/// `server`, if any, and the process's) count the change. Exact however
/// threads interleave, since every step of the connection's count comes here.
pub(crate) fn moved_outbound(server: Option<&Budgets>, before: usize, after: usize) {
    let (from, to) = (counted(before), counted(after));
    if from != to {
        for b in scopes(server) {
            b.outbound.adjust(from, to);
        }
    }
}

/// True when a connection holding `buffered` outbound bytes may not queue
/// `size` more: it would hold more than [`FREE`], and the budgets (its
/// server's, `server`, if any, and the process's) have no room for it.
pub(crate) fn refuses_send(server: Option<&Budgets>, buffered: usize, size: usize) -> bool {
    let more = counted(buffered.saturating_add(size)) - counted(buffered);
    more > 0 && scopes(server).any(|b| b.outbound.would_overflow(more))
}
