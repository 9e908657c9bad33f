//! Fixtures for the Tollgate benchmarks: one deterministic reference world (keys, host, one of
//! each artifact) and a JWT-style encoding of the same usage license, the peer format the
//! benches compare against.
//!
//! - `cargo bench -p tollgate-benches` runs the criterion benches (`benches/*.rs`);
//! - `benches/callgrind.sh` counts instructions of the verification path against a bare
//!   ed25519 `verify_strict` (binary `callgrind-ratio`).
//!
//! The reference values (seeds, product, customer, features, host identifiers, salt, times) are
//! those of the shared test vectors (`tests/src/fixtures.rs`, `tests/vectors/`) and of
//! `tollgate_core::fuzzing::Reference`, copied rather than imported so that the benches do not
//! depend on the tests crate; tests check that all three produce the same bytes.
// A fixture that cannot be built is a broken benchmark: panicking is the right report.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use ed25519_dalek::VerifyingKey;
use tollgate_core::{
    ArtifactType, Component, ComponentKind, DeactivationClaims, DeactivationCode, DeploymentModel,
    Feature, FeatureKind, Fingerprint, Grant, Keyring, License, LicenseKey, MeterPeriod, Models,
    UsageLicense, UsageRequest, UsageTerms, VendorSigningKey, Verifier,
};

pub mod jwt;

/// Seed of the vendor signing key.
pub const VENDOR_SEED: [u8; 32] = [1; 32];
/// Seed of the device key.
pub const DEVICE_SEED: [u8; 32] = [3; 32];
/// The product.
pub const PRODUCT: &str = "chariot";
/// The salt of the fingerprint components.
pub const FINGERPRINT_SALT: &[u8] = b"chariot/fingerprint/2026";
/// When the license was signed (2026-01-01T00:00:00Z).
pub const LICENSE_SIGNED_AT: u64 = 1_767_225_600;
/// When the host made its usage request.
pub const REQUESTED_AT: u64 = 1_767_259_800;
/// When the usage license was issued.
pub const ISSUED_AT: u64 = 1_767_261_600;
/// When the host removed its activation.
pub const DEACTIVATED_AT: u64 = 1_782_838_800;
/// Entropy of the license key.
pub const KEY_ENTROPY: [u8; 15] = [
    0x5e, 0x1f, 0x0a, 0x6b, 0xc3, 0x92, 0x44, 0xd8, 0x07, 0x3a, 0xf1, 0x29, 0x8c, 0x65, 0xb0,
];
/// When the `support` subscription ends (exclusive).
pub const SUPPORT_EXPIRES_AT: u64 = 1_798_761_600;
/// The time at which everything is verified: the usage license is valid then.
pub const NOW: u64 = 1_768_478_400;

/// The raw identifiers of the reference host.
pub const HOST_IDS: [(ComponentKind, &str); 5] = [
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

/// Everything the benches need, built once.
pub struct Fixture {
    /// The vendor key.
    pub vendor: VendorSigningKey,
    /// The vendor's public key, parsed once, for the bare-signature baseline.
    pub vendor_key: VerifyingKey,
    /// A verifier for [`PRODUCT`] that trusts the vendor key.
    pub verifier: Verifier,
    /// The host's fingerprint (five components).
    pub host: Fingerprint,
    /// The reference usage license.
    pub usage_license: UsageLicense,
    /// Its armored text.
    pub usage_license_armored: String,
    /// What its signature covers: the domain string followed by every byte before the
    /// signature. The bare baseline verifies exactly this.
    pub signed_message: Vec<u8>,
    /// Its signature.
    pub signature: ed25519_dalek::Signature,
    /// The license it was fulfilled from.
    pub license: License,
    /// The usage request it answers.
    pub usage_request: UsageRequest,
    /// A deactivation code for the activation.
    pub deactivation_code: DeactivationCode,
    /// The device's public key.
    pub device_public: [u8; 32],
    /// The license key, in display form.
    pub license_key: String,
    /// The same usage license in the JWT-style peer format.
    pub jwt: String,
}

/// The grant: three features, one of each kind.
pub fn grant() -> Grant {
    Grant {
        license_id: 1001,
        revision: 1,
        product: PRODUCT.into(),
        customer: "ACME Industrial".into(),
        features: vec![
            Feature {
                name: "mqtt-server".into(),
                kind: FeatureKind::Perpetual,
            },
            Feature {
                name: "support".into(),
                kind: FeatureKind::Subscription {
                    expires_at: SUPPORT_EXPIRES_AT,
                },
            },
            Feature {
                name: "iot-bridge-snowflake".into(),
                kind: FeatureKind::Metered {
                    quota: 1_000_000,
                    period: MeterPeriod::Month,
                },
            },
        ],
        models: Models::of(&[DeploymentModel::Online, DeploymentModel::Offline]),
        max_activations: 2,
        floating_seats: 0,
        not_before: None,
        not_after: None,
        fingerprint_threshold: 3,
    }
}

impl Fixture {
    /// Builds the fixture. Deterministic.
    pub fn new() -> Self {
        let vendor = VendorSigningKey::from_seed(&VENDOR_SEED);
        let device = tollgate_core::DeviceKey::from_seed(&DEVICE_SEED);
        let host = Fingerprint::from_components(
            HOST_IDS
                .iter()
                .map(|(kind, raw)| Component::derive(*kind, raw.as_bytes(), FINGERPRINT_SALT))
                .collect(),
        )
        .expect("five components");
        let key = LicenseKey::from_entropy(&KEY_ENTROPY);
        let usage_request =
            UsageRequest::create(&key, &device, PRODUCT, "4.2.0", 1, REQUESTED_AT, &host)
                .expect("request");
        let license = License::sign(grant(), LICENSE_SIGNED_AT, &vendor).expect("license");
        let terms = UsageTerms {
            grant: grant(),
            activation_id: 1,
            model: DeploymentModel::Offline,
            device_key: *usage_request.device_key(),
            request_counter: usage_request.claims().counter,
            fingerprint: usage_request.claims().fingerprint.clone(),
            issued_at: ISSUED_AT,
            refresh_deadline: None,
        };
        let usage_license = UsageLicense::issue(terms, &vendor).expect("usage license");
        let deactivation_code = DeactivationCode::create(
            DeactivationClaims {
                activation_id: 1,
                license_id: 1001,
                counter: 2,
                deactivated_at: DEACTIVATED_AT,
            },
            &device,
        )
        .expect("deactivation code");

        let bytes = usage_license.as_bytes();
        let (signed, sig) = bytes.split_at(bytes.len() - 64);
        let mut signed_message = ArtifactType::UsageLicense.domain().to_vec();
        signed_message.extend_from_slice(signed);
        let signature = ed25519_dalek::Signature::from_slice(sig).expect("64 bytes");
        let vendor_key = VerifyingKey::from_bytes(&vendor.public_key()).expect("valid key");
        let verifier = Verifier::new(
            PRODUCT,
            Keyring::from_keys([&vendor.public_key()]).expect("valid key"),
        );
        let jwt = jwt::encode(usage_license.terms(), &vendor.seed());
        Fixture {
            usage_license_armored: usage_license.to_armor(),
            vendor,
            vendor_key,
            verifier,
            host,
            usage_license,
            signed_message,
            signature,
            license,
            usage_request,
            deactivation_code,
            device_public: device.public_key(),
            license_key: key.expose(),
            jwt,
        }
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_verifies_in_both_formats() {
        let f = Fixture::new();
        let ent = f
            .verifier
            .verify(&f.usage_license_armored, &f.host, NOW)
            .unwrap();
        assert!(ent.has_feature("support", NOW));
        assert!(!ent.has_feature("support", SUPPORT_EXPIRES_AT));
        f.vendor_key
            .verify_strict(&f.signed_message, &f.signature)
            .unwrap();
        let claims = jwt::verify(&f.jwt, &f.vendor_key, PRODUCT, &f.host, NOW).unwrap();
        assert_eq!(claims.features.len(), 3);
        assert_eq!(
            jwt::verify(&f.jwt, &f.vendor_key, "other", &f.host, NOW).err(),
            Some(jwt::JwtError::Claims)
        );
        let mut forged = f.jwt.clone();
        forged.insert(40, 'A');
        assert!(jwt::verify(&forged, &f.vendor_key, PRODUCT, &f.host, NOW).is_err());
    }

    /// The benched artifacts are the reference vectors, byte for byte (skipped while the
    /// vectors have not been generated).
    #[test]
    fn fixture_is_the_reference_vectors() {
        let f = Fixture::new();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
        for (file, bytes) in [
            ("license.bin", f.license.as_bytes()),
            ("usage_request.bin", f.usage_request.as_bytes()),
            ("usage_license_offline.bin", f.usage_license.as_bytes()),
            ("deactivation_code.bin", f.deactivation_code.as_bytes()),
        ] {
            if let Ok(vector) = std::fs::read(dir.join(file)) {
                assert_eq!(vector, bytes, "{file}");
            }
        }
    }

    #[test]
    fn fixture_is_the_fuzzing_reference() {
        let f = Fixture::new();
        let r = tollgate_core::fuzzing::Reference::new();
        assert_eq!(f.usage_license.as_bytes(), r.usage_license.as_bytes());
    }
}
