//! One export: the selection's rows streamed from the store into a format,
//! counted, with a callback per record for a progress bar.

use super::filter::Selection;
use super::record::Record;
use super::writer::ExportWriter;
use crate::store::timeline::Timeline;

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub events: u64,
    pub audit_entries: u64,
}

/// Streams every selected line into `writer` and finishes it; `progress`
/// is called with the number of records written so far.
pub fn export(
    timeline: &Timeline<'_>,
    selection: &Selection,
    mut writer: Box<dyn ExportWriter + '_>,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<ExportSummary> {
    let mut summary = ExportSummary::default();
    if let Some(query) = &selection.query {
        let columns = writer.columns();
        timeline.for_each_export_row(query, columns, |row| {
            let record = Record::from_row(row)?;
            match record {
                Record::Event(_) => summary.events += 1,
                Record::Audit(_) => summary.audit_entries += 1,
            }
            writer.record(&record)?;
            progress(summary.events + summary.audit_entries);
            Ok::<_, anyhow::Error>(())
        })?;
    }
    writer.finish()?;
    Ok(summary)
}
