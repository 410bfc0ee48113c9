//! Inputs: recognizing a file ([`input`]), the bbolt pages ([`bolt`]),
//! etcd's MVCC layer on top ([`mvcc`]), records left in free pages
//! ([`free_pages`]), an etcd file read for a load ([`snapshot`]), a survey
//! for `info` ([`survey`]), a running etcd read through its API ([`live`],
//! with what its history read holds back in [`live::held`]), Kubernetes
//! audit logs ([`audit`]), etcd's write-ahead log ([`wal`]), and where
//! Kubernetes keeps objects ([`registry`]). A reader hands what it reads to a [`RecordSink`].
pub mod audit;
pub mod bolt;
pub mod free_pages;
pub mod input;
pub mod live;
pub mod mvcc;
pub mod registry;
mod sink;
pub mod snap_copies;
pub mod snapshot;
pub mod survey;
pub mod wal;

pub use sink::RecordSink;
