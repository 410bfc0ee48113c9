//! Tombstones, of Event keys (`deletions`) or of the other objects' keys
//! (`object_deletions`), each linked to the source.

use rusqlite::params;

use super::sink::{Link, Sink};
use crate::store::error::StoreError;
use crate::store::liveness::{Family, EVENTS};
use crate::store::rows::{DeletionRow, RecoveredFrom};

/// Writes a batch of one family's tombstones; one the source already holds
/// is skipped.
pub(super) fn write_deletions(
    sink: &mut Sink<'_>,
    rows: &[DeletionRow],
    family: Family,
) -> Result<(), StoreError> {
    let mut insert = sink.conn.prepare_cached(&format!(
        "INSERT OR IGNORE INTO {} (source_id, key, revision, sub_revision)
             VALUES (?1, ?2, ?3, ?4)",
        family.deletions
    ))?;
    let is_events = family.rows == EVENTS.rows;
    let mut link = sink.conn.prepare_cached(family.link)?;
    for row in rows {
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
        if !linked {
            continue;
        }
        insert.execute(params![
            sink.source_id,
            row.key,
            row.revision,
            row.sub_revision
        ])?;
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
