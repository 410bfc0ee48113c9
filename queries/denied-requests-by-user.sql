-- Requests refused by authentication or authorization (HTTP 401/403), by user
SELECT username, impersonated_user, response_code, count(*) AS requests,
       group_concat(DISTINCT verb) AS verbs,
       group_concat(DISTINCT object_resource) AS resources,
       min(request_received_timestamp) AS first_seen,
       max(request_received_timestamp) AS last_seen
FROM audit_denied_requests
WHERE stage = 'ResponseComplete'
GROUP BY username, impersonated_user, response_code
ORDER BY requests DESC, username;
