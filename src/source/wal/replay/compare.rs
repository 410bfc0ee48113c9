//! A transaction's compare against what is known of a key, as etcd 3.4
//! evaluates it (`etcdserver/apply.go`: `applyCompare`, `compareKV`): a
//! missing key compares as a zero key-value, except that a value compare
//! on a missing key fails.

use std::cmp::Ordering;

use super::digest::value_digest;
use super::state::{KeyState, Knowledge};
use crate::source::wal::{Compare, CompareResult, CompareTarget, CompareValue};

/// Whether `c` holds for one key in state `state`; `None` when the state
/// does not tell.
pub fn holds_for(c: &Compare, key: &[u8], state: Knowledge) -> Option<bool> {
    let zero = KeyState {
        mod_revision: 0,
        create_revision: Some(0),
        version: Some(0),
        lease: Some(0),
        value: None,
    };
    let s = match state {
        Knowledge::Unknown => return None,
        Knowledge::Absent if c.target == CompareTarget::Value => return Some(false),
        Knowledge::Absent => zero,
        Knowledge::Present(s) => s,
    };
    let ordering = match (c.target, &c.against) {
        (CompareTarget::Mod, v) => s.mod_revision.cmp(&int(v, CompareTarget::Mod)),
        (CompareTarget::Create, v) => s.create_revision?.cmp(&int(v, CompareTarget::Create)),
        (CompareTarget::Version, v) => s.version?.cmp(&int(v, CompareTarget::Version)),
        (CompareTarget::Lease, v) => s.lease?.cmp(&int(v, CompareTarget::Lease)),
        (CompareTarget::Value, v) => {
            // Only a digest is kept: equality is known, order is not.
            let against = match v {
                CompareValue::Value(bytes) => value_digest(key, bytes),
                _ => value_digest(key, b""),
            };
            if !matches!(c.result, CompareResult::Equal | CompareResult::NotEqual) {
                return None;
            }
            if s.value? == against {
                Ordering::Equal
            } else {
                Ordering::Less
            }
        }
        (CompareTarget::Unknown(_), _) => Ordering::Equal,
    };
    Some(match c.result {
        CompareResult::Equal => ordering == Ordering::Equal,
        CompareResult::NotEqual => ordering != Ordering::Equal,
        CompareResult::Greater => ordering == Ordering::Greater,
        CompareResult::Less => ordering == Ordering::Less,
        CompareResult::Unknown(_) => true,
    })
}

/// The number a compare tests, 0 when the union holds another kind (as
/// etcd reads it).
fn int(v: &CompareValue, target: CompareTarget) -> i64 {
    match (target, v) {
        (CompareTarget::Mod, CompareValue::ModRevision(n))
        | (CompareTarget::Create, CompareValue::CreateRevision(n))
        | (CompareTarget::Version, CompareValue::Version(n))
        | (CompareTarget::Lease, CompareValue::Lease(n)) => *n,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mod_equal(rev: i64) -> Compare {
        Compare {
            target: CompareTarget::Mod,
            result: CompareResult::Equal,
            key: b"/k".to_vec(),
            range_end: Vec::new(),
            against: CompareValue::ModRevision(rev),
        }
    }

    fn present(mod_revision: i64) -> Knowledge {
        Knowledge::Present(KeyState {
            mod_revision,
            create_revision: None,
            version: None,
            lease: None,
            value: None,
        })
    }

    #[test]
    fn kube_apiserver_compares() {
        // Create: the key must not exist.
        assert_eq!(
            holds_for(&mod_equal(0), b"/k", Knowledge::Absent),
            Some(true)
        );
        assert_eq!(holds_for(&mod_equal(0), b"/k", present(4)), Some(false));
        // Update: the key must be at the revision read.
        assert_eq!(holds_for(&mod_equal(4), b"/k", present(4)), Some(true));
        assert_eq!(holds_for(&mod_equal(3), b"/k", present(4)), Some(false));
        assert_eq!(holds_for(&mod_equal(3), b"/k", Knowledge::Unknown), None);
    }

    #[test]
    fn unknown_fields_leave_the_outcome_unknown() {
        let c = Compare {
            target: CompareTarget::Version,
            ..mod_equal(1)
        };
        assert_eq!(holds_for(&c, b"/k", present(4)), None);
        // A value compare on a missing key fails, whatever it asks.
        let v = Compare {
            target: CompareTarget::Value,
            result: CompareResult::NotEqual,
            against: CompareValue::Value(b"x".to_vec()),
            ..mod_equal(0)
        };
        assert_eq!(holds_for(&v, b"/k", Knowledge::Absent), Some(false));
    }
}
