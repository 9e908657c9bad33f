//! The four signed artifacts: license, usage request, usage license and deactivation code.
//!
//! Each keeps the exact bytes it was decoded from (or encoded to) beside its parsed value; a
//! signature is always checked over those bytes, never over a re-encoding.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::armor::{self, ArtifactType};
use crate::codec::{self, max_len};
use crate::error::{Error, Result};
use crate::fingerprint::{check_components, Component, Fingerprint};
use crate::key::LicenseKey;
use crate::keys::{DeviceKey, KeyId, Keyring, PublicKey, VendorSigningKey};
use crate::model::{check_text, DeploymentModel, Grant, MAX_TEXT};
use crate::trust::{KeyCertificate, TrustStore};

fn armored_bytes(ty: ArtifactType, text: &str) -> Result<Vec<u8>> {
    armor::decode(ty, text, max_len(ty))
}

/// Opens a vendor-signed artifact: checks the header, selects the key by id and verifies the
/// signature over the exact bytes. Returns the key id and the still-undecoded payload.
fn open_vendor_signed<'a>(
    ty: ArtifactType,
    bytes: &'a [u8],
    keyring: &Keyring,
) -> Result<(KeyId, &'a [u8])> {
    let opened = codec::open(ty, bytes, 8)?;
    let mut id = [0u8; 8];
    id.copy_from_slice(opened.signer);
    let key_id = KeyId(id);
    let key = keyring.get(&key_id).ok_or(Error::UnknownKeyId)?;
    key.verify_strict(&codec::signed_message(ty, opened.signed), &opened.signature)?;
    Ok((key_id, opened.payload))
}

macro_rules! armor_methods {
    ($ty:expr) => {
        /// The exact signed bytes.
        pub fn as_bytes(&self) -> &[u8] {
            &self.bytes
        }

        /// The armored text form.
        pub fn to_armor(&self) -> String {
            armor::encode($ty, &self.bytes)
        }
    };
}

// ---------------------------------------------------------------------------------------------
// License
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct LicensePayload {
    grant: Grant,
    issued_at: u64,
}

/// The vendor-signed record of what a customer bought (`TGLC`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct License {
    grant: Grant,
    issued_at: u64,
    key_id: KeyId,
    bytes: Vec<u8>,
}

impl License {
    /// Signs a license. Fails with [`Error::LimitExceeded`] if the grant breaks a format limit.
    pub fn sign(grant: Grant, issued_at: u64, key: &VendorSigningKey) -> Result<Self> {
        grant.validate()?;
        let payload = LicensePayload { grant, issued_at };
        let bytes = codec::seal(ArtifactType::License, &key.key_id().0, &payload, |m| {
            key.sign(m)
        })?;
        Ok(License {
            grant: payload.grant,
            issued_at,
            key_id: key.key_id(),
            bytes,
        })
    }

    /// Decodes and verifies a license from its bytes.
    pub fn decode(bytes: &[u8], keyring: &Keyring) -> Result<Self> {
        let (key_id, payload) = open_vendor_signed(ArtifactType::License, bytes, keyring)?;
        let p: LicensePayload = codec::decode_payload(payload)?;
        p.grant.validate().map_err(|_| Error::Malformed)?;
        Ok(License {
            grant: p.grant,
            issued_at: p.issued_at,
            key_id,
            bytes: bytes.to_vec(),
        })
    }

    /// Decodes and verifies an armored license.
    pub fn from_armor(text: &str, keyring: &Keyring) -> Result<Self> {
        Self::decode(&armored_bytes(ArtifactType::License, text)?, keyring)
    }

    /// What was bought.
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// When the vendor signed this revision.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// The signing key's id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    armor_methods!(ArtifactType::License);
}

// ---------------------------------------------------------------------------------------------
// Usage request
// ---------------------------------------------------------------------------------------------

/// What a usage request asks for. Everything here is covered by the device key's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestClaims {
    /// [`LicenseKey::lookup_id`] of the key the host was given.
    pub key_lookup: [u8; 8],
    /// [`crate::KeyAuthSecret::proof`] over the device key: proves knowledge of the key.
    pub key_proof: [u8; 16],
    /// The product the host runs.
    pub product: String,
    /// The product's version.
    pub product_version: String,
    /// Strictly increasing per device key: a newer request supersedes every older one.
    pub counter: u32,
    /// When the host made the request (Unix seconds, host clock).
    pub created_at: u64,
    /// The host's fingerprint components, sorted.
    pub fingerprint: Vec<Component>,
}

/// A host-signed request for a usage license (`TGRQ`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRequest {
    device_key: [u8; 32],
    claims: RequestClaims,
    bytes: Vec<u8>,
}

impl UsageRequest {
    /// Makes and signs a request for `key` with the host's device key and fingerprint.
    pub fn create(
        key: &LicenseKey,
        device: &DeviceKey,
        product: &str,
        product_version: &str,
        counter: u32,
        created_at: u64,
        fingerprint: &Fingerprint,
    ) -> Result<Self> {
        let device_key = device.public_key();
        let claims = RequestClaims {
            key_lookup: key.lookup_id(),
            key_proof: key.auth_secret().proof(&device_key),
            product: product.into(),
            product_version: product_version.into(),
            counter,
            created_at,
            fingerprint: fingerprint.components().to_vec(),
        };
        Self::sign(claims, device)
    }

    /// Signs request claims with the device key. A host that kept the key's lookup id and key
    /// proof for its device key (never the key itself) uses this to make a later request, e.g.
    /// for an upgrade round trip, without asking for the key again.
    pub fn sign(claims: RequestClaims, device: &DeviceKey) -> Result<Self> {
        check_text(&claims.product, MAX_TEXT)?;
        check_text(&claims.product_version, MAX_TEXT)?;
        check_components(&claims.fingerprint).map_err(|_| Error::LimitExceeded)?;
        let device_key = device.public_key();
        let bytes = codec::seal(ArtifactType::UsageRequest, &device_key, &claims, |m| {
            device.sign(m)
        })?;
        Ok(UsageRequest {
            device_key,
            claims,
            bytes,
        })
    }

    /// Decodes a request and checks its self-signature. (Whether the key proof is right is for
    /// the vendor, who holds the key's auth secret.)
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let opened = codec::open(ArtifactType::UsageRequest, bytes, 32)?;
        let mut device_key = [0u8; 32];
        device_key.copy_from_slice(opened.signer);
        let pk = PublicKey::from_bytes(&device_key).map_err(|_| Error::BadSignature)?;
        pk.verify_strict(
            &codec::signed_message(ArtifactType::UsageRequest, opened.signed),
            &opened.signature,
        )?;
        let claims: RequestClaims = codec::decode_payload(opened.payload)?;
        check_components(&claims.fingerprint)?;
        check_text(&claims.product, MAX_TEXT).map_err(|_| Error::Malformed)?;
        check_text(&claims.product_version, MAX_TEXT).map_err(|_| Error::Malformed)?;
        Ok(UsageRequest {
            device_key,
            claims,
            bytes: bytes.to_vec(),
        })
    }

    /// Decodes an armored request.
    pub fn from_armor(text: &str) -> Result<Self> {
        Self::decode(&armored_bytes(ArtifactType::UsageRequest, text)?)
    }

    /// The device public key that signed the request.
    pub fn device_key(&self) -> &[u8; 32] {
        &self.device_key
    }

    /// The request's claims.
    pub fn claims(&self) -> &RequestClaims {
        &self.claims
    }

    /// A digest identifying this exact request: SHA-256 of its bytes, first 16 bytes.
    pub fn request_id(&self) -> [u8; 16] {
        let d = Sha256::digest(&self.bytes);
        let mut id = [0u8; 16];
        id.copy_from_slice(d.get(..16).unwrap_or(&[0; 16]));
        id
    }

    armor_methods!(ArtifactType::UsageRequest);
}

// ---------------------------------------------------------------------------------------------
// Usage license
// ---------------------------------------------------------------------------------------------

/// What a usage license grants, to which device, answering which request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTerms {
    /// The license's entitlements at the revision fulfilled.
    pub grant: Grant,
    /// The vendor's id for this activation (seat).
    pub activation_id: u64,
    /// How this activation was made.
    pub model: DeploymentModel,
    /// The device key of the request answered.
    pub device_key: [u8; 32],
    /// The counter of the request answered.
    pub request_counter: u32,
    /// The fingerprint the license is bound to (from the request), sorted.
    pub fingerprint: Vec<Component>,
    /// When the vendor issued it.
    pub issued_at: u64,
    /// For online and floating activations: refresh before this time (exclusive).
    pub refresh_deadline: Option<u64>,
}

impl UsageTerms {
    /// The validity window: first second of validity and first second past it (the earlier
    /// of the license's `not_after` and the refresh deadline; `u64::MAX` when unbounded).
    pub fn validity(&self) -> (u64, u64) {
        let from = self.grant.not_before.unwrap_or(0);
        let until = match (self.grant.not_after, self.refresh_deadline) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => u64::MAX,
        };
        (from, until)
    }

    /// Checks the validity window at `now`: [`Error::NotYetValid`] before it, and after it
    /// [`Error::RefreshOverdue`] when the refresh deadline ended it, else [`Error::Expired`].
    pub fn check_time(&self, now: u64) -> Result<()> {
        let (from, until) = self.validity();
        if now < from {
            return Err(Error::NotYetValid);
        }
        if now >= until {
            return Err(if self.refresh_deadline == Some(until) {
                Error::RefreshOverdue
            } else {
                Error::Expired
            });
        }
        Ok(())
    }
}

/// A vendor-signed usage license bound to one host (`TGUL`, version 2). Besides its terms it
/// may carry the exact bytes of its signing key's root-signed certificate (`TGKC`), so that a
/// host that knows only the vendor's root can verify it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageLicense {
    terms: UsageTerms,
    certificate: Option<Vec<u8>>,
    key_id: KeyId,
    bytes: Vec<u8>,
}

/// The payload of a usage license: the terms, then the optional certificate bytes.
type UsagePayload = (UsageTerms, Option<Vec<u8>>);

impl UsageLicense {
    /// Signs usage terms, without an embedded certificate (the host must then hold the
    /// signing key's certificate in its [`TrustStore`], or trust the key in a [`Keyring`]).
    pub fn issue(terms: UsageTerms, key: &VendorSigningKey) -> Result<Self> {
        Self::seal(terms, None, key)
    }

    /// Signs usage terms and embeds `certificate`, the root-signed certificate of `key`. Fails
    /// with [`Error::LimitExceeded`] when the certificate is for another key or product, or
    /// does not cover `terms.issued_at`.
    pub fn issue_with_certificate(
        terms: UsageTerms,
        key: &VendorSigningKey,
        certificate: &KeyCertificate,
    ) -> Result<Self> {
        let c = certificate.claims();
        if c.public_key != key.public_key()
            || c.product != terms.grant.product
            || !c.covers(terms.issued_at)
        {
            return Err(Error::LimitExceeded);
        }
        Self::seal(terms, Some(certificate.as_bytes().to_vec()), key)
    }

    fn seal(
        terms: UsageTerms,
        certificate: Option<Vec<u8>>,
        key: &VendorSigningKey,
    ) -> Result<Self> {
        terms.grant.validate()?;
        check_components(&terms.fingerprint).map_err(|_| Error::LimitExceeded)?;
        let payload: UsagePayload = (terms, certificate);
        let bytes = codec::seal(ArtifactType::UsageLicense, &key.key_id().0, &payload, |m| {
            key.sign(m)
        })?;
        let (terms, certificate) = payload;
        Ok(UsageLicense {
            terms,
            certificate,
            key_id: key.key_id(),
            bytes,
        })
    }

    fn from_payload(payload: &[u8], key_id: KeyId, bytes: &[u8]) -> Result<Self> {
        let (terms, certificate): UsagePayload = codec::decode_payload(payload)?;
        terms.grant.validate().map_err(|_| Error::Malformed)?;
        check_components(&terms.fingerprint)?;
        Ok(UsageLicense {
            terms,
            certificate,
            key_id,
            bytes: bytes.to_vec(),
        })
    }

    /// Decodes a usage license and verifies its signature with a key of `keyring` (nothing
    /// else: see [`crate::Verifier`] for the full check). An embedded certificate is ignored:
    /// the keyring is trusted as it is. Hosts use [`UsageLicense::decode_trusted`].
    pub fn decode(bytes: &[u8], keyring: &Keyring) -> Result<Self> {
        let (key_id, payload) = open_vendor_signed(ArtifactType::UsageLicense, bytes, keyring)?;
        Self::from_payload(payload, key_id, bytes)
    }

    /// Decodes a usage license and verifies its signer through the root of trust, in the order
    /// of SPEC §13: header, payload, the signer (certified in `store`, else by the embedded
    /// certificate; [`Error::KeyNotCertified`]), `issued_at` within the certificate's window
    /// ([`Error::OutsideKeyValidity`]), not retired ([`Error::KeyRetired`]), then the signature
    /// over the exact bytes ([`Error::BadSignature`]). Product, time and fingerprint are the
    /// [`crate::Verifier`]'s.
    pub fn decode_trusted(bytes: &[u8], store: &TrustStore) -> Result<Self> {
        let ty = ArtifactType::UsageLicense;
        let opened = codec::open(ty, bytes, 8)?;
        let mut id = [0u8; 8];
        id.copy_from_slice(opened.signer);
        let ul = Self::from_payload(opened.payload, KeyId(id), bytes)?;
        let signer = store.signer(&ul.key_id, ul.terms.issued_at, ul.certificate.as_deref())?;
        signer
            .key
            .verify_strict(&codec::signed_message(ty, opened.signed), &opened.signature)?;
        Ok(ul)
    }

    /// Decodes an armored usage license and verifies its signature.
    pub fn from_armor(text: &str, keyring: &Keyring) -> Result<Self> {
        Self::decode(&armored_bytes(ArtifactType::UsageLicense, text)?, keyring)
    }

    /// Decodes an armored usage license through the root of trust
    /// ([`UsageLicense::decode_trusted`]).
    pub fn from_armor_trusted(text: &str, store: &TrustStore) -> Result<Self> {
        Self::decode_trusted(&armored_bytes(ArtifactType::UsageLicense, text)?, store)
    }

    /// The signed terms.
    pub fn terms(&self) -> &UsageTerms {
        &self.terms
    }

    /// The exact bytes of the embedded key certificate, if any.
    pub fn certificate(&self) -> Option<&[u8]> {
        self.certificate.as_deref()
    }

    /// The signing key's id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub(crate) fn into_parts(self) -> (UsageTerms, KeyId) {
        (self.terms, self.key_id)
    }

    armor_methods!(ArtifactType::UsageLicense);
}

// ---------------------------------------------------------------------------------------------
// Deactivation code
// ---------------------------------------------------------------------------------------------

/// What a deactivation code states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeactivationClaims {
    /// The activation removed.
    pub activation_id: u64,
    /// Its license.
    pub license_id: u64,
    /// The host's request counter at the time.
    pub counter: u32,
    /// When the host removed the activation (Unix seconds, host clock).
    pub deactivated_at: u64,
}

/// A deactivation code whose signature has not been checked yet: the vendor looks up the
/// activation's device key from [`UnverifiedDeactivation::claims`] and then calls
/// [`UnverifiedDeactivation::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnverifiedDeactivation {
    claims: DeactivationClaims,
    signed_message: Vec<u8>,
    signature: [u8; 64],
    bytes: Vec<u8>,
}

impl UnverifiedDeactivation {
    /// The claims, not yet authenticated.
    pub fn claims(&self) -> &DeactivationClaims {
        &self.claims
    }

    /// Checks the signature with the activation's recorded device key.
    pub fn verify(self, device_key: &[u8; 32]) -> Result<DeactivationCode> {
        let pk = PublicKey::from_bytes(device_key).map_err(|_| Error::BadSignature)?;
        pk.verify_strict(&self.signed_message, &self.signature)?;
        Ok(DeactivationCode {
            claims: self.claims,
            bytes: self.bytes,
        })
    }
}

/// A host-signed proof that an activation was removed (`TGDC`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeactivationCode {
    claims: DeactivationClaims,
    bytes: Vec<u8>,
}

impl DeactivationCode {
    /// Makes and signs a deactivation code with the activation's device key.
    pub fn create(claims: DeactivationClaims, device: &DeviceKey) -> Result<Self> {
        let bytes = codec::seal(ArtifactType::DeactivationCode, &[], &claims, |m| {
            device.sign(m)
        })?;
        Ok(DeactivationCode { claims, bytes })
    }

    /// Decodes a code; its signature still has to be checked.
    pub fn decode(bytes: &[u8]) -> Result<UnverifiedDeactivation> {
        let opened = codec::open(ArtifactType::DeactivationCode, bytes, 0)?;
        let claims: DeactivationClaims = codec::decode_payload(opened.payload)?;
        Ok(UnverifiedDeactivation {
            claims,
            signed_message: codec::signed_message(ArtifactType::DeactivationCode, opened.signed),
            signature: opened.signature,
            bytes: bytes.to_vec(),
        })
    }

    /// Decodes an armored code; its signature still has to be checked.
    pub fn from_armor(text: &str) -> Result<UnverifiedDeactivation> {
        Self::decode(&armored_bytes(ArtifactType::DeactivationCode, text)?)
    }

    /// The verified claims.
    pub fn claims(&self) -> &DeactivationClaims {
        &self.claims
    }

    armor_methods!(ArtifactType::DeactivationCode);
}
