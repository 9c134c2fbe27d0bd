//! Reconnecting clients through the C ABI, over loopback: a server stopped
//! and started again on the same port, the attempts in between (each delay
//! within its bounds), `max_tries`, cancelling from `on_reconnect` and with
//! `ws_client_close`, which closes reconnect and which do not, the client's
//! connection replaced in `ws_dispatch()` with poll dispatch, and a retained
//! old connection that stays answerable.

#[path = "support.rs"]
mod support;

use std::ffi::{c_char, c_int, c_void};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use support::{eventually, Ev, Recorder, WAIT};
use websocket::ffi::callbacks::ws_callbacks;
use websocket::ffi::client::{
    ws_client, ws_client_close, ws_client_conn, ws_client_connect, ws_client_free,
    ws_client_is_reconnecting, ws_client_retain_conn, ws_client_send,
};
use websocket::ffi::config::{
    ws_client_config, ws_client_config_free, ws_client_config_new, ws_client_config_set_dispatch,
};
use websocket::ffi::conn::{ws_conn_close, ws_conn_release, ws_conn_send, ws_conn_state};
use websocket::ffi::constants::{
    WS_DISPATCH_POLL, WS_MESSAGE_TEXT, WS_STATE_CLOSED, WS_STATE_CONNECTING, WS_STATE_OPEN,
};
use websocket::ffi::events::ws_dispatch;
use websocket::ffi::reconnect::ws_client_config_set_reconnect;
use websocket::ffi::status::{
    ws_status, WS_ERR_INVALID_ARGUMENT, WS_ERR_NOT_OPEN, WS_ERR_NULL, WS_STATUS_OK,
};
use websocket::transport::server::Server;
use websocket::transport::{Connection, ServerConfig};

/// What the client's callbacks saw (connections as addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Open(usize),
    Text(usize, String),
    Error(usize),
    Close(usize, u16, bool),
    Reconnect(usize, u32, u64),
    Reconnected(usize, u32),
}

/// The client's `user_data`: what its callbacks saw, and which attempt
/// `on_reconnect` cancels (0: none).
#[derive(Default)]
struct Seer {
    seen: Mutex<Vec<Seen>>,
    changed: Condvar,
    cancel_attempt: AtomicU32,
    /// The client, for `ws_client_is_reconnecting` in `on_close`.
    client: Mutex<usize>,
}

impl Seer {
    fn push(&self, s: Seen) {
        self.seen.lock().unwrap().push(s);
        self.changed.notify_all();
    }

    fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `f` holds over what was seen (dispatching when `poll`).
    fn wait(&self, what: &str, poll: bool, f: impl Fn(&[Seen]) -> bool) {
        let deadline = Instant::now() + WAIT * 2;
        loop {
            if poll {
                ws_dispatch(0);
            }
            let seen = self.seen.lock().unwrap();
            if f(&seen) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {seen:?}"
            );
            let _ = self
                .changed
                .wait_timeout(seen, Duration::from_millis(5))
                .unwrap();
        }
    }
}

fn seer(user_data: *mut c_void) -> &'static Seer {
    // SAFETY: every test passes a Seer that outlives its client.
    unsafe { &*(user_data as *const Seer) }
}

unsafe extern "C" fn on_open(ud: *mut c_void, conn: *mut Connection) {
    seer(ud).push(Seen::Open(conn as usize));
}

unsafe extern "C" fn on_message(
    ud: *mut c_void,
    conn: *mut Connection,
    _kind: c_int,
    data: *const u8,
    len: usize,
) {
    let text = String::from_utf8_lossy(std::slice::from_raw_parts(data, len)).into_owned();
    seer(ud).push(Seen::Text(conn as usize, text));
}

unsafe extern "C" fn on_error(
    ud: *mut c_void,
    conn: *mut Connection,
    _: ws_status,
    _: *const c_char,
) {
    seer(ud).push(Seen::Error(conn as usize));
}

unsafe extern "C" fn on_close(ud: *mut c_void, conn: *mut Connection, code: u16, _: *const c_char) {
    let s = seer(ud);
    let client = *s.client.lock().unwrap() as *const ws_client;
    let again = ws_client_is_reconnecting(client) == 1;
    s.push(Seen::Close(conn as usize, code, again));
}

unsafe extern "C" fn on_reconnect(
    ud: *mut c_void,
    conn: *mut Connection,
    attempt: u32,
    delay_ms: u64,
) -> c_int {
    let s = seer(ud);
    s.push(Seen::Reconnect(conn as usize, attempt, delay_ms));
    c_int::from(s.cancel_attempt.load(Ordering::SeqCst) == attempt)
}

unsafe extern "C" fn on_reconnected(ud: *mut c_void, conn: *mut Connection, attempt: u32) {
    seer(ud).push(Seen::Reconnected(conn as usize, attempt));
}

fn callbacks() -> ws_callbacks {
    ws_callbacks {
        size: std::mem::size_of::<ws_callbacks>(),
        on_open: Some(on_open),
        on_message: Some(on_message),
        on_error: Some(on_error),
        on_close: Some(on_close),
        on_reconnect: Some(on_reconnect),
        on_reconnected: Some(on_reconnected),
        ..ws_callbacks::default()
    }
}

/// A client of `seer` reconnecting with these delays (ms) and tries.
fn client(
    addr: SocketAddr,
    seer: &Seer,
    (initial, max, tries): (u64, u64, u32),
    poll: bool,
) -> *mut ws_client {
    let url = format!("ws://{addr}/\0");
    unsafe {
        let cfg = ws_client_config_new();
        assert_eq!(
            ws_client_config_set_reconnect(cfg, initial, max, tries),
            WS_STATUS_OK
        );
        if poll {
            assert_eq!(
                ws_client_config_set_dispatch(cfg, WS_DISPATCH_POLL),
                WS_STATUS_OK
            );
        }
        // on_close reads the client: hold the lock until it is known.
        let mut slot = seer.client.lock().unwrap();
        let c = ws_client_connect(
            url.as_ptr().cast(),
            cfg,
            &callbacks(),
            seer as *const Seer as *mut c_void,
        );
        assert!(!c.is_null());
        *slot = c as usize;
        drop(slot);
        ws_client_config_free(cfg);
        c
    }
}

/// An echo server on `port` (0: any), retrying while the port is still
/// held by the one stopped before.
fn server(port: u16) -> (Server, Arc<Recorder>) {
    let rec = Recorder::echo();
    let deadline = Instant::now() + WAIT;
    loop {
        match Server::listen("127.0.0.1", port, ServerConfig::default(), rec.clone()) {
            Ok(server) => return (server, rec),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("listen on {port}: {e}"),
        }
    }
}

/// A port nothing listens on.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Every `on_reconnect` delay is between half and all of its ceiling.
fn assert_delays_in_bounds(seen: &[Seen], initial: u64, max: u64) {
    for s in seen {
        if let Seen::Reconnect(_, attempt, delay) = *s {
            let ceiling = (initial << (attempt - 1).min(40)).min(max);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "attempt {attempt}: {delay} ms, ceiling {ceiling} ms"
            );
        }
    }
}

fn count(seen: &[Seen], f: impl Fn(&Seen) -> bool) -> usize {
    seen.iter().filter(|s| f(s)).count()
}

fn send_text(client: *const ws_client, text: &str) -> ws_status {
    unsafe { ws_client_send(client, WS_MESSAGE_TEXT, text.as_ptr(), text.len()) }
}

#[test]
fn a_client_comes_back_when_its_server_restarts_on_the_same_port() {
    let (first, _) = server(0);
    let addr = first.local_addr();
    let s = Seer::default();
    let c = client(addr, &s, (20, 80, 0), false);
    s.wait("the first open", false, |v| v.len() == 1);
    let conn1 = unsafe { ws_client_conn(c) };
    assert_eq!(s.all(), [Seen::Open(conn1 as usize)]);
    assert_eq!(send_text(c, "one"), WS_STATUS_OK);
    s.wait("the echo", false, |v| {
        v.contains(&Seen::Text(conn1 as usize, "one".into()))
    });
    let old = unsafe { ws_client_retain_conn(c) };
    assert_eq!(old, conn1);

    // The server goes away (1001): attempts fail against the closed port.
    drop(first);
    s.wait("three failed attempts", false, |v| {
        count(v, |e| matches!(e, Seen::Reconnect(..))) >= 3
    });
    assert_eq!(unsafe { ws_client_is_reconnecting(c) }, 1);
    assert_eq!(send_text(c, "lost"), WS_ERR_NOT_OPEN);
    // The retained old connection is closed, and says so.
    assert_eq!(unsafe { ws_conn_state(old) }, WS_STATE_CLOSED);
    let data = b"late";
    assert_eq!(
        unsafe { ws_conn_send(old, WS_MESSAGE_TEXT, data.as_ptr(), data.len()) },
        WS_ERR_NOT_OPEN
    );
    unsafe { ws_conn_release(old) };

    let (_second, rec) = server(addr.port());
    s.wait("the reconnection", false, |v| {
        v.iter().any(|e| matches!(e, Seen::Reconnected(..)))
    });
    let seen = s.all();
    assert_eq!(seen[2], Seen::Close(conn1 as usize, 1001, true));
    assert!(matches!(seen[3], Seen::Reconnect(c, 1, _) if c == conn1 as usize));
    assert_delays_in_bounds(&seen, 20, 80);
    // Each failed attempt: error, close (an attempt follows), the next attempt.
    let Some(Seen::Reconnected(conn, n)) = seen.last().cloned() else {
        panic!("{seen:?}")
    };
    assert_eq!(seen[seen.len() - 2], Seen::Open(conn));
    assert_eq!(
        n as usize,
        count(&seen, |e| matches!(e, Seen::Reconnect(..)))
    );
    assert_eq!(
        count(&seen, |e| matches!(e, Seen::Close(_, 1006, true))),
        n as usize - 1
    );
    assert_eq!(unsafe { ws_client_conn(c) } as usize, conn);
    assert_eq!(unsafe { ws_client_is_reconnecting(c) }, 0);
    assert_eq!(send_text(c, "two"), WS_STATUS_OK);
    s.wait("the echo on the new connection", false, |v| {
        v.contains(&Seen::Text(conn, "two".into()))
    });
    eventually("the server's message", || {
        rec.all().contains(&Ev::Text(b"two".to_vec()))
    });
    unsafe { ws_client_free(c) };
}

#[test]
fn max_tries_is_honoured() {
    let s = Seer::default();
    let c = client(closed_port(), &s, (5, 20, 3), false);
    s.wait("the last close", false, |v| {
        v.iter().any(|e| matches!(e, Seen::Close(_, _, false)))
    });
    let seen = s.all();
    let attempts: Vec<u32> = seen
        .iter()
        .filter_map(|e| match e {
            Seen::Reconnect(_, n, _) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [1, 2, 3], "{seen:?}");
    assert_delays_in_bounds(&seen, 5, 20);
    // The first connection and three attempts each failed, the last for good.
    assert_eq!(count(&seen, |e| matches!(e, Seen::Error(_))), 4);
    assert_eq!(count(&seen, |e| matches!(e, Seen::Close(_, 1006, true))), 3);
    assert!(matches!(seen.last(), Some(Seen::Close(_, 1006, false))));
    assert_eq!(unsafe { ws_client_is_reconnecting(c) }, 0);
    assert_eq!(unsafe { ws_conn_state(ws_client_conn(c)) }, WS_STATE_CLOSED);
    assert_eq!(
        unsafe { ws_client_close(c, 1000, std::ptr::null()) },
        WS_ERR_NOT_OPEN
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(s.all().len(), seen.len(), "nothing after the end");
    unsafe { ws_client_free(c) };
}

#[test]
fn on_reconnect_cancels_an_attempt_and_every_later_one() {
    let s = Seer::default();
    s.cancel_attempt.store(2, Ordering::SeqCst);
    let c = client(closed_port(), &s, (5, 20, 0), false);
    s.wait("the second on_reconnect", false, |v| {
        v.iter().any(|e| matches!(e, Seen::Reconnect(_, 2, _)))
    });
    std::thread::sleep(Duration::from_millis(100));
    let seen = s.all();
    assert!(
        matches!(
            &seen[..],
            [
                Seen::Error(a),
                Seen::Close(a2, 1006, true),
                Seen::Reconnect(a3, 1, _),
                Seen::Error(b),
                Seen::Close(b2, 1006, true),
                Seen::Reconnect(b3, 2, _),
            ] if a == a2 && a == a3 && b == b2 && b == b3 && a != b
        ),
        "{seen:?}"
    );
    assert_eq!(unsafe { ws_client_is_reconnecting(c) }, 0);
    unsafe { ws_client_free(c) };
}

#[test]
fn ws_client_close_stops_an_attempt_waiting_for_its_delay() {
    let s = Seer::default();
    let c = client(closed_port(), &s, (60_000, 60_000, 0), false);
    s.wait("the first on_reconnect", false, |v| v.len() == 3);
    // Once on_reconnect has returned, the attempt's connection waits. (Held
    // while looked at: until then the failed one may be freed any time.)
    eventually("the next connection", || unsafe {
        let conn = ws_client_retain_conn(c);
        let waiting = ws_conn_state(conn) == WS_STATE_CONNECTING;
        ws_conn_release(conn);
        waiting
    });
    let waiting = unsafe { ws_client_conn(c) };
    assert_eq!(
        unsafe { ws_client_close(c, 1, std::ptr::null()) },
        websocket::ffi::status::WS_ERR_INVALID_CLOSE_CODE,
        "a bad code changes nothing"
    );
    assert_eq!(unsafe { ws_client_is_reconnecting(c) }, 1);
    assert_eq!(
        unsafe { ws_client_close(c, 1000, c"bye".as_ptr()) },
        WS_STATUS_OK
    );
    s.wait("the waiting connection's close", false, |v| v.len() == 4);
    assert_eq!(s.all()[3], Seen::Close(waiting as usize, 1006, false));
    assert_eq!(unsafe { ws_client_is_reconnecting(c) }, 0);
    assert_eq!(
        unsafe { ws_client_close(c, 1000, std::ptr::null()) },
        WS_ERR_NOT_OPEN
    );
    unsafe { ws_client_free(c) };
}

/// Which closes of an open connection reconnect: the server's code, or the
/// application's own close.
#[test]
fn only_a_lost_or_failing_server_makes_the_client_reconnect() {
    let (server, _) = server(0);
    let addr = server.local_addr();
    for (code, again) in [
        (1000, false),
        (1011, true),
        (1001, true),
        (1008, false),
        (4000, false),
    ] {
        let s = Seer::default();
        let c = client(addr, &s, (5, 20, 0), false);
        s.wait("the open", false, |v| v.len() == 1);
        let conn = unsafe { ws_client_conn(c) } as usize;
        eventually("the server's end", || {
            server
                .connections()
                .iter()
                .any(|sc| sc.state() == websocket::transport::ConnectionState::Open)
        });
        for sc in server.connections() {
            let _ = sc.close(Some(code), "");
        }
        s.wait(&format!("the close with {code}"), false, |v| v.len() >= 2);
        assert_eq!(s.all()[1], Seen::Close(conn, code, again), "{code}");
        if again {
            s.wait("the reconnection", false, |v| {
                v.iter().any(|e| matches!(e, Seen::Reconnected(_, 1)))
            });
        } else {
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(s.all().len(), 2, "{code}: {:?}", s.all());
        }
        unsafe { ws_client_free(c) };
        eventually("no connection left", || server.connection_count() == 0);
    }

    // The application closing ends the client too.
    let s = Seer::default();
    let c = client(addr, &s, (5, 20, 0), false);
    s.wait("the open", false, |v| v.len() == 1);
    let conn = unsafe { ws_client_conn(c) };
    assert_eq!(
        unsafe { ws_conn_close(conn, 1000, std::ptr::null()) },
        WS_STATUS_OK
    );
    s.wait("the close", false, |v| v.len() == 2);
    assert_eq!(s.all()[1], Seen::Close(conn as usize, 1000, false));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(s.all().len(), 2);
    unsafe { ws_client_free(c) };
}

#[test]
fn with_poll_dispatch_the_connection_is_replaced_inside_ws_dispatch() {
    let (first, _) = server(0);
    let addr = first.local_addr();
    let s = Seer::default();
    let c = client(addr, &s, (5, 20, 0), true);
    s.wait("the open", true, |v| v.len() == 1);
    let conn1 = unsafe { ws_client_conn(c) };
    assert_eq!(unsafe { ws_conn_state(conn1) }, WS_STATE_OPEN);
    drop(first);
    // Without dispatching, the client keeps its closed connection.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(unsafe { ws_client_conn(c) }, conn1);
    assert_eq!(unsafe { ws_conn_state(conn1) }, WS_STATE_CLOSED);
    s.wait("the close and the first on_reconnect", true, |v| {
        v.len() >= 3
    });
    assert_eq!(s.all()[1], Seen::Close(conn1 as usize, 1001, true));
    assert_ne!(unsafe { ws_client_conn(c) }, conn1);
    let (_second, _) = server(addr.port());
    s.wait("the reconnection", true, |v| {
        v.iter().any(|e| matches!(e, Seen::Reconnected(..)))
    });
    assert_delays_in_bounds(&s.all(), 5, 20);
    assert_eq!(unsafe { ws_conn_state(ws_client_conn(c)) }, WS_STATE_OPEN);
    unsafe { ws_client_free(c) };
    // Nothing of the freed client is dispatched any more.
    let before = s.all().len();
    ws_dispatch(0);
    assert_eq!(s.all().len(), before);
}

#[test]
fn the_reconnect_setting_is_checked() {
    unsafe {
        let cfg: *mut ws_client_config = ws_client_config_new();
        assert_eq!(
            ws_client_config_set_reconnect(cfg, 500, 30_000, 0),
            WS_STATUS_OK
        );
        assert_eq!(
            ws_client_config_set_reconnect(cfg, 500, 499, 0),
            WS_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            ws_client_config_set_reconnect(cfg, 500, 86_400_001, 0),
            WS_ERR_INVALID_ARGUMENT
        );
        assert_eq!(ws_client_config_set_reconnect(cfg, 0, 0, 0), WS_STATUS_OK);
        ws_client_config_free(cfg);
        assert_eq!(
            ws_client_config_set_reconnect(std::ptr::null_mut(), 1, 1, 1),
            WS_ERR_NULL
        );
        assert!(ws_client_conn(std::ptr::null()).is_null());
        assert!(ws_client_retain_conn(std::ptr::null()).is_null());
        assert_eq!(
            ws_client_is_reconnecting(std::ptr::null()),
            WS_ERR_NULL as c_int
        );
        assert_eq!(send_text(std::ptr::null(), "x"), WS_ERR_NULL);
        assert_eq!(
            ws_client_close(std::ptr::null(), 1000, std::ptr::null()),
            WS_ERR_NULL
        );
    }
}
