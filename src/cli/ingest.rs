//! `evforensics ingest`: load sources, print a closing summary.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::{DbArg, EXIT_DAMAGED, EXIT_FAILURE, EXIT_OK};
use crate::audit::{ingest_audit_file, AuditLoaded, AuditOutcome};
use crate::ingest::{
    ingest_source, IngestError, IngestOptions, LoadedSource, SourceOutcome, DEFAULT_PREFIX,
};
use crate::source::input::{self, Compression, InputError, Recognized};
use crate::store::Store;

#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    #[command(flatten)]
    db: DbArg,
    /// etcd key prefix of Events (OpenShift: /kubernetes.io/events/).
    #[arg(long, value_name = "P", default_value = DEFAULT_PREFIX)]
    prefix: String,
    /// Do not draw a progress bar, even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// Snapshot files (plain, .zst, .gz), etcd data directories, Kubernetes
    /// audit logs (plain, .gz, .zst), or directories of rotated audit logs.
    #[arg(value_name = "SOURCE", required = true)]
    sources: Vec<PathBuf>,
}

pub fn run(args: IngestArgs) -> anyhow::Result<i32> {
    if args.prefix.is_empty() {
        anyhow::bail!("--prefix must not be empty");
    }
    // Check every source exists before touching the database, so that a typo
    // does not leave a half-done run.
    for s in &args.sources {
        std::fs::metadata(s).with_context(|| format!("{}: cannot read", s.display()))?;
    }
    let db_existed = args.db.db.exists();
    let mut store = Store::open(&args.db.db)
        .with_context(|| format!("opening database {}", args.db.db.display()))?;
    let options = IngestOptions {
        prefix: args.prefix.clone(),
    };
    let show_progress = !args.no_progress && std::io::stderr().is_terminal();

    let mut failed = 0usize;
    let mut damaged = 0u64;
    let mut loaded_any = false;
    let mut tally = Tally::default();
    for source in &args.sources {
        match input::recognize(source) {
            Ok(Recognized::AuditLog(compression)) => {
                match load_audit(&mut store, source, compression) {
                    Ok(d) => {
                        loaded_any = true;
                        damaged += d;
                    }
                    Err(e) => {
                        failed += 1;
                        report_error(&e);
                    }
                }
                continue;
            }
            Ok(Recognized::Directory(files)) => {
                let files = without_database(files, &args.db.db);
                load_directory(&mut store, source, &files, &options, &mut tally);
                continue;
            }
            // Snapshots, and what is not recognized: the snapshot reader
            // says what is wrong with it.
            Ok(Recognized::Etcd) | Err(_) => {}
        }
        let bar = show_progress.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix}: {human_pos} event revisions read ({per_sec}) {elapsed}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(source.display().to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let started = Instant::now();
        let progress = |n: u64| {
            if let Some(bar) = &bar {
                bar.set_position(n);
            }
        };
        let outcome = ingest_source(&mut store, source, &options, &progress);
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        match outcome {
            Ok(SourceOutcome::Loaded(loaded)) => {
                loaded_any = true;
                damaged += loaded.summary.damaged_records;
                print_summary(source, &loaded, started.elapsed());
            }
            Ok(SourceOutcome::AlreadyLoaded { source_id, sha256 }) => {
                loaded_any = true;
                println!(
                    "{}: already loaded as source {source_id} (sha256 {sha256}); nothing added",
                    source.display()
                );
            }
            Err(e) => {
                failed += 1;
                report_error(&e);
            }
        }
    }
    failed += tally.failed;
    damaged += tally.damaged;
    loaded_any |= tally.loaded_any;
    drop(store);
    if !db_existed && !loaded_any {
        // Nothing was loaded into a database this run created: leave nothing behind.
        let _ = std::fs::remove_file(&args.db.db);
    } else {
        println!("database: {}", args.db.db.display());
    }
    Ok(if failed > 0 {
        EXIT_FAILURE
    } else if damaged > 0 {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    })
}

/// The output database may sit in the directory being read: it is not evidence.
fn without_database(files: Vec<PathBuf>, db: &Path) -> Vec<PathBuf> {
    let Ok(db) = std::fs::canonicalize(db) else {
        return files;
    };
    files
        .into_iter()
        .filter(|f| std::fs::canonicalize(f).map_or(true, |f| f != db))
        .collect()
}

fn report_error(e: &dyn std::error::Error) {
    eprintln!("evforensics: error: {e}");
    let mut cause = e.source();
    while let Some(c) = cause {
        eprintln!("  caused by: {c}");
        cause = c.source();
    }
}

/// Totals of the sources loaded from directories.
#[derive(Default)]
struct Tally {
    failed: usize,
    damaged: u64,
    loaded_any: bool,
}

/// Loads one audit file and prints its summary; returns its damaged records.
fn load_audit(
    store: &mut Store,
    path: &Path,
    compression: Option<Compression>,
) -> Result<u64, IngestError> {
    match ingest_audit_file(store, path, compression)? {
        AuditOutcome::Loaded(loaded) => {
            print_audit_summary(path, &loaded);
            Ok(loaded.summary.damaged_records)
        }
        AuditOutcome::AlreadyLoaded { source_id, sha256 } => {
            println!(
                "{}: already loaded as source {source_id} (sha256 {sha256}); nothing added",
                path.display()
            );
            Ok(0)
        }
    }
}

/// A directory without etcd data: every regular file inside that is an
/// audit log or an etcd file is loaded; the others are reported as skipped.
fn load_directory(
    store: &mut Store,
    dir: &Path,
    files: &[PathBuf],
    options: &IngestOptions,
    tally: &mut Tally,
) {
    let mut loaded = 0usize;
    let mut skipped: Vec<String> = Vec::new();
    let no_progress = |_: u64| {};
    for file in files {
        let result = match input::recognize(file) {
            Ok(Recognized::AuditLog(compression)) => load_audit(store, file, compression),
            Ok(Recognized::Etcd) => {
                let started = Instant::now();
                match ingest_source(store, file, options, &no_progress) {
                    Ok(SourceOutcome::Loaded(l)) => {
                        print_summary(file, &l, started.elapsed());
                        Ok(l.summary.damaged_records)
                    }
                    Ok(SourceOutcome::AlreadyLoaded { source_id, sha256 }) => {
                        println!(
                            "{}: already loaded as source {source_id} (sha256 {sha256}); nothing added",
                            file.display()
                        );
                        Ok(0)
                    }
                    Err(e) => Err(e),
                }
            }
            Ok(Recognized::Directory(_)) => continue,
            Err(e) => Err(e.into()),
        };
        match result {
            Ok(d) => {
                loaded += 1;
                tally.loaded_any = true;
                tally.damaged += d;
            }
            // Not evidence this tool reads: skipped, said so.
            Err(
                e @ (IngestError::NotAuditLog { .. }
                | IngestError::Input(InputError::Unrecognized { .. })
                | IngestError::Input(InputError::Empty { .. })),
            ) => skipped.push(e.to_string()),
            Err(e) => {
                tally.failed += 1;
                report_error(&e);
            }
        }
    }
    println!(
        "{}: {} of {} files loaded, {} skipped",
        dir.display(),
        loaded,
        files.len(),
        skipped.len()
    );
    for s in &skipped {
        println!("  skipped {s}");
    }
    if loaded == 0 && skipped.len() == files.len() {
        tally.failed += 1;
        eprintln!(
            "evforensics: error: {}: directory holds no etcd data (expected member/snap/db inside an etcd data directory) and no audit log files",
            dir.display()
        );
    }
}

fn print_audit_summary(path: &Path, s: &AuditLoaded) {
    let sum = &s.summary;
    let compression = s.compression.map(|c| format!(", {c}")).unwrap_or_default();
    println!(
        "{} → source {} (audit-log{compression}, sha256 {})",
        path.display(),
        sum.source_id,
        s.sha256
    );
    println!(
        "  audit events: {} read, {} new to this database, {} already loaded (same auditID and stage)",
        sum.audit_events,
        sum.new_audit_events,
        sum.audit_events - sum.new_audit_events
    );
    if s.foreign > 0 {
        println!("  records of other kinds skipped: {}", s.foreign);
    }
    println!(
        "  damaged lines and conflicting copies skipped: {}",
        sum.damaged_records
    );
    for example in &s.damage_examples {
        println!("    {example}");
    }
    if sum.damaged_records > s.damage_examples.len() as u64 {
        println!(
            "    … see: SELECT file, line, reason FROM damaged_records WHERE source_id = {}",
            sum.source_id
        );
    }
}

fn print_summary(source: &std::path::Path, s: &LoadedSource, took: Duration) {
    let sum = &s.summary;
    let compression = s.compression.map(|c| format!(", {c}")).unwrap_or_default();
    println!(
        "{} → source {} ({}{compression}, sha256 {})",
        source.display(),
        sum.source_id,
        s.kind,
        s.sha256
    );
    println!("  {}", s.trailer.describe());
    if let Some(note) = &s.meta_note {
        println!("  WARNING: {note}");
    }
    let rev = |r: Option<i64>| r.map(|r| r.to_string()).unwrap_or_else(|| "none".into());
    println!(
        "  head revision {}, compacted at revision {}",
        rev(s.head_revision),
        rev(s.compact_revision)
    );
    let rate = if took.as_secs_f64() > 0.0 {
        sum.event_revisions as f64 / took.as_secs_f64()
    } else {
        0.0
    };
    println!(
        "  event revisions: {} loaded ({} new to this database) in {:.1}s, {:.0}/s",
        sum.event_revisions,
        sum.new_event_revisions,
        took.as_secs_f64(),
        rate
    );
    println!(
        "    live at the head revision: {}; no longer live (expired or deleted): {}",
        sum.live_event_revisions,
        sum.event_revisions.saturating_sub(sum.live_event_revisions)
    );
    println!("  tombstones: {}", sum.tombstones);
    println!(
        "  other objects (metadata): {} revisions, {} tombstones",
        sum.object_revisions, sum.object_tombstones
    );
    let scan = &s.free_scan;
    println!(
        "  free pages: {} scanned, {} hold key-bucket leaves; recovered from them: {} event revisions and {} tombstones the tree no longer holds",
        scan.free_pages, scan.key_leaves, sum.free_page_event_revisions, sum.free_page_tombstones
    );
    println!("  damaged records skipped: {}", sum.damaged_records);
    for example in &s.damage_examples {
        println!("    {example}");
    }
    if sum.damaged_records > s.damage_examples.len() as u64 {
        println!(
            "    … see: SELECT * FROM damaged_records WHERE source_id = {}",
            sum.source_id
        );
    }
}
