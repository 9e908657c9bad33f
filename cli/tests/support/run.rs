//! Running the `tollgate` binary from the CLI's integration tests, shared by the test files
//! that drive it against a live service (`online.rs`, `marketplace.rs`) and by the usage
//! tests (`usage.rs`, `vendor_usage.rs`) through [`Env`].
#![allow(dead_code)] // each test file uses part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The published development root's seed (its public key is what `.cargo/config.toml` builds
/// the `tollgate` binary with).
pub const DEV_ROOT_SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/dev-root.seed"
);

/// `tollgate args…` with its vendor directory and host configuration under `dir`, no inherited
/// overrides (clock, key, server, actor) and no stdin.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    c.args(args)
        .env("TOLLGATE_VENDOR_DIR", dir.join("vendor"))
        .env("TOLLGATE_HOST_CONFIG", dir.join("host.json"))
        .env_remove("TOLLGATE_NOW")
        .env_remove("TOLLGATE_LICENSE_KEY")
        .env_remove("TOLLGATE_SERVER")
        .env_remove("TOLLGATE_ACTOR")
        .stdin(Stdio::null());
    c
}

/// Runs `tollgate args…` with its vendor directory and host configuration under `dir`, and no
/// inherited overrides.
pub fn tollgate(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().unwrap()
}

/// `vendor host-config` for Chariot 4.2.0, written to `cfg`.
pub fn host_config_args(cfg: &Path) -> [&str; 8] {
    [
        "vendor",
        "host-config",
        "--product",
        "chariot",
        "--product-version",
        "4.2.0",
        "--out",
        cfg.to_str().unwrap(),
    ]
}

/// `vendor init` with the published development root, then [`host_config_args`] at `cfg`,
/// each through `run` (which must check success).
pub fn vendor_setup(cfg: &Path, mut run: impl FnMut(&[&str])) {
    run(&["vendor", "init", "--import-root", DEV_ROOT_SEED]);
    run(&host_config_args(cfg));
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
    let cfg = dir.join("host.json");
    vendor_setup(&cfg, |args| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        ok(dir, &all);
    });
    cfg
}

/// A vendor (the published development root) and the Chariot 4.2.0 host configuration in a
/// temporary directory, every command run there with the clock fixed at `now`.
pub struct Env {
    /// The temporary directory holding `vendor/`, `host.json` and the test's files.
    pub dir: tempfile::TempDir,
    now: String,
}

impl Env {
    /// A fresh vendor and host configuration, the clock fixed at `now` (Unix seconds).
    pub fn new(now: u64) -> Self {
        let e = Env {
            dir: tempfile::tempdir().unwrap(),
            now: now.to_string(),
        };
        vendor_setup(&e.path("host.json"), |args| {
            e.ok(args);
        });
        e
    }

    /// `name` in the temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `tollgate args…` in the temporary directory with the fixed clock.
    pub fn cmd(&self, args: &[&str]) -> Output {
        command(self.dir.path(), args)
            .current_dir(self.dir.path())
            .env("TOLLGATE_NOW", &self.now)
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `tollgate --json args…`, which must succeed; its JSON output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// `vendor issue`: an offline license of Chariot for ACME with the MQTT server and the
    /// `metered` feature (`name:units/period`); its JSON output.
    pub fn issue_offline(&self, metered: &str) -> Value {
        self.json(&[
            "vendor",
            "issue",
            "--product",
            "chariot",
            "--customer",
            "ACME",
            "--feature",
            "mqtt-server",
            "--feature",
            metered,
            "--models",
            "offline",
        ])
    }

    /// `host --state broker … rest`, with probes off and fixed components.
    pub fn host_args(&self, rest: &[&str]) -> Vec<String> {
        let state = self.path("broker");
        let mut v: Vec<String> = [
            "host",
            "--state",
            state.to_str().unwrap(),
            "--no-probes",
            "--allow-override",
            "--component",
            "machine-id=m-a",
            "--component",
            "mac=aa:bb:cc:dd:ee:01",
            "--component",
            "hostname=broker-a",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    }

    /// Runs [`Env::host_args`], which must succeed; its stdout.
    pub fn host(&self, rest: &[&str]) -> String {
        self.ok(&strs(&self.host_args(rest)))
    }

    /// Runs `--json` [`Env::host_args`], which must succeed; its JSON output.
    pub fn host_json(&self, rest: &[&str]) -> Value {
        self.json(&strs(&self.host_args(rest)))
    }
}

/// The arguments as `&str`s.
pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
