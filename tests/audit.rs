//! Kubernetes audit logs: the third-party samples load with the counts
//! their files hold, damaged lines are reported with file and line, and an
//! audit event is stored once however often it is loaded.

use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use rusqlite::Connection;

fn evforensics() -> Command {
    Command::cargo_bin("evforensics").unwrap()
}

fn third_party(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/third_party")
        .join(p)
}

fn ingest(db: &Path, sources: &[&Path]) -> assert_cmd::assert::Assert {
    evforensics()
        .arg("ingest")
        .arg("--db")
        .arg(db)
        .args(sources)
        .assert()
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// (file name, audit events read, new to the database, damaged records)
/// per source, in load order.
fn per_source(conn: &Connection) -> Vec<(String, i64, i64, i64)> {
    let mut st = conn
        .prepare(
            "SELECT location, audit_events, new_audit_events, damaged_records
             FROM sources WHERE kind = 'audit-log' ORDER BY id",
        )
        .unwrap();
    st.query_map([], |r| {
        let location: String = r.get(0)?;
        let name = Path::new(&location)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        Ok((name, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The Falco traces: 46 files of one event each (one of six), and
/// `fal_01_003.json`, Falco's bad-input test (`{"kind": 0}`), reported at
/// line 1 while the rest loads. Two pairs of files carry the same auditID
/// and stage with an edited user or request object: stored once, the
/// difference reported.
#[test]
fn falco_traces_load_with_their_counts_and_the_malformed_one_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("falco.sqlite");
    let traces = third_party("falco-k8s-audit-traces");
    ingest(&db, &[&traces])
        .code(3)
        .stdout(predicate::str::contains("47 of 47 files loaded, 0 skipped"))
        .stdout(predicate::str::contains(
            "fal_01_003.json:1: not a Kubernetes audit event",
        ));
    let conn = Connection::open(&db).unwrap();
    let sources = per_source(&conn);
    assert_eq!(sources.len(), 47);
    let mut expected = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&traces)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let row = match name.as_str() {
            "create_configmap_sensitive_values.json" => (6, 6, 0),
            "fal_01_003.json" => (0, 0, 1),
            // Same auditID and stage as a file loaded before, edited.
            "create_nginx_pod_privileged_2nd_container.json"
            | "some-user_creates_namespace_foo.json" => (1, 0, 1),
            _ => (1, 1, 0),
        };
        expected.push((name, row.0, row.1, row.2));
    }
    assert_eq!(sources, expected);
    assert_eq!(count(&conn, "SELECT count(*) FROM audit_events"), 49);
    assert_eq!(
        count(&conn, "SELECT sum(audit_events) FROM sources"),
        51,
        "51 events read"
    );

    let (file, line, reason): (String, i64, String) = conn
        .query_row(
            "SELECT file, line, reason FROM damaged_records WHERE file LIKE '%fal_01_003.json'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert!(Path::new(&file).is_absolute(), "{file}");
    assert_eq!(line, 1);
    assert!(reason.contains("without auditID"), "{reason}");
    let conflict: String = conn
        .query_row(
            "SELECT reason FROM damaged_records WHERE file LIKE '%some-user_creates_namespace_foo.json'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        conflict.contains("841d3e6d-90d2-43df-8da4-684738bee3d5")
            && conflict.contains("anonymous_creates_namespace_foo.json:1")
            && conflict.contains("in username"),
        "{conflict}"
    );
    // The first copy is kept.
    let user: String = conn
        .query_row(
            "SELECT username FROM audit_events WHERE audit_id = '841d3e6d-90d2-43df-8da4-684738bee3d5'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(user, "system:anonymous");
    // Older traces without apiVersion (38 read, one pair the same event),
    // v1beta1 (9 read, one pair) and v1 (4) all load.
    let versions: Vec<(Option<String>, i64)> = conn
        .prepare("SELECT api_version, count(*) FROM audit_events GROUP BY 1 ORDER BY 1")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        versions,
        [
            (None, 37),
            (Some("audit.k8s.io/v1".into()), 4),
            (Some("audit.k8s.io/v1beta1".into()), 8)
        ]
    );
}

/// audit2rbac's demo log: 37 v1 lines, every one impersonated, 11 denied;
/// the same log in its v1beta1 form adds nothing.
#[test]
fn audit2rbac_v1_and_v1beta1_logs_hold_the_same_37_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.sqlite");
    ingest(
        &db,
        &[
            &third_party("audit2rbac/demo.log"),
            &third_party("audit2rbac/v1beta1/demo.log"),
        ],
    )
    .code(0)
    .stdout(predicate::str::contains(
        "audit events: 37 read, 37 new to this database",
    ))
    .stdout(predicate::str::contains(
        "audit events: 37 read, 0 new to this database, 37 already loaded",
    ));
    let conn = Connection::open(&db).unwrap();
    assert_eq!(
        per_source(&conn),
        [
            ("demo.log".to_string(), 37, 37, 0),
            ("demo.log".to_string(), 37, 0, 0)
        ]
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM audit_events"), 37);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM audit_events WHERE response_code = 403"
        ),
        11
    );
    assert_eq!(
        count(&conn, "SELECT count(*) FROM audit_denied_requests"),
        11
    );
    let impersonated: Vec<(String, i64)> = conn
        .prepare("SELECT impersonated_user, count(*) FROM audit_events GROUP BY 1 ORDER BY 2 DESC")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        impersonated,
        [
            ("bob".to_string(), 29),
            ("system:serviceaccount:ns1:sa1".to_string(), 5),
            ("alice".to_string(), 3)
        ]
    );
    // The first line, column by column.
    let row: (
        i64,
        String,
        String,
        String,
        String,
        Option<String>,
        String,
        String,
    ) = conn
        .query_row(
            "SELECT line, username, user_groups, source_ips, request_received_timestamp,
                    stage_timestamp, raw, object_resource
             FROM audit_events WHERE audit_id = '033d17af-082d-4b24-aa22-627752e83d71'",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(row.0, 1);
    assert_eq!(row.1, "system:admin");
    let groups: Vec<String> = serde_json::from_str(&row.2).unwrap();
    assert_eq!(groups, ["system:masters", "system:authenticated"]);
    assert_eq!(row.3, r#"["::1"]"#);
    // Only the deprecated `timestamp` (seconds): normalized to microseconds.
    assert_eq!(row.4, "2017-09-11T19:55:05.000000Z");
    assert_eq!(row.5, None);
    let first_line = std::fs::read_to_string(third_party("audit2rbac/demo.log")).unwrap();
    assert_eq!(row.6, first_line.lines().next().unwrap());
    assert_eq!(row.7, "pods");
}

/// AKS: a `{"records": [...]}` envelope of 22 kube-audit records with the
/// event as a string in properties.log; one Event Hubs record (pretty
/// printed, BOM); one pretty-printed event (BOM).
/// The audit2rbac log is v1 written with `timestamp` only (no
/// `stageTimestamp`): every one of its 37 events is a timeline line at its
/// request's time, and a user's lines are what the saved question counts
/// (issue 14: `--user` printed nothing).
#[test]
fn audit_events_without_a_stage_time_are_in_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.sqlite");
    ingest(&db, &[&third_party("audit2rbac/demo.log")]).code(0);
    let timeline = |args: &[&str]| -> Vec<serde_json::Value> {
        let out = evforensics()
            .args(["timeline", "--format", "jsonl", "--db"])
            .arg(&db)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let all = timeline(&[]);
    assert_eq!(all.len(), 37);
    assert!(all
        .iter()
        .all(|l| l["time_from"] == "requestReceivedTimestamp" && l["time"].is_string()));
    let bob = timeline(&["--user", "bob"]);
    assert_eq!(bob.len(), 29);
    let denied = bob.iter().filter(|l| l["denied"] == 1).count();
    let conn = Connection::open(&db).unwrap();
    let refused = count(
        &conn,
        "SELECT count(*) FROM audit_denied_requests WHERE impersonated_user = 'bob'",
    );
    assert_eq!(denied as i64, refused);
    assert!(refused > 0);
}

#[test]
fn aks_wrapped_and_pretty_printed_samples() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("aks.sqlite");
    ingest(&db, &[&third_party("sysdig-aks-audit-log")])
        .code(0)
        .stdout(predicate::str::contains("3 of 3 files loaded, 0 skipped"));
    let conn = Connection::open(&db).unwrap();
    assert_eq!(
        per_source(&conn),
        [
            ("event.json".to_string(), 22, 22, 0),
            ("sample_EventHubs_event.json".to_string(), 1, 1, 0),
            ("sample_KubeAuditLog_event.json".to_string(), 1, 1, 0)
        ]
    );
    let (group, rv, request_kind, line): (String, String, String, i64) = conn
        .query_row(
            "SELECT object_api_group, object_resource_version,
                    json_extract(request_object, '$.kind'), line
             FROM audit_events WHERE audit_id = '71749feb-8e92-43e6-a72f-af6171f811ee'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (group.as_str(), rv.as_str(), request_kind.as_str(), line),
        ("apps", "293957", "ControllerRevision", 1)
    );
    // The string in properties.log is kept exactly as raw.
    let raw: String = conn
        .query_row(
            "SELECT raw FROM audit_events WHERE audit_id = '4e2a4193-cb3d-4ff7-bf37-32c392fbc23b'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        raw.starts_with(r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1""#),
        "{raw}"
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM audit_events
             WHERE request_received_timestamp NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'"
        ),
        0
    );
}

/// AdmissionReviews (kube-audit-rest) are JSON but not audit logs: refused,
/// nothing left behind; in a directory, skipped and said so.
#[test]
fn json_of_other_kinds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.sqlite");
    ingest(&db, &[&third_party("kube-audit-rest/kube-audit-rest.log")])
        .code(1)
        .stderr(predicate::str::contains(
            "not a Kubernetes audit log: it holds admission.k8s.io/v1 AdmissionReview",
        ));
    assert!(!db.exists());
    ingest(
        &db,
        &[
            &third_party("kube-audit-rest"),
            &third_party("audit2rbac/demo.log"),
        ],
    )
    .code(1)
    .stdout(predicate::str::contains("0 of 1 files loaded, 1 skipped"))
    .stdout(
        predicate::str::contains("skipped").and(predicate::str::contains("kube-audit-rest.log")),
    );
    let conn = Connection::open(&db).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM sources"), 1);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// Rotated logs overlap and are out of order; compressed ones too: every
/// (auditID, stage) once. Loading the directory again adds nothing.
#[test]
fn rotated_overlapping_logs_load_each_event_once() {
    let demo = std::fs::read_to_string(third_party("audit2rbac/demo.log")).unwrap();
    let lines: Vec<&str> = demo.lines().collect();
    assert_eq!(lines.len(), 37);
    let slice = |from: usize, to: usize| -> String {
        let mut s: Vec<&str> = lines[from..to].to_vec();
        s.reverse(); // not in time order
        s.join("\n") + "\n"
    };
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("audit");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(logs.join("audit.log"), slice(20, 37)).unwrap();
    std::fs::write(logs.join("audit-2026-11-20T09-40-00.000.log"), slice(0, 25)).unwrap();
    std::fs::write(logs.join("audit.log.1.gz"), gzip(slice(10, 30).as_bytes())).unwrap();
    std::fs::write(
        logs.join("audit.log.2.zst"),
        zstd::encode_all(slice(0, 5).as_bytes(), 3).unwrap(),
    )
    .unwrap();
    // A damaged line in a rotated file: reported, the rest loads.
    std::fs::write(
        logs.join("audit.log.3"),
        format!(
            "{}\n{{\"kind\":\"Event\",\"audit\n{}\n",
            lines[36], lines[35]
        ),
    )
    .unwrap();
    std::fs::write(
        logs.join("NOTES.txt"),
        "collected by the on-call engineer\n",
    )
    .unwrap();

    // The database inside the directory it reads is not read as evidence.
    let db = logs.join("rot.sqlite");
    ingest(&db, &[&logs])
        .code(3)
        .stdout(predicate::str::contains("5 of 6 files loaded, 1 skipped"))
        .stdout(predicate::str::contains("NOTES.txt"))
        .stdout(predicate::str::contains("audit.log.3:2: "));
    let conn = Connection::open(&db).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM audit_events"), 37);
    assert_eq!(
        count(
            &conn,
            "SELECT count(DISTINCT audit_id || stage) FROM audit_events"
        ),
        37
    );
    assert_eq!(
        per_source(&conn),
        [
            ("audit-2026-11-20T09-40-00.000.log".to_string(), 25, 25, 0),
            ("audit.log".to_string(), 17, 12, 0),
            ("audit.log.1.gz".to_string(), 20, 0, 0),
            ("audit.log.2.zst".to_string(), 5, 0, 0),
            ("audit.log.3".to_string(), 2, 0, 1),
        ]
    );
    let (compression, content_sha): (String, String) = conn
        .query_row(
            "SELECT compression, content_sha256 FROM sources WHERE location LIKE '%.gz'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(compression, "gzip");
    use sha2::Digest;
    assert_eq!(
        content_sha,
        evforensics::helpers::hex(&sha2::Sha256::digest(slice(10, 30).as_bytes()))
    );
    let (file, line): (String, i64) = conn
        .query_row("SELECT file, line FROM damaged_records", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(file.ends_with("audit/audit.log.3"), "{file}");
    assert_eq!(line, 2);
    // Where each event was first seen: line numbers are of that file.
    let line_of_first: i64 = conn
        .query_row(
            "SELECT line FROM audit_events WHERE audit_id = '033d17af-082d-4b24-aa22-627752e83d71'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        line_of_first, 25,
        "line 1 of the log is the last of the reversed slice"
    );

    let before = count(&conn, "SELECT count(*) FROM sources");
    drop(conn);
    ingest(&db, &[&logs])
        .code(0)
        .stdout(predicate::str::contains("already loaded").count(5));
    let conn = Connection::open(&db).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM sources"), before);
    assert_eq!(count(&conn, "SELECT count(*) FROM audit_events"), 37);
}

/// One call, a snapshot and an audit log: both load into one database.
#[test]
fn snapshots_and_audit_logs_in_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mix.sqlite");
    let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample/snapshot.db");
    ingest(&db, &[&snapshot, &third_party("audit2rbac/demo.log")]).code(0);
    let conn = Connection::open(&db).unwrap();
    let kinds: Vec<String> = conn
        .prepare("SELECT kind FROM sources ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kinds, ["etcd-snapshot", "audit-log"]);
    assert!(count(&conn, "SELECT count(*) FROM events") > 0);
    assert_eq!(count(&conn, "SELECT count(*) FROM audit_events"), 37);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, evforensics::store::SCHEMA_VERSION);
}

/// The webhook backend's batches: `EventList`s, one per line.
#[test]
fn webhook_event_list_batches() {
    let demo = std::fs::read_to_string(third_party("audit2rbac/demo.log")).unwrap();
    let events: Vec<serde_json::Value> = demo
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let batches: Vec<String> = events
        .chunks(10)
        .map(|items| {
            serde_json::json!({
                "kind": "EventList",
                "apiVersion": "audit.k8s.io/v1",
                "metadata": {},
                "items": items,
            })
            .to_string()
        })
        .collect();
    assert_eq!(batches.len(), 4);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("webhook.log.gz");
    std::fs::write(&log, gzip((batches.join("\n") + "\n").as_bytes())).unwrap();
    let db = dir.path().join("w.sqlite");
    ingest(&db, &[&log])
        .code(0)
        .stdout(predicate::str::contains(
            "audit events: 37 read, 37 new to this database",
        ));
    let conn = Connection::open(&db).unwrap();
    let lines: Vec<(i64, i64)> = conn
        .prepare("SELECT line, count(*) FROM audit_events GROUP BY line ORDER BY line")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(lines, [(1, 10), (2, 10), (3, 10), (4, 7)]);
    // Each row keeps its own event as raw JSON.
    let raw: String = conn
        .query_row(
            "SELECT raw FROM audit_events WHERE audit_id = '033d17af-082d-4b24-aa22-627752e83d71'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(raw, events[0]);
}

/// A database written by evforensics 0.1 (schema version 1): `query` reads
/// it without changing it; `ingest` migrates it to version 2 and loads an
/// audit log into it, keeping what it held.
#[test]
fn a_version_1_database_is_read_then_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v1.sqlite");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA page_size = 16384;").unwrap();
    conn.execute_batch(evforensics::store::schema::SCHEMA_V1)
        .unwrap();
    for create in evforensics::store::schema::QUERY_INDEXES_V1 {
        conn.execute_batch(create).unwrap();
    }
    conn.execute_batch(
        "INSERT INTO sources (kind, location, sha256, size_bytes, trailer, prefix, ingested_at, tool_version)
           VALUES ('etcd-db', '/evidence/db', 'aa', 1, 'absent', '/registry/events/', '2026-11-20T10:00:00.000Z', 'evforensics 0.1.0');
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let before = evforensics::source::input::sha256_file(&db).unwrap();
    evforensics()
        .args(["query", "--format", "csv", "--db"])
        .arg(&db)
        .arg("SELECT kind, location FROM sources")
        .assert()
        .code(0)
        .stdout("kind,location\netcd-db,/evidence/db\n");
    assert_eq!(
        evforensics::source::input::sha256_file(&db).unwrap(),
        before
    );

    ingest(&db, &[&third_party("audit2rbac/demo.log")]).code(0);
    let conn = Connection::open(&db).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, evforensics::store::SCHEMA_VERSION);
    assert_eq!(count(&conn, "SELECT count(*) FROM sources"), 2);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM sources WHERE location = '/evidence/db' AND audit_events = 0"
        ),
        1
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM audit_events"), 37);
}
