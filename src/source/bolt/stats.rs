//! Page accounting: which pages the tree reaches, which are free, and counts
//! per kind.
//!
//! Free pages are computed the way bbolt does when the freelist is not
//! persisted (etcd runs with `NoFreelistSync`; bbolt `db.go` `freepages()`):
//! every id in `[2, HWM)` that no walk from the meta's root reaches. Pages
//! reached include every page of a tree and its overflow pages, in every
//! bucket (nested and inline-holding ones too). A persisted freelist page (and
//! its overflow) is neither free nor tree; its listed ids are compared with the
//! computed set (bbolt `freelist/shared.go` `Write`/`Read`).
//!
//! When a walk hits damage, the subtree below the damaged pointer is not
//! reached, so its pages count as free: `free` is then an upper bound.

use super::damage::{Damage, DamageReason};
use super::error::BoltError;
use super::layout::{PageKind, FREELIST_COUNT_OVERFLOW, PAGE_HEADER_SIZE, PGID_SIZE};
use super::page_set::PageSet;
use super::read_at::ReadAt;
use super::reader::PageReader;
use super::tree::{Bucket, Walk};

/// Page counts of the tree in use (see the module docs for how free pages
/// are computed). Counts cover ids below `min(hwm, file_pages)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageStats {
    /// Page size in bytes.
    pub page_size: u32,
    /// High-water mark of the meta in use.
    pub hwm: u64,
    /// Whole pages in the readable length of the file.
    pub file_pages: u64,
    /// Meta pages (2).
    pub meta: u64,
    /// Branch pages reached from the root.
    pub branch: u64,
    /// Leaf pages reached from the root.
    pub leaf: u64,
    /// Overflow pages of reached branch/leaf pages.
    pub overflow: u64,
    /// The persisted freelist page and its overflow pages (0 with
    /// `NoFreelistSync`).
    pub freelist: u64,
    /// Pages in `[2, HWM)` not reached from the root and not the freelist.
    pub free: u64,
    /// Pages referenced by the tree that could not be read or were of the
    /// wrong kind ("unknown").
    pub unreadable: u64,
    /// Ids listed in the persisted freelist; `None` if not persisted.
    pub freelist_listed: Option<u64>,
    /// Free pages not listed in the persisted freelist (bbolt calls these
    /// "unreachable unfreed"); 0 when no freelist is persisted.
    pub free_unlisted: u64,
    /// Ids listed as free that the tree reaches (corruption).
    pub listed_but_reachable: u64,
    /// Pages in `[file_pages, HWM)`: the file is shorter than the meta says.
    pub past_eof: u64,
    /// Whole pages in the file at or past the HWM (preallocated or stale).
    pub beyond_hwm: u64,
    /// Buckets with their own root page, the root bucket included.
    pub buckets: u64,
    /// Inline buckets.
    pub inline_buckets: u64,
    /// Key/value entries in all buckets.
    pub entries: u64,
    /// Damage found while walking all buckets and the freelist.
    pub damage: Vec<Damage>,
    /// Damage records dropped after the first `MAX_DAMAGE_RECORDS`.
    pub damage_suppressed: u64,
}

/// Reachability of every page of the meta in use, with [`PageStats`].
#[derive(Debug, Clone)]
pub struct PageMap {
    stats: PageStats,
    /// Tree pages and their overflow pages, plus the freelist span.
    in_use: PageSet,
    /// Ids in the persisted freelist.
    listed: PageSet,
}

impl PageMap {
    /// Walk every bucket from the meta's root and the persisted freelist.
    pub(crate) fn build<R: ReadAt>(pages: &PageReader<R>) -> Self {
        let meta = *pages.meta();
        let limit = pages.page_limit();
        let mut walk = Walk::new(pages, true);
        walk.walk_bucket(&Bucket::root_of(&meta), &mut |_| {});
        let (mut report, counts, mut in_use) = walk.into_parts();
        let mut record = |page: u64, offset: u64, reason: DamageReason| {
            report.record(Damage {
                page,
                offset,
                reason,
            });
        };

        let mut listed = PageSet::new(limit);
        let mut freelist_pages = 0u64;
        let mut freelist_listed = None;
        if let Some(freelist_id) = meta.freelist {
            let offset = pages.page_offset(freelist_id);
            match pages.read_page(freelist_id) {
                Err(error) => record(freelist_id, offset, page_error_reason(error)),
                Ok(page) if page.kind() != PageKind::Freelist => record(
                    freelist_id,
                    offset,
                    DamageReason::UnexpectedKind {
                        expected: "a freelist page",
                        found: page.kind(),
                    },
                ),
                Ok(page) => {
                    for id in freelist_id..=freelist_id + u64::from(page.header().overflow) {
                        if in_use.insert(id) {
                            freelist_pages += 1;
                        } else {
                            record(
                                freelist_id,
                                offset,
                                DamageReason::OverflowOverlaps { overlapped: id },
                            );
                        }
                    }
                    // With count 0xFFFF the ids start after the real count.
                    let id_offset = if page.header().count == FREELIST_COUNT_OVERFLOW {
                        (PAGE_HEADER_SIZE + PGID_SIZE) as u64
                    } else {
                        PAGE_HEADER_SIZE as u64
                    };
                    match page.view().freelist_ids() {
                        Err(reason) => record(freelist_id, offset, reason),
                        Ok(ids) => {
                            let mut count = 0u64;
                            for (index, id) in ids.enumerate() {
                                count += 1;
                                let index = index as u64;
                                let reason = if id < 2 || id >= meta.hwm {
                                    DamageReason::FreelistIdOutOfRange {
                                        index,
                                        listed: id,
                                        hwm: meta.hwm,
                                    }
                                } else if in_use.contains(id) {
                                    listed.insert(id);
                                    DamageReason::FreelistIdInUse { index, listed: id }
                                } else if !listed.insert(id) && id < limit {
                                    DamageReason::FreelistIdDuplicate { index, listed: id }
                                } else {
                                    continue;
                                };
                                let at = offset + id_offset + PGID_SIZE as u64 * index;
                                record(freelist_id, at, reason);
                            }
                            freelist_listed = Some(count);
                        }
                    }
                }
            }
        }

        let mut free = 0u64;
        let mut free_unlisted = 0u64;
        let mut listed_but_reachable = 0u64;
        for id in 2..limit {
            let used = in_use.contains(id);
            let is_listed = listed.contains(id);
            if !used {
                free += 1;
                if freelist_listed.is_some() && !is_listed {
                    free_unlisted += 1;
                }
            } else if is_listed {
                listed_but_reachable += 1;
            }
        }

        let file_pages = pages.file_len() / u64::from(meta.page_size);
        let stats = PageStats {
            page_size: meta.page_size,
            hwm: meta.hwm,
            file_pages,
            meta: limit.min(2),
            branch: counts.branch,
            leaf: counts.leaf,
            overflow: counts.overflow,
            freelist: freelist_pages,
            free,
            unreadable: counts.unreadable,
            freelist_listed,
            free_unlisted,
            listed_but_reachable,
            past_eof: meta.hwm.saturating_sub(file_pages),
            beyond_hwm: file_pages.saturating_sub(meta.hwm),
            buckets: counts.buckets,
            inline_buckets: counts.inline_buckets,
            entries: report.entries,
            damage: report.damage,
            damage_suppressed: report.damage_suppressed,
        };
        Self {
            stats,
            in_use,
            listed,
        }
    }

    /// The counts.
    pub fn stats(&self) -> &PageStats {
        &self.stats
    }

    /// The counts, by value.
    pub fn into_stats(self) -> PageStats {
        self.stats
    }

    /// Whether the tree (or the persisted freelist) uses page `id`.
    pub fn is_in_use(&self, id: u64) -> bool {
        id < 2 || self.in_use.contains(id)
    }

    /// Whether the persisted freelist lists page `id`.
    pub fn is_listed_free(&self, id: u64) -> bool {
        self.listed.contains(id)
    }

    /// Ids of the free pages, ascending: candidates for carving stale data.
    pub fn free_page_ids(&self) -> impl Iterator<Item = u64> + '_ {
        (2..self.in_use.limit()).filter(move |&id| !self.in_use.contains(id))
    }
}

fn page_error_reason(error: BoltError) -> DamageReason {
    match error {
        BoltError::Page { reason, .. } => reason,
        other => DamageReason::Read(other.to_string()),
    }
}
