//! Hardware fingerprints: sets of salted component digests, and k-of-n matching.

use alloc::vec::Vec;

use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};

/// Most components a fingerprint may carry.
pub const MAX_COMPONENTS: usize = 16;
/// Bytes of each component digest.
pub const DIGEST_LEN: usize = 8;

/// The source of a fingerprint component. The byte values are part of the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ComponentKind {
    /// `/etc/machine-id` (after an application-specific HMAC on the host).
    MachineId = 1,
    /// DMI product UUID.
    DmiProductUuid = 2,
    /// The MAC address of a physical network interface.
    Mac = 3,
    /// The root disk's serial or id.
    RootDisk = 4,
    /// The host name.
    Hostname = 5,
    /// A container or workload id supplied by the host application.
    Workload = 6,
    /// A cloud instance id.
    CloudInstance = 7,
    /// An id supplied by the operator.
    Operator = 8,
}

impl ComponentKind {
    /// All kinds.
    pub const ALL: [ComponentKind; 8] = [
        ComponentKind::MachineId,
        ComponentKind::DmiProductUuid,
        ComponentKind::Mac,
        ComponentKind::RootDisk,
        ComponentKind::Hostname,
        ComponentKind::Workload,
        ComponentKind::CloudInstance,
        ComponentKind::Operator,
    ];

    /// The kind for a wire byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u8 == b)
    }

    /// A short lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            ComponentKind::MachineId => "machine-id",
            ComponentKind::DmiProductUuid => "dmi-product-uuid",
            ComponentKind::Mac => "mac",
            ComponentKind::RootDisk => "root-disk",
            ComponentKind::Hostname => "hostname",
            ComponentKind::Workload => "workload",
            ComponentKind::CloudInstance => "cloud-instance",
            ComponentKind::Operator => "operator",
        }
    }
}

/// One component: its kind byte and its salted digest. No raw identifier is ever kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Component {
    /// The [`ComponentKind`] byte.
    pub kind: u8,
    /// HKDF-SHA256(salt = product salt, ikm = raw id, info = domain ‖ kind), first 8 bytes.
    pub digest: [u8; DIGEST_LEN],
}

impl Component {
    /// Derives a component from a raw identifier and the product's salt.
    pub fn derive(kind: ComponentKind, raw: &[u8], product_salt: &[u8]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(product_salt), raw);
        let mut digest = [0u8; DIGEST_LEN];
        // Expanding 8 bytes cannot fail (the limit is 255 * 32).
        let _ = hk.expand_multi_info(&[b"tollgate/v1/fingerprint\0", &[kind as u8]], &mut digest);
        Component {
            kind: kind as u8,
            digest,
        }
    }
}

/// A host's fingerprint: a sorted, de-duplicated set of components.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    components: Vec<Component>,
}

/// The outcome of matching a licensed fingerprint against a host's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatchDetail {
    /// Licensed components also present on the host.
    pub matched: usize,
    /// Components the license lists.
    pub licensed: usize,
    /// Components that must match.
    pub required: usize,
}

impl MatchDetail {
    /// Whether the match is good enough.
    pub const fn ok(&self) -> bool {
        self.matched >= self.required
    }
}

impl Fingerprint {
    /// Builds a fingerprint from components, sorting them and dropping duplicates.
    pub fn from_components(mut components: Vec<Component>) -> Result<Self> {
        components.sort_unstable();
        components.dedup();
        if components.is_empty() || components.len() > MAX_COMPONENTS {
            return Err(Error::LimitExceeded);
        }
        Ok(Fingerprint { components })
    }

    /// The components, sorted.
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// Matches the components a license lists against this host's, with threshold `k`. At least
    /// one component must always match; a threshold above the number listed means all of them.
    pub fn match_against(&self, licensed: &[Component], k: u8) -> MatchDetail {
        let matched = licensed
            .iter()
            .filter(|c| self.components.binary_search(c).is_ok())
            .count();
        let required = usize::from(k.max(1)).min(licensed.len().max(1));
        MatchDetail {
            matched,
            licensed: licensed.len(),
            required,
        }
    }
}

/// Checks a decoded component list: 1–16 entries, known kinds, sorted, no duplicates.
pub(crate) fn check_components(c: &[Component]) -> Result<()> {
    if c.is_empty() || c.len() > MAX_COMPONENTS {
        return Err(Error::Malformed);
    }
    if c.iter().any(|x| ComponentKind::from_u8(x.kind).is_none()) {
        return Err(Error::Malformed);
    }
    if c.windows(2).any(|w| matches!(w, [a, b] if a >= b)) {
        return Err(Error::Malformed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(ids: &[(ComponentKind, &str)]) -> Fingerprint {
        Fingerprint::from_components(
            ids.iter()
                .map(|(k, s)| Component::derive(*k, s.as_bytes(), b"chariot"))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn exact_digest() {
        let c = Component::derive(ComponentKind::Hostname, b"broker-1", b"chariot");
        assert_eq!(c.kind, 5);
        assert_eq!(hex::encode(c.digest), "3854139abc0c35b9");
    }

    #[test]
    fn salt_and_kind_separate_digests() {
        let a = Component::derive(ComponentKind::Hostname, b"x", b"chariot");
        let b = Component::derive(ComponentKind::Hostname, b"x", b"other");
        let c = Component::derive(ComponentKind::Operator, b"x", b"chariot");
        assert_ne!(a.digest, b.digest);
        assert_ne!(a.digest, c.digest);
    }

    #[test]
    fn k_of_n() {
        use ComponentKind::*;
        let licensed = fp(&[
            (MachineId, "m"),
            (Mac, "aa"),
            (RootDisk, "d"),
            (Hostname, "h"),
        ]);
        // One NIC replaced: 3 of 4 still match.
        let host = fp(&[
            (MachineId, "m"),
            (Mac, "bb"),
            (RootDisk, "d"),
            (Hostname, "h"),
        ]);
        let d = host.match_against(licensed.components(), 3);
        assert_eq!((d.matched, d.licensed, d.required, d.ok()), (3, 4, 3, true));
        // NIC and disk replaced: 2 of 4, not enough.
        let host2 = fp(&[
            (MachineId, "m"),
            (Mac, "bb"),
            (RootDisk, "e"),
            (Hostname, "h"),
        ]);
        assert!(!host2.match_against(licensed.components(), 3).ok());
        // Threshold above n means all; threshold 0 still needs one.
        assert_eq!(host.match_against(licensed.components(), 9).required, 4);
        assert_eq!(host.match_against(licensed.components(), 0).required, 1);
    }
}
