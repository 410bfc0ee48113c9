//! The `timeline` command: its arguments, validated into one
//! [`TimelineQuery`] (usage errors for a bad `--object` or time), the
//! store's lines, and the format asked for.

use std::io::{self, Write};
use std::time::Duration;

use time::OffsetDateTime;

use super::csv::Csv;
use super::html::Html;
use super::jsonl::Jsonl;
use super::kinds::kind_for;
use super::line::LineWriter;
use super::text::{Text, Widths};
use super::timesketch::Timesketch;
use crate::cli::{DbArg, UsageError, EXIT_FAILURE, EXIT_OK};
use crate::helpers::parse_duration;
use crate::store::timeline::{ObjectSpec, Timeline, TimelineQuery};

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
    /// One self-contained HTML page: a lane per object, marks on a time axis.
    Html,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    evforensics timeline --object deployment/shop/web\n  \
    evforensics timeline --namespace shop --type Warning --since 2h\n  \
    evforensics timeline --object pods/shop/web-7f9c8d5b4-x2x9q --format csv\n  \
    evforensics timeline --user alice --since 2026-11-20T09:00:00Z --format timesketch > alice.jsonl\n  \
    evforensics timeline --object deployment/shop/web --format html > web.html")]
pub struct TimelineArgs {
    #[command(flatten)]
    db: DbArg,
    /// Only lines about objects in this namespace.
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// KIND/[NAMESPACE/]NAME (kind case-insensitive, singular, plural,
    /// kubectl's short name or KIND.GROUP: deployment/shop/web,
    /// deploy/shop/web, deployments.apps/shop/web, po/shop/web-1): this
    /// object and everything it owns, followed down through `objects`
    /// (deleted objects included). An object the database does not know is
    /// an error (exit code 1), naming the objects of that name it holds.
    #[arg(long, value_name = "KIND/[NAMESPACE/]NAME")]
    object: Option<String>,
    /// The object with this uid, and everything it owns.
    #[arg(long, value_name = "UID")]
    uid: Option<String>,
    /// From this time: RFC 3339, or a duration (30s, 15m, 2h, 1d) before the
    /// newest line of the database.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Up to this time (inclusive): RFC 3339 or a duration before the newest line.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only Events with this reason (BackOff, Failed, …).
    #[arg(long, value_name = "REASON")]
    reason: Option<String>,
    /// Only audit entries of this user (username or impersonated user).
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Only Events of this type (Normal, Warning).
    #[arg(long = "type", value_name = "TYPE")]
    type_: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: TimelineArgs) -> anyhow::Result<i32> {
    let store = crate::cli::query::open(&args.db.db)?;
    let timeline = store.timeline()?;
    let query = query(&timeline, &args)?;
    if let Some(object) = query.as_ref().and_then(|q| q.object.as_ref()) {
        if !timeline.knows_object(object)? {
            eprintln!("evforensics: {}", unknown_object(&timeline, &args, object)?);
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
        Format::Html => Box::new(Html::new(&mut out, title(&args))),
    };
    if let Some(query) = &query {
        timeline.for_each(query, |l| writer.line(&l))?;
    }
    writer.finish()?;
    out.flush()?;
    Ok(EXIT_OK)
}

/// The query the arguments ask for; `None` when a time relative to the
/// newest line names no time (the database has no line): then no line
/// matches.
fn query(timeline: &Timeline<'_>, args: &TimelineArgs) -> anyhow::Result<Option<TimelineQuery>> {
    let object = args.object.as_deref().map(parse_object).transpose()?;
    let since = args.since.as_deref().map(parse_time).transpose()?;
    let until = args.until.as_deref().map(parse_time).transpose()?;
    let resolve = |t: Option<TimeArg>| -> anyhow::Result<Option<Option<OffsetDateTime>>> {
        Ok(match t {
            None => Some(None),
            Some(TimeArg::At(t)) => Some(Some(t)),
            Some(TimeArg::BeforeNewest(d)) => timeline.before_newest(d)?.map(Some),
        })
    };
    let (Some(since), Some(until)) = (resolve(since)?, resolve(until)?) else {
        return Ok(None);
    };
    Ok(Some(TimelineQuery {
        object,
        uid: args.uid.clone(),
        namespace: args.namespace.clone(),
        since,
        until,
        reason: args.reason.clone(),
        event_type: args.type_.clone(),
        user: args.user.clone(),
    }))
}

/// What to say of an `--object` that names nothing the database holds:
/// that, and the objects of that name (or nearly) it does hold.
fn unknown_object(
    timeline: &Timeline<'_>,
    args: &TimelineArgs,
    object: &ObjectSpec,
) -> anyhow::Result<String> {
    let typed = args.object.as_deref().unwrap_or_default();
    let alike = timeline.objects_named_like(&object.name, 10)?;
    let (same, near): (Vec<_>, Vec<_>) = alike.into_iter().partition(|(_, d)| *d == 0);
    let list = |objects: Vec<(String, usize)>| {
        objects
            .into_iter()
            .map(|(o, _)| o)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = format!(
        "no object {typed} in this database; objects named {}: {}",
        object.name,
        if same.is_empty() {
            "none".to_owned()
        } else {
            list(same)
        }
    );
    if !near.is_empty() {
        text.push_str(&format!("; similar names: {}", list(near)));
    }
    Ok(text)
}

fn title(args: &TimelineArgs) -> String {
    let mut parts = Vec::new();
    if let Some(o) = &args.object {
        parts.push(o.clone());
    }
    if let Some(u) = &args.uid {
        parts.push(format!("uid {u}"));
    }
    if let Some(n) = &args.namespace {
        parts.push(format!("namespace {n}"));
    }
    if parts.is_empty() {
        "evforensics timeline".into()
    } else {
        format!("evforensics timeline: {}", parts.join(", "))
    }
}

/// An `--object` argument: KIND/[NAMESPACE/]NAME.
fn parse_object(s: &str) -> Result<ObjectSpec, UsageError> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [kind, name] if !kind.is_empty() && !name.is_empty() => Ok(ObjectSpec {
            kind: kind_for(kind),
            namespace: None,
            name: name.to_string(),
        }),
        [kind, ns, name] if !kind.is_empty() && !ns.is_empty() && !name.is_empty() => {
            Ok(ObjectSpec {
                kind: kind_for(kind),
                namespace: Some(ns.to_string()),
                name: name.to_string(),
            })
        }
        _ => Err(UsageError(format!(
            "--object {s:?}: expected KIND/[NAMESPACE/]NAME, e.g. deployment/shop/web"
        ))),
    }
}

/// A `--since`/`--until` argument.
#[derive(Debug, PartialEq, Eq)]
enum TimeArg {
    At(OffsetDateTime),
    /// This long before the newest line of the database.
    BeforeNewest(Duration),
}

fn parse_time(s: &str) -> Result<TimeArg, UsageError> {
    if let Ok(d) = parse_duration(s) {
        return Ok(TimeArg::BeforeNewest(d));
    }
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(TimeArg::At)
        .map_err(|e| {
            UsageError(format!(
                "{s:?}: expected an RFC 3339 time (2026-11-20T09:30:00Z) or a duration (2h): {e}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::time::format_micro;

    #[test]
    fn object_specs() {
        assert_eq!(
            parse_object("deployment/shop/web").unwrap(),
            ObjectSpec {
                kind: "deployment".into(),
                namespace: Some("shop".into()),
                name: "web".into()
            }
        );
        assert_eq!(parse_object("node/n1").unwrap().namespace, None);
        assert_eq!(parse_object("deploy/shop/web").unwrap().kind, "Deployment");
        assert_eq!(parse_object("rs.apps/web-1").unwrap().kind, "ReplicaSet");
        assert_eq!(
            parse_object("deployments.apps/shop/web").unwrap().kind,
            "deployments"
        );
        assert!(parse_object("web").is_err());
        assert!(parse_object("a/b/c/d").is_err());
        assert!(parse_object("pods//x").is_err());
    }

    /// A duration is before the newest line; a time is in any offset and
    /// bounds the database's UTC micro text; anything else is a usage error.
    #[test]
    fn durations_and_times() {
        assert_eq!(
            parse_time("2h").unwrap(),
            TimeArg::BeforeNewest(Duration::from_secs(7200))
        );
        assert_eq!(
            parse_time("1d").unwrap(),
            TimeArg::BeforeNewest(Duration::from_secs(86400))
        );
        let TimeArg::At(t) = parse_time("2026-11-20T10:30:00+01:00").unwrap() else {
            panic!("a time");
        };
        assert_eq!(
            format_micro(t.unix_timestamp(), t.nanosecond() as i32),
            "2026-11-20T09:30:00.000000Z"
        );
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("h").is_err());
    }
}
