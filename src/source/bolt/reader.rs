//! Checked page reads: one page plus its overflow pages, by positioned read,
//! validated against the meta in use and the file before anything trusts it.
//!
//! Every page access of the reader goes through [`PageReader`], so the rules
//! are in one place: the id below the high-water mark and inside the file,
//! the header id equal to the id asked for, flags exactly one kind, the
//! overflow within the high-water mark, the file and [`MAX_PAGE_SPAN`]. Walks
//! (`tree.rs`) and page accounting (`stats.rs`) read through it; `BoltDb`
//! (`db.rs`) owns it.

use super::damage::DamageReason;
use super::error::BoltError;
use super::layout::PageKind;
use super::meta::Meta;
use super::page::{Page, PageHeader};
use super::read_at::ReadAt;

/// Largest page span (page plus overflow pages) the reader will read, so a
/// damaged overflow count cannot make it allocate gigabytes. etcd values are
/// limited by `--max-request-bytes` (1.5 MiB by default).
pub const MAX_PAGE_SPAN: u64 = 256 << 20;

/// The source, its readable length and the meta whose tree is read.
#[derive(Debug)]
pub(crate) struct PageReader<R: ReadAt> {
    src: R,
    file_len: u64,
    meta: Meta,
}

/// A page read into a caller's buffer by [`PageReader::read_page_into`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageSpan {
    /// The page header (its id already checked).
    pub header: PageHeader,
    /// The kind its flags name.
    pub kind: PageKind,
    /// Bytes of the span (page plus overflow pages) at the buffer's start.
    pub len: usize,
}

impl<R: ReadAt> PageReader<R> {
    /// Read `src` up to `file_len` with the tree of `meta`.
    pub fn new(src: R, file_len: u64, meta: Meta) -> Self {
        Self {
            src,
            file_len,
            meta,
        }
    }

    /// The meta in use.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Read the tree of another (valid) meta from now on.
    pub fn set_meta(&mut self, meta: Meta) {
        self.meta = meta;
    }

    /// Readable length of the source.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The underlying source.
    pub fn source(&self) -> &R {
        &self.src
    }

    /// Page size in bytes.
    pub fn page_size(&self) -> u32 {
        self.meta.page_size
    }

    /// File offset of page `id` (saturating; meaningful only inside the file).
    pub fn page_offset(&self, id: u64) -> u64 {
        id.saturating_mul(u64::from(self.page_size()))
    }

    /// Pages that can be tracked: `min(HWM, whole pages in the file)`.
    pub fn page_limit(&self) -> u64 {
        self.meta
            .hwm
            .min(self.file_len / u64::from(self.page_size()))
    }

    /// Read page `id` with its overflow pages, validated (see the module
    /// docs).
    pub fn read_page(&self, id: u64) -> Result<Page, BoltError> {
        let mut buf = Vec::new();
        let span = self
            .read_page_into(id, &mut buf)
            .map_err(|reason| BoltError::Page {
                page: id,
                offset: self.page_offset(id),
                reason,
            })?;
        buf.truncate(span.len);
        Ok(Page::new(
            id,
            self.page_offset(id),
            span.header,
            span.kind,
            buf,
        ))
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

    /// Read page `id` (and its overflow pages) into `buf`, reusing its
    /// capacity; returns the header, kind and the span length in `buf`.
    pub fn read_page_into(&self, id: u64, buf: &mut Vec<u8>) -> Result<PageSpan, DamageReason> {
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
            return Ok(PageSpan {
                header,
                kind,
                len: first_len,
            });
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
        Ok(PageSpan {
            header,
            kind,
            len: span_len,
        })
    }
}

/// Whether an end offset (`None`: the sum overflowed) lies past `limit`.
fn ends_past(end: Option<u64>, limit: u64) -> bool {
    end.is_none_or(|end| end > limit)
}
