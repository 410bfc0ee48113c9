//! Live ingest (`evforensics ingest --endpoints …`) against a real etcd over
//! TLS with client-certificate auth, as Kubernetes runs it: the rows pulled
//! through the API must equal the rows of a snapshot of the same etcd
//! (`etcdctl snapshot save`). Also: the errors a user meets (wrong CA,
//! missing or foreign client certificate, unreachable endpoint, bad login),
//! writes continuing during the pull, `--save-snapshot`, and the WAL listing
//! of `info` for data directories.
//!
//! Nothing here depends on timing (the suite runs on loaded machines): a
//! test that must act at a point of the pull (compact behind it, write
//! after its head) does so while the pull waits at its test hook
//! (`EVF_TEST_PAUSE_FILE`, see `ingest_live_pausing`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use common::etcd::server::{EtcdOptions, EtcdServer};
use common::scenario::bulk::{write_bulk, BulkOptions};
use common::scenario::ledger::Ledger;
use common::scenario::standard::write_standard_scenario;
use rusqlite::{Connection, OpenFlags};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `evforensics ARGS…` without any ETCDCTL_* variable of the caller.
fn evforensics(args: &[String]) -> (i32, String, String) {
    evforensics_with_env(args, &[])
}

/// [`evforensics`] with the variables `env` set.
fn evforensics_with_env(args: &[String], env: &[(&str, &Path)]) -> (i32, String, String) {
    let mut cmd = Command::cargo_bin("evforensics").unwrap();
    for var in [
        "ETCDCTL_ENDPOINTS",
        "ETCDCTL_CACERT",
        "ETCDCTL_CERT",
        "ETCDCTL_KEY",
        "ETCDCTL_USER",
        "ETCDCTL_PASSWORD",
        "ETCDCTL_DIAL_TIMEOUT",
        "ETCDCTL_COMMAND_TIMEOUT",
        "EVF_TEST_PAUSE_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = cmd
        .args(args)
        .timeout(Duration::from_secs(180))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

fn s(x: impl AsRef<std::ffi::OsStr>) -> String {
    x.as_ref().to_string_lossy().into_owned()
}

fn ingest_live_args(etcd: &EtcdServer, db: &Path, extra: &[String]) -> Vec<String> {
    let mut args = vec![
        "ingest".into(),
        "--db".into(),
        s(db),
        "--endpoints".into(),
        etcd.endpoint(),
    ];
    args.extend(etcd.tls_args());
    args.extend_from_slice(extra);
    args
}

fn ingest_live(etcd: &EtcdServer, db: &Path, extra: &[String]) -> (i32, String, String) {
    evforensics(&ingest_live_args(etcd, db, extra))
}

/// [`ingest_live`], running `at_pause` while the pull waits at its test
/// hook (`EVF_TEST_PAUSE_FILE`: the history read has passed on its first
/// records, after the head was pinned) with the revision read to, then
/// letting the pull go on. No sleeps: the hook's file says where the pull
/// is. Also returns what `at_pause` returned, `None` if the pull never
/// paused.
fn ingest_live_pausing<T: Send>(
    etcd: &EtcdServer,
    db: &Path,
    extra: &[String],
    at_pause: impl FnOnce(i64) -> T + Send,
) -> ((i32, String, String), Option<T>) {
    let dir = tempfile::tempdir().unwrap();
    let pause = dir.path().join("paused");
    let finished = AtomicBool::new(false);
    let args = ingest_live_args(etcd, db, extra);
    std::thread::scope(|scope| {
        let releaser = scope.spawn(|| {
            // Until the pull pauses, or ends without pausing.
            let read_to = loop {
                if let Ok(text) = std::fs::read_to_string(&pause) {
                    break text.trim().parse::<i64>().unwrap();
                }
                if finished.load(Ordering::SeqCst) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            let acted =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| at_pause(read_to)));
            // The pull goes on (and the run ends) even if `at_pause` failed.
            std::fs::remove_file(&pause).unwrap();
            Some(acted.unwrap_or_else(|p| std::panic::resume_unwind(p)))
        });
        let run = evforensics_with_env(&args, &[("EVF_TEST_PAUSE_FILE", &pause)]);
        finished.store(true, Ordering::SeqCst);
        (run, releaser.join().unwrap())
    })
}

fn open(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

type Id = (String, i64, i64);

/// Every column of `events` but `id`, `source_id` and `recovered_from`,
/// for the rows found where `where_` says.
fn event_rows(conn: &Connection, where_: &str) -> BTreeMap<Id, Vec<rusqlite::types::Value>> {
    let cols: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('events')")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .filter(|c| !["id", "source_id", "recovered_from"].contains(&c.as_str()))
        .collect();
    let sql = format!(
        "SELECT key, mod_revision, sub_revision, {} FROM events WHERE {where_}",
        cols.join(", ")
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let n = cols.len();
    stmt.query_map([], |r| {
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            v.push(r.get::<_, rusqlite::types::Value>(3 + i)?);
        }
        Ok(((r.get(0)?, r.get(1)?, r.get(2)?), v))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Tombstones the source holds, as (key, revision, sub).
fn tombstones(conn: &Connection, recovered_from: &str) -> BTreeSet<Id> {
    let mut stmt = conn
        .prepare(
            "SELECT key, revision, sub_revision FROM source_revisions
             WHERE tombstone = 1 AND recovered_from = ?1",
        )
        .unwrap();
    stmt.query_map([recovered_from], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn source_row(conn: &Connection) -> (String, String, String, String, i64, Option<i64>) {
    conn.query_row(
        "SELECT kind, location, sha256, trailer, head_revision, compact_revision FROM sources",
        [],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )
    .unwrap()
}

fn tls_etcd_with_standard_scenario() -> (EtcdServer, Ledger) {
    let etcd = EtcdServer::start_with(EtcdOptions {
        tls: true,
        ..EtcdOptions::default()
    });
    let ledger = rt().block_on(async {
        let client = etcd.client().await;
        write_standard_scenario(&client).await
    });
    (etcd, ledger)
}

/// Puts at or before the compaction revision that share their main
/// revision with another surviving put: the API gives no order for them
/// (see src/source/live/transactions.rs), so their sub revisions are compared as a set.
fn unordered_at_or_before(ledger: &Ledger) -> BTreeSet<(String, i64)> {
    let mut by_rev: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for p in ledger.surviving_puts() {
        if p.revision <= ledger.compact_revision && p.key.starts_with("/registry/events/") {
            by_rev.entry(p.revision).or_default().push(p.key.clone());
        }
    }
    by_rev
        .into_iter()
        .filter(|(_, keys)| keys.len() > 1)
        .flat_map(|(rev, keys)| keys.into_iter().map(move |k| (k, rev)))
        .collect()
}

#[test]
fn live_pull_over_tls_equals_a_snapshot_of_the_same_etcd() {
    let (etcd, ledger) = tls_etcd_with_standard_scenario();
    let dir = tempfile::tempdir().unwrap();
    let live_db = dir.path().join("live.sqlite");
    let (code, out, err) = ingest_live(&etcd, &live_db, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("etcd-live"), "{out}");

    let snap = dir.path().join("snapshot.db");
    etcd.snapshot(&snap);
    let snap_db = dir.path().join("snap.sqlite");
    let (code, out, err) = evforensics(&["ingest".into(), "--db".into(), s(&snap_db), s(&snap)]);
    assert_eq!(code, 0, "{out}\n{err}");

    let l = open(&live_db);
    let sn = open(&snap_db);
    let (kind, location, sha, trailer, head, compact) = source_row(&l);
    assert_eq!(kind, "etcd-live");
    assert_eq!(location, etcd.endpoint());
    assert_eq!(sha.len(), 64);
    assert_eq!(trailer, "absent");
    assert_eq!(head, ledger.head_revision);
    assert_eq!(compact, Some(ledger.compact_revision));
    assert!(compact > Some(0), "the scenario compacts");
    let (_, _, _, _, snap_head, snap_compact) = source_row(&sn);
    assert_eq!((head, compact), (snap_head, snap_compact));

    let recovered: BTreeSet<String> = l
        .prepare("SELECT DISTINCT recovered_from FROM events")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(recovered, BTreeSet::from(["live".to_string()]));

    // The same Event revisions, with every column equal (liveness, deletion
    // revision, decoded fields, object JSON, raw bytes).
    let live_rows = event_rows(&l, "1");
    let snap_rows = event_rows(&sn, "recovered_from = 'tree'");
    let unordered = unordered_at_or_before(&ledger);
    let strip = |rows: &BTreeMap<Id, Vec<rusqlite::types::Value>>| {
        let mut ordered = BTreeMap::new();
        let mut loose: BTreeMap<(String, i64), Vec<Vec<rusqlite::types::Value>>> = BTreeMap::new();
        for ((k, rev, sub), v) in rows {
            if unordered.contains(&(k.clone(), *rev)) {
                loose.entry((k.clone(), *rev)).or_default().push(v.clone());
            } else {
                ordered.insert((k.clone(), *rev, *sub), v.clone());
            }
        }
        (ordered, loose)
    };
    let (lo, ll) = strip(&live_rows);
    let (so, sl) = strip(&snap_rows);
    assert_eq!(lo.len(), so.len(), "same number of revisions");
    for (id, v) in &so {
        let got = lo
            .get(id)
            .unwrap_or_else(|| panic!("live pull lacks {id:?}"));
        assert_eq!(got, v, "row {id:?} differs");
    }
    assert_eq!(lo.keys().collect::<Vec<_>>(), so.keys().collect::<Vec<_>>());
    assert_eq!(ll.len(), sl.len());
    for (id, rows) in &sl {
        let strip_sub = |rows: &Vec<Vec<rusqlite::types::Value>>| {
            // Columns 0..3 are key, mod_revision, sub_revision.
            let mut r: Vec<_> = rows.iter().map(|v| format!("{:?}", &v[3..])).collect();
            r.sort();
            r
        };
        assert_eq!(strip_sub(&ll[id]), strip_sub(rows), "{id:?}");
    }

    // The same tombstones.
    assert_eq!(tombstones(&l, "live"), tombstones(&sn, "tree"));
    let counts = |c: &Connection| -> (i64, i64, i64) {
        c.query_row(
            "SELECT event_revisions, live_event_revisions, tombstones - free_page_tombstones FROM sources",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    let (le, ll_, lt) = counts(&l);
    let (_, sl_, st) = counts(&sn);
    assert_eq!((ll_, lt), (sl_, st));
    assert_eq!(le as usize, live_rows.len());

    // Pulling again from the unchanged etcd adds nothing.
    let (code, out, err) = ingest_live(&etcd, &live_db, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("nothing added"), "{out}");
}

#[test]
fn tls_and_connection_errors_say_what_was_wrong() {
    let etcd = EtcdServer::start_with(EtcdOptions {
        tls: true,
        ..EtcdOptions::default()
    });
    let tls = etcd.tls().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.sqlite");
    let run = |extra: Vec<String>| {
        let mut args = vec![
            "ingest".into(),
            "--db".into(),
            s(&db),
            "--endpoints".into(),
            etcd.endpoint(),
            "--dial-timeout".into(),
            "3s".into(),
        ];
        args.extend(extra);
        evforensics(&args)
    };
    let flags = |ca: &Path, cert: Option<(&Path, &Path)>| {
        let mut v = vec!["--cacert".into(), s(ca)];
        if let Some((c, k)) = cert {
            v.extend(["--cert".into(), s(c), "--key".into(), s(k)]);
        }
        v
    };

    // Wrong CA: the server's certificate is not signed by it.
    let (code, _, err) = run(flags(
        &tls.other_ca,
        Some((&tls.client_cert, &tls.client_key)),
    ));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not signed by the CA in --cacert"), "{err}");
    assert!(err.contains("other-ca.crt"), "{err}");

    // No client certificate: etcd requires one.
    let (code, _, err) = run(flags(&tls.ca, None));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("requires a client certificate"), "{err}");

    // A client certificate from another CA.
    let (code, _, err) = run(flags(
        &tls.ca,
        Some((&tls.foreign_client_cert, &tls.foreign_client_key)),
    ));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("rejected the client certificate"), "{err}");
    assert!(err.contains("foreign-client.crt"), "{err}");

    // A file that is not there, or not a certificate.
    let (code, _, err) = run(flags(&dir.path().join("nope.crt"), None));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--cacert") && err.contains("nope.crt"),
        "{err}"
    );
    let (code, _, err) = run(flags(&tls.client_key, None));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no PEM certificate"), "{err}");

    // Plain http to a TLS port.
    let (code, _, err) = evforensics(&[
        "ingest".into(),
        "--db".into(),
        s(&db),
        "--endpoints".into(),
        etcd.endpoint().replace("https://", "http://"),
        "--command-timeout".into(),
        "3s".into(),
    ]);
    assert_eq!(code, 1, "{err}");

    // Nothing listening.
    let port = common::etcd::server::free_port();
    let (code, _, err) = evforensics(&[
        "ingest".into(),
        "--db".into(),
        s(&db),
        "--endpoints".into(),
        format!("127.0.0.1:{port}"),
        "--dial-timeout".into(),
        "1s".into(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach etcd"), "{err}");
    assert!(err.contains(&port.to_string()), "{err}");

    // No database is left behind by failed runs.
    assert!(!db.exists());

    // Several endpoints, one of them down: the others serve the pull.
    let good = dir.path().join("good.sqlite");
    let mut args = vec![
        "ingest".into(),
        "--db".into(),
        s(&good),
        "--endpoints".into(),
        format!("https://127.0.0.1:{port},{}", etcd.endpoint()),
        "--dial-timeout".into(),
        "1s".into(),
    ];
    args.extend(etcd.tls_args());
    let (code, out, err) = evforensics(&args);
    assert_eq!(code, 0, "{out}\n{err}");

    // Usage errors.
    let (code, _, err) = evforensics(&[
        "ingest".into(),
        "--db".into(),
        s(&db),
        "--endpoints".into(),
        etcd.endpoint(),
        s(&tls.ca),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not both"), "{err}");
    let (code, _, err) = evforensics(&["ingest".into(), "--db".into(), s(&db)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--endpoints"), "{err}");
    let (code, _, err) = evforensics(&[
        "ingest".into(),
        "--endpoints".into(),
        etcd.endpoint(),
        "--cert".into(),
        s(&tls.client_cert),
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn login_errors_and_password_from_the_environment() {
    let etcd = EtcdServer::start();
    rt().block_on(async {
        let client = etcd.client().await;
        write_standard_scenario(&client).await;
    });
    etcd.etcdctl(&["user", "add", "root:s3cret-pw"]);
    etcd.etcdctl(&["auth", "enable"]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.sqlite");
    let (code, out, err) = ingest_live(
        &etcd,
        &db,
        &[
            "--user".into(),
            "root".into(),
            "--password".into(),
            "wrong".into(),
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("refused the login"), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");

    let mut cmd = Command::cargo_bin("evforensics").unwrap();
    let out = cmd
        .env_remove("ETCDCTL_ENDPOINTS")
        .env("ETCDCTL_USER", "root")
        .env("ETCDCTL_PASSWORD", "s3cret-pw")
        .args(["ingest", "--db"])
        .arg(&db)
        .args(["--endpoints", &etcd.endpoint()])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("s3cret-pw"), "the password is never echoed");
    // The help shows no environment values of secrets.
    let help = Command::cargo_bin("evforensics")
        .unwrap()
        .env("ETCDCTL_PASSWORD", "s3cret-pw")
        .args(["ingest", "--help"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("s3cret-pw"));
}

/// Writes keep arriving while the pull runs: the rows are exactly the
/// history up to the pinned head, nothing newer, and the check at the head
/// finds no mismatch.
#[test]
fn writes_during_the_pull_do_not_mix_two_points_in_time() {
    let etcd = EtcdServer::start();
    let runtime = rt();
    runtime.block_on(async {
        let client = etcd.client().await;
        write_bulk(
            &client,
            4000,
            &BulkOptions {
                concurrency: 64,
                ..Default::default()
            },
        )
        .await;
    });
    let stop = Arc::new(AtomicBool::new(false));
    // Writes done (each one answered).
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written) = (stop.clone(), written.clone());
        let endpoint = etcd.endpoint();
        std::thread::spawn(move || {
            let rt = rt();
            rt.block_on(async {
                let mut client = etcd_client::Client::connect([endpoint], None)
                    .await
                    .unwrap();
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let key = format!("/registry/events/during/ev-{}", n % 50);
                    if n % 7 == 6 {
                        client.delete(key, None).await.unwrap();
                    } else {
                        client.put(key, format!("value {n}"), None).await.unwrap();
                    }
                    n += 1;
                    written.store(n, Ordering::SeqCst);
                }
            })
        })
    };
    // Waits (no sleep decides anything: a poll, bounded) until the writer
    // has done `n` writes.
    let wait_for_writes = |n: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while written.load(Ordering::SeqCst) < n {
            assert!(std::time::Instant::now() < deadline, "the writer is stuck");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for_writes(20);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("during.sqlite");
    // While the pull is paused after pinning its head, the writer goes on:
    // the second write answered after the pause began started after the
    // head was pinned (writes are one at a time).
    let ((code, out, err), paused) =
        ingest_live_pausing(&etcd, &db, &["--page-size".into(), "50".into()], |_| {
            wait_for_writes(written.load(Ordering::SeqCst) + 20)
        });
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(paused.is_some(), "the pull paused at its test hook");

    let snap = dir.path().join("after.db");
    etcd.snapshot(&snap);
    let snap_db = dir.path().join("after.sqlite");
    let (code, out, err) = evforensics(&["ingest".into(), "--db".into(), s(&snap_db), s(&snap)]);
    assert_eq!(code, 0, "{out}\n{err}");

    let l = open(&db);
    let (_, _, _, _, head, _) = source_row(&l);
    let sn = open(&snap_db);
    let (_, _, _, _, snap_head, _) = source_row(&sn);
    assert!(snap_head > head, "writes continued after the pinned head");
    let ids = |c: &Connection, sql: &str| -> BTreeSet<Id> {
        c.prepare(sql)
            .unwrap()
            .query_map([head], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let live_ids = ids(
        &l,
        "SELECT key, mod_revision, sub_revision FROM events WHERE mod_revision <= ?1",
    );
    let all_live: i64 = l
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(all_live as usize, live_ids.len(), "nothing after the head");
    let snap_ids = ids(
        &sn,
        "SELECT key, mod_revision, sub_revision FROM events
         WHERE mod_revision <= ?1 AND recovered_from = 'tree'",
    );
    assert_eq!(live_ids, snap_ids);
    let snap_tombs: BTreeSet<Id> = tombstones(&sn, "tree")
        .into_iter()
        .filter(|t| t.1 <= head)
        .collect();
    assert_eq!(tombstones(&l, "live"), snap_tombs);
    // Rows live at the pinned head: each key's newest revision up to it.
    let live_at_head: i64 = l
        .query_row("SELECT live_event_revisions FROM sources", [], |r| r.get(0))
        .unwrap();
    let keys_at_head = runtime.block_on(async {
        let mut client = etcd.client().await;
        client
            .get(
                "/registry/events/",
                Some(
                    etcd_client::GetOptions::new()
                        .with_prefix()
                        .with_revision(head)
                        .with_count_only(),
                ),
            )
            .await
            .unwrap()
            .count()
    });
    assert_eq!(live_at_head, keys_at_head);
}

/// `--save-snapshot` streams a snapshot first (its SHA-256 recorded), then
/// loads that file; the file is never overwritten.
#[test]
fn save_snapshot_then_load_it() {
    let (etcd, ledger) = tls_etcd_with_standard_scenario();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evidence.db");
    let db = dir.path().join("saved.sqlite");
    let (code, out, err) = ingest_live(&etcd, &db, &["--save-snapshot".into(), s(&file)]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(file.is_file());
    let sha = evforensics::source::input::sha256_file(&file).unwrap();
    assert!(out.contains(&sha), "{out}");
    let c = open(&db);
    let (kind, location, db_sha, trailer, head, _) = source_row(&c);
    assert_eq!(kind, "etcd-snapshot");
    assert_eq!(trailer, "verified");
    assert_eq!(db_sha, sha);
    assert_eq!(
        location,
        std::path::absolute(&file).unwrap().display().to_string()
    );
    assert_eq!(head, ledger.head_revision);
    // Refuses to overwrite evidence.
    let (code, _, err) = ingest_live(&etcd, &db, &["--save-snapshot".into(), s(&file)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("exists"), "{err}");
}

/// A data directory loads its `member/snap/db`; `info` lists the WAL files.
#[test]
fn info_lists_the_wal_files_of_a_data_directory() {
    let etcd = EtcdServer::start();
    etcd.etcdctl(&["put", "/registry/events/default/x.1", "v"]);
    let stopped = etcd.stop();
    let (code, out, err) = evforensics(&["info".into(), s(stopped.data_dir())]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("wal files:"), "{out}");
    let wal_dir = stopped.data_dir().join("member/wal");
    for entry in std::fs::read_dir(&wal_dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".wal") {
            let size = entry.metadata().unwrap().len();
            assert!(out.contains(&name), "{out}");
            assert!(out.contains(&format!("{size} bytes")), "{out}");
        }
    }
}

/// An idle cluster compacted at its head revision: only the values at the
/// head remain, and the pull gives exactly what a snapshot holds.
#[test]
fn compaction_at_the_head_revision() {
    let etcd = EtcdServer::start();
    for (k, v) in [("a.1", "x"), ("b.1", "y"), ("a.1", "x2"), ("c.1", "z")] {
        etcd.etcdctl(&["put", &format!("/registry/events/default/{k}"), v]);
    }
    etcd.etcdctl(&["del", "/registry/events/default/b.1"]);
    let out = etcd.etcdctl(&["put", "/registry/pods/default/p", "pod"]);
    assert!(out.status.success());
    let head = 7; // six writes after revision 1
    etcd.etcdctl(&["compact", &head.to_string(), "--physical"]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.sqlite");
    let (code, out, err) = ingest_live(&etcd, &db, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let snap = dir.path().join("c.db");
    etcd.snapshot(&snap);
    let snap_db = dir.path().join("cs.sqlite");
    let (code, out, err) = evforensics(&["ingest".into(), "--db".into(), s(&snap_db), s(&snap)]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (l, sn) = (open(&db), open(&snap_db));
    let (_, _, _, _, lh, lc) = source_row(&l);
    assert_eq!((lh, lc), (head, Some(head)));
    assert_eq!(
        event_rows(&l, "1"),
        event_rows(&sn, "recovered_from = 'tree'")
    );
    assert_eq!(event_rows(&l, "1").len(), 2);
    assert_eq!(tombstones(&l, "live"), tombstones(&sn, "tree"));
}

/// A compaction that overtakes the history read: the pull resumes from the
/// new compaction revision, reports what was lost (exit code 3, a
/// `damaged_records` row), and still holds everything a snapshot taken
/// afterwards holds. The compaction happens while the pull waits at its
/// test hook, so it overtakes the history read on every run.
#[test]
fn a_compaction_overtaking_the_pull_is_survived_and_reported() {
    let etcd = EtcdServer::start();
    let runtime = rt();
    let bulk = runtime.block_on(async {
        let client = etcd.client().await;
        write_bulk(
            &client,
            6_000,
            &BulkOptions {
                concurrency: 128,
                ..Default::default()
            },
        )
        .await
    });
    let compact_at = bulk.head_revision - 2000;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.sqlite");
    // One watcher: its first answer holds at most 1000 revisions, so the
    // pull pauses (its test hook) having read far less than `compact_at`,
    // and the compaction then overtakes it, whatever the machine's speed.
    let ((code, out, err), paused) =
        ingest_live_pausing(&etcd, &db, &["--watchers".into(), "1".into()], |read_to| {
            runtime.block_on(async {
                let mut client = etcd.client().await;
                client
                    .compact(
                        compact_at,
                        Some(etcd_client::CompactionOptions::new().with_physical()),
                    )
                    .await
                    .unwrap();
            });
            read_to
        });
    let read_to = paused.expect("the pull paused at its test hook");
    assert!(read_to > 0 && read_to < compact_at, "paused at {read_to}");
    assert_eq!(code, 3, "{out}\n{err}");
    let l = open(&db);
    let reason: String = l
        .query_row("SELECT reason FROM damaged_records", [], |r| r.get(0))
        .unwrap();
    assert!(
        reason.contains(&format!("compaction to revision {compact_at} overtook")),
        "{reason}"
    );
    let (_, _, _, _, head, compact) = source_row(&l);
    assert_eq!(head, bulk.head_revision);
    assert_eq!(compact, Some(compact_at));

    let snap = dir.path().join("o.db");
    etcd.snapshot(&snap);
    let snap_db = dir.path().join("os.sqlite");
    let (code, out, err) = evforensics(&["ingest".into(), "--db".into(), s(&snap_db), s(&snap)]);
    assert_eq!(code, 0, "{out}\n{err}");
    let sn = open(&snap_db);
    let live_rows = event_rows(&l, "1");
    let snap_rows = event_rows(&sn, "recovered_from = 'tree'");
    for id in snap_rows.keys() {
        assert!(live_rows.contains_key(id), "live pull lacks {id:?}");
    }
    assert!(
        live_rows.len() > snap_rows.len(),
        "history read before the compaction is kept"
    );
}

/// The history is read by watchers over disjoint key ranges. Multi-key
/// transactions (after the compaction, so read by the watch) whose changes
/// fall in different ranges, in an order that is not key order, or that
/// also change a key outside the prefix, still get etcd's sub revisions;
/// the pull equals a snapshot, and its hash does not depend on how many
/// ranges read it.
#[test]
fn multi_key_transactions_across_key_ranges_keep_their_sub_revisions() {
    use etcd_client::{Txn, TxnOp};
    let etcd = EtcdServer::start();
    let runtime = rt();
    let ev = |ns: usize, name: &str| format!("/registry/events/ns-{ns:02}/{name}");
    runtime.block_on(async {
        let mut client = etcd.client().await;
        for i in 0..60 {
            client
                .put(ev(i, "ev"), format!("v0 {i}"), None)
                .await
                .unwrap();
        }
        let head = client
            .get("x", None)
            .await
            .unwrap()
            .header()
            .unwrap()
            .revision();
        client.compact(head - 10, None).await.unwrap();
        let txns: Vec<Vec<TxnOp>> = vec![
            // Three ranges, in an order that is not key order.
            vec![
                TxnOp::put(ev(55, "tx"), "a", None),
                TxnOp::put(ev(3, "tx"), "b", None),
                TxnOp::put(ev(30, "tx"), "c", None),
            ],
            // A key outside the prefix first, then two in one range.
            vec![
                TxnOp::put("/registry/pods/ns-10/p", "pod", None),
                TxnOp::put(ev(10, "tx2"), "d", None),
                TxnOp::put(ev(10, "tx1"), "e", None),
            ],
            // A deletion and a put in different ranges.
            vec![
                TxnOp::delete(ev(40, "ev"), None),
                TxnOp::put(ev(20, "ev"), "v1", None),
            ],
        ];
        for ops in txns {
            client.txn(Txn::new().and_then(ops)).await.unwrap();
        }
        for i in (0..60).step_by(7) {
            client
                .put(ev(i, "ev"), format!("v2 {i}"), None)
                .await
                .unwrap();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snapshot.db");
    etcd.snapshot(&snap);
    let snap_db = dir.path().join("snap.sqlite");
    let (code, out, err) = evforensics(&["ingest".into(), "--db".into(), s(&snap_db), s(&snap)]);
    assert_eq!(code, 0, "{out}\n{err}");
    let sn = open(&snap_db);
    let ids = |c: &Connection| -> BTreeSet<Id> {
        c.prepare("SELECT key, mod_revision, sub_revision FROM events")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let subs: BTreeSet<(String, i64)> = ids(&sn)
        .into_iter()
        .filter(|(_, _, sub)| *sub > 0)
        .map(|(k, _, sub)| (k, sub))
        .collect();
    assert_eq!(
        subs,
        BTreeSet::from([
            (ev(3, "tx"), 1),
            (ev(30, "tx"), 2),
            (ev(10, "tx2"), 1),
            (ev(10, "tx1"), 2),
            (ev(20, "ev"), 1),
        ]),
        "the snapshot holds the transactions' sub revisions"
    );
    let mut hashes = BTreeSet::new();
    // With no memory for what ranges read ahead, all of it waits in the
    // temp file.
    for (watchers, memory) in [("8", "64"), ("8", "0"), ("1", "64")] {
        let db = dir.path().join(format!("live-{watchers}-{memory}.sqlite"));
        let args = [
            "--watchers".into(),
            watchers.into(),
            "--read-ahead-memory".into(),
            memory.into(),
        ];
        let (code, out, err) = ingest_live(&etcd, &db, &args);
        assert_eq!(code, 0, "--watchers {watchers}\n{out}\n{err}");
        let l = open(&db);
        assert_eq!(
            ids(&l),
            ids(&sn),
            "--watchers {watchers} --read-ahead-memory {memory}"
        );
        assert_eq!(tombstones(&l, "live"), tombstones(&sn, "tree"));
        hashes.insert(source_row(&l).2);
    }
    assert_eq!(hashes.len(), 1, "one record stream, however it was read");
}
