//! Loading an etcd file or data directory: hashed while a first pass
//! gathers each key's history (a new database), then read into the
//! pipeline as one source.

use std::path::{Path, PathBuf};

use super::error::IngestError;
use super::history::{self, Fates, KeyHistories};
use super::outcome::{AlreadyLoaded, LoadedSource, SourceOutcome};
use super::pipeline::{load_source, Loading, RevisionSink, SourceLoad};
use super::plan::IngestOptions;
use crate::helpers::{absolute, trace};
use crate::source::bolt::{BoltDb, Bucket, ReadAt};
use crate::source::free_pages::FreePageScan;
use crate::source::input::{self, InputKind, PreparedInput};
use crate::source::mvcc::{self, leading_key};
use crate::source::registry::registry_root;
use crate::source::snap_copies::{read_copy_into, snap_copies};
use crate::source::snapshot::{
    check_unchanged, etcd_members, file_condition, for_each_key_record, meta_note, mvcc_meta_of,
    truncation, KeyRecord, Snapshot,
};
use crate::source::wal::replay::{
    count_puts, replay_counted_into, replay_into, Recording, StoredHistory,
};
use crate::source::wal::{WalError, WalSource};
use crate::source::RecordSink;
use crate::store::{DamageRow, RecoveredFrom, SourceFileRow, SourceRecord, Store};

/// Loads one etcd file (a snapshot, a copy of `member/snap/db`, either
/// compressed) or data directory.
pub fn ingest_source(
    store: &mut Store,
    path: &Path,
    options: &IngestOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SourceOutcome, IngestError> {
    // A data directory's older copies and WAL are read after its db. With
    // older copies the rows' fates need the whole history, which the writer
    // derives; with a WAL alone the db's rows take the fates of the db's
    // histories, and the writer derives again those of the keys the WAL
    // adds records to (most often none: the WAL repeats what the db holds).
    let wal_dir = input::wal_dir_of(path);
    let copies = input::db_in_dir(path).map_or_else(Vec::new, |db| snap_copies(&db));
    // While the input is hashed: the first pass over its revisions, when
    // the database holds no etcd rows yet (see `history`).
    let gather = copies.is_empty() && !store.holds_etcd_rows()?;
    let root = registry_root(&options.prefix).as_bytes();
    let (input, gathered) = input::prepare_with(path, |file, bolt_len| {
        if !gather {
            return Gathered::default();
        }
        let Ok(db) = BoltDb::open_with_len(file, bolt_len) else {
            return Gathered::default();
        };
        let key_bucket = db.bucket(b"key").ok().flatten();
        gather_histories(&db, key_bucket.as_ref(), root, wal_dir.is_some())
    })?;
    let histories = gathered.histories;
    if let Some(source_id) = store.source_by_content(&input.sha256, &options.prefix)? {
        return Ok(SourceOutcome::AlreadyLoaded(AlreadyLoaded {
            source_id,
            sha256: input.sha256,
        }));
    }
    let snapshot = Snapshot::open(&input)?;
    let db = snapshot.db();
    let meta_note = meta_note(db);
    let condition = file_condition(db);
    let truncated = truncation(db);
    let record = SourceRecord {
        kind: input.kind.as_str().to_string(),
        location: absolute(&input.given),
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
        cluster: options.cluster.clone(),
    };
    let members = etcd_members(db);

    // A rough guess (etcd values of Events are about 1 KB with their keys)
    // that lets the writer choose how to maintain its indexes.
    let expected_rows = input.bolt_len / 1024;
    let mut free_scan = FreePageScan::default();
    let SourceLoad { summary, facts } = load_source(
        store,
        &record,
        Loading {
            prefix: &options.prefix,
            expected_rows,
            fates: histories.as_ref().map(Fates::History),
        },
        progress,
        |sink| {
            // What lies past the end is lost: damage, whatever the tree
            // still reaches.
            if let Some(t) = truncated {
                sink.damage(DamageRow {
                    reason: t.to_string(),
                    ..DamageRow::default()
                });
            }
            if let (Some(wal_dir), Some(stored)) = (&wal_dir, &gathered.stored) {
                // The first pass knows the db: the WAL's counting pass runs
                // beside the db's load.
                let wal = WalSource::Directory(wal_dir.clone());
                let (read, counted) = std::thread::scope(|scope| {
                    let counting = scope.spawn(|| count_puts(&wal, stored));
                    trace("db: reading");
                    let read = snapshot.read_into(&mut *sink);
                    trace("db: read");
                    let counted = counting
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                    (read, counted)
                });
                free_scan = read.free_scan;
                let mut facts = read.facts;
                facts.etcd_members = members;
                if input.kind == InputKind::DataDir {
                    let files = read_copies(&input, &[], None, root, sink);
                    sink.source_files(files);
                }
                let replayed = counted.and_then(|c| replay_counted_into(&wal, stored, &c, sink));
                if let Err(e) = replayed {
                    wal_damage(sink, wal_dir, e);
                }
                if input.kind == InputKind::DataDir && input.compression.is_none() {
                    check_unchanged(&input, sink);
                }
                return facts;
            }
            trace("db: reading");
            // What the db (and its copies) hold is noted for the replay.
            let mut stored = wal_dir.as_ref().map(|_| StoredHistory::new(root));
            let read = match &mut stored {
                Some(stored) => snapshot.read_into(&mut Recording {
                    inner: &mut *sink,
                    stored,
                    root,
                }),
                None => snapshot.read_into(&mut *sink),
            };
            free_scan = read.free_scan;
            let mut facts = read.facts;
            facts.etcd_members = members;
            trace("db: read");
            if input.kind == InputKind::DataDir {
                let files = read_copies(&input, &copies, stored.as_mut(), root, sink);
                sink.source_files(files);
            }
            if let (Some(wal_dir), Some(stored)) = (&wal_dir, &mut stored) {
                let compacted = facts.compact_revision.max(facts.scheduled_compact_revision);
                let consistent_index = facts.consistent_index.and_then(|c| u64::try_from(c).ok());
                stored.finish(compacted, facts.head_revision, consistent_index);
                let wal = WalSource::Directory(wal_dir.clone());
                if let Err(e) = replay_into(&wal, stored, sink) {
                    wal_damage(sink, wal_dir, e);
                }
            }
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
        condition,
        truncated: truncated.is_some(),
        damage_examples,
        free_scan,
        live: None,
    })))
}

/// A WAL that could not be read at all (its rows are not loaded; the db's
/// are).
fn wal_damage(sink: &mut RevisionSink<'_>, wal_dir: &Path, e: WalError) {
    sink.damage(DamageRow {
        file: Some(absolute(wal_dir)),
        reason: format!("the WAL could not be read: {e}"),
        ..DamageRow::default()
    });
}

/// What the first pass over a db gathered: each key's history for the
/// rows' fates (`None`: too many keys), and, for a data directory with a
/// WAL, the db's records for the replay, finished with the db's meta.
#[derive(Default)]
struct Gathered {
    histories: Option<KeyHistories>,
    stored: Option<StoredHistory>,
}

/// A data directory's older copies of its db, read after it (and noted in
/// `stored` for the replay); returns the files read, the db first.
fn read_copies(
    input: &PreparedInput,
    copies: &[PathBuf],
    mut stored: Option<&mut StoredHistory>,
    root: &[u8],
    sink: &mut RevisionSink<'_>,
) -> Vec<SourceFileRow> {
    let mut files = vec![SourceFileRow {
        path: absolute(&input.evidence_file),
        role: "db",
        sha256: Some(input.sha256.clone()),
        size_bytes: input.size_bytes,
    }];
    for copy in copies {
        let read = match stored.as_deref_mut() {
            Some(stored) => read_copy_into(
                copy,
                &mut Recording {
                    inner: &mut *sink,
                    stored,
                    root,
                },
            ),
            None => read_copy_into(copy, sink),
        };
        if let Some(read) = read {
            files.push(SourceFileRow {
                path: absolute(&read.path),
                role: "snap-db",
                sha256: Some(read.sha256),
                size_bytes: read.size_bytes,
            });
        }
    }
    files
}

/// The first pass: the history of every key under the registry root, read
/// exactly as the load will read the revisions (damage is left for the load
/// to report). `None` when the source has more keys than
/// [`history::KEY_LIMIT`].
fn gather_histories<R: ReadAt>(
    db: &BoltDb<R>,
    key_bucket: Option<&Bucket>,
    root: &[u8],
    for_replay: bool,
) -> Gathered {
    // A guess from the file's size (an Event revision is about 1 KB).
    let expected_keys = usize::try_from(db.file_len() / 1024).unwrap_or(usize::MAX);
    let mut histories = KeyHistories::new(history::KEY_LIMIT, expected_keys);
    let mut stored = for_replay.then(|| StoredHistory::new(root));
    let mut complete = true;
    let mut head_revision = None;
    for_each_key_record(db, key_bucket, |record| {
        let KeyRecord::Revision(rev, value, from) = record else {
            return;
        };
        // As the load's facts count it (see `Snapshot::read_into`).
        if from == RecoveredFrom::Tree {
            head_revision = head_revision.max(Some(rev.main));
        }
        if leading_key(value).is_some_and(|k| !k.starts_with(root)) {
            return;
        }
        // The load skips what does not decode; so does the history.
        if let Ok(kv) = mvcc::decode_key_value(&rev, value) {
            if kv.key.starts_with(root) {
                if complete {
                    complete &= histories.record(&kv.key, rev, from);
                }
                if let Some(stored) = &mut stored {
                    stored.record(rev, &kv);
                }
            }
        }
    });
    if let Some(stored) = &mut stored {
        // The meta the load reads, finished as the load would.
        let meta = mvcc_meta_of(db);
        let compacted = meta
            .finished_compact_revision
            .max(meta.scheduled_compact_revision);
        let head = head_revision.max(meta.finished_compact_revision);
        stored.finish(compacted, head, meta.consistent_index);
    }
    Gathered {
        histories: complete.then_some(histories),
        stored,
    }
}
