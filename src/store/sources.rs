//! The rows every load writes, whatever its input (etcd or an audit log):
//! its `sources` row and its damaged records.

use rusqlite::{params, Connection, OptionalExtension};

use super::error::StoreError;
use super::rows::{DamageRow, SourceRecord};

/// Records a source (its `sources` row) inside the load's transaction.
pub(super) fn insert_source(tx: &Connection, source: &SourceRecord) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO sources (kind, location, sha256, size_bytes, compression, content_sha256,
            trailer, trailer_sha256, prefix, bolt_page_size, bolt_txid, bolt_meta_page,
            bolt_meta_note, ingested_at, tool_version, cluster)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
            strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?14, ?15)",
        params![
            source.kind,
            source.location,
            source.sha256,
            source.size_bytes as i64,
            source.compression,
            source.content_sha256,
            source.trailer,
            source.trailer_sha256,
            source.prefix,
            source.bolt_page_size,
            source.bolt_txid,
            source.bolt_meta_page,
            source.bolt_meta_note,
            concat!("evforensics ", env!("CARGO_PKG_VERSION")),
            source.cluster,
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Refuses a source whose cluster differs from one the database holds —
/// by name (`--cluster`) or by the kube-system namespace's uid — and
/// otherwise gives every source the database's one cluster name, when one
/// was given (to this load or an earlier one). Returns that name.
pub(super) fn settle_cluster(
    tx: &Connection,
    source_id: i64,
    kube_system_uid: Option<&str>,
) -> Result<Option<String>, StoreError> {
    tx.execute(
        "UPDATE sources SET kube_system_uid = ?2 WHERE id = ?1",
        params![source_id, kube_system_uid],
    )?;
    let other = tx
        .query_row(
            "SELECT o.id, o.location,
                    CASE WHEN o.cluster IS NOT NULL AND s.cluster IS NOT NULL AND o.cluster != s.cluster
                         THEN 'it is named ' || s.cluster || ', that one ' || o.cluster
                         ELSE 'its kube-system namespace has uid ' || s.kube_system_uid
                              || ', that one''s ' || o.kube_system_uid END
             FROM sources s, sources o
             WHERE s.id = ?1 AND o.id != ?1
               AND ((o.cluster IS NOT NULL AND s.cluster IS NOT NULL AND o.cluster != s.cluster)
                 OR (o.kube_system_uid IS NOT NULL AND s.kube_system_uid IS NOT NULL
                     AND o.kube_system_uid != s.kube_system_uid))
             ORDER BY o.id LIMIT 1",
            [source_id],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)),
        )
        .optional()?;
    if let Some((other_source, other_location, why)) = other {
        return Err(StoreError::OtherCluster {
            other_source,
            other_location,
            why,
        });
    }
    tx.execute(
        "UPDATE sources SET cluster = (SELECT cluster FROM sources WHERE cluster IS NOT NULL
                                       ORDER BY id LIMIT 1)
         WHERE cluster IS NULL",
        [],
    )?;
    Ok(tx
        .query_row(
            "SELECT cluster FROM sources WHERE id = ?1",
            [source_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

/// Stores records that could not be read.
pub(super) fn insert_damage(
    tx: &Connection,
    source_id: i64,
    rows: &[DamageRow],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO damaged_records (source_id, page, offset, revision, sub_revision, key, file, line, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for row in rows {
        insert.execute(params![
            source_id,
            row.page,
            row.offset,
            row.revision,
            row.sub_revision,
            row.key,
            row.file,
            row.line,
            row.reason
        ])?;
    }
    Ok(())
}

impl super::Store {
    /// The names of the clusters the database's sources come from (as
    /// `ingest --cluster` gave them), in the order first loaded; empty when
    /// no load named one. A database holds one cluster (a load naming
    /// another, or whose kube-system namespace has another uid, is
    /// refused), so this is at most one name; a list, so that callers (the
    /// export's `cluster=NAME` partition) need not change if that rule
    /// does.
    pub fn cluster_names(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.connection().prepare(
            "SELECT cluster FROM sources WHERE cluster IS NOT NULL
             GROUP BY cluster ORDER BY min(id)",
        )?;
        let names = stmt.query_map([], |r| r.get(0))?;
        Ok(names.collect::<Result<_, _>>()?)
    }
}
