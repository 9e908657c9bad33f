//! Online activation: the host runtime talking to the Tollgate online activation service
//! (`tollgate-server`) over HTTPS.
//!
//! Every online operation is the offline round trip with the service as the courier; the
//! [`LicenseManager`] does all the licensing work, this module only carries text:
//!
//! | operation | the manager | the service |
//! |---|---|---|
//! | [`OnlineClient::activate`] | [`LicenseManager::request_usage`], then [`LicenseManager::install`] | `POST /v1/activate` |
//! | [`OnlineClient::reactivate`] | [`LicenseManager::request_renewal`], then `install` | `POST /v1/refresh` |
//! | [`OnlineClient::deactivate`] | [`LicenseManager::deactivate`] | `POST /v1/deactivate` |
//! | [`OnlineClient::report_usage`] | [`LicenseManager::cut_all_usage`], the outbox, then [`LicenseManager::acknowledge_usage`] | `POST /v1/usage` |
//!
//! Every successful reactivation (and so every [`BackgroundRefresh`] round) also reports the
//! metered usage ([`OnlineClient::report_usage`]); a failure there does not fail the
//! reactivation (the reports stay in the outbox for the next round); call
//! [`OnlineClient::report_usage`] on a schedule to see its outcome.
//!
//! The license key never leaves the host: the usage request carries only the key's lookup id
//! and a proof of the key bound to this host's device key. A usage license from the service is
//! verified by the manager exactly like one pasted by an operator (signature, product, device,
//! fingerprint, time): a response damaged or forged on the way is refused with the core's
//! error (`Core(BadSignature)`, `Core(ArmorChecksum)`, …), never installed.
//!
//! # Failures and retries
//!
//! Requests are retried with exponential backoff only when the failure is transient: the
//! service could not be reached (connection refused or reset, DNS, TLS, timeout), answered
//! 5xx, or answered 429 (then after its `Retry-After`). Retrying is safe: the service answers
//! a repeated usage request with the very same usage license and never takes a second seat
//! for it. When the retries are spent the error says which kind of failure it was:
//! [`SdkError::ServiceUnreachable`] (230), [`SdkError::ServiceUnavailable`] (232) or
//! [`SdkError::RateLimited`] (233). A refusal (an unknown key, no seat left, …) is not retried:
//! [`SdkError::ServiceRefused`] (231) carries the service's stable code (300–323, 331), which
//! [`SdkError::result_code`] (and so the bindings and the CLI) reports. An answer
//! that is not the JSON the service sends is [`SdkError::BadResponse`] (234).
//!
//! # A manager shared across threads, cancellation, and failed calls
//!
//! The `_shared` flows ([`OnlineClient::activate_shared`],
//! [`OnlineClient::reactivate_shared_with`], [`OnlineClient::deactivate_shared`]) take a
//! [`SharedManager`] and lock it only to make the usage request and to install the answer,
//! never while the service answers: status, feature checks and metered usage go on meanwhile.
//! Given a [`CancelToken`], each try and each pause between tries waits on it, and cancelling
//! ends the call at once with [`SdkError::Cancelled`] (240); a [`CallScope`] cancels every call
//! of a manager that is being closed and waits only until they have returned. Whatever fails
//! (cancelled, unreachable, refused, an answer that does not verify), the status is as before
//! the call: the usage request the call made is withdrawn. When another call changed the
//! license state while the service answered, the answer is not installed
//! ([`SdkError::StateChanged`], 241).
//!
//! # Staying licensed through outages
//!
//! An online usage license carries a refresh deadline (7 days after issue by default).
//! [`BackgroundRefresh`] runs a thread that refreshes it when half the remaining time has
//! passed, retries with backoff while the service is down, and reports each outcome to a
//! callback ([`RefreshEvent`]). A running broker is never stopped abruptly: if the service
//! stays unreachable past the deadline, the license state simply becomes
//! [`crate::LicenseState::RefreshOverdue`] and [`LicenseManager::has_feature`] returns false
//! from that second on (the callback gets [`RefreshEvent::LicenseLost`]); the next successful
//! refresh makes it active again. A cloud marketplace instance is kept refreshed the same
//! way by [`BackgroundRefresh::start_marketplace`] (through
//! [`crate::marketplace::MarketplaceClient::start_shared`]).
//!
//! # TLS
//!
//! The client uses rustls (ring) and trusts the Mozilla root certificates, or only the
//! certificates given in [`OnlineConfig::root_certs_pem`] (a private CA or a self-signed
//! service certificate). Plain `http://` URLs work too, for a service on loopback or behind a
//! TLS-terminating proxy on the same host; use `https://` everywhere else.

use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

pub use crate::cancel::{CallScope, CancelToken, ScopedCall};
use crate::clock::{Clock, SystemClock};
use crate::error::{Result, SdkError};
use crate::manager::{LicenseManager, Status};
use crate::marketplace::MarketplaceClient;

/// Where the service is and how to talk to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnlineConfig {
    /// The service's base URL, e.g. `https://licensing.example.com`.
    pub server: String,
    /// Longest wait for a connection. Default 5 s.
    pub connect_timeout: Duration,
    /// Longest wait for a whole request, from connecting to the end of the response.
    /// Default 20 s.
    pub timeout: Duration,
    /// Tries per operation, the first included. Default 4.
    pub attempts: u32,
    /// Wait before the first retry; doubled for each next one. Default 250 ms.
    pub backoff: Duration,
    /// Longest wait between two tries (also caps a `Retry-After`). Default 10 s.
    pub max_backoff: Duration,
    /// When set, the only trusted root certificates (PEM), instead of the Mozilla roots.
    pub root_certs_pem: Option<Vec<u8>>,
    /// When set, sent with every request as `Authorization: Bearer <token>` (a floating
    /// server's `checkout_token`).
    pub bearer_token: Option<BearerToken>,
}

/// A bearer token a client sends as `Authorization: Bearer <token>`: 1 to 1024 visible ASCII
/// characters, no spaces. Its `Debug` is `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// Checks `token`: fails with [`SdkError::InvalidArgument`] when it is empty, longer than
    /// 1024 bytes, or holds anything but visible ASCII.
    pub fn new(token: impl Into<String>) -> Result<Self> {
        let token = token.into();
        if token.is_empty() || token.len() > 1024 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SdkError::invalid(
                "a bearer token is 1-1024 visible ASCII characters without spaces",
            ));
        }
        Ok(BearerToken(token))
    }

    /// The token itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl OnlineConfig {
    /// The defaults for the service at `server`.
    pub fn new(server: impl Into<String>) -> Self {
        OnlineConfig {
            server: server.into(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(20),
            attempts: 4,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            root_certs_pem: None,
            bearer_token: None,
        }
    }
}

/// A [`LicenseManager`] shared across threads, as the `_shared` online calls lock it: only to
/// make a request and to apply the answer, never while waiting for the service.
pub trait SharedManager: Sync {
    /// Runs `f` on the manager under its exclusive lock. An implementation whose manager can
    /// be closed fails with [`SdkError::Cancelled`] once it is.
    fn with_manager<T>(&self, f: impl FnOnce(&mut LicenseManager) -> Result<T>) -> Result<T>;
}

impl SharedManager for RwLock<LicenseManager> {
    fn with_manager<T>(&self, f: impl FnOnce(&mut LicenseManager) -> Result<T>) -> Result<T> {
        f(&mut write(self))
    }
}

impl SharedManager for Mutex<LicenseManager> {
    fn with_manager<T>(&self, f: impl FnOnce(&mut LicenseManager) -> Result<T>) -> Result<T> {
        f(&mut self.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A usage license as the service returns it (the protocol's body; its `usage_license` is not
/// yet verified).
pub type ServiceAnswer = tollgate_protocol::online::UsageLicenseOut;

/// The outcome of an online deactivation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deactivation {
    /// The deactivation code (`TGDC:…`), kept by the manager as
    /// [`LicenseManager::last_deactivation_code`].
    pub code: String,
    /// True when the service had already freed the seat (a repeated delivery, or a seat the
    /// vendor restored); the seat is free either way.
    pub already_freed: bool,
}

use tollgate_core::UsageReport;
use tollgate_protocol::error::ErrorEnvelope as ErrorBody;
use tollgate_protocol::online::{
    DeactivationIn, UsageRequestIn, ACTIVATE, ALREADY_DEACTIVATED, DEACTIVATE, REFRESH,
};
pub use tollgate_protocol::usage::UsageVerdictName;
use tollgate_protocol::usage::{UsageReceipt, UsageSubmission, USAGE};

/// The most usage reports sent in one `POST /v1/usage` (about 45 KB of JSON at the largest
/// report size, under the service's 64 KiB body limit).
pub const MAX_REPORTS_PER_SUBMISSION: usize = 32;

/// A usage report the service kept but did not merge: the vendor must resolve it. It stays in
/// the host's outbox and is sent (and exported in the journal) again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlaggedReport {
    /// The device key of the report's chain.
    pub device_key: [u8; 32],
    /// Its sequence number.
    pub seq: u64,
    /// What the service made of it: [`UsageVerdictName::Gap`], [`UsageVerdictName::Fork`] or
    /// [`UsageVerdictName::Rewritten`].
    pub verdict: UsageVerdictName,
}

/// The outcome of [`OnlineClient::report_usage`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageSync {
    /// Reports sent.
    pub sent: usize,
    /// Reports the service merged (now or before), dropped from the outbox.
    pub acknowledged: usize,
    /// Reports the vendor dismissed (flagged before, then `resolve --dismiss`), dropped from
    /// the outbox: they are never billed.
    pub dismissed: usize,
    /// Reports the service flagged; they stay in the outbox.
    pub flagged: Vec<FlaggedReport>,
}

/// The outbox as submissions: per device key (in the order of first appearance), the
/// reports in the order cut, in bodies of at most [`MAX_REPORTS_PER_SUBMISSION`].
pub(crate) fn usage_submissions(outbox: &[UsageReport]) -> Vec<([u8; 32], Vec<UsageReport>)> {
    let mut by_key: Vec<([u8; 32], Vec<UsageReport>)> = Vec::new();
    for r in outbox {
        let key = r.claims().device_key;
        match by_key.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(r.clone()),
            None => by_key.push((key, vec![r.clone()])),
        }
    }
    by_key
        .into_iter()
        .flat_map(|(k, v)| {
            v.chunks(MAX_REPORTS_PER_SUBMISSION)
                .map(|c| (k, c.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The JSON body of one submission.
pub(crate) fn usage_body(reports: &[UsageReport]) -> Result<String> {
    serde_json::to_string(&UsageSubmission {
        reports: reports.iter().map(UsageReport::to_armor).collect(),
    })
    .map_err(|e| SdkError::BadResponse {
        reason: format!("cannot encode the request: {e}"),
    })
}

/// What [`read_receipt`] found: `merged_through`, the flagged reports, the dismissed `seq`s and
/// the head hash.
pub(crate) type ReceiptRead = (u64, Vec<FlaggedReport>, Vec<u64>, Option<[u8; 32]>);

/// Checks the service's receipt for the reports `sent` of `device_key` and returns the
/// sequence number to acknowledge, the reports it flagged, the `seq`s of the reports the
/// vendor dismissed and the hash merged at the acknowledged `seq` (if any). A receipt for
/// another device key or license, with a verdict on a report not sent or with a head hash that
/// is not 64 lower-case hex digits, is [`SdkError::BadResponse`].
pub(crate) fn read_receipt(
    device_key: &[u8; 32],
    sent: &[UsageReport],
    text: &str,
) -> Result<ReceiptRead> {
    let bad = |reason: String| SdkError::BadResponse { reason };
    let receipt: UsageReceipt =
        serde_json::from_str(text).map_err(|e| bad(format!("not a usage receipt: {e}")))?;
    if receipt.device_key != tollgate_core::hex_string(device_key) {
        return Err(bad("the usage receipt is for another device key".into()));
    }
    if !sent
        .iter()
        .any(|r| r.claims().license_id == receipt.license_id)
    {
        return Err(bad("the usage receipt is for another license".into()));
    }
    let head_hash = match &receipt.head_hash {
        None => None,
        Some(h) => {
            let mut out = [0u8; 32];
            if h.len() != 64 || h.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(bad(
                    "the usage receipt's head hash is not 64 hex digits".into()
                ));
            }
            hex::decode_to_slice(h, &mut out)
                .map_err(|_| bad("the usage receipt's head hash is not 64 hex digits".into()))?;
            Some(out)
        }
    };
    let mut flagged = Vec::new();
    let mut dismissed = Vec::new();
    for r in &receipt.results {
        if !sent.iter().any(|s| s.claims().seq == r.seq) {
            return Err(bad(format!(
                "the usage receipt judges report {}, which was not sent",
                r.seq
            )));
        }
        if r.verdict == UsageVerdictName::Dismissed {
            dismissed.push(r.seq);
        } else if !r.verdict.is_settled() {
            flagged.push(FlaggedReport {
                device_key: *device_key,
                seq: r.seq,
                verdict: r.verdict,
            });
        }
    }
    // A fork or a rewritten history (a restored backup, a cloned host): the vendor's chain is
    // not this host's, so its `merged_through` says nothing of this host's reports; only those
    // judged merged or duplicate are acknowledged. Otherwise a `merged_through` past this
    // host's chain stays an inconsistency (`UsageAckAhead`).
    let forked = flagged.iter().any(|f| {
        matches!(
            f.verdict,
            UsageVerdictName::Fork | UsageVerdictName::Rewritten
        )
    });
    let through = if forked {
        receipt
            .results
            .iter()
            .filter(|r| {
                matches!(
                    r.verdict,
                    UsageVerdictName::Merged | UsageVerdictName::Duplicate
                )
            })
            .map(|r| r.seq)
            .max()
            .unwrap_or(0)
            .min(receipt.merged_through)
    } else {
        receipt.merged_through
    };
    Ok((through, flagged, dismissed, head_hash))
}

/// A `&mut LicenseManager` as a [`SharedManager`], so the exclusive and the shared flows are
/// one code path.
struct Exclusive<'a>(Mutex<&'a mut LicenseManager>);

impl SharedManager for Exclusive<'_> {
    fn with_manager<T>(&self, f: impl FnOnce(&mut LicenseManager) -> Result<T>) -> Result<T> {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// One try's failure, before retries are decided.
enum Failure {
    /// Worth another try.
    Transient(SdkError, Option<Duration>),
    /// Final.
    Final(SdkError),
}

/// A client of the online activation service. Cheap to clone; safe to share across threads.
#[derive(Clone)]
pub struct OnlineClient {
    config: OnlineConfig,
    base: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for OnlineClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnlineClient")
            .field("server", &self.base)
            .finish_non_exhaustive()
    }
}

impl OnlineClient {
    /// A client for the service `config.server`. Fails with [`SdkError::InvalidArgument`] for
    /// a URL that is not `http://` or `https://`, or unreadable root certificates.
    pub fn new(config: OnlineConfig) -> Result<Self> {
        let base = service_base_url(&config.server)?;
        if config.attempts == 0 {
            return Err(SdkError::invalid("attempts must be at least 1"));
        }
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(pem) = &config.root_certs_pem {
            let certs = root_certificates(pem)?;
            tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .timeout_connect(Some(config.connect_timeout))
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("tollgate-sdk/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(OnlineClient {
            config,
            base,
            agent,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OnlineConfig {
        &self.config
    }

    // -- the three flows ----------------------------------------------------------------------

    /// Activates `manager` with the license key `key`: makes a usage request, has the service
    /// answer it (taking a seat when this host holds none), installs the usage license and
    /// returns the new status.
    ///
    /// Fails like [`LicenseManager::request_usage`] before anything is sent; with the
    /// service's errors (see the module docs); or like [`LicenseManager::install`] when the
    /// answer does not verify — a tampered answer is refused with the core's error. On any
    /// error the status is as before the call: the usage request it made is withdrawn (a
    /// failed activation does not leave the host pending).
    pub fn activate(&self, manager: &mut LicenseManager, key: &str) -> Result<Status> {
        let mark = manager.request_mark();
        let request = manager.request_usage(key)?;
        let done = self
            .post_usage_request_with(ACTIVATE, &request, None)
            .and_then(|answer| manager.install(&answer.usage_license));
        if done.is_err() {
            // The call's own error says what went wrong; a failure to undo is a storage
            // failure that the next change of the state reports.
            let _ = manager.undo_request(&mark, &request);
        }
        done
    }

    /// Reactivates: the same activation gets the license's current grant (an upgrade bought
    /// since, a renewed subscription) and a new refresh deadline, installed without a restart.
    /// Needs no license key.
    ///
    /// Fails with [`SdkError::NotActivated`] when this host has no activation, with
    /// [`SdkError::ServiceRefused`] code 323 (`NoActiveActivation`) when the service no longer
    /// counts it (deactivated, or freed by the vendor), and otherwise like
    /// [`OnlineClient::activate`]; on any error the status is as before the call.
    pub fn reactivate(&self, manager: &mut LicenseManager) -> Result<Status> {
        let mark = manager.request_mark();
        let request = manager.request_renewal()?;
        let done = self
            .post_usage_request_with(REFRESH, &request, None)
            .and_then(|answer| manager.install(&answer.usage_license));
        if done.is_err() {
            let _ = manager.undo_request(&mark, &request);
        } else {
            // Best effort: what is not delivered now stays in the outbox for the next round.
            let _ = self.report_usage(manager);
        }
        done
    }

    /// Reports the metered usage: cuts what accrued ([`LicenseManager::cut_all_usage`]),
    /// sends the outbox to the service (`POST /v1/usage`, one device key's reports per body,
    /// in the order cut) and drops what the service merged, now or before
    /// ([`LicenseManager::acknowledge_usage`] up to the receipt's `merged_through`). A report
    /// the service flags (a gap, a fork, a rewritten history) stays in the outbox and is in
    /// [`UsageSync::flagged`]: the vendor must resolve it. A flagged report the vendor then
    /// dismissed answers `dismissed` and is dropped too ([`UsageSync::dismissed`]): its units
    /// are never billed. When every report of a submission is dismissed (a restored backup's
    /// fork, after the vendor's `resolve --dismiss`), the chain continues from the vendor's
    /// head (the receipt's `merged_through` and `head_hash`), so the next report is merged.
    /// While a receipt flags a fork or a rewritten history, only the reports it judged merged
    /// or duplicate are acknowledged. Sends nothing when the outbox is empty.
    ///
    /// Fails with the service's errors (see the module docs; the reports stay), with
    /// [`SdkError::BadResponse`] for a receipt about another device key, license or report,
    /// with [`SdkError::UsageAckAhead`] for a receipt acknowledging reports this host never
    /// made (and flagging no fork or rewritten history), or with [`SdkError::Storage`].
    pub fn report_usage(&self, manager: &mut LicenseManager) -> Result<UsageSync> {
        self.report_usage_shared(&Exclusive(Mutex::new(manager)), None)
    }

    /// [`OnlineClient::report_usage`] on a manager shared across threads, locked only to cut,
    /// to read the outbox and to acknowledge, never while waiting for the service; `cancel`
    /// ends the call with [`SdkError::Cancelled`] (what was acknowledged before stays so).
    pub fn report_usage_shared<M: SharedManager + ?Sized>(
        &self,
        manager: &M,
        cancel: Option<&CancelToken>,
    ) -> Result<UsageSync> {
        if let Some(c) = cancel {
            c.check()?;
        }
        let outbox = manager.with_manager(|m| {
            m.cut_all_usage()?;
            Ok(m.usage_outbox())
        })?;
        let mut sync = UsageSync::default();
        for (device_key, reports) in usage_submissions(&outbox) {
            let text = self.post_with(USAGE, &usage_body(&reports)?, cancel)?;
            sync.sent += reports.len();
            let (merged_through, flagged, dismissed, head_hash) =
                read_receipt(&device_key, &reports, &text)?;
            let gone: Vec<UsageReport> = reports
                .iter()
                .filter(|r| dismissed.contains(&r.claims().seq))
                .cloned()
                .collect();
            if !gone.is_empty() && gone.len() == reports.len() {
                // Every report sent was dismissed by the vendor (a restored backup's fork):
                // drop them and continue the chain from the vendor's head.
                sync.dismissed += manager.with_manager(|m| {
                    m.drop_dismissed_and_rebase(&device_key, &gone, merged_through, head_hash)
                })?;
            } else {
                sync.acknowledged +=
                    manager.with_manager(|m| m.acknowledge_usage(&device_key, merged_through))?;
                if !gone.is_empty() {
                    sync.dismissed += manager.with_manager(|m| m.drop_dismissed_usage(&gone))?;
                }
            }
            sync.flagged.extend(flagged);
        }
        Ok(sync)
    }

    /// Deactivates: the manager removes the license and makes a deactivation code, and the
    /// service frees the seat with it.
    ///
    /// The host is deactivated first, whatever happens next. If the service cannot be reached
    /// the error says so and the code stays available as
    /// [`LicenseManager::last_deactivation_code`]: deliver it later with
    /// [`OnlineClient::send_deactivation`] (or by hand, as an offline deactivation).
    pub fn deactivate(&self, manager: &mut LicenseManager) -> Result<Deactivation> {
        let code = manager.deactivate()?;
        self.send_deactivation(&code)
    }

    /// Delivers a deactivation code (`TGDC:…`) to the service, which frees its seat. A code
    /// the service already processed counts as delivered (`already_freed`).
    ///
    /// The code is checked here first, and nothing is sent when it is not a well-formed
    /// deactivation code: the core's error says why (`ArmorPrefix`, `ArmorChecksum`,
    /// `WrongArtifactType`, …). Its signature is the vendor's to check (only the activation's
    /// device key verifies it).
    pub fn send_deactivation(&self, code: &str) -> Result<Deactivation> {
        self.send_deactivation_with(code, None)
    }

    /// [`OnlineClient::send_deactivation`] that `cancel` can cancel ([`SdkError::Cancelled`]).
    pub fn send_deactivation_with(
        &self,
        code: &str,
        cancel: Option<&CancelToken>,
    ) -> Result<Deactivation> {
        let code = code.trim();
        tollgate_core::DeactivationCode::from_armor(code)?;
        let body = serde_json::to_string(&DeactivationIn {
            code: code.to_owned(),
        })
        .map_err(|e| SdkError::BadResponse {
            reason: format!("cannot encode the request: {e}"),
        })?;
        match self.post_with(DEACTIVATE, &body, cancel) {
            Ok(_) => Ok(Deactivation {
                code: code.to_owned(),
                already_freed: false,
            }),
            Err(SdkError::ServiceRefused {
                code: ALREADY_DEACTIVATED,
                ..
            }) => Ok(Deactivation {
                code: code.to_owned(),
                already_freed: true,
            }),
            Err(e) => Err(e),
        }
    }

    // -- the flows on a shared manager ---------------------------------------------------------

    /// [`OnlineClient::activate`] on a manager shared across threads, which is locked only to
    /// make the request and to install the answer, never while waiting for the service: its
    /// status, feature checks and metered usage answer at once meanwhile, and `cancel`
    /// (when given) ends the call at once with [`SdkError::Cancelled`] (240).
    ///
    /// On any error (cancelled included) the status is as before the call. When the state
    /// changed meanwhile (another request, install or deactivation), the answer is not
    /// installed and the call fails with [`SdkError::StateChanged`] (241).
    pub fn activate_shared<M: SharedManager + ?Sized>(
        &self,
        manager: &M,
        key: &str,
        cancel: Option<&CancelToken>,
    ) -> Result<Status> {
        self.usage_flow(manager, ACTIVATE, cancel, |m| m.request_usage(key))
    }

    /// [`OnlineClient::reactivate`] on a manager shared across threads: the lock is held to
    /// make the request and to install the answer, not while waiting for the service (see
    /// [`OnlineClient::reactivate_shared_with`]).
    pub fn reactivate_shared<M: SharedManager + ?Sized>(&self, manager: &M) -> Result<Status> {
        self.reactivate_shared_with(manager, None)
    }

    /// [`OnlineClient::reactivate`] on a shared manager, cancellable, with the guarantees of
    /// [`OnlineClient::activate_shared`].
    pub fn reactivate_shared_with<M: SharedManager + ?Sized>(
        &self,
        manager: &M,
        cancel: Option<&CancelToken>,
    ) -> Result<Status> {
        let status = self.usage_flow(manager, REFRESH, cancel, LicenseManager::request_renewal)?;
        // Best effort, as in `reactivate`.
        let _ = self.report_usage_shared(manager, cancel);
        Ok(status)
    }

    /// [`OnlineClient::deactivate`] on a shared manager: the host is deactivated under the lock
    /// (at once, whatever happens next), and the code is delivered without it; `cancel` ends
    /// the delivery with [`SdkError::Cancelled`] (the code stays available as
    /// [`LicenseManager::last_deactivation_code`]).
    pub fn deactivate_shared<M: SharedManager + ?Sized>(
        &self,
        manager: &M,
        cancel: Option<&CancelToken>,
    ) -> Result<Deactivation> {
        if let Some(c) = cancel {
            c.check()?;
        }
        let code = manager.with_manager(|m| m.deactivate())?;
        self.send_deactivation_with(&code, cancel)
    }

    fn usage_flow<M: SharedManager + ?Sized>(
        &self,
        manager: &M,
        path: &str,
        cancel: Option<&CancelToken>,
        make: impl FnOnce(&mut LicenseManager) -> Result<String>,
    ) -> Result<Status> {
        shared_round(manager, cancel, make, |request| {
            self.post_usage_request_with(path, request, cancel)
                .map(|a| a.usage_license)
        })
    }

    // -- transport ----------------------------------------------------------------------------

    /// Sends an armored usage request to `path` (`/v1/activate`, `/v1/refresh` or
    /// `/v1/offline/fulfil`) and returns the service's answer, unverified.
    pub fn post_usage_request(&self, path: &str, request: &str) -> Result<ServiceAnswer> {
        self.post_usage_request_with(path, request, None)
    }

    /// [`OnlineClient::post_usage_request`] that `cancel` can cancel.
    pub fn post_usage_request_with(
        &self,
        path: &str,
        request: &str,
        cancel: Option<&CancelToken>,
    ) -> Result<ServiceAnswer> {
        let body = serde_json::to_string(&UsageRequestIn {
            request: request.to_owned(),
        })
        .map_err(|e| SdkError::BadResponse {
            reason: format!("cannot encode the request: {e}"),
        })?;
        let text = self.post_with(path, &body, cancel)?;
        serde_json::from_str(&text).map_err(|e| SdkError::BadResponse {
            reason: format!("not a usage license answer: {e}"),
        })
    }

    /// POSTs a JSON body with retries; returns the 2xx response body. (Also the transport of
    /// [`crate::floating::FloatingClient`] and [`crate::marketplace::MarketplaceClient`].)
    /// With `cancel`, each try runs on its own thread and the call waits for it, and for the
    /// pauses between tries, on the token.
    pub(crate) fn post_with(
        &self,
        path: &str,
        body: &str,
        cancel: Option<&CancelToken>,
    ) -> Result<String> {
        let url = format!("{}{}", self.base, path);
        let mut wait = self.config.backoff;
        let mut attempt = 1;
        loop {
            let tried = match cancel {
                None => self.try_post(&url, body),
                Some(token) => {
                    let (client, url, body) = (self.clone(), url.clone(), body.to_owned());
                    token.run(move || client.try_post(&url, &body))?
                }
            };
            match tried {
                Ok(text) => return Ok(text),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Transient(e, _)) if attempt >= self.config.attempts => return Err(e),
                Err(Failure::Transient(_, retry_after)) => {
                    let pause = retry_after.unwrap_or(wait).min(self.config.max_backoff);
                    match cancel {
                        None => std::thread::sleep(pause),
                        Some(token) => token.sleep(pause)?,
                    }
                    wait = wait.saturating_mul(2).min(self.config.max_backoff);
                    attempt += 1;
                }
            }
        }
    }

    fn try_post(&self, url: &str, body: &str) -> std::result::Result<String, Failure> {
        let mut req = self
            .agent
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json");
        if let Some(t) = &self.config.bearer_token {
            req = req.header("authorization", &format!("Bearer {}", t.expose()));
        }
        let mut resp = req
            .send(body)
            .map_err(|e| Failure::Transient(unreachable(&e), None))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_string()
            .map_err(|e| Failure::Transient(unreachable(&e), None))?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        let detail = serde_json::from_str::<ErrorBody>(&text)
            .ok()
            .map(|b| b.error);
        match status {
            429 => Err(Failure::Transient(
                SdkError::RateLimited {
                    retry_after_secs: retry_after.map_or(0, |d| d.as_secs()),
                },
                retry_after,
            )),
            500..=599 => Err(Failure::Transient(
                SdkError::ServiceUnavailable {
                    status,
                    code: detail.as_ref().map_or(0, |d| d.code),
                    message: detail.map_or_else(|| format!("HTTP {status}"), |d| d.message),
                },
                retry_after,
            )),
            _ => Err(Failure::Final(match detail {
                Some(d) => SdkError::ServiceRefused {
                    code: d.code,
                    name: d.name,
                    message: d.message,
                },
                None => SdkError::BadResponse {
                    reason: format!("HTTP {status} without an error body"),
                },
            })),
        }
    }
}

/// Checks a service's base URL and returns it without surrounding spaces or trailing slashes:
/// an absolute `http://` or `https://` URL with a host (`https://licensing.example.com`,
/// `http://127.0.0.1:8443/prefix`), without a query or fragment. Anything else, e.g. the
/// unclosed bracket of `http://[::1`, fails with [`SdkError::InvalidArgument`] here rather
/// than as [`SdkError::ServiceUnreachable`] after the retries. (Also used by
/// [`crate::floating::FloatingClient`].)
pub fn service_base_url(server: &str) -> Result<String> {
    let base = server.trim().trim_end_matches('/').to_owned();
    let bad = |why: &str| SdkError::invalid(format!("the service URL `{base}` {why}"));
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err(bad("must start with https:// or http://"));
    }
    let uri: ureq::http::Uri = base
        .parse()
        .map_err(|e| bad(&format!("is malformed: {e}")))?;
    if uri.host().is_none_or(|h| h.is_empty() || h == "[]") {
        return Err(bad("names no host"));
    }
    let authority = uri.authority().map_or("", |a| a.as_str());
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let port = host_port.strip_prefix(uri.host().unwrap_or_default());
    if port.is_some_and(|p| !p.is_empty() && p[1..].parse::<u16>().is_err()) {
        return Err(bad("has a port that is not a number from 0 to 65535"));
    }
    if uri.query().is_some() || base.contains('#') {
        return Err(bad("must not carry a query or a fragment"));
    }
    Ok(base)
}

/// Reads the trusted root certificates from PEM text: every `CERTIFICATE` block must hold a
/// well-formed X.509 certificate usable as a trust anchor, and there must be at least one;
/// other PEM blocks (keys, CRLs) are ignored. Anything else fails with
/// [`SdkError::InvalidArgument`] (a PEM block with no certificate in it, a damaged one, text
/// that is not PEM).
pub fn root_certificates(pem: &[u8]) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let certs = ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| SdkError::invalid(format!("root certificates: {e}")))?;
    if certs.is_empty() {
        return Err(SdkError::invalid(
            "root certificates: no certificate in the PEM text",
        ));
    }
    let mut store = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        let der = rustls::pki_types::CertificateDer::from(cert.der());
        store.add(der).map_err(|e| {
            SdkError::invalid(format!(
                "root certificates: PEM block {} is not a usable certificate: {e}",
                i + 1
            ))
        })?;
    }
    Ok(certs)
}

fn unreachable(e: &ureq::Error) -> SdkError {
    SdkError::ServiceUnreachable {
        reason: e.to_string(),
    }
}

fn write(m: &RwLock<LicenseManager>) -> std::sync::RwLockWriteGuard<'_, LicenseManager> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

fn read(m: &RwLock<LicenseManager>) -> std::sync::RwLockReadGuard<'_, LicenseManager> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Background refresh
// ---------------------------------------------------------------------------------------------

/// When [`BackgroundRefresh`] refreshes and retries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefreshPolicy {
    /// Refresh once this fraction of the time left until the refresh deadline has passed.
    /// Default 0.5.
    pub fraction: f64,
    /// Never refresh more often than this. Default 60 s.
    pub min_interval: Duration,
    /// First wait after a failed refresh; doubled after each next failure. Default 15 s.
    pub retry_initial: Duration,
    /// Longest wait between retries. Default 15 min.
    pub retry_max: Duration,
    /// How often to look again when nothing online is installed. Default 5 min.
    pub idle_check: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            fraction: 0.5,
            min_interval: Duration::from_secs(60),
            retry_initial: Duration::from_secs(15),
            retry_max: Duration::from_secs(15 * 60),
            idle_check: Duration::from_secs(5 * 60),
        }
    }
}

/// What [`BackgroundRefresh`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshEvent {
    /// A new usage license was installed.
    Refreshed {
        /// Its refresh deadline (Unix seconds).
        refresh_deadline: Option<u64>,
        /// The license revision it carries (higher after an upgrade).
        revision: u32,
    },
    /// A refresh failed for a reason that may pass (the service is unreachable or
    /// overloaded); it is retried after `retry_in`. The license stays usable until its
    /// refresh deadline.
    RefreshFailed {
        /// Why.
        error: SdkError,
        /// When the next try is.
        retry_in: Duration,
    },
    /// The license is no longer usable: its refresh deadline passed without a refresh
    /// (`Core(RefreshOverdue)`; refreshing continues, and success makes it active again), or
    /// the service refused the refresh for good (e.g. code 323 `NoActiveActivation`: the
    /// activation was freed; refreshing stops until [`BackgroundRefresh::refresh_now`]).
    LicenseLost {
        /// Why.
        error: SdkError,
    },
}

struct Control {
    stop: bool,
    now: bool,
}

type Signal = Arc<(Mutex<Control>, Condvar)>;

/// A thread that keeps an online activation refreshed (see the module docs). Stopping or
/// dropping it ends the thread; the license state is not touched.
pub struct BackgroundRefresh {
    signal: Signal,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for BackgroundRefresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundRefresh").finish_non_exhaustive()
    }
}

/// A failure that another try will not change.
fn is_final(e: &SdkError) -> bool {
    matches!(e, SdkError::ServiceRefused { .. } | SdkError::NotActivated)
}

impl BackgroundRefresh {
    /// Starts refreshing the online activation of `manager` through `client`, reporting to
    /// `on_event` (called on the refresh thread; keep it short).
    pub fn start(
        manager: Arc<RwLock<LicenseManager>>,
        client: OnlineClient,
        policy: RefreshPolicy,
        on_event: impl Fn(&RefreshEvent) + Send + 'static,
    ) -> Result<Self> {
        Self::start_with_clock(manager, client, policy, Arc::new(SystemClock), on_event)
    }

    /// [`BackgroundRefresh::start`] reading the time from `clock` (the manager's clock).
    pub fn start_with_clock(
        manager: Arc<RwLock<LicenseManager>>,
        client: OnlineClient,
        policy: RefreshPolicy,
        clock: Arc<dyn Clock>,
        on_event: impl Fn(&RefreshEvent) + Send + 'static,
    ) -> Result<Self> {
        Self::spawn(
            manager,
            Source::Online(client),
            policy,
            clock,
            Box::new(on_event),
        )
    }

    /// Keeps a marketplace instance's activation refreshed the same way: each refresh reads
    /// the cloud's signed identity again and goes through
    /// [`MarketplaceClient::start_shared`], so a seat that the service freed (323) or that
    /// belongs to another instance (385) is replaced by a fresh activation of this instance
    /// (reported as [`RefreshEvent::Refreshed`]), and a forged or foreign identity (381/382)
    /// removes the license ([`RefreshEvent::LicenseLost`]). An unreachable metadata service
    /// is retried like an unreachable activation service. `clock` is the manager's clock.
    pub fn start_marketplace(
        manager: Arc<RwLock<LicenseManager>>,
        client: MarketplaceClient,
        policy: RefreshPolicy,
        clock: Arc<dyn Clock>,
        on_event: impl Fn(&RefreshEvent) + Send + 'static,
    ) -> Result<Self> {
        Self::spawn(
            manager,
            Source::Marketplace(client),
            policy,
            clock,
            Box::new(on_event),
        )
    }

    fn spawn(
        manager: Arc<RwLock<LicenseManager>>,
        source: Source,
        policy: RefreshPolicy,
        clock: Arc<dyn Clock>,
        on_event: Box<dyn Fn(&RefreshEvent) + Send>,
    ) -> Result<Self> {
        let signal: Signal = Arc::new((
            Mutex::new(Control {
                stop: false,
                now: false,
            }),
            Condvar::new(),
        ));
        let worker = Worker {
            manager,
            source,
            policy,
            clock,
            on_event,
            signal: Arc::clone(&signal),
        };
        let thread = std::thread::Builder::new()
            .name("tollgate-refresh".into())
            .spawn(move || worker.run())
            .map_err(SdkError::from)?;
        Ok(BackgroundRefresh {
            signal,
            thread: Some(thread),
        })
    }

    /// Refreshes now (e.g. the status page's "Reactivate" button), also after a
    /// [`RefreshEvent::LicenseLost`] that stopped the refreshing.
    pub fn refresh_now(&self) {
        let (lock, cvar) = &*self.signal;
        lock.lock().unwrap_or_else(|p| p.into_inner()).now = true;
        cvar.notify_all();
    }

    /// Stops the thread and waits for it (at most the end of a request in flight).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let (lock, cvar) = &*self.signal;
        lock.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
        cvar.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BackgroundRefresh {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What the worker refreshes through.
enum Source {
    Online(OnlineClient),
    Marketplace(MarketplaceClient),
}

struct Worker {
    manager: Arc<RwLock<LicenseManager>>,
    source: Source,
    policy: RefreshPolicy,
    clock: Arc<dyn Clock>,
    on_event: Box<dyn Fn(&RefreshEvent) + Send>,
    signal: Signal,
}

impl Worker {
    /// Waits `d` or until told; returns false when told to stop.
    fn wait(&self, d: Duration) -> bool {
        let (lock, cvar) = &*self.signal;
        let mut c = lock.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = std::time::Instant::now() + d;
        while !c.stop && !c.now {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            c = cvar
                .wait_timeout(c, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        c.now = false;
        !c.stop
    }

    /// The refresh deadline of the installed online license, if any.
    fn deadline(&self) -> Option<u64> {
        read(&self.manager)
            .installed_license()
            .and_then(|l| l.terms().refresh_deadline)
    }

    fn run(self) {
        let mut retry: Option<Duration> = None;
        let mut lost_overdue = false;
        let mut gave_up = false;
        loop {
            let now = self.clock.now();
            let wait = match (self.deadline(), retry) {
                _ if gave_up => self.policy.idle_check.max(Duration::from_secs(3600)),
                (None, _) => self.policy.idle_check,
                // Wake at the deadline too, to report a lost license on time.
                (Some(deadline), Some(r)) if !lost_overdue && deadline > now => {
                    r.min(Duration::from_secs(deadline - now + 1))
                }
                (Some(_), Some(r)) => r,
                (Some(deadline), None) => {
                    let left = deadline.saturating_sub(now) as f64 * self.policy.fraction;
                    Duration::from_secs_f64(left).max(self.policy.min_interval)
                }
            };
            if !self.wait(wait) {
                return;
            }
            let Some(deadline) = self.deadline() else {
                continue;
            };
            gave_up = false;
            let refreshed = match &self.source {
                Source::Online(c) => c.reactivate_shared(&*self.manager),
                Source::Marketplace(c) => c.start_shared(&*self.manager, None),
            };
            match refreshed {
                Ok(status) => {
                    retry = None;
                    lost_overdue = false;
                    let lic = status.license.as_ref();
                    (self.on_event)(&RefreshEvent::Refreshed {
                        refresh_deadline: self.deadline(),
                        revision: lic.map_or(0, |l| l.revision),
                    });
                }
                Err(error) if is_final(&error) => {
                    retry = None;
                    gave_up = true;
                    (self.on_event)(&RefreshEvent::LicenseLost { error });
                }
                Err(error) => {
                    let next = retry.map_or(self.policy.retry_initial, |r| {
                        r.saturating_mul(2).min(self.policy.retry_max)
                    });
                    retry = Some(next);
                    (self.on_event)(&RefreshEvent::RefreshFailed {
                        error,
                        retry_in: next,
                    });
                    if !lost_overdue && self.clock.now() >= deadline {
                        lost_overdue = true;
                        (self.on_event)(&RefreshEvent::LicenseLost {
                            error: tollgate_core::Error::RefreshOverdue.into(),
                        });
                    }
                }
            }
        }
    }
}

/// One request → answer → install round on a shared manager, locked only around the ends:
/// `make` makes the usage request under the lock, `send` gets the armored usage license
/// without it, and the answer is installed only if the request is still the pending one
/// ([`SdkError::StateChanged`] otherwise). On any error the request is undone. Shared by the
/// online and the marketplace clients.
pub(crate) fn shared_round<M: SharedManager + ?Sized>(
    manager: &M,
    cancel: Option<&CancelToken>,
    make: impl FnOnce(&mut LicenseManager) -> Result<String>,
    send: impl FnOnce(&str) -> Result<String>,
) -> Result<Status> {
    if let Some(c) = cancel {
        c.check()?;
    }
    let (mark, request) = manager.with_manager(|m| {
        let mark = m.request_mark();
        Ok((mark, make(m)?))
    })?;
    let answer = send(&request);
    manager.with_manager(|m| {
        let done = answer.and_then(|usage_license| {
            if !m.is_pending(&request) {
                return Err(SdkError::StateChanged);
            }
            m.install(&usage_license)
        });
        if done.is_err() {
            let _ = m.undo_request(&mark, &request);
        }
        done
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A stub service answering each connection with the next canned response; returns its
    /// URL and the count of requests it received.
    fn stub(responses: Vec<(u16, &'static str, Option<u64>)>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        std::thread::spawn(move || {
            for (status, body, retry_after) in responses {
                let (mut conn, _) = listener.accept().unwrap();
                // Read the whole request (headers and body) before answering.
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = conn.read(&mut buf).unwrap();
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req).to_ascii_lowercase();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        if body.len() >= len {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let extra = retry_after.map_or(String::new(), |s| format!("retry-after: {s}\r\n"));
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, count)
    }

    fn client(url: &str) -> OnlineClient {
        let mut cfg = OnlineConfig::new(url);
        cfg.attempts = 3;
        cfg.backoff = Duration::from_millis(10);
        cfg.max_backoff = Duration::from_millis(50);
        OnlineClient::new(cfg).unwrap()
    }

    const ANSWER: &str = r#"{"usage_license":"TGUL:x","license_id":1,"activation_id":2,
        "revision":1,"new_activation":true,"repeated":false,"refresh_deadline":99}"#;

    #[test]
    fn transient_failures_are_retried() {
        let (url, count) = stub(vec![
            (
                503,
                r#"{"error":{"code":503,"name":"Unavailable","message":"busy"}}"#,
                None,
            ),
            (
                429,
                r#"{"error":{"code":429,"name":"RateLimited","message":"later"}}"#,
                Some(1),
            ),
            (200, ANSWER, None),
        ]);
        let a = client(&url)
            .post_usage_request("/v1/activate", "TGRQ:x")
            .unwrap();
        assert_eq!((a.activation_id, a.refresh_deadline), (2, Some(99)));
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn bearer_tokens_are_checked_and_redacted() {
        let t = BearerToken::new("plant-7-token-0123456789").unwrap();
        assert_eq!(t.expose(), "plant-7-token-0123456789");
        assert_eq!(format!("{t:?}"), "<redacted>");
        for bad in ["", "with space", "new\nline", "é"] {
            assert_eq!(BearerToken::new(bad).unwrap_err().code(), 211, "{bad:?}");
        }
        assert_eq!(BearerToken::new("x".repeat(1025)).unwrap_err().code(), 211);
        let mut c = OnlineConfig::new("http://127.0.0.1:1");
        c.bearer_token = Some(t);
        assert!(!format!("{c:?}").contains("plant-7"));
    }

    #[test]
    fn refusals_are_final_and_typed() {
        let (url, count) = stub(vec![(
            409,
            r#"{"error":{"code":303,"name":"SeatsExhausted","message":"all 1 in use"}}"#,
            None,
        )]);
        let e = client(&url)
            .post_usage_request("/v1/activate", "TGRQ:x")
            .unwrap_err();
        assert_eq!(
            e,
            SdkError::ServiceRefused {
                code: 303,
                name: "SeatsExhausted".into(),
                message: "all 1 in use".into()
            }
        );
        assert_eq!((e.code(), count.load(Ordering::SeqCst)), (231, 1));

        let (url, _) = stub(vec![(200, "<html>", None)]);
        let e = client(&url)
            .post_usage_request("/v1/activate", "TGRQ:x")
            .unwrap_err();
        assert_eq!(e.code(), 234, "{e:?}");

        let body = r#"{"error":{"code":500,"name":"Internal","message":"boom"}}"#;
        let (url, count) = stub(vec![
            (500, body, None),
            (500, body, None),
            (500, body, None),
        ]);
        let e = client(&url)
            .post_usage_request("/v1/activate", "TGRQ:x")
            .unwrap_err();
        assert!(
            matches!(e, SdkError::ServiceUnavailable { status: 500, .. }),
            "{e:?}"
        );
        assert_eq!(count.load(Ordering::SeqCst), 3, "every attempt used");

        let (url, _) = stub(vec![(
            409,
            r#"{"error":{"code":306,"name":"AlreadyDeactivated","message":"x"}}"#,
            None,
        )]);
        let code = deactivation_code();
        let done = client(&url).send_deactivation(&code).unwrap();
        assert!(done.already_freed);
        assert_eq!(done.code, code);
    }

    fn deactivation_code() -> String {
        let claims = tollgate_core::DeactivationClaims {
            activation_id: 7,
            license_id: 3,
            counter: 2,
            deactivated_at: 1_700_000_000,
        };
        let device = tollgate_core::DeviceKey::from_seed(&[7; 32]);
        tollgate_core::DeactivationCode::create(claims, &device)
            .unwrap()
            .to_armor()
    }

    #[test]
    fn a_deactivation_code_is_checked_before_it_is_sent() {
        let (url, count) = stub(vec![(200, "{}", None); 3]);
        let c = client(&url);
        let code = deactivation_code();
        let mut damaged = code.clone();
        damaged.replace_range(10..11, if &code[10..11] == "A" { "B" } else { "A" });
        let usage_request_armor = format!("TGRQ{}", &code[4..]);
        for (text, want) in [
            ("", 100),
            ("hello", 100),
            ("TGDC:x", 101),
            (damaged.as_str(), 102),
            (usage_request_armor.as_str(), 103),
        ] {
            let e = c.send_deactivation(text).unwrap_err();
            assert_eq!(e.code(), want, "{text:?}: {e:?}");
        }
        assert_eq!(count.load(Ordering::SeqCst), 0, "nothing was sent");
        let padded = format!("  {code}\n");
        assert_eq!(c.send_deactivation(&padded).unwrap().code, code);
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(OnlineClient::new(OnlineConfig::new("licensing.example.com")).is_err());
        let mut cfg = OnlineConfig::new("https://licensing.example.com/");
        cfg.attempts = 0;
        assert!(OnlineClient::new(cfg.clone()).is_err());
        cfg.attempts = 1;
        cfg.root_certs_pem = Some(b"not a certificate".to_vec());
        assert!(OnlineClient::new(cfg).is_err());
    }

    #[test]
    fn malformed_urls_are_argument_errors() {
        for bad in [
            "http://[::1",
            "http://[::1/v1",
            "http://",
            "https:///path",
            "http://exa mple.com",
            "http://example.com:99999",
            "http://example.com:",
            "http://[::1]:x",
            "http://example.com/?q=1",
            "http://example.com/#frag",
            "ftp://example.com",
            "example.com",
        ] {
            let e = OnlineClient::new(OnlineConfig::new(bad)).unwrap_err();
            assert_eq!(e.code(), 211, "{bad}: {e:?}");
        }
        for good in [
            "http://[::1]:8080",
            "http://user@example.com:65535",
            "http://127.0.0.1:1/",
            " https://licensing.example.com/prefix// ",
        ] {
            assert!(service_base_url(good).is_ok(), "{good}");
        }
        assert_eq!(
            service_base_url(" https://licensing.example.com/prefix// ").unwrap(),
            "https://licensing.example.com/prefix"
        );
    }

    #[test]
    fn pem_without_a_certificate_is_an_argument_error() {
        let empty_block = b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
        let garbage_block = b"-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n";
        let key_only = b"-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n";
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let good = certified.cert.pem();
        let good_then_garbage = [good.as_bytes(), &garbage_block[..]].concat();
        for bad in [
            &empty_block[..],
            &garbage_block[..],
            &key_only[..],
            b"",
            b"not a certificate",
            &good_then_garbage[..],
        ] {
            let mut cfg = OnlineConfig::new("https://licensing.example.com");
            cfg.root_certs_pem = Some(bad.to_vec());
            let e = OnlineClient::new(cfg).unwrap_err();
            assert_eq!(e.code(), 211, "{:?}: {e:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(root_certificates(good.as_bytes()).unwrap().len(), 1);
        let two = format!("{good}{}", String::from_utf8_lossy(key_only)) + &good;
        assert_eq!(root_certificates(two.as_bytes()).unwrap().len(), 2);
    }

    fn usage_reports(seed: u8, n: u64) -> Vec<UsageReport> {
        let device = tollgate_core::DeviceKey::from_seed(&[seed; 32]);
        let mut out: Vec<UsageReport> = Vec::new();
        for seq in 1..=n {
            let claims = tollgate_core::UsageClaims {
                license_id: 42,
                device_key: device.public_key(),
                seq,
                prev_hash: out.last().map_or([0; 32], UsageReport::hash),
                created_at: 1_700_000_000 + seq,
                entries: vec![tollgate_core::UsageEntry {
                    feature: "bridge".into(),
                    period: tollgate_core::MeterPeriod::Day,
                    period_start: 1_699_920_000,
                    units: seq,
                }],
            };
            out.push(UsageReport::create(claims, &device).unwrap());
        }
        out
    }

    #[test]
    fn usage_reports_go_per_device_key_in_bounded_bodies() {
        let a = usage_reports(1, 35);
        let b = usage_reports(2, 2);
        // Interleaved in the outbox (a chain cut, deactivated, a new one, …): grouped by key.
        let outbox: Vec<UsageReport> = [&a[..20], &b[..], &a[20..]].concat();
        let subs = usage_submissions(&outbox);
        let shape: Vec<([u8; 32], Vec<u64>)> = subs
            .iter()
            .map(|(k, v)| (*k, v.iter().map(|r| r.claims().seq).collect()))
            .collect();
        let ka = a[0].claims().device_key;
        let kb = b[0].claims().device_key;
        assert_eq!(
            shape,
            vec![
                (ka, (1..=32).collect()),
                (ka, (33..=35).collect()),
                (kb, vec![1, 2]),
            ]
        );
        assert!(usage_submissions(&[]).is_empty());
        assert_eq!(
            usage_body(&b).unwrap(),
            format!(
                r#"{{"reports":["{}","{}"]}}"#,
                b[0].to_armor(),
                b[1].to_armor()
            )
        );
        // The largest body stays under the service's 64 KiB limit.
        let big = format!(
            r#"{{"reports":[{}]}}"#,
            vec![format!("\"{}\"", "x".repeat(1380)); 32].join(",")
        );
        assert!(big.len() < 64 * 1024, "{}", big.len());
    }

    #[test]
    fn usage_receipts_are_checked() {
        let sent = usage_reports(1, 3);
        let key = sent[0].claims().device_key;
        let hex = tollgate_core::hex_string(&key);
        let receipt = |license: u64, device: &str, through: u64, results: &str| {
            format!(
                r#"{{"license_id":{license},"device_key":"{device}","merged_through":{through},"results":[{results}]}}"#
            )
        };
        let ok = receipt(
            42,
            &hex,
            2,
            r#"{"seq":1,"verdict":"duplicate"},{"seq":2,"verdict":"merged"},{"seq":3,"verdict":"fork"}"#,
        );
        assert_eq!(
            read_receipt(&key, &sent, &ok).unwrap(),
            (
                2,
                vec![FlaggedReport {
                    device_key: key,
                    seq: 3,
                    verdict: UsageVerdictName::Fork
                }],
                vec![],
                None
            )
        );
        let gap = receipt(
            42,
            &hex,
            0,
            r#"{"seq":1,"verdict":"gap"},{"seq":2,"verdict":"rewritten"}"#,
        );
        let (through, flagged, dismissed, _) = read_receipt(&key, &sent, &gap).unwrap();
        assert_eq!((through, flagged.len(), dismissed.len()), (0, 2, 0));
        let gone = receipt(
            42,
            &hex,
            0,
            r#"{"seq":2,"verdict":"dismissed"},{"seq":3,"verdict":"fork"}"#,
        );
        let gone = gone.replace(
            "\"results\"",
            &format!("\"head_hash\":\"{}\",\"results\"", "cd".repeat(32)),
        );
        let (through, flagged, dismissed, head) = read_receipt(&key, &sent, &gone).unwrap();
        assert_eq!(head, Some([0xcd; 32]));
        assert_eq!(
            (
                through,
                flagged.iter().map(|f| f.seq).collect::<Vec<_>>(),
                dismissed
            ),
            (0, vec![3], vec![2])
        );
        for bad in [
            receipt(42, &"00".repeat(32), 2, ""),
            receipt(42, &hex.to_uppercase(), 2, ""),
            receipt(43, &hex, 2, ""),
            receipt(42, &hex, 2, r#"{"seq":9,"verdict":"merged"}"#),
            receipt(42, &hex, 2, r#"{"seq":1,"verdict":"lost"}"#),
            receipt(42, &hex, 2, "").replace("\"results\"", "\"head_hash\":\"zz\",\"results\""),
            receipt(42, &hex, 2, "").replace(
                "\"results\"",
                &format!("\"head_hash\":\"{}\",\"results\"", "AB".repeat(32)),
            ),
            "{}".to_owned(),
            "not json".to_owned(),
        ] {
            assert_eq!(
                read_receipt(&key, &sent, &bad).unwrap_err().code(),
                234,
                "{bad}"
            );
        }
    }
}
