//! The bbolt on-disk byte layout, named once: the page header and page kinds,
//! element sizes, the meta struct, the bucket header.
//!
//! Each value is taken from etcd-io/bbolt's Go sources, named on the constant;
//! the parent module's documentation shows the same facts as tables. The
//! readers and the test-image builder take their offsets and sizes from here,
//! so a layout fact is written down once.

use std::fmt;

// Pages: `internal/common/page.go`.

/// Size of the page header (`id u64, flags u16, count u16, overflow u32`;
/// `PageHeaderSize` in `internal/common/page.go`).
pub const PAGE_HEADER_SIZE: usize = 16;
/// Page offset of the header's `id` (u64).
pub const PAGE_ID_AT: usize = 0;
/// Page offset of the header's `flags` (u16).
pub const PAGE_FLAGS_AT: usize = 8;
/// Page offset of the header's `count` (u16).
pub const PAGE_COUNT_AT: usize = 10;
/// Page offset of the header's `overflow` (u32).
pub const PAGE_OVERFLOW_AT: usize = 12;
/// Size of a branch or leaf element (`BranchPageElementSize`,
/// `LeafPageElementSize` in `internal/common/page.go`).
pub const ELEMENT_SIZE: usize = 16;
/// Page flag of a branch page (`BranchPageFlag`).
pub const BRANCH_PAGE_FLAG: u16 = 0x01;
/// Page flag of a leaf page (`LeafPageFlag`).
pub const LEAF_PAGE_FLAG: u16 = 0x02;
/// Page flag of a meta page (`MetaPageFlag`).
pub const META_PAGE_FLAG: u16 = 0x04;
/// Page flag of a freelist page (`FreelistPageFlag`).
pub const FREELIST_PAGE_FLAG: u16 = 0x10;
/// Leaf element flag: the value is a nested bucket (`BucketLeafFlag` in
/// `internal/common/page.go`).
pub const BUCKET_LEAF_FLAG: u32 = 0x01;
/// Freelist `count` value meaning "the real count is the first u64"
/// (`FreelistPageCount` in `internal/common/page.go`).
pub const FREELIST_COUNT_OVERFLOW: u16 = 0xFFFF;
/// Size of one page id (`Pgid`, u64) in a freelist page's id array.
pub const PGID_SIZE: usize = 8;

/// Page offset of element `index`: the element array follows the header.
pub const fn element_offset(index: u16) -> u64 {
    PAGE_HEADER_SIZE as u64 + ELEMENT_SIZE as u64 * index as u64
}

/// The four page kinds; a page's flags must be exactly one of them
/// (`IsValidPage` in `internal/common/page.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageKind {
    /// Interior B+tree node: keys and child page ids.
    Branch,
    /// B+tree leaf: keys and values (or nested bucket headers).
    Leaf,
    /// Meta page (pages 0 and 1).
    Meta,
    /// Persisted freelist.
    Freelist,
}

impl PageKind {
    /// Kind for exactly one known flag, else `None`.
    pub fn from_flags(flags: u16) -> Option<Self> {
        match flags {
            BRANCH_PAGE_FLAG => Some(Self::Branch),
            LEAF_PAGE_FLAG => Some(Self::Leaf),
            META_PAGE_FLAG => Some(Self::Meta),
            FREELIST_PAGE_FLAG => Some(Self::Freelist),
            _ => None,
        }
    }

    /// Lower-case name as bbolt's `Typ()` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Branch => "branch",
            Self::Leaf => "leaf",
            Self::Meta => "meta",
            Self::Freelist => "freelist",
        }
    }
}

impl fmt::Display for PageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// Meta pages: `internal/common/meta.go`, `internal/common/types.go`.

/// `Magic` in `internal/common/types.go`.
pub const MAGIC: u32 = 0xED0C_DAED;
/// `Version` in `internal/common/types.go`: the only on-disk version.
pub const VERSION: u32 = 2;
/// `PgidNoFreelist`: the freelist is not persisted (`NoFreelistSync`, as etcd
/// runs bbolt on Linux).
pub const NO_FREELIST: u64 = u64::MAX;
/// Page offset of the meta struct: right after the page header.
pub const META_STRUCT_AT: usize = PAGE_HEADER_SIZE;
/// Size of the meta struct (`Meta` in `internal/common/meta.go`):
/// 4 × u32 + 6 × u64.
pub const META_STRUCT_LEN: usize = 64;
/// Offset of `magic` (u32) in the meta struct.
pub const META_MAGIC_AT: usize = 0;
/// Offset of `version` (u32) in the meta struct.
pub const META_VERSION_AT: usize = 4;
/// Offset of `pageSize` (u32) in the meta struct.
pub const META_PAGE_SIZE_AT: usize = 8;
/// Offset of `flags` (u32) in the meta struct.
pub const META_FLAGS_AT: usize = 12;
/// Offset of `root.root` (u64, the root bucket's root page) in the meta struct.
pub const META_ROOT_AT: usize = 16;
/// Offset of `root.sequence` (u64) in the meta struct.
pub const META_SEQUENCE_AT: usize = 24;
/// Offset of `freelist` (u64) in the meta struct.
pub const META_FREELIST_AT: usize = 32;
/// Offset of `pgid` (u64, the high-water mark) in the meta struct.
pub const META_PGID_AT: usize = 40;
/// Offset of `txid` (u64) in the meta struct.
pub const META_TXID_AT: usize = 48;
/// Offset of `checksum` (u64) in the meta struct.
pub const META_CHECKSUM_AT: usize = 56;
/// The checksum covers the struct bytes before the checksum field (`Sum64`).
pub const META_CHECKSUMMED_LEN: usize = META_CHECKSUM_AT;

// Buckets: `internal/common/bucket.go`, `bucket.go`.

/// Size of the bucket header (`InBucket { root u64, sequence u64 }`) at the
/// start of a bucket entry's value; an inline bucket's page follows it.
pub const BUCKET_HEADER_SIZE: usize = 16;
/// Offset of `root` (u64; 0 = inline bucket) in the bucket header.
pub const BUCKET_ROOT_AT: usize = 0;
/// Offset of `sequence` (u64) in the bucket header.
pub const BUCKET_SEQUENCE_AT: usize = 8;
