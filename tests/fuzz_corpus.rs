//! Replays the fuzzing corpora on stable Rust: every file under
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the
//! same harness the fuzz target runs (`fuzz/harness.rs`), so an input that
//! once crashed, or that reaches deep into a parser, is checked by every
//! `cargo test`. To fuzz for new inputs, see `make fuzz` and RESILIENCE.md.

#[allow(dead_code)]
#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

/// Runs `harness` over every file in the target's corpus and regression
/// folders; returns how many files it ran.
fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for folder in ["corpus", "regressions"] {
        let dir = root.join(folder).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue; // no regression inputs for this target (yet)
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.is_file()) {
            let data = std::fs::read(&path).unwrap();
            // Name the input that fails, so it can be run again alone.
            let result = std::panic::catch_unwind(|| harness(&data));
            assert!(result.is_ok(), "{} fails the harness", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn receiver() {
    assert!(replay("receiver", harness::receiver) > 0, "empty corpus");
}

#[test]
fn receiver_deflate() {
    assert!(
        replay("receiver_deflate", harness::receiver_deflate) > 0,
        "empty corpus"
    );
}

#[test]
fn handshake() {
    assert!(replay("handshake", harness::handshake) > 0, "empty corpus");
}

#[test]
fn url_proxy() {
    assert!(replay("url_proxy", harness::url_proxy) > 0, "empty corpus");
}

#[test]
fn ffi_frame_decoder() {
    assert!(
        replay("ffi_frame_decoder", harness::ffi_frame_decoder) > 0,
        "empty corpus"
    );
}
