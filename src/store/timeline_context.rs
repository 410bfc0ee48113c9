//! What a drawn timeline shows around its lines, read once the lines are
//! known: each object as `objects` holds it (its owner, for nesting
//! Deployment → ReplicaSet → Pod; its lifetime, from creation to
//! deletion) and each etcd source's compaction horizon (where its full
//! history begins).
//!
//! Times of revisions (a deletion, a compaction) are not stored; they are
//! read as the occurrence time of the nearest Event revision, so they are
//! approximate.
//!
//! Speed (a 200k-revision case): `objects` is read in one pass in table
//! order (no sort: the newest revision of each object is kept as the rows
//! go by; walking `objects_by_revision` instead would visit the table's
//! pages at random); a revision's time is one seek into
//! `events_by_revision`, per tombstone without a `deletionTimestamp` and
//! per compacted source.

use std::collections::HashMap;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{Timeline, TimelineError};

/// An object of `objects`, as its newest revision says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectLife {
    /// `KIND/[NAMESPACE/]NAME`, as the timeline names a line's object.
    pub object: String,
    /// The owner (the controller reference, else the first), named as above.
    pub owner: Option<String>,
    /// `metadata.creationTimestamp`, µs since the epoch.
    pub created: Option<i64>,
    /// When it was deleted (µs): `metadata.deletionTimestamp` when set, else
    /// the time of its tombstone's revision (approximate).
    pub deleted: Option<i64>,
    /// The revision of its tombstone, when a source holds it.
    pub deleted_revision: Option<i64>,
    /// Its newest revision is the key's current value (not deleted).
    pub live: bool,
}

/// Where one etcd source's history begins.
#[derive(Debug, Clone, PartialEq)]
pub struct Horizon {
    /// The source, as `KIND LOCATION`.
    pub source: String,
    pub compact_revision: i64,
    /// The time of the first Event revision after the compaction (µs).
    pub time: Option<i64>,
}

/// The time of the first Event revision at or after `?1`, else of the
/// last one before it: the nearest known time of revision `?1`.
const TIME_OF_REVISION: &str = "SELECT coalesce(
    (SELECT occurred_at FROM events WHERE mod_revision >= ?1
      AND occurred_at IS NOT NULL ORDER BY mod_revision LIMIT 1),
    (SELECT occurred_at FROM events WHERE mod_revision < ?1
      AND occurred_at IS NOT NULL ORDER BY mod_revision DESC LIMIT 1))";

/// Every object, one pass in table order.
const OBJECTS: &str = "SELECT kind || '/' || coalesce(namespace || '/', '') || name,
        namespace, owner_references, creation_timestamp, deletion_timestamp,
        deleted_revision, live, mod_revision, sub_revision
   FROM objects WHERE kind IS NOT NULL AND name IS NOT NULL";

/// Each compacted etcd source, with the time of the first Event revision
/// after its compaction.
const HORIZONS: &str = "SELECT s.kind || ' ' || s.location, s.compact_revision,
        (SELECT e.occurred_at FROM events e
          WHERE e.mod_revision > s.compact_revision AND e.occurred_at IS NOT NULL
          ORDER BY e.mod_revision LIMIT 1)
   FROM sources s WHERE s.compact_revision IS NOT NULL ORDER BY s.id";

impl Timeline<'_> {
    /// The objects of `objects` by name (`KIND/[NAMESPACE/]NAME`), each as
    /// its newest revision says.
    pub fn object_lives(&self) -> Result<HashMap<String, ObjectLife>, TimelineError> {
        let conn = self.store.connection();
        let mut stmt = conn.prepare(OBJECTS)?;
        let mut rows = stmt.query([])?;
        let mut newest: HashMap<String, ((i64, i64), ObjectLife)> = HashMap::new();
        while let Some(r) = rows.next()? {
            let object: String = r.get(0)?;
            let at: (i64, i64) = (r.get(7)?, r.get(8)?);
            if matches!(newest.get(&object), Some((seen, _)) if *seen > at) {
                continue;
            }
            let namespace: Option<String> = r.get(1)?;
            let owners: Option<String> = r.get(2)?;
            let created: Option<String> = r.get(3)?;
            let deletion: Option<String> = r.get(4)?;
            let live: i64 = r.get(6)?;
            let life = ObjectLife {
                owner: owners.and_then(|o| owner(&o, namespace.as_deref())),
                created: created.as_deref().and_then(micros),
                deleted: deletion.as_deref().and_then(micros),
                deleted_revision: r.get(5)?,
                live: live == 1,
                object: object.clone(),
            };
            newest.insert(object, (at, life));
        }
        drop(rows);
        // A tombstone's time, where no deletionTimestamp told it.
        let mut at = conn.prepare(TIME_OF_REVISION)?;
        let mut out = HashMap::with_capacity(newest.len());
        for (object, (_, mut life)) in newest {
            if let (None, Some(rev)) = (life.deleted, life.deleted_revision) {
                let t: Option<String> = at.query_row([rev], |r| r.get(0))?;
                life.deleted = t.as_deref().and_then(micros);
            }
            out.insert(object, life);
        }
        Ok(out)
    }

    /// Each compacted etcd source's horizon, in the order loaded.
    pub fn horizons(&self) -> Result<Vec<Horizon>, TimelineError> {
        let mut stmt = self.store.connection().prepare(HORIZONS)?;
        let rows = stmt.query_map([], |r| {
            let t: Option<String> = r.get(2)?;
            Ok(Horizon {
                source: r.get(0)?,
                compact_revision: r.get(1)?,
                time: t.as_deref().and_then(micros),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
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

/// µs since the epoch of a stored RFC 3339 time.
fn micros(t: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(t, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

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

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.sqlite")).unwrap();
        (dir, store)
    }

    /// The newest revision of each object speaks for it, wherever its row
    /// lies in the table; a tombstone without a deletionTimestamp takes
    /// the time of the next Event revision; a compacted source's horizon
    /// the time of the first Event revision after its compaction.
    #[test]
    fn lives_and_horizons() {
        let (_dir, store) = store();
        store
            .connection()
            .execute_batch(
                "INSERT INTO sources (id, kind, location, sha256, size_bytes, trailer, prefix, ingested_at, tool_version, compact_revision)
                   VALUES (1, 'etcd-db', '/e/db', 'aa', 1, 'absent', '/registry/', 'now', 'test', 10),
                          (2, 'etcd-db', '/e/db2', 'bb', 1, 'absent', '/registry/', 'now', 'test', NULL);
                 INSERT INTO objects (source_id, key, resource, mod_revision, sub_revision, recovered_from,
                     encoding, kind, namespace, name, live, deleted_revision, creation_timestamp, owner_references) VALUES
                   (1, 'p/a', 'pods', 12, 0, 'tree', 'protobuf', 'Pod', 'shop', 'a', 0, 13,
                     '2026-11-20T09:30:00Z', '[{\"kind\":\"ReplicaSet\",\"name\":\"web-1\",\"controller\":true}]'),
                   (1, 'p/a', 'pods', 5, 0, 'free-page', 'protobuf', 'Pod', 'shop', 'a', 0, NULL,
                     '2026-11-20T09:00:00Z', NULL),
                   (1, 'n/n1', 'nodes', 3, 0, 'tree', 'protobuf', 'Node', NULL, 'n1', 1, NULL, NULL, NULL);
                 INSERT INTO event_revisions (source_id, key, mod_revision, sub_revision, recovered_from, encoding,
                     reason, occurred_at) VALUES
                   (1, 'e/1', 11, 0, 'tree', 'protobuf', 'A', '2026-11-20T09:30:01.000000Z'),
                   (1, 'e/2', 14, 0, 'tree', 'protobuf', 'B', NULL),
                   (1, 'e/3', 15, 0, 'tree', 'protobuf', 'C', '2026-11-20T09:30:05.000000Z');",
            )
            .unwrap();
        let timeline = store.timeline().unwrap();
        let lives = timeline.object_lives().unwrap();
        let s = 1_795_167_000_000_000; // 2026-11-20T09:30:00Z
        assert_eq!(
            lives["Pod/shop/a"],
            ObjectLife {
                object: "Pod/shop/a".into(),
                owner: Some("ReplicaSet/shop/web-1".into()),
                created: Some(s),
                deleted: Some(s + 5_000_000),
                deleted_revision: Some(13),
                live: false,
            }
        );
        assert_eq!(lives["Node/n1"].owner, None);
        assert!(lives["Node/n1"].live);
        assert_eq!(lives.len(), 2);
        assert_eq!(
            timeline.horizons().unwrap(),
            vec![Horizon {
                source: "etcd-db /e/db".into(),
                compact_revision: 10,
                time: Some(s + 1_000_000),
            }]
        );
    }

    /// The queries seek through `events_by_revision` and sort nothing:
    /// the timeline of a large case must not wait on them.
    #[test]
    fn query_plans_use_the_indexes() {
        let (_dir, store) = store();
        let plan = |sql: &str, params: &[i64]| -> String {
            let mut stmt = store
                .connection()
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let rows = stmt
                .query_map(rusqlite::params_from_iter(params), |r| {
                    r.get::<_, String>(3)
                })
                .unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
        };
        let revision = plan(TIME_OF_REVISION, &[1]);
        assert_eq!(
            revision.matches("USING INDEX events_by_revision").count(),
            2,
            "{revision}"
        );
        let objects = plan(OBJECTS, &[]);
        let horizons = plan(HORIZONS, &[]);
        assert!(
            horizons.contains("USING INDEX events_by_revision"),
            "{horizons}"
        );
        for p in [&revision, &objects, &horizons] {
            assert!(!p.contains("TEMP B-TREE"), "{p}");
            assert!(!p.contains("event_values"), "{p}");
        }
    }
}
