//! Tombstones, of Event keys (`deletions`) or of the other objects' keys
//! (`object_deletions`), each linked to the source.

use rusqlite::params;

use super::sink::{Link, Sink};
use crate::store::error::StoreError;
use crate::store::liveness::{Family, EVENTS};
use crate::store::rows::{DeletionRow, RecoveredFrom};

/// A tombstone the db holds, confirmed by the WAL: it gains its cause
/// (parameters: key, revision, sub revision, cause, revoked lease, raft
/// index).
pub(super) fn set_cause_sql(family: Family) -> String {
    format!(
        "UPDATE {} SET cause = ?4, revoked_lease = ?5, raft_index = ?6
             WHERE revision = ?2 AND sub_revision = ?3 AND key = ?1 AND cause IS NULL",
        family.deletions
    )
}

/// Writes a batch of one family's tombstones; one the source already holds
/// is skipped.
pub(super) fn write_deletions(
    sink: &mut Sink<'_>,
    rows: &[DeletionRow],
    family: Family,
) -> Result<(), StoreError> {
    let mut insert = sink.conn.prepare_cached(&format!(
        "INSERT OR IGNORE INTO {} (source_id, key, revision, sub_revision, cause, revoked_lease,
             raft_index) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        family.deletions
    ))?;
    let mut set_cause = sink.conn.prepare_cached(&set_cause_sql(family))?;
    let is_events = family.rows == EVENTS.rows;
    let mut link = sink.conn.prepare_cached(family.link)?;
    for row in rows {
        let cause = row.wal.and_then(|w| w.cause);
        let cause_text = cause.map(|c| c.as_str());
        let revoked_lease = cause.and_then(|c| c.lease());
        let raft_index = row.wal.map(|w| w.raft_index as i64);
        if is_events && row.wal.is_some() {
            sink.summary.wal_tombstones += 1;
        }
        let linked = sink.link(
            &mut link,
            Link {
                key: &row.key,
                revision: row.revision,
                sub_revision: row.sub_revision,
                tombstone: true,
                recovered_from: row.recovered_from,
                live: false,
            },
        )?;
        let inserted = linked
            && insert.execute(params![
                sink.source_id,
                row.key,
                row.revision,
                row.sub_revision,
                cause_text,
                revoked_lease,
                raft_index
            ])? == 1;
        if !inserted && row.wal.is_some() {
            // This source's db, or an earlier source, holds the tombstone
            // without its cause.
            set_cause.execute(params![
                row.key,
                row.revision,
                row.sub_revision,
                cause_text,
                revoked_lease,
                raft_index
            ])?;
        }
        if !linked {
            continue;
        }
        if !is_events {
            sink.summary.object_tombstones += 1;
            continue;
        }
        sink.summary.tombstones += 1;
        if row.recovered_from == RecoveredFrom::FreePage {
            sink.summary.free_page_tombstones += 1;
        }
    }
    Ok(())
}
