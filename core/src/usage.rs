//! The usage report (`TGUR`): a host's signed, hash-chained statement of the metered units it
//! used, and the usage journal (armored reports, one a line) that carries a chain to the vendor.
//!
//! Each report is signed by the host's device key (the key of its usage request and
//! deactivation code) and names the previous report of the same device key by its hash
//! ([`UsageReport::hash`]), so that the vendor, who keeps the chain, sees a missing report (a
//! gap), two reports on one predecessor (a fork: a cloned host or a restored backup) or a
//! sequence number reused with other contents (a rewritten history). See `core/SPEC.md` §10c.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::armor::{self, ArtifactType};
use crate::codec::{self, max_len};
use crate::error::{Error, Result};
use crate::keys::{DeviceKey, PublicKey};
use crate::model::{check_feature_name, MeterPeriod};

/// Most entries one usage report may carry.
pub const MAX_USAGE_ENTRIES: usize = 16;
/// Most reports [`parse_usage_journal`] accepts in one journal.
pub const MAX_JOURNAL_REPORTS: usize = 4096;

/// The units of one metered feature used in one accounting period, since the previous report.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UsageEntry {
    /// The metered feature's name.
    pub feature: String,
    /// The feature's accounting period.
    pub period: MeterPeriod,
    /// The first second of the period the units were used in (Unix seconds, UTC).
    pub period_start: u64,
    /// Units used in this period since the previous report (a delta, never zero).
    pub units: u64,
}

/// What a usage report states. Everything here is covered by the device key's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageClaims {
    /// The license the usage is under.
    pub license_id: u64,
    /// The reporting host's device public key (its activation's), which signs the report.
    pub device_key: [u8; 32],
    /// 1, 2, 3, … per device key.
    pub seq: u64,
    /// [`UsageReport::hash`] of report `seq - 1`; all zeros for report 1.
    pub prev_hash: [u8; 32],
    /// When the host cut the report (Unix seconds, host clock).
    pub created_at: u64,
    /// The units used, sorted by (feature, period start), each pair at most once. May be empty:
    /// a heartbeat link.
    pub entries: Vec<UsageEntry>,
}

impl UsageClaims {
    /// Checks the chain position and the entries: [`Error::UsageChainStart`],
    /// [`Error::UsageTooManyEntries`], [`Error::UsageDuplicateEntry`] or
    /// [`Error::UsageBadEntry`].
    pub fn validate(&self) -> Result<()> {
        let zero = self.prev_hash == [0u8; 32];
        if self.seq == 0 || (self.seq == 1) != zero {
            return Err(Error::UsageChainStart);
        }
        if self.entries.len() > MAX_USAGE_ENTRIES {
            return Err(Error::UsageTooManyEntries);
        }
        let mut prev: Option<&UsageEntry> = None;
        for e in &self.entries {
            check_feature_name(&e.feature).map_err(|_| Error::UsageBadEntry)?;
            if e.units == 0 {
                return Err(Error::UsageBadEntry);
            }
            if let Some(p) = prev {
                match (p.feature.as_str(), p.period_start)
                    .cmp(&(e.feature.as_str(), e.period_start))
                {
                    core::cmp::Ordering::Less => {}
                    core::cmp::Ordering::Equal => return Err(Error::UsageDuplicateEntry),
                    core::cmp::Ordering::Greater => return Err(Error::UsageBadEntry),
                }
            }
            prev = Some(e);
        }
        Ok(())
    }

    /// The total units of all entries (saturating).
    pub fn total_units(&self) -> u64 {
        self.entries
            .iter()
            .fold(0u64, |acc, e| acc.saturating_add(e.units))
    }
}

/// A host-signed, hash-chained usage report (`TGUR`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageReport {
    claims: UsageClaims,
    bytes: Vec<u8>,
}

impl UsageReport {
    /// Signs `claims` with the device key. Refuses claims whose device key is not `device`'s
    /// public key ([`Error::UsageDeviceMismatch`]), claims that fail
    /// [`UsageClaims::validate`], and reports over the size limit ([`Error::LimitExceeded`]).
    pub fn create(claims: UsageClaims, device: &DeviceKey) -> Result<Self> {
        if claims.device_key != device.public_key() {
            return Err(Error::UsageDeviceMismatch);
        }
        claims.validate()?;
        let bytes = codec::seal(ArtifactType::UsageReport, &[], &claims, |m| device.sign(m))?;
        Ok(UsageReport { claims, bytes })
    }

    /// Decodes a report and verifies it in full: the envelope, the payload, the signature over
    /// the exact bytes by the device key the claims name, then the chain position and entries.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let ty = ArtifactType::UsageReport;
        let opened = codec::open(ty, bytes, 0)?;
        let claims: UsageClaims = codec::decode_payload(opened.payload)?;
        let pk = PublicKey::from_bytes(&claims.device_key).map_err(|_| Error::BadSignature)?;
        pk.verify_strict(&codec::signed_message(ty, opened.signed), &opened.signature)?;
        claims.validate()?;
        Ok(UsageReport {
            claims,
            bytes: bytes.to_vec(),
        })
    }

    /// Decodes and verifies an armored report.
    pub fn from_armor(text: &str) -> Result<Self> {
        let ty = ArtifactType::UsageReport;
        Self::decode(&armor::decode(ty, text, max_len(ty))?)
    }

    /// The verified claims.
    pub fn claims(&self) -> &UsageClaims {
        &self.claims
    }

    /// SHA-256 over the exact encoded bytes, signature included: what the next report names
    /// as its `prev_hash`.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(&self.bytes).into()
    }

    /// The exact signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The armored text form.
    pub fn to_armor(&self) -> String {
        armor::encode(ArtifactType::UsageReport, &self.bytes)
    }
}

/// A journal line that is not a valid usage report: its 1-based line number and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UsageJournalError {
    /// The line of the journal text, from 1.
    pub line: usize,
    /// What is wrong with it. [`Error::TooLarge`] on the line past [`MAX_JOURNAL_REPORTS`].
    pub error: Error,
}

impl UsageJournalError {
    /// The stable code of the underlying error.
    pub const fn code(&self) -> u32 {
        self.error.code()
    }
}

impl fmt::Display for UsageJournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "usage journal line {}: {}", self.line, self.error)
    }
}

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
impl std::error::Error for UsageJournalError {}

impl From<UsageJournalError> for Error {
    fn from(e: UsageJournalError) -> Self {
        e.error
    }
}

/// Parses a usage journal: armored `TGUR` reports, one a line, in sequence order; blank lines
/// and lines starting with `#` are ignored. Every report is decoded and verified
/// ([`UsageReport::from_armor`]); the first bad line fails the whole journal with its line
/// number. Whether the reports extend the vendor's chain is for the vendor to judge.
pub fn parse_usage_journal(text: &str) -> Result<Vec<UsageReport>, UsageJournalError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |error| UsageJournalError { line: i + 1, error };
        if out.len() == MAX_JOURNAL_REPORTS {
            return Err(at(Error::TooLarge));
        }
        out.push(UsageReport::from_armor(line).map_err(at)?);
    }
    Ok(out)
}

/// Writes `reports` as a journal that [`parse_usage_journal`] reads back: a `#` comment line,
/// then one armored report a line, each line ending in `\n`.
pub fn usage_journal_text(reports: &[UsageReport]) -> String {
    let mut out =
        String::from("# tollgate usage journal: TGUR reports, one a line, in seq order\n");
    for r in reports {
        out.push_str(&r.to_armor());
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    fn device() -> DeviceKey {
        DeviceKey::from_seed(&[3; 32])
    }

    fn entry(feature: &str, start: u64, units: u64) -> UsageEntry {
        UsageEntry {
            feature: feature.into(),
            period: MeterPeriod::Month,
            period_start: start,
            units,
        }
    }

    fn claims(seq: u64, prev_hash: [u8; 32]) -> UsageClaims {
        UsageClaims {
            license_id: 42,
            device_key: device().public_key(),
            seq,
            prev_hash,
            created_at: 1_700_000_000,
            entries: vec![
                entry("iot-bridge", 1_698_796_800, 1200),
                entry("iot-bridge", 1_701_388_800, 5),
                entry("mqtt-msgs", 1_698_796_800, 7),
            ],
        }
    }

    #[test]
    fn create_decode_armor_round_trip_and_hash() {
        let r = UsageReport::create(claims(1, [0; 32]), &device()).unwrap();
        assert_eq!(&r.as_bytes()[..4], b"TG\x08\x01");
        let back = UsageReport::decode(r.as_bytes()).unwrap();
        assert_eq!(back, r);
        let armored = r.to_armor();
        assert!(armored.starts_with("TGUR:"));
        assert_eq!(UsageReport::from_armor(&armored).unwrap(), r);
        let h: [u8; 32] = Sha256::digest(r.as_bytes()).into();
        assert_eq!(r.hash(), h);
        assert_eq!(r.claims().total_units(), 1212);

        let next = UsageReport::create(claims(2, r.hash()), &device()).unwrap();
        assert_eq!(next.claims().prev_hash, r.hash());
        assert_ne!(next.hash(), r.hash());
    }

    #[test]
    fn encoding_is_deterministic() {
        let a = UsageReport::create(claims(1, [0; 32]), &device()).unwrap();
        let b = UsageReport::create(claims(1, [0; 32]), &device()).unwrap();
        assert_eq!(a.as_bytes(), b.as_bytes());
        // header 4 + payload + signature 64, no signer field
        let payload = postcard::to_allocvec(a.claims()).unwrap();
        assert_eq!(a.as_bytes().len(), 4 + payload.len() + 64);
        assert_eq!(&a.as_bytes()[4..4 + payload.len()], payload.as_slice());
    }

    #[test]
    fn empty_report_is_a_heartbeat_link() {
        let mut c = claims(3, [9; 32]);
        c.entries.clear();
        let r = UsageReport::create(c, &device()).unwrap();
        assert!(UsageReport::decode(r.as_bytes())
            .unwrap()
            .claims()
            .entries
            .is_empty());
    }

    #[test]
    fn chain_start_errors() {
        let d = device();
        let e = |c| UsageReport::create(c, &d).unwrap_err();
        assert_eq!(e(claims(0, [0; 32])), Error::UsageChainStart);
        assert_eq!(e(claims(1, [1; 32])), Error::UsageChainStart);
        assert_eq!(e(claims(2, [0; 32])), Error::UsageChainStart);
        assert!(UsageReport::create(claims(2, [1; 32]), &d).is_ok());
    }

    #[test]
    fn entry_errors() {
        let d = device();
        let with = |entries: Vec<UsageEntry>| {
            let mut c = claims(1, [0; 32]);
            c.entries = entries;
            UsageReport::create(c, &d).map(|_| ()).unwrap_err()
        };
        assert_eq!(
            with(vec![entry("a", 1, 1), entry("a", 1, 2)]),
            Error::UsageDuplicateEntry
        );
        assert_eq!(
            with(vec![entry("b", 1, 1), entry("a", 1, 2)]),
            Error::UsageBadEntry
        );
        assert_eq!(
            with(vec![entry("a", 2, 1), entry("a", 1, 2)]),
            Error::UsageBadEntry
        );
        assert_eq!(with(vec![entry("a", 1, 0)]), Error::UsageBadEntry);
        assert_eq!(with(vec![entry("Bad Name", 1, 1)]), Error::UsageBadEntry);
        assert_eq!(with(vec![entry("", 1, 1)]), Error::UsageBadEntry);
        let many: Vec<UsageEntry> = (0..=MAX_USAGE_ENTRIES as u64)
            .map(|i| entry("a", i, 1))
            .collect();
        assert_eq!(with(many), Error::UsageTooManyEntries);
        // The most entries, with the longest names and widest numbers, fit the size limit.
        let name = "f".repeat(crate::model::MAX_FEATURE_NAME);
        let mut c = claims(u64::MAX, [0xff; 32]);
        c.license_id = u64::MAX;
        c.created_at = u64::MAX;
        c.entries = (0..MAX_USAGE_ENTRIES as u64)
            .map(|i| entry(&name, u64::MAX - 16 + i, u64::MAX))
            .collect();
        let r = UsageReport::create(c, &d).unwrap();
        assert_eq!(r.as_bytes().len(), 1027);
        assert_eq!(r.to_armor().len(), 1380);
        assert!(r.as_bytes().len() <= max_len(ArtifactType::UsageReport));
    }

    #[test]
    fn device_mismatch_on_create() {
        let other = DeviceKey::from_seed(&[4; 32]);
        assert_eq!(
            UsageReport::create(claims(1, [0; 32]), &other).unwrap_err(),
            Error::UsageDeviceMismatch
        );
    }

    /// Re-signs `claims` without the encoder's checks, to prove the decoder's own.
    fn forge(claims: &UsageClaims, device: &DeviceKey) -> Vec<u8> {
        codec::seal(ArtifactType::UsageReport, &[], claims, |m| device.sign(m)).unwrap()
    }

    #[test]
    fn decoder_checks_what_the_encoder_checks() {
        let d = device();
        let mut c = claims(0, [0; 32]);
        assert_eq!(
            UsageReport::decode(&forge(&c, &d)).unwrap_err(),
            Error::UsageChainStart
        );
        c.seq = 1;
        c.entries.swap(0, 2);
        assert_eq!(
            UsageReport::decode(&forge(&c, &d)).unwrap_err(),
            Error::UsageBadEntry
        );
        c.entries = (0..=MAX_USAGE_ENTRIES as u64)
            .map(|i| entry("a", i, 1))
            .collect();
        assert_eq!(
            UsageReport::decode(&forge(&c, &d)).unwrap_err(),
            Error::UsageTooManyEntries
        );
        c.entries = vec![entry("a", 1, 1), entry("a", 1, 1)];
        assert_eq!(
            UsageReport::decode(&forge(&c, &d)).unwrap_err(),
            Error::UsageDuplicateEntry
        );
        // Signed by another key than the one the claims name: a forgery.
        let other = DeviceKey::from_seed(&[4; 32]);
        assert_eq!(
            UsageReport::decode(&forge(&claims(1, [0; 32]), &other)).unwrap_err(),
            Error::BadSignature
        );
    }

    #[test]
    fn tampering_is_a_typed_error() {
        let r = UsageReport::create(claims(1, [0; 32]), &device()).unwrap();
        let bytes = r.as_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[i] ^= 0x01;
            assert!(UsageReport::decode(&b).is_err(), "byte {i}");
        }
        for n in 0..bytes.len() {
            assert!(UsageReport::decode(&bytes[..n]).is_err(), "len {n}");
        }
        let mut wrong = bytes.to_vec();
        wrong[2] = 0x04;
        assert_eq!(
            UsageReport::decode(&wrong).unwrap_err(),
            Error::WrongArtifactType
        );
        let mut trailing = bytes.to_vec();
        trailing.insert(bytes.len() - 64, 0);
        assert_eq!(
            UsageReport::decode(&trailing).unwrap_err(),
            Error::Malformed
        );
        assert_eq!(
            UsageReport::decode(&[0u8; 1281]).unwrap_err(),
            Error::TooLarge
        );
    }

    #[test]
    fn journal_parses_and_names_the_bad_line() {
        let d = device();
        let r1 = UsageReport::create(claims(1, [0; 32]), &d).unwrap();
        let r2 = UsageReport::create(claims(2, r1.hash()), &d).unwrap();
        let text = usage_journal_text(&[r1.clone(), r2.clone()]);
        assert_eq!(
            text,
            format!(
                "# tollgate usage journal: TGUR reports, one a line, in seq order\n{}\n{}\n",
                r1.to_armor(),
                r2.to_armor()
            )
        );
        assert_eq!(
            parse_usage_journal(&text).unwrap(),
            vec![r1.clone(), r2.clone()]
        );
        let spaced = format!(
            "\r\n  # note\n\n  {}  \r\n\n{}",
            r1.to_armor(),
            r2.to_armor()
        );
        assert_eq!(parse_usage_journal(&spaced).unwrap().len(), 2);
        assert_eq!(parse_usage_journal("").unwrap(), vec![]);

        let mut bad = r2.to_armor();
        bad.truncate(bad.len() - 4);
        let text = format!("# j\n{}\n\n{}\n", r1.to_armor(), bad);
        let err = parse_usage_journal(&text).unwrap_err();
        assert_eq!(
            err,
            UsageJournalError {
                line: 4,
                error: Error::ArmorChecksum
            }
        );
        assert_eq!(err.code(), 102);
        assert_eq!(Error::from(err), Error::ArmorChecksum);
        assert_eq!(
            err.to_string(),
            format!("usage journal line 4: {}", Error::ArmorChecksum)
        );
        let err = parse_usage_journal("TGRQ:AAAA\n").unwrap_err();
        assert_eq!((err.line, err.error), (1, Error::WrongArtifactType));
        let err = parse_usage_journal("hello\n").unwrap_err();
        assert_eq!((err.line, err.error), (1, Error::ArmorPrefix));
    }

    #[test]
    fn journal_has_a_report_limit() {
        let r = UsageReport::create(claims(1, [0; 32]), &device()).unwrap();
        let line = r.to_armor();
        let mut text = String::new();
        for _ in 0..=MAX_JOURNAL_REPORTS {
            text.push_str(&line);
            text.push('\n');
        }
        let err = parse_usage_journal(&text).unwrap_err();
        assert_eq!(
            (err.line, err.error),
            (MAX_JOURNAL_REPORTS + 1, Error::TooLarge)
        );
    }
}
