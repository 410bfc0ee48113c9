//! Liveness and deletion revisions: what needs a key's whole history
//! rather than one revision, derived in set-based SQL over indexed columns
//! once a source's rows are in, so that memory stays flat however many
//! rows a source holds.
//!
//! - `source_revisions.live`: the newest revision of each key in that
//!   source, when it is not a tombstone;
//! - `events.live`: live in the source with the highest head revision (the
//!   newest view of the cluster the database holds);
//! - `events.deleted_revision`: the first tombstone of the key after the put.
//!
//! The same for the other objects' tables ([`OBJECTS`]).

use rusqlite::{params, Connection};

use super::error::StoreError;

/// The tables of one family of keys: Event keys (`events`, `deletions`,
/// `source_revisions`) or the other objects' keys (`objects`,
/// `object_deletions`, `object_source_revisions`). Liveness and deletion
/// revisions are derived the same way for both.
#[derive(Debug, Clone, Copy)]
pub(super) struct Family {
    pub(super) rows: &'static str,
    pub(super) deletions: &'static str,
    pub(super) revisions: &'static str,
    /// Records that the source holds a revision (see [`INSERT_SOURCE_REVISION`]).
    pub(super) link: &'static str,
}

pub(super) const EVENTS: Family = Family {
    rows: "event_revisions",
    deletions: "deletions",
    revisions: "source_revisions",
    link: INSERT_SOURCE_REVISION,
};

pub(super) const OBJECTS: Family = Family {
    rows: "objects",
    deletions: "object_deletions",
    revisions: "object_source_revisions",
    link: INSERT_OBJECT_SOURCE_REVISION,
};

/// A revision a source holds. A second copy in the same source (a free
/// page holding what the tree holds) changes nothing.
const INSERT_SOURCE_REVISION: &str = "INSERT OR IGNORE INTO source_revisions
    (source_id, key, revision, sub_revision, tombstone, recovered_from, live)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const INSERT_OBJECT_SOURCE_REVISION: &str = "INSERT OR IGNORE INTO object_source_revisions
    (source_id, key, revision, sub_revision, tombstone, recovered_from, live)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// The `source_revisions` entries of the Event rows, all of one source
/// (the database held none before), in one statement: in revision order, so that they
/// append to the table's primary key. A tombstone linked earlier at the
/// same revision (only damaged input can hold both) keeps its entry.
pub(super) fn link_event_rows(tx: &Connection) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO source_revisions
            (source_id, key, revision, sub_revision, tombstone, recovered_from, live)
         SELECT source_id, key, mod_revision, sub_revision, 0, recovered_from, live
         FROM event_revisions INDEXED BY events_by_revision
         ORDER BY mod_revision, sub_revision, key",
        [],
    )?;
    Ok(())
}

/// Live within this source: no later revision (put or tombstone) of the
/// same key in the same source, read from what etcd itself reads (the tree
/// of a snapshot, or the API of a live etcd) rather than from a free page.
/// One sort by key over the source's revisions, rather than one lookup per
/// row.
pub(super) fn derive_source_liveness(
    tx: &Connection,
    sid: i64,
    f: Family,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "UPDATE {rev} SET live = 1
             WHERE source_id = ?1 AND (revision, sub_revision, key) IN (
                SELECT revision, sub_revision, key FROM (
                    SELECT revision, sub_revision, key, tombstone, recovered_from,
                           row_number() OVER (PARTITION BY key
                               ORDER BY revision DESC, sub_revision DESC) AS newest
                    FROM {rev} WHERE source_id = ?1)
                WHERE newest = 1 AND tombstone = 0 AND recovered_from != 'free-page')",
            rev = f.revisions
        ),
        [sid],
    )?;
    Ok(())
}

/// `live` of the family's rows with id above `scope`: live in the newest
/// source. Only rows whose value changes are rewritten.
pub(super) fn derive_live(
    tx: &Connection,
    f: Family,
    newest: i64,
    scope: i64,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "UPDATE {rows} SET live = 1 WHERE id > ?2 AND live = 0
               AND (mod_revision, sub_revision, key) IN (
                 SELECT revision, sub_revision, key FROM {rev}
                 WHERE source_id = ?1 AND live = 1)",
            rows = f.rows,
            rev = f.revisions
        ),
        params![newest, scope],
    )?;
    tx.execute(
        &format!(
            "UPDATE {rows} SET live = 0 WHERE id > ?2 AND live = 1
               AND (mod_revision, sub_revision, key) NOT IN (
                 SELECT revision, sub_revision, key FROM {rev}
                 WHERE source_id = ?1 AND live = 1)",
            rows = f.rows,
            rev = f.revisions
        ),
        params![newest, scope],
    )?;
    Ok(())
}

/// The tombstone that ended each put's generation: the key's first
/// deletion after it. Only the rows added after `rows_before` and the keys
/// of the tombstones added after `deletions_before` can change.
pub(super) fn derive_deleted_revision(
    tx: &Connection,
    f: Family,
    rows_before: i64,
    deletions_before: i64,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "UPDATE {rows} SET deleted_revision = (
                SELECT min(d.revision) FROM {del} AS d
                WHERE d.key = {rows}.key AND d.revision > {rows}.mod_revision)
             WHERE id > ?1 OR key IN (SELECT key FROM {del} WHERE id > ?2)",
            rows = f.rows,
            del = f.deletions
        ),
        params![rows_before, deletions_before],
    )?;
    Ok(())
}

/// The keys a data directory's WAL added rows or tombstones to (the
/// family's rows with id above `rows_from`, its tombstones above
/// `deletions_from`), when the rest came with the fates of the db's
/// histories: their `live` and `deleted_revision` derived again from the
/// whole history, and their links' `live` with them. Only for a load that
/// is the database's only source (its rows are the source's).
///
/// The new values are worked out first (through the covering key indexes:
/// etcd never writes one key twice in a revision, so the main revision
/// orders a key's writes), then only the rows that change are rewritten,
/// in row order: rewriting rows in key order would visit the table's
/// pages at random.
pub(super) fn rederive_wal_keys(
    tx: &Connection,
    sid: i64,
    f: Family,
    rows_from: i64,
    deletions_from: i64,
) -> Result<(), StoreError> {
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS wal_keys (key TEXT PRIMARY KEY) WITHOUT ROWID;
         DELETE FROM temp.wal_keys;
         CREATE TEMP TABLE IF NOT EXISTS wal_fates
             (id INTEGER PRIMARY KEY, live INTEGER NOT NULL, deleted_revision INTEGER);
         DELETE FROM temp.wal_fates;",
    )?;
    let keys = tx.execute(
        &format!(
            "INSERT OR IGNORE INTO temp.wal_keys
                 SELECT key FROM {rows} WHERE id > ?1
                 UNION ALL SELECT key FROM {del} WHERE id > ?2",
            rows = f.rows,
            del = f.deletions
        ),
        params![rows_from, deletions_from],
    )?;
    if keys == 0 {
        return Ok(());
    }
    // When the WAL touched many of the keys, one pass over the table in
    // row order beats a search per key.
    let rows: i64 = tx.query_row(&format!("SELECT count(*) FROM {}", f.rows), [], |r| {
        r.get(0)
    })?;
    let access = if (keys as i64).saturating_mul(8) >= rows {
        "NOT INDEXED"
    } else {
        ""
    };
    tx.execute(
        &format!(
            "WITH computed AS MATERIALIZED (
                SELECT e.id, e.live, e.deleted_revision,
                    (e.recovered_from != 'free-page'
                     AND NOT EXISTS (SELECT 1 FROM {rows} AS r
                         WHERE r.key = e.key AND r.mod_revision > e.mod_revision)
                     AND NOT EXISTS (SELECT 1 FROM {del} AS d
                         WHERE d.key = e.key AND d.revision > e.mod_revision)) AS new_live,
                    (SELECT min(d.revision) FROM {del} AS d
                         WHERE d.key = e.key AND d.revision > e.mod_revision) AS new_deleted
                FROM {rows} AS e {access}
                WHERE e.key IN (SELECT key FROM temp.wal_keys))
             INSERT INTO temp.wal_fates (id, live, deleted_revision)
             SELECT id, new_live, new_deleted FROM computed
             WHERE new_live IS NOT live OR new_deleted IS NOT deleted_revision",
            rows = f.rows,
            del = f.deletions
        ),
        [],
    )?;
    tx.execute(
        &format!(
            "UPDATE {rows} SET
                live = (SELECT f.live FROM temp.wal_fates AS f WHERE f.id = {rows}.id),
                deleted_revision =
                    (SELECT f.deleted_revision FROM temp.wal_fates AS f WHERE f.id = {rows}.id)
             WHERE id IN (SELECT id FROM temp.wal_fates)",
            rows = f.rows
        ),
        [],
    )?;
    tx.execute(
        &format!(
            "UPDATE {rev} SET live = (SELECT r.live FROM {rows} AS r
                 WHERE r.mod_revision = {rev}.revision AND r.sub_revision = {rev}.sub_revision
                   AND r.key = {rev}.key)
             WHERE (source_id, revision, sub_revision, key) IN (
                 SELECT ?1, r.mod_revision, r.sub_revision, r.key
                 FROM temp.wal_fates AS f CROSS JOIN {rows} AS r ON r.id = f.id)",
            rows = f.rows,
            rev = f.revisions
        ),
        [sid],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::store::sql::query_one;
    use crate::store::test_rows::{deletion, event, load, rows};
    use crate::store::Store;

    /// Two snapshots merge: `live` follows the newest source (an older one
    /// loaded later resurrects nothing), `deleted_revision` the first
    /// tombstone after each put, each source's links are its own, and the
    /// text index finds the new rows.
    #[test]
    fn liveness_deletions_and_merge_of_two_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.sqlite")).unwrap();
        // Snapshot 1 (head 12): a updated at 11, b deleted at 12, c live.
        let s1 = load(
            &mut store,
            "aa",
            12,
            vec![
                event("/e/a", 10, 0, "Pulling"),
                event("/e/b", 10, 1, "BackOff"),
                event("/e/a", 11, 0, "Pulling"),
                event("/e/c", 11, 1, "Started"),
            ],
            vec![deletion("/e/b", 12, 0)],
        );
        assert_eq!(
            (
                s1.event_revisions,
                s1.new_event_revisions,
                s1.live_event_revisions,
                s1.tombstones
            ),
            (4, 4, 2, 1)
        );
        assert_eq!(
            rows(&store),
            vec![
                ("/e/a".into(), 10, 1, 0, None),
                ("/e/b".into(), 10, 1, 0, Some(12)),
                ("/e/a".into(), 11, 1, 1, None),
                ("/e/c".into(), 11, 1, 1, None),
            ]
        );
        // Snapshot 2 (head 20), an hour later: compaction dropped rev 10s,
        // c expired (lease revoke at 20), d is new.
        let s2 = load(
            &mut store,
            "bb",
            20,
            vec![
                event("/e/a", 11, 0, "Pulling"),
                event("/e/c", 11, 1, "Started"),
                event("/e/d", 15, 0, "Killing"),
            ],
            vec![deletion("/e/c", 20, 0)],
        );
        assert_eq!(
            (
                s2.event_revisions,
                s2.new_event_revisions,
                s2.live_event_revisions
            ),
            (3, 1, 2)
        );
        assert_eq!(
            rows(&store),
            vec![
                ("/e/a".into(), 10, 1, 0, None),
                ("/e/b".into(), 10, 1, 0, Some(12)),
                ("/e/a".into(), 11, 1, 1, None),
                ("/e/c".into(), 11, 1, 0, Some(20)),
                ("/e/d".into(), 15, 2, 1, None),
            ]
        );
        let links: i64 = query_one(
            store.connection(),
            "SELECT count(*) FROM source_revisions",
            [],
        )
        .unwrap();
        assert_eq!(links, 5 + 4);
        // Loading an older snapshot after a newer one does not resurrect.
        let s0 = load(
            &mut store,
            "cc",
            9,
            vec![event("/e/z", 9, 0, "Old")],
            vec![],
        );
        assert_eq!(s0.live_event_revisions, 1);
        let z_live: i64 = query_one(
            store.connection(),
            "SELECT live FROM events WHERE key = '/e/z'",
            [],
        )
        .unwrap();
        assert_eq!(z_live, 0, "live follows the newest source");
        // Full-text search finds the new rows.
        let hits: i64 = query_one(
            store.connection(),
            "SELECT count(*) FROM events_fts WHERE events_fts MATCH 'killing'",
            [],
        )
        .unwrap();
        assert_eq!(hits, 1);
    }
}
