//! One segment to read: its name, where it is, and how its bytes are
//! opened. Files are opened read-only without locks
//! ([`open_evidence`](crate::source::input::open_evidence)), only when the
//! reader gets to them, and read through a bounded buffer; a segment held
//! in memory serves tests and fuzzing.

use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::source::input::open_evidence;

use super::name::SegmentName;

/// Bytes of the read buffer of a segment file.
pub const READ_BUFFER_BYTES: usize = 64 << 10;

/// A segment of a WAL.
#[derive(Debug)]
pub struct Segment {
    /// What its file name says.
    pub name: SegmentName,
    /// The file (for a segment in memory: its name).
    pub path: PathBuf,
    bytes: Option<Vec<u8>>,
}

/// An opened segment: its bytes and how many there are.
pub(super) struct OpenSegment {
    pub input: Box<dyn Read + Send>,
    pub size: u64,
}

impl Segment {
    /// A segment file.
    pub fn file(name: SegmentName, path: PathBuf) -> Segment {
        Segment {
            name,
            path,
            bytes: None,
        }
    }

    /// A segment held in memory, named after its [`SegmentName`].
    pub fn in_memory(name: SegmentName, bytes: Vec<u8>) -> Segment {
        Segment {
            name,
            path: PathBuf::from(name.to_string()),
            bytes: Some(bytes),
        }
    }

    /// Opens it. A file is read up to the size it has now, so a segment
    /// still being written reads the same way twice.
    pub(super) fn open(&mut self) -> Result<OpenSegment, String> {
        if let Some(bytes) = self.bytes.take() {
            return Ok(OpenSegment {
                size: bytes.len() as u64,
                input: Box::new(io::Cursor::new(bytes)),
            });
        }
        open_file(&self.path)
    }
}

fn open_file(path: &Path) -> Result<OpenSegment, String> {
    let file = open_evidence(path).map_err(|e| e.to_string())?;
    let size = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    Ok(OpenSegment {
        input: Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, file.take(size))),
        size,
    })
}
