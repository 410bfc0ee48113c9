//! Kubernetes objects the way the apiserver stores them: metav1 times,
//! object references, ObjectMeta with managed fields, the `k8s\0`
//! runtime.Unknown envelope, and metadata-only values of other kinds (Pods,
//! Namespaces, Deployments, …).

use evforensics::proto::{core::v1 as core, meta::v1 as meta, runtime};
use prost::Message as _;

use super::rng::Rng;

/// metav1.Time as stored: seconds, nanos always 0 (Kubernetes never
/// serializes Time nanos in protobuf).
pub fn time(secs: i64) -> meta::Time {
    meta::Time {
        seconds: Some(secs),
        nanos: Some(0),
    }
}

/// A zero metav1.Time: an empty message, as Kubernetes writes it.
pub fn zero_time() -> meta::Time {
    meta::Time {
        seconds: None,
        nanos: None,
    }
}

/// metav1.MicroTime (microsecond precision).
pub fn micro_time(secs: i64, micros: u32) -> meta::MicroTime {
    meta::MicroTime {
        seconds: Some(secs),
        nanos: Some((micros % 1_000_000) as i32 * 1000),
    }
}

/// A zero metav1.MicroTime: an empty message.
pub fn zero_micro_time() -> meta::MicroTime {
    meta::MicroTime {
        seconds: None,
        nanos: None,
    }
}

/// An object an Event is about (core/v1 ObjectReference, all seven fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub api_version: String,
    pub resource_version: String,
    pub field_path: String,
}

impl ObjRef {
    pub fn new(kind: &str, api_version: &str, namespace: &str, name: &str, uid: &str) -> ObjRef {
        ObjRef {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
            api_version: api_version.into(),
            resource_version: String::new(),
            field_path: String::new(),
        }
    }

    pub fn rv(mut self, rv: impl ToString) -> ObjRef {
        self.resource_version = rv.to_string();
        self
    }

    pub fn field(&self, field_path: &str) -> ObjRef {
        let mut r = self.clone();
        r.field_path = field_path.into();
        r
    }

    pub fn to_proto(&self) -> core::ObjectReference {
        core::ObjectReference {
            kind: Some(self.kind.clone()),
            namespace: Some(self.namespace.clone()),
            name: Some(self.name.clone()),
            uid: Some(self.uid.clone()),
            api_version: Some(self.api_version.clone()),
            resource_version: Some(self.resource_version.clone()),
            field_path: Some(self.field_path.clone()),
        }
    }

    /// The namespace an Event about this object lives in (cluster-scoped
    /// objects' Events go to `default`).
    pub fn event_namespace(&self) -> String {
        if self.namespace.is_empty() {
            "default".into()
        } else {
            self.namespace.clone()
        }
    }
}

pub(super) fn managed_fields(
    manager: &str,
    api_version: &str,
    at: i64,
    fields: &str,
) -> meta::ManagedFieldsEntry {
    meta::ManagedFieldsEntry {
        manager: Some(manager.into()),
        operation: Some("Update".into()),
        api_version: Some(api_version.into()),
        time: Some(time(at)),
        fields: None,
        fields_type: Some("FieldsV1".into()),
        fields_v1: Some(meta::FieldsV1 {
            raw: Some(fields.as_bytes().to_vec()),
        }),
        subresource: Some(String::new()),
    }
}

pub(super) fn object_meta(
    name: String,
    namespace: String,
    uid: String,
    created: i64,
) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: Some(name),
        generate_name: Some(String::new()),
        namespace: Some(namespace),
        self_link: Some(String::new()),
        uid: Some(uid),
        // The apiserver clears resourceVersion before writing to etcd.
        resource_version: Some(String::new()),
        generation: Some(0),
        creation_timestamp: Some(time(created)),
        ..Default::default()
    }
}

/// `k8s\0` + runtime.Unknown{typeMeta{apiVersion, kind}, raw, "", ""}.
pub fn k8s_envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let u = runtime::Unknown {
        type_meta: Some(runtime::TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut v = b"k8s\0".to_vec();
    u.encode(&mut v).expect("encoding runtime.Unknown");
    v
}

/// A Pod or Namespace as stored, reduced to its metadata (field 1 of both
/// messages): enough to be a real protobuf object of another kind.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetadataOnly {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<meta::ObjectMeta>,
}

pub fn stored_object_value(kind: &str, m: meta::ObjectMeta) -> Vec<u8> {
    k8s_envelope(
        "v1",
        kind,
        MetadataOnly { metadata: Some(m) }.encode_to_vec(),
    )
}

/// An object of any kind as stored (`k8s\0` envelope with `apiVersion`
/// and `kind`), reduced to its metadata.
pub fn stored_object_value_of(api_version: &str, kind: &str, m: meta::ObjectMeta) -> Vec<u8> {
    k8s_envelope(
        api_version,
        kind,
        MetadataOnly { metadata: Some(m) }.encode_to_vec(),
    )
}

/// ObjectMeta as the apiserver stores it, with labels and owners.
pub fn owned_object_meta(
    r: &ObjRef,
    created: i64,
    labels: &[(&str, &str)],
    owners: &[&ObjRef],
) -> meta::ObjectMeta {
    let mut m = object_meta(r.name.clone(), r.namespace.clone(), r.uid.clone(), created);
    for (k, v) in labels {
        m.labels.insert(k.to_string(), v.to_string());
    }
    m.owner_references = owners
        .iter()
        .map(|o| meta::OwnerReference {
            api_version: Some(o.api_version.clone()),
            kind: Some(o.kind.clone()),
            name: Some(o.name.clone()),
            uid: Some(o.uid.clone()),
            controller: Some(true),
            block_owner_deletion: Some(true),
        })
        .collect();
    m
}

pub(super) fn namespace_value(rng: &mut Rng, name: &str, created: i64) -> Vec<u8> {
    let mut m = object_meta(name.into(), String::new(), rng.uuid(), created);
    m.labels
        .insert("kubernetes.io/metadata.name".into(), name.into());
    stored_object_value("Namespace", m)
}

pub(super) fn pod_value(pod: &ObjRef, created: i64, app: &str) -> Vec<u8> {
    let mut m = object_meta(
        pod.name.clone(),
        pod.namespace.clone(),
        pod.uid.clone(),
        created,
    );
    m.labels.insert("app".into(), app.into());
    stored_object_value("Pod", m)
}
