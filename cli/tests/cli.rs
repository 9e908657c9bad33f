//! The `tollgate` binary end to end: every verb of the offline lifecycle, `--json` output,
//! artifacts from a file, stdin and the argument, and the documented exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

#[path = "support/run.rs"]
mod support;

const NOW: &str = "1795000000";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let e = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        // The vendor's root is the published development root this binary was built with.
        support::vendor_setup(&e.path("host.json"), |args| {
            e.ok(args);
        });
        e
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        c.args(args)
            .env("TOLLGATE_VENDOR_DIR", self.path("vendor"))
            .env("TOLLGATE_HOST_CONFIG", self.path("host.json"))
            .env("TOLLGATE_NOW", NOW)
            .env_remove("TOLLGATE_LICENSE_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args, None);
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
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Runs a failing command with `--json`; returns (exit code, error object).
    fn fails(&self, args: &[&str], stdin: Option<&str>) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.cmd(&all, stdin);
        assert!(!out.status.success(), "{args:?} unexpectedly succeeded");
        let err: Value = serde_json::from_slice(&out.stderr).unwrap_or_else(|_| {
            panic!(
                "stderr is not JSON: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap(), err["error"].clone())
    }
}

fn host<'a>(state: &'a Path, machine: &'a str, rest: &[&'a str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "host".into(),
        "--state".into(),
        state.to_str().unwrap().into(),
        "--no-probes".into(),
        "--allow-override".into(),
        "--component".into(),
        format!("machine-id=m-{machine}"),
        "--component".into(),
        format!("mac=aa:{machine}"),
        "--component".into(),
        format!("root-disk=d-{machine}"),
        "--component".into(),
        format!("hostname={machine}"),
    ];
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn lifecycle_exit_codes_and_json() {
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
        "support:until=2027-11-01",
        "--models",
        "offline",
        "--activations",
        "1",
    ]);
    let key = issued["key"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 29);
    assert_eq!(issued["license_id"], 1);
    assert!(issued["license"].as_str().unwrap().starts_with("TGLC:"));

    let a = e.path("a");
    let req = e.json(&strs(&host(&a, "a", &["request", "--key", &key])));
    let req = req["usage_request"].as_str().unwrap().to_string();
    // The request from standard input.
    let out = e.cmd(&["--json", "vendor", "fulfil", "-"], Some(&req));
    assert!(out.status.success());
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&f["license_id"], &f["activation_id"], &f["new_activation"]),
        (&Value::from(1), &Value::from(1), &Value::from(true))
    );
    let ul = f["usage_license"].as_str().unwrap().to_string();
    // The usage license from a file.
    let file = e.path("ul.txt");
    std::fs::write(&file, format!("{ul}\n")).unwrap();
    let st = e.json(&strs(&host(&a, "a", &["install", file.to_str().unwrap()])));
    assert_eq!(st["state"], "active");
    assert_eq!(st["license"]["license_id"], 1);
    // check: exit 0 / 1
    assert_eq!(
        e.cmd(&strs(&host(&a, "a", &["check", "mqtt-server"])), None)
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        e.cmd(
            &strs(&host(&a, "a", &["check", "iot-bridge-snowflake"])),
            None
        )
        .status
        .code(),
        Some(1)
    );
    // Status as text names the features.
    let text = e.ok(&strs(&host(&a, "a", &["status"])));
    assert!(text.contains("ACTIVE"), "{text}");
    assert!(text.contains("[x] mqtt-server"), "{text}");

    // Seat limit: exit 5, code 303.
    let b = e.path("b");
    let rb = e.json(&strs(&host(&b, "b", &["request", "--key", &key])));
    let rb = rb["usage_request"].as_str().unwrap().to_string();
    let (code, err) = e.fails(&["vendor", "fulfil", &rb], None);
    assert_eq!(
        (code, &err["code"], &err["kind"]),
        (5, &Value::from(303), &Value::from("SeatsExhausted"))
    );

    // A usage license for another machine: exit 3, FingerprintMismatch (113).
    let (code, err) = e.fails(&strs(&host(&b, "b", &["verify", &ul])), None);
    assert_eq!((code, &err["code"]), (3, &Value::from(113)));

    // Deactivate, free the seat, replay refused.
    let d = e.json(&strs(&host(&a, "a", &["deactivate"])));
    let code_text = d["deactivation_code"].as_str().unwrap().to_string();
    let freed = e.json(&["vendor", "deactivate", &code_text]);
    assert_eq!(freed["freed"], true);
    let (code, err) = e.fails(&["vendor", "deactivate", &code_text], None);
    assert_eq!((code, &err["code"]), (5, &Value::from(306)));
    // Reinstall after deactivation: exit 4, Deactivated (204).
    let (code, err) = e.fails(&strs(&host(&a, "a", &["install", &ul])), None);
    assert_eq!((code, &err["code"]), (4, &Value::from(204)));

    // The vendor's view.
    let show = e.json(&["vendor", "show", "1"]);
    assert_eq!(show["active_activations"], 0);
    assert_eq!(show["activations"][0]["status"], "deactivated");
    let audit = e.json(&["vendor", "audit", "--license", "1"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "activation.deactivated",
            "activation.created",
            "license.issued"
        ]
    );
    // No secret in the audit log or the ledger listing.
    let listing = e.ok(&["--json", "vendor", "list"]);
    assert!(!listing.contains(&key));
    assert!(!audit.to_string().contains(&key));
}

#[test]
fn usage_errors_exit_2_and_garbage_exit_3() {
    let e = Env::new();
    let (code, err) = e.fails(
        &[
            "vendor",
            "issue",
            "--product",
            "p",
            "--customer",
            "c",
            "--feature",
            "x:bogus",
        ],
        None,
    );
    assert_eq!((code, &err["kind"]), (2, &Value::from("usage")));
    let (code, err) = e.fails(&["vendor", "fulfil", "TGRQ:garbage!"], None);
    assert_eq!((code, &err["code"]), (3, &Value::from(101)));
    let (code, err) = e.fails(&["vendor", "fulfil", "-"], Some("TGUL:AAAA"));
    assert_eq!((code, &err["code"]), (3, &Value::from(103)));
    // A typo in a key is caught on the host.
    let issued = e.json(&[
        "vendor",
        "issue",
        "--product",
        "chariot",
        "--customer",
        "c",
        "--feature",
        "m",
    ]);
    let mut key = issued["key"].as_str().unwrap().to_string().into_bytes();
    key.swap(0, 1);
    if key[0] == key[1] {
        key[0] = if key[0] == b'A' { b'B' } else { b'A' };
    }
    let key = String::from_utf8(key).unwrap();
    let a = e.path("a");
    let (code, err) = e.fails(&strs(&host(&a, "a", &["request", "--key", &key])), None);
    assert_eq!((code, &err["code"]), (3, &Value::from(118)));
}

/// Plain text (no `--json`) written to a file or a pipe is accepted back by the verb that reads
/// it: every verb that makes an artifact prints it alone on standard output (its explanation
/// goes to standard error), for each artifact: license key, usage request (request, renew),
/// usage license, deactivation code, key list.
#[test]
fn plain_text_artifacts_round_trip_through_files_and_pipes() {
    let e = Env::new();
    let text = |args: &[&str], stdin: Option<&str>| -> (String, String) {
        let out = e.cmd(args, stdin);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{args:?}: one line: {stdout:?}");
        assert!(stdout.ends_with('\n'), "{args:?}: {stdout:?}");
        (stdout, String::from_utf8(out.stderr).unwrap())
    };
    let save = |name: &str, content: &str| -> String {
        let p = e.path(name);
        std::fs::write(&p, content).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let issue = [
        "vendor",
        "issue",
        "--product",
        "chariot",
        "--customer",
        "ACME",
        "--feature",
        "mqtt-server",
        "--models",
        "offline",
    ];
    // vendor issue > key.txt; host request --key-file key.txt
    let (key, prose) = text(&issue, None);
    assert_eq!(key.trim().len(), 29, "{key:?}");
    assert!(prose.contains("Signed license: TGLC:"), "{prose}");
    let key_file = save("key.txt", &key);
    let a = e.path("a");
    // host request > request.txt; vendor fulfil request.txt
    let (req, prose) = text(
        &strs(&host(&a, "a", &["request", "--key-file", &key_file])),
        None,
    );
    assert!(req.starts_with("TGRQ:"), "{req}");
    assert!(prose.starts_with("Usage request"), "{prose}");
    let (ul, _) = text(&["vendor", "fulfil", &save("request.txt", &req)], None);
    assert!(ul.starts_with("TGUL:"), "{ul}");
    // ... and through a pipe: the same answer, byte for byte.
    let (ul_piped, _) = text(&["vendor", "fulfil", "-"], Some(&req));
    assert_eq!(ul_piped, ul);
    let f = e.json(&["vendor", "fulfil", &save("request2.txt", &req)]);
    assert_eq!(format!("{}\n", f["usage_license"].as_str().unwrap()), ul);
    // vendor fulfil > usage.txt; host verify / install usage.txt
    let ul_file = save("usage.txt", &ul);
    e.ok(&strs(&host(&a, "a", &["verify", &ul_file])));
    let st = e.json(&strs(&host(&a, "a", &["install", &ul_file])));
    assert_eq!(st["state"], "active");
    // host renew | vendor fulfil - | host install -
    let (renewal, _) = text(&strs(&host(&a, "a", &["renew"])), None);
    assert!(renewal.starts_with("TGRQ:"), "{renewal}");
    let (ul2, _) = text(&["vendor", "fulfil", "-"], Some(&renewal));
    let out = e.cmd(&strs(&host(&a, "a", &["install", "-"])), Some(&ul2));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // host deactivate > code.txt; vendor deactivate code.txt
    let (code, prose) = text(&strs(&host(&a, "a", &["deactivate"])), None);
    assert!(code.starts_with("TGDC:"), "{code}");
    assert!(prose.contains("deactivation code"), "{prose}");
    let freed = e.json(&["vendor", "deactivate", &save("code.txt", &code)]);
    assert_eq!(freed["freed"], true);
    // vendor key retire > keylist.txt; host key-list keylist.txt
    let old = e.json(&["vendor", "key", "list"])["keys"][0]["key_id"]
        .as_str()
        .unwrap()
        .to_string();
    e.json(&["vendor", "key", "rotate"]);
    let (list, _) = text(&["vendor", "key", "retire", &old], None);
    assert!(list.starts_with("TGKL:"), "{list}");
    let b = e.path("b");
    let applied = e.json(&strs(&host(
        &b,
        "b",
        &["key-list", &save("keylist.txt", &list)],
    )));
    assert_eq!(applied["key_list_sequence"], 1);
    // A message around one artifact (an older version's output, an e-mail) is accepted too.
    let mail = save(
        "mail.txt",
        &format!("Send this code to the vendor:\n  {code}\nThanks\n"),
    );
    let (n, err) = e.fails(&["vendor", "deactivate", &mail], None);
    assert_eq!((n, err["code"].as_u64()), (5, Some(306)), "{err}");
}
