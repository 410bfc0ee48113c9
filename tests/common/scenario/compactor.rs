//! kube-apiserver's compactor (`storage/etcd3/compact.go`), one round per
//! `--etcd-compaction-interval`: `Txn(If Version(compact_rev_key) == t)
//! .Then(Put(compact_rev_key, "<rev>")).Else(Get(compact_rev_key))`, then
//! `Compact(rev)` of the revision the *previous* round's txn saw, so the tree
//! keeps about one interval of history. The first round only records.

use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse,
};

use super::writer::{header_rev, COMPACT_REV_KEY};

/// The compactor's state between rounds.
#[derive(Debug, Clone, Default)]
pub struct Compactor {
    /// The version `compact_rev_key` is expected to have (the apiserver's
    /// "logical time" `t`).
    time: i64,
    /// The store revision the last round's txn saw: the next round's target.
    last_seen: i64,
    /// Rounds whose txn wrote `compact_rev_key` (each took one revision).
    pub puts: u64,
    /// Compactions done.
    pub compactions: u64,
    /// The last compaction's revision (0: none yet).
    pub compact_revision: i64,
}

impl Compactor {
    /// One round. The compaction is physical (etcd returns once the bbolt
    /// file no longer holds the compacted revisions; the apiserver does not
    /// wait), so that a snapshot taken later is the same on every run.
    pub async fn round(&mut self, client: &mut Client) {
        let txn = Txn::new()
            .when([Compare::version(
                COMPACT_REV_KEY,
                CompareOp::Equal,
                self.time,
            )])
            .and_then([TxnOp::put(
                COMPACT_REV_KEY,
                self.last_seen.to_string(),
                Some(PutOptions::new()),
            )])
            .or_else([TxnOp::get(COMPACT_REV_KEY, None)]);
        let resp = client.txn(txn).await.expect("compactor txn");
        let seen = header_rev(resp.header());
        if !resp.succeeded() {
            // Another compactor moved on: adopt its time, compact nothing.
            self.time = resp
                .op_responses()
                .into_iter()
                .find_map(|r| match r {
                    TxnOpResponse::Get(g) => g.kvs().first().map(|kv| kv.version()),
                    _ => None,
                })
                .unwrap_or(self.time);
            self.last_seen = seen;
            return;
        }
        self.time += 1;
        self.puts += 1;
        let target = self.last_seen;
        self.last_seen = seen;
        if target == 0 {
            return;
        }
        client
            .compact(target, Some(CompactionOptions::new().with_physical()))
            .await
            .expect("compact");
        self.compactions += 1;
        self.compact_revision = target;
    }
}
