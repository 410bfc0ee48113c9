//! What the replay knows of each key and lease as it goes: a key's state
//! (the fields a compare can test), and whether it is known at all.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::digest::ValueDigest;

/// The fields of a present key that compares test. `None`: not known (the
/// key's earlier history is not in the WAL or the db).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyState {
    pub mod_revision: i64,
    pub create_revision: Option<i64>,
    pub version: Option<i64>,
    pub lease: Option<i64>,
    /// Digest of key and value (see [`super::digest`]).
    pub value: Option<ValueDigest>,
}

/// What is known of a key at the replay's current revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knowledge {
    /// The key does not exist.
    Absent,
    /// The key exists with this state.
    Present(KeyState),
    /// Not known.
    Unknown,
}

/// What is known of a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseKnowledge {
    Granted,
    Revoked,
}

/// The keys and leases the WAL wrote, as far as the replay got. Each
/// write looks its key up by hash (tree searches were most of the replay's
/// time); the ordered set, for range compares and deletes, takes in the
/// keys first written since the last range when the next one comes, so
/// writes without ranges never search it. The maps share each key's bytes.
#[derive(Debug, Default)]
pub struct Written {
    keys: HashMap<Arc<[u8]>, Knowledge>,
    ordered: RefCell<Ordered>,
    leases: HashMap<i64, LeaseKnowledge>,
    /// Keys put with each lease (candidates for its revoke).
    lease_keys: HashMap<i64, HashSet<Arc<[u8]>>>,
}

/// The keys in order, and those not yet put in order.
#[derive(Debug, Default)]
struct Ordered {
    keys: BTreeSet<Arc<[u8]>>,
    pending: Vec<Arc<[u8]>>,
}

impl Written {
    /// What the WAL wrote last at `key`, if it wrote there.
    pub fn key(&self, key: &[u8]) -> Option<Knowledge> {
        self.keys.get(key).copied()
    }

    /// Records what `key` is now.
    pub fn set(&mut self, key: &[u8], now: Knowledge) {
        let shared = match self.keys.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => {
                let k: Arc<[u8]> = Arc::from(key);
                self.ordered.get_mut().pending.push(k.clone());
                k
            }
        };
        if let Knowledge::Present(KeyState {
            lease: Some(lease), ..
        }) = now
        {
            if lease != 0 {
                self.lease_keys
                    .entry(lease)
                    .or_default()
                    .insert(shared.clone());
            }
        }
        self.keys.insert(shared, now);
    }

    /// Keys the WAL wrote in `[start, end)` (`end` empty: no end), in
    /// order.
    pub fn keys_in(&self, start: &[u8], end: &[u8]) -> Vec<Vec<u8>> {
        let mut ordered = self.ordered.borrow_mut();
        let Ordered { keys, pending } = &mut *ordered;
        keys.extend(pending.drain(..));
        keys.range::<[u8], _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
            .map(|k| k.to_vec())
            .take_while(|k| end.is_empty() || k.as_slice() < end)
            .collect()
    }

    /// Keys the WAL put with `lease`, in no order.
    pub fn keys_of_lease(&self, lease: i64) -> impl Iterator<Item = &[u8]> {
        self.lease_keys
            .get(&lease)
            .into_iter()
            .flatten()
            .map(|k| &**k)
    }

    /// Forgets the keys of a revoked lease.
    pub fn revoke(&mut self, lease: i64) {
        self.leases.insert(lease, LeaseKnowledge::Revoked);
        self.lease_keys.remove(&lease);
    }

    /// A lease granted.
    pub fn grant(&mut self, lease: i64) {
        self.leases.insert(lease, LeaseKnowledge::Granted);
    }

    /// What the WAL said of `lease`, if anything.
    pub fn lease(&self, lease: i64) -> Option<LeaseKnowledge> {
        self.leases.get(&lease).copied()
    }

    /// Every key the WAL wrote is forgotten: the replay lost track.
    pub fn forget_all(&mut self) {
        for k in self.keys.values_mut() {
            *k = Knowledge::Unknown;
        }
    }
}
