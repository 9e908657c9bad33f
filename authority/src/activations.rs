//! Activations: free a seat by deactivation code or by restore, list them, send a usage
//! license again.

use serde_json::json;
use tollgate_core::{hex_string, DeactivationCode};

use crate::audit::audit;
use crate::authority::check_note;
use crate::error::{AuthorityError, Result};
use crate::records::{Activation, ActivationStatus};
use crate::spec::Freed;
use crate::Authority;

impl Authority {
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
}
