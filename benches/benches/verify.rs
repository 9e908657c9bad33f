//! The verification path against a bare ed25519 signature check and against the same claims in
//! a JWT-style peer format.
//!
//! `cargo bench -p tollgate-benches --bench verify`
// criterion_group! and criterion_main! generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tollgate_benches::{jwt, Fixture};
use tollgate_core::reference::{PRODUCT, T_NOW};

fn verify(c: &mut Criterion) {
    let f = Fixture::new();
    let bytes = f.usage_license.as_bytes();
    println!(
        "sizes: usage license {} bytes binary, {} chars armored; signed message {} bytes; \
         JWT {} chars",
        bytes.len(),
        f.usage_license_armored.len(),
        f.signed_message.len(),
        f.jwt.len()
    );

    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Bytes(f.signed_message.len() as u64));
    g.bench_function("ed25519_verify_strict", |b| {
        b.iter(|| {
            f.vendor_key
                .verify_strict(black_box(&f.signed_message), black_box(&f.signature))
        })
    });
    g.throughput(Throughput::Bytes(f.usage_license_armored.len() as u64));
    g.bench_function("tollgate_armored", |b| {
        b.iter(|| {
            f.verifier
                .verify(black_box(&f.usage_license_armored), &f.host, T_NOW)
        })
    });
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("tollgate_bytes", |b| {
        b.iter(|| f.verifier.verify_bytes(black_box(bytes), &f.host, T_NOW))
    });
    g.throughput(Throughput::Bytes(f.jwt.len() as u64));
    g.bench_function("jwt_eddsa_json", |b| {
        b.iter(|| jwt::verify(black_box(&f.jwt), &f.vendor_key, PRODUCT, &f.host, T_NOW))
    });
    g.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
