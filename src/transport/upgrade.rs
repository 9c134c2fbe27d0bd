//! A WebSocket upgrade request waiting for the application's decision: the
//! server hands it to the handler, which accepts it (choosing a subprotocol,
//! adding response headers) or rejects it with an HTTP status, headers and a
//! body, from any thread, once.

use crate::protocol::handshake::{is_valid_subprotocol, offered_subprotocols, Request};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// The application's answer to an upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Upgrade; `subprotocol: None` lets the server choose from its own list.
    Accept {
        /// The subprotocol to answer with (one the client offered).
        subprotocol: Option<String>,
        /// Extra response headers.
        headers: Vec<(String, String)>,
        /// Given to the connection as its `app_data` (the C API's
        /// `ws_conn_get_user_data`), so the application finds the state it
        /// made for the request; 0 for none.
        app_data: usize,
    },
    /// Refuse with this HTTP response.
    Reject {
        /// Status code (200-599, not 101).
        status: u16,
        /// Extra response headers.
        headers: Vec<(String, String)>,
        /// Response body.
        body: Vec<u8>,
    },
}

/// Why an answer was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerError {
    /// The request was already answered, or the server gave up waiting.
    Gone,
    /// A malformed answer (the sentence says what).
    Invalid(String),
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::Gone => f.write_str(
                "the handshake was already answered, or the server stopped waiting (timed out)",
            ),
            AnswerError::Invalid(m) => f.write_str(m),
        }
    }
}

/// Response headers the library writes itself and an answer may not set.
const RESERVED: &[&str] = &[
    "upgrade",
    "connection",
    "content-length",
    "transfer-encoding",
    "sec-websocket-accept",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
];

/// Checks a response header an application wants to add.
pub fn check_response_header(name: &str, value: &str) -> Result<(), String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("'{name}' is not a valid header name"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!(
            "the value of header '{name}' contains CR, LF or NUL"
        ));
    }
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(format!(
            "header '{name}' is set by the library (choose a subprotocol with the accept call)"
        ));
    }
    Ok(())
}

/// Permits an upgrade request costs in a bounded event queue of `limit` bytes
/// (see [`super::Handler::flow_control`]): about its size.
pub fn upgrade_cost(request: &Request, limit: u32) -> u32 {
    let headers: usize = request
        .headers
        .0
        .iter()
        .map(|(n, v)| n.len() + v.len() + 4)
        .sum();
    let size = 256 + request.path.len() + request.query.len() + headers;
    size.min(limit as usize) as u32
}

/// An upgrade request waiting for an [`Answer`].
pub struct PendingUpgrade {
    /// The request as received.
    pub request: Request,
    /// The client's address.
    pub peer: SocketAddr,
    /// True when it arrived over TLS.
    pub secure: bool,
    reply: Mutex<Option<oneshot::Sender<Answer>>>,
}

impl fmt::Debug for PendingUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingUpgrade")
            .field("path", &self.request.path)
            .field("peer", &self.peer)
            .finish()
    }
}

impl PendingUpgrade {
    /// A pending request and the receiver its answer arrives on.
    pub(crate) fn new(
        request: Request,
        peer: SocketAddr,
        secure: bool,
    ) -> (PendingUpgrade, oneshot::Receiver<Answer>) {
        let (tx, rx) = oneshot::channel();
        let pending = PendingUpgrade {
            request,
            peer,
            secure,
            reply: Mutex::new(Some(tx)),
        };
        (pending, rx)
    }

    /// The subprotocols the client offered, in its order.
    pub fn offered_subprotocols(&self) -> Vec<&str> {
        offered_subprotocols(&self.request)
    }

    /// Answers the request, once. Checks the answer first: a subprotocol must be
    /// one the client offered, headers must be well-formed and not ones the
    /// library writes, a rejection's status must be 200-599 other than 101.
    pub fn answer(&self, answer: Answer) -> Result<(), AnswerError> {
        self.check(&answer).map_err(AnswerError::Invalid)?;
        let sender = self
            .reply
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or(AnswerError::Gone)?;
        sender.send(answer).map_err(|_| AnswerError::Gone)
    }

    fn check(&self, answer: &Answer) -> Result<(), String> {
        let headers = match answer {
            Answer::Accept {
                subprotocol,
                headers,
                ..
            } => {
                if let Some(p) = subprotocol {
                    if !is_valid_subprotocol(p) {
                        return Err(format!("'{p}' is not a valid subprotocol name"));
                    }
                    if !self.offered_subprotocols().contains(&p.as_str()) {
                        return Err(format!("the client did not offer subprotocol '{p}'"));
                    }
                }
                headers
            }
            Answer::Reject {
                status, headers, ..
            } => {
                if !(200..=599).contains(status) {
                    return Err(format!(
                        "a rejection needs a status from 200 to 599, not {status}"
                    ));
                }
                headers
            }
        };
        headers
            .iter()
            .try_for_each(|(n, v)| check_response_header(n, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::Headers;

    fn pending(protocols: &str) -> (PendingUpgrade, oneshot::Receiver<Answer>) {
        let request = Request {
            method: "GET".into(),
            path: "/".into(),
            query: String::new(),
            headers: Headers(vec![("Sec-WebSocket-Protocol".into(), protocols.into())]),
        };
        PendingUpgrade::new(request, "127.0.0.1:1".parse().unwrap(), false)
    }

    fn accept(p: Option<&str>, headers: &[(&str, &str)]) -> Answer {
        Answer::Accept {
            subprotocol: p.map(str::to_string),
            app_data: 0,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn answers_once() {
        let (p, mut rx) = pending("a, b");
        p.answer(accept(Some("b"), &[("X-Id", "7")])).unwrap();
        assert_eq!(rx.try_recv().unwrap(), accept(Some("b"), &[("X-Id", "7")]));
        assert_eq!(p.answer(accept(None, &[])), Err(AnswerError::Gone));
    }

    #[test]
    fn refuses_bad_answers_and_keeps_waiting() {
        let (p, mut rx) = pending("a");
        let invalid = |a| matches!(p.answer(a), Err(AnswerError::Invalid(_)));
        assert!(invalid(accept(Some("c"), &[])));
        assert!(invalid(accept(Some("a b"), &[])));
        assert!(invalid(accept(None, &[("Sec-WebSocket-Protocol", "a")])));
        assert!(invalid(accept(None, &[("Bad Name", "x")])));
        assert!(invalid(accept(None, &[("X", "a\r\nInjected: 1")])));
        for status in [101, 199, 600] {
            assert!(invalid(Answer::Reject {
                status,
                headers: vec![],
                body: vec![]
            }));
        }
        assert!(rx.try_recv().is_err(), "nothing was sent");
        let reject = Answer::Reject {
            status: 403,
            headers: vec![("X-Why".into(), "policy".into())],
            body: b"no".to_vec(),
        };
        p.answer(reject.clone()).unwrap();
        assert_eq!(rx.try_recv().unwrap(), reject);
    }

    #[test]
    fn gone_when_the_server_stopped_waiting() {
        let (p, rx) = pending("");
        drop(rx);
        assert_eq!(p.answer(accept(None, &[])), Err(AnswerError::Gone));
    }
}
