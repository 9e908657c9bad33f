//! `tollgate vendor …` for issue 11: the root key (init --import-root, export-root, key retire,
//! host-config), suspend/resume/revoke, the transfer limit and rapid transfers, the fingerprint
//! minimum, and the offline refresh period that bounds a restored copy of a deactivated host.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

#[path = "support/run.rs"]
mod support;

/// The seed of the published development root (`tests/fixtures/dev-root.seed`, the reference
/// root of `tollgate_core::reference`).
const DEV_ROOT_SEED: [u8; 32] = [0x0a; 32];

const NOW: u64 = 1_795_000_000;
const DAY: u64 = 86_400;

fn dev_seed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/dev-root.seed")
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    /// A vendor directory on the published development root, and the host configuration.
    fn new() -> Self {
        let e = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        e.json(&[
            "vendor",
            "init",
            "--import-root",
            dev_seed().to_str().unwrap(),
        ]);
        e.host_config();
        e
    }

    fn host_config(&self) -> Value {
        let cfg = self.path("host.json");
        self.ok(&support::host_config_args(&cfg));
        serde_json::from_str(&std::fs::read_to_string(cfg).unwrap()).unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str], now: u64) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(args)
            .env("TOLLGATE_VENDOR_DIR", self.path("vendor"))
            .env("TOLLGATE_HOST_CONFIG", self.path("host.json"))
            .env("TOLLGATE_NOW", now.to_string())
            .env_remove("TOLLGATE_LICENSE_KEY")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok_at(&self, args: &[&str], now: u64) -> String {
        let out = self.run(args, now);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_at(args, NOW)
    }

    fn json_at(&self, args: &[&str], now: u64) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok_at(&all, now)).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        self.json_at(args, NOW)
    }

    /// A failing command with `--json`: (exit code, stable code, kind).
    fn fails_at(&self, args: &[&str], now: u64) -> (i32, u64, String) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all, now);
        assert!(!out.status.success(), "{args:?} unexpectedly succeeded");
        let err: Value = serde_json::from_slice(&out.stderr).unwrap_or_else(|_| {
            panic!(
                "stderr is not JSON: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (
            out.status.code().unwrap(),
            err["error"]["code"].as_u64().unwrap(),
            err["error"]["kind"].as_str().unwrap().to_string(),
        )
    }

    fn fails(&self, args: &[&str]) -> (i32, u64, String) {
        self.fails_at(args, NOW)
    }

    fn issue(&self, extra: &[&str]) -> String {
        let mut args = vec![
            "vendor",
            "issue",
            "--product",
            "chariot",
            "--customer",
            "ACME",
            "--feature",
            "mqtt-server",
            "--models",
            "online,offline",
        ];
        args.extend_from_slice(extra);
        self.json(&args)["key"].as_str().unwrap().to_string()
    }

    fn host(&self, state: &str, machine: &str, rest: &[&str], now: u64) -> Output {
        let st = self.path(state);
        let mut v: Vec<String> = vec![
            "host".into(),
            "--state".into(),
            st.to_str().unwrap().into(),
            "--no-probes".into(),
            "--allow-override".into(),
        ];
        for c in [
            format!("machine-id=m-{machine}"),
            format!("mac=aa:{machine}"),
            format!("root-disk=d-{machine}"),
            format!("hostname={machine}"),
        ] {
            v.push("--component".into());
            v.push(c);
        }
        v.extend(rest.iter().map(|s| s.to_string()));
        let args: Vec<&str> = v.iter().map(String::as_str).collect();
        self.run(&args, now)
    }

    fn host_json(&self, state: &str, machine: &str, rest: &[&str], now: u64) -> Value {
        let mut r = vec!["--json"];
        r.extend_from_slice(rest);
        // `--json` is a global flag: put it after `host` args is fine for clap.
        let out = self.host(state, machine, &r, now);
        assert!(
            out.status.success(),
            "host {rest:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// request → vendor fulfil → install, at `now`; returns the fulfil answer.
    fn activate(&self, state: &str, machine: &str, key: &str, now: u64) -> Value {
        let req = self.host_json(state, machine, &["request", "--key", key], now);
        let req = req["usage_request"].as_str().unwrap().to_string();
        let f = self.json_at(&["vendor", "fulfil", &req], now);
        let ul = f["usage_license"].as_str().unwrap().to_string();
        self.host_json(state, machine, &["install", &ul], now);
        f
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn root_import_export_retire_and_host_config() {
    let e = Env::new();
    let root = tollgate_core::VendorSigningKey::from_seed(&DEV_ROOT_SEED).public_key();
    let hex = tollgate_core::hex_string(&root);
    assert_eq!(e.ok(&["vendor", "export-root"]), format!("{hex}\n"));
    let rust = e.ok(&["vendor", "export-root", "--format", "rust"]);
    assert!(
        rust.contains("pub const VENDOR_ROOT: [u8; 32] = [\n"),
        "{rust}"
    );
    assert!(rust.contains(&format!("    0x{:02x}, 0x{:02x},", root[0], root[1])));
    assert_eq!(rust.matches("0x").count(), 32);
    let c = e.ok(&["vendor", "export-root", "--format", "c"]);
    assert!(c.contains("#ifndef TOLLGATE_VENDOR_ROOT_H\n#define TOLLGATE_VENDOR_ROOT_H\n"));
    assert!(c.contains("static const uint8_t TOLLGATE_VENDOR_ROOT[32] = {\n"));
    assert!(c
        .trim_end()
        .ends_with("#endif /* TOLLGATE_VENDOR_ROOT_H */"));
    let java = e.ok(&[
        "vendor",
        "export-root",
        "--format",
        "java",
        "--package",
        "com.acme.chariot",
    ]);
    assert!(java.starts_with("package com.acme.chariot;\n"));
    assert!(java.contains("public final class VendorRoot {"));
    assert!(java.contains("public static byte[] key() {\n        return KEY.clone();"));
    assert_eq!(java.matches("(byte) 0x").count(), 32);
    let (code, n, _) = e.fails(&[
        "vendor",
        "export-root",
        "--format",
        "java",
        "--package",
        "1x",
    ]);
    assert_eq!((code, n), (2, 0));
    let out = e.run(&["vendor", "export-root", "--format", "pem"], NOW);
    assert_eq!(out.status.code(), Some(2));

    // The host configuration: options and the certificates, no key a host would trust.
    let cfg = e.host_config();
    assert_eq!(cfg["product"], "chariot");
    let certs = cfg["key_certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1);
    assert!(certs[0].as_str().unwrap().starts_with("TGKC:"));
    assert!(cfg.get("key_list").is_none());

    // Rotate, then retire the old key: a key list (sequence 1) reaches host-config.
    let keys = e.json(&["vendor", "key", "list"]);
    let old = keys["keys"][0]["key_id"].as_str().unwrap().to_string();
    let (code, n, kind) = e.fails(&["vendor", "key", "retire", &old]);
    assert_eq!((code, n, kind.as_str()), (5, 330, "RetireActiveKey"));
    e.json(&["vendor", "key", "rotate"]);
    let r = e.json(&["vendor", "key", "retire", &old]);
    assert_eq!(r["key_lists"][0]["sequence"], 1);
    assert_eq!(r["key_lists"][0]["product"], "chariot");
    let cfg = e.host_config();
    assert_eq!(cfg["key_list"], r["key_lists"][0]["key_list"]);
    assert_eq!(cfg["key_certificates"].as_array().unwrap().len(), 1);
    // (Both keys were made at the same overridden time: find the old one by id.)
    let keys = e.json(&["vendor", "key", "list"]);
    let listed = keys["keys"].as_array().unwrap();
    let old_key = listed.iter().find(|k| k["key_id"] == old.as_str()).unwrap();
    assert!(old_key["withdrawn_at"].is_string());
    assert_eq!(
        listed
            .iter()
            .filter(|k| k["withdrawn_at"].is_string())
            .count(),
        1
    );
    let (code, n, _) = e.fails(&["vendor", "key", "retire", "nothex"]);
    assert_eq!((code, n), (2, 0));

    // init again: same root is fine, another root is refused.
    e.json(&[
        "vendor",
        "init",
        "--import-root",
        dev_seed().to_str().unwrap(),
    ]);
    let other = e.path("other.seed");
    std::fs::write(&other, [7u8; 32]).unwrap();
    let (code, n, kind) = e.fails(&["vendor", "init", "--import-root", other.to_str().unwrap()]);
    assert_eq!((code, n, kind.as_str()), (5, 329, "RootKeyExists"));
    // A fresh directory without --import-root gets a random root, printed as hex.
    let f = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "--json",
            "vendor",
            "--dir",
            f.path().join("v").to_str().unwrap(),
            "init",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["root_created"], true);
    assert_eq!(v["root_imported"], false);
    assert_ne!(v["root_public_key"], Value::from(hex.as_str()));
    assert_eq!(v["root_public_key"].as_str().unwrap().len(), 64);
}

/// A request with one fingerprint component (as `--no-probes --component operator=x` made it)
/// is refused by the vendor: 327 WeakFingerprint.
#[test]
fn one_component_request_is_refused() {
    let e = Env::new();
    let key = e.issue(&[]);
    let fp = tollgate_core::Fingerprint::from_components(vec![tollgate_core::Component::derive(
        tollgate_core::ComponentKind::Operator,
        b"x",
        b"chariot",
    )])
    .unwrap();
    let req = tollgate_core::UsageRequest::create(
        &tollgate_core::LicenseKey::parse(&key).unwrap(),
        &tollgate_core::DeviceKey::from_seed(&[5; 32]),
        "chariot",
        "4.2.0",
        1,
        NOW,
        &fp,
    )
    .unwrap()
    .to_armor();
    let (code, n, kind) = e.fails(&["vendor", "fulfil", &req]);
    assert_eq!((code, n, kind.as_str()), (5, 327, "WeakFingerprint"));
    let show = e.json(&["vendor", "show", "1"]);
    assert_eq!(show["active_activations"], 0);
}

#[test]
fn suspend_resume_revoke() {
    let e = Env::new();
    let key = e.issue(&[]);
    e.activate("a", "a", &key, NOW);
    let s = e.json(&["vendor", "suspend", "1", "--reason", "unpaid"]);
    assert_eq!(s["status"], "suspended");
    assert_eq!(e.json(&["vendor", "show", "1"])["status"], "suspended");
    let list = e.ok(&["vendor", "list"]);
    assert!(list.contains("suspended"), "{list}");
    let text = e.ok(&["vendor", "show", "1"]);
    assert!(text.contains("[SUSPENDED]"), "{text}");
    // The next round trip of the active host is refused.
    let req = e.host_json("a", "a", &["request", "--key", &key], NOW + 1);
    let req = req["usage_request"].as_str().unwrap().to_string();
    let (code, n, kind) = e.fails(&["vendor", "fulfil", &req]);
    assert_eq!((code, n, kind.as_str()), (5, 324, "LicenseSuspended"));
    e.json(&["vendor", "resume", "1", "--reason", "paid"]);
    e.json(&["vendor", "fulfil", &req]);
    e.json(&["vendor", "revoke", "1", "--reason", "chargeback"]);
    let (code, n, kind) = e.fails(&["vendor", "fulfil", &req]);
    assert_eq!((code, n, kind.as_str()), (5, 325, "LicenseRevoked"));
    let (code, n, _) = e.fails(&["vendor", "resume", "1"]);
    assert_eq!((code, n), (5, 325));
    let audit = e.json(&["vendor", "audit", "--license", "1"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions[..4],
        [
            "license.revoked",
            "activation.refreshed",
            "license.resumed",
            "license.suspended"
        ]
    );
}

/// The clone-by-backup attack: copy the state, deactivate (the vendor frees the seat),
/// restore the copy. The copy's usage license works only until the offline refresh deadline;
/// an honest host renews with a round trip before it. (The host verbs run on the system
/// clock, so the restored copy's usage license is checked with `host verify` at the
/// overridden time.)
#[test]
fn restored_copy_stops_at_the_refresh_deadline() {
    let e = Env::new();
    let key = e.issue(&["--offline-refresh-days", "30", "--activations", "2"]);
    let f = e.activate("a", "a", &key, NOW);
    assert_eq!(
        e.json(&["vendor", "show", "1"])["offline_refresh_secs"],
        30 * DAY
    );
    let copy = f["usage_license"].as_str().unwrap().to_string();
    copy_dir(&e.path("a"), &e.path("a-copy"));
    let d = e.host_json("a", "a", &["deactivate"], NOW + 60);
    let code = d["deactivation_code"].as_str().unwrap().to_string();
    e.json_at(&["vendor", "deactivate", &code], NOW + 120);
    // The restored copy's usage license: still valid before the deadline (bounded, not
    // prevented) …
    let verify = |ul: &str, at: u64| e.host("a-copy", "a", &["--json", "verify", ul], at);
    assert_eq!(verify(&copy, NOW + 29 * DAY).status.code(), Some(0));
    // … and refused after it: exit 3, RefreshOverdue.
    let out = verify(&copy, NOW + 30 * DAY);
    assert_eq!(out.status.code(), Some(3));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "RefreshOverdue");

    // An honest host renews before the deadline: the new usage license runs 30 days on.
    e.activate("b", "b", &key, NOW + 1000);
    let renewed = e.activate("b", "b", &key, NOW + 25 * DAY);
    assert!(!renewed["new_activation"].as_bool().unwrap());
    let ul = renewed["usage_license"].as_str().unwrap();
    let verify_b = |at: u64| e.host("b", "b", &["verify", ul], at).status.code();
    assert_eq!(verify_b(NOW + 31 * DAY), Some(0));
    assert_eq!(verify_b(NOW + 55 * DAY), Some(3));
}

#[test]
fn transfer_limit_and_rapid_transfers_are_shown() {
    let e = Env::new();
    let key = e.issue(&["--max-transfers", "1", "--transfer-period-days", "90"]);
    let fa = e.activate("a", "a", &key, NOW);
    let d = e.host_json("a", "a", &["deactivate"], NOW + 60);
    e.json_at(
        &[
            "vendor",
            "deactivate",
            d["deactivation_code"].as_str().unwrap(),
        ],
        NOW + 60,
    );
    // A new seat five minutes later: a rapid transfer.
    let fb = e.activate("b", "b", &key, NOW + 360);
    let show = e.json(&["vendor", "show", "1"]);
    assert_eq!(show["rapid_transfers"], 1);
    assert_eq!(show["max_transfers"], 1);
    assert_eq!(
        show["activations"][1]["rapid_transfer_after"],
        fa["activation_id"]
    );
    let text = e.ok(&["vendor", "show", "1"]);
    assert!(
        text.contains(&format!(
            "RAPID TRANSFER after activation {} was freed",
            fa["activation_id"]
        )),
        "{text}"
    );
    assert!(text.contains("transfers: at most 1 per 90 days"), "{text}");
    let acts = e.ok(&["vendor", "activations", "1"]);
    assert!(acts.contains("RAPID TRANSFER"), "{acts}");
    let audit = e.json(&["vendor", "audit", "--license", "1", "--limit", "1"]);
    assert_eq!(audit[0]["action"], "rapid_transfer");
    assert_eq!(audit[0]["activation_id"], fb["activation_id"]);
    // The second transfer within 90 days is refused; the seat stays taken.
    let d = e.host_json("b", "b", &["deactivate"], NOW + 400);
    let (code, n, kind) = e.fails_at(
        &[
            "vendor",
            "deactivate",
            d["deactivation_code"].as_str().unwrap(),
        ],
        NOW + 400,
    );
    assert_eq!((code, n, kind.as_str()), (5, 326, "TransferLimit"));
    assert_eq!(e.json(&["vendor", "show", "1"])["active_activations"], 1);
}
