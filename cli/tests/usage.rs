//! `tollgate host usage …` and the usage journal the offline verbs write beside their output
//! (issue 15): an offline host's metered usage, as the operator carries it to the vendor.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::Value;
use tollgate_core::parse_usage_journal;

#[path = "support/run.rs"]
mod support;
use support::{strs, Env};

const NOW: u64 = 1_795_000_000;

fn journal_in(path: &Path) -> Vec<tollgate_core::UsageReport> {
    parse_usage_journal(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn an_offline_host_carries_its_usage_journal_to_the_vendor() {
    let e = Env::new(NOW);
    let issued = e.issue_offline("iot-bridge-snowflake:1000/month");
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
    let text = e.host(&["usage", "journal"]);
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
    let v = e.host_args(&["usage", "ack", "--through", "5"]);
    let mut args = vec!["--json"];
    args.extend(v.iter().map(String::as_str));
    let out = e.cmd(&args);
    assert_eq!(out.status.code(), Some(4));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(
        (&err["error"]["code"], &err["error"]["kind"]),
        (&Value::from(256), &Value::from("UsageAckAhead"))
    );
    let bad = e.host_args(&["usage", "ack", "--through", "1", "--device-key", "+f"]);
    let out = e.cmd(&strs(&bad));
    assert_eq!(out.status.code(), Some(2));

    // Deactivation cuts the rest and writes the journal beside the code (text: the code
    // alone on standard output).
    e.host_json(&["use", "iot-bridge-snowflake", "4"]);
    let j2 = e.path("j2.txt");
    let code = e.host(&["deactivate", "--journal", j2.to_str().unwrap()]);
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
    let out = e.host(&["usage", "journal"]);
    assert_eq!(parse_usage_journal(&out).unwrap(), r);
    let show = e.host_json(&["usage", "show"]);
    assert_eq!(show["outbox"].as_array().unwrap().len(), 2);
    assert_eq!(show["accrued"], Value::Array(vec![]));
    // The default journal file is beside the output, in the working directory.
    e.host_json(&["request", "--key", &key]);
    assert_eq!(journal_in(&e.path("usage-journal.txt")), r);
}
