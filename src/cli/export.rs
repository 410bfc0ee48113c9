//! The `export` command: the database's rows in the format asked for,
//! read-only on the database.

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{DbArg, UsageError, EXIT_OK};
use crate::export::parquet::{self, ParquetOptions};

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A Hive-partitioned Parquet dataset under --out DIR:
    /// DIR/{events,audit_events,objects}/cluster=NAME/date=YYYY-MM-DD/part-CASE-N.parquet.
    Parquet,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    evforensics export --db case.sqlite --format parquet --out lake/ --cluster prod-eu\n  \
    duckdb -c \"SELECT cluster, reason, count(*) FROM read_parquet('lake/events/**/*.parquet', hive_partitioning = true) GROUP BY ALL\"")]
pub struct ExportArgs {
    #[command(flatten)]
    db: DbArg,
    /// Output format.
    #[arg(long, value_enum)]
    format: Format,
    /// Where to write: for parquet, the dataset's directory (created if
    /// missing; files another export wrote there are kept, never replaced).
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// The cluster's name, the partition `cluster=NAME` (letters, digits,
    /// '-', '_', '.'). Default: the cluster recorded at ingest; for a
    /// database without one, its file name without extension.
    #[arg(long, value_name = "NAME")]
    cluster: Option<String>,
}

pub fn run(args: ExportArgs) -> anyhow::Result<i32> {
    if let Some(name) = &args.cluster {
        if !parquet::valid_cluster_name(name) {
            return Err(UsageError(format!(
                "--cluster {name:?}: a cluster name is letters, digits, '-', '_' and '.' (not first), at most 128 characters"
            ))
            .into());
        }
    }
    let store = crate::cli::query::open(&args.db.db)?;
    match args.format {
        Format::Parquet => {
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
        }
    }
    Ok(EXIT_OK)
}
