//! Every test vector, the files it is written to, and the checker that replays a case of
//! `manifest.json`.
//!
//! A case names one artifact kind, the file(s) holding its input (`NAME.txt`: text exactly as
//! given, no trailing newline; `NAME.bin`: raw bytes), the other inputs needed to check it
//! (trusted vendor keys, product, host fingerprint, `now`…) and the expected outcome: `ok` with
//! the decoded fields, or `error` with the exact [`Error`] variant and its code. The expected
//! outcomes are stated here by hand (from the fixtures), never computed by running the
//! verifier. The layout is documented in `tests/vectors/README.md`.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tollgate_core::{
    armor, codec, hex_string, ArtifactType, Component, ComponentKind, DeactivationCode, Error,
    Fingerprint, KeyAuthSecret, KeyId, Keyring, License, LicenseKey, UsageLicense, UsageRequest,
    UsageTerms, Verifier,
};

use crate::fixtures::{self as fx, sign_raw};
use crate::json::to_canonical_string;
use crate::render;

/// Version of the manifest's own layout (not of the wire formats).
pub const MANIFEST_FORMAT: u64 = 1;
/// Name of the manifest file.
pub const MANIFEST: &str = "manifest.json";
/// Files in the vectors directory that the generator does not write.
pub const HAND_WRITTEN: &[&str] = &["README.md", ".gitattributes"];

/// The directory holding the committed vectors (`tests/vectors/`).
pub fn vectors_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// What a case exercises, and so which operation checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Artifact {
    /// `LicenseKey::parse` of the text.
    LicenseKey,
    /// `License::from_armor` / `License::decode` with the trusted vendor keys.
    License,
    /// `UsageRequest::from_armor` / `decode`, then the key proof against `auth_secret`.
    UsageRequest,
    /// `Verifier::verify` / `verify_bytes` for `product` with the trusted keys, the host
    /// fingerprint and `now`.
    UsageLicense,
    /// `DeactivationCode::from_armor` / `decode`, then `verify` with the device public key.
    DeactivationCode,
    /// `Keyring::add` of the 32 bytes of the binary file.
    PublicKey,
    /// `Component::derive` of each raw identifier with the salt (no file).
    Fingerprint,
    /// `TrustStore::add_certificate` of a key certificate (`TGKC`) to a store for `product`
    /// anchored at `root_public_key` (see [`crate::trust`]).
    KeyCertificate,
    /// `TrustStore::apply_key_list` of a key list (`TGKL`), after `held_key_list` if given.
    KeyList,
    /// `Verifier::with_trust_store` + `verify` / `verify_bytes`: a usage license checked
    /// through the root of trust (`root_public_key`, `certificates`, `key_list`).
    TrustedUsageLicense,
    /// `Verifier::verify_lease` / `verify_lease_bytes` of a floating server's lease token with
    /// the trusted keys, the server's floating usage license, the client's id and `now`
    /// (see [`crate::lease`]).
    Lease,
    /// `UsageReport::from_armor` / `decode`: a host's usage report, verified by the device key
    /// it names (see [`crate::usage`]).
    UsageReport,
    /// `parse_usage_journal` of a journal text; a failure names the line `error_line`.
    UsageJournal,
}

impl Artifact {
    /// All kinds.
    pub const ALL: [Artifact; 13] = [
        Artifact::KeyCertificate,
        Artifact::KeyList,
        Artifact::TrustedUsageLicense,
        Artifact::LicenseKey,
        Artifact::License,
        Artifact::UsageRequest,
        Artifact::UsageLicense,
        Artifact::DeactivationCode,
        Artifact::PublicKey,
        Artifact::Fingerprint,
        Artifact::Lease,
        Artifact::UsageReport,
        Artifact::UsageJournal,
    ];

    /// The name used in the manifest.
    pub const fn name(self) -> &'static str {
        match self {
            Artifact::LicenseKey => "license-key",
            Artifact::License => "license",
            Artifact::UsageRequest => "usage-request",
            Artifact::UsageLicense => "usage-license",
            Artifact::DeactivationCode => "deactivation-code",
            Artifact::PublicKey => "public-key",
            Artifact::Fingerprint => "fingerprint",
            Artifact::Lease => "lease",
            Artifact::KeyCertificate => "key-certificate",
            Artifact::KeyList => "key-list",
            Artifact::TrustedUsageLicense => "trusted-usage-license",
            Artifact::UsageReport => "usage-report",
            Artifact::UsageJournal => "usage-journal",
        }
    }

    /// The kind for a manifest name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// The expected outcome of a case.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// Success, with the decoded fields (see [`crate::render`]).
    Ok(Value),
    /// Failure with exactly this error.
    Err(Error),
}

/// One test vector.
#[derive(Clone, Debug)]
pub struct Case {
    /// File-name stem and identifier, e.g. `usage_license_expired`.
    pub name: String,
    /// What it exercises.
    pub artifact: Artifact,
    /// One sentence: what it tests.
    pub description: String,
    /// The text input (`NAME.txt`), if any.
    pub text: Option<String>,
    /// The binary input (`NAME.bin`), if any.
    pub binary: Option<Vec<u8>>,
    /// The other inputs of the check.
    pub inputs: Value,
    /// The expected outcome, for every input file of the case.
    pub expect: Expect,
}

/// The name of an error variant, as the manifest spells it (`BadSignature`): [`Error::name`].
pub fn error_name(e: Error) -> String {
    e.name().into()
}

/// The error variant with this name.
pub fn error_by_name(name: &str) -> Option<Error> {
    Error::ALL.into_iter().find(|e| error_name(*e) == name)
}

impl Case {
    pub(crate) fn new(name: &str, artifact: Artifact, description: &str) -> Self {
        Case {
            name: name.into(),
            artifact,
            description: description.into(),
            text: None,
            binary: None,
            inputs: json!({}),
            expect: Expect::Err(Error::Malformed),
        }
    }

    pub(crate) fn text(mut self, t: impl Into<String>) -> Self {
        self.text = Some(t.into());
        self
    }

    pub(crate) fn binary(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.binary = Some(b.into());
        self
    }

    /// Both the binary form and its armor (with a correct checksum).
    pub(crate) fn artifact_bytes(self, ty: ArtifactType, b: &[u8]) -> Self {
        self.text(armor::encode(ty, b)).binary(b)
    }

    pub(crate) fn inputs(mut self, v: Value) -> Self {
        self.inputs = v;
        self
    }

    pub(crate) fn ok(mut self, fields: Value) -> Self {
        self.expect = Expect::Ok(fields);
        self
    }

    pub(crate) fn err(mut self, e: Error) -> Self {
        self.expect = Expect::Err(e);
        self
    }

    /// The file name of the text input.
    pub fn text_file(&self) -> Option<String> {
        self.text.as_ref().map(|_| format!("{}.txt", self.name))
    }

    /// The file name of the binary input.
    pub fn binary_file(&self) -> Option<String> {
        self.binary.as_ref().map(|_| format!("{}.bin", self.name))
    }

    /// The case's entry in the manifest.
    pub fn to_json(&self) -> Value {
        let expect = match &self.expect {
            Expect::Ok(fields) => json!({ "result": "ok", "fields": fields }),
            Expect::Err(e) => {
                json!({ "result": "error", "error": error_name(*e), "code": e.code() })
            }
        };
        json!({
            "name": self.name,
            "artifact": self.artifact.name(),
            "description": self.description,
            "text": self.text_file(),
            "binary": self.binary_file(),
            "inputs": self.inputs,
            "expect": expect,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs and expectations
// ---------------------------------------------------------------------------------------------

fn hex_list(keys: &[[u8; 32]]) -> Value {
    Value::Array(keys.iter().map(|k| Value::String(hex_string(k))).collect())
}

fn trusted_keys() -> Value {
    hex_list(&fx::trusted_public_keys())
}

fn verify_inputs(keys: Value, product: &str, host: &Fingerprint, now: u64) -> Value {
    json!({
        "vendor_public_keys": keys,
        "product": product,
        "host_fingerprint": render::components(host.components()),
        "now": now,
    })
}

pub(crate) fn reference_host_inputs(now: u64) -> Result<Value, Error> {
    Ok(verify_inputs(
        trusted_keys(),
        fx::PRODUCT,
        &fx::fingerprint()?,
        now,
    ))
}

/// The reference inputs at [`fx::T_NOW`], but on a host of which only the first `kept`
/// components are the reference host's (see [`fx::partly_matching_host`]).
fn partly_matching_host_inputs(kept: usize) -> Result<Value, Error> {
    Ok(verify_inputs(
        trusted_keys(),
        fx::PRODUCT,
        &fx::partly_matching_host(kept)?,
        fx::T_NOW,
    ))
}

/// A usage-license case on `bytes`, in binary and armored form (with a correct checksum),
/// checked with `inputs`.
fn usage_license_case(name: &str, description: &str, bytes: &[u8], inputs: &Value) -> Case {
    Case::new(name, Artifact::UsageLicense, description)
        .artifact_bytes(ArtifactType::UsageLicense, bytes)
        .inputs(inputs.clone())
}

/// A usage-license case on `text` only (an armor defect), checked with `inputs`.
fn armor_case(name: &str, description: &str, text: impl Into<String>, inputs: &Value) -> Case {
    Case::new(name, Artifact::UsageLicense, description)
        .text(text)
        .inputs(inputs.clone())
}

/// The expected entitlement: stated from the fixture's terms and by hand, not by verifying.
pub(crate) fn expected_entitlement(
    terms: &UsageTerms,
    key_id: KeyId,
    valid: (u64, Option<u64>),
    matched: usize,
    active: &[&str],
) -> Value {
    json!({
        "terms": render::terms(terms),
        "key_id": key_id.to_hex(),
        "valid_from": valid.0,
        "valid_until": valid.1,
        "fingerprint_match": { "matched": matched, "licensed": 5, "required": fx::FINGERPRINT_THRESHOLD },
        "active_features": active,
    })
}

pub(crate) const ALL_FEATURES: [&str; 3] = ["mqtt-server", "support", "iot-bridge-snowflake"];

/// The bytes of an artifact before its signature.
pub(crate) fn unsigned(bytes: &[u8]) -> &[u8] {
    bytes.get(..bytes.len().saturating_sub(64)).unwrap_or(&[])
}

/// Position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Result<usize, Error> {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .ok_or(Error::Malformed)
}

/// A copy of `b` with `f` applied.
pub(crate) fn edited(b: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = b.to_vec();
    f(&mut v);
    v
}

pub(crate) fn set(v: &mut [u8], i: usize, x: u8) {
    if let Some(slot) = v.get_mut(i) {
        *slot = x;
    }
}

/// `s + L` for a little-endian scalar `s < L`: the same scalar mod L, non-canonically encoded.
fn add_group_order(s: &[u8]) -> [u8; 32] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for (i, o) in out.iter_mut().enumerate() {
        let sum = u16::from(s.get(i).copied().unwrap_or(0)) + u16::from(L[i]) + carry;
        *o = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    out
}

/// The ed25519 encoding of the identity point (y = 1).
const IDENTITY: [u8; 32] = {
    let mut p = [0u8; 32];
    p[0] = 1;
    p
};

/// A point of order 8 (from the list of small-order points in "Taming the many EdDSAs").
const ORDER_8_POINT: &str = "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05";

/// The identity point encoded with y = p + 1 (non-canonical: y ≥ p).
const NON_CANONICAL_IDENTITY: [u8; 32] = {
    let mut p = [0xffu8; 32];
    p[0] = 0xee;
    p[31] = 0x7f;
    p
};

/// The smallest y (as a little-endian integer < 256) that is not the y-coordinate of a curve
/// point.
fn not_on_curve() -> Result<[u8; 32], Error> {
    (2u8..=255)
        .map(|y| {
            let mut p = [0u8; 32];
            p[0] = y;
            p
        })
        .find(|p| ed25519_dalek::VerifyingKey::from_bytes(p).is_err())
        .ok_or(Error::Malformed)
}

// ---------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------

/// Every case, valid ones first within each artifact kind.
pub fn cases() -> Result<Vec<Case>, Error> {
    let mut out = Vec::new();
    license_key_cases(&mut out)?;
    fingerprint_cases(&mut out)?;
    public_key_cases(&mut out)?;
    license_cases(&mut out)?;
    usage_request_cases(&mut out)?;
    usage_license_cases(&mut out)?;
    envelope_cases(&mut out)?;
    armor_cases(&mut out)?;
    signature_cases(&mut out)?;
    deactivation_cases(&mut out)?;
    crate::lease::lease_cases(&mut out)?;
    crate::trust::trust_cases(&mut out)?;
    crate::usage::usage_cases(&mut out)?;
    Ok(out)
}

fn license_key_cases(out: &mut Vec<Case>) -> Result<(), Error> {
    use Artifact::LicenseKey as K;
    let key = fx::license_key();
    let display = key.expose();
    let device = fx::device_key().public_key();
    let inputs = json!({ "device_public_key": hex_string(&device) });
    let fields = render::license_key(&key, &device);
    let chars: Vec<char> = display.chars().collect();
    let string_of = |cs: &[char]| cs.iter().collect::<String>();

    // A typo: the character at index 7 replaced by the next alphabet symbol.
    let mut typo = chars.clone();
    let alphabet = tollgate_core::key::ALPHABET;
    let at = typo.get(7).copied().ok_or(Error::KeyFormat)?;
    let pos = alphabet
        .iter()
        .position(|&a| char::from(a) == at)
        .ok_or(Error::KeyFormat)?;
    typo[7] = char::from(alphabet[(pos + 1) % 32]);

    // A swap: the first two adjacent, different characters of the third group.
    let mut swapped = chars.clone();
    let i = (12..16)
        .find(|&i| chars.get(i) != chars.get(i + 1))
        .ok_or(Error::KeyFormat)?;
    swapped.swap(i, i + 1);

    let mut confusable = chars.clone();
    confusable[1] = 'O';
    let key_case = |name: &str, description: &str, text: String| {
        Case::new(name, K, description)
            .text(text)
            .inputs(inputs.clone())
    };

    out.extend([
        key_case(
            "license_key",
            "the reference license key in display form",
            display.clone(),
        )
        .ok(fields.clone()),
        key_case(
            "license_key_lowercase_no_dashes",
            "the reference key as a person may type it: lower case, no dashes, spaces around",
            format!("  {}  ", display.replace('-', "").to_lowercase()),
        )
        .ok(fields),
        key_case(
            "license_key_typo",
            "one character replaced by another alphabet character: caught by the check symbols",
            string_of(&typo),
        )
        .err(Error::KeyChecksum),
        key_case(
            "license_key_swapped_adjacent",
            "two adjacent different characters swapped: caught by the check symbols",
            string_of(&swapped),
        )
        .err(Error::KeyChecksum),
        key_case(
            "license_key_wrong_length",
            "the last character missing: 24 symbols",
            string_of(&chars[..chars.len() - 1]),
        )
        .err(Error::KeyFormat),
        key_case(
            "license_key_confusable_character",
            "the letter O, which the alphabet excludes (as it does 0, 1 and I)",
            string_of(&confusable),
        )
        .err(Error::KeyFormat),
    ]);
    Ok(())
}

fn fingerprint_cases(out: &mut Vec<Case>) -> Result<(), Error> {
    let raw: Vec<Value> = fx::RAW_IDENTIFIERS
        .iter()
        .map(|(kind, id)| json!({ "kind": *kind as u8, "name": kind.name(), "raw": hex_string(id.as_bytes()) }))
        .collect();
    out.push(
        Case::new(
            "fingerprint_components",
            Artifact::Fingerprint,
            "the reference host's five components, derived with the product salt and sorted",
        )
        .inputs(json!({ "salt": hex_string(fx::FINGERPRINT_SALT), "components": raw }))
        .ok(json!({ "components": render::components(fx::fingerprint()?.components()) })),
    );
    Ok(())
}

fn public_key_cases(out: &mut Vec<Case>) -> Result<(), Error> {
    use Artifact::PublicKey as P;
    let order8: [u8; 32] = hex::decode(ORDER_8_POINT)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(Error::BadPublicKey)?;
    // Pin that these really are what their names say, so the vectors stay meaningful.
    for small in [IDENTITY, [0u8; 32], order8, NON_CANONICAL_IDENTITY] {
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&small).map_err(|_| Error::Malformed)?;
        if !vk.is_weak() {
            return Err(Error::Malformed);
        }
    }
    let vendor = fx::vendor_key();
    let rotated = fx::rotated_vendor_key();
    out.extend([
        Case::new(
            "public_key_vendor",
            P,
            "the reference vendor public key (seed 01…01)",
        )
        .binary(vendor.public_key())
        .ok(json!({ "key_id": vendor.key_id().to_hex() })),
        Case::new(
            "public_key_vendor_rotated",
            P,
            "the rotated vendor public key (seed 02…02)",
        )
        .binary(rotated.public_key())
        .ok(json!({ "key_id": rotated.key_id().to_hex() })),
        Case::new(
            "public_key_identity",
            P,
            "the identity point: small order (weak), refused",
        )
        .binary(IDENTITY)
        .err(Error::BadPublicKey),
        Case::new(
            "public_key_all_zero",
            P,
            "y = 0: a point of order 4 (weak), refused",
        )
        .binary([0u8; 32])
        .err(Error::BadPublicKey),
        Case::new(
            "public_key_order_8",
            P,
            "a point of order 8 (weak), refused",
        )
        .binary(order8)
        .err(Error::BadPublicKey),
        Case::new(
            "public_key_non_canonical_identity",
            P,
            "the identity encoded non-canonically as y = p + 1 (weak), refused",
        )
        .binary(NON_CANONICAL_IDENTITY)
        .err(Error::BadPublicKey),
        Case::new(
            "public_key_not_on_curve",
            P,
            "the smallest y that is no point's y-coordinate: does not decompress, refused",
        )
        .binary(not_on_curve()?)
        .err(Error::BadPublicKey),
    ]);
    Ok(())
}

fn license_cases(out: &mut Vec<Case>) -> Result<(), Error> {
    let l = fx::license()?;
    out.push(
        Case::new(
            "license",
            Artifact::License,
            "the reference license record: ACME Industrial's chariot license",
        )
        .artifact_bytes(ArtifactType::License, l.as_bytes())
        .inputs(json!({ "vendor_public_keys": trusted_keys() }))
        .ok(render::license(&l)),
    );
    let v1 = fx::sign_raw_domain(
        b"tollgate/v1/license\0",
        &fx::VENDOR_SEED,
        &edited(unsigned(l.as_bytes()), |v| set(v, 3, 1)),
    );
    out.push(
        Case::new(
            "license_retired_version_1",
            Artifact::License,
            "the reference license as format version 1 (before the grant's policy fields), \
             signed under the version-1 domain: retired",
        )
        .artifact_bytes(ArtifactType::License, &v1)
        .inputs(json!({ "vendor_public_keys": trusted_keys() }))
        .err(Error::RetiredVersion),
    );
    Ok(())
}

fn usage_request_cases(out: &mut Vec<Case>) -> Result<(), Error> {
    use Artifact::UsageRequest as R;
    let req = fx::usage_request()?;
    let auth = fx::license_key().auth_secret();
    let inputs = json!({ "auth_secret": hex_string(&auth.0) });
    // The device key replaced by the identity point and the signature by (R = identity, S = 0):
    // that "signature" satisfies the ed25519 equation for every message under a weak key.
    let weak = {
        let u = unsigned(req.as_bytes());
        let mut b = u.to_vec();
        b.get_mut(4..36)
            .ok_or(Error::Truncated)?
            .copy_from_slice(&IDENTITY);
        b.extend_from_slice(&IDENTITY);
        b.extend_from_slice(&[0u8; 32]);
        b
    };
    out.extend([
        Case::new(
            "usage_request",
            R,
            "the reference usage request: the reference host asks for the reference key",
        )
        .artifact_bytes(ArtifactType::UsageRequest, req.as_bytes())
        .inputs(inputs.clone())
        .ok(render::usage_request(&req, true)),
        Case::new(
            "usage_request_weak_device_key",
            R,
            "device key = identity point, signature = (identity, 0): valid for any message under a \
             non-strict verifier, refused by verify_strict and the weak-key check",
        )
        .artifact_bytes(ArtifactType::UsageRequest, &weak)
        .inputs(inputs)
        .err(Error::BadSignature),
    ]);
    Ok(())
}

fn usage_license_cases(out: &mut Vec<Case>) -> Result<(), Error> {
    use Artifact::UsageLicense as U;
    let vendor_id = fx::vendor_key().key_id();
    let offline = fx::usage_license_offline()?;
    let terms = fx::offline_terms()?;
    let rotated = fx::usage_license_rotated()?;
    let online = fx::usage_license_online()?;
    let trial = fx::usage_license_trial()?;
    let other = fx::usage_license_other_product()?;
    let untrusted = fx::usage_license_untrusted_key()?;
    let now = reference_host_inputs(fx::T_NOW)?;
    let all = &ALL_FEATURES[..];
    let expect_offline = expected_entitlement(&terms, vendor_id, (0, None), 5, all);
    let expect_trial = expected_entitlement(
        trial.terms(),
        vendor_id,
        (fx::T_LICENSE_ISSUED, Some(fx::T_TRIAL_END)),
        5,
        &["mqtt-server"],
    );

    out.extend([
        usage_license_case(
            "usage_license_offline",
            "the reference usage license: offline activation of the reference grant",
            offline.as_bytes(),
            &now,
        )
        .ok(expect_offline.clone()),
        Case::new(
            "usage_license_offline_wrapped",
            U,
            "the reference usage license as an email may carry it: wrapped at 64 columns with \
             CRLF, indented, blank lines around",
        )
        .text(format!(
            "\r\n  {}\r\n\r\n",
            armor::wrap(&offline.to_armor(), 64).replace('\n', "\r\n  ")
        ))
        .inputs(now.clone())
        .ok(expect_offline),
        usage_license_case(
            "usage_license_rotated_key",
            "the reference terms signed by the rotated vendor key; the host trusts both keys",
            rotated.as_bytes(),
            &now,
        )
        .ok(expected_entitlement(
            &terms,
            fx::rotated_vendor_key().key_id(),
            (0, None),
            5,
            all,
        )),
        usage_license_case(
            "usage_license_online",
            "an online activation with a refresh deadline, verified before the deadline",
            online.as_bytes(),
            &now,
        )
        .ok(expected_entitlement(
            online.terms(),
            vendor_id,
            (0, Some(fx::T_REFRESH_DEADLINE)),
            5,
            all,
        )),
        usage_license_case(
            "usage_license_trial",
            "a usage license of a time-limited grant (not_before and not_after set), inside its window",
            trial.as_bytes(),
            &now,
        )
        .ok(expect_trial.clone()),
        usage_license_case(
            "usage_license_trial_first_second",
            "the trial at now = not_before: valid (the window start is inclusive)",
            trial.as_bytes(),
            &reference_host_inputs(fx::T_LICENSE_ISSUED)?,
        )
        .ok(expect_trial.clone()),
        usage_license_case(
            "usage_license_trial_last_second",
            "the trial at now = not_after - 1: still valid (the window end is exclusive)",
            trial.as_bytes(),
            &reference_host_inputs(fx::T_TRIAL_END - 1)?,
        )
        .ok(expect_trial),
        usage_license_case(
            "usage_license_support_expired",
            "the reference usage license when the support subscription has just ended: the \
             license is valid, the support feature is not active",
            offline.as_bytes(),
            &reference_host_inputs(fx::T_SUPPORT_EXPIRES)?,
        )
        .ok(expected_entitlement(
            &terms,
            vendor_id,
            (0, None),
            5,
            &["mqtt-server", "iot-bridge-snowflake"],
        )),
        usage_license_case(
            "usage_license_fingerprint_3_of_5",
            "a host with two of five components replaced (NIC and host name): 3 of 5 match, \
             the threshold is 3",
            offline.as_bytes(),
            &partly_matching_host_inputs(3)?,
        )
        .ok(expected_entitlement(&terms, vendor_id, (0, None), 3, all)),
        // --- invalid ---
        usage_license_case(
            "usage_license_fingerprint_2_of_5",
            "a host matching 2 of the 5 licensed components, the threshold is 3",
            offline.as_bytes(),
            &partly_matching_host_inputs(2)?,
        )
        .err(Error::FingerprintMismatch),
        usage_license_case(
            "usage_license_fingerprint_1_of_5",
            "a host matching only 1 of the 5 licensed components (a copied license)",
            offline.as_bytes(),
            &partly_matching_host_inputs(1)?,
        )
        .err(Error::FingerprintMismatch),
        usage_license_case(
            "usage_license_wrong_product",
            "a valid usage license for product `beacon` checked by `chariot`",
            other.as_bytes(),
            &now,
        )
        .err(Error::WrongProduct),
        usage_license_case(
            "usage_license_not_yet_valid",
            "the trial one second before not_before",
            trial.as_bytes(),
            &reference_host_inputs(fx::T_LICENSE_ISSUED - 1)?,
        )
        .err(Error::NotYetValid),
        usage_license_case(
            "usage_license_expired",
            "the trial at now = not_after (the end is exclusive)",
            trial.as_bytes(),
            &reference_host_inputs(fx::T_TRIAL_END)?,
        )
        .err(Error::Expired),
        usage_license_case(
            "usage_license_refresh_overdue",
            "the online activation at now = its refresh deadline",
            online.as_bytes(),
            &reference_host_inputs(fx::T_REFRESH_DEADLINE)?,
        )
        .err(Error::RefreshOverdue),
        usage_license_case(
            "usage_license_unknown_key_id",
            "the reference terms signed by a key the host does not trust",
            untrusted.as_bytes(),
            &now,
        )
        .err(Error::UnknownKeyId),
        usage_license_case(
            "usage_license_rotated_key_not_trusted",
            "signed by the rotated key, checked by a host that only trusts the reference key",
            rotated.as_bytes(),
            &verify_inputs(
                hex_list(&[fx::vendor_key().public_key()]),
                fx::PRODUCT,
                &fx::fingerprint()?,
                fx::T_NOW,
            ),
        )
        .err(Error::UnknownKeyId),
    ]);
    Ok(())
}

/// Defects of the binary envelope, on the reference usage license. Where the defect is behind
/// the signature, the bytes are re-signed with the reference key, so that the defect is the
/// only one.
fn envelope_cases(out: &mut Vec<Case>) -> Result<(), Error> {
    use ArtifactType::UsageLicense as T;
    let ul = fx::usage_license_offline()?;
    let b = ul.as_bytes();
    let u = unsigned(b);
    let resign = |v: &[u8]| sign_raw(T, &fx::VENDOR_SEED, v);
    let inputs = reference_host_inputs(fx::T_NOW)?;
    let req = fx::usage_request()?;

    // The first two fingerprint components swapped: unsorted.
    let comps = fx::fingerprint()?;
    let first = comps.components().first().ok_or(Error::Malformed)?;
    let mut first_bytes = vec![first.kind];
    first_bytes.extend_from_slice(&first.digest);
    let at = find(u, &first_bytes)?;
    let unsorted = edited(u, |v| {
        if let Some(pair) = v.get_mut(at..at + 18) {
            pair.rotate_left(9);
        }
    });

    let mut too_large = codec::MAGIC.to_vec();
    too_large.extend_from_slice(&[T.type_byte(), T.version()]);
    too_large.resize(codec::max_len(T) + 1, 0);

    let cut = u.len() - 20;
    out.extend([
        usage_license_case(
            "envelope_bad_magic",
            "the magic is `TX` instead of `TG` (re-signed)",
            &resign(&edited(u, |v| set(v, 1, b'X'))),
            &inputs,
        )
        .err(Error::BadMagic),
        usage_license_case(
            "envelope_unknown_version_3",
            "usage license format version 3, newer than this library (re-signed)",
            &resign(&edited(u, |v| set(v, 3, 3))),
            &inputs,
        )
        .err(Error::UnknownVersion),
        usage_license_case(
            "envelope_retired_version_1",
            "usage license format version 1 (before the grant's policy fields), signed under \
             the version-1 domain: retired, refused as such rather than as corruption",
            &fx::sign_raw_domain(
                b"tollgate/v1/usage-license\0",
                &fx::VENDOR_SEED,
                &edited(u, |v| set(v, 3, 1)),
            ),
            &inputs,
        )
        .err(Error::RetiredVersion),
        usage_license_case(
            "envelope_retired_version_0",
            "format version 0, reserved and refused as retired (re-signed)",
            &resign(&edited(u, |v| set(v, 3, 0))),
            &inputs,
        )
        .err(Error::RetiredVersion),
        usage_license_case(
            "envelope_wrong_type_byte",
            "the reference usage request's bytes armored as a usage license: the armor passes, \
             the type byte (0x02) does not",
            req.as_bytes(),
            &inputs,
        )
        .err(Error::WrongArtifactType),
        usage_license_case(
            "envelope_truncated_header",
            "only the first 3 bytes",
            b.get(..3).ok_or(Error::Truncated)?,
            &inputs,
        )
        .err(Error::Truncated),
        usage_license_case(
            "envelope_truncated_short",
            "76 bytes: header, key id and a signature's worth, but no room for a payload",
            b.get(..76).ok_or(Error::Truncated)?,
            &inputs,
        )
        .err(Error::Truncated),
        usage_license_case(
            "envelope_truncated_payload",
            "the payload cut 20 bytes short, inside the fingerprint (re-signed)",
            &resign(u.get(..cut).ok_or(Error::Truncated)?),
            &inputs,
        )
        .err(Error::Truncated),
        usage_license_case(
            "envelope_trailing_bytes",
            "one zero byte after the payload (re-signed): every payload byte must be used",
            &resign(&edited(u, |v| v.push(0))),
            &inputs,
        )
        .err(Error::Malformed),
        usage_license_case(
            "envelope_unsorted_fingerprint",
            "the first two fingerprint components swapped (re-signed): components must be sorted",
            &resign(&unsorted),
            &inputs,
        )
        .err(Error::Malformed),
        usage_license_case(
            "envelope_too_large",
            "1025 bytes, one more than the usage-license limit",
            &too_large,
            &inputs,
        )
        .err(Error::TooLarge),
    ]);
    Ok(())
}

/// Defects of the text armor, on the reference usage license (text only).
fn armor_cases(out: &mut Vec<Case>) -> Result<(), Error> {
    let inputs = reference_host_inputs(fx::T_NOW)?;
    let text = fx::usage_license_offline()?.to_armor();
    let b64 = armor_alphabet();

    // One character in the middle replaced by the next base64url character.
    let mid = 5 + (text.len() - 5) / 2;
    let mut changed = text.clone().into_bytes();
    let c = changed.get(mid).copied().ok_or(Error::Truncated)?;
    set(&mut changed, mid, b64[(b64_value(c)? + 1) % 64]);
    let changed = String::from_utf8(changed).map_err(|_| Error::ArmorEncoding)?;

    // Non-canonical trailing bits: needs an artifact whose armored length leaves unused bits.
    let candidates = [
        fx::usage_license_offline()?,
        fx::usage_license_online()?,
        fx::usage_license_trial()?,
    ];
    let trail_ul = candidates
        .iter()
        .find(|ul| (ul.as_bytes().len() + 4) % 3 != 0)
        .map(UsageLicense::to_armor)
        .ok_or(Error::Malformed)?;
    let mut trail = trail_ul.into_bytes();
    let last = trail.last().copied().ok_or(Error::Truncated)?;
    let n = trail.len();
    set(&mut trail, n - 1, b64[b64_value(last)? | 1]);
    let trail = String::from_utf8(trail).map_err(|_| Error::ArmorEncoding)?;

    let std_alphabet = text
        .char_indices()
        .skip(5)
        .find(|(_, c)| *c == '-' || *c == '_')
        .map(|(i, c)| {
            let mut s = text.clone();
            s.replace_range(i..i + 1, if c == '-' { "+" } else { "/" });
            s
        })
        .ok_or(Error::Malformed)?;

    let request_text = fx::usage_request()?.to_armor();
    out.extend([
        armor_case(
            "armor_bad_checksum",
            "one character in the middle changed: the CRC-32 does not match",
            changed,
            &inputs,
        )
        .err(Error::ArmorChecksum),
        armor_case(
            "armor_lost_4_chars",
            "4 characters (one whole base64 group) lost in the middle of the text: the CRC-32 \
             does not match",
            format!(
                "{}{}",
                text.get(..40).ok_or(Error::Truncated)?,
                text.get(44..).ok_or(Error::Truncated)?
            ),
            &inputs,
        )
        .err(Error::ArmorChecksum),
        armor_case(
            "armor_non_canonical_trailing_bits",
            "an unused low bit of the last character set: the bytes and CRC are unchanged but \
             the text is not canonical base64url",
            trail,
            &inputs,
        )
        .err(Error::ArmorEncoding),
        armor_case(
            "armor_padding",
            "base64 `=` padding appended: Tollgate armor is unpadded",
            format!("{text}=="),
            &inputs,
        )
        .err(Error::ArmorEncoding),
        armor_case(
            "armor_standard_alphabet",
            "a `-` or `_` replaced by its standard-base64 counterpart `+` or `/`",
            std_alphabet,
            &inputs,
        )
        .err(Error::ArmorEncoding),
        armor_case(
            "armor_wrong_prefix",
            "the prefix `TGXX:` is no artifact type",
            text.replacen("TGUL:", "TGXX:", 1),
            &inputs,
        )
        .err(Error::ArmorPrefix),
        armor_case(
            "armor_lowercase_prefix",
            "the prefix in lower case `tgul:`: prefixes are case-sensitive",
            text.replacen("TGUL:", "tgul:", 1),
            &inputs,
        )
        .err(Error::ArmorPrefix),
        armor_case(
            "armor_request_given_as_usage_license",
            "the reference usage request (`TGRQ:`) given where a usage license is expected",
            request_text,
            &inputs,
        )
        .err(Error::WrongArtifactType),
    ]);
    Ok(())
}

fn armor_alphabet() -> &'static [u8; 64] {
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
}

/// The value (index in [`armor_alphabet`]) of the base64url character `c`.
fn b64_value(c: u8) -> Result<usize, Error> {
    armor_alphabet()
        .iter()
        .position(|&x| x == c)
        .ok_or(Error::ArmorEncoding)
}

/// ed25519 edge cases on the reference usage license's signature.
fn signature_cases(out: &mut Vec<Case>) -> Result<(), Error> {
    let ul = fx::usage_license_offline()?;
    let b = ul.as_bytes();
    let u = unsigned(b);
    let sig = b.get(u.len()..).ok_or(Error::Truncated)?;
    let inputs = reference_host_inputs(fx::T_NOW)?;
    let with_sig = |r: &[u8], s: &[u8]| {
        let mut v = u.to_vec();
        v.extend_from_slice(r);
        v.extend_from_slice(s);
        v
    };
    let (r, s) = sig.split_at(32);

    // Flip the lowest bit of the last byte of the customer name ("…Industrial" → "…Industriam").
    let customer_end = find(u, fx::CUSTOMER.as_bytes())? + fx::CUSTOMER.len() - 1;
    let flipped = edited(b, |v| {
        if let Some(x) = v.get_mut(customer_end) {
            *x ^= 1;
        }
    });

    out.extend([
        usage_license_case(
            "signature_flipped_bit",
            "one bit of the signed body flipped (the customer name), the CRC recomputed",
            &flipped,
            &inputs,
        )
        .err(Error::BadSignature),
        usage_license_case(
            "signature_s_plus_order",
            "S replaced by S + L (the same scalar mod L, non-canonical): a malleated signature \
             that verify_strict refuses",
            &with_sig(r, &add_group_order(s)),
            &inputs,
        )
        .err(Error::BadSignature),
        usage_license_case(
            "signature_all_zero",
            "a signature of 64 zero bytes (R = a point of order 4, S = 0)",
            &with_sig(&[0; 32], &[0; 32]),
            &inputs,
        )
        .err(Error::BadSignature),
        usage_license_case(
            "signature_small_order_r",
            "R = the identity point (small order), S = 0",
            &with_sig(&IDENTITY, &[0; 32]),
            &inputs,
        )
        .err(Error::BadSignature),
    ]);
    Ok(())
}

fn deactivation_cases(out: &mut Vec<Case>) -> Result<(), Error> {
    use Artifact::DeactivationCode as D;
    use ArtifactType::DeactivationCode as T;
    let dc = fx::deactivation_code()?;
    let forged = fx::forged_deactivation_code()?;
    let inputs = json!({ "device_public_key": hex_string(&fx::device_key().public_key()) });
    out.extend([
        Case::new(
            "deactivation_code",
            D,
            "the reference deactivation code, signed by the activation's device key",
        )
        .artifact_bytes(T, dc.as_bytes())
        .inputs(inputs.clone())
        .ok(render::deactivation(dc.claims())),
        Case::new(
            "deactivation_code_forged",
            D,
            "the same claims signed by another device's key, checked with the activation's key",
        )
        .artifact_bytes(T, forged.as_bytes())
        .inputs(inputs)
        .err(Error::BadSignature),
    ]);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Manifest and files
// ---------------------------------------------------------------------------------------------

/// The manifest listing `cases`.
pub fn manifest(cases: &[Case]) -> Value {
    let errors: Vec<Value> = Error::ALL
        .iter()
        .map(|e| json!({ "name": error_name(*e), "code": e.code(), "message": e.message() }))
        .collect();
    json!({
        "about": "Tollgate wire-format test vectors. Layout: tests/vectors/README.md; formats: core/SPEC.md. Generated by `cargo run -p tollgate-tests --bin gen-vectors`; do not edit by hand.",
        "manifest_format": MANIFEST_FORMAT,
        "format_versions": ArtifactType::ALL
            .iter()
            .map(|t| (t.prefix().to_string(), json!(t.version())))
            .collect::<serde_json::Map<_, _>>(),
        "errors": errors,
        "cases": cases.iter().map(Case::to_json).collect::<Vec<_>>(),
    })
}

/// Every generated file of the vectors directory, by name: the inputs of each case and
/// `manifest.json`.
pub fn files() -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let cases = cases()?;
    let mut out = BTreeMap::new();
    for case in &cases {
        if let (Some(name), Some(text)) = (case.text_file(), &case.text) {
            out.insert(name, text.clone().into_bytes());
        }
        if let (Some(name), Some(bin)) = (case.binary_file(), &case.binary) {
            out.insert(name, bin.clone());
        }
    }
    out.insert(
        MANIFEST.into(),
        to_canonical_string(&manifest(&cases)).into_bytes(),
    );
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The checker
// ---------------------------------------------------------------------------------------------

/// One input of a case.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// The content of `NAME.txt`.
    Text(&'a str),
    /// The content of `NAME.bin`.
    Binary(&'a [u8]),
}

pub(crate) fn field<'a>(inputs: &'a Value, name: &str) -> Result<&'a Value, String> {
    inputs
        .get(name)
        .ok_or_else(|| format!("inputs.{name} missing"))
}

fn hex_field<const N: usize>(inputs: &Value, name: &str) -> Result<[u8; N], String> {
    let s = field(inputs, name)?
        .as_str()
        .ok_or_else(|| format!("inputs.{name} is not a string"))?;
    hex_array(s)
}

fn hex_array<const N: usize>(s: &str) -> Result<[u8; N], String> {
    hex::decode(s)
        .map_err(|e| format!("bad hex {s:?}: {e}"))?
        .try_into()
        .map_err(|_| format!("{s:?} is not {N} bytes"))
}

pub(crate) fn u64_field(inputs: &Value, name: &str) -> Result<u64, String> {
    field(inputs, name)?
        .as_u64()
        .ok_or_else(|| format!("inputs.{name} is not an integer"))
}

fn keyring_of(inputs: &Value) -> Result<Result<Keyring, Error>, String> {
    let keys = field(inputs, "vendor_public_keys")?
        .as_array()
        .ok_or("inputs.vendor_public_keys is not a list")?
        .iter()
        .map(|k| hex_array::<32>(k.as_str().unwrap_or_default()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Keyring::from_keys(keys.iter()))
}

pub(crate) fn fingerprint_of(inputs: &Value) -> Result<Result<Fingerprint, Error>, String> {
    let comps = field(inputs, "host_fingerprint")?
        .as_array()
        .ok_or("inputs.host_fingerprint is not a list")?
        .iter()
        .map(|c| {
            let kind = c
                .get("kind")
                .and_then(Value::as_u64)
                .and_then(|k| u8::try_from(k).ok())
                .ok_or("component kind")?;
            let digest = hex_array(c.get("digest").and_then(Value::as_str).unwrap_or_default())?;
            Ok(Component { kind, digest })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Fingerprint::from_components(comps))
}

/// Runs the operation of `artifact` on one input with the case's other `inputs`: the decoded
/// fields, or the error. `Err(String)` means the case itself is broken (a harness error).
pub fn run(
    artifact: Artifact,
    input: Option<Input<'_>>,
    inputs: &Value,
) -> Result<Result<Value, Error>, String> {
    use Input::{Binary, Text};
    Ok(match (artifact, input) {
        (Artifact::LicenseKey, Some(Text(t))) => {
            let device: [u8; 32] = hex_field(inputs, "device_public_key")?;
            LicenseKey::parse(t).map(|k| render::license_key(&k, &device))
        }
        (Artifact::License, Some(input)) => keyring_of(inputs)?.and_then(|ring| {
            match input {
                Text(t) => License::from_armor(t, &ring),
                Binary(b) => License::decode(b, &ring),
            }
            .map(|l| render::license(&l))
        }),
        (Artifact::UsageRequest, Some(input)) => {
            let auth = KeyAuthSecret(hex_field(inputs, "auth_secret")?);
            match input {
                Text(t) => UsageRequest::from_armor(t),
                Binary(b) => UsageRequest::decode(b),
            }
            .map(|r| {
                let valid = auth.check_proof(r.device_key(), &r.claims().key_proof);
                render::usage_request(&r, valid)
            })
        }
        (Artifact::UsageLicense, Some(input)) => {
            let product = field(inputs, "product")?
                .as_str()
                .ok_or("inputs.product is not a string")?;
            let now = u64_field(inputs, "now")?;
            let host = fingerprint_of(inputs)?;
            keyring_of(inputs)?.and_then(|ring| {
                let host = host?;
                let v = Verifier::new(product, ring);
                match input {
                    Text(t) => v.verify(t, &host, now),
                    Binary(b) => v.verify_bytes(b, &host, now),
                }
                .map(|e| render::entitlement(&e, now))
            })
        }
        (Artifact::DeactivationCode, Some(input)) => {
            let device: [u8; 32] = hex_field(inputs, "device_public_key")?;
            match input {
                Text(t) => DeactivationCode::from_armor(t),
                Binary(b) => DeactivationCode::decode(b),
            }
            .and_then(|u| u.verify(&device))
            .map(|d| render::deactivation(d.claims()))
        }
        (Artifact::PublicKey, Some(Binary(b))) => {
            let key: [u8; 32] = b.try_into().map_err(|_| "a public key is 32 bytes")?;
            Keyring::new()
                .add(&key)
                .map(|id| json!({ "key_id": id.to_hex() }))
        }
        (Artifact::Fingerprint, None) => {
            let salt = hex::decode(field(inputs, "salt")?.as_str().unwrap_or_default())
                .map_err(|e| e.to_string())?;
            let comps = field(inputs, "components")?
                .as_array()
                .ok_or("inputs.components is not a list")?
                .iter()
                .map(|c| {
                    let kind = c
                        .get("kind")
                        .and_then(Value::as_u64)
                        .and_then(|k| u8::try_from(k).ok())
                        .and_then(ComponentKind::from_u8)
                        .ok_or("component kind")?;
                    let raw = hex::decode(c.get("raw").and_then(Value::as_str).unwrap_or_default())
                        .map_err(|e| e.to_string())?;
                    Ok(Component::derive(kind, &raw, &salt))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Fingerprint::from_components(comps)
                .map(|fp| json!({ "components": render::components(fp.components()) }))
        }
        (Artifact::Lease, Some(input)) => return crate::lease::run(input, inputs),
        (Artifact::KeyCertificate | Artifact::KeyList | Artifact::TrustedUsageLicense, Some(i)) => {
            return crate::trust::run(artifact, i, inputs)
        }
        (Artifact::UsageReport | Artifact::UsageJournal, Some(i)) => {
            return crate::usage::run(artifact, i, inputs)
        }
        (a, i) => return Err(format!("no operation for {} on {i:?}", a.name())),
    })
}

/// Checks one case of the manifest against the files `read` returns: every input file of the
/// case must give the expected outcome. Returns what went wrong, if anything.
pub fn check_case(case: &Value, read: impl Fn(&str) -> Option<Vec<u8>>) -> Result<(), String> {
    let name = case.get("name").and_then(Value::as_str).unwrap_or("?");
    let fail = |msg: String| format!("case {name}: {msg}");
    let artifact = case
        .get("artifact")
        .and_then(Value::as_str)
        .and_then(Artifact::from_name)
        .ok_or_else(|| fail("unknown artifact".into()))?;
    let inputs = case.get("inputs").cloned().unwrap_or(Value::Null);
    let expect = case.get("expect").ok_or_else(|| fail("no expect".into()))?;
    let expected: Result<Value, Error> = match expect.get("result").and_then(Value::as_str) {
        Some("ok") => Ok(expect.get("fields").cloned().unwrap_or(Value::Null)),
        Some("error") => {
            let e = expect
                .get("error")
                .and_then(Value::as_str)
                .and_then(error_by_name)
                .ok_or_else(|| fail("unknown error name".into()))?;
            if expect.get("code").and_then(Value::as_u64) != Some(u64::from(e.code())) {
                return Err(fail(format!("code is not {}", e.code())));
            }
            Err(e)
        }
        _ => return Err(fail("expect.result is neither ok nor error".into())),
    };

    let text_file = case.get("text").and_then(Value::as_str);
    let binary_file = case.get("binary").and_then(Value::as_str);
    let text = text_file
        .map(|f| read(f).ok_or_else(|| fail(format!("{f} missing"))))
        .transpose()?
        .map(|b| String::from_utf8(b).map_err(|_| fail("text is not UTF-8".into())))
        .transpose()?;
    let binary = binary_file
        .map(|f| read(f).ok_or_else(|| fail(format!("{f} missing"))))
        .transpose()?;

    let mut runs: Vec<(&str, Option<Input<'_>>)> = Vec::new();
    if let Some(t) = &text {
        runs.push(("text", Some(Input::Text(t))));
    }
    if let Some(b) = &binary {
        runs.push(("binary", Some(Input::Binary(b))));
    }
    if runs.is_empty() {
        runs.push(("inputs", None));
    }
    for (what, input) in runs {
        let got = run(artifact, input, &inputs).map_err(&fail)?;
        if got != expected {
            return Err(fail(format!("{what}: expected {expected:?}, got {got:?}",)));
        }
    }
    Ok(())
}
