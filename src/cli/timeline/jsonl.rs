//! One JSON object a line, the fields in column order (NULL is null).

use std::io::Write;

use super::line::{line_json, LineWriter};
use crate::store::timeline::TimelineLine;

pub struct Jsonl<W: Write> {
    out: W,
}

impl<W: Write> Jsonl<W> {
    pub fn new(out: W) -> Jsonl<W> {
        Jsonl { out }
    }
}

impl<W: Write> LineWriter for Jsonl<W> {
    fn line(&mut self, l: &TimelineLine) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, &line_json(l))?;
        writeln!(self.out)?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        Ok(())
    }
}
