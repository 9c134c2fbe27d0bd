//! `include/websocket.h` must be exactly what cbindgen generates from the source.
//! Run with `UPDATE_HEADER=1` (`make header`) to rewrite it.

use std::path::Path;

#[test]
fn header_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen failed")
        .write(&mut generated);
    let path = root.join("include/websocket.h");
    if std::env::var_os("UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/websocket.h");
        return;
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/websocket.h is stale: run `make header` and commit it"
    );
}

/// `WS_CALLBACKS_INIT` (in cbindgen.toml) names the size and one 0 for every
/// callback: it must grow with the struct.
#[test]
fn callbacks_initializer_covers_every_callback() {
    let Some(header) = checked_in_header() else {
        return; // header_is_current is rewriting the header
    };
    let init = header
        .lines()
        .find_map(|l| l.strip_prefix("#define WS_CALLBACKS_INIT "))
        .expect("WS_CALLBACKS_INIT in the header");
    let members = std::mem::size_of::<websocket::ffi::callbacks::ws_callbacks>()
        / std::mem::size_of::<usize>();
    assert_eq!(init.split(',').count(), members, "{init}");
}

/// The header reads top-down by task: each task's first function comes
/// after the previous task's.
#[test]
fn functions_come_in_task_order() {
    let Some(header) = checked_in_header() else {
        return; // header_is_current is rewriting the header
    };
    let tasks = [
        "ws_init(",
        "ws_server_listen(",
        "ws_client_connect(",
        "ws_conn_send(",
        "ws_conn_close(",
        "ws_dispatch(",
        "ws_set_log_callback(",
        "ws_server_config_free(",
        "ws_frame_encode(",
        "ws_last_error_code(",
    ];
    // The line that declares it (not a comment that mentions it).
    let at = |name: &str| {
        let declared = |l: &&str| !l.starts_with([' ', '/', '*']) && l.contains(name);
        header
            .lines()
            .position(|l| declared(&l))
            .unwrap_or_else(|| panic!("{name} is declared in the header"))
    };
    for pair in tasks.windows(2) {
        assert!(
            at(pair[0]) < at(pair[1]),
            "{} should come before {}",
            pair[0],
            pair[1]
        );
    }
}

/// Every name the header defines carries the library's prefix, so none can
/// clash with a program's own: macros `WS_`, types and functions `ws_`.
#[test]
fn every_name_in_the_header_is_prefixed() {
    let Some(header) = checked_in_header() else {
        return; // header_is_current is rewriting the header
    };
    let mut unprefixed = Vec::new();
    for line in header.lines() {
        if let Some(rest) = line.strip_prefix("#define ") {
            let name = rest.split(|c: char| c.is_whitespace() || c == '(').next();
            let name = name.unwrap_or_default();
            if !name.starts_with("WS_") && name != "WEBSOCKET_H" {
                unprefixed.push(name.to_string());
            }
        }
        // `} ws_name;` closes a typedef; `typedef ... ws_name;` and
        // `typedef ... (*ws_name)(...)` name one.
        let typedef = line
            .strip_prefix("} ")
            .or_else(|| line.strip_prefix("typedef "))
            .and_then(|l| l.strip_suffix(';'));
        if let Some(decl) = typedef {
            let name = match decl.split_once("(*") {
                Some((_, rest)) => rest.split(')').next().unwrap_or_default(),
                None => decl.rsplit(' ').next().unwrap_or_default(),
            };
            if !name.starts_with("ws_") {
                unprefixed.push(name.to_string());
            }
        }
    }
    assert!(unprefixed.is_empty(), "unprefixed names: {unprefixed:?}");
}

/// The checked-in header, or `None` while `header_is_current` rewrites it
/// (`UPDATE_HEADER`).
fn checked_in_header() -> Option<String> {
    if std::env::var_os("UPDATE_HEADER").is_some() {
        return None;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Some(std::fs::read_to_string(root.join("include/websocket.h")).unwrap())
}
