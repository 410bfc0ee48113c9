//! Positioned, read-only byte sources for the bbolt reader.
//!
//! The reader never maps, locks or writes the evidence file: every access is a
//! `pread(2)`-style positioned read of one page (plus its overflow pages). The
//! [`ReadAt`] trait abstracts that so tests and the fuzzer can use memory.

use std::fs::File;
use std::io;
use std::sync::Arc;

/// A read-only byte source addressed by absolute offset.
///
/// Implementations must be usable from several threads at once (positioned
/// reads carry no cursor), so a walk over one bucket can run in parallel with
/// a walk over another.
pub trait ReadAt: Send + Sync {
    /// Current length of the source in bytes.
    fn len(&self) -> u64;

    /// Whether the source holds no bytes at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fill `buf` from `offset`; fails (typically `UnexpectedEof`) if the
    /// source ends before `buf` is full.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl ReadAt for File {
    fn len(&self) -> u64 {
        // A file whose metadata cannot be read is treated as empty: the caller
        // then gets a typed "no valid meta page" error rather than a panic.
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn len(&self) -> u64 {
        // usize -> u64 is lossless on every platform Rust supports.
        <[u8]>::len(self) as u64
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let eof = || io::Error::new(io::ErrorKind::UnexpectedEof, "read past end of buffer");
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        let src = self.get(start..end).ok_or_else(eof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl ReadAt for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        ReadAt::read_exact_at(self.as_slice(), buf, offset)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Arc<T> {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Box<T> {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_reads_are_bounds_checked() {
        let data: &[u8] = &[1, 2, 3, 4];
        let mut buf = [0u8; 2];
        ReadAt::read_exact_at(data, &mut buf, 2).unwrap();
        assert_eq!(buf, [3, 4]);
        let err = ReadAt::read_exact_at(data, &mut buf, 3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let err = ReadAt::read_exact_at(data, &mut buf, u64::MAX).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(ReadAt::len(data), 4);
    }

    #[test]
    fn file_reads_positioned() {
        use std::io::Write;
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(b"hello world").unwrap();
        let mut buf = [0u8; 5];
        ReadAt::read_exact_at(&tmp, &mut buf, 6).unwrap();
        assert_eq!(&buf, b"world");
        assert_eq!(ReadAt::len(&tmp), 11);
        let arc = Arc::new(tmp);
        assert!(ReadAt::read_exact_at(&arc, &mut buf, 7).is_err());
    }
}
