//! The older full copies of the db in a data directory: `member/snap/
//! <index>.snap.db`, each a bbolt file etcd received from a leader (or
//! kept from a restore). Read into the same load as the db, after it: a
//! revision only a copy holds is `recovered_from = 'snap-db'`; one the db
//! holds too is the same row.

use std::path::{Path, PathBuf};

use super::input::{self, PreparedInput};
use super::mvcc::Revision;
use super::snapshot::Snapshot;
use super::RecordSink;
use crate::helpers::absolute;
use crate::store::{DamageRow, LeaseRow, RecoveredFrom};

/// The `.snap.db` files beside the db of a data directory, in name order
/// (their names are the raft index of the snapshot, in hex).
pub fn snap_copies(db_file: &Path) -> Vec<PathBuf> {
    let Some(snap) = db_file.parent() else {
        return Vec::new();
    };
    if snap.file_name().is_none_or(|n| n != "snap") {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(snap) else {
        return Vec::new();
    };
    let mut copies: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".snap.db"))
        .collect();
    copies.sort();
    copies
}

/// What reading one copy gave.
#[derive(Debug, Clone)]
pub struct CopyRead {
    pub path: PathBuf,
    pub sha256: String,
    pub size_bytes: u64,
}

/// Reads one copy into `sink`. A copy that cannot be opened is one damage
/// row; the load goes on.
pub fn read_copy_into<S: RecordSink + ?Sized>(path: &Path, sink: &mut S) -> Option<CopyRead> {
    let note = |sink: &mut S, reason: String| {
        sink.damage(DamageRow {
            file: Some(absolute(path)),
            reason,
            ..DamageRow::default()
        })
    };
    let prepared: PreparedInput = match input::prepare(path) {
        Ok(p) => p,
        Err(e) => {
            note(sink, format!("older copy of the db not read: {e}"));
            return None;
        }
    };
    let snapshot = match Snapshot::open(&prepared) {
        Ok(s) => s,
        Err(e) => {
            note(sink, format!("older copy of the db not read: {e}"));
            return None;
        }
    };
    snapshot.read_into(&mut AsCopy { inner: sink, path });
    Some(CopyRead {
        path: path.to_path_buf(),
        sha256: prepared.sha256,
        size_bytes: prepared.size_bytes,
    })
}

/// Passes a copy's records on as `snap-db` (its free pages stay
/// `free-page`); its leases are an older state and are not kept.
struct AsCopy<'a, S: ?Sized> {
    inner: &'a mut S,
    /// The copy: named in its damage rows.
    path: &'a Path,
}

impl<S: RecordSink + ?Sized> RecordSink for AsCopy<'_, S> {
    fn push(&mut self, revision: Revision, key_value: &[u8], from: RecoveredFrom) {
        let from = match from {
            RecoveredFrom::Tree => RecoveredFrom::SnapCopy,
            other => other,
        };
        self.inner.push(revision, key_value, from);
    }

    fn damage(&mut self, mut row: DamageRow) {
        row.file = row.file.or_else(|| Some(absolute(self.path)));
        self.inner.damage(row);
    }

    fn leases(&mut self, _rows: Vec<LeaseRow>) {}
}
