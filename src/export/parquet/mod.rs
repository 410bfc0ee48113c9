//! The `parquet` format: a Hive-partitioned dataset per table
//! (`DIR/events/`, `DIR/audit_events/`, `DIR/objects/`, each
//! `cluster=<name>/date=<YYYY-MM-DD>/part-<case>-<n>.parquet`), typed
//! columns (schema.rs), rows batched into Arrow record batches (batch.rs),
//! files written beside what the directory holds, never over it
//! (writer.rs), the provenance in every file's key-value metadata
//! (provenance.rs), the run over the tables (dataset.rs), and what can go
//! wrong (error.rs).

mod batch;
mod dataset;
mod error;
mod provenance;
mod schema;
mod writer;

pub use dataset::{export, ParquetOptions, ParquetSummary, TableSummary};
pub use error::ParquetError;
pub use writer::valid_cluster_name;
