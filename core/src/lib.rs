//! # tollgate-core
//!
//! The wire formats and the verification path of Tollgate, a vendor-neutral software-licensing
//! SDK. This crate is `no_std` + `alloc`, has no clock, no I/O and no randomness of its own:
//! callers pass the current time (Unix seconds) and the seeds of new keys.
//!
//! The formats are specified byte for byte in `core/SPEC.md`:
//!
//! | artifact | direction | text prefix | signed by |
//! |---|---|---|---|
//! | [`LicenseKey`] | vendor → customer | `XXXXX-XXXXX-…` | — (check symbols) |
//! | [`License`] | vendor's record | `TGLC:` | vendor key |
//! | [`UsageRequest`] | host → vendor | `TGRQ:` | device key |
//! | [`UsageLicense`] | vendor → host | `TGUL:` | vendor key |
//! | [`DeactivationCode`] | host → vendor | `TGDC:` | device key |
//! | [`Lease`] | floating server → client | `TGLS:` | the server's device key |
//! | [`KeyCertificate`] | vendor root → hosts | `TGKC:` | the vendor's root key |
//! | [`KeyList`] | vendor root → hosts | `TGKL:` | the vendor's root key |
//! | [`UsageReport`] | host → vendor | `TGUR:` | device key |
//!
//! Trust is anchored in the vendor's **root key**, kept offline, whose public half is compiled
//! into the product: it certifies the signing keys ([`KeyCertificate`]) and retires them
//! ([`KeyList`]). Hosts verify through a [`TrustStore`] ([`Verifier::with_trust_store`]), never
//! through keys read from a file.
//!
//! ```
//! use tollgate_core::*;
//!
//! // Vendor side: the offline root key certifies a signing key (seeds from a real RNG).
//! let root = VendorSigningKey::from_seed(&[10; 32]);
//! let vendor = VendorSigningKey::from_seed(&[1; 32]);
//! let cert = KeyCertificate::issue(CertificateClaims {
//!     product: "chariot".into(), public_key: vendor.public_key(),
//!     not_before: 1_690_000_000, not_after: None, issued_at: 1_690_000_000,
//! }, &root)?;
//! let key = LicenseKey::from_entropy(&[2; 15]);
//!
//! // Host side: fingerprint, device key, usage request.
//! let fp = Fingerprint::from_components(vec![
//!     Component::derive(ComponentKind::MachineId, b"4c4c4544-0042", b"chariot-salt"),
//!     Component::derive(ComponentKind::Hostname, b"broker-1", b"chariot-salt"),
//! ])?;
//! let device = DeviceKey::from_seed(&[3; 32]);
//! let req = UsageRequest::create(&key, &device, "chariot", "4.2.0", 1, 1_700_000_000, &fp)?;
//!
//! // Vendor answers with a usage license.
//! let grant = Grant {
//!     license_id: 42, revision: 1, product: "chariot".into(), customer: "ACME".into(),
//!     features: vec![Feature { name: "mqtt-server".into(), kind: FeatureKind::Perpetual }],
//!     models: Models::of(&[DeploymentModel::Offline]), max_activations: 2, floating_seats: 0,
//!     not_before: None, not_after: None, fingerprint_threshold: 1, max_borrow_secs: 0,
//!     rollback_tolerance_secs: Grant::DEFAULT_ROLLBACK_TOLERANCE_SECS, offline_refresh_secs: 0,
//! };
//! let ul = UsageLicense::issue_with_certificate(UsageTerms {
//!     grant, activation_id: 7, model: DeploymentModel::Offline,
//!     device_key: *req.device_key(), request_counter: req.claims().counter,
//!     fingerprint: req.claims().fingerprint.clone(), issued_at: 1_700_000_100,
//!     refresh_deadline: None,
//! }, &vendor, &cert)?.to_armor();
//!
//! // Host verifies it, knowing only the root public key compiled into the product.
//! let verifier = Verifier::with_trust_store(TrustStore::new("chariot", &root.public_key())?);
//! let ent = verifier.verify(&ul, &fp, 1_700_000_200)?;
//! assert!(ent.has_feature("mqtt-server", 1_700_000_200));
//! # Ok::<(), tollgate_core::Error>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::indexing_slicing)]

extern crate alloc;

pub mod armor;
pub mod artifacts;
pub mod codec;
pub mod error;
pub mod fingerprint;
#[cfg(any(test, feature = "fixtures"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod key;
pub mod keys;
pub mod lease;
pub mod model;
#[cfg(any(test, feature = "fixtures"))]
#[doc(hidden)]
pub mod reference;
pub mod trust;
pub mod usage;
pub mod verify;

pub use armor::ArtifactType;
pub use artifacts::{
    DeactivationClaims, DeactivationCode, License, RequestClaims, UnverifiedDeactivation,
    UsageLicense, UsageRequest, UsageTerms,
};
pub use error::{Error, Result};
pub use fingerprint::{Component, ComponentKind, Fingerprint, MatchDetail};
pub use key::{KeyAuthSecret, LicenseKey};
pub use keys::{DeviceKey, KeyId, Keyring, PublicKey, VendorSigningKey};
pub use lease::{feature_set, ClientId, Lease, LeaseClaims, LeaseNonce};
pub use model::{
    DeploymentModel, Feature, FeatureKind, Grant, MeterPeriod, Models, MAX_VENDOR_TIME,
};
pub use trust::{CertificateClaims, KeyCertificate, KeyList, TrustStore, MAX_RETIRED_KEYS};
pub use usage::{
    parse_usage_journal, usage_journal_text, UsageClaims, UsageEntry, UsageJournalError,
    UsageReport, MAX_JOURNAL_REPORTS, MAX_USAGE_ENTRIES,
};
pub use verify::{Entitlement, FeatureState, LeaseEntitlement, Verifier};

/// Lower-case hex of `bytes`.
pub fn hex_string(bytes: &[u8]) -> alloc::string::String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = alloc::string::String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(
            HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
        ));
        s.push(char::from(
            HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0'),
        ));
    }
    s
}
