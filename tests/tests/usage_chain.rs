//! What the vendor makes of a host's usage-report chain (`core/SPEC.md` §10c.2): the reports
//! of the reference vectors, and the traces that editing or restoring a host's state leaves,
//! judged by `tollgate_authority::policy::usage_link`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use tollgate_authority::policy::{usage_link, UsageLink, UsageVerdict};
use tollgate_core::{parse_usage_journal, UsageClaims, UsageEntry, UsageReport};
use tollgate_tests::fixtures as fx;
use tollgate_tests::usage::{self, T_JANUARY};

fn link(r: &UsageReport) -> UsageLink {
    UsageLink {
        seq: r.claims().seq,
        prev_hash: r.claims().prev_hash,
        hash: r.hash(),
    }
}

/// The vendor's side of one device's chain: the merged links, judged in arrival order.
#[derive(Default)]
struct Vendor {
    merged: Vec<UsageLink>,
}

impl Vendor {
    fn submit(&mut self, r: &UsageReport) -> UsageVerdict {
        let l = link(r);
        let merged_at = self.merged.iter().find(|m| m.seq == l.seq).map(|m| m.hash);
        let v = usage_link(self.merged.last(), merged_at.as_ref(), &l);
        if v == UsageVerdict::Extends {
            self.merged.push(l);
        }
        v
    }
}

/// The next report after `prev` with `units` January units of the metered feature.
fn next(prev: &UsageReport, units: u64) -> UsageReport {
    let c = prev.claims();
    UsageReport::create(
        UsageClaims {
            seq: c.seq + 1,
            prev_hash: prev.hash(),
            created_at: c.created_at + 3600,
            entries: vec![UsageEntry {
                feature: usage::METERED_FEATURE.into(),
                period: tollgate_core::MeterPeriod::Month,
                period_start: T_JANUARY,
                units,
            }],
            ..c.clone()
        },
        &fx::device_key(),
    )
    .unwrap()
}

#[test]
fn the_reference_journal_extends_a_new_chain_and_resends_are_duplicates() {
    let reports = parse_usage_journal(&usage::journal().unwrap()).unwrap();
    let mut vendor = Vendor::default();
    for r in &reports {
        assert_eq!(vendor.submit(r), UsageVerdict::Extends);
    }
    for r in &reports {
        assert_eq!(vendor.submit(r), UsageVerdict::Duplicate);
    }
    assert_eq!(vendor.merged.len(), 3);
}

#[test]
fn a_restored_backup_is_a_rewrite_then_a_fork() {
    let r1 = usage::report_1().unwrap();
    let r2 = next(&r1, 500);
    let r3 = next(&r2, 700);
    let mut vendor = Vendor::default();
    for r in [&r1, &r2] {
        assert_eq!(vendor.submit(r), UsageVerdict::Extends);
    }
    // The host's state is restored from a backup taken after report 1: it cuts another
    // report 2 (fewer units) and goes on from there.
    let r2b = next(&r1, 20);
    let r3b = next(&r2b, 30);
    assert_eq!(r2b.claims().seq, r2.claims().seq);
    assert_eq!(vendor.submit(&r2b), UsageVerdict::Rewritten { seq: 2 });
    assert_eq!(vendor.submit(&r3b), UsageVerdict::Fork { seq: 3 });
    // Nothing of the restored history was merged; the original chain still extends.
    assert_eq!(vendor.merged.len(), 2);
    assert_eq!(vendor.submit(&r3), UsageVerdict::Extends);
    // The same restored reports, arriving before the original ones.
    let mut vendor = Vendor::default();
    assert_eq!(vendor.submit(&r1), UsageVerdict::Extends);
    assert_eq!(vendor.submit(&r2b), UsageVerdict::Extends);
    assert_eq!(vendor.submit(&r2), UsageVerdict::Rewritten { seq: 2 });
    assert_eq!(vendor.submit(&r3), UsageVerdict::Fork { seq: 3 });
}

#[test]
fn a_dropped_report_is_a_gap() {
    let r1 = usage::report_1().unwrap();
    let r2 = next(&r1, 500);
    let r3 = next(&r2, 700);
    let mut vendor = Vendor::default();
    assert_eq!(vendor.submit(&r1), UsageVerdict::Extends);
    // The customer deleted report 2 from the host's outbox: report 3 names it.
    assert_eq!(
        vendor.submit(&r3),
        UsageVerdict::Gap {
            expected: 2,
            got: 3
        }
    );
    // Delivered late, the chain closes and extends.
    assert_eq!(vendor.submit(&r2), UsageVerdict::Extends);
    assert_eq!(vendor.submit(&r3), UsageVerdict::Extends);
    // A chain that starts at 2 without 1 is a gap too.
    assert_eq!(
        Vendor::default().submit(&r2),
        UsageVerdict::Gap {
            expected: 1,
            got: 2
        }
    );
}
