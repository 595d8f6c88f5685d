//! `cargo +nightly fuzz run canonical`: see ../README.md and [`payhook_fuzz::canonical`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| payhook_fuzz::canonical(data));
