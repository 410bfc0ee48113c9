//! Protobuf wire format (proto2, as Kubernetes' gogo-generated code writes it),
//! read without a schema compiler.
//!
//! A message is a sequence of fields, each `key = varint(field_number << 3 |
//! wire_type)` followed by a varint (type 0), 8 bytes (type 1), a varint length
//! and that many bytes (type 2: strings, bytes, embedded messages, map
//! entries), a group terminated by an end-group key (types 3/4, obsolete but
//! skippable) or 4 bytes (type 5).
//!
//! prost decodes the Kubernetes messages, but it silently drops field numbers
//! it does not know and rejects a whole message when one `string` field holds
//! invalid UTF-8. Go's decoder skips unknown fields as well and accepts any
//! bytes in strings (its JSON encoder later prints U+FFFD for them). A forensic
//! reader must neither lose the fact that a value carried more than it
//! understood nor lose a whole Event to one bad byte, so this module walks a
//! message against a table of the known field numbers ([`scan`]) and, only
//! when prost has refused a message and a string turns out not to be UTF-8,
//! rewrites those strings lossily ([`sanitize`]) and decodes again
//! ([`decode_message`] does all three).

use std::fmt;

/// Deepest nesting of embedded messages accepted; the same limit prost
/// applies by default, so both decoders agree on what is too deep.
pub(crate) const MAX_DEPTH: u32 = 100;

/// Why a byte string is not a well-formed protobuf message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated: a field runs past the end of its message")]
    Truncated,
    #[error("malformed varint")]
    BadVarint,
    #[error("invalid field number 0")]
    ZeroFieldNumber,
    #[error("invalid wire type {0}")]
    BadWireType(u8),
    #[error("field {field} of {message} has wire type {found}, expected {expected}")]
    WrongWireType {
        message: &'static str,
        field: u32,
        found: u8,
        expected: u8,
    },
    #[error("end-group marker without a matching start")]
    UnbalancedGroup,
    #[error("messages nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// The messages whose field numbers this decoder knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message {
    /// runtime.Unknown, the envelope after `k8s\0`.
    Unknown,
    TypeMeta,
    /// core/v1 Event.
    CoreEvent,
    /// events.k8s.io/v1 and v1beta1 Event (same field numbers).
    EventsEvent,
    /// core/v1 and events.k8s.io EventSeries (same field numbers).
    EventSeries,
    ObjectReference,
    EventSource,
    /// meta/v1 Time and MicroTime (both `Timestamp` on the wire).
    Timestamp,
    ObjectMeta,
    /// Entry of a `map<string, string>` (labels, annotations).
    StringMapEntry,
    OwnerReference,
    ManagedFieldsEntry,
    /// Pre-1.18 managedFields `fields` trie.
    Fields,
    /// Entry of `Fields.map` (`map<string, Fields>`).
    FieldsMapEntry,
    FieldsV1,
}

impl Message {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Message::Unknown => "Unknown",
            Message::TypeMeta => "TypeMeta",
            Message::CoreEvent => "Event",
            Message::EventsEvent => "Event",
            Message::EventSeries => "EventSeries",
            Message::ObjectReference => "ObjectReference",
            Message::EventSource => "EventSource",
            Message::Timestamp => "Time",
            Message::ObjectMeta => "ObjectMeta",
            Message::StringMapEntry => "MapEntry",
            Message::OwnerReference => "OwnerReference",
            Message::ManagedFieldsEntry => "ManagedFieldsEntry",
            Message::Fields => "Fields",
            Message::FieldsMapEntry => "FieldsMapEntry",
            Message::FieldsV1 => "FieldsV1",
        }
    }

    /// What field `number` of this message holds, or `None` if this decoder
    /// does not know it. Mirrors `proto/*.proto`.
    fn field(self, number: u32) -> Option<FieldKind> {
        use FieldKind::{Bytes, Msg, Str, Varint};
        use Message as M;
        let kind = match (self, number) {
            (M::Unknown, 1) => Msg(M::TypeMeta),
            (M::Unknown, 2) => Bytes,
            (M::Unknown, 3 | 4) => Str,
            (M::TypeMeta, 1 | 2) => Str,

            (M::CoreEvent, 1) => Msg(M::ObjectMeta),
            (M::CoreEvent, 2 | 13) => Msg(M::ObjectReference),
            (M::CoreEvent, 3 | 4 | 9 | 12 | 14 | 15) => Str,
            (M::CoreEvent, 5) => Msg(M::EventSource),
            (M::CoreEvent, 6 | 7 | 10) => Msg(M::Timestamp),
            (M::CoreEvent, 8) => Varint,
            (M::CoreEvent, 11) => Msg(M::EventSeries),

            (M::EventsEvent, 1) => Msg(M::ObjectMeta),
            (M::EventsEvent, 2 | 13 | 14) => Msg(M::Timestamp),
            (M::EventsEvent, 3) => Msg(M::EventSeries),
            (M::EventsEvent, 4..=7 | 10 | 11) => Str,
            (M::EventsEvent, 8 | 9) => Msg(M::ObjectReference),
            (M::EventsEvent, 12) => Msg(M::EventSource),
            (M::EventsEvent, 15) => Varint,

            (M::EventSeries, 1) => Varint,
            (M::EventSeries, 2) => Msg(M::Timestamp),
            (M::EventSeries, 3) => Str,
            (M::ObjectReference, 1..=7) => Str,
            (M::EventSource, 1 | 2) => Str,
            (M::Timestamp, 1 | 2) => Varint,

            (M::ObjectMeta, 1..=6 | 14 | 15) => Str,
            (M::ObjectMeta, 7 | 10) => Varint,
            (M::ObjectMeta, 8 | 9) => Msg(M::Timestamp),
            (M::ObjectMeta, 11 | 12) => Msg(M::StringMapEntry),
            (M::ObjectMeta, 13) => Msg(M::OwnerReference),
            (M::ObjectMeta, 17) => Msg(M::ManagedFieldsEntry),
            (M::StringMapEntry, 1 | 2) => Str,
            (M::OwnerReference, 1 | 3 | 4 | 5) => Str,
            (M::OwnerReference, 6 | 7) => Varint,
            (M::ManagedFieldsEntry, 1..=3 | 6 | 8) => Str,
            (M::ManagedFieldsEntry, 4) => Msg(M::Timestamp),
            (M::ManagedFieldsEntry, 5) => Msg(M::Fields),
            (M::ManagedFieldsEntry, 7) => Msg(M::FieldsV1),
            (M::Fields, 1) => Msg(M::FieldsMapEntry),
            (M::FieldsMapEntry, 1) => Str,
            (M::FieldsMapEntry, 2) => Msg(M::Fields),
            (M::FieldsV1, 1) => Bytes,
            _ => return None,
        };
        Some(kind)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Varint,
    Str,
    Bytes,
    Msg(Message),
}

impl FieldKind {
    fn wire_type(self) -> u8 {
        match self {
            FieldKind::Varint => WIRE_VARINT,
            FieldKind::Str | FieldKind::Bytes | FieldKind::Msg(_) => WIRE_LEN,
        }
    }
}

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_START_GROUP: u8 = 3;
const WIRE_END_GROUP: u8 = 4;
const WIRE_FIXED32: u8 = 5;

/// The payload of one field, borrowed from the message bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Fixed64,
    Fixed32,
    Len(&'a [u8]),
    Group,
}

/// One field as read by [`FieldIter`]: its number, wire type, payload and the
/// bytes it occupied (key included), so a rewriter can copy it unchanged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    pub number: u32,
    pub wire_type: u8,
    pub value: Value<'a>,
    pub encoded: &'a [u8],
}

/// Iterator over the fields of one message. Stops after the first error.
pub(crate) struct FieldIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Reads the fields of `message` one at a time.
pub(crate) fn fields(message: &[u8]) -> FieldIter<'_> {
    FieldIter {
        rest: message,
        failed: false,
    }
}

impl<'a> Iterator for FieldIter<'a> {
    type Item = Result<Field<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let start = self.rest;
        match read_field(&mut self.rest) {
            Ok((number, wire_type, value)) => {
                let used = start.len() - self.rest.len();
                let encoded = start.get(..used).unwrap_or(start);
                Some(Ok(Field {
                    number,
                    wire_type,
                    value,
                    encoded,
                }))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Reads a varint from the front of `buf`, advancing it.
pub(crate) fn read_varint(buf: &mut &[u8]) -> Result<u64, WireError> {
    // Most varints here (keys, lengths) are one byte.
    if let Some((&byte, rest)) = buf.split_first() {
        if byte < 0x80 {
            *buf = rest;
            return Ok(u64::from(byte));
        }
    }
    let mut value: u64 = 0;
    for i in 0..10u32 {
        let (&byte, rest) = buf.split_first().ok_or(WireError::Truncated)?;
        *buf = rest;
        // The tenth byte may only contribute the top bit of a u64.
        if i == 9 && byte > 1 {
            return Err(WireError::BadVarint);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(WireError::BadVarint)
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], WireError> {
    if buf.len() < n {
        return Err(WireError::Truncated);
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

/// Reads a length-delimited payload.
fn read_len<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], WireError> {
    let len = read_varint(buf)?;
    let len = usize::try_from(len).map_err(|_| WireError::Truncated)?;
    take(buf, len)
}

fn read_key(buf: &mut &[u8]) -> Result<(u32, u8), WireError> {
    let key = read_varint(buf)?;
    // Field numbers are at most 2^29 - 1; anything larger is not a key.
    let number = u32::try_from(key >> 3).map_err(|_| WireError::BadVarint)?;
    if number == 0 {
        return Err(WireError::ZeroFieldNumber);
    }
    let wire_type = (key & 7) as u8;
    if wire_type > WIRE_FIXED32 {
        return Err(WireError::BadWireType(wire_type));
    }
    Ok((number, wire_type))
}

fn read_field<'a>(buf: &mut &'a [u8]) -> Result<(u32, u8, Value<'a>), WireError> {
    let (number, wire_type) = read_key(buf)?;
    let value = read_value(buf, number, wire_type, 0)?;
    Ok((number, wire_type, value))
}

fn read_value<'a>(
    buf: &mut &'a [u8],
    number: u32,
    wire_type: u8,
    depth: u32,
) -> Result<Value<'a>, WireError> {
    match wire_type {
        WIRE_VARINT => Ok(Value::Varint(read_varint(buf)?)),
        WIRE_FIXED64 => take(buf, 8).map(|_| Value::Fixed64),
        WIRE_LEN => read_len(buf).map(Value::Len),
        WIRE_START_GROUP => {
            skip_group(buf, number, depth)?;
            Ok(Value::Group)
        }
        WIRE_END_GROUP => Err(WireError::UnbalancedGroup),
        WIRE_FIXED32 => take(buf, 4).map(|_| Value::Fixed32),
        other => Err(WireError::BadWireType(other)),
    }
}

/// Skips the body of a group that started with field `number`, up to and
/// including its end-group key.
fn skip_group(buf: &mut &[u8], number: u32, depth: u32) -> Result<(), WireError> {
    if depth >= MAX_DEPTH {
        return Err(WireError::TooDeep);
    }
    loop {
        let (inner, wire_type) = read_key(buf)?;
        if wire_type == WIRE_END_GROUP {
            return if inner == number {
                Ok(())
            } else {
                Err(WireError::UnbalancedGroup)
            };
        }
        read_value(buf, inner, wire_type, depth + 1)?;
    }
}

/// A field number found where this decoder does not expect one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnknownField {
    pub message: &'static str,
    pub number: u32,
}

impl fmt::Display for UnknownField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.message, self.number)
    }
}

/// What [`scan`] found besides well-formedness.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ScanReport {
    /// Number of unknown fields seen.
    pub unknown_count: usize,
    /// The first few of them, for the decode note.
    pub unknown_examples: Vec<UnknownField>,
    /// Number of `string` fields that are not valid UTF-8.
    pub invalid_utf8: usize,
}

const MAX_UNKNOWN_EXAMPLES: usize = 4;

impl ScanReport {
    pub(crate) fn has_unknown_fields(&self) -> bool {
        self.unknown_count > 0
    }

    pub(crate) fn record_unknown(&mut self, message: Message, number: u32) {
        self.unknown_count += 1;
        if self.unknown_examples.len() < MAX_UNKNOWN_EXAMPLES {
            self.unknown_examples.push(UnknownField {
                message: message.name(),
                number,
            });
        }
    }
}

/// Whether [`scan`] checks `string` fields for UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Utf8Check {
    /// Structure and field numbers only. prost validates the strings it
    /// decodes anyway, so the fast path leaves UTF-8 to it.
    Skip,
    /// Also count `string` fields that are not UTF-8.
    Count,
}

/// Checks that `data` is a well-formed `message`, recursively, and reports
/// unknown field numbers (and, with [`Utf8Check::Count`], non-UTF-8 strings)
/// into `report`.
pub(crate) fn scan(
    message: Message,
    data: &[u8],
    utf8: Utf8Check,
    report: &mut ScanReport,
) -> Result<(), WireError> {
    scan_at(message, data, utf8, report, 0)
}

fn scan_at(
    message: Message,
    mut data: &[u8],
    utf8: Utf8Check,
    report: &mut ScanReport,
    depth: u32,
) -> Result<(), WireError> {
    if depth >= MAX_DEPTH {
        return Err(WireError::TooDeep);
    }
    while !data.is_empty() {
        let (number, wire_type) = read_key(&mut data)?;
        let Some(kind) = message.field(number) else {
            report.record_unknown(message, number);
            read_value(&mut data, number, wire_type, depth)?;
            continue;
        };
        let expected = kind.wire_type();
        if wire_type != expected {
            return Err(WireError::WrongWireType {
                message: message.name(),
                field: number,
                found: wire_type,
                expected,
            });
        }
        match kind {
            FieldKind::Varint => {
                read_varint(&mut data)?;
            }
            FieldKind::Bytes => {
                read_len(&mut data)?;
            }
            FieldKind::Str => {
                let bytes = read_len(&mut data)?;
                if utf8 == Utf8Check::Count && std::str::from_utf8(bytes).is_err() {
                    report.invalid_utf8 += 1;
                }
            }
            FieldKind::Msg(inner) => {
                let bytes = read_len(&mut data)?;
                scan_at(inner, bytes, utf8, report, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// Why a protobuf message could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("{0}")]
    Prost(#[from] prost::DecodeError),
}

/// Decodes `data` as prost message `M` whose field numbers are those of
/// `message`, reporting unknown fields. Strings that are not UTF-8, which
/// prost refuses and Go accepts, are replaced lossily (counted in
/// `invalid_utf8`) so the rest of the message is not lost.
pub(crate) fn decode_message<M: prost::Message + Default>(
    message: Message,
    data: &[u8],
) -> Result<(M, ScanReport), MessageError> {
    let mut report = ScanReport::default();
    scan(message, data, Utf8Check::Skip, &mut report)?;
    match M::decode(data) {
        Ok(decoded) => Ok((decoded, report)),
        Err(err) => {
            // Only now pay for finding out whether bad UTF-8 is the cause.
            let mut strings = ScanReport::default();
            scan(message, data, Utf8Check::Count, &mut strings)?;
            if strings.invalid_utf8 == 0 {
                return Err(err.into());
            }
            let sanitized = sanitize(message, data)?;
            let decoded = M::decode(sanitized.as_slice())?;
            report.invalid_utf8 = strings.invalid_utf8;
            Ok((decoded, report))
        }
    }
}

/// Re-encodes `data` (a well-formed `message`, see [`scan`]) with every
/// `string` field that is not UTF-8 replaced by its lossy conversion (each
/// invalid sequence becomes U+FFFD). All other bytes are copied unchanged.
pub(crate) fn sanitize(message: Message, data: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(data.len() + 16);
    sanitize_into(message, data, &mut out, 0)?;
    Ok(out)
}

fn sanitize_into(
    message: Message,
    data: &[u8],
    out: &mut Vec<u8>,
    depth: u32,
) -> Result<(), WireError> {
    if depth >= MAX_DEPTH {
        return Err(WireError::TooDeep);
    }
    for field in fields(data) {
        let field = field?;
        let kind = message.field(field.number);
        match (kind, field.value) {
            (Some(FieldKind::Str), Value::Len(bytes)) if std::str::from_utf8(bytes).is_err() => {
                let fixed = String::from_utf8_lossy(bytes);
                write_len_field(out, field.number, fixed.as_bytes());
            }
            (Some(FieldKind::Msg(inner)), Value::Len(bytes)) => {
                let mut nested = Vec::with_capacity(bytes.len() + 8);
                sanitize_into(inner, bytes, &mut nested, depth + 1)?;
                write_len_field(out, field.number, &nested);
            }
            _ => out.extend_from_slice(field.encoded),
        }
    }
    Ok(())
}

fn write_len_field(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
    prost::encoding::encode_varint((u64::from(number) << 3) | u64::from(WIRE_LEN), out);
    prost::encoding::encode_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(number: u32, wire_type: u8) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::encode_varint((u64::from(number) << 3) | u64::from(wire_type), &mut out);
        out
    }

    fn len_field(number: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_len_field(&mut out, number, payload);
        out
    }

    #[test]
    fn varint_reading() {
        let mut buf: &[u8] = &[0xac, 0x02, 0xff];
        assert_eq!(read_varint(&mut buf), Ok(300));
        assert_eq!(buf, &[0xff]);
        let mut truncated: &[u8] = &[0x80];
        assert_eq!(read_varint(&mut truncated), Err(WireError::Truncated));
        let mut max: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_varint(&mut max), Ok(u64::MAX));
        let mut too_long: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(read_varint(&mut too_long), Err(WireError::BadVarint));
    }

    #[test]
    fn scan_reports_unknown_fields_at_any_depth() {
        let mut meta = len_field(1, b"name");
        meta.extend(len_field(99, b"?"));
        let mut event = len_field(1, &meta);
        event.extend(key(98, 0));
        event.push(7);
        let mut report = ScanReport::default();
        assert_eq!(
            scan(Message::CoreEvent, &event, Utf8Check::Count, &mut report),
            Ok(())
        );
        assert_eq!(report.unknown_count, 2);
        assert_eq!(report.unknown_examples[0].to_string(), "ObjectMeta.99");
        assert_eq!(report.unknown_examples[1].to_string(), "Event.98");
        assert_eq!(report.invalid_utf8, 0);
    }

    #[test]
    fn scan_skips_unknown_groups_and_fixed_fields() {
        let mut event = key(50, WIRE_START_GROUP);
        event.extend(key(1, WIRE_FIXED32));
        event.extend([1, 2, 3, 4]);
        event.extend(key(50, WIRE_END_GROUP));
        event.extend(key(51, WIRE_FIXED64));
        event.extend([0; 8]);
        event.extend(len_field(3, b"reason"));
        let mut report = ScanReport::default();
        assert_eq!(
            scan(Message::CoreEvent, &event, Utf8Check::Count, &mut report),
            Ok(())
        );
        assert_eq!(report.unknown_count, 2);
    }

    #[test]
    fn scan_rejects_malformed_input() {
        let mut report = ScanReport::default();
        // Length runs past the end.
        assert_eq!(
            scan(
                Message::CoreEvent,
                &[0x1a, 0x05, b'a'],
                Utf8Check::Count,
                &mut report
            ),
            Err(WireError::Truncated)
        );
        // Known field with the wrong wire type.
        assert!(matches!(
            scan(
                Message::CoreEvent,
                &[0x18, 0x01],
                Utf8Check::Count,
                &mut report
            ),
            Err(WireError::WrongWireType { field: 3, .. })
        ));
        assert_eq!(
            scan(Message::CoreEvent, &[0x00], Utf8Check::Count, &mut report),
            Err(WireError::ZeroFieldNumber)
        );
        assert_eq!(
            scan(Message::CoreEvent, &[0x0f], Utf8Check::Count, &mut report),
            Err(WireError::BadWireType(7))
        );
        assert_eq!(
            // End-group of unknown field 50 without a start.
            scan(
                Message::CoreEvent,
                &[0x94, 0x03],
                Utf8Check::Count,
                &mut report
            ),
            Err(WireError::UnbalancedGroup)
        );
    }

    #[test]
    fn scan_limits_depth() {
        // Fields -> entry -> Fields -> ... deeper than MAX_DEPTH.
        let mut inner = Vec::new();
        for _ in 0..MAX_DEPTH {
            let entry = len_field(2, &inner);
            inner = len_field(1, &entry);
        }
        let mut report = ScanReport::default();
        assert_eq!(
            scan(Message::Fields, &inner, Utf8Check::Count, &mut report),
            Err(WireError::TooDeep)
        );
    }

    #[test]
    fn sanitize_replaces_only_invalid_strings() {
        let mut event = len_field(3, b"ok");
        event.extend(len_field(4, b"bad\xff"));
        let meta = len_field(1, b"n\xc3");
        event.extend(len_field(1, &meta));
        let mut report = ScanReport::default();
        scan(Message::CoreEvent, &event, Utf8Check::Count, &mut report).unwrap();
        assert_eq!(report.invalid_utf8, 2);

        let fixed = sanitize(Message::CoreEvent, &event).unwrap();
        let mut expected = len_field(3, b"ok");
        expected.extend(len_field(4, "bad\u{fffd}".as_bytes()));
        expected.extend(len_field(1, &len_field(1, "n\u{fffd}".as_bytes())));
        assert_eq!(fixed, expected);
        let mut again = ScanReport::default();
        scan(Message::CoreEvent, &fixed, Utf8Check::Count, &mut again).unwrap();
        assert_eq!(again.invalid_utf8, 0);
    }
}
