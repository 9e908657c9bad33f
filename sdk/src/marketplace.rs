//! Cloud marketplace instances come licensed: the host proves what it is with the cloud's
//! SIGNED instance identity and the online activation service answers with an online usage
//! license, with no license key and no operator step.
//!
//! * AWS: IMDSv2 — a session token (`PUT /latest/api/token`), then the instance identity
//!   document (`/latest/dynamic/instance-identity/document`, which carries the
//!   `marketplaceProductCodes`) and its RSA-SHA256 signature
//!   (`/latest/dynamic/instance-identity/signature`), or with
//!   [`MarketplaceConfig::aws_pkcs7`] the document as RSA PKCS#7 SignedData
//!   (`/latest/dynamic/instance-identity/rsa2048`).
//! * Azure: the attested data document (`GET /metadata/attested/document?api-version=2020-09-01&nonce=N`
//!   with `Metadata: true`): PKCS#7 signed JSON with the plan, `vmId`, times and the nonce
//!   asked for. The nonce is derived from the usage request it goes with
//!   ([`tollgate_protocol::marketplace::azure_nonce`]), so a document cannot be replayed
//!   with another request.
//!
//! Nothing is read from an unsigned source: the host forwards the documents as served and the
//! service verifies them. [`MarketplaceClient::start`] is the one call a product makes at each
//! start in marketplace mode: it activates the first time, refreshes afterwards, and when the
//! service says this device's seat belongs to another instance (the state directory was
//! copied or the disk moved: 385 `InstanceMismatch`) or no longer exists (323), it drops the
//! local license and activates this instance afresh — so a copied state never stays licensed
//! under the original instance's seat.

use std::time::Duration;

use tollgate_core::UsageRequest;
use tollgate_protocol::marketplace::{
    azure_nonce, CloudIdentity, MarketplaceIn, ACTIVATE, AWS, AZURE, REFRESH,
};
use tollgate_protocol::online::UsageLicenseOut;

use crate::cancel::CancelToken;
use crate::error::{Result, SdkError};
use crate::manager::LicenseManager;
use crate::online::{OnlineClient, OnlineConfig, SharedManager};
use crate::status::Status;

/// 323 from the service: the seat is gone (freed after its refresh deadline).
const NO_ACTIVE_ACTIVATION: u32 = 323;
/// 381 from the service: the identity is not signed by the cloud.
const IDENTITY_FORGED: u32 = 381;
/// 382 from the service: this instance is not the vendor's marketplace product.
const UNKNOWN_PRODUCT_CODE: u32 = 382;
/// 385 from the service: this device's seat belongs to another instance.
pub const INSTANCE_MISMATCH: u32 = 385;

/// The cloud a marketplace instance runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    /// Amazon EC2 (AWS Marketplace).
    Aws,
    /// Azure virtual machines (Azure Marketplace).
    Azure,
}

impl Cloud {
    /// `aws` or `azure`.
    pub const fn name(self) -> &'static str {
        match self {
            Cloud::Aws => AWS,
            Cloud::Azure => AZURE,
        }
    }

    /// Parses `aws` or `azure`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            AWS => Some(Cloud::Aws),
            AZURE => Some(Cloud::Azure),
            _ => None,
        }
    }

    /// The cloud's link-local metadata endpoint, `http://169.254.169.254`.
    pub const DEFAULT_METADATA_URL: &'static str = "http://169.254.169.254";
}

/// Marketplace mode: which cloud, and where its metadata service answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketplaceConfig {
    /// The cloud.
    pub cloud: Cloud,
    /// The metadata service's base URL; default [`Cloud::DEFAULT_METADATA_URL`] (tests point
    /// it at loopback).
    pub metadata_url: String,
    /// Bound on each metadata call. Default 2 s (the service is link-local).
    pub metadata_timeout: Duration,
    /// AWS: send the document as its RSA PKCS#7 SignedData
    /// (`/latest/dynamic/instance-identity/rsa2048`) instead of the document and its
    /// detached `signature`. Default false.
    pub aws_pkcs7: bool,
}

impl MarketplaceConfig {
    /// Marketplace mode on `cloud` with the default endpoint and timeout.
    pub fn new(cloud: Cloud) -> Self {
        MarketplaceConfig {
            cloud,
            metadata_url: Cloud::DEFAULT_METADATA_URL.into(),
            metadata_timeout: Duration::from_secs(2),
            aws_pkcs7: false,
        }
    }
}

/// Reads the signed instance identity from the metadata service and has the online service
/// activate or refresh with it.
#[derive(Debug, Clone)]
pub struct MarketplaceClient {
    config: MarketplaceConfig,
    service: OnlineClient,
    metadata: ureq::Agent,
}

fn unreachable(e: &ureq::Error) -> SdkError {
    SdkError::MetadataUnreachable {
        reason: e.to_string(),
    }
}

impl MarketplaceClient {
    /// A client for the activation service `service` in marketplace mode `config`. Fails
    /// with [`SdkError::InvalidArgument`] for a metadata URL that is not `http://`/`https://`,
    /// and like [`OnlineClient::new`].
    pub fn new(config: MarketplaceConfig, service: OnlineConfig) -> Result<Self> {
        let base = config.metadata_url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(SdkError::invalid(format!(
                "the metadata URL `{base}` must start with http:// or https://"
            )));
        }
        let metadata: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.metadata_timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .build()
            .into();
        Ok(MarketplaceClient {
            config: MarketplaceConfig {
                metadata_url: base,
                ..config
            },
            service: OnlineClient::new(service)?,
            metadata,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MarketplaceConfig {
        &self.config
    }

    /// What a product calls at each start in marketplace mode: activates this instance when
    /// nothing is installed, otherwise refreshes; when the service answers that this device's
    /// seat belongs to another instance (385) or is gone (323), the local license is removed
    /// (its deactivation code is not sent: the seat is the other instance's) and this instance
    /// is activated afresh. When it answers that this instance's identity is forged (381) or
    /// not the vendor's product (382), the local license is removed and the refusal returned:
    /// a state directory copied onto any other machine does not stay licensed. (A stale
    /// document, 383/384, keeps the license until its own refresh deadline.)
    ///
    /// Fails with [`SdkError::MetadataUnreachable`] / [`SdkError::BadMetadata`] when the
    /// signed identity cannot be read, [`SdkError::ServiceRefused`] with the service's code
    /// (381 forged identity, 382 not this vendor's product, 383 stale, 384 nonce, …), and like
    /// [`LicenseManager::install`]. Nothing is installed on failure.
    pub fn start(&self, manager: &mut LicenseManager) -> Result<Status> {
        if manager.installed_license().is_none() {
            return self.activate(manager);
        }
        match self.refresh(manager) {
            Err(SdkError::ServiceRefused { code, .. })
                if code == INSTANCE_MISMATCH || code == NO_ACTIVE_ACTIVATION =>
            {
                let _discarded = manager.deactivate()?;
                self.activate(manager)
            }
            Err(e @ SdkError::ServiceRefused { code, .. })
                if code == IDENTITY_FORGED || code == UNKNOWN_PRODUCT_CODE =>
            {
                let _discarded = manager.deactivate()?;
                Err(e)
            }
            other => other,
        }
    }

    /// [`MarketplaceClient::activate`] on a shared manager (see
    /// [`MarketplaceClient::start_shared`]).
    pub fn activate_shared<M: SharedManager + ?Sized>(&self, manager: &M) -> Result<Status> {
        self.usage_flow(manager, ACTIVATE, None, LicenseManager::request_marketplace)
    }

    /// [`MarketplaceClient::refresh`] on a shared manager (see
    /// [`MarketplaceClient::start_shared`]).
    pub fn refresh_shared<M: SharedManager + ?Sized>(&self, manager: &M) -> Result<Status> {
        self.usage_flow(manager, REFRESH, None, LicenseManager::request_renewal)
    }

    /// Activates: a keyless usage request, the identity read for it, the service's answer
    /// installed.
    pub fn activate(&self, manager: &mut LicenseManager) -> Result<Status> {
        let request = manager.request_marketplace()?;
        let answer = self.send(ACTIVATE, request)?;
        manager.install(&answer.usage_license)
    }

    /// Refreshes this instance's activation (the current grant, a new refresh deadline).
    /// Fails with [`SdkError::NotActivated`] when this host never activated.
    pub fn refresh(&self, manager: &mut LicenseManager) -> Result<Status> {
        let request = manager.request_renewal()?;
        let answer = self.send(REFRESH, request)?;
        manager.install(&answer.usage_license)
    }

    /// [`MarketplaceClient::start`] on a manager shared across threads, which is locked only
    /// to make each usage request, to install the answer and to remove a license the service
    /// disowns, never while the identity is read or the service answers: its status and
    /// feature checks answer at once meanwhile, and `cancel` (when given) ends the call at once
    /// with [`SdkError::Cancelled`] (240). On any error (cancelled included) the pending
    /// request is undone as in [`OnlineClient::activate_shared`]; when the state changed
    /// meanwhile, the answer is not installed ([`SdkError::StateChanged`], 241).
    pub fn start_shared<M: SharedManager + ?Sized>(
        &self,
        manager: &M,
        cancel: Option<&CancelToken>,
    ) -> Result<Status> {
        let installed = manager.with_manager(|m| Ok(m.installed_license().is_some()))?;
        let activate = || {
            self.usage_flow(
                manager,
                ACTIVATE,
                cancel,
                LicenseManager::request_marketplace,
            )
        };
        if !installed {
            return activate();
        }
        match self.usage_flow(manager, REFRESH, cancel, LicenseManager::request_renewal) {
            Err(SdkError::ServiceRefused { code, .. })
                if code == INSTANCE_MISMATCH || code == NO_ACTIVE_ACTIVATION =>
            {
                let _discarded = manager.with_manager(LicenseManager::deactivate)?;
                activate()
            }
            Err(e @ SdkError::ServiceRefused { code, .. })
                if code == IDENTITY_FORGED || code == UNKNOWN_PRODUCT_CODE =>
            {
                let _discarded = manager.with_manager(LicenseManager::deactivate)?;
                Err(e)
            }
            other => other,
        }
    }

    /// One request → answer → install round, the manager locked only around the ends.
    fn usage_flow<M: SharedManager + ?Sized>(
        &self,
        manager: &M,
        path: &str,
        cancel: Option<&CancelToken>,
        make: impl FnOnce(&mut LicenseManager) -> Result<String>,
    ) -> Result<Status> {
        crate::online::shared_round(manager, cancel, make, |request| {
            self.send_with(path, request.to_owned(), cancel)
                .map(|a| a.usage_license)
        })
    }

    fn send(&self, path: &str, request: String) -> Result<UsageLicenseOut> {
        self.send_with(path, request, None)
    }

    /// Reads the identity (on its own thread when `cancel` is given) and posts the request.
    fn send_with(
        &self,
        path: &str,
        request: String,
        cancel: Option<&CancelToken>,
    ) -> Result<UsageLicenseOut> {
        let id = UsageRequest::from_armor(&request)?.request_id();
        let nonce = azure_nonce(&id);
        let identity = match cancel {
            None => self.identity(&nonce)?,
            Some(token) => {
                let client = self.clone();
                token.run(move || client.identity(&nonce))??
            }
        };
        let body = serde_json::to_string(&MarketplaceIn { request, identity }).map_err(|e| {
            SdkError::BadResponse {
                reason: format!("cannot encode the request: {e}"),
            }
        })?;
        let text = self.service.post_with(path, &body, cancel)?;
        serde_json::from_str(&text).map_err(|e| SdkError::BadResponse {
            reason: format!("not a usage license answer: {e}"),
        })
    }

    /// Reads the signed identity (`nonce` is used on Azure only).
    pub fn identity(&self, nonce: &str) -> Result<CloudIdentity> {
        match self.config.cloud {
            Cloud::Aws => self.aws_identity(),
            Cloud::Azure => self.azure_identity(nonce),
        }
    }

    fn read(
        &self,
        resp: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        what: &str,
    ) -> Result<String> {
        let mut resp = resp.map_err(|e| unreachable(&e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .map_err(|e| unreachable(&e))?;
        if !(200..300).contains(&status) {
            return Err(SdkError::MetadataUnreachable {
                reason: format!("{what}: HTTP {status}"),
            });
        }
        Ok(text)
    }

    fn aws_identity(&self) -> Result<CloudIdentity> {
        let base = &self.config.metadata_url;
        let token = self.read(
            self.metadata
                .put(&format!("{base}/latest/api/token"))
                .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
                .send_empty(),
            "IMDSv2 token",
        )?;
        let token = token.trim();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SdkError::BadMetadata {
                reason: "the IMDSv2 token is empty or not text".into(),
            });
        }
        let get = |path: &str, what: &str| {
            self.read(
                self.metadata
                    .get(&format!("{base}{path}"))
                    .header("X-aws-ec2-metadata-token", token)
                    .call(),
                what,
            )
        };
        if self.config.aws_pkcs7 {
            let pkcs7 = get(
                "/latest/dynamic/instance-identity/rsa2048",
                "identity PKCS#7",
            )?;
            // Served as base64 wrapped in lines, without PEM armor.
            let document: String = pkcs7.split_whitespace().collect();
            if document.is_empty() {
                return Err(SdkError::BadMetadata {
                    reason: "the PKCS#7 identity is empty".into(),
                });
            }
            return Ok(CloudIdentity {
                cloud: AWS.into(),
                document,
                signature: None,
            });
        }
        let document = get(
            "/latest/dynamic/instance-identity/document",
            "identity document",
        )?;
        let signature = get(
            "/latest/dynamic/instance-identity/signature",
            "identity signature",
        )?;
        Ok(CloudIdentity {
            cloud: AWS.into(),
            document,
            signature: Some(signature.trim().to_owned()),
        })
    }

    fn azure_identity(&self, nonce: &str) -> Result<CloudIdentity> {
        #[derive(serde::Deserialize)]
        struct Attested {
            encoding: String,
            signature: String,
        }
        let base = &self.config.metadata_url;
        let text = self.read(
            self.metadata
                .get(&format!(
                    "{base}/metadata/attested/document?api-version=2020-09-01&nonce={nonce}"
                ))
                .header("Metadata", "true")
                .call(),
            "attested document",
        )?;
        let a: Attested = serde_json::from_str(&text).map_err(|e| SdkError::BadMetadata {
            reason: format!("not an attested data answer: {e}"),
        })?;
        if a.encoding != "pkcs7" {
            return Err(SdkError::BadMetadata {
                reason: format!("attested data encoding `{}`, not pkcs7", a.encoding),
            });
        }
        Ok(CloudIdentity {
            cloud: AZURE.into(),
            document: a.signature,
            signature: None,
        })
    }
}
