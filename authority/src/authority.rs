//! [`Authority`]: the vendor's state directory and every licensing operation on it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use tollgate_core::model::check_feature_name;
use tollgate_core::{
    hex_string, DeactivationCode, DeploymentModel, FeatureKind, Grant, KeyAuthSecret, KeyId,
    Keyring, License, LicenseKey, UsageLicense, UsageRequest, UsageTerms, VendorSigningKey,
};
use zeroize::Zeroizing;

use crate::error::{AuthorityError, Result};
use crate::keystore::{random, KeyStore};
use crate::ledger::{Ledger, NewAudit, RevisionRow, Tx, UsageRow};
use crate::records::{
    Activation, ActivationStatus, AuditEntry, KeyStatus, LicenseRecord, SigningKeyInfo,
};
use crate::spec::{
    AuthorityConfig, Freed, FulfilItem, FulfilMode, Fulfilled, IssueSpec, Issued, NewExpiry,
    UpgradeSpec,
};

/// The ledger file inside the state directory.
pub const LEDGER_FILE: &str = "ledger.sqlite";
/// The signing key directory inside the state directory.
pub const KEYS_DIR: &str = "keys";

/// Longest restore reason or actor name, in bytes.
const MAX_NOTE: usize = 4096;

/// The actor recorded in the audit log until [`Authority::set_actor`] is called.
pub const DEFAULT_ACTOR: &str = "vendor";

/// The vendor side of Tollgate: signing keys, the license ledger and every operation on them
/// (issue, fulfil, deactivate, restore, upgrade, audit).
///
/// An `Authority` owns one connection to the ledger of one state directory. Every operation
/// is one ledger transaction taken with the write lock first (`BEGIN IMMEDIATE`), so several
/// processes (the CLI, the online service, …) may work on the same directory at once and a
/// seat is never given twice. Use one `Authority` per thread; it is `Send` but not `Sync`.
///
/// No call reads a clock: each takes `now` (Unix seconds) from the caller.
pub struct Authority {
    dir: PathBuf,
    ledger: Ledger,
    keys: KeyStore,
    config: AuthorityConfig,
    actor: String,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("dir", &self.dir)
            .field("actor", &self.actor)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn audit(
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

fn grant_json(g: &Grant) -> Value {
    serde_json::to_value(g).unwrap_or(Value::Null)
}

/// The active signing key, loaded from its file (or kept from the last load).
fn active_signer(tx: &Tx<'_>, keys: &KeyStore) -> Result<Arc<VendorSigningKey>> {
    let info = tx.active_key()?.ok_or(AuthorityError::NoSigningKey)?;
    keys.signer(info.key_id)
}

/// Policy checks on a grant, beyond the core's format limits.
fn check_grant(g: &Grant) -> Result<()> {
    if g.max_activations == 0 {
        return Err(AuthorityError::invalid(
            "max_activations must be at least 1",
        ));
    }
    if g.models.allows(DeploymentModel::Floating) && g.floating_seats == 0 {
        return Err(AuthorityError::invalid(
            "a license allowing the floating model needs at least one floating seat",
        ));
    }
    for f in &g.features {
        check_feature_name(&f.name).map_err(|_| {
            AuthorityError::invalid(format!(
                "feature name `{}`: use 1-32 bytes of a-z 0-9 . _ -",
                f.name
            ))
        })?;
    }
    g.validate()?;
    Ok(())
}

fn check_note(what: &str, s: &str) -> Result<()> {
    if s.trim().is_empty() || s.len() > MAX_NOTE {
        return Err(AuthorityError::invalid(format!(
            "{what} must be 1-{MAX_NOTE} bytes and not blank"
        )));
    }
    Ok(())
}

impl Authority {
    /// Opens the vendor state directory `dir`, creating it and `dir/keys/` (mode 0700) and
    /// `dir/ledger.sqlite` (mode 0600) if needed, and bringing the ledger schema up to date.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, AuthorityConfig::default())
    }

    /// Like [`Authority::open`], with explicit settings.
    pub fn open_with(dir: impl AsRef<Path>, config: AuthorityConfig) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        private_dir(&dir)?;
        let keys = KeyStore::open(dir.join(KEYS_DIR))?;
        // The ledger holds key auth secrets: create it private (SQLite gives its -wal and
        // -shm files the same mode).
        let ledger_path = dir.join(LEDGER_FILE);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        opts.open(&ledger_path)
            .map_err(|e| AuthorityError::io(&ledger_path, e))?;
        let ledger = Ledger::open(&ledger_path, config.busy_timeout)?;
        Ok(Authority {
            dir,
            ledger,
            keys,
            config,
            actor: DEFAULT_ACTOR.into(),
        })
    }

    /// Opens a vendor state directory whose ledger lives in PostgreSQL (feature `postgres`):
    /// the signing keys stay in `dir/keys/` (created with mode 0700 if needed), the ledger is
    /// the database at `url` (`postgres://user:password@host:port/database`), whose schema is
    /// brought up to date — the same migrations as SQLite's. Several `Authority` values, in
    /// one process or many, may share the database; each holds one connection. The URL is not
    /// kept where `Debug` or an error could show it. The connection is not encrypted: use a
    /// database on the same host or a private network.
    ///
    /// Fails with [`AuthorityError::Db`] when the database cannot be reached, and like
    /// [`Authority::open`] otherwise.
    #[cfg(feature = "postgres")]
    pub fn open_postgres(
        dir: impl AsRef<Path>,
        url: &str,
        config: AuthorityConfig,
    ) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        private_dir(&dir)?;
        let keys = KeyStore::open(dir.join(KEYS_DIR))?;
        let ledger = Ledger::connect_postgres(url, config.busy_timeout)?;
        Ok(Authority {
            dir,
            ledger,
            keys,
            config,
            actor: DEFAULT_ACTOR.into(),
        })
    }

    /// The ledger's database: `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.ledger.dialect() {
            crate::ledger::Dialect::Sqlite => "sqlite",
            crate::ledger::Dialect::Postgres => "postgres",
        }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The settings in use.
    pub fn config(&self) -> &AuthorityConfig {
        &self.config
    }

    /// Sets who is recorded in the audit log for the following calls (an operator's name,
    /// `online-service`, …). Fails if blank or longer than 4096 bytes.
    pub fn set_actor(&mut self, actor: impl Into<String>) -> Result<()> {
        let actor = actor.into();
        check_note("actor", &actor)?;
        self.actor = actor;
        Ok(())
    }

    /// Who is recorded in the audit log.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The ledger's schema version.
    pub fn schema_version(&mut self) -> Result<u32> {
        self.ledger.schema_version()
    }

    // --- signing keys -------------------------------------------------------------------------

    /// Creates the first signing key: 32 bytes from the OS RNG, stored in
    /// `keys/<key id>.key` (mode 0600), recorded as active. Fails with
    /// [`AuthorityError::SigningKeyExists`] if a key is already active.
    pub fn create_signing_key(&mut self, now: u64) -> Result<SigningKeyInfo> {
        self.new_signing_key(now, false)
    }

    /// Creates a new signing key and makes it the active one; the previous key is retired (it
    /// stays listed by [`Authority::public_keys`] so hosts keep trusting what it signed).
    /// Fails with [`AuthorityError::NoSigningKey`] if there is no active key to rotate.
    pub fn rotate_signing_key(&mut self, now: u64) -> Result<SigningKeyInfo> {
        self.new_signing_key(now, true)
    }

    fn new_signing_key(&mut self, now: u64, rotate: bool) -> Result<SigningKeyInfo> {
        let (key, path) = self.keys.generate()?;
        let info = SigningKeyInfo {
            key_id: key.key_id(),
            public_key: key.public_key(),
            status: KeyStatus::Active,
            created_at: now,
            retired_at: None,
        };
        drop(key);
        let actor = self.actor.as_str();
        let result = self.ledger.write(|tx| {
            let old = tx.active_key()?;
            match (&old, rotate) {
                (Some(_), false) => return Err(AuthorityError::SigningKeyExists),
                (None, true) => return Err(AuthorityError::NoSigningKey),
                _ => {}
            }
            if let Some(old) = &old {
                tx.retire_key(old.key_id, now)?;
            }
            tx.insert_key(&info)?;
            audit(
                tx,
                now,
                actor,
                if rotate { "key.rotated" } else { "key.created" },
                None,
                None,
                json!({
                    "key_id": info.key_id.to_hex(),
                    "public_key": info.public_key_hex(),
                    "retired_key_id": old.map(|o| o.key_id.to_hex()),
                }),
            )
        });
        if result.is_err() {
            self.keys.discard(&path);
        }
        result.map(|()| info)
    }

    /// Every signing key, active and retired, oldest first: what hosts put in their keyrings.
    pub fn public_keys(&mut self) -> Result<Vec<SigningKeyInfo>> {
        self.ledger.read(|tx| tx.list_keys())
    }

    /// A keyring of every listed key, to verify what this authority signed.
    pub fn keyring(&mut self) -> Result<Keyring> {
        let keys = self.public_keys()?;
        Ok(Keyring::from_keys(keys.iter().map(|k| &k.public_key))?)
    }

    /// The id of the key that signs new artifacts, if there is one.
    pub fn active_key_id(&mut self) -> Result<Option<KeyId>> {
        Ok(self.ledger.read(|tx| tx.active_key())?.map(|k| k.key_id))
    }

    // --- licenses -----------------------------------------------------------------------------

    /// Issues a license: a new random key (15 bytes from the OS RNG), the next license id, and
    /// revision 1 of the grant signed by the active key.
    ///
    /// Only the key's lookup id and auth secret (a hash) are stored. Fails with
    /// [`AuthorityError::InvalidArgument`] or a core `LimitExceeded` if the spec breaks a
    /// limit, and with [`AuthorityError::NoSigningKey`] before the first key is created.
    pub fn issue(&mut self, spec: IssueSpec, now: u64) -> Result<Issued> {
        let mut grant = Grant {
            license_id: 0,
            revision: 1,
            product: spec.product,
            customer: spec.customer,
            features: spec.features,
            models: spec.models,
            max_activations: spec.max_activations,
            floating_seats: spec.floating_seats,
            not_before: spec.not_before,
            not_after: spec.not_after,
            fingerprint_threshold: spec.fingerprint_threshold,
            max_borrow_secs: spec.max_borrow_secs,
            rollback_tolerance_secs: Grant::DEFAULT_ROLLBACK_TOLERANCE_SECS,
            offline_refresh_secs: 0,
        };
        check_grant(&grant)?;
        let (keys, actor) = (&self.keys, self.actor.as_str());
        self.ledger.write(|tx| {
            let signer = active_signer(tx, keys)?;
            let key = new_license_key(tx)?;
            let lookup = key.lookup_id();
            grant.license_id = tx.next_id("license")?;
            let license = License::sign(grant.clone(), now, &signer)?;
            tx.insert_license(grant.license_id, &lookup, &key.auth_secret(), &grant, now)?;
            tx.insert_revision(&RevisionRow {
                license_id: grant.license_id,
                revision: 1,
                grant: grant.clone(),
                armored: license.to_armor(),
                key_id: signer.key_id(),
                issued_at: now,
            })?;
            audit(
                tx,
                now,
                actor,
                "license.issued",
                Some(grant.license_id),
                None,
                json!({
                    "key_lookup": hex_string(&lookup),
                    "signed_by": signer.key_id().to_hex(),
                    "grant": grant_json(&grant),
                }),
            )?;
            Ok(Issued { key, license })
        })
    }

    /// Upgrades a license: applies `spec` to the current grant and signs it as the next
    /// revision with the active key. The next fulfilled usage request of each host carries the
    /// new grant.
    ///
    /// Adding a feature the license already has fails with [`AuthorityError::FeatureExists`],
    /// except a subscription given with a later expiry, which is extended (another year of
    /// Support can be bought at any time). An upgrade that changes nothing fails with
    /// [`AuthorityError::InvalidArgument`].
    pub fn upgrade(&mut self, license_id: u64, spec: UpgradeSpec, now: u64) -> Result<License> {
        let (keys, actor) = (&self.keys, self.actor.as_str());
        self.ledger.write(|tx| {
            let lic = tx
                .license_by_id(license_id)?
                .ok_or(AuthorityError::LicenseNotFound(license_id))?;
            let current = tx
                .revision(lic.id, lic.revision)?
                .ok_or(AuthorityError::Corrupt("missing license revision"))?;
            let (mut grant, changes) = apply_upgrade(&current.grant, &spec, now)?;
            if grant == current.grant {
                return Err(AuthorityError::invalid("the upgrade changes nothing"));
            }
            grant.revision = current
                .revision
                .checked_add(1)
                .ok_or(AuthorityError::invalid("too many revisions"))?;
            check_grant(&grant)?;
            let signer = active_signer(tx, keys)?;
            let license = License::sign(grant.clone(), now, &signer)?;
            tx.insert_revision(&RevisionRow {
                license_id,
                revision: grant.revision,
                grant: grant.clone(),
                armored: license.to_armor(),
                key_id: signer.key_id(),
                issued_at: now,
            })?;
            audit(
                tx,
                now,
                actor,
                "license.upgraded",
                Some(license_id),
                None,
                json!({
                    "from_revision": current.revision,
                    "to_revision": grant.revision,
                    "signed_by": signer.key_id().to_hex(),
                    "changes": changes,
                    "grant": grant_json(&grant),
                }),
            )?;
            Ok(license)
        })
    }

    /// Every license, by id, with its current revision and seat usage.
    pub fn list_licenses(&mut self) -> Result<Vec<LicenseRecord>> {
        self.ledger.read(|tx| tx.license_records())
    }

    /// One license. Fails with [`AuthorityError::LicenseNotFound`].
    pub fn get_license(&mut self, license_id: u64) -> Result<LicenseRecord> {
        self.ledger
            .read(|tx| tx.license_record(license_id))?
            .ok_or(AuthorityError::LicenseNotFound(license_id))
    }

    /// The id of the license issued with `key`, if any (for a support desk given a key).
    pub fn license_id_for_key(&mut self, key: &LicenseKey) -> Result<Option<u64>> {
        let lookup = key.lookup_id();
        self.ledger.read(|tx| tx.license_id_by_lookup(&lookup))
    }

    // --- activations --------------------------------------------------------------------------

    /// Answers a usage request (`TGRQ:…`) with a usage license for deployment model `model`.
    ///
    /// Checks, in order: the request's format and self-signature (core errors), the key
    /// (unknown lookup id or wrong key proof: [`AuthorityError::UnknownKey`], checked in
    /// constant time), the product, the model, the license's validity window. Then:
    ///
    /// * the exact same request answered before (same request id) → the stored usage license,
    ///   byte for byte, and no new seat (it carries the grant of its time: a host picks up an
    ///   upgrade with a new request);
    /// * a device key with an active activation → that activation (a refresh or upgrade round
    ///   trip: no new seat); its counter must not be lower than the last one answered;
    /// * otherwise a new activation, refused with [`AuthorityError::SeatsExhausted`] when every
    ///   seat is taken. A device key that was deactivated must come back with a higher counter
    ///   than the one it was deactivated at.
    ///
    /// The usage license carries the license's current grant. Online activations get a refresh
    /// deadline of `now` + [`AuthorityConfig::online_refresh_secs`]. Everything happens in one
    /// transaction: two processes racing for the last seat cannot both win.
    pub fn fulfil(
        &mut self,
        request_armored: &str,
        model: DeploymentModel,
        now: u64,
    ) -> Result<Fulfilled> {
        self.fulfil_with(request_armored, model, FulfilMode::Activate, now)
    }

    /// [`Authority::fulfil`] with a [`FulfilMode`]: [`FulfilMode::Refresh`] answers only a
    /// device that holds an active activation of the license (an online reactivation: the same
    /// activation gets the current grant and a new refresh deadline) and fails with
    /// [`AuthorityError::NoActiveActivation`] otherwise, never taking a new seat.
    pub fn fulfil_with(
        &mut self,
        request_armored: &str,
        model: DeploymentModel,
        mode: FulfilMode,
        now: u64,
    ) -> Result<Fulfilled> {
        let req = UsageRequest::from_armor(request_armored)?;
        let refresh_deadline = self.refresh_deadline(model, now)?;
        let (keys, actor) = (&self.keys, self.actor.as_str());
        self.ledger
            .write(|tx| fulfil_in(tx, keys, actor, &req, model, mode, now, refresh_deadline))
    }

    /// Answers many usage requests (already decoded: [`FulfilItem::parse`]) in one ledger
    /// transaction (group commit), each inside its own savepoint: one request's failure (an unknown key, no seat left, …) undoes only its
    /// own changes and is reported in its slot, while the others are committed together with
    /// one disk flush. Each request is checked exactly as by [`Authority::fulfil_with`], in the
    /// order given, so a later request sees the seats taken by an earlier one.
    ///
    /// Returns one result per item, in order, once everything is durable. The outer error
    /// means the transaction itself failed (the lock could not be taken, the commit failed):
    /// then nothing was committed.
    pub fn fulfil_many(
        &mut self,
        items: &[FulfilItem],
        now: u64,
    ) -> Result<Vec<Result<Fulfilled>>> {
        let mut out: Vec<Option<Result<Fulfilled>>> = Vec::with_capacity(items.len());
        let mut todo = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match self.refresh_deadline(item.model, now) {
                Ok(deadline) => {
                    todo.push((i, deadline));
                    out.push(None);
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        if !todo.is_empty() {
            let (keys, actor) = (&self.keys, self.actor.as_str());
            let done = self.ledger.write(|tx| {
                let mut done = Vec::with_capacity(todo.len());
                for (i, deadline) in &todo {
                    let Some(item) = items.get(*i) else { continue };
                    done.push(tx.savepoint(|tx| {
                        fulfil_in(
                            tx,
                            keys,
                            actor,
                            &item.request,
                            item.model,
                            item.mode,
                            now,
                            *deadline,
                        )
                    })?);
                }
                Ok(done)
            })?;
            for ((i, _), result) in todo.iter().zip(done) {
                if let Some(slot) = out.get_mut(*i) {
                    *slot = Some(result);
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or(Err(AuthorityError::Corrupt("unanswered batch item"))))
            .collect())
    }

    /// The refresh deadline of a usage license for `model` issued at `now`.
    fn refresh_deadline(&self, model: DeploymentModel, now: u64) -> Result<Option<u64>> {
        match model {
            DeploymentModel::Offline => None,
            DeploymentModel::Online => Some(self.config.online_refresh_secs),
            DeploymentModel::Floating => self.config.floating_refresh_secs,
        }
        .map(|p| {
            now.checked_add(p)
                .ok_or(AuthorityError::invalid("refresh deadline overflows"))
        })
        .transpose()
    }

    /// Processes a deactivation code (`TGDC:…`) from a host: frees the seat of the activation
    /// it names, exactly once.
    ///
    /// Fails with [`AuthorityError::ActivationNotFound`] if no such activation exists, with
    /// [`AuthorityError::BadDeactivationCode`] if it belongs to another license or the code's
    /// signature does not verify with the activation's recorded device key, and with
    /// [`AuthorityError::AlreadyDeactivated`] for a code already processed (or an activation
    /// already restored).
    pub fn deactivate(&mut self, code_armored: &str, now: u64) -> Result<Freed> {
        let claims = DeactivationCode::from_armor(code_armored)?.claims().clone();
        let actor = self.actor.as_str();
        self.ledger.write(|tx| {
            let act = tx
                .activation(claims.activation_id)?
                .ok_or(AuthorityError::ActivationNotFound(claims.activation_id))?;
            if act.license_id != claims.license_id {
                return Err(AuthorityError::BadDeactivationCode);
            }
            // (Decoded again: a retried transaction needs the code again.)
            DeactivationCode::from_armor(code_armored)?
                .verify(&act.device_key)
                .map_err(|_| AuthorityError::BadDeactivationCode)?;
            if act.status != ActivationStatus::Active
                || !tx.free_activation(
                    act.id,
                    ActivationStatus::Deactivated,
                    now,
                    Some(claims.counter),
                )?
            {
                return Err(AuthorityError::AlreadyDeactivated(act.id));
            }
            audit(
                tx,
                now,
                actor,
                "activation.deactivated",
                Some(act.license_id),
                Some(act.id),
                json!({
                    "device_key": hex_string(&act.device_key),
                    "counter": claims.counter,
                    "host_deactivated_at": claims.deactivated_at,
                }),
            )?;
            Ok(Freed {
                license_id: act.license_id,
                activation_id: act.id,
            })
        })
    }

    /// Frees the seat of an activation whose host was lost without deactivating ("what if I
    /// forgot to deactivate?"), recording `operator` and `reason` in the audit log.
    ///
    /// Fails with [`AuthorityError::LicenseNotFound`], [`AuthorityError::ActivationNotFound`]
    /// (also when the activation belongs to another license),
    /// [`AuthorityError::AlreadyDeactivated`], or [`AuthorityError::InvalidArgument`] for a
    /// blank reason or operator.
    pub fn restore(
        &mut self,
        license_id: u64,
        activation_id: u64,
        reason: &str,
        operator: &str,
        now: u64,
    ) -> Result<Freed> {
        check_note("reason", reason)?;
        check_note("operator", operator)?;
        self.ledger.write(|tx| {
            tx.license_by_id(license_id)?
                .ok_or(AuthorityError::LicenseNotFound(license_id))?;
            let act = tx
                .activation(activation_id)?
                .filter(|a| a.license_id == license_id)
                .ok_or(AuthorityError::ActivationNotFound(activation_id))?;
            if act.status != ActivationStatus::Active
                || !tx.free_activation(act.id, ActivationStatus::Restored, now, None)?
            {
                return Err(AuthorityError::AlreadyDeactivated(act.id));
            }
            audit(
                tx,
                now,
                operator,
                "activation.restored",
                Some(license_id),
                Some(act.id),
                json!({
                    "reason": reason,
                    "device_key": hex_string(&act.device_key),
                    "model": act.model.name(),
                    "activated_at": act.created_at,
                    "last_fulfilled_at": act.last_fulfilled_at,
                    "last_counter": act.last_counter,
                }),
            )?;
            Ok(Freed {
                license_id,
                activation_id: act.id,
            })
        })
    }

    /// Every activation of a license, active or freed, by id. Fails with
    /// [`AuthorityError::LicenseNotFound`].
    pub fn list_activations(&mut self, license_id: u64) -> Result<Vec<Activation>> {
        self.ledger.read(|tx| {
            tx.license_by_id(license_id)?
                .ok_or(AuthorityError::LicenseNotFound(license_id))?;
            tx.activations(license_id)
        })
    }

    /// The last usage license issued for an activation (`TGUL:…`), to send again. Fails with
    /// [`AuthorityError::ActivationNotFound`].
    pub fn usage_license(&mut self, activation_id: u64) -> Result<String> {
        self.ledger
            .read(|tx| tx.latest_usage(activation_id))?
            .map(|u| u.armored)
            .ok_or(AuthorityError::ActivationNotFound(activation_id))
    }

    /// The newest `limit` audit entries, newest first, for one license or for all.
    pub fn audit_log(&mut self, license_id: Option<u64>, limit: u32) -> Result<Vec<AuditEntry>> {
        self.ledger.read(|tx| tx.audit_log(license_id, limit))
    }
}

/// Creates `dir` (and missing parents) with mode 0700 if it does not exist.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| AuthorityError::io(dir, e))
}

/// A fresh license key whose lookup id is not taken (a clash is a 1-in-2^64 event per key).
fn new_license_key(tx: &Tx<'_>) -> Result<LicenseKey> {
    for _ in 0..4 {
        let mut entropy = Zeroizing::new([0u8; tollgate_core::key::ENTROPY_BYTES]);
        random(entropy.as_mut())?;
        let key = LicenseKey::from_entropy(&entropy);
        if !tx.lookup_taken(&key.lookup_id())? {
            return Ok(key);
        }
    }
    Err(AuthorityError::Random)
}

/// The body of [`Authority::fulfil_with`], inside its transaction.
#[allow(clippy::too_many_arguments)]
fn fulfil_in(
    tx: &Tx<'_>,
    keys: &KeyStore,
    actor: &str,
    req: &UsageRequest,
    model: DeploymentModel,
    mode: FulfilMode,
    now: u64,
    refresh_deadline: Option<u64>,
) -> Result<Fulfilled> {
    let claims = req.claims();
    let device_key = *req.device_key();
    let request_id = req.request_id();

    // The key: one error for "no such key" and "wrong proof", and the same work for both.
    let lic = tx.license_by_lookup(&claims.key_lookup)?;
    let proof_ok = match &lic {
        Some(l) => l.key_auth.check_proof(&device_key, &claims.key_proof),
        None => {
            let _ = KeyAuthSecret([0; 32]).check_proof(&device_key, &claims.key_proof);
            false
        }
    };
    let lic = match lic {
        Some(l) if proof_ok => l,
        _ => return Err(AuthorityError::UnknownKey),
    };
    let rev = tx
        .revision(lic.id, lic.revision)?
        .ok_or(AuthorityError::Corrupt("missing license revision"))?;
    let grant = rev.grant;
    if grant.product != claims.product {
        return Err(AuthorityError::WrongProduct {
            licensed: grant.product,
            requested: claims.product.clone(),
        });
    }
    if !grant.models.allows(model) {
        return Err(AuthorityError::ModelNotAllowed { model });
    }
    if grant.not_before.is_some_and(|t| now < t) {
        return Err(AuthorityError::LicenseNotYetValid);
    }
    if grant.not_after.is_some_and(|t| now >= t) {
        return Err(AuthorityError::LicenseExpired);
    }

    let history = tx.activations_for_device(lic.id, &device_key)?;
    let active = history
        .iter()
        .map(|(a, _)| a)
        .find(|a| a.status == ActivationStatus::Active);
    if mode == FulfilMode::Refresh && active.is_none() {
        return Err(AuthorityError::NoActiveActivation);
    }
    // A device key that was freed must come back with a higher counter than it ever used.
    let freed_floor = history
        .iter()
        .filter(|(a, _)| a.status != ActivationStatus::Active)
        .map(|(a, freed)| a.last_counter.max(freed.unwrap_or(0)))
        .max();

    if let Some(stored) = tx.usage_by_request(lic.id, &request_id)? {
        return match active {
            Some(a) if a.id == stored.activation_id && stored.counter >= a.last_counter => {
                if stored.model != model {
                    return Err(AuthorityError::invalid(format!(
                        "this request was already answered for the {} model",
                        stored.model.name()
                    )));
                }
                Ok(Fulfilled {
                    usage_license: stored.armored,
                    activation_id: stored.activation_id,
                    license_id: lic.id,
                    new_activation: false,
                    repeated: true,
                    revision: stored.revision,
                    refresh_deadline: stored.refresh_deadline,
                })
            }
            Some(a) => Err(AuthorityError::StaleRequest {
                counter: claims.counter,
                latest: a.last_counter,
            }),
            None => Err(AuthorityError::StaleRequest {
                counter: claims.counter,
                latest: freed_floor.unwrap_or(0).saturating_add(1),
            }),
        };
    }

    let (activation, new_activation) = match active {
        Some(a) => {
            if claims.counter < a.last_counter {
                return Err(AuthorityError::StaleRequest {
                    counter: claims.counter,
                    latest: a.last_counter,
                });
            }
            let mut a = a.clone();
            a.model = model;
            a.fingerprint = claims.fingerprint.clone();
            a.product_version = claims.product_version.clone();
            a.last_counter = claims.counter;
            a.last_fulfilled_at = now;
            tx.update_fulfilled(&a, &request_id)?;
            (a, false)
        }
        None => {
            if let Some(floor) = freed_floor {
                if claims.counter <= floor {
                    return Err(AuthorityError::StaleRequest {
                        counter: claims.counter,
                        latest: floor.saturating_add(1),
                    });
                }
            }
            if tx.count_active(lic.id)? >= u64::from(grant.max_activations) {
                return Err(AuthorityError::SeatsExhausted {
                    max: grant.max_activations,
                });
            }
            let a = Activation {
                id: tx.next_id("activation")?,
                license_id: lic.id,
                device_key,
                model,
                status: ActivationStatus::Active,
                fingerprint: claims.fingerprint.clone(),
                product_version: claims.product_version.clone(),
                last_counter: claims.counter,
                created_at: now,
                last_fulfilled_at: now,
                freed_at: None,
            };
            tx.insert_activation(&a, &request_id)?;
            (a, true)
        }
    };

    let signer = active_signer(tx, keys)?;
    let revision = grant.revision;
    let usage = UsageLicense::issue(
        UsageTerms {
            grant,
            activation_id: activation.id,
            model,
            device_key,
            request_counter: claims.counter,
            fingerprint: claims.fingerprint.clone(),
            issued_at: now,
            refresh_deadline,
        },
        &signer,
    )?;
    let armored = usage.to_armor();
    tx.insert_usage(&UsageRow {
        activation_id: activation.id,
        request_id,
        counter: claims.counter,
        model,
        revision,
        key_id: signer.key_id(),
        armored: armored.clone(),
        issued_at: now,
        refresh_deadline,
    })?;
    audit(
        tx,
        now,
        actor,
        if new_activation {
            "activation.created"
        } else {
            "activation.refreshed"
        },
        Some(lic.id),
        Some(activation.id),
        json!({
            "request_id": hex_string(&request_id),
            "device_key": hex_string(&device_key),
            "counter": claims.counter,
            "model": model.name(),
            "product_version": claims.product_version,
            "revision": revision,
            "signed_by": signer.key_id().to_hex(),
            "refresh_deadline": refresh_deadline,
        }),
    )?;
    Ok(Fulfilled {
        usage_license: armored,
        activation_id: activation.id,
        license_id: lic.id,
        new_activation,
        repeated: false,
        revision,
        refresh_deadline,
    })
}

/// Applies an upgrade to a grant; returns the new grant (revision unchanged) and a JSON list
/// of what changed, for the audit log.
fn apply_upgrade(current: &Grant, spec: &UpgradeSpec, now: u64) -> Result<(Grant, Value)> {
    let mut g = current.clone();
    let mut changes = Vec::new();
    for f in &spec.add_features {
        match g.features.iter_mut().find(|e| e.name == f.name) {
            None => {
                g.features.push(f.clone());
                changes.push(json!({"added": f.name}));
            }
            Some(existing) => match (existing.kind, f.kind) {
                (
                    FeatureKind::Subscription { expires_at: old },
                    FeatureKind::Subscription { expires_at: new },
                ) if new > old => {
                    existing.kind = FeatureKind::Subscription { expires_at: new };
                    changes.push(json!({"extended": f.name, "from": old, "to": new}));
                }
                (FeatureKind::Subscription { .. }, FeatureKind::Subscription { .. }) => {
                    return Err(AuthorityError::invalid(format!(
                        "subscription `{}` already runs to that date or later",
                        f.name
                    )));
                }
                _ => return Err(AuthorityError::FeatureExists(f.name.clone())),
            },
        }
    }
    for ext in &spec.extend {
        let feature = g
            .features
            .iter_mut()
            .find(|e| e.name == ext.feature)
            .ok_or_else(|| AuthorityError::NoSuchSubscription(ext.feature.clone()))?;
        let FeatureKind::Subscription { expires_at: old } = feature.kind else {
            return Err(AuthorityError::NoSuchSubscription(ext.feature.clone()));
        };
        let new = match ext.to {
            NewExpiry::At(t) => t,
            NewExpiry::By(secs) => old
                .max(now)
                .checked_add(secs)
                .ok_or(AuthorityError::invalid("expiry overflows"))?,
        };
        if new <= old {
            return Err(AuthorityError::invalid(format!(
                "the new expiry of `{}` is not later than the current one",
                ext.feature
            )));
        }
        feature.kind = FeatureKind::Subscription { expires_at: new };
        changes.push(json!({"extended": ext.feature, "from": old, "to": new}));
    }
    if let Some(n) = spec.max_activations {
        changes.push(json!({"max_activations": n}));
        g.max_activations = n;
    }
    if let Some(n) = spec.floating_seats {
        changes.push(json!({"floating_seats": n}));
        g.floating_seats = n;
    }
    if let Some(m) = spec.models {
        changes.push(json!({"models": m.iter().map(|m| m.name()).collect::<Vec<_>>()}));
        g.models = m;
    }
    if let Some(t) = spec.not_after {
        changes.push(json!({"not_after": t}));
        g.not_after = t;
    }
    if let Some(c) = &spec.customer {
        changes.push(json!({"customer": c}));
        g.customer = c.clone();
    }
    if let Some(k) = spec.fingerprint_threshold {
        changes.push(json!({"fingerprint_threshold": k}));
        g.fingerprint_threshold = k;
    }
    Ok((g, Value::Array(changes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_is_send() {
        fn is_send<T: Send>() {}
        is_send::<Authority>();
    }
}
