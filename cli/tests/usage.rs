//! `tollgate host usage …` and the usage journal the offline verbs write beside their output
//! (issue 15): an offline host's metered usage, as the operator carries it to the vendor.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tollgate_core::parse_usage_journal;

const NOW: &str = "1795000000";
const DEV_ROOT_SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/dev-root.seed"
);

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let e = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        e.run(&["vendor", "init", "--import-root", DEV_ROOT_SEED]);
        let cfg = e.path("host.json");
        e.run(&[
            "vendor",
            "host-config",
            "--product",
            "chariot",
            "--product-version",
            "4.2.0",
            "--out",
            cfg.to_str().unwrap(),
        ]);
        e
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(args)
            .current_dir(self.dir.path())
            .env("TOLLGATE_VENDOR_DIR", self.path("vendor"))
            .env("TOLLGATE_HOST_CONFIG", self.path("host.json"))
            .env("TOLLGATE_NOW", NOW)
            .env_remove("TOLLGATE_LICENSE_KEY")
            .output()
            .unwrap()
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.run(&all)).unwrap()
    }

    fn host(&self, rest: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = [
            "host",
            "--state",
            self.path("broker").to_str().unwrap(),
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

    fn host_json(&self, rest: &[&str]) -> Value {
        let v = self.host(rest);
        self.json(&v.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn host_text(&self, rest: &[&str]) -> String {
        let v = self.host(rest);
        self.run(&v.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

fn journal_in(path: &Path) -> Vec<tollgate_core::UsageReport> {
    parse_usage_journal(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn an_offline_host_carries_its_usage_journal_to_the_vendor() {
    let e = Env::new();
    let issued = e.json(&[
        "vendor",
        "issue",
        "--product",
        "chariot",
        "--customer",
        "ACME",
        "--feature",
        "mqtt-server",
        "--feature",
        "iot-bridge-snowflake:1000/month",
        "--models",
        "offline",
    ]);
    let key = issued["key"].as_str().unwrap().to_owned();
    // No usage yet: no journal beside the request.
    let j0 = e.path("j0.txt");
    let req = e.host_json(&["request", "--key", &key, "--journal", j0.to_str().unwrap()]);
    assert!(req.get("usage_journal").is_none());
    assert!(!j0.exists());
    let req = req["usage_request"].as_str().unwrap().to_owned();
    let ul = e.json(&["vendor", "fulfil", &req])["usage_license"]
        .as_str()
        .unwrap()
        .to_owned();
    e.host_json(&["install", &ul]);

    e.host_json(&["use", "iot-bridge-snowflake", "5"]);
    e.host_json(&["use", "iot-bridge-snowflake", "7"]);
    let show = e.host_json(&["usage", "show"]);
    assert_eq!(show["accrued"][0]["units"], 12);
    assert_eq!(show["accrued"][0]["feature"], "iot-bridge-snowflake");
    assert_eq!(show["outbox"], Value::Array(vec![]));

    // `usage journal` cuts and prints exactly the journal on standard output.
    let text = e.host_text(&["usage", "journal"]);
    let reports = parse_usage_journal(&text).unwrap();
    assert_eq!(reports.len(), 1);
    let c = reports[0].claims();
    assert_eq!((c.seq, c.license_id, c.total_units()), (1, 1, 12));
    assert!(text.starts_with("# tollgate usage journal"));
    // --out writes the same journal (nothing new accrued: no new report).
    let file = e.path("journal.txt");
    let w = e.host_json(&["usage", "journal", "--out", file.to_str().unwrap()]);
    assert_eq!(w["reports"], 1);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    // The offline upgrade request writes the journal beside it, with what accrued since.
    e.host_json(&["use", "iot-bridge-snowflake", "3"]);
    let j1 = e.path("j1.txt");
    let renew = e.host_json(&["renew", "--journal", j1.to_str().unwrap()]);
    assert!(renew["usage_request"]
        .as_str()
        .unwrap()
        .starts_with("TGRQ:"));
    assert_eq!(renew["usage_journal"]["reports"], 2);
    assert_eq!(renew["usage_journal"]["path"], j1.to_str().unwrap());
    let r = journal_in(&j1);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0], reports[0]);
    assert_eq!(
        (
            r[1].claims().seq,
            r[1].claims().prev_hash,
            r[1].claims().total_units()
        ),
        (2, reports[0].hash(), 3)
    );

    // The vendor merged report 1: the operator acknowledges it; more than was cut is refused.
    let ack = e.host_json(&["usage", "ack", "--through", "1"]);
    assert_eq!(ack["dropped"], 1);
    let v = e.host(&["usage", "ack", "--through", "5"]);
    let mut args = vec!["--json"];
    args.extend(v.iter().map(String::as_str));
    let out = e.cmd(&args);
    assert_eq!(out.status.code(), Some(4));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(
        (&err["error"]["code"], &err["error"]["kind"]),
        (&Value::from(256), &Value::from("UsageAckAhead"))
    );
    let bad = e.host(&["usage", "ack", "--through", "1", "--device-key", "+f"]);
    let out = e.cmd(&bad.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(2));

    // Deactivation cuts the rest and writes the journal beside the code (text: the code
    // alone on standard output).
    e.host_json(&["use", "iot-bridge-snowflake", "4"]);
    let j2 = e.path("j2.txt");
    let code = e.host_text(&["deactivate", "--journal", j2.to_str().unwrap()]);
    assert!(
        code.starts_with("TGDC:") && code.trim_end().lines().count() == 1,
        "{code}"
    );
    let r = journal_in(&j2);
    assert_eq!(
        r.iter()
            .map(|r| (r.claims().seq, r.claims().total_units()))
            .collect::<Vec<_>>(),
        vec![(2, 3), (3, 4)]
    );
    // The journal is still there after the deactivation, in the default place.
    let out = e.host_text(&["usage", "journal"]);
    assert_eq!(parse_usage_journal(&out).unwrap(), r);
    let show = e.host_json(&["usage", "show"]);
    assert_eq!(show["outbox"].as_array().unwrap().len(), 2);
    assert_eq!(show["accrued"], Value::Array(vec![]));
    // The default journal file is beside the output, in the working directory.
    e.host_json(&["request", "--key", &key]);
    assert_eq!(journal_in(&e.path("usage-journal.txt")), r);
}
