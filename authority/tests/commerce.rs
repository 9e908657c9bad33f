//! Purchases: an order recorded, the payment provider's events applied once each, in any
//! order, issuing or upgrading the license in the event's transaction.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use tollgate_authority::{
    AuthorityError, DeliverySeal, Order, OrderItem, OrderLine, PaymentEvent, PaymentOutcome,
    PurchaseState,
};
use tollgate_core::*;

fn seal() -> DeliverySeal {
    DeliverySeal::new(b"test delivery secret 0123456789abcdef")
}

fn line(feature: &str, item: OrderItem, quantity: u32) -> OrderLine {
    OrderLine {
        sku: feature.into(),
        feature: feature.into(),
        item,
        quantity,
    }
}

fn order(upgrade_of: Option<u64>, lines: Vec<OrderLine>) -> Order {
    Order {
        product: "chariot".into(),
        upgrade_of,
        email: "ops@acme.example".into(),
        models: Models::of(&[DeploymentModel::Online]),
        lines,
    }
}

fn event(id: &str, ty: &str, session: &str, purchase: u64, paid: bool) -> PaymentEvent {
    PaymentEvent {
        event_id: id.into(),
        event_type: ty.into(),
        session_id: session.into(),
        purchase_id: Some(purchase),
        paid,
        customer: Some("cus_1".into()),
    }
}

const COMPLETED: &str = "checkout.session.completed";

#[test]
fn a_paid_checkout_issues_once_and_the_token_shows_the_key() {
    let (_d, mut v) = vendor();
    let new = v
        .create_purchase(
            &order(
                None,
                vec![
                    line("mqtt-server", OrderItem::Perpetual, 1),
                    line("support", OrderItem::Years, 2),
                ],
            ),
            T0,
        )
        .unwrap();
    assert_eq!(new.id, 1);
    assert_eq!(new.token.len(), 64);
    v.attach_checkout(new.id, "cs_test_1", T0).unwrap();
    let view = v.purchase_status(new.id, &new.token, &seal()).unwrap();
    assert_eq!(
        (view.state, view.license_id, view.license_key),
        (PurchaseState::Open, None, None)
    );

    let out = v
        .payment_event(
            &event("evt_1", COMPLETED, "cs_test_1", 1, true),
            &seal(),
            T0 + 5,
        )
        .unwrap();
    let PaymentOutcome::Delivered(d) = out else {
        panic!("{out:?}")
    };
    assert_eq!((d.license_id, d.revision), (1, 1));
    let key = d.key.unwrap().expose();
    let rec = v.get_license(1).unwrap();
    assert_eq!(rec.grant.customer, "ops@acme.example");
    assert_eq!(
        rec.grant.features,
        vec![
            Feature {
                name: "mqtt-server".into(),
                kind: FeatureKind::Perpetual
            },
            Feature {
                name: "support".into(),
                kind: FeatureKind::Subscription {
                    expires_at: T0 + 5 + 2 * YEAR
                }
            },
        ]
    );
    assert_eq!(rec.grant.models, Models::of(&[DeploymentModel::Online]));
    let view = v.purchase_status(1, &new.token, &seal()).unwrap();
    assert_eq!(view.state, PurchaseState::Completed);
    assert_eq!(view.license_key.as_deref(), Some(key.as_str()));
    assert_eq!(
        v.license_id_for_key(&LicenseKey::parse(&key).unwrap())
            .unwrap(),
        Some(1)
    );

    // Redelivered: nothing changes.
    let again = v
        .payment_event(
            &event("evt_1", COMPLETED, "cs_test_1", 1, true),
            &seal(),
            T0 + 6,
        )
        .unwrap();
    assert!(matches!(again, PaymentOutcome::Duplicate), "{again:?}");
    assert_eq!(v.list_licenses().unwrap().len(), 1);
    assert_eq!(v.payment_event_count().unwrap(), 1);

    // Wrong token, unknown id: one error.
    let err = v.purchase_status(1, &"0".repeat(64), &seal()).unwrap_err();
    assert_eq!((err.code(), err.name()), (350, "PurchaseNotFound"));
    let err = v.purchase_status(9, &new.token, &seal()).unwrap_err();
    assert_eq!(err.code(), 350);

    let audit: Vec<String> = v
        .audit_log(Some(1), 10)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(audit, ["purchase.completed", "license.issued"]);
    assert_eq!(v.billing_customer(1).unwrap().as_deref(), Some("cus_1"));
    assert_eq!(v.billing_customer(2).unwrap(), None);
}

#[test]
fn events_out_of_order_never_undo_or_repeat_a_payment() {
    let (_d, mut v) = vendor();
    let p = v
        .create_purchase(
            &order(None, vec![line("mqtt-server", OrderItem::Perpetual, 1)]),
            T0,
        )
        .unwrap();
    v.attach_checkout(p.id, "cs_a", T0).unwrap();
    // A delayed payment: completed unpaid, then the success arrives before a stale copy of
    // "completed", then an expiry that Stripe sent late.
    let o = v
        .payment_event(&event("evt_1", COMPLETED, "cs_a", 1, false), &seal(), T0)
        .unwrap();
    assert!(matches!(
        o,
        PaymentOutcome::State(1, PurchaseState::AwaitingPayment)
    ));
    let o = v
        .payment_event(
            &event(
                "evt_2",
                "checkout.session.async_payment_succeeded",
                "cs_a",
                1,
                true,
            ),
            &seal(),
            T0,
        )
        .unwrap();
    assert!(matches!(o, PaymentOutcome::Delivered(_)), "{o:?}");
    for (id, ty) in [
        ("evt_3", COMPLETED),
        ("evt_4", "checkout.session.expired"),
        ("evt_5", "checkout.session.async_payment_failed"),
    ] {
        let o = v
            .payment_event(&event(id, ty, "cs_a", 1, true), &seal(), T0)
            .unwrap();
        assert!(
            matches!(o, PaymentOutcome::Ignored("purchase already settled")),
            "{id} {o:?}"
        );
    }
    assert_eq!(v.list_licenses().unwrap().len(), 1);
    assert_eq!(
        v.purchase_status(1, &p.token, &seal()).unwrap().state,
        PurchaseState::Completed
    );

    // An expiry first, then (out of order) the payment: the customer paid, so it is delivered.
    let q = v
        .create_purchase(
            &order(None, vec![line("mqtt-server", OrderItem::Perpetual, 1)]),
            T0,
        )
        .unwrap();
    v.attach_checkout(q.id, "cs_b", T0).unwrap();
    let o = v
        .payment_event(
            &event("evt_6", "checkout.session.expired", "cs_b", 2, false),
            &seal(),
            T0,
        )
        .unwrap();
    assert!(matches!(
        o,
        PaymentOutcome::State(2, PurchaseState::Expired)
    ));
    let o = v
        .payment_event(&event("evt_7", COMPLETED, "cs_b", 2, true), &seal(), T0)
        .unwrap();
    assert!(matches!(o, PaymentOutcome::Delivered(_)));
    // A session that is not the purchase's, an unknown purchase, an unhandled type.
    let o = v
        .payment_event(&event("evt_8", COMPLETED, "cs_other", 2, true), &seal(), T0)
        .unwrap();
    assert!(matches!(
        o,
        PaymentOutcome::Ignored("session does not match the purchase")
    ));
    let o = v
        .payment_event(&event("evt_9", COMPLETED, "cs_b", 77, true), &seal(), T0)
        .unwrap();
    assert!(matches!(o, PaymentOutcome::Ignored("unknown purchase")));
    let o = v
        .payment_event(
            &event("evt_10", "invoice.paid", "cs_b", 2, true),
            &seal(),
            T0,
        )
        .unwrap();
    assert!(matches!(
        o,
        PaymentOutcome::Ignored("event type not handled")
    ));
    assert_eq!(v.list_licenses().unwrap().len(), 2);
    assert_eq!(v.payment_event_count().unwrap(), 10);
}

#[test]
fn upgrades_refuse_licensed_features_except_years_and_apply_on_payment() {
    let (_d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let lid = issued.license.grant().license_id;
    let err = v
        .create_purchase(
            &order(
                Some(lid),
                vec![line("mqtt-server", OrderItem::Perpetual, 1)],
            ),
            T0,
        )
        .unwrap_err();
    assert!(
        matches!(err, AuthorityError::FeatureExists(ref f) if f == "mqtt-server"),
        "{err:?}"
    );
    let err = v
        .create_purchase(
            &order(Some(99), vec![line("support", OrderItem::Years, 1)]),
            T0,
        )
        .unwrap_err();
    assert!(matches!(err, AuthorityError::LicenseNotFound(99)));
    let metered = OrderItem::Metered {
        quota: 1000,
        period: MeterPeriod::Month,
    };
    let up = order(
        Some(lid),
        vec![
            line("support", OrderItem::Years, 1),
            line("snowflake-bridge", metered, 1),
        ],
    );
    let p = v.create_purchase(&up, T0).unwrap();
    // The same upgrade bought twice before either is paid: the second payment cannot apply.
    let p2 = v.create_purchase(&up, T0).unwrap();
    v.attach_checkout(p.id, "cs_up", T0).unwrap();
    v.attach_checkout(p2.id, "cs_up2", T0).unwrap();
    let before = v.get_license(lid).unwrap().grant;
    let FeatureKind::Subscription { expires_at: old } = before.features[1].kind else {
        panic!()
    };
    let o = v
        .payment_event(
            &event("evt_u1", COMPLETED, "cs_up", p.id, true),
            &seal(),
            T0 + 10,
        )
        .unwrap();
    let PaymentOutcome::Delivered(d) = o else {
        panic!("{o:?}")
    };
    assert_eq!((d.license_id, d.revision, d.key.is_none()), (lid, 2, true));
    let after = v.get_license(lid).unwrap().grant;
    assert_eq!(
        after.features[1].kind,
        FeatureKind::Subscription {
            expires_at: old + YEAR
        }
    );
    assert_eq!(
        after.features[2],
        Feature {
            name: "snowflake-bridge".into(),
            kind: metered_kind()
        }
    );
    let o = v
        .payment_event(
            &event("evt_u2", COMPLETED, "cs_up2", p2.id, true),
            &seal(),
            T0 + 11,
        )
        .unwrap();
    assert!(
        matches!(o, PaymentOutcome::State(_, PurchaseState::NeedsAttention)),
        "{o:?}"
    );
    assert_eq!(v.get_license(lid).unwrap().grant.revision, 2);
    let view = v.purchase_status(p2.id, &p2.token, &seal()).unwrap();
    assert_eq!(view.state, PurchaseState::NeedsAttention);
    let flagged = v
        .list_purchases(Some(PurchaseState::NeedsAttention), 10)
        .unwrap();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0].id, p2.id);
    assert_eq!(
        flagged[0].note.as_deref(),
        Some("the license already has feature `snowflake-bridge`")
    );
    let all: Vec<u64> = v
        .list_purchases(None, 10)
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(all, [p2.id, p.id]);
    assert_eq!(view.license_key, None);
}

fn metered_kind() -> FeatureKind {
    FeatureKind::Metered {
        quota: 1000,
        period: MeterPeriod::Month,
    }
}
