//! The vocabulary of rows handed to the store by the layers above.

use rusqlite::types::{ToSql, ToSqlOutput};

/// Where a record was found: the `recovered_from` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveredFrom {
    /// The bbolt tree in use: what etcd itself would read.
    #[default]
    Tree,
    /// A page not reachable from the tree: a leaf bbolt freed when it wrote
    /// a newer copy, or one cut off by damage.
    FreePage,
    /// A running etcd, read through its API (range and watch).
    Live,
}

impl RecoveredFrom {
    /// The column's text (docs/schema.md).
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveredFrom::Tree => "tree",
            RecoveredFrom::FreePage => "free-page",
            RecoveredFrom::Live => "live",
        }
    }
}

impl ToSql for RecoveredFrom {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}
