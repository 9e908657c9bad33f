//! The PostgreSQL driver's multi-row inserts and plan modes: each run of deferred inserts goes
//! out as one multi-row statement per insert, never ahead of a row it refers to; deferred
//! writes and statements marked [`GENERIC_PLAN`] run under generic plans made with sequential
//! scans off, everything else under custom plans. Needs `TOLLGATE_TEST_PG_URL` (skipped
//! loudly without it).
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use tollgate_storage::{Conn, Postgres, StorageError, Val, GENERIC_PLAN};

mod common;

use common::rows as ids;

fn url() -> Option<String> {
    common::pg_url("the PostgreSQL batching test")
}

/// A parent table and a child table referring to it, named for this test run.
struct Tables {
    parent: String,
    child: String,
}

impl Tables {
    fn create(conn: &mut Postgres, tag: &str) -> Tables {
        let suffix = common::unique_name("x", tag);
        let t = Tables {
            parent: format!("batch_p_{suffix}"),
            child: format!("batch_c_{suffix}"),
        };
        conn.batch(&format!(
            "CREATE TABLE {p} (id BIGINT PRIMARY KEY, note TEXT NOT NULL); \
             CREATE TABLE {c} (id BIGINT PRIMARY KEY, parent_id BIGINT NOT NULL \
             REFERENCES {p} (id), note TEXT NOT NULL)",
            p = t.parent,
            c = t.child
        ))
        .unwrap();
        t
    }

    /// The references to give the driver (leaked: the driver keeps `'static` names).
    fn references(&self) -> &'static [(&'static str, &'static str)] {
        let child: &'static str = Box::leak(self.child.clone().into_boxed_str());
        let parent: &'static str = Box::leak(self.parent.clone().into_boxed_str());
        Box::leak(vec![(child, parent)].into_boxed_slice())
    }

    fn insert_parent(&self) -> String {
        format!("INSERT INTO {} (id, note) VALUES (?1, ?2)", self.parent)
    }

    fn insert_child(&self) -> String {
        format!(
            "INSERT INTO {} (id, parent_id, note) VALUES (?1, ?2, ?3)",
            self.child
        )
    }
}

/// The statements this session has prepared on `table`, with their generic and custom plan
/// counts.
fn prepared(conn: &mut Postgres, like: &str) -> Vec<(String, i64, i64)> {
    conn.query(
        "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements \
         WHERE statement LIKE ?1 ORDER BY statement",
        &[Val::from(like)],
    )
    .unwrap()
    .into_iter()
    .map(|r| match (&r.0[0], &r.0[1], &r.0[2]) {
        (Val::Text(s), Val::Int(g), Val::Int(c)) => (s.clone(), *g, *c),
        other => panic!("{other:?}"),
    })
    .collect()
}

#[test]
fn a_run_of_inserts_goes_out_as_one_statement_per_insert() {
    let Some(url) = url() else { return };
    let mut setup = Postgres::connect(&url, Duration::from_secs(5)).unwrap();
    let t = Tables::create(&mut setup, "run");
    let mut conn = Postgres::connect(&url, Duration::from_secs(5))
        .unwrap()
        .with_multi_row_inserts(t.references());
    conn.begin(true).unwrap();
    for i in 1..=4 {
        conn.exec_deferred(
            &t.insert_parent(),
            &[Val::Int(i), Val::from(format!("p{i}"))],
        )
        .unwrap();
        conn.exec_deferred(
            &t.insert_child(),
            &[Val::Int(10 + i), Val::Int(i), Val::from(format!("c{i}"))],
        )
        .unwrap();
    }
    conn.commit().unwrap();
    assert_eq!(
        ids(&mut conn, &t.child),
        vec![
            (11, "c1".into()),
            (12, "c2".into()),
            (13, "c3".into()),
            (14, "c4".into())
        ]
    );
    assert_eq!(ids(&mut conn, &t.parent).len(), 4);
    // Two statements of four rows each reached the server, and no single-row one.
    let child_stmts = prepared(&mut conn, &format!("INSERT INTO {} %", t.child));
    assert_eq!(
        child_stmts,
        vec![
            (
                format!(
                    "INSERT INTO {} (id, parent_id, note) VALUES ($1, $2, $3)",
                    t.child
                ),
                0,
                0
            ),
            (
                format!(
                    "INSERT INTO {} (id, parent_id, note) VALUES ($1, $2, $3), \
                     ($4, $5, $6), ($7, $8, $9), ($10, $11, $12)",
                    t.child
                ),
                1,
                0
            ),
        ]
    );
}

#[test]
fn a_row_is_never_sent_ahead_of_the_row_it_refers_to() {
    let Some(url) = url() else { return };
    let mut setup = Postgres::connect(&url, Duration::from_secs(5)).unwrap();
    let t = Tables::create(&mut setup, "order");
    setup
        .exec(&t.insert_parent(), &[Val::Int(1), Val::from("p1")])
        .unwrap();
    // A child of an existing parent, then a new parent and its child: the second child may
    // not join the first one's statement, which is sent before the new parent.
    let queue = |conn: &mut Postgres| {
        conn.begin(true).unwrap();
        conn.exec_deferred(
            &t.insert_child(),
            &[Val::Int(11), Val::Int(1), Val::from("c1")],
        )
        .unwrap();
        conn.exec_deferred(&t.insert_parent(), &[Val::Int(2), Val::from("p2")])
            .unwrap();
        conn.exec_deferred(
            &t.insert_child(),
            &[Val::Int(12), Val::Int(2), Val::from("c2")],
        )
        .unwrap();
        conn.commit()
    };
    // Told nothing of the foreign key, the driver groups the two children and the commit
    // fails (nothing applied): the references are what keeps the order.
    let mut careless = Postgres::connect(&url, Duration::from_secs(5))
        .unwrap()
        .with_multi_row_inserts(&[]);
    let err = queue(&mut careless).unwrap_err();
    assert!(matches!(err, StorageError::Db(_)), "{err:?}");
    // SQLSTATE 23503: foreign_key_violation.
    assert!(format!("{err:?}").contains("E23503"), "{err:?}");
    assert_eq!(ids(&mut careless, &t.child), vec![]);
    // Told, it sends them apart, in a valid order.
    let mut conn = Postgres::connect(&url, Duration::from_secs(5))
        .unwrap()
        .with_multi_row_inserts(t.references());
    queue(&mut conn).unwrap();
    assert_eq!(
        ids(&mut conn, &t.child),
        vec![(11, "c1".into()), (12, "c2".into())]
    );
    assert_eq!(
        ids(&mut conn, &t.parent),
        vec![(1, "p1".into()), (2, "p2".into())]
    );
}

#[test]
fn a_bad_row_in_a_group_fails_the_commit_and_nothing_is_applied() {
    let Some(url) = url() else { return };
    let mut setup = Postgres::connect(&url, Duration::from_secs(5)).unwrap();
    let t = Tables::create(&mut setup, "dup");
    let mut conn = Postgres::connect(&url, Duration::from_secs(5))
        .unwrap()
        .with_multi_row_inserts(t.references());
    conn.begin(true).unwrap();
    for (id, note) in [(1, "a"), (2, "b"), (1, "duplicate"), (3, "c")] {
        conn.exec_deferred(&t.insert_parent(), &[Val::Int(id), Val::from(note)])
            .unwrap();
    }
    let err = conn.commit().unwrap_err();
    assert!(matches!(err, StorageError::Db(_)), "{err:?}");
    assert_eq!(ids(&mut conn, &t.parent), vec![]);
    // 40 rows: chunks of 32 and 8.
    conn.begin(true).unwrap();
    for id in 0..40 {
        conn.exec_deferred(&t.insert_parent(), &[Val::Int(id), Val::from("n")])
            .unwrap();
    }
    conn.commit().unwrap();
    assert_eq!(ids(&mut conn, &t.parent).len(), 40);
    let mut sizes: Vec<usize> = prepared(&mut conn, &format!("INSERT INTO {} %", t.parent))
        .into_iter()
        .filter(|(_, generic, _)| *generic > 0)
        .map(|(s, _, _)| s.matches("), (").count() + 1)
        .collect();
    sizes.sort_unstable();
    // The failed commit's group of four, then the chunks of 32 and 8.
    assert_eq!(sizes, vec![4, 8, 32]);
}

#[test]
fn marked_statements_and_deferred_writes_run_under_generic_index_plans() {
    let Some(url) = url() else { return };
    let mut setup = Postgres::connect(&url, Duration::from_secs(5)).unwrap();
    let t = Tables::create(&mut setup, "plans");
    let mut conn = Postgres::connect(&url, Duration::from_secs(5)).unwrap();
    let setting = "SELECT current_setting('enable_seqscan'), current_setting('plan_cache_mode')";
    let marked = format!("{GENERIC_PLAN}{setting}");
    let by_key = format!("{GENERIC_PLAN}SELECT note FROM {} WHERE id = ?1", t.parent);
    let setting_now =
        |conn: &mut Postgres, sql: &str| -> Vec<Val> { conn.query(sql, &[]).unwrap().remove(0).0 };
    conn.begin(true).unwrap();
    for i in 0..3 {
        conn.exec_deferred(&t.insert_parent(), &[Val::Int(i), Val::from("n")])
            .unwrap();
        assert_eq!(
            setting_now(&mut conn, setting),
            vec![Val::from("on"), Val::from("force_custom_plan")]
        );
        assert_eq!(
            setting_now(&mut conn, &marked),
            vec![Val::from("off"), Val::from("force_generic_plan")]
        );
        assert_eq!(
            conn.query(&by_key, &[Val::Int(i)]).unwrap()[0].0,
            vec![Val::from("n")]
        );
    }
    // A rolled-back savepoint undoes a `SET LOCAL` made inside it; the driver sets it again.
    conn.batch("SAVEPOINT s").unwrap();
    assert_eq!(setting_now(&mut conn, &marked)[0], Val::from("off"));
    conn.batch("ROLLBACK TO SAVEPOINT s; RELEASE SAVEPOINT s")
        .unwrap();
    assert_eq!(setting_now(&mut conn, &marked)[0], Val::from("off"));
    assert_eq!(setting_now(&mut conn, setting)[0], Val::from("on"));
    conn.commit().unwrap();
    // Outside a transaction: the session's custom plans, sequential scans allowed.
    assert_eq!(
        setting_now(&mut conn, &marked),
        vec![Val::from("on"), Val::from("force_custom_plan")]
    );
    let plans = prepared(&mut conn, &format!("% {} %", t.parent));
    assert_eq!(
        plans,
        vec![
            (
                format!("{GENERIC_PLAN}SELECT note FROM {} WHERE id = $1", t.parent),
                3,
                0
            ),
            (
                format!("INSERT INTO {} (id, note) VALUES ($1, $2)", t.parent),
                3,
                0
            ),
        ]
    );
    // The generic plan of the marked lookup is an index scan, although the table had three
    // rows when it was made (sequential scans were off).
    let name = match &conn
        .query(
            "SELECT name FROM pg_prepared_statements WHERE statement = ?1",
            &[Val::from(format!(
                "{GENERIC_PLAN}SELECT note FROM {} WHERE id = $1",
                t.parent
            ))],
        )
        .unwrap()[0]
        .0[0]
    {
        Val::Text(n) => n.clone(),
        other => panic!("{other:?}"),
    };
    conn.begin(false).unwrap();
    let plan: Vec<String> = conn
        .query(&format!("{GENERIC_PLAN}EXPLAIN EXECUTE {name}(0)"), &[])
        .unwrap()
        .into_iter()
        .map(|r| match &r.0[0] {
            Val::Text(line) => line.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    conn.commit().unwrap();
    assert!(plan[0].starts_with("Index Scan using"), "{plan:?}");
}
