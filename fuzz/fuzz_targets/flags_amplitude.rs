//! A fetched Amplitude flags body (`/sdk/v2/flags`): compiled through `flags_path`, which
//! reads a file with the same parser the poller and the stream use, then evaluated.
#![no_main]

use std::sync::OnceLock;

use serde_json::json;

fn path() -> &'static std::path::Path {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("allot-fuzz-flags-{}.json", std::process::id()))
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    std::fs::write(path(), data).expect("write the flags file");
    let config = json!({"provider": "amplitude", "mode": "local", "api_key": "fuzz-key",
                        "flags_path": path()});
    allot_fuzz::init_twice(&allot_fuzz::c_string(config.to_string().as_bytes()), true);
});
