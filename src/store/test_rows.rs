//! Rows and loads shared by the store's unit tests.

use crate::decode::{DecodedEvent, Encoding, EventFields};
use crate::store::{
    Batch, DeletionRow, EventRow, Fate, LoadPlan, LoadSummary, RecoveredFrom, SourceFacts,
    SourceRecord, Store,
};

/// An Event revision of `key` with `reason` (and a message from it), its
/// value unique to the key and revision.
pub(super) fn event(key: &str, rev: i64, sub: i64, reason: &str) -> EventRow {
    EventRow {
        key: key.to_string(),
        mod_revision: rev,
        sub_revision: sub,
        create_revision: rev,
        version: 1,
        lease: 0,
        recovered_from: RecoveredFrom::Tree,
        decoded: DecodedEvent {
            encoding: Encoding::Protobuf,
            api_version: Some("v1".into()),
            kind: Some("Event".into()),
            fields: EventFields {
                reason: Some(reason.into()),
                message: Some(format!("{reason} happened")),
                last_timestamp: Some("2026-11-20T09:30:00Z".into()),
                ..EventFields::default()
            },
            object: None,
            unknown_fields: false,
            note: None,
        },
        object_json: None,
        raw: format!("{key}@{rev}").into_bytes(),
        fate: Fate::default(),
        occurred_at: None,
        wal: None,
    }
}

/// A tombstone of `key`.
pub(super) fn deletion(key: &str, rev: i64, sub: i64) -> DeletionRow {
    DeletionRow {
        key: key.to_string(),
        revision: rev,
        sub_revision: sub,
        recovered_from: RecoveredFrom::Tree,
        wal: None,
    }
}

/// A snapshot source, its content named by `sha`.
pub(super) fn source(sha: &str) -> SourceRecord {
    SourceRecord {
        kind: "etcd-snapshot".into(),
        location: format!("/evidence/{sha}.db"),
        sha256: sha.into(),
        trailer: "verified".into(),
        prefix: "/registry/events/".into(),
        ..SourceRecord::default()
    }
}

/// Loads one source of Event revisions and tombstones with head revision
/// `head`, deriving everything in SQL.
pub(super) fn load(
    store: &mut Store,
    sha: &str,
    head: i64,
    events: Vec<EventRow>,
    dels: Vec<DeletionRow>,
) -> LoadSummary {
    let mut w = store
        .begin_source(&source(sha), LoadPlan::default())
        .unwrap();
    w.write(Batch::Events(events)).unwrap();
    w.write(Batch::Deletions(dels)).unwrap();
    w.finish(&SourceFacts {
        head_revision: Some(head),
        ..SourceFacts::default()
    })
    .unwrap()
}

/// Every Event row: key, revision, source, live, deleted revision.
pub(super) fn rows(store: &Store) -> Vec<(String, i64, i64, i64, Option<i64>)> {
    let conn = store.connection();
    let mut st = conn
        .prepare("SELECT key, mod_revision, source_id, live, deleted_revision FROM events ORDER BY mod_revision, sub_revision")
        .unwrap();
    st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}
