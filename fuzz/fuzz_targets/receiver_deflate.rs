//! Fuzz target `receiver_deflate`: see `harness::receiver_deflate` for what it feeds and checks.
#![no_main]

#[allow(dead_code)]
#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::receiver_deflate(data));
