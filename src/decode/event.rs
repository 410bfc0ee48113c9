//! Event messages decoded by prost, turned into the flattened
//! [`EventFields`] columns and the `kubectl get event -o json` object, written
//! as compact JSON text.
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

use super::decoded::EventFields;
use super::json::{event_source, object_meta, object_reference, ObjectWriter, Remarks};
use super::time::{micro_time_text, time_text};
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

/// Starts the Event's JSON object in `out` with its type meta.
fn start_event<'a>(out: &'a mut String, type_meta: &TypeMeta<'_>) -> ObjectWriter<'a> {
    let mut object = ObjectWriter::new(out);
    object.nonempty("kind", type_meta.kind);
    object.nonempty("apiVersion", type_meta.api_version);
    object
}

/// Room for a typical Event's JSON (a kubelet Event with one managedFields
/// entry is ~1.2 KiB), so that writing it rarely reallocates.
const JSON_CAPACITY: usize = 2048;

/// A column from a string field, moved once the JSON has been written.
fn nonempty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.is_empty())
}

fn nonzero(count: Option<i32>) -> Option<i64> {
    count.filter(|&c| c != 0).map(i64::from)
}

fn micro(time: Option<&MicroTime>) -> Option<String> {
    time.and_then(micro_time_text)
}

/// Columns taken from ObjectMeta.
fn meta_columns(meta: ObjectMeta, creation_timestamp: Option<String>, fields: &mut EventFields) {
    fields.namespace = nonempty(meta.namespace);
    fields.name = nonempty(meta.name);
    fields.uid = nonempty(meta.uid);
    fields.creation_timestamp = creation_timestamp;
}

fn involved_columns(reference: core::ObjectReference, fields: &mut EventFields) {
    fields.involved_kind = nonempty(reference.kind);
    fields.involved_namespace = nonempty(reference.namespace);
    fields.involved_name = nonempty(reference.name);
    fields.involved_uid = nonempty(reference.uid);
    fields.involved_api_version = nonempty(reference.api_version);
    fields.involved_resource_version = nonempty(reference.resource_version);
    fields.involved_field_path = nonempty(reference.field_path);
}

fn related_columns(reference: core::ObjectReference, fields: &mut EventFields) {
    fields.related_kind = nonempty(reference.kind);
    fields.related_namespace = nonempty(reference.namespace);
    fields.related_name = nonempty(reference.name);
    fields.related_uid = nonempty(reference.uid);
}

fn source_columns(source: core::EventSource, fields: &mut EventFields) {
    fields.source_component = nonempty(source.component);
    fields.source_host = nonempty(source.host);
}

/// A core/v1 Event: its columns and its JSON text.
pub(crate) fn core_event(
    event: core::Event,
    type_meta: &TypeMeta<'_>,
    resource_version: Option<i64>,
    remarks: &mut Remarks,
) -> (EventFields, String) {
    let meta = event.metadata.unwrap_or_default();
    let involved = event.involved_object.unwrap_or_default();
    let source = event.source.unwrap_or_default();
    // Each timestamp is formatted once, for the JSON and for its column.
    let first_timestamp = event.first_timestamp.as_ref().and_then(time_text);
    let last_timestamp = event.last_timestamp.as_ref().and_then(time_text);
    let event_time = micro(event.event_time.as_ref());
    let series_last_observed_time = event
        .series
        .as_ref()
        .and_then(|series| micro(series.last_observed_time.as_ref()));

    // Go field order of core/v1 Event.
    let mut json = String::with_capacity(JSON_CAPACITY);
    let mut object = start_event(&mut json, type_meta);
    let creation_timestamp =
        object_meta(object.object("metadata"), &meta, resource_version, remarks);
    object_reference(object.object("involvedObject"), &involved);
    object.nonempty("reason", event.reason.as_deref());
    object.nonempty("message", event.message.as_deref());
    event_source(object.object("source"), &source);
    object.time("firstTimestamp", first_timestamp.as_deref());
    object.time("lastTimestamp", last_timestamp.as_deref());
    object.nonzero("count", event.count.map(i64::from));
    object.nonempty("type", event.r#type.as_deref());
    object.time("eventTime", event_time.as_deref());
    if let Some(series) = &event.series {
        let mut series_json = object.object("series");
        series_json.nonzero("count", series.count.map(i64::from));
        series_json.time("lastObservedTime", series_last_observed_time.as_deref());
        // Removed after 1.17 (`json:"state,omitempty"`); old values carry it.
        series_json.nonempty("state", series.state.as_deref());
    }
    object.nonempty("action", event.action.as_deref());
    if let Some(related) = &event.related {
        object_reference(object.object("related"), related);
    }
    object.required("reportingComponent", event.reporting_component.as_deref());
    object.required("reportingInstance", event.reporting_instance.as_deref());
    drop(object); // writes the closing brace

    // The JSON is written: the strings move into the columns.
    let mut fields = EventFields {
        reason: nonempty(event.reason),
        message: nonempty(event.message),
        type_: nonempty(event.r#type),
        count: nonzero(event.count),
        first_timestamp,
        last_timestamp,
        event_time,
        series_count: event
            .series
            .as_ref()
            .map(|series| i64::from(series.count.unwrap_or(0))),
        series_last_observed_time,
        action: nonempty(event.action),
        reporting_component: nonempty(event.reporting_component),
        reporting_instance: nonempty(event.reporting_instance),
        ..EventFields::default()
    };
    meta_columns(meta, creation_timestamp, &mut fields);
    involved_columns(involved, &mut fields);
    source_columns(source, &mut fields);
    if let Some(related) = event.related {
        related_columns(related, &mut fields);
    }
    (fields, json)
}

/// An events.k8s.io/v1 or v1beta1 Event: its columns and its JSON text.
pub(crate) fn events_event(
    event: events::Event,
    schema: EventSchema,
    type_meta: &TypeMeta<'_>,
    resource_version: Option<i64>,
    remarks: &mut Remarks,
) -> (EventFields, String) {
    let meta = event.metadata.unwrap_or_default();
    let regarding = event.regarding.unwrap_or_default();
    let source = event.deprecated_source.unwrap_or_default();
    // Each timestamp is formatted once, for the JSON and for its column.
    let first_timestamp = event
        .deprecated_first_timestamp
        .as_ref()
        .and_then(time_text);
    let last_timestamp = event.deprecated_last_timestamp.as_ref().and_then(time_text);
    let event_time = micro(event.event_time.as_ref());
    let series_last_observed_time = event
        .series
        .as_ref()
        .and_then(|series| micro(series.last_observed_time.as_ref()));

    // Go field order of events.k8s.io Event.
    let mut json = String::with_capacity(JSON_CAPACITY);
    let mut object = start_event(&mut json, type_meta);
    let creation_timestamp =
        object_meta(object.object("metadata"), &meta, resource_version, remarks);
    object.time("eventTime", event_time.as_deref());
    if let Some(series) = &event.series {
        let mut series_json = object.object("series");
        // No omitempty on either field.
        series_json.int("count", i64::from(series.count.unwrap_or(0)));
        series_json.time("lastObservedTime", series_last_observed_time.as_deref());
        if let Some(state) = &series.state {
            if schema == EventSchema::EventsV1beta1 {
                // v1beta1 had `json:"state"` (no omitempty) until it was
                // removed; v1 never had the field.
                series_json.string("state", state);
            } else {
                remarks.push("events.k8s.io/v1 EventSeries carries a state (field 3), which v1 does not have; not shown");
            }
        }
    }
    object.nonempty("reportingController", event.reporting_controller.as_deref());
    object.nonempty("reportingInstance", event.reporting_instance.as_deref());
    object.nonempty("action", event.action.as_deref());
    object.nonempty("reason", event.reason.as_deref());
    object_reference(object.object("regarding"), &regarding);
    if let Some(related) = &event.related {
        object_reference(object.object("related"), related);
    }
    object.nonempty("note", event.note.as_deref());
    object.nonempty("type", event.r#type.as_deref());
    event_source(object.object("deprecatedSource"), &source);
    // Struct-typed `Time`s: always printed.
    object.time("deprecatedFirstTimestamp", first_timestamp.as_deref());
    object.time("deprecatedLastTimestamp", last_timestamp.as_deref());
    object.nonzero("deprecatedCount", event.deprecated_count.map(i64::from));
    drop(object); // writes the closing brace

    // The JSON is written: the strings move into the columns.
    let mut fields = EventFields {
        reason: nonempty(event.reason),
        message: nonempty(event.note),
        type_: nonempty(event.r#type),
        count: nonzero(event.deprecated_count),
        first_timestamp,
        last_timestamp,
        event_time,
        series_count: event
            .series
            .as_ref()
            .map(|series| i64::from(series.count.unwrap_or(0))),
        series_last_observed_time,
        action: nonempty(event.action),
        reporting_component: nonempty(event.reporting_controller),
        reporting_instance: nonempty(event.reporting_instance),
        ..EventFields::default()
    };
    meta_columns(meta, creation_timestamp, &mut fields);
    involved_columns(regarding, &mut fields);
    source_columns(source, &mut fields);
    if let Some(related) = event.related {
        related_columns(related, &mut fields);
    }
    (fields, json)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::decode::json_value;
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
        // Compared as text: key order included.
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
            .to_string()
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
            .to_string()
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
        assert_eq!(json_value(&object)["series"].get("state"), None);
        assert!(remarks.into_note().is_some());
        let (_, object) = events_event(
            event,
            EventSchema::EventsV1beta1,
            &CORE,
            None,
            &mut Remarks::default(),
        );
        assert_eq!(json_value(&object)["series"]["state"], json!("Ongoing"));
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
        let object = json_value(&object);
        assert_eq!(object.get("count"), None);
        assert_eq!(object["lastTimestamp"], json!("2023-11-14T22:13:20Z"));
    }
}
