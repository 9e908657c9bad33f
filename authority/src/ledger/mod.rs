//! The ledger: every SQL statement of the crate, behind typed methods on [`Tx`].
//!
//! Nothing outside this module sees SQL or the database driver. Every operation runs inside a
//! [`Ledger::write`] (`BEGIN IMMEDIATE`: the write lock is taken first, so a check and the
//! write that depends on it can never interleave with another process) or a [`Ledger::read`].

mod schema;

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};
use tollgate_core::{hex_string, Component, DeploymentModel, Grant, KeyAuthSecret, KeyId};

use crate::error::{AuthorityError, LedgerError, Result};
use crate::records::{
    Activation, ActivationStatus, AuditEntry, KeyStatus, LicenseRecord, SigningKeyInfo,
};

pub(crate) use schema::latest_version;

fn db(e: rusqlite::Error) -> AuthorityError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => AuthorityError::Busy,
        _ => AuthorityError::Db(LedgerError::new(e)),
    }
}

/// Integers are stored as `BIGINT` (signed 64 bits).
fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| AuthorityError::invalid("a value exceeds 2^63 - 1"))
}

fn col_u64(r: &Row<'_>, i: usize) -> Result<u64> {
    let v: i64 = r.get(i).map_err(db)?;
    u64::try_from(v).map_err(|_| AuthorityError::Corrupt("negative integer"))
}

fn col_opt_u64(r: &Row<'_>, i: usize) -> Result<Option<u64>> {
    let v: Option<i64> = r.get(i).map_err(db)?;
    v.map(|v| u64::try_from(v).map_err(|_| AuthorityError::Corrupt("negative integer")))
        .transpose()
}

fn col_u32(r: &Row<'_>, i: usize) -> Result<u32> {
    u32::try_from(col_u64(r, i)?).map_err(|_| AuthorityError::Corrupt("integer out of range"))
}

fn col_str(r: &Row<'_>, i: usize) -> Result<String> {
    r.get(i).map_err(db)
}

fn col_hex<const N: usize>(r: &Row<'_>, i: usize) -> Result<[u8; N]> {
    let s: String = r.get(i).map_err(db)?;
    parse_hex(&s).ok_or(AuthorityError::Corrupt("bad hex"))
}

/// Parses exactly `N` bytes of hex (either case).
pub(crate) fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let hi = char::from(*pair.first()?).to_digit(16)?;
        let lo = char::from(*pair.get(1)?).to_digit(16)?;
        *o = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

fn col_model(r: &Row<'_>, i: usize) -> Result<DeploymentModel> {
    DeploymentModel::from_name(&col_str(r, i)?).ok_or(AuthorityError::Corrupt("unknown model"))
}

fn col_json<T: serde::de::DeserializeOwned>(r: &Row<'_>, i: usize) -> Result<T> {
    serde_json::from_str(&col_str(r, i)?).map_err(|_| AuthorityError::Corrupt("bad JSON"))
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|_| AuthorityError::Corrupt("unserialisable value"))
}

/// The ledger database.
pub(crate) struct Ledger {
    conn: Connection,
}

impl Ledger {
    /// Opens (creating if needed) the ledger at `path` and brings its schema up to date.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Self> {
        let conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(busy_timeout).map_err(db)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(AuthorityError::Corrupt(
                "cannot switch the ledger to WAL mode",
            ));
        }
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
            .map_err(db)?;
        let mut ledger = Ledger { conn };
        ledger.migrate()?;
        Ok(ledger)
    }

    fn migrate(&mut self) -> Result<()> {
        self.write(|tx| {
            tx.tx
                .execute_batch(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (
                        version INTEGER PRIMARY KEY,
                        name    TEXT NOT NULL
                    );",
                )
                .map_err(db)?;
            let current: u32 = tx
                .tx
                .query_row(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                    [],
                    |r| r.get(0),
                )
                .map_err(db)?;
            if current > schema::latest_version() {
                return Err(AuthorityError::SchemaTooNew {
                    found: current,
                    supported: schema::latest_version(),
                });
            }
            for m in schema::MIGRATIONS.iter().filter(|m| m.version > current) {
                tx.tx.execute_batch(m.sql).map_err(db)?;
                tx.tx
                    .execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                        params![m.version, m.name],
                    )
                    .map_err(db)?;
            }
            Ok(())
        })
    }

    /// The schema version of the ledger.
    pub fn schema_version(&mut self) -> Result<u32> {
        self.read(|tx| {
            tx.tx
                .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
                    r.get(0)
                })
                .map_err(db)
        })
    }

    /// Runs `f` in a write transaction (`BEGIN IMMEDIATE`), committing if it returns `Ok` and
    /// rolling back otherwise.
    pub fn write<T>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let tx = Tx {
            tx: self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?,
        };
        let out = f(&tx)?;
        tx.tx.commit().map_err(db)?;
        Ok(out)
    }

    /// Runs `f` in a read transaction (one consistent snapshot).
    pub fn read<T>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let tx = Tx {
            tx: self
                .conn
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(db)?,
        };
        let out = f(&tx)?;
        tx.tx.commit().map_err(db)?;
        Ok(out)
    }
}

/// A license row: identity and key material (hashed), not the grant.
pub(crate) struct LicenseRow {
    pub id: u64,
    pub key_auth: KeyAuthSecret,
    pub revision: u32,
}

/// A signed revision of a license.
pub(crate) struct RevisionRow {
    pub license_id: u64,
    pub revision: u32,
    pub grant: Grant,
    pub armored: String,
    pub key_id: KeyId,
    pub issued_at: u64,
}

/// An issued usage license.
pub(crate) struct UsageRow {
    pub activation_id: u64,
    pub request_id: [u8; 16],
    pub counter: u32,
    pub model: DeploymentModel,
    pub revision: u32,
    pub key_id: KeyId,
    pub armored: String,
    pub issued_at: u64,
    pub refresh_deadline: Option<u64>,
}

/// An audit entry to write.
pub(crate) struct NewAudit<'a> {
    pub at: u64,
    pub actor: &'a str,
    pub action: &'a str,
    pub license_id: Option<u64>,
    pub activation_id: Option<u64>,
    pub detail: serde_json::Value,
}

/// An open transaction on the ledger.
pub(crate) struct Tx<'c> {
    tx: rusqlite::Transaction<'c>,
}

const ACTIVATION_COLUMNS: &str = "id, license_id, device_key, model, status, fingerprint_json, \
     product_version, last_counter, created_at, last_fulfilled_at, freed_at";

fn activation_row(r: &Row<'_>) -> Result<Activation> {
    Ok(Activation {
        id: col_u64(r, 0)?,
        license_id: col_u64(r, 1)?,
        device_key: col_hex(r, 2)?,
        model: col_model(r, 3)?,
        status: ActivationStatus::from_name(&col_str(r, 4)?)
            .ok_or(AuthorityError::Corrupt("unknown activation status"))?,
        fingerprint: col_json::<Vec<Component>>(r, 5)?,
        product_version: col_str(r, 6)?,
        last_counter: col_u32(r, 7)?,
        created_at: col_u64(r, 8)?,
        last_fulfilled_at: col_u64(r, 9)?,
        freed_at: col_opt_u64(r, 10)?,
    })
}

fn key_row(r: &Row<'_>) -> Result<SigningKeyInfo> {
    Ok(SigningKeyInfo {
        key_id: KeyId(col_hex(r, 0)?),
        public_key: col_hex(r, 1)?,
        status: KeyStatus::from_name(&col_str(r, 2)?)
            .ok_or(AuthorityError::Corrupt("unknown key status"))?,
        created_at: col_u64(r, 3)?,
        retired_at: col_opt_u64(r, 4)?,
    })
}

fn usage_row(r: &Row<'_>) -> Result<UsageRow> {
    Ok(UsageRow {
        activation_id: col_u64(r, 0)?,
        request_id: col_hex(r, 1)?,
        counter: col_u32(r, 2)?,
        model: col_model(r, 3)?,
        revision: col_u32(r, 4)?,
        key_id: KeyId(col_hex(r, 5)?),
        armored: col_str(r, 6)?,
        issued_at: col_u64(r, 7)?,
        refresh_deadline: col_opt_u64(r, 8)?,
    })
}

const USAGE_COLUMNS: &str = "u.activation_id, u.request_id, u.counter, u.model, u.revision, \
     u.key_id, u.armored, u.issued_at, u.refresh_deadline";

const LICENSE_RECORD_SQL: &str = "SELECT l.id, r.grant_json, r.armored, r.key_id, r.issued_at, \
     l.created_at, \
     (SELECT COUNT(*) FROM activations a WHERE a.license_id = l.id AND a.status = 'active'), \
     (SELECT COUNT(*) FROM activations a WHERE a.license_id = l.id) \
     FROM licenses l JOIN license_revisions r ON r.license_id = l.id AND r.revision = l.revision";

fn license_record(r: &Row<'_>) -> Result<LicenseRecord> {
    Ok(LicenseRecord {
        id: col_u64(r, 0)?,
        grant: col_json(r, 1)?,
        armored: col_str(r, 2)?,
        key_id: KeyId(col_hex(r, 3)?),
        revised_at: col_u64(r, 4)?,
        created_at: col_u64(r, 5)?,
        active_activations: col_u64(r, 6)?,
        total_activations: col_u64(r, 7)?,
    })
}

impl Tx<'_> {
    fn all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl Fn(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(db)?;
        let mut rows = stmt.query(params).map_err(db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db)? {
            out.push(f(row)?);
        }
        Ok(out)
    }

    fn one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl Fn(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(db)?;
        let mut rows = stmt.query(params).map_err(db)?;
        match rows.next().map_err(db)? {
            Some(row) => f(row).map(Some),
            None => Ok(None),
        }
    }

    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(db)?;
        stmt.execute(params).map_err(db)
    }

    /// The next value of a named sequence (`license`, `activation`, `audit`).
    pub fn next_id(&self, sequence: &str) -> Result<u64> {
        let v: Option<i64> = self
            .tx
            .query_row(
                "UPDATE sequences SET value = value + 1 WHERE name = ?1 RETURNING value",
                [sequence],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let v = v.ok_or(AuthorityError::Corrupt("missing sequence"))?;
        u64::try_from(v).map_err(|_| AuthorityError::Corrupt("negative sequence"))
    }

    // --- signing keys -------------------------------------------------------------------------

    pub fn insert_key(&self, k: &SigningKeyInfo) -> Result<()> {
        self.exec(
            "INSERT INTO signing_keys (key_id, public_key, status, created_at, retired_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                k.key_id.to_hex(),
                hex_string(&k.public_key),
                k.status.name(),
                to_i64(k.created_at)?,
                k.retired_at.map(to_i64).transpose()?,
            ],
        )?;
        Ok(())
    }

    pub fn active_key(&self) -> Result<Option<SigningKeyInfo>> {
        self.one(
            "SELECT key_id, public_key, status, created_at, retired_at FROM signing_keys \
             WHERE status = 'active'",
            [],
            key_row,
        )
    }

    pub fn retire_key(&self, key_id: KeyId, at: u64) -> Result<()> {
        self.exec(
            "UPDATE signing_keys SET status = 'retired', retired_at = ?2 WHERE key_id = ?1",
            params![key_id.to_hex(), to_i64(at)?],
        )?;
        Ok(())
    }

    pub fn list_keys(&self) -> Result<Vec<SigningKeyInfo>> {
        self.all(
            "SELECT key_id, public_key, status, created_at, retired_at FROM signing_keys \
             ORDER BY created_at, key_id",
            [],
            key_row,
        )
    }

    // --- licenses -----------------------------------------------------------------------------

    pub fn lookup_taken(&self, lookup: &[u8; 8]) -> Result<bool> {
        Ok(self
            .one(
                "SELECT 1 FROM licenses WHERE key_lookup = ?1",
                [hex_string(lookup)],
                |_| Ok(()),
            )?
            .is_some())
    }

    pub fn insert_license(
        &self,
        id: u64,
        lookup: &[u8; 8],
        auth: &KeyAuthSecret,
        grant: &Grant,
        at: u64,
    ) -> Result<()> {
        let auth_hex = zeroize::Zeroizing::new(hex_string(&auth.0));
        self.exec(
            "INSERT INTO licenses (id, key_lookup, key_auth, product, customer, revision, \
             created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            params![
                to_i64(id)?,
                hex_string(lookup),
                auth_hex.as_str(),
                grant.product,
                grant.customer,
                grant.revision,
                to_i64(at)?,
            ],
        )?;
        Ok(())
    }

    fn license_row(r: &Row<'_>) -> Result<LicenseRow> {
        let s = zeroize::Zeroizing::new(col_str(r, 1)?);
        Ok(LicenseRow {
            id: col_u64(r, 0)?,
            key_auth: KeyAuthSecret(
                parse_hex(&s).ok_or(AuthorityError::Corrupt("bad key auth secret"))?,
            ),
            revision: col_u32(r, 2)?,
        })
    }

    pub fn license_by_lookup(&self, lookup: &[u8; 8]) -> Result<Option<LicenseRow>> {
        self.one(
            "SELECT id, key_auth, revision FROM licenses WHERE key_lookup = ?1",
            [hex_string(lookup)],
            Self::license_row,
        )
    }

    pub fn license_by_id(&self, id: u64) -> Result<Option<LicenseRow>> {
        self.one(
            "SELECT id, key_auth, revision FROM licenses WHERE id = ?1",
            [to_i64(id)?],
            Self::license_row,
        )
    }

    pub fn insert_revision(&self, r: &RevisionRow) -> Result<()> {
        self.exec(
            "INSERT INTO license_revisions (license_id, revision, grant_json, armored, key_id, \
             issued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                to_i64(r.license_id)?,
                r.revision,
                json(&r.grant)?,
                r.armored,
                r.key_id.to_hex(),
                to_i64(r.issued_at)?,
            ],
        )?;
        self.exec(
            "UPDATE licenses SET revision = ?2, customer = ?3, updated_at = ?4 WHERE id = ?1",
            params![
                to_i64(r.license_id)?,
                r.revision,
                r.grant.customer,
                to_i64(r.issued_at)?
            ],
        )?;
        Ok(())
    }

    pub fn revision(&self, license_id: u64, revision: u32) -> Result<Option<RevisionRow>> {
        self.one(
            "SELECT license_id, revision, grant_json, armored, key_id, issued_at \
             FROM license_revisions WHERE license_id = ?1 AND revision = ?2",
            params![to_i64(license_id)?, revision],
            |r| {
                Ok(RevisionRow {
                    license_id: col_u64(r, 0)?,
                    revision: col_u32(r, 1)?,
                    grant: col_json(r, 2)?,
                    armored: col_str(r, 3)?,
                    key_id: KeyId(col_hex(r, 4)?),
                    issued_at: col_u64(r, 5)?,
                })
            },
        )
    }

    pub fn license_record(&self, id: u64) -> Result<Option<LicenseRecord>> {
        self.one(
            &format!("{LICENSE_RECORD_SQL} WHERE l.id = ?1"),
            [to_i64(id)?],
            license_record,
        )
    }

    pub fn license_records(&self) -> Result<Vec<LicenseRecord>> {
        self.all(
            &format!("{LICENSE_RECORD_SQL} ORDER BY l.id"),
            [],
            license_record,
        )
    }

    pub fn license_id_by_lookup(&self, lookup: &[u8; 8]) -> Result<Option<u64>> {
        self.one(
            "SELECT id FROM licenses WHERE key_lookup = ?1",
            [hex_string(lookup)],
            |r| col_u64(r, 0),
        )
    }

    // --- activations --------------------------------------------------------------------------

    pub fn activation(&self, id: u64) -> Result<Option<Activation>> {
        self.one(
            &format!("SELECT {ACTIVATION_COLUMNS} FROM activations WHERE id = ?1"),
            [to_i64(id)?],
            activation_row,
        )
    }

    pub fn activations(&self, license_id: u64) -> Result<Vec<Activation>> {
        self.all(
            &format!(
                "SELECT {ACTIVATION_COLUMNS} FROM activations WHERE license_id = ?1 ORDER BY id"
            ),
            [to_i64(license_id)?],
            activation_row,
        )
    }

    /// Every activation of `license_id` made with `device_key`, with the counter of its
    /// deactivation code (if it was deactivated).
    pub fn activations_for_device(
        &self,
        license_id: u64,
        device_key: &[u8; 32],
    ) -> Result<Vec<(Activation, Option<u32>)>> {
        self.all(
            &format!(
                "SELECT {ACTIVATION_COLUMNS}, freed_counter FROM activations \
                 WHERE license_id = ?1 AND device_key = ?2 ORDER BY id"
            ),
            params![to_i64(license_id)?, hex_string(device_key)],
            |r| {
                let freed: Option<u64> = col_opt_u64(r, 11)?;
                let freed = freed
                    .map(u32::try_from)
                    .transpose()
                    .map_err(|_| AuthorityError::Corrupt("counter out of range"))?;
                Ok((activation_row(r)?, freed))
            },
        )
    }

    pub fn count_active(&self, license_id: u64) -> Result<u64> {
        Ok(self
            .one(
                "SELECT COUNT(*) FROM activations WHERE license_id = ?1 AND status = 'active'",
                [to_i64(license_id)?],
                |r| col_u64(r, 0),
            )?
            .unwrap_or(0))
    }

    pub fn insert_activation(&self, a: &Activation, request_id: &[u8; 16]) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO activations ({ACTIVATION_COLUMNS}, last_request_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ),
            params![
                to_i64(a.id)?,
                to_i64(a.license_id)?,
                hex_string(&a.device_key),
                a.model.name(),
                a.status.name(),
                json(&a.fingerprint)?,
                a.product_version,
                a.last_counter,
                to_i64(a.created_at)?,
                to_i64(a.last_fulfilled_at)?,
                a.freed_at.map(to_i64).transpose()?,
                hex_string(request_id),
            ],
        )?;
        Ok(())
    }

    /// Records a new fulfilled request on an existing activation.
    pub fn update_fulfilled(&self, a: &Activation, request_id: &[u8; 16]) -> Result<()> {
        self.exec(
            "UPDATE activations SET model = ?2, fingerprint_json = ?3, product_version = ?4, \
             last_counter = ?5, last_request_id = ?6, last_fulfilled_at = ?7 WHERE id = ?1",
            params![
                to_i64(a.id)?,
                a.model.name(),
                json(&a.fingerprint)?,
                a.product_version,
                a.last_counter,
                hex_string(request_id),
                to_i64(a.last_fulfilled_at)?,
            ],
        )?;
        Ok(())
    }

    /// Frees an active activation's seat. Returns false if it was not active (nothing changed).
    pub fn free_activation(
        &self,
        id: u64,
        status: ActivationStatus,
        at: u64,
        counter: Option<u32>,
    ) -> Result<bool> {
        let n = self.exec(
            "UPDATE activations SET status = ?2, freed_at = ?3, freed_counter = ?4 \
             WHERE id = ?1 AND status = 'active'",
            params![to_i64(id)?, status.name(), to_i64(at)?, counter],
        )?;
        Ok(n == 1)
    }

    // --- usage licenses -----------------------------------------------------------------------

    pub fn usage_by_request(
        &self,
        license_id: u64,
        request_id: &[u8; 16],
    ) -> Result<Option<UsageRow>> {
        self.one(
            &format!(
                "SELECT {USAGE_COLUMNS} FROM usage_licenses u \
                 JOIN activations a ON a.id = u.activation_id \
                 WHERE u.request_id = ?1 AND a.license_id = ?2"
            ),
            params![hex_string(request_id), to_i64(license_id)?],
            usage_row,
        )
    }

    pub fn latest_usage(&self, activation_id: u64) -> Result<Option<UsageRow>> {
        self.one(
            &format!(
                "SELECT {USAGE_COLUMNS} FROM usage_licenses u WHERE u.activation_id = ?1 \
                 ORDER BY u.issued_at DESC, u.counter DESC LIMIT 1"
            ),
            [to_i64(activation_id)?],
            usage_row,
        )
    }

    pub fn insert_usage(&self, u: &UsageRow) -> Result<()> {
        self.exec(
            "INSERT INTO usage_licenses (activation_id, request_id, counter, model, revision, \
             key_id, armored, issued_at, refresh_deadline) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                to_i64(u.activation_id)?,
                hex_string(&u.request_id),
                u.counter,
                u.model.name(),
                u.revision,
                u.key_id.to_hex(),
                u.armored,
                to_i64(u.issued_at)?,
                u.refresh_deadline.map(to_i64).transpose()?,
            ],
        )?;
        Ok(())
    }

    // --- audit --------------------------------------------------------------------------------

    pub fn audit(&self, e: NewAudit<'_>) -> Result<u64> {
        let id = self.next_id("audit")?;
        self.exec(
            "INSERT INTO audit_log (id, at, actor, action, license_id, activation_id, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                to_i64(id)?,
                to_i64(e.at)?,
                e.actor,
                e.action,
                e.license_id.map(to_i64).transpose()?,
                e.activation_id.map(to_i64).transpose()?,
                json(&e.detail)?,
            ],
        )?;
        Ok(id)
    }

    /// The newest `limit` entries, newest first, optionally for one license.
    pub fn audit_log(&self, license_id: Option<u64>, limit: u32) -> Result<Vec<AuditEntry>> {
        let map = |r: &Row<'_>| {
            Ok(AuditEntry {
                id: col_u64(r, 0)?,
                at: col_u64(r, 1)?,
                actor: col_str(r, 2)?,
                action: col_str(r, 3)?,
                license_id: col_opt_u64(r, 4)?,
                activation_id: col_opt_u64(r, 5)?,
                detail: col_json(r, 6)?,
            })
        };
        const COLS: &str = "SELECT id, at, actor, action, license_id, activation_id, detail \
                            FROM audit_log";
        match license_id {
            Some(l) => self.all(
                &format!("{COLS} WHERE license_id = ?1 ORDER BY id DESC LIMIT ?2"),
                params![to_i64(l)?, limit],
                map,
            ),
            None => self.all(
                &format!("{COLS} ORDER BY id DESC LIMIT ?1"),
                params![limit],
                map,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(parse_hex::<4>(&hex_string(&b)), Some(b));
        assert_eq!(parse_hex::<4>("0001ABFF"), Some(b));
        assert_eq!(parse_hex::<4>("0001abf"), None);
        assert_eq!(parse_hex::<2>("zz00"), None);
        assert_eq!(parse_hex::<1>("+f"), None);
    }

    #[test]
    fn migrations_apply_once_and_refuse_newer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        let mut l = Ledger::open(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(l.schema_version().unwrap(), latest_version());
        drop(l);
        // Re-opening applies nothing twice.
        let mut l = Ledger::open(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(l.schema_version().unwrap(), latest_version());
        l.conn
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?1, 'future')",
                [latest_version() + 1],
            )
            .unwrap();
        drop(l);
        assert!(matches!(
            Ledger::open(&path, Duration::from_secs(1)),
            Err(AuthorityError::SchemaTooNew { .. })
        ));
    }
}
