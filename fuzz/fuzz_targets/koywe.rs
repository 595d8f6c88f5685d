//! `cargo +nightly fuzz run koywe`: see ../README.md and [`payhook_fuzz::koywe`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| payhook_fuzz::koywe(data));
