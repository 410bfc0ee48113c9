//! What the formats share: the [`LineWriter`] each one is, a line's cells
//! as text and as JSON, and a line told in a few words.

use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::{Map, Value};

use crate::helpers::{hex, human_duration};
use crate::store::timeline::{Source, TimelineLine};

/// One output format: takes the lines in time order, then ends the output.
pub trait LineWriter {
    fn line(&mut self, line: &TimelineLine) -> anyhow::Result<()>;
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
}

/// A cell as JSON: NULL is null, a BLOB lower-case hex.
pub fn json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => Value::from(f),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(hex(b)),
    }
}

/// A cell as text: NULL is empty, numbers as JSON writes them.
pub fn text(v: ValueRef<'_>) -> String {
    match json(v) {
        Value::Null => String::new(),
        Value::String(s) => s,
        v => v.to_string(),
    }
}

fn cell(v: &SqlValue) -> String {
    text(v.into())
}

/// The line as one JSON object, its fields in column order.
pub fn line_json(l: &TimelineLine) -> Map<String, Value> {
    l.fields()
        .into_iter()
        .map(|(name, v)| (name.to_string(), json(v)))
        .collect()
}

/// What happened, in a few words: `Warning BackOff x4` or `patch DENIED (403)`.
pub fn what(l: &TimelineLine) -> String {
    match l.source {
        Source::Event => {
            let mut w = format!("{} {}", cell(&l.event_type), cell(&l.reason))
                .trim()
                .to_string();
            if let SqlValue::Integer(c @ 2..) = l.count {
                w.push_str(&format!(" x{c}"));
                if let Some(span) = seconds_between(&l.first_time, &l.time) {
                    w.push_str(&format!(" over {}", human_duration(span)));
                }
            }
            w
        }
        Source::Audit => {
            let mut w = cell(&l.verb);
            if l.denied == SqlValue::Integer(1) {
                w.push_str(&format!(" DENIED ({})", cell(&l.response_code)));
            }
            w
        }
    }
}

/// The detail column: the Event's message, or who did the request; then
/// the record's identity (the Event's uid, the request's auditID), so that
/// a line leads back to its record.
pub fn detail(l: &TimelineLine) -> String {
    match l.source {
        Source::Event => {
            let mut d = cell(&l.message).replace(['\n', '\r'], " ");
            if l.event_uid != SqlValue::Null {
                d.push_str(&format!(" uid={}", cell(&l.event_uid)));
            }
            d.trim_start().to_string()
        }
        Source::Audit => format!(
            "user={} ip={} code={} agent={} auditID={}",
            cell(&l.username),
            cell(&l.source_ip),
            cell(&l.response_code),
            cell(&l.user_agent),
            cell(&l.audit_id)
        ),
    }
}

/// The line's time as text; `(no time)` for a record that carries none
/// (kept, not dropped: see the `timeline` view).
pub fn time(l: &TimelineLine) -> String {
    match l.time {
        SqlValue::Null => NO_TIME.to_string(),
        ref t => cell(t),
    }
}

/// The time of a line whose record carries none.
pub const NO_TIME: &str = "(no time)";

/// The line's own message.
pub fn message(l: &TimelineLine) -> String {
    cell(&l.message)
}

/// The user of an audit entry.
pub fn username(l: &TimelineLine) -> String {
    cell(&l.username)
}

/// Whole seconds from `from` to `to` (database times), truncated as Go's
/// `int(d.Seconds())` does; `None` when either is missing.
pub fn seconds_between(from: &SqlValue, to: &SqlValue) -> Option<i64> {
    let (SqlValue::Text(from), SqlValue::Text(to)) = (from, to) else {
        return None;
    };
    Some((micros(to)? - micros(from)?) / 1_000_000)
}

/// Microseconds since the epoch of a database time.
pub fn micros(t: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cells print as the JSON of their value; a line's summary names
    /// counts above one and denied requests.
    #[test]
    fn cells_and_summaries() {
        assert_eq!(text(ValueRef::Null), "");
        assert_eq!(text(ValueRef::Integer(4)), "4");
        assert_eq!(text(ValueRef::Real(1.0)), "1.0");
        assert_eq!(text(ValueRef::Blob(&[0xab])), "ab");
        assert_eq!(json(ValueRef::Real(f64::INFINITY)), Value::Null);
        let mut event = TimelineLine::blank(Source::Event, "2026-11-20T09:30:00.000000Z");
        event.event_type = SqlValue::Text("Warning".into());
        event.reason = SqlValue::Text("BackOff".into());
        event.count = SqlValue::Integer(4);
        event.message = SqlValue::Text("a\nb".into());
        assert_eq!(what(&event), "Warning BackOff x4");
        event.first_time = SqlValue::Text("2026-11-20T09:26:02.000000Z".into());
        assert_eq!(what(&event), "Warning BackOff x4 over 3m58s");
        assert_eq!(detail(&event), "a b");
        event.count = SqlValue::Integer(1);
        assert_eq!(what(&event), "Warning BackOff");
        let mut audit = TimelineLine::blank(Source::Audit, "2026-11-20T09:30:00.000000Z");
        audit.verb = SqlValue::Text("patch".into());
        audit.denied = SqlValue::Integer(1);
        audit.response_code = SqlValue::Integer(403);
        audit.username = SqlValue::Text("alice".into());
        assert_eq!(what(&audit), "patch DENIED (403)");
        assert_eq!(detail(&audit), "user=alice ip= code=403 agent= auditID=");
        audit.audit_id = SqlValue::Text("a-1".into());
        assert!(detail(&audit).ends_with(" auditID=a-1"));
        event.event_uid = SqlValue::Text("u-1".into());
        assert_eq!(detail(&event), "a b uid=u-1");
        assert_eq!(
            micros("2026-11-20T09:30:00.250000Z"),
            Some(1_795_167_000_250_000)
        );
    }
}
