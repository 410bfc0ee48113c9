//! The history of every key in one source, gathered in a first pass over
//! the source's revisions, so that the load can write each row once with
//! its `live` and `deleted_revision` already known (rather than inserting
//! the rows and rewriting most of them afterwards).
//!
//! The rules are those of the store's SQL derivation (`src/store/liveness.rs`):
//! - a revision is live when it is its key's newest revision in the source
//!   (puts and tombstones alike, the tree's and the free pages'), is a put,
//!   and was read from the tree or the API (not a free page);
//! - a put's `deleted_revision` is the key's first tombstone at a later
//!   main revision;
//! - of two copies of one revision (a free page repeating the tree), the
//!   first one read counts.
//!
//! Memory is bounded: per key a 128-bit keyed hash of the key and 32 bytes
//! of history (about 50–100 bytes per key with the table's slack), plus 8
//! bytes per tombstone after a key's first. A source with more than
//! [`KEY_LIMIT`] keys, or as many such tombstones, is not gathered, and the
//! writer derives the values in SQL instead, with flat memory.

use std::collections::hash_map::Entry;

use std::hash::{BuildHasher, RandomState};

use crate::helpers::DigestMap;
use crate::source::mvcc::Revision;
use crate::store::{Fate, RecoveredFrom};

/// The most keys gathered in memory: what a table of 2^21 slots holds (7/8
/// of them), about 100 MB with 48-byte slots, so that the table never grows
/// (and never holds two copies while growing) past that.
pub const KEY_LIMIT: usize = (1 << 21) / 8 * 7;

/// The most slots reserved before the first key is seen: a guess from the
/// file's size may be far too high (a file of mostly free pages).
const MAX_RESERVED: usize = 1 << 18;

/// `first_tombstone` when the key has none.
const NO_TOMBSTONE: i64 = i64::MIN;

/// What one key did in the source.
#[derive(Debug, Clone, Copy)]
struct KeyHistory {
    /// The newest revision (main, sub) of the key.
    newest: (i64, i64),
    /// The first tombstone's main revision, or [`NO_TOMBSTONE`]; further
    /// ones are in [`KeyHistories::more_tombstones`].
    first_tombstone: i64,
    /// The newest revision is a put read from the tree or the API.
    newest_is_live: bool,
}

/// Keys are looked up by a 128-bit hash made of two independently keyed
/// SipHashes: keys come from the evidence, and collisions must be neither
/// likely nor craftable.
struct KeyHasher(RandomState, RandomState);

impl KeyHasher {
    fn new() -> KeyHasher {
        KeyHasher(RandomState::new(), RandomState::new())
    }

    /// The key as the writer stores it (invalid UTF-8 replaced), hashed.
    fn hash(&self, key: &[u8]) -> u128 {
        let key = String::from_utf8_lossy(key);
        let high = self.0.hash_one(key.as_bytes());
        let low = self.1.hash_one(key.as_bytes());
        (u128::from(high) << 64) | u128::from(low)
    }
}

type KeyMap<V> = DigestMap<V>;

/// Where the rows of a load get their [`Fate`] from.
#[derive(Clone, Copy)]
pub enum Fates<'a> {
    /// The whole history of a source's keys (a snapshot's first pass):
    /// `live` and `deleted_revision`.
    History(&'a KeyHistories),
    /// The keys of a running etcd at the pulled head: `live` only.
    Head(&'a HeadKeys),
}

impl Fates<'_> {
    /// The fate of one put of `key` at `revision` (main, sub).
    pub fn fate(&self, key: &[u8], revision: (i64, i64), from: RecoveredFrom) -> Fate {
        match self {
            Fates::History(h) => h.fate(key, revision, from),
            Fates::Head(h) => h.fate(key, revision.0),
        }
    }
}

/// The keys under a prefix of a running etcd at one revision (the head a
/// live pull pins), with their mod revisions: a put is live exactly when it
/// is its key's value there. (A key's puts have distinct main revisions: a
/// transaction may not write one key twice.)
pub struct HeadKeys {
    keys: KeyMap<i64>,
    hasher: KeyHasher,
    limit: usize,
}

impl HeadKeys {
    pub fn new(limit: usize) -> HeadKeys {
        HeadKeys {
            keys: KeyMap::default(),
            hasher: KeyHasher::new(),
            limit,
        }
    }

    /// Adds a key present at the head. False when the limit is reached:
    /// the set is then incomplete and must not be used.
    pub fn insert(&mut self, key: &[u8], mod_revision: i64) -> bool {
        if self.keys.len() >= self.limit {
            return false;
        }
        self.keys.insert(self.hasher.hash(key), mod_revision);
        true
    }

    fn fate(&self, key: &[u8], mod_revision: i64) -> Fate {
        Fate {
            live: self.keys.get(&self.hasher.hash(key)) == Some(&mod_revision),
            deleted_revision: None,
        }
    }
}

/// The histories of a source's keys, looked up by key.
pub struct KeyHistories {
    keys: KeyMap<KeyHistory>,
    /// Tombstones after each key's first (a name deleted, created again and
    /// deleted again: rare), each once, ascending.
    more_tombstones: KeyMap<Vec<i64>>,
    /// How many `more_tombstones` hold in all: counted against the limit.
    more_tombstone_count: usize,
    hasher: KeyHasher,
    limit: usize,
}

impl KeyHistories {
    /// `expected_keys`: a guess of how many keys will be recorded (capped
    /// at `limit`), to allocate the table once rather than grow it.
    pub fn new(limit: usize, expected_keys: usize) -> KeyHistories {
        let mut keys = KeyMap::default();
        keys.reserve(expected_keys.min(limit).min(MAX_RESERVED));
        KeyHistories {
            keys,
            more_tombstones: KeyMap::default(),
            more_tombstone_count: 0,
            hasher: KeyHasher::new(),
            limit,
        }
    }

    /// Keys gathered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }

    /// Records one revision, in the order the load reads them. False when
    /// the key is new and the limit is reached: the histories are then
    /// incomplete and must not be used.
    pub fn record(&mut self, key: &[u8], rev: Revision, from: RecoveredFrom) -> bool {
        let hash = self.hasher.hash(key);
        let revision = (rev.main, rev.sub);
        let full = self.keys.len() >= self.limit;
        let history = match self.keys.entry(hash) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(_) if full => return false,
            Entry::Vacant(v) => v.insert(KeyHistory {
                newest: (i64::MIN, i64::MIN),
                first_tombstone: NO_TOMBSTONE,
                newest_is_live: false,
            }),
        };
        if revision == history.newest {
            // A second copy of the newest revision: the first one counts.
            return true;
        }
        if revision > history.newest {
            history.newest = revision;
            history.newest_is_live = !rev.tombstone && from != RecoveredFrom::FreePage;
        }
        if rev.tombstone {
            if history.first_tombstone == NO_TOMBSTONE {
                history.first_tombstone = rev.main;
            } else if history.first_tombstone != rev.main {
                // Free pages repeat older tombstones too: each is kept once.
                let more = self.more_tombstones.entry(hash).or_default();
                if let Err(at) = more.binary_search(&rev.main) {
                    if self.more_tombstone_count >= self.limit {
                        return false;
                    }
                    more.insert(at, rev.main);
                    self.more_tombstone_count += 1;
                }
            }
        }
        true
    }

    /// The fate of one put of `key` at `revision` (main, sub).
    pub fn fate(&self, key: &[u8], revision: (i64, i64), from: RecoveredFrom) -> Fate {
        let hash = self.hasher.hash(key);
        let Some(history) = self.keys.get(&hash) else {
            return Fate::default();
        };
        let live =
            history.newest_is_live && history.newest == revision && from != RecoveredFrom::FreePage;
        let later = |t: &i64| *t > revision.0;
        let first = Some(history.first_tombstone).filter(|t| *t != NO_TOMBSTONE);
        let deleted_revision = first
            .iter()
            .chain(self.more_tombstones.get(&hash).into_iter().flatten())
            .copied()
            .filter(later)
            .min();
        Fate {
            live,
            deleted_revision,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RecoveredFrom::{FreePage, Tree};

    fn put(main: i64, sub: i64) -> Revision {
        Revision {
            main,
            sub,
            tombstone: false,
        }
    }

    fn del(main: i64, sub: i64) -> Revision {
        Revision {
            main,
            sub,
            tombstone: true,
        }
    }

    fn fate(live: bool, deleted_revision: Option<i64>) -> Fate {
        Fate {
            live,
            deleted_revision,
        }
    }

    #[test]
    fn newest_put_is_live_and_tombstones_end_generations() {
        let mut h = KeyHistories::new(10, 4);
        for (key, rev) in [
            ("/e/a", put(10, 0)),
            ("/e/b", put(10, 1)),
            ("/e/a", put(11, 0)),
            ("/e/b", del(12, 0)),
            ("/e/b", put(13, 0)),
            ("/e/b", del(14, 0)),
            ("/e/c", put(15, 0)),
        ] {
            assert!(h.record(key.as_bytes(), rev, Tree));
        }
        assert_eq!(h.fate(b"/e/a", (10, 0), Tree), fate(false, None));
        assert_eq!(h.fate(b"/e/a", (11, 0), Tree), fate(true, None));
        assert_eq!(h.fate(b"/e/b", (10, 1), Tree), fate(false, Some(12)));
        assert_eq!(h.fate(b"/e/b", (13, 0), Tree), fate(false, Some(14)));
        assert_eq!(h.fate(b"/e/c", (15, 0), Tree), fate(true, None));
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn free_pages_count_for_history_but_are_never_live() {
        let mut h = KeyHistories::new(10, 4);
        h.record(b"/e/a", put(20, 0), Tree);
        // A copy of the tree's revision: the tree's counts.
        h.record(b"/e/a", put(20, 0), FreePage);
        // Older revisions found only in free pages.
        h.record(b"/e/a", put(5, 0), FreePage);
        h.record(b"/e/a", del(6, 0), FreePage);
        assert_eq!(h.fate(b"/e/a", (20, 0), Tree), fate(true, None));
        assert_eq!(h.fate(b"/e/a", (5, 0), FreePage), fate(false, Some(6)));
        // A newer revision seen only in a free page: nothing is live.
        h.record(b"/e/b", put(7, 0), Tree);
        h.record(b"/e/b", put(9, 0), FreePage);
        assert_eq!(h.fate(b"/e/b", (7, 0), Tree), fate(false, None));
        assert_eq!(h.fate(b"/e/b", (9, 0), FreePage), fate(false, None));
    }

    #[test]
    fn a_tombstone_in_the_same_main_revision_does_not_end_the_put() {
        // The SQL rule compares main revisions: `d.revision > mod_revision`.
        let mut h = KeyHistories::new(10, 4);
        h.record(b"/e/a", put(30, 0), Tree);
        h.record(b"/e/a", del(30, 1), Tree);
        h.record(b"/e/a", put(31, 0), Tree);
        h.record(b"/e/a", del(40, 0), Tree);
        assert_eq!(h.fate(b"/e/a", (30, 0), Tree), fate(false, Some(40)));
    }

    #[test]
    fn repeated_tombstones_are_kept_once_and_counted_against_the_limit() {
        let mut h = KeyHistories::new(2, 4);
        h.record(b"/e/a", put(1, 0), Tree);
        h.record(b"/e/a", del(2, 0), Tree);
        h.record(b"/e/a", put(3, 0), Tree);
        h.record(b"/e/a", del(4, 0), Tree);
        // Free-page copies of both tombstones, in any order.
        for _ in 0..3 {
            assert!(h.record(b"/e/a", del(4, 0), FreePage));
            assert!(h.record(b"/e/a", del(2, 0), FreePage));
        }
        assert_eq!(h.more_tombstone_count, 1);
        assert_eq!(h.fate(b"/e/a", (1, 0), Tree), fate(false, Some(2)));
        assert_eq!(h.fate(b"/e/a", (3, 0), Tree), fate(false, Some(4)));
        // A second distinct one reaches the limit (2); a third is refused.
        assert!(h.record(b"/e/a", del(6, 0), FreePage));
        assert!(!h.record(b"/e/a", del(5, 0), FreePage));
    }

    #[test]
    fn invalid_utf8_keys_are_one_key_as_stored() {
        let mut h = KeyHistories::new(10, 4);
        h.record(b"/e/\xff", put(1, 0), Tree);
        h.record(b"/e/\xfe", put(2, 0), Tree);
        assert_eq!(h.len(), 1);
        assert_eq!(h.fate(b"/e/\xff", (1, 0), Tree), fate(false, None));
    }

    #[test]
    fn head_keys_make_the_value_at_the_head_live() {
        let mut head = HeadKeys::new(10);
        assert!(head.insert(b"/e/a", 7));
        let fates = Fates::Head(&head);
        assert_eq!(
            fates.fate(b"/e/a", (7, 2), RecoveredFrom::Live),
            fate(true, None)
        );
        assert_eq!(
            fates.fate(b"/e/a", (5, 0), RecoveredFrom::Live),
            fate(false, None)
        );
        assert_eq!(
            fates.fate(b"/e/b", (7, 0), RecoveredFrom::Live),
            fate(false, None)
        );
        let mut full = HeadKeys::new(1);
        assert!(full.insert(b"/e/a", 1));
        assert!(!full.insert(b"/e/b", 2));
    }

    #[test]
    fn the_key_limit_is_reported() {
        let mut h = KeyHistories::new(2, 0);
        assert!(h.record(b"/e/a", put(1, 0), Tree));
        assert!(h.record(b"/e/b", put(2, 0), Tree));
        assert!(h.record(b"/e/a", put(3, 0), Tree), "a known key still fits");
        assert!(!h.record(b"/e/c", put(4, 0), Tree));
    }
}
