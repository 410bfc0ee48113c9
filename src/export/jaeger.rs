//! `jaeger`: the JSON the Jaeger UI opens from a file, without a backend
//! (Search → Upload; the shape of its query API, `{"data": [trace, …]}`):
//! per trace its spans (`traceID`, `spanID`, `operationName`,
//! `references` `CHILD_OF` the parent, `startTime` and `duration` in
//! microseconds, `tags`, `logs`, `processID`) and its `processes`
//! (`serviceName`). The spans are those of [`super::spans`].
//!
//! The file is one JSON document that the UI reads whole, grouped by
//! trace, so every span is held until the end — as its JSON text, in its
//! trace's buffer (a file the browser can open is one that fits in
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
    /// Each trace's spans so far, by trace id.
    traces: BTreeMap<[u8; 16], TraceBuf>,
}

/// A trace being collected: its spans' JSON, comma-separated, and its
/// services in the order they appeared (`p1`, `p2`, …).
#[derive(Default)]
struct TraceBuf {
    spans: Vec<u8>,
    services: Vec<String>,
}

impl TraceBuf {
    fn push(&mut self, span: Span) -> serde_json::Result<()> {
        let index = match self.services.iter().position(|s| *s == span.service) {
            Some(i) => i,
            None => {
                self.services.push(span.service.clone());
                self.services.len() - 1
            }
        };
        if !self.spans.is_empty() {
            self.spans.push(b',');
        }
        serde_json::to_writer(
            &mut self.spans,
            &jaeger_span(span, format!("p{}", index + 1)),
        )
    }
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

fn jaeger_span(s: Span, process_id: String) -> JaegerSpan {
    let id = hex(&s.trace_id);
    JaegerSpan {
        trace_id: id.clone(),
        span_id: hex(&s.span_id),
        operation_name: s.name,
        references: s
            .parent
            .map(|p| Reference {
                ref_type: "CHILD_OF",
                trace_id: id,
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
    }
}

impl<W: Write> ExportWriter for Jaeger<W> {
    fn record(&mut self, record: &Record) -> anyhow::Result<()> {
        if let Some(span) = self.spans.record(record) {
            self.traces.entry(span.trace_id).or_default().push(span)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        let spans = std::mem::replace(&mut self.spans, Spans::new(Owners::default()));
        for span in spans.finish() {
            self.traces.entry(span.trace_id).or_default().push(span)?;
        }
        let traces = std::mem::take(&mut self.traces);
        let out = &mut self.out;
        out.write_all(b"{\"data\":[")?;
        for (i, (id, trace)) in traces.into_iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write!(out, "{{\"traceID\":\"{}\",\"spans\":[", hex(&id))?;
            out.write_all(&trace.spans)?;
            let processes: BTreeMap<String, Process> = trace
                .services
                .into_iter()
                .enumerate()
                .map(|(i, service_name)| {
                    (
                        format!("p{}", i + 1),
                        Process {
                            service_name,
                            tags: Vec::new(),
                        },
                    )
                })
                .collect();
            out.write_all(b"],\"processes\":")?;
            serde_json::to_writer(&mut *out, &processes)?;
            out.write_all(b",\"warnings\":null}")?;
        }
        out.write_all(b"],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}\n")?;
        out.flush()?;
        Ok(())
    }

    fn columns(&self) -> ExportColumns {
        ExportColumns {
            next_occurrence: true,
            audit_raw: false,
        }
    }
}
