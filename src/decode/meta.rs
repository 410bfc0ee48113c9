//! `metav1.ObjectMeta` of any stored Kubernetes object, whatever its kind.
//!
//! Every top-level Kubernetes message has its ObjectMeta as field 1, so a
//! protobuf value (`k8s\0` + `runtime.Unknown`) yields it without knowing
//! the object's schema: the other fields of `raw` are only checked for
//! well-formedness and skipped. A JSON value yields it from `metadata`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::decoded::Encoding;
use super::envelope::{self, Framing};
use super::json::Remarks;
use super::stored_json::parse_object;
use super::time::time_text;
use super::wire::{self, Message, MessageError, WireError};
use crate::proto::meta::v1::ObjectMeta;

/// The identity and ownership of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedMeta {
    /// [`Encoding::Protobuf`] or [`Encoding::Json`].
    pub encoding: Encoding,
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub uid: Option<String>,
    /// RFC 3339, as Kubernetes prints it; `None` when absent or zero.
    pub creation_timestamp: Option<String>,
    /// RFC 3339; `None` when absent or zero.
    pub deletion_timestamp: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub owner_references: Vec<OwnerRef>,
    /// The protobuf ObjectMeta carried field numbers this decoder does not know.
    pub unknown_fields: bool,
}

/// One `metadata.ownerReferences` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    /// `controller: true`; absent counts as false, as in Kubernetes.
    pub controller: bool,
}

/// Why [`decode_object_meta`] found no ObjectMeta.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    #[error("value is encrypted ({0})")]
    Encrypted(String),
    #[error("{0}")]
    Unrecognized(String),
    #[error("malformed protobuf envelope: {0}")]
    Envelope(WireError),
    #[error("malformed protobuf object: {0}")]
    Object(WireError),
    #[error("protobuf ObjectMeta: {0}")]
    Protobuf(String),
    #[error("{0}")]
    Json(String),
}

/// Decodes apiVersion, kind and the main ObjectMeta fields of any stored
/// Kubernetes object (protobuf or JSON). Never panics.
pub fn decode_object_meta(value: &[u8]) -> Result<DecodedMeta, MetaError> {
    match envelope::classify(value) {
        Framing::Protobuf(body) => protobuf_meta(body),
        Framing::Json => json_meta(value),
        Framing::Encrypted(provider) => Err(MetaError::Encrypted(provider)),
        Framing::Unrecognized(reason) => Err(MetaError::Unrecognized(reason)),
    }
}

fn protobuf_meta(body: &[u8]) -> Result<DecodedMeta, MetaError> {
    let envelope = envelope::parse_envelope(body).map_err(|err| MetaError::Envelope(err.source))?;
    let meta_bytes = object_meta_bytes(envelope.raw).map_err(MetaError::Object)?;
    let (meta, report) = wire::decode_message::<ObjectMeta>(Message::ObjectMeta, &meta_bytes)
        .map_err(|err| match err {
            MessageError::Wire(err) => MetaError::Object(err),
            MessageError::Prost(err) => MetaError::Protobuf(err.to_string()),
        })?;
    let nonempty = |text: Option<String>| text.filter(|t| !t.is_empty());
    Ok(DecodedMeta {
        encoding: Encoding::Protobuf,
        api_version: envelope.api_version,
        kind: envelope.kind,
        creation_timestamp: meta.creation_timestamp.as_ref().and_then(time_text),
        deletion_timestamp: meta.deletion_timestamp.as_ref().and_then(time_text),
        namespace: nonempty(meta.namespace),
        name: nonempty(meta.name),
        uid: nonempty(meta.uid),
        labels: meta.labels,
        owner_references: meta
            .owner_references
            .into_iter()
            .map(|owner| OwnerRef {
                api_version: owner.api_version.unwrap_or_default(),
                kind: owner.kind.unwrap_or_default(),
                name: owner.name.unwrap_or_default(),
                uid: owner.uid.unwrap_or_default(),
                controller: owner.controller == Some(true),
            })
            .collect(),
        unknown_fields: report.has_unknown_fields(),
    })
}

/// Field 1 of the object; several occurrences merge, which for an embedded
/// message means concatenation.
fn object_meta_bytes(raw: &[u8]) -> Result<Cow<'_, [u8]>, WireError> {
    let mut meta: Option<Cow<'_, [u8]>> = None;
    for field in wire::fields(raw) {
        let field = field?;
        if field.number != 1 {
            continue;
        }
        let wire::Value::Len(bytes) = field.value else {
            return Err(WireError::WrongWireType {
                message: "object",
                field: 1,
                found: field.wire_type,
                expected: 2,
            });
        };
        meta = Some(match meta {
            None => Cow::Borrowed(bytes),
            Some(previous) => Cow::Owned([previous.as_ref(), bytes].concat()),
        });
    }
    Ok(meta.unwrap_or(Cow::Borrowed(&[])))
}

fn json_meta(value: &[u8]) -> Result<DecodedMeta, MetaError> {
    let object = parse_object(value, &mut Remarks::default()).map_err(MetaError::Json)?;
    let text = |map: Option<&Map<String, Value>>, key: &str| {
        map?.get(key)?
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let top = Some(&object);
    let meta = object.get("metadata").and_then(Value::as_object);
    let labels = meta
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let owner_references = meta
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|owners| {
            owners
                .iter()
                .filter_map(Value::as_object)
                .map(|owner| OwnerRef {
                    api_version: text(Some(owner), "apiVersion").unwrap_or_default(),
                    kind: text(Some(owner), "kind").unwrap_or_default(),
                    name: text(Some(owner), "name").unwrap_or_default(),
                    uid: text(Some(owner), "uid").unwrap_or_default(),
                    controller: owner.get("controller").and_then(Value::as_bool) == Some(true),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(DecodedMeta {
        encoding: Encoding::Json,
        api_version: text(top, "apiVersion"),
        kind: text(top, "kind"),
        namespace: text(meta, "namespace"),
        name: text(meta, "name"),
        uid: text(meta, "uid"),
        creation_timestamp: text(meta, "creationTimestamp"),
        deletion_timestamp: text(meta, "deletionTimestamp"),
        labels,
        owner_references,
        unknown_fields: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    use crate::proto::meta::v1::{OwnerReference, Time};
    use crate::proto::runtime::{TypeMeta, Unknown};

    /// A stored Pod-like object: ObjectMeta is field 1, field 2 (spec) is
    /// opaque to this decoder.
    fn stored_object(api_version: &str, kind: &str, meta: &ObjectMeta) -> Vec<u8> {
        let mut raw = Vec::new();
        prost::encoding::message::encode(1, meta, &mut raw);
        prost::encoding::bytes::encode(2, &b"\x0a\x03abc".to_vec(), &mut raw);
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.to_owned()),
                kind: Some(kind.to_owned()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        [b"k8s\0".as_slice(), &unknown.encode_to_vec()].concat()
    }

    fn pod_meta() -> ObjectMeta {
        ObjectMeta {
            name: Some("web-7d9f".into()),
            namespace: Some("prod".into()),
            uid: Some("0b7e".into()),
            creation_timestamp: Some(Time {
                seconds: Some(1_714_557_600),
                nanos: Some(0),
            }),
            deletion_timestamp: Some(Time::default()),
            labels: BTreeMap::from([("app".into(), "web".into())]),
            owner_references: vec![OwnerReference {
                api_version: Some("apps/v1".into()),
                kind: Some("ReplicaSet".into()),
                name: Some("web".into()),
                uid: Some("rs-1".into()),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn protobuf_object_meta_of_any_kind() {
        let meta = decode_object_meta(&stored_object("v1", "Pod", &pod_meta())).unwrap();
        assert_eq!(
            meta,
            DecodedMeta {
                encoding: Encoding::Protobuf,
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                namespace: Some("prod".into()),
                name: Some("web-7d9f".into()),
                uid: Some("0b7e".into()),
                creation_timestamp: Some("2024-05-01T10:00:00Z".into()),
                deletion_timestamp: None,
                labels: BTreeMap::from([("app".into(), "web".into())]),
                owner_references: vec![OwnerRef {
                    api_version: "apps/v1".into(),
                    kind: "ReplicaSet".into(),
                    name: "web".into(),
                    uid: "rs-1".into(),
                    controller: true,
                }],
                unknown_fields: false,
            }
        );
    }

    #[test]
    fn protobuf_object_meta_with_bad_utf8_and_unknown_field() {
        let mut meta = pod_meta();
        meta.name = None;
        let mut value = stored_object("apps/v1", "Deployment", &meta);
        // Append an invalid-UTF-8 name (field 1) and field 99 inside ObjectMeta
        // by rebuilding the object by hand.
        let mut meta_bytes = meta.encode_to_vec();
        meta_bytes.extend_from_slice(b"\x0a\x02\xffx");
        meta_bytes.extend_from_slice(b"\x98\x06\x01"); // field 99, varint 1
        let mut raw = Vec::new();
        prost::encoding::bytes::encode(1, &meta_bytes, &mut raw);
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some("apps/v1".into()),
                kind: Some("Deployment".into()),
            }),
            raw: Some(raw),
            ..Default::default()
        };
        value.truncate(4);
        value.extend(unknown.encode_to_vec());
        let decoded = decode_object_meta(&value).unwrap();
        assert_eq!(decoded.name.as_deref(), Some("\u{fffd}x"));
        assert!(decoded.unknown_fields);
        assert_eq!(decoded.kind.as_deref(), Some("Deployment"));
    }

    #[test]
    fn json_object_meta() {
        let value = br#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cfg","namespace":"kube-system","uid":"c-1","creationTimestamp":"2024-05-01T10:00:00Z","labels":{"a":"b"},"ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"n1","uid":"n-1"}]}}"#;
        let meta = decode_object_meta(value).unwrap();
        assert_eq!(meta.encoding, Encoding::Json);
        assert_eq!(meta.kind.as_deref(), Some("ConfigMap"));
        assert_eq!(meta.namespace.as_deref(), Some("kube-system"));
        assert_eq!(meta.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(meta.owner_references.len(), 1);
        assert!(!meta.owner_references[0].controller);
    }

    #[test]
    fn errors_say_why() {
        assert_eq!(
            decode_object_meta(b"k8s:enc:aesgcm:v1:k1:xyz"),
            Err(MetaError::Encrypted("aesgcm:v1:k1".into()))
        );
        assert_eq!(
            decode_object_meta(b""),
            Err(MetaError::Unrecognized("empty value".into()))
        );
        assert_eq!(
            decode_object_meta(b"k8s\0\x0a\x05ab"),
            Err(MetaError::Envelope(WireError::Truncated))
        );
        // raw whose field 1 is a varint.
        assert!(matches!(
            decode_object_meta(b"k8s\0\x12\x02\x08\x01"),
            Err(MetaError::Object(WireError::WrongWireType { .. }))
        ));
        assert!(matches!(decode_object_meta(b"{]"), Err(MetaError::Json(_))));
    }
}
