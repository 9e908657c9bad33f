//! Activations: free a seat by deactivation code or by restore, list them, send a usage
//! license again.

use serde_json::json;
use tollgate_core::{hex_string, DeactivationCode};

use crate::audit::audit;
use crate::authority::check_note;
use crate::error::{AuthorityError, Result};
use crate::ledger::Tx;
use crate::policy;
use crate::records::{Activation, ActivationStatus};
use crate::spec::Freed;
use crate::Authority;

/// The transfer policy: may license `license_id` free another seat at `now`?
fn check_transfer(tx: &Tx<'_>, license_id: u64, now: u64) -> Result<()> {
    let lic = tx
        .license_by_id(license_id)?
        .ok_or(AuthorityError::LicenseNotFound(license_id))?;
    let since = policy::transfer_window_start(lic.transfers, now);
    policy::transfer_allowed(lic.id, lic.transfers, tx.count_freed_since(lic.id, since)?)
}

impl Authority {
    /// Processes a deactivation code (`TGDC:…`) from a host: frees the seat of the activation
    /// it names, exactly once.
    ///
    /// Fails with [`AuthorityError::ActivationNotFound`] if no such activation exists, with
    /// [`AuthorityError::BadDeactivationCode`] if it belongs to another license or the code's
    /// signature does not verify with the activation's recorded device key, with
    /// [`AuthorityError::AlreadyDeactivated`] for a code already processed (or an activation
    /// already restored), and with [`AuthorityError::TransferLimit`] when the license's
    /// transfer policy allows no more freed seats in its period (deactivations and restores
    /// count alike; the same code is accepted once the period allows it).
    ///
    /// A deactivation code proves that the device key signed it, not that the host's state was
    /// removed: see `THREATS.md`. The transfer limit and the offline refresh period bound what
    /// a kept copy can do.
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
            if act.status != ActivationStatus::Active {
                return Err(AuthorityError::AlreadyDeactivated(act.id));
            }
            check_transfer(tx, act.license_id, now)?;
            if !tx.free_activation(
                act.id,
                ActivationStatus::Deactivated,
                now,
                Some(claims.counter),
            )? {
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
    /// [`AuthorityError::AlreadyDeactivated`], [`AuthorityError::TransferLimit`] (as
    /// [`Authority::deactivate`]), or [`AuthorityError::InvalidArgument`] for a blank reason
    /// or operator.
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
            if act.status != ActivationStatus::Active {
                return Err(AuthorityError::AlreadyDeactivated(act.id));
            }
            check_transfer(tx, license_id, now)?;
            if !tx.free_activation(act.id, ActivationStatus::Restored, now, None)? {
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
}
