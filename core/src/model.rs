//! The entitlement model shared by licenses and usage licenses.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest product id, product version or customer reference, in bytes.
pub const MAX_TEXT: usize = 64;
/// Longest feature name, in bytes.
pub const MAX_FEATURE_NAME: usize = 32;
/// Most features one license may carry.
pub const MAX_FEATURES: usize = 32;
/// The latest time a vendor signs into any artifact: 9999-12-31T23:59:59Z (Unix seconds).
///
/// The wire formats carry any `u64`, and hosts accept any validly signed time (SPEC.md §1):
/// this is the vendor's limit, so that every time it issues is representable in every binding
/// (RFC 3339's four-digit years, Python's `datetime`, whose `MAXYEAR` is 9999). The authority
/// refuses a later time with its code 332.
pub const MAX_VENDOR_TIME: u64 = 253_402_300_799;

/// How a host is licensed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeploymentModel {
    /// Activated against the vendor's online service; refreshed periodically.
    Online,
    /// Activated by a usage request / usage license round trip (air-gapped hosts).
    Offline,
    /// Leased from a self-hosted floating license server.
    Floating,
}

impl DeploymentModel {
    /// All models, in bit order.
    pub const ALL: [DeploymentModel; 3] = [
        DeploymentModel::Online,
        DeploymentModel::Offline,
        DeploymentModel::Floating,
    ];

    /// This model's bit in [`Models`].
    pub const fn bit(self) -> u8 {
        match self {
            DeploymentModel::Online => 1,
            DeploymentModel::Offline => 2,
            DeploymentModel::Floating => 4,
        }
    }

    /// Lower-case name: `online`, `offline`, `floating`.
    pub const fn name(self) -> &'static str {
        match self {
            DeploymentModel::Online => "online",
            DeploymentModel::Offline => "offline",
            DeploymentModel::Floating => "floating",
        }
    }

    /// Parses a lower-case name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// The set of deployment models a license allows, as bits (online = 1, offline = 2, floating = 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Models(pub u8);

impl Models {
    /// Whether `m` is allowed.
    pub const fn allows(self, m: DeploymentModel) -> bool {
        self.0 & m.bit() != 0
    }

    /// The set holding exactly these models.
    pub fn of(models: &[DeploymentModel]) -> Self {
        Models(models.iter().fold(0, |acc, m| acc | m.bit()))
    }

    /// The allowed models, in bit order.
    pub fn iter(self) -> impl Iterator<Item = DeploymentModel> {
        DeploymentModel::ALL
            .into_iter()
            .filter(move |m| self.allows(*m))
    }
}

/// The accounting period of a metered feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MeterPeriod {
    /// A UTC calendar day.
    Day,
    /// A UTC calendar month.
    Month,
    /// A UTC calendar year.
    Year,
}

impl MeterPeriod {
    /// Lower-case name: `day`, `month`, `year`.
    pub const fn name(self) -> &'static str {
        match self {
            MeterPeriod::Day => "day",
            MeterPeriod::Month => "month",
            MeterPeriod::Year => "year",
        }
    }

    /// Parses a lower-case name.
    pub fn from_name(s: &str) -> Option<Self> {
        [MeterPeriod::Day, MeterPeriod::Month, MeterPeriod::Year]
            .into_iter()
            .find(|m| m.name() == s)
    }
}

/// What kind of right a feature grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FeatureKind {
    /// Bought once, never expires (e.g. "MQTT Server").
    Perpetual,
    /// Valid until `expires_at` (Unix seconds, exclusive), e.g. a year of "Support".
    Subscription {
        /// First second at which the feature is no longer active.
        expires_at: u64,
    },
    /// Usage-based with a quota per period, e.g. "IoT Bridge for Snowflake".
    Metered {
        /// Units allowed per period.
        quota: u64,
        /// The accounting period.
        period: MeterPeriod,
    },
}

/// One feature of a license.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Feature {
    /// Feature name: 1–32 bytes of `a-z 0-9 . _ -`.
    pub name: String,
    /// What the feature grants.
    pub kind: FeatureKind,
}

impl Feature {
    /// Whether this feature is active at `now` (metered features are active; their quota is
    /// enforced by whoever counts usage).
    #[inline]
    pub fn active_at(&self, now: u64) -> bool {
        match self.kind {
            FeatureKind::Subscription { expires_at } => now < expires_at,
            FeatureKind::Perpetual | FeatureKind::Metered { .. } => true,
        }
    }

    /// The expiry of a subscription feature.
    pub fn expires_at(&self) -> Option<u64> {
        match self.kind {
            FeatureKind::Subscription { expires_at } => Some(expires_at),
            _ => None,
        }
    }
}

/// What a customer bought: the part of a license that a usage license repeats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The license id.
    pub license_id: u64,
    /// Increases each time the vendor upgrades the license.
    pub revision: u32,
    /// The product id, e.g. `chariot`.
    pub product: String,
    /// The vendor's reference for the customer.
    pub customer: String,
    /// The features, with unique names.
    pub features: Vec<Feature>,
    /// The deployment models this license may be used with.
    pub models: Models,
    /// Maximum simultaneous node-locked activations (online and offline).
    pub max_activations: u32,
    /// Concurrent seats for the floating model.
    pub floating_seats: u32,
    /// Start of validity (Unix seconds, inclusive).
    pub not_before: Option<u64>,
    /// End of validity (Unix seconds, exclusive).
    pub not_after: Option<u64>,
    /// How many fingerprint components must match (k of n).
    pub fingerprint_threshold: u8,
    /// The longest term a floating license server may lend a feature set for when a client
    /// borrows it (to go offline), in seconds; 0: no borrowing. See [`crate::Lease`].
    ///
    /// `#[serde(default)]` only matters to self-describing formats (a vendor's ledger keeps
    /// grants as JSON): the wire format always carries the field.
    #[serde(default)]
    pub max_borrow_secs: u32,
    /// How far, in seconds, a host's clock may go back (below the latest time the host has
    /// seen) before the host runtime reports a clock rollback. Signed security policy: the
    /// host runtime reads it from here, not from a host setting the customer controls.
    /// Vendors without a policy of their own use [`Grant::DEFAULT_ROLLBACK_TOLERANCE_SECS`].
    #[serde(default = "default_rollback_tolerance")]
    pub rollback_tolerance_secs: u32,
    /// The offline refresh period in seconds; 0: none. When set, the vendor puts
    /// `refresh_deadline = issued_at + offline_refresh_secs` on every offline and floating
    /// usage license it issues, so that a restored copy of a deactivated host stops working at
    /// that deadline while an honest host renews with a new round trip.
    #[serde(default)]
    pub offline_refresh_secs: u32,
}

fn default_rollback_tolerance() -> u32 {
    Grant::DEFAULT_ROLLBACK_TOLERANCE_SECS
}

pub(crate) fn check_text(s: &str, max: usize) -> Result<()> {
    if s.is_empty() || s.len() > max || s.chars().any(char::is_control) {
        return Err(Error::LimitExceeded);
    }
    Ok(())
}

/// Checks a feature name: 1–32 bytes of `a-z 0-9 . _ -`.
pub fn check_feature_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_FEATURE_NAME
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return Err(Error::LimitExceeded);
    }
    Ok(())
}

impl Grant {
    /// The rollback tolerance of grants whose vendor sets no policy of its own: one hour.
    pub const DEFAULT_ROLLBACK_TOLERANCE_SECS: u32 = 3600;

    /// Checks every format limit. Encoders call it before signing and decoders after decoding
    /// (where a failure is reported as [`Error::Malformed`]).
    pub fn validate(&self) -> Result<()> {
        check_text(&self.product, MAX_TEXT)?;
        check_text(&self.customer, MAX_TEXT)?;
        if self.features.len() > MAX_FEATURES || self.models.0 & !7 != 0 || self.models.0 == 0 {
            return Err(Error::LimitExceeded);
        }
        for (i, f) in self.features.iter().enumerate() {
            check_feature_name(&f.name)?;
            if self
                .features
                .iter()
                .skip(i + 1)
                .any(|other| other.name == f.name)
            {
                return Err(Error::LimitExceeded);
            }
        }
        if let (Some(a), Some(b)) = (self.not_before, self.not_after) {
            if a >= b {
                return Err(Error::LimitExceeded);
            }
        }
        Ok(())
    }

    /// The feature with this name.
    #[inline]
    pub fn feature(&self, name: &str) -> Option<&Feature> {
        self.features.iter().find(|f| f.name == name)
    }
}
