//! Aligned columns for a terminal: time, source, object, what happened,
//! details. The widths need every line: they are measured in a first pass
//! over the query ([`Widths`]), and the lines printed as they come in a
//! second, so that memory does not grow with the case.

use std::io::Write;

use super::line::{detail, time, what, LineWriter};
use crate::store::timeline::TimelineLine;

const HEADER: [&str; 5] = ["TIME", "SOURCE", "OBJECT", "WHAT", "DETAILS"];

/// The cells of a line, in [`HEADER`]'s order.
fn cells(l: &TimelineLine) -> [String; 5] {
    [
        time(l),
        l.source.as_str().to_string(),
        l.object.clone(),
        what(l),
        detail(l),
    ]
}

/// The width of each column but the last, over the header and the lines
/// measured.
#[derive(Debug, Clone, Copy)]
pub struct Widths([usize; 4]);

impl Default for Widths {
    fn default() -> Widths {
        let mut w = [0; 4];
        for (w, c) in w.iter_mut().zip(HEADER) {
            *w = c.chars().count();
        }
        Widths(w)
    }
}

impl Widths {
    pub fn measure(&mut self, l: &TimelineLine) {
        for (w, c) in self.0.iter_mut().zip(cells(l).iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
}

pub struct Text<W: Write> {
    out: W,
    widths: Widths,
    header_written: bool,
}

impl<W: Write> Text<W> {
    /// Prints lines in columns of `widths` (measured over the same lines).
    pub fn new(out: W, widths: Widths) -> Text<W> {
        Text {
            out,
            widths,
            header_written: false,
        }
    }

    fn row<S: AsRef<str>>(&mut self, r: &[S; 5]) -> anyhow::Result<()> {
        let mut s = String::new();
        for (w, c) in self.widths.0.iter().zip(r.iter()) {
            let c = c.as_ref();
            s.push_str(c);
            // A line the first pass did not see (the database changed
            // between the passes) is printed unaligned, not cut.
            s.push_str(&" ".repeat(w.saturating_sub(c.chars().count()) + 2));
        }
        s.push_str(r[4].as_ref());
        writeln!(self.out, "{}", s.trim_end())?;
        Ok(())
    }

    fn header(&mut self) -> anyhow::Result<()> {
        if !self.header_written {
            self.header_written = true;
            self.row(&HEADER)?;
        }
        Ok(())
    }
}

impl<W: Write> LineWriter for Text<W> {
    fn line(&mut self, l: &TimelineLine) -> anyhow::Result<()> {
        self.header()?;
        self.row(&cells(l))
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        if !self.header_written {
            self.header()?;
            writeln!(self.out, "(no lines)")?;
        }
        Ok(())
    }
}
