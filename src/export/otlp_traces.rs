//! `otlp-traces`: one OTLP/JSON `ExportTraceServiceRequest` per line (the
//! Collector's file exporter's shape), the spans of [`super::spans`]: each
//! Event revision's span is written as it arrives, the objects' spans at
//! the end (they last until their last line). Memory grows with the
//! objects and the audited writes, not with the Events.

use std::io::Write;

use serde::Serialize;

use super::otlp::{nanos, Attributes, Scope, SCOPE_NAME};
use super::owners::Owners;
use super::record::Record;
use super::spans::{Span, Spans};
use super::writer::{ExportOptions, ExportWriter};
use crate::helpers::hex;
use crate::store::export::ExportColumns;

/// Spans per request line.
const BATCH: usize = 256;

pub struct OtlpTraces<W: Write> {
    out: W,
    options: ExportOptions,
    spans: Spans,
    batch: Vec<Span>,
}

impl<W: Write> OtlpTraces<W> {
    pub fn new(out: W, options: ExportOptions, owners: Owners) -> OtlpTraces<W> {
        OtlpTraces {
            out,
            options,
            spans: Spans::new(owners),
            batch: Vec::with_capacity(BATCH),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    resource: Resource,
    scope_spans: [ScopeSpans; 1],
}

#[derive(Serialize)]
struct Resource {
    attributes: Attributes,
}

#[derive(Serialize)]
struct ScopeSpans {
    scope: Scope<'static>,
    spans: Vec<OtlpSpan>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OtlpSpan {
    trace_id: String,
    span_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_span_id: Option<String>,
    name: String,
    /// SPAN_KIND_INTERNAL.
    kind: u8,
    start_time_unix_nano: String,
    end_time_unix_nano: String,
    attributes: Attributes,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    events: Vec<OtlpEvent>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OtlpEvent {
    time_unix_nano: String,
    name: String,
    attributes: Attributes,
}

impl<W: Write> OtlpTraces<W> {
    /// The batch as one request: consecutive spans of one service share a
    /// resource.
    fn flush_batch(&mut self) -> anyhow::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut resource_spans: Vec<(String, ResourceSpans)> = Vec::new();
        for span in self.batch.drain(..) {
            let otlp = OtlpSpan {
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: span.parent.map(|p| hex(&p)),
                name: span.name,
                kind: 1,
                start_time_unix_nano: nanos(span.start_ns),
                end_time_unix_nano: nanos(span.end_ns),
                attributes: span.attributes,
                events: span
                    .events
                    .into_iter()
                    .map(|e| OtlpEvent {
                        time_unix_nano: nanos(e.time_ns),
                        name: e.name,
                        attributes: e.attributes,
                    })
                    .collect(),
            };
            match resource_spans.last_mut() {
                Some((service, rs)) if *service == span.service => {
                    rs.scope_spans[0].spans.push(otlp)
                }
                _ => {
                    let mut attrs = Attributes::default();
                    attrs.str("service.name", Some(&span.service));
                    attrs.opt_str("k8s.cluster.name", self.options.cluster.as_deref());
                    resource_spans.push((
                        span.service,
                        ResourceSpans {
                            resource: Resource { attributes: attrs },
                            scope_spans: [ScopeSpans {
                                scope: Scope {
                                    name: SCOPE_NAME,
                                    version: env!("CARGO_PKG_VERSION"),
                                },
                                spans: vec![otlp],
                            }],
                        },
                    ));
                }
            }
        }
        let request = Request {
            resource_spans: resource_spans.into_iter().map(|(_, rs)| rs).collect(),
        };
        // Serialized whole, then written at once.
        let mut line = serde_json::to_vec(&request)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        Ok(())
    }

    fn push(&mut self, span: Span) -> anyhow::Result<()> {
        self.batch.push(span);
        if self.batch.len() >= BATCH {
            self.flush_batch()?;
        }
        Ok(())
    }
}

impl<W: Write> ExportWriter for OtlpTraces<W> {
    fn record(&mut self, record: &Record) -> anyhow::Result<()> {
        if let Some(span) = self.spans.record(record) {
            self.push(span)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.flush_batch()?;
        let spans = std::mem::replace(&mut self.spans, Spans::new(Owners::default()));
        for span in spans.finish() {
            self.push(span)?;
        }
        self.flush_batch()?;
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
