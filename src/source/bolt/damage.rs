//! Damage records (non-fatal findings) of the bbolt reader: what was wrong
//! with a page, an element, a pointer or a meta page.
//!
//! A [`Damage`] is a finding inside a walk: the walk skipped the bad element
//! or subtree and went on, and the caller gets the list. It names the page and
//! the byte offset in the file, so an SRE can look at the bytes with
//! `xxd -s OFFSET`. A [`MetaProblem`] says why one meta page is not usable
//! (the other may still be); the `MetaReport` holding it names the page and
//! its offset. Fatal errors are [`super::BoltError`], in `error.rs`.

use std::fmt;

use super::layout::PageKind;

/// One problem found during a walk. The walk skipped what was bad and went on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Page that holds the bad bytes (for a bad child pointer: the parent that
    /// holds the pointer; for an inline bucket: the leaf page holding it).
    pub page: u64,
    /// File offset of the bad bytes: the page start, or the element / inline
    /// page inside it.
    pub offset: u64,
    /// What was wrong.
    pub reason: DamageReason,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "page {} at offset {}: {}",
            self.page, self.offset, self.reason
        )
    }
}

impl std::error::Error for Damage {}

/// What was wrong with a page, an element, or a pointer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DamageReason {
    /// Page id at or past the high-water mark: no committed page has that id.
    #[error("page id is at or beyond the high-water mark {hwm}")]
    BeyondHighWaterMark {
        /// The meta's page count (`pgid`).
        hwm: u64,
    },

    /// The page (or its overflow pages) lies past the readable end of the file.
    #[error("page extends past end of file (needs bytes up to {end}, file has {file_len})")]
    PastEndOfFile {
        /// First byte offset after the page span.
        end: u64,
        /// Readable length of the file.
        file_len: u64,
    },

    /// The positioned read failed.
    #[error("read failed: {0}")]
    Read(String),

    /// The page header names another page id: the page was overwritten,
    /// misplaced, or the pointer to it is wrong.
    #[error("page header says it is page {found}")]
    HeaderIdMismatch {
        /// Id stored in the page header.
        found: u64,
    },

    /// Header flags are not exactly one of branch/leaf/meta/freelist.
    #[error("page flags 0x{flags:04x} are not exactly one of branch (0x01), leaf (0x02), meta (0x04), freelist (0x10)")]
    BadFlags {
        /// Raw flags field.
        flags: u16,
    },

    /// The page is a valid page of the wrong kind for where it was reached.
    #[error("expected {expected}, found a {found} page")]
    UnexpectedKind {
        /// What the referencing structure requires.
        expected: &'static str,
        /// What the header says.
        found: PageKind,
    },

    /// The overflow count runs the page past the high-water mark.
    #[error("overflow count {overflow} runs past the high-water mark {hwm}")]
    OverflowBeyondHighWaterMark {
        /// Overflow count from the header.
        overflow: u32,
        /// The meta's page count.
        hwm: u64,
    },

    /// The overflow count implies a page span larger than the reader accepts.
    #[error("overflow count {overflow} implies a {bytes}-byte page, over the {limit}-byte limit")]
    SpanTooLarge {
        /// Overflow count from the header.
        overflow: u32,
        /// Implied span in bytes.
        bytes: u64,
        /// The reader's limit ([`super::MAX_PAGE_SPAN`]).
        limit: u64,
    },

    /// The element array does not fit in the page.
    #[error("{count} elements need {needed} bytes, page span is {span}")]
    ElementsExceedPage {
        /// Element count from the header.
        count: u16,
        /// `16 + 16 × count`.
        needed: u64,
        /// Bytes in the page span (including overflow pages).
        span: u64,
    },

    /// A key does not lie inside the page's data area.
    #[error("element {index} key extends past page end (element at {element_at} + pos {pos} + ksize {ksize} > {span})")]
    KeyOutOfBounds {
        /// Element index in the page.
        index: u16,
        /// Page offset of the element (`16 + 16 × index`).
        element_at: u64,
        /// `pos` field (relative to the element).
        pos: u32,
        /// `ksize` field.
        ksize: u32,
        /// Bytes in the page span.
        span: u64,
    },

    /// A value does not lie inside the page's data area.
    #[error("element {index} value extends past page end (element at {element_at} + pos {pos} + ksize {ksize} + vsize {vsize} > {span})")]
    ValueOutOfBounds {
        /// Element index in the page.
        index: u16,
        /// Page offset of the element.
        element_at: u64,
        /// `pos` field.
        pos: u32,
        /// `ksize` field.
        ksize: u32,
        /// `vsize` field.
        vsize: u32,
        /// Bytes in the page span.
        span: u64,
    },

    /// A key starts inside the header or element array, where bbolt never
    /// writes key data.
    #[error("element {index} data starts at page offset {data_at}, inside the element array (ends at {elements_end})")]
    DataOverlapsElements {
        /// Element index.
        index: u16,
        /// Page offset where the key starts.
        data_at: u64,
        /// Page offset where the element array ends.
        elements_end: u64,
    },

    /// A branch element or bucket header points at a meta page (0 or 1).
    #[error("element {index} points to meta page {child}")]
    ChildIsMeta {
        /// Element index.
        index: u16,
        /// Child page id.
        child: u64,
    },

    /// A branch element or bucket points at or past the high-water mark.
    #[error("element {index} points to page {child}, at or beyond the high-water mark {hwm}")]
    ChildBeyondHighWaterMark {
        /// Element index.
        index: u16,
        /// Child page id.
        child: u64,
        /// The meta's page count.
        hwm: u64,
    },

    /// A pointer leads to a page already reached in this walk: a cycle, a
    /// subtree shared by two parents, or a page inside another's overflow.
    #[error("element {index} points to page {child}, which this walk already reached (cycle, shared subtree, or overlapping overflow)")]
    AlreadyVisited {
        /// Element index.
        index: u16,
        /// Child page id.
        child: u64,
    },

    /// The walk hit the depth limit; the subtree below was skipped.
    #[error("element {index} points to page {child} below the depth limit {limit}")]
    TooDeep {
        /// Element index.
        index: u16,
        /// Child page id.
        child: u64,
        /// [`super::MAX_DEPTH`].
        limit: usize,
    },

    /// A page's overflow pages cover a page already reached in this walk.
    #[error("overflow page {overlapped} of this page was already reached in this walk")]
    OverflowOverlaps {
        /// The overflow page id that was already reached.
        overlapped: u64,
    },

    /// A branch page with no elements.
    #[error("branch page has no elements")]
    EmptyBranch,

    /// Keys are not strictly ascending; the entry was still reported.
    #[error("element {index} key is not greater than the previous key")]
    KeyOrder {
        /// Element index.
        index: u16,
    },

    /// A bucket entry's value is shorter than the 16-byte bucket header.
    #[error("element {index} is a bucket entry but its value has only {vsize} bytes (< 16)")]
    BucketValueTooShort {
        /// Element index.
        index: u16,
        /// `vsize`.
        vsize: u32,
    },

    /// Damage inside the inline page stored in a bucket entry's value.
    #[error("inline bucket in element {index}: {inner}")]
    InlineBucket {
        /// Element index (in the parent page) of the bucket entry.
        index: u16,
        /// What is wrong inside the inline page.
        inner: Box<DamageReason>,
    },

    /// A page (in practice: an inline page) shorter than its 16-byte header.
    #[error("page has only {len} bytes, less than the 16-byte page header")]
    PageTooShort {
        /// Bytes available for the inline page.
        len: u64,
    },

    /// A freelist page whose id array does not fit.
    #[error("freelist page lists {count} ids, needs {needed} bytes, page span is {span}")]
    FreelistExceedsPage {
        /// Id count (from the header or, for count 0xFFFF, the first u64).
        count: u64,
        /// Bytes the id array needs.
        needed: u64,
        /// Bytes in the page span.
        span: u64,
    },

    /// A freelist entry that cannot be a free page.
    #[error("freelist entry {index} is page {listed}, outside [2, high-water mark {hwm})")]
    FreelistIdOutOfRange {
        /// Position in the id array.
        index: u64,
        /// Listed id.
        listed: u64,
        /// The meta's page count.
        hwm: u64,
    },

    /// A freelist entry naming a page the tree (or the freelist) uses.
    #[error("freelist entry {index} lists page {listed}, which is in use by the tree or the freelist itself")]
    FreelistIdInUse {
        /// Position in the id array.
        index: u64,
        /// Listed id.
        listed: u64,
    },

    /// A freelist entry naming a page already listed.
    #[error("freelist entry {index} lists page {listed} again")]
    FreelistIdDuplicate {
        /// Position in the id array.
        index: u64,
        /// Listed id.
        listed: u64,
    },
}

/// Why a meta page is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaProblem {
    /// The file ends before the meta struct.
    #[error("file too short: meta at offset {offset} needs {needed} bytes, file has {file_len}")]
    Truncated {
        /// Page offset probed.
        offset: u64,
        /// End offset the meta struct needs.
        needed: u64,
        /// Readable length of the file.
        file_len: u64,
    },
    /// The read itself failed.
    #[error("read failed at offset {offset}: {message}")]
    Read {
        /// Page offset probed.
        offset: u64,
        /// I/O error text.
        message: String,
    },
    /// Meta 0 was invalid, so meta 1 was searched at every page size and not
    /// found anywhere.
    #[error("no meta page found at any probed page size (512 B to 64 MiB)")]
    NotFound,
    /// Magic number wrong: not a bbolt meta page (or overwritten).
    #[error("bad magic 0x{found:08x} (expected 0xED0CDAED)")]
    BadMagic {
        /// Magic read as little-endian.
        found: u32,
    },
    /// Magic is byte-swapped: written by a big-endian machine.
    #[error("magic is stored big-endian: big-endian bbolt file is not supported")]
    BigEndian,
    /// Version is not 2.
    #[error("unsupported version {found} (expected 2)")]
    BadVersion {
        /// Version field.
        found: u32,
    },
    /// FNV-1a-64 over bytes 16..72 of the page does not match.
    #[error("checksum mismatch (stored 0x{stored:016x}, computed 0x{computed:016x})")]
    ChecksumMismatch {
        /// Checksum field.
        stored: u64,
        /// Checksum computed from the bytes.
        computed: u64,
    },
    /// Page size not a power of two in [512 B, 64 MiB].
    #[error("page size {found} is not a power of two between 512 and 64 MiB")]
    BadPageSize {
        /// Page size field.
        found: u32,
    },
    /// Page size disagrees with the file's page size (meta 0's, or the
    /// offset meta 1 was found at).
    #[error("page size {found} does not match the file's page size {expected}")]
    PageSizeMismatch {
        /// Page size field.
        found: u32,
        /// Page size it should have.
        expected: u32,
    },
    /// Root page id not in `[2, hwm)`.
    #[error("root page {root} is not in [2, high-water mark {hwm})")]
    RootOutOfRange {
        /// Root page id.
        root: u64,
        /// High-water mark.
        hwm: u64,
    },
    /// Freelist page id not in `[2, hwm)` (and not `PgidNoFreelist`).
    #[error("freelist page {freelist} is not in [2, high-water mark {hwm})")]
    FreelistOutOfRange {
        /// Freelist page id.
        freelist: u64,
        /// High-water mark.
        hwm: u64,
    },
}
