//! Writes Kubernetes Events into a real etcd exactly the way kube-apiserver
//! does, and keeps a [`Ledger`] of what etcd did with every write.
//!
//! # Write patterns (kube-apiserver `storage/etcd3/store.go`)
//! * create: `Txn(If ModRevision(key) == 0).Then(Put(key, value, lease))`
//! * update: `Txn(If ModRevision(key) == prev).Then(Put(key, value, lease))`;
//!   every update attaches the apiserver's *current* lease, which may be
//!   newer than the one the key had.
//! * delete: `Txn(If ModRevision(key) == prev).Then(Delete(key))`
//! * leases: TTL 3660 s (`--event-ttl` 1h + 60 s reuse window), one lease
//!   shared by every Event written in the same minute.
//! * compaction: `Put("compact_rev_key", "<rev>")` then `Compact(rev)`
//!   (physical, so the bbolt file no longer holds the compacted revisions).
//!
//! The ledger records each write from etcd's own responses (txn header
//! revision, `prev_kv` for create revision and version) and cross-checks
//! it against what the writer expected.
//!
//! # What survives in a snapshot (etcd 3.4 `mvcc/key_index.go` `compact`/
//! `doCompact`, `mvcc/kvstore_compaction.go` `scheduleCompaction`)
//! With compaction revision `C` (0 = never compacted) the key bucket holds:
//! * every revision `> C` (puts and tombstones), and
//! * for each key, the newest revision `<= C` **if it is a put**, i.e. the
//!   value the key had at `C`. A put `<= C` that was superseded or deleted
//!   at or before `C` is gone, and so is every tombstone `<= C` (a tombstone
//!   at exactly `C` too).
//!
//! Equivalently: put `p` survives iff `p.revision > C` or the next write to
//! the same key after `p` (put or delete) is `> C` or does not exist. A
//! tombstone survives iff its revision `> C`. Consequence: the tombstone
//! ending the generation of a surviving put always survives too, so
//! [`Ledger::deleted_revision`] is always observable for surviving puts.
//!
//! Verified against etcd 3.4.23 by `tests/etcd_harness.rs`: reads at `C`
//! and at head, `C - 1` is refused as compacted, and the snapshot's bbolt
//! `key` bucket is read back and compared entry by entry
//! ([`Ledger::expected_key_bucket`]).
//!
//! A put is stored as `mvccpb.KeyValue{key, create_revision, mod_revision,
//! version, value, lease}` under `main(8 BE) '_' sub(8 BE)`; a tombstone as
//! `KeyValue{key}` under the same revision bytes plus `'t'`. Revoking a
//! lease deletes its keys in one revision, in bytewise key order (sub
//! revisions 0, 1, …; `lease/lessor.go` sorts them).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, DeleteOptions, GetOptions, PutOptions, Txn,
    TxnOp, TxnOpResponse,
};
use evforensics::proto::{core::v1 as core, meta::v1 as meta, runtime};
use prost::Message as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// TTL kube-apiserver gives Event leases: `--event-ttl` (1h) + 60 s.
pub const EVENT_LEASE_TTL: i64 = 3660;
/// The key kube-apiserver's compactor writes before each compaction.
pub const COMPACT_REV_KEY: &str = "compact_rev_key";
/// Prefix of encrypted values (`EncryptionConfiguration`, aescbc, key1).
pub const AESCBC_PREFIX: &[u8] = b"k8s:enc:aescbc:v1:key1:";
/// 2024-03-14T09:12:00Z, when the standard scenario's incident starts.
pub const INCIDENT_START: i64 = 1_710_407_520;

// ---------------------------------------------------------------------------
// Ledger
// ---------------------------------------------------------------------------

/// What a stored value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// `k8s\0` + runtime.Unknown{v1 Event} (the default storage encoding).
    ProtobufEvent,
    /// `{"kind":"Event","apiVersion":"v1",…}` (`--storage-media-type=application/json`).
    JsonEvent,
    /// `k8s:enc:aescbc:v1:key1:` + ciphertext; undecodable without the key.
    EncryptedEvent,
    /// Bytes under /registry/events/ that are no Kubernetes object at all.
    GarbageEvent,
    /// `k8s\0` + runtime.Unknown{v1 Pod} under /registry/pods/.
    Pod,
    /// `k8s\0` + runtime.Unknown{v1 Namespace} under /registry/namespaces/.
    Namespace,
    /// `k8s\0` + runtime.Unknown{another kind (Deployment, ReplicaSet, …),
    /// metadata only} under its resource's key.
    Object,
    /// kube-apiserver's `compact_rev_key` (decimal revision as value).
    CompactRevKey,
}

impl ValueKind {
    /// Stored under /registry/events/ (whether or not decodable).
    pub fn under_events_prefix(self) -> bool {
        matches!(
            self,
            ValueKind::ProtobufEvent
                | ValueKind::JsonEvent
                | ValueKind::EncryptedEvent
                | ValueKind::GarbageEvent
        )
    }

    /// A decodable Event (protobuf or JSON): should become an event row.
    pub fn is_decodable_event(self) -> bool {
        matches!(self, ValueKind::ProtobufEvent | ValueKind::JsonEvent)
    }
}

/// One put as etcd applied it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedPut {
    pub key: String,
    /// Main revision (the txn's header revision).
    pub revision: i64,
    /// Sub revision: position of this op among the txn's changes.
    pub sub: i64,
    pub create_revision: i64,
    /// 1 for a create, +1 per update within the generation.
    pub version: i64,
    /// Lease id attached by this put (0: none).
    pub lease: i64,
    pub kind: ValueKind,
    /// The exact stored bytes.
    #[serde(with = "b64")]
    pub value: Vec<u8>,
    /// The Event as written (also for JSON values), when `kind` is an Event
    /// whose content is known. Serialized as base64 of its protobuf.
    #[serde(with = "b64_event", default, skip_serializing_if = "Option::is_none")]
    pub event: Option<core::Event>,
    /// The Event rendered the way the Kubernetes API renders it as JSON
    /// (for humans reading ledger.json; derived from `event`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_json: Option<Value>,
    /// What this write is in the scenario's story.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// Why a key was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum DeleteCause {
    /// `Txn(If ModRevision == prev).Then(Delete)`, e.g. kubectl delete or
    /// the namespace controller.
    Explicit,
    /// The key's lease was revoked (what TTL expiry does).
    LeaseRevoked { lease: i64 },
}

/// One tombstone as etcd applied it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedDelete {
    pub key: String,
    pub revision: i64,
    pub sub: i64,
    pub cause: DeleteCause,
    /// create_revision of the generation this tombstone ends.
    pub generation_create_revision: i64,
    /// mod_revision of the put the tombstone follows.
    pub prev_mod_revision: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// A lease granted by the writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedLease {
    pub id: i64,
    pub ttl: i64,
    /// Revision at which revoking it deleted its keys (`None`: still
    /// granted at head; a revoke of a lease without keys has no revision
    /// and is recorded as `Some(0)`).
    pub revoked_revision: Option<i64>,
}

/// Everything the writer did, from etcd's responses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// etcd server version the scenario ran against.
    pub etcd_version: String,
    /// Every put, in (revision, sub) order.
    pub puts: Vec<ExpectedPut>,
    /// Every tombstone, in (revision, sub) order.
    pub deletes: Vec<ExpectedDelete>,
    pub leases: Vec<ExpectedLease>,
    /// Revision passed to Compact (0: never compacted).
    pub compact_revision: i64,
    /// Store revision after the last write.
    pub head_revision: i64,
}

/// What became of one put, derived by [`Ledger::fates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PutFate {
    /// Still in the key bucket after compaction (and so in the snapshot).
    pub survives: bool,
    /// The key's current value at head.
    pub live_at_head: bool,
    /// Revision of the next put of the same key in the same generation.
    pub superseded_revision: Option<i64>,
    /// Revision of the tombstone ending this put's generation.
    pub deleted_revision: Option<i64>,
    pub deleted_by: Option<DeleteCause>,
}

/// One expected entry of the snapshot's bbolt `key` bucket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyBucketEntry {
    pub revision: i64,
    pub sub: i64,
    pub tombstone: bool,
    pub key: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub value: Vec<u8>,
    pub lease: i64,
}

/// Counts for reports and READMEs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LedgerSummary {
    pub puts: usize,
    pub event_puts: usize,
    pub surviving_puts: usize,
    pub surviving_event_puts: usize,
    pub compacted_puts: usize,
    pub live_keys: usize,
    pub live_event_keys: usize,
    pub deletes: usize,
    pub explicit_deletes: usize,
    pub expired_by_lease: usize,
    pub surviving_tombstones: usize,
    pub leases: usize,
    pub revoked_leases: usize,
    pub compact_revision: i64,
    pub head_revision: i64,
}

#[derive(Clone, Copy)]
enum Op {
    Put(usize),
    Del(usize),
}

/// True when the next write of a key (if any) comes after revision `rev`.
fn after(next: Option<&(i64, i64, Op)>, rev: i64) -> bool {
    match next {
        Some(&(r, _, _)) => r > rev,
        None => true,
    }
}

impl Ledger {
    /// Writes the ledger as pretty JSON.
    pub fn save(&self, path: &Path) {
        let s = serde_json::to_string_pretty(self).expect("serializing ledger");
        std::fs::write(path, s + "\n")
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Reads a ledger written by [`save`](Self::save).
    pub fn load(path: &Path) -> Ledger {
        let s = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
    }

    fn history(&self) -> HashMap<&str, Vec<(i64, i64, Op)>> {
        let mut h: HashMap<&str, Vec<(i64, i64, Op)>> = HashMap::new();
        for (i, p) in self.puts.iter().enumerate() {
            h.entry(&p.key)
                .or_default()
                .push((p.revision, p.sub, Op::Put(i)));
        }
        for (i, d) in self.deletes.iter().enumerate() {
            h.entry(&d.key)
                .or_default()
                .push((d.revision, d.sub, Op::Del(i)));
        }
        for ops in h.values_mut() {
            ops.sort_by_key(|&(r, s, _)| (r, s));
        }
        h
    }

    /// The fate of every put, index-aligned with [`puts`](Self::puts).
    pub fn fates(&self) -> Vec<PutFate> {
        let c = self.compact_revision;
        let mut out = vec![
            PutFate {
                survives: false,
                live_at_head: false,
                superseded_revision: None,
                deleted_revision: None,
                deleted_by: None,
            };
            self.puts.len()
        ];
        for ops in self.history().values() {
            for (pos, &(rev, _, op)) in ops.iter().enumerate() {
                let Op::Put(i) = op else { continue };
                let next = ops.get(pos + 1);
                let f = &mut out[i];
                f.survives = rev > c || after(next, c);
                f.live_at_head = next.is_none();
                if let Some(&(r, _, Op::Put(_))) = next {
                    f.superseded_revision = Some(r);
                }
                if let Some(&(r, _, Op::Del(d))) = ops[pos + 1..]
                    .iter()
                    .find(|(_, _, o)| matches!(o, Op::Del(_)))
                {
                    f.deleted_revision = Some(r);
                    f.deleted_by = Some(self.deletes[d].cause);
                }
            }
        }
        out
    }

    /// The fate of one put of this ledger.
    pub fn fate(&self, p: &ExpectedPut) -> PutFate {
        let i = self.index_of(p);
        self.fates()[i]
    }

    fn index_of(&self, p: &ExpectedPut) -> usize {
        self.puts
            .iter()
            .position(|q| q.revision == p.revision && q.sub == p.sub)
            .expect("put not in this ledger")
    }

    /// Whether `p` is still in the key bucket after compaction.
    pub fn put_survives(&self, p: &ExpectedPut) -> bool {
        self.fate(p).survives
    }

    /// Whether tombstone `d` is still in the key bucket after compaction.
    pub fn tombstone_survives(&self, d: &ExpectedDelete) -> bool {
        d.revision > self.compact_revision
    }

    /// Revision of the tombstone ending `p`'s generation, if any.
    pub fn deleted_revision(&self, p: &ExpectedPut) -> Option<i64> {
        self.fate(p).deleted_revision
    }

    /// Puts present in a snapshot taken at head, in (revision, sub) order.
    pub fn surviving_puts(&self) -> Vec<&ExpectedPut> {
        let f = self.fates();
        self.puts
            .iter()
            .zip(f)
            .filter(|(_, f)| f.survives)
            .map(|(p, _)| p)
            .collect()
    }

    /// Puts removed by the compaction.
    pub fn compacted_puts(&self) -> Vec<&ExpectedPut> {
        let f = self.fates();
        self.puts
            .iter()
            .zip(f)
            .filter(|(_, f)| !f.survives)
            .map(|(p, _)| p)
            .collect()
    }

    /// The current value of every key that exists at head.
    pub fn live_puts(&self) -> Vec<&ExpectedPut> {
        let f = self.fates();
        self.puts
            .iter()
            .zip(f)
            .filter(|(_, f)| f.live_at_head)
            .map(|(p, _)| p)
            .collect()
    }

    /// The value of every key that existed at revision `rev` (what etcd
    /// answers to a range read at `rev`, for `rev >= compact_revision`).
    pub fn live_at(&self, rev: i64) -> Vec<&ExpectedPut> {
        let mut out = Vec::new();
        for ops in self.history().values() {
            for (pos, &(r, _, op)) in ops.iter().enumerate() {
                let Op::Put(i) = op else { continue };
                if r <= rev && after(ops.get(pos + 1), rev) {
                    out.push(&self.puts[i]);
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Tombstones present in a snapshot taken at head.
    pub fn surviving_tombstones(&self) -> Vec<&ExpectedDelete> {
        self.deletes
            .iter()
            .filter(|d| self.tombstone_survives(d))
            .collect()
    }

    /// Puts whose value is a decodable Event (protobuf or JSON).
    pub fn event_puts(&self) -> Vec<&ExpectedPut> {
        self.puts
            .iter()
            .filter(|p| p.kind.is_decodable_event())
            .collect()
    }

    /// The exact content of the snapshot's bbolt `key` bucket, sorted by
    /// (revision, sub) like the bucket itself.
    pub fn expected_key_bucket(&self) -> Vec<KeyBucketEntry> {
        let mut v: Vec<KeyBucketEntry> = self
            .surviving_puts()
            .into_iter()
            .map(|p| KeyBucketEntry {
                revision: p.revision,
                sub: p.sub,
                tombstone: false,
                key: p.key.as_bytes().to_vec(),
                create_revision: p.create_revision,
                mod_revision: p.revision,
                version: p.version,
                value: p.value.clone(),
                lease: p.lease,
            })
            .collect();
        v.extend(
            self.surviving_tombstones()
                .into_iter()
                .map(|d| KeyBucketEntry {
                    revision: d.revision,
                    sub: d.sub,
                    tombstone: true,
                    key: d.key.as_bytes().to_vec(),
                    create_revision: 0,
                    mod_revision: 0,
                    version: 0,
                    value: Vec::new(),
                    lease: 0,
                }),
        );
        v.sort();
        v
    }

    /// Lease ids that still exist at head.
    pub fn live_leases(&self) -> Vec<i64> {
        self.leases
            .iter()
            .filter(|l| l.revoked_revision.is_none())
            .map(|l| l.id)
            .collect()
    }

    pub fn summary(&self) -> LedgerSummary {
        let fates = self.fates();
        let is_event = |k: &str| k.starts_with("/registry/events/");
        LedgerSummary {
            puts: self.puts.len(),
            event_puts: self.event_puts().len(),
            surviving_puts: fates.iter().filter(|f| f.survives).count(),
            surviving_event_puts: self
                .puts
                .iter()
                .zip(&fates)
                .filter(|(p, f)| f.survives && p.kind.is_decodable_event())
                .count(),
            compacted_puts: fates.iter().filter(|f| !f.survives).count(),
            live_keys: fates.iter().filter(|f| f.live_at_head).count(),
            live_event_keys: self
                .puts
                .iter()
                .zip(&fates)
                .filter(|(p, f)| f.live_at_head && is_event(&p.key))
                .count(),
            deletes: self.deletes.len(),
            explicit_deletes: self
                .deletes
                .iter()
                .filter(|d| d.cause == DeleteCause::Explicit)
                .count(),
            expired_by_lease: self
                .deletes
                .iter()
                .filter(|d| matches!(d.cause, DeleteCause::LeaseRevoked { .. }))
                .count(),
            surviving_tombstones: self.surviving_tombstones().len(),
            leases: self.leases.len(),
            revoked_leases: self
                .leases
                .iter()
                .filter(|l| l.revoked_revision.is_some())
                .count(),
            compact_revision: self.compact_revision,
            head_revision: self.head_revision,
        }
    }
}

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

mod b64_event {
    use base64::Engine as _;
    use evforensics::proto::core::v1::Event;
    use prost::Message as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Event>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(e) => s.serialize_str(
                &base64::engine::general_purpose::STANDARD.encode(e.encode_to_vec()),
            ),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Event>, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)?;
        Event::decode(bytes.as_slice())
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Deterministic randomness (no rand crate in the tree)
// ---------------------------------------------------------------------------

/// SplitMix64: small, fast, deterministic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// A random (version 4) UUID, like Kubernetes object uids.
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    /// `n` characters of Kubernetes' name-suffix alphabet.
    pub fn suffix(&mut self, n: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..n)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Building Events the way Kubernetes components do
// ---------------------------------------------------------------------------

/// metav1.Time as stored: seconds, nanos always 0 (Kubernetes never
/// serializes Time nanos in protobuf).
pub fn time(secs: i64) -> meta::Time {
    meta::Time {
        seconds: Some(secs),
        nanos: Some(0),
    }
}

/// A zero metav1.Time: an empty message, as Kubernetes writes it.
pub fn zero_time() -> meta::Time {
    meta::Time {
        seconds: None,
        nanos: None,
    }
}

/// metav1.MicroTime (microsecond precision).
pub fn micro_time(secs: i64, micros: u32) -> meta::MicroTime {
    meta::MicroTime {
        seconds: Some(secs),
        nanos: Some((micros % 1_000_000) as i32 * 1000),
    }
}

/// A zero metav1.MicroTime: an empty message.
pub fn zero_micro_time() -> meta::MicroTime {
    meta::MicroTime {
        seconds: None,
        nanos: None,
    }
}

/// An object an Event is about (core/v1 ObjectReference, all seven fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub api_version: String,
    pub resource_version: String,
    pub field_path: String,
}

impl ObjRef {
    pub fn new(kind: &str, api_version: &str, namespace: &str, name: &str, uid: &str) -> ObjRef {
        ObjRef {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
            api_version: api_version.into(),
            resource_version: String::new(),
            field_path: String::new(),
        }
    }

    pub fn rv(mut self, rv: impl ToString) -> ObjRef {
        self.resource_version = rv.to_string();
        self
    }

    pub fn field(&self, field_path: &str) -> ObjRef {
        let mut r = self.clone();
        r.field_path = field_path.into();
        r
    }

    pub fn to_proto(&self) -> core::ObjectReference {
        core::ObjectReference {
            kind: Some(self.kind.clone()),
            namespace: Some(self.namespace.clone()),
            name: Some(self.name.clone()),
            uid: Some(self.uid.clone()),
            api_version: Some(self.api_version.clone()),
            resource_version: Some(self.resource_version.clone()),
            field_path: Some(self.field_path.clone()),
        }
    }

    /// The namespace an Event about this object lives in (cluster-scoped
    /// objects' Events go to `default`).
    pub fn event_namespace(&self) -> String {
        if self.namespace.is_empty() {
            "default".into()
        } else {
            self.namespace.clone()
        }
    }
}

fn managed_fields(
    manager: &str,
    api_version: &str,
    at: i64,
    fields: &str,
) -> meta::ManagedFieldsEntry {
    meta::ManagedFieldsEntry {
        manager: Some(manager.into()),
        operation: Some("Update".into()),
        api_version: Some(api_version.into()),
        time: Some(time(at)),
        fields: None,
        fields_type: Some("FieldsV1".into()),
        fields_v1: Some(meta::FieldsV1 {
            raw: Some(fields.as_bytes().to_vec()),
        }),
        subresource: Some(String::new()),
    }
}

fn object_meta(name: String, namespace: String, uid: String, created: i64) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: Some(name),
        generate_name: Some(String::new()),
        namespace: Some(namespace),
        self_link: Some(String::new()),
        uid: Some(uid),
        // The apiserver clears resourceVersion before writing to etcd.
        resource_version: Some(String::new()),
        generation: Some(0),
        creation_timestamp: Some(time(created)),
        ..Default::default()
    }
}

/// The name client-go gives an Event: `<object>.<hex of UnixNano>`.
pub fn event_name(object: &str, secs: i64, nanos: u32) -> String {
    format!(
        "{}.{:x}",
        object,
        secs as i128 * 1_000_000_000 + nanos as i128
    )
}

/// A core/v1 Event as written by a component using the core/v1 events
/// API (client-go `tools/record`: kubelet, controllers, node-problem-
/// detector): first = last timestamp, count 1, `eventTime` an empty
/// MicroTime, action/reporting* empty strings, series/related absent.
#[allow(clippy::too_many_arguments)]
pub fn legacy_event(
    rng: &mut Rng,
    regarding: &ObjRef,
    type_: &str,
    reason: &str,
    message: &str,
    component: &str,
    host: &str,
    at: i64,
) -> core::Event {
    let nanos = rng.below(1_000_000_000) as u32;
    let source_fields = if host.is_empty() {
        r#""f:source":{"f:component":{}}"#.to_string()
    } else {
        r#""f:source":{"f:component":{},"f:host":{}}"#.to_string()
    };
    let fields = format!(
        r#"{{"f:count":{{}},"f:firstTimestamp":{{}},"f:involvedObject":{{}},"f:lastTimestamp":{{}},"f:message":{{}},"f:reason":{{}},"f:reportingComponent":{{}},{source_fields},"f:type":{{}}}}"#
    );
    let mut m = object_meta(
        event_name(&regarding.name, at, nanos),
        regarding.event_namespace(),
        rng.uuid(),
        at,
    );
    m.managed_fields
        .push(managed_fields(component, "v1", at, &fields));
    core::Event {
        metadata: Some(m),
        involved_object: Some(regarding.to_proto()),
        reason: Some(reason.into()),
        message: Some(message.into()),
        source: Some(core::EventSource {
            component: Some(component.into()),
            host: Some(host.into()),
        }),
        first_timestamp: Some(time(at)),
        last_timestamp: Some(time(at)),
        count: Some(1),
        r#type: Some(type_.into()),
        event_time: Some(zero_micro_time()),
        series: None,
        action: Some(String::new()),
        related: None,
        reporting_component: Some(String::new()),
        reporting_instance: Some(String::new()),
    }
}

/// A core/v1 Event as the apiserver stores an events.k8s.io/v1 write
/// (kube-scheduler, newer controllers): `eventTime` set (µs), action and
/// reportingController/Instance set, deprecated source/timestamps/count
/// empty, `series` absent until the event repeats.
#[allow(clippy::too_many_arguments)]
pub fn events_v1_event(
    rng: &mut Rng,
    regarding: &ObjRef,
    type_: &str,
    reason: &str,
    action: &str,
    note: &str,
    controller: &str,
    instance: &str,
    at: i64,
) -> core::Event {
    let micros = rng.below(1_000_000) as u32;
    let nanos = micros * 1000 + rng.below(1000) as u32;
    let fields = r#"{"f:action":{},"f:eventTime":{},"f:note":{},"f:reason":{},"f:regarding":{},"f:reportingController":{},"f:reportingInstance":{},"f:type":{}}"#;
    let manager = controller.strip_prefix("default-").unwrap_or(controller);
    let manager = if manager == "scheduler" {
        "kube-scheduler"
    } else {
        manager
    };
    let mut m = object_meta(
        event_name(&regarding.name, at, nanos),
        regarding.event_namespace(),
        rng.uuid(),
        at,
    );
    m.managed_fields
        .push(managed_fields(manager, "events.k8s.io/v1", at, fields));
    core::Event {
        metadata: Some(m),
        involved_object: Some(regarding.to_proto()),
        reason: Some(reason.into()),
        message: Some(note.into()),
        source: Some(core::EventSource {
            component: Some(String::new()),
            host: Some(String::new()),
        }),
        first_timestamp: Some(zero_time()),
        last_timestamp: Some(zero_time()),
        count: Some(0),
        r#type: Some(type_.into()),
        event_time: Some(micro_time(at, micros)),
        series: None,
        action: Some(action.into()),
        related: None,
        reporting_component: Some(controller.into()),
        reporting_instance: Some(instance.into()),
    }
}

/// The legacy recorder's repeat: count + 1, lastTimestamp moves.
pub fn bump_count(ev: &mut core::Event, at: i64) {
    ev.count = Some(ev.count.unwrap_or(0) + 1);
    ev.last_timestamp = Some(time(at));
    if let Some(mf) = ev
        .metadata
        .as_mut()
        .and_then(|m| m.managed_fields.first_mut())
    {
        mf.time = Some(time(at));
    }
}

/// The events.k8s.io recorder's repeat: series {count, lastObservedTime}.
pub fn bump_series(ev: &mut core::Event, at: i64, micros: u32) {
    let count = ev.series.as_ref().and_then(|s| s.count).unwrap_or(1) + 1;
    ev.series = Some(core::EventSeries {
        count: Some(count),
        last_observed_time: Some(micro_time(at, micros)),
        state: None,
    });
    if let Some(mf) = ev
        .metadata
        .as_mut()
        .and_then(|m| m.managed_fields.first_mut())
    {
        mf.time = Some(time(at));
        mf.fields_v1 = Some(meta::FieldsV1 {
            raw: Some(
                r#"{"f:action":{},"f:eventTime":{},"f:note":{},"f:reason":{},"f:regarding":{},"f:reportingController":{},"f:reportingInstance":{},"f:series":{".":{},"f:count":{},"f:lastObservedTime":{}},"f:type":{}}"#
                    .as_bytes()
                    .to_vec(),
            ),
        });
    }
}

/// `/registry/events/<namespace>/<name>`.
pub fn event_key(ev: &core::Event) -> String {
    let m = ev.metadata.as_ref().expect("event metadata");
    format!(
        "/registry/events/{}/{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default()
    )
}

/// `k8s\0` + runtime.Unknown{typeMeta{apiVersion, kind}, raw, "", ""}.
pub fn k8s_envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let u = runtime::Unknown {
        type_meta: Some(runtime::TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut v = b"k8s\0".to_vec();
    u.encode(&mut v).expect("encoding runtime.Unknown");
    v
}

/// The bytes kube-apiserver stores for a core/v1 Event (protobuf).
pub fn stored_event_value(ev: &core::Event) -> Vec<u8> {
    evforensics::decode::encode_stored_event(ev)
}

/// A Pod or Namespace as stored, reduced to its metadata (field 1 of both
/// messages): enough to be a real protobuf object of another kind.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetadataOnly {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<meta::ObjectMeta>,
}

pub fn stored_object_value(kind: &str, m: meta::ObjectMeta) -> Vec<u8> {
    k8s_envelope(
        "v1",
        kind,
        MetadataOnly { metadata: Some(m) }.encode_to_vec(),
    )
}

/// An object of any kind as stored (`k8s\0` envelope with `apiVersion`
/// and `kind`), reduced to its metadata.
pub fn stored_object_value_of(api_version: &str, kind: &str, m: meta::ObjectMeta) -> Vec<u8> {
    k8s_envelope(
        api_version,
        kind,
        MetadataOnly { metadata: Some(m) }.encode_to_vec(),
    )
}

/// ObjectMeta as the apiserver stores it, with labels and owners.
pub fn owned_object_meta(
    r: &ObjRef,
    created: i64,
    labels: &[(&str, &str)],
    owners: &[&ObjRef],
) -> meta::ObjectMeta {
    let mut m = object_meta(r.name.clone(), r.namespace.clone(), r.uid.clone(), created);
    for (k, v) in labels {
        m.labels.insert(k.to_string(), v.to_string());
    }
    m.owner_references = owners
        .iter()
        .map(|o| meta::OwnerReference {
            api_version: Some(o.api_version.clone()),
            kind: Some(o.kind.clone()),
            name: Some(o.name.clone()),
            uid: Some(o.uid.clone()),
            controller: Some(true),
            block_owner_deletion: Some(true),
        })
        .collect();
    m
}

fn rfc3339(secs: i64) -> String {
    let t = ::time::OffsetDateTime::from_unix_timestamp(secs).expect("timestamp in range");
    t.format(::time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .expect("formatting time")
}

fn time_json(t: Option<&meta::Time>) -> Value {
    match t.and_then(|t| t.seconds) {
        Some(s) => Value::String(rfc3339(s)),
        None => Value::Null,
    }
}

fn micro_json(t: Option<&meta::MicroTime>) -> Value {
    match t.and_then(|t| t.seconds) {
        Some(s) => {
            let base = rfc3339(s);
            let micros = t.and_then(|t| t.nanos).unwrap_or(0) / 1000;
            Value::String(format!("{}.{:06}Z", base.trim_end_matches('Z'), micros))
        }
        None => Value::Null,
    }
}

fn put_nonempty(m: &mut Map<String, Value>, k: &str, v: Option<&String>) {
    if let Some(v) = v.filter(|v| !v.is_empty()) {
        m.insert(k.into(), Value::String(v.clone()));
    }
}

fn objref_json(r: &core::ObjectReference) -> Value {
    let mut m = Map::new();
    put_nonempty(&mut m, "kind", r.kind.as_ref());
    put_nonempty(&mut m, "namespace", r.namespace.as_ref());
    put_nonempty(&mut m, "name", r.name.as_ref());
    put_nonempty(&mut m, "uid", r.uid.as_ref());
    put_nonempty(&mut m, "apiVersion", r.api_version.as_ref());
    put_nonempty(&mut m, "resourceVersion", r.resource_version.as_ref());
    put_nonempty(&mut m, "fieldPath", r.field_path.as_ref());
    Value::Object(m)
}

/// An Event as the Kubernetes API renders it in JSON (Go struct order,
/// Go `omitempty` rules: `eventTime: null`, `reportingComponent: ""`).
/// This is also what kube-apiserver stores with
/// `--storage-media-type=application/json` (it never stores resourceVersion).
pub fn event_k8s_json(ev: &core::Event) -> Value {
    let mut md = Map::new();
    if let Some(m) = &ev.metadata {
        put_nonempty(&mut md, "name", m.name.as_ref());
        put_nonempty(&mut md, "generateName", m.generate_name.as_ref());
        put_nonempty(&mut md, "namespace", m.namespace.as_ref());
        put_nonempty(&mut md, "uid", m.uid.as_ref());
        put_nonempty(&mut md, "resourceVersion", m.resource_version.as_ref());
        md.insert(
            "creationTimestamp".into(),
            time_json(m.creation_timestamp.as_ref()),
        );
        if !m.labels.is_empty() {
            md.insert("labels".into(), json!(m.labels));
        }
        if !m.annotations.is_empty() {
            md.insert("annotations".into(), json!(m.annotations));
        }
        if !m.managed_fields.is_empty() {
            let mfs: Vec<Value> = m
                .managed_fields
                .iter()
                .map(|f| {
                    let mut o = Map::new();
                    put_nonempty(&mut o, "manager", f.manager.as_ref());
                    put_nonempty(&mut o, "operation", f.operation.as_ref());
                    put_nonempty(&mut o, "apiVersion", f.api_version.as_ref());
                    if f.time.is_some() {
                        o.insert("time".into(), time_json(f.time.as_ref()));
                    }
                    put_nonempty(&mut o, "fieldsType", f.fields_type.as_ref());
                    if let Some(raw) = f.fields_v1.as_ref().and_then(|x| x.raw.as_ref()) {
                        o.insert(
                            "fieldsV1".into(),
                            serde_json::from_slice(raw).unwrap_or(Value::Null),
                        );
                    }
                    put_nonempty(&mut o, "subresource", f.subresource.as_ref());
                    Value::Object(o)
                })
                .collect();
            md.insert("managedFields".into(), Value::Array(mfs));
        }
    }
    let mut o = Map::new();
    o.insert("kind".into(), json!("Event"));
    o.insert("apiVersion".into(), json!("v1"));
    o.insert("metadata".into(), Value::Object(md));
    o.insert(
        "involvedObject".into(),
        ev.involved_object
            .as_ref()
            .map(objref_json)
            .unwrap_or(json!({})),
    );
    put_nonempty(&mut o, "reason", ev.reason.as_ref());
    put_nonempty(&mut o, "message", ev.message.as_ref());
    let mut src = Map::new();
    if let Some(s) = &ev.source {
        put_nonempty(&mut src, "component", s.component.as_ref());
        put_nonempty(&mut src, "host", s.host.as_ref());
    }
    o.insert("source".into(), Value::Object(src));
    o.insert(
        "firstTimestamp".into(),
        time_json(ev.first_timestamp.as_ref()),
    );
    o.insert(
        "lastTimestamp".into(),
        time_json(ev.last_timestamp.as_ref()),
    );
    if let Some(c) = ev.count.filter(|c| *c != 0) {
        o.insert("count".into(), json!(c));
    }
    put_nonempty(&mut o, "type", ev.r#type.as_ref());
    o.insert("eventTime".into(), micro_json(ev.event_time.as_ref()));
    if let Some(s) = &ev.series {
        let mut sm = Map::new();
        sm.insert("count".into(), json!(s.count.unwrap_or(0)));
        sm.insert(
            "lastObservedTime".into(),
            micro_json(s.last_observed_time.as_ref()),
        );
        o.insert("series".into(), Value::Object(sm));
    }
    put_nonempty(&mut o, "action", ev.action.as_ref());
    if let Some(r) = &ev.related {
        o.insert("related".into(), objref_json(r));
    }
    o.insert(
        "reportingComponent".into(),
        json!(ev.reporting_component.clone().unwrap_or_default()),
    );
    o.insert(
        "reportingInstance".into(),
        json!(ev.reporting_instance.clone().unwrap_or_default()),
    );
    Value::Object(o)
}

// ---------------------------------------------------------------------------
// ScenarioWriter: apiserver-style writes + ledger
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct KeyState {
    create_revision: i64,
    mod_revision: i64,
    version: i64,
    lease: i64,
}

/// One value to write in [`ScenarioWriter::create_many`].
pub struct NewValue {
    pub key: String,
    pub value: Vec<u8>,
    pub kind: ValueKind,
    pub event: Option<core::Event>,
    pub lease: i64,
    pub note: String,
}

impl NewValue {
    pub fn event(ev: &core::Event, lease: i64, note: &str) -> NewValue {
        NewValue {
            key: event_key(ev),
            value: stored_event_value(ev),
            kind: ValueKind::ProtobufEvent,
            event: Some(ev.clone()),
            lease,
            note: note.into(),
        }
    }
}

/// Writes through the apiserver's txn patterns, one request at a time, and
/// records each write in a [`Ledger`]. Every response is checked: txn
/// succeeded, revision advanced by exactly one, `prev_kv` matches.
pub struct ScenarioWriter {
    client: Client,
    ledger: Ledger,
    keys: BTreeMap<String, KeyState>,
    head: i64,
}

/// kube-apiserver's `OptimisticPut`: `Txn(If ModRevision(key) == prev)
/// .Then(Put(key, value, lease))`, `prev` 0 for a create. Returns the
/// revision; the compare must hold.
async fn optimistic_put(
    client: &mut Client,
    key: &str,
    value: Vec<u8>,
    prev: i64,
    lease: i64,
) -> i64 {
    let txn = Txn::new()
        .when([Compare::mod_revision(key, CompareOp::Equal, prev)])
        .and_then([TxnOp::put(
            key,
            value,
            Some(PutOptions::new().with_lease(lease)),
        )]);
    let resp = client.txn(txn).await.expect("optimistic put txn");
    assert!(
        resp.succeeded(),
        "put of {key}: mod revision is no longer {prev}"
    );
    header_rev(resp.header())
}

fn header_rev(h: Option<&etcd_client::ResponseHeader>) -> i64 {
    h.expect("etcd response without header").revision()
}

impl ScenarioWriter {
    /// Starts recording at the store's current revision. The store must
    /// not be written by anyone else while the writer runs.
    pub async fn new(client: &Client) -> ScenarioWriter {
        let mut client = client.clone();
        let status = client.status().await.expect("etcd status");
        let head = header_rev(status.header());
        let ledger = Ledger {
            etcd_version: status.version().to_string(),
            head_revision: head,
            ..Default::default()
        };
        ScenarioWriter {
            client,
            ledger,
            keys: BTreeMap::new(),
            head,
        }
    }

    /// The store revision after the last write.
    pub fn head(&self) -> i64 {
        self.head
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Grants a lease with [`EVENT_LEASE_TTL`] (no revision is used).
    pub async fn grant_lease(&mut self) -> i64 {
        let resp = self
            .client
            .lease_grant(EVENT_LEASE_TTL, None)
            .await
            .expect("lease grant");
        assert_eq!(
            header_rev(resp.header()),
            self.head,
            "lease grant moved the revision"
        );
        self.ledger.leases.push(ExpectedLease {
            id: resp.id(),
            ttl: resp.ttl(),
            revoked_revision: None,
        });
        resp.id()
    }

    fn next_rev(&mut self, rev: i64, what: &str) {
        assert_eq!(
            rev,
            self.head + 1,
            "{what}: expected revision {} (was someone else writing?)",
            self.head + 1
        );
        self.head = rev;
        self.ledger.head_revision = rev;
    }

    /// Creates a key: `Txn(If ModRevision(key) == 0).Then(Put(key, value, lease))`.
    pub async fn create(&mut self, v: NewValue) -> ExpectedPut {
        self.create_many(vec![v]).await.remove(0)
    }

    /// Creates several keys in **one** txn (one revision, sub revisions
    /// 0, 1, … in the given order). The apiserver never does this; etcd
    /// files written by other clients do.
    pub async fn create_many(&mut self, vs: Vec<NewValue>) -> Vec<ExpectedPut> {
        assert!(!vs.is_empty());
        let compares: Vec<Compare> = vs
            .iter()
            .map(|v| Compare::mod_revision(v.key.as_str(), CompareOp::Equal, 0))
            .collect();
        let ops: Vec<TxnOp> = vs
            .iter()
            .map(|v| {
                TxnOp::put(
                    v.key.as_str(),
                    v.value.clone(),
                    Some(PutOptions::new().with_lease(v.lease).with_prev_key()),
                )
            })
            .collect();
        let resp = self
            .client
            .txn(Txn::new().when(compares).and_then(ops))
            .await
            .expect("create txn");
        assert!(
            resp.succeeded(),
            "create txn failed: a key already exists: {:?}",
            vs.iter().map(|v| &v.key).collect::<Vec<_>>()
        );
        let rev = header_rev(resp.header());
        self.next_rev(rev, "create");
        let responses = resp.op_responses();
        assert_eq!(responses.len(), vs.len());
        let mut out = Vec::new();
        for (sub, (v, r)) in vs.into_iter().zip(responses).enumerate() {
            let TxnOpResponse::Put(pr) = r else {
                panic!("unexpected txn op response {r:?}")
            };
            assert!(
                pr.prev_key().is_none(),
                "create of {} found a previous value",
                v.key
            );
            self.keys.insert(
                v.key.clone(),
                KeyState {
                    create_revision: rev,
                    mod_revision: rev,
                    version: 1,
                    lease: v.lease,
                },
            );
            let p = ExpectedPut {
                event_json: v.event.as_ref().map(event_k8s_json),
                key: v.key,
                revision: rev,
                sub: sub as i64,
                create_revision: rev,
                version: 1,
                lease: v.lease,
                kind: v.kind,
                value: v.value,
                event: v.event,
                note: v.note,
            };
            self.ledger.puts.push(p.clone());
            out.push(p);
        }
        out
    }

    /// Updates a key: `Txn(If ModRevision(key) == prev).Then(Put(key, value, lease))`.
    pub async fn update(&mut self, v: NewValue) -> ExpectedPut {
        let st = self
            .keys
            .get(&v.key)
            .unwrap_or_else(|| panic!("update of {} which the writer has not created", v.key))
            .clone();
        let txn = Txn::new()
            .when([Compare::mod_revision(
                v.key.as_str(),
                CompareOp::Equal,
                st.mod_revision,
            )])
            .and_then([TxnOp::put(
                v.key.as_str(),
                v.value.clone(),
                Some(PutOptions::new().with_lease(v.lease).with_prev_key()),
            )]);
        let resp = self.client.txn(txn).await.expect("update txn");
        assert!(resp.succeeded(), "update of {}: mod revision moved", v.key);
        let rev = header_rev(resp.header());
        self.next_rev(rev, "update");
        let TxnOpResponse::Put(pr) = resp.op_responses().remove(0) else {
            panic!("unexpected txn op response")
        };
        let prev = pr.prev_key().expect("update without prev_kv");
        assert_eq!(prev.mod_revision(), st.mod_revision);
        assert_eq!(prev.create_revision(), st.create_revision);
        assert_eq!(prev.version(), st.version);
        assert_eq!(prev.lease(), st.lease);
        let version = prev.version() + 1;
        self.keys.insert(
            v.key.clone(),
            KeyState {
                create_revision: prev.create_revision(),
                mod_revision: rev,
                version,
                lease: v.lease,
            },
        );
        let p = ExpectedPut {
            event_json: v.event.as_ref().map(event_k8s_json),
            key: v.key,
            revision: rev,
            sub: 0,
            create_revision: prev.create_revision(),
            version,
            lease: v.lease,
            kind: v.kind,
            value: v.value,
            event: v.event,
            note: v.note,
        };
        self.ledger.puts.push(p.clone());
        p
    }

    /// Creates the Event (protobuf) under `lease`.
    pub async fn create_event(&mut self, ev: &core::Event, lease: i64, note: &str) -> ExpectedPut {
        self.create(NewValue::event(ev, lease, note)).await
    }

    /// Updates the Event (protobuf), attaching `lease`.
    pub async fn update_event(&mut self, ev: &core::Event, lease: i64, note: &str) -> ExpectedPut {
        self.update(NewValue::event(ev, lease, note)).await
    }

    /// Deletes a key: `Txn(If ModRevision(key) == prev).Then(Delete(key))`.
    pub async fn delete(&mut self, key: &str, note: &str) -> ExpectedDelete {
        let st = self
            .keys
            .get(key)
            .unwrap_or_else(|| panic!("delete of {key} which does not exist"))
            .clone();
        let txn = Txn::new()
            .when([Compare::mod_revision(
                key,
                CompareOp::Equal,
                st.mod_revision,
            )])
            .and_then([TxnOp::delete(
                key,
                Some(DeleteOptions::new().with_prev_key()),
            )]);
        let resp = self.client.txn(txn).await.expect("delete txn");
        assert!(resp.succeeded(), "delete of {key}: mod revision moved");
        let rev = header_rev(resp.header());
        self.next_rev(rev, "delete");
        let TxnOpResponse::Delete(dr) = resp.op_responses().remove(0) else {
            panic!("unexpected txn op response")
        };
        assert_eq!(dr.deleted(), 1);
        assert_eq!(dr.prev_kvs()[0].mod_revision(), st.mod_revision);
        self.keys.remove(key);
        let d = ExpectedDelete {
            key: key.into(),
            revision: rev,
            sub: 0,
            cause: DeleteCause::Explicit,
            generation_create_revision: st.create_revision,
            prev_mod_revision: st.mod_revision,
            note: note.into(),
        };
        self.ledger.deletes.push(d.clone());
        d
    }

    /// Keys currently attached to `lease`, in etcd's revoke order.
    pub fn keys_of_lease(&self, lease: i64) -> Vec<String> {
        // BTreeMap<String> iterates bytewise, like Go's sort.Strings.
        self.keys
            .iter()
            .filter(|(_, s)| s.lease == lease)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Revokes `lease`: etcd deletes all its keys in one revision
    /// (sub revisions in bytewise key order) — what TTL expiry does.
    pub async fn revoke(&mut self, lease: i64, note: &str) -> Vec<ExpectedDelete> {
        let keys = self.keys_of_lease(lease);
        let resp = self.client.lease_revoke(lease).await.expect("lease revoke");
        let rev = header_rev(resp.header());
        let mut out = Vec::new();
        if keys.is_empty() {
            assert_eq!(rev, self.head, "revoking an empty lease moved the revision");
        } else {
            self.next_rev(rev, "lease revoke");
        }
        for (sub, key) in keys.into_iter().enumerate() {
            let st = self.keys.remove(&key).expect("key state");
            let d = ExpectedDelete {
                key,
                revision: rev,
                sub: sub as i64,
                cause: DeleteCause::LeaseRevoked { lease },
                generation_create_revision: st.create_revision,
                prev_mod_revision: st.mod_revision,
                note: note.into(),
            };
            self.ledger.deletes.push(d.clone());
            out.push(d);
        }
        let l = self
            .ledger
            .leases
            .iter_mut()
            .find(|l| l.id == lease)
            .expect("revoking a lease the writer did not grant");
        l.revoked_revision = Some(if out.is_empty() { 0 } else { rev });
        out
    }

    /// kube-apiserver's compactor: `Put(compact_rev_key, "<rev>")`, then a
    /// physical `Compact(rev)`.
    pub async fn compact(&mut self, rev: i64) {
        let v = NewValue {
            key: COMPACT_REV_KEY.into(),
            value: rev.to_string().into_bytes(),
            kind: ValueKind::CompactRevKey,
            event: None,
            lease: 0,
            note: format!("apiserver compactor records the compaction target {rev}"),
        };
        if self.keys.contains_key(COMPACT_REV_KEY) {
            self.update(v).await;
        } else {
            self.create(v).await;
        }
        let resp = self
            .client
            .compact(rev, Some(CompactionOptions::new().with_physical()))
            .await
            .expect("compact");
        assert_eq!(
            header_rev(resp.header()),
            self.head,
            "compaction moved the revision"
        );
        self.ledger.compact_revision = rev;
    }

    /// Creates or updates a lease-less object (Pod, Namespace, …).
    pub async fn put_object(
        &mut self,
        key: &str,
        kind: ValueKind,
        value: Vec<u8>,
        note: &str,
    ) -> ExpectedPut {
        let v = NewValue {
            key: key.into(),
            value,
            kind,
            event: None,
            lease: 0,
            note: note.into(),
        };
        if self.keys.contains_key(key) {
            self.update(v).await
        } else {
            self.create(v).await
        }
    }

    /// Creates or updates `/registry/pods/<ns>/<name>` (metadata-only Pod).
    pub async fn put_pod(
        &mut self,
        pod: &ObjRef,
        app: &str,
        created: i64,
        note: &str,
    ) -> ExpectedPut {
        let key = format!("/registry/pods/{}/{}", pod.namespace, pod.name);
        self.put_object(&key, ValueKind::Pod, pod_value(pod, created, app), note)
            .await
    }

    /// Checks the head revision against etcd and returns the ledger.
    pub async fn finish(mut self) -> Ledger {
        let resp = self
            .client
            .get(COMPACT_REV_KEY, Some(GetOptions::new().with_count_only()))
            .await
            .expect("get");
        assert_eq!(
            header_rev(resp.header()),
            self.head,
            "etcd's revision differs from the ledger's head"
        );
        self.ledger.puts.sort_by_key(|p| (p.revision, p.sub));
        self.ledger.deletes.sort_by_key(|d| (d.revision, d.sub));
        self.ledger
    }
}

// ---------------------------------------------------------------------------
// The standard scenario
// ---------------------------------------------------------------------------

struct Cluster {
    rng: Rng,
}

impl Cluster {
    fn pod(&mut self, ns: &str, name: &str, rv: u64) -> ObjRef {
        let uid = self.rng.uuid();
        ObjRef::new("Pod", "v1", ns, name, &uid).rv(rv)
    }
}

fn namespace_value(rng: &mut Rng, name: &str, created: i64) -> Vec<u8> {
    let mut m = object_meta(name.into(), String::new(), rng.uuid(), created);
    m.labels
        .insert("kubernetes.io/metadata.name".into(), name.into());
    stored_object_value("Namespace", m)
}

fn pod_value(pod: &ObjRef, created: i64, app: &str) -> Vec<u8> {
    let mut m = object_meta(
        pod.name.clone(),
        pod.namespace.clone(),
        pod.uid.clone(),
        created,
    );
    m.labels.insert("app".into(), app.into());
    stored_object_value("Pod", m)
}

/// A small, believable incident (see fixtures/README.md), written through
/// the apiserver's txn patterns. Tens of Events in namespaces `shop`,
/// `monitoring`, `ci-7421`, `kube-system`, `default`; three leases, the
/// oldest revoked (expired); a compaction at the revision of an explicit
/// delete; a multi-key txn; one JSON, one encrypted and one garbage value
/// under /registry/events/; Pods, Namespaces and `compact_rev_key`.
///
/// Expects a fresh etcd (revision 1) that nobody else writes to: the
/// ledger then describes every key in the store (first write = revision 2,
/// compaction at 46, head 67).
pub async fn write_standard_scenario(client: &Client) -> Ledger {
    let mut w = ScenarioWriter::new(client).await;
    let mut c = Cluster {
        rng: Rng::new(0x5eed_2024_0314),
    };
    let t0 = INCIDENT_START;
    let image = "registry.example.com/shop/web:2.4.0";
    let day = 86_400;

    // -- Cluster objects (no lease) ----------------------------------------
    for (i, ns) in ["default", "kube-system", "monitoring", "shop", "ci-7421"]
        .into_iter()
        .enumerate()
    {
        let created = if ns == "ci-7421" {
            t0 - 600
        } else {
            t0 - 40 * day + i as i64
        };
        let value = namespace_value(&mut c.rng, ns, created);
        w.put_object(
            &format!("/registry/namespaces/{ns}"),
            ValueKind::Namespace,
            value,
            &format!("namespace {ns}"),
        )
        .await;
    }
    let web_old = c.pod("shop", "web-5c8f7b6d4-q9wzt", 48_120);
    let web_new = c.pod("shop", "web-6f7d8c9b54-h7kqz", 51_877);
    let cart = c.pod("shop", "cart-7b9f5d6c8-2mx4p", 49_310);
    let prom = c.pod("monitoring", "prometheus-0", 40_221);
    let build = c.pod("ci-7421", "build-7421-x8r2k", 51_702);
    for (pod, app, created) in [
        (&web_old, "web", t0 - 2 * day),
        (&cart, "cart", t0 - day),
        (&prom, "prometheus", t0 - 9 * day),
        (&build, "build", t0 - 300),
        (&web_new, "web", t0),
    ] {
        w.put_pod(
            pod,
            app,
            created,
            &format!("pod {}/{}", pod.namespace, pod.name),
        )
        .await;
    }

    let r = &mut c.rng;
    let deploy = ObjRef::new("Deployment", "apps/v1", "shop", "web", &r.uuid()).rv(51_870);
    let rs_new =
        ObjRef::new("ReplicaSet", "apps/v1", "shop", "web-6f7d8c9b54", &r.uuid()).rv(51_874);
    let rs_old =
        ObjRef::new("ReplicaSet", "apps/v1", "shop", "web-5c8f7b6d4", &r.uuid()).rv(48_101);
    let hpa = ObjRef::new(
        "HorizontalPodAutoscaler",
        "autoscaling/v2",
        "shop",
        "web",
        &r.uuid(),
    )
    .rv(50_990);
    let node_b = ObjRef::new("Node", "", "", "node-b", "node-b");
    let web_c = web_new.field("spec.containers{web}");
    let cart_c = cart.field("spec.containers{cart}");
    let build_c = build.field("spec.containers{build}");
    let prom_c = prom.field("spec.containers{prometheus}");

    // -- Phase 1, lease L1: the rollout of web:2.4.0 -------------------------
    let l1 = w.grant_lease().await;
    let r = &mut c.rng;
    let (sched, sched_1) = ("default-scheduler", "default-scheduler-cp-1");
    #[rustfmt::skip]
    let (e_scale_up, e_rs_create, e_sched) = (
        legacy_event(r, &deploy, "Normal", "ScalingReplicaSet", "Scaled up replica set web-6f7d8c9b54 to 1", "deployment-controller", "", t0),
        legacy_event(r, &rs_new, "Normal", "SuccessfulCreate", "Created pod: web-6f7d8c9b54-h7kqz", "replicaset-controller", "", t0),
        events_v1_event(r, &web_new, "Normal", "Scheduled", "Binding", "Successfully assigned shop/web-6f7d8c9b54-h7kqz to node-b", sched, sched_1, t0 + 1),
    );
    let pull_error = format!(
        "Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": \
         failed to resolve reference \"{image}\": {image}: not found"
    );
    #[rustfmt::skip]
    let (mut e_pulling, mut e_pull_failed, mut e_errimagepull, mut e_backoff, mut e_imagepullbackoff) = (
        legacy_event(r, &web_c, "Normal", "Pulling", &format!("Pulling image \"{image}\""), "kubelet", "node-b", t0 + 2),
        legacy_event(r, &web_c, "Warning", "Failed", &pull_error, "kubelet", "node-b", t0 + 4),
        legacy_event(r, &web_c, "Warning", "Failed", "Error: ErrImagePull", "kubelet", "node-b", t0 + 4),
        legacy_event(r, &web_c, "Normal", "BackOff", &format!("Back-off pulling image \"{image}\""), "kubelet", "node-b", t0 + 5),
        legacy_event(r, &web_c, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet", "node-b", t0 + 5),
    );
    #[rustfmt::skip]
    let (e_ci_sched, e_ci_pulled, e_ci_created, e_ci_started) = (
        events_v1_event(r, &build, "Normal", "Scheduled", "Binding", "Successfully assigned ci-7421/build-7421-x8r2k to node-c", sched, sched_1, t0 + 8),
        legacy_event(r, &build_c, "Normal", "Pulled", "Container image \"golang:1.22\" already present on machine", "kubelet", "node-c", t0 + 9),
        legacy_event(r, &build_c, "Normal", "Created", "Created container build", "kubelet", "node-c", t0 + 9),
        legacy_event(r, &build_c, "Normal", "Started", "Started container build", "kubelet", "node-c", t0 + 10),
    );
    #[rustfmt::skip]
    let (mut e_prom_unhealthy, mut e_cart_pulled, mut e_cart_created, mut e_cart_started) = (
        legacy_event(r, &prom_c, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", "kubelet", "node-a", t0 + 30),
        legacy_event(r, &cart_c, "Normal", "Pulled", "Container image \"registry.example.com/shop/cart:1.9.3\" already present on machine", "kubelet", "node-b", t0 + 40),
        legacy_event(r, &cart_c, "Normal", "Created", "Created container cart", "kubelet", "node-b", t0 + 40),
        legacy_event(r, &cart_c, "Normal", "Started", "Started container cart", "kubelet", "node-b", t0 + 41),
    );
    for (ev, note) in [
        (&e_scale_up, "rollout of web:2.4.0 starts"),
        (&e_rs_create, "new ReplicaSet creates its pod"),
        (&e_sched, "events.k8s.io write by kube-scheduler"),
        (&e_pulling, "kubelet pulls the new image"),
        (&e_pull_failed, "image tag does not exist"),
        (&e_errimagepull, "ErrImagePull"),
        (&e_backoff, "kubelet backs off"),
        (&e_imagepullbackoff, "ImagePullBackOff"),
        (&e_ci_sched, "CI build pod scheduled (events.k8s.io)"),
        (&e_ci_pulled, "CI build"),
        (&e_ci_created, "CI build"),
        (&e_ci_started, "CI build"),
        (&e_prom_unhealthy, "prometheus readiness flaps"),
        (&e_cart_pulled, "cart container restarts (1st)"),
        (&e_cart_created, "cart container restarts (1st)"),
        (&e_cart_started, "cart container restarts (1st)"),
    ] {
        w.create_event(ev, l1, note).await;
    }
    // Repeats within the same minute keep lease L1.
    for (ev, at) in [
        (&mut e_pulling, t0 + 20),
        (&mut e_pull_failed, t0 + 21),
        (&mut e_backoff, t0 + 22),
    ] {
        bump_count(ev, at);
        w.update_event(ev, l1, "count 2, still lease L1").await;
    }

    // -- Phase 2, lease L2 (a minute later): OOM, autoscaling, scheduling ----
    let l2 = w.grant_lease().await;
    let r = &mut c.rng;
    #[rustfmt::skip]
    let e_oom = legacy_event(r, &node_b, "Warning", "OOMKilling",
        "Memory cgroup out of memory: Killed process 23817 (cart) total-vm:1843212kB, anon-rss:524112kB, \
         file-rss:18204kB, shmem-rss:0kB, UID:1000 pgtables:1304kB oom_score_adj:999",
        "kernel-monitor", "node-b", t0 + 75);
    let note = "node-problem-detector reports the OOM kill of cart (Node event, namespace default)";
    w.create_event(&e_oom, l2, note).await;
    let note = "cart pod status update (restartCount 1, lastState OOMKilled)";
    w.put_pod(&cart, "cart", t0 - day, note).await;
    for (ev, at) in [
        (&mut e_cart_pulled, t0 + 77),
        (&mut e_cart_created, t0 + 77),
        (&mut e_cart_started, t0 + 78),
    ] {
        bump_count(ev, at);
        let note = "cart restarts after OOMKilled: count 2, moves to lease L2";
        w.update_event(ev, l2, note).await;
    }
    let r = &mut c.rng;
    let msg = format!(
        "Back-off restarting failed container cart in pod cart-7b9f5d6c8-2mx4p_shop({})",
        cart.uid
    );
    let e_cart_backoff = legacy_event(
        r,
        &cart_c,
        "Warning",
        "BackOff",
        &msg,
        "kubelet",
        "node-b",
        t0 + 80,
    );
    w.create_event(&e_cart_backoff, l2, "CrashLoopBackOff after OOMKilled")
        .await;
    bump_count(&mut e_backoff, t0 + 80);
    w.update_event(&e_backoff, l2, "count 3, moves to lease L2")
        .await;
    bump_count(&mut e_pull_failed, t0 + 81);
    w.update_event(&e_pull_failed, l2, "count 3, moves to lease L2")
        .await;

    // HPA scale-up: three Events in ONE txn (sub revisions 0, 1, 2).
    let r = &mut c.rng;
    let web_x7 = ObjRef::new("Pod", "v1", "shop", "web-5c8f7b6d4-x7c2n", &r.uuid()).rv(52_030);
    #[rustfmt::skip]
    let (e_hpa, e_scale_old, e_rs_old_create) = (
        legacy_event(r, &hpa, "Normal", "SuccessfulRescale", "New size: 4; reason: cpu resource utilization (percentage of request) above target", "horizontal-pod-autoscaler", "", t0 + 83),
        legacy_event(r, &deploy, "Normal", "ScalingReplicaSet", "Scaled up replica set web-5c8f7b6d4 to 4 from 3", "deployment-controller", "", t0 + 83),
        legacy_event(r, &rs_old, "Normal", "SuccessfulCreate", "Created pod: web-5c8f7b6d4-x7c2n", "replicaset-controller", "", t0 + 83),
    );
    w.create_many(vec![
        NewValue::event(&e_hpa, l2, "multi-key txn, sub 0"),
        NewValue::event(&e_scale_old, l2, "multi-key txn, sub 1"),
        NewValue::event(&e_rs_old_create, l2, "multi-key txn, sub 2"),
    ])
    .await;
    w.put_pod(&web_x7, "web", t0 + 83, "pod created by the HPA scale-up")
        .await;
    let r = &mut c.rng;
    #[rustfmt::skip]
    let mut e_failed_sched = events_v1_event(r, &web_x7, "Warning", "FailedScheduling", "Scheduling",
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/memory-pressure: }, \
         2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, \
         2 No preemption victims found for incoming pod..",
        sched, sched_1, t0 + 85);
    w.create_event(&e_failed_sched, l2, "events.k8s.io FailedScheduling")
        .await;
    let micros = c.rng.below(1_000_000) as u32;
    bump_series(&mut e_failed_sched, t0 + 95, micros);
    w.update_event(&e_failed_sched, l2, "series.count 2").await;

    // An operator deletes the ImagePullBackOff Event while triaging; the
    // kubelet's next PATCH gets 404 and client-go re-creates the Event
    // under the same name: a second generation of the same key.
    let k_ipbo = event_key(&e_imagepullbackoff);
    w.delete(&k_ipbo, "kubectl delete event (operator triage)")
        .await;
    bump_count(&mut e_imagepullbackoff, t0 + 92);
    let note = "re-created by kubelet after 404 on PATCH: generation 2, count 2";
    w.create_event(&e_imagepullbackoff, l2, note).await;

    // CI namespace teardown starts: the namespace controller deletes Events.
    let note = "namespace controller deletes ci-7421 Events";
    w.delete(&event_key(&e_ci_sched), note).await;
    let note = "namespace controller deletes ci-7421 Events; the compaction revision";
    let tomb_at_c = w.delete(&event_key(&e_ci_pulled), note).await;
    bump_count(&mut e_cart_started, t0 + 100);
    w.update_event(&e_cart_started, l2, "count 3").await;

    // The apiserver compactor: compact at the revision of that tombstone.
    w.compact(tomb_at_c.revision).await;

    // -- Phase 3, lease L3: after the compaction ------------------------------
    let l3 = w.grant_lease().await;
    let note = "namespace controller (after compaction)";
    w.delete(&event_key(&e_ci_created), note).await;
    w.delete(&event_key(&e_ci_started), note).await;
    let note = "namespace controller deletes the pod";
    w.delete(&format!("/registry/pods/ci-7421/{}", build.name), note)
        .await;
    w.delete(
        "/registry/namespaces/ci-7421",
        "namespace ci-7421 finalized",
    )
    .await;
    let value = namespace_value(&mut c.rng, "ci-7421", t0 + 130);
    let note = "CI re-creates its namespace: generation 2";
    w.put_object(
        "/registry/namespaces/ci-7421",
        ValueKind::Namespace,
        value,
        note,
    )
    .await;
    w.put_pod(
        &cart,
        "cart",
        t0 - day,
        "cart pod status update (restartCount 2)",
    )
    .await;
    let micros = c.rng.below(1_000_000) as u32;
    bump_series(&mut e_failed_sched, t0 + 125, micros);
    w.update_event(&e_failed_sched, l3, "series.count 3, lease L3")
        .await;
    bump_count(&mut e_pull_failed, t0 + 126);
    w.update_event(&e_pull_failed, l3, "count 4, lease L3")
        .await;
    bump_count(&mut e_prom_unhealthy, t0 + 127);
    w.update_event(&e_prom_unhealthy, l3, "count 2: moves from L1 to L3")
        .await;

    // The operator deletes "Error: ErrImagePull" after the compaction; the
    // kubelet re-creates it (generation 2 after a surviving tombstone).
    let k_eip = event_key(&e_errimagepull);
    w.delete(&k_eip, "kubectl delete event (after compaction)")
        .await;
    bump_count(&mut e_errimagepull, t0 + 128);
    let note = "re-created by kubelet after 404 on PATCH: generation 2, count 2";
    w.create_event(&e_errimagepull, l3, note).await;

    // Rollback: kubectl rollout undo deployment/web.
    let r = &mut c.rng;
    #[rustfmt::skip]
    let (e_scale_down, e_rs_delete, e_killing) = (
        legacy_event(r, &deploy, "Normal", "ScalingReplicaSet", "Scaled down replica set web-6f7d8c9b54 to 0 from 1", "deployment-controller", "", t0 + 140),
        legacy_event(r, &rs_new, "Normal", "SuccessfulDelete", "Deleted pod: web-6f7d8c9b54-h7kqz", "replicaset-controller", "", t0 + 140),
        legacy_event(r, &web_c, "Normal", "Killing", "Stopping container web", "kubelet", "node-b", t0 + 141),
    );
    w.create_event(&e_scale_down, l3, "rollback").await;
    w.create_event(&e_rs_delete, l3, "rollback").await;
    let key = format!("/registry/pods/shop/{}", web_new.name);
    w.delete(&key, "rollback deletes the new pod").await;
    w.create_event(&e_killing, l3, "rollback").await;

    // One Event written by an apiserver with --storage-media-type=application/json.
    let r = &mut c.rng;
    let coredns = ObjRef::new(
        "Pod",
        "v1",
        "kube-system",
        "coredns-5d78c9869d-4kq2m",
        &r.uuid(),
    )
    .rv(51_990)
    .field("spec.containers{coredns}");
    #[rustfmt::skip]
    let e_json = legacy_event(r, &coredns, "Warning", "Unhealthy",
        "Readiness probe failed: Get \"http://10.244.1.7:8181/ready\": dial tcp 10.244.1.7:8181: connect: connection refused",
        "kubelet", "node-b", t0 + 145);
    // encoding/json's Encoder, as the apiserver's serializer uses, ends with '\n'.
    let mut json_bytes = serde_json::to_vec(&event_k8s_json(&e_json)).expect("json");
    json_bytes.push(b'\n');
    w.create(NewValue {
        key: event_key(&e_json),
        value: json_bytes,
        kind: ValueKind::JsonEvent,
        event: Some(e_json.clone()),
        lease: l3,
        note: "JSON-encoded Event (storage media type application/json)".into(),
    })
    .await;

    // One encrypted value and one garbage value under /registry/events/.
    let mut enc = AESCBC_PREFIX.to_vec();
    enc.extend(c.rng.bytes(16 + 16 * 40)); // IV + 40 AES blocks
    let name = event_name("web-5c8f7b6d4-x7c2n", t0 + 150, 318_220_114);
    w.create(NewValue {
        key: format!("/registry/events/shop/{name}"),
        value: enc,
        kind: ValueKind::EncryptedEvent,
        event: None,
        lease: l3,
        note: "aescbc-encrypted Event (key1 unknown to evforensics)".into(),
    })
    .await;
    let name = event_name("cart-7b9f5d6c8-2mx4p", t0 + 151, 77_402_881);
    w.create(NewValue {
        key: format!("/registry/events/shop/{name}"),
        value: b"\x00\x01\x02not a kubernetes object\xff\xfe\x00".to_vec(),
        kind: ValueKind::GarbageEvent,
        event: None,
        lease: l3,
        note: "garbage bytes under /registry/events/".into(),
    })
    .await;

    // An hour later L1 expires: its remaining Events vanish in one revision.
    let note = "lease L1 expired (TTL 3660 s): Events never updated since the first minute";
    w.revoke(l1, note).await;
    w.finish().await
}

// ---------------------------------------------------------------------------
// Bulk writer (scale tests)
// ---------------------------------------------------------------------------

/// Options for [`write_bulk`].
#[derive(Debug, Clone)]
pub struct BulkOptions {
    /// Requests in flight at once (each its own tokio task).
    pub concurrency: usize,
    /// Percent of writes that are count updates of an earlier Event.
    pub update_percent: u64,
    /// Namespaces Events are spread over.
    pub namespaces: usize,
    /// A new lease every this many revisions (the apiserver's 1-minute
    /// lease reuse, scaled).
    pub revisions_per_lease: u64,
    /// Keep a full [`Ledger`] (memory: ~1 KiB per revision).
    pub record_ledger: bool,
    pub seed: u64,
    /// Print progress to stderr every this many revisions (0: never).
    pub progress_every: u64,
}

impl Default for BulkOptions {
    fn default() -> Self {
        BulkOptions {
            concurrency: 256,
            update_percent: 25,
            namespaces: 40,
            revisions_per_lease: 20_000,
            record_ledger: false,
            seed: 0xb01c,
            progress_every: 0,
        }
    }
}

/// What [`write_bulk`] did.
#[derive(Debug, Clone)]
pub struct BulkSummary {
    /// Revisions written (= txns; one key each).
    pub revisions: u64,
    pub creates: u64,
    pub updates: u64,
    /// Sum of value sizes.
    pub value_bytes: u64,
    /// First revision written.
    pub first_revision: i64,
    /// Store revision after the last write.
    pub head_revision: i64,
    pub elapsed: Duration,
    pub leases: Vec<i64>,
    /// With [`BulkOptions::record_ledger`].
    pub ledger: Option<Ledger>,
}

const BULK_REASONS: &[(&str, &str, &str)] = &[
    ("Normal", "Pulling", "Pulling image \"registry.example.com/{ns}/{app}:1.{n}.0\""),
    ("Normal", "Pulled", "Successfully pulled image \"registry.example.com/{ns}/{app}:1.{n}.0\" in 1.204s (1.204s including waiting)"),
    ("Normal", "Created", "Created container {app}"),
    ("Normal", "Started", "Started container {app}"),
    ("Warning", "BackOff", "Back-off restarting failed container {app} in pod {pod}_{ns}({uid})"),
    ("Warning", "Unhealthy", "Readiness probe failed: Get \"http://10.244.{n}.17:8080/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"),
    ("Normal", "Killing", "Stopping container {app}"),
    ("Warning", "FailedMount", "MountVolume.SetUp failed for volume \"config\" : configmap \"{app}-config\" not found"),
];

fn bulk_event(rng: &mut Rng, ns: &str, at: i64) -> core::Event {
    let app = ["web", "cart", "api", "worker", "search", "auth"][rng.below(6) as usize];
    let pod = format!("{app}-{}-{}", rng.suffix(10), rng.suffix(5));
    let uid = rng.uuid();
    let n = rng.below(200);
    let (ty, reason, msg) = BULK_REASONS[rng.below(BULK_REASONS.len() as u64) as usize];
    let msg = msg
        .replace("{ns}", ns)
        .replace("{app}", app)
        .replace("{pod}", &pod)
        .replace("{uid}", &uid)
        .replace("{n}", &n.to_string());
    let obj = ObjRef::new("Pod", "v1", ns, &pod, &uid)
        .rv(1_000_000 + rng.below(9_000_000))
        .field(&format!("spec.containers{{{app}}}"));
    let node = format!(
        "ip-10-0-{}-{}.eu-west-1.compute.internal",
        rng.below(64),
        rng.below(250) + 2
    );
    legacy_event(rng, &obj, ty, reason, &msg, "kubelet", &node, at)
}

struct BulkShared {
    next_op: AtomicU64,
    creates: AtomicU64,
    updates: AtomicU64,
    bytes: AtomicU64,
    puts: Mutex<Vec<ExpectedPut>>,
}

/// Writes `n_revisions` Events (creates and count updates, ~700 bytes each,
/// one key per txn like the apiserver) with many requests in flight. Each
/// task owns its keys, so update compares never race. Returns after
/// checking that etcd's revision moved by exactly `n_revisions`.
pub async fn write_bulk(client: &Client, n_revisions: u64, opts: &BulkOptions) -> BulkSummary {
    let start = Instant::now();
    let mut c = client.clone();
    let head0 = header_rev(c.status().await.expect("etcd status").header());
    let n_leases = n_revisions.div_ceil(opts.revisions_per_lease.max(1)).max(1);
    let mut leases = Vec::new();
    for _ in 0..n_leases {
        leases.push(
            c.lease_grant(EVENT_LEASE_TTL, None)
                .await
                .expect("lease grant")
                .id(),
        );
    }
    let leases = Arc::new(leases);
    let shared = Arc::new(BulkShared {
        next_op: AtomicU64::new(0),
        creates: AtomicU64::new(0),
        updates: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        puts: Mutex::new(Vec::new()),
    });
    let mut tasks = Vec::new();
    for t in 0..opts.concurrency.max(1) {
        let mut client = client.clone();
        let shared = shared.clone();
        let leases = leases.clone();
        let opts = opts.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(opts.seed ^ ((t as u64 + 1) * 0x9E37_79B9));
            // Recent Events of this task: (event, key, mod_revision, create_revision, version)
            let mut recent: Vec<(core::Event, String, i64, i64, i64)> = Vec::new();
            let mut my_puts = Vec::new();
            loop {
                let i = shared.next_op.fetch_add(1, Ordering::Relaxed);
                if i >= n_revisions {
                    break;
                }
                if opts.progress_every > 0 && i > 0 && i % opts.progress_every == 0 {
                    eprintln!("  {i} / {n_revisions} revisions");
                }
                let lease = leases[(i / opts.revisions_per_lease.max(1)) as usize];
                let at = INCIDENT_START + (i / 50) as i64;
                let update = !recent.is_empty() && rng.below(100) < opts.update_percent;
                if update {
                    let idx = rng.below(recent.len() as u64) as usize;
                    let (ev, key, mod_rev, create_rev, ver) = &mut recent[idx];
                    bump_count(ev, at);
                    let value = stored_event_value(ev);
                    let rev =
                        optimistic_put(&mut client, key, value.clone(), *mod_rev, lease).await;
                    *mod_rev = rev;
                    *ver += 1;
                    shared.updates.fetch_add(1, Ordering::Relaxed);
                    shared
                        .bytes
                        .fetch_add(value.len() as u64, Ordering::Relaxed);
                    if opts.record_ledger {
                        my_puts.push(ExpectedPut {
                            key: key.clone(),
                            revision: rev,
                            sub: 0,
                            create_revision: *create_rev,
                            version: *ver,
                            lease,
                            kind: ValueKind::ProtobufEvent,
                            value,
                            event: Some(ev.clone()),
                            event_json: None,
                            note: String::new(),
                        });
                    }
                } else {
                    let ns = format!("team-{:02}-prod", rng.below(opts.namespaces.max(1) as u64));
                    let ev = bulk_event(&mut rng, &ns, at);
                    let key = event_key(&ev);
                    let value = stored_event_value(&ev);
                    let rev = optimistic_put(&mut client, &key, value.clone(), 0, lease).await;
                    shared.creates.fetch_add(1, Ordering::Relaxed);
                    shared
                        .bytes
                        .fetch_add(value.len() as u64, Ordering::Relaxed);
                    if opts.record_ledger {
                        my_puts.push(ExpectedPut {
                            key: key.clone(),
                            revision: rev,
                            sub: 0,
                            create_revision: rev,
                            version: 1,
                            lease,
                            kind: ValueKind::ProtobufEvent,
                            value,
                            event: Some(ev.clone()),
                            event_json: None,
                            note: String::new(),
                        });
                    }
                    if recent.len() >= 32 {
                        let drop_at = rng.below(recent.len() as u64) as usize;
                        recent.swap_remove(drop_at);
                    }
                    recent.push((ev, key, rev, rev, 1));
                }
            }
            if opts.record_ledger {
                shared.puts.lock().expect("puts").extend(my_puts);
            }
        }));
    }
    for t in tasks {
        t.await.expect("bulk writer task panicked");
    }
    let resp = c
        .get(COMPACT_REV_KEY, Some(GetOptions::new().with_count_only()))
        .await
        .expect("get");
    let head = header_rev(resp.header());
    assert_eq!(
        head,
        head0 + n_revisions as i64,
        "etcd revision moved by {} for {n_revisions} writes",
        head - head0
    );
    let ledger = if opts.record_ledger {
        let mut puts = std::mem::take(&mut *shared.puts.lock().expect("puts"));
        puts.sort_by_key(|p| (p.revision, p.sub));
        let version = c
            .status()
            .await
            .map(|s| s.version().to_string())
            .unwrap_or_default();
        Some(Ledger {
            etcd_version: version,
            puts,
            deletes: Vec::new(),
            leases: leases
                .iter()
                .map(|&id| ExpectedLease {
                    id,
                    ttl: EVENT_LEASE_TTL,
                    revoked_revision: None,
                })
                .collect(),
            compact_revision: 0,
            head_revision: head,
        })
    } else {
        None
    };
    BulkSummary {
        revisions: n_revisions,
        creates: shared.creates.load(Ordering::Relaxed),
        updates: shared.updates.load(Ordering::Relaxed),
        value_bytes: shared.bytes.load(Ordering::Relaxed),
        first_revision: head0 + 1,
        head_revision: head,
        elapsed: start.elapsed(),
        leases: leases.to_vec(),
        ledger,
    }
}

/// Base64 of `bytes` (handy in assertion messages).
pub fn base64_of(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
