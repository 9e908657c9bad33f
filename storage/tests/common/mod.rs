//! What the PostgreSQL driver's tests share: the server's URL, a name for this run's tables,
//! and a table's `(id, note)` rows.
#![allow(dead_code)]

use tollgate_storage::{Conn, Postgres, Val};

/// `TOLLGATE_TEST_PG_URL`, or `None` (and a loud note that `what` is skipped).
pub fn pg_url(what: &str) -> Option<String> {
    match std::env::var("TOLLGATE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("\n!!! TOLLGATE_TEST_PG_URL is not set: SKIPPING {what} !!!\n");
            None
        }
    }
}

/// A table name of this test run's own (tests of several runs may share the server).
pub fn unique_name(prefix: &str, tag: &str) -> String {
    format!(
        "{prefix}_{tag}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// Every `(id, note)` row of `table`, by id.
pub fn rows(conn: &mut Postgres, table: &str) -> Vec<(i64, String)> {
    conn.query(&format!("SELECT id, note FROM {table} ORDER BY id"), &[])
        .unwrap()
        .into_iter()
        .map(|r| match (&r.0[0], &r.0[1]) {
            (Val::Int(i), Val::Text(t)) => (*i, t.clone()),
            other => panic!("{other:?}"),
        })
        .collect()
}
