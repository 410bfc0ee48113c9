//! `evforensics export` on the shipped sample (a real etcd's snapshot) and
//! two real audit logs (Falco's traces), checked by the real consumers'
//! schemas, no mocks: every OTLP line parsed strictly by the official
//! OpenTelemetry protobuf schema (`opentelemetry-proto`, protobuf's
//! `json_format`, unknown fields refused), every es-bulk document field by
//! field against Metricbeat's `kubernetes.event` fields.yml (the copy in
//! fixtures/third_party), the Jaeger file against Jaeger's JSON model; the
//! output of each format against its golden file; the filters against the
//! timeline's.
//!
//! The checkers run in the Python venv `scripts/consumers-venv.sh` makes at
//! target/consumers-venv. Regenerate the golden files after an intended
//! change with `EVF_BLESS=1 cargo test --test export`.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

const FORMATS: [&str; 4] = ["es-bulk", "otlp-logs", "otlp-traces", "jaeger"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn evforensics() -> Command {
    Command::cargo_bin("evforensics").unwrap()
}

/// The consumers' venv, or a failure saying how to make it.
fn python() -> PathBuf {
    let python = root().join("target/consumers-venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/consumers-venv.sh (it makes the Python venv with \
         opentelemetry-proto, protobuf and PyYAML that these tests check exports with)",
        python.display()
    );
    python
}

/// Runs a checker from tests/consumers on a file; its stdout.
fn check(script: &str, args: &[&Path]) -> String {
    let out = Command::new(python())
        .arg(root().join("tests/consumers").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} refused the export:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

struct Case {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    db: PathBuf,
}

/// The sample snapshot and two Falco audit traces (a Deployment created, a
/// Pod attached to), in one database.
fn case() -> Case {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let db = dir.join("case.sqlite");
    let falco = root().join("fixtures/third_party/falco-k8s-audit-traces");
    let out = evforensics()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(root().join("fixtures/sample/snapshot.db"))
        .arg(falco.join("create_deployment.json"))
        .arg(falco.join("attach_pod.json"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Case { _tmp: tmp, dir, db }
}

fn export(case: &Case, format: &str, args: &[&str]) -> PathBuf {
    let path = case
        .dir
        .join(format!("{format}-{}.out", args.join("_").replace('/', "~")));
    let out = evforensics()
        .arg("export")
        .arg("--db")
        .arg(&case.db)
        .args(["--format", format])
        .arg("--out")
        .arg(&path)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// The export with what depends on the checkout made fixed: the paths of
/// the inputs and the tool's version.
fn normalized(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .replace(root().to_str().unwrap(), "$ROOT")
        .replace(
            &format!("\"version\":\"{}\"", env!("CARGO_PKG_VERSION")),
            "\"version\":\"$VERSION\"",
        )
}

fn golden(format: &str, got: &str) {
    let path = root()
        .join("tests/golden/export")
        .join(format!("sample.{format}"));
    if std::env::var_os("EVF_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (EVF_BLESS=1 writes it)", path.display()));
    if want != got {
        let line = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        // Lines can be long (jaeger is one line): from where they differ.
        let (w, g) = (
            want.lines().nth(line).unwrap_or("(end)"),
            got.lines().nth(line).unwrap_or("(end)"),
        );
        let at = w.chars().zip(g.chars()).take_while(|(a, b)| a == b).count();
        let around =
            |l: &str| -> String { l.chars().skip(at.saturating_sub(80)).take(240).collect() };
        panic!(
            "{format} differs from {} at line {}, character {at} (EVF_BLESS=1 rewrites it after an intended change):\n want: …{}…\n  got: …{}…",
            path.display(),
            line + 1,
            around(w),
            around(g)
        );
    }
}

/// Every format: accepted by its consumer's schema, equal to its golden
/// file, the same on a second export (stable ids), and the same on
/// standard output as in a file.
#[test]
fn every_format_is_read_by_its_consumer_and_matches_its_golden_file() {
    let case = case();
    let fields = root().join("fixtures/third_party/metricbeat-kubernetes-event/fields.yml");
    for format in FORMATS {
        let path = export(&case, format, &[]);
        let summary = match format {
            "es-bulk" => check("check_es_bulk.py", &[&fields, &path]),
            "otlp-logs" => check("check_otlp.py", &[Path::new("logs"), &path]),
            "otlp-traces" => check("check_otlp.py", &[Path::new("traces"), &path]),
            _ => check("check_jaeger.py", &[&path]),
        };
        // 29 Event revisions with a time, 2 audit entries; traces: a span
        // per Event revision and per object (11 objects' traces, the
        // Deployment and the Pod of the audit logs two more).
        let want = match format {
            "es-bulk" => r#"{"kubernetes.audit_logs": 2, "kubernetes.event": 29}"#,
            "otlp-logs" => "31",
            "otlp-traces" => "42",
            _ => "13 42",
        };
        assert_eq!(summary, want, "{format}");
        let got = normalized(&path);
        golden(format, &got);
        let again = export(&case, format, &["--namespace", "shop"]);
        // Everything again (the audit logs are of 2019, the sample of 2024).
        let again_all = std::fs::read(export(&case, format, &["--since", "10000d"])).unwrap();
        assert!(
            again_all == std::fs::read(&path).unwrap(),
            "{format}: a second export is the same"
        );
        assert!(std::fs::metadata(again).unwrap().len() > 0);
        let stdout = evforensics()
            .arg("export")
            .arg("--db")
            .arg(&case.db)
            .args(["--format", format, "--out", "-"])
            .output()
            .unwrap();
        assert_eq!(stdout.status.code(), Some(0));
        assert!(
            stdout.stdout == std::fs::read(&path).unwrap(),
            "{format}: --out - writes what a file gets"
        );
    }
}

/// What the provenance says matches the database: the sample's hash, the
/// etcd key and revision of each Event revision.
#[test]
fn every_record_carries_its_provenance() {
    let case = case();
    let path = export(&case, "es-bulk", &[]);
    use sha2::Digest;
    let bytes = std::fs::read(root().join("fixtures/sample/snapshot.db")).unwrap();
    let sha = evforensics::helpers::hex(&sha2::Sha256::digest(&bytes));
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<Value> = text
        .lines()
        .skip(1)
        .step_by(2)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for d in &docs {
        let ev = &d["evforensics"];
        if d["event"]["dataset"] == "kubernetes.event" {
            assert_eq!(ev["source"]["sha256"], sha.as_str());
            let key = ev["etcd"]["key"].as_str().unwrap();
            assert!(key.starts_with("/registry/events/"), "{key}");
            assert_eq!(
                d["kubernetes"]["event"]["metadata"]["resource_version"],
                ev["etcd"]["revision"].to_string().as_str()
            );
            assert_eq!(ev["recovered_from"], "tree");
        } else {
            assert!(ev["source"]["file"].as_str().unwrap().ends_with(".json"));
            assert!(ev["source"]["line"].as_i64().unwrap() >= 1);
        }
    }
}

/// Where a line is: an Event revision's key and revision, an audit
/// entry's file and line.
type Place = (String, i64);

/// `(key, revision)` of each Event line and `(file, line)` of each audit
/// line of `timeline --format jsonl`, in order.
/// The timeline's lines that have a time (a line with none — an Event
/// that did not decode — cannot be placed in an export: it is counted and
/// left out, see `untimed_lines_are_counted_not_exported`).
fn timeline_lines(case: &Case, args: &[&str]) -> Vec<Place> {
    let out = evforensics()
        .arg("timeline")
        .arg("--db")
        .arg(&case.db)
        .args(["--format", "jsonl"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| !v["time"].is_null())
        .map(|v| {
            if v["source"] == "event" {
                (
                    v["key"].as_str().unwrap().to_owned(),
                    v["revision"].as_i64().unwrap(),
                )
            } else {
                (
                    v["file"].as_str().unwrap().to_owned(),
                    v["line"].as_i64().unwrap(),
                )
            }
        })
        .collect()
}

/// The same of each es-bulk document and each OTLP log record.
fn exported_lines(case: &Case, args: &[&str]) -> (Vec<Place>, Vec<Place>) {
    let es = std::fs::read_to_string(export(case, "es-bulk", args)).unwrap();
    let es = es
        .lines()
        .skip(1)
        .step_by(2)
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let e = &v["evforensics"];
            if v["event"]["dataset"] == "kubernetes.event" {
                (
                    e["etcd"]["key"].as_str().unwrap().to_owned(),
                    e["etcd"]["revision"].as_i64().unwrap(),
                )
            } else {
                (
                    e["source"]["file"].as_str().unwrap().to_owned(),
                    e["source"]["line"].as_i64().unwrap(),
                )
            }
        })
        .collect();
    let logs = std::fs::read_to_string(export(case, "otlp-logs", args)).unwrap();
    let mut otlp = Vec::new();
    for line in logs.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        for rl in v["resourceLogs"].as_array().unwrap() {
            let attrs = rl["scopeLogs"][0]["logRecords"][0]["attributes"]
                .as_array()
                .unwrap();
            let get = |k: &str| attrs.iter().find(|a| a["key"] == k).map(|a| &a["value"]);
            otlp.push(match get("evforensics.etcd.key") {
                Some(key) => (
                    key["stringValue"].as_str().unwrap().to_owned(),
                    get("evforensics.etcd.revision").unwrap()["intValue"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap(),
                ),
                None => (
                    get("evforensics.audit.file").unwrap()["stringValue"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    get("evforensics.audit.line").unwrap()["intValue"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap(),
                ),
            });
        }
    }
    (es, otlp)
}

/// Every filter of the timeline selects the same lines, in the same order,
/// in an export.
#[test]
fn filters_select_what_the_timeline_selects() {
    let case = case();
    let filters: &[&[&str]] = &[
        &[],
        &["--namespace", "shop"],
        &["--type", "warning"],
        &["--reason", "BackOff"],
        &["--object", "deploy/shop/web"],
        &["--object", "pod/shop/web-6f7d8c9b54-h7kqz"],
        &[
            "--since",
            "2024-03-14T09:13:00Z",
            "--until",
            "2024-03-14T09:20:00Z",
        ],
        &["--since", "10m"],
        &["--user", "minikube-user"],
        &["--namespace", "shop", "--type", "Normal"],
    ];
    for args in filters {
        let want = timeline_lines(&case, args);
        let (es, otlp) = exported_lines(&case, args);
        assert_eq!(es, want, "es-bulk with {args:?}");
        assert_eq!(otlp, want, "otlp-logs with {args:?}");
    }
    assert!(!timeline_lines(&case, &["--user", "minikube-user"]).is_empty());
    assert!(!timeline_lines(&case, &["--reason", "BackOff"]).is_empty());
}

/// An object the database does not hold is an error, as for the timeline.
#[test]
fn an_unknown_object_is_an_error() {
    let case = case();
    let out = evforensics()
        .arg("export")
        .arg("--db")
        .arg(&case.db)
        .args(["--format", "es-bulk", "--object", "deployment/shop/nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no object deployment/shop/nope"));
}

/// The Metricbeat definitions the es-bulk check reads are the copy whose
/// provenance is recorded.
#[test]
fn the_metricbeat_fields_copy_has_its_provenance() {
    let provenance =
        std::fs::read_to_string(root().join("fixtures/third_party/PROVENANCE.md")).unwrap();
    let bytes =
        std::fs::read(root().join("fixtures/third_party/metricbeat-kubernetes-event/fields.yml"))
            .unwrap();
    use sha2::Digest;
    let sha = evforensics::helpers::hex(&sha2::Sha256::digest(&bytes));
    assert!(
        provenance.contains(&sha),
        "fields.yml's SHA-256 {sha} is not in PROVENANCE.md"
    );
}

/// The sample's two Events that did not decode have no time: the export
/// says it left them out, and how many.
#[test]
fn untimed_lines_are_counted_not_exported() {
    let case = case();
    let out = evforensics()
        .arg("export")
        .arg("--db")
        .arg(&case.db)
        .args(["--format", "es-bulk", "--out"])
        .arg(case.dir.join("untimed.ndjson"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("note: 2 lines have no time"), "{stderr}");
}
