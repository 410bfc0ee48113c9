//! What stops one source from loading.

use crate::source::input::InputError;
use crate::source::live::LiveError;
use crate::source::snapshot::SnapshotError;
use crate::source::wal::WalError;
use crate::store::StoreError;

/// Errors that stop one source from loading. Damaged records are not
/// errors: they are counted and stored in `damaged_records`.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("writing the database: {0}")]
    Store(#[from] StoreError),
    #[error("the database writer stopped unexpectedly")]
    WriterGone,
    #[error("{path}: JSON, but not a Kubernetes audit log: it holds {what} ({count} records) and no audit events")]
    NotAuditLog {
        path: String,
        what: String,
        count: u64,
    },
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Wal(#[from] WalError),
}
