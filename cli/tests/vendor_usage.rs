//! `tollgate vendor usage import FILE` (an offline host's signed usage journal into the
//! ledger: per-report verdicts, exit 5 when anything is flagged, a tampered journal refused
//! with the core's code and nothing stored) and `tollgate vendor usage` (totals per license,
//! feature and period, and the flagged reports), with exact output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use tollgate_core::*;

const NOW: u64 = 1_700_000_000; // 2023-11-14T22:13:20Z
const MONTH0: u64 = 1_698_796_800; // 2023-11-01T00:00:00Z

#[path = "support/run.rs"]
mod support;
use support::{strs, Env};

/// The usage verbs' fixtures on top of the shared [`Env`].
trait UsageEnv {
    fn licensed(&self, device: &DeviceKey) -> u64;
    fn write(&self, name: &str, text: &str) -> String;
}

impl UsageEnv for Env {
    /// A license of the metered bridge with the offline host `device` activated on it.
    fn licensed(&self, device: &DeviceKey) -> u64 {
        let issued = self.issue_offline("snowflake:1000000/month");
        let key = LicenseKey::parse(issued["key"].as_str().unwrap()).unwrap();
        let fp = Fingerprint::from_components(vec![
            Component::derive(ComponentKind::MachineId, b"m-1", b"chariot"),
            Component::derive(ComponentKind::Hostname, b"broker-1", b"chariot"),
            Component::derive(ComponentKind::Mac, b"aa:01", b"chariot"),
        ])
        .unwrap();
        let req = UsageRequest::create(&key, device, "chariot", "4.2.0", 1, NOW, &fp).unwrap();
        self.json(&["vendor", "fulfil", &req.to_armor()]);
        issued["license_id"].as_u64().unwrap()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    }
}

/// `vendor usage resolve --license license --device device --seq seq rest…`.
fn resolve_args(license: &str, device: &str, seq: &str, rest: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "vendor",
        "usage",
        "resolve",
        "--license",
        license,
        "--device",
        device,
        "--seq",
        seq,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

/// `n` chained reports of the bridge from `seq` on (`prev` the hash before `seq`).
fn chain(
    lid: u64,
    device: &DeviceKey,
    from: u64,
    prev: [u8; 32],
    units: &[u64],
) -> Vec<UsageReport> {
    let mut prev = prev;
    units
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let r = UsageReport::create(
                UsageClaims {
                    license_id: lid,
                    device_key: device.public_key(),
                    seq: from + i as u64,
                    prev_hash: prev,
                    created_at: NOW,
                    entries: vec![UsageEntry {
                        feature: "snowflake".into(),
                        period: MeterPeriod::Month,
                        period_start: MONTH0,
                        units: *u,
                    }],
                },
                device,
            )
            .unwrap();
            prev = r.hash();
            r
        })
        .collect()
}

#[test]
fn an_offline_journal_is_imported_once_and_flags_are_shown() {
    let e = Env::new(NOW);
    let device = DeviceKey::from_seed(&[5; 32]);
    let dev = hex_string(&device.public_key())[..16].to_owned();
    let lid = e.licensed(&device);
    let reports = chain(lid, &device, 1, [0; 32], &[100, 250, 50]);
    let journal = e.write("journal.txt", &usage_journal_text(&reports));

    let out = e.ok(&["vendor", "usage", "import", &journal]);
    assert_eq!(
        out,
        format!(
            "license {lid} device {dev} seq 1: merged\n\
             license {lid} device {dev} seq 2: merged\n\
             license {lid} device {dev} seq 3: merged\n\
             license {lid} device {dev}: merged through seq 3\n\
             3 report(s), 0 flagged\n"
        )
    );
    // The same journal again (the operator sent it twice): nothing changes.
    let again = e.json(&["vendor", "usage", "import", &journal]);
    let verdicts: Vec<&str> = again["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["duplicate", "duplicate", "duplicate"]);
    assert_eq!(again["flagged"], 0);
    assert_eq!(again["chains"][0]["merged_through"], 3);

    // A journal with a gap (report 4 missing): flagged, not merged, exit 5.
    let later = chain(lid, &device, 4, reports[2].hash(), &[7, 9]);
    let gap = e.write("gap.txt", &usage_journal_text(&later[1..]));
    let out = e.cmd(&["vendor", "usage", "import", &gap]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "license {lid} device {dev} seq 5: gap\n\
             license {lid} device {dev}: merged through seq 3\n\
             1 report(s), 1 flagged\n"
        )
    );
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: 1 report(s) flagged (gap, fork or rewritten history): not merged\n"
    );

    // A tampered journal (one character of report 2 changed): refused with the core's code,
    // naming the line; nothing of it is stored.
    let text = usage_journal_text(&later);
    let line2_at = text.find(&later[1].to_armor()).unwrap();
    let mut bytes = text.into_bytes();
    let i = line2_at + 40;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = e.write("tampered.txt", &String::from_utf8(bytes).unwrap());
    let out = e.cmd(&["--json", "vendor", "usage", "import", &tampered]);
    assert_eq!(out.status.code(), Some(3));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["code"], Error::ArmorChecksum.code());
    assert_eq!(err["error"]["kind"], "ArmorChecksum");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("usage journal line 3: "),
        "{err}"
    );

    // The totals and the flag, as text and JSON.
    assert_eq!(
        e.ok(&["vendor", "usage"]),
        format!(
            "license  feature                  period start                        units  reports\n\
             {lid:<8} snowflake                month  2023-11-01T00:00:00Z           400        3\n\
             flagged reports:\n\
             license {lid} device {dev} seq 5: gap (expected seq 4, got 5)\n\
             meter events: 3 pending, 0 sent, 0 unbillable, 0 expired\n"
        )
    );
    // Report 4 arrives: 4 merges, and 5 with it once sent again; the flag is resolved.
    let all = e.write("all.txt", &usage_journal_text(&later));
    let out = e.ok(&["vendor", "usage", "import", &all]);
    assert!(
        out.ends_with("merged through seq 5\n2 report(s), 0 flagged\n"),
        "{out}"
    );
    let v = e.json(&[
        "vendor",
        "usage",
        "--license",
        &lid.to_string(),
        "--period",
        "2023-11",
    ]);
    assert_eq!(v["totals"][0]["units"], 416);
    assert_eq!(v["totals"][0]["reports"], 5);
    assert_eq!(v["totals"][0]["period_start"], "2023-11-01T00:00:00Z");
    assert_eq!(v["flags"][0]["verdict"], "gap");
    assert_eq!(v["flags"][0]["resolved_at"], "2023-11-14T22:13:20Z");
    assert_eq!(
        e.ok(&["vendor", "usage", "--period", "2023-12"]),
        "license  feature                  period start                        units  reports\n\
         no flagged reports\n\
         meter events: 0 pending, 0 sent, 0 unbillable, 0 expired\n"
    );
    let out = e.cmd(&["vendor", "usage", "--period", "2023-13"]);
    assert_eq!(out.status.code(), Some(2));

    // A journal of a device key that never activated the license: 355, exit 5.
    let stranger = DeviceKey::from_seed(&[6; 32]);
    let foreign = e.write(
        "foreign.txt",
        &usage_journal_text(&chain(lid, &stranger, 1, [0; 32], &[1])),
    );
    let out = e.cmd(&["--json", "vendor", "usage", "import", &foreign]);
    assert_eq!(out.status.code(), Some(5));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["code"], 355);
    assert_eq!(err["error"]["kind"], "UsageDeviceUnknown");
}

#[test]
fn a_cli_hosts_journal_is_imported_and_a_tampered_copy_is_refused() {
    let e = Env::new(NOW);
    let issued = e.issue_offline("snowflake:1000/month");
    let key = issued["key"].as_str().unwrap();
    let lid = issued["license_id"].as_u64().unwrap();
    let req: Value = serde_json::from_str(&e.host(&["--json", "request", "--key", key])).unwrap();
    let ul = e.json(&["vendor", "fulfil", req["usage_request"].as_str().unwrap()]);
    e.host(&["--json", "install", ul["usage_license"].as_str().unwrap()]);
    e.host(&["--json", "use", "snowflake", "5"]);
    e.host(&["--json", "use", "snowflake", "7"]);
    let journal = e.path("journal.txt");
    e.host(&[
        "--json",
        "usage",
        "journal",
        "--out",
        journal.to_str().unwrap(),
    ]);

    // Tampered in transit: refused, nothing stored.
    let text = std::fs::read_to_string(&journal).unwrap();
    let line = text.lines().find(|l| l.starts_with("TGUR:")).unwrap();
    let mut bad = line.as_bytes().to_vec();
    let i = bad.len() / 2;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let tampered = e.write(
        "tampered.txt",
        &text.replace(line, std::str::from_utf8(&bad).unwrap()),
    );
    let out = e.cmd(&["--json", "vendor", "usage", "import", &tampered]);
    assert_eq!(out.status.code(), Some(3));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["code"], Error::ArmorChecksum.code());
    assert!(e.json(&["vendor", "usage"])["totals"]
        .as_array()
        .unwrap()
        .is_empty());

    // The genuine journal: merged; the vendor tells the operator to acknowledge seq 1.
    let got = e.json(&["vendor", "usage", "import", journal.to_str().unwrap()]);
    assert_eq!(got["results"][0]["verdict"], "merged");
    assert_eq!(got["chains"][0]["merged_through"], 1);
    let usage = e.json(&["vendor", "usage", "--license", &lid.to_string()]);
    assert_eq!(usage["totals"][0]["feature"], "snowflake");
    assert_eq!(usage["totals"][0]["units"], 12);
    let ack: Value =
        serde_json::from_str(&e.host(&["--json", "usage", "ack", "--through", "1"])).unwrap();
    assert_eq!(ack["dropped"], 1);
}

#[test]
fn unmetered_entries_are_shown_and_flags_are_resolved() {
    let e = Env::new(NOW);
    let device = DeviceKey::from_seed(&[5; 32]);
    let hex = hex_string(&device.public_key());
    let dev = hex[..16].to_owned();
    let lid = e.licensed(&device);
    // Report 1: the bridge and the perpetual MQTT Server (not metered: never billed).
    let r1 = UsageReport::create(
        UsageClaims {
            license_id: lid,
            device_key: device.public_key(),
            seq: 1,
            prev_hash: [0; 32],
            created_at: NOW,
            entries: vec![
                UsageEntry {
                    feature: "mqtt-server".into(),
                    period: MeterPeriod::Month,
                    period_start: MONTH0,
                    units: 77,
                },
                UsageEntry {
                    feature: "snowflake".into(),
                    period: MeterPeriod::Month,
                    period_start: MONTH0,
                    units: 10,
                },
            ],
        },
        &device,
    )
    .unwrap();
    // Reports 2 and 3 follow; 2 is lost, so 3 is a gap.
    let later = chain(lid, &device, 2, r1.hash(), &[5, 6]);
    let journal = e.write("j.txt", &usage_journal_text(&[r1, later[1].clone()]));
    let out = e.cmd(&["vendor", "usage", "import", &journal]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        e.ok(&["vendor", "usage"]),
        format!(
            "license  feature                  period start                        units  reports\n\
             {lid:<8} snowflake                month  2023-11-01T00:00:00Z            10        1\n\
             flagged reports:\n\
             license {lid} device {dev} seq 1: not metered, not billed (77 mqtt-server per month)\n\
             license {lid} device {dev} seq 3: gap (expected seq 2, got 3)\n\
             meter events: 1 pending, 0 sent, 0 unbillable, 0 expired\n"
        )
    );
    let resolve = |seq: &str, how: &str| {
        let mut args = vec!["--json".to_owned()];
        args.extend(resolve_args(&lid.to_string(), &hex, seq, &[how]));
        e.cmd(&strs(&args))
    };
    // Nothing flagged at seq 2: 358, exit 5; neither --accept nor --dismiss: exit 2.
    let out = resolve("2", "--dismiss");
    assert_eq!(out.status.code(), Some(5));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(
        (&err["error"]["code"], &err["error"]["kind"]),
        (&Value::from(358), &Value::from("UsageFlagNotFound"))
    );
    let out = e.cmd(&strs(&resolve_args("1", &hex, "1", &[])));
    assert_eq!(out.status.code(), Some(2));
    let out = e.cmd(&strs(&resolve_args("1", "xyz", "1", &["--dismiss"])));
    assert_eq!(out.status.code(), Some(2));
    // The merged report's not_metered flag cannot be accepted, only dismissed.
    let out = resolve("1", "--accept");
    assert_eq!(out.status.code(), Some(5));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["code"], 359);
    let out = e.ok(&strs(&resolve_args(
        &lid.to_string(),
        &hex,
        "1",
        &["--dismiss"],
    )));
    assert_eq!(
        out,
        format!(
            "license {lid} device {dev} seq 1: not metered, not billed (77 mqtt-server per month), \
             dismissed 2023-11-14T22:13:20Z\n"
        )
    );
    // The gap is accepted: report 3 merged, its 6 units totalled.
    let out = resolve("3", "--accept");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["resolved"][0]["resolution"], "accepted");
    let v = e.json(&["vendor", "usage"]);
    assert_eq!(v["totals"][0]["units"], 16);
    assert_eq!(
        v["meter_events"],
        serde_json::json!({"pending": 2, "sent": 0, "unbillable": 0, "expired": 0})
    );
    let audit = e.json(&["vendor", "audit", "--license", &lid.to_string()]);
    let resolved = audit
        .as_array()
        .or_else(|| audit["entries"].as_array())
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "usage.resolved")
        .count();
    assert_eq!(resolved, 2);
}
