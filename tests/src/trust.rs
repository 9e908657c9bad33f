//! The root of trust's vectors: key certificates (`TGKC`), key lists (`TGKL`), usage licenses
//! checked through a [`TrustStore`] anchored at the reference root (seed `0a…0a`), and a lease
//! whose floating usage license carries its signer's certificate.
//!
//! The attack these cases pin: a host that trusted any vendor key its configuration listed
//! accepted a usage license signed by a key the customer made (`trusted_usage_license_*`
//! `uncertified_key`, `self_certified`). Through a trust store such a license is
//! `KeyNotCertified`.

use serde_json::{json, Value};
use tollgate_core::{
    armor, hex_string, ArtifactType, CertificateClaims, Error, KeyCertificate, KeyList, TrustStore,
    UsageLicense, UsageTerms, Verifier,
};

use crate::fixtures::{self as fx, sign_raw};
use crate::render;
use crate::vectors::{
    edited, expected_entitlement, field, fingerprint_of, u64_field, unsigned, Artifact, Case,
    Input, ALL_FEATURES,
};

type Result<T> = std::result::Result<T, Error>;

/// The identity point (small order).
const IDENTITY: [u8; 32] = {
    let mut p = [0u8; 32];
    p[0] = 1;
    p
};

/// Offset of the certified public key in a certificate for [`fx::PRODUCT`]: header 4, root key
/// id 8, product length 1 and 7 bytes.
const CERT_KEY_AT: usize = 4 + 8 + 1 + 7;

/// The reference root's public key, hex.
fn root_hex() -> String {
    hex_string(&fx::root_key().public_key())
}

/// A certificate of `key` for `product` valid in `[not_before, not_after)`, signed by the root.
fn certificate(
    key: &tollgate_core::VendorSigningKey,
    product: &str,
    not_after: Option<u64>,
) -> Result<KeyCertificate> {
    KeyCertificate::issue(
        CertificateClaims {
            product: product.into(),
            not_after,
            ..fx::certificate_claims(key)
        },
        &fx::root_key(),
    )
}

/// The reference usage license with the reference vendor key's certificate embedded.
pub fn usage_license_with_certificate() -> Result<UsageLicense> {
    UsageLicense::issue_with_certificate(
        fx::offline_terms()?,
        &fx::vendor_key(),
        &fx::vendor_certificate()?,
    )
}

/// The floating server's usage license with the vendor key's certificate embedded.
pub fn floating_usage_license_with_certificate() -> Result<UsageLicense> {
    let terms: UsageTerms = fx::floating_usage_license()?.terms().clone();
    UsageLicense::issue_with_certificate(terms, &fx::vendor_key(), &fx::vendor_certificate()?)
}

/// The key list with sequence `seq` retiring `retired`.
fn key_list(seq: u64, retired: &[tollgate_core::KeyId]) -> Result<KeyList> {
    KeyList::issue(fx::PRODUCT, seq, fx::T_NOW - 3600, retired, &fx::root_key())
}

fn render_certificate(c: &KeyCertificate) -> Value {
    let k = c.claims();
    json!({
        "key_id": c.key_id().to_hex(),
        "root_key_id": c.root_key_id().to_hex(),
        "product": k.product,
        "public_key": hex_string(&k.public_key),
        "not_before": k.not_before,
        "not_after": k.not_after,
        "issued_at": k.issued_at,
    })
}

fn render_key_list(l: &KeyList) -> Value {
    json!({
        "product": l.product(),
        "sequence": l.sequence(),
        "issued_at": l.issued_at(),
        "retired": l.retired().iter().map(|k| k.to_hex()).collect::<Vec<_>>(),
    })
}

fn store_inputs(extra: Value) -> Value {
    let mut v = json!({ "root_public_key": root_hex(), "product": fx::PRODUCT });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

fn trusted_inputs(certificates: &[&[u8]], key_list: Option<&[u8]>) -> Result<Value> {
    Ok(store_inputs(json!({
        "certificates": certificates.iter().map(|c| hex_string(c)).collect::<Vec<_>>(),
        "key_list": key_list.map(hex_string),
        "host_fingerprint": render::components(fx::fingerprint()?.components()),
        "now": fx::T_NOW,
    })))
}

/// Every trust case: certificates, key lists, trusted usage licenses.
pub fn trust_cases(out: &mut Vec<Case>) -> Result<()> {
    certificate_cases(out)?;
    key_list_cases(out)?;
    trusted_usage_license_cases(out)?;
    Ok(())
}

fn certificate_cases(out: &mut Vec<Case>) -> Result<()> {
    use Artifact::KeyCertificate as K;
    use ArtifactType::KeyCertificate as T;
    let cert = fx::vendor_certificate()?;
    let inputs = store_inputs(json!({}));
    let case = |name: &str, description: &str, bytes: &[u8]| {
        Case::new(name, K, description)
            .artifact_bytes(T, bytes)
            .inputs(inputs.clone())
    };
    let untrusted = fx::untrusted_vendor_key();
    let non_root = KeyCertificate::issue(fx::certificate_claims(&fx::vendor_key()), &untrusted)?;
    let root_id = fx::root_key().key_id().0;
    let forged = sign_raw(
        T,
        &fx::UNTRUSTED_VENDOR_SEED,
        &edited(unsigned(non_root.as_bytes()), |v| {
            if let Some(s) = v.get_mut(4..12) {
                s.copy_from_slice(&root_id);
            }
        }),
    );
    let other = certificate(&fx::vendor_key(), fx::OTHER_PRODUCT, None)?;
    let tampered = edited(cert.as_bytes(), |v| {
        if let Some(x) = v.get_mut(CERT_KEY_AT) {
            *x ^= 1;
        }
    });
    let weak = sign_raw(
        T,
        &fx::ROOT_SEED,
        &edited(unsigned(cert.as_bytes()), |v| {
            if let Some(s) = v.get_mut(CERT_KEY_AT..CERT_KEY_AT + 32) {
                s.copy_from_slice(&IDENTITY);
            }
        }),
    );
    out.extend([
        case(
            "key_certificate",
            "the root's certificate of the reference vendor key for chariot, valid from \
             2025-12-01, open-ended",
            cert.as_bytes(),
        )
        .ok(render_certificate(&cert)),
        case(
            "key_certificate_non_root_signer",
            "the same claims signed by another key under its own key id: not the root",
            non_root.as_bytes(),
        )
        .err(Error::UnknownKeyId),
        case(
            "key_certificate_forged_root_id",
            "the same claims signed by another key that put the root's key id in the signer \
             field",
            &forged,
        )
        .err(Error::BadSignature),
        case(
            "key_certificate_other_product",
            "a root-signed certificate of the vendor key for another product (beacon)",
            other.as_bytes(),
        )
        .err(Error::WrongProduct),
        case(
            "key_certificate_tampered",
            "one bit of the certified public key flipped, the CRC recomputed",
            &tampered,
        )
        .err(Error::BadSignature),
        case(
            "key_certificate_weak_key",
            "a root-signed certificate of the identity point (small order): malformed",
            &weak,
        )
        .err(Error::Malformed),
    ]);
    Ok(())
}

fn key_list_cases(out: &mut Vec<Case>) -> Result<()> {
    use Artifact::KeyList as K;
    use ArtifactType::KeyList as T;
    let rotated = fx::rotated_vendor_key().key_id();
    let vendor = fx::vendor_key().key_id();
    let list1 = key_list(1, &[rotated])?;
    let list2 = key_list(2, &[rotated, vendor])?;
    let non_root = KeyList::issue(
        fx::PRODUCT,
        1,
        fx::T_NOW - 3600,
        &[rotated],
        &fx::untrusted_vendor_key(),
    )?;
    let other = KeyList::issue(fx::OTHER_PRODUCT, 1, fx::T_NOW, &[rotated], &fx::root_key())?;
    // Two ids, the second before the first: swap the two 8-byte ids at the end of the payload.
    let unsorted = {
        let u = unsigned(list2.as_bytes());
        let n = u.len();
        let swapped = edited(u, |v| {
            if let Some(s) = v.get_mut(n - 16..n) {
                s.rotate_left(8);
            }
        });
        sign_raw(T, &fx::ROOT_SEED, &swapped)
    };
    let case = |name: &str, description: &str, bytes: &[u8], held: Option<&KeyList>| {
        Case::new(name, K, description)
            .artifact_bytes(T, bytes)
            .inputs(store_inputs(json!({
                "held_key_list": held.map(|l| hex_string(l.as_bytes())),
            })))
    };
    out.extend([
        case(
            "key_list",
            "key list 1: the rotated vendor key retired",
            list1.as_bytes(),
            None,
        )
        .ok(render_key_list(&list1)),
        case(
            "key_list_newer",
            "key list 2 (both vendor keys retired) applied over key list 1",
            list2.as_bytes(),
            Some(&list1),
        )
        .ok(render_key_list(&list2)),
        case(
            "key_list_stale",
            "key list 1 applied after key list 2: an older list is refused",
            list1.as_bytes(),
            Some(&list2),
        )
        .err(Error::StaleKeyList),
        case(
            "key_list_non_root_signer",
            "a key list signed by another key than the root",
            non_root.as_bytes(),
            None,
        )
        .err(Error::UnknownKeyId),
        case(
            "key_list_other_product",
            "a root-signed key list for another product",
            other.as_bytes(),
            None,
        )
        .err(Error::WrongProduct),
        case(
            "key_list_unsorted",
            "a root-signed key list whose two ids are out of order: malformed",
            &unsorted,
            None,
        )
        .err(Error::Malformed),
    ]);
    Ok(())
}

fn trusted_usage_license_cases(out: &mut Vec<Case>) -> Result<()> {
    use Artifact::TrustedUsageLicense as U;
    use ArtifactType::UsageLicense as T;
    let terms = fx::offline_terms()?;
    let vendor = fx::vendor_key();
    let cert = fx::vendor_certificate()?;
    let embedded = usage_license_with_certificate()?;
    let plain = fx::usage_license_offline()?;
    let untrusted = fx::untrusted_vendor_key();
    let attacker = fx::usage_license_untrusted_key()?;
    let self_cert = KeyCertificate::issue(fx::certificate_claims(&untrusted), &untrusted)?;
    let self_certified =
        UsageLicense::issue_with_certificate(terms.clone(), &untrusted, &self_cert)?;
    // Signed by the rotated key, carrying the reference key's certificate.
    let rotated = fx::rotated_vendor_key();
    let other_key = sign_raw(
        T,
        &fx::ROTATED_VENDOR_SEED,
        &edited(unsigned(embedded.as_bytes()), |v| {
            if let Some(s) = v.get_mut(4..12) {
                s.copy_from_slice(&rotated.key_id().0);
            }
        }),
    );
    let mut other_terms = terms.clone();
    other_terms.grant.product = fx::OTHER_PRODUCT.into();
    let other_product = UsageLicense::issue_with_certificate(
        other_terms,
        &vendor,
        &certificate(&vendor, fx::OTHER_PRODUCT, None)?,
    )?;
    let expired_cert = certificate(&vendor, fx::PRODUCT, Some(fx::T_LICENSE_ISSUED))?;
    let retiring = key_list(1, &[vendor.key_id()])?;
    let customer_end = embedded
        .as_bytes()
        .windows(fx::CUSTOMER.len())
        .position(|w| w == fx::CUSTOMER.as_bytes())
        .ok_or(Error::Malformed)?
        + fx::CUSTOMER.len()
        - 1;
    let tampered = edited(embedded.as_bytes(), |v| {
        if let Some(x) = v.get_mut(customer_end) {
            *x ^= 1;
        }
    });

    let ok = expected_entitlement(&terms, vendor.key_id(), (0, None), 5, &ALL_FEATURES[..]);
    let root_only = trusted_inputs(&[], None)?;
    let case = |name: &str, description: &str, bytes: &[u8], inputs: &Value| {
        Case::new(name, U, description)
            .artifact_bytes(T, bytes)
            .inputs(inputs.clone())
    };
    out.extend([
        case(
            "trusted_usage_license_embedded_certificate",
            "the reference usage license carrying its signer's certificate; the host knows only \
             the root",
            embedded.as_bytes(),
            &root_only,
        )
        .ok(ok.clone()),
        case(
            "trusted_usage_license_certificate_supplied",
            "the reference usage license without a certificate; the host loaded the vendor key's \
             certificate from a file",
            plain.as_bytes(),
            &trusted_inputs(&[cert.as_bytes()], None)?,
        )
        .ok(ok),
        case(
            "trusted_usage_license_uncertified_key",
            "the configuration-swap attack: a usage license signed by a key the customer made, \
             no certificate; the root never certified it",
            attacker.as_bytes(),
            &root_only,
        )
        .err(Error::KeyNotCertified),
        case(
            "trusted_usage_license_self_certified",
            "the attack with a certificate: the customer's key certified by the customer's key, \
             embedded",
            self_certified.as_bytes(),
            &root_only,
        )
        .err(Error::KeyNotCertified),
        case(
            "trusted_usage_license_no_certificate",
            "a genuine usage license without a certificate, on a host that holds none",
            plain.as_bytes(),
            &root_only,
        )
        .err(Error::KeyNotCertified),
        case(
            "trusted_usage_license_certificate_for_other_key",
            "signed by the rotated vendor key but embedding the reference key's certificate",
            &other_key,
            &root_only,
        )
        .err(Error::KeyNotCertified),
        case(
            "trusted_usage_license_certificate_other_product",
            "a usage license for beacon embedding a root-signed certificate for beacon, on a \
             chariot host: the certificate does not count for chariot",
            other_product.as_bytes(),
            &root_only,
        )
        .err(Error::KeyNotCertified),
        case(
            "trusted_usage_license_outside_certificate_validity",
            "the vendor key's certificate ends 2026-01-01; the usage license was issued after \
             it",
            plain.as_bytes(),
            &trusted_inputs(&[expired_cert.as_bytes()], None)?,
        )
        .err(Error::OutsideKeyValidity),
        case(
            "trusted_usage_license_retired_key",
            "a usage license with its certificate, on a host whose key list retires its key",
            embedded.as_bytes(),
            &trusted_inputs(&[], Some(retiring.as_bytes()))?,
        )
        .err(Error::KeyRetired),
        case(
            "trusted_usage_license_tampered",
            "one bit of the customer name flipped (CRC recomputed): the certified key's \
             signature fails",
            &tampered,
            &root_only,
        )
        .err(Error::BadSignature),
    ]);
    Ok(())
}

fn hex_bytes(v: &Value) -> std::result::Result<Vec<u8>, String> {
    hex::decode(v.as_str().ok_or("not a hex string")?).map_err(|e| e.to_string())
}

/// The store of a case: product, root, then `certificates`, then `key_list` /
/// `held_key_list`.
fn store_of(inputs: &Value) -> std::result::Result<Result<TrustStore>, String> {
    let product = field(inputs, "product")?.as_str().ok_or("product")?;
    let root: [u8; 32] = hex_bytes(field(inputs, "root_public_key")?)?
        .try_into()
        .map_err(|_| "root_public_key is not 32 bytes")?;
    let certs = match inputs.get("certificates") {
        Some(Value::Array(a)) => a
            .iter()
            .map(hex_bytes)
            .collect::<std::result::Result<_, _>>()?,
        _ => Vec::new(),
    };
    let list = match inputs.get("key_list").or(inputs.get("held_key_list")) {
        Some(v @ Value::String(_)) => Some(hex_bytes(v)?),
        _ => None,
    };
    Ok((|| {
        let mut store = TrustStore::new(product, &root)?;
        if let Some(l) = &list {
            store.apply_key_list(l)?;
        }
        for c in &certs {
            store.add_certificate(c)?;
        }
        Ok(store)
    })())
}

/// Runs a trust case (see [`Artifact::KeyCertificate`], [`Artifact::KeyList`],
/// [`Artifact::TrustedUsageLicense`]).
pub fn run(
    artifact: Artifact,
    input: Input<'_>,
    inputs: &Value,
) -> std::result::Result<Result<Value>, String> {
    let store = store_of(inputs)?;
    let bytes = |ty: ArtifactType| match input {
        Input::Text(t) => armor::decode(ty, t, tollgate_core::codec::max_len(ty)),
        Input::Binary(b) => Ok(b.to_vec()),
    };
    Ok(match artifact {
        Artifact::KeyCertificate => store.and_then(|mut s| {
            let b = bytes(ArtifactType::KeyCertificate)?;
            s.add_certificate(&b)?;
            let c = KeyCertificate::decode(&b, &s.root_public_key())?;
            Ok(render_certificate(&c))
        }),
        Artifact::KeyList => store.and_then(|mut s| {
            let b = bytes(ArtifactType::KeyList)?;
            s.apply_key_list(&b)?;
            Ok(render_key_list(s.key_list().ok_or(Error::Malformed)?))
        }),
        Artifact::TrustedUsageLicense => {
            let now = u64_field(inputs, "now")?;
            let host = fingerprint_of(inputs)?;
            store.and_then(|s| {
                let host = host?;
                let v = Verifier::with_trust_store(s);
                match input {
                    Input::Text(t) => v.verify(t, &host, now),
                    Input::Binary(b) => v.verify_bytes(b, &host, now),
                }
                .map(|e| render::entitlement(&e, now))
            })
        }
        a => return Err(format!("not a trust case: {}", a.name())),
    })
}
