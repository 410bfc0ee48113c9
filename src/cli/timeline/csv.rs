//! RFC 4180 CSV: a header row of the column names, then one record a line
//! (NULL is an empty field; text that starts like a spreadsheet formula
//! gets a leading `'`, see [`csv_text_cell`]).

use std::io::Write;

use rusqlite::types::ValueRef;

use super::line::{text, LineWriter};
use crate::helpers::csv_text_cell;
use crate::store::timeline::{TimelineLine, COLUMNS};

pub struct Csv<W: Write> {
    out: ::csv::Writer<W>,
    header_written: bool,
}

impl<W: Write> Csv<W> {
    pub fn new(out: W) -> Csv<W> {
        Csv {
            out: ::csv::Writer::from_writer(out),
            header_written: false,
        }
    }

    /// Written with the first line, or at the end: nothing is written
    /// when the query fails.
    fn header(&mut self) -> anyhow::Result<()> {
        if !self.header_written {
            self.out.write_record(COLUMNS)?;
            self.header_written = true;
        }
        Ok(())
    }
}

impl<W: Write> LineWriter for Csv<W> {
    fn line(&mut self, l: &TimelineLine) -> anyhow::Result<()> {
        self.header()?;
        self.out
            .write_record(l.fields().into_iter().map(|(_, v)| match v {
                ValueRef::Text(_) => csv_text_cell(text(v)),
                _ => text(v),
            }))?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.header()?;
        self.out.flush()?;
        Ok(())
    }
}
