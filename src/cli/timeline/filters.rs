//! The timeline's filters (`--object`, `--uid`, `--namespace`, `--since`,
//! `--until`, `--reason`, `--type`, `--user`) as one set of arguments,
//! validated into a [`TimelineQuery`]: shared by `timeline` and `export`,
//! so that both select exactly the same lines.

use std::time::Duration;

use time::OffsetDateTime;

use super::kinds::kind_for;
use crate::cli::UsageError;
use crate::helpers::parse_duration;
use crate::store::timeline::{ObjectSpec, Timeline, TimelineQuery};

/// The filters; all optional, combined with AND.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only lines about objects in this namespace.
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// KIND/[NAMESPACE/]NAME (kind case-insensitive, singular, plural,
    /// kubectl's short name or KIND.GROUP: deployment/shop/web,
    /// deploy/shop/web, deployments.apps/shop/web, po/shop/web-1): this
    /// object and everything it owns, followed down through `objects`
    /// (deleted objects included). An object the database does not know is
    /// an error (exit code 1), naming the objects of that name it holds.
    #[arg(long, value_name = "KIND/[NAMESPACE/]NAME")]
    pub object: Option<String>,
    /// The object with this uid, and everything it owns.
    #[arg(long, value_name = "UID")]
    pub uid: Option<String>,
    /// From this time: RFC 3339, or a duration (30s, 15m, 2h, 1d) before the
    /// newest line of the database.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Up to this time (inclusive): RFC 3339 or a duration before the newest line.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only Events with this reason (BackOff, Failed, …).
    #[arg(long, value_name = "REASON")]
    pub reason: Option<String>,
    /// Only audit entries of this user (username or impersonated user).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Only Events of this type (Normal, Warning).
    #[arg(long = "type", value_name = "TYPE")]
    pub type_: Option<String>,
}

impl FilterArgs {
    /// The query the arguments ask for; `None` when a time relative to the
    /// newest line names no time (the database has no line): then no line
    /// matches.
    pub fn query(&self, timeline: &Timeline<'_>) -> anyhow::Result<Option<TimelineQuery>> {
        let args = self;
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
    pub fn unknown_object(
        &self,
        timeline: &Timeline<'_>,
        object: &ObjectSpec,
    ) -> anyhow::Result<String> {
        let args = self;
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
