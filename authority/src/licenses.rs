//! Licenses: issue, upgrade, list and show.

use serde_json::{json, Value};
use tollgate_core::model::check_feature_name;
use tollgate_core::{
    hex_string, DeploymentModel, FeatureKind, Grant, License, LicenseKey, MAX_VENDOR_TIME,
};
use zeroize::Zeroizing;

use crate::audit::audit;
use crate::authority::check_note;
use crate::error::{AuthorityError, Result};
use crate::keys::active_signer;
use crate::keystore::{random, KeyStore};
use crate::ledger::{RevisionRow, Tx};
use crate::records::{LicenseRecord, LicenseStatus, TransferPolicy};
use crate::spec::{IssueSpec, Issued, NewExpiry, UpgradeSpec};
use crate::Authority;

fn grant_json(g: &Grant) -> Value {
    serde_json::to_value(g).unwrap_or(Value::Null)
}

/// Refuses a time later than [`MAX_VENDOR_TIME`] (SPEC.md §1) with
/// [`AuthorityError::TimeOutOfRange`].
pub(crate) fn check_time(what: &str, time: Option<u64>) -> Result<()> {
    match time {
        Some(value) if value > MAX_VENDOR_TIME => Err(AuthorityError::TimeOutOfRange {
            what: what.to_owned(),
            value,
        }),
        _ => Ok(()),
    }
}

/// Policy checks on a grant, beyond the core's format limits.
pub(crate) fn check_grant(g: &Grant) -> Result<()> {
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
    check_time("not_before", g.not_before)?;
    check_time("not_after", g.not_after)?;
    for f in &g.features {
        check_time(
            &format!("the expiry of feature `{}`", f.name),
            f.expires_at(),
        )?;
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

impl Authority {
    /// Issues a license: a new random key (15 bytes from the OS RNG), the next license id, and
    /// revision 1 of the grant signed by the active key.
    ///
    /// Only the key's lookup id and auth secret (a hash) are stored. Fails with
    /// [`AuthorityError::InvalidArgument`] or a core `LimitExceeded` if the spec breaks a
    /// limit, and with [`AuthorityError::NoSigningKey`] before the first key is created.
    pub fn issue(&mut self, spec: IssueSpec, now: u64) -> Result<Issued> {
        let transfers = spec.transfers;
        if transfers.period_secs == 0 || i64::try_from(transfers.period_secs).is_err() {
            return Err(AuthorityError::invalid(
                "the transfer period must be at least one second",
            ));
        }
        let grant = spec.into_first_grant();
        check_grant(&grant)?;
        let (keys, actor) = (&self.keys, self.actor.as_str());
        self.ledger
            .write(|tx| issue_in(tx, keys, actor, grant.clone(), transfers, now))
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
        self.ledger
            .write(|tx| upgrade_in(tx, keys, actor, license_id, &spec, now))
    }

    /// Suspends a license: until [`Authority::resume`], no usage license is issued for it
    /// (activations, online refreshes, offline and floating fulfilments are refused with
    /// [`AuthorityError::LicenseSuspended`]). Hosts keep what they hold until its refresh
    /// deadline. Fails with [`AuthorityError::LicenseNotFound`],
    /// [`AuthorityError::LicenseRevoked`] for a revoked license, and
    /// [`AuthorityError::InvalidArgument`] if it is already suspended. `reason` goes to the
    /// audit log.
    pub fn suspend(&mut self, license_id: u64, reason: &str, now: u64) -> Result<()> {
        self.set_status(license_id, LicenseStatus::Suspended, reason, now)
    }

    /// Resumes a suspended license. Fails with [`AuthorityError::LicenseRevoked`] for a
    /// revoked one (revocation is final) and [`AuthorityError::InvalidArgument`] if it is not
    /// suspended.
    pub fn resume(&mut self, license_id: u64, reason: &str, now: u64) -> Result<()> {
        self.set_status(license_id, LicenseStatus::Active, reason, now)
    }

    /// Revokes a license for good: no usage license is issued for it again
    /// ([`AuthorityError::LicenseRevoked`]). Fails with [`AuthorityError::LicenseRevoked`] if
    /// it already is.
    pub fn revoke(&mut self, license_id: u64, reason: &str, now: u64) -> Result<()> {
        self.set_status(license_id, LicenseStatus::Revoked, reason, now)
    }

    fn set_status(
        &mut self,
        license_id: u64,
        to: LicenseStatus,
        reason: &str,
        now: u64,
    ) -> Result<()> {
        check_note("reason", reason)?;
        let actor = self.actor.as_str();
        self.ledger.write(|tx| {
            let lic = tx
                .license_by_id(license_id)?
                .ok_or(AuthorityError::LicenseNotFound(license_id))?;
            match (lic.status, to) {
                (LicenseStatus::Revoked, _) => return Err(AuthorityError::LicenseRevoked(lic.id)),
                (from, to) if from == to => {
                    return Err(AuthorityError::invalid(format!(
                        "license {license_id} is already {}",
                        to.name()
                    )))
                }
                _ => {}
            }
            tx.set_license_status(lic.id, to, now)?;
            let action = match to {
                LicenseStatus::Active => "license.resumed",
                LicenseStatus::Suspended => "license.suspended",
                LicenseStatus::Revoked => "license.revoked",
            };
            audit(
                tx,
                now,
                actor,
                action,
                Some(lic.id),
                None,
                json!({"from": lic.status.name(), "to": to.name(), "reason": reason}),
            )
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

    /// The license issued with `key`, proved by the whole key (its lookup id finds the row,
    /// its auth secret is compared in constant time): [`AuthorityError::UnknownKey`]
    /// otherwise. What the shop uses for an upgrade.
    pub fn license_by_key(&mut self, key: &LicenseKey) -> Result<LicenseRecord> {
        let lookup = key.lookup_id();
        let auth = key.auth_secret();
        self.ledger.read(|tx| {
            let row = tx
                .license_by_lookup(&lookup)?
                .ok_or(AuthorityError::UnknownKey)?;
            if !bool::from(subtle::ConstantTimeEq::ct_eq(
                &row.key_auth.0[..],
                &auth.0[..],
            )) {
                return Err(AuthorityError::UnknownKey);
            }
            tx.license_record(row.id)?
                .ok_or(AuthorityError::LicenseNotFound(row.id))
        })
    }

    /// The id of the license issued with `key`, if any (for a support desk given a key).
    pub fn license_id_for_key(&mut self, key: &LicenseKey) -> Result<Option<u64>> {
        let lookup = key.lookup_id();
        self.ledger.read(|tx| tx.license_id_by_lookup(&lookup))
    }
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
    if let Some(s) = spec.offline_refresh_secs {
        changes.push(json!({"offline_refresh_secs": s}));
        g.offline_refresh_secs = s;
    }
    if let Some(s) = spec.rollback_tolerance_secs {
        changes.push(json!({"rollback_tolerance_secs": s}));
        g.rollback_tolerance_secs = s;
    }
    if let Some(k) = spec.fingerprint_threshold {
        changes.push(json!({"fingerprint_threshold": k}));
        g.fingerprint_threshold = k;
    }
    Ok((g, Value::Array(changes)))
}

/// Issues a license inside the caller's write transaction (see [`Authority::issue`]); the
/// grant was checked by the caller and its `license_id` is assigned here.
pub(crate) fn issue_in(
    tx: &Tx<'_>,
    keys: &KeyStore,
    actor: &str,
    mut grant: Grant,
    transfers: TransferPolicy,
    now: u64,
) -> Result<Issued> {
    let signer = active_signer(tx, keys)?;
    let key = new_license_key(tx)?;
    let lookup = key.lookup_id();
    grant.license_id = tx.next_id("license")?;
    let license = License::sign(grant.clone(), now, &signer)?;
    tx.insert_license(
        grant.license_id,
        &lookup,
        &key.auth_secret(),
        &grant,
        transfers,
        now,
    )?;
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
            "max_transfers": transfers.max_transfers,
            "transfer_period_secs": transfers.period_secs,
        }),
    )?;
    Ok(Issued { key, license })
}

/// Upgrades a license inside the caller's write transaction (see [`Authority::upgrade`]).
pub(crate) fn upgrade_in(
    tx: &Tx<'_>,
    keys: &KeyStore,
    actor: &str,
    license_id: u64,
    spec: &UpgradeSpec,
    now: u64,
) -> Result<License> {
    let lic = tx
        .license_by_id(license_id)?
        .ok_or(AuthorityError::LicenseNotFound(license_id))?;
    let current = tx
        .revision(lic.id, lic.revision)?
        .ok_or(AuthorityError::Corrupt("missing license revision"))?;
    let (mut grant, changes) = apply_upgrade(&current.grant, spec, now)?;
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
}
