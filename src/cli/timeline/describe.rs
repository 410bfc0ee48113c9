//! `kubectl describe`'s Events table over the timeline's Event lines: one
//! row per Event key (its latest revision among the lines selected) —
//! type, reason, the age of its last occurrence and `(x7 over 3m58s)`,
//! FROM (component, host), message — in the order of last occurrence. Ages
//! are counted from the newest Event occurrence the database holds, as
//! kubectl would have printed them then (the `event_describe` view gives
//! the same). Only one line per key is kept, not every line.

use std::collections::HashMap;
use std::io::Write;

use rusqlite::types::Value as SqlValue;

use super::line::{seconds_between, LineWriter};
use crate::helpers::human_duration;
use crate::store::timeline::{Source, TimelineLine};

pub struct Describe<W: Write> {
    out: W,
    /// The newest Event occurrence of the database: "now" for the ages.
    as_of: Option<String>,
    /// The latest line of each Event key.
    latest: HashMap<String, TimelineLine>,
}

impl<W: Write> Describe<W> {
    pub fn new(out: W, as_of: Option<String>) -> Describe<W> {
        Describe {
            out,
            as_of,
            latest: HashMap::new(),
        }
    }
}

fn integer(v: &SqlValue) -> i64 {
    match v {
        SqlValue::Integer(i) => *i,
        _ => 0,
    }
}

fn text(v: &SqlValue) -> &str {
    match v {
        SqlValue::Text(t) => t,
        _ => "",
    }
}

/// kubectl's Age column: `2m (x7 over 3m58s)` for a repeat, else the age of
/// the first occurrence (`<unknown>` without one).
pub fn interval(l: &TimelineLine, as_of: &SqlValue) -> String {
    let age = |t: &SqlValue| {
        seconds_between(t, as_of).map_or_else(|| "<unknown>".to_string(), human_duration)
    };
    let count = integer(&l.count).max(1);
    if count > 1 {
        format!("{} (x{count} over {})", age(&l.time), age(&l.first_time))
    } else {
        age(&l.first_time)
    }
}

/// FROM: the reporting component, and the host when the Event names one.
fn from(l: &TimelineLine) -> String {
    match (text(&l.component), text(&l.host)) {
        (c, "") => c.to_string(),
        (c, h) => format!("{c}, {h}"),
    }
}

impl<W: Write> LineWriter for Describe<W> {
    fn line(&mut self, l: &TimelineLine) -> anyhow::Result<()> {
        if l.source != Source::Event {
            return Ok(());
        }
        let key = text(&l.key).to_string();
        let newer = self
            .latest
            .get(&key)
            .is_none_or(|seen| integer(&l.revision) >= integer(&seen.revision));
        if newer {
            self.latest.insert(key, l.clone());
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        let as_of = self.as_of.clone().map_or(SqlValue::Null, SqlValue::Text);
        let mut lines: Vec<TimelineLine> = std::mem::take(&mut self.latest).into_values().collect();
        lines.sort_by(|a, b| {
            (text(&a.time), integer(&a.revision), text(&a.key)).cmp(&(
                text(&b.time),
                integer(&b.revision),
                text(&b.key),
            ))
        });
        let header = ["OBJECT", "TYPE", "REASON", "AGE", "FROM", "MESSAGE"].map(String::from);
        let rows: Vec<[String; 6]> = lines
            .iter()
            .map(|l| {
                [
                    l.object.clone(),
                    text(&l.event_type).to_string(),
                    text(&l.reason).to_string(),
                    interval(l, &as_of),
                    from(l),
                    text(&l.message).trim().replace(['\n', '\r'], " "),
                ]
            })
            .collect();
        if let SqlValue::Text(t) = &as_of {
            writeln!(
                self.out,
                "Events as of {t} (the newest occurrence the database holds):"
            )?;
        }
        let mut widths = [0usize; 5];
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
            s.push_str(&r[5]);
            writeln!(self.out, "{}", s.trim_end())?;
        }
        if rows.is_empty() {
            writeln!(self.out, "(no Events)")?;
        }
        Ok(())
    }
}
