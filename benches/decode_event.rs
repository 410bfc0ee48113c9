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
use evforensics::decode::decode_event;

#[path = "common/kubelet_event.rs"]
mod kubelet_event;
use kubelet_event::kubelet_backoff;

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
