//! Kubernetes' JSON rendering (what `kubectl get -o json` prints) of the
//! protobuf messages shared by all Event versions: ObjectMeta and its parts,
//! ObjectReference, EventSource and timestamps.
//!
//! The JSON is written straight into a `String` as compact text by a small
//! writer ([`ObjectWriter`], [`ArrayWriter`]) rather than built as a
//! `serde_json::Value` and serialized: building the tree (a hashed map
//! insert and an allocation per key and value) was most of the decoder's
//! time. The text is byte for byte what `serde_json::to_string` prints for
//! such a tree, string escaping included (see [`push_json_string`]), except
//! for `fieldsV1`, which is copied as Go prints it rather than re-serialized
//! (see [`push_compact`]).
//!
//! Go's `encoding/json` decides which keys appear, and the keys come out in
//! Go struct field order (the order the writers here are called in):
//! * a `string`/integer field tagged `omitempty` is left out when empty/zero,
//!   one without `omitempty` is always printed;
//! * a struct-typed field is always printed, `omitempty` or not (e.g.
//!   `creationTimestamp: null`, `source: {}`);
//! * a pointer field (`*Time`, `*int64`, `*bool`, `*EventSeries`, …) is
//!   printed when the protobuf carried it, even if empty;
//! * maps print with sorted keys (prost's `BTreeMap` iterates sorted).
//!
//! gogo-protobuf writes every non-pointer field, so "empty" in a stored value
//! usually means present with an empty value, not absent; the rules above
//! treat both alike, as Go does.

use std::fmt::{self, Write as _};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::time::time_text;
use crate::proto::core::v1::{EventSource, ObjectReference};
use crate::proto::meta::v1::{Fields, FieldsV1, ManagedFieldsEntry, ObjectMeta, OwnerReference};

/// Go's ObjectMeta field order up to `resourceVersion`, used to put a
/// resourceVersion where Go would print it.
pub(crate) const FIELDS_BEFORE_RESOURCE_VERSION: [&str; 5] =
    ["name", "generateName", "namespace", "selfLink", "uid"];

/// Remarks gathered while decoding, reported in `DecodedEvent::note`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Remarks(Vec<String>);

impl Remarks {
    pub(crate) fn push(&mut self, remark: impl Into<String>) {
        self.0.push(remark.into());
    }

    /// All remarks joined with `; `, or `None` if there are none.
    pub(crate) fn into_note(self) -> Option<String> {
        if self.0.is_empty() {
            None
        } else {
            Some(self.0.join("; "))
        }
    }
}

/// Whether `serde_json` escapes `byte` in a string: `"`, `\` and the
/// control characters below U+0020 (not DEL, not U+2028/U+2029).
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Appends `text` as a JSON string, escaped exactly as
/// `serde_json::to_string` escapes it: `\"`, `\\`, `\b \f \n \r \t`, other
/// control characters as `\u00XX` (lowercase hex), nothing else.
pub(crate) fn push_json_string(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    // Almost every string needs no escape: one scan, one copy.
    let mut rest = text;
    while let Some(at) = find_escape(rest.as_bytes()) {
        // `at` is an ASCII byte, so both slices fall on char boundaries.
        out.push_str(&rest[..at]);
        push_escape(out, rest.as_bytes()[at]);
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

/// The index of the first byte of `bytes` that needs an escape. Scanning
/// is most of writing a string, so it goes eight bytes at a time (SWAR).
fn find_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = ONES * 0x80;
    const QUOTES: u64 = ONES * b'"' as u64;
    const BACKSLASHES: u64 = ONES * b'\\' as u64;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let quotes = word ^ QUOTES;
        let backslashes = word ^ BACKSLASHES;
        // `(x - ONES * n) & !x & HIGH_BITS` flags the bytes of x below n
        // (n <= 0x80): control characters in `word`, zero bytes (a match)
        // in the XORed words. A borrow can flag a byte above a flagged one
        // wrongly, never below it, so the lowest flag is exact.
        let flags = ((word.wrapping_sub(ONES * 0x20) & !word)
            | (quotes.wrapping_sub(ONES) & !quotes)
            | (backslashes.wrapping_sub(ONES) & !backslashes))
            & HIGH_BITS;
        if flags != 0 {
            // Little-endian: the lowest byte is the first one.
            return Some(offset + (flags.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let tail = chunks
        .remainder()
        .iter()
        .position(|&byte| needs_escape(byte));
    tail.map(|at| offset + at)
}

fn push_escape(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match byte {
        b'"' => out.push_str("\\\""),
        b'\\' => out.push_str("\\\\"),
        0x08 => out.push_str("\\b"),
        0x0c => out.push_str("\\f"),
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        b'\t' => out.push_str("\\t"),
        _ => {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
}

/// Writes one JSON object into a `String`: `{` when created, `}` when
/// dropped, and the commas between members. Each method writes one member.
pub(crate) struct ObjectWriter<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> ObjectWriter<'a> {
    pub(crate) fn new(out: &'a mut String) -> Self {
        out.push('{');
        ObjectWriter { out, empty: true }
    }

    fn separate(&mut self) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
    }

    /// Writes `key` and returns the buffer, to which the caller appends the
    /// member's value as JSON text (exactly one value). `key` is one of Go's
    /// JSON field names, a literal that needs no escaping; keys from the
    /// data go through [`Self::raw_entry`].
    pub(crate) fn raw(&mut self, key: &'static str) -> &mut String {
        debug_assert!(find_escape(key.as_bytes()).is_none(), "{key}");
        self.separate();
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        self.out
    }

    /// [`Self::raw`] for a map entry: `key` comes from the data, escaped.
    pub(crate) fn raw_entry(&mut self, key: &str) -> &mut String {
        self.separate();
        push_json_string(self.out, key);
        self.out.push(':');
        self.out
    }

    /// A string member.
    pub(crate) fn string(&mut self, key: &'static str, value: &str) {
        push_json_string(self.raw(key), value);
    }

    /// A map entry with a string value (labels, annotations).
    pub(crate) fn entry(&mut self, key: &str, value: &str) {
        push_json_string(self.raw_entry(key), value);
    }

    /// A string without `omitempty`: printed even when absent, as `""`.
    pub(crate) fn required(&mut self, key: &'static str, value: Option<&str>) {
        self.string(key, value.unwrap_or_default());
    }

    /// A string with `omitempty`: left out when absent or empty.
    pub(crate) fn nonempty(&mut self, key: &'static str, value: Option<&str>) {
        if let Some(text) = value.filter(|text| !text.is_empty()) {
            self.string(key, text);
        }
    }

    /// An integer member.
    pub(crate) fn int(&mut self, key: &'static str, value: i64) {
        // Writing to a String cannot fail.
        let _ = write!(self.raw(key), "{value}");
    }

    /// An integer with `omitempty`: left out when absent or zero.
    pub(crate) fn nonzero(&mut self, key: &'static str, value: Option<i64>) {
        if let Some(number) = value.filter(|&n| n != 0) {
            self.int(key, number);
        }
    }

    pub(crate) fn bool(&mut self, key: &'static str, value: bool) {
        self.raw(key).push_str(if value { "true" } else { "false" });
    }

    pub(crate) fn null(&mut self, key: &'static str) {
        self.raw(key).push_str("null");
    }

    /// A timestamp: its RFC 3339 text, or `null` for the zero time.
    pub(crate) fn time(&mut self, key: &'static str, text: Option<&str>) {
        match text {
            Some(text) => self.string(key, text),
            None => self.null(key),
        }
    }

    /// A nested object, closed when the returned writer is dropped.
    pub(crate) fn object(&mut self, key: &'static str) -> ObjectWriter<'_> {
        ObjectWriter::new(self.raw(key))
    }

    /// A nested array, closed when the returned writer is dropped.
    pub(crate) fn array(&mut self, key: &'static str) -> ArrayWriter<'_> {
        ArrayWriter::new(self.raw(key))
    }
}

impl Drop for ObjectWriter<'_> {
    fn drop(&mut self) {
        self.out.push('}');
    }
}

/// Writes one JSON array into a `String`: `[` when created, `]` when
/// dropped, and the commas between elements.
pub(crate) struct ArrayWriter<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> ArrayWriter<'a> {
    fn new(out: &'a mut String) -> Self {
        out.push('[');
        ArrayWriter { out, empty: true }
    }

    /// Returns the buffer, to which the caller appends the next element.
    fn element(&mut self) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out
    }

    pub(crate) fn string(&mut self, value: &str) {
        push_json_string(self.element(), value);
    }

    /// An object element, closed when the returned writer is dropped.
    pub(crate) fn object(&mut self) -> ObjectWriter<'_> {
        ObjectWriter::new(self.element())
    }
}

impl Drop for ArrayWriter<'_> {
    fn drop(&mut self) {
        self.out.push(']');
    }
}

/// `metav1.ObjectMeta`, written into `out`. With `resource_version`,
/// `resourceVersion` is set to it, as the API server does on read (the etcd
/// mod_revision). Returns the creationTimestamp text, formatted once for the
/// JSON and the column.
pub(crate) fn object_meta(
    mut out: ObjectWriter<'_>,
    meta: &ObjectMeta,
    resource_version: Option<i64>,
    remarks: &mut Remarks,
) -> Option<String> {
    out.nonempty("name", meta.name.as_deref());
    out.nonempty("generateName", meta.generate_name.as_deref());
    out.nonempty("namespace", meta.namespace.as_deref());
    out.nonempty("selfLink", meta.self_link.as_deref());
    out.nonempty("uid", meta.uid.as_deref());
    match resource_version {
        Some(revision) => {
            // Digits need no escaping. (Writing to a String cannot fail.)
            let _ = write!(out.raw("resourceVersion"), "\"{revision}\"");
        }
        None => out.nonempty("resourceVersion", meta.resource_version.as_deref()),
    }
    out.nonzero("generation", meta.generation);
    let creation_timestamp = meta.creation_timestamp.as_ref().and_then(time_text);
    out.time("creationTimestamp", creation_timestamp.as_deref());
    if let Some(deletion) = &meta.deletion_timestamp {
        out.time("deletionTimestamp", time_text(deletion).as_deref());
    }
    if let Some(grace) = meta.deletion_grace_period_seconds {
        out.int("deletionGracePeriodSeconds", grace);
    }
    if !meta.labels.is_empty() {
        let mut labels = out.object("labels");
        for (key, value) in &meta.labels {
            labels.entry(key, value);
        }
    }
    if !meta.annotations.is_empty() {
        let mut annotations = out.object("annotations");
        for (key, value) in &meta.annotations {
            annotations.entry(key, value);
        }
    }
    if !meta.owner_references.is_empty() {
        let mut owners = out.array("ownerReferences");
        for owner in &meta.owner_references {
            owner_reference(owners.object(), owner);
        }
    }
    if !meta.finalizers.is_empty() {
        let mut finalizers = out.array("finalizers");
        for finalizer in &meta.finalizers {
            finalizers.string(finalizer);
        }
    }
    // Dropped from ObjectMeta in Kubernetes 1.25; older servers wrote it.
    out.nonempty("clusterName", meta.cluster_name.as_deref());
    if !meta.managed_fields.is_empty() {
        let mut entries = out.array("managedFields");
        for (index, entry) in meta.managed_fields.iter().enumerate() {
            managed_fields_entry(entries.object(), entry, index, remarks);
        }
    }
    creation_timestamp
}

/// `metav1.OwnerReference`: apiVersion, kind, name and uid have no
/// `omitempty`; controller and blockOwnerDeletion are `*bool`.
fn owner_reference(mut out: ObjectWriter<'_>, owner: &OwnerReference) {
    out.required("apiVersion", owner.api_version.as_deref());
    out.required("kind", owner.kind.as_deref());
    out.required("name", owner.name.as_deref());
    out.required("uid", owner.uid.as_deref());
    if let Some(controller) = owner.controller {
        out.bool("controller", controller);
    }
    if let Some(block) = owner.block_owner_deletion {
        out.bool("blockOwnerDeletion", block);
    }
}

/// `metav1.ManagedFieldsEntry`, including the pre-1.18 `fields` trie.
fn managed_fields_entry(
    mut out: ObjectWriter<'_>,
    entry: &ManagedFieldsEntry,
    index: usize,
    remarks: &mut Remarks,
) {
    out.nonempty("manager", entry.manager.as_deref());
    out.nonempty("operation", entry.operation.as_deref());
    out.nonempty("apiVersion", entry.api_version.as_deref());
    if let Some(time) = &entry.time {
        out.time("time", time_text(time).as_deref());
    }
    if let Some(fields) = &entry.fields {
        fields_trie(out.raw("fields"), fields);
    }
    out.nonempty("fieldsType", entry.fields_type.as_deref());
    if let Some(fields_v1) = &entry.fields_v1 {
        fields_v1_json(out.raw("fieldsV1"), fields_v1, index, remarks);
    }
    out.nonempty("subresource", entry.subresource.as_deref());
}

/// Pre-1.18 `metav1.Fields`: its MarshalJSON prints the map itself, and a
/// nil map (an entry with no children) as `null`, e.g. `{"f:a":{"f:b":null}}`.
fn fields_trie(out: &mut String, fields: &Fields) {
    if fields.map.is_empty() {
        out.push_str("null");
        return;
    }
    let mut children = ObjectWriter::new(out);
    for (key, child) in &fields.map {
        fields_trie(children.raw_entry(key), child);
    }
}

/// `metav1.FieldsV1`: `raw` holds JSON text that Go prints verbatim, compacted
/// (see [`push_compact`]); a missing `raw` prints `null`. Text that is not
/// JSON (Go's encoder would fail the whole object) is kept as a JSON string
/// and remarked on.
fn fields_v1_json(out: &mut String, fields_v1: &FieldsV1, index: usize, remarks: &mut Remarks) {
    let Some(raw) = &fields_v1.raw else {
        out.push_str("null");
        return;
    };
    match std::str::from_utf8(raw) {
        Ok(json) if serde_json::from_str::<JsonCheck>(json).is_ok() => push_compact(out, json),
        _ => {
            remarks.push(format!(
                "metadata.managedFields[{index}].fieldsV1 is not valid JSON; kept as a string"
            ));
            push_json_string(out, &String::from_utf8_lossy(raw));
        }
    }
}

/// Appends valid JSON `json` without the whitespace outside its strings,
/// everything else byte for byte: Go's `json.Compact` (which `encoding/json`
/// applies to raw JSON it embeds) without HTML escaping, which serde_json
/// does not do anywhere else either.
fn push_compact(out: &mut String, json: &str) {
    // API servers store it compact: then it has no byte up to b' ' at all
    // (valid JSON has no raw control characters) and is copied in one go.
    // A `fold`, not `any`: without an early exit the scan vectorizes.
    if !json
        .bytes()
        .fold(false, |found, byte| found | (byte <= b' '))
    {
        out.push_str(json);
        return;
    }
    let mut in_string = false;
    let mut escaped = false;
    let mut start = 0;
    for (at, byte) in json.bytes().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if byte == b'"' {
            in_string = true;
        } else if matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            // An ASCII byte: the slice ends on a char boundary.
            out.push_str(&json[start..at]);
            start = at + 1;
        }
    }
    out.push_str(&json[start..]);
}

/// Accepts exactly the JSON that parses into a `serde_json::Value` (same
/// nesting limit, number range and `\u` surrogate checks) without building
/// it: the fieldsV1 accepted are the ones accepted when this module built
/// Values, and serde_json-based readers of our output can read them back.
/// (`serde::de::IgnoredAny` skips those checks.)
struct JsonCheck;

impl<'de> Deserialize<'de> for JsonCheck {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonCheck)
    }
}

impl<'de> Visitor<'de> for JsonCheck {
    type Value = JsonCheck;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<JsonCheck>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<JsonCheck, JsonCheck>()?.is_some() {}
        Ok(self)
    }
}

/// `core/v1.ObjectReference`: every field `omitempty`.
pub(crate) fn object_reference(mut out: ObjectWriter<'_>, reference: &ObjectReference) {
    out.nonempty("kind", reference.kind.as_deref());
    out.nonempty("namespace", reference.namespace.as_deref());
    out.nonempty("name", reference.name.as_deref());
    out.nonempty("uid", reference.uid.as_deref());
    out.nonempty("apiVersion", reference.api_version.as_deref());
    out.nonempty("resourceVersion", reference.resource_version.as_deref());
    out.nonempty("fieldPath", reference.field_path.as_deref());
}

/// `core/v1.EventSource`: both fields `omitempty`.
pub(crate) fn event_source(mut out: ObjectWriter<'_>, source: &EventSource) {
    out.nonempty("component", source.component.as_deref());
    out.nonempty("host", source.host.as_deref());
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::Value;

    use super::*;
    use crate::proto::meta::v1::Time;

    /// What a writer function writes into a fresh object.
    fn written(write: impl FnOnce(ObjectWriter<'_>)) -> String {
        let mut out = String::new();
        write(ObjectWriter::new(&mut out));
        out
    }

    fn json_string(text: &str) -> String {
        let mut out = String::new();
        push_json_string(&mut out, text);
        out
    }

    fn fields_v1(raw: Option<&[u8]>, remarks: &mut Remarks) -> String {
        let mut out = String::new();
        let fields_v1 = FieldsV1 {
            raw: raw.map(<[u8]>::to_vec),
        };
        fields_v1_json(&mut out, &fields_v1, 3, remarks);
        out
    }

    #[test]
    fn strings_are_escaped_exactly_like_serde_json() {
        let mut samples: Vec<String> = (0..=0x7f_u8).map(|b| char::from(b).to_string()).collect();
        let all_ascii: String = (0..=0x7f_u8).map(char::from).collect();
        samples.push(all_ascii.clone());
        samples.push(all_ascii.repeat(3));
        for text in [
            "",
            "plain text, no escapes at all",
            r#"quotes " and "" backslashes \ \\ \" "#,
            "tabs\tnew\nlines\r\n and \u{8}\u{c}\u{0}\u{1f}\u{7f}",
            "é, ü, 日本語, 😀, \u{fffd}, \u{feff}",
            "line\u{2028}and paragraph\u{2029}separators",
            "<html> & 'single'",
            "eight by\"eight by\\eight\n\u{1}abcdefgh",
        ] {
            samples.push(text.to_owned());
        }
        // Every escape at every offset of a SWAR word and its tail.
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}', 'é'] {
            for at in 0..20 {
                let mut text = "x".repeat(20);
                text.insert(at, special);
                samples.push(text);
            }
        }
        for text in &samples {
            assert_eq!(
                json_string(text),
                serde_json::to_string(text).unwrap(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn escape_scan_finds_the_first_escape() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            // Mostly harmless bytes, some escapes, some non-ASCII.
            let bytes: Vec<u8> = (0..len)
                .map(|_| match next() % 16 {
                    0 => b'"',
                    1 => b'\\',
                    2 => (next() % 0x20) as u8,
                    3 => 0x80 | next() as u8,
                    _ => 0x20 + (next() % 0x5f) as u8,
                })
                .collect();
            assert_eq!(
                find_escape(&bytes),
                bytes.iter().position(|&b| needs_escape(b)),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn writers_place_commas_and_brackets() {
        let text = written(|mut out| {
            out.string("a", "x");
            out.object("empty");
            {
                let mut list = out.array("list");
                list.string("s");
                list.object().int("n", -1);
                list.object();
            }
            out.array("none");
            out.entry("k\"ey", "v");
            out.raw("raw").push_str("[1,2]");
            out.required("required", None);
            out.nonempty("omitted", Some(""));
            out.nonzero("omitted", Some(0));
            out.bool("yes", true);
            out.time("null_time", None);
            out.time("time", Some("2024-05-01T10:00:00Z"));
        });
        assert_eq!(
            text,
            r#"{"a":"x","empty":{},"list":["s",{"n":-1},{}],"none":[],"k\"ey":"v","raw":[1,2],"required":"","yes":true,"null_time":null,"time":"2024-05-01T10:00:00Z"}"#
        );
        assert_eq!(written(|_| {}), "{}");
    }

    #[test]
    fn empty_object_meta_prints_like_go() {
        let mut remarks = Remarks::default();
        let text = written(|out| {
            object_meta(out, &ObjectMeta::default(), None, &mut remarks);
        });
        assert_eq!(text, r#"{"creationTimestamp":null}"#);
        let text = written(|out| {
            object_meta(out, &ObjectMeta::default(), Some(42), &mut remarks);
        });
        assert_eq!(text, r#"{"resourceVersion":"42","creationTimestamp":null}"#);
        assert_eq!(remarks.into_note(), None);
    }

    #[test]
    fn present_but_empty_strings_are_omitted() {
        let meta = ObjectMeta {
            name: Some("a".to_owned()),
            generate_name: Some(String::new()),
            cluster_name: Some(String::new()),
            generation: Some(0),
            deletion_timestamp: Some(Time::default()),
            deletion_grace_period_seconds: Some(0),
            ..Default::default()
        };
        let text = written(|out| {
            object_meta(out, &meta, None, &mut Remarks::default());
        });
        assert_eq!(
            text,
            r#"{"name":"a","creationTimestamp":null,"deletionTimestamp":null,"deletionGracePeriodSeconds":0}"#
        );
    }

    #[test]
    fn object_meta_maps_and_lists() {
        let meta = ObjectMeta {
            labels: BTreeMap::from([("b".into(), "2".into()), ("a\n".into(), "1".into())]),
            annotations: BTreeMap::from([("note".into(), "\"quoted\"".into())]),
            finalizers: vec!["f1".into(), "f\\2".into()],
            creation_timestamp: Some(Time {
                seconds: Some(1_714_557_600),
                nanos: None,
            }),
            ..Default::default()
        };
        let mut creation = None;
        let text = written(|out| {
            creation = object_meta(out, &meta, None, &mut Remarks::default());
        });
        assert_eq!(creation.as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(
            text,
            r#"{"creationTimestamp":"2024-05-01T10:00:00Z","labels":{"a\n":"1","b":"2"},"annotations":{"note":"\"quoted\""},"finalizers":["f1","f\\2"]}"#
        );
    }

    #[test]
    fn owner_reference_required_fields_are_always_printed() {
        let owner = OwnerReference {
            controller: Some(false),
            ..Default::default()
        };
        assert_eq!(
            written(|out| owner_reference(out, &owner)),
            r#"{"apiVersion":"","kind":"","name":"","uid":"","controller":false}"#
        );
    }

    #[test]
    fn old_fields_trie_prints_nil_maps_as_null() {
        let leaf = Fields::default();
        let middle = Fields {
            map: BTreeMap::from([
                ("19".to_owned(), leaf),
                ("\"".to_owned(), Fields::default()),
            ]),
        };
        let top = Fields {
            map: BTreeMap::from([("18".to_owned(), middle)]),
        };
        let mut out = String::new();
        fields_trie(&mut out, &top);
        assert_eq!(out, r#"{"18":{"\"":null,"19":null}}"#);
    }

    #[test]
    fn fields_v1_embeds_raw_json_compacted() {
        let mut remarks = Remarks::default();
        // Already compact: copied as it is.
        let raw = br#"{"f:metadata":{"f:labels":{".":{}}}}"#;
        assert_eq!(fields_v1(Some(raw), &mut remarks).as_bytes(), raw);
        // Whitespace outside strings goes, inside strings (escaped quotes
        // included) it stays; escapes, number spellings and duplicate keys
        // stay as Go prints them.
        let raw = b" {\n\t\"f:a b\" : { \"k:{\\\"x \\\": 1e2 }\" : {} } ,\r\n \"\\u0041\\/\":[ 1.0 , -0 ],\"d\":1,\"d\":2 } \n";
        assert_eq!(
            fields_v1(Some(raw), &mut remarks),
            r#"{"f:a b":{"k:{\"x \": 1e2 }":{}},"\u0041\/":[1.0,-0],"d":1,"d":2}"#
        );
        assert_eq!(fields_v1(Some(b"\"\xc3\xa9 \""), &mut remarks), "\"é \"");
        // No raw: null.
        assert_eq!(fields_v1(None, &mut remarks), "null");
        assert_eq!(remarks.into_note(), None);
    }

    #[test]
    fn fields_v1_that_is_not_json_is_kept_as_a_string() {
        for (raw, kept) in [
            (b"{nope".as_slice(), r#""{nope""#),
            (b"", r#""""#),
            (b"{} {}", r#""{} {}""#),
            (b"{\"a\":\"\xff\"}", "\"{\\\"a\\\":\\\"\u{fffd}\\\"}\""),
            (b"[\"\x01\"]", r#""[\"\u0001\"]""#),
        ] {
            let mut remarks = Remarks::default();
            assert_eq!(fields_v1(Some(raw), &mut remarks), kept, "{raw:?}");
            assert_eq!(
                remarks.into_note().as_deref(),
                Some("metadata.managedFields[3].fieldsV1 is not valid JSON; kept as a string")
            );
        }
    }

    /// Accepted fieldsV1 is what `serde_json::Value` accepts, as when this
    /// module built Values: its nesting limit, number range and surrogate
    /// checks included.
    #[test]
    fn fields_v1_accepts_what_a_value_accepts() {
        let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let samples = [
            (deep(127), true),
            (deep(128), false),
            ("1e308".to_owned(), true),
            ("1e400".to_owned(), false),
            ("-1e400".to_owned(), false),
            ("123456789012345678901234567890".to_owned(), true),
            (r#""\ud83d\ude00""#.to_owned(), true),
            (r#""\ud800""#.to_owned(), false),
            (r#""\udc00x""#.to_owned(), false),
            (r#"{"a":1,}"#.to_owned(), false),
            ("[01]".to_owned(), false),
            ("nul".to_owned(), false),
            ("true".to_owned(), true),
            (r#"{"a":[null,false,{"b":"\t"}]}"#.to_owned(), true),
            ("{\"a\":\"tab\tinside\"}".to_owned(), false),
        ];
        for (json, valid) in samples {
            assert_eq!(
                serde_json::from_str::<Value>(&json).is_ok(),
                valid,
                "{json}"
            );
            let mut remarks = Remarks::default();
            let text = fields_v1(Some(json.as_bytes()), &mut remarks);
            assert_eq!(remarks.into_note().is_none(), valid, "{json}");
            if valid {
                assert_eq!(text, json);
            }
        }
    }

    #[test]
    fn references_and_sources_omit_empty_fields() {
        let text = written(|out| object_reference(out, &ObjectReference::default()));
        assert_eq!(text, "{}");
        let source = EventSource {
            component: Some("kubelet".to_owned()),
            host: Some(String::new()),
        };
        assert_eq!(
            written(|out| event_source(out, &source)),
            r#"{"component":"kubelet"}"#
        );
    }
}
