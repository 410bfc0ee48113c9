//! CSV injection: text an attacker controls (a user name, a user agent, an
//! object name in an audit log) that starts like a spreadsheet formula is
//! written with a leading `'` by `timeline --format csv` and
//! `query --format csv`; numbers keep their sign, and the JSON formats keep
//! the exact text.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

const USER: &str = "=HYPERLINK(\"http://attacker.example/\",\"x\")";
const AGENT: &str = "@SUM(1+1)*cmd|' /C calc'!A0";
const NAME: &str = "-2+3";

fn evforensics() -> Command {
    Command::cargo_bin("evforensics").unwrap()
}

/// A database of one audit event with hostile user, user agent and name.
fn database(dir: &Path) -> PathBuf {
    let event = serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": "a-1", "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/shop/pods/x", "verb": "delete",
        "user": {"username": USER}, "userAgent": AGENT, "sourceIPs": ["\t10.0.0.1"],
        "objectRef": {"resource": "pods", "namespace": "shop", "name": NAME, "apiVersion": "v1"},
        "responseStatus": {"code": 200},
        "requestReceivedTimestamp": "2026-11-20T09:40:00.000000Z",
        "stageTimestamp": "2026-11-20T09:40:00.100000Z"
    });
    let log = dir.join("audit.log");
    std::fs::write(&log, format!("{event}\n")).unwrap();
    let db = dir.join("case.sqlite");
    evforensics()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(&log)
        .assert()
        .code(0);
    db
}

fn run(db: &Path, args: &[&str]) -> String {
    let out = evforensics()
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The CSV as (column, cell) maps, one a record.
fn records(csv_text: &str) -> Vec<Vec<(String, String)>> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

fn cell<'a>(record: &'a [(String, String)], column: &str) -> &'a str {
    &record.iter().find(|(c, _)| c == column).unwrap().1
}

#[test]
fn timeline_csv_neutralises_formulas_and_jsonl_keeps_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let lines = records(&run(&db, &["timeline", "--format", "csv"]));
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(cell(l, "username"), format!("'{USER}"));
    assert_eq!(cell(l, "user_agent"), format!("'{AGENT}"));
    assert_eq!(cell(l, "object_name"), format!("'{NAME}"));
    assert_eq!(cell(l, "source_ip"), "'\t10.0.0.1");
    assert_eq!(cell(l, "response_code"), "200");
    assert_eq!(cell(l, "verb"), "delete");

    let jsonl = run(&db, &["timeline", "--format", "jsonl"]);
    let line: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(line["username"], USER);
    assert_eq!(line["user_agent"], AGENT);
    assert_eq!(line["object_name"], NAME);
}

#[test]
fn query_csv_neutralises_formula_text_but_not_numbers_and_json_keeps_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let sql = "SELECT username, user_agent, object_name, -5 AS n, -0.5 AS r, '+x' AS p, \
               char(13) || 'y' AS cr, 'a=b' AS plain FROM audit_events";
    let rows = records(&run(&db, &["query", "--format", "csv", sql]));
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(cell(r, "username"), format!("'{USER}"));
    assert_eq!(cell(r, "user_agent"), format!("'{AGENT}"));
    assert_eq!(cell(r, "object_name"), format!("'{NAME}"));
    assert_eq!(cell(r, "n"), "-5");
    assert_eq!(cell(r, "r"), "-0.5");
    assert_eq!(cell(r, "p"), "'+x");
    assert_eq!(cell(r, "cr"), "'\ry");
    assert_eq!(cell(r, "plain"), "a=b");

    let json: Value = serde_json::from_str(&run(&db, &["query", "--format", "json", sql])).unwrap();
    assert_eq!(json[0]["username"], USER);
    assert_eq!(json[0]["user_agent"], AGENT);
    assert_eq!(json[0]["p"], "+x");
    assert_eq!(json[0]["n"], -5);
}
