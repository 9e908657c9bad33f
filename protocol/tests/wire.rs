//! The exact JSON bytes of every body: a change here is a protocol change for every client
//! and server in the field.
#![allow(clippy::unwrap_used)]

use tollgate_protocol::error::{ErrorDetail, ErrorEnvelope};
use tollgate_protocol::floating::{CheckoutRequest, CheckoutResponse, LeaseRef, RenewResponse};
use tollgate_protocol::online::{DeactivationIn, FreedOut, UsageLicenseOut, UsageRequestIn};

fn round_trip<T>(value: &T, json: &str)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    assert_eq!(serde_json::to_string(value).unwrap(), json);
    assert_eq!(&serde_json::from_str::<T>(json).unwrap(), value);
}

#[test]
fn online_bodies() {
    round_trip(
        &UsageRequestIn {
            request: "TGRQ:x".into(),
        },
        r#"{"request":"TGRQ:x"}"#,
    );
    round_trip(
        &DeactivationIn {
            code: "TGDC:y".into(),
        },
        r#"{"code":"TGDC:y"}"#,
    );
    round_trip(
        &UsageLicenseOut {
            usage_license: "TGUL:z".into(),
            license_id: 7,
            activation_id: 9,
            revision: 2,
            new_activation: true,
            repeated: false,
            refresh_deadline: Some(1_767_225_600),
        },
        r#"{"usage_license":"TGUL:z","license_id":7,"activation_id":9,"revision":2,"new_activation":true,"repeated":false,"refresh_deadline":1767225600}"#,
    );
    round_trip(
        &FreedOut {
            license_id: 7,
            activation_id: 9,
        },
        r#"{"license_id":7,"activation_id":9}"#,
    );
}

#[test]
fn an_answer_without_repeated_is_not_repeated() {
    let a: UsageLicenseOut = serde_json::from_str(
        r#"{"usage_license":"u","license_id":1,"activation_id":2,"revision":1,"new_activation":false,"refresh_deadline":null}"#,
    )
    .unwrap();
    assert!(!a.repeated);
}

#[test]
fn unknown_request_fields_are_refused() {
    let e = serde_json::from_str::<UsageRequestIn>(r#"{"request":"x","key":"k"}"#).unwrap_err();
    assert!(e.to_string().starts_with("unknown field `key`"), "{e}");
    assert!(serde_json::from_str::<LeaseRef>(r#"{"lease_id":1,"secret":"s","x":1}"#).is_err());
}

#[test]
fn floating_bodies() {
    round_trip(
        &CheckoutRequest {
            client_id: "00112233445566778899aabbccddeeff".into(),
            features: vec!["mqtt-server".into()],
            client_name: "broker-1".into(),
            borrow_secs: None,
            nonce: "4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e".into(),
        },
        r#"{"client_id":"00112233445566778899aabbccddeeff","features":["mqtt-server"],"client_name":"broker-1","borrow_secs":null,"nonce":"4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e"}"#,
    );
    round_trip(
        &CheckoutResponse {
            lease_id: 3,
            secret: "s".into(),
            lease: "TGLS:l".into(),
            floating_license: "TGUL:f".into(),
            issued_at: 10,
            expires_at: 70,
            heartbeat_secs: 20,
            borrowed: false,
        },
        r#"{"lease_id":3,"secret":"s","lease":"TGLS:l","floating_license":"TGUL:f","issued_at":10,"expires_at":70,"heartbeat_secs":20,"borrowed":false}"#,
    );
    round_trip(
        &LeaseRef {
            lease_id: 3,
            secret: "s".into(),
            nonce: "4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f".into(),
        },
        r#"{"lease_id":3,"secret":"s","nonce":"4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f"}"#,
    );
    round_trip(
        &RenewResponse {
            lease_id: 3,
            lease: "TGLS:m".into(),
            issued_at: 30,
            expires_at: 90,
        },
        r#"{"lease_id":3,"lease":"TGLS:m","issued_at":30,"expires_at":90}"#,
    );
}

#[test]
fn error_envelope() {
    round_trip(
        &ErrorEnvelope {
            error: ErrorDetail {
                code: 340,
                name: "NoSeat".into(),
                message: "every seat is taken".into(),
            },
        },
        r#"{"error":{"code":340,"name":"NoSeat","message":"every seat is taken"}}"#,
    );
}

#[test]
fn shop_bodies() {
    use tollgate_protocol::shop::*;
    round_trip(&OffersIn::default(), r#"{}"#);
    round_trip(
        &OffersIn {
            license_key: Some("K".into()),
        },
        r#"{"license_key":"K"}"#,
    );
    round_trip(
        &OffersOut {
            product: "chariot".into(),
            license_id: Some(3),
            offers: vec![Offer {
                sku: "support".into(),
                name: "MQTT Server Support".into(),
                feature: "support".into(),
                kind: "years".into(),
                max_quantity: 5,
            }],
        },
        r#"{"product":"chariot","license_id":3,"offers":[{"sku":"support","name":"MQTT Server Support","feature":"support","kind":"years","max_quantity":5}]}"#,
    );
    round_trip(
        &PurchaseIn {
            items: vec![PurchaseItemIn {
                sku: "support".into(),
                quantity: Some(2),
            }],
            email: "a@b.c".into(),
            license_key: None,
        },
        r#"{"items":[{"sku":"support","quantity":2}],"email":"a@b.c"}"#,
    );
    round_trip(
        &PurchaseOut {
            purchase_id: 1,
            token: "ab".into(),
            checkout_url: "https://c".into(),
            session_id: "cs_1".into(),
        },
        r#"{"purchase_id":1,"token":"ab","checkout_url":"https://c","session_id":"cs_1"}"#,
    );
    round_trip(
        &PurchaseStatusOut {
            purchase_id: 1,
            status: "completed".into(),
            upgrade: false,
            license_id: Some(4),
            revision: Some(1),
            license_key: Some("K".into()),
        },
        r#"{"purchase_id":1,"status":"completed","upgrade":false,"license_id":4,"revision":1,"license_key":"K"}"#,
    );
    round_trip(
        &WebhookOut {
            received: true,
            outcome: "duplicate".into(),
        },
        r#"{"received":true,"outcome":"duplicate"}"#,
    );
    assert_eq!(
        [
            PURCHASE_NOT_FOUND,
            NOT_FOR_SALE,
            WEBHOOK_SIGNATURE,
            PAYMENT_PROVIDER,
            SHOP_CLOSED
        ],
        [350, 351, 352, 353, 354]
    );
}

#[test]
fn usage_bodies() {
    use tollgate_protocol::usage::*;
    round_trip(
        &UsageSubmission {
            reports: vec!["TGUR:a".into(), "TGUR:b".into()],
        },
        r#"{"reports":["TGUR:a","TGUR:b"]}"#,
    );
    assert!(serde_json::from_str::<UsageSubmission>(r#"{"reports":[],"x":1}"#).is_err());
    let verdicts = [
        UsageVerdictName::Merged,
        UsageVerdictName::Duplicate,
        UsageVerdictName::Gap,
        UsageVerdictName::Fork,
        UsageVerdictName::Rewritten,
        UsageVerdictName::Dismissed,
    ];
    round_trip(
        &UsageReceipt {
            license_id: 7,
            device_key: "ab".repeat(32),
            merged_through: 3,
            head_hash: None,
            results: verdicts
                .iter()
                .zip(1..)
                .map(|(&verdict, seq)| UsageResult { seq, verdict })
                .collect(),
        },
        &format!(
            r#"{{"license_id":7,"device_key":"{}","merged_through":3,"results":[{{"seq":1,"verdict":"merged"}},{{"seq":2,"verdict":"duplicate"}},{{"seq":3,"verdict":"gap"}},{{"seq":4,"verdict":"fork"}},{{"seq":5,"verdict":"rewritten"}},{{"seq":6,"verdict":"dismissed"}}]}}"#,
            "ab".repeat(32)
        ),
    );
    for v in verdicts {
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            format!("\"{}\"", v.name())
        );
        assert_eq!(
            v.is_settled(),
            matches!(
                v,
                UsageVerdictName::Merged
                    | UsageVerdictName::Duplicate
                    | UsageVerdictName::Dismissed
            )
        );
    }
    assert_eq!(USAGE, "/v1/usage");
}
