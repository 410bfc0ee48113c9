//! `evforensics export --format parquet`, read back by the real consumers:
//! DuckDB and pyarrow (from the venv scripts/consumers-venv.sh makes at
//! target/consumers-venv) give the rows, values, types, partitions and
//! provenance of the SQLite database (tests/consumers/parquet_check.py);
//! another case exported into the same directory adds files and changes
//! none, the same case again is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::SystemTime;

use assert_cmd::Command;
use predicates::prelude::*;
use sha2::{Digest, Sha256};

fn evforensics() -> Command {
    Command::cargo_bin("evforensics").unwrap()
}

fn manifest(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// The consumers' Python; a clear failure when the venv is missing.
fn python() -> PathBuf {
    let python = manifest("target/consumers-venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/consumers-venv.sh (a Python venv with DuckDB and pyarrow, \
         which these tests read the Parquet files with)",
        python.display()
    );
    python
}

fn ingest(db: &Path, inputs: &[&str]) {
    let mut cmd = evforensics();
    cmd.arg("ingest").arg("--db").arg(db);
    for i in inputs {
        cmd.arg(manifest(&format!("fixtures/{i}")));
    }
    cmd.assert().code(0);
}

fn export(db: &Path, lake: &Path, cluster: Option<&str>) -> assert_cmd::assert::Assert {
    let mut cmd = evforensics();
    cmd.args(["export", "--format", "parquet", "--db"])
        .arg(db)
        .arg("--out")
        .arg(lake);
    if let Some(c) = cluster {
        cmd.args(["--cluster", c]);
    }
    cmd.assert()
}

/// Runs the checker: DuckDB and pyarrow against the database.
fn check(lake: &Path, db: &Path, cluster: &str) -> String {
    let out = Process::new(python())
        .arg(manifest("tests/consumers/parquet_check.py"))
        .arg(lake)
        .arg(db)
        .arg(cluster)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "parquet_check.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every file under `dir`: its modification time and SHA-256.
fn files(dir: &Path) -> BTreeMap<PathBuf, (SystemTime, String)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
                let hash = format!("{:x}", Sha256::digest(&bytes));
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), (mtime, hash));
            }
        }
    }
    out
}

fn duckdb(sql: &str) -> String {
    let out = Process::new(python())
        .args([
            "-c",
            "import duckdb, sys; [print(*r, sep='|') for r in duckdb.sql(sys.argv[1]).fetchall()]",
            sql,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn parquet_reads_back_in_duckdb_and_pyarrow_as_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let a = dir.path().join("a.sqlite");
    ingest(
        &a,
        &["sample/snapshot.db", "third_party/audit2rbac/demo.log"],
    );
    export(&a, &lake, Some("prod-eu"))
        .code(0)
        .stdout(predicate::str::contains("events").and(predicate::str::contains("31 rows")));
    let out = check(&lake, &a, "prod-eu");
    assert!(out.contains("OK events 31"), "{out}");
    assert!(out.contains("OK audit_events 37"), "{out}");
    assert!(out.contains("OK objects 13"), "{out}");

    // The partitions: one day of Events, and the two that have no time
    // (not decodable) under Hive's NULL partition.
    let mut days: Vec<String> = std::fs::read_dir(lake.join("events/cluster=prod-eu"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    days.sort();
    assert_eq!(days, ["date=2024-03-14", "date=__HIVE_DEFAULT_PARTITION__"]);
    assert_eq!(
        duckdb(&format!(
            "SELECT cluster, date, count(*) FROM read_parquet('{}/events/**/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY 2 NULLS LAST",
            lake.display()
        )),
        "prod-eu|2024-03-14|29\nprod-eu|None|2\n"
    );

    // Another case into the same directory: files added, none changed.
    let before = files(&lake);
    let b = dir.path().join("b.sqlite");
    ingest(
        &b,
        &[
            "sample/member-snap-db",
            "third_party/falco-k8s-audit-traces/create_deployment.json",
        ],
    );
    export(&b, &lake, Some("prod-us")).code(0);
    let after = files(&lake);
    for (path, stamp) in &before {
        assert_eq!(after.get(path), Some(stamp), "{} changed", path.display());
    }
    assert!(after.len() > before.len(), "nothing added");
    check(&lake, &b, "prod-us");
    assert_eq!(
        duckdb(&format!(
            "SELECT cluster, count(*) FROM read_parquet('{}/events/**/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY 1",
            lake.display()
        )),
        "prod-eu|31\nprod-us|31\n"
    );

    // The same case again: refused, nothing written.
    export(&a, &lake, Some("prod-eu"))
        .code(1)
        .stderr(predicate::str::contains("already holds this case's export"));
    assert_eq!(files(&lake), after);

    // Without --cluster: the name the database gives.
    let lake2 = dir.path().join("lake2");
    export(&a, &lake2, None).code(0);
    assert!(lake2.join("events/cluster=a/date=2024-03-14").is_dir());
    // A name that would not be one directory is a usage error.
    export(&a, &lake2, Some("../x")).code(2);
}
