//! Snapshot ingest: one etcd file → every stored Event revision → SQLite.
//!
//! Three stages, so that memory stays flat however large the snapshot:
//! 1. the bbolt walk over the `key` bucket (this thread), which keeps only
//!    entries under the registry root and hands them on in batches;
//! 2. a decoder thread that decodes each batch in parallel (rayon):
//!    `mvccpb.KeyValue`, then the Kubernetes value, then its JSON;
//! 3. one writer thread that owns the SQLite transaction of the source and
//!    inserts with prepared statements.
//!
//! Bounded channels between the stages keep a few batches in flight, so the
//! walk, the decoding and the writing overlap. Before the walk, a first pass
//! over the same revisions gathers each key's history ([`history`]) when the
//! database holds no etcd rows yet: rows are then written once, with `live`
//! and `deleted_revision` known.

pub mod history;

use std::path::Path;
use std::sync::mpsc;

use rayon::prelude::*;

use crate::decode::{decode_event, decode_object_meta, MetaError};
use crate::source::bolt::{BoltDb, BoltError, Bucket, ReadAt};
use crate::source::free_pages::{for_each_free_key_entry, FreePageScan};
use crate::source::input::{self, InputError, InputKind, PreparedInput, Trailer};
use crate::source::live::{LiveOptions, PullFacts};
use crate::source::mvcc::{self, leading_key, MvccMeta, Revision};
use crate::store::{
    Batch, DamageRow, DeletionRow, EventRow, Fate, LeaseRow, LoadPlan, LoadSummary, ObjectRow,
    RecoveredFrom, RowFates, SourceFacts, SourceRecord, Store, StoreError,
};
use history::{Fates, HeadKeys, KeyHistories};

/// The default etcd prefix of Kubernetes Events.
pub const DEFAULT_PREFIX: &str = "/registry/events/";

/// Entries decoded together; large enough to amortize the thread hand-off,
/// small enough to keep memory flat (a few MB per batch).
const BATCH_SIZE: usize = 1024;

/// Errors that stop one source from loading. Damaged records are not
/// errors: they are counted and stored in `damaged_records`.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{path}: {source}")]
    Bolt {
        path: String,
        #[source]
        source: BoltError,
    },
    #[error("{path}: the bbolt file has no etcd `key` bucket (buckets present: {buckets}); is this an etcd v3 data file?")]
    NoKeyBucket { path: String, buckets: String },
    #[error("writing the database: {0}")]
    Store(#[from] StoreError),
    #[error("the database writer stopped unexpectedly")]
    WriterGone,
    #[error("{path}: JSON, but not a Kubernetes audit log: it holds {what} ({count} records) and no audit events")]
    NotAuditLog {
        path: String,
        what: String,
        count: u64,
    },
    #[error(transparent)]
    Live(#[from] crate::source::live::LiveError),
}

/// What the caller wants loaded.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Only keys under this prefix are Event keys.
    pub prefix: String,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            prefix: DEFAULT_PREFIX.to_string(),
        }
    }
}

/// What happened to one source.
#[derive(Debug)]
pub enum SourceOutcome {
    Loaded(Box<LoadedSource>),
    /// A file with the same SHA-256 was loaded before (same prefix).
    AlreadyLoaded {
        source_id: i64,
        sha256: String,
    },
}

/// The closing summary of a loaded source.
#[derive(Debug)]
pub struct LoadedSource {
    pub summary: LoadSummary,
    pub sha256: String,
    pub trailer: Trailer,
    pub kind: &'static str,
    pub compression: Option<&'static str>,
    pub head_revision: Option<i64>,
    pub compact_revision: Option<i64>,
    /// Set when one meta page was damaged and the other used.
    pub meta_note: Option<String>,
    /// The first few damaged records, for the summary.
    pub damage_examples: Vec<String>,
    /// What the scan of free pages found.
    pub free_scan: FreePageScan,
    /// For a live pull: what it found out about the cluster.
    pub live: Option<PullFacts>,
}

/// Opens the bbolt content of a prepared input.
pub fn open_bolt(input: &PreparedInput) -> Result<BoltDb<&std::fs::File>, IngestError> {
    // Capped at the bbolt content: a snapshot's hash trailer is not pages.
    BoltDb::open_with_len(&input.bolt_file, input.bolt_len).map_err(|source| IngestError::Bolt {
        path: input.evidence_file.display().to_string(),
        source,
    })
}

/// Describes a damaged meta page, if one was.
pub fn meta_note<R: ReadAt>(db: &BoltDb<R>) -> Option<String> {
    let reports = db.meta_reports();
    let used = db.meta().page_id;
    let damaged: Vec<String> = reports
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.problem().map(|e| format!("meta page {i} damaged: {e}")))
        .collect();
    if damaged.is_empty() {
        None
    } else {
        Some(format!(
            "{}; using meta page {used} (txid {})",
            damaged.join("; "),
            db.meta().txid
        ))
    }
}

/// Loads one etcd file or data directory.
pub fn ingest_source(
    store: &mut Store,
    path: &Path,
    options: &IngestOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SourceOutcome, IngestError> {
    // While the input is hashed: the first pass over its revisions, when
    // the database holds no etcd rows yet (see `history`).
    let gather = !store.holds_etcd_rows()?;
    let root = registry_root(&options.prefix).as_bytes();
    let (input, histories) = input::prepare_with(path, |file, bolt_len| {
        if !gather {
            return None;
        }
        let db = BoltDb::open_with_len(file, bolt_len).ok()?;
        let key_bucket = db.bucket(b"key").ok().flatten();
        gather_histories(&db, key_bucket.as_ref(), root)
    })?;
    if let Some(source_id) = store.source_by_content(&input.sha256, &options.prefix)? {
        return Ok(SourceOutcome::AlreadyLoaded {
            source_id,
            sha256: input.sha256,
        });
    }
    let db = open_bolt(&input)?;
    let evidence = input.evidence_file.display().to_string();
    // A `key` bucket that cannot be reached because the tree is damaged is
    // not fatal: its leaves are then found by the scan of unreachable pages.
    let (key_bucket, key_bucket_damage) = match db.bucket(b"key") {
        Ok(Some(b)) => (Some(b), None),
        Ok(None) => {
            let names = db
                .root_bucket_names()
                .map(|names| {
                    names
                        .iter()
                        .map(|n| String::from_utf8_lossy(n).into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_else(|e| format!("unreadable: {e}"));
            return Err(IngestError::NoKeyBucket {
                path: evidence,
                buckets: if names.is_empty() {
                    "none".into()
                } else {
                    names
                },
            });
        }
        Err(e) => (None, Some(e)),
    };

    let meta_note = meta_note(&db);
    let record = SourceRecord {
        kind: input.kind.as_str().to_string(),
        location: crate::helpers::absolute(&input.given),
        sha256: input.sha256.clone(),
        size_bytes: input.size_bytes,
        compression: input.compression.map(|c| c.as_str().to_string()),
        content_sha256: input.content_sha256.clone(),
        trailer: input.trailer.as_str().to_string(),
        trailer_sha256: input.trailer.stored().map(str::to_string),
        prefix: options.prefix.clone(),
        bolt_page_size: Some(i64::from(db.page_size())),
        bolt_txid: i64::try_from(db.meta().txid).ok(),
        bolt_meta_page: Some(db.meta().page_id as i64),
        bolt_meta_note: meta_note.clone(),
    };

    // A rough guess (etcd values of Events are about 1 KB with their keys)
    // that lets the writer choose how to maintain its indexes.
    let expected_rows = input.bolt_len / 1024;
    let mut free_scan = FreePageScan::default();
    let (summary, facts) = load_source(
        store,
        &record,
        Loading {
            prefix: &options.prefix,
            expected_rows,
            fates: histories.as_ref().map(Fates::History),
        },
        progress,
        |sink| {
            let (facts, scan) = read_snapshot(&db, key_bucket.as_ref(), key_bucket_damage, sink);
            free_scan = scan;
            if input.kind == InputKind::DataDir && input.compression.is_none() {
                check_unchanged(&input, sink);
            }
            facts
        },
    )?;
    let damage_examples = if summary.damaged_records > 0 {
        store.damage_examples(summary.source_id, 5)?
    } else {
        Vec::new()
    };

    Ok(SourceOutcome::Loaded(Box::new(LoadedSource {
        summary,
        sha256: input.sha256.clone(),
        trailer: input.trailer.clone(),
        kind: input.kind.as_str(),
        compression: input.compression.map(|c| c.as_str()),
        head_revision: facts.head_revision,
        compact_revision: facts.compact_revision,
        meta_note,
        damage_examples,
        free_scan,
        live: None,
    })))
}

/// Pulls every Event revision from a running etcd through its API and
/// loads it as one source of kind `etcd-live` (see [`crate::source::live`]).
pub fn ingest_live(
    store: &mut Store,
    live: &LiveOptions,
    options: &IngestOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SourceOutcome, IngestError> {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let record = SourceRecord {
        kind: "etcd-live".to_string(),
        location: live.location(),
        // Replaced by the hash of what was pulled when the load finishes.
        sha256: format!("pull-in-progress-{}-{started}", std::process::id()),
        size_bytes: 0,
        trailer: Trailer::Absent.as_str().to_string(),
        prefix: options.prefix.clone(),
        ..SourceRecord::default()
    };
    // Connects once before the load (so that a wrong endpoint or
    // certificate fails before anything is written), pins the head
    // revision the pull reads up to, and reads the keys there: the size of
    // the load (a lower bound of the revisions to come) and, while the
    // database holds no etcd rows, which revisions are live.
    let gather = !store.holds_etcd_rows()?;
    let mut head_keys = HeadKeys::new(history::KEY_LIMIT);
    let (mut keys, mut complete) = (0u64, gather);
    let mut sample = crate::source::live::KeySample::default();
    let head = crate::source::live::head_keys(live, &options.prefix, |key, mod_revision| {
        keys += 1;
        sample.add(key, mod_revision);
        complete = complete && head_keys.insert(key, mod_revision);
    })?;
    let read_ahead_dir = store.directory().to_path_buf();
    let mut pulled = None;
    let loaded = try_load_source(
        store,
        &record,
        Loading {
            prefix: &options.prefix,
            expected_rows: keys,
            fates: complete.then_some(Fates::Head(&head_keys)),
        },
        progress,
        |sink| {
            let (tx, rx) = mpsc::sync_channel::<crate::source::live::Page>(4);
            let facts = std::thread::scope(|scope| {
                let reader = scope.spawn(|| {
                    crate::source::live::pull(
                        live,
                        &options.prefix,
                        head,
                        &sample,
                        read_ahead_dir,
                        tx,
                    )
                });
                for page in rx {
                    for (rev, kv) in page {
                        sink.push_owned(rev, kv, RecoveredFrom::Live);
                    }
                }
                reader
                    .join()
                    .map_err(|_| crate::source::live::LiveError::ReaderGone)
            })??;
            for note in facts.lost.iter().chain(&facts.mismatches) {
                sink.damage(DamageRow {
                    reason: note.clone(),
                    ..DamageRow::default()
                });
            }
            let source_facts = SourceFacts {
                head_revision: Some(facts.head_revision),
                compact_revision: (facts.compact_revision > 0).then_some(facts.compact_revision),
                sha256: Some(facts.sha256.clone()),
                size_bytes: Some(facts.stream_bytes),
                ..SourceFacts::default()
            };
            pulled = Some(facts);
            crate::source::live::trace("pull done; finishing the load");
            Ok(source_facts)
        },
    );
    let (summary, facts) = match loaded {
        Ok(l) => l,
        Err(IngestError::Store(StoreError::SameContent { source_id, sha256 })) => {
            return Ok(SourceOutcome::AlreadyLoaded { source_id, sha256 })
        }
        Err(e) => return Err(e),
    };
    let pulled = pulled.ok_or(IngestError::WriterGone)?;
    let damage_examples = pulled
        .lost
        .iter()
        .chain(&pulled.mismatches)
        .take(5)
        .cloned()
        .collect();
    Ok(SourceOutcome::Loaded(Box::new(LoadedSource {
        summary,
        sha256: pulled.sha256.clone(),
        trailer: Trailer::Absent,
        kind: "etcd-live",
        compression: None,
        head_revision: facts.head_revision,
        compact_revision: facts.compact_revision,
        meta_note: None,
        damage_examples,
        free_scan: FreePageScan::default(),
        live: Some(pulled),
    })))
}

/// A data directory may belong to a running etcd (it is read without a
/// lock): if `member/snap/db` changed while it was read, the hash recorded
/// is not of what was read, and pages may mix two moments. Say so.
fn check_unchanged(input: &PreparedInput, sink: &mut RevisionSink<'_>) {
    let reason = match input::sha256_file(&input.evidence_file) {
        Ok(after) if after == input.sha256 => return,
        Ok(after) => format!(
            "{} changed while it was read (a running etcd?): sha256 {} before, {after} after; the rows are what was read and may mix two moments — for evidence, copy the file or save a snapshot first",
            input.evidence_file.display(),
            input.sha256
        ),
        Err(e) => format!("re-reading to check it did not change: {e}"),
    };
    sink.damage(DamageRow {
        reason,
        ..DamageRow::default()
    });
}

/// Reads one bbolt file into the sink: damaged meta pages, the `meta` and
/// `lease` buckets, the `key` bucket's tree, then the `key`-bucket leaves
/// among the pages the tree does not reach.
fn read_snapshot<R: ReadAt>(
    db: &BoltDb<R>,
    key_bucket: Option<&Bucket>,
    key_bucket_damage: Option<BoltError>,
    sink: &mut RevisionSink<'_>,
) -> (SourceFacts, FreePageScan) {
    for (page, report) in db.meta_reports().iter().enumerate() {
        if let Some(problem) = report.problem() {
            sink.damage(DamageRow {
                page: Some(page as i64),
                offset: report.offset.and_then(|o| i64::try_from(o).ok()),
                reason: format!("meta page {page}: {problem}"),
                ..DamageRow::default()
            });
        }
    }
    let mut mvcc_meta = MvccMeta::default();
    read_small_buckets(db, &mut mvcc_meta, sink);
    for p in &mvcc_meta.problems {
        sink.damage(DamageRow {
            reason: p.clone(),
            ..DamageRow::default()
        });
    }

    if let Some(e) = key_bucket_damage {
        sink.damage(DamageRow {
            reason: format!(
                "the key bucket cannot be reached through the tree ({e}); its pages are searched among the unreachable ones"
            ),
            ..DamageRow::default()
        });
    }
    let mut head_revision = None;
    let scan = for_each_key_record(db, key_bucket, |record| match record {
        KeyRecord::Revision(rev, v, from) => {
            if from == RecoveredFrom::Tree {
                head_revision = head_revision.max(Some(rev.main));
            }
            sink.push(rev, v, from);
        }
        KeyRecord::Damage(row) => sink.damage(row),
    });
    let facts = SourceFacts {
        head_revision: head_revision.max(mvcc_meta.finished_compact_revision),
        compact_revision: mvcc_meta.finished_compact_revision,
        scheduled_compact_revision: mvcc_meta.scheduled_compact_revision,
        consistent_index: mvcc_meta
            .consistent_index
            .and_then(|c| i64::try_from(c).ok()),
        ..SourceFacts::default()
    };
    (facts, scan)
}

/// One entry of the `key` bucket, or what made one unreadable.
enum KeyRecord<'v> {
    Revision(Revision, &'v [u8], RecoveredFrom),
    Damage(DamageRow),
}

/// Every `key`-bucket entry of a bbolt file, in the order a load reads
/// them: the tree's, then those of `key`-bucket leaves among the pages the
/// tree does not reach (after the tree, so that a revision the tree holds
/// keeps `recovered_from = 'tree'`).
fn for_each_key_record<R: ReadAt>(
    db: &BoltDb<R>,
    key_bucket: Option<&Bucket>,
    mut visit: impl FnMut(KeyRecord<'_>),
) -> FreePageScan {
    if let Some(key_bucket) = key_bucket {
        let report = db.for_each(key_bucket, |k, v| match Revision::parse(k) {
            Ok(rev) => visit(KeyRecord::Revision(rev, v, RecoveredFrom::Tree)),
            Err(e) => visit(KeyRecord::Damage(DamageRow {
                reason: format!("key bucket entry {}: {e}", crate::helpers::hex(k)),
                ..DamageRow::default()
            })),
        });
        for d in &report.damage {
            visit(KeyRecord::Damage(DamageRow {
                page: i64::try_from(d.page).ok(),
                offset: i64::try_from(d.offset).ok(),
                reason: d.reason.to_string(),
                ..DamageRow::default()
            }));
        }
    }
    for_each_free_key_entry(db, |_, rev, v| {
        visit(KeyRecord::Revision(rev, v, RecoveredFrom::FreePage))
    })
}

/// The first pass: the history of every key under the registry root, read
/// exactly as the load will read the revisions (damage is left for the load
/// to report). `None` when the source has more keys than
/// [`history::KEY_LIMIT`].
fn gather_histories<R: ReadAt>(
    db: &BoltDb<R>,
    key_bucket: Option<&Bucket>,
    root: &[u8],
) -> Option<KeyHistories> {
    // A guess from the file's size (an Event revision is about 1 KB).
    let expected_keys = usize::try_from(db.file_len() / 1024).unwrap_or(usize::MAX);
    let mut histories = KeyHistories::new(history::KEY_LIMIT, expected_keys);
    let mut complete = true;
    for_each_key_record(db, key_bucket, |record| {
        let KeyRecord::Revision(rev, value, from) = record else {
            return;
        };
        if !complete || leading_key(value).is_some_and(|k| !k.starts_with(root)) {
            return;
        }
        // The load skips what does not decode; so does the history.
        if let Ok(kv) = mvcc::decode_key_value(&rev, value) {
            if kv.key.starts_with(root) {
                complete &= histories.record(&kv.key, rev, from);
            }
        }
    });
    complete.then_some(histories)
}

enum WriterMsg {
    Batch(Batch),
    Finish(SourceFacts),
}

/// What the decoder thread receives: entries to decode, or a message it
/// passes on to the writer in order.
enum DecoderMsg {
    Entries(Vec<(Revision, Vec<u8>, RecoveredFrom)>),
    Pass(WriterMsg),
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
) -> Result<(LoadSummary, SourceFacts), IngestError> {
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
) -> Result<(LoadSummary, SourceFacts), IngestError> {
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
            pending: Vec::with_capacity(BATCH_SIZE),
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
        Ok((summary, facts))
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

/// What the decoder thread needs to know.
#[derive(Clone, Copy)]
struct Decoding<'a> {
    prefix: &'a [u8],
    root: &'a [u8],
    fates: Option<Fates<'a>>,
}

impl Decoding<'_> {
    /// A put's fate, when a first pass knows it (see [`LoadPlan`]).
    fn fate(&self, kv: &crate::proto::etcd::KeyValue, rev: Revision, from: RecoveredFrom) -> Fate {
        self.fates.map_or_else(Fate::default, |f| {
            f.fate(&kv.key, (kv.mod_revision, rev.sub), from)
        })
    }
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
fn decode_batch(
    decoding: &Decoding<'_>,
    entries: Vec<(Revision, Vec<u8>, RecoveredFrom)>,
) -> Vec<WriterMsg> {
    let decoded: Vec<Decoded> = entries
        .into_par_iter()
        .map(|(rev, value, from)| decode_entry(decoding, rev, value, from))
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

/// The `meta` and `lease` buckets: small, read before the big walk.
fn read_small_buckets<R: ReadAt>(db: &BoltDb<R>, meta: &mut MvccMeta, sink: &mut RevisionSink<'_>) {
    let note_damage = |sink: &mut RevisionSink<'_>, bucket: &str, e: String| {
        sink.damage(DamageRow {
            reason: format!("bucket {bucket}: {e}"),
            ..DamageRow::default()
        })
    };
    match db.bucket(b"meta") {
        Ok(Some(b)) => {
            let report = db.for_each(&b, |k, v| meta.add_entry(k, v));
            for d in &report.damage {
                note_damage(sink, "meta", d.to_string());
            }
        }
        Ok(None) => note_damage(sink, "meta", "missing".into()),
        Err(e) => note_damage(sink, "meta", e.to_string()),
    }
    match db.bucket(b"lease") {
        Ok(Some(b)) => {
            let mut leases = Vec::new();
            let mut bad = Vec::new();
            let report = db.for_each(&b, |k, v| match mvcc::decode_lease(k, v) {
                Ok(l) => leases.push(LeaseRow {
                    lease: l.id,
                    ttl_seconds: Some(l.ttl),
                    remaining_ttl_seconds: Some(l.remaining_ttl),
                }),
                Err(e) => bad.push(e),
            });
            for e in bad {
                note_damage(sink, "lease", e);
            }
            for d in &report.damage {
                note_damage(sink, "lease", d.to_string());
            }
            sink.leases(leases);
        }
        // Without leases the bucket may be absent: no damage.
        Ok(None) => {}
        Err(e) => note_damage(sink, "lease", e.to_string()),
    }
}

/// The registry root of an Event prefix: its first path segment
/// (`/registry/events/` → `/registry/`, `/kubernetes.io/events/` →
/// `/kubernetes.io/`). Every key under it is a Kubernetes object.
pub fn registry_root(prefix: &str) -> &str {
    match prefix.strip_prefix('/').and_then(|rest| rest.find('/')) {
        Some(i) => &prefix[..i + 2],
        None => prefix,
    }
}

/// The resource a registry key names: `/registry/pods/shop/web` → `pods`,
/// `/registry/deployments/shop/web` → `deployments`, a custom resource
/// `/registry/example.com/widgets/shop/w` → `widgets`. A few built-in
/// resources are stored under other names (`services/specs`, `minions`,
/// `controllers`).
pub fn key_resource(key: &str, root: &str) -> Option<String> {
    let rest = key.strip_prefix(root)?;
    let mut parts = rest.split('/');
    let first = parts.next().filter(|p| !p.is_empty())?;
    let resource = match first {
        "services" => match parts.next() {
            Some("endpoints") => "endpoints",
            _ => "services",
        },
        "minions" => "nodes",
        "controllers" => "replicationcontrollers",
        "serviceips" | "servicenodeports" => "rangeallocations",
        group if group.contains('.') => parts.next().filter(|p| !p.is_empty())?,
        other => other,
    };
    Some(resource.to_string())
}

/// Receives a source's revisions (a `key`-bucket key's revision and the
/// `mvccpb.KeyValue` bytes), keeps those under the registry root and hands
/// them on in batches to be decoded and written: keys under the Event
/// prefix as Events, the others as objects (metadata only).
pub struct RevisionSink<'a> {
    root: &'a [u8],
    pending: Vec<(Revision, Vec<u8>, RecoveredFrom)>,
    seen: u64,
    tx: &'a mpsc::SyncSender<DecoderMsg>,
    writer_gone: bool,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl RevisionSink<'_> {
    /// One revision: `key_value` is an encoded `mvccpb.KeyValue`.
    pub fn push(&mut self, rev: Revision, key_value: &[u8], from: RecoveredFrom) {
        // Cheap look at KeyValue.key (field 1, written first) before
        // copying: most of a snapshot is not Events.
        if self.under_root(key_value) {
            self.keep(rev, key_value.to_vec(), from);
        }
    }

    /// [`push`](Self::push) for a record already owned (a live pull's).
    pub fn push_owned(&mut self, rev: Revision, key_value: Vec<u8>, from: RecoveredFrom) {
        if self.under_root(&key_value) {
            self.keep(rev, key_value, from);
        }
    }

    /// False only when the record's key is known to be outside the
    /// registry root (a record whose key cannot be seen cheaply is decoded).
    fn under_root(&self, key_value: &[u8]) -> bool {
        !matches!(leading_key(key_value), Some(k) if !k.starts_with(self.root))
    }

    fn keep(&mut self, rev: Revision, key_value: Vec<u8>, from: RecoveredFrom) {
        self.pending.push((rev, key_value, from));
        if self.pending.len() >= BATCH_SIZE {
            self.flush();
        }
    }

    /// A record that could not be read.
    pub fn damage(&mut self, row: DamageRow) {
        self.send(DecoderMsg::Pass(WriterMsg::Batch(Batch::Damage(vec![row]))));
    }

    /// Leases of the source.
    pub fn leases(&mut self, rows: Vec<LeaseRow>) {
        if !rows.is_empty() {
            self.send(DecoderMsg::Pass(WriterMsg::Batch(Batch::Leases(rows))));
        }
    }

    fn flush(&mut self) {
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

enum Decoded {
    Event(Box<EventRow>),
    Deletion(DeletionRow),
    Object(Box<ObjectRow>),
    ObjectDeletion(DeletionRow),
    Damage(DamageRow),
    NotUnderPrefix,
}

/// Decodes one `key`-bucket entry under the registry root (runs on rayon
/// threads).
fn decode_entry(
    decoding: &Decoding<'_>,
    rev: Revision,
    value: Vec<u8>,
    from: RecoveredFrom,
) -> Decoded {
    let Decoding { prefix, root, .. } = *decoding;
    let damage = |key: Option<String>, reason: String| {
        Decoded::Damage(DamageRow {
            revision: Some(rev.main),
            sub_revision: Some(rev.sub),
            key,
            reason,
            ..DamageRow::default()
        })
    };
    let kv = match mvcc::decode_key_value(&rev, &value) {
        Ok(kv) => kv,
        Err(e) => return damage(None, e.to_string()),
    };
    if !kv.key.starts_with(prefix) {
        if !kv.key.starts_with(root) {
            return Decoded::NotUnderPrefix;
        }
        return decode_object(decoding, rev, kv, from);
    }
    let key = String::from_utf8_lossy(&kv.key).into_owned();
    if rev.tombstone {
        return Decoded::Deletion(DeletionRow {
            key,
            revision: rev.main,
            sub_revision: rev.sub,
            recovered_from: from,
        });
    }
    let mut decoded = decode_event(&kv.value, Some(kv.mod_revision));
    // The JSON text, already written by the decoder on this decode thread,
    // moves into the row's `object_json`.
    let object_json = decoded.object.take();
    let fate = decoding.fate(&kv, rev, from);
    let occurred_at = decoded.fields.occurred_at();
    Decoded::Event(Box::new(EventRow {
        key,
        mod_revision: kv.mod_revision,
        sub_revision: rev.sub,
        create_revision: kv.create_revision,
        version: kv.version,
        lease: kv.lease,
        recovered_from: from,
        decoded,
        object_json,
        raw: kv.value,
        fate,
        occurred_at,
    }))
}

/// An object that is not an Event: its metadata only (a Secret's data is
/// never kept).
fn decode_object(
    decoding: &Decoding<'_>,
    rev: Revision,
    kv: crate::proto::etcd::KeyValue,
    from: RecoveredFrom,
) -> Decoded {
    let key = String::from_utf8_lossy(&kv.key).into_owned();
    if rev.tombstone {
        return Decoded::ObjectDeletion(DeletionRow {
            key,
            revision: rev.main,
            sub_revision: rev.sub,
            recovered_from: from,
        });
    }
    let root = String::from_utf8_lossy(decoding.root);
    let mut row = ObjectRow {
        resource: key_resource(&key, &root),
        key,
        mod_revision: kv.mod_revision,
        sub_revision: rev.sub,
        create_revision: kv.create_revision,
        version: kv.version,
        lease: kv.lease,
        recovered_from: from,
        fate: decoding.fate(&kv, rev, from),
        ..ObjectRow::default()
    };
    match decode_object_meta(&kv.value) {
        Ok(m) => {
            row.encoding = m.encoding.as_str();
            row.api_version = m.api_version;
            row.kind = m.kind;
            row.namespace = m.namespace;
            row.name = m.name;
            row.uid = m.uid;
            row.creation_timestamp = m.creation_timestamp;
            row.deletion_timestamp = m.deletion_timestamp;
            if !m.labels.is_empty() {
                row.labels = serde_json::to_string(&m.labels).ok();
            }
            if !m.owner_references.is_empty() {
                let owners: Vec<serde_json::Value> = m
                    .owner_references
                    .iter()
                    .map(|o| {
                        serde_json::json!({
                            "apiVersion": o.api_version,
                            "kind": o.kind,
                            "name": o.name,
                            "uid": o.uid,
                            "controller": o.controller,
                        })
                    })
                    .collect();
                row.owner_references = serde_json::to_string(&owners).ok();
            }
        }
        Err(MetaError::Encrypted(provider)) => {
            row.encoding = "encrypted";
            row.decode_note = Some(provider);
        }
        Err(e) => {
            row.encoding = "unknown";
            row.decode_note = Some(e.to_string());
        }
    }
    Decoded::Object(Box::new(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_root_and_resources() {
        assert_eq!(registry_root("/registry/events/"), "/registry/");
        assert_eq!(registry_root("/kubernetes.io/events/"), "/kubernetes.io/");
        let r = |k: &str| key_resource(k, "/registry/");
        assert_eq!(r("/registry/pods/shop/web-1").as_deref(), Some("pods"));
        assert_eq!(
            r("/registry/deployments/shop/web").as_deref(),
            Some("deployments")
        );
        assert_eq!(
            r("/registry/services/specs/shop/web").as_deref(),
            Some("services")
        );
        assert_eq!(
            r("/registry/services/endpoints/shop/web").as_deref(),
            Some("endpoints")
        );
        assert_eq!(r("/registry/minions/node-1").as_deref(), Some("nodes"));
        assert_eq!(
            r("/registry/example.com/widgets/shop/w").as_deref(),
            Some("widgets")
        );
        assert_eq!(r("/other/pods/x"), None);
    }
}

#[cfg(test)]
mod load_tests {
    use super::*;

    /// Regression: the live `member/snap/db` of a running etcd can change
    /// between hashing and reading; that used to go unnoticed.
    #[test]
    fn a_data_directory_that_changes_while_read_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let snap = dir.path().join("etcd/member/snap");
        std::fs::create_dir_all(&snap).unwrap();
        let sample =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample/member-snap-db");
        std::fs::copy(&sample, snap.join("db")).unwrap();
        let input = input::prepare(&dir.path().join("etcd")).unwrap();
        assert_eq!(input.kind, InputKind::DataDir);
        // etcd writes a page meanwhile.
        let mut bytes = std::fs::read(snap.join("db")).unwrap();
        bytes[3 * 4096 + 100] ^= 0xff;
        std::fs::write(snap.join("db"), bytes).unwrap();

        let mut store = Store::open(&dir.path().join("t.sqlite")).unwrap();
        let record = SourceRecord {
            kind: "etcd-data-dir".into(),
            sha256: input.sha256.clone(),
            trailer: "absent".into(),
            prefix: DEFAULT_PREFIX.into(),
            ..SourceRecord::default()
        };
        let (summary, _) = load_source(&mut store, &record, no_history(), &|_| {}, |sink| {
            check_unchanged(&input, sink);
            SourceFacts::default()
        })
        .unwrap();
        assert_eq!(summary.damaged_records, 1);
        let reason = store
            .damage_examples(summary.source_id, 1)
            .unwrap()
            .remove(0);
        assert!(reason.contains("changed while it was read"), "{reason}");
    }

    /// Regression: a panic while reading a source used to leave the writer
    /// thread waiting on the channel forever (the scope never ended). Now the
    /// panic comes through, and the database is as before.
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
            let (summary, _) = load_source(&mut store, &record, loading, &|_| {}, |sink| {
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
