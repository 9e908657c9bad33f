//! The JSON bodies of the API (see `openapi.json`). Times are Unix seconds; binary values
//! are lower-case hex; artifacts are their armored text.

use serde::{Deserialize, Serialize};
use tollgate_authority::{
    Activation, AuditEntry, Extension, Freed, Fulfilled, LicenseRecord, NewExpiry, SigningKeyInfo,
    UpgradeSpec,
};
use tollgate_core::{hex_string, DeploymentModel, Feature, FeatureKind, MeterPeriod, Models};

use tollgate_service_kit::ApiError;

pub use tollgate_protocol::online::{DeactivationIn, FreedOut, UsageLicenseOut, UsageRequestIn};

/// The protocol's answer for a fulfilled request.
pub fn usage_license_out(f: Fulfilled) -> UsageLicenseOut {
    UsageLicenseOut {
        usage_license: f.usage_license,
        license_id: f.license_id,
        activation_id: f.activation_id,
        revision: f.revision,
        new_activation: f.new_activation,
        repeated: f.repeated,
        refresh_deadline: f.refresh_deadline,
    }
}

/// The protocol's answer for a freed seat.
pub fn freed_out(f: Freed) -> FreedOut {
    FreedOut {
        license_id: f.license_id,
        activation_id: f.activation_id,
    }
}

/// A feature: `{"name": "support", "kind": "subscription", "expires_at": 1767225600}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDto {
    /// 1–32 bytes of `a-z 0-9 . _ -`.
    pub name: String,
    /// `perpetual`, `subscription` or `metered`.
    pub kind: String,
    /// Subscriptions: when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Metered: units per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<u64>,
    /// Metered: `day`, `month` or `year`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
}

impl FeatureDto {
    /// The core feature, or why this is not one.
    pub fn to_feature(&self) -> Result<Feature, ApiError> {
        let kind = match (
            self.kind.as_str(),
            self.expires_at,
            self.quota,
            &self.period,
        ) {
            ("perpetual", None, None, None) => FeatureKind::Perpetual,
            ("subscription", Some(expires_at), None, None) => {
                FeatureKind::Subscription { expires_at }
            }
            ("metered", None, Some(quota), Some(p)) => FeatureKind::Metered {
                quota,
                period: MeterPeriod::from_name(p).ok_or_else(|| {
                    ApiError::bad_request(format!("feature `{}`: unknown period `{p}`", self.name))
                })?,
            },
            _ => {
                return Err(ApiError::bad_request(format!(
                    "feature `{}`: a perpetual feature has no other field, a subscription has \
                     expires_at, a metered feature has quota and period",
                    self.name
                )))
            }
        };
        Ok(Feature {
            name: self.name.clone(),
            kind,
        })
    }

    /// The DTO of a core feature.
    pub fn of(f: &Feature) -> Self {
        let mut d = FeatureDto {
            name: f.name.clone(),
            kind: "perpetual".into(),
            expires_at: None,
            quota: None,
            period: None,
        };
        match f.kind {
            FeatureKind::Perpetual => {}
            FeatureKind::Subscription { expires_at } => {
                d.kind = "subscription".into();
                d.expires_at = Some(expires_at);
            }
            FeatureKind::Metered { quota, period } => {
                d.kind = "metered".into();
                d.quota = Some(quota);
                d.period = Some(period.name().into());
            }
        }
        d
    }
}

/// Parses model names (`online`, `offline`, `floating`).
pub fn parse_models(names: &[String]) -> Result<Models, ApiError> {
    let models = names
        .iter()
        .map(|n| {
            DeploymentModel::from_name(n)
                .ok_or_else(|| ApiError::bad_request(format!("unknown deployment model `{n}`")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Models::of(&models))
}

fn model_names(m: Models) -> Vec<&'static str> {
    m.iter().map(DeploymentModel::name).collect()
}

/// The body of `POST /v1/admin/licenses`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueIn {
    /// Product id.
    pub product: String,
    /// The vendor's customer reference.
    pub customer: String,
    /// Features.
    #[serde(default)]
    pub features: Vec<FeatureDto>,
    /// Deployment models; default online and offline.
    pub models: Option<Vec<String>>,
    /// Seats; default 1.
    pub max_activations: Option<u32>,
    /// Floating seats; default 0.
    pub floating_seats: Option<u32>,
    /// Start of validity.
    pub not_before: Option<u64>,
    /// End of validity.
    pub not_after: Option<u64>,
    /// Fingerprint components that must match; default 3.
    pub fingerprint_threshold: Option<u8>,
    /// Offline refresh period in seconds (signed in the grant); default 0 (none).
    pub offline_refresh_secs: Option<u32>,
    /// The host's clock rollback tolerance in seconds (signed in the grant); default 3600.
    pub rollback_tolerance_secs: Option<u32>,
    /// Transfers (deactivations and restores) per period; default 4.
    pub max_transfers: Option<u32>,
    /// The transfer period in seconds; default 365 days.
    pub transfer_period_secs: Option<u64>,
}

/// A newly issued license.
#[derive(Debug, Serialize, Deserialize)]
pub struct IssuedOut {
    /// The license id.
    pub license_id: u64,
    /// The license key for the customer: shown once, never stored by the service.
    pub key: String,
    /// The signed license (`TGLC:…`).
    pub license: String,
}

/// An extension of one subscription.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendIn {
    /// The subscription feature.
    pub feature: String,
    /// New expiry (Unix seconds) …
    pub to: Option<u64>,
    /// … or seconds to add to the current expiry (from now if it lapsed).
    pub by_secs: Option<u64>,
}

/// The body of `POST /v1/admin/licenses/{id}/upgrade`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeIn {
    /// Features to add (a subscription given again with a later expiry extends it).
    #[serde(default)]
    pub add_features: Vec<FeatureDto>,
    /// Subscriptions to extend.
    #[serde(default)]
    pub extend: Vec<ExtendIn>,
    /// New seat count.
    pub max_activations: Option<u32>,
    /// New floating seat count.
    pub floating_seats: Option<u32>,
    /// New deployment models.
    pub models: Option<Vec<String>>,
    /// New end of validity.
    pub not_after: Option<u64>,
    /// Remove the end of validity.
    #[serde(default)]
    pub clear_not_after: bool,
    /// New customer reference.
    pub customer: Option<String>,
    /// New fingerprint threshold.
    pub fingerprint_threshold: Option<u8>,
}

impl UpgradeIn {
    /// The authority's upgrade spec.
    pub fn to_spec(&self) -> Result<UpgradeSpec, ApiError> {
        let not_after = match (self.not_after, self.clear_not_after) {
            (Some(_), true) => {
                return Err(ApiError::bad_request(
                    "give not_after or clear_not_after, not both",
                ))
            }
            (Some(t), false) => Some(Some(t)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        Ok(UpgradeSpec {
            add_features: self
                .add_features
                .iter()
                .map(FeatureDto::to_feature)
                .collect::<Result<_, _>>()?,
            extend: self
                .extend
                .iter()
                .map(|e| {
                    let to = match (e.to, e.by_secs) {
                        (Some(t), None) => NewExpiry::At(t),
                        (None, Some(s)) => NewExpiry::By(s),
                        _ => {
                            return Err(ApiError::bad_request(format!(
                                "extend `{}`: give exactly one of to, by_secs",
                                e.feature
                            )))
                        }
                    };
                    Ok(Extension {
                        feature: e.feature.clone(),
                        to,
                    })
                })
                .collect::<Result<_, _>>()?,
            max_activations: self.max_activations,
            floating_seats: self.floating_seats,
            models: self.models.as_deref().map(parse_models).transpose()?,
            not_after,
            customer: self.customer.clone(),
            fingerprint_threshold: self.fingerprint_threshold,
            ..UpgradeSpec::default()
        })
    }
}

/// A license revision after an upgrade.
#[derive(Debug, Serialize, Deserialize)]
pub struct UpgradedOut {
    /// The license id.
    pub license_id: u64,
    /// The new revision.
    pub revision: u32,
    /// The signed license (`TGLC:…`).
    pub license: String,
}

/// `POST /v1/admin/lookup`: a license key a customer quoted (never stored or logged).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupIn {
    /// The license key.
    pub key: String,
}

impl std::fmt::Debug for LookupIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LookupIn { key: <redacted> }")
    }
}

/// The body of `POST /v1/admin/licenses/{id}/activations/{activation_id}/restore`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreIn {
    /// Why the seat is freed (recorded in the audit log).
    pub reason: String,
    /// Who frees it (recorded in the audit log).
    pub operator: String,
}

/// Body of `POST /v1/admin/licenses/{id}/suspend|resume|revoke`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusIn {
    /// Why (recorded in the audit log).
    pub reason: String,
}

/// A license's new status.
#[derive(Debug, Serialize, Deserialize)]
pub struct StatusOut {
    /// The license id.
    pub license_id: u64,
    /// `active`, `suspended` or `revoked`.
    pub status: String,
}

/// `GET /v1/keys/{product}`: what hosts of a product may learn about signing keys. Each item
/// counts on a host only when the root compiled into it verifies it.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrustOut {
    /// The product.
    pub product: String,
    /// Root-signed certificates (`TGKC:…`) of the signing keys not retired.
    pub key_certificates: Vec<String>,
    /// The current root-signed key list (`TGKL:…`), if a key was ever retired.
    pub key_list: Option<String>,
}

/// A license as the ledger holds it.
#[derive(Debug, Serialize, Deserialize)]
pub struct LicenseOut {
    /// The license id.
    pub id: u64,
    /// Product id.
    pub product: String,
    /// Customer reference.
    pub customer: String,
    /// Current revision.
    pub revision: u32,
    /// Features.
    pub features: Vec<FeatureDto>,
    /// Deployment models.
    pub models: Vec<String>,
    /// Seats.
    pub max_activations: u32,
    /// Floating seats.
    pub floating_seats: u32,
    /// Start of validity.
    pub not_before: Option<u64>,
    /// End of validity.
    pub not_after: Option<u64>,
    /// Fingerprint threshold.
    pub fingerprint_threshold: u8,
    /// Seats in use.
    pub active_activations: u64,
    /// Activations ever made.
    pub total_activations: u64,
    /// When first issued.
    pub created_at: u64,
    /// When the current revision was signed.
    pub revised_at: u64,
    /// The current revision, signed (`TGLC:…`).
    pub license: String,
    /// The key that signed it.
    pub key_id: String,
    /// `active`, `suspended` or `revoked`.
    #[serde(default)]
    pub status: String,
    /// Offline refresh period in seconds (0: none).
    #[serde(default)]
    pub offline_refresh_secs: u32,
    /// Transfers (deactivations and restores) allowed per period; `None`: unlimited.
    #[serde(default)]
    pub max_transfers: Option<u32>,
    /// The transfer period, in seconds.
    #[serde(default)]
    pub transfer_period_secs: u64,
    /// Activations that were rapid transfers (a new seat soon after a freed one).
    #[serde(default)]
    pub rapid_transfers: u64,
    /// The activations (only in `GET /v1/admin/licenses/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activations: Option<Vec<ActivationOut>>,
}

impl From<LicenseRecord> for LicenseOut {
    fn from(r: LicenseRecord) -> Self {
        let g = r.grant;
        LicenseOut {
            id: r.id,
            product: g.product,
            customer: g.customer,
            revision: g.revision,
            features: g.features.iter().map(FeatureDto::of).collect(),
            models: model_names(g.models)
                .into_iter()
                .map(String::from)
                .collect(),
            max_activations: g.max_activations,
            floating_seats: g.floating_seats,
            not_before: g.not_before,
            not_after: g.not_after,
            fingerprint_threshold: g.fingerprint_threshold,
            active_activations: r.active_activations,
            total_activations: r.total_activations,
            created_at: r.created_at,
            revised_at: r.revised_at,
            license: r.armored,
            key_id: r.key_id.to_hex(),
            status: r.status.name().into(),
            offline_refresh_secs: g.offline_refresh_secs,
            max_transfers: r.transfers.max_transfers,
            transfer_period_secs: r.transfers.period_secs,
            rapid_transfers: r.rapid_transfers,
            activations: None,
        }
    }
}

/// An activation (seat).
#[derive(Debug, Serialize, Deserialize)]
pub struct ActivationOut {
    /// The activation id.
    pub id: u64,
    /// `active`, `deactivated` or `restored`.
    pub status: String,
    /// `online`, `offline` or `floating`.
    pub model: String,
    /// The host's device public key.
    pub device_key: String,
    /// The host's product version.
    pub product_version: String,
    /// Counter of the last request answered.
    pub last_counter: u32,
    /// When activated.
    pub created_at: u64,
    /// When last fulfilled (activated or refreshed).
    pub last_fulfilled_at: u64,
    /// When its seat was freed.
    pub freed_at: Option<u64>,
    /// A rapid transfer: the freed activation this seat followed within minutes.
    #[serde(default)]
    pub rapid_transfer_after: Option<u64>,
}

impl From<Activation> for ActivationOut {
    fn from(a: Activation) -> Self {
        ActivationOut {
            id: a.id,
            status: a.status.name().into(),
            model: a.model.name().into(),
            device_key: hex_string(&a.device_key),
            product_version: a.product_version,
            last_counter: a.last_counter,
            created_at: a.created_at,
            last_fulfilled_at: a.last_fulfilled_at,
            freed_at: a.freed_at,
            rapid_transfer_after: a.follows_activation,
        }
    }
}

/// An audit log entry.
#[derive(Debug, Serialize, Deserialize)]
pub struct AuditOut {
    /// Sequential id.
    pub id: u64,
    /// When.
    pub at: u64,
    /// Who.
    pub actor: String,
    /// What, e.g. `activation.created`.
    pub action: String,
    /// The license concerned.
    pub license_id: Option<u64>,
    /// The activation concerned.
    pub activation_id: Option<u64>,
    /// Details.
    pub detail: serde_json::Value,
}

impl From<AuditEntry> for AuditOut {
    fn from(e: AuditEntry) -> Self {
        AuditOut {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            license_id: e.license_id,
            activation_id: e.activation_id,
            detail: e.detail,
        }
    }
}

/// A vendor public key, for host configurations.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyOut {
    /// Key id.
    pub key_id: String,
    /// ed25519 public key.
    pub public_key: String,
    /// `active` or `retired`.
    pub status: String,
    /// When created.
    pub created_at: u64,
}

impl From<SigningKeyInfo> for KeyOut {
    fn from(k: SigningKeyInfo) -> Self {
        KeyOut {
            key_id: k.key_id.to_hex(),
            public_key: k.public_key_hex(),
            status: k.status.name().into(),
            created_at: k.created_at,
        }
    }
}

/// `GET /healthz`.
#[derive(Debug, Serialize, Deserialize)]
pub struct HealthOut {
    /// `ok`.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The ledger's schema version.
    pub schema_version: u32,
}
