//! The rows every load writes, whatever its input (etcd or an audit log):
//! its `sources` row and its damaged records.

use rusqlite::{params, Connection};

use super::error::StoreError;
use super::rows::{DamageRow, SourceRecord};

/// Records a source (its `sources` row) inside the load's transaction.
pub(super) fn insert_source(tx: &Connection, source: &SourceRecord) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO sources (kind, location, sha256, size_bytes, compression, content_sha256,
            trailer, trailer_sha256, prefix, bolt_page_size, bolt_txid, bolt_meta_page,
            bolt_meta_note, ingested_at, tool_version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
            strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?14)",
        params![
            source.kind,
            source.location,
            source.sha256,
            source.size_bytes as i64,
            source.compression,
            source.content_sha256,
            source.trailer,
            source.trailer_sha256,
            source.prefix,
            source.bolt_page_size,
            source.bolt_txid,
            source.bolt_meta_page,
            source.bolt_meta_note,
            concat!("evforensics ", env!("CARGO_PKG_VERSION")),
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Stores records that could not be read.
pub(super) fn insert_damage(
    tx: &Connection,
    source_id: i64,
    rows: &[DamageRow],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO damaged_records (source_id, page, offset, revision, sub_revision, key, file, line, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for row in rows {
        insert.execute(params![
            source_id,
            row.page,
            row.offset,
            row.revision,
            row.sub_revision,
            row.key,
            row.file,
            row.line,
            row.reason
        ])?;
    }
    Ok(())
}
