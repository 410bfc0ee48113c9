//! The etcd 3.4 WAL on disk, named once: segment file names, the frame
//! around each record, the record types, the CRC chain, and the messages
//! inside. Each fact names the etcd-io/etcd file (tag `v3.4.23`) it comes
//! from; the readers and the test [`builder`](super::builder) take their
//! numbers from here.
//!
//! # Segment files — `wal/util.go`, `wal/wal.go`, `wal/file_pipeline.go`
//!
//! `member/wal/` holds segments named `%016x-%016x.wal`: a sequence number
//! and the raft index of the first entry the segment may hold
//! (`walName`, `parseWALName`). They are read in sequence order, and the
//! sequence must increase by one (`isValidSeq`); purged segments leave the
//! first remaining sequence above 0. `0.tmp` and `1.tmp` are the
//! preallocated next segments (`filePipeline`); other names are ignored
//! (`checkWalNames`). A new segment is preallocated to 64·10⁶ bytes
//! (`SegmentSizeBytes`); when the writer moves to the next segment
//! (`cut`), it truncates the finished one at its last record, so only the
//! last segment has a zero tail.
//!
//! # Frames — `wal/encoder.go`, `wal/decoder.go`
//!
//! | bytes | content |
//! |-------|---------|
//! | 0..8  | length word, little-endian u64 |
//! | 8..8+n | the `walpb.Record`, `n` = low 56 bits of the word |
//! | then `p` bytes | zero padding to 8-byte alignment |
//!
//! When bit 63 of the word is set, bits 56–58 hold `p` (`encodeFrameSize`,
//! `decodeFrameSize`); the writer always pads, so `n + p` is a multiple of
//! 8 and the length word never straddles a torn write. A zero word ends the
//! data (preallocated space). etcd's reader refuses a record of 10 MiB or
//! more (`maxWALEntrySizeLimit`); records are flushed in 4 KiB pages
//! (`walPageBytes = 8 * minSectorSize`), so a torn write leaves a frame
//! running past the end of the file or a frame with an all-zero 512-byte
//! sector (`isTornEntry`, only on the last segment).
//!
//! # Records — `wal/walpb/record.proto`, `wal/wal.go`
//!
//! `Record { int64 type = 1; uint32 crc = 2; bytes data = 3; }`. Types
//! (`metadataType` … `snapshotType`):
//!
//! | type | name | `data` |
//! |------|------|--------|
//! | 1 | metadata | `etcdserverpb.Metadata { NodeID = 1, ClusterID = 2 }` (`etcdserver/raft.go`) |
//! | 2 | entry | `raftpb.Entry { Type = 1, Term = 2, Index = 3, Data = 4 }` |
//! | 3 | state | `raftpb.HardState { term = 1, vote = 2, commit = 3 }` |
//! | 4 | crc | empty; `crc` is the running CRC where the segment starts |
//! | 5 | snapshot | `walpb.Snapshot { index = 1, term = 2 }` |
//!
//! A new WAL starts with crc(0), metadata, snapshot{0,0} (`Create`); each
//! later segment with crc(running), metadata, state (`cut`). `Save` writes
//! a batch of entries and then the hard state.
//!
//! # The CRC chain — `wal/encoder.go`, `wal/decoder.go`, `pkg/crc/crc.go`
//!
//! CRC-32C (Castagnoli, `crc32.MakeTable(crc32.Castagnoli)`), chained:
//! each record's `crc` is the CRC of the `data` of every record before it
//! and its own, since the start of the WAL (`crc.New(prevCrc, table)`,
//! `Write(rec.Data)`, `Sum32()`). A crc record's own `crc` is not checked
//! by the decoder; `ReadAll` compares it with the running value when that is
//! non-zero and then continues the chain from it (`updateCRC`).
//!
//! # Entries — `raft/raftpb/raft.proto`, `etcdserver/server.go`
//!
//! `EntryType`: 0 normal, 1 conf change (`raftpb.ConfChange`), 2 conf change
//! v2. A normal entry with empty data is a new leader's no-op. Other normal
//! data is an `InternalRaftRequest` (`etcdserver/etcdserverpb/
//! raft_internal.proto`); data that does not parse as one is an etcd v2
//! `Request` (`applyEntryNormal`: `pbutil.MaybeUnmarshal`, then v2). An
//! index written again replaces the entry there and everything after it
//! (`ReadAll`: `ents = append(ents[:up], e)`); entries at or below a hard
//! state's commit index are final.
//!
//! `InternalRaftRequest` fields: header 100 (`RequestHeader { ID = 1,
//! username = 2, auth_revision = 3 }`), ID 1, v2 2, range 3, put 4,
//! delete_range 5, txn 6, compaction 7, lease_grant 8, lease_revoke 9,
//! alarm 10, lease_checkpoint 11, auth 1000–1204. The request messages are
//! in `etcdserver/etcdserverpb/rpc.proto`; `proto/etcdserverpb.proto`
//! declares the fields read here.

/// Bytes of the length word in front of every record (`frameSizeBytes`,
/// `wal/decoder.go`).
pub const FRAME_WORD_BYTES: u64 = 8;
/// Bit of the length word that says padding follows (`encodeFrameSize`:
/// `0x80 << 56`).
pub const FRAME_PADDED_BIT: u64 = 1 << 63;
/// Shift of the padding count in the length word.
pub const FRAME_PADDING_SHIFT: u32 = 56;
/// Mask of the padding count after the shift (three bits).
pub const FRAME_PADDING_MASK: u64 = 0x7;
/// Mask of the record length: the low 56 bits (`decodeFrameSize`).
pub const FRAME_LENGTH_MASK: u64 = (1 << 56) - 1;
/// Frames are padded to this alignment (`encodeFrameSize`).
pub const FRAME_ALIGN: u64 = 8;
/// The largest record this reader accepts. etcd 3.4 refuses 10 MiB and more
/// (`maxWALEntrySizeLimit`, `wal/decoder.go`); a reader of evidence is more
/// lenient, and still never allocates a length a damaged word claims.
pub const MAX_RECORD_BYTES: u64 = 64 << 20;
/// The sector a torn write is judged by (`minSectorSize`, `wal/decoder.go`).
pub const SECTOR_BYTES: u64 = 512;
/// Size a segment is preallocated to (`SegmentSizeBytes`, `wal/wal.go`).
pub const SEGMENT_BYTES: u64 = 64_000_000;

/// Record type of a metadata record (`metadataType`, `wal/wal.go`).
pub const METADATA_TYPE: i64 = 1;
/// Record type of a raft entry (`entryType`).
pub const ENTRY_TYPE: i64 = 2;
/// Record type of a hard state (`stateType`).
pub const STATE_TYPE: i64 = 3;
/// Record type of a CRC record (`crcType`).
pub const CRC_TYPE: i64 = 4;
/// Record type of a snapshot marker (`snapshotType`).
pub const SNAPSHOT_TYPE: i64 = 5;

/// `EntryNormal` (`raft/raftpb/raft.proto`).
pub const ENTRY_NORMAL: i32 = 0;
/// `EntryConfChange`.
pub const ENTRY_CONF_CHANGE: i32 = 1;
/// `EntryConfChangeV2`.
pub const ENTRY_CONF_CHANGE_V2: i32 = 2;

/// Extension of a segment file (`parseWALName`, `wal/util.go`).
pub const SEGMENT_SUFFIX: &str = ".wal";
/// Hex digits of each number in a segment name (`%016x-%016x.wal`).
pub const SEGMENT_NAME_DIGITS: usize = 16;

/// The length word split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameWord {
    /// Bytes of the record that follows the word.
    pub record_bytes: u64,
    /// Zero bytes after the record (0 when bit 63 is clear).
    pub padding_bytes: u64,
    /// Bits 59–62 set, or bit 63 clear with bits 56–58 set: a writer never
    /// produces this, so it marks a damaged word.
    pub reserved_bits: bool,
}

impl FrameWord {
    /// Splits a length word as `decodeFrameSize` does.
    pub fn decode(word: u64) -> FrameWord {
        let record_bytes = word & FRAME_LENGTH_MASK;
        let high = word >> FRAME_PADDING_SHIFT;
        let padded = word & FRAME_PADDED_BIT != 0;
        let padding_bytes = if padded { high & FRAME_PADDING_MASK } else { 0 };
        let reserved_bits = if padded { high & 0x78 != 0 } else { high != 0 };
        FrameWord {
            record_bytes,
            padding_bytes,
            reserved_bits,
        }
    }

    /// The word and padding the writer uses for a record of `record_bytes`
    /// (`encodeFrameSize`).
    pub fn encode(record_bytes: u64) -> (u64, u64) {
        let padding = (FRAME_ALIGN - record_bytes % FRAME_ALIGN) % FRAME_ALIGN;
        let mut word = record_bytes & FRAME_LENGTH_MASK;
        if padding != 0 {
            word |= (0x80 | padding) << FRAME_PADDING_SHIFT;
        }
        (word, padding)
    }

    /// Record and padding bytes after the word.
    pub fn body_bytes(self) -> u64 {
        self.record_bytes + self.padding_bytes
    }

    /// The writer always pads record and padding to [`FRAME_ALIGN`].
    pub fn is_aligned(self) -> bool {
        self.body_bytes().is_multiple_of(FRAME_ALIGN)
    }
}

/// CRC-32C of `data` continuing from `crc` (Go's `crc32.Update` with the
/// Castagnoli table).
pub fn crc_append(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word of every length round-trips, padding brings body to 8 bytes,
    /// and only unpadded multiples of 8 have a clear bit 63.
    #[test]
    fn frame_word_round_trip() {
        for len in 0..64u64 {
            let (word, pad) = FrameWord::encode(len);
            let parsed = FrameWord::decode(word);
            assert_eq!(parsed.record_bytes, len);
            assert_eq!(parsed.padding_bytes, pad);
            assert!(!parsed.reserved_bits);
            assert!(parsed.is_aligned());
            assert_eq!(word & FRAME_PADDED_BIT != 0, len % 8 != 0);
        }
    }

    /// etcd's example: 0x85 in the top byte is 5 bytes of padding.
    #[test]
    fn frame_word_reads_padding_and_flags_reserved_bits() {
        let w = FrameWord::decode(0x8500_0000_0000_0003);
        assert_eq!((w.record_bytes, w.padding_bytes), (3, 5));
        assert!(!w.reserved_bits);
        assert!(FrameWord::decode(0x0100_0000_0000_0008).reserved_bits);
        assert!(FrameWord::decode(0xC000_0000_0000_0008).reserved_bits);
    }

    /// CRC-32C check value, and chaining equals one pass over the whole.
    #[test]
    fn crc_is_castagnoli_and_chains() {
        assert_eq!(crc_append(0, b"123456789"), 0xE306_9283);
        let whole = crc_append(0, b"hello world");
        assert_eq!(crc_append(crc_append(0, b"hello "), b"world"), whole);
    }
}
