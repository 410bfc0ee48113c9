//! The output database file: opening it (a new one in a hidden temp file,
//! an existing one checked and migrated), publishing a new one under its
//! name once its first source is in, and one source's transaction
//! ([`Load`]). The writers start their loads from here (`begin_source`,
//! `begin_audit_source`).
//!
//! One source (a snapshot file, a data directory) is loaded in one
//! transaction: a failed or interrupted run rolls back and leaves what
//! earlier runs loaded untouched. A new database is built in a hidden temp
//! file beside it, without a journal, and appears under its name only once
//! its first source is in (a failed first load leaves nothing).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::error::StoreError;
use super::migrate;
use super::sql::{query_one, query_optional};
use crate::helpers::directory_of;

/// An open evforensics database.
///
/// A database that does not exist yet is built in a hidden temp file beside
/// the path asked for, without a rollback journal (there is nothing to
/// protect yet, and every page is then written once), and renamed to that
/// path when its first source is complete: the path never names a
/// half-loaded database, and a run that loads nothing leaves nothing behind.
/// From then on, and for an existing database, each source is one
/// transaction with a rollback journal: a failed run leaves what earlier
/// runs loaded untouched.
pub struct Store {
    conn: Connection,
    /// The database path the user named.
    path: PathBuf,
    /// Set while a new database is still being built in a temp file.
    unpublished: Option<Unpublished>,
}

/// A new database before its first source is complete.
struct Unpublished {
    temp: tempfile::TempPath,
    /// A load began in it: without a journal it cannot be rolled back, so
    /// the next load starts again from a new temp file.
    dirty: bool,
    /// Writing back what the load wrote so far, while it builds its indexes
    /// (see [`Load::start_writeback`]).
    writeback: Option<std::thread::JoinHandle<()>>,
}

/// Settings of every writing connection. A small page cache: the OS caches
/// the file anyway, and SQLite's memory during a load grows with it
/// (measured: ~3x the setting), while a larger one made the load no faster.
/// No sorter helper threads: index builds run beside the text index's.
const WRITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON;
     PRAGMA cache_size = -16384;
     PRAGMA temp_store = FILE;";

impl Store {
    /// Opens a database for writing, bringing its schema up to date, or
    /// prepares a new one (see [`Store`]) when `path` does not exist.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (temp, conn) = Store::new_temp_database(path)?;
                Ok(Store {
                    conn,
                    path: path.to_path_buf(),
                    unpublished: Some(Unpublished {
                        temp,
                        dirty: false,
                        writeback: None,
                    }),
                })
            }
            _ => Ok(Store {
                conn: Store::open_existing(path)?,
                path: path.to_path_buf(),
                unpublished: None,
            }),
        }
    }

    fn open_existing(path: &Path) -> Result<Connection, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Before any setting is changed: a database that is not ours (maybe
        // evidence itself) is refused untouched.
        let version = migrate::check_ours(&conn)?;
        // Rollback journal: one transaction per source is the unit of
        // atomicity, and no -wal/-shm files are left beside the output.
        conn.execute_batch("PRAGMA journal_mode = DELETE; PRAGMA synchronous = NORMAL;")?;
        conn.execute_batch(WRITE_PRAGMAS)?;
        migrate::upgrade(&conn, version)?;
        Ok(conn)
    }

    /// A new, empty database in a hidden temp file in `path`'s directory
    /// (so that the final rename stays on one file system).
    fn new_temp_database(path: &Path) -> Result<(tempfile::TempPath, Connection), StoreError> {
        let dir = directory_of(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "evforensics.sqlite".into());
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".partial");
        // The mode a database file gets from SQLite (0666 less the umask),
        // not a temp file's 0600.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let temp = builder
            .tempfile_in(dir)
            .map_err(|e| StoreError::io(path, e))?
            .into_temp_path();
        let conn = Connection::open(&temp)?;
        // Private to this run until it is renamed: no journal and no syncs
        // while loading (the file is synced once, before the rename).
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             PRAGMA locking_mode = EXCLUSIVE;",
        )?;
        conn.execute_batch(WRITE_PRAGMAS)?;
        // Nothing but this load writes here, and every row it writes names
        // its own source: checking each against `sources` only costs time
        // (tests run `PRAGMA foreign_key_check` on what it wrote).
        conn.execute_batch("PRAGMA foreign_keys = OFF;")?;
        migrate::migrate(&conn)?;
        Ok((temp, conn))
    }

    /// The database path the user named.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file loads write to now: the temp file of a new database not
    /// yet published, else the database itself.
    pub fn working_file(&self) -> &Path {
        match &self.unpublished {
            Some(u) => &u.temp,
            None => &self.path,
        }
    }

    /// The database's directory, where a load's temp files go: it needs
    /// room for the database anyway, and a system temp directory may be a
    /// RAM disk.
    pub fn directory(&self) -> &Path {
        directory_of(self.working_file())
    }

    /// Whether the database exists under the path the user named (a new one
    /// does once a source was loaded into it).
    pub fn is_published(&self) -> bool {
        self.unpublished.is_none()
    }

    /// Starts one source's transaction (for the writers).
    pub(super) fn begin_load(&mut self) -> Result<Load<'_>, StoreError> {
        if let Some(u) = &self.unpublished {
            if u.dirty {
                self.start_over()?;
            }
        }
        if let Some(u) = &mut self.unpublished {
            u.dirty = true;
        }
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Load {
            store: self,
            committed: false,
        })
    }

    /// Ends a load that failed.
    fn abort_load(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK");
        // Without a journal nothing was undone: start over in a new file
        // now, so that nothing reads the failed load's rows. If that fails,
        // the next load tries again (and reports why it cannot).
        if self.unpublished.is_some() {
            let _ = self.start_over();
        }
    }

    /// Replaces a new database's temp file by an empty one (the old file is
    /// removed with its path).
    fn start_over(&mut self) -> Result<(), StoreError> {
        let (temp, conn) = Store::new_temp_database(&self.path)?;
        self.conn = conn;
        self.unpublished = Some(Unpublished {
            temp,
            dirty: false,
            writeback: None,
        });
        Ok(())
    }

    /// Renames a new database into place once its first source is in. If
    /// that fails, the store starts over with an empty temp file.
    fn publish(&mut self) -> Result<(), StoreError> {
        if self.unpublished.is_none() {
            return Ok(());
        }
        if let Err(e) = self.try_publish() {
            let _ = self.start_over();
            return Err(e);
        }
        // Under its name now: a failure to reopen it must not start over
        // (the next load would find the name taken).
        self.conn = Store::open_existing(&self.path)?;
        Ok(())
    }

    fn try_publish(&mut self) -> Result<(), StoreError> {
        let Some(unpublished) = self.unpublished.take() else {
            return Ok(());
        };
        // Closed first: SQLite names its journal after the path it opened,
        // so the connection is reopened under the final name.
        let conn = std::mem::replace(&mut self.conn, Connection::open_in_memory()?);
        conn.close().map_err(|(_, e)| e)?;
        let temp = unpublished.temp;
        if let Some(writeback) = unpublished.writeback {
            let _ = writeback.join();
        }
        std::fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(&temp, e))?;
        // Never replaces a file: another program may have created the
        // path since this run looked.
        match temp.persist_noclobber(&self.path) {
            Ok(()) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::CreatedMeanwhile {
                    path: self.path.display().to_string(),
                })
            }
            Err(e) => return Err(StoreError::io(&self.path, e.error)),
        }
        // The new name too must survive a crash (best effort: not every
        // file system lets a directory be synced).
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }

    /// Opens an existing database read-only (for `query`, tests and reports).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        migrate::check_readable(&conn)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            unpublished: None,
        })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The source already loaded from a file with this content and prefix.
    pub fn source_by_content(&self, sha256: &str, prefix: &str) -> Result<Option<i64>, StoreError> {
        query_optional(
            &self.conn,
            "SELECT id FROM sources WHERE sha256 = ?1 AND prefix = ?2",
            rusqlite::params![sha256, prefix],
        )
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

    /// Whether the database holds rows read from etcd (Event or object
    /// revisions, tombstones). Until it does, a load may bring its rows'
    /// `live` and `deleted_revision` along (see [`super::LoadPlan`]).
    pub fn holds_etcd_rows(&self) -> Result<bool, StoreError> {
        query_one(
            &self.conn,
            "SELECT EXISTS (SELECT 1 FROM event_revisions) OR EXISTS (SELECT 1 FROM deletions)
                 OR EXISTS (SELECT 1 FROM objects) OR EXISTS (SELECT 1 FROM object_deletions)",
            [],
        )
    }
}

/// One source's transaction: rolled back when dropped uncommitted.
pub(super) struct Load<'s> {
    store: &'s mut Store,
    committed: bool,
}

impl Load<'_> {
    pub(super) fn conn(&self) -> &Connection {
        &self.store.conn
    }

    /// Where the load's temp files go (see [`Store::directory`]).
    pub(super) fn directory(&self) -> &Path {
        self.store.directory()
    }

    /// For a new database: starts writing back to disk what the load wrote
    /// so far, on another thread, so that the sync before its rename has
    /// little left to do (the writer meanwhile builds indexes, which needs
    /// CPU, not the disk).
    pub(super) fn start_writeback(&mut self) {
        if let Some(u) = &mut self.store.unpublished {
            if u.writeback.is_none() {
                let path = u.temp.to_path_buf();
                u.writeback = std::thread::Builder::new()
                    .name("evforensics-writeback".into())
                    .spawn(move || {
                        if let Ok(file) = std::fs::File::open(path) {
                            let _ = file.sync_data();
                        }
                    })
                    .ok();
            }
        }
    }

    /// Commits, and publishes a new database under its final name.
    pub(super) fn commit(mut self) -> Result<(), StoreError> {
        self.store.conn.execute_batch("COMMIT")?;
        self.committed = true;
        self.store.publish()
    }
}

impl Drop for Load<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.store.abort_load();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_rows::{event, load, rows, source};
    use crate::store::{Batch, LoadPlan, SourceFacts};

    /// A load dropped without `finish` leaves the database as the earlier
    /// loads left it.
    #[test]
    fn an_unfinished_load_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let mut store = Store::open(&path).unwrap();
        load(
            &mut store,
            "aa",
            10,
            vec![event("/e/a", 10, 0, "X")],
            vec![],
        );
        {
            let mut w = store
                .begin_source(&source("bb"), LoadPlan::default())
                .unwrap();
            w.write(Batch::Events(vec![event("/e/b", 11, 0, "Y")]))
                .unwrap();
            // dropped without finish: a failed run
        }
        drop(store);
        let store = Store::open_read_only(&path).unwrap();
        assert_eq!(rows(&store).len(), 1);
        let sources: i64 =
            query_one(store.connection(), "SELECT count(*) FROM sources", []).unwrap();
        assert_eq!(sources, 1);
    }

    fn files_in(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A new database appears under its name only once its first source is
    /// in: a failed first load leaves nothing behind, and the next load
    /// starts from an empty database.
    #[test]
    fn a_new_database_appears_once_its_first_source_is_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite");
        let mut store = Store::open(&path).unwrap();
        assert!(!path.exists() && !store.is_published());
        let first_temp = store.working_file().to_path_buf();
        assert_eq!(first_temp.parent(), Some(dir.path()));
        {
            let mut w = store
                .begin_source(&source("aa"), LoadPlan::default())
                .unwrap();
            w.write(Batch::Events(vec![event("/e/a", 10, 0, "X")]))
                .unwrap();
            // dropped without finish: a failed load
        }
        assert!(!path.exists());
        assert!(!first_temp.exists(), "the failed load's file is gone");
        let sources: i64 =
            query_one(store.connection(), "SELECT count(*) FROM sources", []).unwrap();
        assert_eq!(sources, 0, "nothing of the failed load is seen");

        load(
            &mut store,
            "bb",
            11,
            vec![event("/e/b", 11, 0, "Y")],
            vec![],
        );
        assert!(store.is_published());
        #[cfg(unix)]
        {
            // The mode of any file SQLite creates (0666 less the umask),
            // not a temp file's 0600.
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode();
            let probe = dir.path().join("probe");
            std::fs::write(&probe, b"").unwrap();
            assert_eq!(mode(&path) & 0o777, mode(&probe) & 0o777);
            std::fs::remove_file(&probe).unwrap();
        }
        assert_eq!(store.working_file(), path.as_path());
        assert_eq!(files_in(dir.path()), ["new.sqlite"]);
        // Loads into a published database are transactions again.
        {
            let mut w = store
                .begin_source(&source("cc"), LoadPlan::default())
                .unwrap();
            w.write(Batch::Events(vec![event("/e/c", 12, 0, "Z")]))
                .unwrap();
        }
        drop(store);
        let store = Store::open_read_only(&path).unwrap();
        assert_eq!(rows(&store), vec![("/e/b".into(), 11, 1, 1, None)]);
    }

    /// A file that appears under the database's name while a new database is
    /// being loaded is never replaced.
    #[test]
    fn a_file_created_meanwhile_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite");
        let mut store = Store::open(&path).unwrap();
        std::fs::write(&path, b"someone else's").unwrap();
        let mut w = store
            .begin_source(&source("aa"), LoadPlan::default())
            .unwrap();
        w.write(Batch::Events(vec![event("/e/a", 10, 0, "X")]))
            .unwrap();
        let err = w.finish(&SourceFacts::default()).unwrap_err();
        assert!(matches!(err, StoreError::CreatedMeanwhile { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
        drop(store);
        assert_eq!(files_in(dir.path()), ["new.sqlite"]);
    }

    /// Someone else's WAL database is refused before any setting changes:
    /// its bytes (WAL mode in the header) stay as they were.
    #[test]
    fn a_foreign_database_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("browser-history.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE visits (url TEXT); INSERT INTO visits VALUES ('x');")
            .unwrap();
        drop(conn);
        let before = std::fs::read(&path).unwrap();
        assert_eq!(&before[18..20], &[2, 2], "WAL mode in the header");
        assert!(matches!(Store::open(&path), Err(StoreError::NotOurs)));
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    /// A database with tables but no version is not ours; one of a newer
    /// version is refused with that version.
    #[test]
    fn refuses_foreign_or_newer_databases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE x (y)").unwrap();
        drop(conn);
        assert!(matches!(Store::open(&path), Err(StoreError::NotOurs)));
        let path = dir.path().join("newer.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        drop(conn);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::UnsupportedVersion(99))
        ));
    }
}
