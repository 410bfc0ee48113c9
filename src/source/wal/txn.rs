//! Transactions: the compares, and the operations of the success and
//! failure branches (`TxnRequest`, `Compare`, `RequestOp` in `rpc.proto`).
//! Transactions nest (`request_txn`); conversion stops at [`MAX_TXN_DEPTH`]
//! so a hostile entry cannot recurse without bound (prost's own decoding
//! limit of 100 message levels bounds it before that).

use crate::proto::etcdserverpb as pb;

use super::ops::{DeleteRange, Put, Range};

/// Deepest transaction nesting converted; a transaction below it is
/// replaced by [`RequestOp::TooDeep`]. A top-level transaction has depth 1.
pub const MAX_TXN_DEPTH: u32 = 32;

/// `TxnRequest`: if every compare holds, the success operations run, else the
/// failure operations. The WAL holds the proposal; which branch ran follows
/// from the store at that revision, not from the WAL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    /// Conditions, all of which must hold.
    pub compares: Vec<Compare>,
    /// Operations when they hold.
    pub success: Vec<RequestOp>,
    /// Operations when one does not.
    pub failure: Vec<RequestOp>,
}

/// One condition of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    /// Which attribute of the key is compared.
    pub target: CompareTarget,
    /// The comparison.
    pub result: CompareResult,
    /// The key compared.
    pub key: Vec<u8>,
    /// End of a compared range (exclusive); empty = only `key`.
    pub range_end: Vec<u8>,
    /// The value compared against.
    pub against: CompareValue,
}

/// `Compare.CompareTarget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareTarget {
    /// 0: the key's version.
    Version,
    /// 1: the key's create revision.
    Create,
    /// 2: the key's mod revision (kube-apiserver's optimistic concurrency).
    Mod,
    /// 3: the key's value.
    Value,
    /// 4: the key's lease.
    Lease,
    /// A number etcd 3.4 does not define.
    Unknown(i32),
}

impl CompareTarget {
    fn from_wire(v: i32) -> CompareTarget {
        match v {
            0 => Self::Version,
            1 => Self::Create,
            2 => Self::Mod,
            3 => Self::Value,
            4 => Self::Lease,
            other => Self::Unknown(other),
        }
    }
}

/// `Compare.CompareResult`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareResult {
    /// 0.
    Equal,
    /// 1.
    Greater,
    /// 2.
    Less,
    /// 3.
    NotEqual,
    /// A number etcd 3.4 does not define.
    Unknown(i32),
}

impl CompareResult {
    fn from_wire(v: i32) -> CompareResult {
        match v {
            0 => Self::Equal,
            1 => Self::Greater,
            2 => Self::Less,
            3 => Self::NotEqual,
            other => Self::Unknown(other),
        }
    }
}

/// The `target_union` of a compare: what the attribute is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompareValue {
    /// Field 4.
    Version(i64),
    /// Field 5.
    CreateRevision(i64),
    /// Field 6 (0 = "the key does not exist", kube-apiserver's create).
    ModRevision(i64),
    /// Field 7.
    Value(Vec<u8>),
    /// Field 8.
    Lease(i64),
    /// No value was set.
    Missing,
}

impl From<Option<pb::compare::TargetUnion>> for CompareValue {
    fn from(u: Option<pb::compare::TargetUnion>) -> CompareValue {
        use pb::compare::TargetUnion as U;
        match u {
            Some(U::Version(v)) => Self::Version(v),
            Some(U::CreateRevision(v)) => Self::CreateRevision(v),
            Some(U::ModRevision(v)) => Self::ModRevision(v),
            Some(U::Value(v)) => Self::Value(v),
            Some(U::Lease(v)) => Self::Lease(v),
            None => Self::Missing,
        }
    }
}

/// One operation of a transaction branch (`RequestOp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOp {
    /// A read.
    Range(Range),
    /// A write.
    Put(Put),
    /// A delete.
    DeleteRange(DeleteRange),
    /// A nested transaction.
    Txn(Box<Txn>),
    /// An operation with no request set.
    Empty,
    /// A nested transaction past [`MAX_TXN_DEPTH`], not converted.
    TooDeep,
}

/// Converts a transaction at nesting `depth` (1 for a proposal's own);
/// every operation cut at [`MAX_TXN_DEPTH`] adds one to `cut`.
pub(super) fn txn_from_proto(t: pb::TxnRequest, depth: u32, cut: &mut u64) -> Txn {
    Txn {
        compares: t.compare.into_iter().map(compare_from_proto).collect(),
        success: ops_from_proto(t.success, depth, cut),
        failure: ops_from_proto(t.failure, depth, cut),
    }
}

fn compare_from_proto(c: pb::Compare) -> Compare {
    Compare {
        target: CompareTarget::from_wire(c.target),
        result: CompareResult::from_wire(c.result),
        key: c.key,
        range_end: c.range_end,
        against: c.target_union.into(),
    }
}

fn ops_from_proto(ops: Vec<pb::RequestOp>, depth: u32, cut: &mut u64) -> Vec<RequestOp> {
    use pb::request_op::Request as R;
    ops.into_iter()
        .map(|op| match op.request {
            Some(R::RequestRange(r)) => RequestOp::Range(r.into()),
            Some(R::RequestPut(p)) => RequestOp::Put(p.into()),
            Some(R::RequestDeleteRange(d)) => RequestOp::DeleteRange(d.into()),
            Some(R::RequestTxn(t)) if depth < MAX_TXN_DEPTH => {
                RequestOp::Txn(Box::new(txn_from_proto(t, depth + 1, cut)))
            }
            Some(R::RequestTxn(_)) => {
                *cut += 1;
                RequestOp::TooDeep
            }
            None => RequestOp::Empty,
        })
        .collect()
}
