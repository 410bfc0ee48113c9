//! bbolt pages: the parsed header, and bounds-checked access to branch/leaf
//! elements and freelist ids.
//!
//! Layout (named in [`super::layout`]) per etcd-io/bbolt
//! `internal/common/page.go` (`Page`, `branchPageElement`, `leafPageElement`,
//! `FreelistPageCount`/`Ids`) and `internal/common/inode.go`
//! (`WriteInodeToPage`: `pos` is relative to the element's own address).
//! Every offset here is computed in `u64` from `u32` fields, so no sum can
//! overflow, and compared against the page span before any slice is taken.

use super::damage::DamageReason;
use super::layout::{
    element_offset, PageKind, BUCKET_LEAF_FLAG, ELEMENT_SIZE, FREELIST_COUNT_OVERFLOW,
    PAGE_COUNT_AT, PAGE_FLAGS_AT, PAGE_HEADER_SIZE, PAGE_ID_AT, PAGE_OVERFLOW_AT, PGID_SIZE,
};

/// The 16-byte page header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeader {
    /// Page id the page claims to be (0 in inline pages).
    pub id: u64,
    /// Raw flags.
    pub flags: u16,
    /// Element count (freelist: id count, or 0xFFFF).
    pub count: u16,
    /// Number of extra pages that follow this one.
    pub overflow: u32,
}

impl PageHeader {
    /// Parse the header at the start of `bytes`; `None` if shorter than
    /// [`PAGE_HEADER_SIZE`].
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        Some(Self {
            id: le_u64(bytes, PAGE_ID_AT)?,
            flags: le_u16(bytes, PAGE_FLAGS_AT)?,
            count: le_u16(bytes, PAGE_COUNT_AT)?,
            overflow: le_u32(bytes, PAGE_OVERFLOW_AT)?,
        })
    }

    /// The page kind, if the flags are exactly one known flag.
    pub fn kind(&self) -> Option<PageKind> {
        PageKind::from_flags(self.flags)
    }
}

pub(crate) fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    let raw = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(raw.try_into().ok()?))
}

pub(crate) fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let raw = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(raw.try_into().ok()?))
}

pub(crate) fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    let raw = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(raw.try_into().ok()?))
}

/// A page's bytes (header, elements, data; overflow pages included), borrowed
/// and with a header whose flags are valid. Also used for inline pages, whose
/// span is the rest of the bucket value.
#[derive(Debug, Clone, Copy)]
pub struct PageView<'a> {
    bytes: &'a [u8],
    header: PageHeader,
    kind: PageKind,
}

/// A leaf element with its key and value, checked to lie inside the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafElement<'a> {
    /// Index in the page.
    pub index: u16,
    /// Element flags ([`BUCKET_LEAF_FLAG`] for a nested bucket).
    pub flags: u32,
    /// Key bytes.
    pub key: &'a [u8],
    /// Value bytes (a bucket header, possibly with an inline page, when
    /// [`LeafElement::is_bucket`]).
    pub value: &'a [u8],
    /// Offset of the element in the page span.
    pub element_at: usize,
    /// Offset of the key in the page span (the value follows it).
    pub key_at: usize,
}

impl LeafElement<'_> {
    /// Whether the value is a nested bucket.
    pub fn is_bucket(&self) -> bool {
        self.flags & BUCKET_LEAF_FLAG != 0
    }

    /// Offset of the value in the page span.
    pub fn value_at(&self) -> usize {
        // Cannot overflow: both lie inside the page span.
        self.key_at + self.key.len()
    }
}

/// A branch element: first key of the child and the child's page id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BranchElement<'a> {
    /// Index in the page.
    pub index: u16,
    /// First key of the child subtree.
    pub key: &'a [u8],
    /// Child page id (unchecked: compare with the high-water mark).
    pub child: u64,
    /// Offset of the element in the page span.
    pub element_at: usize,
}

impl<'a> PageView<'a> {
    /// View `bytes` as a page: needs a 16-byte header with valid flags. The
    /// header id and overflow are not checked here (the reader checks them
    /// against the requested id and the file).
    pub fn new(bytes: &'a [u8]) -> Result<Self, DamageReason> {
        let header = PageHeader::parse(bytes).ok_or(DamageReason::PageTooShort {
            len: bytes.len() as u64,
        })?;
        let kind = header.kind().ok_or(DamageReason::BadFlags {
            flags: header.flags,
        })?;
        Ok(Self {
            bytes,
            header,
            kind,
        })
    }

    /// The header.
    pub fn header(&self) -> PageHeader {
        self.header
    }

    /// The kind.
    pub fn kind(&self) -> PageKind {
        self.kind
    }

    /// All bytes of the span.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Element count from the header.
    pub fn count(&self) -> u16 {
        self.header.count
    }

    fn span(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Page offset where the element array ends.
    fn elements_end(&self) -> u64 {
        element_offset(self.header.count)
    }

    /// Check that `count` elements fit in the span. Walkers call this once
    /// per page and skip the page if it fails.
    pub fn check_element_array(&self) -> Result<(), DamageReason> {
        let needed = self.elements_end();
        if needed > self.span() {
            return Err(DamageReason::ElementsExceedPage {
                count: self.header.count,
                needed,
                span: self.span(),
            });
        }
        Ok(())
    }

    /// Read element `index`'s raw fields: (`u32` at +0, `u32` at +4, `u32` at
    /// +8, `u32` at +12) plus the element offset.
    fn element_words(&self, index: u16) -> Result<([u32; 4], u64), DamageReason> {
        let element_at = element_offset(index);
        let fits = element_at + ELEMENT_SIZE as u64 <= self.span() && index < self.header.count;
        if !fits {
            return Err(DamageReason::ElementsExceedPage {
                count: self.header.count,
                needed: element_at + ELEMENT_SIZE as u64,
                span: self.span(),
            });
        }
        // element_at + 16 <= span <= usize::MAX, so this cast is lossless.
        let at = element_at as usize;
        let word = |i: usize| le_u32(self.bytes, at + 4 * i).unwrap_or(0);
        Ok(([word(0), word(1), word(2), word(3)], element_at))
    }

    /// Check that `[element_at + pos, + ksize (+ vsize))` lies in the data
    /// area; returns (key start, key end, value end) as span offsets.
    fn data_range(
        &self,
        index: u16,
        element_at: u64,
        pos: u32,
        ksize: u32,
        vsize: u32,
    ) -> Result<(usize, usize, usize), DamageReason> {
        let span = self.span();
        let key_at = element_at + u64::from(pos);
        let key_end = key_at + u64::from(ksize);
        let value_end = key_end + u64::from(vsize);
        if key_end > span {
            return Err(DamageReason::KeyOutOfBounds {
                index,
                element_at,
                pos,
                ksize,
                span,
            });
        }
        if value_end > span {
            return Err(DamageReason::ValueOutOfBounds {
                index,
                element_at,
                pos,
                ksize,
                vsize,
                span,
            });
        }
        let elements_end = self.elements_end();
        if key_at < elements_end {
            return Err(DamageReason::DataOverlapsElements {
                index,
                data_at: key_at,
                elements_end,
            });
        }
        // All three are <= span, which is a slice length, so they fit usize.
        Ok((key_at as usize, key_end as usize, value_end as usize))
    }

    /// Leaf element `index`, bounds-checked. (Callers check the page kind;
    /// on a branch page this reinterprets the bytes.)
    pub fn leaf_element(&self, index: u16) -> Result<LeafElement<'a>, DamageReason> {
        let ([flags, pos, ksize, vsize], element_at) = self.element_words(index)?;
        let (key_at, key_end, value_end) = self.data_range(index, element_at, pos, ksize, vsize)?;
        let key = self.bytes.get(key_at..key_end).unwrap_or_default();
        let value = self.bytes.get(key_end..value_end).unwrap_or_default();
        Ok(LeafElement {
            index,
            flags,
            key,
            value,
            element_at: element_at as usize,
            key_at,
        })
    }

    /// Branch element `index`, bounds-checked.
    pub fn branch_element(&self, index: u16) -> Result<BranchElement<'a>, DamageReason> {
        let ([pos, ksize, child_lo, child_hi], element_at) = self.element_words(index)?;
        let (key_at, key_end, _) = self.data_range(index, element_at, pos, ksize, 0)?;
        let key = self.bytes.get(key_at..key_end).unwrap_or_default();
        let child = u64::from(child_lo) | (u64::from(child_hi) << 32);
        Ok(BranchElement {
            index,
            key,
            child,
            element_at: element_at as usize,
        })
    }

    /// The ids of a freelist page. The array must fit in the span; the ids
    /// themselves are not range-checked here.
    pub fn freelist_ids(&self) -> Result<FreelistIds<'a>, DamageReason> {
        let (first, count) = if self.header.count == FREELIST_COUNT_OVERFLOW {
            let count =
                le_u64(self.bytes, PAGE_HEADER_SIZE).ok_or(DamageReason::FreelistExceedsPage {
                    count: u64::from(FREELIST_COUNT_OVERFLOW),
                    needed: (PAGE_HEADER_SIZE + PGID_SIZE) as u64,
                    span: self.span(),
                })?;
            (1u64, count)
        } else {
            (0u64, u64::from(self.header.count))
        };
        let needed = first
            .checked_add(count)
            .and_then(|n| n.checked_mul(PGID_SIZE as u64))
            .and_then(|n| n.checked_add(PAGE_HEADER_SIZE as u64));
        match needed {
            Some(needed) if needed <= self.span() => {
                // needed <= span, a slice length: the casts are lossless.
                let start = PAGE_HEADER_SIZE + PGID_SIZE * first as usize;
                let ids = self.bytes.get(start..needed as usize).unwrap_or_default();
                Ok(FreelistIds { ids })
            }
            _ => Err(DamageReason::FreelistExceedsPage {
                count,
                needed: needed.unwrap_or(u64::MAX),
                span: self.span(),
            }),
        }
    }
}

/// Iterator over the page ids stored in a freelist page.
#[derive(Debug, Clone)]
pub struct FreelistIds<'a> {
    ids: &'a [u8],
}

impl FreelistIds<'_> {
    /// Number of ids.
    pub fn count(&self) -> usize {
        self.ids.len() / PGID_SIZE
    }
}

impl Iterator for FreelistIds<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let id = le_u64(self.ids, 0)?;
        self.ids = self.ids.get(PGID_SIZE..).unwrap_or_default();
        Some(id)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.ids.len() / PGID_SIZE;
        (n, Some(n))
    }
}

/// An owned page as read from the file (see `BoltDb::read_page`): its id
/// matched the header, its flags are valid, and its overflow pages are
/// included.
#[derive(Debug, Clone)]
pub struct Page {
    id: u64,
    offset: u64,
    header: PageHeader,
    kind: PageKind,
    bytes: Vec<u8>,
}

impl Page {
    pub(crate) fn new(
        id: u64,
        offset: u64,
        header: PageHeader,
        kind: PageKind,
        bytes: Vec<u8>,
    ) -> Self {
        Self {
            id,
            offset,
            header,
            kind,
            bytes,
        }
    }

    /// Page id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// File offset of the page.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Header.
    pub fn header(&self) -> PageHeader {
        self.header
    }

    /// Kind.
    pub fn kind(&self) -> PageKind {
        self.kind
    }

    /// All bytes, overflow pages included.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Element access.
    pub fn view(&self) -> PageView<'_> {
        PageView {
            bytes: &self.bytes,
            header: self.header,
            kind: self.kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::{FREELIST_PAGE_FLAG, LEAF_PAGE_FLAG};
    use super::*;

    /// A leaf page of `span` bytes with the given elements laid out as bbolt does.
    fn leaf(span: usize, items: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut page = vec![0u8; span];
        page[8..10].copy_from_slice(&LEAF_PAGE_FLAG.to_le_bytes());
        page[10..12].copy_from_slice(&(items.len() as u16).to_le_bytes());
        let mut data_at = PAGE_HEADER_SIZE + ELEMENT_SIZE * items.len();
        for (i, (k, v)) in items.iter().enumerate() {
            let elem = PAGE_HEADER_SIZE + ELEMENT_SIZE * i;
            let pos = (data_at - elem) as u32;
            page[elem + 4..elem + 8].copy_from_slice(&pos.to_le_bytes());
            page[elem + 8..elem + 12].copy_from_slice(&(k.len() as u32).to_le_bytes());
            page[elem + 12..elem + 16].copy_from_slice(&(v.len() as u32).to_le_bytes());
            page[data_at..data_at + k.len()].copy_from_slice(k);
            page[data_at + k.len()..data_at + k.len() + v.len()].copy_from_slice(v);
            data_at += k.len() + v.len();
        }
        page
    }

    #[test]
    fn leaf_elements_use_element_relative_pos() {
        let page = leaf(512, &[(b"a", b"1"), (b"bb", b"22")]);
        let view = PageView::new(&page).unwrap();
        assert_eq!(view.kind(), PageKind::Leaf);
        view.check_element_array().unwrap();
        let e0 = view.leaf_element(0).unwrap();
        assert_eq!((e0.key, e0.value, e0.key_at), (&b"a"[..], &b"1"[..], 48));
        let e1 = view.leaf_element(1).unwrap();
        assert_eq!(
            (e1.key, e1.value, e1.key_at, e1.value_at()),
            (&b"bb"[..], &b"22"[..], 50, 52)
        );
        assert!(view.leaf_element(2).is_err());
    }

    #[test]
    fn element_bounds_are_enforced() {
        let mut page = leaf(512, &[(b"a", b"1")]);
        // pos so large the key ends past the page.
        page[20..24].copy_from_slice(&4000u32.to_le_bytes());
        let view = PageView::new(&page).unwrap();
        assert_eq!(
            view.leaf_element(0),
            Err(DamageReason::KeyOutOfBounds {
                index: 0,
                element_at: 16,
                pos: 4000,
                ksize: 1,
                span: 512
            })
        );
        assert_eq!(
            DamageReason::KeyOutOfBounds {
                index: 7,
                element_at: 128,
                pos: 4000,
                ksize: 300,
                span: 4096
            }
            .to_string(),
            "element 7 key extends past page end (element at 128 + pos 4000 + ksize 300 > 4096)"
        );
        // Maximum field values must not overflow.
        page[20..32].copy_from_slice(&[0xff; 12]);
        assert!(matches!(
            PageView::new(&page).unwrap().leaf_element(0),
            Err(DamageReason::KeyOutOfBounds { .. })
        ));
        // pos pointing back into the element array.
        page[20..24].copy_from_slice(&0u32.to_le_bytes());
        page[24..32].copy_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(
            PageView::new(&page).unwrap().leaf_element(0),
            Err(DamageReason::DataOverlapsElements {
                index: 0,
                data_at: 16,
                elements_end: 32
            })
        );
    }

    #[test]
    fn element_count_must_fit() {
        let mut page = leaf(512, &[]);
        page[10..12].copy_from_slice(&40u16.to_le_bytes());
        let view = PageView::new(&page).unwrap();
        assert_eq!(
            view.check_element_array(),
            Err(DamageReason::ElementsExceedPage {
                count: 40,
                needed: 656,
                span: 512
            })
        );
    }

    #[test]
    fn flags_must_be_exactly_one_kind() {
        let mut page = leaf(64, &[]);
        page[8..10].copy_from_slice(&0x03u16.to_le_bytes());
        assert_eq!(
            PageView::new(&page).unwrap_err(),
            DamageReason::BadFlags { flags: 3 }
        );
        assert_eq!(
            PageView::new(&page[..10]).unwrap_err(),
            DamageReason::PageTooShort { len: 10 }
        );
    }

    #[test]
    fn freelist_ids_small_and_overflowed_count() {
        let mut page = vec![0u8; 64];
        page[8..10].copy_from_slice(&FREELIST_PAGE_FLAG.to_le_bytes());
        page[10..12].copy_from_slice(&2u16.to_le_bytes());
        page[16..24].copy_from_slice(&5u64.to_le_bytes());
        page[24..32].copy_from_slice(&9u64.to_le_bytes());
        let ids: Vec<u64> = PageView::new(&page)
            .unwrap()
            .freelist_ids()
            .unwrap()
            .collect();
        assert_eq!(ids, [5, 9]);

        // count 0xFFFF: the first u64 holds the count.
        page[10..12].copy_from_slice(&0xFFFFu16.to_le_bytes());
        page[16..24].copy_from_slice(&2u64.to_le_bytes());
        page[24..32].copy_from_slice(&7u64.to_le_bytes());
        page[32..40].copy_from_slice(&8u64.to_le_bytes());
        let ids: Vec<u64> = PageView::new(&page)
            .unwrap()
            .freelist_ids()
            .unwrap()
            .collect();
        assert_eq!(ids, [7, 8]);

        // An absurd count is rejected without allocating.
        page[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            PageView::new(&page).unwrap().freelist_ids(),
            Err(DamageReason::FreelistExceedsPage {
                count: u64::MAX,
                ..
            })
        ));
    }
}
