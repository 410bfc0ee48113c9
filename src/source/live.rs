//! Live etcd: every Event revision a running etcd still holds, read through
//! its v3 API — read-only (range, watch, status and snapshot calls only).
//!
//! What a snapshot of the cluster would hold, and how it is pulled:
//! 1. **Pin the head**: a count-only range over the prefix; its header
//!    revision `H` is the point in time of the whole pull. Nothing newer is
//!    loaded, so writes during the pull never mix two points in time.
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
//!    keys at `H`), one watcher each, so that etcd serves them all from one
//!    read of its history per round and matches each change once. Each
//!    range holds a key changed after `C`, and after a full batch a range's
//!    next watcher starts at the last revision received: every watcher is
//!    sure to answer, which is how the end of each range's history is known
//!    for certain (etcd 3.4 answers progress requests even while a watcher
//!    is still catching up, so they cannot tell). When no key under the
//!    prefix changed after `C`, one watcher covers the whole keyspace
//!    instead (every revision holds a change somewhere). Records wait until
//!    every range has read past them, then go on in revision order; what
//!    ranges read ahead is held in memory up to `--read-ahead-memory`, the
//!    rest in a temp file ([`held`](super::held)).
//! 5. **Check**: a count-only range at `H`: as many keys as the history
//!    read leaves present.
//!
//! If a compaction overtakes the history read (the watch is cancelled with a
//! newer compaction revision `C2`), the read resumes from the values at `C2`
//! and `C2 + 1`; what was lost (the history between the last revision read
//! and `C2`) is reported as a damaged record of the source.
//!
//! **Sub revisions.** The API gives a change's main revision only. The
//! changes of one transaction arrive in order in a watch, so the sub
//! revision is the position of a change among the changes of its revision.
//! A revision with one change under the prefix gets sub revision 0, as every
//! write of kube-apiserver has (one key per transaction); one with several
//! (a multi-key transaction of another client) is read again with a watcher
//! over the whole keyspace, which sees all of the transaction's changes in
//! order: exactly what etcd stores. One case stays out of reach: a
//! transaction that changes keys outside the prefix *before* its single
//! change under it (its sub revision is then counted as 0).
//! Puts read from the range at `C` (history at or before the compaction)
//! carry no order: several of them sharing one main revision are numbered
//! in key order, which may differ from etcd's.
//!
//! One tokio runtime lives inside [`pull`], on its own thread; the loader
//! stays synchronous and receives pages through a bounded channel.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, EventType, GetOptions, Identity, TlsOptions, WatchOptions,
};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::proto::etcd::KeyValue;
use crate::source::held::{HeldQueue, HeldStore, Ready, ReadyMerge};
use crate::source::mvcc::Revision;

/// The default page size of ranges: polite to the server (a page of Events
/// is about 1 MB), large enough that requests do not dominate.
pub const DEFAULT_PAGE_SIZE: i64 = 1000;

/// Key ranges (one watcher each) the history is read in: each round of
/// etcd's watch server reads the history once for all of them and sends
/// each up to 1000 revisions (about 1 MB), so more ranges mean fewer rounds
/// and less of the server's CPU (see `scripts/scale-live.sh`). What they
/// bring ahead of the slowest range is held within
/// [`HELD_MEMORY_BUDGET`], the rest in a temp file.
pub const DEFAULT_WATCHERS: usize = 256;

/// Default memory for records read ahead of the slowest key range (see
/// [`held`](super::held)).
pub const HELD_MEMORY_BUDGET: usize = 64 << 20;

/// The watch server sends at most this many revisions per response while a
/// watcher catches up (etcd `mvcc/watchable_store.go`, `watchBatchMaxRevs`).
const WATCH_BATCH_MAX_REVS: usize = 1000;

/// How to reach etcd, as `etcdctl` users know it.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// `host:port` or URLs; `https://` (or a bare address with TLS files) uses TLS.
    pub endpoints: Vec<String>,
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub dial_timeout: Duration,
    pub command_timeout: Duration,
    /// Keys per range request.
    pub page_size: i64,
    /// Key ranges the history is read in, one watcher each.
    pub watchers: usize,
    /// Bytes of records read ahead of the slowest key range kept in
    /// memory; the rest waits in a temp file.
    pub read_ahead_memory: usize,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            endpoints: vec!["127.0.0.1:2379".into()],
            cacert: None,
            cert: None,
            key: None,
            user: None,
            password: None,
            dial_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(5),
            page_size: DEFAULT_PAGE_SIZE,
            watchers: DEFAULT_WATCHERS,
            read_ahead_memory: HELD_MEMORY_BUDGET,
        }
    }
}

impl LiveOptions {
    /// The endpoints as given, for messages and `sources.location`.
    pub fn location(&self) -> String {
        self.endpoints.join(",")
    }

    fn tls(&self) -> bool {
        self.cacert.is_some()
            || self.cert.is_some()
            || self.endpoints.iter().any(|e| e.starts_with("https://"))
    }

    /// Endpoints as URLs (`https://` when TLS is in use).
    fn urls(&self) -> Vec<String> {
        let scheme = if self.tls() { "https://" } else { "http://" };
        self.endpoints
            .iter()
            .map(|e| {
                if e.contains("://") {
                    e.clone()
                } else {
                    format!("{scheme}{e}")
                }
            })
            .collect()
    }
}

/// Why a live pull failed. Every message says which endpoint or file.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{flag} {path}: cannot read: {source}")]
    ReadFile {
        flag: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{flag} {path}: {problem}")]
    BadFile {
        flag: &'static str,
        path: String,
        problem: String,
    },
    #[error("{0}")]
    Config(String),
    #[error("cannot reach etcd at {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    #[error("TLS with etcd at {endpoint} failed: {detail}")]
    Tls { endpoint: String, detail: String },
    #[error("etcd at {endpoints} refused the login: {detail}")]
    Auth { endpoints: String, detail: String },
    #[error("etcd at {endpoints}: {what} failed: {detail}")]
    Request {
        endpoints: String,
        what: String,
        detail: String,
    },
    #[error("etcd at {endpoints}: {what} got no answer within --command-timeout {timeout:?}")]
    Timeout {
        endpoints: String,
        what: String,
        timeout: Duration,
    },
    #[error("a compaction to revision {compact} overtook the pinned head revision {head} before it was read; run again")]
    CompactedHead { head: i64, compact: i64 },
    #[error("writing the snapshot {path}: {source}")]
    SnapshotFile {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("starting the async runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error("the live reader stopped unexpectedly")]
    ReaderGone,
    #[error("holding the history read ahead in a temp file beside the database: {0}")]
    Spill(#[source] io::Error),
}

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
pub type Page = Vec<(Revision, Vec<u8>)>;

/// The SHA-256 recorded for a live source: over every record pulled, in the
/// order pulled (the range at the compaction revision in key order, then
/// the history in revision order), each framed as
/// `main (8 bytes BE) · sub (8 BE) · tombstone (1 byte, 0/1) ·
/// length (8 BE) · mvccpb.KeyValue bytes` — the same bytes the loader
/// receives, so the hash identifies exactly what was loaded.
#[derive(Default)]
pub struct RecordHasher {
    hasher: Sha256,
    bytes: u64,
    records: u64,
}

impl RecordHasher {
    pub fn add(&mut self, rev: &Revision, kv: &[u8]) {
        let mut frame = [0u8; 25];
        frame[0..8].copy_from_slice(&rev.main.to_be_bytes());
        frame[8..16].copy_from_slice(&rev.sub.to_be_bytes());
        frame[16] = u8::from(rev.tombstone);
        frame[17..25].copy_from_slice(&(kv.len() as u64).to_be_bytes());
        self.hasher.update(frame);
        self.hasher.update(kv);
        self.bytes += 25 + kv.len() as u64;
        self.records += 1;
    }

    pub fn finish(self) -> (String, u64, u64) {
        let digest = self.hasher.finalize();
        (crate::helpers::hex(&digest), self.bytes, self.records)
    }
}

/// Slots of a [`KeySample`]: enough for even key ranges with up to
/// [256 watchers](LiveOptions::watchers), a few hundred KB of keys.
const SAMPLE_SLOTS: usize = 4096;

/// An evenly spaced sample of the keys under the prefix at the head, in key
/// order, at most `SAMPLE_SLOTS` (4096) of them however many keys there are: each
/// slot stands for the keys from its first key to the next slot's, with
/// their number and their newest mod revision. The history read cuts the
/// prefix into key ranges with it ([`KeySample::ranges`]).
#[derive(Debug, Clone)]
pub struct KeySample {
    /// Every `step`-th key starts a slot.
    step: u64,
    seen: u64,
    slots: Vec<SampleSlot>,
}

#[derive(Debug, Clone)]
struct SampleSlot {
    first_key: Vec<u8>,
    keys: u64,
    newest: i64,
}

impl Default for KeySample {
    fn default() -> Self {
        KeySample {
            step: 1,
            seen: 0,
            slots: Vec::new(),
        }
    }
}

impl KeySample {
    /// Adds the next key (keys arrive in key order, as a range returns them).
    pub fn add(&mut self, key: &[u8], mod_revision: i64) {
        if self.seen % self.step == 0 && self.slots.len() == SAMPLE_SLOTS {
            // Full: every other slot start goes, the step doubles.
            let slots = std::mem::take(&mut self.slots);
            let mut pairs = slots.into_iter();
            while let Some(mut slot) = pairs.next() {
                if let Some(next) = pairs.next() {
                    slot.keys += next.keys;
                    slot.newest = slot.newest.max(next.newest);
                }
                self.slots.push(slot);
            }
            self.step *= 2;
        }
        match self.slots.last_mut() {
            Some(last) if self.seen % self.step != 0 => {
                last.keys += 1;
                last.newest = last.newest.max(mod_revision);
            }
            _ => self.slots.push(SampleSlot {
                first_key: key.to_vec(),
                keys: 1,
                newest: mod_revision,
            }),
        }
        self.seen += 1;
    }

    /// Cuts the prefix into at most `n` key ranges (`from`, `to`) that
    /// together cover it, of about equal numbers of keys, each holding a key
    /// whose newest change is at or after the revision `since` — so that a
    /// watch over it from `since` is sure to answer. Empty when no key
    /// changed since then.
    pub fn ranges(&self, prefix: &[u8], since: i64, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let total: u64 = self.slots.iter().map(|s| s.keys).sum();
        let per_range = total.div_ceil(n.max(1) as u64).max(1);
        // The slot each range starts at.
        let mut starts: Vec<usize> = Vec::new();
        let (mut start, mut keys, mut changed) = (0, 0, false);
        for (i, slot) in self.slots.iter().enumerate() {
            keys += slot.keys;
            changed |= slot.newest >= since;
            if keys >= per_range && changed && starts.len() + 1 < n {
                starts.push(start);
                (start, keys, changed) = (i + 1, 0, false);
            }
        }
        // What is left is a range of its own when it holds a changed key,
        // else it joins the last range.
        if changed {
            starts.push(start);
        }
        let mut ranges = Vec::with_capacity(starts.len());
        for (i, &at) in starts.iter().enumerate() {
            let from = if i == 0 {
                prefix.to_vec()
            } else {
                self.slots[at].first_key.clone()
            };
            let to = match starts.get(i + 1) {
                Some(&next) => self.slots[next].first_key.clone(),
                None => prefix_end(prefix),
            };
            ranges.push((from, to));
        }
        ranges
    }
}

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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(LiveError::Runtime)?;
    rt.block_on(async {
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

/// Streams a full snapshot (maintenance API) into `dest`, returning its
/// SHA-256 and size. The file is written beside `dest` and renamed when
/// complete, so a failed pull leaves no partial evidence.
pub fn save_snapshot(opts: &LiveOptions, dest: &Path) -> Result<(String, u64), LiveError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(LiveError::Runtime)?;
    rt.block_on(async {
        use std::io::Write;
        let mut client = connect(opts).await?;
        let file_err = |source| LiveError::SnapshotFile {
            path: dest.display().to_string(),
            source,
        };
        let dir = crate::helpers::directory_of(dest);
        let mut tmp = tempfile::Builder::new()
            .prefix(".evforensics-snapshot-")
            .tempfile_in(dir)
            .map_err(file_err)?;
        let endpoints = opts.location();
        let mut stream = with_timeout(opts, "snapshot", client.snapshot())
            .await?
            .map_err(|e| request_error(&endpoints, "snapshot", e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        loop {
            // A snapshot of a large db takes a while: the timeout is per message.
            let msg = with_timeout(opts, "snapshot", stream.message())
                .await?
                .map_err(|e| request_error(&endpoints, "snapshot", e))?;
            let Some(msg) = msg else { break };
            let blob = msg.blob();
            hasher.update(blob);
            size += blob.len() as u64;
            tmp.write_all(blob).map_err(file_err)?;
        }
        tmp.as_file().sync_all().map_err(file_err)?;
        tmp.persist_noclobber(dest).map_err(|e| file_err(e.error))?;
        Ok((crate::helpers::hex(&hasher.finalize()), size))
    })
}

async fn with_timeout<F: std::future::Future>(
    opts: &LiveOptions,
    what: &str,
    f: F,
) -> Result<F::Output, LiveError> {
    tokio::time::timeout(opts.command_timeout, f)
        .await
        .map_err(|_| LiveError::Timeout {
            endpoints: opts.location(),
            what: what.to_string(),
            timeout: opts.command_timeout,
        })
}

fn read_file(flag: &'static str, path: &Path) -> Result<Vec<u8>, LiveError> {
    std::fs::read(path).map_err(|source| LiveError::ReadFile {
        flag,
        path: path.display().to_string(),
        source,
    })
}

/// The TLS material, read and checked before any connection, so that a
/// wrong file is named.
struct TlsFiles {
    ca: Vec<u8>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

fn load_tls_files(opts: &LiveOptions) -> Result<Option<TlsFiles>, LiveError> {
    if !opts.tls() {
        return Ok(None);
    }
    let Some(ca_path) = &opts.cacert else {
        return Err(LiveError::Config(
            "TLS endpoints need --cacert: the CA that signed etcd's server certificate \
             (kubeadm: /etc/kubernetes/pki/etcd/ca.crt)"
                .into(),
        ));
    };
    let ca = read_file("--cacert", ca_path)?;
    check_pem_certs("--cacert", ca_path, &ca)?;
    let identity = match (&opts.cert, &opts.key) {
        (Some(c), Some(k)) => {
            let cert = read_file("--cert", c)?;
            check_pem_certs("--cert", c, &cert)?;
            let key = read_file("--key", k)?;
            check_pem_key(k, &key)?;
            Some((cert, key))
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(LiveError::Config(
                "--cert was given without --key (the client certificate's private key)".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(LiveError::Config(
                "--key was given without --cert (the client certificate)".into(),
            ))
        }
    };
    Ok(Some(TlsFiles { ca, identity }))
}

fn check_pem_certs(flag: &'static str, path: &Path, pem: &[u8]) -> Result<(), LiveError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let bad = |problem: String| LiveError::BadFile {
        flag,
        path: path.display().to_string(),
        problem,
    };
    let mut n = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| bad(format!("not a valid PEM certificate file: {e}")))?;
        n += 1;
    }
    if n == 0 {
        return Err(bad(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(())
}

fn check_pem_key(path: &Path, pem: &[u8]) -> Result<(), LiveError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::PrivateKeyDer;
    PrivateKeyDer::from_pem_slice(pem)
        .map(|_| ())
        .map_err(|e| LiveError::BadFile {
            flag: "--key",
            path: path.display().to_string(),
            problem: format!("holds no usable PEM private key: {e}"),
        })
}

/// Connects and checks that each endpoint answers, with errors that say
/// what was wrong: unreachable, TLS (which file), or login.
async fn connect(opts: &LiveOptions) -> Result<Client, LiveError> {
    if opts.endpoints.is_empty() {
        return Err(LiveError::Config("no --endpoints given".into()));
    }
    if opts.page_size < 1 {
        return Err(LiveError::Config("--page-size must be at least 1".into()));
    }
    let tls = load_tls_files(opts)?;
    let urls = opts.urls();
    if tls.is_some() {
        if let Some(u) = urls.iter().find(|u| u.starts_with("http://")) {
            return Err(LiveError::Config(format!(
                "endpoint {u} is plain http but TLS files were given; use https://"
            )));
        }
    }
    // Probe each endpoint first: the gRPC channel balances over endpoints
    // and retries silently, which hides why a connection fails.
    let mut last_err = None;
    let mut reachable = Vec::new();
    for url in &urls {
        match probe(url, tls.as_ref(), opts).await {
            Ok(()) => reachable.push(url.clone()),
            Err(e) => last_err = Some(e),
        }
    }
    if reachable.is_empty() {
        return Err(last_err.unwrap_or(LiveError::Config("no endpoints".into())));
    }
    let mut copts = ConnectOptions::new()
        .with_connect_timeout(opts.dial_timeout)
        .with_keep_alive(Duration::from_secs(10), Duration::from_secs(10));
    if let Some(t) = &tls {
        let mut cfg = TlsOptions::new().ca_certificate(Certificate::from_pem(&t.ca));
        if let Some((c, k)) = &t.identity {
            cfg = cfg.identity(Identity::from_pem(c, k));
        }
        copts = copts.with_tls(cfg);
    }
    let endpoints = opts.location();
    if let Some(user) = &opts.user {
        let (name, password) = match (user.split_once(':'), &opts.password) {
            (_, Some(p)) => (user.clone(), p.clone()),
            (Some((n, p)), None) => (n.to_string(), p.to_string()),
            (None, None) => {
                return Err(LiveError::Config(format!(
                    "--user {user} without a password: give --password, ETCDCTL_PASSWORD, or --user {user}:PASSWORD"
                )))
            }
        };
        copts = copts.with_user(name, password);
    }
    let client = tokio::time::timeout(
        opts.dial_timeout + opts.command_timeout,
        Client::connect(&reachable, Some(copts)),
    )
    .await
    .map_err(|_| LiveError::Unreachable {
        endpoint: endpoints.clone(),
        detail: format!(
            "no connection within --dial-timeout {:?}",
            opts.dial_timeout
        ),
    })?
    .map_err(|e| classify(&endpoints, "connect", e))?;
    Ok(client)
}

/// TCP connect (and TLS handshake) to one endpoint, to name what is wrong.
async fn probe(url: &str, tls: Option<&TlsFiles>, opts: &LiveOptions) -> Result<(), LiveError> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let hostport = rest.split('/').next().unwrap_or(rest).to_string();
    let unreachable = |detail: String| LiveError::Unreachable {
        endpoint: url.to_string(),
        detail,
    };
    let tcp = tokio::time::timeout(
        opts.dial_timeout,
        tokio::net::TcpStream::connect(hostport.clone()),
    )
    .await
    .map_err(|_| {
        unreachable(format!(
            "no TCP connection within --dial-timeout {:?}",
            opts.dial_timeout
        ))
    })?
    .map_err(|e| unreachable(e.to_string()))?;
    let Some(tls) = tls else { return Ok(()) };
    tls_probe(url, &hostport, tcp, tls, opts).await
}

async fn tls_probe(
    url: &str,
    hostport: &str,
    tcp: tokio::net::TcpStream,
    files: &TlsFiles,
    opts: &LiveOptions,
) -> Result<(), LiveError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;

    let tls_err = |detail: String| LiveError::Tls {
        endpoint: url.to_string(),
        detail,
    };
    let cacert = opts
        .cacert
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&files.ca).flatten() {
        roots
            .add(cert)
            .map_err(|e| tls_err(format!("--cacert {cacert}: unusable CA certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .with_root_certificates(roots);
    let config = match &files.identity {
        Some((c, k)) => {
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(c).flatten().collect();
            let key = PrivateKeyDer::from_pem_slice(k).map_err(|e| {
                tls_err(format!(
                    "--key {}: {e}",
                    opts.key.as_deref().unwrap_or(Path::new("")).display()
                ))
            })?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                tls_err(format!(
                    "--cert {} and --key {} do not form a usable client identity: {e}",
                    opts.cert.as_deref().unwrap_or(Path::new("")).display(),
                    opts.key.as_deref().unwrap_or(Path::new("")).display()
                ))
            })?
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = config;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let host = hostport
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(hostport)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let name = ServerName::try_from(host.clone())
        .map_err(|e| tls_err(format!("{host} is not a valid server name: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let explain = |e: io::Error| -> LiveError {
        let text = e.to_string();
        let detail = if text.contains("UnknownIssuer") || text.contains("BadSignature") {
            format!(
                "the server's certificate is not signed by the CA in --cacert {cacert} ({text})"
            )
        } else if text.contains("NotValidForName") || text.contains("not valid for name") {
            format!("the server's certificate is not valid for {host} ({text})")
        } else if text.contains("Expired") || text.contains("NotValidYet") {
            format!("the server's certificate is outside its validity period ({text})")
        } else if text.contains("CertificateRequired")
            || text.contains("HandshakeFailure")
            || text.contains("BadCertificate")
            || text.contains("UnknownCA")
        {
            match &opts.cert {
                None => format!(
                    "the server requires a client certificate: give --cert and --key ({text})"
                ),
                Some(c) => format!(
                    "the server rejected the client certificate --cert {} (not signed by a CA it trusts?) ({text})",
                    c.display()
                ),
            }
        } else if text.contains("InvalidContentType") || text.contains("corrupt message") {
            format!("the server does not speak TLS (use http://?) ({text})")
        } else {
            text
        };
        tls_err(detail)
    };
    let mut stream = tokio::time::timeout(opts.dial_timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| tls_err(format!("no TLS handshake within {:?}", opts.dial_timeout)))?
        .map_err(explain)?;
    // With TLS 1.3 the server checks the client certificate after the
    // client's handshake is done: its verdict arrives with the first read.
    // Send the HTTP/2 preface and an empty SETTINGS frame, read its answer.
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let exchange = async {
        stream.write_all(&hello).await?;
        stream.flush().await?;
        let mut buf = [0u8; 9];
        stream.read_exact(&mut buf).await?;
        Ok::<_, io::Error>(())
    };
    tokio::time::timeout(opts.dial_timeout, exchange)
        .await
        .map_err(|_| {
            tls_err(format!(
                "no answer after the TLS handshake within {:?}",
                opts.dial_timeout
            ))
        })?
        .map_err(explain)?;
    let _ = stream.shutdown().await;
    Ok(())
}

/// Names what went wrong in an etcd call.
fn classify(endpoints: &str, what: &str, e: etcd_client::Error) -> LiveError {
    let mut detail = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        detail.push_str(": ");
        detail.push_str(&c.to_string());
        cause = c.source();
    }
    if detail.contains("authentication failed")
        || detail.contains("invalid auth token")
        || detail.contains("user name is empty")
        || detail.contains("permission denied")
        || detail.contains("Unauthenticated")
    {
        return LiveError::Auth {
            endpoints: endpoints.to_string(),
            detail,
        };
    }
    if detail.contains("Connection refused")
        || detail.contains("dns error")
        || detail.contains("tcp connect error")
    {
        return LiveError::Unreachable {
            endpoint: endpoints.to_string(),
            detail,
        };
    }
    LiveError::Request {
        endpoints: endpoints.to_string(),
        what: what.to_string(),
        detail,
    }
}

fn request_error(endpoints: &str, what: &str, e: etcd_client::Error) -> LiveError {
    classify(endpoints, what, e)
}

fn is_compacted(e: &etcd_client::Error) -> bool {
    e.to_string()
        .contains("required revision has been compacted")
}

/// The end of the key range of `prefix` (etcd's `GetPrefixRangeEnd`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): to the end of the keyspace.
    vec![0]
}

fn encode_put(kv: &etcd_client::KeyValue) -> Vec<u8> {
    KeyValue {
        key: kv.key().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        value: kv.value().to_vec(),
        lease: kv.lease(),
    }
    .encode_to_vec()
}

/// A tombstone holds `KeyValue{key}` only, as etcd stores it.
fn encode_tombstone(key: &[u8]) -> Vec<u8> {
    KeyValue {
        key: key.to_vec(),
        ..KeyValue::default()
    }
    .encode_to_vec()
}

/// Timing of the phases on stderr, with `EVF_TRACE` set (for scale runs).
pub fn trace(what: &str) {
    if std::env::var_os("EVF_TRACE").is_some() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        eprintln!("evforensics trace {t:.3} {what}");
    }
}

enum WatchEnd {
    Done,
    Compacted(i64),
}

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
    /// Each key's newest change read: (revision, tombstone).
    newest: HashMap<Vec<u8>, (i64, bool)>,
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
        for (rev, kv) in &page {
            self.hasher.add(rev, kv);
        }
        self.out.send(page).map_err(|_| LiveError::ReaderGone)
    }

    fn note_newest(&mut self, key: &[u8], rev: i64, tombstone: bool) {
        match self.newest.get_mut(key) {
            Some(v) if v.0 >= rev => {}
            Some(v) => *v = (rev, tombstone),
            None => {
                self.newest.insert(key.to_vec(), (rev, tombstone));
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
        let (sha, bytes, records) = std::mem::take(&mut self.hasher).finish();
        self.facts.sha256 = sha;
        self.facts.stream_bytes = bytes;
        self.facts.records = records;
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
                page.push((rev, encode_put(kv)));
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
    /// [`transaction_orders`](Self::transaction_orders).
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
                .map(|(lo, hi)| KeyRange::new(lo, hi, from))
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
        self.last_watched = read_to;
        let mut queues: Vec<&mut HeldQueue> = ranges.iter_mut().map(|r| &mut r.held).collect();
        let mut merge = ReadyMerge::new(&queues, read_to);
        loop {
            let page = merge
                .next_page(held, &mut queues, WATCH_BATCH_MAX_REVS)
                .map_err(LiveError::Spill)?;
            if page.is_empty() {
                return Ok(());
            }
            self.pass_page(page, whole_keyspace).await?;
        }
    }

    /// Sends one page of records merged from the key ranges (range index,
    /// revision, record), in revision order. Unless the watch covered the
    /// whole keyspace, the sub revisions of a revision with several changes
    /// under the prefix come from
    /// [`transaction_orders`](Self::transaction_orders).
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
                .filter(|w| w[0].1.main == w[1].1.main)
                .map(|w| w[0].1.main)
                .collect();
            shared.dedup();
            if !shared.is_empty() {
                let orders = self.transaction_orders(&shared).await?;
                number_transactions(&mut ready, &orders);
            }
        }
        let mut page = Vec::with_capacity(ready.len());
        for (_, rev, record) in ready {
            if let Some(key) = crate::source::mvcc::leading_key(&record) {
                self.note_newest(key, rev.main, rev.tombstone);
            }
            page.push((rev, record));
        }
        self.send(page)
    }

    /// The keys changed by each revision of `revs` (ascending), in the
    /// order of their transaction: read with a watcher over the whole
    /// keyspace, which sees every change of a transaction in order. Only
    /// multi-key transactions need it (kube-apiserver never writes one).
    async fn transaction_orders(
        &mut self,
        revs: &[i64],
    ) -> Result<HashMap<i64, Vec<Vec<u8>>>, LiveError> {
        let endpoints = self.endpoints();
        let mut orders: HashMap<i64, Vec<Vec<u8>>> = HashMap::new();
        let mut next = 0;
        while let Some(&start) = revs.get(next) {
            let options = WatchOptions::new()
                .with_range(vec![0u8])
                .with_start_revision(start);
            let mut stream = with_timeout(
                self.opts,
                "watch",
                self.client.watch(vec![0u8], Some(options)),
            )
            .await?
            .map_err(|e| classify(&endpoints, "watch", e))?;
            loop {
                let resp = next_watch_response(self.opts, &endpoints, &mut stream).await?;
                let compacted = resp.compact_revision();
                if compacted > 0 {
                    while revs.get(next).is_some_and(|&r| r < compacted) {
                        self.facts.lost.push(format!(
                            "the order of the changes of the multi-key transaction at revision {} could not be read (compacted during the pull): their sub revisions follow key order across key ranges and the transaction's order within one",
                            revs[next]
                        ));
                        next += 1;
                    }
                    break;
                }
                if resp.canceled() {
                    return Err(cancelled_by_server(&endpoints, &resp));
                }
                if resp.events().is_empty() {
                    continue;
                }
                let mut max_rev = start;
                for ev in resp.events() {
                    let Some(kv) = ev.kv() else { continue };
                    let rev = kv.mod_revision();
                    max_rev = max_rev.max(rev);
                    if revs[next..].binary_search(&rev).is_ok() {
                        orders.entry(rev).or_default().push(kv.key().to_vec());
                    }
                }
                // A batch holds whole revisions.
                while revs.get(next).is_some_and(|&r| r <= max_rev) {
                    next += 1;
                }
                break;
            }
        }
        Ok(orders)
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
        let read = self.newest.values().filter(|(_, tomb)| !tomb).count() as i64;
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

/// Gives the changes of each revision with several records in `ready`
/// (in merge order: revision, range, sub revision) their sub revisions: the
/// position of their key in the revision's transaction order when `orders`
/// holds it for every one of them, else 0, 1, … in merge order (key order
/// across ranges, the transaction's order within one), so that no two share
/// one. Then sorts by (revision, sub revision).
fn number_transactions(ready: &mut [Ready], orders: &HashMap<i64, Vec<Vec<u8>>>) {
    for group in ready.chunk_by_mut(|a, b| a.1.main == b.1.main) {
        if group.len() < 2 {
            continue;
        }
        let order = orders.get(&group[0].1.main);
        let positions: Option<Vec<usize>> = order.and_then(|order| {
            group
                .iter()
                .map(|(_, _, record)| {
                    let key = crate::source::mvcc::leading_key(record)?;
                    order.iter().position(|k| k.as_slice() == key)
                })
                .collect()
        });
        match positions {
            Some(positions) => {
                for ((_, rev, _), at) in group.iter_mut().zip(positions) {
                    rev.sub = at as i64;
                }
            }
            None => {
                for (at, (_, rev, _)) in group.iter_mut().enumerate() {
                    rev.sub = at as i64;
                }
            }
        }
    }
    ready.sort_by_key(|(i, rev, _)| (rev.main, rev.sub, *i));
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

/// A watcher the server cancelled (not for a compaction, which callers
/// handle first).
fn cancelled_by_server(endpoints: &str, resp: &etcd_client::WatchResponse) -> LiveError {
    LiveError::Request {
        endpoints: endpoints.to_string(),
        what: "watch".into(),
        detail: format!("cancelled by the server: {}", resp.cancel_reason()),
    }
}

/// The next response on a watch stream, within the time a busy server's
/// sync round may take.
async fn next_watch_response(
    opts: &LiveOptions,
    endpoints: &str,
    stream: &mut etcd_client::WatchStream,
) -> Result<etcd_client::WatchResponse, LiveError> {
    let wait = opts.command_timeout.max(Duration::from_secs(60));
    match tokio::time::timeout(wait, stream.message()).await {
        Err(_) => Err(LiveError::Timeout {
            endpoints: endpoints.to_string(),
            what: "watch (which waits at least 60 s)".into(),
            timeout: wait,
        }),
        Ok(m) => m
            .map_err(|e| classify(endpoints, "watch", e))?
            .ok_or_else(|| LiveError::Request {
                endpoints: endpoints.to_string(),
                what: "watch".into(),
                detail: "the server closed the watch".into(),
            }),
    }
}

enum RangeFail {
    Compacted,
    Other(LiveError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_like_etcd() {
        assert_eq!(
            prefix_end(b"/registry/events/"),
            b"/registry/events0".to_vec()
        );
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn record_hash_frames_each_record() {
        let mut a = RecordHasher::default();
        a.add(
            &Revision {
                main: 5,
                sub: 0,
                tombstone: false,
            },
            b"ab",
        );
        let mut b = RecordHasher::default();
        b.add(
            &Revision {
                main: 5,
                sub: 0,
                tombstone: true,
            },
            b"ab",
        );
        let (ha, bytes, n) = a.finish();
        let (hb, _, _) = b.finish();
        assert_ne!(ha, hb);
        assert_eq!((bytes, n), (27, 1));
    }

    #[test]
    fn transactions_get_distinct_sub_revisions_with_or_without_their_order() {
        let kv = |key: &str| {
            KeyValue {
                key: key.as_bytes().to_vec(),
                ..KeyValue::default()
            }
            .encode_to_vec()
        };
        let at = |main: i64, sub: i64| Revision {
            main,
            sub,
            tombstone: false,
        };
        // Merge order: revision, range, the range's own sub revision.
        let mut ready: Vec<Ready> = vec![
            (0, at(5, 0), kv("/e/a")),
            (2, at(5, 0), kv("/e/c")),
            (0, at(6, 0), kv("/e/a")),
            (1, at(6, 0), kv("/e/b")),
            (1, at(6, 1), kv("/e/b2")),
            (2, at(7, 0), kv("/e/c")),
        ];
        // Revision 5's order is known (c first); 6's was compacted away.
        let orders = HashMap::from([(5, vec![b"/x".to_vec(), b"/e/c".to_vec(), b"/e/a".to_vec()])]);
        number_transactions(&mut ready, &orders);
        let got: Vec<(i64, i64, Vec<u8>)> = ready
            .iter()
            .map(|(_, rev, record)| {
                let key = crate::source::mvcc::leading_key(record).unwrap_or_default();
                (rev.main, rev.sub, key.to_vec())
            })
            .collect();
        let want = |m, s, k: &str| (m, s, k.as_bytes().to_vec());
        assert_eq!(
            got,
            vec![
                want(5, 1, "/e/c"),
                want(5, 2, "/e/a"),
                want(6, 0, "/e/a"),
                want(6, 1, "/e/b"),
                want(6, 2, "/e/b2"),
                want(7, 0, "/e/c"),
            ]
        );
    }

    #[test]
    fn urls_follow_tls() {
        let mut o = LiveOptions {
            endpoints: vec!["10.0.0.5:2379".into(), "http://a:1".into()],
            ..LiveOptions::default()
        };
        assert_eq!(o.urls(), vec!["http://10.0.0.5:2379", "http://a:1"]);
        o.cacert = Some("ca.crt".into());
        assert_eq!(o.urls()[0], "https://10.0.0.5:2379");
    }

    fn sample_of(keys: &[(String, i64)]) -> KeySample {
        let mut sample = KeySample::default();
        for (k, m) in keys {
            sample.add(k.as_bytes(), *m);
        }
        sample
    }

    /// The ranges tile the prefix in key order, each holding a key changed
    /// since the revision asked for.
    fn check_ranges(keys: &[(String, i64)], ranges: &[(Vec<u8>, Vec<u8>)], since: i64) {
        let prefix = b"/registry/events/".to_vec();
        assert_eq!(ranges.first().unwrap().0, prefix);
        assert_eq!(ranges.last().unwrap().1, prefix_end(&prefix));
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1, pair[1].0, "contiguous");
            assert!(pair[0].0 < pair[0].1, "not empty");
        }
        for (from, to) in ranges {
            assert!(
                keys.iter().any(|(k, m)| {
                    *m >= since && k.as_bytes() >= from.as_slice() && k.as_bytes() < to.as_slice()
                }),
                "{} holds a key changed since {since}",
                String::from_utf8_lossy(from)
            );
        }
    }

    #[test]
    fn key_ranges_each_hold_a_changed_key() {
        let prefix = b"/registry/events/";
        // 10,000 keys (more than the sample's slots); only every 97th key
        // changed since revision 50,000.
        let keys: Vec<(String, i64)> = (0..10_000)
            .map(|i| {
                let m = if i % 97 == 0 { 50_000 + i } else { 1 + i };
                (format!("/registry/events/ns/e{i:05}"), m)
            })
            .collect();
        let sample = sample_of(&keys);
        assert!(sample.slots.len() <= SAMPLE_SLOTS);
        assert_eq!(sample.slots.iter().map(|s| s.keys).sum::<u64>(), 10_000);
        for n in [1, 2, 16, 256] {
            let ranges = sample.ranges(prefix, 1, n);
            assert!(ranges.len() <= n && ranges.len() * 10 >= n * 9, "{n}");
            check_ranges(&keys, &ranges, 1);
            let ranges = sample.ranges(prefix, 50_000, n);
            assert!(!ranges.is_empty() && ranges.len() <= n);
            check_ranges(&keys, &ranges, 50_000);
        }
        // About equal numbers of keys.
        let ranges = sample.ranges(prefix, 1, 16);
        for (from, to) in &ranges {
            let inside = keys
                .iter()
                .filter(|(k, _)| k.as_bytes() >= from.as_slice() && k.as_bytes() < to.as_slice())
                .count();
            assert!((500..=800).contains(&inside), "{inside} keys");
        }
        // Nothing changed since: no ranges (the caller watches everything).
        assert!(sample.ranges(prefix, 70_000, 16).is_empty());
        assert!(KeySample::default().ranges(prefix, 1, 16).is_empty());
        // One changed key, at the very end: one range over the prefix.
        let mut keys: Vec<(String, i64)> = (0..100)
            .map(|i| (format!("/registry/events/ns/e{i:03}"), 5))
            .collect();
        keys.push(("/registry/events/zz/last".into(), 900));
        let ranges = sample_of(&keys).ranges(prefix, 100, 16);
        assert_eq!(ranges, vec![(prefix.to_vec(), prefix_end(prefix))]);
    }
}
