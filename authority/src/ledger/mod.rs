//! The ledger: every SQL statement of the crate, behind typed methods on [`Tx`].
//!
//! Nothing outside this module sees SQL or the database driver. Every operation runs inside a
//! [`Ledger::write`] (the write lock is taken first — SQLite `BEGIN IMMEDIATE`, PostgreSQL a
//! row lock on the license concerned — so a check and the write that depends on it can never
//! interleave with another process) or a [`Ledger::read`]. The same statements and the same
//! migrations run on SQLite and PostgreSQL (see `backend.rs`).

mod ahead;
mod schema;

pub(crate) use marketplace::InstanceRow;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tollgate_core::{hex_string, Component, DeploymentModel, Grant, KeyAuthSecret, KeyId};

use crate::error::{AuthorityError, Result};
use crate::records::{
    Activation, ActivationStatus, AuditEntry, KeyStatus, LicenseRecord, LicenseStatus,
    SigningKeyInfo, TransferPolicy,
};
pub(crate) use tollgate_storage::Dialect;
use tollgate_storage::{Conn, Row, Val};

pub(crate) use ahead::Wanted;
pub(crate) use schema::latest_version;

/// Converts a value to a [`Val`] for a placeholder.
trait ToVal {
    fn to_val(&self) -> Val;
}

impl ToVal for i64 {
    fn to_val(&self) -> Val {
        Val::Int(*self)
    }
}

impl ToVal for u32 {
    fn to_val(&self) -> Val {
        Val::Int(i64::from(*self))
    }
}

impl ToVal for String {
    fn to_val(&self) -> Val {
        Val::Text(self.clone())
    }
}

impl ToVal for &str {
    fn to_val(&self) -> Val {
        Val::Text((*self).to_owned())
    }
}

impl<T: ToVal> ToVal for Option<T> {
    fn to_val(&self) -> Val {
        self.as_ref().map_or(Val::Null, ToVal::to_val)
    }
}

/// The placeholder values `?1`, `?2`, … of a statement.
macro_rules! vals {
    ($($e:expr),* $(,)?) => {
        &[$(ToVal::to_val(&$e)),*]
    };
}

mod commerce;
pub(crate) use commerce::PurchaseRow;
pub(crate) mod usage;

/// Integers are stored as `BIGINT` (signed 64 bits).
fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| AuthorityError::invalid("a value exceeds 2^63 - 1"))
}

fn col_opt_i64(r: &Row, i: usize) -> Result<Option<i64>> {
    match r.get(i)? {
        Val::Null => Ok(None),
        Val::Int(v) => Ok(Some(*v)),
        Val::Text(_) => Err(AuthorityError::Corrupt("text where an integer belongs")),
    }
}

fn col_opt_u64(r: &Row, i: usize) -> Result<Option<u64>> {
    col_opt_i64(r, i)?
        .map(|v| u64::try_from(v).map_err(|_| AuthorityError::Corrupt("negative integer")))
        .transpose()
}

fn col_u64(r: &Row, i: usize) -> Result<u64> {
    col_opt_u64(r, i)?.ok_or(AuthorityError::Corrupt("unexpected NULL"))
}

fn col_u32(r: &Row, i: usize) -> Result<u32> {
    u32::try_from(col_u64(r, i)?).map_err(|_| AuthorityError::Corrupt("integer out of range"))
}

fn col_str(r: &Row, i: usize) -> Result<String> {
    match r.get(i)? {
        Val::Text(s) => Ok(s.clone()),
        _ => Err(AuthorityError::Corrupt("expected text")),
    }
}

fn col_hex<const N: usize>(r: &Row, i: usize) -> Result<[u8; N]> {
    let s = col_str(r, i)?;
    parse_hex(&s).ok_or(AuthorityError::Corrupt("bad hex"))
}

/// Parses exactly `N` bytes of hex (either case).
pub(crate) fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

fn col_license_status(r: &Row, i: usize) -> Result<LicenseStatus> {
    LicenseStatus::from_name(&col_str(r, i)?)
        .ok_or(AuthorityError::Corrupt("unknown license status"))
}

/// The transfer policy in columns `i` (max, NULL: unlimited) and `i + 1` (period).
fn col_transfers(r: &Row, i: usize) -> Result<TransferPolicy> {
    let max = col_opt_u64(r, i)?
        .map(u32::try_from)
        .transpose()
        .map_err(|_| AuthorityError::Corrupt("max_transfers out of range"))?;
    Ok(TransferPolicy {
        max_transfers: max,
        period_secs: col_u64(r, i + 1)?,
    })
}

fn col_model(r: &Row, i: usize) -> Result<DeploymentModel> {
    DeploymentModel::from_name(&col_str(r, i)?).ok_or(AuthorityError::Corrupt("unknown model"))
}

fn col_json<T: serde::de::DeserializeOwned>(r: &Row, i: usize) -> Result<T> {
    serde_json::from_str(&col_str(r, i)?).map_err(|_| AuthorityError::Corrupt("bad JSON"))
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|_| AuthorityError::Corrupt("unserialisable value"))
}

/// How many times a PostgreSQL write transaction is retried after a serialization failure or
/// a deadlock.
const WRITE_ATTEMPTS: u32 = 5;

/// The ledger database: one connection to SQLite or PostgreSQL.
pub(crate) struct Ledger {
    conn: Box<dyn Conn>,
}

impl Ledger {
    /// Opens (creating if needed) the SQLite ledger at `path` and brings its schema up to date.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Self> {
        Self::with_conn(Box::new(tollgate_storage::Sqlite::open(
            path,
            busy_timeout,
        )?))
    }

    /// Connects to the PostgreSQL ledger at `url` and brings its schema up to date.
    #[cfg(feature = "postgres")]
    pub fn connect_postgres(url: &str, lock_timeout: Duration) -> Result<Self> {
        Self::with_conn(Box::new(
            tollgate_storage::Postgres::connect(url, lock_timeout)?
                .with_multi_row_inserts(schema::FOREIGN_KEYS),
        ))
    }

    fn with_conn(conn: Box<dyn Conn>) -> Result<Self> {
        let mut ledger = Ledger { conn };
        ledger.migrate()?;
        Ok(ledger)
    }

    /// The backend's dialect.
    pub fn dialect(&self) -> Dialect {
        self.conn.dialect()
    }

    fn migrate(&mut self) -> Result<()> {
        // Several servers starting at once on PostgreSQL migrate one after the other.
        Ok(tollgate_storage::migrate(
            &mut *self.conn,
            schema::MIGRATIONS,
            7_421_000_001,
        )?)
    }

    /// The schema version of the ledger.
    pub fn schema_version(&mut self) -> Result<u32> {
        self.read(|tx| {
            tx.one("SELECT MAX(version) FROM schema_migrations", &[], |r| {
                col_u32(r, 0)
            })?
            .ok_or(AuthorityError::Corrupt("no schema version"))
        })
    }

    /// Runs `f` in a write transaction, committing if it returns `Ok` and rolling back
    /// otherwise. On PostgreSQL a serialization failure or deadlock runs `f` again (up to
    /// [`WRITE_ATTEMPTS`] times), so `f` must not have effects outside the transaction.
    pub fn write<T>(&mut self, mut f: impl FnMut(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut attempt = 1;
        loop {
            match self.transaction(true, &mut f) {
                Err(AuthorityError::Busy)
                    if attempt < WRITE_ATTEMPTS && self.conn.retry_on_busy() =>
                {
                    std::thread::sleep(Duration::from_millis(2 << attempt));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Runs `f` in a read transaction (one consistent snapshot).
    pub fn read<T>(&mut self, mut f: impl FnMut(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.transaction(false, &mut f)
    }

    fn transaction<T>(
        &mut self,
        write: bool,
        f: &mut impl FnMut(&Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.conn.begin(write)?;
        let dialect = self.conn.dialect();
        let tx = Tx {
            conn: RefCell::new(&mut *self.conn),
            write,
            dialect,
            savepoint_open: Cell::new(false),
            active_key: RefCell::new(None),
            ahead: RefCell::new(ahead::ReadAhead::default()),
            seats: RefCell::new(None),
        };
        let out = f(&tx).and_then(|v| tx.write_seats().map(|()| v));
        let conn = tx.conn.into_inner();
        match out {
            Ok(v) => match conn.commit() {
                Ok(()) => Ok(v),
                Err(e) => {
                    conn.rollback();
                    Err(e.into())
                }
            },
            Err(e) => {
                conn.rollback();
                Err(e)
            }
        }
    }
}

/// A license row: identity and key material (hashed), not the grant.
#[derive(Clone)]
pub(crate) struct LicenseRow {
    pub id: u64,
    pub key_auth: KeyAuthSecret,
    pub revision: u32,
    pub status: LicenseStatus,
    pub transfers: TransferPolicy,
}

/// A signed revision of a license.
#[derive(Clone)]
pub(crate) struct RevisionRow {
    pub license_id: u64,
    pub revision: u32,
    pub grant: Grant,
    pub armored: String,
    pub key_id: KeyId,
    pub issued_at: u64,
}

/// An issued usage license.
#[derive(Clone)]
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
    conn: RefCell<&'c mut dyn Conn>,
    write: bool,
    dialect: Dialect,
    /// A savepoint taken by [`Tx::savepoint`] whose work succeeded, not yet released.
    savepoint_open: Cell<bool>,
    /// The active signing key, once read in this transaction.
    active_key: RefCell<Option<Option<SigningKeyInfo>>>,
    /// Rows read ahead for a group of fulfilments (see `ahead.rs`), kept exact by the
    /// writes of this transaction.
    ahead: RefCell<ahead::ReadAhead>,
    /// Seats taken in this transaction and not yet added to `licenses.active_activations`,
    /// per license: after [`Tx::read_ahead`] the count is written once, by
    /// [`Tx::write_seats`], before the next statement that waits for an answer or the
    /// commit, instead of once per activation. `None`: written at once.
    seats: RefCell<Option<BTreeMap<u64, u64>>>,
}

const ACTIVATION_COLUMNS: &str = "id, license_id, device_key, model, status, fingerprint_json, \
     product_version, last_counter, created_at, last_fulfilled_at, freed_at, follows_activation";

fn activation_row(r: &Row) -> Result<Activation> {
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
        follows_activation: col_opt_u64(r, 11)?,
    })
}

const KEY_COLUMNS: &str = "key_id, public_key, status, created_at, retired_at, withdrawn_at";

fn key_row(r: &Row) -> Result<SigningKeyInfo> {
    Ok(SigningKeyInfo {
        key_id: KeyId(col_hex(r, 0)?),
        public_key: col_hex(r, 1)?,
        status: KeyStatus::from_name(&col_str(r, 2)?)
            .ok_or(AuthorityError::Corrupt("unknown key status"))?,
        created_at: col_u64(r, 3)?,
        retired_at: col_opt_u64(r, 4)?,
        withdrawn_at: col_opt_u64(r, 5)?,
    })
}

fn usage_row(r: &Row) -> Result<UsageRow> {
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
     l.created_at, l.active_activations, \
     (SELECT COUNT(*) FROM activations a WHERE a.license_id = l.id), \
     l.status, l.max_transfers, l.transfer_period_secs, \
     (SELECT COUNT(*) FROM activations a WHERE a.license_id = l.id \
      AND a.follows_activation IS NOT NULL) \
     FROM licenses l JOIN license_revisions r ON r.license_id = l.id AND r.revision = l.revision";

fn license_record(r: &Row) -> Result<LicenseRecord> {
    Ok(LicenseRecord {
        id: col_u64(r, 0)?,
        grant: col_json(r, 1)?,
        armored: col_str(r, 2)?,
        key_id: KeyId(col_hex(r, 3)?),
        revised_at: col_u64(r, 4)?,
        created_at: col_u64(r, 5)?,
        active_activations: col_u64(r, 6)?,
        total_activations: col_u64(r, 7)?,
        status: col_license_status(r, 8)?,
        transfers: col_transfers(r, 9)?,
        rapid_transfers: col_u64(r, 11)?,
    })
}

const REVISION_SQL: &str = "SELECT license_id, revision, grant_json, armored, key_id, issued_at \
     FROM license_revisions WHERE license_id = ?1 AND revision = ?2";

fn revision_row(r: &Row) -> Result<RevisionRow> {
    Ok(RevisionRow {
        license_id: col_u64(r, 0)?,
        revision: col_u32(r, 1)?,
        grant: col_json(r, 2)?,
        armored: col_str(r, 3)?,
        key_id: KeyId(col_hex(r, 4)?),
        issued_at: col_u64(r, 5)?,
    })
}

const LAST_FREED_SQL: &str = "SELECT id, freed_at FROM activations WHERE license_id = ?1 \
     AND freed_at IS NOT NULL ORDER BY freed_at DESC, id DESC LIMIT 1";

fn last_freed_row(r: &Row) -> Result<(u64, u64)> {
    Ok((col_u64(r, 0)?, col_u64(r, 1)?))
}

const COUNT_ACTIVE_SQL: &str = "SELECT active_activations FROM licenses WHERE id = ?1";

fn device_activations_sql() -> String {
    format!(
        "SELECT {ACTIVATION_COLUMNS}, freed_counter FROM activations \
         WHERE license_id = ?1 AND device_key = ?2 ORDER BY id"
    )
}

fn device_activation_row(r: &Row) -> Result<(Activation, Option<u32>)> {
    let freed: Option<u64> = col_opt_u64(r, 12)?;
    let freed = freed
        .map(u32::try_from)
        .transpose()
        .map_err(|_| AuthorityError::Corrupt("counter out of range"))?;
    Ok((activation_row(r)?, freed))
}

fn usage_by_request_sql() -> String {
    format!(
        "SELECT {USAGE_COLUMNS} FROM usage_licenses u \
         JOIN activations a ON a.id = u.activation_id \
         WHERE u.request_id = ?1 AND a.license_id = ?2"
    )
}

impl Tx<'_> {
    fn query(&self, sql: &str, params: &[Val]) -> Result<Vec<Row>> {
        self.write_seats()?;
        Ok(self.conn.borrow_mut().query(sql, params)?)
    }

    /// Queues the seat counts taken since they were last written (see `Tx::seats`): one
    /// deferred `UPDATE` per license, sent ahead of the statement that needs an answer.
    fn write_seats(&self) -> Result<()> {
        let pending = match self.seats.borrow_mut().as_mut() {
            Some(p) if !p.is_empty() => std::mem::take(p),
            _ => return Ok(()),
        };
        for (license_id, n) in pending {
            self.exec_deferred(
                "UPDATE licenses SET active_activations = active_activations + ?2 WHERE id = ?1",
                vals![to_i64(license_id)?, to_i64(n)?],
            )?;
        }
        Ok(())
    }

    fn all<T>(&self, sql: &str, params: &[Val], f: impl Fn(&Row) -> Result<T>) -> Result<Vec<T>> {
        self.query(sql, params)?.iter().map(f).collect()
    }

    fn one<T>(
        &self,
        sql: &str,
        params: &[Val],
        f: impl Fn(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        self.query(sql, params)?.first().map(f).transpose()
    }

    fn exec(&self, sql: &str, params: &[Val]) -> Result<usize> {
        self.write_seats()?;
        Ok(self.conn.borrow_mut().exec(sql, params)?)
    }

    /// A write whose row count is not needed: PostgreSQL sends it with the next statement
    /// that waits for an answer (see `Conn::exec_deferred`).
    fn exec_deferred(&self, sql: &str, params: &[Val]) -> Result<()> {
        Ok(self.conn.borrow_mut().exec_deferred(sql, params)?)
    }

    /// ` FOR UPDATE` in a PostgreSQL write transaction: the row lock that serializes changes
    /// to one license. (SQLite's write transaction already holds the database's write lock.)
    fn lock(&self) -> &'static str {
        if self.write && self.dialect == Dialect::Postgres {
            " FOR UPDATE"
        } else {
            ""
        }
    }

    /// Runs `f` inside a savepoint: its changes are kept if it returns `Ok` and undone
    /// otherwise, leaving the rest of the transaction intact. The outer `Result` fails only
    /// when the savepoint itself cannot be taken or released.
    ///
    /// On PostgreSQL the savepoint costs nothing when `f` only deferred its writes (the usual
    /// case after [`Tx::read_ahead`]): nothing of the item has reached the server, so if `f`
    /// fails its statements are dropped from the queue, and if it succeeds the savepoint is
    /// taken back and its writes go with the commit. (A deferred write that fails on the
    /// server fails the whole transaction either way.) Otherwise a successful savepoint is
    /// released with the next statement or by the commit.
    pub fn savepoint<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<Result<T>> {
        if self.savepoint_open.replace(false) {
            self.conn
                .borrow_mut()
                .batch_deferred("RELEASE SAVEPOINT item")?;
        }
        let mark = self.conn.borrow().deferred_mark();
        self.conn.borrow_mut().batch_deferred("SAVEPOINT item")?;
        // Seats not yet written when the item starts: if they are written during the item
        // (inside its savepoint) and the item fails, the rollback undoes them, so they are
        // owed again; the item's own seats are dropped.
        let seats_before = self.seats.borrow().clone();
        let out = f(self);
        match &out {
            Ok(_) => {
                let withdrawn = mark.is_some_and(|m| self.conn.borrow_mut().withdraw_deferred(m));
                if !withdrawn {
                    self.savepoint_open.set(true);
                }
            }
            Err(_) => {
                self.active_key.replace(None);
                self.ahead.borrow_mut().forget_rows();
                self.seats.replace(seats_before);
                let discarded = mark.is_some_and(|m| self.conn.borrow_mut().discard_deferred(m));
                if !discarded {
                    // Not `Tx::batch`: the seats owed must not be written inside the savepoint
                    // that is being rolled back.
                    self.conn
                        .borrow_mut()
                        .batch("ROLLBACK TO SAVEPOINT item; RELEASE SAVEPOINT item")?;
                }
            }
        }
        Ok(out)
    }

    /// The next value of a named sequence (`license`, `activation`, `audit`).
    pub fn next_id(&self, sequence: &str) -> Result<u64> {
        if let Some(id) = self.ahead.borrow_mut().take_id(sequence) {
            return Ok(id);
        }
        self.one(
            "UPDATE sequences SET value = value + 1 WHERE name = ?1 RETURNING value",
            vals![sequence],
            |r| col_u64(r, 0),
        )?
        .ok_or(AuthorityError::Corrupt("missing sequence"))
    }

    // --- signing keys -------------------------------------------------------------------------

    pub fn insert_key(&self, k: &SigningKeyInfo) -> Result<()> {
        self.active_key.replace(None);
        self.exec(
            "INSERT INTO signing_keys (key_id, public_key, status, created_at, retired_at, \
             withdrawn_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vals![
                k.key_id.to_hex(),
                hex_string(&k.public_key),
                k.status.name(),
                to_i64(k.created_at)?,
                k.retired_at.map(to_i64).transpose()?,
                k.withdrawn_at.map(to_i64).transpose()?,
            ],
        )?;
        Ok(())
    }

    /// The active signing key (read once per transaction: only [`Tx::insert_key`] and
    /// [`Tx::retire_key`] change it).
    pub fn active_key(&self) -> Result<Option<SigningKeyInfo>> {
        if let Some(k) = self.active_key.borrow().as_ref() {
            return Ok(k.clone());
        }
        let k = self.one(
            &format!("SELECT {KEY_COLUMNS} FROM signing_keys WHERE status = 'active'"),
            &[],
            key_row,
        )?;
        self.active_key.replace(Some(k.clone()));
        Ok(k)
    }

    pub fn retire_key(&self, key_id: KeyId, at: u64) -> Result<()> {
        self.active_key.replace(None);
        self.exec(
            "UPDATE signing_keys SET status = 'retired', retired_at = ?2 WHERE key_id = ?1",
            vals![key_id.to_hex(), to_i64(at)?],
        )?;
        Ok(())
    }

    /// Records the root-signed certificate of a key.
    /// The certificate of `key_id` for `product` (armored), if the root issued one.
    pub fn key_certificate(&self, key_id: KeyId, product: &str) -> Result<Option<String>> {
        self.one(
            "SELECT armored FROM key_certificates WHERE key_id = ?1 AND product = ?2",
            vals![key_id.to_hex(), product],
            |r| col_str(r, 0),
        )
    }

    /// Every certificate for `product` of a key not withdrawn, oldest key first.
    pub fn key_certificates(&self, product: &str) -> Result<Vec<String>> {
        self.all(
            "SELECT c.armored FROM key_certificates c JOIN signing_keys k ON k.key_id = c.key_id \
             WHERE c.product = ?1 AND k.withdrawn_at IS NULL ORDER BY k.created_at, k.key_id",
            vals![product],
            |r| col_str(r, 0),
        )
    }

    pub fn insert_key_certificate(
        &self,
        key_id: KeyId,
        product: &str,
        armored: &str,
        at: u64,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO key_certificates (key_id, product, armored, issued_at) \
             VALUES (?1, ?2, ?3, ?4)",
            vals![key_id.to_hex(), product, armored, to_i64(at)?],
        )?;
        Ok(())
    }

    /// Every product the ledger knows: of its licenses and of its certificates.
    pub fn products(&self) -> Result<Vec<String>> {
        self.all(
            "SELECT product FROM licenses UNION SELECT product FROM key_certificates \
             ORDER BY product",
            &[],
            |r| col_str(r, 0),
        )
    }

    /// Marks a key withdrawn by the key list. Returns false if it already was, or is unknown.
    pub fn withdraw_key(&self, key_id: KeyId, at: u64) -> Result<bool> {
        self.active_key.replace(None);
        let n = self.exec(
            "UPDATE signing_keys SET withdrawn_at = ?2 WHERE key_id = ?1 AND withdrawn_at IS NULL",
            vals![key_id.to_hex(), to_i64(at)?],
        )?;
        Ok(n == 1)
    }

    /// The current (highest sequence) key list of `product`: sequence and armored text.
    pub fn current_key_list(&self, product: &str) -> Result<Option<(u64, String)>> {
        self.one(
            "SELECT sequence, armored FROM key_lists WHERE product = ?1 \
             ORDER BY sequence DESC LIMIT 1",
            vals![product],
            |r| Ok((col_u64(r, 0)?, col_str(r, 1)?)),
        )
    }

    pub fn insert_key_list(
        &self,
        product: &str,
        sequence: u64,
        armored: &str,
        at: u64,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO key_lists (product, sequence, armored, issued_at) \
             VALUES (?1, ?2, ?3, ?4)",
            vals![product, to_i64(sequence)?, armored, to_i64(at)?],
        )?;
        Ok(())
    }

    pub fn list_keys(&self) -> Result<Vec<SigningKeyInfo>> {
        self.all(
            &format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, key_id"),
            &[],
            key_row,
        )
    }

    // --- licenses -----------------------------------------------------------------------------

    pub fn lookup_taken(&self, lookup: &[u8; 8]) -> Result<bool> {
        Ok(self
            .one(
                "SELECT 1 FROM licenses WHERE key_lookup = ?1",
                vals![hex_string(lookup)],
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
        transfers: TransferPolicy,
        at: u64,
    ) -> Result<()> {
        let auth_hex = zeroize::Zeroizing::new(hex_string(&auth.0));
        self.exec(
            "INSERT INTO licenses (id, key_lookup, key_auth, product, customer, revision, \
             created_at, updated_at, max_transfers, transfer_period_secs) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)",
            vals![
                to_i64(id)?,
                hex_string(lookup),
                auth_hex.as_str(),
                grant.product,
                grant.customer,
                grant.revision,
                to_i64(at)?,
                transfers.max_transfers,
                to_i64(transfers.period_secs)?,
            ],
        )?;
        Ok(())
    }

    fn license_row(r: &Row) -> Result<LicenseRow> {
        let s = zeroize::Zeroizing::new(col_str(r, 1)?);
        Ok(LicenseRow {
            id: col_u64(r, 0)?,
            key_auth: KeyAuthSecret(
                parse_hex(&s).ok_or(AuthorityError::Corrupt("bad key auth secret"))?,
            ),
            revision: col_u32(r, 2)?,
            status: col_license_status(r, 3)?,
            transfers: col_transfers(r, 4)?,
        })
    }

    pub fn license_by_lookup(&self, lookup: &[u8; 8]) -> Result<Option<LicenseRow>> {
        if let Some(row) = self.ahead.borrow().licenses.get(lookup) {
            return Ok(row.clone());
        }
        self.one(
            &self.license_by_lookup_sql(),
            vals![hex_string(lookup)],
            Self::license_row,
        )
    }

    fn license_by_lookup_sql(&self) -> String {
        format!(
            "SELECT id, key_auth, revision, status, max_transfers, transfer_period_secs \
             FROM licenses WHERE key_lookup = ?1{}",
            self.lock()
        )
    }

    pub fn license_by_id(&self, id: u64) -> Result<Option<LicenseRow>> {
        self.one(
            &format!(
                "SELECT id, key_auth, revision, status, max_transfers, transfer_period_secs \
                 FROM licenses WHERE id = ?1{}",
                self.lock()
            ),
            vals![to_i64(id)?],
            Self::license_row,
        )
    }

    pub fn insert_revision(&self, r: &RevisionRow) -> Result<()> {
        self.exec(
            "INSERT INTO license_revisions (license_id, revision, grant_json, armored, key_id, \
             issued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vals![
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
            vals![
                to_i64(r.license_id)?,
                r.revision,
                r.grant.customer,
                to_i64(r.issued_at)?
            ],
        )?;
        Ok(())
    }

    pub fn revision(&self, license_id: u64, revision: u32) -> Result<Option<RevisionRow>> {
        if let Some(row) = self.ahead.borrow().revisions.get(&(license_id, revision)) {
            return Ok(Some(row.clone()));
        }
        self.one(
            REVISION_SQL,
            vals![to_i64(license_id)?, revision],
            revision_row,
        )
    }

    pub fn license_record(&self, id: u64) -> Result<Option<LicenseRecord>> {
        self.one(
            &format!("{LICENSE_RECORD_SQL} WHERE l.id = ?1"),
            vals![to_i64(id)?],
            license_record,
        )
    }

    pub fn license_records(&self) -> Result<Vec<LicenseRecord>> {
        self.all(
            &format!("{LICENSE_RECORD_SQL} ORDER BY l.id"),
            &[],
            license_record,
        )
    }

    /// Sets a license's status.
    pub fn set_license_status(&self, id: u64, status: LicenseStatus, at: u64) -> Result<()> {
        self.ahead.borrow_mut().forget_rows();
        self.exec(
            "UPDATE licenses SET status = ?2, status_changed_at = ?3 WHERE id = ?1",
            vals![to_i64(id)?, status.name(), to_i64(at)?],
        )?;
        Ok(())
    }

    /// Seats of `license_id` freed (deactivated or restored) after `since`.
    pub fn count_freed_since(&self, license_id: u64, since: u64) -> Result<u64> {
        Ok(self
            .one(
                "SELECT COUNT(*) FROM activations WHERE license_id = ?1 AND freed_at > ?2",
                vals![to_i64(license_id)?, to_i64(since)?],
                |r| col_u64(r, 0),
            )?
            .unwrap_or(0))
    }

    /// The most recently freed activation of `license_id`: (id, freed at).
    pub fn last_freed(&self, license_id: u64) -> Result<Option<(u64, u64)>> {
        if let Some(v) = self.ahead.borrow().last_freed.get(&license_id) {
            return Ok(*v);
        }
        self.one(LAST_FREED_SQL, vals![to_i64(license_id)?], last_freed_row)
    }

    pub fn license_id_by_lookup(&self, lookup: &[u8; 8]) -> Result<Option<u64>> {
        self.one(
            "SELECT id FROM licenses WHERE key_lookup = ?1",
            vals![hex_string(lookup)],
            |r| col_u64(r, 0),
        )
    }

    // --- activations --------------------------------------------------------------------------

    pub fn activation(&self, id: u64) -> Result<Option<Activation>> {
        self.one(
            &format!("SELECT {ACTIVATION_COLUMNS} FROM activations WHERE id = ?1"),
            vals![to_i64(id)?],
            activation_row,
        )
    }

    pub fn activations(&self, license_id: u64) -> Result<Vec<Activation>> {
        self.all(
            &format!(
                "SELECT {ACTIVATION_COLUMNS} FROM activations WHERE license_id = ?1 ORDER BY id"
            ),
            vals![to_i64(license_id)?],
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
        if let Some(v) = self.ahead.borrow().devices.get(&(license_id, *device_key)) {
            return Ok(v.clone());
        }
        self.all(
            &device_activations_sql(),
            vals![to_i64(license_id)?, hex_string(device_key)],
            device_activation_row,
        )
    }

    /// The ids of the license's active floating activations (floating license servers that
    /// may lend the license's `floating_seats`), lowest first.
    pub fn active_floating(&self, license_id: u64) -> Result<Vec<u64>> {
        self.all(
            "SELECT id FROM activations \
             WHERE license_id = ?1 AND status = ?2 AND model = ?3 ORDER BY id",
            vals![
                to_i64(license_id)?,
                ActivationStatus::Active.name(),
                DeploymentModel::Floating.name()
            ],
            |r| col_u64(r, 0),
        )
    }

    /// Seats in use (the license row's counter, kept by [`Tx::insert_activation`] and
    /// [`Tx::free_activation`]).
    pub fn count_active(&self, license_id: u64) -> Result<u64> {
        if let Some(n) = self.ahead.borrow().active_counts.get(&license_id) {
            return Ok(*n);
        }
        Ok(self
            .one(COUNT_ACTIVE_SQL, vals![to_i64(license_id)?], |r| {
                col_u64(r, 0)
            })?
            .unwrap_or(0))
    }

    pub fn insert_activation(&self, a: &Activation, request_id: &[u8; 16]) -> Result<()> {
        self.ahead
            .borrow_mut()
            .activation_inserted(a.license_id, &a.device_key, a.status);
        self.exec_deferred(
            &format!(
                "INSERT INTO activations ({ACTIVATION_COLUMNS}, last_request_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ),
            vals![
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
                a.follows_activation.map(to_i64).transpose()?,
                hex_string(request_id),
            ],
        )?;
        if a.status == ActivationStatus::Active {
            if let Some(pending) = self.seats.borrow_mut().as_mut() {
                *pending.entry(a.license_id).or_default() += 1;
                return Ok(());
            }
            self.exec_deferred(
                "UPDATE licenses SET active_activations = active_activations + 1 WHERE id = ?1",
                vals![to_i64(a.license_id)?],
            )?;
        }
        Ok(())
    }

    /// Records a new fulfilled request on an existing activation.
    pub fn update_fulfilled(&self, a: &Activation, request_id: &[u8; 16]) -> Result<()> {
        self.ahead
            .borrow_mut()
            .devices
            .remove(&(a.license_id, a.device_key));
        self.exec_deferred(
            "UPDATE activations SET model = ?2, fingerprint_json = ?3, product_version = ?4, \
             last_counter = ?5, last_request_id = ?6, last_fulfilled_at = ?7 WHERE id = ?1",
            vals![
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
        self.ahead.borrow_mut().forget_rows();
        let n = self.exec(
            "UPDATE activations SET status = ?2, freed_at = ?3, freed_counter = ?4 \
             WHERE id = ?1 AND status = 'active'",
            vals![to_i64(id)?, status.name(), to_i64(at)?, counter],
        )?;
        if n == 1 {
            self.exec(
                "UPDATE licenses SET active_activations = active_activations - 1 \
                 WHERE id = (SELECT license_id FROM activations WHERE id = ?1)",
                vals![to_i64(id)?],
            )?;
        }
        Ok(n == 1)
    }

    // --- usage licenses -----------------------------------------------------------------------

    pub fn usage_by_request(
        &self,
        license_id: u64,
        request_id: &[u8; 16],
    ) -> Result<Option<UsageRow>> {
        if let Some(v) = self.ahead.borrow().usages.get(&(license_id, *request_id)) {
            return Ok(v.clone());
        }
        self.one(
            &usage_by_request_sql(),
            vals![hex_string(request_id), to_i64(license_id)?],
            usage_row,
        )
    }

    pub fn latest_usage(&self, activation_id: u64) -> Result<Option<UsageRow>> {
        self.one(
            &format!(
                "SELECT {USAGE_COLUMNS} FROM usage_licenses u WHERE u.activation_id = ?1 \
                 ORDER BY u.issued_at DESC, u.counter DESC LIMIT 1"
            ),
            vals![to_i64(activation_id)?],
            usage_row,
        )
    }

    pub fn insert_usage(&self, u: &UsageRow) -> Result<()> {
        self.ahead.borrow_mut().usage_inserted(&u.request_id);
        self.exec_deferred(
            "INSERT INTO usage_licenses (activation_id, request_id, counter, model, revision, \
             key_id, armored, issued_at, refresh_deadline) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            vals![
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
        self.exec_deferred(
            "INSERT INTO audit_log (id, at, actor, action, license_id, activation_id, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            vals![
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
        let map = |r: &Row| {
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
                vals![to_i64(l)?, limit],
                map,
            ),
            None => self.all(
                &format!("{COLS} ORDER BY id DESC LIMIT ?1"),
                vals![limit],
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
    fn migration_2_counts_the_seats_of_a_version_1_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        {
            // A ledger as version 1 left it, with two active activations and a freed one.
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch(schema::MIGRATIONS[0].sql).unwrap();
            c.execute_batch(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL);
                 INSERT INTO schema_migrations VALUES (1, 'initial');
                 INSERT INTO licenses VALUES (1, 'l', 'a', 'p', 'c', 1, 0, 0);
                 INSERT INTO activations (id, license_id, device_key, model, status,
                     fingerprint_json, product_version, last_counter, last_request_id,
                     created_at, last_fulfilled_at)
                 VALUES (1, 1, 'd1', 'online', 'active', '[]', 'v', 1, 'r', 0, 0),
                        (2, 1, 'd2', 'online', 'deactivated', '[]', 'v', 1, 'r', 0, 0),
                        (3, 1, 'd3', 'offline', 'active', '[]', 'v', 1, 'r', 0, 0);",
            )
            .unwrap();
        }
        let mut l = Ledger::open(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(l.schema_version().unwrap(), latest_version());
        assert_eq!(l.read(|tx| tx.count_active(1)).unwrap(), 2);
        assert!(l
            .write(|tx| tx.free_activation(1, ActivationStatus::Restored, 5, None))
            .unwrap());
        assert_eq!(l.read(|tx| tx.count_active(1)).unwrap(), 1);
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
        l.write(|tx| {
            tx.exec(
                "INSERT INTO schema_migrations (version, name) VALUES (?1, 'future')",
                vals![latest_version() + 1],
            )
        })
        .unwrap();
        drop(l);
        assert!(matches!(
            Ledger::open(&path, Duration::from_secs(1)),
            Err(AuthorityError::SchemaTooNew { .. })
        ));
    }
}

// After `vals!`, which it uses (macro scope is textual).
mod marketplace;
