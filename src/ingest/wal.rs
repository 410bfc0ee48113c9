//! Loading a WAL given on its own (a `member/wal` directory or one
//! segment, without the db beside it): its proposals replayed from what
//! the WAL alone says, as one source of kind `etcd-wal`. From a WAL that
//! begins at raft index 1 every write is determined; from a later one,
//! nothing anchors the count, and writes are unresolved rows.

use sha2::{Digest, Sha256};

use super::error::IngestError;
use super::outcome::{AlreadyLoaded, LoadedSource, SourceOutcome};
use super::pipeline::{try_load_source, Loading, SourceLoad};
use super::plan::IngestOptions;
use crate::helpers::{absolute, hex};
use crate::source::free_pages::FreePageScan;
use crate::source::input::Trailer;
use crate::source::registry::registry_root;
use crate::source::wal::replay::{replay_into, StoredHistory};
use crate::source::wal::WalSource;
use crate::store::{SourceFacts, SourceFileRow, SourceRecord, Store, StoreError};

/// The `sources.kind` of a WAL loaded on its own.
pub const WAL_SOURCE_KIND: &str = "etcd-wal";

/// Loads one WAL directory or segment.
pub fn ingest_wal(
    store: &mut Store,
    wal: &WalSource,
    options: &IngestOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SourceOutcome, IngestError> {
    let record = SourceRecord {
        kind: WAL_SOURCE_KIND.to_string(),
        location: absolute(wal.path()),
        // Replaced at the end by the hash of the segments' hashes (see
        // `manifest_sha256`), known once they are read.
        sha256: format!("wal-read-in-progress-{}", std::process::id()),
        trailer: Trailer::Absent.as_str().to_string(),
        prefix: options.prefix.clone(),
        cluster: options.cluster.clone(),
        ..SourceRecord::default()
    };
    let root = registry_root(&options.prefix).as_bytes();
    let loaded = try_load_source(
        store,
        &record,
        Loading {
            prefix: &options.prefix,
            expected_rows: 0,
            fates: None,
        },
        progress,
        |sink| {
            // No db: nothing is stored, nothing anchors but an empty store.
            let mut stored = StoredHistory::new(root);
            stored.finish(None, None, None);
            let replayed = replay_into(wal, &stored, sink)?;
            Ok(SourceFacts {
                sha256: Some(manifest_sha256(&replayed.files)),
                size_bytes: Some(replayed.files.iter().map(|f| f.size_bytes).sum()),
                ..SourceFacts::default()
            })
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
    let damage_examples = if summary.damaged_records > 0 {
        store.damage_examples(summary.source_id, 5)?
    } else {
        Vec::new()
    };
    Ok(SourceOutcome::Loaded(Box::new(LoadedSource {
        summary,
        sha256: facts.sha256.unwrap_or_default(),
        trailer: Trailer::Absent,
        kind: WAL_SOURCE_KIND,
        compression: None,
        head_revision: None,
        compact_revision: None,
        meta_note: None,
        condition: None,
        truncated: false,
        damage_examples,
        free_scan: FreePageScan::default(),
        live: None,
    })))
}

/// A WAL's content hash: SHA-256 over one `NAME SHA256` line per segment,
/// in reading order (each segment's own hash is in `source_files`).
fn manifest_sha256(files: &[SourceFileRow]) -> String {
    let mut h = Sha256::new();
    for f in files {
        let name = std::path::Path::new(&f.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        h.update(format!("{name} {}\n", f.sha256.as_deref().unwrap_or("-")));
    }
    hex(&h.finalize())
}
