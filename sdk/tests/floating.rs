//! The floating server's side of the host runtime: `LicenseManager::lease_signer` signs lease
//! tokens with the activation's device key, only for a floating activation, and never what a
//! client would refuse. (The client side runs against a real server in
//! `server/tests/floating.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use tollgate_core::*;
use tollgate_sdk::{
    HostConfig, HostRole, LicenseManager, ManualClock, MemoryStorage, SdkError, StaticSource,
};

const NOW: u64 = 1_768_478_400;

fn manager(vendor: &VendorSigningKey) -> LicenseManager {
    manager_as(vendor, HostRole::FloatingServer)
}

fn manager_as(vendor: &VendorSigningKey, role: HostRole) -> LicenseManager {
    // The vendor's root is compiled in; the signing key's certificate travels in the
    // configuration (the usage licenses here do not embed it).
    let root = VendorSigningKey::from_seed(&[10; 32]);
    let mut config = HostConfig::new("chariot", "4.2.0", b"salt".to_vec(), root.public_key());
    let claims = CertificateClaims {
        product: "chariot".into(),
        public_key: vendor.public_key(),
        not_before: 0,
        not_after: None,
        issued_at: 0,
    };
    config.key_certificates = vec![KeyCertificate::issue(claims, &root).unwrap().to_armor()];
    config.role = role;
    let probes = StaticSource::from_strs(&[
        (ComponentKind::Operator, "floating-server-1"),
        (ComponentKind::MachineId, "machine-1"),
    ]);
    LicenseManager::with_parts(
        config,
        Box::new(MemoryStorage::new()),
        Arc::new(ManualClock::new(NOW)),
        Box::new(probes),
    )
    .unwrap()
}

/// Activates `m` with a usage license of `model` for a grant lending 5 seats, borrowing up to
/// a day.
fn activate(
    m: &mut LicenseManager,
    vendor: &VendorSigningKey,
    model: DeploymentModel,
) -> UsageLicense {
    let key = LicenseKey::from_entropy(&[4; 15]);
    let req = UsageRequest::from_armor(&m.request_usage(&key.expose()).unwrap()).unwrap();
    let grant = Grant {
        license_id: 77,
        revision: 1,
        product: "chariot".into(),
        customer: "ACME".into(),
        features: vec![
            Feature {
                name: "mqtt-server".into(),
                kind: FeatureKind::Perpetual,
            },
            Feature {
                name: "support".into(),
                kind: FeatureKind::Subscription {
                    expires_at: NOW + 86_400 * 365,
                },
            },
        ],
        models: Models::of(&[model]),
        max_activations: 1,
        floating_seats: 5,
        not_before: None,
        not_after: None,
        fingerprint_threshold: 1,
        max_borrow_secs: 86_400,
        rollback_tolerance_secs: 3600,
        offline_refresh_secs: 0,
    };
    let ul = UsageLicense::issue(
        UsageTerms {
            grant,
            activation_id: 9,
            model,
            device_key: *req.device_key(),
            request_counter: req.claims().counter,
            fingerprint: req.claims().fingerprint.clone(),
            issued_at: NOW,
            refresh_deadline: Some(NOW + 30 * 86_400),
        },
        vendor,
    )
    .unwrap();
    m.install(&ul.to_armor()).unwrap();
    ul
}

fn claims(features: &[&str], borrowed: bool, term: u64) -> LeaseClaims {
    LeaseClaims {
        lease_id: 1,
        license_id: 0,
        activation_id: 0,
        client_id: ClientId([1; 16]),
        nonce: [2; 16],
        features: features.iter().map(|f| (*f).to_owned()).collect(),
        borrowed,
        issued_at: NOW,
        expires_at: NOW + term,
    }
}

#[test]
fn a_floating_activation_signs_leases_its_clients_accept() {
    let vendor = VendorSigningKey::from_seed(&[1; 32]);
    let mut m = manager(&vendor);
    let ul = activate(&mut m, &vendor, DeploymentModel::Floating);
    let signer = m.lease_signer().unwrap();
    assert_eq!(signer.floating_license(), ul.to_armor());
    assert_eq!(signer.key_id(), KeyId::of(&ul.terms().device_key));
    // The debug form names the license, never the key.
    assert!(!format!("{signer:?}").contains("seed"));
    let lease = signer
        .sign(claims(&["support", "mqtt-server"], false, 60))
        .unwrap();
    assert_eq!(lease.claims().license_id, 77);
    assert_eq!(lease.claims().activation_id, 9);
    let verifier = Verifier::new(
        "chariot",
        Keyring::from_keys([&vendor.public_key()]).unwrap(),
    );
    let ent = verifier
        .verify_lease(
            &ul.to_armor(),
            &lease.to_armor(),
            &ClientId([1; 16]),
            NOW + 1,
        )
        .unwrap();
    assert!(ent.has_feature("mqtt-server", NOW + 1) && ent.has_feature("support", NOW + 1));
    assert!(!ent.has_feature("mqtt-server", NOW + 60));
    // A borrowed lease within the license's bound.
    let borrowed = m
        .sign_lease(claims(&["mqtt-server"], true, 86_400))
        .unwrap();
    assert!(verifier
        .verify_lease(
            &ul.to_armor(),
            &borrowed.to_armor(),
            &ClientId([1; 16]),
            NOW + 80_000
        )
        .is_ok());
}

#[test]
fn the_signer_refuses_what_a_client_would_refuse() {
    let vendor = VendorSigningKey::from_seed(&[1; 32]);
    let mut m = manager(&vendor);
    activate(&mut m, &vendor, DeploymentModel::Floating);
    let signer = m.lease_signer().unwrap();
    let not_granted = SdkError::Core(Error::LeaseNotGranted);
    assert_eq!(
        signer.sign(claims(&["opc-ua"], false, 60)).unwrap_err(),
        not_granted
    );
    assert_eq!(
        signer
            .sign(claims(&["mqtt-server"], false, 3601))
            .unwrap_err(),
        not_granted
    );
    assert_eq!(
        signer
            .sign(claims(&["mqtt-server"], true, 86_401))
            .unwrap_err(),
        not_granted
    );
    assert_eq!(
        signer.sign(claims(&[], false, 60)).unwrap_err(),
        SdkError::Core(Error::LimitExceeded)
    );
}

#[test]
fn only_a_floating_activation_has_a_signer() {
    let vendor = VendorSigningKey::from_seed(&[1; 32]);
    let m = manager(&vendor);
    assert_eq!(m.lease_signer().unwrap_err(), SdkError::NotActivated);
    // An ordinary host with an offline license has no signer either.
    let mut m = manager_as(&vendor, HostRole::Host);
    activate(&mut m, &vendor, DeploymentModel::Offline);
    assert_eq!(
        m.lease_signer().unwrap_err(),
        SdkError::Core(Error::LeaseNotGranted)
    );
}

/// The deployment model is enforced by role (issue 11 §2): a floating server's manager refuses
/// an offline usage license, an ordinary host a floating one; the state is unchanged.
#[test]
fn the_deployment_model_must_fit_the_role() {
    let vendor = VendorSigningKey::from_seed(&[1; 32]);
    for (role, model, refused) in [
        (
            HostRole::FloatingServer,
            DeploymentModel::Offline,
            "offline",
        ),
        (HostRole::Host, DeploymentModel::Floating, "floating"),
    ] {
        let mut host = manager_as(&vendor, HostRole::Host);
        let mut server = manager_as(&vendor, HostRole::FloatingServer);
        // Make a usage license for `model` on a manager that accepts it, then give the same
        // request's answer to one that does not (same device: a copied state).
        let (accepting, refusing) = if role == HostRole::Host {
            (&mut server, &mut host)
        } else {
            (&mut host, &mut server)
        };
        let ul = activate(accepting, &vendor, model);
        assert!(accepting.check().is_ok());
        let _ = refusing.request_usage(&LicenseKey::from_entropy(&[2; 15]).expose());
        let before = refusing.status();
        let e = refusing.install(&ul.to_armor()).unwrap_err();
        assert_eq!(
            e,
            SdkError::WrongModel {
                model: refused.into(),
                role: role.name().into()
            }
        );
        assert_eq!(e.code(), 239);
        assert_eq!(refusing.status(), before);
    }
}
