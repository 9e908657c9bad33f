//! The lease token (`TGLS`): a floating license server's signed statement that one client (a
//! broker) may use a set of features until a given time. See `core/SPEC.md` §10a.
//!
//! A floating license server is activated like any host: it makes a usage request for the
//! floating model and installs the vendor's usage license, whose `device_key` is the server's
//! own device key. That usage license therefore certifies the server's key, and the server signs
//! lease tokens with it. A client checks a lease offline with
//! [`crate::Verifier::verify_lease`]: the vendor's signature on the floating usage license,
//! then the server's signature on the lease, then that the lease stays within what the license
//! grants and is meant for this client.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::armor::{self, ArtifactType};
use crate::codec::{self, max_len};
use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::keys::{DeviceKey, KeyId, PublicKey};
use crate::model::{check_feature_name, MAX_FEATURES};

/// Length of a [`ClientId`] in bytes.
pub const CLIENT_ID_LEN: usize = 16;

/// Length of a lease nonce ([`LeaseClaims::nonce`]) in bytes.
pub const NONCE_LEN: usize = 16;

/// The client's nonce of one checkout or heartbeat, echoed by the lease that answers it.
pub type LeaseNonce = [u8; NONCE_LEN];

/// Lower-case hex of a nonce, as sent over HTTP.
pub fn nonce_to_hex(nonce: &LeaseNonce) -> String {
    crate::hex_string(nonce)
}

/// Parses a nonce from 32 hex digits (either case).
pub fn nonce_from_hex(s: &str) -> Option<LeaseNonce> {
    ClientId::from_hex(s).map(|c| c.0)
}

/// The longest a lease that is not borrowed may run (`expires_at − issued_at`), in seconds: one
/// hour. A lease is renewed by heartbeats well before it ends; a longer term is a *borrowed*
/// lease, bounded by the license's [`crate::Grant::max_borrow_secs`].
pub const MAX_LEASE_SECS: u64 = 3600;

/// The domain string of [`ClientId::derive`].
const CLIENT_DOMAIN: &[u8] = b"tollgate/v1/lease-client\0";

/// Who a lease is for: 16 bytes derived from the client's own fingerprint and an instance name
/// (see [`ClientId::derive`]), so that a lease token copied to another machine is refused there.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClientId(pub [u8; CLIENT_ID_LEN]);

impl ClientId {
    /// The client id of a host with `fingerprint` running the instance `instance` (any string
    /// the application chooses to tell several clients on one host apart; often empty):
    ///
    /// `SHA-256("tollgate/v1/lease-client\0" ‖ n ‖ (kind ‖ digest) × n ‖ instance)[..16]`,
    /// with `n` the number of components as one byte and the components in their sorted order.
    pub fn derive(fingerprint: &Fingerprint, instance: &str) -> Self {
        let comps = fingerprint.components();
        let mut h = Sha256::new();
        h.update(CLIENT_DOMAIN);
        h.update([u8::try_from(comps.len()).unwrap_or(u8::MAX)]);
        for c in comps {
            h.update([c.kind]);
            h.update(c.digest);
        }
        h.update(instance.as_bytes());
        let d = h.finalize();
        let mut id = [0u8; CLIENT_ID_LEN];
        id.copy_from_slice(d.get(..CLIENT_ID_LEN).unwrap_or(&[0; CLIENT_ID_LEN]));
        ClientId(id)
    }

    /// Lower-case hex, as shown to people and sent over HTTP.
    pub fn to_hex(&self) -> String {
        crate::hex_string(&self.0)
    }

    /// Parses 32 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 2 * CLIENT_ID_LEN {
            return None;
        }
        let mut out = [0u8; CLIENT_ID_LEN];
        for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
            let hi = char::from(*pair.first()?).to_digit(16)?;
            let lo = char::from(*pair.get(1)?).to_digit(16)?;
            *o = u8::try_from(hi * 16 + lo).ok()?;
        }
        Some(ClientId(out))
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", self.to_hex())
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// What a lease token states. Everything here is covered by the server's signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseClaims {
    /// The server's id of this lease; the same across renewals.
    pub lease_id: u64,
    /// The license of the floating usage license the server holds (`grant.license_id`).
    pub license_id: u64,
    /// The activation of that floating usage license (the server's seat at the vendor).
    pub activation_id: u64,
    /// The client the lease is for.
    pub client_id: ClientId,
    /// The nonce the client sent with the checkout or heartbeat this token answers (fresh
    /// random bytes per request), so that a token captured earlier cannot answer a later
    /// request.
    pub nonce: LeaseNonce,
    /// The leased feature set: 1–32 feature names, sorted and distinct.
    pub features: Vec<String>,
    /// A borrowed lease: a long term (days) for a client that goes offline, not renewed by
    /// heartbeats, bounded by [`crate::Grant::max_borrow_secs`] instead of [`MAX_LEASE_SECS`].
    pub borrowed: bool,
    /// When the server signed this lease or renewal (server clock), inclusive.
    pub issued_at: u64,
    /// When it ends (server clock), exclusive; after `issued_at`.
    pub expires_at: u64,
}

impl LeaseClaims {
    /// The term of the lease: `expires_at − issued_at` (0 if they are out of order).
    pub fn term(&self) -> u64 {
        self.expires_at.saturating_sub(self.issued_at)
    }

    /// Whether the lease covers feature `name`.
    pub fn covers(&self, name: &str) -> bool {
        self.features
            .binary_search_by(|f| f.as_str().cmp(name))
            .is_ok()
    }

    /// Checks the format limits: 1–32 feature names, each valid, sorted and distinct; a
    /// non-empty term. Fails with [`Error::LimitExceeded`].
    pub fn validate(&self) -> Result<()> {
        if self.features.is_empty() || self.features.len() > MAX_FEATURES {
            return Err(Error::LimitExceeded);
        }
        for f in &self.features {
            check_feature_name(f)?;
        }
        if self.features.windows(2).any(|w| match w {
            [a, b] => a >= b,
            _ => false,
        }) {
            return Err(Error::LimitExceeded);
        }
        if self.expires_at <= self.issued_at {
            return Err(Error::LimitExceeded);
        }
        Ok(())
    }
}

/// Sorts feature names and removes duplicates: the canonical form of a feature set, as
/// [`LeaseClaims::features`] holds it.
pub fn feature_set<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut v: Vec<String> = names.into_iter().map(Into::into).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// A lease token signed by a floating license server's device key (`TGLS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    claims: LeaseClaims,
    key_id: KeyId,
    bytes: Vec<u8>,
}

impl Lease {
    /// Signs lease claims with the server's device key (the key its floating usage license
    /// names). The feature set is put in canonical form first ([`feature_set`]). Fails with
    /// [`Error::LimitExceeded`] if the claims break a format limit.
    pub fn sign(mut claims: LeaseClaims, server: &DeviceKey) -> Result<Self> {
        claims.features = feature_set(core::mem::take(&mut claims.features));
        claims.validate()?;
        let key_id = KeyId::of(&server.public_key());
        let bytes = codec::seal(ArtifactType::Lease, &key_id.0, &claims, |m| server.sign(m))?;
        Ok(Lease {
            claims,
            key_id,
            bytes,
        })
    }

    /// Decodes a lease token and checks it was signed by `server_key` (the `device_key` of the
    /// server's floating usage license): the envelope, the key id ([`Error::UnknownKeyId`] for
    /// a lease from another server), the signature over the exact bytes, then the payload and
    /// its limits ([`Error::Malformed`]).
    pub fn decode(bytes: &[u8], server_key: &[u8; 32]) -> Result<Self> {
        let opened = codec::open(ArtifactType::Lease, bytes, 8)?;
        let expected = KeyId::of(server_key);
        if opened.signer != expected.0 {
            return Err(Error::UnknownKeyId);
        }
        let pk = PublicKey::from_bytes(server_key).map_err(|_| Error::BadSignature)?;
        pk.verify_strict(
            &codec::signed_message(ArtifactType::Lease, opened.signed),
            &opened.signature,
        )?;
        let claims: LeaseClaims = codec::decode_payload(opened.payload)?;
        claims.validate().map_err(|_| Error::Malformed)?;
        Ok(Lease {
            claims,
            key_id: expected,
            bytes: bytes.to_vec(),
        })
    }

    /// Decodes an armored lease token (see [`Lease::decode`]).
    pub fn from_armor(text: &str, server_key: &[u8; 32]) -> Result<Self> {
        let ty = ArtifactType::Lease;
        Self::decode(&armor::decode(ty, text, max_len(ty))?, server_key)
    }

    /// The signed claims.
    pub fn claims(&self) -> &LeaseClaims {
        &self.claims
    }

    /// The key id of the server key that signed it (the signer field).
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The exact signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The armored text form (`TGLS:…`).
    pub fn to_armor(&self) -> String {
        armor::encode(ArtifactType::Lease, &self.bytes)
    }

    pub(crate) fn into_claims(self) -> LeaseClaims {
        self.claims
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn claims() -> LeaseClaims {
        LeaseClaims {
            lease_id: 7,
            license_id: 1003,
            activation_id: 3,
            client_id: ClientId([0xab; 16]),
            nonce: [0x4e; 16],
            features: feature_set(["support", "mqtt-server", "support"]),
            borrowed: false,
            issued_at: 1_000,
            expires_at: 1_060,
        }
    }

    #[test]
    fn sign_and_decode() {
        let server = DeviceKey::from_seed(&[5; 32]);
        let lease = Lease::sign(claims(), &server).unwrap();
        assert_eq!(lease.claims().features, ["mqtt-server", "support"]);
        assert!(lease.claims().covers("support") && !lease.claims().covers("suppor"));
        let back = Lease::from_armor(&lease.to_armor(), &server.public_key()).unwrap();
        assert_eq!(back, lease);
        assert!(lease.to_armor().starts_with("TGLS:"));
        let other = DeviceKey::from_seed(&[6; 32]).public_key();
        assert_eq!(
            Lease::decode(lease.as_bytes(), &other),
            Err(Error::UnknownKeyId)
        );
    }

    #[test]
    fn limits() {
        let server = DeviceKey::from_seed(&[5; 32]);
        let mut c = claims();
        c.features.clear();
        assert_eq!(Lease::sign(c, &server), Err(Error::LimitExceeded));
        let mut c = claims();
        c.expires_at = c.issued_at;
        assert_eq!(Lease::sign(c, &server), Err(Error::LimitExceeded));
        let mut c = claims();
        c.features = alloc::vec!["Bad Name".into()];
        assert_eq!(Lease::sign(c, &server), Err(Error::LimitExceeded));
    }

    #[test]
    fn client_ids_depend_on_host_and_instance() {
        use crate::fingerprint::{Component, ComponentKind};
        let fp = |raw: &[u8]| {
            Fingerprint::from_components(alloc::vec![Component::derive(
                ComponentKind::MachineId,
                raw,
                b"salt"
            )])
            .unwrap()
        };
        let a = ClientId::derive(&fp(b"a"), "");
        assert_eq!(a, ClientId::derive(&fp(b"a"), ""));
        assert_ne!(a, ClientId::derive(&fp(b"b"), ""));
        assert_ne!(a, ClientId::derive(&fp(b"a"), "broker-2"));
        assert_eq!(ClientId::from_hex(&a.to_hex()), Some(a));
        assert_eq!(ClientId::from_hex("00"), None);
    }
}
