//! Snapshot ingest end to end against a real etcd: Events written the way
//! kube-apiserver writes them (envelope, shared leases, count updates, deletes,
//! a revoked lease, a compaction, a multi-key transaction), a snapshot saved
//! with `etcdctl`, ingested with the CLI, and every revision, tombstone and
//! field checked against the ledger of what etcd applied.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use common::etcd::server::EtcdServer;
use common::scenario::ledger::{DeleteCause, Ledger, ValueKind};
use common::scenario::standard::write_standard_scenario;
use common::scenario::writer::EVENT_LEASE_TTL;

use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn sha256(path: &Path) -> String {
    evforensics::source::input::sha256_file(path).unwrap()
}

/// Runs `evforensics ingest --db DB SOURCES…`, returning (exit code, stdout).
fn ingest(db: &Path, sources: &[&Path]) -> (i32, String) {
    let out = Command::cargo_bin("evforensics")
        .unwrap()
        .arg("ingest")
        .arg("--db")
        .arg(db)
        .args(sources)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code().unwrap(), format!("{stdout}{stderr}"))
}

fn open(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

#[derive(Debug)]
struct Row {
    source_id: i64,
    create_revision: i64,
    version: i64,
    lease: i64,
    live: i64,
    deleted_revision: Option<i64>,
    recovered_from: String,
    encoding: String,
    reason: Option<String>,
    message: Option<String>,
    count: Option<i64>,
    type_: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    involved_kind: Option<String>,
    involved_name: Option<String>,
    involved_uid: Option<String>,
    object: Option<String>,
    raw: Vec<u8>,
}

fn event_rows(conn: &Connection) -> BTreeMap<(String, i64, i64), Row> {
    let mut stmt = conn
        .prepare(
            "SELECT key, mod_revision, sub_revision, source_id, create_revision, version, lease,
                    live, deleted_revision, recovered_from, encoding, reason, message, count,
                    type, namespace, name, involved_kind, involved_name, involved_uid, object, raw
             FROM events",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            (r.get(0)?, r.get(1)?, r.get(2)?),
            Row {
                source_id: r.get(3)?,
                create_revision: r.get(4)?,
                version: r.get(5)?,
                lease: r.get(6)?,
                live: r.get(7)?,
                deleted_revision: r.get(8)?,
                recovered_from: r.get(9)?,
                encoding: r.get(10)?,
                reason: r.get(11)?,
                message: r.get(12)?,
                count: r.get(13)?,
                type_: r.get(14)?,
                namespace: r.get(15)?,
                name: r.get(16)?,
                involved_kind: r.get(17)?,
                involved_name: r.get(18)?,
                involved_uid: r.get(19)?,
                object: r.get(20)?,
                raw: r.get(21)?,
            },
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn deletion_rows(conn: &Connection) -> BTreeSet<(String, i64, i64)> {
    let mut stmt = conn
        .prepare("SELECT key, revision, sub_revision FROM deletions")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// What a load read: a db alone, or a data directory's db and its WAL
/// (which holds every write since the store began).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layers {
    Db,
    DbAndWal,
}

/// Every surviving Event put of the ledger is a row with exactly its
/// revision data, liveness, deletion, encoding, fields and bytes; nothing
/// else is; every surviving tombstone is a deletion row.
fn assert_matches_ledger(conn: &Connection, ledger: &Ledger) {
    assert_layers_match_ledger(conn, ledger, Layers::Db)
}

/// Each Event row's fate (`event_fates`) is what the ledger says became of
/// it: live at the head; superseded when a later revision of its
/// generation is held; gone when the last one held of an ended generation,
/// known by its tombstone (with its cause, when the WAL told) or, its
/// tombstone compacted away, by its key's absence from the head.
fn assert_fates_match_ledger(conn: &Connection, ledger: &Ledger) {
    let mut stmt = conn
        .prepare(
            "SELECT f.key, f.mod_revision, f.sub_revision, f.fate, f.gone_because, e.create_revision
             FROM event_fates f JOIN events e ON e.id = f.event_id",
        )
        .unwrap();
    let fates: Vec<(String, i64, i64, String, Option<String>, i64)> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let held: BTreeSet<(String, i64, i64)> = fates
        .iter()
        .map(|(k, rev, _, _, _, create)| (k.clone(), *rev, *create))
        .collect();
    let tombstones = deletion_rows(conn);
    let mut gone = 0;
    for (key, rev, sub, fate, because, create) in &fates {
        let p = ledger
            .puts
            .iter()
            .find(|p| &p.key == key && p.revision == *rev && p.sub == *sub)
            .unwrap_or_else(|| panic!("{key}@{rev} is not in the ledger"));
        let f = ledger.fate(p);
        let later_in_generation = held
            .iter()
            .any(|(k, r, c)| k == key && r > rev && c == create);
        let d = ledger
            .deletes
            .iter()
            .find(|d| Some(d.revision) == f.deleted_revision && &d.key == key);
        let tombstone_held =
            d.is_some_and(|d| tombstones.contains(&(d.key.clone(), d.revision, d.sub)));
        let (want, want_because) = if f.live_at_head {
            ("live", None)
        } else if later_in_generation {
            ("superseded", None)
        } else if tombstone_held {
            let cause: Option<String> = conn
                .query_row(
                    "SELECT cause FROM deletions WHERE key = ?1 AND revision = ?2",
                    rusqlite::params![key, f.deleted_revision],
                    |r| r.get(0),
                )
                .unwrap();
            let because = match cause.as_deref() {
                Some("lease-revoke") => "lease-revoke",
                Some("delete-range") => "delete",
                _ => "tombstone",
            };
            ("gone", Some(because))
        } else {
            ("gone", Some("compacted-key-absent-from-head"))
        };
        assert_eq!(
            (fate.as_str(), because.as_deref()),
            (want, want_because),
            "fate of {key}@{rev} ({})",
            p.note
        );
        gone += usize::from(want == "gone");
    }
    let expired: i64 = conn
        .query_row("SELECT count(*) FROM expired_events", [], |r| r.get(0))
        .unwrap();
    let expired = expired as usize;
    assert_eq!(expired, gone, "expired_events holds the gone Events");
}

/// [`assert_matches_ledger`] for what `layers` hold: with the WAL, every
/// Event put and tombstone ever written is a row, the compacted ones too,
/// and a tombstone carries its cause.
fn assert_layers_match_ledger(conn: &Connection, ledger: &Ledger, layers: Layers) {
    let rows = event_rows(conn);
    let mut expected_keys = BTreeSet::new();
    let mut recovered_from_free_pages = 0;
    let with_wal = layers == Layers::DbAndWal;
    for p in ledger.puts.iter().filter(|p| p.kind.under_events_prefix()) {
        let id = (p.key.clone(), p.revision, p.sub);
        let fate = ledger.fate(p);
        if !fate.survives && with_wal {
            let row = rows
                .get(&id)
                .unwrap_or_else(|| panic!("compacted revision {id:?} not replayed ({})", p.note));
            assert!(
                ["free-page", "wal"].contains(&row.recovered_from.as_str()),
                "{id:?}: {}",
                row.recovered_from
            );
            assert_eq!(row.raw, p.value, "{id:?}");
            assert_eq!(
                (row.create_revision, row.version),
                (p.create_revision, p.version),
                "{id:?}"
            );
            assert_eq!(row.live, 0, "{id:?}");
            assert_eq!(
                row.deleted_revision, fate.deleted_revision,
                "deleted_revision of {id:?}"
            );
            recovered_from_free_pages += 1;
            continue;
        }
        if !fate.survives {
            // Compaction removed it from the tree; a free page may still
            // hold the old leaf. Then it is exactly what was written.
            if let Some(row) = rows.get(&id) {
                assert_eq!(row.recovered_from, "free-page", "{id:?}");
                assert_eq!(row.raw, p.value, "{id:?}");
                assert_eq!(row.live, 0, "{id:?}");
                recovered_from_free_pages += 1;
            }
            continue;
        }
        expected_keys.insert(id.clone());
        let row = rows
            .get(&id)
            .unwrap_or_else(|| panic!("missing revision {id:?} ({})", p.note));
        assert_eq!(row.create_revision, p.create_revision, "{id:?}");
        assert_eq!(row.version, p.version, "{id:?}");
        assert_eq!(row.lease, p.lease, "{id:?}");
        assert_eq!(
            row.live,
            i64::from(fate.live_at_head),
            "live of {id:?} ({})",
            p.note
        );
        assert_eq!(
            row.deleted_revision, fate.deleted_revision,
            "deleted_revision of {id:?}"
        );
        // With the WAL, what the db had not committed yet is replayed.
        let from_db = row.recovered_from == "tree" || (with_wal && row.recovered_from == "wal");
        assert!(from_db, "{id:?}: {}", row.recovered_from);
        assert_eq!(row.raw, p.value, "raw bytes of {id:?}");
        let encoding = match p.kind {
            ValueKind::ProtobufEvent => "protobuf",
            ValueKind::JsonEvent => "json",
            ValueKind::EncryptedEvent => "encrypted",
            _ => "unknown",
        };
        assert_eq!(row.encoding, encoding, "{id:?}");
        if matches!(fate.deleted_by, Some(DeleteCause::LeaseRevoked { .. })) {
            assert_eq!(
                row.live, 0,
                "an Event whose lease ran out is no longer live"
            );
        }
        if let Some(ev) = &p.event {
            assert!(p.kind.is_decodable_event());
            let md = ev.metadata.as_ref().unwrap();
            let obj = ev.involved_object.as_ref().unwrap();
            // Go's zero values (empty string, 0) are NULL in the columns.
            let text = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
            assert_eq!(row.reason, text(&ev.reason), "{id:?}");
            assert_eq!(row.message, text(&ev.message));
            assert_eq!(row.count, ev.count.filter(|&c| c != 0).map(i64::from));
            assert_eq!(row.type_, text(&ev.r#type));
            assert_eq!(row.namespace, text(&md.namespace));
            assert_eq!(row.name, text(&md.name));
            assert_eq!(row.involved_kind, text(&obj.kind));
            assert_eq!(row.involved_name, text(&obj.name));
            assert_eq!(row.involved_uid, text(&obj.uid));
            // The object is the Event as the API serves it: as written,
            // with resourceVersion = the mod revision.
            let mut want = p.event_json.clone().expect("event_json");
            want["metadata"]["resourceVersion"] = Value::String(p.revision.to_string());
            let got: Value = serde_json::from_str(row.object.as_deref().unwrap()).unwrap();
            assert_eq!(got, want, "object of {id:?}");
        } else {
            assert!(row.object.is_none());
        }
    }
    let from_tree: BTreeSet<_> = rows
        .iter()
        .filter(|(id, r)| r.recovered_from == "tree" || (with_wal && expected_keys.contains(*id)))
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(
        from_tree, expected_keys,
        "exactly the surviving Event revisions"
    );
    assert_eq!(rows.len(), expected_keys.len() + recovered_from_free_pages);

    let event_deletes = || {
        ledger
            .deletes
            .iter()
            .filter(|d| d.key.starts_with("/registry/events/"))
    };
    let surviving: BTreeSet<_> = event_deletes()
        .filter(|d| ledger.tombstone_survives(d))
        .map(|d| (d.key.clone(), d.revision, d.sub))
        .collect();
    let written: BTreeSet<_> = event_deletes()
        .map(|d| (d.key.clone(), d.revision, d.sub))
        .collect();
    let loaded = deletion_rows(conn);
    if with_wal {
        assert_eq!(loaded, written, "every tombstone, replayed from the WAL");
        for d in event_deletes() {
            let cause: String = conn
                .query_row(
                    "SELECT cause FROM deletions WHERE key = ?1 AND revision = ?2",
                    rusqlite::params![d.key, d.revision],
                    |r| r.get(0),
                )
                .unwrap();
            let want = match d.cause {
                DeleteCause::LeaseRevoked { .. } => "lease-revoke",
                _ => "delete-range",
            };
            assert_eq!(
                cause, want,
                "cause of the deletion of {} at {}",
                d.key, d.revision
            );
        }
    }
    assert!(
        surviving.is_subset(&loaded),
        "every surviving tombstone is loaded"
    );
    assert!(
        loaded.is_subset(&written),
        "no tombstone that was never written"
    );
    assert_objects_match_ledger(conn, ledger);
}

/// Every surviving put of another object (Pods, Namespaces) is an
/// `objects` row with its revision data, liveness, deletion and metadata;
/// nothing else from the tree is.
fn assert_objects_match_ledger(conn: &Connection, ledger: &Ledger) {
    type ObjectRow = (i64, i64, i64, Option<i64>, String, String, Option<String>);
    let mut stmt = conn
        .prepare(
            "SELECT key, mod_revision, sub_revision, create_revision, version, live,
                    deleted_revision, encoding, kind, name
             FROM objects WHERE recovered_from = 'tree'",
        )
        .unwrap();
    let rows: BTreeMap<(String, i64, i64), ObjectRow> = stmt
        .query_map([], |r| {
            Ok((
                (r.get(0)?, r.get(1)?, r.get(2)?),
                (
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ),
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut expected = BTreeSet::new();
    for p in ledger.puts.iter().filter(|p| {
        matches!(
            p.kind,
            ValueKind::Pod | ValueKind::Namespace | ValueKind::Object
        )
    }) {
        let fate = ledger.fate(p);
        if !fate.survives {
            continue;
        }
        let id = (p.key.clone(), p.revision, p.sub);
        let row = rows
            .get(&id)
            .unwrap_or_else(|| panic!("missing object revision {id:?} ({})", p.note));
        assert_eq!(row.0, p.create_revision, "{id:?}");
        assert_eq!(row.1, p.version, "{id:?}");
        assert_eq!(row.2, i64::from(fate.live_at_head), "live of {id:?}");
        assert_eq!(row.3, fate.deleted_revision, "deleted_revision of {id:?}");
        assert_eq!(row.4, "protobuf");
        let kind = if p.kind == ValueKind::Namespace {
            "Namespace"
        } else {
            "Pod"
        };
        assert_eq!(row.5, kind, "{id:?}");
        assert!(row.6.is_some(), "{id:?}");
        expected.insert(id);
    }
    assert!(
        !expected.is_empty(),
        "the scenario writes Pods and Namespaces"
    );
    assert_eq!(
        rows.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "exactly the surviving object revisions"
    );
}

struct Scenario {
    etcd: EtcdServer,
    ledger: Ledger,
    dir: tempfile::TempDir,
}

/// The database is consistent: `events_fts` indexes exactly the rows of
/// `event_revisions` (FTS5's own check of an external-content index) and
/// finds what `=` finds; every revision has its value; every row's source
/// exists (the bulk load of a new database does not enforce it).
fn assert_database_consistent(db: &Path) {
    // The check is a command, run through a writable connection; it
    // changes nothing.
    let conn = Connection::open(db).unwrap();
    conn.execute_batch("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")
        .expect("events_fts agrees with event_revisions");
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM pragma_foreign_key_check"), 0);
    assert_eq!(
        count("SELECT count(*) FROM event_revisions LEFT JOIN event_values USING (id) WHERE raw IS NULL"),
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM event_values"),
        count("SELECT count(*) FROM event_revisions")
    );
    // One row per indexed document (a count over events_fts itself would
    // read its content table, event_revisions).
    let indexed = count("SELECT count(*) FROM events_fts_docsize");
    assert_eq!(indexed, count("SELECT count(*) FROM events"));
    let reason: String = conn
        .query_row(
            "SELECT reason FROM events WHERE reason IS NOT NULL LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM events_fts WHERE events_fts MATCH 'reason:{reason}'"
        )),
        count(&format!(
            "SELECT count(*) FROM events WHERE reason = '{reason}'"
        ))
    );
}

fn run_standard_scenario() -> Scenario {
    let etcd = EtcdServer::start();
    let ledger = rt().block_on(async {
        let client = etcd.client().await;
        write_standard_scenario(&client).await
    });
    Scenario {
        etcd,
        ledger,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Scenario {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

#[test]
fn snapshot_of_real_etcd_loads_every_revision_and_tombstone() {
    let s = run_standard_scenario();
    let snap = s.path("snapshot.db");
    s.etcd.snapshot(&snap);
    let before = sha256(&snap);
    let db = s.path("out.sqlite");
    let (code, out) = ingest(&db, &[&snap]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(sha256(&snap), before, "evidence unchanged");

    let conn = open(&db);
    assert_matches_ledger(&conn, &s.ledger);
    assert_fates_match_ledger(&conn, &s.ledger);
    assert_database_consistent(&db);
    // The summary, the view and the saved question give one answer.
    let gone: i64 = conn
        .query_row("SELECT count(*) FROM expired_events", [], |r| r.get(0))
        .unwrap();
    let gone = gone as usize;
    assert!(
        out.contains(&format!(
            "gone (their Event expired or was deleted, the last revision held of each): {gone} ("
        )),
        "{out}"
    );
    let asked = Command::cargo_bin("evforensics")
        .unwrap()
        .args(["query", "--format", "json", "--db"])
        .arg(&db)
        .arg("expired-events")
        .output()
        .unwrap();
    let asked: Vec<Value> = serde_json::from_slice(&asked.stdout).unwrap();
    assert_eq!(asked.len(), gone);
    assert!(asked.iter().all(|r| r["gone_because"].is_string()));

    let (kind, sha, trailer, head, compact): (String, String, String, i64, i64) = conn
        .query_row(
            "SELECT kind, sha256, trailer, head_revision, compact_revision FROM sources",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(kind, "etcd-snapshot");
    assert_eq!(sha, before);
    assert_eq!(trailer, "verified");
    assert_eq!(head, s.ledger.head_revision);
    assert_eq!(compact, s.ledger.compact_revision);

    // The summary counts what the ledger says, plus what free pages held
    // (how many varies with etcd's page reuse, run to run).
    let summary = s.ledger.summary();
    let from_free_pages: i64 = conn
        .query_row(
            "SELECT count(*) FROM events WHERE recovered_from = 'free-page'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let loaded = s
        .ledger
        .surviving_puts()
        .iter()
        .filter(|p| p.kind.under_events_prefix())
        .count()
        + from_free_pages as usize;
    assert!(
        out.contains(&format!("event revisions: {loaded} loaded")),
        "{out}"
    );
    assert!(out.contains("snapshot hash trailer verified"), "{out}");
    assert!(summary.expired_by_lease > 0);

    // Leases still granted at the snapshot are recorded with their TTL.
    let mut stmt = conn
        .prepare("SELECT lease, ttl_seconds FROM leases ORDER BY lease")
        .unwrap();
    let leases: Vec<(i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut want: Vec<(i64, i64)> = s
        .ledger
        .live_leases()
        .into_iter()
        .map(|id| (id, EVENT_LEASE_TTL))
        .collect();
    want.sort();
    assert_eq!(leases, want);

    // The multi-key transaction's writes share a main revision.
    let shared: i64 = conn
        .query_row(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM events GROUP BY mod_revision)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(shared >= 2);

    // Ingesting the same file again adds nothing.
    let (code, out) = ingest(&db, &[&snap]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("already loaded as source 1"), "{out}");
    let sources: i64 = open(&db)
        .query_row("SELECT count(*) FROM sources", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sources, 1);
}

/// The live `member/snap/db` of a running etcd is read without a lock,
/// with its WAL: every Event write is recovered, those compaction removed
/// too, each tombstone with its cause.
#[test]
fn data_directory_of_a_running_etcd() {
    let s = run_standard_scenario();
    // A snapshot makes etcd commit its pending bbolt batch (backend
    // `Snapshot` commits first): no write is left to change the file while
    // it is read.
    s.etcd.snapshot(&s.path("flush.db"));
    let db = s.path("dir.sqlite");
    let live_db_file = s.etcd.db_path();
    let (code, out) = ingest(&db, &[s.etcd.data_dir()]);
    assert_eq!(code, 0, "{out}");
    let conn = open(&db);
    assert_layers_match_ledger(&conn, &s.ledger, Layers::DbAndWal);
    assert_fates_match_ledger(&conn, &s.ledger);
    let (kind, sha): (String, String) = conn
        .query_row("SELECT kind, sha256 FROM sources", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(kind, "etcd-data-dir");
    assert_eq!(sha.len(), 64);
    // etcd still serves after being read.
    s.etcd.etcdctl(&["put", "/after", "x"]);
    assert!(live_db_file.exists());
}

/// Two snapshots an hour apart merge: a revision both hold is one row,
/// both sources are recorded, and liveness follows the newer one.
#[test]
fn two_snapshots_of_one_cluster_merge() {
    let s = run_standard_scenario();
    let first = s.path("first.db");
    s.etcd.snapshot(&first);

    // An hour later: the remaining leases are revoked (the Events expire).
    let revoked_at: BTreeMap<i64, i64> = rt().block_on(async {
        let mut client = s.etcd.client().await;
        let mut at = BTreeMap::new();
        for lease in s.ledger.live_leases() {
            let resp = client.lease_revoke(lease).await.unwrap();
            at.insert(lease, resp.header().unwrap().revision());
        }
        at
    });
    let second = s.path("second.db");
    s.etcd.snapshot(&second);

    let db = s.path("merged.sqlite");
    let (code, out) = ingest(&db, &[&first, &second]);
    assert_eq!(code, 0, "{out}");
    let conn = open(&db);
    assert_database_consistent(&db);
    let rows = event_rows(&conn);
    let surviving: Vec<_> = s
        .ledger
        .surviving_puts()
        .into_iter()
        .filter(|p| p.kind.under_events_prefix())
        .collect();
    let (tree_rows, free_page_rows): (Vec<_>, Vec<_>) =
        rows.iter().partition(|(_, r)| r.recovered_from == "tree");
    assert_eq!(tree_rows.len(), surviving.len(), "each revision once");
    assert!(tree_rows.iter().all(|(_, r)| r.source_id == 1));
    // bbolt's page reuse differs run to run: a free page of either snapshot
    // may hold a leaf from before the compaction. Such rows are copies of
    // compacted revisions, exactly as written.
    for ((key, rev, sub), row) in &free_page_rows {
        let put = s
            .ledger
            .puts
            .iter()
            .find(|p| &p.key == key && p.revision == *rev && p.sub == *sub)
            .expect("a free-page row is a revision that was written");
        assert!(!s.ledger.put_survives(put), "{key}@{rev}");
        assert_eq!(row.raw, put.value);
    }
    assert!(
        rows.values().all(|r| r.live == 0),
        "every Event expired by the second snapshot"
    );
    let in_both: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT key FROM source_revisions
               WHERE tombstone = 0 AND recovered_from = 'tree'
               GROUP BY key, revision, sub_revision HAVING count(DISTINCT source_id) = 2)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(in_both as usize, surviving.len());
    // The expiries recorded by the second snapshot end the generations of
    // the Events that were live in the first: every revision of such a
    // generation now has the revoke as its deleted_revision.
    for p in &surviving {
        let row = &rows[&(p.key.clone(), p.revision, p.sub)];
        let want = s.ledger.fate(p).deleted_revision.or_else(|| {
            let current = surviving
                .iter()
                .find(|q| q.key == p.key && s.ledger.fate(q).live_at_head)
                .expect("a generation not ended at the first snapshot was live there");
            revoked_at.get(&current.lease).copied()
        });
        assert_eq!(row.deleted_revision, want, "{} @{}", p.key, p.revision);
    }
    let live_in_first: i64 = conn
        .query_row(
            "SELECT live_event_revisions FROM sources WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(live_in_first > 0);
}

/// The sample shipped in fixtures/ (and its compressed and plain copies)
/// matches the ledger written when it was made.
#[test]
fn shipped_sample_matches_its_ledger() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    let ledger = Ledger::load(&root.join("ledger.json"));
    let dir = tempfile::tempdir().unwrap();
    let mut first: Option<BTreeMap<(String, i64, i64), Vec<u8>>> = None;
    for name in [
        "snapshot.db",
        "snapshot.db.zst",
        "snapshot.db.gz",
        "member-snap-db",
    ] {
        let db = dir.path().join(format!("{name}.sqlite"));
        let (code, out) = ingest(&db, &[&root.join(name)]);
        assert_eq!(code, 0, "{name}: {out}");
        let conn = open(&db);
        assert_matches_ledger(&conn, &ledger);
        let raw: BTreeMap<_, _> = event_rows(&conn)
            .into_iter()
            .map(|(k, r)| (k, r.raw))
            .collect();
        match &first {
            None => first = Some(raw),
            Some(f) => assert_eq!(f, &raw, "{name} gives the same rows"),
        }
        let (trailer, compression): (String, Option<String>) = conn
            .query_row("SELECT trailer, compression FROM sources", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        match name {
            "member-snap-db" => assert_eq!(trailer, "absent"),
            _ => assert_eq!(trailer, "verified"),
        }
        assert_eq!(
            compression.as_deref(),
            match name {
                "snapshot.db.zst" => Some("zstd"),
                "snapshot.db.gz" => Some("gzip"),
                _ => None,
            }
        );
    }
}
