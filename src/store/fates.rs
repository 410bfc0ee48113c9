//! What became of Event revisions: live, superseded by a later revision of
//! their Event, gone (the key's generation ended) or unknown — the
//! `event_fates` view, counted. The ingest summary, `expired_events` and
//! the saved question `expired-events` all read that one view, so that
//! every way of asking which Events were gone gives the same answer.

use rusqlite::Connection;

use super::database::Store;
use super::error::StoreError;
use super::rows::EventFateCounts;

/// The fates of the Event revisions `source` holds (every Event revision
/// of the database when `None`).
pub(super) fn count_fates(
    conn: &Connection,
    source: Option<i64>,
) -> Result<EventFateCounts, StoreError> {
    let sql = match source {
        Some(_) => {
            "SELECT f.fate, f.gone_because, count(*) FROM event_fates f
             JOIN source_revisions r ON r.source_id = ?1 AND r.tombstone = 0
               AND r.revision = f.mod_revision AND r.sub_revision = f.sub_revision
               AND r.key = f.key
             GROUP BY 1, 2 ORDER BY 3 DESC, 2"
        }
        None => {
            "SELECT fate, gone_because, count(*) FROM event_fates
             GROUP BY 1, 2 ORDER BY 3 DESC, 2"
        }
    };
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(source), |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, i64>(2)? as u64,
        ))
    })?;
    let mut counts = EventFateCounts::default();
    for row in rows {
        let (fate, because, n) = row?;
        match fate.as_str() {
            "live" => counts.live += n,
            "superseded" => counts.superseded += n,
            "gone" => {
                counts.gone += n;
                counts
                    .gone_because
                    .push((because.unwrap_or_else(|| "unknown".into()), n));
            }
            _ => counts.unknown += n,
        }
    }
    Ok(counts)
}

impl Store {
    /// The fates of the Event revisions `source` holds, or of every Event
    /// revision in the database (`None`), as the database knows them now.
    pub fn event_fates(&self, source: Option<i64>) -> Result<EventFateCounts, StoreError> {
        count_fates(self.connection(), source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_rows::{deletion, event, load, source};
    use crate::store::{Batch, LoadPlan, RecoveredFrom, SourceFacts};

    fn fates(store: &Store) -> Vec<(String, i64, String, Option<String>)> {
        let mut st = store
            .connection()
            .prepare("SELECT key, mod_revision, fate, gone_because FROM event_fates ORDER BY mod_revision, key")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Older counts of a live Event are superseded, not gone; an Event
    /// whose tombstone is held, or whose tombstone was compacted away (a
    /// free page holds its last revision, the head does not hold its key),
    /// is gone, saying how; the summary, `expired_events` and the saved
    /// question agree. Rows newer than every known head revision are
    /// unknown.
    #[test]
    fn superseded_gone_and_unknown_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.sqlite")).unwrap();
        let mut compacted = event("/e/c", 5, 0, "Killing");
        compacted.recovered_from = RecoveredFrom::FreePage;
        let mut count2 = event("/e/a", 11, 0, "BackOff");
        count2.create_revision = 10;
        let summary = load(
            &mut store,
            "aa",
            20,
            vec![
                compacted,
                event("/e/a", 10, 0, "BackOff"),
                event("/e/b", 10, 1, "Pulled"),
                count2,
            ],
            vec![deletion("/e/b", 12, 0)],
        );
        let want = [
            ("/e/c", 5, "gone", Some("compacted-key-absent-from-head")),
            ("/e/a", 10, "superseded", None),
            ("/e/b", 10, "gone", Some("tombstone")),
            ("/e/a", 11, "live", None),
        ]
        .map(|(k, r, f, b)| (k.to_string(), r, f.to_string(), b.map(String::from)));
        assert_eq!(fates(&store), want);
        assert_eq!(
            summary.fates,
            EventFateCounts {
                live: 1,
                superseded: 1,
                gone: 2,
                gone_because: vec![
                    ("compacted-key-absent-from-head".into(), 1),
                    ("tombstone".into(), 1)
                ],
                unknown: 0,
            }
        );
        let conn = store.connection();
        let expired: i64 = conn
            .query_row("SELECT count(*) FROM expired_events", [], |r| r.get(0))
            .unwrap();
        let asked: Vec<(String, Option<i64>)> = conn
            .prepare(include_str!("../../queries/expired-events.sql"))
            .unwrap()
            .query_map([], |r| {
                Ok((r.get("gone_because")?, r.get("deleted_at_revision")?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(expired, 2);
        assert_eq!(
            asked,
            [
                ("tombstone".to_string(), Some(12)),
                ("compacted-key-absent-from-head".to_string(), None)
            ]
        );

        // A WAL on its own (no head revision) adds a revision past every
        // known head: its liveness is unknown, not "expired or deleted".
        let mut w = store
            .begin_source(&source("bb"), LoadPlan::default())
            .unwrap();
        w.write(Batch::Events(vec![event("/e/d", 30, 0, "Started")]))
            .unwrap();
        let summary = w.finish(&SourceFacts::default()).unwrap();
        assert_eq!(
            (
                summary.fates.unknown,
                summary.fates.gone,
                summary.fates.live
            ),
            (1, 0, 0)
        );
        assert_eq!(store.event_fates(None).unwrap().unknown, 1);
    }
}
