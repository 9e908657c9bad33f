//! Tollgate's SQL plumbing, shared by the vendor's ledger (`tollgate-authority`) and the
//! floating license server (`tollgate-floating`): one small connection interface ([`Conn`])
//! with two drivers (SQLite; PostgreSQL behind the `postgres` feature), numbered migrations
//! recorded in `schema_migrations` ([`Migration`], [`migrate`]), and [`SqlStore`], a database
//! with its own schema and transactions. No licensing logic lives here.
//!
//! SQL is written once, with numbered placeholders (`?1`, `?2`, …) that SQLite takes as they
//! are and the PostgreSQL driver rewrites to `$1`, `$2`, …; values are integers and text only.

mod backend;
mod error;
#[cfg(feature = "postgres")]
mod pg;
#[cfg(feature = "postgres")]
mod pg_group;
mod store;

pub use backend::{Conn, DeferredMark, Dialect, Row, Sqlite, Val, GENERIC_PLAN};
pub use error::{DbError, Result, StorageError};
#[cfg(feature = "postgres")]
pub use pg::{dollar_placeholders, Postgres};
pub use store::{migrate, Migration, SqlStore, SqlTx, SqlValue};
