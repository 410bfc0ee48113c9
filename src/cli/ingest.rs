//! `evforensics ingest`: load sources — snapshot files and data directories,
//! or a running etcd (`--endpoints`) — and print a closing summary.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::{DbArg, EXIT_DAMAGED, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::audit::{ingest_audit_file, AuditLoaded, AuditOutcome};
use crate::helpers::parse_duration;
use crate::ingest::{
    ingest_live, ingest_source, IngestError, IngestOptions, LoadedSource, SourceOutcome,
    DEFAULT_PREFIX,
};
use crate::source::input::{self, Compression, InputError, Recognized};
use crate::source::live::{self, LiveOptions, DEFAULT_PAGE_SIZE};
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
    /// Give either SOURCE files or --endpoints.
    #[arg(value_name = "SOURCE")]
    sources: Vec<PathBuf>,
    #[command(flatten)]
    live: LiveArgs,
}

/// A running etcd as the source, with etcdctl's flags and `ETCDCTL_*`
/// environment variables.
#[derive(clap::Args, Debug)]
#[command(
    next_help_heading = "Live etcd (instead of SOURCE files; read-only: range, watch, status, snapshot)"
)]
pub struct LiveArgs {
    /// etcd endpoints, comma-separated (host:port or http(s):// URLs)
    /// [env: ETCDCTL_ENDPOINTS, used when no SOURCE is given].
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    endpoints: Vec<String>,
    /// CA certificate (PEM) that signed etcd's server certificate.
    #[arg(long, env = "ETCDCTL_CACERT", value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Client certificate (PEM); Kubernetes' etcd requires one.
    #[arg(long, env = "ETCDCTL_CERT", value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Private key (PEM) of the client certificate.
    #[arg(long, env = "ETCDCTL_KEY", value_name = "FILE")]
    key: Option<PathBuf>,
    /// etcd user (NAME or NAME:PASSWORD).
    #[arg(
        long,
        env = "ETCDCTL_USER",
        value_name = "NAME",
        hide_env_values = true
    )]
    user: Option<Secret>,
    /// Password of --user (better: the environment variable; never echoed).
    #[arg(
        long,
        env = "ETCDCTL_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    password: Option<Secret>,
    /// Time to establish a connection (Go syntax: 2s, 500ms, 1m).
    #[arg(long, env = "ETCDCTL_DIAL_TIMEOUT", value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    dial_timeout: Duration,
    /// Time each request may take (a watch: between two messages, and at
    /// least 60 s, what a busy server's sync round may take).
    #[arg(long, env = "ETCDCTL_COMMAND_TIMEOUT", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    command_timeout: Duration,
    /// Keys per range request; lower it to be gentler on a busy etcd.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PAGE_SIZE, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    page_size: i64,
    /// Key ranges the history is read in, one watcher each: etcd serves
    /// them all from one read of its history per round, up to 1000
    /// revisions (about 1 MB) each. Fewer ranges mean more rounds and more
    /// server CPU in all, spread over a longer time.
    #[arg(long, value_name = "N", default_value_t = live::DEFAULT_WATCHERS as u64, value_parser = clap::value_parser!(u64).range(1..=256))]
    watchers: u64,
    /// Memory (MiB) for history read ahead of the slowest key range; the
    /// rest waits in an unlinked temp file beside the database (0: all of
    /// it does).
    #[arg(long, value_name = "MIB", default_value_t = (live::HELD_MEMORY_BUDGET >> 20) as u64, value_parser = clap::value_parser!(u64).range(0..=1 << 20))]
    read_ahead_memory: u64,
    /// First stream a full snapshot (maintenance API) into FILE, then load
    /// that file: the evidence can be re-examined later.
    #[arg(long, value_name = "FILE")]
    save_snapshot: Option<PathBuf>,
}

/// A credential: never printed, not even in debug output.
#[derive(Clone)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// What one run loads: files, or a running etcd.
enum Plan {
    Files(Vec<PathBuf>),
    Live {
        options: Box<LiveOptions>,
        save_snapshot: Option<PathBuf>,
    },
}

fn plan(args: &IngestArgs) -> Result<Plan, String> {
    let l = &args.live;
    let mut endpoints: Vec<String> = l
        .endpoints
        .iter()
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    if !args.sources.is_empty() {
        if !endpoints.is_empty() {
            return Err("give either SOURCE files or --endpoints, not both".into());
        }
        if l.save_snapshot.is_some() {
            return Err(
                "--save-snapshot needs --endpoints (it saves a snapshot of a running etcd)".into(),
            );
        }
        return Ok(Plan::Files(args.sources.clone()));
    }
    if endpoints.is_empty() {
        if let Ok(env) = std::env::var("ETCDCTL_ENDPOINTS") {
            endpoints = env
                .split(',')
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect();
        }
    }
    if endpoints.is_empty() {
        return Err("nothing to load: give SOURCE files (snapshots, data directories) or --endpoints of a running etcd".into());
    }
    if l.cert.is_some() != l.key.is_some() {
        return Err(
            "--cert and --key go together (the client certificate and its private key)".into(),
        );
    }
    if l.password.is_some() && l.user.is_none() {
        return Err("--password needs --user".into());
    }
    Ok(Plan::Live {
        options: Box::new(LiveOptions {
            endpoints,
            cacert: l.cacert.clone(),
            cert: l.cert.clone(),
            key: l.key.clone(),
            user: l.user.as_ref().map(|s| s.0.clone()),
            password: l.password.as_ref().map(|s| s.0.clone()),
            dial_timeout: l.dial_timeout,
            command_timeout: l.command_timeout,
            page_size: l.page_size,
            watchers: l.watchers as usize,
            read_ahead_memory: (l.read_ahead_memory as usize) << 20,
        }),
        save_snapshot: l.save_snapshot.clone(),
    })
}

pub fn run(args: IngestArgs) -> anyhow::Result<i32> {
    if args.prefix.is_empty() {
        return Err(super::UsageError("--prefix must not be empty".into()).into());
    }
    let plan = match plan(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("evforensics: usage error: {e}");
            eprintln!("see: evforensics ingest --help");
            return Ok(EXIT_USAGE);
        }
    };
    let mut sources = match plan {
        Plan::Files(files) => files,
        Plan::Live {
            options,
            save_snapshot: None,
        } => return run_live(&args, &options),
        Plan::Live {
            options,
            save_snapshot: Some(file),
        } => {
            if file.exists() {
                anyhow::bail!(
                    "--save-snapshot {}: the file exists; evidence is never overwritten",
                    file.display()
                );
            }
            eprintln!(
                "saving a snapshot of {} to {} …",
                options.location(),
                file.display()
            );
            let (sha, size) = live::save_snapshot(&options, &file).map_err(report_chain)?;
            println!(
                "snapshot of {} saved to {} ({size} bytes, sha256 {sha})",
                options.location(),
                file.display()
            );
            vec![file]
        }
    };
    // Check every source exists before touching the database, so that a typo
    // does not leave a half-done run.
    for s in &sources {
        std::fs::metadata(s).with_context(|| format!("{}: cannot read", s.display()))?;
    }
    let sources = std::mem::take(&mut sources);
    let mut store = Store::open(&args.db.db)
        .with_context(|| format!("opening database {}", args.db.db.display()))?;
    let options = IngestOptions {
        prefix: args.prefix.clone(),
    };
    let show_progress = !args.no_progress && std::io::stderr().is_terminal();

    let mut failed = 0usize;
    let mut damaged = 0u64;
    let mut tally = Tally::default();
    for source in &sources {
        match input::recognize(source) {
            Ok(Recognized::AuditLog(compression)) => {
                match load_audit(&mut store, source, compression) {
                    Ok(d) => {
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
                let files = without_database(files, &[&args.db.db, store.working_file()]);
                load_directory(&mut store, source, &files, &options, &mut tally);
                continue;
            }
            // Snapshots, and what is not recognized: the snapshot reader
            // says what is wrong with it.
            Ok(Recognized::Etcd) | Err(_) => {}
        }
        let bar = show_progress.then(|| spinner(source.display().to_string()));
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
                damaged += loaded.summary.damaged_records;
                print_summary(source, &loaded, started.elapsed());
            }
            Ok(SourceOutcome::AlreadyLoaded { source_id, sha256 }) => {
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
    // A new database exists once a source was loaded into it; a run that
    // loaded nothing into a new one leaves nothing behind.
    if store.is_published() {
        println!("database: {}", args.db.db.display());
    }
    drop(store);
    Ok(if failed > 0 {
        EXIT_FAILURE
    } else if damaged > 0 {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    })
}

fn spinner(prefix: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix}: {human_pos} event revisions read ({per_sec}) {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(prefix);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn report_chain(e: live::LiveError) -> anyhow::Error {
    anyhow::Error::new(e)
}

/// `ingest --endpoints …`: one live pull, one source.
fn run_live(args: &IngestArgs, options: &LiveOptions) -> anyhow::Result<i32> {
    let mut store = Store::open(&args.db.db)
        .with_context(|| format!("opening database {}", args.db.db.display()))?;
    let ingest_options = IngestOptions {
        prefix: args.prefix.clone(),
    };
    let show_progress = !args.no_progress && std::io::stderr().is_terminal();
    let location = options.location();
    let bar = show_progress.then(|| spinner(location.clone()));
    let progress = |n: u64| {
        if let Some(bar) = &bar {
            bar.set_position(n);
        }
    };
    let started = Instant::now();
    let outcome = ingest_live(&mut store, options, &ingest_options, &progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let published = store.is_published();
    drop(store);
    let code = match outcome {
        Ok(SourceOutcome::Loaded(loaded)) => {
            print_summary(std::path::Path::new(&location), &loaded, started.elapsed());
            if loaded.summary.damaged_records > 0 {
                EXIT_DAMAGED
            } else {
                EXIT_OK
            }
        }
        Ok(SourceOutcome::AlreadyLoaded { source_id, sha256 }) => {
            println!(
                "{location}: nothing changed since source {source_id} (same pulled content, sha256 {sha256}); nothing added"
            );
            EXIT_OK
        }
        Err(e) => {
            report_error(&e);
            return Ok(EXIT_FAILURE);
        }
    };
    if published {
        println!("database: {}", args.db.db.display());
    }
    Ok(code)
}

/// The output database (or the temp file a new one is built in) may sit in
/// the directory being read: it is not evidence.
fn without_database(files: Vec<PathBuf>, databases: &[&Path]) -> Vec<PathBuf> {
    let databases: Vec<PathBuf> = databases
        .iter()
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .collect();
    files
        .into_iter()
        .filter(|f| std::fs::canonicalize(f).map_or(true, |f| !databases.contains(&f)))
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
    match &s.live {
        Some(l) => println!(
            "  pulled through the etcd API (server {}): {} records, {} bytes; sha256 of the record stream (see docs/schema.md)",
            l.server_version, l.records, l.stream_bytes
        ),
        None => println!("  {}", s.trailer.describe()),
    }
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
    if s.live.is_none() {
        println!(
        "  free pages: {} scanned, {} hold key-bucket leaves; recovered from them: {} event revisions and {} tombstones the tree no longer holds",
        scan.free_pages, scan.key_leaves, sum.free_page_event_revisions, sum.free_page_tombstones
    );
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_etcdctl_takes_them() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn secrets_are_not_printed() {
        let s: Secret = "hunter2".parse().unwrap();
        assert_eq!(format!("{s:?}"), "<redacted>");
    }
}
