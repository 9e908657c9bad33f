//! The cached feature check on a verified entitlement: what a product calls on every use of a
//! licensed feature.
//!
//! `cargo bench -p tollgate-benches --bench features`
// criterion_group! and criterion_main! generate undocumented public functions.
#![allow(missing_docs)]
// A benchmark whose fixture does not verify is broken: panicking is the right report.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tollgate_benches::Fixture;
use tollgate_core::reference::T_NOW;
use tollgate_core::{
    ComponentKind, DeploymentModel, Feature, FeatureKind, Grant, Models, UsageLicense,
    UsageRequest, UsageTerms,
};
use tollgate_sdk::{HostConfig, LicenseManager, ManualClock, MemoryStorage, StaticSource};

/// A manager with `mqtt-server` and `support` installed, on a manual clock at `T_NOW`.
fn manager(f: &Fixture) -> LicenseManager {
    let root = tollgate_core::reference::root_key();
    let config = HostConfig::new("chariot", "4.2.0", b"salt".to_vec(), root.public_key());
    let source = Box::new(StaticSource::from_strs(&[
        (ComponentKind::MachineId, "bench-machine"),
        (ComponentKind::Hostname, "bench-host"),
    ]));
    let clock = Arc::new(ManualClock::new(T_NOW));
    let mut m = LicenseManager::with_parts(config, Box::new(MemoryStorage::new()), clock, source)
        .expect("open");
    let armored = m.request_usage(&f.license_key).expect("request");
    let req = UsageRequest::from_armor(&armored).expect("request decodes");
    let feature = |name: &str, kind| Feature {
        name: name.into(),
        kind,
    };
    let grant = Grant {
        license_id: 1,
        revision: 1,
        product: "chariot".into(),
        customer: "bench".into(),
        features: vec![
            feature("mqtt-server", FeatureKind::Perpetual),
            feature(
                "support",
                FeatureKind::Subscription {
                    expires_at: T_NOW + 86_400,
                },
            ),
        ],
        models: Models::of(&[DeploymentModel::Offline]),
        max_activations: 1,
        floating_seats: 0,
        not_before: None,
        not_after: None,
        fingerprint_threshold: 1,
        max_borrow_secs: 0,
        rollback_tolerance_secs: Grant::DEFAULT_ROLLBACK_TOLERANCE_SECS,
        offline_refresh_secs: 0,
    };
    let certificate = tollgate_core::KeyCertificate::issue(
        tollgate_core::reference::certificate_claims(&f.vendor),
        &root,
    )
    .expect("certificate");
    let usage = UsageLicense::issue_with_certificate(
        UsageTerms {
            grant,
            activation_id: 1,
            model: DeploymentModel::Offline,
            device_key: *req.device_key(),
            request_counter: req.claims().counter,
            fingerprint: req.claims().fingerprint.clone(),
            issued_at: T_NOW,
            refresh_deadline: None,
        },
        &f.vendor,
        &certificate,
    )
    .expect("issue");
    m.install(&usage.to_armor()).expect("install");
    m
}

fn features(c: &mut Criterion) {
    let f = Fixture::new();
    let ent = f
        .verifier
        .verify(&f.usage_license_armored, &f.host, T_NOW)
        .expect("reference verifies");

    let mut g = c.benchmark_group("has_feature");
    g.throughput(Throughput::Elements(1));
    g.bench_function("hit_support", |b| {
        b.iter(|| ent.has_feature(black_box("support"), black_box(T_NOW)))
    });
    g.bench_function("miss", |b| {
        b.iter(|| ent.has_feature(black_box("no-such-feature"), black_box(T_NOW)))
    });
    g.finish();

    // The host runtime's lock-free check (clock read, high-water mark, seqlock, lookup): what
    // `has_feature` costs in Rust, C and Java.
    let m = manager(&f);
    let gate = m.feature_gate();
    let mut g = c.benchmark_group("gate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("hit_support", |b| {
        b.iter(|| gate.has_feature(black_box("support")))
    });
    g.bench_function("miss", |b| {
        b.iter(|| gate.has_feature(black_box("no-such-feature")))
    });
    g.finish();
}

criterion_group!(benches, features);
criterion_main!(benches);
