//! Fuzz target `ffi_frame_decoder`: see `harness::ffi_frame_decoder` for what it feeds and checks.
#![no_main]

#[allow(dead_code)]
#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::ffi_frame_decoder(data));
