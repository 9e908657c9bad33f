//! The PostgreSQL driver (feature `postgres`): the same schema and statements as SQLite, over
//! the asynchronous driver `tokio-postgres`.
//!
//! Placeholders `?N` are rewritten to `$N`; prepared statements are cached per connection.
//! Write transactions run at `READ COMMITTED` and take a row lock (`SELECT … FOR UPDATE`) on
//! the license they change before checking its seats, so a check and the write that depends
//! on it cannot interleave with another connection's; reads run at `REPEATABLE READ` (one
//! snapshot). Serialization failures and deadlocks retry the whole transaction.
//!
//! The [`Conn`] interface is synchronous (the ledger's callers run on their own threads, never
//! on an async runtime's workers), so each connection drives its `tokio-postgres` client on a
//! small current-thread runtime of its own. What the asynchronous driver buys is
//! **pipelining**: statements whose answer nobody waits for ([`Conn::exec_deferred`],
//! savepoints) are not sent one round trip each but queued, and go out in one write together
//! with the next statement that needs an answer (or the `COMMIT`). A failure among them fails
//! that next call, so a commit never succeeds over a lost write. Statements still queued can
//! be dropped again ([`Conn::discard_deferred`], [`Conn::withdraw_deferred`]): a savepoint
//! whose item only deferred its writes never needs to reach the server.
//!
//! **Plans.** The session plans every statement for its values (`plan_cache_mode =
//! force_custom_plan`), except inside a transaction, where deferred writes and statements
//! starting with [`crate::GENERIC_PLAN`] run under the generic plan prepared once per
//! connection: a `SET LOCAL plan_cache_mode` goes into the pipeline wherever the mode changes.
//! With [`Postgres::with_multi_row_inserts`], each run of deferred inserts goes out as one
//! multi-row statement per insert.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, Config, NoTls, Statement};

use crate::backend::{Conn, DeferredMark, Dialect, Row, Val, GENERIC_PLAN};
use crate::error::{DbError, Result, StorageError};
use crate::pg_group::{self, Item};

fn pg_err(e: tokio_postgres::Error) -> StorageError {
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

/// A statement queued for the next round trip.
enum Deferred {
    /// A prepared statement, its text as the caller wrote it, and its values.
    Exec(Statement, Arc<str>, Vec<Val>),
    /// Statements without parameters (savepoints).
    Batch(String),
}

type Step<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Drives futures to completion, polling them in the order given. `tokio-postgres` sends a
/// request when its future is first polled, so the requests leave in this order, in one write,
/// and the server answers them in order. Returns the first error.
struct InOrder<'a> {
    steps: Vec<Option<Step<'a>>>,
    error: Option<StorageError>,
}

impl Future for InOrder<'_> {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = &mut *self;
        let mut pending = false;
        for slot in &mut this.steps {
            if let Some(step) = slot {
                match step.as_mut().poll(cx) {
                    Poll::Ready(r) => {
                        *slot = None;
                        if let Err(e) = r {
                            this.error.get_or_insert(e);
                        }
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(this.error.take().map_or(Ok(()), Err))
        }
    }
}

/// The connection's own runtime. Dropped with `shutdown_background`, so that a connection
/// may be dropped anywhere, even on an async runtime's thread (where dropping a runtime the
/// ordinary way panics).
struct ConnRuntime(Option<tokio::runtime::Runtime>);

impl std::ops::Deref for ConnRuntime {
    type Target = tokio::runtime::Runtime;

    fn deref(&self) -> &tokio::runtime::Runtime {
        match &self.0 {
            Some(rt) => rt,
            // Only `drop` takes it out.
            None => unreachable!("the connection's runtime is gone"),
        }
    }
}

impl Drop for ConnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// A PostgreSQL connection with its statement cache and its queue of deferred statements.
pub struct Postgres {
    config: Config,
    runtime: ConnRuntime,
    client: Client,
    statements: HashMap<String, Statement>,
    deferred: Vec<Deferred>,
    /// How many times `deferred` has been sent or dropped (see [`DeferredMark`]).
    sent: u64,
    lock_timeout: Duration,
    /// A transaction is open (begun and neither committed nor rolled back).
    in_tx: bool,
    /// The schema's foreign keys, (child table, parent table), when the caller asked for
    /// multi-row inserts ([`Postgres::with_multi_row_inserts`]).
    references: Option<&'static [(&'static str, &'static str)]>,
    /// The open transaction's plan mode as last set: `Some(true)` generic, `Some(false)` the
    /// session's custom plans, `None` unknown (a savepoint was rolled back, which undoes a
    /// `SET LOCAL` made inside it).
    generic: Option<bool>,
}

impl Postgres {
    /// Connects to `url` (`postgres://user:password@host:port/database`, or the key=value
    /// form). The URL is not kept anywhere it could be printed. Must not be called from an
    /// async runtime's worker thread (the connection runs a runtime of its own).
    pub fn connect(url: &str, lock_timeout: Duration) -> Result<Self> {
        let config: Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StorageError::Db(DbError::new(e)))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StorageError::Db(DbError::new(e)))?;
        let client = Self::open(&runtime, &config, lock_timeout)?;
        Ok(Postgres {
            config,
            runtime: ConnRuntime(Some(runtime)),
            client,
            statements: HashMap::new(),
            deferred: Vec::new(),
            sent: 0,
            lock_timeout,
            in_tx: false,
            references: None,
            generic: None,
        })
    }

    /// Sends each run of deferred single-row inserts as one multi-row `INSERT` per statement
    /// (at most 32 rows each), keeping every row behind the rows of the tables it references.
    /// `references` must list every foreign key of the tables written through this connection
    /// as (child table, parent table): a missing one could send a row before the row it
    /// refers to, and the transaction would fail (never commit a wrong state). Inserts with
    /// `ON CONFLICT`, `RETURNING` or anything but placeholders' values are sent as they are.
    #[must_use]
    pub fn with_multi_row_inserts(
        mut self,
        references: &'static [(&'static str, &'static str)],
    ) -> Self {
        self.references = Some(references);
        self
    }

    /// Connects and sets the session up. `plan_cache_mode = force_custom_plan`: a cached
    /// generic plan made while a table was nearly empty (a new ledger) would keep scanning it
    /// whole as it grows; every execution is planned for the data as it is.
    fn open(
        runtime: &tokio::runtime::Runtime,
        config: &Config,
        lock_timeout: Duration,
    ) -> Result<Client> {
        runtime.block_on(async {
            let (client, connection) = config.connect(NoTls).await.map_err(pg_err)?;
            // The connection task runs whenever this runtime is driven (inside `block_on`),
            // which is exactly when a call waits for the server.
            tokio::spawn(async move {
                let _ = connection.await;
            });
            client
                .batch_execute(&format!(
                    "SET lock_timeout = {}; SET client_min_messages = warning; \
                     SET plan_cache_mode = force_custom_plan;",
                    lock_timeout.as_millis().max(1)
                ))
                .await
                .map_err(pg_err)?;
            Ok(client)
        })
    }

    /// Takes the deferred statements to send them.
    fn take_deferred(&mut self) -> Vec<Deferred> {
        self.sent += 1;
        std::mem::take(&mut self.deferred)
    }

    /// Takes the deferred statements to send them, with each run of inserts grouped into
    /// multi-row statements when the caller asked for it (see `pg_group`).
    fn outgoing(&mut self) -> Result<Vec<Deferred>> {
        let deferred = self.take_deferred();
        let Some(references) = self.references else {
            return Ok(deferred);
        };
        let items: Vec<Item<'_>> = deferred
            .iter()
            .map(|d| match d {
                Deferred::Exec(_, sql, params) => match pg_group::insert_shape(sql) {
                    Some(shape) if shape.width == params.len() => Item::Insert {
                        sql,
                        table: shape.table,
                    },
                    _ => Item::Barrier,
                },
                Deferred::Batch(_) => Item::Barrier,
            })
            .collect();
        let plan = pg_group::plan(&items, references);
        if plan.len() == deferred.len() {
            return Ok(deferred);
        }
        let mut slots: Vec<Option<Deferred>> = deferred.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(plan.len());
        for group in plan {
            if let [single] = group[..] {
                out.extend(slots[single].take());
                continue;
            }
            let mut rows = group.into_iter().filter_map(|i| slots[i].take());
            let Some(Deferred::Exec(first_stmt, sql, first_params)) = rows.next() else {
                return Err(StorageError::Corrupt("a planned insert group is empty"));
            };
            let mut params = first_params;
            let mut count = 1;
            let mut singles = vec![first_stmt];
            for row in rows {
                if let Deferred::Exec(stmt, _, p) = row {
                    params.extend(p);
                    singles.push(stmt);
                    count += 1;
                }
            }
            let Some(shape) = pg_group::insert_shape(&sql) else {
                return Err(StorageError::Corrupt("a planned insert is not groupable"));
            };
            let width = shape.width;
            let mut at = 0;
            for size in pg_group::chunks(count) {
                let chunk: Vec<Val> = params[at * width..(at + size) * width].to_vec();
                if size == 1 {
                    out.push(Deferred::Exec(singles[at].clone(), sql.clone(), chunk));
                } else {
                    let text = pg_group::multi_row_sql(&shape, size);
                    let stmt = self.statement(&text)?;
                    out.push(Deferred::Exec(stmt, Arc::from(text), chunk));
                }
                at += size;
            }
        }
        Ok(out)
    }

    /// The `SET LOCAL` that puts the open transaction in the plan mode a statement wants, if it
    /// is not in it already (outside a transaction there is nothing to switch: custom plans).
    fn switch_plans(&mut self, generic: bool) -> Option<Deferred> {
        if !self.in_tx || self.generic == Some(generic) {
            return None;
        }
        self.generic = Some(generic);
        Some(Deferred::Batch(
            if generic { GENERIC_PLANS } else { CUSTOM_PLANS }.to_owned(),
        ))
    }

    /// The statements to send ahead of a call: the deferred ones ([`Postgres::outgoing`]),
    /// each write under generic plans, then the switch the call's own statement needs
    /// (`then`: whether it wants a generic plan; `None` for `COMMIT` and the like).
    fn ahead_of(&mut self, then: Option<bool>) -> Result<Vec<Deferred>> {
        let deferred = self.outgoing()?;
        let mut out = Vec::with_capacity(deferred.len() + 2);
        for d in deferred {
            match &d {
                Deferred::Exec(..) => out.extend(self.switch_plans(true)),
                Deferred::Batch(sql) if undoes_settings(sql) => self.generic = None,
                Deferred::Batch(_) => {}
            }
            out.push(d);
        }
        if let Some(generic) = then {
            out.extend(self.switch_plans(generic));
        }
        Ok(out)
    }

    /// Whether `mark` is still a position in the queue: nothing was sent or dropped since.
    fn unsent(&self, mark: DeferredMark) -> bool {
        self.in_tx && mark.sent == self.sent && mark.queued <= self.deferred.len()
    }

    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let text = dollar_placeholders(sql);
        let client = &self.client;
        let s = self
            .runtime
            .block_on(client.prepare(&text))
            .map_err(pg_err)?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    fn value(row: &tokio_postgres::Row, i: usize, ty: &Type) -> Result<Val> {
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

/// Whether `sql` rolls back to a savepoint, undoing a `SET LOCAL` made since.
fn undoes_settings(sql: &str) -> bool {
    sql.contains("ROLLBACK TO")
}

/// Switches the open transaction to generic plans (`SET LOCAL` ends with the transaction),
/// made with sequential scans disabled: a generic plan made while a table is nearly empty
/// (a new ledger, the first batch) would otherwise scan it, and keep scanning it as it grows
/// until `ANALYZE` remakes the plan. A statement marked [`GENERIC_PLAN`] reads by key, so an
/// index plan is the right one at every size.
const GENERIC_PLANS: &str =
    "SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off";
/// Switches it back to the session's custom plans, planned for the values bound.
const CUSTOM_PLANS: &str =
    "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_seqscan = on";

/// Sends the `deferred` statements and then `last`, in one write, and waits for every answer.
/// A failure of a deferred statement wins over `last`'s answer.
fn run_pipelined<T: Send>(
    runtime: &tokio::runtime::Runtime,
    client: &Client,
    deferred: Vec<Deferred>,
    last: impl Future<Output = Result<T>> + Send,
) -> Result<T> {
    if deferred.is_empty() {
        return runtime.block_on(last);
    }
    let mut answer = None;
    {
        let mut steps: Vec<Option<Step<'_>>> = Vec::with_capacity(deferred.len() + 1);
        for d in &deferred {
            steps.push(Some(match d {
                Deferred::Exec(stmt, _, params) => Box::pin(async move {
                    client
                        .execute(stmt, &refs(params))
                        .await
                        .map(|_| ())
                        .map_err(pg_err)
                }),
                Deferred::Batch(sql) => {
                    Box::pin(async move { client.batch_execute(sql).await.map_err(pg_err) })
                }
            }));
        }
        let answer_slot = &mut answer;
        steps.push(Some(Box::pin(async move {
            *answer_slot = Some(last.await);
            Ok(())
        })));
        runtime.block_on(InOrder { steps, error: None })?;
    }
    answer.ok_or(StorageError::Corrupt("a pipelined call did not finish"))?
}

impl Conn for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn begin(&mut self, write: bool) -> Result<()> {
        if self.client.is_closed() {
            // The server restarted or the connection dropped: connect again.
            self.client = Self::open(&self.runtime, &self.config, self.lock_timeout)?;
            self.statements.clear();
            self.take_deferred();
            self.in_tx = false;
        }
        if self.in_tx {
            // A transaction left open by a panic in a caller's closure ends here.
            self.rollback();
        }
        // BEGIN needs no answer of its own: it leaves with the transaction's first statement.
        self.deferred.push(Deferred::Batch(
            if write {
                "BEGIN ISOLATION LEVEL READ COMMITTED"
            } else {
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            }
            .to_owned(),
        ));
        self.in_tx = true;
        self.generic = Some(false);
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        let deferred = match self.ahead_of(None) {
            Ok(d) => d,
            Err(e) => {
                self.rollback();
                return Err(e);
            }
        };
        let client = &self.client;
        let out = run_pipelined(&self.runtime, client, deferred, async move {
            client.batch_execute("COMMIT").await.map_err(pg_err)
        });
        match out {
            Ok(()) => {
                self.in_tx = false;
                Ok(())
            }
            Err(e) => {
                // A deferred statement failed: the COMMIT behind it found the transaction
                // aborted and rolled it back. Nothing of it is applied.
                self.rollback();
                Err(e)
            }
        }
    }

    fn rollback(&mut self) {
        self.take_deferred();
        let client = &self.client;
        let _ = self.runtime.block_on(client.batch_execute("ROLLBACK"));
        self.in_tx = false;
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>> {
        let stmt = self.statement(sql)?;
        let deferred = self.ahead_of(Some(sql.starts_with(GENERIC_PLAN)))?;
        let client = &self.client;
        let rows = run_pipelined(&self.runtime, client, deferred, async move {
            client.query(&stmt, &refs(params)).await.map_err(pg_err)
        })?;
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

    fn query_many(&mut self, queries: &[(&str, Vec<Val>)]) -> Result<Vec<Vec<Row>>> {
        let stmts = queries
            .iter()
            .map(|(sql, _)| self.statement(sql))
            .collect::<Result<Vec<_>>>()?;
        let deferred = self.ahead_of(None)?;
        // The plan-mode switch each query needs, sent just ahead of it.
        let switches: Vec<Option<Deferred>> = queries
            .iter()
            .map(|(sql, _)| self.switch_plans(sql.starts_with(GENERIC_PLAN)))
            .collect();
        let client = &self.client;
        let stmts = &stmts;
        let switches = &switches;
        let answers = run_pipelined(&self.runtime, client, deferred, async move {
            let mut slots: Vec<
                Option<std::result::Result<Vec<tokio_postgres::Row>, StorageError>>,
            > = (0..queries.len()).map(|_| None).collect();
            {
                let mut steps: Vec<Option<Step<'_>>> = Vec::with_capacity(queries.len() * 2);
                for ((slot, switch), (stmt, (_, params))) in slots
                    .iter_mut()
                    .zip(switches)
                    .zip(stmts.iter().zip(queries))
                {
                    if let Some(Deferred::Batch(set)) = switch {
                        steps.push(Some(Box::pin(async move {
                            client.batch_execute(set).await.map_err(pg_err)
                        })));
                    }
                    steps.push(Some(Box::pin(async move {
                        *slot = Some(client.query(stmt, &refs(params)).await.map_err(pg_err));
                        Ok(())
                    })));
                }
                InOrder { steps, error: None }.await?;
            }
            slots
                .into_iter()
                .map(|s| {
                    s.unwrap_or(Err(StorageError::Corrupt(
                        "a pipelined query did not finish",
                    )))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        answers
            .iter()
            .map(|rows| {
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
            })
            .collect()
    }

    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<usize> {
        let stmt = self.statement(sql)?;
        let deferred = self.ahead_of(Some(sql.starts_with(GENERIC_PLAN)))?;
        let client = &self.client;
        let n = run_pipelined(&self.runtime, client, deferred, async move {
            client.execute(&stmt, &refs(params)).await.map_err(pg_err)
        })?;
        usize::try_from(n).map_err(|_| StorageError::Corrupt("row count out of range"))
    }

    fn exec_deferred(&mut self, sql: &str, params: &[Val]) -> Result<()> {
        if !self.in_tx {
            return self.exec(sql, params).map(|_| ());
        }
        let stmt = self.statement(sql)?;
        self.deferred
            .push(Deferred::Exec(stmt, Arc::from(sql), params.to_vec()));
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        let deferred = self.ahead_of(None)?;
        if undoes_settings(sql) {
            self.generic = None;
        }
        let client = &self.client;
        run_pipelined(&self.runtime, client, deferred, async move {
            client.batch_execute(sql).await.map_err(pg_err)
        })
    }

    fn batch_deferred(&mut self, sql: &str) -> Result<()> {
        if !self.in_tx {
            return self.batch(sql);
        }
        self.deferred.push(Deferred::Batch(sql.to_owned()));
        Ok(())
    }

    fn deferred_mark(&self) -> Option<DeferredMark> {
        Some(DeferredMark {
            sent: self.sent,
            queued: self.deferred.len(),
        })
    }

    fn discard_deferred(&mut self, mark: DeferredMark) -> bool {
        if !self.unsent(mark) {
            return false;
        }
        self.deferred.truncate(mark.queued);
        true
    }

    fn withdraw_deferred(&mut self, mark: DeferredMark) -> bool {
        if !self.unsent(mark) || mark.queued >= self.deferred.len() {
            return false;
        }
        self.deferred.remove(mark.queued);
        true
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
