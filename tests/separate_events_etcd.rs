//! A cluster that keeps its Events in an etcd of their own
//! (`--etcd-servers-overrides=/events#…`), against two real etcd servers:
//! the main member holds a Deployment, its ReplicaSet and Pod; the events
//! member holds the Pod's Events. Each ingest summary (and `info`) says
//! which half it holds and where the rest is; loaded into one database,
//! `timeline --object deployment/shop/web` follows the owner chain from the
//! main member to the Events of the other.

mod common;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use common::etcd::server::EtcdServer;
use common::scenario::events::legacy_event;
use common::scenario::ledger::ValueKind;
use common::scenario::objects::{owned_object_meta, stored_object_value_of, ObjRef};
use common::scenario::rng::Rng;
use common::scenario::writer::ScenarioWriter;
use serde_json::Value;

/// 2026-11-20T09:30:00Z.
const T0: i64 = 1_795_167_000;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs evforensics, which must succeed; its standard output.
fn evforensics(args: &[&str]) -> String {
    let out = Command::cargo_bin("evforensics")
        .unwrap()
        .timeout(Duration::from_secs(120))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn events_in_their_own_etcd_are_found_and_joined_to_their_owners() {
    let tmp = tempfile::tempdir().unwrap();
    let main_snap = tmp.path().join("main.db");
    let events_snap = tmp.path().join("events.db");
    let db = tmp.path().join("case.sqlite");
    let deploy = ObjRef::new(
        "Deployment",
        "apps/v1",
        "shop",
        "web",
        "e0000000-0000-4000-8000-000000000001",
    );
    let rs = ObjRef::new(
        "ReplicaSet",
        "apps/v1",
        "shop",
        "web-7f9c8d5b4",
        "e0000000-0000-4000-8000-000000000002",
    );
    let pod = ObjRef::new(
        "Pod",
        "v1",
        "shop",
        "web-7f9c8d5b4-x2x9q",
        "e0000000-0000-4000-8000-000000000003",
    );
    let rt = rt();

    let main = EtcdServer::start();
    rt.block_on(async {
        let client = main.client().await;
        let mut w = ScenarioWriter::new(&client).await;
        for (r, resource, owners) in [
            (&deploy, "deployments", vec![]),
            (&rs, "replicasets", vec![&deploy]),
            (&pod, "pods", vec![&rs]),
        ] {
            let m = owned_object_meta(r, T0 - 60, &[("app", "web")], &owners);
            let key = format!("/registry/{resource}/shop/{}", r.name);
            let value = stored_object_value_of(&r.api_version, &r.kind, m);
            w.put_object(&key, ValueKind::Object, value, resource).await;
        }
    });
    main.snapshot(&main_snap);
    drop(main);

    let events = EtcdServer::start();
    rt.block_on(async {
        let client = events.client().await;
        let mut w = ScenarioWriter::new(&client).await;
        let mut rng = Rng::new(0x5e9a_4a7e);
        let lease = w.grant_lease().await;
        let c = pod.field("spec.containers{web}");
        for (reason, message, at) in [
            ("Pulling", "Pulling image \"shop/web:2.5.0\"", T0),
            ("Failed", "Error: ErrImagePull", T0 + 2),
        ] {
            let ev = legacy_event(
                &mut rng, &c, "Warning", reason, message, "kubelet", "node-b", at,
            );
            w.create_event(&ev, lease, reason).await;
        }
    });
    events.snapshot(&events_snap);
    drop(events);

    let main_info = evforensics(&["info", path(&main_snap)]);
    assert!(
        main_info.contains("NOTE: no Events under /registry/events/")
            && main_info.contains("--etcd-servers-overrides=/events#"),
        "{main_info}"
    );
    let loaded_main = evforensics(&["ingest", "--db", path(&db), path(&main_snap)]);
    assert!(
        loaded_main.contains("NOTE: no Events under /registry/events/"),
        "{loaded_main}"
    );
    let loaded_events = evforensics(&["ingest", "--db", path(&db), path(&events_snap)]);
    assert!(
        loaded_events
            .contains("NOTE: Events under /registry/events/, but no other Kubernetes objects"),
        "{loaded_events}"
    );

    // The Events are live in their own etcd, whatever the other's head
    // revision: liveness follows the newest source that holds Events.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let fates: Vec<(i64, String)> = conn
        .prepare("SELECT e.live, f.fate FROM events e JOIN event_fates f ON f.event_id = e.id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(fates, [(1, "live".to_string()), (1, "live".to_string())]);
    drop(conn);

    let jsonl = evforensics(&[
        "timeline",
        "--db",
        path(&db),
        "--object",
        "deployment/shop/web",
        "--format",
        "jsonl",
    ]);
    let story: Vec<(String, String)> = jsonl
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|r| {
            (
                r["object"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let pod_line = format!("Pod/shop/{}", pod.name);
    assert_eq!(
        story,
        vec![
            (pod_line.clone(), "Pulling".to_string()),
            (pod_line, "Failed".to_string()),
        ],
        "{jsonl}"
    );
}
