//! What the Parquet export reads: each dataset's rows (`events`,
//! `audit_events`, `objects`) with the columns of `docs/schema.md`, in time
//! order, streamed one row at a time (memory does not grow with the case),
//! and the provenance of the database (its sources, schema version).
//!
//! Time order without sorting the wide rows: a narrow subquery sorts the
//! row ids by time into a temp table (SQLite's sorter spills to temp files
//! past its cache, so memory stays bounded), then each row is read by id in
//! that order. `LIMIT -1` keeps the subquery from being flattened into the
//! join, which would drop its ORDER BY. Audit events have an index on
//! their time and need no sort. The exporter checks the order it is given.

use std::path::Path;

use rusqlite::types::ValueRef;

use super::{Store, StoreError};

/// The first schema version whose columns the export writes (`raft_index`,
/// `revision_basis`, `deletions.cause`: version 5).
pub const EXPORT_SCHEMA_VERSION: i64 = 5;

/// How a column is stored in the database, as the export must type it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Integer,
    Text,
    /// RFC 3339 text in UTC, as the database writes times.
    Time,
    /// JSON text.
    Json,
    /// Bytes (an Event's `raw` value).
    Blob,
}

/// One exported column: its name (as in `docs/schema.md`) and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportColumn {
    pub name: &'static str,
    pub kind: ColumnKind,
}

const fn col(name: &'static str, kind: ColumnKind) -> ExportColumn {
    ExportColumn { name, kind }
}

use ColumnKind::{Blob, Integer as Int, Json, Text, Time};

/// The column every dataset adds after `source_id`: the SHA-256 of that
/// source (`sources.sha256`), so that a row names its evidence outside the
/// database whose ids it was numbered in.
pub const SOURCE_SHA256: &str = "source_sha256";

const EVENT_COLUMNS: &[ExportColumn] = &[
    col("id", Int),
    col("source_id", Int),
    col(SOURCE_SHA256, Text),
    col("key", Text),
    col("mod_revision", Int),
    col("sub_revision", Int),
    col("create_revision", Int),
    col("version", Int),
    col("lease", Int),
    col("live", Int),
    col("deleted_revision", Int),
    col("recovered_from", Text),
    col("encoding", Text),
    col("decode_note", Text),
    col("unknown_fields", Int),
    col("api_version", Text),
    col("kind", Text),
    col("namespace", Text),
    col("name", Text),
    col("uid", Text),
    col("creation_timestamp", Time),
    col("reason", Text),
    col("message", Text),
    col("type", Text),
    col("count", Int),
    col("first_timestamp", Time),
    col("last_timestamp", Time),
    col("event_time", Time),
    col("series_count", Int),
    col("series_last_observed_time", Time),
    col("occurred_at", Time),
    col("action", Text),
    col("reporting_component", Text),
    col("reporting_instance", Text),
    col("source_component", Text),
    col("source_host", Text),
    col("involved_kind", Text),
    col("involved_namespace", Text),
    col("involved_name", Text),
    col("involved_uid", Text),
    col("involved_api_version", Text),
    col("involved_resource_version", Text),
    col("involved_field_path", Text),
    col("related_kind", Text),
    col("related_namespace", Text),
    col("related_name", Text),
    col("related_uid", Text),
    col("object", Json),
    col("raw", Blob),
    col("raft_index", Int),
    col("raft_term", Int),
    col("revision_basis", Text),
];

const AUDIT_COLUMNS: &[ExportColumn] = &[
    col("id", Int),
    col("source_id", Int),
    col(SOURCE_SHA256, Text),
    col("file", Text),
    col("line", Int),
    col("audit_id", Text),
    col("stage", Text),
    col("api_version", Text),
    col("level", Text),
    col("verb", Text),
    col("request_uri", Text),
    col("username", Text),
    col("user_groups", Json),
    col("impersonated_user", Text),
    col("source_ips", Json),
    col("user_agent", Text),
    col("object_resource", Text),
    col("object_subresource", Text),
    col("object_namespace", Text),
    col("object_name", Text),
    col("object_uid", Text),
    col("object_api_group", Text),
    col("object_api_version", Text),
    col("object_resource_version", Text),
    col("response_code", Int),
    col("response_reason", Text),
    col("response_message", Text),
    col("request_received_timestamp", Time),
    col("stage_timestamp", Time),
    col("annotations", Json),
    col("request_object", Json),
    col("response_object", Json),
    col("raw", Text),
];

const OBJECT_COLUMNS: &[ExportColumn] = &[
    col("id", Int),
    col("source_id", Int),
    col(SOURCE_SHA256, Text),
    col("key", Text),
    col("resource", Text),
    col("mod_revision", Int),
    col("sub_revision", Int),
    col("create_revision", Int),
    col("version", Int),
    col("lease", Int),
    col("live", Int),
    col("deleted_revision", Int),
    col("recovered_from", Text),
    col("encoding", Text),
    col("decode_note", Text),
    col("api_version", Text),
    col("kind", Text),
    col("namespace", Text),
    col("name", Text),
    col("uid", Text),
    col("creation_timestamp", Time),
    col("deletion_timestamp", Time),
    col("labels", Json),
    col("owner_references", Json),
];

/// The tables the export writes, one dataset each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportTable {
    Events,
    AuditEvents,
    Objects,
}

impl ExportTable {
    pub const ALL: [ExportTable; 3] = [
        ExportTable::Events,
        ExportTable::AuditEvents,
        ExportTable::Objects,
    ];

    /// The table's name, also the dataset's directory.
    pub fn name(self) -> &'static str {
        match self {
            ExportTable::Events => "events",
            ExportTable::AuditEvents => "audit_events",
            ExportTable::Objects => "objects",
        }
    }

    /// The columns, in the order of the rows [`Store::export_rows`] gives.
    pub fn columns(self) -> &'static [ExportColumn] {
        match self {
            ExportTable::Events => EVENT_COLUMNS,
            ExportTable::AuditEvents => AUDIT_COLUMNS,
            ExportTable::Objects => OBJECT_COLUMNS,
        }
    }

    /// The time the rows are sorted and partitioned by: an Event revision's
    /// `occurred_at`, an audit event's `request_received_timestamp`, an
    /// object revision's `creation_timestamp` (etcd keeps no time of a
    /// revision; an object's revisions stay together under its creation).
    pub fn time_column(self) -> &'static str {
        match self {
            ExportTable::Events => "occurred_at",
            ExportTable::AuditEvents => "request_received_timestamp",
            ExportTable::Objects => "creation_timestamp",
        }
    }

    /// The index of [`ExportTable::time_column`] in [`ExportTable::columns`].
    pub fn time_index(self) -> usize {
        let time = self.time_column();
        self.columns()
            .iter()
            .position(|c| c.name == time)
            .expect("the time column is a column")
    }

    /// The order of the rows: time (NULL first), then what identifies a row.
    pub fn sort_order(self) -> &'static str {
        match self {
            ExportTable::Events => "occurred_at, mod_revision, sub_revision, key",
            ExportTable::AuditEvents => "request_received_timestamp, id",
            ExportTable::Objects => "creation_timestamp, mod_revision, sub_revision, key",
        }
    }

    /// The query: every column, sorted by time (NULL first), then by what
    /// identifies a row (revision and key; an audit event's row id).
    fn sql(self) -> String {
        let select = self
            .columns()
            .iter()
            .map(|c| match c.name {
                SOURCE_SHA256 => "s.sha256".to_string(),
                name => format!("t.{name}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        // The narrow row is sorted; the wide one (an Event's value, through
        // the `events` view) is read by id. Audit events are served in
        // order by audit_events_by_time, whose rowid breaks ties.
        let (narrow, wide) = match self {
            ExportTable::Events => ("event_revisions", "events"),
            ExportTable::AuditEvents => ("audit_events", "audit_events"),
            ExportTable::Objects => ("objects", "objects"),
        };
        let order = format!(
            "(SELECT id FROM {narrow} ORDER BY {} LIMIT -1) o JOIN {wide} t ON t.id = o.id",
            self.sort_order()
        );
        format!("SELECT {select} FROM {order} JOIN sources s ON s.id = t.source_id")
    }
}

/// One cell of an exported row, borrowed from the database's row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Integer(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// One row of a dataset, its cells in [`ExportTable::columns`] order.
pub struct ExportRow<'r> {
    row: &'r rusqlite::Row<'r>,
}

impl ExportRow<'_> {
    /// The cell of column `i`. A text that is not UTF-8 (SQLite does not
    /// check) is given as bytes.
    pub fn cell(&self, i: usize) -> Result<Cell<'_>, StoreError> {
        Ok(match self.row.get_ref(i)? {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(n) => Cell::Integer(n),
            // No exported column holds reals; one would be a foreign write.
            ValueRef::Real(r) => Cell::Integer(r as i64),
            ValueRef::Text(t) => std::str::from_utf8(t).map_or(Cell::Blob(t), Cell::Text),
            ValueRef::Blob(b) => Cell::Blob(b),
        })
    }
}

/// One source of the database, as the export records it for provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSource {
    pub id: i64,
    pub kind: String,
    pub location: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub content_sha256: Option<String>,
    pub trailer: String,
    pub head_revision: Option<i64>,
    pub ingested_at: String,
    pub tool_version: String,
}

/// What the database is, for the export's provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportProvenance {
    /// `PRAGMA user_version`.
    pub schema_version: i64,
    /// Every source, by id.
    pub sources: Vec<ExportSource>,
}

/// Errors before any row is read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the database has schema version {version}, the export needs version {EXPORT_SCHEMA_VERSION}: load any source into it with `evforensics ingest --db {path}` to migrate it")]
    SchemaTooOld { version: i64, path: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// The schema version and sources; an error for a database older than
    /// [`EXPORT_SCHEMA_VERSION`].
    pub fn export_provenance(&self) -> Result<ExportProvenance, ExportError> {
        let conn = self.connection();
        let schema_version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(StoreError::from)?;
        if schema_version < EXPORT_SCHEMA_VERSION {
            return Err(ExportError::SchemaTooOld {
                version: schema_version,
                path: self.path().display().to_string(),
            });
        }
        let mut stmt = conn
            .prepare(
                "SELECT id, kind, location, sha256, size_bytes, content_sha256, trailer,
                        head_revision, ingested_at, tool_version
                 FROM sources ORDER BY id",
            )
            .map_err(StoreError::from)?;
        let sources = stmt
            .query_map([], |r| {
                Ok(ExportSource {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    location: r.get(2)?,
                    sha256: r.get(3)?,
                    size_bytes: r.get(4)?,
                    content_sha256: r.get(5)?,
                    trailer: r.get(6)?,
                    head_revision: r.get(7)?,
                    ingested_at: r.get(8)?,
                    tool_version: r.get(9)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(StoreError::from)?;
        Ok(ExportProvenance {
            schema_version,
            sources,
        })
    }

    /// The cluster this database's evidence comes from, when `--cluster`
    /// does not say: the one ingest recorded, else a name derived from the
    /// database's file name (`prod-eu.sqlite` → `prod-eu`).
    pub fn recorded_cluster(&self) -> String {
        // One database holds one cluster (a load of another is refused):
        // its name is the first one recorded (`ingest --cluster`).
        match self.cluster_names() {
            Ok(names) if !names.is_empty() => names[0].clone(),
            _ => cluster_from_path(self.path()),
        }
    }

    /// Calls `f` with each row of `table`, in time order; stops at the
    /// first error `f` returns. Returns the number of rows.
    pub fn export_rows<E>(
        &self,
        table: ExportTable,
        mut f: impl FnMut(&ExportRow<'_>) -> Result<(), E>,
    ) -> Result<u64, E>
    where
        E: From<StoreError>,
    {
        let mut stmt = self
            .connection()
            .prepare(&table.sql())
            .map_err(StoreError::from)?;
        let mut rows = stmt.query([]).map_err(StoreError::from)?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(StoreError::from)? {
            f(&ExportRow { row })?;
            n += 1;
        }
        Ok(n)
    }
}

/// A cluster name from a database's file name: its stem, with what a
/// partition directory's name should not hold replaced by `-`.
fn cluster_from_path(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches(|c| c == '.' || c == '-').to_string();
    if name.is_empty() {
        "cluster".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_from_database_paths() {
        assert_eq!(cluster_from_path(Path::new("/c/prod-eu.sqlite")), "prod-eu");
        assert_eq!(cluster_from_path(Path::new("case 7.sqlite")), "case-7");
        assert_eq!(cluster_from_path(Path::new(".sqlite")), "sqlite");
        assert_eq!(cluster_from_path(Path::new("")), "cluster");
    }

    /// Every column the export names is a column of its table (or view).
    #[test]
    fn columns_are_the_tables() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.sqlite")).unwrap();
        for table in ExportTable::ALL {
            let mut stmt = store.connection().prepare(&table.sql()).unwrap();
            assert_eq!(stmt.column_count(), table.columns().len());
            assert!(stmt.query([]).unwrap().next().unwrap().is_none());
            let _ = table.time_index();
        }
    }

    /// The plans: the narrow ids are sorted (or read in index order) into
    /// a temp table first, the wide rows then read by id in that order, and
    /// no sort of wide rows follows.
    #[test]
    fn query_plans_sort_only_narrow_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.sqlite")).unwrap();
        for table in ExportTable::ALL {
            let mut stmt = store
                .connection()
                .prepare(&format!("EXPLAIN QUERY PLAN {}", table.sql()))
                .unwrap();
            let plan: Vec<(i64, i64, String)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(3)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let text: Vec<String> = plan
                .iter()
                .map(|(_, parent, d)| format!("{parent}: {d}"))
                .collect();
            let top: Vec<&str> = plan
                .iter()
                .filter(|(_, parent, _)| *parent == 0)
                .map(|(_, _, d)| d.as_str())
                .collect();
            assert!(
                top[0].starts_with("MATERIALIZE o") || top[0].starts_with("CO-ROUTINE o"),
                "{table:?}: {text:#?}"
            );
            assert!(
                top.iter().any(|d| d.starts_with("SCAN o")),
                "{table:?}: {text:#?}"
            );
            assert!(
                !top.iter().any(|d| d.contains("TEMP B-TREE")),
                "{table:?}: {text:#?}"
            );
            if table == ExportTable::AuditEvents {
                assert!(
                    !text.iter().any(|d| d.contains("TEMP B-TREE")),
                    "{table:?}: {text:#?}"
                );
            }
        }
    }
}
