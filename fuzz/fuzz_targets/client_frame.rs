//! The server's client-frame decoder (`server::protocol::decode_client`):
//! any text frame gives a message or one of §8's error codes, never a
//! panic; a decoded message re-encodes to JSON that decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::protocol::{decode_client, ErrorCode};

fuzz_target!(|data: &[u8]| {
    // The server only sees text frames that are valid UTF-8 (others close 1007).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match decode_client(text) {
        Ok(msg) => {
            let again = serde_json::to_string(&msg).expect("a decoded message serializes");
            let back = decode_client(&again).expect("a re-encoded message decodes");
            assert_eq!(back, msg, "round trip of {text:?} via {again:?}");
        }
        Err(err) => assert!(
            matches!(
                err.code,
                ErrorCode::InvalidJson | ErrorCode::UnknownType | ErrorCode::InvalidField
            ),
            "decode error {:?} for {text:?}",
            err.code
        ),
    }
});
