//! The command line: arguments are parsed and validated here, then handed
//! to the library. Exit codes are part of the interface:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | failure: an input could not be read, or the database could not be written; `timeline --object` names an object the database does not hold |
//! | 2 | usage error (bad arguments; for `query`, a saved question that does not exist or empty SQL) |
//! | 3 | success, but damaged records were skipped (counted in the summary and in `damaged_records`); for `info`, damage in the db or in the WAL beside it (a torn WAL tail is not damage) |
//! | 141 | standard output was closed early (`\| head`): nothing more is written, nothing is said |

mod decode;
mod export;
mod info;
mod ingest;
mod query;
mod timeline;

use std::io;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_DAMAGED: i32 = 3;
/// What the shell reports for a tool that SIGPIPE ended (128 + 13), as
/// `cat`, `sort` or `grep` end when the reader of their output goes away:
/// the output was cut short, so it is not success (`set -o pipefail` sees
/// it), but it is not worth a message either. Rust ignores SIGPIPE, so the
/// write fails with EPIPE and the command ends with this code.
pub const EXIT_BROKEN_PIPE: i32 = 141;

#[derive(Parser, Debug)]
#[command(
    name = "evforensics",
    version,
    about = "Recover Kubernetes Events from etcd snapshots, and audit logs, into SQLite for incident forensics",
    long_about = "Recover Kubernetes Events from etcd snapshots into SQLite for incident forensics.\n\n\
        The API server keeps Events in etcd for about an hour. An etcd snapshot still holds every \
        revision since the last compaction — including Events whose lease already ran out. \
        evforensics reads them offline (etcd need not run), never modifies its inputs, and loads \
        them into one SQLite database you can query with sqlite3, datasette or `evforensics query`.",
    after_help = "Examples:\n  \
        evforensics ingest snapshot.db                 load a snapshot into ./evforensics.sqlite\n  \
        evforensics ingest --db case.sqlite /var/lib/etcd snapshot-0930.db.zst\n  \
        evforensics info snapshot.db                   what the snapshot holds, without loading it\n  \
        evforensics decode value.bin                   one stored value as kubectl shows it\n  \
        evforensics ingest /var/log/kubernetes/audit/  rotated audit logs into ./evforensics.sqlite\n  \
        evforensics query --list                       the saved questions\n  \
        evforensics query who-deleted-what             run one\n  \
        evforensics timeline --object deployment/shop/web   its Events and audit entries, with its Pods'\n  \
        evforensics export --format es-bulk --out case.ndjson   for Elasticsearch (also otlp-logs, otlp-traces, jaeger)\n  \
        sqlite3 evforensics.sqlite \"SELECT reason, count(*) FROM events GROUP BY 1\"\n\n\
        Exit codes: 0 success, 1 failure, 2 usage error, 3 success with damaged records skipped, \
        141 standard output closed early (| head)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load etcd snapshots, data directories and Kubernetes audit logs into the SQLite database.
    ///
    /// Each SOURCE is recognized by its content: an `etcdctl snapshot save` file
    /// (its SHA-256 trailer is verified), a copy of member/snap/db, an etcd data
    /// directory, or any of these files compressed with zstd or gzip. Every
    /// revision of every Event the file holds is loaded, with the tombstones of
    /// deleted and expired ones. Loading the same file twice adds nothing; two
    /// snapshots of one cluster merge.
    ///
    /// Kubernetes audit logs (audit.k8s.io v1/v1beta1 JSON lines, webhook
    /// EventList batches, AKS diagnostic records; plain, .gz or .zst) load into
    /// audit_events; a directory without etcd data is read file by file
    /// (rotated logs), and files that are neither are reported as skipped. An
    /// audit event (auditID and stage) is stored once however often it is loaded.
    ///
    /// With --endpoints instead of SOURCE files, every Event revision a running
    /// etcd still holds is pulled over its API (read-only: range, watch, status).
    Ingest(Box<ingest::IngestArgs>),
    /// Show what an etcd snapshot holds, without loading it.
    Info(info::InfoArgs),
    /// Decode one stored etcd value (a Kubernetes Event) to JSON as kubectl shows it.
    ///
    /// The value is a `k8s\0` protobuf envelope or JSON, exactly as etcd
    /// stores it, optionally followed by one newline (what `etcdctl get
    /// --print-value-only` writes after it). To get one:
    ///
    ///   ETCDCTL_API=3 etcdctl get /registry/events/NS/NAME --print-value-only > value.bin
    ///   evforensics decode value.bin
    ///
    /// (on a control-plane node, with --endpoints, --cacert, --cert and --key
    /// as for any etcdctl call). Values encrypted at rest (`k8s:enc:`) and
    /// objects of other kinds are named, not decoded (exit code 1).
    #[command(verbatim_doc_comment)]
    Decode(decode::DecodeArgs),
    /// Run SQL, or a saved question (--list), against the database, read-only.
    ///
    /// The database is opened read-only: statements that write are refused.
    /// Output as an aligned table, CSV or JSON.
    Query(query::QueryArgs),
    /// One merged, time-ordered story of Event occurrences and audit entries.
    ///
    /// Each Event revision is a line at its own time (an Event updated from
    /// count 3 to 4 is two lines); each audited request is a line at its
    /// ResponseComplete time, with user, source IP, user agent and response
    /// code. --object follows ownership downward through the objects the
    /// snapshots hold: a Deployment's timeline includes its ReplicaSets and
    /// their Pods, deleted ones too. Read-only. --format html draws it as
    /// one page: lanes nested by ownership, lifetimes, horizons (see
    /// --format).
    Timeline(timeline::TimelineArgs),
    /// Export Events (and audit entries) for Elasticsearch, OpenTelemetry,
    /// Jaeger or a data lake.
    ///
    /// The timeline's filters select the lines; every record carries its
    /// provenance (source SHA-256, etcd key, revision, recovered_from).
    /// Formats: es-bulk (Elasticsearch _bulk, Metricbeat's kubernetes.event
    /// shape), otlp-logs (OTLP/JSON, the Collector's k8s_events mapping),
    /// otlp-traces (OTLP/JSON spans: a trace per top owner), jaeger (the
    /// JSON file the Jaeger UI opens), parquet (a Hive-partitioned dataset
    /// under --out DIR: events, audit_events, objects, partitioned by
    /// cluster and day, typed columns as in docs/schema.md; exporting
    /// another case into the same DIR adds files and replaces none; DuckDB,
    /// Spark, Trino and Athena read it as it is). Read-only; streams.
    Export(export::ExportArgs),
}

/// Where the database is, shared by the commands that use one.
#[derive(clap::Args, Debug, Clone)]
pub struct DbArg {
    /// The SQLite database.
    #[arg(long, value_name = "PATH", default_value = "evforensics.sqlite")]
    pub db: PathBuf,
}

/// Arguments that parse but do not make sense (an empty prefix, a bad
/// `--object`): reported like clap's own usage errors, with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Ingest(args) => ingest::run(*args),
        Command::Info(args) => info::run(args),
        Command::Decode(args) => decode::run(args),
        Command::Query(args) => query::run(args),
        Command::Timeline(args) => timeline::run(args),
        Command::Export(args) => export::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => EXIT_BROKEN_PIPE,
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("evforensics: usage error: {e:#}");
            EXIT_USAGE
        }
        Err(e) => {
            eprintln!("evforensics: error: {e:#}");
            EXIT_FAILURE
        }
    }
}

/// Whether writing to a closed pipe is what failed: an [`io::Error`] of
/// kind `BrokenPipe` anywhere in the chain, also inside a JSON writer's
/// error (serde_json does not give its io error as a source).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .map(|io| io.kind() == io::ErrorKind::BrokenPipe)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .map(|j| j.io_error_kind() == Some(io::ErrorKind::BrokenPipe))
            })
            .or_else(|| {
                cause.downcast_ref::<::csv::Error>().map(|c| {
                    matches!(c.kind(), ::csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::BrokenPipe)
                })
            })
            .unwrap_or(false)
    })
}
