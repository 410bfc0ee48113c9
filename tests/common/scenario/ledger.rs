//! The ledger of what etcd stored: every put, tombstone and lease the
//! writers made, taken from etcd's own responses, and what a snapshot taken
//! at head must therefore hold.
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
//! Several compactions leave what the last one alone would: each removes a
//! superset of what the one before it removed, so `C` is the last one.
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

use std::collections::HashMap;
use std::path::Path;

use evforensics::proto::core::v1 as core;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::b64;

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
    #[serde(with = "b64::bytes")]
    pub value: Vec<u8>,
    /// The Event as written (also for JSON values), when `kind` is an Event
    /// whose content is known. Serialized as base64 of its protobuf.
    #[serde(with = "b64::event", default, skip_serializing_if = "Option::is_none")]
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
    /// The key's lease was revoked by a client (`LeaseRevoke`).
    LeaseRevoked { lease: i64 },
    /// The key's lease ran out its TTL: etcd's lessor revoked it (the
    /// same `LeaseRevoke` through raft, proposed by etcd itself).
    LeaseExpired { lease: i64 },
}

impl DeleteCause {
    /// The lease whose end deleted the key (`None`: an explicit delete).
    pub fn lease(self) -> Option<i64> {
        match self {
            DeleteCause::Explicit => None,
            DeleteCause::LeaseRevoked { lease } | DeleteCause::LeaseExpired { lease } => {
                Some(lease)
            }
        }
    }
}

/// A write etcd refused: a txn whose mod-revision compare failed (an
/// apiserver retrying from an out-of-date copy). It changed nothing, so it
/// is no put; the WAL still holds the proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedProposal {
    pub key: String,
    pub kind: ValueKind,
    /// The bytes the txn's success branch would have put.
    #[serde(with = "b64::bytes")]
    pub value: Vec<u8>,
    pub lease: i64,
    /// The (out-of-date) mod revision the compare expected.
    pub compared_mod_revision: i64,
    /// The key's mod revision, from the failure branch's get.
    pub actual_mod_revision: i64,
    /// The store revision etcd answered at (unchanged by the txn).
    pub head_revision: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
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
    /// Txns whose compare failed, in the order they were sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<FailedProposal>,
    /// Revision passed to the last Compact (0: never compacted).
    pub compact_revision: i64,
    /// Every revision passed to Compact, in order (the last is
    /// `compact_revision`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compactions: Vec<i64>,
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
    /// Tombstones of a lease's end: revoked or expired.
    pub expired_by_lease: usize,
    /// Of those, tombstones of a lease that ran out its TTL.
    pub expired_by_ttl: usize,
    pub failed_proposals: usize,
    pub compactions: usize,
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
                .filter(|d| d.cause.lease().is_some())
                .count(),
            expired_by_ttl: self
                .deletes
                .iter()
                .filter(|d| matches!(d.cause, DeleteCause::LeaseExpired { .. }))
                .count(),
            failed_proposals: self.failed.len(),
            compactions: self.compactions.len(),
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
