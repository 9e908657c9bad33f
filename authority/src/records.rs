//! What the ledger holds, as read back by [`crate::Authority`]'s queries.

use tollgate_core::{Component, DeploymentModel, Grant, KeyId};

/// Whether a vendor signing key signs new artifacts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// Signs every new license and usage license. Exactly one key is active at a time.
    Active,
    /// No longer signs, but stays listed so hosts keep trusting what it signed.
    Retired,
}

impl KeyStatus {
    /// Lower-case name: `active`, `retired`.
    pub const fn name(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
        }
    }

    /// Parses a lower-case name.
    pub fn from_name(s: &str) -> Option<Self> {
        [KeyStatus::Active, KeyStatus::Retired]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

/// A vendor signing key as the ledger records it: public half and status only. The private
/// seed stays in its key file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyInfo {
    /// The key id, as carried by every artifact it signs.
    pub key_id: KeyId,
    /// The ed25519 public key, for host keyrings.
    pub public_key: [u8; 32],
    /// Whether it signs new artifacts.
    pub status: KeyStatus,
    /// When it was created (Unix seconds).
    pub created_at: u64,
    /// When it was retired, if it was.
    pub retired_at: Option<u64>,
    /// When the root-signed key list withdrew it (`vendor key retire`): hosts that learn the
    /// list no longer trust anything it signed.
    pub withdrawn_at: Option<u64>,
}

impl SigningKeyInfo {
    /// The public key in lower-case hex, as hosts configure it.
    pub fn public_key_hex(&self) -> String {
        tollgate_core::hex_string(&self.public_key)
    }
}

/// The state of an activation (a seat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActivationStatus {
    /// Holds a seat.
    Active,
    /// Freed by a verified deactivation code from its host.
    Deactivated,
    /// Freed by the vendor for a host that was lost without deactivating.
    Restored,
}

impl ActivationStatus {
    /// Lower-case name: `active`, `deactivated`, `restored`.
    pub const fn name(self) -> &'static str {
        match self {
            ActivationStatus::Active => "active",
            ActivationStatus::Deactivated => "deactivated",
            ActivationStatus::Restored => "restored",
        }
    }

    /// Parses a lower-case name.
    pub fn from_name(s: &str) -> Option<Self> {
        [
            ActivationStatus::Active,
            ActivationStatus::Deactivated,
            ActivationStatus::Restored,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// One activation of a license: a host (identified by its device key) holding a seat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activation {
    /// The activation id, carried in the host's usage license and deactivation code.
    pub id: u64,
    /// The license.
    pub license_id: u64,
    /// The host's device public key.
    pub device_key: [u8; 32],
    /// The deployment model of its latest usage license.
    pub model: DeploymentModel,
    /// Whether it holds a seat.
    pub status: ActivationStatus,
    /// The fingerprint of its latest request.
    pub fingerprint: Vec<Component>,
    /// The product version of its latest request.
    pub product_version: String,
    /// The counter of its latest fulfilled request.
    pub last_counter: u32,
    /// When it was created (Unix seconds).
    pub created_at: u64,
    /// When a request for it was last fulfilled.
    pub last_fulfilled_at: u64,
    /// When its seat was freed, if it was.
    pub freed_at: Option<u64>,
    /// A rapid transfer: this seat was taken within
    /// [`crate::AuthorityConfig::rapid_transfer_secs`] after activation `n` of the same
    /// license was freed (the "deactivate, keep a copy, activate elsewhere" pattern).
    pub follows_activation: Option<u64>,
}

/// Whether a license may be used: the vendor suspends (reversibly) or revokes (for good).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LicenseStatus {
    /// Usable.
    Active,
    /// No usage license is issued (activation, refresh, offline fulfilment) until resumed.
    Suspended,
    /// No usage license is ever issued again.
    Revoked,
}

impl LicenseStatus {
    /// Lower-case name: `active`, `suspended`, `revoked`.
    pub const fn name(self) -> &'static str {
        match self {
            LicenseStatus::Active => "active",
            LicenseStatus::Suspended => "suspended",
            LicenseStatus::Revoked => "revoked",
        }
    }

    /// Parses a lower-case name.
    pub fn from_name(s: &str) -> Option<Self> {
        [
            LicenseStatus::Active,
            LicenseStatus::Suspended,
            LicenseStatus::Revoked,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// How often a license may move between devices: at most `max_transfers` seats freed
/// (deactivations and restores together) within any `period_secs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferPolicy {
    /// Transfers allowed per period; `None`: unlimited.
    pub max_transfers: Option<u32>,
    /// The sliding period, in seconds.
    pub period_secs: u64,
}

impl TransferPolicy {
    /// The default: 4 transfers per 365 days.
    pub const DEFAULT: TransferPolicy = TransferPolicy {
        max_transfers: Some(4),
        period_secs: 365 * 86_400,
    };
}

impl Default for TransferPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A license as the ledger holds it: its current revision and its seat usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenseRecord {
    /// The license id.
    pub id: u64,
    /// The current revision's grant (its `revision` field is the current revision).
    pub grant: Grant,
    /// The current revision, signed and armored (`TGLC:…`).
    pub armored: String,
    /// The key that signed the current revision.
    pub key_id: KeyId,
    /// When the current revision was signed.
    pub revised_at: u64,
    /// When the license was first issued.
    pub created_at: u64,
    /// Activations holding a seat now.
    pub active_activations: u64,
    /// Activations ever made, including freed ones.
    pub total_activations: u64,
    /// Suspended or revoked by the vendor?
    pub status: LicenseStatus,
    /// Its transfer policy.
    pub transfers: TransferPolicy,
    /// Activations that were rapid transfers ([`Activation::follows_activation`]).
    pub rapid_transfers: u64,
}

/// One entry of the audit log. Never holds a secret.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    /// Sequential id.
    pub id: u64,
    /// When it happened (the `now` passed by the caller).
    pub at: u64,
    /// Who did it (see [`crate::Authority::set_actor`]).
    pub actor: String,
    /// What happened, e.g. `license.issued`, `activation.created`, `activation.restored`.
    pub action: String,
    /// The license concerned, if any.
    pub license_id: Option<u64>,
    /// The activation concerned, if any.
    pub activation_id: Option<u64>,
    /// Details, as a JSON object.
    pub detail: serde_json::Value,
}
