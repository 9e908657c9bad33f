//! Decoding each artifact from its binary form (signature checks included where the decoder
//! makes them), the armor alone, and license key parsing.
//!
//! `cargo bench -p tollgate-benches --bench decode`
// criterion_group! and criterion_main! generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tollgate_benches::Fixture;
use tollgate_core::{
    armor, codec, ArtifactType, DeactivationCode, License, LicenseKey, UsageLicense, UsageRequest,
};

fn decode(c: &mut Criterion) {
    let f = Fixture::new();
    let keyring = f.verifier.keyring();

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(f.license_key.len() as u64));
    g.bench_function("license_key_parse", |b| {
        b.iter(|| LicenseKey::parse(black_box(&f.license_key)))
    });

    let ty = ArtifactType::UsageLicense;
    g.throughput(Throughput::Bytes(f.usage_license_armored.len() as u64));
    g.bench_function("armor_usage_license", |b| {
        b.iter(|| armor::decode(ty, black_box(&f.usage_license_armored), codec::max_len(ty)))
    });

    let bytes = f.license.as_bytes();
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("license", |b| {
        b.iter(|| License::decode(black_box(bytes), keyring))
    });

    let bytes = f.usage_request.as_bytes();
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("usage_request", |b| {
        b.iter(|| UsageRequest::decode(black_box(bytes)))
    });

    let bytes = f.usage_license.as_bytes();
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("usage_license", |b| {
        b.iter(|| UsageLicense::decode(black_box(bytes), keyring))
    });

    let bytes = f.deactivation_code.as_bytes();
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("deactivation_code", |b| {
        b.iter(|| DeactivationCode::decode(black_box(bytes)))
    });
    g.bench_function("deactivation_code_and_verify", |b| {
        b.iter(|| {
            DeactivationCode::decode(black_box(bytes)).and_then(|u| u.verify(&f.device_public))
        })
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
