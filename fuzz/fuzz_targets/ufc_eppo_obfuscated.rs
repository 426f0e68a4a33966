//! A fetched Eppo UFC body (seeds: obfuscated, `"format": "CLIENT"`): compiled through
//! `initial_configuration` given as JSON text, the parser the poller uses, then evaluated.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| allot_fuzz::ufc_target(data));
