//! Frames of one segment: the length word, the record and its padding,
//! every length checked against what the file has left and against
//! [`MAX_RECORD_BYTES`] before anything is allocated. Every byte read goes
//! through SHA-256 (unless the reader was told not to hash), and
//! [`FrameReader::finish`] reads (and hashes) the rest of the file after the
//! last frame, so the hash is of the whole segment.

use std::io::Read;

use sha2::{Digest, Sha256};

use crate::helpers::hex;

use super::layout::{FrameWord, FRAME_WORD_BYTES, MAX_RECORD_BYTES, SECTOR_BYTES};
use super::segment::{OpenSegment, READ_BUFFER_BYTES};

/// One frame's record.
pub(super) struct Frame {
    /// Offset of the length word.
    pub offset: u64,
    /// The record's bytes followed by the padding.
    pub body: Vec<u8>,
    /// How many of `body` are the record.
    pub record_bytes: usize,
}

impl Frame {
    pub fn record(&self) -> &[u8] {
        &self.body[..self.record_bytes]
    }

    /// etcd's `isTornEntry`: some 512-byte sector of the file that the body
    /// covers is all zeros.
    pub fn has_zeroed_sector(&self) -> bool {
        let mut at = self.offset + FRAME_WORD_BYTES;
        let mut rest = self.body.as_slice();
        while !rest.is_empty() {
            let in_sector = (SECTOR_BYTES - at % SECTOR_BYTES) as usize;
            let (chunk, tail) = rest.split_at(in_sector.min(rest.len()));
            if chunk.iter().all(|&b| b == 0) {
                return true;
            }
            at += chunk.len() as u64;
            rest = tail;
        }
        false
    }
}

/// Why a segment has no more frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FrameEnd {
    /// The file ends right after a frame.
    EndOfFile,
    /// A zero length word: the data ends, preallocated space follows.
    ZeroWord { offset: u64 },
    /// Fewer than 8 bytes are left.
    ShortWord { offset: u64, available: u64 },
    /// Reserved bits set or not aligned.
    BadWord { offset: u64, word: u64 },
    /// More than [`MAX_RECORD_BYTES`].
    OverCap { offset: u64, record_bytes: u64 },
    /// Runs past the end of the file.
    PastEnd {
        offset: u64,
        body_bytes: u64,
        remaining: u64,
    },
    /// A read failed.
    Read { offset: u64, error: String },
}

pub(super) enum FrameStep {
    Frame(Frame),
    End(FrameEnd),
}

/// How a segment's bytes ended up: its hash and what was after the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finished {
    /// SHA-256 of the whole file, when every byte could be read (and the
    /// reader hashes).
    pub sha256: Option<String>,
    /// Bytes read.
    pub hashed_bytes: u64,
    /// First non-zero byte after the last frame, when asked for.
    pub first_nonzero: Option<u64>,
    /// A read that failed while the rest was hashed.
    pub read_error: Option<String>,
}

pub(super) struct FrameReader {
    input: Box<dyn Read + Send>,
    size: u64,
    offset: u64,
    /// `None`: bytes are read and checked, not hashed.
    hasher: Option<Sha256>,
    failed: Option<String>,
}

impl FrameReader {
    /// Reads `open`; `hash`: every byte also goes through SHA-256.
    pub fn new(open: OpenSegment, hash: bool) -> FrameReader {
        FrameReader {
            input: open.input,
            size: open.size,
            offset: 0,
            hasher: hash.then(Sha256::new),
            failed: None,
        }
    }

    /// The file's size when it was opened.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next frame, or why there is none. After an end, call
    /// [`finish`](Self::finish).
    pub fn next_frame(&mut self) -> FrameStep {
        let offset = self.offset;
        let remaining = self.size.saturating_sub(offset);
        if remaining == 0 {
            return FrameStep::End(FrameEnd::EndOfFile);
        }
        if remaining < FRAME_WORD_BYTES {
            return FrameStep::End(FrameEnd::ShortWord {
                offset,
                available: remaining,
            });
        }
        let mut word = [0u8; FRAME_WORD_BYTES as usize];
        if let Err(error) = self.read_exact(&mut word) {
            return FrameStep::End(FrameEnd::Read { offset, error });
        }
        let raw = u64::from_le_bytes(word);
        if raw == 0 {
            return FrameStep::End(FrameEnd::ZeroWord { offset });
        }
        let parsed = FrameWord::decode(raw);
        if parsed.reserved_bits || !parsed.is_aligned() {
            return FrameStep::End(FrameEnd::BadWord { offset, word: raw });
        }
        if parsed.record_bytes > MAX_RECORD_BYTES {
            return FrameStep::End(FrameEnd::OverCap {
                offset,
                record_bytes: parsed.record_bytes,
            });
        }
        let left = remaining - FRAME_WORD_BYTES;
        if parsed.body_bytes() > left {
            return FrameStep::End(FrameEnd::PastEnd {
                offset,
                body_bytes: parsed.body_bytes(),
                remaining: left,
            });
        }
        // Bounded by MAX_RECORD_BYTES and by what the file holds.
        let mut body = vec![0u8; parsed.body_bytes() as usize];
        if let Err(error) = self.read_exact(&mut body) {
            return FrameStep::End(FrameEnd::Read { offset, error });
        }
        FrameStep::Frame(Frame {
            offset,
            body,
            record_bytes: parsed.record_bytes as usize,
        })
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), String> {
        match self.input.read_exact(buf) {
            Ok(()) => {
                if let Some(h) = &mut self.hasher {
                    h.update(&*buf);
                }
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                let error = e.to_string();
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Reads the rest of the file through the hash, looking for a non-zero
    /// byte when `scan` is set (also without a hash: what follows the data
    /// decides the CRC chain's next link, so both readings must agree).
    pub fn finish(mut self, scan: bool) -> Finished {
        let mut first_nonzero = None;
        let mut read_error = self.failed.take();
        if read_error.is_none() {
            let mut buf = vec![0u8; READ_BUFFER_BYTES];
            loop {
                match self.input.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let chunk = &buf[..n];
                        if scan && first_nonzero.is_none() {
                            if let Some(i) = chunk.iter().position(|&b| b != 0) {
                                first_nonzero = Some(self.offset + i as u64);
                            }
                        }
                        if let Some(h) = &mut self.hasher {
                            h.update(chunk);
                        }
                        self.offset += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        read_error = Some(e.to_string());
                        break;
                    }
                }
            }
        }
        if read_error.is_none() && self.offset != self.size {
            read_error = Some(format!(
                "file shrank while read: {} of {} bytes",
                self.offset, self.size
            ));
        }
        Finished {
            sha256: self
                .hasher
                .filter(|_| read_error.is_none())
                .map(|h| hex(&h.finalize())),
            hashed_bytes: self.offset,
            first_nonzero,
            read_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: Vec<u8>) -> FrameReader {
        FrameReader::new(
            OpenSegment {
                size: bytes.len() as u64,
                input: Box::new(std::io::Cursor::new(bytes)),
            },
            true,
        )
    }

    /// A frame is read with its padding; the hash covers the whole file,
    /// the zero tail included.
    #[test]
    fn reads_a_padded_frame_and_hashes_everything() {
        let (word, pad) = FrameWord::encode(3);
        let mut bytes = word.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        bytes.extend(std::iter::repeat_n(0, pad as usize));
        bytes.extend([0u8; 24]);
        let mut r = reader(bytes.clone());
        let FrameStep::Frame(f) = r.next_frame() else {
            panic!("no frame");
        };
        assert_eq!((f.offset, f.record()), (0, &b"abc"[..]));
        assert!(matches!(
            r.next_frame(),
            FrameStep::End(FrameEnd::ZeroWord { offset: 16 })
        ));
        let done = r.finish(true);
        assert_eq!(done.first_nonzero, None);
        assert_eq!(done.hashed_bytes, bytes.len() as u64);
        assert_eq!(done.sha256.unwrap(), hex(&Sha256::digest(&bytes)));
    }

    /// Lengths past the file or the cap end the frames without allocating.
    #[test]
    fn checks_lengths_before_reading() {
        let mut past = 1000u64.to_le_bytes().to_vec();
        past.extend([1u8; 16]);
        assert!(matches!(
            reader(past).next_frame(),
            FrameStep::End(FrameEnd::PastEnd {
                offset: 0,
                body_bytes: 1000,
                remaining: 16
            })
        ));
        let huge = (MAX_RECORD_BYTES + 8).to_le_bytes().to_vec();
        assert!(matches!(
            reader(huge).next_frame(),
            FrameStep::End(FrameEnd::OverCap { .. })
        ));
        let odd = 5u64.to_le_bytes().to_vec();
        assert!(matches!(
            reader(odd).next_frame(),
            FrameStep::End(FrameEnd::BadWord { word: 5, .. })
        ));
        assert!(matches!(
            reader(vec![1, 2, 3]).next_frame(),
            FrameStep::End(FrameEnd::ShortWord { available: 3, .. })
        ));
    }

    /// A sector of zeros inside the body is found relative to file offsets.
    #[test]
    fn finds_a_zeroed_sector() {
        let mut body = vec![1u8; 1024];
        let f = Frame {
            offset: 0,
            body: body.clone(),
            record_bytes: 1024,
        };
        assert!(!f.has_zeroed_sector());
        // File bytes 512..1024 are body bytes 504..1016.
        body[504..1016].fill(0);
        let f = Frame {
            offset: 0,
            body,
            record_bytes: 1024,
        };
        assert!(f.has_zeroed_sector());
    }
}
