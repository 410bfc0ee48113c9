//! The batched writer: one transaction per source, prepared statements,
//! rows arriving in batches from the decode stage.
//!
//! After the rows of a source are in, [`SourceWriter::finish`] derives what
//! needs the whole history rather than one revision:
//! - `source_revisions.live`: the newest revision of each key in that source,
//!   when it is not a tombstone;
//! - `events.live`: live in the source with the highest head revision (the
//!   newest view of the cluster the database holds);
//! - `events.deleted_revision`: the first tombstone of the key after the put;
//! - the FTS index for the new rows.
//!
//! These run as set-based SQL over indexed columns so that memory stays flat
//! however many Events a snapshot holds. When the database holds no etcd
//! rows yet, the loader may instead bring `live` (and `deleted_revision`)
//! with each row ([`LoadPlan::fates`]): it knows them from a first pass over
//! the source, and every row is then written once, complete.

use rusqlite::{params, Connection, OptionalExtension, ToSql};

use super::rows::RecoveredFrom;
use super::text_index::TextIndexBuilder;
use super::{Load, StoreError};
use crate::decode::DecodedEvent;

/// What is known about a source before its records are read.
#[derive(Debug, Clone, Default)]
pub struct SourceRecord {
    /// `etcd-snapshot` (has the etcdctl trailer), `etcd-db` (plain bbolt
    /// copy), `etcd-data-dir`.
    pub kind: String,
    pub location: String,
    /// SHA-256 of the input file exactly as given (compressed if it was).
    pub sha256: String,
    pub size_bytes: u64,
    pub compression: Option<String>,
    /// SHA-256 of the decompressed content, for compressed inputs.
    pub content_sha256: Option<String>,
    /// `verified`, `mismatch` or `absent`.
    pub trailer: String,
    /// The SHA-256 the trailer claims, when there is one.
    pub trailer_sha256: Option<String>,
    pub prefix: String,
    pub bolt_page_size: Option<i64>,
    pub bolt_txid: Option<i64>,
    pub bolt_meta_page: Option<i64>,
    pub bolt_meta_note: Option<String>,
}

/// What is known about a source once its records were read.
#[derive(Debug, Clone, Default)]
pub struct SourceFacts {
    pub head_revision: Option<i64>,
    pub compact_revision: Option<i64>,
    pub scheduled_compact_revision: Option<i64>,
    pub consistent_index: Option<i64>,
    /// Replaces `sources.sha256` / `size_bytes` when known only at the end
    /// (a live pull hashes what it read).
    pub sha256: Option<String>,
    pub size_bytes: Option<u64>,
}

/// How a load derives `live` and `deleted_revision`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadPlan {
    /// A rough estimate of the Event revisions the source holds; it decides
    /// whether rebuilding the query indexes at the end is cheaper than
    /// maintaining them. 0 when unknown.
    pub expected_rows: u64,
    /// What the rows' [`Fate`] says. Honoured only while the database holds
    /// no etcd rows (a single source is then the whole history); otherwise
    /// the writer derives everything in SQL.
    pub fates: RowFates,
}

/// How much of their [`Fate`] the rows of a load bring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RowFates {
    /// Nothing: the writer derives `live` and `deleted_revision`.
    #[default]
    Derived,
    /// `live` and `deleted_revision` (a snapshot's key histories).
    Complete,
    /// `live` (the keys of a running etcd at the pulled head); the writer
    /// derives `deleted_revision` for the keys that have tombstones.
    LiveOnly,
}

/// What a revision's key did later in the source: computed by the loader
/// when [`LoadPlan::fates`] says so, ignored otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fate {
    /// This revision is its key's current value at the source's head: no
    /// later revision of the key (put or tombstone), and read from the tree
    /// (or the API), not from a free page.
    pub live: bool,
    /// The key's first tombstone after this revision.
    pub deleted_revision: Option<i64>,
}

/// One stored revision of an Event key.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub key: String,
    pub mod_revision: i64,
    pub sub_revision: i64,
    pub create_revision: i64,
    pub version: i64,
    pub lease: i64,
    pub recovered_from: RecoveredFrom,
    pub decoded: DecodedEvent,
    /// The Event's JSON text, `decoded.object` taken out of `decoded` (it is
    /// written in the parallel decode stage).
    pub object_json: Option<String>,
    /// The stored value, exactly.
    pub raw: Vec<u8>,
    pub fate: Fate,
    /// When the Event happened, see
    /// [`crate::decode::EventFields::occurred_at`] (computed in the decode
    /// stage, off the writer thread).
    pub occurred_at: Option<String>,
}

/// One stored revision of an object that is not an Event (any kind under
/// the registry root): its metadata only, never its content.
#[derive(Debug, Clone, Default)]
pub struct ObjectRow {
    pub key: String,
    /// The resource named by the key (`pods`, `deployments`, …).
    pub resource: Option<String>,
    pub mod_revision: i64,
    pub sub_revision: i64,
    pub create_revision: i64,
    pub version: i64,
    pub lease: i64,
    pub recovered_from: RecoveredFrom,
    /// `protobuf`, `json`, `encrypted`, `unknown`.
    pub encoding: &'static str,
    pub decode_note: Option<String>,
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub uid: Option<String>,
    pub creation_timestamp: Option<String>,
    pub deletion_timestamp: Option<String>,
    /// JSON object, `None` when the object has no labels.
    pub labels: Option<String>,
    /// JSON array of `{kind, name, uid, controller}` (and `apiVersion`),
    /// `None` when the object has no owners.
    pub owner_references: Option<String>,
    pub fate: Fate,
}

/// A tombstone.
#[derive(Debug, Clone)]
pub struct DeletionRow {
    pub key: String,
    pub revision: i64,
    pub sub_revision: i64,
    /// `tree` or `free-page`, as for events.
    pub recovered_from: RecoveredFrom,
}

/// A record that could not be read, with where it was.
#[derive(Debug, Clone, Default)]
pub struct DamageRow {
    pub page: Option<i64>,
    pub offset: Option<i64>,
    pub revision: Option<i64>,
    pub sub_revision: Option<i64>,
    pub key: Option<String>,
    /// The file, for damage in a text input (an audit log).
    pub file: Option<String>,
    /// The line number (1-based) in that file.
    pub line: Option<i64>,
    pub reason: String,
}

/// An entry of etcd's `lease` bucket.
#[derive(Debug, Clone)]
pub struct LeaseRow {
    pub lease: i64,
    pub ttl_seconds: Option<i64>,
    pub remaining_ttl_seconds: Option<i64>,
}

/// Rows travel from the decode stage to the writer in batches.
#[derive(Debug)]
pub enum Batch {
    Events(Vec<EventRow>),
    Deletions(Vec<DeletionRow>),
    Damage(Vec<DamageRow>),
    Leases(Vec<LeaseRow>),
    /// Revisions of other objects under the registry root.
    Objects(Vec<ObjectRow>),
    /// Tombstones of other objects' keys.
    ObjectDeletions(Vec<DeletionRow>),
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        match self {
            Batch::Events(v) => v.is_empty(),
            Batch::Deletions(v) => v.is_empty(),
            Batch::Damage(v) => v.is_empty(),
            Batch::Leases(v) => v.is_empty(),
            Batch::Objects(v) => v.is_empty(),
            Batch::ObjectDeletions(v) => v.is_empty(),
        }
    }
}

/// Counts for the closing summary of one source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadSummary {
    pub source_id: i64,
    /// Event revisions the source holds.
    pub event_revisions: u64,
    /// Of those, revisions found only in free pages, not in the tree.
    pub free_page_event_revisions: u64,
    /// Of those, revisions no earlier source had loaded.
    pub new_event_revisions: u64,
    /// Event revisions that are the current value of their key at the
    /// source's head revision.
    pub live_event_revisions: u64,
    pub tombstones: u64,
    /// Of the tombstones, those found only in free pages.
    pub free_page_tombstones: u64,
    pub damaged_records: u64,
    /// Revisions of other objects (not Events) under the registry root.
    pub object_revisions: u64,
    /// Tombstones of other objects' keys.
    pub object_tombstones: u64,
}

/// The tables of one family of keys: Event keys (`events`, `deletions`,
/// `source_revisions`) or the other objects' keys (`objects`,
/// `object_deletions`, `object_source_revisions`). Liveness and deletion
/// revisions are derived the same way for both.
#[derive(Debug, Clone, Copy)]
struct Family {
    rows: &'static str,
    deletions: &'static str,
    revisions: &'static str,
    /// Records that the source holds a revision (see [`INSERT_SOURCE_REVISION`]).
    link: &'static str,
}

const EVENTS: Family = Family {
    rows: "event_revisions",
    deletions: "deletions",
    revisions: "source_revisions",
    link: INSERT_SOURCE_REVISION,
};

const OBJECTS: Family = Family {
    rows: "objects",
    deletions: "object_deletions",
    revisions: "object_source_revisions",
    link: INSERT_OBJECT_SOURCE_REVISION,
};

const INSERT_OBJECT: &str = "INSERT INTO objects (
    source_id, key, resource, mod_revision, sub_revision, create_revision, version, lease,
    recovered_from, encoding, decode_note, api_version, kind, namespace, name, uid,
    creation_timestamp, deletion_timestamp, labels, owner_references, live, deleted_revision)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
    ?21, ?22)
  ON CONFLICT (mod_revision, sub_revision, key) DO NOTHING";

const INSERT_EVENT: &str = "INSERT INTO event_revisions (
    source_id, key, mod_revision, sub_revision, create_revision, version, lease,
    recovered_from, encoding, decode_note, unknown_fields, api_version, kind,
    namespace, name, uid, creation_timestamp, reason, message, type, count,
    first_timestamp, last_timestamp, event_time, series_count, series_last_observed_time,
    occurred_at, action, reporting_component, reporting_instance, source_component, source_host,
    involved_kind, involved_namespace, involved_name, involved_uid, involved_api_version,
    involved_resource_version, involved_field_path,
    related_kind, related_namespace, related_name, related_uid, live, deleted_revision)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
    ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37,
    ?38, ?39, ?40, ?41, ?42, ?43, ?44, ?45)
  ON CONFLICT (mod_revision, sub_revision, key) DO NOTHING";

/// The value and JSON of the revision just inserted into `event_revisions`.
const INSERT_EVENT_VALUE: &str =
    "INSERT INTO event_values (id, object, raw) VALUES (last_insert_rowid(), ?1, ?2)";

/// A revision a source holds. A second copy in the same source (a free
/// page holding what the tree holds) changes nothing.
const INSERT_SOURCE_REVISION: &str = "INSERT OR IGNORE INTO source_revisions
    (source_id, key, revision, sub_revision, tombstone, recovered_from, live)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const INSERT_OBJECT_SOURCE_REVISION: &str = "INSERT OR IGNORE INTO object_source_revisions
    (source_id, key, revision, sub_revision, tombstone, recovered_from, live)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// A revision of a key, as the source holds it.
struct Link<'r> {
    key: &'r str,
    revision: (i64, i64),
    tombstone: bool,
    recovered_from: RecoveredFrom,
    live: bool,
}

/// Links a revision to the source; false when the source already holds it
/// (a free page repeating what the tree holds), and the row is then skipped.
fn link_revision(
    link: &mut rusqlite::CachedStatement<'_>,
    source_id: i64,
    r: Link<'_>,
) -> Result<bool, StoreError> {
    let linked = link.execute(params![
        source_id,
        r.key,
        r.revision.0,
        r.revision.1,
        r.tombstone,
        r.recovered_from,
        r.live
    ])?;
    Ok(linked == 1)
}

/// Loads one source inside one transaction. Dropping it without
/// [`finish`](SourceWriter::finish) rolls everything back.
pub struct SourceWriter<'c> {
    load: Load<'c>,
    source_id: i64,
    /// What the rows' fates say (see [`LoadPlan`]).
    fates: RowFates,
    /// The database held no etcd rows when this load began: every Event
    /// row is this source's, so its `source_revisions` entries are made in
    /// one statement at the end instead of one per row (see
    /// [`link_event_rows`]).
    link_events_at_end: bool,
    events_before: i64,
    deletions_before: i64,
    objects_before: i64,
    object_deletions_before: i64,
    /// Query indexes were dropped for this load and are rebuilt by `finish`.
    rebuild_indexes: bool,
    /// The same for the indexes of `objects`.
    rebuild_object_indexes: bool,
    /// Builds `events_fts` beside the load while it is empty (see
    /// [`super::text_index`]).
    text_index: Option<TextIndexBuilder>,
    summary: LoadSummary,
}

impl<'c> SourceWriter<'c> {
    pub(super) fn begin(
        load: Load<'c>,
        source: &SourceRecord,
        plan: LoadPlan,
    ) -> Result<Self, StoreError> {
        let tx = load.conn();
        let expected_rows = plan.expected_rows;
        let max_id = |table: &str| -> Result<i64, rusqlite::Error> {
            tx.query_row(
                &format!("SELECT coalesce(max(id), 0) FROM {table}"),
                [],
                |r| r.get(0),
            )
        };
        let events_before = max_id("event_revisions")?;
        let deletions_before = max_id("deletions")?;
        let objects_before = max_id("objects")?;
        let object_deletions_before = max_id("object_deletions")?;
        let rebuild_indexes = expected_rows >= 10_000 && {
            let existing: i64 =
                tx.query_row("SELECT count(*) FROM event_revisions", [], |r| r.get(0))?;
            expected_rows as i64 >= existing
        };
        if rebuild_indexes {
            for (name, _) in super::schema::QUERY_INDEXES {
                tx.execute_batch(&format!("DROP INDEX IF EXISTS {name}"))?;
            }
        }
        let rebuild_object_indexes = expected_rows >= 10_000 && {
            let existing: i64 = tx.query_row("SELECT count(*) FROM objects", [], |r| r.get(0))?;
            expected_rows as i64 >= existing
        };
        if rebuild_object_indexes {
            for (name, _) in super::schema::OBJECT_QUERY_INDEXES {
                tx.execute_batch(&format!("DROP INDEX IF EXISTS {name}"))?;
            }
        }
        let source_id = insert_source(tx, source)?;
        // When it cannot start, the rows are indexed in place at the end.
        let text_index = if events_before == 0 {
            TextIndexBuilder::start(load.directory()).ok()
        } else {
            None
        };
        let first_etcd_rows = events_before == 0
            && deletions_before == 0
            && objects_before == 0
            && object_deletions_before == 0;
        let fates = if first_etcd_rows {
            plan.fates
        } else {
            RowFates::Derived
        };
        Ok(SourceWriter {
            load,
            source_id,
            fates,
            link_events_at_end: first_etcd_rows,
            events_before,
            deletions_before,
            objects_before,
            object_deletions_before,
            rebuild_indexes,
            rebuild_object_indexes,
            text_index,
            summary: LoadSummary {
                source_id,
                ..LoadSummary::default()
            },
        })
    }

    pub fn source_id(&self) -> i64 {
        self.source_id
    }

    /// Writes one batch.
    pub fn write(&mut self, batch: Batch) -> Result<(), StoreError> {
        match batch {
            Batch::Events(rows) => self.write_events(rows),
            Batch::Deletions(rows) => self.write_deletions(&rows, EVENTS),
            Batch::Damage(rows) => self.write_damage(&rows),
            Batch::Leases(rows) => self.write_leases(&rows),
            Batch::Objects(rows) => self.write_objects(&rows),
            Batch::ObjectDeletions(rows) => self.write_deletions(&rows, OBJECTS),
        }
    }

    /// The fate a row is written with: its own, or none for the SQL
    /// derivation at the end.
    fn fate(&self, fate: Fate) -> Fate {
        match self.fates {
            RowFates::Derived => Fate::default(),
            RowFates::Complete => fate,
            RowFates::LiveOnly => Fate {
                live: fate.live,
                deleted_revision: None,
            },
        }
    }

    fn write_objects(&mut self, rows: &[ObjectRow]) -> Result<(), StoreError> {
        let conn = self.load.conn();
        let mut insert = conn.prepare_cached(INSERT_OBJECT)?;
        let mut link = conn.prepare_cached(OBJECTS.link)?;
        for row in rows {
            let fate = self.fate(row.fate);
            if !link_revision(
                &mut link,
                self.source_id,
                Link {
                    key: &row.key,
                    revision: (row.mod_revision, row.sub_revision),
                    tombstone: false,
                    recovered_from: row.recovered_from,
                    live: fate.live,
                },
            )? {
                continue;
            }
            insert.execute(params![
                self.source_id,
                row.key,
                row.resource,
                row.mod_revision,
                row.sub_revision,
                row.create_revision,
                row.version,
                row.lease,
                row.recovered_from,
                row.encoding,
                row.decode_note,
                row.api_version,
                row.kind,
                row.namespace,
                row.name,
                row.uid,
                row.creation_timestamp,
                row.deletion_timestamp,
                row.labels,
                row.owner_references,
                fate.live,
                fate.deleted_revision,
            ])?;
            self.summary.object_revisions += 1;
        }
        Ok(())
    }

    fn write_events(&mut self, mut rows: Vec<EventRow>) -> Result<(), StoreError> {
        let conn = self.load.conn();
        let mut insert = conn.prepare_cached(INSERT_EVENT)?;
        let mut insert_value = conn.prepare_cached(INSERT_EVENT_VALUE)?;
        let mut link = conn.prepare_cached(EVENTS.link)?;
        let mut existing = conn.prepare_cached(
            "SELECT v.raw, r.source_id FROM event_revisions r JOIN event_values v USING (id)
             WHERE r.mod_revision = ?2 AND r.sub_revision = ?3 AND r.key = ?1",
        )?;
        let mut conflicts = Vec::new();
        let mut text_rows = Vec::with_capacity(if self.text_index.is_some() {
            rows.len()
        } else {
            0
        });
        for row in &mut rows {
            let fate = self.fate(row.fate);
            let linked = self.link_events_at_end
                || link_revision(
                    &mut link,
                    self.source_id,
                    Link {
                        key: &row.key,
                        revision: (row.mod_revision, row.sub_revision),
                        tombstone: false,
                        recovered_from: row.recovered_from,
                        live: fate.live,
                    },
                )?;
            if !linked {
                // This source holds the revision already (a free page
                // repeating the tree): its copies must agree.
                conflicts.extend(differing_copy(&mut existing, row, self.source_id, true)?.1);
                continue;
            }
            let d = &row.decoded;
            let f = &d.fields;
            // Most columns of most Events are NULL: only the values present
            // are bound (the statement's bindings are NULL after clearing).
            insert.clear_bindings();
            let mut at = 0;
            let mut bind = |value: Option<&dyn ToSql>| -> rusqlite::Result<()> {
                at += 1;
                match value {
                    Some(v) => insert.raw_bind_parameter(at, v),
                    None => Ok(()),
                }
            };
            bind(Some(&self.source_id))?;
            bind(Some(&row.key))?;
            bind(Some(&row.mod_revision))?;
            bind(Some(&row.sub_revision))?;
            bind(Some(&row.create_revision))?;
            bind(Some(&row.version))?;
            bind(Some(&row.lease))?;
            bind(Some(&row.recovered_from))?;
            bind(Some(&d.encoding.as_str()))?;
            bind(text(&d.note))?;
            bind(Some(&d.unknown_fields))?;
            bind(text(&d.api_version))?;
            bind(text(&d.kind))?;
            for column in [
                &f.namespace,
                &f.name,
                &f.uid,
                &f.creation_timestamp,
                &f.reason,
                &f.message,
                &f.type_,
            ] {
                bind(text(column))?;
            }
            bind(int(&f.count))?;
            bind(text(&f.first_timestamp))?;
            bind(text(&f.last_timestamp))?;
            bind(text(&f.event_time))?;
            bind(int(&f.series_count))?;
            for column in [
                &f.series_last_observed_time,
                &row.occurred_at,
                &f.action,
                &f.reporting_component,
                &f.reporting_instance,
                &f.source_component,
                &f.source_host,
                &f.involved_kind,
                &f.involved_namespace,
                &f.involved_name,
                &f.involved_uid,
                &f.involved_api_version,
                &f.involved_resource_version,
                &f.involved_field_path,
                &f.related_kind,
                &f.related_namespace,
                &f.related_name,
                &f.related_uid,
            ] {
                bind(text(column))?;
            }
            bind(Some(&fate.live))?;
            bind(int(&fate.deleted_revision))?;
            let inserted = insert.raw_execute()?;
            if inserted == 0 {
                // The revision is already in: from an earlier source, or
                // from this one when its links are made at the end.
                let (held_twice, conflict) =
                    differing_copy(&mut existing, row, self.source_id, false)?;
                conflicts.extend(conflict);
                if held_twice {
                    // One revision, one row: counted once.
                    continue;
                }
            }
            self.summary.event_revisions += 1;
            self.summary.live_event_revisions += u64::from(fate.live);
            if row.recovered_from == RecoveredFrom::FreePage {
                self.summary.free_page_event_revisions += 1;
            }
            if inserted == 1 {
                if self.text_index.is_some() {
                    let f = &mut row.decoded.fields;
                    text_rows.push((
                        conn.last_insert_rowid(),
                        f.reason.take(),
                        f.message.take(),
                        f.involved_name.take(),
                    ));
                }
                insert_value.execute(params![row.object_json, row.raw])?;
                self.summary.new_event_revisions += 1;
            }
        }
        drop((insert, insert_value, link, existing));
        // Freeing a batch is the decode stage's business, not the writer's.
        drop(rows);
        if let Some(builder) = &self.text_index {
            if !text_rows.is_empty() && !builder.send(text_rows) {
                // It stopped: the rows are indexed in place at the end.
                self.text_index = None;
            }
        }
        if !conflicts.is_empty() {
            self.write_damage(&conflicts)?;
        }
        Ok(())
    }

    fn write_deletions(&mut self, rows: &[DeletionRow], family: Family) -> Result<(), StoreError> {
        let conn = self.load.conn();
        let mut insert = conn.prepare_cached(&format!(
            "INSERT OR IGNORE INTO {} (source_id, key, revision, sub_revision)
             VALUES (?1, ?2, ?3, ?4)",
            family.deletions
        ))?;
        let is_events = family.rows == EVENTS.rows;
        let mut link = conn.prepare_cached(family.link)?;
        for row in rows {
            if !link_revision(
                &mut link,
                self.source_id,
                Link {
                    key: &row.key,
                    revision: (row.revision, row.sub_revision),
                    tombstone: true,
                    recovered_from: row.recovered_from,
                    live: false,
                },
            )? {
                continue;
            }
            insert.execute(params![
                self.source_id,
                row.key,
                row.revision,
                row.sub_revision
            ])?;
            if !is_events {
                self.summary.object_tombstones += 1;
                continue;
            }
            self.summary.tombstones += 1;
            if row.recovered_from == RecoveredFrom::FreePage {
                self.summary.free_page_tombstones += 1;
            }
        }
        Ok(())
    }

    fn write_damage(&mut self, rows: &[DamageRow]) -> Result<(), StoreError> {
        insert_damage(self.load.conn(), self.source_id, rows)?;
        self.summary.damaged_records += rows.len() as u64;
        Ok(())
    }

    fn write_leases(&mut self, rows: &[LeaseRow]) -> Result<(), StoreError> {
        let mut insert = self.load.conn().prepare_cached(
            "INSERT OR REPLACE INTO leases (source_id, lease, ttl_seconds, remaining_ttl_seconds)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for row in rows {
            insert.execute(params![
                self.source_id,
                row.lease,
                row.ttl_seconds,
                row.remaining_ttl_seconds
            ])?;
        }
        Ok(())
    }

    /// Derives liveness, deletion revisions and the text index, records the
    /// source's totals and commits.
    pub fn finish(mut self, facts: &SourceFacts) -> Result<LoadSummary, StoreError> {
        let sid = self.source_id;
        // A content already loaded (known only now for a live pull) ends
        // the load before the work below.
        {
            let tx = self.load.conn();
            if let Some(sha) = &facts.sha256 {
                let same: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM sources WHERE sha256 = ?1 AND prefix = (SELECT prefix FROM sources WHERE id = ?2) AND id != ?2",
                        params![sha, sid],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(source_id) = same {
                    return Err(StoreError::SameContent {
                        source_id,
                        sha256: sha.clone(),
                    });
                }
                tx.execute(
                    "UPDATE sources SET sha256 = ?2 WHERE id = ?1",
                    params![sid, sha],
                )?;
            }
        }
        self.load.start_writeback();
        // The text index is built while the other indexes are.
        if let Some(builder) = &mut self.text_index {
            builder.close();
        }
        let tx = self.load.conn();
        if self.link_events_at_end {
            link_event_rows(tx)?;
        }
        if self.rebuild_indexes {
            for (_, create) in super::schema::QUERY_INDEXES {
                tx.execute_batch(create)?;
            }
        }
        if self.rebuild_object_indexes {
            for (_, create) in super::schema::OBJECT_QUERY_INDEXES {
                tx.execute_batch(create)?;
            }
        }
        if self.fates == RowFates::Derived {
            derive_source_liveness(tx, sid, EVENTS)?;
            derive_source_liveness(tx, sid, OBJECTS)?;
            self.summary.live_event_revisions = tx.query_row(
                "SELECT count(*) FROM source_revisions WHERE source_id = ?1 AND live = 1",
                [sid],
                |r| r.get::<_, i64>(0),
            )? as u64;
        }
        if let Some(size) = facts.size_bytes {
            tx.execute(
                "UPDATE sources SET size_bytes = ?2 WHERE id = ?1",
                params![sid, size as i64],
            )?;
        }
        tx.execute(
            "UPDATE sources SET head_revision = ?2, compact_revision = ?3,
                scheduled_compact_revision = ?4, consistent_index = ?5,
                event_revisions = ?6, new_event_revisions = ?7, live_event_revisions = ?8,
                tombstones = ?9, damaged_records = ?10, free_page_event_revisions = ?11,
                free_page_tombstones = ?12, object_revisions = ?13, object_tombstones = ?14
             WHERE id = ?1",
            params![
                sid,
                facts.head_revision,
                facts.compact_revision,
                facts.scheduled_compact_revision,
                facts.consistent_index,
                self.summary.event_revisions as i64,
                self.summary.new_event_revisions as i64,
                self.summary.live_event_revisions as i64,
                self.summary.tombstones as i64,
                self.summary.damaged_records as i64,
                self.summary.free_page_event_revisions as i64,
                self.summary.free_page_tombstones as i64,
                self.summary.object_revisions as i64,
                self.summary.object_tombstones as i64,
            ],
        )?;

        // `live` follows the newest view of the cluster: the source with
        // the highest head revision. When that is this source, every row may
        // change; otherwise only the rows this source added need a value.
        let newest: Option<i64> = tx
            .query_row(
                "SELECT id FROM sources WHERE head_revision IS NOT NULL
                 ORDER BY head_revision DESC, id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        // With fates in the rows, this source is the whole history and the
        // newest source: its rows already hold `live`, and with complete
        // fates `deleted_revision` too.
        for (family, rows_before, deletions_before) in [
            (EVENTS, self.events_before, self.deletions_before),
            (OBJECTS, self.objects_before, self.object_deletions_before),
        ] {
            match self.fates {
                RowFates::Derived => {
                    if let Some(newest) = newest {
                        let scope = if newest == sid { 0 } else { rows_before };
                        derive_live(tx, family, newest, scope)?;
                    }
                    derive_deleted_revision(tx, family, rows_before, deletions_before)?;
                }
                // The rows are all this load's and hold `live`: only the keys
                // it deleted can have a `deleted_revision`.
                RowFates::LiveOnly => {
                    derive_deleted_revision(tx, family, i64::MAX, deletions_before)?
                }
                RowFates::Complete => {}
            }
        }
        let indexed_aside = match self.text_index.take() {
            Some(builder) => {
                let copied = builder.finish(tx).is_ok();
                if !copied {
                    // Whatever part was copied goes; the index is built in place.
                    tx.execute(
                        "INSERT INTO events_fts (events_fts) VALUES ('delete-all')",
                        [],
                    )?;
                }
                copied
            }
            None => false,
        };
        if !indexed_aside {
            tx.execute(
                "INSERT INTO events_fts (rowid, reason, message, involved_name)
                 SELECT id, reason, message, involved_name FROM event_revisions WHERE id > ?1",
                [self.events_before],
            )?;
        }
        let summary = std::mem::take(&mut self.summary);
        self.load.commit()?;
        Ok(summary)
    }
}

/// A revision already in `event_revisions` when `row` brings it again:
/// whether this source held it already (`held_before`, or it loaded the
/// row), and a damaged-record note when the two copies' bytes differ (the
/// earlier copy stays).
fn differing_copy(
    existing: &mut rusqlite::CachedStatement<'_>,
    row: &EventRow,
    source_id: i64,
    held_before: bool,
) -> Result<(bool, Option<DamageRow>), StoreError> {
    let (raw, other): (Vec<u8>, i64) = existing
        .query_row(params![row.key, row.mod_revision, row.sub_revision], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let held_twice = held_before || other == source_id;
    if raw == row.raw {
        return Ok((held_twice, None));
    }
    let reason = if held_twice {
        format!(
            "this source holds this revision twice with different values (the copy {} differs from the one read first, which is kept in events)",
            match row.recovered_from {
                RecoveredFrom::FreePage => "in a free page",
                RecoveredFrom::Tree | RecoveredFrom::Live => "read later",
            }
        )
    } else {
        format!(
            "this revision's stored value differs from the copy loaded from source {other}; the earlier copy is kept in events"
        )
    };
    Ok((
        held_twice,
        Some(DamageRow {
            revision: Some(row.mod_revision),
            sub_revision: Some(row.sub_revision),
            key: Some(row.key.clone()),
            reason,
            ..DamageRow::default()
        }),
    ))
}

/// The `source_revisions` entries of the Event rows, all of one source
/// (the database held none before), in one statement: in revision order, so that they
/// append to the table's primary key. A tombstone linked earlier at the
/// same revision (only damaged input can hold both) keeps its entry.
fn link_event_rows(tx: &Connection) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO source_revisions
            (source_id, key, revision, sub_revision, tombstone, recovered_from, live)
         SELECT source_id, key, mod_revision, sub_revision, 0, recovered_from, live
         FROM event_revisions INDEXED BY events_by_revision
         ORDER BY mod_revision, sub_revision, key",
        [],
    )?;
    Ok(())
}

/// Live within this source: no later revision (put or tombstone) of the
/// same key in the same source, read from what etcd itself reads (the tree
/// of a snapshot, or the API of a live etcd) rather than from a free page.
/// One sort by key over the source's revisions, rather than one lookup per
/// row.
fn derive_source_liveness(tx: &Connection, sid: i64, f: Family) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "UPDATE {rev} SET live = 1
             WHERE source_id = ?1 AND (revision, sub_revision, key) IN (
                SELECT revision, sub_revision, key FROM (
                    SELECT revision, sub_revision, key, tombstone, recovered_from,
                           row_number() OVER (PARTITION BY key
                               ORDER BY revision DESC, sub_revision DESC) AS newest
                    FROM {rev} WHERE source_id = ?1)
                WHERE newest = 1 AND tombstone = 0 AND recovered_from != 'free-page')",
            rev = f.revisions
        ),
        [sid],
    )?;
    Ok(())
}

/// `live` of the family's rows with id above `scope`: live in the newest
/// source. Only rows whose value changes are rewritten.
fn derive_live(tx: &Connection, f: Family, newest: i64, scope: i64) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "UPDATE {rows} SET live = 1 WHERE id > ?2 AND live = 0
               AND (mod_revision, sub_revision, key) IN (
                 SELECT revision, sub_revision, key FROM {rev}
                 WHERE source_id = ?1 AND live = 1)",
            rows = f.rows,
            rev = f.revisions
        ),
        params![newest, scope],
    )?;
    tx.execute(
        &format!(
            "UPDATE {rows} SET live = 0 WHERE id > ?2 AND live = 1
               AND (mod_revision, sub_revision, key) NOT IN (
                 SELECT revision, sub_revision, key FROM {rev}
                 WHERE source_id = ?1 AND live = 1)",
            rows = f.rows,
            rev = f.revisions
        ),
        params![newest, scope],
    )?;
    Ok(())
}

/// The tombstone that ended each put's generation: the key's first
/// deletion after it. Only the rows added after `rows_before` and the keys
/// of the tombstones added after `deletions_before` can change.
fn derive_deleted_revision(
    tx: &Connection,
    f: Family,
    rows_before: i64,
    deletions_before: i64,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "UPDATE {rows} SET deleted_revision = (
                SELECT min(d.revision) FROM {del} AS d
                WHERE d.key = {rows}.key AND d.revision > {rows}.mod_revision)
             WHERE id > ?1 OR key IN (SELECT key FROM {del} WHERE id > ?2)",
            rows = f.rows,
            del = f.deletions
        ),
        params![rows_before, deletions_before],
    )?;
    Ok(())
}

/// A text column's value to bind, `None` for NULL.
fn text(value: &Option<String>) -> Option<&dyn ToSql> {
    value.as_ref().map(|v| v as &dyn ToSql)
}

/// An integer column's value to bind, `None` for NULL.
fn int(value: &Option<i64>) -> Option<&dyn ToSql> {
    value.as_ref().map(|v| v as &dyn ToSql)
}

/// Records a source (its `sources` row) inside the load's transaction.
pub(super) fn insert_source(tx: &Connection, source: &SourceRecord) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO sources (kind, location, sha256, size_bytes, compression, content_sha256,
            trailer, trailer_sha256, prefix, bolt_page_size, bolt_txid, bolt_meta_page,
            bolt_meta_note, ingested_at, tool_version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
            strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?14)",
        params![
            source.kind,
            source.location,
            source.sha256,
            source.size_bytes as i64,
            source.compression,
            source.content_sha256,
            source.trailer,
            source.trailer_sha256,
            source.prefix,
            source.bolt_page_size,
            source.bolt_txid,
            source.bolt_meta_page,
            source.bolt_meta_note,
            concat!("evforensics ", env!("CARGO_PKG_VERSION")),
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Stores records that could not be read.
pub(super) fn insert_damage(
    tx: &Connection,
    source_id: i64,
    rows: &[DamageRow],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO damaged_records (source_id, page, offset, revision, sub_revision, key, file, line, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for row in rows {
        insert.execute(params![
            source_id,
            row.page,
            row.offset,
            row.revision,
            row.sub_revision,
            row.key,
            row.file,
            row.line,
            row.reason
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod load_tests {
    use super::*;
    use crate::decode::{Encoding, EventFields};
    use crate::store::Store;

    fn event(key: &str, rev: i64, sub: i64, reason: &str) -> EventRow {
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
        }
    }

    fn deletion(key: &str, rev: i64, sub: i64) -> DeletionRow {
        DeletionRow {
            key: key.to_string(),
            revision: rev,
            sub_revision: sub,
            recovered_from: RecoveredFrom::Tree,
        }
    }

    fn source(sha: &str) -> SourceRecord {
        SourceRecord {
            kind: "etcd-snapshot".into(),
            location: format!("/evidence/{sha}.db"),
            sha256: sha.into(),
            trailer: "verified".into(),
            prefix: "/registry/events/".into(),
            ..SourceRecord::default()
        }
    }

    fn load(
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

    fn rows(store: &Store) -> Vec<(String, i64, i64, i64, Option<i64>)> {
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

    #[test]
    fn liveness_deletions_and_merge_of_two_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.sqlite")).unwrap();
        // Snapshot 1 (head 12): a updated at 11, b deleted at 12, c live.
        let s1 = load(
            &mut store,
            "aa",
            12,
            vec![
                event("/e/a", 10, 0, "Pulling"),
                event("/e/b", 10, 1, "BackOff"),
                event("/e/a", 11, 0, "Pulling"),
                event("/e/c", 11, 1, "Started"),
            ],
            vec![deletion("/e/b", 12, 0)],
        );
        assert_eq!(
            (
                s1.event_revisions,
                s1.new_event_revisions,
                s1.live_event_revisions,
                s1.tombstones
            ),
            (4, 4, 2, 1)
        );
        assert_eq!(
            rows(&store),
            vec![
                ("/e/a".into(), 10, 1, 0, None),
                ("/e/b".into(), 10, 1, 0, Some(12)),
                ("/e/a".into(), 11, 1, 1, None),
                ("/e/c".into(), 11, 1, 1, None),
            ]
        );
        // Snapshot 2 (head 20), an hour later: compaction dropped rev 10s,
        // c expired (lease revoke at 20), d is new.
        let s2 = load(
            &mut store,
            "bb",
            20,
            vec![
                event("/e/a", 11, 0, "Pulling"),
                event("/e/c", 11, 1, "Started"),
                event("/e/d", 15, 0, "Killing"),
            ],
            vec![deletion("/e/c", 20, 0)],
        );
        assert_eq!(
            (
                s2.event_revisions,
                s2.new_event_revisions,
                s2.live_event_revisions
            ),
            (3, 1, 2)
        );
        assert_eq!(
            rows(&store),
            vec![
                ("/e/a".into(), 10, 1, 0, None),
                ("/e/b".into(), 10, 1, 0, Some(12)),
                ("/e/a".into(), 11, 1, 1, None),
                ("/e/c".into(), 11, 1, 0, Some(20)),
                ("/e/d".into(), 15, 2, 1, None),
            ]
        );
        let links: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM source_revisions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(links, 5 + 4);
        // Loading an older snapshot after a newer one does not resurrect.
        let s0 = load(
            &mut store,
            "cc",
            9,
            vec![event("/e/z", 9, 0, "Old")],
            vec![],
        );
        assert_eq!(s0.live_event_revisions, 1);
        let z_live: i64 = store
            .connection()
            .query_row("SELECT live FROM events WHERE key = '/e/z'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(z_live, 0, "live follows the newest source");
        // Full-text search finds the new rows.
        let hits: i64 = store
            .connection()
            .query_row(
                "SELECT count(*) FROM events_fts WHERE events_fts MATCH 'killing'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(hits, 1);
    }

    #[test]
    fn differing_copies_of_one_revision_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.sqlite")).unwrap();
        load(
            &mut store,
            "aa",
            10,
            vec![event("/e/a", 10, 0, "X")],
            vec![],
        );
        let mut tampered = event("/e/a", 10, 0, "X");
        tampered.raw = b"other bytes".to_vec();
        let s = load(&mut store, "bb", 10, vec![tampered], vec![]);
        assert_eq!(s.damaged_records, 1);
        let reason: String = store
            .connection()
            .query_row("SELECT reason FROM damaged_records", [], |r| r.get(0))
            .unwrap();
        assert!(
            reason.contains("differs from the copy loaded from source 1"),
            "{reason}"
        );
    }

    /// A first load links its Event rows to the source in one statement at
    /// the end: a revision the source holds twice (a free page repeating the
    /// tree) is still one row and one link, and two differing copies are
    /// reported.
    #[test]
    fn a_revision_held_twice_by_one_source_is_one_row() {
        held_twice_by_one_source(false);
    }

    /// The same, loaded into a database that already holds a source (its
    /// links made row by row): the differing copy is reported there too.
    #[test]
    fn a_revision_held_twice_by_a_later_source_is_one_row() {
        held_twice_by_one_source(true);
    }

    fn held_twice_by_one_source(after_another: bool) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.sqlite")).unwrap();
        if after_another {
            load(&mut store, "zz", 5, vec![event("/e/z", 5, 0, "Z")], vec![]);
        }
        let sid = 1 + i64::from(after_another);
        let mut same_copy = event("/e/a", 10, 0, "X");
        same_copy.recovered_from = RecoveredFrom::FreePage;
        let mut other_copy = event("/e/b", 11, 0, "Y");
        other_copy.recovered_from = RecoveredFrom::FreePage;
        other_copy.raw = b"other bytes".to_vec();
        let s = load(
            &mut store,
            "aa",
            12,
            vec![
                event("/e/a", 10, 0, "X"),
                event("/e/b", 11, 0, "Y"),
                same_copy,
                other_copy,
                event("/e/a", 12, 0, "X2"),
            ],
            vec![deletion("/e/b", 12, 1)],
        );
        assert_eq!(s.event_revisions, 3);
        assert_eq!(s.new_event_revisions, 3);
        assert_eq!(s.tombstones, 1);
        assert_eq!(s.damaged_records, 1);
        let conn = store.connection();
        let reason: String = conn
            .query_row(
                "SELECT reason FROM damaged_records WHERE source_id = ?1",
                [sid],
                |r| r.get(0),
            )
            .unwrap();
        assert!(reason.contains("holds this revision twice"), "{reason}");
        let links: Vec<(String, i64, i64, String, i64)> = conn
            .prepare(
                "SELECT key, revision, tombstone, recovered_from, live FROM source_revisions
                 WHERE source_id = ?1 ORDER BY revision, sub_revision",
            )
            .unwrap()
            .query_map([sid], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let link = |key: &str, rev, tomb, live| (key.to_string(), rev, tomb, "tree".into(), live);
        assert_eq!(
            links,
            vec![
                link("/e/a", 10, 0, 0),
                link("/e/b", 11, 0, 0),
                link("/e/a", 12, 0, 1),
                link("/e/b", 12, 1, 0),
            ]
        );
        let rows: Vec<(String, i64, i64)> = conn
            .prepare("SELECT key, mod_revision, live FROM events WHERE key != '/e/z' ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                ("/e/a".into(), 10, 0),
                ("/e/b".into(), 11, 0),
                ("/e/a".into(), 12, 1)
            ]
        );
    }

    #[test]
    fn an_unfinished_load_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let mut store = Store::open(&path).unwrap();
        load(
            &mut store,
            "aa",
            10,
            vec![event("/e/a", 10, 0, "X")],
            vec![],
        );
        {
            let mut w = store
                .begin_source(&source("bb"), LoadPlan::default())
                .unwrap();
            w.write(Batch::Events(vec![event("/e/b", 11, 0, "Y")]))
                .unwrap();
            // dropped without finish: a failed run
        }
        drop(store);
        let store = Store::open_read_only(&path).unwrap();
        assert_eq!(rows(&store).len(), 1);
        let sources: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM sources", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sources, 1);
    }

    fn files_in(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A new database appears under its name only once its first source is
    /// in: a failed first load leaves nothing behind, and the next load
    /// starts from an empty database.
    #[test]
    fn a_new_database_appears_once_its_first_source_is_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite");
        let mut store = Store::open(&path).unwrap();
        assert!(!path.exists() && !store.is_published());
        let first_temp = store.working_file().to_path_buf();
        assert_eq!(first_temp.parent(), Some(dir.path()));
        {
            let mut w = store
                .begin_source(&source("aa"), LoadPlan::default())
                .unwrap();
            w.write(Batch::Events(vec![event("/e/a", 10, 0, "X")]))
                .unwrap();
            // dropped without finish: a failed load
        }
        assert!(!path.exists());
        assert!(!first_temp.exists(), "the failed load's file is gone");
        let sources: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM sources", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sources, 0, "nothing of the failed load is seen");

        load(
            &mut store,
            "bb",
            11,
            vec![event("/e/b", 11, 0, "Y")],
            vec![],
        );
        assert!(store.is_published());
        #[cfg(unix)]
        {
            // The mode of any file SQLite creates (0666 less the umask),
            // not a temp file's 0600.
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode();
            let probe = dir.path().join("probe");
            std::fs::write(&probe, b"").unwrap();
            assert_eq!(mode(&path) & 0o777, mode(&probe) & 0o777);
            std::fs::remove_file(&probe).unwrap();
        }
        assert_eq!(store.working_file(), path.as_path());
        assert_eq!(files_in(dir.path()), ["new.sqlite"]);
        // Loads into a published database are transactions again.
        {
            let mut w = store
                .begin_source(&source("cc"), LoadPlan::default())
                .unwrap();
            w.write(Batch::Events(vec![event("/e/c", 12, 0, "Z")]))
                .unwrap();
        }
        drop(store);
        let store = Store::open_read_only(&path).unwrap();
        assert_eq!(rows(&store), vec![("/e/b".into(), 11, 1, 1, None)]);
    }

    /// A file that appears under the database's name while a new database is
    /// being loaded is never replaced.
    #[test]
    fn a_file_created_meanwhile_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite");
        let mut store = Store::open(&path).unwrap();
        std::fs::write(&path, b"someone else's").unwrap();
        let mut w = store
            .begin_source(&source("aa"), LoadPlan::default())
            .unwrap();
        w.write(Batch::Events(vec![event("/e/a", 10, 0, "X")]))
            .unwrap();
        let err = w.finish(&SourceFacts::default()).unwrap_err();
        assert!(matches!(err, StoreError::CreatedMeanwhile { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
        drop(store);
        assert_eq!(files_in(dir.path()), ["new.sqlite"]);
    }

    /// Regression: the journal-mode pragma used to run before the check,
    /// converting someone else's WAL database to rollback mode before
    /// refusing it.
    #[test]
    fn a_foreign_database_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("browser-history.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE visits (url TEXT); INSERT INTO visits VALUES ('x');")
            .unwrap();
        drop(conn);
        let before = std::fs::read(&path).unwrap();
        assert_eq!(&before[18..20], &[2, 2], "WAL mode in the header");
        assert!(matches!(Store::open(&path), Err(StoreError::NotOurs)));
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn refuses_foreign_or_newer_databases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE x (y)").unwrap();
        drop(conn);
        assert!(matches!(Store::open(&path), Err(StoreError::NotOurs)));
        let path = dir.path().join("newer.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        drop(conn);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::UnsupportedVersion(99))
        ));
    }
}
