//! loadgen's fast server-frame decoder (`loadgen::driver::event::decode`):
//! never panics, and always agrees with serde's own decoding of
//! `ServerEvent` (the property `fast_decode_agrees_with_serde` tests on
//! generated frames; here on arbitrary text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::protocol::ServerEvent;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fast = loadgen::driver::event::decode(text);
    let serde = serde_json::from_str::<ServerEvent>(text);
    match (fast, serde) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "decoders disagree on {text:?}"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("decoders disagree on {text:?}: fast {a:?}, serde {b:?}"),
    }
});
