//! Cloud marketplace seats: a usage request answered under the license the vendor maps to a
//! marketplace product code, for an instance whose cloud-signed identity the caller (the
//! online service) has verified. One seat per cloud instance; a seat is freed once its
//! refresh deadline passes without a refresh (the instance is gone).

use serde_json::json;
use tollgate_core::{hex_string, DeploymentModel, UsageRequest};

use crate::audit::audit;
use crate::error::{AuthorityError, Result};
use crate::fulfilment::{fulfil_in, Licensed};
use crate::ledger::{InstanceRow, Tx};
use crate::records::ActivationStatus;
use crate::spec::{FulfilMode, Fulfilled};
use crate::Authority;

/// A verified cloud instance identity, and the license its product code maps to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketplaceInstance {
    /// `aws` or `azure`.
    pub cloud: String,
    /// The cloud's instance id (AWS `instanceId`, Azure `vmId`).
    pub instance_id: String,
    /// The marketplace product code the document carries.
    pub product_code: String,
    /// The vendor's license for that product code.
    pub license_id: u64,
}

impl Authority {
    /// Answers a marketplace usage request (`TGRQ:…` with an all-zero key lookup id and key
    /// proof) for `instance`, whose signed identity the caller has checked, with an online
    /// usage license of `instance.license_id`.
    ///
    /// First frees every marketplace seat whose refresh deadline has passed
    /// ([`Authority::sweep_marketplace`]). Then: a device that holds the seat of another
    /// instance is refused with [`AuthorityError::InstanceMismatch`] (its state was copied or
    /// moved); an instance whose seat is held by another device key (reinstalled) has that
    /// seat freed and replaced; [`FulfilMode::Refresh`] needs the device's seat for this
    /// instance ([`AuthorityError::NoActiveActivation`]). The rest is
    /// [`Authority::fulfil_with`]'s: standing, validity, seats, replay, signing, audit. A
    /// request that carries a license key is refused with
    /// [`AuthorityError::NotMarketplaceRequest`].
    pub fn fulfil_marketplace(
        &mut self,
        request_armored: &str,
        instance: &MarketplaceInstance,
        mode: FulfilMode,
        now: u64,
    ) -> Result<Fulfilled> {
        let req = UsageRequest::from_armor(request_armored)?;
        let claims = req.claims();
        if claims.key_lookup != [0; 8] || claims.key_proof != [0; 16] {
            return Err(AuthorityError::NotMarketplaceRequest);
        }
        let (keys, actor, cfg) = (&self.keys, self.actor.as_str(), &self.config);
        // A refusal for a mismatched instance is returned as `Ok(Err(..))` so that its audit
        // entry is committed.
        self.ledger.write(|tx| {
            sweep_in(tx, actor, now)?;
            let device = *req.device_key();
            if let Some(bound) = tx.marketplace_device(&device)? {
                if bound.cloud != instance.cloud || bound.instance_id != instance.instance_id {
                    audit(
                        tx,
                        now,
                        actor,
                        "marketplace.instance_mismatch",
                        Some(bound.license_id),
                        Some(bound.activation_id),
                        json!({
                            "bound_instance": bound.instance_id,
                            "presented_instance": instance.instance_id,
                            "cloud": instance.cloud,
                            "device_key": hex_string(&device),
                        }),
                    )?;
                    return Ok(Err(AuthorityError::InstanceMismatch {
                        bound: bound.instance_id,
                        presented: instance.instance_id.clone(),
                    }));
                }
            }
            if let Some(held) = tx.marketplace_instance(&instance.cloud, &instance.instance_id)? {
                if held.device_key != device {
                    if mode == FulfilMode::Refresh {
                        return Err(AuthorityError::NoActiveActivation);
                    }
                    tx.free_activation(held.activation_id, ActivationStatus::Restored, now, None)?;
                    tx.end_marketplace_instance(held.activation_id, "replaced")?;
                    audit(
                        tx,
                        now,
                        actor,
                        "marketplace.instance_replaced",
                        Some(held.license_id),
                        Some(held.activation_id),
                        json!({
                            "cloud": held.cloud,
                            "instance_id": held.instance_id,
                            "old_device_key": hex_string(&held.device_key),
                            "new_device_key": hex_string(&device),
                        }),
                    )?;
                }
            }
            let f = fulfil_in(
                tx,
                keys,
                actor,
                cfg,
                &req,
                Licensed::Chosen(instance.license_id),
                DeploymentModel::Online,
                mode,
                now,
            )?;
            let refresh_deadline = f.refresh_deadline.ok_or(AuthorityError::Corrupt(
                "online usage license without deadline",
            ))?;
            tx.upsert_marketplace_instance(
                &InstanceRow {
                    activation_id: f.activation_id,
                    license_id: f.license_id,
                    cloud: instance.cloud.clone(),
                    instance_id: instance.instance_id.clone(),
                    product_code: instance.product_code.clone(),
                    device_key: device,
                    refresh_deadline,
                },
                now,
            )?;
            if f.new_activation {
                audit(
                    tx,
                    now,
                    actor,
                    "marketplace.activated",
                    Some(f.license_id),
                    Some(f.activation_id),
                    json!({
                        "cloud": instance.cloud,
                        "instance_id": instance.instance_id,
                        "product_code": instance.product_code,
                        "refresh_deadline": refresh_deadline,
                    }),
                )?;
            }
            Ok(Ok(f))
        })?
    }

    /// Frees every marketplace seat whose refresh deadline is before `now` (the instance is
    /// gone: it stopped refreshing), each audited as `marketplace.instance_gone`. Returns the
    /// activations freed, in id order.
    pub fn sweep_marketplace(&mut self, now: u64) -> Result<Vec<u64>> {
        let actor = self.actor.as_str();
        self.ledger.write(|tx| sweep_in(tx, actor, now))
    }
}

fn sweep_in(tx: &Tx<'_>, actor: &str, now: u64) -> Result<Vec<u64>> {
    let mut freed = Vec::new();
    for gone in tx.marketplace_overdue(now)? {
        tx.free_activation(gone.activation_id, ActivationStatus::Restored, now, None)?;
        tx.end_marketplace_instance(gone.activation_id, "gone")?;
        audit(
            tx,
            now,
            actor,
            "marketplace.instance_gone",
            Some(gone.license_id),
            Some(gone.activation_id),
            json!({
                "cloud": gone.cloud,
                "instance_id": gone.instance_id,
                "refresh_deadline": gone.refresh_deadline,
            }),
        )?;
        freed.push(gone.activation_id);
    }
    Ok(freed)
}
