//! The sans-I/O protocol core: pure functions and state machines for RFC 6455.
//!
//! Nothing in here touches a socket, a thread or the C ABI. The transport layer
//! (`crate::transport`) feeds bytes in and writes the bytes that come out.

pub mod close;
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod outqueue;
pub mod proxy;
pub mod published;
pub mod receiver;
pub mod session;
pub mod url;
pub mod utf8;
