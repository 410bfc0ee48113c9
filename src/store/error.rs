//! The store's one error type: what can go wrong opening, migrating and
//! loading the output database.

use std::path::Path;

use super::schema::SCHEMA_VERSION;

/// Errors of the output database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("not an evforensics database: it has tables but no evforensics schema version (PRAGMA user_version = 0); evforensics neither reads nor writes into a database that is not ours")]
    NotOurs,
    /// Opened to be read, but nothing was ever loaded into it.
    #[error("not an evforensics database: the database is empty (no tables); `evforensics ingest --db` loads evidence into one")]
    EmptyDatabase,
    #[error("the database has schema version {0}, this evforensics understands version {SCHEMA_VERSION}; use a newer evforensics or another --db")]
    UnsupportedVersion(i64),
    #[error(
        "a source with the same content (sha256 {sha256}) is already loaded as source {source_id}"
    )]
    SameContent { source_id: i64, sha256: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The source is of another cluster than one the database holds: a
    /// database holds one cluster (rows of two would merge at the same key
    /// and revision).
    #[error("this source is of another cluster than source {other_source} ({other_location}) of this database: {why}; nothing of it was loaded — a database holds one cluster: load it with another --db")]
    OtherCluster {
        other_source: i64,
        other_location: String,
        why: String,
    },
    #[error("{path} was created by another program while this run was loading into a new database; nothing of this run was kept there — run it again to add to that database")]
    CreatedMeanwhile { path: String },
}

impl StoreError {
    /// A file operation on `path` that failed.
    pub(super) fn io(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
