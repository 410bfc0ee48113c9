//! Writes into a real etcd exactly the way kube-apiserver does, one request
//! at a time, and records every write in a [`Ledger`] from etcd's responses
//! (txn header revision, `prev_kv` for create revision and version),
//! cross-checked against what the writer expected.
//!
//! # Write patterns (kube-apiserver `storage/etcd3/store.go`)
//! * create: `Txn(If ModRevision(key) == 0).Then(Put(key, value, lease)).Else(Get(key))`
//! * update: `Txn(If ModRevision(key) == prev).Then(Put(key, value, lease)).Else(Get(key))`;
//!   every update attaches the apiserver's *current* lease, which may be
//!   newer than the one the key had. An apiserver whose copy is out of
//!   date sends a `prev` that no longer holds: the compare fails, the get
//!   returns the current value, and it retries from that
//!   ([`ScenarioWriter::stale_update`]).
//! * delete: `Txn(If ModRevision(key) == prev).Then(Delete(key)).Else(Get(key))`
//! * leases: TTL 3660 s (`--event-ttl` 1h + 60 s reuse window), one lease
//!   shared by every Event written in the same minute.
//! * compaction: `Put("compact_rev_key", "<rev>")` then `Compact(rev)`
//!   (physical, so the bbolt file no longer holds the compacted revisions).

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, DeleteOptions, EventType, GetOptions,
    PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use evforensics::proto::core::v1 as core;

use super::event_json::event_k8s_json;
use super::events::{event_key, stored_event_value};
use super::ledger::{
    DeleteCause, ExpectedDelete, ExpectedLease, ExpectedPut, FailedProposal, Ledger, ValueKind,
};
use super::objects::{pod_value, ObjRef};

/// TTL kube-apiserver gives Event leases: `--event-ttl` (1h) + 60 s.
pub const EVENT_LEASE_TTL: i64 = 3660;
/// The key kube-apiserver's compactor writes before each compaction.
pub const COMPACT_REV_KEY: &str = "compact_rev_key";
/// Bound on waiting for a lease to run out (a 2 s TTL takes ~2.5 s).
pub const EXPIRY_TIMEOUT: Duration = Duration::from_secs(30);

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
pub(super) async fn optimistic_put(
    client: &mut Client,
    key: &str,
    value: Vec<u8>,
    prev: i64,
    lease: i64,
) -> i64 {
    match propose(client, key, value, prev, lease, false).await {
        Proposed::Written(rev) => rev,
        Proposed::Stale { .. } => panic!("put of {key}: mod revision is no longer {prev}"),
    }
}

/// What a proposal with a mod-revision compare did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Proposed {
    /// The compare held: the put took this revision.
    Written(i64),
    /// The compare failed (nothing written); `current` is the key's mod
    /// revision from the else branch's get (0 without one, or no key).
    Stale { current: i64 },
}

/// One apiserver write whose compare may fail: `Txn(If ModRevision(key) ==
/// prev).Then(Put(key, value, lease))`, with `.Else(Get(key))` when
/// `else_get` (the apiserver's `GuaranteedUpdate`, which retries from what
/// the get returns; its create has no else branch).
pub(super) async fn propose(
    client: &mut Client,
    key: &str,
    value: Vec<u8>,
    prev: i64,
    lease: i64,
    else_get: bool,
) -> Proposed {
    let mut txn = Txn::new()
        .when([Compare::mod_revision(key, CompareOp::Equal, prev)])
        .and_then([TxnOp::put(
            key,
            value,
            Some(PutOptions::new().with_lease(lease)),
        )]);
    if else_get {
        txn = txn.or_else([TxnOp::get(key, None)]);
    }
    let resp = client.txn(txn).await.expect("apiserver put txn");
    if resp.succeeded() {
        return Proposed::Written(header_rev(resp.header()));
    }
    let current = resp
        .op_responses()
        .into_iter()
        .find_map(|r| match r {
            TxnOpResponse::Get(g) => g.kvs().first().map(|kv| kv.mod_revision()),
            _ => None,
        })
        .unwrap_or(0);
    Proposed::Stale { current }
}

pub(super) fn header_rev(h: Option<&etcd_client::ResponseHeader>) -> i64 {
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

    /// Whether `key` exists (as far as this writer wrote it).
    pub fn exists(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }

    /// The mod revision of `key`'s current value.
    pub fn mod_revision(&self, key: &str) -> Option<i64> {
        self.keys.get(key).map(|s| s.mod_revision)
    }

    /// Grants a lease with [`EVENT_LEASE_TTL`] (no revision is used).
    pub async fn grant_lease(&mut self) -> i64 {
        self.grant_lease_ttl(EVENT_LEASE_TTL).await
    }

    /// Grants a lease asking for `ttl` seconds; the ledger keeps the TTL
    /// etcd granted (it raises a TTL below its minimum).
    pub async fn grant_lease_ttl(&mut self, ttl: i64) -> i64 {
        let resp = self
            .client
            .lease_grant(ttl, None)
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
        let gets: Vec<TxnOp> = vs
            .iter()
            .map(|v| TxnOp::get(v.key.as_str(), None))
            .collect();
        let resp = self
            .client
            .txn(Txn::new().when(compares).and_then(ops).or_else(gets))
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
            )])
            .or_else([TxnOp::get(v.key.as_str(), None)]);
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

    /// An update from an apiserver whose copy of the key is out of date:
    /// `Txn(If ModRevision(key) == stale).Then(Put(key, value, lease))
    /// .Else(Get(key))` with `stale` an older mod revision of the key. The
    /// compare must fail: the revision does not move and the get returns
    /// the key's current value. Recorded in [`Ledger::failed`].
    pub async fn stale_update(&mut self, v: NewValue, stale: i64) -> FailedProposal {
        let st = self
            .keys
            .get(&v.key)
            .unwrap_or_else(|| panic!("stale update of {} which does not exist", v.key))
            .clone();
        assert!(
            stale < st.mod_revision,
            "a stale update needs an older mod revision than {}",
            st.mod_revision
        );
        let txn = Txn::new()
            .when([Compare::mod_revision(
                v.key.as_str(),
                CompareOp::Equal,
                stale,
            )])
            .and_then([TxnOp::put(
                v.key.as_str(),
                v.value.clone(),
                Some(PutOptions::new().with_lease(v.lease)),
            )])
            .or_else([TxnOp::get(v.key.as_str(), None)]);
        let resp = self.client.txn(txn).await.expect("stale update txn");
        assert!(
            !resp.succeeded(),
            "stale update of {}: the compare on mod revision {stale} held",
            v.key
        );
        assert_eq!(
            header_rev(resp.header()),
            self.head,
            "a failed compare moved the revision"
        );
        let TxnOpResponse::Get(got) = resp.op_responses().remove(0) else {
            panic!("the failure branch of a stale update answered no get")
        };
        let kv = &got.kvs()[0];
        assert_eq!(
            (kv.mod_revision(), kv.version(), kv.lease()),
            (st.mod_revision, st.version, st.lease),
            "the failure branch's get of {} is not the key's current value",
            v.key
        );
        let f = FailedProposal {
            key: v.key,
            kind: v.kind,
            value: v.value,
            lease: v.lease,
            compared_mod_revision: stale,
            actual_mod_revision: kv.mod_revision(),
            head_revision: self.head,
            note: v.note,
        };
        self.ledger.failed.push(f.clone());
        f
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
            )])
            .or_else([TxnOp::get(key, None)]);
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

    /// One keep-alive of `lease` (not a raft proposal: no revision, no WAL
    /// entry): its TTL starts again. Panics if it already ran out.
    pub async fn refresh_lease(&mut self, lease: i64) {
        // The client sends one keep-alive and reads its answer (an error
        // when the lease is gone); the stream is then dropped.
        self.client
            .lease_keep_alive(lease)
            .await
            .unwrap_or_else(|e| panic!("keep-alive of lease {lease} (did it run out?): {e}"));
    }

    /// Waits until `lease` runs out its TTL, watching for the deletes of
    /// its keys (no sleep): etcd's lessor revokes it, deleting every key in
    /// one revision in bytewise key order. Nothing else may be written
    /// meanwhile: the next change must be exactly these deletes.
    pub async fn await_expiry(&mut self, lease: i64, note: &str) -> Vec<ExpectedDelete> {
        let keys = self.keys_of_lease(lease);
        assert!(!keys.is_empty(), "lease {lease} has no keys to expire");
        let opts = WatchOptions::new()
            .with_all_keys()
            .with_start_revision(self.head + 1);
        let mut stream = self.client.watch("", Some(opts)).await.expect("watch");
        let mut seen: Vec<(String, i64)> = Vec::new();
        while seen.len() < keys.len() {
            let resp = tokio::time::timeout(EXPIRY_TIMEOUT, stream.message())
                .await
                .unwrap_or_else(|_| {
                    panic!("lease {lease} did not expire within {EXPIRY_TIMEOUT:?}")
                })
                .expect("watch")
                .expect("watch stream ended");
            assert!(!resp.canceled(), "watch canceled: {}", resp.cancel_reason());
            for e in resp.events() {
                let kv = e.kv().expect("watch event without kv");
                let key = String::from_utf8_lossy(kv.key()).into_owned();
                assert_eq!(
                    e.event_type(),
                    EventType::Delete,
                    "waiting for lease {lease} to expire, etcd applied a put of {key}"
                );
                seen.push((key, kv.mod_revision()));
            }
        }
        let rev = seen[0].1;
        self.next_rev(rev, "lease expiry");
        let want: Vec<(String, i64)> = keys.iter().map(|k| (k.clone(), rev)).collect();
        assert_eq!(
            seen, want,
            "lease {lease} expiry: its keys deleted in one revision, in key order"
        );
        let mut out = Vec::new();
        for (sub, key) in keys.into_iter().enumerate() {
            let st = self.keys.remove(&key).expect("key state");
            let d = ExpectedDelete {
                key,
                revision: rev,
                sub: sub as i64,
                cause: DeleteCause::LeaseExpired { lease },
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
            .expect("expiry of a lease the writer did not grant");
        l.revoked_revision = Some(rev);
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
        self.ledger.compactions.push(rev);
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
