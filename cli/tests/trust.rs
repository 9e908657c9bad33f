//! Issue 11 through the `tollgate` binary: the vendor root is compiled in (the published
//! development root, from `.cargo/config.toml`), so a customer cannot mint a license with a
//! vendor of their own; an ordinary host refuses a floating server's usage license; a probed
//! fingerprint kind is overridden only with `--allow-override`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const DEV_ROOT_SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/dev-root.seed"
);
const COMPONENTS: [&str; 4] = [
    "machine-id=m-a",
    "mac=aa:01",
    "root-disk=d-a",
    "hostname=broker-a",
];

struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let w = World {
            dir: tempfile::tempdir().unwrap(),
        };
        // The genuine vendor, whose root the binary was built with.
        w.vendor("vendor", &["init", "--import-root", DEV_ROOT_SEED]);
        let cfg = w.path("host.json");
        w.vendor(
            "vendor",
            &[
                "host-config",
                "--product",
                "chariot",
                "--out",
                cfg.to_str().unwrap(),
            ],
        );
        w
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("--json")
            .args(args)
            .env_remove("TOLLGATE_LICENSE_KEY")
            .env_remove("TOLLGATE_NOW")
            .output()
            .unwrap()
    }

    /// A vendor verb in vendor directory `dir`; its JSON answer.
    fn vendor(&self, dir: &str, args: &[&str]) -> Value {
        let d = self.path(dir);
        let mut all = vec!["vendor", "--dir", d.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "{all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// A host verb with configuration `config` on the state `state`, with the components of
    /// machine A (and `--allow-override`, which supplying them needs).
    fn host(&self, config: &Path, state: &str, args: &[&str]) -> Output {
        let s = self.path(state);
        let mut all = vec![
            "host",
            "--config",
            config.to_str().unwrap(),
            "--state",
            s.to_str().unwrap(),
            "--no-probes",
            "--allow-override",
        ];
        for c in COMPONENTS {
            all.extend(["--component", c]);
        }
        all.extend_from_slice(args);
        self.run(&all)
    }

    fn host_ok(&self, config: &Path, state: &str, args: &[&str]) -> Value {
        let out = self.host(config, state, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Runs a failing host verb: (exit code, error code, error kind).
    fn host_fails(&self, config: &Path, state: &str, args: &[&str]) -> (i32, u64, String) {
        let out = self.host(config, state, args);
        assert!(!out.status.success(), "{args:?} unexpectedly succeeded");
        let err: Value = serde_json::from_slice(&out.stderr)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stderr)));
        (
            out.status.code().unwrap(),
            err["error"]["code"].as_u64().unwrap(),
            err["error"]["kind"].as_str().unwrap().to_owned(),
        )
    }

    /// The state document without its clock high-water mark (which every opening of the
    /// state advances to the current second): what an operation must leave unchanged.
    fn state_bytes(&self, state: &str) -> Value {
        let mut doc: Value =
            serde_json::from_slice(&std::fs::read(self.path(state).join("state.json")).unwrap())
                .unwrap();
        doc.as_object_mut().unwrap().remove("high_water");
        doc
    }

    fn issue(&self, dir: &str, models: &str) -> String {
        let issued = self.vendor(
            dir,
            &[
                "issue",
                "--product",
                "chariot",
                "--customer",
                "ACME",
                "--feature",
                "mqtt-server",
                "--feature",
                "support:until=2099-01-01",
                "--feature",
                "snowflake-bridge:1000000000/month",
                "--models",
                models,
                "--floating-seats",
                "5",
            ],
        );
        issued["key"].as_str().unwrap().to_owned()
    }
}

/// Issue 11 §1, the attack of the report: a customer runs `tollgate vendor init` in their own
/// directory, mints a license with every feature until 2099 and offers their key to the host:
/// in the usage license alone, as `vendor_keys` in the host JSON, or as the self-made
/// certificate their own `vendor host-config` writes. `host install` refuses every time and the
/// state is unchanged; nothing becomes usable. (Before the fix the host installed it ACTIVE.)
#[test]
fn a_customer_cannot_mint_a_license_with_a_vendor_of_their_own() {
    let w = World::new();
    let genuine = w.path("host.json");

    // The customer's own "vendor": a fresh random root and signing key.
    w.vendor("mine", &["init"]);
    let key = w.issue("mine", "offline");
    let req = w.host_ok(&genuine, "a", &["request", "--key", &key]);
    let req = req["usage_request"].as_str().unwrap();
    let minted = w.vendor("mine", &["fulfil", req]);
    let minted = minted["usage_license"].as_str().unwrap().to_owned();
    let before = w.state_bytes("a");

    // 1. With the vendor's genuine host configuration: the signing key is not certified by the
    //    compiled-in root.
    assert_eq!(
        w.host_fails(&genuine, "a", &["install", &minted]),
        (3, 124, "KeyNotCertified".into())
    );
    // 2. With the customer's key in the host JSON as `vendor_keys`: the file is refused.
    let mine_public = w.vendor("mine", &["key", "list"]);
    let mine_public = mine_public
        .as_array()
        .or_else(|| mine_public["keys"].as_array())
        .and_then(|a| a.first())
        .and_then(|k| k["public_key"].as_str())
        .unwrap()
        .to_owned();
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&genuine).unwrap()).unwrap();
    doc["vendor_keys"] = Value::Array(vec![Value::String(mine_public)]);
    let with_keys = w.path("with-keys.json");
    std::fs::write(&with_keys, doc.to_string()).unwrap();
    assert_eq!(
        w.host_fails(&with_keys, "a", &["install", &minted]),
        (2, 235, "UntrustedConfig".into())
    );
    // 3. With the customer's own host configuration: its certificate was signed by another
    //    root, so the file is refused too.
    let own = w.path("own.json");
    w.vendor(
        "mine",
        &[
            "host-config",
            "--product",
            "chariot",
            "--out",
            own.to_str().unwrap(),
        ],
    );
    let own_text = std::fs::read_to_string(&own).unwrap();
    assert!(own_text.contains("TGKC:"), "{own_text}");
    assert_eq!(
        w.host_fails(&own, "a", &["install", &minted]),
        (3, 110, "UnknownKeyId".into())
    );

    assert_eq!(w.state_bytes("a"), before);
    for feature in ["mqtt-server", "support", "snowflake-bridge"] {
        let out = w.host(&genuine, "a", &["check", feature]);
        assert_eq!(out.status.code(), Some(1), "{feature}");
    }
    assert_eq!(w.state_bytes("a"), before);
}

/// Issue 11 §2: a floating server's usage license (model `floating`) copied to an ordinary
/// host is refused by `host install`, and by `host check` when its state is copied in whole.
#[test]
fn an_ordinary_host_refuses_a_floating_usage_license() {
    let w = World::new();
    let cfg = w.path("host.json");
    let key = w.issue("vendor", "floating");
    let req = w.host_ok(&cfg, "srv", &["request", "--key", &key]);
    let req = req["usage_request"].as_str().unwrap();
    let ul = w.vendor("vendor", &["fulfil", "--model", "floating", req]);
    let ul = ul["usage_license"].as_str().unwrap().to_owned();
    let before = w.state_bytes("srv");
    assert_eq!(
        w.host_fails(&cfg, "srv", &["install", &ul]),
        (3, 239, "WrongModel".into())
    );
    assert_eq!(w.state_bytes("srv"), before);

    // The floating server's whole state directory copied (its license installed).
    let mut doc = before.clone();
    doc["high_water"] = 0.into();
    doc["installed"] = serde_json::json!({"usage_license": ul, "installed_at": 1_700_000_000u64});
    doc["pending"] = Value::Null;
    std::fs::write(w.path("srv").join("state.json"), doc.to_string()).unwrap();
    let out = w.host(&cfg, "srv", &["check", "mqtt-server"]);
    assert_eq!(out.status.code(), Some(1));
    let status = w.host_ok(&cfg, "srv", &["status"]);
    assert_eq!(status["error"]["code"], 239, "{status}");
    assert_ne!(status["state"], "active");
}

/// Issue 11 §2: supplying a probed fingerprint kind needs `--allow-override` (exit 2, 238);
/// a request from one component kind is refused by the sdk (237).
#[test]
fn overriding_a_probed_kind_needs_the_flag_and_one_kind_is_too_few() {
    let w = World::new();
    let cfg = w.path("host.json");
    let s = w.path("h");
    let out = w.run(&[
        "host",
        "--config",
        cfg.to_str().unwrap(),
        "--state",
        s.to_str().unwrap(),
        "--no-probes",
        "--component",
        "machine-id=claimed",
        "--component",
        "operator=x",
        "status",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["code"], 238);
    // Kinds the probes never read need no flag, but one kind is not enough for a request.
    let key = w.issue("vendor", "offline");
    let out = w.run(&[
        "host",
        "--config",
        cfg.to_str().unwrap(),
        "--state",
        s.to_str().unwrap(),
        "--no-probes",
        "--component",
        "operator=x",
        "request",
        "--key",
        &key,
    ]);
    assert_eq!(out.status.code(), Some(4));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["code"], 237);
    assert_eq!(err["error"]["kind"], "TooFewComponents");
}

/// Issue 11 §1 revocation: the vendor retires a compromised signing key (`vendor key retire`,
/// a root-signed key list); `host key-list` applies it, the license that key signed stops
/// working, and an older list is refused (126 StaleKeyList).
#[test]
fn a_retired_signing_key_stops_its_licenses_and_old_lists_are_refused() {
    let w = World::new();
    let cfg = w.path("host.json");
    let key = w.issue("vendor", "offline");
    let req = w.host_ok(&cfg, "a", &["request", "--key", &key]);
    let ul = w.vendor(
        "vendor",
        &["fulfil", req["usage_request"].as_str().unwrap()],
    );
    w.host_ok(
        &cfg,
        "a",
        &["install", ul["usage_license"].as_str().unwrap()],
    );
    assert_eq!(
        w.host(&cfg, "a", &["check", "mqtt-server"]).status.code(),
        Some(0)
    );

    let keys = w.vendor("vendor", &["key", "list"]);
    let keys = keys.as_array().or_else(|| keys["keys"].as_array()).unwrap();
    let old = keys[0]["key_id"].as_str().unwrap().to_owned();
    w.vendor("vendor", &["key", "rotate"]);
    let first = w.vendor("vendor", &["key", "retire", &old]);
    let first = first["key_lists"][0]["key_list"]
        .as_str()
        .unwrap()
        .to_owned();
    // A second list (higher sequence) after another rotation and retirement.
    let keys = w.vendor("vendor", &["key", "list"]);
    let keys = keys.as_array().or_else(|| keys["keys"].as_array()).unwrap();
    let second_key = keys
        .iter()
        .find(|k| k["key_id"].as_str() != Some(old.as_str()))
        .unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.vendor("vendor", &["key", "rotate"]);
    let second = w.vendor("vendor", &["key", "retire", &second_key]);
    let second = second["key_lists"][0]["key_list"]
        .as_str()
        .unwrap()
        .to_owned();

    let applied = w.host_ok(&cfg, "a", &["key-list", &second]);
    assert_eq!(applied["key_list_sequence"], 2);
    assert_ne!(applied["state"], "active");
    assert_eq!(
        w.host(&cfg, "a", &["check", "mqtt-server"]).status.code(),
        Some(1)
    );
    let status = w.host_ok(&cfg, "a", &["status"]);
    assert_eq!(status["error"]["code"], 125, "{status}");
    // The older list is refused, and the state keeps the newer one.
    let before = w.state_bytes("a");
    assert_eq!(
        w.host_fails(&cfg, "a", &["key-list", &first]),
        (3, 126, "StaleKeyList".into())
    );
    assert_eq!(w.state_bytes("a"), before);
}
