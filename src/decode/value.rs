//! One stored value → a [`DecodedEvent`]: the encoding detected, the
//! `runtime.Unknown` envelope opened, the Event message decoded.

use super::decoded::{DecodedEvent, Encoding};
use super::envelope::{self, Framing};
use super::event::{self, EventSchema, TypeMeta};
use super::json::Remarks;
use super::stored_json;
use super::wire::{self, Message};

/// Test helper: `object` text parsed back (keys keep their order).
#[cfg(test)]
pub(crate) fn json_value(object: &str) -> serde_json::Value {
    serde_json::from_str(object).expect("object is JSON")
}

/// Parses an Event's JSON text ([`DecodedEvent::object`]) back. A
/// managedFields `fieldsV1` is accepted up to serde_json's nesting limit
/// and sits four levels deep in the Event, so the whole text may nest a few
/// levels past that limit: it is lifted here (the depth stays bounded).
pub fn parse_object(text: &str) -> serde_json::Result<serde_json::Value> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.disable_recursion_limit();
    let value = serde::Deserialize::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Decodes one stored Event value. Never panics, whatever the bytes.
///
/// `resource_version`: when `Some`, `metadata.resourceVersion` in `object` is
/// set to it, as the API server does on read (it is the etcd mod_revision);
/// when `None` the object keeps what the bytes hold (API servers store none).
pub fn decode_event(value: &[u8], resource_version: Option<i64>) -> DecodedEvent {
    match envelope::classify(value) {
        Framing::Protobuf(body) => decode_protobuf(body, resource_version),
        Framing::Json => stored_json::decode_json_event(value, resource_version),
        Framing::Encrypted(provider) => {
            DecodedEvent::undecoded(Encoding::Encrypted, None, None, provider)
        }
        Framing::Unrecognized(reason) => {
            DecodedEvent::undecoded(Encoding::Unknown, None, None, reason)
        }
    }
}

/// Decodes `runtime.Unknown` (the bytes after `k8s\0`) holding an Event.
fn decode_protobuf(body: &[u8], resource_version: Option<i64>) -> DecodedEvent {
    let envelope = match envelope::parse_envelope(body) {
        Ok(envelope) => envelope,
        Err(err) => {
            let reason = format!("malformed protobuf envelope: {}", err.source);
            return DecodedEvent::undecoded(Encoding::Unknown, err.api_version, err.kind, reason);
        }
    };
    let api_version = envelope.api_version;
    let kind = envelope.kind;
    let Some(schema) = EventSchema::for_type(api_version.as_deref(), kind.as_deref()) else {
        let reason = format!(
            "protobuf object of kind {} is not an Event (apiVersion {})",
            kind.as_deref().unwrap_or("<none>"),
            api_version.as_deref().unwrap_or("<none>"),
        );
        return DecodedEvent::undecoded(Encoding::Unknown, api_version, kind, reason);
    };

    let type_meta = TypeMeta {
        api_version: api_version.as_deref(),
        kind: kind.as_deref(),
    };
    let mut remarks = Remarks::default();
    let decoded = match schema {
        EventSchema::Core => {
            wire::decode_message(Message::CoreEvent, envelope.raw).map(|(event, report)| {
                let decoded = event::core_event(event, &type_meta, resource_version, &mut remarks);
                (decoded, report)
            })
        }
        EventSchema::EventsV1 | EventSchema::EventsV1beta1 => {
            wire::decode_message(Message::EventsEvent, envelope.raw).map(|(event, report)| {
                let decoded =
                    event::events_event(event, schema, &type_meta, resource_version, &mut remarks);
                (decoded, report)
            })
        }
    };
    let ((fields, object), mut report) = match decoded {
        Ok(decoded) => decoded,
        Err(err) => {
            let reason = format!(
                "malformed protobuf {} {}: {err}",
                api_version.as_deref().unwrap_or_default(),
                kind.as_deref().unwrap_or_default(),
            );
            return DecodedEvent::undecoded(Encoding::Unknown, api_version, kind, reason);
        }
    };

    report.unknown_count += envelope.report.unknown_count;
    report.invalid_utf8 += envelope.report.invalid_utf8;
    let mut examples = envelope.report.unknown_examples;
    examples.extend(report.unknown_examples.iter().copied());
    if report.unknown_count > 0 {
        let listed: Vec<String> = examples.iter().take(4).map(ToString::to_string).collect();
        let more = if report.unknown_count > listed.len() {
            ", …"
        } else {
            ""
        };
        remarks.push(format!(
            "unknown protobuf fields (message.field): {}{more}",
            listed.join(", ")
        ));
    }
    if report.invalid_utf8 > 0 {
        remarks.push(format!(
            "{} string field(s) held invalid UTF-8, replaced with U+FFFD",
            report.invalid_utf8
        ));
    }
    for (name, value) in [
        ("contentEncoding", &envelope.content_encoding),
        ("contentType", &envelope.content_type),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            remarks.push(format!("envelope {name} {value:?} ignored"));
        }
    }

    DecodedEvent {
        encoding: Encoding::Protobuf,
        api_version,
        kind,
        fields,
        object: Some(object),
        unknown_fields: report.unknown_count > 0,
        note: remarks.into_note(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prost::Message as _;
    use serde_json::{json, Value};

    use super::*;
    use crate::decode::{decode_object_meta, encode_stored_event, EventFields};
    use crate::proto;
    use crate::proto::core::v1::{EventSeries, EventSource, ObjectReference};
    use crate::proto::meta::v1::{FieldsV1, ManagedFieldsEntry, MicroTime, ObjectMeta, Time};

    fn s(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    fn time(seconds: i64) -> Option<Time> {
        Some(Time {
            seconds: Some(seconds),
            nanos: Some(0),
        })
    }

    /// A kubelet BackOff Event as an API server stores it: gogo writes every
    /// non-pointer field, so empty strings and empty timestamps are present.
    fn kubelet_event() -> proto::core::v1::Event {
        proto::core::v1::Event {
            metadata: Some(ObjectMeta {
                name: s("web-7d9f.17c3a9b2e1f0d4c8"),
                generate_name: s(""),
                namespace: s("prod"),
                self_link: s(""),
                uid: s("5b0e1c9e-4a8f-4d2b-9c61-0f1e2d3c4b5a"),
                resource_version: s(""),
                generation: Some(0),
                creation_timestamp: time(1_714_557_600),
                managed_fields: vec![ManagedFieldsEntry {
                    manager: s("kubelet"),
                    operation: s("Update"),
                    api_version: s("v1"),
                    time: time(1_714_557_900),
                    fields_type: s("FieldsV1"),
                    fields_v1: Some(FieldsV1 {
                        raw: Some(
                            br#"{"f:count":{},"f:message":{},"f:source":{"f:component":{}}}"#
                                .to_vec(),
                        ),
                    }),
                    subresource: s(""),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            involved_object: Some(ObjectReference {
                kind: s("Pod"),
                namespace: s("prod"),
                name: s("web-7d9f"),
                uid: s("0b7e"),
                api_version: s("v1"),
                resource_version: s("123456"),
                field_path: s("spec.containers{web}"),
            }),
            reason: s("BackOff"),
            message: s("Back-off restarting failed container"),
            source: Some(EventSource {
                component: s("kubelet"),
                host: s("node-1"),
            }),
            first_timestamp: time(1_714_557_600),
            last_timestamp: time(1_714_557_900),
            count: Some(42),
            r#type: s("Warning"),
            event_time: Some(MicroTime::default()),
            series: None,
            action: s(""),
            related: None,
            reporting_component: s("kubelet"),
            reporting_instance: s("node-1"),
        }
    }

    /// A fieldsV1 at the deepest nesting accepted makes the Event text nest
    /// past serde_json's default limit; `parse_object` still reads it.
    #[test]
    fn deepest_fields_v1_parses_back() {
        let mut event = kubelet_event();
        let depth = 127;
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        if let Some(meta) = event.metadata.as_mut() {
            meta.managed_fields[0].fields_v1 = Some(FieldsV1 {
                raw: Some(deep.into_bytes()),
            });
        }
        let decoded = decode_event(&encode_stored_event(&event), Some(7));
        assert_eq!(decoded.note, None);
        let text = decoded.object.expect("object");
        assert!(serde_json::from_str::<Value>(&text).is_err());
        let object = parse_object(&text).expect("parses back");
        assert_eq!(object["metadata"]["resourceVersion"], "7");
        assert!(
            parse_object(&format!("{text} x")).is_err(),
            "trailing input"
        );
    }

    fn expected_kubelet_fields() -> EventFields {
        EventFields {
            namespace: s("prod"),
            name: s("web-7d9f.17c3a9b2e1f0d4c8"),
            uid: s("5b0e1c9e-4a8f-4d2b-9c61-0f1e2d3c4b5a"),
            creation_timestamp: s("2024-05-01T10:00:00Z"),
            reason: s("BackOff"),
            message: s("Back-off restarting failed container"),
            type_: s("Warning"),
            count: Some(42),
            first_timestamp: s("2024-05-01T10:00:00Z"),
            last_timestamp: s("2024-05-01T10:05:00Z"),
            reporting_component: s("kubelet"),
            reporting_instance: s("node-1"),
            source_component: s("kubelet"),
            source_host: s("node-1"),
            involved_kind: s("Pod"),
            involved_namespace: s("prod"),
            involved_name: s("web-7d9f"),
            involved_uid: s("0b7e"),
            involved_api_version: s("v1"),
            involved_resource_version: s("123456"),
            involved_field_path: s("spec.containers{web}"),
            ..EventFields::default()
        }
    }

    /// `k8s\0` + Unknown with the given type and raw object.
    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = proto::runtime::Unknown {
            type_meta: Some(proto::runtime::TypeMeta {
                api_version: s(api_version),
                kind: s(kind),
            }),
            raw: Some(raw),
            content_encoding: s(""),
            content_type: s(""),
        };
        [b"k8s\0".as_slice(), &unknown.encode_to_vec()].concat()
    }

    #[test]
    fn protobuf_core_event() {
        let decoded = decode_event(&encode_stored_event(&kubelet_event()), Some(5_000_123));
        assert_eq!(decoded.encoding, Encoding::Protobuf);
        assert_eq!(decoded.api_version.as_deref(), Some("v1"));
        assert_eq!(decoded.kind.as_deref(), Some("Event"));
        assert!(!decoded.unknown_fields);
        assert_eq!(decoded.note, None);
        assert_eq!(decoded.fields, expected_kubelet_fields());
        let expected = json!({
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {
                "name": "web-7d9f.17c3a9b2e1f0d4c8",
                "namespace": "prod",
                "uid": "5b0e1c9e-4a8f-4d2b-9c61-0f1e2d3c4b5a",
                "resourceVersion": "5000123",
                "creationTimestamp": "2024-05-01T10:00:00Z",
                "managedFields": [{
                    "manager": "kubelet",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2024-05-01T10:05:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:count": {}, "f:message": {}, "f:source": {"f:component": {}}}
                }]
            },
            "involvedObject": {
                "kind": "Pod", "namespace": "prod", "name": "web-7d9f", "uid": "0b7e",
                "apiVersion": "v1", "resourceVersion": "123456", "fieldPath": "spec.containers{web}"
            },
            "reason": "BackOff",
            "message": "Back-off restarting failed container",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2024-05-01T10:00:00Z",
            "lastTimestamp": "2024-05-01T10:05:00Z",
            "count": 42,
            "type": "Warning",
            "eventTime": null,
            "reportingComponent": "kubelet",
            "reportingInstance": "node-1"
        });
        // Compared as text: key order included.
        assert_eq!(decoded.object.unwrap(), expected.to_string());
    }

    fn events_event() -> proto::events::v1::Event {
        proto::events::v1::Event {
            metadata: Some(ObjectMeta {
                name: s("web.17c3"),
                namespace: s("prod"),
                uid: s("e-1"),
                creation_timestamp: time(1_714_557_600),
                ..Default::default()
            }),
            event_time: Some(MicroTime {
                seconds: Some(1_714_557_600),
                nanos: Some(123_456_789),
            }),
            series: Some(proto::events::v1::EventSeries {
                count: Some(3),
                last_observed_time: Some(MicroTime {
                    seconds: Some(1_714_557_660),
                    nanos: Some(1_000),
                }),
                state: None,
            }),
            reporting_controller: s("deployment-controller"),
            reporting_instance: s("kcm-1"),
            action: s("Scale"),
            reason: s("ScalingReplicaSet"),
            regarding: Some(ObjectReference {
                kind: s("Deployment"),
                namespace: s("prod"),
                name: s("web"),
                uid: s("d-1"),
                api_version: s("apps/v1"),
                resource_version: s("77"),
                field_path: s(""),
            }),
            related: Some(ObjectReference {
                kind: s("ReplicaSet"),
                namespace: s("prod"),
                name: s("web-7d9f"),
                uid: s("rs-1"),
                ..Default::default()
            }),
            note: s("Scaled up replica set web-7d9f to 3"),
            r#type: s("Normal"),
            deprecated_source: Some(EventSource::default()),
            deprecated_first_timestamp: Some(Time::default()),
            deprecated_last_timestamp: Some(Time::default()),
            deprecated_count: Some(0),
        }
    }

    #[test]
    fn protobuf_events_k8s_io_events() {
        for api_version in ["events.k8s.io/v1", "events.k8s.io/v1beta1"] {
            let value = envelope(api_version, "Event", events_event().encode_to_vec());
            let decoded = decode_event(&value, Some(9));
            assert_eq!(decoded.encoding, Encoding::Protobuf, "{api_version}");
            assert_eq!(decoded.api_version.as_deref(), Some(api_version));
            assert_eq!(decoded.note, None);
            assert_eq!(
                decoded.fields,
                EventFields {
                    namespace: s("prod"),
                    name: s("web.17c3"),
                    uid: s("e-1"),
                    creation_timestamp: s("2024-05-01T10:00:00Z"),
                    reason: s("ScalingReplicaSet"),
                    message: s("Scaled up replica set web-7d9f to 3"),
                    type_: s("Normal"),
                    event_time: s("2024-05-01T10:00:00.123456Z"),
                    series_count: Some(3),
                    series_last_observed_time: s("2024-05-01T10:01:00.000001Z"),
                    action: s("Scale"),
                    reporting_component: s("deployment-controller"),
                    reporting_instance: s("kcm-1"),
                    involved_kind: s("Deployment"),
                    involved_namespace: s("prod"),
                    involved_name: s("web"),
                    involved_uid: s("d-1"),
                    involved_api_version: s("apps/v1"),
                    involved_resource_version: s("77"),
                    related_kind: s("ReplicaSet"),
                    related_namespace: s("prod"),
                    related_name: s("web-7d9f"),
                    related_uid: s("rs-1"),
                    ..EventFields::default()
                }
            );
            let object = json_value(&decoded.object.unwrap());
            assert_eq!(object["apiVersion"], json!(api_version));
            assert_eq!(object["note"], json!("Scaled up replica set web-7d9f to 3"));
            assert_eq!(object["deprecatedFirstTimestamp"], Value::Null);
            assert_eq!(object["deprecatedSource"], json!({}));
            assert_eq!(object.get("deprecatedCount"), None);
            assert_eq!(object["metadata"]["resourceVersion"], json!("9"));
        }
    }

    #[test]
    fn json_stored_event() {
        let value = br#"{"kind":"Event","apiVersion":"v1","metadata":{"name":"a.1","namespace":"ns"},"involvedObject":{"kind":"Node","name":"n1"},"reason":"Rebooted","count":1}"#;
        let decoded = decode_event(value, Some(77));
        assert_eq!(decoded.encoding, Encoding::Json);
        assert_eq!(
            decoded.fields,
            EventFields {
                namespace: s("ns"),
                name: s("a.1"),
                reason: s("Rebooted"),
                count: Some(1),
                involved_kind: s("Node"),
                involved_name: s("n1"),
                ..EventFields::default()
            }
        );
        assert_eq!(
            json_value(&decoded.object.unwrap())["metadata"]["resourceVersion"],
            json!("77")
        );
    }

    #[test]
    fn encrypted_values_name_their_provider() {
        for (value, provider) in [
            (
                b"k8s:enc:aescbc:v1:key1:\x01\x02\x03".as_slice(),
                "aescbc:v1:key1",
            ),
            (b"k8s:enc:aesgcm:v1:key2:\x01\x02\x03", "aesgcm:v1:key2"),
            (b"k8s:enc:secretbox:v1:key3:\x01\x02", "secretbox:v1:key3"),
            (
                b"k8s:enc:kms:v1:kms-plugin:\x00\x10abc",
                "kms:v1:kms-plugin",
            ),
            (
                b"k8s:enc:kms:v2:kms-v2-plugin:\x0a\x03abc",
                "kms:v2:kms-v2-plugin",
            ),
        ] {
            let decoded = decode_event(value, Some(1));
            assert_eq!(
                decoded,
                DecodedEvent {
                    encoding: Encoding::Encrypted,
                    api_version: None,
                    kind: None,
                    fields: EventFields::default(),
                    object: None,
                    unknown_fields: false,
                    note: s(provider),
                }
            );
        }
    }

    #[test]
    fn truncated_protobuf_is_unknown_with_reason() {
        let value = encode_stored_event(&kubelet_event());
        let decoded = decode_event(&value[..value.len() - 40], Some(1));
        assert_eq!(decoded.encoding, Encoding::Unknown);
        assert_eq!(decoded.api_version.as_deref(), Some("v1"));
        assert_eq!(decoded.kind.as_deref(), Some("Event"));
        assert_eq!(decoded.object, None);
        assert_eq!(decoded.fields, EventFields::default());
        assert_eq!(
            decoded.note.as_deref(),
            Some(
                "malformed protobuf envelope: truncated: a field runs past the end of its message"
            )
        );

        // Envelope intact, Event inside cut short.
        let mut raw = kubelet_event().encode_to_vec();
        raw.truncate(raw.len() - 10);
        let decoded = decode_event(&envelope("v1", "Event", raw), None);
        assert_eq!(decoded.encoding, Encoding::Unknown);
        assert_eq!(
            decoded.note.as_deref(),
            Some(
                "malformed protobuf v1 Event: truncated: a field runs past the end of its message"
            )
        );
    }

    #[test]
    fn wrong_kind_is_unknown_with_reason() {
        let decoded = decode_event(&envelope("v1", "Pod", vec![0x0a, 0x00]), Some(1));
        assert_eq!(
            decoded,
            DecodedEvent {
                encoding: Encoding::Unknown,
                api_version: s("v1"),
                kind: s("Pod"),
                fields: EventFields::default(),
                object: None,
                unknown_fields: false,
                note: s("protobuf object of kind Pod is not an Event (apiVersion v1)"),
            }
        );
        let decoded = decode_event(&envelope("events.k8s.io/v2", "Event", vec![]), None);
        assert_eq!(decoded.encoding, Encoding::Unknown);
    }

    #[test]
    fn empty_and_random_values_are_unknown() {
        let empty = decode_event(b"", Some(1));
        assert_eq!(empty.encoding, Encoding::Unknown);
        assert_eq!(empty.note.as_deref(), Some("empty value"));
        let random = decode_event(&[0x93, 0x1f, 0x00, 0xfe, 0x42], None);
        assert_eq!(random.encoding, Encoding::Unknown);
        assert_eq!(
            random.note.as_deref(),
            Some(r"unrecognized encoding; first bytes: \x93\x1f\x00\xfeB")
        );
        let cbor = decode_event(&[0xd9, 0xd9, 0xf7, 0xa2, 0x64], None);
        assert_eq!(cbor.encoding, Encoding::Unknown);
        assert!(cbor.note.unwrap().contains("CBOR"));
    }

    #[test]
    fn unknown_field_numbers_are_flagged() {
        // Field 99 in Event and in ObjectMeta (a second `metadata` field
        // merges into the first, as protobuf specifies).
        let mut meta = Vec::new();
        prost::encoding::string::encode(99, &"extra".to_owned(), &mut meta);
        let mut raw = kubelet_event().encode_to_vec();
        prost::encoding::bytes::encode(1, &meta, &mut raw);
        prost::encoding::int64::encode(99, &7, &mut raw);
        let decoded = decode_event(&envelope("v1", "Event", raw), None);
        assert_eq!(decoded.encoding, Encoding::Protobuf);
        assert!(decoded.unknown_fields);
        assert_eq!(
            decoded.note.as_deref(),
            Some("unknown protobuf fields (message.field): ObjectMeta.99, Event.99")
        );
        // Everything known still decodes.
        assert_eq!(decoded.fields, expected_kubelet_fields());

        // Only in ObjectMeta.
        let mut event = kubelet_event();
        let mut raw = event.encode_to_vec();
        let mut meta = Vec::new();
        prost::encoding::uint32::encode(99, &1, &mut meta);
        prost::encoding::bytes::encode(1, &meta, &mut raw);
        let decoded = decode_event(&envelope("v1", "Event", raw), None);
        assert!(decoded.unknown_fields);
        event.metadata = None;
        let clean = decode_event(&encode_stored_event(&event), None);
        assert!(!clean.unknown_fields);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_noted() {
        let mut raw = kubelet_event().encode_to_vec();
        // A second `message` (field 4) wins, as in Go; it is not UTF-8.
        raw.extend_from_slice(b"\x22\x05ab\xffcd");
        let mut labels = Vec::new();
        labels.extend_from_slice(b"\x0a\x03k\xc3z\x12\x01v");
        let mut meta = Vec::new();
        prost::encoding::bytes::encode(11, &labels, &mut meta);
        prost::encoding::bytes::encode(1, &meta, &mut raw);
        let decoded = decode_event(&envelope("v1", "Event", raw), None);
        assert_eq!(decoded.encoding, Encoding::Protobuf);
        assert_eq!(decoded.fields.message.as_deref(), Some("ab\u{fffd}cd"));
        assert!(!decoded.unknown_fields);
        assert_eq!(
            decoded.note.as_deref(),
            Some("2 string field(s) held invalid UTF-8, replaced with U+FFFD")
        );
        let object = json_value(&decoded.object.unwrap());
        assert_eq!(object["metadata"]["labels"], json!({"k\u{fffd}z": "v"}));
    }

    #[test]
    fn resource_version_none_keeps_stored_value() {
        let mut event = kubelet_event();
        if let Some(meta) = event.metadata.as_mut() {
            meta.resource_version = s("31");
        }
        let value = encode_stored_event(&event);
        let kept = json_value(&decode_event(&value, None).object.unwrap());
        assert_eq!(kept["metadata"]["resourceVersion"], json!("31"));
        let set = json_value(&decode_event(&value, Some(32)).object.unwrap());
        assert_eq!(set["metadata"]["resourceVersion"], json!("32"));
    }

    #[test]
    fn huge_and_negative_times_still_decode() {
        let mut event = kubelet_event();
        event.first_timestamp = time(i64::MIN);
        event.last_timestamp = time(253_402_300_800);
        event.event_time = Some(MicroTime {
            seconds: Some(i64::MAX),
            nanos: Some(-1),
        });
        event.series = Some(EventSeries {
            count: Some(-5),
            last_observed_time: Some(MicroTime {
                seconds: Some(-62_135_596_800),
                nanos: Some(0),
            }),
            state: s(""),
        });
        let decoded = decode_event(&encode_stored_event(&event), None);
        assert_eq!(decoded.encoding, Encoding::Protobuf);
        assert_eq!(
            decoded.fields.first_timestamp.as_deref(),
            Some("-292277022657-01-27T08:29:52Z")
        );
        assert_eq!(
            decoded.fields.last_timestamp.as_deref(),
            Some("10000-01-01T00:00:00Z")
        );
        assert_eq!(
            decoded.fields.event_time.as_deref(),
            Some("292277026596-12-04T15:30:06.999999Z")
        );
        assert_eq!(decoded.fields.series_count, Some(-5));
        // Go's zero time prints null.
        assert_eq!(decoded.fields.series_last_observed_time, None);
        let object = json_value(&decoded.object.unwrap());
        assert_eq!(
            object["series"],
            json!({"count": -5, "lastObservedTime": null})
        );
    }

    #[test]
    fn labels_print_sorted() {
        let mut event = kubelet_event();
        if let Some(meta) = event.metadata.as_mut() {
            meta.labels = BTreeMap::from([("b".into(), "2".into()), ("a".into(), "1".into())]);
        }
        let object = decode_event(&encode_stored_event(&event), None)
            .object
            .unwrap();
        assert!(object.contains(r#""labels":{"a":"1","b":"2"}"#), "{object}");
    }

    /// Minimal xorshift so the test needs no extra crate.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn never_panics_on_mutated_or_random_values() {
        let base = encode_stored_event(&kubelet_event());
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for round in 0..20_000 {
            let mut value = base.clone();
            match round % 4 {
                0 => {
                    let cut = (rng.next() as usize) % value.len();
                    value.truncate(cut);
                }
                1 | 2 => {
                    for _ in 0..1 + rng.next() % 4 {
                        let at = (rng.next() as usize) % value.len();
                        value[at] = rng.next() as u8;
                    }
                }
                _ => {
                    let len = (rng.next() % 64) as usize;
                    value = b"k8s\0".to_vec();
                    value.extend((0..len).map(|_| rng.next() as u8));
                }
            }
            let decoded = decode_event(&value, Some(1));
            if decoded.encoding != Encoding::Protobuf {
                assert!(decoded.note.is_some(), "{value:?}");
                assert!(decoded.object.is_none());
            }
            if let Some(object) = &decoded.object {
                // Whatever the bytes, the text is JSON.
                json_value(object);
            }
            let _ = decode_object_meta(&value);
        }
    }

    #[test]
    fn envelope_oddities_are_remarked() {
        let mut value = encode_stored_event(&kubelet_event());
        // Unknown field 5 in runtime.Unknown, and a non-empty contentEncoding
        // (field 3, last one wins).
        value.extend_from_slice(b"\x28\x01\x1a\x04gzip");
        let decoded = decode_event(&value, None);
        assert_eq!(decoded.encoding, Encoding::Protobuf);
        assert!(decoded.unknown_fields);
        assert_eq!(
            decoded.note.as_deref(),
            Some(
                "unknown protobuf fields (message.field): Unknown.5; \
                 envelope contentEncoding \"gzip\" ignored"
            )
        );
        assert_eq!(decoded.fields, expected_kubelet_fields());
    }
}
