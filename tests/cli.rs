//! The command line as a user meets it: help, decode, errors on bad inputs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn evforensics() -> Command {
    Command::cargo_bin("evforensics").unwrap()
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/third_party/kubernetes-api-testdata")
}

#[test]
fn help_names_the_commands_and_exit_codes() {
    evforensics()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("ingest"))
        .stdout(predicate::str::contains("info"))
        .stdout(predicate::str::contains("decode"))
        .stdout(predicate::str::contains("query"))
        .stdout(predicate::str::contains("Exit codes"));
    evforensics()
        .args(["query", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--format"))
        .stdout(predicate::str::contains("--list"));
    evforensics()
        .args(["ingest", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--prefix"))
        .stdout(predicate::str::contains("--db"))
        .stdout(predicate::str::contains("--endpoints"))
        .stdout(predicate::str::contains("--save-snapshot"));
    evforensics().arg("frobnicate").assert().code(2);
}

/// `evforensics decode FILE` prints, for every Kubernetes round-trip fixture
/// of an Event, JSON equal to the fixture's `.json`.
#[test]
fn decode_reproduces_every_kubernetes_event_fixture() {
    let mut checked = 0;
    let mut versions: Vec<_> = std::fs::read_dir(testdata())
        .expect("fixtures/third_party/kubernetes-api-testdata")
        .map(|e| e.unwrap().path())
        .collect();
    versions.sort();
    for dir in versions {
        for name in [
            "core.v1.Event",
            "events.k8s.io.v1.Event",
            "events.k8s.io.v1beta1.Event",
        ] {
            let pb = dir.join(format!("{name}.pb"));
            if !pb.exists() {
                continue;
            }
            let expected: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap())
                    .unwrap();
            let out = evforensics().arg("decode").arg(&pb).output().unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                pb.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(got, expected, "{}", pb.display());
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} fixtures found");
}

#[test]
fn decode_reads_standard_input_and_sets_the_revision() {
    let pb = std::fs::read(testdata().join("HEAD/core.v1.Event.pb")).unwrap();
    let out = evforensics()
        .args(["decode", "-", "--revision", "4242"])
        .write_stdin(pb)
        .output()
        .unwrap();
    assert!(out.status.success());
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["metadata"]["resourceVersion"], "4242");
}

/// `etcdctl get --print-value-only` writes the value and one newline;
/// `decode` reads that as the value (issue 15).
#[test]
fn decode_accepts_what_etcdctl_print_value_only_writes() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["core.v1.Event", "events.k8s.io.v1.Event"] {
        let pb = std::fs::read(testdata().join(format!("HEAD/{name}.pb"))).unwrap();
        let expected: serde_json::Value = serde_json::from_slice(
            &std::fs::read(testdata().join(format!("HEAD/{name}.json"))).unwrap(),
        )
        .unwrap();
        let value = dir.path().join("value.bin");
        std::fs::write(&value, [pb.as_slice(), b"\n"].concat()).unwrap();
        let out = evforensics().arg("decode").arg(&value).output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got, expected, "{name}");
        // Two newlines are not what etcdctl writes: the value is damaged.
        evforensics()
            .arg("decode")
            .write_stdin([pb.as_slice(), b"\n\n"].concat())
            .assert()
            .code(1)
            .stderr(predicate::str::contains("truncated"));
    }
    let json = std::fs::read(testdata().join("HEAD/core.v1.Event.json")).unwrap();
    evforensics()
        .arg("decode")
        .write_stdin([json.trim_ascii_end(), b"\n"].concat())
        .assert()
        .success()
        .stdout(predicate::str::contains("\"kind\": \"Event\""));

    // A Pod, as etcdctl prints it: k8s\0 + Unknown{typeMeta{v1, Pod}, raw}.
    let type_meta = b"\x0a\x02v1\x12\x03Pod";
    let mut pod = b"k8s\0\x0a".to_vec();
    pod.push(type_meta.len() as u8);
    pod.extend_from_slice(type_meta);
    pod.extend_from_slice(b"\x12\x02\x0a\x00\x1a\x00\x22\x00\n");
    evforensics()
        .arg("decode")
        .write_stdin(pod)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "protobuf object of kind Pod is not an Event",
        ))
        .stderr(predicate::str::contains("truncated").not());

    evforensics()
        .args(["decode", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "etcdctl get /registry/events/NS/NAME --print-value-only > value.bin",
        ))
        .stdout(predicate::str::contains("newline"));
}

#[test]
fn decode_explains_what_it_cannot_decode() {
    evforensics()
        .arg("decode")
        .write_stdin(&b"k8s:enc:aescbc:v1:key1:\x01\x02\x03"[..])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("encrypted"))
        .stderr(predicate::str::contains("aescbc"));
    evforensics()
        .arg("decode")
        .write_stdin(&b"\x00\x01garbage"[..])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not a Kubernetes Event"));
}

#[test]
fn ingest_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("out.sqlite");

    let missing = dir.path().join("nope.db");
    evforensics()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(&missing)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nope.db"));

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    evforensics()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(&empty)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("empty.db: empty file"));

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, b"this is not etcd\n").unwrap();
    evforensics()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(&text)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("not an etcd snapshot").and(predicate::str::contains("text")),
        );

    let nothing = dir.path().join("emptydir");
    std::fs::create_dir(&nothing).unwrap();
    evforensics()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(&nothing)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no etcd data"));

    let random = dir.path().join("random.bin");
    let bytes: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&random, bytes).unwrap();
    evforensics()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(&random)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("random.bin"));

    assert!(
        !db.exists(),
        "a run that loaded nothing leaves no new database behind"
    );
}

/// `info` on the shipped sample: its output is a contract (golden file).
/// Regenerate with `cargo run -- info fixtures/sample/snapshot.db >
/// tests/golden/info-sample-snapshot.txt` when the sample is remade.
#[test]
fn info_on_the_sample_matches_the_golden_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = evforensics()
        .current_dir(root)
        .args(["info", "fixtures/sample/snapshot.db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let want = std::fs::read_to_string(root.join("tests/golden/info-sample-snapshot.txt")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
}

/// Arguments that parse but make no sense exit with 2 (usage error), not 1
/// (failure).
#[test]
fn senseless_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.sqlite");
    evforensics()
        .args(["ingest", "--prefix", "", "--db"])
        .arg(&db)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample/snapshot.db"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--prefix"));
    assert!(!db.exists());
    evforensics()
        .args(["query", "--name", "no-such-question"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--list"));
}
