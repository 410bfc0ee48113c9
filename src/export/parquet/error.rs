//! What can go wrong writing the Parquet dataset.

use std::path::PathBuf;

use crate::store::export_parquet::ExportError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {}: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("building a record batch of {table}: {source}")]
    Arrow {
        table: &'static str,
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// The directory holds files of this case and cluster already: files
    /// are added, never replaced.
    #[error("{} already holds this case's export for cluster {cluster} ({}); files are never replaced: export into another directory, or remove the files named part-{case}-*.parquet first", dir.display(), file.display())]
    AlreadyExported {
        dir: PathBuf,
        file: PathBuf,
        cluster: String,
        case: String,
    },
    #[error("{table}: column {column} of row id {id} holds {found}, not {expected}")]
    CellType {
        table: &'static str,
        column: &'static str,
        id: i64,
        found: &'static str,
        expected: &'static str,
    },
    /// The store gave rows out of time order: a bug, not bad evidence.
    #[error("{table}: rows out of time order at row id {id} ({previous} then {time})")]
    OutOfOrder {
        table: &'static str,
        id: i64,
        previous: String,
        time: String,
    },
    /// The writing thread ended (its own error is the one reported).
    #[error("the Parquet writer stopped")]
    WriterStopped,
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
