//! Fuzz the bbolt page reader: open bytes as a bbolt file and walk every
//! bucket (nested ones too), both metas, page statistics and raw pages.
//! The reader must never panic, hang or allocate without bound.
//!
//! The first input byte picks how the rest is used:
//! * high bit clear — the rest is the file. With bit 0 set, the meta
//!   checksums are recomputed first, so mutations of meta fields (root, HWM,
//!   page size, freelist) get past checksum validation.
//! * high bit set — structure-aware: the rest describes entries and byte
//!   patches; a valid image is laid out with the crate's image builder
//!   (branch/leaf/overflow pages, inline and nested buckets, optional
//!   freelist and stale pages), then patched, then walked. This reaches deep
//!   tree damage that random bytes almost never do.

#![no_main]

use std::hint::black_box;

use evforensics::source::bolt::builder::{BucketSpec, ImageBuilder};
use evforensics::source::bolt::meta::meta_checksum;
use evforensics::source::bolt::{BoltDb, Bucket};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        exercise(data);
        return;
    };
    if mode & 0x80 == 0 {
        let mut bytes = rest.to_vec();
        if mode & 1 != 0 {
            reseal_metas(&mut bytes);
        }
        exercise(&bytes);
    } else {
        structured(mode, rest);
    }
});

/// Open, walk everything under both metas, read a few pages.
fn exercise(bytes: &[u8]) {
    let Ok(mut db) = BoltDb::open(bytes) else {
        return;
    };
    for _ in 0..2 {
        walk_all(&db);
        let map = db.page_map();
        black_box(map.free_page_ids().count());
        black_box(map.stats().damage.len());
        for id in 0..db.meta().hwm.min(16) {
            let _ = black_box(db.read_page(id));
        }
        let mut raw = Vec::new();
        let _ = db.read_raw_page(db.meta().hwm, &mut raw);
        let other = 1 - db.meta().page_id;
        if db.use_meta(other).is_err() {
            break;
        }
    }
    // A capped length must behave like a truncated file.
    if let Ok(db) = BoltDb::open_with_len(bytes, (bytes.len() as u64).saturating_sub(100)) {
        walk_all(&db);
    }
}

fn walk_all(db: &BoltDb<&[u8]>) {
    let _ = black_box(db.root_bucket_names());
    let (buckets, _) = db.root_buckets();
    for (name, bucket) in &buckets {
        let _ = black_box(db.bucket(name));
        walk_bucket(db, bucket, 3);
    }
}

fn walk_bucket(db: &BoltDb<&[u8]>, bucket: &Bucket, nesting_left: u32) {
    let mut nested = Vec::new();
    let report = db.for_each_entry(bucket, |entry| {
        black_box((entry.key, entry.value, entry.value_offset()));
        if entry.is_bucket() && nested.len() < 8 {
            nested.push(entry.key.to_vec());
        }
    });
    // Display must not panic; a few records are enough to exercise it.
    black_box(
        report
            .damage
            .iter()
            .take(4)
            .map(ToString::to_string)
            .count(),
    );
    if nesting_left == 0 {
        return;
    }
    for name in nested {
        if let Ok(Some(child)) = db.nested_bucket(bucket, &name) {
            walk_bucket(db, &child, nesting_left - 1);
        }
    }
}

/// Recompute the checksum of meta 0 (offset 0) and of meta 1 (at meta 0's
/// page size, if that is sane and inside the file).
fn reseal_metas(bytes: &mut [u8]) {
    let page_size = bytes
        .get(24..28)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    reseal_meta_at(bytes, 0);
    if page_size.is_power_of_two() && (512..=1 << 26).contains(&page_size) {
        reseal_meta_at(bytes, page_size as usize);
    }
}

fn reseal_meta_at(bytes: &mut [u8], page_at: usize) {
    let Some(meta) = bytes.get(page_at + 16..page_at + 80) else {
        return;
    };
    let mut raw = [0u8; 64];
    raw.copy_from_slice(meta);
    let sum = meta_checksum(&raw).to_le_bytes();
    if let Some(slot) = bytes.get_mut(page_at + 72..page_at + 80) {
        slot.copy_from_slice(&sum);
    }
}

/// Layout: `[flags][patch count][patches: (u32 LE offset, u8 xor) × n]`
/// then entries `[klen u8][vlen u16 LE][key][value]` until the input ends
/// (at most 256 entries, values up to 4 KiB, value bytes cycled from the input).
/// Keys with the high bit of `klen` set go into a nested bucket.
fn structured(mode: u8, rest: &[u8]) {
    let Some((&patch_byte, rest)) = rest.split_first() else {
        return;
    };
    let patch_count = usize::from(patch_byte & 0x0F);
    let Some(patches) = rest.get(..patch_count * 5) else {
        return;
    };
    let mut input = rest.get(patch_count * 5..).unwrap_or_default();

    let mut keys = BucketSpec::new();
    let mut nested = BucketSpec::new();
    let mut budget = 256usize;
    while let [klen, v0, v1, tail @ ..] = input {
        // Bound the image size so each run stays fast under ASan.
        budget = match budget.checked_sub(1) {
            Some(left) => left,
            None => break,
        };
        let key_len = usize::from(klen & 0x7F);
        let value_len = usize::from(u16::from_le_bytes([*v0, *v1]) & 0x0FFF);
        let Some(key) = tail.get(..key_len) else {
            break;
        };
        let value: Vec<u8> = tail
            .get(key_len..)
            .unwrap_or_default()
            .iter()
            .copied()
            .cycle()
            .take(value_len)
            .collect();
        if klen & 0x80 != 0 {
            nested.put(key.to_vec(), value);
        } else {
            keys.put(key.to_vec(), value);
        }
        input = tail
            .get(key_len + value_len.min(tail.len().saturating_sub(key_len))..)
            .unwrap_or_default();
    }
    let root = BucketSpec::new()
        .with_bucket("key", keys)
        .with_bucket(
            "meta",
            BucketSpec::new().with("consistent_index", [0u8, 0, 0, 0, 0, 0, 0, 9]),
        )
        .with_bucket(
            "nest",
            BucketSpec::new()
                .with_bucket("inner", nested)
                .with("plain", "v"),
        );
    let builder = ImageBuilder {
        page_size: 512 << (mode & 3),
        max_leaf_elements: usize::from((mode >> 2) & 7) + 1,
        max_branch_elements: usize::from((mode >> 5) & 1) * 2 + 2,
        inline_buckets: mode & 0x40 == 0,
        persist_freelist: patch_byte & 0x10 != 0,
        stale_pages: usize::from((patch_byte >> 5) & 3),
        ..ImageBuilder::default()
    };
    let mut image = builder.build(&root).bytes;
    for patch in patches.chunks_exact(5) {
        let offset = u32::from_le_bytes([patch[0], patch[1], patch[2], patch[3]]) as usize;
        let len = image.len();
        if let Some(byte) = image.get_mut(offset % len.max(1)) {
            *byte ^= patch[4];
        }
    }
    if patch_byte & 0x80 != 0 {
        reseal_metas(&mut image);
    }
    exercise(&image);
}
