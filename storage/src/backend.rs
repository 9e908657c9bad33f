//! The database drivers: one small interface ([`Conn`]), two implementations
//! (SQLite here, PostgreSQL in `pg.rs`).
//!
//! SQL is written once, with numbered placeholders (`?1`, `?2`, …) that SQLite
//! takes as they are and the PostgreSQL driver rewrites to `$1`, `$2`, …. Values cross the
//! interface as [`Val`]: the schema only has integers (`BIGINT`, `INTEGER`) and text.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{params_from_iter, Connection, ErrorCode};

use crate::error::{DbError, Result, StorageError};

/// A value bound to a placeholder or read from a column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    /// SQL NULL.
    Null,
    /// An integer column (`BIGINT` or `INTEGER`).
    Int(i64),
    /// A text column.
    Text(String),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}

impl From<u32> for Val {
    fn from(v: u32) -> Self {
        Val::Int(i64::from(v))
    }
}

impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_owned())
    }
}

impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Val::Null, Into::into)
    }
}

/// One result row.
pub struct Row(pub Vec<Val>);

impl Row {
    /// Column `i`, or [`StorageError::Corrupt`] if the row is shorter.
    pub fn get(&self, i: usize) -> Result<&Val> {
        self.0.get(i).ok_or(StorageError::Corrupt("missing column"))
    }
}

/// Which SQL dialect a connection speaks, for the few statements that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

/// Starts a statement's text when its plan does not depend on the values bound (a lookup
/// by primary or unique key, an index probe): PostgreSQL then plans it once per connection
/// (a generic plan) instead of at every execution. Other statements are planned for their
/// values each time, so a plan made while a table was small cannot outlive its fit; a
/// generic plan is remade when `ANALYZE` updates the table's statistics. Deferred writes
/// ([`Conn::exec_deferred`]) always run under generic plans. An SQL comment: SQLite ignores
/// it.
pub const GENERIC_PLAN: &str = "/* generic plan */ ";

/// A position in a connection's queue of deferred statements (see [`Conn::deferred_mark`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeferredMark {
    /// How many times the queue had been sent (or dropped) when the mark was taken.
    pub(crate) sent: u64,
    /// Its length then.
    pub(crate) queued: usize,
}

/// A database connection.
pub trait Conn: Send {
    /// The dialect.
    fn dialect(&self) -> Dialect;
    /// Starts a transaction: a write transaction takes the write lock first (SQLite `BEGIN
    /// IMMEDIATE`); a read transaction sees one consistent snapshot.
    fn begin(&mut self, write: bool) -> Result<()>;
    /// Commits the open transaction.
    fn commit(&mut self) -> Result<()>;
    /// Rolls the open transaction back (errors are ignored: the connection resets at the next
    /// `begin`).
    fn rollback(&mut self);
    /// Runs a query and returns every row.
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>>;
    /// Runs a statement and returns the number of rows changed.
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<usize>;
    /// Runs several statements without parameters (migrations, savepoints).
    fn batch(&mut self, sql: &str) -> Result<()>;
    /// Runs a statement whose row count nobody needs. Inside a transaction a driver may send
    /// it later, together with the next call that waits for an answer (PostgreSQL pipelines
    /// it); its failure is then reported by that call or by `commit`, and the transaction is
    /// not committed. SQLite runs it at once. Only inserts and updates by primary key may be
    /// deferred: PostgreSQL runs them under generic plans (see [`GENERIC_PLAN`]) and may send
    /// a run of inserts as one multi-row statement.
    fn exec_deferred(&mut self, sql: &str, params: &[Val]) -> Result<()> {
        self.exec(sql, params).map(|_| ())
    }
    /// Runs several queries, in order, and returns their rows in the same order. PostgreSQL
    /// sends them all (after any deferred statements) in one round trip; a query there sees
    /// the effects of the ones before it, exactly as if they had been run one by one.
    fn query_many(&mut self, queries: &[(&str, Vec<Val>)]) -> Result<Vec<Vec<Row>>> {
        queries
            .iter()
            .map(|(sql, params)| self.query(sql, params))
            .collect()
    }
    /// [`Conn::batch`] with the same deferral as [`Conn::exec_deferred`].
    fn batch_deferred(&mut self, sql: &str) -> Result<()> {
        self.batch(sql)
    }
    /// Where the queue of deferred statements ends now, if this driver defers statements
    /// inside a transaction (PostgreSQL); `None` if it runs each at once (SQLite).
    fn deferred_mark(&self) -> Option<DeferredMark> {
        None
    }
    /// Drops every statement deferred since `mark`, if none of them has been sent to the
    /// server yet, and returns true: nothing of them happened. Returns false, changing
    /// nothing, if some may have been sent.
    fn discard_deferred(&mut self, _mark: DeferredMark) -> bool {
        false
    }
    /// Takes back the one statement deferred right at `mark` (the statements deferred after
    /// it stay queued), if it has not been sent yet, and returns true; false otherwise.
    fn withdraw_deferred(&mut self, _mark: DeferredMark) -> bool {
        false
    }
    /// Whether a [`StorageError::Busy`] from this backend is worth retrying the whole
    /// transaction for (PostgreSQL serialization failures and deadlocks; SQLite has already
    /// waited out its busy timeout).
    fn retry_on_busy(&self) -> bool;
}

// --- SQLite ---------------------------------------------------------------------------------

fn sqlite_err(e: rusqlite::Error) -> StorageError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StorageError::Busy,
        _ => StorageError::Db(DbError::new(e)),
    }
}

/// An embedded SQLite database: WAL mode, `synchronous = FULL` (every commit is on disk before
/// the call returns), foreign keys on.
pub struct Sqlite {
    conn: Connection,
}

impl Sqlite {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Self> {
        let conn = Connection::open(path).map_err(sqlite_err)?;
        conn.busy_timeout(busy_timeout).map_err(sqlite_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sqlite_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StorageError::Corrupt(
                "cannot switch the database to WAL mode",
            ));
        }
        // temp_store = MEMORY keeps the savepoints' sub-journals off the disk.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;",
        )
        .map_err(sqlite_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        // A query plan must not depend on the values bound: otherwise (this SQLite is built
        // with STAT4) statements comparing text columns are prepared again at every call.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(sqlite_err)?;
        Ok(Sqlite { conn })
    }

    fn val(v: ValueRef<'_>) -> Result<Val> {
        match v {
            ValueRef::Null => Ok(Val::Null),
            ValueRef::Integer(i) => Ok(Val::Int(i)),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(|s| Val::Text(s.to_owned()))
                .map_err(|_| StorageError::Corrupt("text is not UTF-8")),
            ValueRef::Real(_) | ValueRef::Blob(_) => {
                Err(StorageError::Corrupt("unexpected column type"))
            }
        }
    }
}

fn sqlite_param(v: &Val) -> rusqlite::types::Value {
    match v {
        Val::Null => rusqlite::types::Value::Null,
        Val::Int(i) => rusqlite::types::Value::Integer(*i),
        Val::Text(s) => rusqlite::types::Value::Text(s.clone()),
    }
}

impl Conn for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn begin(&mut self, write: bool) -> Result<()> {
        if !self.conn.is_autocommit() {
            // A transaction left open by a panic in a caller's closure.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.conn
            .execute_batch(if write { "BEGIN IMMEDIATE" } else { "BEGIN" })
            .map_err(sqlite_err)
    }

    fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(sqlite_err)
    }

    fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(sqlite_err)?;
        let n = stmt.column_count();
        let mut rows = stmt
            .query(params_from_iter(params.iter().map(sqlite_param)))
            .map_err(sqlite_err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sqlite_err)? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(Self::val(r.get_ref(i).map_err(sqlite_err)?)?);
            }
            out.push(Row(row));
        }
        Ok(out)
    }

    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<usize> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(sqlite_err)?;
        stmt.execute(params_from_iter(params.iter().map(sqlite_param)))
            .map_err(sqlite_err)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(sqlite_err)
    }

    fn retry_on_busy(&self) -> bool {
        // BEGIN IMMEDIATE already waited up to the busy timeout for the lock.
        false
    }
}
