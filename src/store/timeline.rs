//! The timeline query: the `timeline` view's merged, time-ordered story of
//! Event occurrences and audit entries, filtered by what a
//! [`TimelineQuery`] names, optionally following an object's ownership
//! downward through `objects` (a Deployment → its ReplicaSets → their
//! Pods, deleted ones included).
//!
//! A query is one SQL statement: each filter brings its clause and its
//! named parameter together. What needs the database to be understood — a
//! kind as the user typed it, a time relative to the newest line — is
//! resolved here too, so that callers pass plain values.

use std::time::Duration;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, Value, ValueRef};
use rusqlite::{Row, ToSql};
use time::OffsetDateTime;

use super::Store;
use crate::decode::time::format_micro;

/// The first schema version whose `timeline` view has every column a line
/// reads (`objects` and the view came with version 3; version 6 keeps
/// lines without a stage time and says where each time came from).
pub const TIMELINE_SCHEMA_VERSION: i64 = 6;

/// Errors of the timeline query.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error("the database has schema version {version}, the timeline needs version {TIMELINE_SCHEMA_VERSION}: load any source into it with `evforensics ingest --db {path}` to migrate it")]
    SchemaTooOld { version: i64, path: String },
    #[error("preparing the timeline query")]
    Prepare(#[source] rusqlite::Error),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// An object named by kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSpec {
    /// As the user typed it: case-insensitive, singular or plural
    /// (`deployment`, `Deployments`, `pods`); resolved against the database.
    pub kind: String,
    /// `None` matches the name in any namespace (and cluster-scoped objects).
    pub namespace: Option<String>,
    pub name: String,
}

/// Which lines a timeline shows; every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimelineQuery {
    /// This object and everything it owns.
    pub object: Option<ObjectSpec>,
    /// The object with this uid and everything it owns (with `object`: the
    /// objects either names, and what they own).
    pub uid: Option<String>,
    /// Lines about objects in this namespace.
    pub namespace: Option<String>,
    /// From this time (inclusive).
    pub since: Option<OffsetDateTime>,
    /// Up to this time (inclusive).
    pub until: Option<OffsetDateTime>,
    /// Events with this reason.
    pub reason: Option<String>,
    /// Events of this type (`Normal`, `Warning`; case-insensitive).
    pub event_type: Option<String>,
    /// Audit entries of this user (username or impersonated user).
    pub user: Option<String>,
}

/// Where a line comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An Event revision: one occurrence.
    Event,
    /// An audited request.
    Audit,
}

impl Source {
    /// As the `timeline` view's `source` column says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Event => "event",
            Source::Audit => "audit",
        }
    }
}

impl FromSql for Source {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_str()? {
            "event" => Ok(Source::Event),
            "audit" => Ok(Source::Audit),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// The names of a line's fields, in output order (see
/// [`TimelineLine::fields`]).
pub const COLUMNS: &[&str] = &[
    "time",
    "source",
    "object",
    "object_kind",
    "object_namespace",
    "object_name",
    "object_uid",
    "reason",
    "verb",
    "type",
    "count",
    "message",
    "component",
    "username",
    "source_ip",
    "user_agent",
    "response_code",
    "denied",
    "write",
    "revision",
    "sub_revision",
    "file",
    "line",
    "key",
    "live",
    "time_from",
    "event_uid",
    "audit_id",
    "first_time",
    "host",
];

/// One line of the timeline: a row of the `timeline` view. The view's
/// columns have no declared types, so the cells are kept as SQLite holds
/// them and printed as they are stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineLine {
    pub time: Value,
    pub source: Source,
    /// `KIND/[NAMESPACE/]NAME`, `?` for what the line does not say.
    pub object: String,
    pub object_kind: Value,
    pub object_namespace: Value,
    pub object_name: Value,
    pub object_uid: Value,
    pub reason: Value,
    pub verb: Value,
    /// The Event's type (column `type`).
    pub event_type: Value,
    pub count: Value,
    pub message: Value,
    pub component: Value,
    pub username: Value,
    pub source_ip: Value,
    pub user_agent: Value,
    pub response_code: Value,
    pub denied: Value,
    pub write: Value,
    pub revision: Value,
    pub sub_revision: Value,
    pub file: Value,
    pub line: Value,
    pub key: Value,
    pub live: Value,
    /// Which field gave the time (`occurred_at`, `creationTimestamp`,
    /// `stageTimestamp`, `requestReceivedTimestamp`); NULL when the record
    /// has none (the line is kept, time NULL).
    pub time_from: Value,
    /// An Event line's `metadata.uid`: the Event it is an occurrence of.
    pub event_uid: Value,
    /// An audit line's `auditID`: the request it records.
    pub audit_id: Value,
    /// An Event line's first occurrence (`eventTime`, else
    /// `firstTimestamp`): with `count`, the repeat's span.
    pub first_time: Value,
    /// An Event line's reporting host (`source.host`, else
    /// `reportingInstance`).
    pub host: Value,
}

impl TimelineLine {
    /// The fields, named as in [`COLUMNS`] and in that order.
    pub fn fields(&self) -> [(&'static str, ValueRef<'_>); 30] {
        [
            ("time", (&self.time).into()),
            ("source", ValueRef::Text(self.source.as_str().as_bytes())),
            ("object", ValueRef::Text(self.object.as_bytes())),
            ("object_kind", (&self.object_kind).into()),
            ("object_namespace", (&self.object_namespace).into()),
            ("object_name", (&self.object_name).into()),
            ("object_uid", (&self.object_uid).into()),
            ("reason", (&self.reason).into()),
            ("verb", (&self.verb).into()),
            ("type", (&self.event_type).into()),
            ("count", (&self.count).into()),
            ("message", (&self.message).into()),
            ("component", (&self.component).into()),
            ("username", (&self.username).into()),
            ("source_ip", (&self.source_ip).into()),
            ("user_agent", (&self.user_agent).into()),
            ("response_code", (&self.response_code).into()),
            ("denied", (&self.denied).into()),
            ("write", (&self.write).into()),
            ("revision", (&self.revision).into()),
            ("sub_revision", (&self.sub_revision).into()),
            ("file", (&self.file).into()),
            ("line", (&self.line).into()),
            ("key", (&self.key).into()),
            ("live", (&self.live).into()),
            ("time_from", (&self.time_from).into()),
            ("event_uid", (&self.event_uid).into()),
            ("audit_id", (&self.audit_id).into()),
            ("first_time", (&self.first_time).into()),
            ("host", (&self.host).into()),
        ]
    }

    /// A line of `source` at `time` with every other cell NULL (for tests
    /// of what prints lines).
    #[cfg(test)]
    pub(crate) fn blank(source: Source, time: &str) -> TimelineLine {
        TimelineLine {
            time: text(time),
            source,
            object: String::new(),
            object_kind: Value::Null,
            object_namespace: Value::Null,
            object_name: Value::Null,
            object_uid: Value::Null,
            reason: Value::Null,
            verb: Value::Null,
            event_type: Value::Null,
            count: Value::Null,
            message: Value::Null,
            component: Value::Null,
            username: Value::Null,
            source_ip: Value::Null,
            user_agent: Value::Null,
            response_code: Value::Null,
            denied: Value::Null,
            write: Value::Null,
            revision: Value::Null,
            sub_revision: Value::Null,
            file: Value::Null,
            line: Value::Null,
            key: Value::Null,
            live: Value::Null,
            time_from: Value::Null,
            event_uid: Value::Null,
            audit_id: Value::Null,
            first_time: Value::Null,
            host: Value::Null,
        }
    }

    /// A row of [`SELECT_LINES`].
    fn from_row(r: &Row<'_>) -> rusqlite::Result<TimelineLine> {
        Ok(TimelineLine {
            time: r.get(0)?,
            source: r.get(1)?,
            object: r.get(2)?,
            object_kind: r.get(3)?,
            object_namespace: r.get(4)?,
            object_name: r.get(5)?,
            object_uid: r.get(6)?,
            reason: r.get(7)?,
            verb: r.get(8)?,
            event_type: r.get(9)?,
            count: r.get(10)?,
            message: r.get(11)?,
            component: r.get(12)?,
            username: r.get(13)?,
            source_ip: r.get(14)?,
            user_agent: r.get(15)?,
            response_code: r.get(16)?,
            denied: r.get(17)?,
            write: r.get(18)?,
            revision: r.get(19)?,
            sub_revision: r.get(20)?,
            file: r.get(21)?,
            line: r.get(22)?,
            key: r.get(23)?,
            live: r.get(24)?,
            time_from: r.get(25)?,
            event_uid: r.get(26)?,
            audit_id: r.get(27)?,
            first_time: r.get(28)?,
            host: r.get(29)?,
        })
    }
}

/// The recursive closure of an object: itself (by uid, or by kind, name and
/// namespace) and every object whose ownerReferences name one in the set
/// (by uid; by kind and name when the reference has no uid). Each step
/// goes through an index of `objects` (uid; name; the first owner
/// reference's uid or name): the references after the first are read only
/// for the few objects that have more than one (their partial index).
const TREE_CTE: &str = "WITH RECURSIVE
  roots(kind, namespace, name, uid) AS (SELECT :root_kind, :root_namespace, :root_name, :root_uid),
  tree(kind, namespace, name, uid, depth) AS (
    SELECT r.kind, r.namespace, r.name, r.uid, 0 FROM roots r
    UNION
    SELECT o.kind, o.namespace, o.name, o.uid, 0 FROM roots r JOIN objects o ON o.uid = r.uid
    UNION
    SELECT o.kind, o.namespace, o.name, o.uid, 0 FROM roots r JOIN objects o
      ON o.name = r.name AND o.kind = r.kind
      WHERE r.uid IS NULL AND (r.namespace IS NULL OR o.namespace IS r.namespace)
    UNION
    SELECT o.kind, o.namespace, o.name, o.uid, t.depth + 1 FROM tree t JOIN objects o
      ON json_extract(o.owner_references, '$[0].uid') = t.uid
      WHERE o.owner_references IS NOT NULL AND t.depth < 16
    UNION
    SELECT o.kind, o.namespace, o.name, o.uid, t.depth + 1 FROM tree t JOIN objects o
      ON json_extract(o.owner_references, '$[0].name') = t.name
      WHERE o.owner_references IS NOT NULL AND t.depth < 16
        AND coalesce(json_extract(o.owner_references, '$[0].uid'), '') = ''
        AND json_extract(o.owner_references, '$[0].kind') = t.kind
        AND (t.namespace IS NULL OR o.namespace IS t.namespace)
    UNION
    SELECT o.kind, o.namespace, o.name, o.uid, t.depth + 1
      FROM tree t JOIN objects o ON json_array_length(o.owner_references) > 1
      JOIN json_each(o.owner_references) w
      WHERE t.depth < 16
        AND ((t.uid IS NOT NULL AND json_extract(w.value, '$.uid') = t.uid)
          OR (coalesce(json_extract(w.value, '$.uid'), '') = ''
              AND json_extract(w.value, '$.kind') = t.kind
              AND json_extract(w.value, '$.name') = t.name
              AND (t.namespace IS NULL OR o.namespace IS t.namespace)))),
  -- The rows that may be about the tree, found through indexes: Events by
  -- their object's uid, or name and kind; audit entries by the uid the
  -- timeline gives them, or by name (IN_TREE then checks every column).
  -- CROSS JOIN: the tree (a few rows) is the outer loop.
  tree_events(id) AS (
    SELECT e.id FROM tree t CROSS JOIN events e ON e.involved_uid = t.uid
    UNION
    SELECT e.id FROM tree t CROSS JOIN events e
      ON e.involved_name = t.name AND e.involved_kind = t.kind),
  tree_audit(id) AS (
    SELECT a.id FROM tree t CROSS JOIN audit_events a
      ON coalesce(a.object_uid, json_extract(a.response_object, '$.metadata.uid')) = t.uid
    UNION
    SELECT a.id FROM tree t CROSS JOIN audit_events a ON a.object_name = t.name),
  -- The timeline's rows of those ids: the terms reach each arm of the view,
  -- where `source` is a constant (the other arm is skipped) and the id its
  -- table's rowid.
  tree_lines AS (
    SELECT * FROM timeline WHERE source = 'event' AND event_id IN (SELECT id FROM tree_events)
    UNION ALL
    SELECT * FROM timeline
      WHERE source = 'audit' AND audit_event_id IN (SELECT id FROM tree_audit))
";

/// A line is about an object of the tree: by uid, or by kind and name.
const IN_TREE: &str =
    "EXISTS (SELECT 1 FROM tree t WHERE (t.uid IS NOT NULL AND tl.object_uid = t.uid)
               OR (t.name IS NOT NULL AND tl.object_kind = t.kind AND tl.object_name = t.name
                   AND (t.namespace IS NULL OR tl.object_namespace IS t.namespace)))";

/// The columns of [`TimelineLine`], in its order.
const SELECT_LINES: &str = "SELECT tl.time, tl.source,
            coalesce(tl.object_kind, '?') || '/' || coalesce(tl.object_namespace || '/', '')
                || coalesce(tl.object_name, '?') AS object,
            tl.object_kind, tl.object_namespace, tl.object_name, tl.object_uid,
            tl.reason, tl.verb, tl.type, tl.count, tl.message, tl.component,
            tl.username, tl.source_ip, tl.user_agent, tl.response_code, tl.denied, tl.write,
            tl.revision, tl.sub_revision, tl.file, tl.line, tl.key, tl.live, tl.time_from,
            tl.event_uid, tl.audit_id, tl.first_time, tl.host
         FROM timeline tl";

/// The lines that may be about the tree (see [`TREE_CTE`]): read instead
/// of `FROM timeline tl`.
const FROM_TREE_LINES: &str = "\n FROM tree_lines tl";

/// Time order; lines of one time in the order they were written.
const ORDER_LINES: &str = "\n ORDER BY tl.time, tl.revision IS NULL, tl.revision, tl.sub_revision, tl.line, tl.source, tl.file, tl.event_id, tl.audit_event_id";

/// The Julian day number of 1970-01-01T00:00:00Z, in milliseconds.
const UNIX_EPOCH_JULIAN_MS: i64 = 210_866_760_000_000;

/// One statement being built: clauses and the parameters they name.
#[derive(Default)]
struct Statement {
    with: Option<&'static str>,
    /// Empty (the whole view) or `FROM_TREE_LINES`.
    from: &'static str,
    conditions: Vec<&'static str>,
    params: Vec<(&'static str, Value)>,
}

impl Statement {
    fn filter<const N: usize>(
        &mut self,
        condition: &'static str,
        params: [(&'static str, Value); N],
    ) {
        self.conditions.push(condition);
        self.params.extend(params);
    }

    fn sql(&self) -> String {
        self.sql_with(SELECT_LINES)
    }

    /// The statement with another `SELECT … FROM timeline tl …` (the same
    /// filters and order, other columns or joins).
    fn sql_with(&self, select: &str) -> String {
        let mut sql = String::new();
        if let Some(with) = self.with {
            sql.push_str(with);
        }
        // A tree's lines come from `tree_lines`, not the whole view.
        if self.from.is_empty() {
            sql.push_str(select);
        } else {
            sql.push_str(&select.replacen("FROM timeline tl", self.from.trim_start(), 1));
        }
        if !self.conditions.is_empty() {
            sql.push_str("\n WHERE ");
            sql.push_str(&self.conditions.join("\n   AND "));
        }
        sql.push_str(ORDER_LINES);
        sql
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn optional_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

/// A time bound as the database's times are written.
fn time_text(t: OffsetDateTime) -> Value {
    Value::Text(format_micro(t.unix_timestamp(), t.nanosecond() as i32))
}

/// The timeline of a database whose schema has it (see [`Store::timeline`]).
pub struct Timeline<'s> {
    pub(super) store: &'s Store,
}

impl Store {
    /// The timeline; an error for a database from before it (version 3).
    pub fn timeline(&self) -> Result<Timeline<'_>, TimelineError> {
        let version: i64 = self
            .connection()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version < TIMELINE_SCHEMA_VERSION {
            return Err(TimelineError::SchemaTooOld {
                version,
                path: self.path().display().to_string(),
            });
        }
        Ok(Timeline { store: self })
    }
}

impl Timeline<'_> {
    /// The kind as stored (`Deployment`) for what the user typed
    /// (`deployment`, `Deployments`, a plural resource name): the resource
    /// names first, then the kinds of objects and of Events' objects. What
    /// the database cannot tell is kept as typed.
    pub fn resolve_kind(&self, typed: &str) -> String {
        // The kind as typed, when the database knows it so (kubectl's
        // names are resolved to kinds before): one look-up, not a scan.
        let exact: Option<String> = self
            .store
            .connection()
            .query_row(
                "SELECT kind FROM resource_kinds WHERE kind = ?1 LIMIT 1",
                [typed],
                |r| r.get(0),
            )
            .ok();
        if let Some(kind) = exact {
            return kind;
        }
        let lower = typed.to_ascii_lowercase();
        self.store
            .connection()
            .query_row(
                "SELECT kind FROM (
                    SELECT kind, resource, 0 AS pref FROM resource_kinds
                    UNION ALL
                    SELECT DISTINCT kind, NULL, 1 FROM objects WHERE kind IS NOT NULL
                    UNION ALL
                    SELECT DISTINCT involved_kind, NULL, 2 FROM events WHERE involved_kind IS NOT NULL)
                 WHERE lower(kind) = ?1 OR lower(kind) || 's' = ?1 OR lower(kind) || 'es' = ?1
                    OR resource = ?1
                 ORDER BY lower(kind) = ?1 DESC, pref LIMIT 1",
                [&lower],
                |r| r.get(0),
            )
            .unwrap_or_else(|_| typed.to_string())
    }

    /// Whether the database knows the object `spec` names (its kind
    /// resolved as for a query): in `objects`, or as the object of an Event
    /// or of an audited request. Other filters play no part: an object that
    /// is known but has no line in a time range is still known.
    pub fn knows_object(&self, spec: &ObjectSpec) -> Result<bool, TimelineError> {
        let kind = self.resolve_kind(&spec.kind);
        let params = rusqlite::params![kind, spec.name, spec.namespace];
        // One question at a time, each through an index: `objects`, the
        // Events' arm of the view, then the audit rows of that name.
        for sql in [
            "SELECT EXISTS (SELECT 1 FROM objects
                            WHERE kind = ?1 AND name = ?2 AND (?3 IS NULL OR namespace IS ?3))",
            "SELECT EXISTS (SELECT 1 FROM timeline tl
                            WHERE tl.source = 'event' AND tl.object_kind = ?1 AND tl.object_name = ?2
                              AND (?3 IS NULL OR tl.object_namespace IS ?3))",
            "SELECT EXISTS (SELECT 1 FROM timeline tl
                            WHERE tl.source = 'audit'
                              AND tl.audit_event_id IN (SELECT id FROM audit_events WHERE object_name = ?2)
                              AND tl.object_kind = ?1 AND tl.object_name = ?2
                              AND (?3 IS NULL OR tl.object_namespace IS ?3))",
        ] {
            if self.store.connection().query_row(sql, params, |r| r.get(0))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Objects whose name is `name` or close to it (any kind, any
    /// namespace), from `objects` and Events' objects: what to suggest when
    /// an `--object` names nothing. Each as `Kind/[namespace/]name`, with
    /// its edit distance from `name` (0: the same name, case aside);
    /// nearest first, at most `limit`.
    pub fn objects_named_like(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<(String, usize)>, TimelineError> {
        let wanted = name.to_lowercase();
        // Short names have too many neighbours to be worth suggesting.
        let tolerance = match wanted.chars().count() {
            0..=3 => 0,
            4..=7 => 1,
            _ => 2,
        };
        let mut stmt = self.store.connection().prepare(
            "SELECT kind, namespace, name FROM objects WHERE name IS NOT NULL
             UNION
             SELECT involved_kind, involved_namespace, involved_name FROM events
             WHERE involved_name IS NOT NULL",
        )?;
        let mut rows = stmt.query([])?;
        let mut found = Vec::new();
        while let Some(row) = rows.next()? {
            let object_name: String = row.get(2)?;
            let distance = crate::helpers::edit_distance(&wanted, &object_name.to_lowercase());
            if distance > tolerance {
                continue;
            }
            let kind: Option<String> = row.get(0)?;
            let namespace: Option<String> = row.get(1)?;
            let namespace = namespace.map(|ns| format!("{ns}/")).unwrap_or_default();
            let kind = kind.as_deref().unwrap_or("?");
            found.push((format!("{kind}/{namespace}{object_name}"), distance));
        }
        found.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        found.dedup();
        found.truncate(limit);
        Ok(found)
    }

    /// The time `before` the newest line, as SQLite computes it (the newest
    /// time read to the millisecond). `None` when there is no line, or no
    /// such time (before Julian day 0, in 4714 BC): then no line is that
    /// recent.
    pub fn before_newest(&self, before: Duration) -> Result<Option<OffsetDateTime>, TimelineError> {
        let modifier = if before.subsec_nanos() == 0 {
            format!("-{} seconds", before.as_secs())
        } else {
            format!("-{}.{:09} seconds", before.as_secs(), before.subsec_nanos())
        };
        let julian_ms: Option<i64> = self.store.connection().query_row(
            "SELECT CAST(round(julianday((SELECT max(time) FROM timeline), ?1) * 86400000.0) AS INTEGER)",
            [&modifier],
            |r| r.get(0),
        )?;
        Ok(julian_ms.and_then(|ms| {
            let unix_ms = i128::from(ms) - i128::from(UNIX_EPOCH_JULIAN_MS);
            OffsetDateTime::from_unix_timestamp_nanos(unix_ms * 1_000_000).ok()
        }))
    }

    /// The newest Event occurrence the database holds: the moment the
    /// ages of `timeline --format describe` (and of the `event_describe`
    /// view) are counted from.
    pub fn newest_event_time(&self) -> Result<Option<String>, TimelineError> {
        Ok(self.store.connection().query_row(
            "SELECT max(occurred_at) FROM event_revisions",
            [],
            |r| r.get(0),
        )?)
    }

    /// Calls `each` with every line `query` selects, in time order.
    pub fn for_each<E: From<TimelineError>>(
        &self,
        query: &TimelineQuery,
        each: impl FnMut(TimelineLine) -> Result<(), E>,
    ) -> Result<(), E> {
        self.run(&self.statement(query), each)
    }

    fn run<E: From<TimelineError>>(
        &self,
        statement: &Statement,
        mut each: impl FnMut(TimelineLine) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut stmt = self
            .store
            .connection()
            .prepare(&statement.sql())
            .map_err(TimelineError::Prepare)?;
        let params: Vec<(&str, &dyn ToSql)> = statement
            .params
            .iter()
            .map(|(name, value)| (*name, value as &dyn ToSql))
            .collect();
        let mut rows = stmt.query(params.as_slice()).map_err(TimelineError::from)?;
        while let Some(row) = rows.next().map_err(TimelineError::from)? {
            each(TimelineLine::from_row(row).map_err(TimelineError::from)?)?;
        }
        Ok(())
    }

    /// The SQL selecting what `query` selects, in the timeline's order, with
    /// the columns of `select` (`SELECT … FROM timeline tl [JOIN …]`), and
    /// its named parameters: how another reader of the store (the export)
    /// applies exactly the timeline's filters.
    pub fn filtered_sql(
        &self,
        query: &TimelineQuery,
        select: &str,
    ) -> (String, Vec<(&'static str, Value)>) {
        let statement = self.statement(query);
        (statement.sql_with(select), statement.params)
    }

    /// The store this timeline reads.
    pub fn store(&self) -> &Store {
        self.store
    }

    /// SQLite's plan for `query`: the `detail` of each EXPLAIN QUERY PLAN
    /// row (for the tests that check which indexes a filter uses).
    #[cfg(test)]
    pub(crate) fn plan(&self, query: &TimelineQuery) -> Vec<String> {
        let statement = self.statement(query);
        let sql = format!("EXPLAIN QUERY PLAN {}", statement.sql());
        let mut stmt = self.store.connection().prepare(&sql).unwrap();
        let params: Vec<(&str, &dyn ToSql)> = statement
            .params
            .iter()
            .map(|(name, value)| (*name, value as &dyn ToSql))
            .collect();
        stmt.query_map(params.as_slice(), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// How many lines `query` gives, and how many steps SQLite took through
    /// tables while scanning them (`SQLITE_STMTSTATUS_FULLSCAN_STEP`).
    #[cfg(test)]
    pub(crate) fn full_scan_steps(&self, query: &TimelineQuery) -> (usize, i32) {
        let statement = self.statement(query);
        let mut stmt = self.store.connection().prepare(&statement.sql()).unwrap();
        let params: Vec<(&str, &dyn ToSql)> = statement
            .params
            .iter()
            .map(|(name, value)| (*name, value as &dyn ToSql))
            .collect();
        let lines = stmt
            .query_map(params.as_slice(), |_| Ok(()))
            .unwrap()
            .count();
        (
            lines,
            stmt.get_status(rusqlite::StatementStatus::FullscanStep),
        )
    }

    /// Every line `query` selects, in time order.
    pub fn lines(&self, query: &TimelineQuery) -> Result<Vec<TimelineLine>, TimelineError> {
        let mut lines = Vec::new();
        self.for_each(query, |l| {
            lines.push(l);
            Ok::<_, TimelineError>(())
        })?;
        Ok(lines)
    }

    fn statement(&self, q: &TimelineQuery) -> Statement {
        let mut s = Statement::default();
        if q.object.is_some() || q.uid.is_some() {
            let object = q.object.as_ref();
            s.with = Some(TREE_CTE);
            s.from = FROM_TREE_LINES;
            s.filter(
                IN_TREE,
                [
                    (
                        ":root_kind",
                        object.map_or(Value::Null, |o| Value::Text(self.resolve_kind(&o.kind))),
                    ),
                    (
                        ":root_namespace",
                        optional_text(object.and_then(|o| o.namespace.as_deref())),
                    ),
                    (":root_name", optional_text(object.map(|o| o.name.as_str()))),
                    (":root_uid", optional_text(q.uid.as_deref())),
                ],
            );
        }
        if let Some(ns) = &q.namespace {
            s.filter(
                "tl.object_namespace = :namespace",
                [(":namespace", text(ns))],
            );
        }
        if let Some(r) = &q.reason {
            // `source`: a constant in each arm of the view, so that the arm
            // of the other source is skipped rather than scanned.
            s.filter(
                "tl.source = 'event' AND tl.reason = :reason",
                [(":reason", text(r))],
            );
        }
        if let Some(t) = &q.event_type {
            s.filter(
                "tl.source = 'event' AND lower(tl.type) = lower(:type)",
                [(":type", text(t))],
            );
        }
        if let Some(u) = &q.user {
            s.filter(
                "tl.source = 'audit' AND tl.audit_event_id IN (SELECT id FROM audit_events WHERE username = :user OR impersonated_user = :user)",
                [(":user", text(u))],
            );
        }
        if let Some(t) = q.since {
            s.filter("tl.time >= :since", [(":since", time_text(t))]);
        }
        if let Some(t) = q.until {
            s.filter("tl.time <= :until", [(":until", time_text(t))]);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use time::macros::datetime;

    /// A database with two Deployments' stories: `web` (ReplicaSet owned
    /// by uid, its Pod owned by name only) and `api`, plus a Node's Event.
    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.sqlite")).unwrap();
        store
            .connection()
            .execute_batch(
                "INSERT INTO sources (id, kind, location, sha256, size_bytes, trailer, prefix, ingested_at, tool_version)
                   VALUES (1, 'etcd-db', '/e/db', 'aa', 1, 'absent', '/registry/', 'now', 'test');
                 INSERT INTO objects (source_id, key, resource, mod_revision, sub_revision, recovered_from,
                     encoding, kind, namespace, name, uid, owner_references) VALUES
                   (1, 'd/web', 'deployments', 1, 0, 'tree', 'protobuf', 'Deployment', 'shop', 'web', 'u-web', NULL),
                   (1, 'rs/web-1', 'replicasets', 2, 0, 'tree', 'protobuf', 'ReplicaSet', 'shop', 'web-1', 'u-rs',
                     '[{\"kind\":\"Deployment\",\"name\":\"web\",\"uid\":\"u-web\"}]'),
                   (1, 'p/web-1-a', 'pods', 3, 0, 'tree', 'protobuf', 'Pod', 'shop', 'web-1-a', 'u-pod',
                     '[{\"kind\":\"ReplicaSet\",\"name\":\"web-1\"}]'),
                   (1, 'd/api', 'deployments', 4, 0, 'tree', 'protobuf', 'Deployment', 'shop', 'api', 'u-api', NULL);
                 INSERT INTO event_revisions (source_id, key, mod_revision, sub_revision, recovered_from, encoding,
                     reason, type, count, occurred_at, involved_kind, involved_namespace, involved_name, involved_uid) VALUES
                   (1, 'e/1', 10, 0, 'tree', 'protobuf', 'ScalingReplicaSet', 'Normal', 1,
                     '2026-11-20T09:30:01.000000Z', 'Deployment', 'shop', 'web', 'u-web'),
                   (1, 'e/2', 11, 0, 'tree', 'protobuf', 'BackOff', 'Warning', 2,
                     '2026-11-20T09:30:02.000000Z', 'Pod', 'shop', 'web-1-a', NULL),
                   (1, 'e/3', 12, 0, 'tree', 'protobuf', 'Unhealthy', 'Warning', 1,
                     '2026-11-20T09:30:03.000000Z', 'Pod', 'shop', 'api-1-b', NULL),
                   (1, 'e/4', 13, 0, 'tree', 'protobuf', 'NodeReady', 'Normal', 1,
                     '2026-11-20T11:30:04.500000Z', 'Node', NULL, 'n1', NULL);
                 INSERT INTO audit_events (source_id, file, line, audit_id, stage, verb, object_resource,
                     object_namespace, object_name, username, impersonated_user, response_code, stage_timestamp, raw) VALUES
                   (1, 'audit.log', 1, 'a-1', 'ResponseComplete', 'patch', 'deployments', 'shop', 'web',
                     'alice', NULL, 200, '2026-11-20T09:30:00.000000Z', '{}'),
                   (1, 'audit.log', 2, 'a-2', 'ResponseComplete', 'delete', 'pods', 'shop', 'api-1-b',
                     'admin', 'bob', 403, '2026-11-20T09:30:05.000000Z', '{}');",
            )
            .unwrap();
        (dir, store)
    }

    /// `(object, reason or verb)` of each line.
    fn story(store: &Store, q: &TimelineQuery) -> Vec<(String, String)> {
        let lines = store.timeline().unwrap().lines(q).unwrap();
        lines
            .into_iter()
            .map(|l| {
                let what = match (l.source, l.reason, l.verb) {
                    (Source::Event, Value::Text(r), _) => r,
                    (Source::Audit, _, Value::Text(v)) => v,
                    other => panic!("{other:?}"),
                };
                (l.object, what)
            })
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// Without filters every line comes, in time order, with its fields.
    #[test]
    fn all_lines_in_time_order() {
        let (_dir, store) = store();
        assert_eq!(
            story(&store, &TimelineQuery::default()),
            pairs(&[
                ("Deployment/shop/web", "patch"),
                ("Deployment/shop/web", "ScalingReplicaSet"),
                ("Pod/shop/web-1-a", "BackOff"),
                ("Pod/shop/api-1-b", "Unhealthy"),
                ("Pod/shop/api-1-b", "delete"),
                ("Node/n1", "NodeReady"),
            ])
        );
        let lines = store
            .timeline()
            .unwrap()
            .lines(&TimelineQuery::default())
            .unwrap();
        let denied = &lines[4];
        assert_eq!(denied.denied, Value::Integer(1));
        assert_eq!(denied.username, text("admin as bob"));
        assert_eq!(denied.response_code, Value::Integer(403));
        assert_eq!(lines[2].count, Value::Integer(2));
        assert_eq!(lines[2].event_type, text("Warning"));
        let names: Vec<&str> = lines[0].fields().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, COLUMNS);
        assert_eq!(lines[0].fields()[1].1, ValueRef::Text(b"audit"));
    }

    /// No record is left out: an audit event without `stageTimestamp` (a
    /// v1 log with `timestamp` only) is a line at its request's time, an
    /// Event without an occurrence time one at its creation, a record with
    /// no time at all a line without one (first); `time_from` says which.
    #[test]
    fn lines_without_a_stage_or_occurrence_time_are_kept() {
        let (_dir, store) = store();
        store
            .connection()
            .execute_batch(
                "INSERT INTO audit_events (source_id, file, line, audit_id, stage, verb, object_resource,
                     object_namespace, username, response_code, request_received_timestamp, raw) VALUES
                   (1, 'demo.log', 1, 'b-1', 'ResponseComplete', 'list', 'pods', 'default',
                     'bob', 403, '2026-11-20T09:30:04.000000Z', '{}'),
                   (1, 'demo.log', 2, 'b-2', 'ResponseComplete', 'get', 'pods', 'default',
                     'bob', 403, NULL, '{}');
                 INSERT INTO event_revisions (source_id, key, mod_revision, sub_revision, recovered_from,
                     encoding, reason, creation_timestamp, involved_kind, involved_namespace, involved_name) VALUES
                   (1, 'e/5', 14, 0, 'tree', 'protobuf', 'Created', '2026-11-20T09:30:02Z',
                     'Pod', 'shop', 'web-1-a');",
            )
            .unwrap();
        let lines = store
            .timeline()
            .unwrap()
            .lines(&TimelineQuery {
                user: Some("bob".into()),
                ..TimelineQuery::default()
            })
            .unwrap();
        let got: Vec<(Value, Value, Value)> = lines
            .into_iter()
            .map(|l| (l.time, l.verb, l.time_from))
            .collect();
        assert_eq!(
            got,
            [
                (Value::Null, text("get"), Value::Null),
                (
                    text("2026-11-20T09:30:04.000000Z"),
                    text("list"),
                    text("requestReceivedTimestamp")
                ),
                (
                    text("2026-11-20T09:30:05.000000Z"),
                    text("delete"),
                    text("stageTimestamp")
                ),
            ]
        );
        let created = store
            .timeline()
            .unwrap()
            .lines(&TimelineQuery {
                reason: Some("Created".into()),
                ..TimelineQuery::default()
            })
            .unwrap();
        assert_eq!(
            (created[0].time.clone(), created[0].time_from.clone()),
            (
                text("2026-11-20T09:30:02.000000Z"),
                text("creationTimestamp")
            )
        );
    }

    /// An object's timeline holds what it owns, followed by uid and by
    /// name, and nothing of its neighbour; the kind may be typed loosely.
    #[test]
    fn object_and_what_it_owns() {
        let (_dir, store) = store();
        let web = pairs(&[
            ("Deployment/shop/web", "patch"),
            ("Deployment/shop/web", "ScalingReplicaSet"),
            ("Pod/shop/web-1-a", "BackOff"),
        ]);
        for kind in ["deployment", "Deployments", "DEPLOYMENT"] {
            let q = TimelineQuery {
                object: Some(ObjectSpec {
                    kind: kind.into(),
                    namespace: Some("shop".into()),
                    name: "web".into(),
                }),
                ..TimelineQuery::default()
            };
            assert_eq!(story(&store, &q), web, "{kind}");
        }
        let any_namespace = TimelineQuery {
            object: Some(ObjectSpec {
                kind: "deployment".into(),
                namespace: None,
                name: "web".into(),
            }),
            ..TimelineQuery::default()
        };
        assert_eq!(story(&store, &any_namespace), web);
        let by_uid = TimelineQuery {
            uid: Some("u-rs".into()),
            ..TimelineQuery::default()
        };
        assert_eq!(
            story(&store, &by_uid),
            pairs(&[("Pod/shop/web-1-a", "BackOff")])
        );
        let unknown = TimelineQuery {
            uid: Some("nosuch".into()),
            ..TimelineQuery::default()
        };
        assert_eq!(story(&store, &unknown), pairs(&[]));
    }

    /// The tree filter before version 6: an `EXISTS` over the tree for
    /// every line of the view (kept to check that the indexed fetch gives
    /// exactly its lines).
    const LEGACY_TREE_CTE: &str = "WITH RECURSIVE
  roots(kind, namespace, name, uid) AS (SELECT :root_kind, :root_namespace, :root_name, :root_uid),
  tree(kind, namespace, name, uid, depth) AS (
    SELECT r.kind, r.namespace, r.name, r.uid, 0 FROM roots r
    UNION
    SELECT o.kind, o.namespace, o.name, o.uid, 0 FROM objects o, roots r
      WHERE (r.uid IS NOT NULL AND o.uid = r.uid)
         OR (r.uid IS NULL AND o.name = r.name AND o.kind = r.kind
             AND (r.namespace IS NULL OR o.namespace IS r.namespace))
    UNION
    SELECT o.kind, o.namespace, o.name, o.uid, t.depth + 1
      FROM tree t JOIN objects o ON o.owner_references IS NOT NULL
      JOIN json_each(o.owner_references) w
      WHERE t.depth < 16
        AND ((t.uid IS NOT NULL AND json_extract(w.value, '$.uid') = t.uid)
          OR (coalesce(json_extract(w.value, '$.uid'), '') = ''
              AND json_extract(w.value, '$.kind') = t.kind
              AND json_extract(w.value, '$.name') = t.name
              AND (t.namespace IS NULL OR o.namespace IS t.namespace))))
";

    /// `store()` and more: filler Events and audit entries of other Pods
    /// (so that a scan would show), an audit entry known only by its
    /// response's uid, an object with two owners (the second the
    /// Deployment), a cluster-scoped owner, a request for a Pod of the
    /// same name in another namespace.
    fn big_store() -> (tempfile::TempDir, Store) {
        let (dir, store) = store();
        store
            .connection()
            .execute_batch(
                "INSERT INTO objects (source_id, key, resource, mod_revision, sub_revision, recovered_from,
                     encoding, kind, namespace, name, uid, owner_references) VALUES
                   (1, 'p/web-x', 'pods', 5, 0, 'tree', 'protobuf', 'Pod', 'shop', 'web-x', 'u-webx',
                     '[{\"kind\":\"Deployment\",\"name\":\"api\",\"uid\":\"u-api\"},{\"kind\":\"Deployment\",\"name\":\"web\",\"uid\":\"u-web\"}]'),
                   (1, 'n/n1', 'nodes', 6, 0, 'tree', 'protobuf', 'Node', NULL, 'n1', 'u-n1', NULL),
                   (1, 'l/n1', 'leases', 7, 0, 'tree', 'protobuf', 'Lease', 'kube-node-lease', 'n1', 'u-ln1',
                     '[{\"kind\":\"Node\",\"name\":\"n1\",\"uid\":\"u-n1\"}]');
                 INSERT INTO event_revisions (source_id, key, mod_revision, sub_revision, recovered_from, encoding,
                     reason, type, count, occurred_at, involved_kind, involved_namespace, involved_name, involved_uid)
                   WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n WHERE value < 3000)
                   SELECT 1, 'f/' || value, 100 + value, 0, 'tree', 'protobuf', 'Pulled', 'Normal', 1,
                     '2026-11-20T10:00:00.000000Z', 'Pod', 'other', 'filler-' || value, 'uf-' || value
                   FROM n;
                 INSERT INTO event_revisions (source_id, key, mod_revision, sub_revision, recovered_from, encoding,
                     reason, type, count, occurred_at, involved_kind, involved_namespace, involved_name, involved_uid) VALUES
                   (1, 'e/5', 14, 0, 'tree', 'protobuf', 'Killing', 'Normal', 1,
                     '2026-11-20T09:31:00.000000Z', 'Pod', 'shop', 'web-x', 'u-webx'),
                   (1, 'e/6', 15, 0, 'tree', 'protobuf', 'Renewed', 'Normal', 1,
                     '2026-11-20T09:31:01.000000Z', 'Lease', 'kube-node-lease', 'n1', NULL),
                   (1, 'e/7', 16, 0, 'tree', 'protobuf', 'BackOff', 'Warning', 1,
                     '2026-11-20T09:31:02.000000Z', 'Pod', 'prod', 'web-1-a', NULL);
                 INSERT INTO audit_events (source_id, file, line, audit_id, stage, verb, object_resource,
                     object_namespace, object_name, username, response_code, stage_timestamp, raw)
                   WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n WHERE value < 3000)
                   SELECT 1, 'audit.log', 100 + value, 'af-' || value, 'ResponseComplete', 'get', 'pods',
                     'other', 'filler-' || value, 'bot', 200, '2026-11-20T10:00:00.000000Z', '{}'
                   FROM n;
                 INSERT INTO audit_events (source_id, file, line, audit_id, stage, verb, object_resource,
                     object_namespace, object_name, username, response_code, stage_timestamp, response_object, raw) VALUES
                   (1, 'audit.log', 3, 'a-3', 'ResponseComplete', 'create', 'replicasets', 'shop', NULL,
                     'kcm', 201, '2026-11-20T09:30:00.500000Z', '{\"metadata\":{\"uid\":\"u-rs\"}}', '{}'),
                   (1, 'audit.log', 4, 'a-4', 'RequestReceived', 'delete', 'pods', 'shop', 'web-1-a',
                     'carol', NULL, '2026-11-20T09:32:00.000000Z', NULL, '{}'),
                   (1, 'audit.log', 5, 'a-4', 'ResponseComplete', 'delete', 'pods', 'shop', 'web-1-a',
                     'carol', 200, '2026-11-20T09:32:00.100000Z', NULL, '{}'),
                   (1, 'audit.log', 6, 'a-5', 'ResponseComplete', 'delete', 'pods', 'prod', 'web-1-a',
                     'carol', 200, '2026-11-20T09:32:01.000000Z', NULL, '{}');",
            )
            .unwrap();
        (dir, store)
    }

    fn spec(kind: &str, namespace: Option<&str>, name: &str) -> ObjectSpec {
        ObjectSpec {
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: name.into(),
        }
    }

    /// The tree questions of the tests: by kind and name (with and without
    /// namespace, cluster-scoped), by uid (held in `objects` or not), both.
    fn tree_queries() -> Vec<TimelineQuery> {
        let object = |kind, ns, name| TimelineQuery {
            object: Some(spec(kind, ns, name)),
            ..TimelineQuery::default()
        };
        let uid = |u: &str| TimelineQuery {
            uid: Some(u.into()),
            ..TimelineQuery::default()
        };
        vec![
            object("deployment", Some("shop"), "web"),
            object("deployment", None, "web"),
            object("deployment", Some("shop"), "api"),
            object("pod", Some("shop"), "web-1-a"),
            object("pod", None, "web-1-a"),
            object("replicaset", Some("shop"), "web-1"),
            object("node", None, "n1"),
            object("pod", Some("shop"), "api-1-b"),
            object("deployment", Some("shop"), "nope"),
            uid("u-web"),
            uid("u-rs"),
            uid("u-n1"),
            uid("uf-17"),
            uid("nosuch"),
            TimelineQuery {
                uid: Some("u-api".into()),
                since: Some(datetime!(2026-11-20 09:30:00.4 UTC)),
                event_type: Some("normal".into()),
                ..object("deployment", Some("shop"), "web")
            },
            TimelineQuery {
                user: Some("carol".into()),
                ..object("deployment", None, "web")
            },
        ]
    }

    /// The indexed fetch gives exactly the lines of the filter over every
    /// row of the view that it replaces, in the same order.
    #[test]
    fn tree_lines_are_those_of_the_filter_over_the_view() {
        let (_dir, store) = big_store();
        let timeline = store.timeline().unwrap();
        let mut some = 0;
        for q in tree_queries() {
            let mut legacy = timeline.statement(&q);
            legacy.with = Some(LEGACY_TREE_CTE);
            legacy.from = "";
            let mut expected = Vec::new();
            timeline
                .run(&legacy, |l| {
                    expected.push(l);
                    Ok::<_, TimelineError>(())
                })
                .unwrap();
            let got = timeline.lines(&q).unwrap();
            assert_eq!(got, expected, "{q:?}");
            some += usize::from(!got.is_empty());
        }
        assert!(some >= 10, "most questions have lines: {some}");
    }

    /// The tree and its lines come through indexes: the plan names them,
    /// and running it steps through no table (of 3,000 filler rows each).
    #[test]
    fn tree_lines_come_through_indexes() {
        let (_dir, store) = big_store();
        let timeline = store.timeline().unwrap();
        let plan = timeline.plan(&tree_queries()[0]).join("\n");
        for index in [
            "objects_by_owner_uid",
            "objects_by_owner_name",
            "events_by_involved_uid",
            "events_by_involved_name",
            "audit_events_by_object_uid",
            "audit_events_by_object_name",
        ] {
            assert!(plan.contains(index), "{index} not in\n{plan}");
        }
        for q in tree_queries() {
            let (lines, steps) = timeline.full_scan_steps(&q);
            assert!(
                steps < 100,
                "{steps} full-scan steps for {q:?} ({lines} lines)"
            );
        }
        // --user and --reason go through indexes too, and skip the arm of
        // the other source.
        for q in [
            TimelineQuery {
                user: Some("carol".into()),
                ..TimelineQuery::default()
            },
            TimelineQuery {
                user: Some("dave".into()),
                ..TimelineQuery::default()
            },
            TimelineQuery {
                reason: Some("BackOff".into()),
                ..TimelineQuery::default()
            },
        ] {
            let (lines, steps) = timeline.full_scan_steps(&q);
            assert!(
                steps < 100,
                "{steps} full-scan steps for {q:?} ({lines} lines)"
            );
        }
        // What a full scan counts: every line of the view.
        let (lines, steps) = timeline.full_scan_steps(&TimelineQuery::default());
        assert!(
            lines > 6000 && steps >= 6000,
            "{lines} lines, {steps} steps"
        );
    }

    /// Namespace, reason, type (any case) and user (or impersonated user).
    #[test]
    fn field_filters() {
        let (_dir, store) = store();
        let q = |f: fn(&mut TimelineQuery)| {
            let mut q = TimelineQuery::default();
            f(&mut q);
            story(&store, &q)
        };
        assert_eq!(q(|q| q.namespace = Some("shop".into())).len(), 5);
        assert_eq!(
            q(|q| q.reason = Some("BackOff".into())),
            pairs(&[("Pod/shop/web-1-a", "BackOff")])
        );
        assert_eq!(
            q(|q| q.event_type = Some("warning".into())),
            pairs(&[
                ("Pod/shop/web-1-a", "BackOff"),
                ("Pod/shop/api-1-b", "Unhealthy")
            ])
        );
        assert_eq!(
            q(|q| q.user = Some("alice".into())),
            pairs(&[("Deployment/shop/web", "patch")])
        );
        assert_eq!(
            q(|q| q.user = Some("bob".into())),
            pairs(&[("Pod/shop/api-1-b", "delete")])
        );
        assert_eq!(
            q(|q| {
                q.namespace = Some("shop".into());
                q.event_type = Some("Warning".into());
                q.reason = Some("Unhealthy".into());
            }),
            pairs(&[("Pod/shop/api-1-b", "Unhealthy")])
        );
    }

    /// Time bounds are inclusive, in any offset.
    #[test]
    fn time_bounds() {
        let (_dir, store) = store();
        let q = TimelineQuery {
            since: Some(datetime!(2026-11-20 10:30:02 +01:00)),
            until: Some(datetime!(2026-11-20 09:30:03 UTC)),
            ..TimelineQuery::default()
        };
        assert_eq!(
            story(&store, &q),
            pairs(&[
                ("Pod/shop/web-1-a", "BackOff"),
                ("Pod/shop/api-1-b", "Unhealthy")
            ])
        );
    }

    /// A duration before the newest line is computed by SQLite, to the
    /// millisecond; an empty timeline has no such time.
    #[test]
    fn times_before_the_newest_line() {
        let (_dir, store) = store();
        let timeline = store.timeline().unwrap();
        assert_eq!(
            timeline.before_newest(Duration::from_secs(7200)).unwrap(),
            Some(datetime!(2026-11-20 09:30:04.5 UTC))
        );
        assert_eq!(
            timeline.before_newest(Duration::from_millis(1500)).unwrap(),
            Some(datetime!(2026-11-20 11:30:03 UTC))
        );
        // Before year 0 (the text compares before every ordinary time).
        assert_eq!(
            timeline
                .before_newest(Duration::from_secs(86_400_000_000))
                .unwrap()
                .map(|t| t.year()),
            Some(-712)
        );
        assert_eq!(
            timeline
                .before_newest(Duration::from_secs(400_000_000_000))
                .unwrap(),
            None
        );
        store
            .connection()
            .execute_batch("DELETE FROM event_revisions; DELETE FROM audit_events;")
            .unwrap();
        assert_eq!(timeline.before_newest(Duration::ZERO).unwrap(), None);
    }

    /// Kinds resolve through resource names, objects and Events' objects.
    #[test]
    fn kinds_resolve_as_stored() {
        let (_dir, store) = store();
        let timeline = store.timeline().unwrap();
        assert_eq!(timeline.resolve_kind("deployments"), "Deployment");
        assert_eq!(timeline.resolve_kind("pod"), "Pod");
        assert_eq!(timeline.resolve_kind("NODE"), "Node");
        assert_eq!(timeline.resolve_kind("Gadget"), "Gadget");
    }

    /// An object is known by `objects`, by an Event's or by an audited
    /// request's object, whatever the other filters; names like a missing
    /// one are offered nearest first.
    #[test]
    fn known_objects_and_names_alike() {
        let (_dir, store) = store();
        let timeline = store.timeline().unwrap();
        let spec = |kind: &str, ns: Option<&str>, name: &str| ObjectSpec {
            kind: kind.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
        };
        assert!(timeline
            .knows_object(&spec("deployments", Some("shop"), "web"))
            .unwrap());
        assert!(timeline
            .knows_object(&spec("Deployment", None, "web"))
            .unwrap());
        // Only an Event names this Pod; only an audit entry names none else.
        assert!(timeline
            .knows_object(&spec("pod", Some("shop"), "api-1-b"))
            .unwrap());
        assert!(timeline.knows_object(&spec("node", None, "n1")).unwrap());
        assert!(!timeline
            .knows_object(&spec("deployment", Some("shop"), "nope"))
            .unwrap());
        assert!(!timeline
            .knows_object(&spec("deployment", Some("other"), "web"))
            .unwrap());
        assert!(!timeline
            .knows_object(&spec("pod", Some("shop"), "web"))
            .unwrap());

        assert_eq!(
            timeline.objects_named_like("WEB", 10).unwrap(),
            vec![("Deployment/shop/web".to_owned(), 0)]
        );
        assert_eq!(
            timeline.objects_named_like("web-1-c", 10).unwrap(),
            vec![("Pod/shop/web-1-a".to_owned(), 1)]
        );
        assert_eq!(
            timeline.objects_named_like("web-1-a-b", 10).unwrap(),
            vec![("Pod/shop/web-1-a".to_owned(), 2)]
        );
        assert_eq!(timeline.objects_named_like("nope", 10).unwrap(), vec![]);
        assert_eq!(timeline.objects_named_like("web", 0).unwrap(), vec![]);
    }

    /// A database from before the timeline is refused, naming its path.
    #[test]
    fn needs_schema_version_6() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(super::super::schema::SCHEMA_V1).unwrap();
        conn.execute_batch("PRAGMA user_version = 1").unwrap();
        drop(conn);
        let store = Store::open_read_only(&path).unwrap();
        let e = store.timeline().err().unwrap();
        assert!(matches!(e, TimelineError::SchemaTooOld { version: 1, .. }));
        assert!(e.to_string().contains("needs version 6"));
        assert!(e.to_string().contains(&path.display().to_string()));
    }
}
