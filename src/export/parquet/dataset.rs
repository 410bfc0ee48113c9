//! The export of a case database as Parquet: each table's rows streamed
//! from the store in time order, cut into batches and into one partition
//! per day, written under `DIR/<table>/` by a second thread. Memory is
//! bounded by a few batches and one row group, whatever the case's size.

use std::path::PathBuf;
use std::sync::mpsc;

use arrow_array::RecordBatch;

use super::batch::BatchBuilder;
use super::error::ParquetError;
use super::provenance::{case_id, key_values};
use super::schema::schema;
use super::writer::PartitionedWriter;
use crate::decode::parse_micros;
use crate::store::export_parquet::{Cell, ExportTable};
use crate::store::Store;

/// Rows per record batch handed to the Parquet writer.
const BATCH_ROWS: usize = 1024;

/// What to export where.
#[derive(Debug, Clone)]
pub struct ParquetOptions {
    /// The dataset's directory (`DIR`): created if missing; what it holds
    /// is kept.
    pub out: PathBuf,
    /// The partition value `cluster=<name>` (see
    /// [`super::valid_cluster_name`]).
    pub cluster: String,
}

/// What one table's export wrote.
#[derive(Debug, Clone)]
pub struct TableSummary {
    pub table: &'static str,
    pub rows: u64,
    /// Partitions (days) the rows went to.
    pub partitions: usize,
    /// The files written, in order.
    pub files: Vec<PathBuf>,
    /// Times no Parquet timestamp can hold, written as NULL.
    pub unrepresentable_times: u64,
}

/// What the export wrote.
#[derive(Debug, Clone)]
pub struct ParquetSummary {
    /// The case id in the files' names (`part-<case>-<n>.parquet`).
    pub case: String,
    pub cluster: String,
    pub tables: Vec<TableSummary>,
}

/// The day a row belongs to, from its time's text: `YYYY-MM-DD` for a time
/// of a four-digit year (the text is RFC 3339 in UTC, so its date is its
/// first ten characters), `None` (Hive's NULL partition) otherwise.
fn partition_date(time: Option<&str>) -> Option<&str> {
    let t = time?;
    parse_micros(t)?;
    (t.as_bytes().get(4) == Some(&b'-')).then(|| &t[..10])
}

/// The order SQL promised, checked row by row: the time's text in
/// ascending byte order, NULL first, as SQLite sorts it.
#[derive(Default)]
struct OrderCheck {
    /// The previous row's time (`None`: NULL or no row yet).
    previous: Option<String>,
}

impl OrderCheck {
    /// Takes the next row's time; the previous one when it is later.
    fn next(&mut self, time: Option<&str>) -> Result<(), String> {
        match (&mut self.previous, time) {
            (None, None) => {}
            (None, Some(t)) => self.previous = Some(t.to_string()),
            (Some(p), None) => return Err(p.clone()),
            (Some(p), Some(t)) if p.as_str() > t => return Err(p.clone()),
            (Some(p), Some(t)) => {
                if p != t {
                    p.clear();
                    p.push_str(t);
                }
            }
        }
        Ok(())
    }
}

/// Exports every table of `store` under `options.out`.
pub fn export(store: &Store, options: &ParquetOptions) -> Result<ParquetSummary, ParquetError> {
    let provenance = store.export_provenance()?;
    let case = case_id(&provenance);
    // Every table's directory is checked before anything is written.
    let mut writers = Vec::new();
    for table in ExportTable::ALL {
        let kv = key_values(
            &provenance,
            table,
            &options.cluster,
            &case,
            table.sort_order(),
        );
        let dir = options.out.join(table.name());
        let writer = PartitionedWriter::new(
            &dir,
            &options.cluster,
            &case,
            schema(table),
            kv,
            table.time_index(),
        )?;
        writers.push((table, writer));
    }
    let mut tables = Vec::new();
    for (table, writer) in writers {
        tables.push(export_table(store, table, writer)?);
    }
    Ok(ParquetSummary {
        case,
        cluster: options.cluster.clone(),
        tables,
    })
}

/// What the reading side hands the writing thread, in row order.
enum Step {
    /// Rows from now on belong to this day (`None`: no time).
    Partition(Option<String>),
    Batch(RecordBatch),
}

/// Batches handed over but not yet written: what the reading side may run
/// ahead of the writer (memory: this many batches).
const BATCHES_AHEAD: usize = 4;

/// One table: the store's rows read and batched on this thread, encoded,
/// compressed and written on another (the two halves of the work take
/// about as long, so the two cores of a small machine share it).
fn export_table(
    store: &Store,
    table: ExportTable,
    writer: PartitionedWriter,
) -> Result<TableSummary, ParquetError> {
    std::thread::scope(|scope| {
        let (steps, received) = mpsc::sync_channel::<Step>(BATCHES_AHEAD);
        let encoder = scope.spawn(move || -> Result<PartitionedWriter, ParquetError> {
            let mut writer = writer;
            for step in received {
                match step {
                    Step::Partition(date) => writer.partition(date.as_deref())?,
                    Step::Batch(batch) => writer.write(&batch)?,
                }
            }
            writer.close()?;
            Ok(writer)
        });
        let read = read_table(store, table, &steps);
        drop(steps);
        let written = encoder.join().expect("the Parquet writer thread panicked");
        // The writer's error first: the reader's failed hand-over follows it.
        let mut writer = written?;
        let (rows, unrepresentable_times) = read?;
        Ok(TableSummary {
            table: table.name(),
            rows,
            partitions: writer.partitions,
            files: std::mem::take(&mut writer.files),
            unrepresentable_times,
        })
    })
}

/// Reads `table`'s rows into batches handed to `steps`; the rows read and
/// the times no Parquet timestamp holds.
fn read_table(
    store: &Store,
    table: ExportTable,
    steps: &mpsc::SyncSender<Step>,
) -> Result<(u64, u64), ParquetError> {
    let send = |step| steps.send(step).map_err(|_| ParquetError::WriterStopped);
    let mut batch = BatchBuilder::new(table, schema(table));
    let time_index = table.time_index();
    let mut order = OrderCheck::default();
    let mut current_date: Option<Option<String>> = None;
    let rows = store.export_rows(table, |row| -> Result<(), ParquetError> {
        let time = match row.cell(time_index)? {
            Cell::Text(t) => Some(t),
            _ => None,
        };
        if let Err(previous) = order.next(time) {
            let id = match row.cell(0)? {
                Cell::Integer(id) => id,
                _ => 0,
            };
            return Err(ParquetError::OutOfOrder {
                table: table.name(),
                id,
                previous,
                time: time.unwrap_or("NULL").to_string(),
            });
        }
        let date = partition_date(time);
        if current_date.as_ref().map(|d| d.as_deref()) != Some(date) {
            if batch.len() > 0 {
                send(Step::Batch(batch.finish()?))?;
            }
            send(Step::Partition(date.map(str::to_string)))?;
            current_date = Some(date.map(str::to_string));
        }
        batch.push(row)?;
        if batch.len() >= BATCH_ROWS {
            send(Step::Batch(batch.finish()?))?;
        }
        Ok(())
    })?;
    if batch.len() > 0 {
        send(Step::Batch(batch.finish()?))?;
    }
    Ok((rows, batch.unrepresentable_times))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dates() {
        assert_eq!(
            partition_date(Some("2024-03-14T09:12:00.000000Z")),
            Some("2024-03-14")
        );
        assert_eq!(
            partition_date(Some("2024-03-14T09:12:00Z")),
            Some("2024-03-14")
        );
        assert_eq!(partition_date(None), None);
        assert_eq!(partition_date(Some("10000-01-01T00:00:00Z")), None);
        assert_eq!(partition_date(Some("not a time")), None);
    }

    #[test]
    fn order_check() {
        let mut o = OrderCheck::default();
        for t in [
            None,
            None,
            Some("2024-01-01"),
            Some("2024-01-01"),
            Some("2024-01-02"),
        ] {
            assert_eq!(o.next(t), Ok(()));
        }
        assert_eq!(o.next(Some("2024-01-01")), Err("2024-01-02".into()));
        assert_eq!(o.next(None), Err("2024-01-02".into()));
    }
}
