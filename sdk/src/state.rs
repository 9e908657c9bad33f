//! The persisted license state: one JSON document, always replaced whole and atomically.
//!
//! ```json
//! {
//!   "format": "tollgate-host-state",
//!   "version": 1,
//!   "device": { "seed": "<hex, secret>", "public": "<hex>", "key_lookup": "<hex>",
//!               "key_proof": "<hex>", "counter": 2 },
//!   "pending": { "counter": 2, "created_at": 1700000000, "request": "TGRQ:…" },
//!   "installed": { "usage_license": "TGUL:…", "installed_at": 1700000100 },
//!   "tombstones": { "activations": [7], "device_keys": ["<hex>"] },
//!   "high_water": 1700000200,
//!   "signed_time": 1700000100,
//!   "key_list": "TGKL:…",
//!   "meters": [ { "feature": "snowflake-bridge", "period": "month",
//!                 "period_start": 1698796800, "used": 1200 } ],
//!   "last_deactivation": "TGDC:…",
//!   "usage": { "accrued": [ { "license_id": 1001, "feature": "snowflake-bridge",
//!                             "period": "month", "period_start": 1698796800, "units": 200 } ],
//!              "chains": [ { "device_key": "<hex>", "seq": 4, "hash": "<hex>" } ],
//!              "outbox": [ "TGUR:…" ] }
//! }
//! ```
//!
//! `usage` (the metered-usage journal, [`crate::usage`]) is absent when empty, and a document
//! without it (written before it existed) loads as an empty journal: the version stays 1.
//!
//! The license key itself is never stored: a later request for the same activation reuses the
//! device key, whose key proof (`key_proof`) and the key's lookup id are kept instead.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tollgate_core::DeviceKey;
use zeroize::{Zeroize, Zeroizing};

use crate::error::SdkError;
use crate::storage::Storage;

/// The name of the state document in its [`Storage`].
pub const STATE_DOCUMENT: &str = "state.json";
/// The `format` field of the state document.
pub const STATE_FORMAT: &str = "tollgate-host-state";
/// The version of the state document this software reads and writes.
pub const STATE_VERSION: u32 = 1;

/// Fixed-size byte arrays as lower-case hex strings.
mod hex_array {
    use super::*;

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

/// A list of 32-byte keys as hex strings.
mod hex_keys {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(hex::encode))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).map_err(serde::de::Error::custom)?;
                Ok(out)
            })
            .collect()
    }
}

/// The device key's secret seed: zeroized on drop, hidden from `Debug`, hex in the document.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Seed(Zeroizing<[u8; 32]>);

impl Seed {
    #[cfg(test)]
    pub(crate) fn new(bytes: [u8; 32]) -> Self {
        Seed(Zeroizing::new(bytes))
    }

    /// A fresh seed from the operating system's random number generator.
    pub(crate) fn random() -> crate::Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|_| SdkError::Entropy)?;
        Ok(Seed(bytes))
    }

    pub(crate) fn device_key(&self) -> DeviceKey {
        DeviceKey::from_seed(&self.0)
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Seed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(hex::encode(*self.0));
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Seed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let mut out = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.as_bytes(), out.as_mut())
            .map_err(|_| serde::de::Error::custom("invalid device key seed"))?;
        Ok(Seed(out))
    }
}

/// This host's device key for the current activation (or the activation being requested).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviceState {
    /// The secret seed.
    pub seed: Seed,
    /// The public key (checked against the seed when loading).
    #[serde(with = "hex_array")]
    pub public: [u8; 32],
    /// `LicenseKey::lookup_id` of the key the device key was made for.
    #[serde(with = "hex_array")]
    pub key_lookup: [u8; 8],
    /// The key proof over `public`.
    #[serde(with = "hex_array")]
    pub key_proof: [u8; 16],
    /// The counter of the last request made with this device key.
    pub counter: u32,
}

/// The newest usage request, waiting for its usage license.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PendingRequest {
    /// Its counter.
    pub counter: u32,
    /// When it was made.
    pub created_at: u64,
    /// Its armored text, so it can be shown again.
    pub request: String,
}

/// The installed usage license.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstalledLicense {
    /// Canonical armored text.
    pub usage_license: String,
    /// When it was installed.
    pub installed_at: u64,
}

/// What was deactivated on this host and may never come back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tombstones {
    /// Deactivated activation ids.
    pub activations: Vec<u64>,
    /// Retired device public keys.
    #[serde(with = "hex_keys")]
    pub device_keys: Vec<[u8; 32]>,
}

/// Usage of one metered feature in its current period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MeterState {
    /// The feature.
    pub feature: String,
    /// The period kind's name (`day`, `month`, `year`).
    pub period: String,
    /// First second of the period.
    pub period_start: u64,
    /// Units used in the period.
    pub used: u64,
}

/// Units recorded and not yet cut into a usage report, per license, feature and period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccruedUsage {
    /// The license the units were used under.
    pub license_id: u64,
    /// The metered feature.
    pub feature: String,
    /// The period kind's name (`day`, `month`, `year`).
    pub period: String,
    /// First second of the period.
    pub period_start: u64,
    /// Units not yet reported.
    pub units: u64,
}

/// The head of one device key's usage-report chain: the last report cut.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChainHead {
    /// The device public key that signs the chain.
    #[serde(with = "hex_array")]
    pub device_key: [u8; 32],
    /// The sequence number of the last report cut.
    pub seq: u64,
    /// Its hash (`UsageReport::hash`).
    #[serde(with = "hex_array")]
    pub hash: [u8; 32],
}

/// The metered-usage journal: what accrued, the chain heads, and the cut reports the vendor
/// has not acknowledged yet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsageJournal {
    /// Units not yet cut into a report.
    #[serde(default)]
    pub accrued: Vec<AccruedUsage>,
    /// One head per device key that ever cut a report.
    #[serde(default)]
    pub chains: Vec<ChainHead>,
    /// Armored reports cut and not acknowledged, in the order cut.
    #[serde(default)]
    pub outbox: Vec<String>,
}

impl UsageJournal {
    pub(crate) fn is_empty(&self) -> bool {
        self.accrued.is_empty() && self.chains.is_empty() && self.outbox.is_empty()
    }
}

/// The whole state document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct State {
    pub format: String,
    pub version: u32,
    pub device: Option<DeviceState>,
    pub pending: Option<PendingRequest>,
    pub installed: Option<InstalledLicense>,
    pub tombstones: Tombstones,
    pub high_water: u64,
    /// The latest `issued_at` of the vendor- or root-signed artifacts this host accepted
    /// (usage licenses, key lists): part of the time floor, and the witness that lets a clock
    /// that ran ahead be corrected.
    #[serde(default)]
    pub signed_time: u64,
    /// The root-signed key list (`TGKL:…`) with the highest sequence seen; older ones are
    /// refused.
    #[serde(default)]
    pub key_list: Option<String>,
    pub meters: Vec<MeterState>,
    pub last_deactivation: Option<String>,
    /// The metered-usage journal (absent in documents written before it existed).
    #[serde(default, skip_serializing_if = "UsageJournal::is_empty")]
    pub usage: UsageJournal,
}

impl Default for State {
    fn default() -> Self {
        State {
            format: STATE_FORMAT.into(),
            version: STATE_VERSION,
            device: None,
            pending: None,
            installed: None,
            tombstones: Tombstones::default(),
            high_water: 0,
            signed_time: 0,
            key_list: None,
            meters: Vec::new(),
            last_deactivation: None,
            usage: UsageJournal::default(),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u32>,
}

impl State {
    /// Parses and checks a state document.
    pub(crate) fn from_json(bytes: &[u8]) -> crate::Result<Self> {
        let header: Header =
            serde_json::from_slice(bytes).map_err(|_| SdkError::corrupt("not a JSON object"))?;
        if header.format.as_deref() != Some(STATE_FORMAT) {
            return Err(SdkError::corrupt("not a Tollgate state document"));
        }
        match header.version {
            Some(STATE_VERSION) => {}
            Some(found) => return Err(SdkError::UnsupportedStateVersion { found }),
            None => return Err(SdkError::corrupt("no version")),
        }
        // serde_json's messages quote the offending input only for unknown fields and enum
        // variants, never a seed; still, report only the location.
        let state: State = serde_json::from_slice(bytes).map_err(|e| {
            SdkError::corrupt(format!(
                "invalid document at line {} column {}",
                e.line(),
                e.column()
            ))
        })?;
        state.check()?;
        Ok(state)
    }

    fn check(&self) -> crate::Result<()> {
        if let Some(d) = &self.device {
            if d.seed.device_key().public_key() != d.public {
                return Err(SdkError::corrupt("the device key does not match its seed"));
            }
        }
        match (&self.pending, &self.device) {
            (Some(_), None) => {
                return Err(SdkError::corrupt("a pending request without a device key"))
            }
            (Some(p), Some(d)) if p.counter != d.counter => {
                return Err(SdkError::corrupt(
                    "the pending request's counter is not the device's",
                ))
            }
            _ => {}
        }
        if self.installed.is_some() && self.device.is_none() {
            return Err(SdkError::corrupt(
                "an installed license without a device key",
            ));
        }
        crate::usage::check_journal(&self.usage)
    }

    /// Serializes the document; the bytes hold the device seed and are wiped on drop.
    pub(crate) fn to_json(&self) -> crate::Result<Zeroizing<Vec<u8>>> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(2048));
        serde_json::to_writer_pretty(&mut *bytes, self)
            .map_err(|_| SdkError::corrupt("the state could not be serialized"))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Loads the state from `storage`: `None` if there is none yet.
    pub(crate) fn load(storage: &dyn Storage) -> crate::Result<Option<Self>> {
        match storage.load(STATE_DOCUMENT)? {
            None => Ok(None),
            Some(mut bytes) => {
                let state = State::from_json(&bytes);
                bytes.zeroize();
                state.map(Some)
            }
        }
    }

    /// Replaces the stored state with this one, atomically.
    pub(crate) fn save(&self, storage: &dyn Storage) -> crate::Result<()> {
        storage.store(STATE_DOCUMENT, &self.to_json()?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        let seed = Seed::new([9; 32]);
        let public = seed.device_key().public_key();
        State {
            device: Some(DeviceState {
                seed,
                public,
                key_lookup: [1; 8],
                key_proof: [2; 16],
                counter: 3,
            }),
            pending: Some(PendingRequest {
                counter: 3,
                created_at: 5,
                request: "TGRQ:x".into(),
            }),
            tombstones: Tombstones {
                activations: vec![7],
                device_keys: vec![[4; 32]],
            },
            high_water: 11,
            ..State::default()
        }
    }

    #[test]
    fn round_trip() {
        let s = sample();
        let json = s.to_json().unwrap();
        assert_eq!(State::from_json(&json).unwrap(), s);
        let text = std::str::from_utf8(&json).unwrap();
        assert!(text.contains(&hex::encode([9u8; 32])));
    }

    #[test]
    fn debug_hides_the_seed() {
        let dbg = format!("{:?}", sample());
        assert!(dbg.contains("<redacted>"));
        assert!(!dbg.contains("9, 9, 9"));
        assert!(!dbg.contains(&hex::encode([9u8; 32])));
    }

    #[test]
    fn corrupt_and_unknown_versions() {
        let code = |b: &[u8]| State::from_json(b).unwrap_err();
        assert!(matches!(code(b""), SdkError::CorruptState { .. }));
        assert!(matches!(
            code(b"{\"format\":"),
            SdkError::CorruptState { .. }
        ));
        assert!(matches!(code(b"[]"), SdkError::CorruptState { .. }));
        assert!(matches!(
            code(b"{\"format\":\"other\",\"version\":1}"),
            SdkError::CorruptState { .. }
        ));
        assert_eq!(
            code(b"{\"format\":\"tollgate-host-state\",\"version\":2,\"whatever\":true}"),
            SdkError::UnsupportedStateVersion { found: 2 }
        );
        assert!(matches!(
            code(b"{\"format\":\"tollgate-host-state\",\"version\":1}"),
            SdkError::CorruptState { .. }
        ));
        // A seed that does not match its public key.
        let mut s = sample();
        if let Some(d) = s.device.as_mut() {
            d.public = [0; 32];
        }
        let json = s.to_json().unwrap();
        assert_eq!(
            State::from_json(&json).unwrap_err(),
            SdkError::corrupt("the device key does not match its seed")
        );
        // A flipped hex digit in the seed is caught the same way.
        let text = String::from_utf8(sample().to_json().unwrap().to_vec()).unwrap();
        let bad = text.replacen(&hex::encode([9u8; 32]), &hex::encode([8u8; 32]), 1);
        assert!(matches!(
            State::from_json(bad.as_bytes()).unwrap_err(),
            SdkError::CorruptState { .. }
        ));
    }
}
