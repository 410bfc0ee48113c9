-- Who deleted what: every delete request the audit logs recorded, with its outcome
SELECT request_received_timestamp, username, impersonated_user, verb,
       object_resource, object_subresource, object_namespace, object_name,
       response_code, source_ips, user_agent
FROM audit_deletions
ORDER BY request_received_timestamp, audit_id;
