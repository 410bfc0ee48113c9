//! The SHA-256 a live source is recorded with ([`RecordHasher`]): over the
//! record stream the loader receives, whatever the timing of the pull.

use sha2::{Digest, Sha256};

use crate::source::mvcc::Revision;

/// The SHA-256 recorded for a live source: over every record pulled, in the
/// order pulled (the range at the compaction revision in key order, then
/// the history in revision order), each framed as
/// `main (8 bytes BE) · sub (8 BE) · tombstone (1 byte, 0/1) ·
/// length (8 BE) · mvccpb.KeyValue bytes` — the same bytes the loader
/// receives, so the hash identifies exactly what was loaded.
#[derive(Default)]
pub struct RecordHasher {
    hasher: Sha256,
    bytes: u64,
    records: u64,
}

impl RecordHasher {
    /// Adds the next record of the stream.
    pub fn add(&mut self, rev: &Revision, kv: &[u8]) {
        let mut frame = [0u8; 25];
        frame[0..8].copy_from_slice(&rev.main.to_be_bytes());
        frame[8..16].copy_from_slice(&rev.sub.to_be_bytes());
        frame[16] = u8::from(rev.tombstone);
        frame[17..25].copy_from_slice(&(kv.len() as u64).to_be_bytes());
        self.hasher.update(frame);
        self.hasher.update(kv);
        self.bytes += 25 + kv.len() as u64;
        self.records += 1;
    }

    /// The digest of the stream added so far.
    pub fn finish(self) -> StreamDigest {
        let digest = self.hasher.finalize();
        StreamDigest {
            sha256: crate::helpers::hex(&digest),
            bytes: self.bytes,
            records: self.records,
        }
    }
}

/// What [`RecordHasher::finish`] gives: the stream's SHA-256 (hex), its
/// bytes and its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDigest {
    pub sha256: String,
    pub bytes: u64,
    pub records: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_hash_frames_each_record() {
        let mut a = RecordHasher::default();
        a.add(
            &Revision {
                main: 5,
                sub: 0,
                tombstone: false,
            },
            b"ab",
        );
        let mut b = RecordHasher::default();
        b.add(
            &Revision {
                main: 5,
                sub: 0,
                tombstone: true,
            },
            b"ab",
        );
        let a = a.finish();
        let b = b.finish();
        assert_ne!(a.sha256, b.sha256);
        assert_eq!((a.bytes, a.records), (27, 1));
    }
}
