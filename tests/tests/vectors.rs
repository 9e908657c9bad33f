//! The committed test vectors (`tests/vectors/`), checked byte for byte.
//!
//! - The generator, run in memory, yields exactly the committed files: no drift, no stale file.
//! - Every valid artifact rebuilt from the fixtures is identical to its committed bytes and
//!   text, and decodes to the fixture's values.
//! - Every case of the committed manifest gives its stated outcome, down to the exact error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use tollgate_core::{
    armor, ArtifactType, DeactivationCode, Error, Fingerprint, License, LicenseKey, RequestClaims,
    UsageLicense, UsageRequest, Verifier,
};
use tollgate_tests::fixtures as fx;
use tollgate_tests::vectors::{self, error_by_name, HAND_WRITTEN, MANIFEST};

fn dir() -> std::path::PathBuf {
    vectors::vectors_dir()
}

fn read(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_text(name: &str) -> String {
    String::from_utf8(read(name)).unwrap()
}

fn committed_manifest() -> Value {
    serde_json::from_slice(&read(MANIFEST)).unwrap()
}

fn committed_cases() -> Vec<Value> {
    committed_manifest()["cases"].as_array().unwrap().clone()
}

fn committed_files() -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !HAND_WRITTEN.contains(&name.as_str()))
        .map(|name| {
            let content = read(&name);
            (name, content)
        })
        .collect()
}

const REGENERATE: &str = "regenerate with `cargo run -p tollgate-tests --bin gen-vectors` \
                          (a change to these bytes is a new format version: see core/SPEC.md)";

#[test]
fn the_generator_yields_exactly_the_committed_files() {
    let generated = vectors::files().unwrap();
    let committed = committed_files();
    let mut problems = Vec::new();
    for (name, content) in &generated {
        match committed.get(name) {
            None => problems.push(format!("{name}: generated but not committed")),
            Some(c) if c != content => problems.push(format!("{name}: differs")),
            Some(_) => {}
        }
    }
    for name in committed.keys() {
        if !generated.contains_key(name) {
            problems.push(format!("{name}: committed but no longer generated"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}\n{REGENERATE}");
}

#[test]
fn the_vectors_are_documented() {
    let readme = read_text("README.md");
    for case in committed_cases() {
        let artifact = case["artifact"].as_str().unwrap();
        assert!(
            readme.contains(&format!("`{artifact}`")),
            "README.md does not describe artifact kind {artifact}"
        );
    }
}

#[test]
fn every_case_gives_its_stated_outcome() {
    let failures: Vec<String> = committed_cases()
        .iter()
        .filter_map(|case| {
            vectors::check_case(case, |name| std::fs::read(dir().join(name)).ok()).err()
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_manifest_is_well_formed() {
    let m = committed_manifest();
    assert_eq!(m["manifest_format"], 1);
    // The format version of each artifact type, by prefix.
    let versions = m["format_versions"].as_object().unwrap();
    assert_eq!(versions.len(), ArtifactType::ALL.len());
    for ty in ArtifactType::ALL {
        assert_eq!(versions[ty.prefix()], u64::from(ty.version()), "{ty:?}");
    }
    assert_eq!(versions["TGUL"], 2);
    assert_eq!(versions["TGLC"], 2);
    // The error table is the core's, in code order.
    let errors = m["errors"].as_array().unwrap();
    assert_eq!(errors.len(), Error::ALL.len());
    for (row, e) in errors.iter().zip(Error::ALL) {
        assert_eq!(error_by_name(row["name"].as_str().unwrap()), Some(e));
        assert_eq!(row["code"], e.code());
        assert_eq!(row["message"], e.message());
    }
    // Names are unique and every listed file exists.
    let cases = committed_cases();
    let mut names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "duplicate case names");
    for c in &cases {
        for key in ["text", "binary"] {
            if let Some(f) = c[key].as_str() {
                assert!(dir().join(f).is_file(), "{f} missing");
            }
        }
    }
}

/// Every error a decoder or verifier can report is pinned by at least one vector.
/// (`LimitExceeded` and `UsageDeviceMismatch` are the encoders' errors: no input to a decoder
/// can produce them.)
#[test]
fn every_decoding_error_has_a_vector() {
    let seen: Vec<Error> = committed_cases()
        .iter()
        .filter_map(|c| c["expect"]["error"].as_str())
        .filter_map(error_by_name)
        .collect();
    for e in Error::ALL {
        if e == Error::LimitExceeded || e == Error::UsageDeviceMismatch {
            assert!(!seen.contains(&e));
            continue;
        }
        assert!(seen.contains(&e), "no vector expects {e:?}");
    }
}

/// The valid artifacts, rebuilt from the fixtures: (file stem, type, bytes).
fn rebuilt_artifacts() -> Vec<(&'static str, ArtifactType, Vec<u8>)> {
    use ArtifactType as T;
    vec![
        (
            "license",
            T::License,
            fx::license().unwrap().as_bytes().to_vec(),
        ),
        (
            "usage_request",
            T::UsageRequest,
            fx::usage_request().unwrap().as_bytes().to_vec(),
        ),
        (
            "usage_license_offline",
            T::UsageLicense,
            fx::usage_license_offline().unwrap().as_bytes().to_vec(),
        ),
        (
            "usage_license_rotated_key",
            T::UsageLicense,
            fx::usage_license_rotated().unwrap().as_bytes().to_vec(),
        ),
        (
            "usage_license_online",
            T::UsageLicense,
            fx::usage_license_online().unwrap().as_bytes().to_vec(),
        ),
        (
            "usage_license_trial",
            T::UsageLicense,
            fx::usage_license_trial().unwrap().as_bytes().to_vec(),
        ),
        (
            "usage_license_wrong_product",
            T::UsageLicense,
            fx::usage_license_other_product()
                .unwrap()
                .as_bytes()
                .to_vec(),
        ),
        (
            "usage_license_unknown_key_id",
            T::UsageLicense,
            fx::usage_license_untrusted_key()
                .unwrap()
                .as_bytes()
                .to_vec(),
        ),
        (
            "deactivation_code",
            T::DeactivationCode,
            fx::deactivation_code().unwrap().as_bytes().to_vec(),
        ),
        (
            "deactivation_code_forged",
            T::DeactivationCode,
            fx::forged_deactivation_code().unwrap().as_bytes().to_vec(),
        ),
    ]
}

#[test]
fn valid_artifacts_are_byte_identical_to_the_fixtures() {
    for (stem, ty, bytes) in rebuilt_artifacts() {
        assert_eq!(
            read(&format!("{stem}.bin")),
            bytes,
            "{stem}.bin\n{REGENERATE}"
        );
        assert_eq!(
            read_text(&format!("{stem}.txt")),
            armor::encode(ty, &bytes),
            "{stem}.txt\n{REGENERATE}"
        );
    }
    assert_eq!(read_text("license_key.txt"), fx::license_key().expose());
    assert_eq!(
        read("public_key_vendor.bin"),
        fx::vendor_key().public_key().to_vec()
    );
    assert_eq!(
        read("public_key_vendor_rotated.bin"),
        fx::rotated_vendor_key().public_key().to_vec()
    );
}

#[test]
fn valid_artifacts_decode_to_the_fixture_values() {
    let ring = fx::keyring().unwrap();

    let key = LicenseKey::parse(&read_text("license_key.txt")).unwrap();
    assert_eq!(key, fx::license_key());

    let l = License::from_armor(&read_text("license.txt"), &ring).unwrap();
    assert_eq!(l.grant(), &fx::grant());
    assert_eq!(l.issued_at(), fx::T_LICENSE_ISSUED);
    assert_eq!(l.key_id(), fx::vendor_key().key_id());
    assert_eq!(l.as_bytes(), read("license.bin"));

    let r = UsageRequest::from_armor(&read_text("usage_request.txt")).unwrap();
    let auth = fx::license_key().auth_secret();
    assert_eq!(r.device_key(), &fx::device_key().public_key());
    assert_eq!(
        r.claims(),
        &RequestClaims {
            key_lookup: fx::license_key().lookup_id(),
            key_proof: auth.proof(&fx::device_key().public_key()),
            product: fx::PRODUCT.into(),
            product_version: fx::PRODUCT_VERSION.into(),
            counter: fx::REQUEST_COUNTER,
            created_at: fx::T_REQUEST,
            fingerprint: fx::fingerprint().unwrap().components().to_vec(),
        }
    );
    assert!(auth.check_proof(r.device_key(), &r.claims().key_proof));

    for (stem, key_id) in [
        ("usage_license_offline", fx::vendor_key().key_id()),
        (
            "usage_license_rotated_key",
            fx::rotated_vendor_key().key_id(),
        ),
    ] {
        let ul = UsageLicense::from_armor(&read_text(&format!("{stem}.txt")), &ring).unwrap();
        assert_eq!(ul.terms(), &fx::offline_terms().unwrap(), "{stem}");
        assert_eq!(ul.key_id(), key_id, "{stem}");
    }

    let online = UsageLicense::decode(&read("usage_license_online.bin"), &ring).unwrap();
    assert_eq!(online.terms(), fx::usage_license_online().unwrap().terms());
    assert_eq!(
        online.terms().refresh_deadline,
        Some(fx::T_REFRESH_DEADLINE)
    );

    let verifier = Verifier::new(fx::PRODUCT, ring);
    let host = fx::fingerprint().unwrap();
    let e = verifier
        .verify(&read_text("usage_license_offline.txt"), &host, fx::T_NOW)
        .unwrap();
    assert_eq!(
        e.active_features(fx::T_NOW),
        ["mqtt-server", "support", "iot-bridge-snowflake"]
    );
    assert!(!e.has_feature("support", fx::T_SUPPORT_EXPIRES));

    let dc = DeactivationCode::from_armor(&read_text("deactivation_code.txt"))
        .unwrap()
        .verify(&fx::device_key().public_key())
        .unwrap();
    assert_eq!(dc.claims(), &fx::deactivation_claims());

    let derived = Fingerprint::from_components(fx::derive_components(&fx::RAW_IDENTIFIERS));
    assert_eq!(derived.unwrap(), host);
}

/// The weak-key vector is meaningful: a verifier that skipped the strict checks would accept
/// its "signature" (it satisfies the ed25519 equation for any message under the identity key).
#[test]
fn the_weak_device_key_vector_fools_a_non_strict_verifier() {
    let b = read("usage_request_weak_device_key.bin");
    let (signed, sig) = b.split_at(b.len() - 64);
    let mut message = ArtifactType::UsageRequest.domain().to_vec();
    message.extend_from_slice(signed);
    let vk = ed25519_dalek::VerifyingKey::from_bytes(signed[4..36].try_into().unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(sig.try_into().unwrap());
    assert!(vk.verify_strict(&message, &sig).is_err());
    assert!(
        ed25519_dalek::Verifier::verify(&vk, &message, &sig).is_ok(),
        "the non-strict verifier accepts it: this is what verify_strict and the weak-key check \
         protect against"
    );
    assert_eq!(UsageRequest::decode(&b), Err(Error::BadSignature));
}

/// Path sanity: the vectors live in the tests crate.
#[test]
fn vectors_dir_is_in_the_tests_crate() {
    assert!(dir().ends_with(Path::new("tests").join("vectors")));
}
