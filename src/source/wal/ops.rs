//! The key-value requests a proposal or a transaction operation carries:
//! put, delete range and range, read from their `rpc.proto` messages.

use crate::proto::etcdserverpb as pb;

/// `PutRequest`: write `value` at `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    /// The key written.
    pub key: Vec<u8>,
    /// The value written (empty with `ignore_value`).
    pub value: Vec<u8>,
    /// Lease attached to the key; 0 = none.
    pub lease: i64,
    /// The client asked for the previous key-value in the response.
    pub prev_kv: bool,
    /// Keep the key's current value (only the lease changes).
    pub ignore_value: bool,
    /// Keep the key's current lease.
    pub ignore_lease: bool,
}

impl From<pb::PutRequest> for Put {
    fn from(p: pb::PutRequest) -> Put {
        Put {
            key: p.key,
            value: p.value,
            lease: p.lease,
            prev_kv: p.prev_kv,
            ignore_value: p.ignore_value,
            ignore_lease: p.ignore_lease,
        }
    }
}

/// `DeleteRangeRequest`: delete `key`, or every key in `[key, range_end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRange {
    /// First key deleted.
    pub key: Vec<u8>,
    /// End of the range (exclusive); empty = only `key`, `"\0"` = every key
    /// from `key` on.
    pub range_end: Vec<u8>,
    /// The client asked for the deleted key-values in the response.
    pub prev_kv: bool,
}

impl From<pb::DeleteRangeRequest> for DeleteRange {
    fn from(d: pb::DeleteRangeRequest) -> DeleteRange {
        DeleteRange {
            key: d.key,
            range_end: d.range_end,
            prev_kv: d.prev_kv,
        }
    }
}

/// `RangeRequest`: a read (inside a transaction, e.g. the failure branch of
/// kube-apiserver's optimistic put, or an old linearizable read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// First key read.
    pub key: Vec<u8>,
    /// End of the range (exclusive); empty = only `key`.
    pub range_end: Vec<u8>,
    /// Most keys returned; 0 = no limit.
    pub limit: i64,
    /// Revision read at; 0 = the newest.
    pub revision: i64,
    /// Only keys, no values.
    pub keys_only: bool,
    /// Only the count.
    pub count_only: bool,
}

impl From<pb::RangeRequest> for Range {
    fn from(r: pb::RangeRequest) -> Range {
        Range {
            key: r.key,
            range_end: r.range_end,
            limit: r.limit,
            revision: r.revision,
            keys_only: r.keys_only,
            count_only: r.count_only,
        }
    }
}
