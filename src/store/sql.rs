//! Small helpers over rusqlite for the store's own queries: a query whose
//! answer is one value.

use rusqlite::types::FromSql;
use rusqlite::{Connection, OptionalExtension, Params};

use super::error::StoreError;

/// The first column of the one row `sql` returns (an error when it returns
/// none).
pub(super) fn query_one<T: FromSql>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<T, StoreError> {
    Ok(conn.query_row(sql, params, |r| r.get(0))?)
}

/// The first column of the first row `sql` returns, `None` when it returns
/// no row.
pub(super) fn query_optional<T: FromSql>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Option<T>, StoreError> {
    Ok(conn.query_row(sql, params, |r| r.get(0)).optional()?)
}
