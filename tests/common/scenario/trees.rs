//! Owner trees beside a bulk load, for the scale questions
//! (`scripts/scale-questions.sh`): Deployments with two ReplicaSets of two
//! Pods each, stored as the apiserver stores them (owner references by
//! uid), their Events, and an audit log of requests about them and about
//! the bulk's Pods, so that every timeline filter has something to find.

use std::fmt::Write as _;

use etcd_client::Client;
use serde_json::json;

use super::events::{bump_count, legacy_event};
use super::ledger::ValueKind;
use super::objects::{owned_object_meta, stored_object_value_of, ObjRef};
use super::rng::Rng;
use super::standard::INCIDENT_START;
use super::writer::ScenarioWriter;

/// What [`write_trees`] wrote: the first tree's names, for the questions.
pub struct Trees {
    pub deployments: usize,
    pub objects: usize,
    pub events: usize,
    /// `deployment/NS/NAME` of tree 0.
    pub deployment: String,
    /// `pod/NS/NAME` of tree 0's first Pod, and its uid.
    pub pod: String,
    pub pod_uid: String,
    /// The first Pod of each tree (what its audited requests name).
    pub first_pods: Vec<String>,
}

fn namespace(i: usize) -> String {
    // The bulk writer's namespaces: a namespace question sees both.
    format!("team-{:02}-prod", i % 40)
}

/// Writes `n` trees into etcd (one lease for their Events), spread over
/// the first `span` seconds of the bulk's incident.
pub async fn write_trees(client: &Client, n: usize, span: i64) -> Trees {
    let mut w = ScenarioWriter::new(client).await;
    let mut rng = Rng::new(0x7ee5_5eed);
    let lease = w.grant_lease().await;
    let mut trees = Trees {
        deployments: n,
        objects: 0,
        events: 0,
        deployment: String::new(),
        pod: String::new(),
        pod_uid: String::new(),
        first_pods: Vec::new(),
    };
    for i in 0..n {
        let ns = namespace(i);
        let at = INCIDENT_START + (i as i64 * span) / n.max(1) as i64;
        let app = format!("app-{i:05}");
        let deploy = ObjRef::new("Deployment", "apps/v1", &ns, &app, &rng.uuid());
        let put = |r: &ObjRef, owners: Vec<&ObjRef>| {
            let res = match r.kind.as_str() {
                "Deployment" => "deployments",
                "ReplicaSet" => "replicasets",
                _ => "pods",
            };
            let m = owned_object_meta(r, at - 60, &[("app", &app)], &owners);
            (
                format!("/registry/{res}/{}/{}", r.namespace, r.name),
                stored_object_value_of(&r.api_version, &r.kind, m),
            )
        };
        let (k, v) = put(&deploy, vec![]);
        w.put_object(&k, ValueKind::Object, v, "deployment").await;
        trees.objects += 1;
        for r in 0..2 {
            let rs_name = format!("{app}-{}", rng.suffix(10));
            let rs = ObjRef::new("ReplicaSet", "apps/v1", &ns, &rs_name, &rng.uuid());
            let (k, v) = put(&rs, vec![&deploy]);
            w.put_object(&k, ValueKind::Object, v, "replicaset").await;
            let scaled = legacy_event(
                &mut rng,
                &deploy,
                "Normal",
                "ScalingReplicaSet",
                &format!("Scaled up replica set {rs_name} to 2"),
                "deployment-controller",
                "",
                at + r,
            );
            w.create_event(&scaled, lease, "scaled").await;
            trees.objects += 1;
            trees.events += 1;
            for _ in 0..2 {
                let pod_name = format!("{rs_name}-{}", rng.suffix(5));
                let pod = ObjRef::new("Pod", "v1", &ns, &pod_name, &rng.uuid());
                let (k, v) = put(&pod, vec![&rs]);
                w.put_object(&k, ValueKind::Object, v, "pod").await;
                trees.objects += 1;
                if trees.first_pods.len() == i {
                    trees.first_pods.push(pod_name.clone());
                }
                if trees.pod.is_empty() {
                    trees.pod = format!("pod/{ns}/{pod_name}");
                    trees.pod_uid = pod.uid.clone();
                }
                let c = pod.field(&format!("spec.containers{{{app}}}"));
                let pulled = legacy_event(
                    &mut rng,
                    &c,
                    "Normal",
                    "Pulled",
                    "Container image already present on machine",
                    "kubelet",
                    "node-a",
                    at + 2,
                );
                w.create_event(&pulled, lease, "pulled").await;
                let mut backoff = legacy_event(
                    &mut rng,
                    &c,
                    "Warning",
                    "BackOff",
                    "Back-off restarting failed container",
                    "kubelet",
                    "node-a",
                    at + 3,
                );
                w.create_event(&backoff, lease, "backoff").await;
                bump_count(&mut backoff, at + 30);
                w.update_event(&backoff, lease, "backoff x2").await;
                trees.events += 3;
            }
        }
        if i == 0 {
            trees.deployment = format!("deployment/{ns}/{app}");
        }
    }
    trees
}

/// An audit log (two stages a request, JSON lines) of `requests` requests:
/// per tree a patch of its Deployment (alice), a refused exec into its
/// first Pod (carol, 403) and a delete of it (bob); the rest reads of the
/// bulk namespaces' Pods by kubelets and controllers, some impersonated.
pub fn audit_log(trees: &Trees, requests: usize, span: i64) -> String {
    let mut rng = Rng::new(0xa0d1_7106);
    let mut log = String::new();
    let stamp = |secs: i64, micros: i64| {
        let t = time_of(INCIDENT_START + secs);
        format!("{t}.{micros:06}Z")
    };
    for n in 0..requests {
        let secs = (n as i64 * span) / requests.max(1) as i64;
        let i = n % trees.deployments.max(1);
        let ns = namespace(i);
        let app = format!("app-{i:05}");
        let pod = trees.first_pods.get(i).cloned().unwrap_or_default();
        let (user, verb, resource, sub, name, code, impersonate) = match n % 10 {
            0 => (
                "alice",
                "patch",
                "deployments",
                None,
                app.clone(),
                200,
                None,
            ),
            1 => (
                "carol",
                "create",
                "pods",
                Some("exec"),
                pod.clone(),
                403,
                None,
            ),
            2 => ("bob", "delete", "pods", None, pod.clone(), 200, None),
            3 => (
                "admin",
                "get",
                "pods",
                None,
                format!("web-{}", rng.suffix(10)),
                200,
                Some("dave"),
            ),
            _ => (
                "system:node:node-a",
                "get",
                "pods",
                None,
                format!("web-{}-{}", rng.suffix(10), rng.suffix(5)),
                200,
                None,
            ),
        };
        let id = rng.uuid();
        for (stage, micros) in [("RequestReceived", 100_000), ("ResponseComplete", 250_000)] {
            let mut object_ref =
                json!({"resource": resource, "namespace": ns, "name": name, "apiVersion": "v1"});
            if let Some(s) = sub {
                object_ref["subresource"] = json!(s);
            }
            let mut ev = json!({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                "auditID": id, "stage": stage,
                "requestURI": format!("/api/v1/namespaces/{ns}/{resource}/{name}"),
                "verb": verb,
                "user": {"username": user, "groups": ["system:authenticated"]},
                "sourceIPs": ["10.0.0.5"],
                "userAgent": "kubectl/v1.31.0 (linux/amd64)",
                "objectRef": object_ref,
                "requestReceivedTimestamp": stamp(secs, 100_000),
                "stageTimestamp": stamp(secs, micros),
            });
            if let Some(u) = impersonate {
                ev["impersonatedUser"] = json!({"username": u});
            }
            if stage == "ResponseComplete" {
                ev["responseStatus"] = json!({"metadata": {}, "code": code});
            }
            let _ = writeln!(log, "{ev}");
        }
    }
    log
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix time.
pub(super) fn time_of(secs: i64) -> String {
    let t = ::time::OffsetDateTime::from_unix_timestamp(secs).expect("time");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
