//! `cargo +nightly fuzz run webhook`: every registered provider from its
//! descriptor; see ../README.md and [`payhook_fuzz::webhook`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| payhook_fuzz::webhook(data));
