//! The batched writer of etcd sources: one transaction per source,
//! prepared statements, rows arriving in batches from the decode stage.
//!
//! [`SourceWriter`] begins and finishes a source (`source`); each kind of
//! row has its writer (`events`, `objects`, `deletions`, `leases`, `wal`), all
//! sharing one `sink`. After the rows of a source are in,
//! [`SourceWriter::finish`] derives what needs the whole history rather
//! than one revision (`store::liveness`) and the FTS index for the new
//! rows.
//!
//! When the database holds no etcd rows yet, the loader may instead bring
//! `live` (and `deleted_revision`) with each row
//! ([`LoadPlan::fates`](crate::store::LoadPlan::fates)): it knows them from
//! a first pass over the source, and every row is then written once,
//! complete.

mod deletions;
mod events;
mod indexes;
mod leases;
mod objects;
mod sink;
mod source;
mod wal;

pub use source::SourceWriter;
