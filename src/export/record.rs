//! An exported record: one Event revision or one audited request, as the
//! store streams it, with its times read once (Unix nanoseconds) and its
//! provenance — the evidence's SHA-256, the etcd key and revision or the
//! audit log's file and line, and where the row was recovered from.

use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::store::export::{AuditExportRow, EventExportRow, ExportRow};

/// Where a record comes from, as every format writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provenance<'r> {
    /// SHA-256 of the source file (or of a live pull's record stream).
    pub source_sha256: Option<&'r str>,
    /// `sources.kind`.
    pub source_kind: Option<&'r str>,
    /// Event: the etcd key.
    pub key: Option<&'r str>,
    /// Event: `mod_revision`; audit: the revision the write made, when logged.
    pub revision: Option<i64>,
    pub sub_revision: Option<i64>,
    /// Event: `tree`, `free-page`, `live`, `snap-db`, `wal`.
    pub recovered_from: Option<&'r str>,
    /// Audit: the log file and line.
    pub file: Option<&'r str>,
    pub line: Option<i64>,
}

/// One Event revision.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub row: EventExportRow,
    /// The timeline's time (`occurred_at`, else `creation_timestamp`).
    pub time: String,
    pub time_ns: i64,
    /// The next occurrence of the same Event (its key's next revision),
    /// when the format asked for it.
    pub next_ns: Option<i64>,
}

/// One audited request.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub row: AuditExportRow,
    /// The timeline's time (`stage_timestamp`, else
    /// `request_received_timestamp`).
    pub time: String,
    pub time_ns: i64,
    /// `requestReceivedTimestamp`.
    pub received_ns: Option<i64>,
}

/// One exported line (one at a time: its size does not matter).
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Record {
    Event(EventRecord),
    Audit(AuditRecord),
}

/// A time in the database that does not read as RFC 3339.
#[derive(Debug, thiserror::Error)]
#[error("{what} {text:?} of {row} is not an RFC 3339 time")]
pub struct BadTime {
    what: &'static str,
    text: String,
    row: String,
}

/// Unix nanoseconds of a database time (`2026-11-20T09:30:00.000000Z`).
pub fn unix_nanos(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos()).ok()
}

impl Record {
    /// The record a store row is; `None` for a line with no time at all
    /// (an Event that did not decode, a request without timestamps),
    /// which no format can place (the caller counts it).
    pub fn from_row(row: ExportRow) -> Result<Option<Record>, BadTime> {
        match row {
            ExportRow::Event(row) => {
                let Some(time) = row.time.clone() else {
                    return Ok(None);
                };
                let time_ns = unix_nanos(&time).ok_or_else(|| BadTime {
                    what: "time",
                    text: time.clone(),
                    row: format!("event {} revision {}", row.key, row.mod_revision),
                })?;
                let next_ns = row.next_occurred_at.as_deref().and_then(unix_nanos);
                Ok(Some(Record::Event(EventRecord {
                    row: *row,
                    time,
                    time_ns,
                    next_ns,
                })))
            }
            ExportRow::Audit(row) => {
                let Some(time) = row.time.clone() else {
                    return Ok(None);
                };
                let time_ns = unix_nanos(&time).ok_or_else(|| BadTime {
                    what: "time",
                    text: time.clone(),
                    row: format!("audit event {} ({}:{})", row.audit_id, row.file, row.line),
                })?;
                let received_ns = row
                    .request_received_timestamp
                    .as_deref()
                    .and_then(unix_nanos);
                Ok(Some(Record::Audit(AuditRecord {
                    row: *row,
                    time,
                    time_ns,
                    received_ns,
                })))
            }
        }
    }

    pub fn provenance(&self) -> Provenance<'_> {
        match self {
            Record::Event(e) => Provenance {
                source_sha256: e.row.source.sha256.as_deref(),
                source_kind: e.row.source.kind.as_deref(),
                key: Some(&e.row.key),
                revision: Some(e.row.mod_revision),
                sub_revision: Some(e.row.sub_revision),
                recovered_from: Some(&e.row.recovered_from),
                file: None,
                line: None,
            },
            Record::Audit(a) => Provenance {
                source_sha256: a.row.source.sha256.as_deref(),
                source_kind: a.row.source.kind.as_deref(),
                key: None,
                revision: a.row.revision,
                sub_revision: None,
                recovered_from: None,
                file: Some(&a.row.file),
                line: Some(a.row.line),
            },
        }
    }

    /// A stable identity: the same record of the same case has the same id
    /// on every export (an Event revision by key, revision and sub
    /// revision; an audit event by `auditID` and stage), so that loading an
    /// export twice stores nothing twice.
    pub fn stable_id(&self) -> [u8; 32] {
        match self {
            Record::Event(e) => digest(&[
                b"event",
                e.row.key.as_bytes(),
                e.row.mod_revision.to_string().as_bytes(),
                e.row.sub_revision.to_string().as_bytes(),
            ]),
            Record::Audit(a) => {
                digest(&[b"audit", a.row.audit_id.as_bytes(), a.row.stage.as_bytes()])
            }
        }
    }
}

/// SHA-256 of the parts, each length-prefixed (no two lists of parts give
/// the same input).
pub fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_both_precisions() {
        assert_eq!(unix_nanos("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(
            unix_nanos("1970-01-01T00:00:01.000002Z"),
            Some(1_000_002_000)
        );
        assert_eq!(unix_nanos("yesterday"), None);
    }

    #[test]
    fn digests_keep_parts_apart() {
        assert_ne!(digest(&[b"ab", b"c"]), digest(&[b"a", b"bc"]));
    }
}
