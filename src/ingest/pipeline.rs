//! The load of one source, in three stages, so that memory stays flat
//! however large the source:
//! 1. the reader (this thread) pushes records into a [`RevisionSink`], which
//!    keeps those under the registry root and hands them on in batches;
//! 2. a decoder thread decodes each batch in parallel (rayon): the
//!    `mvccpb.KeyValue`, then the Kubernetes value ([`super::rows`]);
//! 3. one writer thread owns the SQLite transaction of the source.
//!
//! Bounded channels between the stages keep a few batches in flight, so
//! reading, decoding and writing overlap.

use std::sync::mpsc;

use rayon::prelude::*;

use super::error::IngestError;
use super::history::Fates;
use super::rows::{decode_entry, Decoded, Decoding};
use crate::source::mvcc::{leading_key, Revision};
use crate::source::registry::registry_root;
use crate::source::RecordSink;
use crate::store::{
    Batch, DamageRow, LeaseRow, LoadPlan, LoadSummary, RecoveredFrom, RowFates, SourceFacts,
    SourceFileRow, SourceRecord, Store, UnresolvedWrite, WalConfirmation, WalOrigin, WalReplayRow,
};

/// Entries decoded together; large enough to amortize the thread hand-off,
/// small enough to keep memory flat (a few MB per batch).
const BATCH_SIZE: usize = 1024;

enum WriterMsg {
    Batch(Batch),
    Finish(SourceFacts),
}

/// A record kept for decoding: a revision and its `mvccpb.KeyValue` bytes.
pub(super) struct PendingRecord {
    pub revision: Revision,
    pub key_value: Vec<u8>,
    pub from: RecoveredFrom,
    /// For a record replayed from the WAL.
    pub wal: Option<WalOrigin>,
}

/// What the decoder thread receives: entries to decode, or a message it
/// passes on to the writer in order.
enum DecoderMsg {
    Entries(Vec<PendingRecord>),
    Pass(WriterMsg),
}

/// What loading one source wrote, and what its reader found out.
#[derive(Debug)]
pub struct SourceLoad {
    pub summary: LoadSummary,
    pub facts: SourceFacts,
}

/// How one source is loaded.
#[derive(Clone, Copy)]
pub struct Loading<'a> {
    /// Keys under this prefix are Events; the others under its registry
    /// root are objects.
    pub prefix: &'a str,
    /// A rough estimate of the Event revisions to come (see [`LoadPlan`]).
    pub expected_rows: u64,
    /// What a first pass over the source knows of each key's fate: rows
    /// are then written with their `live` (and `deleted_revision`).
    pub fates: Option<Fates<'a>>,
}

/// Loads one source: runs `produce` (which reads the source and pushes its
/// revisions into the sink) on this thread, decodes on a decoder thread (in
/// parallel), and writes on a writer thread inside one transaction. If
/// `produce` panics or the writer fails, nothing of the source is kept.
pub fn load_source(
    store: &mut Store,
    record: &SourceRecord,
    loading: Loading<'_>,
    progress: &(dyn Fn(u64) + Sync),
    produce: impl FnOnce(&mut RevisionSink<'_>) -> SourceFacts,
) -> Result<SourceLoad, IngestError> {
    try_load_source(store, record, loading, progress, |sink| Ok(produce(sink)))
}

/// Like [`load_source`], for a `produce` that can fail: on `Err` nothing of
/// the source is kept and the error is returned.
pub fn try_load_source(
    store: &mut Store,
    record: &SourceRecord,
    loading: Loading<'_>,
    progress: &(dyn Fn(u64) + Sync),
    produce: impl FnOnce(&mut RevisionSink<'_>) -> Result<SourceFacts, IngestError>,
) -> Result<SourceLoad, IngestError> {
    let (tx, rx) = mpsc::sync_channel::<DecoderMsg>(2);
    let (writer_tx, writer_rx) = mpsc::sync_channel::<WriterMsg>(2);
    let plan = LoadPlan {
        expected_rows: loading.expected_rows,
        fates: match loading.fates {
            None => RowFates::Derived,
            Some(Fates::History(_)) => RowFates::Complete,
            Some(Fates::Head(_)) => RowFates::LiveOnly,
        },
    };
    let decoding = Decoding {
        prefix: loading.prefix.as_bytes(),
        root: registry_root(loading.prefix).as_bytes(),
        fates: loading.fates,
    };
    std::thread::scope(|scope| {
        // Owned by this closure, so that a panic in `produce` drops it while
        // unwinding: the decoder and the writer then see their channels
        // close, the writer rolls back, and both end instead of the scope
        // waiting for them forever.
        let tx = tx;
        let writer = scope.spawn(move || write_source(store, record, plan, writer_rx));
        scope.spawn(move || decode_stage(&decoding, rx, writer_tx));
        let mut sink = RevisionSink {
            root: decoding.root,
            prefix: decoding.prefix,
            pending: Vec::with_capacity(BATCH_SIZE),
            unresolved: Vec::new(),
            confirmations: Vec::new(),
            seen: 0,
            tx: &tx,
            writer_gone: false,
            progress,
        };
        let facts = match produce(&mut sink) {
            Ok(facts) => facts,
            Err(e) => {
                // No `Finish`: the writer rolls the source back.
                drop(sink);
                drop(tx);
                let _ = writer.join();
                return Err(e);
            }
        };
        sink.flush();
        sink.send(DecoderMsg::Pass(WriterMsg::Finish(facts.clone())));
        drop(sink);
        drop(tx);
        let summary = writer.join().map_err(|_| IngestError::WriterGone)??;
        Ok(SourceLoad { summary, facts })
    })
}

/// The writer thread: one transaction for the whole source. If the
/// producer ends without `Finish` (it failed), the transaction is rolled back.
fn write_source(
    store: &mut Store,
    record: &SourceRecord,
    plan: LoadPlan,
    rx: mpsc::Receiver<WriterMsg>,
) -> Result<LoadSummary, IngestError> {
    let mut writer = store.begin_source(record, plan)?;
    for msg in rx {
        match msg {
            WriterMsg::Batch(batch) => writer.write(batch)?,
            WriterMsg::Finish(facts) => return Ok(writer.finish(&facts)?),
        }
    }
    Err(IngestError::WriterGone)
}

/// The decoder thread: decodes each batch of entries in parallel and hands
/// the rows on, in order. Ends when either side goes away.
fn decode_stage(
    decoding: &Decoding<'_>,
    rx: mpsc::Receiver<DecoderMsg>,
    writer: mpsc::SyncSender<WriterMsg>,
) {
    for msg in rx {
        let batches = match msg {
            DecoderMsg::Entries(entries) => decode_batch(decoding, entries),
            DecoderMsg::Pass(msg) => vec![msg],
        };
        for msg in batches {
            if writer.send(msg).is_err() {
                return;
            }
        }
    }
}

/// Decodes a batch of entries (in parallel) into the writer's batches.
fn decode_batch(decoding: &Decoding<'_>, entries: Vec<PendingRecord>) -> Vec<WriterMsg> {
    let decoded: Vec<Decoded> = entries
        .into_par_iter()
        .map(|r| decode_entry(decoding, r.revision, r.key_value, r.from, r.wal))
        .collect();
    let mut events = Vec::with_capacity(decoded.len());
    let mut deletions = Vec::new();
    let mut objects = Vec::new();
    let mut object_deletions = Vec::new();
    let mut damage = Vec::new();
    for d in decoded {
        match d {
            Decoded::Event(e) => events.push(*e),
            Decoded::Deletion(d) => deletions.push(d),
            Decoded::Object(o) => objects.push(*o),
            Decoded::ObjectDeletion(d) => object_deletions.push(d),
            Decoded::Damage(d) => damage.push(d),
            Decoded::NotUnderPrefix => {}
        }
    }
    [
        Batch::Events(events),
        Batch::Deletions(deletions),
        Batch::Objects(objects),
        Batch::ObjectDeletions(object_deletions),
        Batch::Damage(damage),
    ]
    .into_iter()
    .filter(|b| !b.is_empty())
    .map(WriterMsg::Batch)
    .collect()
}

/// Receives a source's revisions (a `key`-bucket key's revision and the
/// `mvccpb.KeyValue` bytes), keeps those under the registry root and hands
/// them on in batches to be decoded and written: keys under the Event
/// prefix as Events, the others as objects (metadata only).
pub struct RevisionSink<'a> {
    root: &'a [u8],
    /// Keys under it are Events.
    prefix: &'a [u8],
    pending: Vec<PendingRecord>,
    /// WAL writes left unresolved, sent with the next batch.
    unresolved: Vec<UnresolvedWrite>,
    /// WAL writes the db holds, sent with the next batch.
    confirmations: Vec<WalConfirmation>,
    seen: u64,
    tx: &'a mpsc::SyncSender<DecoderMsg>,
    writer_gone: bool,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl RevisionSink<'_> {
    /// False only when the record's key is known to be outside the
    /// registry root (a record whose key cannot be seen cheaply is decoded).
    fn under_root(&self, key_value: &[u8]) -> bool {
        !matches!(leading_key(key_value), Some(k) if !k.starts_with(self.root))
    }

    fn keep(
        &mut self,
        rev: Revision,
        key_value: Vec<u8>,
        from: RecoveredFrom,
        wal: Option<WalOrigin>,
    ) {
        self.pending.push(PendingRecord {
            revision: rev,
            key_value,
            from,
            wal,
        });
        if self.pending.len() >= BATCH_SIZE {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.unresolved.is_empty() {
            let writes = std::mem::take(&mut self.unresolved);
            self.send(DecoderMsg::Pass(WriterMsg::Batch(Batch::Unresolved(
                writes,
            ))));
        }
        if !self.confirmations.is_empty() {
            // After the rows they confirm, which went before them.
            let held = std::mem::take(&mut self.confirmations);
            self.send(DecoderMsg::Pass(WriterMsg::Batch(Batch::Confirmations(
                held,
            ))));
        }
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(BATCH_SIZE));
        self.seen += batch.len() as u64;
        self.send(DecoderMsg::Entries(batch));
        (self.progress)(self.seen);
    }

    fn send(&mut self, msg: DecoderMsg) {
        if !self.writer_gone && self.tx.send(msg).is_err() {
            self.writer_gone = true;
        }
    }
}

impl RecordSink for RevisionSink<'_> {
    /// One revision: `key_value` is an encoded `mvccpb.KeyValue`.
    fn push(&mut self, rev: Revision, key_value: &[u8], from: RecoveredFrom) {
        // Cheap look at KeyValue.key (field 1, written first) before
        // copying: most of a snapshot is not Events.
        if self.under_root(key_value) {
            self.keep(rev, key_value.to_vec(), from, None);
        }
    }

    /// [`push`](RecordSink::push) for a record already owned (a live pull's).
    fn push_owned(&mut self, rev: Revision, key_value: Vec<u8>, from: RecoveredFrom) {
        if self.under_root(&key_value) {
            self.keep(rev, key_value, from, None);
        }
    }

    /// A record replayed from the WAL, with its raft entry.
    fn push_replayed(&mut self, rev: Revision, key_value: Vec<u8>, origin: WalOrigin) {
        if self.under_root(&key_value) {
            self.keep(rev, key_value, RecoveredFrom::Wal, Some(origin));
        }
    }

    /// The WAL's records follow: the writer notes where they begin.
    fn wal_begins(&mut self) {
        self.flush();
        self.send(DecoderMsg::Pass(WriterMsg::Batch(Batch::WalBegins)));
    }

    /// A WAL record the db holds: only its raft entry goes on, undecoded.
    fn confirm_replayed(&mut self, rev: Revision, key: Vec<u8>, origin: WalOrigin) {
        let event = key.starts_with(self.prefix);
        // Another object's put keeps no raft entry: nothing to send.
        if !key.starts_with(self.root) || (!event && !rev.tombstone) {
            return;
        }
        self.confirmations.push(WalConfirmation {
            event,
            key: String::from_utf8_lossy(&key).into_owned(),
            revision: rev.main,
            sub_revision: rev.sub,
            tombstone: rev.tombstone,
            origin,
        });
        if self.confirmations.len() >= BATCH_SIZE {
            self.flush();
        }
    }

    /// A WAL write whose outcome or revision is unknown (kept when under
    /// the registry root).
    fn unresolved(&mut self, write: UnresolvedWrite) {
        if write.key.as_bytes().starts_with(self.root) {
            self.unresolved.push(write);
            if self.unresolved.len() >= BATCH_SIZE {
                self.flush();
            }
        }
    }

    /// The files a data directory's load read.
    fn source_files(&mut self, rows: Vec<SourceFileRow>) {
        if !rows.is_empty() {
            self.send(DecoderMsg::Pass(WriterMsg::Batch(Batch::SourceFiles(rows))));
        }
    }

    /// What the WAL replay gave.
    fn wal_replay(&mut self, row: WalReplayRow) {
        self.flush();
        self.send(DecoderMsg::Pass(WriterMsg::Batch(Batch::WalReplay(
            Box::new(row),
        ))));
    }

    /// A record that could not be read.
    fn damage(&mut self, row: DamageRow) {
        self.send(DecoderMsg::Pass(WriterMsg::Batch(Batch::Damage(vec![row]))));
    }

    /// Leases of the source.
    fn leases(&mut self, rows: Vec<LeaseRow>) {
        if !rows.is_empty() {
            self.send(DecoderMsg::Pass(WriterMsg::Batch(Batch::Leases(rows))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::history::KeyHistories;
    use crate::source::mvcc;
    use crate::source::registry::DEFAULT_PREFIX;

    /// A panic while reading a source comes through to the caller instead of
    /// leaving the writer thread waiting on its channel; the half-loaded
    /// source is rolled back.
    #[test]
    fn a_panicking_producer_rolls_back_instead_of_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let db_path = path.clone();
        let worker = std::thread::spawn(move || {
            let mut store = Store::open(&db_path).unwrap();
            let record = |sha: &str| SourceRecord {
                kind: "etcd-snapshot".into(),
                sha256: sha.into(),
                trailer: "absent".into(),
                prefix: DEFAULT_PREFIX.into(),
                ..SourceRecord::default()
            };
            // A first source, so that the database exists.
            load_source(&mut store, &record("aa"), no_history(), &|_| {}, |_| {
                SourceFacts::default()
            })
            .unwrap();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                load_source(&mut store, &record("ab"), no_history(), &|_| {}, |_sink| {
                    panic!("reader bug")
                })
            }));
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            result.is_err()
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(
                std::time::Instant::now() < deadline,
                "load_source hung after a panic"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(worker.join().unwrap(), "the panic is propagated");
        let store = Store::open_read_only(&path).unwrap();
        let sources: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM sources", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sources, 1, "the half-loaded source was rolled back");
    }

    /// Rows written with the fates of a first pass (a new database) are the
    /// rows the SQL derivation gives (any other database), for puts,
    /// tombstones, re-created keys, objects, and free-page copies older,
    /// newer and equal to the tree's.
    #[test]
    fn fates_from_the_first_pass_equal_the_sql_derivation() {
        use prost::Message;
        use RecoveredFrom::{FreePage, Tree};
        let ev = |name: &str| format!("/registry/events/ns/{name}");
        let records: Vec<(String, i64, i64, bool, RecoveredFrom)> = vec![
            (ev("a"), 2, 0, false, Tree),
            (ev("b"), 3, 0, false, Tree),
            (ev("a"), 4, 0, false, Tree),
            (ev("b"), 5, 0, true, Tree),
            (ev("b"), 6, 0, false, Tree),
            ("/registry/pods/ns/p".into(), 6, 1, false, Tree),
            ("/registry/pods/ns/p".into(), 7, 0, true, Tree),
            ("/registry/pods/ns/q".into(), 7, 1, false, Tree),
            (ev("c"), 8, 0, false, Tree),
            (ev("b"), 9, 0, true, Tree),
            (ev("e"), 10, 0, false, Tree),
            (ev("c"), 8, 0, false, FreePage),
            (ev("a"), 1, 0, false, FreePage),
            (ev("d"), 1, 1, false, FreePage),
            (ev("d"), 1, 5, true, FreePage),
            (ev("e"), 11, 0, false, FreePage),
        ];
        let encode = |(key, main, sub, tombstone, _): &(String, i64, i64, bool, RecoveredFrom)| {
            let kv = crate::proto::etcd::KeyValue {
                key: key.clone().into_bytes(),
                create_revision: if *tombstone { 0 } else { *main },
                mod_revision: if *tombstone { 0 } else { *main },
                version: 1,
                value: if *tombstone {
                    Vec::new()
                } else {
                    format!("v{main}").into_bytes()
                },
                lease: 0,
            };
            (
                Revision {
                    main: *main,
                    sub: *sub,
                    tombstone: *tombstone,
                },
                kv.encode_to_vec(),
            )
        };
        let mut histories = KeyHistories::new(100, 10);
        for r in &records {
            let (rev, bytes) = encode(r);
            let kv = mvcc::decode_key_value(&rev, &bytes).unwrap();
            assert!(histories.record(&kv.key, rev, r.4));
        }
        let dir = tempfile::tempdir().unwrap();
        let load = |name: &str, histories: Option<&KeyHistories>| {
            let path = dir.path().join(name);
            let mut store = Store::open(&path).unwrap();
            let record = SourceRecord {
                kind: "etcd-snapshot".into(),
                sha256: "ab".into(),
                trailer: "absent".into(),
                prefix: DEFAULT_PREFIX.into(),
                ..SourceRecord::default()
            };
            let loading = Loading {
                fates: histories.map(Fates::History),
                ..no_history()
            };
            let SourceLoad { summary, .. } =
                load_source(&mut store, &record, loading, &|_| {}, |sink| {
                    for r in &records {
                        let (rev, bytes) = encode(r);
                        sink.push(rev, &bytes, r.4);
                    }
                    SourceFacts {
                        head_revision: Some(11),
                        ..SourceFacts::default()
                    }
                })
                .unwrap();
            let conn = store.connection();
            let mut tables = Vec::new();
            for sql in [
                "SELECT key, mod_revision, sub_revision, live, deleted_revision, recovered_from FROM events ORDER BY id",
                "SELECT key, mod_revision, sub_revision, live, deleted_revision, recovered_from FROM objects ORDER BY id",
                "SELECT key, revision, sub_revision, tombstone, live, recovered_from FROM source_revisions ORDER BY revision, sub_revision, key",
                "SELECT key, revision, sub_revision, tombstone, live, recovered_from FROM object_source_revisions ORDER BY revision, sub_revision, key",
            ] {
                let mut st = conn.prepare(sql).unwrap();
                let rows: Vec<String> = st
                    .query_map([], |r| {
                        Ok((0..6)
                            .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                            .collect::<Vec<_>>()
                            .join(" "))
                    })
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                tables.push(rows);
            }
            (summary, tables)
        };
        let (from_memory, memory_rows) = load("memory.sqlite", Some(&histories));
        let (from_sql, sql_rows) = load("sql.sqlite", None);
        assert_eq!(memory_rows, sql_rows);
        assert_eq!(from_memory, from_sql);
        // The cases are there: a live row, an ended generation, nothing
        // live for a key whose newest copy is in a free page.
        let events = &memory_rows[0];
        assert_eq!(events.len(), 9, "{events:#?}");
        assert_eq!(from_memory.live_event_revisions, 2, "a@4 and c@8");
    }

    fn no_history() -> Loading<'static> {
        Loading {
            prefix: DEFAULT_PREFIX,
            expected_rows: 0,
            fates: None,
        }
    }
}
