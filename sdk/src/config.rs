//! [`HostConfig`]: what the host application tells the runtime about itself, and its JSON file.

use serde::Deserialize;
use tollgate_core::{Keyring, Verifier};

use crate::error::{Result, SdkError};
use crate::fingerprint::{FingerprintConfig, FingerprintSource};

/// Default for [`HostConfig::rollback_tolerance_secs`]: one hour.
pub const DEFAULT_ROLLBACK_TOLERANCE_SECS: u64 = 3600;
/// Default for [`HostConfig::warn_days`].
pub const DEFAULT_WARN_DAYS: u32 = 30;

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
