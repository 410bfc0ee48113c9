//! The kind part of `--object` as kubectl users type it: a short name
//! (`deploy`, `po`, `rs`), a singular or plural, or `resource.group`
//! (`deployments.apps`, `deployment.apps`, `deployments.v1.apps`). The
//! result goes into the store's `ObjectSpec`, which resolves singulars,
//! plurals and case against the database.

/// kubectl's short names for the built-in resources (`kubectl
/// api-resources`, SHORTNAMES column), with the kind each stands for.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("cm", "ConfigMap"),
    ("cj", "CronJob"),
    ("crd", "CustomResourceDefinition"),
    ("crds", "CustomResourceDefinition"),
    ("csr", "CertificateSigningRequest"),
    ("deploy", "Deployment"),
    ("ds", "DaemonSet"),
    ("ep", "Endpoints"),
    ("ev", "Event"),
    ("hpa", "HorizontalPodAutoscaler"),
    ("ing", "Ingress"),
    ("limits", "LimitRange"),
    ("netpol", "NetworkPolicy"),
    ("no", "Node"),
    ("ns", "Namespace"),
    ("pc", "PriorityClass"),
    ("pdb", "PodDisruptionBudget"),
    ("po", "Pod"),
    ("pv", "PersistentVolume"),
    ("pvc", "PersistentVolumeClaim"),
    ("quota", "ResourceQuota"),
    ("rc", "ReplicationController"),
    ("rs", "ReplicaSet"),
    ("sa", "ServiceAccount"),
    ("sc", "StorageClass"),
    ("sts", "StatefulSet"),
    ("svc", "Service"),
];

/// The kind to look up for what was typed: the group (and version) after
/// the first `.` dropped, a short name replaced by its kind; anything else
/// as typed (the store resolves `deployments`, `Deployment`, `pod`).
pub fn kind_for(typed: &str) -> String {
    let resource = typed.split('.').next().unwrap_or(typed);
    let lower = resource.to_ascii_lowercase();
    SHORT_NAMES
        .iter()
        .find(|(short, _)| *short == lower)
        .map_or_else(|| resource.to_owned(), |(_, kind)| (*kind).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_forms() {
        for (typed, kind) in [
            ("deploy", "Deployment"),
            ("DEPLOY", "Deployment"),
            ("po", "Pod"),
            ("rs", "ReplicaSet"),
            ("svc", "Service"),
            ("deployments.apps", "deployments"),
            ("deployment.apps", "deployment"),
            ("deployments.v1.apps", "deployments"),
            ("rs.apps", "ReplicaSet"),
            ("pods", "pods"),
            ("Deployment", "Deployment"),
            ("widgets.example.com", "widgets"),
        ] {
            assert_eq!(kind_for(typed), kind, "{typed}");
        }
    }
}
