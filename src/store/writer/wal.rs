//! What a data directory's load adds beside its rows: the raft entries of
//! the rows its db holds, the WAL writes it could not resolve, the
//! replay's figures, and the files read.

use rusqlite::params;

use super::deletions::set_cause_sql;
use super::events::SET_RAFT_ENTRY;
use super::sink::Sink;
use crate::store::error::StoreError;
use crate::store::liveness::{EVENTS, OBJECTS};
use crate::store::rows::{SourceFileRow, UnresolvedWrite, WalConfirmation, WalReplayRow};

/// Writes a batch of WAL writes the db holds: an Event row gains its raft
/// entry, a tombstone its cause. (Other objects' rows keep no raft entry.)
pub(super) fn write_confirmations(
    sink: &mut Sink<'_>,
    rows: &[WalConfirmation],
) -> Result<(), StoreError> {
    let mut set_raft_entry = sink.conn.prepare_cached(SET_RAFT_ENTRY)?;
    let mut set_event_cause = sink.conn.prepare_cached(&set_cause_sql(EVENTS))?;
    let mut set_object_cause = sink.conn.prepare_cached(&set_cause_sql(OBJECTS))?;
    for row in rows {
        let raft_index = row.origin.raft_index as i64;
        match (row.tombstone, row.event) {
            (false, true) => {
                sink.summary.wal_event_revisions += 1;
                set_raft_entry.execute(params![
                    row.key,
                    row.revision,
                    row.sub_revision,
                    raft_index,
                    row.origin.raft_term as i64
                ])?;
            }
            // Not sent (see `RevisionSink::confirm_replayed`); nothing to do.
            (false, false) => {}
            (true, event) => {
                let cause = row.origin.cause;
                let set_cause = if event {
                    sink.summary.wal_tombstones += 1;
                    &mut set_event_cause
                } else {
                    &mut set_object_cause
                };
                set_cause.execute(params![
                    row.key,
                    row.revision,
                    row.sub_revision,
                    cause.map(|c| c.as_str()),
                    cause.and_then(|c| c.lease()),
                    raft_index
                ])?;
            }
        }
    }
    Ok(())
}

/// Writes a batch of unresolved WAL writes.
pub(super) fn write_unresolved(
    sink: &mut Sink<'_>,
    rows: &[UnresolvedWrite],
) -> Result<(), StoreError> {
    let mut insert = sink.conn.prepare_cached(
        "INSERT INTO wal_unresolved_writes (source_id, raft_index, raft_term, key, operation,
             why, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for row in rows {
        insert.execute(params![
            sink.source_id,
            row.raft_index as i64,
            row.raft_term as i64,
            row.key,
            row.operation,
            row.why,
            row.value
        ])?;
    }
    Ok(())
}

/// Writes the replay's figures (one row per source).
pub(super) fn write_replay(sink: &mut Sink<'_>, row: &WalReplayRow) -> Result<(), StoreError> {
    let n = |v: u64| v as i64;
    let opt = |v: Option<u64>| v.map(|v| v as i64);
    sink.conn.execute(
        "INSERT OR REPLACE INTO wal_replays (source_id, directory, files, bytes,
             first_index, last_index, consistent_index, committed_entries, replaced_entries,
             uncommitted_entries, applied_writes, replayed_records, failed_compares, unresolved,
             contradictions, damaged)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            sink.source_id,
            row.directory,
            n(row.files),
            n(row.bytes),
            opt(row.first_index),
            opt(row.last_index),
            opt(row.consistent_index),
            n(row.committed_entries),
            n(row.replaced_entries),
            n(row.uncommitted_entries),
            n(row.applied_writes),
            n(row.replayed_records),
            n(row.failed_compares),
            n(row.unresolved),
            n(row.contradictions),
            n(row.damaged),
        ],
    )?;
    sink.summary.wal = Some(row.clone());
    Ok(())
}

/// Writes the files a source was read from.
pub(super) fn write_source_files(
    sink: &mut Sink<'_>,
    rows: &[SourceFileRow],
) -> Result<(), StoreError> {
    let mut insert = sink.conn.prepare_cached(
        "INSERT OR REPLACE INTO source_files (source_id, path, role, sha256, size_bytes)
             VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for row in rows {
        insert.execute(params![
            sink.source_id,
            row.path,
            row.role,
            row.sha256,
            row.size_bytes as i64
        ])?;
    }
    Ok(())
}
