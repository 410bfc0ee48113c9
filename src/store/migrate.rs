//! Bringing a database to [`SCHEMA_VERSION`]: which databases this build
//! may open, and one ladder of version steps.
//!
//! A database is ours when it is an empty file (version 0, no tables) or
//! carries an evforensics version in `PRAGMA user_version`. An empty one
//! climbs the whole ladder from version 1's DDL, an older one the rungs
//! above its version, in one transaction either way: a new database and a
//! migrated one have the same schema, and a failed migration leaves the
//! database as it was.

use rusqlite::Connection;

use super::error::StoreError;
use super::schema::{
    QueryIndex, EVENT_QUERY_INDEXES_V6, OBJECT_QUERY_INDEXES, OBJECT_QUERY_INDEXES_V6,
    QUERY_INDEXES, QUERY_INDEXES_V1, SCHEMA_V1, SCHEMA_VERSION, UPGRADE_TO_V2, UPGRADE_TO_V3,
    UPGRADE_TO_V4, UPGRADE_TO_V5, UPGRADE_TO_V6,
};
use super::sql::query_one;

/// One step of the ladder: from the version of its place in [`LADDER`] to
/// the next.
type Rung = fn(&Connection) -> Result<(), StoreError>;

/// Rung `n` takes a database from version `n` to `n + 1`; rung 0 creates
/// version 1 in an empty database.
const LADDER: [Rung; SCHEMA_VERSION as usize] = [
    create_v1,
    upgrade_to_v2,
    upgrade_to_v3,
    upgrade_to_v4,
    upgrade_to_v5,
    upgrade_to_v6,
];

/// Version 1's tables, views and indexes, as evforensics 0.1 wrote them.
fn create_v1(tx: &Connection) -> Result<(), StoreError> {
    tx.execute_batch(SCHEMA_V1)?;
    for create in QUERY_INDEXES_V1 {
        tx.execute_batch(create)?;
    }
    Ok(())
}

fn upgrade_to_v2(tx: &Connection) -> Result<(), StoreError> {
    Ok(tx.execute_batch(UPGRADE_TO_V2)?)
}

fn upgrade_to_v3(tx: &Connection) -> Result<(), StoreError> {
    tx.execute_batch(UPGRADE_TO_V3)?;
    create_indexes(tx, OBJECT_QUERY_INDEXES)
}

/// Version 4's tables, rows moved from `events`, and its indexes.
fn upgrade_to_v4(tx: &Connection) -> Result<(), StoreError> {
    tx.execute_batch(UPGRADE_TO_V4)?;
    create_indexes(tx, QUERY_INDEXES)
}

fn upgrade_to_v5(tx: &Connection) -> Result<(), StoreError> {
    Ok(tx.execute_batch(UPGRADE_TO_V5)?)
}

/// Version 6 (speed of every question): audit indexes, then the query
/// indexes of Event revisions and objects that fetch one object's lines.
fn upgrade_to_v6(tx: &Connection) -> Result<(), StoreError> {
    tx.execute_batch(UPGRADE_TO_V6)?;
    create_indexes(tx, EVENT_QUERY_INDEXES_V6)?;
    create_indexes(tx, OBJECT_QUERY_INDEXES_V6)
}

fn create_indexes(tx: &Connection, indexes: &[QueryIndex]) -> Result<(), StoreError> {
    for index in indexes {
        tx.execute_batch(index.create)?;
    }
    Ok(())
}

/// `PRAGMA user_version`: the schema version evforensics recorded.
pub(super) fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    query_one(conn, "PRAGMA user_version", [])
}

/// The schema version of a database this build may write to: 0 for an
/// empty one. Refuses, without writing anything, a database that is not an
/// empty one or an evforensics database of a version this build knows.
pub(super) fn check_ours(conn: &Connection) -> Result<i64, StoreError> {
    let version = user_version(conn)?;
    if !(0..=SCHEMA_VERSION).contains(&version) {
        return Err(StoreError::UnsupportedVersion(version));
    }
    if version == 0 && table_count(conn)? > 0 {
        return Err(StoreError::NotOurs);
    }
    Ok(version)
}

fn table_count(conn: &Connection) -> Result<i64, StoreError> {
    query_one(
        conn,
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
        [],
    )
}

/// The schema version of a database opened to be read: any evforensics
/// version up to this build's (older versions read fine: they lack only the
/// newer tables).
pub(super) fn check_readable(conn: &Connection) -> Result<i64, StoreError> {
    let version = user_version(conn)?;
    if version == 0 {
        return Err(if table_count(conn)? == 0 {
            StoreError::EmptyDatabase
        } else {
            StoreError::NotOurs
        });
    }
    if !(1..=SCHEMA_VERSION).contains(&version) {
        return Err(StoreError::UnsupportedVersion(version));
    }
    Ok(version)
}

/// Brings a database [`check_ours`] found at `version` to
/// [`SCHEMA_VERSION`], all or nothing.
pub(super) fn upgrade(conn: &Connection, version: i64) -> Result<(), StoreError> {
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if version == 0 {
        // Event rows are a few KB (JSON object + raw bytes): larger pages
        // mean fewer page operations per row and shallower indexes.
        conn.execute_batch("PRAGMA page_size = 16384;")?;
    }
    let tx = conn.unchecked_transaction()?;
    for rung in &LADDER[version as usize..] {
        rung(&tx)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Checks a database ([`check_ours`]) and brings it up to date
/// ([`upgrade`]).
pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version = check_ours(conn)?;
    upgrade(conn, version)
}
#[cfg(test)]
mod tests {
    use super::*;

    fn columns(conn: &Connection, table: &str) -> Vec<String> {
        let mut st = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn schema_of(conn: &Connection) -> Vec<(String, String)> {
        let mut st = conn
            .prepare("SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Version 1's DDL is history (migration tests build version-1
    /// databases from it): the text evforensics 0.1 ran, byte for byte.
    #[test]
    fn version_1_is_frozen() {
        use sha2::{Digest, Sha256};
        assert_eq!(
            crate::helpers::hex(&Sha256::digest(SCHEMA_V1)),
            "a766ab5f9221f41766099315a4c0276216594628031cb790a2445cd2ede4b82e"
        );
    }

    /// A version-1 database (as evforensics 0.1 wrote it) gains the audit
    /// tables, keeps its rows, and ends with the same schema as a new one.
    #[test]
    fn migrates_version_1_to_2() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("v1.sqlite");
        let conn = Connection::open(&old).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        for create in QUERY_INDEXES_V1 {
            conn.execute_batch(create).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO sources (kind, location, sha256, size_bytes, trailer, prefix, ingested_at, tool_version)
               VALUES ('etcd-db', '/e/db', 'aa', 1, 'absent', '/registry/events/', 'now', 'evforensics 0.1.0');
             INSERT INTO damaged_records (source_id, page, reason) VALUES (1, 7, 'bad page');
             PRAGMA user_version = 1;",
        )
        .unwrap();
        drop(conn);

        let conn = Connection::open(&old).unwrap();
        migrate(&conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        let (kind, audit, page, line): (String, i64, i64, Option<i64>) = conn
            .query_row(
                "SELECT s.kind, s.audit_events, d.page, d.line
                 FROM sources s JOIN damaged_records d ON d.source_id = s.id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!((kind.as_str(), audit, page, line), ("etcd-db", 0, 7, None));
        assert!(columns(&conn, "audit_events").contains(&"audit_id".to_string()));
        // Migrating again changes nothing.
        migrate(&conn).unwrap();

        let fresh = Connection::open(dir.path().join("v2.sqlite")).unwrap();
        migrate(&fresh).unwrap();
        assert_eq!(schema_of(&conn), schema_of(&fresh));
        for table in ["sources", "damaged_records", "audit_events", "events"] {
            assert_eq!(columns(&conn, table), columns(&fresh, table), "{table}");
        }
    }

    /// A version-2 database gains `objects`, the object revision tables and
    /// the timeline views, keeps its rows, and ends like a new one.
    #[test]
    fn migrates_version_2_to_3() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("v2.sqlite");
        let conn = Connection::open(&old).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        for create in QUERY_INDEXES_V1 {
            conn.execute_batch(create).unwrap();
        }
        conn.execute_batch(UPGRADE_TO_V2).unwrap();
        conn.execute_batch(
            "INSERT INTO sources (kind, location, sha256, size_bytes, trailer, prefix, ingested_at, tool_version)
               VALUES ('audit-log', '/e/audit.log', 'bb', 1, 'absent', '', 'now', 'evforensics 0.1.0');
             INSERT INTO audit_events (source_id, file, line, audit_id, stage, verb, object_resource,
                 object_namespace, object_name, username, stage_timestamp, raw)
               VALUES (1, '/e/audit.log', 1, 'a-1', 'ResponseComplete', 'patch', 'deployments',
                 'shop', 'web', 'alice', '2026-11-20T09:30:00.000000Z', '{}');
             PRAGMA user_version = 2;",
        )
        .unwrap();
        drop(conn);

        let conn = Connection::open(&old).unwrap();
        migrate(&conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        let (kind, object_revisions): (String, i64) = conn
            .query_row("SELECT kind, object_revisions FROM sources", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((kind.as_str(), object_revisions), ("audit-log", 0));
        // The audit entry is in the timeline, as a write to a Deployment
        // (the kind comes from the built-in resource table: no objects yet).
        let (source, object_kind, username, write): (String, String, String, i64) = conn
            .query_row(
                "SELECT source, object_kind, username, write FROM timeline",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            (
                source.as_str(),
                object_kind.as_str(),
                username.as_str(),
                write
            ),
            ("audit", "Deployment", "alice", 1)
        );
        let causes: i64 = query_one(&conn, "SELECT count(*) FROM event_causes", []).unwrap();
        assert_eq!(causes, 0);
        migrate(&conn).unwrap();

        let fresh = Connection::open(dir.path().join("v3.sqlite")).unwrap();
        migrate(&fresh).unwrap();
        assert_eq!(schema_of(&conn), schema_of(&fresh));
        for table in [
            "sources",
            "objects",
            "object_deletions",
            "object_source_revisions",
        ] {
            assert_eq!(columns(&conn, table), columns(&fresh, table), "{table}");
        }
    }

    /// A version-3 database (Events in one wide table) gets `events` as a
    /// view over `event_revisions` and `event_values`: same columns in the
    /// same order, same rows and ids, the indexes and the text index moved
    /// along.
    #[test]
    fn migrates_version_3_to_4() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("v3.sqlite");
        let conn = Connection::open(&old).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        for create in QUERY_INDEXES_V1 {
            conn.execute_batch(create).unwrap();
        }
        conn.execute_batch(UPGRADE_TO_V2).unwrap();
        conn.execute_batch(UPGRADE_TO_V3).unwrap();
        for index in OBJECT_QUERY_INDEXES {
            conn.execute_batch(index.create).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO sources (kind, location, sha256, size_bytes, trailer, prefix, ingested_at, tool_version)
               VALUES ('etcd-snapshot', '/e/s.db', 'cc', 1, 'verified', '/registry/events/', 'now', 'evforensics 0.1.0');
             INSERT INTO events (id, source_id, key, mod_revision, sub_revision, live, recovered_from,
                 encoding, namespace, reason, message, involved_name, occurred_at, object, raw)
               VALUES (7, 1, '/registry/events/shop/web.1', 42, 0, 1, 'tree', 'protobuf', 'shop',
                 'BackOff', 'Back-off restarting failed container', 'web', '2026-11-20T09:30:00.000000Z',
                 '{\"kind\":\"Event\"}', x'6b387300');
             INSERT INTO events_fts (rowid, reason, message, involved_name)
               VALUES (7, 'BackOff', 'Back-off restarting failed container', 'web');
             PRAGMA user_version = 3;",
        )
        .unwrap();
        let columns_v3 = columns(&conn, "events");
        drop(conn);

        let conn = Connection::open(&old).unwrap();
        migrate(&conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        // Version 5 adds the WAL columns after `raw`; the rest is as it was.
        let mut columns_v5 = columns_v3.clone();
        columns_v5.extend(["raft_index", "raft_term", "revision_basis"].map(String::from));
        assert_eq!(columns(&conn, "events"), columns_v5);
        let (id, reason, object, raw): (i64, String, String, Vec<u8>) = conn
            .query_row(
                "SELECT id, reason, object, raw FROM events WHERE live = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            (id, reason.as_str(), object.as_str(), raw.as_slice()),
            (7, "BackOff", r#"{"kind":"Event"}"#, b"k8s\0".as_slice())
        );
        let hit: i64 = query_one(
            &conn,
            "SELECT rowid FROM events_fts WHERE events_fts MATCH '\"restarting failed\"'",
            [],
        )
        .unwrap();
        assert_eq!(hit, 7);
        conn.execute_batch("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")
            .unwrap();
        // The query indexes serve the view.
        let mut explain = conn
            .prepare("EXPLAIN QUERY PLAN SELECT message FROM events WHERE reason = 'BackOff'")
            .unwrap();
        let plan: Vec<String> = explain
            .query_map([], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join(" ");
        drop(explain);
        assert!(plan.contains("events_by_reason"), "{plan}");
        migrate(&conn).unwrap();

        let fresh = Connection::open(dir.path().join("v4.sqlite")).unwrap();
        migrate(&fresh).unwrap();
        assert_eq!(schema_of(&conn), schema_of(&fresh));
        for table in ["events", "event_revisions", "event_values"] {
            assert_eq!(columns(&conn, table), columns(&fresh, table), "{table}");
        }
        // Version 6: the row's fate and the sources' cluster columns.
        let fate: String =
            query_one(&conn, "SELECT fate FROM event_fates WHERE event_id = 7", []).unwrap();
        assert_eq!(fate, "live");
        let cluster: Option<String> = query_one(&conn, "SELECT cluster FROM sources", []).unwrap();
        assert_eq!(cluster, None);
        for table in ["sources", "expired_events", "timeline", "event_describe"] {
            assert_eq!(columns(&conn, table), columns(&fresh, table), "{table}");
        }
    }
}
