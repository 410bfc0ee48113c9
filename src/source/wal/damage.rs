//! What was wrong with a WAL, and where: [`Damage`] (corruption, a gap, a
//! read failure) and [`TornTail`] (the last segment ends in a write that
//! never finished, which etcd itself accepts). Each names the file and the
//! byte offset, so the bytes can be looked at with `xxd -s OFFSET`.

use std::fmt;
use std::path::PathBuf;

use super::entry::Metadata;

/// One problem found while reading. Frame and CRC damage ends the reading
/// of that segment (the rest of it cannot be trusted); the next segment is
/// read from its own CRC record on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment.
    pub file: PathBuf,
    /// Byte offset in it of the frame (or of the file start).
    pub offset: u64,
    /// What was wrong.
    pub reason: DamageReason,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at offset {}: {}",
            self.file.display(),
            self.offset,
            self.reason
        )
    }
}

impl std::error::Error for Damage {}

/// What was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DamageReason {
    /// The segment's sequence number does not follow the previous one's:
    /// segments are missing (or two have the same number).
    #[error("sequence {next:#x} does not follow {previous:#x}: segments are missing")]
    SequenceGap {
        /// Sequence of the segment before.
        previous: u64,
        /// Sequence of this segment.
        next: u64,
    },

    /// The segment could not be opened.
    #[error("cannot open: {0}")]
    Unopenable(String),

    /// A read failed (or the file became shorter while it was read).
    #[error("read failed: {0}")]
    Read(String),

    /// Fewer than 8 bytes are left for a length word, in a segment that is
    /// not the last (the writer truncates a finished segment at a frame).
    #[error("file ends inside a length word ({available} of 8 bytes)")]
    TruncatedLengthWord {
        /// Bytes left.
        available: u64,
    },

    /// The length word has bits set that the writer never sets, or its
    /// record and padding are not 8-byte aligned.
    #[error("bad length word {word:#018x}")]
    BadLengthWord {
        /// The word as read (little-endian).
        word: u64,
    },

    /// The frame runs past the end of a segment that is not the last.
    #[error("frame of {body_bytes} bytes runs past the end of the file ({remaining} bytes left)")]
    FramePastEnd {
        /// Record and padding bytes the word claims.
        body_bytes: u64,
        /// Bytes left after the word.
        remaining: u64,
    },

    /// The word claims a record larger than any the reader accepts.
    #[error("record of {record_bytes} bytes is over the {cap}-byte limit")]
    FrameTooLong {
        /// Record bytes the word claims.
        record_bytes: u64,
        /// [`MAX_RECORD_BYTES`](super::layout::MAX_RECORD_BYTES).
        cap: u64,
    },

    /// The frame's bytes are not a `walpb.Record`.
    #[error("not a WAL record: {0}")]
    BadRecord(String),

    /// The record's CRC is not the running CRC-32C: the record (or one
    /// before it in this segment) was changed.
    #[error("CRC mismatch in a type {record_type} record: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The record's type.
        record_type: i64,
        /// The `crc` field.
        stored: u32,
        /// The running CRC-32C including this record's data.
        computed: u32,
    },

    /// A crc record does not carry the running CRC of the records before
    /// it: the chain between segments is broken (records or a segment are
    /// missing). Reading goes on with the chain the record starts.
    #[error("CRC record says {stored:#010x}, the records before it give {running:#010x}: the chain is broken here")]
    CrcChainBroken {
        /// The crc record's value.
        stored: u32,
        /// The running CRC-32C before it.
        running: u32,
    },

    /// The record's CRC matched but its data is not the message its type
    /// says. Reading goes on.
    #[error("type {record_type} record data does not parse: {error}")]
    BadRecordData {
        /// The record's type.
        record_type: i64,
        /// The decoder's message.
        error: String,
    },

    /// A record type etcd 3.4 does not write. Reading goes on.
    #[error("unknown record type {record_type}")]
    UnknownRecordType {
        /// The type.
        record_type: i64,
    },

    /// A metadata record names another member or cluster than the first one
    /// (etcd refuses such a WAL: `ErrMetadataConflict`). Reading goes on.
    #[error("metadata names node {:#x} of cluster {:#x}, the WAL began with node {:#x} of cluster {:#x}", found.node_id, found.cluster_id, first.node_id, first.cluster_id)]
    MetadataConflict {
        /// The first metadata of the WAL.
        first: Metadata,
        /// This one.
        found: Metadata,
    },

    /// Non-zero bytes follow the end of the data (a zero length word) in a
    /// segment that is not the last.
    #[error("non-zero bytes at offset {first_nonzero} after the end of the data")]
    DataAfterEnd {
        /// Offset of the first one.
        first_nonzero: u64,
    },
}

/// The last segment ends in an unfinished write: what etcd's reader
/// accepts as a torn tail (`io.ErrUnexpectedEOF`) and its writer zeroes on
/// the next start. Not corruption; the records before it are whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The last segment.
    pub file: PathBuf,
    /// Offset of the unfinished frame (or of the zero word).
    pub offset: u64,
    /// What was found there.
    pub kind: TornKind,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at offset {}: torn tail: {}",
            self.file.display(),
            self.offset,
            self.kind
        )
    }
}

/// What a torn tail looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TornKind {
    /// The file ends inside a length word.
    #[error("file ends inside a length word ({available} of 8 bytes)")]
    PartialLengthWord {
        /// Bytes left.
        available: u64,
    },
    /// The file ends inside a frame.
    #[error("file ends inside a frame of {body_bytes} bytes ({remaining} left)")]
    PartialFrame {
        /// Record and padding bytes the word claims.
        body_bytes: u64,
        /// Bytes left after the word.
        remaining: u64,
    },
    /// A frame that does not check out has an all-zero 512-byte sector: the
    /// write reached the disk in part (etcd's `isTornEntry`).
    #[error("frame with an all-zero sector does not check out: {problem}")]
    ZeroedSector {
        /// What did not check out (parse or CRC).
        problem: String,
    },
    /// Non-zero bytes follow the zero word that ends the data: later
    /// sectors of a write whose first sector never reached the disk.
    #[error("non-zero bytes at offset {first_nonzero} after the end of the data")]
    BytesAfterEnd {
        /// Offset of the first one.
        first_nonzero: u64,
    },
}
