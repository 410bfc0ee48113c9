-- Who opened a shell or attached to a container (pods/exec, pods/attach, pods/portforward)
SELECT request_received_timestamp, username, impersonated_user, object_namespace, object_name,
       object_subresource, request_uri, response_code, source_ips
FROM audit_events
WHERE object_resource = 'pods'
  AND object_subresource IN ('exec', 'attach', 'portforward')
  AND stage IN ('ResponseStarted', 'ResponseComplete')
GROUP BY audit_id
ORDER BY request_received_timestamp;
