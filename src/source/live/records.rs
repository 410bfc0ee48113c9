//! Records as the `key` bucket of a snapshot holds them, made from what the
//! API returns: an `mvccpb.KeyValue` per put, and per deletion a tombstone
//! holding the key only. The loader then treats a live pull like a file.

use prost::Message;

use crate::proto::etcd::KeyValue;
use crate::source::mvcc::Revision;

/// One record of the pull, as a snapshot's `key` bucket would hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledRecord {
    pub revision: Revision,
    /// An encoded `mvccpb.KeyValue` (a tombstone's holds its key only).
    pub key_value: Vec<u8>,
}

/// A put: the key-value as the API gives it, re-encoded.
pub(super) fn encode_put(kv: &etcd_client::KeyValue) -> Vec<u8> {
    KeyValue {
        key: kv.key().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        value: kv.value().to_vec(),
        lease: kv.lease(),
    }
    .encode_to_vec()
}

/// A tombstone holds `KeyValue{key}` only, as etcd stores it.
pub(super) fn encode_tombstone(key: &[u8]) -> Vec<u8> {
    KeyValue {
        key: key.to_vec(),
        ..KeyValue::default()
    }
    .encode_to_vec()
}
