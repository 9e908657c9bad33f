//! The cached feature check on a verified entitlement: what a product calls on every use of a
//! licensed feature.
//!
//! `cargo bench -p tollgate-benches --bench features`
// criterion_group! and criterion_main! generate undocumented public functions.
#![allow(missing_docs)]
// A benchmark whose fixture does not verify is broken: panicking is the right report.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tollgate_benches::Fixture;
use tollgate_core::reference::T_NOW;

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
}

criterion_group!(benches, features);
criterion_main!(benches);
