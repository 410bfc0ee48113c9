//! Aligned columns for a terminal: time, source, object, what happened,
//! details. The widths need every line, so the lines are kept until the end.

use std::io::Write;

use super::line::{detail, time, what, LineWriter};
use crate::store::timeline::TimelineLine;

pub struct Text<W: Write> {
    out: W,
    rows: Vec<[String; 5]>,
}

impl<W: Write> Text<W> {
    pub fn new(out: W) -> Text<W> {
        Text {
            out,
            rows: Vec::new(),
        }
    }
}

impl<W: Write> LineWriter for Text<W> {
    fn line(&mut self, l: &TimelineLine) -> anyhow::Result<()> {
        self.rows.push([
            time(l),
            l.source.as_str().to_string(),
            l.object.clone(),
            what(l),
            detail(l),
        ]);
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        let header = ["TIME", "SOURCE", "OBJECT", "WHAT", "DETAILS"].map(String::from);
        let mut widths = [0usize; 4];
        for r in std::iter::once(&header).chain(self.rows.iter()) {
            for (w, c) in widths.iter_mut().zip(r.iter()) {
                *w = (*w).max(c.chars().count());
            }
        }
        for r in std::iter::once(&header).chain(self.rows.iter()) {
            let mut s = String::new();
            for (w, c) in widths.iter().zip(r.iter()) {
                s.push_str(c);
                s.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
            s.push_str(&r[4]);
            writeln!(self.out, "{}", s.trim_end())?;
        }
        if self.rows.is_empty() {
            writeln!(self.out, "(no lines)")?;
        }
        Ok(())
    }
}
