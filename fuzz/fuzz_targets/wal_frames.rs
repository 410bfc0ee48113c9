//! Fuzz the WAL reader and the replay: arbitrary bytes as the only segment
//! of a WAL, and as the second segment after a valid first one (so the CRC
//! chain and the torn-tail rules of the last segment are reached from a
//! known state). Every item is consumed through raft's settling adapter
//! with small limits, and every report is displayed; then the proposals are
//! replayed (as from an empty store, and against a db that holds one of
//! their values). Neither may panic, hang or allocate without bound.
//!
//! The first input byte picks the mode: bit 0 clear — the rest is the only
//! segment; set — the rest is the second segment. Bit 1 prefixes the rest
//! with a valid crc record carrying the first segment's running CRC, so
//! mutations of the records after it get past the chain check.

#![no_main]

use std::hint::black_box;

use evforensics::proto::etcd::KeyValue;
use evforensics::source::mvcc::Revision;
use evforensics::source::wal::builder::{optimistic_put, put, SegmentBuilder};
use evforensics::source::wal::replay::{
    value_digest, EntryPlace, Replay, StoredHistory, WalPutCounts,
};
use evforensics::source::wal::{
    EntryStatus, Payload, Request, RequestOp, Segment, SegmentName, Settle, SettleLimits,
    SettledItem, WalItem, WalReader,
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
    read(segments.clone());
    replay(segments.clone(), &StoredHistory::new(b"/"));
    // A db that holds the first segment's put: the anchor rules run too.
    let mut stored = StoredHistory::new(b"/");
    let kv = KeyValue {
        key: b"/registry/a".to_vec(),
        create_revision: 2,
        mod_revision: 2,
        version: 1,
        value: b"v".to_vec(),
        lease: 7,
    };
    let rev = Revision {
        main: 2,
        sub: 0,
        tombstone: false,
    };
    stored.record(rev, &kv);
    stored.finish(Some(1), Some(3), Some(2));
    replay(segments, &stored);
}

fn reader(segments: Vec<Vec<u8>>) -> Settle<WalReader> {
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
    Settle::new(WalReader::new(segments), limits)
}

/// The committed proposals replayed; each output is displayed.
fn replay(segments: Vec<Vec<u8>>, stored: &StoredHistory) {
    let mut counts = WalPutCounts::default();
    for item in reader(segments.clone()) {
        if let SettledItem::Entry(e) = item {
            if let Payload::Proposal(p) = &e.record.entry.payload {
                match &p.request {
                    Request::Put(put) => {
                        *counts
                            .entry(value_digest(&put.key, &put.value))
                            .or_default() += 1
                    }
                    Request::Txn(t) => {
                        for op in t.success.iter().chain(&t.failure) {
                            if let RequestOp::Put(put) = op {
                                *counts
                                    .entry(value_digest(&put.key, &put.value))
                                    .or_default() += 1
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let mut engine = Replay::new(stored, &counts, Some(1));
    for item in reader(segments) {
        let SettledItem::Entry(e) = item else {
            continue;
        };
        let at = EntryPlace {
            index: e.record.entry.index,
            term: e.record.entry.term,
        };
        match (&e.record.entry.payload, e.status) {
            (Payload::Proposal(p), EntryStatus::Committed) => {
                engine.apply(at, &p.request, &mut |r| {
                    black_box(format!("{r:?}").len());
                })
            }
            (Payload::Proposal(p), EntryStatus::NotKnownCommitted(_)) => {
                engine.uncommitted(at, &p.request, &mut |r| {
                    black_box(format!("{r:?}").len());
                })
            }
            (Payload::Unreadable(_), _) => engine.unreadable(at.index),
            _ => {}
        }
    }
    black_box(engine.stats());
}

fn read(segments: Vec<Vec<u8>>) {
    let mut settle = reader(segments);
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
