//! `cargo +nightly fuzz run thirdweb`: see ../README.md and [`payhook_fuzz::thirdweb`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| payhook_fuzz::thirdweb(data));
