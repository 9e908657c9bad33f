//! HTTPS: the service with a (self-signed) certificate, the SDK trusting exactly that
//! certificate; a client that does not trust it never talks to the service.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use tollgate_sdk::online::OnlineClient;
use tollgate_sdk::{LicenseState, SdkError};
use tollgate_server::Tls;

#[test]
fn activation_over_tls_with_a_pinned_root() {
    let vendor = Vendor::new(&Backend::Sqlite);
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let server = vendor.start_with(|c| c.tls = Some(Tls { cert, key }));
    let url = format!("https://{}", server.addr());

    // Issue over HTTPS with an agent trusting the certificate.
    let mut cfg = quick(&url);
    cfg.root_certs_pem = Some(cert_pem.into_bytes());
    let online = OnlineClient::new(cfg).unwrap();
    let keys = vendor.root();
    let mut a = vendor.authority();
    let mut spec = tollgate_authority::IssueSpec::new("chariot", "ACME");
    spec.features.push(tollgate_core::Feature {
        name: "mqtt-server".into(),
        kind: tollgate_core::FeatureKind::Perpetual,
    });
    let issued = a.issue(spec, 1_700_000_000).unwrap();
    let mut broker = host(1, keys);
    let status = online.activate(&mut broker, &issued.key.expose()).unwrap();
    assert_eq!(status.state, LicenseState::Active);
    assert!(broker.has_feature("mqtt-server"));
    assert_eq!(
        online.reactivate(&mut broker).unwrap().state,
        LicenseState::Active
    );

    // The Mozilla roots do not include a self-signed certificate: refused before any request.
    let untrusting = client(&url);
    let mut other = host(2, keys);
    let err = untrusting
        .activate(&mut other, &issued.key.expose())
        .unwrap_err();
    assert!(
        matches!(err, SdkError::ServiceUnreachable { .. }),
        "{err:?}"
    );
    // Plain HTTP to the TLS port does not work either.
    let err = client(&format!("http://{}", server.addr()))
        .activate(&mut other, &issued.key.expose())
        .unwrap_err();
    assert!(
        matches!(
            err,
            SdkError::ServiceUnreachable { .. } | SdkError::BadResponse { .. }
        ),
        "{err:?}"
    );
    assert_eq!(active_seats(&vendor, 1), 1);
}
