//! `core/SPEC.md` against the code: every formula of the spec re-implemented here from its text
//! (key check symbols, key derivations, key ids, fingerprint digests, CRC-32 and armor, the
//! signed message, varints) must agree with the library, and the spec's tables (error codes,
//! prefixes, type bytes, domain strings, limits) must list what the library does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ed25519_dalek::{Signature, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tollgate_core::fingerprint::{DIGEST_LEN, MAX_COMPONENTS};
use tollgate_core::key::ALPHABET;
use tollgate_core::keys::SIGNATURE_LEN;
use tollgate_core::model::{MAX_FEATURES, MAX_FEATURE_NAME, MAX_TEXT};
use tollgate_core::*;

fn spec() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/SPEC.md")).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The spec's tables list what the code does
// ---------------------------------------------------------------------------------------------

#[test]
fn error_table() {
    let spec = spec();
    for e in Error::ALL {
        let row = format!("| {} | `{e:?}` |", e.code());
        assert!(spec.contains(&row), "SPEC §14 lacks {row}");
    }
}

#[test]
fn artifact_table() {
    let spec = spec();
    for ty in ArtifactType::ALL {
        let prefix = format!("`{}:`", ty.prefix());
        let type_byte = format!("`0x{:02x}`", ty.type_byte());
        let domain = std::str::from_utf8(ty.domain()).unwrap();
        let domain = format!("`{}\\0`", domain.strip_suffix('\0').unwrap());
        let size = format!("{} bytes", codec::max_len(ty));
        for needle in [&prefix, &type_byte, &domain, &size] {
            assert!(
                spec.contains(needle.as_str()),
                "SPEC lacks {needle} for {ty:?}"
            );
        }
    }
}

#[test]
fn constants() {
    assert_eq!(codec::MAGIC, *b"TG");
    assert_eq!(codec::VERSION, 1);
    assert_eq!(codec::RETIRED_VERSIONS, &[0]);
    assert_eq!(codec::HEADER_LEN, 4);
    assert_eq!(SIGNATURE_LEN, 64);
    assert_eq!(MAX_TEXT, 64);
    assert_eq!(MAX_FEATURE_NAME, 32);
    assert_eq!(MAX_FEATURES, 32);
    assert_eq!(MAX_COMPONENTS, 16);
    assert_eq!(DIGEST_LEN, 8);
    let limits = [
        (ArtifactType::License, 1024),
        (ArtifactType::UsageRequest, 512),
        (ArtifactType::UsageLicense, 1024),
        (ArtifactType::DeactivationCode, 256),
        (ArtifactType::KeyCertificate, 256),
        (ArtifactType::KeyList, 1280),
    ];
    for (ty, n) in limits {
        assert_eq!(codec::max_len(ty), n, "{ty:?}");
    }
    let spec = spec();
    assert!(spec.contains(&format!(
        "`ALPHABET = \"{}\"`",
        std::str::from_utf8(ALPHABET).unwrap()
    )));
    for kind in ComponentKind::ALL {
        let row = format!("| {} | `{}` |", kind as u8, kind.name());
        assert!(spec.contains(&row), "SPEC §11.1 lacks {row}");
    }
}

/// §1 and §5: the varint examples and the postcard encodings of the field types.
#[test]
fn postcard_encodings() {
    let v = |n: u64| postcard::to_allocvec(&n).unwrap();
    assert_eq!(v(0), [0x00]);
    assert_eq!(v(127), [0x7f]);
    assert_eq!(v(128), [0x80, 0x01]);
    assert_eq!(v(1001), [0xe9, 0x07]);
    assert_eq!(v(1_000_000), [0xc0, 0x84, 0x3d]);
    assert_eq!(v(1_767_261_600), [0xa0, 0x8b, 0xd9, 0xca, 0x06]);
    assert_eq!(v(u64::MAX).len(), 10);
    assert_eq!(postcard::to_allocvec(&u32::MAX).unwrap().len(), 5);
    assert_eq!(postcard::to_allocvec(&200u8).unwrap(), [200]);
    assert_eq!(postcard::to_allocvec(&[7u8; 3]).unwrap(), [7, 7, 7]);
    assert_eq!(postcard::to_allocvec("ab").unwrap(), [2, b'a', b'b']);
    assert_eq!(postcard::to_allocvec(&None::<u64>).unwrap(), [0]);
    assert_eq!(postcard::to_allocvec(&Some(1u64)).unwrap(), [1, 1]);
    assert_eq!(
        postcard::to_allocvec(&FeatureKind::Metered {
            quota: 1_000_000,
            period: MeterPeriod::Month
        })
        .unwrap(),
        [0x02, 0xc0, 0x84, 0x3d, 0x01]
    );
    assert_eq!(
        postcard::to_allocvec(&DeploymentModel::Floating).unwrap(),
        [2]
    );
    assert_eq!(postcard::to_allocvec(&Models(3)).unwrap(), [3]);
    let c = Component {
        kind: 5,
        digest: [1, 2, 3, 4, 5, 6, 7, 8],
    };
    assert_eq!(
        postcard::to_allocvec(&vec![c]).unwrap(),
        [1, 5, 1, 2, 3, 4, 5, 6, 7, 8]
    );
    // The leniency on record in §5: a non-minimal varint decodes.
    assert_eq!(postcard::from_bytes::<u64>(&[0x81, 0x00]).unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// §2 License key, re-implemented from the text
// ---------------------------------------------------------------------------------------------

/// GF(32) = GF(2)[x]/(x^5 + x^2 + 1), by shift-and-add.
fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut r = 0;
    while b != 0 {
        if b & 1 != 0 {
            r ^= a;
        }
        b >>= 1;
        a <<= 1;
        if a & 0x20 != 0 {
            a ^= 0x25;
        }
    }
    r
}

fn gf_pow(a: u8, n: usize) -> u8 {
    (0..n).fold(1, |acc, _| gf_mul(acc, a))
}

fn syndromes(symbols: &[u8]) -> (u8, u8) {
    symbols
        .iter()
        .enumerate()
        .fold((0, 0), |(s1, s2), (i, &c)| {
            (
                s1 ^ gf_mul(c, gf_pow(2, i)),
                s2 ^ gf_mul(c, gf_pow(2, 2 * i)),
            )
        })
}

fn symbols(key: &LicenseKey) -> Vec<u8> {
    key.expose()
        .bytes()
        .filter(|&b| b != b'-')
        .map(|b| ALPHABET.iter().position(|&a| a == b).unwrap() as u8)
        .collect()
}

fn key_of(symbols: &[u8]) -> String {
    symbols
        .iter()
        .map(|&s| char::from(ALPHABET[usize::from(s)]))
        .collect()
}

#[test]
fn alpha_is_primitive() {
    let powers: std::collections::BTreeSet<u8> = (0..31).map(|i| gf_pow(2, i)).collect();
    assert_eq!(powers.len(), 31);
    assert_eq!(gf_pow(2, 31), 1);
}

#[test]
fn key_generation_as_specified() {
    let entropy: [u8; 15] = [
        0x5e, 0x1f, 0x0a, 0x6b, 0xc3, 0x92, 0x44, 0xd8, 0x07, 0x3a, 0xf1, 0x29, 0x8c, 0x65, 0xb0,
    ];
    let key = LicenseKey::from_entropy(&entropy);
    let s = symbols(&key);
    assert_eq!(s.len(), 25);
    // c0..c22: the first 115 bits of the entropy, 5 at a time, most significant first.
    let bits: Vec<u8> = entropy
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    for (i, &c) in s.iter().take(23).enumerate() {
        let v = bits[5 * i..5 * i + 5].iter().fold(0, |acc, b| acc << 1 | b);
        assert_eq!(c, v, "symbol {i}");
    }
    assert_eq!(syndromes(&s), (0, 0));
    assert_eq!(key.expose(), "DSHJN-UY5LB-4FJ3T-UY6NS-STFGU");
}

/// Every error of weight 1 or 2 on a valid key is detected (minimum distance ≥ 3), which
/// includes every substitution and every adjacent swap; and some weight-3 error is not
/// (the distance is exactly 3).
#[test]
fn minimum_distance_is_three() {
    let key = LicenseKey::from_entropy(&[0xa5; 15]);
    let s = symbols(&key);
    for i in 0..25 {
        for e in 1..32u8 {
            let mut t = s.clone();
            t[i] ^= e;
            assert_eq!(
                LicenseKey::parse(&key_of(&t)),
                Err(Error::KeyChecksum),
                "{i} {e}"
            );
        }
    }
    for i in 0..25 {
        for j in i + 1..25 {
            for ei in 1..32u8 {
                for ej in 1..32u8 {
                    let mut t = s.clone();
                    t[i] ^= ei;
                    t[j] ^= ej;
                    assert_ne!(syndromes(&t), (0, 0), "{i} {j} {ei} {ej}");
                }
            }
        }
    }
    // Spot-check the library on two-symbol errors too (all position pairs, some values).
    for i in 0..25 {
        for j in i + 1..25 {
            let mut t = s.clone();
            t[i] ^= 1 + (i as u8 % 31);
            t[j] ^= 1 + (j as u8 % 31);
            assert_eq!(LicenseKey::parse(&key_of(&t)), Err(Error::KeyChecksum));
        }
    }
    // A weight-3 codeword exists: errors at 0, 1, 2 with e0 = 1 and e1, e2 solving the checks.
    let found = (1..32u8).any(|e1| {
        (1..32u8).any(|e2| {
            let mut t = s.clone();
            t[0] ^= 1;
            t[1] ^= e1;
            t[2] ^= e2;
            syndromes(&t) == (0, 0) && LicenseKey::parse(&key_of(&t)).is_ok()
        })
    });
    assert!(found);
}

#[test]
fn key_derivations_as_specified() {
    let key = LicenseKey::from_entropy(&[0x42; 15]);
    let canonical = key.expose().replace('-', "");
    let lookup = Sha256::new()
        .chain_update(b"tollgate/v1/key-lookup\0")
        .chain_update(canonical.as_bytes())
        .finalize();
    assert_eq!(key.lookup_id(), lookup[..8]);
    let auth = Sha256::new()
        .chain_update(b"tollgate/v1/key-auth\0")
        .chain_update(canonical.as_bytes())
        .finalize();
    assert_eq!(key.auth_secret().0, auth[..]);
    let device = [9u8; 32];
    let mut mac = Hmac::<Sha256>::new_from_slice(&auth).unwrap();
    mac.update(b"tollgate/v1/key-proof\0");
    mac.update(&device);
    let tag = mac.finalize().into_bytes();
    assert_eq!(key.auth_secret().proof(&device), tag[..16]);
}

#[test]
fn key_id_as_specified() {
    let vendor = VendorSigningKey::from_seed(&[1; 32]);
    let d = Sha256::new()
        .chain_update(b"tollgate/v1/key-id\0")
        .chain_update(vendor.public_key())
        .finalize();
    assert_eq!(vendor.key_id().0, d[..8]);
    assert_eq!(vendor.key_id().to_hex(), "35158a60bf49f6a4");
}

// ---------------------------------------------------------------------------------------------
// §3 Armor, §4 envelope, §11 fingerprints
// ---------------------------------------------------------------------------------------------

/// CRC-32/ISO-HDLC, bit by bit.
fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn base64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits: Vec<u8> = data
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    bits.chunks(6)
        .map(|c| {
            let v = (0..6).fold(0usize, |acc, i| {
                acc << 1 | usize::from(*c.get(i).unwrap_or(&0))
            });
            char::from(A[v])
        })
        .collect()
}

#[test]
fn armor_as_specified() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(
        armor::encode(ArtifactType::UsageLicense, b"hello"),
        "TGUL:aGVsbG-GphA2"
    );
    for len in [0usize, 1, 2, 3, 250] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        for ty in ArtifactType::ALL {
            let mut body = data.clone();
            body.extend_from_slice(&crc32(&data).to_le_bytes());
            let text = format!("{}:{}", ty.prefix(), base64url(&body));
            assert_eq!(armor::encode(ty, &data), text);
            assert_eq!(text.len(), 5 + (4 * (len + 4)).div_ceil(3));
        }
    }
}

#[test]
fn envelope_as_specified() {
    let vendor = VendorSigningKey::from_seed(&[1; 32]);
    let grant = Grant {
        license_id: 1,
        revision: 1,
        product: "p".into(),
        customer: "c".into(),
        features: vec![],
        models: Models(2),
        max_activations: 1,
        floating_seats: 0,
        not_before: None,
        not_after: None,
        fingerprint_threshold: 1,
        max_borrow_secs: 0,
        rollback_tolerance_secs: 3600,
        offline_refresh_secs: 0,
    };
    let l = License::sign(grant.clone(), 5, &vendor).unwrap();
    let b = l.as_bytes();
    assert_eq!(&b[..4], &[b'T', b'G', 0x01, 0x02]);
    assert_eq!(&b[4..12], &vendor.key_id().0);
    #[derive(serde::Serialize)]
    struct Payload<'a> {
        grant: &'a Grant,
        issued_at: u64,
    }
    let payload = postcard::to_allocvec(&Payload {
        grant: &grant,
        issued_at: 5,
    })
    .unwrap();
    assert_eq!(&b[12..b.len() - 64], &payload[..]);
    // Signed: domain ‖ every byte before the signature; verify_strict passes.
    let mut msg = b"tollgate/v2/license\0".to_vec();
    msg.extend_from_slice(&b[..b.len() - 64]);
    let vk = VerifyingKey::from_bytes(&vendor.public_key()).unwrap();
    let sig = Signature::from_bytes(b[b.len() - 64..].try_into().unwrap());
    vk.verify_strict(&msg, &sig).unwrap();
    // The same bytes under another type's domain do not verify.
    let mut other = b"tollgate/v2/usage-license\0".to_vec();
    other.extend_from_slice(&b[..b.len() - 64]);
    assert!(vk.verify_strict(&other, &sig).is_err());
}

#[test]
fn fingerprint_as_specified() {
    let salt = b"salt";
    for kind in ComponentKind::ALL {
        let hk = Hkdf::<Sha256>::new(Some(salt), b"raw-id");
        let mut info = b"tollgate/v1/fingerprint\0".to_vec();
        info.push(kind as u8);
        let mut okm = [0u8; 8];
        hk.expand(&info, &mut okm).unwrap();
        let c = Component::derive(kind, b"raw-id", salt);
        assert_eq!((c.kind, c.digest), (kind as u8, okm));
    }
}

/// §11.2: required = min(max(k, 1), max(n, 1)); ok iff matched ≥ required.
#[test]
fn k_of_n_as_specified() {
    let comps: Vec<Component> = ComponentKind::ALL[..5]
        .iter()
        .map(|k| Component::derive(*k, b"x", b"s"))
        .collect();
    let licensed = Fingerprint::from_components(comps.clone()).unwrap();
    for kept in 1..=5usize {
        let mut host = comps[..kept].to_vec();
        host.extend(
            ComponentKind::ALL[kept..5]
                .iter()
                .map(|k| Component::derive(*k, b"other", b"s")),
        );
        let host = Fingerprint::from_components(host).unwrap();
        for k in 0..=7u8 {
            let d = host.match_against(licensed.components(), k);
            let required = usize::from(k).clamp(1, 5); // min(max(k, 1), max(n, 1)) with n = 5
            assert_eq!((d.matched, d.licensed, d.required), (kept, 5, required));
            assert_eq!(d.ok(), kept >= required);
        }
    }
}

/// §9 and §13 E: the untimed verification skips the time and nothing else; in particular a
/// usage license on a host that does not match is refused, as by `verify`.
#[test]
fn untimed_verification_still_checks_the_fingerprint() {
    let vendor = VendorSigningKey::from_seed(&[1; 32]);
    let comps: Vec<Component> = ComponentKind::ALL[..3]
        .iter()
        .map(|k| Component::derive(*k, b"licensed", b"s"))
        .collect();
    let other: Vec<Component> = ComponentKind::ALL[..3]
        .iter()
        .map(|k| Component::derive(*k, b"other", b"s"))
        .collect();
    let terms = UsageTerms {
        grant: Grant {
            license_id: 1,
            revision: 1,
            product: "p".into(),
            customer: "c".into(),
            features: vec![],
            models: Models(2),
            max_activations: 1,
            floating_seats: 0,
            not_before: Some(100),
            not_after: Some(200),
            fingerprint_threshold: 2,
            max_borrow_secs: 0,
            rollback_tolerance_secs: 3600,
            offline_refresh_secs: 0,
        },
        activation_id: 1,
        model: DeploymentModel::Offline,
        device_key: [7; 32],
        request_counter: 1,
        fingerprint: comps.clone(),
        issued_at: 100,
        refresh_deadline: None,
    };
    let ul = UsageLicense::issue(terms, &vendor).unwrap();
    let v = Verifier::new("p", Keyring::from_keys([&vendor.public_key()]).unwrap());
    let home = Fingerprint::from_components(comps).unwrap();
    let away = Fingerprint::from_components(other).unwrap();
    // Outside the window: the timed check fails, the untimed one does not.
    assert_eq!(v.verify(&ul.to_armor(), &home, 300), Err(Error::Expired));
    let ent = v.verify_untimed(&ul.to_armor(), &home).unwrap();
    assert_eq!(ent.check_time(300), Err(Error::Expired));
    assert!(v.verify_bytes_untimed(ul.as_bytes(), &home).is_ok());
    // On another host both refuse.
    assert_eq!(
        v.verify(&ul.to_armor(), &away, 150),
        Err(Error::FingerprintMismatch)
    );
    assert_eq!(
        v.verify_untimed(&ul.to_armor(), &away),
        Err(Error::FingerprintMismatch)
    );
    assert_eq!(
        v.verify_bytes_untimed(ul.as_bytes(), &away),
        Err(Error::FingerprintMismatch)
    );
    // The product is still checked first.
    let wrong = Verifier::new("q", Keyring::from_keys([&vendor.public_key()]).unwrap());
    assert_eq!(
        wrong.verify_untimed(&ul.to_armor(), &away),
        Err(Error::WrongProduct)
    );
}
