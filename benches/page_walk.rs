//! Walk speed of the bbolt reader over a large etcd-shaped file.
//!
//! Builds a file whose `key` bucket holds `ENTRIES` revisions (17-byte
//! revision keys, Event-sized values) with the synthetic image builder,
//! writes it to a temporary file, and measures:
//! * `for_each` over the `key` bucket from the file (positioned reads served
//!   by the page cache) — throughput in bytes of the file;
//! * the same walk from memory — throughput in entries;
//! * `page_stats` (walk of every bucket plus free-page accounting).

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use evforensics::source::bolt::builder::{BucketSpec, ImageBuilder};
use evforensics::source::bolt::{BoltDb, Bucket, ReadAt};

const ENTRIES: u64 = 200_000;
const VALUE_LEN: usize = 400;

/// etcd's revision key: big-endian main revision, `_`, big-endian sub.
fn revision_key(main: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(17);
    key.extend_from_slice(&main.to_be_bytes());
    key.push(b'_');
    key.extend_from_slice(&0u64.to_be_bytes());
    key
}

fn build_image() -> Vec<u8> {
    let mut keys = BucketSpec::new();
    for main in 1..=ENTRIES {
        let mut value = vec![0u8; VALUE_LEN];
        value[..8].copy_from_slice(&main.to_le_bytes());
        keys.put(revision_key(main), value);
    }
    let root = BucketSpec::new().with_bucket("key", keys).with_bucket(
        "meta",
        BucketSpec::new().with("consistent_index", 7u64.to_be_bytes().to_vec()),
    );
    ImageBuilder {
        stale_pages: 1000,
        ..ImageBuilder::default()
    }
    .build(&root)
    .bytes
}

/// Walk the `key` bucket, touching every key and value.
fn walk<R: ReadAt>(db: &BoltDb<R>, key_bucket: &Bucket) -> u64 {
    let mut checksum = 0u64;
    let report = db.for_each(key_bucket, |k, v| {
        checksum = checksum.wrapping_add(k.len() as u64 + v.len() as u64);
    });
    assert_eq!(report.entries, ENTRIES);
    assert!(report.is_clean());
    black_box(checksum)
}

fn page_walk(c: &mut Criterion) {
    let image = build_image();
    let file_len = image.len() as u64;
    let mut tmp = tempfile::NamedTempFile::new().expect("temp file");
    tmp.write_all(&image).expect("write image");
    tmp.flush().expect("flush");

    let from_file =
        BoltDb::open(std::fs::File::open(tmp.path()).expect("reopen")).expect("open file");
    let from_memory = BoltDb::open(image).expect("open memory");
    let key_bucket = from_file.bucket(b"key").expect("root").expect("key bucket");

    eprintln!(
        "bench file: {file_len} bytes, {ENTRIES} entries, page size {}",
        from_file.page_size()
    );

    let mut group = c.benchmark_group("page_walk");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(file_len));
    group.bench_function("for_each_key_bucket_file", |b| {
        b.iter(|| walk(&from_file, &key_bucket))
    });
    group.bench_function("page_stats_file", |b| {
        b.iter(|| {
            let stats = from_file.page_stats();
            assert_eq!(stats.free, 1000);
            black_box(stats.leaf)
        })
    });
    group.throughput(Throughput::Elements(ENTRIES));
    group.bench_function("for_each_key_bucket_memory", |b| {
        b.iter(|| walk(&from_memory, &key_bucket))
    });
    group.finish();
}

criterion_group!(benches, page_walk);
criterion_main!(benches);
