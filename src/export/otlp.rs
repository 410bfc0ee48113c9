//! OTLP/JSON pieces shared by logs and traces, as the protobuf JSON
//! mapping writes them (lowerCamelCase names, 64-bit integers as decimal
//! strings, enums as their numbers) and as OTLP/JSON adds (trace and span
//! ids as hex, not base64).

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// An attribute value (`AnyValue`).
#[derive(Debug, Clone, PartialEq)]
pub enum AnyValue {
    Str(String),
    Int(i64),
    Bool(bool),
    Strs(Vec<String>),
}

impl Serialize for AnyValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self {
            AnyValue::Str(v) => m.serialize_entry("stringValue", v)?,
            AnyValue::Int(v) => m.serialize_entry("intValue", &v.to_string())?,
            AnyValue::Bool(v) => m.serialize_entry("boolValue", v)?,
            AnyValue::Strs(v) => {
                #[derive(Serialize)]
                struct Array<'a> {
                    values: Vec<StrValue<'a>>,
                }
                #[derive(Serialize)]
                struct StrValue<'a> {
                    #[serde(rename = "stringValue")]
                    string_value: &'a str,
                }
                let values = v.iter().map(|s| StrValue { string_value: s }).collect();
                m.serialize_entry("arrayValue", &Array { values })?
            }
        }
        m.end()
    }
}

/// One attribute (`KeyValue`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyValue {
    pub key: &'static str,
    pub value: AnyValue,
}

/// An attribute list being built.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(pub Vec<KeyValue>);

impl Attributes {
    /// A string attribute, written even when empty (as the Collector's
    /// `k8s_events` receiver writes an absent field: `""`).
    pub fn str(&mut self, key: &'static str, value: Option<&str>) {
        self.0.push(KeyValue {
            key,
            value: AnyValue::Str(value.unwrap_or_default().to_owned()),
        });
    }

    /// A string attribute, left out when absent.
    pub fn opt_str(&mut self, key: &'static str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, Some(v));
        }
    }

    pub fn int(&mut self, key: &'static str, value: Option<i64>) {
        if let Some(v) = value {
            self.0.push(KeyValue {
                key,
                value: AnyValue::Int(v),
            });
        }
    }

    pub fn bool(&mut self, key: &'static str, value: bool) {
        self.0.push(KeyValue {
            key,
            value: AnyValue::Bool(value),
        });
    }

    /// A JSON array of strings (`user.groups`) as an array value.
    pub fn str_array(&mut self, key: &'static str, json: Option<&str>) {
        let Some(values) = json.and_then(|j| serde_json::from_str::<Vec<String>>(j).ok()) else {
            return;
        };
        self.0.push(KeyValue {
            key,
            value: AnyValue::Strs(values),
        });
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// The instrumentation scope every record is written under.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scope<'a> {
    pub name: &'static str,
    pub version: &'a str,
}

/// The scope's name.
pub const SCOPE_NAME: &str = "evforensics";

/// Unix nanoseconds as OTLP/JSON writes a `fixed64`: a decimal string
/// (negative times, before 1970, are clamped to 0: the field is unsigned).
pub fn nanos(t: i64) -> String {
    t.max(0).to_string()
}

/// The provenance attributes every exported record carries.
pub fn provenance(attrs: &mut Attributes, p: &super::record::Provenance<'_>) {
    attrs.opt_str("evforensics.source.sha256", p.source_sha256);
    attrs.opt_str("evforensics.source.kind", p.source_kind);
    attrs.opt_str("evforensics.etcd.key", p.key);
    if p.key.is_some() {
        attrs.int("evforensics.etcd.revision", p.revision);
        attrs.int("evforensics.etcd.sub_revision", p.sub_revision);
    } else {
        attrs.int("evforensics.audit.revision", p.revision);
    }
    attrs.opt_str("evforensics.recovered_from", p.recovered_from);
    attrs.opt_str("evforensics.audit.file", p.file);
    attrs.int("evforensics.audit.line", p.line);
}
