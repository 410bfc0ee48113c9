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
}
