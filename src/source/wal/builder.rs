//! Writes WAL segment bytes the way etcd 3.4 does (frames, padding, the
//! CRC chain, a crc record at the start of each segment), for tests and
//! fuzz seeds. Its numbers come from [`layout`](super::layout).
//!
//! ```
//! use evforensics::source::wal::builder::{put, SegmentBuilder};
//! let mut first = SegmentBuilder::new(0);
//! first.metadata(1, 2).snapshot(0, 0).proposal(2, 1, &put(b"k", b"v", 0));
//! let second = SegmentBuilder::new(first.crc());
//! let (a, b) = (first.finish(), second.finish());
//! assert_eq!(a.len() % 8, 0);
//! assert!(!b.is_empty());
//! ```

use prost::Message as _;

use crate::proto::{etcdserverpb as pb, raftpb, walpb};

use super::layout::{
    crc_append, FrameWord, CRC_TYPE, ENTRY_NORMAL, ENTRY_TYPE, METADATA_TYPE, SNAPSHOT_TYPE,
    STATE_TYPE,
};

/// One segment's bytes, built record by record.
#[derive(Debug, Clone)]
pub struct SegmentBuilder {
    bytes: Vec<u8>,
    crc: u32,
}

impl SegmentBuilder {
    /// A segment that starts with a crc record carrying `prev_crc` (0 for
    /// the first segment of a WAL, else the previous segment's
    /// [`crc`](Self::crc)).
    pub fn new(prev_crc: u32) -> SegmentBuilder {
        let mut b = SegmentBuilder {
            bytes: Vec::new(),
            crc: prev_crc,
        };
        b.raw(CRC_TYPE, prev_crc, &[]);
        b
    }

    /// A segment with no records yet (not even a crc record), continuing
    /// the chain from `crc`.
    pub fn bare(crc: u32) -> SegmentBuilder {
        SegmentBuilder {
            bytes: Vec::new(),
            crc,
        }
    }

    /// The running CRC after the last record.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// Bytes written so far (the offset of the next frame).
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// No bytes written yet.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// A record of `record_type`, its CRC chained over `data`.
    pub fn record(&mut self, record_type: i64, data: &[u8]) -> &mut Self {
        self.crc = crc_append(self.crc, data);
        let crc = self.crc;
        self.raw(record_type, crc, data)
    }

    /// A record with the given `crc`, the chain not advanced.
    pub fn raw(&mut self, record_type: i64, crc: u32, data: &[u8]) -> &mut Self {
        let rec = walpb::Record {
            r#type: record_type,
            crc,
            data: data.to_vec(),
        };
        self.frame(&rec.encode_to_vec())
    }

    /// A frame around `record` bytes, padded as etcd pads.
    pub fn frame(&mut self, record: &[u8]) -> &mut Self {
        let (word, padding) = FrameWord::encode(record.len() as u64);
        self.bytes.extend_from_slice(&word.to_le_bytes());
        self.bytes.extend_from_slice(record);
        self.bytes.resize(self.bytes.len() + padding as usize, 0);
        self
    }

    /// A crc record carrying the running CRC (as `cut` writes).
    pub fn crc_record(&mut self) -> &mut Self {
        let crc = self.crc;
        self.raw(CRC_TYPE, crc, &[])
    }

    /// A metadata record.
    pub fn metadata(&mut self, node_id: u64, cluster_id: u64) -> &mut Self {
        let m = pb::Metadata {
            node_id,
            cluster_id,
        };
        self.record(METADATA_TYPE, &m.encode_to_vec())
    }

    /// A snapshot record.
    pub fn snapshot(&mut self, index: u64, term: u64) -> &mut Self {
        let s = walpb::Snapshot { index, term };
        self.record(SNAPSHOT_TYPE, &s.encode_to_vec())
    }

    /// A state record.
    pub fn state(&mut self, term: u64, vote: u64, commit: u64) -> &mut Self {
        let s = raftpb::HardState { term, vote, commit };
        self.record(STATE_TYPE, &s.encode_to_vec())
    }

    /// An entry record of `entry_type` with `data`.
    pub fn entry(&mut self, entry_type: i32, term: u64, index: u64, data: &[u8]) -> &mut Self {
        let e = raftpb::Entry {
            r#type: entry_type,
            term,
            index,
            data: data.to_vec(),
        };
        self.record(ENTRY_TYPE, &e.encode_to_vec())
    }

    /// A normal entry proposing `request`.
    pub fn proposal(
        &mut self,
        term: u64,
        index: u64,
        request: &pb::InternalRaftRequest,
    ) -> &mut Self {
        self.entry(ENTRY_NORMAL, term, index, &request.encode_to_vec())
    }

    /// Zero bytes up to `len` (preallocated space).
    pub fn preallocate(&mut self, len: u64) -> &mut Self {
        if let Ok(len) = usize::try_from(len) {
            if len > self.bytes.len() {
                self.bytes.resize(len, 0);
            }
        }
        self
    }

    /// The bytes.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// An `InternalRaftRequest` (header id 1) around a put.
pub fn put(key: &[u8], value: &[u8], lease: i64) -> pb::InternalRaftRequest {
    pb::InternalRaftRequest {
        header: Some(pb::RequestHeader {
            id: 1,
            ..Default::default()
        }),
        put: Some(pb::PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            lease,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// kube-apiserver's optimistic put: `Txn(If ModRevision(key) == prev)
/// .Then(Put(key, value, lease)).Else(Get(key))`.
pub fn optimistic_put(key: &[u8], value: &[u8], prev: i64, lease: i64) -> pb::InternalRaftRequest {
    pb::InternalRaftRequest {
        header: Some(pb::RequestHeader {
            id: 2,
            ..Default::default()
        }),
        txn: Some(pb::TxnRequest {
            compare: vec![pb::Compare {
                result: 0,
                target: 2,
                key: key.to_vec(),
                target_union: Some(pb::compare::TargetUnion::ModRevision(prev)),
                range_end: Vec::new(),
            }],
            success: vec![pb::RequestOp {
                request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                    key: key.to_vec(),
                    value: value.to_vec(),
                    lease,
                    ..Default::default()
                })),
            }],
            failure: vec![pb::RequestOp {
                request: Some(pb::request_op::Request::RequestRange(pb::RangeRequest {
                    key: key.to_vec(),
                    ..Default::default()
                })),
            }],
        }),
        ..Default::default()
    }
}

/// An etcd v2 `Request` as etcd 3.4 proposes its cluster version (the
/// whole entry's data, not an `InternalRaftRequest`).
pub fn v2_request(id: u64, method: &str, path: &str, value: &str) -> Vec<u8> {
    pb::Request {
        id,
        method: method.as_bytes().to_vec(),
        path: path.as_bytes().to_vec(),
        val: value.as_bytes().to_vec(),
    }
    .encode_to_vec()
}
