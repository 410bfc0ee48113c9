//! The query indexes a large load drops at its start and builds again at
//! its end: one sort each, much cheaper than keeping them up to date row by
//! row (see [`crate::store::schema::QueryIndex`]).

use rusqlite::Connection;

use crate::store::error::StoreError;
use crate::store::schema::{
    QueryIndex, EVENT_QUERY_INDEXES_V6, OBJECT_QUERY_INDEXES, OBJECT_QUERY_INDEXES_V6,
    QUERY_INDEXES,
};
use crate::store::sql::query_one;

/// The fewest expected rows for which rebuilding pays.
const REBUILD_FROM_ROWS: u64 = 10_000;

/// Which query indexes a load dropped, to build again before it commits.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct IndexRebuild {
    /// The indexes of `event_revisions`.
    events: bool,
    /// The indexes of `objects`.
    objects: bool,
}

impl IndexRebuild {
    /// Drops the indexes of a table when the load expects at least
    /// [`REBUILD_FROM_ROWS`] rows, and at least as many as the table holds.
    pub(super) fn drop_for(conn: &Connection, expected_rows: u64) -> Result<Self, StoreError> {
        Ok(IndexRebuild {
            events: drop_if_worth(conn, expected_rows, "event_revisions", EVENT_INDEXES)?,
            objects: drop_if_worth(conn, expected_rows, "objects", OBJECT_INDEXES)?,
        })
    }

    /// Builds again what [`drop_for`](Self::drop_for) dropped.
    pub(super) fn rebuild(self, conn: &Connection) -> Result<(), StoreError> {
        for (dropped, indexes) in [(self.events, EVENT_INDEXES), (self.objects, OBJECT_INDEXES)] {
            if dropped {
                for index in indexes.iter().flat_map(|list| list.iter()) {
                    conn.execute_batch(index.create)?;
                }
            }
        }
        Ok(())
    }
}

/// Every version's query indexes of a table.
const EVENT_INDEXES: &[&[QueryIndex]] = &[QUERY_INDEXES, EVENT_QUERY_INDEXES_V6];
const OBJECT_INDEXES: &[&[QueryIndex]] = &[OBJECT_QUERY_INDEXES, OBJECT_QUERY_INDEXES_V6];

fn drop_if_worth(
    conn: &Connection,
    expected_rows: u64,
    table: &str,
    indexes: &[&[QueryIndex]],
) -> Result<bool, StoreError> {
    let worth = expected_rows >= REBUILD_FROM_ROWS && {
        let existing: i64 = query_one(conn, &format!("SELECT count(*) FROM {table}"), [])?;
        expected_rows as i64 >= existing
    };
    if worth {
        for index in indexes.iter().flat_map(|list| list.iter()) {
            conn.execute_batch(&format!("DROP INDEX IF EXISTS {}", index.name))?;
        }
    }
    Ok(worth)
}
