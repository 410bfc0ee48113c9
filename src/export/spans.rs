//! Events as spans, for `otlp-traces` and `jaeger`: one trace per object
//! at the top of an owner chain (a Deployment and everything it owns,
//! through `objects`; an object without owners is its own trace).
//!
//! - Every object of a chain that has lines is a span (service
//!   `kubernetes`, named `Kind namespace/name`), whose parent is its
//!   owner's span; it lasts from the first to the last line of what it and
//!   what it owns hold.
//! - Every Event revision is a span under its involved object's span: the
//!   service is the reporting component (`reportingComponent`, else
//!   `source.component`: kubelet, default-scheduler, …), the name its
//!   reason; it starts at its occurrence and ends at the next occurrence of
//!   the same Event (the key's next revision), or at once.
//! - Every audited write (create, update, patch, delete, deletecollection)
//!   to an object of a chain is a span event on that object's span, with
//!   the user, verb and response code. Other audit entries (reads) are not
//!   in traces.
//!
//! Ids are derived from the case (SHA-256 of the root object, the object,
//! the Event revision), so re-exporting gives the same traces.

use std::collections::HashMap;

use super::otlp::Attributes;
use super::owners::{ObjectKey, Owners};
use super::record::{digest, AuditRecord, EventRecord, Record};

/// A span event: an audited write.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    pub time_ns: i64,
    pub name: String,
    pub attributes: Attributes,
}

/// One span.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub name: String,
    pub service: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub attributes: Attributes,
    pub events: Vec<SpanEvent>,
}

/// The service of objects' spans.
pub const OBJECT_SERVICE: &str = "kubernetes";

/// An object's span while lines arrive.
struct ObjectSpan {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    uid: Option<String>,
    start_ns: i64,
    end_ns: i64,
    events: Vec<SpanEvent>,
}

/// Builds spans from records; objects' spans are complete at [`finish`](Spans::finish).
pub struct Spans {
    owners: Owners,
    objects: HashMap<ObjectKey, ObjectSpan>,
    /// Objects in the order they were first seen (a stable output order).
    order: Vec<ObjectKey>,
}

fn key_text(key: &ObjectKey) -> String {
    match key {
        ObjectKey::Uid(u) => format!("uid:{u}"),
        ObjectKey::Named {
            kind,
            namespace,
            name,
        } => format!("name:{kind}/{}/{name}", namespace.as_deref().unwrap_or("")),
    }
}

fn trace_id(root: &ObjectKey) -> [u8; 16] {
    let d = digest(&[b"trace", key_text(root).as_bytes()]);
    d[..16].try_into().expect("16 bytes")
}

fn object_span_id(key: &ObjectKey) -> [u8; 8] {
    let d = digest(&[b"object", key_text(key).as_bytes()]);
    d[..8].try_into().expect("8 bytes")
}

/// What a line says of its object, to label a span the objects do not know.
struct Named<'a> {
    kind: Option<&'a str>,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    uid: Option<&'a str>,
}

impl Spans {
    pub fn new(owners: Owners) -> Spans {
        Spans {
            owners,
            objects: HashMap::new(),
            order: Vec::new(),
        }
    }

    /// The span of an Event revision (returned now), or for an audited
    /// write a span event held on its object's span (`None`).
    pub fn record(&mut self, record: &Record) -> Option<Span> {
        match record {
            Record::Event(e) => Some(self.event(e, record)),
            Record::Audit(a) => {
                self.audit(a);
                None
            }
        }
    }

    /// Makes sure every object of the chain has its span and stretches
    /// them over `[start, end]`; returns the trace and the object's key.
    fn touch(&mut self, named: Named<'_>, start: i64, end: i64) -> ([u8; 16], ObjectKey) {
        let key = self
            .owners
            .identify(named.kind, named.namespace, named.name, named.uid)
            .unwrap_or_else(|| ObjectKey::Named {
                kind: named.kind.unwrap_or("?").to_owned(),
                namespace: named.namespace.map(str::to_owned),
                name: "?".to_owned(),
            });
        let chain = self.owners.chain(key);
        let trace = trace_id(chain.last().expect("a chain holds its object"));
        for (i, k) in chain.iter().enumerate() {
            if !self.objects.contains_key(k) {
                let parent = chain.get(i + 1).map(object_span_id);
                let span = self.new_object_span(k, &named, trace, parent, start, end);
                self.order.push(k.clone());
                self.objects.insert(k.clone(), span);
            }
            let span = self.objects.get_mut(k).expect("inserted above");
            span.start_ns = span.start_ns.min(start);
            span.end_ns = span.end_ns.max(end);
        }
        let first = chain.into_iter().next().expect("a chain holds its object");
        (trace, first)
    }

    fn new_object_span(
        &self,
        k: &ObjectKey,
        named: &Named<'_>,
        trace_id: [u8; 16],
        parent: Option<[u8; 8]>,
        start: i64,
        end: i64,
    ) -> ObjectSpan {
        let info = self.owners.info(k);
        let (kind, namespace, name, uid) = match (k, info) {
            (ObjectKey::Uid(u), Some(info)) => (
                info.kind.clone(),
                info.namespace.clone(),
                info.name.clone(),
                Some(u.clone()),
            ),
            (ObjectKey::Uid(u), None) => (
                named.kind.map(str::to_owned),
                named.namespace.map(str::to_owned),
                named.name.map(str::to_owned),
                Some(u.clone()),
            ),
            (
                ObjectKey::Named {
                    kind,
                    namespace,
                    name,
                },
                _,
            ) => (
                Some(kind.clone()),
                namespace.clone(),
                Some(name.clone()),
                None,
            ),
        };
        ObjectSpan {
            trace_id,
            span_id: object_span_id(k),
            parent,
            kind,
            namespace,
            name,
            uid,
            start_ns: start,
            end_ns: end,
            events: Vec::new(),
        }
    }

    fn event(&mut self, e: &EventRecord, record: &Record) -> Span {
        let r = &e.row;
        let start = e.time_ns;
        let end = e.next_ns.unwrap_or(start).max(start);
        let (trace_id, object) = self.touch(
            Named {
                kind: r.involved_kind.as_deref(),
                namespace: r.involved_namespace.as_deref(),
                name: r.involved_name.as_deref(),
                uid: r.involved_uid.as_deref(),
            },
            start,
            end,
        );
        let mut attrs = Attributes::default();
        attrs.opt_str("k8s.event.reason", r.reason.as_deref());
        attrs.opt_str("k8s.event.type", r.event_type.as_deref());
        attrs.opt_str("k8s.event.message", r.message.as_deref());
        attrs.int("k8s.event.count", r.count);
        attrs.opt_str("k8s.event.name", r.name.as_deref());
        attrs.opt_str("k8s.event.uid", r.uid.as_deref());
        attrs.opt_str("k8s.event.action", r.action.as_deref());
        attrs.opt_str(
            "k8s.event.reporting_instance",
            r.reporting_instance.as_deref(),
        );
        attrs.opt_str("k8s.node.name", r.source_host.as_deref());
        attrs.opt_str("k8s.object.kind", r.involved_kind.as_deref());
        attrs.opt_str("k8s.namespace.name", r.involved_namespace.as_deref());
        attrs.opt_str("k8s.object.name", r.involved_name.as_deref());
        attrs.opt_str("k8s.object.uid", r.involved_uid.as_deref());
        attrs.opt_str("k8s.object.fieldpath", r.involved_field_path.as_deref());
        super::otlp::provenance(&mut attrs, &record.provenance());
        attrs.bool("evforensics.live", r.live);
        let id = record.stable_id();
        Span {
            trace_id,
            span_id: id[..8].try_into().expect("8 bytes"),
            parent: Some(object_span_id(&object)),
            name: r.reason.clone().unwrap_or_else(|| "Event".into()),
            service: r
                .reporting_component
                .clone()
                .or_else(|| r.source_component.clone())
                .unwrap_or_else(|| "unknown".into()),
            start_ns: start,
            end_ns: end,
            attributes: attrs,
            events: Vec::new(),
        }
    }

    fn audit(&mut self, a: &AuditRecord) {
        let r = &a.row;
        if !r.write || r.object_name.is_none() {
            return;
        }
        let t = a.time_ns;
        let (_, key) = self.touch(
            Named {
                kind: r.object_kind.as_deref(),
                namespace: r.object_namespace.as_deref(),
                name: r.object_name.as_deref(),
                uid: r.object_uid.as_deref(),
            },
            t,
            t,
        );
        let mut attrs = Attributes::default();
        attrs.opt_str("k8s.audit.user.username", r.username.as_deref());
        attrs.opt_str(
            "k8s.audit.impersonated_user.username",
            r.impersonated_user.as_deref(),
        );
        attrs.opt_str("k8s.audit.verb", r.verb.as_deref());
        attrs.opt_str(
            "k8s.audit.object.subresource",
            r.object_subresource.as_deref(),
        );
        attrs.int("k8s.audit.response.code", r.response_code);
        attrs.str_array("k8s.audit.source_ips", r.source_ips.as_deref());
        attrs.opt_str("k8s.audit.user_agent", r.user_agent.as_deref());
        attrs.str("k8s.audit.id", Some(&r.audit_id));
        attrs.opt_str("evforensics.source.sha256", r.source.sha256.as_deref());
        attrs.str("evforensics.audit.file", Some(&r.file));
        attrs.int("evforensics.audit.line", Some(r.line));
        let name = match (&r.verb, &r.object_subresource) {
            (Some(v), Some(s)) => format!("{v} {s}"),
            (Some(v), None) => v.clone(),
            _ => "write".into(),
        };
        if let Some(span) = self.objects.get_mut(&key) {
            span.events.push(SpanEvent {
                time_ns: t,
                name,
                attributes: attrs,
            });
        }
    }

    /// The objects' spans, in the order their objects were first seen.
    pub fn finish(mut self) -> Vec<Span> {
        let mut out = Vec::with_capacity(self.order.len());
        for key in self.order {
            let Some(o) = self.objects.remove(&key) else {
                continue;
            };
            let mut attrs = Attributes::default();
            attrs.opt_str("k8s.object.kind", o.kind.as_deref());
            attrs.opt_str("k8s.namespace.name", o.namespace.as_deref());
            attrs.opt_str("k8s.object.name", o.name.as_deref());
            attrs.opt_str("k8s.object.uid", o.uid.as_deref());
            let label = format!(
                "{} {}{}",
                o.kind.as_deref().unwrap_or("?"),
                o.namespace
                    .as_deref()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default(),
                o.name.as_deref().unwrap_or("?")
            );
            out.push(Span {
                trace_id: o.trace_id,
                span_id: o.span_id,
                parent: o.parent,
                name: label,
                service: OBJECT_SERVICE.into(),
                start_ns: o.start_ns,
                end_ns: o.end_ns,
                attributes: attrs,
                events: o.events,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::timeline::TimelineQuery;
    use crate::store::Store;

    /// A Deployment → ReplicaSet (owned by uid) → Pod (owned by name only),
    /// an Event on each of the Pod and the Deployment (the Pod's twice), an
    /// audited patch of the Deployment, and a Node's Event of its own.
    fn spans() -> Vec<Span> {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.sqlite")).unwrap();
        store
            .connection()
            .execute_batch(
                "INSERT INTO sources (id, kind, location, sha256, size_bytes, trailer, prefix, ingested_at, tool_version)
                   VALUES (1, 'etcd-db', '/e/db', 'aa', 1, 'absent', '/registry/', 'now', 'test');
                 INSERT INTO objects (source_id, key, resource, mod_revision, sub_revision, recovered_from,
                     encoding, kind, namespace, name, uid, owner_references) VALUES
                   (1, 'd/web', 'deployments', 1, 0, 'tree', 'protobuf', 'Deployment', 'shop', 'web', 'u-web', NULL),
                   (1, 'rs/web-1', 'replicasets', 2, 0, 'tree', 'protobuf', 'ReplicaSet', 'shop', 'web-1', 'u-rs',
                     '[{\"kind\":\"Deployment\",\"name\":\"web\",\"uid\":\"u-web\",\"controller\":true}]'),
                   (1, 'p/web-1-a', 'pods', 3, 0, 'tree', 'protobuf', 'Pod', 'shop', 'web-1-a', 'u-pod',
                     '[{\"kind\":\"ReplicaSet\",\"name\":\"web-1\"}]');
                 INSERT INTO event_revisions (source_id, key, mod_revision, sub_revision, recovered_from, encoding,
                     reason, type, count, occurred_at, involved_kind, involved_namespace, involved_name, involved_uid,
                     reporting_component, source_component) VALUES
                   (1, 'e/1', 10, 0, 'tree', 'protobuf', 'ScalingReplicaSet', 'Normal', 1,
                     '2026-11-20T09:30:01.000000Z', 'Deployment', 'shop', 'web', 'u-web', NULL, 'deployment-controller'),
                   (1, 'e/2', 11, 0, 'tree', 'protobuf', 'BackOff', 'Warning', 1,
                     '2026-11-20T09:30:02.000000Z', 'Pod', 'shop', 'web-1-a', NULL, 'kubelet', 'kubelet'),
                   (1, 'e/2', 12, 0, 'tree', 'protobuf', 'BackOff', 'Warning', 2,
                     '2026-11-20T09:30:09.000000Z', 'Pod', 'shop', 'web-1-a', NULL, 'kubelet', 'kubelet'),
                   (1, 'e/3', 13, 0, 'tree', 'protobuf', 'NodeReady', 'Normal', 1,
                     '2026-11-20T09:31:00.000000Z', 'Node', NULL, 'n1', NULL, NULL, 'kubelet');
                 INSERT INTO event_values (id, object, raw) SELECT id, NULL, x'00' FROM event_revisions;
                 INSERT INTO audit_events (source_id, file, line, audit_id, stage, verb, object_resource,
                     object_namespace, object_name, username, response_code, stage_timestamp, raw) VALUES
                   (1, 'audit.log', 1, 'a-1', 'ResponseComplete', 'patch', 'deployments', 'shop', 'web',
                     'alice', 200, '2026-11-20T09:30:00.000000Z', '{}'),
                   (1, 'audit.log', 2, 'a-2', 'ResponseComplete', 'get', 'deployments', 'shop', 'web',
                     'bob', 200, '2026-11-20T09:30:00.500000Z', '{}');",
            )
            .unwrap();
        let timeline = store.timeline().unwrap();
        let mut spans = Spans::new(Owners::load(&timeline).unwrap());
        let mut out = Vec::new();
        let columns = crate::store::export::ExportColumns {
            next_occurrence: true,
            audit_raw: false,
        };
        timeline
            .for_each_export_row(&TimelineQuery::default(), columns, |row| {
                let record = Record::from_row(row).unwrap().unwrap();
                out.extend(spans.record(&record));
                Ok::<_, crate::store::TimelineError>(())
            })
            .unwrap();
        out.extend(spans.finish());
        out
    }

    #[test]
    fn a_trace_per_top_owner_through_the_owner_chain() {
        let spans = spans();
        let by_name = |n: &str| -> Vec<&Span> { spans.iter().filter(|s| s.name == n).collect() };
        let deploy = by_name("Deployment shop/web")[0];
        let rs = by_name("ReplicaSet shop/web-1")[0];
        let pod = by_name("Pod shop/web-1-a")[0];
        let node = by_name("Node n1")[0];
        // One trace for the Deployment and what it owns; the Node its own.
        for s in [rs, pod] {
            assert_eq!(s.trace_id, deploy.trace_id);
        }
        assert_ne!(node.trace_id, deploy.trace_id);
        assert_eq!(deploy.parent, None);
        assert_eq!(rs.parent, Some(deploy.span_id));
        assert_eq!(pod.parent, Some(rs.span_id));
        assert_eq!(deploy.service, OBJECT_SERVICE);
        // A span per Event revision, under its object, by its reporter; it
        // lasts until the same Event's next occurrence.
        let backoff = by_name("BackOff");
        assert_eq!(backoff.len(), 2);
        assert!(backoff.iter().all(|s| s.parent == Some(pod.span_id)));
        assert!(backoff.iter().all(|s| s.service == "kubelet"));
        assert_eq!(backoff[0].end_ns - backoff[0].start_ns, 7_000_000_000);
        assert_eq!(backoff[1].end_ns, backoff[1].start_ns);
        let scaling = by_name("ScalingReplicaSet")[0];
        assert_eq!(scaling.service, "deployment-controller");
        assert_eq!(scaling.parent, Some(deploy.span_id));
        // The audited write is an event of the Deployment's span (the read
        // is not), and the objects' spans cover their lines.
        assert_eq!(deploy.events.len(), 1);
        assert_eq!(deploy.events[0].name, "patch");
        assert!(deploy.events[0]
            .attributes
            .0
            .iter()
            .any(|kv| kv.key == "k8s.audit.user.username"
                && kv.value == super::super::otlp::AnyValue::Str("alice".into())));
        assert_eq!(deploy.start_ns, deploy.events[0].time_ns);
        assert_eq!(deploy.end_ns, backoff[1].end_ns);
        assert_eq!(pod.start_ns, backoff[0].start_ns);
        // Stable ids: the same case gives the same spans.
        assert_eq!(spans, self::spans());
    }
}
