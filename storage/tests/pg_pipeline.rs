//! The PostgreSQL driver's pipelining: deferred writes are sent with the next statement that
//! waits for an answer, in order, and a deferred write that fails fails that statement or the
//! commit — never a commit over a lost write. Needs `TOLLGATE_TEST_PG_URL` (skipped loudly
//! without it).
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use tollgate_storage::{Conn, Postgres, StorageError, Val};

mod common;

use common::rows;

fn connect() -> Option<Postgres> {
    let url = common::pg_url("the PostgreSQL driver test")?;
    Some(Postgres::connect(&url, Duration::from_secs(5)).unwrap())
}

/// A table of this test run's own.
fn table(conn: &mut Postgres, tag: &str) -> String {
    let name = common::unique_name("pipeline", tag);
    conn.batch(&format!(
        "CREATE TABLE {name} (id BIGINT PRIMARY KEY, note TEXT NOT NULL)"
    ))
    .unwrap();
    name
}

#[test]
fn deferred_writes_arrive_in_order_before_the_next_read() {
    let Some(mut conn) = connect() else { return };
    let name = table(&mut conn, "order");
    conn.begin(true).unwrap();
    let insert = format!("INSERT INTO {name} (id, note) VALUES (?1, ?2)");
    conn.exec_deferred(&insert, &[Val::Int(1), Val::from("a")])
        .unwrap();
    conn.batch_deferred("SAVEPOINT s").unwrap();
    conn.exec_deferred(&insert, &[Val::Int(2), Val::from("b")])
        .unwrap();
    conn.exec_deferred(
        &format!("UPDATE {name} SET note = note || '!' WHERE id = ?1"),
        &[Val::Int(1)],
    )
    .unwrap();
    // The reads see every deferred write before them, in order, in the same transaction.
    let count = format!("SELECT COUNT(*) FROM {name}");
    let note = format!("SELECT note FROM {name} WHERE id = ?1");
    let seen = conn
        .query_many(&[(count.as_str(), vec![]), (note.as_str(), vec![Val::Int(1)])])
        .unwrap();
    assert_eq!(seen[0][0].0, vec![Val::Int(2)]);
    assert_eq!(seen[1][0].0, vec![Val::from("a!")]);
    conn.commit().unwrap();
    assert_eq!(
        rows(&mut conn, &name),
        vec![(1, "a!".into()), (2, "b".into())]
    );
}

#[test]
fn a_failed_deferred_write_fails_the_commit_and_nothing_is_applied() {
    let Some(mut conn) = connect() else { return };
    let name = table(&mut conn, "fail");
    let insert = format!("INSERT INTO {name} (id, note) VALUES (?1, ?2)");
    conn.begin(true).unwrap();
    conn.exec_deferred(&insert, &[Val::Int(1), Val::from("a")])
        .unwrap();
    conn.exec_deferred(&insert, &[Val::Int(1), Val::from("duplicate")])
        .unwrap();
    conn.exec_deferred(&insert, &[Val::Int(2), Val::from("b")])
        .unwrap();
    let err = conn.commit().unwrap_err();
    assert!(matches!(err, StorageError::Db(_)), "{err:?}");
    assert_eq!(rows(&mut conn, &name), vec![]);
    // The connection is usable afterwards.
    conn.begin(true).unwrap();
    conn.exec_deferred(&insert, &[Val::Int(3), Val::from("c")])
        .unwrap();
    conn.commit().unwrap();
    assert_eq!(rows(&mut conn, &name), vec![(3, "c".into())]);
}

#[test]
fn a_failed_deferred_write_fails_the_next_read() {
    let Some(mut conn) = connect() else { return };
    let name = table(&mut conn, "read");
    let insert = format!("INSERT INTO {name} (id, note) VALUES (?1, ?2)");
    conn.begin(true).unwrap();
    conn.exec_deferred(&insert, &[Val::Int(1), Val::from("a")])
        .unwrap();
    conn.exec_deferred(&insert, &[Val::Int(1), Val::from("again")])
        .unwrap();
    assert!(conn.query(&format!("SELECT id FROM {name}"), &[]).is_err());
    conn.rollback();
    assert_eq!(rows(&mut conn, &name), vec![]);
}

#[test]
fn unsent_deferred_statements_can_be_discarded_or_withdrawn() {
    let Some(mut conn) = connect() else { return };
    let name = table(&mut conn, "mark");
    let insert = format!("INSERT INTO {name} (id, note) VALUES (?1, ?2)");
    conn.begin(true).unwrap();
    conn.exec_deferred(&insert, &[Val::Int(1), Val::from("a")])
        .unwrap();
    // Discarded: nothing of it reaches the server, the statements before it stay.
    let mark = conn.deferred_mark().unwrap();
    conn.batch_deferred("SAVEPOINT s").unwrap();
    conn.exec_deferred(&insert, &[Val::Int(2), Val::from("dropped")])
        .unwrap();
    conn.exec_deferred(&insert, &[Val::Int(1), Val::from("would fail")])
        .unwrap();
    assert!(conn.discard_deferred(mark));
    // Withdrawn: the savepoint goes, the write after it stays.
    let mark = conn.deferred_mark().unwrap();
    conn.batch_deferred("SAVEPOINT s").unwrap();
    conn.exec_deferred(&insert, &[Val::Int(3), Val::from("c")])
        .unwrap();
    assert!(conn.withdraw_deferred(mark));
    // Once sent, a mark can neither discard nor withdraw anything.
    let mark = conn.deferred_mark().unwrap();
    conn.exec_deferred(&insert, &[Val::Int(4), Val::from("d")])
        .unwrap();
    let count = format!("SELECT COUNT(*) FROM {name}");
    assert_eq!(conn.query(&count, &[]).unwrap()[0].0, vec![Val::Int(3)]);
    assert!(!conn.discard_deferred(mark));
    assert!(!conn.withdraw_deferred(mark));
    // A release of a savepoint that was withdrawn would fail: there is none.
    assert!(conn.batch("RELEASE SAVEPOINT s").is_err());
    conn.rollback();
    conn.begin(true).unwrap();
    conn.exec_deferred(&insert, &[Val::Int(1), Val::from("a")])
        .unwrap();
    let mark = conn.deferred_mark().unwrap();
    conn.exec_deferred(&insert, &[Val::Int(3), Val::from("c")])
        .unwrap();
    assert!(conn.withdraw_deferred(mark));
    assert!(!conn.withdraw_deferred(mark), "nothing left at the mark");
    conn.commit().unwrap();
    assert_eq!(rows(&mut conn, &name), vec![(1, "a".into())]);
}
