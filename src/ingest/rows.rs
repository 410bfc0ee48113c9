//! Building the store's rows from one decoded `key`-bucket entry: an Event
//! revision, a tombstone, another object's metadata, or the damage that
//! made it unreadable (runs on the decoder's rayon threads).

use super::history::Fates;
use crate::decode::{decode_event, decode_object_meta, MetaError};
use crate::proto::etcd::KeyValue;
use crate::source::mvcc::{self, Revision};
use crate::source::registry::key_resource;
use crate::store::{DamageRow, DeletionRow, EventRow, Fate, ObjectRow, RecoveredFrom, WalOrigin};

/// What the decoder thread needs to know.
#[derive(Clone, Copy)]
pub(super) struct Decoding<'a> {
    pub prefix: &'a [u8],
    pub root: &'a [u8],
    pub fates: Option<Fates<'a>>,
}

impl Decoding<'_> {
    /// A put's fate, when a first pass knows it (see [`LoadPlan`]).
    pub fn fate(&self, kv: &KeyValue, rev: Revision, from: RecoveredFrom) -> Fate {
        self.fates.map_or_else(Fate::default, |f| {
            f.fate(&kv.key, (kv.mod_revision, rev.sub), from)
        })
    }
}

pub(super) enum Decoded {
    Event(Box<EventRow>),
    Deletion(DeletionRow),
    Object(Box<ObjectRow>),
    ObjectDeletion(DeletionRow),
    Damage(DamageRow),
    NotUnderPrefix,
}

/// Decodes one `key`-bucket entry under the registry root (runs on rayon
/// threads).
pub(super) fn decode_entry(
    decoding: &Decoding<'_>,
    rev: Revision,
    value: Vec<u8>,
    from: RecoveredFrom,
    wal: Option<WalOrigin>,
) -> Decoded {
    let Decoding { prefix, root, .. } = *decoding;
    let damage = |key: Option<String>, reason: String| {
        Decoded::Damage(DamageRow {
            revision: Some(rev.main),
            sub_revision: Some(rev.sub),
            key,
            reason,
            ..DamageRow::default()
        })
    };
    let kv = match mvcc::decode_key_value(&rev, &value) {
        Ok(kv) => kv,
        Err(e) => return damage(None, e.to_string()),
    };
    if !kv.key.starts_with(prefix) {
        if !kv.key.starts_with(root) {
            return Decoded::NotUnderPrefix;
        }
        return decode_object(decoding, rev, kv, from, wal);
    }
    let key = String::from_utf8_lossy(&kv.key).into_owned();
    if rev.tombstone {
        return Decoded::Deletion(DeletionRow {
            key,
            revision: rev.main,
            sub_revision: rev.sub,
            recovered_from: from,
            wal,
        });
    }
    let mut decoded = decode_event(&kv.value, Some(kv.mod_revision));
    // The JSON text, already written by the decoder on this decode thread,
    // moves into the row's `object_json`.
    let object_json = decoded.object.take();
    let fate = decoding.fate(&kv, rev, from);
    let occurred_at = decoded.fields.occurred_at();
    Decoded::Event(Box::new(EventRow {
        key,
        mod_revision: kv.mod_revision,
        sub_revision: rev.sub,
        create_revision: kv.create_revision,
        version: kv.version,
        lease: kv.lease,
        recovered_from: from,
        decoded,
        object_json,
        raw: kv.value,
        fate,
        occurred_at,
        wal,
    }))
}

/// An object that is not an Event: its metadata only (a Secret's data is
/// never kept).
fn decode_object(
    decoding: &Decoding<'_>,
    rev: Revision,
    kv: KeyValue,
    from: RecoveredFrom,
    wal: Option<WalOrigin>,
) -> Decoded {
    let key = String::from_utf8_lossy(&kv.key).into_owned();
    if rev.tombstone {
        return Decoded::ObjectDeletion(DeletionRow {
            key,
            revision: rev.main,
            sub_revision: rev.sub,
            recovered_from: from,
            wal,
        });
    }
    let root = String::from_utf8_lossy(decoding.root);
    let mut row = ObjectRow {
        resource: key_resource(&key, &root),
        key,
        mod_revision: kv.mod_revision,
        sub_revision: rev.sub,
        create_revision: kv.create_revision,
        version: kv.version,
        lease: kv.lease,
        recovered_from: from,
        fate: decoding.fate(&kv, rev, from),
        ..ObjectRow::default()
    };
    match decode_object_meta(&kv.value) {
        Ok(m) => {
            row.encoding = m.encoding.as_str();
            row.api_version = m.api_version;
            row.kind = m.kind;
            row.namespace = m.namespace;
            row.name = m.name;
            row.uid = m.uid;
            row.creation_timestamp = m.creation_timestamp;
            row.deletion_timestamp = m.deletion_timestamp;
            if !m.labels.is_empty() {
                row.labels = serde_json::to_string(&m.labels).ok();
            }
            if !m.owner_references.is_empty() {
                let owners: Vec<serde_json::Value> = m
                    .owner_references
                    .iter()
                    .map(|o| {
                        serde_json::json!({
                            "apiVersion": o.api_version,
                            "kind": o.kind,
                            "name": o.name,
                            "uid": o.uid,
                            "controller": o.controller,
                        })
                    })
                    .collect();
                row.owner_references = serde_json::to_string(&owners).ok();
            }
        }
        Err(MetaError::Encrypted(provider)) => {
            row.encoding = "encrypted";
            row.decode_note = Some(provider);
        }
        Err(e) => {
            row.encoding = "unknown";
            row.decode_note = Some(e.to_string());
        }
    }
    Decoded::Object(Box::new(row))
}
