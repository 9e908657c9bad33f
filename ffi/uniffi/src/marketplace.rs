//! [`MarketplaceClient`]: a cloud marketplace instance licenses itself (no license key), over
//! [`tollgate_sdk::marketplace::MarketplaceClient`].

use std::sync::Arc;

use crate::error::{invalid, TollgateError};
use crate::manager::LicenseManager;
use crate::online::{online_config, OnlineOptions};
use crate::types::Status;

/// Marketplace mode: reads the cloud's SIGNED instance identity from its metadata service
/// (AWS: the IMDSv2 instance identity document and signature; Azure: attested data) and has
/// the vendor's online activation service answer it with an online usage license for this
/// instance.
///
/// Failures raise `TollgateError.Service` (Kotlin `TollgateException.Service`): 260
/// `MetadataUnreachable`, 261 `BadMetadata`, the online service's transport errors
/// (230–234), or its refusal with its own code (381 `IdentityForged`, 382
/// `UnknownProductCode`, 383 `IdentityStale`, 384 `NonceMismatch`, …).
///
/// # Thread safety
///
/// Immutable once created: any number of threads may share one client. [`Self::start`] holds
/// the manager's write lock while the metadata and activation services answer.
#[derive(Debug, uniffi::Object)]
pub struct MarketplaceClient {
    inner: tollgate_sdk::marketplace::MarketplaceClient,
}

#[uniffi::export]
impl MarketplaceClient {
    /// A client on `cloud` (`aws` or `azure`) of the activation service at `server`; the
    /// metadata service is `metadata_url` (default `http://169.254.169.254`; tests point it at
    /// loopback). Nothing is sent yet.
    ///
    /// Fails with `Runtime` 211 `InvalidArgument`: another cloud, a URL that is not
    /// `http(s)://`, or options as [`crate::OnlineClient::new`] refuses them.
    #[uniffi::constructor(default(metadata_url = None, options = None))]
    pub fn new(
        cloud: String,
        server: String,
        metadata_url: Option<String>,
        options: Option<OnlineOptions>,
    ) -> Result<Arc<Self>, TollgateError> {
        use tollgate_sdk::marketplace::{Cloud, MarketplaceConfig};
        let cloud = Cloud::from_name(&cloud)
            .ok_or_else(|| invalid(format!("the cloud `{cloud}` is not aws or azure")))?;
        let mut market = MarketplaceConfig::new(cloud);
        if let Some(url) = metadata_url {
            market.metadata_url = url;
        }
        Ok(Arc::new(MarketplaceClient {
            inner: tollgate_sdk::marketplace::MarketplaceClient::new(
                market,
                online_config(server, options),
            )?,
        }))
    }

    /// What the product calls at each start: activates this instance when nothing is
    /// installed, otherwise refreshes; a copied or moved state (385) or a freed seat (323) is
    /// replaced by this instance's own activation, and a forged or foreign identity
    /// (381/382) removes the local license. Returns the new status; nothing is installed on
    /// failure.
    pub fn start(&self, manager: &LicenseManager) -> Result<Status, TollgateError> {
        manager.write(|m| self.inner.start(m)).map(Into::into)
    }

    /// `aws` or `azure`.
    pub fn cloud(&self) -> String {
        self.inner.config().cloud.name().into()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn closed_port() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    }

    #[test]
    fn bad_arguments_and_an_unreachable_metadata_service() {
        let url = closed_port();
        let new = |cloud: &str, md: Option<&str>| {
            MarketplaceClient::new(cloud.into(), url.clone(), md.map(Into::into), None)
        };
        assert_eq!(new("gcp", None).unwrap_err().code(), 211);
        assert_eq!(new("aws", Some("ftp://x")).unwrap_err().code(), 211);
        let c = new("azure", Some(&closed_port())).unwrap();
        assert_eq!(c.cloud(), "azure");
        let dir = tempfile::tempdir().unwrap();
        let m = LicenseManager::open(
            crate::manager::tests::config(),
            dir.path().to_str().unwrap(),
        )
        .unwrap();
        match c.start(&m).unwrap_err() {
            TollgateError::Service { code, name, .. } => {
                assert_eq!((code, name.as_str()), (260, "MetadataUnreachable"));
            }
            other => panic!("not a service error: {other:?}"),
        }
    }
}
