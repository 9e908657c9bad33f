//! The reference world: fixed seeds, catalogue, customer, host and times, and builders of the
//! reference keys, fingerprint, grant and artifacts.
//!
//! Not part of the stable API: the shared reference world of tests, vectors, fuzz targets and
//! benches. It lives in the core (hidden, `no_std` like the rest) so that every one of them
//! builds the same world from one definition instead of a copy each:
//!
//! - `tests/src/fixtures.rs` re-exports it and adds the variant artifacts the test vectors need
//!   (rotated and untrusted keys, online, trial, other product, forged code); the committed
//!   vectors in `tests/vectors/` are built from it, byte for byte;
//! - [`crate::fuzzing::Reference`] verifies in it (keys, host, [`T_NOW`]);
//! - `benches/` measures the verification of [`usage_license_offline`].
//!
//! Nothing here reads a clock or an RNG: every builder returns the same bytes on every run and
//! every machine (ed25519 signatures are deterministic). Changing a value here changes the
//! committed vectors.

use alloc::vec::Vec;

/// How many ed25519 signatures this process has verified so far (every
/// [`crate::PublicKey::verify_strict`]), for tests that prove what an operation costs: take
/// the difference around it, in a test binary that runs nothing else at the same time.
pub fn signature_checks() -> usize {
    crate::keys::SIGNATURE_CHECKS.load(core::sync::atomic::Ordering::Relaxed)
}

use crate::artifacts::{
    DeactivationClaims, DeactivationCode, License, UsageLicense, UsageRequest, UsageTerms,
};
use crate::error::Result;
use crate::fingerprint::{Component, ComponentKind, Fingerprint};
use crate::key::LicenseKey;
use crate::keys::{DeviceKey, Keyring, VendorSigningKey};
use crate::lease::{ClientId, Lease, LeaseClaims};
use crate::model::{DeploymentModel, Feature, FeatureKind, Grant, MeterPeriod, Models};
use crate::trust::{CertificateClaims, KeyCertificate, TrustStore};
use crate::verify::Verifier;

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
/// Seed of the vendor's reference ROOT key: kept offline, certifies the signing keys.
pub const ROOT_SEED: [u8; 32] = [0x0a; 32];
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
/// The reference grant's rollback tolerance: one hour.
pub const ROLLBACK_TOLERANCE_SECS: u32 = 3600;
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

/// 2025-12-01T00:00:00Z: the root certifies the reference and rotated vendor keys (start of
/// their validity).
pub const T_KEY_CERTIFIED: u64 = 1_764_547_200;
/// 2026-01-01T00:00:00Z: the license is signed; start of the trial.
pub const T_LICENSE_ISSUED: u64 = 1_767_225_600;
/// 2026-01-01T09:30:00Z: the host makes its usage request.
pub const T_REQUEST: u64 = 1_767_259_800;
/// 2026-01-01T10:00:00Z: the vendor issues the usage licenses.
pub const T_FULFILLED: u64 = 1_767_261_600;
/// 2026-01-15T12:00:00Z: "now" for verification: the reference usage license is valid then.
pub const T_NOW: u64 = 1_768_478_400;
/// 2026-01-31T10:00:00Z: refresh deadline of the online activation (30 days after issue).
pub const T_REFRESH_DEADLINE: u64 = 1_769_853_600;
/// 2026-02-01T00:00:00Z: end of the trial (exclusive).
pub const T_TRIAL_END: u64 = 1_769_904_000;
/// 2026-06-30T17:00:00Z: the host removes its activation.
pub const T_DEACTIVATED: u64 = 1_782_838_800;
/// 2027-01-01T00:00:00Z: the support subscription ends (exclusive).
pub const T_SUPPORT_EXPIRES: u64 = 1_798_761_600;

// ---------------------------------------------------------------------------------------------
// Activations and counters
// ---------------------------------------------------------------------------------------------

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

/// The vendor's reference root key.
pub fn root_key() -> VendorSigningKey {
    VendorSigningKey::from_seed(&ROOT_SEED)
}

/// The claims of the root's certificate of `key` for [`PRODUCT`], valid from
/// [`T_KEY_CERTIFIED`], open-ended.
pub fn certificate_claims(key: &VendorSigningKey) -> CertificateClaims {
    CertificateClaims {
        product: PRODUCT.into(),
        public_key: key.public_key(),
        not_before: T_KEY_CERTIFIED,
        not_after: None,
        issued_at: T_KEY_CERTIFIED,
    }
}

/// The root's certificate (`TGKC`) of the reference vendor key.
pub fn vendor_certificate() -> Result<KeyCertificate> {
    KeyCertificate::issue(certificate_claims(&vendor_key()), &root_key())
}

/// A trust store for [`PRODUCT`] anchored at the reference root, holding no certificate.
pub fn trust_store() -> Result<TrustStore> {
    TrustStore::new(PRODUCT, &root_key().public_key())
}

/// The reference host's device key.
pub fn device_key() -> DeviceKey {
    DeviceKey::from_seed(&DEVICE_SEED)
}

/// Another host's device key.
pub fn other_device_key() -> DeviceKey {
    DeviceKey::from_seed(&OTHER_DEVICE_SEED)
}

/// The reference license key.
pub fn license_key() -> LicenseKey {
    LicenseKey::from_entropy(&KEY_ENTROPY)
}

/// A verifier for [`PRODUCT`] that trusts the reference vendor key only. (The host of the test
/// vectors also trusts the rotated key: `tests/src/fixtures.rs`.)
pub fn verifier() -> Result<Verifier> {
    Ok(Verifier::new(
        PRODUCT,
        Keyring::from_keys([&vendor_key().public_key()])?,
    ))
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

/// The reference host's fingerprint (5 components, from [`RAW_IDENTIFIERS`]).
pub fn fingerprint() -> Result<Fingerprint> {
    Fingerprint::from_components(derive_components(&RAW_IDENTIFIERS))
}

/// A host whose first `kept` components (in [`RAW_IDENTIFIERS`] order) are the reference
/// host's and whose other components come from replaced hardware ([`REPLACED_IDENTIFIERS`]).
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
// Catalogue and grant
// ---------------------------------------------------------------------------------------------

/// The catalogue's one-time feature: MQTT Server, perpetual.
pub fn mqtt_server() -> Feature {
    Feature {
        name: "mqtt-server".into(),
        kind: FeatureKind::Perpetual,
    }
}

/// The catalogue's yearly feature: Support, a subscription that ends at `expires_at`
/// (exclusive; [`T_SUPPORT_EXPIRES`] in the reference grant).
pub fn support(expires_at: u64) -> Feature {
    Feature {
        name: "support".into(),
        kind: FeatureKind::Subscription { expires_at },
    }
}

/// The catalogue's metered feature: IoT Bridge for Snowflake, [`SNOWFLAKE_QUOTA`] a month.
pub fn snowflake() -> Feature {
    Feature {
        name: "iot-bridge-snowflake".into(),
        kind: FeatureKind::Metered {
            quota: SNOWFLAKE_QUOTA,
            period: MeterPeriod::Month,
        },
    }
}

/// The reference catalogue: MQTT Server (one-time), Support (yearly, until
/// [`T_SUPPORT_EXPIRES`]), IoT Bridge for Snowflake (metered, per month): one feature of each
/// kind.
pub fn features() -> Vec<Feature> {
    alloc::vec![mqtt_server(), support(T_SUPPORT_EXPIRES), snowflake()]
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
        max_borrow_secs: 0,
        rollback_tolerance_secs: ROLLBACK_TOLERANCE_SECS,
        offline_refresh_secs: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// The reference artifacts
// ---------------------------------------------------------------------------------------------

/// The reference license record (`TGLC`), signed by the reference key at
/// [`T_LICENSE_ISSUED`].
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

/// The reference usage license (`TGUL`): offline, signed by the reference key; valid at
/// [`T_NOW`] on the [`fingerprint`] host.
pub fn usage_license_offline() -> Result<UsageLicense> {
    UsageLicense::issue(offline_terms()?, &vendor_key())
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

// ---------------------------------------------------------------------------------------------
// The floating world: a floating license server, a broker, a lease
// ---------------------------------------------------------------------------------------------

/// Seed of the floating license server's device key (the server runs on the reference host).
pub const SERVER_DEVICE_SEED: [u8; 32] = [0x05; 32];
/// The license id of the floating license.
pub const FLOATING_LICENSE_ID: u64 = 1003;
/// The activation id of the floating server's activation.
pub const FLOATING_ACTIVATION_ID: u64 = 3;
/// Concurrent floating seats of the floating license.
pub const FLOATING_SEATS: u32 = 5;
/// The floating license's borrowing bound: 7 days.
pub const MAX_BORROW_SECS: u32 = 7 * 24 * 3600;
/// The id of the reference lease.
pub const LEASE_ID: u64 = 42;
/// The nonce the reference broker sent with the checkout the reference lease answers.
pub const LEASE_NONCE: crate::lease::LeaseNonce = [0x4e; 16];
/// The instance name of the reference broker (empty: one broker on its host).
pub const BROKER_INSTANCE: &str = "";
/// The lease TTL of the reference server: 60 seconds.
pub const LEASE_TTL: u64 = 60;
/// When the reference lease (renewal) was signed: 20 seconds before [`T_NOW`].
pub const T_LEASE_ISSUED: u64 = T_NOW - 20;
/// When the reference lease ends (exclusive).
pub const T_LEASE_EXPIRES: u64 = T_LEASE_ISSUED + LEASE_TTL;

/// The floating server's device key.
pub fn server_key() -> DeviceKey {
    DeviceKey::from_seed(&SERVER_DEVICE_SEED)
}

/// The floating grant: the reference catalogue, floating only, [`FLOATING_SEATS`] seats,
/// borrowing up to [`MAX_BORROW_SECS`].
pub fn floating_grant() -> Grant {
    Grant {
        license_id: FLOATING_LICENSE_ID,
        models: Models::of(&[DeploymentModel::Floating]),
        max_activations: 1,
        floating_seats: FLOATING_SEATS,
        max_borrow_secs: MAX_BORROW_SECS,
        ..grant()
    }
}

/// The floating server's usage license: the floating grant bound to the server's device key
/// and the reference host (the server's machine), to be refreshed by [`T_REFRESH_DEADLINE`].
pub fn floating_usage_license() -> Result<UsageLicense> {
    let terms = UsageTerms {
        grant: floating_grant(),
        activation_id: FLOATING_ACTIVATION_ID,
        model: DeploymentModel::Floating,
        device_key: server_key().public_key(),
        refresh_deadline: Some(T_REFRESH_DEADLINE),
        ..offline_terms()?
    };
    UsageLicense::issue(terms, &vendor_key())
}

/// The broker's fingerprint: another machine than the server (the replaced hardware).
pub fn broker_fingerprint() -> Result<Fingerprint> {
    partly_matching_host(0)
}

/// The reference broker's client id.
pub fn broker_client_id() -> Result<ClientId> {
    Ok(ClientId::derive(&broker_fingerprint()?, BROKER_INSTANCE))
}

/// The claims of the reference lease: `mqtt-server` and `support` for the reference broker,
/// [`LEASE_TTL`] seconds from [`T_LEASE_ISSUED`].
pub fn lease_claims() -> Result<LeaseClaims> {
    Ok(LeaseClaims {
        lease_id: LEASE_ID,
        license_id: FLOATING_LICENSE_ID,
        activation_id: FLOATING_ACTIVATION_ID,
        client_id: broker_client_id()?,
        nonce: LEASE_NONCE,
        features: alloc::vec!["mqtt-server".into(), "support".into()],
        borrowed: false,
        issued_at: T_LEASE_ISSUED,
        expires_at: T_LEASE_EXPIRES,
    })
}

/// The reference lease token (`TGLS`), signed by the floating server; valid at [`T_NOW`] for
/// the [`broker_client_id`] with the [`floating_usage_license`].
pub fn lease() -> Result<Lease> {
    Lease::sign(lease_claims()?, &server_key())
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
    fn the_reference_usage_license_answers_the_reference_request() {
        let req = usage_request().unwrap();
        let terms = offline_terms().unwrap();
        assert_eq!(&terms.device_key, req.device_key());
        assert_eq!(terms.request_counter, req.claims().counter);
        assert_eq!(terms.fingerprint, req.claims().fingerprint);
        assert!(license_key()
            .auth_secret()
            .check_proof(req.device_key(), &req.claims().key_proof));
    }
}
