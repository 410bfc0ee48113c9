//! `evforensics … | head`: when the reader of standard output goes away,
//! every command that writes there stops quietly with exit code 141 (what
//! the shell reports for a tool SIGPIPE ended), nothing on stderr.
//!
//! The pipe is closed by this test: either before the command starts (the
//! read end is dropped before the spawn, so the command's first write
//! fails), or after one line of an output far larger than a pipe holds (so
//! a later write must fail). Neither depends on timing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const EVENT: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"AID","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods/web","verb":"get","user":{"username":"alice"},"userAgent":"kubectl/v1.31","sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods","namespace":"shop","name":"web","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-20T09:40:00.000000Z","stageTimestamp":"2026-11-20T09:40:00.100000Z"}"#;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("evforensics")
}

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(p)
}

/// A database of 5,000 audit events: a timeline of some 800 KB.
fn database(dir: &Path) -> PathBuf {
    let log = dir.join("audit.log");
    let text: String = (0..5000)
        .map(|i| EVENT.replace("AID", &format!("a-{i}")) + "\n")
        .collect();
    std::fs::write(&log, text).unwrap();
    let db = dir.join("case.sqlite");
    let status = Command::new(bin())
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(&log)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    db
}

/// Runs `args` with stdout a pipe closed after `lines_read` lines; returns
/// the exit code and what was said on stderr.
fn with_pipe_closed(args: &[&std::ffi::OsStr], lines_read: usize) -> (Option<i32>, String) {
    if lines_read == 0 {
        return with_pipe_closed_before_start(args);
    }
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    for _ in 0..lines_read {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "{args:?}: output ended"
        );
    }
    drop(reader);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The regression: dropping the read end after the spawn let a small
/// output (decode's) reach the pipe first and exit 0. Here the pipe has no
/// reader before the command runs.
fn with_pipe_closed_before_start(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn timeline_query_and_export_stop_quietly_when_the_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let db = db.as_os_str();
    let cases: [&[&str]; 6] = [
        &["timeline"],
        &["timeline", "--format", "csv"],
        &["export", "--format", "es-bulk"],
        &["export", "--format", "otlp-logs"],
        &["query", "--format", "json", "SELECT * FROM audit_events"],
        &["query", "--format", "csv", "SELECT * FROM audit_events"],
    ];
    for args in cases {
        let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        all.push("--db".as_ref());
        all.push(db);
        for lines_read in [0, 1] {
            let (code, stderr) = with_pipe_closed(&all, lines_read);
            assert_eq!(
                code,
                Some(141),
                "{args:?} after {lines_read} lines: {stderr}"
            );
            assert_eq!(stderr, "", "{args:?} after {lines_read} lines");
        }
    }
}

#[test]
fn info_and_decode_stop_quietly_when_the_reader_goes_away() {
    let snapshot = fixture("sample/snapshot.db");
    let value = fixture("third_party/kubernetes-api-testdata/HEAD/core.v1.Event.pb");
    let cases: [Vec<&std::ffi::OsStr>; 2] = [
        vec!["info".as_ref(), snapshot.as_os_str()],
        vec!["decode".as_ref(), value.as_os_str()],
    ];
    for args in cases {
        let (code, stderr) = with_pipe_closed(&args, 0);
        assert_eq!(code, Some(141), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}
