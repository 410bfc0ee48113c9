//! SQLite output: the schema (`schema/*.sql`, [`schema`]) and its migration
//! ladder, the database file and one source's transaction, the row types
//! handed in from above ([`rows`]), and the writers of etcd sources
//! ([`writer`]) and audit logs ([`audit`]).
//!
//! One source is loaded in one transaction: a failed or interrupted run
//! rolls back and leaves what earlier runs loaded untouched; a new database
//! appears under its name only once its first source is in.

pub mod audit;
mod database;
mod error;
pub mod export;
pub mod export_parquet;
mod fates;
mod liveness;
mod migrate;
pub mod rows;
pub mod schema;
mod sources;
mod sql;
mod text_index;
pub mod timeline;
mod timeline_context;
pub mod writer;

#[cfg(test)]
mod test_rows;

pub use audit::AuditWriter;
pub use database::Store;
pub use error::StoreError;
pub use rows::{
    AuditRow, AuditSummary, Batch, DamageRow, DeletionCause, DeletionRow, EventFateCounts,
    EventRow, Fate, LeaseRow, LoadPlan, LoadSummary, ObjectRow, RecoveredFrom, RevisionBasis,
    RowFates, SourceFacts, SourceFileRow, SourceRecord, UnresolvedWrite, WalConfirmation,
    WalOrigin, WalReplayRow,
};
pub use schema::SCHEMA_VERSION;
pub use timeline::{ObjectSpec, Timeline, TimelineError, TimelineLine, TimelineQuery};
pub use timeline_context::{Horizon, ObjectLife};
pub use writer::SourceWriter;
