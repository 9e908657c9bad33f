//! The [`LicenseManager`]: the one object a host application (and every binding) talks to.

use std::cmp::Ordering;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tollgate_core::{
    DeactivationClaims, DeactivationCode, Entitlement, Error as CoreError, Fingerprint, LicenseKey,
    RequestClaims, UsageLicense, UsageRequest, UsageTerms, Verifier,
};

use crate::clock::{Clock, SystemClock};
use crate::error::{Result, SdkError};
use crate::events::ChangeSignal;
use crate::fingerprint::{self, FingerprintReport, FingerprintSource};
use crate::gate::FeatureGate;
use crate::state::{DeviceState, InstalledLicense, PendingRequest, Seed, State};
use crate::storage::{DirStorage, Storage};

pub use crate::config::{HostConfig, DEFAULT_ROLLBACK_TOLERANCE_SECS, DEFAULT_WARN_DAYS};
pub use crate::status::{
    verify_usage_license, FeatureStatus, FingerprintMatch, LicenseInfo, LicenseState, MeterReading,
    Status, StatusError,
};

// ---------------------------------------------------------------------------------------------
// The manager
// ---------------------------------------------------------------------------------------------

/// The installed usage license as last evaluated.
pub(crate) struct Installed {
    /// The decoded license, when its signature verifies.
    pub(crate) license: Option<UsageLicense>,
    /// Set when everything but time checks out; time is checked on every call.
    pub(crate) entitlement: Option<Entitlement>,
    /// Why there is no entitlement.
    pub(crate) problem: Option<SdkError>,
}

/// The pending request and device before an online call's usage request.
pub(crate) struct RequestMark {
    pending: Option<PendingRequest>,
    device: Option<DeviceState>,
}

/// The rollback tolerance the vendor signed into a usage license's grant.
pub(crate) fn grant_tolerance(terms: &UsageTerms) -> u64 {
    u64::from(terms.grant.rollback_tolerance_secs)
}

/// Decodes a usage license and checks its signer through the verifier's root of trust.
pub(crate) fn decode_license(verifier: &Verifier, armored: &str) -> Result<UsageLicense> {
    Ok(match verifier.trust_store() {
        Some(store) => UsageLicense::from_armor_trusted(armored, store)?,
        None => UsageLicense::from_armor(armored, verifier.keyring())?,
    })
}

fn tombstoned(state: &State, terms: &UsageTerms) -> bool {
    state.tombstones.activations.contains(&terms.activation_id)
        || state.tombstones.device_keys.contains(&terms.device_key)
}

/// Checks the installed license in `state` against everything but time (verified at a time
/// inside its window), so that the cached entitlement stays right as time passes.
///
/// `decoded` is the installed license when the caller has just decoded it through `verifier`
/// (install): it is used as it is, so installing checks the signature once.
fn evaluate(
    config: &HostConfig,
    verifier: &Verifier,
    state: &State,
    host: &Result<Fingerprint>,
    decoded: Option<UsageLicense>,
) -> Option<Installed> {
    let armored = &state.installed.as_ref()?.usage_license;
    let decoded = decoded.filter(|l| l.to_armor() == *armored);
    let license = match decoded.map_or_else(|| decode_license(verifier, armored), Ok) {
        Ok(l) => l,
        Err(e) => {
            return Some(Installed {
                license: None,
                entitlement: None,
                problem: Some(e),
            })
        }
    };
    let checked = (|| -> Result<Entitlement> {
        let terms = license.terms();
        config.role.check(terms.model)?;
        let host = host.as_ref().map_err(Clone::clone)?;
        // `license` was decoded (signature checked) through `verifier` just above or by install.
        let ent = verifier.verify_decoded_untimed(license.clone(), host)?;
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
    pub(crate) config: HostConfig,
    pub(crate) verifier: Verifier,
    pub(crate) storage: Box<dyn Storage>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) source: Box<dyn FingerprintSource>,
    pub(crate) state: State,
    pub(crate) stored: bool,
    pub(crate) host: Result<Fingerprint>,
    pub(crate) installed: Option<Installed>,
    /// Answers the feature checks; published to after every change.
    pub(crate) gate: Arc<FeatureGate>,
    /// Wakes the [`crate::events::StatusWatch`]es after every change.
    pub(crate) changes: Arc<ChangeSignal>,
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
        let source = config.source()?;
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
        let mut verifier = config.verifier()?;
        let loaded = State::load(&*storage)?;
        let stored = loaded.is_some();
        let mut state = loaded.unwrap_or_default();
        let key_list_changed = Self::merge_key_lists(&mut verifier, &mut state);
        let host = fingerprint::compute(&*source, &config.fingerprint_salt);
        let now = clock.now();
        let installed = evaluate(&config, &verifier, &state, &host, None);
        let gate = Arc::new(FeatureGate::new(
            Arc::clone(&clock),
            DEFAULT_ROLLBACK_TOLERANCE_SECS,
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
            changes: Arc::new(ChangeSignal::default()),
        };
        m.publish();
        if key_list_changed && m.stored {
            m.commit(m.state.clone(), now, false)?;
        }
        m.advance_high_water(now)?;
        Ok(m)
    }

    /// Applies the key list kept in the state over the configuration's (the higher sequence
    /// wins; a damaged or foreign one in the state is ignored) and keeps the winner in the
    /// state. Returns whether the state changed.
    fn merge_key_lists(verifier: &mut Verifier, state: &mut State) -> bool {
        let Some(store) = verifier.trust_store_mut() else {
            return false;
        };
        if let Some(kept) = &state.key_list {
            // A lower sequence than the configuration's is stale; anything else that fails
            // was not signed by the root: either way the configuration's list stands.
            let _ = store.apply_key_list_armor(kept);
        }
        let Some(list) = store.key_list() else {
            return false;
        };
        let armored = list.to_armor();
        if state.key_list.as_deref() == Some(armored.as_str()) {
            return false;
        }
        state.signed_time = state.signed_time.max(list.issued_at());
        state.key_list = Some(armored);
        true
    }

    /// Applies a root-signed key list (`TGKL:…`, from the vendor: a file, the online
    /// service's answer) that retires compromised signing keys, keeps it in the state and
    /// re-verifies the installed license (a license signed by a retired key stops working).
    /// Returns its sequence. The same list again changes nothing.
    ///
    /// Fails with the core's verdict as [`SdkError::Core`]: armor errors, `UnknownKeyId` /
    /// `BadSignature` for a list the compiled-in root did not sign, `WrongProduct`,
    /// `StaleKeyList` for a lower sequence than the one this host holds (kept in its state,
    /// so it survives restarts); or [`SdkError::Storage`]. On any error nothing changes.
    pub fn apply_key_list(&mut self, armored: &str) -> Result<u64> {
        let now = self.clock.now();
        let mut verifier = self.verifier.clone();
        let store = verifier
            .trust_store_mut()
            .ok_or_else(|| SdkError::invalid("this manager has no root of trust"))?;
        let sequence = store.apply_key_list_armor(armored)?;
        let mut next = self.state.clone();
        if !Self::merge_key_lists(&mut verifier, &mut next) {
            return Ok(sequence);
        }
        let previous = std::mem::replace(&mut self.verifier, verifier);
        // Under a clock rollback, keep the high-water mark where it is.
        let now = now.max(self.state.high_water);
        if let Err(e) = self.commit(next, now, true) {
            self.verifier = previous;
            self.installed = evaluate(&self.config, &self.verifier, &self.state, &self.host, None);
            self.publish();
            return Err(e);
        }
        Ok(sequence)
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    // -- internals ----------------------------------------------------------------------------

    /// Publishes the current entitlement, time floor and tolerance to the feature gate.
    pub(crate) fn publish(&self) {
        let entitlement = self.installed.as_ref().and_then(|i| i.entitlement.as_ref());
        self.gate
            .publish(entitlement, self.time_floor(), self.rollback_tolerance());
        self.changes.notify();
    }

    /// What wakes this manager's [`crate::events::StatusWatch`]es: notified after every
    /// change of its state.
    pub fn change_signal(&self) -> Arc<ChangeSignal> {
        Arc::clone(&self.changes)
    }

    /// The rollback tolerance in force: the installed usage license's signed grant's, else
    /// [`DEFAULT_ROLLBACK_TOLERANCE_SECS`] (before any license is installed).
    pub fn rollback_tolerance(&self) -> u64 {
        self.installed_license()
            .map_or(DEFAULT_ROLLBACK_TOLERANCE_SECS, |l| {
                grant_tolerance(l.terms())
            })
    }

    /// The earliest time this host accepts, before the tolerance: the latest of the clock
    /// high-water mark, the latest signed time seen (kept in the state) and the installed
    /// usage license's `issued_at` (which no edit of the state can lower).
    pub fn time_floor(&self) -> u64 {
        let issued = self.installed_license().map_or(0, |l| l.terms().issued_at);
        self.high_water().max(self.state.signed_time).max(issued)
    }

    /// The latest time seen: the state's mark, or a later clock reading by a feature check.
    fn high_water(&self) -> u64 {
        self.state.high_water.max(self.gate.high_water())
    }

    pub(crate) fn rollback(&self, now: u64) -> Option<SdkError> {
        let floor = self.time_floor();
        (now.saturating_add(self.rollback_tolerance()) < floor).then_some(SdkError::ClockRollback {
            now,
            high_water: floor,
        })
    }

    pub(crate) fn now_checked(&self) -> Result<u64> {
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
    pub(crate) fn commit(&mut self, next: State, now: u64, host_changed: bool) -> Result<()> {
        self.commit_decoded(next, now, host_changed, None)
    }

    /// [`LicenseManager::commit`] with the license `next` installs, already decoded through
    /// the verifier (see [`evaluate`]).
    fn commit_decoded(
        &mut self,
        mut next: State,
        now: u64,
        host_changed: bool,
        decoded: Option<UsageLicense>,
    ) -> Result<()> {
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
        self.installed = evaluate(
            &self.config,
            &self.verifier,
            &self.state,
            &self.host,
            decoded,
        );
        self.publish();
        saved
    }

    fn advance_high_water(&mut self, now: u64) -> Result<()> {
        if self.stored && now > self.state.high_water {
            self.commit(self.state.clone(), now, false)?;
        }
        Ok(())
    }

    pub(crate) fn active_entitlement(&self, now: u64) -> Result<&Entitlement> {
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
    /// It works also while the clock reads earlier than the host's time floor (a request
    /// carries no trust): after a clock that ran ahead is corrected, the usage license that
    /// answers a new request resets the floor ([`LicenseManager::install`]).
    ///
    /// Fails with [`CoreError::KeyFormat`] / [`CoreError::KeyChecksum`] (typo) as
    /// [`SdkError::Core`], [`SdkError::AlreadyActivated`] when a license for another key is
    /// installed, [`SdkError::Fingerprint`], [`SdkError::TooFewComponents`] when the
    /// fingerprint has fewer distinct component kinds than [`HostConfig::min_components`],
    /// [`SdkError::Entropy`] or [`SdkError::Storage`].
    pub fn request_usage(&mut self, key: &str) -> Result<String> {
        let key = LicenseKey::parse(key)?;
        // Allowed while the clock reads earlier than the time floor: a request carries no
        // trust, and its answer is how a clock that ran ahead is corrected (see `install`).
        let now = self.clock.now();
        let host = self.probe()?;
        let lookup = key.lookup_id();
        let mut next = self.state.clone();
        // What accrued goes with this request (and is signed by the key that used it).
        crate::usage::cut_all(&mut next, now)?;
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
        let now = self.clock.now();
        let host = self.probe()?;
        let mut next = self.state.clone();
        crate::usage::cut_all(&mut next, now)?;
        let device = next.device.take().ok_or(SdkError::NotActivated)?;
        self.sign_request(next, device, host, now)
    }

    /// Makes a usage request that carries no license key (an all-zero key lookup id and key
    /// proof), for a cloud marketplace activation ([`crate::marketplace`]): the entitlement is
    /// the cloud's signed instance identity sent beside it. Reuses this host's device key when
    /// it has one, else makes a new one.
    ///
    /// Fails with [`SdkError::AlreadyActivated`] when a keyed license is installed, and
    /// otherwise like [`LicenseManager::request_usage`].
    pub fn request_marketplace(&mut self) -> Result<String> {
        let now = self.clock.now();
        let host = self.probe()?;
        let mut next = self.state.clone();
        crate::usage::cut_all(&mut next, now)?;
        let keyless = next
            .device
            .as_ref()
            .is_some_and(|d| d.key_lookup == [0; 8] && d.key_proof == [0; 16]);
        if next.installed.is_some() && !keyless {
            return Err(SdkError::AlreadyActivated);
        }
        let device = match next.device.take() {
            Some(d) if keyless => d,
            _ => {
                let seed = Seed::random()?;
                let public = seed.device_key().public_key();
                DeviceState {
                    key_proof: [0; 16],
                    seed,
                    public,
                    key_lookup: [0; 8],
                    counter: 0,
                }
            }
        };
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
        let mut kinds: Vec<_> = host.components().iter().map(|c| c.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        if kinds.len() < self.config.min_components {
            return Err(SdkError::TooFewComponents {
                found: kinds.len(),
                required: self.config.min_components,
            });
        }
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
    /// # Time
    ///
    /// The host never accepts a time earlier than its time floor
    /// ([`LicenseManager::time_floor`]: the clock high-water mark, the latest signed time seen
    /// and the installed license's `issued_at`) less the rollback tolerance of the installed
    /// grant ([`LicenseManager::rollback_tolerance`]). One exception repairs a clock that ran
    /// ahead and was corrected: a NEW usage license answering the pending request (made after
    /// the correction) is installed even though the clock reads earlier than the old
    /// high-water mark, provided the clock is not earlier than the license's own `issued_at`
    /// (less its tolerance): the vendor's signed time witnesses the real time, and the
    /// high-water mark is reset to the later of now and the signed times.
    ///
    /// # Errors
    ///
    /// In order, it fails with: [`SdkError::Fingerprint`]; the core's verdict as
    /// [`SdkError::Core`] (armor, checksum, version, key id, signature, product, validity at
    /// now, fingerprint match); [`SdkError::WrongModel`] for a usage license whose deployment
    /// model does not fit [`HostConfig::role`] (an ordinary host refuses a floating server's);
    /// [`SdkError::Deactivated`] for an
    /// activation deactivated here; [`SdkError::NoPendingRequest`] when this host made no
    /// request; [`SdkError::WrongDevice`] when it answers another installation's request;
    /// [`SdkError::SupersededRequest`] when it answers an older request than the newest one
    /// made (also the installed license itself once a newer request is pending);
    /// [`SdkError::NoPendingRequest`] again for another answer to the request whose answer is
    /// already installed; [`SdkError::UnknownRequest`] when it answers a request newer than any
    /// made from this state; [`SdkError::ClockRollback`] when the clock reads earlier than the
    /// time floor (for the license already installed) or than the new license's signed time;
    /// [`SdkError::Storage`]. Installing the license that is already installed, with no newer
    /// request pending, succeeds and changes nothing. On any error the state is unchanged.
    pub fn install(&mut self, armored_usage_license: &str) -> Result<Status> {
        let now = self.clock.now();
        let rollback = self.rollback(now);
        let host = self.probe()?;
        // The one signature check of an install: `license` is handed on, not decoded again.
        let license = decode_license(&self.verifier, armored_usage_license)?;
        let ent = self.verifier.verify_decoded(license.clone(), &host, now)?;
        let terms = ent.terms();
        self.config.role.check(terms.model)?;
        if tombstoned(&self.state, terms) {
            return Err(SdkError::Deactivated);
        }
        let canonical = license.to_armor();
        // Nothing of `self` changes before the last check has passed: not even the probed
        // fingerprint, which a failed install must not leave behind.
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
            if let Some(e) = rollback {
                return Err(e);
            }
            self.host = Ok(host);
            self.installed = evaluate(
                &self.config,
                &self.verifier,
                &self.state,
                &self.host,
                Some(license),
            );
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
        // The vendor's signed time is the witness of the real time: the host's clock must not
        // read earlier than it (less the new grant's tolerance). A clock that ran ahead and
        // was corrected passes this check, and the time floor comes back down to the later of
        // now and the signed times: the high-water mark it left behind is reset.
        let signed = self.state.signed_time.max(terms.issued_at);
        if now.saturating_add(grant_tolerance(terms)) < signed {
            return Err(SdkError::ClockRollback {
                now,
                high_water: signed,
            });
        }
        let mut next = self.state.clone();
        next.installed = Some(InstalledLicense {
            usage_license: canonical,
            installed_at: now,
        });
        next.pending = None;
        next.signed_time = signed;
        let old_high_water = self.gate.high_water();
        if rollback.is_some() {
            next.high_water = now.max(signed);
            self.gate.reset_high_water(next.high_water);
        }
        let old_host = std::mem::replace(&mut self.host, Ok(host));
        if let Err(e) = self.commit_decoded(next, now, true, Some(license)) {
            // Not stored: put back what the attempt changed in memory.
            self.host = old_host;
            self.gate
                .reset_high_water(old_high_water.max(self.gate.high_water()));
            self.installed = evaluate(&self.config, &self.verifier, &self.state, &self.host, None);
            self.publish();
            return Err(e);
        }
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
        // The usage accrued so far is cut and signed while the device key exists; the journal
        // goes to the vendor with the code.
        crate::usage::cut_all(&mut next, now)?;
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

    /// What the next usage request changes, so that an online call can undo it (see
    /// [`LicenseManager::undo_request`]).
    pub(crate) fn request_mark(&self) -> RequestMark {
        RequestMark {
            pending: self.state.pending.clone(),
            device: self.state.device.clone(),
        }
    }

    /// Whether `request` is the pending usage request.
    pub(crate) fn is_pending(&self, request: &str) -> bool {
        self.state
            .pending
            .as_ref()
            .is_some_and(|p| p.request == request)
    }

    /// Undoes the usage request `request` made after `mark` was taken, when it is still the
    /// pending one (otherwise something else changed the state since, and that stays): the
    /// pending request and the device are as they were. A device key made for the request is
    /// kept (invisible in the status) when there was none before, so that trying again reuses
    /// it and never takes a second seat for a request the service answered but whose answer
    /// was lost.
    pub(crate) fn undo_request(&mut self, mark: &RequestMark, request: &str) -> Result<()> {
        if !self.is_pending(request) {
            return Ok(());
        }
        let mut next = self.state.clone();
        next.pending = mark.pending.clone();
        if mark.device.is_some() {
            next.device = mark.device.clone();
        }
        let now = self.clock.now().max(self.state.high_water);
        self.commit(next, now, false)
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
    /// Metered features are usable while the license is, also when their quota for the period
    /// is used up (true): the check says whether the feature is licensed, and the quota is
    /// enforced only by [`LicenseManager::record_usage`] ([`SdkError::QuotaExceeded`], 208).
    /// Read what is left with [`LicenseManager::meter`]. The C and Java bindings answer the
    /// same.
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
        self.installed = evaluate(&self.config, &self.verifier, &self.state, &self.host, None);
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
}
