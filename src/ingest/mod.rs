//! Loading sources into the database: each input's loader chosen by its
//! content ([`inputs`]), an etcd file ([`snapshot`]), a running etcd
//! ([`live`]) or an audit log ([`audit`]), joined to the store by one
//! pipeline ([`pipeline`]) that decodes in parallel and writes on one
//! thread. Before a first load, a pass over the source gathers each key's
//! history ([`history`]), so that rows are written once with `live` and
//! `deleted_revision` known.

pub mod audit;
mod error;
pub mod history;
pub mod inputs;
pub mod live;
mod outcome;
pub mod pipeline;
mod plan;
mod rows;
pub mod snapshot;
pub mod wal;

pub use audit::{ingest_audit_file, AUDIT_SOURCE_KIND};
pub use error::IngestError;
pub use inputs::{ingest_files, DirectoryListing, IngestReport, Totals};
pub use live::ingest_live;
pub use outcome::{AlreadyLoaded, AuditLoaded, AuditOutcome, LoadedSource, SourceOutcome};
pub use pipeline::{load_source, try_load_source, Loading, RevisionSink, SourceLoad};
pub use plan::{IngestOptions, IngestPlan, Inputs};
pub use snapshot::ingest_source;
pub use wal::{ingest_wal, WAL_SOURCE_KIND};
