//! Any JSON as a Lambda input: the event intake takes it or refuses it with a classified
//! error, never a panic. (The sweep-request reader in front of it only looks for a `sweep`
//! member; its unit tests cover it.)

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = intake::read(&input);
});
