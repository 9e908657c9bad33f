//! Multi-row inserts for the PostgreSQL driver's queue of deferred statements.
//!
//! A group commit of eight activations queues 24 single-row `INSERT`s (an activation, a usage
//! license and an audit entry each). Sent as they are, each costs PostgreSQL a bind, an
//! executor start and end, and a reply of its own. Before the queue is sent, the driver turns
//! each run of inserts into one multi-row `INSERT … VALUES (…), (…), …` per statement. This
//! module is the pure part of that: recognising a groupable insert, deciding which rows may
//! travel together, and writing the multi-row statement.
//!
//! **When a row may join an earlier row's statement.** Grouping moves a row earlier, past the
//! inserts that were queued between the two. Inserts only add rows, so moving one past
//! another changes nothing a unique index decides (both rows are there at the end, or the
//! transaction fails either way), and a row queued earlier cannot refer to a later one (its
//! foreign key was checked when it was inserted). The one thing that could break is the row
//! being moved referring to a row inserted between: so a row joins the statement only if no
//! insert it passes goes into a table that its own table references (the caller gives these
//! references, the schema's foreign keys). Anything that is not a plain insert (an update, a
//! savepoint, `BEGIN`) ends the run: no row moves past it.

use std::collections::HashSet;

/// The most rows in one multi-row statement; larger groups are cut into chunks. A connection
/// prepares one statement per insert and row count it has met, so at most 32 per insert.
pub(crate) const MAX_ROWS: usize = 32;

/// A plain `INSERT INTO table (columns) VALUES (tuple)`, split for grouping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InsertShape<'a> {
    /// The table name.
    pub table: &'a str,
    /// Everything up to and including `VALUES `.
    head: &'a str,
    /// `(…)` with placeholders `?1` … `?width`.
    tuple: &'a str,
    /// The number of placeholders (each of `?1` … `?width` appears).
    pub width: usize,
}

/// Recognises a statement that may be grouped: exactly `INSERT INTO <name> (<columns>)
/// VALUES (<tuple>)`, where the tuple's parentheses close at the very end (so no `ON
/// CONFLICT`, no `RETURNING`, no second statement) and its placeholders are `?1` … `?k`, each
/// used. Anything else is `None` and is sent as it is.
pub(crate) fn insert_shape(sql: &str) -> Option<InsertShape<'_>> {
    let sql = sql.trim();
    let rest = sql.strip_prefix("INSERT INTO ")?;
    let name_len = rest.find(' ')?;
    let table = &rest[..name_len];
    if table.is_empty()
        || !table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return None;
    }
    let values = sql.find(" VALUES ")? + " VALUES ".len();
    let (head, tuple) = sql.split_at(values);
    if !rest[name_len..].trim_start().starts_with('(') || head.contains(';') {
        return None;
    }
    // The tuple's first parenthesis closes at its last character, and nothing in it is a
    // string literal (a `?` inside quotes would be taken for a placeholder).
    let mut depth = 0usize;
    for (i, c) in tuple.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 && i + 1 != tuple.len() {
                    return None;
                }
            }
            '\'' | '"' | ';' => return None,
            _ if depth == 0 => return None,
            _ => {}
        }
    }
    if depth != 0 || !tuple.starts_with('(') {
        return None;
    }
    let mut seen = Vec::new();
    renumber(tuple, |n| {
        seen.push(n);
        n
    })?;
    let width = seen.iter().copied().max()?;
    let distinct: HashSet<usize> = seen.into_iter().collect();
    if distinct.len() != width || distinct.contains(&0) {
        return None;
    }
    Some(InsertShape {
        table,
        head,
        tuple,
        width,
    })
}

/// `text` with every `?N` placeholder renumbered `?f(N)`; `None` if a number is out of range.
fn renumber(text: &str, mut f: impl FnMut(usize) -> usize) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(at) = rest.find('?') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            let n: usize = rest[..digits].parse().ok()?;
            out.push_str(&f(n).to_string());
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    Some(out)
}

/// The statement inserting `rows` rows of `shape`: its tuple repeated, the placeholders of
/// row `r` renumbered `?(N + r × width)`. The values go in row after row.
pub(crate) fn multi_row_sql(shape: &InsertShape<'_>, rows: usize) -> String {
    let mut out = String::with_capacity(shape.head.len() + rows * (shape.tuple.len() + 8));
    out.push_str(shape.head);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        let offset = r * shape.width;
        // `insert_shape` has checked that every number parses.
        out.push_str(&renumber(shape.tuple, |n| n + offset).unwrap_or_default());
    }
    out
}

/// The chunk sizes a group of `n` rows is cut into: as many of [`MAX_ROWS`] as fit, then the
/// rest (`70` → 32, 32, 6).
pub(crate) fn chunks(n: usize) -> Vec<usize> {
    let mut out = vec![MAX_ROWS; n / MAX_ROWS];
    if !n.is_multiple_of(MAX_ROWS) {
        out.push(n % MAX_ROWS);
    }
    out
}

/// One queued statement, as far as grouping cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    /// A groupable insert: its statement text (rows group only with the same text) and table.
    Insert { sql: &'a str, table: &'a str },
    /// Anything else: no row moves past it.
    Barrier,
}

/// Plans the queue `items`: returns, in the order to send, groups of item indices. A group
/// of one is sent as it is; a larger group (all the same insert) becomes one multi-row
/// statement with its rows in the order given. `references` lists the schema's foreign keys
/// as (child table, parent table).
pub(crate) fn plan(items: &[Item<'_>], references: &[(&str, &str)]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::with_capacity(items.len());
    // The groups of the current run of inserts: (index in `out`, statement, table).
    let mut run: Vec<(usize, &str, &str)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match *item {
            Item::Barrier => {
                run.clear();
                out.push(vec![i]);
            }
            Item::Insert { sql, table } => {
                let joined = run.iter().rposition(|(_, s, _)| *s == sql).filter(|&g| {
                    // Every group after `g` is passed: none may hold a table `table` refers to.
                    run[g + 1..].iter().all(|(_, _, passed)| {
                        !references
                            .iter()
                            .any(|(child, parent)| *child == table && parent == passed)
                    })
                });
                match joined {
                    Some(g) => out[run[g].0].push(i),
                    None => {
                        run.push((out.len(), sql, table));
                        out.push(vec![i]);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACT: &str = "INSERT INTO activations (id, license_id) VALUES (?1, ?2)";
    const UL: &str = "INSERT INTO usage_licenses (activation_id, key_id) VALUES (?1, ?2)";
    const AUDIT: &str = "INSERT INTO audit_log (id, detail) VALUES (?1, ?2)";
    const REFS: &[(&str, &str)] = &[
        ("activations", "licenses"),
        ("usage_licenses", "activations"),
        ("usage_licenses", "signing_keys"),
    ];

    fn ins(sql: &'static str) -> Item<'static> {
        Item::Insert {
            sql,
            table: insert_shape(sql).unwrap().table,
        }
    }

    #[test]
    fn a_plain_insert_is_recognised() {
        let s = insert_shape(
            "INSERT INTO audit_log (id, at, detail) \
             VALUES (?1, ?2, lower(?3))",
        )
        .unwrap();
        assert_eq!(s.table, "audit_log");
        assert_eq!(s.width, 3);
        assert_eq!(
            multi_row_sql(&s, 3),
            "INSERT INTO audit_log (id, at, detail) VALUES (?1, ?2, lower(?3)), \
             (?4, ?5, lower(?6)), (?7, ?8, lower(?9))"
        );
    }

    #[test]
    fn anything_but_a_plain_insert_is_left_alone() {
        for sql in [
            "UPDATE t SET a = ?1 WHERE id = ?2",
            "INSERT INTO t (a) VALUES (?1) ON CONFLICT (a) DO NOTHING",
            "INSERT INTO t (a) VALUES (?1) ON CONFLICT (a) DO UPDATE SET a = (?1)",
            "INSERT INTO t (a) VALUES (?1) RETURNING a",
            "INSERT INTO t (a) VALUES (?1); DELETE FROM t",
            "INSERT INTO t (a) SELECT ?1",
            "INSERT INTO t (a, b) VALUES (?1, '?2')",
            "INSERT INTO t (a, b) VALUES (?1, ?3)",
            "INSERT INTO t (a) VALUES (?0)",
            "INSERT INTO t (a) VALUES (?1), (?2)",
            "INSERT INTO \"t\" (a) VALUES (?1)",
            "INSERT INTO t (a) VALUES (?1",
            "INSERT INTO t (a) VALUES (?99999999999999999999999)",
        ] {
            assert_eq!(insert_shape(sql), None, "{sql}");
        }
    }

    #[test]
    fn chunks_hold_at_most_32_rows() {
        assert_eq!(chunks(1), [1]);
        assert_eq!(chunks(13), [13]);
        assert_eq!(chunks(32), [32]);
        assert_eq!(chunks(70), [32, 32, 6]);
        assert_eq!(chunks(64), [32, 32]);
    }

    #[test]
    fn a_batch_of_activations_becomes_one_statement_per_table() {
        let items = [
            Item::Barrier,
            ins(ACT),
            ins(UL),
            ins(AUDIT),
            ins(ACT),
            ins(UL),
            ins(AUDIT),
            ins(ACT),
            ins(UL),
            ins(AUDIT),
            Item::Barrier,
        ];
        assert_eq!(
            plan(&items, REFS),
            [
                vec![0],
                vec![1, 4, 7],
                vec![2, 5, 8],
                vec![3, 6, 9],
                vec![10]
            ]
        );
    }

    #[test]
    fn a_row_never_passes_an_insert_into_a_table_it_references() {
        // A reactivation (no new activation) then a new activation: the second usage license
        // refers to the activation queued just before it, so it may not join the first one.
        let items = [ins(UL), ins(AUDIT), ins(ACT), ins(UL), ins(AUDIT)];
        assert_eq!(plan(&items, REFS), [vec![0], vec![1, 4], vec![2], vec![3]]);
        // Without the reference it would have.
        assert_eq!(plan(&items, &[]), [vec![0, 3], vec![1, 4], vec![2]]);
    }

    #[test]
    fn no_row_moves_past_a_barrier() {
        let items = [ins(ACT), Item::Barrier, ins(ACT), ins(ACT)];
        assert_eq!(plan(&items, REFS), [vec![0], vec![1], vec![2, 3]]);
    }

    #[test]
    fn every_item_is_planned_exactly_once_in_a_valid_order() {
        // Every ordering of a small alphabet: each index appears once, and each row comes
        // after every row of a table it references that was queued before it.
        let alphabet = [ins(ACT), ins(UL), ins(AUDIT), Item::Barrier];
        for code in 0..4usize.pow(6) {
            let items: Vec<Item<'_>> = (0..6)
                .map(|k| alphabet[(code / 4usize.pow(k)) % 4])
                .collect();
            let planned = plan(&items, REFS);
            let order: Vec<usize> = planned.iter().flatten().copied().collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..6).collect::<Vec<_>>(), "{items:?}");
            let table = |i: usize| match items[i] {
                Item::Insert { table, .. } => Some(table),
                Item::Barrier => None,
            };
            for (pos, &i) in order.iter().enumerate() {
                for &j in &order[pos + 1..] {
                    // `j` is sent after `i`: if `j` was queued before `i`, `i` must not
                    // refer to `j`'s table, and neither may be a barrier.
                    if j < i {
                        assert!(table(i).is_some() && table(j).is_some(), "{items:?}");
                        let (ti, tj) = (table(i).unwrap(), table(j).unwrap());
                        assert!(
                            !REFS.iter().any(|(c, p)| *c == ti && *p == tj),
                            "{items:?}: {i} moved before {j}"
                        );
                    }
                }
            }
        }
    }
}
