
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
