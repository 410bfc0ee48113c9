//! What a WAL holds, without loading it (`evforensics info`): its entries'
//! fates, the proposals by kind, and the Event writes proposed — how many,
//! how far back in time they reach, and how many are newer than the db
//! beside the WAL.

use std::fmt;
use std::path::{Path, PathBuf};

use super::commit::{EntryStatus, Settle, SettleLimits, SettleStats, SettledItem};
use super::entry::Payload;
use super::error::WalError;
use super::ops::Put;
use super::reader::WalReader;
use super::request::Request;
use super::summary::{WalSummary, MAX_DAMAGE_KEPT};
use super::txn::{RequestOp, Txn};
use crate::source::survey::OccurrenceSpan;

/// Committed proposals, by kind of request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProposalCounts {
    pub puts: u64,
    pub delete_ranges: u64,
    pub txns: u64,
    pub compactions: u64,
    pub lease_grants: u64,
    pub lease_revokes: u64,
    /// Lease checkpoints and the requests not read further (auth, alarms,
    /// etcd's own v2 requests).
    pub other: u64,
}

/// The Event writes among the committed proposals. A transaction's puts
/// are counted as proposed: whether its compares held is only known once
/// the history is replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventWrites {
    /// Puts of Event keys (plain, or in a transaction's branches).
    pub puts: u64,
    /// Of those, in entries after the db's consistent index: newer than
    /// everything the db holds.
    pub puts_after_db: u64,
    /// Deletes of a range holding Event keys.
    pub deletes: u64,
    /// When the Events put happened.
    pub span: OccurrenceSpan,
}

/// What one WAL directory holds.
#[derive(Debug, Clone, Default)]
pub struct WalSurvey {
    pub summary: WalSummary,
    /// The entries' fates (committed, replaced, not known committed).
    pub entries: SettleStats,
    pub proposals: ProposalCounts,
    pub events: EventWrites,
    /// The first [`MAX_DAMAGE_KEPT`] entries whose data could not be read,
    /// whatever their fate (all are counted in
    /// [`EntryCounts::unreadable`](super::EntryCounts::unreadable)).
    pub unreadable: Vec<UnreadableEntry>,
}

/// An entry whose record checked out but whose data could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableEntry {
    /// The segment.
    pub file: PathBuf,
    /// Byte offset of its frame.
    pub offset: u64,
    /// Its raft index.
    pub index: u64,
    /// Why.
    pub reason: String,
}

impl fmt::Display for UnreadableEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at offset {}: entry {} unreadable: {}",
            self.file.display(),
            self.offset,
            self.index,
            self.reason
        )
    }
}

/// Reads the WAL in `dir`, keeping the Event writes under `prefix`.
/// `consistent_index`: the raft index the db beside it was applied up to.
pub fn survey_wal(
    dir: &Path,
    prefix: &str,
    consistent_index: Option<u64>,
) -> Result<WalSurvey, WalError> {
    let mut settled = Settle::new(WalReader::open(dir)?, SettleLimits::default());
    let mut survey = WalSurvey::default();
    let prefix = prefix.as_bytes();
    // (segment position, offset, index, reason): paths once the read is done.
    let mut unreadable = Vec::new();
    for item in settled.by_ref() {
        let SettledItem::Entry(entry) = item else {
            continue;
        };
        if let Payload::Unreadable(u) = &entry.record.entry.payload {
            if unreadable.len() < MAX_DAMAGE_KEPT {
                let at = entry.record.at;
                unreadable.push((
                    at.file,
                    at.offset,
                    entry.record.entry.index,
                    u.reason.clone(),
                ));
            }
        }
        if entry.status != EntryStatus::Committed {
            continue;
        }
        let Payload::Proposal(proposal) = &entry.record.entry.payload else {
            continue;
        };
        let after_db = consistent_index.is_some_and(|ci| entry.record.entry.index > ci);
        let mut tally = EventTally {
            prefix,
            after_db,
            events: &mut survey.events,
        };
        let p = &mut survey.proposals;
        match &proposal.request {
            Request::Put(put) => {
                p.puts += 1;
                tally.put(put);
            }
            Request::DeleteRange(d) => {
                p.delete_ranges += 1;
                tally.delete(&d.key);
            }
            Request::Txn(txn) => {
                p.txns += 1;
                tally.txn(txn);
            }
            Request::Compaction(_) => p.compactions += 1,
            Request::LeaseGrant(_) => p.lease_grants += 1,
            Request::LeaseRevoke(_) => p.lease_revokes += 1,
            Request::LeaseCheckpoint(_) | Request::Other(_) => p.other += 1,
        }
    }
    survey.entries = settled.stats();
    survey.summary = settled.into_inner().finish();
    let files = &survey.summary.files;
    survey.unreadable = unreadable
        .into_iter()
        .map(|(file, offset, index, reason)| UnreadableEntry {
            file: files.get(file).map(|f| f.path.clone()).unwrap_or_default(),
            offset,
            index,
            reason,
        })
        .collect();
    Ok(survey)
}

/// Counts the Event writes of one proposal.
struct EventTally<'a> {
    prefix: &'a [u8],
    after_db: bool,
    events: &'a mut EventWrites,
}

impl EventTally<'_> {
    fn put(&mut self, put: &Put) {
        if !put.key.starts_with(self.prefix) {
            return;
        }
        let e = &mut *self.events;
        e.puts += 1;
        e.puts_after_db += u64::from(self.after_db);
        if !put.ignore_value {
            e.span.add_value(&put.value);
        }
    }

    fn delete(&mut self, key: &[u8]) {
        if key.starts_with(self.prefix) {
            self.events.deletes += 1;
        }
    }

    /// Both branches: the survey does not know which one ran. (Nesting is
    /// bounded by the reader.)
    fn txn(&mut self, txn: &Txn) {
        for op in txn.success.iter().chain(&txn.failure) {
            match op {
                RequestOp::Put(put) => self.put(put),
                RequestOp::DeleteRange(d) => self.delete(&d.key),
                RequestOp::Txn(inner) => self.txn(inner),
                RequestOp::Range(_) | RequestOp::Empty | RequestOp::TooDeep => {}
            }
        }
    }
}
