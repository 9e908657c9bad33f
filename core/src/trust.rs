//! The root of trust: the vendor's root key, key certificates (`TGKC`), key lists (`TGKL`)
//! and the [`TrustStore`] a host builds from them. See `core/SPEC.md` §10b.
//!
//! A vendor keeps one ed25519 **root key** offline. Its public half is compiled into every
//! product build; it never signs licenses. It signs:
//!
//! - [`KeyCertificate`]s: "this signing key may sign artifacts of this product issued within
//!   this window". A host counts a vendor signing key only when such a certificate vouches for
//!   it (handed to [`TrustStore::add_certificate`], or embedded in the usage license itself).
//! - [`KeyList`]s: the signing keys the vendor has retired, with a monotonic sequence number.
//!
//! A host therefore never trusts a key because a file it reads lists it: whatever a runtime file
//! says about keys counts only when the compiled-in root certifies it.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::armor::{self, ArtifactType};
use crate::codec::{self, max_len};
use crate::error::{Error, Result};
use crate::keys::{KeyId, Keyring, PublicKey, VendorSigningKey};
use crate::model::{check_text, MAX_TEXT};

/// The most retired key ids a key list may carry.
pub const MAX_RETIRED_KEYS: usize = 128;

/// Opens a root-signed artifact: header, signer = the root's key id (else
/// [`Error::UnknownKeyId`]), signature over the exact bytes (else [`Error::BadSignature`]).
fn open_root_signed<'a>(ty: ArtifactType, bytes: &'a [u8], root: &Root) -> Result<&'a [u8]> {
    let opened = codec::open(ty, bytes, 8)?;
    if opened.signer != root.id.0 {
        return Err(Error::UnknownKeyId);
    }
    root.key
        .verify_strict(&codec::signed_message(ty, opened.signed), &opened.signature)?;
    Ok(opened.payload)
}

/// A vendor root public key, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Root {
    key: PublicKey,
    id: KeyId,
}

impl Root {
    fn new(public: &[u8; 32]) -> Result<Self> {
        Ok(Root {
            key: PublicKey::from_bytes(public)?,
            id: KeyId::of(public),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Key certificate
// ---------------------------------------------------------------------------------------------

/// What a key certificate states. Everything here is covered by the root's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateClaims {
    /// The product the certified key may sign for.
    pub product: String,
    /// The certified vendor signing public key.
    pub public_key: [u8; 32],
    /// First `issued_at` (inclusive) of the artifacts the key may sign.
    pub not_before: u64,
    /// End (exclusive) of the `issued_at` of the artifacts the key may sign; `None`: open.
    pub not_after: Option<u64>,
    /// When the root signed this certificate.
    pub issued_at: u64,
}

impl CertificateClaims {
    /// Whether an artifact issued at `issued_at` lies within the certified window.
    pub fn covers(&self, issued_at: u64) -> bool {
        issued_at >= self.not_before && self.not_after.is_none_or(|end| issued_at < end)
    }

    /// The certified key's id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public_key)
    }

    fn validate(&self) -> Result<PublicKey> {
        check_text(&self.product, MAX_TEXT)?;
        if self.not_after.is_some_and(|end| end <= self.not_before) {
            return Err(Error::LimitExceeded);
        }
        PublicKey::from_bytes(&self.public_key).map_err(|_| Error::LimitExceeded)
    }
}

/// A root-signed certificate of a vendor signing key (`TGKC`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyCertificate {
    claims: CertificateClaims,
    key: PublicKey,
    root_id: KeyId,
    bytes: Vec<u8>,
}

impl KeyCertificate {
    /// Certifies a signing key with the vendor's root key. Fails with
    /// [`Error::LimitExceeded`] for an invalid product, an empty window or a weak key.
    pub fn issue(claims: CertificateClaims, root: &VendorSigningKey) -> Result<Self> {
        let key = claims.validate()?;
        let bytes = codec::seal(
            ArtifactType::KeyCertificate,
            &root.key_id().0,
            &claims,
            |m| root.sign(m),
        )?;
        Ok(KeyCertificate {
            claims,
            key,
            root_id: root.key_id(),
            bytes,
        })
    }

    /// Decodes a certificate and verifies it against the root public key: header, signer is
    /// the root's key id ([`Error::UnknownKeyId`]), the signature ([`Error::BadSignature`]),
    /// then the payload ([`Error::Truncated`], [`Error::Malformed`]). The product is not
    /// checked here ([`TrustStore::add_certificate`] does).
    pub fn decode(bytes: &[u8], root_public: &[u8; 32]) -> Result<Self> {
        Self::decode_with(bytes, &Root::new(root_public)?)
    }

    fn decode_with(bytes: &[u8], root: &Root) -> Result<Self> {
        let payload = open_root_signed(ArtifactType::KeyCertificate, bytes, root)?;
        let claims: CertificateClaims = codec::decode_payload(payload)?;
        let key = claims.validate().map_err(|_| Error::Malformed)?;
        Ok(KeyCertificate {
            claims,
            key,
            root_id: root.id,
            bytes: bytes.to_vec(),
        })
    }

    /// Decodes an armored certificate (`TGKC:…`) and verifies it against the root.
    pub fn from_armor(text: &str, root_public: &[u8; 32]) -> Result<Self> {
        let ty = ArtifactType::KeyCertificate;
        Self::decode(&armor::decode(ty, text, max_len(ty))?, root_public)
    }

    /// The signed claims.
    pub fn claims(&self) -> &CertificateClaims {
        &self.claims
    }

    /// The certified key's id.
    pub fn key_id(&self) -> KeyId {
        self.claims.key_id()
    }

    /// The root key's id (the signer field).
    pub fn root_key_id(&self) -> KeyId {
        self.root_id
    }

    /// The exact signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The armored text form.
    pub fn to_armor(&self) -> String {
        armor::encode(ArtifactType::KeyCertificate, &self.bytes)
    }
}

// ---------------------------------------------------------------------------------------------
// Key list
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct KeyListPayload {
    product: String,
    sequence: u64,
    issued_at: u64,
    retired: Vec<[u8; 8]>,
}

/// A root-signed list of retired vendor signing keys (`TGKL`). A newer list (higher
/// `sequence`) replaces an older one; a host refuses to go back to an older list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyList {
    product: String,
    sequence: u64,
    issued_at: u64,
    retired: Vec<KeyId>,
    bytes: Vec<u8>,
}

fn check_retired(ids: &[[u8; 8]]) -> Result<()> {
    if ids.len() > MAX_RETIRED_KEYS || ids.windows(2).any(|w| w.first() >= w.get(1)) {
        return Err(Error::LimitExceeded);
    }
    Ok(())
}

impl KeyList {
    /// Signs a key list with the root key. `retired` is sorted and deduplicated here; more than
    /// [`MAX_RETIRED_KEYS`] ids, or an invalid product, is [`Error::LimitExceeded`].
    pub fn issue(
        product: &str,
        sequence: u64,
        issued_at: u64,
        retired: &[KeyId],
        root: &VendorSigningKey,
    ) -> Result<Self> {
        check_text(product, MAX_TEXT)?;
        let mut ids: Vec<[u8; 8]> = retired.iter().map(|k| k.0).collect();
        ids.sort_unstable();
        ids.dedup();
        check_retired(&ids)?;
        let payload = KeyListPayload {
            product: product.into(),
            sequence,
            issued_at,
            retired: ids,
        };
        let bytes = codec::seal(ArtifactType::KeyList, &root.key_id().0, &payload, |m| {
            root.sign(m)
        })?;
        Ok(Self::from_payload(payload, bytes))
    }

    fn from_payload(p: KeyListPayload, bytes: Vec<u8>) -> Self {
        KeyList {
            product: p.product,
            sequence: p.sequence,
            issued_at: p.issued_at,
            retired: p.retired.into_iter().map(KeyId).collect(),
            bytes,
        }
    }

    /// Decodes a key list and verifies it against the root public key (as
    /// [`KeyCertificate::decode`]); the ids must be sorted, distinct and at most
    /// [`MAX_RETIRED_KEYS`] (else [`Error::Malformed`]).
    pub fn decode(bytes: &[u8], root_public: &[u8; 32]) -> Result<Self> {
        Self::decode_with(bytes, &Root::new(root_public)?)
    }

    fn decode_with(bytes: &[u8], root: &Root) -> Result<Self> {
        let payload = open_root_signed(ArtifactType::KeyList, bytes, root)?;
        let p: KeyListPayload = codec::decode_payload(payload)?;
        check_text(&p.product, MAX_TEXT).map_err(|_| Error::Malformed)?;
        check_retired(&p.retired).map_err(|_| Error::Malformed)?;
        Ok(Self::from_payload(p, bytes.to_vec()))
    }

    /// Decodes an armored key list (`TGKL:…`) and verifies it against the root.
    pub fn from_armor(text: &str, root_public: &[u8; 32]) -> Result<Self> {
        let ty = ArtifactType::KeyList;
        Self::decode(&armor::decode(ty, text, max_len(ty))?, root_public)
    }

    /// The product it applies to.
    pub fn product(&self) -> &str {
        &self.product
    }

    /// Its sequence number: a higher one supersedes a lower one.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// When the root signed it.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// The retired key ids, sorted.
    pub fn retired(&self) -> &[KeyId] {
        &self.retired
    }

    /// The exact signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The armored text form.
    pub fn to_armor(&self) -> String {
        armor::encode(ArtifactType::KeyList, &self.bytes)
    }
}

// ---------------------------------------------------------------------------------------------
// Trust store
// ---------------------------------------------------------------------------------------------

/// What a host trusts for one product: the vendor's compiled-in root public key, the signing
/// keys the root has certified (with their windows), and the newest key list applied.
///
/// Hosts MUST build their [`crate::Verifier`] with [`crate::Verifier::with_trust_store`]:
/// a [`Keyring`] of keys read from a file trusts whoever wrote the file.
#[derive(Clone, Debug)]
pub struct TrustStore {
    product: String,
    root: Root,
    certified: Vec<CertificateClaims>,
    keyring: Keyring,
    key_list: Option<KeyList>,
}

/// A signing key the trust store accepted for one artifact.
pub(crate) struct Signer {
    pub key: PublicKey,
}

impl TrustStore {
    /// A trust store for `product` anchored at the vendor's root public key. Fails with
    /// [`Error::BadPublicKey`] for a root that is not a valid, large-order point, and with
    /// [`Error::LimitExceeded`] for an invalid product id.
    pub fn new(product: &str, root_public: &[u8; 32]) -> Result<Self> {
        check_text(product, MAX_TEXT)?;
        Ok(TrustStore {
            product: product.into(),
            root: Root::new(root_public)?,
            certified: Vec::new(),
            keyring: Keyring::new(),
            key_list: None,
        })
    }

    /// The product.
    pub fn product(&self) -> &str {
        &self.product
    }

    /// The root key's id.
    pub fn root_key_id(&self) -> KeyId {
        self.root.id
    }

    /// The root public key.
    pub fn root_public_key(&self) -> [u8; 32] {
        self.root.key.to_bytes()
    }

    /// Adds a certificate supplied on its own (e.g. a file the host loads): verified against the
    /// root ([`KeyCertificate::decode`] errors), then for this product
    /// ([`Error::WrongProduct`]), then not retired by the current key list
    /// ([`Error::KeyRetired`]). Returns the certified key's id. Adding the same key again
    /// keeps the first certificate.
    pub fn add_certificate(&mut self, bytes: &[u8]) -> Result<KeyId> {
        let cert = KeyCertificate::decode_with(bytes, &self.root)?;
        self.add(cert)
    }

    /// Like [`TrustStore::add_certificate`], for the armored form (`TGKC:…`).
    pub fn add_certificate_armor(&mut self, text: &str) -> Result<KeyId> {
        let ty = ArtifactType::KeyCertificate;
        self.add_certificate(&armor::decode(ty, text, max_len(ty))?)
    }

    fn add(&mut self, cert: KeyCertificate) -> Result<KeyId> {
        if cert.claims.product != self.product {
            return Err(Error::WrongProduct);
        }
        let id = cert.key_id();
        if self.is_retired(&id) {
            return Err(Error::KeyRetired);
        }
        if self.keyring.get(&id).is_none() {
            self.keyring.add(&cert.claims.public_key)?;
            self.certified.push(cert.claims);
        }
        Ok(id)
    }

    /// Applies a root-signed key list: verified against the root ([`KeyList::decode`]
    /// errors), for this product ([`Error::WrongProduct`]), and not older than the list held
    /// ([`Error::StaleKeyList`] for a lower sequence, or the same sequence with other
    /// content; the same list again is accepted and changes nothing). Returns its sequence.
    pub fn apply_key_list(&mut self, bytes: &[u8]) -> Result<u64> {
        let list = KeyList::decode_with(bytes, &self.root)?;
        if list.product != self.product {
            return Err(Error::WrongProduct);
        }
        if let Some(held) = &self.key_list {
            if list.sequence < held.sequence
                || (list.sequence == held.sequence && list.bytes != held.bytes)
            {
                return Err(Error::StaleKeyList);
            }
        }
        let seq = list.sequence;
        self.key_list = Some(list);
        Ok(seq)
    }

    /// Like [`TrustStore::apply_key_list`], for the armored form (`TGKL:…`).
    pub fn apply_key_list_armor(&mut self, text: &str) -> Result<u64> {
        let ty = ArtifactType::KeyList;
        self.apply_key_list(&armor::decode(ty, text, max_len(ty))?)
    }

    /// The sequence of the key list held, if any: a host persists the list and re-applies it.
    pub fn key_list_sequence(&self) -> Option<u64> {
        self.key_list.as_ref().map(KeyList::sequence)
    }

    /// The key list held, if any.
    pub fn key_list(&self) -> Option<&KeyList> {
        self.key_list.as_ref()
    }

    /// Whether the held key list retires `id`.
    pub fn is_retired(&self, id: &KeyId) -> bool {
        self.key_list
            .as_ref()
            .is_some_and(|l| l.retired.binary_search(id).is_ok())
    }

    /// The claims of the certificates added (not those embedded in usage licenses).
    pub fn certificates(&self) -> &[CertificateClaims] {
        &self.certified
    }

    /// The certified keys as a keyring (for callers that only need signatures checked; the
    /// retirement and validity checks are the trust store's).
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Finds the key that may have signed an artifact with signer `id`, issued at `issued_at`,
    /// carrying the certificate `embedded` (exact `TGKC` bytes), in this order (SPEC §13 C'):
    ///
    /// 1. a key certified in the store, else the embedded certificate verified against the
    ///    root, for this product and for exactly this key id; anything else is
    ///    [`Error::KeyNotCertified`];
    /// 2. `issued_at` within the certificate's window, else [`Error::OutsideKeyValidity`];
    /// 3. not retired by the held key list, else [`Error::KeyRetired`].
    pub(crate) fn signer(
        &self,
        id: &KeyId,
        issued_at: u64,
        embedded: Option<&[u8]>,
    ) -> Result<Signer> {
        let stored = self.certified.iter().find(|c| c.key_id() == *id);
        let (claims, key) = match stored {
            Some(c) => (
                c.clone(),
                *self.keyring.get(id).ok_or(Error::KeyNotCertified)?,
            ),
            None => {
                let bytes = embedded.ok_or(Error::KeyNotCertified)?;
                let cert = KeyCertificate::decode_with(bytes, &self.root)
                    .map_err(|_| Error::KeyNotCertified)?;
                if cert.claims.product != self.product || cert.key_id() != *id {
                    return Err(Error::KeyNotCertified);
                }
                (cert.claims, cert.key)
            }
        };
        if !claims.covers(issued_at) {
            return Err(Error::OutsideKeyValidity);
        }
        if self.is_retired(id) {
            return Err(Error::KeyRetired);
        }
        Ok(Signer { key })
    }
}
