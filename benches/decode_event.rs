//! Throughput of the Event decoder, in events per second.
//!
//! * `kubelet_backoff`: a realistic stored value (779 bytes): a kubelet
//!   BackOff Event as an API server writes it, with a managedFields entry.
//! * `kubelet_backoff+json`: the same, taking the Event's JSON text out of
//!   the result as the ingest pipeline does for every revision. The decoder
//!   writes that text itself, so this costs about what `kubelet_backoff`
//!   does; it is kept to compare with results from before it did (when
//!   `object` was a `serde_json::Value` serialized here).
//! * `fixture_head_core_v1`: Kubernetes' own core/v1 round-trip fixture.
//! * `encrypted`: the cheap path for values encrypted at rest.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use evforensics::decode::{decode_event, encode_stored_event};
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
fn kubelet_backoff() -> Vec<u8> {
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

fn bench(c: &mut Criterion) {
    let realistic = kubelet_backoff();
    let fixture_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/third_party/kubernetes-api-testdata/HEAD/core.v1.Event.pb");
    let fixture = std::fs::read(&fixture_path).expect("HEAD core.v1.Event.pb fixture");
    let encrypted = [b"k8s:enc:aescbc:v1:key1:".as_slice(), &[0x5a; 600]].concat();

    let mut group = c.benchmark_group("decode_event");
    group.throughput(Throughput::Elements(1));
    let json_len = decode_event(&realistic, Some(48_213_400))
        .object
        .map_or(0, |o| o.len());
    eprintln!(
        "kubelet_backoff value: {} bytes, JSON {json_len} bytes",
        realistic.len()
    );
    group.bench_function("kubelet_backoff", |b| {
        b.iter(|| decode_event(black_box(&realistic), Some(48_213_400)))
    });
    group.bench_function("kubelet_backoff+json", |b| {
        b.iter(|| {
            let mut decoded = decode_event(black_box(&realistic), Some(48_213_400));
            let object_json = decoded.object.take();
            (decoded, object_json)
        })
    });
    group.bench_function("fixture_head_core_v1", |b| {
        b.iter(|| decode_event(black_box(&fixture), Some(1)))
    });
    group.bench_function("encrypted", |b| {
        b.iter(|| decode_event(black_box(&encrypted), Some(1)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
