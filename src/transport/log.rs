//! The library's log: one process-wide sink the application sets (the C
//! API's `ws_set_log_callback`), silent by default.
//!
//! A line has a level, the id of the connection it is about (0 for none, see
//! [`super::Connection::id`]) and a sentence. Call sites use the [`log!`]
//! macro: while no sink takes the level, a line costs one relaxed atomic
//! load and nothing is formatted. Lines are never written per message at
//! [`Level::Info`] or above; [`Level::Debug`] adds per-connection detail.
//!
//! [`log!`]: crate::log

use super::fork::PerProcess;
use std::cell::Cell;
use std::ffi::CStr;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

/// How much a line matters; a sink set for one level gets that level and
/// the ones above it (lower numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Something failed that the application should know of (a listener
    /// stopped accepting, a library bug caught on a connection).
    Error = 1,
    /// A connection failed: a protocol error by the peer, a timeout, TLS.
    Warn = 2,
    /// A connection's life: listening, accepted or refused (and why),
    /// opened, closed.
    Info = 3,
    /// Per-connection detail: TCP accepted, close frames, flow control.
    Debug = 4,
}

impl Level {
    /// The level numbered `n` (1 to 4).
    pub fn from_number(n: i32) -> Option<Level> {
        [Level::Error, Level::Warn, Level::Info, Level::Debug]
            .into_iter()
            .find(|l| *l as i32 == n)
    }

    /// Its name: "ERROR", "WARN", "INFO", "DEBUG".
    pub fn name(self) -> &'static CStr {
        match self {
            Level::Error => c"ERROR",
            Level::Warn => c"WARN",
            Level::Info => c"INFO",
            Level::Debug => c"DEBUG",
        }
    }
}

/// Where lines go: called with the level, the connection id and the
/// sentence, on whichever thread logs (any I/O thread, or the application's
/// thread in a call), possibly on several at once.
pub type Sink = dyn Fn(Level, u64, &CStr) + Send + Sync;

/// The most detailed level the sink takes; 0 while there is none.
static LEVEL: AtomicU8 = AtomicU8::new(0);
/// The sink, read while a line is handed to it: replacing it waits for the
/// lines being written. A child process keeps the parent's sink, under a lock
/// of its own (the parent's I/O threads may have held the parent's at the
/// fork), unless the parent was replacing it at that instant: then the child
/// starts with none.
static SINK: PerProcess<RwLock<Option<Arc<Sink>>>> = PerProcess::new();

fn sink_slot() -> &'static RwLock<Option<Arc<Sink>>> {
    SINK.get_or_init(|parent| {
        // `try_read`: never wait for a lock the parent's threads may hold.
        RwLock::new(parent.and_then(|p| p.try_read().ok().and_then(|s| s.clone())))
    })
}

thread_local! {
    /// This thread is inside the sink: lines it logs meanwhile (the sink
    /// calling into the library) are dropped instead of nested.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

/// True when a line of `level` would be written: one relaxed load.
#[inline]
pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Sets the sink and the most detailed level it takes (`None`: silence).
/// Returns once no line is being written to the previous sink, so that
/// whatever it used can go; fails when called from inside the sink, which
/// would wait for itself.
pub fn set_sink(sink: Option<(Arc<Sink>, Level)>) -> Result<(), &'static str> {
    if IN_SINK.with(Cell::get) {
        return Err("the log callback cannot be changed from inside the log callback");
    }
    let mut slot = sink_slot().write().unwrap_or_else(|e| e.into_inner());
    let level = sink.as_ref().map_or(0, |(_, level)| *level as u8);
    *slot = sink.map(|(sink, _)| sink);
    LEVEL.store(level, Ordering::Relaxed);
    Ok(())
}

/// Formats a line and hands it to the sink (use [`log!`](crate::log), which
/// checks [`enabled`] first). A NUL inside the text ends it.
pub fn write(level: Level, conn_id: u64, args: fmt::Arguments<'_>) {
    if !enabled(level) || IN_SINK.with(Cell::get) {
        return;
    }
    let mut text = fmt::format(args).into_bytes();
    if let Some(nul) = text.iter().position(|&b| b == 0) {
        text.truncate(nul);
    }
    text.push(0);
    let line = CStr::from_bytes_with_nul(&text).unwrap_or_default();
    let slot = sink_slot().read().unwrap_or_else(|e| e.into_inner());
    if let Some(sink) = slot.as_ref() {
        let _inside = InSink::enter();
        sink(level, conn_id, line);
    }
}

/// Marks this thread as running the sink until dropped (also if it unwinds).
struct InSink;

impl InSink {
    fn enter() -> InSink {
        IN_SINK.with(|s| s.set(true));
        InSink
    }
}

impl Drop for InSink {
    fn drop(&mut self) {
        IN_SINK.with(|s| s.set(false));
    }
}

/// Logs a line: `log!(Level::Info, conn_id, "format {}", args)`. Nothing is
/// formatted unless a sink takes `level`.
#[macro_export]
macro_rules! log {
    ($level:expr, $conn_id:expr, $($arg:tt)+) => {
        if $crate::transport::log::enabled($level) {
            $crate::transport::log::write($level, $conn_id, format_args!($($arg)+));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_have_numbers_and_names() {
        assert_eq!(Level::from_number(1), Some(Level::Error));
        assert_eq!(Level::from_number(4), Some(Level::Debug));
        assert_eq!(Level::from_number(0), None);
        assert_eq!(Level::from_number(5), None);
        assert_eq!(Level::Warn.name(), c"WARN");
        assert!(Level::Error < Level::Debug);
    }
}
