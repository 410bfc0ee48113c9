-- Events that had already expired or been deleted when the snapshot was taken (kubectl no longer shows them)
SELECT e.occurred_at, e.namespace, e.involved_kind, e.involved_name, e.reason, e.message,
       d.revision AS deleted_at_revision
FROM events e JOIN deletions d
  ON d.key = e.key AND d.revision = e.deleted_revision
WHERE e.live = 0
  AND e.mod_revision = (SELECT max(mod_revision) FROM events x
                        WHERE x.key = e.key AND x.mod_revision < d.revision)
ORDER BY e.occurred_at, e.key;
