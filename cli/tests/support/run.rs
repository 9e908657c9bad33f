//! Running the `tollgate` binary from the CLI's integration tests, shared by the test files
//! that drive it against a live service (`online.rs`, `marketplace.rs`).
#![allow(dead_code)] // each test file uses part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `tollgate args…` with its vendor directory and host configuration under `dir`, and no
/// inherited overrides.
pub fn tollgate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .env("TOLLGATE_VENDOR_DIR", dir.join("vendor"))
        .env("TOLLGATE_HOST_CONFIG", dir.join("host.json"))
        .env_remove("TOLLGATE_NOW")
        .env_remove("TOLLGATE_LICENSE_KEY")
        .env_remove("TOLLGATE_SERVER")
        .output()
        .unwrap()
}

/// Runs a command that must succeed; its JSON output.
pub fn ok(dir: &Path, args: &[&str]) -> Value {
    let out = tollgate(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs a failing command: its exit status and the error's code.
pub fn fails(dir: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let out = tollgate(dir, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    let err: Value = serde_json::from_slice(&out.stderr).unwrap_or_else(|_| {
        panic!(
            "{args:?}: stderr is not JSON: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), err["error"]["code"].clone())
}

/// `vendor init` with the published development root, then the Chariot 4.2.0 host
/// configuration at `dir/host.json`, which it returns.
pub fn vendor_with_host_config(dir: &Path) -> PathBuf {
    ok(
        dir,
        &[
            "--json",
            "vendor",
            "init",
            "--import-root",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/fixtures/dev-root.seed"
            ),
        ],
    );
    let cfg = dir.join("host.json");
    ok(
        dir,
        &[
            "--json",
            "vendor",
            "host-config",
            "--product",
            "chariot",
            "--product-version",
            "4.2.0",
            "--out",
            cfg.to_str().unwrap(),
        ],
    );
    cfg
}
