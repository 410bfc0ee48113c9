//! Event messages decoded by prost, turned into the flattened
//! [`EventFields`] columns and the `kubectl get event -o json` object.
//!
//! Two schemas:
//! * core/v1 `Event` (`apiVersion: v1`), what API servers store for both
//!   Event APIs (`events.k8s.io` Events cohabit with core Events in etcd);
//! * events.k8s.io/v1 and v1beta1 `Event` (same field numbers), whose
//!   differently named fields map onto the same columns: `note` → message,
//!   `regarding` → involved object, `reportingController` → reporting
//!   component, `deprecatedSource`/`deprecatedFirstTimestamp`/
//!   `deprecatedLastTimestamp`/`deprecatedCount` → source/first/last/count.
//!
//! Columns follow what the JSON shows: an empty string, a zero count or a
//! `null` timestamp is `None`. `series_count` is set whenever a series is.

use serde_json::{Map, Value};

use super::json::{
    event_source, object_meta, object_reference, put_nonempty, put_nonzero, put_string,
    struct_time_json, time_json, Remarks,
};
use super::time::{micro_time_text, time_text};
use super::EventFields;
use crate::proto::core::v1 as core;
use crate::proto::events::v1 as events;
use crate::proto::meta::v1::{MicroTime, ObjectMeta};

/// Which Event schema a value holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventSchema {
    /// `v1` / `Event`.
    Core,
    /// `events.k8s.io/v1` / `Event`.
    EventsV1,
    /// `events.k8s.io/v1beta1` / `Event`.
    EventsV1beta1,
}

impl EventSchema {
    /// The schema for a TypeMeta, or `None` if it is not an Event.
    pub(crate) fn for_type(api_version: Option<&str>, kind: Option<&str>) -> Option<Self> {
        match (api_version?, kind?) {
            ("v1", "Event") => Some(EventSchema::Core),
            ("events.k8s.io/v1", "Event") => Some(EventSchema::EventsV1),
            ("events.k8s.io/v1beta1", "Event") => Some(EventSchema::EventsV1beta1),
            _ => None,
        }
    }
}

/// The type meta printed first in the JSON object.
pub(crate) struct TypeMeta<'a> {
    pub api_version: Option<&'a str>,
    pub kind: Option<&'a str>,
}

fn type_meta_json(type_meta: &TypeMeta<'_>) -> Map<String, Value> {
    // Both Event schemas have at most 17 top-level keys.
    let mut map = Map::with_capacity(17);
    put_nonempty(&mut map, "kind", type_meta.kind.map(str::to_owned));
    put_nonempty(
        &mut map,
        "apiVersion",
        type_meta.api_version.map(str::to_owned),
    );
    map
}

fn nonempty(text: &Option<String>) -> Option<String> {
    text.as_deref().filter(|t| !t.is_empty()).map(str::to_owned)
}

fn nonzero(count: Option<i32>) -> Option<i64> {
    count.filter(|&c| c != 0).map(i64::from)
}

fn micro(time: Option<&MicroTime>) -> Option<String> {
    time.and_then(micro_time_text)
}

/// Columns taken from ObjectMeta.
fn meta_columns(meta: &ObjectMeta, fields: &mut EventFields) {
    fields.namespace = nonempty(&meta.namespace);
    fields.name = nonempty(&meta.name);
    fields.uid = nonempty(&meta.uid);
    fields.creation_timestamp = meta.creation_timestamp.as_ref().and_then(time_text);
}

fn involved_columns(reference: &core::ObjectReference, fields: &mut EventFields) {
    fields.involved_kind = nonempty(&reference.kind);
    fields.involved_namespace = nonempty(&reference.namespace);
    fields.involved_name = nonempty(&reference.name);
    fields.involved_uid = nonempty(&reference.uid);
    fields.involved_api_version = nonempty(&reference.api_version);
    fields.involved_resource_version = nonempty(&reference.resource_version);
    fields.involved_field_path = nonempty(&reference.field_path);
}

fn related_columns(reference: &core::ObjectReference, fields: &mut EventFields) {
    fields.related_kind = nonempty(&reference.kind);
    fields.related_namespace = nonempty(&reference.namespace);
    fields.related_name = nonempty(&reference.name);
    fields.related_uid = nonempty(&reference.uid);
}

fn source_columns(source: &core::EventSource, fields: &mut EventFields) {
    fields.source_component = nonempty(&source.component);
    fields.source_host = nonempty(&source.host);
}

/// A core/v1 Event.
pub(crate) fn core_event(
    event: core::Event,
    type_meta: &TypeMeta<'_>,
    resource_version: Option<i64>,
    remarks: &mut Remarks,
) -> (EventFields, Value) {
    let meta = event.metadata.unwrap_or_default();
    let involved = event.involved_object.unwrap_or_default();
    let source = event.source.unwrap_or_default();

    let mut fields = EventFields {
        reason: nonempty(&event.reason),
        message: nonempty(&event.message),
        type_: nonempty(&event.r#type),
        count: nonzero(event.count),
        first_timestamp: event.first_timestamp.as_ref().and_then(time_text),
        last_timestamp: event.last_timestamp.as_ref().and_then(time_text),
        event_time: micro(event.event_time.as_ref()),
        series_count: event
            .series
            .as_ref()
            .map(|series| i64::from(series.count.unwrap_or(0))),
        series_last_observed_time: event
            .series
            .as_ref()
            .and_then(|series| micro(series.last_observed_time.as_ref())),
        action: nonempty(&event.action),
        reporting_component: nonempty(&event.reporting_component),
        reporting_instance: nonempty(&event.reporting_instance),
        ..EventFields::default()
    };
    meta_columns(&meta, &mut fields);
    involved_columns(&involved, &mut fields);
    source_columns(&source, &mut fields);
    if let Some(related) = &event.related {
        related_columns(related, &mut fields);
    }

    // Go field order of core/v1 Event.
    let mut map = type_meta_json(type_meta);
    map.insert(
        "metadata".to_owned(),
        object_meta(meta, resource_version, remarks),
    );
    map.insert("involvedObject".to_owned(), object_reference(involved));
    put_nonempty(&mut map, "reason", event.reason);
    put_nonempty(&mut map, "message", event.message);
    map.insert("source".to_owned(), event_source(source));
    map.insert(
        "firstTimestamp".to_owned(),
        time_json(fields.first_timestamp.clone()),
    );
    map.insert(
        "lastTimestamp".to_owned(),
        time_json(fields.last_timestamp.clone()),
    );
    put_nonzero(&mut map, "count", event.count.map(i64::from));
    put_nonempty(&mut map, "type", event.r#type);
    map.insert("eventTime".to_owned(), time_json(fields.event_time.clone()));
    if let Some(series) = event.series {
        let mut series_map = Map::with_capacity(3);
        put_nonzero(&mut series_map, "count", series.count.map(i64::from));
        series_map.insert(
            "lastObservedTime".to_owned(),
            time_json(fields.series_last_observed_time.clone()),
        );
        // Removed after 1.17 (`json:"state,omitempty"`); old values carry it.
        put_nonempty(&mut series_map, "state", series.state);
        map.insert("series".to_owned(), Value::Object(series_map));
    }
    put_nonempty(&mut map, "action", event.action);
    if let Some(related) = event.related {
        map.insert("related".to_owned(), object_reference(related));
    }
    put_string(&mut map, "reportingComponent", event.reporting_component);
    put_string(&mut map, "reportingInstance", event.reporting_instance);
    (fields, Value::Object(map))
}

/// An events.k8s.io/v1 or v1beta1 Event.
pub(crate) fn events_event(
    event: events::Event,
    schema: EventSchema,
    type_meta: &TypeMeta<'_>,
    resource_version: Option<i64>,
    remarks: &mut Remarks,
) -> (EventFields, Value) {
    let meta = event.metadata.unwrap_or_default();
    let regarding = event.regarding.unwrap_or_default();
    let source = event.deprecated_source.unwrap_or_default();

    let mut fields = EventFields {
        reason: nonempty(&event.reason),
        message: nonempty(&event.note),
        type_: nonempty(&event.r#type),
        count: nonzero(event.deprecated_count),
        first_timestamp: event
            .deprecated_first_timestamp
            .as_ref()
            .and_then(time_text),
        last_timestamp: event.deprecated_last_timestamp.as_ref().and_then(time_text),
        event_time: micro(event.event_time.as_ref()),
        series_count: event
            .series
            .as_ref()
            .map(|series| i64::from(series.count.unwrap_or(0))),
        series_last_observed_time: event
            .series
            .as_ref()
            .and_then(|series| micro(series.last_observed_time.as_ref())),
        action: nonempty(&event.action),
        reporting_component: nonempty(&event.reporting_controller),
        reporting_instance: nonempty(&event.reporting_instance),
        ..EventFields::default()
    };
    meta_columns(&meta, &mut fields);
    involved_columns(&regarding, &mut fields);
    source_columns(&source, &mut fields);
    if let Some(related) = &event.related {
        related_columns(related, &mut fields);
    }

    // Go field order of events.k8s.io Event.
    let mut map = type_meta_json(type_meta);
    map.insert(
        "metadata".to_owned(),
        object_meta(meta, resource_version, remarks),
    );
    map.insert("eventTime".to_owned(), time_json(fields.event_time.clone()));
    if let Some(series) = event.series {
        let mut series_map = Map::with_capacity(3);
        // No omitempty on either field.
        series_map.insert("count".to_owned(), Value::from(series.count.unwrap_or(0)));
        series_map.insert(
            "lastObservedTime".to_owned(),
            time_json(fields.series_last_observed_time.clone()),
        );
        if let Some(state) = series.state {
            if schema == EventSchema::EventsV1beta1 {
                // v1beta1 had `json:"state"` (no omitempty) until it was
                // removed; v1 never had the field.
                series_map.insert("state".to_owned(), Value::String(state));
            } else {
                remarks.push("events.k8s.io/v1 EventSeries carries a state (field 3), which v1 does not have; not shown");
            }
        }
        map.insert("series".to_owned(), Value::Object(series_map));
    }
    put_nonempty(&mut map, "reportingController", event.reporting_controller);
    put_nonempty(&mut map, "reportingInstance", event.reporting_instance);
    put_nonempty(&mut map, "action", event.action);
    put_nonempty(&mut map, "reason", event.reason);
    map.insert("regarding".to_owned(), object_reference(regarding));
    if let Some(related) = event.related {
        map.insert("related".to_owned(), object_reference(related));
    }
    put_nonempty(&mut map, "note", event.note);
    put_nonempty(&mut map, "type", event.r#type);
    map.insert("deprecatedSource".to_owned(), event_source(source));
    map.insert(
        "deprecatedFirstTimestamp".to_owned(),
        struct_time_json(event.deprecated_first_timestamp.as_ref()),
    );
    map.insert(
        "deprecatedLastTimestamp".to_owned(),
        struct_time_json(event.deprecated_last_timestamp.as_ref()),
    );
    put_nonzero(
        &mut map,
        "deprecatedCount",
        event.deprecated_count.map(i64::from),
    );
    (fields, Value::Object(map))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::proto::meta::v1::Time;

    const CORE: TypeMeta<'static> = TypeMeta {
        api_version: Some("v1"),
        kind: Some("Event"),
    };

    #[test]
    fn schema_dispatch() {
        assert_eq!(
            EventSchema::for_type(Some("v1"), Some("Event")),
            Some(EventSchema::Core)
        );
        assert_eq!(
            EventSchema::for_type(Some("events.k8s.io/v1"), Some("Event")),
            Some(EventSchema::EventsV1)
        );
        assert_eq!(
            EventSchema::for_type(Some("events.k8s.io/v1beta1"), Some("Event")),
            Some(EventSchema::EventsV1beta1)
        );
        assert_eq!(EventSchema::for_type(Some("v1"), Some("Pod")), None);
        assert_eq!(EventSchema::for_type(Some("v2"), Some("Event")), None);
        assert_eq!(EventSchema::for_type(None, Some("Event")), None);
    }

    #[test]
    fn empty_core_event_prints_like_go() {
        let (fields, object) =
            core_event(core::Event::default(), &CORE, None, &mut Remarks::default());
        assert_eq!(fields, EventFields::default());
        assert_eq!(
            object,
            json!({
                "kind": "Event", "apiVersion": "v1",
                "metadata": {"creationTimestamp": null},
                "involvedObject": {},
                "source": {},
                "firstTimestamp": null, "lastTimestamp": null, "eventTime": null,
                "reportingComponent": "", "reportingInstance": ""
            })
        );
    }

    #[test]
    fn empty_events_event_prints_like_go() {
        let type_meta = TypeMeta {
            api_version: Some("events.k8s.io/v1"),
            kind: Some("Event"),
        };
        let event = events::Event {
            series: Some(events::EventSeries::default()),
            ..Default::default()
        };
        let (fields, object) = events_event(
            event,
            EventSchema::EventsV1,
            &type_meta,
            Some(7),
            &mut Remarks::default(),
        );
        assert_eq!(fields.series_count, Some(0));
        assert_eq!(
            object,
            json!({
                "kind": "Event", "apiVersion": "events.k8s.io/v1",
                "metadata": {"resourceVersion": "7", "creationTimestamp": null},
                "eventTime": null,
                "series": {"count": 0, "lastObservedTime": null},
                "regarding": {},
                "deprecatedSource": {},
                "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null
            })
        );
    }

    #[test]
    fn v1_series_state_is_not_shown_but_remarked() {
        let event = events::Event {
            series: Some(events::EventSeries {
                state: Some("Ongoing".to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut remarks = Remarks::default();
        let (_, object) = events_event(
            event.clone(),
            EventSchema::EventsV1,
            &CORE,
            None,
            &mut remarks,
        );
        assert_eq!(object["series"].get("state"), None);
        assert!(remarks.into_note().is_some());
        let (_, object) = events_event(
            event,
            EventSchema::EventsV1beta1,
            &CORE,
            None,
            &mut Remarks::default(),
        );
        assert_eq!(object["series"]["state"], json!("Ongoing"));
    }

    #[test]
    fn zero_counts_and_empty_times_are_null_columns() {
        let event = core::Event {
            count: Some(0),
            first_timestamp: Some(Time::default()),
            last_timestamp: Some(Time {
                seconds: Some(1_700_000_000),
                nanos: Some(123),
            }),
            reason: Some(String::new()),
            ..Default::default()
        };
        let (fields, object) = core_event(event, &CORE, None, &mut Remarks::default());
        assert_eq!(fields.count, None);
        assert_eq!(fields.reason, None);
        assert_eq!(fields.first_timestamp, None);
        assert_eq!(
            fields.last_timestamp.as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(object.get("count"), None);
        assert_eq!(object["lastTimestamp"], json!("2023-11-14T22:13:20Z"));
    }
}
