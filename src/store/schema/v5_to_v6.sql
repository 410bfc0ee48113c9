-- Version 6.

-- Answers that mean what they say: superseded and gone Event revisions.
-- Each Event revision's fate, as the database knows it: `live` (the key's
-- value at the newest head revision), `superseded` (a later revision of the
-- same key's generation is held: an older count of the Event), `gone` (the
-- last revision held of a generation that ended: a tombstone, a later
-- generation of the key, or the key absent from the head revision though
-- its tombstone was compacted away) or `unknown` (no source with a known
-- head revision covers it). `gone_because` says how a gone one is known.
CREATE VIEW event_fates AS
    SELECT f.id AS event_id, f.key, f.mod_revision, f.sub_revision,
           CASE WHEN f.live = 1 THEN 'live'
                WHEN f.successor IS NOT NULL THEN 'superseded'
                WHEN f.deleted_revision IS NOT NULL OR f.next_revision IS NOT NULL
                     OR f.mod_revision <= f.head THEN 'gone'
                ELSE 'unknown' END AS fate,
           CASE WHEN f.live = 1 OR f.successor IS NOT NULL THEN NULL
                WHEN f.deleted_revision IS NOT NULL THEN
                    CASE (SELECT d.cause FROM deletions d
                          WHERE d.key = f.key AND d.revision = f.deleted_revision)
                        WHEN 'lease-revoke' THEN 'lease-revoke'
                        WHEN 'delete-range' THEN 'delete'
                        ELSE 'tombstone' END
                WHEN f.next_revision IS NOT NULL THEN 'compacted-key-recreated'
                WHEN f.mod_revision <= f.head THEN 'compacted-key-absent-from-head'
           END AS gone_because,
           CASE WHEN f.live = 0 AND f.successor IS NULL THEN f.deleted_revision END AS gone_revision,
           f.successor AS superseded_by_revision
    FROM (
        SELECT n.*,
               CASE WHEN n.next_revision IS NOT NULL
                     AND (n.deleted_revision IS NULL OR n.next_revision < n.deleted_revision)
                     AND (n.next_create IS NULL OR n.create_revision IS NULL
                          OR n.next_create = n.create_revision)
                    THEN n.next_revision END AS successor,
               -- The etcd that holds Events (not the main one when Events
               -- have an etcd of their own): as `live` is derived.
               (SELECT max(head_revision) FROM sources
                WHERE event_revisions + tombstones > 0
                   OR etcd_members IN (SELECT etcd_members FROM sources
                                       WHERE event_revisions + tombstones > 0)) AS head
        FROM (
            SELECT id, key, mod_revision, sub_revision, create_revision, live, deleted_revision,
                   lead(mod_revision) OVER w AS next_revision,
                   lead(create_revision) OVER w AS next_create
            FROM event_revisions
            WINDOW w AS (PARTITION BY key ORDER BY mod_revision)
        ) n
    ) f;

-- The Events that were gone: one row per ended generation, its last
-- revision held (was: every revision with live = 0, superseded ones too).
DROP VIEW expired_events;
CREATE VIEW expired_events AS
    SELECT e.*, f.gone_because, f.gone_revision
    FROM event_fates f JOIN events e ON e.id = f.event_id
    WHERE f.fate = 'gone';

-- Older revisions of Events whose later revision the database holds.
CREATE VIEW superseded_events AS
    SELECT e.*, f.superseded_by_revision
    FROM event_fates f JOIN events e ON e.id = f.event_id
    WHERE f.fate = 'superseded';

-- Answers that mean what they say: no line left out of the timeline. An
-- audit event without stageTimestamp (v1 logs written with `timestamp`
-- only) is placed at its request's time, an Event without any occurrence
-- time at its creation, and a record with no time at all is still a line
-- (time NULL, first); `time_from` says which field gave the time. Each
-- line carries its identity: the Event's uid, the audit event's auditID.
-- An Event line says when the Event was first seen (`first_time`) and by
-- which host, so that a repeat reads as kubectl's `x7 over 3m58s`.
DROP VIEW timeline;
CREATE VIEW timeline AS
    SELECT coalesce(e.occurred_at,
                    strftime('%Y-%m-%dT%H:%M:%f000Z', e.creation_timestamp)) AS time,
           'event' AS source,
           e.involved_kind AS object_kind,
           e.involved_namespace AS object_namespace,
           e.involved_name AS object_name,
           e.involved_uid AS object_uid,
           e.reason AS reason,
           NULL AS verb,
           e.type AS type,
           coalesce(e.series_count, e.count) AS count,
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
           NULL AS audit_event_id,
           CASE WHEN e.occurred_at IS NOT NULL THEN 'occurred_at'
                WHEN e.creation_timestamp IS NOT NULL THEN 'creationTimestamp' END AS time_from,
           e.uid AS event_uid,
           NULL AS audit_id,
           coalesce(e.event_time, strftime('%Y-%m-%dT%H:%M:%f000Z', e.first_timestamp)) AS first_time,
           coalesce(e.source_host, e.reporting_instance) AS host
    FROM event_revisions e
    UNION ALL
    SELECT coalesce(a.stage_timestamp, a.request_received_timestamp),
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
           a.id,
           CASE WHEN a.stage_timestamp IS NOT NULL THEN 'stageTimestamp'
                WHEN a.request_received_timestamp IS NOT NULL THEN 'requestReceivedTimestamp' END,
           NULL,
           a.audit_id,
           NULL,
           NULL
    FROM audit_events a
    WHERE a.id = (SELECT b.id FROM audit_events b WHERE b.audit_id = a.audit_id
                  ORDER BY b.stage = 'ResponseComplete' DESC,
                           coalesce(b.stage_timestamp, b.request_received_timestamp) DESC,
                           b.id DESC
                  LIMIT 1);

-- kubectl's view of repeats: `kubectl describe`'s Events table, one row
-- per Event key (its latest revision held): type, reason, the age of its
-- last occurrence and `x7 over 3m58s` (count, age of the first), FROM
-- (component, host), message. Ages are as of the newest Event occurrence
-- the database holds (`as_of`), as kubectl would have printed them then;
-- they are written as kubectl's HumanDuration writes them.
CREATE VIEW event_describe AS
    SELECT key, uid, object_kind, object_namespace, object_name, type, reason,
           age,
           CASE WHEN count > 1 THEN age || ' (x' || count || ' over ' || first_age || ')'
                ELSE first_age END AS interval,
           "from", message, count, first_seen, last_seen, as_of,
           last_age_seconds, first_age_seconds, span_seconds, mod_revision, live
    FROM (
        SELECT d.*,
               CASE WHEN d.last_age_seconds IS NULL THEN '<unknown>'
                WHEN d.last_age_seconds < -1 THEN '<invalid>'
                WHEN d.last_age_seconds < 0 THEN '0s'
                WHEN d.last_age_seconds < 120 THEN d.last_age_seconds || 's'
                WHEN d.last_age_seconds / 60 < 10 THEN (d.last_age_seconds / 60) || 'm'
                    || CASE WHEN d.last_age_seconds % 60 = 0 THEN '' ELSE (d.last_age_seconds % 60) || 's' END
                WHEN d.last_age_seconds / 60 < 180 THEN (d.last_age_seconds / 60) || 'm'
                WHEN d.last_age_seconds / 3600 < 8 THEN (d.last_age_seconds / 3600) || 'h'
                    || CASE WHEN (d.last_age_seconds / 60) % 60 = 0 THEN '' ELSE ((d.last_age_seconds / 60) % 60) || 'm' END
                WHEN d.last_age_seconds / 3600 < 48 THEN (d.last_age_seconds / 3600) || 'h'
                WHEN d.last_age_seconds / 3600 < 192 THEN (d.last_age_seconds / 86400) || 'd'
                    || CASE WHEN (d.last_age_seconds / 3600) % 24 = 0 THEN '' ELSE ((d.last_age_seconds / 3600) % 24) || 'h' END
                WHEN d.last_age_seconds / 3600 < 17520 THEN (d.last_age_seconds / 86400) || 'd'
                WHEN d.last_age_seconds / 3600 < 70080 THEN (d.last_age_seconds / 86400 / 365) || 'y'
                    || CASE WHEN (d.last_age_seconds / 86400) % 365 = 0 THEN '' ELSE ((d.last_age_seconds / 86400) % 365) || 'd' END
                ELSE (d.last_age_seconds / 86400 / 365) || 'y' END AS age,
               CASE WHEN d.first_age_seconds IS NULL THEN '<unknown>'
                WHEN d.first_age_seconds < -1 THEN '<invalid>'
                WHEN d.first_age_seconds < 0 THEN '0s'
                WHEN d.first_age_seconds < 120 THEN d.first_age_seconds || 's'
                WHEN d.first_age_seconds / 60 < 10 THEN (d.first_age_seconds / 60) || 'm'
                    || CASE WHEN d.first_age_seconds % 60 = 0 THEN '' ELSE (d.first_age_seconds % 60) || 's' END
                WHEN d.first_age_seconds / 60 < 180 THEN (d.first_age_seconds / 60) || 'm'
                WHEN d.first_age_seconds / 3600 < 8 THEN (d.first_age_seconds / 3600) || 'h'
                    || CASE WHEN (d.first_age_seconds / 60) % 60 = 0 THEN '' ELSE ((d.first_age_seconds / 60) % 60) || 'm' END
                WHEN d.first_age_seconds / 3600 < 48 THEN (d.first_age_seconds / 3600) || 'h'
                WHEN d.first_age_seconds / 3600 < 192 THEN (d.first_age_seconds / 86400) || 'd'
                    || CASE WHEN (d.first_age_seconds / 3600) % 24 = 0 THEN '' ELSE ((d.first_age_seconds / 3600) % 24) || 'h' END
                WHEN d.first_age_seconds / 3600 < 17520 THEN (d.first_age_seconds / 86400) || 'd'
                WHEN d.first_age_seconds / 3600 < 70080 THEN (d.first_age_seconds / 86400 / 365) || 'y'
                    || CASE WHEN (d.first_age_seconds / 86400) % 365 = 0 THEN '' ELSE ((d.first_age_seconds / 86400) % 365) || 'd' END
                ELSE (d.first_age_seconds / 86400 / 365) || 'y' END AS first_age
        FROM (
            SELECT b.*,
                   CAST(round((julianday(b.as_of) - julianday(b.last_seen)) * 86400000.0) / 1000 AS INTEGER) AS last_age_seconds,
                   CAST(round((julianday(b.as_of) - julianday(b.first_seen)) * 86400000.0) / 1000 AS INTEGER) AS first_age_seconds,
                   CAST(round((julianday(b.last_seen) - julianday(b.first_seen)) * 86400000.0) / 1000 AS INTEGER) AS span_seconds
            FROM (
                -- max(): SQLite takes the other columns from the row holding it.
                SELECT key, max(mod_revision) AS mod_revision, uid,
                       involved_kind AS object_kind, involved_namespace AS object_namespace,
                       involved_name AS object_name, type, reason,
                       coalesce(series_count, count, 1) AS count,
                       coalesce(event_time, strftime('%Y-%m-%dT%H:%M:%f000Z', first_timestamp)) AS first_seen,
                       occurred_at AS last_seen,
                       coalesce(source_component, reporting_component)
                           || coalesce(', ' || coalesce(source_host, reporting_instance), '') AS "from",
                       trim(message) AS message, live,
                       (SELECT max(occurred_at) FROM event_revisions) AS as_of
                FROM event_revisions GROUP BY key
            ) b
        ) d
    );

-- Two clusters in one database are not merged silently: each source's
-- cluster identity. `cluster` is the name `ingest --cluster` gave (a
-- database holds one cluster: a load naming another is refused);
-- `kube_system_uid` the uid of the kube-system namespace the source holds
-- (Kubernetes' cluster identity: a load whose uid differs from another
-- source's is refused); `etcd_members` the member ids (hex, a JSON array)
-- of the db's `members` bucket, the etcd the source was read from.
ALTER TABLE sources ADD COLUMN cluster TEXT;
ALTER TABLE sources ADD COLUMN kube_system_uid TEXT;
ALTER TABLE sources ADD COLUMN etcd_members TEXT;

-- Speed of every question: `timeline --object`/`--uid` resolve the owner
-- tree first, then fetch its lines through indexes. An audited request is
-- found by the uid the timeline gives it (objectRef.uid, else the
-- response object's metadata.uid) or by its object's name; the Event and
-- object indexes of this step are query indexes (schema.rs:
-- EVENT_QUERY_INDEXES_V6, OBJECT_QUERY_INDEXES_V6), built by the rung.
CREATE INDEX audit_events_by_object_uid
    ON audit_events(coalesce(object_uid, json_extract(response_object, '$.metadata.uid')));
CREATE INDEX audit_events_by_object_name ON audit_events(object_name);
-- `timeline --user` finds a user's requests by username or impersonated
-- user, each through an index (audit_events_by_user has the first).
CREATE INDEX audit_events_by_impersonated_user ON audit_events(impersonated_user);
