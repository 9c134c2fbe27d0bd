//! Fuzz target `url_proxy`: see `harness::url_proxy` for what it feeds and checks.
#![no_main]

#[allow(dead_code)]
#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::url_proxy(data));
