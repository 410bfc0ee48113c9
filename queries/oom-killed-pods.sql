-- Pods and containers killed for running out of memory (Events, including expired ones)
SELECT occurred_at, namespace, involved_kind, involved_name, reason, message, live
FROM events
WHERE reason IN ('OOMKilling', 'OOMKilled', 'SystemOOM')
   OR message LIKE '%OOMKilled%' OR message LIKE '%out of memory%'
ORDER BY occurred_at, mod_revision, sub_revision;
