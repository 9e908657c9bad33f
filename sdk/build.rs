//! Reads the vendor root public key the `tollgate` binary and the floating server are built
//! with: `TOLLGATE_VENDOR_ROOT` (64 hex digits), exposed as `tollgate_sdk::BUILD_VENDOR_ROOT`.
//! Unset or empty: `None`. Malformed: the build fails.

use std::io::Write;
use std::path::PathBuf;

/// The published development root (`tests/fixtures/dev-root.seed`, `.cargo/config.toml`).
const DEV_ROOT: &str = "43a72e714401762df66b68c26dfbdf2682aaec9f2474eca4613e424a0fbafd3c";

fn main() {
    println!("cargo:rerun-if-env-changed=TOLLGATE_VENDOR_ROOT");
    let value = std::env::var("TOLLGATE_VENDOR_ROOT").unwrap_or_default();
    let value = value.trim();
    let code = if value.is_empty() {
        "None".to_string()
    } else {
        let mut root = [0u8; 32];
        if hex::decode_to_slice(value, &mut root).is_err() {
            eprintln!(
                "error: TOLLGATE_VENDOR_ROOT must be the vendor's root public key as 64 hex \
                 digits (got {} characters)",
                value.len()
            );
            std::process::exit(1);
        }
        if value.eq_ignore_ascii_case(DEV_ROOT)
            && std::env::var("PROFILE").as_deref() == Ok("release")
        {
            // Not an error: the repository's own benchmarks build in release. But a product
            // shipped with this root trusts a key whose private half is public.
            println!(
                "cargo:warning=TOLLGATE_VENDOR_ROOT is the PUBLISHED development root \
                 (tests/fixtures/dev-root.seed): never ship this build; set your own root"
            );
        }
        format!("Some({root:?})")
    };
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        eprintln!("error: OUT_DIR is not set");
        std::process::exit(1);
    };
    let written =
        std::fs::File::create(out.join("vendor_root.rs")).and_then(|mut f| writeln!(f, "{code}"));
    if let Err(e) = written {
        eprintln!("error: cannot write vendor_root.rs: {e}");
        std::process::exit(1);
    }
}
