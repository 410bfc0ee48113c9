-- Version 6.

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
