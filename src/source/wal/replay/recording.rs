//! A sink that notes each record it passes on in a [`StoredHistory`]: the
//! db's records are gathered for the replay while the load reads them,
//! without a second pass over the db.

use super::stored::StoredHistory;
use crate::source::mvcc::{decode_key_value, leading_key, Revision};
use crate::source::RecordSink;
use crate::store::{DamageRow, LeaseRow, RecoveredFrom};

/// Passes every record on to `inner`, noting those under the history's
/// root in `stored`.
pub struct Recording<'a, S: ?Sized> {
    pub inner: &'a mut S,
    pub stored: &'a mut StoredHistory,
    pub root: &'a [u8],
}

impl<S: RecordSink + ?Sized> RecordSink for Recording<'_, S> {
    fn push(&mut self, revision: Revision, key_value: &[u8], from: RecoveredFrom) {
        if leading_key(key_value).is_none_or(|k| k.starts_with(self.root)) {
            // What does not decode is left for the load to report.
            if let Ok(kv) = decode_key_value(&revision, key_value) {
                self.stored.record(revision, &kv);
            }
        }
        self.inner.push(revision, key_value, from);
    }

    fn damage(&mut self, row: DamageRow) {
        self.inner.damage(row);
    }

    fn leases(&mut self, rows: Vec<LeaseRow>) {
        self.inner.leases(rows);
    }
}
