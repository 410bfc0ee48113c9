//! What a read found, for the `sources` record and `info`: each segment
//! with its size and SHA-256 and how its reading ended, records per type,
//! entries per kind, and the damage.

use std::path::PathBuf;

use super::damage::{Damage, TornTail};
use super::entry::{HardState, Metadata, SnapshotMarker};
use super::name::SegmentName;

/// Damage records kept in [`WalSummary::damage`]; all are counted.
pub const MAX_DAMAGE_KEPT: usize = 100;

/// The whole read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WalSummary {
    /// The WAL directory, when the reader listed one.
    pub dir: Option<PathBuf>,
    /// The segments in the order read.
    pub files: Vec<FileSummary>,
    /// `*.tmp` files beside them (preallocated, not read).
    pub preallocated: Vec<PathBuf>,
    /// Other files beside them (not read).
    pub ignored: Vec<PathBuf>,
    /// Records read, per type.
    pub records: RecordCounts,
    /// Entries read, per kind.
    pub entries: EntryCounts,
    /// Damage found.
    pub damage_count: u64,
    /// The first [`MAX_DAMAGE_KEPT`] of it.
    pub damage: Vec<Damage>,
    /// The torn tail of the last segment, if any.
    pub torn_tail: Option<TornTail>,
    /// The first metadata record.
    pub metadata: Option<Metadata>,
    /// The last hard state read.
    pub last_hard_state: Option<HardState>,
    /// The last snapshot marker read.
    pub last_snapshot: Option<SnapshotMarker>,
    /// Lowest entry index read.
    pub first_index: Option<u64>,
    /// Highest entry index read.
    pub last_index: Option<u64>,
}

impl WalSummary {
    /// No damage (a torn tail is not damage).
    pub fn is_undamaged(&self) -> bool {
        self.damage_count == 0
    }
}

/// One segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    /// The file.
    pub path: PathBuf,
    /// What its name says.
    pub name: SegmentName,
    /// Its size when opened (0 if it was not).
    pub size: u64,
    /// SHA-256 (lower-case hex) of all of its bytes; `None` when not every
    /// byte could be read, or the reader was told not to hash.
    pub sha256: Option<String>,
    /// Bytes read (through the hash, when there is one).
    pub hashed_bytes: u64,
    /// Records read whole (CRC records included).
    pub records: u64,
    /// Offset after the last record read whole.
    pub data_end: u64,
    /// How its CRC chain began.
    pub crc_start: CrcStart,
    /// How reading it ended.
    pub end: FileEnd,
}

/// How a segment's CRC chain began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcStart {
    /// Not read (yet).
    NotRead,
    /// Its crc record carries the running CRC of the segments before.
    Verified,
    /// Its crc record was taken as is: the running CRC was 0 (the first
    /// segment read) or unknown (after damage, a gap or a segment that could
    /// not be read).
    Adopted,
    /// Its crc record disagrees with the segments before (damage reported);
    /// its own chain was followed.
    Broken,
    /// It does not start with a crc record (its first record was checked
    /// against the running CRC, when known).
    NoCrcRecord,
    /// It has no records.
    Empty,
}

/// How reading a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileEnd {
    /// Not read (yet).
    NotRead,
    /// The file ends after its last frame.
    EndOfFile,
    /// A zero length word ends the data (preallocated space follows).
    EndOfData,
    /// The last segment ends in an unfinished write.
    TornTail,
    /// Damage ended it (the damage names the offset).
    Damage,
    /// It could not be opened.
    Unopenable,
}

/// Records read whole, per type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordCounts {
    /// Type 1.
    pub metadata: u64,
    /// Type 2.
    pub entry: u64,
    /// Type 3.
    pub state: u64,
    /// Type 4.
    pub crc: u64,
    /// Type 5.
    pub snapshot: u64,
    /// Any other type.
    pub unknown: u64,
}

/// Entries, per what they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryCounts {
    /// Normal entries with a typed v3 request (put, delete range, txn,
    /// compaction, lease grant, revoke and checkpoint).
    pub proposals: u64,
    /// Normal entries with an etcd v2 request (whole-entry or embedded).
    pub v2_requests: u64,
    /// Normal entries with another recognized request (range, alarm, auth,
    /// none set).
    pub other_requests: u64,
    /// Normal entries without data (leader no-ops).
    pub leader_noops: u64,
    /// Conf changes (v1 and v2).
    pub conf_changes: u64,
    /// Entries whose data could not be read.
    pub unreadable: u64,
    /// Nested transaction operations cut at
    /// [`MAX_TXN_DEPTH`](super::MAX_TXN_DEPTH).
    pub txn_ops_cut: u64,
}
