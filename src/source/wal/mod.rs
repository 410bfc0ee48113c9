//! Read-only reader of etcd 3.4's write-ahead log (`member/wal/*.wal`):
//! every write proposal of the last segments, long after compaction
//! removed it from the bbolt file.
//!
//! [`WalReader`] streams the segments in sequence order as [`WalItem`]s:
//! entries (index, term, the proposed [`Request`] typed), hard states,
//! snapshot markers, metadata, and the [`Damage`] and [`TornTail`] found on
//! the way, each naming the file and offset. It verifies the CRC-32C chain
//! across records and segments, hashes every segment (SHA-256) as it reads
//! it, holds one frame in memory at a time, and never panics on any bytes.
//! [`Settle`] applies raft's rule that a rewritten index replaces the tail
//! after it, releasing entries once a commit index makes them final. The
//! [`WalSummary`] says what was read.
//!
//! The on-disk format, with the etcd source of each fact, is in
//! [`layout`]. The files, bottom up: `name` (segment names), `listing`
//! (the directory), `segment` (opening one), `frame` (length words,
//! frames, hashing), `ops`, `txn`, `request` and `entry` (what records
//! hold), `damage`, `item` and `summary` (what the reader reports),
//! `reader` (the stream and the CRC chain), `read_ahead` (the stream on a
//! thread of its own), `commit` (raft's log rule),
//! `builder` (writes WAL bytes for tests), `survey` (what a WAL holds, for
//! `info`), `replay` (what the proposals did, and at which revision).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use evforensics::source::wal::{Settle, SettleLimits, SettledItem, WalReader};
//! let reader = WalReader::open("member/wal".as_ref())?;
//! let mut settled = Settle::new(reader, SettleLimits::default());
//! for item in settled.by_ref() {
//!     if let SettledItem::Entry(e) = item {
//!         println!("{} {:?} {:?}", e.record.entry.index, e.status, e.record.entry.payload);
//!     }
//! }
//! let summary = settled.into_inner().finish();
//! eprintln!("{} damage", summary.damage_count);
//! # Ok(()) }
//! ```

pub mod builder;
mod commit;
mod damage;
mod entry;
mod error;
mod frame;
mod item;
pub mod layout;
mod listing;
mod name;
mod ops;
mod read_ahead;
mod reader;
pub mod replay;
mod request;
mod segment;
mod summary;
mod survey;
mod txn;

#[cfg(test)]
mod tests;

pub use commit::{
    EntryStatus, Settle, SettleLimits, SettleStats, SettledEntry, SettledItem, Uncommitted,
};
pub use damage::{Damage, DamageReason, TornKind, TornTail};
pub use entry::{
    ConfChange, ConfChangeSingle, ConfChangeType, ConfChangeV2, Entry, HardState, Metadata,
    Payload, SnapshotMarker, Unreadable,
};
pub use error::WalError;
pub use item::{EntryRecord, Location, MetadataRecord, SnapshotRecord, StateRecord, WalItem};
pub use listing::{list_segments, WalDirectory, WalSource};
pub use name::SegmentName;
pub use ops::{DeleteRange, Put, Range};
pub use read_ahead::read_ahead;
pub use reader::WalReader;
pub use request::{
    Alarm, Checkpoint, Compaction, LeaseCheckpoint, LeaseGrant, LeaseRevoke, NotARequest,
    OtherRequest, Proposal, Request, V2Request,
};
pub use segment::{Segment, READ_BUFFER_BYTES};
pub use summary::{
    CrcStart, EntryCounts, FileEnd, FileSummary, RecordCounts, WalSummary, MAX_DAMAGE_KEPT,
};
pub use survey::{survey_wal, EventWrites, ProposalCounts, UnreadableEntry, WalSurvey};
pub use txn::{Compare, CompareResult, CompareTarget, CompareValue, RequestOp, Txn, MAX_TXN_DEPTH};
