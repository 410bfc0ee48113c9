//! One self-contained HTML page: the lines embedded as JSON, drawn by the
//! page's inline script into SVG (a lane per object, marks on a time
//! axis), no external resources. The page needs every line, so they are
//! kept until the end.

use std::io::Write;

use serde_json::Value;

use super::line::{detail, line_json, micros, time, what, LineWriter};
use crate::store::timeline::TimelineLine;

const HTML_TEMPLATE: &str = include_str!("timeline.html");

pub struct Html<W: Write> {
    out: W,
    title: String,
    data: Vec<Value>,
}

impl<W: Write> Html<W> {
    pub fn new(out: W, title: String) -> Html<W> {
        Html {
            out,
            title,
            data: Vec::new(),
        }
    }
}

impl<W: Write> LineWriter for Html<W> {
    fn line(&mut self, l: &TimelineLine) -> anyhow::Result<()> {
        let mut m = line_json(l);
        m.insert("what".into(), Value::String(what(l)));
        m.insert("detail".into(), Value::String(detail(l)));
        m.insert(
            "t".into(),
            micros(&time(l)).map_or(Value::Null, Value::from),
        );
        self.data.push(Value::Object(m));
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.out
            .write_all(page(&self.data, &self.title).as_bytes())?;
        Ok(())
    }
}

fn page(data: &[Value], title: &str) -> String {
    // `</` would end the script element early.
    let json = serde_json::to_string(data)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::timeline::Source;

    #[test]
    fn html_is_self_contained_and_escapes_script_ends() {
        let mut l = TimelineLine::blank(Source::Event, "2026-11-20T09:30:00.000000Z");
        l.message = rusqlite::types::Value::Text("</script><b>x".into());
        let mut out = Vec::new();
        let mut html = Box::new(Html::new(&mut out, "t <1>".into()));
        html.line(&l).unwrap();
        html.finish().unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(!page.contains("</script><b>"));
        assert!(page.contains("t &lt;1&gt;"));
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(!page.contains("src="));
    }
}
