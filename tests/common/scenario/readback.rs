//! What etcd itself says it applied, compared with a [`Ledger`]: a watch
//! over the whole keyspace from before the first write (it sees every
//! change, also those a compaction later removes), a range read at head
//! and the list of leases.
//!
//! The ledger is built from the writers' responses; this is an independent
//! account of the same history from etcd's event stream.

use std::time::Duration;

use etcd_client::{Client, EventType, GetOptions, WatchOptions, WatchResponse};
use tokio::sync::mpsc;

use super::b64::base64_of;
use super::ledger::Ledger;
use super::writer::header_rev;

/// Bound on waiting for the watch to deliver changes already applied.
const WATCH_TIMEOUT: Duration = Duration::from_secs(60);

/// One change of the key space, as a watch event (or a ledger entry) has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub revision: i64,
    /// Position among the changes of its revision.
    pub sub: i64,
    pub key: String,
    pub tombstone: bool,
    /// Empty, and the numbers 0, for a tombstone.
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub version: i64,
    pub lease: i64,
}

/// A watch over every key, read as it arrives (a watcher left unread would
/// fall behind, and a compaction could then cancel it).
pub struct HistoryWatch {
    rx: mpsc::UnboundedReceiver<WatchResponse>,
    task: tokio::task::JoinHandle<()>,
}

impl HistoryWatch {
    /// Watches every key from revision `from` on.
    pub async fn start(client: &Client, from: i64) -> HistoryWatch {
        let mut client = client.clone();
        let opts = WatchOptions::new()
            .with_all_keys()
            .with_start_revision(from);
        let mut stream = client.watch("", Some(opts)).await.expect("watch");
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok(Some(resp)) = stream.message().await {
                if tx.send(resp).is_err() {
                    break;
                }
            }
        });
        HistoryWatch { rx, task }
    }

    /// Every change up to and including revision `head`, in order. The
    /// last write must be a single-key one (etcd sends a revision's changes
    /// in one response, so the first change at `head` is the last one).
    pub async fn until(mut self, head: i64) -> Vec<Change> {
        let mut out: Vec<Change> = Vec::new();
        while out.last().map(|c| c.revision) != Some(head) {
            let resp = tokio::time::timeout(WATCH_TIMEOUT, self.rx.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("the history watch saw no change for {WATCH_TIMEOUT:?} before revision {head}")
                })
                .expect("the history watch ended before the head revision");
            assert!(
                !resp.canceled(),
                "history watch canceled: {}",
                resp.cancel_reason()
            );
            for e in resp.events() {
                let kv = e.kv().expect("watch event without kv");
                let revision = kv.mod_revision();
                let sub = match out.last() {
                    Some(c) if c.revision == revision => c.sub + 1,
                    _ => 0,
                };
                out.push(Change {
                    revision,
                    sub,
                    key: String::from_utf8_lossy(kv.key()).into_owned(),
                    tombstone: e.event_type() == EventType::Delete,
                    value: kv.value().to_vec(),
                    create_revision: kv.create_revision(),
                    version: kv.version(),
                    lease: kv.lease(),
                });
            }
        }
        self.task.abort();
        out
    }
}

/// The ledger's puts and tombstones as changes, in (revision, sub) order.
pub fn ledger_changes(ledger: &Ledger) -> Vec<Change> {
    let mut v: Vec<Change> = ledger
        .puts
        .iter()
        .map(|p| Change {
            revision: p.revision,
            sub: p.sub,
            key: p.key.clone(),
            tombstone: false,
            value: p.value.clone(),
            create_revision: p.create_revision,
            version: p.version,
            lease: p.lease,
        })
        .chain(ledger.deletes.iter().map(|d| Change {
            revision: d.revision,
            sub: d.sub,
            key: d.key.clone(),
            tombstone: true,
            value: Vec::new(),
            create_revision: 0,
            version: 0,
            lease: 0,
        }))
        .collect();
    v.sort_by_key(|c| (c.revision, c.sub));
    v
}

/// The watched history is exactly the ledger's: every put and tombstone,
/// nothing else (a failed proposal changed nothing).
pub fn assert_history_matches(ledger: &Ledger, watched: &[Change]) {
    let want = ledger_changes(ledger);
    let brief = |c: &Change| {
        (
            c.revision,
            c.sub,
            c.key.clone(),
            c.tombstone,
            c.create_revision,
            c.version,
            c.lease,
        )
    };
    for (i, (w, g)) in want.iter().zip(watched).enumerate() {
        assert_eq!(
            brief(w),
            brief(g),
            "change {i}: the ledger (left) and etcd's watch (right) disagree"
        );
        assert!(
            w.value == g.value,
            "change {i} ({}@{}): the ledger's value {} is not the watched {}",
            w.key,
            w.revision,
            base64_of(&w.value),
            base64_of(&g.value)
        );
    }
    assert_eq!(
        want.len(),
        watched.len(),
        "the ledger has {} changes, etcd's watch {}",
        want.len(),
        watched.len()
    );
}

/// At head, etcd holds exactly the ledger's live keys (every field) and
/// the leases it did not revoke.
pub async fn assert_head_matches(client: &Client, ledger: &Ledger) {
    let mut client = client.clone();
    let resp = client
        .get("", Some(GetOptions::new().with_all_keys()))
        .await
        .expect("range at head");
    assert_eq!(
        header_rev(resp.header()),
        ledger.head_revision,
        "etcd's revision is not the ledger's head"
    );
    let got: Vec<(String, i64, i64, i64, i64, Vec<u8>)> = resp
        .kvs()
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(kv.key()).into_owned(),
                kv.mod_revision(),
                kv.create_revision(),
                kv.version(),
                kv.lease(),
                kv.value().to_vec(),
            )
        })
        .collect();
    let mut want: Vec<(String, i64, i64, i64, i64, Vec<u8>)> = ledger
        .live_puts()
        .into_iter()
        .map(|p| {
            (
                p.key.clone(),
                p.revision,
                p.create_revision,
                p.version,
                p.lease,
                p.value.clone(),
            )
        })
        .collect();
    want.sort();
    assert!(
        got == want,
        "the keys at head differ from the ledger's live puts: etcd {:?}, ledger {:?}",
        got.iter().map(|k| (&k.0, k.1)).collect::<Vec<_>>(),
        want.iter().map(|k| (&k.0, k.1)).collect::<Vec<_>>()
    );
    let mut leases: Vec<i64> = client
        .leases()
        .await
        .expect("lease list")
        .leases()
        .iter()
        .map(|l| l.id())
        .collect();
    leases.sort();
    let mut live = ledger.live_leases();
    live.sort();
    assert_eq!(
        leases, live,
        "etcd's leases (left) are not the ledger's live ones"
    );
}
