//! The reference fixtures: fixed keys, catalogue, customer, host and times, and a builder for
//! every reference artifact.
//!
//! Nothing here reads a clock or an RNG. Every builder returns the same bytes on every run and
//! every machine, which is what lets the committed vectors be compared byte for byte.

use ed25519_dalek::{Signer, SigningKey};
use tollgate_core::{
    ArtifactType, Component, ComponentKind, DeactivationClaims, DeactivationCode, DeploymentModel,
    DeviceKey, Feature, FeatureKind, Fingerprint, Grant, Keyring, License, LicenseKey, MeterPeriod,
    Models, Result, UsageLicense, UsageRequest, UsageTerms, VendorSigningKey,
};

// ---------------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------------

/// Seed of the reference vendor signing key.
pub const VENDOR_SEED: [u8; 32] = [0x01; 32];
/// Seed of the vendor's second (rotated-in) signing key.
pub const ROTATED_VENDOR_SEED: [u8; 32] = [0x02; 32];
/// Seed of the reference host's device key.
pub const DEVICE_SEED: [u8; 32] = [0x03; 32];
/// Seed of another host's device key (used to forge a deactivation code).
pub const OTHER_DEVICE_SEED: [u8; 32] = [0x04; 32];
/// Seed of a vendor-like key that the reference host does not trust.
pub const UNTRUSTED_VENDOR_SEED: [u8; 32] = [0x09; 32];
/// Entropy of the reference license key.
pub const KEY_ENTROPY: [u8; 15] = [
    0x5e, 0x1f, 0x0a, 0x6b, 0xc3, 0x92, 0x44, 0xd8, 0x07, 0x3a, 0xf1, 0x29, 0x8c, 0x65, 0xb0,
];

// ---------------------------------------------------------------------------------------------
// Catalogue, customer, host
// ---------------------------------------------------------------------------------------------

/// The reference product id.
pub const PRODUCT: &str = "chariot";
/// The version of the reference product the host runs.
pub const PRODUCT_VERSION: &str = "4.2.0";
/// A product the reference licenses are not for.
pub const OTHER_PRODUCT: &str = "beacon";
/// The reference customer.
pub const CUSTOMER: &str = "ACME Industrial";
/// The reference license id.
pub const LICENSE_ID: u64 = 1001;
/// The license id of the time-limited (trial) license.
pub const TRIAL_LICENSE_ID: u64 = 1002;
/// The product's fingerprint salt (fixed per product, shipped in the product).
pub const FINGERPRINT_SALT: &[u8] = b"chariot/fingerprint/2026";
/// The reference fingerprint threshold: 3 of the 5 components must match.
pub const FINGERPRINT_THRESHOLD: u8 = 3;
/// Monthly quota of the metered feature.
pub const SNOWFLAKE_QUOTA: u64 = 1_000_000;

/// The reference host's raw identifiers, one per component kind. The core only ever sees their
/// salted digests.
pub const RAW_IDENTIFIERS: [(ComponentKind, &str); 5] = [
    (ComponentKind::MachineId, "5c7d9b0e4a3f4e1c9d2b8a6f0e1d2c3b"),
    (
        ComponentKind::DmiProductUuid,
        "4c4c4544-0042-3810-8052-b4c04f4b4d32",
    ),
    (ComponentKind::Mac, "3c:ec:ef:12:34:56"),
    (
        ComponentKind::RootDisk,
        "nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123456",
    ),
    (ComponentKind::Hostname, "broker-1.acme.example"),
];

/// Raw identifiers of replacement hardware, to build hosts that only partly match.
pub const REPLACED_IDENTIFIERS: [(ComponentKind, &str); 5] = [
    (ComponentKind::MachineId, "0f9e8d7c6b5a49382716054f3e2d1c0b"),
    (
        ComponentKind::DmiProductUuid,
        "00000000-0000-0000-0000-0cc47a1b2c3d",
    ),
    (ComponentKind::Mac, "3c:ec:ef:ab:cd:ef"),
    (
        ComponentKind::RootDisk,
        "nvme-WD_BLACK_SN850X_2TB_23412A800123",
    ),
    (ComponentKind::Hostname, "broker-1-replacement.acme.example"),
];

// ---------------------------------------------------------------------------------------------
// Times (Unix seconds, UTC)
// ---------------------------------------------------------------------------------------------

/// 2026-01-01T00:00:00Z: the license is signed; start of the trial.
pub const T_LICENSE_ISSUED: u64 = 1_767_225_600;
/// 2026-01-01T09:30:00Z: the host makes its usage request.
pub const T_REQUEST: u64 = 1_767_259_800;
/// 2026-01-01T10:00:00Z: the vendor issues the usage licenses.
pub const T_FULFILLED: u64 = 1_767_261_600;
/// 2026-01-15T12:00:00Z: the time at which the valid vectors are verified.
pub const T_NOW: u64 = 1_768_478_400;
/// 2026-01-31T10:00:00Z: refresh deadline of the online activation (30 days after issue).
pub const T_REFRESH_DEADLINE: u64 = 1_769_853_600;
/// 2026-02-01T00:00:00Z: end of the trial (exclusive).
pub const T_TRIAL_END: u64 = 1_769_904_000;
/// 2026-06-30T17:00:00Z: the host removes its activation.
pub const T_DEACTIVATED: u64 = 1_782_838_800;
/// 2027-01-01T00:00:00Z: the support subscription ends (exclusive).
pub const T_SUPPORT_EXPIRES: u64 = 1_798_761_600;

/// Activation id of the offline activation.
pub const OFFLINE_ACTIVATION_ID: u64 = 1;
/// Activation id of the online activation.
pub const ONLINE_ACTIVATION_ID: u64 = 2;
/// Counter of the reference usage request.
pub const REQUEST_COUNTER: u32 = 1;
/// Counter of the deactivation code (one past the request's).
pub const DEACTIVATION_COUNTER: u32 = 2;

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// The reference vendor signing key.
pub fn vendor_key() -> VendorSigningKey {
    VendorSigningKey::from_seed(&VENDOR_SEED)
}

/// The vendor's rotated-in second key.
pub fn rotated_vendor_key() -> VendorSigningKey {
    VendorSigningKey::from_seed(&ROTATED_VENDOR_SEED)
}

/// A signing key the reference host does not trust.
pub fn untrusted_vendor_key() -> VendorSigningKey {
    VendorSigningKey::from_seed(&UNTRUSTED_VENDOR_SEED)
}

/// The reference host's device key.
pub fn device_key() -> DeviceKey {
    DeviceKey::from_seed(&DEVICE_SEED)
}

/// Another host's device key.
pub fn other_device_key() -> DeviceKey {
    DeviceKey::from_seed(&OTHER_DEVICE_SEED)
}

/// The public keys the reference host trusts: the reference key, then the rotated key.
pub fn trusted_public_keys() -> [[u8; 32]; 2] {
    [vendor_key().public_key(), rotated_vendor_key().public_key()]
}

/// The reference host's keyring (see [`trusted_public_keys`]).
pub fn keyring() -> Result<Keyring> {
    Keyring::from_keys(trusted_public_keys().iter())
}

/// The reference license key.
pub fn license_key() -> LicenseKey {
    LicenseKey::from_entropy(&KEY_ENTROPY)
}

// ---------------------------------------------------------------------------------------------
// Fingerprints
// ---------------------------------------------------------------------------------------------

/// Derives the components of `raw` identifiers with the reference salt.
pub fn derive_components(raw: &[(ComponentKind, &str)]) -> Vec<Component> {
    raw.iter()
        .map(|(kind, id)| Component::derive(*kind, id.as_bytes(), FINGERPRINT_SALT))
        .collect()
}

/// The reference host's fingerprint (5 components).
pub fn fingerprint() -> Result<Fingerprint> {
    Fingerprint::from_components(derive_components(&RAW_IDENTIFIERS))
}

/// A host whose first `kept` components (in [`RAW_IDENTIFIERS`] order) are the reference
/// host's and whose other components come from replaced hardware.
pub fn partly_matching_host(kept: usize) -> Result<Fingerprint> {
    let raw: Vec<(ComponentKind, &str)> = RAW_IDENTIFIERS
        .iter()
        .zip(REPLACED_IDENTIFIERS.iter())
        .enumerate()
        .map(|(i, (same, replaced))| if i < kept { *same } else { *replaced })
        .collect();
    Fingerprint::from_components(derive_components(&raw))
}

// ---------------------------------------------------------------------------------------------
// Catalogue and grants
// ---------------------------------------------------------------------------------------------

/// The reference catalogue: MQTT Server (one-time), Support (yearly), IoT Bridge for Snowflake
/// (metered, per month).
pub fn features() -> Vec<Feature> {
    vec![
        Feature {
            name: "mqtt-server".into(),
            kind: FeatureKind::Perpetual,
        },
        Feature {
            name: "support".into(),
            kind: FeatureKind::Subscription {
                expires_at: T_SUPPORT_EXPIRES,
            },
        },
        Feature {
            name: "iot-bridge-snowflake".into(),
            kind: FeatureKind::Metered {
                quota: SNOWFLAKE_QUOTA,
                period: MeterPeriod::Month,
            },
        },
    ]
}

/// The reference grant: ACME Industrial's license for `chariot`, online and offline, two
/// activations, no validity window, 3-of-n fingerprint matching.
pub fn grant() -> Grant {
    Grant {
        license_id: LICENSE_ID,
        revision: 1,
        product: PRODUCT.into(),
        customer: CUSTOMER.into(),
        features: features(),
        models: Models::of(&[DeploymentModel::Online, DeploymentModel::Offline]),
        max_activations: 2,
        floating_seats: 0,
        not_before: None,
        not_after: None,
        fingerprint_threshold: FINGERPRINT_THRESHOLD,
    }
}

/// A one-month trial: MQTT Server only, valid from [`T_LICENSE_ISSUED`] to [`T_TRIAL_END`].
pub fn trial_grant() -> Grant {
    Grant {
        license_id: TRIAL_LICENSE_ID,
        revision: 1,
        product: PRODUCT.into(),
        customer: CUSTOMER.into(),
        features: vec![Feature {
            name: "mqtt-server".into(),
            kind: FeatureKind::Perpetual,
        }],
        models: Models::of(&[DeploymentModel::Offline]),
        max_activations: 1,
        floating_seats: 0,
        not_before: Some(T_LICENSE_ISSUED),
        not_after: Some(T_TRIAL_END),
        fingerprint_threshold: FINGERPRINT_THRESHOLD,
    }
}

// ---------------------------------------------------------------------------------------------
// Artifacts
// ---------------------------------------------------------------------------------------------

/// The reference license record (`TGLC`), signed by the reference key.
pub fn license() -> Result<License> {
    License::sign(grant(), T_LICENSE_ISSUED, &vendor_key())
}

/// The reference usage request (`TGRQ`): the reference host asks for the reference key.
pub fn usage_request() -> Result<UsageRequest> {
    UsageRequest::create(
        &license_key(),
        &device_key(),
        PRODUCT,
        PRODUCT_VERSION,
        REQUEST_COUNTER,
        T_REQUEST,
        &fingerprint()?,
    )
}

/// The terms of the reference offline usage license: the reference grant bound to the
/// reference request's device key and fingerprint.
pub fn offline_terms() -> Result<UsageTerms> {
    Ok(UsageTerms {
        grant: grant(),
        activation_id: OFFLINE_ACTIVATION_ID,
        model: DeploymentModel::Offline,
        device_key: device_key().public_key(),
        request_counter: REQUEST_COUNTER,
        fingerprint: fingerprint()?.components().to_vec(),
        issued_at: T_FULFILLED,
        refresh_deadline: None,
    })
}

/// The reference usage license (`TGUL`): offline, signed by the reference key.
pub fn usage_license_offline() -> Result<UsageLicense> {
    UsageLicense::issue(offline_terms()?, &vendor_key())
}

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

/// The claims of the reference deactivation code.
pub fn deactivation_claims() -> DeactivationClaims {
    DeactivationClaims {
        activation_id: OFFLINE_ACTIVATION_ID,
        license_id: LICENSE_ID,
        counter: DEACTIVATION_COUNTER,
        deactivated_at: T_DEACTIVATED,
    }
}

/// The reference deactivation code (`TGDC`), signed by the reference device key.
pub fn deactivation_code() -> Result<DeactivationCode> {
    DeactivationCode::create(deactivation_claims(), &device_key())
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
    let key = SigningKey::from_bytes(seed);
    let mut message = ty.domain().to_vec();
    message.extend_from_slice(unsigned);
    let mut out = unsigned.to_vec();
    out.extend_from_slice(&key.sign(&message).to_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partly_matching_hosts_match_as_named() {
        let licensed = fingerprint().unwrap();
        for kept in 0..=5 {
            let host = partly_matching_host(kept).unwrap();
            let d = host.match_against(licensed.components(), FINGERPRINT_THRESHOLD);
            assert_eq!(d.matched, kept);
        }
    }

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
