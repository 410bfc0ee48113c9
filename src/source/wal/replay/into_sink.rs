//! A WAL directory replayed into a load: a first pass counts the values
//! each put writes (a stored copy anchors only a put the WAL makes once),
//! the second replays the committed entries and hands each put and
//! tombstone to the sink as the db would store it, with its raft entry.
//! Both passes stream; what is kept is a count per value the db holds (no
//! more entries than the db has records) and the keys' states.

use prost::Message;

use super::digest::value_digest;
use super::engine::{EntryPlace, Replay, Replayed, WalPutCounts};
use super::stored::StoredHistory;
use crate::helpers::{absolute, trace};
use crate::source::wal::{
    read_ahead, EntryStatus, Payload, Request, RequestOp, Settle, SettleLimits, SettledEntry,
    SettledItem, WalError, WalItem, WalSource, WalSummary,
};
use crate::source::RecordSink;
use crate::store::{DamageRow, SourceFileRow, WalReplayRow};

/// What a replay gave: its figures and the segments it read (both also
/// handed to the sink).
#[derive(Debug, Clone)]
pub struct WalReplayed {
    pub row: WalReplayRow,
    pub files: Vec<SourceFileRow>,
}

/// Replays the WAL at `wal` against `stored` into `sink`.
pub fn replay_into<S: RecordSink + ?Sized>(
    wal: &WalSource,
    stored: &StoredHistory,
    sink: &mut S,
) -> Result<WalReplayed, WalError> {
    let counted = count_puts(wal, stored)?;
    replay_counted_into(wal, stored, &counted, sink)
}

/// The first pass's result: how often the WAL puts each value that could
/// anchor, and its first applied entry.
#[derive(Debug, Default)]
pub struct WalCounted {
    counts: WalPutCounts,
    first_index: Option<u64>,
}

/// [`replay_into`] after its first pass ([`count_puts`]), which may have
/// run beside the db's load: `stored` is the history it counted against.
pub fn replay_counted_into<S: RecordSink + ?Sized>(
    wal: &WalSource,
    stored: &StoredHistory,
    counted: &WalCounted,
    sink: &mut S,
) -> Result<WalReplayed, WalError> {
    let consistent_index = stored.consistent_index();
    trace("wal: replaying");
    sink.wal_begins();
    let mut replay = Replay::new(stored, &counted.counts, counted.first_index);
    let settled = Settle::new(wal.open()?, SettleLimits::default());
    let mut damaged = 0u64;
    let emit = |sink: &mut S, r: Replayed| match r {
        Replayed::Put {
            revision,
            key_value,
            origin,
        } => sink.push_replayed(revision, key_value.encode_to_vec(), origin),
        Replayed::Tombstone {
            revision,
            key,
            origin,
        } => {
            let kv = crate::proto::etcd::KeyValue {
                key,
                ..Default::default()
            };
            sink.push_replayed(revision, kv.encode_to_vec(), origin)
        }
        Replayed::Held {
            revision,
            key,
            origin,
        } => sink.confirm_replayed(revision, key, origin),
        Replayed::Unresolved(u) => sink.unresolved(u),
    };
    let settled = read_ahead(settled, |item| {
        match item {
            SettledItem::Entry(entry) => {
                let at = EntryPlace {
                    index: entry.record.entry.index,
                    term: entry.record.entry.term,
                };
                let applied = applies(&entry, consistent_index);
                match (&entry.record.entry.payload, applied) {
                    (_, Fate::Replaced) => {}
                    (Payload::Proposal(p), Fate::Applied) => {
                        replay.apply(at, &p.request, &mut |r| emit(sink, r))
                    }
                    (Payload::Proposal(p), Fate::NotKnown) => {
                        replay.uncommitted(at, &p.request, &mut |r| emit(sink, r))
                    }
                    (Payload::Unreadable(u), Fate::Applied) => {
                        damaged += 1;
                        sink.damage(DamageRow {
                            reason: format!(
                                "WAL entry at raft index {}: {} (the replay's revision count restarts at the next anchor)",
                                at.index, u.reason
                            ),
                            ..DamageRow::default()
                        });
                        replay.unreadable(at.index);
                    }
                    _ => {}
                }
            }
            SettledItem::Other(WalItem::Damage(d)) => {
                damaged += 1;
                sink.damage(DamageRow {
                    file: Some(absolute(&d.file)),
                    offset: i64::try_from(d.offset).ok(),
                    reason: format!("WAL: {}", d.reason),
                    ..DamageRow::default()
                });
            }
            // An incomplete last record: the write a running member was
            // making when it was copied, or a copy cut short. Either way a
            // record is lost to the investigation.
            SettledItem::Other(WalItem::TornTail(t)) => {
                damaged += 1;
                sink.damage(DamageRow {
                    file: Some(absolute(&t.file)),
                    offset: i64::try_from(t.offset).ok(),
                    reason: format!(
                        "WAL torn tail: {} (the write a running etcd was making when it was copied, or a copy cut short; the records before it are whole)",
                        t.kind
                    ),
                    ..DamageRow::default()
                });
            }
            SettledItem::Other(_) => {}
        }
    });
    let entries = settled.stats();
    let summary = settled.into_inner().finish();
    trace("wal: replayed");
    let stats = replay.stats();
    let row = WalReplayRow {
        directory: absolute(wal.path()),
        files: summary.files.len() as u64,
        bytes: summary.files.iter().map(|f| f.size).sum(),
        first_index: summary.first_index,
        last_index: summary.last_index,
        consistent_index,
        committed_entries: entries.committed,
        replaced_entries: entries.replaced,
        uncommitted_entries: entries.uncommitted_at_end + entries.released_buffer_full,
        applied_writes: stats.applied_writes,
        replayed_records: stats.replayed_records,
        failed_compares: stats.failed_compares,
        unresolved: stats.unresolved,
        contradictions: stats.contradictions,
        damaged,
    };
    let files = segment_files(&summary);
    sink.source_files(files.clone());
    sink.wal_replay(row.clone());
    Ok(WalReplayed { row, files })
}

/// What became of an entry, for the replay.
enum Fate {
    Applied,
    Replaced,
    NotKnown,
}

/// An entry applied if a commit index covers it, or if the db was applied
/// past it.
fn applies(entry: &SettledEntry, consistent_index: Option<u64>) -> Fate {
    match entry.status {
        EntryStatus::Committed => Fate::Applied,
        EntryStatus::Replaced { .. } => Fate::Replaced,
        EntryStatus::NotKnownCommitted(_)
            if consistent_index.is_some_and(|ci| entry.record.entry.index <= ci) =>
        {
            Fate::Applied
        }
        EntryStatus::NotKnownCommitted(_) => Fate::NotKnown,
    }
}

/// The first pass (needs `stored` finished): how often applied entries put each key and value that
/// could anchor (the db holds it once; others are not counted, so the
/// counts stay within the db's size however long the WAL), and the first
/// entry's raft index. The second pass hashes the segments; this one reads
/// the same items without.
pub fn count_puts(wal: &WalSource, stored: &StoredHistory) -> Result<WalCounted, WalError> {
    trace("wal: counting puts");
    let consistent_index = stored.consistent_index();
    let mut counts = WalPutCounts::default();
    let mut first_index = None;
    let reader = wal.open()?.without_hashes();
    read_ahead(Settle::new(reader, SettleLimits::default()), |item| {
        let SettledItem::Entry(entry) = item else {
            return;
        };
        if !matches!(applies(&entry, consistent_index), Fate::Applied) {
            return;
        }
        first_index = first_index.or(Some(entry.record.entry.index));
        if let Payload::Proposal(p) = &entry.record.entry.payload {
            let mut count = |key: &[u8], value: &[u8]| {
                let digest = value_digest(key, value);
                if stored.anchor(digest).is_some() {
                    *counts.entry(digest).or_default() += 1;
                }
            };
            match &p.request {
                Request::Put(put) => count(&put.key, &put.value),
                Request::Txn(txn) => count_ops(txn.success.iter().chain(&txn.failure), &mut count),
                _ => {}
            }
        }
    });
    trace("wal: counted");
    Ok(WalCounted {
        counts,
        first_index,
    })
}

fn count_ops<'a>(ops: impl Iterator<Item = &'a RequestOp>, count: &mut impl FnMut(&[u8], &[u8])) {
    for op in ops {
        match op {
            RequestOp::Put(p) => count(&p.key, &p.value),
            RequestOp::Txn(t) => count_ops(t.success.iter().chain(&t.failure), count),
            _ => {}
        }
    }
}

/// Each segment read, hashed as it was read.
fn segment_files(summary: &WalSummary) -> Vec<SourceFileRow> {
    summary
        .files
        .iter()
        .map(|f| SourceFileRow {
            path: absolute(&f.path),
            role: "wal",
            sha256: f.sha256.clone(),
            size_bytes: f.size,
        })
        .collect()
}
