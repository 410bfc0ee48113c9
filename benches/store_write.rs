//! Throughput of the SQLite writer alone, in Event revisions per second:
//! rows already decoded (as the decode stage hands them over) are written
//! into a new database by one `SourceWriter`, batches of 1000 as the
//! ingest pipeline sends them, then `finish` builds the query indexes,
//! copies in the text index and publishes the file.
//!
//! This is the part of an ingest that cannot be spread over cores (SQLite
//! has one writer per database file): its rate bounds what any number of
//! decode threads can reach.
//!
//! * `new_database`: 20,000 revisions (`EVF_BENCH_ROWS` to change it; the
//!   scale script's 200,000 take ~1 GB of memory here; below 10,000 the
//!   writer keeps its query indexes up to date row by row instead of
//!   building them at the end) of a realistic kubelet Event (779-byte value,
//!   ~1.7 KB of JSON), each its own key, with varied names, reasons,
//!   messages and times.
//!
//! The database is written in the system's temp directory (`TMPDIR`):
//! on a RAM disk its sync costs nothing, unlike beside a real `--db`.
//! The text index's thread has the other core to itself here, which it
//! shares with decoding in a real ingest.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use evforensics::decode::decode_event;
use evforensics::store::{
    Batch, EventRow, Fate, LoadPlan, RowFates, SourceFacts, SourceRecord, Store,
};

// The allocator `evforensics` itself uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/kubelet_event.rs"]
mod kubelet_event;
use kubelet_event::kubelet_backoff;

const DEFAULT_ROWS: usize = 20_000;
const BATCH: usize = 1000;

const REASONS: [&str; 5] = ["BackOff", "Pulled", "Scheduled", "Unhealthy", "FailedMount"];

fn row_count() -> usize {
    std::env::var("EVF_BENCH_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_ROWS)
}

fn rows(count: usize) -> Vec<EventRow> {
    let raw = kubelet_backoff();
    let template = decode_event(&raw, Some(1));
    (0..count)
        .map(|i| {
            let mut decoded = template.clone();
            let object_json = decoded.object.take();
            let f = &mut decoded.fields;
            let namespace = format!("ns-{:02}", i % 40);
            let pod = format!("web-{:x}-{}", i / 7, i % 7);
            f.namespace = Some(namespace.clone());
            f.name = Some(format!("{pod}.{i:016x}"));
            f.involved_namespace = Some(namespace.clone());
            f.involved_name = Some(pod.clone());
            f.reason = Some(REASONS[i % REASONS.len()].to_owned());
            f.message = Some(format!(
                "Back-off restarting failed container web in pod {pod}_{namespace} (attempt {i})"
            ));
            // One Event a second from 2024-05-01T00:00:00Z on.
            let (day, second) = (1 + i / 86_400, i % 86_400);
            let at = format!(
                "2024-05-{day:02}T{:02}:{:02}:{:02}Z",
                second / 3600,
                second / 60 % 60,
                second % 60
            );
            f.first_timestamp = Some(at.clone());
            f.last_timestamp = Some(at);
            let revision = 2 + i as i64;
            let occurred_at = f.occurred_at();
            EventRow {
                key: format!("/registry/events/{namespace}/{pod}.{i:016x}"),
                mod_revision: revision,
                sub_revision: 0,
                create_revision: revision,
                version: 1,
                lease: 0x694d_0000 + (i as i64 / 1000),
                recovered_from: evforensics::store::RecoveredFrom::Tree,
                decoded,
                object_json,
                raw: raw.clone(),
                fate: Fate {
                    live: true,
                    deleted_revision: None,
                },
                occurred_at,
                wal: None,
            }
        })
        .collect()
}

fn source() -> SourceRecord {
    SourceRecord {
        kind: "etcd-snapshot".into(),
        location: "bench".into(),
        sha256: "0".repeat(64),
        size_bytes: 0,
        compression: None,
        content_sha256: None,
        trailer: "absent".into(),
        trailer_sha256: None,
        prefix: "/registry/events/".into(),
        bolt_page_size: None,
        bolt_txid: None,
        bolt_meta_page: None,
        bolt_meta_note: None,
        cluster: None,
    }
}

fn bench(c: &mut Criterion) {
    let count = row_count();
    let rows = rows(count);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("store_write");
    group.sample_size(10);
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function("new_database", |b| {
        b.iter_batched(
            || {
                let path = dir.path().join("bench.sqlite");
                let _ = std::fs::remove_file(&path);
                (path, rows.clone())
            },
            |(path, rows)| {
                let mut store = Store::open(&path).expect("new database");
                let plan = LoadPlan {
                    expected_rows: count as u64,
                    fates: RowFates::Complete,
                };
                let mut writer = store.begin_source(&source(), plan).expect("source");
                let mut rows = rows.into_iter();
                loop {
                    let batch: Vec<EventRow> = rows.by_ref().take(BATCH).collect();
                    if batch.is_empty() {
                        break;
                    }
                    writer.write(Batch::Events(batch)).expect("batch");
                }
                let facts = SourceFacts {
                    head_revision: Some(2 + count as i64),
                    ..SourceFacts::default()
                };
                black_box(writer.finish(&facts).expect("finish"))
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
