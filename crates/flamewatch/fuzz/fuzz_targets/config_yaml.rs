//! Feeds arbitrary bytes to the configuration reader: it must never panic, every accepted
//! configuration must be valid and render back to YAML that reads the same, and every error
//! must stay on one line.
#![no_main]

use flamewatch::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_yaml_str("fuzz.yml", text) {
        Ok(mut config) => {
            assert!(config.validate().is_ok());
            config.api.token = None;
            let again = Config::from_yaml_str("rendered.yml", &config.to_yaml())
                .expect("rendered config reads back");
            assert_eq!(again, config);
        }
        Err(e) => assert!(!e.to_string().contains('\n')),
    }
    let _ = Config::builder()
        .yaml_str("fuzz.yml", text)
        .section("runtime.profiling")
        .build();
});
