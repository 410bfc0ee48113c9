-- Who read, changed or listed Secrets, and whether it was allowed
SELECT request_received_timestamp, username, impersonated_user, verb, object_namespace, object_name,
       response_code, user_agent
FROM audit_events
WHERE object_resource = 'secrets' AND stage = 'ResponseComplete'
ORDER BY request_received_timestamp, audit_id;
