//! The SQLite schema: evforensics' public API.
//!
//! Every table and column is documented in `docs/schema.md`; users' saved
//! queries rely on the names. The DDL of each version step is a `.sql` file
//! in `schema/`, run as written; a new database runs them all in turn (see
//! `store::migrate`), so that it and a migrated one have the same schema.
//! A schema change is a new step: bump [`SCHEMA_VERSION`] (stored in
//! `PRAGMA user_version`), add its file here and its rung to the ladder.
//! The files of released versions are history: they never change.

/// Stored in `PRAGMA user_version`. 0 means "empty database, not ours yet".
pub const SCHEMA_VERSION: i64 = 6;

/// Tables, indexes and views of schema version 1 (public for migration
/// tests, which build a version-1 database as evforensics 0.1 wrote it).
#[doc(hidden)]
pub const SCHEMA_V1: &str = include_str!("schema/v1.sql");

/// The query indexes of `events` in versions 1–3, on the `events` table
/// (public for migration tests, like [`SCHEMA_V1`]).
#[doc(hidden)]
pub const QUERY_INDEXES_V1: &[&str] = &[
    "CREATE INDEX events_by_key ON events(key, mod_revision)",
    "CREATE INDEX events_by_involved ON events(involved_kind, involved_namespace, involved_name, occurred_at)",
    "CREATE INDEX events_by_namespace_time ON events(namespace, occurred_at)",
    "CREATE INDEX events_by_reason ON events(reason, occurred_at)",
];

/// From version 1 to 2: Kubernetes audit logs (`audit_events`), audit
/// counts on `sources`, file and line of damaged records, descriptive views.
pub(super) const UPGRADE_TO_V2: &str = include_str!("schema/v1_to_v2.sql");

/// From version 2 to 3: the metadata of every object under the registry
/// root (`objects`, with their own per-source revisions and tombstones), the
/// merged `timeline` of Event occurrences and audit entries, and
/// `event_causes`. [`OBJECT_QUERY_INDEXES`] follow it.
pub(super) const UPGRADE_TO_V3: &str = include_str!("schema/v2_to_v3.sql");

/// From version 3 to 4: `events` becomes a view over `event_revisions` (the
/// columns) and `event_values` (each revision's `object` and `raw`, most of
/// its bytes), so that what scans Event rows — index builds, the text
/// index, liveness updates — reads narrow rows. Queries are unchanged.
/// [`QUERY_INDEXES`] follow it.
pub(super) const UPGRADE_TO_V4: &str = include_str!("schema/v3_to_v4.sql");

/// From version 4 to 5: what the WAL beside a db adds — the raft entry
/// and revision basis of Event revisions replayed from it, the cause of
/// tombstones, `wal_unresolved_writes`, `wal_replays`, and the
/// `tombstone_only_events` view.
pub(super) const UPGRADE_TO_V5: &str = include_str!("schema/v4_to_v5.sql");

/// From version 5 to 6: each Event revision's fate (`event_fates`: live,
/// superseded, gone and how it is known, unknown), `expired_events` as the
/// gone ones, `superseded_events`, and more (see the file); and, for the
/// speed of every question, the indexes through which `timeline
/// --object`/`--uid` fetch an object's audit entries
/// ([`EVENT_QUERY_INDEXES_V6`] and [`OBJECT_QUERY_INDEXES_V6`] follow it).
pub(super) const UPGRADE_TO_V6: &str = include_str!("schema/v5_to_v6.sql");

/// An index that serves queries, not the load: a large load drops it and
/// builds it again at its end (one sort, much cheaper than keeping it up to
/// date row by row), both inside the load's transaction.
#[derive(Debug, Clone, Copy)]
pub struct QueryIndex {
    pub name: &'static str,
    /// Its `CREATE INDEX` statement.
    pub create: &'static str,
}

/// The query indexes of Event revisions. Since version 4 they index
/// `event_revisions`, under their old names.
pub const QUERY_INDEXES: &[QueryIndex] = &[
    QueryIndex {
        name: "events_by_key",
        create: "CREATE INDEX events_by_key ON event_revisions(key, mod_revision)",
    },
    QueryIndex {
        name: "events_by_involved",
        create: "CREATE INDEX events_by_involved ON event_revisions(involved_kind, involved_namespace, involved_name, occurred_at)",
    },
    QueryIndex {
        name: "events_by_namespace_time",
        create: "CREATE INDEX events_by_namespace_time ON event_revisions(namespace, occurred_at)",
    },
    QueryIndex {
        name: "events_by_reason",
        create: "CREATE INDEX events_by_reason ON event_revisions(reason, occurred_at)",
    },
];

/// The query indexes of `objects` (version 3), dropped and rebuilt by a
/// large load like [`QUERY_INDEXES`].
pub const OBJECT_QUERY_INDEXES: &[QueryIndex] = &[
    QueryIndex {
        name: "objects_by_key",
        create: "CREATE INDEX objects_by_key ON objects(key, mod_revision)",
    },
    QueryIndex {
        name: "objects_by_uid",
        create: "CREATE INDEX objects_by_uid ON objects(uid)",
    },
    QueryIndex {
        name: "objects_by_name",
        create: "CREATE INDEX objects_by_name ON objects(name, namespace, kind)",
    },
    QueryIndex {
        name: "objects_by_resource",
        create: "CREATE INDEX objects_by_resource ON objects(resource, kind)",
    },
];

/// Version 6's query indexes of Event revisions: an object's lines are
/// fetched by the uid or the name of the object an Event is about (the
/// timeline's owner tree; its kind and namespace are checked on the few
/// rows found).
pub const EVENT_QUERY_INDEXES_V6: &[QueryIndex] = &[
    QueryIndex {
        name: "events_by_involved_uid",
        create: "CREATE INDEX events_by_involved_uid ON event_revisions(involved_uid)",
    },
    QueryIndex {
        name: "events_by_involved_name",
        create:
            "CREATE INDEX events_by_involved_name ON event_revisions(involved_name, involved_kind)",
    },
];

/// Version 6's query indexes of `objects`: the owner tree goes down from
/// an owner to what it owns by the first owner reference's uid (or name,
/// for a reference without uid); objects with more than one owner
/// reference are few, and are read from their own partial index.
pub const OBJECT_QUERY_INDEXES_V6: &[QueryIndex] = &[
    QueryIndex {
        name: "objects_by_owner_uid",
        create: "CREATE INDEX objects_by_owner_uid ON objects(json_extract(owner_references, '$[0].uid')) WHERE owner_references IS NOT NULL",
    },
    QueryIndex {
        name: "objects_by_owner_name",
        create: "CREATE INDEX objects_by_owner_name ON objects(json_extract(owner_references, '$[0].name')) WHERE owner_references IS NOT NULL",
    },
    QueryIndex {
        name: "objects_with_owners",
        create: "CREATE INDEX objects_with_owners ON objects(id) WHERE json_array_length(owner_references) > 1",
    },
];
