//! The strict bencode decoder, and the writer behind `Value::encode`: any
//! input decodes or fails without panicking (deep nesting included), and
//! whatever decodes is canonical, so writing it back gives the same bytes.

#![no_main]

use chihaya::protocol::bencode::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = decode(data) {
        assert_eq!(value.encode(), data, "decoded {value:?}");
    }
});
