//! WAL recovery of an etcd data directory, end to end against a real etcd
//! 3.4. The WAL scenario (tests/common/scenario/wal_history.rs) writes
//! Events as kube-apiserver does and compacts after every chunk, so most of
//! the history is gone from `member/snap/db` and left only in `member/wal`;
//! its ledger is checked against etcd's own watch and range before etcd is
//! stopped cleanly. A copy of the data directory is then ingested:
//!
//! 1. every applied Event put is a row, exactly (key, revisions, bytes,
//!    lease); what the db's tree or free pages hold keeps `tree` /
//!    `free-page`, the rest is `wal` with its raft index, term and
//!    revision basis;
//! 2. no refused proposal is a row (count = applied Event puts);
//! 3. every Event tombstone is in `deletions` with its cause;
//! 4. `wal_replays` counts the failed compares, nothing unresolved;
//! 5. `wal_unresolved_writes` is empty; 6. exit 0.
//!
//! A copy whose WAL ends inside a frame loads with damage (exit 3) and
//! loses no revision the db holds; a flipped byte inside a record is a
//! CRC mismatch in `damaged_records` (exit 3). One etcd run serves all.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use assert_cmd::Command;
use common::etcd::server::EtcdServer;
use common::scenario::b64::base64_of;
use common::scenario::ledger::{DeleteCause, ExpectedPut, Ledger};
use common::scenario::readback::{assert_head_matches, assert_history_matches, HistoryWatch};
use common::scenario::wal_history::write_wal_history;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

const EVENTS_PREFIX: &str = "/registry/events/";

/// (key, mod_revision, sub_revision): one Event revision.
type RevId = (String, i64, i64);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A stopped etcd's data directory held in memory: each file's bytes up to
/// its last non-zero byte, and its length (etcd preallocates WAL segments
/// with zeros; copies get them back as a sparse tail).
struct DirImage {
    files: Vec<(PathBuf, Vec<u8>, u64)>,
}

impl DirImage {
    fn capture(root: &Path) -> DirImage {
        let mut files = Vec::new();
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("reading the data dir") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let mut bytes = std::fs::read(&path).expect("reading a data dir file");
                let len = bytes.len() as u64;
                bytes.truncate(data_end(&bytes));
                let rel = path
                    .strip_prefix(root)
                    .expect("under the root")
                    .to_path_buf();
                files.push((rel, bytes, len));
            }
        }
        DirImage { files }
    }

    fn write_to(&self, root: &Path) {
        for (rel, bytes, len) in &self.files {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("creating a dir");
            std::fs::write(&path, bytes).expect("writing a copy");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .expect("open");
            f.set_len(*len).expect("restoring the zero tail");
        }
    }
}

/// Offset just after the last non-zero byte.
fn data_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)
}

/// The frames of a WAL segment as (offset, record length), etcd's
/// `wal/encoder.go` framing: a little-endian u64 with the record's length
/// in its low 56 bits and, when the top bit is set, the padding to 8 bytes
/// in bits 56..59; the record; the padding. Ends at the zero tail.
fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        if word == 0 {
            break;
        }
        let len = (word & 0x00ff_ffff_ffff_ffff) as usize;
        let pad = if word >> 63 == 1 {
            ((word >> 56) & 0x7) as usize
        } else {
            0
        };
        out.push((at, len));
        at += 8 + len + pad;
    }
    assert!(
        at >= data_end(bytes),
        "the frames end at {at}, before the data does: not etcd's framing"
    );
    out
}

/// A WAL record at least this long is the entry of an Event write (~850
/// bytes here); raft's state records, etcd's own entries and the Pod
/// writes (~300) are shorter.
const LONG_RECORD: usize = 600;

/// `member/wal/*.wal` of a data dir, in order.
fn wal_segments(data_dir: &Path) -> Vec<PathBuf> {
    let wal = data_dir.join("member").join("wal");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&wal)
        .expect("member/wal")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    v.sort();
    v
}

/// Runs `evforensics ingest --db DB SOURCE`: (exit code, stdout + stderr).
fn ingest(db: &Path, source: &Path) -> (i32, String) {
    let out = Command::cargo_bin("evforensics")
        .expect("the evforensics binary")
        .arg("ingest")
        .arg("--db")
        .arg(db)
        .arg(source)
        .timeout(Duration::from_secs(120))
        .output()
        .expect("running evforensics ingest");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "ingest panicked:\n{text}");
    (out.status.code().expect("exit code, not a signal"), text)
}

fn open(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("opening the database")
}

/// An `events` row as any source loads it.
#[derive(Debug)]
struct StoredRow {
    lease: i64,
    /// NULL when the replay could not know the key's generation.
    create_revision: Option<i64>,
    version: Option<i64>,
    raw: Vec<u8>,
    recovered_from: String,
}

fn stored_rows(conn: &Connection) -> BTreeMap<RevId, StoredRow> {
    let mut stmt = conn
        .prepare(
            "SELECT key, mod_revision, sub_revision, lease, raw, recovered_from,
                    create_revision, version FROM events",
        )
        .expect("reading events");
    stmt.query_map([], |r| {
        Ok((
            (r.get(0)?, r.get(1)?, r.get(2)?),
            StoredRow {
                lease: r.get(3)?,
                raw: r.get(4)?,
                recovered_from: r.get(5)?,
                create_revision: r.get(6)?,
                version: r.get(7)?,
            },
        ))
    })
    .expect("events rows")
    .collect::<Result<_, _>>()
    .expect("events row")
}

/// Where a WAL replay put an `events` row: raft index, term, and the
/// revision basis (`None` unless it is text).
type WalPosition = (Option<i64>, Option<i64>, Option<String>);

fn wal_positions(conn: &Connection) -> BTreeMap<RevId, WalPosition> {
    let mut stmt = conn
        .prepare(
            "SELECT key, mod_revision, sub_revision, raft_index, raft_term, revision_basis
             FROM events",
        )
        .unwrap_or_else(|e| {
            panic!("events must have the WAL columns raft_index, raft_term, revision_basis: {e}")
        });
    stmt.query_map([], |r| {
        let basis = match r.get_ref(5)? {
            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
            _ => None,
        };
        Ok((
            (r.get(0)?, r.get(1)?, r.get(2)?),
            (r.get(3)?, r.get(4)?, basis),
        ))
    })
    .expect("events rows")
    .collect::<Result<_, _>>()
    .expect("events row")
}

fn rev_id(p: &ExpectedPut) -> RevId {
    (p.key.clone(), p.revision, p.sub)
}

fn event_puts(ledger: &Ledger) -> Vec<&ExpectedPut> {
    ledger
        .puts
        .iter()
        .filter(|p| p.key.starts_with(EVENTS_PREFIX))
        .collect()
}

/// The scenario's outcome, shared by this file's tests (one etcd run).
struct Recorded {
    ledger: Ledger,
    data_dir: DirImage,
    /// Where `member/snap/db` alone holds each Event revision (`tree`,
    /// `free-page`): what a snapshot ingest of the db file gives.
    db_rows: BTreeMap<RevId, String>,
    /// The db's head revision.
    db_head: i64,
}

fn recorded() -> &'static Recorded {
    static RECORDED: OnceLock<Recorded> = OnceLock::new();
    RECORDED.get_or_init(record)
}

/// Runs the scenario against a fresh etcd, checks its ledger against
/// etcd's watch and range, stops etcd cleanly and keeps its data dir; then
/// loads `member/snap/db` alone to learn what the db holds.
fn record() -> Recorded {
    let server = EtcdServer::start();
    let ledger = rt().block_on(async {
        let client = server.client().await;
        let status = client.clone().status().await.expect("etcd status");
        let first = status.header().expect("header").revision() + 1;
        let watch = HistoryWatch::start(&client, first).await;
        let ledger = write_wal_history(&client).await;
        assert_history_matches(&ledger, &watch.until(ledger.head_revision).await);
        assert_head_matches(&client, &ledger).await;
        ledger
    });
    let stopped = server.stop();
    let status = stopped.exit_status();
    assert!(
        status.success() || status.code().is_none(),
        "etcd did not stop cleanly: {status}"
    );
    let data_dir = DirImage::capture(stopped.data_dir());
    let s = ledger.summary();
    eprintln!(
        "ingest_wal ledger: {} Event puts, {} failed proposals, {} explicit deletes, \
         {} lease deletes ({} by TTL), {} compactions, head {}",
        s.event_puts,
        s.failed_proposals,
        s.explicit_deletes,
        s.expired_by_lease,
        s.expired_by_ttl,
        s.compactions,
        s.head_revision
    );
    let (db_rows, db_head) = what_the_db_holds(&ledger, &data_dir);
    Recorded {
        ledger,
        data_dir,
        db_rows,
        db_head,
    }
}

/// Ingests `member/snap/db` of the data dir alone. Its tree rows must be
/// exactly the ledger's surviving Event puts, its free-page rows compacted
/// ones with their bytes intact; most of the history must be gone from
/// the tree, and some of it from the free pages too (only in the WAL).
fn what_the_db_holds(ledger: &Ledger, image: &DirImage) -> (BTreeMap<RevId, String>, i64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("etcd-data");
    image.write_to(&copy);
    let db = dir.path().join("db-only.sqlite");
    let (code, out) = ingest(&db, &copy.join("member").join("snap").join("db"));
    assert_eq!(code, 0, "ingest of member/snap/db alone exits 0\n{out}");
    let conn = open(&db);
    let (head, compact): (i64, Option<i64>) = conn
        .query_row(
            "SELECT head_revision, compact_revision FROM sources",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the db's source row");
    assert_eq!(
        head, ledger.head_revision,
        "after a clean stop member/snap/db holds the ledger's head revision"
    );
    assert_eq!(
        compact,
        Some(ledger.compact_revision),
        "member/snap/db's compaction is the ledger's last"
    );
    let rows = stored_rows(&conn);
    let puts = event_puts(ledger);
    let mut in_db = 0;
    for p in &puts {
        let survives = ledger.put_survives(p);
        let Some(row) = rows.get(&rev_id(p)) else {
            assert!(!survives, "the db's tree lacks {}@{}", p.key, p.revision);
            continue;
        };
        in_db += 1;
        let want = if survives { "tree" } else { "free-page" };
        assert_eq!(
            row.recovered_from, want,
            "{}@{} in the db",
            p.key, p.revision
        );
        assert!(
            row.raw == p.value,
            "{}@{}: bytes differ in the db",
            p.key,
            p.revision
        );
    }
    assert_eq!(
        rows.len(),
        in_db,
        "the db holds Event revisions the ledger lacks"
    );
    let surviving = puts.iter().filter(|p| ledger.put_survives(p)).count();
    assert!(
        surviving * 2 < puts.len(),
        "most of the history must be gone from the tree: {surviving} of {} Event puts survive",
        puts.len()
    );
    assert!(
        in_db < puts.len(),
        "some Event puts must be left only in the WAL: the db holds all {}",
        puts.len()
    );
    let db_rows = rows
        .into_iter()
        .map(|(id, r)| (id, r.recovered_from))
        .collect();
    (db_rows, head)
}

/// A fresh copy of the recorded data dir, in a temp dir of its own.
fn data_dir_copy(rec: &Recorded) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("etcd-data");
    rec.data_dir.write_to(&copy);
    (dir, copy)
}

/// Contract 1: every applied Event put is a row with its exact key,
/// revisions, bytes and lease. Revisions the db holds keep `tree` /
/// `free-page`; the others are `wal`, with raft index, term and revision
/// basis (text).
fn assert_every_event_put_loaded(conn: &Connection, rec: &Recorded) {
    let rows = stored_rows(conn);
    let positions = wal_positions(conn);
    for p in event_puts(&rec.ledger) {
        let id = rev_id(p);
        let row = rows.get(&id).unwrap_or_else(|| {
            panic!(
                "Event put {}@{}/{} is not in events",
                p.key, p.revision, p.sub
            )
        });
        assert!(
            row.raw == p.value,
            "{}@{}: raw must be the bytes written, {} (got {})",
            p.key,
            p.revision,
            base64_of(&p.value),
            base64_of(&row.raw)
        );
        assert_eq!(row.lease, p.lease, "{}@{}: lease", p.key, p.revision);
        // From an empty store the replay knows every key's generation.
        assert_eq!(
            (row.create_revision, row.version),
            (Some(p.create_revision), Some(p.version)),
            "{}@{}: create revision and version",
            p.key,
            p.revision
        );
        let want = rec.db_rows.get(&id).map_or("wal", String::as_str);
        assert_eq!(
            row.recovered_from, want,
            "{}@{}: recovered_from ('tree'/'free-page' where member/snap/db holds it, else 'wal')",
            p.key, p.revision
        );
        if want == "wal" {
            let (index, term, basis) = &positions[&id];
            assert!(
                index.is_some() && term.is_some() && basis.is_some(),
                "{}@{} from the WAL needs raft_index, raft_term and a text revision_basis: {:?}",
                p.key,
                p.revision,
                (index, term, basis)
            );
        }
    }
}

/// Contract 2: exactly the applied Event puts are rows; a refused
/// proposal's bytes are in no row unless the same bytes were also applied.
fn assert_no_failed_proposal_loaded(conn: &Connection, ledger: &Ledger) {
    let n: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .expect("count events");
    assert_eq!(
        n as usize,
        event_puts(ledger).len(),
        "events holds one row per applied Event put, no refused proposal"
    );
    for f in &ledger.failed {
        if ledger.puts.iter().any(|p| p.value == f.value) {
            continue;
        }
        let hits: i64 = conn
            .query_row(
                "SELECT count(*) FROM events WHERE raw = ?1",
                [&f.value],
                |r| r.get(0),
            )
            .expect("search raw");
        assert_eq!(
            hits, 0,
            "the refused proposal on {} (compare mod_revision == {}) must not be a row",
            f.key, f.compared_mod_revision
        );
    }
}

/// Contract 3: every Event tombstone is in `deletions` with its cause.
fn assert_tombstones_with_cause(conn: &Connection, ledger: &Ledger) {
    let mut stmt = conn
        .prepare("SELECT key, revision, sub_revision, cause FROM deletions")
        .unwrap_or_else(|e| panic!("deletions must have the column cause: {e}"));
    let rows: BTreeMap<RevId, Option<String>> = stmt
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))
        .expect("deletions rows")
        .collect::<Result<_, _>>()
        .expect("deletions row");
    for d in ledger
        .deletes
        .iter()
        .filter(|d| d.key.starts_with(EVENTS_PREFIX))
    {
        let want = match d.cause {
            DeleteCause::Explicit => "delete-range",
            DeleteCause::LeaseRevoked { .. } | DeleteCause::LeaseExpired { .. } => "lease-revoke",
        };
        let cause = rows
            .get(&(d.key.clone(), d.revision, d.sub))
            .unwrap_or_else(|| {
                panic!(
                    "tombstone {}@{}/{} is not in deletions",
                    d.key, d.revision, d.sub
                )
            });
        assert_eq!(
            cause.as_deref(),
            Some(want),
            "tombstone {}@{} ({:?}): cause",
            d.key,
            d.revision,
            d.cause
        );
    }
}

/// Contracts 4 and 5: one replay for the data dir's source, counting the
/// refused compares, nothing unresolved.
fn assert_replay_resolved(conn: &Connection, ledger: &Ledger) {
    let source: i64 = conn
        .query_row(
            "SELECT id FROM sources WHERE kind = 'etcd-data-dir'",
            [],
            |r| r.get(0),
        )
        .expect("one etcd-data-dir source");
    let mut stmt = conn
        .prepare("SELECT source_id, failed_compares, unresolved FROM wal_replays")
        .unwrap_or_else(|e| {
            panic!("table wal_replays (source_id, failed_compares, unresolved): {e}")
        });
    let replays: Vec<(i64, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("wal_replays rows")
        .collect::<Result<_, _>>()
        .expect("wal_replays row");
    // The scenario refuses only Event txns: failed_compares counts them all.
    assert!(ledger
        .failed
        .iter()
        .all(|f| f.key.starts_with(EVENTS_PREFIX)));
    let failed = ledger.failed.len() as i64;
    assert_eq!(
        replays,
        vec![(source, failed, 0)],
        "wal_replays: one row for source {source}, failed_compares {failed}, unresolved 0"
    );
    let unresolved: i64 = conn
        .query_row("SELECT count(*) FROM wal_unresolved_writes", [], |r| {
            r.get(0)
        })
        .unwrap_or_else(|e| panic!("table wal_unresolved_writes: {e}"));
    assert_eq!(
        unresolved, 0,
        "wal_unresolved_writes is empty: history from an empty store is determined"
    );
}

/// Contract 6: every Event row's `live` and `deleted_revision` are what
/// the whole history says (the db's rows take the db's fates, the keys the
/// WAL added to are derived again).
fn assert_fates(conn: &Connection, ledger: &Ledger) {
    let mut stmt = conn
        .prepare("SELECT key, mod_revision, sub_revision, live, deleted_revision FROM events")
        .expect("reading events");
    let rows: BTreeMap<RevId, (bool, Option<i64>)> = stmt
        .query_map([], |r| {
            Ok(((r.get(0)?, r.get(1)?, r.get(2)?), (r.get(3)?, r.get(4)?)))
        })
        .expect("events rows")
        .collect::<Result<_, _>>()
        .expect("events row");
    let mut checked = 0;
    for (p, fate) in ledger.puts.iter().zip(ledger.fates()) {
        if !p.key.starts_with(EVENTS_PREFIX) {
            continue;
        }
        let row = rows
            .get(&rev_id(p))
            .unwrap_or_else(|| panic!("{}@{} is not in events", p.key, p.revision));
        assert_eq!(
            *row,
            (fate.live_at_head, fate.deleted_revision),
            "{}@{}: (live, deleted_revision)",
            p.key,
            p.revision
        );
        checked += 1;
    }
    assert!(checked > 0);
}

/// Every Event put the db's tree holds is still a row.
fn assert_tree_rows_loaded(conn: &Connection, rec: &Recorded) {
    let rows = stored_rows(conn);
    for p in event_puts(&rec.ledger) {
        if rec.db_rows.get(&rev_id(p)).map(String::as_str) == Some("tree") {
            assert!(
                rows.contains_key(&rev_id(p)),
                "{}@{} from the db's tree is not in events",
                p.key,
                p.revision
            );
        }
    }
}

#[test]
fn wal_recovers_the_compacted_history_exactly() {
    let started = std::time::Instant::now();
    let rec = recorded();
    let (dir, copy) = data_dir_copy(rec);
    let db = dir.path().join("case.sqlite");
    let (code, out) = ingest(&db, &copy);
    assert_eq!(code, 0, "ingest of an undamaged data dir exits 0\n{out}");
    let conn = open(&db);
    assert_every_event_put_loaded(&conn, rec);
    assert_no_failed_proposal_loaded(&conn, &rec.ledger);
    assert_tombstones_with_cause(&conn, &rec.ledger);
    assert_replay_resolved(&conn, &rec.ledger);
    assert_fates(&conn, &rec.ledger);
    eprintln!(
        "wal_recovers_the_compacted_history_exactly: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_wal_cut_inside_a_frame_loads_with_damage_and_keeps_every_revision() {
    let rec = recorded();
    let (dir, copy) = data_dir_copy(rec);
    let last = wal_segments(&copy).pop().expect("a WAL segment");
    let mut bytes = std::fs::read(&last).expect("reading the segment");
    // Cut in the middle of the last long record, the entry of the last
    // Event write (what follows are short raft state records): the WAL
    // loses that write, which the db still holds.
    let (start, len) = frames(&bytes)
        .into_iter()
        .rfind(|&(_, l)| l >= LONG_RECORD)
        .expect("a long record");
    let cut = start + 8 + len / 2;
    assert!(cut < data_end(&bytes), "the cut is inside the written data");
    bytes.truncate(cut);
    std::fs::write(&last, &bytes).expect("cutting the segment");

    let db = dir.path().join("case.sqlite");
    let (code, out) = ingest(&db, &copy);
    assert_eq!(
        code, 3,
        "a WAL cut inside a frame loads with damage (exit 3)\n{out}"
    );
    let rows = stored_rows(&open(&db));
    for p in event_puts(&rec.ledger)
        .into_iter()
        .filter(|p| p.revision <= rec.db_head)
    {
        assert!(
            rows.contains_key(&rev_id(p)),
            "{}@{} (≤ the db's head {}) must still be loaded: the db or the WAL before the cut holds it",
            p.key,
            p.revision,
            rec.db_head
        );
    }
}

#[test]
fn a_flipped_byte_in_a_wal_record_is_a_crc_mismatch() {
    let rec = recorded();
    let (dir, copy) = data_dir_copy(rec);
    let first = wal_segments(&copy).remove(0);
    let mut bytes = std::fs::read(&first).expect("reading the segment");
    let end = data_end(&bytes);
    // The first record past the middle of the data that is an Event
    // write's entry (long), flipped in the middle of its payload.
    let (start, len) = frames(&bytes)
        .into_iter()
        .find(|&(s, l)| s + 8 + l > end / 2 && l >= LONG_RECORD)
        .expect("a long record past the middle");
    bytes[start + 8 + len / 2] ^= 0x20;
    // The 64 MB zero tail is not worth hashing again in a debug build.
    bytes.truncate(end + 4096);
    std::fs::write(&first, &bytes).expect("writing the damaged segment");

    let db = dir.path().join("case.sqlite");
    let (code, out) = ingest(&db, &copy);
    assert_eq!(
        code, 3,
        "a damaged WAL record loads with damage (exit 3)\n{out}"
    );
    let conn = open(&db);
    let reasons: Vec<String> = conn
        .prepare("SELECT reason FROM damaged_records")
        .expect("damaged_records")
        .query_map([], |r| r.get(0))
        .expect("damaged_records rows")
        .collect::<Result<_, _>>()
        .expect("damaged_records row");
    assert!(
        reasons.iter().any(|r| r.to_lowercase().contains("crc")),
        "damaged_records must have a row naming the CRC mismatch: {reasons:?}"
    );
    assert_tree_rows_loaded(&conn, rec);
}
