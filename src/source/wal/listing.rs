//! The segments of a WAL directory (`member/wal`), in sequence order, and
//! the other files there.

use std::path::{Path, PathBuf};

use super::error::WalError;
use super::name::SegmentName;
use super::reader::WalReader;
use super::segment::Segment;

/// What a WAL directory holds.
#[derive(Debug)]
pub struct WalDirectory {
    /// The directory.
    pub dir: PathBuf,
    /// Its segments, by sequence (then index).
    pub segments: Vec<Segment>,
    /// `*.tmp` files: preallocated next segments (`0.tmp`, `1.tmp`).
    pub preallocated: Vec<PathBuf>,
    /// Everything else, not read.
    pub ignored: Vec<PathBuf>,
}

/// Lists `dir`. Names that are not `%016x-%016x.wal` files are set aside
/// as etcd's `checkWalNames` does; nothing is opened yet.
pub fn list_segments(dir: &Path) -> Result<WalDirectory, WalError> {
    let err = |source| WalError::ReadDir {
        path: dir.to_path_buf(),
        source,
    };
    let mut segments = Vec::new();
    let mut preallocated = Vec::new();
    let mut ignored = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        match SegmentName::parse(&name) {
            Some(parsed) if path.is_file() => segments.push(Segment::file(parsed, path)),
            _ if name.ends_with(".tmp") => preallocated.push(path),
            _ => ignored.push(path),
        }
    }
    segments.sort_by(|a, b| (a.name, &a.path).cmp(&(b.name, &b.path)));
    preallocated.sort();
    ignored.sort();
    Ok(WalDirectory {
        dir: dir.to_path_buf(),
        segments,
        preallocated,
        ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Segments come in sequence order whatever the directory order;
    /// `.tmp` and other names are listed apart.
    #[test]
    fn lists_segments_in_sequence_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "000000000000000a-0000000000000100.wal",
            "0000000000000002-0000000000000010.wal",
            "0.tmp",
            "1.tmp",
            "notes.txt",
            "0000000000000003-0000000000000020.wal.bak",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        std::fs::create_dir(dir.path().join("0000000000000004-0000000000000030.wal")).unwrap();
        let listed = list_segments(dir.path()).unwrap();
        let seqs: Vec<u64> = listed.segments.iter().map(|s| s.name.seq).collect();
        assert_eq!(seqs, [2, 10]);
        let names = |v: &[PathBuf]| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(&listed.preallocated), ["0.tmp", "1.tmp"]);
        assert_eq!(
            names(&listed.ignored),
            [
                "0000000000000003-0000000000000020.wal.bak",
                "0000000000000004-0000000000000030.wal",
                "notes.txt"
            ]
        );
    }

    /// A missing directory is an error naming it.
    #[test]
    fn missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("wal");
        let err = list_segments(&gone).unwrap_err();
        assert!(err.to_string().contains("wal"), "{err}");
    }
}

/// A WAL given on its own: a `member/wal` directory, or one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalSource {
    /// A directory of segments.
    Directory(PathBuf),
    /// One segment file.
    Segment(PathBuf),
}

impl WalSource {
    /// `path` as a WAL: a directory holding segments (and no db), or a
    /// file named as a segment.
    pub fn recognize(path: &Path) -> Option<WalSource> {
        if path.is_dir() {
            let listed = list_segments(path).ok()?;
            return (!listed.segments.is_empty()).then(|| WalSource::Directory(path.to_path_buf()));
        }
        let name = path.file_name()?.to_string_lossy().into_owned();
        SegmentName::parse(&name).map(|_| WalSource::Segment(path.to_path_buf()))
    }

    /// The directory or file.
    pub fn path(&self) -> &Path {
        match self {
            WalSource::Directory(p) | WalSource::Segment(p) => p,
        }
    }

    /// A reader of it from the start.
    pub fn open(&self) -> Result<WalReader, WalError> {
        match self {
            WalSource::Directory(dir) => WalReader::open(dir),
            WalSource::Segment(file) => {
                let name = file
                    .file_name()
                    .and_then(|n| SegmentName::parse(&n.to_string_lossy()))
                    .ok_or_else(|| WalError::NotASegment {
                        path: file.to_path_buf(),
                    })?;
                Ok(WalReader::new(vec![Segment::file(
                    name,
                    file.to_path_buf(),
                )]))
            }
        }
    }
}
