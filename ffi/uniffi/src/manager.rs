//! The exported [`LicenseManager`] object, and [`ManualClock`] for tests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tollgate_sdk::online::{CallScope, SharedManager};
use tollgate_sdk::{Clock, FeatureGate, SdkError};

use crate::error::{invalid, TollgateError};
use crate::types::{HostConfig, MeterReading, Status};

/// Licensing for one product on one host, over a state directory: the offline usage request →
/// usage license round trip, the status page, feature checks, meters and deactivation.
///
/// # Thread safety
///
/// One object may be shared by any number of threads. Queries (`status`, `meter`, …) take a
/// read lock and run concurrently; operations that change the state (`request_usage`,
/// `install`, `record_usage`, `deactivate`, …) take the write lock and run one at a time.
/// Online calls ([`crate::online::OnlineClient`]) hold no lock while the service answers.
/// `has_feature` takes no lock at all: it never waits for a change in progress.
///
/// # Lifetime
///
/// The state directory is locked against other processes while the manager is open. The lock
/// is released when the object is destroyed (Kotlin `close()`/`use {}`, Python garbage
/// collection) or at once with [`LicenseManager::release`].
#[derive(uniffi::Object)]
pub struct LicenseManager {
    inner: RwLock<Option<tollgate_sdk::LicenseManager>>,
    gate: Arc<FeatureGate>,
    released: AtomicBool,
    /// The online calls in flight, cancelled by [`LicenseManager::release`].
    pub(crate) calls: CallScope,
}

impl std::fmt::Debug for LicenseManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LicenseManager")
            .field("released", &self.released.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn released() -> TollgateError {
    invalid("the license manager was released")
}

impl LicenseManager {
    fn new(m: tollgate_sdk::LicenseManager) -> Arc<Self> {
        Arc::new(LicenseManager {
            gate: m.feature_gate(),
            inner: RwLock::new(Some(m)),
            released: AtomicBool::new(false),
            calls: CallScope::new(),
        })
    }

    // A panic inside the runtime cannot leave its state half-changed (every change is one
    // commit), so a poisoned lock is still safe to use.
    fn read_lock(&self) -> RwLockReadGuard<'_, Option<tollgate_sdk::LicenseManager>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_lock(&self) -> RwLockWriteGuard<'_, Option<tollgate_sdk::LicenseManager>> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&tollgate_sdk::LicenseManager) -> Result<T, SdkError>,
    ) -> Result<T, TollgateError> {
        let guard = self.read_lock();
        let m = guard.as_ref().ok_or_else(released)?;
        Ok(f(m)?)
    }

    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut tollgate_sdk::LicenseManager) -> Result<T, SdkError>,
    ) -> Result<T, TollgateError> {
        let mut guard = self.write_lock();
        let m = guard.as_mut().ok_or_else(released)?;
        Ok(f(m)?)
    }
}

/// The online client's lock-free entry points (`activate_shared`, …) lock the manager only to
/// make the request and to install the answer; a released manager ends them with
/// [`SdkError::Cancelled`].
impl SharedManager for LicenseManager {
    fn with_manager<T>(
        &self,
        f: impl FnOnce(&mut tollgate_sdk::LicenseManager) -> Result<T, SdkError>,
    ) -> Result<T, SdkError> {
        match self.write_lock().as_mut() {
            Some(m) => f(m),
            None => Err(SdkError::Cancelled {
                reason: "the license manager was released".into(),
            }),
        }
    }
}

#[uniffi::export]
impl LicenseManager {
    /// Opens the state in `state_dir` (created if needed, locked while the manager is open)
    /// with the system clock.
    ///
    /// Fails with `Runtime` 213 `StateLocked` (another process or manager has it open), 206
    /// `Storage`, 207 `CorruptState`, 217 `UnsupportedStateVersion`, or a configuration error
    /// (211 `InvalidArgument`, `Rejected` 119 `BadPublicKey`). A license that no longer
    /// verifies does not make it fail: `status()` says why.
    #[uniffi::constructor]
    pub fn open(config: HostConfig, state_dir: &str) -> Result<Arc<Self>, TollgateError> {
        let m = tollgate_sdk::LicenseManager::open(config.into_sdk()?, state_dir)?;
        Ok(Self::new(m))
    }

    /// [`LicenseManager::open`] with a clock the caller moves: for tests and simulations.
    #[uniffi::constructor]
    pub fn open_with_clock(
        config: HostConfig,
        state_dir: &str,
        clock: Arc<ManualClock>,
    ) -> Result<Arc<Self>, TollgateError> {
        let clock: Arc<dyn Clock> = clock.inner.clone();
        let m =
            tollgate_sdk::LicenseManager::open_with_clock(config.into_sdk()?, state_dir, clock)?;
        Ok(Self::new(m))
    }

    /// Makes a usage request for the license key `key` (as the customer typed it) and returns
    /// its armored text (`TGRQ:…`) for the vendor. Each request supersedes every earlier one.
    ///
    /// Fails with `Rejected` 117 `KeyFormat` / 118 `KeyChecksum` (a typo), `Runtime` 212
    /// `AlreadyActivated` (a license for another key is installed), 205 `ClockRollback`, 210
    /// `Fingerprint`, 216 `Entropy` or 206 `Storage`.
    pub fn request_usage(&self, key: &str) -> Result<String, TollgateError> {
        self.write(|m| m.request_usage(key))
    }

    /// Makes a new usage request for the activation this host already has, without the
    /// license key (the offline upgrade round trip). Fails with `Runtime` 200 `NotActivated`
    /// when this host never made a request (or deactivated since), otherwise like
    /// `request_usage`.
    pub fn request_renewal(&self) -> Result<String, TollgateError> {
        self.write(tollgate_sdk::LicenseManager::request_renewal)
    }

    /// The armored text of the pending usage request, to show it again.
    pub fn pending_request(&self) -> Result<Option<String>, TollgateError> {
        self.read(|m| Ok(m.pending_request().map(str::to_string)))
    }

    /// Installs a usage license (`TGUL:…`) from the vendor and returns the new status. On any
    /// error the state is unchanged.
    ///
    /// Fails with the core's verdict (`Rejected`: 100–111 damaged or tampered, 112
    /// `WrongProduct`, 113 `FingerprintMismatch` for another machine, 114/115/116 validity),
    /// or `Runtime` 201 `NoPendingRequest`, 202 `SupersededRequest`, 203 `WrongDevice`, 204
    /// `Deactivated`, 205 `ClockRollback`, 215 `UnknownRequest`, 206 `Storage`.
    pub fn install(&self, usage_license: &str) -> Result<Status, TollgateError> {
        self.write(|m| m.install(usage_license)).map(Into::into)
    }

    /// The status now: state, installed license, features, warnings and why it is not active.
    pub fn status(&self) -> Result<Status, TollgateError> {
        self.read(|m| Ok(m.status())).map(Into::into)
    }

    /// The status now, as pretty-printed JSON (the document of `tollgate host status --json`).
    pub fn status_json(&self) -> Result<String, TollgateError> {
        self.read(|m| Ok(m.status_json()))
    }

    /// Whether feature `name` is usable now: a license is installed and verified for this host,
    /// the clock was not set back, the license is within its validity and the feature exists
    /// and has not expired. Takes no lock and does no I/O: cheap enough for every request.
    /// False once the manager is released.
    pub fn has_feature(&self, name: &str) -> bool {
        !self.released.load(Ordering::Acquire) && self.gate.has_feature(name)
    }

    /// Succeeds when a license is installed and active now; otherwise raises why not (`Runtime`
    /// 200 `NotActivated`, 205 `ClockRollback`, `Rejected` 115 `Expired`, …).
    pub fn check(&self) -> Result<(), TollgateError> {
        self.read(tollgate_sdk::LicenseManager::check)
    }

    /// Records `units` of use of the metered feature `feature` in the current UTC period and
    /// returns the new reading; the count is durable. Records nothing and fails with `Runtime`
    /// 208 `QuotaExceeded`, 209 `UnknownFeature`, 214 `NotMetered`, or why the license is not
    /// active.
    pub fn record_usage(&self, feature: &str, units: u64) -> Result<MeterReading, TollgateError> {
        self.write(|m| m.record_usage(feature, units))
            .map(Into::into)
    }

    /// The current reading of the metered feature `feature`, recording nothing.
    pub fn meter(&self, feature: &str) -> Result<MeterReading, TollgateError> {
        self.read(|m| m.meter(feature)).map(Into::into)
    }

    /// Probes the fingerprint again, re-verifies the installed license and returns the status.
    pub fn refresh(&self) -> Result<Status, TollgateError> {
        self.write(tollgate_sdk::LicenseManager::refresh)
            .map(Into::into)
    }

    /// Deactivates the installed license and returns the armored deactivation code (`TGDC:…`)
    /// for the vendor, who frees the seat with it. The activation can never be installed here
    /// again. Fails with `Runtime` 200 `NotActivated` when nothing is installed, or 206
    /// `Storage`.
    pub fn deactivate(&self) -> Result<String, TollgateError> {
        self.write(tollgate_sdk::LicenseManager::deactivate)
    }

    /// The code of the last deactivation on this host, to show it again.
    pub fn last_deactivation_code(&self) -> Result<Option<String>, TollgateError> {
        self.read(|m| Ok(m.last_deactivation_code().map(str::to_string)))
    }

    /// Closes the manager now and releases the state directory's lock (waiting for a change in
    /// progress). Online calls in flight on it end at once with `Runtime` 240 `Cancelled`,
    /// changing nothing (release waits until they have returned, never for the network).
    /// Every later call fails with `Runtime` 211 `InvalidArgument`, and `has_feature` answers
    /// false. Releasing twice does nothing.
    pub fn release(&self) {
        self.released.store(true, Ordering::Release);
        self.calls.close("the license manager was released");
        drop(self.write_lock().take());
    }
}

/// A clock that reads whatever it was last set to (Unix seconds), for tests and simulations:
/// give it to [`LicenseManager::open_with_clock`] and move time. Thread-safe.
#[derive(Debug, uniffi::Object)]
pub struct ManualClock {
    inner: Arc<tollgate_sdk::ManualClock>,
}

#[uniffi::export]
impl ManualClock {
    /// A clock reading `now` (Unix seconds).
    #[uniffi::constructor]
    pub fn new(now: u64) -> Arc<Self> {
        Arc::new(ManualClock {
            inner: Arc::new(tollgate_sdk::ManualClock::new(now)),
        })
    }

    /// Sets the time (it may go backwards).
    pub fn set(&self, now: u64) {
        self.inner.set(now);
    }

    /// Moves the time forward by `secs` seconds.
    pub fn advance(&self, secs: u64) {
        self.inner.advance(secs);
    }

    /// The time it reads.
    pub fn now(&self) -> u64 {
        self.inner.now()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::types::{ComponentKind, FingerprintComponent};

    /// A configuration with fixed components (no probes) for the tests.
    pub(crate) fn config() -> HostConfig {
        HostConfig {
            product: "chariot".into(),
            product_version: "4.2.0".into(),
            fingerprint_salt: "salt".into(),
            vendor_root: hex::decode(
                "43a72e714401762df66b68c26dfbdf2682aaec9f2474eca4613e424a0fbafd3c",
            )
            .unwrap(),
            warn_days: None,
            probes: false,
            components: vec![
                FingerprintComponent {
                    kind: ComponentKind::MachineId,
                    value: b"m".to_vec(),
                },
                FingerprintComponent {
                    kind: ComponentKind::Workload,
                    value: b"w".to_vec(),
                },
            ],
            replace: Vec::new(),
            allow_override: true,
            key_certificates: Vec::new(),
            key_list: None,
            min_components: None,
        }
    }

    #[test]
    fn objects_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LicenseManager>();
        assert_send_sync::<ManualClock>();
    }

    #[test]
    fn request_release_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let clock = ManualClock::new(1_767_258_000);
        let m = LicenseManager::open_with_clock(config(), path, clock.clone()).unwrap();
        let e = m
            .request_usage("DSHJN-UY5LB-4FJ3T-UY6NS-STFGA")
            .unwrap_err();
        assert_eq!(e.code(), 118);
        let request = m.request_usage("DSHJN-UY5LB-4FJ3T-UY6NS-STFGU").unwrap();
        assert_eq!(
            m.pending_request().unwrap().as_deref(),
            Some(request.as_str())
        );
        assert_eq!(
            LicenseManager::open(config(), path).unwrap_err().code(),
            213
        );
        m.release();
        m.release();
        assert!(!m.has_feature("x"));
        assert_eq!(m.status().unwrap_err().code(), 211);
        let again = LicenseManager::open_with_clock(config(), path, clock).unwrap();
        assert!(again.status().unwrap().pending_request);
    }
}
