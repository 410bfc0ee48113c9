//! The `export` command: the timeline's filters, a format, where to write;
//! the database opened read-only, the records streamed into the format, a
//! progress bar on a terminal.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::timeline::FilterArgs;
use crate::cli::{DbArg, UsageError, EXIT_FAILURE, EXIT_OK};
use crate::export::parquet::{self, ParquetOptions};
use crate::export::{
    export, EsBulk, ExportOptions, ExportWriter, Jaeger, OtlpLogs, OtlpTraces, Owners, Selection,
};

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Elasticsearch _bulk NDJSON in Metricbeat's kubernetes.event shape
    /// (audit entries as kubernetes.audit_logs documents).
    EsBulk,
    /// OTLP/JSON ExportLogsServiceRequest lines, mapped as the OpenTelemetry
    /// Collector's k8s_events receiver maps Events (audit entries too).
    OtlpLogs,
    /// OTLP/JSON ExportTraceServiceRequest lines: a trace per top owner, a
    /// span per Event revision, audited writes as span events.
    OtlpTraces,
    /// The JSON file the Jaeger UI opens (Search → Upload): the same traces.
    Jaeger,
    /// A Hive-partitioned Parquet dataset under --out DIR, every table:
    /// DIR/{events,audit_events,objects}/cluster=NAME/date=YYYY-MM-DD/part-CASE-N.parquet.
    Parquet,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    evforensics export --format es-bulk --out case.ndjson\n  \
    evforensics export --format otlp-logs --namespace shop --since 2h --out shop.otlp.jsonl\n  \
    evforensics export --format jaeger --object deployment/shop/web --out web-traces.json\n  \
    evforensics export --format es-bulk --index metricbeat-8.15.0 --out - | curl -H 'Content-Type: application/x-ndjson' --data-binary @- http://localhost:9200/_bulk\n  \
    evforensics export --db case.sqlite --format parquet --out lake/ --cluster prod-eu\n  \
    duckdb -c \"SELECT cluster, reason, count(*) FROM read_parquet('lake/events/**/*.parquet', hive_partitioning = true) GROUP BY ALL\"")]
pub struct ExportArgs {
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    filters: FilterArgs,
    /// Output format.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Where to write: a file, or - for standard output (the default); for
    /// parquet, the dataset's directory (created if missing; files another
    /// export wrote there are kept, never replaced).
    #[arg(long, value_name = "PATH", default_value = "-")]
    out: PathBuf,
    /// es-bulk: the index (or data stream) named in the action lines.
    #[arg(long, value_name = "NAME", default_value = "evforensics-events")]
    index: String,
    /// parquet: the cluster's name, the partition `cluster=NAME` (letters,
    /// digits, '-', '_', '.'). Default: the cluster recorded at ingest
    /// (`ingest --cluster`); for a database without one, its file name
    /// without extension.
    #[arg(long, value_name = "NAME")]
    cluster: Option<String>,
}

pub fn run(args: ExportArgs) -> anyhow::Result<i32> {
    if args.format == ExportFormat::Parquet {
        return run_parquet(args);
    }
    let store = crate::cli::query::open(&args.db.db)?;
    let timeline = store.timeline()?;
    let query = args.filters.query(&timeline)?;
    if let Some(object) = query.as_ref().and_then(|q| q.object.as_ref()) {
        if !timeline.knows_object(object)? {
            eprintln!(
                "evforensics: {}",
                args.filters.unknown_object(&timeline, object)?
            );
            return Ok(EXIT_FAILURE);
        }
    }
    let selection = Selection { query };
    let to_stdout = args.out.as_os_str() == "-";
    let out: Box<dyn Write + Send> = if to_stdout {
        Box::new(io::BufWriter::with_capacity(1 << 18, io::stdout()))
    } else {
        let file =
            File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
        Box::new(io::BufWriter::with_capacity(1 << 18, file))
    };
    let options = ExportOptions {
        index: args.index.clone(),
        cluster: None,
        tool_version: format!("evforensics {}", env!("CARGO_PKG_VERSION")),
    };
    let writer: Box<dyn ExportWriter + Send> = match args.format {
        ExportFormat::EsBulk => Box::new(EsBulk::new(out, options)),
        ExportFormat::OtlpLogs => Box::new(OtlpLogs::new(out, options)),
        ExportFormat::OtlpTraces => {
            Box::new(OtlpTraces::new(out, options, Owners::load(&timeline)?))
        }
        ExportFormat::Jaeger => Box::new(Jaeger::new(out, Owners::load(&timeline)?)),
        // Handled above, before any file is made.
        ExportFormat::Parquet => anyhow::bail!("--format parquet writes a dataset, not a stream"),
    };
    let bar = progress_bar(&timeline, &selection)?;
    let summary = export(&timeline, &selection, writer, |n| {
        if let Some(bar) = &bar {
            if n % 1024 == 0 {
                bar.set_position(n);
            }
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if summary.untimed > 0 {
        eprintln!(
            "note: {} lines have no time (no occurrence or creation time, no request timestamp) and were not exported; `evforensics timeline` lists them as (no time)",
            summary.untimed
        );
    }
    if !to_stdout || io::stderr().is_terminal() {
        eprintln!(
            "exported {} Event revisions and {} audit entries{}",
            summary.events,
            summary.audit_entries,
            if to_stdout {
                String::new()
            } else {
                format!(" to {}", args.out.display())
            }
        );
    }
    Ok(EXIT_OK)
}

/// A bar on a terminal (stderr), sized by a count of the selection; none
/// otherwise (a pipe or a log gets no bar and pays no count).
fn progress_bar(
    timeline: &crate::store::Timeline<'_>,
    selection: &Selection,
) -> anyhow::Result<Option<ProgressBar>> {
    if !io::stderr().is_terminal() {
        return Ok(None);
    }
    let bar = ProgressBar::new(selection.count(timeline)?);
    bar.set_style(
        ProgressStyle::with_template("exporting {bar:40} {pos}/{len} records ({per_sec}, {eta})")
            .expect("a valid template"),
    );
    Ok(Some(bar))
}

/// `--format parquet`: every table of the case, not the timeline's lines.
fn run_parquet(args: ExportArgs) -> anyhow::Result<i32> {
    let f = &args.filters;
    let filtered = [
        &f.namespace,
        &f.object,
        &f.uid,
        &f.since,
        &f.until,
        &f.reason,
        &f.user,
        &f.type_,
    ]
    .iter()
    .any(|v| v.is_some());
    if filtered {
        return Err(UsageError(
            "--format parquet exports every table of the case; the timeline's filters do not apply (filter in DuckDB or Spark)".into(),
        )
        .into());
    }
    if args.out.as_os_str() == "-" {
        return Err(
            UsageError("--format parquet needs --out DIR (a dataset directory)".into()).into(),
        );
    }
    if let Some(name) = &args.cluster {
        if !parquet::valid_cluster_name(name) {
            return Err(UsageError(format!(
                "--cluster {name:?}: a cluster name is letters, digits, '-', '_' and '.' (not first), at most 128 characters"
            ))
            .into());
        }
    }
    let store = crate::cli::query::open(&args.db.db)?;
    let cluster = match args.cluster {
        Some(name) => name,
        None => store.recorded_cluster(),
    };
    let options = ParquetOptions {
        out: args.out.clone(),
        cluster,
    };
    let summary = parquet::export(&store, &options)
        .with_context(|| format!("exporting to {}", args.out.display()))?;
    println!(
        "parquet dataset {} (cluster={}, case {}):",
        args.out.display(),
        summary.cluster,
        summary.case
    );
    for t in &summary.tables {
        println!(
            "  {:<13} {:>9} rows  {:>3} days  {:>3} files",
            t.table,
            t.rows,
            t.partitions,
            t.files.len()
        );
        if t.unrepresentable_times > 0 {
            println!(
                "  NOTE: {} times in {} are beyond what a Parquet timestamp holds: written as NULL (the database keeps the text)",
                t.unrepresentable_times, t.table
            );
        }
    }
    Ok(EXIT_OK)
}
