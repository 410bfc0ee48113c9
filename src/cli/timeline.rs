//! `evforensics timeline`: one merged, time-ordered story of Event
//! occurrences and audit entries, filtered, optionally following an
//! object's ownership downward (a Deployment → its ReplicaSets → their
//! Pods, deleted ones included), printed as text, CSV, JSON lines,
//! Timesketch JSONL or a self-contained HTML page.

use std::io::{self, Write};

use anyhow::{bail, Context};
use rusqlite::types::Value as SqlValue;
use serde_json::{Map, Value};

use super::{DbArg, EXIT_OK};
use crate::store::Store;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal.
    Text,
    /// RFC 4180 CSV with a header row (NULL is an empty field).
    Csv,
    /// One JSON object per line (NULL is null).
    Jsonl,
    /// JSON lines importable into Timesketch: `message`, `datetime`,
    /// `timestamp` (microseconds), `timestamp_desc`, and the fields.
    Timesketch,
    /// One self-contained HTML page: a lane per object, marks on a time axis.
    Html,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    evforensics timeline --object deployment/shop/web\n  \
    evforensics timeline --namespace shop --type Warning --since 2h\n  \
    evforensics timeline --object pods/shop/web-7f9c8d5b4-x2x9q --format csv\n  \
    evforensics timeline --user alice --since 2026-11-20T09:00:00Z --format timesketch > alice.jsonl\n  \
    evforensics timeline --object deployment/shop/web --format html > web.html")]
pub struct TimelineArgs {
    #[command(flatten)]
    db: DbArg,
    /// Only lines about objects in this namespace.
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// KIND/[NAMESPACE/]NAME (kind case-insensitive, singular or plural:
    /// deployment/shop/web, pods/shop/web-1): this object and everything it
    /// owns, followed down through `objects` (deleted objects included).
    #[arg(long, value_name = "KIND/[NAMESPACE/]NAME")]
    object: Option<String>,
    /// The object with this uid, and everything it owns.
    #[arg(long, value_name = "UID")]
    uid: Option<String>,
    /// From this time: RFC 3339, or a duration (30s, 15m, 2h, 1d) before the
    /// newest line of the database.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Up to this time (inclusive): RFC 3339 or a duration before the newest line.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only Events with this reason (BackOff, Failed, …).
    #[arg(long, value_name = "REASON")]
    reason: Option<String>,
    /// Only audit entries of this user (username or impersonated user).
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Only Events of this type (Normal, Warning).
    #[arg(long = "type", value_name = "TYPE")]
    type_: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// The columns of a timeline line, in output order.
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
];

/// One line of the timeline, as named columns.
pub type Line = Map<String, Value>;

pub fn run(args: TimelineArgs) -> anyhow::Result<i32> {
    let store = super::query::open(&args.db.db)?;
    let lines = timeline(&store, &args)?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Text => write_text(&mut out, &lines)?,
        Format::Csv => write_csv(&mut out, &lines)?,
        Format::Jsonl => {
            for l in &lines {
                serde_json::to_writer(&mut out, l)?;
                writeln!(out)?;
            }
        }
        Format::Timesketch => {
            for l in &lines {
                serde_json::to_writer(&mut out, &timesketch(l))?;
                writeln!(out)?;
            }
        }
        Format::Html => out.write_all(html(&lines, &title(&args)).as_bytes())?,
    }
    out.flush()?;
    Ok(EXIT_OK)
}

fn title(args: &TimelineArgs) -> String {
    let mut parts = Vec::new();
    if let Some(o) = &args.object {
        parts.push(o.clone());
    }
    if let Some(u) = &args.uid {
        parts.push(format!("uid {u}"));
    }
    if let Some(n) = &args.namespace {
        parts.push(format!("namespace {n}"));
    }
    if parts.is_empty() {
        "evforensics timeline".into()
    } else {
        format!("evforensics timeline: {}", parts.join(", "))
    }
}

/// An `--object` argument: KIND/[NAMESPACE/]NAME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSpec {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

pub fn parse_object(s: &str) -> anyhow::Result<ObjectSpec> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [kind, name] if !kind.is_empty() && !name.is_empty() => Ok(ObjectSpec {
            kind: kind.to_string(),
            namespace: None,
            name: name.to_string(),
        }),
        [kind, ns, name] if !kind.is_empty() && !ns.is_empty() && !name.is_empty() => {
            Ok(ObjectSpec {
                kind: kind.to_string(),
                namespace: Some(ns.to_string()),
                name: name.to_string(),
            })
        }
        _ => Err(super::UsageError(format!(
            "--object {s:?}: expected KIND/[NAMESPACE/]NAME, e.g. deployment/shop/web"
        ))
        .into()),
    }
}

/// The kind as stored (`Deployment`) for what the user typed
/// (`deployment`, `Deployments`, `deploy`-less plural resource names).
fn resolve_kind(conn: &rusqlite::Connection, typed: &str) -> anyhow::Result<String> {
    let lower = typed.to_ascii_lowercase();
    let found: Option<String> = conn
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
        .ok();
    Ok(found.unwrap_or_else(|| typed.to_string()))
}

/// A `--since`/`--until` bound as SQL (a parameter and how to use it).
fn time_bound(s: &str) -> anyhow::Result<(String, SqlValue)> {
    if let Some(secs) = parse_duration(s) {
        return Ok((
            "strftime('%Y-%m-%dT%H:%M:%f000Z', (SELECT max(time) FROM timeline), ?)".into(),
            SqlValue::Text(format!("-{secs} seconds")),
        ));
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            super::UsageError(format!(
                "{s:?}: expected an RFC 3339 time (2026-11-20T09:30:00Z) or a duration (2h): {e}"
            ))
        })?;
    Ok(("?".into(), SqlValue::Text(micro_text(t))))
}

fn parse_duration(s: &str) -> Option<u64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// `2026-11-20T09:30:00.000000Z`: the form the database's times have.
fn micro_text(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// The recursive closure of an object: itself (by uid, or by kind, name and
/// namespace) and every object whose ownerReferences name one in the set
/// (by uid; by kind and name when the reference has no uid).
const TREE_CTE: &str = "WITH RECURSIVE
  roots(kind, namespace, name, uid) AS (SELECT ?1, ?2, ?3, ?4),
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

/// Runs the filtered timeline query.
pub fn timeline(store: &Store, args: &TimelineArgs) -> anyhow::Result<Vec<Line>> {
    let conn = store.connection();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 3 {
        bail!(
            "the database has schema version {version}, the timeline needs version 3: load any source into it with `evforensics ingest --db {}` to migrate it",
            args.db.db.display()
        );
    }
    let mut params: Vec<SqlValue> = vec![SqlValue::Null; 4];
    let mut sql = String::new();
    let mut conds: Vec<String> = Vec::new();
    let tree = args.object.is_some() || args.uid.is_some();
    if tree {
        if let Some(o) = &args.object {
            let spec = parse_object(o)?;
            params[0] = SqlValue::Text(resolve_kind(conn, &spec.kind)?);
            params[1] = spec.namespace.map_or(SqlValue::Null, SqlValue::Text);
            params[2] = SqlValue::Text(spec.name);
        }
        if let Some(uid) = &args.uid {
            params[3] = SqlValue::Text(uid.clone());
        }
        sql.push_str(TREE_CTE);
        conds.push(
            "EXISTS (SELECT 1 FROM tree t WHERE (t.uid IS NOT NULL AND tl.object_uid = t.uid)
               OR (t.name IS NOT NULL AND tl.object_kind = t.kind AND tl.object_name = t.name
                   AND (t.namespace IS NULL OR tl.object_namespace IS t.namespace)))"
                .into(),
        );
    }
    let mut push = |cond: &str, v: SqlValue, params: &mut Vec<SqlValue>| {
        params.push(v);
        conds.push(cond.replace('?', &format!("?{}", params.len())));
    };
    if let Some(ns) = &args.namespace {
        push(
            "tl.object_namespace = ?",
            SqlValue::Text(ns.clone()),
            &mut params,
        );
    }
    if let Some(r) = &args.reason {
        push("tl.reason = ?", SqlValue::Text(r.clone()), &mut params);
    }
    if let Some(t) = &args.type_ {
        push(
            "lower(tl.type) = lower(?)",
            SqlValue::Text(t.clone()),
            &mut params,
        );
    }
    if let Some(u) = &args.user {
        params.push(SqlValue::Text(u.clone()));
        let n = params.len();
        conds.push(format!(
            "tl.audit_event_id IN (SELECT id FROM audit_events WHERE username = ?{n} OR impersonated_user = ?{n})"
        ));
    }
    for (bound, op) in [(&args.since, ">="), (&args.until, "<=")] {
        if let Some(b) = bound {
            let (expr, v) = time_bound(b)?;
            params.push(v);
            conds.push(format!(
                "tl.time {op} {}",
                expr.replace('?', &format!("?{}", params.len()))
            ));
        }
    }
    if !tree {
        // Keep the parameter numbering: ?1..?4 are the tree's.
        sql.push_str("WITH unused(a, b, c, d) AS (SELECT ?1, ?2, ?3, ?4)\n");
    }
    sql.push_str(
        "SELECT tl.time, tl.source,
            coalesce(tl.object_kind, '?') || '/' || coalesce(tl.object_namespace || '/', '')
                || coalesce(tl.object_name, '?') AS object,
            tl.object_kind, tl.object_namespace, tl.object_name, tl.object_uid,
            tl.reason, tl.verb, tl.type, tl.count, tl.message, tl.component,
            tl.username, tl.source_ip, tl.user_agent, tl.response_code, tl.denied, tl.write,
            tl.revision, tl.sub_revision, tl.file, tl.line, tl.key, tl.live
         FROM timeline tl",
    );
    if !conds.is_empty() {
        sql.push_str("\n WHERE ");
        sql.push_str(&conds.join("\n   AND "));
    }
    sql.push_str(
        "\n ORDER BY tl.time, tl.revision IS NULL, tl.revision, tl.sub_revision, tl.line, tl.source, tl.file, tl.event_id, tl.audit_event_id",
    );
    let mut stmt = conn.prepare(&sql).context("preparing the timeline query")?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params.iter()), |r| {
        let mut line = Map::new();
        for (i, name) in COLUMNS.iter().enumerate() {
            let v: SqlValue = r.get(i)?;
            line.insert(
                name.to_string(),
                match v {
                    SqlValue::Null => Value::Null,
                    SqlValue::Integer(i) => Value::from(i),
                    SqlValue::Real(f) => Value::from(f),
                    SqlValue::Text(t) => Value::String(t),
                    SqlValue::Blob(b) => Value::String(crate::helpers::hex(&b)),
                },
            );
        }
        Ok(line)
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn text(l: &Line, k: &str) -> String {
    match l.get(k) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

fn is_true(l: &Line, k: &str) -> bool {
    matches!(l.get(k), Some(Value::Number(n)) if n.as_i64() == Some(1))
}

/// What happened, in a few words: `Warning BackOff ×4` or `patch (403 DENIED)`.
fn what(l: &Line) -> String {
    if text(l, "source") == "event" {
        let mut w = format!("{} {}", text(l, "type"), text(l, "reason"))
            .trim()
            .to_string();
        if let Some(c) = l.get("count").and_then(Value::as_i64).filter(|c| *c > 1) {
            w.push_str(&format!(" x{c}"));
        }
        w
    } else {
        let mut w = text(l, "verb");
        if is_true(l, "denied") {
            w.push_str(&format!(" DENIED ({})", text(l, "response_code")));
        }
        w
    }
}

/// The detail column: the Event's message, or who did the request.
fn detail(l: &Line) -> String {
    if text(l, "source") == "event" {
        text(l, "message").replace(['\n', '\r'], " ")
    } else {
        format!(
            "user={} ip={} code={} agent={}",
            text(l, "username"),
            text(l, "source_ip"),
            text(l, "response_code"),
            text(l, "user_agent")
        )
    }
}

fn write_text(out: &mut impl Write, lines: &[Line]) -> anyhow::Result<()> {
    let rows: Vec<[String; 5]> = lines
        .iter()
        .map(|l| {
            [
                text(l, "time"),
                text(l, "source"),
                text(l, "object"),
                what(l),
                detail(l),
            ]
        })
        .collect();
    let header = ["TIME", "SOURCE", "OBJECT", "WHAT", "DETAILS"].map(String::from);
    let mut widths = [0usize; 4];
    for r in std::iter::once(&header).chain(rows.iter()) {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(&header).chain(rows.iter()) {
        let mut s = String::new();
        for (w, c) in widths.iter().zip(r.iter()) {
            s.push_str(c);
            s.push_str(&" ".repeat(w - c.chars().count() + 2));
        }
        s.push_str(&r[4]);
        writeln!(out, "{}", s.trim_end())?;
    }
    if lines.is_empty() {
        writeln!(out, "(no lines)")?;
    }
    Ok(())
}

fn write_csv(out: &mut impl Write, lines: &[Line]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS)?;
    for l in lines {
        w.write_record(COLUMNS.iter().map(|c| text(l, c)))?;
    }
    w.flush()?;
    Ok(())
}

/// Microseconds since the epoch of a database time.
fn micros(t: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

/// A line as Timesketch imports it.
pub fn timesketch(l: &Line) -> Value {
    let mut m = Map::new();
    let time = text(l, "time");
    let message = if text(l, "source") == "event" {
        format!("{} {}: {}", text(l, "object"), what(l), text(l, "message"))
    } else {
        format!(
            "{} {} by {}: {}",
            text(l, "object"),
            what(l),
            text(l, "username"),
            text(l, "message")
        )
    };
    m.insert("message".into(), Value::String(message));
    m.insert("datetime".into(), Value::String(time.clone()));
    m.insert(
        "timestamp".into(),
        micros(&time).map_or(Value::Null, Value::from),
    );
    m.insert(
        "timestamp_desc".into(),
        Value::String(
            if text(l, "source") == "event" {
                "Event occurred"
            } else {
                "Request completed"
            }
            .into(),
        ),
    );
    m.insert(
        "data_type".into(),
        Value::String(format!("kubernetes:{}", text(l, "source"))),
    );
    // The fields, except those Timesketch reserves: the line's own
    // message becomes `line_message`.
    for (k, v) in l {
        if v.is_null() || k == "time" {
            continue;
        }
        let k = if k == "message" {
            "line_message"
        } else {
            k.as_str()
        };
        m.insert(k.to_string(), v.clone());
    }
    Value::Object(m)
}

/// One self-contained page: data embedded as JSON, drawn by inline script
/// into SVG, no external resources.
pub fn html(lines: &[Line], title: &str) -> String {
    let data: Vec<Value> = lines
        .iter()
        .map(|l| {
            let mut m = l.clone();
            m.insert("what".into(), Value::String(what(l)));
            m.insert("detail".into(), Value::String(detail(l)));
            m.insert(
                "t".into(),
                micros(&text(l, "time")).map_or(Value::Null, Value::from),
            );
            Value::Object(m)
        })
        .collect();
    // `</` would end the script element early.
    let json = serde_json::to_string(&data)
        .unwrap_or_else(|_| "[]".into())
        .replace("</", "<\\/")
        .replace("<!--", "<\\!--");
    HTML_TEMPLATE
        .replace("{{TITLE}}", &html_escape(title))
        .replace("{{DATA}}", &json)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const HTML_TEMPLATE: &str = include_str!("timeline.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_specs() {
        assert_eq!(
            parse_object("deployment/shop/web").unwrap(),
            ObjectSpec {
                kind: "deployment".into(),
                namespace: Some("shop".into()),
                name: "web".into()
            }
        );
        assert_eq!(parse_object("node/n1").unwrap().namespace, None);
        assert!(parse_object("web").is_err());
        assert!(parse_object("a/b/c/d").is_err());
        assert!(parse_object("pods//x").is_err());
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("15m"), Some(900));
        assert_eq!(parse_duration("1d"), Some(86400));
        assert_eq!(parse_duration("2026-11-20T09:00:00Z"), None);
        assert_eq!(parse_duration("h"), None);
        let (_, v) = time_bound("2026-11-20T10:30:00+01:00").unwrap();
        assert_eq!(v, SqlValue::Text("2026-11-20T09:30:00.000000Z".into()));
        assert!(time_bound("yesterday").is_err());
    }

    #[test]
    fn html_is_self_contained_and_escapes_script_ends() {
        let mut l = Line::new();
        l.insert(
            "time".into(),
            Value::String("2026-11-20T09:30:00.000000Z".into()),
        );
        l.insert("source".into(), Value::String("event".into()));
        l.insert("message".into(), Value::String("</script><b>x".into()));
        let page = html(&[l], "t <1>");
        assert!(!page.contains("</script><b>"));
        assert!(page.contains("t &lt;1&gt;"));
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(!page.contains("src="));
    }
}
