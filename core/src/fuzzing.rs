//! Entry points for the fuzz targets in `fuzz/`: one function per decoder, each feeding the
//! decoder arbitrary input and asserting the invariants it promises.
//!
//! Not part of the API: nothing here is stable, and every function panics (on purpose) when an
//! invariant breaks, which is how libFuzzer learns of a bug. Each fuzz target is a single call
//! into this module, so the properties are written, reviewed and unit-tested beside the code
//! they check, and hold without `std`.
//!
//! The invariants, for every decoder:
//! - it never panics, whatever the input;
//! - it fails only with errors that belong to its stage (an armor decoder never reports a
//!   fingerprint mismatch);
//! - what it accepts round-trips: the armored form decodes to the same value, and the encoder
//!   can produce a value it accepted (the bytes may differ, see below);
//! - a signature made over other bytes is never accepted.
//!
//! A signed decoder checks the signature before it reads the payload, so a fuzzer that only
//! mutates whole artifacts would never get past the signature. Each signed decoder is therefore
//! also driven through [`reseal`]: the input (or the payload of the input, when it parses as an
//! envelope) is signed with the fixed key of [`Reference`] and decoded again, which reaches the
//! postcard payload decoder and the limit checks.
//!
//! Known, not yet decided: postcard accepts non-minimal varints, so two byte strings can decode
//! to the same value (only a key holder can sign either, so this allows no forgery). Until the
//! format rejects them, the helpers compare re-encoded *values*, not bytes.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use alloc::string::String;
use alloc::vec::Vec;

use crate::armor::{self, ArtifactType};
use crate::artifacts::{DeactivationCode, License, UsageLicense, UsageRequest};
use crate::codec::{self, max_len};
use crate::error::Error;
use crate::fingerprint::Fingerprint;
use crate::key::LicenseKey;
use crate::keys::{DeviceKey, KeyId, Keyring, VendorSigningKey, SIGNATURE_LEN};
use crate::lease::{ClientId, Lease};
use crate::reference::{self, PRODUCT, T_FULFILLED, T_NOW, T_SUPPORT_EXPIRES};
use crate::usage::{parse_usage_journal, UsageClaims, UsageReport};
use crate::verify::{Entitlement, FeatureState, Verifier};

/// Fixed keys, host and a valid usage license: the world the fuzz targets verify in.
///
/// Built from [`crate::reference`], the world of the shared test vectors, so the reference usage
/// license here is byte for byte `tests/vectors/usage_license_offline.bin`, the one `benches/`
/// measures, and the valid vectors in the seed corpus verify at [`T_NOW`] on
/// [`Reference::host`].
pub struct Reference {
    /// The vendor key ([`reference::vendor_key`]).
    pub vendor: VendorSigningKey,
    /// The device key ([`reference::device_key`]).
    pub device: DeviceKey,
    /// A verifier for [`PRODUCT`] that trusts only `vendor` ([`reference::verifier`]).
    pub verifier: Verifier,
    /// The host's fingerprint ([`reference::fingerprint`]).
    pub host: Fingerprint,
    /// A usage license for `host`, signed by `vendor`, valid at [`T_NOW`]
    /// ([`reference::usage_license_offline`]).
    pub usage_license: UsageLicense,
}

impl Reference {
    /// Builds the reference world. Deterministic.
    pub fn new() -> Self {
        let vendor = reference::vendor_key();
        let device = reference::device_key();
        let host = reference::fingerprint().expect("five components");
        let verifier = reference::verifier().expect("valid key");
        let usage_license = reference::usage_license_offline().expect("valid terms");
        Reference {
            vendor,
            device,
            verifier,
            host,
            usage_license,
        }
    }

    fn keyring(&self) -> &Keyring {
        self.verifier.keyring()
    }
}

impl Default for Reference {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds `header ‖ signer ‖ payload ‖ signature` of type `ty` around arbitrary payload bytes,
/// signed by `sign` over the domain string and everything before the signature.
pub fn reseal(
    ty: ArtifactType,
    signer: &[u8],
    payload: &[u8],
    sign: impl FnOnce(&[u8]) -> [u8; SIGNATURE_LEN],
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(codec::HEADER_LEN + signer.len() + payload.len() + SIGNATURE_LEN);
    out.extend_from_slice(&codec::MAGIC);
    out.push(ty.type_byte());
    out.push(ty.version());
    out.extend_from_slice(signer);
    out.extend_from_slice(payload);
    let sig = sign(&codec::signed_message(ty, &out));
    out.extend_from_slice(&sig);
    out
}

/// The payload of `data` if it parses as an envelope of type `ty`, else all of `data`: lets
/// whole artifacts from the seed corpus feed the payload decoder.
fn payload_of(ty: ArtifactType, data: &[u8], signer_len: usize) -> &[u8] {
    codec::open(ty, data, signer_len).map_or(data, |o| o.payload)
}

/// Errors that the armor and envelope layers may report.
fn is_format_error(e: Error) -> bool {
    matches!(
        e,
        Error::ArmorPrefix
            | Error::ArmorEncoding
            | Error::ArmorChecksum
            | Error::WrongArtifactType
            | Error::BadMagic
            | Error::UnknownVersion
            | Error::RetiredVersion
            | Error::Truncated
            | Error::Malformed
            | Error::TooLarge
    )
}

/// Errors that decoding and signature checking may report.
fn is_decode_error(e: Error) -> bool {
    is_format_error(e) || matches!(e, Error::UnknownKeyId | Error::BadSignature)
}

/// Errors that [`Verifier::verify`] may report.
fn is_verify_error(e: Error) -> bool {
    is_decode_error(e)
        || matches!(
            e,
            Error::WrongProduct
                | Error::FingerprintMismatch
                | Error::NotYetValid
                | Error::Expired
                | Error::RefreshOverdue
        )
}

/// `text` as the armor decoder reads it: trimmed, with ASCII whitespace removed.
fn canonical_armor(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect()
}

/// Bit-at-a-time CRC-32, the reference for the table-driven [`armor::crc32`].
fn crc32_bitwise(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    c ^ 0xFFFF_FFFF
}

/// Character-at-a-time strict base64url decoding, the reference for the armor's decoder (which
/// takes a faster path through runs of four alphabet characters): same output, same errors.
pub fn b64_decode_reference(text: &[u8], max_len: usize) -> crate::Result<Vec<u8>> {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in text {
        if c.is_ascii_whitespace() {
            continue;
        }
        let v = B64
            .iter()
            .position(|&a| a == c)
            .ok_or(Error::ArmorEncoding)?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
            if out.len() > max_len {
                return Err(Error::TooLarge);
            }
        }
    }
    if bits >= 6 || acc != 0 {
        return Err(Error::ArmorEncoding);
    }
    Ok(out)
}

/// License key parsing: never panics, fails only with [`Error::KeyFormat`] or
/// [`Error::KeyChecksum`], and a parsed key prints to a form that parses to itself, in either
/// letter case. The first 15 bytes, as entropy, also make a key that must round-trip.
pub fn license_key(data: &[u8]) {
    if let Some(entropy) = data.first_chunk::<15>() {
        let k = LicenseKey::from_entropy(entropy);
        assert_eq!(LicenseKey::parse(&k.expose()).as_ref(), Ok(&k));
    }
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    match LicenseKey::parse(text) {
        Ok(k) => {
            let shown = k.expose();
            assert_eq!(shown.len(), 29);
            assert_eq!(LicenseKey::parse(&shown).as_ref(), Ok(&k));
            assert_eq!(
                LicenseKey::parse(&shown.to_ascii_lowercase()).as_ref(),
                Ok(&k)
            );
            let typed: String = text
                .chars()
                .filter(|c| *c != '-' && !c.is_ascii_whitespace())
                .map(|c| c.to_ascii_uppercase())
                .collect();
            assert_eq!(typed, shown.replace('-', ""));
        }
        Err(e) => assert!(matches!(e, Error::KeyFormat | Error::KeyChecksum), "{e:?}"),
    }
}

/// Armor: the base64url decoder and CRC-32 agree with their simple references; arbitrary bytes
/// armor and decode back unchanged for every type (and are refused one byte under the size
/// limit); arbitrary text is accepted by at most one type, and when it is, it is the canonical
/// armor of what it decodes to, up to whitespace.
pub fn armor(data: &[u8]) {
    assert_eq!(armor::crc32(data), crc32_bitwise(data));
    let limit = usize::from(data.first().copied().unwrap_or(0));
    assert_eq!(
        armor::b64_decode(data, limit),
        b64_decode_reference(data, limit)
    );
    let width = 8 + usize::from(data.first().copied().unwrap_or(0) % 64);
    for ty in ArtifactType::ALL {
        let text = armor::encode(ty, data);
        assert_eq!(ArtifactType::sniff(&text), Ok(ty));
        assert_eq!(armor::decode(ty, &text, data.len()).as_deref(), Ok(data));
        assert_eq!(
            armor::decode(ty, &armor::wrap(&text, width), data.len()).as_deref(),
            Ok(data)
        );
        if let Some(under) = data.len().checked_sub(1) {
            assert_eq!(armor::decode(ty, &text, under), Err(Error::TooLarge));
        }
    }

    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let mut accepted = 0;
    for ty in ArtifactType::ALL {
        match armor::decode(ty, text, max_len(ty)) {
            Ok(bytes) => {
                accepted += 1;
                assert_eq!(ArtifactType::sniff(text), Ok(ty));
                let again = armor::encode(ty, &bytes);
                assert_eq!(canonical_armor(text), again);
                assert_eq!(armor::decode(ty, &again, max_len(ty)), Ok(bytes));
            }
            Err(e) => assert!(
                matches!(
                    e,
                    Error::ArmorPrefix
                        | Error::ArmorEncoding
                        | Error::ArmorChecksum
                        | Error::WrongArtifactType
                        | Error::TooLarge
                ),
                "{e:?}"
            ),
        }
    }
    assert!(accepted <= 1);
}

/// [`License::decode`] on the input as it is, then on its payload sealed by the reference
/// vendor key. An accepted license keeps the exact input bytes, survives armoring, and its grant
/// can be signed again to a license with the same content.
pub fn license(data: &[u8]) {
    let r = Reference::new();
    let ty = ArtifactType::License;
    let sealed = reseal(ty, &r.vendor.key_id().0, payload_of(ty, data, 8), |m| {
        r.vendor.sign(m)
    });
    for bytes in [data, &sealed[..]] {
        match License::decode(bytes, r.keyring()) {
            Ok(l) => {
                assert_eq!(l.as_bytes(), bytes);
                assert_eq!(l.grant().validate(), Ok(()));
                assert_eq!(
                    License::from_armor(&l.to_armor(), r.keyring()).as_ref(),
                    Ok(&l)
                );
                let again = License::sign(l.grant().clone(), l.issued_at(), &r.vendor)
                    .expect("an accepted grant can be signed");
                assert!(again.as_bytes().len() <= bytes.len());
                let back = License::decode(again.as_bytes(), r.keyring()).expect("re-signed");
                assert_eq!((back.grant(), back.issued_at()), (l.grant(), l.issued_at()));
            }
            Err(e) => assert!(is_decode_error(e), "{e:?}"),
        }
    }
}

/// [`crate::KeyCertificate::decode`] and [`crate::TrustStore::add_certificate`] against the
/// reference root, on the input as it is and on its payload sealed by the root. An accepted
/// certificate keeps its bytes, survives armoring, and its claims can be issued again.
pub fn key_certificate(data: &[u8]) {
    use crate::trust::KeyCertificate;
    let root = reference::root_key();
    let ty = ArtifactType::KeyCertificate;
    let sealed = reseal(ty, &root.key_id().0, payload_of(ty, data, 8), |m| {
        root.sign(m)
    });
    for bytes in [data, &sealed[..]] {
        match KeyCertificate::decode(bytes, &root.public_key()) {
            Ok(c) => {
                assert_eq!(c.as_bytes(), bytes);
                assert_eq!(
                    KeyCertificate::from_armor(&c.to_armor(), &root.public_key()).as_ref(),
                    Ok(&c)
                );
                let again = KeyCertificate::issue(c.claims().clone(), &root)
                    .expect("accepted claims can be issued");
                assert_eq!(again.claims(), c.claims());
                let mut store = reference::trust_store().expect("reference root");
                match store.add_certificate(bytes) {
                    Ok(id) => assert_eq!(id, c.key_id()),
                    Err(e) => assert_eq!(e, Error::WrongProduct),
                }
            }
            Err(e) => assert!(is_decode_error(e), "{e:?}"),
        }
    }
}

/// [`crate::KeyList::decode`] and [`crate::TrustStore::apply_key_list`] against the reference
/// root, on the input as it is and on its payload sealed by the root. An accepted list keeps its
/// bytes, survives armoring, re-issues to the same content, and applying it twice is accepted.
pub fn key_list(data: &[u8]) {
    use crate::trust::KeyList;
    let root = reference::root_key();
    let ty = ArtifactType::KeyList;
    let sealed = reseal(ty, &root.key_id().0, payload_of(ty, data, 8), |m| {
        root.sign(m)
    });
    for bytes in [data, &sealed[..]] {
        match KeyList::decode(bytes, &root.public_key()) {
            Ok(l) => {
                assert_eq!(l.as_bytes(), bytes);
                assert_eq!(
                    KeyList::from_armor(&l.to_armor(), &root.public_key()).as_ref(),
                    Ok(&l)
                );
                let again =
                    KeyList::issue(l.product(), l.sequence(), l.issued_at(), l.retired(), &root)
                        .expect("an accepted list can be issued");
                assert_eq!(again.retired(), l.retired());
                let mut store = reference::trust_store().expect("reference root");
                if l.product() == PRODUCT {
                    assert_eq!(store.apply_key_list(bytes), Ok(l.sequence()));
                    assert_eq!(store.apply_key_list(bytes), Ok(l.sequence()));
                    assert!(l.retired().iter().all(|id| store.is_retired(id)));
                } else {
                    assert_eq!(store.apply_key_list(bytes), Err(Error::WrongProduct));
                }
            }
            Err(e) => assert!(is_decode_error(e), "{e:?}"),
        }
    }
}

/// [`UsageRequest::decode`] on the input as it is, then on its payload sealed by the reference
/// device key. An accepted request keeps the exact input bytes, survives armoring, and its
/// claims can be sealed again to a request with the same content.
pub fn usage_request(data: &[u8]) {
    let device = reference::device_key();
    let device_key = device.public_key();
    let ty = ArtifactType::UsageRequest;
    let sealed = reseal(ty, &device_key, payload_of(ty, data, 32), |m| {
        device.sign(m)
    });
    for bytes in [data, &sealed[..]] {
        match UsageRequest::decode(bytes) {
            Ok(req) => {
                assert_eq!(req.as_bytes(), bytes);
                assert_eq!(UsageRequest::from_armor(&req.to_armor()).as_ref(), Ok(&req));
                let again = codec::seal(ty, &device_key, req.claims(), |m| device.sign(m))
                    .expect("accepted claims can be sealed");
                let back = UsageRequest::decode(&again).expect("re-sealed");
                assert_eq!(back.claims(), req.claims());
            }
            Err(e) => assert!(is_decode_error(e) || e == Error::BadPublicKey, "{e:?}"),
        }
    }
}

/// [`UsageLicense::decode`] on the input as it is, then on its payload sealed by the reference
/// vendor key. An accepted usage license keeps the exact input bytes, survives armoring, and
/// its terms can be issued again to a usage license with the same terms.
pub fn usage_license(data: &[u8]) {
    let r = Reference::new();
    let ty = ArtifactType::UsageLicense;
    let sealed = reseal(ty, &r.vendor.key_id().0, payload_of(ty, data, 8), |m| {
        r.vendor.sign(m)
    });
    for bytes in [data, &sealed[..]] {
        match UsageLicense::decode(bytes, r.keyring()) {
            Ok(ul) => check_usage_license(&r, bytes, &ul),
            Err(e) => assert!(is_decode_error(e), "{e:?}"),
        }
    }
}

fn check_usage_license(r: &Reference, bytes: &[u8], ul: &UsageLicense) {
    assert_eq!(ul.as_bytes(), bytes);
    assert_eq!(
        UsageLicense::from_armor(&ul.to_armor(), r.keyring()).as_ref(),
        Ok(ul)
    );
    let again =
        UsageLicense::issue(ul.terms().clone(), &r.vendor).expect("accepted terms can be issued");
    assert!(again.as_bytes().len() <= bytes.len());
    let back = UsageLicense::decode(again.as_bytes(), r.keyring()).expect("re-issued");
    assert_eq!(back.terms(), ul.terms());
}

/// [`DeactivationCode::decode`] and [`crate::UnverifiedDeactivation::verify`] with the reference
/// device key, on the input as it is and on its payload sealed by that key. A sealed code that
/// decodes must verify with the device key and with no other; a verified code keeps its bytes
/// and claims and survives armoring.
pub fn deactivation_code(data: &[u8]) {
    let device = reference::device_key();
    let device_key = device.public_key();
    let other_key = reference::vendor_key().public_key();
    let ty = ArtifactType::DeactivationCode;
    let sealed = reseal(ty, &[], payload_of(ty, data, 0), |m| device.sign(m));
    for (bytes, signed_by_device) in [(data, false), (&sealed[..], true)] {
        let unverified = match DeactivationCode::decode(bytes) {
            Ok(u) => u,
            Err(e) => {
                assert!(is_format_error(e), "{e:?}");
                continue;
            }
        };
        if signed_by_device {
            assert_eq!(
                unverified
                    .clone()
                    .verify(&other_key)
                    .map(|c| c.claims().clone()),
                Err(Error::BadSignature)
            );
        }
        match unverified.clone().verify(&device_key) {
            Ok(code) => {
                assert_eq!(code.as_bytes(), bytes);
                assert_eq!(code.claims(), unverified.claims());
                let back = DeactivationCode::from_armor(&code.to_armor())
                    .and_then(|u| u.verify(&device_key));
                assert_eq!(back.as_ref(), Ok(&code));
                let again = DeactivationCode::create(code.claims().clone(), &device)
                    .expect("accepted claims can be signed");
                let back = DeactivationCode::decode(again.as_bytes())
                    .and_then(|u| u.verify(&device_key))
                    .expect("re-signed");
                assert_eq!(back.claims(), code.claims());
            }
            Err(e) => {
                assert_eq!(e, Error::BadSignature);
                assert!(
                    !signed_by_device,
                    "a code sealed by the device key must verify"
                );
            }
        }
    }
}

/// Errors that [`UsageReport::decode`] may report.
fn is_usage_report_error(e: Error) -> bool {
    is_format_error(e)
        || matches!(
            e,
            Error::BadSignature
                | Error::UsageChainStart
                | Error::UsageTooManyEntries
                | Error::UsageDuplicateEntry
                | Error::UsageBadEntry
        )
}

/// [`UsageReport::decode`] on the input as it is, on its payload re-signed by the reference
/// device key (the claims re-pointed at that key, so the signature holds and the chain and
/// entry checks are reached), and [`parse_usage_journal`] on the input as text. A report that
/// decodes keeps its bytes, survives armoring and is hashed over those bytes; re-signed claims
/// decode exactly when [`UsageClaims::validate`] accepts them, and then `create` gives the
/// same bytes.
pub fn usage_report(data: &[u8]) {
    let ty = ArtifactType::UsageReport;
    match UsageReport::decode(data) {
        Ok(r) => check_usage_report(&r, data),
        Err(e) => assert!(is_usage_report_error(e), "{e:?}"),
    }
    let device = reference::device_key();
    let payload = payload_of(ty, data, 0);
    if let Ok((mut claims, [])) = postcard::take_from_bytes::<UsageClaims>(payload) {
        claims.device_key = device.public_key();
        if let Ok(encoded) = postcard::to_allocvec(&claims) {
            let sealed = reseal(ty, &[], &encoded, |m| device.sign(m));
            let valid = claims.validate();
            match UsageReport::decode(&sealed) {
                Ok(r) => {
                    assert_eq!(valid, Ok(()));
                    check_usage_report(&r, &sealed);
                    let again = UsageReport::create(claims, &device).expect("valid claims sign");
                    assert_eq!(again.as_bytes(), &sealed[..]);
                }
                Err(Error::TooLarge) => assert!(sealed.len() > max_len(ty)),
                Err(e) => assert_eq!(valid, Err(e)),
            }
        }
    }
    let text = String::from_utf8_lossy(data);
    match parse_usage_journal(&text) {
        Ok(reports) => {
            for r in &reports {
                check_usage_report(r, r.as_bytes());
            }
        }
        Err(e) => {
            assert!(e.line >= 1 && e.line <= text.lines().count(), "{e:?}");
            assert!(is_usage_report_error(e.error), "{e:?}");
        }
    }
}

fn check_usage_report(r: &UsageReport, bytes: &[u8]) {
    use sha2::{Digest, Sha256};
    assert_eq!(r.as_bytes(), bytes);
    assert_eq!(r.claims().validate(), Ok(()));
    let h: [u8; 32] = Sha256::digest(bytes).into();
    assert_eq!(r.hash(), h);
    assert_eq!(UsageReport::from_armor(&r.to_armor()).as_ref(), Ok(r));
}

/// Checks an entitlement that verified at `now` against the usage license it came from.
fn check_entitlement(r: &Reference, ent: &Entitlement, now: u64) {
    assert_eq!(ent.grant().product, PRODUCT);
    assert_eq!(ent.check_time(now), Ok(()));
    assert!(ent.fingerprint_match().ok());
    assert!(ent.valid_from() <= now && now < ent.valid_until());
    for f in ent.features() {
        let active = ent.has_feature(&f.name, now);
        assert_eq!(active, f.active_at(now));
        let state = ent.feature_state(&f.name, now);
        assert_eq!(state == FeatureState::Active, active);
    }
    assert!(!ent.has_feature("no-such-feature", now));
    assert_eq!(
        ent.feature_state("no-such-feature", now),
        FeatureState::Missing
    );
    let again = UsageLicense::issue(ent.terms().clone(), &r.vendor).expect("verified terms");
    assert_eq!(
        r.verifier.verify(&again.to_armor(), &r.host, now).as_ref(),
        Ok(ent)
    );
}

/// The whole verification path on arbitrary text, with the reference keyring, host and
/// [`T_NOW`]: never panics, fails only with verification errors, agrees with armor decoding
/// followed by [`Verifier::verify_bytes`] and with [`Verifier::verify_untimed`] (up to the time
/// checks), and what it accepts re-armors to an equal entitlement.
pub fn verify_text(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let r = Reference::new();
    let ty = ArtifactType::UsageLicense;
    let result = r.verifier.verify(text, &r.host, T_NOW);
    let by_bytes = armor::decode(ty, text, max_len(ty))
        .and_then(|bytes| r.verifier.verify_bytes(&bytes, &r.host, T_NOW));
    assert_eq!(result, by_bytes);
    // Without the clock, only the time checks are skipped: same entitlement, or the same error
    // unless the error was about time.
    let untimed = r.verifier.verify_untimed(text, &r.host);
    match &result {
        Ok(ent) => assert_eq!(untimed.as_ref(), Ok(ent)),
        Err(Error::NotYetValid | Error::Expired | Error::RefreshOverdue) => {
            assert!(matches!(untimed, Ok(_) | Err(Error::FingerprintMismatch)))
        }
        Err(e) => assert_eq!(untimed.as_ref().err(), Some(e)),
    }
    match result {
        Ok(ent) => {
            check_entitlement(&r, &ent, T_NOW);
            let ul = UsageLicense::from_armor(text, r.keyring()).expect("verified");
            assert_eq!(
                r.verifier.verify(&ul.to_armor(), &r.host, T_NOW).as_ref(),
                Ok(&ent)
            );
        }
        Err(e) => assert!(is_verify_error(e), "{e:?}"),
    }
}

/// Times the structured target picks "now" from.
const TIMES: [u64; 6] = [
    T_NOW,
    0,
    T_FULFILLED,
    T_SUPPORT_EXPIRES - 1,
    T_SUPPORT_EXPIRES,
    u64::MAX,
];

/// The whole verification path on mutations of the reference usage license.
///
/// Input layout: a flags byte (bit 0: sign the mutated bytes again with the reference vendor
/// key; bit 1: wrap the armor; bits 2–4: which time to verify at, from a fixed table), a wrap
/// width byte, then edits of four bytes each: operation, offset (two bytes, little-endian,
/// taken modulo the length) and value. Operations: overwrite, xor, insert, remove, truncate.
///
/// Invariants: the unedited reference verifies at [`T_NOW`]; edited bytes that were not signed
/// again never verify (ed25519 `verify_strict` leaves no malleability); armored and binary
/// verification agree; an accepted entitlement is consistent and re-issues to itself.
pub fn verify_mutated(data: &[u8]) {
    let r = Reference::new();
    let reference = r.usage_license.as_bytes();
    let (flags, rest) = data.split_first().unwrap_or((&0, &[][..]));
    let (width, edits) = rest.split_first().unwrap_or((&0, &[][..]));
    let resign = flags & 1 != 0;
    let now = TIMES
        .get(usize::from((flags >> 2) & 7) % TIMES.len())
        .copied()
        .unwrap_or(T_NOW);

    let mut bytes = reference.to_vec();
    for edit in edits.chunks_exact(4) {
        let &[op, lo, hi, value] = edit else {
            continue;
        };
        let offset = usize::from(u16::from_le_bytes([lo, hi]));
        let at = offset % (bytes.len() + 1);
        match op % 5 {
            0 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b = value;
                }
            }
            1 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= value;
                }
            }
            2 => bytes.insert(at, value),
            3 => {
                if at < bytes.len() {
                    bytes.remove(at);
                }
            }
            _ => bytes.truncate(at),
        }
    }
    let edited = bytes.as_slice() != reference;
    if resign {
        if let Some(split) = bytes.len().checked_sub(SIGNATURE_LEN) {
            bytes.truncate(split);
            let sig = r
                .vendor
                .sign(&codec::signed_message(ArtifactType::UsageLicense, &bytes));
            bytes.extend_from_slice(&sig);
        }
    }

    let mut text = armor::encode(ArtifactType::UsageLicense, &bytes);
    if flags & 2 != 0 {
        text = armor::wrap(&text, usize::from(*width));
    }
    let result = r.verifier.verify(&text, &r.host, now);
    assert_eq!(result, r.verifier.verify_bytes(&bytes, &r.host, now));
    if !edited && !resign && now == T_NOW {
        assert!(result.is_ok(), "the reference must verify: {result:?}");
    }
    match result {
        Ok(ent) => {
            assert!(
                resign || !edited,
                "edited bytes verified without a new signature"
            );
            check_entitlement(&r, &ent, now);
            let ul = UsageLicense::decode(&bytes, r.keyring()).expect("verified");
            check_usage_license(&r, &bytes, &ul);
        }
        Err(e) => assert!(is_verify_error(e), "{e:?}"),
    }
}

/// [`Lease::decode`] with the reference floating server's key ([`reference::server_key`]), on
/// the input as it is and on its payload sealed by that key; then
/// [`Verifier::verify_lease_bytes`] with the reference floating usage license.
///
/// Invariants: an accepted lease keeps the exact input bytes, survives armoring and its claims
/// sign again to a lease with the same claims; it never decodes under another key; verifying it
/// for its own client fails only for a reason of SPEC §13 F steps 5–7 (or succeeds, with the
/// lease's claims and feature checks that agree with them), and for any other client with
/// [`Error::LeaseWrongClient`].
pub fn lease(data: &[u8]) {
    let r = Reference::new();
    let server = reference::server_key();
    let key = server.public_key();
    let ty = ArtifactType::Lease;
    let sealed = reseal(ty, &KeyId::of(&key).0, payload_of(ty, data, 8), |m| {
        server.sign(m)
    });
    let floating = reference::floating_usage_license().expect("valid terms");
    let other_key = r.device.public_key();
    for bytes in [data, &sealed[..]] {
        let lease = match Lease::decode(bytes, &key) {
            Ok(l) => l,
            Err(e) => {
                assert!(is_decode_error(e), "{e:?}");
                continue;
            }
        };
        assert_eq!(lease.as_bytes(), bytes);
        assert_eq!(
            Lease::from_armor(&lease.to_armor(), &key).as_ref(),
            Ok(&lease)
        );
        assert!(Lease::decode(bytes, &other_key).is_err());
        let again = Lease::sign(lease.claims().clone(), &server).expect("accepted claims sign");
        assert_eq!(again.claims(), lease.claims());
        let c = lease.claims();
        let ent = r
            .verifier
            .verify_lease_bytes_untimed(floating.as_bytes(), bytes, &c.client_id);
        if let Ok(ent) = ent {
            assert_eq!(ent.check_nonce(&c.nonce), Ok(()));
            let mut replayed = c.nonce;
            replayed[0] ^= 1;
            assert_eq!(ent.check_nonce(&replayed), Err(Error::LeaseNonceMismatch));
        }
        let mut other = c.client_id;
        other.0[0] ^= 1;
        assert_eq!(
            r.verifier
                .verify_lease_bytes(floating.as_bytes(), bytes, &other, c.issued_at)
                .map(|_| ()),
            Err(Error::LeaseWrongClient)
        );
        for now in [c.issued_at, c.expires_at - 1, c.expires_at, T_NOW] {
            match r
                .verifier
                .verify_lease_bytes(floating.as_bytes(), bytes, &c.client_id, now)
            {
                Ok(ent) => {
                    assert_eq!(ent.lease(), c);
                    assert!(c.issued_at <= now && now < c.expires_at);
                    for f in &c.features {
                        let granted = ent.grant().feature(f).expect("granted");
                        assert_eq!(ent.has_feature(f, now), granted.active_at(now));
                    }
                    assert!(!ent.has_feature("no-such-feature", now));
                }
                Err(e) => assert!(
                    matches!(
                        e,
                        Error::LeaseNotGranted
                            | Error::NotYetValid
                            | Error::Expired
                            | Error::RefreshOverdue
                            | Error::LeaseExpired
                    ),
                    "{e:?}"
                ),
            }
        }
    }
    let _ = ClientId::derive(&r.host, core::str::from_utf8(data).unwrap_or(""));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_accept_their_seeds() {
        let r = Reference::new();
        let ul = r.usage_license.as_bytes();
        assert_eq!(
            r.verifier
                .verify(&r.usage_license.to_armor(), &r.host, T_NOW)
                .map(|e| e.has_feature("support", T_NOW)),
            Ok(true)
        );
        license_key(b"22AL6-EU6CP-M9H46-TPCXW-TRHYF");
        license_key(b"22AL6-EU6CP-M9H46-TPCXW-TRHYG");
        armor(b"TGUL:aGVsbG-GphA2");
        armor(r.usage_license.to_armor().as_bytes());
        armor(ul);
        usage_license(ul);
        license(ul);
        usage_request(ul);
        deactivation_code(ul);
        usage_report(ul);
        usage_report(b"TGUR:AAAA\n# x\n");
        verify_text(r.usage_license.to_armor().as_bytes());
        verify_text(b"TGUL:");
        let c = reference::vendor_certificate().unwrap();
        key_certificate(c.as_bytes());
        key_certificate(&c.as_bytes()[..40]);
        key_list(c.as_bytes());
        let kl = crate::trust::KeyList::issue(
            PRODUCT,
            1,
            T_NOW,
            &[reference::rotated_vendor_key().key_id()],
            &reference::root_key(),
        )
        .unwrap();
        key_list(kl.as_bytes());
        key_certificate(kl.as_bytes());
        let l = reference::lease().unwrap();
        lease(l.as_bytes());
        lease(&l.as_bytes()[..40]);
        lease(r.usage_license.as_bytes());
        for flags in [0u8, 1, 2, 3, 4, 5, 9, 13, 17, 21] {
            verify_mutated(&[flags, 20]);
            verify_mutated(&[flags, 20, 1, 100, 0, 1]);
            verify_mutated(&[flags, 20, 4, 200, 0, 0]);
        }
    }

    #[test]
    fn payloads_of_other_artifacts_are_decoded() {
        let code = DeactivationCode::create(
            crate::DeactivationClaims {
                deactivated_at: T_NOW,
                ..reference::deactivation_claims()
            },
            &reference::device_key(),
        )
        .unwrap();
        deactivation_code(code.as_bytes());
        let payload = payload_of(ArtifactType::DeactivationCode, code.as_bytes(), 0);
        assert_eq!(payload.len(), code.as_bytes().len() - 4 - SIGNATURE_LEN);
    }

    #[test]
    fn usage_reports_are_decoded_and_resealed() {
        let device = reference::device_key();
        let mut claims = crate::UsageClaims {
            license_id: reference::LICENSE_ID,
            device_key: reference::other_device_key().public_key(),
            seq: 1,
            prev_hash: [0; 32],
            created_at: T_NOW,
            entries: alloc::vec![crate::UsageEntry {
                feature: "iot-bridge-snowflake".into(),
                period: crate::MeterPeriod::Month,
                period_start: T_NOW,
                units: 5,
            }],
        };
        // Another device's report: decodes as is; resealed for the reference device.
        let other = UsageReport::create(claims.clone(), &reference::other_device_key()).unwrap();
        usage_report(other.as_bytes());
        usage_report(other.to_armor().as_bytes());
        let journal = crate::usage_journal_text(core::slice::from_ref(&other));
        usage_report(journal.as_bytes());
        // Claims the checks refuse, resealed: the decoder agrees with `validate`.
        claims.device_key = device.public_key();
        claims.seq = 0;
        let raw = postcard::to_allocvec(&claims).unwrap();
        usage_report(&reseal(ArtifactType::UsageReport, &[], &raw, |m| {
            device.sign(m)
        }));
        usage_report(&raw);
    }
}
