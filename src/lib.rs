//! libwebsocket: an RFC 6455 WebSocket client and server with a C ABI.
//!
//! Three layers, each in its own folder:
//! - [`protocol`]: the sans-I/O core (frames, masking, UTF-8, close codes,
//!   handshake, URLs), pure state machines;
//! - [`transport`]: the tokio runtime thread and the per-connection tasks;
//! - [`ffi`]: the C ABI, generated into `include/websocket.h`.

#![deny(missing_docs)]

pub mod ffi;
pub mod protocol;
pub mod transport;
