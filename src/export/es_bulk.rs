//! `es-bulk`: Elasticsearch `_bulk` NDJSON — an action line, then the
//! document — in Metricbeat's `kubernetes.event` shape
//! (`module/kubernetes/event/event.go`, `_meta/fields.yml`; a copy is in
//! `fixtures/third_party/metricbeat-kubernetes-event/`), so that the
//! dashboards and saved searches built on Metricbeat's documents show
//! recovered Events as they show live ones.
//!
//! Metricbeat's fields as it fills them, labels and annotations de-dotted
//! as its defaults do (`labels.dedot`, `annotations.dedot`: `.` → `_`);
//! absent values are left out rather than written as Go's zero values.
//! What Metricbeat drops (eventTime, series, action, the reporting
//! controller and instance, related, the involved object's namespace and
//! field path) and the provenance go under `evforensics`. Audit entries
//! are documents of `event.dataset = kubernetes.audit_logs`, the audit
//! event under `kubernetes.audit` with the log's own field names.
//!
//! Action lines are `create` with a stable `_id` (data streams accept only
//! `create`; loading the same export twice stores nothing twice — the
//! second load's documents are refused as conflicts).

use std::io::Write;

use anyhow::Context;
use serde::Serialize;
use serde_json::{Map, Value};

use super::record::{AuditRecord, EventRecord, Record};
use super::writer::{ExportOptions, ExportWriter};
use crate::helpers::hex;
use crate::store::export::ExportColumns;

pub struct EsBulk<W: Write> {
    out: W,
    options: ExportOptions,
    /// One record's lines, serialized here and written at once (fewer,
    /// larger writes through the boxed writer).
    buf: Vec<u8>,
}

impl<W: Write> EsBulk<W> {
    pub fn new(out: W, options: ExportOptions) -> EsBulk<W> {
        EsBulk {
            out,
            options,
            buf: Vec::with_capacity(4096),
        }
    }
}

#[derive(Serialize)]
struct Action<'a> {
    create: ActionMeta<'a>,
}

#[derive(Serialize)]
struct ActionMeta<'a> {
    #[serde(rename = "_index")]
    index: &'a str,
    #[serde(rename = "_id")]
    id: &'a str,
}

#[derive(Serialize)]
struct Dataset {
    dataset: &'static str,
    module: &'static str,
}

#[derive(Serialize)]
struct Named {
    name: &'static str,
}

#[derive(Serialize)]
struct ServiceType {
    #[serde(rename = "type")]
    type_: &'static str,
}

#[derive(Serialize)]
struct Orchestrator<'a> {
    cluster: ClusterName<'a>,
}

#[derive(Serialize)]
struct ClusterName<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct EventDoc<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: &'a str,
    event: Dataset,
    metricset: Named,
    service: ServiceType,
    #[serde(skip_serializing_if = "Option::is_none")]
    orchestrator: Option<Orchestrator<'a>>,
    kubernetes: KubernetesEvent<'a>,
    evforensics: EventExtension<'a>,
}

#[derive(Serialize)]
struct KubernetesEvent<'a> {
    event: K8sEvent<'a>,
}

#[derive(Serialize)]
struct K8sEvent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<i64>,
    #[serde(skip_serializing_if = "Source::is_empty")]
    source: Source<'a>,
    #[serde(skip_serializing_if = "Occurrences::is_empty")]
    timestamp: Occurrences<'a>,
    metadata: Metadata<'a>,
    involved_object: InvolvedObject<'a>,
}

#[derive(Serialize)]
struct Source<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    component: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
}

impl Source<'_> {
    fn is_empty(&self) -> bool {
        self.component.is_none() && self.host.is_none()
    }
}

#[derive(Serialize)]
struct Occurrences<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    first_occurrence: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_occurrence: Option<&'a str>,
}

impl Occurrences<'_> {
    fn is_empty(&self) -> bool {
        self.first_occurrence.is_none() && self.last_occurrence.is_none()
    }
}

#[derive(Serialize)]
struct Created<'a> {
    created: &'a str,
}

#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<Created<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    resource_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    self_link: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generate_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<Map<String, Value>>,
}

#[derive(Serialize)]
struct InvolvedObject<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<&'a str>,
}

/// What Metricbeat leaves out, and where the record comes from.
#[derive(Serialize)]
struct EventExtension<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    occurred_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_time: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    series: Option<Series<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
    #[serde(skip_serializing_if = "Reporting::is_empty")]
    reporting: Reporting<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    related: Option<ObjectRef<'a>>,
    #[serde(skip_serializing_if = "InvolvedExtra::is_empty")]
    involved_object: InvolvedExtra<'a>,
    etcd: Etcd<'a>,
    recovered_from: &'a str,
    live: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_revision: Option<i64>,
    encoding: &'a str,
    source: SourceFile<'a>,
}

#[derive(Serialize)]
struct Series<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_observed_time: Option<&'a str>,
}

#[derive(Serialize)]
struct Reporting<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    controller: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<&'a str>,
}

impl Reporting<'_> {
    fn is_empty(&self) -> bool {
        self.controller.is_none() && self.instance.is_none()
    }
}

#[derive(Serialize)]
struct ObjectRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<&'a str>,
}

#[derive(Serialize)]
struct InvolvedExtra<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field_path: Option<&'a str>,
}

impl InvolvedExtra<'_> {
    fn is_empty(&self) -> bool {
        self.namespace.is_none() && self.field_path.is_none()
    }
}

#[derive(Serialize)]
struct Etcd<'a> {
    key: &'a str,
    revision: i64,
    sub_revision: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    create_revision: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease: Option<i64>,
}

#[derive(Serialize)]
struct SourceFile<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<i64>,
}

#[derive(Serialize)]
struct AuditDoc<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: &'a str,
    event: Dataset,
    #[serde(skip_serializing_if = "Option::is_none")]
    orchestrator: Option<Orchestrator<'a>>,
    kubernetes: KubernetesAudit,
    evforensics: AuditExtension<'a>,
}

#[derive(Serialize)]
struct KubernetesAudit {
    audit: Value,
}

#[derive(Serialize)]
struct AuditExtension<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    object_kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<i64>,
    source: SourceFile<'a>,
}

/// Labels or annotations as Metricbeat writes them by default: each key's
/// dots made underscores (`app.kubernetes.io/name` →
/// `app_kubernetes_io/name`), so that keys do not become nested objects;
/// of two keys that become the same, the first is kept, as Metricbeat's
/// `ShouldPut` keeps the first.
fn dedotted(json: Option<&str>) -> Option<Map<String, Value>> {
    let map: Map<String, Value> = serde_json::from_str(json?).ok()?;
    if map.is_empty() {
        return None;
    }
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        out.entry(k.replace('.', "_")).or_insert(v);
    }
    Some(out)
}

impl<W: Write> EsBulk<W> {
    fn event(&mut self, e: &EventRecord, id: &str) -> anyhow::Result<()> {
        let r = &e.row;
        let doc = EventDoc {
            timestamp: &e.time,
            event: Dataset {
                dataset: "kubernetes.event",
                module: "kubernetes",
            },
            metricset: Named { name: "event" },
            service: ServiceType {
                type_: "kubernetes",
            },
            orchestrator: orchestrator(&self.options),
            kubernetes: KubernetesEvent {
                event: K8sEvent {
                    message: r.message.as_deref(),
                    reason: r.reason.as_deref(),
                    type_: r.event_type.as_deref(),
                    count: r.count,
                    source: Source {
                        component: r.source_component.as_deref(),
                        host: r.source_host.as_deref(),
                    },
                    timestamp: Occurrences {
                        first_occurrence: r.first_timestamp.as_deref(),
                        last_occurrence: r.last_timestamp.as_deref(),
                    },
                    metadata: Metadata {
                        timestamp: r
                            .creation_timestamp
                            .as_deref()
                            .map(|created| Created { created }),
                        name: r.name.as_deref(),
                        namespace: r.namespace.as_deref(),
                        // What the API server says on read: the revision.
                        resource_version: r.mod_revision.to_string(),
                        uid: r.uid.as_deref(),
                        self_link: r.self_link.as_deref(),
                        generate_name: r.generate_name.as_deref(),
                        labels: dedotted(r.labels_json.as_deref()),
                        annotations: dedotted(r.annotations_json.as_deref()),
                    },
                    involved_object: InvolvedObject {
                        api_version: r.involved_api_version.as_deref(),
                        kind: r.involved_kind.as_deref(),
                        name: r.involved_name.as_deref(),
                        resource_version: r.involved_resource_version.as_deref(),
                        uid: r.involved_uid.as_deref(),
                    },
                },
            },
            evforensics: EventExtension {
                occurred_at: r.occurred_at.as_deref(),
                api_version: r.api_version.as_deref(),
                event_time: r.event_time.as_deref(),
                series: (r.series_count.is_some() || r.series_last_observed_time.is_some())
                    .then_some(Series {
                        count: r.series_count,
                        last_observed_time: r.series_last_observed_time.as_deref(),
                    }),
                action: r.action.as_deref(),
                reporting: Reporting {
                    controller: r.reporting_component.as_deref(),
                    instance: r.reporting_instance.as_deref(),
                },
                related: (r.related_name.is_some() || r.related_uid.is_some()).then_some(
                    ObjectRef {
                        kind: r.related_kind.as_deref(),
                        namespace: r.related_namespace.as_deref(),
                        name: r.related_name.as_deref(),
                        uid: r.related_uid.as_deref(),
                    },
                ),
                involved_object: InvolvedExtra {
                    namespace: r.involved_namespace.as_deref(),
                    field_path: r.involved_field_path.as_deref(),
                },
                etcd: Etcd {
                    key: &r.key,
                    revision: r.mod_revision,
                    sub_revision: r.sub_revision,
                    create_revision: r.create_revision,
                    version: r.version,
                    lease: r.lease.filter(|l| *l != 0),
                },
                recovered_from: &r.recovered_from,
                live: r.live,
                deleted_revision: r.deleted_revision,
                encoding: &r.encoding,
                source: SourceFile {
                    sha256: r.source.sha256.as_deref(),
                    kind: r.source.kind.as_deref(),
                    location: r.source.location.as_deref(),
                    file: None,
                    line: None,
                },
            },
        };
        self.buf.clear();
        write_pair(&mut self.buf, &self.options.index, id, &doc)?;
        self.out.write_all(&self.buf)?;
        Ok(())
    }

    fn audit(&mut self, a: &AuditRecord, id: &str) -> anyhow::Result<()> {
        let r = &a.row;
        let raw = r.raw.as_deref().unwrap_or("{}");
        // The record's own text; a record the log held pretty-printed is
        // written on one line.
        let audit: Value = serde_json::from_str(raw).with_context(|| {
            format!(
                "audit event {} ({}:{}) is not JSON",
                r.audit_id, r.file, r.line
            )
        })?;
        let doc = AuditDoc {
            timestamp: &a.time,
            event: Dataset {
                dataset: "kubernetes.audit_logs",
                module: "kubernetes",
            },
            orchestrator: orchestrator(&self.options),
            kubernetes: KubernetesAudit { audit },
            evforensics: AuditExtension {
                object_kind: r.object_kind.as_deref(),
                revision: r.revision,
                source: SourceFile {
                    sha256: r.source.sha256.as_deref(),
                    kind: r.source.kind.as_deref(),
                    location: r.source.location.as_deref(),
                    file: Some(&r.file),
                    line: Some(r.line),
                },
            },
        };
        self.buf.clear();
        write_pair(&mut self.buf, &self.options.index, id, &doc)?;
        self.out.write_all(&self.buf)?;
        Ok(())
    }
}

fn orchestrator(options: &ExportOptions) -> Option<Orchestrator<'_>> {
    options.cluster.as_deref().map(|name| Orchestrator {
        cluster: ClusterName { name },
    })
}

fn write_pair(
    out: &mut impl Write,
    index: &str,
    id: &str,
    doc: &impl Serialize,
) -> anyhow::Result<()> {
    let action = Action {
        create: ActionMeta { index, id },
    };
    serde_json::to_writer(&mut *out, &action)?;
    out.write_all(b"\n")?;
    serde_json::to_writer(&mut *out, doc)?;
    out.write_all(b"\n")?;
    Ok(())
}

impl<W: Write> ExportWriter for EsBulk<W> {
    fn record(&mut self, record: &Record) -> anyhow::Result<()> {
        // 20 bytes of the stable digest: Elasticsearch's own ids are 20 bytes.
        let id = hex(&record.stable_id()[..20]);
        match record {
            Record::Event(e) => self.event(e, &id),
            Record::Audit(a) => self.audit(a, &id),
        }
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.out.flush()?;
        Ok(())
    }

    fn columns(&self) -> ExportColumns {
        ExportColumns {
            next_occurrence: false,
            audit_raw: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_dedotted_first_key_kept() {
        let m = dedotted(Some(
            r#"{"app.kubernetes.io/name":"web","app_kubernetes_io/name":"x","tier":"front"}"#,
        ))
        .unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"app_kubernetes_io/name":"web","tier":"front"}"#
        );
        assert_eq!(dedotted(Some("{}")), None);
        assert_eq!(dedotted(None), None);
    }
}
