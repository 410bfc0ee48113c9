//! The outer layer of a value Kubernetes stores in etcd: which encoding it
//! uses, and for protobuf the `runtime.Unknown` envelope around the object.
//!
//! * Protobuf (apimachinery `runtime/serializer/protobuf`): the 4 bytes
//!   `k8s\0` (the fourth byte is an encoding style; only 0 is defined),
//!   then a proto2 `runtime.Unknown { TypeMeta typeMeta = 1; bytes raw = 2;
//!   string contentEncoding = 3; string contentType = 4; }` with
//!   `TypeMeta { string apiVersion = 1; string kind = 2; }`. `raw` is the
//!   object's own protobuf message. API servers write fields 3 and 4 as
//!   empty strings.
//! * JSON: the value starts with `{` (custom resources, aggregated APIs,
//!   `--storage-media-type=application/json`).
//! * Encrypted at rest (apiserver `encryptionconfig`): `k8s:enc:` then
//!   `<provider>:<version>:<name>:` and the ciphertext, where provider is
//!   `aescbc`, `aesgcm`, `secretbox` (version `v1`, name = key name) or `kms`
//!   (version `v1` or `v2`, name = KMS plugin name).
//! * CBOR (alpha `CBORServingAndStorage` gate, 1.32+): starts with the
//!   self-described CBOR tag `d9 d9 f7`. Recognised, not decoded.

use prost::Message as _;

use super::wire::{self, Message, ScanReport, Value, WireError};
use crate::proto;

/// `k8s` + encoding style 0: a protobuf-encoded `runtime.Unknown` follows.
pub(crate) const PROTOBUF_PREFIX: &[u8] = b"k8s\0";
/// Reserved by Kubernetes for values encrypted at rest.
pub(crate) const ENCRYPTED_PREFIX: &[u8] = b"k8s:enc:";
/// CBOR tag 55799 ("self-described CBOR"), which Kubernetes' CBOR
/// serializer writes first.
pub(crate) const CBOR_PREFIX: &[u8] = &[0xd9, 0xd9, 0xf7];

/// Only this much of an encrypted value is searched for the provider header,
/// so a huge ciphertext without colons costs nothing.
const MAX_ENCRYPTION_HEADER: usize = 512;

/// The encoding of a stored value, from its first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Framing<'a> {
    /// The bytes after `k8s\0`.
    Protobuf(&'a [u8]),
    Json,
    /// Provider description, e.g. `aescbc:v1:key1`.
    Encrypted(String),
    /// Why the value is not one of the above.
    Unrecognized(String),
}

/// Identifies how `value` is encoded.
pub(crate) fn classify(value: &[u8]) -> Framing<'_> {
    if value.is_empty() {
        return Framing::Unrecognized("empty value".to_owned());
    }
    if let Some(rest) = value.strip_prefix(ENCRYPTED_PREFIX) {
        return Framing::Encrypted(encryption_provider(rest));
    }
    if let Some(body) = value.strip_prefix(PROTOBUF_PREFIX) {
        return Framing::Protobuf(body);
    }
    if let [b'k', b'8', b's', style, ..] = value {
        return Framing::Unrecognized(format!(
            "protobuf envelope with unsupported encoding style byte 0x{style:02x}"
        ));
    }
    if value.first() == Some(&b'{') {
        return Framing::Json;
    }
    if value.starts_with(CBOR_PREFIX) {
        return Framing::Unrecognized(
            "CBOR-encoded value (self-described CBOR tag 55799); CBOR is not decoded".to_owned(),
        );
    }
    Framing::Unrecognized(format!(
        "unrecognized encoding; first bytes: {}",
        escaped_prefix(value, 16)
    ))
}

/// Describes the encryption provider from the bytes after `k8s:enc:`:
/// `<provider>:<version>:<name>` (e.g. `aescbc:v1:key1`, `kms:v2:vault`).
fn encryption_provider(rest: &[u8]) -> String {
    let header = rest.get(..MAX_ENCRYPTION_HEADER).unwrap_or(rest);
    let mut parts = header.splitn(4, |&b| b == b':');
    let provider = parts.next();
    let version = parts.next();
    let name = parts.next();
    // The ciphertext follows the third colon; without it the header is cut.
    let terminated = parts.next().is_some();
    match (provider, version, name) {
        (Some(provider), Some(version), Some(name))
            if terminated && [provider, version, name].iter().all(|p| is_header_text(p)) =>
        {
            // is_header_text guarantees ASCII-compatible UTF-8.
            let text = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
            format!("{}:{}:{}", text(provider), text(version), text(name))
        }
        _ => format!(
            "unparsed encryption header: k8s:enc:{}",
            escaped_prefix(rest, 48)
        ),
    }
}

/// Non-empty UTF-8 without control characters.
fn is_header_text(part: &[u8]) -> bool {
    !part.is_empty() && std::str::from_utf8(part).is_ok_and(|s| s.chars().all(|c| !c.is_control()))
}

/// The first `n` bytes of `value`, printable (`\xNN` escapes).
pub(crate) fn escaped_prefix(value: &[u8], n: usize) -> String {
    let head = value.get(..n).unwrap_or(value);
    let mut text = head.escape_ascii().to_string();
    if value.len() > n {
        text.push('…');
    }
    text
}

/// `value` without the one `\n` that `etcdctl get --print-value-only` (and
/// `echo`) writes after it: stripped only when the value is a complete
/// `k8s\0` envelope, or a JSON object, without it. A `\n` byte is also a
/// protobuf tag (field 1, length-delimited), so a stored value is never
/// changed: an envelope followed by a lone `\n` cannot be parsed whole.
pub fn strip_printed_newline(value: &[u8]) -> &[u8] {
    let Some(stripped) = value.strip_suffix(b"\n") else {
        return value;
    };
    match (classify(value), classify(stripped)) {
        (Framing::Protobuf(whole), Framing::Protobuf(body))
            if parse_envelope(whole).is_err() && parse_envelope(body).is_ok() =>
        {
            stripped
        }
        (Framing::Json, Framing::Json) if stripped.ends_with(b"}") => stripped,
        _ => value,
    }
}

/// A parsed `runtime.Unknown`; `raw` borrows from the value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub raw: &'a [u8],
    pub content_encoding: Option<String>,
    pub content_type: Option<String>,
    /// Unknown fields and non-UTF-8 strings in the envelope itself.
    pub report: ScanReport,
}

/// A `runtime.Unknown` that could not be parsed, with the type it announced
/// before the damage (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvelopeError {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub source: WireError,
}

/// Parses the `runtime.Unknown` that follows `k8s\0`.
pub(crate) fn parse_envelope(body: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    let mut envelope = Envelope::default();
    match fill_envelope(body, &mut envelope) {
        Ok(()) => Ok(envelope),
        Err(source) => Err(EnvelopeError {
            api_version: envelope.api_version,
            kind: envelope.kind,
            source,
        }),
    }
}

fn fill_envelope<'a>(body: &'a [u8], envelope: &mut Envelope<'a>) -> Result<(), WireError> {
    for field in wire::fields(body) {
        let field = field?;
        match (field.number, field.value) {
            (1, Value::Len(type_meta)) => fill_type_meta(type_meta, envelope)?,
            (2, Value::Len(raw)) => envelope.raw = raw,
            (3, Value::Len(text)) => {
                envelope.content_encoding = Some(lossy(text, &mut envelope.report));
            }
            (4, Value::Len(text)) => {
                envelope.content_type = Some(lossy(text, &mut envelope.report));
            }
            (1..=4, _) => {
                return Err(wrong_wire_type(
                    Message::Unknown,
                    field.number,
                    field.wire_type,
                ))
            }
            (number, _) => envelope.report.record_unknown(Message::Unknown, number),
        }
    }
    Ok(())
}

fn fill_type_meta(type_meta: &[u8], envelope: &mut Envelope<'_>) -> Result<(), WireError> {
    for field in wire::fields(type_meta) {
        let field = field?;
        match (field.number, field.value) {
            (1, Value::Len(text)) => envelope.api_version = Some(lossy(text, &mut envelope.report)),
            (2, Value::Len(text)) => envelope.kind = Some(lossy(text, &mut envelope.report)),
            (1 | 2, _) => {
                return Err(wrong_wire_type(
                    Message::TypeMeta,
                    field.number,
                    field.wire_type,
                ))
            }
            (number, _) => envelope.report.record_unknown(Message::TypeMeta, number),
        }
    }
    Ok(())
}

fn wrong_wire_type(message: Message, field: u32, found: u8) -> WireError {
    WireError::WrongWireType {
        message: message.name(),
        field,
        found,
        expected: 2,
    }
}

/// Like Go, accept any bytes in a string; count the ones that need U+FFFD.
fn lossy(bytes: &[u8], report: &mut ScanReport) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => {
            report.invalid_utf8 += 1;
            String::from_utf8_lossy(bytes).into_owned()
        }
    }
}

/// Encodes `event` the way an API server stores a core/v1 Event in etcd:
/// `k8s\0` + `runtime.Unknown{typeMeta{apiVersion: "v1", kind: "Event"},
/// raw, contentEncoding: "", contentType: ""}`.
pub fn encode_stored_event(event: &proto::core::v1::Event) -> Vec<u8> {
    let envelope = proto::runtime::Unknown {
        type_meta: Some(proto::runtime::TypeMeta {
            api_version: Some("v1".to_owned()),
            kind: Some("Event".to_owned()),
        }),
        raw: Some(event.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = Vec::with_capacity(PROTOBUF_PREFIX.len() + envelope.encoded_len());
    out.extend_from_slice(PROTOBUF_PREFIX);
    out.extend_from_slice(&envelope.encode_to_vec());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_encodings() {
        assert_eq!(classify(b"k8s\0\x0a\x00"), Framing::Protobuf(b"\x0a\x00"));
        assert_eq!(classify(b"{\"kind\":\"Event\"}"), Framing::Json);
        assert_eq!(
            classify(b""),
            Framing::Unrecognized("empty value".to_owned())
        );
        assert_eq!(
            classify(b"k8s\x01abc"),
            Framing::Unrecognized(
                "protobuf envelope with unsupported encoding style byte 0x01".to_owned()
            )
        );
        assert!(
            matches!(classify(&[0xd9, 0xd9, 0xf7, 0xa1]), Framing::Unrecognized(r) if r.starts_with("CBOR"))
        );
        assert_eq!(
            classify(b"\x00\x01hello"),
            Framing::Unrecognized(r"unrecognized encoding; first bytes: \x00\x01hello".to_owned())
        );
    }

    #[test]
    fn names_every_encryption_provider() {
        let cases: [(&[u8], &str); 6] = [
            (b"k8s:enc:aescbc:v1:key1:\x8a\x01\x02", "aescbc:v1:key1"),
            (b"k8s:enc:aesgcm:v1:key2:\xff\xfe", "aesgcm:v1:key2"),
            (
                b"k8s:enc:secretbox:v1:sb-key:\x00\x00",
                "secretbox:v1:sb-key",
            ),
            (
                b"k8s:enc:kms:v1:myKmsPlugin:\x00\x20abc",
                "kms:v1:myKmsPlugin",
            ),
            (
                b"k8s:enc:kms:v2:vault-kms:\x0a\x10ciphertext",
                "kms:v2:vault-kms",
            ),
            // The ciphertext may contain colons; only the header is read.
            (b"k8s:enc:aescbc:v1:k:a:b:c", "aescbc:v1:k"),
        ];
        for (value, provider) in cases {
            assert_eq!(classify(value), Framing::Encrypted(provider.to_owned()));
        }
    }

    #[test]
    fn unparsable_encryption_headers_are_still_encrypted() {
        assert_eq!(
            classify(b"k8s:enc:aescbc"),
            Framing::Encrypted("unparsed encryption header: k8s:enc:aescbc".to_owned())
        );
        assert_eq!(
            classify(b"k8s:enc:aescbc:v1::data"),
            Framing::Encrypted("unparsed encryption header: k8s:enc:aescbc:v1::data".to_owned())
        );
        let long = [b"k8s:enc:".as_slice(), &[b'x'; 600]].concat();
        assert!(matches!(classify(&long), Framing::Encrypted(n) if n.ends_with('…')));
    }

    #[test]
    fn parses_an_envelope() {
        let event = proto::core::v1::Event {
            reason: Some("Started".to_owned()),
            ..Default::default()
        };
        let stored = encode_stored_event(&event);
        let Framing::Protobuf(body) = classify(&stored) else {
            panic!("not protobuf")
        };
        let envelope = parse_envelope(body).unwrap();
        assert_eq!(envelope.api_version.as_deref(), Some("v1"));
        assert_eq!(envelope.kind.as_deref(), Some("Event"));
        assert_eq!(envelope.raw, event.encode_to_vec().as_slice());
        assert_eq!(envelope.content_encoding.as_deref(), Some(""));
        assert_eq!(envelope.content_type.as_deref(), Some(""));
        assert_eq!(envelope.report, ScanReport::default());
    }

    #[test]
    fn one_printed_newline_is_stripped_from_a_complete_value() {
        let stored = encode_stored_event(&proto::core::v1::Event::default());
        let printed = [stored.as_slice(), b"\n"].concat();
        assert_eq!(strip_printed_newline(&printed), stored.as_slice());
        assert_eq!(strip_printed_newline(&stored), stored.as_slice());
        // Two newlines: the value without one is still not complete.
        let twice = [stored.as_slice(), b"\n\n"].concat();
        assert_eq!(strip_printed_newline(&twice), twice.as_slice());
        // A cut envelope (inside typeMeta) followed by `\n` stays as it is.
        let cut = &stored[..stored.len() - 8];
        let cut_nl = [cut, b"\n"].concat();
        assert_eq!(strip_printed_newline(&cut_nl), cut_nl.as_slice());
        assert_eq!(
            strip_printed_newline(b"{\"kind\":\"Event\"}\n"),
            b"{\"kind\":\"Event\"}"
        );
        assert_eq!(strip_printed_newline(b"\n"), b"\n");
    }

    #[test]
    fn truncated_envelope_keeps_its_type() {
        let event = proto::core::v1::Event {
            reason: Some("Started".to_owned()),
            ..Default::default()
        };
        let stored = encode_stored_event(&event);
        // Cut inside `raw`, after the complete typeMeta.
        let body = &stored[4..stored.len() - 6];
        let err = parse_envelope(body).unwrap_err();
        assert_eq!(err.kind.as_deref(), Some("Event"));
        assert_eq!(err.source, WireError::Truncated);
    }
}
