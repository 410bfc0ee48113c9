//! Loading one audit log file: hash it, stream its records, write them in
//! batches inside one transaction.

use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{AuditReader, Record};
use crate::ingest::{absolute, IngestError};
use crate::source::input::{self, Compression};
use crate::store::{AuditRow, AuditSummary, DamageRow, SourceRecord, Store};

/// `sources.kind` of an audit log file.
pub const AUDIT_SOURCE_KIND: &str = "audit-log";

/// Rows written together.
const BATCH: usize = 512;

/// How many damaged lines the summary names.
const EXAMPLES: usize = 5;

/// What happened to one audit file.
#[derive(Debug)]
pub enum AuditOutcome {
    Loaded(AuditLoaded),
    /// A file with the same SHA-256 was loaded before.
    AlreadyLoaded {
        source_id: i64,
        sha256: String,
    },
}

/// The closing summary of a loaded audit file.
#[derive(Debug)]
pub struct AuditLoaded {
    pub summary: AuditSummary,
    pub sha256: String,
    pub compression: Option<&'static str>,
    /// Records of other kinds skipped (e.g. an AKS record of another category).
    pub foreign: u64,
    /// The first damaged lines, as `file:line: reason`.
    pub damage_examples: Vec<String>,
}

/// Loads one audit log file (plain, gzip or zstd). Loading the same file
/// (same SHA-256) again adds nothing; events already in the database (same
/// auditID and stage) are counted but stored once. A file whose JSON holds
/// only other Kubernetes types is refused with [`IngestError::NotAuditLog`]
/// and leaves nothing behind.
pub fn ingest_audit_file(
    store: &mut Store,
    path: &Path,
    compression: Option<Compression>,
) -> Result<AuditOutcome, IngestError> {
    let sha256 = input::sha256_file(path)?;
    if let Some(source_id) = store.source_by_content(&sha256, "")? {
        return Ok(AuditOutcome::AlreadyLoaded { source_id, sha256 });
    }
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
        ..SourceRecord::default()
    };
    let mut content = HashingReader {
        inner: input::open_content(file, compression),
        hasher: Sha256::new(),
    };
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
    writer.write_damage(&damage)?;
    // Whatever the decoder did not need is still hashed: the content hash
    // is of what was read.
    let content_sha256 = compression.map(|_| input::hex(&content.hasher.finalize()));
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
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
