//! Fixtures for the Tollgate benchmarks: one deterministic reference world (keys, host, one of
//! each artifact) and a JWT-style encoding of the same usage license, the peer format the
//! benches compare against.
//!
//! - `cargo bench -p tollgate-benches` runs the criterion benches (`benches/*.rs`);
//! - `benches/callgrind.sh` counts instructions of the verification path against a bare
//!   ed25519 `verify_strict` (binary `callgrind-ratio`).
//!
//! The reference world (seeds, product, customer, features, host identifiers, salt, times and
//! the reference artifacts) is `tollgate_core::reference`, the one the shared test vectors
//! (`tests/vectors/`) and `tollgate_core::fuzzing::Reference` are built from; tests check that
//! the benched artifacts are the vectors' bytes.
// A fixture that cannot be built is a broken benchmark: panicking is the right report.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use ed25519_dalek::VerifyingKey;
use tollgate_core::reference;
use tollgate_core::{
    ArtifactType, DeactivationCode, Fingerprint, License, UsageLicense, UsageRequest,
    VendorSigningKey, Verifier,
};

pub mod jwt;

/// Everything the benches need, built once.
pub struct Fixture {
    /// The vendor key.
    pub vendor: VendorSigningKey,
    /// The vendor's public key, parsed once, for the bare-signature baseline.
    pub vendor_key: VerifyingKey,
    /// A verifier for [`reference::PRODUCT`] that trusts the vendor key.
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

impl Fixture {
    /// Builds the fixture. Deterministic.
    pub fn new() -> Self {
        let vendor = reference::vendor_key();
        let device = reference::device_key();
        let host = reference::fingerprint().expect("five components");
        let key = reference::license_key();
        let usage_request = reference::usage_request().expect("request");
        let license = reference::license().expect("license");
        let usage_license = reference::usage_license_offline().expect("usage license");
        let deactivation_code = reference::deactivation_code().expect("deactivation code");

        let bytes = usage_license.as_bytes();
        let (signed, sig) = bytes.split_at(bytes.len() - 64);
        let mut signed_message = ArtifactType::UsageLicense.domain().to_vec();
        signed_message.extend_from_slice(signed);
        let signature = ed25519_dalek::Signature::from_slice(sig).expect("64 bytes");
        let vendor_key = VerifyingKey::from_bytes(&vendor.public_key()).expect("valid key");
        let verifier = reference::verifier().expect("valid key");
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
    use tollgate_core::reference::{PRODUCT, T_NOW, T_SUPPORT_EXPIRES};

    #[test]
    fn fixture_verifies_in_both_formats() {
        let f = Fixture::new();
        let ent = f
            .verifier
            .verify(&f.usage_license_armored, &f.host, T_NOW)
            .unwrap();
        assert!(ent.has_feature("support", T_NOW));
        assert!(!ent.has_feature("support", T_SUPPORT_EXPIRES));
        f.vendor_key
            .verify_strict(&f.signed_message, &f.signature)
            .unwrap();
        let claims = jwt::verify(&f.jwt, &f.vendor_key, PRODUCT, &f.host, T_NOW).unwrap();
        assert_eq!(claims.features.len(), 3);
        assert_eq!(
            jwt::verify(&f.jwt, &f.vendor_key, "other", &f.host, T_NOW).err(),
            Some(jwt::JwtError::Claims)
        );
        let mut forged = f.jwt.clone();
        forged.insert(40, 'A');
        assert!(jwt::verify(&forged, &f.vendor_key, PRODUCT, &f.host, T_NOW).is_err());
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
}
