//! `evforensics info` on a real etcd 3.4 data directory: the `wal:`
//! section and the `horizon` block count exactly what the test wrote (the
//! standard scenario, a snapshot, then more Events), the Events that only
//! free pages hold agree with what `ingest` loads from them, a db older
//! than its WAL shows the Event writes it lacks, a flipped byte in the WAL
//! is damage (exit code 3) named by file and offset, and so is a torn tail,
//! reported as such.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use common::etcd::server::EtcdServer;
use common::scenario::events::{bump_count, legacy_event};
use common::scenario::ledger::{DeleteCause, ExpectedPut, Ledger};
use common::scenario::objects::ObjRef;
use common::scenario::rng::Rng;
use common::scenario::standard::{write_standard_scenario, INCIDENT_START};
use common::scenario::writer::ScenarioWriter;
use evforensics::decode::decode_event;
use evforensics::source::wal::{Payload, Request, RequestOp, WalItem, WalReader};
use rusqlite::{Connection, OpenFlags};

const PREFIX: &str = "/registry/events/";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn evforensics(args: &[&Path]) -> (i32, String) {
    let out = Command::cargo_bin("evforensics")
        .unwrap()
        .args(args)
        .timeout(Duration::from_secs(180))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

fn info(source: &Path) -> (i32, String) {
    evforensics(&[Path::new("info"), source])
}

/// How many Event records a layer holds and the times they span, as the
/// horizon prints them.
#[derive(Debug)]
struct Horizon {
    count: usize,
    oldest: String,
    newest: String,
    without_time: usize,
}

impl Horizon {
    fn of<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Horizon {
        let mut times = Vec::new();
        let mut count = 0;
        for v in values {
            count += 1;
            times.extend(decode_event(v, None).fields.occurred_at());
        }
        times.sort();
        Horizon {
            count,
            without_time: count - times.len(),
            oldest: times.first().cloned().unwrap_or_default(),
            newest: times.last().cloned().unwrap_or_default(),
        }
    }

    /// The horizon line of `layer` in `out`, checked against this.
    fn assert_line(&self, out: &str, layer: &str, what: &str, reach: &str) {
        let line = out
            .lines()
            .skip_while(|l| !l.starts_with("horizon"))
            .find(|l| l.trim_start().starts_with(layer))
            .unwrap_or_else(|| panic!("no {layer} horizon line:\n{out}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = layer.split_whitespace().count();
        assert_eq!(words[at], self.count.to_string(), "{line}");
        assert!(line.contains(what), "{line}");
        if self.count > self.without_time {
            let span = format!("{} .. {}", self.oldest, self.newest);
            assert!(line.contains(&span), "{span} in\n{line}");
        }
        assert!(line.contains(reach), "{reach} in\n{line}");
        if self.without_time > 0 {
            let untimed = format!("({} without a readable time)", self.without_time);
            assert!(line.contains(&untimed), "{untimed} in\n{line}");
        }
    }
}

fn under_prefix(p: &&ExpectedPut) -> bool {
    p.kind.under_events_prefix()
}

/// Event puts after the snapshot: three created, two of them repeated.
async fn write_later_events(etcd: &EtcdServer) -> Ledger {
    let client = etcd.client().await;
    let mut w = ScenarioWriter::new(&client).await;
    let lease = w.grant_lease().await;
    let mut rng = Rng::new(0x1a7e);
    let t = INCIDENT_START + 3600;
    let pod = ObjRef::new("Pod", "v1", "shop", "web-later", &rng.uuid());
    let mut events: Vec<_> = (0..3)
        .map(|i| {
            let reason = ["Pulling", "Pulled", "Started"][i];
            legacy_event(
                &mut rng,
                &pod,
                "Normal",
                reason,
                reason,
                "kubelet",
                "node-b",
                t + i as i64,
            )
        })
        .collect();
    for ev in &events {
        w.create_event(ev, lease, "after the snapshot").await;
    }
    for (i, ev) in events.iter_mut().take(2).enumerate() {
        bump_count(ev, t + 30 + i as i64);
        w.update_event(ev, lease, "repeat after the snapshot").await;
    }
    w.finish().await
}

fn wal_segments(wal: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    files.sort();
    files
}

/// A data directory whose `member/snap/db` is `db` and whose `member/wal`
/// is a copy of `wal`, each segment cut to its data plus 4 KiB of its zero
/// tail (the 64 MB preallocation is not worth hashing in a debug build).
fn data_dir_copy(db: &Path, wal: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (snap, copy) = (
        dir.path().join("member/snap"),
        dir.path().join("member/wal"),
    );
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(db, snap.join("db")).unwrap();
    let summary = WalReader::open(wal).unwrap().finish();
    for f in &summary.files {
        let bytes = std::fs::read(&f.path).unwrap();
        let keep = bytes.len().min(f.data_end as usize + 4096);
        std::fs::write(copy.join(f.path.file_name().unwrap()), &bytes[..keep]).unwrap();
    }
    dir
}

/// Where the entry putting `key` was read: its segment and frame offset.
fn entry_putting(wal: &Path, key: &str) -> (PathBuf, u64) {
    let mut reader = WalReader::open(wal).unwrap();
    let at = reader
        .by_ref()
        .find_map(|item| {
            let WalItem::Entry(e) = item else { return None };
            let Payload::Proposal(p) = &e.entry.payload else {
                return None;
            };
            let Request::Txn(txn) = &p.request else {
                return None;
            };
            txn.success
                .iter()
                .any(|op| matches!(op, RequestOp::Put(put) if put.key == key.as_bytes()))
                .then_some(e.at)
        })
        .expect("the entry of the put");
    (reader.file_path(at.file).unwrap().to_path_buf(), at.offset)
}

/// The horizon of the Event rows `ingest` loaded from `recovered_from`,
/// and the revisions they reach (empty when there are none).
fn loaded(db: &Path, recovered_from: &str) -> (Horizon, String) {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.query_row(
        "SELECT count(*), count(occurred_at), min(occurred_at), max(occurred_at),
                min(mod_revision), max(mod_revision)
         FROM events WHERE recovered_from = ?1",
        [recovered_from],
        |r| {
            let (count, timed): (i64, i64) = (r.get(0)?, r.get(1)?);
            let (lo, hi): (Option<i64>, Option<i64>) = (r.get(4)?, r.get(5)?);
            let horizon = Horizon {
                count: count as usize,
                without_time: (count - timed) as usize,
                oldest: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                newest: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
            };
            let reach = match (lo, hi) {
                (Some(lo), Some(hi)) => format!("revisions {lo}..{hi}"),
                _ => String::new(),
            };
            Ok((horizon, reach))
        },
    )
    .unwrap()
}

#[test]
fn info_shows_the_wal_and_how_far_back_each_layer_reaches() {
    let etcd = EtcdServer::start();
    let runtime = rt();
    let scenario = runtime.block_on(async { write_standard_scenario(&etcd.client().await).await });
    let work = tempfile::tempdir().unwrap();
    let snapshot = work.path().join("snapshot.db");
    etcd.snapshot(&snapshot);
    let later = runtime.block_on(write_later_events(&etcd));
    let raft_index = runtime.block_on(async {
        let status = etcd.client().await.status().await.unwrap();
        status.raft_index()
    });
    let stopped = etcd.stop();
    let data_dir = stopped.data_dir();
    let wal = data_dir.join("member/wal");

    // What the WAL holds: every Event put the test made, in any encoding.
    let all_puts: Vec<&ExpectedPut> = scenario.puts.iter().chain(&later.puts).collect();
    let wal_puts: Vec<&ExpectedPut> = all_puts.iter().copied().filter(under_prefix).collect();
    let wal_horizon = Horizon::of(wal_puts.iter().map(|p| p.value.as_slice()));
    let event_deletes = scenario
        .deletes
        .iter()
        .filter(|d| d.cause == DeleteCause::Explicit && d.key.starts_with(PREFIX))
        .count();
    // What the trees hold: the snapshot's, and the db's after the later writes.
    let snapshot_tree: Vec<&ExpectedPut> = scenario
        .surviving_puts()
        .into_iter()
        .filter(under_prefix)
        .collect();
    let db_tree: Vec<&ExpectedPut> = snapshot_tree
        .iter()
        .copied()
        .chain(later.puts.iter().filter(under_prefix))
        .collect();
    let revisions = |puts: &[&ExpectedPut]| {
        let (lo, hi) = (puts.first().unwrap(), puts.last().unwrap());
        format!("revisions {}..{}", lo.revision, hi.revision)
    };

    // The stopped etcd's data directory: the db has applied all of it.
    let (code, out) = info(data_dir);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("wal:           {}", wal.display())),
        "{out}"
    );
    for f in wal_segments(&wal) {
        let size = std::fs::metadata(&f).unwrap().len();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(out.contains(&format!("{name} ({size} bytes)")), "{out}");
    }
    assert!(out.contains("zero-filled preallocation after it"), "{out}");
    assert!(
        out.contains(&format!("raft index:  1..{raft_index} read")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "entries:     {raft_index} committed, 0 replaced (rewritten by a new leader: never applied), 0 not known committed"
        )),
        "{out}"
    );
    assert!(
        out.contains("CRC chain:   verified: every record, across 1 segment"),
        "{out}"
    );
    assert!(out.contains("torn tail:   none"), "{out}");
    assert!(out.contains("1 compactions"), "{out}");
    let event_puts = format!("Event puts:  {} proposed", wal_puts.len());
    assert!(out.contains(&event_puts), "{event_puts} in\n{out}");
    assert!(
        out.contains("none after the db's consistent index"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{event_deletes} deletes of Event keys")),
        "{out}"
    );
    let raft = format!("raft index 1..{raft_index}");
    wal_horizon.assert_line(&out, "wal", "Event writes", &raft);
    Horizon::of(db_tree.iter().map(|p| p.value.as_slice())).assert_line(
        &out,
        "tree",
        "Event revisions",
        &revisions(&db_tree),
    );

    // Free pages: what only they hold is what `ingest` loads from them
    // (how much that is varies with bbolt's page reuse, run to run).
    let sqlite = work.path().join("case.sqlite");
    let db_arg = format!("--db={}", sqlite.display());
    let (code, ingested) = evforensics(&[Path::new("ingest"), Path::new(&db_arg), data_dir]);
    assert_eq!(code, 0, "{ingested}");
    let (free, reach) = loaded(&sqlite, "free-page");
    free.assert_line(&out, "free pages", "Event revisions", &reach);
    let (tree, reach) = loaded(&sqlite, "tree");
    assert_eq!(reach, revisions(&db_tree));
    tree.assert_line(&out, "tree", "Event revisions", &reach);

    // A snapshot alone has no WAL.
    let (code, out) = info(&snapshot);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("wal files:"), "{out}");
    assert!(out.contains("wal         none beside this file"), "{out}");

    // The db older than its WAL: the snapshot in a data directory whose
    // WAL went on. The Event writes after it are the test's later ones.
    let older = data_dir_copy(&snapshot, &wal);
    let (code, out) = info(older.path());
    // (Given as its db file, it is still a data directory's.)
    let (code_db, out_db) = info(&older.path().join("member/snap/db"));
    assert_eq!(
        (code_db, out_db.split_once("wal:").unwrap().1),
        (code, out.split_once("wal:").unwrap().1)
    );
    assert_eq!(code, 0, "{out}");
    let later_puts = later.puts.iter().filter(under_prefix).count();
    assert_eq!(later_puts, 5);
    assert!(
        out.contains(&format!("; {later_puts} after the db's consistent index")),
        "{out}"
    );
    wal_horizon.assert_line(&out, "wal", "Event writes", &raft);
    Horizon::of(snapshot_tree.iter().map(|p| p.value.as_slice())).assert_line(
        &out,
        "tree",
        "Event revisions",
        &revisions(&snapshot_tree),
    );

    // A flipped byte in the first later Event's entry: a CRC mismatch there,
    // exit code 3.
    let flipped = data_dir_copy(&stopped.db_path(), &wal);
    let first_later = &later.puts[0].key;
    let (file, offset) = entry_putting(&flipped.path().join("member/wal"), first_later);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[offset as usize + 8 + 16] ^= 0x20;
    std::fs::write(&file, &bytes).unwrap();
    let (code, out) = info(flipped.path());
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("CRC chain:   DAMAGED: 1 problem "), "{out}");
    let at = format!("{} at offset {offset}: CRC mismatch", file.display());
    assert!(out.contains(&at), "{at} in\n{out}");
    assert!(out.contains("damage: 1 problems"), "{out}");

    // The last segment cut inside its last frame: a torn tail, reported and
    // counted as damage.
    let torn = data_dir_copy(&stopped.db_path(), &wal);
    let last = wal_segments(&torn.path().join("member/wal")).pop().unwrap();
    let data_end = WalReader::open(&wal)
        .unwrap()
        .finish()
        .files
        .last()
        .unwrap()
        .data_end;
    let bytes = std::fs::read(&last).unwrap();
    std::fs::write(&last, &bytes[..data_end as usize - 3]).unwrap();
    let (code, out) = info(torn.path());
    assert_eq!(code, 3, "{out}");
    let torn_at = format!("torn tail:   {} at offset", last.display());
    assert!(out.contains(&torn_at), "{torn_at} in\n{out}");
    assert!(out.contains("Counted as damage"), "{out}");
}

/// Events a compaction removed, whose old leaves bbolt freed: the free
/// pages line of the horizon counts those the tree no longer holds, as
/// `ingest` loads them, each a revision the test wrote and the compaction
/// removed; the WAL still proposes every one.
#[test]
fn horizon_counts_the_events_only_free_pages_hold() {
    let etcd = EtcdServer::start();
    let ledger = rt().block_on(async {
        let client = etcd.client().await;
        let mut w = ScenarioWriter::new(&client).await;
        let lease = w.grant_lease().await;
        let mut rng = Rng::new(0xf4ee);
        let t = INCIDENT_START;
        let mut events: Vec<_> = (0..10)
            .map(|i| {
                let pod = ObjRef::new("Pod", "v1", "shop", &format!("web-{i}"), &rng.uuid());
                let message = format!("Back-off restarting failed container web in pod web-{i}");
                legacy_event(
                    &mut rng,
                    &pod,
                    "Warning",
                    "BackOff",
                    &message,
                    "kubelet",
                    "node-a",
                    t + i,
                )
            })
            .collect();
        for ev in &events {
            w.create_event(ev, lease, "first").await;
        }
        // Thirty repeats each: ~60 leaves of revisions the compaction drops.
        for round in 1..=30 {
            for (i, ev) in events.iter_mut().enumerate() {
                bump_count(ev, t + 60 * round + i as i64);
                w.update_event(ev, lease, "repeat").await;
            }
        }
        let head = w.head();
        w.compact(head).await;
        let ev = &mut events[0];
        bump_count(ev, t + 3600);
        w.update_event(ev, lease, "after the compaction").await;
        w.finish().await
    });
    let stopped = etcd.stop();
    let dir = data_dir_copy(&stopped.db_path(), &stopped.data_dir().join("member/wal"));
    let (code, out) = info(dir.path());
    assert_eq!(code, 0, "{out}");

    let events: Vec<&ExpectedPut> = ledger.puts.iter().filter(under_prefix).collect();
    assert_eq!(events.len(), 10 + 300 + 1);
    let wal = Horizon::of(events.iter().map(|p| p.value.as_slice()));
    wal.assert_line(&out, "wal", "Event writes", "raft index 1..");
    let tree: Vec<&ExpectedPut> = ledger
        .surviving_puts()
        .into_iter()
        .filter(under_prefix)
        .collect();
    assert_eq!(tree.len(), 11);

    let sqlite = dir.path().join("case.sqlite");
    let db_arg = format!("--db={}", sqlite.display());
    let (code, ingested) = evforensics(&[Path::new("ingest"), Path::new(&db_arg), dir.path()]);
    assert_eq!(code, 0, "{ingested}");
    let (free, reach) = loaded(&sqlite, "free-page");
    assert!(free.count > 0, "bbolt reused every freed page? {out}");
    free.assert_line(&out, "free pages", "Event revisions", &reach);
    let (in_tree, reach) = loaded(&sqlite, "tree");
    assert_eq!(in_tree.count, tree.len());
    in_tree.assert_line(&out, "tree", "Event revisions", &reach);
    // Each is a revision the compaction removed, as written.
    let c = Connection::open_with_flags(&sqlite, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = c
        .prepare("SELECT mod_revision, sub_revision FROM events WHERE recovered_from = 'free-page'")
        .unwrap();
    let compacted = ledger.compacted_puts();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .unwrap();
    for row in rows {
        let (rev, sub) = row.unwrap();
        assert!(
            compacted.iter().any(|p| p.revision == rev && p.sub == sub),
            "{rev}.{sub} is not a compacted revision"
        );
    }
}
