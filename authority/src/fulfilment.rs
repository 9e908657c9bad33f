//! Fulfilment: answering usage requests with usage licenses, one at a time or in a group
//! commit. Each request goes through the same steps inside its transaction: the key proof, the
//! grant's admission, the seat decision (or the replay of an earlier answer), signing, audit.
//! The decisions are [`crate::policy`]'s.

use serde_json::json;
use tollgate_core::{
    hex_string, DeploymentModel, Grant, KeyAuthSecret, UsageLicense, UsageRequest, UsageTerms,
};

use crate::audit::audit;
use crate::error::{AuthorityError, Result};
use crate::keys::{active_signer, certificate_for};
use crate::keystore::KeyStore;
use crate::ledger::{LicenseRow, Tx, UsageRow, Wanted};
use crate::policy::{self, ActiveSeat, PriorAnswer, SeatDecision};
use crate::records::{Activation, ActivationStatus};
use crate::spec::{AuthorityConfig, FulfilItem, FulfilMode, Fulfilled};
use crate::Authority;

impl Authority {
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
    /// Refused first, before any of that, for a suspended or revoked license
    /// ([`AuthorityError::LicenseSuspended`], [`AuthorityError::LicenseRevoked`]), and for a
    /// fingerprint weaker than the grant's threshold or the vendor's minimum of distinct kinds
    /// ([`AuthorityError::WeakFingerprint`]).
    ///
    /// The usage license carries the license's current grant and embeds the root-signed
    /// certificate of the signing key. Online activations get a refresh deadline of `now` +
    /// [`AuthorityConfig::online_refresh_secs`]; offline and floating ones `now` + the grant's
    /// `offline_refresh_secs` when set. Everything happens in one
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
        let (keys, actor, cfg) = (&self.keys, self.actor.as_str(), &self.config);
        self.ledger.write(|tx| {
            fulfil_in(
                tx,
                keys,
                actor,
                cfg,
                &req,
                Licensed::ByKey,
                model,
                mode,
                now,
            )
        })
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
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (keys, actor, cfg) = (&self.keys, self.actor.as_str(), &self.config);
        let wanted: Vec<Wanted> = items
            .iter()
            .map(|item| {
                let claims = item.request.claims();
                Wanted {
                    lookup: claims.key_lookup,
                    device_key: *item.request.device_key(),
                    request_id: item.request.request_id(),
                }
            })
            .collect();
        self.ledger.write(|tx| {
            tx.read_ahead(&wanted)?;
            let mut done = Vec::with_capacity(items.len());
            for item in items {
                done.push(tx.savepoint(|tx| {
                    fulfil_in(
                        tx,
                        keys,
                        actor,
                        cfg,
                        &item.request,
                        Licensed::ByKey,
                        item.model,
                        item.mode,
                        now,
                    )
                })?);
            }
            Ok(done)
        })
    }
}

/// The refresh deadline of a usage license of `grant` for `model` issued at `now`: online ones
/// [`AuthorityConfig::online_refresh_secs`] after; offline and floating ones the grant's
/// offline refresh period after (signed policy), else floating ones
/// [`AuthorityConfig::floating_refresh_secs`] after, else none.
pub(crate) fn refresh_deadline(
    cfg: &AuthorityConfig,
    grant: &Grant,
    model: DeploymentModel,
    now: u64,
) -> Result<Option<u64>> {
    let offline = Some(u64::from(grant.offline_refresh_secs)).filter(|s| *s > 0);
    match model {
        DeploymentModel::Online => Some(cfg.online_refresh_secs),
        DeploymentModel::Offline => offline,
        DeploymentModel::Floating => offline.or(cfg.floating_refresh_secs),
    }
    .map(|p| {
        let deadline = now
            .checked_add(p)
            .ok_or(AuthorityError::invalid("refresh deadline overflows"))?;
        crate::licenses::check_time("the refresh deadline", Some(deadline))?;
        Ok(deadline)
    })
    .transpose()
}

/// Which license a request is fulfilled under.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Licensed {
    /// The license whose key the request proves (every keyed request).
    ByKey,
    /// A license chosen by the caller, who proved the entitlement otherwise (a cloud
    /// marketplace's signed instance identity, checked by the service).
    Chosen(u64),
}

/// The body of [`Authority::fulfil_with`], inside its transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fulfil_in(
    tx: &Tx<'_>,
    keys: &KeyStore,
    actor: &str,
    cfg: &AuthorityConfig,
    req: &UsageRequest,
    licensed: Licensed,
    model: DeploymentModel,
    mode: FulfilMode,
    now: u64,
) -> Result<Fulfilled> {
    let claims = req.claims();
    let (lic, grant) = match licensed {
        Licensed::ByKey => prove_key(tx, req)?,
        Licensed::Chosen(id) => chosen_license(tx, id)?,
    };
    policy::standing(lic.id, lic.status)?;
    policy::admit(&grant, &claims.product, model, now)?;
    let refresh_deadline = refresh_deadline(cfg, &grant, model, now)?;
    policy::fingerprint_sufficient(
        &claims.fingerprint,
        grant.fingerprint_threshold,
        cfg.min_fingerprint_kinds,
    )?;

    let device = req.device_key();
    let history = tx.activations_for_device(lic.id, device)?;
    let active = history
        .iter()
        .map(|(a, _)| a)
        .find(|a| a.status == ActivationStatus::Active);
    let seat = active.map(|a| ActiveSeat {
        activation_id: a.id,
        last_counter: a.last_counter,
    });
    policy::refresh_needs_active(mode == FulfilMode::Refresh, seat)?;
    let freed_floor = policy::freed_floor(
        history
            .iter()
            .filter(|(a, _)| a.status != ActivationStatus::Active)
            .map(|(a, freed)| (a.last_counter, *freed)),
    );

    let request_id = req.request_id();
    if let Some(stored) = tx.usage_by_request(lic.id, &request_id)? {
        let prior = PriorAnswer {
            activation_id: stored.activation_id,
            counter: stored.counter,
            model: stored.model,
        };
        policy::replay(prior, seat, freed_floor, claims.counter, model)?;
        return Ok(Fulfilled {
            usage_license: stored.armored,
            activation_id: stored.activation_id,
            license_id: lic.id,
            new_activation: false,
            repeated: true,
            revision: stored.revision,
            refresh_deadline: stored.refresh_deadline,
            rapid_transfer_after: None,
        });
    }

    let decision = policy::next_seat(seat, freed_floor, claims.counter)?;
    if model == DeploymentModel::Floating {
        let continues = match decision {
            SeatDecision::Continue => active.map(|a| a.id),
            SeatDecision::NewSeat => None,
        };
        policy::floating_single(continues, &tx.active_floating(lic.id)?)?;
    }
    let (activation, new_activation) = match (decision, active) {
        (SeatDecision::Continue, Some(a)) => (continue_activation(tx, a, req, model, now)?, false),
        _ => {
            policy::seats_available(tx.count_active(lic.id)?, grant.max_activations)?;
            let follows =
                policy::rapid_transfer(tx.last_freed(lic.id)?, now, cfg.rapid_transfer_secs);
            (
                new_activation_row(tx, lic.id, req, model, follows, now)?,
                true,
            )
        }
    };
    let issued = sign_usage(
        tx,
        keys,
        req,
        grant,
        &activation,
        model,
        now,
        refresh_deadline,
    )?;
    audit_fulfilment(tx, actor, req, &issued, lic.id, new_activation, now)?;
    if let Some(freed) = activation.follows_activation.filter(|_| new_activation) {
        audit(
            tx,
            now,
            actor,
            "rapid_transfer",
            Some(lic.id),
            Some(activation.id),
            json!({
                "after_activation": freed,
                "window_secs": cfg.rapid_transfer_secs,
                "device_key": hex_string(req.device_key()),
            }),
        )?;
    }
    Ok(Fulfilled {
        usage_license: issued.armored,
        activation_id: activation.id,
        license_id: lic.id,
        new_activation,
        repeated: false,
        revision: issued.revision,
        refresh_deadline,
        rapid_transfer_after: activation.follows_activation.filter(|_| new_activation),
    })
}

/// The key proof: the license whose key made the request, with its current grant. One error
/// for "no such key" and "wrong proof", and the same work for both.
fn prove_key(tx: &Tx<'_>, req: &UsageRequest) -> Result<(LicenseRow, Grant)> {
    let claims = req.claims();
    let device_key = req.device_key();
    let lic = tx.license_by_lookup(&claims.key_lookup)?;
    let proof_ok = match &lic {
        Some(l) => l.key_auth.check_proof(device_key, &claims.key_proof),
        None => {
            let _ = KeyAuthSecret([0; 32]).check_proof(device_key, &claims.key_proof);
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
    Ok((lic, rev.grant))
}

/// License `id` with its current grant.
fn chosen_license(tx: &Tx<'_>, id: u64) -> Result<(LicenseRow, Grant)> {
    let lic = tx
        .license_by_id(id)?
        .ok_or(AuthorityError::LicenseNotFound(id))?;
    let rev = tx
        .revision(lic.id, lic.revision)?
        .ok_or(AuthorityError::Corrupt("missing license revision"))?;
    Ok((lic, rev.grant))
}

/// The device's active activation answers the request: it takes the request's model,
/// fingerprint, version and counter.
fn continue_activation(
    tx: &Tx<'_>,
    active: &Activation,
    req: &UsageRequest,
    model: DeploymentModel,
    now: u64,
) -> Result<Activation> {
    let claims = req.claims();
    let mut a = active.clone();
    a.model = model;
    a.fingerprint = claims.fingerprint.clone();
    a.product_version = claims.product_version.clone();
    a.last_counter = claims.counter;
    a.last_fulfilled_at = now;
    tx.update_fulfilled(&a, &req.request_id())?;
    Ok(a)
}

/// A new activation (a seat) of license `license_id` for the request's device.
fn new_activation_row(
    tx: &Tx<'_>,
    license_id: u64,
    req: &UsageRequest,
    model: DeploymentModel,
    follows_activation: Option<u64>,
    now: u64,
) -> Result<Activation> {
    let claims = req.claims();
    let a = Activation {
        id: tx.next_id("activation")?,
        license_id,
        device_key: *req.device_key(),
        model,
        status: ActivationStatus::Active,
        fingerprint: claims.fingerprint.clone(),
        product_version: claims.product_version.clone(),
        last_counter: claims.counter,
        created_at: now,
        last_fulfilled_at: now,
        freed_at: None,
        follows_activation,
    };
    tx.insert_activation(&a, &req.request_id())?;
    Ok(a)
}

/// A usage license signed and stored.
struct Issued {
    armored: String,
    revision: u32,
    signed_by: tollgate_core::KeyId,
    refresh_deadline: Option<u64>,
    model: DeploymentModel,
    activation_id: u64,
}

/// Signs the usage license answering `req` for `activation` with the active key, and stores it.
#[allow(clippy::too_many_arguments)]
fn sign_usage(
    tx: &Tx<'_>,
    keys: &KeyStore,
    req: &UsageRequest,
    grant: Grant,
    activation: &Activation,
    model: DeploymentModel,
    now: u64,
    refresh_deadline: Option<u64>,
) -> Result<Issued> {
    let claims = req.claims();
    let signer = active_signer(tx, keys)?;
    let info = tx.active_key()?.ok_or(AuthorityError::NoSigningKey)?;
    let certificate = certificate_for(tx, keys, &info, &grant.product, now)?;
    let revision = grant.revision;
    let terms = UsageTerms {
        grant,
        activation_id: activation.id,
        model,
        device_key: *req.device_key(),
        request_counter: claims.counter,
        fingerprint: claims.fingerprint.clone(),
        issued_at: now,
        refresh_deadline,
    };
    let usage = match &certificate {
        Some(cert) => UsageLicense::issue_with_certificate(terms, &signer, cert)?,
        None => UsageLicense::issue(terms, &signer)?,
    };
    let armored = usage.to_armor();
    tx.insert_usage(&UsageRow {
        activation_id: activation.id,
        request_id: req.request_id(),
        counter: claims.counter,
        model,
        revision,
        key_id: signer.key_id(),
        armored: armored.clone(),
        issued_at: now,
        refresh_deadline,
    })?;
    Ok(Issued {
        armored,
        revision,
        signed_by: signer.key_id(),
        refresh_deadline,
        model,
        activation_id: activation.id,
    })
}

/// Records the fulfilment in the audit log.
fn audit_fulfilment(
    tx: &Tx<'_>,
    actor: &str,
    req: &UsageRequest,
    issued: &Issued,
    license_id: u64,
    new_activation: bool,
    now: u64,
) -> Result<()> {
    let claims = req.claims();
    audit(
        tx,
        now,
        actor,
        if new_activation {
            "activation.created"
        } else {
            "activation.refreshed"
        },
        Some(license_id),
        Some(issued.activation_id),
        json!({
            "request_id": hex_string(&req.request_id()),
            "device_key": hex_string(req.device_key()),
            "counter": claims.counter,
            "model": issued.model.name(),
            "product_version": claims.product_version,
            "revision": issued.revision,
            "signed_by": issued.signed_by.to_hex(),
            "refresh_deadline": issued.refresh_deadline,
        }),
    )
}
