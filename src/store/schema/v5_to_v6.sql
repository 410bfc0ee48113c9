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
               (SELECT max(head_revision) FROM sources) AS head
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
