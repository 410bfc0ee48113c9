//! Kubernetes' JSON rendering (what `kubectl get -o json` prints) of the
//! protobuf messages shared by all Event versions: ObjectMeta and its parts,
//! ObjectReference, EventSource and timestamps.
//!
//! Go's `encoding/json` decides which keys appear, and the keys come out in
//! Go struct field order (serde_json's `preserve_order` keeps ours):
//! * a `string`/integer field tagged `omitempty` is left out when empty/zero,
//!   one without `omitempty` is always printed;
//! * a struct-typed field is always printed, `omitempty` or not (e.g.
//!   `creationTimestamp: null`, `source: {}`);
//! * a pointer field (`*Time`, `*int64`, `*bool`, `*EventSeries`, …) is
//!   printed when the protobuf carried it, even if empty;
//! * maps print with sorted keys (prost's `BTreeMap` iterates sorted).
//!
//! gogo-protobuf writes every non-pointer field, so "empty" in a stored value
//! usually means present with an empty value, not absent; the rules above
//! treat both alike, as Go does.

use serde_json::{Map, Value};

use super::time::time_text;
use crate::proto::core::v1::{EventSource, ObjectReference};
use crate::proto::meta::v1::{
    Fields, FieldsV1, ManagedFieldsEntry, ObjectMeta, OwnerReference, Time,
};

/// Go's ObjectMeta field order up to `resourceVersion`, used to put a
/// resourceVersion where Go would print it.
pub(crate) const FIELDS_BEFORE_RESOURCE_VERSION: [&str; 5] =
    ["name", "generateName", "namespace", "selfLink", "uid"];

/// Remarks gathered while decoding, reported in `DecodedEvent::note`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Remarks(Vec<String>);

impl Remarks {
    pub(crate) fn push(&mut self, remark: impl Into<String>) {
        self.0.push(remark.into());
    }

    /// All remarks joined with `; `, or `None` if there are none.
    pub(crate) fn into_note(self) -> Option<String> {
        if self.0.is_empty() {
            None
        } else {
            Some(self.0.join("; "))
        }
    }
}

/// Inserts `value` under `key` unless it is absent or empty (`omitempty`).
pub(crate) fn put_nonempty(map: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(text) = value.filter(|text| !text.is_empty()) {
        map.insert(key.to_owned(), Value::String(text));
    }
}

/// Inserts `value` under `key`, `""` when absent (no `omitempty`).
pub(crate) fn put_string(map: &mut Map<String, Value>, key: &str, value: Option<String>) {
    map.insert(key.to_owned(), Value::String(value.unwrap_or_default()));
}

/// Inserts an integer unless it is absent or zero (`omitempty`).
pub(crate) fn put_nonzero(map: &mut Map<String, Value>, key: &str, value: Option<i64>) {
    if let Some(number) = value.filter(|&n| n != 0) {
        map.insert(key.to_owned(), Value::from(number));
    }
}

/// A timestamp's JSON: the RFC 3339 text, or `null` for the zero time.
pub(crate) fn time_json(text: Option<String>) -> Value {
    text.map_or(Value::Null, Value::String)
}

/// `metav1.ObjectMeta`. With `resource_version`, `resourceVersion` is set to
/// it, as the API server does on read (the etcd mod_revision).
pub(crate) fn object_meta(
    meta: ObjectMeta,
    resource_version: Option<i64>,
    remarks: &mut Remarks,
) -> Value {
    // Enough for a typical Event's metadata; an entry is ~100 bytes, and
    // keeping the allocation under 1 KiB keeps it on malloc's fast path.
    let mut map = Map::with_capacity(8);
    put_nonempty(&mut map, "name", meta.name);
    put_nonempty(&mut map, "generateName", meta.generate_name);
    put_nonempty(&mut map, "namespace", meta.namespace);
    put_nonempty(&mut map, "selfLink", meta.self_link);
    put_nonempty(&mut map, "uid", meta.uid);
    match resource_version {
        Some(revision) => {
            map.insert(
                "resourceVersion".to_owned(),
                Value::String(revision.to_string()),
            );
        }
        None => put_nonempty(&mut map, "resourceVersion", meta.resource_version),
    }
    put_nonzero(&mut map, "generation", meta.generation);
    map.insert(
        "creationTimestamp".to_owned(),
        time_json(meta.creation_timestamp.as_ref().and_then(time_text)),
    );
    if let Some(deletion) = meta.deletion_timestamp {
        map.insert(
            "deletionTimestamp".to_owned(),
            time_json(time_text(&deletion)),
        );
    }
    if let Some(grace) = meta.deletion_grace_period_seconds {
        map.insert("deletionGracePeriodSeconds".to_owned(), Value::from(grace));
    }
    if !meta.labels.is_empty() {
        let labels = meta.labels.into_iter().map(|(k, v)| (k, Value::String(v)));
        map.insert("labels".to_owned(), Value::Object(labels.collect()));
    }
    if !meta.annotations.is_empty() {
        let annotations = meta
            .annotations
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)));
        map.insert(
            "annotations".to_owned(),
            Value::Object(annotations.collect()),
        );
    }
    if !meta.owner_references.is_empty() {
        let owners = meta
            .owner_references
            .into_iter()
            .map(owner_reference)
            .collect();
        map.insert("ownerReferences".to_owned(), Value::Array(owners));
    }
    if !meta.finalizers.is_empty() {
        let finalizers = meta.finalizers.into_iter().map(Value::String).collect();
        map.insert("finalizers".to_owned(), Value::Array(finalizers));
    }
    // Dropped from ObjectMeta in Kubernetes 1.25; older servers wrote it.
    put_nonempty(&mut map, "clusterName", meta.cluster_name);
    if !meta.managed_fields.is_empty() {
        let entries = meta
            .managed_fields
            .into_iter()
            .enumerate()
            .map(|(index, entry)| managed_fields_entry(entry, index, remarks))
            .collect();
        map.insert("managedFields".to_owned(), Value::Array(entries));
    }
    Value::Object(map)
}

/// `metav1.OwnerReference`: apiVersion, kind, name and uid have no
/// `omitempty`; controller and blockOwnerDeletion are `*bool`.
fn owner_reference(owner: OwnerReference) -> Value {
    let mut map = Map::with_capacity(6);
    put_string(&mut map, "apiVersion", owner.api_version);
    put_string(&mut map, "kind", owner.kind);
    put_string(&mut map, "name", owner.name);
    put_string(&mut map, "uid", owner.uid);
    if let Some(controller) = owner.controller {
        map.insert("controller".to_owned(), Value::Bool(controller));
    }
    if let Some(block) = owner.block_owner_deletion {
        map.insert("blockOwnerDeletion".to_owned(), Value::Bool(block));
    }
    Value::Object(map)
}

/// `metav1.ManagedFieldsEntry`, including the pre-1.18 `fields` trie.
fn managed_fields_entry(entry: ManagedFieldsEntry, index: usize, remarks: &mut Remarks) -> Value {
    let mut map = Map::with_capacity(8);
    put_nonempty(&mut map, "manager", entry.manager);
    put_nonempty(&mut map, "operation", entry.operation);
    put_nonempty(&mut map, "apiVersion", entry.api_version);
    if let Some(time) = entry.time {
        map.insert("time".to_owned(), time_json(time_text(&time)));
    }
    if let Some(fields) = entry.fields {
        map.insert("fields".to_owned(), fields_trie(fields));
    }
    put_nonempty(&mut map, "fieldsType", entry.fields_type);
    if let Some(fields_v1) = entry.fields_v1 {
        map.insert(
            "fieldsV1".to_owned(),
            fields_v1_json(fields_v1, index, remarks),
        );
    }
    put_nonempty(&mut map, "subresource", entry.subresource);
    Value::Object(map)
}

/// Pre-1.18 `metav1.Fields`: its MarshalJSON prints the map itself, and a
/// nil map (an entry with no children) as `null`, e.g. `{"f:a":{"f:b":null}}`.
fn fields_trie(fields: Fields) -> Value {
    if fields.map.is_empty() {
        return Value::Null;
    }
    let children = fields
        .map
        .into_iter()
        .map(|(key, child)| (key, fields_trie(child)));
    Value::Object(children.collect())
}

/// `metav1.FieldsV1`: `raw` holds JSON text that Go prints verbatim; a
/// missing `raw` prints `null`. Text that is not JSON (Go's encoder would
/// fail the whole object) is kept as a JSON string and remarked on.
fn fields_v1_json(fields_v1: FieldsV1, index: usize, remarks: &mut Remarks) -> Value {
    let Some(raw) = fields_v1.raw else {
        return Value::Null;
    };
    match serde_json::from_slice(&raw) {
        Ok(value) => value,
        Err(_) => {
            remarks.push(format!(
                "metadata.managedFields[{index}].fieldsV1 is not valid JSON; kept as a string"
            ));
            Value::String(String::from_utf8_lossy(&raw).into_owned())
        }
    }
}

/// `core/v1.ObjectReference`: every field `omitempty`.
pub(crate) fn object_reference(reference: ObjectReference) -> Value {
    let mut map = Map::with_capacity(7);
    put_nonempty(&mut map, "kind", reference.kind);
    put_nonempty(&mut map, "namespace", reference.namespace);
    put_nonempty(&mut map, "name", reference.name);
    put_nonempty(&mut map, "uid", reference.uid);
    put_nonempty(&mut map, "apiVersion", reference.api_version);
    put_nonempty(&mut map, "resourceVersion", reference.resource_version);
    put_nonempty(&mut map, "fieldPath", reference.field_path);
    Value::Object(map)
}

/// `core/v1.EventSource`: both fields `omitempty`.
pub(crate) fn event_source(source: EventSource) -> Value {
    let mut map = Map::with_capacity(2);
    put_nonempty(&mut map, "component", source.component);
    put_nonempty(&mut map, "host", source.host);
    Value::Object(map)
}

/// JSON of an optional `Time` field whose Go type is a struct (always printed).
pub(crate) fn struct_time_json(time: Option<&Time>) -> Value {
    time_json(time.and_then(time_text))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    #[test]
    fn empty_object_meta_prints_like_go() {
        let mut remarks = Remarks::default();
        let value = object_meta(ObjectMeta::default(), None, &mut remarks);
        assert_eq!(value, json!({"creationTimestamp": null}));
        let value = object_meta(ObjectMeta::default(), Some(42), &mut remarks);
        assert_eq!(
            value,
            json!({"resourceVersion": "42", "creationTimestamp": null})
        );
        assert_eq!(remarks.into_note(), None);
    }

    #[test]
    fn present_but_empty_strings_are_omitted() {
        let meta = ObjectMeta {
            name: Some("a".to_owned()),
            generate_name: Some(String::new()),
            cluster_name: Some(String::new()),
            generation: Some(0),
            deletion_timestamp: Some(Time::default()),
            deletion_grace_period_seconds: Some(0),
            ..Default::default()
        };
        let value = object_meta(meta, None, &mut Remarks::default());
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            r#"{"name":"a","creationTimestamp":null,"deletionTimestamp":null,"deletionGracePeriodSeconds":0}"#
        );
    }

    #[test]
    fn owner_reference_required_fields_are_always_printed() {
        let value = owner_reference(OwnerReference {
            controller: Some(false),
            ..Default::default()
        });
        assert_eq!(
            value,
            json!({"apiVersion": "", "kind": "", "name": "", "uid": "", "controller": false})
        );
    }

    #[test]
    fn old_fields_trie_prints_nil_maps_as_null() {
        let leaf = Fields::default();
        let middle = Fields {
            map: BTreeMap::from([("19".to_owned(), leaf)]),
        };
        let top = Fields {
            map: BTreeMap::from([("18".to_owned(), middle)]),
        };
        assert_eq!(fields_trie(top), json!({"18": {"19": null}}));
    }

    #[test]
    fn fields_v1_embeds_raw_json() {
        let mut remarks = Remarks::default();
        let raw = br#"{"f:metadata":{"f:labels":{".":{}}}}"#.to_vec();
        let value = fields_v1_json(FieldsV1 { raw: Some(raw) }, 0, &mut remarks);
        assert_eq!(value, json!({"f:metadata": {"f:labels": {".": {}}}}));
        assert_eq!(
            fields_v1_json(FieldsV1 { raw: None }, 0, &mut remarks),
            Value::Null
        );
        assert_eq!(remarks.clone().into_note(), None);

        let broken = fields_v1_json(
            FieldsV1 {
                raw: Some(b"{nope".to_vec()),
            },
            3,
            &mut remarks,
        );
        assert_eq!(broken, json!("{nope"));
        assert_eq!(
            remarks.into_note().as_deref(),
            Some("metadata.managedFields[3].fieldsV1 is not valid JSON; kept as a string")
        );
    }

    #[test]
    fn references_and_sources_omit_empty_fields() {
        assert_eq!(object_reference(ObjectReference::default()), json!({}));
        let source = EventSource {
            component: Some("kubelet".to_owned()),
            host: Some(String::new()),
        };
        assert_eq!(event_source(source), json!({"component": "kubelet"}));
    }
}
