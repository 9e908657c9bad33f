//! [`HostConfig`]: what the host application tells the runtime about itself, and its JSON file.
//!
//! # The trust anchor is compiled in
//!
//! The vendor's ROOT public key ([`HostConfig::vendor_root`]) is a value the integration passes
//! in code: a `const VENDOR_ROOT: [u8; 32]` (`tollgate vendor export-root --format rust`), the
//! C header `tollgate_vendor_root.h`, the Java class `VendorRoot`, or, for the `tollgate`
//! binary and the floating server, [`crate::BUILD_VENDOR_ROOT`] (the `TOLLGATE_VENDOR_ROOT`
//! environment variable read when the sdk is built). It is never read from a runtime file.
//!
//! The root never signs licenses: it certifies the vendor's signing keys (`TGKC`) and retires
//! them (`TGKL`). A usage license carries its signing key's certificate, so a host needs
//! nothing but the root. The JSON file ([`HostConfig::from_json`]) carries OPTIONS only, plus
//! optional certificates and a key list that count only when the compiled-in root verifies
//! them; a file that names vendor keys, a root or a security policy is refused
//! ([`SdkError::UntrustedConfig`]), so nobody believes it is used.

use serde_json::{Map, Value};
use tollgate_core::{ComponentKind, DeploymentModel, TrustStore, Verifier};

use crate::error::{Result, SdkError};
use crate::fingerprint::{FingerprintConfig, FingerprintSource};

/// The rollback tolerance in force before any usage license is installed: one hour. Once a
/// license is installed, its grant's signed `rollback_tolerance_secs` is used instead.
pub const DEFAULT_ROLLBACK_TOLERANCE_SECS: u64 = 3600;
/// Default for [`HostConfig::warn_days`].
pub const DEFAULT_WARN_DAYS: u32 = 30;
/// The least number of distinct component kinds a usage request must carry (the default and
/// the floor of [`HostConfig::min_components`] in the JSON file): a fingerprint of one claimed
/// value would let a license work on any machine that claims it.
pub const MIN_COMPONENT_KINDS: usize = 2;

/// Which manager this is. The deployment model of an installed usage license must fit it: an
/// ordinary host refuses a floating server's usage license ([`SdkError::WrongModel`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HostRole {
    /// An ordinary host (broker): accepts offline and online usage licenses.
    #[default]
    Host,
    /// A floating license server's own manager: accepts only floating usage licenses (whose
    /// seats it lends).
    FloatingServer,
}

impl HostRole {
    /// Whether a usage license of deployment `model` fits this role.
    pub fn accepts(self, model: DeploymentModel) -> bool {
        match self {
            HostRole::Host => model != DeploymentModel::Floating,
            HostRole::FloatingServer => model == DeploymentModel::Floating,
        }
    }

    /// Lower-case name: `host`, `floating server`.
    pub fn name(self) -> &'static str {
        match self {
            HostRole::Host => "host",
            HostRole::FloatingServer => "floating server",
        }
    }

    /// [`SdkError::WrongModel`] unless a usage license of `model` fits this role.
    pub(crate) fn check(self, model: DeploymentModel) -> Result<()> {
        if self.accepts(model) {
            Ok(())
        } else {
            Err(SdkError::WrongModel {
                model: model.name().to_owned(),
                role: self.name().to_owned(),
            })
        }
    }
}

/// The fields of a host JSON file that name keys, a root or security policy: refused.
fn untrusted_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    if n == "key_certificates" || n == "key_list" {
        return false;
    }
    n.contains("key") || n.contains("root") || n.contains("tolerance")
}

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
    /// The vendor's ROOT ed25519 public key, compiled into the integration (never read from a
    /// runtime file). Only signing keys it certifies are trusted.
    pub vendor_root: [u8; 32],
    /// Root-signed signing-key certificates (`TGKC:…`), for usage licenses that do not embed
    /// theirs. Each must verify against [`HostConfig::vendor_root`] for this product, else
    /// [`crate::LicenseManager::open`] fails.
    pub key_certificates: Vec<String>,
    /// A root-signed key list (`TGKL:…`) retiring signing keys. The host keeps the highest
    /// sequence it has seen in its state: an older list given here is ignored.
    pub key_list: Option<String>,
    /// How many days before a subscription ends the status starts warning.
    pub warn_days: u32,
    /// The least number of distinct component kinds a usage request must carry
    /// ([`SdkError::TooFewComponents`]); default [`MIN_COMPONENT_KINDS`].
    pub min_components: usize,
    /// Which manager this is (default [`HostRole::Host`]).
    pub role: HostRole,
    /// How the fingerprint is built (used by [`crate::LicenseManager::open`]).
    pub fingerprint: FingerprintConfig,
}

impl HostConfig {
    /// A configuration trusting the vendor root public key `vendor_root` (compiled into the
    /// integration), with the default warning period, component minimum, role
    /// ([`HostRole::Host`]) and fingerprint probes.
    pub fn new(
        product: impl Into<String>,
        product_version: impl Into<String>,
        fingerprint_salt: impl Into<Vec<u8>>,
        vendor_root: [u8; 32],
    ) -> Self {
        HostConfig {
            product: product.into(),
            product_version: product_version.into(),
            fingerprint_salt: fingerprint_salt.into(),
            vendor_root,
            key_certificates: Vec::new(),
            key_list: None,
            warn_days: DEFAULT_WARN_DAYS,
            min_components: MIN_COMPONENT_KINDS,
            role: HostRole::Host,
            fingerprint: FingerprintConfig::default(),
        }
    }

    /// Reads the host configuration file a vendor ships with its product (written by
    /// `tollgate vendor host-config`); the root comes from the caller, compiled in:
    ///
    /// ```json
    /// {
    ///   "product": "chariot",
    ///   "product_version": "4.2.0",
    ///   "fingerprint_salt": "chariot/fingerprint/2026",
    ///   "warn_days": 30,
    ///   "min_components": 3,
    ///   "key_certificates": ["TGKC:…"],
    ///   "key_list": "TGKL:…"
    /// }
    /// ```
    ///
    /// The salt is taken as its UTF-8 bytes; the last four fields are optional. Other fields
    /// are ignored, except that a field naming keys, a root or a tolerance (`vendor_keys`,
    /// `vendor_root`, `root`, `rollback_tolerance_secs`, …) is refused with
    /// [`SdkError::UntrustedConfig`]: the root is compiled in and the policy is in the signed
    /// grant. `min_components` may only raise [`MIN_COMPONENT_KINDS`]. The certificates and
    /// the key list are checked against the root when the manager opens. The fingerprint uses
    /// the default probes: adjust [`HostConfig::fingerprint`] after.
    ///
    /// Fails with [`SdkError::UntrustedConfig`], or [`SdkError::InvalidArgument`] when the
    /// text is not such a document.
    ///
    /// ```
    /// let root = [0x8a; 32];
    /// let cfg = tollgate_sdk::HostConfig::from_json(
    ///     r#"{"product": "chariot", "product_version": "4.2.0", "fingerprint_salt": "s"}"#, root)?;
    /// assert_eq!(cfg.vendor_root, root);
    /// let refused = tollgate_sdk::HostConfig::from_json(r#"{"product": "chariot",
    ///     "product_version": "4.2.0", "fingerprint_salt": "s", "vendor_keys": ["8a"]}"#, root);
    /// assert_eq!(refused.unwrap_err().code(), 235);
    /// # Ok::<(), tollgate_sdk::SdkError>(())
    /// ```
    pub fn from_json(text: &str, vendor_root: [u8; 32]) -> Result<Self> {
        let doc: Map<String, Value> = serde_json::from_str(text)
            .map_err(|e| SdkError::invalid(format!("not a Tollgate host configuration: {e}")))?;
        if let Some(field) = doc.keys().find(|k| untrusted_field(k)) {
            return Err(SdkError::UntrustedConfig {
                field: field.clone(),
            });
        }
        let text_field = |name: &str| -> Result<String> {
            match doc.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(SdkError::invalid(format!("`{name}` must be a string"))),
                None => Err(SdkError::invalid(format!(
                    "not a Tollgate host configuration: `{name}` is missing"
                ))),
            }
        };
        let number = |name: &str| -> Result<Option<u64>> {
            match doc.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                    SdkError::invalid(format!("`{name}` must be a non-negative integer"))
                }),
            }
        };
        let mut cfg = HostConfig::new(
            text_field("product")?,
            text_field("product_version")?,
            text_field("fingerprint_salt")?.into_bytes(),
            vendor_root,
        );
        if let Some(d) = number("warn_days")? {
            cfg.warn_days = u32::try_from(d)
                .map_err(|_| SdkError::invalid("`warn_days` is too large".to_string()))?;
        }
        if let Some(m) = number("min_components")? {
            let m = usize::try_from(m).unwrap_or(usize::MAX);
            if m < MIN_COMPONENT_KINDS {
                return Err(SdkError::invalid(format!(
                    "`min_components` may not be below {MIN_COMPONENT_KINDS}"
                )));
            }
            cfg.min_components = m;
        }
        match doc.get("key_certificates") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    let s = item.as_str().ok_or_else(|| {
                        SdkError::invalid("`key_certificates` must be a list of TGKC strings")
                    })?;
                    cfg.key_certificates.push(s.trim().to_owned());
                }
            }
            Some(_) => {
                return Err(SdkError::invalid(
                    "`key_certificates` must be a list of TGKC strings",
                ))
            }
        }
        match doc.get("key_list") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => cfg.key_list = Some(s.trim().to_owned()),
            Some(_) => return Err(SdkError::invalid("`key_list` must be a TGKL string")),
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
        Ok(Verifier::with_trust_store(self.trust_store()?))
    }

    /// The core trust store this configuration describes: anchored at
    /// [`HostConfig::vendor_root`], holding [`HostConfig::key_certificates`] and
    /// [`HostConfig::key_list`], each verified against the root for this product.
    ///
    /// Fails with `Core(BadPublicKey)` for a root that is not a valid key, and with the core's
    /// verdict on a certificate or key list the root did not sign for this product
    /// (`Core(UnknownKeyId)` for one signed by another root, `Core(BadSignature)`,
    /// `Core(WrongProduct)`, `Core(KeyRetired)`, armor errors): whatever the file says about
    /// keys counts only when the compiled-in root certifies it, and a file claiming otherwise
    /// is refused rather than ignored.
    pub fn trust_store(&self) -> Result<TrustStore> {
        let mut store = TrustStore::new(&self.product, &self.vendor_root)?;
        for cert in &self.key_certificates {
            store.add_certificate_armor(cert)?;
        }
        // Applied after the certificates: a retired key's certificate stays harmless (the
        // store refuses its signatures), so an older shipped file does not stop the host.
        if let Some(list) = &self.key_list {
            store.apply_key_list_armor(list)?;
        }
        Ok(store)
    }

    /// Refuses a fingerprint configuration that claims a kind the probes read
    /// ([`SdkError::ComponentOverride`]) unless [`FingerprintConfig::allow_override`] opts in.
    fn check_fingerprint(&self) -> Result<()> {
        if self.fingerprint.allow_override {
            return Ok(());
        }
        match self.fingerprint.extra.iter().find(|(k, _)| probed_kind(*k)) {
            Some((kind, _)) => Err(SdkError::ComponentOverride {
                kind: kind.name().to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// The fingerprint source [`HostConfig::fingerprint`] describes; fails with
    /// [`SdkError::ComponentOverride`] when it supplies a probed kind without the opt-in.
    pub(crate) fn source(&self) -> Result<Box<dyn FingerprintSource>> {
        self.check_fingerprint()?;
        Ok(self.fingerprint.clone().into_source(&self.fingerprint_salt))
    }
}

/// Whether the platform probes read components of `kind` (so that a supplied value claims an
/// identity the machine itself reports).
pub fn probed_kind(kind: ComponentKind) -> bool {
    matches!(
        kind,
        ComponentKind::MachineId
            | ComponentKind::DmiProductUuid
            | ComponentKind::Mac
            | ComponentKind::RootDisk
            | ComponentKind::Hostname
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_fields() {
        for f in [
            "vendor_keys",
            "vendor_root",
            "root",
            "Root_Key",
            "rollback_tolerance_secs",
            "signing_keys",
            "keys",
        ] {
            assert!(untrusted_field(f), "{f}");
        }
        for f in [
            "key_certificates",
            "key_list",
            "product",
            "warn_days",
            "comment",
        ] {
            assert!(!untrusted_field(f), "{f}");
        }
    }
}
