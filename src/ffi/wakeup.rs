//! The file descriptor behind `ws_event_fd()`: readable while polled events
//! wait. An eventfd where the system has one (Linux and Android), else (or
//! when making one fails) a non-blocking pipe whose read end is the descriptor. Setting the environment
//! variable `WS_EVENT_FD` to `pipe` before the queue is made takes the pipe on
//! Linux too, so the fallback is tested where eventfd exists.
//!
//! `signal` and `unsignal` are called under the queue's lock, when the queue
//! turns non-empty and empty: the descriptor is readable exactly in between.

use std::ffi::c_int;
use std::io;

/// The environment variable that picks the pipe where eventfd exists.
const KIND_VARIABLE: &str = "WS_EVENT_FD";

/// A descriptor made readable by `signal` and quiet again by `unsignal`.
pub(crate) struct Wakeup {
    /// What `ws_event_fd()` returns: the eventfd, or the pipe's read end.
    read: c_int,
    /// Where `signal` writes: the eventfd again, or the pipe's write end.
    write: c_int,
}

impl Wakeup {
    /// Makes the descriptor: a pipe when `WS_EVENT_FD=pipe` or eventfd is
    /// missing or refused (a seccomp filter, ENOSYS), an eventfd otherwise.
    pub fn new() -> io::Result<Wakeup> {
        match std::env::var(KIND_VARIABLE).as_deref() {
            Ok("pipe") => Wakeup::pipe(),
            _ => Wakeup::eventfd().or_else(|_| Wakeup::pipe()),
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn eventfd() -> io::Result<Wakeup> {
        // SAFETY: plain system call; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Wakeup {
            read: fd,
            write: fd,
        })
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn eventfd() -> io::Result<Wakeup> {
        Wakeup::pipe()
    }

    fn pipe() -> io::Result<Wakeup> {
        let mut ends: [c_int; 2] = [-1; 2];
        // SAFETY: `ends` has room for the two descriptors; the result is checked.
        if unsafe { libc::pipe(ends.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let wakeup = Wakeup {
            read: ends[0],
            write: ends[1],
        };
        for fd in ends {
            // SAFETY: fcntl on descriptors we own; results are checked.
            let ok = unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0
                    && libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) == 0
            };
            if !ok {
                let error = io::Error::last_os_error();
                drop(wakeup);
                return Err(error);
            }
        }
        Ok(wakeup)
    }

    /// The descriptor to wait on.
    pub fn fd(&self) -> c_int {
        self.read
    }

    /// Makes the descriptor readable.
    pub fn signal(&self) {
        let one: u64 = 1;
        // An eventfd takes 8 bytes; a pipe takes them too (a full pipe is
        // readable already, so a refused write loses nothing).
        // SAFETY: writes 8 bytes from a live u64 to a descriptor we own.
        unsafe { libc::write(self.write, (&one as *const u64).cast(), 8) };
    }

    /// Makes the descriptor quiet: reads until nothing is left (one read for
    /// an eventfd, which resets its count).
    pub fn unsignal(&self) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reads at most `buf.len()` bytes into a live buffer from
            // our non-blocking descriptor.
            let n = unsafe { libc::read(self.read, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 || self.read == self.write {
                break;
            }
        }
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        // SAFETY: closes descriptors this value owns, once.
        unsafe {
            libc::close(self.read);
            if self.write != self.read {
                libc::close(self.write);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: c_int) -> bool {
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one live pollfd without waiting.
        unsafe { libc::poll(&mut poll, 1, 0) == 1 }
    }

    fn signals_until_unsignalled(wakeup: Wakeup) {
        assert!(!readable(wakeup.fd()));
        wakeup.signal();
        wakeup.signal();
        assert!(readable(wakeup.fd()));
        wakeup.unsignal();
        assert!(!readable(wakeup.fd()));
        wakeup.unsignal();
        assert!(!readable(wakeup.fd()));
        wakeup.signal();
        assert!(readable(wakeup.fd()));
    }

    #[test]
    fn the_eventfd_is_readable_between_signal_and_unsignal() {
        signals_until_unsignalled(Wakeup::eventfd().unwrap());
    }

    #[test]
    fn the_pipe_is_readable_between_signal_and_unsignal() {
        let wakeup = Wakeup::pipe().unwrap();
        assert_ne!(wakeup.read, wakeup.write);
        signals_until_unsignalled(wakeup);
    }

    #[test]
    fn a_full_pipe_stays_readable_and_drains() {
        let wakeup = Wakeup::pipe().unwrap();
        for _ in 0..100_000 {
            wakeup.signal(); // far more than a pipe holds: never blocks
        }
        assert!(readable(wakeup.fd()));
        wakeup.unsignal();
        assert!(!readable(wakeup.fd()));
    }
}
