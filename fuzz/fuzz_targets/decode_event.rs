//! Fuzz the stored-value decoder: `decode_event` and `decode_object_meta`
//! must never panic, whatever the bytes, and their results must be
//! self-consistent.
//!
//! The first input byte picks how the rest is used:
//! * `0x00..=0x7f` — the rest is a stored value as is (any encoding).
//! * `0x80..=0xff` — the rest is the `raw` object of a well-formed protobuf
//!   envelope; bits 0-1 pick its type (core/v1, events.k8s.io/v1, v1beta1,
//!   or a non-Event kind). This reaches the Event decoder directly instead
//!   of waiting for the fuzzer to discover the `k8s\0` + `runtime.Unknown`
//!   framing.

#![no_main]

use evforensics::decode::{decode_event, decode_object_meta, parse_object, Encoding};
use libfuzzer_sys::fuzz_target;

const TYPES: [(&str, &str); 4] = [
    ("v1", "Event"),
    ("events.k8s.io/v1", "Event"),
    ("events.k8s.io/v1beta1", "Event"),
    ("v1", "Pod"),
];

fn push_varint(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn push_len_field(out: &mut Vec<u8>, key: u8, payload: &[u8]) {
    out.push(key);
    push_varint(out, payload.len());
    out.extend_from_slice(payload);
}

/// `k8s\0` + `runtime.Unknown{typeMeta, raw, contentEncoding: "", contentType: ""}`,
/// written by hand so the target needs no protobuf crate of its own.
fn envelope(selector: u8, raw: &[u8]) -> Vec<u8> {
    let (api_version, kind) = TYPES[usize::from(selector & 3)];
    let mut type_meta = Vec::new();
    push_len_field(&mut type_meta, 0x0a, api_version.as_bytes());
    push_len_field(&mut type_meta, 0x12, kind.as_bytes());
    let mut value = b"k8s\0".to_vec();
    push_len_field(&mut value, 0x0a, &type_meta);
    push_len_field(&mut value, 0x12, raw);
    value.extend_from_slice(&[0x1a, 0x00, 0x22, 0x00]);
    value
}

fn check(value: &[u8]) {
    let decoded = decode_event(value, Some(42));
    match decoded.encoding {
        Encoding::Protobuf | Encoding::Json => {
            let text = decoded
                .object
                .as_deref()
                .expect("decoded Events have an object");
            // Must be JSON (what the CLI and the database read).
            let object = parse_object(text).unwrap_or_else(|e| panic!("{e}: {text}"));
            if decoded.encoding == Encoding::Protobuf || object["metadata"].is_object() {
                assert_eq!(object["metadata"]["resourceVersion"], "42");
            }
        }
        Encoding::Encrypted | Encoding::Unknown => {
            assert!(decoded.object.is_none());
            assert!(decoded.note.is_some(), "undecoded values say why");
        }
    }
    let _ = decode_event(value, None);
    let _ = decode_object_meta(value);
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((&mode, rest)) if mode & 0x80 != 0 => check(&envelope(mode, rest)),
        Some((_, rest)) => check(rest),
        None => check(data),
    }
});
