//! Runs one verification path in a loop, for instruction counting under callgrind:
//! `callgrind-ratio MODE ITERATIONS`, MODE one of
//!
//! - `bare`: ed25519-dalek `verify_strict` of the reference usage license's signed message,
//!   with a pre-parsed key;
//! - `full`: `Verifier::verify` of the armored reference usage license;
//! - `bytes`: `Verifier::verify_bytes` of its binary form;
//! - `jwt`: the JWT-style peer format.
//!
//! `benches/callgrind.sh` runs each mode with 0 and N iterations and divides the difference
//! by N, so that building the fixture does not count.

use std::hint::black_box;
use std::process::ExitCode;

use tollgate_benches::{jwt, Fixture};
use tollgate_core::reference::{PRODUCT, T_NOW};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(Ok(n))) = (args.get(1), args.get(2).map(|s| s.parse::<u64>())) else {
        eprintln!("usage: callgrind-ratio bare|full|bytes|jwt ITERATIONS");
        return ExitCode::from(2);
    };
    let f = Fixture::new();
    let ok = match mode.as_str() {
        "bare" => run(n, || {
            f.vendor_key
                .verify_strict(black_box(&f.signed_message), black_box(&f.signature))
                .is_ok()
        }),
        "full" => run(n, || {
            f.verifier
                .verify(black_box(&f.usage_license_armored), &f.host, T_NOW)
                .is_ok()
        }),
        "bytes" => run(n, || {
            f.verifier
                .verify_bytes(black_box(f.usage_license.as_bytes()), &f.host, T_NOW)
                .is_ok()
        }),
        "jwt" => run(n, || {
            jwt::verify(black_box(&f.jwt), &f.vendor_key, PRODUCT, &f.host, T_NOW).is_ok()
        }),
        _ => {
            eprintln!("unknown mode {mode}");
            return ExitCode::from(2);
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("verification failed");
        ExitCode::FAILURE
    }
}

/// Calls `verify` `n` times; whether every call succeeded.
#[inline(never)]
fn run(n: u64, mut verify: impl FnMut() -> bool) -> bool {
    let mut ok = true;
    for _ in 0..n {
        ok &= black_box(verify());
    }
    ok
}
