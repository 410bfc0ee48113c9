//! Read-only, damage-tolerant reader for bbolt files (etcd's `member/snap/db`
//! and `etcdctl snapshot save` output).
//!
//! The evidence file is never mapped, locked or written: every access is a
//! positioned read ([`ReadAt`]) of one page plus its overflow pages, so it
//! works on the live file of a running etcd and its memory does not grow with
//! the file. Nothing in the file can make it panic or allocate more than a
//! page span (bounded by the file and [`MAX_PAGE_SPAN`]); damage is reported,
//! not fatal: a walk records a [`Damage`] and goes on with the rest of the
//! tree.
//!
//! The files, bottom up: `layout` names the byte layout once; `page` and
//! `meta` parse pages and meta pages; `reader` does the checked page reads;
//! `tree` walks buckets; `stats` accounts for every page; `db` is
//! [`BoltDb`]. Fatal errors ([`BoltError`], `error`) are kept apart from the
//! per-page findings a walk goes on after ([`Damage`], [`MetaProblem`],
//! `damage`).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use evforensics::source::bolt::BoltDb;
//! let db = BoltDb::open(std::fs::File::open("member/snap/db")?)?;
//! for report in db.meta_reports() {
//!     eprintln!("{report}");
//! }
//! if let Some(keys) = db.bucket(b"key")? {
//!     let walk = db.for_each(&keys, |key, value| { /* decode */ });
//!     for damage in &walk.damage {
//!         eprintln!("{damage}");
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # On-disk format
//!
//! Facts from etcd-io/bbolt (`internal/common/*.go`, `db.go`, `bucket.go`,
//! `tx.go`), checked against real etcd files in `fixtures/third_party/`.
//! All integers are in the writer's byte order (unsafe struct casts); every
//! etcd platform in use is little-endian. A big-endian file has the magic
//! byte-swapped and is refused with [`BoltError::BigEndian`].
//!
//! ## Pages — `internal/common/page.go`
//!
//! The file is an array of pages of `page_size` bytes; page `id` starts at
//! `id × page_size`. Each page starts with a 16-byte header:
//!
//! | offset | field      | type | notes                                              |
//! |--------|------------|------|----------------------------------------------------|
//! | 0      | `id`       | u64  | must equal the page's position (`FastCheck`)       |
//! | 8      | `flags`    | u16  | exactly one of branch 0x01, leaf 0x02, meta 0x04, freelist 0x10 (`IsValidPage`) |
//! | 10     | `count`    | u16  | elements (freelist: ids; 0xFFFF = count in first u64) |
//! | 12     | `overflow` | u32  | the page continues over `overflow` more pages     |
//!
//! A page with `overflow = n` occupies pages `id..=id+n`; only the first has
//! a header. Elements (16 bytes each) follow the header; key and value bytes
//! follow the element array:
//!
//! | element | +0 | +4 | +8 | +12 |
//! |---------|----|----|----|-----|
//! | branch (`branchPageElement`) | `pos` u32 | `ksize` u32 | child `pgid` u64 (two words) | |
//! | leaf (`leafPageElement`)     | `flags` u32 | `pos` u32 | `ksize` u32 | `vsize` u32 |
//!
//! `pos` is relative to the element's own address (`inode.go`
//! `WriteInodeToPage`): key = `element + pos .. + ksize`, the value follows the
//! key. A branch key is the first key of its child. Leaf element flag 0x01
//! (`BucketLeafFlag`) marks a nested bucket.
//!
//! ## Meta pages — `internal/common/meta.go`, `db.go`
//!
//! Pages 0 and 1; the meta struct follows the page header:
//!
//! | page offset | field | type | notes |
//! |-------------|-------|------|-------|
//! | 16 | `magic`    | u32 | `0xED0CDAED` (`types.go`) |
//! | 20 | `version`  | u32 | 2 |
//! | 24 | `pageSize` | u32 | |
//! | 28 | `flags`    | u32 | 0 |
//! | 32 | `root.root` | u64 | root page of the root bucket |
//! | 40 | `root.sequence` | u64 | |
//! | 48 | `freelist` | u64 | freelist page, `u64::MAX` = not persisted |
//! | 56 | `pgid`     | u64 | high-water mark (HWM): pages in use |
//! | 64 | `txid`     | u64 | commit writes page `txid % 2` (`Meta.Write`) |
//! | 72 | `checksum` | u64 | FNV-1a-64 of page bytes 16..72 (`Sum64`) |
//!
//! `Validate` checks magic, version, checksum; `db.meta()` uses the valid meta
//! with the higher txid (meta 0 on a tie). The page size is read from meta 0;
//! if meta 0 is invalid, meta 1 is searched at offsets `1024 << i`
//! (`getPageSizeFromSecondMeta`). This reader also probes 512 and up to 64 MiB,
//! and requires a meta found at offset N to say page size N. See
//! [`meta`] for the extra sanity checks.
//!
//! ## Buckets — `bucket.go`, `internal/common/bucket.go`
//!
//! A bucket entry's value starts with `InBucket { root u64, sequence u64 }`.
//! `root == 0` means an inline bucket: a complete leaf page (16-byte header
//! with id 0, elements, data) follows the 16 bytes inside the value
//! (`openBucket`); bbolt inlines a bucket that is a single leaf without
//! sub-buckets and at most `page_size / 4` bytes (`inlineable`). The meta's
//! `root` is the root page of the root bucket, whose entries are the
//! top-level buckets (etcd: `key`, `meta`, `lease`, `members`, …).
//!
//! ## Free pages — `db.go` `freepages()`, `tx.go`, `internal/freelist`
//!
//! Pages are copy-on-write: a commit writes changed pages to new ids and
//! frees the old ones; only metas are written in place. With a persisted
//! freelist (flags 0x10) its ids are the free and pending pages. etcd on
//! Linux runs with `NoFreelistSync` (meta `freelist = u64::MAX`), and bbolt
//! then computes free pages as `[2, HWM) − pages reachable from meta.root`
//! (every bucket's pages and their overflow pages), which is what
//! [`BoltDb::page_stats`] does. `tx.WriteTo` (etcd snapshots) copies pages
//! `2..HWM` byte for byte, free pages included, so free pages keep stale data.
//! Bytes past `HWM × page_size` (file growth, an etcd snapshot's SHA-256
//! trailer) are not part of the database.

pub mod builder;
mod damage;
mod db;
mod error;
pub mod layout;
pub mod meta;
pub mod page;
mod page_set;
mod read_at;
mod reader;
mod stats;
mod tree;

#[cfg(test)]
mod tests;

pub use damage::{Damage, DamageReason, MetaProblem};
pub use db::BoltDb;
pub use error::BoltError;
pub use layout::PageKind;
pub use meta::{Meta, MetaReport};
pub use page::{BranchElement, LeafElement, Page, PageHeader, PageView};
pub use page_set::PageSet;
pub use read_at::ReadAt;
pub use reader::MAX_PAGE_SPAN;
pub use stats::{PageMap, PageStats};
pub use tree::{Bucket, Entry, WalkReport, MAX_DAMAGE_RECORDS, MAX_DEPTH};
