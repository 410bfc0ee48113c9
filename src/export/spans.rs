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
