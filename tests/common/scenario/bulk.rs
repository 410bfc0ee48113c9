//! The bulk writer for scale tests: many Event creates and count updates
//! with many requests in flight, each one key per txn like the apiserver
//! (creates `If ModRevision == 0`, updates `If ModRevision == previous`,
//! each with the current lease), optionally with stale proposals whose
//! compare fails, leases that expire, the apiserver's compactor, or a full
//! [`Ledger`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions};
use evforensics::proto::core::v1 as core;

use super::compactor::Compactor;
use super::events::{bump_count, event_key, legacy_event, stored_event_value};
use super::ledger::{ExpectedLease, ExpectedPut, Ledger, ValueKind};
use super::objects::ObjRef;
use super::rng::Rng;
use super::standard::INCIDENT_START;
use super::writer::{
    header_rev, optimistic_put, propose, Proposed, COMPACT_REV_KEY, EVENT_LEASE_TTL,
};

/// Options for [`write_bulk`].
#[derive(Debug, Clone)]
pub struct BulkOptions {
    /// Requests in flight at once (each its own tokio task).
    pub concurrency: usize,
    /// Percent of writes that are count updates of an earlier Event.
    pub update_percent: u64,
    /// Namespaces Events are spread over.
    pub namespaces: usize,
    /// A new lease every this many revisions (the apiserver's 1-minute
    /// lease reuse, scaled).
    pub revisions_per_lease: u64,
    /// Keep a full [`Ledger`] (memory: ~1 KiB per revision). Not with
    /// `compact_every` or `expire_after`.
    pub record_ledger: bool,
    /// Percent of writes preceded by a proposal whose compare fails, as
    /// the apiserver's are when its copy is stale: an update from an older
    /// mod revision (`.Else(Get)`; it retries from what the get returns),
    /// or a create of a key that exists. Nothing written, one raft entry.
    pub stale_percent: u64,
    /// Run a round of the apiserver's compactor (see [`Compactor`]) every
    /// this many writes (0: never), like `--etcd-compaction-interval`.
    pub compact_every: u64,
    /// A lease expires this many writes after its last use (0: never):
    /// `--event-ttl`, scaled. The writer revokes it, which is what etcd's
    /// lessor proposes at expiry (a `LeaseRevoke` entry; its keys are
    /// deleted in one revision).
    pub expire_after: u64,
    pub seed: u64,
    /// Print progress to stderr every this many revisions (0: never).
    pub progress_every: u64,
}

impl Default for BulkOptions {
    fn default() -> Self {
        BulkOptions {
            concurrency: 256,
            update_percent: 25,
            namespaces: 40,
            revisions_per_lease: 20_000,
            record_ledger: false,
            stale_percent: 0,
            compact_every: 0,
            expire_after: 0,
            seed: 0xb01c,
            progress_every: 0,
        }
    }
}

/// What [`write_bulk`] did.
#[derive(Debug, Clone)]
pub struct BulkSummary {
    /// Event writes (= txns that wrote; one key each).
    pub revisions: u64,
    pub creates: u64,
    pub updates: u64,
    /// Sum of value sizes.
    pub value_bytes: u64,
    /// Proposals whose compare failed (stale ones, and updates of keys
    /// whose lease expired under way).
    pub failed_proposals: u64,
    /// Compactor rounds that wrote `compact_rev_key` (one revision each).
    pub compactor_puts: u64,
    /// Compactions, and the last one's revision (0: none).
    pub compactions: u64,
    pub compact_revision: i64,
    /// Leases revoked (expired), and the revisions their deletes took (a
    /// revoke of a lease no key holds any more takes none).
    pub expired_leases: u64,
    pub expiry_revisions: u64,
    /// First revision written.
    pub first_revision: i64,
    /// Store revision after the last write.
    pub head_revision: i64,
    pub elapsed: Duration,
    pub leases: Vec<i64>,
    /// With [`BulkOptions::record_ledger`].
    pub ledger: Option<Ledger>,
}

const BULK_REASONS: &[(&str, &str, &str)] = &[
    ("Normal", "Pulling", "Pulling image \"registry.example.com/{ns}/{app}:1.{n}.0\""),
    ("Normal", "Pulled", "Successfully pulled image \"registry.example.com/{ns}/{app}:1.{n}.0\" in 1.204s (1.204s including waiting)"),
    ("Normal", "Created", "Created container {app}"),
    ("Normal", "Started", "Started container {app}"),
    ("Warning", "BackOff", "Back-off restarting failed container {app} in pod {pod}_{ns}({uid})"),
    ("Warning", "Unhealthy", "Readiness probe failed: Get \"http://10.244.{n}.17:8080/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"),
    ("Normal", "Killing", "Stopping container {app}"),
    ("Warning", "FailedMount", "MountVolume.SetUp failed for volume \"config\" : configmap \"{app}-config\" not found"),
];

fn bulk_event(rng: &mut Rng, ns: &str, at: i64) -> core::Event {
    let app = ["web", "cart", "api", "worker", "search", "auth"][rng.below(6) as usize];
    let pod = format!("{app}-{}-{}", rng.suffix(10), rng.suffix(5));
    let uid = rng.uuid();
    let n = rng.below(200);
    let (ty, reason, msg) = BULK_REASONS[rng.below(BULK_REASONS.len() as u64) as usize];
    let msg = msg
        .replace("{ns}", ns)
        .replace("{app}", app)
        .replace("{pod}", &pod)
        .replace("{uid}", &uid)
        .replace("{n}", &n.to_string());
    let obj = ObjRef::new("Pod", "v1", ns, &pod, &uid)
        .rv(1_000_000 + rng.below(9_000_000))
        .field(&format!("spec.containers{{{app}}}"));
    let node = format!(
        "ip-10-0-{}-{}.eu-west-1.compute.internal",
        rng.below(64),
        rng.below(250) + 2
    );
    legacy_event(rng, &obj, ty, reason, &msg, "kubelet", &node, at)
}

/// An Event a writer task created and may update.
struct Recent {
    event: core::Event,
    key: String,
    mod_revision: i64,
    /// The mod revision before the last update (0: none).
    previous_mod_revision: i64,
    create_revision: i64,
    version: i64,
    /// The index of the lease the key holds now.
    lease_index: u64,
}

struct BulkShared {
    next_op: AtomicU64,
    creates: AtomicU64,
    updates: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    /// Leases with a lower index are revoked or being revoked.
    expired_below: AtomicU64,
    expired: AtomicU64,
    puts: Mutex<Vec<ExpectedPut>>,
    compactor: Arc<tokio::sync::Mutex<Compactor>>,
}

/// The lease that expires at write `i`: the one last used `expire_after`
/// writes ago.
fn expiring_lease(i: u64, per_lease: u64, expire_after: u64) -> Option<u64> {
    if expire_after == 0 || i < per_lease + expire_after {
        return None;
    }
    let since = i - expire_after;
    since
        .is_multiple_of(per_lease)
        .then(|| since / per_lease - 1)
}

/// One writer task: owns its keys, so its update compares hold unless a
/// stale proposal is asked for or the key's lease expired meanwhile.
struct TaskWriter {
    client: Client,
    shared: Arc<BulkShared>,
    opts: BulkOptions,
    rng: Rng,
    recent: Vec<Recent>,
    puts: Vec<ExpectedPut>,
}

/// What an update attempt did.
enum Updated {
    Done,
    /// The key's lease expired while the update was under way.
    Expired,
}

impl TaskWriter {
    fn expired_below(&self) -> u64 {
        self.shared.expired_below.load(Ordering::SeqCst)
    }

    /// One Event write under lease `lease_index`, and the stale proposal
    /// asked for before it.
    async fn write(&mut self, lease_index: u64, lease: i64, at: i64) {
        let expired_below = self.expired_below();
        self.recent.retain(|r| r.lease_index >= expired_below);
        let update = !self.recent.is_empty() && self.rng.below(100) < self.opts.update_percent;
        let stale = self.opts.stale_percent > 0 && self.rng.below(100) < self.opts.stale_percent;
        if stale && !self.recent.is_empty() {
            let idx = self.rng.below(self.recent.len() as u64) as usize;
            // A create's compare would hold once the key expired: only
            // keys under the current lease are safe to re-create.
            if update || self.recent[idx].lease_index == lease_index {
                self.stale_proposal(idx, update, at, lease).await;
            }
        }
        if update && !self.recent.is_empty() {
            let idx = self.rng.below(self.recent.len() as u64) as usize;
            match self.update(idx, lease_index, lease, at).await {
                Updated::Done => return,
                Updated::Expired => {
                    self.recent.swap_remove(idx);
                }
            }
        }
        self.create(lease_index, lease, at).await;
    }

    async fn update(&mut self, idx: usize, lease_index: u64, lease: i64, at: i64) -> Updated {
        let r = &mut self.recent[idx];
        let mut ev = r.event.clone();
        bump_count(&mut ev, at);
        let value = stored_event_value(&ev);
        let rev = match propose(
            &mut self.client,
            &r.key,
            value.clone(),
            r.mod_revision,
            lease,
            true,
        )
        .await
        {
            Proposed::Written(rev) => rev,
            Proposed::Stale { current: 0 }
                if r.lease_index < self.shared.expired_below.load(Ordering::SeqCst) =>
            {
                self.shared.failed.fetch_add(1, Ordering::Relaxed);
                return Updated::Expired;
            }
            Proposed::Stale { current } => panic!(
                "update of {}: mod revision {current}, not {}",
                r.key, r.mod_revision
            ),
        };
        r.event = ev;
        r.previous_mod_revision = r.mod_revision;
        r.mod_revision = rev;
        r.version += 1;
        r.lease_index = lease_index;
        self.shared.updates.fetch_add(1, Ordering::Relaxed);
        self.shared
            .bytes
            .fetch_add(value.len() as u64, Ordering::Relaxed);
        if self.opts.record_ledger {
            self.puts.push(ExpectedPut {
                key: r.key.clone(),
                revision: rev,
                sub: 0,
                create_revision: r.create_revision,
                version: r.version,
                lease,
                kind: ValueKind::ProtobufEvent,
                value,
                event: Some(r.event.clone()),
                event_json: None,
                note: String::new(),
            });
        }
        Updated::Done
    }

    async fn create(&mut self, lease_index: u64, lease: i64, at: i64) {
        let ns = format!(
            "team-{:02}-prod",
            self.rng.below(self.opts.namespaces.max(1) as u64)
        );
        let ev = bulk_event(&mut self.rng, &ns, at);
        let key = event_key(&ev);
        let value = stored_event_value(&ev);
        let rev = optimistic_put(&mut self.client, &key, value.clone(), 0, lease).await;
        self.shared.creates.fetch_add(1, Ordering::Relaxed);
        self.shared
            .bytes
            .fetch_add(value.len() as u64, Ordering::Relaxed);
        if self.opts.record_ledger {
            self.puts.push(ExpectedPut {
                key: key.clone(),
                revision: rev,
                sub: 0,
                create_revision: rev,
                version: 1,
                lease,
                kind: ValueKind::ProtobufEvent,
                value,
                event: Some(ev.clone()),
                event_json: None,
                note: String::new(),
            });
        }
        if self.recent.len() >= 32 {
            let drop_at = self.rng.below(self.recent.len() as u64) as usize;
            self.recent.swap_remove(drop_at);
        }
        self.recent.push(Recent {
            event: ev,
            key,
            mod_revision: rev,
            previous_mod_revision: 0,
            create_revision: rev,
            version: 1,
            lease_index,
        });
    }

    /// A proposal from a stale copy of `recent[idx]`, whose compare fails:
    /// an update computed from the version before (`If ModRevision ==
    /// earlier`, its count one short, `.Else(Get)`) or, for a create, a
    /// create of the existing key. A key whose lease expired meanwhile is
    /// dropped.
    async fn stale_proposal(&mut self, idx: usize, update: bool, at: i64, lease: i64) {
        let r = &self.recent[idx];
        let proposed = if update {
            let mut ev = r.event.clone();
            bump_count(&mut ev, at);
            ev.count = ev.count.map(|c| c - 1);
            let earlier = if r.previous_mod_revision > 0 {
                r.previous_mod_revision
            } else {
                r.mod_revision - 1
            };
            let value = stored_event_value(&ev);
            propose(&mut self.client, &r.key, value, earlier, lease, true).await
        } else {
            let value = stored_event_value(&r.event);
            propose(&mut self.client, &r.key, value, 0, lease, false).await
        };
        self.shared.failed.fetch_add(1, Ordering::Relaxed);
        let want = if update { r.mod_revision } else { 0 };
        let gone = match proposed {
            Proposed::Stale { current } if current == want => false,
            Proposed::Stale { current: 0 } if r.lease_index < self.expired_below() => true,
            other => panic!("stale proposal for {}: {other:?}", r.key),
        };
        if gone {
            self.recent.swap_remove(idx);
        }
    }
}

/// Writes `n_revisions` Events (creates and count updates, ~700 bytes each,
/// one key per txn like the apiserver) with many requests in flight. Each
/// task owns its keys, so update compares never race (only the stale
/// proposals asked for fail, and updates of keys whose lease expires under
/// way). Returns after checking that etcd's revision moved by exactly
/// `n_revisions` plus the compactor's writes (and at most one more per
/// expired lease).
pub async fn write_bulk(client: &Client, n_revisions: u64, opts: &BulkOptions) -> BulkSummary {
    assert!(
        !(opts.record_ledger && (opts.compact_every > 0 || opts.expire_after > 0)),
        "the bulk ledger does not follow compactions or expiries"
    );
    let per_lease = opts.revisions_per_lease.max(1);
    let start = Instant::now();
    let mut c = client.clone();
    let head0 = header_rev(c.status().await.expect("etcd status").header());
    let n_leases = n_revisions.div_ceil(per_lease).max(1);
    let mut leases = Vec::new();
    for _ in 0..n_leases {
        leases.push(
            c.lease_grant(EVENT_LEASE_TTL, None)
                .await
                .expect("lease grant")
                .id(),
        );
    }
    let leases = Arc::new(leases);
    let shared = Arc::new(BulkShared {
        next_op: AtomicU64::new(0),
        creates: AtomicU64::new(0),
        updates: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        expired_below: AtomicU64::new(0),
        expired: AtomicU64::new(0),
        puts: Mutex::new(Vec::new()),
        compactor: Arc::new(tokio::sync::Mutex::new(Compactor::default())),
    });
    let mut tasks = Vec::new();
    for t in 0..opts.concurrency.max(1) {
        let leases = leases.clone();
        let mut w = TaskWriter {
            client: client.clone(),
            shared: shared.clone(),
            opts: opts.clone(),
            rng: Rng::new(opts.seed ^ ((t as u64 + 1) * 0x9E37_79B9)),
            recent: Vec::new(),
            puts: Vec::new(),
        };
        tasks.push(tokio::spawn(async move {
            loop {
                let i = w.shared.next_op.fetch_add(1, Ordering::Relaxed);
                if i >= n_revisions {
                    break;
                }
                if w.opts.progress_every > 0 && i > 0 && i.is_multiple_of(w.opts.progress_every) {
                    eprintln!("  {i} / {n_revisions} revisions");
                }
                if w.opts.compact_every > 0 && i > 0 && i.is_multiple_of(w.opts.compact_every) {
                    // A ticker: a round still running lets this tick pass.
                    if let Ok(mut compactor) = w.shared.compactor.clone().try_lock_owned() {
                        let mut client = w.client.clone();
                        tokio::spawn(async move { compactor.round(&mut client).await });
                    }
                }
                if let Some(lease) = expiring_lease(i, per_lease, w.opts.expire_after) {
                    w.shared
                        .expired_below
                        .fetch_max(lease + 1, Ordering::SeqCst);
                    w.client
                        .lease_revoke(leases[lease as usize])
                        .await
                        .expect("lease revoke");
                    w.shared.expired.fetch_add(1, Ordering::Relaxed);
                }
                let lease_index = i / per_lease;
                let at = INCIDENT_START + (i / 50) as i64;
                w.write(lease_index, leases[lease_index as usize], at).await;
            }
            if w.opts.record_ledger {
                w.shared.puts.lock().expect("puts").extend(w.puts);
            }
        }));
    }
    for t in tasks {
        t.await.expect("bulk writer task panicked");
    }
    // Waits for a compactor round still under way.
    let compactor = shared.compactor.lock().await.clone();
    let resp = c
        .get(COMPACT_REV_KEY, Some(GetOptions::new().with_count_only()))
        .await
        .expect("get");
    let head = header_rev(resp.header());
    let expired = shared.expired.load(Ordering::Relaxed);
    let written = head0 + n_revisions as i64 + compactor.puts as i64;
    assert!(
        (written..=written + expired as i64).contains(&head),
        "etcd revision moved by {} for {n_revisions} writes, {} compactor puts and {expired} expiries",
        head - head0,
        compactor.puts
    );
    let ledger = if opts.record_ledger {
        let mut puts = std::mem::take(&mut *shared.puts.lock().expect("puts"));
        puts.sort_by_key(|p| (p.revision, p.sub));
        let version = c
            .status()
            .await
            .map(|s| s.version().to_string())
            .unwrap_or_default();
        Some(Ledger {
            etcd_version: version,
            puts,
            deletes: Vec::new(),
            leases: leases
                .iter()
                .map(|&id| ExpectedLease {
                    id,
                    ttl: EVENT_LEASE_TTL,
                    revoked_revision: None,
                })
                .collect(),
            failed: Vec::new(),
            compact_revision: 0,
            compactions: Vec::new(),
            head_revision: head,
        })
    } else {
        None
    };
    BulkSummary {
        revisions: n_revisions,
        creates: shared.creates.load(Ordering::Relaxed),
        updates: shared.updates.load(Ordering::Relaxed),
        value_bytes: shared.bytes.load(Ordering::Relaxed),
        failed_proposals: shared.failed.load(Ordering::Relaxed),
        compactor_puts: compactor.puts,
        compactions: compactor.compactions,
        compact_revision: compactor.compact_revision,
        expired_leases: expired,
        expiry_revisions: (head - written) as u64,
        first_revision: head0 + 1,
        head_revision: head,
        elapsed: start.elapsed(),
        leases: leases.to_vec(),
        ledger,
    }
}
