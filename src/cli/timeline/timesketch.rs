//! JSON lines Timesketch imports: `message`, `datetime`, `timestamp`
//! (microseconds), `timestamp_desc`, `data_type`, then the line's fields
//! (its own message as `line_message`, which Timesketch reserves).

use std::io::Write;

use serde_json::{Map, Value};

use super::line::{line_json, message, micros, time, username, what, LineWriter};
use crate::store::timeline::{Source, TimelineLine};

pub struct Timesketch<W: Write> {
    out: W,
}

impl<W: Write> Timesketch<W> {
    pub fn new(out: W) -> Timesketch<W> {
        Timesketch { out }
    }
}

impl<W: Write> LineWriter for Timesketch<W> {
    fn line(&mut self, l: &TimelineLine) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, &timesketch(l))?;
        writeln!(self.out)?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A line as Timesketch imports it.
fn timesketch(l: &TimelineLine) -> Value {
    let mut m = Map::new();
    let time = time(l);
    let message = match l.source {
        Source::Event => format!("{} {}: {}", l.object, what(l), message(l)),
        Source::Audit => format!(
            "{} {} by {}: {}",
            l.object,
            what(l),
            username(l),
            message(l)
        ),
    };
    m.insert("message".into(), Value::String(message));
    m.insert(
        "datetime".into(),
        micros(&time).map_or(Value::Null, |_| Value::String(time.clone())),
    );
    m.insert(
        "timestamp".into(),
        micros(&time).map_or(Value::Null, Value::from),
    );
    m.insert(
        "timestamp_desc".into(),
        Value::String(
            match l.source {
                Source::Event => "Event occurred",
                Source::Audit => "Request completed",
            }
            .into(),
        ),
    );
    m.insert(
        "data_type".into(),
        Value::String(format!("kubernetes:{}", l.source.as_str())),
    );
    for (k, v) in line_json(l) {
        if v.is_null() || k == "time" {
            continue;
        }
        let k = if k == "message" {
            "line_message".to_string()
        } else {
            k
        };
        m.insert(k, v);
    }
    Value::Object(m)
}
