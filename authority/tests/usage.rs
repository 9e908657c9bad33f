//! Metered usage in the ledger: signed, hash-chained reports judged link by link, merged once
//! into the totals and the billing outbox; gaps, forks, rewritten histories, foreign device
//! keys and unknown licenses are flagged or refused, never merged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use tollgate_authority::policy::UsageVerdict;
use tollgate_authority::{
    verdict_name, Authority, AuthorityError, MeterEvent, MeterEventStatus, UsageFilter, UsageFlag,
    UsageImport, UsageResolution, UsageTotal,
};
use tollgate_core::*;

const BRIDGE: &str = "iot-bridge";
const MONTH0: u64 = 1_698_796_800; // 2023-11-01T00:00:00Z

/// A host's usage journal: its device key, the next seq and the last hash.
struct Chain {
    license_id: u64,
    n: u8,
    device: DeviceKey,
    seq: u64,
    prev: [u8; 32],
}

impl Chain {
    fn new(license_id: u64, n: u8) -> Self {
        Chain {
            license_id,
            n,
            device: DeviceKey::from_seed(&[n; 32]),
            seq: 0,
            prev: [0; 32],
        }
    }

    /// The next report with `units` of the bridge in the first month (none: a heartbeat).
    fn next(&mut self, units: u64) -> UsageReport {
        let entries = if units == 0 {
            vec![]
        } else {
            vec![entry(BRIDGE, MeterPeriod::Month, units)]
        };
        self.next_with(entries)
    }

    fn next_with(&mut self, entries: Vec<UsageEntry>) -> UsageReport {
        self.seq += 1;
        let r = UsageReport::create(
            UsageClaims {
                license_id: self.license_id,
                device_key: self.device.public_key(),
                seq: self.seq,
                prev_hash: self.prev,
                created_at: T0 + self.seq,
                entries,
            },
            &self.device,
        )
        .unwrap();
        self.prev = r.hash();
        r
    }

    fn fork(&self) -> Chain {
        Chain {
            license_id: self.license_id,
            n: self.n,
            device: DeviceKey::from_seed(&[self.n; 32]),
            seq: self.seq,
            prev: self.prev,
        }
    }
}

/// A vendor with one license of the bridge and `host` activated (offline) on it.
fn licensed(v: &mut Authority, host: &Host) -> u64 {
    let mut spec = chariot(2);
    spec.features.push(Feature {
        name: BRIDGE.into(),
        kind: FeatureKind::Metered {
            quota: 1_000_000,
            period: MeterPeriod::Month,
        },
    });
    let issued = v.issue(spec, T0).unwrap();
    v.fulfil(&host.request(&issued.key, 1), DeploymentModel::Offline, T0)
        .unwrap();
    issued.license.grant().license_id
}

fn verdicts(i: &UsageImport) -> Vec<(u64, &'static str)> {
    i.outcomes
        .iter()
        .map(|o| (o.seq, verdict_name(&o.verdict)))
        .collect()
}

fn units(v: &mut Authority) -> Vec<(u64, String, u64, u64)> {
    v.usage_totals(&UsageFilter::default())
        .unwrap()
        .into_iter()
        .map(|t: UsageTotal| (t.license_id, t.feature, t.period_start, t.units))
        .collect()
}

/// The single total of the bridge in the first month: `units` on `lid`.
fn bridge_total(lid: u64, units: u64) -> [(u64, String, u64, u64); 1] {
    [(lid, BRIDGE.to_string(), MONTH0, units)]
}

/// Every usage flag.
fn all_flags(v: &mut Authority) -> Vec<UsageFlag> {
    v.usage_flags(&UsageFilter::default()).unwrap()
}

/// Every meter event of the outbox.
fn all_events(v: &mut Authority) -> Vec<MeterEvent> {
    v.meter_events(&UsageFilter::default()).unwrap()
}

/// Each flag's seq, verdict and resolution time.
fn flag_states(flags: &[UsageFlag]) -> Vec<(u64, &str, Option<u64>)> {
    flags
        .iter()
        .map(|f| (f.seq, f.verdict.as_str(), f.resolved_at))
        .collect()
}

/// A vendor with host 1 licensed for the bridge ([`licensed`]), and the host's empty journal.
fn scene() -> (tempfile::TempDir, Authority, Host, u64, Chain) {
    let (d, mut v) = vendor();
    let host = Host::new(1);
    let lid = licensed(&mut v, &host);
    (d, v, host, lid, Chain::new(lid, 1))
}

#[test]
fn a_chain_merges_once_and_a_replay_changes_nothing() {
    let (_d, mut v, host, lid, mut c) = scene();
    let reports = vec![c.next(10), c.next(0), c.next(32)];
    let got = v.import_usage(&reports, T0 + 100).unwrap();
    assert_eq!(
        verdicts(&got),
        [(1, "merged"), (2, "merged"), (3, "merged")]
    );
    assert_eq!(got.chains.len(), 1);
    assert_eq!(got.chains[0].merged_through, 3);
    assert_eq!(got.flagged(), 0);
    assert_eq!(units(&mut v), bridge_total(lid, 42));

    // The same submission again: duplicates, totals and the outbox unchanged.
    let again = v.import_usage(&reports, T0 + 200).unwrap();
    assert_eq!(
        verdicts(&again),
        [(1, "duplicate"), (2, "duplicate"), (3, "duplicate")]
    );
    assert_eq!(again.chains[0].merged_through, 3);
    assert_eq!(units(&mut v), bridge_total(lid, 42));
    let events = all_events(&mut v);
    let ids: Vec<(&str, u64)> = events
        .iter()
        .map(|e| (e.identifier.as_str(), e.units))
        .collect();
    let dev8 = &hex_string(&host.device.public_key())[..8];
    assert_eq!(
        ids,
        [
            (
                format!("tollgate-usage-{lid}-{dev8}-1-{BRIDGE}").as_str(),
                10
            ),
            (
                format!("tollgate-usage-{lid}-{dev8}-3-{BRIDGE}").as_str(),
                32
            ),
        ]
    );
    assert_eq!(v.usage_reports(Some(lid)).unwrap().len(), 3);
    assert!(all_flags(&mut v).is_empty());
}

#[test]
fn gaps_forks_and_rewrites_are_flagged_and_never_merged() {
    let (_d, mut v, _, lid, mut c) = scene();
    let r1 = c.next(5);
    let r2 = c.next(7);
    // A clone of the host's state after report 2: both continue from there.
    let mut clone = c.fork();
    let r3 = c.next(11);
    let r3x = clone.next(1000);
    let r4x = clone.next(2000);
    let r4 = c.next(13);
    let got = v.import_usage(&[r1, r2, r3], T0 + 10).unwrap();
    assert_eq!(got.flagged(), 0);
    // The clone's reports: seq 3 is taken by another hash (rewritten), and its seq 4 names a
    // predecessor that is not the merged report 3 (fork).
    let got = v.import_usage(&[r3x, r4x], T0 + 20).unwrap();
    assert_eq!(verdicts(&got), [(3, "rewritten"), (4, "fork")]);
    assert_eq!(got.chains[0].merged_through, 3);
    assert_eq!(got.flagged(), 2);
    // A gap: report 6 before 5 arrived; then 4 (the genuine one) still merges.
    let r5 = c.next(1);
    let r6 = c.next(2);
    let got = v.import_usage(std::slice::from_ref(&r6), T0 + 30).unwrap();
    assert_eq!(
        got.outcomes[0].verdict,
        UsageVerdict::Gap {
            expected: 4,
            got: 6
        }
    );
    assert_eq!(units(&mut v), bridge_total(lid, 23));
    let flags = all_flags(&mut v);
    assert_eq!(
        flag_states(&flags),
        [(3, "rewritten", None), (4, "fork", None), (6, "gap", None)]
    );
    assert_eq!(
        flags[2].detail,
        serde_json::json!({"expected": 4, "got": 6})
    );

    // Out of order within a submission: judged in seq order, all merge; the gap at 6 resolves.
    let got = v.import_usage(&[r6, r5, r4], T0 + 40).unwrap();
    assert_eq!(
        verdicts(&got),
        [(6, "merged"), (5, "merged"), (4, "merged")]
    );
    assert_eq!(got.chains[0].merged_through, 6);
    assert_eq!(units(&mut v), bridge_total(lid, 39));
    let flags = all_flags(&mut v);
    assert_eq!(
        flag_states(&flags),
        [
            (3, "rewritten", None),
            (4, "fork", None),
            (6, "gap", Some(T0 + 40))
        ]
    );
    // The clone's reports stay stored and flagged; sent again, they are not flagged twice.
    let got = v.import_usage(&[clone.fork().next(1)], T0 + 50).unwrap();
    assert_eq!(verdicts(&got), [(5, "rewritten")]);
    assert_eq!(all_flags(&mut v).len(), 4);
    assert_eq!(all_events(&mut v).len(), 6);
    let stored: Vec<(u64, String)> = v
        .usage_reports(Some(lid))
        .unwrap()
        .into_iter()
        .map(|r| (r.seq, r.verdict))
        .collect();
    assert_eq!(stored.iter().filter(|(_, v)| v == "merged").count(), 6);
    assert_eq!(stored.len(), 9);
    // The audit log has one entry per flag raised.
    let audit = v.audit_log(Some(lid), 100).unwrap();
    assert_eq!(
        audit.iter().filter(|e| e.action == "usage.flagged").count(),
        4
    );
}

#[test]
fn a_rewritten_history_from_the_start_is_flagged() {
    let (_d, mut v, _, lid, mut c) = scene();
    v.import_usage(&[c.next(1), c.next(2)], T0).unwrap();
    // The host "forgets" its journal and starts again at seq 1 with other numbers.
    let mut again = Chain::new(lid, 1);
    let got = v
        .import_usage(&[again.next(5), again.next(5)], T0 + 1)
        .unwrap();
    assert_eq!(verdicts(&got), [(1, "rewritten"), (2, "rewritten")]);
    assert_eq!(units(&mut v), bridge_total(lid, 3));
}

#[test]
fn foreign_devices_unknown_and_revoked_licenses_are_refused_and_nothing_is_stored() {
    let (_d, mut v) = vendor();
    let host = Host::new(1);
    let lid = licensed(&mut v, &host);
    let other_host = Host::new(2);
    let other = licensed(&mut v, &other_host);
    // A device key that never activated the license it names; the first, valid report of
    // the same submission is not stored either.
    let mut good = Chain::new(lid, 1);
    let mut stranger = Chain::new(lid, 2);
    let e = v
        .import_usage(&[good.next(1), stranger.next(5)], T0)
        .unwrap_err();
    assert!(
        matches!(e, AuthorityError::UsageDeviceUnknown { license_id } if license_id == lid),
        "{e:?}"
    );
    assert_eq!(e.code(), 355);
    assert!(v.usage_reports(None).unwrap().is_empty());
    assert!(units(&mut v).is_empty());
    // Unknown license.
    let mut nowhere = Chain::new(999, 1);
    let e = v.import_usage(&[nowhere.next(1)], T0).unwrap_err();
    assert_eq!((e.code(), e.name()), (304, "LicenseNotFound"));
    // Revoked license.
    v.revoke(other, "chargeback", T0).unwrap();
    let mut o = Chain::new(other, 2);
    let e = v.import_usage(&[o.next(1)], T0).unwrap_err();
    assert_eq!((e.code(), e.name()), (325, "LicenseRevoked"));
    assert!(v.usage_reports(None).unwrap().is_empty());
    assert!(all_events(&mut v).is_empty());
}

#[test]
fn the_outbox_is_marked_sent_once_and_failures_wait() {
    let (_d, mut v, host, lid, mut c) = scene();
    // Two periods of the feature in one report: each entry gets its own identifier.
    let mut second = entry(BRIDGE, MeterPeriod::Month, 4);
    second.period_start = MONTH0 + 30 * DAY;
    let r = c.next_with(vec![entry(BRIDGE, MeterPeriod::Month, 3), second]);
    v.import_usage(&[r], T0).unwrap();
    let due = v.meter_events_due(T0, 10).unwrap();
    let dev8 = &hex_string(&host.device.public_key())[..8];
    let ids: Vec<String> = due.iter().map(|e| e.identifier.clone()).collect();
    assert_eq!(
        ids,
        [
            format!("tollgate-usage-{lid}-{dev8}-1-{BRIDGE}:{MONTH0}"),
            format!(
                "tollgate-usage-{lid}-{dev8}-1-{BRIDGE}:{}",
                MONTH0 + 30 * DAY
            ),
        ]
    );
    v.meter_event_failed(&ids[0], "HTTP 500", T0 + 30).unwrap();
    assert!(v.meter_event_sent(&ids[1], T0 + 1).unwrap());
    assert!(!v.meter_event_sent(&ids[1], T0 + 2).unwrap(), "sent once");
    assert!(v.meter_events_due(T0 + 29, 10).unwrap().is_empty());
    let due = v.meter_events_due(T0 + 30, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].attempts, due[0].last_error.as_deref()),
        (1, Some("HTTP 500"))
    );
    assert!(v.meter_event_sent(&ids[0], T0 + 31).unwrap());
    assert!(v.meter_events_due(u64::MAX >> 2, 10).unwrap().is_empty());
    // A sender claims what is due: another sender gets none of it until the lease ends.
    let r2 = c.next_with(vec![entry(BRIDGE, MeterPeriod::Month, 1)]);
    v.import_usage(&[r2], T0 + 100).unwrap();
    let first = v.claim_meter_events(T0 + 100, 10, 300).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].identifier,
        format!("tollgate-usage-{lid}-{dev8}-2-{BRIDGE}")
    );
    assert!(v.claim_meter_events(T0 + 399, 10, 300).unwrap().is_empty());
    let again = v.claim_meter_events(T0 + 400, 10, 300).unwrap();
    let again: Vec<&str> = again.iter().map(|e| e.identifier.as_str()).collect();
    assert_eq!(
        again,
        [first[0].identifier.as_str()],
        "due again after the lease"
    );

    // The period filter: only the second month.
    let f = UsageFilter {
        license_id: Some(lid),
        from: Some(MONTH0 + 30 * DAY),
        until: Some(MONTH0 + 61 * DAY),
    };
    let t = v.usage_totals(&f).unwrap();
    assert_eq!(
        t.iter()
            .map(|t| (t.period_start, t.units))
            .collect::<Vec<_>>(),
        [(MONTH0 + 30 * DAY, 4)]
    );
}

/// `units` of `feature` per `period` in the first month.
fn entry(feature: &str, period: MeterPeriod, units: u64) -> UsageEntry {
    UsageEntry {
        feature: feature.into(),
        period,
        period_start: MONTH0,
        units,
    }
}

#[test]
fn entries_of_features_that_are_not_metered_extend_the_chain_but_are_never_billed() {
    let (_d, mut v, host, lid, mut c) = scene();
    // The bridge (metered per month), the perpetual MQTT Server, the Support subscription,
    // an unknown feature, and the bridge per day (not its period).
    // (Entries are ordered by feature and period start.)
    let mut day = entry(BRIDGE, MeterPeriod::Day, 2);
    day.period_start = MONTH0 + DAY;
    let r1 = c.next_with(vec![
        entry(BRIDGE, MeterPeriod::Month, 5),
        day,
        entry("mqtt-server", MeterPeriod::Month, 1000),
        entry("nope", MeterPeriod::Month, 3),
        entry("support", MeterPeriod::Month, 7),
    ]);
    let got = v.import_usage(&[r1], T0 + 10).unwrap();
    assert_eq!(verdicts(&got), [(1, "merged")]);
    assert_eq!((got.flagged(), got.chains[0].merged_through), (0, 1));
    assert_eq!(units(&mut v), bridge_total(lid, 5));
    let events = all_events(&mut v);
    let billed: Vec<(&str, u64)> = events
        .iter()
        .map(|e| (e.feature.as_str(), e.units))
        .collect();
    assert_eq!(billed, [(BRIDGE, 5)]);
    let flags = all_flags(&mut v);
    assert_eq!(flags.len(), 1);
    assert_eq!(
        (
            flags[0].seq,
            flags[0].verdict.as_str(),
            flags[0].resolved_at
        ),
        (1, "not_metered", None)
    );
    let e = |f: &str, p: &str, s: u64, u: u64| serde_json::json!({"feature": f, "period": p, "period_start": s, "units": u});
    assert_eq!(
        flags[0].detail,
        serde_json::json!({"entries": [
            e(BRIDGE, "day", MONTH0 + DAY, 2),
            e("mqtt-server", "month", MONTH0, 1000),
            e("nope", "month", MONTH0, 3),
            e("support", "month", MONTH0, 7),
        ]})
    );
    // The chain is not stalled: the next report merges; a report of only unmetered usage
    // merges too, and bills nothing.
    let got = v
        .import_usage(
            &[
                c.next(4),
                c.next_with(vec![entry("nope", MeterPeriod::Month, 9)]),
            ],
            T0 + 20,
        )
        .unwrap();
    assert_eq!(verdicts(&got), [(2, "merged"), (3, "merged")]);
    assert_eq!(units(&mut v), bridge_total(lid, 9));
    assert_eq!(all_events(&mut v).len(), 2);
    let flags = all_flags(&mut v);
    let seen: Vec<(u64, &str)> = flags.iter().map(|f| (f.seq, f.verdict.as_str())).collect();
    assert_eq!(seen, [(1, "not_metered"), (3, "not_metered")]);
    let audit = v.audit_log(Some(lid), 100).unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "usage.not_metered")
            .count(),
        2
    );
    // Dismissing one closes it; the replay of a merged report raises nothing again.
    let done = v
        .resolve_usage(
            lid,
            &host.device.public_key(),
            1,
            UsageResolution::Dismiss,
            T0 + 30,
        )
        .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(
        (done[0].resolved_at, done[0].resolution.as_deref()),
        (Some(T0 + 30), Some("dismissed"))
    );
}

#[test]
fn unbillable_and_expired_meter_events_end_for_good() {
    let (_d, mut v, _, _, mut c) = scene();
    v.import_usage(&[c.next(1), c.next(2), c.next(3)], T0)
        .unwrap();
    let ids: Vec<String> = v
        .meter_events_due(T0, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.identifier)
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(v
        .close_meter_event(&ids[0], MeterEventStatus::Unbillable, "no billing customer")
        .unwrap());
    assert!(v
        .close_meter_event(&ids[1], MeterEventStatus::Expired, "older than 35 days")
        .unwrap());
    assert!(v.meter_event_sent(&ids[2], T0 + 1).unwrap());
    // Closed rows are never sent, nor closed again; a sent row is not closed.
    assert!(!v.meter_event_sent(&ids[0], T0 + 2).unwrap());
    assert!(!v
        .close_meter_event(&ids[0], MeterEventStatus::Expired, "x")
        .unwrap());
    assert!(!v
        .close_meter_event(&ids[2], MeterEventStatus::Unbillable, "x")
        .unwrap());
    v.meter_event_failed(&ids[1], "HTTP 500", T0).unwrap();
    assert!(v.meter_events_due(u64::MAX >> 2, 10).unwrap().is_empty());
    assert!(v
        .claim_meter_events(u64::MAX >> 2, 10, 300)
        .unwrap()
        .is_empty());
    let e = v
        .close_meter_event(&ids[0], MeterEventStatus::Pending, "x")
        .unwrap_err();
    assert_eq!(e.name(), "InvalidArgument");
    let got: Vec<(MeterEventStatus, Option<String>, u64)> = v
        .meter_events(&UsageFilter::default())
        .unwrap()
        .into_iter()
        .map(|e| (e.status, e.last_error, e.attempts))
        .collect();
    assert_eq!(
        got,
        [
            (
                MeterEventStatus::Unbillable,
                Some("no billing customer".into()),
                0
            ),
            (
                MeterEventStatus::Expired,
                Some("older than 35 days".into()),
                0
            ),
            (MeterEventStatus::Sent, None, 1),
        ]
    );
}

#[test]
fn the_vendor_dismisses_flags_and_accepts_only_a_report_ahead_of_the_chain() {
    let (_d, mut v, host, lid, mut c) = scene();
    let dev = host.device.public_key();
    let (r1, r2) = (c.next(5), c.next(7));
    let mut clone = c.fork();
    let r3 = c.next(11);
    let r3x = clone.next(1000);
    let r4x = clone.next(2000);
    let _lost = c.next(13);
    let r5 = c.next(17);
    v.import_usage(&[r1, r2, r3], T0).unwrap();
    let got = v.import_usage(&[r3x, r4x], T0 + 1).unwrap();
    assert_eq!(verdicts(&got), [(3, "rewritten"), (4, "fork")]);
    // A fork (seq 4 on the clone's report 3, not the merged one) is never accepted either.
    let e = v
        .resolve_usage(lid, &dev, 4, UsageResolution::Accept, T0 + 1)
        .unwrap_err();
    assert_eq!(e.code(), 359);
    assert!(e.to_string().contains("it is a fork"), "{e}");
    let got = v.import_usage(&[r5], T0 + 2).unwrap();
    assert_eq!(verdicts(&got), [(5, "gap")]);
    // Nothing flagged at seq 6, nor for another license.
    let e = v
        .resolve_usage(lid, &dev, 6, UsageResolution::Dismiss, T0 + 3)
        .unwrap_err();
    assert_eq!((e.code(), e.name()), (358, "UsageFlagNotFound"));
    let e = v
        .resolve_usage(lid + 1, &dev, 3, UsageResolution::Dismiss, T0 + 3)
        .unwrap_err();
    assert_eq!(e.code(), 358);
    // A rewritten history is never accepted.
    let e = v
        .resolve_usage(lid, &dev, 3, UsageResolution::Accept, T0 + 3)
        .unwrap_err();
    assert_eq!((e.code(), e.name()), (359, "UsageAcceptRefused"));
    assert_eq!(units(&mut v), bridge_total(lid, 23));
    // Dismissed: resolved, nothing billed; a second resolve finds no open flag.
    let done = v
        .resolve_usage(lid, &dev, 3, UsageResolution::Dismiss, T0 + 4)
        .unwrap();
    assert_eq!(
        done.iter()
            .map(|f| (f.seq, f.verdict.as_str(), f.resolution.as_deref()))
            .collect::<Vec<_>>(),
        [(3, "rewritten", Some("dismissed"))]
    );
    let e = v
        .resolve_usage(lid, &dev, 3, UsageResolution::Dismiss, T0 + 5)
        .unwrap_err();
    assert_eq!(e.code(), 358);
    // The gap at 5 (report 4 is lost for good) is accepted: merged, billed, the head moves.
    let done = v
        .resolve_usage(lid, &dev, 5, UsageResolution::Accept, T0 + 6)
        .unwrap();
    assert_eq!(
        done.iter()
            .map(|f| (
                f.seq,
                f.verdict.as_str(),
                f.resolved_at,
                f.resolution.as_deref()
            ))
            .collect::<Vec<_>>(),
        [(5, "gap", Some(T0 + 6), Some("accepted"))]
    );
    assert_eq!(units(&mut v), bridge_total(lid, 40));
    assert_eq!(all_events(&mut v).len(), 4);
    let merged: Vec<u64> = v
        .usage_reports(Some(lid))
        .unwrap()
        .into_iter()
        .filter(|r| r.verdict == "merged")
        .map(|r| r.seq)
        .collect();
    assert_eq!(merged, [1, 2, 3, 5]);
    // The host's next report extends the accepted head.
    let got = v.import_usage(&[c.next(1)], T0 + 7).unwrap();
    assert_eq!(verdicts(&got), [(6, "merged")]);
    assert_eq!(got.chains[0].merged_through, 6);
    let audit = v.audit_log(Some(lid), 100).unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "usage.resolved")
            .count(),
        2
    );
    // The fork at 4 is still open (refusals change nothing); now behind the head, it can
    // only be dismissed.
    let open: Vec<(u64, &str)> = v
        .usage_flags(&UsageFilter::default())
        .unwrap()
        .iter()
        .filter(|f| f.resolved_at.is_none())
        .map(|f| (f.seq, if f.verdict == "fork" { "fork" } else { "other" }))
        .collect();
    assert_eq!(open, [(4, "fork")]);
    let e = v
        .resolve_usage(lid, &dev, 4, UsageResolution::Accept, T0 + 8)
        .unwrap_err();
    assert!(e.to_string().contains("it is a rewritten"), "{e}");
}
