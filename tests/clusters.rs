//! Two clusters in one database are not merged silently (issue 14): two
//! real etcds written the same way hold the same keys at the same
//! revisions, with other uids. The second is refused by the database of
//! the first (its kube-system namespace has another uid), nothing of it
//! loaded; each source records its cluster (`--cluster`, the kube-system
//! uid, the etcd's member ids), and an Events-only etcd, which cannot tell
//! its cluster, joins the main one's database.

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
use rusqlite::{Connection, OpenFlags};

/// 2026-11-20T09:30:00Z.
const T0: i64 = 1_795_167_000;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn ingest(db: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::cargo_bin("evforensics")
        .unwrap()
        .arg("ingest")
        .arg("--db")
        .arg(db)
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A snapshot of a new etcd holding a kube-system namespace with `uid`
/// (none: no namespace, an Events-only etcd) and one Event of a Pod with
/// `pod_uid`.
fn cluster_snapshot(path: &Path, uid: Option<&str>, pod_uid: &str) {
    let etcd = EtcdServer::start();
    rt().block_on(async {
        let client = etcd.client().await;
        let mut w = ScenarioWriter::new(&client).await;
        if let Some(uid) = uid {
            let ns = ObjRef::new("Namespace", "v1", "", "kube-system", uid);
            let value =
                stored_object_value_of("v1", "Namespace", owned_object_meta(&ns, T0, &[], &[]));
            w.put_object(
                "/registry/namespaces/kube-system",
                ValueKind::Object,
                value,
                "namespaces",
            )
            .await;
        }
        let pod = ObjRef::new("Pod", "v1", "kube-system", "coredns-1", pod_uid);
        let mut rng = Rng::new(7);
        let ev = legacy_event(
            &mut rng,
            &pod,
            "Warning",
            "Unhealthy",
            "Readiness probe failed",
            "kubelet",
            "node-a",
            T0 + 5,
        );
        w.create_event(&ev, 0, "probe").await;
    });
    etcd.snapshot(path);
}

#[test]
fn a_second_cluster_is_refused_and_each_source_says_its_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, events_only) = (
        tmp.path().join("a.db"),
        tmp.path().join("b.db"),
        tmp.path().join("events.db"),
    );
    let uid_a = "a0000000-0000-4000-8000-00000000000a";
    let uid_b = "b0000000-0000-4000-8000-00000000000b";
    cluster_snapshot(&a, Some(uid_a), "pod-of-a");
    cluster_snapshot(&b, Some(uid_b), "pod-of-b");
    cluster_snapshot(&events_only, None, "pod-of-a");

    let db = tmp.path().join("case.sqlite");
    let (code, out) = ingest(&db, &["--cluster", "prod-a", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "cluster: prod-a; kube-system namespace uid {uid_a}"
        )),
        "{out}"
    );

    // Same keys at the same revisions, another cluster: refused, whatever
    // it is called, and nothing of it becomes a row.
    for args in [vec![], vec!["--cluster", "prod-a"]] {
        let mut args = args.clone();
        args.push(b.to_str().unwrap());
        let (code, out) = ingest(&db, &args);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("another cluster than source 1")
                && out.contains(&format!("kube-system namespace has uid {uid_b}"))
                && out.contains(uid_a),
            "{out}"
        );
    }
    let (code, out) = ingest(&db, &["--cluster", "prod-b", events_only.to_str().unwrap()]);
    assert_eq!(code, 1, "a load naming another cluster is refused: {out}");
    assert!(out.contains("it is named prod-b, that one prod-a"), "{out}");

    // An Events-only etcd of the same cluster cannot tell its cluster: it
    // joins, under the database's name.
    let (code, out) = ingest(&db, &[events_only.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("cluster: prod-a; no kube-system namespace"),
        "{out}"
    );

    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn
        .prepare("SELECT cluster, kube_system_uid, etcd_members FROM sources ORDER BY id")
        .unwrap();
    let sources: Vec<(Option<String>, Option<String>, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(sources.len(), 2, "{sources:?}");
    assert_eq!(sources[0].0.as_deref(), Some("prod-a"));
    assert_eq!(sources[0].1.as_deref(), Some(uid_a));
    assert_eq!(
        sources[1],
        (Some("prod-a".into()), None, sources[1].2.clone())
    );
    for (_, _, members) in &sources {
        let members: Vec<String> = serde_json::from_str(members.as_deref().unwrap()).unwrap();
        assert_eq!(members.len(), 1, "one etcd member");
    }
    let uids: i64 = conn
        .query_row(
            "SELECT count(*) FROM events WHERE involved_uid = 'pod-of-b'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(uids, 0, "nothing of the other cluster");
    drop(stmt);
    drop(conn);

    // The other cluster in a database of its own; the store names it.
    let db_b = tmp.path().join("b.sqlite");
    let (code, out) = ingest(&db_b, &["--cluster", "prod-b", b.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let store = evforensics::store::Store::open_read_only(&db_b).unwrap();
    assert_eq!(store.cluster_names().unwrap(), ["prod-b"]);
    let store = evforensics::store::Store::open_read_only(&db).unwrap();
    assert_eq!(store.cluster_names().unwrap(), ["prod-a"]);
}
