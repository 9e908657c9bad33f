//! [`FloatingClient`]: the client of a floating license server (`tollgate-floating`), over
//! [`tollgate_sdk::LeaseHolder`] (a [`tollgate_sdk::FloatingClient`] with its one lease).

use std::sync::Arc;
use std::time::Duration;

use tollgate_sdk::{BearerToken, FloatingConfig, LeaseHolder};

use crate::error::TollgateError;
use crate::types::HostConfig;

/// Options of a [`FloatingClient`]; every field has a default.
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct FloatingOptions {
    /// Tells several clients on one host apart (at most 128 bytes of UTF-8; default empty).
    /// It is part of the client id, so two instances hold two leases (two seats); it is also
    /// the client's name in the server's admin view.
    #[uniffi(default = "")]
    pub instance: String,
    /// The server's shared checkout token (its `checkout_token`), sent with every checkout,
    /// heartbeat and release as `Authorization: Bearer <token>`: 1–1024 visible ASCII
    /// characters. Default none.
    #[uniffi(default = None)]
    pub checkout_token: Option<String>,
    /// When set, the only trusted root certificates (PEM) instead of the Mozilla roots.
    #[uniffi(default = None)]
    pub root_certs_pem: Option<Vec<u8>>,
    /// Longest wait for a connection, in milliseconds (default 2,000).
    #[uniffi(default = None)]
    pub connect_timeout_ms: Option<u64>,
    /// Longest wait for a whole request, in milliseconds (default 5,000).
    #[uniffi(default = None)]
    pub timeout_ms: Option<u64>,
}

/// A client of a floating license server (`tollgate-floating`), holding at most one lease: it
/// checks out a feature set as a lease, verifies the lease offline with the vendor keys of its
/// [`HostConfig`], renews it on a background thread at a third of its term, keeps its features
/// through short server outages until the lease ends, and gives the seats back with
/// [`FloatingClient::release`] or when the object is destroyed (Kotlin `close()`/`use {}`,
/// Python when the last reference goes). Destroying it with a lease held releases the lease
/// best effort: the server reclaims the seats when the lease ends if the release does not
/// arrive.
///
/// Failures raise `TollgateError.Service` (Kotlin `TollgateException.Service`): 230
/// unreachable, 232 unavailable, 233 rate limited, 234 unexpected answer, or the server's
/// refusal with its own code (340 `NoSeat`, 341 a feature the floating license lacks, 346 a
/// clone holds this client's lease, …; 231 with the code in the message for any other, such
/// as a missing checkout token); a lease that does not verify is `Rejected` (100–128).
///
/// # Thread safety
///
/// Any number of threads may share one client. No lock is held while talking to the server;
/// `has_feature` and `lease_id` do no I/O.
#[derive(Debug, uniffi::Object)]
pub struct FloatingClient {
    inner: LeaseHolder,
}

#[uniffi::export]
impl FloatingClient {
    /// A client of the server at `server` (`https://…`, or `http://…` on loopback) for the
    /// product of `config`, checking out `features`. Nothing is sent yet. For a pool served
    /// by an active/standby pair, `server` lists both URLs separated by a comma; the client
    /// moves to the other when one cannot be reached or answers 347 `Standby`.
    ///
    /// Fails with `Runtime` 211 `InvalidArgument` (no feature, not an `http(s)://` URL, an
    /// instance name over 128 bytes, a malformed checkout token, unreadable certificates) or
    /// the configuration's errors (210 `Fingerprint`, …).
    #[uniffi::constructor(default(options = None))]
    pub fn new(
        config: HostConfig,
        server: String,
        features: Vec<String>,
        options: Option<FloatingOptions>,
    ) -> Result<Arc<Self>, TollgateError> {
        let o = options.unwrap_or_default();
        let host = config.into_sdk()?;
        let mut floating = FloatingConfig::new(server, features);
        floating.set_instance(&o.instance)?;
        floating.checkout_token = o.checkout_token.map(BearerToken::new).transpose()?;
        floating.root_certs_pem = o.root_certs_pem;
        if let Some(ms) = o.connect_timeout_ms {
            floating.connect_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = o.timeout_ms {
            floating.timeout = Duration::from_millis(ms);
        }
        let client = tollgate_sdk::FloatingClient::new(&host, floating)?;
        Ok(Arc::new(FloatingClient {
            inner: LeaseHolder::new(client),
        }))
    }

    /// Checks the feature set out as a lease, verifies it and starts renewing it in the
    /// background. A lease already held is kept.
    ///
    /// Fails with the server's errors (`Service`: 340 `NoSeat` when every seat is taken, …) or
    /// a lease that does not verify (`Rejected`).
    pub fn checkout(&self) -> Result<(), TollgateError> {
        Ok(self.inner.checkout()?)
    }

    /// Whether feature `name` is usable now under the lease held: true through server outages
    /// until the lease ends; false when no lease is held. No I/O.
    pub fn has_feature(&self, name: &str) -> bool {
        self.inner.has_feature(name)
    }

    /// The id of the lease held, 0 when none is.
    pub fn lease_id(&self) -> u64 {
        self.inner.lease_id()
    }

    /// Stops the heartbeats and gives the seats back; the client may check out again. Does
    /// nothing when no lease is held. The lease is dropped even when the release cannot be
    /// delivered (then raised as a `Service` error; the server reclaims the seats when the
    /// lease ends).
    pub fn release(&self) -> Result<(), TollgateError> {
        Ok(self.inner.release()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::tests::config;

    fn client(
        server: &str,
        features: &[&str],
        options: FloatingOptions,
    ) -> Result<Arc<FloatingClient>, TollgateError> {
        FloatingClient::new(
            config(),
            server.into(),
            features.iter().map(|f| f.to_string()).collect(),
            Some(options),
        )
    }

    #[test]
    fn bad_arguments_are_invalid_arguments() {
        let none = FloatingOptions::default();
        let url = "http://127.0.0.1:1";
        assert_eq!(client(url, &[], none.clone()).unwrap_err().code(), 211);
        assert_eq!(
            client("ftp://x", &["f"], none.clone()).unwrap_err().code(),
            211
        );
        let long = FloatingOptions {
            instance: "x".repeat(129),
            ..FloatingOptions::default()
        };
        assert_eq!(client(url, &["f"], long).unwrap_err().code(), 211);
        let spaced = FloatingOptions {
            checkout_token: Some("has space".into()),
            ..FloatingOptions::default()
        };
        assert_eq!(client(url, &["f"], spaced).unwrap_err().code(), 211);
        let mut short_root = config();
        short_root.vendor_root.pop();
        let e = FloatingClient::new(short_root, url.into(), vec!["f".into()], None).unwrap_err();
        assert_eq!(e.code(), 211);
    }

    #[test]
    fn an_unreachable_server() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = client(
            &format!("http://127.0.0.1:{port}"),
            &["mqtt-server"],
            FloatingOptions::default(),
        )
        .unwrap();
        let e = c.checkout().unwrap_err();
        assert!(
            matches!(e, TollgateError::Service { code: 230, .. }),
            "{e:?}"
        );
        assert!(!c.has_feature("mqtt-server"));
        assert_eq!(c.lease_id(), 0);
        c.release().unwrap(); // no lease: nothing to do
    }
}
