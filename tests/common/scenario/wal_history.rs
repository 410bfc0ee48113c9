//! The WAL scenario: a history of Events that compaction removes from the
//! bbolt tree chunk by chunk, so that most of it is left only in etcd's
//! write-ahead log. Written the way kube-apiserver writes: kubelet Events
//! created and count-updated under the apiserver's shared lease, updates
//! from an out-of-date copy whose compare fails and the retries that
//! succeed, Events deleted, a lease revoked and a lease run out by its TTL,
//! one multi-key txn, Pods, and a physical compaction after every chunk of
//! [`WRITES_PER_CHUNK`] writes.

use etcd_client::Client;
use evforensics::proto::core::v1 as core;

use super::events::{bump_count, event_key, legacy_event};
use super::ledger::Ledger;
use super::objects::ObjRef;
use super::rng::Rng;
use super::standard::INCIDENT_START;
use super::writer::{NewValue, ScenarioWriter};

/// Chunks of writes, each ended by a compaction at its last revision.
pub const CHUNKS: usize = 6;
/// Writes per chunk, the compactor's `compact_rev_key` put included.
pub const WRITES_PER_CHUNK: i64 = 20;
/// Writes after the last compaction (the tree holds them too): a delete,
/// then creates and count updates.
pub const TAIL_WRITES: i64 = 5;
/// TTL asked for the lease left to run out; etcd raises it to its
/// minimum (2 s with the default heartbeat and election timeout).
const SHORT_TTL: i64 = 1;
/// Percent of filler writes that are count updates.
const UPDATE_PERCENT: u64 = 40;

const REASONS: &[(&str, &str, &str)] = &[
    (
        "Normal",
        "Pulled",
        "Container image \"registry.example.com/shop/{app}:3.1.0\" already present on machine",
    ),
    (
        "Warning",
        "BackOff",
        "Back-off restarting failed container {app} in pod {pod}",
    ),
    (
        "Warning",
        "Unhealthy",
        "Liveness probe failed: HTTP probe failed with statuscode: 503",
    ),
    (
        "Warning",
        "FailedMount",
        "MountVolume.SetUp failed for volume \"secrets\" : secret \"{app}-tls\" not found",
    ),
    (
        "Normal",
        "Killing",
        "Container {app} failed liveness probe, will be restarted",
    ),
];

/// An Event key that exists, with the Event as last written.
struct Tracked {
    ev: core::Event,
    key: String,
}

struct History {
    w: ScenarioWriter,
    rng: Rng,
    pods: Vec<(ObjRef, &'static str)>,
    events: Vec<Tracked>,
    /// The apiserver's current Event lease (attached by every write).
    lease: i64,
    /// The cluster's clock (seconds), one tick per Event write.
    now: i64,
}

impl History {
    fn tick(&mut self) -> i64 {
        self.now += 1;
        self.now
    }

    fn new_event(&mut self) -> core::Event {
        let at = self.tick();
        let (pod, app) = self.pods[self.rng.below(self.pods.len() as u64) as usize].clone();
        let (ty, reason, msg) = REASONS[self.rng.below(REASONS.len() as u64) as usize];
        let msg = msg.replace("{app}", app).replace("{pod}", &pod.name);
        let obj = pod.field(&format!("spec.containers{{{app}}}"));
        legacy_event(
            &mut self.rng,
            &obj,
            ty,
            reason,
            &msg,
            "kubelet",
            "node-a",
            at,
        )
    }

    async fn create(&mut self, note: &str) {
        let ev = self.new_event();
        self.w.create_event(&ev, self.lease, note).await;
        self.events.push(Tracked {
            key: event_key(&ev),
            ev,
        });
    }

    /// The kubelet's repeat of Event `i`: count + 1.
    async fn update(&mut self, i: usize, note: &str) {
        let at = self.tick();
        bump_count(&mut self.events[i].ev, at);
        let ev = self.events[i].ev.clone();
        self.w.update_event(&ev, self.lease, note).await;
    }

    /// Creates and count updates until the head reaches `head`.
    async fn fill(&mut self, head: i64) {
        while self.w.head() < head {
            if self.events.len() >= 3 && self.rng.below(100) < UPDATE_PERCENT {
                let i = self.rng.below(self.events.len() as u64) as usize;
                self.update(i, "count update").await;
            } else {
                self.create("created").await;
            }
        }
    }

    /// Two apiservers repeat Event `i` from the same copy: the first's
    /// update applies; the second's compare names the old mod revision
    /// and fails; it retries from the value its get returned. With
    /// `same_second` both bump the count in the same second, so the
    /// refused bytes are exactly the ones applied.
    async fn contended_update(&mut self, i: usize, same_second: bool) {
        let old = self.events[i].ev.clone();
        let key = self.events[i].key.clone();
        let old_rev = self.w.mod_revision(&key).expect("tracked key exists");
        self.update(i, "count update (apiserver A)").await;
        let mut stale = old;
        let at = if same_second { self.now } else { self.tick() };
        bump_count(&mut stale, at);
        let note = if same_second {
            "apiserver B, same count in the same second: compare fails"
        } else {
            "apiserver B, from its out-of-date copy: compare fails"
        };
        self.w
            .stale_update(NewValue::event(&stale, self.lease, note), old_rev)
            .await;
        self.update(i, "apiserver B retries from the current value")
            .await;
    }

    async fn delete(&mut self, i: usize, note: &str) {
        let t = self.events.remove(i);
        self.w.delete(&t.key, note).await;
    }

    /// Drops the Events whose keys a lease's end deleted.
    fn forget_deleted(&mut self) {
        let w = &self.w;
        self.events.retain(|t| w.exists(&t.key));
    }

    /// A lease that runs out: Events created (and one repeated) under it,
    /// each write after a keep-alive so that it cannot run out before its
    /// keys are attached; then its expiry, awaited.
    async fn expiring_lease(&mut self) {
        let keep = self.lease;
        self.lease = self.w.grant_lease_ttl(SHORT_TTL).await;
        for _ in 0..3 {
            self.w.refresh_lease(self.lease).await;
            self.create("created under a lease that will run out").await;
        }
        self.w.refresh_lease(self.lease).await;
        let last = self.events.len() - 1;
        self.update(last, "count update under the lease that will run out")
            .await;
        let lease = self.lease;
        self.w
            .await_expiry(lease, "the lease ran out its TTL")
            .await;
        self.forget_deleted();
        self.lease = keep;
    }

    /// The chunk's own story before it is filled up with writes.
    async fn chunk(&mut self, n: usize) {
        match n {
            0 => {
                for (pod, app) in self.pods.clone() {
                    self.w.put_pod(&pod, app, INCIDENT_START - 600, "pod").await;
                }
            }
            1 => {
                self.contended_update(0, true).await;
                self.contended_update(2, false).await;
            }
            2 => {
                for _ in 0..3 {
                    self.delete(1, "kubectl delete event").await;
                }
                let (pod, app) = self.pods[0].clone();
                self.w
                    .put_pod(
                        &pod.rv(61_002),
                        app,
                        INCIDENT_START - 600,
                        "pod status update",
                    )
                    .await;
            }
            3 => {
                // A new minute: the apiserver's next lease; then the old one
                // is revoked with the Events still attached to it.
                let old = self.lease;
                self.lease = self.w.grant_lease().await;
                let (a, b) = (self.new_event(), self.new_event());
                self.w
                    .create_many(vec![
                        NewValue::event(&a, self.lease, "multi-key txn, sub 0"),
                        NewValue::event(&b, self.lease, "multi-key txn, sub 1"),
                    ])
                    .await;
                for ev in [a, b] {
                    self.events.push(Tracked {
                        key: event_key(&ev),
                        ev,
                    });
                }
                let head = self.w.head();
                self.fill(head + 6).await;
                self.w.revoke(old, "etcdctl lease revoke").await;
                self.forget_deleted();
            }
            4 => self.expiring_lease().await,
            5 => {
                let last = self.events.len() - 1;
                self.contended_update(last, false).await;
                self.contended_update(0, true).await;
                self.delete(last, "kubectl delete event").await;
                let (pod, _) = self.pods[1].clone();
                let key = format!("/registry/pods/{}/{}", pod.namespace, pod.name);
                self.w.delete(&key, "pod deleted").await;
            }
            _ => {}
        }
    }
}

/// Writes the WAL scenario into a fresh etcd nobody else writes to and
/// returns its ledger. Ends with [`TAIL_WRITES`] single-key Event writes
/// after the last compaction, a delete among them.
pub async fn write_wal_history(client: &Client) -> Ledger {
    let mut rng = Rng::new(0x3a1_2024_1120);
    let mut pods = Vec::new();
    for (name, app) in [
        ("cart-7b9f5d6c8-2mx4p", "cart"),
        ("web-6f7d8c9b54-h7kqz", "web"),
        ("search-5d4c9f8b7-kq2zx", "search"),
    ] {
        let uid = rng.uuid();
        pods.push((ObjRef::new("Pod", "v1", "shop", name, &uid).rv(61_000), app));
    }
    let mut w = ScenarioWriter::new(client).await;
    let lease = w.grant_lease().await;
    let mut h = History {
        w,
        rng,
        pods,
        events: Vec::new(),
        lease,
        now: INCIDENT_START,
    };
    for n in 0..CHUNKS {
        let start = h.w.head();
        h.chunk(n).await;
        h.fill(start + WRITES_PER_CHUNK - 1).await;
        let head = h.w.head();
        h.w.compact(head).await;
    }
    let head = h.w.head();
    h.delete(0, "kubectl delete event: a tombstone the tree keeps")
        .await;
    h.fill(head + TAIL_WRITES).await;
    h.w.finish().await
}
