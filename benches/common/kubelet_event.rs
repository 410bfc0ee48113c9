//! A realistic stored Event value, shared by the benchmarks.

use evforensics::decode::encode_stored_event;
use evforensics::proto::core::v1::{Event, EventSource, ObjectReference};
use evforensics::proto::meta::v1::{FieldsV1, ManagedFieldsEntry, MicroTime, ObjectMeta, Time};

fn s(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn time(seconds: i64) -> Option<Time> {
    Some(Time {
        seconds: Some(seconds),
        nanos: Some(0),
    })
}

/// A kubelet BackOff Event as stored by an API server (gogo writes every
/// non-pointer field, so empty strings and timestamps are present).
pub fn kubelet_backoff() -> Vec<u8> {
    let fields_v1 = br#"{"f:count":{},"f:firstTimestamp":{},"f:involvedObject":{},"f:lastTimestamp":{},"f:message":{},"f:reason":{},"f:reportingComponent":{},"f:reportingInstance":{},"f:source":{"f:component":{},"f:host":{}},"f:type":{}}"#;
    let event = Event {
        metadata: Some(ObjectMeta {
            name: s("web-7d9f8b6c5-x2k4q.17c3a9b2e1f0d4c8"),
            generate_name: s(""),
            namespace: s("production"),
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
                    raw: Some(fields_v1.to_vec()),
                }),
                subresource: s(""),
                ..Default::default()
            }],
            ..Default::default()
        }),
        involved_object: Some(ObjectReference {
            kind: s("Pod"),
            namespace: s("production"),
            name: s("web-7d9f8b6c5-x2k4q"),
            uid: s("0b7e2f3a-9c1d-4e5f-8a6b-7c8d9e0f1a2b"),
            api_version: s("v1"),
            resource_version: s("48213377"),
            field_path: s("spec.containers{web}"),
        }),
        reason: s("BackOff"),
        message: s("Back-off restarting failed container web in pod web-7d9f8b6c5-x2k4q_production(0b7e2f3a-9c1d-4e5f-8a6b-7c8d9e0f1a2b)"),
        source: Some(EventSource {
            component: s("kubelet"),
            host: s("ip-10-0-12-34.eu-west-1.compute.internal"),
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
        reporting_instance: s("ip-10-0-12-34.eu-west-1.compute.internal"),
    };
    encode_stored_event(&event)
}
