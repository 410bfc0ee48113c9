//! B+tree walks: buckets, key/value entries in key order, damage collection.
//!
//! A walk is a depth-first descent from a bucket's root page (or its inline
//! page) through branch pages to leaf pages, as bbolt's `Cursor` does
//! (etcd-io/bbolt `cursor.go`, `bucket.go` `openBucket`). It reads one page
//! at a time into a buffer reserved for its depth, so memory is bounded by
//! `MAX_DEPTH` page buffers plus a bitset of reached pages (one bit per page
//! of the file), and entries are handed out as slices of those buffers with
//! no per-entry allocation.
//!
//! Nothing found in the file stops a walk. Each problem becomes a [`Damage`]
//! naming the page and byte offset, the bad element or subtree is skipped,
//! and the walk goes on with its siblings.

use super::damage::{Damage, DamageReason};
use super::layout::{
    element_offset, PageKind, BUCKET_HEADER_SIZE, BUCKET_LEAF_FLAG, BUCKET_ROOT_AT,
    BUCKET_SEQUENCE_AT, META_ROOT_AT, META_STRUCT_AT,
};
use super::meta::Meta;
use super::page::{le_u64, PageView};
use super::page_set::PageSet;
use super::read_at::ReadAt;
use super::reader::{PageReader, PageSpan};

/// Deepest page nesting a walk follows (B+tree levels plus nested buckets);
/// real trees are under 10 levels.
pub const MAX_DEPTH: usize = 64;

/// Damage records kept per walk; further ones are only counted.
pub const MAX_DAMAGE_RECORDS: usize = 10_000;

/// A bucket: where its tree starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    root: BucketRoot,
    sequence: u64,
    /// The pointer to this bucket: the meta's root field, or the leaf element
    /// holding the bucket entry. Damage about the pointer is reported there.
    pointer: Pointer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum BucketRoot {
    /// Root page id of a bucket with its own pages.
    Page(u64),
    /// Copy of an inline bucket's page (the value after the bucket header).
    Inline(Vec<u8>),
}

impl Bucket {
    /// Root page id, or `None` for an inline bucket.
    pub fn root_page(&self) -> Option<u64> {
        match self.root {
            BucketRoot::Page(id) => Some(id),
            BucketRoot::Inline(_) => None,
        }
    }

    /// Whether the bucket is stored inline in its parent's leaf.
    pub fn is_inline(&self) -> bool {
        matches!(self.root, BucketRoot::Inline(_))
    }

    /// The bucket's sequence counter (`NextSequence`).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Page holding the pointer to this bucket (the parent leaf page, or the
    /// meta page for the root bucket).
    pub fn parent_page(&self) -> u64 {
        self.pointer.page
    }

    pub(crate) fn root_of(meta: &Meta) -> Self {
        // The pointer is the meta struct's root field.
        let pointer = Pointer {
            page: meta.page_id,
            offset: meta.offset + (META_STRUCT_AT + META_ROOT_AT) as u64,
            index: 0,
        };
        Self {
            root: BucketRoot::Page(meta.root),
            sequence: meta.root_sequence,
            pointer,
        }
    }

    /// Build from a bucket entry seen in a walk. `None` if the value is too
    /// short (the walk reports that as damage).
    fn from_entry(entry: &Entry<'_>) -> Option<Self> {
        let header = parse_bucket_value(entry.value)?;
        let root = match header.root {
            0 => BucketRoot::Inline(header.inline_page.to_vec()),
            id => BucketRoot::Page(id),
        };
        // The bucket header (which holds the root pointer) is the value.
        let pointer = Pointer {
            page: entry.page,
            offset: entry.value_offset(),
            index: entry.index,
        };
        Some(Self {
            root,
            sequence: header.sequence,
            pointer,
        })
    }
}

/// A parsed bucket header, borrowing any inline page from the value.
struct BucketHeader<'a> {
    root: u64,
    sequence: u64,
    inline_page: &'a [u8],
}

fn parse_bucket_value(value: &[u8]) -> Option<BucketHeader<'_>> {
    Some(BucketHeader {
        root: le_u64(value, BUCKET_ROOT_AT)?,
        sequence: le_u64(value, BUCKET_SEQUENCE_AT)?,
        inline_page: value.get(BUCKET_HEADER_SIZE..)?,
    })
}

/// Where a pointer lives: a branch element, a bucket header (in a leaf
/// element's value), or the meta's root field. Damage about the pointer (its
/// target is out of range, already reached, too deep) is reported there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pointer {
    /// Page holding the pointer.
    page: u64,
    /// File offset of the element or bucket header holding the pointer.
    offset: u64,
    /// Element index in that page.
    index: u16,
}

/// One key/value element of a leaf, as handed to `BoltDb::for_each_entry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Key bytes.
    pub key: &'a [u8],
    /// Value bytes; for a nested bucket, the bucket header (and inline page).
    pub value: &'a [u8],
    /// Leaf element flags ([`BUCKET_LEAF_FLAG`] marks a nested bucket).
    pub flags: u32,
    /// Page holding the element (for an inline bucket: the parent's leaf).
    pub page: u64,
    /// Element index in its (possibly inline) page.
    pub index: u16,
    /// File offset of the key; the value follows it.
    pub key_offset: u64,
}

impl Entry<'_> {
    /// Whether this entry is a nested bucket rather than a key/value pair.
    pub fn is_bucket(&self) -> bool {
        self.flags & BUCKET_LEAF_FLAG != 0
    }

    /// File offset of the value.
    pub fn value_offset(&self) -> u64 {
        self.key_offset.saturating_add(self.key.len() as u64)
    }
}

/// What a walk saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkReport {
    /// Key/value entries handed out (nested-bucket entries not included).
    pub entries: u64,
    /// Nested-bucket entries seen.
    pub nested_buckets: u64,
    /// Pages read successfully (a page with overflow counts once).
    pub pages_read: u64,
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Problems found; each one's element or subtree was skipped.
    pub damage: Vec<Damage>,
    /// Damage records dropped after the first `MAX_DAMAGE_RECORDS`.
    pub damage_suppressed: u64,
}

impl WalkReport {
    /// No damage found.
    pub fn is_clean(&self) -> bool {
        self.damage.is_empty() && self.damage_suppressed == 0
    }

    /// Keep `damage`, or only count it once [`MAX_DAMAGE_RECORDS`] are kept.
    pub(crate) fn record(&mut self, damage: Damage) {
        if self.damage.len() < MAX_DAMAGE_RECORDS {
            self.damage.push(damage);
        } else {
            self.damage_suppressed += 1;
        }
    }
}

/// Page counts gathered by a walk, for page statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PageCounts {
    pub branch: u64,
    pub leaf: u64,
    pub overflow: u64,
    /// Referenced pages that could not be read or were of the wrong kind.
    pub unreadable: u64,
    /// Buckets with their own root page (the root bucket included).
    pub buckets: u64,
    pub inline_buckets: u64,
}

/// Tracks the previous key of one bucket to check strict key order.
#[derive(Default)]
struct KeyOrder {
    last: Vec<u8>,
    seen_any: bool,
}

impl KeyOrder {
    /// Record `key`; `false` if it is not greater than the previous key.
    fn advance(&mut self, key: &[u8]) -> bool {
        let ordered = !self.seen_any || key > self.last.as_slice();
        self.last.clear();
        self.last.extend_from_slice(key);
        self.seen_any = true;
        ordered
    }
}

/// Where a leaf's bytes live, for offsets and damage attribution.
#[derive(Clone, Copy)]
struct LeafPlace {
    /// Page holding the leaf (the parent leaf for an inline page).
    page: u64,
    /// File offset of the leaf's byte 0 (page start, or inline page start).
    base_offset: u64,
    /// For an inline page: index of the bucket entry in the parent.
    inline_in: Option<u16>,
}

impl LeafPlace {
    fn wrap(&self, reason: DamageReason) -> DamageReason {
        match self.inline_in {
            Some(index) => DamageReason::InlineBucket {
                index,
                inner: Box::new(reason),
            },
            None => reason,
        }
    }
}

/// State of one walk.
pub(crate) struct Walk<'a, R: ReadAt> {
    pages: &'a PageReader<R>,
    reached: PageSet,
    /// Descend into nested buckets (page statistics) instead of only
    /// reporting their entries.
    recurse_nested: bool,
    pub report: WalkReport,
    pub counts: PageCounts,
}

impl<'a, R: ReadAt> Walk<'a, R> {
    pub fn new(pages: &'a PageReader<R>, recurse_nested: bool) -> Self {
        Self {
            pages,
            reached: PageSet::new(pages.page_limit()),
            recurse_nested,
            report: WalkReport::default(),
            counts: PageCounts::default(),
        }
    }

    pub fn into_parts(self) -> (WalkReport, PageCounts, PageSet) {
        (self.report, self.counts, self.reached)
    }

    fn damage(&mut self, page: u64, offset: u64, reason: DamageReason) {
        self.report.record(Damage {
            page,
            offset,
            reason,
        });
    }

    /// Walk a bucket's tree, handing every leaf entry to `sink` in key order.
    pub fn walk_bucket<F: FnMut(&Entry<'_>)>(&mut self, bucket: &Bucket, sink: &mut F) {
        let mut buffers: Vec<Vec<u8>> = std::iter::repeat_with(Vec::new).take(MAX_DEPTH).collect();
        let mut order = KeyOrder::default();
        match &bucket.root {
            BucketRoot::Page(root) => {
                self.counts.buckets += 1;
                self.visit_page(&mut buffers, *root, bucket.pointer, &mut order, sink);
            }
            BucketRoot::Inline(page_bytes) => {
                self.counts.inline_buckets += 1;
                let place = LeafPlace {
                    page: bucket.pointer.page,
                    base_offset: bucket
                        .pointer
                        .offset
                        .saturating_add(BUCKET_HEADER_SIZE as u64),
                    inline_in: Some(bucket.pointer.index),
                };
                self.walk_inline(&mut buffers, page_bytes, place, &mut order, sink);
            }
        }
    }

    /// Check a child pointer; `false` (after recording why) if it must not be
    /// followed.
    fn check_child(&mut self, child: u64, from: Pointer) -> bool {
        let hwm = self.pages.meta().hwm;
        let reason = if child < 2 {
            DamageReason::ChildIsMeta {
                index: from.index,
                child,
            }
        } else if child >= hwm {
            DamageReason::ChildBeyondHighWaterMark {
                index: from.index,
                child,
                hwm,
            }
        } else if self.reached.contains(child) {
            DamageReason::AlreadyVisited {
                index: from.index,
                child,
            }
        } else {
            return true;
        };
        self.damage(from.page, from.offset, reason);
        false
    }

    /// Read page `id` into this depth's buffer and walk it.
    fn visit_page<F: FnMut(&Entry<'_>)>(
        &mut self,
        buffers: &mut [Vec<u8>],
        id: u64,
        from: Pointer,
        order: &mut KeyOrder,
        sink: &mut F,
    ) {
        let Some((buf, deeper)) = buffers.split_first_mut() else {
            self.damage(
                from.page,
                from.offset,
                DamageReason::TooDeep {
                    index: from.index,
                    child: id,
                    limit: MAX_DEPTH,
                },
            );
            return;
        };
        if !self.check_child(id, from) {
            return;
        }
        let newly_reached = self.reached.insert(id);
        let page_offset = self.pages.page_offset(id);
        let PageSpan { header, kind, len } = match self.pages.read_page_into(id, buf) {
            Ok(span) => span,
            Err(reason) => {
                self.counts.unreadable += u64::from(newly_reached);
                self.damage(id, page_offset, reason);
                return;
            }
        };
        self.report.pages_read += 1;
        self.report.bytes_read += len as u64;
        if kind != PageKind::Branch && kind != PageKind::Leaf {
            self.counts.unreadable += u64::from(newly_reached);
            self.damage(
                id,
                page_offset,
                DamageReason::UnexpectedKind {
                    expected: "a branch or leaf page",
                    found: kind,
                },
            );
            return;
        }
        match kind {
            PageKind::Branch => self.counts.branch += 1,
            _ => self.counts.leaf += 1,
        }
        self.mark_overflow(id, header.overflow, page_offset);

        let Some(bytes) = buf.get(..len) else { return };
        let view = match PageView::new(bytes) {
            Ok(view) => view,
            Err(reason) => return self.damage(id, page_offset, reason),
        };
        if let Err(reason) = view.check_element_array() {
            return self.damage(id, page_offset, reason);
        }
        if kind == PageKind::Branch {
            self.walk_branch(deeper, &view, id, page_offset, order, sink);
        } else {
            let place = LeafPlace {
                page: id,
                base_offset: page_offset,
                inline_in: None,
            };
            self.walk_leaf(deeper, &view, place, order, sink);
        }
    }

    /// Mark the overflow pages of `id` as reached.
    fn mark_overflow(&mut self, id: u64, overflow: u32, page_offset: u64) {
        // read_page_into checked id + overflow < hwm, so this cannot overflow.
        for extra in 1..=u64::from(overflow) {
            let page = id + extra;
            if self.reached.contains(page) {
                self.damage(
                    id,
                    page_offset,
                    DamageReason::OverflowOverlaps { overlapped: page },
                );
            } else {
                self.reached.insert(page);
                self.counts.overflow += 1;
            }
        }
    }

    fn walk_branch<F: FnMut(&Entry<'_>)>(
        &mut self,
        deeper: &mut [Vec<u8>],
        view: &PageView<'_>,
        id: u64,
        page_offset: u64,
        order: &mut KeyOrder,
        sink: &mut F,
    ) {
        if view.count() == 0 {
            self.damage(id, page_offset, DamageReason::EmptyBranch);
        }
        for index in 0..view.count() {
            match view.branch_element(index) {
                Ok(element) => {
                    let from = Pointer {
                        page: id,
                        offset: page_offset + element.element_at as u64,
                        index,
                    };
                    self.visit_page(deeper, element.child, from, order, sink);
                }
                Err(reason) => {
                    self.damage(id, page_offset + element_offset(index), reason);
                }
            }
        }
    }

    fn walk_leaf<F: FnMut(&Entry<'_>)>(
        &mut self,
        deeper: &mut [Vec<u8>],
        view: &PageView<'_>,
        place: LeafPlace,
        order: &mut KeyOrder,
        sink: &mut F,
    ) {
        for index in 0..view.count() {
            let element = match view.leaf_element(index) {
                Ok(element) => element,
                Err(reason) => {
                    let at = place.base_offset.saturating_add(element_offset(index));
                    self.damage(place.page, at, place.wrap(reason));
                    continue;
                }
            };
            let element_offset = place.base_offset.saturating_add(element.element_at as u64);
            if !order.advance(element.key) {
                self.damage(
                    place.page,
                    element_offset,
                    place.wrap(DamageReason::KeyOrder { index }),
                );
            }
            let entry = Entry {
                key: element.key,
                value: element.value,
                flags: element.flags,
                page: place.page,
                index,
                key_offset: place.base_offset.saturating_add(element.key_at as u64),
            };
            if !entry.is_bucket() {
                self.report.entries += 1;
                sink(&entry);
                continue;
            }
            self.report.nested_buckets += 1;
            let Some(header) = parse_bucket_value(entry.value) else {
                let reason = DamageReason::BucketValueTooShort {
                    index,
                    vsize: entry.value.len() as u32,
                };
                self.damage(place.page, element_offset, place.wrap(reason));
                continue;
            };
            sink(&entry);
            if !self.recurse_nested {
                continue;
            }
            let mut nested_order = KeyOrder::default();
            if header.root == 0 {
                self.counts.inline_buckets += 1;
                let Some((_, deeper_still)) = deeper.split_first_mut() else {
                    let reason = DamageReason::TooDeep {
                        index,
                        child: 0,
                        limit: MAX_DEPTH,
                    };
                    self.damage(place.page, element_offset, place.wrap(reason));
                    continue;
                };
                let inline_place = LeafPlace {
                    page: place.page,
                    base_offset: entry
                        .value_offset()
                        .saturating_add(BUCKET_HEADER_SIZE as u64),
                    inline_in: Some(index),
                };
                self.walk_inline(
                    deeper_still,
                    header.inline_page,
                    inline_place,
                    &mut nested_order,
                    sink,
                );
            } else {
                self.counts.buckets += 1;
                let from = Pointer {
                    page: place.page,
                    offset: entry.value_offset(),
                    index,
                };
                self.visit_page(deeper, header.root, from, &mut nested_order, sink);
            }
        }
    }

    /// Walk an inline bucket's page (a leaf stored inside a bucket value).
    fn walk_inline<F: FnMut(&Entry<'_>)>(
        &mut self,
        deeper: &mut [Vec<u8>],
        page_bytes: &[u8],
        place: LeafPlace,
        order: &mut KeyOrder,
        sink: &mut F,
    ) {
        let view = match PageView::new(page_bytes) {
            Ok(view) => view,
            Err(reason) => return self.damage(place.page, place.base_offset, place.wrap(reason)),
        };
        if view.kind() != PageKind::Leaf {
            let reason = DamageReason::UnexpectedKind {
                expected: "an inline leaf page",
                found: view.kind(),
            };
            return self.damage(place.page, place.base_offset, place.wrap(reason));
        }
        if let Err(reason) = view.check_element_array() {
            return self.damage(place.page, place.base_offset, place.wrap(reason));
        }
        self.walk_leaf(deeper, &view, place, order, sink);
    }
}

/// List the buckets directly inside `parent`, with the walk's report.
pub(crate) fn child_buckets<R: ReadAt>(
    pages: &PageReader<R>,
    parent: &Bucket,
) -> (Vec<(Vec<u8>, Bucket)>, WalkReport) {
    let mut walk = Walk::new(pages, false);
    let mut found = Vec::new();
    let mut collect = |entry: &Entry<'_>| {
        // Entries whose value is too short were reported as damage and never
        // reach the sink, so from_entry only fails on non-buckets.
        if let Some(bucket) = entry
            .is_bucket()
            .then(|| Bucket::from_entry(entry))
            .flatten()
        {
            found.push((entry.key.to_vec(), bucket));
        }
    };
    walk.walk_bucket(parent, &mut collect);
    (found, walk.report)
}
