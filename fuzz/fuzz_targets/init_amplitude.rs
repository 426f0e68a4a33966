//! `allot_init` with any configuration document; seeds: Amplitude local and remote configurations.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| allot_fuzz::init_target(data));
