//! Event revisions: their columns into `event_revisions`, their value and
//! JSON into `event_values`, each linked to the source (or all at once at
//! the end of a first load), their indexed text handed to the text index
//! builder. A revision loaded again is compared with the copy already
//! stored.

use rusqlite::{params, CachedStatement, Connection, ToSql};

use super::sink::{Link, Sink};
use crate::store::error::StoreError;
use crate::store::liveness::EVENTS;
use crate::store::rows::{DamageRow, EventRow, Fate, RecoveredFrom};
use crate::store::text_index::{TextIndexBuilder, TextRow};

const INSERT_EVENT: &str = "INSERT INTO event_revisions (
    source_id, key, mod_revision, sub_revision, create_revision, version, lease,
    recovered_from, encoding, decode_note, unknown_fields, api_version, kind,
    namespace, name, uid, creation_timestamp, reason, message, type, count,
    first_timestamp, last_timestamp, event_time, series_count, series_last_observed_time,
    occurred_at, action, reporting_component, reporting_instance, source_component, source_host,
    involved_kind, involved_namespace, involved_name, involved_uid, involved_api_version,
    involved_resource_version, involved_field_path,
    related_kind, related_namespace, related_name, related_uid, live, deleted_revision,
    raft_index, raft_term, revision_basis)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
    ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37,
    ?38, ?39, ?40, ?41, ?42, ?43, ?44, ?45, ?46, ?47, ?48)
  ON CONFLICT (mod_revision, sub_revision, key) DO NOTHING";

/// The value and JSON of the revision just inserted into `event_revisions`.
const INSERT_EVENT_VALUE: &str =
    "INSERT INTO event_values (id, object, raw) VALUES (last_insert_rowid(), ?1, ?2)";

/// A WAL entry that wrote a revision already stored: the row gains its
/// raft entry (the tree's copy and the WAL's agree, or a damage row says
/// they do not).
pub(super) const SET_RAFT_ENTRY: &str = "UPDATE event_revisions SET raft_index = ?4, raft_term = ?5
             WHERE mod_revision = ?2 AND sub_revision = ?3 AND key = ?1 AND raft_index IS NULL";

/// The stored copy of a revision, to compare a second copy with.
const SELECT_STORED_COPY: &str =
    "SELECT v.raw, r.source_id FROM event_revisions r JOIN event_values v USING (id)
             WHERE r.mod_revision = ?2 AND r.sub_revision = ?3 AND r.key = ?1";

/// How the Event rows of a load are written, beside the [`Sink`].
pub(super) struct EventTarget<'a> {
    /// The source's links are made at the end of the load (see
    /// [`crate::store::liveness::link_event_rows`]), not row by row.
    pub(super) linked_at_end: bool,
    /// Builds `events_fts` beside the load; set to `None` when it stopped.
    pub(super) text_index: &'a mut Option<TextIndexBuilder>,
}

/// The statements of one batch.
struct Statements<'c> {
    insert: CachedStatement<'c>,
    insert_value: CachedStatement<'c>,
    link: CachedStatement<'c>,
    stored_copy: CachedStatement<'c>,
    set_raft_entry: CachedStatement<'c>,
}

impl<'c> Statements<'c> {
    fn prepare(conn: &'c Connection) -> Result<Self, StoreError> {
        Ok(Statements {
            insert: conn.prepare_cached(INSERT_EVENT)?,
            insert_value: conn.prepare_cached(INSERT_EVENT_VALUE)?,
            link: conn.prepare_cached(EVENTS.link)?,
            stored_copy: conn.prepare_cached(SELECT_STORED_COPY)?,
            set_raft_entry: conn.prepare_cached(SET_RAFT_ENTRY)?,
        })
    }
}

/// Writes a batch of Event revisions.
pub(super) fn write_events(
    sink: &mut Sink<'_>,
    target: EventTarget<'_>,
    mut rows: Vec<EventRow>,
) -> Result<(), StoreError> {
    let mut st = Statements::prepare(sink.conn)?;
    let mut conflicts = Vec::new();
    let mut text_rows = Vec::with_capacity(if target.text_index.is_some() {
        rows.len()
    } else {
        0
    });
    for row in &mut rows {
        sink.summary.wal_event_revisions += u64::from(row.wal.is_some());
        let fate = sink.fate(row.fate);
        let linked = target.linked_at_end
            || sink.link(
                &mut st.link,
                Link {
                    key: &row.key,
                    revision: row.mod_revision,
                    sub_revision: row.sub_revision,
                    tombstone: false,
                    recovered_from: row.recovered_from,
                    live: fate.live,
                },
            )?;
        if !linked {
            // This source holds the revision already (a free page
            // repeating the tree, the WAL confirming it): its copies must
            // agree.
            let check = differing_copy(&mut st.stored_copy, row, sink.source_id, true)?;
            confirm_from_wal(&mut st.set_raft_entry, row, check.damage.is_none())?;
            conflicts.extend(check.damage);
            continue;
        }
        bind_event(&mut st.insert, sink.source_id, row, fate)?;
        let inserted = st.insert.raw_execute()?;
        if inserted == 0 {
            // The revision is already in: from an earlier source, or
            // from this one when its links are made at the end.
            let check = differing_copy(&mut st.stored_copy, row, sink.source_id, false)?;
            if check.held_twice {
                confirm_from_wal(&mut st.set_raft_entry, row, check.damage.is_none())?;
            }
            conflicts.extend(check.damage);
            if check.held_twice {
                // One revision, one row: counted once.
                continue;
            }
        }
        count_revision(sink, row, fate);
        if inserted == 1 {
            if target.text_index.is_some() {
                text_rows.push(text_row(sink.conn.last_insert_rowid(), row));
            }
            st.insert_value.execute(params![row.object_json, row.raw])?;
            sink.summary.new_event_revisions += 1;
        }
    }
    drop(st);
    // Freeing a batch is the decode stage's business, not the writer's.
    drop(rows);
    if let Some(builder) = &*target.text_index {
        if !text_rows.is_empty() && !builder.send(text_rows) {
            // It stopped: the rows are indexed in place at the end.
            *target.text_index = None;
        }
    }
    if !conflicts.is_empty() {
        sink.damage(&conflicts)?;
    }
    Ok(())
}

/// A WAL copy of a revision this source's db holds too: the stored row
/// gains its raft entry when the two agree.
fn confirm_from_wal(
    set_raft_entry: &mut CachedStatement<'_>,
    row: &EventRow,
    agree: bool,
) -> Result<(), StoreError> {
    let Some(wal) = row.wal.filter(|_| agree) else {
        return Ok(());
    };
    set_raft_entry.execute(params![
        row.key,
        row.mod_revision,
        row.sub_revision,
        wal.raft_index as i64,
        wal.raft_term as i64
    ])?;
    Ok(())
}

/// Counts a revision the source holds (once however many copies it holds).
fn count_revision(sink: &mut Sink<'_>, row: &EventRow, fate: Fate) {
    sink.summary.event_revisions += 1;
    sink.summary.live_event_revisions += u64::from(fate.live);
    match row.recovered_from {
        RecoveredFrom::FreePage => sink.summary.free_page_event_revisions += 1,
        RecoveredFrom::Wal => sink.summary.wal_only_event_revisions += 1,
        RecoveredFrom::SnapCopy => sink.summary.snap_copy_event_revisions += 1,
        RecoveredFrom::Tree | RecoveredFrom::Live => {}
    }
}

/// The indexed columns of a row just inserted, taken out of it.
fn text_row(id: i64, row: &mut EventRow) -> TextRow {
    let f = &mut row.decoded.fields;
    TextRow {
        id,
        reason: f.reason.take(),
        message: f.message.take(),
        involved_name: f.involved_name.take(),
    }
}

/// Binds a row to [`INSERT_EVENT`]. Most columns of most Events are NULL:
/// only the values present are bound (the statement's bindings are NULL
/// after clearing).
fn bind_event(
    insert: &mut CachedStatement<'_>,
    source_id: i64,
    row: &EventRow,
    fate: Fate,
) -> rusqlite::Result<()> {
    let d = &row.decoded;
    let f = &d.fields;
    insert.clear_bindings();
    let mut at = 0;
    let mut bind = |value: Option<&dyn ToSql>| -> rusqlite::Result<()> {
        at += 1;
        match value {
            Some(v) => insert.raw_bind_parameter(at, v),
            None => Ok(()),
        }
    };
    bind(Some(&source_id))?;
    bind(Some(&row.key))?;
    bind(Some(&row.mod_revision))?;
    bind(Some(&row.sub_revision))?;
    // A WAL row whose key's earlier history is unknown has no create
    // revision or version (etcd never stores 0 for either).
    let known = |v: &i64| (row.wal.is_none() || *v != 0).then_some(*v);
    let (create_revision, version) = (known(&row.create_revision), known(&row.version));
    bind(int(&create_revision))?;
    bind(int(&version))?;
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
    let raft_index = row.wal.map(|w| w.raft_index as i64);
    let raft_term = row.wal.map(|w| w.raft_term as i64);
    bind(int(&raft_index))?;
    bind(int(&raft_term))?;
    bind(row.wal.as_ref().map(|w| &w.basis as &dyn ToSql))
}

/// A text column's value to bind, `None` for NULL.
fn text(value: &Option<String>) -> Option<&dyn ToSql> {
    value.as_ref().map(|v| v as &dyn ToSql)
}

/// An integer column's value to bind, `None` for NULL.
fn int(value: &Option<i64>) -> Option<&dyn ToSql> {
    value.as_ref().map(|v| v as &dyn ToSql)
}

/// What comparing a second copy of a revision with the stored one found.
#[derive(Debug)]
struct CopyCheck {
    /// This source held the revision already: one revision, one row.
    held_twice: bool,
    /// A damaged-record note when the two copies' bytes differ (the
    /// earlier copy stays).
    damage: Option<DamageRow>,
}

/// A revision already in `event_revisions` when `row` brings it again:
/// whether this source held it already (`held_before`, or it loaded the
/// row), and whether the two copies differ.
fn differing_copy(
    stored_copy: &mut CachedStatement<'_>,
    row: &EventRow,
    source_id: i64,
    held_before: bool,
) -> Result<CopyCheck, StoreError> {
    let (raw, other): (Vec<u8>, i64) = stored_copy
        .query_row(params![row.key, row.mod_revision, row.sub_revision], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let held_twice = held_before || other == source_id;
    if raw == row.raw {
        return Ok(CopyCheck {
            held_twice,
            damage: None,
        });
    }
    let reason = if held_twice {
        format!(
            "this source holds this revision twice with different values (the copy {} differs from the one read first, which is kept in events)",
            match row.recovered_from {
                RecoveredFrom::FreePage => "in a free page",
                RecoveredFrom::Wal => "replayed from the WAL",
                RecoveredFrom::SnapCopy => "in an older copy of the db",
                RecoveredFrom::Tree | RecoveredFrom::Live => "read later",
            }
        )
    } else {
        format!(
            "this revision's stored value differs from the copy loaded from source {other}; the earlier copy is kept in events"
        )
    };
    Ok(CopyCheck {
        held_twice,
        damage: Some(DamageRow {
            revision: Some(row.mod_revision),
            sub_revision: Some(row.sub_revision),
            key: Some(row.key.clone()),
            reason,
            ..DamageRow::default()
        }),
    })
}

#[cfg(test)]
mod tests {
    use crate::store::sql::query_one;
    use crate::store::test_rows::{deletion, event, load};
    use crate::store::{RecoveredFrom, Store};

    /// A revision a later source brings with other bytes is a damaged
    /// record naming the source whose copy is kept.
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
        let reason: String =
            query_one(store.connection(), "SELECT reason FROM damaged_records", []).unwrap();
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
        let reason: String = query_one(
            conn,
            "SELECT reason FROM damaged_records WHERE source_id = ?1",
            [sid],
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
}
