//! The standard scenario: a small, believable incident written through the
//! apiserver's txn patterns, the content of the sample fixtures and of the
//! tests that read them.

use etcd_client::Client;

use super::event_json::event_k8s_json;
use super::events::{
    bump_count, bump_series, event_key, event_name, events_v1_event, legacy_event,
};
use super::ledger::{Ledger, ValueKind};
use super::objects::{namespace_value, ObjRef};
use super::rng::Rng;
use super::writer::{NewValue, ScenarioWriter};

/// Prefix of encrypted values (`EncryptionConfiguration`, aescbc, key1).
pub const AESCBC_PREFIX: &[u8] = b"k8s:enc:aescbc:v1:key1:";
/// 2024-03-14T09:12:00Z, when the standard scenario's incident starts.
pub const INCIDENT_START: i64 = 1_710_407_520;

struct Cluster {
    rng: Rng,
}

impl Cluster {
    fn pod(&mut self, ns: &str, name: &str, rv: u64) -> ObjRef {
        let uid = self.rng.uuid();
        ObjRef::new("Pod", "v1", ns, name, &uid).rv(rv)
    }
}

/// A small, believable incident (see fixtures/README.md), written through
/// the apiserver's txn patterns. Tens of Events in namespaces `shop`,
/// `monitoring`, `ci-7421`, `kube-system`, `default`; three leases, the
/// oldest revoked (expired); a compaction at the revision of an explicit
/// delete; a multi-key txn; one JSON, one encrypted and one garbage value
/// under /registry/events/; Pods, Namespaces and `compact_rev_key`.
///
/// Expects a fresh etcd (revision 1) that nobody else writes to: the
/// ledger then describes every key in the store (first write = revision 2,
/// compaction at 46, head 67).
pub async fn write_standard_scenario(client: &Client) -> Ledger {
    let mut w = ScenarioWriter::new(client).await;
    let mut c = Cluster {
        rng: Rng::new(0x5eed_2024_0314),
    };
    let t0 = INCIDENT_START;
    let image = "registry.example.com/shop/web:2.4.0";
    let day = 86_400;

    // -- Cluster objects (no lease) ----------------------------------------
    for (i, ns) in ["default", "kube-system", "monitoring", "shop", "ci-7421"]
        .into_iter()
        .enumerate()
    {
        let created = if ns == "ci-7421" {
            t0 - 600
        } else {
            t0 - 40 * day + i as i64
        };
        let value = namespace_value(&mut c.rng, ns, created);
        w.put_object(
            &format!("/registry/namespaces/{ns}"),
            ValueKind::Namespace,
            value,
            &format!("namespace {ns}"),
        )
        .await;
    }
    let web_old = c.pod("shop", "web-5c8f7b6d4-q9wzt", 48_120);
    let web_new = c.pod("shop", "web-6f7d8c9b54-h7kqz", 51_877);
    let cart = c.pod("shop", "cart-7b9f5d6c8-2mx4p", 49_310);
    let prom = c.pod("monitoring", "prometheus-0", 40_221);
    let build = c.pod("ci-7421", "build-7421-x8r2k", 51_702);
    for (pod, app, created) in [
        (&web_old, "web", t0 - 2 * day),
        (&cart, "cart", t0 - day),
        (&prom, "prometheus", t0 - 9 * day),
        (&build, "build", t0 - 300),
        (&web_new, "web", t0),
    ] {
        w.put_pod(
            pod,
            app,
            created,
            &format!("pod {}/{}", pod.namespace, pod.name),
        )
        .await;
    }

    let r = &mut c.rng;
    let deploy = ObjRef::new("Deployment", "apps/v1", "shop", "web", &r.uuid()).rv(51_870);
    let rs_new =
        ObjRef::new("ReplicaSet", "apps/v1", "shop", "web-6f7d8c9b54", &r.uuid()).rv(51_874);
    let rs_old =
        ObjRef::new("ReplicaSet", "apps/v1", "shop", "web-5c8f7b6d4", &r.uuid()).rv(48_101);
    let hpa = ObjRef::new(
        "HorizontalPodAutoscaler",
        "autoscaling/v2",
        "shop",
        "web",
        &r.uuid(),
    )
    .rv(50_990);
    let node_b = ObjRef::new("Node", "", "", "node-b", "node-b");
    let web_c = web_new.field("spec.containers{web}");
    let cart_c = cart.field("spec.containers{cart}");
    let build_c = build.field("spec.containers{build}");
    let prom_c = prom.field("spec.containers{prometheus}");

    // -- Phase 1, lease L1: the rollout of web:2.4.0 -------------------------
    let l1 = w.grant_lease().await;
    let r = &mut c.rng;
    let (sched, sched_1) = ("default-scheduler", "default-scheduler-cp-1");
    #[rustfmt::skip]
    let (e_scale_up, e_rs_create, e_sched) = (
        legacy_event(r, &deploy, "Normal", "ScalingReplicaSet", "Scaled up replica set web-6f7d8c9b54 to 1", "deployment-controller", "", t0),
        legacy_event(r, &rs_new, "Normal", "SuccessfulCreate", "Created pod: web-6f7d8c9b54-h7kqz", "replicaset-controller", "", t0),
        events_v1_event(r, &web_new, "Normal", "Scheduled", "Binding", "Successfully assigned shop/web-6f7d8c9b54-h7kqz to node-b", sched, sched_1, t0 + 1),
    );
    let pull_error = format!(
        "Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": \
         failed to resolve reference \"{image}\": {image}: not found"
    );
    #[rustfmt::skip]
    let (mut e_pulling, mut e_pull_failed, mut e_errimagepull, mut e_backoff, mut e_imagepullbackoff) = (
        legacy_event(r, &web_c, "Normal", "Pulling", &format!("Pulling image \"{image}\""), "kubelet", "node-b", t0 + 2),
        legacy_event(r, &web_c, "Warning", "Failed", &pull_error, "kubelet", "node-b", t0 + 4),
        legacy_event(r, &web_c, "Warning", "Failed", "Error: ErrImagePull", "kubelet", "node-b", t0 + 4),
        legacy_event(r, &web_c, "Normal", "BackOff", &format!("Back-off pulling image \"{image}\""), "kubelet", "node-b", t0 + 5),
        legacy_event(r, &web_c, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet", "node-b", t0 + 5),
    );
    #[rustfmt::skip]
    let (e_ci_sched, e_ci_pulled, e_ci_created, e_ci_started) = (
        events_v1_event(r, &build, "Normal", "Scheduled", "Binding", "Successfully assigned ci-7421/build-7421-x8r2k to node-c", sched, sched_1, t0 + 8),
        legacy_event(r, &build_c, "Normal", "Pulled", "Container image \"golang:1.22\" already present on machine", "kubelet", "node-c", t0 + 9),
        legacy_event(r, &build_c, "Normal", "Created", "Created container build", "kubelet", "node-c", t0 + 9),
        legacy_event(r, &build_c, "Normal", "Started", "Started container build", "kubelet", "node-c", t0 + 10),
    );
    #[rustfmt::skip]
    let (mut e_prom_unhealthy, mut e_cart_pulled, mut e_cart_created, mut e_cart_started) = (
        legacy_event(r, &prom_c, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", "kubelet", "node-a", t0 + 30),
        legacy_event(r, &cart_c, "Normal", "Pulled", "Container image \"registry.example.com/shop/cart:1.9.3\" already present on machine", "kubelet", "node-b", t0 + 40),
        legacy_event(r, &cart_c, "Normal", "Created", "Created container cart", "kubelet", "node-b", t0 + 40),
        legacy_event(r, &cart_c, "Normal", "Started", "Started container cart", "kubelet", "node-b", t0 + 41),
    );
    for (ev, note) in [
        (&e_scale_up, "rollout of web:2.4.0 starts"),
        (&e_rs_create, "new ReplicaSet creates its pod"),
        (&e_sched, "events.k8s.io write by kube-scheduler"),
        (&e_pulling, "kubelet pulls the new image"),
        (&e_pull_failed, "image tag does not exist"),
        (&e_errimagepull, "ErrImagePull"),
        (&e_backoff, "kubelet backs off"),
        (&e_imagepullbackoff, "ImagePullBackOff"),
        (&e_ci_sched, "CI build pod scheduled (events.k8s.io)"),
        (&e_ci_pulled, "CI build"),
        (&e_ci_created, "CI build"),
        (&e_ci_started, "CI build"),
        (&e_prom_unhealthy, "prometheus readiness flaps"),
        (&e_cart_pulled, "cart container restarts (1st)"),
        (&e_cart_created, "cart container restarts (1st)"),
        (&e_cart_started, "cart container restarts (1st)"),
    ] {
        w.create_event(ev, l1, note).await;
    }
    // Repeats within the same minute keep lease L1.
    for (ev, at) in [
        (&mut e_pulling, t0 + 20),
        (&mut e_pull_failed, t0 + 21),
        (&mut e_backoff, t0 + 22),
    ] {
        bump_count(ev, at);
        w.update_event(ev, l1, "count 2, still lease L1").await;
    }

    // -- Phase 2, lease L2 (a minute later): OOM, autoscaling, scheduling ----
    let l2 = w.grant_lease().await;
    let r = &mut c.rng;
    #[rustfmt::skip]
    let e_oom = legacy_event(r, &node_b, "Warning", "OOMKilling",
        "Memory cgroup out of memory: Killed process 23817 (cart) total-vm:1843212kB, anon-rss:524112kB, \
         file-rss:18204kB, shmem-rss:0kB, UID:1000 pgtables:1304kB oom_score_adj:999",
        "kernel-monitor", "node-b", t0 + 75);
    let note = "node-problem-detector reports the OOM kill of cart (Node event, namespace default)";
    w.create_event(&e_oom, l2, note).await;
    let note = "cart pod status update (restartCount 1, lastState OOMKilled)";
    w.put_pod(&cart, "cart", t0 - day, note).await;
    for (ev, at) in [
        (&mut e_cart_pulled, t0 + 77),
        (&mut e_cart_created, t0 + 77),
        (&mut e_cart_started, t0 + 78),
    ] {
        bump_count(ev, at);
        let note = "cart restarts after OOMKilled: count 2, moves to lease L2";
        w.update_event(ev, l2, note).await;
    }
    let r = &mut c.rng;
    let msg = format!(
        "Back-off restarting failed container cart in pod cart-7b9f5d6c8-2mx4p_shop({})",
        cart.uid
    );
    let e_cart_backoff = legacy_event(
        r,
        &cart_c,
        "Warning",
        "BackOff",
        &msg,
        "kubelet",
        "node-b",
        t0 + 80,
    );
    w.create_event(&e_cart_backoff, l2, "CrashLoopBackOff after OOMKilled")
        .await;
    bump_count(&mut e_backoff, t0 + 80);
    w.update_event(&e_backoff, l2, "count 3, moves to lease L2")
        .await;
    bump_count(&mut e_pull_failed, t0 + 81);
    w.update_event(&e_pull_failed, l2, "count 3, moves to lease L2")
        .await;

    // HPA scale-up: three Events in ONE txn (sub revisions 0, 1, 2).
    let r = &mut c.rng;
    let web_x7 = ObjRef::new("Pod", "v1", "shop", "web-5c8f7b6d4-x7c2n", &r.uuid()).rv(52_030);
    #[rustfmt::skip]
    let (e_hpa, e_scale_old, e_rs_old_create) = (
        legacy_event(r, &hpa, "Normal", "SuccessfulRescale", "New size: 4; reason: cpu resource utilization (percentage of request) above target", "horizontal-pod-autoscaler", "", t0 + 83),
        legacy_event(r, &deploy, "Normal", "ScalingReplicaSet", "Scaled up replica set web-5c8f7b6d4 to 4 from 3", "deployment-controller", "", t0 + 83),
        legacy_event(r, &rs_old, "Normal", "SuccessfulCreate", "Created pod: web-5c8f7b6d4-x7c2n", "replicaset-controller", "", t0 + 83),
    );
    w.create_many(vec![
        NewValue::event(&e_hpa, l2, "multi-key txn, sub 0"),
        NewValue::event(&e_scale_old, l2, "multi-key txn, sub 1"),
        NewValue::event(&e_rs_old_create, l2, "multi-key txn, sub 2"),
    ])
    .await;
    w.put_pod(&web_x7, "web", t0 + 83, "pod created by the HPA scale-up")
        .await;
    let r = &mut c.rng;
    #[rustfmt::skip]
    let mut e_failed_sched = events_v1_event(r, &web_x7, "Warning", "FailedScheduling", "Scheduling",
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/memory-pressure: }, \
         2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, \
         2 No preemption victims found for incoming pod..",
        sched, sched_1, t0 + 85);
    w.create_event(&e_failed_sched, l2, "events.k8s.io FailedScheduling")
        .await;
    let micros = c.rng.below(1_000_000) as u32;
    bump_series(&mut e_failed_sched, t0 + 95, micros);
    w.update_event(&e_failed_sched, l2, "series.count 2").await;

    // An operator deletes the ImagePullBackOff Event while triaging; the
    // kubelet's next PATCH gets 404 and client-go re-creates the Event
    // under the same name: a second generation of the same key.
    let k_ipbo = event_key(&e_imagepullbackoff);
    w.delete(&k_ipbo, "kubectl delete event (operator triage)")
        .await;
    bump_count(&mut e_imagepullbackoff, t0 + 92);
    let note = "re-created by kubelet after 404 on PATCH: generation 2, count 2";
    w.create_event(&e_imagepullbackoff, l2, note).await;

    // CI namespace teardown starts: the namespace controller deletes Events.
    let note = "namespace controller deletes ci-7421 Events";
    w.delete(&event_key(&e_ci_sched), note).await;
    let note = "namespace controller deletes ci-7421 Events; the compaction revision";
    let tomb_at_c = w.delete(&event_key(&e_ci_pulled), note).await;
    bump_count(&mut e_cart_started, t0 + 100);
    w.update_event(&e_cart_started, l2, "count 3").await;

    // The apiserver compactor: compact at the revision of that tombstone.
    w.compact(tomb_at_c.revision).await;

    // -- Phase 3, lease L3: after the compaction ------------------------------
    let l3 = w.grant_lease().await;
    let note = "namespace controller (after compaction)";
    w.delete(&event_key(&e_ci_created), note).await;
    w.delete(&event_key(&e_ci_started), note).await;
    let note = "namespace controller deletes the pod";
    w.delete(&format!("/registry/pods/ci-7421/{}", build.name), note)
        .await;
    w.delete(
        "/registry/namespaces/ci-7421",
        "namespace ci-7421 finalized",
    )
    .await;
    let value = namespace_value(&mut c.rng, "ci-7421", t0 + 130);
    let note = "CI re-creates its namespace: generation 2";
    w.put_object(
        "/registry/namespaces/ci-7421",
        ValueKind::Namespace,
        value,
        note,
    )
    .await;
    w.put_pod(
        &cart,
        "cart",
        t0 - day,
        "cart pod status update (restartCount 2)",
    )
    .await;
    let micros = c.rng.below(1_000_000) as u32;
    bump_series(&mut e_failed_sched, t0 + 125, micros);
    w.update_event(&e_failed_sched, l3, "series.count 3, lease L3")
        .await;
    bump_count(&mut e_pull_failed, t0 + 126);
    w.update_event(&e_pull_failed, l3, "count 4, lease L3")
        .await;
    bump_count(&mut e_prom_unhealthy, t0 + 127);
    w.update_event(&e_prom_unhealthy, l3, "count 2: moves from L1 to L3")
        .await;

    // The operator deletes "Error: ErrImagePull" after the compaction; the
    // kubelet re-creates it (generation 2 after a surviving tombstone).
    let k_eip = event_key(&e_errimagepull);
    w.delete(&k_eip, "kubectl delete event (after compaction)")
        .await;
    bump_count(&mut e_errimagepull, t0 + 128);
    let note = "re-created by kubelet after 404 on PATCH: generation 2, count 2";
    w.create_event(&e_errimagepull, l3, note).await;

    // Rollback: kubectl rollout undo deployment/web.
    let r = &mut c.rng;
    #[rustfmt::skip]
    let (e_scale_down, e_rs_delete, e_killing) = (
        legacy_event(r, &deploy, "Normal", "ScalingReplicaSet", "Scaled down replica set web-6f7d8c9b54 to 0 from 1", "deployment-controller", "", t0 + 140),
        legacy_event(r, &rs_new, "Normal", "SuccessfulDelete", "Deleted pod: web-6f7d8c9b54-h7kqz", "replicaset-controller", "", t0 + 140),
        legacy_event(r, &web_c, "Normal", "Killing", "Stopping container web", "kubelet", "node-b", t0 + 141),
    );
    w.create_event(&e_scale_down, l3, "rollback").await;
    w.create_event(&e_rs_delete, l3, "rollback").await;
    let key = format!("/registry/pods/shop/{}", web_new.name);
    w.delete(&key, "rollback deletes the new pod").await;
    w.create_event(&e_killing, l3, "rollback").await;

    // One Event written by an apiserver with --storage-media-type=application/json.
    let r = &mut c.rng;
    let coredns = ObjRef::new(
        "Pod",
        "v1",
        "kube-system",
        "coredns-5d78c9869d-4kq2m",
        &r.uuid(),
    )
    .rv(51_990)
    .field("spec.containers{coredns}");
    #[rustfmt::skip]
    let e_json = legacy_event(r, &coredns, "Warning", "Unhealthy",
        "Readiness probe failed: Get \"http://10.244.1.7:8181/ready\": dial tcp 10.244.1.7:8181: connect: connection refused",
        "kubelet", "node-b", t0 + 145);
    // encoding/json's Encoder, as the apiserver's serializer uses, ends with '\n'.
    let mut json_bytes = serde_json::to_vec(&event_k8s_json(&e_json)).expect("json");
    json_bytes.push(b'\n');
    w.create(NewValue {
        key: event_key(&e_json),
        value: json_bytes,
        kind: ValueKind::JsonEvent,
        event: Some(e_json.clone()),
        lease: l3,
        note: "JSON-encoded Event (storage media type application/json)".into(),
    })
    .await;

    // One encrypted value and one garbage value under /registry/events/.
    let mut enc = AESCBC_PREFIX.to_vec();
    enc.extend(c.rng.bytes(16 + 16 * 40)); // IV + 40 AES blocks
    let name = event_name("web-5c8f7b6d4-x7c2n", t0 + 150, 318_220_114);
    w.create(NewValue {
        key: format!("/registry/events/shop/{name}"),
        value: enc,
        kind: ValueKind::EncryptedEvent,
        event: None,
        lease: l3,
        note: "aescbc-encrypted Event (key1 unknown to evforensics)".into(),
    })
    .await;
    let name = event_name("cart-7b9f5d6c8-2mx4p", t0 + 151, 77_402_881);
    w.create(NewValue {
        key: format!("/registry/events/shop/{name}"),
        value: b"\x00\x01\x02not a kubernetes object\xff\xfe\x00".to_vec(),
        kind: ValueKind::GarbageEvent,
        event: None,
        lease: l3,
        note: "garbage bytes under /registry/events/".into(),
    })
    .await;

    // An hour later L1 expires: its remaining Events vanish in one revision.
    let note = "lease L1 expired (TTL 3660 s): Events never updated since the first minute";
    w.revoke(l1, note).await;
    w.finish().await
}
