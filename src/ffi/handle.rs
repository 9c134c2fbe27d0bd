//! The one check every handle from C goes through.
//!
//! The rule for `unsafe`: an export that takes a pointer is an `unsafe extern
//! "C" fn` (its contract is the header's: a non-NULL handle is live and came
//! from this library, a buffer holds `len` bytes, a string ends in NUL); one
//! that takes none is safe. A pointer becomes a reference only here (handles)
//! or in `text`/`bytes` (arguments), each of which turns NULL into
//! `WS_ERR_NULL` naming what was missing. Handshake handles are numbers
//! looked up in a table (`handshake.rs`), so a stale one is an error too.

use super::status::Failure;

/// A type C holds as an opaque handle.
pub(crate) trait Handle {
    /// What the handle is called in error messages ("server", "connection").
    const NAME: &'static str;
}

/// The handle behind `ptr`; `WS_ERR_NULL` when it is NULL.
///
/// # Safety
/// A non-NULL `ptr` must be a live handle of type `T` from this library.
pub(crate) unsafe fn handle<'a, T: Handle>(ptr: *const T) -> Result<&'a T, Failure> {
    ptr.as_ref().ok_or_else(|| Failure::null(T::NAME))
}

/// The handle behind `ptr`, to change it; `WS_ERR_NULL` when it is NULL.
///
/// # Safety
/// As [`handle`], and no other reference to it may be in use (the header says
/// which handles must not be used from two threads at once: configs, decoders).
pub(crate) unsafe fn handle_mut<'a, T: Handle>(ptr: *mut T) -> Result<&'a mut T, Failure> {
    ptr.as_mut().ok_or_else(|| Failure::null(T::NAME))
}

impl Handle for crate::transport::Connection {
    const NAME: &'static str = "connection";
}
impl Handle for super::server::ws_server {
    const NAME: &'static str = "server";
}
impl Handle for super::client::ws_client {
    const NAME: &'static str = "client";
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
