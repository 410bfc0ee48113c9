//! `otlp-logs`: one OTLP/JSON `ExportLogsServiceRequest` per line, as the
//! Collector's file exporter writes them (its `otlpjsonfile` receiver reads
//! them back), each Event revision a log record mapped as the Collector's
//! `k8s_events` receiver maps a live Event
//! (`receiver/k8seventsreceiver/k8s_event_to_logdata.go`):
//!
//! - resource: `k8s.node.name` = `source.host`, `k8s.object.{kind, name,
//!   uid, fieldpath, api_version, resource_version}` = the involved object
//!   (and `k8s.cluster.name` when the cluster is known);
//! - time: `eventTime`, else `lastTimestamp`, else `firstTimestamp` (the
//!   receiver's order); `observedTimeUnixNano`: when this revision says it
//!   happened (`occurred_at`, which differs for a series);
//! - severity: Normal → 9 (INFO), Warning → 13 (WARN), the text the type;
//! - body: the message;
//! - attributes: `k8s.event.{reason, action, start_time, name, uid}`,
//!   `k8s.namespace.name`, `k8s.event.count` (when not 0); strings the
//!   Event lacks are written empty, as the receiver writes them; then the
//!   provenance, `evforensics.*`.
//!
//! An audit entry is a log record too: resource `k8s.object.{kind, name,
//! uid}` and `k8s.namespace.name` from its `objectRef`, body the
//! timeline's summary, severity WARN for a refused or failed request (code
//! 400 or more) else INFO, attributes `k8s.audit.*`.

use std::io::Write;

use serde::Serialize;

use super::otlp::{nanos, provenance, Attributes, Scope, SCOPE_NAME};
use super::record::{unix_nanos, AuditRecord, EventRecord, Record};
use super::writer::{ExportOptions, ExportWriter};

/// Log records per request line.
const BATCH: usize = 256;

pub struct OtlpLogs<W: Write> {
    out: W,
    options: ExportOptions,
    batch: Vec<ResourceLogs>,
}

impl<W: Write> OtlpLogs<W> {
    pub fn new(out: W, options: ExportOptions) -> OtlpLogs<W> {
        OtlpLogs {
            out,
            options,
            batch: Vec::with_capacity(BATCH),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    resource_logs: &'a [ResourceLogs],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceLogs {
    resource: Resource,
    scope_logs: [ScopeLogs; 1],
}

#[derive(Serialize)]
struct Resource {
    attributes: Attributes,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScopeLogs {
    scope: Scope<'static>,
    log_records: [LogRecord; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogRecord {
    time_unix_nano: String,
    observed_time_unix_nano: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity_number: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity_text: Option<String>,
    body: Body,
    attributes: Attributes,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    string_value: String,
}

/// The receiver's severity map (`normal` → INFO, `warning` → WARN; its
/// newer versions add `error` and `critical`), case-insensitive.
fn severity(event_type: Option<&str>) -> Option<u8> {
    match event_type?.to_ascii_lowercase().as_str() {
        "normal" => Some(9),
        "warning" => Some(13),
        "error" => Some(17),
        "critical" => Some(21),
        _ => None,
    }
}

/// `metav1.Time.String()`, as the receiver writes `k8s.event.start_time`:
/// Go's `time.Time.String()` of a UTC time (`2026-11-20 09:30:00 +0000
/// UTC`; the zero time when the Event has none).
fn go_time_string(rfc3339: Option<&str>) -> String {
    let Some(t) = rfc3339 else {
        return "0001-01-01 00:00:00 +0000 UTC".into();
    };
    let body = t.trim_end_matches('Z').replacen('T', " ", 1);
    // Go prints fractional seconds without trailing zeros.
    let body = match body.split_once('.') {
        Some((s, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                s.to_owned()
            } else {
                format!("{s}.{frac}")
            }
        }
        None => body,
    };
    format!("{body} +0000 UTC")
}

impl<W: Write> OtlpLogs<W> {
    fn scope(&self) -> Scope<'static> {
        Scope {
            name: SCOPE_NAME,
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    fn event(&self, e: &EventRecord, record: &Record) -> ResourceLogs {
        let r = &e.row;
        let mut res = Attributes::default();
        res.opt_str("k8s.cluster.name", self.options.cluster.as_deref());
        res.str("k8s.node.name", r.source_host.as_deref());
        res.str("k8s.object.kind", r.involved_kind.as_deref());
        res.str("k8s.object.name", r.involved_name.as_deref());
        res.str("k8s.object.uid", r.involved_uid.as_deref());
        res.str("k8s.object.fieldpath", r.involved_field_path.as_deref());
        res.str("k8s.object.api_version", r.involved_api_version.as_deref());
        res.str(
            "k8s.object.resource_version",
            r.involved_resource_version.as_deref(),
        );
        let time = [&r.event_time, &r.last_timestamp, &r.first_timestamp]
            .into_iter()
            .find_map(|t| t.as_deref().and_then(unix_nanos))
            .unwrap_or(0);
        let mut attrs = Attributes::default();
        attrs.str("k8s.event.reason", r.reason.as_deref());
        attrs.str("k8s.event.action", r.action.as_deref());
        attrs.str(
            "k8s.event.start_time",
            Some(&go_time_string(r.creation_timestamp.as_deref())),
        );
        attrs.str("k8s.event.name", r.name.as_deref());
        attrs.str("k8s.event.uid", r.uid.as_deref());
        attrs.str("k8s.namespace.name", r.involved_namespace.as_deref());
        attrs.int("k8s.event.count", r.count.filter(|c| *c != 0));
        provenance(&mut attrs, &record.provenance());
        attrs.bool("evforensics.live", r.live);
        attrs.int("evforensics.deleted_revision", r.deleted_revision);
        let number = severity(r.event_type.as_deref());
        ResourceLogs {
            resource: Resource { attributes: res },
            scope_logs: [ScopeLogs {
                scope: self.scope(),
                log_records: [LogRecord {
                    time_unix_nano: nanos(time),
                    observed_time_unix_nano: nanos(e.time_ns),
                    severity_number: number,
                    severity_text: number.and(r.event_type.clone()),
                    body: Body {
                        string_value: r.message.clone().unwrap_or_default(),
                    },
                    attributes: attrs,
                }],
            }],
        }
    }

    fn audit(&self, a: &AuditRecord, record: &Record) -> ResourceLogs {
        let r = &a.row;
        let mut res = Attributes::default();
        res.opt_str("k8s.cluster.name", self.options.cluster.as_deref());
        res.opt_str("k8s.object.kind", r.object_kind.as_deref());
        res.opt_str("k8s.object.name", r.object_name.as_deref());
        res.opt_str("k8s.object.uid", r.object_uid.as_deref());
        res.opt_str("k8s.namespace.name", r.object_namespace.as_deref());
        let mut attrs = Attributes::default();
        attrs.str("k8s.audit.id", Some(&r.audit_id));
        attrs.str("k8s.audit.stage", Some(&r.stage));
        attrs.opt_str("k8s.audit.level", r.level.as_deref());
        attrs.opt_str("k8s.audit.verb", r.verb.as_deref());
        attrs.opt_str("k8s.audit.request_uri", r.request_uri.as_deref());
        attrs.opt_str("k8s.audit.user.username", r.username.as_deref());
        attrs.str_array("k8s.audit.user.groups", r.user_groups.as_deref());
        attrs.opt_str(
            "k8s.audit.impersonated_user.username",
            r.impersonated_user.as_deref(),
        );
        attrs.str_array("k8s.audit.source_ips", r.source_ips.as_deref());
        attrs.opt_str("k8s.audit.user_agent", r.user_agent.as_deref());
        attrs.opt_str("k8s.audit.object.resource", r.object_resource.as_deref());
        attrs.opt_str(
            "k8s.audit.object.subresource",
            r.object_subresource.as_deref(),
        );
        attrs.opt_str("k8s.audit.object.api_group", r.object_api_group.as_deref());
        attrs.opt_str(
            "k8s.audit.object.api_version",
            r.object_api_version.as_deref(),
        );
        attrs.int("k8s.audit.response.code", r.response_code);
        attrs.opt_str("k8s.audit.response.reason", r.response_reason.as_deref());
        attrs.opt_str(
            "k8s.audit.request_received_timestamp",
            r.request_received_timestamp.as_deref(),
        );
        attrs.bool("k8s.audit.denied", r.denied);
        provenance(&mut attrs, &record.provenance());
        let failed = r.denied || r.response_code.is_some_and(|c| c >= 400);
        let (number, text) = if failed {
            (13, "Warning")
        } else {
            (9, "Normal")
        };
        ResourceLogs {
            resource: Resource { attributes: res },
            scope_logs: [ScopeLogs {
                scope: self.scope(),
                log_records: [LogRecord {
                    time_unix_nano: nanos(a.time_ns),
                    observed_time_unix_nano: nanos(a.time_ns),
                    severity_number: Some(number),
                    severity_text: Some(text.into()),
                    body: Body {
                        string_value: r.summary.clone().unwrap_or_default(),
                    },
                    attributes: attrs,
                }],
            }],
        }
    }

    fn flush_batch(&mut self) -> anyhow::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        // Serialized whole, then written at once.
        let mut line = serde_json::to_vec(&Request {
            resource_logs: &self.batch,
        })?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.batch.clear();
        Ok(())
    }
}

impl<W: Write> ExportWriter for OtlpLogs<W> {
    fn record(&mut self, record: &Record) -> anyhow::Result<()> {
        let logs = match record {
            Record::Event(e) => self.event(e, record),
            Record::Audit(a) => self.audit(a, record),
        };
        self.batch.push(logs);
        if self.batch.len() >= BATCH {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.flush_batch()?;
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_as_go_prints_it() {
        assert_eq!(
            go_time_string(Some("2026-11-20T09:30:00Z")),
            "2026-11-20 09:30:00 +0000 UTC"
        );
        assert_eq!(
            go_time_string(Some("2026-11-20T09:30:00.120000Z")),
            "2026-11-20 09:30:00.12 +0000 UTC"
        );
        assert_eq!(go_time_string(None), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn severities() {
        assert_eq!(severity(Some("Normal")), Some(9));
        assert_eq!(severity(Some("Warning")), Some(13));
        assert_eq!(severity(Some("Other")), None);
        assert_eq!(severity(None), None);
    }
}
