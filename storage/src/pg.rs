//! The PostgreSQL driver (feature `postgres`): the same schema and statements as SQLite.
//!
//! Placeholders `?N` are rewritten to `$N`; prepared statements are cached per connection.
//! Write transactions run at `READ COMMITTED` and take a row lock (`SELECT … FOR UPDATE`) on
//! the license they change before checking its seats, so a check and the write that depends
//! on it cannot interleave with another connection's; reads run at `REPEATABLE READ` (one
//! snapshot). Serialization failures and deadlocks retry the whole transaction.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::time::Duration;

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, Config, NoTls, Statement};

use crate::backend::{Conn, Dialect, Row, Val};
use crate::error::{DbError, Result, StorageError};

fn pg_err(e: postgres::Error) -> StorageError {
    match e.code() {
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::LOCK_NOT_AVAILABLE =>
        {
            StorageError::Busy
        }
        _ => StorageError::Db(DbError::new(e)),
    }
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                _ => Err(format!("an integer bound to a {ty} parameter").into()),
            },
            Val::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT2 | Type::INT4 | Type::INT8 | Type::TEXT | Type::VARCHAR | Type::BPCHAR
        )
    }

    to_sql_checked!();
}

/// Rewrites `?N` placeholders to `$N` (our SQL has no `?` inside string literals).
pub fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// A PostgreSQL connection with its statement cache.
pub struct Postgres {
    config: Config,
    client: Client,
    statements: HashMap<String, Statement>,
    lock_timeout: Duration,
    /// A transaction is open (begun and neither committed nor rolled back).
    in_tx: bool,
}

impl Postgres {
    /// Connects to `url` (`postgres://user:password@host:port/database`, or the key=value
    /// form). The URL is not kept anywhere it could be printed.
    pub fn connect(url: &str, lock_timeout: Duration) -> Result<Self> {
        let config: Config = url
            .parse()
            .map_err(|e: postgres::Error| StorageError::Db(DbError::new(e)))?;
        let client = Self::open(&config, lock_timeout)?;
        Ok(Postgres {
            config,
            client,
            statements: HashMap::new(),
            lock_timeout,
            in_tx: false,
        })
    }

    /// Connects and sets the session up. `plan_cache_mode = force_custom_plan`: a cached
    /// generic plan made while a table was nearly empty (a new ledger) would keep scanning it
    /// whole as it grows; every execution is planned for the data as it is.
    fn open(config: &Config, lock_timeout: Duration) -> Result<Client> {
        let mut client = config.connect(NoTls).map_err(pg_err)?;
        client
            .batch_execute(&format!(
                "SET lock_timeout = {}; SET client_min_messages = warning; \
                 SET plan_cache_mode = force_custom_plan;",
                lock_timeout.as_millis().max(1)
            ))
            .map_err(pg_err)?;
        Ok(client)
    }

    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self
            .client
            .prepare(&dollar_placeholders(sql))
            .map_err(pg_err)?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    fn value(row: &postgres::Row, i: usize, ty: &Type) -> Result<Val> {
        let bad = |_| StorageError::Corrupt("unreadable column");
        Ok(match *ty {
            Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(bad)?.into(),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)
                .map_err(bad)?
                .map(i64::from)
                .into(),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)
                .map_err(bad)?
                .map(i64::from)
                .into(),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                row.try_get::<_, Option<String>>(i).map_err(bad)?.into()
            }
            _ => return Err(StorageError::Corrupt("unexpected column type")),
        })
    }
}

fn refs(params: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Conn for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn begin(&mut self, write: bool) -> Result<()> {
        if self.client.is_closed() {
            // The server restarted or the connection dropped: connect again.
            self.client = Self::open(&self.config, self.lock_timeout)?;
            self.statements.clear();
            self.in_tx = false;
        }
        if self.in_tx {
            // A transaction left open by a panic in a caller's closure ends here.
            self.rollback();
        }
        self.client
            .batch_execute(if write {
                "BEGIN ISOLATION LEVEL READ COMMITTED"
            } else {
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            })
            .map_err(pg_err)?;
        self.in_tx = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        let out = self.client.batch_execute("COMMIT").map_err(pg_err);
        if out.is_ok() {
            self.in_tx = false;
        }
        out
    }

    fn rollback(&mut self) {
        let _ = self.client.batch_execute("ROLLBACK");
        self.in_tx = false;
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>> {
        let stmt = self.statement(sql)?;
        let rows = self.client.query(&stmt, &refs(params)).map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                r.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Self::value(r, i, c.type_()))
                    .collect::<Result<Vec<_>>>()
                    .map(Row)
            })
            .collect()
    }

    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<usize> {
        let stmt = self.statement(sql)?;
        let n = self.client.execute(&stmt, &refs(params)).map_err(pg_err)?;
        usize::try_from(n).map_err(|_| StorageError::Corrupt("row count out of range"))
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.client.batch_execute(sql).map_err(pg_err)
    }

    fn retry_on_busy(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten() {
        assert_eq!(
            dollar_placeholders("SELECT a FROM t WHERE x = ?1 AND y = ?12"),
            "SELECT a FROM t WHERE x = $1 AND y = $12"
        );
        assert_eq!(dollar_placeholders("SELECT '?'"), "SELECT '?'");
    }
}
