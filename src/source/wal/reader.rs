//! [`WalReader`]: a streaming iterator over the records of a WAL's segments
//! in file order, checking the CRC chain across records and segments.
//!
//! One frame is in memory at a time (at most
//! [`MAX_RECORD_BYTES`](super::layout::MAX_RECORD_BYTES)), files are read
//! through a bounded buffer, and nothing the bytes say can make it panic.
//! Frame and CRC damage ends the reading of that segment with a
//! [`Damage`] naming the file and offset; the next segment is read from
//! its crc record on. A partial frame or zeroed sector at the end of the
//! last segment is a [`TornTail`], not damage.

use std::collections::VecDeque;
use std::path::Path;

use prost::Message as _;

use crate::proto::walpb;

use super::damage::{Damage, DamageReason, TornKind, TornTail};
use super::entry::{decode_entry, decode_hard_state, decode_metadata, decode_snapshot, Payload};
use super::error::WalError;
use super::frame::{Frame, FrameEnd, FrameReader, FrameStep};
use super::item::{EntryRecord, Location, MetadataRecord, SnapshotRecord, StateRecord, WalItem};
use super::layout::{
    crc_append, CRC_TYPE, ENTRY_TYPE, FRAME_WORD_BYTES, MAX_RECORD_BYTES, METADATA_TYPE,
    SNAPSHOT_TYPE, STATE_TYPE,
};
use super::listing::{list_segments, WalDirectory};
use super::request::{OtherRequest, Request};
use super::segment::Segment;
use super::summary::{CrcStart, FileEnd, FileSummary, WalSummary, MAX_DAMAGE_KEPT};

/// Reads a WAL's segments in order, yielding [`WalItem`]s; the
/// [`WalSummary`] fills in as it goes.
pub struct WalReader {
    segments: Vec<Segment>,
    next_segment: usize,
    current: Option<Current>,
    /// The running CRC-32C; `None` once the chain is unknown (after damage,
    /// a sequence gap or a segment that could not be opened).
    running: Option<u32>,
    queue: VecDeque<WalItem>,
    summary: WalSummary,
    /// Each segment goes through SHA-256 (see [`without_hashes`](Self::without_hashes)).
    hash: bool,
}

/// The segment being read.
struct Current {
    file: usize,
    frames: FrameReader,
    is_last: bool,
    first_record: bool,
}

/// Whether a record lets the segment's reading go on.
enum Next {
    Continue,
    Stop(FileEnd),
}

impl WalReader {
    /// Lists `dir` (`member/wal`) and reads its segments in sequence order.
    pub fn open(dir: &Path) -> Result<WalReader, WalError> {
        Ok(Self::from_directory(list_segments(dir)?))
    }

    /// Reads a listed directory.
    pub fn from_directory(listing: WalDirectory) -> WalReader {
        let mut reader = Self::new(listing.segments);
        reader.summary.dir = Some(listing.dir);
        reader.summary.preallocated = listing.preallocated;
        reader.summary.ignored = listing.ignored;
        reader
    }

    /// Reads `segments` in the order given (the last one may have a torn
    /// tail); consecutive sequence numbers must differ by one.
    pub fn new(segments: Vec<Segment>) -> WalReader {
        let files = segments
            .iter()
            .map(|s| FileSummary {
                path: s.path.clone(),
                name: s.name,
                size: 0,
                sha256: None,
                hashed_bytes: 0,
                records: 0,
                data_end: 0,
                crc_start: CrcStart::NotRead,
                end: FileEnd::NotRead,
            })
            .collect();
        WalReader {
            segments,
            next_segment: 0,
            current: None,
            running: Some(0),
            queue: VecDeque::new(),
            summary: WalSummary {
                files,
                ..WalSummary::default()
            },
            hash: true,
        }
    }

    /// Reads without hashing the segments: the same items, but no
    /// [`FileSummary::sha256`](super::FileSummary) (for a second pass over
    /// segments another reader hashes).
    pub fn without_hashes(mut self) -> WalReader {
        self.hash = false;
        self
    }

    /// What has been read so far (all of it once the iterator is done).
    pub fn summary(&self) -> &WalSummary {
        &self.summary
    }

    /// Reads whatever is left and returns the summary.
    pub fn finish(mut self) -> WalSummary {
        for _ in self.by_ref() {}
        self.summary
    }

    /// The path of segment `file` (a [`Location::file`]).
    pub fn file_path(&self, file: usize) -> Option<&Path> {
        self.summary.files.get(file).map(|f| f.path.as_path())
    }

    /// Opens the next segment; `false` when there is none.
    fn open_next(&mut self) -> bool {
        let Some(file) = (self.next_segment < self.segments.len()).then_some(self.next_segment)
        else {
            return false;
        };
        self.next_segment += 1;
        if file > 0 {
            let (previous, next) = (
                self.segments[file - 1].name.seq,
                self.segments[file].name.seq,
            );
            if previous.checked_add(1) != Some(next) {
                self.running = None;
                self.damage(file, 0, DamageReason::SequenceGap { previous, next });
            }
        }
        match self.segments[file].open() {
            Ok(open) => {
                let frames = FrameReader::new(open, self.hash);
                self.summary.files[file].size = frames.size();
                self.current = Some(Current {
                    file,
                    frames,
                    is_last: file + 1 == self.segments.len(),
                    first_record: true,
                });
            }
            Err(error) => {
                self.running = None;
                self.summary.files[file].end = FileEnd::Unopenable;
                self.damage(file, 0, DamageReason::Unopenable(error));
            }
        }
        true
    }

    fn damage(&mut self, file: usize, offset: u64, reason: DamageReason) {
        let damage = Damage {
            file: self.summary.files[file].path.clone(),
            offset,
            reason,
        };
        self.summary.damage_count += 1;
        if self.summary.damage.len() < MAX_DAMAGE_KEPT {
            self.summary.damage.push(damage.clone());
        }
        self.queue.push_back(WalItem::Damage(damage));
    }

    fn torn(&mut self, file: usize, offset: u64, kind: TornKind) {
        let torn = TornTail {
            file: self.summary.files[file].path.clone(),
            offset,
            kind,
        };
        self.summary.torn_tail = Some(torn.clone());
        self.queue.push_back(WalItem::TornTail(torn));
    }

    /// A frame that does not check out: a torn tail when it is in the last
    /// segment and has a zeroed sector (etcd's `isTornEntry`), else damage.
    fn bad_frame(
        &mut self,
        file: usize,
        is_last: bool,
        frame: &Frame,
        reason: DamageReason,
    ) -> Next {
        self.running = None;
        if is_last && frame.has_zeroed_sector() {
            let problem = reason.to_string();
            self.torn(file, frame.offset, TornKind::ZeroedSector { problem });
            Next::Stop(FileEnd::TornTail)
        } else {
            self.damage(file, frame.offset, reason);
            Next::Stop(FileEnd::Damage)
        }
    }

    fn on_frame(&mut self, frame: Frame) -> Next {
        let Some(cur) = self.current.as_mut() else {
            return Next::Stop(FileEnd::Damage);
        };
        let (file, is_last, first) = (cur.file, cur.is_last, cur.first_record);
        cur.first_record = false;
        let record = match walpb::Record::decode(frame.record()) {
            Ok(r) => r,
            Err(e) => {
                return self.bad_frame(
                    file,
                    is_last,
                    &frame,
                    DamageReason::BadRecord(e.to_string()),
                )
            }
        };
        if record.r#type == CRC_TYPE {
            let start = match self.running {
                None | Some(0) => CrcStart::Adopted,
                Some(r) if r == record.crc => CrcStart::Verified,
                Some(running) => {
                    let reason = DamageReason::CrcChainBroken {
                        stored: record.crc,
                        running,
                    };
                    self.damage(file, frame.offset, reason);
                    CrcStart::Broken
                }
            };
            if first {
                self.summary.files[file].crc_start = start;
            }
            self.running = Some(record.crc);
            self.summary.records.crc += 1;
        } else {
            if first {
                self.summary.files[file].crc_start = CrcStart::NoCrcRecord;
            }
            if let Some(running) = self.running {
                let computed = crc_append(running, &record.data);
                if computed != record.crc {
                    let reason = DamageReason::CrcMismatch {
                        record_type: record.r#type,
                        stored: record.crc,
                        computed,
                    };
                    return self.bad_frame(file, is_last, &frame, reason);
                }
            }
            // With the chain unknown, the record's own CRC starts it again.
            self.running = Some(record.crc);
        }
        let at = Location {
            file,
            offset: frame.offset,
        };
        let summary = &mut self.summary.files[file];
        summary.records += 1;
        summary.data_end = frame.offset + FRAME_WORD_BYTES + frame.body.len() as u64;
        self.on_record(at, record.r#type, &record.data);
        Next::Continue
    }

    /// A record whose CRC checked out: count it and queue its item.
    fn on_record(&mut self, at: Location, record_type: i64, data: &[u8]) {
        let bad_data = |error: prost::DecodeError| DamageReason::BadRecordData {
            record_type,
            error: error.to_string(),
        };
        let records = &mut self.summary.records;
        match record_type {
            CRC_TYPE => {}
            METADATA_TYPE => {
                records.metadata += 1;
                match decode_metadata(data) {
                    Ok(metadata) => {
                        match self.summary.metadata {
                            Some(first) if first != metadata => {
                                let reason = DamageReason::MetadataConflict {
                                    first,
                                    found: metadata,
                                };
                                self.damage(at.file, at.offset, reason);
                            }
                            Some(_) => {}
                            None => self.summary.metadata = Some(metadata),
                        }
                        self.queue
                            .push_back(WalItem::Metadata(MetadataRecord { at, metadata }));
                    }
                    Err(e) => self.damage(at.file, at.offset, bad_data(e)),
                }
            }
            ENTRY_TYPE => {
                records.entry += 1;
                match decode_entry(data) {
                    Ok(decoded) => {
                        self.count_entry(&decoded.entry.payload, decoded.cut_ops);
                        let index = decoded.entry.index;
                        let s = &mut self.summary;
                        s.first_index = Some(s.first_index.map_or(index, |i| i.min(index)));
                        s.last_index = Some(s.last_index.map_or(index, |i| i.max(index)));
                        self.queue.push_back(WalItem::Entry(EntryRecord {
                            at,
                            entry: decoded.entry,
                        }));
                    }
                    Err(e) => self.damage(at.file, at.offset, bad_data(e)),
                }
            }
            STATE_TYPE => {
                records.state += 1;
                match decode_hard_state(data) {
                    Ok(state) => {
                        self.summary.last_hard_state = Some(state);
                        self.queue
                            .push_back(WalItem::HardState(StateRecord { at, state }));
                    }
                    Err(e) => self.damage(at.file, at.offset, bad_data(e)),
                }
            }
            SNAPSHOT_TYPE => {
                records.snapshot += 1;
                match decode_snapshot(data) {
                    Ok(snapshot) => {
                        self.summary.last_snapshot = Some(snapshot);
                        self.queue
                            .push_back(WalItem::Snapshot(SnapshotRecord { at, snapshot }));
                    }
                    Err(e) => self.damage(at.file, at.offset, bad_data(e)),
                }
            }
            _ => {
                records.unknown += 1;
                self.damage(
                    at.file,
                    at.offset,
                    DamageReason::UnknownRecordType { record_type },
                );
            }
        }
    }

    fn count_entry(&mut self, payload: &Payload, cut_ops: u64) {
        let e = &mut self.summary.entries;
        e.txn_ops_cut += cut_ops;
        match payload {
            Payload::LeaderNoop => e.leader_noops += 1,
            Payload::Proposal(p) => match &p.request {
                Request::Other(OtherRequest::V2(_)) => e.v2_requests += 1,
                Request::Other(_) => e.other_requests += 1,
                _ => e.proposals += 1,
            },
            Payload::ConfChange(_) | Payload::ConfChangeV2(_) => e.conf_changes += 1,
            Payload::Unreadable(_) => e.unreadable += 1,
        }
    }

    /// The segment has no more frames: say why, then hash the rest of it.
    fn on_end(&mut self, end: FrameEnd) -> FileEnd {
        let Some(cur) = self.current.as_ref() else {
            return FileEnd::Damage;
        };
        let (file, is_last) = (cur.file, cur.is_last);
        match end {
            FrameEnd::EndOfFile => FileEnd::EndOfFile,
            FrameEnd::ZeroWord { .. } => FileEnd::EndOfData,
            FrameEnd::ShortWord { offset, available } if is_last => {
                self.torn(file, offset, TornKind::PartialLengthWord { available });
                FileEnd::TornTail
            }
            FrameEnd::ShortWord { offset, available } => {
                self.damage(
                    file,
                    offset,
                    DamageReason::TruncatedLengthWord { available },
                );
                FileEnd::Damage
            }
            FrameEnd::PastEnd {
                offset,
                body_bytes,
                remaining,
            } if is_last => {
                let kind = TornKind::PartialFrame {
                    body_bytes,
                    remaining,
                };
                self.torn(file, offset, kind);
                FileEnd::TornTail
            }
            FrameEnd::PastEnd {
                offset,
                body_bytes,
                remaining,
            } => {
                let reason = DamageReason::FramePastEnd {
                    body_bytes,
                    remaining,
                };
                self.damage(file, offset, reason);
                FileEnd::Damage
            }
            FrameEnd::BadWord { offset, word } => {
                self.damage(file, offset, DamageReason::BadLengthWord { word });
                FileEnd::Damage
            }
            FrameEnd::OverCap {
                offset,
                record_bytes,
            } => {
                let reason = DamageReason::FrameTooLong {
                    record_bytes,
                    cap: MAX_RECORD_BYTES,
                };
                self.damage(file, offset, reason);
                FileEnd::Damage
            }
            FrameEnd::Read { offset, error } => {
                self.damage(file, offset, DamageReason::Read(error));
                FileEnd::Damage
            }
        }
    }

    /// Hashes the rest of the current segment and fills in its summary.
    fn close_segment(&mut self, end: FileEnd) {
        let Some(cur) = self.current.take() else {
            return;
        };
        let file = cur.file;
        let scan = end == FileEnd::EndOfData;
        let data_end = self.summary.files[file].data_end;
        let done = cur.frames.finish(scan);
        if matches!(end, FileEnd::Damage | FileEnd::TornTail) {
            self.running = None;
        }
        if let Some(first_nonzero) = done.first_nonzero {
            if cur.is_last {
                let kind = TornKind::BytesAfterEnd { first_nonzero };
                self.torn(file, data_end, kind);
            } else {
                self.running = None;
                self.damage(file, data_end, DamageReason::DataAfterEnd { first_nonzero });
            }
        }
        let read_failed = done.read_error.is_some() && end != FileEnd::Damage;
        if let (true, Some(error)) = (read_failed, done.read_error) {
            self.damage(file, done.hashed_bytes, DamageReason::Read(error));
        }
        let summary = &mut self.summary.files[file];
        summary.sha256 = done.sha256;
        summary.hashed_bytes = done.hashed_bytes;
        if summary.records == 0 {
            summary.crc_start = CrcStart::Empty;
        }
        summary.end = match end {
            _ if read_failed => FileEnd::Damage,
            _ if done.first_nonzero.is_some() && cur.is_last => FileEnd::TornTail,
            _ if done.first_nonzero.is_some() => FileEnd::Damage,
            other => other,
        };
    }
}

impl Iterator for WalReader {
    type Item = WalItem;

    fn next(&mut self) -> Option<WalItem> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            let Some(cur) = self.current.as_mut() else {
                if self.open_next() {
                    continue;
                }
                return None;
            };
            match cur.frames.next_frame() {
                FrameStep::Frame(frame) => {
                    if let Next::Stop(end) = self.on_frame(frame) {
                        self.close_segment(end);
                    }
                }
                FrameStep::End(end) => {
                    let end = self.on_end(end);
                    self.close_segment(end);
                }
            }
        }
    }
}
