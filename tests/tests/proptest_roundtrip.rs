//! Property tests of every format: arbitrary values within the format limits survive
//! encode → armor → decode unchanged; arbitrary bytes and text never make a decoder panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use tollgate_core::{
    armor, codec, ArtifactType, CertificateClaims, Component, DeactivationClaims, DeactivationCode,
    DeploymentModel, DeviceKey, Feature, FeatureKind, Fingerprint, Grant, KeyCertificate, KeyId,
    KeyList, Keyring, License, LicenseKey, MeterPeriod, Models, TrustStore, UsageClaims,
    UsageEntry, UsageLicense, UsageReport, UsageRequest, UsageTerms, VendorSigningKey, Verifier,
    MAX_RETIRED_KEYS,
};
use tollgate_tests::fixtures::{self as fx, sign_raw};

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// 1–16 printable characters: at most 64 bytes of UTF-8, no control characters.
fn text() -> impl Strategy<Value = String> {
    "[^\\p{C}]{1,16}"
}

fn feature_kind() -> impl Strategy<Value = FeatureKind> {
    prop_oneof![
        Just(FeatureKind::Perpetual),
        any::<u64>().prop_map(|expires_at| FeatureKind::Subscription { expires_at }),
        (
            any::<u64>(),
            prop_oneof![
                Just(MeterPeriod::Day),
                Just(MeterPeriod::Month),
                Just(MeterPeriod::Year)
            ]
        )
            .prop_map(|(quota, period)| FeatureKind::Metered { quota, period }),
    ]
}

/// Up to 8 features with distinct valid names (a map keyed by name), in arbitrary order.
fn features() -> impl Strategy<Value = Vec<Feature>> {
    btree_map("[a-z0-9._-]{1,32}", feature_kind(), 0..=8)
        .prop_map(|m| {
            m.into_iter()
                .map(|(name, kind)| Feature { name, kind })
                .collect::<Vec<_>>()
        })
        .prop_shuffle()
}

fn window() -> impl Strategy<Value = (Option<u64>, Option<u64>)> {
    prop_oneof![
        Just((None, None)),
        any::<u64>().prop_map(|a| (Some(a), None)),
        any::<u64>().prop_map(|b| (None, Some(b))),
        (any::<u64>(), 1..=u64::MAX).prop_map(|(a, len)| (Some(a / 2), Some(a / 2 + len / 2 + 1))),
    ]
}

fn grant() -> impl Strategy<Value = Grant> {
    (
        (any::<u64>(), any::<u32>(), text(), text()),
        features(),
        (1u8..=7, any::<u32>(), any::<u32>()),
        window(),
        (any::<u8>(), any::<u32>(), any::<u32>(), any::<u32>()),
    )
        .prop_map(
            |(
                (license_id, revision, product, customer),
                features,
                (models, max_activations, floating_seats),
                (not_before, not_after),
                (
                    fingerprint_threshold,
                    max_borrow_secs,
                    rollback_tolerance_secs,
                    offline_refresh_secs,
                ),
            )| Grant {
                license_id,
                revision,
                product,
                customer,
                features,
                models: Models(models),
                max_activations,
                floating_seats,
                not_before,
                not_after,
                fingerprint_threshold,
                max_borrow_secs,
                rollback_tolerance_secs,
                offline_refresh_secs,
            },
        )
}

fn component() -> impl Strategy<Value = Component> {
    (1u8..=8, any::<[u8; 8]>()).prop_map(|(kind, digest)| Component { kind, digest })
}

/// 1–16 distinct components, sorted (as the formats require).
fn components() -> impl Strategy<Value = Vec<Component>> {
    btree_set(component(), 1..=16).prop_map(|s| s.into_iter().collect())
}

fn model() -> impl Strategy<Value = DeploymentModel> {
    prop_oneof![
        Just(DeploymentModel::Online),
        Just(DeploymentModel::Offline),
        Just(DeploymentModel::Floating),
    ]
}

fn terms() -> impl Strategy<Value = UsageTerms> {
    (
        grant(),
        (any::<u64>(), model(), any::<[u8; 32]>(), any::<u32>()),
        components(),
        (any::<u64>(), any::<Option<u64>>()),
    )
        .prop_map(
            |(
                grant,
                (activation_id, model, device_key, request_counter),
                fingerprint,
                (issued_at, refresh_deadline),
            )| UsageTerms {
                grant,
                activation_id,
                model,
                device_key,
                request_counter,
                fingerprint,
                issued_at,
                refresh_deadline,
            },
        )
}

fn artifact_type() -> impl Strategy<Value = ArtifactType> {
    prop::sample::select(ArtifactType::ALL.to_vec())
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn license_round_trip(grant in grant(), issued_at in any::<u64>(), seed in any::<[u8; 32]>()) {
        let key = VendorSigningKey::from_seed(&seed);
        let ring = Keyring::from_keys([&key.public_key()]).unwrap();
        let l = License::sign(grant.clone(), issued_at, &key).unwrap();
        let back = License::from_armor(&armor::wrap(&l.to_armor(), 76), &ring).unwrap();
        prop_assert_eq!(back.grant(), &grant);
        prop_assert_eq!(back.issued_at(), issued_at);
        prop_assert_eq!(back.key_id(), key.key_id());
        prop_assert_eq!(back.as_bytes(), l.as_bytes());
        prop_assert_eq!(License::decode(l.as_bytes(), &ring).unwrap(), back);
    }

    #[test]
    fn usage_license_round_trip(terms in terms()) {
        let key = fx::vendor_key();
        let ring = fx::keyring().unwrap();
        let ul = UsageLicense::issue(terms.clone(), &key).unwrap();
        prop_assert!(ul.as_bytes().len() <= codec::max_len(ArtifactType::UsageLicense));
        let back = UsageLicense::from_armor(&ul.to_armor(), &ring).unwrap();
        prop_assert_eq!(back.terms(), &terms);
        prop_assert_eq!(back.as_bytes(), ul.as_bytes());
        prop_assert_eq!(UsageLicense::decode(ul.as_bytes(), &ring).unwrap(), back);
    }

    #[test]
    fn key_certificate_round_trip(
        product in text(),
        seed in any::<[u8; 32]>(),
        (not_before, not_after) in window(),
        issued_at in any::<u64>(),
    ) {
        let key = VendorSigningKey::from_seed(&seed);
        let claims = CertificateClaims {
            product: product.clone(),
            public_key: key.public_key(),
            not_before: not_before.unwrap_or(0),
            not_after,
            issued_at,
        };
        let root = fx::root_key();
        let c = KeyCertificate::issue(claims.clone(), &root).unwrap();
        let back = KeyCertificate::from_armor(&c.to_armor(), &root.public_key()).unwrap();
        prop_assert_eq!(back.claims(), &claims);
        prop_assert_eq!(back.as_bytes(), c.as_bytes());
        prop_assert_eq!(back.key_id(), key.key_id());
        let mut store = TrustStore::new(&product, &root.public_key()).unwrap();
        prop_assert_eq!(store.add_certificate(c.as_bytes()), Ok(key.key_id()));
    }

    #[test]
    fn key_list_round_trip(
        product in text(),
        sequence in any::<u64>(),
        issued_at in any::<u64>(),
        ids in btree_set(any::<[u8; 8]>(), 0..=MAX_RETIRED_KEYS),
    ) {
        let root = fx::root_key();
        let retired: Vec<KeyId> = ids.iter().rev().map(|i| KeyId(*i)).collect();
        let l = KeyList::issue(&product, sequence, issued_at, &retired, &root).unwrap();
        prop_assert!(l.as_bytes().len() <= codec::max_len(ArtifactType::KeyList));
        let back = KeyList::from_armor(&l.to_armor(), &root.public_key()).unwrap();
        prop_assert_eq!(back.sequence(), sequence);
        prop_assert_eq!(back.issued_at(), issued_at);
        prop_assert_eq!(back.product(), product.as_str());
        let sorted: Vec<KeyId> = ids.iter().map(|i| KeyId(*i)).collect();
        prop_assert_eq!(back.retired(), &sorted[..]);
        let mut store = TrustStore::new(&product, &root.public_key()).unwrap();
        prop_assert_eq!(store.apply_key_list(l.as_bytes()), Ok(sequence));
        prop_assert_eq!(store.apply_key_list(l.as_bytes()), Ok(sequence));
        for id in &sorted {
            prop_assert!(store.is_retired(id));
        }
    }

    /// A usage license carrying its certificate verifies through a store that knows only the
    /// root exactly when the keyring path does (its `issued_at` is inside the open window).
    #[test]
    fn usage_license_with_certificate_verifies_through_the_root(terms in terms(), now in any::<u64>()) {
        let key = fx::vendor_key();
        let cert = KeyCertificate::issue(CertificateClaims {
            product: terms.grant.product.clone(),
            not_before: 0,
            ..fx::certificate_claims(&key)
        }, &fx::root_key()).unwrap();
        let ul = UsageLicense::issue_with_certificate(terms.clone(), &key, &cert).unwrap();
        prop_assert_eq!(ul.certificate(), Some(cert.as_bytes()));
        let host = Fingerprint::from_components(terms.fingerprint.clone()).unwrap();
        let store = TrustStore::new(&terms.grant.product, &fx::root_key().public_key()).unwrap();
        let by_root = Verifier::with_trust_store(store).verify(&ul.to_armor(), &host, now);
        let by_ring = Verifier::new(&terms.grant.product, fx::keyring().unwrap())
            .verify(&ul.to_armor(), &host, now);
        prop_assert_eq!(by_root, by_ring);
    }

    /// Verification of a round-tripped usage license on its own host agrees with the terms.
    #[test]
    fn usage_license_verifies_on_its_host(terms in terms(), now in any::<u64>()) {
        let ul = UsageLicense::issue(terms.clone(), &fx::vendor_key()).unwrap();
        let host = Fingerprint::from_components(terms.fingerprint.clone()).unwrap();
        let v = Verifier::new(&terms.grant.product, fx::keyring().unwrap());
        let start = terms.grant.not_before.unwrap_or(0);
        let end = match (terms.grant.not_after, terms.refresh_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let inside = now >= start && end.is_none_or(|e| now < e);
        let got = v.verify(&ul.to_armor(), &host, now);
        prop_assert_eq!(got.is_ok(), inside, "{:?}", got);
        if let Ok(e) = got {
            prop_assert_eq!(e.terms(), &terms);
            prop_assert_eq!(e.fingerprint_match().matched, terms.fingerprint.len());
        }
    }

    #[test]
    fn usage_request_round_trip(
        entropy in any::<[u8; 15]>(),
        seed in any::<[u8; 32]>(),
        product in text(),
        version in text(),
        counter in any::<u32>(),
        created_at in any::<u64>(),
        components in components(),
    ) {
        let key = LicenseKey::from_entropy(&entropy);
        let device = DeviceKey::from_seed(&seed);
        let fp = Fingerprint::from_components(components.clone()).unwrap();
        let req = UsageRequest::create(&key, &device, &product, &version, counter, created_at, &fp)
            .unwrap();
        prop_assert!(req.as_bytes().len() <= codec::max_len(ArtifactType::UsageRequest));
        let back = UsageRequest::from_armor(&req.to_armor()).unwrap();
        prop_assert_eq!(&back, &req);
        let c = back.claims();
        prop_assert_eq!(back.device_key(), &device.public_key());
        prop_assert_eq!(c.key_lookup, key.lookup_id());
        prop_assert!(key.auth_secret().check_proof(back.device_key(), &c.key_proof));
        prop_assert_eq!(&c.product, &product);
        prop_assert_eq!(&c.product_version, &version);
        prop_assert_eq!(c.counter, counter);
        prop_assert_eq!(c.created_at, created_at);
        prop_assert_eq!(&c.fingerprint, &components);
        prop_assert_eq!(back.request_id(), req.request_id());
    }

    #[test]
    fn deactivation_code_round_trip(
        seed in any::<[u8; 32]>(),
        activation_id in any::<u64>(),
        license_id in any::<u64>(),
        counter in any::<u32>(),
        deactivated_at in any::<u64>(),
    ) {
        let device = DeviceKey::from_seed(&seed);
        let claims = DeactivationClaims { activation_id, license_id, counter, deactivated_at };
        let dc = DeactivationCode::create(claims.clone(), &device).unwrap();
        let unverified = DeactivationCode::from_armor(&dc.to_armor()).unwrap();
        prop_assert_eq!(unverified.claims(), &claims);
        let back = unverified.verify(&device.public_key()).unwrap();
        prop_assert_eq!(back.claims(), &claims);
        prop_assert_eq!(back.as_bytes(), dc.as_bytes());
    }

    #[test]
    fn usage_report_round_trip(
        seed in any::<[u8; 32]>(),
        license_id in any::<u64>(),
        seq in 1u64..,
        prev in any::<[u8; 32]>(),
        created_at in any::<u64>(),
        entries in btree_map(
            ("[a-z0-9._-]{1,32}", any::<u64>()),
            (prop_oneof![Just(MeterPeriod::Day), Just(MeterPeriod::Month), Just(MeterPeriod::Year)], 1u64..),
            0..=tollgate_core::MAX_USAGE_ENTRIES,
        ),
    ) {
        let device = DeviceKey::from_seed(&seed);
        let prev_hash = if seq == 1 { [0; 32] } else if prev == [0; 32] { [1; 32] } else { prev };
        let claims = UsageClaims {
            license_id,
            device_key: device.public_key(),
            seq,
            prev_hash,
            created_at,
            entries: entries
                .into_iter()
                .map(|((feature, period_start), (period, units))| UsageEntry { feature, period, period_start, units })
                .collect(),
        };
        let r = UsageReport::create(claims.clone(), &device).unwrap();
        prop_assert!(r.as_bytes().len() <= codec::max_len(ArtifactType::UsageReport));
        let back = UsageReport::from_armor(&r.to_armor()).unwrap();
        prop_assert_eq!(back.claims(), &claims);
        prop_assert_eq!(back.as_bytes(), r.as_bytes());
        prop_assert_eq!(back.hash(), r.hash());
        let journal = tollgate_core::usage_journal_text(&[r.clone(), r.clone()]);
        prop_assert_eq!(tollgate_core::parse_usage_journal(&journal).unwrap(), vec![r.clone(), r]);
    }
}

proptest! {
    #[test]
    fn license_key_round_trip(entropy in any::<[u8; 15]>(), lower in any::<bool>(), dashes in any::<bool>()) {
        let key = LicenseKey::from_entropy(&entropy);
        let shown = key.expose();
        prop_assert_eq!(shown.len(), 29);
        prop_assert!(shown.split('-').all(|g| g.len() == 5));
        let mut typed = if dashes { shown.clone() } else { shown.replace('-', "") };
        if lower {
            typed = typed.to_lowercase();
        }
        let back = LicenseKey::parse(&typed).unwrap();
        prop_assert_eq!(back.expose(), shown);
        prop_assert_eq!(back.lookup_id(), key.lookup_id());
        prop_assert_eq!(back, key);
    }

    /// Entropy maps to keys one-to-one in its first 115 bits; the last 5 bits are unused.
    #[test]
    fn license_key_uses_115_bits(entropy in any::<[u8; 15]>(), low in 0u8..32) {
        let mut other = entropy;
        other[14] = (other[14] & !31) | low;
        prop_assert_eq!(LicenseKey::from_entropy(&entropy), LicenseKey::from_entropy(&other));
    }

    #[test]
    fn armor_round_trip(ty in artifact_type(), bytes in vec(any::<u8>(), 0..1100), width in 8usize..100) {
        let text = armor::encode(ty, &bytes);
        prop_assert!(text.starts_with(ty.prefix()));
        prop_assert_eq!(ArtifactType::sniff(&text).unwrap(), ty);
        prop_assert_eq!(text.len(), 5 + (bytes.len() + 4).div_ceil(3) * 4 - (3 - (bytes.len() + 4) % 3) % 3);
        prop_assert_eq!(armor::decode(ty, &text, 2048).unwrap(), bytes.clone());
        prop_assert_eq!(armor::decode(ty, &armor::wrap(&text, width), 2048).unwrap(), bytes.clone());
        for other in ArtifactType::ALL.into_iter().filter(|t| *t != ty) {
            prop_assert_eq!(armor::decode(other, &text, 2048), Err(tollgate_core::Error::WrongArtifactType));
        }
    }

    #[test]
    fn armor_limit(ty in artifact_type(), len in 0usize..1100, max in 0usize..1100) {
        let text = armor::encode(ty, &vec![0x5a; len]);
        let got = armor::decode(ty, &text, max);
        if len <= max {
            prop_assert!(got.is_ok());
        } else {
            prop_assert_eq!(got, Err(tollgate_core::Error::TooLarge));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// No panics on arbitrary input
// ---------------------------------------------------------------------------------------------

/// Feeds `bytes` to every binary decoder; none may panic or accept.
fn every_binary_decoder(bytes: &[u8]) {
    let ring = fx::keyring().unwrap();
    let host = fx::fingerprint().unwrap();
    let verifier = Verifier::new(fx::PRODUCT, ring.clone());
    let _ = License::decode(bytes, &ring);
    let _ = UsageRequest::decode(bytes);
    let _ = UsageLicense::decode(bytes, &ring);
    let _ = verifier.verify_bytes(bytes, &host, fx::T_NOW);
    let root = fx::root_key().public_key();
    let _ = KeyCertificate::decode(bytes, &root);
    let _ = KeyList::decode(bytes, &root);
    let mut store = fx::trust_store().unwrap();
    let _ = store.add_certificate(bytes);
    let _ = store.apply_key_list(bytes);
    let _ = Verifier::with_trust_store(store).verify_bytes(bytes, &host, fx::T_NOW);
    if let Ok(u) = DeactivationCode::decode(bytes) {
        let _ = u.claims();
        let _ = u.verify(&fx::device_key().public_key());
    }
    let _ = UsageReport::decode(bytes);
    for ty in ArtifactType::ALL {
        let _ = armor::decode(ty, &armor::encode(ty, bytes), codec::max_len(ty));
    }
}

/// Feeds `text` to every text decoder; none may panic.
fn every_text_decoder(text: &str) {
    let ring = fx::keyring().unwrap();
    let host = fx::fingerprint().unwrap();
    let _ = LicenseKey::parse(text);
    let _ = ArtifactType::sniff(text);
    for ty in ArtifactType::ALL {
        let _ = armor::decode(ty, text, codec::max_len(ty));
    }
    let _ = License::from_armor(text, &ring);
    let _ = UsageRequest::from_armor(text);
    let _ = UsageLicense::from_armor(text, &ring);
    let _ = Verifier::new(fx::PRODUCT, ring).verify(text, &host, fx::T_NOW);
    let root = fx::root_key().public_key();
    let _ = KeyCertificate::from_armor(text, &root);
    let _ = KeyList::from_armor(text, &root);
    let mut store = fx::trust_store().unwrap();
    let _ = store.add_certificate_armor(text);
    let _ = store.apply_key_list_armor(text);
    let _ = Verifier::with_trust_store(store).verify(text, &host, fx::T_NOW);
    if let Ok(u) = DeactivationCode::from_armor(text) {
        let _ = u.verify(&fx::device_key().public_key());
    }
    let _ = UsageReport::from_armor(text);
    let _ = tollgate_core::parse_usage_journal(text);
}

fn header(ty: ArtifactType) -> Vec<u8> {
    let mut h = codec::MAGIC.to_vec();
    h.extend_from_slice(&[ty.type_byte(), ty.version()]);
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..1200)) {
        every_binary_decoder(&bytes);
    }

    /// Arbitrary bytes behind a valid header, so that they reach the later checks.
    #[test]
    fn arbitrary_bodies_never_panic(ty in artifact_type(), body in vec(any::<u8>(), 0..400)) {
        let mut b = header(ty);
        b.extend_from_slice(&body);
        every_binary_decoder(&b);
    }

    /// Arbitrary payloads behind a valid header and a valid signature by a trusted key (or the
    /// reference device key), so that they reach the payload decoders: these must refuse with
    /// a typed error or decode a value that re-verifies.
    #[test]
    fn arbitrary_signed_payloads_never_panic(payload in vec(any::<u8>(), 0..400)) {
        let ring = fx::keyring().unwrap();
        let key_id = fx::vendor_key().key_id().0;
        for ty in [ArtifactType::License, ArtifactType::UsageLicense] {
            let mut unsigned = header(ty);
            unsigned.extend_from_slice(&key_id);
            unsigned.extend_from_slice(&payload);
            let b = sign_raw(ty, &fx::VENDOR_SEED, &unsigned);
            every_binary_decoder(&b);
            if let Ok(ul) = UsageLicense::decode(&b, &ring) {
                prop_assert_eq!(UsageLicense::issue(ul.terms().clone(), &fx::vendor_key()).map(|u| u.terms().clone()), Ok(ul.terms().clone()));
            }
        }
        let root_id = fx::root_key().key_id().0;
        for ty in [ArtifactType::KeyCertificate, ArtifactType::KeyList] {
            let mut unsigned = header(ty);
            unsigned.extend_from_slice(&root_id);
            unsigned.extend_from_slice(&payload);
            every_binary_decoder(&sign_raw(ty, &fx::ROOT_SEED, &unsigned));
        }
        let device = fx::device_key().public_key();
        let mut unsigned = header(ArtifactType::UsageRequest);
        unsigned.extend_from_slice(&device);
        unsigned.extend_from_slice(&payload);
        every_binary_decoder(&sign_raw(ArtifactType::UsageRequest, &fx::DEVICE_SEED, &unsigned));
        let mut unsigned = header(ArtifactType::DeactivationCode);
        unsigned.extend_from_slice(&payload);
        every_binary_decoder(&sign_raw(ArtifactType::DeactivationCode, &fx::DEVICE_SEED, &unsigned));
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        every_text_decoder(&text);
    }

    /// Text that looks like armor: a valid prefix and base64url-ish characters.
    #[test]
    fn arbitrary_armor_never_panics(ty in artifact_type(), body in "[A-Za-z0-9_=+/ \\n-]{0,600}") {
        every_text_decoder(&format!("{}:{}", ty.prefix(), body));
    }

    /// Text that looks like a license key.
    #[test]
    fn arbitrary_keys_never_panic(key in "[2-9A-Za-z -]{0,40}") {
        every_text_decoder(&key);
    }

    /// Random damage (overwritten bytes) to the reference usage license never verifies.
    #[test]
    fn damaged_reference_never_verifies(edits in vec((0usize..250, any::<u8>()), 1..4)) {
        let ul = fx::usage_license_offline().unwrap();
        let mut b = ul.as_bytes().to_vec();
        for (i, x) in edits {
            let i = i % b.len();
            b[i] = x;
        }
        prop_assume!(b != ul.as_bytes());
        let v = Verifier::new(fx::PRODUCT, fx::keyring().unwrap());
        prop_assert!(v.verify_bytes(&b, &fx::fingerprint().unwrap(), fx::T_NOW).is_err());
    }
}
