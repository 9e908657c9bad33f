//! The [`LicenseManager`]: the one object a host application (and every binding) talks to.

use std::cmp::Ordering;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tollgate_core::{
    DeactivationClaims, DeactivationCode, Entitlement, Error as CoreError, FeatureKind,
    Fingerprint, KeyId, Keyring, LicenseKey, MeterPeriod, RequestClaims, UsageLicense,
    UsageRequest, UsageTerms, Verifier,
};

use crate::clock::{Clock, SystemClock};
use crate::error::{Result, SdkError};
use crate::fingerprint::{self, FingerprintConfig, FingerprintReport, FingerprintSource};
use crate::gate::FeatureGate;
use crate::state::{DeviceState, InstalledLicense, MeterState, PendingRequest, Seed, State};
use crate::storage::{DirStorage, Storage};
use crate::time::{format_utc, period_bounds};

/// Default for [`HostConfig::rollback_tolerance_secs`]: one hour.
pub const DEFAULT_ROLLBACK_TOLERANCE_SECS: u64 = 3600;
/// Default for [`HostConfig::warn_days`].
pub const DEFAULT_WARN_DAYS: u32 = 30;

const DAY: u64 = 86_400;

/// What the host application tells the runtime about itself. The vendor ships these values
/// inside the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// The product id, e.g. `chariot`; usage licenses for other products are refused.
    pub product: String,
    /// The product's version, sent in usage requests, e.g. `4.2.0`.
    pub product_version: String,
    /// The product's fingerprint salt: every component digest is keyed by it, so two products
    /// on the same machine see unrelated fingerprints. Not secret, but fixed for the product's
    /// lifetime (changing it changes every fingerprint).
    pub fingerprint_salt: Vec<u8>,
    /// The vendor's ed25519 verifying keys (several during a key rotation).
    pub vendor_keys: Vec<[u8; 32]>,
    /// How far the clock may go back before the runtime reports a rollback.
    pub rollback_tolerance_secs: u64,
    /// How many days before a subscription ends the status starts warning.
    pub warn_days: u32,
    /// How the fingerprint is built (used by [`LicenseManager::open`]).
    pub fingerprint: FingerprintConfig,
}

impl HostConfig {
    /// A configuration with the default tolerance, warning period and fingerprint probes.
    pub fn new(
        product: impl Into<String>,
        product_version: impl Into<String>,
        fingerprint_salt: impl Into<Vec<u8>>,
        vendor_keys: Vec<[u8; 32]>,
    ) -> Self {
        HostConfig {
            product: product.into(),
            product_version: product_version.into(),
            fingerprint_salt: fingerprint_salt.into(),
            vendor_keys,
            rollback_tolerance_secs: DEFAULT_ROLLBACK_TOLERANCE_SECS,
            warn_days: DEFAULT_WARN_DAYS,
            fingerprint: FingerprintConfig::default(),
        }
    }

    /// Reads the host configuration file a vendor ships with its product (written by
    /// `tollgate vendor host-config`):
    ///
    /// ```json
    /// {
    ///   "product": "chariot",
    ///   "product_version": "4.2.0",
    ///   "fingerprint_salt": "chariot/fingerprint/2026",
    ///   "vendor_keys": ["<64 hex digits>", "…"],
    ///   "rollback_tolerance_secs": 3600,
    ///   "warn_days": 30
    /// }
    /// ```
    ///
    /// The salt is taken as its UTF-8 bytes; the last two fields are optional (defaults
    /// [`DEFAULT_ROLLBACK_TOLERANCE_SECS`], [`DEFAULT_WARN_DAYS`]); unknown fields are ignored.
    /// The fingerprint uses the default probes: adjust [`HostConfig::fingerprint`] after.
    ///
    /// Fails with [`SdkError::InvalidArgument`] when the text is not such a document or a
    /// vendor key is not 64 hex digits.
    ///
    /// ```
    /// let cfg = tollgate_sdk::HostConfig::from_json(r#"{"product": "chariot",
    ///     "product_version": "4.2.0", "fingerprint_salt": "s",
    ///     "vendor_keys": ["8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"]}"#)?;
    /// assert_eq!(cfg.vendor_keys[0][0], 0x8a);
    /// # Ok::<(), tollgate_sdk::SdkError>(())
    /// ```
    pub fn from_json(text: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct File {
            product: String,
            product_version: String,
            fingerprint_salt: String,
            vendor_keys: Vec<String>,
            #[serde(default)]
            rollback_tolerance_secs: Option<u64>,
            #[serde(default)]
            warn_days: Option<u32>,
        }
        let f: File = serde_json::from_str(text)
            .map_err(|e| SdkError::invalid(format!("not a Tollgate host configuration: {e}")))?;
        let keys = f
            .vendor_keys
            .iter()
            .map(|k| {
                let mut key = [0u8; 32];
                hex::decode_to_slice(k.trim(), &mut key)
                    .map(|()| key)
                    .map_err(|_| {
                        SdkError::invalid(format!("vendor key `{k}` is not 64 hex digits"))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut cfg = HostConfig::new(
            f.product,
            f.product_version,
            f.fingerprint_salt.into_bytes(),
            keys,
        );
        if let Some(t) = f.rollback_tolerance_secs {
            cfg.rollback_tolerance_secs = t;
        }
        if let Some(d) = f.warn_days {
            cfg.warn_days = d;
        }
        Ok(cfg)
    }

    /// Checks the configuration and builds its verifier.
    pub(crate) fn verifier(&self) -> Result<Verifier> {
        if self.product.is_empty() || self.product_version.is_empty() {
            return Err(SdkError::invalid(
                "product and product version must not be empty",
            ));
        }
        if self.fingerprint_salt.is_empty() {
            return Err(SdkError::invalid("the fingerprint salt must not be empty"));
        }
        if self.vendor_keys.is_empty() {
            return Err(SdkError::invalid("at least one vendor key is needed"));
        }
        let keyring = Keyring::from_keys(self.vendor_keys.iter())?;
        Ok(Verifier::new(&self.product, keyring))
    }

    /// The fingerprint source [`HostConfig::fingerprint`] describes.
    pub(crate) fn source(&self) -> Box<dyn FingerprintSource> {
        self.fingerprint.clone().into_source(&self.fingerprint_salt)
    }
}

/// Verifies a usage license for this host without any state: what a support tool or an
/// installer does before installing it. The host's fingerprint is probed as `config` says;
/// the license must be signed by one of its vendor keys, be for its product, match the host's
/// fingerprint and be valid at `now` (Unix seconds).
///
/// Returns what a status page shows about it (no meter counts, no installation time). Fails
/// with a configuration error ([`SdkError::InvalidArgument`], `Core(BadPublicKey)`),
/// [`SdkError::Fingerprint`], or the core's verdict as [`SdkError::Core`].
pub fn verify_usage_license(config: &HostConfig, armored: &str, now: u64) -> Result<LicenseInfo> {
    let verifier = config.verifier()?;
    let host = fingerprint::compute(&*config.source(), &config.fingerprint_salt)?;
    let ent = verifier.verify(armored, &host, now)?;
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

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------

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
    /// `online`, `offline` or `floating`.
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

// ---------------------------------------------------------------------------------------------
// The manager
// ---------------------------------------------------------------------------------------------

/// The installed usage license as last evaluated.
struct Installed {
    /// The decoded license, when its signature verifies.
    license: Option<UsageLicense>,
    /// Set when everything but time checks out; time is checked on every call.
    entitlement: Option<Entitlement>,
    /// Why there is no entitlement.
    problem: Option<SdkError>,
}

fn tombstoned(state: &State, terms: &UsageTerms) -> bool {
    state.tombstones.activations.contains(&terms.activation_id)
        || state.tombstones.device_keys.contains(&terms.device_key)
}

/// Checks the installed license in `state` against everything but time (verified at a time
/// inside its window), so that the cached entitlement stays right as time passes.
fn evaluate(verifier: &Verifier, state: &State, host: &Result<Fingerprint>) -> Option<Installed> {
    let armored = &state.installed.as_ref()?.usage_license;
    let license = match UsageLicense::from_armor(armored, verifier.keyring()) {
        Ok(l) => l,
        Err(e) => {
            return Some(Installed {
                license: None,
                entitlement: None,
                problem: Some(e.into()),
            })
        }
    };
    let checked = (|| -> Result<Entitlement> {
        let terms = license.terms();
        let host = host.as_ref().map_err(Clone::clone)?;
        let ent = verifier.verify_bytes_untimed(license.as_bytes(), host)?;
        if !ent.fingerprint_match().ok() {
            return Err(CoreError::FingerprintMismatch.into());
        }
        if tombstoned(state, terms) {
            return Err(SdkError::Deactivated);
        }
        if state.device.as_ref().map(|d| d.public) != Some(terms.device_key) {
            return Err(SdkError::WrongDevice);
        }
        Ok(ent)
    })();
    let (entitlement, problem) = match checked {
        Ok(e) => (Some(e), None),
        Err(e) => (None, Some(e)),
    };
    Some(Installed {
        license: Some(license),
        entitlement,
        problem,
    })
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

/// Licensing for one product on one host: requests, installs, checks and deactivates usage
/// licenses, and keeps the state durable.
///
/// # Thread safety
///
/// `LicenseManager` is `Send + Sync`. Queries ([`LicenseManager::has_feature`],
/// [`LicenseManager::status`], …) take `&self` and may run concurrently; operations that change
/// the state take `&mut self`. Share it across threads behind an `RwLock` (the bindings do),
/// and give threads that check features on a hot path its [`LicenseManager::feature_gate`],
/// which answers without waiting for that lock.
///
/// # Durability
///
/// Every change is one atomic replacement of the state document: if a write fails or the
/// process dies, the previous state is intact, and the in-memory state is left unchanged by a
/// failed operation. [`LicenseManager::open`] locks the state directory for the lifetime of the
/// manager, so two processes cannot both use it.
pub struct LicenseManager {
    config: HostConfig,
    verifier: Verifier,
    storage: Box<dyn Storage>,
    clock: Arc<dyn Clock>,
    source: Box<dyn FingerprintSource>,
    state: State,
    stored: bool,
    host: Result<Fingerprint>,
    installed: Option<Installed>,
    /// Answers the feature checks; published to after every change.
    gate: Arc<FeatureGate>,
}

impl fmt::Debug for LicenseManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LicenseManager")
            .field("product", &self.config.product)
            .field("state", &self.status().state)
            .finish_non_exhaustive()
    }
}

impl LicenseManager {
    /// Opens the state in `state_dir` (created if needed, locked while the manager lives) with
    /// the system clock and the fingerprint configured in `config`.
    ///
    /// Fails with [`SdkError::StateLocked`], [`SdkError::Storage`],
    /// [`SdkError::CorruptState`], [`SdkError::UnsupportedStateVersion`] or a configuration
    /// error. A license that no longer verifies does not make it fail: [`LicenseManager::status`]
    /// says why.
    pub fn open(config: HostConfig, state_dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_clock(config, state_dir, Arc::new(SystemClock))
    }

    /// [`LicenseManager::open`] with another clock, e.g. a [`crate::CachedClock`] for hosts
    /// that check features on every request, or a [`crate::ManualClock`] in tests.
    pub fn open_with_clock(
        config: HostConfig,
        state_dir: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let storage = DirStorage::open(state_dir)?;
        let source = config.source();
        Self::with_parts(config, Box::new(storage), clock, source)
    }

    /// Opens with explicit storage, clock and fingerprint source (tests, embedded hosts, custom
    /// backends). `config.fingerprint` is not used: `source` is.
    pub fn with_parts(
        config: HostConfig,
        storage: Box<dyn Storage>,
        clock: Arc<dyn Clock>,
        source: Box<dyn FingerprintSource>,
    ) -> Result<Self> {
        let verifier = config.verifier()?;
        let loaded = State::load(&*storage)?;
        let stored = loaded.is_some();
        let state = loaded.unwrap_or_default();
        let host = fingerprint::compute(&*source, &config.fingerprint_salt);
        let now = clock.now();
        let installed = evaluate(&verifier, &state, &host);
        let gate = Arc::new(FeatureGate::new(
            Arc::clone(&clock),
            config.rollback_tolerance_secs,
        ));
        let mut m = LicenseManager {
            config,
            verifier,
            storage,
            clock,
            source,
            state,
            stored,
            host,
            installed,
            gate,
        };
        m.publish();
        m.advance_high_water(now)?;
        Ok(m)
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    // -- internals ----------------------------------------------------------------------------

    /// Publishes the current entitlement and high-water mark to the feature gate.
    fn publish(&self) {
        let entitlement = self.installed.as_ref().and_then(|i| i.entitlement.as_ref());
        self.gate.publish(entitlement, self.state.high_water);
    }

    /// The latest time seen: the state's mark, or a later clock reading by a feature check.
    fn high_water(&self) -> u64 {
        self.state.high_water.max(self.gate.high_water())
    }

    fn rollback(&self, now: u64) -> Option<SdkError> {
        let high_water = self.high_water();
        (now.saturating_add(self.config.rollback_tolerance_secs) < high_water)
            .then_some(SdkError::ClockRollback { now, high_water })
    }

    fn now_checked(&self) -> Result<u64> {
        let now = self.clock.now();
        match self.rollback(now) {
            Some(e) => Err(e),
            None => Ok(now),
        }
    }

    fn probe(&self) -> Result<Fingerprint> {
        fingerprint::compute(&*self.source, &self.config.fingerprint_salt)
    }

    /// Persists `next` and makes it current; on failure the current state stays. The installed
    /// license is re-evaluated when it, the device or the tombstones changed, or when
    /// `host_changed` says the host fingerprint was probed again.
    fn commit(&mut self, mut next: State, now: u64, host_changed: bool) -> Result<()> {
        next.high_water = next.high_water.max(now).max(self.gate.high_water());
        let saved = next.save(&*self.storage);
        if saved.is_ok() {
            let same_license = next.installed == self.state.installed
                && next.device == self.state.device
                && next.tombstones == self.state.tombstones;
            self.state = next;
            self.stored = true;
            if same_license && !host_changed {
                self.publish();
                return Ok(());
            }
        }
        self.installed = evaluate(&self.verifier, &self.state, &self.host);
        self.publish();
        saved
    }

    fn advance_high_water(&mut self, now: u64) -> Result<()> {
        if self.stored && now > self.state.high_water {
            self.commit(self.state.clone(), now, false)?;
        }
        Ok(())
    }

    fn active_entitlement(&self, now: u64) -> Result<&Entitlement> {
        if let Some(e) = self.rollback(now) {
            return Err(e);
        }
        let inst = self.installed.as_ref().ok_or(SdkError::NotActivated)?;
        if let Some(p) = &inst.problem {
            return Err(p.clone());
        }
        let ent = inst.entitlement.as_ref().ok_or(SdkError::NotActivated)?;
        ent.check_time(now)?;
        Ok(ent)
    }

    // -- the round trip -----------------------------------------------------------------------

    /// Makes a usage request for the license key `key` (as the customer typed it) and returns
    /// its armored text, to be sent to the vendor.
    ///
    /// The first request for a key creates this host's device key; later requests for the same
    /// key (an upgrade of the installed activation, or a retry) reuse it with a higher counter.
    /// Each request supersedes every earlier one: only a usage license answering the newest is
    /// accepted. An installed license stays in force until its replacement is installed.
    ///
    /// Fails with [`CoreError::KeyFormat`] / [`CoreError::KeyChecksum`] (typo) as
    /// [`SdkError::Core`], [`SdkError::AlreadyActivated`] when a license for another key is
    /// installed, [`SdkError::ClockRollback`], [`SdkError::Fingerprint`], [`SdkError::Entropy`]
    /// or [`SdkError::Storage`].
    pub fn request_usage(&mut self, key: &str) -> Result<String> {
        let key = LicenseKey::parse(key)?;
        let now = self.now_checked()?;
        let host = self.probe()?;
        let lookup = key.lookup_id();
        let mut next = self.state.clone();
        let same_key = next.device.as_ref().is_some_and(|d| d.key_lookup == lookup);
        if next.installed.is_some() && !same_key {
            return Err(SdkError::AlreadyActivated);
        }
        let device = match next.device.take() {
            Some(d) if same_key => d,
            _ => {
                let seed = Seed::random()?;
                let public = seed.device_key().public_key();
                DeviceState {
                    key_proof: key.auth_secret().proof(&public),
                    seed,
                    public,
                    key_lookup: lookup,
                    counter: 0,
                }
            }
        };
        self.sign_request(next, device, host, now)
    }

    /// Makes a new usage request for the activation this host already has, without the
    /// license key: for the offline upgrade round trip ("generate a new usage request, noting
    /// that this is an update to an existing offline license"). It reuses the device key, the
    /// key's lookup id and the key proof kept in the state (the key itself is never stored).
    ///
    /// Fails with [`SdkError::NotActivated`] when this host never made a request (or
    /// deactivated since), and otherwise like [`LicenseManager::request_usage`].
    pub fn request_renewal(&mut self) -> Result<String> {
        let now = self.now_checked()?;
        let host = self.probe()?;
        let mut next = self.state.clone();
        let device = next.device.take().ok_or(SdkError::NotActivated)?;
        self.sign_request(next, device, host, now)
    }

    /// Signs the next request of `device` into `next` and commits it.
    fn sign_request(
        &mut self,
        mut next: State,
        mut device: DeviceState,
        host: Fingerprint,
        now: u64,
    ) -> Result<String> {
        let counter = device
            .counter
            .checked_add(1)
            .ok_or_else(|| SdkError::invalid("the request counter is exhausted"))?;
        let claims = RequestClaims {
            key_lookup: device.key_lookup,
            key_proof: device.key_proof,
            product: self.config.product.clone(),
            product_version: self.config.product_version.clone(),
            counter,
            created_at: now,
            fingerprint: host.components().to_vec(),
        };
        let request = UsageRequest::sign(claims, &device.seed.device_key())?.to_armor();
        device.counter = counter;
        next.device = Some(device);
        next.pending = Some(PendingRequest {
            counter,
            created_at: now,
            request: request.clone(),
        });
        self.host = Ok(host);
        self.commit(next, now, true)?;
        Ok(request)
    }

    /// The installed usage license (whether or not it is usable now; see
    /// [`LicenseManager::status`]), when its signature verifies.
    pub fn installed_license(&self) -> Option<&UsageLicense> {
        self.installed.as_ref().and_then(|i| i.license.as_ref())
    }

    /// The armored text of the pending usage request, to show it again.
    pub fn pending_request(&self) -> Option<&str> {
        self.state.pending.as_ref().map(|p| p.request.as_str())
    }

    /// Installs a usage license from the vendor and returns the new status.
    ///
    /// In order, it fails with: [`SdkError::ClockRollback`]; [`SdkError::Fingerprint`]; the
    /// core's verdict as [`SdkError::Core`] (armor, checksum, version, key id, signature,
    /// product, validity at now, fingerprint match); [`SdkError::Deactivated`] for an
    /// activation deactivated here; [`SdkError::NoPendingRequest`] when this host made no
    /// request; [`SdkError::WrongDevice`] when it answers another installation's request;
    /// [`SdkError::SupersededRequest`] when it answers an older request than the newest one
    /// made (also the installed license itself once a newer request is pending);
    /// [`SdkError::NoPendingRequest`] again for another answer to the request whose answer is
    /// already installed; [`SdkError::UnknownRequest`] when it answers a request newer than any
    /// made from this state; [`SdkError::Storage`]. Installing the license that is already
    /// installed, with no newer request pending, succeeds and changes nothing. On any error the
    /// state is unchanged.
    pub fn install(&mut self, armored_usage_license: &str) -> Result<Status> {
        let now = self.now_checked()?;
        let host = self.probe()?;
        let license = UsageLicense::from_armor(armored_usage_license, self.verifier.keyring())?;
        let ent = self.verifier.verify_bytes(license.as_bytes(), &host, now)?;
        let terms = ent.terms();
        if tombstoned(&self.state, terms) {
            return Err(SdkError::Deactivated);
        }
        let canonical = license.to_armor();
        self.host = Ok(host);
        let newer_pending = self
            .state
            .pending
            .as_ref()
            .is_some_and(|p| p.counter > terms.request_counter);
        if !newer_pending
            && self
                .state
                .installed
                .as_ref()
                .is_some_and(|i| i.usage_license == canonical)
        {
            self.installed = evaluate(&self.verifier, &self.state, &self.host);
            self.publish();
            return Ok(self.status_at(now));
        }
        let device = self
            .state
            .device
            .as_ref()
            .ok_or(SdkError::NoPendingRequest)?;
        if device.public != terms.device_key {
            return Err(SdkError::WrongDevice);
        }
        let answered = terms.request_counter;
        match (answered.cmp(&device.counter), &self.state.pending) {
            (Ordering::Less, _) => {
                return Err(SdkError::SupersededRequest {
                    answered,
                    newest: device.counter,
                })
            }
            (Ordering::Greater, _) => {
                return Err(SdkError::UnknownRequest {
                    answered,
                    newest: device.counter,
                })
            }
            // Another answer to the request whose answer is already installed.
            (Ordering::Equal, None) => return Err(SdkError::NoPendingRequest),
            (Ordering::Equal, Some(_)) => {}
        }
        let mut next = self.state.clone();
        next.installed = Some(InstalledLicense {
            usage_license: canonical,
            installed_at: now,
        });
        next.pending = None;
        self.commit(next, now, true)?;
        Ok(self.status_at(now))
    }

    /// Deactivates the installed license and returns the armored deactivation code for the
    /// vendor, who frees the activation with it.
    ///
    /// The license is removed, its activation id is tombstoned (its usage license can never be
    /// installed here again) and the device key is retired (the next request makes a new one).
    /// The code is kept: [`LicenseManager::last_deactivation_code`] shows it again. Works also
    /// when the license has expired, the clock was set back or the hardware changed.
    ///
    /// Fails with [`SdkError::NotActivated`] when nothing is installed, with the reason when the
    /// installed license's signature no longer verifies, or [`SdkError::Storage`].
    pub fn deactivate(&mut self) -> Result<String> {
        let now = self.clock.now();
        let inst = self.installed.as_ref().ok_or(SdkError::NotActivated)?;
        let license = inst
            .license
            .as_ref()
            .ok_or_else(|| inst.problem.clone().unwrap_or(SdkError::NotActivated))?;
        let terms = license.terms();
        if tombstoned(&self.state, terms) {
            return Err(SdkError::Deactivated);
        }
        let device = self
            .state
            .device
            .as_ref()
            .filter(|d| d.public == terms.device_key)
            .ok_or(SdkError::WrongDevice)?;
        let code = DeactivationCode::create(
            DeactivationClaims {
                activation_id: terms.activation_id,
                license_id: terms.grant.license_id,
                counter: device.counter,
                deactivated_at: now,
            },
            &device.seed.device_key(),
        )?
        .to_armor();
        let mut next = self.state.clone();
        next.tombstones.activations.push(terms.activation_id);
        next.tombstones.device_keys.push(device.public);
        next.installed = None;
        next.pending = None;
        next.device = None;
        next.last_deactivation = Some(code.clone());
        // Under a clock rollback, keep the high-water mark where it is.
        let now = now.max(self.state.high_water);
        self.commit(next, now, true)?;
        Ok(code)
    }

    /// The armored code of the last deactivation on this host, to show it again.
    pub fn last_deactivation_code(&self) -> Option<&str> {
        self.state.last_deactivation.as_deref()
    }

    // -- checks -------------------------------------------------------------------------------

    /// Whether feature `name` is usable now: a license is installed and verified for this host,
    /// the clock was not set back, the license is within its validity and the feature exists
    /// and has not expired. No I/O, no allocation; safe to call on every request.
    ///
    /// Metered features are usable while the license is; their quota is enforced by
    /// [`LicenseManager::record_usage`].
    pub fn has_feature(&self, name: &str) -> bool {
        self.gate.has_feature(name)
    }

    /// [`LicenseManager::has_feature`] at time `now` (Unix seconds).
    pub fn has_feature_at(&self, name: &str, now: u64) -> bool {
        self.gate.has_feature_at(name, now)
    }

    /// This manager's feature checks as a [`FeatureGate`] that other threads can use without
    /// waiting for the manager (e.g. while it installs a license or writes its state behind a
    /// lock). It stays current as the manager changes, and answers exactly as
    /// [`LicenseManager::has_feature`].
    pub fn feature_gate(&self) -> Arc<FeatureGate> {
        Arc::clone(&self.gate)
    }

    /// `Ok` when a license is installed and active now; otherwise why not
    /// ([`SdkError::NotActivated`], [`SdkError::ClockRollback`], `Core(Expired)`, …).
    pub fn check(&self) -> Result<()> {
        self.active_entitlement(self.clock.now()).map(|_| ())
    }

    /// The verified entitlement of the installed license (fingerprint and signature checked;
    /// check time with [`Entitlement::check_time`] or use [`LicenseManager::has_feature`]).
    pub fn entitlement(&self) -> Option<&Entitlement> {
        self.installed.as_ref().and_then(|i| i.entitlement.as_ref())
    }

    /// The device key of this host's activation, for [`crate::floating::LeaseSigner`], which
    /// signs a floating license server's lease tokens with it. Never leaves the crate.
    pub(crate) fn device_key(&self) -> Option<tollgate_core::DeviceKey> {
        self.state.device.as_ref().map(|d| d.seed.device_key())
    }

    /// Probes the fingerprint again and re-verifies the installed license (e.g. after a
    /// hardware change or periodically), advances the clock high-water mark, and returns the
    /// status. Fails only when the high-water mark cannot be stored.
    pub fn refresh(&mut self) -> Result<Status> {
        let now = self.clock.now();
        self.host = self.probe();
        self.installed = evaluate(&self.verifier, &self.state, &self.host);
        self.publish();
        if self.rollback(now).is_none() {
            self.advance_high_water(now)?;
        }
        Ok(self.status_at(now))
    }

    /// The host's current fingerprint (as probed at open, or at the last request, install or
    /// refresh).
    pub fn fingerprint(&self) -> Result<&Fingerprint> {
        self.host.as_ref().map_err(Clone::clone)
    }

    /// The host's fingerprint components and how they match the installed license's (digests
    /// only), for support.
    pub fn fingerprint_report(&self) -> Result<FingerprintReport> {
        let host = self.fingerprint()?;
        let terms = self
            .installed
            .as_ref()
            .and_then(|i| i.license.as_ref())
            .map(|l| l.terms());
        Ok(FingerprintReport::new(
            host,
            terms.map(|t| t.fingerprint.as_slice()),
            terms.map_or(0, |t| t.grant.fingerprint_threshold),
        ))
    }

    // -- meters -------------------------------------------------------------------------------

    fn metered(&self, feature: &str, now: u64) -> Result<(u64, MeterPeriod)> {
        let ent = self.active_entitlement(now)?;
        let f = ent
            .grant()
            .feature(feature)
            .ok_or_else(|| SdkError::UnknownFeature {
                feature: feature.into(),
            })?;
        match f.kind {
            FeatureKind::Metered { quota, period } => Ok((quota, period)),
            _ => Err(SdkError::NotMetered {
                feature: feature.into(),
            }),
        }
    }

    fn meter_used(&self, feature: &str, period: MeterPeriod, start: u64) -> u64 {
        self.state
            .meters
            .iter()
            .find(|m| m.feature == feature && m.period == period.name() && m.period_start == start)
            .map_or(0, |m| m.used)
    }

    fn reading(
        feature: &str,
        period: MeterPeriod,
        now: u64,
        used: u64,
        quota: u64,
    ) -> MeterReading {
        let (period_start, period_end) = period_bounds(period, now);
        MeterReading {
            feature: feature.into(),
            period: period.name(),
            period_start,
            period_end,
            used,
            quota,
            remaining: quota.saturating_sub(used),
        }
    }

    /// Records `units` of use of the metered feature `feature` in the current UTC period and
    /// returns the new reading. The count is durable; a new period starts from zero.
    ///
    /// Fails, recording nothing, with [`SdkError::QuotaExceeded`] when the period's quota would
    /// be exceeded, [`SdkError::UnknownFeature`], [`SdkError::NotMetered`], the reason the
    /// license is not active ([`SdkError::NotActivated`], [`SdkError::ClockRollback`], …) or
    /// [`SdkError::Storage`].
    pub fn record_usage(&mut self, feature: &str, units: u64) -> Result<MeterReading> {
        let now = self.now_checked()?;
        let (quota, period) = self.metered(feature, now)?;
        let (start, _) = period_bounds(period, now);
        let used = self.meter_used(feature, period, start);
        let total = used
            .checked_add(units)
            .filter(|t| *t <= quota)
            .ok_or_else(|| SdkError::QuotaExceeded {
                feature: feature.into(),
                used,
                quota,
                requested: units,
            })?;
        let mut next = self.state.clone();
        next.meters.retain(|m| m.feature != feature);
        next.meters.push(MeterState {
            feature: feature.into(),
            period: period.name().into(),
            period_start: start,
            used: total,
        });
        self.commit(next, now, false)?;
        Ok(Self::reading(feature, period, now, total, quota))
    }

    /// The current reading of the metered feature `feature`, without recording anything.
    pub fn meter(&self, feature: &str) -> Result<MeterReading> {
        let now = self.clock.now();
        let (quota, period) = self.metered(feature, now)?;
        let (start, _) = period_bounds(period, now);
        let used = self.meter_used(feature, period, start);
        Ok(Self::reading(feature, period, now, used, quota))
    }

    // -- status -------------------------------------------------------------------------------

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
        license_info(
            license.terms(),
            license.key_id(),
            self.host.as_ref().ok(),
            now,
            &|name| self.has_feature_at(name, now),
            &|name, period, start| Some(self.meter_used(name, period, start)),
            self.state.installed.as_ref().map(|i| i.installed_at),
        )
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
    fn manager_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LicenseManager>();
        assert_send_sync::<Status>();
    }

    #[test]
    fn days_phrases() {
        assert_eq!(days_phrase(1), "1 day");
        assert_eq!(days_phrase(DAY), "1 day");
        assert_eq!(days_phrase(DAY + 1), "2 days");
    }
}
