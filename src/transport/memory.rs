//! Giving memory back to the system after a burst.
//!
//! A server that queued a lot for peers that did not read frees it when they
//! leave, but the C allocator (glibc's malloc) keeps most freed memory for
//! later instead of returning it. So the I/O threads count what large queues
//! released, and once that reaches [`THRESHOLD`], ask the allocator to hand
//! its free memory back (`malloc_trim`) a second later, on a blocking thread:
//! at most once a second, whatever the traffic.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Released bytes that make a trim worth it.
const THRESHOLD: usize = 16 << 20;

/// How long released memory waits before a trim (more may come meanwhile).
const DELAY: Duration = Duration::from_secs(1);

/// Bytes released since the last trim.
static RELEASED: AtomicUsize = AtomicUsize::new(0);
/// A trim is on its way.
static SCHEDULED: AtomicBool = AtomicBool::new(false);

/// Notes that `bytes` of queued data were freed (called on an I/O thread).
pub(crate) fn released(bytes: usize) {
    let total = RELEASED.fetch_add(bytes, Ordering::Relaxed) + bytes;
    if total < THRESHOLD || SCHEDULED.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::spawn(async {
        tokio::time::sleep(DELAY).await;
        RELEASED.store(0, Ordering::Relaxed);
        SCHEDULED.store(false, Ordering::Release);
        let _ = tokio::task::spawn_blocking(trim).await;
    });
}

/// Returns the allocator's free memory to the system.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory malloc holds and no one uses.
    unsafe {
        libc::malloc_trim(0);
    }
}
