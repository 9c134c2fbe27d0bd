//! The log callback over loopback (one test: the log is process-wide):
//! lines about a connection carry its id, opening and closing are logged at
//! INFO, DEBUG lines come only when asked for, and NULL turns logging off.

#[path = "support.rs"]
mod support;

use std::ffi::{c_char, c_void, CStr};
use std::sync::{Arc, Mutex};
use support::{Ev, Recorder};
use websocket::ffi::log::{
    ws_log_level_name, ws_set_log_callback, WS_LOG_DEBUG, WS_LOG_INFO, WS_LOG_WARN,
};
use websocket::ffi::status::{WS_ERR_INVALID_ARGUMENT, WS_STATUS_OK};
use websocket::transport::client::connect;
use websocket::transport::server::Server;
use websocket::transport::{ClientConfig, Connection, ServerConfig};

/// Every line logged: level, connection id, text.
static LINES: Mutex<Vec<(i32, u64, String)>> = Mutex::new(Vec::new());

extern "C" fn capture(user_data: *mut c_void, level: i32, conn_id: u64, message: *const c_char) {
    assert_eq!(user_data as usize, 42, "the user data given");
    // SAFETY: the library passes a C string valid during the call.
    let text = unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    LINES.lock().unwrap().push((level, conn_id, text));
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
