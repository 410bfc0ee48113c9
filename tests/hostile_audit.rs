//! Hostile audit logs through `evforensics ingest`: a document nested far
//! deeper than any audit event is one damaged record and what follows
//! loads; a compressed log cut short loads what it holds and reports the
//! rest; a first load that fails leaves no temp database behind.

use std::io::Write;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use rusqlite::Connection;

const EVENT: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"AID","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods/web","verb":"delete","user":{"username":"alice"},"objectRef":{"resource":"pods","namespace":"shop","name":"web","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-20T09:40:00.000000Z","stageTimestamp":"2026-11-20T09:40:00.100000Z"}"#;

fn event(id: &str) -> String {
    EVENT.replace("AID", id)
}

fn ingest(db: &Path, source: &Path) -> assert_cmd::assert::Assert {
    Command::cargo_bin("evforensics")
        .unwrap()
        .arg("ingest")
        .arg("--db")
        .arg(db)
        .arg(source)
        .assert()
}

fn audit_ids(db: &Path) -> Vec<String> {
    let conn = Connection::open(db).unwrap();
    let mut st = conn
        .prepare("SELECT audit_id FROM audit_events ORDER BY audit_id")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn damage(db: &Path) -> Vec<(i64, String)> {
    let conn = Connection::open(db).unwrap();
    let mut st = conn
        .prepare("SELECT line, reason FROM damaged_records ORDER BY id")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Files in `dir` other than `keep`: no `.partial` temp database, no journal.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

/// 100,000 levels of brackets, one a line, then an audit event: the load
/// finishes with the event and one damaged record that names the nesting
/// and the lines skipped (exit 3), and nothing but the database is left.
#[test]
fn a_document_nested_100_000_levels_deep_is_skipped_and_the_next_event_loads() {
    let dir = tempfile::tempdir().unwrap();
    let levels = 100_000;
    let mut text = String::with_capacity(4 * levels + EVENT.len());
    for _ in 0..levels {
        text.push_str("[\n");
    }
    for _ in 0..levels {
        text.push_str("]\n");
    }
    text.push_str(&event("after"));
    text.push('\n');
    let log = dir.path().join("deep.log");
    std::fs::write(&log, text).unwrap();
    let db = dir.path().join("case.sqlite");
    ingest(&db, &log)
        .code(3)
        .stdout(predicate::str::contains("nested deeper than 127 levels"));
    assert_eq!(audit_ids(&db), ["after"]);
    assert_eq!(
        damage(&db),
        [(
            1,
            "JSON nested deeper than 127 levels: lines 1-200000 skipped, where its brackets balance"
                .to_string()
        )]
    );
    assert_eq!(
        leftovers(dir.path(), &["deep.log", "case.sqlite"]),
        Vec::<String>::new()
    );
}

/// A first load that fails (a file of only AdmissionReviews, refused)
/// leaves neither the database nor its `.partial` temp file.
#[test]
fn a_failed_first_load_leaves_no_partial_database() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("reviews.log");
    std::fs::write(
        &log,
        "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\",\"request\":{}}\n",
    )
    .unwrap();
    let db = dir.path().join("case.sqlite");
    ingest(&db, &log).code(1);
    assert_eq!(
        leftovers(dir.path(), &["reviews.log"]),
        Vec::<String>::new()
    );
}

fn lines(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| event(&format!("e-{i:04}")) + "\n")
        .collect::<String>()
        .into_bytes()
}

/// A .gz and a .zst cut in half (a rotation caught mid-write): the events
/// before the cut load, the cut is one damaged record after the last line
/// read, and the load ends with exit 3.
#[test]
fn truncated_gz_and_zst_load_what_they_hold_and_report_the_rest() {
    let plain = lines(2000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&plain[..], 3).unwrap();
    for (name, bytes) in [("audit.log.gz", gz), ("audit.log.zst", zst)] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(name);
        std::fs::write(&log, &bytes[..bytes.len() / 2]).unwrap();
        let db = dir.path().join("case.sqlite");
        ingest(&db, &log).code(3);
        let ids = audit_ids(&db);
        assert!(
            !ids.is_empty() && ids.len() < 2000,
            "{name}: {} events",
            ids.len()
        );
        // What loaded is the start of the file, in order.
        let expected: Vec<String> = (0..ids.len()).map(|i| format!("e-{i:04}")).collect();
        assert_eq!(ids, expected, "{name}");
        let damage = damage(&db);
        let last = damage.last().unwrap();
        assert!(
            last.1
                .starts_with(&format!("reading stopped after line {}", last.0 - 1)),
            "{name}: {damage:?}"
        );
        assert!(last.0 as usize >= ids.len(), "{name}: {damage:?}");
        assert_eq!(
            leftovers(dir.path(), &[name, "case.sqlite"]),
            Vec::<String>::new()
        );
    }
}
