//! The timeline end to end against a real etcd: a Deployment's image is
//! patched by one user, the new Pod fails to pull (Events with rising
//! counts), another user rolls back and deletes the Pod. Snapshot and audit
//! log are ingested; `timeline --object deployment/shop/web` must tell that
//! story in order, in every format, with the deleted Pod included — and
//! nothing of the neighbouring Deployment.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

use assert_cmd::Command;
use common::etcd::process::run_bounded;
use common::etcd::server::EtcdServer;
use common::scenario::events::{bump_count, event_key, legacy_event};
use common::scenario::ledger::ValueKind;
use common::scenario::objects::{owned_object_meta, stored_object_value_of, ObjRef};
use common::scenario::rng::Rng;
use common::scenario::writer::ScenarioWriter;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};

/// 2026-11-20T09:30:00Z: alice's patch.
const T0: i64 = 1_795_167_000;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn evforensics() -> Command {
    let mut c = Command::cargo_bin("evforensics").unwrap();
    c.timeout(Duration::from_secs(120));
    c
}

/// `2026-11-20T09:30:00.250000Z` for T0 + secs + micros.
fn at(secs: i64, micros: u32) -> String {
    let t = ::time::OffsetDateTime::from_unix_timestamp(T0 + secs).unwrap();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        micros
    )
}

struct AuditLine<'a> {
    id: &'a str,
    user: &'a str,
    agent: &'a str,
    verb: &'a str,
    resource: &'a str,
    subresource: Option<&'a str>,
    name: &'a str,
    code: i64,
    at: (i64, u32),
    resource_version: Option<i64>,
}

fn audit_json(a: &AuditLine<'_>, stage: &str, stage_at: String) -> String {
    let group = if a.resource == "deployments" {
        "apps"
    } else {
        ""
    };
    let mut object_ref = json!({
        "resource": a.resource, "namespace": "shop", "name": a.name,
        "apiGroup": group, "apiVersion": "v1",
    });
    if let Some(s) = a.subresource {
        object_ref["subresource"] = json!(s);
    }
    let mut ev = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
        "auditID": a.id, "stage": stage,
        "requestURI": format!("/apis/{group}/v1/namespaces/shop/{}/{}", a.resource, a.name),
        "verb": a.verb,
        "user": {"username": a.user, "groups": ["system:authenticated"]},
        "sourceIPs": [format!("10.0.0.{}", a.user.len())],
        "userAgent": a.agent,
        "objectRef": object_ref,
        "requestReceivedTimestamp": at(a.at.0, a.at.1 / 2),
        "stageTimestamp": stage_at,
    });
    if stage == "ResponseComplete" {
        ev["responseStatus"] = json!({"metadata": {}, "code": a.code});
        if let Some(rv) = a.resource_version {
            ev["responseObject"] = json!({"metadata": {"resourceVersion": rv.to_string()}});
        }
    }
    ev.to_string()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    db: PathBuf,
    deleted_pod: String,
}

/// Writes the scenario into a real etcd, snapshots it, writes the audit
/// log, and ingests both.
fn fixture() -> Fixture {
    let server = EtcdServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let rt = rt();
    let deploy = ObjRef::new(
        "Deployment",
        "apps/v1",
        "shop",
        "web",
        "d0000000-0000-4000-8000-000000000001",
    );
    let rs_old = ObjRef::new(
        "ReplicaSet",
        "apps/v1",
        "shop",
        "web-5d4c7b9f8",
        "d0000000-0000-4000-8000-000000000002",
    );
    let rs_new = ObjRef::new(
        "ReplicaSet",
        "apps/v1",
        "shop",
        "web-7f9c8d5b4",
        "d0000000-0000-4000-8000-000000000003",
    );
    let pod_old = ObjRef::new(
        "Pod",
        "v1",
        "shop",
        "web-5d4c7b9f8-q8v2m",
        "d0000000-0000-4000-8000-000000000004",
    );
    let pod_new = ObjRef::new(
        "Pod",
        "v1",
        "shop",
        "web-7f9c8d5b4-x2x9q",
        "d0000000-0000-4000-8000-000000000005",
    );
    // The neighbour: must not appear in web's timeline.
    let api = ObjRef::new(
        "Deployment",
        "apps/v1",
        "shop",
        "api",
        "d0000000-0000-4000-8000-000000000006",
    );
    let api_pod = ObjRef::new(
        "Pod",
        "v1",
        "shop",
        "api-6b8d9c7f5-k2l4p",
        "d0000000-0000-4000-8000-000000000007",
    );

    let (patch_rv, rollback_rv) = rt.block_on(async {
        let client = server.client().await;
        let mut w = ScenarioWriter::new(&client).await;
        let mut rng = Rng::new(0x0713_311e);
        let key = |r: &ObjRef| {
            let res = match r.kind.as_str() {
                "Deployment" => "deployments",
                "ReplicaSet" => "replicasets",
                _ => "pods",
            };
            format!("/registry/{res}/{}/{}", r.namespace, r.name)
        };
        let put = |r: &ObjRef, created: i64, owners: Vec<&ObjRef>| {
            let m = owned_object_meta(r, created, &[("app", "web")], &owners);
            (key(r), stored_object_value_of(&r.api_version, &r.kind, m))
        };
        for (r, owners) in [
            (&deploy, vec![]),
            (&rs_old, vec![&deploy]),
            (&pod_old, vec![&rs_old]),
            (&api, vec![]),
            (&api_pod, vec![]),
        ] {
            let (k, v) = put(r, T0 - 3600, owners);
            w.put_object(&k, ValueKind::Object, v, "initial").await;
        }
        let lease = w.grant_lease().await;

        // alice patches the image.
        let (k, v) = put(&deploy, T0 - 3600, vec![]);
        let patch = w
            .put_object(&k, ValueKind::Object, v, "alice's patch")
            .await;
        let (k, v) = put(&rs_new, T0 + 1, vec![&deploy]);
        w.put_object(&k, ValueKind::Object, v, "new rs").await;
        let (k, v) = put(&pod_new, T0 + 1, vec![&rs_new]);
        w.put_object(&k, ValueKind::Object, v, "new pod").await;

        let scaled = legacy_event(
            &mut rng,
            &deploy,
            "Normal",
            "ScalingReplicaSet",
            "Scaled up replica set web-7f9c8d5b4 to 1",
            "deployment-controller",
            "",
            T0 + 1,
        );
        w.create_event(&scaled, lease, "scaled").await;
        let c = pod_new.field("spec.containers{web}");
        let pulling = legacy_event(
            &mut rng,
            &c,
            "Normal",
            "Pulling",
            "Pulling image \"registry.example.com/shop/web:2.5.0\"",
            "kubelet",
            "node-b",
            T0 + 3,
        );
        w.create_event(&pulling, lease, "pulling").await;
        let mut failed = legacy_event(
            &mut rng,
            &c,
            "Warning",
            "Failed",
            "Error: ErrImagePull",
            "kubelet",
            "node-b",
            T0 + 5,
        );
        w.create_event(&failed, lease, "failed 1").await;
        let mut backoff = legacy_event(
            &mut rng,
            &c,
            "Normal",
            "BackOff",
            "Back-off pulling image \"registry.example.com/shop/web:2.5.0\"",
            "kubelet",
            "node-b",
            T0 + 6,
        );
        w.create_event(&backoff, lease, "backoff 1").await;
        bump_count(&mut failed, T0 + 20);
        w.update_event(&failed, lease, "failed 2").await;
        bump_count(&mut backoff, T0 + 30);
        w.update_event(&backoff, lease, "backoff 2").await;
        bump_count(&mut failed, T0 + 50);
        w.update_event(&failed, lease, "failed 3").await;
        // The neighbour's Event, same time window.
        let api_ev = legacy_event(
            &mut rng,
            &api_pod,
            "Warning",
            "Unhealthy",
            "Readiness probe failed",
            "kubelet",
            "node-a",
            T0 + 25,
        );
        w.create_event(&api_ev, lease, "api").await;

        // bob rolls back and deletes the failing Pod.
        let (k, v) = put(&deploy, T0 - 3600, vec![]);
        let rollback = w
            .put_object(&k, ValueKind::Object, v, "bob's rollback")
            .await;
        w.delete(&key(&pod_new), "bob deletes the pod").await;
        assert!(event_key(&failed).starts_with("/registry/events/shop/"));
        let _ledger = w.finish().await;
        (patch.revision, rollback.revision)
    });
    let snap = dir.join("snapshot.db");
    server.snapshot(&snap);

    let lines = [
        AuditLine {
            id: "a-1",
            user: "alice",
            agent: "kubectl/v1.31.0 (linux/amd64)",
            verb: "patch",
            resource: "deployments",
            subresource: None,
            name: "web",
            code: 200,
            at: (0, 250_000),
            resource_version: Some(patch_rv),
        },
        AuditLine {
            id: "c-1",
            user: "carol",
            agent: "kubectl/v1.31.0 (darwin/arm64)",
            verb: "create",
            resource: "pods",
            subresource: Some("exec"),
            name: "web-7f9c8d5b4-x2x9q",
            code: 403,
            at: (40, 0),
            resource_version: None,
        },
        AuditLine {
            id: "b-1",
            user: "bob",
            agent: "kubectl/v1.30.2 (linux/amd64) rollout",
            verb: "patch",
            resource: "deployments",
            subresource: None,
            name: "web",
            code: 200,
            at: (60, 500_000),
            resource_version: Some(rollback_rv),
        },
        AuditLine {
            id: "b-2",
            user: "bob",
            agent: "kubectl/v1.30.2 (linux/amd64)",
            verb: "delete",
            resource: "pods",
            subresource: None,
            name: "web-7f9c8d5b4-x2x9q",
            code: 200,
            at: (62, 0),
            resource_version: None,
        },
        AuditLine {
            id: "x-1",
            user: "dave",
            agent: "kubectl/v1.31.0",
            verb: "patch",
            resource: "deployments",
            subresource: None,
            name: "api",
            code: 200,
            at: (10, 0),
            resource_version: None,
        },
    ];
    let mut log = String::new();
    for a in &lines {
        log.push_str(&audit_json(a, "RequestReceived", at(a.at.0, a.at.1 / 2)));
        log.push('\n');
        log.push_str(&audit_json(a, "ResponseComplete", at(a.at.0, a.at.1)));
        log.push('\n');
    }
    let audit = dir.join("audit.log");
    std::fs::write(&audit, log).unwrap();

    let db = dir.join("case.sqlite");
    let out = evforensics()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(&snap)
        .arg(&audit)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Fixture {
        _tmp: tmp,
        dir,
        db,
        deleted_pod: pod_new.name,
    }
}

fn timeline(db: &Path, args: &[&str]) -> String {
    let out = evforensics()
        .arg("timeline")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A line, reduced to what the story is about: `(object, what)`.
fn story(rows: &[Value]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| {
            let what = if r["source"] == "event" {
                format!("{} {}", r["reason"].as_str().unwrap(), r["count"])
            } else {
                format!(
                    "{} by {}",
                    r["verb"].as_str().unwrap(),
                    r["username"].as_str().unwrap()
                )
            };
            (r["object"].as_str().unwrap().to_string(), what)
        })
        .collect()
}

fn expected_story(deleted_pod: &str) -> Vec<(String, String)> {
    let pod = format!("Pod/shop/{deleted_pod}");
    let d = "Deployment/shop/web".to_string();
    [
        (d.clone(), "patch by alice"),
        (d.clone(), "ScalingReplicaSet 1"),
        (pod.clone(), "Pulling 1"),
        (pod.clone(), "Failed 1"),
        (pod.clone(), "BackOff 1"),
        (pod.clone(), "Failed 2"),
        (pod.clone(), "BackOff 2"),
        (pod.clone(), "create exec by carol"),
        (pod.clone(), "Failed 3"),
        (d.clone(), "patch by bob"),
        (pod.clone(), "delete by bob"),
    ]
    .into_iter()
    .map(|(o, w)| (o, w.to_string()))
    .collect()
}

#[test]
fn deployment_timeline_tells_the_incident_in_every_format() {
    let f = fixture();
    let conn = Connection::open_with_flags(&f.db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();

    // objects: every revision, the deleted Pod not live, with its tombstone.
    let (live, deleted, owners): (i64, Option<i64>, String) = conn
        .query_row(
            "SELECT live, deleted_revision, owner_references FROM objects
             WHERE kind = 'Pod' AND name = ?1",
            [&f.deleted_pod],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(live, 0);
    assert!(deleted.is_some());
    let owners: Value = serde_json::from_str(&owners).unwrap();
    assert_eq!(owners[0]["kind"], "ReplicaSet");
    assert_eq!(owners[0]["name"], "web-7f9c8d5b4");
    assert_eq!(owners[0]["controller"], true);
    let deployment_revisions: i64 = conn
        .query_row(
            "SELECT count(*) FROM objects WHERE kind = 'Deployment' AND name = 'web' AND resource = 'deployments'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(deployment_revisions, 3, "created, patched, rolled back");
    let labels: String = conn
        .query_row(
            "SELECT labels FROM objects WHERE name = 'web' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(labels, r#"{"app":"web"}"#);

    // JSON lines: the story, in order.
    let jsonl = timeline(
        &f.db,
        &["--object", "deployment/shop/web", "--format", "jsonl"],
    );
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(story(&rows), expected_story(&f.deleted_pod), "{jsonl}");
    let times: Vec<&str> = rows.iter().map(|r| r["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(rows[0]["time"], at(0, 250_000));
    assert_eq!(rows[0]["user_agent"], "kubectl/v1.31.0 (linux/amd64)");
    assert_eq!(rows[0]["response_code"], 200);
    assert_eq!(rows[0]["source_ip"], "10.0.0.5");
    assert_eq!(rows[0]["write"], 1);
    let denied = &rows[7];
    assert_eq!(
        (denied["denied"].clone(), denied["response_code"].clone()),
        (json!(1), json!(403))
    );
    assert!(rows
        .iter()
        .filter(|r| r["source"] == "event")
        .all(|r| r["revision"].is_i64()));
    assert!(!jsonl.contains("api"), "the neighbour stays out");
    // Each line carries its record's identity: an Event's uid, a request's
    // auditID, the ones the database holds.
    let identity = |r: &Value| -> String {
        let id = if r["source"] == "event" {
            &r["event_uid"]
        } else {
            &r["audit_id"]
        };
        id.as_str().unwrap_or_default().to_string()
    };
    for r in &rows {
        let id = identity(r);
        let sql = if r["source"] == "event" {
            "SELECT count(*) FROM events WHERE uid = ?1"
        } else {
            "SELECT count(*) FROM audit_events WHERE audit_id = ?1"
        };
        let held: i64 = conn.query_row(sql, [&id], |q| q.get(0)).unwrap();
        assert!(!id.is_empty() && held > 0, "{r}");
    }
    // Plural, other case, and the same through the Pod's own timeline.
    let plural = timeline(
        &f.db,
        &["--object", "Deployments/shop/web", "--format", "jsonl"],
    );
    assert_eq!(plural, jsonl);
    // kubectl's forms (issue 15): short name, resource.group, kind.group.
    for kind in [
        "deploy",
        "deployments.apps",
        "deployment.apps",
        "deploy.v1.apps",
    ] {
        let other = timeline(
            &f.db,
            &["--object", &format!("{kind}/shop/web"), "--format", "jsonl"],
        );
        assert_eq!(other, jsonl, "{kind}");
    }
    let short_pod = timeline(
        &f.db,
        &[
            "--object",
            &format!("po/shop/{}", f.deleted_pod),
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(short_pod.lines().count(), 8);
    let short_rs = timeline(
        &f.db,
        &["--object", "rs/shop/web-7f9c8d5b4", "--format", "jsonl"],
    );
    assert_eq!(short_rs.lines().count(), 8, "the ReplicaSet's Pod");
    let pod_only = timeline(
        &f.db,
        &[
            "--object",
            &format!("pods/shop/{}", f.deleted_pod),
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(pod_only.lines().count(), 8);

    // The SQL view holds the same rows.
    let view: i64 = conn
        .query_row("SELECT count(*) FROM timeline", [], |r| r.get(0))
        .unwrap();
    let events: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        view,
        events + 5,
        "every Event revision and one line per request"
    );

    // event_causes: the failing pull follows alice's patch of the owner.
    let causes: Vec<(String, String, i64)> = conn
        .prepare(
            "SELECT c.username, c.verb, c.owner_depth FROM event_causes c
             WHERE c.event_reason = 'Failed' ORDER BY c.event_time, c.audit_time",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        causes.contains(&("alice".into(), "patch".into(), 2)),
        "{causes:?}"
    );
    assert!(
        !causes.iter().any(|c| c.0 == "bob"),
        "bob acted after the failures"
    );

    // Filters.
    let warnings = timeline(
        &f.db,
        &[
            "--object",
            "deployment/shop/web",
            "--type",
            "Warning",
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(warnings.lines().count(), 3);
    let bob = timeline(&f.db, &["--user", "bob", "--format", "jsonl"]);
    assert_eq!(bob.lines().count(), 2);
    let late = timeline(
        &f.db,
        &[
            "--object",
            "deployment/shop/web",
            "--since",
            "25s",
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(late.lines().count(), 4, "{late}"); // from 09:30:37: exec, Failed 3, rollback, delete
    let window = timeline(
        &f.db,
        &[
            "--namespace",
            "shop",
            "--since",
            &at(20, 0),
            "--until",
            &at(30, 0),
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(window.lines().count(), 3, "{window}"); // Failed 2, api Unhealthy, BackOff 2
    let by_reason = timeline(&f.db, &["--reason", "BackOff", "--format", "jsonl"]);
    assert_eq!(by_reason.lines().count(), 2);

    // CSV: parsed back, same story.
    let csv_text = timeline(
        &f.db,
        &["--object", "deployment/shop/web", "--format", "csv"],
    );
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let csv_rows: Vec<Value> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let mut m = serde_json::Map::new();
            for (h, v) in headers.iter().zip(r.iter()) {
                let v = match (h, v) {
                    ("count", c) if !c.is_empty() => json!(c.parse::<i64>().unwrap()),
                    _ => json!(v),
                };
                m.insert(h.to_string(), v);
            }
            Value::Object(m)
        })
        .collect();
    assert_eq!(story(&csv_rows), expected_story(&f.deleted_pod));
    let ids: Vec<String> = rows.iter().map(identity).collect();
    assert_eq!(csv_rows.iter().map(identity).collect::<Vec<_>>(), ids);

    // Text: aligned, one line each, the object named.
    let text = timeline(&f.db, &["--object", "deployment/shop/web"]);
    let text_lines: Vec<&str> = text.lines().collect();
    assert_eq!(text_lines.len(), 1 + rows.len());
    assert!(text_lines[0].starts_with("TIME"));
    let col = text_lines[0].find("OBJECT").unwrap();
    for (l, r) in text_lines[1..].iter().zip(&rows) {
        assert_eq!(
            &l[col..col + r["object"].as_str().unwrap().len()],
            r["object"].as_str().unwrap()
        );
    }
    assert!(text_lines[1].contains("patch") && text_lines[1].contains("user=alice"));
    assert!(text_lines[8].contains("DENIED (403)"), "{}", text_lines[8]);
    for (l, r) in text_lines[1..].iter().zip(&rows) {
        let tag = if r["source"] == "event" {
            "uid="
        } else {
            "auditID="
        };
        assert!(l.ends_with(&format!("{tag}{}", identity(r))), "{l}");
    }

    // Timesketch: the required fields, microseconds matching the datetime.
    let ts = timeline(
        &f.db,
        &["--object", "deployment/shop/web", "--format", "timesketch"],
    );
    let ts_rows: Vec<Value> = ts
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ts_rows.len(), rows.len());
    assert_eq!(ts_rows[0]["datetime"], at(0, 250_000));
    assert_eq!(ts_rows[0]["timestamp"], json!(T0 * 1_000_000 + 250_000));
    for r in &ts_rows {
        assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(r["timestamp_desc"].is_string());
    }
    assert!(ts_rows[0]["message"].as_str().unwrap().contains("alice"));
    assert_eq!(ts_rows.iter().map(identity).collect::<Vec<_>>(), ids);

    // HTML: rendered by headless Chromium.
    let html = timeline(
        &f.db,
        &["--object", "deployment/shop/web", "--format", "html"],
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
    for id in &ids {
        assert!(
            html.contains(&format!("\"{id}\"")),
            "{id} in the page's line data"
        );
    }
    let page = f.dir.join("web.html");
    std::fs::write(&page, &html).unwrap();
    check_in_chromium(&f.dir, &page, rows.len(), 3);
}

/// Loads the page in headless Chromium: the script drew one mark per
/// line, Warnings with their own class, lanes nested by ownership with the
/// objects' lifetimes, and a screenshot is taken.
fn check_in_chromium(dir: &Path, page: &Path, marks: usize, warnings: usize) {
    let dom = chromium_dom(dir, page);
    assert!(
        dom.contains(&format!("data-rendered=\"{marks}\"")),
        "the script ran"
    );
    assert!(dom.contains("data-mode=\"marks\""));
    assert_eq!(
        dom.matches("class=\"mark ").count(),
        marks,
        "one mark per line"
    );
    assert_eq!(dom.matches("class=\"mark event warning").count(), warnings);
    assert_eq!(dom.matches("class=\"mark audit denied").count(), 1);
    assert!(dom.contains("class=\"lane\""));
    // The ReplicaSet and its Pods are drawn under the Deployment, each
    // object with its lifetime; the deleted Pod's bar ends.
    assert!(dom.contains("└ ReplicaSet/shop/"), "nested lanes");
    assert!(dom.contains("└ Pod/shop/"), "nested lanes");
    assert!(dom.contains("class=\"life\""), "lifetime bars");
    assert!(
        dom.contains("class=\"life deleted\""),
        "a deleted object's bar"
    );

    let shot = chromium_screenshot(dir, page);
    if let Ok(keep) = std::env::var("EVFORENSICS_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// Headless Chromium on `page` (a local file: nothing is fetched).
fn chromium(dir: &Path, page: &Path, extra: &[String]) -> std::process::Output {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            StdCommand::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("headless Chromium is needed for the HTML test: apt-get install chromium");
    let profile = dir.join("chromium-profile");
    let mut c = StdCommand::new(chromium);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--enable-logging=stderr",
        "--v=0",
        // The page's script runs to its end before the DOM is dumped.
        "--virtual-time-budget=20000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()));
    let out = run_bounded(c, Duration::from_secs(180));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The DOM after the page's script ran; no script error (the page
/// counts uncaught errors in `data-errors`, Chromium logs console errors).
fn chromium_dom(dir: &Path, page: &Path) -> String {
    let out = chromium(dir, page, &["--dump-dom".into()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !dom.contains("data-errors="),
        "a script error: {}",
        dom.split_once("<body")
            .map_or("", |(_, b)| &b[..b.len().min(300)])
    );
    dom
}

/// A screenshot of the page, checked to be a PNG with something drawn.
fn chromium_screenshot(dir: &Path, page: &Path) -> PathBuf {
    let shot = dir.join("shot.png");
    chromium(
        dir,
        page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,900".into(),
            "--hide-scrollbars".into(),
        ],
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a screenshot"
    );
    shot
}

/// A version-1 database is refused by `timeline`: exit status 1, and stderr
/// says the timeline needs version 3.
#[test]
fn timeline_needs_schema_6() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("old.sqlite");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(evforensics::store::schema::SCHEMA_V1)
        .unwrap();
    conn.execute_batch("PRAGMA user_version = 1").unwrap();
    drop(conn);
    let out = evforensics()
        .args(["timeline", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs version 6"));
}

/// A small database written directly: a Deployment `web` in `shop` with
/// one Event, and a Pod `nope` elsewhere only an Event names.
fn small_db(dir: &Path) -> PathBuf {
    let db = dir.join("small.sqlite");
    let store = evforensics::store::Store::open(&dir.join("building.sqlite")).unwrap();
    store
        .connection()
        .execute_batch(
            "INSERT INTO sources (id, kind, location, sha256, size_bytes, trailer, prefix, ingested_at, tool_version)
               VALUES (1, 'etcd-db', '/e/db', 'aa', 1, 'absent', '/registry/', 'now', 'test');
             INSERT INTO objects (source_id, key, resource, mod_revision, sub_revision, recovered_from,
                 encoding, kind, namespace, name, uid, owner_references) VALUES
               (1, 'd/web', 'deployments', 1, 0, 'tree', 'protobuf', 'Deployment', 'shop', 'web', 'u-web', NULL),
               (1, 'd/idle', 'deployments', 2, 0, 'tree', 'protobuf', 'Deployment', 'shop', 'idle', 'u-idle', NULL);
             INSERT INTO event_revisions (source_id, key, mod_revision, sub_revision, recovered_from, encoding,
                 reason, type, count, occurred_at, involved_kind, involved_namespace, involved_name, involved_uid) VALUES
               (1, 'e/1', 10, 0, 'tree', 'protobuf', 'ScalingReplicaSet', 'Normal', 1,
                 '2026-11-20T09:30:01.000000Z', 'Deployment', 'shop', 'web', 'u-web'),
               (1, 'e/2', 11, 0, 'tree', 'protobuf', 'BackOff', 'Warning', 1,
                 '2026-11-20T09:30:02.000000Z', 'Pod', 'other', 'nope', NULL);",
        )
        .unwrap();
    // A new store is published by a load; this one is copied out instead.
    store
        .connection()
        .execute("VACUUM INTO ?1", [db.to_str().unwrap()])
        .unwrap();
    drop(store);
    db
}

/// `--object` naming nothing in the database is an error that says so and
/// lists the objects of that name (issue 15); an object that is there but
/// has no line keeps "(no lines)" and exit code 0.
#[test]
fn an_object_the_database_does_not_hold_is_named_as_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = small_db(tmp.path());
    let run = |object: &str| {
        evforensics()
            .args(["timeline", "--db"])
            .arg(&db)
            .args(["--object", object])
            .output()
            .unwrap()
    };

    let out = run("deployment/shop/nope");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "no object deployment/shop/nope in this database; objects named nope: Pod/other/nope"
        ),
        "{stderr}"
    );

    let out = run("deploy/shop/missing");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "no object deploy/shop/missing in this database; objects named missing: none"
        ),
        "{stderr}"
    );

    // A near name is offered.
    let out = run("deployments.apps/shop/idlee");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("objects named idlee: none; similar names: Deployment/shop/idle"),
        "{stderr}"
    );

    // Known, but no line: not an error.
    let out = run("deployments.apps/shop/idle");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("\n(no lines)\n"));
    // Known, lines filtered out by time: not an error either.
    let out = evforensics()
        .args(["timeline", "--db"])
        .arg(&db)
        .args([
            "--object",
            "deploy/shop/web",
            "--since",
            "2030-01-01T00:00:00Z",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("\n(no lines)\n"));
    // Known only through an Event.
    let out = run("po/other/nope");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("BackOff"));
}

/// A case database written straight into a store with SQL, copied out as
/// `name` (a new store is published by a load; this one is copied instead).
fn case_db(dir: &Path, name: &str, sql: &str) -> PathBuf {
    let db = dir.join(name);
    let building = dir.join(format!("building-{name}"));
    let store = evforensics::store::Store::open(&building).unwrap();
    store.connection().execute_batch(sql).unwrap();
    store
        .connection()
        .execute("VACUUM INTO ?1", [db.to_str().unwrap()])
        .unwrap();
    drop(store);
    db
}

const CASE_SOURCE: &str =
    "INSERT INTO sources (id, kind, location, sha256, size_bytes, trailer, prefix,
        ingested_at, tool_version, head_revision, compact_revision)
   VALUES (1, 'etcd-db', '/e/db', 'aa', 1, 'absent', '/registry/', 'now', 'test', 300000, 50000);";

/// Names from etcd are untrusted: an Event message and an object name
/// holding `</script>` and `<img onerror>` are shown as text, never run.
#[test]
fn html_page_shows_hostile_names_as_text() {
    let tmp = tempfile::tempdir().unwrap();
    let sql = format!(
        "{CASE_SOURCE}
         INSERT INTO event_revisions (source_id, key, mod_revision, sub_revision, recovered_from, encoding,
             reason, type, count, occurred_at, involved_kind, involved_namespace, involved_name, message, live) VALUES
           (1, 'e/1', 60000, 0, 'tree', 'protobuf', 'Evil', 'Warning', 1, '2026-11-20T09:30:01.000000Z',
             'Pod', 'shop', 'x<img src=x onerror=\"document.body.setAttribute(''data-pwned'',1)\">',
             '</script><img src=x onerror=\"document.body.setAttribute(''data-pwned'',1)\"><!--', 1),
           (1, 'e/2', 60001, 0, 'tree', 'protobuf', 'Fine', 'Normal', 1, '2026-11-20T09:30:02.000000Z',
             'Pod', 'shop', 'ok', '<script>document.body.setAttribute(''data-pwned'',1)</script>', 1);"
    );
    let db = case_db(tmp.path(), "hostile.sqlite", &sql);
    let html = timeline(&db, &["--format", "html"]);
    assert!(!html.contains("<img"), "no markup from the data");
    let page = tmp.path().join("hostile.html");
    std::fs::write(&page, &html).unwrap();
    let dom = chromium_dom(tmp.path(), &page);
    assert!(dom.contains("data-rendered=\"2\""), "the script ran");
    assert!(!dom.contains("data-pwned="), "the data's script ran");
    assert!(!dom.contains("<img"), "an element from the data");
    assert!(dom.contains("&lt;/script&gt;&lt;img"), "shown as text");
}

/// An empty result says so instead of drawing an empty axis.
#[test]
fn html_page_of_nothing_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let db = small_db(tmp.path());
    let html = timeline(
        &db,
        &["--since", "2030-01-01T00:00:00Z", "--format", "html"],
    );
    let page = tmp.path().join("empty.html");
    std::fs::write(&page, &html).unwrap();
    let dom = chromium_dom(tmp.path(), &page);
    assert!(dom.contains("data-rendered=\"0\""), "the script ran");
    assert!(dom.contains("No lines: nothing in this database matches"));
    assert!(dom.contains("id=\"main\" style=\"display: none;\""));
}

/// A 200,000-line case (Events of 4,000 Pods owned by ReplicaSets and
/// Deployments, every tenth a Warning, audit entries with denials, a
/// compacted source): the page stays under 25 MB and Chromium draws it —
/// counts per time bucket, nested lanes, the horizon, the hint to narrow.
#[test]
fn html_page_of_a_large_case_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let sql = format!(
        "{CASE_SOURCE}
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 39)
         INSERT INTO objects (source_id, key, resource, mod_revision, sub_revision, recovered_from, encoding,
             kind, namespace, name, uid, creation_timestamp, live)
           SELECT 1, 'd/' || i, 'deployments', 1 + i, 0, 'tree', 'protobuf', 'Deployment', 'ns' || (i % 20),
             'dep-' || i, 'u-dep-' || i, '2026-11-20T09:00:00Z', 1 FROM n;
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 399)
         INSERT INTO objects (source_id, key, resource, mod_revision, sub_revision, recovered_from, encoding,
             kind, namespace, name, uid, creation_timestamp, live, owner_references)
           SELECT 1, 'rs/' || i, 'replicasets', 100 + i, 0, 'tree', 'protobuf', 'ReplicaSet', 'ns' || (i % 20),
             'rs-' || i, 'u-rs-' || i, '2026-11-20T09:00:00Z', 1,
             json_array(json_object('kind', 'Deployment', 'name', 'dep-' || (i % 40), 'uid', 'u-dep-' || (i % 40),
               'controller', json('true'))) FROM n;
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 3999)
         INSERT INTO objects (source_id, key, resource, mod_revision, sub_revision, recovered_from, encoding,
             kind, namespace, name, uid, creation_timestamp, live, deleted_revision, owner_references)
           SELECT 1, 'pod/' || i, 'pods', 1000 + i, 0, 'tree', 'protobuf', 'Pod', 'ns' || (i % 20),
             'pod-' || i, 'u-pod-' || i, '2026-11-20T09:10:00Z', i % 7 != 0,
             CASE WHEN i % 7 = 0 THEN 150000 + i END,
             json_array(json_object('kind', 'ReplicaSet', 'name', 'rs-' || (i % 400), 'uid', 'u-rs-' || (i % 400),
               'controller', json('true'))) FROM n;
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 197999)
         INSERT INTO event_revisions (source_id, key, mod_revision, sub_revision, recovered_from, encoding,
             reason, type, count, occurred_at, involved_kind, involved_namespace, involved_name, message, live)
           SELECT 1, '/registry/events/ns' || (i % 20) || '/pod-' || (i % 4000) || '.17bc' || (i % 3),
             10000 + i, 0, 'tree', 'protobuf',
             CASE WHEN i % 10 = 0 THEN 'BackOff' ELSE 'Pulled' END,
             CASE WHEN i % 10 = 0 THEN 'Warning' ELSE 'Normal' END, 1 + i / 12000,
             strftime('%Y-%m-%dT%H:%M:%S', 1795167000 + i / 20, 'unixepoch') || '.000000Z',
             'Pod', 'ns' || (i % 20), 'pod-' || (i % 4000),
             CASE WHEN i % 10 = 0 THEN 'Back-off restarting failed container app in pod pod-' || (i % 4000)
                  ELSE 'Container image \"registry.example/app:' || (i % 4000) || '\" already present on machine' END,
             i >= 186000 AND i % 4000 != 7 FROM n;
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1999)
         INSERT INTO audit_events (source_id, file, line, audit_id, stage, verb, object_resource,
             object_namespace, object_name, username, response_code, stage_timestamp, raw)
           SELECT 1, 'audit.log', i + 1, 'a-' || i, 'ResponseComplete', 'delete', 'pods', 'ns' || (i % 20),
             'pod-' || (i % 4000), 'user-' || (i % 9), CASE WHEN i % 50 = 0 THEN 403 ELSE 200 END,
             strftime('%Y-%m-%dT%H:%M:%S', 1795167000 + i * 5, 'unixepoch') || '.500000Z', '{{}}' FROM n;"
    );
    let db = case_db(tmp.path(), "large.sqlite", &sql);
    let html = timeline(&db, &["--format", "html"]);
    let size = html.len();
    eprintln!("the 200,000-line page: {size} bytes");
    assert!(size <= 25_000_000, "{size} bytes");
    let page = tmp.path().join("large.html");
    std::fs::write(&page, &html).unwrap();
    drop(html);
    let dom = chromium_dom(tmp.path(), &page);
    assert!(dom.contains("data-rendered=\"200000\""), "the script ran");
    assert!(dom.contains("data-mode=\"buckets\""));
    let marks: usize = dom
        .split_once("data-marks=\"")
        .and_then(|(_, r)| r.split_once('"'))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap();
    assert!(marks > 20, "{marks} buckets drawn");
    assert!(dom.contains("class=\"bucket-warning\""));
    assert!(dom.contains("class=\"bucket-denied\""), "denials visible");
    assert!(dom.contains("class=\"horizon\""), "the compaction horizon");
    assert!(dom.contains("class=\"bucket-gone\""), "gone Events");
    assert!(dom.contains("3 Events gone"));
    assert!(dom.contains("└ ReplicaSet/ns0/rs-0"), "nested lanes");
    assert!(dom.contains("--since"), "how to narrow it");
    // The table shows a page, not 200,000 rows.
    assert!(dom.matches("<tr ").count() <= 201);
    chromium_screenshot(tmp.path(), &page);
}

/// kubectl's view of repeats (issue 14): `--format describe` is one row per
/// Event key with kubectl's `AGE` (`2m5s (x2 over 2m23s)`) and FROM, the
/// same as the `event_describe` view; the text timeline says a repeat's
/// span (`x2 over 18s`).
#[test]
fn describe_is_kubectls_events_table_and_the_view_agrees() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("sample.sqlite");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample/snapshot.db");
    evforensics()
        .args(["ingest", "--db"])
        .arg(&db)
        .arg(&sample)
        .assert()
        .code(0);
    let out = timeline(&db, &["--format", "describe"]);
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("Events as of "), "{out}");
    let header = lines.next().unwrap();
    let (age, from) = (header.find("AGE").unwrap(), header.find("FROM").unwrap());
    let ages: Vec<String> = lines
        .map(|l| {
            let cell: String = l.chars().skip(age).take(from - age).collect();
            cell.trim().to_string()
        })
        .collect();
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn
        .prepare("SELECT interval FROM event_describe ORDER BY last_seen, mod_revision, key")
        .unwrap();
    let view: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ages, view);
    assert!(ages.contains(&"2m5s (x2 over 2m23s)".to_string()), "{out}");
    assert!(out.contains("kubelet, node-b"), "{out}");
    let text = timeline(&db, &["--reason", "Pulling"]);
    assert!(text.contains("Normal Pulling x2 over 18s"), "{text}");
}
