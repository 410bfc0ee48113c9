//! Writes many Event revisions into a private real etcd and saves a snapshot
//! (used by scripts/scale.sh, scale-live.sh and scale-wal.sh).
//!
//! ```text
//! cargo run --release --example scale_writer -- --revisions 200000 --out DIR/snapshot.db \
//!     [--concurrency 256] [--update-percent 25] [--tmpfs] \
//!     [--stale-percent 3] [--compact-every 10000] [--expire-after 20000] \
//!     [--data-dir-out DIR/data] [--seed N]
//! ```
//!
//! Every write is the apiserver's: a create `If ModRevision == 0` with the
//! current lease, a count update `If ModRevision == previous`.
//! `--stale-percent P`: P % of writes are preceded by a proposal whose
//! compare fails (a stale copy). `--compact-every N`: a round of the
//! apiserver's compactor every N writes (physical compactions; the tree
//! keeps about one interval and the keys still live). `--expire-after N`:
//! a lease (a new one every `--writes-per-lease`, default 20,000) expires N
//! writes after its last use, deleting its Events as `--event-ttl` does. `--data-dir-out DIR`: after the snapshot,
//! etcd is stopped cleanly and its data directory (`member/snap/db`,
//! `member/wal/*.wal`, raft snapshots) copied to DIR. `--tmpfs` puts etcd's
//! data dir under /dev/shm. The last line of output is machine-readable:
//! `SCALE revisions=… write_seconds=… …`. `--seed N` seeds the Events'
//! content (another cluster's case: scripts/fleet-spark.sh).
//!
//! `--object-trees N` adds N Deployments (each two ReplicaSets of two
//! Pods, with their Events) after the bulk, and `--audit-out FILE` writes
//! an audit log of `--audit-requests M` (default 50,000) requests about
//! them and the bulk's Pods; a line `TREES deployment=… pod=… pod_uid=…`
//! names the first tree's objects (scripts/scale-questions.sh).
//!
//! `--hold FILE` keeps etcd running after the SCALE line (which then also
//! gives `endpoint=…`) until FILE exists: scripts/scale-live.sh pulls from
//! it meanwhile.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::etcd::server::{EtcdOptions, EtcdServer};
use common::scenario::bulk::{write_bulk, BulkOptions};
use common::scenario::trees::{audit_log, write_trees};

/// The bulk's Events span `revisions / 50` seconds from its start; the
/// trees and audit requests are spread over its first hour.
const BULK_SPAN_SECONDS: i64 = 3600;

fn usage() -> ! {
    eprintln!(
        "usage: scale_writer --revisions N --out FILE [--concurrency C] [--update-percent P] [--stale-percent P] [--compact-every N] [--expire-after N] [--writes-per-lease N] [--seed N] [--tmpfs] [--object-trees N] [--audit-out FILE] [--audit-requests M] [--hold FILE | --data-dir-out DIR]"
    );
    std::process::exit(2)
}

fn main() {
    let mut revisions: u64 = 200_000;
    let mut out: Option<PathBuf> = None;
    let mut opts = BulkOptions {
        progress_every: 25_000,
        ..Default::default()
    };
    let mut tmpfs = false;
    let mut hold: Option<PathBuf> = None;
    let mut data_dir_out: Option<PathBuf> = None;
    let mut object_trees: usize = 0;
    let mut audit_out: Option<PathBuf> = None;
    let mut audit_requests: usize = 50_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--revisions" => revisions = val().parse().unwrap_or_else(|_| usage()),
            "--out" => out = Some(PathBuf::from(val())),
            "--concurrency" => opts.concurrency = val().parse().unwrap_or_else(|_| usage()),
            "--update-percent" => opts.update_percent = val().parse().unwrap_or_else(|_| usage()),
            "--stale-percent" => opts.stale_percent = val().parse().unwrap_or_else(|_| usage()),
            "--compact-every" => opts.compact_every = val().parse().unwrap_or_else(|_| usage()),
            "--expire-after" => opts.expire_after = val().parse().unwrap_or_else(|_| usage()),
            "--writes-per-lease" => {
                opts.revisions_per_lease = val().parse().unwrap_or_else(|_| usage())
            }
            "--data-dir-out" => data_dir_out = Some(PathBuf::from(val())),
            "--seed" => opts.seed = val().parse().unwrap_or_else(|_| usage()),
            "--object-trees" => object_trees = val().parse().unwrap_or_else(|_| usage()),
            "--audit-out" => audit_out = Some(PathBuf::from(val())),
            "--audit-requests" => audit_requests = val().parse().unwrap_or_else(|_| usage()),
            "--tmpfs" => tmpfs = true,
            "--hold" => hold = Some(PathBuf::from(val())),
            _ => usage(),
        }
    }
    let out = out.unwrap_or_else(|| usage());
    if hold.is_some() && data_dir_out.is_some() {
        usage();
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).expect("creating output dir");
    }

    // ~1 KiB per revision in bbolt plus free pages: 8 GiB leaves room for
    // millions of revisions before etcd raises NOSPACE.
    let etcd_opts = EtcdOptions {
        quota_backend_bytes: Some(8 << 30),
        temp_parent: tmpfs
            .then(|| PathBuf::from("/dev/shm"))
            .filter(|p| p.is_dir()),
        ..Default::default()
    };
    let server = EtcdServer::start_with(etcd_opts);
    eprintln!(
        "etcd {} at {}",
        server.data_dir().display(),
        server.endpoint()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let summary = rt.block_on(async {
        let client = server.client().await;
        let summary = write_bulk(&client, revisions, &opts).await;
        let trees = if object_trees > 0 || audit_out.is_some() {
            Some(write_trees(&client, object_trees, BULK_SPAN_SECONDS).await)
        } else {
            None
        };
        (summary, trees)
    });
    let (summary, trees) = summary;
    if let Some(trees) = &trees {
        eprintln!(
            "wrote {} object trees: {} objects, {} Event revisions",
            trees.deployments, trees.objects, trees.events
        );
        println!(
            "TREES deployment={} pod={} pod_uid={}",
            trees.deployment, trees.pod, trees.pod_uid
        );
        if let Some(path) = &audit_out {
            std::fs::write(path, audit_log(trees, audit_requests, BULK_SPAN_SECONDS))
                .expect("writing the audit log");
            eprintln!("audit log {} ({audit_requests} requests)", path.display());
        }
    }
    let secs = summary.elapsed.as_secs_f64();
    eprintln!(
        "wrote {} revisions ({} creates, {} updates, {:.1} MiB of values, avg {} B) in {:.1} s: {:.0} revisions/s; {} proposals failed their compare; {} compactions (last at {}); {} leases expired",
        summary.revisions,
        summary.creates,
        summary.updates,
        summary.value_bytes as f64 / (1 << 20) as f64,
        summary.value_bytes / summary.revisions.max(1),
        secs,
        summary.revisions as f64 / secs,
        summary.failed_proposals,
        summary.compactions,
        summary.compact_revision,
        summary.expired_leases
    );

    let t = Instant::now();
    server.snapshot(&out);
    let snap_secs = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "snapshot {} ({:.1} MiB) saved in {:.1} s",
        out.display(),
        size as f64 / (1 << 20) as f64,
        snap_secs
    );
    // The data directory, once etcd has stopped cleanly.
    let mut wal = WalFiles::default();
    if let Some(dest) = &data_dir_out {
        let stopped = server.stop();
        copy_tree(stopped.data_dir(), dest);
        wal = WalFiles::of(&dest.join("member").join("wal"));
        eprintln!(
            "data directory copied to {} (etcd exited {}): {} WAL segments, {:.1} MiB",
            dest.display(),
            stopped.exit_status(),
            wal.files,
            wal.bytes as f64 / (1 << 20) as f64
        );
        print_scale(&summary, secs, size, &wal, "stopped");
        return;
    }
    // Stopped now unless it is held for a live pull.
    let server = hold.is_some().then_some(server);
    print_scale(
        &summary,
        secs,
        size,
        &wal,
        &server
            .as_ref()
            .map(|s| s.endpoint())
            .unwrap_or_else(|| "stopped".to_string()),
    );
    if let Some(flag) = hold {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        while !flag.exists() {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        drop(server);
    }
}

fn print_scale(
    summary: &common::scenario::bulk::BulkSummary,
    secs: f64,
    snapshot_bytes: u64,
    wal: &WalFiles,
    endpoint: &str,
) {
    println!(
        "SCALE revisions={} first_revision={} head_revision={} creates={} updates={} value_bytes={} write_seconds={:.2} snapshot_bytes={} failed_proposals={} compactions={} compact_revision={} compactor_puts={} expired_leases={} expiry_revisions={} wal_files={} wal_bytes={} endpoint={}",
        summary.revisions,
        summary.first_revision,
        summary.head_revision,
        summary.creates,
        summary.updates,
        summary.value_bytes,
        secs,
        snapshot_bytes,
        summary.failed_proposals,
        summary.compactions,
        summary.compact_revision,
        summary.compactor_puts,
        summary.expired_leases,
        summary.expiry_revisions,
        wal.files,
        wal.bytes,
        endpoint
    );
}

/// The `*.wal` segments of a WAL directory.
#[derive(Default)]
struct WalFiles {
    files: u64,
    bytes: u64,
}

impl WalFiles {
    fn of(dir: &Path) -> WalFiles {
        let mut w = WalFiles::default();
        for entry in std::fs::read_dir(dir).expect("reading the WAL directory") {
            let entry = entry.expect("WAL directory entry");
            if entry.path().extension().is_some_and(|e| e == "wal") {
                w.files += 1;
                w.bytes += entry.metadata().expect("WAL segment metadata").len();
            }
        }
        w
    }
}

/// Copies a directory tree (regular files and directories only).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating the data directory copy");
    for entry in std::fs::read_dir(from).expect("reading the data directory") {
        let entry = entry.expect("data directory entry");
        let dest = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &dest).expect("copying a data directory file");
        }
    }
}
