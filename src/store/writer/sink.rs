//! What every row writer of a source shares: the load's connection, the
//! source's id, how the rows' fates are taken, the running counts, and the
//! link of each revision to the source.

use rusqlite::{params, CachedStatement, Connection};

use crate::store::error::StoreError;
use crate::store::rows::{DamageRow, Fate, LoadSummary, RecoveredFrom, RowFates};
use crate::store::sources::insert_damage;

/// Where one batch's rows go, and the counts of what went there.
pub(super) struct Sink<'a> {
    pub(super) conn: &'a Connection,
    pub(super) source_id: i64,
    /// What the rows' fates say (see [`crate::store::LoadPlan`]).
    pub(super) fates: RowFates,
    pub(super) summary: &'a mut LoadSummary,
}

/// A revision of a key, as the source holds it.
pub(super) struct Link<'r> {
    pub(super) key: &'r str,
    pub(super) revision: i64,
    pub(super) sub_revision: i64,
    pub(super) tombstone: bool,
    pub(super) recovered_from: RecoveredFrom,
    pub(super) live: bool,
}

impl Sink<'_> {
    /// The fate a row is written with: its own, or none for the SQL
    /// derivation at the end.
    pub(super) fn fate(&self, fate: Fate) -> Fate {
        match self.fates {
            RowFates::Derived => Fate::default(),
            RowFates::Complete => fate,
            RowFates::LiveOnly => Fate {
                live: fate.live,
                deleted_revision: None,
            },
        }
    }

    /// Links a revision to the source (`link` is the family's link
    /// statement); false when the source already holds it (a free page
    /// repeating what the tree holds), and the row is then skipped.
    pub(super) fn link(
        &self,
        link: &mut CachedStatement<'_>,
        r: Link<'_>,
    ) -> Result<bool, StoreError> {
        let linked = link.execute(params![
            self.source_id,
            r.key,
            r.revision,
            r.sub_revision,
            r.tombstone,
            r.recovered_from,
            r.live
        ])?;
        Ok(linked == 1)
    }

    /// Stores records that could not be read, and counts them.
    pub(super) fn damage(&mut self, rows: &[DamageRow]) -> Result<(), StoreError> {
        insert_damage(self.conn, self.source_id, rows)?;
        self.summary.damaged_records += rows.len() as u64;
        Ok(())
    }
}
