//! The log callback over loopback (the log is process-wide, so the tests
//! take turns): lines about a connection carry its id, opening and closing
//! are logged at INFO, DEBUG lines come only when asked for, and NULL turns
//! logging off. In `WS_DISPATCH_POLL` mode lines arrive only inside
//! `ws_dispatch`, on its thread; setting the callback again drops the lines
//! queued for the previous one; lines finding the queue full are dropped and
//! counted in a WARN line.

#[path = "support.rs"]
mod support;

use std::ffi::{c_char, c_void, CStr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;
use support::{Ev, Recorder};
use websocket::ffi::constants::{WS_DISPATCH_POLL, WS_DISPATCH_THREAD};
use websocket::ffi::events::{ws_dispatch, ws_event_queue_set_limit};
use websocket::ffi::log::{
    ws_log_level_name, ws_set_log_callback, ws_set_log_dispatch, WS_LOG_DEBUG, WS_LOG_INFO,
    WS_LOG_WARN,
};
use websocket::ffi::status::{WS_ERR_INVALID_ARGUMENT, WS_STATUS_OK};
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::{ClientConfig, Connection, ServerConfig};

/// Every line logged: level, connection id, text.
static LINES: Mutex<Vec<(i32, u64, String)>> = Mutex::new(Vec::new());
/// The threads the lines were delivered on.
static THREADS: Mutex<Vec<ThreadId>> = Mutex::new(Vec::new());
/// Held by each test: the log is process-wide.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

extern "C" fn capture(user_data: *mut c_void, level: i32, conn_id: u64, message: *const c_char) {
    assert_eq!(user_data as usize, 42, "the user data given");
    // SAFETY: the library passes a C string valid during the call.
    let text = unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    LINES.lock().unwrap().push((level, conn_id, text));
    THREADS.lock().unwrap().push(std::thread::current().id());
}

fn take_lines() -> Vec<(i32, u64, String)> {
    std::mem::take(&mut *LINES.lock().unwrap())
}

fn set(level: i32) {
    let status = unsafe { ws_set_log_callback(Some(capture), 42 as *mut c_void, level) };
    assert_eq!(status, WS_STATUS_OK);
}

/// Opens a client to `server`, closes it with 1000 "done" and waits for
/// both ends to be closed; returns the client and the server's end.
fn open_and_close(server: &Server) -> (Arc<Connection>, Arc<Connection>) {
    let crec = Recorder::new();
    let url = format!("ws://{}/", server.local_addr());
    let client = connect(&url, ClientConfig::default(), crec.clone()).expect("connect");
    crec.wait_event(&client, "the client's Open", |e| *e == Ev::Open);
    support::eventually("the server lists it", || server.connection_count() == 1);
    let sconn = server.connections().pop().unwrap();
    client.close(Some(1000), "done").unwrap();
    crec.wait_close(&client);
    support::eventually("the server's end closes", || {
        sconn.close_info().is_some() && server.connection_count() == 0
    });
    (client, sconn)
}

fn has(lines: &[(i32, u64, String)], level: i32, id: u64, start: &str) -> bool {
    lines
        .iter()
        .any(|(l, i, t)| *l == level && *i == id && t.starts_with(start))
}

#[test]
fn lines_carry_the_connection_id_and_levels_filter() {
    let _turn = one_at_a_time();
    let bad = unsafe { ws_set_log_callback(Some(capture), std::ptr::null_mut(), 5) };
    assert_eq!(bad, WS_ERR_INVALID_ARGUMENT);
    let name = |l| unsafe { CStr::from_ptr(ws_log_level_name(l)) };
    assert_eq!(
        (name(WS_LOG_WARN), name(WS_LOG_DEBUG), name(0)),
        (c"WARN", c"DEBUG", c"UNKNOWN")
    );

    set(WS_LOG_INFO);
    let server =
        Server::listen("127.0.0.1", 0, ServerConfig::default(), Recorder::new()).expect("listen");
    let (client, sconn) = open_and_close(&server);
    let lines = take_lines();
    let listening = format!("listening on {}", server.local_addr());
    assert!(has(&lines, WS_LOG_INFO, 0, &listening), "{lines:#?}");
    assert_ne!(client.id(), sconn.id());
    for id in [client.id(), sconn.id()] {
        assert!(has(&lines, WS_LOG_INFO, id, "open: "), "{id}: {lines:#?}");
    }
    let server_close = "closed with 1000 \"done\": the peer closed it";
    assert!(
        has(&lines, WS_LOG_INFO, sconn.id(), server_close),
        "{lines:#?}"
    );
    let client_close = "closed with 1000 \"\": we closed it";
    assert!(
        has(&lines, WS_LOG_INFO, client.id(), client_close),
        "{lines:#?}"
    );
    let peer = client.peer().to_str().unwrap();
    assert!(
        lines
            .iter()
            .any(|(_, i, t)| *i == client.id() && t.contains(peer)),
        "the open line names the peer {peer}: {lines:#?}"
    );
    assert!(lines.iter().all(|(l, ..)| *l <= WS_LOG_INFO), "{lines:#?}");

    set(WS_LOG_DEBUG);
    let (client, _) = open_and_close(&server);
    let lines = take_lines();
    assert!(
        has(&lines, WS_LOG_DEBUG, 0, "accepted a TCP connection"),
        "{lines:#?}"
    );
    assert!(
        has(&lines, WS_LOG_DEBUG, client.id(), "connecting to"),
        "{lines:#?}"
    );

    assert_eq!(
        unsafe { ws_set_log_callback(None, std::ptr::null_mut(), 0) },
        WS_STATUS_OK
    );
    open_and_close(&server);
    assert!(take_lines().is_empty(), "no lines once turned off");
}

#[test]
fn polled_lines_come_inside_dispatch_on_its_thread() {
    let _turn = one_at_a_time();
    // The smallest queue: log lines may hold 8 KiB of it.
    assert_eq!(ws_event_queue_set_limit(64 * 1024), WS_STATUS_OK);
    assert_eq!(ws_set_log_dispatch(7), WS_ERR_INVALID_ARGUMENT);
    assert_eq!(ws_set_log_dispatch(WS_DISPATCH_POLL), WS_STATUS_OK);
    set(WS_LOG_INFO);
    take_lines();
    THREADS.lock().unwrap().clear();

    let server =
        Server::listen("127.0.0.1", 0, ServerConfig::default(), Recorder::new()).expect("listen");
    let (client, sconn) = open_and_close(&server);
    assert!(take_lines().is_empty(), "nothing before ws_dispatch");
    let n = ws_dispatch(0);
    let lines = take_lines();
    assert_eq!(n as usize, lines.len(), "one event per line: {lines:#?}");
    for id in [client.id(), sconn.id()] {
        assert!(has(&lines, WS_LOG_INFO, id, "open: "), "{id}: {lines:#?}");
        assert!(
            has(&lines, WS_LOG_INFO, id, "closed with 1000"),
            "{lines:#?}"
        );
    }
    let me = std::thread::current().id();
    assert!(
        THREADS.lock().unwrap().drain(..).all(|t| t == me),
        "every line on the dispatching thread"
    );

    // Setting the callback again drops the lines queued for the previous one.
    open_and_close(&server);
    set(WS_LOG_INFO);
    assert_eq!(ws_dispatch(0), 0, "the queued lines were dropped");
    assert!(take_lines().is_empty());

    // Without dispatching, DEBUG lines of many connections overflow the
    // budget: the first line queued afterwards comes after a WARN line
    // counting the dropped ones.
    set(WS_LOG_DEBUG);
    for _ in 0..20 {
        open_and_close(&server);
    }
    ws_dispatch(0);
    let before = take_lines();
    assert!(before.len() > 10, "the lines that fitted: {}", before.len());
    assert!(
        !before.iter().any(|(_, _, t)| t.starts_with("dropped ")),
        "no line was queued after the first one dropped"
    );
    let (client, _) = open_and_close(&server);
    ws_dispatch(0);
    let after = take_lines();
    let (level, id, text) = &after[0];
    assert_eq!((*level, *id), (WS_LOG_WARN, 0), "{after:#?}");
    let dropped: u64 = text
        .strip_prefix("dropped ")
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of dropped lines: {text}"));
    assert!(dropped > 0, "{text}");
    assert!(
        has(&after, WS_LOG_INFO, client.id(), "open: "),
        "{after:#?}"
    );
    assert!(
        !after[1..].iter().any(|(_, _, t)| t.starts_with("dropped ")),
        "one WARN line: {after:#?}"
    );

    assert_eq!(ws_set_log_dispatch(WS_DISPATCH_THREAD), WS_STATUS_OK);
    assert_eq!(
        unsafe { ws_set_log_callback(None, std::ptr::null_mut(), 0) },
        WS_STATUS_OK
    );
}
