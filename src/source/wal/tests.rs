//! Reader-level tests on WAL bytes written with [`builder`](super::builder):
//! round trips, padding, the CRC chain, torn tails, truncation, gaps,
//! raft's rewrite rule, v2 requests and nested transactions.

use sha2::{Digest, Sha256};

use super::builder::{optimistic_put, put, v2_request, SegmentBuilder};
use super::layout::{ENTRY_CONF_CHANGE, ENTRY_NORMAL, MAX_RECORD_BYTES, SECTOR_BYTES};
use super::*;
use crate::helpers::hex;
use crate::proto::{etcdserverpb as pb, raftpb};

fn name(seq: u64) -> SegmentName {
    SegmentName {
        seq,
        index: seq * 100,
    }
}

/// Reads segments `(seq, bytes)` in the order given.
fn read(segments: Vec<(u64, Vec<u8>)>) -> (Vec<WalItem>, WalSummary) {
    let segments = segments
        .into_iter()
        .map(|(seq, bytes)| Segment::in_memory(name(seq), bytes))
        .collect();
    let mut reader = WalReader::new(segments);
    let items: Vec<WalItem> = reader.by_ref().collect();
    (items, reader.finish())
}

fn entries(items: &[WalItem]) -> Vec<&Entry> {
    items
        .iter()
        .filter_map(|i| match i {
            WalItem::Entry(e) => Some(&e.entry),
            _ => None,
        })
        .collect()
}

fn damage(items: &[WalItem]) -> Vec<&Damage> {
    items
        .iter()
        .filter_map(|i| match i {
            WalItem::Damage(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn torn(items: &[WalItem]) -> Vec<&TornTail> {
    items
        .iter()
        .filter_map(|i| match i {
            WalItem::TornTail(t) => Some(t),
            _ => None,
        })
        .collect()
}

fn put_of(e: &Entry) -> &Put {
    match &e.payload {
        Payload::Proposal(Proposal {
            request: Request::Put(p),
            ..
        }) => p,
        other => panic!("not a put: {other:?}"),
    }
}

/// A first segment as etcd's `Create` writes it, with puts at 1..=n.
fn first_segment(n: u64) -> SegmentBuilder {
    let mut b = SegmentBuilder::new(0);
    b.metadata(7, 9).snapshot(0, 0);
    for i in 1..=n {
        b.proposal(2, i, &put(format!("k{i}").as_bytes(), b"v", 0));
        b.state(2, 1, i);
    }
    b
}

/// A later segment as `cut` writes it, with puts at `from..from+n`.
fn next_segment(prev_crc: u32, from: u64, n: u64) -> SegmentBuilder {
    let mut b = SegmentBuilder::new(prev_crc);
    b.metadata(7, 9).state(2, 1, from - 1);
    for i in from..from + n {
        b.proposal(2, i, &put(format!("k{i}").as_bytes(), b"v", 0));
        b.state(2, 1, i);
    }
    b
}

/// Two segments, the last preallocated, read back record for record: the
/// chain verifies at the second segment's start, hashes are of every byte,
/// nothing is damaged or torn.
#[test]
fn round_trip_over_two_segments() {
    let a = first_segment(3);
    let mut b = next_segment(a.crc(), 4, 2);
    b.preallocate(8192);
    let (a, b) = (a.finish(), b.finish());
    let (items, summary) = read(vec![(0, a.clone()), (1, b.clone())]);
    let es = entries(&items);
    assert_eq!(
        es.iter().map(|e| (e.term, e.index)).collect::<Vec<_>>(),
        [(2, 1), (2, 2), (2, 3), (2, 4), (2, 5)]
    );
    assert_eq!(put_of(es[3]).key, b"k4");
    assert!(damage(&items).is_empty() && torn(&items).is_empty());
    assert!(summary.is_undamaged() && summary.torn_tail.is_none());
    assert_eq!(
        summary.records,
        RecordCounts {
            metadata: 2,
            entry: 5,
            state: 6,
            crc: 2,
            snapshot: 1,
            unknown: 0
        }
    );
    assert_eq!(summary.entries.proposals, 5);
    assert_eq!(
        summary.metadata,
        Some(Metadata {
            node_id: 7,
            cluster_id: 9
        })
    );
    assert_eq!(summary.last_hard_state.map(|s| s.commit), Some(5));
    assert_eq!(
        (summary.first_index, summary.last_index),
        (Some(1), Some(5))
    );
    let (fa, fb) = (&summary.files[0], &summary.files[1]);
    assert_eq!(
        (fa.crc_start, fb.crc_start),
        (CrcStart::Adopted, CrcStart::Verified)
    );
    assert_eq!((fa.end, fb.end), (FileEnd::EndOfFile, FileEnd::EndOfData));
    assert_eq!(
        fa.sha256.as_deref(),
        Some(hex(&Sha256::digest(&a)).as_str())
    );
    assert_eq!(
        fb.sha256.as_deref(),
        Some(hex(&Sha256::digest(&b)).as_str())
    );
    assert_eq!((fb.size, fb.hashed_bytes), (8192, 8192));
    assert!(fb.data_end < 8192 && fb.data_end % 8 == 0);
}

/// Records of every length mod 8 are padded to 8 bytes and read back whole.
#[test]
fn padding_of_every_length() {
    let mut b = SegmentBuilder::new(0);
    for len in 0..24u64 {
        let value = vec![b'x'; len as usize];
        b.proposal(1, len + 1, &put(b"k", &value, 0));
        assert_eq!(b.len() % 8, 0);
    }
    let (items, summary) = read(vec![(0, b.finish())]);
    let values: Vec<usize> = entries(&items)
        .iter()
        .map(|e| put_of(e).value.len())
        .collect();
    assert_eq!(values, (0..24).collect::<Vec<_>>());
    assert!(summary.is_undamaged());
}

/// A flipped byte in a record's data in the first segment: a CRC mismatch
/// at that frame ends the segment; the second segment is read from its own
/// crc record (adopted, since the chain is unknown).
#[test]
fn crc_mismatch_ends_the_segment() {
    let a = first_segment(4);
    let b = next_segment(a.crc(), 5, 1);
    let mut probe = SegmentBuilder::new(0);
    probe.metadata(7, 9).snapshot(0, 0);
    probe.proposal(2, 1, &put(b"k1", b"v", 0)).state(2, 1, 1);
    let bad_frame = probe.len();
    let mut a = a.finish();
    // Inside the entry record of index 2: after its 8-byte word and a few
    // bytes of the record header.
    a[bad_frame as usize + 30] ^= 0x01;
    let (items, summary) = read(vec![(0, a), (1, b.finish())]);
    let d = damage(&items);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].file, std::path::PathBuf::from(name(0).to_string()));
    assert_eq!(d[0].offset, bad_frame);
    assert!(matches!(
        d[0].reason,
        DamageReason::CrcMismatch { record_type: 2, .. } | DamageReason::BadRecord(_)
    ));
    let idx: Vec<u64> = entries(&items).iter().map(|e| e.index).collect();
    assert_eq!(idx, [1, 5]);
    assert_eq!(summary.files[0].end, FileEnd::Damage);
    assert_eq!(summary.files[1].crc_start, CrcStart::Adopted);
    assert_eq!(summary.damage_count, 1);
    assert!(
        summary.files[0].sha256.is_some(),
        "damage still hashes the file"
    );
}

/// A record whose stored CRC is wrong (bytes intact otherwise) is reported
/// as a CRC mismatch with both values.
#[test]
fn crc_mismatch_names_both_values() {
    let mut b = SegmentBuilder::new(0);
    b.metadata(1, 1);
    let at = b.len();
    let good = b.crc();
    b.raw(3, 0xDEAD_BEEF, &raftpb_state(1, 1, 1));
    let (items, _) = read(vec![(0, b.finish())]);
    let d = damage(&items);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].offset, at);
    let computed = layout::crc_append(good, &raftpb_state(1, 1, 1));
    assert_eq!(
        d[0].reason,
        DamageReason::CrcMismatch {
            record_type: 3,
            stored: 0xDEAD_BEEF,
            computed
        }
    );
}

fn raftpb_state(term: u64, vote: u64, commit: u64) -> Vec<u8> {
    use prost::Message as _;
    raftpb::HardState { term, vote, commit }.encode_to_vec()
}

/// A crc record that disagrees with the chain before it is damage, and the
/// segment is still read on its own chain.
#[test]
fn broken_chain_between_segments_is_damage_and_reading_goes_on() {
    let a = first_segment(2);
    let b = next_segment(a.crc() ^ 0x55, 3, 2);
    let (items, summary) = read(vec![(0, a.finish()), (1, b.finish())]);
    let d = damage(&items);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].offset, &d[0].file), (0, &summary.files[1].path));
    assert!(matches!(d[0].reason, DamageReason::CrcChainBroken { .. }));
    assert_eq!(summary.files[1].crc_start, CrcStart::Broken);
    assert_eq!(entries(&items).len(), 4);
}

/// Preallocated zeros after the data are the normal end, not a torn tail.
#[test]
fn zero_tail_is_the_end_of_data() {
    let mut b = first_segment(2);
    b.preallocate(1 << 16);
    let (items, summary) = read(vec![(0, b.finish())]);
    assert!(torn(&items).is_empty() && damage(&items).is_empty());
    assert_eq!(summary.files[0].end, FileEnd::EndOfData);
}

/// The last segment cut inside a frame, or inside a length word, is a torn
/// tail at that frame; the records before it are all there.
#[test]
fn partial_frame_at_the_end_is_a_torn_tail() {
    let b = first_segment(3);
    let whole = b.finish();
    let mut probe = first_segment(2);
    let last_frame = probe.len();
    probe.proposal(2, 3, &put(b"k3", b"v", 0));
    for cut in [last_frame + 3, last_frame + 12, probe.len() - 1] {
        let (items, summary) = read(vec![(0, whole[..cut as usize].to_vec())]);
        let t = torn(&items);
        assert_eq!(t.len(), 1, "cut at {cut}");
        assert_eq!(t[0].offset, last_frame);
        assert!(damage(&items).is_empty());
        assert_eq!(entries(&items).len(), 2);
        assert_eq!(summary.files[0].end, FileEnd::TornTail);
        let expect_word = cut - last_frame < 8;
        assert_eq!(
            matches!(t[0].kind, TornKind::PartialLengthWord { .. }),
            expect_word
        );
    }
}

/// A whole frame whose body has an all-zero sector and fails its CRC, at
/// the end of the last segment, is a torn tail (etcd's `isTornEntry`).
#[test]
fn zeroed_sector_in_the_last_frame_is_a_torn_tail() {
    let mut b = first_segment(1);
    let at = b.len();
    b.proposal(2, 2, &put(b"k2", &vec![b'v'; 2000], 0));
    b.preallocate(8192);
    let mut bytes = b.finish();
    // Zero one whole sector inside the big record.
    let sector = (at / SECTOR_BYTES + 2) * SECTOR_BYTES;
    bytes[sector as usize..(sector + SECTOR_BYTES) as usize].fill(0);
    let (items, summary) = read(vec![(0, bytes.clone())]);
    let t = torn(&items);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].offset, at);
    assert!(matches!(t[0].kind, TornKind::ZeroedSector { .. }));
    assert!(summary.is_undamaged());
    // The same frame in a segment that is not the last is damage.
    let (items, summary) = read(vec![(0, bytes), (1, next_segment(0, 3, 1).finish())]);
    assert!(torn(&items).is_empty());
    assert_eq!(damage(&items)[0].offset, at);
    assert_eq!(summary.files[0].end, FileEnd::Damage);
}

/// Non-zero bytes after the zero word: torn in the last segment, damage in
/// another.
#[test]
fn bytes_after_the_end_of_data() {
    let mut b = first_segment(1);
    let end = b.len();
    b.preallocate(4096);
    let mut bytes = b.finish();
    bytes[3000] = 0x42;
    let (items, _) = read(vec![(0, bytes.clone())]);
    assert_eq!(
        torn(&items)[0].kind,
        TornKind::BytesAfterEnd {
            first_nonzero: 3000
        }
    );
    assert_eq!(torn(&items)[0].offset, end);
    let (items, _) = read(vec![(0, bytes), (1, next_segment(0, 2, 1).finish())]);
    assert_eq!(
        damage(&items)[0].reason,
        DamageReason::DataAfterEnd {
            first_nonzero: 3000
        }
    );
}

/// Reading without hashes gives the same items and summary, but no
/// hashes: on intact segments, with data after a segment's end (which
/// breaks the CRC chain into the next segment, one that does not start
/// with its crc record), and with every byte flipped.
#[test]
fn reading_without_hashes_gives_the_same_items() {
    let both = |segments: Vec<(u64, Vec<u8>)>| {
        let open = |segments: &[(u64, Vec<u8>)]| {
            let segments = segments
                .iter()
                .map(|(seq, bytes)| Segment::in_memory(name(*seq), bytes.clone()))
                .collect();
            WalReader::new(segments)
        };
        let (hashed, mut hashed_summary) = read(segments.clone());
        let mut reader = open(&segments).without_hashes();
        let unhashed: Vec<WalItem> = reader.by_ref().collect();
        let unhashed_summary = reader.finish();
        assert_eq!(hashed, unhashed);
        assert!(unhashed_summary.files.iter().all(|f| f.sha256.is_none()));
        for f in &mut hashed_summary.files {
            f.sha256 = None;
        }
        assert_eq!(hashed_summary, unhashed_summary);
    };
    let a = first_segment(3);
    let mut b = next_segment(a.crc(), 4, 2);
    b.preallocate(8192);
    both(vec![(0, a.finish()), (1, b.finish())]);

    let mut a = first_segment(2);
    a.preallocate(4096);
    let mut a = a.finish();
    a[3000] = 0x42;
    // No crc record, and a chain that does not follow on: read only
    // because the data after the first segment's end broke the chain.
    let mut b = SegmentBuilder::bare(0x1234);
    b.proposal(2, 3, &put(b"k3", b"v", 0));
    let (items, _) = read(vec![(0, a.clone()), (1, b.clone().finish())]);
    assert_eq!(entries(&items).len(), 3);
    both(vec![(0, a), (1, b.finish())]);

    let mut b = first_segment(2);
    b.proposal(3, 3, &optimistic_put(b"k", b"v", 1, 2));
    let bytes = b.finish();
    for at in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x80;
        both(vec![(0, flipped), (1, next_segment(0, 9, 1).finish())]);
    }
}

/// A segment that is not the last, cut inside a frame (a truncated copy),
/// is damage at that frame; a frame word claiming more than the file has
/// is the same; the next segment is read.
#[test]
fn truncated_segment_is_damage() {
    let a = first_segment(3);
    let b = next_segment(a.crc(), 4, 1).finish();
    let a = a.finish();
    let mut probe = first_segment(2);
    let last_frame = probe.len();
    probe.proposal(2, 3, &put(b"k3", b"v", 0));
    let (items, summary) = read(vec![
        (0, a[..last_frame as usize + 20].to_vec()),
        (1, b.clone()),
    ]);
    let d = damage(&items);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].offset, last_frame);
    assert!(matches!(d[0].reason, DamageReason::FramePastEnd { .. }));
    assert_eq!(
        entries(&items).iter().map(|e| e.index).collect::<Vec<_>>(),
        [1, 2, 4]
    );
    assert_eq!(summary.files[1].crc_start, CrcStart::Adopted);

    let (items, _) = read(vec![(0, a[..last_frame as usize + 5].to_vec()), (1, b)]);
    assert_eq!(
        damage(&items)[0].reason,
        DamageReason::TruncatedLengthWord { available: 5 }
    );
}

/// A length word past the end of the file, or over the cap, in the middle
/// of the last segment: past-the-end is a torn tail, over the cap damage.
#[test]
fn frame_length_past_the_end_and_over_the_cap() {
    let mut b = first_segment(1);
    let at = b.len();
    b.preallocate(at + 64);
    let mut bytes = b.finish();
    bytes[at as usize..at as usize + 8].copy_from_slice(&4096u64.to_le_bytes());
    let (items, _) = read(vec![(0, bytes.clone())]);
    assert_eq!(
        torn(&items)[0].kind,
        TornKind::PartialFrame {
            body_bytes: 4096,
            remaining: 56
        }
    );
    bytes[at as usize..at as usize + 8].copy_from_slice(&(MAX_RECORD_BYTES + 8).to_le_bytes());
    let (items, _) = read(vec![(0, bytes)]);
    let d = damage(&items);
    assert_eq!(d[0].offset, at);
    assert!(matches!(d[0].reason, DamageReason::FrameTooLong { .. }));
}

/// A missing sequence number is damage at the start of the later segment;
/// both are read.
#[test]
fn sequence_gap_is_damage() {
    let a = first_segment(1);
    let b = next_segment(a.crc(), 2, 1);
    let (items, summary) = read(vec![(3, a.finish()), (5, b.finish())]);
    let d = damage(&items);
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].reason,
        DamageReason::SequenceGap {
            previous: 3,
            next: 5
        }
    );
    assert_eq!(d[0].file, summary.files[1].path);
    assert_eq!(entries(&items).len(), 2);
    assert_eq!(summary.files[1].crc_start, CrcStart::Adopted);
}

/// A new leader rewrites indexes 3.. under term 3: the term-2 entries at 3
/// and 4 are replaced, in index order; everything at or below a commit is
/// committed; the tail past the last commit is not known to be committed.
#[test]
fn rewritten_index_replaces_the_tail() {
    let mut b = SegmentBuilder::new(0);
    b.metadata(1, 1).snapshot(0, 0);
    for i in 1..=4 {
        b.proposal(2, i, &put(format!("old{i}").as_bytes(), b"v", 0));
    }
    b.state(2, 1, 2);
    b.proposal(3, 3, &put(b"new3", b"v", 0));
    b.proposal(3, 4, &put(b"new4", b"v", 0));
    b.state(3, 1, 4);
    b.proposal(3, 5, &put(b"tail", b"v", 0));
    let segment = Segment::in_memory(name(0), b.finish());
    let mut settle = Settle::new(WalReader::new(vec![segment]), SettleLimits::default());
    let got: Vec<(String, EntryStatus)> = settle
        .by_ref()
        .filter_map(|i| match i {
            SettledItem::Entry(e) => Some((
                String::from_utf8(put_of(&e.record.entry).key.clone()).unwrap(),
                e.status,
            )),
            SettledItem::Other(_) => None,
        })
        .collect();
    let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["old1", "old2", "old3", "old4", "new3", "new4", "tail"]
    );
    assert_eq!(got[0].1, EntryStatus::Committed);
    assert_eq!(got[1].1, EntryStatus::Committed);
    assert!(matches!(got[2].1, EntryStatus::Replaced { by_term: 3, .. }));
    assert!(matches!(got[3].1, EntryStatus::Replaced { by_term: 3, .. }));
    assert_eq!(got[4].1, EntryStatus::Committed);
    assert_eq!(got[5].1, EntryStatus::Committed);
    assert_eq!(
        got[6].1,
        EntryStatus::NotKnownCommitted(Uncommitted::EndOfWal)
    );
    let stats = settle.stats();
    assert_eq!(
        (stats.committed, stats.replaced, stats.uncommitted_at_end),
        (4, 2, 1)
    );
    assert_eq!(settle.commit_index(), 4);
}

/// With a cap of 2 held entries and no commit, the oldest are released as
/// not known to be committed, and counted; a snapshot marker commits.
#[test]
fn settle_buffer_is_bounded() {
    let mut b = SegmentBuilder::new(0);
    for i in 1..=5 {
        b.proposal(1, i, &put(b"k", b"v", 0));
    }
    b.snapshot(5, 1);
    let segment = Segment::in_memory(name(0), b.finish());
    let limits = SettleLimits {
        max_entries: 2,
        max_bytes: usize::MAX,
    };
    let mut settle = Settle::new(WalReader::new(vec![segment]), limits);
    let statuses: Vec<EntryStatus> = settle
        .by_ref()
        .filter_map(|i| match i {
            SettledItem::Entry(e) => Some(e.status),
            SettledItem::Other(_) => None,
        })
        .collect();
    let full = EntryStatus::NotKnownCommitted(Uncommitted::BufferFull);
    assert_eq!(
        statuses,
        [
            full,
            full,
            full,
            EntryStatus::Committed,
            EntryStatus::Committed
        ]
    );
    assert_eq!(settle.stats().released_buffer_full, 3);
    assert_eq!(settle.stats().max_held, 3);
}

/// etcd 3.4's cluster-version v2 request is recognized (not an
/// `InternalRaftRequest`) and counted; a leader no-op and a conf change are
/// yielded as such.
#[test]
fn v2_request_no_op_and_conf_change() {
    use prost::Message as _;
    let mut b = SegmentBuilder::new(0);
    b.entry(ENTRY_NORMAL, 2, 1, &[]);
    let cc = raftpb::ConfChange {
        id: 5,
        r#type: 0,
        node_id: 0x1234,
        context: b"{\"peerURLs\":[]}".to_vec(),
    };
    b.entry(ENTRY_CONF_CHANGE, 2, 2, &cc.encode_to_vec());
    b.entry(
        ENTRY_NORMAL,
        2,
        3,
        &v2_request(77, "PUT", "/0/version", "3.4.0"),
    );
    b.entry(ENTRY_NORMAL, 2, 4, b"\xff\xff\xff");
    let (items, summary) = read(vec![(0, b.finish())]);
    let es = entries(&items);
    assert_eq!(es[0].payload, Payload::LeaderNoop);
    assert_eq!(
        es[1].payload,
        Payload::ConfChange(ConfChange {
            id: 5,
            change: ConfChangeType::AddNode,
            node_id: 0x1234,
            context: cc.context.clone()
        })
    );
    match &es[2].payload {
        Payload::Proposal(Proposal {
            id: 77,
            request: Request::Other(other @ OtherRequest::V2(v2)),
            ..
        }) => {
            assert_eq!(
                (v2.method.as_str(), v2.path.as_str()),
                ("PUT", "/0/version")
            );
            assert_eq!(v2.value, "3.4.0");
            assert_eq!(other.field(), None);
        }
        other => panic!("not a v2 request: {other:?}"),
    }
    assert!(matches!(es[3].payload, Payload::Unreadable(_)));
    let e = summary.entries;
    assert_eq!(
        (e.leader_noops, e.conf_changes, e.v2_requests, e.unreadable),
        (1, 1, 1, 1)
    );
    assert!(summary.is_undamaged(), "an unreadable entry is not damage");
}

/// The optimistic-put Txn reads back with its mod-revision compare and both
/// branches; the other typed requests keep their fields.
#[test]
fn typed_requests() {
    let mut b = SegmentBuilder::new(0);
    b.proposal(1, 1, &optimistic_put(b"/registry/a", b"val", 7, 0x99));
    let req = |f: fn(&mut pb::InternalRaftRequest)| {
        let mut r = pb::InternalRaftRequest::default();
        f(&mut r);
        r
    };
    b.proposal(
        1,
        2,
        &req(|r| {
            r.delete_range = Some(pb::DeleteRangeRequest {
                key: b"a".to_vec(),
                range_end: b"b".to_vec(),
                prev_kv: false,
            })
        }),
    );
    b.proposal(
        1,
        3,
        &req(|r| {
            r.compaction = Some(pb::CompactionRequest {
                revision: 42,
                physical: true,
            })
        }),
    );
    b.proposal(
        1,
        4,
        &req(|r| r.lease_grant = Some(pb::LeaseGrantRequest { ttl: 60, id: 5 })),
    );
    b.proposal(
        1,
        5,
        &req(|r| r.lease_revoke = Some(pb::LeaseRevokeRequest { id: 5 })),
    );
    b.proposal(1, 6, &req(|r| r.auth_enable = Some(pb::Unread::default())));
    let (items, summary) = read(vec![(0, b.finish())]);
    let reqs: Vec<&Request> = entries(&items)
        .into_iter()
        .map(|e| match &e.payload {
            Payload::Proposal(p) => &p.request,
            other => panic!("{other:?}"),
        })
        .collect();
    let Request::Txn(txn) = reqs[0] else {
        panic!("not a txn: {:?}", reqs[0]);
    };
    assert_eq!(
        txn.compares,
        [Compare {
            target: CompareTarget::Mod,
            result: CompareResult::Equal,
            key: b"/registry/a".to_vec(),
            range_end: vec![],
            against: CompareValue::ModRevision(7)
        }]
    );
    let RequestOp::Put(p) = &txn.success[0] else {
        panic!("success is not a put");
    };
    assert_eq!(
        (p.key.as_slice(), p.value.as_slice(), p.lease),
        (&b"/registry/a"[..], &b"val"[..], 0x99)
    );
    assert!(matches!(&txn.failure[0], RequestOp::Range(r) if r.key == b"/registry/a"));
    assert_eq!(
        reqs[1],
        &Request::DeleteRange(DeleteRange {
            key: b"a".to_vec(),
            range_end: b"b".to_vec(),
            prev_kv: false
        })
    );
    assert_eq!(
        reqs[2],
        &Request::Compaction(Compaction {
            revision: 42,
            physical: true
        })
    );
    assert_eq!(reqs[3], &Request::LeaseGrant(LeaseGrant { id: 5, ttl: 60 }));
    assert_eq!(reqs[4], &Request::LeaseRevoke(LeaseRevoke { id: 5 }));
    assert_eq!(reqs[5], &Request::Other(OtherRequest::Auth { field: 1000 }));
    assert_eq!(summary.entries.proposals, 5);
    assert_eq!(summary.entries.other_requests, 1);
}

fn nested_txn(depth: u32) -> pb::TxnRequest {
    let mut txn = pb::TxnRequest {
        success: vec![pb::RequestOp {
            request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                key: b"deep".to_vec(),
                ..Default::default()
            })),
        }],
        ..Default::default()
    };
    for _ in 1..depth {
        txn = pb::TxnRequest {
            success: vec![pb::RequestOp {
                request: Some(pb::request_op::Request::RequestTxn(txn)),
            }],
            ..Default::default()
        };
    }
    txn
}

fn depth_of(txn: &Txn) -> (u32, bool) {
    match txn.success.first() {
        Some(RequestOp::Txn(inner)) => {
            let (d, cut) = depth_of(inner);
            (d + 1, cut)
        }
        Some(RequestOp::TooDeep) => (1, true),
        _ => (1, false),
    }
}

/// Nesting up to the bound is converted whole; deeper is cut (and counted)
/// at the bound; nesting past prost's decoding limit is an unreadable
/// entry. None of it panics.
#[test]
fn nested_txn_depth_is_bounded() {
    let mut b = SegmentBuilder::new(0);
    for (i, depth) in [(1, 5), (2, MAX_TXN_DEPTH), (3, MAX_TXN_DEPTH + 8), (4, 400)] {
        let r = pb::InternalRaftRequest {
            txn: Some(nested_txn(depth)),
            ..Default::default()
        };
        b.proposal(1, i, &r);
    }
    let (items, summary) = read(vec![(0, b.finish())]);
    let es = entries(&items);
    let txn = |e: &Entry| match &e.payload {
        Payload::Proposal(Proposal {
            request: Request::Txn(t),
            ..
        }) => depth_of(t),
        other => panic!("{other:?}"),
    };
    assert_eq!(txn(es[0]), (5, false));
    assert_eq!(txn(es[1]), (MAX_TXN_DEPTH, false));
    assert_eq!(txn(es[2]), (MAX_TXN_DEPTH, true));
    assert!(matches!(es[3].payload, Payload::Unreadable(_)));
    assert_eq!(summary.entries.txn_ops_cut, 1);
}

/// Unknown record types and conflicting metadata are damage that does not
/// stop the segment.
#[test]
fn unknown_type_and_metadata_conflict_go_on() {
    let mut b = SegmentBuilder::new(0);
    b.metadata(1, 1);
    b.record(9, b"whatever");
    b.metadata(2, 1);
    b.proposal(1, 1, &put(b"k", b"v", 0));
    let (items, summary) = read(vec![(0, b.finish())]);
    let d = damage(&items);
    assert!(matches!(
        d[0].reason,
        DamageReason::UnknownRecordType { record_type: 9 }
    ));
    assert!(matches!(d[1].reason, DamageReason::MetadataConflict { .. }));
    assert_eq!(entries(&items).len(), 1);
    assert_eq!(summary.records.unknown, 1);
}

/// Segment files on disk are listed, read in sequence order (not name
/// order of a directory listing), hashed like `sha256_file`, and left
/// unchanged; `.tmp` files are listed apart.
#[test]
fn reads_a_directory_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let a = first_segment(2);
    let b = next_segment(a.crc(), 3, 2);
    let paths = [
        dir.path().join(name(1).to_string()),
        dir.path().join(name(0).to_string()),
    ];
    std::fs::write(&paths[0], b.finish()).unwrap();
    std::fs::write(&paths[1], a.finish()).unwrap();
    std::fs::write(dir.path().join("0.tmp"), vec![0u8; 4096]).unwrap();
    let before: Vec<String> = paths
        .iter()
        .map(|p| crate::source::input::sha256_file(p).unwrap())
        .collect();
    let reader = WalReader::open(dir.path()).unwrap();
    let indexes: Vec<u64> = reader
        .filter_map(|i| match i {
            WalItem::Entry(e) => Some(e.entry.index),
            _ => None,
        })
        .collect();
    assert_eq!(indexes, [1, 2, 3, 4]);
    let summary = WalReader::open(dir.path()).unwrap().finish();
    assert!(summary.is_undamaged());
    assert_eq!(summary.preallocated.len(), 1);
    assert_eq!(summary.files[0].sha256.as_deref(), Some(before[1].as_str()));
    assert_eq!(summary.files[1].sha256.as_deref(), Some(before[0].as_str()));
    for (p, h) in paths.iter().zip(&before) {
        assert_eq!(&crate::source::input::sha256_file(p).unwrap(), h);
    }
}

/// A segment that cannot be opened is damage, and the next one is read.
#[test]
fn unopenable_segment_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let a = Segment::file(name(0), dir.path().join("missing.wal"));
    let b = Segment::in_memory(name(1), next_segment(0, 2, 1).finish());
    let mut reader = WalReader::new(vec![a, b]);
    let items: Vec<WalItem> = reader.by_ref().collect();
    assert!(matches!(
        damage(&items)[0].reason,
        DamageReason::Unopenable(_)
    ));
    assert_eq!(entries(&items).len(), 1);
    let summary = reader.finish();
    assert_eq!(summary.files[0].end, FileEnd::Unopenable);
    assert_eq!(summary.files[1].crc_start, CrcStart::Adopted);
}

/// Every prefix of a valid segment, and every single-byte flip in it,
/// reads without a panic, and damage or a torn tail always names a frame
/// offset inside the file.
#[test]
fn every_prefix_and_flip_reads_without_panic() {
    let mut b = first_segment(2);
    b.proposal(3, 3, &optimistic_put(b"k", b"v", 1, 2));
    let bytes = b.finish();
    for cut in 0..bytes.len() {
        let (items, _) = read(vec![(0, bytes[..cut].to_vec())]);
        for t in torn(&items) {
            assert!(t.offset <= cut as u64);
        }
    }
    let padding = padding_bytes(&bytes);
    for at in (0..bytes.len()).filter(|at| !padding.contains(at)) {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x80;
        let (items, summary) = read(vec![(0, flipped), (1, next_segment(0, 9, 1).finish())]);
        for d in damage(&items) {
            assert!(d.offset < bytes.len() as u64);
        }
        assert!(
            !summary.is_undamaged()
                || summary.torn_tail.is_some()
                || summary.files[0].end != FileEnd::EndOfFile,
            "flip at {at} went unnoticed"
        );
    }
}

/// Offsets of the padding bytes of a well-formed segment (not covered by
/// any check, as in etcd).
fn padding_bytes(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let word =
            layout::FrameWord::decode(u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()));
        let body = at + 8;
        out.extend(body + word.record_bytes as usize..body + word.body_bytes() as usize);
        at = body + word.body_bytes() as usize;
    }
    out
}

/// The survey names each unreadable entry's file, offset and index, and
/// counts the Event puts proposed, those after the db's consistent index
/// apart.
#[test]
fn survey_names_unreadable_entries_and_counts_event_puts() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = SegmentBuilder::new(0);
    b.metadata(7, 9).snapshot(0, 0);
    b.proposal(2, 1, &put(b"/registry/events/ns/a.1", b"not an event", 0));
    b.proposal(2, 2, &put(b"/registry/pods/ns/p", b"pod", 0));
    let bad_at = b.len();
    b.entry(7, 2, 3, b"?");
    b.proposal(
        2,
        4,
        &optimistic_put(b"/registry/events/ns/b.1", b"x", 0, 0),
    );
    b.state(2, 1, 4);
    let path = dir.path().join(name(0).to_string());
    std::fs::write(&path, b.finish()).unwrap();
    let s = survey_wal(dir.path(), "/registry/events/", Some(2)).unwrap();
    assert_eq!(s.summary.entries.unreadable, 1);
    assert_eq!(s.unreadable.len(), 1);
    let u = &s.unreadable[0];
    assert_eq!(
        (u.file.as_path(), u.offset, u.index),
        (path.as_path(), bad_at, 3)
    );
    assert!(u.to_string().contains("entry 3 unreadable"), "{u}");
    assert_eq!((s.proposals.puts, s.proposals.txns), (2, 1));
    assert_eq!((s.events.puts, s.events.puts_after_db), (2, 1));
    assert_eq!(s.events.span.values, 2);
    assert_eq!(s.events.span.without_time, 2);
    assert_eq!(s.entries.committed, 4);
}
