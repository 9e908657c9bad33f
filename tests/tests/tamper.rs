//! Tamper rejection over the valid vectors: every single-bit flip and every truncation of each
//! valid artifact, in binary and in armored form, is rejected with a typed error: never
//! accepted, never a panic.
//!
//! Each artifact is checked with the same operation and inputs as its vector (a usage license
//! goes through the full `Verifier`, a deactivation code through `decode` then `verify`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::Value;
use tollgate_core::Error;
use tollgate_tests::vectors::{self, run, Artifact, Input, MANIFEST};

/// A valid vector: what it is, its inputs and its binary and text forms.
struct Valid {
    name: String,
    artifact: Artifact,
    inputs: Value,
    binary: Vec<u8>,
    text: String,
}

/// The reference (first valid) vector of `artifact`. The other valid vectors of a kind differ
/// from it only in payload values, so flipping their bits too would only repeat the same checks
/// at the cost of thousands more signature verifications.
fn reference(artifact: Artifact) -> Valid {
    let dir = vectors::vectors_dir();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).unwrap()).unwrap();
    let case = manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["artifact"] == artifact.name() && c["expect"]["result"] == "ok")
        .unwrap_or_else(|| panic!("no valid {} vector", artifact.name()));
    let read = |key: &str| {
        case[key]
            .as_str()
            .map(|f| std::fs::read(dir.join(f)).unwrap())
            .unwrap_or_default()
    };
    Valid {
        name: case["name"].as_str().unwrap().into(),
        artifact,
        inputs: case["inputs"].clone(),
        binary: read("binary"),
        text: String::from_utf8(read("text")).unwrap(),
    }
}

/// Runs the vector's operation on `input`; returns the error, failing the test on success or
/// panic.
fn must_reject(v: &Valid, input: Input<'_>, what: &dyn Fn() -> String) -> Error {
    let outcome = catch_unwind(AssertUnwindSafe(|| run(v.artifact, Some(input), &v.inputs)));
    match outcome {
        Err(_) => panic!("{}: {} panicked", v.name, what()),
        Ok(Err(harness)) => panic!("{}: harness error {harness}", v.name),
        Ok(Ok(Ok(fields))) => panic!("{}: {} was accepted: {fields}", v.name, what()),
        Ok(Ok(Err(e))) => e,
    }
}

fn sanity(v: &Valid) {
    // The untouched vector passes, so every rejection below is due to the tampering.
    for input in [Input::Binary(&v.binary), Input::Text(&v.text)] {
        let got = run(v.artifact, Some(input), &v.inputs).unwrap();
        assert!(got.is_ok(), "{}: the valid vector fails: {got:?}", v.name);
    }
}

fn binary_bit_flips_and_truncations(artifact: Artifact) {
    binary_bit_flips_and_truncations_seeing(artifact, &[]);
}

/// As [`binary_bit_flips_and_truncations`], and every error of `also` is among the rejections.
fn binary_bit_flips_and_truncations_seeing(artifact: Artifact, also: &[&str]) {
    let v = reference(artifact);
    sanity(&v);
    let mut errors = BTreeSet::new();
    for i in 0..v.binary.len() {
        for bit in 0..8 {
            let mut b = v.binary.clone();
            b[i] ^= 1 << bit;
            let e = must_reject(&v, Input::Binary(&b), &|| format!("byte {i} bit {bit}"));
            errors.insert(format!("{e:?}"));
        }
    }
    for len in 0..v.binary.len() {
        let e = must_reject(&v, Input::Binary(&v.binary[..len]), &|| {
            format!("truncation to {len} bytes")
        });
        errors.insert(format!("{e:?}"));
    }
    // Damage to the header is told apart from a forgery.
    for expected in [
        "BadMagic",
        "WrongArtifactType",
        "RetiredVersion",
        "UnknownVersion",
        "Truncated",
        "BadSignature",
    ]
    .iter()
    .chain(also)
    {
        assert!(errors.contains(*expected), "{}: {errors:?}", v.name);
    }
}

/// `text` with the code point of character `i` XOR-ed with `1 << bit` (bit 7 turns an ASCII
/// character into a two-byte UTF-8 one).
fn flip_char(text: &str, i: usize, bit: u32) -> Option<String> {
    let mut chars: Vec<char> = text.chars().collect();
    let c = char::from_u32(u32::from(chars[i]) ^ (1 << bit))?;
    chars[i] = c;
    Some(chars.into_iter().collect())
}

fn text_bit_flips_and_truncations(artifact: Artifact) {
    let v = reference(artifact);
    sanity(&v);
    assert!(v.text.is_ascii());
    let n = v.text.len();
    for i in 0..n {
        for bit in 0..8 {
            let t = flip_char(&v.text, i, bit).unwrap();
            must_reject(&v, Input::Text(&t), &|| {
                format!("char {i} bit {bit}: {t:?}")
            });
        }
    }
    for len in 0..n {
        let t = &v.text[..len];
        must_reject(&v, Input::Text(t), &|| format!("truncation to {len} chars"));
    }
}

#[test]
fn license_binary() {
    binary_bit_flips_and_truncations(Artifact::License);
}

#[test]
fn license_text() {
    text_bit_flips_and_truncations(Artifact::License);
}

#[test]
fn usage_request_binary() {
    binary_bit_flips_and_truncations(Artifact::UsageRequest);
}

#[test]
fn usage_request_text() {
    text_bit_flips_and_truncations(Artifact::UsageRequest);
}

#[test]
fn usage_license_binary() {
    binary_bit_flips_and_truncations(Artifact::UsageLicense);
}

#[test]
fn usage_license_text() {
    text_bit_flips_and_truncations(Artifact::UsageLicense);
}

#[test]
fn deactivation_code_binary() {
    binary_bit_flips_and_truncations(Artifact::DeactivationCode);
}

#[test]
fn deactivation_code_text() {
    text_bit_flips_and_truncations(Artifact::DeactivationCode);
}

/// A license key is not signed; its check symbols catch every single-character change and
/// every adjacent swap (core/SPEC.md §2). Every bit flip of every character of the reference
/// key is rejected, except flips that only change letter case or turn a dash into a space.
#[test]
fn license_key_bit_flips() {
    let v = &reference(Artifact::LicenseKey);
    let reference = run(v.artifact, Some(Input::Text(&v.text)), &v.inputs).unwrap();
    let n = v.text.chars().count();
    for i in 0..n {
        for bit in 0..8 {
            let t = flip_char(&v.text, i, bit).unwrap();
            let got = run(v.artifact, Some(Input::Text(&t)), &v.inputs).unwrap();
            let c = v.text.as_bytes()[i];
            let same_symbol = bit == 5 && (c.is_ascii_alphabetic() || c == b'-');
            if same_symbol {
                // 'A' ^ 0x20 = 'a' (case is ignored); '-' ^ 0x20 = '\r' (whitespace is ignored).
                assert_eq!(got, reference, "{t:?}");
            } else {
                assert!(
                    matches!(got, Err(Error::KeyChecksum | Error::KeyFormat)),
                    "{t:?}: {got:?}"
                );
            }
        }
    }
    for len in 0..n {
        let got = run(v.artifact, Some(Input::Text(&v.text[..len])), &v.inputs).unwrap();
        assert_eq!(got, Err(Error::KeyFormat), "truncation to {len}");
    }
}

#[test]
fn lease_binary() {
    binary_bit_flips_and_truncations(Artifact::Lease);
}

#[test]
fn lease_text() {
    text_bit_flips_and_truncations(Artifact::Lease);
}

/// The root-signed artifacts: a flipped signer id is not the root (`UnknownKeyId`).
#[test]
fn key_certificate_binary() {
    binary_bit_flips_and_truncations_seeing(Artifact::KeyCertificate, &["UnknownKeyId"]);
}

#[test]
fn key_certificate_text() {
    text_bit_flips_and_truncations(Artifact::KeyCertificate);
}

#[test]
fn key_list_binary() {
    binary_bit_flips_and_truncations_seeing(Artifact::KeyList, &["UnknownKeyId"]);
}

#[test]
fn key_list_text() {
    text_bit_flips_and_truncations(Artifact::KeyList);
}

/// A usage license carrying its certificate, on a host that knows only the root: a flip in
/// the signer id or in the embedded certificate leaves the key uncertified.
#[test]
fn trusted_usage_license_binary() {
    binary_bit_flips_and_truncations_seeing(Artifact::TrustedUsageLicense, &["KeyNotCertified"]);
}

#[test]
fn trusted_usage_license_text() {
    text_bit_flips_and_truncations(Artifact::TrustedUsageLicense);
}

/// A usage report names its own signer: a flip in the device key or in any signed byte is a
/// forgery; a flip that breaks the payload's encoding is reported as such.
#[test]
fn usage_report_binary() {
    binary_bit_flips_and_truncations_seeing(Artifact::UsageReport, &["Malformed"]);
}

#[test]
fn usage_report_text() {
    text_bit_flips_and_truncations(Artifact::UsageReport);
}

/// Every bit flip of every character of a report line of the reference journal, and every
/// truncation inside a report line, fails the whole journal naming that line. (Comment lines
/// are not signed; a journal cut at a line end is a shorter valid journal, whose missing
/// reports the vendor sees as a gap in the chain: SPEC §10c.2.)
#[test]
fn usage_journal_lines() {
    let v = reference(Artifact::UsageJournal);
    let ok = tollgate_core::parse_usage_journal(&v.text).unwrap();
    assert_eq!(ok.len(), 3);
    let lines: Vec<&str> = v.text.split_inclusive('\n').collect();
    let mut checked = 0usize;
    for (n, line) in lines.iter().enumerate() {
        let body = line.trim_end_matches('\n');
        if !body.starts_with("TGUR:") {
            continue;
        }
        let rebuild = |new_line: &str| {
            let mut t = String::new();
            for (m, l) in lines.iter().enumerate() {
                t.push_str(if m == n { new_line } else { l });
            }
            t
        };
        for i in 0..body.len() {
            for bit in 0..7 {
                let Some(flipped) = flip_char(body, i, bit) else {
                    continue;
                };
                // A flip to a line break splits the line; the error then names one of the two.
                let t = rebuild(&format!("{flipped}\n"));
                let outcome =
                    catch_unwind(AssertUnwindSafe(|| tollgate_core::parse_usage_journal(&t)));
                let e = outcome
                    .unwrap_or_else(|_| panic!("line {} char {i} bit {bit} panicked", n + 1))
                    .expect_err("a flipped report line was accepted");
                assert!(
                    e.line == n + 1 || (flipped.contains('\n') && e.line == n + 2),
                    "line {} char {i} bit {bit}: error names line {}",
                    n + 1,
                    e.line
                );
                checked += 1;
            }
        }
        // (Cut to nothing, the line is blank and skipped: a gap for the vendor.)
        for len in 1..body.len() {
            let t = rebuild(&format!("{}\n", &body[..len]));
            let e = tollgate_core::parse_usage_journal(&t).expect_err("a cut line was accepted");
            assert_eq!(e.line, n + 1, "line {} cut to {len}", n + 1);
        }
    }
    assert!(checked > 3 * 200 * 6, "{checked}");
}
