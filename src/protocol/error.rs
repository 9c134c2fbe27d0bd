//! The error every protocol state machine reports: a close code to fail with.

use std::fmt;

/// A violation by the peer that fails the connection with `code`
/// (1002 protocol error, 1007 bad UTF-8, 1009 too large ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError {
    /// The close code to send to the peer.
    pub code: u16,
    /// A short human explanation, also sent as the close reason.
    pub reason: &'static str,
}

impl ProtocolError {
    /// A 1002 protocol error.
    pub const fn protocol(reason: &'static str) -> Self {
        ProtocolError { code: 1002, reason }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (close code {})", self.reason, self.code)
    }
}

impl std::error::Error for ProtocolError {}
