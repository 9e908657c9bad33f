//! The published development root: `.cargo/config.toml` builds the `tollgate` binary and the
//! floating server with the public half of `tests/fixtures/dev-root.seed`, which is the
//! reference root of `tollgate_core::reference`. A drift between the three breaks the demo and
//! every end-to-end test in a confusing way; this test names it.
#![allow(clippy::unwrap_used)]

use tollgate_core::reference;

const CONFIG: &str = include_str!("../../.cargo/config.toml");
const SEED: &[u8] = include_bytes!("../fixtures/dev-root.seed");
const SDK_BUILD: &str = include_str!("../../sdk/build.rs");

#[test]
fn the_dev_root_is_the_reference_root_everywhere() {
    let public = reference::root_key().public_key();
    assert_eq!(SEED, reference::ROOT_SEED);
    let line = CONFIG
        .lines()
        .find(|l| l.trim_start().starts_with("TOLLGATE_VENDOR_ROOT"))
        .unwrap();
    let hex = line.split('"').nth(1).unwrap();
    assert_eq!(hex, hex::encode(public));
    // sdk/build.rs warns when a release build carries this root.
    assert!(SDK_BUILD.contains(&format!("const DEV_ROOT: &str = \"{hex}\";")));
    // A vendor's release build sets its own root; a plain in-repository build uses this one.
    if option_env!("TOLLGATE_VENDOR_ROOT") == Some(hex) {
        assert_eq!(tollgate_sdk::BUILD_VENDOR_ROOT, Some(public));
    }
}
