//! `allot_init` with any configuration document; seeds: Eppo configurations, plain and obfuscated.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| allot_fuzz::init_target(data));
