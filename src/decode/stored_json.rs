//! Events stored as JSON (`{`…): clusters running with
//! `--storage-media-type=application/json`, and Kubernetes ≤ 1.5. The value
//! is the object exactly as the API server marshalled it, so it is already
//! kubectl-shaped: it is kept as it is, except that `metadata.resourceVersion`
//! is set from the etcd revision the way the API server does on read.

use serde_json::{Map, Value};

use super::decoded::{DecodedEvent, Encoding, EventFields};
use super::event::EventSchema;
use super::json::{Remarks, FIELDS_BEFORE_RESOURCE_VERSION};

/// Decodes a JSON-encoded stored value.
pub(crate) fn decode_json_event(value: &[u8], resource_version: Option<i64>) -> DecodedEvent {
    let mut remarks = Remarks::default();
    let mut object = match parse_object(value, &mut remarks) {
        Ok(object) => object,
        Err(reason) => return DecodedEvent::undecoded(Encoding::Unknown, None, None, reason),
    };
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(schema) = EventSchema::for_type(api_version.as_deref(), kind.as_deref()) else {
        let reason = format!(
            "JSON object of kind {} is not an Event (apiVersion {})",
            kind.as_deref().unwrap_or("<none>"),
            api_version.as_deref().unwrap_or("<none>"),
        );
        return DecodedEvent::undecoded(Encoding::Unknown, api_version, kind, reason);
    };
    if let Some(revision) = resource_version {
        set_resource_version(&mut object, revision, &mut remarks);
    }
    let fields = event_fields(&object, schema);
    // Printed as serde_json prints any Value: compact, keys in stored order.
    let object = Some(serde_json::Value::Object(object).to_string());
    DecodedEvent {
        encoding: Encoding::Json,
        api_version,
        kind,
        fields,
        object,
        unknown_fields: false,
        note: remarks.into_note(),
    }
}

/// Parses `value` as a JSON object. Like Go, invalid UTF-8 is accepted and
/// becomes U+FFFD (remarked).
pub(crate) fn parse_object(
    value: &[u8],
    remarks: &mut Remarks,
) -> Result<Map<String, Value>, String> {
    let parsed = match std::str::from_utf8(value) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => {
            remarks.push("invalid UTF-8 replaced with U+FFFD");
            serde_json::from_str(&String::from_utf8_lossy(value))
        }
    };
    match parsed {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("JSON value is not an object".to_owned()),
        Err(err) => Err(format!("invalid JSON: {err}")),
    }
}

/// Sets `metadata.resourceVersion`, inserting it where Go prints it.
fn set_resource_version(object: &mut Map<String, Value>, revision: i64, remarks: &mut Remarks) {
    let text = Value::String(revision.to_string());
    match object.get_mut("metadata") {
        Some(Value::Object(meta)) => match meta.get_mut("resourceVersion") {
            Some(slot) => *slot = text,
            None => insert_after(
                meta,
                &FIELDS_BEFORE_RESOURCE_VERSION,
                "resourceVersion",
                text,
            ),
        },
        Some(_) => remarks.push("metadata is not an object; resourceVersion not set"),
        None => {
            let mut meta = Map::new();
            meta.insert("resourceVersion".to_owned(), text);
            insert_after(
                object,
                &["kind", "apiVersion"],
                "metadata",
                Value::Object(meta),
            );
        }
    }
}

/// Inserts `key` right after the last of `preceding` present in `map` (at
/// the front if none is), keeping the order of everything else.
fn insert_after(map: &mut Map<String, Value>, preceding: &[&str], key: &str, value: Value) {
    let position = map
        .keys()
        .rposition(|k| preceding.contains(&k.as_str()))
        .map_or(0, |index| index + 1);
    let old = std::mem::take(map);
    let mut value = Some(value);
    for (index, (k, v)) in old.into_iter().enumerate() {
        if index == position {
            if let Some(value) = value.take() {
                map.insert(key.to_owned(), value);
            }
        }
        map.insert(k, v);
    }
    if let Some(value) = value {
        map.insert(key.to_owned(), value);
    }
}

/// Names of the fields that differ between the two Event schemas.
struct Keys {
    message: &'static str,
    count: &'static str,
    first_timestamp: &'static str,
    last_timestamp: &'static str,
    source: &'static str,
    involved: &'static str,
    reporting_component: &'static str,
}

const CORE_KEYS: Keys = Keys {
    message: "message",
    count: "count",
    first_timestamp: "firstTimestamp",
    last_timestamp: "lastTimestamp",
    source: "source",
    involved: "involvedObject",
    reporting_component: "reportingComponent",
};

const EVENTS_KEYS: Keys = Keys {
    message: "note",
    count: "deprecatedCount",
    first_timestamp: "deprecatedFirstTimestamp",
    last_timestamp: "deprecatedLastTimestamp",
    source: "deprecatedSource",
    involved: "regarding",
    reporting_component: "reportingController",
};

fn text(object: Option<&Map<String, Value>>, key: &str) -> Option<String> {
    object?
        .get(key)?
        .as_str()
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

fn nonzero(object: Option<&Map<String, Value>>, key: &str) -> Option<i64> {
    object?.get(key)?.as_i64().filter(|&n| n != 0)
}

fn child<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    object.get(key)?.as_object()
}

/// The columns, read from a kubectl-shaped Event.
pub(crate) fn event_fields(event: &Map<String, Value>, schema: EventSchema) -> EventFields {
    let keys = match schema {
        EventSchema::Core => &CORE_KEYS,
        EventSchema::EventsV1 | EventSchema::EventsV1beta1 => &EVENTS_KEYS,
    };
    let top = Some(event);
    let meta = child(event, "metadata");
    let series = child(event, "series");
    let source = child(event, keys.source);
    let involved = child(event, keys.involved);
    let related = child(event, "related");
    EventFields {
        namespace: text(meta, "namespace"),
        name: text(meta, "name"),
        uid: text(meta, "uid"),
        creation_timestamp: text(meta, "creationTimestamp"),
        reason: text(top, "reason"),
        message: text(top, keys.message),
        type_: text(top, "type"),
        count: nonzero(top, keys.count),
        first_timestamp: text(top, keys.first_timestamp),
        last_timestamp: text(top, keys.last_timestamp),
        event_time: text(top, "eventTime"),
        series_count: series.map(|s| s.get("count").and_then(Value::as_i64).unwrap_or(0)),
        series_last_observed_time: text(series, "lastObservedTime"),
        action: text(top, "action"),
        reporting_component: text(top, keys.reporting_component),
        reporting_instance: text(top, "reportingInstance"),
        source_component: text(source, "component"),
        source_host: text(source, "host"),
        involved_kind: text(involved, "kind"),
        involved_namespace: text(involved, "namespace"),
        involved_name: text(involved, "name"),
        involved_uid: text(involved, "uid"),
        involved_api_version: text(involved, "apiVersion"),
        involved_resource_version: text(involved, "resourceVersion"),
        involved_field_path: text(involved, "fieldPath"),
        related_kind: text(related, "kind"),
        related_namespace: text(related, "namespace"),
        related_name: text(related, "name"),
        related_uid: text(related, "uid"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::decode::json_value;

    const CORE_EVENT: &str = r#"{"kind":"Event","apiVersion":"v1","metadata":{"name":"web.17f","namespace":"prod","uid":"u-1","creationTimestamp":"2024-05-01T10:00:00Z"},"involvedObject":{"kind":"Pod","namespace":"prod","name":"web","uid":"p-1","apiVersion":"v1","resourceVersion":"99","fieldPath":"spec.containers{web}"},"reason":"BackOff","message":"Back-off restarting failed container","source":{"component":"kubelet","host":"node-1"},"firstTimestamp":"2024-05-01T10:00:00Z","lastTimestamp":"2024-05-01T10:05:00Z","count":7,"type":"Warning","eventTime":null,"reportingComponent":"kubelet","reportingInstance":"node-1","futureField":{"x":1}}"#;

    #[test]
    fn core_json_event() {
        let decoded = decode_json_event(CORE_EVENT.as_bytes(), Some(1234));
        assert_eq!(decoded.encoding, Encoding::Json);
        assert_eq!(decoded.api_version.as_deref(), Some("v1"));
        assert_eq!(decoded.kind.as_deref(), Some("Event"));
        assert_eq!(decoded.note, None);
        assert!(!decoded.unknown_fields);
        let expected = EventFields {
            namespace: Some("prod".into()),
            name: Some("web.17f".into()),
            uid: Some("u-1".into()),
            creation_timestamp: Some("2024-05-01T10:00:00Z".into()),
            reason: Some("BackOff".into()),
            message: Some("Back-off restarting failed container".into()),
            type_: Some("Warning".into()),
            count: Some(7),
            first_timestamp: Some("2024-05-01T10:00:00Z".into()),
            last_timestamp: Some("2024-05-01T10:05:00Z".into()),
            reporting_component: Some("kubelet".into()),
            reporting_instance: Some("node-1".into()),
            source_component: Some("kubelet".into()),
            source_host: Some("node-1".into()),
            involved_kind: Some("Pod".into()),
            involved_namespace: Some("prod".into()),
            involved_name: Some("web".into()),
            involved_uid: Some("p-1".into()),
            involved_api_version: Some("v1".into()),
            involved_resource_version: Some("99".into()),
            involved_field_path: Some("spec.containers{web}".into()),
            ..EventFields::default()
        };
        assert_eq!(decoded.fields, expected);
        // Kept as it is, resourceVersion inserted after uid.
        let object = json_value(&decoded.object.unwrap());
        let meta_keys: Vec<&str> = object["metadata"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            meta_keys,
            [
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "creationTimestamp"
            ]
        );
        assert_eq!(object["metadata"]["resourceVersion"], json!("1234"));
        assert_eq!(object["futureField"], json!({"x": 1}));
    }

    #[test]
    fn resource_version_is_replaced_in_place_or_kept() {
        let value =
            br#"{"apiVersion":"v1","kind":"Event","metadata":{"resourceVersion":"5","name":"a"}}"#;
        let replaced = decode_json_event(value, Some(6)).object.unwrap();
        assert_eq!(
            replaced,
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"resourceVersion":"6","name":"a"}}"#
        );
        let kept = json_value(&decode_json_event(value, None).object.unwrap());
        assert_eq!(kept["metadata"]["resourceVersion"], json!("5"));
        let bare = decode_json_event(
            br#"{"kind":"Event","apiVersion":"v1","reason":"x"}"#,
            Some(3),
        );
        assert_eq!(
            bare.object.unwrap(),
            r#"{"kind":"Event","apiVersion":"v1","metadata":{"resourceVersion":"3"},"reason":"x"}"#
        );
    }

    #[test]
    fn events_k8s_io_json_event_maps_renamed_fields() {
        let value = br#"{"kind":"Event","apiVersion":"events.k8s.io/v1","metadata":{"name":"e"},"eventTime":"2024-05-01T10:00:00.123456Z","series":{"count":3,"lastObservedTime":"2024-05-01T10:09:00.000001Z"},"reportingController":"ctrl","reportingInstance":"ctrl-1","action":"Scale","reason":"Scaled","regarding":{"kind":"Deployment","name":"web"},"related":{"kind":"ReplicaSet","name":"web-1","namespace":"prod","uid":"r"},"note":"scaled up","type":"Normal","deprecatedSource":{"component":"old"},"deprecatedFirstTimestamp":null,"deprecatedLastTimestamp":"2024-05-01T10:00:00Z","deprecatedCount":2}"#;
        let decoded = decode_json_event(value, None);
        assert_eq!(decoded.encoding, Encoding::Json);
        let f = decoded.fields;
        assert_eq!(f.message.as_deref(), Some("scaled up"));
        assert_eq!(f.reporting_component.as_deref(), Some("ctrl"));
        assert_eq!(f.reporting_instance.as_deref(), Some("ctrl-1"));
        assert_eq!(f.involved_kind.as_deref(), Some("Deployment"));
        assert_eq!(f.related_uid.as_deref(), Some("r"));
        assert_eq!(f.count, Some(2));
        assert_eq!(f.first_timestamp, None);
        assert_eq!(f.last_timestamp.as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(f.source_component.as_deref(), Some("old"));
        assert_eq!(f.series_count, Some(3));
        assert_eq!(
            f.series_last_observed_time.as_deref(),
            Some("2024-05-01T10:09:00.000001Z")
        );
        assert_eq!(f.event_time.as_deref(), Some("2024-05-01T10:00:00.123456Z"));
    }

    #[test]
    fn json_that_is_not_an_event() {
        let decoded = decode_json_event(br#"{"kind":"Pod","apiVersion":"v1"}"#, Some(1));
        assert_eq!(decoded.encoding, Encoding::Unknown);
        assert_eq!(decoded.kind.as_deref(), Some("Pod"));
        assert_eq!(decoded.object, None);
        assert_eq!(
            decoded.note.as_deref(),
            Some("JSON object of kind Pod is not an Event (apiVersion v1)")
        );
        let broken = decode_json_event(b"{\"kind\":", None);
        assert_eq!(broken.encoding, Encoding::Unknown);
        assert!(broken.note.unwrap().starts_with("invalid JSON"));
    }

    #[test]
    fn invalid_utf8_in_json_is_replaced() {
        let decoded = decode_json_event(
            b"{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"message\":\"a\xffb\"}",
            None,
        );
        assert_eq!(decoded.encoding, Encoding::Json);
        assert_eq!(decoded.fields.message.as_deref(), Some("a\u{fffd}b"));
        assert_eq!(
            decoded.note.as_deref(),
            Some("invalid UTF-8 replaced with U+FFFD")
        );
    }
}
