//! One export: the selection's rows streamed from the store into a format,
//! counted, with a callback per record for a progress bar.
//!
//! Two threads share the work, as two cores are there: this one steps the
//! SQLite statement and makes records, the format's writer serializes them
//! on another, batches of records passing between them through a bounded
//! channel (memory stays bounded: at most a few batches are in flight).

use std::sync::mpsc;

use super::filter::Selection;
use super::record::Record;
use super::writer::ExportWriter;
use crate::store::timeline::Timeline;

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub events: u64,
    pub audit_entries: u64,
    /// Lines left out: they have no time to place them at.
    pub untimed: u64,
}

/// Records per batch handed to the writer's thread.
const BATCH: usize = 512;
/// Batches in flight.
const IN_FLIGHT: usize = 4;

/// Streams every selected line into `writer` and finishes it; `progress`
/// is called with the number of records read so far.
pub fn export(
    timeline: &Timeline<'_>,
    selection: &Selection,
    writer: Box<dyn ExportWriter + Send + '_>,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<ExportSummary> {
    let mut summary = ExportSummary::default();
    let columns = writer.columns();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Vec<Record>>(IN_FLIGHT);
        let written = scope.spawn(move || -> anyhow::Result<()> {
            let mut writer = writer;
            for batch in rx {
                for record in &batch {
                    writer.record(record)?;
                }
            }
            writer.finish()
        });
        let read = (|| -> anyhow::Result<()> {
            let Some(query) = &selection.query else {
                return Ok(());
            };
            let mut batch = Vec::with_capacity(BATCH);
            timeline.for_each_export_row(query, columns, |row| {
                let Some(record) = Record::from_row(row)? else {
                    summary.untimed += 1;
                    return Ok(());
                };
                match record {
                    Record::Event(_) => summary.events += 1,
                    Record::Audit(_) => summary.audit_entries += 1,
                }
                batch.push(record);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    // A closed channel: the writer failed; its error is
                    // the one to report, below.
                    if tx.send(full).is_err() {
                        return Err(anyhow::anyhow!("the writer stopped"));
                    }
                }
                progress(summary.events + summary.audit_entries);
                Ok::<_, anyhow::Error>(())
            })?;
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            Ok(())
        })();
        drop(tx);
        let written = written.join().expect("the writer thread does not panic");
        written?;
        read
    })?;
    Ok(summary)
}
