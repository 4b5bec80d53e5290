//! Configuration text as an operator (or a broken deploy) might write it:
//! parsing either fails with an error or yields a validated config, which
//! must survive being written out (`check-config`) and read back.

#![no_main]

use chihaya::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::parse(text) else {
        return;
    };
    let yaml = config.to_yaml();
    let again = Config::parse(&yaml).unwrap_or_else(|e| panic!("{e}: {yaml}"));
    assert_eq!(again.to_yaml(), yaml);
});
