//! The history read: every Event revision a running etcd still holds under
//! the prefix, read through its v3 API (range, watch and status calls only)
//! and sent to the loader in pages, as a snapshot of the cluster would hold
//! them.
//!
//! 1. **Pin the head** ([`head_keys`]): a keys-only range over the prefix;
//!    its header revision `H` is the point in time of the whole pull.
//!    Nothing newer is loaded, so writes during the pull never mix two
//!    points in time.
//! 2. **Find the compaction revision** `C`: a watch from revision 1 is
//!    cancelled by the server with `compact_revision = C` when history was
//!    compacted (`C = 0` when it never was: the watch then simply delivers
//!    everything).
//! 3. **The values at `C`**: a paged range (`--page-size` keys per request)
//!    over the prefix at revision `C`. This is exactly what compaction keeps
//!    of the history at or before `C`: each key's newest revision `<= C`
//!    when it is a put.
//! 4. **The history after `C`**: watches from `C + 1`, without `prev_kv`,
//!    streamed into the loader, stopped at `H`: every put overwritten since
//!    and every deletion (explicit, or a lease expiry). The prefix is cut
//!    into disjoint key ranges (`--watchers` of them, from a sample of the
//!    keys at `H`: [`KeySample`]), one watcher each, so that etcd serves them
//!    all from one read of its history per round and matches each change
//!    once. Each range holds a key changed after `C`, and after a full batch
//!    a range's next watcher starts at the last revision received: every
//!    watcher is sure to answer, which is how the end of each range's
//!    history is known for certain (etcd 3.4 answers progress requests even
//!    while a watcher is still catching up, so they cannot tell). When no
//!    key under the prefix changed after `C`, one watcher covers the whole
//!    keyspace instead (every revision holds a change somewhere). Records
//!    wait until every range has read past them, then go on in revision
//!    order; what ranges read ahead is held in memory up to
//!    `--read-ahead-memory`, the rest in a temp file ([`held`](super::held)).
//!    Their sub revisions come from [`transactions`](super::transactions).
//! 5. **Check**: a count-only range at `H`: as many keys as the history
//!    read leaves present.
//!
//! If a compaction overtakes the history read (the watch is cancelled with a
//! newer compaction revision `C2`), the read resumes from the values at `C2`
//! and `C2 + 1`; what was lost (the history between the last revision read
//! and `C2`) is reported as a damaged record of the source.
//!
//! Puts read from the range at `C` (history at or before the compaction)
//! carry no order: several of them sharing one main revision are numbered
//! in key order, which may differ from etcd's.
//!
//! One tokio runtime lives inside [`pull`], on its own thread; the loader
//! stays synchronous and receives pages through a bounded channel.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;

use etcd_client::{Client, EventType, GetOptions, WatchOptions};

use super::calls::{next_watch_response, runtime, with_timeout};
use super::classify::{cancelled_by_server, classify, is_compacted};
use super::connect::connect;
use super::error::LiveError;
use super::held::{HeldQueue, HeldStore, Ready, ReadyMerge};
use super::key_sample::{prefix_end, KeySample, KeySpan};
use super::options::LiveOptions;
use super::record_hash::RecordHasher;
use super::records::{encode_put, encode_tombstone, PulledRecord};
use super::test_pause::pause_after_first_history;
use super::transactions::{number_transactions, transaction_orders};
use crate::helpers::trace;
use crate::source::mvcc::Revision;

/// The watch server sends at most this many revisions per response while a
/// watcher catches up (etcd `mvcc/watchable_store.go`, `watchBatchMaxRevs`).
const WATCH_BATCH_MAX_REVS: usize = 1000;

/// What the pull found out about the cluster.
#[derive(Debug, Clone, Default)]
pub struct PullFacts {
    pub head_revision: i64,
    pub compact_revision: i64,
    /// SHA-256 of the canonical record stream (see [`RecordHasher`]).
    pub sha256: String,
    /// Bytes of that stream.
    pub stream_bytes: u64,
    /// Records pulled (puts and deletions under the prefix).
    pub records: u64,
    /// History lost to a compaction during the pull, one note per event.
    pub lost: Vec<String>,
    /// Keys current at the head that the history read did not match.
    pub mismatches: Vec<String>,
    /// The server's version (from the status call).
    pub server_version: String,
}

/// One page of records, as the `key` bucket would hold them.
pub type Page = Vec<PulledRecord>;

/// Pulls every Event revision under `prefix` up to the revision `head`
/// (see [`head_keys`]) and sends it, page by page, into `out`. What the
/// history read holds beyond its memory budget waits in a temp file in
/// `read_ahead_dir`. Runs its own runtime; blocks until done.
pub fn pull(
    opts: &LiveOptions,
    prefix: &str,
    head: i64,
    sample: &KeySample,
    read_ahead_dir: PathBuf,
    out: mpsc::SyncSender<Page>,
) -> Result<PullFacts, LiveError> {
    runtime()?.block_on(async {
        let client = connect(opts).await?;
        Puller::new(client, opts, prefix.as_bytes(), sample, read_ahead_dir, out)
            .run(head)
            .await
    })
}

/// Pins the head revision (the current one) and visits every key under
/// `prefix` there with its mod revision: a keys-only range, paged. Returns
/// the head revision, up to which [`pull`] then reads.
pub fn head_keys(
    opts: &LiveOptions,
    prefix: &str,
    mut visit: impl FnMut(&[u8], i64),
) -> Result<i64, LiveError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LiveError::Runtime)?;
    rt.block_on(async {
        let mut client = connect(opts).await?;
        let endpoints = opts.location();
        let end = prefix_end(prefix.as_bytes());
        let mut start = prefix.as_bytes().to_vec();
        let mut head = None;
        loop {
            // A key is ~16 times smaller than an Event: pages of as many
            // bytes as a page of values. (etcd 3.4 walks its index from the
            // page's first key to the range's end for every page, so few
            // pages matter more than small ones.)
            let mut get = GetOptions::new()
                .with_range(end.clone())
                .with_keys_only()
                .with_limit(opts.page_size.saturating_mul(16));
            if let Some(head) = head {
                get = get.with_revision(head);
            }
            let what = "range (keys at the head)";
            let mut resp = with_timeout(opts, what, client.get(start.clone(), Some(get)))
                .await?
                .map_err(|e| classify(&endpoints, what, e))?;
            let pinned = *head.get_or_insert(resp.header().map(|h| h.revision()).unwrap_or(0));
            let more = resp.more();
            let kvs = resp.take_kvs();
            for kv in &kvs {
                visit(kv.key(), kv.mod_revision());
            }
            match kvs.last() {
                Some(last) if more => {
                    start = last.key().to_vec();
                    start.push(0);
                }
                _ => return Ok(pinned),
            }
        }
    })
}

/// How one history read ended: at the pinned head, or cancelled by a
/// compaction to the given revision.
enum WatchEnd {
    Done,
    Compacted(i64),
}

/// One pull: its connection, where it sends pages, the hash of what it
/// sent and what it found out.
struct Puller<'a> {
    client: Client,
    opts: &'a LiveOptions,
    prefix: &'a [u8],
    /// The keys at the head, to cut the prefix into key ranges.
    sample: &'a KeySample,
    /// Where what key ranges read ahead waits once over its memory budget.
    read_ahead_dir: PathBuf,
    out: mpsc::SyncSender<Page>,
    hasher: RecordHasher,
    head: i64,
    /// Everything under the prefix up to this revision has been passed on.
    last_watched: i64,
    /// Each key's newest change read.
    newest: HashMap<Vec<u8>, NewestChange>,
    facts: PullFacts,
}

impl<'a> Puller<'a> {
    fn new(
        client: Client,
        opts: &'a LiveOptions,
        prefix: &'a [u8],
        sample: &'a KeySample,
        read_ahead_dir: PathBuf,
        out: mpsc::SyncSender<Page>,
    ) -> Self {
        Puller {
            client,
            opts,
            prefix,
            sample,
            read_ahead_dir,
            out,
            hasher: RecordHasher::default(),
            head: 0,
            last_watched: 0,
            newest: HashMap::new(),
            facts: PullFacts::default(),
        }
    }

    fn endpoints(&self) -> String {
        self.opts.location()
    }

    fn send(&mut self, page: Page) -> Result<(), LiveError> {
        if page.is_empty() {
            return Ok(());
        }
        for record in &page {
            self.hasher.add(&record.revision, &record.key_value);
        }
        self.out.send(page).map_err(|_| LiveError::ReaderGone)
    }

    fn note_newest(&mut self, key: &[u8], rev: i64, tombstone: bool) {
        let change = NewestChange {
            revision: rev,
            tombstone,
        };
        match self.newest.get_mut(key) {
            Some(v) if v.revision >= rev => {}
            Some(v) => *v = change,
            None => {
                self.newest.insert(key.to_vec(), change);
            }
        }
    }

    async fn run(mut self, head: i64) -> Result<PullFacts, LiveError> {
        let endpoints = self.endpoints();
        let status = with_timeout(self.opts, "status", self.client.status())
            .await?
            .map_err(|e| classify(&endpoints, "status", e))?;
        self.facts.server_version = status.version().to_string();

        trace("connected");
        // 1. The head was pinned by `head_keys`.
        self.head = head;
        self.facts.head_revision = self.head;

        // 2–4. History, resuming after a compaction that overtakes it.
        // Revision 1 is the empty initial store: every later revision holds
        // at least one change, which the watches rely on.
        let mut from = 1;
        loop {
            if from > self.head || self.head < 2 {
                break;
            }
            match self.watch_history(from).await? {
                WatchEnd::Done => break,
                WatchEnd::Compacted(c) => {
                    // A compaction at the head itself (an idle cluster) leaves
                    // just the values at the head: read them below.
                    if c > self.head {
                        return Err(LiveError::CompactedHead {
                            head: self.head,
                            compact: c,
                        });
                    }
                    if self.facts.compact_revision > 0 || self.last_watched > 0 {
                        let read_to = self.last_watched.max(self.facts.compact_revision);
                        if c > read_to {
                            self.facts.lost.push(format!(
                                "a compaction to revision {c} overtook the history read at revision {read_to}: the changes in revisions {}..={c} are lost, except each key's value at {c}",
                                read_to + 1
                            ));
                        }
                    }
                    self.facts.compact_revision = self.facts.compact_revision.max(c);
                    match self.range_at(c).await {
                        Ok(()) => from = c + 1,
                        // Compacted again while paging: the next watch
                        // learns the new compaction revision.
                        Err(RangeFail::Compacted) => from = c + 1,
                        Err(RangeFail::Other(e)) => return Err(e),
                    }
                }
            }
        }

        trace("history read");
        // 5. The keys current at the head must be what the history says.
        self.check_head().await?;
        trace("head checked");
        let digest = std::mem::take(&mut self.hasher).finish();
        self.facts.sha256 = digest.sha256;
        self.facts.stream_bytes = digest.bytes;
        self.facts.records = digest.records;
        Ok(self.facts)
    }

    /// The prefix at revision `rev` (the compaction revision), paged.
    async fn range_at(&mut self, rev: i64) -> Result<(), RangeFail> {
        let endpoints = self.endpoints();
        let end = prefix_end(self.prefix);
        let mut start = self.prefix.to_vec();
        // Next sub revision per main revision. Each call reads revisions
        // after what was passed on before it (`last_watched`), so no two
        // calls share one.
        let mut subs: HashMap<i64, i64> = HashMap::new();
        loop {
            let opts = GetOptions::new()
                .with_range(end.clone())
                .with_revision(rev)
                .with_limit(self.opts.page_size);
            let what = format!("range at revision {rev}");
            let mut resp =
                with_timeout(self.opts, &what, self.client.get(start.clone(), Some(opts)))
                    .await
                    .map_err(RangeFail::Other)?
                    .map_err(|e| {
                        if is_compacted(&e) {
                            RangeFail::Compacted
                        } else {
                            RangeFail::Other(classify(&endpoints, &what, e))
                        }
                    })?;
            let more = resp.more();
            let kvs = resp.take_kvs();
            let Some(last) = kvs.last().map(|kv| kv.key().to_vec()) else {
                break;
            };
            let mut page = Vec::with_capacity(kvs.len());
            for kv in &kvs {
                let m = kv.mod_revision();
                // What the watch delivered carries its true sub revision.
                if m <= self.last_watched {
                    continue;
                }
                let sub = subs.entry(m).or_insert(0);
                let rev = Revision {
                    main: m,
                    sub: *sub,
                    tombstone: false,
                };
                *sub += 1;
                self.note_newest(kv.key(), m, false);
                page.push(PulledRecord {
                    revision: rev,
                    key_value: encode_put(kv),
                });
            }
            self.send(page).map_err(RangeFail::Other)?;
            if !more {
                break;
            }
            start = last;
            start.push(0);
        }
        Ok(())
    }

    /// Changes under the prefix from `from` up to the pinned head.
    ///
    /// etcd 3.4 serves a watcher that catches up on history at most
    /// [`WATCH_BATCH_MAX_REVS`] revisions per sync round, and each round
    /// re-reads the history from the oldest such watcher's position and
    /// matches every change read against every watcher whose key range holds
    /// it. So the prefix is cut into disjoint key ranges ([`KeySample`]), one
    /// watcher each: a round serves all of them from one read, and each
    /// change is matched once. Each range holds a key changed at or after
    /// `from`, and after a full batch the next watcher of the range starts at
    /// the last revision received: every watcher opened is sure to answer,
    /// and an answer with fewer revisions than a full batch proves the range
    /// complete up to the revision it was made at. What ranges read ahead of
    /// the slowest is held within a memory budget, the rest in a temp file
    /// ([`HeldStore`]).
    ///
    /// Records are passed on in revision order once every range has read
    /// past them, so the record stream (and its hash) does not depend on
    /// timing or on the number of ranges; a revision with several changes
    /// under the prefix (a multi-key transaction) gets its sub revisions from
    /// [`transaction_orders`].
    async fn watch_history(&mut self, from: i64) -> Result<WatchEnd, LiveError> {
        let endpoints = self.endpoints();
        let planned = self
            .sample
            .ranges(self.prefix, from, self.opts.watchers.max(1));
        // No key under the prefix changed since `from`: a range there may
        // hold no change at all, and its watcher would never answer. One
        // watcher over the whole keyspace then (every revision holds a
        // change somewhere, so it answers, and with every change of each
        // transaction: exact sub revisions).
        let whole_keyspace = planned.is_empty();
        let mut ranges: Vec<KeyRange> = if whole_keyspace {
            vec![KeyRange::new(vec![0], vec![0], from)]
        } else {
            planned
                .into_iter()
                .map(|KeySpan { from: lo, to: hi }| KeyRange::new(lo, hi, from))
                .collect()
        };
        trace(&format!("history from {from}: {} key ranges", ranges.len()));
        let mut held = HeldStore::new(self.opts.read_ahead_memory, self.read_ahead_dir.clone());
        let mut awaiting_created: VecDeque<usize> = VecDeque::new();
        let mut by_id: HashMap<i64, usize> = HashMap::new();
        let mut stream: Option<etcd_client::WatchStream> = None;
        loop {
            let read_to = ranges
                .iter()
                .map(|r| r.covered_to)
                .min()
                .unwrap_or(self.head)
                .min(self.head);
            self.pass_on(&mut ranges, &mut held, read_to, whole_keyspace)
                .await?;
            if ranges.iter().all(|r| r.watch == RangeWatch::Done) {
                if held.spilled_bytes() > 0 {
                    trace(&format!(
                        "history held in the temp file: {} bytes",
                        held.spilled_bytes()
                    ));
                }
                return Ok(WatchEnd::Done);
            }
            // The ranges' watchers open together, once every watcher opened
            // before has answered: created between two sync rounds, they are
            // served by one read of the history.
            let round_over = ranges
                .iter()
                .all(|r| matches!(r.watch, RangeWatch::Idle | RangeWatch::Done));
            for (i, r) in ranges.iter_mut().enumerate() {
                if !round_over || r.watch != RangeWatch::Idle {
                    continue;
                }
                let options = WatchOptions::new()
                    .with_range(r.hi.clone())
                    .with_start_revision(r.restart_at);
                match &mut stream {
                    None => {
                        let s = with_timeout(
                            self.opts,
                            "watch",
                            self.client.watch(r.lo.clone(), Some(options)),
                        )
                        .await?
                        .map_err(|e| classify(&endpoints, "watch", e))?;
                        stream = Some(s);
                    }
                    Some(s) => s
                        .watch(r.lo.clone(), Some(options))
                        .await
                        .map_err(|e| classify(&endpoints, "watch", e))?,
                }
                awaiting_created.push_back(i);
                r.watch = RangeWatch::Watching;
            }
            let Some(s) = stream.as_mut() else {
                return Ok(WatchEnd::Done);
            };
            let resp = next_watch_response(self.opts, &endpoints, s).await?;
            let id = resp.watch_id();
            if resp.created() {
                if let Some(i) = awaiting_created.pop_front() {
                    by_id.insert(id, i);
                }
            }
            if resp.compact_revision() > 0 {
                // What ranges hold beyond `read_to` goes with them: it cannot
                // be passed on in revision order once other ranges' changes
                // before the compaction are gone. The values at the
                // compaction revision stand in for it; the rest is reported
                // lost (see `run`).
                return Ok(WatchEnd::Compacted(resp.compact_revision()));
            }
            let Some(&i) = by_id.get(&id) else {
                continue; // a watcher already cancelled
            };
            if resp.canceled() {
                return Err(cancelled_by_server(&endpoints, &resp));
            }
            if resp.events().is_empty() {
                continue;
            }
            let r = &mut ranges[i];
            let header_rev = resp.header().map(|h| h.revision()).unwrap_or(0);
            let (mut distinct, mut prev, mut max_rev, mut sub) =
                (0usize, -1i64, r.covered_to, 0i64);
            let mut received = Vec::with_capacity(resp.events().len());
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                let rev = kv.mod_revision();
                if rev != prev {
                    distinct += 1;
                    prev = rev;
                    sub = 0;
                } else {
                    sub += 1;
                }
                max_rev = max_rev.max(rev);
                if rev <= r.covered_to || rev > self.head || !kv.key().starts_with(self.prefix) {
                    continue;
                }
                let tombstone = ev.event_type() == EventType::Delete;
                received.push((
                    Revision {
                        main: rev,
                        sub,
                        tombstone,
                    },
                    if tombstone {
                        encode_tombstone(kv.key())
                    } else {
                        encode_put(kv)
                    },
                ));
            }
            held.push(&mut r.held, received).map_err(LiveError::Spill)?;
            // A batch holds whole revisions. One with fewer than the limit
            // holds everything up to the store revision it was made at;
            // after a full one, more may follow or not: the next watcher
            // starts at its last revision, which it is sure to answer with.
            let complete = distinct < WATCH_BATCH_MAX_REVS;
            r.covered_to = if complete {
                max_rev.max(header_rev)
            } else {
                max_rev
            };
            if r.covered_to >= self.head {
                r.watch = RangeWatch::Done;
            } else {
                r.watch = RangeWatch::Idle;
                r.restart_at = max_rev;
            }
            by_id.remove(&id);
            let _ = s.cancel(id).await;
        }
    }

    /// Passes on, in revision order, what every range has read up to
    /// `read_to`: merged from the ranges' queues a page at a time, so that
    /// what was held in the temp file comes back a chunk per range.
    async fn pass_on(
        &mut self,
        ranges: &mut [KeyRange],
        held: &mut HeldStore,
        read_to: i64,
        whole_keyspace: bool,
    ) -> Result<(), LiveError> {
        // What a range receives is newer than what it covered, so nothing
        // new is ready until the slowest range moves on (most responses,
        // such as a watcher's creation, do not move it).
        if read_to <= self.last_watched {
            return Ok(());
        }
        let first = self.last_watched == 0;
        self.last_watched = read_to;
        let mut queues: Vec<&mut HeldQueue> = ranges.iter_mut().map(|r| &mut r.held).collect();
        let mut merge = ReadyMerge::new(&queues, read_to);
        loop {
            let page = merge
                .next_page(held, &mut queues, WATCH_BATCH_MAX_REVS)
                .map_err(LiveError::Spill)?;
            if page.is_empty() {
                break;
            }
            self.pass_page(page, whole_keyspace).await?;
        }
        if first {
            // Tests act here (see `test_pause`); a no-op otherwise.
            pause_after_first_history(read_to).await;
        }
        Ok(())
    }

    /// Sends one page of records merged from the key ranges, in revision
    /// order. Unless the watch covered the whole keyspace, the sub revisions
    /// of a revision with several changes under the prefix come from
    /// [`transaction_orders`].
    async fn pass_page(
        &mut self,
        mut ready: Vec<Ready>,
        whole_keyspace: bool,
    ) -> Result<(), LiveError> {
        if ready.is_empty() {
            return Ok(());
        }
        if !whole_keyspace {
            let mut shared: Vec<i64> = ready
                .windows(2)
                .filter(|w| w[0].rev.main == w[1].rev.main)
                .map(|w| w[0].rev.main)
                .collect();
            shared.dedup();
            if !shared.is_empty() {
                let orders =
                    transaction_orders(&mut self.client, self.opts, &shared, &mut self.facts.lost)
                        .await?;
                number_transactions(&mut ready, &orders);
            }
        }
        let mut page = Vec::with_capacity(ready.len());
        for Ready { rev, record, .. } in ready {
            if let Some(key) = crate::source::mvcc::leading_key(&record) {
                self.note_newest(key, rev.main, rev.tombstone);
            }
            page.push(PulledRecord {
                revision: rev,
                key_value: record,
            });
        }
        self.send(page)
    }

    /// The number of keys under the prefix at the head (a count-only range:
    /// one cheap request; etcd 3.4 walks its whole index for every page of a
    /// paged range) must equal the keys whose newest change read is a put.
    async fn check_head(&mut self) -> Result<(), LiveError> {
        let endpoints = self.endpoints();
        let what = format!("count at the head revision {}", self.head);
        let resp = with_timeout(
            self.opts,
            &what,
            self.client.get(
                self.prefix.to_vec(),
                Some(
                    GetOptions::new()
                        .with_range(prefix_end(self.prefix))
                        .with_revision(self.head)
                        .with_count_only(),
                ),
            ),
        )
        .await?
        .map_err(|e| {
            if is_compacted(&e) {
                LiveError::CompactedHead {
                    head: self.head,
                    compact: 0,
                }
            } else {
                classify(&endpoints, &what, e)
            }
        })?;
        let read = self.newest.values().filter(|c| !c.tombstone).count() as i64;
        if resp.count() != read {
            self.facts.mismatches.push(format!(
                "etcd holds {} keys under the prefix at the head revision {}, the history read ends with {read} keys present",
                resp.count(),
                self.head
            ));
        }
        Ok(())
    }
}

/// A stretch of keys under the prefix, read by one watcher at a time.
struct KeyRange {
    /// Watched from `lo` up to `hi` (excluded); `"\0"`, `"\0"` is the
    /// whole keyspace.
    lo: Vec<u8>,
    hi: Vec<u8>,
    /// Every change in the range up to this revision has been received.
    covered_to: i64,
    /// Where the range's next watcher starts: a revision with a change in
    /// the range (so that the watcher is sure to answer), at first `from`.
    restart_at: i64,
    watch: RangeWatch,
    /// Received, not passed on yet (in revision order).
    held: HeldQueue,
}

impl KeyRange {
    fn new(lo: Vec<u8>, hi: Vec<u8>, from: i64) -> KeyRange {
        KeyRange {
            lo,
            hi,
            covered_to: from - 1,
            restart_at: from,
            watch: RangeWatch::Idle,
            held: HeldQueue::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeWatch {
    /// No watcher: waiting for its turn.
    Idle,
    /// A watcher is requested or open (its id, once the server confirms
    /// it, is in `by_id`).
    Watching,
    /// Read up to the pinned head.
    Done,
}

/// Why the range at a compaction revision stopped: compacted again (the
/// next watch learns the new revision), or any other failure.
enum RangeFail {
    Compacted,
    Other(LiveError),
}

/// A key's newest change read, for the check at the head.
#[derive(Debug, Clone, Copy)]
struct NewestChange {
    revision: i64,
    tombstone: bool,
}
