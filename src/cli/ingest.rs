//! `evforensics ingest`: load sources, print a closing summary.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::{DbArg, EXIT_DAMAGED, EXIT_FAILURE, EXIT_OK};
use crate::ingest::{ingest_source, IngestOptions, LoadedSource, SourceOutcome, DEFAULT_PREFIX};
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
    /// Snapshot files (plain, .zst, .gz) or etcd data directories.
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
    for source in &args.sources {
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
                eprintln!("evforensics: error: {e}");
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    eprintln!("  caused by: {c}");
                    cause = c.source();
                }
            }
        }
    }
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
