//! One audit event object → its [`AuditRow`]: the columns of
//! `audit_events`, with times normalized to the database's UTC text.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::decode::time::format_micro_time;
use crate::store::AuditRow;

pub(super) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Normalizes an RFC 3339 time to UTC with exactly six fractional digits
/// (truncated, as Kubernetes prints `MicroTime`).
pub fn normalize_timestamp(s: &str) -> Option<String> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?;
    format_micro_time(t.unix_timestamp(), t.nanosecond() as i32)
}

/// One audit event object → its row. Fails (the record is damaged) when the
/// identity is missing or a timestamp is not RFC 3339.
pub fn audit_row(line: u64, o: &Map<String, Value>, raw: String) -> Result<AuditRow, String> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let json = |v: Option<&Value>| v.filter(|v| !v.is_null()).map(Value::to_string);
    let audit_id = text(o.get("auditID"))
        .filter(|s| !s.is_empty())
        .ok_or("audit event: auditID is not a non-empty string")?;
    let stage = text(o.get("stage"))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("audit event {audit_id}: no stage"))?;
    let time = |field: &str| -> Result<Option<String>, String> {
        match o.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => normalize_timestamp(s).map(Some).ok_or_else(|| {
                format!("audit event {audit_id}: {field} {s:?} is not an RFC 3339 time")
            }),
            Some(other) => Err(format!(
                "audit event {audit_id}: {field} is JSON {}, expected a time",
                kind_of(other)
            )),
        }
    };
    // `timestamp` (v1alpha1, deprecated in v1beta1) is when the request was
    // received: it stands in when requestReceivedTimestamp is absent.
    let request_received_timestamp = match time("requestReceivedTimestamp")? {
        Some(t) => Some(t),
        None => time("timestamp")?,
    };
    let stage_timestamp = time("stageTimestamp")?;
    let user = o.get("user");
    let object = o.get("objectRef");
    let status = o.get("responseStatus");
    let obj = |k: &str| text(object.and_then(|r| r.get(k)));
    Ok(AuditRow {
        line: line as i64,
        audit_id,
        stage,
        api_version: text(o.get("apiVersion")),
        level: text(o.get("level")),
        verb: text(o.get("verb")),
        request_uri: text(o.get("requestURI")),
        username: text(user.and_then(|u| u.get("username"))),
        user_groups: json(user.and_then(|u| u.get("groups"))),
        impersonated_user: text(o.get("impersonatedUser").and_then(|u| u.get("username"))),
        source_ips: json(o.get("sourceIPs")),
        user_agent: text(o.get("userAgent")),
        object_resource: obj("resource"),
        object_subresource: obj("subresource"),
        object_namespace: obj("namespace"),
        object_name: obj("name"),
        object_uid: obj("uid"),
        object_api_group: obj("apiGroup"),
        object_api_version: obj("apiVersion"),
        object_resource_version: obj("resourceVersion"),
        response_code: status.and_then(|s| s.get("code")).and_then(Value::as_i64),
        response_reason: text(status.and_then(|s| s.get("reason"))),
        response_message: text(status.and_then(|s| s.get("message"))),
        request_received_timestamp,
        stage_timestamp,
        annotations: json(o.get("annotations")),
        request_object: json(o.get("requestObject")),
        response_object: json(o.get("responseObject")),
        raw,
    })
}
