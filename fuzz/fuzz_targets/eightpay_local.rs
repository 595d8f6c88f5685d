//! `cargo +nightly fuzz run eightpay_local`: see ../README.md and [`payhook_fuzz::eightpay_local`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| payhook_fuzz::eightpay_local(data));
