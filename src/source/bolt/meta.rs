//! bbolt meta pages: parsing, validation, page-size discovery, choice of the
//! meta in use.
//!
//! Layout and rules follow etcd-io/bbolt `internal/common/meta.go` (struct,
//! `Validate`, `Sum64`) and `db.go` (`getPageSize`, `getPageSizeFromSecondMeta`,
//! `meta()`); see the table in the parent module's documentation, and
//! [`super::layout`] for the field offsets. Beyond bbolt's own checks (magic,
//! version, checksum) a meta is rejected when its page size is not a power of
//! two in [512 B, 64 MiB], when its root or freelist page is outside
//! `[2, pgid)` (bbolt's `Meta.Write` refuses to write such a meta), or when
//! its page size disagrees with where it was found.

use std::fmt;

use super::damage::MetaProblem;
use super::error::BoltError;
use super::layout::{
    MAGIC, META_CHECKSUMMED_LEN, META_CHECKSUM_AT, META_FLAGS_AT, META_FREELIST_AT, META_MAGIC_AT,
    META_PAGE_SIZE_AT, META_PGID_AT, META_ROOT_AT, META_SEQUENCE_AT, META_STRUCT_AT,
    META_STRUCT_LEN, META_TXID_AT, META_VERSION_AT, NO_FREELIST, VERSION,
};
use super::read_at::ReadAt;

/// Smallest page size accepted.
pub const MIN_PAGE_SIZE: u32 = 512;
/// Largest page size accepted (64 MiB).
pub const MAX_PAGE_SIZE: u32 = 64 << 20;

/// A valid meta page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// 0 or 1.
    pub page_id: u64,
    /// File offset of the page holding this meta.
    pub offset: u64,
    /// Page size in bytes.
    pub page_size: u32,
    /// Meta flags (0 in every file seen).
    pub flags: u32,
    /// Page id of the root bucket's root page.
    pub root: u64,
    /// Sequence of the root bucket.
    pub root_sequence: u64,
    /// Page id of the persisted freelist, `None` for `PgidNoFreelist`.
    pub freelist: Option<u64>,
    /// High-water mark: number of pages in use (`pgid`); pages `>=` it are
    /// not part of this transaction's file.
    pub hwm: u64,
    /// Transaction id that wrote this meta.
    pub txid: u64,
    /// Stored FNV-1a-64 checksum.
    pub checksum: u64,
}

/// What was found for one of the two meta pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaReport {
    /// 0 or 1.
    pub page_id: u64,
    /// File offset examined; `None` when meta 1 was searched and not found.
    pub offset: Option<u64>,
    /// The valid meta, or why it is invalid.
    pub outcome: Result<Meta, MetaProblem>,
}

impl MetaReport {
    /// The meta, if valid.
    pub fn meta(&self) -> Option<&Meta> {
        self.outcome.as_ref().ok()
    }

    /// The problem, if invalid.
    pub fn problem(&self) -> Option<&MetaProblem> {
        self.outcome.as_ref().err()
    }
}

impl fmt::Display for MetaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "meta page {}", self.page_id)?;
        if let Some(offset) = self.offset {
            write!(f, " at offset {offset}")?;
        }
        match &self.outcome {
            Ok(m) => write!(
                f,
                ": valid (txid {}, root page {}, high-water mark {}, page size {})",
                m.txid, m.root, m.hwm, m.page_size
            ),
            Err(problem) => write!(f, ": damaged: {problem}"),
        }
    }
}

/// FNV-1a 64-bit hash, as Go's `hash/fnv.New64a` used by `Meta.Sum64`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(PRIME)
    })
}

/// Checksum of a meta struct (the 64 bytes at page offset 16): FNV-1a over
/// its first 56 bytes. Exposed so test images can be resealed after editing.
pub fn meta_checksum(meta_struct: &[u8; META_STRUCT_LEN]) -> u64 {
    fnv1a64(&meta_struct[..META_CHECKSUMMED_LEN])
}

fn u32_at(b: &[u8; META_STRUCT_LEN], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(raw)
}

fn u64_at(b: &[u8; META_STRUCT_LEN], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(raw)
}

fn sane_page_size(size: u32) -> bool {
    size.is_power_of_two() && (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&size)
}

/// Validate the 64-byte meta struct of the page at `page_offset`.
fn parse_meta(
    raw: &[u8; META_STRUCT_LEN],
    page_id: u64,
    page_offset: u64,
) -> Result<Meta, MetaProblem> {
    let magic = u32_at(raw, META_MAGIC_AT);
    if magic != MAGIC {
        return Err(if magic.swap_bytes() == MAGIC {
            MetaProblem::BigEndian
        } else {
            MetaProblem::BadMagic { found: magic }
        });
    }
    let version = u32_at(raw, META_VERSION_AT);
    if version != VERSION {
        return Err(MetaProblem::BadVersion { found: version });
    }
    let stored = u64_at(raw, META_CHECKSUM_AT);
    let computed = meta_checksum(raw);
    if stored != computed {
        return Err(MetaProblem::ChecksumMismatch { stored, computed });
    }
    let page_size = u32_at(raw, META_PAGE_SIZE_AT);
    if !sane_page_size(page_size) {
        return Err(MetaProblem::BadPageSize { found: page_size });
    }
    let root = u64_at(raw, META_ROOT_AT);
    let freelist = u64_at(raw, META_FREELIST_AT);
    let hwm = u64_at(raw, META_PGID_AT);
    if root < 2 || root >= hwm {
        return Err(MetaProblem::RootOutOfRange { root, hwm });
    }
    if freelist != NO_FREELIST && (freelist < 2 || freelist >= hwm) {
        return Err(MetaProblem::FreelistOutOfRange { freelist, hwm });
    }
    Ok(Meta {
        page_id,
        offset: page_offset,
        page_size,
        flags: u32_at(raw, META_FLAGS_AT),
        root,
        root_sequence: u64_at(raw, META_SEQUENCE_AT),
        freelist: (freelist != NO_FREELIST).then_some(freelist),
        hwm,
        txid: u64_at(raw, META_TXID_AT),
        checksum: stored,
    })
}

/// Read and validate the meta struct of a page at `page_offset`.
fn read_meta<R: ReadAt + ?Sized>(
    src: &R,
    file_len: u64,
    page_id: u64,
    page_offset: u64,
) -> Result<Meta, MetaProblem> {
    let struct_at = page_offset.saturating_add(META_STRUCT_AT as u64);
    let needed = struct_at.saturating_add(META_STRUCT_LEN as u64);
    if needed > file_len {
        return Err(MetaProblem::Truncated {
            offset: page_offset,
            needed,
            file_len,
        });
    }
    let mut raw = [0u8; META_STRUCT_LEN];
    src.read_exact_at(&mut raw, struct_at)
        .map_err(|e| MetaProblem::Read {
            offset: page_offset,
            message: e.to_string(),
        })?;
    parse_meta(&raw, page_id, page_offset)
}

/// Offsets at which meta 1 is searched when meta 0 gives no page size:
/// bbolt probes `1024 << i` for i in 0..=14; this reader also probes 512 and
/// goes up to 64 MiB to match the page sizes it accepts.
fn meta1_probe_offsets() -> impl Iterator<Item = u64> {
    std::iter::once(u64::from(MIN_PAGE_SIZE)).chain((0..=16).map(|i| 1024u64 << i))
}

/// Outcome of examining both meta pages.
#[derive(Debug, Clone)]
pub(crate) struct MetaChoice {
    pub reports: [MetaReport; 2],
    /// Index (0/1) of the meta in use.
    pub chosen: usize,
}

/// Examine both meta pages as bbolt does and pick the valid one with the
/// higher txid (meta 0 on a tie, as `db.meta()`).
pub(crate) fn discover<R: ReadAt + ?Sized>(
    src: &R,
    file_len: u64,
) -> Result<MetaChoice, BoltError> {
    let report0 = MetaReport {
        page_id: 0,
        offset: Some(0),
        outcome: read_meta(src, file_len, 0, 0),
    };
    let report1 = match &report0.outcome {
        Ok(meta0) => {
            let offset = u64::from(meta0.page_size);
            let outcome = read_meta(src, file_len, 1, offset).and_then(|m| {
                if m.page_size == meta0.page_size {
                    Ok(m)
                } else {
                    Err(MetaProblem::PageSizeMismatch {
                        found: m.page_size,
                        expected: meta0.page_size,
                    })
                }
            });
            MetaReport {
                page_id: 1,
                offset: Some(offset),
                outcome,
            }
        }
        Err(_) => search_meta1(src, file_len),
    };

    let chosen = match (&report0.outcome, &report1.outcome) {
        (Ok(m0), Ok(m1)) => usize::from(m1.txid > m0.txid),
        (Ok(_), Err(_)) => 0,
        (Err(_), Ok(_)) => 1,
        (Err(p0), Err(p1)) => {
            if let Some(report) = [&report0, &report1]
                .into_iter()
                .find(|r| r.problem() == Some(&MetaProblem::BigEndian))
            {
                return Err(BoltError::BigEndian {
                    offset: report.offset.unwrap_or(0) + META_STRUCT_AT as u64,
                });
            }
            return Err(BoltError::NoValidMeta {
                meta0: p0.clone(),
                meta1: p1.clone(),
            });
        }
    };
    Ok(MetaChoice {
        reports: [report0, report1],
        chosen,
    })
}

/// Meta 0 gave no page size: look for meta 1 at every plausible page size.
/// A valid meta found at offset N must say page size N. If none is valid,
/// report the first probe that at least had the magic (the most telling
/// problem, e.g. a checksum mismatch), else `NotFound`.
fn search_meta1<R: ReadAt + ?Sized>(src: &R, file_len: u64) -> MetaReport {
    let mut first_telling: Option<(u64, MetaProblem)> = None;
    for offset in meta1_probe_offsets() {
        if offset.saturating_add((META_STRUCT_AT + META_STRUCT_LEN) as u64) > file_len {
            break;
        }
        let outcome = read_meta(src, file_len, 1, offset).and_then(|m| {
            if u64::from(m.page_size) == offset {
                Ok(m)
            } else {
                // offset is a probe value <= 64 MiB, so it fits in u32.
                let expected = u32::try_from(offset).unwrap_or(u32::MAX);
                Err(MetaProblem::PageSizeMismatch {
                    found: m.page_size,
                    expected,
                })
            }
        });
        match outcome {
            Ok(meta) => {
                return MetaReport {
                    page_id: 1,
                    offset: Some(offset),
                    outcome: Ok(meta),
                }
            }
            Err(MetaProblem::BadMagic { .. }) | Err(MetaProblem::Truncated { .. }) => {}
            Err(problem) => {
                if first_telling.is_none() {
                    first_telling = Some((offset, problem));
                }
            }
        }
    }
    match first_telling {
        Some((offset, problem)) => MetaReport {
            page_id: 1,
            offset: Some(offset),
            outcome: Err(problem),
        },
        None => MetaReport {
            page_id: 1,
            offset: None,
            outcome: Err(MetaProblem::NotFound),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_reference_vectors() {
        // Reference values of Go's hash/fnv New64a.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn auger_fixture_meta_checksums_verify() {
        // Meta 0 of etcd-auger-testdata/boltdb/db, bytes 16..80 (see module docs).
        let raw: [u8; 64] = [
            0xed, 0xda, 0x0c, 0xed, 0x02, 0, 0, 0, 0x00, 0x10, 0, 0, 0, 0, 0,
            0, // magic, version, psize, flags
            0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // root, sequence
            0x02, 0, 0, 0, 0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, // freelist, pgid
            0x02, 0, 0, 0, 0, 0, 0, 0, 0xca, 0x48, 0xc5, 0xde, 0xb4, 0xd0, 0xfd,
            0x39, // txid, checksum
        ];
        let meta = parse_meta(&raw, 0, 0).unwrap();
        assert_eq!(meta.page_size, 4096);
        assert_eq!(
            (meta.root, meta.freelist, meta.hwm, meta.txid),
            (4, Some(2), 5, 2)
        );

        let mut big_endian = raw;
        big_endian[..4].reverse();
        assert_eq!(parse_meta(&big_endian, 0, 0), Err(MetaProblem::BigEndian));

        let mut bad_version = raw;
        bad_version[4] = 1;
        assert_eq!(
            parse_meta(&bad_version, 0, 0),
            Err(MetaProblem::BadVersion { found: 1 })
        );
    }
}
