//! Records a live pull holds back until every key range has read past them
//! (see [`pull`](super::pull)): one queue per range, in the order received
//! (revision order), holding a memory budget's worth of records in memory
//! all told (plus, while they are merged, one chunk read back per range) and
//! the rest in one unlinked temp file; and their merge, in revision order,
//! into pages ([`ReadyMerge`]).
//!
//! Spilling lets the history be read over many key ranges at once — fewer
//! rounds of etcd's watch server, so less of the cluster's CPU — without
//! the pull's memory growing with the history: with hundreds of ranges the
//! first round alone can bring the whole history, held until the slowest
//! range has caught up.
//!
//! The temp file is created on first use in the directory of the database
//! being written (which will take more room than the history anyway; a
//! system temp directory may be a RAM disk), and is unlinked at once:
//! nothing is left behind, even by a killed run. It grows to at most the
//! records spilled (each pulled record once, so at most the size of the
//! history read), and is read back in chunks of [`CHUNK_BYTES`].
//!
//! A spilled chunk: records, each framed as `main (8 bytes LE) · sub (8 LE)
//! · tombstone (1) · length (4 LE) · record bytes`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::source::mvcc::Revision;

/// Records are spilled in chunks of about this size: a range's front chunk
/// is in memory while its records are passed on, so this bounds what the
/// ranges' fronts take together.
pub const CHUNK_BYTES: usize = 64 << 10;

/// The bookkeeping cost of a record beside its bytes, for the budget.
const RECORD_OVERHEAD: usize = 48;

const FRAME: usize = 8 + 8 + 1 + 4;

/// One range's held records, oldest first.
#[derive(Default)]
pub struct HeldQueue {
    items: VecDeque<Held>,
}

enum Held {
    Record(Revision, Vec<u8>),
    Spilled {
        first_main: i64,
        at: u64,
        len: usize,
    },
}

impl HeldQueue {
    /// The main revision of the oldest record held.
    pub fn front_main(&self) -> Option<i64> {
        self.items.front().map(|item| match item {
            Held::Record(rev, _) => rev.main,
            Held::Spilled { first_main, .. } => *first_main,
        })
    }
}

/// The memory budget and the temp file shared by every range's queue.
pub struct HeldStore {
    budget: usize,
    in_memory: usize,
    /// Where the temp file goes.
    dir: PathBuf,
    file: Option<File>,
    /// Bytes written to the temp file (never reused: the file only grows).
    file_len: u64,
}

impl HeldStore {
    pub fn new(budget: usize, dir: PathBuf) -> HeldStore {
        HeldStore {
            budget,
            in_memory: 0,
            dir,
            file: None,
            file_len: 0,
        }
    }

    /// Bytes written to the temp file so far.
    pub fn spilled_bytes(&self) -> u64 {
        self.file_len
    }

    /// Appends `records` (in revision order, after what `queue` holds):
    /// kept in memory while the budget allows, else spilled.
    pub fn push(
        &mut self,
        queue: &mut HeldQueue,
        records: Vec<(Revision, Vec<u8>)>,
    ) -> io::Result<()> {
        let cost: usize = records.iter().map(|(_, r)| r.len() + RECORD_OVERHEAD).sum();
        if self.in_memory + cost <= self.budget {
            self.in_memory += cost;
            queue
                .items
                .extend(records.into_iter().map(|(rev, r)| Held::Record(rev, r)));
            return Ok(());
        }
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + FRAME);
        let mut first_main = None;
        for (rev, record) in records {
            let len = u32::try_from(record.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record over 4 GiB"))?;
            first_main.get_or_insert(rev.main);
            chunk.extend_from_slice(&rev.main.to_le_bytes());
            chunk.extend_from_slice(&rev.sub.to_le_bytes());
            chunk.push(u8::from(rev.tombstone));
            chunk.extend_from_slice(&len.to_le_bytes());
            chunk.extend_from_slice(&record);
            if chunk.len() >= CHUNK_BYTES {
                self.spill(queue, first_main.take().unwrap_or_default(), &chunk)?;
                chunk.clear();
            }
        }
        if let Some(first_main) = first_main {
            self.spill(queue, first_main, &chunk)?;
        }
        Ok(())
    }

    fn spill(&mut self, queue: &mut HeldQueue, first_main: i64, chunk: &[u8]) -> io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(tempfile::tempfile_in(&self.dir)?),
        };
        file.write_all_at(chunk, self.file_len)?;
        queue.items.push_back(Held::Spilled {
            first_main,
            at: self.file_len,
            len: chunk.len(),
        });
        self.file_len += chunk.len() as u64;
        Ok(())
    }

    /// Takes the oldest record of `queue`, reading its chunk back first if
    /// it was spilled.
    pub fn pop(&mut self, queue: &mut HeldQueue) -> io::Result<Option<(Revision, Vec<u8>)>> {
        if let Some(&Held::Spilled { at, len, .. }) = queue.items.front() {
            let records = self.read_chunk(at, len)?;
            queue.items.pop_front();
            self.in_memory += records
                .iter()
                .map(|(_, r)| r.len() + RECORD_OVERHEAD)
                .sum::<usize>();
            for (rev, record) in records.into_iter().rev() {
                queue.items.push_front(Held::Record(rev, record));
            }
        }
        Ok(match queue.items.pop_front() {
            Some(Held::Record(rev, record)) => {
                let cost = record.len() + RECORD_OVERHEAD;
                debug_assert!(self.in_memory >= cost, "held records' bytes miscounted");
                self.in_memory = self.in_memory.saturating_sub(cost);
                Some((rev, record))
            }
            // A chunk is never empty, so it was unfolded above.
            Some(Held::Spilled { .. }) | None => None,
        })
    }

    fn read_chunk(&self, at: u64, len: usize) -> io::Result<Vec<(Revision, Vec<u8>)>> {
        let corrupt = || io::Error::new(io::ErrorKind::InvalidData, "temp file reads back wrong");
        let file = self.file.as_ref().ok_or_else(corrupt)?;
        let mut chunk = vec![0u8; len];
        file.read_exact_at(&mut chunk, at)?;
        let mut records = Vec::new();
        let mut rest = chunk.as_slice();
        while !rest.is_empty() {
            let (frame, body) = rest.split_at_checked(FRAME).ok_or_else(corrupt)?;
            let word = |at: usize| -> [u8; 8] { frame[at..at + 8].try_into().unwrap_or_default() };
            let rev = Revision {
                main: i64::from_le_bytes(word(0)),
                sub: i64::from_le_bytes(word(8)),
                tombstone: frame[16] != 0,
            };
            let len = u32::from_le_bytes(frame[17..21].try_into().unwrap_or_default()) as usize;
            let (record, next) = body.split_at_checked(len).ok_or_else(corrupt)?;
            records.push((rev, record.to_vec()));
            rest = next;
        }
        Ok(records)
    }
}

/// A record passed on from a key range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The index of the key range that read it.
    pub range: usize,
    pub rev: Revision,
    pub record: Vec<u8>,
}

/// Merges what the queues hold up to a revision into pages in (revision,
/// range, sub revision) order — each range's records are in (revision, sub
/// revision) order already — taking one record at a time from the range
/// whose oldest is the oldest of all, so that only the ranges' fronts need
/// to be in memory.
pub struct ReadyMerge {
    read_to: i64,
    /// Each range's oldest revision up to `read_to`, with its index.
    fronts: BinaryHeap<Reverse<(i64, usize)>>,
}

impl ReadyMerge {
    /// The merge of what `queues` hold up to revision `read_to`.
    pub fn new(queues: &[&mut HeldQueue], read_to: i64) -> ReadyMerge {
        let fronts = queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| {
                q.front_main()
                    .filter(|&m| m <= read_to)
                    .map(|m| Reverse((m, i)))
            })
            .collect();
        ReadyMerge { read_to, fronts }
    }

    /// The next page: at least `page_len` records unless the merge ends
    /// first, and never a revision's records split between two pages (a
    /// transaction's changes travel together). Empty once all are taken.
    pub fn next_page(
        &mut self,
        store: &mut HeldStore,
        queues: &mut [&mut HeldQueue],
        page_len: usize,
    ) -> io::Result<Vec<Ready>> {
        let mut page: Vec<Ready> = Vec::new();
        while let Some(&Reverse((main, i))) = self.fronts.peek() {
            if page.len() >= page_len && page.last().is_some_and(|r| r.rev.main != main) {
                break;
            }
            self.fronts.pop();
            let Some(queue) = queues.get_mut(i) else {
                continue;
            };
            if let Some((rev, record)) = store.pop(queue)? {
                page.push(Ready {
                    range: i,
                    rev,
                    record,
                });
            }
            if let Some(m) = queue.front_main().filter(|&m| m <= self.read_to) {
                self.fronts.push(Reverse((m, i)));
            }
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir()
    }

    fn records(from: i64, n: i64, size: usize) -> Vec<(Revision, Vec<u8>)> {
        (from..from + n)
            .map(|main| {
                let rev = Revision {
                    main,
                    sub: main % 3,
                    tombstone: main % 5 == 0,
                };
                (rev, vec![(main % 251) as u8; size + (main as usize % 7)])
            })
            .collect()
    }

    #[test]
    fn queues_give_back_what_they_got_in_order_in_memory_or_spilled() {
        // A budget for about 30 records: most of what follows is spilled,
        // in several chunks, between records kept in memory.
        let mut store = HeldStore::new(30 * (1000 + RECORD_OVERHEAD), temp_dir());
        let (mut a, mut b) = (HeldQueue::default(), HeldQueue::default());
        let mut expect_a = Vec::new();
        let mut expect_b = Vec::new();
        for round in 0..6 {
            let ra = records(1 + round * 200, 200, 1000);
            let rb = records(1 + round * 200, 10, 20);
            expect_a.extend(ra.clone());
            expect_b.extend(rb.clone());
            store.push(&mut a, ra).unwrap();
            store.push(&mut b, rb).unwrap();
            // Drain part of `a` between pushes: memory frees up again.
            for _ in 0..50 {
                let (rev, record) = store.pop(&mut a).unwrap().unwrap();
                let (want_rev, want) = expect_a.remove(0);
                assert_eq!((rev, record), (want_rev, want));
            }
        }
        assert!(store.spilled_bytes() > 500_000);
        for (queue, expect) in [(&mut a, expect_a), (&mut b, expect_b)] {
            for (want_rev, want) in expect {
                assert_eq!(queue.front_main(), Some(want_rev.main));
                assert_eq!(store.pop(queue).unwrap(), Some((want_rev, want)));
            }
            assert_eq!(queue.front_main(), None);
            assert_eq!(store.pop(queue).unwrap(), None);
        }
        assert_eq!(store.in_memory, 0);
    }

    #[test]
    fn nothing_is_spilled_within_the_budget() {
        let mut store = HeldStore::new(1 << 20, temp_dir());
        let mut q = HeldQueue::default();
        store.push(&mut q, records(1, 100, 100)).unwrap();
        assert_eq!(store.spilled_bytes(), 0);
        assert!(store.file.is_none());
    }

    /// Three ranges with revisions interleaved, every third revision shared
    /// by all of them (multi-key transactions, some where a page would end),
    /// most of it spilled: the pages give every record up to `read_to` once,
    /// in (revision, range, sub revision) order, never splitting a revision.
    #[test]
    fn merged_pages_keep_revision_order_and_whole_revisions() {
        let mut store = HeldStore::new(20_000, temp_dir());
        let mut queues: Vec<HeldQueue> = (0..3).map(|_| HeldQueue::default()).collect();
        let mut all: Vec<Ready> = Vec::new();
        let mut per_range: Vec<Vec<(Revision, Vec<u8>)>> = vec![Vec::new(); 3];
        for main in 1..=3500i64 {
            // Every third revision: changes in several ranges; two changes
            // in one range at every 13th.
            let ranges: Vec<usize> = if main % 3 == 0 {
                vec![0, 1, 2]
            } else {
                vec![(main as usize * 7) % 3]
            };
            for &i in &ranges {
                let subs = if main % 13 == 0 { 2 } else { 1 };
                for sub in 0..subs {
                    let rev = Revision {
                        main,
                        sub,
                        tombstone: false,
                    };
                    let record = format!("{main}/{i}/{sub}").into_bytes();
                    per_range[i].push((rev, record.clone()));
                    all.push(Ready {
                        range: i,
                        rev,
                        record,
                    });
                }
            }
        }
        for (queue, records) in queues.iter_mut().zip(per_range) {
            for part in records.chunks(300) {
                store.push(queue, part.to_vec()).unwrap();
            }
        }
        assert!(store.spilled_bytes() > 0);
        let read_to = 3000;
        let mut expect: Vec<Ready> = all.into_iter().filter(|r| r.rev.main <= read_to).collect();
        expect.sort_by_key(|r| (r.rev.main, r.range, r.rev.sub));

        let mut refs: Vec<&mut HeldQueue> = queues.iter_mut().collect();
        let mut merge = ReadyMerge::new(&refs, read_to);
        let mut got: Vec<Ready> = Vec::new();
        let (mut last_main, mut longer) = (0, 0);
        loop {
            let page = merge.next_page(&mut store, &mut refs, 1000).unwrap();
            if page.is_empty() {
                break;
            }
            let first = page[0].rev.main;
            assert!(first > last_main, "revision {first} split between pages");
            last_main = page[page.len() - 1].rev.main;
            let whole = got.len() + page.len() == expect.len();
            assert!(page.len() >= 1000 || whole, "short page of {}", page.len());
            longer += usize::from(page.len() > 1000);
            got.extend(page);
        }
        assert_eq!(got, expect);
        assert!(longer > 0, "no page had to run on to the end of a revision");
        // What is newer than `read_to` stays, in order.
        for queue in &refs {
            assert!(!matches!(queue.front_main(), Some(m) if m <= read_to));
        }
    }
}
