//! Where a source hands what it reads: the seam between a reader of etcd
//! records (a snapshot, a running etcd, later the WAL) and the load that
//! decodes and writes them.

use super::mvcc::Revision;
use crate::store::{
    DamageRow, LeaseRow, RecoveredFrom, SourceFileRow, UnresolvedWrite, WalOrigin, WalReplayRow,
};

/// Receives one source's records in the order the source reads them.
pub trait RecordSink {
    /// One revision of a key: `key_value` is an encoded `mvccpb.KeyValue`.
    fn push(&mut self, revision: Revision, key_value: &[u8], from: RecoveredFrom);

    /// [`push`](Self::push) for a record the source already owns (no copy).
    fn push_owned(&mut self, revision: Revision, key_value: Vec<u8>, from: RecoveredFrom) {
        self.push(revision, &key_value, from);
    }

    /// A record replayed from the WAL: as [`push_owned`](Self::push_owned),
    /// with the raft entry it came from.
    fn push_replayed(&mut self, revision: Revision, key_value: Vec<u8>, origin: WalOrigin) {
        let _ = origin;
        self.push_owned(revision, key_value, RecoveredFrom::Wal);
    }

    /// The WAL's records follow (after the db's and its copies').
    fn wal_begins(&mut self) {}

    /// A record replayed from the WAL that the db holds already, byte for
    /// byte: only its raft entry is new. (`revision.tombstone` tells a
    /// tombstone from a put.)
    fn confirm_replayed(&mut self, revision: Revision, key: Vec<u8>, origin: WalOrigin) {
        let _ = (revision, key, origin);
    }

    /// A WAL write whose outcome or revision is unknown.
    fn unresolved(&mut self, write: UnresolvedWrite) {
        let _ = write;
    }

    /// The files a source was read from (a data directory's).
    fn source_files(&mut self, rows: Vec<SourceFileRow>) {
        let _ = rows;
    }

    /// What the WAL replay gave, once at its end.
    fn wal_replay(&mut self, row: WalReplayRow) {
        let _ = row;
    }

    /// A record or page that could not be read.
    fn damage(&mut self, row: DamageRow);

    /// The source's leases.
    fn leases(&mut self, rows: Vec<LeaseRow>);
}
