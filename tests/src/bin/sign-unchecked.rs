//! Test tooling: answers a usage request the way the vendor would, but WITHOUT the vendor's
//! policy checks, so that binding tests can install artifacts the authority refuses to sign,
//! e.g. times after 9999-12-31T23:59:59Z (authority code 332; see `core/SPEC.md` §1).
//!
//! Usage: `sign-unchecked ROOT_SEED_FILE TGRQ:… NOT_AFTER SUPPORT_EXPIRES`
//!
//! Prints an offline usage license (`TGUL:…`) for the request's device, product and
//! fingerprint: `mqtt-server` (perpetual) and `support` (a subscription ending at
//! SUPPORT_EXPIRES), valid until NOT_AFTER (Unix seconds, any `u64`), signed by a fixed test
//! signing key that the root whose 32-byte seed is in ROOT_SEED_FILE certifies (the tests use
//! the published development root, `tests/fixtures/dev-root.seed`).

use std::process::ExitCode;

use tollgate_core::{
    CertificateClaims, DeploymentModel, Feature, FeatureKind, Grant, KeyCertificate, Models,
    UsageLicense, UsageRequest, UsageTerms, VendorSigningKey,
};

fn main() -> ExitCode {
    match sign(&std::env::args().skip(1).collect::<Vec<_>>()) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("sign-unchecked: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn sign(args: &[String]) -> Result<String, String> {
    let [seed_file, request, not_after, support] = args else {
        return Err("usage: sign-unchecked ROOT_SEED_FILE TGRQ:… NOT_AFTER SUPPORT_EXPIRES".into());
    };
    let seed: [u8; 32] = std::fs::read(seed_file)
        .map_err(|e| format!("{seed_file}: {e}"))?
        .try_into()
        .map_err(|_| format!("{seed_file}: not a 32-byte seed"))?;
    let number = |s: &str| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
    let (not_after, support) = (number(not_after)?, number(support)?);
    let req = UsageRequest::from_armor(request).map_err(|e| format!("the request: {e:?}"))?;
    let claims = req.claims();
    let root = VendorSigningKey::from_seed(&seed);
    let signer = VendorSigningKey::from_seed(&[0x5a; 32]);
    let certificate = KeyCertificate::issue(
        CertificateClaims {
            product: claims.product.clone(),
            public_key: signer.public_key(),
            not_before: 0,
            not_after: None,
            issued_at: claims.created_at,
        },
        &root,
    )
    .map_err(|e| format!("the certificate: {e:?}"))?;
    let grant = Grant {
        license_id: 1,
        revision: 1,
        product: claims.product.clone(),
        customer: "Far Future Inc".into(),
        features: vec![
            Feature {
                name: "mqtt-server".into(),
                kind: FeatureKind::Perpetual,
            },
            Feature {
                name: "support".into(),
                kind: FeatureKind::Subscription {
                    expires_at: support,
                },
            },
        ],
        models: Models::of(&[DeploymentModel::Offline]),
        max_activations: 1,
        floating_seats: 0,
        not_before: None,
        not_after: Some(not_after),
        fingerprint_threshold: 1,
        max_borrow_secs: 0,
        rollback_tolerance_secs: 3600,
        offline_refresh_secs: 0,
    };
    let terms = UsageTerms {
        grant,
        activation_id: 1,
        model: DeploymentModel::Offline,
        device_key: *req.device_key(),
        request_counter: claims.counter,
        fingerprint: claims.fingerprint.clone(),
        issued_at: claims.created_at,
        refresh_deadline: None,
    };
    let license = UsageLicense::issue_with_certificate(terms, &signer, &certificate)
        .map_err(|e| format!("signing: {e:?}"))?;
    Ok(license.to_armor())
}
