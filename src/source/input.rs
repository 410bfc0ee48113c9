//! Recognizing an input by its content and preparing it for reading.
//!
//! An input is one of:
//! - an `etcdctl snapshot save` file: a bbolt file followed by a 32-byte
//!   SHA-256 trailer of everything before it. etcd's own test for the
//!   trailer (`etcdutl/snapshot/v3_snapshot.go`, `hasChecksum`) is
//!   `size % 512 == 32`; we use the same and verify the hash;
//! - a plain copy of `member/snap/db` (bbolt, no trailer);
//! - an etcd data directory (`member/snap/db` inside; the member or snap
//!   directory itself is accepted too);
//! - either file compressed with zstd or gzip, recognized by its magic
//!   bytes. It is decompressed into a temporary file under the system's
//!   temp directory (never beside the evidence), because bbolt pages are read
//!   at random offsets.
//!
//! Inputs are opened read-only, without locks; nothing is written beside them.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::bolt::layout::{MAGIC, META_MAGIC_AT, META_STRUCT_AT};
use super::wal::WalSource;
use crate::helpers::hex;

/// Magic numbers of the recognized containers.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];
/// Where bbolt's meta magic sits in a meta page.
const BOLT_MAGIC_AT: usize = META_STRUCT_AT + META_MAGIC_AT;
const TRAILER_LEN: u64 = 32;
/// Bound on decompressed size relative to the compressed file.
const MAX_DECOMPRESSION_RATIO: u64 = 256;
/// Small files may always expand to this much.
const MIN_DECOMPRESSED_LIMIT: u64 = 64 << 20;

/// Errors that stop an input from being read at all.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: empty file; expected an etcd snapshot (bbolt file), a zstd/gzip-compressed one, or an etcd data directory")]
    Empty { path: PathBuf },
    #[error("{path}: not an etcd snapshot: expected a bbolt file (magic ED DA 0C ED at offset 16), a zstd or gzip-compressed snapshot, or an etcd data directory; found {found}")]
    Unrecognized { path: PathBuf, found: String },
    #[error("{path}: directory holds no etcd data (expected member/snap/db inside an etcd data directory) and no audit log files")]
    NoEtcdInDirectory { path: PathBuf },
    #[error("{path}: decompressing {compression}: {source}")]
    Decompress {
        path: PathBuf,
        compression: &'static str,
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> InputError + '_ {
    move |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How the input was packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Zstd,
    Gzip,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
        }
    }
}

/// The snapshot trailer's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trailer {
    /// No trailer: a plain bbolt copy (e.g. `member/snap/db`).
    Absent,
    /// The trailer matches the SHA-256 of the content before it.
    Verified { sha256: String },
    /// The trailer does not match: the file was altered or damaged after
    /// etcd wrote it.
    Mismatch { stored: String, computed: String },
}

impl Trailer {
    pub fn as_str(&self) -> &'static str {
        match self {
            Trailer::Absent => "absent",
            Trailer::Verified { .. } => "verified",
            Trailer::Mismatch { .. } => "mismatch",
        }
    }

    /// The hash the trailer states, if there is one.
    pub fn stored(&self) -> Option<&str> {
        match self {
            Trailer::Absent => None,
            Trailer::Verified { sha256 } => Some(sha256),
            Trailer::Mismatch { stored, .. } => Some(stored),
        }
    }

    /// The verdict for a file that is cut short (see
    /// `source::snapshot::truncation`): without a trailer it need not be a
    /// plain copy — a snapshot's trailer is at its end, lost with it.
    pub fn describe_truncated(&self) -> String {
        match self {
            Trailer::Absent => "no snapshot hash trailer found (the file is cut short: a snapshot's trailer, at its end, would be lost with it)".into(),
            other => other.describe(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Trailer::Absent => "no snapshot hash trailer (plain bbolt copy)".into(),
            Trailer::Verified { .. } => "snapshot hash trailer verified".into(),
            Trailer::Mismatch { stored, computed } => format!(
                "snapshot hash trailer MISMATCH: trailer says {stored}, content hashes to {computed}"
            ),
        }
    }
}

/// The kind recorded in `sources.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A file with the etcdctl snapshot trailer.
    Snapshot,
    /// A bbolt file without trailer.
    BoltDb,
    /// An etcd data directory.
    DataDir,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Snapshot => "etcd-snapshot",
            InputKind::BoltDb => "etcd-db",
            InputKind::DataDir => "etcd-data-dir",
        }
    }
}

/// What an input given on the command line is, by its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recognized {
    /// An etcd snapshot, bbolt file or data directory — or something
    /// unrecognized, which [`prepare`] then describes.
    Etcd,
    /// JSON text (possibly compressed): a Kubernetes audit log.
    AuditLog(Option<Compression>),
    /// A directory without etcd data: the regular files inside it (rotated
    /// audit logs), sorted by name, each to be recognized on its own.
    Directory(Vec<PathBuf>),
    /// An etcd WAL on its own: a directory of segments, or one segment.
    Wal(WalSource),
}

/// Recognizes an input by content: an etcd file or data directory, an
/// audit log (JSON text, plain or zstd/gzip-compressed), or a directory of
/// files.
pub fn recognize(given: &Path) -> Result<Recognized, InputError> {
    let meta = std::fs::metadata(given).map_err(io_err(given))?;
    if meta.is_dir() {
        if find_db_in_dir(given).is_ok() {
            return Ok(Recognized::Etcd);
        }
        if let Some(wal) = WalSource::recognize(given) {
            return Ok(Recognized::Wal(wal));
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(given).map_err(io_err(given))? {
            let path = entry.map_err(io_err(given))?.path();
            // Regular files only (symlinks to them too); no recursion.
            if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(InputError::NoEtcdInDirectory {
                path: given.to_path_buf(),
            });
        }
        files.sort();
        return Ok(Recognized::Directory(files));
    }
    if let Some(wal) = WalSource::recognize(given) {
        return Ok(Recognized::Wal(wal));
    }
    let file = open_read_only(given)?;
    let head = read_head(&file, given)?;
    let compression = if head.starts_with(&ZSTD_MAGIC) {
        Some(Compression::Zstd)
    } else if head.starts_with(&GZIP_MAGIC) {
        Some(Compression::Gzip)
    } else {
        None
    };
    let content_head = match compression {
        None => head,
        Some(c) => {
            let mut buf = Vec::with_capacity(4096);
            // A stream that cannot be decompressed is left to `prepare`,
            // which says what is wrong with it.
            let _ = open_content(file, Some(c)).take(4096).read_to_end(&mut buf);
            buf
        }
    };
    Ok(if looks_like_json(&content_head) {
        Recognized::AuditLog(compression)
    } else {
        Recognized::Etcd
    })
}

/// JSON text: after an optional UTF-8 byte order mark and white space, an
/// object or an array.
fn looks_like_json(head: &[u8]) -> bool {
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{') | Some(b'[')
    )
}

/// A file's content as a stream, decompressed if it is compressed.
pub fn open_content<'a, R: Read + Send + 'a>(
    raw: R,
    compression: Option<Compression>,
) -> Box<dyn Read + Send + 'a> {
    let buffered = io::BufReader::with_capacity(1 << 20, raw);
    match compression {
        None => Box::new(buffered),
        Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(buffered)),
        Some(Compression::Zstd) => match zstd::stream::read::Decoder::with_buffer(buffered) {
            Ok(d) => Box::new(d),
            Err(e) => Box::new(FailingReader(Some(e))),
        },
    }
}

/// A reader whose first read fails with the error it holds.
struct FailingReader(Option<io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

/// Opens a file read-only, without locks (see [`prepare`]).
pub fn open_evidence(path: &Path) -> Result<File, InputError> {
    open_read_only(path)
}

/// An input ready for the bbolt reader.
#[derive(Debug)]
pub struct PreparedInput {
    /// The path as the user gave it.
    pub given: PathBuf,
    /// The file whose SHA-256 is recorded: the given file, or
    /// `member/snap/db` inside a data directory.
    pub evidence_file: PathBuf,
    pub kind: InputKind,
    pub compression: Option<Compression>,
    /// SHA-256 of the evidence file as it is on disk.
    pub sha256: String,
    pub size_bytes: u64,
    /// SHA-256 of the decompressed content, for compressed inputs.
    pub content_sha256: Option<String>,
    pub trailer: Trailer,
    /// Bytes of bbolt content (the file's length less the trailer).
    pub bolt_len: u64,
    /// The bbolt content, opened read-only.
    pub bolt_file: File,
    /// Keeps the decompressed temporary file alive while it is read.
    _decompressed: Option<tempfile::NamedTempFile>,
}

/// Opens an input read-only, recognizes it by content, hashes it and, if
/// compressed, decompresses it to a temporary file.
pub fn prepare(given: &Path) -> Result<PreparedInput, InputError> {
    prepare_with(given, |_, _| ()).map(|(input, ())| input)
}

/// Like [`prepare`], running `alongside` while another thread hashes the
/// content (hashing a large file is a core's worth of work that nothing
/// else has to wait for). `alongside` gets the bbolt content: the file and
/// its length without the trailer.
pub fn prepare_with<T>(
    given: &Path,
    alongside: impl FnOnce(&File, u64) -> T,
) -> Result<(PreparedInput, T), InputError> {
    let meta = std::fs::metadata(given).map_err(io_err(given))?;
    let (evidence_file, from_dir) = if meta.is_dir() {
        (find_db_in_dir(given)?, true)
    } else {
        (given.to_path_buf(), false)
    };
    let path = evidence_file.as_path();
    let file = open_read_only(path)?;
    let size_bytes = file.metadata().map_err(io_err(path))?.len();
    if size_bytes == 0 {
        return Err(InputError::Empty {
            path: path.to_path_buf(),
        });
    }
    let head = read_head(&file, path)?;

    let compression = if head.starts_with(&ZSTD_MAGIC) {
        Some(Compression::Zstd)
    } else if head.starts_with(&GZIP_MAGIC) {
        Some(Compression::Gzip)
    } else {
        None
    };

    // The given file's hash: of the compressed bytes (taken while
    // decompressing), else of the content below.
    let (bolt_file, content_len, compressed_sha256, temp) = match compression {
        None => (file, size_bytes, None, None),
        Some(c) => {
            let (temp, sha256) = decompress(&file, c, path)?;
            let out = temp.reopen().map_err(io_err(temp.path()))?;
            let len = out.metadata().map_err(io_err(temp.path()))?.len();
            (out, len, Some(sha256), Some(temp))
        }
    };
    let content_path = temp.as_ref().map_or(path, |t| t.path());

    let content_head = if temp.is_some() {
        read_head(&bolt_file, path)?
    } else {
        head
    };
    if !looks_like_bolt(&bolt_file, &content_head, content_len) {
        return Err(InputError::Unrecognized {
            path: path.to_path_buf(),
            found: describe_bytes(&content_head, compression),
        });
    }

    let bolt_len = if has_trailer(content_len) {
        content_len - TRAILER_LEN
    } else {
        content_len
    };
    let (content_hashes, beside) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| hash_with_trailer(&bolt_file, content_len, content_path));
        let beside = alongside(&bolt_file, bolt_len);
        let hashes = hashing
            .join()
            .unwrap_or_else(|_| Err(io_err(content_path)(io::Error::other("hashing failed"))));
        (hashes, beside)
    });
    let content_hashes = content_hashes?;
    let trailer = content_hashes.trailer;
    // A compressed file's own hash, and its content's beside it.
    let (sha256, content_sha256) = match compressed_sha256 {
        Some(compressed) => (compressed, Some(content_hashes.whole)),
        None => (content_hashes.whole, None),
    };
    let kind = if from_dir {
        InputKind::DataDir
    } else if trailer == Trailer::Absent {
        InputKind::BoltDb
    } else {
        InputKind::Snapshot
    };
    let input = PreparedInput {
        given: given.to_path_buf(),
        evidence_file,
        kind,
        compression,
        sha256,
        size_bytes,
        content_sha256,
        trailer,
        bolt_len,
        bolt_file,
        _decompressed: temp,
    };
    Ok((input, beside))
}

/// etcdctl appends a 32-byte SHA-256 to a snapshot whose bbolt content is a
/// whole number of 512-byte blocks.
fn has_trailer(len: u64) -> bool {
    len % 512 == TRAILER_LEN && len > TRAILER_LEN
}

/// Opens a file for reading only. No lock is taken: etcd holds an
/// exclusive flock on a live `member/snap/db`, and evidence must never be
/// locked against its owner.
fn open_read_only(path: &Path) -> Result<File, InputError> {
    File::open(path).map_err(io_err(path))
}

fn find_db_in_dir(dir: &Path) -> Result<PathBuf, InputError> {
    for candidate in ["member/snap/db", "snap/db", "db"] {
        let p = dir.join(candidate);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(InputError::NoEtcdInDirectory {
        path: dir.to_path_buf(),
    })
}

fn read_head(file: &File, path: &Path) -> Result<Vec<u8>, InputError> {
    use std::os::unix::fs::FileExt;
    let mut head = vec![0u8; 64];
    let mut filled = 0;
    while filled < head.len() {
        let n = file
            .read_at(&mut head[filled..], filled as u64)
            .map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    Ok(head)
}

/// bbolt's magic at offset 16 of meta page 0, or — when page 0 is damaged —
/// of meta page 1 at any page size bbolt allows (it searches the same way).
fn looks_like_bolt(file: &File, head: &[u8], len: u64) -> bool {
    use std::os::unix::fs::FileExt;
    // bbolt writes the magic in its machine's byte order: either is etcd's.
    let is_magic = |b: &[u8]| {
        <[u8; 4]>::try_from(b)
            .is_ok_and(|b| u32::from_le_bytes(b) == MAGIC || u32::from_be_bytes(b) == MAGIC)
    };
    if head
        .get(BOLT_MAGIC_AT..BOLT_MAGIC_AT + 4)
        .is_some_and(is_magic)
    {
        return true;
    }
    (0..15).any(|i| {
        let offset = (1024u64 << i) + BOLT_MAGIC_AT as u64;
        let mut buf = [0u8; 4];
        offset + 4 <= len && file.read_exact_at(&mut buf, offset).is_ok() && is_magic(&buf)
    })
}

fn describe_bytes(head: &[u8], compression: Option<Compression>) -> String {
    let inner = match compression {
        Some(c) => format!("{}-compressed content that ", c.as_str()),
        None => String::new(),
    };
    let first = head.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let guess = if head.starts_with(b"SQLite format 3\0") {
        "an SQLite database".to_string()
    } else if head.starts_with(b"k8s\0") {
        "a single Kubernetes protobuf value (use `evforensics decode`)".to_string()
    } else if matches!(first, Some(b'{') | Some(b'[')) {
        "JSON text".to_string()
    } else if head
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        "text".to_string()
    } else {
        "binary data".to_string()
    };
    let hex: Vec<String> = head.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("{inner}looks like {guess} (first bytes: {})", hex.join(" "))
}

struct ContentHashes {
    whole: String,
    trailer: Trailer,
}

/// One pass over the file: the SHA-256 of all of it, and — when its length
/// says it has an etcdctl trailer — the SHA-256 of everything before the
/// trailer, compared with the trailer.
fn hash_with_trailer(file: &File, len: u64, path: &Path) -> Result<ContentHashes, InputError> {
    use std::os::unix::fs::FileExt;
    let has_trailer = has_trailer(len);
    let body_len = if has_trailer { len - TRAILER_LEN } else { len };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    while offset < body_len {
        let want = usize::try_from((body_len - offset).min(buf.len() as u64)).unwrap_or(buf.len());
        file.read_exact_at(&mut buf[..want], offset)
            .map_err(io_err(path))?;
        hasher.update(&buf[..want]);
        offset += want as u64;
    }
    if !has_trailer {
        return Ok(ContentHashes {
            whole: hex(&hasher.finalize()),
            trailer: Trailer::Absent,
        });
    }
    let computed = hex(&hasher.clone().finalize());
    let mut stored = [0u8; TRAILER_LEN as usize];
    file.read_exact_at(&mut stored, body_len)
        .map_err(io_err(path))?;
    hasher.update(stored);
    let stored = hex(&stored);
    let trailer = if stored == computed {
        Trailer::Verified { sha256: stored }
    } else {
        Trailer::Mismatch { stored, computed }
    };
    Ok(ContentHashes {
        whole: hex(&hasher.finalize()),
        trailer,
    })
}

/// Streams a compressed input into a temporary file, hashing the
/// compressed bytes on the way.
fn decompress(
    file: &File,
    compression: Compression,
    path: &Path,
) -> Result<(tempfile::NamedTempFile, String), InputError> {
    let decompress_err = |source: io::Error| InputError::Decompress {
        path: path.to_path_buf(),
        compression: compression.as_str(),
        source,
    };
    let mut hashing = HashingReader {
        inner: io::BufReader::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
    };
    // A decompression bomb must not fill the temp disk: etcd snapshots
    // compress about 10-30 times, far below this bound.
    let compressed_len = file.metadata().map_err(io_err(path))?.len();
    let limit = compressed_len
        .saturating_mul(MAX_DECOMPRESSION_RATIO)
        .max(MIN_DECOMPRESSED_LIMIT);
    let mut temp = tempfile::Builder::new()
        .prefix("evforensics-")
        .suffix(".db")
        .tempfile()
        .map_err(io_err(&std::env::temp_dir()))?;
    {
        let mut out = io::BufWriter::with_capacity(1 << 20, temp.as_file_mut());
        let written = match compression {
            Compression::Zstd => {
                let decoder =
                    zstd::stream::read::Decoder::new(&mut hashing).map_err(decompress_err)?;
                io::copy(&mut decoder.take(limit + 1), &mut out).map_err(decompress_err)?
            }
            Compression::Gzip => {
                let decoder = flate2::read::MultiGzDecoder::new(&mut hashing);
                io::copy(&mut decoder.take(limit + 1), &mut out).map_err(decompress_err)?
            }
        };
        if written > limit {
            return Err(decompress_err(io::Error::other(format!(
                "the content grows past {limit} bytes ({MAX_DECOMPRESSION_RATIO} times the compressed size): refusing it as a likely decompression bomb; decompress it yourself if it is genuine"
            ))));
        }
        out.flush().map_err(decompress_err)?;
    }
    // The decoder may stop before the end of the file (trailing garbage);
    // the recorded hash is of the whole file as given.
    io::copy(&mut hashing, &mut io::sink()).map_err(io_err(path))?;
    Ok((temp, hex(&hashing.hasher.finalize())))
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The WAL directory of an etcd data directory given as `dir` (the data
/// directory or its `member`), when it holds `.wal` segments: what a load
/// of the directory replays.
pub fn wal_dir_of(dir: &Path) -> Option<PathBuf> {
    if !dir.is_dir() {
        return None;
    }
    let wal = wal_dir(&find_db_in_dir(dir).ok()?)?;
    let has_segments = std::fs::read_dir(&wal)
        .ok()?
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".wal"));
    has_segments.then_some(wal)
}

/// The db of an etcd data directory given as `dir` (the data directory,
/// its `member`, or its `snap`).
pub fn db_in_dir(dir: &Path) -> Option<PathBuf> {
    dir.is_dir().then(|| find_db_in_dir(dir).ok()).flatten()
}

/// The WAL directory beside an etcd db file: `member/wal` when `db_file`
/// is a data directory's `member/snap/db` (given as the directory or as
/// the file). `None` when the file is not in a `snap` directory or no
/// `wal` directory is beside it.
pub fn wal_dir(db_file: &Path) -> Option<PathBuf> {
    let snap = db_file.parent()?;
    if snap.file_name()? != "snap" {
        return None;
    }
    let wal = snap.parent()?.join("wal");
    wal.is_dir().then_some(wal)
}

/// SHA-256 of a whole file, streamed (used to check that evidence is unchanged).
pub fn sha256_file(path: &Path) -> Result<String, InputError> {
    let file = open_read_only(path)?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut hasher = Sha256::new();
    let mut reader = io::BufReader::with_capacity(1 << 20, file);
    let copied = io::copy(&mut reader, &mut hasher).map_err(io_err(path))?;
    debug_assert_eq!(copied, len);
    Ok(hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bolt_like(pages: usize, trailer: bool) -> Vec<u8> {
        let mut data = vec![0u8; pages * 4096];
        data[BOLT_MAGIC_AT..BOLT_MAGIC_AT + 4].copy_from_slice(&MAGIC.to_le_bytes());
        if trailer {
            let sum = Sha256::digest(&data);
            data.extend_from_slice(&sum);
        }
        data
    }

    fn write_temp(data: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(data).unwrap();
        f
    }

    #[test]
    fn plain_bolt_has_no_trailer() {
        let f = write_temp(&bolt_like(4, false));
        let p = prepare(f.path()).unwrap();
        assert_eq!(p.kind, InputKind::BoltDb);
        assert_eq!(p.trailer, Trailer::Absent);
        assert_eq!(p.bolt_len, 4 * 4096);
        assert_eq!(p.sha256, sha256_file(f.path()).unwrap());
    }

    #[test]
    fn snapshot_trailer_verified_and_mismatch() {
        let data = bolt_like(4, true);
        let f = write_temp(&data);
        let p = prepare(f.path()).unwrap();
        assert_eq!(p.kind, InputKind::Snapshot);
        assert_eq!(p.trailer.as_str(), "verified");
        assert_eq!(p.bolt_len, 4 * 4096);
        assert_eq!(p.sha256, hex(&Sha256::digest(&data)));

        let mut bad = data.clone();
        bad[5000] ^= 0xff;
        let f = write_temp(&bad);
        let p = prepare(f.path()).unwrap();
        assert_eq!(p.trailer.as_str(), "mismatch");
        assert!(p.trailer.describe().contains("MISMATCH"));
    }

    #[test]
    fn compressed_inputs_are_unpacked() {
        let data = bolt_like(3, true);
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        let f = write_temp(&zst);
        let p = prepare(f.path()).unwrap();
        assert_eq!(p.compression, Some(Compression::Zstd));
        assert_eq!(p.sha256, hex(&Sha256::digest(&zst)));
        assert_eq!(p.content_sha256, Some(hex(&Sha256::digest(&data))));
        assert_eq!(p.trailer.as_str(), "verified");

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let f = write_temp(&gz.finish().unwrap());
        let p = prepare(f.path()).unwrap();
        assert_eq!(p.compression, Some(Compression::Gzip));
        assert_eq!(p.bolt_len, 3 * 4096);
    }

    #[test]
    fn unrecognized_inputs_say_what_was_found() {
        let f = write_temp(b"{\"kind\":\"Event\"}\n");
        let e = prepare(f.path()).unwrap_err().to_string();
        assert!(
            e.contains("not an etcd snapshot") && e.contains("JSON text"),
            "{e}"
        );

        let f = write_temp(b"");
        assert!(matches!(prepare(f.path()), Err(InputError::Empty { .. })));

        let dir = tempfile::tempdir().unwrap();
        let e = prepare(dir.path()).unwrap_err();
        assert!(matches!(e, InputError::NoEtcdInDirectory { .. }), "{e}");
        let e = recognize(dir.path()).unwrap_err();
        assert!(matches!(e, InputError::NoEtcdInDirectory { .. }), "{e}");

        let f = write_temp(&zstd::encode_all(&b"hello world"[..], 3).unwrap());
        let e = prepare(f.path()).unwrap_err().to_string();
        assert!(e.contains("zstd-compressed content"), "{e}");

        let f = write_temp(&[0x28, 0xB5, 0x2F, 0xFD, 1, 2, 3]);
        let e = prepare(f.path()).unwrap_err().to_string();
        assert!(e.contains("decompressing zstd"), "{e}");
    }

    #[test]
    fn audit_logs_are_recognized_by_content() {
        let line = b"\xEF\xBB\xBF  {\"kind\":\"Event\"}\n";
        let f = write_temp(line);
        assert_eq!(recognize(f.path()).unwrap(), Recognized::AuditLog(None));
        let f = write_temp(&zstd::encode_all(&line[..], 3).unwrap());
        assert_eq!(
            recognize(f.path()).unwrap(),
            Recognized::AuditLog(Some(Compression::Zstd))
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"[]").unwrap();
        let f = write_temp(&gz.finish().unwrap());
        assert_eq!(
            recognize(f.path()).unwrap(),
            Recognized::AuditLog(Some(Compression::Gzip))
        );
        let f = write_temp(&bolt_like(2, true));
        assert_eq!(recognize(f.path()).unwrap(), Recognized::Etcd);
        let f = write_temp(b"plain text\n");
        assert_eq!(recognize(f.path()).unwrap(), Recognized::Etcd);

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.log"), b"{}").unwrap();
        std::fs::write(dir.path().join("a.log.1"), b"{}").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let Recognized::Directory(files) = recognize(dir.path()).unwrap() else {
            panic!("a directory of files")
        };
        let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap()).collect();
        assert_eq!(names, ["a.log.1", "b.log"]);
        std::fs::create_dir_all(dir.path().join("member/snap")).unwrap();
        std::fs::write(dir.path().join("member/snap/db"), bolt_like(2, false)).unwrap();
        assert_eq!(recognize(dir.path()).unwrap(), Recognized::Etcd);
    }

    /// A small zstd file that expands past the decompression limit is
    /// refused instead of filling the temp directory.
    #[test]
    fn decompression_bombs_are_refused() {
        let zeros = vec![0u8; (MIN_DECOMPRESSED_LIMIT + (1 << 20)) as usize];
        let bomb = zstd::encode_all(&zeros[..], 19).unwrap();
        assert!(bomb.len() < 64 << 10);
        let f = write_temp(&bomb);
        let e = prepare(f.path()).unwrap_err().to_string();
        assert!(e.contains("decompression bomb"), "{e}");
    }

    #[test]
    fn data_directory_layouts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("member/snap")).unwrap();
        std::fs::write(dir.path().join("member/snap/db"), bolt_like(2, false)).unwrap();
        let p = prepare(dir.path()).unwrap();
        assert_eq!(p.kind, InputKind::DataDir);
        assert!(p.evidence_file.ends_with("member/snap/db"));
        let p = prepare(&dir.path().join("member")).unwrap();
        assert_eq!(p.kind, InputKind::DataDir);
    }
}
