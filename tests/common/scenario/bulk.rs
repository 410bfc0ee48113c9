//! The bulk writer for scale tests: many Event creates and count updates
//! with many requests in flight, each one key per txn like the apiserver,
//! optionally with a full [`Ledger`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions};
use evforensics::proto::core::v1 as core;

use super::events::{bump_count, event_key, legacy_event, stored_event_value};
use super::ledger::{ExpectedLease, ExpectedPut, Ledger, ValueKind};
use super::objects::ObjRef;
use super::rng::Rng;
use super::standard::INCIDENT_START;
use super::writer::{header_rev, optimistic_put, COMPACT_REV_KEY, EVENT_LEASE_TTL};

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
    /// Keep a full [`Ledger`] (memory: ~1 KiB per revision).
    pub record_ledger: bool,
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
            seed: 0xb01c,
            progress_every: 0,
        }
    }
}

/// What [`write_bulk`] did.
#[derive(Debug, Clone)]
pub struct BulkSummary {
    /// Revisions written (= txns; one key each).
    pub revisions: u64,
    pub creates: u64,
    pub updates: u64,
    /// Sum of value sizes.
    pub value_bytes: u64,
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

struct BulkShared {
    next_op: AtomicU64,
    creates: AtomicU64,
    updates: AtomicU64,
    bytes: AtomicU64,
    puts: Mutex<Vec<ExpectedPut>>,
}

/// Writes `n_revisions` Events (creates and count updates, ~700 bytes each,
/// one key per txn like the apiserver) with many requests in flight. Each
/// task owns its keys, so update compares never race. Returns after
/// checking that etcd's revision moved by exactly `n_revisions`.
pub async fn write_bulk(client: &Client, n_revisions: u64, opts: &BulkOptions) -> BulkSummary {
    let start = Instant::now();
    let mut c = client.clone();
    let head0 = header_rev(c.status().await.expect("etcd status").header());
    let n_leases = n_revisions.div_ceil(opts.revisions_per_lease.max(1)).max(1);
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
        puts: Mutex::new(Vec::new()),
    });
    let mut tasks = Vec::new();
    for t in 0..opts.concurrency.max(1) {
        let mut client = client.clone();
        let shared = shared.clone();
        let leases = leases.clone();
        let opts = opts.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(opts.seed ^ ((t as u64 + 1) * 0x9E37_79B9));
            // Recent Events of this task: (event, key, mod_revision, create_revision, version)
            let mut recent: Vec<(core::Event, String, i64, i64, i64)> = Vec::new();
            let mut my_puts = Vec::new();
            loop {
                let i = shared.next_op.fetch_add(1, Ordering::Relaxed);
                if i >= n_revisions {
                    break;
                }
                if opts.progress_every > 0 && i > 0 && i.is_multiple_of(opts.progress_every) {
                    eprintln!("  {i} / {n_revisions} revisions");
                }
                let lease = leases[(i / opts.revisions_per_lease.max(1)) as usize];
                let at = INCIDENT_START + (i / 50) as i64;
                let update = !recent.is_empty() && rng.below(100) < opts.update_percent;
                if update {
                    let idx = rng.below(recent.len() as u64) as usize;
                    let (ev, key, mod_rev, create_rev, ver) = &mut recent[idx];
                    bump_count(ev, at);
                    let value = stored_event_value(ev);
                    let rev =
                        optimistic_put(&mut client, key, value.clone(), *mod_rev, lease).await;
                    *mod_rev = rev;
                    *ver += 1;
                    shared.updates.fetch_add(1, Ordering::Relaxed);
                    shared
                        .bytes
                        .fetch_add(value.len() as u64, Ordering::Relaxed);
                    if opts.record_ledger {
                        my_puts.push(ExpectedPut {
                            key: key.clone(),
                            revision: rev,
                            sub: 0,
                            create_revision: *create_rev,
                            version: *ver,
                            lease,
                            kind: ValueKind::ProtobufEvent,
                            value,
                            event: Some(ev.clone()),
                            event_json: None,
                            note: String::new(),
                        });
                    }
                } else {
                    let ns = format!("team-{:02}-prod", rng.below(opts.namespaces.max(1) as u64));
                    let ev = bulk_event(&mut rng, &ns, at);
                    let key = event_key(&ev);
                    let value = stored_event_value(&ev);
                    let rev = optimistic_put(&mut client, &key, value.clone(), 0, lease).await;
                    shared.creates.fetch_add(1, Ordering::Relaxed);
                    shared
                        .bytes
                        .fetch_add(value.len() as u64, Ordering::Relaxed);
                    if opts.record_ledger {
                        my_puts.push(ExpectedPut {
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
                    if recent.len() >= 32 {
                        let drop_at = rng.below(recent.len() as u64) as usize;
                        recent.swap_remove(drop_at);
                    }
                    recent.push((ev, key, rev, rev, 1));
                }
            }
            if opts.record_ledger {
                shared.puts.lock().expect("puts").extend(my_puts);
            }
        }));
    }
    for t in tasks {
        t.await.expect("bulk writer task panicked");
    }
    let resp = c
        .get(COMPACT_REV_KEY, Some(GetOptions::new().with_count_only()))
        .await
        .expect("get");
    let head = header_rev(resp.header());
    assert_eq!(
        head,
        head0 + n_revisions as i64,
        "etcd revision moved by {} for {n_revisions} writes",
        head - head0
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
        first_revision: head0 + 1,
        head_revision: head,
        elapsed: start.elapsed(),
        leases: leases.to_vec(),
        ledger,
    }
}
