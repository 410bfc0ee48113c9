//! Loading a running etcd: its keys at a pinned head first (the size of
//! the load and which revisions are live), then every revision since the
//! compaction pulled through its API into the pipeline as one source of
//! kind `etcd-live`.

use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::IngestError;
use super::history::{self, Fates, HeadKeys};
use super::outcome::{AlreadyLoaded, LoadedSource, SourceOutcome};
use super::pipeline::{try_load_source, Loading, SourceLoad};
use super::plan::IngestOptions;
use crate::helpers::trace;
use crate::source::free_pages::FreePageScan;
use crate::source::input::Trailer;
use crate::source::live::{self as etcd, KeySample, LiveError, LiveOptions, Page};
use crate::source::RecordSink;
use crate::store::{DamageRow, RecoveredFrom, SourceFacts, SourceRecord, Store, StoreError};

/// Pulls every Event revision from a running etcd through its API and
/// loads it as one source of kind `etcd-live` (see [`crate::source::live`]).
pub fn ingest_live(
    store: &mut Store,
    live: &LiveOptions,
    options: &IngestOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SourceOutcome, IngestError> {
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
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
        cluster: options.cluster.clone(),
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
    let mut sample = KeySample::default();
    let head = etcd::head_keys(live, &options.prefix, |key, mod_revision| {
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
            let (tx, rx) = mpsc::sync_channel::<Page>(4);
            let facts = std::thread::scope(|scope| {
                let reader = scope
                    .spawn(|| etcd::pull(live, &options.prefix, head, &sample, read_ahead_dir, tx));
                for page in rx {
                    for record in page {
                        sink.push_owned(record.revision, record.key_value, RecoveredFrom::Live);
                    }
                }
                reader.join().map_err(|_| LiveError::ReaderGone)
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
            trace("pull done; finishing the load");
            Ok(source_facts)
        },
    );
    let SourceLoad { summary, facts } = match loaded {
        Ok(l) => l,
        Err(IngestError::Store(StoreError::SameContent { source_id, sha256 })) => {
            return Ok(SourceOutcome::AlreadyLoaded(AlreadyLoaded {
                source_id,
                sha256,
            }))
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
        condition: None,
        truncated: false,
        damage_examples,
        free_scan: FreePageScan::default(),
        live: Some(pulled),
    })))
}
