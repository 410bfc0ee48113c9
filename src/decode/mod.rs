//! Decoder for the values Kubernetes stores in etcd under `/registry/events/`.
//!
//! [`decode_event`] takes a stored value (the `value` of an etcd
//! `mvccpb.KeyValue`) and returns a [`DecodedEvent`]: how it was encoded, the
//! flattened columns ([`EventFields`]) and the Event as `kubectl get event -o
//! json` prints it, as compact JSON text. It never panics and never drops a
//! value silently: what cannot be decoded comes back as
//! [`Encoding::Encrypted`] or [`Encoding::Unknown`] with the reason in
//! `note`.
//!
//! Layers, one module each:
//! * `envelope`: encoding detection (`k8s\0` protobuf,
//!   `{` JSON, `k8s:enc:` encrypted, CBOR) and the `runtime.Unknown` envelope;
//! * `wire`: protobuf wire-format scanning (unknown field numbers, invalid
//!   UTF-8) that prost does not report;
//! * `event` + `json`: prost messages → columns and Kubernetes-exact JSON
//!   text, written directly (no `serde_json::Value` in between);
//! * `stored_json`: JSON-encoded stored values;
//! * `time`: `metav1.Time`/`MicroTime` rendering;
//! * `meta`: [`decode_object_meta`] for objects of any kind.
//! * `decoded` holds what decoding gives; `value` is the entry point,
//!   [`decode_event`].
//!
//! Decisions a forensic reader has to make, and what this one does:
//! * **Invalid UTF-8** in a protobuf `string`: Go accepts any bytes and its
//!   JSON encoder prints U+FFFD for invalid sequences, so we decode lossily
//!   (same output as kubectl) and say so in `note`; the caller keeps the raw
//!   bytes.
//! * **Unknown field numbers**: decoded as Go does (skipped), reported by
//!   `unknown_fields` and listed in `note`.
//! * **Out-of-range timestamps**: printed the way Go prints them (see
//!   `time.rs`), never an error.
//! * **CBOR**: recognised and reported as [`Encoding::Unknown`]; not decoded.

mod decoded;
mod envelope;
mod event;
mod json;
mod meta;
mod stored_json;
pub(crate) mod time;
mod value;
mod wire;

pub use self::decoded::{DecodedEvent, Encoding, EventFields};
pub use self::envelope::{encode_stored_event, strip_printed_newline};
pub use self::meta::{decode_object_meta, DecodedMeta, MetaError, OwnerRef};
pub use self::time::{format_micro_time, format_time, parse_micros};
pub use self::value::{decode_event, parse_object};
pub use self::wire::{MessageError, WireError};

#[cfg(test)]
pub(crate) use self::value::json_value;
