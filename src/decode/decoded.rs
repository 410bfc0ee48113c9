//! What decoding a stored Event gives: how it was encoded, the flattened
//! columns ([`EventFields`]) and the Event's JSON text.

/// How a stored value was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `k8s\0` + `runtime.Unknown`.
    Protobuf,
    /// A JSON object.
    Json,
    /// `k8s:enc:…`, encrypted at rest.
    Encrypted,
    /// Anything that could not be decoded as an Event (see `note`).
    Unknown,
}

impl Encoding {
    /// Name stored in the database: `protobuf`, `json`, `encrypted`, `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Encoding::Protobuf => "protobuf",
            Encoding::Json => "json",
            Encoding::Encrypted => "encrypted",
            Encoding::Unknown => "unknown",
        }
    }
}

/// One stored Event value, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    pub encoding: Encoding,
    /// From the protobuf envelope's TypeMeta or the JSON object (also set
    /// for values that turned out not to be Events).
    pub api_version: Option<String>,
    pub kind: Option<String>,
    /// Flattened columns; all `None` unless the Event was decoded.
    pub fields: EventFields,
    /// The Event as `kubectl get event -o json` prints it, as compact JSON
    /// text (key order as Kubernetes prints it); `None` for encrypted and
    /// unknown values.
    pub object: Option<String>,
    /// The protobuf carried field numbers this decoder does not know (the
    /// caller keeps the raw value).
    pub unknown_fields: bool,
    /// [`Encoding::Unknown`]: why it could not be decoded.
    /// [`Encoding::Encrypted`]: the provider, e.g. `aescbc:v1:key1`.
    /// Decoded values: remarks about the decode (replaced invalid UTF-8,
    /// unknown fields, …), usually `None`.
    pub note: Option<String>,
}

impl DecodedEvent {
    /// A value that yields no Event.
    pub(crate) fn undecoded(
        encoding: Encoding,
        api_version: Option<String>,
        kind: Option<String>,
        note: String,
    ) -> Self {
        DecodedEvent {
            encoding,
            api_version,
            kind,
            fields: EventFields::default(),
            object: None,
            unknown_fields: false,
            note: Some(note),
        }
    }
}

/// The Event columns. An empty string, a zero count and a zero (`null`)
/// timestamp are `None`; timestamps are RFC 3339 UTC text as Kubernetes
/// prints them (`Z`; MicroTimes with six fractional digits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFields {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub uid: Option<String>,
    pub creation_timestamp: Option<String>,
    pub reason: Option<String>,
    /// core `message`; events.k8s.io `note`.
    pub message: Option<String>,
    pub type_: Option<String>,
    /// core `count`; events.k8s.io `deprecatedCount`.
    pub count: Option<i64>,
    /// core `firstTimestamp`; events.k8s.io `deprecatedFirstTimestamp`.
    pub first_timestamp: Option<String>,
    /// core `lastTimestamp`; events.k8s.io `deprecatedLastTimestamp`.
    pub last_timestamp: Option<String>,
    pub event_time: Option<String>,
    /// Set (possibly to 0) whenever the Event has a series.
    pub series_count: Option<i64>,
    pub series_last_observed_time: Option<String>,
    pub action: Option<String>,
    /// core `reportingComponent`; events.k8s.io `reportingController`.
    pub reporting_component: Option<String>,
    pub reporting_instance: Option<String>,
    /// core `source`; events.k8s.io `deprecatedSource`.
    pub source_component: Option<String>,
    pub source_host: Option<String>,
    /// core `involvedObject`; events.k8s.io `regarding`.
    pub involved_kind: Option<String>,
    pub involved_namespace: Option<String>,
    pub involved_name: Option<String>,
    pub involved_uid: Option<String>,
    pub involved_api_version: Option<String>,
    pub involved_resource_version: Option<String>,
    pub involved_field_path: Option<String>,
    pub related_kind: Option<String>,
    pub related_namespace: Option<String>,
    pub related_name: Option<String>,
    pub related_uid: Option<String>,
}

impl EventFields {
    /// When the Event happened, as precisely as the revision says: the
    /// latest of the times it carries, normalized to six fractional digits
    /// so that values of mixed precision sort correctly as text.
    pub fn occurred_at(&self) -> Option<String> {
        [
            &self.series_last_observed_time,
            &self.last_timestamp,
            &self.event_time,
            &self.first_timestamp,
        ]
        .into_iter()
        .flatten()
        .max_by(|a, b| micro_text_bytes(a).cmp(micro_text_bytes(b)))
        .map(|t| to_micro_text(t))
    }
}

/// `2026-11-20T09:30:00Z` → `2026-11-20T09:30:00.000000Z`; values that already
/// carry fractional digits are kept.
fn to_micro_text(t: &str) -> String {
    match t.strip_suffix('Z') {
        Some(body) if !body.contains('.') => format!("{body}.000000Z"),
        _ => t.to_string(),
    }
}

/// The bytes of [`to_micro_text`]'s result, without building it (to pick
/// the latest of several times with one allocation).
fn micro_text_bytes(t: &str) -> impl Iterator<Item = u8> + '_ {
    let (body, tail): (&str, &[u8]) = match t.strip_suffix('Z') {
        Some(body) if !body.contains('.') => (body, b".000000Z"),
        _ => (t, b""),
    };
    body.bytes().chain(tail.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_text_normalizes_seconds_precision() {
        assert_eq!(
            to_micro_text("2026-11-20T09:30:00Z"),
            "2026-11-20T09:30:00.000000Z"
        );
        assert_eq!(
            to_micro_text("2026-11-20T09:30:00.123456Z"),
            "2026-11-20T09:30:00.123456Z"
        );
        assert!(
            to_micro_text("2026-11-20T09:30:00Z") > to_micro_text("2026-11-20T09:29:59.999999Z")
        );
        for (a, b) in [
            ("2026-11-20T09:30:00Z", "2026-11-20T09:29:59.999999Z"),
            ("2026-11-20T09:30:00Z", "2026-11-20T09:30:00.000001Z"),
            ("2026-11-20T09:30:00Z", "2026-11-20T09:30:00.000000Z"),
        ] {
            assert_eq!(
                micro_text_bytes(a).cmp(micro_text_bytes(b)),
                to_micro_text(a).cmp(&to_micro_text(b)),
                "{a} {b}"
            );
        }
    }

    #[test]
    fn occurred_at_is_the_latest_time_at_micro_precision() {
        let fields = EventFields {
            first_timestamp: Some("2026-11-20T09:00:00Z".into()),
            last_timestamp: Some("2026-11-20T09:30:00Z".into()),
            event_time: Some("2026-11-20T09:29:59.999999Z".into()),
            ..EventFields::default()
        };
        assert_eq!(
            fields.occurred_at().as_deref(),
            Some("2026-11-20T09:30:00.000000Z")
        );
        assert_eq!(EventFields::default().occurred_at(), None);
    }
}
