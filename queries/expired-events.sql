-- Events that were gone (expired, deleted, or compacted away) when the newest snapshot was taken, with how each is known to be gone (kubectl no longer shows them)
SELECT occurred_at, namespace, involved_kind, involved_name, reason, message,
       gone_because, gone_revision AS deleted_at_revision, recovered_from, key, uid
FROM expired_events
ORDER BY occurred_at, key;
