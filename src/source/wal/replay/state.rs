//! What the replay knows of each key and lease as it goes: a key's state
//! (the fields a compare can test), and whether it is known at all.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The fields of a present key that compares test. `None`: not known (the
/// key's earlier history is not in the WAL or the db).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyState {
    pub mod_revision: i64,
    pub create_revision: Option<i64>,
    pub version: Option<i64>,
    pub lease: Option<i64>,
    /// Digest of key and value (see [`super::stored::value_digest`]).
    pub value: Option<u64>,
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

/// The keys and leases the WAL wrote, as far as the replay got.
#[derive(Debug, Default)]
pub struct Written {
    keys: BTreeMap<Vec<u8>, Knowledge>,
    leases: HashMap<i64, LeaseKnowledge>,
    /// Keys put with each lease (candidates for its revoke).
    lease_keys: HashMap<i64, BTreeSet<Vec<u8>>>,
}

impl Written {
    /// What the WAL wrote last at `key`, if it wrote there.
    pub fn key(&self, key: &[u8]) -> Option<Knowledge> {
        self.keys.get(key).copied()
    }

    /// Records what `key` is now.
    pub fn set(&mut self, key: &[u8], now: Knowledge) {
        if let Knowledge::Present(KeyState {
            lease: Some(lease), ..
        }) = now
        {
            if lease != 0 {
                self.lease_keys
                    .entry(lease)
                    .or_default()
                    .insert(key.to_vec());
            }
        }
        match self.keys.get_mut(key) {
            Some(k) => *k = now,
            None => {
                self.keys.insert(key.to_vec(), now);
            }
        }
    }

    /// Keys the WAL wrote in `[start, end)` (`end` empty: no end).
    pub fn keys_in<'a>(
        &'a self,
        start: &'a [u8],
        end: &'a [u8],
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.keys
            .range::<[u8], _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
            .map(|(k, _)| k.as_slice())
            .take_while(move |k| end.is_empty() || *k < end)
    }

    /// Keys the WAL put with `lease`.
    pub fn keys_of_lease(&self, lease: i64) -> impl Iterator<Item = &[u8]> {
        self.lease_keys
            .get(&lease)
            .into_iter()
            .flatten()
            .map(Vec::as_slice)
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
