//! The library's I/O threads: N single-threaded tokio runtimes, one per thread.
//!
//! They start on first use (or by [`start`]) and run for the life of the
//! process. How many: [`set_threads`] before they start, else the environment
//! variable `WS_IO_THREADS`, else 1; 0 means one per CPU.
//!
//! A connection lives on one I/O thread for its whole life: its task, its
//! callbacks in thread-dispatch mode and its socket all stay there, so its
//! callbacks never overlap and keep their order, and its per-message work
//! touches no lock. Different connections' callbacks may run at the same time
//! on different threads. Servers hand accepted connections to the threads in
//! turn; clients are placed in turn too.
//!
//! Each thread blocks SIGPIPE: writing to a socket the peer has reset must give
//! the writer an EPIPE error, not kill the host program (C programs keep the
//! default SIGPIPE action, which is to terminate).
//!
//! A child process made by `fork()` has none of these threads: its first use
//! of the library starts its own set (see `transport::fork`), with the count
//! the parent asked for unless the child asks again.

use super::fork::{self, PerProcess};
use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use tokio::runtime::{Builder, Handle};

/// Most I/O threads the library runs.
pub const MAX_THREADS: usize = 256;

/// How long an idle blocking thread (name lookups, file reads) stays.
pub const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(2);

/// Names of the I/O threads, as debuggers and `top -H` show them (with a number).
pub const THREAD_NAME: &str = "websocket-io";

/// The environment variable that sets the number of I/O threads.
pub const THREADS_VARIABLE: &str = "WS_IO_THREADS";

/// The running I/O threads.
struct Runtime {
    handles: Box<[Handle]>,
    /// The thread the next placed connection goes to (round robin).
    next: AtomicUsize,
}

static RUNTIME: PerProcess<Result<Runtime, String>> = PerProcess::new();
/// The count asked for by [`set_threads`] (None: not asked); locked while the
/// threads start so that a late request is refused, not lost. A child starts
/// with the parent's count (unless the parent held the lock at the fork).
static REQUESTED: PerProcess<Mutex<Option<usize>>> = PerProcess::new();

/// [`REQUESTED`], locked.
fn requested() -> MutexGuard<'static, Option<usize>> {
    REQUESTED
        .get_or_init(|parent| {
            let count = parent.and_then(|p| p.try_lock().ok().and_then(|count| *count));
            Mutex::new(count)
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    /// The fork generation and index of the I/O thread this is; `None` on
    /// other threads. With the generation, a thread that forked inside a
    /// callback is no I/O thread in the child it continues as.
    static CURRENT: Cell<Option<(u32, usize)>> = const { Cell::new(None) };
}

/// One per CPU, for a count of 0.
fn resolve(count: usize) -> usize {
    if count == 0 {
        thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        count
    }
    .min(MAX_THREADS)
}

/// Parses a thread count as given to `WS_IO_THREADS`.
fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n <= MAX_THREADS => Ok(n),
        _ => Err(format!(
            "{THREADS_VARIABLE} must be a number from 0 (one per CPU) to {MAX_THREADS}, not {text:?}"
        )),
    }
}

/// The number of threads to start: asked for, else from the environment, else 1.
fn wanted(requested: Option<usize>) -> Result<usize, String> {
    match (requested, std::env::var(THREADS_VARIABLE)) {
        (Some(n), _) => Ok(resolve(n)),
        (None, Ok(text)) => parse_count(&text).map(resolve),
        (None, Err(_)) => Ok(1),
    }
}

fn boot(requested: Option<usize>) -> Result<Runtime, String> {
    let count = wanted(requested)?;
    let generation = fork::generation();
    let mut handles = Vec::with_capacity(count);
    for index in 0..count {
        let rt = Builder::new_current_thread()
            .enable_all()
            // Name lookups and static-file reads run on tokio's blocking threads:
            // let an idle one end soon instead of after tokio's default 10 s.
            .thread_keep_alive(BLOCKING_KEEP_ALIVE)
            .build()
            .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
        handles.push(rt.handle().clone());
        thread::Builder::new()
            .name(format!("{THREAD_NAME}-{index}"))
            .spawn(move || {
                block_sigpipe();
                CURRENT.with(|c| c.set(Some((generation, index))));
                rt.block_on(std::future::pending::<()>())
            })
            .map_err(|e| format!("cannot start I/O thread {index}: {e}"))?;
    }
    Ok(Runtime {
        handles: handles.into_boxed_slice(),
        next: AtomicUsize::new(0),
    })
}

/// Blocks SIGPIPE on the calling thread (and on the threads it starts, such as
/// tokio's blocking pool): a SIGPIPE raised by a socket write of this thread
/// then stays pending instead of being delivered, and the write fails with EPIPE.
fn block_sigpipe() {
    // SAFETY: plain libc calls on a local, initialized signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

fn runtime() -> io::Result<&'static Runtime> {
    let started = match RUNTIME.get() {
        Some(started) => started,
        None => {
            // Held while the threads start, so `set_threads` sees either no
            // runtime (and its count is used) or the started one.
            let requested = requested();
            RUNTIME.get_or_init(|_| boot(*requested))
        }
    };
    started.as_ref().map_err(|e| io::Error::other(e.clone()))
}

/// Sets how many I/O threads to run (0: one per CPU), before they start.
/// Once they run, asking for another count is an error; asking for the
/// running count is not.
pub fn set_threads(count: usize) -> Result<(), String> {
    if count > MAX_THREADS {
        return Err(format!(
            "the I/O thread count must be from 0 (one per CPU) to {MAX_THREADS}, not {count}"
        ));
    }
    let mut requested = requested();
    match RUNTIME.get() {
        Some(Ok(rt)) if rt.handles.len() == resolve(count) => Ok(()),
        Some(_) => Err(
            "the I/O threads are already running: set their number before the first \
                        server, client or ws_init()"
                .into(),
        ),
        None => {
            *requested = Some(count);
            Ok(())
        }
    }
}

/// Starts the I/O threads if they are not running yet; an error says why they
/// cannot start.
pub fn start() -> io::Result<()> {
    runtime().map(|_| ())
}

/// How many I/O threads run (starting them if needed).
pub fn thread_count() -> io::Result<usize> {
    Ok(runtime()?.handles.len())
}

/// The handle of I/O thread `index`.
pub fn handle(index: usize) -> io::Result<&'static Handle> {
    let rt = runtime()?;
    Ok(&rt.handles[index % rt.handles.len()])
}

/// The next I/O thread in turn, for a new connection: its index and handle.
pub fn pick() -> io::Result<(usize, &'static Handle)> {
    let rt = runtime()?;
    let index = rt.next.fetch_add(1, Ordering::Relaxed) % rt.handles.len();
    Ok((index, &rt.handles[index]))
}

/// The index of the I/O thread the caller runs on, if it is one.
pub fn current() -> Option<usize> {
    match CURRENT.with(Cell::get) {
        Some((generation, index)) if generation == fork::generation() => Some(index),
        _ => None,
    }
}

/// True when called on one of the I/O threads (inside a thread-mode callback).
pub fn on_runtime_thread() -> bool {
    current().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_and_resolve() {
        assert_eq!(parse_count(" 4 "), Ok(4));
        assert_eq!(parse_count("0"), Ok(0));
        assert!(parse_count("-1").unwrap_err().contains(THREADS_VARIABLE));
        assert!(parse_count("many").is_err());
        assert!(parse_count("257").is_err());
        assert_eq!(resolve(3), 3);
        assert!(resolve(0) >= 1);
        assert_eq!(wanted(Some(2)), Ok(2));
    }
}
