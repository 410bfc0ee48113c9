//! Raft's log rule over the reader's stream, with bounded memory: an index
//! written again replaces the entry there and every entry after it
//! (etcd's `ReadAll`: `ents = append(ents[:up], e)`), and entries at or
//! below a hard state's commit index (or a snapshot marker's index) are
//! final.
//!
//! [`Settle`] holds the entries above the last commit index; each leaves
//! it as a [`SettledEntry`]: committed once a commit index covers it,
//! replaced when a later record rewrites its index, or not known to be
//! committed when the WAL ends or the buffer passes its cap (the oldest
//! goes first). Every other item passes through at once, so a damage item
//! can come out before entries read ahead of it.

use std::collections::VecDeque;

use super::item::{EntryRecord, Location, WalItem};

/// Bounds on the entries [`Settle`] holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettleLimits {
    /// Most entries held.
    pub max_entries: usize,
    /// Most entry data bytes held.
    pub max_bytes: usize,
}

impl Default for SettleLimits {
    /// 65 536 entries or 256 MiB: a single member writes a hard state with
    /// every batch, so far fewer are ever waiting.
    fn default() -> SettleLimits {
        SettleLimits {
            max_entries: 1 << 16,
            max_bytes: 256 << 20,
        }
    }
}

/// An entry with what is known of its fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledEntry {
    /// The entry and where it was read.
    pub record: EntryRecord,
    /// Its fate.
    pub status: EntryStatus,
}

/// What is known of an entry's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// At or below a commit index: final.
    Committed,
    /// A later record wrote its index again (a new leader overwrote an
    /// uncommitted tail): it never took effect.
    Replaced {
        /// Term of the entry that replaced it (or its successor).
        by_term: u64,
        /// Where that entry was read.
        at: Location,
    },
    /// Released before any commit index covered it.
    NotKnownCommitted(Uncommitted),
}

/// Why an entry was released without a commit index covering it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncommitted {
    /// The WAL ended.
    EndOfWal,
    /// The buffer passed a [`SettleLimits`] bound.
    BufferFull,
}

/// One item out of [`Settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettledItem {
    /// An entry and its fate.
    Entry(SettledEntry),
    /// Any other item of the stream, passed through as read.
    Other(WalItem),
}

/// Counts of what [`Settle`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SettleStats {
    /// Entries released as committed.
    pub committed: u64,
    /// Entries replaced by a later write of their index.
    pub replaced: u64,
    /// Entries still uncommitted when the WAL ended.
    pub uncommitted_at_end: u64,
    /// Entries released because the buffer was full.
    pub released_buffer_full: u64,
    /// Entries written at an index at or below the commit index (their
    /// index was already final; released as committed).
    pub written_below_commit: u64,
    /// Largest number of entries held at once.
    pub max_held: usize,
}

/// Applies raft's log rule to a stream of [`WalItem`]s.
pub struct Settle<I> {
    inner: I,
    limits: SettleLimits,
    held: VecDeque<EntryRecord>,
    held_bytes: usize,
    commit: u64,
    out: VecDeque<SettledItem>,
    stats: SettleStats,
    ended: bool,
}

impl<I: Iterator<Item = WalItem>> Settle<I> {
    /// Settles the entries of `inner`.
    pub fn new(inner: I, limits: SettleLimits) -> Settle<I> {
        Settle {
            inner,
            limits,
            held: VecDeque::new(),
            held_bytes: 0,
            commit: 0,
            out: VecDeque::new(),
            stats: SettleStats::default(),
            ended: false,
        }
    }

    /// What it did so far.
    pub fn stats(&self) -> SettleStats {
        self.stats
    }

    /// The highest commit index seen.
    pub fn commit_index(&self) -> u64 {
        self.commit
    }

    /// The stream underneath (e.g. for the reader's summary).
    pub fn inner(&self) -> &I {
        &self.inner
    }

    /// Gives the stream back; held entries are dropped.
    pub fn into_inner(self) -> I {
        self.inner
    }

    fn release(&mut self, record: EntryRecord, status: EntryStatus) {
        match status {
            EntryStatus::Committed => self.stats.committed += 1,
            EntryStatus::Replaced { .. } => self.stats.replaced += 1,
            EntryStatus::NotKnownCommitted(Uncommitted::EndOfWal) => {
                self.stats.uncommitted_at_end += 1
            }
            EntryStatus::NotKnownCommitted(Uncommitted::BufferFull) => {
                self.stats.released_buffer_full += 1
            }
        }
        self.out
            .push_back(SettledItem::Entry(SettledEntry { record, status }));
    }

    fn pop_front(&mut self) -> Option<EntryRecord> {
        let r = self.held.pop_front()?;
        self.held_bytes -= r.entry.data_bytes;
        Some(r)
    }

    fn pop_back(&mut self) -> Option<EntryRecord> {
        let r = self.held.pop_back()?;
        self.held_bytes -= r.entry.data_bytes;
        Some(r)
    }

    /// Raises the commit index and releases what it covers.
    fn commit_to(&mut self, index: u64) {
        if index <= self.commit {
            return;
        }
        self.commit = index;
        while self.held.front().is_some_and(|r| r.entry.index <= index) {
            if let Some(r) = self.pop_front() {
                self.release(r, EntryStatus::Committed);
            }
        }
    }

    fn on_entry(&mut self, record: EntryRecord) {
        let (index, term, at) = (record.entry.index, record.entry.term, record.at);
        // Everything held at this index or after it is overwritten. Release
        // in index order: the oldest replaced entry first.
        let from = self.held.partition_point(|r| r.entry.index < index);
        if from < self.held.len() {
            let mut replaced = Vec::with_capacity(self.held.len() - from);
            while self.held.len() > from {
                if let Some(r) = self.pop_back() {
                    replaced.push(r);
                }
            }
            for r in replaced.into_iter().rev() {
                self.release(r, EntryStatus::Replaced { by_term: term, at });
            }
        }
        if index <= self.commit {
            self.stats.written_below_commit += 1;
            self.release(record, EntryStatus::Committed);
            return;
        }
        self.held_bytes += record.entry.data_bytes;
        self.held.push_back(record);
        self.stats.max_held = self.stats.max_held.max(self.held.len());
        while self.held.len() > self.limits.max_entries.max(1)
            || (self.held_bytes > self.limits.max_bytes && self.held.len() > 1)
        {
            if let Some(r) = self.pop_front() {
                self.release(r, EntryStatus::NotKnownCommitted(Uncommitted::BufferFull));
            }
        }
    }
}

impl<I: Iterator<Item = WalItem>> Iterator for Settle<I> {
    type Item = SettledItem;

    fn next(&mut self) -> Option<SettledItem> {
        loop {
            if let Some(item) = self.out.pop_front() {
                return Some(item);
            }
            if self.ended {
                return None;
            }
            match self.inner.next() {
                Some(WalItem::Entry(record)) => self.on_entry(record),
                Some(item) => {
                    match &item {
                        WalItem::HardState(s) => self.commit_to(s.state.commit),
                        WalItem::Snapshot(s) => self.commit_to(s.snapshot.index),
                        _ => {}
                    }
                    self.out.push_back(SettledItem::Other(item));
                }
                None => {
                    self.ended = true;
                    while let Some(r) = self.pop_front() {
                        self.release(r, EntryStatus::NotKnownCommitted(Uncommitted::EndOfWal));
                    }
                }
            }
        }
    }
}
