//! A digest of a key and its value that stands for their bytes: the
//! replay compares values by digest (a compare on a value, a stored copy
//! anchoring a put, a WAL put the db already holds), never keeping the
//! values themselves.
//!
//! 128-bit SipHash-1-3 under keys drawn at random once per process: two
//! different inputs give one digest with a chance of 2^-128, and as the keys
//! never leave the process, no evidence can be crafted to collide.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;

use siphasher::sip128::{Hasher128, SipHasher13};

/// The digest of one key and value.
pub type ValueDigest = u128;

/// The process's SipHash keys.
fn keys() -> (u64, u64) {
    static KEYS: OnceLock<(u64, u64)> = OnceLock::new();
    *KEYS.get_or_init(|| {
        // RandomState is seeded from the OS; two of its outputs are
        // random 64-bit words.
        let state = RandomState::new();
        (state.hash_one(0u8), state.hash_one(1u8))
    })
}

/// The digest of `key` and `value` (the key's length first, so that no
/// two splits of the same bytes agree).
pub fn value_digest(key: &[u8], value: &[u8]) -> ValueDigest {
    let (k0, k1) = keys();
    let mut h = SipHasher13::new_with_keys(k0, k1);
    h.write(&(key.len() as u64).to_le_bytes());
    h.write(key);
    h.write(value);
    h.finish128().as_u128()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_tells_keys_values_and_their_split_apart() {
        let a = value_digest(b"/k", b"v");
        assert_eq!(a, value_digest(b"/k", b"v"));
        assert_ne!(a, value_digest(b"/k", b"w"));
        assert_ne!(a, value_digest(b"/j", b"v"));
        assert_ne!(value_digest(b"/k", b"/v"), value_digest(b"/k/", b"v"));
    }
}
