//! What the db beside the WAL holds, as the replay needs it: each key's
//! stored revisions (tree and free pages), to know a key's state at a
//! revision the db covers exactly, and each stored value, so that a WAL put
//! equal to a stored revision ties its raft entry to that revision.

use std::collections::HashMap;
use std::sync::Arc;

use super::digest::{value_digest, ValueDigest};
use super::state::{KeyState, Knowledge};
use crate::helpers::DigestMap;
use crate::proto::etcd::KeyValue;
use crate::source::mvcc::Revision;

/// Most records kept; past it the history is incomplete and answers
/// nothing (a db of that size is read without the replay's help).
pub const STORED_RECORD_LIMIT: usize = 8_000_000;

/// One stored revision of a key, kept small (one per stored revision).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StoredRecord {
    main: i64,
    sub: i64,
    create: i64,
    version: i64,
    lease: i64,
    digest: ValueDigest,
    tombstone: bool,
}

impl StoredRecord {
    /// The key's state this revision leaves; `None` for a tombstone.
    fn state(&self) -> Option<KeyState> {
        (!self.tombstone).then_some(KeyState {
            mod_revision: self.main,
            create_revision: Some(self.create),
            version: Some(self.version),
            lease: Some(self.lease),
            value: Some(self.digest),
        })
    }
}

/// Where a stored value was found: once, or more than once (no anchor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    Once { main: i64, sub: i64 },
    Repeated,
}

/// The db's revisions, gathered before the replay. Keys are looked up by
/// hash (each replayed write asks for its key); the sorted list, made by
/// [`finish`](Self::finish), serves ranges. Each key's bytes are shared.
#[derive(Debug, Default)]
pub struct StoredHistory {
    /// Only keys under it are kept; others are not known.
    root: Vec<u8>,
    keys: HashMap<Arc<[u8]>, Vec<StoredRecord>>,
    /// Every key of `keys`, in order, once finished.
    sorted: Vec<Arc<[u8]>>,
    by_value: DigestMap<Anchor>,
    /// Keys that ever carried a lease.
    by_lease: HashMap<i64, Vec<Arc<[u8]>>>,
    records: usize,
    complete: bool,
    /// Revisions at and below it may have been compacted away.
    compact_revision: i64,
    /// The store's revision at the db's consistent index.
    current_revision: i64,
    consistent_index: Option<u64>,
}

impl StoredHistory {
    /// An empty history of the keys under `root`, ready for
    /// [`record`](Self::record).
    pub fn new(root: &[u8]) -> StoredHistory {
        StoredHistory {
            root: root.to_vec(),
            complete: true,
            ..StoredHistory::default()
        }
    }

    /// Adds one stored revision (from the tree or a free page).
    pub fn record(&mut self, rev: Revision, kv: &KeyValue) {
        if !self.complete || !kv.key.starts_with(&self.root) {
            return;
        }
        if self.records >= STORED_RECORD_LIMIT {
            self.complete = false;
            self.keys.clear();
            self.sorted.clear();
            self.by_value.clear();
            self.by_lease.clear();
            return;
        }
        self.records += 1;
        let digest = value_digest(&kv.key, &kv.value);
        let key = match self.keys.get_key_value(kv.key.as_slice()) {
            Some((k, _)) => k.clone(),
            None => Arc::from(kv.key.as_slice()),
        };
        if !rev.tombstone {
            let here = Anchor::Once {
                main: rev.main,
                sub: rev.sub,
            };
            self.by_value
                .entry(digest)
                .and_modify(|a| {
                    if *a != here {
                        *a = Anchor::Repeated
                    }
                })
                .or_insert(here);
            if kv.lease != 0 {
                let keys = self.by_lease.entry(kv.lease).or_default();
                if keys.last() != Some(&key) {
                    keys.push(key.clone());
                }
            }
        }
        let record = StoredRecord {
            main: rev.main,
            sub: rev.sub,
            create: kv.create_revision,
            version: kv.version,
            lease: kv.lease,
            digest,
            tombstone: rev.tombstone,
        };
        // Most Event keys have one stored revision: a first record takes
        // its own size, not a `Vec`'s first growth (four).
        self.keys
            .entry(key)
            .or_insert_with(|| Vec::with_capacity(1))
            .push(record);
    }

    /// Ends gathering: `compact_revision` and `consistent_index` from the
    /// db's meta bucket, `head_revision` its highest revision.
    pub fn finish(
        &mut self,
        compact_revision: Option<i64>,
        head_revision: Option<i64>,
        consistent_index: Option<u64>,
    ) {
        for records in self.keys.values_mut() {
            records.sort_by_key(|r| (r.main, r.sub));
            records.dedup_by_key(|r| (r.main, r.sub));
        }
        for keys in self.by_lease.values_mut() {
            keys.sort();
            keys.dedup();
        }
        self.sorted = self.keys.keys().cloned().collect();
        self.sorted.sort();
        self.compact_revision = compact_revision.unwrap_or(0);
        self.current_revision = head_revision.unwrap_or(0).max(self.compact_revision);
        self.consistent_index = consistent_index;
    }

    /// The raft index the db was applied up to.
    pub fn consistent_index(&self) -> Option<u64> {
        self.consistent_index
    }

    /// The store's revision at the consistent index.
    pub fn current_revision(&self) -> i64 {
        self.current_revision
    }

    /// The stored revision of exactly this key and value, when the db holds
    /// it once.
    pub fn anchor(&self, digest: ValueDigest) -> Option<(i64, i64)> {
        match self.by_value.get(&digest)? {
            Anchor::Once { main, sub } => Some((*main, *sub)),
            Anchor::Repeated => None,
        }
    }

    /// Whether the db says exactly what every key was at `revision`: above
    /// the compaction (every later revision is kept) and not past the db.
    pub fn exact_at(&self, revision: i64) -> bool {
        self.complete && revision >= self.compact_revision && revision <= self.current_revision
    }

    /// The key's state at `revision`, when the db knows it exactly.
    pub fn state_at(&self, key: &[u8], revision: i64) -> Knowledge {
        if !self.exact_at(revision) || !key.starts_with(&self.root) {
            return Knowledge::Unknown;
        }
        let Some(records) = self.keys.get(key) else {
            return Knowledge::Absent;
        };
        match records
            .iter()
            .rev()
            .find(|r| r.main <= revision)
            .and_then(StoredRecord::state)
        {
            Some(s) => Knowledge::Present(s),
            None => Knowledge::Absent,
        }
    }

    /// The state the db's copy of `key` at exactly `(main, sub)` leaves,
    /// when the db holds that revision.
    pub fn revision(&self, key: &[u8], main: i64, sub: i64) -> Option<KeyState> {
        let records = self.keys.get(key)?;
        let at = records
            .binary_search_by_key(&(main, sub), |r| (r.main, r.sub))
            .ok()?;
        records[at].state()
    }

    /// Whether the db holds a tombstone of `key` at exactly `(main, sub)`.
    pub fn holds_tombstone(&self, key: &[u8], main: i64, sub: i64) -> bool {
        let Some(records) = self.keys.get(key) else {
            return false;
        };
        records
            .binary_search_by_key(&(main, sub), |r| (r.main, r.sub))
            .is_ok_and(|at| records[at].tombstone)
    }

    /// Stored keys in `[start, end)` (`end` empty: no end).
    pub fn keys_in<'a>(
        &'a self,
        start: &'a [u8],
        end: &'a [u8],
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        let from = self.sorted.partition_point(|k| &**k < start);
        self.sorted[from..]
            .iter()
            .map(|k| &**k)
            .take_while(move |k| end.is_empty() || *k < end)
    }

    /// Whether every key of `[start, end)` is under the root the history
    /// keeps (`end` empty: no end).
    pub fn covers(&self, start: &[u8], end: &[u8]) -> bool {
        if !start.starts_with(&self.root) {
            return false;
        }
        match prefix_end(&self.root) {
            Some(root_end) => !end.is_empty() && end <= root_end.as_slice(),
            None => true,
        }
    }

    /// Keys that ever carried `lease` in the db.
    pub fn keys_of_lease(&self, lease: i64) -> &[Arc<[u8]>] {
        self.by_lease.get(&lease).map_or(&[], |v| v.as_slice())
    }
}

/// The first key after every key that starts with `prefix` (`None`: no
/// such key, the prefix is empty or all 0xff).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(h: &mut StoredHistory, key: &str, main: i64, value: &str) {
        h.record(
            Revision {
                main,
                sub: 0,
                tombstone: false,
            },
            &KeyValue {
                key: key.into(),
                create_revision: main,
                mod_revision: main,
                version: 1,
                value: value.into(),
                lease: 0,
            },
        );
    }

    #[test]
    fn states_are_exact_only_between_the_compaction_and_the_head() {
        let mut h = StoredHistory::new(b"/");
        put(&mut h, "/a", 5, "x");
        put(&mut h, "/a", 9, "y");
        h.record(
            Revision {
                main: 12,
                sub: 0,
                tombstone: true,
            },
            &KeyValue {
                key: "/a".into(),
                ..KeyValue::default()
            },
        );
        h.finish(Some(6), Some(12), Some(40));
        assert_eq!(h.state_at(b"/a", 5), Knowledge::Unknown);
        assert!(matches!(h.state_at(b"/a", 7), Knowledge::Present(s) if s.mod_revision == 5));
        assert!(matches!(h.state_at(b"/a", 10), Knowledge::Present(s) if s.mod_revision == 9));
        assert_eq!(h.state_at(b"/a", 12), Knowledge::Absent);
        assert_eq!(h.state_at(b"/b", 8), Knowledge::Absent);
        assert_eq!(h.state_at(b"/a", 13), Knowledge::Unknown);
        assert_eq!(h.anchor(value_digest(b"/a", b"y")), Some((9, 0)));
    }

    #[test]
    fn only_ranges_under_the_root_are_covered() {
        let h = StoredHistory::new(b"/registry/");
        assert!(h.covers(b"/registry/events/", b"/registry/events0"));
        assert!(!h.covers(b"/registry/events/", b""));
        assert!(!h.covers(b"/", b"0"));
        assert!(h.covers(b"/registry/a", b"/registry0"));
        assert!(!h.covers(b"/registry/a", b"/registry1"));
    }

    #[test]
    fn a_value_stored_twice_anchors_nothing() {
        let mut h = StoredHistory::new(b"/");
        put(&mut h, "/a", 5, "x");
        put(&mut h, "/a", 9, "x");
        h.finish(None, Some(9), None);
        assert_eq!(h.anchor(value_digest(b"/a", b"x")), None);
    }
}
