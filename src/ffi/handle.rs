//! The one check every handle from C goes through.
//!
//! The rule for `unsafe`: an export that takes a pointer is an `unsafe extern
//! "C" fn` (its contract is the header's: a non-NULL handle is live and came
//! from this library, a buffer holds `len` bytes, a string ends in NUL); one
//! that takes none is safe. A pointer becomes a reference only here (handles)
//! or in `text`/`bytes` (arguments), each of which turns NULL into
//! `WS_ERR_NULL` naming what was missing. Handshake handles are numbers
//! looked up in a table (`handshake.rs`), so a stale one is an error too.
//!
//! After `fork()`, a child process must not use the servers, clients and
//! connections of its parent (their I/O threads are not in the child, see
//! `transport::fork`): the check fails on those with `WS_ERR_BAD_STATE`, and
//! the frees only abandon them ([`inherited`]). Configs and decoders are plain
//! data, which a child may go on using.

use super::status::{Failure, WS_ERR_BAD_STATE};
use crate::transport::fork;

/// A type C holds as an opaque handle.
pub(crate) trait Handle {
    /// What the handle is called in error messages ("server", "connection").
    const NAME: &'static str;

    /// The fork generation of the process that made the handle, for handles
    /// run by the I/O threads; `None` for plain data, which any process may use.
    fn generation(&self) -> Option<u32> {
        None
    }
}

/// True when `handle` was made by the parent of this (forked) process.
pub(crate) fn inherited<T: Handle>(handle: &T) -> bool {
    handle
        .generation()
        .is_some_and(|made_in| made_in != fork::generation())
}

/// `handle`, unless the parent process made it.
fn ours<T: Handle>(handle: &T) -> Result<(), Failure> {
    if inherited(handle) {
        return Err(Failure::new(WS_ERR_BAD_STATE, fork::inherited(T::NAME)));
    }
    Ok(())
}

/// The handle behind `ptr`; `WS_ERR_NULL` when it is NULL, `WS_ERR_BAD_STATE`
/// when the parent process made it.
///
/// # Safety
/// A non-NULL `ptr` must be a live handle of type `T` from this library.
pub(crate) unsafe fn handle<'a, T: Handle>(ptr: *const T) -> Result<&'a T, Failure> {
    let handle = ptr.as_ref().ok_or_else(|| Failure::null(T::NAME))?;
    ours(handle)?;
    Ok(handle)
}

/// The handle behind `ptr`, to change it; errors as [`handle`].
///
/// # Safety
/// As [`handle`], and no other reference to it may be in use (the header says
/// which handles must not be used from two threads at once: configs, decoders).
pub(crate) unsafe fn handle_mut<'a, T: Handle>(ptr: *mut T) -> Result<&'a mut T, Failure> {
    let handle = ptr.as_mut().ok_or_else(|| Failure::null(T::NAME))?;
    ours(handle)?;
    Ok(handle)
}

impl Handle for crate::transport::Connection {
    const NAME: &'static str = "connection";

    fn generation(&self) -> Option<u32> {
        Some(self.generation())
    }
}
impl Handle for super::server::ws_server {
    const NAME: &'static str = "server";

    fn generation(&self) -> Option<u32> {
        Some(self.generation)
    }
}
impl Handle for super::client::ws_client {
    const NAME: &'static str = "client";

    fn generation(&self) -> Option<u32> {
        Some(self.client.generation())
    }
}
impl Handle for super::config::ws_server_config {
    const NAME: &'static str = "config";
}
impl Handle for super::config::ws_client_config {
    const NAME: &'static str = "config";
}
impl Handle for super::frame::ws_frame_decoder {
    const NAME: &'static str = "decoder";
}
