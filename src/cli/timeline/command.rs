//! The `timeline` command: its arguments, validated into one
//! [`crate::store::TimelineQuery`] (usage errors for a bad `--object` or time), the
//! store's lines, and the format asked for.

use super::csv::Csv;
use super::describe::Describe;
use super::filters::FilterArgs;
use super::html::Html;
use super::jsonl::Jsonl;
use super::line::LineWriter;
use super::text::{Text, Widths};
use super::timesketch::Timesketch;
use crate::cli::{DbArg, EXIT_FAILURE, EXIT_OK};
use std::io::{self, Write};

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal.
    Text,
    /// RFC 4180 CSV with a header row (NULL is an empty field; text that
    /// starts with = + - @ gets a leading ' against spreadsheet formulas).
    Csv,
    /// One JSON object per line (NULL is null).
    Jsonl,
    /// JSON lines importable into Timesketch: `message`, `datetime`,
    /// `timestamp` (microseconds), `timestamp_desc`, and the fields.
    Timesketch,
    /// One self-contained HTML page (no network): lanes nested by ownership
    /// (Deployment → ReplicaSet → Pod) with each object's lifetime bar,
    /// marks on a time axis (above 5,000 lines, counts per time bucket),
    /// each source's compaction horizon, zoom, pan, a filter box and a
    /// paged table. Its size is bounded (under ~25 MB: the table keeps the
    /// first lines, the page says how many); narrow a big case with
    /// --object, --namespace, --since/--until, --type or --reason.
    Html,
    /// `kubectl describe`'s Events table: one row per Event (its latest
    /// revision), with `AGE` as `2m (x7 over 3m58s)` as of the newest
    /// occurrence the database holds; audit lines are left out.
    Describe,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    evforensics timeline --object deployment/shop/web\n  \
    evforensics timeline --namespace shop --type Warning --since 2h\n  \
    evforensics timeline --object pods/shop/web-7f9c8d5b4-x2x9q --format csv\n  \
    evforensics timeline --user alice --since 2026-11-20T09:00:00Z --format timesketch > alice.jsonl\n  \
    evforensics timeline --object deployment/shop/web --format html > web.html\n  \
    evforensics timeline --namespace shop --format describe\n  \
    evforensics timeline --namespace shop --type Warning --since 2h --format html > shop.html")]
pub struct TimelineArgs {
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    filters: FilterArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: TimelineArgs) -> anyhow::Result<i32> {
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
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut writer: Box<dyn LineWriter + '_> = match args.format {
        Format::Text => {
            // First pass: the column widths (the lines are not kept).
            let mut widths = Widths::default();
            if let Some(query) = &query {
                timeline.for_each(query, |l| {
                    widths.measure(&l);
                    Ok::<_, anyhow::Error>(())
                })?;
            }
            Box::new(Text::new(&mut out, widths))
        }
        Format::Csv => Box::new(Csv::new(&mut out)),
        Format::Jsonl => Box::new(Jsonl::new(&mut out)),
        Format::Timesketch => Box::new(Timesketch::new(&mut out)),
        Format::Html => Box::new(Html::new(&mut out, title(&args), Some(&timeline))),
        Format::Describe => Box::new(Describe::new(&mut out, timeline.newest_event_time()?)),
    };
    if let Some(query) = &query {
        timeline.for_each(query, |l| writer.line(&l))?;
    }
    writer.finish()?;
    out.flush()?;
    Ok(EXIT_OK)
}

fn title(args: &TimelineArgs) -> String {
    let mut parts = Vec::new();
    let f = &args.filters;
    if let Some(o) = &f.object {
        parts.push(o.clone());
    }
    if let Some(u) = &f.uid {
        parts.push(format!("uid {u}"));
    }
    if let Some(n) = &f.namespace {
        parts.push(format!("namespace {n}"));
    }
    if parts.is_empty() {
        "evforensics timeline".into()
    } else {
        format!("evforensics timeline: {}", parts.join(", "))
    }
}
