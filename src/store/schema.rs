//! The SQLite schema: evforensics' public API.
//!
//! Every table and column here is documented in `docs/schema.md`; users'
//! saved queries rely on the names. A change to this file is a schema change:
//! bump [`SCHEMA_VERSION`] (stored in `PRAGMA user_version`) and add a
//! migration step to [`migrate`].

use rusqlite::Connection;

use super::StoreError;

/// Stored in `PRAGMA user_version`. 0 means "empty database, not ours yet".
pub const SCHEMA_VERSION: i64 = 4;

/// Tables, indexes and views of schema version 1 (public for migration
/// tests, which build a version-1 database as evforensics 0.1 wrote it).
#[doc(hidden)]
pub const SCHEMA_V1: &str = r#"
CREATE TABLE sources (
    id                          INTEGER PRIMARY KEY,
    kind                        TEXT NOT NULL,
    location                    TEXT NOT NULL,
    sha256                      TEXT NOT NULL,
    size_bytes                  INTEGER NOT NULL,
    compression                 TEXT,
    content_sha256              TEXT,
    trailer                     TEXT NOT NULL,
    trailer_sha256              TEXT,
    prefix                      TEXT NOT NULL,
    head_revision               INTEGER,
    compact_revision            INTEGER,
    scheduled_compact_revision  INTEGER,
    consistent_index            INTEGER,
    bolt_page_size              INTEGER,
    bolt_txid                   INTEGER,
    bolt_meta_page              INTEGER,
    bolt_meta_note              TEXT,
    event_revisions             INTEGER NOT NULL DEFAULT 0,
    free_page_event_revisions   INTEGER NOT NULL DEFAULT 0,
    new_event_revisions         INTEGER NOT NULL DEFAULT 0,
    live_event_revisions        INTEGER NOT NULL DEFAULT 0,
    tombstones                  INTEGER NOT NULL DEFAULT 0,
    free_page_tombstones        INTEGER NOT NULL DEFAULT 0,
    damaged_records             INTEGER NOT NULL DEFAULT 0,
    ingested_at                 TEXT NOT NULL,
    tool_version                TEXT NOT NULL
);
CREATE UNIQUE INDEX sources_by_content ON sources(sha256, prefix);

CREATE TABLE events (
    id                          INTEGER PRIMARY KEY,
    source_id                   INTEGER NOT NULL REFERENCES sources(id),
    key                         TEXT NOT NULL,
    mod_revision                INTEGER NOT NULL,
    sub_revision                INTEGER NOT NULL,
    create_revision             INTEGER,
    version                     INTEGER,
    lease                       INTEGER,
    live                        INTEGER NOT NULL DEFAULT 0,
    deleted_revision            INTEGER,
    recovered_from              TEXT NOT NULL,
    encoding                    TEXT NOT NULL,
    decode_note                 TEXT,
    unknown_fields              INTEGER NOT NULL DEFAULT 0,
    api_version                 TEXT,
    kind                        TEXT,
    namespace                   TEXT,
    name                        TEXT,
    uid                         TEXT,
    creation_timestamp          TEXT,
    reason                      TEXT,
    message                     TEXT,
    type                        TEXT,
    count                       INTEGER,
    first_timestamp             TEXT,
    last_timestamp              TEXT,
    event_time                  TEXT,
    series_count                INTEGER,
    series_last_observed_time   TEXT,
    occurred_at                 TEXT,
    action                      TEXT,
    reporting_component         TEXT,
    reporting_instance          TEXT,
    source_component            TEXT,
    source_host                 TEXT,
    involved_kind               TEXT,
    involved_namespace          TEXT,
    involved_name               TEXT,
    involved_uid                TEXT,
    involved_api_version        TEXT,
    involved_resource_version   TEXT,
    involved_field_path         TEXT,
    related_kind                TEXT,
    related_namespace           TEXT,
    related_name                TEXT,
    related_uid                 TEXT,
    object                      TEXT,
    raw                         BLOB NOT NULL
);
-- Revision first: a snapshot is read in revision order, so new entries
-- land at the right edge of this index instead of at random places.
CREATE UNIQUE INDEX events_by_revision ON events(mod_revision, sub_revision, key);

CREATE TABLE deletions (
    id                          INTEGER PRIMARY KEY,
    source_id                   INTEGER NOT NULL REFERENCES sources(id),
    key                         TEXT NOT NULL,
    revision                    INTEGER NOT NULL,
    sub_revision                INTEGER NOT NULL
);
CREATE UNIQUE INDEX deletions_by_revision ON deletions(revision, sub_revision, key);
CREATE INDEX deletions_by_key ON deletions(key, revision);

CREATE TABLE source_revisions (
    source_id                   INTEGER NOT NULL REFERENCES sources(id),
    revision                    INTEGER NOT NULL,
    sub_revision                INTEGER NOT NULL,
    key                         TEXT NOT NULL,
    tombstone                   INTEGER NOT NULL,
    recovered_from              TEXT NOT NULL,
    live                        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source_id, revision, sub_revision, key)
) WITHOUT ROWID;

CREATE TABLE leases (
    source_id                   INTEGER NOT NULL REFERENCES sources(id),
    lease                       INTEGER NOT NULL,
    ttl_seconds                 INTEGER,
    remaining_ttl_seconds       INTEGER,
    PRIMARY KEY (source_id, lease)
) WITHOUT ROWID;

CREATE TABLE damaged_records (
    id                          INTEGER PRIMARY KEY,
    source_id                   INTEGER NOT NULL REFERENCES sources(id),
    page                        INTEGER,
    offset                      INTEGER,
    revision                    INTEGER,
    sub_revision                INTEGER,
    key                         TEXT,
    reason                      TEXT NOT NULL
);

CREATE VIRTUAL TABLE events_fts USING fts5(
    reason, message, involved_name,
    content = 'events', content_rowid = 'id'
);

CREATE VIEW expired_events AS
    SELECT * FROM events WHERE live = 0;
"#;

/// From version 1 to 2: Kubernetes audit logs (`audit_events`), audit
/// counts on `sources`, file and line of damaged records, descriptive views.
const SCHEMA_V2: &str = r#"
ALTER TABLE sources ADD COLUMN audit_events INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sources ADD COLUMN new_audit_events INTEGER NOT NULL DEFAULT 0;
ALTER TABLE damaged_records ADD COLUMN file TEXT;
ALTER TABLE damaged_records ADD COLUMN line INTEGER;

CREATE TABLE audit_events (
    id                          INTEGER PRIMARY KEY,
    source_id                   INTEGER NOT NULL REFERENCES sources(id),
    file                        TEXT NOT NULL,
    line                        INTEGER NOT NULL,
    audit_id                    TEXT NOT NULL,
    stage                       TEXT NOT NULL,
    api_version                 TEXT,
    level                       TEXT,
    verb                        TEXT,
    request_uri                 TEXT,
    username                    TEXT,
    user_groups                 TEXT,
    impersonated_user           TEXT,
    source_ips                  TEXT,
    user_agent                  TEXT,
    object_resource             TEXT,
    object_subresource          TEXT,
    object_namespace            TEXT,
    object_name                 TEXT,
    object_uid                  TEXT,
    object_api_group            TEXT,
    object_api_version          TEXT,
    object_resource_version     TEXT,
    response_code               INTEGER,
    response_reason             TEXT,
    response_message            TEXT,
    request_received_timestamp  TEXT,
    stage_timestamp             TEXT,
    annotations                 TEXT,
    request_object              TEXT,
    response_object             TEXT,
    raw                         TEXT NOT NULL,
    UNIQUE (audit_id, stage)
);
CREATE INDEX audit_events_by_time ON audit_events(request_received_timestamp);
CREATE INDEX audit_events_by_object ON audit_events(object_resource, object_namespace, object_name, request_received_timestamp);
CREATE INDEX audit_events_by_user ON audit_events(username, request_received_timestamp);

CREATE VIEW audit_denied_requests AS
    SELECT * FROM audit_events WHERE response_code IN (401, 403);

CREATE VIEW audit_deletions AS
    SELECT * FROM audit_events
    WHERE verb IN ('delete', 'deletecollection') AND stage = 'ResponseComplete';
"#;

/// From version 2 to 3: the metadata of every object under the registry
/// root (`objects`, with their own per-source revisions and tombstones), the
/// merged `timeline` of Event occurrences and audit entries, and
/// `event_causes`.
const SCHEMA_V3: &str = r#"
ALTER TABLE sources ADD COLUMN object_revisions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sources ADD COLUMN object_tombstones INTEGER NOT NULL DEFAULT 0;

CREATE TABLE objects (
    id                          INTEGER PRIMARY KEY,
    source_id                   INTEGER NOT NULL REFERENCES sources(id),
    key                         TEXT NOT NULL,
    resource                    TEXT,
    mod_revision                INTEGER NOT NULL,
    sub_revision                INTEGER NOT NULL,
    create_revision             INTEGER,
    version                     INTEGER,
    lease                       INTEGER,
    live                        INTEGER NOT NULL DEFAULT 0,
    deleted_revision            INTEGER,
    recovered_from              TEXT NOT NULL,
    encoding                    TEXT NOT NULL,
    decode_note                 TEXT,
    api_version                 TEXT,
    kind                        TEXT,
    namespace                   TEXT,
    name                        TEXT,
    uid                         TEXT,
    creation_timestamp          TEXT,
    deletion_timestamp          TEXT,
    labels                      TEXT,
    owner_references            TEXT
);
CREATE UNIQUE INDEX objects_by_revision ON objects(mod_revision, sub_revision, key);

CREATE TABLE object_deletions (
    id                          INTEGER PRIMARY KEY,
    source_id                   INTEGER NOT NULL REFERENCES sources(id),
    key                         TEXT NOT NULL,
    revision                    INTEGER NOT NULL,
    sub_revision                INTEGER NOT NULL
);
CREATE UNIQUE INDEX object_deletions_by_revision ON object_deletions(revision, sub_revision, key);
CREATE INDEX object_deletions_by_key ON object_deletions(key, revision);

CREATE TABLE object_source_revisions (
    source_id                   INTEGER NOT NULL REFERENCES sources(id),
    revision                    INTEGER NOT NULL,
    sub_revision                INTEGER NOT NULL,
    key                         TEXT NOT NULL,
    tombstone                   INTEGER NOT NULL,
    recovered_from              TEXT NOT NULL,
    live                        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source_id, revision, sub_revision, key)
) WITHOUT ROWID;

CREATE INDEX audit_events_by_audit_id_time ON audit_events(audit_id, stage_timestamp);

-- Plural resource names (audit objectRef.resource) to kinds: what the
-- snapshot's own keys say first, then the built-in resources.
CREATE VIEW resource_kinds AS
    -- min(pref): SQLite takes `kind` from the row holding the minimum.
    SELECT resource, kind FROM (SELECT resource, kind, min(pref) FROM (
        SELECT resource, kind, 0 AS pref FROM objects
        WHERE resource IS NOT NULL AND kind IS NOT NULL
        GROUP BY resource, kind
        UNION ALL
        SELECT column1, column2, 1 FROM (VALUES
            ('pods', 'Pod'), ('services', 'Service'), ('endpoints', 'Endpoints'),
            ('configmaps', 'ConfigMap'), ('secrets', 'Secret'), ('namespaces', 'Namespace'),
            ('nodes', 'Node'), ('serviceaccounts', 'ServiceAccount'),
            ('persistentvolumes', 'PersistentVolume'),
            ('persistentvolumeclaims', 'PersistentVolumeClaim'),
            ('replicationcontrollers', 'ReplicationController'), ('events', 'Event'),
            ('deployments', 'Deployment'), ('replicasets', 'ReplicaSet'),
            ('statefulsets', 'StatefulSet'), ('daemonsets', 'DaemonSet'),
            ('jobs', 'Job'), ('cronjobs', 'CronJob'), ('ingresses', 'Ingress'),
            ('networkpolicies', 'NetworkPolicy'), ('roles', 'Role'),
            ('rolebindings', 'RoleBinding'), ('clusterroles', 'ClusterRole'),
            ('clusterrolebindings', 'ClusterRoleBinding'),
            ('horizontalpodautoscalers', 'HorizontalPodAutoscaler'),
            ('poddisruptionbudgets', 'PodDisruptionBudget'), ('leases', 'Lease'),
            ('customresourcedefinitions', 'CustomResourceDefinition'),
            ('storageclasses', 'StorageClass'), ('endpointslices', 'EndpointSlice'))
    ) GROUP BY resource);

-- One row per Event revision (an occurrence) and per audited request (its
-- ResponseComplete stage, or the latest stage the logs hold).
CREATE VIEW timeline AS
    SELECT e.occurred_at AS time,
           'event' AS source,
           e.involved_kind AS object_kind,
           e.involved_namespace AS object_namespace,
           e.involved_name AS object_name,
           e.involved_uid AS object_uid,
           e.reason AS reason,
           NULL AS verb,
           e.type AS type,
           e.count AS count,
           e.message AS message,
           coalesce(e.reporting_component, e.source_component) AS component,
           NULL AS username,
           NULL AS source_ip,
           NULL AS user_agent,
           NULL AS response_code,
           0 AS denied,
           0 AS write,
           e.mod_revision AS revision,
           e.sub_revision AS sub_revision,
           NULL AS file,
           NULL AS line,
           e.key AS key,
           e.live AS live,
           e.id AS event_id,
           NULL AS audit_event_id
    FROM events e
    WHERE e.occurred_at IS NOT NULL
    UNION ALL
    SELECT a.stage_timestamp,
           'audit',
           coalesce(
               (SELECT rk.kind FROM resource_kinds rk WHERE rk.resource = a.object_resource),
               a.object_resource),
           a.object_namespace,
           a.object_name,
           coalesce(a.object_uid, json_extract(a.response_object, '$.metadata.uid')),
           NULL,
           a.verb || CASE WHEN a.object_subresource IS NOT NULL THEN ' ' || a.object_subresource ELSE '' END,
           NULL,
           NULL,
           a.verb || ' ' || coalesce(a.object_resource, '')
               || coalesce('/' || a.object_subresource, '')
               || coalesce(' ' || a.object_namespace || '/' || a.object_name, ' ' || a.object_name, '')
               || coalesce(' → ' || a.response_code, '')
               || coalesce(' ' || a.response_reason, ''),
           NULL,
           coalesce(a.username, '')
               || coalesce(' as ' || a.impersonated_user, ''),
           json_extract(a.source_ips, '$[0]'),
           a.user_agent,
           a.response_code,
           a.response_code IN (401, 403),
           a.verb IN ('create', 'update', 'patch', 'delete', 'deletecollection'),
           CAST(json_extract(a.response_object, '$.metadata.resourceVersion') AS INTEGER),
           NULL,
           a.file,
           a.line,
           NULL,
           NULL,
           NULL,
           a.id
    FROM audit_events a
    WHERE a.stage_timestamp IS NOT NULL
      AND a.id = (SELECT b.id FROM audit_events b WHERE b.audit_id = a.audit_id
                  ORDER BY b.stage = 'ResponseComplete' DESC, b.stage_timestamp DESC, b.id DESC
                  LIMIT 1);

-- For each Event revision, the audited writes to its object or to the
-- object's owners (followed up through objects.owner_references) in the
-- 30 minutes before it.
CREATE VIEW event_causes AS
    WITH RECURSIVE chain(event_id, kind, namespace, name, uid, depth) AS (
        SELECT id, involved_kind, involved_namespace, involved_name, involved_uid, 0
        FROM events WHERE involved_name IS NOT NULL
        UNION
        SELECT c.event_id, json_extract(r.value, '$.kind'), o.namespace,
               json_extract(r.value, '$.name'), json_extract(r.value, '$.uid'), c.depth + 1
        FROM chain c
        JOIN objects o ON (c.uid IS NOT NULL AND o.uid = c.uid)
            OR (c.uid IS NULL AND o.name = c.name AND o.namespace IS c.namespace AND o.kind = c.kind)
        JOIN json_each(o.owner_references) r
        WHERE c.depth < 8
    )
    SELECT e.id AS event_id,
           e.occurred_at AS event_time,
           e.reason AS event_reason,
           e.involved_kind AS event_object_kind,
           e.involved_namespace AS event_object_namespace,
           e.involved_name AS event_object_name,
           min(c.depth) AS owner_depth,
           t.audit_event_id AS audit_event_id,
           t.time AS audit_time,
           t.verb AS verb,
           t.object_kind AS audit_object_kind,
           t.object_namespace AS audit_object_namespace,
           t.object_name AS audit_object_name,
           t.username AS username,
           t.source_ip AS source_ip,
           t.user_agent AS user_agent,
           t.response_code AS response_code
    FROM chain c
    JOIN events e ON e.id = c.event_id
    JOIN timeline t ON t.source = 'audit' AND t.write = 1
        AND t.object_name = c.name AND t.object_namespace IS c.namespace
        AND t.object_kind = c.kind
        AND t.time <= e.occurred_at
        AND t.time >= strftime('%Y-%m-%dT%H:%M:%f000Z', e.occurred_at, '-30 minutes')
    GROUP BY e.id, t.audit_event_id;
"#;

/// The query indexes of `events` in versions 1–3, on the `events` table
/// (public for migration tests, like [`SCHEMA_V1`]).
#[doc(hidden)]
pub const QUERY_INDEXES_V1: &[&str] = &[
    "CREATE INDEX events_by_key ON events(key, mod_revision)",
    "CREATE INDEX events_by_involved ON events(involved_kind, involved_namespace, involved_name, occurred_at)",
    "CREATE INDEX events_by_namespace_time ON events(namespace, occurred_at)",
    "CREATE INDEX events_by_reason ON events(reason, occurred_at)",
];

/// Indexes that serve queries, not the load. A large load drops them and
/// builds them again at its end (one sort each, much cheaper than keeping
/// them up to date row by row); both happen inside the load's transaction.
/// Since version 4 they index `event_revisions`, under their old names.
pub const QUERY_INDEXES: &[(&str, &str)] = &[
    (
        "events_by_key",
        "CREATE INDEX events_by_key ON event_revisions(key, mod_revision)",
    ),
    (
        "events_by_involved",
        "CREATE INDEX events_by_involved ON event_revisions(involved_kind, involved_namespace, involved_name, occurred_at)",
    ),
    (
        "events_by_namespace_time",
        "CREATE INDEX events_by_namespace_time ON event_revisions(namespace, occurred_at)",
    ),
    (
        "events_by_reason",
        "CREATE INDEX events_by_reason ON event_revisions(reason, occurred_at)",
    ),
];

/// The columns of `event_revisions`: every column of `events` but `object`
/// and `raw`, in the order `events` shows them.
pub const EVENT_REVISION_COLUMNS: &str = "id, source_id, key, mod_revision, sub_revision,
    create_revision, version, lease, live, deleted_revision, recovered_from, encoding,
    decode_note, unknown_fields, api_version, kind, namespace, name, uid, creation_timestamp,
    reason, message, type, count, first_timestamp, last_timestamp, event_time, series_count,
    series_last_observed_time, occurred_at, action, reporting_component, reporting_instance,
    source_component, source_host, involved_kind, involved_namespace, involved_name,
    involved_uid, involved_api_version, involved_resource_version, involved_field_path,
    related_kind, related_namespace, related_name, related_uid";

/// From version 3 to 4: `events` becomes a view over `event_revisions` (the
/// columns) and `event_values` (each revision's `object` and `raw`, most of
/// its bytes), so that what scans Event rows — index builds, the text
/// index, liveness updates — reads narrow rows. Queries are unchanged.
fn schema_v4() -> String {
    format!(
        r#"
CREATE TABLE event_revisions (
    id                          INTEGER PRIMARY KEY,
    source_id                   INTEGER NOT NULL REFERENCES sources(id),
    key                         TEXT NOT NULL,
    mod_revision                INTEGER NOT NULL,
    sub_revision                INTEGER NOT NULL,
    create_revision             INTEGER,
    version                     INTEGER,
    lease                       INTEGER,
    live                        INTEGER NOT NULL DEFAULT 0,
    deleted_revision            INTEGER,
    recovered_from              TEXT NOT NULL,
    encoding                    TEXT NOT NULL,
    decode_note                 TEXT,
    unknown_fields              INTEGER NOT NULL DEFAULT 0,
    api_version                 TEXT,
    kind                        TEXT,
    namespace                   TEXT,
    name                        TEXT,
    uid                         TEXT,
    creation_timestamp          TEXT,
    reason                      TEXT,
    message                     TEXT,
    type                        TEXT,
    count                       INTEGER,
    first_timestamp             TEXT,
    last_timestamp              TEXT,
    event_time                  TEXT,
    series_count                INTEGER,
    series_last_observed_time   TEXT,
    occurred_at                 TEXT,
    action                      TEXT,
    reporting_component         TEXT,
    reporting_instance          TEXT,
    source_component            TEXT,
    source_host                 TEXT,
    involved_kind               TEXT,
    involved_namespace          TEXT,
    involved_name               TEXT,
    involved_uid                TEXT,
    involved_api_version        TEXT,
    involved_resource_version   TEXT,
    involved_field_path         TEXT,
    related_kind                TEXT,
    related_namespace           TEXT,
    related_name                TEXT,
    related_uid                 TEXT
);
-- Same id as the revision's row in event_revisions.
CREATE TABLE event_values (
    id                          INTEGER PRIMARY KEY,
    object                      TEXT,
    raw                         BLOB NOT NULL
);
INSERT INTO event_revisions ({columns}) SELECT {columns} FROM events;
INSERT INTO event_values (id, object, raw) SELECT id, object, raw FROM events;
DROP TABLE events_fts;
DROP TABLE events;

-- The left join costs nothing when a query uses neither object nor raw
-- (SQLite drops a join on a unique key whose columns are unused).
CREATE VIEW events AS
    SELECT {columns}, v.object AS object, v.raw AS raw
    FROM event_revisions LEFT JOIN event_values v USING (id);

CREATE UNIQUE INDEX events_by_revision ON event_revisions(mod_revision, sub_revision, key);
CREATE VIRTUAL TABLE events_fts USING fts5(
    reason, message, involved_name,
    content = 'event_revisions', content_rowid = 'id'
);
INSERT INTO events_fts (events_fts) VALUES ('rebuild');
"#,
        columns = EVENT_REVISION_COLUMNS
    )
}

/// The query indexes of `objects` (version 3), dropped and rebuilt by a
/// large load like [`QUERY_INDEXES`].
pub const OBJECT_QUERY_INDEXES: &[(&str, &str)] = &[
    (
        "objects_by_key",
        "CREATE INDEX objects_by_key ON objects(key, mod_revision)",
    ),
    (
        "objects_by_uid",
        "CREATE INDEX objects_by_uid ON objects(uid)",
    ),
    (
        "objects_by_name",
        "CREATE INDEX objects_by_name ON objects(name, namespace, kind)",
    ),
    (
        "objects_by_resource",
        "CREATE INDEX objects_by_resource ON objects(resource, kind)",
    ),
];

/// Version 3's tables, views and indexes.
fn create_v3(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    tx.execute_batch(SCHEMA_V3)?;
    for (_, create) in OBJECT_QUERY_INDEXES {
        tx.execute_batch(create)?;
    }
    Ok(())
}

/// Version 4's tables, rows moved from `events`, and its indexes.
fn create_v4(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    tx.execute_batch(&schema_v4())?;
    for (_, create) in QUERY_INDEXES {
        tx.execute_batch(create)?;
    }
    Ok(())
}

/// Creates the schema in an empty database or checks that an existing one
/// is ours and of a version this build understands.
/// Refuses, without writing anything, a database that is not an empty one
/// or an evforensics database of a version this build knows.
pub fn check_ours(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if !(0..=SCHEMA_VERSION).contains(&version) {
        return Err(StoreError::UnsupportedVersion(version));
    }
    if version == 0 {
        let tables: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
            [],
            |r| r.get(0),
        )?;
        if tables > 0 {
            return Err(StoreError::NotOurs);
        }
    }
    Ok(())
}

pub fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    match version {
        0 => {
            let tables: i64 = conn.query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
                [],
                |r| r.get(0),
            )?;
            if tables > 0 {
                return Err(StoreError::NotOurs);
            }
            // Event rows are a few KB (JSON object + raw bytes): larger pages
            // mean fewer page operations per row and shallower indexes.
            conn.execute_batch("PRAGMA page_size = 16384;")?;
            // Every version in turn, so that a new database and a migrated
            // one have the same schema (the tables are empty: it is quick).
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(SCHEMA_V1)?;
            for create in QUERY_INDEXES_V1 {
                tx.execute_batch(create)?;
            }
            tx.execute_batch(SCHEMA_V2)?;
            create_v3(&tx)?;
            create_v4(&tx)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            tx.commit()?;
            Ok(())
        }
        1..=3 => {
            // All or nothing: a failed migration leaves the database as it was.
            let tx = conn.unchecked_transaction()?;
            if version == 1 {
                tx.execute_batch(SCHEMA_V2)?;
            }
            if version <= 2 {
                create_v3(&tx)?;
            }
            create_v4(&tx)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            tx.commit()?;
            Ok(())
        }
        SCHEMA_VERSION => Ok(()),
        other => Err(StoreError::UnsupportedVersion(other)),
    }
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
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
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
        conn.execute_batch(SCHEMA_V2).unwrap();
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
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
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
        let causes: i64 = conn
            .query_row("SELECT count(*) FROM event_causes", [], |r| r.get(0))
            .unwrap();
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
        conn.execute_batch(SCHEMA_V2).unwrap();
        conn.execute_batch(SCHEMA_V3).unwrap();
        for (_, create) in OBJECT_QUERY_INDEXES {
            conn.execute_batch(create).unwrap();
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
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(columns(&conn, "events"), columns_v3);
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
        let hit: i64 = conn
            .query_row(
                "SELECT rowid FROM events_fts WHERE events_fts MATCH '\"restarting failed\"'",
                [],
                |r| r.get(0),
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
    }
}
