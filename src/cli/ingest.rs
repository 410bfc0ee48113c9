//! `evforensics ingest`: load sources — snapshot files and data directories,
//! or a running etcd (`--endpoints`) — and print a closing summary.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::{DbArg, EXIT_DAMAGED, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::helpers::parse_duration;
use crate::ingest::{
    ingest_files, ingest_live, AlreadyLoaded, AuditLoaded, DirectoryListing, IngestError,
    IngestOptions, IngestPlan, IngestReport, Inputs, LoadedSource, SourceOutcome, Totals,
    WAL_SOURCE_KIND,
};
use crate::source::live::{self, LiveOptions, DEFAULT_PAGE_SIZE};
use crate::source::registry::{EtcdShare, DEFAULT_PREFIX};
use crate::store::{EventFateCounts, LoadSummary, Store, WalReplayRow};

#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    #[command(flatten)]
    db: DbArg,
    /// etcd key prefix of Events (OpenShift: /kubernetes.io/events/).
    #[arg(long, value_name = "P", default_value = DEFAULT_PREFIX)]
    prefix: String,
    /// The cluster's name, recorded with every source loaded (and read by
    /// `export`). A database holds one cluster: a load naming another, or
    /// whose kube-system namespace has another uid than a source already
    /// loaded, is refused.
    #[arg(long, value_name = "NAME")]
    cluster: Option<String>,
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

/// Whether `name` can name a cluster as it is, in a path too (the export's
/// `cluster=NAME` partition): letters, digits, `-`, `_`, `.`, not first.
fn valid_cluster_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks the arguments once and makes them a plan: every flag combination
/// that makes no sense is refused here, before anything is opened.
fn plan(args: &IngestArgs) -> Result<IngestPlan, String> {
    if args.prefix.is_empty() {
        return Err("--prefix must not be empty".into());
    }
    if let Some(name) = &args.cluster {
        if !valid_cluster_name(name) {
            return Err(format!("--cluster {name:?}: a cluster name is letters, digits, '-', '_' and '.' (not first), at most 128 characters"));
        }
    }
    let options = IngestOptions {
        prefix: args.prefix.clone(),
        cluster: args.cluster.clone(),
    };
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
        return Ok(IngestPlan {
            options,
            inputs: Inputs::Files(args.sources.clone()),
        });
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
    Ok(IngestPlan {
        options,
        inputs: Inputs::Live {
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
        },
    })
}

pub fn run(args: IngestArgs) -> anyhow::Result<i32> {
    let plan = match plan(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("evforensics: usage error: {e}");
            eprintln!("see: evforensics ingest --help");
            return Ok(EXIT_USAGE);
        }
    };
    let show_progress = !args.no_progress && std::io::stderr().is_terminal();
    let database = &args.db.db;
    let files = match plan.inputs {
        Inputs::Files(files) => files,
        Inputs::Live {
            options,
            save_snapshot: None,
        } => return run_live(database, &plan.options, &options, show_progress),
        Inputs::Live {
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
            let live::SavedSnapshot {
                sha256: sha,
                bytes: size,
            } = live::save_snapshot(&options, &file).map_err(report_chain)?;
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
    for s in &files {
        std::fs::metadata(s).with_context(|| format!("{}: cannot read", s.display()))?;
    }
    let mut store = Store::open(database)
        .with_context(|| format!("opening database {}", database.display()))?;
    let mut printer = Printer::new(&plan.options.prefix, show_progress);
    let totals = ingest_files(&mut store, &files, &plan.options, &mut printer);
    // A new database exists once a source was loaded into it; a run that
    // loaded nothing into a new one leaves nothing behind.
    if store.is_published() {
        println!("database: {}", database.display());
    }
    drop(store);
    Ok(exit_code(totals))
}

/// The exit code of a run's totals (see [`super`]).
fn exit_code(totals: Totals) -> i32 {
    if totals.failed > 0 {
        EXIT_FAILURE
    } else if totals.damaged > 0 {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    }
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
fn run_live(
    database: &Path,
    ingest_options: &IngestOptions,
    options: &LiveOptions,
    show_progress: bool,
) -> anyhow::Result<i32> {
    let mut store = Store::open(database)
        .with_context(|| format!("opening database {}", database.display()))?;
    let location = options.location();
    let mut printer = Printer::new(&ingest_options.prefix, show_progress);
    let name = Path::new(&location);
    printer.reading(name);
    let started = Instant::now();
    let outcome = ingest_live(&mut store, options, ingest_options, &|n| {
        printer.progress(n)
    });
    printer.done_reading();
    let published = store.is_published();
    drop(store);
    let code = match outcome {
        Ok(SourceOutcome::Loaded(loaded)) => {
            printer.loaded(name, &loaded, started.elapsed());
            exit_code(Totals {
                failed: 0,
                damaged: loaded.summary.damaged_records,
            })
        }
        Ok(SourceOutcome::AlreadyLoaded(already)) => {
            println!(
                "{location}: nothing changed since source {} (same pulled content, sha256 {}); nothing added",
                already.source_id, already.sha256
            );
            EXIT_OK
        }
        Err(e) => {
            printer.failed(name, &e);
            return Ok(EXIT_FAILURE);
        }
    };
    if published {
        println!("database: {}", database.display());
    }
    Ok(code)
}

/// Prints what a run does: a spinner while an input is read (on a
/// terminal), then each input's summary.
struct Printer {
    /// The Event prefix, for the notes of the summary.
    prefix: String,
    show_progress: bool,
    bar: Option<ProgressBar>,
}

impl Printer {
    fn new(prefix: &str, show_progress: bool) -> Self {
        Printer {
            prefix: prefix.to_string(),
            show_progress,
            bar: None,
        }
    }
}

impl IngestReport for Printer {
    fn reading(&mut self, input: &Path) {
        if self.show_progress {
            self.bar = Some(spinner(input.display().to_string()));
        }
    }

    fn progress(&self, records: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(records);
        }
    }

    fn done_reading(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn loaded(&mut self, input: &Path, loaded: &LoadedSource, took: Duration) {
        print_summary(input, loaded, took, &self.prefix);
    }

    fn audit_loaded(&mut self, input: &Path, loaded: &AuditLoaded) {
        print_audit_summary(input, loaded);
    }

    fn already_loaded(&mut self, input: &Path, already: &AlreadyLoaded) {
        println!(
            "{}: already loaded as source {} (sha256 {}); nothing added",
            input.display(),
            already.source_id,
            already.sha256
        );
    }

    fn failed(&mut self, _input: &Path, error: &IngestError) {
        eprintln!("evforensics: error: {error}");
        let mut cause = std::error::Error::source(error);
        while let Some(c) = cause {
            eprintln!("  caused by: {c}");
            cause = c.source();
        }
    }

    fn directory_read(&mut self, directory: &Path, listing: &DirectoryListing) {
        println!(
            "{}: {} of {} files loaded, {} skipped",
            directory.display(),
            listing.loaded,
            listing.files,
            listing.skipped.len()
        );
        for s in &listing.skipped {
            println!("  skipped {s}");
        }
        if listing.holds_no_evidence() {
            eprintln!(
                "evforensics: error: {}: directory holds no etcd data (expected member/snap/db inside an etcd data directory) and no audit log files",
                directory.display()
            );
        }
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

fn print_summary(source: &std::path::Path, s: &LoadedSource, took: Duration, prefix: &str) {
    let sum = &s.summary;
    let compression = s.compression.map(|c| format!(", {c}")).unwrap_or_default();
    println!(
        "{} → source {} ({}{compression}, sha256 {})",
        source.display(),
        sum.source_id,
        s.kind,
        s.sha256
    );
    // A file that is not whole says so first.
    if let Some(condition) = &s.condition {
        println!("  {condition}");
    }
    match &s.live {
        Some(l) => println!(
            "  pulled through the etcd API (server {}): {} records, {} bytes; sha256 of the record stream (see docs/schema.md)",
            l.server_version, l.records, l.stream_bytes
        ),
        None if s.kind == WAL_SOURCE_KIND => println!(
            "  a WAL on its own, without the db beside it: what its proposals did is replayed from its first entry"
        ),
        None if s.truncated => println!("  {}", s.trailer.describe_truncated()),
        None => println!("  {}", s.trailer.describe()),
    }
    if let Some(note) = &s.meta_note {
        println!("  WARNING: {note}");
    }
    let rev = |r: Option<i64>| r.map(|r| r.to_string()).unwrap_or_else(|| "none".into());
    if s.kind != WAL_SOURCE_KIND {
        println!(
            "  head revision {}, compacted at revision {}",
            rev(s.head_revision),
            rev(s.compact_revision)
        );
    }
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
    print_fates(&sum.fates);
    print_cluster(sum);
    println!("  tombstones: {}", sum.tombstones);
    println!(
        "  other objects (metadata): {} revisions, {} tombstones",
        sum.object_revisions, sum.object_tombstones
    );
    let share = EtcdShare::of(
        sum.event_revisions + sum.tombstones,
        sum.object_revisions + sum.object_tombstones,
    );
    // A WAL holds the writes of its window only: objects not written then
    // are absent from it, and that says nothing about where Events live.
    if let Some(note) = share.note(prefix).filter(|_| s.kind != WAL_SOURCE_KIND) {
        println!("  NOTE: {note}");
    }
    let scan = &s.free_scan;
    if s.live.is_none() && s.kind != WAL_SOURCE_KIND {
        println!(
        "  free pages: {} scanned, {} hold key-bucket leaves; recovered from them: {} event revisions and {} tombstones the tree no longer holds",
        scan.free_pages, scan.key_leaves, sum.free_page_event_revisions, sum.free_page_tombstones
    );
    }
    if sum.snap_copy_event_revisions > 0 {
        println!(
            "  older copies of the db (member/snap/*.snap.db): {} Event revisions only they hold",
            sum.snap_copy_event_revisions
        );
    }
    if let Some(wal) = &sum.wal {
        print_wal(sum, wal);
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

/// What became of the source's Event revisions (the `event_fates` view:
/// the same answer as `expired_events` and `query expired-events`).
fn print_fates(f: &EventFateCounts) {
    let because = if f.gone_because.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = f
            .gone_because
            .iter()
            .map(|(why, n)| format!("{why} {n}"))
            .collect();
        format!(" ({})", parts.join(", "))
    };
    println!(
        "    live at the head revision: {}; superseded by a later revision of their Event: {}",
        f.live, f.superseded
    );
    println!(
        "    gone (their Event expired or was deleted, the last revision held of each): {}{because}",
        f.gone
    );
    if f.unknown > 0 {
        println!(
            "    liveness unknown (no source with a known head revision covers them): {}",
            f.unknown
        );
    }
}

/// The cluster the source was recorded as.
fn print_cluster(sum: &LoadSummary) {
    let name = sum
        .cluster
        .as_deref()
        .unwrap_or("unnamed (ingest --cluster NAME names it)");
    match &sum.kube_system_uid {
        Some(uid) => println!("  cluster: {name}; kube-system namespace uid {uid}"),
        None => println!("  cluster: {name}; no kube-system namespace in this source (its Kubernetes cluster is not told)"),
    }
}

/// What the WAL beside a data directory's db added.
fn print_wal(sum: &LoadSummary, wal: &WalReplayRow) {
    let range = match (wal.first_index, wal.last_index) {
        (Some(a), Some(b)) => format!("raft index {a}..{b}"),
        _ => "no entries".to_string(),
    };
    println!(
        "  wal: {} files ({} bytes), {range}: {} entries committed, {} replaced by a later term, {} not known committed",
        wal.files, wal.bytes, wal.committed_entries, wal.replaced_entries, wal.uncommitted_entries
    );
    println!(
        "    replayed: {} write transactions applied; {} Event revisions and {} Event tombstones, of which {} revisions the db (tree or free pages) no longer holds",
        wal.applied_writes,
        sum.wal_event_revisions,
        sum.wal_tombstones,
        sum.wal_only_event_revisions
    );
    println!(
        "    {} transactions whose compare failed (not revisions, not loaded); {} writes unresolved{}",
        wal.failed_compares,
        wal.unresolved,
        if wal.unresolved > 0 {
            format!(
                " (see: SELECT * FROM wal_unresolved_writes WHERE source_id = {})",
                sum.source_id
            )
        } else {
            String::new()
        }
    );
    if wal.contradictions > 0 {
        println!(
            "    {} times the counted revision disagreed with the db, which was followed",
            wal.contradictions
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_printed() {
        let s: Secret = "hunter2".parse().unwrap();
        assert_eq!(format!("{s:?}"), "<redacted>");
    }
}
