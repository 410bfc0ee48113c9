//! Events the way Kubernetes components write them: the core/v1 recorder
//! (client-go `tools/record`) and events.k8s.io/v1 writes as the apiserver
//! stores them, their repeats, their names, keys and stored bytes.

use evforensics::proto::{core::v1 as core, meta::v1 as meta};

use super::objects::{
    managed_fields, micro_time, object_meta, time, zero_micro_time, zero_time, ObjRef,
};
use super::rng::Rng;

/// The name client-go gives an Event: `<object>.<hex of UnixNano>`.
pub fn event_name(object: &str, secs: i64, nanos: u32) -> String {
    format!(
        "{}.{:x}",
        object,
        secs as i128 * 1_000_000_000 + nanos as i128
    )
}

/// A core/v1 Event as written by a component using the core/v1 events
/// API (client-go `tools/record`: kubelet, controllers, node-problem-
/// detector): first = last timestamp, count 1, `eventTime` an empty
/// MicroTime, action/reporting* empty strings, series/related absent.
#[allow(clippy::too_many_arguments)]
pub fn legacy_event(
    rng: &mut Rng,
    regarding: &ObjRef,
    type_: &str,
    reason: &str,
    message: &str,
    component: &str,
    host: &str,
    at: i64,
) -> core::Event {
    let nanos = rng.below(1_000_000_000) as u32;
    let source_fields = if host.is_empty() {
        r#""f:source":{"f:component":{}}"#.to_string()
    } else {
        r#""f:source":{"f:component":{},"f:host":{}}"#.to_string()
    };
    let fields = format!(
        r#"{{"f:count":{{}},"f:firstTimestamp":{{}},"f:involvedObject":{{}},"f:lastTimestamp":{{}},"f:message":{{}},"f:reason":{{}},"f:reportingComponent":{{}},{source_fields},"f:type":{{}}}}"#
    );
    let mut m = object_meta(
        event_name(&regarding.name, at, nanos),
        regarding.event_namespace(),
        rng.uuid(),
        at,
    );
    m.managed_fields
        .push(managed_fields(component, "v1", at, &fields));
    core::Event {
        metadata: Some(m),
        involved_object: Some(regarding.to_proto()),
        reason: Some(reason.into()),
        message: Some(message.into()),
        source: Some(core::EventSource {
            component: Some(component.into()),
            host: Some(host.into()),
        }),
        first_timestamp: Some(time(at)),
        last_timestamp: Some(time(at)),
        count: Some(1),
        r#type: Some(type_.into()),
        event_time: Some(zero_micro_time()),
        series: None,
        action: Some(String::new()),
        related: None,
        reporting_component: Some(String::new()),
        reporting_instance: Some(String::new()),
    }
}

/// A core/v1 Event as the apiserver stores an events.k8s.io/v1 write
/// (kube-scheduler, newer controllers): `eventTime` set (µs), action and
/// reportingController/Instance set, deprecated source/timestamps/count
/// empty, `series` absent until the event repeats.
#[allow(clippy::too_many_arguments)]
pub fn events_v1_event(
    rng: &mut Rng,
    regarding: &ObjRef,
    type_: &str,
    reason: &str,
    action: &str,
    note: &str,
    controller: &str,
    instance: &str,
    at: i64,
) -> core::Event {
    let micros = rng.below(1_000_000) as u32;
    let nanos = micros * 1000 + rng.below(1000) as u32;
    let fields = r#"{"f:action":{},"f:eventTime":{},"f:note":{},"f:reason":{},"f:regarding":{},"f:reportingController":{},"f:reportingInstance":{},"f:type":{}}"#;
    let manager = controller.strip_prefix("default-").unwrap_or(controller);
    let manager = if manager == "scheduler" {
        "kube-scheduler"
    } else {
        manager
    };
    let mut m = object_meta(
        event_name(&regarding.name, at, nanos),
        regarding.event_namespace(),
        rng.uuid(),
        at,
    );
    m.managed_fields
        .push(managed_fields(manager, "events.k8s.io/v1", at, fields));
    core::Event {
        metadata: Some(m),
        involved_object: Some(regarding.to_proto()),
        reason: Some(reason.into()),
        message: Some(note.into()),
        source: Some(core::EventSource {
            component: Some(String::new()),
            host: Some(String::new()),
        }),
        first_timestamp: Some(zero_time()),
        last_timestamp: Some(zero_time()),
        count: Some(0),
        r#type: Some(type_.into()),
        event_time: Some(micro_time(at, micros)),
        series: None,
        action: Some(action.into()),
        related: None,
        reporting_component: Some(controller.into()),
        reporting_instance: Some(instance.into()),
    }
}

/// The legacy recorder's repeat: count + 1, lastTimestamp moves.
pub fn bump_count(ev: &mut core::Event, at: i64) {
    ev.count = Some(ev.count.unwrap_or(0) + 1);
    ev.last_timestamp = Some(time(at));
    if let Some(mf) = ev
        .metadata
        .as_mut()
        .and_then(|m| m.managed_fields.first_mut())
    {
        mf.time = Some(time(at));
    }
}

/// The events.k8s.io recorder's repeat: series {count, lastObservedTime}.
pub fn bump_series(ev: &mut core::Event, at: i64, micros: u32) {
    let count = ev.series.as_ref().and_then(|s| s.count).unwrap_or(1) + 1;
    ev.series = Some(core::EventSeries {
        count: Some(count),
        last_observed_time: Some(micro_time(at, micros)),
        state: None,
    });
    if let Some(mf) = ev
        .metadata
        .as_mut()
        .and_then(|m| m.managed_fields.first_mut())
    {
        mf.time = Some(time(at));
        mf.fields_v1 = Some(meta::FieldsV1 {
            raw: Some(
                r#"{"f:action":{},"f:eventTime":{},"f:note":{},"f:reason":{},"f:regarding":{},"f:reportingController":{},"f:reportingInstance":{},"f:series":{".":{},"f:count":{},"f:lastObservedTime":{}},"f:type":{}}"#
                    .as_bytes()
                    .to_vec(),
            ),
        });
    }
}

/// `/registry/events/<namespace>/<name>`.
pub fn event_key(ev: &core::Event) -> String {
    let m = ev.metadata.as_ref().expect("event metadata");
    format!(
        "/registry/events/{}/{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default()
    )
}

/// The bytes kube-apiserver stores for a core/v1 Event (protobuf).
pub fn stored_event_value(ev: &core::Event) -> Vec<u8> {
    evforensics::decode::encode_stored_event(ev)
}
