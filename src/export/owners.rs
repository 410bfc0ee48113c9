//! Who owns what: every object the snapshots hold with its owner (its
//! controller reference, else its first owner reference), read once from
//! `objects`, so that an Event's object can be followed up to the object
//! at the top of its chain (a Pod → its ReplicaSet → its Deployment).
//! Memory grows with the objects, not with the Events.

use std::collections::HashMap;

use serde::Deserialize;

use crate::store::timeline::{Timeline, TimelineError};

/// An object as a line names it: by uid when known, else by kind,
/// namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKey {
    Uid(String),
    Named {
        kind: String,
        namespace: Option<String>,
        name: String,
    },
}

/// What is known of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    owner: Option<OwnerRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct OwnerRef {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    controller: Option<bool>,
}

/// The owner chain of a case's objects.
#[derive(Debug, Default)]
pub struct Owners {
    by_uid: HashMap<String, ObjectInfo>,
    /// (kind, namespace, name) → uid, for lines that name no uid.
    by_name: HashMap<(String, Option<String>, String), String>,
}

/// Ownership is followed at most this far (a cycle in damaged metadata
/// ends there).
const MAX_DEPTH: usize = 16;

impl Owners {
    /// Reads every object's owners from the store.
    pub fn load(timeline: &Timeline<'_>) -> Result<Owners, TimelineError> {
        let mut owners = Owners::default();
        timeline.for_each_object_owners(|o| {
            let owner = o
                .owner_references
                .as_deref()
                .and_then(|j| serde_json::from_str::<Vec<OwnerRef>>(j).ok())
                .and_then(|refs| {
                    let controller = refs.iter().position(|r| r.controller == Some(true));
                    refs.into_iter().nth(controller.unwrap_or(0))
                });
            if let (Some(kind), Some(name)) = (&o.kind, &o.name) {
                owners.by_name.insert(
                    (kind.clone(), o.namespace.clone(), name.clone()),
                    o.uid.clone(),
                );
            }
            owners.by_uid.insert(
                o.uid,
                ObjectInfo {
                    kind: o.kind,
                    namespace: o.namespace,
                    name: o.name,
                    owner,
                },
            );
            Ok::<_, TimelineError>(())
        })?;
        Ok(owners)
    }

    /// The key of an object a line names.
    pub fn identify(
        &self,
        kind: Option<&str>,
        namespace: Option<&str>,
        name: Option<&str>,
        uid: Option<&str>,
    ) -> Option<ObjectKey> {
        if let Some(uid) = uid.filter(|u| !u.is_empty()) {
            return Some(ObjectKey::Uid(uid.to_owned()));
        }
        let (kind, name) = (kind?, name?);
        let named = (
            kind.to_owned(),
            namespace.map(str::to_owned),
            name.to_owned(),
        );
        if let Some(uid) = self.by_name.get(&named) {
            return Some(ObjectKey::Uid(uid.clone()));
        }
        Some(ObjectKey::Named {
            kind: named.0,
            namespace: named.1,
            name: named.2,
        })
    }

    pub fn info(&self, key: &ObjectKey) -> Option<&ObjectInfo> {
        match key {
            ObjectKey::Uid(u) => self.by_uid.get(u),
            ObjectKey::Named { .. } => None,
        }
    }

    /// The object's owner, when the objects say.
    pub fn owner(&self, key: &ObjectKey) -> Option<ObjectKey> {
        let info = self.info(key)?;
        let owner = info.owner.as_ref()?;
        self.identify(
            owner.kind.as_deref(),
            info.namespace.as_deref(),
            owner.name.as_deref(),
            owner.uid.as_deref(),
        )
    }

    /// The chain from the object up: itself, its owner, its owner's owner, …
    pub fn chain(&self, key: ObjectKey) -> Vec<ObjectKey> {
        let mut chain = vec![key];
        while chain.len() < MAX_DEPTH {
            let Some(owner) = self.owner(chain.last().expect("not empty")) else {
                break;
            };
            if chain.contains(&owner) {
                break;
            }
            chain.push(owner);
        }
        chain
    }
}
