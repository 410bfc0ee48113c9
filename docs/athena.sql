-- Athena (engine v3) tables over an evforensics Parquet dataset
-- (`evforensics export --format parquet --out DIR`, DIR copied to
-- s3://BUCKET/lake/), with partition projection: no crawler, no
-- MSCK REPAIR. `cluster` is injected: every query names its cluster(s)
-- (WHERE cluster = 'prod-eu' or cluster IN (...)); list them with
-- 'projection.cluster.type' = 'enum', 'projection.cluster.values' = 'prod-eu,prod-us'
-- to query the whole fleet without naming them. Rows without a time are
-- under date=__HIVE_DEFAULT_PARTITION__, which projection does not reach.
-- Replace BUCKET. Generated from the files' schema (docs/schema.md).

CREATE EXTERNAL TABLE evforensics_events (
  `id` bigint,
  `source_id` bigint,
  `source_sha256` string,
  `key` string,
  `mod_revision` bigint,
  `sub_revision` bigint,
  `create_revision` bigint,
  `version` bigint,
  `lease` bigint,
  `live` bigint,
  `deleted_revision` bigint,
  `recovered_from` string,
  `encoding` string,
  `decode_note` string,
  `unknown_fields` bigint,
  `api_version` string,
  `kind` string,
  `namespace` string,
  `name` string,
  `uid` string,
  `creation_timestamp` timestamp,
  `reason` string,
  `message` string,
  `type` string,
  `count` bigint,
  `first_timestamp` timestamp,
  `last_timestamp` timestamp,
  `event_time` timestamp,
  `series_count` bigint,
  `series_last_observed_time` timestamp,
  `occurred_at` timestamp,
  `action` string,
  `reporting_component` string,
  `reporting_instance` string,
  `source_component` string,
  `source_host` string,
  `involved_kind` string,
  `involved_namespace` string,
  `involved_name` string,
  `involved_uid` string,
  `involved_api_version` string,
  `involved_resource_version` string,
  `involved_field_path` string,
  `related_kind` string,
  `related_namespace` string,
  `related_name` string,
  `related_uid` string,
  `object` string,
  `raw` binary,
  `raft_index` bigint,
  `raft_term` bigint,
  `revision_basis` string
)
PARTITIONED BY (`cluster` string, `date` date)
STORED AS PARQUET
LOCATION 's3://BUCKET/lake/events/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.cluster.type' = 'injected',
  'projection.date.type' = 'date',
  'projection.date.format' = 'yyyy-MM-dd',
  'projection.date.range' = '2015-01-01,NOW',
  'projection.date.interval' = '1',
  'projection.date.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://BUCKET/lake/events/cluster=${cluster}/date=${date}/'
);

CREATE EXTERNAL TABLE evforensics_audit_events (
  `id` bigint,
  `source_id` bigint,
  `source_sha256` string,
  `file` string,
  `line` bigint,
  `audit_id` string,
  `stage` string,
  `api_version` string,
  `level` string,
  `verb` string,
  `request_uri` string,
  `username` string,
  `user_groups` string,
  `impersonated_user` string,
  `source_ips` string,
  `user_agent` string,
  `object_resource` string,
  `object_subresource` string,
  `object_namespace` string,
  `object_name` string,
  `object_uid` string,
  `object_api_group` string,
  `object_api_version` string,
  `object_resource_version` string,
  `response_code` bigint,
  `response_reason` string,
  `response_message` string,
  `request_received_timestamp` timestamp,
  `stage_timestamp` timestamp,
  `annotations` string,
  `request_object` string,
  `response_object` string,
  `raw` string
)
PARTITIONED BY (`cluster` string, `date` date)
STORED AS PARQUET
LOCATION 's3://BUCKET/lake/audit_events/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.cluster.type' = 'injected',
  'projection.date.type' = 'date',
  'projection.date.format' = 'yyyy-MM-dd',
  'projection.date.range' = '2015-01-01,NOW',
  'projection.date.interval' = '1',
  'projection.date.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://BUCKET/lake/audit_events/cluster=${cluster}/date=${date}/'
);

CREATE EXTERNAL TABLE evforensics_objects (
  `id` bigint,
  `source_id` bigint,
  `source_sha256` string,
  `key` string,
  `resource` string,
  `mod_revision` bigint,
  `sub_revision` bigint,
  `create_revision` bigint,
  `version` bigint,
  `lease` bigint,
  `live` bigint,
  `deleted_revision` bigint,
  `recovered_from` string,
  `encoding` string,
  `decode_note` string,
  `api_version` string,
  `kind` string,
  `namespace` string,
  `name` string,
  `uid` string,
  `creation_timestamp` timestamp,
  `deletion_timestamp` timestamp,
  `labels` string,
  `owner_references` string
)
PARTITIONED BY (`cluster` string, `date` date)
STORED AS PARQUET
LOCATION 's3://BUCKET/lake/objects/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.cluster.type' = 'injected',
  'projection.date.type' = 'date',
  'projection.date.format' = 'yyyy-MM-dd',
  'projection.date.range' = '2015-01-01,NOW',
  'projection.date.interval' = '1',
  'projection.date.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://BUCKET/lake/objects/cluster=${cluster}/date=${date}/'
);

