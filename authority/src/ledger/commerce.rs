//! The shop's statements: purchases and the payment provider's events (migration 4).

use super::{col_opt_u64, col_str, col_u64, to_i64, Tx};
use crate::error::{AuthorityError, Result};
use tollgate_storage::{Row, Val};

/// Converts a value to a placeholder value (the parent's `vals!` works on its own trait).
fn int(v: u64) -> Result<Val> {
    Ok(Val::Int(to_i64(v)?))
}

fn text(s: &str) -> Val {
    Val::Text(s.to_owned())
}

fn opt_text(s: Option<&str>) -> Val {
    s.map_or(Val::Null, text)
}

/// One row of `purchases`.
#[derive(Clone, Debug)]
pub(crate) struct PurchaseRow {
    pub id: u64,
    pub token_hash: String,
    pub kind: String,
    pub product: String,
    pub license_id: Option<u64>,
    pub email: String,
    pub order_json: String,
    pub status: String,
    pub session_id: Option<String>,
    pub revision: Option<u32>,
    pub key_sealed: Option<String>,
    pub note: Option<String>,
    pub customer: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
}

const PURCHASE_COLS: &str = "SELECT id, token_hash, kind, product, license_id, email, \
     order_json, status, session_id, revision, key_sealed, note, created_at, updated_at, \
     customer FROM purchases";

fn opt_str(r: &Row, i: usize) -> Result<Option<String>> {
    match r.get(i)? {
        Val::Null => Ok(None),
        Val::Text(s) => Ok(Some(s.clone())),
        Val::Int(_) => Err(AuthorityError::Corrupt("integer where text belongs")),
    }
}

fn purchase_row(r: &Row) -> Result<PurchaseRow> {
    Ok(PurchaseRow {
        id: col_u64(r, 0)?,
        token_hash: col_str(r, 1)?,
        kind: col_str(r, 2)?,
        product: col_str(r, 3)?,
        license_id: col_opt_u64(r, 4)?,
        email: col_str(r, 5)?,
        order_json: col_str(r, 6)?,
        status: col_str(r, 7)?,
        session_id: opt_str(r, 8)?,
        revision: col_opt_u64(r, 9)?
            .map(u32::try_from)
            .transpose()
            .map_err(|_| AuthorityError::Corrupt("revision out of range"))?,
        key_sealed: opt_str(r, 10)?,
        note: opt_str(r, 11)?,
        created_at: col_u64(r, 12)?,
        updated_at: col_u64(r, 13)?,
        customer: opt_str(r, 14)?,
    })
}

impl Tx<'_> {
    pub fn insert_purchase(&self, p: &PurchaseRow) -> Result<()> {
        self.exec(
            "INSERT INTO purchases (id, token_hash, kind, product, license_id, email, \
             order_json, status, session_id, revision, key_sealed, note, created_at, \
             updated_at, customer) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            &[
                int(p.id)?,
                text(&p.token_hash),
                text(&p.kind),
                text(&p.product),
                p.license_id.map(int).transpose()?.unwrap_or(Val::Null),
                text(&p.email),
                text(&p.order_json),
                text(&p.status),
                opt_text(p.session_id.as_deref()),
                p.revision.map_or(Val::Null, |r| Val::Int(i64::from(r))),
                opt_text(p.key_sealed.as_deref()),
                opt_text(p.note.as_deref()),
                int(p.created_at)?,
                int(p.updated_at)?,
                opt_text(p.customer.as_deref()),
            ],
        )?;
        Ok(())
    }

    /// The purchase, locked for the rest of a write transaction on PostgreSQL.
    pub fn purchase(&self, id: u64) -> Result<Option<PurchaseRow>> {
        self.one(
            &format!("{PURCHASE_COLS} WHERE id = ?1{}", self.lock()),
            &[int(id)?],
            purchase_row,
        )
    }

    /// Writes the mutable columns of `p` back.
    pub fn update_purchase(&self, p: &PurchaseRow) -> Result<()> {
        let n = self.exec(
            "UPDATE purchases SET license_id = ?2, status = ?3, session_id = ?4, \
             revision = ?5, key_sealed = ?6, note = ?7, updated_at = ?8, customer = ?9 \
             WHERE id = ?1",
            &[
                int(p.id)?,
                p.license_id.map(int).transpose()?.unwrap_or(Val::Null),
                text(&p.status),
                opt_text(p.session_id.as_deref()),
                p.revision.map_or(Val::Null, |r| Val::Int(i64::from(r))),
                opt_text(p.key_sealed.as_deref()),
                opt_text(p.note.as_deref()),
                int(p.updated_at)?,
                opt_text(p.customer.as_deref()),
            ],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(AuthorityError::Corrupt("purchase row vanished"))
        }
    }

    /// The newest `limit` purchases, newest first, optionally in one status.
    pub fn purchases(&self, status: Option<&str>, limit: u32) -> Result<Vec<PurchaseRow>> {
        match status {
            Some(st) => self.all(
                &format!("{PURCHASE_COLS} WHERE status = ?1 ORDER BY id DESC LIMIT ?2"),
                &[text(st), Val::Int(i64::from(limit))],
                purchase_row,
            ),
            None => self.all(
                &format!("{PURCHASE_COLS} ORDER BY id DESC LIMIT ?1"),
                &[Val::Int(i64::from(limit))],
                purchase_row,
            ),
        }
    }

    /// Whether the payment provider's event `event_id` was already processed.
    pub fn payment_event_seen(&self, event_id: &str) -> Result<bool> {
        Ok(self
            .one(
                "SELECT 1 FROM payment_events WHERE event_id = ?1",
                &[text(event_id)],
                |_| Ok(()),
            )?
            .is_some())
    }

    pub fn insert_payment_event(
        &self,
        event_id: &str,
        event_type: &str,
        purchase_id: Option<u64>,
        outcome: &str,
        at: u64,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO payment_events (event_id, type, purchase_id, outcome, received_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                text(event_id),
                text(event_type),
                purchase_id.map(int).transpose()?.unwrap_or(Val::Null),
                text(outcome),
                int(at)?,
            ],
        )?;
        Ok(())
    }

    /// The payment provider's customer of the latest completed purchase of a license.
    pub fn billing_customer(&self, license_id: u64) -> Result<Option<String>> {
        self.one(
            "SELECT customer FROM purchases WHERE license_id = ?1 AND status = 'completed' \
                 AND customer IS NOT NULL ORDER BY id DESC LIMIT 1",
            &[int(license_id)?],
            |r| col_str(r, 0),
        )
    }

    /// How many payment events were recorded (for tests and the console).
    pub fn count_payment_events(&self) -> Result<u64> {
        Ok(self
            .one("SELECT COUNT(*) FROM payment_events", &[], |r| {
                col_u64(r, 0)
            })?
            .unwrap_or(0))
    }
}
