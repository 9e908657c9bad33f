//! [`OnlineClient`]: the client of the vendor's online activation service (`tollgate-server`),
//! over [`tollgate_sdk::online::OnlineClient`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tollgate_sdk::online::{CancelToken, ScopedCall};

use crate::error::TollgateError;
use crate::manager::LicenseManager;
use crate::types::Status;

/// How to talk to the online activation service; every field has a default. Transient
/// failures (unreachable, HTTP 5xx, 429) are retried with exponential backoff.
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct OnlineOptions {
    /// When set, the only trusted root certificates (PEM text: a private CA or the service's
    /// self-signed certificate) instead of the Mozilla roots.
    #[uniffi(default = None)]
    pub root_certs_pem: Option<Vec<u8>>,
    /// Longest wait for a connection, in milliseconds (default 5,000).
    #[uniffi(default = None)]
    pub connect_timeout_ms: Option<u64>,
    /// Longest wait for a whole request, in milliseconds (default 20,000).
    #[uniffi(default = None)]
    pub timeout_ms: Option<u64>,
    /// Tries per operation, the first included (default 4; at least 1).
    #[uniffi(default = None)]
    pub attempts: Option<u32>,
    /// Wait before the first retry, in milliseconds; doubled for each next one (default 250).
    #[uniffi(default = None)]
    pub backoff_ms: Option<u64>,
    /// Longest wait between two tries, in milliseconds (default 10,000).
    #[uniffi(default = None)]
    pub max_backoff_ms: Option<u64>,
}

/// The outcome of an online deactivation.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Deactivation {
    /// The deactivation code (`TGDC:…`), also kept by the manager
    /// ([`LicenseManager::last_deactivation_code`]).
    pub code: String,
    /// True when the service had already freed the seat (a repeated delivery, or a seat the
    /// vendor restored); the seat is free either way.
    pub already_freed: bool,
}

impl From<tollgate_sdk::online::Deactivation> for Deactivation {
    fn from(d: tollgate_sdk::online::Deactivation) -> Self {
        Deactivation {
            code: d.code,
            already_freed: d.already_freed,
        }
    }
}

/// A client of the vendor's online activation service (`tollgate-server`): activates,
/// reactivates and deactivates a [`LicenseManager`] over HTTPS (or plain HTTP on loopback).
/// Each operation is the offline round trip with the service as the courier; the license key
/// never leaves the host (the usage request carries only a proof of it).
///
/// Failures raise `TollgateError.Service` (Kotlin `TollgateException.Service`): 230 unreachable,
/// 232 unavailable, 233 rate limited, 234 unexpected answer, or the service's refusal with its
/// own code (300 `UnknownKey`, 303 `SeatsExhausted`, 323 `NoActiveActivation`, …); an answer
/// that does not verify is refused like `install` (`Rejected`), and the host's own refusals
/// are `Runtime` errors.
///
/// # Thread safety
///
/// Any number of threads may share one client. An operation locks the manager only to make
/// its usage request and to install the answer, never while the service answers: `status`,
/// `has_feature`, `record_usage` and every other call on the manager answer meanwhile.
/// [`OnlineClient::cancel`] (any thread) ends the client's operations in flight at once with
/// `Runtime` 240 `Cancelled`, and `LicenseManager.release` those on its manager. On any error,
/// cancelled included, the status is as before the call (241 `StateChanged` when another call
/// changed the license state meanwhile; the answer is then not installed).
#[derive(Debug, uniffi::Object)]
pub struct OnlineClient {
    inner: tollgate_sdk::online::OnlineClient,
    /// Cancelled and replaced by [`OnlineClient::cancel`]; every call links its token to it.
    cancel: Mutex<CancelToken>,
}

impl OnlineClient {
    /// Starts a call on `manager`: cancelled by [`OnlineClient::cancel`] and by releasing the
    /// manager.
    fn start<'m>(&self, manager: &'m LicenseManager) -> Result<ScopedCall<'m>, TollgateError> {
        let call = manager.calls.enter()?;
        call.token()
            .link_to(&self.cancel.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(call)
    }
}

#[uniffi::export]
impl OnlineClient {
    /// A client of the service at `server` (its base URL, `https://…`, or `http://…` for a
    /// service on loopback or behind a TLS-terminating proxy on the same host). Nothing is
    /// sent yet.
    ///
    /// Fails with `Runtime` 211 `InvalidArgument`: not an `http(s)://` URL, `attempts` 0,
    /// unreadable certificates or PEM text without a certificate.
    #[uniffi::constructor(default(options = None))]
    pub fn new(server: String, options: Option<OnlineOptions>) -> Result<Arc<Self>, TollgateError> {
        Ok(Arc::new(OnlineClient {
            inner: tollgate_sdk::online::OnlineClient::new(online_config(server, options))?,
            cancel: Mutex::new(CancelToken::new()),
        }))
    }

    /// Activates `manager` with the license key `key` (as the customer typed it): makes a
    /// usage request, has the service answer it (taking a seat when this host holds none),
    /// installs the online usage license and returns the new status.
    ///
    /// Fails like `LicenseManager.request_usage` before anything is sent (`Rejected` 118
    /// `KeyChecksum` for a typo, …), with the service's errors (`Service`), or like
    /// `LicenseManager.install` when the answer does not verify.
    pub fn activate(&self, manager: &LicenseManager, key: &str) -> Result<Status, TollgateError> {
        let call = self.start(manager)?;
        Ok(self
            .inner
            .activate_shared(manager, key, Some(call.token()))?
            .into())
    }

    /// Reactivates `manager`: the same activation gets the license's current grant (an
    /// upgrade, a renewed subscription) and a new refresh deadline, installed at once. Needs
    /// no license key.
    ///
    /// Fails with `Runtime` 200 `NotActivated` when this host has no activation, `Service`
    /// 323 `NoActiveActivation` when the service no longer counts it (deactivated, or freed
    /// by the vendor), and otherwise like [`OnlineClient::activate`].
    pub fn reactivate(&self, manager: &LicenseManager) -> Result<Status, TollgateError> {
        let call = self.start(manager)?;
        Ok(self
            .inner
            .reactivate_shared_with(manager, Some(call.token()))?
            .into())
    }

    /// Deactivates `manager`: removes the installed license for good, and the service frees
    /// the seat with the deactivation code.
    ///
    /// The host is deactivated first, whatever happens next: when the service cannot be
    /// reached the `Service` error says so and the code stays available as
    /// `manager.last_deactivation_code()`; deliver it later with
    /// [`OnlineClient::send_deactivation`] (or to the vendor, as an offline deactivation).
    /// Fails with `Runtime` 200 `NotActivated` when nothing is installed.
    pub fn deactivate(&self, manager: &LicenseManager) -> Result<Deactivation, TollgateError> {
        let call = self.start(manager)?;
        Ok(self
            .inner
            .deactivate_shared(manager, Some(call.token()))?
            .into())
    }

    /// Delivers a deactivation code (`TGDC:…`) to the service, which frees its seat. A code
    /// the service already processed counts as delivered (`already_freed`). Fails with the
    /// service's errors (`Service`: 230–234, or its refusal code).
    pub fn send_deactivation(&self, code: &str) -> Result<Deactivation, TollgateError> {
        let token = CancelToken::new();
        token.link_to(&self.cancel.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(self
            .inner
            .send_deactivation_with(code, Some(&token))?
            .into())
    }

    /// Cancels every operation of this client in flight now, from any thread: each raises
    /// `Runtime` 240 `Cancelled` at once, having changed nothing on its manager (an online
    /// deactivation has deactivated the host already; its code stays available as
    /// `manager.last_deactivation_code()`). Operations started afterwards run normally.
    pub fn cancel(&self) {
        let old = std::mem::take(&mut *self.cancel.lock().unwrap_or_else(PoisonError::into_inner));
        old.cancel("cancelled by OnlineClient.cancel");
    }

    /// The service's base URL, as given.
    pub fn server(&self) -> String {
        self.inner.config().server.clone()
    }
}

/// The SDK's client settings for `server` with `options` applied.
pub(crate) fn online_config(
    server: String,
    options: Option<OnlineOptions>,
) -> tollgate_sdk::online::OnlineConfig {
    let o = options.unwrap_or_default();
    let mut config = tollgate_sdk::online::OnlineConfig::new(server);
    config.root_certs_pem = o.root_certs_pem;
    if let Some(ms) = o.connect_timeout_ms {
        config.connect_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = o.timeout_ms {
        config.timeout = Duration::from_millis(ms);
    }
    if let Some(n) = o.attempts {
        config.attempts = n;
    }
    if let Some(ms) = o.backoff_ms {
        config.backoff = Duration::from_millis(ms);
    }
    if let Some(ms) = o.max_backoff_ms {
        config.max_backoff = Duration::from_millis(ms);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(server: &str, options: OnlineOptions) -> Result<Arc<OnlineClient>, TollgateError> {
        OnlineClient::new(server.into(), Some(options))
    }

    #[test]
    fn bad_arguments_are_invalid_arguments() {
        let none = OnlineOptions::default();
        assert_eq!(
            client("ftp://example.com", none.clone())
                .unwrap_err()
                .code(),
            211
        );
        assert_eq!(client("", none.clone()).unwrap_err().code(), 211);
        let zero = OnlineOptions {
            attempts: Some(0),
            ..OnlineOptions::default()
        };
        assert_eq!(client("http://127.0.0.1:1", zero).unwrap_err().code(), 211);
        let no_cert = OnlineOptions {
            root_certs_pem: Some(
                b"-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n".to_vec(),
            ),
            ..OnlineOptions::default()
        };
        assert_eq!(
            client("https://example.com", no_cert).unwrap_err().code(),
            211
        );
        let ok = OnlineClient::new("http://127.0.0.1:1/".into(), None).unwrap();
        assert_eq!(ok.server(), "http://127.0.0.1:1/");
    }

    #[test]
    fn an_unreachable_service_is_a_service_error() {
        // A port nobody listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = client(
            &format!("http://127.0.0.1:{port}"),
            OnlineOptions {
                attempts: Some(1),
                ..OnlineOptions::default()
            },
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let m = LicenseManager::open(
            crate::manager::tests::config(),
            dir.path().to_str().unwrap(),
        )
        .unwrap();
        let e = c.reactivate(&m).unwrap_err();
        assert!(
            matches!(e, TollgateError::Runtime { code: 200, .. }),
            "{e:?}"
        );
        let e = c.activate(&m, "DSHJN-UY5LB-4FJ3T-UY6NS-STFGU").unwrap_err();
        assert!(
            matches!(e, TollgateError::Service { code: 230, .. }),
            "{e:?}"
        );
        assert_eq!(e.name(), "ServiceUnreachable");
        assert!(!m.has_feature("mqtt-server"));
    }
}
