//! `evforensics query`: SQL or a saved question, read-only, as a table,
//! CSV or JSON that parse back to what the database holds.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use rusqlite::types::Value;
use rusqlite::Connection;

fn evforensics() -> Command {
    Command::cargo_bin("evforensics").unwrap()
}

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(p)
}

/// A database with the sample snapshot and audit2rbac's demo log.
fn database(dir: &Path) -> PathBuf {
    let db = dir.join("case.sqlite");
    evforensics()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(fixture("sample/snapshot.db"))
        .arg(fixture("third_party/audit2rbac/demo.log"))
        .assert()
        .code(0);
    db
}

fn query(db: &Path, args: &[&str]) -> String {
    let out = evforensics()
        .arg("query")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The rows of `sql` as text, NULL as None, straight from SQLite.
fn direct(db: &Path, sql: &str) -> (Vec<String>, Vec<Vec<Value>>) {
    let conn = Connection::open(db).unwrap();
    let mut st = conn.prepare(sql).unwrap();
    let names = st.column_names().map(|c| c.to_string()).collect();
    let n = st.column_count();
    let rows = st
        .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (names, rows)
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Integer(i) => Some(i.to_string()),
        Value::Real(f) => Some(f.to_string()),
        Value::Text(t) => Some(t.clone()),
        Value::Blob(b) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
    }
}

const SQL: &str = "SELECT audit_id, line, username, impersonated_user, user_groups, response_code,
        response_message, stage_timestamp, raw
    FROM audit_events ORDER BY request_received_timestamp, audit_id";

#[test]
fn csv_output_parses_back_to_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let out = query(&db, &["--format", "csv", SQL]);
    let (names, rows) = direct(&db, SQL);
    assert_eq!(rows.len(), 37);
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, names);
    let parsed: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(parsed.len(), rows.len());
    for (got, want) in parsed.iter().zip(&rows) {
        let want: Vec<String> = want
            .iter()
            .map(|v| as_text(v).unwrap_or_default())
            .collect();
        let got: Vec<String> = got.iter().map(String::from).collect();
        assert_eq!(got, want);
    }
    // Quotes, commas and JSON survive: the raw line is the file's line.
    let raw = &parsed[0][8];
    assert!(serde_json::from_str::<serde_json::Value>(raw).is_ok());
}

#[test]
fn json_output_parses_back_to_the_rows_with_nulls_and_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let out = query(&db, &["--format", "json", SQL]);
    let parsed: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&out).unwrap();
    let (names, rows) = direct(&db, SQL);
    assert_eq!(parsed.len(), rows.len());
    for (got, want) in parsed.iter().zip(&rows) {
        let keys: Vec<&String> = got.keys().collect();
        assert_eq!(keys, names.iter().collect::<Vec<_>>());
        for (name, value) in names.iter().zip(want) {
            let expected = match value {
                Value::Null => serde_json::Value::Null,
                Value::Integer(i) => serde_json::Value::from(*i),
                other => serde_json::Value::String(as_text(other).unwrap()),
            };
            assert_eq!(got[name], expected, "{name}");
        }
    }
    // JSON columns are JSON text, usable as they are.
    let groups: Vec<String> =
        serde_json::from_str(parsed[0]["user_groups"].as_str().unwrap()).unwrap();
    assert!(groups.contains(&"system:authenticated".to_string()));
    assert_eq!(parsed[0]["stage_timestamp"], serde_json::Value::Null);
    // Empty results are an empty array.
    let out = query(
        &db,
        &["--format", "json", "SELECT * FROM audit_events WHERE 0"],
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn table_output_and_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let out = query(
        &db,
        &["SELECT username, count(*) AS n, NULL AS absent FROM audit_events GROUP BY 1"],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["username", "n", "absent"]
    );
    assert!(lines[1].starts_with("------------"), "{out}");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["system:admin", "37", "NULL"]
    );
    assert_eq!(lines[3], "(1 row)");
    // BLOBs (the raw etcd values) print as hex.
    let out = query(
        &db,
        &[
            "--format",
            "csv",
            "SELECT raw FROM events ORDER BY id LIMIT 1",
        ],
    );
    let hex = out.lines().nth(1).unwrap();
    assert!(hex.starts_with("6b387300"), "k8s\\0 envelope: {hex}");
}

#[test]
fn saved_questions_are_listed_and_run_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let list = query(&db, &["--list"]);
    for name in [
        "oom-killed-pods",
        "image-pull-failures",
        "who-deleted-what",
        "denied-requests-by-user",
        "expired-events",
    ] {
        assert!(
            list.lines()
                .any(|l| l.starts_with(name) && l.len() > name.len() + 10),
            "{name} with its description in:\n{list}"
        );
    }
    let by_position = query(&db, &["--format", "json", "denied-requests-by-user"]);
    let by_flag = query(
        &db,
        &["--format", "json", "--name", "denied-requests-by-user"],
    );
    assert_eq!(by_position, by_flag);
    let denied: Vec<serde_json::Value> = serde_json::from_str(&by_flag).unwrap();
    let summary: Vec<(String, i64)> = denied
        .iter()
        .map(|r| {
            (
                r["impersonated_user"].as_str().unwrap().to_string(),
                r["requests"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("bob".to_string(), 4),
            ("system:serviceaccount:ns1:sa1".to_string(), 4),
            ("alice".to_string(), 3)
        ]
    );
    // Every saved question runs against a database holding both kinds.
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap();
        query(&db, &["--format", "csv", name]);
    }
    evforensics()
        .args(["query", "--db"])
        .arg(&db)
        .args(["--name", "no-such-question"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--list"));
}

/// What sqlite3 users type (issue 15): a mistyped saved question is named
/// with the nearest one, empty SQL is said to be empty, `-` reads standard
/// input and an existing FILE.sql is read.
#[test]
fn sql_comes_from_an_argument_a_file_or_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let run = |args: &[&str]| {
        let mut c = evforensics();
        c.arg("query").arg("--db").arg(&db).args(args);
        c
    };
    run(&["who-deleted-wat"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no saved question who-deleted-wat; did you mean who-deleted-what?",
        ))
        .stderr(predicate::str::contains("syntax").not());
    run(&["--name", "oom-kiled-pods"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean oom-killed-pods?"));
    for empty in ["", "   ", "\n-- only a comment\n"] {
        run(&[empty])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("the SQL is empty"));
    }

    let sql = "SELECT count(*) AS n FROM events";
    let expected = query(&db, &["--format", "csv", sql]);
    run(&["--format", "csv", "-"])
        .write_stdin(format!("{sql};\n"))
        .assert()
        .success()
        .stdout(expected.clone());
    run(&["-"])
        .write_stdin("\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the SQL from standard input is empty",
        ));

    let file = dir.path().join("count.sql");
    std::fs::write(&file, format!("-- how many\n{sql}\n")).unwrap();
    run(&["--format", "csv", file.to_str().unwrap()])
        .assert()
        .success()
        .stdout(expected);
    let empty_file = dir.path().join("empty.sql");
    std::fs::write(&empty_file, "").unwrap();
    run(&[empty_file.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is empty"));
    run(&["missing.sql"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.sql: no such file"));
    // A saved question's output is unchanged by the note, which is only
    // for a database without audit events.
    run(&["who-deleted-what"])
        .assert()
        .success()
        .stderr(predicate::str::contains("no audit events").not());
}

/// A saved question over audit data, on a database holding none, says so
/// on stderr besides printing its (empty) result; Event questions do not.
#[test]
fn audit_questions_on_a_database_without_audit_events_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events-only.sqlite");
    evforensics()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(fixture("sample/snapshot.db"))
        .assert()
        .code(0);
    let note = "this database holds no audit events (load an audit log with ingest)";
    for name in [
        "who-deleted-what",
        "secret-access",
        "exec-into-pods",
        "denied-requests-by-user",
    ] {
        evforensics()
            .args(["query", "--db"])
            .arg(&db)
            .arg(name)
            .assert()
            .success()
            .stdout(predicate::str::contains("(0 rows)"))
            .stderr(predicate::str::contains(note));
    }
    evforensics()
        .args(["query", "--db"])
        .arg(&db)
        .arg("oom-killed-pods")
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
}

fn sha256(path: &Path) -> String {
    evforensics::source::input::sha256_file(path).unwrap()
}

/// The database is opened read-only: it is byte-identical after queries,
/// and statements that write are refused.
#[test]
fn queries_never_change_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let before = sha256(&db);
    let modified = std::fs::metadata(&db).unwrap().modified().unwrap();
    query(&db, &["SELECT count(*) FROM events"]);
    query(&db, &["--format", "json", "who-deleted-what"]);
    for write in [
        "DELETE FROM audit_events",
        "UPDATE sources SET location = 'elsewhere'",
        "DROP TABLE event_revisions",
        "DROP VIEW events",
        "PRAGMA user_version = 7",
        "CREATE TABLE notes (x)",
    ] {
        evforensics()
            .args(["query", "--db"])
            .arg(&db)
            .arg(write)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("only statements that read"));
    }
    // A write hidden in a CTE is refused by SQLite's read-only connection.
    evforensics()
        .args(["query", "--db"])
        .arg(&db)
        .arg("WITH x AS (SELECT 1) INSERT INTO damaged_records (source_id, reason) SELECT 1, 'x' FROM x")
        .assert()
        .code(1);
    assert_eq!(sha256(&db), before);
    assert_eq!(
        std::fs::metadata(&db).unwrap().modified().unwrap(),
        modified
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("case.sqlite")]);

    // No database: said so, none created.
    let missing = dir.path().join("missing.sqlite");
    evforensics()
        .args(["query", "--db"])
        .arg(&missing)
        .arg("SELECT 1")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no such database"));
    assert!(!missing.exists());
    // Bad SQL: SQLite's message.
    evforensics()
        .args(["query", "--db"])
        .arg(&db)
        .arg("SELECT nope FROM events")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no such column"));
}

/// sqlite3 reads the database: JSON columns work with its JSON functions,
/// the views and the full-text table are there.
#[test]
fn the_database_reads_well_in_sqlite3() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let out = query(
        &db,
        &[
            "--format",
            "csv",
            "SELECT (SELECT count(*) FROM audit_events, json_each(audit_events.user_groups)),
                    (SELECT count(*) FROM audit_denied_requests),
                    (SELECT count(*) FROM audit_deletions),
                    (SELECT count(*) FROM events_fts WHERE events_fts MATCH 'Pulling')",
        ],
    );
    let values: Vec<i64> = out
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(values[0], 74, "two groups on each of 37 events");
    assert_eq!(values[1], 11);
    assert_eq!(values[2], 0);
    assert!(values[3] > 0);
}

/// A `--db` that is not an evforensics database says what it is, for
/// query and timeline alike: an empty file, an SQLite database without
/// tables, someone else's database (exit 1, nothing written).
#[test]
fn a_db_that_is_not_ours_says_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let empty_file = dir.path().join("empty.sqlite");
    std::fs::File::create(&empty_file).unwrap();
    let no_tables = dir.path().join("no-tables.sqlite");
    Connection::open(&no_tables)
        .unwrap()
        .execute_batch("PRAGMA page_size = 4096; VACUUM;")
        .unwrap();
    assert!(std::fs::metadata(&no_tables).unwrap().len() > 0);
    let foreign = dir.path().join("foreign.sqlite");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE visits (url TEXT)")
        .unwrap();
    let cases = [
        (
            &empty_file,
            "an empty file (0 bytes), not an evforensics database",
        ),
        (
            &no_tables,
            "not an evforensics database: the database is empty (no tables)",
        ),
        (
            &foreign,
            "not an evforensics database: it has tables but no evforensics schema version",
        ),
    ];
    for (db, message) in cases {
        let before = std::fs::read(db).unwrap();
        for args in [&["query", "SELECT 1"][..], &["timeline"][..]] {
            evforensics()
                .args(args)
                .arg("--db")
                .arg(db)
                .assert()
                .code(1)
                .stderr(predicate::str::contains(message))
                .stderr(predicate::str::contains("tables but no schema version").not());
        }
        assert_eq!(std::fs::read(db).unwrap(), before, "{}", db.display());
    }
}
