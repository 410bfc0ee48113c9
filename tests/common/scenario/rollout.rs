//! The rollout scenario: the README's first example, end to end. A
//! Deployment, its two ReplicaSets and their Pods stored as the apiserver
//! stores them (owner references by uid), the Events of a bad rollout and
//! of its undo, and the audit log of the same minutes: who changed the
//! Deployment, who tried to get into the Pods, who deleted what. The first
//! minute's Events expire (their lease is revoked) before the snapshot, so
//! the timeline shows Events the cluster no longer had.
//!
//! `fixtures/rollout/` holds its files (`scripts/make-fixtures.sh`).

use std::fmt::Write as _;

use etcd_client::Client;
use serde_json::{json, Value};

use super::events::{bump_count, events_v1_event, legacy_event};
use super::ledger::{Ledger, ValueKind};
use super::objects::{owned_object_meta, stored_object_value_of, ObjRef};
use super::rng::Rng;
use super::standard::INCIDENT_START;
use super::trees::time_of;
use super::writer::ScenarioWriter;

/// `deployment/shop/web`: what the README's example asks about.
pub const DEPLOYMENT: &str = "deployment/shop/web";
/// The Pod of the bad rollout, deleted by its undo.
pub const BAD_POD: &str = "web-6f7d8c9b54-h7kqz";

/// An object as the apiserver stores it: metadata with owners, and the
/// `deployment.kubernetes.io/revision` annotation where one is given.
fn stored(r: &ObjRef, created: i64, owners: &[&ObjRef], revision: Option<&str>) -> Vec<u8> {
    let mut m = owned_object_meta(r, created, &[("app", "web")], owners);
    if let Some(rev) = revision {
        m.annotations
            .insert("deployment.kubernetes.io/revision".into(), rev.into());
    }
    stored_object_value_of(&r.api_version, &r.kind, m)
}

fn key_of(r: &ObjRef) -> String {
    let resource = match r.kind.as_str() {
        "Namespace" => return format!("/registry/namespaces/{}", r.name),
        "Deployment" => "deployments",
        "ReplicaSet" => "replicasets",
        _ => "pods",
    };
    format!("/registry/{resource}/{}/{}", r.namespace, r.name)
}

struct Objects {
    kube_system: ObjRef,
    shop: ObjRef,
    deploy: ObjRef,
    rs_old: ObjRef,
    rs_new: ObjRef,
    old_pods: [ObjRef; 2],
    new_pod: ObjRef,
}

impl Objects {
    fn new(rng: &mut Rng) -> Objects {
        let pod = |rng: &mut Rng, name: &str| ObjRef::new("Pod", "v1", "shop", name, &rng.uuid());
        Objects {
            kube_system: ObjRef::new("Namespace", "v1", "", "kube-system", &rng.uuid()),
            shop: ObjRef::new("Namespace", "v1", "", "shop", &rng.uuid()),
            deploy: ObjRef::new("Deployment", "apps/v1", "shop", "web", &rng.uuid()),
            rs_old: ObjRef::new(
                "ReplicaSet",
                "apps/v1",
                "shop",
                "web-5c8f7b6d4",
                &rng.uuid(),
            ),
            rs_new: ObjRef::new(
                "ReplicaSet",
                "apps/v1",
                "shop",
                "web-6f7d8c9b54",
                &rng.uuid(),
            ),
            old_pods: [
                pod(rng, "web-5c8f7b6d4-q9wzt"),
                pod(rng, "web-5c8f7b6d4-m2xkd"),
            ],
            new_pod: pod(rng, BAD_POD),
        }
    }
}

/// Writes the rollout into a fresh etcd and returns its ledger.
pub async fn write_rollout(client: &Client) -> Ledger {
    let mut w = ScenarioWriter::new(client).await;
    let mut rng = Rng::new(0x0ba0_2024_0314);
    let o = Objects::new(&mut rng);
    let t0 = INCIDENT_START;
    let day = 86_400;
    let image = "registry.example.com/shop/web:2.4.0";

    // -- Before the incident: what had run for weeks -------------------------
    let put = |r: &ObjRef, created, owners: &[&ObjRef], revision| {
        (key_of(r), stored(r, created, owners, revision))
    };
    // kube-system's uid tells the cluster (`sources.kube_system_uid`).
    let mut base = vec![
        (
            put(&o.kube_system, t0 - 40 * day, &[], None),
            ValueKind::Namespace,
            "namespace kube-system",
        ),
        (
            put(&o.shop, t0 - 40 * day, &[], None),
            ValueKind::Namespace,
            "namespace shop",
        ),
        (
            put(&o.deploy, t0 - 30 * day, &[], Some("1")),
            ValueKind::Object,
            "deployment web, revision 1",
        ),
        (
            put(&o.rs_old, t0 - 2 * day, &[&o.deploy], Some("1")),
            ValueKind::Object,
            "replicaset of web:2.3.1",
        ),
    ];
    for p in &o.old_pods {
        base.push((
            put(p, t0 - 2 * day, &[&o.rs_old], None),
            ValueKind::Object,
            "pod of web:2.3.1",
        ));
    }
    for ((key, value), kind, note) in base {
        w.put_object(&key, kind, value, note).await;
    }
    // The apiserver's compactor ran before the incident: the history
    // starts here.
    let horizon = w.head();
    w.compact(horizon).await;

    // -- 09:11:50 alice sets the image web:2.4.0 ------------------------------
    let (k, v) = put(&o.deploy, t0 - 30 * day, &[], Some("2"));
    w.put_object(
        &k,
        ValueKind::Object,
        v,
        "alice: kubectl set image (revision 2)",
    )
    .await;

    // -- 09:12 the rollout: a ReplicaSet, a Pod, an image that does not exist -
    let l1 = w.grant_lease().await;
    let (k, v) = put(&o.rs_new, t0, &[&o.deploy], Some("2"));
    w.put_object(
        &k,
        ValueKind::Object,
        v,
        "deployment-controller creates the new replicaset",
    )
    .await;
    let (k, v) = put(&o.new_pod, t0, &[&o.rs_new], None);
    w.put_object(
        &k,
        ValueKind::Object,
        v,
        "replicaset-controller creates its pod",
    )
    .await;
    let r = &mut rng;
    let pod_c = o.new_pod.field("spec.containers{web}");
    let pull_error = format!(
        "Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": \
         failed to resolve reference \"{image}\": {image}: not found"
    );
    #[rustfmt::skip]
    let mut first = [
        legacy_event(r, &o.deploy, "Normal", "ScalingReplicaSet", "Scaled up replica set web-6f7d8c9b54 to 1", "deployment-controller", "", t0),
        legacy_event(r, &o.rs_new, "Normal", "SuccessfulCreate", &format!("Created pod: {BAD_POD}"), "replicaset-controller", "", t0),
        events_v1_event(r, &o.new_pod, "Normal", "Scheduled", "Binding", &format!("Successfully assigned shop/{BAD_POD} to node-b"), "default-scheduler", "default-scheduler-cp-1", t0 + 1),
        legacy_event(r, &pod_c, "Normal", "Pulling", &format!("Pulling image \"{image}\""), "kubelet", "node-b", t0 + 2),
        legacy_event(r, &pod_c, "Warning", "Failed", &pull_error, "kubelet", "node-b", t0 + 4),
        legacy_event(r, &pod_c, "Warning", "Failed", "Error: ErrImagePull", "kubelet", "node-b", t0 + 4),
        legacy_event(r, &pod_c, "Normal", "BackOff", &format!("Back-off pulling image \"{image}\""), "kubelet", "node-b", t0 + 5),
        legacy_event(r, &pod_c, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet", "node-b", t0 + 5),
    ];
    for ev in &first {
        let note = format!("rollout: {}", ev.reason.as_deref().unwrap_or(""));
        w.create_event(ev, l1, &note).await;
    }

    // -- 09:13 the kubelet keeps trying: repeats move to the next lease ------
    let l2 = w.grant_lease().await;
    for (i, at) in [(3, t0 + 65), (4, t0 + 66), (6, t0 + 67)] {
        bump_count(&mut first[i], at);
        w.update_event(&first[i], l2, "repeat, count 2, lease L2")
            .await;
    }

    // -- 09:17 bob undoes the rollout -----------------------------------------
    let l3 = w.grant_lease().await;
    let (k, v) = put(&o.deploy, t0 - 30 * day, &[], Some("3"));
    w.put_object(
        &k,
        ValueKind::Object,
        v,
        "bob: kubectl rollout undo (revision 3)",
    )
    .await;
    let r = &mut rng;
    #[rustfmt::skip]
    let undo = [
        legacy_event(r, &o.deploy, "Normal", "ScalingReplicaSet", "Scaled down replica set web-6f7d8c9b54 to 0 from 1", "deployment-controller", "", t0 + 301),
        legacy_event(r, &o.rs_new, "Normal", "SuccessfulDelete", &format!("Deleted pod: {BAD_POD}"), "replicaset-controller", "", t0 + 302),
        legacy_event(r, &pod_c, "Normal", "Killing", "Stopping container web", "kubelet", "node-b", t0 + 302),
    ];
    for ev in &undo {
        let note = format!("undo: {}", ev.reason.as_deref().unwrap_or(""));
        w.create_event(ev, l3, &note).await;
    }
    w.delete(&key_of(&o.new_pod), "the bad rollout's pod is deleted")
        .await;

    // -- An hour later: the first minute's Events expire ----------------------
    w.revoke(l1, "lease L1 expires (--event-ttl)").await;
    w.finish().await
}

/// The API server's audit log of the same minutes (`audit.k8s.io/v1`, a
/// `RequestReceived` and a `ResponseComplete` line per request, JSON
/// lines as the log backend writes them).
pub fn rollout_audit_log() -> String {
    let mut rng = Rng::new(0xa0d1_0314);
    let o = Objects::new(&mut Rng::new(0x0ba0_2024_0314));
    let stamp = |secs: i64, micros: i64| format!("{}.{micros:06}Z", time_of(INCIDENT_START + secs));
    let mut log = String::new();
    let ctl = |sa: &str| format!("system:serviceaccount:kube-system:{sa}");
    let kubectl = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819";
    #[rustfmt::skip]
    let requests: Vec<Request> = vec![
        Request::new(-10, "alice@example.com", "patch", "deployments", "apps", &o.deploy, None, 200, kubectl),
        Request::new(0, &ctl("deployment-controller"), "create", "replicasets", "apps", &o.rs_new, None, 201, "kube-controller-manager/v1.29.2"),
        Request::new(0, &ctl("replicaset-controller"), "create", "pods", "", &o.new_pod, None, 201, "kube-controller-manager/v1.29.2"),
        Request::new(1, "system:kube-scheduler", "create", "pods", "", &o.new_pod, Some("binding"), 201, "kube-scheduler/v1.29.2"),
        Request::new(130, "carol@example.com", "create", "pods", "", &o.new_pod, Some("exec"), 403, kubectl),
        Request::new(150, "carol@example.com", "get", "pods", "", &o.new_pod, Some("log"), 200, kubectl),
        Request::new(298, "bob@example.com", "get", "replicasets", "apps", &o.rs_old, None, 200, kubectl),
        Request::new(300, "bob@example.com", "patch", "deployments", "apps", &o.deploy, None, 200, kubectl),
        Request::new(302, &ctl("replicaset-controller"), "delete", "pods", "", &o.new_pod, None, 200, "kube-controller-manager/v1.29.2"),
    ];
    for q in requests {
        let id = rng.uuid();
        for (stage, micros) in [("RequestReceived", 104_512), ("ResponseComplete", 131_907)] {
            let _ = writeln!(
                log,
                "{}",
                q.line(&id, stage, &stamp(q.at, 104_512), &stamp(q.at, micros))
            );
        }
    }
    log
}

/// One audited request about one object.
struct Request {
    at: i64,
    user: String,
    verb: &'static str,
    resource: &'static str,
    group: &'static str,
    object: ObjRef,
    subresource: Option<&'static str>,
    code: u16,
    user_agent: &'static str,
}

impl Request {
    #[allow(clippy::too_many_arguments)]
    fn new(
        at: i64,
        user: &str,
        verb: &'static str,
        resource: &'static str,
        group: &'static str,
        object: &ObjRef,
        subresource: Option<&'static str>,
        code: u16,
        user_agent: &'static str,
    ) -> Request {
        Request {
            at,
            user: user.into(),
            verb,
            resource,
            group,
            object: object.clone(),
            subresource,
            code,
            user_agent,
        }
    }

    fn line(&self, id: &str, stage: &str, received: &str, at: &str) -> Value {
        let o = &self.object;
        let prefix = if self.group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{}/v1", self.group)
        };
        let mut uri = format!("{prefix}/namespaces/{}/{}", o.namespace, self.resource);
        if self.verb != "create" || self.subresource.is_some() {
            uri = format!("{uri}/{}", o.name);
        }
        let mut object_ref = json!({
            "resource": self.resource, "namespace": o.namespace, "name": o.name,
            "apiGroup": self.group, "apiVersion": "v1",
        });
        if let Some(s) = self.subresource {
            object_ref["subresource"] = json!(s);
            uri = format!("{uri}/{s}");
        }
        if self.verb != "create" || self.subresource.is_some() {
            object_ref["uid"] = json!(o.uid);
        }
        let groups = if self.user.starts_with("system:serviceaccount:") {
            json!([
                "system:serviceaccounts",
                "system:serviceaccounts:kube-system",
                "system:authenticated"
            ])
        } else if self.user.starts_with("system:") {
            json!(["system:authenticated"])
        } else {
            json!(["sre", "system:authenticated"])
        };
        let mut ev = json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": id, "stage": stage, "requestURI": uri, "verb": self.verb,
            "user": {"username": self.user, "groups": groups},
            "sourceIPs": ["10.0.0.5"], "userAgent": self.user_agent,
            "objectRef": object_ref,
            "requestReceivedTimestamp": received, "stageTimestamp": at,
        });
        if stage == "ResponseComplete" {
            let mut status = json!({"metadata": {}, "code": self.code});
            if self.code == 403 {
                status["status"] = json!("Failure");
                status["reason"] = json!("Forbidden");
                status["message"] = json!(format!(
                    "pods \"{}\" is forbidden: User \"{}\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"shop\"",
                    o.name, self.user
                ));
            }
            ev["responseStatus"] = status;
            let decision = if self.code == 403 { "forbid" } else { "allow" };
            ev["annotations"] = json!({"authorization.k8s.io/decision": decision, "authorization.k8s.io/reason": ""});
        }
        ev
    }
}
