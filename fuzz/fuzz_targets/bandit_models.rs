//! A fetched Eppo bandit models body (`/flag-config/v1/bandits`): compiled through
//! `initial_bandits` given as JSON text, the parser the poller uses, beside the public
//! bandit flags; then every public bandit request is evaluated.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| allot_fuzz::bandit_models_target(data));
