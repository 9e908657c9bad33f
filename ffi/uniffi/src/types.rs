//! The records and enums that cross the boundary, and their conversions from and to the host
//! runtime's types. Times are ISO-8601 UTC strings, as in the runtime's status JSON, and the
//! same times as Unix seconds (`…_secs`), which hold any signed time (years after 9999
//! included) without a text round trip.

use tollgate_sdk::tollgate_core::ComponentKind as CoreKind;

use crate::error::{invalid, TollgateError};

/// What the host application tells the runtime about itself; the vendor ships these values
/// inside the application. The vendor's ROOT public key (`vendor_root`) is compiled in (a
/// constant in the application's source, from `tollgate vendor export-root`), never read from a
/// file the customer can edit; the options come from the file `tollgate vendor host-config`
/// writes, read with [`crate::host_config_from_json`].
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct HostConfig {
    /// The product id, e.g. `chariot`; usage licenses for other products are refused.
    pub product: String,
    /// The product's version, sent in usage requests, e.g. `4.2.0`.
    pub product_version: String,
    /// The product's fingerprint salt (its UTF-8 bytes key every component digest); fixed for
    /// the product's lifetime.
    pub fingerprint_salt: String,
    /// The vendor's ROOT ed25519 public key (32 bytes), compiled into the application. Only
    /// signing keys it certified are trusted; their certificates travel inside the usage
    /// licenses, so a signing-key rotation needs no new build.
    pub vendor_root: Vec<u8>,
    /// How many days before a subscription ends the status starts warning (default 30).
    #[uniffi(default = None)]
    pub warn_days: Option<u32>,
    /// Whether to run the platform's fingerprint probes (default `true`). Turn them off and
    /// give `components` for a fingerprint made only of application-supplied identifiers
    /// (containers, tests).
    #[uniffi(default = true)]
    pub probes: bool,
    /// Components the application adds (workload or cloud instance id, an operator id; in
    /// tests, fixed identifiers). A probed component of the same kind is replaced.
    #[uniffi(default = [])]
    pub components: Vec<FingerprintComponent>,
    /// Probed kinds to drop without a replacement (e.g. `Hostname` where host names are
    /// ephemeral).
    #[uniffi(default = [])]
    pub replace: Vec<ComponentKind>,
    /// Allow `components` of kinds the platform probes read (machine id, DMI UUID, MAC, root
    /// disk, host name). Such a value claims an identity instead of measuring it: for tests
    /// and documented escape hatches only. Without it (the default) opening fails with
    /// `ComponentOverride`.
    #[uniffi(default = false)]
    pub allow_override: bool,
    /// Root-signed signing-key certificates (`TGKC:…`) for usage licenses that do not carry
    /// theirs; they count only when `vendor_root` signed them (checked at open).
    #[uniffi(default = [])]
    pub key_certificates: Vec<String>,
    /// The vendor's root-signed key list (`TGKL:…`) retiring signing keys; the host keeps the
    /// highest sequence it has seen.
    #[uniffi(default = None)]
    pub key_list: Option<String>,
    /// The least number of distinct component kinds a usage request must carry (default and
    /// floor: 2); the vendor's file may raise it.
    #[uniffi(default = None)]
    pub min_components: Option<u32>,
}

/// The root argument: exactly 32 bytes, else `InvalidArgument` (211).
pub(crate) fn root(bytes: &[u8]) -> Result<[u8; 32], TollgateError> {
    bytes.try_into().map_err(|_| {
        invalid(format!(
            "the vendor root public key is 32 bytes, not {}",
            bytes.len()
        ))
    })
}

/// One application-supplied fingerprint identifier. Its raw value never leaves the host: only
/// its salted digest does.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FingerprintComponent {
    /// What the identifier is.
    pub kind: ComponentKind,
    /// The raw identifier bytes.
    pub value: Vec<u8>,
}

/// The kinds of fingerprint components.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ComponentKind {
    /// `/etc/machine-id` (after an application-specific HMAC on the host).
    MachineId,
    /// DMI product UUID.
    DmiProductUuid,
    /// The MAC address of a physical network interface.
    Mac,
    /// The root disk's serial or id.
    RootDisk,
    /// The host name.
    Hostname,
    /// A container or workload id supplied by the host application.
    Workload,
    /// A cloud instance id.
    CloudInstance,
    /// An id supplied by the operator.
    Operator,
}

impl From<ComponentKind> for CoreKind {
    fn from(k: ComponentKind) -> Self {
        match k {
            ComponentKind::MachineId => CoreKind::MachineId,
            ComponentKind::DmiProductUuid => CoreKind::DmiProductUuid,
            ComponentKind::Mac => CoreKind::Mac,
            ComponentKind::RootDisk => CoreKind::RootDisk,
            ComponentKind::Hostname => CoreKind::Hostname,
            ComponentKind::Workload => CoreKind::Workload,
            ComponentKind::CloudInstance => CoreKind::CloudInstance,
            ComponentKind::Operator => CoreKind::Operator,
        }
    }
}

impl HostConfig {
    /// The runtime's configuration. Fails with `InvalidArgument` (211) when the root is not 32
    /// bytes; the runtime checks the rest when it opens or verifies.
    pub(crate) fn into_sdk(self) -> Result<tollgate_sdk::HostConfig, TollgateError> {
        let mut cfg = tollgate_sdk::HostConfig::new(
            self.product,
            self.product_version,
            self.fingerprint_salt.into_bytes(),
            root(&self.vendor_root)?,
        );
        cfg.key_certificates = self.key_certificates;
        cfg.key_list = self.key_list;
        cfg.fingerprint.allow_override = self.allow_override;
        if let Some(m) = self.min_components {
            cfg.min_components = usize::try_from(m).unwrap_or(usize::MAX);
        }
        if let Some(d) = self.warn_days {
            cfg.warn_days = d;
        }
        cfg.fingerprint.probes = self.probes;
        for c in self.components {
            let kind = CoreKind::from(c.kind);
            // As `tollgate host --component`: a supplied component replaces the probed kind.
            if !cfg.fingerprint.replace.contains(&kind) {
                cfg.fingerprint.replace.push(kind);
            }
            cfg.fingerprint.extra.push((kind, c.value));
        }
        for k in self.replace {
            let kind = CoreKind::from(k);
            if !cfg.fingerprint.replace.contains(&kind) {
                cfg.fingerprint.replace.push(kind);
            }
        }
        Ok(cfg)
    }

    /// The record of a configuration read by the runtime (fingerprint fields at their
    /// defaults).
    pub(crate) fn from_sdk(c: &tollgate_sdk::HostConfig) -> Self {
        HostConfig {
            product: c.product.clone(),
            product_version: c.product_version.clone(),
            fingerprint_salt: String::from_utf8_lossy(&c.fingerprint_salt).into_owned(),
            vendor_root: c.vendor_root.to_vec(),
            warn_days: Some(c.warn_days),
            probes: true,
            components: Vec::new(),
            replace: Vec::new(),
            allow_override: false,
            key_certificates: c.key_certificates.clone(),
            key_list: c.key_list.clone(),
            min_components: Some(u32::try_from(c.min_components).unwrap_or(u32::MAX)),
        }
    }
}

/// The overall state of licensing on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum LicenseState {
    /// Nothing installed, nothing requested.
    Unlicensed,
    /// A usage request was made; its usage license has not been installed yet.
    Pending,
    /// A usage license is installed and valid now.
    Active,
    /// The installed license's validity has not started yet.
    NotYetValid,
    /// The installed license has expired.
    Expired,
    /// The installed online or floating activation was not refreshed in time.
    RefreshOverdue,
    /// The installed license is bound to a machine this host no longer resembles enough.
    FingerprintMismatch,
    /// The clock was set back; nothing is licensed until it is corrected.
    ClockRollback,
    /// The installed license cannot be used (see [`Status::error`]).
    Invalid,
}

impl From<tollgate_sdk::LicenseState> for LicenseState {
    fn from(s: tollgate_sdk::LicenseState) -> Self {
        use tollgate_sdk::LicenseState as S;
        match s {
            S::Unlicensed => LicenseState::Unlicensed,
            S::Pending => LicenseState::Pending,
            S::Active => LicenseState::Active,
            S::NotYetValid => LicenseState::NotYetValid,
            S::Expired => LicenseState::Expired,
            S::RefreshOverdue => LicenseState::RefreshOverdue,
            S::FingerprintMismatch => LicenseState::FingerprintMismatch,
            S::ClockRollback => LicenseState::ClockRollback,
            S::Invalid => LicenseState::Invalid,
        }
    }
}

/// Why the license is not active, in [`Status`].
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct StatusError {
    /// The stable error code.
    pub code: u32,
    /// The code's name.
    pub name: String,
    /// The full message.
    pub message: String,
}

/// One feature of the installed license.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FeatureStatus {
    /// The feature's name.
    pub name: String,
    /// `perpetual`, `subscription` or `metered`.
    pub kind: String,
    /// For subscriptions: when it ends.
    pub expires_at: Option<String>,
    /// [`FeatureStatus::expires_at`] as Unix seconds (any year, also after 9999): what to
    /// compute with instead of parsing the text.
    pub expires_at_secs: Option<u64>,
    /// Whether [`crate::LicenseManager::has_feature`] is true for it now.
    pub active: bool,
    /// For metered features: units per period.
    pub quota: Option<u64>,
    /// For metered features: `day`, `month` or `year`.
    pub period: Option<String>,
    /// For metered features: units used in the current period.
    pub used: Option<u64>,
}

/// How the host's fingerprint matches the installed license.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FingerprintMatch {
    /// Licensed components present on this host.
    pub matched: u32,
    /// Components the license lists.
    pub licensed: u32,
    /// Components that must match.
    pub required: u32,
    /// Whether enough match.
    pub ok: bool,
}

/// A usage license as a status page shows it.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct LicenseInfo {
    /// The license id (quote it to the vendor).
    pub license_id: u64,
    /// The vendor's reference for the customer.
    pub customer: String,
    /// The product.
    pub product: String,
    /// The license revision fulfilled.
    pub revision: u32,
    /// The activation (seat) id.
    pub activation_id: u64,
    /// `online`, `offline` or `floating`.
    pub deployment_model: String,
    /// When the vendor issued the usage license.
    pub issued_at: String,
    /// When it was installed here (absent from [`crate::verify`]).
    pub installed_at: Option<String>,
    /// Start of validity, if bounded.
    pub valid_from: Option<String>,
    /// End of validity (the earlier of expiry and refresh deadline), if bounded.
    pub valid_until: Option<String>,
    /// For online and floating activations: refresh before this time.
    pub refresh_deadline: Option<String>,
    /// [`LicenseInfo::issued_at`] as Unix seconds.
    pub issued_at_secs: u64,
    /// [`LicenseInfo::installed_at`] as Unix seconds.
    pub installed_at_secs: Option<u64>,
    /// [`LicenseInfo::valid_from`] as Unix seconds.
    pub valid_from_secs: Option<u64>,
    /// [`LicenseInfo::valid_until`] as Unix seconds (any year, also after 9999).
    pub valid_until_secs: Option<u64>,
    /// [`LicenseInfo::refresh_deadline`] as Unix seconds.
    pub refresh_deadline_secs: Option<u64>,
    /// The features, in license order.
    pub features: Vec<FeatureStatus>,
    /// The fingerprint match.
    pub fingerprint: FingerprintMatch,
    /// The id of the vendor key that signed it (hex).
    pub vendor_key_id: String,
}

/// What a status page shows (the shape of [`crate::LicenseManager::status_json`]).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Status {
    /// The overall state.
    pub state: LicenseState,
    /// The configured product.
    pub product: String,
    /// The configured product version.
    pub product_version: String,
    /// When this status was computed.
    pub checked_at: String,
    /// [`Status::checked_at`] as Unix seconds.
    pub checked_at_secs: u64,
    /// Whether a usage request is waiting for its usage license.
    pub pending_request: bool,
    /// The installed license, when one is installed and its signature verifies.
    pub license: Option<LicenseInfo>,
    /// Things the operator should act on, e.g. `support expires in 12 days, on …`.
    pub warnings: Vec<String>,
    /// Why the state is not `Active` (absent when active, unlicensed or pending).
    pub error: Option<StatusError>,
}

/// A metered feature's usage in its current period.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct MeterReading {
    /// The feature.
    pub feature: String,
    /// `day`, `month` or `year` (UTC calendar periods).
    pub period: String,
    /// First second of the current period (Unix seconds).
    pub period_start: u64,
    /// First second of the next period (Unix seconds).
    pub period_end: u64,
    /// Units used in the current period.
    pub used: u64,
    /// Units allowed per period.
    pub quota: u64,
    /// Units left in the current period.
    pub remaining: u64,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl From<tollgate_sdk::StatusError> for StatusError {
    fn from(e: tollgate_sdk::StatusError) -> Self {
        StatusError {
            code: e.code,
            name: e.name.into(),
            message: e.message,
        }
    }
}

impl From<tollgate_sdk::FeatureStatus> for FeatureStatus {
    fn from(f: tollgate_sdk::FeatureStatus) -> Self {
        FeatureStatus {
            name: f.name,
            kind: f.kind.into(),
            expires_at: f.expires_at,
            expires_at_secs: f.expires_at_secs,
            active: f.active,
            quota: f.quota,
            period: f.period.map(Into::into),
            used: f.used,
        }
    }
}

impl From<tollgate_sdk::FingerprintMatch> for FingerprintMatch {
    fn from(m: tollgate_sdk::FingerprintMatch) -> Self {
        FingerprintMatch {
            matched: count(m.matched),
            licensed: count(m.licensed),
            required: count(m.required),
            ok: m.ok,
        }
    }
}

impl From<tollgate_sdk::LicenseInfo> for LicenseInfo {
    fn from(l: tollgate_sdk::LicenseInfo) -> Self {
        LicenseInfo {
            license_id: l.license_id,
            customer: l.customer,
            product: l.product,
            revision: l.revision,
            activation_id: l.activation_id,
            deployment_model: l.deployment_model.into(),
            issued_at: l.issued_at,
            installed_at: l.installed_at,
            valid_from: l.valid_from,
            valid_until: l.valid_until,
            refresh_deadline: l.refresh_deadline,
            issued_at_secs: l.times.issued_at,
            installed_at_secs: l.times.installed_at,
            valid_from_secs: l.times.valid_from,
            valid_until_secs: l.times.valid_until,
            refresh_deadline_secs: l.times.refresh_deadline,
            features: l.features.into_iter().map(Into::into).collect(),
            fingerprint: l.fingerprint.into(),
            vendor_key_id: l.vendor_key_id,
        }
    }
}

impl From<tollgate_sdk::Status> for Status {
    fn from(s: tollgate_sdk::Status) -> Self {
        Status {
            state: s.state.into(),
            product: s.product,
            product_version: s.product_version,
            checked_at: s.checked_at,
            checked_at_secs: s.checked_at_secs,
            pending_request: s.pending_request,
            license: s.license.map(Into::into),
            warnings: s.warnings,
            error: s.error.map(Into::into),
        }
    }
}

impl From<tollgate_sdk::MeterReading> for MeterReading {
    fn from(m: tollgate_sdk::MeterReading) -> Self {
        MeterReading {
            feature: m.feature,
            period: m.period.into(),
            period_start: m.period_start,
            period_end: m.period_end,
            used: m.used,
            quota: m.quota,
            remaining: m.remaining,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> HostConfig {
        HostConfig {
            product: "chariot".into(),
            product_version: "4.2.0".into(),
            fingerprint_salt: "salt".into(),
            vendor_root: vec![0x8a; 32],
            warn_days: Some(7),
            probes: false,
            components: vec![FingerprintComponent {
                kind: ComponentKind::Hostname,
                value: b"broker-1".to_vec(),
            }],
            replace: vec![ComponentKind::Mac],
            allow_override: true,
            key_certificates: vec!["TGKC:x".into()],
            key_list: None,
            min_components: Some(3),
        }
    }

    #[test]
    fn config_converts() {
        let cfg = config().into_sdk().unwrap();
        assert_eq!(cfg.vendor_root, [0x8a; 32]);
        assert_eq!(cfg.key_certificates, vec!["TGKC:x".to_string()]);
        assert!(cfg.fingerprint.allow_override);
        assert_eq!(cfg.min_components, 3);
        assert_eq!(cfg.fingerprint_salt, b"salt");
        assert_eq!(cfg.warn_days, 7);
        assert!(!cfg.fingerprint.probes);
        assert_eq!(
            cfg.fingerprint.replace,
            vec![CoreKind::Hostname, CoreKind::Mac]
        );
        assert_eq!(
            cfg.fingerprint.extra,
            vec![(CoreKind::Hostname, b"broker-1".to_vec())]
        );
        let back = HostConfig::from_sdk(&cfg);
        assert_eq!(back.vendor_root, config().vendor_root);
        assert_eq!(back.fingerprint_salt, "salt");
    }

    #[test]
    fn a_root_of_another_length_is_an_invalid_argument() {
        for len in [0, 31, 33] {
            let mut c = config();
            c.vendor_root = vec![0x8a; len];
            assert_eq!(c.into_sdk().unwrap_err().code(), 211);
        }
    }
}
