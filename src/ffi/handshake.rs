//! `ws_handshake_*`: a server's upgrade request handed to the application's
//! `on_handshake` callback, to read and to answer (accept or reject) once.
//!
//! A `ws_handshake *` is a number looked up in a table, not a pointer to
//! memory: once answered it is removed, and any later use gets
//! `WS_ERR_BAD_STATE` instead of touching freed memory. A child process made
//! by `fork()` gets a table of its own, and numbers from before the fork are
//! reported as the parent's.

use super::status::{
    guard, guard_count, guard_status, ws_status, Failure, WS_ERR_BAD_STATE,
    WS_ERR_INVALID_ARGUMENT, WS_ERR_NOT_OPEN,
};
use super::{bytes, header_at, text};
use crate::transport::fork::{self, PerProcess};
use crate::transport::upgrade::{check_response_header, Answer, AnswerError, PendingUpgrade};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, CString};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// An upgrade request waiting for `ws_handshake_accept` or `ws_handshake_reject`
/// (opaque). Strings read from it stay valid until it is answered.
pub struct ws_handshake {
    _private: [u8; 0],
}

/// One request waiting for its answer, with its strings as C strings.
struct Entry {
    pending: Arc<PendingUpgrade>,
    method: CString,
    path: CString,
    query: CString,
    peer: CString,
    headers: Vec<(CString, CString)>,
    subprotocols: Vec<CString>,
    /// Response headers added so far.
    response_headers: Mutex<Vec<(String, String)>>,
    /// The connection's user data if accepted (`ws_handshake_set_user_data`).
    user_data: AtomicUsize,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The requests of one process waiting for their answer.
struct Table {
    /// The first number this process can hand out: smaller ones were handed
    /// out before the process was forked from its parent.
    first_id: u64,
    entries: Mutex<HashMap<u64, Arc<Entry>>>,
}

static TABLE: PerProcess<Table> = PerProcess::new();

fn table() -> &'static Table {
    TABLE.get_or_init(|_| Table {
        first_id: NEXT_ID.load(Ordering::Relaxed),
        entries: Mutex::new(HashMap::new()),
    })
}

fn entries() -> MutexGuard<'static, HashMap<u64, Arc<Entry>>> {
    table().entries.lock().unwrap_or_else(|e| e.into_inner())
}

fn c_string(s: &str) -> CString {
    let end = s.find('\0').unwrap_or(s.len());
    CString::new(&s[..end]).unwrap_or_default()
}

/// Registers a request and returns the handle the callback gets. It stays in
/// the table until answered, so strings read from it stay valid until then.
pub(crate) fn register(pending: Arc<PendingUpgrade>) -> *mut ws_handshake {
    let request = &pending.request;
    let entry = Entry {
        method: c_string(&request.method),
        path: c_string(&request.path),
        query: c_string(&request.query),
        peer: c_string(&pending.peer.to_string()),
        headers: request
            .headers
            .0
            .iter()
            .map(|(n, v)| (c_string(n), c_string(v)))
            .collect(),
        subprotocols: pending
            .offered_subprotocols()
            .into_iter()
            .map(c_string)
            .collect(),
        response_headers: Mutex::new(Vec::new()),
        user_data: AtomicUsize::new(0),
        pending: pending.clone(),
    };
    // The table first, so that its `first_id` is at most this number.
    let mut entries = entries();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    entries.insert(id, Arc::new(entry));
    id as usize as *mut ws_handshake
}

/// The entry behind a handle still waiting for its answer.
fn entry(hs: *const ws_handshake) -> Result<Arc<Entry>, Failure> {
    if hs.is_null() {
        return Err(Failure::null("handshake"));
    }
    let id = hs as usize as u64;
    if let Some(entry) = entries().get(&id) {
        return Ok(entry.clone());
    }
    let message = if id < table().first_id {
        fork::inherited("handshake")
    } else {
        "the handshake was already answered (or is not a handshake handle)".into()
    };
    Err(Failure::new(WS_ERR_BAD_STATE, message))
}

/// A string of the entry; NULL on error.
fn string_of(hs: *const ws_handshake, pick: fn(&Entry) -> &CString) -> *const c_char {
    guard(std::ptr::null(), || {
        let entry = entry(hs)?;
        // The entry lives in the table until the handshake is answered.
        Ok(pick(&entry).as_ptr())
    })
}

/// The request method ("GET"); NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ws_handshake_method(hs: *const ws_handshake) -> *const c_char {
    string_of(hs, |e| &e.method)
}

/// The request path ("/chat", still percent-encoded); NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ws_handshake_path(hs: *const ws_handshake) -> *const c_char {
    string_of(hs, |e| &e.path)
}

/// The request query without "?" ("" when none); NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ws_handshake_query(hs: *const ws_handshake) -> *const c_char {
    string_of(hs, |e| &e.query)
}

/// The client's address as "ip:port" ("[v6]:port"); NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ws_handshake_peer_address(hs: *const ws_handshake) -> *const c_char {
    string_of(hs, |e| &e.peer)
}

/// 1 when the request came over TLS, 0 when not, a negative status on error
/// (`WS_ERR_NULL`, or `WS_ERR_BAD_STATE` for an answered request).
#[no_mangle]
pub unsafe extern "C" fn ws_handshake_is_secure(hs: *const ws_handshake) -> c_int {
    guard_count(|| Ok(entry(hs)?.pending.secure as c_int))
}

/// The value of the first request header named `name` (case-insensitive);
/// NULL when there is none; also NULL, with the last error set, on error
/// (NULL or answered handle, NULL name).
#[no_mangle]
pub unsafe extern "C" fn ws_handshake_header(
    hs: *const ws_handshake,
    name: *const c_char,
) -> *const c_char {
    guard(std::ptr::null(), || {
        let name = text(name, "name")?;
        let entry = entry(hs)?;
        let found = entry
            .headers
            .iter()
            .find(|(n, _)| n.to_bytes().eq_ignore_ascii_case(name.as_bytes()));
        Ok(found.map_or(std::ptr::null(), |(_, v)| v.as_ptr()))
    })
}

/// How many request headers there are; negative status on error.
#[no_mangle]
pub unsafe extern "C" fn ws_handshake_header_count(hs: *const ws_handshake) -> c_int {
    guard_count(|| Ok(entry(hs)?.headers.len() as c_int))
}

/// The request header at `index` (0-based, in the order received): its name
/// and value through `name` and `value` (either may be NULL).
/// `WS_ERR_INVALID_ARGUMENT` when `index` is out of range.
#[no_mangle]
pub unsafe extern "C" fn ws_handshake_header_at(
    hs: *const ws_handshake,
    index: usize,
    name: *mut *const c_char,
    value: *mut *const c_char,
) -> ws_status {
    guard_status(|| {
        let headers = &entry(hs)?.headers;
        let header = headers
            .get(index)
            .map(|(n, v)| (n.as_c_str(), v.as_c_str()));
        header_at(header, index, name, value)
    })
}

/// The `index`-th subprotocol the client offered (0-based, in its order);
/// NULL past the last one or on error.
#[no_mangle]
pub unsafe extern "C" fn ws_handshake_subprotocol_at(
    hs: *const ws_handshake,
    index: usize,
) -> *const c_char {
    guard(std::ptr::null(), || {
        Ok(entry(hs)?
            .subprotocols
            .get(index)
            .map_or(std::ptr::null(), |p| p.as_ptr()))
    })
}

/// Adds a header to the response, whether it accepts or rejects (e.g.
/// "Set-Cookie", or "WWW-Authenticate" with a 401). The name must be an HTTP
/// token, the value free of CR and LF; the headers the library writes (Upgrade,
/// Connection, Content-Length, Sec-WebSocket-*) are refused.
#[no_mangle]
pub unsafe extern "C" fn ws_handshake_add_header(
    hs: *mut ws_handshake,
    name: *const c_char,
    value: *const c_char,
) -> ws_status {
    guard_status(|| {
        let name = text(name, "name")?;
        let value = text(value, "value")?;
        let entry = entry(hs)?;
        check_response_header(name, value).map_err(|m| Failure::new(WS_ERR_INVALID_ARGUMENT, m))?;
        entry
            .response_headers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_string(), value.to_string()));
        Ok(())
    })
}

/// Sets the user data the connection starts with if this request is accepted
/// (read it with `ws_conn_get_user_data`, e.g. in `on_open`): it ties what the
/// application decided during the handshake to the connection it becomes.
/// An accepted request always ends in `on_open`, or, when the 101 response
/// cannot be written (the client left), in `on_error` and `on_close` with
/// that connection, so state attached here can always be freed.
#[no_mangle]
pub unsafe extern "C" fn ws_handshake_set_user_data(
    hs: *mut ws_handshake,
    user_data: *mut std::ffi::c_void,
) -> ws_status {
    guard_status(|| {
        entry(hs)?
            .user_data
            .store(user_data as usize, Ordering::Relaxed);
        Ok(())
    })
}

/// Sends `answer` for the handle: on success or when the request is gone the
/// handle is removed; when the answer is invalid it stays, to be answered again.
fn answer(
    hs: *const ws_handshake,
    make: impl FnOnce(Vec<(String, String)>, usize) -> Answer,
) -> Result<(), Failure> {
    let entry = entry(hs)?;
    let headers = entry
        .response_headers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let user_data = entry.user_data.load(Ordering::Relaxed);
    let result = entry.pending.answer(make(headers, user_data));
    if !matches!(result, Err(AnswerError::Invalid(_))) {
        entries().remove(&(hs as usize as u64));
    }
    result.map_err(|e| match e {
        AnswerError::Invalid(m) => Failure::new(WS_ERR_INVALID_ARGUMENT, m),
        AnswerError::Gone => Failure::new(WS_ERR_NOT_OPEN, e.to_string()),
    })
}

/// Accepts the upgrade with `subprotocol` (one the client offered), or with
/// NULL the server's own choice (`ws_server_config_add_subprotocol`). May be
/// called from any thread, during `on_handshake` or later (within the
/// handshake timeout). Ends the handle: later calls with it get
/// `WS_ERR_BAD_STATE`. `WS_ERR_NOT_OPEN` when the server stopped waiting (the
/// handshake timed out; the request then got 503). `WS_ERR_INVALID_ARGUMENT`
/// (the handle stays) for a subprotocol the client did not offer. Every
/// handshake must be answered: an unanswered handle keeps its memory.
#[no_mangle]
pub unsafe extern "C" fn ws_handshake_accept(
    hs: *mut ws_handshake,
    subprotocol: *const c_char,
) -> ws_status {
    guard_status(|| {
        let subprotocol = if subprotocol.is_null() {
            None
        } else {
            Some(text(subprotocol, "subprotocol")?.to_string())
        };
        answer(hs, |headers, app_data| Answer::Accept {
            subprotocol,
            headers,
            app_data,
        })
    })
}

/// Refuses the upgrade with an HTTP `status` (200-599 except 101; e.g. 401,
/// 403, 404) and `body` (`len` bytes, NULL when 0; sent as text/plain unless a
/// Content-Type header was added). Ends the handle as `ws_handshake_accept` does.
#[no_mangle]
pub unsafe extern "C" fn ws_handshake_reject(
    hs: *mut ws_handshake,
    status: c_int,
    body: *const u8,
    len: usize,
) -> ws_status {
    guard_status(|| {
        let body = bytes(body, len)?.to_vec();
        let status = u16::try_from(status).unwrap_or(0);
        answer(hs, |headers, _| Answer::Reject {
            status,
            headers,
            body,
        })
    })
}
