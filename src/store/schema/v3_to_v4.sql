
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
INSERT INTO event_revisions (id, source_id, key, mod_revision, sub_revision,
    create_revision, version, lease, live, deleted_revision, recovered_from, encoding,
    decode_note, unknown_fields, api_version, kind, namespace, name, uid, creation_timestamp,
    reason, message, type, count, first_timestamp, last_timestamp, event_time, series_count,
    series_last_observed_time, occurred_at, action, reporting_component, reporting_instance,
    source_component, source_host, involved_kind, involved_namespace, involved_name,
    involved_uid, involved_api_version, involved_resource_version, involved_field_path,
    related_kind, related_namespace, related_name, related_uid) SELECT id, source_id, key, mod_revision, sub_revision,
    create_revision, version, lease, live, deleted_revision, recovered_from, encoding,
    decode_note, unknown_fields, api_version, kind, namespace, name, uid, creation_timestamp,
    reason, message, type, count, first_timestamp, last_timestamp, event_time, series_count,
    series_last_observed_time, occurred_at, action, reporting_component, reporting_instance,
    source_component, source_host, involved_kind, involved_namespace, involved_name,
    involved_uid, involved_api_version, involved_resource_version, involved_field_path,
    related_kind, related_namespace, related_name, related_uid FROM events;
INSERT INTO event_values (id, object, raw) SELECT id, object, raw FROM events;
DROP TABLE events_fts;
DROP TABLE events;

-- The left join costs nothing when a query uses neither object nor raw
-- (SQLite drops a join on a unique key whose columns are unused).
CREATE VIEW events AS
    SELECT id, source_id, key, mod_revision, sub_revision,
    create_revision, version, lease, live, deleted_revision, recovered_from, encoding,
    decode_note, unknown_fields, api_version, kind, namespace, name, uid, creation_timestamp,
    reason, message, type, count, first_timestamp, last_timestamp, event_time, series_count,
    series_last_observed_time, occurred_at, action, reporting_component, reporting_instance,
    source_component, source_host, involved_kind, involved_namespace, involved_name,
    involved_uid, involved_api_version, involved_resource_version, involved_field_path,
    related_kind, related_namespace, related_name, related_uid, v.object AS object, v.raw AS raw
    FROM event_revisions LEFT JOIN event_values v USING (id);

CREATE UNIQUE INDEX events_by_revision ON event_revisions(mod_revision, sub_revision, key);
CREATE VIRTUAL TABLE events_fts USING fts5(
    reason, message, involved_name,
    content = 'event_revisions', content_rowid = 'id'
);
INSERT INTO events_fts (events_fts) VALUES ('rebuild');
