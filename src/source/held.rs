//! Records a live pull holds back until every key range has read past them
//! (see [`live`](super::live)): one queue per range, in the order received
//! (revision order), holding at most a memory budget's worth of records in
//! memory all told and the rest in one unlinked temp file.
//!
//! Spilling lets the history be read over many key ranges at once — fewer
//! rounds of etcd's watch server, so less of the cluster's CPU — without
//! the pull's memory growing with the history: with hundreds of ranges the
//! first round alone can bring the whole history, held until the slowest
//! range has caught up.
//!
//! The temp file is created in the system's temp directory (`TMPDIR`) on
//! first use and is unlinked at once: nothing is left behind, even by a
//! killed run. It grows to at most the records spilled (each pulled record
//! once), and is read back in chunks of [`CHUNK_BYTES`].
//!
//! A spilled chunk: records, each framed as `main (8 bytes LE) · sub (8 LE)
//! · tombstone (1) · length (4 LE) · record bytes`.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

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

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The memory budget and the temp file shared by every range's queue.
pub struct HeldStore {
    budget: usize,
    in_memory: usize,
    file: Option<File>,
    file_len: u64,
    spilled_bytes: u64,
}

impl HeldStore {
    pub fn new(budget: usize) -> HeldStore {
        HeldStore {
            budget,
            in_memory: 0,
            file: None,
            file_len: 0,
            spilled_bytes: 0,
        }
    }

    /// Bytes written to the temp file so far.
    pub fn spilled_bytes(&self) -> u64 {
        self.spilled_bytes
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
            None => self.file.insert(tempfile::tempfile()?),
        };
        file.write_all_at(chunk, self.file_len)?;
        queue.items.push_back(Held::Spilled {
            first_main,
            at: self.file_len,
            len: chunk.len(),
        });
        self.file_len += chunk.len() as u64;
        self.spilled_bytes += chunk.len() as u64;
        Ok(())
    }

    /// Takes the oldest record of `queue`, reading its chunk back first if
    /// it was spilled.
    pub fn pop(&mut self, queue: &mut HeldQueue) -> io::Result<Option<(Revision, Vec<u8>)>> {
        if let Some(&Held::Spilled { at, len, .. }) = queue.items.front() {
            queue.items.pop_front();
            let records = self.read_chunk(at, len)?;
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
                self.in_memory = self
                    .in_memory
                    .saturating_sub(record.len() + RECORD_OVERHEAD);
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut store = HeldStore::new(30 * (1000 + RECORD_OVERHEAD));
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
            assert!(queue.is_empty());
            assert_eq!(store.pop(queue).unwrap(), None);
        }
        assert_eq!(store.in_memory, 0);
    }

    #[test]
    fn nothing_is_spilled_within_the_budget() {
        let mut store = HeldStore::new(1 << 20);
        let mut q = HeldQueue::default();
        store.push(&mut q, records(1, 100, 100)).unwrap();
        assert_eq!(store.spilled_bytes(), 0);
        assert!(store.file.is_none());
    }
}
