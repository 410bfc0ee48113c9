//! [`BoltDb`], the reader's public face: open a file, choose the meta, look
//! up buckets, walk them, count pages.
//!
//! Opening examines both meta pages (`meta.rs`) and fails only when neither
//! is usable; everything after that reports damage instead of failing where
//! it can. Page reads go through the checked [`PageReader`] (`reader.rs`),
//! walks through `tree.rs`, page accounting through `stats.rs`.

use super::damage::MetaProblem;
use super::error::BoltError;
use super::meta::{self, Meta, MetaReport};
use super::page::Page;
use super::read_at::ReadAt;
use super::reader::PageReader;
use super::stats::{PageMap, PageStats};
use super::tree::{self, Bucket, Entry, Walk, WalkReport};

/// An open bbolt file (read-only).
#[derive(Debug)]
pub struct BoltDb<R: ReadAt> {
    pages: PageReader<R>,
    reports: [MetaReport; 2],
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
            pages: PageReader::new(src, file_len, meta),
            reports: choice.reports,
        })
    }

    /// Page size in bytes.
    pub fn page_size(&self) -> u32 {
        self.pages.page_size()
    }

    /// The meta in use.
    pub fn meta(&self) -> &Meta {
        self.pages.meta()
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
                self.pages.set_meta(*meta);
                Ok(self.pages.meta())
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
        self.pages.file_len()
    }

    /// The underlying source.
    pub fn source(&self) -> &R {
        self.pages.source()
    }

    /// The root bucket (whose entries are the top-level buckets).
    pub fn root_bucket(&self) -> Bucket {
        Bucket::root_of(self.meta())
    }

    /// Top-level buckets with the report of the walk over the root bucket.
    /// Never fails: damage is in the report.
    pub fn root_buckets(&self) -> (Vec<(Vec<u8>, Bucket)>, WalkReport) {
        tree::child_buckets(&self.pages, &self.root_bucket())
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
        let (buckets, report) = tree::child_buckets(&self.pages, parent);
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
        let mut walk = Walk::new(&self.pages, false);
        walk.walk_bucket(bucket, &mut f);
        walk.report
    }

    /// Page counts of the whole file (all buckets, freelist, free pages).
    pub fn page_stats(&self) -> PageStats {
        self.page_map().into_stats()
    }

    /// Reachability of every page, for carving free pages.
    pub fn page_map(&self) -> PageMap {
        PageMap::build(&self.pages)
    }

    /// Read page `id` with its overflow pages, validated: `id` below the
    /// HWM and inside the file, header id equal to `id`, flags exactly one
    /// kind, overflow within the HWM, the file and
    /// [`MAX_PAGE_SPAN`](super::MAX_PAGE_SPAN).
    pub fn read_page(&self, id: u64) -> Result<Page, BoltError> {
        self.pages.read_page(id)
    }

    /// Read the `page_size` bytes of page `id` with no checks but the file's
    /// end (ignores the HWM and the header): for carving free and stale pages.
    pub fn read_raw_page(&self, id: u64, buf: &mut Vec<u8>) -> Result<(), BoltError> {
        self.pages.read_raw_page(id, buf)
    }

    /// File offset of page `id` (saturating; meaningful only inside the file).
    pub fn page_offset(&self, id: u64) -> u64 {
        self.pages.page_offset(id)
    }
}
