//! The replay: committed proposals in raft order, applied as etcd's apply
//! loop would (`etcdserver/apply.go`, `mvcc/kvstore_txn.go`,
//! `lease/lessor.go`) to find what each did and at which revision.
//!
//! The revision counter starts from an anchor: an empty store when the WAL
//! begins at raft index 1, a put whose key and value the db holds once, or
//! the db's consistent index. From there each applied write transaction
//! takes the next main revision and its writes sub revisions 0, 1, …
//! Compares are decided from the keys' states: what the WAL wrote, or what
//! the db says where it is exact. Where a compare or a delete cannot be
//! decided, the writes concerned are unresolved and, if the count itself is
//! in doubt, the counter is unknown until the next anchor.

use std::collections::BTreeSet;

use super::compare::holds_for;
use super::digest::value_digest;
use super::state::{KeyState, Knowledge, LeaseKnowledge, Written};
use super::stored::StoredHistory;
use crate::helpers::DigestMap;
use crate::proto::etcd::KeyValue;
use crate::source::mvcc::Revision;
use crate::source::wal::{Compare, DeleteRange, Put, Request, RequestOp, Txn};
use crate::store::{DeletionCause, RevisionBasis, UnresolvedWrite, WalOrigin};

/// What the replay found one write did.
#[derive(Debug, Clone, PartialEq)]
pub enum Replayed {
    /// A put applied at `revision`, as the db would store it.
    Put {
        revision: Revision,
        key_value: KeyValue,
        origin: WalOrigin,
    },
    /// A key deleted at `revision`.
    Tombstone {
        revision: Revision,
        key: Vec<u8>,
        origin: WalOrigin,
    },
    /// A put or tombstone the db holds already, byte for byte (its key and
    /// value digest at the same revision): only its raft entry is new.
    Held {
        revision: Revision,
        key: Vec<u8>,
        origin: WalOrigin,
    },
    /// A write whose outcome or revision is unknown.
    Unresolved(UnresolvedWrite),
}

/// The replay's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Write transactions applied (each took one revision).
    pub applied_writes: u64,
    /// Puts and tombstones given a revision.
    pub replayed_records: u64,
    /// Transactions whose compares did not hold.
    pub failed_compares: u64,
    /// Writes whose outcome or revision is unknown.
    pub unresolved: u64,
    /// Times the counted revision disagreed with an anchor.
    pub contradictions: u64,
    /// Requests etcd refuses without writing (a put with a revoked lease).
    pub rejected: u64,
}

/// How many times each key-and-value digest is put in the WAL's committed
/// entries: a stored value anchors a put only if the WAL puts it once.
/// Only values the db holds once need counting (others never anchor).
pub type WalPutCounts = DigestMap<u32>;

/// One raft entry's place, for the rows it gives.
#[derive(Debug, Clone, Copy)]
pub struct EntryPlace {
    pub index: u64,
    pub term: u64,
}

/// One write of an applied transaction, in order.
enum Write<'r> {
    Put(&'r Put),
    Delete { key: Vec<u8>, cause: DeletionCause },
}

/// Why a transaction's writes cannot be worked out.
struct Undecided(String);

/// The replay of one WAL against one db.
pub struct Replay<'h> {
    stored: &'h StoredHistory,
    wal_puts: &'h WalPutCounts,
    /// The revision after the last applied write; `None`: not known.
    revision: Option<i64>,
    basis: RevisionBasis,
    /// The WAL starts with the store: every key not written is absent.
    from_empty: bool,
    /// Entries past the db's consistent index are being replayed.
    past_db: bool,
    written: Written,
    stats: ReplayStats,
}

impl<'h> Replay<'h> {
    /// A replay whose first committed entry has raft index `first_index`.
    pub fn new(
        stored: &'h StoredHistory,
        wal_puts: &'h WalPutCounts,
        first_index: Option<u64>,
    ) -> Replay<'h> {
        let from_empty = first_index == Some(1);
        Replay {
            stored,
            wal_puts,
            // etcd's store starts at revision 1; the first write takes 2.
            revision: from_empty.then_some(1),
            basis: RevisionBasis::EmptyStore,
            from_empty,
            past_db: false,
            written: Written::default(),
            stats: ReplayStats::default(),
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> ReplayStats {
        self.stats
    }

    /// Applies one committed entry's request.
    pub fn apply(&mut self, at: EntryPlace, request: &Request, out: &mut impl FnMut(Replayed)) {
        self.cross_db(at.index);
        match request {
            Request::Put(put) => {
                let ops = [RequestOp::Put(put.clone())];
                self.write(at, &ops, self.anchor_in(&ops), out);
            }
            Request::DeleteRange(d) => {
                self.write(at, &[RequestOp::DeleteRange(d.clone())], None, out);
            }
            Request::Txn(txn) => self.txn(at, txn, out),
            Request::LeaseGrant(g) => self.written.grant(g.id),
            Request::LeaseRevoke(r) => self.revoke(at, r.id, out),
            Request::Compaction(_) | Request::LeaseCheckpoint(_) | Request::Other(_) => {}
        }
    }

    /// An entry whose data could not be read: it may have written, so the
    /// count is lost until the next anchor.
    pub fn unreadable(&mut self, index: u64) {
        self.cross_db(index);
        self.lose_count();
    }

    /// A proposal no commit index covers: what it would write is unresolved.
    pub fn uncommitted(
        &mut self,
        at: EntryPlace,
        request: &Request,
        out: &mut impl FnMut(Replayed),
    ) {
        let why =
            "no commit index in the WAL covers this entry, and the db was not applied up to it";
        for op in request_ops(request) {
            self.unresolved_op(at, &op, why, out);
        }
    }

    /// At the db's consistent index the store's revision is the db's: the
    /// count is checked (or found) there, and keys the replay lost track of
    /// take their state from the db.
    fn cross_db(&mut self, index: u64) {
        let Some(ci) = self.stored.consistent_index() else {
            return;
        };
        if self.past_db || index <= ci {
            return;
        }
        self.past_db = true;
        let current = self.stored.current_revision();
        match self.revision {
            Some(r) if r == current => {}
            Some(_) => {
                self.stats.contradictions += 1;
                self.written.forget_all();
                self.revision = Some(current);
                self.basis = RevisionBasis::ConsistentIndex;
            }
            None => {
                self.revision = Some(current);
                self.basis = RevisionBasis::ConsistentIndex;
            }
        }
    }

    /// What is known of `key` at the current revision.
    fn lookup(&self, key: &[u8]) -> Knowledge {
        let Some(rev) = self.revision else {
            return Knowledge::Unknown;
        };
        let current = self.stored.current_revision();
        match self.written.key(key) {
            Some(k @ (Knowledge::Absent | Knowledge::Present(_))) => k,
            Some(Knowledge::Unknown) if rev <= current => self.stored.state_at(key, rev),
            Some(Knowledge::Unknown) => Knowledge::Unknown,
            None if self.from_empty => Knowledge::Absent,
            None if rev <= current => self.stored.state_at(key, rev),
            None if self.past_db => self.stored.state_at(key, current),
            None => Knowledge::Unknown,
        }
    }

    /// Whether every key that exists in `[start, end)` is known: the keys
    /// the WAL wrote and those the db holds are then all of them.
    fn key_set_known(&self, start: &[u8], end: &[u8]) -> bool {
        let Some(rev) = self.revision else {
            return false;
        };
        self.from_empty
            || (self.stored.covers(start, end)
                && (self.stored.exact_at(rev)
                    || (self.past_db && self.stored.exact_at(self.stored.current_revision()))))
    }

    /// Keys in `[start, end)` the WAL wrote or the db holds.
    fn keys_in(&self, start: &[u8], end: &[u8]) -> BTreeSet<Vec<u8>> {
        let mut keys: BTreeSet<Vec<u8>> = self.written.keys_in(start, end).into_iter().collect();
        keys.extend(self.stored.keys_in(start, end).map(<[u8]>::to_vec));
        keys
    }

    /// Whether all of `compares` hold.
    fn decide(&self, compares: &[Compare]) -> Result<bool, Undecided> {
        for c in compares {
            let held = if c.range_end.is_empty() {
                holds_for(c, &c.key, self.lookup(&c.key))
            } else {
                self.range_holds(c)
            };
            match held {
                Some(true) => {}
                Some(false) => return Ok(false),
                None => {
                    return Err(Undecided(format!(
                        "its compare on {} cannot be decided: the key's state at that point is not in the WAL or the db",
                        String::from_utf8_lossy(&c.key)
                    )))
                }
            }
        }
        Ok(true)
    }

    /// A compare over a range of keys holds for each key in it (or for a
    /// missing key when the range is empty).
    fn range_holds(&self, c: &Compare) -> Option<bool> {
        let end = range_end(&c.range_end);
        if !self.key_set_known(&c.key, end) {
            return None;
        }
        let mut any = false;
        for key in self.keys_in(&c.key, end) {
            match self.lookup(&key) {
                Knowledge::Absent => continue,
                state => {
                    any = true;
                    if !holds_for(c, &key, state)? {
                        return Some(false);
                    }
                }
            }
        }
        if any {
            Some(true)
        } else {
            holds_for(c, &c.key, Knowledge::Absent)
        }
    }

    /// The writes of `ops`, in order, decided against the state before the
    /// transaction (etcd decides a nested transaction's branch up front).
    fn writes<'r>(&self, ops: &'r [RequestOp], out: &mut Vec<Write<'r>>) -> Result<(), Undecided> {
        for op in ops {
            match op {
                RequestOp::Put(p) => out.push(Write::Put(p)),
                RequestOp::DeleteRange(d) => self.deletes(d, out)?,
                RequestOp::Txn(inner) => {
                    let branch = if self.decide(&inner.compares)? {
                        &inner.success
                    } else {
                        &inner.failure
                    };
                    self.writes(branch, out)?;
                }
                RequestOp::TooDeep => {
                    return Err(Undecided(
                        "its transactions nest deeper than evforensics reads".into(),
                    ))
                }
                RequestOp::Range(_) | RequestOp::Empty => {}
            }
        }
        Ok(())
    }

    /// The keys a delete removes: those that exist in its range.
    fn deletes(&self, d: &DeleteRange, out: &mut Vec<Write<'_>>) -> Result<(), Undecided> {
        let candidates = if d.range_end.is_empty() {
            BTreeSet::from([d.key.clone()])
        } else if self.key_set_known(&d.key, range_end(&d.range_end)) {
            self.keys_in(&d.key, range_end(&d.range_end))
        } else {
            return Err(Undecided(format!(
                "the keys its delete of the range from {} removes are not known",
                String::from_utf8_lossy(&d.key)
            )));
        };
        for key in candidates {
            match self.lookup(&key) {
                Knowledge::Absent => {}
                Knowledge::Present(_) => out.push(Write::Delete {
                    key,
                    cause: DeletionCause::DeleteRange,
                }),
                Knowledge::Unknown => {
                    return Err(Undecided(format!(
                        "whether {} existed when it was deleted is not known",
                        String::from_utf8_lossy(&key)
                    )))
                }
            }
        }
        Ok(())
    }

    /// A transaction: its compares decide the branch.
    fn txn(&mut self, at: EntryPlace, txn: &Txn, out: &mut impl FnMut(Replayed)) {
        let decided = self.decide(&txn.compares);
        let anchored = self.anchor_in(&txn.success);
        match (decided, anchored) {
            (Ok(true), anchored) => self.write(at, &txn.success, anchored, out),
            (Ok(false), None) => {
                self.stats.failed_compares += 1;
                let anchored = self.anchor_in(&txn.failure);
                self.write(at, &txn.failure, anchored, out);
            }
            // The db holds what the success branch put: it applied.
            (Ok(false), Some(anchor)) => {
                self.stats.contradictions += 1;
                self.write(at, &txn.success, Some(anchor), out);
            }
            (Err(_), Some(anchor)) => self.write(at, &txn.success, Some(anchor), out),
            (Err(Undecided(why)), None) => self.undecided(at, txn, &why, out),
        }
    }

    /// The first put among `ops` whose key and value the db holds once and
    /// the WAL puts once: its stored revision.
    fn anchor_in(&self, ops: &[RequestOp]) -> Option<(i64, i64)> {
        ops.iter().find_map(|op| match op {
            RequestOp::Put(p) if !p.ignore_value => self.anchor_of(p),
            _ => None,
        })
    }

    fn anchor_of(&self, put: &Put) -> Option<(i64, i64)> {
        let digest = value_digest(&put.key, &put.value);
        if self.wal_puts.get(&digest).copied() != Some(1) {
            return None;
        }
        self.stored.anchor(digest)
    }

    /// A transaction whose branch is not known: its writes are unresolved,
    /// and the keys they touch (and, if only one branch writes, the count)
    /// are lost.
    fn undecided(&mut self, at: EntryPlace, txn: &Txn, why: &str, out: &mut impl FnMut(Replayed)) {
        let why = format!("the transaction's outcome is unknown: {why}");
        let success_writes = writes_anything(&txn.success);
        let failure_writes = writes_anything(&txn.failure);
        for op in txn.success.iter().chain(&txn.failure) {
            self.unresolved_op(at, op, &why, out);
        }
        match (success_writes, failure_writes) {
            (false, false) => {}
            (true, true) => {
                self.revision = self.revision.map(|r| r + 1);
                self.stats.applied_writes += 1;
            }
            _ => self.lose_count(),
        }
    }

    /// The count is lost: until the next anchor, writes are unresolved.
    fn lose_count(&mut self) {
        self.revision = None;
    }

    /// Applies the writes of `ops` as one write transaction. `anchor`: the
    /// stored revision of one of its puts, which the count must meet (see
    /// [`anchor_in`](Self::anchor_in), looked up once by the caller).
    fn write(
        &mut self,
        at: EntryPlace,
        ops: &[RequestOp],
        anchor: Option<(i64, i64)>,
        out: &mut impl FnMut(Replayed),
    ) {
        if let Some((main, _)) = anchor {
            self.meet_anchor(main);
        }
        if self.revision.is_none() {
            let why = "the revision count was lost (an earlier write could not be worked out) and no stored copy of this write anchors it";
            for op in ops {
                self.unresolved_op(at, op, why, out);
            }
            return;
        }
        let mut writes = Vec::new();
        if let Err(Undecided(why)) = self.writes(ops, &mut writes) {
            for op in ops {
                self.unresolved_op(at, op, &why, out);
            }
            if writes_anything(ops) {
                self.lose_count();
            }
            return;
        }
        self.commit(at, writes, out);
    }

    /// The count meets an anchor: `main` is the revision this write takes.
    fn meet_anchor(&mut self, main: i64) {
        match self.revision {
            Some(r) if r + 1 == main => {}
            Some(_) => {
                self.stats.contradictions += 1;
                self.written.forget_all();
                self.revision = Some(main - 1);
                self.basis = RevisionBasis::StoredRevision;
            }
            None => {
                self.revision = Some(main - 1);
                self.basis = RevisionBasis::StoredRevision;
            }
        }
    }

    /// Writes decided: one revision, their rows, the keys' new states.
    fn commit(&mut self, at: EntryPlace, writes: Vec<Write<'_>>, out: &mut impl FnMut(Replayed)) {
        let Some(before) = self.revision else {
            return;
        };
        if writes.is_empty() {
            return;
        }
        // A put with a lease etcd no longer has is refused, with no write.
        let revoked_lease = writes.iter().any(|w| {
            matches!(w, Write::Put(p) if p.lease != 0 && !p.ignore_lease
                && self.written.lease(p.lease) == Some(LeaseKnowledge::Revoked))
        });
        if revoked_lease {
            self.stats.rejected += 1;
            return;
        }
        let main = before + 1;
        let basis = self.basis;
        let origin = |cause| WalOrigin {
            raft_index: at.index,
            raft_term: at.term,
            basis,
            cause,
        };
        let mut states = Vec::with_capacity(writes.len());
        for (sub, w) in writes.into_iter().enumerate() {
            let sub = sub as i64;
            match w {
                Write::Put(p) => {
                    let prior = self.lookup(&p.key);
                    // The db's copy of this very revision knows the key's
                    // generation, even where the replay does not.
                    let stored = self.stored.revision(&p.key, main, sub);
                    match put_state(p, prior, main) {
                        Ok(replayed) => {
                            let revision = Revision {
                                main,
                                sub,
                                tombstone: false,
                            };
                            let state = stored.unwrap_or(replayed);
                            if stored.is_some_and(|s| s.value == replayed.value) {
                                out(Replayed::Held {
                                    revision,
                                    key: p.key.clone(),
                                    origin: origin(None),
                                });
                            } else {
                                out(Replayed::Put {
                                    revision,
                                    key_value: KeyValue {
                                        key: p.key.clone(),
                                        create_revision: state.create_revision.unwrap_or(0),
                                        mod_revision: main,
                                        version: state.version.unwrap_or(0),
                                        value: p.value.clone(),
                                        lease: state.lease.unwrap_or(0),
                                    },
                                    origin: origin(None),
                                });
                            }
                            self.stats.replayed_records += 1;
                            states.push((p.key.clone(), Knowledge::Present(state)));
                        }
                        Err(why) => {
                            self.unresolved_put(at, p, why, out);
                            states.push((p.key.clone(), Knowledge::Unknown));
                        }
                    }
                }
                Write::Delete { key, cause } => {
                    let revision = Revision {
                        main,
                        sub,
                        tombstone: true,
                    };
                    let origin = origin(Some(cause));
                    out(if self.stored.holds_tombstone(&key, main, sub) {
                        Replayed::Held {
                            revision,
                            key: key.clone(),
                            origin,
                        }
                    } else {
                        Replayed::Tombstone {
                            revision,
                            key: key.clone(),
                            origin,
                        }
                    });
                    self.stats.replayed_records += 1;
                    states.push((key, Knowledge::Absent));
                }
            }
        }
        for (key, state) in states {
            self.written.set(&key, state);
        }
        self.revision = Some(main);
        self.stats.applied_writes += 1;
    }

    /// A lease revoke deletes, in one transaction and in key order, every
    /// key still attached to the lease.
    fn revoke(&mut self, at: EntryPlace, lease: i64, out: &mut impl FnMut(Replayed)) {
        if self.written.lease(lease) == Some(LeaseKnowledge::Revoked) {
            return;
        }
        let candidates: BTreeSet<Vec<u8>> = self
            .written
            .keys_of_lease(lease)
            .map(<[u8]>::to_vec)
            .chain(self.stored.keys_of_lease(lease).iter().map(|k| k.to_vec()))
            .collect();
        let cause = DeletionCause::LeaseRevoke { lease };
        let mut writes = Vec::new();
        // Keys attached to the lease that the db holds are all known when
        // the db is exact here (keys outside its root are not kept: etcd's
        // leases of Kubernetes keys are under it).
        let exact = |r| {
            self.stored.exact_at(r)
                || (self.past_db && self.stored.exact_at(self.stored.current_revision()))
        };
        let mut undecided = !self.from_empty && !self.revision.is_some_and(exact);
        for key in candidates {
            match self.lookup(&key) {
                Knowledge::Present(KeyState { lease: Some(l), .. }) if l == lease => {
                    writes.push(Write::Delete { key, cause })
                }
                Knowledge::Present(KeyState { lease: Some(_), .. }) | Knowledge::Absent => {}
                _ => undecided = true,
            }
        }
        self.written.revoke(lease);
        if undecided {
            let why =
                format!("the keys attached to lease {lease} when it was revoked are not all known");
            for w in &writes {
                if let Write::Delete { key, .. } = w {
                    self.unresolved(at, key, "delete", Vec::new(), &why, out);
                }
            }
            self.lose_count();
            return;
        }
        self.commit(at, writes, out);
    }

    fn unresolved_op(
        &mut self,
        at: EntryPlace,
        op: &RequestOp,
        why: &str,
        out: &mut impl FnMut(Replayed),
    ) {
        match op {
            RequestOp::Put(p) => self.unresolved_put(at, p, why.to_string(), out),
            RequestOp::DeleteRange(d) => {
                self.written.set(&d.key, Knowledge::Unknown);
                self.unresolved(at, &d.key, "delete", Vec::new(), why, out);
            }
            RequestOp::Txn(inner) => {
                for op in inner.success.iter().chain(&inner.failure) {
                    self.unresolved_op(at, op, why, out);
                }
            }
            RequestOp::Range(_) | RequestOp::Empty | RequestOp::TooDeep => {}
        }
    }

    fn unresolved_put(
        &mut self,
        at: EntryPlace,
        p: &Put,
        why: String,
        out: &mut impl FnMut(Replayed),
    ) {
        self.written.set(&p.key, Knowledge::Unknown);
        self.unresolved(at, &p.key, "put", p.value.clone(), &why, out);
    }

    fn unresolved(
        &mut self,
        at: EntryPlace,
        key: &[u8],
        operation: &'static str,
        value: Vec<u8>,
        why: &str,
        out: &mut impl FnMut(Replayed),
    ) {
        self.stats.unresolved += 1;
        out(Replayed::Unresolved(UnresolvedWrite {
            raft_index: at.index,
            raft_term: at.term,
            key: String::from_utf8_lossy(key).into_owned(),
            operation,
            why: why.to_string(),
            value,
        }));
    }
}

/// The state a put leaves, from the key's state before it.
fn put_state(p: &Put, prior: Knowledge, main: i64) -> Result<KeyState, String> {
    if p.ignore_value {
        return Err(
            "the put keeps the key's earlier value (ignore_value), which the WAL does not hold"
                .into(),
        );
    }
    let (create_revision, version, prior_lease) = match prior {
        Knowledge::Absent => (Some(main), Some(1), Some(0)),
        Knowledge::Present(s) => (s.create_revision, s.version.map(|v| v + 1), s.lease),
        Knowledge::Unknown => (None, None, None),
    };
    let lease = if p.ignore_lease {
        prior_lease
    } else {
        Some(p.lease)
    };
    if lease.is_none() {
        return Err(
            "the put keeps the key's earlier lease (ignore_lease), which is not known".into(),
        );
    }
    Ok(KeyState {
        mod_revision: main,
        create_revision,
        version,
        lease,
        value: Some(value_digest(&p.key, &p.value)),
    })
}

/// etcd's range end: `"\0"` means every key from the start on.
fn range_end(end: &[u8]) -> &[u8] {
    if end == [0] {
        &[]
    } else {
        end
    }
}

/// Whether a branch holds a write (a nested transaction may).
fn writes_anything(ops: &[RequestOp]) -> bool {
    ops.iter().any(|op| match op {
        RequestOp::Put(_) | RequestOp::DeleteRange(_) => true,
        RequestOp::Txn(inner) => writes_anything(&inner.success) || writes_anything(&inner.failure),
        RequestOp::Range(_) | RequestOp::Empty | RequestOp::TooDeep => false,
    })
}

/// The key-value operations of a request, as transaction operations.
fn request_ops(request: &Request) -> Vec<RequestOp> {
    match request {
        Request::Put(p) => vec![RequestOp::Put(p.clone())],
        Request::DeleteRange(d) => vec![RequestOp::DeleteRange(d.clone())],
        Request::Txn(t) => t.success.iter().chain(&t.failure).cloned().collect(),
        _ => Vec::new(),
    }
}
