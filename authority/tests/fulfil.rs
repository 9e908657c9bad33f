//! Issue and fulfil: every refusal with its exact error, idempotence, counters, models.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use ed25519_dalek::{Signer, SigningKey};
use tollgate_authority::{ActivationStatus, AuthorityError, IssueSpec};
use tollgate_core::armor::{self, ArtifactType};
use tollgate_core::*;

#[test]
fn issue_then_fulfil_offline_verifies_on_the_host() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(2), T0).unwrap();
    assert_eq!(issued.license.grant().license_id, 1);
    assert_eq!(issued.license.grant().revision, 1);
    let second = v.issue(chariot(2), T0).unwrap();
    assert_eq!(second.license.grant().license_id, 2, "ids are sequential");

    let host = Host::new(1);
    let f = v
        .fulfil(
            &host.request(&issued.key, 1),
            DeploymentModel::Offline,
            T0 + 5,
        )
        .unwrap();
    assert!(f.new_activation && !f.repeated);
    assert_eq!((f.license_id, f.revision, f.refresh_deadline), (1, 1, None));
    let ent = verify(&mut v, &host, &f.usage_license, T0 + 10);
    assert_eq!(ent.activation_id(), f.activation_id);
    assert_eq!(ent.model(), DeploymentModel::Offline);
    assert!(ent.has_feature("mqtt-server", T0 + 10));
    assert!(ent.has_feature("support", T0 + 10));
    assert_eq!(ent.terms().device_key, host.device.public_key());
    assert_eq!(ent.terms().issued_at, T0 + 5);

    let rec = v.get_license(1).unwrap();
    assert_eq!((rec.active_activations, rec.total_activations), (1, 1));
    assert_eq!(rec.armored, issued.license.to_armor());
    assert_eq!(v.license_id_for_key(&issued.key).unwrap(), Some(1));
    assert_eq!(v.usage_license(f.activation_id).unwrap(), f.usage_license);
    let acts = v.list_activations(1).unwrap();
    assert_eq!(acts.len(), 1);
    assert_eq!(acts[0].status, ActivationStatus::Active);
    assert_eq!(acts[0].fingerprint, host.fp.components());
}

#[test]
fn online_model_gets_a_refresh_deadline() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let host = Host::new(1);
    let f = v
        .fulfil(&host.request(&issued.key, 1), DeploymentModel::Online, T0)
        .unwrap();
    let period = v.config().online_refresh_secs;
    assert_eq!(f.refresh_deadline, Some(T0 + period));
    let ent = verify(&mut v, &host, &f.usage_license, T0 + 1);
    assert_eq!(ent.terms().refresh_deadline, Some(T0 + period));
    assert_eq!(
        Verifier::new("chariot", v.keyring().unwrap()).verify(
            &f.usage_license,
            &host.fp,
            T0 + period
        ),
        Err(Error::RefreshOverdue)
    );
}

#[test]
fn unknown_key_is_refused() {
    let (_d, mut v) = vendor();
    v.issue(chariot(1), T0).unwrap();
    let never_issued = LicenseKey::from_entropy(&[9; 15]);
    let err = v
        .fulfil(
            &Host::new(1).request(&never_issued, 1),
            DeploymentModel::Offline,
            T0,
        )
        .unwrap_err();
    assert!(matches!(err, AuthorityError::UnknownKey), "{err:?}");
    assert_eq!(err.code(), 300);
}

/// Re-signs a usage request's claims (taken from `original`) with another device key, and
/// optionally flips a bit of the key proof: what an attacker who saw a request but does not
/// know the license key can make.
fn forge(original: &str, signer_seed: [u8; 32], flip_proof: bool) -> String {
    let bytes = armor::decode(ArtifactType::UsageRequest, original, 512).unwrap();
    let sk = SigningKey::from_bytes(&signer_seed);
    let mut body = bytes[..bytes.len() - 64].to_vec();
    body[4..36].copy_from_slice(sk.verifying_key().as_bytes());
    if flip_proof {
        // header 4, device key 32, key lookup 8, then the 16-byte key proof.
        body[4 + 32 + 8] ^= 1;
    }
    let mut msg = ArtifactType::UsageRequest.domain().to_vec();
    msg.extend_from_slice(&body);
    body.extend_from_slice(&sk.sign(&msg).to_bytes());
    armor::encode(ArtifactType::UsageRequest, &body)
}

#[test]
fn forged_key_proof_with_the_right_lookup_id_is_refused_as_unknown_key() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(5), T0).unwrap();
    let genuine = Host::new(1).request(&issued.key, 1);

    // Another device reusing the genuine host's proof: the proof is bound to the device key.
    let copied = forge(&genuine, [77; 32], false);
    let parsed = UsageRequest::from_armor(&copied).unwrap();
    assert_eq!(parsed.claims().key_lookup, issued.key.lookup_id());
    let err = v.fulfil(&copied, DeploymentModel::Offline, T0).unwrap_err();
    assert!(matches!(err, AuthorityError::UnknownKey), "{err:?}");

    // The genuine device with a tampered proof.
    let tampered = forge(&genuine, [1; 32], true);
    let err = v
        .fulfil(&tampered, DeploymentModel::Offline, T0)
        .unwrap_err();
    assert!(matches!(err, AuthorityError::UnknownKey), "{err:?}");

    // Neither took a seat; the genuine request still works.
    assert_eq!(v.get_license(1).unwrap().total_activations, 0);
    v.fulfil(&genuine, DeploymentModel::Offline, T0).unwrap();
}

#[test]
fn tampered_request_fails_its_self_signature() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let genuine = Host::new(1).request(&issued.key, 1);
    let mut bytes = armor::decode(ArtifactType::UsageRequest, &genuine, 512).unwrap();
    bytes[4 + 32 + 8] ^= 1;
    let err = v
        .fulfil(
            &armor::encode(ArtifactType::UsageRequest, &bytes),
            DeploymentModel::Offline,
            T0,
        )
        .unwrap_err();
    assert!(
        matches!(err, AuthorityError::Core(Error::BadSignature)),
        "{err:?}"
    );
    assert_eq!(err.code(), 111);
    let err = v
        .fulfil("TGRQ:not-a-request", DeploymentModel::Offline, T0)
        .unwrap_err();
    assert!(matches!(err, AuthorityError::Core(_)), "{err:?}");
}

#[test]
fn request_for_another_product_is_refused() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let err = v
        .fulfil(
            &Host::new(1).request_for(&issued.key, "other-broker", 1),
            DeploymentModel::Offline,
            T0,
        )
        .unwrap_err();
    match err {
        AuthorityError::WrongProduct {
            ref licensed,
            ref requested,
        } => assert_eq!(
            (licensed.as_str(), requested.as_str()),
            ("chariot", "other-broker")
        ),
        _ => panic!("{err:?}"),
    }
    assert_eq!(err.code(), 301);
}

#[test]
fn model_not_allowed_is_refused() {
    let (_d, mut v) = vendor();
    let mut spec = chariot(1);
    spec.models = Models::of(&[DeploymentModel::Offline]);
    let issued = v.issue(spec, T0).unwrap();
    let err = v
        .fulfil(
            &Host::new(1).request(&issued.key, 1),
            DeploymentModel::Online,
            T0,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthorityError::ModelNotAllowed {
                model: DeploymentModel::Online
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), 302);
}

#[test]
fn seats_exhausted_when_every_activation_is_in_use() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(2), T0).unwrap();
    for n in 1..=2 {
        let f = v
            .fulfil(
                &Host::new(n).request(&issued.key, 1),
                DeploymentModel::Offline,
                T0,
            )
            .unwrap();
        assert!(f.new_activation);
    }
    let err = v
        .fulfil(
            &Host::new(3).request(&issued.key, 1),
            DeploymentModel::Offline,
            T0,
        )
        .unwrap_err();
    assert!(
        matches!(err, AuthorityError::SeatsExhausted { max: 2 }),
        "{err:?}"
    );
    assert_eq!(err.code(), 303);
    assert_eq!(v.get_license(1).unwrap().active_activations, 2);
}

#[test]
fn same_request_twice_gives_identical_bytes_and_one_seat() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let req = Host::new(1).request(&issued.key, 1);
    let first = v.fulfil(&req, DeploymentModel::Offline, T0).unwrap();
    // Later, even after a key rotation, the same request gets the same bytes.
    v.rotate_signing_key(T0 + 50).unwrap();
    let again = v.fulfil(&req, DeploymentModel::Offline, T0 + 100).unwrap();
    assert_eq!(again.usage_license, first.usage_license);
    assert_eq!(again.activation_id, first.activation_id);
    assert!(again.repeated && !again.new_activation);
    let rec = v.get_license(1).unwrap();
    assert_eq!((rec.active_activations, rec.total_activations), (1, 1));
    // Asking for it with another model is an error, not a second answer.
    let err = v
        .fulfil(&req, DeploymentModel::Online, T0 + 100)
        .unwrap_err();
    assert!(matches!(err, AuthorityError::InvalidArgument(_)), "{err:?}");
}

#[test]
fn refresh_by_the_same_device_keeps_its_seat() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let host = Host::new(1);
    let a = v
        .fulfil(&host.request(&issued.key, 1), DeploymentModel::Offline, T0)
        .unwrap();
    let b = v
        .fulfil(
            &host.request(&issued.key, 2),
            DeploymentModel::Offline,
            T0 + 10,
        )
        .unwrap();
    assert!(!b.new_activation && !b.repeated);
    assert_eq!(a.activation_id, b.activation_id);
    assert_ne!(a.usage_license, b.usage_license);
    // An equal counter in a new request is accepted too.
    let req = UsageRequest::create(
        &issued.key,
        &host.device,
        "chariot",
        "4.3.0",
        2,
        T0 + 20,
        &host.fp,
    )
    .unwrap();
    let c = v
        .fulfil(&req.to_armor(), DeploymentModel::Offline, T0 + 20)
        .unwrap();
    assert_eq!(c.activation_id, a.activation_id);
    let acts = v.list_activations(1).unwrap();
    assert_eq!(acts.len(), 1);
    assert_eq!(
        (acts[0].last_counter, acts[0].product_version.as_str()),
        (2, "4.3.0")
    );
}

#[test]
fn stale_counter_is_refused() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let host = Host::new(1);
    let old = host.request(&issued.key, 4);
    v.fulfil(&old, DeploymentModel::Offline, T0).unwrap();
    v.fulfil(&host.request(&issued.key, 5), DeploymentModel::Offline, T0)
        .unwrap();
    let err = v
        .fulfil(&host.request(&issued.key, 3), DeploymentModel::Offline, T0)
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthorityError::StaleRequest {
                counter: 3,
                latest: 5
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), 308);
    // Replaying a superseded request is stale too, not a repeat.
    let err = v.fulfil(&old, DeploymentModel::Offline, T0).unwrap_err();
    assert!(
        matches!(
            err,
            AuthorityError::StaleRequest {
                counter: 4,
                latest: 5
            }
        ),
        "{err:?}"
    );
}

#[test]
fn validity_window_is_enforced() {
    let (_d, mut v) = vendor();
    let mut spec = chariot(1);
    spec.not_before = Some(T0 + 100);
    spec.not_after = Some(T0 + 200);
    let issued = v.issue(spec, T0).unwrap();
    let req = Host::new(1).request(&issued.key, 1);
    let err = v.fulfil(&req, DeploymentModel::Offline, T0).unwrap_err();
    assert!(matches!(err, AuthorityError::LicenseNotYetValid), "{err:?}");
    let err = v
        .fulfil(&req, DeploymentModel::Offline, T0 + 200)
        .unwrap_err();
    assert!(matches!(err, AuthorityError::LicenseExpired), "{err:?}");
    assert_eq!(err.code(), 309);
    v.fulfil(&req, DeploymentModel::Offline, T0 + 150).unwrap();
}

#[test]
fn issue_rejects_bad_specs_and_needs_a_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = tollgate_authority::Authority::open(dir.path()).unwrap();
    let err = v.issue(chariot(1), T0).unwrap_err();
    assert!(matches!(err, AuthorityError::NoSigningKey), "{err:?}");
    assert_eq!(err.code(), 311);
    v.create_signing_key(T0).unwrap();

    let err = v.issue(chariot(0), T0).unwrap_err();
    assert!(matches!(err, AuthorityError::InvalidArgument(_)), "{err:?}");
    let mut floating = chariot(1);
    floating.models = Models::of(&[DeploymentModel::Floating]);
    let err = v.issue(floating, T0).unwrap_err();
    assert!(matches!(err, AuthorityError::InvalidArgument(_)), "{err:?}");
    let mut bad_name = chariot(1);
    bad_name.features[0].name = "MQTT Server".into();
    let err = v.issue(bad_name, T0).unwrap_err();
    assert!(matches!(err, AuthorityError::InvalidArgument(_)), "{err:?}");
    let err = v.issue(IssueSpec::new("", "ACME"), T0).unwrap_err();
    assert!(
        matches!(err, AuthorityError::Core(Error::LimitExceeded)),
        "{err:?}"
    );
    // None of the failures used up a license id.
    assert_eq!(
        v.issue(chariot(1), T0).unwrap().license.grant().license_id,
        1
    );
    assert!(matches!(
        v.get_license(99).unwrap_err(),
        AuthorityError::LicenseNotFound(99)
    ));
    assert!(matches!(
        v.list_activations(99).unwrap_err(),
        AuthorityError::LicenseNotFound(99)
    ));
}

#[test]
fn audit_log_records_issue_and_fulfil_without_secrets() {
    let (d, mut v) = vendor();
    v.set_actor("alice").unwrap();
    let issued = v.issue(chariot(1), T0).unwrap();
    let f = v
        .fulfil(
            &Host::new(1).request(&issued.key, 1),
            DeploymentModel::Offline,
            T0 + 1,
        )
        .unwrap();
    let log = v.audit_log(Some(1), 10).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["activation.created", "license.issued"]);
    assert_eq!(log[0].activation_id, Some(f.activation_id));
    assert_eq!(log[0].actor, "alice");
    assert_eq!(log[0].at, T0 + 1);
    let all = v.audit_log(None, 100).unwrap();
    assert_eq!(all.last().unwrap().action, "key.created");
    assert_eq!(v.audit_log(None, 1).unwrap().len(), 1);

    // The key itself is stored nowhere in the vendor directory.
    let key = issued.key.expose();
    for entry in std::fs::read_dir(d.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            for needle in [key.clone(), key.replace('-', "")] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "license key found in {}",
                    path.display()
                );
            }
        }
    }
    for e in &all {
        assert!(!e.detail.to_string().contains(&key.replace('-', "")));
    }
}

#[test]
fn fulfil_many_answers_each_request_in_its_own_savepoint() {
    use tollgate_authority::{FulfilItem, FulfilMode};
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(2), T0).unwrap();
    let item = |request: String| {
        FulfilItem::parse(&request, DeploymentModel::Online, FulfilMode::Activate).unwrap()
    };
    let (h1, h2, h3) = (Host::new(1), Host::new(2), Host::new(3));
    assert!(
        FulfilItem::parse(
            "TGRQ:garbage",
            DeploymentModel::Online,
            FulfilMode::Activate
        )
        .unwrap_err()
        .code()
            < 200,
        "a core decoding error"
    );
    let items = vec![
        item(h1.request(&issued.key, 1)),
        item(h1.request(&issued.key, 1)),
        item(h2.request(&issued.key, 1)),
        item(h3.request(&issued.key, 1)),
        item(h1.request(&issued.key, 2)),
        FulfilItem {
            mode: FulfilMode::Refresh,
            ..item(h3.request(&issued.key, 2))
        },
    ];
    let out = v.fulfil_many(&items, T0 + 1).unwrap();
    assert_eq!(out.len(), 6);
    let first = out[0].as_ref().unwrap();
    assert!(first.new_activation);
    let again = out[1].as_ref().unwrap();
    assert!(again.repeated && again.usage_license == first.usage_license);
    assert!(out[2].as_ref().unwrap().new_activation);
    assert!(matches!(
        out[3],
        Err(AuthorityError::SeatsExhausted { max: 2 })
    ));
    let refreshed = out[4].as_ref().unwrap();
    assert_eq!(refreshed.activation_id, first.activation_id);
    assert!(!refreshed.new_activation);
    assert!(matches!(out[5], Err(AuthorityError::NoActiveActivation)));
    // Committed together: two seats, and the refusals left nothing behind.
    let rec = v.get_license(issued.license.grant().license_id).unwrap();
    assert_eq!((rec.active_activations, rec.total_activations), (2, 2));
    let ent = verify(&mut v, &h1, &refreshed.usage_license, T0 + 2);
    assert_eq!(ent.model(), DeploymentModel::Online);
}

#[test]
fn fulfil_many_keeps_the_seat_count_when_a_refused_request_rolls_back() {
    use tollgate_authority::{FulfilItem, FulfilMode};
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(5), T0).unwrap();
    let item = |request: String, mode| FulfilItem {
        mode,
        ..FulfilItem::parse(&request, DeploymentModel::Online, FulfilMode::Activate).unwrap()
    };
    let (h1, h2, h3, h4) = (Host::new(1), Host::new(2), Host::new(3), Host::new(4));
    // One seat taken, then refusals: the first forgets the rows read ahead, so the second
    // reads from the database (on PostgreSQL its savepoint reaches the server, with the seat
    // owed by the first request) and is rolled back; then another seat.
    let items = vec![
        item(h1.request(&issued.key, 1), FulfilMode::Activate),
        item(h2.request(&issued.key, 1), FulfilMode::Refresh),
        item(h3.request(&issued.key, 1), FulfilMode::Refresh),
        item(h4.request(&issued.key, 1), FulfilMode::Activate),
    ];
    let out = v.fulfil_many(&items, T0 + 1).unwrap();
    assert!(out[0].as_ref().unwrap().new_activation);
    assert!(matches!(out[1], Err(AuthorityError::NoActiveActivation)));
    assert!(matches!(out[2], Err(AuthorityError::NoActiveActivation)));
    assert!(out[3].as_ref().unwrap().new_activation);
    let rec = v.get_license(issued.license.grant().license_id).unwrap();
    assert_eq!((rec.active_activations, rec.total_activations), (2, 2));
    let actives = v
        .list_activations(issued.license.grant().license_id)
        .unwrap()
        .iter()
        .filter(|a| a.status == ActivationStatus::Active)
        .count();
    assert_eq!(actives, 2);
}

#[test]
fn refresh_mode_never_takes_a_seat() {
    use tollgate_authority::FulfilMode;
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let host = Host::new(1);
    let err = v
        .fulfil_with(
            &host.request(&issued.key, 1),
            DeploymentModel::Online,
            FulfilMode::Refresh,
            T0,
        )
        .unwrap_err();
    assert_eq!((err.code(), err.name()), (323, "NoActiveActivation"));
    let f = v
        .fulfil(&host.request(&issued.key, 2), DeploymentModel::Online, T0)
        .unwrap();
    let r = v
        .fulfil_with(
            &host.request(&issued.key, 3),
            DeploymentModel::Online,
            FulfilMode::Refresh,
            T0 + 100,
        )
        .unwrap();
    assert_eq!(r.activation_id, f.activation_id);
    assert_eq!(
        r.refresh_deadline,
        Some(T0 + 100 + v.config().online_refresh_secs)
    );
    v.restore(
        f.license_id,
        f.activation_id,
        "host lost",
        "support",
        T0 + 200,
    )
    .unwrap();
    let err = v
        .fulfil_with(
            &host.request(&issued.key, 4),
            DeploymentModel::Online,
            FulfilMode::Refresh,
            T0 + 300,
        )
        .unwrap_err();
    assert!(matches!(err, AuthorityError::NoActiveActivation));
}

/// Issue 12 §2: a second floating activation of a license would let two floating servers each
/// lend all of `floating_seats`. The authority keeps one: the second is refused (331) until the
/// first is restored or deactivated, while other models still take their seats.
#[test]
fn a_second_floating_activation_is_refused() {
    let (_d, mut v) = vendor();
    let mut spec = chariot(3);
    spec.models = Models::of(&[DeploymentModel::Floating, DeploymentModel::Offline]);
    spec.floating_seats = 5;
    let issued = v.issue(spec, T0).unwrap();
    let (a, b) = (Host::new(1), Host::new(2));
    let fa = v
        .fulfil(&a.request(&issued.key, 1), DeploymentModel::Floating, T0)
        .unwrap();
    // The first floating server may come back (an upgrade or refresh round trip).
    let again = v
        .fulfil(
            &a.request(&issued.key, 2),
            DeploymentModel::Floating,
            T0 + 1,
        )
        .unwrap();
    assert_eq!(again.activation_id, fa.activation_id);
    let err = v
        .fulfil(
            &b.request(&issued.key, 1),
            DeploymentModel::Floating,
            T0 + 2,
        )
        .unwrap_err();
    assert!(
        matches!(err, AuthorityError::FloatingActivationExists { activation_id } if activation_id == fa.activation_id),
        "{err:?}"
    );
    assert_eq!((err.code(), err.name()), (331, "FloatingActivationExists"));
    // Nothing was taken by the refusal; another model still gets a seat, but cannot turn
    // itself into a second floating server either.
    assert_eq!(v.get_license(1).unwrap().active_activations, 1);
    v.fulfil(&b.request(&issued.key, 2), DeploymentModel::Offline, T0 + 3)
        .unwrap();
    let err = v
        .fulfil(
            &b.request(&issued.key, 3),
            DeploymentModel::Floating,
            T0 + 4,
        )
        .unwrap_err();
    assert_eq!(err.code(), 331);
    // Once the first is restored, the second may run the floating server.
    v.restore(1, fa.activation_id, "server replaced", "support", T0 + 5)
        .unwrap();
    let fb = v
        .fulfil(
            &b.request(&issued.key, 4),
            DeploymentModel::Floating,
            T0 + 6,
        )
        .unwrap();
    assert_eq!(fb.license_id, 1);
}
