//! SQLite output: the schema ([`schema`]) and the batched writer ([`writer`]).
//!
//! One source (a snapshot file, a data directory) is loaded in one
//! transaction: a failed or interrupted run rolls back and leaves what
//! earlier runs loaded untouched.

pub mod audit;
pub mod schema;
pub mod writer;

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

pub use audit::{AuditRow, AuditSummary, AuditWriter};
pub use schema::SCHEMA_VERSION;
pub use writer::{
    Batch, DamageRow, DeletionRow, EventRow, LeaseRow, LoadSummary, ObjectRow, SourceFacts,
    SourceRecord, SourceWriter,
};

/// Errors of the output database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database has tables but no evforensics schema version (PRAGMA user_version = 0); refusing to write into a database that is not ours")]
    NotOurs,
    #[error("the database has schema version {0}, this evforensics understands version {SCHEMA_VERSION}; use a newer evforensics or another --db")]
    UnsupportedVersion(i64),
    #[error(
        "a source with the same content (sha256 {sha256}) is already loaded as source {source_id}"
    )]
    SameContent { source_id: i64, sha256: String },
}

/// An open evforensics database.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) a database for writing and brings its schema
    /// up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Before any setting is changed: a database that is not ours (maybe
        // evidence itself) is refused untouched.
        schema::check_ours(&conn)?;
        // Rollback journal: one transaction per source is the unit of
        // atomicity, and no -wal/-shm files are left beside the output.
        // A small page cache: the OS caches the file anyway, and SQLite's
        // memory during a load grows with it (measured: ~3x the setting),
        // while a larger one made the load no faster. Sorts (index builds,
        // the liveness window) may use a helper thread.
        conn.execute_batch(
            "PRAGMA journal_mode = DELETE;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -16384;
             PRAGMA temp_store = FILE;
             PRAGMA threads = 2;",
        )?;
        schema::migrate(&conn)?;
        Ok(Store { conn })
    }

    /// Removes a database file that holds no source, unless another
    /// connection is using it (it may be loading its first source right
    /// now): the exclusive lock is taken without waiting, and the file is
    /// kept whenever that fails. Used to leave nothing behind after a run
    /// that created the file and loaded nothing.
    pub fn remove_if_unused(path: &Path) {
        let Ok(conn) = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE) else {
            return;
        };
        if conn.busy_timeout(std::time::Duration::ZERO).is_err()
            || conn.execute_batch("BEGIN EXCLUSIVE").is_err()
        {
            return;
        }
        let sources: Result<i64, _> =
            conn.query_row("SELECT count(*) FROM sources", [], |r| r.get(0));
        if matches!(sources, Ok(0)) {
            let _ = std::fs::remove_file(path);
        }
        let _ = conn.execute_batch("ROLLBACK");
    }

    /// Opens an existing database read-only (for `query`, tests and reports).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        // Older versions read fine: they lack only the newer tables.
        if !(1..=SCHEMA_VERSION).contains(&version) {
            return Err(if version == 0 {
                StoreError::NotOurs
            } else {
                StoreError::UnsupportedVersion(version)
            });
        }
        Ok(Store { conn })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The source already loaded from a file with this content and prefix.
    pub fn source_by_content(&self, sha256: &str, prefix: &str) -> Result<Option<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM sources WHERE sha256 = ?1 AND prefix = ?2")?;
        let mut rows = stmt.query(rusqlite::params![sha256, prefix])?;
        Ok(match rows.next()? {
            Some(row) => Some(row.get(0)?),
            None => None,
        })
    }

    /// The first `limit` damaged records of a source, one line each, for a
    /// closing summary.
    pub fn damage_examples(&self, source_id: i64, limit: u32) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT reason, page, revision FROM damaged_records
             WHERE source_id = ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(rusqlite::params![source_id, limit], |r| {
            let reason: String = r.get(0)?;
            let page: Option<i64> = r.get(1)?;
            let revision: Option<i64> = r.get(2)?;
            Ok(match (page, revision) {
                (_, Some(rev)) => format!("revision {rev}: {reason}"),
                (Some(p), None) => format!("page {p}: {reason}"),
                _ => reason,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Starts loading one source: opens its transaction and records it.
    /// `expected_rows`: a rough estimate of the Event revisions to come (see
    /// [`SourceWriter`]); 0 when unknown.
    pub fn begin_source(
        &mut self,
        source: &SourceRecord,
        expected_rows: u64,
    ) -> Result<SourceWriter<'_>, StoreError> {
        SourceWriter::begin(&mut self.conn, source, expected_rows)
    }

    /// Starts loading one audit log file: opens its transaction and records it.
    pub fn begin_audit_source(
        &mut self,
        source: &SourceRecord,
    ) -> Result<AuditWriter<'_>, StoreError> {
        AuditWriter::begin(&mut self.conn, source)
    }
}
