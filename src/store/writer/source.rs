//! One source's load: [`SourceWriter`] begins it (its `sources` row, the
//! indexes a large load drops, the text index builder), hands each batch to
//! the writer of its rows, and finishes it (links, indexes, liveness and
//! deletion revisions, the text index, the source's totals) before it
//! commits.

use rusqlite::params;

use super::deletions::write_deletions;
use super::events::{write_events, EventTarget};
use super::indexes::IndexRebuild;
use super::leases::write_leases;
use super::objects::write_objects;
use super::sink::Sink;
use super::wal::{write_confirmations, write_replay, write_source_files, write_unresolved};
use crate::helpers::trace;
use crate::store::database::{Load, Store};
use crate::store::error::StoreError;
use crate::store::fates::count_fates;
use crate::store::liveness::{
    derive_deleted_revision, derive_live, derive_source_liveness, link_event_rows,
    rederive_wal_keys, EVENTS, OBJECTS,
};
use crate::store::rows::{Batch, LoadPlan, LoadSummary, RowFates, SourceFacts, SourceRecord};
use crate::store::sources::{insert_source, settle_cluster};
use crate::store::sql::{query_one, query_optional};
use crate::store::text_index::TextIndexBuilder;

impl Store {
    /// Starts loading one source: opens its transaction and records it.
    /// `plan`: how many Event revisions to expect and what their rows'
    /// fates say (see [`LoadPlan`]).
    pub fn begin_source(
        &mut self,
        source: &SourceRecord,
        plan: LoadPlan,
    ) -> Result<SourceWriter<'_>, StoreError> {
        SourceWriter::begin(self.begin_load()?, source, plan)
    }
}

/// The highest row ids of the etcd tables before the load: the rows above
/// them are the load's.
#[derive(Debug, Clone, Copy)]
struct RowsBefore {
    events: i64,
    deletions: i64,
    objects: i64,
    object_deletions: i64,
}

impl RowsBefore {
    fn read(conn: &rusqlite::Connection) -> Result<Self, StoreError> {
        let max_id = |table: &str| -> Result<i64, StoreError> {
            query_one(
                conn,
                &format!("SELECT coalesce(max(id), 0) FROM {table}"),
                [],
            )
        };
        Ok(RowsBefore {
            events: max_id("event_revisions")?,
            deletions: max_id("deletions")?,
            objects: max_id("objects")?,
            object_deletions: max_id("object_deletions")?,
        })
    }

    /// The database held no etcd rows.
    fn none(self) -> bool {
        self.events == 0 && self.deletions == 0 && self.objects == 0 && self.object_deletions == 0
    }
}

/// The newest source (highest head revision) of an etcd that holds a
/// family's keys: one holding its records (`{counts}` > 0), or one with the
/// same etcd members as such a source (a later snapshot of that etcd in
/// which they all expired). The `event_fates` view reads the same.
const NEWEST_FOR: &str = "SELECT id FROM sources s WHERE head_revision IS NOT NULL
       AND ({counts} > 0
            OR etcd_members IN (SELECT etcd_members FROM sources WHERE {counts} > 0))
     ORDER BY head_revision DESC, id DESC LIMIT 1";

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
    before: RowsBefore,
    /// The highest row ids when a data directory's WAL records began.
    wal_from: Option<RowsBefore>,
    /// Query indexes dropped for this load, rebuilt by `finish`.
    indexes: IndexRebuild,
    /// Builds `events_fts` beside the load while it is empty (see
    /// [`crate::store::text_index`]).
    text_index: Option<TextIndexBuilder>,
    summary: LoadSummary,
}

impl<'c> SourceWriter<'c> {
    fn begin(load: Load<'c>, source: &SourceRecord, plan: LoadPlan) -> Result<Self, StoreError> {
        let tx = load.conn();
        let before = RowsBefore::read(tx)?;
        let indexes = IndexRebuild::drop_for(tx, plan.expected_rows)?;
        let source_id = insert_source(tx, source)?;
        // When it cannot start, the rows are indexed in place at the end.
        let text_index = if before.events == 0 {
            TextIndexBuilder::start(load.directory()).ok()
        } else {
            None
        };
        let first_etcd_rows = before.none();
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
            before,
            wal_from: None,
            indexes,
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
        let mut sink = Sink {
            conn: self.load.conn(),
            source_id: self.source_id,
            fates: self.fates,
            summary: &mut self.summary,
        };
        match batch {
            Batch::Events(rows) => write_events(
                &mut sink,
                EventTarget {
                    linked_at_end: self.link_events_at_end,
                    text_index: &mut self.text_index,
                },
                rows,
            ),
            Batch::Deletions(rows) => write_deletions(&mut sink, &rows, EVENTS),
            Batch::Damage(rows) => sink.damage(&rows),
            Batch::Leases(rows) => write_leases(&mut sink, &rows),
            Batch::Objects(rows) => write_objects(&mut sink, &rows),
            Batch::ObjectDeletions(rows) => write_deletions(&mut sink, &rows, OBJECTS),
            Batch::Unresolved(rows) => write_unresolved(&mut sink, &rows),
            Batch::Confirmations(rows) => write_confirmations(&mut sink, &rows),
            Batch::WalBegins => {
                self.wal_from = Some(RowsBefore::read(sink.conn)?);
                Ok(())
            }
            Batch::WalReplay(row) => write_replay(&mut sink, &row),
            Batch::SourceFiles(rows) => write_source_files(&mut sink, &rows),
        }
    }

    /// Derives liveness, deletion revisions and the text index, records the
    /// source's totals and commits.
    pub fn finish(mut self, facts: &SourceFacts) -> Result<LoadSummary, StoreError> {
        // A content already loaded (known only now for a live pull) ends
        // the load before the work below.
        self.record_content(facts)?;
        // Another cluster's source is refused before any work.
        self.summary.cluster = settle_cluster(
            self.load.conn(),
            self.source_id,
            self.summary.kube_system_uid.as_deref(),
        )?;
        if !facts.etcd_members.is_empty() {
            self.load.conn().execute(
                "UPDATE sources SET etcd_members = ?2 WHERE id = ?1",
                params![
                    self.source_id,
                    serde_json::to_string(&facts.etcd_members).unwrap_or_default()
                ],
            )?;
        }
        trace("store: finishing");
        self.load.start_writeback();
        // The text index is built while the other indexes are.
        if let Some(builder) = &mut self.text_index {
            builder.close();
        }
        let tx = self.load.conn();
        if self.link_events_at_end {
            link_event_rows(tx)?;
            trace("store: rows linked");
        }
        self.indexes.rebuild(tx)?;
        trace("store: indexes built");
        if self.fates == RowFates::Derived {
            derive_source_liveness(tx, self.source_id, EVENTS)?;
            derive_source_liveness(tx, self.source_id, OBJECTS)?;
            self.summary.live_event_revisions = query_one::<i64>(
                tx,
                "SELECT count(*) FROM source_revisions WHERE source_id = ?1 AND live = 1",
                [self.source_id],
            )? as u64;
        }
        self.rederive_wal_keys()?;
        trace("store: liveness derived");
        self.record_totals(facts)?;
        self.derive_rows()?;
        trace("store: live and deleted_revision derived");
        self.summary.fates = count_fates(self.load.conn(), Some(self.source_id))?;
        trace("store: fates counted");
        self.index_text()?;
        trace("store: text index in");
        let summary = std::mem::take(&mut self.summary);
        self.load.commit()?;
        trace("store: committed");
        Ok(summary)
    }

    /// Refuses a content already loaded as another source, else records
    /// the hash known only at the end (a live pull hashes what it read).
    fn record_content(&self, facts: &SourceFacts) -> Result<(), StoreError> {
        let Some(sha) = &facts.sha256 else {
            return Ok(());
        };
        let tx = self.load.conn();
        let sid = self.source_id;
        let same: Option<i64> = query_optional(
            tx,
            "SELECT id FROM sources WHERE sha256 = ?1 AND prefix = (SELECT prefix FROM sources WHERE id = ?2) AND id != ?2",
            params![sha, sid],
        )?;
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
        Ok(())
    }

    /// The source's facts and counts, into its `sources` row.
    fn record_totals(&self, facts: &SourceFacts) -> Result<(), StoreError> {
        let tx = self.load.conn();
        let sid = self.source_id;
        if let Some(size) = facts.size_bytes {
            tx.execute(
                "UPDATE sources SET size_bytes = ?2 WHERE id = ?1",
                params![sid, size as i64],
            )?;
        }
        let s = &self.summary;
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
                s.event_revisions as i64,
                s.new_event_revisions as i64,
                s.live_event_revisions as i64,
                s.tombstones as i64,
                s.damaged_records as i64,
                s.free_page_event_revisions as i64,
                s.free_page_tombstones as i64,
                s.object_revisions as i64,
                s.object_tombstones as i64,
            ],
        )?;
        Ok(())
    }

    /// `live` and `deleted_revision` of the rows, as far as the rows did
    /// not bring them.
    fn derive_rows(&self) -> Result<(), StoreError> {
        let tx = self.load.conn();
        // `live` follows the newest view of the cluster: the source with
        // the highest head revision. When that is this source, every row may
        // change; otherwise only the rows this source added need a value.
        // For each family, among the sources of an etcd that holds its keys
        // (see `NEWEST_FOR`): a cluster keeping Events in an etcd of their
        // own (`--etcd-servers-overrides`) has two revision counters, and
        // the other etcd's head says nothing of the Events.
        let newest_for = |counts: &str| -> Result<Option<i64>, StoreError> {
            query_optional(tx, &NEWEST_FOR.replace("{counts}", counts), [])
        };
        let newest_events = newest_for("event_revisions + tombstones")?;
        let newest_objects = newest_for("object_revisions + object_tombstones")?;
        // With fates in the rows, this source is the whole history and the
        // newest source: its rows already hold `live`, and with complete
        // fates `deleted_revision` too.
        let before = self.before;
        for (family, rows_before, deletions_before, newest) in [
            (EVENTS, before.events, before.deletions, newest_events),
            (
                OBJECTS,
                before.objects,
                before.object_deletions,
                newest_objects,
            ),
        ] {
            match self.fates {
                RowFates::Derived => {
                    if let Some(newest) = newest {
                        let scope = if newest == self.source_id {
                            0
                        } else {
                            rows_before
                        };
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
        Ok(())
    }

    /// With complete fates from a data directory's db, the keys its WAL
    /// added rows or tombstones to are derived again (see
    /// [`rederive_wal_keys`]), and the live rows counted anew.
    fn rederive_wal_keys(&mut self) -> Result<(), StoreError> {
        let (RowFates::Complete, Some(wal)) = (self.fates, self.wal_from) else {
            return Ok(());
        };
        let tx = self.load.conn();
        for (family, rows_from, deletions_from) in [
            (EVENTS, wal.events, wal.deletions),
            (OBJECTS, wal.objects, wal.object_deletions),
        ] {
            rederive_wal_keys(tx, self.source_id, family, rows_from, deletions_from)?;
        }
        self.summary.live_event_revisions = query_one::<i64>(
            tx,
            "SELECT count(*) FROM source_revisions WHERE source_id = ?1 AND live = 1",
            [self.source_id],
        )? as u64;
        Ok(())
    }

    /// The load's rows into `events_fts`: copied from the builder's index,
    /// or indexed in place when there is none or it failed.
    fn index_text(&mut self) -> Result<(), StoreError> {
        let tx = self.load.conn();
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
                [self.before.events],
            )?;
        }
        Ok(())
    }
}
