//! An Event rendered as the Kubernetes API renders it in JSON: what
//! ledger.json shows humans, and what an apiserver with
//! `--storage-media-type=application/json` stores.

use evforensics::proto::{core::v1 as core, meta::v1 as meta};
use serde_json::{json, Map, Value};

fn rfc3339(secs: i64) -> String {
    let t = ::time::OffsetDateTime::from_unix_timestamp(secs).expect("timestamp in range");
    t.format(::time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .expect("formatting time")
}

fn time_json(t: Option<&meta::Time>) -> Value {
    match t.and_then(|t| t.seconds) {
        Some(s) => Value::String(rfc3339(s)),
        None => Value::Null,
    }
}

fn micro_json(t: Option<&meta::MicroTime>) -> Value {
    match t.and_then(|t| t.seconds) {
        Some(s) => {
            let base = rfc3339(s);
            let micros = t.and_then(|t| t.nanos).unwrap_or(0) / 1000;
            Value::String(format!("{}.{:06}Z", base.trim_end_matches('Z'), micros))
        }
        None => Value::Null,
    }
}

fn put_nonempty(m: &mut Map<String, Value>, k: &str, v: Option<&String>) {
    if let Some(v) = v.filter(|v| !v.is_empty()) {
        m.insert(k.into(), Value::String(v.clone()));
    }
}

fn objref_json(r: &core::ObjectReference) -> Value {
    let mut m = Map::new();
    put_nonempty(&mut m, "kind", r.kind.as_ref());
    put_nonempty(&mut m, "namespace", r.namespace.as_ref());
    put_nonempty(&mut m, "name", r.name.as_ref());
    put_nonempty(&mut m, "uid", r.uid.as_ref());
    put_nonempty(&mut m, "apiVersion", r.api_version.as_ref());
    put_nonempty(&mut m, "resourceVersion", r.resource_version.as_ref());
    put_nonempty(&mut m, "fieldPath", r.field_path.as_ref());
    Value::Object(m)
}

/// An Event as the Kubernetes API renders it in JSON (Go struct order,
/// Go `omitempty` rules: `eventTime: null`, `reportingComponent: ""`).
/// This is also what kube-apiserver stores with
/// `--storage-media-type=application/json` (it never stores resourceVersion).
pub fn event_k8s_json(ev: &core::Event) -> Value {
    let mut md = Map::new();
    if let Some(m) = &ev.metadata {
        put_nonempty(&mut md, "name", m.name.as_ref());
        put_nonempty(&mut md, "generateName", m.generate_name.as_ref());
        put_nonempty(&mut md, "namespace", m.namespace.as_ref());
        put_nonempty(&mut md, "uid", m.uid.as_ref());
        put_nonempty(&mut md, "resourceVersion", m.resource_version.as_ref());
        md.insert(
            "creationTimestamp".into(),
            time_json(m.creation_timestamp.as_ref()),
        );
        if !m.labels.is_empty() {
            md.insert("labels".into(), json!(m.labels));
        }
        if !m.annotations.is_empty() {
            md.insert("annotations".into(), json!(m.annotations));
        }
        if !m.managed_fields.is_empty() {
            let mfs: Vec<Value> = m
                .managed_fields
                .iter()
                .map(|f| {
                    let mut o = Map::new();
                    put_nonempty(&mut o, "manager", f.manager.as_ref());
                    put_nonempty(&mut o, "operation", f.operation.as_ref());
                    put_nonempty(&mut o, "apiVersion", f.api_version.as_ref());
                    if f.time.is_some() {
                        o.insert("time".into(), time_json(f.time.as_ref()));
                    }
                    put_nonempty(&mut o, "fieldsType", f.fields_type.as_ref());
                    if let Some(raw) = f.fields_v1.as_ref().and_then(|x| x.raw.as_ref()) {
                        o.insert(
                            "fieldsV1".into(),
                            serde_json::from_slice(raw).unwrap_or(Value::Null),
                        );
                    }
                    put_nonempty(&mut o, "subresource", f.subresource.as_ref());
                    Value::Object(o)
                })
                .collect();
            md.insert("managedFields".into(), Value::Array(mfs));
        }
    }
    let mut o = Map::new();
    o.insert("kind".into(), json!("Event"));
    o.insert("apiVersion".into(), json!("v1"));
    o.insert("metadata".into(), Value::Object(md));
    o.insert(
        "involvedObject".into(),
        ev.involved_object
            .as_ref()
            .map(objref_json)
            .unwrap_or(json!({})),
    );
    put_nonempty(&mut o, "reason", ev.reason.as_ref());
    put_nonempty(&mut o, "message", ev.message.as_ref());
    let mut src = Map::new();
    if let Some(s) = &ev.source {
        put_nonempty(&mut src, "component", s.component.as_ref());
        put_nonempty(&mut src, "host", s.host.as_ref());
    }
    o.insert("source".into(), Value::Object(src));
    o.insert(
        "firstTimestamp".into(),
        time_json(ev.first_timestamp.as_ref()),
    );
    o.insert(
        "lastTimestamp".into(),
        time_json(ev.last_timestamp.as_ref()),
    );
    if let Some(c) = ev.count.filter(|c| *c != 0) {
        o.insert("count".into(), json!(c));
    }
    put_nonempty(&mut o, "type", ev.r#type.as_ref());
    o.insert("eventTime".into(), micro_json(ev.event_time.as_ref()));
    if let Some(s) = &ev.series {
        let mut sm = Map::new();
        sm.insert("count".into(), json!(s.count.unwrap_or(0)));
        sm.insert(
            "lastObservedTime".into(),
            micro_json(s.last_observed_time.as_ref()),
        );
        o.insert("series".into(), Value::Object(sm));
    }
    put_nonempty(&mut o, "action", ev.action.as_ref());
    if let Some(r) = &ev.related {
        o.insert("related".into(), objref_json(r));
    }
    o.insert(
        "reportingComponent".into(),
        json!(ev.reporting_component.clone().unwrap_or_default()),
    );
    o.insert(
        "reportingInstance".into(),
        json!(ev.reporting_instance.clone().unwrap_or_default()),
    );
    Value::Object(o)
}
