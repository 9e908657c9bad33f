//! The status view: [`Status`] and what it is made of, built from the installed usage license,
//! the host's fingerprint, the clock and the meters.

use std::fmt;

use serde::Serialize;
use tollgate_core::{
    Error as CoreError, FeatureKind, Fingerprint, KeyId, MeterPeriod, UsageLicense, UsageTerms,
};

use crate::config::HostConfig;
use crate::error::{Result, SdkError};
use crate::fingerprint;
use crate::manager::LicenseManager;
use crate::time::{format_utc, period_bounds};

const DAY: u64 = 86_400;

/// Verifies a usage license for this host without any state: what a support tool or an
/// installer does before installing it. The host's fingerprint is probed as `config` says;
/// the license must be signed by a key its compiled-in vendor root certifies, be for its
/// product, match the host's fingerprint, be valid at `now` (Unix seconds) and be of a
/// deployment model its role accepts ([`SdkError::WrongModel`]).
///
/// Returns what a status page shows about it (no meter counts, no installation time). Fails
/// with a configuration error ([`SdkError::InvalidArgument`], `Core(BadPublicKey)`),
/// [`SdkError::Fingerprint`], or the core's verdict as [`SdkError::Core`].
pub fn verify_usage_license(config: &HostConfig, armored: &str, now: u64) -> Result<LicenseInfo> {
    let verifier = config.verifier()?;
    let host = fingerprint::compute(&*config.source()?, &config.fingerprint_salt)?;
    let ent = verifier.verify(armored, &host, now)?;
    config.role.check(ent.terms().model)?;
    Ok(license_info(
        ent.terms(),
        ent.key_id(),
        Some(&host),
        now,
        &|name| ent.has_feature(name, now),
        &|_, _, _| None,
        None,
    ))
}

/// The overall state of licensing on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseState {
    /// Nothing installed, nothing requested.
    Unlicensed,
    /// A usage request was made; its usage license has not been installed yet.
    Pending,
    /// A usage license is installed and valid now.
    Active,
    /// The installed license's validity has not started yet.
    NotYetValid,
    /// The installed license has expired.
    Expired,
    /// The installed online or floating activation was not refreshed in time.
    RefreshOverdue,
    /// The installed license is bound to a machine this host no longer resembles enough.
    FingerprintMismatch,
    /// The clock was set back; nothing is licensed until it is corrected.
    ClockRollback,
    /// The installed license cannot be used (bad signature, unknown vendor key, wrong product,
    /// another device, a deactivated activation); see [`Status::error`].
    Invalid,
}

impl LicenseState {
    /// The snake_case name used in JSON, e.g. `fingerprint_mismatch`.
    pub const fn name(self) -> &'static str {
        match self {
            LicenseState::Unlicensed => "unlicensed",
            LicenseState::Pending => "pending",
            LicenseState::Active => "active",
            LicenseState::NotYetValid => "not_yet_valid",
            LicenseState::Expired => "expired",
            LicenseState::RefreshOverdue => "refresh_overdue",
            LicenseState::FingerprintMismatch => "fingerprint_mismatch",
            LicenseState::ClockRollback => "clock_rollback",
            LicenseState::Invalid => "invalid",
        }
    }
}

impl fmt::Display for LicenseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the license is not active, in [`Status`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusError {
    /// The stable error code.
    pub code: u32,
    /// The code's name.
    pub name: &'static str,
    /// The full message.
    pub message: String,
}

impl From<&SdkError> for StatusError {
    fn from(e: &SdkError) -> Self {
        StatusError {
            code: e.code(),
            name: e.name(),
            message: e.to_string(),
        }
    }
}

/// One feature in [`LicenseInfo`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FeatureStatus {
    /// The feature's name.
    pub name: String,
    /// `perpetual`, `subscription` or `metered`.
    pub kind: &'static str,
    /// For subscriptions: when it ends (ISO-8601 UTC).
    pub expires_at: Option<String>,
    /// [`FeatureStatus::expires_at`] as Unix seconds: what bindings carry (not in the JSON).
    #[serde(skip)]
    pub expires_at_secs: Option<u64>,
    /// Whether [`LicenseManager::has_feature`] is true for it now.
    pub active: bool,
    /// For metered features: units per period.
    pub quota: Option<u64>,
    /// For metered features: `day`, `month` or `year`.
    pub period: Option<&'static str>,
    /// For metered features: units used in the current period.
    pub used: Option<u64>,
}

/// How the host's fingerprint matches the installed license.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FingerprintMatch {
    /// Licensed components present on this host.
    pub matched: usize,
    /// Components the license lists.
    pub licensed: usize,
    /// Components that must match.
    pub required: usize,
    /// Whether enough match.
    pub ok: bool,
}

/// [`LicenseInfo::deployment_model`] of a cloud marketplace instance.
pub const MARKETPLACE_MODEL: &str = "marketplace";
/// The times of a [`LicenseInfo`] as Unix seconds, exactly as signed: bindings carry these
/// rather than parse the ISO-8601 text back (a validly signed time may lie beyond what a
/// binding's date type or a four-digit year can hold; SPEC.md §1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LicenseTimes {
    /// [`LicenseInfo::issued_at`].
    pub issued_at: u64,
    /// [`LicenseInfo::installed_at`].
    pub installed_at: Option<u64>,
    /// [`LicenseInfo::valid_from`].
    pub valid_from: Option<u64>,
    /// [`LicenseInfo::valid_until`].
    pub valid_until: Option<u64>,
    /// [`LicenseInfo::refresh_deadline`].
    pub refresh_deadline: Option<u64>,
}

/// The installed usage license, in [`Status`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LicenseInfo {
    /// The license id (quote it to the vendor).
    pub license_id: u64,
    /// The vendor's reference for the customer.
    pub customer: String,
    /// The product.
    pub product: String,
    /// The license revision fulfilled.
    pub revision: u32,
    /// The activation (seat) id.
    pub activation_id: u64,
    /// `online`, `offline`, `floating`, or `marketplace` (an online activation of a cloud
    /// marketplace instance, made from its signed identity: [`crate::marketplace`]).
    pub deployment_model: &'static str,
    /// When the vendor issued the usage license.
    pub issued_at: String,
    /// When it was installed here.
    pub installed_at: Option<String>,
    /// Start of validity, if bounded.
    pub valid_from: Option<String>,
    /// End of validity (the earlier of expiry and refresh deadline), if bounded.
    pub valid_until: Option<String>,
    /// For online and floating activations: refresh before this time.
    pub refresh_deadline: Option<String>,
    /// The same times as Unix seconds: what bindings carry (not in the JSON).
    #[serde(skip)]
    pub times: LicenseTimes,
    /// The features.
    pub features: Vec<FeatureStatus>,
    /// The fingerprint match.
    pub fingerprint: FingerprintMatch,
    /// The id of the vendor key that signed it.
    pub vendor_key_id: String,
}

/// What a status page shows. Serializes to the JSON of [`LicenseManager::status_json`]; all
/// times are ISO-8601 UTC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The overall state.
    pub state: LicenseState,
    /// The configured product.
    pub product: String,
    /// The configured product version.
    pub product_version: String,
    /// When this status was computed.
    pub checked_at: String,
    /// [`Status::checked_at`] as Unix seconds (not in the JSON).
    #[serde(skip)]
    pub checked_at_secs: u64,
    /// Whether a usage request is waiting for its usage license (also during an upgrade of an
    /// active license).
    pub pending_request: bool,
    /// The installed license, when one is installed and its signature verifies.
    pub license: Option<LicenseInfo>,
    /// Things the operator should act on, e.g. `support expires in 12 days, on …`.
    pub warnings: Vec<String>,
    /// Why the state is not `active` (absent when active, unlicensed or pending).
    pub error: Option<StatusError>,
}

/// A metered feature's usage in its current period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MeterReading {
    /// The feature.
    pub feature: String,
    /// `day`, `month` or `year` (UTC calendar periods).
    pub period: &'static str,
    /// First second of the current period (Unix seconds).
    pub period_start: u64,
    /// First second of the next period (Unix seconds).
    pub period_end: u64,
    /// Units used in the current period.
    pub used: u64,
    /// Units allowed per period.
    pub quota: u64,
    /// Units left in the current period.
    pub remaining: u64,
}

fn days_phrase(secs: u64) -> String {
    let days = secs.div_ceil(DAY);
    if days == 1 {
        "1 day".into()
    } else {
        format!("{days} days")
    }
}

/// What a status page shows about the usage license with `terms`, signed by `key_id`, for the
/// host `host` (`None`: its fingerprint could not be read) at `now`. `active` says whether a
/// feature is usable; `used` gives a metered feature's count for the period starting at the
/// given second.
fn license_info(
    terms: &UsageTerms,
    key_id: KeyId,
    host: Option<&Fingerprint>,
    now: u64,
    active: &dyn Fn(&str) -> bool,
    used: &dyn Fn(&str, MeterPeriod, u64) -> Option<u64>,
    installed_at: Option<u64>,
) -> LicenseInfo {
    let g = &terms.grant;
    let (from, until) = terms.validity();
    let detail = match host {
        Some(host) => host.match_against(&terms.fingerprint, g.fingerprint_threshold),
        None => Fingerprint::default().match_against(&terms.fingerprint, g.fingerprint_threshold),
    };
    let features = g
        .features
        .iter()
        .map(|f| {
            let mut fs = FeatureStatus {
                name: f.name.clone(),
                kind: "perpetual",
                expires_at: None,
                expires_at_secs: None,
                active: active(&f.name),
                quota: None,
                period: None,
                used: None,
            };
            match f.kind {
                FeatureKind::Perpetual => {}
                FeatureKind::Subscription { expires_at } => {
                    fs.kind = "subscription";
                    fs.expires_at = Some(format_utc(expires_at));
                    fs.expires_at_secs = Some(expires_at);
                }
                FeatureKind::Metered { quota, period } => {
                    fs.kind = "metered";
                    fs.quota = Some(quota);
                    fs.period = Some(period.name());
                    let (start, _) = period_bounds(period, now);
                    fs.used = used(&f.name, period, start);
                }
            }
            fs
        })
        .collect();
    let times = LicenseTimes {
        issued_at: terms.issued_at,
        installed_at,
        valid_from: (from > 0).then_some(from),
        valid_until: (until < u64::MAX).then_some(until),
        refresh_deadline: terms.refresh_deadline,
    };
    LicenseInfo {
        license_id: g.license_id,
        customer: g.customer.clone(),
        product: g.product.clone(),
        revision: g.revision,
        activation_id: terms.activation_id,
        deployment_model: terms.model.name(),
        issued_at: format_utc(terms.issued_at),
        installed_at: installed_at.map(format_utc),
        valid_from: (from > 0).then(|| format_utc(from)),
        valid_until: (until < u64::MAX).then(|| format_utc(until)),
        refresh_deadline: terms.refresh_deadline.map(format_utc),
        times,
        features,
        fingerprint: FingerprintMatch {
            matched: detail.matched,
            licensed: detail.licensed,
            required: detail.required,
            ok: detail.ok(),
        },
        vendor_key_id: key_id.to_hex(),
    }
}

impl LicenseManager {
    /// The status now.
    pub fn status(&self) -> Status {
        self.status_at(self.clock.now())
    }

    /// The status now, as pretty-printed JSON (the shape of [`Status`]).
    pub fn status_json(&self) -> String {
        serde_json::to_string_pretty(&self.status()).unwrap_or_default()
    }

    /// The status at time `now`.
    pub fn status_at(&self, now: u64) -> Status {
        let mut status = Status {
            state: LicenseState::Unlicensed,
            product: self.config.product.clone(),
            product_version: self.config.product_version.clone(),
            checked_at: format_utc(now),
            checked_at_secs: now,
            pending_request: self.state.pending.is_some(),
            license: None,
            warnings: Vec::new(),
            error: None,
        };
        let Some(inst) = &self.installed else {
            if let Some(e) = self.rollback(now) {
                status.state = LicenseState::ClockRollback;
                status.error = Some((&e).into());
            } else if status.pending_request {
                status.state = LicenseState::Pending;
            }
            return status;
        };
        let (state, error) = if let Some(e) = self.rollback(now) {
            (LicenseState::ClockRollback, Some(e))
        } else if let Some(p) = &inst.problem {
            let state = match p {
                SdkError::Core(CoreError::FingerprintMismatch) | SdkError::Fingerprint { .. } => {
                    LicenseState::FingerprintMismatch
                }
                _ => LicenseState::Invalid,
            };
            (state, Some(p.clone()))
        } else {
            match inst
                .license
                .as_ref()
                .and_then(|l| l.terms().check_time(now).err())
            {
                Some(CoreError::NotYetValid) => (
                    LicenseState::NotYetValid,
                    Some(CoreError::NotYetValid.into()),
                ),
                Some(CoreError::RefreshOverdue) => (
                    LicenseState::RefreshOverdue,
                    Some(CoreError::RefreshOverdue.into()),
                ),
                Some(e) => (LicenseState::Expired, Some(e.into())),
                None => (LicenseState::Active, None),
            }
        };
        status.state = state;
        status.error = error.as_ref().map(Into::into);
        if let Some(license) = &inst.license {
            let info = self.license_info(license, now);
            status.warnings = self.warnings(license.terms(), &info, now);
            status.license = Some(info);
        }
        status
    }

    fn license_info(&self, license: &UsageLicense, now: u64) -> LicenseInfo {
        let mut info = license_info(
            license.terms(),
            license.key_id(),
            self.host.as_ref().ok(),
            now,
            &|name| self.has_feature_at(name, now),
            &|name, period, start| Some(self.meter_used(name, period, start)),
            self.state.installed.as_ref().map(|i| i.installed_at),
        );
        // An online activation made without a license key is a cloud marketplace instance's
        // (`crate::marketplace`).
        let keyless = self
            .state
            .device
            .as_ref()
            .is_some_and(|d| d.key_lookup == [0; 8] && d.key_proof == [0; 16]);
        if keyless && license.terms().model == tollgate_core::DeploymentModel::Online {
            info.deployment_model = MARKETPLACE_MODEL;
        }
        info
    }

    fn warnings(&self, terms: &UsageTerms, info: &LicenseInfo, now: u64) -> Vec<String> {
        let horizon = u64::from(self.config.warn_days).saturating_mul(DAY);
        let mut out = Vec::new();
        for f in &terms.grant.features {
            if let Some(exp) = f.expires_at() {
                if now >= exp {
                    out.push(format!("{} expired on {}", f.name, format_utc(exp)));
                } else if exp - now <= horizon {
                    out.push(format!(
                        "{} expires in {}, on {}",
                        f.name,
                        days_phrase(exp - now),
                        format_utc(exp)
                    ));
                }
            }
        }
        if let Some(end) = terms.grant.not_after {
            if now < end && end - now <= horizon {
                out.push(format!(
                    "the license expires in {}, on {}",
                    days_phrase(end - now),
                    format_utc(end)
                ));
            }
        }
        let fp = info.fingerprint;
        if fp.ok && fp.matched < fp.licensed {
            out.push(format!(
                "{} of {} fingerprint components changed since activation; the license needs {} \
                 to match",
                fp.licensed - fp.matched,
                fp.licensed,
                fp.required
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_phrases() {
        assert_eq!(days_phrase(1), "1 day");
        assert_eq!(days_phrase(DAY), "1 day");
        assert_eq!(days_phrase(DAY + 1), "2 days");
    }
}
