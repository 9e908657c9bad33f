//! The audit log: what every operation records, and reading it back.

use serde_json::Value;

use crate::error::Result;
use crate::ledger::{NewAudit, Tx};
use crate::records::AuditEntry;
use crate::Authority;

/// Records one audit entry inside the operation's transaction.
pub(crate) fn audit(
    tx: &Tx<'_>,
    at: u64,
    actor: &str,
    action: &str,
    license_id: Option<u64>,
    activation_id: Option<u64>,
    detail: Value,
) -> Result<()> {
    tx.audit(NewAudit {
        at,
        actor,
        action,
        license_id,
        activation_id,
        detail,
    })
    .map(|_| ())
}

impl Authority {
    /// The newest `limit` audit entries, newest first, for one license or for all.
    pub fn audit_log(&mut self, license_id: Option<u64>, limit: u32) -> Result<Vec<AuditEntry>> {
        self.ledger.read(|tx| tx.audit_log(license_id, limit))
    }
}
