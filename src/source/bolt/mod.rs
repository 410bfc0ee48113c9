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
mod error;
pub mod meta;
pub mod page;
mod read_at;
mod stats;
mod tree;

#[cfg(test)]
mod tests;

pub use error::{BoltError, Damage, DamageReason};
pub use meta::{Meta, MetaProblem, MetaReport};
pub use page::{BranchElement, LeafElement, Page, PageHeader, PageKind, PageView};
pub use read_at::ReadAt;
pub use stats::{PageMap, PageSet, PageStats};
pub use tree::{Bucket, Entry, WalkReport};

/// Deepest page nesting a walk follows (B+tree levels plus nested buckets);
/// real trees are under 10 levels.
pub const MAX_DEPTH: usize = 64;

/// Largest page span (page plus overflow pages) the reader will read, so a
/// damaged overflow count cannot make it allocate gigabytes. etcd values are
/// limited by `--max-request-bytes` (1.5 MiB by default).
pub const MAX_PAGE_SPAN: u64 = 256 << 20;

/// Damage records kept per walk; further ones are only counted.
pub const MAX_DAMAGE_RECORDS: usize = 10_000;

/// An open bbolt file (read-only).
#[derive(Debug)]
pub struct BoltDb<R: ReadAt> {
    src: R,
    file_len: u64,
    reports: [MetaReport; 2],
    meta: Meta,
}

impl<R: ReadAt> BoltDb<R> {
    /// Open `src`, reading its meta pages.
    pub fn open(src: R) -> Result<Self, BoltError> {
        let len = src.len();
        Self::open_with_len(src, len)
    }

    /// Open `src` but read at most its first `len` bytes (for example to cut
    /// off an etcd snapshot's 32-byte SHA-256 trailer).
    pub fn open_with_len(src: R, len: u64) -> Result<Self, BoltError> {
        let file_len = len.min(src.len());
        let choice = meta::discover(&src, file_len)?;
        let meta = match &choice.reports[choice.chosen].outcome {
            Ok(meta) => *meta,
            // discover() only chooses a valid meta.
            Err(problem) => {
                return Err(BoltError::MetaUnusable {
                    page: choice.chosen as u64,
                    problem: problem.clone(),
                })
            }
        };
        Ok(Self {
            src,
            file_len,
            reports: choice.reports,
            meta,
        })
    }

    /// Page size in bytes.
    pub fn page_size(&self) -> u32 {
        self.meta.page_size
    }

    /// The meta in use.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// What was found for meta page 0 and meta page 1.
    pub fn meta_reports(&self) -> &[MetaReport; 2] {
        &self.reports
    }

    /// Use meta page `page_id` (0 or 1) instead: the other meta describes the
    /// previous transaction's tree, an older view of the data.
    pub fn use_meta(&mut self, page_id: u64) -> Result<&Meta, BoltError> {
        let report = usize::try_from(page_id)
            .ok()
            .and_then(|i| self.reports.get(i));
        match report.map(|r| &r.outcome) {
            Some(Ok(meta)) => {
                self.meta = *meta;
                Ok(&self.meta)
            }
            Some(Err(problem)) => Err(BoltError::MetaUnusable {
                page: page_id,
                problem: problem.clone(),
            }),
            None => Err(BoltError::MetaUnusable {
                page: page_id,
                problem: MetaProblem::NotFound,
            }),
        }
    }

    /// Readable length of the source (capped by `open_with_len`).
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The underlying source.
    pub fn source(&self) -> &R {
        &self.src
    }

    /// The root bucket (whose entries are the top-level buckets).
    pub fn root_bucket(&self) -> Bucket {
        Bucket::root_of(&self.meta)
    }

    /// Top-level buckets with the report of the walk over the root bucket.
    /// Never fails: damage is in the report.
    pub fn root_buckets(&self) -> (Vec<(Vec<u8>, Bucket)>, WalkReport) {
        tree::child_buckets(self, &self.root_bucket())
    }

    /// Names of the top-level buckets, in key order. Fails if the root
    /// bucket's tree is damaged (the list might be incomplete); use
    /// [`BoltDb::root_buckets`] for a partial list.
    pub fn root_bucket_names(&self) -> Result<Vec<Vec<u8>>, BoltError> {
        let (buckets, report) = self.root_buckets();
        if !report.damage.is_empty() {
            return Err(BoltError::BucketTreeDamaged {
                damage: report.damage,
            });
        }
        Ok(buckets.into_iter().map(|(name, _)| name).collect())
    }

    /// Top-level bucket `name`. A bucket that is found is returned even if
    /// other parts of the root tree are damaged; "not found" with damage is
    /// an error, since the bucket may be in the damaged part.
    pub fn bucket(&self, name: &[u8]) -> Result<Option<Bucket>, BoltError> {
        self.nested_bucket(&self.root_bucket(), name)
    }

    /// Bucket `name` directly inside `parent` (same rules as
    /// [`BoltDb::bucket`]).
    pub fn nested_bucket(&self, parent: &Bucket, name: &[u8]) -> Result<Option<Bucket>, BoltError> {
        let (buckets, report) = tree::child_buckets(self, parent);
        if let Some((_, bucket)) = buckets.into_iter().find(|(n, _)| n == name) {
            return Ok(Some(bucket));
        }
        if report.damage.is_empty() {
            Ok(None)
        } else {
            Err(BoltError::BucketTreeDamaged {
                damage: report.damage,
            })
        }
    }

    /// Visit every key/value of `bucket` in key order; nested-bucket entries
    /// are skipped (counted in [`WalkReport::nested_buckets`]). Slices point
    /// into a reused page buffer: copy what you keep.
    pub fn for_each<F: FnMut(&[u8], &[u8])>(&self, bucket: &Bucket, mut f: F) -> WalkReport {
        self.for_each_entry(bucket, |entry| {
            if !entry.is_bucket() {
                f(entry.key, entry.value);
            }
        })
    }

    /// Visit every entry of `bucket` in key order, nested-bucket entries
    /// included, with where each one lies in the file.
    pub fn for_each_entry<F: FnMut(&Entry<'_>)>(&self, bucket: &Bucket, mut f: F) -> WalkReport {
        let mut walk = tree::Walk::new(self, false);
        walk.walk_bucket(bucket, &mut f);
        walk.report
    }

    /// Page counts of the whole file (all buckets, freelist, free pages).
    pub fn page_stats(&self) -> PageStats {
        self.page_map().into_stats()
    }

    /// Reachability of every page, for carving free pages.
    pub fn page_map(&self) -> PageMap {
        PageMap::build(self)
    }

    /// Read page `id` with its overflow pages, validated: `id` below the
    /// HWM and inside the file, header id equal to `id`, flags exactly one
    /// kind, overflow within the HWM, the file and [`MAX_PAGE_SPAN`].
    pub fn read_page(&self, id: u64) -> Result<Page, BoltError> {
        let mut buf = Vec::new();
        let (header, kind, span) =
            self.read_page_into(id, &mut buf)
                .map_err(|reason| BoltError::Page {
                    page: id,
                    offset: self.page_offset(id),
                    reason,
                })?;
        buf.truncate(span);
        Ok(Page::new(id, self.page_offset(id), header, kind, buf))
    }

    /// Read the `page_size` bytes of page `id` with no checks but the file's
    /// end (ignores the HWM and the header): for carving free and stale pages.
    pub fn read_raw_page(&self, id: u64, buf: &mut Vec<u8>) -> Result<(), BoltError> {
        let page_size = self.page_size() as usize;
        let offset = self.page_offset(id);
        let end = offset.saturating_add(page_size as u64);
        if end > self.file_len {
            let reason = DamageReason::PastEndOfFile {
                end,
                file_len: self.file_len,
            };
            return Err(BoltError::Page {
                page: id,
                offset,
                reason,
            });
        }
        buf.resize(page_size, 0);
        self.src
            .read_exact_at(buf, offset)
            .map_err(|e| BoltError::Page {
                page: id,
                offset,
                reason: DamageReason::Read(e.to_string()),
            })
    }

    /// File offset of page `id` (saturating; meaningful only inside the file).
    pub fn page_offset(&self, id: u64) -> u64 {
        id.saturating_mul(u64::from(self.page_size()))
    }

    /// Pages that can be tracked: `min(HWM, whole pages in the file)`.
    pub(crate) fn page_limit(&self) -> u64 {
        self.meta
            .hwm
            .min(self.file_len / u64::from(self.page_size()))
    }

    /// Read page `id` (and its overflow pages) into `buf`, reusing its
    /// capacity; returns the header, kind and the span length in `buf`.
    pub(crate) fn read_page_into(
        &self,
        id: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(PageHeader, PageKind, usize), DamageReason> {
        let hwm = self.meta.hwm;
        if id >= hwm {
            return Err(DamageReason::BeyondHighWaterMark { hwm });
        }
        let page_size = u64::from(self.page_size());
        let past_end = |end: Option<u64>| DamageReason::PastEndOfFile {
            end: end.unwrap_or(u64::MAX),
            file_len: self.file_len,
        };
        let offset = id.checked_mul(page_size).ok_or_else(|| past_end(None))?;
        let first_end = offset.checked_add(page_size);
        if ends_past(first_end, self.file_len) {
            return Err(past_end(first_end));
        }
        // page_size <= 64 MiB, so it fits usize.
        let first_len = page_size as usize;
        if buf.len() < first_len {
            buf.resize(first_len, 0);
        }
        let read_err = |e: std::io::Error| DamageReason::Read(e.to_string());
        let first = buf
            .get_mut(..first_len)
            .ok_or_else(|| past_end(first_end))?;
        self.src.read_exact_at(first, offset).map_err(read_err)?;

        let header =
            PageHeader::parse(first).ok_or(DamageReason::PageTooShort { len: page_size })?;
        if header.id != id {
            return Err(DamageReason::HeaderIdMismatch { found: header.id });
        }
        let kind = header.kind().ok_or(DamageReason::BadFlags {
            flags: header.flags,
        })?;
        if header.overflow == 0 {
            return Ok((header, kind, first_len));
        }

        let overflow = header.overflow;
        let last = id.checked_add(u64::from(overflow));
        if !matches!(last, Some(last) if last < hwm) {
            return Err(DamageReason::OverflowBeyondHighWaterMark { overflow, hwm });
        }
        // (overflow + 1) × page_size <= 2^32 × 2^26: no u64 overflow.
        let span = (u64::from(overflow) + 1) * page_size;
        if span > MAX_PAGE_SPAN {
            return Err(DamageReason::SpanTooLarge {
                overflow,
                bytes: span,
                limit: MAX_PAGE_SPAN,
            });
        }
        let span_end = offset.checked_add(span);
        if ends_past(span_end, self.file_len) {
            return Err(past_end(span_end));
        }
        // span <= MAX_PAGE_SPAN fits usize on 64-bit and 32-bit targets.
        let span_len = usize::try_from(span).map_err(|_| past_end(span_end))?;
        if buf.len() < span_len {
            buf.resize(span_len, 0);
        }
        let rest = buf
            .get_mut(first_len..span_len)
            .ok_or_else(|| past_end(span_end))?;
        self.src
            .read_exact_at(rest, offset + page_size)
            .map_err(read_err)?;
        Ok((header, kind, span_len))
    }
}

/// Whether an end offset (`None`: the sum overflowed) lies past `limit`.
fn ends_past(end: Option<u64>, limit: u64) -> bool {
    end.map_or(true, |end| end > limit)
}
