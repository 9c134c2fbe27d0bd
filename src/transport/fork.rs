//! `fork()`: how a child process tells the parent's state from its own, and
//! how the library starts again in the child.
//!
//! `fork()` copies the memory of the whole process but only the thread that
//! called it. So a child holds a copy of the library's state (its I/O threads'
//! runtime, the polled event queue, every handle) with none of the threads
//! that run it, and any lock one of those threads held at that instant stays
//! locked in the child forever. The child must therefore neither use nor tear
//! down the parent's state, only abandon it:
//!
//! - each piece of process-wide state lives in a [`PerProcess`] slot, which a
//!   child replaces with a fresh one on first use (locks included), keeping
//!   the parent's unfreed and untouched;
//! - each handle tied to the I/O threads (server, client, connection) records
//!   the [`generation`] it was made in; a call on one made by the parent
//!   fails at once with [`inherited`], and freeing one only [`abandon`]s it.
//!
//! How a process knows it is a child: a `pthread_atfork` child handler counts
//! the forks, so the check every call makes is one atomic load. A pid check
//! (`getpid()` against the pid cached when the library started) would do the
//! same, but glibc no longer caches the pid (since 2.25): it would be a system
//! call on every send. The handler runs for `fork()` (Perl's and Python's
//! included), not for a bare `clone()` system call, which is not supported.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::{Once, OnceLock};

/// Forks since the library was loaded: 0 in the process that loaded it, the
/// parent's count plus 1 in each child (per process: siblings may share it,
/// but never memory).
static GENERATION: AtomicU32 = AtomicU32::new(0);

/// Registers [`forked`] once.
static WATCH: Once = Once::new();

/// The `pthread_atfork` child handler: runs in the child, on its only thread,
/// before `fork()` returns there. An atomic add, which is async-signal-safe.
extern "C" fn forked() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// This process's fork generation (see [`GENERATION`]). The first call
/// registers the handler that counts forks; state and handles are only ever
/// made after a call, so no fork that matters goes uncounted.
pub(crate) fn generation() -> u32 {
    WATCH.call_once(|| {
        // SAFETY: registers a plain function with no prepare or parent handler.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(forked)) };
        assert!(rc == 0, "pthread_atfork failed (error {rc})");
    });
    // Relaxed: the count changes only in a child before it has a second thread.
    GENERATION.load(Ordering::Relaxed)
}

/// The error message for a handle the parent process made, used in a child.
pub(crate) fn inherited(what: &str) -> String {
    format!(
        "this handle belongs to the parent process: the {what} was made before fork(), \
         and a child process can only use handles it made itself"
    )
}

/// Process-wide state of type `T`, one value per process: a child process
/// gets its own, made on first use, and never touches the parent's.
pub(crate) struct PerProcess<T> {
    current: AtomicPtr<Slot<T>>,
}

/// The value of one process.
struct Slot<T> {
    generation: u32,
    value: OnceLock<T>,
    /// The slot of the process this one was forked from (null in the first):
    /// never freed, so that memory checkers see it as still reachable.
    parent: *const Slot<T>,
}

impl<T: Send + Sync> PerProcess<T> {
    /// No value yet.
    pub const fn new() -> Self {
        PerProcess {
            current: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// This process's value, if it was made.
    pub fn get(&'static self) -> Option<&'static T> {
        // SAFETY: slots are never freed.
        let slot = unsafe { self.current.load(Ordering::Acquire).as_ref() }?;
        (slot.generation == generation())
            .then(|| slot.value.get())
            .flatten()
    }

    /// This process's value, made by `make` if need be (once, however many
    /// threads ask). In a child, `make` gets the parent's value as it was at
    /// the fork, when it had been made: to copy settings from, never to use.
    pub fn get_or_init(&'static self, make: impl FnOnce(Option<&T>) -> T) -> &'static T {
        self.get_or_init_in(generation(), make)
    }

    /// [`Self::get_or_init`] for the process of generation `now`.
    fn get_or_init_in(&'static self, now: u32, make: impl FnOnce(Option<&T>) -> T) -> &'static T {
        let slot = self.slot(now);
        slot.value.get_or_init(|| {
            // SAFETY: slots are never freed. `OnceLock::get` takes no lock, so
            // it is safe on a parent's value that was being made at the fork
            // (it gives None then).
            make(unsafe { slot.parent.as_ref() }.and_then(|p| p.value.get()))
        })
    }

    /// The slot of the process of generation `now`, made (and installed in
    /// place of the parent's) if need be.
    fn slot(&'static self, now: u32) -> &'static Slot<T> {
        let mut seen = self.current.load(Ordering::Acquire);
        loop {
            // SAFETY: slots are never freed.
            if let Some(slot) = unsafe { seen.as_ref() } {
                if slot.generation == now {
                    return slot;
                }
            }
            let fresh = Box::into_raw(Box::new(Slot {
                generation: now,
                value: OnceLock::new(),
                parent: seen,
            }));
            match self
                .current
                .compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                // SAFETY: installed, so never freed.
                Ok(_) => return unsafe { &*fresh },
                Err(other) => {
                    // Another thread installed one first; ours was never shared.
                    // SAFETY: `fresh` came from Box::into_raw just above.
                    drop(unsafe { Box::from_raw(fresh) });
                    seen = other;
                }
            }
        }
    }
}

/// A handle the parent made, freed by the child: kept here, never freed.
struct Abandoned {
    /// Never read: held so that the handle stays reachable.
    #[allow(dead_code)]
    address: usize,
    next: *mut Abandoned,
}

/// The abandoned handles, as a list that only grows (pushed without a lock).
static ABANDONED: AtomicPtr<Abandoned> = AtomicPtr::new(ptr::null_mut());

/// Gives up a handle the parent process made, which the child frees: its
/// memory is neither freed nor touched (the parent's I/O threads, which share
/// it, do not exist here, and its locks may be held forever). It is kept on a
/// list so that memory checkers count it as still reachable, not as lost.
pub(crate) fn abandon<T>(handle: *const T) {
    let node = Box::into_raw(Box::new(Abandoned {
        address: handle as usize,
        next: ptr::null_mut(),
    }));
    let mut head = ABANDONED.load(Ordering::Acquire);
    loop {
        // SAFETY: `node` is ours until the exchange below publishes it.
        unsafe { (*node).next = head };
        match ABANDONED.compare_exchange_weak(head, node, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(now) => head = now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_per_process() {
        static STATE: PerProcess<u32> = PerProcess::new();
        let count = |parent: Option<&u32>| parent.map_or(1, |p| p + 1);
        // (Generations of our own: a real fork count would make the other
        // tests' handles look inherited.)
        assert_eq!(*STATE.get_or_init_in(7, count), 1);
        assert_eq!(*STATE.get_or_init_in(7, |_| 99), 1);
        // A child makes its own, from what the parent had.
        assert_eq!(*STATE.get_or_init_in(8, count), 2);
        assert_eq!(*STATE.get_or_init_in(8, |_| 99), 2);
    }
}
