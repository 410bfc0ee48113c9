//! Errors that stop a WAL from being read at all. Everything found while
//! reading (damage, a torn tail) is an item of the stream instead, so one
//! bad segment never hides the others.

use std::io;
use std::path::PathBuf;

/// A WAL that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// `read_dir` on the WAL directory failed.
    #[error("{path}: listing the WAL directory: {source}")]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A file given as a WAL segment whose name is not `<seq>-<index>.wal`.
    #[error(
        "{path}: not a WAL segment name (etcd names them <seq>-<index>.wal, 16 hex digits each)"
    )]
    NotASegment {
        /// The file.
        path: PathBuf,
    },
}
