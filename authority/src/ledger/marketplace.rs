//! The ledger's `marketplace_instances` table (migration 4): which cloud instance holds which
//! marketplace seat.

use super::{col_hex, col_str, col_u64, to_i64, ToVal, Tx};
use crate::error::Result;
use tollgate_core::hex_string;

/// One marketplace seat binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InstanceRow {
    pub activation_id: u64,
    pub license_id: u64,
    pub cloud: String,
    pub instance_id: String,
    pub product_code: String,
    pub device_key: [u8; 32],
    pub refresh_deadline: u64,
}

const COLUMNS: &str =
    "activation_id, license_id, cloud, instance_id, product_code, device_key, refresh_deadline";

fn row(r: &tollgate_storage::Row) -> Result<InstanceRow> {
    Ok(InstanceRow {
        activation_id: col_u64(r, 0)?,
        license_id: col_u64(r, 1)?,
        cloud: col_str(r, 2)?,
        instance_id: col_str(r, 3)?,
        product_code: col_str(r, 4)?,
        device_key: col_hex(r, 5)?,
        refresh_deadline: col_u64(r, 6)?,
    })
}

impl Tx<'_> {
    /// The active seat of instance `instance_id` on `cloud`, if any.
    pub fn marketplace_instance(
        &self,
        cloud: &str,
        instance_id: &str,
    ) -> Result<Option<InstanceRow>> {
        self.one(
            &format!(
                "SELECT {COLUMNS} FROM marketplace_instances \
                 WHERE cloud = ?1 AND instance_id = ?2 AND status = 'active'"
            ),
            vals![cloud, instance_id],
            row,
        )
    }

    /// The active marketplace seat of `device_key`, if any.
    pub fn marketplace_device(&self, device_key: &[u8; 32]) -> Result<Option<InstanceRow>> {
        self.one(
            &format!(
                "SELECT {COLUMNS} FROM marketplace_instances \
                 WHERE device_key = ?1 AND status = 'active'"
            ),
            vals![hex_string(device_key)],
            row,
        )
    }

    /// Active seats whose refresh deadline is before `now`.
    pub fn marketplace_overdue(&self, now: u64) -> Result<Vec<InstanceRow>> {
        self.all(
            &format!(
                "SELECT {COLUMNS} FROM marketplace_instances \
                 WHERE status = 'active' AND refresh_deadline < ?1 ORDER BY activation_id"
            ),
            vals![to_i64(now)?],
            row,
        )
    }

    /// Ends an active binding (`gone` or `replaced`).
    pub fn end_marketplace_instance(&self, activation_id: u64, status: &str) -> Result<()> {
        self.exec(
            "UPDATE marketplace_instances SET status = ?2 \
             WHERE activation_id = ?1 AND status = 'active'",
            vals![to_i64(activation_id)?, status],
        )?;
        Ok(())
    }

    /// Records (or refreshes) the binding of activation `r.activation_id`.
    pub fn upsert_marketplace_instance(&self, r: &InstanceRow, now: u64) -> Result<()> {
        let n = self.exec(
            "UPDATE marketplace_instances SET refresh_deadline = ?2, last_seen_at = ?3, \
             product_code = ?4 WHERE activation_id = ?1 AND status = 'active'",
            vals![
                to_i64(r.activation_id)?,
                to_i64(r.refresh_deadline)?,
                to_i64(now)?,
                r.product_code.as_str()
            ],
        )?;
        if n == 0 {
            self.exec(
                "INSERT INTO marketplace_instances (activation_id, license_id, cloud, \
                 instance_id, product_code, device_key, status, refresh_deadline, created_at, \
                 last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7, ?8, ?8)",
                vals![
                    to_i64(r.activation_id)?,
                    to_i64(r.license_id)?,
                    r.cloud.as_str(),
                    r.instance_id.as_str(),
                    r.product_code.as_str(),
                    hex_string(&r.device_key),
                    to_i64(r.refresh_deadline)?,
                    to_i64(now)?
                ],
            )?;
        }
        Ok(())
    }
}
