//! Where Kubernetes keeps objects in etcd: the Event prefix, its registry
//! root, and the resource a key names. One place, so that `info`, the
//! `objects` table name resources alike.

/// The default etcd prefix of Kubernetes Events.
pub const DEFAULT_PREFIX: &str = "/registry/events/";

/// The registry root of an Event prefix: its first path segment
/// (`/registry/events/` → `/registry/`, `/kubernetes.io/events/` →
/// `/kubernetes.io/`). Every key under it is a Kubernetes object.
pub fn registry_root(prefix: &str) -> &str {
    match prefix.strip_prefix('/').and_then(|rest| rest.find('/')) {
        Some(i) => &prefix[..i + 2],
        None => prefix,
    }
}

/// The resource a registry key names: `/registry/pods/shop/web` → `pods`,
/// `/registry/deployments/shop/web` → `deployments`, a custom resource
/// `/registry/example.com/widgets/shop/w` → `widgets`. A few built-in
/// resources are stored under other names (`services/specs`, `minions`,
/// `controllers`).
pub fn key_resource(key: &str, root: &str) -> Option<String> {
    let rest = key.strip_prefix(root)?;
    let mut parts = rest.split('/');
    let first = parts.next().filter(|p| !p.is_empty())?;
    let resource = match first {
        "services" => match parts.next() {
            Some("endpoints") => "endpoints",
            _ => "services",
        },
        "minions" => "nodes",
        "controllers" => "replicationcontrollers",
        "serviceips" | "servicenodeports" => "rangeallocations",
        group if group.contains('.') => parts.next().filter(|p| !p.is_empty())?,
        other => other,
    };
    Some(resource.to_string())
}

/// What part of a cluster's keys an etcd holds. kube-apiserver can keep
/// Events in an etcd of their own (`--etcd-servers-overrides=/events#…`,
/// the default in kops and many large clusters): that member holds the
/// Events, the main one everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdShare {
    /// Events and other objects, or neither.
    Whole,
    /// Objects but no Event under the prefix: the Events are elsewhere.
    ObjectsWithoutEvents,
    /// Events but no other object: the objects are elsewhere.
    EventsWithoutObjects,
}

impl EtcdShare {
    /// From what a source holds: its Event records (revisions and
    /// tombstones) and its other objects' records.
    pub fn of(event_records: u64, object_records: u64) -> EtcdShare {
        match (event_records > 0, object_records > 0) {
            (false, true) => EtcdShare::ObjectsWithoutEvents,
            (true, false) => EtcdShare::EventsWithoutObjects,
            _ => EtcdShare::Whole,
        }
    }

    /// What to tell the user, if anything.
    pub fn note(self, prefix: &str) -> Option<String> {
        match self {
            EtcdShare::Whole => None,
            EtcdShare::ObjectsWithoutEvents => Some(format!(
                "no Events under {prefix}, but other Kubernetes objects: the cluster may keep its Events in a separate etcd (kube-apiserver --etcd-servers-overrides=/events#…, the default in kops and many large clusters); load that etcd's snapshot into the same database, and the timeline follows owners across both"
            )),
            EtcdShare::EventsWithoutObjects => Some(format!(
                "Events under {prefix}, but no other Kubernetes objects: an etcd that holds only Events (kube-apiserver --etcd-servers-overrides=/events#…); load the main etcd's snapshot into the same database to follow Events to their objects' owners (timeline --object)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_root_and_resources() {
        assert_eq!(registry_root("/registry/events/"), "/registry/");
        assert_eq!(registry_root("/kubernetes.io/events/"), "/kubernetes.io/");
        let r = |k: &str| key_resource(k, "/registry/");
        assert_eq!(r("/registry/pods/shop/web-1").as_deref(), Some("pods"));
        assert_eq!(
            r("/registry/deployments/shop/web").as_deref(),
            Some("deployments")
        );
        assert_eq!(
            r("/registry/services/specs/shop/web").as_deref(),
            Some("services")
        );
        assert_eq!(
            r("/registry/services/endpoints/shop/web").as_deref(),
            Some("endpoints")
        );
        assert_eq!(r("/registry/minions/node-1").as_deref(), Some("nodes"));
        assert_eq!(
            r("/registry/example.com/widgets/shop/w").as_deref(),
            Some("widgets")
        );
        assert_eq!(r("/other/pods/x"), None);
    }

    #[test]
    fn an_etcd_with_half_of_a_cluster_says_where_the_rest_is() {
        assert_eq!(EtcdShare::of(10, 3), EtcdShare::Whole);
        assert_eq!(EtcdShare::of(0, 0), EtcdShare::Whole);
        assert_eq!(EtcdShare::Whole.note(DEFAULT_PREFIX), None);
        let objects_only = EtcdShare::of(0, 3);
        assert_eq!(objects_only, EtcdShare::ObjectsWithoutEvents);
        let note = objects_only.note(DEFAULT_PREFIX).unwrap();
        assert!(note.contains("--etcd-servers-overrides=/events#"), "{note}");
        assert!(note.contains("/registry/events/"), "{note}");
        assert_eq!(EtcdShare::of(4, 0), EtcdShare::EventsWithoutObjects);
    }
}
