//! Fuzz the WAL reader: arbitrary bytes as the only segment of a WAL, and
//! as the second segment after a valid first one (so the CRC chain and the
//! torn-tail rules of the last segment are reached from a known state).
//! Every item is consumed through raft's settling adapter with small
//! limits, and every report is displayed. The reader must never panic,
//! hang or allocate without bound.
//!
//! The first input byte picks the mode: bit 0 clear — the rest is the only
//! segment; set — the rest is the second segment. Bit 1 prefixes the rest
//! with a valid crc record carrying the first segment's running CRC, so
//! mutations of the records after it get past the chain check.

#![no_main]

use std::hint::black_box;

use evforensics::source::wal::builder::{optimistic_put, put, SegmentBuilder};
use evforensics::source::wal::{
    Segment, SegmentName, Settle, SettleLimits, SettledItem, WalItem, WalReader,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        exercise(vec![data.to_vec()]);
        return;
    };
    let mut first = SegmentBuilder::new(0);
    first
        .metadata(1, 2)
        .snapshot(0, 0)
        .proposal(2, 1, &put(b"/registry/a", b"v", 7))
        .state(2, 1, 1)
        .proposal(2, 2, &optimistic_put(b"/registry/a", b"w", 2, 7));
    let mut second = if mode & 2 != 0 {
        SegmentBuilder::new(first.crc()).finish()
    } else {
        Vec::new()
    };
    second.extend_from_slice(rest);
    if mode & 1 == 0 {
        exercise(vec![second]);
    } else {
        exercise(vec![first.finish(), second]);
    }
});

fn exercise(segments: Vec<Vec<u8>>) {
    let segments = segments
        .into_iter()
        .enumerate()
        .map(|(seq, bytes)| {
            let name = SegmentName {
                seq: seq as u64,
                index: 0,
            };
            Segment::in_memory(name, bytes)
        })
        .collect();
    let limits = SettleLimits {
        max_entries: 4,
        max_bytes: 1 << 12,
    };
    let mut settle = Settle::new(WalReader::new(segments), limits);
    for item in settle.by_ref() {
        match item {
            SettledItem::Entry(e) => {
                black_box(format!("{:?}", e.record.entry.payload).len());
            }
            SettledItem::Other(WalItem::Damage(d)) => {
                black_box(d.to_string().len());
            }
            SettledItem::Other(WalItem::TornTail(t)) => {
                black_box(t.to_string().len());
            }
            SettledItem::Other(other) => {
                black_box(other);
            }
        }
    }
    black_box(settle.stats());
    let summary = settle.into_inner().finish();
    black_box(summary.damage_count);
}
