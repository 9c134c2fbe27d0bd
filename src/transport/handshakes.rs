//! The connections of a server still in the opening handshake: accepted, and
//! their TLS handshake or request head not done yet. They are bounded apart
//! from the open connections, so that peers which connect and then send
//! nothing, or a byte at a time (slowloris), can neither take the places of
//! open connections nor keep a fresh client out:
//!
//! - at most `max_handshakes` at once; when one more comes, the oldest is
//!   dropped (it had the most time);
//! - from half that many on, a new one gets a short deadline.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::{timeout_at, Instant};

/// The handshake deadline of connections that come while the pool is half full.
const PRESSED_DEADLINE: Duration = Duration::from_secs(2);

/// The handshakes under way, oldest first.
#[derive(Default)]
pub(super) struct HandshakePool {
    inner: Mutex<Pool>,
}

#[derive(Default)]
struct Pool {
    /// The number of the next handshake.
    next: u64,
    /// Each handshake under way, by number: what tells it it was dropped.
    waiting: BTreeMap<u64, oneshot::Sender<()>>,
}

impl HandshakePool {
    fn pool(&self) -> MutexGuard<'_, Pool> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A place in the pool, held by a connection until its request is read (or
/// it ends). Its deadline is the handshake timeout, or a short one when it
/// came while the pool was half full.
pub(super) struct Ticket {
    pool: Arc<HandshakePool>,
    id: u64,
    dropped: oneshot::Receiver<()>,
    /// When the handshake must be done.
    pub(super) deadline: Instant,
}

/// Why a step of the handshake did not finish.
pub(super) enum Cut {
    /// The deadline passed.
    Timeout,
    /// A newer connection took its place.
    Dropped,
}

impl Ticket {
    /// Takes a place in the pool `owner` of at most `max` handshakes, dropping
    /// the oldest one when it is full; `timeout` is the handshake timeout.
    pub(super) fn take(owner: &Arc<HandshakePool>, max: usize, timeout: Duration) -> Ticket {
        let (tell, dropped) = oneshot::channel();
        let (id, oldest, pressed) = {
            let mut pool = owner.pool();
            let id = pool.next;
            pool.next += 1;
            let oldest = match pool.waiting.len() >= max.max(1) {
                true => pool.waiting.pop_first(),
                false => None,
            };
            let pressed = pool.waiting.len() >= max / 2;
            pool.waiting.insert(id, tell);
            (id, oldest, pressed)
        };
        if let Some((_, tell)) = oldest {
            let _ = tell.send(());
        }
        let timeout = match pressed {
            true => timeout.min(PRESSED_DEADLINE),
            false => timeout,
        };
        Ticket {
            pool: owner.clone(),
            id,
            dropped,
            deadline: Instant::now() + timeout,
        }
    }

    /// Runs one step of the handshake (the TLS handshake, reading the
    /// request) until it finishes, the deadline passes, or the connection is
    /// dropped for a newer one.
    pub(super) async fn run<F: Future>(&mut self, step: F) -> Result<F::Output, Cut> {
        tokio::select! {
            biased;
            Ok(()) = &mut self.dropped => Err(Cut::Dropped),
            done = timeout_at(self.deadline, step) => done.map_err(|_| Cut::Timeout),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.pool.pool().waiting.remove(&self.id);
    }
}
