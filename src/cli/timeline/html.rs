//! One self-contained HTML page: the timeline's data ([`PageData`],
//! built while the lines stream) embedded as JSON and drawn by the page's
//! inline script: lanes nested by ownership, each object's lifetime, marks
//! (or counts per time bucket for a large case) on a zoomable time axis,
//! a filter box and a paged table. No external resources.

use std::io::Write;

use rusqlite::types::Value as SqlValue;

use super::html_data::{PageBuilder, PageHorizon, PageLine, AUDIT, DENIED, NOT_LIVE, WARNING};
use super::line::{detail, micros, text, time, what, LineWriter};
use crate::store::timeline::{Source, Timeline, TimelineLine};

const HTML_TEMPLATE: &str = include_str!("timeline.html");

pub struct Html<'t, 's, W: Write> {
    out: W,
    timeline: Option<&'t Timeline<'s>>,
    page: PageBuilder,
}

impl<'t, 's, W: Write> Html<'t, 's, W> {
    /// A page about the lines of `timeline` (its objects and sources give
    /// lifetimes, ownership and horizons; without it, lines only).
    pub fn new(out: W, title: String, timeline: Option<&'t Timeline<'s>>) -> Self {
        Html {
            out,
            timeline,
            page: PageBuilder::new(title),
        }
    }
}

impl<W: Write> LineWriter for Html<'_, '_, W> {
    fn line(&mut self, l: &TimelineLine) -> anyhow::Result<()> {
        let mut flags = 0;
        if l.source == Source::Audit {
            flags |= AUDIT;
        }
        if matches!(&l.event_type, SqlValue::Text(t) if t.eq_ignore_ascii_case("warning")) {
            flags |= WARNING;
        }
        if l.denied == SqlValue::Integer(1) {
            flags |= DENIED;
        }
        if l.source == Source::Event && l.live == SqlValue::Integer(0) {
            flags |= NOT_LIVE;
        }
        let (key, num) = match l.source {
            Source::Event => (text((&l.key).into()), as_int(&l.revision)),
            Source::Audit => (text((&l.file).into()), as_int(&l.line)),
        };
        let event_key = (l.source == Source::Event).then_some(key.as_str());
        // The record's identity: the Event's uid, the request's auditID.
        let id = text(match l.source {
            Source::Event => (&l.event_uid).into(),
            Source::Audit => (&l.audit_id).into(),
        });
        self.page.line(&PageLine {
            time: micros(&time(l)),
            object: &l.object,
            what: &what(l),
            detail: &detail(l),
            key: &key,
            num,
            id: &id,
            flags,
            event_key,
        });
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        let (objects, horizons) = match self.timeline {
            Some(t) => (t.object_lives()?, t.horizons()?),
            None => Default::default(),
        };
        let horizons = horizons
            .into_iter()
            .map(|h| PageHorizon {
                source: h.source,
                compact_revision: h.compact_revision,
                time: h.time,
            })
            .collect();
        let page = std::mem::take(&mut self.page);
        let data = page.finish(&objects, horizons);
        let title = html_escape(&data.title);
        let json = script_safe(&serde_json::to_string(&data)?);
        let (head, rest) = HTML_TEMPLATE
            .split_once("{{DATA}}")
            .expect("the template has a data slot");
        self.out
            .write_all(head.replace("{{TITLE}}", &title).as_bytes())?;
        self.out.write_all(json.as_bytes())?;
        self.out.write_all(rest.as_bytes())?;
        Ok(())
    }
}

fn as_int(v: &SqlValue) -> Option<i64> {
    match v {
        SqlValue::Integer(i) => Some(*i),
        _ => None,
    }
}

/// JSON that cannot end its script element nor open a comment: `<`, `>`
/// and `&` occur only inside JSON strings, where `\u003c` means the same.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_self_contained_and_escapes_script_ends() {
        let mut l = TimelineLine::blank(Source::Event, "2026-11-20T09:30:00.000000Z");
        l.message = SqlValue::Text("</script><img src=x onerror=alert(1)><!--".into());
        l.object = "Pod/a/<b>".into();
        let mut out = Vec::new();
        let mut html = Box::new(Html::new(&mut out, "t <1>".into(), None));
        html.line(&l).unwrap();
        html.finish().unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(!page.contains("</script><img"));
        assert!(!page.contains("<img"));
        assert!(!page.contains("<b>"));
        assert!(!page.contains("<!--"));
        assert!(page.contains("t &lt;1&gt;"));
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(!HTML_TEMPLATE.contains("src="), "nothing loaded");
        let json = page
            .split_once("type=\"application/json\">")
            .unwrap()
            .1
            .split_once("</script>")
            .unwrap()
            .0;
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["total"], 1);
        assert!(v["strings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().contains("</script><img")));
    }
}
