//! What the reader yields, in file order: records with the place they were
//! read from, and the damage and torn tail found on the way.

use super::damage::{Damage, TornTail};
use super::entry::{Entry, HardState, Metadata, SnapshotMarker};

/// Where a record was read: the segment (its position in
/// [`WalSummary::files`](super::WalSummary::files)) and the offset of its
/// frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Position of the segment in the reader's files.
    pub file: usize,
    /// Byte offset of the frame's length word.
    pub offset: u64,
}

/// A raft entry and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRecord {
    /// Its frame.
    pub at: Location,
    /// The entry.
    pub entry: Entry,
}

/// A hard state and where it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateRecord {
    /// Its frame.
    pub at: Location,
    /// The state.
    pub state: HardState,
}

/// A snapshot marker and where it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotRecord {
    /// Its frame.
    pub at: Location,
    /// The marker.
    pub snapshot: SnapshotMarker,
}

/// Member metadata and where it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataRecord {
    /// Its frame.
    pub at: Location,
    /// The metadata.
    pub metadata: Metadata,
}

/// One item of the stream. CRC records are checked and counted, not
/// yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalItem {
    /// A metadata record.
    Metadata(MetadataRecord),
    /// An entry record.
    Entry(EntryRecord),
    /// A state record.
    HardState(StateRecord),
    /// A snapshot record.
    Snapshot(SnapshotRecord),
    /// The last segment ends in an unfinished write.
    TornTail(TornTail),
    /// Something was wrong.
    Damage(Damage),
}
