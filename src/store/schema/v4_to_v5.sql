-- Version 5: what the WAL beside a db adds. Event revisions replayed from
-- it carry their raft entry and how their revision was established;
-- tombstones carry their cause; writes whose outcome is unknown are kept
-- apart; each replay's figures are kept per source, and every file read.
ALTER TABLE event_revisions ADD COLUMN raft_index INTEGER;
ALTER TABLE event_revisions ADD COLUMN raft_term INTEGER;
ALTER TABLE event_revisions ADD COLUMN revision_basis TEXT;

ALTER TABLE deletions ADD COLUMN cause TEXT;
ALTER TABLE deletions ADD COLUMN revoked_lease INTEGER;
ALTER TABLE deletions ADD COLUMN raft_index INTEGER;
ALTER TABLE object_deletions ADD COLUMN cause TEXT;
ALTER TABLE object_deletions ADD COLUMN revoked_lease INTEGER;
ALTER TABLE object_deletions ADD COLUMN raft_index INTEGER;

DROP VIEW events;
CREATE VIEW events AS
    SELECT id, source_id, key, mod_revision, sub_revision,
    create_revision, version, lease, live, deleted_revision, recovered_from, encoding,
    decode_note, unknown_fields, api_version, kind, namespace, name, uid, creation_timestamp,
    reason, message, type, count, first_timestamp, last_timestamp, event_time, series_count,
    series_last_observed_time, occurred_at, action, reporting_component, reporting_instance,
    source_component, source_host, involved_kind, involved_namespace, involved_name,
    involved_uid, involved_api_version, involved_resource_version, involved_field_path,
    related_kind, related_namespace, related_name, related_uid, v.object AS object, v.raw AS raw,
    raft_index, raft_term, revision_basis
    FROM event_revisions LEFT JOIN event_values v USING (id);

CREATE TABLE wal_unresolved_writes (
    id                          INTEGER PRIMARY KEY,
    source_id                   INTEGER NOT NULL REFERENCES sources(id),
    raft_index                  INTEGER NOT NULL,
    raft_term                   INTEGER NOT NULL,
    key                         TEXT NOT NULL,
    operation                   TEXT NOT NULL,
    why                         TEXT NOT NULL,
    value                       BLOB
);
CREATE INDEX wal_unresolved_writes_by_key ON wal_unresolved_writes(key, raft_index);

CREATE TABLE wal_replays (
    source_id                   INTEGER PRIMARY KEY REFERENCES sources(id),
    directory                   TEXT NOT NULL,
    files                       INTEGER NOT NULL,
    bytes                       INTEGER NOT NULL,
    first_index                 INTEGER,
    last_index                  INTEGER,
    consistent_index            INTEGER,
    committed_entries           INTEGER NOT NULL,
    replaced_entries            INTEGER NOT NULL,
    uncommitted_entries         INTEGER NOT NULL,
    applied_writes              INTEGER NOT NULL,
    replayed_records            INTEGER NOT NULL,
    failed_compares             INTEGER NOT NULL,
    unresolved                  INTEGER NOT NULL,
    contradictions              INTEGER NOT NULL,
    damaged                     INTEGER NOT NULL
);

-- Every file a source was read from: a data directory's db, its older
-- copies (member/snap/*.snap.db) and its WAL segments, each hashed.
CREATE TABLE source_files (
    source_id                   INTEGER NOT NULL REFERENCES sources(id),
    path                        TEXT NOT NULL,
    role                        TEXT NOT NULL,
    sha256                      TEXT,
    size_bytes                  INTEGER NOT NULL,
    PRIMARY KEY (source_id, path)
) WITHOUT ROWID;

-- Event keys whose deletion is known but none of whose values is: every
-- revision was compacted away before any copy was read.
CREATE VIEW tombstone_only_events AS
    SELECT d.key, d.revision, d.sub_revision, d.cause, d.revoked_lease, d.raft_index, d.source_id
    FROM deletions d
    WHERE NOT EXISTS (SELECT 1 FROM event_revisions e WHERE e.key = d.key);
