//! Synthetic bbolt images, for tests, benchmarks and fuzz seeds.
//!
//! [`ImageBuilder`] lays out a complete file in memory the way bbolt does:
//! two meta pages, leaf pages split by size, branch levels above them,
//! overflow pages for large elements, inline buckets for small leaf-only
//! buckets, and optionally stale (free) pages and a persisted freelist. It
//! records every page it wrote ([`PageRecord`]) so a test can damage exactly
//! one page, element or field. It is not a bbolt writer for real use: no
//! transactions, no fill-percent tuning, keys are written in the order given
//! after a stable sort (duplicate keys are kept, to test key-order damage).
//! Being test tooling, it panics on misuse (an edit outside the image, a
//! page size below 512).

use super::layout::{
    PageKind, BRANCH_PAGE_FLAG, BUCKET_HEADER_SIZE, BUCKET_LEAF_FLAG, ELEMENT_SIZE,
    FREELIST_PAGE_FLAG, LEAF_PAGE_FLAG, MAGIC, META_CHECKSUM_AT, META_FREELIST_AT, META_MAGIC_AT,
    META_PAGE_FLAG, META_PAGE_SIZE_AT, META_PGID_AT, META_ROOT_AT, META_STRUCT_AT, META_STRUCT_LEN,
    META_TXID_AT, META_VERSION_AT, NO_FREELIST, PAGE_COUNT_AT, PAGE_FLAGS_AT, PAGE_HEADER_SIZE,
    PAGE_ID_AT, PAGE_OVERFLOW_AT, PGID_SIZE, VERSION,
};
use super::meta::meta_checksum;

/// A value in a [`BucketSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Plain bytes.
    Data(Vec<u8>),
    /// A nested bucket.
    Bucket(BucketSpec),
}

/// Contents of a bucket to lay out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketSpec {
    entries: Vec<(Vec<u8>, Value)>,
}

impl BucketSpec {
    /// An empty bucket.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a key/value pair (builder style).
    pub fn with(mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        self.put(key, value);
        self
    }

    /// Add a nested bucket (builder style).
    pub fn with_bucket(mut self, name: impl Into<Vec<u8>>, bucket: BucketSpec) -> Self {
        self.put_bucket(name, bucket);
        self
    }

    /// Add a key/value pair.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.entries.push((key.into(), Value::Data(value.into())));
    }

    /// Add a nested bucket.
    pub fn put_bucket(&mut self, name: impl Into<Vec<u8>>, bucket: BucketSpec) {
        self.entries.push((name.into(), Value::Bucket(bucket)));
    }

    /// Number of entries (buckets included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the bucket has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Layout options.
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    /// Page size (power of two, at least 512).
    pub page_size: u32,
    /// Txid of the newer meta; the other meta gets `txid - 1`.
    pub txid: u64,
    /// Most elements per leaf page (to force many leaves in small tests).
    pub max_leaf_elements: usize,
    /// Most elements per branch page, at least 2 (to force deep trees).
    pub max_branch_elements: usize,
    /// Inline small leaf-only buckets as bbolt does.
    pub inline_buckets: bool,
    /// Write a freelist page (listing the stale pages) instead of etcd's
    /// `NoFreelistSync` (`freelist = u64::MAX`).
    pub persist_freelist: bool,
    /// Unreferenced leaf pages with stale entries, placed below the HWM.
    pub stale_pages: usize,
    /// Zero pages appended past the HWM (file growth).
    pub trailing_pages: usize,
}

impl Default for ImageBuilder {
    fn default() -> Self {
        Self {
            page_size: 4096,
            txid: 3,
            max_leaf_elements: usize::MAX,
            max_branch_elements: usize::MAX,
            inline_buckets: true,
            persist_freelist: false,
            stale_pages: 0,
            trailing_pages: 0,
        }
    }
}

/// One page the builder wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRecord {
    /// Page id.
    pub id: u64,
    /// Kind.
    pub kind: PageKind,
    /// Overflow count.
    pub overflow: u32,
    /// Bucket names from the root (empty for the root bucket).
    pub bucket: Vec<Vec<u8>>,
    /// 0 for leaves, 1 for branches above leaves, and so on.
    pub level: u32,
    /// Element count.
    pub count: u16,
}

/// A laid-out file.
#[derive(Debug, Clone)]
pub struct Image {
    /// The file bytes.
    pub bytes: Vec<u8>,
    /// Page size.
    pub page_size: u32,
    /// Root page of the root bucket.
    pub root: u64,
    /// High-water mark.
    pub hwm: u64,
    /// Freelist page, if persisted.
    pub freelist: Option<u64>,
    /// Tree pages (not metas, stale pages or the freelist), in write order.
    pub pages: Vec<PageRecord>,
    /// Ids of the stale (free) pages.
    pub stale: Vec<u64>,
}

impl Image {
    /// File offset of page `id`.
    pub fn page_offset(&self, id: u64) -> usize {
        id as usize * self.page_size as usize
    }

    /// Tree pages of the bucket at `path` (empty path: the root bucket).
    pub fn pages_of<'a>(&'a self, path: &'a [&[u8]]) -> impl Iterator<Item = &'a PageRecord> + 'a {
        self.pages.iter().filter(move |p| {
            p.bucket.len() == path.len() && p.bucket.iter().zip(path).all(|(a, b)| a == b)
        })
    }

    /// Root page of the bucket at `path` (the page of the highest level).
    pub fn root_of(&self, path: &[&[u8]]) -> Option<u64> {
        self.pages_of(path)
            .max_by_key(|p| (p.level, p.id))
            .map(|p| p.id)
    }

    /// Overwrite bytes at a file offset.
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) {
        self.bytes[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    /// Overwrite a little-endian u16 at a file offset.
    pub fn put_u16(&mut self, offset: usize, value: u16) {
        self.write_at(offset, &value.to_le_bytes());
    }

    /// Overwrite a little-endian u32 at a file offset.
    pub fn put_u32(&mut self, offset: usize, value: u32) {
        self.write_at(offset, &value.to_le_bytes());
    }

    /// Overwrite a little-endian u64 at a file offset.
    pub fn put_u64(&mut self, offset: usize, value: u64) {
        self.write_at(offset, &value.to_le_bytes());
    }

    /// Set a u64 field of meta page `page_id` (`field_at` = offset in the
    /// page, e.g. 32 root, 48 freelist, 56 pgid, 64 txid) and recompute the
    /// checksum.
    pub fn set_meta_u64(&mut self, page_id: u64, field_at: usize, value: u64) {
        let at = self.page_offset(page_id) + field_at;
        self.put_u64(at, value);
        self.reseal_meta(page_id);
    }

    /// Recompute the checksum of meta page `page_id`.
    pub fn reseal_meta(&mut self, page_id: u64) {
        let at = self.page_offset(page_id) + META_STRUCT_AT;
        let mut raw = [0u8; META_STRUCT_LEN];
        raw.copy_from_slice(&self.bytes[at..at + META_STRUCT_LEN]);
        let sum = meta_checksum(&raw);
        self.put_u64(at + META_CHECKSUM_AT, sum);
    }
}

/// An element to encode into a page.
enum Element<'a> {
    Leaf {
        flags: u32,
        key: &'a [u8],
        value: &'a [u8],
    },
    Branch {
        key: &'a [u8],
        child: u64,
    },
}

impl Element<'_> {
    fn data_len(&self) -> usize {
        match self {
            Element::Leaf { key, value, .. } => key.len() + value.len(),
            Element::Branch { key, .. } => key.len(),
        }
    }
}

/// Copy `bytes` into `buf` at `at`.
fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Encode a page (header, elements, data) with bbolt's element-relative `pos`.
fn encode_page(id: u64, flags: u16, elements: &[Element<'_>]) -> Vec<u8> {
    let data: usize = elements.iter().map(Element::data_len).sum();
    let mut page = vec![0u8; PAGE_HEADER_SIZE + ELEMENT_SIZE * elements.len() + data];
    put(&mut page, PAGE_ID_AT, &id.to_le_bytes());
    put(&mut page, PAGE_FLAGS_AT, &flags.to_le_bytes());
    put(
        &mut page,
        PAGE_COUNT_AT,
        &(elements.len() as u16).to_le_bytes(),
    );
    let mut data_at = PAGE_HEADER_SIZE + ELEMENT_SIZE * elements.len();
    for (i, element) in elements.iter().enumerate() {
        let at = PAGE_HEADER_SIZE + ELEMENT_SIZE * i;
        let pos = (data_at - at) as u32;
        match element {
            Element::Leaf { flags, key, value } => {
                page[at..at + 4].copy_from_slice(&flags.to_le_bytes());
                page[at + 4..at + 8].copy_from_slice(&pos.to_le_bytes());
                page[at + 8..at + 12].copy_from_slice(&(key.len() as u32).to_le_bytes());
                page[at + 12..at + 16].copy_from_slice(&(value.len() as u32).to_le_bytes());
                page[data_at..data_at + key.len()].copy_from_slice(key);
                page[data_at + key.len()..data_at + key.len() + value.len()].copy_from_slice(value);
            }
            Element::Branch { key, child } => {
                page[at..at + 4].copy_from_slice(&pos.to_le_bytes());
                page[at + 4..at + 8].copy_from_slice(&(key.len() as u32).to_le_bytes());
                page[at + 8..at + 16].copy_from_slice(&child.to_le_bytes());
                page[data_at..data_at + key.len()].copy_from_slice(key);
            }
        }
        data_at += element.data_len();
    }
    page
}

struct Layout<'b> {
    options: &'b ImageBuilder,
    next_id: u64,
    written: Vec<(u64, Vec<u8>)>,
    records: Vec<PageRecord>,
}

impl Layout<'_> {
    fn page_size(&self) -> usize {
        self.options.page_size as usize
    }

    /// Place an encoded page at fresh ids, setting its id and overflow.
    fn place(&mut self, mut bytes: Vec<u8>) -> (u64, u32) {
        let pages = bytes.len().div_ceil(self.page_size()).max(1);
        let id = self.next_id;
        let overflow = (pages - 1) as u32;
        put(&mut bytes, PAGE_ID_AT, &id.to_le_bytes());
        put(&mut bytes, PAGE_OVERFLOW_AT, &overflow.to_le_bytes());
        bytes.resize(pages * self.page_size(), 0);
        self.next_id += pages as u64;
        self.written.push((id, bytes));
        (id, overflow)
    }

    fn record(
        &mut self,
        id: u64,
        overflow: u32,
        kind: PageKind,
        path: &[Vec<u8>],
        level: u32,
        count: usize,
    ) {
        let count = count as u16;
        self.records.push(PageRecord {
            id,
            kind,
            overflow,
            bucket: path.to_vec(),
            level,
            count,
        });
    }

    /// Lay out a bucket; returns its value (bucket header, plus the inline
    /// page for an inline bucket).
    fn bucket(&mut self, spec: &BucketSpec, path: &[Vec<u8>], must_have_pages: bool) -> Vec<u8> {
        let mut sorted: Vec<&(Vec<u8>, Value)> = spec.entries.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut items: Vec<(u32, &[u8], Vec<u8>)> = Vec::with_capacity(sorted.len());
        for (key, value) in sorted {
            match value {
                Value::Data(bytes) => items.push((0, key, bytes.clone())),
                Value::Bucket(child) => {
                    let mut child_path = path.to_vec();
                    child_path.push(key.clone());
                    items.push((
                        BUCKET_LEAF_FLAG,
                        key,
                        self.bucket(child, &child_path, false),
                    ));
                }
            }
        }
        let elements: Vec<Element<'_>> = items
            .iter()
            .map(|(flags, key, value)| Element::Leaf {
                flags: *flags,
                key,
                value,
            })
            .collect();

        let leaf_size: usize = PAGE_HEADER_SIZE
            + elements
                .iter()
                .map(|e| ELEMENT_SIZE + e.data_len())
                .sum::<usize>();
        let has_sub_buckets = items
            .iter()
            .any(|(flags, _, _)| flags & BUCKET_LEAF_FLAG != 0);
        if !must_have_pages
            && self.options.inline_buckets
            && !has_sub_buckets
            && leaf_size <= self.page_size() / 4
            && elements.len() <= self.options.max_leaf_elements
        {
            let mut value = vec![0u8; BUCKET_HEADER_SIZE];
            value.extend(encode_page(0, LEAF_PAGE_FLAG, &elements));
            return value;
        }

        // Leaves: fill each up to one page (a single large element overflows).
        let mut level_items: Vec<(Vec<u8>, u64)> = Vec::new();
        for chunk in split(&elements, self.page_size(), self.options.max_leaf_elements) {
            let first_key = match chunk.first() {
                Some(Element::Leaf { key, .. }) => key.to_vec(),
                _ => Vec::new(),
            };
            let (id, overflow) = self.place(encode_page(0, LEAF_PAGE_FLAG, chunk));
            self.record(id, overflow, PageKind::Leaf, path, 0, chunk.len());
            level_items.push((first_key, id));
        }
        // Branch levels until one root remains.
        let mut level = 1;
        while level_items.len() > 1 {
            let branch: Vec<Element<'_>> = level_items
                .iter()
                .map(|(key, child)| Element::Branch { key, child: *child })
                .collect();
            let mut next = Vec::new();
            for chunk in split(
                &branch,
                self.page_size(),
                self.options.max_branch_elements.max(2),
            ) {
                let first_key = match chunk.first() {
                    Some(Element::Branch { key, .. }) => key.to_vec(),
                    _ => Vec::new(),
                };
                let (id, overflow) = self.place(encode_page(0, BRANCH_PAGE_FLAG, chunk));
                self.record(id, overflow, PageKind::Branch, path, level, chunk.len());
                next.push((first_key, id));
            }
            level_items = next;
            level += 1;
        }
        let root = level_items.first().map_or(0, |(_, id)| *id);
        let mut value = root.to_le_bytes().to_vec();
        value.extend(0u64.to_le_bytes());
        value
    }
}

/// Split elements into page-sized chunks of at most `max` elements (always
/// at least one chunk, possibly empty).
fn split<'e, 'k>(
    elements: &'e [Element<'k>],
    page_size: usize,
    max: usize,
) -> Vec<&'e [Element<'k>]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut size = PAGE_HEADER_SIZE;
    for (i, element) in elements.iter().enumerate() {
        let add = ELEMENT_SIZE + element.data_len();
        let count = i - start;
        if count > 0 && (count >= max || size + add > page_size) {
            chunks.push(&elements[start..i]);
            start = i;
            size = PAGE_HEADER_SIZE;
        }
        size += add;
    }
    chunks.push(&elements[start..]);
    chunks
}

impl ImageBuilder {
    /// Options with another page size.
    pub fn with_page_size(page_size: u32) -> Self {
        Self {
            page_size,
            ..Self::default()
        }
    }

    /// Lay out a file whose root bucket holds `root`'s entries (etcd: one
    /// nested bucket per entry).
    pub fn build(&self, root: &BucketSpec) -> Image {
        let mut layout = Layout {
            options: self,
            next_id: 2,
            written: Vec::new(),
            records: Vec::new(),
        };
        let root_value = layout.bucket(root, &[], true);
        let root_page = u64::from_le_bytes(root_value[0..8].try_into().expect("8 bytes"));

        let mut stale = Vec::new();
        for i in 0..self.stale_pages {
            let key = format!("stale-key-{i:06}");
            let value = format!("stale value {i} from an older transaction");
            let element = Element::Leaf {
                flags: 0,
                key: key.as_bytes(),
                value: value.as_bytes(),
            };
            let (id, _) = layout.place(encode_page(0, LEAF_PAGE_FLAG, &[element]));
            stale.push(id);
        }

        let mut freelist = None;
        if self.persist_freelist {
            let mut page = vec![0u8; PAGE_HEADER_SIZE + PGID_SIZE * stale.len()];
            put(&mut page, PAGE_FLAGS_AT, &FREELIST_PAGE_FLAG.to_le_bytes());
            put(
                &mut page,
                PAGE_COUNT_AT,
                &(stale.len() as u16).to_le_bytes(),
            );
            for (i, id) in stale.iter().enumerate() {
                put(
                    &mut page,
                    PAGE_HEADER_SIZE + PGID_SIZE * i,
                    &id.to_le_bytes(),
                );
            }
            freelist = Some(layout.place(page).0);
        }

        let hwm = layout.next_id;
        let page_size = self.page_size as usize;
        let mut bytes = vec![0u8; (hwm as usize + self.trailing_pages) * page_size];
        for (id, page) in &layout.written {
            let at = *id as usize * page_size;
            bytes[at..at + page.len()].copy_from_slice(page);
        }
        let mut image = Image {
            bytes,
            page_size: self.page_size,
            root: root_page,
            hwm,
            freelist,
            pages: layout.records,
            stale,
        };
        for page_id in 0..2u64 {
            let txid = if page_id == self.txid % 2 {
                self.txid
            } else {
                self.txid.saturating_sub(1)
            };
            let at = image.page_offset(page_id);
            image.put_u64(at + PAGE_ID_AT, page_id);
            image.put_u16(at + PAGE_FLAGS_AT, META_PAGE_FLAG);
            let meta = at + META_STRUCT_AT;
            image.put_u32(meta + META_MAGIC_AT, MAGIC);
            image.put_u32(meta + META_VERSION_AT, VERSION);
            image.put_u32(meta + META_PAGE_SIZE_AT, self.page_size);
            image.put_u64(meta + META_ROOT_AT, root_page);
            image.put_u64(meta + META_FREELIST_AT, freelist.unwrap_or(NO_FREELIST));
            image.put_u64(meta + META_PGID_AT, hwm);
            image.put_u64(meta + META_TXID_AT, txid);
            image.reseal_meta(page_id);
        }
        image
    }
}
