
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
