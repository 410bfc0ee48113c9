//! Entries of etcd's `lease` bucket, into `leases`.

use rusqlite::params;

use super::sink::Sink;
use crate::store::error::StoreError;
use crate::store::rows::LeaseRow;

/// Writes a batch of leases; a lease seen again replaces the earlier entry.
pub(super) fn write_leases(sink: &mut Sink<'_>, rows: &[LeaseRow]) -> Result<(), StoreError> {
    let mut insert = sink.conn.prepare_cached(
        "INSERT OR REPLACE INTO leases (source_id, lease, ttl_seconds, remaining_ttl_seconds)
             VALUES (?1, ?2, ?3, ?4)",
    )?;
    for row in rows {
        insert.execute(params![
            sink.source_id,
            row.lease,
            row.ttl_seconds,
            row.remaining_ttl_seconds
        ])?;
    }
    Ok(())
}
