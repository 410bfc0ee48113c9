
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
