//! The replay's rules on hand-made histories (the real-etcd test is
//! `tests/ingest_wal.rs`).

use super::*;
use crate::proto::etcd::KeyValue;
use crate::source::mvcc::Revision;
use crate::source::wal::{
    Compare, CompareResult, CompareTarget, CompareValue, DeleteRange, LeaseGrant, LeaseRevoke, Put,
    Range, Request, RequestOp, Txn,
};
use crate::store::{DeletionCause, RevisionBasis};

fn put(key: &str, value: &str, lease: i64) -> Put {
    Put {
        key: key.into(),
        value: value.into(),
        lease,
        prev_kv: false,
        ignore_value: false,
        ignore_lease: false,
    }
}

/// kube-apiserver's optimistic write: put if the key is at `rev` (0:
/// absent), else read it.
fn kube_put(key: &str, rev: i64, value: &str, lease: i64) -> Request {
    Request::Txn(Txn {
        compares: vec![Compare {
            target: CompareTarget::Mod,
            result: CompareResult::Equal,
            key: key.into(),
            range_end: Vec::new(),
            against: CompareValue::ModRevision(rev),
        }],
        success: vec![RequestOp::Put(put(key, value, lease))],
        failure: vec![RequestOp::Range(Range {
            key: key.into(),
            range_end: Vec::new(),
            limit: 0,
            revision: 0,
            keys_only: false,
            count_only: false,
        })],
    })
}

fn delete(key: &str) -> Request {
    Request::DeleteRange(DeleteRange {
        key: key.into(),
        range_end: Vec::new(),
        prev_kv: false,
    })
}

/// What a replay of `requests` (raft indexes from `first_index`) gave:
/// (key, main, sub, tombstone, basis) per record, and the unresolved keys.
#[derive(Debug, Default)]
struct Outcome {
    records: Vec<(String, i64, i64, bool, RevisionBasis)>,
    puts: Vec<KeyValue>,
    causes: Vec<Option<DeletionCause>>,
    unresolved: Vec<String>,
    /// Records the db holds already (also in `records`).
    held: Vec<(String, i64, i64)>,
    stats: ReplayStats,
}

impl Outcome {
    /// The put replayed (not held by the db) at `key` and `main`.
    fn put_at(&self, key: &str, main: i64) -> &KeyValue {
        self.puts
            .iter()
            .find(|kv| kv.key == key.as_bytes() && kv.mod_revision == main)
            .unwrap_or_else(|| panic!("no put of {key} at {main}: {:?}", self.records))
    }
}

fn replay(stored: &StoredHistory, first_index: u64, requests: &[Request]) -> Outcome {
    let mut counts = WalPutCounts::default();
    for r in requests {
        let mut count = |p: &Put| *counts.entry(value_digest(&p.key, &p.value)).or_default() += 1;
        match r {
            Request::Put(p) => count(p),
            Request::Txn(t) => {
                for op in t.success.iter().chain(&t.failure) {
                    if let RequestOp::Put(p) = op {
                        count(p);
                    }
                }
            }
            _ => {}
        }
    }
    let mut engine = Replay::new(stored, &counts, Some(first_index));
    let mut out = Outcome::default();
    for (i, r) in requests.iter().enumerate() {
        let at = EntryPlace {
            index: first_index + i as u64,
            term: 2,
        };
        engine.apply(at, r, &mut |item| match item {
            Replayed::Put {
                revision,
                key_value,
                origin,
            } => {
                out.records.push((
                    String::from_utf8(key_value.key.clone()).unwrap(),
                    revision.main,
                    revision.sub,
                    false,
                    origin.basis,
                ));
                out.puts.push(key_value);
            }
            Replayed::Tombstone {
                revision,
                key,
                origin,
            } => {
                out.records.push((
                    String::from_utf8(key).unwrap(),
                    revision.main,
                    revision.sub,
                    true,
                    origin.basis,
                ));
                out.causes.push(origin.cause);
            }
            Replayed::Held {
                revision,
                key,
                origin,
            } => {
                let key = String::from_utf8(key).unwrap();
                out.records.push((
                    key.clone(),
                    revision.main,
                    revision.sub,
                    revision.tombstone,
                    origin.basis,
                ));
                out.held.push((key, revision.main, revision.sub));
            }
            Replayed::Unresolved(u) => out.unresolved.push(u.key),
        });
    }
    out.stats = engine.stats();
    out
}

fn rec(
    key: &str,
    main: i64,
    sub: i64,
    tomb: bool,
    basis: RevisionBasis,
) -> (String, i64, i64, bool, RevisionBasis) {
    (key.to_string(), main, sub, tomb, basis)
}

fn stored_put(h: &mut StoredHistory, key: &str, main: i64, create: i64, version: i64, value: &str) {
    h.record(
        Revision {
            main,
            sub: 0,
            tombstone: false,
        },
        &KeyValue {
            key: key.into(),
            create_revision: create,
            mod_revision: main,
            version,
            value: value.into(),
            lease: 0,
        },
    );
}

/// From an empty store every outcome is known: a stale update fails and
/// is no revision, creates and updates take the next revisions, a lease
/// revoke deletes its keys in key order in one revision, and a put with a
/// revoked lease is refused.
#[test]
fn from_an_empty_store_every_write_is_counted() {
    let mut stored = StoredHistory::new(b"/");
    stored.finish(None, Some(1), None);
    let e = RevisionBasis::EmptyStore;
    let out = replay(
        &stored,
        1,
        &[
            Request::LeaseGrant(LeaseGrant { id: 7, ttl: 60 }),
            kube_put("/e/a", 0, "a1", 7),       // rev 2
            kube_put("/e/a", 2, "a2", 7),       // rev 3
            kube_put("/e/a", 2, "a2-stale", 7), // fails
            kube_put("/e/b", 0, "b1", 7),       // rev 4
            Request::Txn(Txn {
                compares: Vec::new(),
                success: vec![
                    RequestOp::Put(put("/e/c", "c1", 0)),
                    RequestOp::Put(put("/e/d", "d1", 0)),
                ],
                failure: Vec::new(),
            }), // rev 5, subs 0 and 1
            delete("/e/c"),                     // rev 6
            delete("/e/none"),                  // nothing: no revision
            Request::LeaseRevoke(LeaseRevoke { id: 7 }), // rev 7: /e/a, /e/b
            Request::Put(put("/e/z", "z", 7)),  // refused
            Request::Put(put("/e/d", "d2", 0)), // rev 8, version 2
        ],
    );
    assert_eq!(
        out.records,
        vec![
            rec("/e/a", 2, 0, false, e),
            rec("/e/a", 3, 0, false, e),
            rec("/e/b", 4, 0, false, e),
            rec("/e/c", 5, 0, false, e),
            rec("/e/d", 5, 1, false, e),
            rec("/e/c", 6, 0, true, e),
            rec("/e/a", 7, 0, true, e),
            rec("/e/b", 7, 1, true, e),
            rec("/e/d", 8, 0, false, e),
        ]
    );
    assert_eq!(out.stats.failed_compares, 1);
    assert_eq!(out.stats.rejected, 1);
    assert_eq!(out.stats.unresolved, 0);
    assert_eq!(out.stats.applied_writes, 7);
    let last = out.puts.last().unwrap();
    assert_eq!((last.create_revision, last.version), (5, 2));
    let a2 = &out.puts[1];
    assert_eq!((a2.create_revision, a2.version, a2.lease), (2, 2, 7));
    assert_eq!(
        out.causes,
        vec![
            Some(DeletionCause::DeleteRange),
            Some(DeletionCause::LeaseRevoke { lease: 7 }),
            Some(DeletionCause::LeaseRevoke { lease: 7 }),
        ]
    );
}

/// A WAL that begins after the store's start: writes are unresolved until
/// a put whose value the db holds once anchors the count; from there on
/// revisions are counted, and compares decided where the db is exact.
#[test]
fn a_stored_value_anchors_the_count() {
    let mut stored = StoredHistory::new(b"/");
    // The db, compacted at 49, keeps /e/k's revision 48 (its latest at or
    // below the compaction) and everything after.
    stored_put(&mut stored, "/e/k", 48, 45, 2, "k2");
    stored_put(&mut stored, "/e/k", 50, 45, 3, "k3");
    stored_put(&mut stored, "/e/j", 51, 51, 1, "j1");
    stored_put(&mut stored, "/e/k", 52, 45, 4, "k4");
    stored.finish(Some(49), Some(52), None);
    let s = RevisionBasis::StoredRevision;
    let out = replay(
        &stored,
        100,
        &[
            Request::Put(put("/e/x", "x", 0)),  // before any anchor: unresolved
            kube_put("/e/k", 48, "k3", 0),      // anchored at 50
            kube_put("/e/j", 0, "j1", 0),       // 51 (and anchored)
            kube_put("/e/k", 48, "k-stale", 0), // /e/k is at 50: fails
            kube_put("/e/k", 50, "k4", 0),      // 52
        ],
    );
    assert_eq!(out.unresolved, vec!["/e/x".to_string()]);
    assert_eq!(
        out.records,
        vec![
            rec("/e/k", 50, 0, false, s),
            rec("/e/j", 51, 0, false, s),
            rec("/e/k", 52, 0, false, s),
        ]
    );
    assert_eq!(out.stats.failed_compares, 1);
    assert_eq!(out.stats.contradictions, 0);
    // What the db holds already (all three) comes as its raft entry only:
    // the row, with its generation, is the db's.
    assert_eq!(
        out.held,
        vec![
            ("/e/k".to_string(), 50, 0),
            ("/e/j".to_string(), 51, 0),
            ("/e/k".to_string(), 52, 0)
        ]
    );
    assert!(out.puts.is_empty());
}

/// An undecidable compare leaves its writes unresolved and, since only its
/// success branch writes, the count unknown.
#[test]
fn an_undecidable_compare_loses_the_count_until_an_anchor() {
    let mut stored = StoredHistory::new(b"/");
    stored_put(&mut stored, "/e/k", 60, 60, 1, "k1");
    stored.finish(Some(59), Some(60), None);
    let out = replay(
        &stored,
        10,
        &[
            kube_put("/e/q", 3, "q", 0), // nothing known of /e/q: unresolved
            Request::Put(put("/e/r", "r", 0)),
            kube_put("/e/k", 0, "k1", 0), // anchored at 60
            Request::Put(put("/e/r", "r2", 0)),
        ],
    );
    assert_eq!(out.unresolved, vec!["/e/q".to_string(), "/e/r".to_string()]);
    let s = RevisionBasis::StoredRevision;
    assert_eq!(
        out.records,
        vec![rec("/e/k", 60, 0, false, s), rec("/e/r", 61, 0, false, s)]
    );
    // At 60 the db is exact and holds no /e/r: the unresolved put did not
    // leave it (had it applied, compaction would have kept it), so r2
    // creates it.
    let r2 = out.put_at("/e/r", 61);
    assert_eq!((r2.create_revision, r2.version), (61, 1));
}

/// Past the db's consistent index the store's revision is the db's: a
/// count lost earlier is found there again.
#[test]
fn the_consistent_index_restores_the_count() {
    let mut stored = StoredHistory::new(b"/");
    stored_put(&mut stored, "/e/k", 80, 80, 1, "k1");
    stored.finish(Some(70), Some(80), Some(11));
    let out = replay(
        &stored,
        10,
        &[
            Request::Put(put("/e/u", "u", 0)),  // index 10: unresolved
            Request::Put(put("/e/u", "u2", 0)), // index 11: unresolved
            kube_put("/e/k", 80, "k2", 0),      // index 12: after the db, 81
        ],
    );
    assert_eq!(out.unresolved.len(), 2);
    assert_eq!(
        out.records,
        vec![rec("/e/k", 81, 0, false, RevisionBasis::ConsistentIndex)]
    );
    assert_eq!((out.puts[0].create_revision, out.puts[0].version), (80, 2));
}

/// A range delete and a lease revoke past the db find their keys among
/// those the db holds and those the WAL wrote (also those first written
/// after an earlier range), and delete them in key order.
#[test]
fn range_deletes_and_revokes_merge_the_db_and_the_wal_in_key_order() {
    let mut stored = StoredHistory::new(b"/");
    stored_put(&mut stored, "/e/b", 5, 5, 1, "b");
    stored.record(
        Revision {
            main: 6,
            sub: 0,
            tombstone: false,
        },
        &KeyValue {
            key: "/e/d".into(),
            create_revision: 6,
            mod_revision: 6,
            version: 1,
            value: "d".into(),
            lease: 7,
        },
    );
    stored.finish(None, Some(6), Some(10));
    let out = replay(
        &stored,
        11,
        &[
            Request::Put(put("/e/c", "c", 0)), // 7
            Request::Put(put("/e/a", "a", 7)), // 8
            Request::Put(put("/e/x", "x", 0)), // 9
            Request::DeleteRange(DeleteRange {
                key: "/e/a".into(),
                range_end: "/e/d".into(),
                prev_kv: false,
            }), // 10: /e/a, /e/b, /e/c
            Request::LeaseRevoke(LeaseRevoke { id: 7 }), // 11: /e/d
            Request::Put(put("/e/b", "b2", 0)), // 12
            Request::Put(put("/e/0", "0", 0)), // 13
            Request::DeleteRange(DeleteRange {
                key: "/e/".into(),
                range_end: "/e0".into(),
                prev_kv: false,
            }), // 14: /e/0, /e/b, /e/x
        ],
    );
    let b = RevisionBasis::ConsistentIndex;
    assert!(out.unresolved.is_empty(), "{:?}", out.unresolved);
    assert_eq!(
        out.records,
        vec![
            rec("/e/c", 7, 0, false, b),
            rec("/e/a", 8, 0, false, b),
            rec("/e/x", 9, 0, false, b),
            rec("/e/a", 10, 0, true, b),
            rec("/e/b", 10, 1, true, b),
            rec("/e/c", 10, 2, true, b),
            rec("/e/d", 11, 0, true, b),
            rec("/e/b", 12, 0, false, b),
            rec("/e/0", 13, 0, false, b),
            rec("/e/0", 14, 0, true, b),
            rec("/e/b", 14, 1, true, b),
            rec("/e/x", 14, 2, true, b),
        ]
    );
}

/// What a replay into a sink gave: (main, key) of each replayed record,
/// and the keys left unresolved.
#[derive(Default)]
struct Collected {
    records: Vec<(i64, String)>,
    unresolved: Vec<String>,
}

impl crate::source::RecordSink for Collected {
    fn push(&mut self, revision: Revision, key_value: &[u8], _: crate::store::RecoveredFrom) {
        let kv = <KeyValue as prost::Message>::decode(key_value).unwrap();
        self.records
            .push((revision.main, String::from_utf8(kv.key).unwrap()));
    }

    fn confirm_replayed(&mut self, revision: Revision, key: Vec<u8>, _: crate::store::WalOrigin) {
        self.records
            .push((revision.main, String::from_utf8(key).unwrap()));
    }

    fn unresolved(&mut self, write: crate::store::UnresolvedWrite) {
        self.unresolved.push(write.key);
    }

    fn damage(&mut self, row: crate::store::DamageRow) {
        panic!("damage: {row:?}");
    }

    fn leases(&mut self, _: Vec<crate::store::LeaseRow>) {}
}

/// The WAL's counting pass, on segment files whose first entry is past
/// index 1: a value the db holds once and the WAL puts once anchors the
/// count; one the WAL puts twice does not, though the db holds it once.
#[test]
fn the_counting_pass_counts_each_value_the_db_holds() {
    use crate::source::wal::builder::{put as put_request, SegmentBuilder};
    use crate::source::wal::SegmentName;
    let mut stored = StoredHistory::new(b"/");
    stored_put(&mut stored, "/e/a", 50, 50, 1, "a2");
    stored_put(&mut stored, "/e/c", 60, 60, 1, "c");
    stored.finish(Some(49), Some(60), None);
    let mut segment = SegmentBuilder::new(0);
    segment.metadata(1, 1).snapshot(0, 0);
    for (index, (key, value)) in [
        ("/e/x", "x"),  // 10: the count is not known yet
        ("/e/a", "a2"), // 11: anchored at 50
        ("/e/b", "b"),  // 12: 51
        ("/e/c", "c"),  // 13: 52, the db's copy at 60 is put twice
        ("/e/c", "c"),  // 14: 53
    ]
    .into_iter()
    .enumerate()
    {
        segment.proposal(
            2,
            10 + index as u64,
            &put_request(key.as_bytes(), value.as_bytes(), 0),
        );
    }
    segment.state(2, 1, 14);
    let dir = tempfile::tempdir().unwrap();
    let name = SegmentName { seq: 0, index: 9 };
    std::fs::write(dir.path().join(name.to_string()), segment.finish()).unwrap();
    let mut sink = Collected::default();
    let wal = crate::source::wal::WalSource::Directory(dir.path().to_path_buf());
    let row = replay_into(&wal, &stored, &mut sink).unwrap().row;
    assert_eq!(sink.unresolved, ["/e/x"]);
    let at = |main: i64, key: &str| (main, key.to_string());
    assert_eq!(
        sink.records,
        [
            at(50, "/e/a"),
            at(51, "/e/b"),
            at(52, "/e/c"),
            at(53, "/e/c")
        ]
    );
    assert_eq!((row.contradictions, row.first_index), (0, Some(10)));
}
