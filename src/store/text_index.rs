//! The full-text index (`events_fts`) of a database's first Events, built
//! beside the load rather than after it.
//!
//! FTS5 indexing costs about as much as inserting the rows, and the writer
//! thread is the load's bottleneck. While the database has no Event rows yet,
//! its index is empty, so the whole index can be built by another thread in a
//! private temp database (same FTS5 table definition, same rowids) and then
//! copied into the database's FTS5 shadow tables (`events_fts_data`, `_idx`,
//! `_docsize`), whose format does not depend on the database they are in
//! (<https://sqlite.org/fts5.html#appendix_b>). Tests check the result with
//! FTS5's own `integrity-check` against `event_revisions`.
//!
//! During the load, when both cores decode and write, the builder only
//! stores the indexed columns (cheap); it indexes them once the load's rows
//! are all in ([`TextIndexBuilder::close`]), while the writer builds the
//! other indexes: work moved to where a core is free.
//!
//! A database that already holds Events gets its new rows indexed in place
//! by the writer instead.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use rusqlite::Connection;

use super::error::StoreError;

/// The indexed columns as they arrive, and `events_fts` as created by the
/// schema under another name, its content in that table.
const SIDE_TABLES: &str = "CREATE TABLE side_rows (
    id INTEGER PRIMARY KEY, reason TEXT, message TEXT, involved_name TEXT
);
CREATE VIRTUAL TABLE side_fts USING fts5(
    reason, message, involved_name,
    content = 'side_rows', content_rowid = 'id'
);";

/// The shadow tables that hold the index, with their column counts (the
/// `_config` table holds only the format version, the same in both).
const SHADOW_TABLES: [(&str, &str, usize); 3] = [
    ("events_fts_data", "side_fts_data", 2),
    ("events_fts_idx", "side_fts_idx", 3),
    ("events_fts_docsize", "side_fts_docsize", 2),
];

/// The builder's database once every row is in.
struct Built {
    conn: Connection,
    _file: tempfile::TempPath,
}

/// One indexed row.
pub(super) struct TextRow {
    /// Its rowid: `event_revisions.id`.
    pub(super) id: i64,
    pub(super) reason: Option<String>,
    pub(super) message: Option<String>,
    pub(super) involved_name: Option<String>,
}

/// The builder thread and the channel feeding it.
pub(super) struct TextIndexBuilder {
    rows: Option<mpsc::SyncSender<Vec<TextRow>>>,
    thread: Option<JoinHandle<Result<Built, StoreError>>>,
    /// Set when the load failed: the builder stops without indexing.
    abandoned: Arc<AtomicBool>,
    /// Stops an indexing already under way when the load failed.
    interrupt: rusqlite::InterruptHandle,
}

impl TextIndexBuilder {
    /// Starts the builder, its database a hidden temp file in `dir` (the
    /// output database's directory: a system temp directory may be a RAM
    /// disk, and this holds every Event's indexed text).
    pub(super) fn start(dir: &Path) -> Result<TextIndexBuilder, StoreError> {
        let temp = tempfile::Builder::new()
            .prefix(".evforensics-fts-")
            .suffix(".partial")
            .tempfile_in(dir)
            .map_err(|e| StoreError::io(dir, e))?
            .into_temp_path();
        let conn = Connection::open(&temp)?;
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             PRAGMA locking_mode = EXCLUSIVE; PRAGMA page_size = 16384;",
        )?;
        conn.execute_batch(SIDE_TABLES)?;
        let (tx, rx) = mpsc::sync_channel::<Vec<TextRow>>(4);
        let abandoned = Arc::new(AtomicBool::new(false));
        let interrupt = conn.get_interrupt_handle();
        let stop = Arc::clone(&abandoned);
        let thread = std::thread::Builder::new()
            .name("evforensics-fts".into())
            .spawn(move || -> Result<Built, StoreError> {
                conn.execute_batch("BEGIN")?;
                {
                    let mut insert = conn.prepare(
                        "INSERT INTO side_rows (id, reason, message, involved_name)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?;
                    for batch in rx {
                        for row in batch {
                            insert.execute(rusqlite::params![
                                row.id,
                                row.reason,
                                row.message,
                                row.involved_name
                            ])?;
                        }
                    }
                }
                if stop.load(Ordering::Relaxed) {
                    return Err(StoreError::Io {
                        path: "thread evforensics-fts".into(),
                        source: std::io::Error::other("the load was abandoned"),
                    });
                }
                // The load's rows are all in: index them.
                conn.execute_batch("INSERT INTO side_fts (side_fts) VALUES ('rebuild'); COMMIT;")?;
                Ok(Built { conn, _file: temp })
            })
            .map_err(|e| StoreError::Io {
                path: "thread evforensics-fts".into(),
                source: e,
            })?;
        Ok(TextIndexBuilder {
            rows: Some(tx),
            thread: Some(thread),
            abandoned,
            interrupt,
        })
    }

    /// Hands a batch of rows to the builder. False when it stopped (an
    /// error it reports in [`finish`](Self::finish)).
    pub(super) fn send(&self, rows: Vec<TextRow>) -> bool {
        self.rows.as_ref().is_some_and(|tx| tx.send(rows).is_ok())
    }

    /// No more rows: the builder indexes what it received.
    pub(super) fn close(&mut self) {
        drop(self.rows.take());
    }

    /// Waits for the builder and copies its index into `conn`'s empty
    /// `events_fts` (inside the caller's transaction; a transaction cannot
    /// attach a database, so the rows go through this process).
    pub(super) fn finish(mut self, conn: &Connection) -> Result<(), StoreError> {
        drop(self.rows.take());
        let built = match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result?,
            _ => {
                return Err(StoreError::Io {
                    path: "thread evforensics-fts".into(),
                    source: std::io::Error::other("the text index builder stopped"),
                })
            }
        };
        for (ours, theirs, columns) in SHADOW_TABLES {
            conn.execute_batch(&format!("DELETE FROM main.{ours}"))?;
            let placeholders = vec!["?"; columns].join(", ");
            let mut insert =
                conn.prepare(&format!("INSERT INTO main.{ours} VALUES ({placeholders})"))?;
            let mut select = built.conn.prepare(&format!("SELECT * FROM {theirs}"))?;
            let mut rows = select.query([])?;
            while let Some(row) = rows.next()? {
                for column in 0..columns {
                    let value = rusqlite::types::ToSqlOutput::Borrowed(row.get_ref(column)?);
                    insert.raw_bind_parameter(column + 1, value)?;
                }
                insert.raw_execute()?;
            }
        }
        Ok(())
    }
}

impl Drop for TextIndexBuilder {
    fn drop(&mut self) {
        // A load that failed (`finish` took the thread otherwise): the
        // builder stops before it indexes, or in the middle (its temp file
        // goes with it).
        if let Some(thread) = self.thread.take() {
            self.abandoned.store(true, Ordering::Relaxed);
            drop(self.rows.take());
            self.interrupt.interrupt();
            let _ = thread.join();
        }
    }
}
