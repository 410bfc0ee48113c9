//! Writes many Event revisions into a private real etcd and saves a snapshot
//! (used by scripts/scale.sh).
//!
//! ```text
//! cargo run --release --example scale_writer -- --revisions 200000 --out DIR/snapshot.db \
//!     [--concurrency 256] [--update-percent 25] [--tmpfs]
//! ```
//!
//! `--tmpfs` puts etcd's data dir under /dev/shm. The last line of output is
//! machine-readable: `SCALE revisions=… write_seconds=… …`.
//!
//! `--hold FILE` keeps etcd running after the SCALE line (which then also
//! gives `endpoint=…`) until FILE exists: scripts/scale-live.sh pulls from
//! it meanwhile.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::etcd::server::{EtcdOptions, EtcdServer};
use common::scenario::bulk::{write_bulk, BulkOptions};

fn usage() -> ! {
    eprintln!(
        "usage: scale_writer --revisions N --out FILE [--concurrency C] [--update-percent P] [--tmpfs] [--hold FILE]"
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
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--revisions" => revisions = val().parse().unwrap_or_else(|_| usage()),
            "--out" => out = Some(PathBuf::from(val())),
            "--concurrency" => opts.concurrency = val().parse().unwrap_or_else(|_| usage()),
            "--update-percent" => opts.update_percent = val().parse().unwrap_or_else(|_| usage()),
            "--tmpfs" => tmpfs = true,
            "--hold" => hold = Some(PathBuf::from(val())),
            _ => usage(),
        }
    }
    let out = out.unwrap_or_else(|| usage());
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
        write_bulk(&client, revisions, &opts).await
    });
    let secs = summary.elapsed.as_secs_f64();
    eprintln!(
        "wrote {} revisions ({} creates, {} updates, {:.1} MiB of values, avg {} B) in {:.1} s: {:.0} revisions/s",
        summary.revisions,
        summary.creates,
        summary.updates,
        summary.value_bytes as f64 / (1 << 20) as f64,
        summary.value_bytes / summary.revisions.max(1),
        secs,
        summary.revisions as f64 / secs
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
    // Stopped now unless it is held for a live pull.
    let server = hold.is_some().then_some(server);
    println!(
        "SCALE revisions={} first_revision={} head_revision={} creates={} updates={} value_bytes={} write_seconds={:.2} snapshot_bytes={} endpoint={}",
        summary.revisions,
        summary.first_revision,
        summary.head_revision,
        summary.creates,
        summary.updates,
        summary.value_bytes,
        secs,
        size,
        server
            .as_ref()
            .map(|s| s.endpoint())
            .unwrap_or_else(|| "stopped".to_string())
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
