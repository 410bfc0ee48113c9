//! etcd's MVCC layer on top of bbolt.
//!
//! Layout (etcd `server/storage/schema/bucket.go`, `mvcc/revision.go`,
//! `mvcc/kvstore_txn.go`, `lease/leasepb/lease.proto`):
//!
//! | bucket  | key | value |
//! |---------|-----|-------|
//! | `key`   | 8-byte big-endian main revision, `_`, 8-byte big-endian sub revision (17 bytes); an 18th byte `t` marks a tombstone | `mvccpb.KeyValue` (a tombstone's holds only the key) |
//! | `meta`  | `consistent_index` (8-byte BE), `term` (8-byte BE, ≥ 3.5), `scheduledCompactRev` / `finishedCompactRev` (17-byte revision) | |
//! | `lease` | 8-byte BE lease id | `leasepb.Lease { ID, TTL, RemainingTTL }` |
//!
//! Big-endian revisions make bbolt's key order the revision order. All
//! changes of one transaction share the main revision; the sub revision
//! counts the changes inside it.

use prost::Message;

use crate::proto::etcd::{KeyValue, Lease};

/// A revision key of the `key` bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
    pub tombstone: bool,
}

/// Why a `key`-bucket entry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("revision key has {0} bytes, expected 17 (or 18 for a tombstone)")]
    KeyLength(usize),
    #[error("revision key separator is {0:#04x}, expected '_'")]
    Separator(u8),
    #[error("revision key ends in {0:#04x}, expected 't' for a tombstone")]
    TombstoneMark(u8),
    #[error("revision {0} is negative or past 2^63")]
    RevisionRange(u64),
    #[error("mvccpb.KeyValue does not decode: {0}")]
    KeyValue(String),
    #[error("KeyValue.mod_revision {value} differs from the revision key's {key}")]
    ModRevisionMismatch { key: i64, value: i64 },
}

impl Revision {
    /// Parses a `key`-bucket key with etcd's own checks (`BytesToBucketKey`).
    pub fn parse(bytes: &[u8]) -> Result<Revision, RecordError> {
        let tombstone = match bytes.len() {
            17 => false,
            18 => match bytes[17] {
                b't' => true,
                other => return Err(RecordError::TombstoneMark(other)),
            },
            n => return Err(RecordError::KeyLength(n)),
        };
        if bytes[8] != b'_' {
            return Err(RecordError::Separator(bytes[8]));
        }
        let main = be_i64(&bytes[0..8])?;
        let sub = be_i64(&bytes[9..17])?;
        Ok(Revision {
            main,
            sub,
            tombstone,
        })
    }
}

fn be_i64(bytes: &[u8]) -> Result<i64, RecordError> {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(bytes);
    let v = u64::from_be_bytes(buf);
    i64::try_from(v).map_err(|_| RecordError::RevisionRange(v))
}

/// Decodes the value of a `key`-bucket entry and checks it against its key.
pub fn decode_key_value(rev: &Revision, value: &[u8]) -> Result<KeyValue, RecordError> {
    let kv = KeyValue::decode(value).map_err(|e| RecordError::KeyValue(e.to_string()))?;
    // Tombstones store KeyValue{key} only; puts store the full record.
    if !rev.tombstone && kv.mod_revision != rev.main {
        return Err(RecordError::ModRevisionMismatch {
            key: rev.main,
            value: kv.mod_revision,
        });
    }
    Ok(kv)
}

/// What the `meta` bucket says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MvccMeta {
    pub consistent_index: Option<u64>,
    pub term: Option<u64>,
    pub scheduled_compact_revision: Option<i64>,
    pub finished_compact_revision: Option<i64>,
    /// Entries that did not have the expected shape.
    pub problems: Vec<String>,
}

impl MvccMeta {
    /// Folds one `meta`-bucket entry in.
    pub fn add_entry(&mut self, key: &[u8], value: &[u8]) {
        let name = String::from_utf8_lossy(key);
        match key {
            b"consistent_index" => self.consistent_index = self.u64_entry(&name, value),
            b"term" => self.term = self.u64_entry(&name, value),
            b"scheduledCompactRev" => {
                self.scheduled_compact_revision = self.rev_entry(&name, value)
            }
            b"finishedCompactRev" => self.finished_compact_revision = self.rev_entry(&name, value),
            _ => {}
        }
    }

    fn u64_entry(&mut self, name: &str, value: &[u8]) -> Option<u64> {
        match <[u8; 8]>::try_from(value) {
            Ok(b) => Some(u64::from_be_bytes(b)),
            Err(_) => {
                self.problems
                    .push(format!("meta/{name}: {} bytes, expected 8", value.len()));
                None
            }
        }
    }

    fn rev_entry(&mut self, name: &str, value: &[u8]) -> Option<i64> {
        match Revision::parse(value) {
            Ok(rev) => Some(rev.main),
            Err(e) => {
                self.problems.push(format!("meta/{name}: {e}"));
                None
            }
        }
    }
}

/// An entry of the `lease` bucket.
pub fn decode_lease(key: &[u8], value: &[u8]) -> Result<Lease, String> {
    let lease = Lease::decode(value).map_err(|e| format!("leasepb.Lease does not decode: {e}"))?;
    if let Ok(b) = <[u8; 8]>::try_from(key) {
        let id = i64::from_be_bytes(b);
        if id != lease.id {
            return Err(format!(
                "lease key {id} differs from the record's ID {}",
                lease.id
            ));
        }
    } else {
        return Err(format!("lease key has {} bytes, expected 8", key.len()));
    }
    Ok(lease)
}

/// KeyValue.key without decoding the rest, when the value starts with it
/// (as etcd always writes it). `None` when it does not: the full decode
/// then decides.
pub fn leading_key(value: &[u8]) -> Option<&[u8]> {
    // Field 1, wire type 2 (length-delimited) → tag byte 0x0a.
    let rest = value.strip_prefix(&[0x0a])?;
    let mut len: u64 = 0;
    for (i, b) in rest.iter().take(10).enumerate() {
        len |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let start = i + 1;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            return rest.get(start..end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev_key(main: u64, sub: u64, tomb: bool) -> Vec<u8> {
        let mut k = main.to_be_bytes().to_vec();
        k.push(b'_');
        k.extend_from_slice(&sub.to_be_bytes());
        if tomb {
            k.push(b't');
        }
        k
    }

    #[test]
    fn parses_put_and_tombstone_keys() {
        assert_eq!(
            Revision::parse(&rev_key(42, 3, false)),
            Ok(Revision {
                main: 42,
                sub: 3,
                tombstone: false
            })
        );
        assert!(Revision::parse(&rev_key(42, 0, true)).unwrap().tombstone);
    }

    #[test]
    fn rejects_malformed_keys() {
        assert_eq!(Revision::parse(b"short"), Err(RecordError::KeyLength(5)));
        let mut k = rev_key(1, 0, false);
        k[8] = b'-';
        assert_eq!(Revision::parse(&k), Err(RecordError::Separator(b'-')));
        let mut k = rev_key(1, 0, true);
        k[17] = b'x';
        assert_eq!(Revision::parse(&k), Err(RecordError::TombstoneMark(b'x')));
        assert_eq!(
            Revision::parse(&rev_key(u64::MAX, 0, false)),
            Err(RecordError::RevisionRange(u64::MAX))
        );
    }

    #[test]
    fn key_value_must_match_its_revision() {
        let kv = KeyValue {
            key: b"/registry/events/a/b".to_vec(),
            create_revision: 5,
            mod_revision: 7,
            version: 2,
            value: b"x".to_vec(),
            lease: 0,
        };
        let bytes = kv.encode_to_vec();
        let rev = Revision {
            main: 7,
            sub: 0,
            tombstone: false,
        };
        assert_eq!(decode_key_value(&rev, &bytes).unwrap(), kv);
        let other = Revision { main: 8, ..rev };
        assert_eq!(
            decode_key_value(&other, &bytes),
            Err(RecordError::ModRevisionMismatch { key: 8, value: 7 })
        );
        assert!(matches!(
            decode_key_value(&rev, &[0xff, 0xff]),
            Err(RecordError::KeyValue(_))
        ));
    }

    #[test]
    fn meta_entries() {
        let mut meta = MvccMeta::default();
        meta.add_entry(b"consistent_index", &9u64.to_be_bytes());
        meta.add_entry(b"finishedCompactRev", &rev_key(100, 0, false));
        meta.add_entry(b"scheduledCompactRev", b"bad");
        assert_eq!(meta.consistent_index, Some(9));
        assert_eq!(meta.finished_compact_revision, Some(100));
        assert_eq!(meta.scheduled_compact_revision, None);
        assert_eq!(meta.problems.len(), 1);
    }

    #[test]
    fn lease_entries() {
        let lease = Lease {
            id: 0x1234,
            ttl: 3660,
            remaining_ttl: 0,
        };
        let v = lease.encode_to_vec();
        assert_eq!(decode_lease(&0x1234i64.to_be_bytes(), &v), Ok(lease));
        assert!(decode_lease(&0x9999i64.to_be_bytes(), &v).is_err());
        assert!(decode_lease(b"k", &v).is_err());
    }

    #[test]
    fn leading_key_reads_etcd_layout() {
        use prost::Message;
        let kv = crate::proto::etcd::KeyValue {
            key: b"/registry/events/ns/a.1".to_vec(),
            create_revision: 1,
            mod_revision: 2,
            version: 1,
            value: vec![1; 300],
            lease: 7,
        };
        let bytes = kv.encode_to_vec();
        assert_eq!(leading_key(&bytes), Some(&b"/registry/events/ns/a.1"[..]));
        assert_eq!(leading_key(&[0x0a, 0xff]), None);
        assert_eq!(leading_key(&[0x0a, 5, 1]), None);
        assert_eq!(leading_key(&[]), None);
    }
}
