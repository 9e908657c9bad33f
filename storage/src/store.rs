//! Migrations and [`SqlStore`], a database with its own schema: the same drivers (SQLite,
//! PostgreSQL), the same numbered migrations recorded in `schema_migrations`, the same
//! transactions. The floating license server keeps its leases and audit log in one
//! ([`SqlStore`]), so every Tollgate server stores its state the same way.
//!
//! A store's SQL follows the ledger's rules (see the authority's `ledger/schema.rs`): what SQLite and PostgreSQL both
//! accept, numbered placeholders `?1`, `?2`, …, only integers and text.

use std::path::Path;
use std::time::Duration;

use crate::backend::{self, Conn, Dialect, Row, Val};
use crate::error::{Result, StorageError};

/// One step of a schema. Released migrations are never edited: a change is a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    /// Applied in increasing order from 1; recorded in `schema_migrations`.
    pub version: u32,
    /// A short name, recorded beside the version.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Brings the schema of `conn` up to `migrations` in one write transaction: creates
/// `schema_migrations` if needed, refuses a database written by a newer build
/// ([`StorageError::SchemaTooNew`]) and applies the missing migrations in order. On
/// PostgreSQL, `pg_lock` (an advisory lock id) makes servers that start at once migrate one
/// after the other.
pub fn migrate(conn: &mut dyn Conn, migrations: &[Migration], pg_lock: i64) -> Result<()> {
    let latest = migrations.last().map_or(0, |m| m.version);
    conn.begin(true)?;
    let out = (|| {
        if conn.dialect() == Dialect::Postgres {
            conn.batch(&format!("SELECT pg_advisory_xact_lock({pg_lock})"))?;
        }
        conn.batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                name    TEXT NOT NULL
            );",
        )?;
        let rows = conn.query(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?;
        let current = match rows.first().map(|r| r.get(0)).transpose()? {
            Some(Val::Int(v)) => u32::try_from(*v)
                .map_err(|_| StorageError::Corrupt("schema version out of range"))?,
            _ => 0,
        };
        if current > latest {
            return Err(StorageError::SchemaTooNew {
                found: current,
                supported: latest,
            });
        }
        for m in migrations.iter().filter(|m| m.version > current) {
            conn.batch(m.sql)?;
            conn.exec(
                "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                &[Val::Int(i64::from(m.version)), Val::Text(m.name.to_owned())],
            )?;
        }
        Ok(())
    })();
    match out {
        Ok(()) => conn.commit(),
        Err(e) => {
            conn.rollback();
            Err(e)
        }
    }
}

/// A value bound to a placeholder or read from a column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// An integer (`BIGINT`, `INTEGER`).
    Int(i64),
    /// Text.
    Text(String),
}

impl SqlValue {
    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text, if this is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            SqlValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}

fn to_val(v: &SqlValue) -> Val {
    match v {
        SqlValue::Null => Val::Null,
        SqlValue::Int(i) => Val::Int(*i),
        SqlValue::Text(s) => Val::Text(s.clone()),
    }
}

fn from_row(r: Row) -> Vec<SqlValue> {
    r.0.into_iter()
        .map(|v| match v {
            Val::Null => SqlValue::Null,
            Val::Int(i) => SqlValue::Int(i),
            Val::Text(s) => SqlValue::Text(s),
        })
        .collect()
}

/// A database with its own schema, on the ledger's drivers and migration mechanism.
pub struct SqlStore {
    conn: Box<dyn Conn>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.conn.dialect())
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// Opens (creating if needed) the SQLite database at `path` — WAL mode, `synchronous =
    /// FULL`, as the ledger — and applies `migrations` (see [`Migration`]).
    pub fn open_sqlite(
        path: &Path,
        busy_timeout: Duration,
        migrations: &[Migration],
    ) -> Result<Self> {
        let mut conn: Box<dyn Conn> = Box::new(backend::Sqlite::open(path, busy_timeout)?);
        migrate(&mut *conn, migrations, 0)?;
        Ok(SqlStore { conn })
    }

    /// Connects to the PostgreSQL database at `url` (`lock_timeout`: how long a statement
    /// waits for a row lock) and applies `migrations`, under the advisory lock `pg_lock` so
    /// that servers starting at once migrate one after the other (see [`migrate`]). Must not
    /// be called from an async runtime's worker thread (see [`crate::Postgres::connect`]).
    #[cfg(feature = "postgres")]
    pub fn open_postgres(
        url: &str,
        lock_timeout: Duration,
        migrations: &[Migration],
        pg_lock: i64,
    ) -> Result<Self> {
        let mut conn: Box<dyn Conn> = Box::new(crate::Postgres::connect(url, lock_timeout)?);
        migrate(&mut *conn, migrations, pg_lock)?;
        Ok(SqlStore { conn })
    }

    /// The database's dialect.
    pub fn dialect(&self) -> Dialect {
        self.conn.dialect()
    }

    /// Runs `f` in a write transaction, committing if it returns `Ok` and rolling back
    /// otherwise.
    pub fn write<T>(&mut self, f: impl FnOnce(&mut SqlTx<'_>) -> Result<T>) -> Result<T> {
        self.transaction(true, f)
    }

    /// Runs `f` in a read transaction (one consistent snapshot).
    pub fn read<T>(&mut self, f: impl FnOnce(&mut SqlTx<'_>) -> Result<T>) -> Result<T> {
        self.transaction(false, f)
    }

    fn transaction<T>(
        &mut self,
        write: bool,
        f: impl FnOnce(&mut SqlTx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.conn.begin(write)?;
        let mut tx = SqlTx {
            conn: &mut *self.conn,
        };
        match f(&mut tx) {
            Ok(v) => match self.conn.commit() {
                Ok(()) => Ok(v),
                Err(e) => {
                    self.conn.rollback();
                    Err(e)
                }
            },
            Err(e) => {
                self.conn.rollback();
                Err(e)
            }
        }
    }
}

/// An open transaction of a [`SqlStore`].
pub struct SqlTx<'c> {
    conn: &'c mut dyn Conn,
}

impl SqlTx<'_> {
    /// Runs a statement; returns the number of rows changed.
    pub fn exec(&mut self, sql: &str, params: &[SqlValue]) -> Result<usize> {
        let params: Vec<Val> = params.iter().map(to_val).collect();
        self.conn.exec(sql, &params)
    }

    /// Runs a query; returns every row.
    pub fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>> {
        let params: Vec<Val> = params.iter().map(to_val).collect();
        Ok(self
            .conn
            .query(sql, &params)?
            .into_iter()
            .map(from_row)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATIONS: &[Migration] = &[
        Migration {
            version: 1,
            name: "first",
            sql: "CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT NOT NULL);",
        },
        Migration {
            version: 2,
            name: "second",
            sql: "ALTER TABLE t ADD COLUMN n BIGINT;",
        },
    ];

    #[test]
    fn migrates_once_and_refuses_newer_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let t = Duration::from_secs(1);
        {
            let mut s = SqlStore::open_sqlite(&path, t, &MIGRATIONS[..1]).unwrap();
            s.write(|tx| {
                tx.exec(
                    "INSERT INTO t (id, v) VALUES (?1, ?2)",
                    &[1.into(), "a".into()],
                )
            })
            .unwrap();
        }
        let mut s = SqlStore::open_sqlite(&path, t, MIGRATIONS).unwrap();
        let rows = s
            .read(|tx| tx.query("SELECT id, v, n FROM t", &[]))
            .unwrap();
        assert_eq!(rows, vec![vec![1.into(), "a".into(), SqlValue::Null]]);
        drop(s);
        assert!(matches!(
            SqlStore::open_sqlite(&path, t, &MIGRATIONS[..1]),
            Err(StorageError::SchemaTooNew {
                found: 2,
                supported: 1
            })
        ));
    }

    #[test]
    fn a_failed_transaction_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqlStore::open_sqlite(
            &dir.path().join("s.sqlite"),
            Duration::from_secs(1),
            MIGRATIONS,
        )
        .unwrap();
        let r: Result<()> = s.write(|tx| {
            tx.exec("INSERT INTO t (id, v) VALUES (1, 'x')", &[])?;
            Err(StorageError::Corrupt("no"))
        });
        assert!(r.is_err());
        let n = s
            .read(|tx| tx.query("SELECT COUNT(*) FROM t", &[]))
            .unwrap();
        assert_eq!(n[0][0], SqlValue::Int(0));
    }
}
