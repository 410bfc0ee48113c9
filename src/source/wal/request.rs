//! What a normal entry proposes: its `InternalRaftRequest` read into a
//! typed [`Request`], or an etcd v2 `Request` recognized and set aside.
//!
//! etcd 3.4 decides the same way (`applyEntryNormal`, `etcdserver/
//! server.go`): data that parses as an `InternalRaftRequest` is a v3
//! request; data that does not is a v2 `Request` (the cluster version
//! `PUT /0/version`).

use prost::Message as _;

use crate::proto::etcdserverpb as pb;

use super::ops::{DeleteRange, Put, Range};
use super::txn::{txn_from_proto, Txn};

/// A proposed request with the header the proposing server gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Request id (`header.ID`, else the top-level `ID`; the v2 request's
    /// `ID` for a v2 request).
    pub id: u64,
    /// The authenticated user who sent it; empty with auth off.
    pub username: String,
    /// Auth store revision the request was checked against.
    pub auth_revision: u64,
    /// What was proposed.
    pub request: Request,
}

/// The request of a proposal, one variant per `InternalRaftRequest` field
/// evforensics reads; the rest are [`Request::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Field 4.
    Put(Put),
    /// Field 5.
    DeleteRange(DeleteRange),
    /// Field 6.
    Txn(Txn),
    /// Field 7.
    Compaction(Compaction),
    /// Field 8.
    LeaseGrant(LeaseGrant),
    /// Field 9: deletes every key attached to the lease.
    LeaseRevoke(LeaseRevoke),
    /// Field 11.
    LeaseCheckpoint(LeaseCheckpoint),
    /// Recognized, not read further.
    Other(OtherRequest),
}

/// `CompactionRequest`: drop history before `revision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Revisions below this one are compacted away.
    pub revision: i64,
    /// The client waited for the compaction to reach the backend.
    pub physical: bool,
}

/// `LeaseGrantRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseGrant {
    /// Lease id (chosen by the proposing server when the client gave 0).
    pub id: i64,
    /// Time to live in seconds.
    pub ttl: i64,
}

/// `LeaseRevokeRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseRevoke {
    /// The lease revoked.
    pub id: i64,
}

/// `LeaseCheckpointRequest`: remaining TTLs the leader persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseCheckpoint {
    /// One per lease.
    pub checkpoints: Vec<Checkpoint>,
}

/// One lease's checkpoint (`LeaseCheckpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The lease.
    pub id: i64,
    /// Seconds it had left.
    pub remaining_ttl: i64,
}

/// A request recognized but not read into a typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtherRequest {
    /// An etcd v2 request: the whole entry (it does not parse as an
    /// `InternalRaftRequest`), or `InternalRaftRequest.v2` (field 2).
    V2(V2Request),
    /// Field 3: a linearizable read proposed through raft.
    Range(Range),
    /// Field 10.
    Alarm(Alarm),
    /// An auth request: the `InternalRaftRequest` field number (1000–1204).
    Auth {
        /// The field that was set.
        field: u32,
    },
    /// An `InternalRaftRequest` with no request field set.
    Nothing,
}

impl OtherRequest {
    /// The `InternalRaftRequest` field that holds it; `None` for a v2
    /// request that is the whole entry, or for no request at all.
    pub fn field(&self) -> Option<u32> {
        match self {
            Self::V2(v2) if v2.embedded => Some(2),
            Self::V2(_) | Self::Nothing => None,
            Self::Range(_) => Some(3),
            Self::Alarm(_) => Some(10),
            Self::Auth { field } => Some(*field),
        }
    }
}

/// An etcd v2 `Request` (`etcdserver/etcdserverpb/etcdserver.proto`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Request {
    /// `Method`, e.g. `PUT`.
    pub method: String,
    /// `Path`, e.g. `/0/version`.
    pub path: String,
    /// `Val`.
    pub value: String,
    /// Inside an `InternalRaftRequest` (field 2) rather than the whole entry.
    pub embedded: bool,
}

impl V2Request {
    fn from_proto(r: pb::Request, embedded: bool) -> V2Request {
        V2Request {
            method: String::from_utf8_lossy(&r.method).into_owned(),
            path: String::from_utf8_lossy(&r.path).into_owned(),
            value: String::from_utf8_lossy(&r.val).into_owned(),
            embedded,
        }
    }
}

/// `AlarmRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alarm {
    /// 0 get, 1 activate, 2 deactivate.
    pub action: i32,
    /// The member; 0 = all.
    pub member_id: u64,
    /// 0 none, 1 no space, 2 corrupt.
    pub alarm: i32,
}

/// Normal entry data that is neither an `InternalRaftRequest` nor a v2
/// `Request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("neither an InternalRaftRequest ({internal}) nor a v2 Request ({v2})")]
pub struct NotARequest {
    /// Why it is not an `InternalRaftRequest`.
    pub internal: String,
    /// Why it is not a v2 `Request`.
    pub v2: String,
}

/// Reads a normal entry's data. Nested transactions cut at the depth
/// bound add to `cut`.
pub(super) fn decode_request(data: &[u8], cut: &mut u64) -> Result<Proposal, NotARequest> {
    match pb::InternalRaftRequest::decode(data) {
        Ok(r) => Ok(from_internal(r, cut)),
        Err(internal) => match pb::Request::decode(data) {
            // Every v2 request has a method; without one the bytes merely
            // skip as unknown fields.
            Ok(v2) if v2.method.is_empty() => Err(NotARequest {
                internal: internal.to_string(),
                v2: "no method".into(),
            }),
            Ok(v2) => Ok(Proposal {
                id: v2.id,
                username: String::new(),
                auth_revision: 0,
                request: Request::Other(OtherRequest::V2(V2Request::from_proto(v2, false))),
            }),
            Err(v2) => Err(NotARequest {
                internal: internal.to_string(),
                v2: v2.to_string(),
            }),
        },
    }
}

fn from_internal(r: pb::InternalRaftRequest, cut: &mut u64) -> Proposal {
    let (id, username, auth_revision) = match &r.header {
        Some(h) if h.id != 0 => (
            h.id,
            String::from_utf8_lossy(&h.username).into_owned(),
            h.auth_revision,
        ),
        Some(h) => (
            r.id,
            String::from_utf8_lossy(&h.username).into_owned(),
            h.auth_revision,
        ),
        None => (r.id, String::new(), 0),
    };
    Proposal {
        id,
        username,
        auth_revision,
        request: request_of(r, cut),
    }
}

/// The set field, in the order etcd's `applyV3` tests them.
fn request_of(r: pb::InternalRaftRequest, cut: &mut u64) -> Request {
    if let Some(v2) = r.v2 {
        return Request::Other(OtherRequest::V2(V2Request::from_proto(v2, true)));
    }
    if let Some(range) = r.range {
        return Request::Other(OtherRequest::Range(range.into()));
    }
    if let Some(put) = r.put {
        return Request::Put(put.into());
    }
    if let Some(d) = r.delete_range {
        return Request::DeleteRange(d.into());
    }
    if let Some(t) = r.txn {
        return Request::Txn(txn_from_proto(t, 1, cut));
    }
    if let Some(c) = r.compaction {
        return Request::Compaction(Compaction {
            revision: c.revision,
            physical: c.physical,
        });
    }
    if let Some(g) = r.lease_grant {
        return Request::LeaseGrant(LeaseGrant {
            id: g.id,
            ttl: g.ttl,
        });
    }
    if let Some(l) = r.lease_revoke {
        return Request::LeaseRevoke(LeaseRevoke { id: l.id });
    }
    if let Some(a) = r.alarm {
        return Request::Other(OtherRequest::Alarm(Alarm {
            action: a.action,
            member_id: a.member_id,
            alarm: a.alarm,
        }));
    }
    if let Some(c) = r.lease_checkpoint {
        return Request::LeaseCheckpoint(LeaseCheckpoint {
            checkpoints: c
                .checkpoints
                .into_iter()
                .map(|c| Checkpoint {
                    id: c.id,
                    remaining_ttl: c.remaining_ttl,
                })
                .collect(),
        });
    }
    let auth = [
        (1000, r.auth_enable.is_some()),
        (1011, r.auth_disable.is_some()),
        (1012, r.authenticate.is_some()),
        (1100, r.auth_user_add.is_some()),
        (1101, r.auth_user_delete.is_some()),
        (1102, r.auth_user_get.is_some()),
        (1103, r.auth_user_change_password.is_some()),
        (1104, r.auth_user_grant_role.is_some()),
        (1105, r.auth_user_revoke_role.is_some()),
        (1106, r.auth_user_list.is_some()),
        (1107, r.auth_role_list.is_some()),
        (1200, r.auth_role_add.is_some()),
        (1201, r.auth_role_delete.is_some()),
        (1202, r.auth_role_get.is_some()),
        (1203, r.auth_role_grant_permission.is_some()),
        (1204, r.auth_role_revoke_permission.is_some()),
    ];
    match auth.iter().find(|(_, set)| *set) {
        Some((field, _)) => Request::Other(OtherRequest::Auth { field: *field }),
        None => Request::Other(OtherRequest::Nothing),
    }
}
