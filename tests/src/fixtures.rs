//! The reference fixtures: fixed keys, catalogue, customer, host and times, and a builder for
//! every reference artifact.
//!
//! The reference world itself (seeds, catalogue, customer, host, times, and the reference key,
//! fingerprint, grant, license, usage request, usage license and deactivation code) is
//! [`tollgate_core::reference`], shared with the fuzz targets and the benches; it is re-exported
//! here. This module adds what only the test vectors need: the reference host's keyring, the
//! variant artifacts (rotated and untrusted keys, online, trial, other product, forged code) and
//! raw signing of malformed artifacts.
//!
//! Nothing here reads a clock or an RNG. Every builder returns the same bytes on every run and
//! every machine, which is what lets the committed vectors be compared byte for byte.

use ed25519_dalek::{Signer, SigningKey};
use tollgate_core::{
    ArtifactType, DeactivationCode, DeploymentModel, Grant, Keyring, Models, Result, UsageLicense,
    UsageTerms,
};

pub use tollgate_core::reference::*;

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// The public keys the reference host trusts: the reference key, then the rotated key.
pub fn trusted_public_keys() -> [[u8; 32]; 2] {
    [vendor_key().public_key(), rotated_vendor_key().public_key()]
}

/// The reference host's keyring (see [`trusted_public_keys`]).
pub fn keyring() -> Result<Keyring> {
    Keyring::from_keys(trusted_public_keys().iter())
}

// ---------------------------------------------------------------------------------------------
// Grants
// ---------------------------------------------------------------------------------------------

/// A one-month trial: MQTT Server only, valid from [`T_LICENSE_ISSUED`] to [`T_TRIAL_END`].
pub fn trial_grant() -> Grant {
    Grant {
        license_id: TRIAL_LICENSE_ID,
        revision: 1,
        product: PRODUCT.into(),
        customer: CUSTOMER.into(),
        features: vec![mqtt_server()],
        models: Models::of(&[DeploymentModel::Offline]),
        max_activations: 1,
        floating_seats: 0,
        not_before: Some(T_LICENSE_ISSUED),
        not_after: Some(T_TRIAL_END),
        fingerprint_threshold: FINGERPRINT_THRESHOLD,
        max_borrow_secs: 0,
        rollback_tolerance_secs: 3600,
        offline_refresh_secs: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Variant artifacts
// ---------------------------------------------------------------------------------------------

/// The same terms signed by the rotated key.
pub fn usage_license_rotated() -> Result<UsageLicense> {
    UsageLicense::issue(offline_terms()?, &rotated_vendor_key())
}

/// An online activation of the reference grant, to be refreshed by [`T_REFRESH_DEADLINE`].
pub fn usage_license_online() -> Result<UsageLicense> {
    let terms = UsageTerms {
        activation_id: ONLINE_ACTIVATION_ID,
        model: DeploymentModel::Online,
        refresh_deadline: Some(T_REFRESH_DEADLINE),
        ..offline_terms()?
    };
    UsageLicense::issue(terms, &vendor_key())
}

/// An offline activation of the trial grant (validity window set).
pub fn usage_license_trial() -> Result<UsageLicense> {
    let terms = UsageTerms {
        grant: trial_grant(),
        ..offline_terms()?
    };
    UsageLicense::issue(terms, &vendor_key())
}

/// The reference terms, but for another product.
pub fn usage_license_other_product() -> Result<UsageLicense> {
    let mut terms = offline_terms()?;
    terms.grant.product = OTHER_PRODUCT.into();
    UsageLicense::issue(terms, &vendor_key())
}

/// The reference terms signed by a key the host does not trust.
pub fn usage_license_untrusted_key() -> Result<UsageLicense> {
    UsageLicense::issue(offline_terms()?, &untrusted_vendor_key())
}

/// The same claims signed by another device's key: a forgery.
pub fn forged_deactivation_code() -> Result<DeactivationCode> {
    DeactivationCode::create(deactivation_claims(), &other_device_key())
}

// ---------------------------------------------------------------------------------------------
// Raw signing, for the malformed vectors
// ---------------------------------------------------------------------------------------------

/// Signs `unsigned` (an artifact's bytes up to the signature, possibly malformed) the way the
/// core does: ed25519 over `ty.domain() ‖ unsigned`, with the key of `seed`. Returns
/// `unsigned ‖ signature`. The core's encoders refuse to build malformed artifacts; this lets a
/// vector carry exactly one defect behind a valid signature.
pub fn sign_raw(ty: ArtifactType, seed: &[u8; 32], unsigned: &[u8]) -> Vec<u8> {
    sign_raw_domain(ty.domain(), seed, unsigned)
}

/// [`sign_raw`] under an explicit domain string (e.g. a retired version's).
pub fn sign_raw_domain(domain: &[u8], seed: &[u8; 32], unsigned: &[u8]) -> Vec<u8> {
    let key = SigningKey::from_bytes(seed);
    let mut message = domain.to_vec();
    message.extend_from_slice(unsigned);
    let mut out = unsigned.to_vec();
    out.extend_from_slice(&key.sign(&message).to_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_raw_matches_the_core() {
        let ul = usage_license_offline().unwrap();
        let b = ul.as_bytes();
        let unsigned = &b[..b.len() - 64];
        assert_eq!(
            sign_raw(ArtifactType::UsageLicense, &VENDOR_SEED, unsigned),
            b
        );
    }
}
