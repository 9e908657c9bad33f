//! Issue 11 through the online service: usage licenses carry the root-signed certificate,
//! `GET /v1/keys/{product}` serves certificates and the key list, the admin API suspends,
//! resumes and revokes (activate and refresh then refused), weak fingerprints are refused and
//! rapid transfers are counted in the metrics. Requests and codes are made with the core
//! directly, as any host would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

/// The seed of the published development root (`tests/fixtures/dev-root.seed`, the reference
/// root of `tollgate_core::reference`).
const DEV_ROOT_SEED: [u8; 32] = [0x0a; 32];

use common::*;
use serde_json::{json, Value};
use tollgate_core::*;

fn device(n: u8) -> (DeviceKey, Fingerprint) {
    let fp = Fingerprint::from_components(vec![
        Component::derive(ComponentKind::MachineId, &[n; 16], b"chariot-salt"),
        Component::derive(ComponentKind::Hostname, &[n, 1], b"chariot-salt"),
        Component::derive(ComponentKind::Mac, &[n, 2], b"chariot-salt"),
    ])
    .unwrap();
    (DeviceKey::from_seed(&[n; 32]), fp)
}

fn request(key: &str, n: u8, counter: u32) -> Value {
    let (dev, fp) = device(n);
    let key = LicenseKey::parse(key).unwrap();
    let req =
        UsageRequest::create(&key, &dev, "chariot", "4.2.0", counter, 1_800_000_000, &fp).unwrap();
    json!({"request": req.to_armor()})
}

#[test]
fn trust_suspend_revoke_weak_fingerprint_and_rapid_transfers() {
    for backend in backends() {
        let vendor = Vendor::new(&backend);
        let root = vendor
            .authority()
            .import_root_key(&DEV_ROOT_SEED, 1_700_000_000)
            .unwrap();
        let server = vendor.start();
        let url = server.url();
        let (id, key) = issue(&url, chariot_spec(3));

        // The usage license embeds its signer's certificate: the root alone verifies it.
        let (st, body) = call(
            &url,
            "POST",
            "/v1/activate",
            Some(request(&key, 1, 1)),
            None,
        );
        assert_eq!(st, 200, "{body}");
        let ul = body["usage_license"].as_str().unwrap();
        let store = TrustStore::new("chariot", &root).unwrap();
        let (_, fp) = device(1);
        let ent = Verifier::with_trust_store(store.clone())
            .verify(ul, &fp, unix_now())
            .unwrap();
        assert!(ent.has_feature("mqtt-server", unix_now()));
        let (st, trust) = call(&url, "GET", "/v1/keys/chariot", None, None);
        assert_eq!(st, 200);
        assert_eq!(trust["product"], "chariot");
        assert_eq!(trust["key_list"], Value::Null);
        let certs = trust["key_certificates"].as_array().unwrap();
        assert_eq!(certs.len(), 1);
        KeyCertificate::from_armor(certs[0].as_str().unwrap(), &root).unwrap();

        // Suspend: refresh and a new activation are refused (403, 324); resume restores.
        let path = format!("/v1/admin/licenses/{id}");
        let (st, s) = admin(
            &url,
            "POST",
            &format!("{path}/suspend"),
            Some(json!({"reason": "unpaid"})),
        );
        assert_eq!((st, &s["status"]), (200, &Value::from("suspended")));
        let (st, e) = call(&url, "POST", "/v1/refresh", Some(request(&key, 1, 2)), None);
        assert_eq!(
            (st, code(&e), e["error"]["name"].as_str()),
            (403, 324, Some("LicenseSuspended"))
        );
        let (st, e) = call(
            &url,
            "POST",
            "/v1/activate",
            Some(request(&key, 2, 1)),
            None,
        );
        assert_eq!((st, code(&e)), (403, 324));
        let (st, lic) = admin(&url, "GET", &path, None);
        assert_eq!((st, &lic["status"]), (200, &Value::from("suspended")));
        let (st, _) = admin(
            &url,
            "POST",
            &format!("{path}/resume"),
            Some(json!({"reason": "paid"})),
        );
        assert_eq!(st, 200);
        let (st, _) = call(&url, "POST", "/v1/refresh", Some(request(&key, 1, 2)), None);
        assert_eq!(st, 200);

        // Weak fingerprint: one component.
        let one = Fingerprint::from_components(vec![Component::derive(
            ComponentKind::Operator,
            b"x",
            b"chariot-salt",
        )])
        .unwrap();
        let weak = UsageRequest::create(
            &LicenseKey::parse(&key).unwrap(),
            &DeviceKey::from_seed(&[9; 32]),
            "chariot",
            "4.2.0",
            1,
            1_800_000_000,
            &one,
        )
        .unwrap();
        let (st, e) = call(
            &url,
            "POST",
            "/v1/activate",
            Some(json!({"request": weak.to_armor()})),
            None,
        );
        assert_eq!((st, code(&e)), (422, 327));

        // Rapid transfer: deactivate device 1, activate device 3 right away.
        let (dev1, _) = device(1);
        let deact = DeactivationCode::create(
            DeactivationClaims {
                activation_id: body["activation_id"].as_u64().unwrap(),
                license_id: id,
                counter: 3,
                deactivated_at: unix_now(),
            },
            &dev1,
        )
        .unwrap();
        let (st, _) = call(
            &url,
            "POST",
            "/v1/deactivate",
            Some(json!({"code": deact.to_armor()})),
            None,
        );
        assert_eq!(st, 200);
        let (st, b3) = call(
            &url,
            "POST",
            "/v1/activate",
            Some(request(&key, 3, 1)),
            None,
        );
        assert_eq!(st, 200, "{b3}");
        let metrics = http()
            .get(format!("{url}/metrics"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        assert!(
            metrics.contains("tollgate_rapid_transfers_total 1\n"),
            "{metrics}"
        );
        let (_, lic) = admin(&url, "GET", &path, None);
        assert_eq!(lic["rapid_transfers"], 1);
        assert_eq!(
            lic["activations"][1]["rapid_transfer_after"],
            body["activation_id"]
        );

        // Revoke: final.
        let (st, _) = admin(
            &url,
            "POST",
            &format!("{path}/revoke"),
            Some(json!({"reason": "fraud"})),
        );
        assert_eq!(st, 200);
        let (st, e) = call(&url, "POST", "/v1/refresh", Some(request(&key, 3, 2)), None);
        assert_eq!((st, code(&e)), (403, 325));
        let (st, e) = admin(
            &url,
            "POST",
            &format!("{path}/resume"),
            Some(json!({"reason": "x"})),
        );
        assert_eq!((st, code(&e)), (403, 325));
        let (st, e) = admin(
            &url,
            "POST",
            "/v1/admin/licenses/99/suspend",
            Some(json!({"reason": "x"})),
        );
        assert_eq!((st, code(&e)), (404, 304));
        let (st, _) = call(
            &url,
            "POST",
            &format!("{path}/suspend"),
            Some(json!({"reason": "x"})),
            None,
        );
        assert_eq!(st, 401);
        server.stop();
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
