//! Export: the case's Event revisions and audit entries, selected by the
//! timeline's filters, written in the shapes of the systems responders
//! already run — Elasticsearch `_bulk` (Metricbeat's `kubernetes.event`),
//! OTLP/JSON logs (the Collector's `k8s_events` receiver) and traces, and
//! the JSON file the Jaeger UI opens — and as a Hive-partitioned Parquet
//! dataset for data lakes ([`parquet`]: every table, not the timeline's
//! lines).
//!
//! Layering: `cli → export → store`. The store streams typed rows
//! ([`crate::store::export`]); [`record`] makes them exported records with
//! their provenance; each format is an [`ExportWriter`] in a file of its own.

mod es_bulk;
mod filter;
mod jaeger;
mod otlp;
mod otlp_logs;
mod otlp_traces;
mod owners;
pub mod parquet;
mod record;
mod run;
mod spans;
mod writer;

pub use es_bulk::EsBulk;
pub use filter::Selection;
pub use jaeger::Jaeger;
pub use otlp_logs::OtlpLogs;
pub use otlp_traces::OtlpTraces;
pub use owners::Owners;
pub use record::{Provenance, Record};
pub use run::{export, ExportSummary};
pub use writer::{ExportOptions, ExportWriter};
