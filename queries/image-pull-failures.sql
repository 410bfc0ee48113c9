-- Images that failed to pull: which image, where, how often (Events)
SELECT namespace, involved_name, reason, message,
       count(*) AS revisions, max(count) AS highest_count,
       min(occurred_at) AS first_seen, max(occurred_at) AS last_seen
FROM events
WHERE reason IN ('ErrImagePull', 'ImagePullBackOff', 'ErrImageNeverPull', 'InvalidImageName')
   OR (reason IN ('Failed', 'BackOff') AND (message LIKE '%pull%' OR message LIKE '%image%'))
GROUP BY namespace, involved_name, reason, message
ORDER BY first_seen;
