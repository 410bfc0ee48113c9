//! What `export` reads: the timeline's lines with every column an exported
//! record carries (the whole Event revision or audit event, the source's
//! hash), selected by exactly the timeline's filters and in its order, one
//! row at a time; and the objects' owner references, for grouping Events
//! by the object that owns theirs.
//!
//! One statement, stepped row by row: memory does not grow with the case
//! (SQLite's sorter spills to its temp files). The wide columns (the
//! Event's JSON) are never sorted: only the few metadata fields an export
//! needs are taken out of it, in SQL.

use rusqlite::types::Value;
use rusqlite::{Row, ToSql};

use super::timeline::{Timeline, TimelineError, TimelineQuery};

/// Where an exported row comes from: the evidence and the place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSource {
    /// `sources.sha256`: of the file as it is on disk.
    pub sha256: Option<String>,
    /// `sources.kind` (`etcd-snapshot`, `audit-log`, …).
    pub kind: Option<String>,
    /// `sources.location`.
    pub location: Option<String>,
}

/// One Event revision, as `events` holds it (columns named as there).
#[derive(Debug, Clone, PartialEq)]
pub struct EventExportRow {
    pub id: i64,
    pub key: String,
    pub mod_revision: i64,
    pub sub_revision: i64,
    pub create_revision: Option<i64>,
    pub version: Option<i64>,
    pub lease: Option<i64>,
    pub live: bool,
    pub deleted_revision: Option<i64>,
    pub recovered_from: String,
    pub encoding: String,
    pub api_version: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub uid: Option<String>,
    pub creation_timestamp: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub event_type: Option<String>,
    pub count: Option<i64>,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub event_time: Option<String>,
    pub series_count: Option<i64>,
    pub series_last_observed_time: Option<String>,
    pub occurred_at: Option<String>,
    pub action: Option<String>,
    pub reporting_component: Option<String>,
    pub reporting_instance: Option<String>,
    pub source_component: Option<String>,
    pub source_host: Option<String>,
    pub involved_kind: Option<String>,
    pub involved_namespace: Option<String>,
    pub involved_name: Option<String>,
    pub involved_uid: Option<String>,
    pub involved_api_version: Option<String>,
    pub involved_resource_version: Option<String>,
    pub involved_field_path: Option<String>,
    pub related_kind: Option<String>,
    pub related_namespace: Option<String>,
    pub related_name: Option<String>,
    pub related_uid: Option<String>,
    /// `metadata.labels` of the stored Event, as JSON text.
    pub labels_json: Option<String>,
    /// `metadata.annotations`, as JSON text.
    pub annotations_json: Option<String>,
    pub self_link: Option<String>,
    pub generate_name: Option<String>,
    /// `occurred_at` of the key's next revision (the next occurrence of
    /// the same Event), when [`ExportColumns::next_occurrence`] asked.
    pub next_occurred_at: Option<String>,
    pub source: RowSource,
    /// The timeline's time of the line: an Event's occurrence (else its
    /// creation), a request's stage (else its receipt); `None`: no time.
    pub time: Option<String>,
}

/// One audited request (its `timeline` line: the `ResponseComplete` stage
/// or the latest the logs hold).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditExportRow {
    pub id: i64,
    pub audit_id: String,
    pub stage: String,
    pub api_version: Option<String>,
    pub level: Option<String>,
    pub verb: Option<String>,
    pub request_uri: Option<String>,
    pub username: Option<String>,
    /// JSON array text.
    pub user_groups: Option<String>,
    pub impersonated_user: Option<String>,
    /// JSON array text.
    pub source_ips: Option<String>,
    pub user_agent: Option<String>,
    pub object_resource: Option<String>,
    pub object_subresource: Option<String>,
    pub object_namespace: Option<String>,
    pub object_name: Option<String>,
    pub object_api_group: Option<String>,
    pub object_api_version: Option<String>,
    pub response_code: Option<i64>,
    pub response_reason: Option<String>,
    pub request_received_timestamp: Option<String>,
    pub stage_timestamp: Option<String>,
    pub file: String,
    pub line: i64,
    /// The record's text as the log holds it, when
    /// [`ExportColumns::audit_raw`] asked.
    pub raw: Option<String>,
    /// The timeline's kind of the object (from the resource).
    pub object_kind: Option<String>,
    /// `objectRef.uid`, or the response object's uid.
    pub object_uid: Option<String>,
    /// The timeline's one-line summary (`patch deployments shop/web → 200`).
    pub summary: Option<String>,
    /// A write: create, update, patch, delete, deletecollection.
    pub write: bool,
    /// Refused (401/403).
    pub denied: bool,
    /// The revision the write made (the response's resourceVersion).
    pub revision: Option<i64>,
    pub source: RowSource,
    /// The timeline's time of the line: an Event's occurrence (else its
    /// creation), a request's stage (else its receipt); `None`: no time.
    pub time: Option<String>,
}

/// One line of an export.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportRow {
    Event(Box<EventExportRow>),
    Audit(Box<AuditExportRow>),
}

/// Which of the costlier columns a format needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportColumns {
    /// Each Event revision's next occurrence (a lookup per row by key).
    pub next_occurrence: bool,
    /// The audit record's text.
    pub audit_raw: bool,
}

/// An object's owner references, for following ownership upward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectOwners {
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub uid: String,
    /// `owner_references` JSON text (NULL when none).
    pub owner_references: Option<String>,
}

fn select(columns: ExportColumns) -> String {
    let next = if columns.next_occurrence {
        "(SELECT n.occurred_at FROM event_revisions n
            WHERE n.key = e.key AND n.occurred_at IS NOT NULL
              AND (n.mod_revision > e.mod_revision
                   OR (n.mod_revision = e.mod_revision AND n.sub_revision > e.sub_revision))
            ORDER BY n.mod_revision, n.sub_revision LIMIT 1)"
    } else {
        "NULL"
    };
    let raw = if columns.audit_raw { "a.raw" } else { "NULL" };
    format!(
        "SELECT tl.source, tl.object_kind, tl.object_uid, tl.message, tl.write, tl.denied, tl.revision,
            e.id, e.key, e.mod_revision, e.sub_revision, e.create_revision, e.version, e.lease,
            e.live, e.deleted_revision, e.recovered_from, e.encoding, e.api_version, e.namespace,
            e.name, e.uid, e.creation_timestamp, e.reason, e.message, e.type, e.count,
            e.first_timestamp, e.last_timestamp, e.event_time, e.series_count,
            e.series_last_observed_time, e.occurred_at, e.action, e.reporting_component,
            e.reporting_instance, e.source_component, e.source_host, e.involved_kind,
            e.involved_namespace, e.involved_name, e.involved_uid, e.involved_api_version,
            e.involved_resource_version, e.involved_field_path, e.related_kind,
            e.related_namespace, e.related_name, e.related_uid,
            json_extract(v.object, '$.metadata.labels'),
            json_extract(v.object, '$.metadata.annotations'),
            json_extract(v.object, '$.metadata.selfLink'),
            json_extract(v.object, '$.metadata.generateName'),
            {next},
            a.id, a.audit_id, a.stage, a.api_version, a.level, a.verb, a.request_uri, a.username,
            a.user_groups, a.impersonated_user, a.source_ips, a.user_agent, a.object_resource,
            a.object_subresource, a.object_namespace, a.object_name, a.object_api_group,
            a.object_api_version, a.response_code, a.response_reason,
            a.request_received_timestamp, a.stage_timestamp, a.file, a.line, {raw},
            s.sha256, s.kind, s.location, tl.time
         FROM timeline tl
         LEFT JOIN event_revisions e ON e.id = tl.event_id
         LEFT JOIN event_values v ON v.id = tl.event_id
         LEFT JOIN audit_events a ON a.id = tl.audit_event_id
         LEFT JOIN sources s ON s.id = coalesce(e.source_id, a.source_id)"
    )
}

fn row_source(r: &Row<'_>, at: usize) -> rusqlite::Result<RowSource> {
    Ok(RowSource {
        sha256: r.get(at)?,
        kind: r.get(at + 1)?,
        location: r.get(at + 2)?,
    })
}

/// Column of the first `e.` field, of the first `a.` field and of `s.sha256`.
const EVENT_AT: usize = 7;
const AUDIT_AT: usize = EVENT_AT + 47;
const SOURCE_AT: usize = AUDIT_AT + 25;

fn event_row(r: &Row<'_>) -> rusqlite::Result<EventExportRow> {
    let c = |i: usize| EVENT_AT + i;
    Ok(EventExportRow {
        id: r.get(c(0))?,
        key: r.get(c(1))?,
        mod_revision: r.get(c(2))?,
        sub_revision: r.get(c(3))?,
        create_revision: r.get(c(4))?,
        version: r.get(c(5))?,
        lease: r.get(c(6))?,
        live: r.get::<_, Option<i64>>(c(7))?.unwrap_or(0) != 0,
        deleted_revision: r.get(c(8))?,
        recovered_from: r.get(c(9))?,
        encoding: r.get(c(10))?,
        api_version: r.get(c(11))?,
        namespace: r.get(c(12))?,
        name: r.get(c(13))?,
        uid: r.get(c(14))?,
        creation_timestamp: r.get(c(15))?,
        reason: r.get(c(16))?,
        message: r.get(c(17))?,
        event_type: r.get(c(18))?,
        count: r.get(c(19))?,
        first_timestamp: r.get(c(20))?,
        last_timestamp: r.get(c(21))?,
        event_time: r.get(c(22))?,
        series_count: r.get(c(23))?,
        series_last_observed_time: r.get(c(24))?,
        occurred_at: r.get(c(25))?,
        action: r.get(c(26))?,
        reporting_component: r.get(c(27))?,
        reporting_instance: r.get(c(28))?,
        source_component: r.get(c(29))?,
        source_host: r.get(c(30))?,
        involved_kind: r.get(c(31))?,
        involved_namespace: r.get(c(32))?,
        involved_name: r.get(c(33))?,
        involved_uid: r.get(c(34))?,
        involved_api_version: r.get(c(35))?,
        involved_resource_version: r.get(c(36))?,
        involved_field_path: r.get(c(37))?,
        related_kind: r.get(c(38))?,
        related_namespace: r.get(c(39))?,
        related_name: r.get(c(40))?,
        related_uid: r.get(c(41))?,
        labels_json: r.get(c(42))?,
        annotations_json: r.get(c(43))?,
        self_link: r.get(c(44))?,
        generate_name: r.get(c(45))?,
        next_occurred_at: r.get(c(46))?,
        source: row_source(r, SOURCE_AT)?,
        time: r.get(SOURCE_AT + 3)?,
    })
}

fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditExportRow> {
    let c = |i: usize| AUDIT_AT + i;
    Ok(AuditExportRow {
        id: r.get(c(0))?,
        audit_id: r.get(c(1))?,
        stage: r.get(c(2))?,
        api_version: r.get(c(3))?,
        level: r.get(c(4))?,
        verb: r.get(c(5))?,
        request_uri: r.get(c(6))?,
        username: r.get(c(7))?,
        user_groups: r.get(c(8))?,
        impersonated_user: r.get(c(9))?,
        source_ips: r.get(c(10))?,
        user_agent: r.get(c(11))?,
        object_resource: r.get(c(12))?,
        object_subresource: r.get(c(13))?,
        object_namespace: r.get(c(14))?,
        object_name: r.get(c(15))?,
        object_api_group: r.get(c(16))?,
        object_api_version: r.get(c(17))?,
        response_code: r.get(c(18))?,
        response_reason: r.get(c(19))?,
        request_received_timestamp: r.get(c(20))?,
        stage_timestamp: r.get(c(21))?,
        file: r.get(c(22))?,
        line: r.get(c(23))?,
        raw: r.get(c(24))?,
        object_kind: r.get(1)?,
        object_uid: r.get(2)?,
        summary: r.get(3)?,
        write: r.get::<_, Option<i64>>(4)?.unwrap_or(0) != 0,
        denied: r.get::<_, Option<i64>>(5)?.unwrap_or(0) != 0,
        revision: r.get(6)?,
        source: row_source(r, SOURCE_AT)?,
        time: r.get(SOURCE_AT + 3)?,
    })
}

impl Timeline<'_> {
    /// Calls `each` with every line `query` selects, as a whole exported
    /// row, in the timeline's order.
    pub fn for_each_export_row<E: From<TimelineError>>(
        &self,
        query: &TimelineQuery,
        columns: ExportColumns,
        mut each: impl FnMut(ExportRow) -> Result<(), E>,
    ) -> Result<(), E> {
        let (sql, params) = self.filtered_sql(query, &select(columns));
        let mut stmt = self
            .store()
            .connection()
            .prepare(&sql)
            .map_err(TimelineError::Prepare)?;
        let params: Vec<(&str, &dyn ToSql)> = params
            .iter()
            .map(|(name, value): &(&str, Value)| (*name, value as &dyn ToSql))
            .collect();
        let mut rows = stmt.query(params.as_slice()).map_err(TimelineError::from)?;
        while let Some(r) = rows.next().map_err(TimelineError::from)? {
            let source: String = r.get(0).map_err(TimelineError::from)?;
            let row = if source == "event" {
                ExportRow::Event(Box::new(event_row(r).map_err(TimelineError::from)?))
            } else {
                ExportRow::Audit(Box::new(audit_row(r).map_err(TimelineError::from)?))
            };
            each(row)?;
        }
        Ok(())
    }

    /// How many lines `query` selects (for a progress bar).
    pub fn count(&self, query: &TimelineQuery) -> Result<u64, TimelineError> {
        let (sql, params) = self.filtered_sql(query, "SELECT 1 FROM timeline tl");
        let params: Vec<(&str, &dyn ToSql)> = params
            .iter()
            .map(|(name, value): &(&str, Value)| (*name, value as &dyn ToSql))
            .collect();
        let n: i64 = self.store().connection().query_row(
            &format!("SELECT count(*) FROM ({sql})"),
            params.as_slice(),
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Every object with a uid and its owner references, older revisions
    /// first (a later revision's references replace an earlier one's).
    pub fn for_each_object_owners<E: From<TimelineError>>(
        &self,
        mut each: impl FnMut(ObjectOwners) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut stmt = self
            .store()
            .connection()
            .prepare(
                "SELECT kind, namespace, name, uid, owner_references FROM objects
                 WHERE uid IS NOT NULL ORDER BY mod_revision, sub_revision",
            )
            .map_err(TimelineError::Prepare)?;
        let mut rows = stmt.query([]).map_err(TimelineError::from)?;
        while let Some(r) = rows.next().map_err(TimelineError::from)? {
            let owners = ObjectOwners {
                kind: r.get(0).map_err(TimelineError::from)?,
                namespace: r.get(1).map_err(TimelineError::from)?,
                name: r.get(2).map_err(TimelineError::from)?,
                uid: r.get(3).map_err(TimelineError::from)?,
                owner_references: r.get(4).map_err(TimelineError::from)?,
            };
            each(owners)?;
        }
        Ok(())
    }
}
