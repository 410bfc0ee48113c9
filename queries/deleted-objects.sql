-- Objects the cluster no longer holds (deleted) whose revisions a snapshot still has, newest first, with what owned them
SELECT kind, namespace, name, uid, creation_timestamp,
       max(mod_revision) AS last_revision, deleted_revision,
       (SELECT group_concat(json_extract(r.value, '$.kind') || '/' || json_extract(r.value, '$.name'), ', ')
        FROM json_each(o.owner_references) r) AS owners
FROM objects o
WHERE deleted_revision IS NOT NULL
GROUP BY key, create_revision
ORDER BY deleted_revision DESC, key;
