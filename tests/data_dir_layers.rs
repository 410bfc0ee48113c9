//! The other layers of a data directory, against a real etcd 3.4: an older
//! full copy of the db (`member/snap/*.snap.db`) gives the revisions it
//! alone holds (`recovered_from = 'snap-db'`), and every file read is
//! listed with its hash, and `info` shows how far back the copy reaches; a
//! WAL given on its own (the `member/wal`
//! directory, or one segment) replays every write from the store's start.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use common::etcd::server::EtcdServer;
use common::scenario::events::legacy_event;
use common::scenario::ledger::ExpectedPut;
use common::scenario::objects::ObjRef;
use common::scenario::rng::Rng;
use common::scenario::writer::ScenarioWriter;
use evforensics::source::input::sha256_file;
use rusqlite::Connection;

/// 2026-11-20T09:30:00Z.
const T0: i64 = 1_795_167_000;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `evforensics ingest --db DB INPUT`, which must succeed; its output.
fn ingest(db: &Path, input: &Path) -> String {
    let out = Command::cargo_bin("evforensics")
        .unwrap()
        .timeout(Duration::from_secs(120))
        .arg("ingest")
        .arg("--db")
        .arg(db)
        .arg(input)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// (key, revision, recovered_from, raw) of every Event row, by revision.
fn event_rows(db: &Path) -> Vec<(String, i64, String, Vec<u8>)> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT key, mod_revision, recovered_from, raw FROM events ORDER BY mod_revision")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// What the cluster wrote: one Event created and counted up three times,
/// an older snapshot taken after its first count, a compaction at the end
/// that leaves only the last revision in the tree, and a defragmentation.
struct Written {
    puts: Vec<ExpectedPut>,
    older_copy: PathBuf,
    _tmp: tempfile::TempDir,
    stopped: common::etcd::server::StoppedEtcd,
}

fn write_history() -> Written {
    let tmp = tempfile::tempdir().unwrap();
    let older_copy = tmp.path().join("older.db");
    let etcd = EtcdServer::start();
    let pod = ObjRef::new(
        "Pod",
        "v1",
        "shop",
        "web-0",
        "e0000000-0000-4000-8000-000000000010",
    );
    let rt = rt();
    let puts = rt.block_on(async {
        let client = etcd.client().await;
        let mut w = ScenarioWriter::new(&client).await;
        let mut rng = Rng::new(0x1a7e_5c0e);
        let lease = w.grant_lease().await;
        let mut ev = legacy_event(
            &mut rng,
            &pod.field("spec.containers{web}"),
            "Warning",
            "BackOff",
            "Back-off restarting failed container",
            "kubelet",
            "node-a",
            T0,
        );
        let mut puts = vec![w.create_event(&ev, lease, "created").await];
        for n in 2..=4 {
            ev.count = Some(n);
            puts.push(w.update_event(&ev, lease, "counted").await);
            if n == 2 {
                etcd.snapshot(&older_copy);
            }
        }
        w.compact(puts.last().unwrap().revision).await;
        puts
    });
    // A defragmentation rewrites the db: no free page keeps what the
    // compaction removed, so only the older copy holds it.
    etcd.etcdctl(&["defrag"]);
    Written {
        puts,
        older_copy,
        _tmp: tmp,
        stopped: etcd.stop(),
    }
}

#[test]
fn an_older_copy_of_the_db_gives_what_compaction_removed() {
    let w = write_history();
    let tmp = tempfile::tempdir().unwrap();
    // The data directory without its WAL, an older copy beside its db (as
    // a follower keeps the db it received: <index>.snap.db).
    let dir = tmp.path().join("data");
    let snap = dir.join("member/snap");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::copy(w.stopped.db_path(), snap.join("db")).unwrap();
    let copy = snap.join("0000000000000005.snap.db");
    std::fs::copy(&w.older_copy, &copy).unwrap();

    let db = tmp.path().join("case.sqlite");
    let out = ingest(&db, &dir);
    assert!(
        out.contains(
            "older copies of the db (member/snap/*.snap.db): 2 Event revisions only they hold"
        ),
        "{out}"
    );
    let p = &w.puts;
    let row = |i: usize, from: &str| {
        (
            p[i].key.clone(),
            p[i].revision,
            from.to_string(),
            p[i].value.clone(),
        )
    };
    // The copy holds the create and the first count; the compaction left
    // the last count; the third was in neither.
    assert_eq!(
        event_rows(&db),
        vec![row(0, "snap-db"), row(1, "snap-db"), row(3, "tree")]
    );
    // `info` draws the copy in the horizon: how far back it reaches.
    let info = Command::cargo_bin("evforensics")
        .unwrap()
        .timeout(Duration::from_secs(120))
        .arg("info")
        .arg(&dir)
        .output()
        .unwrap();
    let info = String::from_utf8(info.stdout).unwrap();
    let line = info
        .lines()
        .find(|l| l.trim_start().starts_with("snap-db"))
        .unwrap_or_else(|| panic!("no snap-db line in\n{info}"));
    let reach = format!("revisions {}..{}", p[0].revision, p[1].revision);
    assert!(
        line.contains(" 2 Event revisions")
            && line.contains(&reach)
            && line.contains("0000000000000005.snap.db"),
        "{line}"
    );
    let conn = Connection::open(&db).unwrap();
    let mut files: Vec<(String, String, String)> = conn
        .prepare("SELECT path, role, sha256 FROM source_files ORDER BY role")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    files.sort();
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    for (path, role, sha) in &files {
        let expected = if role == "db" {
            snap.join("db")
        } else {
            copy.clone()
        };
        assert_eq!(abs(Path::new(path)), abs(&expected));
        assert_eq!(*sha, sha256_file(&expected).unwrap(), "{role}");
    }
}

#[test]
fn a_wal_on_its_own_replays_every_write() {
    let w = write_history();
    let wal = w.stopped.data_dir().join("member/wal");
    let tmp = tempfile::tempdir().unwrap();
    let segment = std::fs::read_dir(&wal)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "wal"))
        .unwrap();
    let expected: Vec<_> = w
        .puts
        .iter()
        .map(|p| {
            (
                p.key.clone(),
                p.revision,
                "wal".to_string(),
                p.value.clone(),
            )
        })
        .collect();
    for (name, input) in [("dir", &wal), ("segment", &segment)] {
        let db = tmp.path().join(format!("{name}.sqlite"));
        let out = ingest(&db, input);
        assert!(out.contains("(etcd-wal, sha256 "), "{out}");
        assert_eq!(event_rows(&db), expected, "{name}");
        let conn = Connection::open(&db).unwrap();
        let bases: Vec<String> = conn
            .prepare("SELECT DISTINCT revision_basis FROM events")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(bases, ["counted-from-empty-store"], "{name}");
        let (versions, creates): (String, String) = conn
            .query_row(
                "SELECT group_concat(version), group_concat(create_revision) FROM
                   (SELECT version, create_revision FROM events ORDER BY mod_revision)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(versions, "1,2,3,4", "{name}");
        let created = w.puts[0].revision.to_string();
        assert_eq!(creates, [created.as_str(); 4].join(","), "{name}");
    }
}
