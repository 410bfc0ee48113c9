//! Regenerates the sample fixtures from a real etcd (see fixtures/README.md).
//!
//! ```text
//! cargo run --example make_fixture -- fixtures/sample             # the standard scenario
//! cargo run --example make_fixture -- --rollout fixtures/rollout   # the README's first example
//! ```
//!
//! Starts a private etcd (loopback, temp data dir), writes the standard
//! scenario (tests/common/scenario/standard.rs) — or with `--rollout` the
//! rollout scenario (tests/common/scenario/rollout.rs) — through the
//! apiserver's txn patterns, then writes into the output directory:
//! * `snapshot.db`       — `etcdctl snapshot save` (bbolt + SHA-256 trailer)
//! * `snapshot.db.zst`   — the same, zstd
//! * `snapshot.db.gz`    — the same, gzip
//! * `member-snap-db`    — `member/snap/db` of the cleanly stopped etcd (no trailer)
//! * `ledger.json`       — what was written and what etcd kept (scenario::ledger::Ledger)
//!
//! The rollout writes `snapshot.db`, `ledger.json` and `audit.log` (the API
//! server's audit log of the same minutes) only.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write as _;
use std::path::PathBuf;

use common::etcd::server::EtcdServer;
use common::scenario::rollout::{rollout_audit_log, write_rollout};
use common::scenario::standard::write_standard_scenario;
use sha2::{Digest, Sha256};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let rollout = args.first().is_some_and(|a| a == "--rollout");
    if rollout {
        args.remove(0);
    }
    let default = if rollout {
        "fixtures/rollout"
    } else {
        "fixtures/sample"
    };
    let out = PathBuf::from(args.first().map_or(default, String::as_str));
    std::fs::create_dir_all(&out).expect("creating output dir");

    let server = EtcdServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ledger = rt.block_on(async {
        let client = server.client().await;
        if rollout {
            write_rollout(&client).await
        } else {
            write_standard_scenario(&client).await
        }
    });

    let snap = out.join("snapshot.db");
    server.snapshot(&snap);
    let bytes = std::fs::read(&snap).expect("reading snapshot");
    assert_eq!(
        bytes.len() % 512,
        32,
        "snapshot without its SHA-256 trailer?"
    );
    let (db, trailer) = bytes.split_at(bytes.len() - 32);
    assert_eq!(
        Sha256::digest(db).as_slice(),
        trailer,
        "bad snapshot trailer"
    );

    if rollout {
        std::fs::write(out.join("audit.log"), rollout_audit_log()).expect("writing audit.log");
        ledger.save(&out.join("ledger.json"));
        set_readable(&snap);
        report(&ledger, &out, &["snapshot.db", "audit.log", "ledger.json"]);
        return;
    }

    let zst = zstd::encode_all(bytes.as_slice(), 19).expect("zstd");
    std::fs::write(out.join("snapshot.db.zst"), &zst).expect("writing .zst");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&bytes).expect("gzip");
    std::fs::write(out.join("snapshot.db.gz"), gz.finish().expect("gzip")).expect("writing .gz");

    let stopped = server.stop();
    std::fs::copy(stopped.db_path(), out.join("member-snap-db")).expect("copying member/snap/db");

    ledger.save(&out.join("ledger.json"));
    for name in ["snapshot.db", "member-snap-db"] {
        set_readable(&out.join(name));
    }
    #[rustfmt::skip]
    let files = ["snapshot.db", "snapshot.db.zst", "snapshot.db.gz", "member-snap-db", "ledger.json"];
    report(&ledger, &out, &files);
}

/// etcdctl writes 0600; fixtures are for everyone to read.
fn set_readable(p: &std::path::Path) {
    let mut perm = std::fs::metadata(p).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o644);
    std::fs::set_permissions(p, perm).expect("chmod");
}

fn report(ledger: &common::scenario::ledger::Ledger, out: &std::path::Path, files: &[&str]) {
    println!("etcd {}", ledger.etcd_version);
    println!("{:#?}", ledger.summary());
    for name in files {
        let len = std::fs::metadata(out.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        println!("{:>9} bytes  {}", len, out.join(name).display());
    }
}
