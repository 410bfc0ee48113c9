//! What the HTML page draws around the lines, read from the store once
//! the lines are known: each lane's object as `objects` holds it (its
//! owner, for nesting lanes Deployment → ReplicaSet → Pod; its lifetime,
//! for the bar from creation to deletion), and each etcd source's
//! compaction horizon (where its full history begins).
//!
//! Times of revisions (a deletion, a compaction) are not stored; they are
//! read as the occurrence time of the first Event revision at or after the
//! revision, and the page says they are approximate.

use std::collections::HashMap;

use super::line::micros;
use crate::store::Store;

/// An object of `objects`, by its newest revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectInfo {
    /// `KIND/[NAMESPACE/]NAME`, as the timeline names a line's object.
    pub object: String,
    /// The owner (the controller reference, else the first), named as above.
    pub owner: Option<String>,
    /// `metadata.creationTimestamp`, µs since the epoch.
    pub created: Option<i64>,
    /// When it was deleted: `metadata.deletionTimestamp` when set, else the
    /// time of the revision of its tombstone (approximate).
    pub deleted: Option<i64>,
    /// The revision of its tombstone, when a source holds it.
    pub deleted_revision: Option<i64>,
    /// Its newest revision is the key's current value (not deleted).
    pub live: bool,
}

/// Where one etcd source's history begins.
#[derive(Debug, Clone, PartialEq)]
pub struct Horizon {
    pub source: String,
    pub compact_revision: i64,
    /// The time of the first Event revision after the compaction (µs).
    pub time: Option<i64>,
}

/// The objects of `objects`, by name: one full scan, newest revision wins.
pub fn objects(store: &Store) -> rusqlite::Result<HashMap<String, ObjectInfo>> {
    let conn = store.connection();
    let mut stmt = conn.prepare(
        "SELECT coalesce(kind, '?') || '/' || coalesce(namespace || '/', '') || coalesce(name, '?'),
                namespace, owner_references, creation_timestamp, deletion_timestamp,
                deleted_revision, live
           FROM objects WHERE kind IS NOT NULL AND name IS NOT NULL
          ORDER BY mod_revision, sub_revision",
    )?;
    let mut rows = stmt.query([])?;
    let mut out: HashMap<String, ObjectInfo> = HashMap::new();
    while let Some(r) = rows.next()? {
        let object: String = r.get(0)?;
        let namespace: Option<String> = r.get(1)?;
        let owners: Option<String> = r.get(2)?;
        let created: Option<String> = r.get(3)?;
        let deletion: Option<String> = r.get(4)?;
        let deleted_revision: Option<i64> = r.get(5)?;
        let live: Option<i64> = r.get(6)?;
        let info = ObjectInfo {
            owner: owners.and_then(|o| owner(&o, namespace.as_deref())),
            created: created.as_deref().and_then(micros),
            deleted: deletion.as_deref().and_then(micros),
            deleted_revision,
            live: live == Some(1),
            object: object.clone(),
        };
        out.insert(object, info);
    }
    drop(rows);
    // A tombstone's time, where no deletionTimestamp told it: the first
    // Event revision after it, else the last one before it.
    let mut at = conn.prepare(
        "SELECT coalesce(
            (SELECT occurred_at FROM event_revisions WHERE mod_revision >= ?1
              AND occurred_at IS NOT NULL ORDER BY mod_revision LIMIT 1),
            (SELECT occurred_at FROM event_revisions WHERE mod_revision < ?1
              AND occurred_at IS NOT NULL ORDER BY mod_revision DESC LIMIT 1))",
    )?;
    for info in out.values_mut() {
        if let (None, Some(rev)) = (info.deleted, info.deleted_revision) {
            let t: Option<String> = at.query_row([rev], |r| r.get(0))?;
            info.deleted = t.as_deref().and_then(micros);
        }
    }
    Ok(out)
}

/// The owner an `ownerReferences` JSON array names: the controller, else
/// the first; in the object's namespace (owners are namespaced alike).
fn owner(json: &str, namespace: Option<&str>) -> Option<String> {
    let refs: Vec<serde_json::Value> = serde_json::from_str(json).ok()?;
    let pick = refs
        .iter()
        .find(|r| r["controller"] == serde_json::Value::Bool(true))
        .or_else(|| refs.first())?;
    let kind = pick["kind"].as_str()?;
    let name = pick["name"].as_str()?;
    Some(match namespace {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    })
}

/// Each compacted etcd source's horizon.
pub fn horizons(store: &Store) -> rusqlite::Result<Vec<Horizon>> {
    let conn = store.connection();
    let mut stmt = conn.prepare(
        "SELECT s.kind || ' ' || s.location, s.compact_revision,
                (SELECT e.occurred_at FROM event_revisions e
                  WHERE e.mod_revision > s.compact_revision AND e.occurred_at IS NOT NULL
                  ORDER BY e.mod_revision LIMIT 1)
           FROM sources s WHERE s.compact_revision IS NOT NULL ORDER BY s.id",
    )?;
    let rows = stmt.query_map([], |r| {
        let t: Option<String> = r.get(2)?;
        Ok(Horizon {
            source: r.get(0)?,
            compact_revision: r.get(1)?,
            time: t.as_deref().and_then(micros),
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_prefer_the_controller() {
        let refs = r#"[{"kind":"Node","name":"n1"},{"kind":"ReplicaSet","name":"web-1","controller":true}]"#;
        assert_eq!(
            owner(refs, Some("shop")).as_deref(),
            Some("ReplicaSet/shop/web-1")
        );
        assert_eq!(
            owner(r#"[{"kind":"Node","name":"n1"}]"#, None).as_deref(),
            Some("Node/n1")
        );
        assert_eq!(owner("[]", None), None);
        assert_eq!(owner("not json", None), None);
    }
}
