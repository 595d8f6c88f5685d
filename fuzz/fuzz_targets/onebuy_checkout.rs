//! `cargo +nightly fuzz run onebuy_checkout`: see ../README.md and [`payhook_fuzz::onebuy_checkout`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| payhook_fuzz::onebuy_checkout(data));
