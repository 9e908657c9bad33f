//! Lease tokens (`TGLS`, core/SPEC.md §10a): property tests of the round trip, of
//! `Verifier::verify_lease` against a model of its rules, and of tamper rejection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::collection::vec;
use proptest::prelude::*;
use tollgate_core::lease::MAX_LEASE_SECS;
use tollgate_core::{
    armor, codec, feature_set, ArtifactType, ClientId, DeviceKey, Error, Keyring, Lease,
    LeaseClaims, Verifier,
};
use tollgate_tests::fixtures as fx;
use tollgate_tests::lease as fl;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9._-]{1,32}"
}

fn claims() -> impl Strategy<Value = LeaseClaims> {
    (
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<[u8; 16]>()),
        any::<[u8; 16]>(),
        vec(name(), 1..8),
        any::<bool>(),
        (any::<u64>(), 1..=u64::MAX),
    )
        .prop_map(
            |(
                (lease_id, license_id, activation_id, client),
                nonce,
                features,
                borrowed,
                (t, len),
            )| {
                let issued_at = t / 2;
                LeaseClaims {
                    lease_id,
                    license_id,
                    activation_id,
                    client_id: ClientId(client),
                    nonce,
                    features: feature_set(features),
                    borrowed,
                    issued_at,
                    expires_at: issued_at + len / 2 + 1,
                }
            },
        )
}

fn verifier() -> Verifier {
    Verifier::new(
        fx::PRODUCT,
        Keyring::from_keys([&fx::vendor_key().public_key()]).unwrap(),
    )
}

/// A lease of the reference floating world: `features` from the grant (plus `extra`), the
/// given term and borrowing, for the reference broker or another client.
fn world_claims(
    features: &[usize],
    extra: bool,
    borrowed: bool,
    term: u64,
    other_client: bool,
) -> LeaseClaims {
    let grant = fl::floating_grant();
    let mut names: Vec<String> = features
        .iter()
        .map(|i| grant.features[i % grant.features.len()].name.clone())
        .collect();
    if extra || names.is_empty() {
        names.push("opc-ua-gateway".into());
    }
    let client = if other_client {
        ClientId([7; 16])
    } else {
        fl::broker_client_id().unwrap()
    };
    LeaseClaims {
        client_id: client,
        features: feature_set(names),
        borrowed,
        expires_at: fl::T_LEASE_ISSUED + term,
        ..fl::lease_claims().unwrap()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// What is signed decodes to itself, from bytes and from armor, only under the signing key.
    #[test]
    fn round_trip(c in claims(), seed in any::<[u8; 32]>()) {
        let key = DeviceKey::from_seed(&seed);
        let lease = Lease::sign(c.clone(), &key).unwrap();
        prop_assert_eq!(lease.claims(), &c);
        let back = Lease::decode(lease.as_bytes(), &key.public_key()).unwrap();
        prop_assert_eq!(&back, &lease);
        prop_assert_eq!(Lease::from_armor(&lease.to_armor(), &key.public_key()).unwrap(), lease.clone());
        let other = DeviceKey::from_seed(&[seed[0] ^ 1; 32]).public_key();
        prop_assert!(Lease::decode(lease.as_bytes(), &other).is_err());
    }

    /// `verify_lease` accepts exactly what the rules of SPEC §10a allow, and reports the
    /// first broken rule in the order of §13 F.
    #[test]
    fn verify_lease_follows_the_rules(
        features in vec(0usize..3, 0..4),
        extra in prop::bool::weighted(0.2),
        borrowed in any::<bool>(),
        term in prop_oneof![1u64..=MAX_LEASE_SECS + 10, 1u64..=u64::from(fl::MAX_BORROW_SECS) + 10],
        other_client in prop::bool::weighted(0.2),
        offset in 0u64..=u64::from(fl::MAX_BORROW_SECS) + 20,
        before in prop::bool::weighted(0.1),
    ) {
        let c = world_claims(&features, extra, borrowed, term, other_client);
        let lease = Lease::sign(c.clone(), &fl::server_key()).unwrap();
        let now = if before { c.issued_at - 1 } else { c.issued_at + offset };
        let ul = fl::floating_usage_license().unwrap().to_armor();
        let client = fl::broker_client_id().unwrap();
        let got = verifier().verify_lease(&ul, &lease.to_armor(), &client, now);
        let bound = if borrowed { u64::from(fl::MAX_BORROW_SECS) } else { MAX_LEASE_SECS };
        let grant = fl::floating_grant();
        let expected = if other_client {
            Err(Error::LeaseWrongClient)
        } else if c.features.iter().any(|f| grant.feature(f).is_none()) || term > bound {
            Err(Error::LeaseNotGranted)
        } else if now < c.issued_at {
            Err(Error::NotYetValid)
        } else if now >= fx::T_REFRESH_DEADLINE {
            Err(Error::RefreshOverdue)
        } else if now >= c.expires_at {
            Err(Error::LeaseExpired)
        } else {
            Ok(())
        };
        prop_assert_eq!(got.clone().map(|_| ()), expected);
        if let Ok(ent) = got {
            prop_assert_eq!(ent.lease(), &c);
            for f in &c.features {
                prop_assert!(ent.has_feature(f, now));
            }
            prop_assert!(!ent.has_feature("iot-bridge-snowflake", now) || c.covers("iot-bridge-snowflake"));
            prop_assert!(!ent.has_feature("mqtt-server", c.expires_at));
            let bytes = verifier().verify_lease_bytes(
                fl::floating_usage_license().unwrap().as_bytes(), lease.as_bytes(), &client, now);
            prop_assert_eq!(bytes, Ok(ent));
        }
    }

    /// A lease answers only the request whose nonce it carries: any other nonce is
    /// `LeaseNonceMismatch`, whatever the time (a replayed token, SPEC §13 F step 5a).
    #[test]
    fn lease_answers_only_its_nonce(nonce in any::<[u8; 16]>(), other in any::<[u8; 16]>()) {
        let c = LeaseClaims { nonce, ..fl::lease_claims().unwrap() };
        let lease = Lease::sign(c, &fl::server_key()).unwrap();
        let ul = fl::floating_usage_license().unwrap().to_armor();
        let client = fl::broker_client_id().unwrap();
        let ent = verifier().verify_lease_untimed(&ul, &lease.to_armor(), &client).unwrap();
        prop_assert_eq!(ent.check_nonce(&nonce), Ok(()));
        let expected = if other == nonce { Ok(()) } else { Err(Error::LeaseNonceMismatch) };
        prop_assert_eq!(ent.check_nonce(&other), expected);
    }

    /// No edit of the reference lease's bytes verifies, unless it changes nothing.
    #[test]
    fn damaged_lease_never_verifies(edits in vec((0usize..128, any::<u8>()), 1..4)) {
        let lease = fl::lease().unwrap();
        let mut b = lease.as_bytes().to_vec();
        for (i, x) in edits {
            let i = i % b.len();
            b[i] ^= x.max(1);
        }
        prop_assume!(b != lease.as_bytes());
        let ul = fl::floating_usage_license().unwrap();
        let client = fl::broker_client_id().unwrap();
        let got = verifier().verify_lease_bytes(ul.as_bytes(), &b, &client, fx::T_NOW);
        prop_assert!(got.is_err(), "{:?}", got);
    }

    /// Arbitrary bytes, bodies and text never panic the lease decoders.
    #[test]
    fn arbitrary_input_never_panics(bytes in vec(any::<u8>(), 0..1100), text in any::<String>()) {
        let key = fl::server_key().public_key();
        let _ = Lease::decode(&bytes, &key);
        let mut enveloped = codec::MAGIC.to_vec();
        enveloped.extend_from_slice(&[ArtifactType::Lease.type_byte(), ArtifactType::Lease.version()]);
        enveloped.extend_from_slice(&bytes);
        let _ = Lease::decode(&enveloped, &key);
        let _ = Lease::from_armor(&text, &key);
        let _ = Lease::from_armor(&armor::encode(ArtifactType::Lease, &bytes), &key);
        let ul = fl::floating_usage_license().unwrap().to_armor();
        let _ = verifier().verify_lease(&ul, &text, &ClientId([0; 16]), fx::T_NOW);
    }
}
