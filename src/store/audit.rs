//! The writer of Kubernetes audit logs: one transaction per file, batched
//! prepared inserts into `audit_events`.
//!
//! An audit event is identified by `(auditID, stage)`: the same request
//! logged again (rotated files that overlap, a file loaded twice under
//! another name, the webhook and the log backend both kept) is stored once.

use rusqlite::params;

use super::database::{Load, Store};
use super::error::StoreError;
use super::rows::{AuditRow, AuditSummary, DamageRow, SourceRecord};
use super::sources::{insert_damage, insert_source, settle_cluster};

impl Store {
    /// Starts loading one audit log file: opens its transaction and records it.
    pub fn begin_audit_source(
        &mut self,
        source: &SourceRecord,
    ) -> Result<AuditWriter<'_>, StoreError> {
        AuditWriter::begin(self.begin_load()?, source)
    }
}

const INSERT_AUDIT: &str = "INSERT INTO audit_events (
    source_id, file, line, audit_id, stage, api_version, level, verb, request_uri,
    username, user_groups, impersonated_user, source_ips, user_agent,
    object_resource, object_subresource, object_namespace, object_name, object_uid,
    object_api_group, object_api_version, object_resource_version,
    response_code, response_reason, response_message,
    request_received_timestamp, stage_timestamp, annotations, request_object, response_object, raw)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
    ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)
  ON CONFLICT (audit_id, stage) DO NOTHING";

/// The columns that say what happened: two copies of one audit event
/// (auditID and stage) must agree on them. `line`, `raw` and `api_version`
/// may differ (the same event logged by another backend or API version).
const CONTENT_COLUMNS: [&str; 23] = [
    "level",
    "verb",
    "request_uri",
    "username",
    "user_groups",
    "impersonated_user",
    "source_ips",
    "user_agent",
    "object_resource",
    "object_subresource",
    "object_namespace",
    "object_name",
    "object_uid",
    "object_api_group",
    "object_api_version",
    "object_resource_version",
    "response_code",
    "response_reason",
    "response_message",
    "request_received_timestamp",
    "stage_timestamp",
    "annotations",
    "request_object",
];

/// The values of [`CONTENT_COLUMNS`] (and `response_object`) of a row, as
/// text.
fn content(r: &AuditRow) -> Vec<Option<String>> {
    vec![
        r.level.clone(),
        r.verb.clone(),
        r.request_uri.clone(),
        r.username.clone(),
        r.user_groups.clone(),
        r.impersonated_user.clone(),
        r.source_ips.clone(),
        r.user_agent.clone(),
        r.object_resource.clone(),
        r.object_subresource.clone(),
        r.object_namespace.clone(),
        r.object_name.clone(),
        r.object_uid.clone(),
        r.object_api_group.clone(),
        r.object_api_version.clone(),
        r.object_resource_version.clone(),
        r.response_code.map(|c| c.to_string()),
        r.response_reason.clone(),
        r.response_message.clone(),
        r.request_received_timestamp.clone(),
        r.stage_timestamp.clone(),
        r.annotations.clone(),
        r.request_object.clone(),
        r.response_object.clone(),
    ]
}

/// Loads one audit file inside one transaction. Dropping it without
/// [`finish`](AuditWriter::finish) rolls everything back.
pub struct AuditWriter<'c> {
    load: Load<'c>,
    file: String,
    summary: AuditSummary,
}

impl<'c> AuditWriter<'c> {
    fn begin(load: Load<'c>, source: &SourceRecord) -> Result<Self, StoreError> {
        let source_id = insert_source(load.conn(), source)?;
        Ok(AuditWriter {
            load,
            file: source.location.clone(),
            summary: AuditSummary {
                source_id,
                ..AuditSummary::default()
            },
        })
    }

    pub fn source_id(&self) -> i64 {
        self.summary.source_id
    }

    /// The file recorded with every row and damaged record.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Writes a batch of audit events; those already stored (same auditID
    /// and stage) are counted but not stored again.
    pub fn write_events(&mut self, rows: &[AuditRow]) -> Result<(), StoreError> {
        let mut insert = self.load.conn().prepare_cached(INSERT_AUDIT)?;
        let mut conflicts = Vec::new();
        for r in rows {
            let inserted = insert.execute(params![
                self.summary.source_id,
                self.file,
                r.line,
                r.audit_id,
                r.stage,
                r.api_version,
                r.level,
                r.verb,
                r.request_uri,
                r.username,
                r.user_groups,
                r.impersonated_user,
                r.source_ips,
                r.user_agent,
                r.object_resource,
                r.object_subresource,
                r.object_namespace,
                r.object_name,
                r.object_uid,
                r.object_api_group,
                r.object_api_version,
                r.object_resource_version,
                r.response_code,
                r.response_reason,
                r.response_message,
                r.request_received_timestamp,
                r.stage_timestamp,
                r.annotations,
                r.request_object,
                r.response_object,
                r.raw,
            ])?;
            self.summary.audit_events += 1;
            self.summary.new_audit_events += inserted as u64;
            if inserted == 0 {
                if let Some(d) = self.compare_with_stored(r)? {
                    conflicts.push(d);
                }
            }
        }
        drop(insert);
        if !conflicts.is_empty() {
            self.write_damage(&conflicts)?;
        }
        Ok(())
    }

    /// A copy of an event already stored must say the same; if it does not
    /// (an altered log), the difference is reported and the first copy kept.
    fn compare_with_stored(&self, r: &AuditRow) -> Result<Option<DamageRow>, StoreError> {
        let sql = format!(
            "SELECT source_id, file, line, {}, CAST(response_object AS TEXT)
             FROM audit_events WHERE audit_id = ?1 AND stage = ?2",
            CONTENT_COLUMNS
                .iter()
                .map(|c| format!("CAST({c} AS TEXT)"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut stmt = self.load.conn().prepare_cached(&sql)?;
        let (source, file, line, stored): (i64, String, i64, Vec<Option<String>>) = stmt
            .query_row(params![r.audit_id, r.stage], |row| {
                let mut values = Vec::with_capacity(CONTENT_COLUMNS.len() + 1);
                for i in 0..=CONTENT_COLUMNS.len() {
                    values.push(row.get(3 + i)?);
                }
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, values))
            })?;
        let differing: Vec<&str> = CONTENT_COLUMNS
            .iter()
            .copied()
            .chain(["response_object"])
            .zip(stored.iter().zip(content(r)))
            .filter(|(_, (a, b))| **a != *b)
            .map(|(c, _)| c)
            .collect();
        if differing.is_empty() {
            return Ok(None);
        }
        Ok(Some(DamageRow {
            file: Some(self.file.clone()),
            line: Some(r.line),
            reason: format!(
                "audit event {} (stage {}) differs from the copy loaded from {file}:{line} (source {source}) in {}; the earlier copy is kept in audit_events",
                r.audit_id,
                r.stage,
                differing.join(", ")
            ),
            ..DamageRow::default()
        }))
    }

    /// Writes lines that could not be read (with `file` and `line` set).
    pub fn write_damage(&mut self, rows: &[DamageRow]) -> Result<(), StoreError> {
        insert_damage(self.load.conn(), self.summary.source_id, rows)?;
        self.summary.damaged_records += rows.len() as u64;
        Ok(())
    }

    /// Corrects the recorded hash and size of the file, when it changed
    /// between the first hash and the read that loaded it.
    pub fn set_file_identity(&mut self, sha256: &str, size_bytes: u64) -> Result<(), StoreError> {
        self.load.conn().execute(
            "UPDATE sources SET sha256 = ?2, size_bytes = ?3 WHERE id = ?1",
            params![self.summary.source_id, sha256, size_bytes as i64],
        )?;
        Ok(())
    }

    /// Records the totals (and, for a compressed file, the SHA-256 of its
    /// content, known only once it was read) and commits.
    pub fn finish(self, content_sha256: Option<&str>) -> Result<AuditSummary, StoreError> {
        let s = &self.summary;
        self.load.conn().execute(
            "UPDATE sources SET audit_events = ?2, new_audit_events = ?3, damaged_records = ?4,
                content_sha256 = coalesce(?5, content_sha256)
             WHERE id = ?1",
            params![
                s.source_id,
                s.audit_events as i64,
                s.new_audit_events as i64,
                s.damaged_records as i64,
                content_sha256,
            ],
        )?;
        settle_cluster(self.load.conn(), s.source_id, None)?;
        let summary = self.summary.clone();
        self.load.commit()?;
        Ok(summary)
    }
}
