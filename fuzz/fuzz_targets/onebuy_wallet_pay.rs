//! `cargo +nightly fuzz run onebuy_wallet_pay`: see ../README.md and [`payhook_fuzz::onebuy_wallet_pay`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| payhook_fuzz::onebuy_wallet_pay(data));
