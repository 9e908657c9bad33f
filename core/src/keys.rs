//! Signing keys (vendor and device), key ids and the vendor keyring.

use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Length of a signature in bytes.
pub const SIGNATURE_LEN: usize = 64;

/// Identifies a vendor verifying key: the first 8 bytes of
/// SHA-256(`tollgate/v1/key-id\0` ‖ public key).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The key id of a public key.
    pub fn of(public: &[u8; 32]) -> Self {
        let d = Sha256::new()
            .chain_update(b"tollgate/v1/key-id\0")
            .chain_update(public)
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
        KeyId(id)
    }

    /// Lower-case hex form, as shown to people.
    pub fn to_hex(&self) -> alloc::string::String {
        crate::hex_string(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A vendor's ed25519 signing key. Zeroized on drop; `Debug` shows only the key id.
pub struct VendorSigningKey {
    key: SigningKey,
    id: KeyId,
}

impl VendorSigningKey {
    /// Builds the key from a 32-byte secret seed supplied by the caller's RNG.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let id = KeyId::of(key.verifying_key().as_bytes());
        VendorSigningKey { key, id }
    }

    /// The secret seed, for storage. Handle with care.
    pub fn seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.key.to_bytes())
    }

    /// This key's id.
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// The public half, as 32 bytes.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for VendorSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VendorSigningKey({}, <redacted>)", self.id)
    }
}

/// A host's per-activation device key. Zeroized on drop; `Debug` hides the secret.
pub struct DeviceKey {
    key: SigningKey,
}

impl DeviceKey {
    /// Builds the key from a 32-byte secret seed supplied by the caller's RNG.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        DeviceKey {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The secret seed, for storage. Handle with care.
    pub fn seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.key.to_bytes())
    }

    /// The public half.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DeviceKey(public={}, <redacted>)",
            crate::hex_string(&self.public_key())
        )
    }
}

/// Signature verifications made by this process ([`PublicKey::verify_strict`]), counted only in
/// tests (the `fixtures` feature, the core's own tests), which prove with it what an operation
/// costs (`crate::reference::signature_checks`).
#[cfg(any(test, feature = "fixtures"))]
pub(crate) static SIGNATURE_CHECKS: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(0);

/// A parsed ed25519 public key, checked once so that verification does not decompress it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses and checks a public key: it must be a valid point and not of small order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        let vk = VerifyingKey::from_bytes(bytes).map_err(|_| Error::BadPublicKey)?;
        if vk.is_weak() {
            return Err(Error::BadPublicKey);
        }
        Ok(PublicKey(vk))
    }

    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Verifies `sig` over `msg` with ed25519 `verify_strict`.
    pub fn verify_strict(&self, msg: &[u8], sig: &[u8; SIGNATURE_LEN]) -> Result<()> {
        #[cfg(any(test, feature = "fixtures"))]
        SIGNATURE_CHECKS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let sig = Signature::from_bytes(sig);
        self.0
            .verify_strict(msg, &sig)
            .map_err(|_| Error::BadSignature)
    }
}

/// The vendor verifying keys a host trusts, selected by key id. Holding several allows key
/// rotation: licenses signed by the old key keep verifying while new ones use the new key.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: Vec<(KeyId, PublicKey)>,
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a vendor public key and returns its id.
    pub fn add(&mut self, public: &[u8; 32]) -> Result<KeyId> {
        let pk = PublicKey::from_bytes(public)?;
        let id = KeyId::of(public);
        if !self.keys.iter().any(|(k, _)| *k == id) {
            self.keys.push((id, pk));
        }
        Ok(id)
    }

    /// Builds a keyring from several public keys.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a [u8; 32]>) -> Result<Self> {
        let mut ring = Self::new();
        for k in keys {
            ring.add(k)?;
        }
        Ok(ring)
    }

    /// The key with this id.
    pub fn get(&self, id: &KeyId) -> Option<&PublicKey> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, pk)| pk)
    }

    /// The ids of all keys held.
    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.iter().map(|(k, _)| *k)
    }
}
