//! Floating licenses: a license server inside the customer's closed network lends seats to the
//! brokers that ask, as short leases renewed by heartbeats.
//!
//! Two sides live here:
//!
//! - **The server's signer.** The floating license server is activated like any host (a usage
//!   request, the vendor's floating usage license installed in its [`LicenseManager`]). Its
//!   device key signs the lease tokens; [`LicenseManager::lease_signer`] hands out a
//!   [`LeaseSigner`] that signs with it without exposing it, and refuses to sign what a client
//!   would refuse (a feature the license lacks, a term longer than it allows).
//! - **The client.** [`FloatingClient`] checks out a feature set ([`FloatingClient::checkout`]),
//!   verifies every lease token offline with the vendor keys ([`tollgate_core::Verifier::verify_lease`]),
//!   renews it from a background thread at a fraction of its term (a third by default), tells
//!   the application what happens through [`LeaseEvent`]s, and releases it when the
//!   [`FloatingLease`] is dropped.
//!
//! # Staying up through short server outages
//!
//! A lease stays valid until its `expires_at`, whether or not the server answers: a broker whose
//! heartbeat fails keeps its features ([`FloatingLease::has_feature`] stays true) and retries
//! with backoff ([`LeaseEvent::RenewFailed`]) until the lease ends; only then is it
//! [`LeaseEvent::Lost`], and the client keeps trying to check out again, so a broker regains a
//! seat as soon as the server is back and one is free ([`LeaseEvent::Acquired`]).
//!
//! # Freshness and clocks
//!
//! Every checkout and heartbeat carries a fresh random nonce, and the client accepts only a
//! lease token that echoes it (`Core(LeaseNonceMismatch)` otherwise): a token captured earlier
//! (released, expired) and served again by a proxy answers no request the client makes.
//!
//! The times in a lease are the server's. A client measures the offset between the server's
//! clock and its own when a lease arrives (the lease's `issued_at` is the server's `now`), and
//! bounds it: a token whose `issued_at` is more than [`FloatingConfig::max_clock_skew`]
//! (default 5 minutes) from the client's wall clock is refused, and so is one older than the
//! last token this client accepted, or older than that token's `issued_at` plus the time the
//! client's monotonic clock measured since (less the same tolerance): a server whose clock was
//! set back cannot lend under a floating license that has ended by the real clock. The client
//! then checks leases at the server's time as it estimates it, the later of `wall clock +
//! offset` and `issued_at + monotonic time since the token arrived`, so that a broker whose
//! clock is off by a minute does not lose a one-minute lease, and setting the broker's own wall
//! clock back does not stretch one. The floating usage license's window (`not_after`, refresh
//! deadline) is checked at that time too, which is never more than the tolerance before the
//! client's own clock. These refusals are [`SdkError::BadResponse`] (234).
//!
//! # Borrowing
//!
//! [`FloatingClient::borrow`] checks out a lease for days (up to the license's
//! `max_borrow_secs`) that is never renewed: for a broker that leaves the network. The
//! application keeps its two texts ([`BorrowedLease::lease`], [`BorrowedLease::floating_license`])
//! and checks them offline with [`FloatingClient::verify_borrowed`];
//! [`FloatingClient::return_borrowed`] gives the seat back early.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tollgate_core::lease::{nonce_to_hex, LeaseNonce, MAX_LEASE_SECS};
use tollgate_core::{
    feature_set, ClientId, DeploymentModel, DeviceKey, Error as CoreError, Fingerprint, KeyId,
    Lease, LeaseClaims, LeaseEntitlement, UsageLicense, UsageTerms, Verifier,
};

use crate::cancel::CancelToken;
use crate::clock::{Clock, SystemClock};
use crate::error::{Result, SdkError};
use crate::fingerprint;
use crate::manager::{HostConfig, LicenseManager};
use crate::online::{BearerToken, OnlineClient, OnlineConfig};

// ---------------------------------------------------------------------------------------------
// The wire protocol, shared with the server (`tollgate-floating`) through `tollgate-protocol`
// ---------------------------------------------------------------------------------------------

/// The HTTP protocol between [`FloatingClient`] and the floating license server: JSON bodies,
/// and the server's stable refusal codes (reported as [`SdkError::ServiceRefused`]). Defined
/// once in `tollgate-protocol`, shared with the server.
pub use tollgate_protocol::floating as protocol;

use protocol::{CheckoutRequest, CheckoutResponse, LeaseRef, RenewResponse};

// ---------------------------------------------------------------------------------------------
// The server's side
// ---------------------------------------------------------------------------------------------

/// Signs lease tokens with the device key of a floating license server's activation. Made by
/// [`LicenseManager::lease_signer`]; the key never leaves it (its `Debug` hides it, and it is
/// zeroized when the signer is dropped).
pub struct LeaseSigner {
    key: DeviceKey,
    license: UsageLicense,
    armored: String,
}

impl std::fmt::Debug for LeaseSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseSigner")
            .field("license_id", &self.license.terms().grant.license_id)
            .field("activation_id", &self.license.terms().activation_id)
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl LeaseSigner {
    /// The floating usage license (`TGUL:…`) that certifies the key; the server gives it to
    /// its clients with their leases.
    pub fn floating_license(&self) -> &str {
        &self.armored
    }

    /// Its signed terms (the grant: features, seats, borrowing bound).
    pub fn terms(&self) -> &UsageTerms {
        self.license.terms()
    }

    /// The key id of the signing key: the signer field of every lease token.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.key.public_key())
    }

    /// Signs a lease. `claims.license_id` and `activation_id` are set from the license; the
    /// feature set is put in canonical form. Refuses with `Core(LeaseNotGranted)` what a
    /// client would refuse: a feature the grant lacks, a term over [`MAX_LEASE_SECS`] or, when
    /// borrowed, over the grant's `max_borrow_secs`; with `Core(LimitExceeded)` an empty
    /// feature set or a term of zero.
    pub fn sign(&self, mut claims: LeaseClaims) -> Result<Lease> {
        let terms = self.license.terms();
        claims.license_id = terms.grant.license_id;
        claims.activation_id = terms.activation_id;
        let bound = if claims.borrowed {
            u64::from(terms.grant.max_borrow_secs)
        } else {
            MAX_LEASE_SECS
        };
        if claims
            .features
            .iter()
            .any(|f| terms.grant.feature(f).is_none())
            || claims.term() > bound
        {
            return Err(CoreError::LeaseNotGranted.into());
        }
        Ok(Lease::sign(claims, &self.key)?)
    }
}

impl LicenseManager {
    /// A signer for lease tokens, for a floating license server: the installed usage license
    /// must be a floating activation that verifies on this host (signature, product,
    /// fingerprint; its validity in time is the caller's to check, e.g. with
    /// [`LicenseManager::check`]).
    ///
    /// Fails with [`SdkError::NotActivated`] without an installed license, with the license's
    /// verdict when it does not verify here, and with `Core(LeaseNotGranted)` when it is not a
    /// floating activation.
    pub fn lease_signer(&self) -> Result<LeaseSigner> {
        let license = self.installed_license().ok_or(SdkError::NotActivated)?;
        if self.entitlement().is_none() {
            self.check()?;
            return Err(SdkError::NotActivated);
        }
        let terms = license.terms();
        if terms.model != DeploymentModel::Floating {
            return Err(CoreError::LeaseNotGranted.into());
        }
        let key = self.device_key().ok_or(SdkError::NotActivated)?;
        if key.public_key() != terms.device_key {
            return Err(SdkError::WrongDevice);
        }
        Ok(LeaseSigner {
            key,
            armored: license.to_armor(),
            license: license.clone(),
        })
    }

    /// Signs one lease (see [`LeaseSigner::sign`]); a server signing many should keep a
    /// [`LicenseManager::lease_signer`].
    pub fn sign_lease(&self, claims: LeaseClaims) -> Result<Lease> {
        self.lease_signer()?.sign(claims)
    }
}

// ---------------------------------------------------------------------------------------------
// The client's side
// ---------------------------------------------------------------------------------------------

/// The default of [`FloatingConfig::max_clock_skew`], in seconds.
pub const DEFAULT_MAX_CLOCK_SKEW_SECS: u64 = 300;

/// A fresh random nonce for one checkout or heartbeat.
pub fn fresh_nonce() -> Result<LeaseNonce> {
    let mut n = [0u8; 16];
    getrandom::fill(&mut n).map_err(|_| SdkError::Entropy)?;
    Ok(n)
}

/// Where the floating license server is and what to ask it for.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatingConfig {
    /// The server's base URL, e.g. `https://licenses.plant.local:8444`; or, for a pool served
    /// by an active/standby pair, both URLs separated by a comma
    /// (`https://floating-a:8444,https://floating-b:8444`): see [`FloatingConfig::servers`].
    pub server: String,
    /// The feature set to check out.
    pub features: Vec<String>,
    /// Tells several clients on one host apart (part of the client id; often empty).
    pub instance: String,
    /// A name for the server's admin view (default: empty).
    pub client_name: String,
    /// Renew when this fraction of a lease's term has passed. Default 1/3.
    pub heartbeat_fraction: f64,
    /// Longest wait for a connection. Default 2 s.
    pub connect_timeout: Duration,
    /// Longest wait for a whole request. Default 5 s.
    pub timeout: Duration,
    /// First wait after a failed heartbeat or checkout; doubled up to `retry_max`. Default 1 s.
    pub retry_initial: Duration,
    /// Longest wait between retries. Default 30 s.
    pub retry_max: Duration,
    /// When set, the only trusted root certificates (PEM).
    pub root_certs_pem: Option<Vec<u8>>,
    /// The largest difference accepted between the server's clock (a token's `issued_at`)
    /// and this client's, and between the server's clock and this client's monotonic
    /// measure of it since the last token. Default 300 s.
    pub max_clock_skew: Duration,
    /// The server's shared checkout token (its `checkout_token`), sent with every checkout,
    /// heartbeat and release as `Authorization: Bearer <token>`. Default none.
    pub checkout_token: Option<BearerToken>,
}

impl FloatingConfig {
    /// The defaults for checking out `features` from the server at `server`.
    pub fn new<S: Into<String>>(
        server: impl Into<String>,
        features: impl IntoIterator<Item = S>,
    ) -> Self {
        FloatingConfig {
            server: server.into(),
            features: features.into_iter().map(Into::into).collect(),
            instance: String::new(),
            client_name: String::new(),
            heartbeat_fraction: 1.0 / 3.0,
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            root_certs_pem: None,
            max_clock_skew: Duration::from_secs(DEFAULT_MAX_CLOCK_SKEW_SECS),
            checkout_token: None,
        }
    }
}

/// The longest instance name ([`FloatingConfig::set_instance`]), in bytes.
pub const MAX_INSTANCE_LEN: usize = 128;

/// The most server URLs [`FloatingConfig::server`] may list.
pub const MAX_SERVERS: usize = 8;

impl FloatingConfig {
    /// A configuration for a pool served by several instances (an active/standby pair):
    /// `servers` are joined into [`FloatingConfig::server`] with commas.
    pub fn with_servers<S: Into<String>>(
        servers: &[&str],
        features: impl IntoIterator<Item = S>,
    ) -> Self {
        FloatingConfig::new(servers.join(","), features)
    }

    /// The server URLs, in the order they are tried: [`FloatingConfig::server`] split at
    /// commas, each trimmed, empty items dropped.
    ///
    /// # Failover
    ///
    /// A client sends each call to the instance that answered last (the first at start). When
    /// that one cannot be reached (connection refused, reset, timeout), is unavailable (HTTP
    /// 5xx) or answers 347 `Standby`, the call goes to the next, once around the list; the
    /// last failure is returned if none answers. There is no pause within a call: the
    /// heartbeat thread's retries (`retry_initial` doubling up to `retry_max`) are the
    /// backoff. A lease is renewed on whichever instance answers: the pair shares its leases.
    pub fn servers(&self) -> Vec<String> {
        self.server
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

impl FloatingConfig {
    /// Sets the instance name (part of the client id, so that several clients on one host
    /// hold separate leases) and, when no client name is set, shows it as the client's name in
    /// the server's admin view. Fails with [`SdkError::InvalidArgument`] over
    /// [`MAX_INSTANCE_LEN`] bytes.
    pub fn set_instance(&mut self, instance: &str) -> Result<()> {
        if instance.len() > MAX_INSTANCE_LEN {
            return Err(SdkError::invalid(format!(
                "an instance name is limited to {MAX_INSTANCE_LEN} bytes"
            )));
        }
        self.instance = instance.to_owned();
        if self.client_name.is_empty() {
            self.client_name = instance.to_owned();
        }
        Ok(())
    }
}

/// What a [`FloatingLease`] reports, on its heartbeat thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseEvent {
    /// A lease was checked out (again, after [`LeaseEvent::Lost`]).
    Acquired {
        /// Its id.
        lease_id: u64,
        /// When it ends unless renewed (server clock).
        expires_at: u64,
    },
    /// A heartbeat renewed the lease.
    Renewed {
        /// Its id.
        lease_id: u64,
        /// Its new end (server clock).
        expires_at: u64,
    },
    /// A heartbeat failed; the lease stays valid until `expires_at` and the heartbeat is tried
    /// again after `retry_in`.
    RenewFailed {
        /// Why.
        error: SdkError,
        /// When the next try is.
        retry_in: Duration,
        /// When the lease ends (server clock).
        expires_at: u64,
    },
    /// The lease is gone: it ended without a renewal (`Core(LeaseExpired)`), or the server
    /// no longer knows it (`ServiceRefused` 342, e.g. an admin released it) and no seat was
    /// free to check out again. Features are unavailable; checking out is retried.
    Lost {
        /// Why.
        error: SdkError,
    },
    /// The lease was released (the [`FloatingLease`] was dropped or released).
    Released {
        /// Its id.
        lease_id: u64,
    },
}

/// A lease the client holds: its secret, the verified token, the clock offset.
#[derive(Clone, Debug)]
struct Held {
    lease_id: u64,
    secret: String,
    /// The server's floating usage license, armored.
    floating_license: String,
    entitlement: LeaseEntitlement,
    /// Server clock minus our clock when the last token arrived, in seconds.
    offset: i64,
    /// When the last token arrived, on the monotonic clock.
    received: Instant,
}

impl Held {
    /// The server's time now as this client estimates it: the later of its wall clock plus
    /// the offset and the token's `issued_at` plus the monotonic time since it arrived.
    fn server_now(&self, clock: &dyn Clock) -> u64 {
        let by_wall = shift(clock.now(), self.offset);
        let by_mono = self
            .entitlement
            .lease()
            .issued_at
            .saturating_add(self.received.elapsed().as_secs());
        by_wall.max(by_mono)
    }
}

/// The last token a client accepted: its `issued_at` and when it arrived (monotonic).
#[derive(Clone, Copy, Debug)]
struct LastAccepted {
    issued_at: u64,
    received: Instant,
}

/// A borrowed lease: keep both texts to use it offline.
#[derive(Clone, Debug)]
pub struct BorrowedLease {
    /// The lease id.
    pub lease_id: u64,
    /// The secret, to return it early.
    pub secret: String,
    /// The lease token (`TGLS:…`).
    pub lease: String,
    /// The server's floating usage license (`TGUL:…`).
    pub floating_license: String,
    /// The verified lease.
    pub entitlement: LeaseEntitlement,
}

/// A client of a floating license server. Cheap to clone; safe to share across threads.
#[derive(Clone)]
pub struct FloatingClient {
    /// One HTTP client per server URL.
    http: Arc<Vec<OnlineClient>>,
    /// The index of the server that answered last.
    current: Arc<AtomicUsize>,
    verifier: Verifier,
    client_id: ClientId,
    clock: Arc<dyn Clock>,
    config: FloatingConfig,
    last: Arc<Mutex<Option<LastAccepted>>>,
}

impl std::fmt::Debug for FloatingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FloatingClient")
            .field("server", &self.config.server)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Whether a call that failed with `e` goes to the next server: the server could not be
/// reached, failed (5xx), or is a standby (347).
fn fails_over(e: &SdkError) -> bool {
    matches!(
        e,
        SdkError::ServiceUnreachable { .. } | SdkError::ServiceUnavailable { .. }
    ) || e.refusal_code() == Some(protocol::STANDBY)
}

fn shift(now: u64, offset: i64) -> u64 {
    now.saturating_add_signed(offset)
}

impl FloatingClient {
    /// A client for the product of `host` (its vendor keys verify the leases; its fingerprint,
    /// probed now, and `config.instance` make the client id) and the server in `config`.
    pub fn new(host: &HostConfig, config: FloatingConfig) -> Result<Self> {
        let fp = fingerprint::compute(&*host.source()?, &host.fingerprint_salt)?;
        Self::with_parts(host, config, &fp, Arc::new(SystemClock))
    }

    /// [`FloatingClient::new`] with a given fingerprint and clock (tests, embedded hosts).
    pub fn with_parts(
        host: &HostConfig,
        config: FloatingConfig,
        fingerprint: &Fingerprint,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        if config.features.is_empty() {
            return Err(SdkError::invalid("a checkout needs at least one feature"));
        }
        if !(config.heartbeat_fraction > 0.0 && config.heartbeat_fraction < 1.0) {
            return Err(SdkError::invalid(
                "heartbeat_fraction must be between 0 and 1",
            ));
        }
        let servers = config.servers();
        if servers.is_empty() || servers.len() > MAX_SERVERS {
            return Err(SdkError::invalid(format!(
                "give 1 to {MAX_SERVERS} floating server URLs (separated by commas)"
            )));
        }
        let http = servers
            .into_iter()
            .map(|url| {
                let mut online = OnlineConfig::new(url);
                online.connect_timeout = config.connect_timeout;
                online.timeout = config.timeout;
                online.attempts = 1;
                online.root_certs_pem = config.root_certs_pem.clone();
                online.bearer_token = config.checkout_token.clone();
                OnlineClient::new(online)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(FloatingClient {
            http: Arc::new(http),
            current: Arc::new(AtomicUsize::new(0)),
            verifier: host.verifier()?,
            client_id: ClientId::derive(fingerprint, &config.instance),
            clock,
            config,
            last: Arc::new(Mutex::new(None)),
        })
    }

    /// This client's id: what the server's leases name.
    pub fn client_id(&self) -> ClientId {
        self.client_id
    }

    /// The configuration.
    pub fn config(&self) -> &FloatingConfig {
        &self.config
    }

    // -- the raw protocol (no verification): for load tools and tests -------------------------

    /// Sends a checkout with a fresh nonce and returns the server's answer as it is.
    pub fn checkout_raw(&self, borrow_secs: Option<u64>) -> Result<CheckoutResponse> {
        self.checkout_raw_with(borrow_secs, &fresh_nonce()?)
    }

    /// Sends a checkout with the given nonce and returns the server's answer as it is.
    pub fn checkout_raw_with(
        &self,
        borrow_secs: Option<u64>,
        nonce: &LeaseNonce,
    ) -> Result<CheckoutResponse> {
        self.checkout_raw_cancellable(borrow_secs, nonce, None)
    }

    /// [`FloatingClient::checkout_raw_with`], waiting for the server on `cancel`.
    fn checkout_raw_cancellable(
        &self,
        borrow_secs: Option<u64>,
        nonce: &LeaseNonce,
        cancel: Option<&CancelToken>,
    ) -> Result<CheckoutResponse> {
        let body = CheckoutRequest {
            client_id: self.client_id.to_hex(),
            features: self.config.features.clone(),
            client_name: self.config.client_name.clone(),
            borrow_secs,
            nonce: nonce_to_hex(nonce),
        };
        self.post_cancellable(protocol::CHECKOUT, &body, cancel)
    }

    /// Sends a heartbeat for `lease_id` with a fresh nonce and returns the server's answer as
    /// it is.
    pub fn heartbeat_raw(&self, lease_id: u64, secret: &str) -> Result<RenewResponse> {
        self.heartbeat_raw_with(lease_id, secret, &fresh_nonce()?)
    }

    /// Sends a heartbeat for `lease_id` with the given nonce and returns the server's answer
    /// as it is.
    pub fn heartbeat_raw_with(
        &self,
        lease_id: u64,
        secret: &str,
        nonce: &LeaseNonce,
    ) -> Result<RenewResponse> {
        let body = LeaseRef {
            lease_id,
            secret: secret.to_owned(),
            nonce: nonce_to_hex(nonce),
        };
        self.post(protocol::HEARTBEAT, &body)
    }

    /// Releases `lease_id`.
    pub fn release_raw(&self, lease_id: u64, secret: &str) -> Result<()> {
        let body = LeaseRef {
            lease_id,
            secret: secret.to_owned(),
            nonce: String::new(),
        };
        self.post::<_, serde_json::Value>(protocol::RELEASE, &body)
            .map(|_| ())
    }

    fn post<B: Serialize, T: for<'de> Deserialize<'de>>(&self, path: &str, body: &B) -> Result<T> {
        self.post_cancellable(path, body, None)
    }

    /// [`FloatingClient::post`]; with `cancel`, the request runs on its own thread and the
    /// call waits for it on the token ([`SdkError::Cancelled`] once it is cancelled).
    fn post_cancellable<B: Serialize, T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        body: &B,
        cancel: Option<&CancelToken>,
    ) -> Result<T> {
        let body = serde_json::to_string(body).map_err(|e| SdkError::invalid(e.to_string()))?;
        let n = self.http.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut failed = None;
        let mut text = None;
        for k in 0..n {
            let i = (start + k) % n;
            match self.http[i].post_with(path, &body, cancel) {
                Ok(t) => {
                    self.current.store(i, Ordering::Relaxed);
                    text = Some(t);
                    break;
                }
                Err(e) if n > 1 && fails_over(&e) => failed = Some(e),
                Err(e) => return Err(e),
            }
        }
        let text = match (text, failed) {
            (Some(t), _) => t,
            (None, Some(e)) => return Err(e),
            (None, None) => {
                return Err(SdkError::invalid("no floating server URL is configured"));
            }
        };
        serde_json::from_str(&text).map_err(|e| SdkError::BadResponse {
            reason: format!("not a floating server answer: {e}"),
        })
    }

    // -- verified operations ------------------------------------------------------------------

    /// Verifies a token that answers the request that carried `nonce`: the chain and the
    /// client (core), the nonce, then the clocks (see the module documentation) and the
    /// windows of the license and the lease at the server's time.
    fn verify(
        &self,
        license: &str,
        lease: &str,
        nonce: &LeaseNonce,
    ) -> Result<(LeaseEntitlement, i64, Instant)> {
        let ent = self
            .verifier
            .verify_lease_untimed(license, lease, &self.client_id)?;
        ent.check_nonce(nonce)?;
        let received = Instant::now();
        let now = self.clock.now();
        let issued = ent.lease().issued_at;
        let skew = self.config.max_clock_skew.as_secs();
        let offset_wide = i128::from(issued) - i128::from(now);
        if offset_wide.unsigned_abs() > u128::from(skew) {
            return Err(SdkError::BadResponse {
                reason: format!(
                    "the server's clock is {offset_wide} s from this client's, more than the \
                     {skew} s allowed"
                ),
            });
        }
        let offset = i64::try_from(offset_wide).unwrap_or(0);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = *last {
            let expected = l
                .issued_at
                .saturating_add(received.saturating_duration_since(l.received).as_secs());
            if issued < l.issued_at || issued.saturating_add(skew) < expected {
                return Err(SdkError::BadResponse {
                    reason: format!(
                        "the lease was issued at {issued}, before the last one accepted \
                         ({}) or more than {skew} s before the server's time as this \
                         client measured it since ({expected})",
                        l.issued_at
                    ),
                });
            }
        }
        // The license's and the lease's windows at the server's time, which is within the
        // tolerance of this client's own clock.
        ent.check_time(shift(now, offset))?;
        *last = Some(LastAccepted {
            issued_at: issued,
            received,
        });
        Ok((ent, offset, received))
    }

    fn checkout_verified(&self, cancel: Option<&CancelToken>) -> Result<Held> {
        let nonce = fresh_nonce()?;
        let r = self.checkout_raw_cancellable(None, &nonce, cancel)?;
        let verified = self
            .verify(&r.floating_license, &r.lease, &nonce)
            .and_then(|v| self.check_features(&v.0).map(|()| v));
        let (entitlement, offset, received) = self.give_back_on_error(&r, verified)?;
        Ok(Held {
            lease_id: r.lease_id,
            secret: r.secret,
            floating_license: r.floating_license,
            entitlement,
            offset,
            received,
        })
    }

    /// A checkout answer this client refuses still holds a seat at the server (if it came
    /// from the server): give it back at once, best effort, instead of leaving it for a TTL.
    fn give_back_on_error<T>(&self, r: &CheckoutResponse, verified: Result<T>) -> Result<T> {
        if verified.is_err() {
            let _ = self.release_raw(r.lease_id, &r.secret);
        }
        verified
    }

    /// The lease must cover what was asked for.
    fn check_features(&self, ent: &LeaseEntitlement) -> Result<()> {
        if feature_set(self.config.features.iter().cloned()) != ent.features() {
            return Err(SdkError::BadResponse {
                reason: "the lease does not cover the features asked for".into(),
            });
        }
        Ok(())
    }

    fn renew(&self, held: &Held) -> Result<Held> {
        let nonce = fresh_nonce()?;
        let r = self.heartbeat_raw_with(held.lease_id, &held.secret, &nonce)?;
        let (entitlement, offset, received) =
            self.verify(&held.floating_license, &r.lease, &nonce)?;
        if entitlement.lease().lease_id != held.lease_id {
            return Err(SdkError::BadResponse {
                reason: "the renewed lease has another id".into(),
            });
        }
        self.check_features(&entitlement)?;
        Ok(Held {
            lease_id: held.lease_id,
            secret: held.secret.clone(),
            floating_license: held.floating_license.clone(),
            entitlement,
            offset,
            received,
        })
    }

    /// Checks out the configured feature set, verifies the lease and starts renewing it in the
    /// background; `on_event` is called on that thread (keep it short). Dropping the returned
    /// [`FloatingLease`] releases it.
    ///
    /// Fails with [`SdkError::ServiceRefused`] (340 no seat, 341 feature not licensed, 344 the
    /// server is not licensed, 345 its clock went back), [`SdkError::ServiceUnreachable`], or
    /// the core's verdict on the lease (`Core(BadSignature)`, `Core(LeaseWrongClient)`, …).
    pub fn checkout(
        &self,
        on_event: impl Fn(&LeaseEvent) + Send + Sync + 'static,
    ) -> Result<FloatingLease> {
        self.checkout_with(on_event, None)
    }

    /// [`FloatingClient::checkout`], waiting for the server on `cancel`: cancelling the token
    /// ends the call at once with [`SdkError::Cancelled`] (240) and no lease. A checkout the
    /// server already granted then holds its seats until the lease ends (its TTL).
    pub fn checkout_with(
        &self,
        on_event: impl Fn(&LeaseEvent) + Send + Sync + 'static,
        cancel: Option<&CancelToken>,
    ) -> Result<FloatingLease> {
        let held = self.checkout_verified(cancel)?;
        let on_event: Arc<dyn Fn(&LeaseEvent) + Send + Sync> = Arc::new(on_event);
        on_event(&LeaseEvent::Acquired {
            lease_id: held.lease_id,
            expires_at: held.entitlement.lease().expires_at,
        });
        let shared = Arc::new(Shared {
            held: RwLock::new(Some(held)),
            control: Mutex::new(Control {
                stop: false,
                lost: false,
            }),
            wake: Condvar::new(),
            on_event,
        });
        let worker = Heartbeat {
            client: self.clone(),
            shared: Arc::clone(&shared),
        };
        let thread = std::thread::Builder::new()
            .name("tollgate-lease".into())
            .spawn(move || worker.run())
            .map_err(SdkError::from)?;
        Ok(FloatingLease {
            client: self.clone(),
            shared,
            thread: Some(thread),
        })
    }

    /// Borrows the configured feature set for `secs` seconds: a lease that is not renewed,
    /// within the license's `max_borrow_secs` (else `ServiceRefused` 343).
    pub fn borrow(&self, secs: u64) -> Result<BorrowedLease> {
        let nonce = fresh_nonce()?;
        let r = self.checkout_raw_with(Some(secs), &nonce)?;
        let verified = self
            .verify(&r.floating_license, &r.lease, &nonce)
            .and_then(|v| self.check_features(&v.0).map(|()| v));
        let (entitlement, _, _) = self.give_back_on_error(&r, verified)?;
        if !entitlement.lease().borrowed {
            return Err(SdkError::BadResponse {
                reason: "the server did not lend a borrowed lease".into(),
            });
        }
        Ok(BorrowedLease {
            lease_id: r.lease_id,
            secret: r.secret,
            lease: r.lease,
            floating_license: r.floating_license,
            entitlement,
        })
    }

    /// Verifies a borrowed lease kept by the application, offline, at this client's clock.
    pub fn verify_borrowed(&self, floating_license: &str, lease: &str) -> Result<LeaseEntitlement> {
        Ok(self.verifier.verify_lease(
            floating_license,
            lease,
            &self.client_id,
            self.clock.now(),
        )?)
    }

    /// Gives a borrowed lease back before its end.
    pub fn return_borrowed(&self, borrowed: &BorrowedLease) -> Result<()> {
        self.release_raw(borrowed.lease_id, &borrowed.secret)
    }
}

struct Control {
    stop: bool,
    lost: bool,
}

struct Shared {
    held: RwLock<Option<Held>>,
    control: Mutex<Control>,
    wake: Condvar,
    on_event: Arc<dyn Fn(&LeaseEvent) + Send + Sync>,
}

/// A checked-out lease, renewed in the background (see [`FloatingClient::checkout`]).
/// Dropping it stops the heartbeats and releases the lease.
pub struct FloatingLease {
    client: FloatingClient,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FloatingLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FloatingLease")
            .field("lease_id", &self.lease_id())
            .finish_non_exhaustive()
    }
}

impl FloatingLease {
    fn held(&self) -> Option<Held> {
        self.shared
            .held
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether feature `name` is usable now: the lease covers it and has not ended (checked at
    /// the server's time as last measured), and the floating license is valid. Stays true
    /// through server outages until the lease ends.
    pub fn has_feature(&self, name: &str) -> bool {
        let guard = self.shared.held.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().is_some_and(|h| {
            h.entitlement
                .has_feature(name, h.server_now(&*self.client.clock))
        })
    }

    /// The verified lease currently held, if any.
    pub fn entitlement(&self) -> Option<LeaseEntitlement> {
        self.held().map(|h| h.entitlement)
    }

    /// The id of the lease currently held (0 when none is).
    pub fn lease_id(&self) -> u64 {
        self.held().map_or(0, |h| h.lease_id)
    }

    /// When the lease currently held ends unless renewed (server clock).
    pub fn expires_at(&self) -> Option<u64> {
        self.held().map(|h| h.entitlement.lease().expires_at)
    }

    /// Renews now instead of at the next heartbeat.
    pub fn renew_now(&self) {
        self.shared.wake.notify_all();
    }

    /// Stops the heartbeats and releases the lease at the server. Returns the server's error
    /// if the release could not be delivered (the server then reclaims the seat when the lease
    /// ends).
    pub fn release(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        {
            let mut c = self
                .shared
                .control
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            c.stop = true;
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let held = self
            .shared
            .held
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match held {
            Some(h) => {
                self.client.release_raw(h.lease_id, &h.secret)?;
                (self.shared.on_event)(&LeaseEvent::Released {
                    lease_id: h.lease_id,
                });
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Drop for FloatingLease {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

struct Heartbeat {
    client: FloatingClient,
    shared: Arc<Shared>,
}

impl Heartbeat {
    /// Waits `d` or until woken; false when told to stop.
    fn wait(&self, d: Duration) -> bool {
        let c = self
            .shared
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if c.stop {
            return false;
        }
        let (c, _) = self
            .shared
            .wake
            .wait_timeout(c, d)
            .unwrap_or_else(|p| p.into_inner());
        !c.stop
    }

    fn set(&self, held: Option<Held>) {
        *self.shared.held.write().unwrap_or_else(|p| p.into_inner()) = held;
    }

    fn current(&self) -> Option<Held> {
        self.shared
            .held
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The server's time now, as this client measures it.
    fn server_now(&self, held: &Held) -> u64 {
        held.server_now(&*self.client.clock)
    }

    fn interval(&self, held: &Held) -> Duration {
        let term = held.entitlement.lease().term() as f64;
        Duration::from_secs_f64((term * self.client.config.heartbeat_fraction).max(0.5))
    }

    fn lose(&self, error: SdkError) {
        let first = {
            let mut c = self
                .shared
                .control
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            !std::mem::replace(&mut c.lost, true)
        };
        self.set(None);
        if first {
            (self.shared.on_event)(&LeaseEvent::Lost { error });
        }
    }

    fn acquired(&self, held: Held) {
        self.shared
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .lost = false;
        let event = LeaseEvent::Acquired {
            lease_id: held.lease_id,
            expires_at: held.entitlement.lease().expires_at,
        };
        self.set(Some(held));
        (self.shared.on_event)(&event);
    }

    fn run(self) {
        let cfg = &self.client.config;
        let mut retry: Option<Duration> = None;
        loop {
            let wait = match (self.current(), retry) {
                (Some(h), None) => self.interval(&h),
                (Some(h), Some(r)) => {
                    // Wake at the end of the lease too, to report the loss on time.
                    let left = h
                        .entitlement
                        .lease()
                        .expires_at
                        .saturating_sub(self.server_now(&h));
                    r.min(Duration::from_secs(left.max(1)))
                }
                (None, r) => r.unwrap_or(cfg.retry_initial),
            };
            if !self.wait(wait) {
                return;
            }
            let next_retry = |r: Option<Duration>| {
                r.map_or(cfg.retry_initial, |r| {
                    r.saturating_mul(2).min(cfg.retry_max)
                })
            };
            let Some(held) = self.current() else {
                // No lease: try to check out again.
                match self.client.checkout_verified(None) {
                    Ok(h) => {
                        retry = None;
                        self.acquired(h);
                    }
                    Err(_) => retry = Some(next_retry(retry)),
                }
                continue;
            };
            match self.client.renew(&held) {
                Ok(h) => {
                    retry = None;
                    let (lease_id, expires_at) = (h.lease_id, h.entitlement.lease().expires_at);
                    self.set(Some(h));
                    (self.shared.on_event)(&LeaseEvent::Renewed {
                        lease_id,
                        expires_at,
                    });
                }
                Err(SdkError::ServiceRefused { code, .. }) if code == protocol::LEASE_NOT_FOUND => {
                    // The server no longer knows the lease (reclaimed, released by an
                    // admin): check out again at once.
                    match self.client.checkout_verified(None) {
                        Ok(h) => {
                            retry = None;
                            self.set(None);
                            self.acquired(h);
                        }
                        Err(error) => {
                            retry = Some(next_retry(retry));
                            self.lose(error);
                        }
                    }
                }
                Err(error) => {
                    let r = next_retry(retry);
                    retry = Some(r);
                    let expires_at = held.entitlement.lease().expires_at;
                    if self.server_now(&held) >= expires_at {
                        self.lose(CoreError::LeaseExpired.into());
                    } else {
                        (self.shared.on_event)(&LeaseEvent::RenewFailed {
                            error,
                            retry_in: r,
                            expires_at,
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod server_list_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn one_url_or_a_comma_separated_list() {
        let one = FloatingConfig::new("http://127.0.0.1:8444", ["f"]);
        assert_eq!(one.servers(), vec!["http://127.0.0.1:8444".to_owned()]);
        let pair = FloatingConfig::new(" http://a:1 ,, http://b:2,", ["f"]);
        assert_eq!(
            pair.servers(),
            vec!["http://a:1".to_owned(), "http://b:2".to_owned()]
        );
        let joined = FloatingConfig::with_servers(&["http://a:1", "http://b:2"], ["f"]);
        assert_eq!(joined.server, "http://a:1,http://b:2");
        assert_eq!(joined.servers(), pair.servers());
    }

    #[test]
    fn fails_over_on_outages_and_standbys_only() {
        let standby = SdkError::ServiceUnavailable {
            status: 503,
            code: protocol::STANDBY,
            message: "standby".into(),
        };
        let down = SdkError::ServiceUnreachable {
            reason: "refused".into(),
        };
        let no_seat = SdkError::ServiceRefused {
            code: protocol::NO_SEAT,
            name: "NoSeat".into(),
            message: "taken".into(),
        };
        let gone = SdkError::ServiceRefused {
            code: protocol::LEASE_NOT_FOUND,
            name: "LeaseNotFound".into(),
            message: "gone".into(),
        };
        assert_eq!(
            [&standby, &down, &no_seat, &gone].map(fails_over),
            [true, true, false, false]
        );
    }
}
