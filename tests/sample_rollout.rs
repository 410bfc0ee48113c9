//! The README's first example on the sample that ships for it
//! (`fixtures/rollout/`: a real etcd's snapshot of a bad rollout and its
//! undo, with the API server's audit log of the same minutes). The
//! timeline of `deployment/shop/web` is a contract: a golden file.
//! Regenerate it after an intended change with `EVF_BLESS=1 cargo test
//! --test sample_rollout`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn evforensics() -> Command {
    Command::cargo_bin("evforensics").unwrap()
}

/// Loads the snapshot and the audit log as the README says.
fn case(dir: &Path) -> PathBuf {
    let db = dir.join("case.sqlite");
    evforensics()
        .current_dir(root())
        .args(["ingest", "--db"])
        .arg(&db)
        .args(["fixtures/rollout/snapshot.db", "fixtures/rollout/audit.log"])
        .assert()
        .code(0);
    db
}

fn run(db: &Path, args: &[&str]) -> String {
    let out = evforensics()
        .arg(args[0])
        .arg("--db")
        .arg(db)
        .args(&args[1..])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_readme_timeline_tells_the_rollout_and_its_undo() {
    let dir = tempfile::tempdir().unwrap();
    let db = case(dir.path());
    let got = run(&db, &["timeline", "--object", "deployment/shop/web"]);
    let path = root().join("tests/golden/rollout-timeline.txt");
    if std::env::var_os("EVF_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(got, want, "timeline differs from {}", path.display());

    // What the golden file must show, said once more in words.
    for needle in [
        "patch", // alice's set image, bob's undo
        "user=alice@example.com",
        "user=bob@example.com",
        "ReplicaSet/shop/web-6f7d8c9b54  Normal SuccessfulCreate",
        "Warning Failed", // the image that does not exist
        "create exec DENIED (403)",
        "Failed x2 over", // a repeat, counted as kubectl does
        "Normal Killing",
    ] {
        assert!(got.contains(needle), "no {needle:?} in\n{got}");
    }
    // The Pods of the old ReplicaSet had nothing happen to them; the new
    // one's Pod is there though it was deleted.
    assert!(got.contains("Pod/shop/web-6f7d8c9b54-h7kqz"));
}

#[test]
fn the_first_minutes_events_are_known_gone_and_the_deletion_has_its_author() {
    let dir = tempfile::tempdir().unwrap();
    let db = case(dir.path());
    // Lease L1 expired: five Events of the first minute are gone, the
    // three the kubelet repeated later moved to lease L2 and live on.
    let fates = run(
        &db,
        &[
            "query",
            "--format",
            "csv",
            "SELECT fate, count(*) FROM event_fates GROUP BY 1 ORDER BY 1",
        ],
    );
    assert_eq!(fates, "fate,count(*)\ngone,5\nlive,6\nsuperseded,3\n");
    let who = run(&db, &["query", "--format", "csv", "who-deleted-what"]);
    assert!(
        who.contains("system:serviceaccount:kube-system:replicaset-controller")
            && who.contains("web-6f7d8c9b54-h7kqz"),
        "{who}"
    );
    let denied = run(
        &db,
        &["query", "--format", "csv", "denied-requests-by-user"],
    );
    assert!(denied.contains("carol@example.com"), "{denied}");
}
