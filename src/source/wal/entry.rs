//! The data of the record types: raft entries (and what a normal entry
//! proposes), hard states, snapshot markers and the member metadata.

use prost::Message as _;

use crate::proto::{etcdserverpb as serverpb, raftpb, walpb};

use super::layout::{ENTRY_CONF_CHANGE, ENTRY_CONF_CHANGE_V2, ENTRY_NORMAL};
use super::request::{decode_request, Proposal};

/// A raft log entry as written (`raftpb.Entry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Raft term of the leader that created it.
    pub term: u64,
    /// Raft log index.
    pub index: u64,
    /// Bytes of the entry's data (counted against the committer's buffer).
    pub data_bytes: usize,
    /// What the data holds.
    pub payload: Payload,
}

/// What an entry's data holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A normal entry without data: a new leader's no-op.
    LeaderNoop,
    /// A normal entry: a proposed request.
    Proposal(Proposal),
    /// A membership change (entry type 1).
    ConfChange(ConfChange),
    /// A joint-consensus membership change (entry type 2).
    ConfChangeV2(ConfChangeV2),
    /// Data that could not be read, though its record's CRC matched.
    Unreadable(Unreadable),
}

/// An entry whose data could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The raft entry type.
    pub entry_type: i32,
    /// Why.
    pub reason: String,
}

/// `raftpb.ConfChange`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfChange {
    /// etcd's request id for the change.
    pub id: u64,
    /// What changes.
    pub change: ConfChangeType,
    /// The member.
    pub node_id: u64,
    /// etcd puts the member (JSON, with its peer URLs) here.
    pub context: Vec<u8>,
}

/// `raftpb.ConfChangeV2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfChangeV2 {
    /// `ConfChangeTransition` (0 auto, 1 implicit, 2 explicit).
    pub transition: i32,
    /// The changes.
    pub changes: Vec<ConfChangeSingle>,
    /// Opaque context.
    pub context: Vec<u8>,
}

/// One change of a [`ConfChangeV2`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfChangeSingle {
    /// What changes.
    pub change: ConfChangeType,
    /// The member.
    pub node_id: u64,
}

/// `raftpb.ConfChangeType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfChangeType {
    /// 0.
    AddNode,
    /// 1.
    RemoveNode,
    /// 2.
    UpdateNode,
    /// 3.
    AddLearnerNode,
    /// A number etcd 3.4 does not define.
    Unknown(i32),
}

impl ConfChangeType {
    fn from_wire(v: i32) -> ConfChangeType {
        match v {
            0 => Self::AddNode,
            1 => Self::RemoveNode,
            2 => Self::UpdateNode,
            3 => Self::AddLearnerNode,
            other => Self::Unknown(other),
        }
    }
}

/// `raftpb.HardState`: the raft state a member persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HardState {
    /// Current term.
    pub term: u64,
    /// Member voted for in that term; 0 = none.
    pub vote: u64,
    /// Highest index known committed: entries at or below it are final.
    pub commit: u64,
}

/// `walpb.Snapshot`: the server saved a raft snapshot at this point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotMarker {
    /// Raft index of the snapshot.
    pub index: u64,
    /// Raft term of that index.
    pub term: u64,
}

/// `etcdserverpb.Metadata`, at the start of every segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Metadata {
    /// The member that wrote the WAL.
    pub node_id: u64,
    /// Its cluster.
    pub cluster_id: u64,
}

/// What reading an entry record gives, and how many nested transaction
/// operations were cut at the depth bound.
pub(super) struct DecodedEntry {
    pub entry: Entry,
    pub cut_ops: u64,
}

pub(super) fn decode_entry(data: &[u8]) -> Result<DecodedEntry, prost::DecodeError> {
    let e = raftpb::Entry::decode(data)?;
    let mut cut_ops = 0;
    let payload = match e.r#type {
        ENTRY_NORMAL if e.data.is_empty() => Payload::LeaderNoop,
        ENTRY_NORMAL => match decode_request(&e.data, &mut cut_ops) {
            Ok(p) => Payload::Proposal(p),
            Err(err) => Payload::Unreadable(Unreadable {
                entry_type: e.r#type,
                reason: err.to_string(),
            }),
        },
        ENTRY_CONF_CHANGE => match raftpb::ConfChange::decode(e.data.as_slice()) {
            Ok(c) => Payload::ConfChange(ConfChange {
                id: c.id,
                change: ConfChangeType::from_wire(c.r#type),
                node_id: c.node_id,
                context: c.context,
            }),
            Err(err) => unreadable(e.r#type, err),
        },
        ENTRY_CONF_CHANGE_V2 => match raftpb::ConfChangeV2::decode(e.data.as_slice()) {
            Ok(c) => Payload::ConfChangeV2(ConfChangeV2 {
                transition: c.transition,
                changes: c
                    .changes
                    .into_iter()
                    .map(|s| ConfChangeSingle {
                        change: ConfChangeType::from_wire(s.r#type),
                        node_id: s.node_id,
                    })
                    .collect(),
                context: c.context,
            }),
            Err(err) => unreadable(e.r#type, err),
        },
        other => Payload::Unreadable(Unreadable {
            entry_type: other,
            reason: format!("unknown raft entry type {other}"),
        }),
    };
    Ok(DecodedEntry {
        entry: Entry {
            term: e.term,
            index: e.index,
            data_bytes: e.data.len(),
            payload,
        },
        cut_ops,
    })
}

fn unreadable(entry_type: i32, err: prost::DecodeError) -> Payload {
    Payload::Unreadable(Unreadable {
        entry_type,
        reason: err.to_string(),
    })
}

pub(super) fn decode_hard_state(data: &[u8]) -> Result<HardState, prost::DecodeError> {
    let s = raftpb::HardState::decode(data)?;
    Ok(HardState {
        term: s.term,
        vote: s.vote,
        commit: s.commit,
    })
}

pub(super) fn decode_snapshot(data: &[u8]) -> Result<SnapshotMarker, prost::DecodeError> {
    let s = walpb::Snapshot::decode(data)?;
    Ok(SnapshotMarker {
        index: s.index,
        term: s.term,
    })
}

pub(super) fn decode_metadata(data: &[u8]) -> Result<Metadata, prost::DecodeError> {
    let m = serverpb::Metadata::decode(data)?;
    Ok(Metadata {
        node_id: m.node_id,
        cluster_id: m.cluster_id,
    })
}
