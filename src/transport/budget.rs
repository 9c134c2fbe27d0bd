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
//! the machine's memory. When a connection needs more inbound bytes than
//! the budgets leave, the connection holding the most is failed with 1009:
//! another one holding more than this one would (it is told, and its memory
//! is freed as soon as its thread runs it), or else this one. A send that
//! would queue more than the budgets leave is refused (`QueueFull`).
//!
//! Only what a connection holds beyond a small allowance ([`FREE`]) is
//! counted, so the shared counters are touched by connections with large
//! messages or backlogs only, never on the path of ordinary messages.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

/// Bytes each way a connection holds without counting against a budget.
pub const FREE: usize = 64 * 1024;

/// Default process-wide budget, each way.
pub const DEFAULT_PROCESS: usize = 1 << 30;

/// Default budget of one server's connections, each way.
pub const DEFAULT_SERVER: usize = 512 << 20;

/// Below this much left in a budget (or an eighth of its limit, when that
/// is more), a connection's room counts what it could take from a larger
/// holder (see [`InboundCharge::room`]).
const PRESSED: usize = 4 << 20;

/// A limit and what is counted against it.
#[derive(Debug)]
pub struct Budget {
    limit: AtomicUsize,
    used: AtomicUsize,
    /// The part of `used` held by connections told to fail for it, about
    /// to be freed.
    evicting: AtomicUsize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub const fn new(limit: usize) -> Budget {
        Budget {
            limit: AtomicUsize::new(limit),
            used: AtomicUsize::new(0),
            evicting: AtomicUsize::new(0),
        }
    }

    /// Bytes counted against it now (connections being failed for it included).
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Bytes it has left, counting what connections being failed for it
    /// are about to free.
    fn left(&self) -> usize {
        let kept = self
            .used()
            .saturating_sub(self.evicting.load(Ordering::Relaxed));
        self.limit().saturating_sub(kept)
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
        more > self.left()
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
    holders: Mutex::new(Vec::new()),
};

/// A pair of budgets: inbound and outbound bytes.
#[derive(Debug)]
pub struct Budgets {
    /// Messages being received (reassembled, inflated).
    pub inbound: Budget,
    /// Messages sent and not yet written.
    pub outbound: Budget,
    /// The connections with inbound bytes counted against it.
    holders: Mutex<Vec<Arc<Holding>>>,
}

impl Budgets {
    /// Budgets of `inbound` and `outbound` bytes.
    pub fn new(inbound: usize, outbound: usize) -> Budgets {
        Budgets {
            inbound: Budget::new(inbound),
            outbound: Budget::new(outbound),
            holders: Mutex::new(Vec::new()),
        }
    }

    fn holders(&self) -> MutexGuard<'_, Vec<Arc<Holding>>> {
        self.holders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The largest holder other than `me` holding more than `than`, not
    /// already told to fail.
    fn larger_holder(&self, me: Option<&Arc<Holding>>, than: usize) -> Option<Arc<Holding>> {
        self.holders()
            .iter()
            .filter(|h| me.is_none_or(|me| !Arc::ptr_eq(h, me)))
            .filter(|h| h.evicted.load(Ordering::Relaxed) == 0)
            .map(|h| (h.charged.load(Ordering::Relaxed), h))
            .filter(|&(charged, _)| charged > than)
            .max_by_key(|&(charged, _)| charged)
            .map(|(_, h)| h.clone())
    }
}

/// What one connection counts against the inbound budgets, while it counts
/// anything, as the budgets see it.
#[derive(Debug)]
struct Holding {
    /// Bytes counted.
    charged: AtomicUsize,
    /// Bytes counted when it was told to fail to make room (0: not told;
    /// [`RELEASED`]: it counts nothing any more).
    evicted: AtomicUsize,
    /// Its server's budgets, if it has a server (the process's apply too).
    server: Option<Arc<Budgets>>,
    /// Wakes the connection's driver (to fail it).
    waker: Waker,
}

/// `Holding::evicted` once the connection counts nothing any more.
const RELEASED: usize = usize::MAX;

impl Holding {
    /// Tells it to fail, once: from now on its bytes count as about to be
    /// freed in its budgets. They are counted before it can be released, so
    /// that its release never takes away more than was added.
    fn evict(&self) {
        let charged = self.charged.load(Ordering::Relaxed).max(1);
        let count = |add: bool| {
            for b in scopes(self.server.as_deref()) {
                match add {
                    true => b.inbound.evicting.fetch_add(charged, Ordering::Relaxed),
                    false => b.inbound.evicting.fetch_sub(charged, Ordering::Relaxed),
                };
            }
        };
        count(true);
        let told = self
            .evicted
            .compare_exchange(0, charged, Ordering::Relaxed, Ordering::Relaxed);
        match told {
            Ok(_) => self.waker.wake_by_ref(),
            // Told already, or released meanwhile.
            Err(_) => count(false),
        }
    }

    /// It counts nothing any more: takes what its eviction counted as
    /// about to be freed back out of its budgets.
    fn release(&self) {
        let evicted = self.evicted.swap(RELEASED, Ordering::Relaxed);
        if evicted != 0 && evicted != RELEASED {
            for b in scopes(self.server.as_deref()) {
                b.inbound.evicting.fetch_sub(evicted, Ordering::Relaxed);
            }
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
    /// Made when it first counts something (most connections never do).
    holding: Option<Arc<Holding>>,
}

impl InboundCharge {
    /// Nothing charged yet, against `server`'s budgets (if any) and the process's.
    pub fn new(server: Option<Arc<Budgets>>) -> InboundCharge {
        InboundCharge {
            server,
            holding: None,
        }
    }

    fn charged(&self) -> usize {
        self.holding
            .as_ref()
            .map_or(0, |h| h.charged.load(Ordering::Relaxed))
    }

    /// True once the connection was told to fail to make room for another:
    /// its driver fails it with 1009, which lets its memory go.
    pub fn evicted(&self) -> bool {
        self.holding
            .as_ref()
            .is_some_and(|h| h.evicted.load(Ordering::Relaxed) != 0)
    }

    /// The most inbound bytes the connection may hold now: its free
    /// allowance, what it has charged, and what the budgets have left. When
    /// they are nearly spent, it may also grow to just under what the
    /// largest holder holds (which [`InboundCharge::hold`] would then fail).
    pub fn room(&self) -> usize {
        let charged = self.charged();
        let mut more = usize::MAX;
        for b in scopes(self.server.as_deref()) {
            let mut here = b.inbound.left();
            if here < PRESSED.max(b.inbound.limit() / 8) {
                if let Some(larger) = b.larger_holder(self.holding.as_ref(), charged) {
                    let under = larger.charged.load(Ordering::Relaxed).saturating_sub(1);
                    here = here.max(under.saturating_sub(charged));
                }
            }
            more = more.min(here);
        }
        FREE.saturating_add(charged).saturating_add(more)
    }

    /// The connection holds `held` inbound bytes now; `waker` wakes its
    /// driver. When that is more than a budget leaves, the largest holder
    /// holding more than this connection would is told to fail (its bytes
    /// count as about to be freed) and this one goes on. When there is no
    /// such holder, or this connection was told to fail itself, the answer
    /// is false: nothing more is charged, and the connection is to fail.
    pub fn hold(&mut self, held: usize, waker: impl FnOnce() -> Waker) -> bool {
        let charge = counted(held);
        let charged = self.charged();
        if charge > charged {
            if self.evicted() {
                return false;
            }
            for b in scopes(self.server.as_deref()) {
                while b.inbound.would_overflow(charge - charged) {
                    let Some(larger) = b.larger_holder(self.holding.as_ref(), charge) else {
                        return false;
                    };
                    larger.evict();
                }
            }
        }
        if charge != charged {
            self.charge(charge, waker);
        }
        true
    }

    /// Counts `charge` bytes from now on: joins the budgets' holders when
    /// it starts counting, leaves them when it stops.
    fn charge(&mut self, charge: usize, waker: impl FnOnce() -> Waker) {
        let charged = self.charged();
        for b in scopes(self.server.as_deref()) {
            b.inbound.adjust(charged, charge);
        }
        match (&self.holding, charge) {
            (None, 0) => {}
            (None, _) => {
                let holding = Arc::new(Holding {
                    charged: AtomicUsize::new(charge),
                    evicted: AtomicUsize::new(0),
                    server: self.server.clone(),
                    waker: waker(),
                });
                for b in scopes(self.server.as_deref()) {
                    b.holders().push(holding.clone());
                }
                self.holding = Some(holding);
            }
            (Some(holding), 0) => {
                for b in scopes(self.server.as_deref()) {
                    b.holders().retain(|h| !Arc::ptr_eq(h, holding));
                }
                holding.release();
                self.holding = None;
            }
            (Some(holding), _) => holding.charged.store(charge, Ordering::Relaxed),
        }
    }
}

impl Drop for InboundCharge {
    fn drop(&mut self) {
        self.charge(0, || Waker::noop().clone());
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    /// Counts how often it is woken.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    const K: usize = 1024;

    #[test]
    fn the_largest_holder_makes_room_and_the_largest_newcomer_fails() {
        let server = Arc::new(Budgets::new(1000 * K, 0));
        let charge = || InboundCharge::new(Some(server.clone()));
        let (a_wakes, c_wakes) = (Arc::new(Wakes::default()), Arc::new(Wakes::default()));
        let (mut a, mut c, mut d) = (charge(), charge(), charge());
        // The allowance is free; beyond it, bytes count.
        assert!(a.hold(FREE, || Waker::noop().clone()));
        assert_eq!(server.inbound.used(), 0);
        assert!(a.hold(FREE + 600 * K, || a_wakes.clone().into()));
        assert!(c.hold(FREE + 300 * K, || c_wakes.clone().into()));
        assert_eq!(server.inbound.used(), 900 * K);

        // c needs 200 KiB more than is left: a holds more than c would, so
        // a is told to fail and c goes on.
        assert!(c.hold(FREE + 500 * K, || unreachable!()));
        assert!(a.evicted() && !c.evicted());
        assert_eq!(a_wakes.0.load(Ordering::Relaxed), 1);
        assert_eq!(server.inbound.left(), 500 * K);
        // a may not grow any more; it lets its memory go.
        assert!(!a.hold(FREE + 700 * K, || unreachable!()));
        assert!(a.hold(0, || unreachable!()));
        assert_eq!(
            (server.inbound.used(), server.inbound.left()),
            (500 * K, 500 * K)
        );

        // Nearly spent: d may grow to just under c's share...
        assert!(c.hold(FREE + 900 * K, || unreachable!()));
        assert_eq!(server.inbound.left(), 100 * K);
        assert_eq!(d.room(), FREE + 900 * K - 1);
        // ...and growing past what is left makes c fail, not d.
        assert!(d.hold(FREE + 800 * K, || Waker::noop().clone()));
        assert!(c.evicted() && !d.evicted());
        assert_eq!(c_wakes.0.load(Ordering::Relaxed), 1);
        drop(c);
        // Now d holds the most: growing past the budget fails d itself.
        assert!(!d.hold(FREE + 1100 * K, || unreachable!()));
        assert!(!d.evicted());
        assert_eq!(server.inbound.used(), 800 * K);
        drop(d);
        assert_eq!(
            (server.inbound.used(), server.inbound.left()),
            (0, 1000 * K)
        );
        assert!(server.holders().is_empty());
    }

    #[test]
    fn a_holder_released_before_it_is_told_counts_nothing_as_freed() {
        let server = Arc::new(Budgets::new(1000 * K, 0));
        let mut a = InboundCharge::new(Some(server.clone()));
        assert!(a.hold(FREE + 600 * K, || Waker::noop().clone()));
        // Another connection picked `a` to fail, but `a` let go first.
        let picked = server.larger_holder(None, 0).expect("a holds the most");
        assert!(a.hold(0, || unreachable!()));
        picked.evict();
        assert_eq!(server.inbound.evicting.load(Ordering::Relaxed), 0);
        assert_eq!(server.inbound.left(), 1000 * K);
    }
}
