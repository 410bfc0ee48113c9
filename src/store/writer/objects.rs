//! Revisions of the objects that are not Events: their metadata into
//! `objects`, each linked to the source.

use rusqlite::params;

use super::sink::{Link, Sink};
use crate::store::error::StoreError;
use crate::store::liveness::OBJECTS;
use crate::store::rows::ObjectRow;

const INSERT_OBJECT: &str = "INSERT INTO objects (
    source_id, key, resource, mod_revision, sub_revision, create_revision, version, lease,
    recovered_from, encoding, decode_note, api_version, kind, namespace, name, uid,
    creation_timestamp, deletion_timestamp, labels, owner_references, live, deleted_revision)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
    ?21, ?22)
  ON CONFLICT (mod_revision, sub_revision, key) DO NOTHING";

/// Writes a batch of object revisions; one the source already holds is
/// skipped.
pub(super) fn write_objects(sink: &mut Sink<'_>, rows: &[ObjectRow]) -> Result<(), StoreError> {
    let mut insert = sink.conn.prepare_cached(INSERT_OBJECT)?;
    let mut link = sink.conn.prepare_cached(OBJECTS.link)?;
    for row in rows {
        // Read before a copy the database holds is skipped: the identity
        // is this source's own, even where another cluster's row sits at
        // the same key and revision.
        if row.key.ends_with("/namespaces/kube-system")
            && row.uid.is_some()
            && row.mod_revision >= sink.summary.kube_system_revision
        {
            sink.summary.kube_system_uid = row.uid.clone();
            sink.summary.kube_system_revision = row.mod_revision;
        }
        let fate = sink.fate(row.fate);
        let linked = sink.link(
            &mut link,
            Link {
                key: &row.key,
                revision: row.mod_revision,
                sub_revision: row.sub_revision,
                tombstone: false,
                recovered_from: row.recovered_from,
                live: fate.live,
            },
        )?;
        if !linked {
            continue;
        }
        insert.execute(params![
            sink.source_id,
            row.key,
            row.resource,
            row.mod_revision,
            row.sub_revision,
            row.create_revision,
            row.version,
            row.lease,
            row.recovered_from,
            row.encoding,
            row.decode_note,
            row.api_version,
            row.kind,
            row.namespace,
            row.name,
            row.uid,
            row.creation_timestamp,
            row.deletion_timestamp,
            row.labels,
            row.owner_references,
            fate.live,
            fate.deleted_revision,
        ])?;
        sink.summary.object_revisions += 1;
    }
    Ok(())
}
