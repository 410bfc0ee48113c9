//! A survey of what an etcd file holds, without loading it (`evforensics info`):
//! the tree's buckets, and the Event revisions that only free pages still
//! hold — with how far back in time each reaches.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use super::bolt::{BoltDb, ReadAt};
use super::free_pages::{for_each_free_key_entry, FreePageScan};
use super::mvcc::{self, MvccMeta, Revision};
use super::registry::{key_resource, registry_root};
use crate::decode::decode_event;

/// Counts for one resource (`pods`, `events`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceCounts {
    /// Distinct keys with at least one stored revision.
    pub keys: u64,
    /// Keys whose newest stored revision is a put (what `etcdctl get` shows).
    pub live_keys: u64,
    /// Stored put revisions.
    pub revisions: u64,
    pub tombstones: u64,
}

/// The earliest and latest occurrence among Event values (the database's
/// time text, as `events.occurred_at`): how far back a layer of evidence
/// reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OccurrenceSpan {
    /// Event values seen.
    pub values: u64,
    /// Of those, values without a time the decoder could read (encrypted,
    /// not an Event, damaged).
    pub without_time: u64,
    pub oldest: Option<String>,
    pub newest: Option<String>,
}

impl OccurrenceSpan {
    /// One stored Event value (any encoding the decoder reads).
    pub fn add_value(&mut self, value: &[u8]) {
        self.add_occurrence(occurrence_of(value));
    }

    /// One Event value whose occurrence time (the database's time text) is
    /// `at`, `None` when it has none.
    pub fn add_occurrence(&mut self, at: Option<String>) {
        self.values += 1;
        let Some(at) = at else {
            self.without_time += 1;
            return;
        };
        if self.oldest.as_ref().is_none_or(|o| at < *o) {
            self.oldest = Some(at.clone());
        }
        if self.newest.as_ref().is_none_or(|n| at > *n) {
            self.newest = Some(at);
        }
    }

    /// `oldest .. newest`, or `no time` when no value had one.
    pub fn describe(&self) -> String {
        match (&self.oldest, &self.newest) {
            (Some(o), Some(n)) => format!("{o} .. {n}"),
            _ => "no time".to_string(),
        }
    }
}

/// When a stored Event value says it happened (`events.occurred_at`).
fn occurrence_of(value: &[u8]) -> Option<String> {
    decode_event(value, None).fields.occurred_at()
}

/// The lowest and highest main revision of a set of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevisionRange {
    pub oldest: i64,
    pub newest: i64,
}

impl RevisionRange {
    /// `range` widened to hold `rev`.
    pub fn with(range: Option<RevisionRange>, rev: i64) -> RevisionRange {
        match range {
            None => RevisionRange {
                oldest: rev,
                newest: rev,
            },
            Some(r) => RevisionRange {
                oldest: r.oldest.min(rev),
                newest: r.newest.max(rev),
            },
        }
    }
}

/// What the free pages hold (see [`super::free_pages`]).
#[derive(Debug, Clone, Default)]
pub struct FreePageSurvey {
    pub scan: FreePageScan,
    /// Revision entries in the `key`-bucket leaves among them (copies of
    /// one revision in several pages counted each).
    pub entries: u64,
    /// The Event revisions (puts) found there and not in the tree — what
    /// only the free pages still hold, as `ingest` loads them
    /// (`recovered_from = 'free-page'`): each revision once.
    pub events_only_here: OccurrenceSpan,
    /// Their revisions.
    pub event_revisions: Option<RevisionRange>,
}

/// What one etcd file holds.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    pub entries: u64,
    pub head_revision: Option<i64>,
    pub oldest_revision: Option<i64>,
    pub meta: MvccMeta,
    pub leases: u64,
    /// Keyed by the resource of the key (`pods`; see `resource_of`).
    pub resources: BTreeMap<String, ResourceCounts>,
    /// Counts for keys under the Event prefix.
    pub events: ResourceCounts,
    /// Records (revisions and tombstones) of the other keys under the
    /// registry root: Kubernetes objects that are not Events.
    pub object_records: u64,
    /// When the Event revisions the tree holds happened.
    pub event_span: OccurrenceSpan,
    /// The revisions of the Event puts the tree holds.
    pub event_revisions: Option<RevisionRange>,
    /// The free pages, and the Event revisions only they hold.
    pub free: FreePageSurvey,
    /// Entries or pages that could not be read.
    pub damage: Vec<String>,
}

/// Walks the `key`, `meta` and `lease` buckets, and the `key`-bucket
/// leaves among the free pages. Memory is a hash (8 bytes) and a flag per
/// distinct key, not the keys themselves, and the revision and time of
/// each Event revision found in free pages.
pub fn survey<R: ReadAt>(db: &BoltDb<R>, prefix: &str) -> Survey {
    let mut s = Survey::default();
    let root = registry_root(prefix);
    // Free pages first: the tree walk then strikes out what it holds.
    let mut free_events = BTreeMap::new();
    s.free.scan = for_each_free_key_entry(db, |_, rev, v| {
        s.free.entries += 1;
        if rev.tombstone || free_events.contains_key(&(rev.main, rev.sub)) {
            return;
        }
        // Free pages hold leftovers: what does not decode is skipped.
        if let Ok(kv) = mvcc::decode_key_value(&rev, v) {
            if kv.key.starts_with(prefix.as_bytes()) {
                free_events.insert((rev.main, rev.sub), occurrence_of(&kv.value));
            }
        }
    });
    if let Ok(Some(b)) = db.bucket(b"meta") {
        let mut meta = MvccMeta::default();
        let report = db.for_each(&b, |k, v| meta.add_entry(k, v));
        s.damage.extend(report.damage.iter().map(|d| d.to_string()));
        s.damage.extend(meta.problems.iter().cloned());
        s.meta = meta;
    }
    if let Ok(Some(b)) = db.bucket(b"lease") {
        let mut n = 0;
        db.for_each(&b, |_, _| n += 1);
        s.leases = n;
    }
    let bucket = match db.bucket(b"key") {
        Ok(Some(b)) => b,
        Ok(None) => {
            s.damage.push("no `key` bucket".into());
            s.free.add_only_here(free_events);
            return s;
        }
        Err(e) => {
            s.damage.push(e.to_string());
            s.free.add_only_here(free_events);
            return s;
        }
    };
    // key hash → (resource, under the Event prefix, newest revision is a tombstone)
    let mut last_state: HashMap<u64, (u32, bool, bool)> = HashMap::new();
    let mut resource_ids: HashMap<String, u32> = HashMap::new();
    let mut resource_names: Vec<String> = Vec::new();
    let mut per_resource: Vec<ResourceCounts> = Vec::new();
    let mut damage = Vec::new();
    let report = db.for_each(&bucket, |k, v| {
        s.entries += 1;
        let rev = match Revision::parse(k) {
            Ok(r) => r,
            Err(e) => {
                damage.push(e.to_string());
                return;
            }
        };
        free_events.remove(&(rev.main, rev.sub));
        s.head_revision = s.head_revision.max(Some(rev.main));
        s.oldest_revision = Some(s.oldest_revision.map_or(rev.main, |o| o.min(rev.main)));
        let kv = match mvcc::decode_key_value(&rev, v) {
            Ok(kv) => kv,
            Err(e) => {
                damage.push(format!("revision {}: {e}", rev.main));
                return;
            }
        };
        let resource = resource_of(&kv.key, root);
        let id = *resource_ids.entry(resource.clone()).or_insert_with(|| {
            resource_names.push(resource);
            per_resource.push(ResourceCounts::default());
            (per_resource.len() - 1) as u32
        });
        let counts = &mut per_resource[id as usize];
        if rev.tombstone {
            counts.tombstones += 1;
        } else {
            counts.revisions += 1;
        }
        let is_event = kv.key.starts_with(prefix.as_bytes());
        if !is_event && kv.key.starts_with(root.as_bytes()) {
            s.object_records += 1;
        }
        if is_event && !rev.tombstone {
            s.event_span.add_value(&kv.value);
            s.event_revisions = Some(RevisionRange::with(s.event_revisions, rev.main));
        }
        if is_event {
            if rev.tombstone {
                s.events.tombstones += 1;
            } else {
                s.events.revisions += 1;
            }
        }
        let mut h = DefaultHasher::new();
        kv.key.hash(&mut h);
        last_state.insert(h.finish(), (id, is_event, rev.tombstone));
    });
    s.damage.extend(damage);
    s.damage.extend(report.damage.iter().map(|d| d.to_string()));
    for &(id, is_event, tombstoned) in last_state.values() {
        let counts = &mut per_resource[id as usize];
        counts.keys += 1;
        counts.live_keys += u64::from(!tombstoned);
        if is_event {
            s.events.keys += 1;
            s.events.live_keys += u64::from(!tombstoned);
        }
    }
    s.resources = resource_names.into_iter().zip(per_resource).collect();
    s.free.add_only_here(free_events);
    s
}

impl FreePageSurvey {
    /// The Event revisions (main, sub) → occurrence left once the tree's
    /// are struck out.
    fn add_only_here(&mut self, events: BTreeMap<(i64, i64), Option<String>>) {
        for ((main, _), at) in events {
            self.events_only_here.add_occurrence(at);
            self.event_revisions = Some(RevisionRange::with(self.event_revisions, main));
        }
    }
}

/// The resource a key is counted under: its resource under the registry
/// root (`/registry/pods/ns/name` → `pods`, as `objects.resource` names
/// it); a key outside the root stands for its first two path segments, or
/// for itself when it has no path layout (`compact_rev_key`).
fn resource_of(key: &[u8], root: &str) -> String {
    let key = String::from_utf8_lossy(key);
    if let Some(resource) = key_resource(&key, root) {
        return resource;
    }
    if !key.starts_with('/') {
        return key.into_owned();
    }
    let mut end = key.len();
    let mut slashes = 0;
    for (i, c) in key.char_indices().skip(1) {
        if c == '/' {
            slashes += 1;
            if slashes == 2 {
                end = i;
                break;
            }
        }
    }
    key[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::resource_of;

    #[test]
    fn resources_are_named_as_objects_names_them() {
        let r = |k: &[u8]| resource_of(k, "/registry/");
        assert_eq!(r(b"/registry/pods/ns/a"), "pods");
        assert_eq!(r(b"/registry/namespaces/ns"), "namespaces");
        assert_eq!(r(b"/registry/services/specs/ns/a"), "services");
        assert_eq!(r(b"/registry/ranges"), "ranges");
        assert_eq!(r(b"/other/things/x"), "/other/things");
        assert_eq!(r(b"compact_rev_key"), "compact_rev_key");
    }
}
