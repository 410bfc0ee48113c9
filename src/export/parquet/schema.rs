//! Each dataset's Arrow schema, from the store's columns: integers as
//! INT64, times as TIMESTAMP(MICROS, UTC) (Arrow `Timestamp(Microsecond,
//! "UTC")`, which Parquet stores as INT64 with `isAdjustedToUTC = true`),
//! text and JSON as UTF-8 strings, `raw` values as bytes. Every column is
//! nullable, as in the database.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::store::export_parquet::{ColumnKind, ExportTable};

/// The Arrow type of a column of `kind`.
pub fn data_type(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::Integer => DataType::Int64,
        ColumnKind::Text | ColumnKind::Json => DataType::Utf8,
        ColumnKind::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ColumnKind::Blob => DataType::Binary,
    }
}

/// The schema of `table`'s dataset, its columns in the store's order.
pub fn schema(table: ExportTable) -> SchemaRef {
    let fields: Vec<Field> = table
        .columns()
        .iter()
        .map(|c| Field::new(c.name, data_type(c.kind), true))
        .collect();
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_typed_columns() {
        let s = schema(ExportTable::Events);
        let ty = |name: &str| s.field_with_name(name).unwrap().data_type().clone();
        assert_eq!(ty("mod_revision"), DataType::Int64);
        assert_eq!(
            ty("occurred_at"),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(ty("object"), DataType::Utf8);
        assert_eq!(ty("raw"), DataType::Binary);
        assert_eq!(ty("source_sha256"), DataType::Utf8);
    }
}
