//! The library's own tokio runtime, on one dedicated thread.
//!
//! It starts on first use (or by [`start`]) and runs for the life of the process.
//! Every connection task and every callback in thread-dispatch mode runs on it,
//! so callbacks never run concurrently with each other.
//!
//! The thread blocks SIGPIPE: writing to a socket the peer has reset must give
//! the writer an EPIPE error, not kill the host program (C programs keep the
//! default SIGPIPE action, which is to terminate).

use std::io;
use std::sync::OnceLock;
use std::thread::{self, ThreadId};
use tokio::runtime::{Builder, Handle};

struct Runtime {
    handle: Handle,
    thread: ThreadId,
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// How long an idle blocking thread (name lookups, file reads) stays.
pub const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(2);

/// Name of the runtime thread, as debuggers and `top -H` show it.
pub const THREAD_NAME: &str = "websocket-io";

fn boot() -> Result<Runtime, String> {
    let rt = Builder::new_current_thread()
        .enable_all()
        // Name lookups and static-file reads run on tokio's blocking threads:
        // let an idle one end soon instead of after tokio's default 10 s.
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    let handle = rt.handle().clone();
    let thread = thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || {
            block_sigpipe();
            rt.block_on(std::future::pending::<()>())
        })
        .map_err(|e| format!("cannot start the I/O thread: {e}"))?;
    Ok(Runtime {
        handle,
        thread: thread.thread().id(),
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

/// Starts the runtime if it is not running yet; an error says why it cannot start.
pub fn start() -> io::Result<()> {
    handle().map(|_| ())
}

/// The runtime's handle, starting the runtime on first use.
pub fn handle() -> io::Result<&'static Handle> {
    match RUNTIME.get_or_init(boot) {
        Ok(rt) => Ok(&rt.handle),
        Err(e) => Err(io::Error::other(e.clone())),
    }
}

/// True when called on the runtime thread (inside a thread-mode callback).
pub fn on_runtime_thread() -> bool {
    matches!(RUNTIME.get(), Some(Ok(rt)) if rt.thread == thread::current().id())
}
