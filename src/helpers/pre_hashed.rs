//! A hasher for map keys that are already random-looking digests (keyed
//! 128-bit hashes of evidence): hashing them again only costs time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Folds a `u128` key into its 64-bit hash, nothing more.
#[derive(Default)]
pub struct PreHashed(u64);

/// A map keyed by 128-bit digests.
pub type DigestMap<V> = HashMap<u128, V, BuildHasherDefault<PreHashed>>;

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by the u128 keys; a plain FNV-1a for completeness.
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = (v as u64) ^ ((v >> 64) as u64);
    }
}
