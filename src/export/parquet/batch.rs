//! Rows into Arrow record batches: one builder per column, typed as the
//! dataset's schema says; a time's RFC 3339 text becomes microseconds.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BinaryBuilder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;

use super::error::ParquetError;
use crate::decode::parse_micros;
use crate::store::export_parquet::{Cell, ColumnKind, ExportRow, ExportTable};

enum Column {
    Integer(Int64Builder),
    Text(StringBuilder),
    Time(TimestampMicrosecondBuilder),
    Blob(BinaryBuilder),
}

/// The rows of one batch, column by column.
pub struct BatchBuilder {
    table: ExportTable,
    schema: SchemaRef,
    columns: Vec<Column>,
    rows: usize,
    /// Times whose text is no time Parquet can hold (a hostile year beyond
    /// ±292,000): written as NULL, counted; the database keeps the text.
    pub unrepresentable_times: u64,
}

fn cell_name(cell: &Cell<'_>) -> &'static str {
    match cell {
        Cell::Null => "NULL",
        Cell::Integer(_) => "an integer",
        Cell::Text(_) => "text",
        Cell::Blob(_) => "bytes",
    }
}

impl BatchBuilder {
    pub fn new(table: ExportTable, schema: SchemaRef) -> BatchBuilder {
        let columns = table
            .columns()
            .iter()
            .map(|c| match c.kind {
                ColumnKind::Integer => Column::Integer(Int64Builder::new()),
                ColumnKind::Text | ColumnKind::Json => Column::Text(StringBuilder::new()),
                ColumnKind::Time => {
                    Column::Time(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
                }
                ColumnKind::Blob => Column::Blob(BinaryBuilder::new()),
            })
            .collect();
        BatchBuilder {
            table,
            schema,
            columns,
            rows: 0,
            unrepresentable_times: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    /// Appends one row.
    pub fn push(&mut self, row: &ExportRow<'_>) -> Result<(), ParquetError> {
        let mut mismatch = None;
        for (i, column) in self.columns.iter_mut().enumerate() {
            let cell = row.cell(i)?;
            let ok = match (column, cell) {
                (Column::Integer(b), Cell::Integer(n)) => {
                    b.append_value(n);
                    true
                }
                (Column::Integer(b), Cell::Null) => {
                    b.append_null();
                    true
                }
                (Column::Text(b), Cell::Text(t)) => {
                    b.append_value(t);
                    true
                }
                // Text SQLite holds that is not UTF-8 (no writer of ours
                // makes it): kept readable.
                (Column::Text(b), Cell::Blob(bytes)) => {
                    b.append_value(String::from_utf8_lossy(bytes));
                    true
                }
                (Column::Text(b), Cell::Null) => {
                    b.append_null();
                    true
                }
                (Column::Time(b), Cell::Text(t)) => {
                    let micros = parse_micros(t);
                    if micros.is_none() {
                        self.unrepresentable_times += 1;
                    }
                    b.append_option(micros);
                    true
                }
                (Column::Time(b), Cell::Null) => {
                    b.append_null();
                    true
                }
                (Column::Blob(b), Cell::Blob(bytes)) => {
                    b.append_value(bytes);
                    true
                }
                (Column::Blob(b), Cell::Text(t)) => {
                    b.append_value(t.as_bytes());
                    true
                }
                (Column::Blob(b), Cell::Null) => {
                    b.append_null();
                    true
                }
                _ => false,
            };
            if !ok {
                mismatch = Some((i, cell));
                break;
            }
        }
        if let Some((i, cell)) = mismatch {
            // The row is half appended: the export stops here.
            return Err(self.cell_type_error(row, i, cell));
        }
        self.rows += 1;
        Ok(())
    }

    fn cell_type_error(&self, row: &ExportRow<'_>, i: usize, cell: Cell<'_>) -> ParquetError {
        let column = self.table.columns()[i];
        let id = match row.cell(0) {
            Ok(Cell::Integer(id)) => id,
            _ => 0,
        };
        ParquetError::CellType {
            table: self.table.name(),
            column: column.name,
            id,
            found: cell_name(&cell),
            expected: match column.kind {
                ColumnKind::Integer => "an integer",
                ColumnKind::Text | ColumnKind::Json => "text",
                ColumnKind::Time => "a time",
                ColumnKind::Blob => "bytes",
            },
        }
    }

    /// The rows appended since the last batch, as one batch; the builder is
    /// empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, ParquetError> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    Column::Integer(b) => Arc::new(b.finish()),
                    Column::Text(b) => Arc::new(b.finish()),
                    Column::Time(b) => Arc::new(b.finish()),
                    Column::Blob(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        debug_assert!(self.columns.iter().all(|c| match c {
            Column::Integer(b) => b.is_empty(),
            Column::Text(b) => b.is_empty(),
            Column::Time(b) => b.is_empty(),
            Column::Blob(b) => b.is_empty(),
        }));
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|source| ParquetError::Arrow {
            table: self.table.name(),
            source,
        })
    }
}
