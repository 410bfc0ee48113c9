//! Segment file names: `<seq:016x>-<index:016x>.wal` (see
//! [`layout`](super::layout)).

use std::fmt;

use super::layout::{SEGMENT_NAME_DIGITS, SEGMENT_SUFFIX};

/// What a segment's file name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentName {
    /// Position of the segment in the WAL; consecutive segments differ by one.
    pub seq: u64,
    /// Raft index of the first entry the segment may hold.
    pub index: u64,
}

impl SegmentName {
    /// Parses an exact `%016x-%016x.wal` name (lower- or upper-case hex);
    /// anything else is `None`.
    pub fn parse(name: &str) -> Option<SegmentName> {
        let stem = name.strip_suffix(SEGMENT_SUFFIX)?;
        let (seq, index) = stem.split_once('-')?;
        Some(SegmentName {
            seq: parse_hex(seq)?,
            index: parse_hex(index)?,
        })
    }
}

fn parse_hex(digits: &str) -> Option<u64> {
    if digits.len() != SEGMENT_NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}-{:016x}{SEGMENT_SUFFIX}", self.seq, self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// etcd's names parse and print back; near misses do not parse.
    #[test]
    fn parses_only_exact_names() {
        let n = SegmentName::parse("0000000000000002-00000000000003e9.wal").unwrap();
        assert_eq!(
            n,
            SegmentName {
                seq: 2,
                index: 1001
            }
        );
        assert_eq!(n.to_string(), "0000000000000002-00000000000003e9.wal");
        for bad in [
            "0.tmp",
            "1.tmp",
            "0000000000000002-00000000000003e9.wal.broken",
            "000000000000002-00000000000003e9.wal",
            "0000000000000002_00000000000003e9.wal",
            "000000000000000g-00000000000003e9.wal",
            "+000000000000002-00000000000003e9.wal",
            ".wal",
        ] {
            assert_eq!(SegmentName::parse(bad), None, "{bad}");
        }
    }
}
