//! Loading one audit log file: hash it, stream its records, write them in
//! batches inside one transaction.

use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::error::IngestError;
use super::outcome::{AlreadyLoaded, AuditLoaded, AuditOutcome};
use super::plan::IngestOptions;
use crate::helpers::{absolute, hex};
use crate::source::audit::{AuditReader, Record};
use crate::source::input::{self, Compression};
use crate::store::{AuditRow, DamageRow, SourceRecord, Store};

/// `sources.kind` of an audit log file.
pub const AUDIT_SOURCE_KIND: &str = "audit-log";

/// Rows written together.
const BATCH: usize = 512;

/// How many damaged lines the summary names.
const EXAMPLES: usize = 5;

/// Loads one audit log file (plain, gzip or zstd). Loading the same file
/// (same SHA-256) again adds nothing; events already in the database (same
/// auditID and stage) are counted but stored once. A file whose JSON holds
/// only other Kubernetes types is refused with [`IngestError::NotAuditLog`]
/// and leaves nothing behind.
pub fn ingest_audit_file(
    store: &mut Store,
    path: &Path,
    compression: Option<Compression>,
    options: &IngestOptions,
) -> Result<AuditOutcome, IngestError> {
    let sha256 = input::sha256_file(path)?;
    if let Some(source_id) = store.source_by_content(&sha256, "")? {
        return Ok(AuditOutcome::AlreadyLoaded(AlreadyLoaded {
            source_id,
            sha256,
        }));
    }
    load_file(store, path, compression, sha256, options.cluster.clone())
}

/// Loads the file whose SHA-256 was `sha256` when it was first hashed.
fn load_file(
    store: &mut Store,
    path: &Path,
    compression: Option<Compression>,
    sha256: String,
    cluster: Option<String>,
) -> Result<AuditOutcome, IngestError> {
    let file = input::open_evidence(path)?;
    let size_bytes = file
        .metadata()
        .map_err(|source| input::InputError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let record = SourceRecord {
        kind: AUDIT_SOURCE_KIND.to_string(),
        location: absolute(path),
        sha256: sha256.clone(),
        size_bytes,
        compression: compression.map(|c| c.as_str().to_string()),
        content_sha256: None,
        trailer: "absent".to_string(),
        prefix: String::new(),
        cluster,
        ..SourceRecord::default()
    };
    // The file is hashed again as it is read: a live audit.log grows while
    // it is read, and what is recorded must be what was loaded.
    let mut raw = HashingReader::new(file);
    let mut content = HashingReader::new(input::open_content(&mut raw, compression));
    let mut writer = store.begin_audit_source(&record)?;
    let file_name = writer.file().to_string();
    let mut rows: Vec<AuditRow> = Vec::with_capacity(BATCH);
    let mut damage: Vec<DamageRow> = Vec::new();
    let mut damage_examples = Vec::new();
    let mut foreign = 0u64;
    let mut foreign_what = None;
    let mut events = 0u64;
    {
        let reader = AuditReader::new(io::BufReader::with_capacity(1 << 16, &mut content));
        let mut last_line = 0;
        for record in reader {
            let mut note_damage = |line: u64, reason: String| {
                if damage_examples.len() < EXAMPLES {
                    damage_examples.push(format!("{file_name}:{line}: {reason}"));
                }
                damage.push(DamageRow {
                    file: Some(file_name.clone()),
                    line: Some(line as i64),
                    reason,
                    ..DamageRow::default()
                });
            };
            match record {
                Ok(Record::Event(row)) => {
                    last_line = row.line as u64;
                    events += 1;
                    rows.push(*row);
                }
                Ok(Record::Damaged { line, reason }) => {
                    last_line = line;
                    note_damage(line, reason);
                }
                Ok(Record::Foreign { line, what }) => {
                    last_line = line;
                    foreign += 1;
                    foreign_what.get_or_insert(what);
                }
                Err(e) => {
                    // A compressed file cut short (rotation in progress), or
                    // a read error: what was read is kept, the rest reported.
                    note_damage(
                        last_line + 1,
                        format!("reading stopped after line {last_line}: {e}"),
                    );
                }
            }
            if rows.len() >= BATCH {
                writer.write_events(&rows)?;
                rows.clear();
            }
            if damage.len() >= BATCH {
                writer.write_damage(&damage)?;
                damage.clear();
            }
        }
    }
    if events == 0 && foreign > 0 {
        // Dropping the writer rolls the source back.
        drop(writer);
        return Err(IngestError::NotAuditLog {
            path: path.display().to_string(),
            what: foreign_what.unwrap_or_default(),
            count: foreign,
        });
    }
    writer.write_events(&rows)?;
    // The content hash is of what was read; the file hash of the whole file,
    // including what the decoder did not need (trailing bytes).
    let content_hasher = content.into_hasher();
    let content_sha256 = compression.map(|_| hex(&content_hasher.finalize()));
    io::copy(&mut raw, &mut io::sink()).map_err(|source| input::InputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let read_sha256 = hex(&raw.hasher.finalize());
    let mut sha256 = sha256;
    if read_sha256 != sha256 {
        let reason = format!(
            "the file changed while it was read (still being written?): {size_bytes} bytes with sha256 {sha256} when first hashed, {} bytes with sha256 {read_sha256} read and loaded; sources records the bytes read",
            raw.bytes
        );
        damage_examples.push(format!("{file_name}: {reason}"));
        damage.push(DamageRow {
            file: Some(file_name.clone()),
            reason,
            ..DamageRow::default()
        });
        writer.set_file_identity(&read_sha256, raw.bytes)?;
        sha256 = read_sha256;
    }
    writer.write_damage(&damage)?;
    let summary = writer.finish(content_sha256.as_deref())?;
    Ok(AuditOutcome::Loaded(AuditLoaded {
        summary,
        sha256,
        compression: compression.map(Compression::as_str),
        foreign,
        damage_examples,
    }))
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The hasher; the reader is dropped.
    fn into_hasher(self) -> Sha256 {
        self.hasher
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that changed between the first hash and the read (a live
    /// audit.log): the hash and size of what was read are recorded, and the
    /// change is reported.
    #[test]
    fn a_file_that_changed_while_read_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        let line = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x","stage":"ResponseComplete"}"#;
        std::fs::write(&log, format!("{line}\n")).unwrap();
        let mut store = Store::open(&dir.path().join("t.sqlite")).unwrap();
        let stale = "0".repeat(64);
        let AuditOutcome::Loaded(loaded) = load_file(&mut store, &log, None, stale, None).unwrap()
        else {
            panic!("loaded")
        };
        let actual = input::sha256_file(&log).unwrap();
        assert_eq!(loaded.sha256, actual);
        assert_eq!(loaded.summary.audit_events, 1);
        assert_eq!(loaded.summary.damaged_records, 1);
        assert!(loaded.damage_examples[0].contains("changed while it was read"));
        let (sha, size): (String, i64) = store
            .connection()
            .query_row("SELECT sha256, size_bytes FROM sources", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((sha, size), (actual, line.len() as i64 + 1));
    }
}
