//! Issue 11 policies through the authority API: suspend and revoke, the transfer limit, rapid
//! transfers and the fingerprint minimum. Each test fails on the code before issue 11.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tollgate_authority::{AuthorityError, FulfilItem, FulfilMode, LicenseStatus, TransferPolicy};
use tollgate_core::*;

fn floating_spec() -> tollgate_authority::IssueSpec {
    let mut s = chariot(2);
    s.models = Models::of(&[
        DeploymentModel::Online,
        DeploymentModel::Offline,
        DeploymentModel::Floating,
    ]);
    s.floating_seats = 5;
    s
}

#[test]
fn suspended_license_gets_no_usage_license_until_resumed() {
    let (_d, mut v) = vendor();
    let issued = v.issue(floating_spec(), T0).unwrap();
    let h = Host::new(1);
    let first = v
        .fulfil(&h.request(&issued.key, 1), DeploymentModel::Online, T0 + 1)
        .unwrap();

    v.suspend(1, "unpaid invoice 4711", T0 + 2).unwrap();
    assert_eq!(v.get_license(1).unwrap().status, LicenseStatus::Suspended);
    // Online refresh of the active seat, a new offline fulfilment, the same request again: all
    // refused with the suspended code.
    let refresh = v
        .fulfil_with(
            &h.request(&issued.key, 2),
            DeploymentModel::Online,
            FulfilMode::Refresh,
            T0 + 3,
        )
        .unwrap_err();
    assert!(matches!(refresh, AuthorityError::LicenseSuspended(1)));
    assert_eq!((refresh.code(), refresh.name()), (324, "LicenseSuspended"));
    let offline = v
        .fulfil(
            &Host::new(2).request(&issued.key, 1),
            DeploymentModel::Offline,
            T0 + 3,
        )
        .unwrap_err();
    assert_eq!(offline.code(), 324);
    let replay = v
        .fulfil(&h.request(&issued.key, 1), DeploymentModel::Online, T0 + 3)
        .unwrap_err();
    assert_eq!(replay.code(), 324);
    // The batch path (the online service's) decides alike.
    let item = FulfilItem::parse(
        &h.request(&issued.key, 2),
        DeploymentModel::Online,
        FulfilMode::Refresh,
    )
    .unwrap();
    let out = v.fulfil_many(&[item], T0 + 3).unwrap();
    assert!(matches!(out[0], Err(AuthorityError::LicenseSuspended(1))));

    // Suspending twice is an error; resuming restores service.
    assert_eq!(v.suspend(1, "again", T0 + 4).unwrap_err().code(), 316);
    v.resume(1, "paid", T0 + 5).unwrap();
    let again = v
        .fulfil_with(
            &h.request(&issued.key, 2),
            DeploymentModel::Online,
            FulfilMode::Refresh,
            T0 + 6,
        )
        .unwrap();
    assert_eq!(again.activation_id, first.activation_id);

    let actions: Vec<String> = v
        .audit_log(Some(1), 4)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "activation.refreshed",
            "license.resumed",
            "license.suspended",
            "activation.created"
        ]
    );
}

#[test]
fn revoked_license_is_refused_for_good() {
    let (_d, mut v) = vendor();
    let issued = v.issue(floating_spec(), T0).unwrap();
    let h = Host::new(1);
    v.fulfil(&h.request(&issued.key, 1), DeploymentModel::Offline, T0 + 1)
        .unwrap();
    v.revoke(1, "chargeback", T0 + 2).unwrap();
    let e = v
        .fulfil(&h.request(&issued.key, 2), DeploymentModel::Offline, T0 + 3)
        .unwrap_err();
    assert!(matches!(e, AuthorityError::LicenseRevoked(1)));
    assert_eq!((e.code(), e.name()), (325, "LicenseRevoked"));
    // Final: no resume, no suspend, no second revoke.
    for r in [
        v.resume(1, "oops", T0 + 4),
        v.suspend(1, "x", T0 + 4),
        v.revoke(1, "x", T0 + 4),
    ] {
        assert!(matches!(r, Err(AuthorityError::LicenseRevoked(1))));
    }
    assert_eq!(v.get_license(1).unwrap().status, LicenseStatus::Revoked);
    assert!(matches!(
        v.suspend(9, "x", T0),
        Err(AuthorityError::LicenseNotFound(9))
    ));
    assert_eq!(v.suspend(1, " ", T0).unwrap_err().code(), 316);
}

/// The floating license server renews its own (floating) usage license with a new round trip
/// before its refresh deadline: for a suspended or revoked license that renewal is refused,
/// so the server stops lending when its usage license runs out.
#[test]
fn floating_servers_renewal_is_refused_when_suspended_or_revoked() {
    let (_d, mut v) = vendor();
    let issued = v.issue(floating_spec(), T0).unwrap();
    let server = Host::new(7);
    let first = v
        .fulfil(
            &server.request(&issued.key, 1),
            DeploymentModel::Floating,
            T0,
        )
        .unwrap();
    assert!(first.new_activation);
    // An honest renewal (the next round trip of the same server) is answered.
    v.fulfil(
        &server.request(&issued.key, 2),
        DeploymentModel::Floating,
        T0 + DAY,
    )
    .unwrap();
    v.suspend(1, "audit", T0 + 2 * DAY).unwrap();
    let e = v
        .fulfil(
            &server.request(&issued.key, 3),
            DeploymentModel::Floating,
            T0 + 3 * DAY,
        )
        .unwrap_err();
    assert_eq!(e.code(), 324);
    v.revoke(1, "fraud", T0 + 4 * DAY).unwrap();
    let e = v
        .fulfil(
            &server.request(&issued.key, 4),
            DeploymentModel::Floating,
            T0 + 5 * DAY,
        )
        .unwrap_err();
    assert_eq!(e.code(), 325);
}

/// The clone-by-backup loop (deactivate, keep a copy, activate again) is bounded by the
/// transfer limit: the fifth freed seat within the period is refused.
#[test]
fn transfers_past_the_limit_are_refused() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    assert_eq!(v.get_license(1).unwrap().transfers, TransferPolicy::DEFAULT);
    let mut at = T0;
    let mut last = None;
    for n in 1..=5u8 {
        let h = Host::new(n);
        let f = v
            .fulfil(&h.request(&issued.key, 1), DeploymentModel::Offline, at)
            .unwrap();
        at += DAY;
        let r = v.deactivate(&h.deactivation(1, f.activation_id, 1), at);
        if n <= 4 {
            r.unwrap();
        } else {
            let e = r.unwrap_err();
            assert!(matches!(
                e,
                AuthorityError::TransferLimit {
                    license_id: 1,
                    max: 4,
                    period_days: 365
                }
            ));
            assert_eq!((e.code(), e.name()), (326, "TransferLimit"));
            // A restore counts alike.
            let e = v
                .restore(1, f.activation_id, "lost", "desk", at)
                .unwrap_err();
            assert_eq!(e.code(), 326);
            // The seat is still held.
            assert_eq!(v.get_license(1).unwrap().active_activations, 1);
            last = Some((h, f.activation_id));
        }
    }
    // Once the oldest transfer leaves the 365-day period, the same code is accepted.
    let (h, id) = last.unwrap();
    v.deactivate(&h.deactivation(1, id, 1), T0 + DAY + 365 * DAY)
        .unwrap();
}

#[test]
fn transfer_policy_is_set_at_issue() {
    let (_d, mut v) = vendor();
    let mut spec = chariot(1);
    spec.transfers = TransferPolicy {
        max_transfers: Some(1),
        period_secs: 30 * DAY,
    };
    let issued = v.issue(spec, T0).unwrap();
    let (a, b) = (Host::new(1), Host::new(2));
    let fa = v
        .fulfil(&a.request(&issued.key, 1), DeploymentModel::Offline, T0)
        .unwrap();
    v.restore(1, fa.activation_id, "disk died", "desk", T0 + 1)
        .unwrap();
    let fb = v
        .fulfil(&b.request(&issued.key, 1), DeploymentModel::Offline, T0 + 2)
        .unwrap();
    let e = v
        .deactivate(&b.deactivation(1, fb.activation_id, 1), T0 + 3)
        .unwrap_err();
    assert!(matches!(
        e,
        AuthorityError::TransferLimit {
            max: 1,
            period_days: 30,
            ..
        }
    ));
    // Unlimited.
    let mut spec = chariot(1);
    spec.transfers.max_transfers = None;
    let issued = v.issue(spec, T0).unwrap();
    for n in 10..16u8 {
        let h = Host::new(n);
        let f = v
            .fulfil(&h.request(&issued.key, 1), DeploymentModel::Offline, T0)
            .unwrap();
        v.deactivate(&h.deactivation(2, f.activation_id, 1), T0)
            .unwrap();
    }
    // A zero period is refused.
    let mut spec = chariot(1);
    spec.transfers.period_secs = 0;
    assert_eq!(v.issue(spec, T0).unwrap_err().code(), 316);
}

#[test]
fn rapid_transfer_only_within_the_window() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let (a, b, c) = (Host::new(1), Host::new(2), Host::new(3));
    let fa = v
        .fulfil(&a.request(&issued.key, 1), DeploymentModel::Offline, T0)
        .unwrap();
    v.deactivate(&a.deactivation(1, fa.activation_id, 1), T0 + 100)
        .unwrap();
    // 31 minutes later: not rapid (default window 30 minutes).
    let fb = v
        .fulfil(
            &b.request(&issued.key, 1),
            DeploymentModel::Offline,
            T0 + 100 + 31 * 60,
        )
        .unwrap();
    assert_eq!(fb.rapid_transfer_after, None);
    v.deactivate(&b.deactivation(1, fb.activation_id, 1), T0 + 10_000)
        .unwrap();
    let fc = v
        .fulfil(
            &c.request(&issued.key, 1),
            DeploymentModel::Offline,
            T0 + 10_000 + 30 * 60,
        )
        .unwrap();
    assert_eq!(fc.rapid_transfer_after, Some(fb.activation_id));
    // A refresh of the same seat is no transfer.
    let again = v
        .fulfil(
            &c.request(&issued.key, 2),
            DeploymentModel::Offline,
            T0 + 10_000 + 30 * 60,
        )
        .unwrap();
    assert!(!again.new_activation);
    assert_eq!(again.rapid_transfer_after, None);
    let r = v.get_license(1).unwrap();
    assert_eq!(r.rapid_transfers, 1);
    let rapid: Vec<_> = v
        .audit_log(Some(1), 50)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "rapid_transfer")
        .collect();
    assert_eq!(rapid.len(), 1);
    assert_eq!(rapid[0].activation_id, Some(fc.activation_id));
}

fn one_component_request(key: &LicenseKey) -> String {
    let fp = Fingerprint::from_components(vec![Component::derive(
        ComponentKind::Operator,
        b"x",
        b"chariot",
    )])
    .unwrap();
    UsageRequest::create(
        key,
        &DeviceKey::from_seed(&[9; 32]),
        "chariot",
        "4.2.0",
        1,
        T0,
        &fp,
    )
    .unwrap()
    .to_armor()
}

/// `--no-probes --component operator=x`: a one-component request would bind the license to
/// any machine that claims that value. Refused, whatever the grant's threshold.
#[test]
fn one_component_request_is_refused() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let e = v
        .fulfil(
            &one_component_request(&issued.key),
            DeploymentModel::Offline,
            T0,
        )
        .unwrap_err();
    assert!(matches!(
        e,
        AuthorityError::WeakFingerprint {
            components: 1,
            kinds: 1,
            need_components: 3,
            need_kinds: 2
        }
    ));
    assert_eq!((e.code(), e.name()), (327, "WeakFingerprint"));
    // Even with a threshold of 1, one kind is not enough.
    let mut spec = chariot(1);
    spec.fingerprint_threshold = 1;
    let issued = v.issue(spec, T0).unwrap();
    let e = v
        .fulfil(
            &one_component_request(&issued.key),
            DeploymentModel::Online,
            T0,
        )
        .unwrap_err();
    assert!(matches!(
        e,
        AuthorityError::WeakFingerprint {
            need_components: 1,
            need_kinds: 2,
            ..
        }
    ));
    assert_eq!(v.get_license(2).unwrap().active_activations, 0);
}
