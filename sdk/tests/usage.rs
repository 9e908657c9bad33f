//! The host's metered-usage journal (issue 15): accrual on `record_usage`, cut reports chained
//! per device key, the outbox, acknowledgements, the journal text, persistence and what the
//! host does (and does not) catch when its state file is edited.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;

use tollgate_core::{
    parse_usage_journal, CertificateClaims, ComponentKind, DeploymentModel, Feature, FeatureKind,
    Grant, KeyCertificate, LicenseKey, MeterPeriod, Models, UsageEntry, UsageLicense, UsageReport,
    UsageRequest, UsageTerms, VendorSigningKey,
};
use tollgate_sdk::storage::Storage;
use tollgate_sdk::{
    AccruedUnits, FailingStorage, HostConfig, LicenseManager, ManualClock, MemoryStorage, SdkError,
    StaticSource,
};

/// 2023-11-14T22:13:20Z
const T0: u64 = 1_700_000_000;
/// 2023-11-14T00:00:00Z and 2023-11-15T00:00:00Z: day periods.
const NOV_14: u64 = 1_699_920_000;
const NOV_15: u64 = 1_700_006_400;
/// 2023-11-01T00:00:00Z: the month period.
const NOVEMBER: u64 = 1_698_796_800;

fn vendor() -> VendorSigningKey {
    VendorSigningKey::from_seed(&[1; 32])
}

fn root() -> VendorSigningKey {
    VendorSigningKey::from_seed(&[10; 32])
}

fn config() -> HostConfig {
    HostConfig::new(
        "chariot",
        "4.2.0",
        b"chariot-salt".to_vec(),
        root().public_key(),
    )
}

fn key() -> String {
    LicenseKey::from_entropy(&[2; 15]).expose()
}

fn grant() -> Grant {
    let metered = |name: &str, quota, period| Feature {
        name: name.into(),
        kind: FeatureKind::Metered { quota, period },
    };
    Grant {
        license_id: 42,
        revision: 1,
        product: "chariot".into(),
        customer: "ACME Industrial".into(),
        features: vec![
            Feature {
                name: "mqtt-server".into(),
                kind: FeatureKind::Perpetual,
            },
            metered("bridge", 1000, MeterPeriod::Day),
            metered("export", 50, MeterPeriod::Month),
        ],
        models: Models::of(&[DeploymentModel::Offline]),
        max_activations: 2,
        floating_seats: 0,
        not_before: None,
        not_after: None,
        fingerprint_threshold: 1,
        max_borrow_secs: 0,
        rollback_tolerance_secs: 3600,
        offline_refresh_secs: 0,
    }
}

fn answer(request: &str) -> String {
    answer_for(request, 7)
}

fn answer_for(request: &str, activation_id: u64) -> String {
    let req = UsageRequest::from_armor(request).unwrap();
    let cert = KeyCertificate::issue(
        CertificateClaims {
            product: "chariot".into(),
            public_key: vendor().public_key(),
            not_before: 0,
            not_after: None,
            issued_at: 0,
        },
        &root(),
    )
    .unwrap();
    UsageLicense::issue_with_certificate(
        UsageTerms {
            grant: grant(),
            activation_id,
            model: DeploymentModel::Offline,
            device_key: *req.device_key(),
            request_counter: req.claims().counter,
            fingerprint: req.claims().fingerprint.clone(),
            issued_at: req.claims().created_at + 60,
            refresh_deadline: None,
        },
        &vendor(),
        &cert,
    )
    .unwrap()
    .to_armor()
}

fn open(
    storage: impl Storage + 'static,
    clock: &Arc<ManualClock>,
) -> Result<LicenseManager, SdkError> {
    LicenseManager::with_parts(
        config(),
        Box::new(storage),
        clock.clone(),
        Box::new(StaticSource::from_strs(&[
            (ComponentKind::MachineId, "machine-a"),
            (ComponentKind::Hostname, "broker-a"),
        ])),
    )
}

/// An offline host with the metered license installed, at T0 + 2 min.
fn activated() -> (LicenseManager, Arc<ManualClock>, MemoryStorage) {
    let clock = Arc::new(ManualClock::new(T0));
    let mem = MemoryStorage::new();
    let mut m = open(mem.clone(), &clock).unwrap();
    let req = m.request_usage(&key()).unwrap();
    clock.advance(120);
    m.install(&answer(&req)).unwrap();
    (m, clock, mem)
}

fn device_key(m: &LicenseManager) -> [u8; 32] {
    m.installed_license().unwrap().terms().device_key
}

fn entry(feature: &str, period: MeterPeriod, period_start: u64, units: u64) -> UsageEntry {
    UsageEntry {
        feature: feature.into(),
        period,
        period_start,
        units,
    }
}

fn state_text(mem: &MemoryStorage) -> String {
    String::from_utf8(mem.load("state.json").unwrap().unwrap()).unwrap()
}

#[test]
fn record_usage_accrues_and_cuts_a_chain_of_reports() {
    let (mut m, clock, mem) = activated();
    let dk = device_key(&m);
    assert!(!m.has_usage_to_report());
    assert_eq!(m.cut_usage_report().unwrap(), None);
    assert!(!state_text(&mem).contains("\"usage\""));

    m.record_usage("export", 3).unwrap();
    m.record_usage("bridge", 60).unwrap();
    m.record_usage("bridge", 40).unwrap();
    assert_eq!(
        m.accrued_usage(),
        vec![
            AccruedUnits {
                license_id: 42,
                feature: "export".into(),
                period: MeterPeriod::Month,
                period_start: NOVEMBER,
                units: 3
            },
            AccruedUnits {
                license_id: 42,
                feature: "bridge".into(),
                period: MeterPeriod::Day,
                period_start: NOV_14,
                units: 100
            },
        ]
    );
    assert!(m.has_usage_to_report());

    clock.advance(10);
    let r1 = m.cut_usage_report().unwrap().unwrap();
    let c = r1.claims();
    assert_eq!(
        (c.license_id, c.device_key, c.seq, c.prev_hash, c.created_at),
        (42, dk, 1, [0; 32], T0 + 130)
    );
    assert_eq!(
        c.entries,
        vec![
            entry("bridge", MeterPeriod::Day, NOV_14, 100),
            entry("export", MeterPeriod::Month, NOVEMBER, 3),
        ]
    );
    assert_eq!(m.accrued_usage(), vec![]);
    assert_eq!(m.usage_outbox(), vec![r1.clone()]);
    assert_eq!(m.cut_usage_report().unwrap(), None);
    // The quota count is untouched by the cut.
    assert_eq!(m.meter("bridge").unwrap().used, 100);

    // The next day: a new period, the next link.
    clock.set(NOV_15 + 60);
    m.record_usage("bridge", 7).unwrap();
    let r2 = m.cut_usage_report().unwrap().unwrap();
    assert_eq!((r2.claims().seq, r2.claims().prev_hash), (2, r1.hash()));
    assert_eq!(
        r2.claims().entries,
        vec![entry("bridge", MeterPeriod::Day, NOV_15, 7)]
    );

    // Durable: a restart keeps the outbox and continues the chain.
    drop(m);
    let mut m = open(mem.clone(), &clock).unwrap();
    assert_eq!(m.usage_outbox(), vec![r1.clone(), r2.clone()]);
    m.record_usage("export", 1).unwrap();
    let journal = m.usage_journal().unwrap();
    let reports = parse_usage_journal(&journal).unwrap();
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[..2], [r1.clone(), r2.clone()]);
    assert_eq!(
        (reports[2].claims().seq, reports[2].claims().prev_hash),
        (3, r2.hash())
    );
    assert!(journal.starts_with("# tollgate usage journal"));
    assert_eq!(journal.lines().count(), 4);

    // Acknowledgements drop what the vendor merged, never more than was cut.
    assert_eq!(
        m.acknowledge_usage(&dk, 4).unwrap_err(),
        SdkError::UsageAckAhead {
            merged_through: 4,
            last: 3
        }
    );
    assert_eq!(m.acknowledge_usage(&dk, 4).unwrap_err().code(), 256);
    assert_eq!(
        m.acknowledge_usage(&[9; 32], 1).unwrap_err(),
        SdkError::UsageAckAhead {
            merged_through: 1,
            last: 0
        }
    );
    assert_eq!(m.usage_outbox().len(), 3);
    assert_eq!(m.acknowledge_usage(&dk, 2).unwrap(), 2);
    assert_eq!(m.acknowledge_usage(&dk, 2).unwrap(), 0);
    assert_eq!(m.usage_outbox(), vec![reports[2].clone()]);
    assert_eq!(m.acknowledge_usage(&dk, 0).unwrap(), 0);
    drop(m);
    let mut m = open(mem, &clock).unwrap();
    assert_eq!(m.usage_outbox(), vec![reports[2].clone()]);
    assert_eq!(m.acknowledge_usage(&dk, 3).unwrap(), 1);
    assert_eq!(
        m.usage_journal().unwrap(),
        "# tollgate usage journal: TGUR reports, one a line, in seq order\n"
    );
    // The chain goes on after everything was acknowledged.
    m.record_usage("export", 2).unwrap();
    let r4 = m.cut_usage_report().unwrap().unwrap();
    assert_eq!(
        (r4.claims().seq, r4.claims().prev_hash),
        (4, reports[2].hash())
    );
}

#[test]
fn a_report_holds_one_license_and_at_most_16_entries() {
    let (mut m, clock, _) = activated();
    // 20 daily periods of "bridge": 20 accruals, two reports.
    for day in 0..20 {
        clock.set(NOV_15 + day * 86_400 + 10);
        m.record_usage("bridge", 1).unwrap();
    }
    assert_eq!(m.accrued_usage().len(), 20);
    let r1 = m.cut_usage_report().unwrap().unwrap();
    assert_eq!(r1.claims().entries.len(), 16);
    assert_eq!(m.accrued_usage().len(), 4);
    assert_eq!(m.cut_all_usage().unwrap(), 1);
    let out = m.usage_outbox();
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].claims().entries.len(), 4);
    assert_eq!(out[1].claims().prev_hash, r1.hash());
    let total: u64 = out.iter().map(|r| r.claims().total_units()).sum();
    assert_eq!(total, 20);
}

#[test]
fn usage_requests_and_deactivation_cut_what_accrued() {
    let (mut m, clock, mem) = activated();
    let dk = device_key(&m);
    m.record_usage("bridge", 5).unwrap();
    clock.advance(60);
    // The offline upgrade round trip: the journal goes with the request.
    m.request_renewal().unwrap();
    assert_eq!(m.accrued_usage(), vec![]);
    assert_eq!(m.usage_outbox().len(), 1);

    m.record_usage("bridge", 6).unwrap();
    let code = m.deactivate().unwrap();
    assert!(code.starts_with("TGDC:"));
    let out = m.usage_outbox();
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].claims().device_key, dk);
    assert_eq!(out[1].claims().entries[0].units, 6);
    // The device key is retired, its reports stay deliverable; the journal still exports.
    let journal = m.usage_journal().unwrap();
    assert_eq!(parse_usage_journal(&journal).unwrap(), out);

    // A new activation: a new device key, a new chain from seq 1.
    let req = m.request_usage(&key()).unwrap();
    clock.advance(60);
    m.install(&answer_for(&req, 8)).unwrap();
    let dk2 = device_key(&m);
    assert_ne!(dk2, dk);
    m.record_usage("bridge", 1).unwrap();
    let r = m.cut_usage_report().unwrap().unwrap();
    assert_eq!(
        (r.claims().device_key, r.claims().seq, r.claims().prev_hash),
        (dk2, 1, [0; 32])
    );
    assert_eq!(m.usage_outbox().len(), 3);
    // Each chain is acknowledged on its own.
    assert_eq!(m.acknowledge_usage(&dk, 2).unwrap(), 2);
    assert_eq!(m.usage_outbox(), vec![r]);
    drop(m);
    open(mem, &clock).unwrap();
}

#[test]
fn a_failed_write_loses_and_duplicates_nothing() {
    let (mut m, clock, mem) = activated();
    m.record_usage("bridge", 9).unwrap();
    let before = mem.load("state.json").unwrap().unwrap();
    drop(m);
    // Opening at the time of the last write stores nothing: the cut is the first write.
    let mut m = open(FailingStorage::new(mem.clone(), 1), &clock).unwrap();
    assert!(matches!(
        m.cut_usage_report().unwrap_err(),
        SdkError::Storage { .. }
    ));
    assert_eq!(mem.load("state.json").unwrap().unwrap(), before);
    assert_eq!(m.usage_outbox(), vec![]);
    assert_eq!(m.accrued_usage()[0].units, 9);
    drop(m);
    let mut m = open(mem, &clock).unwrap();
    let r = m.cut_usage_report().unwrap().unwrap();
    assert_eq!((r.claims().seq, r.claims().total_units()), (1, 9));
}

#[test]
fn a_clock_set_back_does_not_reset_the_period() {
    let (mut m, clock, _) = activated();
    // Just after midnight of the 15th, then the clock goes back 20 minutes (within the
    // rollback tolerance of one hour) to the 14th.
    clock.set(NOV_15 + 600);
    m.record_usage("bridge", 10).unwrap();
    clock.set(NOV_15 - 600);
    let r = m.record_usage("bridge", 5).unwrap();
    assert_eq!((r.period_start, r.used), (NOV_15, 15));
    assert_eq!(m.meter("bridge").unwrap().used, 15);
    assert_eq!(
        m.accrued_usage()
            .iter()
            .map(|a| (a.period_start, a.units))
            .collect::<Vec<_>>(),
        vec![(NOV_15, 15)]
    );
    // Set back further than the tolerance: refused, nothing recorded or lost.
    clock.set(NOV_15 - 7200);
    assert_eq!(m.record_usage("bridge", 1).unwrap_err().code(), 205);
    let c = m.cut_usage_report().unwrap().unwrap();
    assert_eq!(
        c.claims().entries,
        vec![entry("bridge", MeterPeriod::Day, NOV_15, 15)]
    );
}

#[test]
fn an_old_state_document_without_a_journal_loads() {
    let (mut m, clock, mem) = activated();
    m.record_usage("bridge", 2).unwrap();
    drop(m);
    let mut doc: serde_json::Value = serde_json::from_str(&state_text(&mem)).unwrap();
    assert!(doc["usage"].is_object());
    doc.as_object_mut().unwrap().remove("usage");
    mem.store("state.json", doc.to_string().as_bytes()).unwrap();
    let mut m = open(mem.clone(), &clock).unwrap();
    assert_eq!(m.accrued_usage(), vec![]);
    assert_eq!(m.meter("bridge").unwrap().used, 2);
    m.record_usage("bridge", 1).unwrap();
    assert_eq!(m.cut_usage_report().unwrap().unwrap().claims().seq, 1);
}

/// Edits a stored state document with `f` and reopens the host.
fn edited(
    mem: &MemoryStorage,
    clock: &Arc<ManualClock>,
    f: impl FnOnce(&mut serde_json::Value),
) -> Result<LicenseManager, SdkError> {
    let mut doc: serde_json::Value = serde_json::from_str(&state_text(mem)).unwrap();
    f(&mut doc);
    let copy = MemoryStorage::new();
    copy.store("state.json", doc.to_string().as_bytes())
        .unwrap();
    open(copy, clock)
}

#[test]
fn edits_of_the_signed_outbox_make_the_state_corrupt() {
    let (mut m, clock, mem) = activated();
    m.record_usage("bridge", 100).unwrap();
    m.cut_usage_report().unwrap().unwrap();
    m.record_usage("bridge", 50).unwrap();
    m.cut_usage_report().unwrap().unwrap();
    m.record_usage("bridge", 25).unwrap();
    drop(m);
    let corrupt = |r: Result<LicenseManager, SdkError>| {
        let e = r.unwrap_err();
        assert_eq!(e.code(), 207, "{e}");
        e.to_string()
    };

    // A report re-armored with fewer units: its signature no longer verifies.
    let msg = corrupt(edited(&mem, &clock, |d| {
        let text = d["usage"]["outbox"][1].as_str().unwrap().to_owned();
        let r = UsageReport::from_armor(&text).unwrap();
        let mut bytes = r.as_bytes().to_vec();
        let units = bytes.len() - 64 - 1;
        bytes[units] = 1; // 50 → 1
        d["usage"]["outbox"][1] =
            tollgate_core::armor::encode(tollgate_core::ArtifactType::UsageReport, &bytes).into();
    }));
    assert!(msg.contains("does not verify"), "{msg}");
    // The last report removed: the chain head names a report that is not there.
    let msg = corrupt(edited(&mem, &clock, |d| {
        d["usage"]["outbox"].as_array_mut().unwrap().pop();
    }));
    assert!(msg.contains("head"), "{msg}");
    // Reordered.
    corrupt(edited(&mem, &clock, |d| {
        d["usage"]["outbox"].as_array_mut().unwrap().swap(0, 1);
    }));
    // The chain head set back, so that the next report reuses a sequence number.
    corrupt(edited(&mem, &clock, |d| {
        d["usage"]["chains"][0]["seq"] = 1.into();
    }));
    // An accrual with no units or an unknown period.
    corrupt(edited(&mem, &clock, |d| {
        d["usage"]["accrued"][0]["period"] = "week".into();
    }));
    corrupt(edited(&mem, &clock, |d| {
        d["usage"]["accrued"][0]["feature"] = "Not A Feature".into();
    }));
    corrupt(edited(&mem, &clock, |d| {
        d["usage"]["accrued"][0]["units"] = 0.into();
    }));

    // Not caught by the host: the state has no integrity protection of its own, so lowering
    // the accrued (unsigned) units, or dropping the oldest reports, goes unseen here. The
    // vendor sees the dropped reports as a gap in the chain (tests/tests/usage_chain.rs).
    let mut m = edited(&mem, &clock, |d| {
        d["usage"]["accrued"][0]["units"] = 1.into();
    })
    .unwrap();
    assert_eq!(m.accrued_usage()[0].units, 1);
    let m2 = edited(&mem, &clock, |d| {
        d["usage"]["outbox"].as_array_mut().unwrap().remove(0);
    })
    .unwrap();
    assert_eq!(m2.usage_outbox().len(), 1);
    assert_eq!(m.cut_usage_report().unwrap().unwrap().claims().seq, 3);
}

#[test]
fn a_restored_backup_reuses_a_sequence_number() {
    let (mut m, clock, mem) = activated();
    m.record_usage("bridge", 100).unwrap();
    let r1 = m.cut_usage_report().unwrap().unwrap();
    let backup = mem.load("state.json").unwrap().unwrap();
    m.record_usage("bridge", 50).unwrap();
    let r2 = m.cut_usage_report().unwrap().unwrap();
    drop(m);
    // The customer restores the backup (taken after report 1) and uses the bridge again.
    mem.store("state.json", &backup).unwrap();
    let mut m = open(mem, &clock).unwrap();
    m.record_usage("bridge", 10).unwrap();
    let r2b = m.cut_usage_report().unwrap().unwrap();
    // Two different reports at sequence 2 on the same predecessor: what the vendor flags
    // (tollgate_authority::policy::usage_link: Rewritten or Fork; tests/tests/usage_chain.rs).
    assert_eq!((r2b.claims().seq, r2b.claims().prev_hash), (2, r1.hash()));
    assert_eq!((r2.claims().seq, r2.claims().prev_hash), (2, r1.hash()));
    assert_ne!(r2b.hash(), r2.hash());
}

/// A stub service on loopback answering each of `responses` (status, body) to one connection,
/// in order, then stopping; the requests it read (request line and body) come back through the
/// returned receiver.
fn stub(responses: Vec<(u16, String)>) -> (String, std::sync::mpsc::Receiver<(String, String)>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (status, body) in responses {
            let (mut conn, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 8192];
            let (line, text) = loop {
                let n = conn.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).into_owned();
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if rest.len() >= len || n == 0 {
                        break (
                            head.lines().next().unwrap_or("").to_owned(),
                            rest.to_owned(),
                        );
                    }
                }
                assert!(n > 0, "connection closed mid-request");
            };
            tx.send((line, text)).unwrap();
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, rx)
}

fn online(url: &str) -> tollgate_sdk::online::OnlineClient {
    let mut cfg = tollgate_sdk::online::OnlineConfig::new(url);
    cfg.attempts = 1;
    tollgate_sdk::online::OnlineClient::new(cfg).unwrap()
}

fn receipt(device: &[u8; 32], through: u64, results: &[(u64, &str)]) -> String {
    let results: Vec<String> = results
        .iter()
        .map(|(seq, v)| format!(r#"{{"seq":{seq},"verdict":"{v}"}}"#))
        .collect();
    format!(
        r#"{{"license_id":42,"device_key":"{}","merged_through":{through},"results":[{}]}}"#,
        tollgate_core::hex_string(device),
        results.join(",")
    )
}

#[test]
fn report_usage_sends_the_outbox_and_keeps_what_was_flagged() {
    use tollgate_sdk::online::{FlaggedReport, UsageSync, UsageVerdictName};
    let (mut m, _clock, _mem) = activated();
    let dk = device_key(&m);
    m.record_usage("bridge", 10).unwrap();
    let r1 = m.cut_usage_report().unwrap().unwrap();
    m.record_usage("bridge", 20).unwrap();
    let refused = r#"{"error":{"code":356,"name":"UnknownDevice","message":"no such activation"}}"#;
    let (url, seen) = stub(vec![
        (200, receipt(&dk, 1, &[(1, "merged"), (2, "fork")])),
        (422, refused.to_owned()),
        (200, receipt(&[7; 32], 2, &[(2, "merged")])),
        (200, receipt(&dk, 5, &[(2, "merged")])),
        (200, receipt(&dk, 2, &[(2, "duplicate")])),
    ]);
    let client = online(&url);

    // The accrued 20 units are cut first; both reports go in one body, in order.
    let sync = client.report_usage(&mut m).unwrap();
    let out = m.usage_outbox();
    let (line, body) = seen.recv().unwrap();
    assert_eq!(line, "POST /v1/usage HTTP/1.1");
    assert_eq!(out.len(), 1);
    let r2 = out[0].clone();
    assert_eq!((r2.claims().seq, r2.claims().total_units()), (2, 20));
    assert_eq!(
        body,
        format!(r#"{{"reports":["{}","{}"]}}"#, r1.to_armor(), r2.to_armor())
    );
    assert_eq!(
        sync,
        UsageSync {
            sent: 2,
            acknowledged: 1,
            dismissed: 0,
            flagged: vec![FlaggedReport {
                device_key: dk,
                seq: 2,
                verdict: UsageVerdictName::Fork
            }],
        }
    );

    // A refusal, a receipt for another device, a receipt ahead of the chain: the report stays.
    let e = client.report_usage(&mut m).unwrap_err();
    assert_eq!((e.code(), e.refusal_code()), (231, Some(356)));
    assert_eq!(client.report_usage(&mut m).unwrap_err().code(), 234);
    assert_eq!(
        client.report_usage(&mut m).unwrap_err(),
        SdkError::UsageAckAhead {
            merged_through: 5,
            last: 2
        }
    );
    for _ in 0..3 {
        let (_, body) = seen.recv().unwrap();
        assert_eq!(body, format!(r#"{{"reports":["{}"]}}"#, r2.to_armor()));
    }
    assert_eq!(m.usage_outbox(), vec![r2]);

    // A duplicate is settled too; then the outbox is empty and nothing more is sent.
    let sync = client.report_usage(&mut m).unwrap();
    assert_eq!(
        (sync.sent, sync.acknowledged, sync.flagged.len()),
        (1, 1, 0)
    );
    seen.recv().unwrap();
    assert_eq!(m.usage_outbox(), vec![]);
    assert_eq!(client.report_usage(&mut m).unwrap(), UsageSync::default());
    assert!(seen.try_recv().is_err());
}

#[test]
fn a_reactivation_reports_the_usage_too() {
    let (mut m, clock, _mem) = activated();
    let dk = device_key(&m);
    let terms = m.installed_license().unwrap().terms().clone();
    m.record_usage("export", 4).unwrap();
    clock.advance(60);
    // The service's answer to the renewal request the reactivation makes (counter 2, same
    // device and fingerprint), then its receipt for the report that request cut.
    let renewed = {
        let cert = KeyCertificate::issue(
            CertificateClaims {
                product: "chariot".into(),
                public_key: vendor().public_key(),
                not_before: 0,
                not_after: None,
                issued_at: 0,
            },
            &root(),
        )
        .unwrap();
        UsageLicense::issue_with_certificate(
            UsageTerms {
                request_counter: 2,
                issued_at: T0 + 170,
                ..terms
            },
            &vendor(),
            &cert,
        )
        .unwrap()
        .to_armor()
    };
    let answer = format!(
        r#"{{"usage_license":"{renewed}","license_id":42,"activation_id":7,"revision":1,"new_activation":false,"refresh_deadline":null}}"#
    );
    let (url, seen) = stub(vec![
        (200, answer),
        (200, receipt(&dk, 1, &[(1, "merged")])),
    ]);
    online(&url).reactivate(&mut m).unwrap();
    let (line, _) = seen.recv().unwrap();
    assert_eq!(line, "POST /v1/refresh HTTP/1.1");
    let (line, body) = seen.recv().unwrap();
    assert_eq!(line, "POST /v1/usage HTTP/1.1");
    assert!(body.starts_with(r#"{"reports":["TGUR:"#), "{body}");
    assert_eq!(m.usage_outbox(), vec![]);
    assert_eq!(m.accrued_usage(), vec![]);
}
