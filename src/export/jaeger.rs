//! `jaeger`: the JSON the Jaeger UI opens from a file, without a backend
//! (Search → Upload; the shape of its query API, `{"data": [trace, …]}`):
//! per trace its spans (`traceID`, `spanID`, `operationName`,
//! `references` `CHILD_OF` the parent, `startTime` and `duration` in
//! microseconds, `tags`, `logs`, `processID`) and its `processes`
//! (`serviceName`). The spans are those of [`super::spans`].
//!
//! The file is one JSON document that the UI reads whole, so the spans are
//! held until the end (a file the browser can open is one that fits in
//! memory); for large cases use `otlp-traces`, which streams.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::otlp::{AnyValue, Attributes};
use super::owners::Owners;
use super::record::Record;
use super::spans::{Span, Spans};
use super::writer::ExportWriter;
use crate::helpers::hex;
use crate::store::export::ExportColumns;

pub struct Jaeger<W: Write> {
    out: W,
    spans: Spans,
    /// Spans by trace id, in arrival order within a trace.
    traces: BTreeMap<[u8; 16], Vec<Span>>,
}

impl<W: Write> Jaeger<W> {
    pub fn new(out: W, owners: Owners) -> Jaeger<W> {
        Jaeger {
            out,
            spans: Spans::new(owners),
            traces: BTreeMap::new(),
        }
    }
}

#[derive(Serialize)]
struct Document {
    data: Vec<Trace>,
    total: u32,
    limit: u32,
    offset: u32,
    errors: Option<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Trace {
    #[serde(rename = "traceID")]
    trace_id: String,
    spans: Vec<JaegerSpan>,
    processes: BTreeMap<String, Process>,
    warnings: Option<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Process {
    service_name: String,
    tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JaegerSpan {
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
    operation_name: String,
    references: Vec<Reference>,
    start_time: i64,
    duration: i64,
    tags: Vec<Tag>,
    logs: Vec<Log>,
    #[serde(rename = "processID")]
    process_id: String,
    warnings: Option<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reference {
    ref_type: &'static str,
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
}

#[derive(Serialize)]
struct Tag {
    key: &'static str,
    #[serde(rename = "type")]
    type_: &'static str,
    value: serde_json::Value,
}

#[derive(Serialize)]
struct Log {
    timestamp: i64,
    fields: Vec<Tag>,
}

/// Attributes as Jaeger tags (`string`, `int64`, `bool`; an array as its
/// JSON text).
fn tags(attrs: Attributes) -> Vec<Tag> {
    attrs
        .0
        .into_iter()
        .map(|kv| {
            let (type_, value) = match kv.value {
                AnyValue::Str(s) => ("string", serde_json::Value::String(s)),
                AnyValue::Int(i) => ("int64", serde_json::Value::from(i)),
                AnyValue::Bool(b) => ("bool", serde_json::Value::Bool(b)),
                AnyValue::Strs(v) => (
                    "string",
                    serde_json::Value::String(serde_json::to_string(&v).unwrap_or_default()),
                ),
            };
            Tag {
                key: kv.key,
                type_,
                value,
            }
        })
        .collect()
}

fn micros(ns: i64) -> i64 {
    ns.div_euclid(1000)
}

fn trace(trace_id: [u8; 16], spans: Vec<Span>) -> Trace {
    let id = hex(&trace_id);
    let mut processes = BTreeMap::new();
    let mut by_service: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::with_capacity(spans.len());
    for s in spans {
        let next = format!("p{}", by_service.len() + 1);
        let process_id = by_service
            .entry(s.service.clone())
            .or_insert_with(|| {
                processes.insert(
                    next.clone(),
                    Process {
                        service_name: s.service.clone(),
                        tags: Vec::new(),
                    },
                );
                next
            })
            .clone();
        out.push(JaegerSpan {
            trace_id: id.clone(),
            span_id: hex(&s.span_id),
            operation_name: s.name,
            references: s
                .parent
                .map(|p| Reference {
                    ref_type: "CHILD_OF",
                    trace_id: id.clone(),
                    span_id: hex(&p),
                })
                .into_iter()
                .collect(),
            start_time: micros(s.start_ns),
            duration: micros(s.end_ns) - micros(s.start_ns),
            tags: tags(s.attributes),
            logs: s
                .events
                .into_iter()
                .map(|e| {
                    let mut fields = vec![Tag {
                        key: "event",
                        type_: "string",
                        value: serde_json::Value::String(e.name),
                    }];
                    fields.extend(tags(e.attributes));
                    Log {
                        timestamp: micros(e.time_ns),
                        fields,
                    }
                })
                .collect(),
            process_id,
            warnings: None,
        });
    }
    Trace {
        trace_id: id,
        spans: out,
        processes,
        warnings: None,
    }
}

impl<W: Write> ExportWriter for Jaeger<W> {
    fn record(&mut self, record: &Record) -> anyhow::Result<()> {
        if let Some(span) = self.spans.record(record) {
            self.traces.entry(span.trace_id).or_default().push(span);
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        let spans = std::mem::replace(&mut self.spans, Spans::new(Owners::default()));
        // Objects' spans first in their trace: the UI shows a trace's root
        // span first either way, and readers of the file find it at once.
        for span in spans.finish().into_iter().rev() {
            self.traces
                .entry(span.trace_id)
                .or_default()
                .insert(0, span);
        }
        let traces = std::mem::take(&mut self.traces);
        let data = traces
            .into_iter()
            .map(|(id, spans)| trace(id, spans))
            .collect();
        let doc = Document {
            data,
            total: 0,
            limit: 0,
            offset: 0,
            errors: None,
        };
        serde_json::to_writer(&mut self.out, &doc)?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(())
    }

    fn columns(&self) -> ExportColumns {
        ExportColumns {
            next_occurrence: true,
            audit_raw: false,
        }
    }
}
