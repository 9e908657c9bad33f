//! Deactivate, restore and upgrade.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use tollgate_authority::{
    ActivationStatus, AuthorityError, Extension, Freed, NewExpiry, UpgradeSpec,
};
use tollgate_core::*;

#[test]
fn deactivation_frees_the_seat_for_a_new_activation() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let (a, b) = (Host::new(1), Host::new(2));
    let fa = v
        .fulfil(&a.request(&issued.key, 1), DeploymentModel::Offline, T0)
        .unwrap();
    let err = v
        .fulfil(&b.request(&issued.key, 1), DeploymentModel::Offline, T0)
        .unwrap_err();
    assert!(
        matches!(err, AuthorityError::SeatsExhausted { max: 1 }),
        "{err:?}"
    );

    let freed = v
        .deactivate(&a.deactivation(1, fa.activation_id, 1), T0 + 20)
        .unwrap();
    assert_eq!(
        freed,
        Freed {
            license_id: 1,
            activation_id: fa.activation_id
        }
    );
    let acts = v.list_activations(1).unwrap();
    assert_eq!(acts[0].status, ActivationStatus::Deactivated);
    assert_eq!(acts[0].freed_at, Some(T0 + 20));
    assert_eq!(v.get_license(1).unwrap().active_activations, 0);

    let fb = v
        .fulfil(
            &b.request(&issued.key, 1),
            DeploymentModel::Offline,
            T0 + 30,
        )
        .unwrap();
    assert!(fb.new_activation);
    assert_ne!(fb.activation_id, fa.activation_id);
    // A new seat 10 s after another was freed: a rapid transfer, recorded and shown.
    assert_eq!(fb.rapid_transfer_after, Some(fa.activation_id));
    let log = v.audit_log(Some(1), 10).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions[..3],
        [
            "rapid_transfer",
            "activation.created",
            "activation.deactivated"
        ]
    );
    assert_eq!(log[0].activation_id, Some(fb.activation_id));
    assert_eq!(log[0].detail["after_activation"], fa.activation_id);
    let acts = v.list_activations(1).unwrap();
    assert_eq!(acts[0].follows_activation, None);
    assert_eq!(acts[1].follows_activation, Some(fa.activation_id));
    assert_eq!(v.get_license(1).unwrap().rapid_transfers, 1);
}

#[test]
fn forged_deactivation_code_is_refused() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(2), T0).unwrap();
    let other = v.issue(chariot(2), T0).unwrap();
    let (a, mallory) = (Host::new(1), Host::new(66));
    let fa = v
        .fulfil(&a.request(&issued.key, 1), DeploymentModel::Offline, T0)
        .unwrap();

    // Signed by a device key that is not the activation's.
    let err = v
        .deactivate(&mallory.deactivation(1, fa.activation_id, 1), T0)
        .unwrap_err();
    assert!(
        matches!(err, AuthorityError::BadDeactivationCode),
        "{err:?}"
    );
    assert_eq!(err.code(), 307);

    // The right device, but claiming the activation belongs to another license.
    let err = v
        .deactivate(
            &a.deactivation(other.license.grant().license_id, fa.activation_id, 1),
            T0,
        )
        .unwrap_err();
    assert!(
        matches!(err, AuthorityError::BadDeactivationCode),
        "{err:?}"
    );

    // An activation that does not exist.
    let err = v.deactivate(&a.deactivation(1, 999, 1), T0).unwrap_err();
    assert!(
        matches!(err, AuthorityError::ActivationNotFound(999)),
        "{err:?}"
    );
    assert_eq!(err.code(), 305);

    // A damaged code is a core error.
    let err = v.deactivate("TGDC:AAAA", T0).unwrap_err();
    assert!(matches!(err, AuthorityError::Core(_)), "{err:?}");

    // Nothing was freed.
    assert_eq!(v.get_license(1).unwrap().active_activations, 1);
}

#[test]
fn replayed_deactivation_code_is_refused() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let a = Host::new(1);
    let fa = v
        .fulfil(&a.request(&issued.key, 1), DeploymentModel::Offline, T0)
        .unwrap();
    let code = a.deactivation(1, fa.activation_id, 1);
    v.deactivate(&code, T0 + 1).unwrap();
    let err = v.deactivate(&code, T0 + 2).unwrap_err();
    assert!(
        matches!(err, AuthorityError::AlreadyDeactivated(id) if id == fa.activation_id),
        "{err:?}"
    );
    assert_eq!(err.code(), 306);
    let deactivations = v
        .audit_log(Some(1), 10)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "activation.deactivated")
        .count();
    assert_eq!(deactivations, 1, "the seat is freed exactly once");
}

#[test]
fn a_deactivated_device_comes_back_only_with_a_newer_request() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let a = Host::new(1);
    let first = a.request(&issued.key, 1);
    let fa = v.fulfil(&first, DeploymentModel::Offline, T0).unwrap();
    v.deactivate(&a.deactivation(1, fa.activation_id, 1), T0 + 1)
        .unwrap();

    // Replaying the old request must not silently take the seat back.
    let err = v
        .fulfil(&first, DeploymentModel::Offline, T0 + 2)
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthorityError::StaleRequest {
                counter: 1,
                latest: 2
            }
        ),
        "{err:?}"
    );
    let again = v
        .fulfil(&a.request(&issued.key, 2), DeploymentModel::Offline, T0 + 3)
        .unwrap();
    assert!(again.new_activation);
    assert_ne!(again.activation_id, fa.activation_id);
}

#[test]
fn restore_frees_a_lost_activation_with_an_audit_record() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let (lost, replacement) = (Host::new(1), Host::new(2));
    let fl = v
        .fulfil(&lost.request(&issued.key, 1), DeploymentModel::Offline, T0)
        .unwrap();

    let err = v.restore(1, fl.activation_id, "  ", "bob", T0).unwrap_err();
    assert!(matches!(err, AuthorityError::InvalidArgument(_)), "{err:?}");
    let err = v.restore(2, fl.activation_id, "x", "bob", T0).unwrap_err();
    assert!(matches!(err, AuthorityError::LicenseNotFound(2)), "{err:?}");
    let err = v.restore(1, 42, "x", "bob", T0).unwrap_err();
    assert!(
        matches!(err, AuthorityError::ActivationNotFound(42)),
        "{err:?}"
    );

    let reason = "VM destroyed by autoscaler without deactivating (ticket 4711)";
    let freed = v
        .restore(1, fl.activation_id, reason, "bob@support", T0 + 100)
        .unwrap();
    assert_eq!(freed.activation_id, fl.activation_id);
    let acts = v.list_activations(1).unwrap();
    assert_eq!(acts[0].status, ActivationStatus::Restored);

    let entry = &v.audit_log(Some(1), 1).unwrap()[0];
    assert_eq!(entry.action, "activation.restored");
    assert_eq!(entry.actor, "bob@support");
    assert_eq!(entry.at, T0 + 100);
    assert_eq!(entry.activation_id, Some(fl.activation_id));
    assert_eq!(entry.detail["reason"], reason);

    // The seat is free for the replacement server.
    v.fulfil(
        &replacement.request(&issued.key, 1),
        DeploymentModel::Offline,
        T0 + 200,
    )
    .unwrap();
    // Restoring twice, or a late deactivation code from the lost host, frees nothing more.
    let err = v
        .restore(1, fl.activation_id, reason, "bob", T0 + 300)
        .unwrap_err();
    assert!(
        matches!(err, AuthorityError::AlreadyDeactivated(_)),
        "{err:?}"
    );
    let err = v
        .deactivate(&lost.deactivation(1, fl.activation_id, 1), T0 + 300)
        .unwrap_err();
    assert!(
        matches!(err, AuthorityError::AlreadyDeactivated(_)),
        "{err:?}"
    );
    assert_eq!(v.get_license(1).unwrap().active_activations, 1);
}

#[test]
fn upgrade_then_new_request_carries_the_new_features() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let host = Host::new(1);
    let before = v
        .fulfil(&host.request(&issued.key, 1), DeploymentModel::Offline, T0)
        .unwrap();
    let ent = verify(&mut v, &host, &before.usage_license, T0);
    assert!(!ent.has_feature("iot-bridge-snowflake", T0));

    let upgraded = v
        .upgrade(
            1,
            UpgradeSpec {
                add_features: vec![Feature {
                    name: "iot-bridge-snowflake".into(),
                    kind: FeatureKind::Metered {
                        quota: 1_000_000,
                        period: MeterPeriod::Month,
                    },
                }],
                extend: vec![Extension {
                    feature: "support".into(),
                    to: NewExpiry::By(YEAR),
                }],
                ..UpgradeSpec::default()
            },
            T0 + 1000,
        )
        .unwrap();
    assert_eq!(upgraded.grant().revision, 2);
    assert_eq!(upgraded.grant().license_id, 1);
    let rec = v.get_license(1).unwrap();
    assert_eq!(rec.grant.revision, 2);
    assert_eq!(rec.armored, upgraded.to_armor());

    // The host makes a new request (the seeds' upgrade round trip): same seat, new grant.
    let after = v
        .fulfil(
            &host.request(&issued.key, 2),
            DeploymentModel::Offline,
            T0 + 2000,
        )
        .unwrap();
    assert!(!after.new_activation);
    assert_eq!(after.activation_id, before.activation_id);
    assert_eq!(after.revision, 2);
    let ent = verify(&mut v, &host, &after.usage_license, T0 + 2000);
    assert!(ent.has_feature("iot-bridge-snowflake", T0 + 2000));
    assert_eq!(
        ent.grant().feature("support").unwrap().expires_at(),
        Some(T0 + 2 * YEAR)
    );
    assert_eq!(v.get_license(1).unwrap().active_activations, 1);
    assert_eq!(
        v.audit_log(Some(1), 5).unwrap()[1].action,
        "license.upgraded"
    );
}

#[test]
fn upgrade_refuses_features_already_bought_except_subscriptions() {
    let (_d, mut v) = vendor();
    v.issue(chariot(1), T0).unwrap();
    let add = |name: &str, kind| UpgradeSpec {
        add_features: vec![Feature {
            name: name.into(),
            kind,
        }],
        ..UpgradeSpec::default()
    };

    let err = v
        .upgrade(1, add("mqtt-server", FeatureKind::Perpetual), T0)
        .unwrap_err();
    assert!(
        matches!(err, AuthorityError::FeatureExists(ref n) if n == "mqtt-server"),
        "{err:?}"
    );
    assert_eq!(err.code(), 314);

    // Support can be bought at any time: given again with a later expiry, it is extended.
    let l = v
        .upgrade(
            1,
            add(
                "support",
                FeatureKind::Subscription {
                    expires_at: T0 + 3 * YEAR,
                },
            ),
            T0,
        )
        .unwrap();
    assert_eq!(
        l.grant().feature("support").unwrap().expires_at(),
        Some(T0 + 3 * YEAR)
    );
    let err = v
        .upgrade(
            1,
            add("support", FeatureKind::Subscription { expires_at: T0 }),
            T0,
        )
        .unwrap_err();
    assert!(matches!(err, AuthorityError::InvalidArgument(_)), "{err:?}");

    // Extending what is not a subscription, or nothing at all.
    for name in ["mqtt-server", "missing"] {
        let err = v
            .upgrade(
                1,
                UpgradeSpec {
                    extend: vec![Extension {
                        feature: name.into(),
                        to: NewExpiry::By(YEAR),
                    }],
                    ..UpgradeSpec::default()
                },
                T0,
            )
            .unwrap_err();
        assert!(
            matches!(err, AuthorityError::NoSuchSubscription(_)),
            "{err:?}"
        );
    }
    let err = v.upgrade(1, UpgradeSpec::default(), T0).unwrap_err();
    assert!(matches!(err, AuthorityError::InvalidArgument(_)), "{err:?}");
    let err = v.upgrade(9, UpgradeSpec::default(), T0).unwrap_err();
    assert!(matches!(err, AuthorityError::LicenseNotFound(9)), "{err:?}");

    // A lapsed subscription renewed late runs from now, not from its old expiry.
    let l = v
        .upgrade(
            1,
            UpgradeSpec {
                extend: vec![Extension {
                    feature: "support".into(),
                    to: NewExpiry::By(YEAR),
                }],
                ..UpgradeSpec::default()
            },
            T0 + 5 * YEAR,
        )
        .unwrap();
    assert_eq!(
        l.grant().feature("support").unwrap().expires_at(),
        Some(T0 + 6 * YEAR)
    );
    assert_eq!(l.grant().revision, 3);
}

#[test]
fn upgrade_of_seats_takes_effect_for_new_activations() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    v.fulfil(
        &Host::new(1).request(&issued.key, 1),
        DeploymentModel::Offline,
        T0,
    )
    .unwrap();
    let req2 = Host::new(2).request(&issued.key, 1);
    assert!(matches!(
        v.fulfil(&req2, DeploymentModel::Offline, T0).unwrap_err(),
        AuthorityError::SeatsExhausted { max: 1 }
    ));
    v.upgrade(
        1,
        UpgradeSpec {
            max_activations: Some(2),
            ..UpgradeSpec::default()
        },
        T0,
    )
    .unwrap();
    let f = v.fulfil(&req2, DeploymentModel::Offline, T0).unwrap();
    assert!(f.new_activation);
    assert_eq!(f.revision, 2);
}

#[test]
fn times_past_year_9999_are_refused_with_332_and_nothing_is_written() {
    let (_d, mut v) = vendor();
    let late = MAX_VENDOR_TIME + 1; // 10000-01-01T00:00:00Z
    let mut spec = chariot(1);
    spec.not_after = Some(late);
    let err = v.issue(spec, T0).unwrap_err();
    assert!(
        matches!(err, AuthorityError::TimeOutOfRange { ref what, value } if what == "not_after" && value == late),
        "{err:?}"
    );
    assert_eq!(err.code(), 332);
    let mut spec = chariot(1);
    spec.features[1].kind = FeatureKind::Subscription { expires_at: late };
    assert_eq!(v.issue(spec, T0).unwrap_err().code(), 332);
    assert_eq!(v.list_licenses().unwrap().len(), 0);

    // The last representable second is fine.
    let mut spec = chariot(1);
    spec.not_after = Some(MAX_VENDOR_TIME);
    v.issue(spec, T0).unwrap();

    // An upgrade (8000 more years of Support, or a later end) is refused too, and changes nothing.
    let extend = |to| UpgradeSpec {
        extend: vec![Extension {
            feature: "support".into(),
            to,
        }],
        ..UpgradeSpec::default()
    };
    let err = v
        .upgrade(1, extend(NewExpiry::By(8000 * 365 * 86_400)), T0)
        .unwrap_err();
    assert_eq!(err.code(), 332, "{err:?}");
    let late_end = UpgradeSpec {
        not_after: Some(Some(late)),
        ..UpgradeSpec::default()
    };
    assert_eq!(v.upgrade(1, late_end, T0).unwrap_err().code(), 332);
    assert_eq!(v.list_licenses().unwrap()[0].grant.revision, 1);
    v.upgrade(1, extend(NewExpiry::At(MAX_VENDOR_TIME)), T0)
        .unwrap();
}
