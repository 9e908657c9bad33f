//! The host's metered-usage journal (issue 15): the units [`LicenseManager::record_usage`]
//! counts are also *accrued* for the vendor, then cut into signed, hash-chained usage reports
//! (`TGUR`, `core/SPEC.md` §10c) that wait in an *outbox* until the vendor acknowledges them.
//!
//! - Accrual: per (license, feature, period, period start), in the same atomic state write
//!   as the quota count, so a unit is counted for the quota exactly when it is accrued.
//! - Cut ([`LicenseManager::cut_usage_report`]): the accrued units become the next report of
//!   the current device key's chain (`seq` + 1, `prev_hash` = the last report's hash); the
//!   report enters the outbox, the accrual is zeroed and the chain head moves, all in one
//!   atomic write that is durable before the report is returned. A crash loses or
//!   double-counts nothing: either the old state (units accrued) or the new (units in the
//!   outbox) is on disk.
//! - Delivery: online hosts send the outbox to the service (`POST /v1/usage`,
//!   [`crate::online::OnlineClient::report_usage`]); offline hosts export it as a journal
//!   ([`LicenseManager::usage_journal`]) with their next usage request or deactivation code.
//!   Every usage request and every deactivation cuts what accrued first.
//! - Acknowledgement ([`LicenseManager::acknowledge_usage`]): reports up to the sequence
//!   number the vendor merged leave the outbox. A report the vendor flagged (a gap, a fork, a
//!   rewritten history) is not acknowledged: it stays and is sent again until the vendor
//!   resolves it. Accepted, it is merged (a `duplicate` when sent again) and leaves the outbox;
//!   dismissed, it answers `dismissed` and leaves the outbox too: **a dismissed report is never
//!   billed**, its units are lost by the vendor's decision.
//! - A restored backup or a cloned host (its reports a fork or a rewritten history of what the
//!   vendor merged from the other branch): the receipt's `merged_through` is that other
//!   branch's, so only the reports judged merged or duplicate are acknowledged (no
//!   [`crate::SdkError::UsageAckAhead`]). The host goes on only after the vendor dismissed its
//!   conflicting reports: when every report of a submission answers `dismissed`, it drops them
//!   and continues its chain from the vendor's head (`seq` = `merged_through` + 1, `prev_hash`
//!   = the receipt's `head_hash`). It never re-bases on its own, so restoring a backup cannot
//!   erase billed usage (`core/SPEC.md` §10c.2).
//!
//! **Integrity.** The state document has no integrity protection of its own (it is plain
//! JSON on the customer's machine): a customer can lower the accrued units or the quota
//! counter. What is signed is checked when the state loads (`check_journal`): every outbox
//! report must verify, the reports of one device key must form one chain, and the last must
//! be that key's chain head, so an edited, removed or reordered report makes the state
//! corrupt (207). Dropping the oldest reports, or restoring a backup of the whole state, is
//! not visible here; the vendor sees it in the chain: a gap, or a fork when the restored host
//! reuses a sequence number (`tollgate_authority::policy::usage_link`).

use tollgate_core::{
    usage_journal_text, MeterPeriod, UsageClaims, UsageEntry, UsageReport, MAX_USAGE_ENTRIES,
};

use crate::error::{Result, SdkError};
use crate::manager::LicenseManager;
use crate::state::{AccruedUsage, ChainHead, State, UsageJournal};

/// The most unacknowledged reports the outbox holds; past it, reports are no longer cut
/// ([`SdkError::UsageOutboxFull`]) and units keep accruing. A journal of this many reports is
/// what `tollgate_core::parse_usage_journal` accepts at most.
pub const MAX_USAGE_OUTBOX: usize = tollgate_core::MAX_JOURNAL_REPORTS;

/// Checks the signed part of a loaded journal: every outbox report verifies, each device
/// key's reports form one chain ending at its head, and every accrual names a feature and a
/// period and counts units (so that a cut can always be signed).
pub(crate) fn check_journal(j: &UsageJournal) -> Result<()> {
    let corrupt = |why: &str| SdkError::corrupt(format!("usage journal: {why}"));
    if j.outbox.len() > MAX_USAGE_OUTBOX {
        return Err(corrupt("too many reports in the outbox"));
    }
    for a in &j.accrued {
        if MeterPeriod::from_name(&a.period).is_none()
            || a.units == 0
            || tollgate_core::model::check_feature_name(&a.feature).is_err()
        {
            return Err(corrupt(
                "an accrual with an unknown period, no units or a bad feature name",
            ));
        }
    }
    let mut last: Vec<([u8; 32], u64, [u8; 32])> = Vec::new();
    for text in &j.outbox {
        let r = UsageReport::from_armor(text)
            .map_err(|_| corrupt("a report in the outbox does not verify"))?;
        let c = r.claims();
        match last.iter_mut().find(|(k, _, _)| *k == c.device_key) {
            Some((_, seq, hash)) => {
                if c.seq != seq.saturating_add(1) || c.prev_hash != *hash {
                    return Err(corrupt("the outbox reports of a device key do not chain"));
                }
                *seq = c.seq;
                *hash = r.hash();
            }
            None => last.push((c.device_key, c.seq, r.hash())),
        }
    }
    for (key, seq, hash) in &last {
        let head = j.chains.iter().find(|h| h.device_key == *key);
        if head.is_none_or(|h| h.seq != *seq || h.hash != *hash) {
            return Err(corrupt("the last outbox report is not its chain's head"));
        }
    }
    for (i, h) in j.chains.iter().enumerate() {
        if j.chains
            .iter()
            .skip(i + 1)
            .any(|o| o.device_key == h.device_key)
        {
            return Err(corrupt("two chain heads for one device key"));
        }
    }
    Ok(())
}

/// Adds `units` of `feature` in the period starting at `period_start` to the accrual.
pub(crate) fn accrue(
    next: &mut State,
    license_id: u64,
    feature: &str,
    period: MeterPeriod,
    period_start: u64,
    units: u64,
) {
    if units == 0 {
        return;
    }
    let accrued = &mut next.usage.accrued;
    match accrued.iter_mut().find(|a| {
        a.license_id == license_id
            && a.feature == feature
            && a.period == period.name()
            && a.period_start == period_start
    }) {
        // Bounded by the quota count of the same period, which is checked before.
        Some(a) => a.units = a.units.saturating_add(units),
        None => accrued.push(AccruedUsage {
            license_id,
            feature: feature.into(),
            period: period.name().into(),
            period_start,
            units,
        }),
    }
}

/// Cuts one report from the accrual into `next`: the first license's entries (at most
/// [`MAX_USAGE_ENTRIES`], one per feature and period start), signed by the current device key
/// as the next link of its chain. `None` when nothing accrued or there is no device key.
pub(crate) fn cut_one(next: &mut State, now: u64) -> Result<Option<UsageReport>> {
    let Some(device) = next.device.as_ref() else {
        return Ok(None);
    };
    let Some(license_id) = next.usage.accrued.first().map(|a| a.license_id) else {
        return Ok(None);
    };
    if next.usage.outbox.len() >= MAX_USAGE_OUTBOX {
        return Err(SdkError::UsageOutboxFull {
            reports: next.usage.outbox.len(),
        });
    }
    let mut picked: Vec<usize> = Vec::new();
    let mut entries: Vec<UsageEntry> = Vec::new();
    for (i, a) in next.usage.accrued.iter().enumerate() {
        if a.license_id != license_id || entries.len() == MAX_USAGE_ENTRIES {
            continue;
        }
        let Some(period) = MeterPeriod::from_name(&a.period) else {
            continue;
        };
        // One entry per (feature, period start): a period kind changed by an upgrade waits
        // for the next report.
        if entries
            .iter()
            .any(|e| e.feature == a.feature && e.period_start == a.period_start)
        {
            continue;
        }
        entries.push(UsageEntry {
            feature: a.feature.clone(),
            period,
            period_start: a.period_start,
            units: a.units,
        });
        picked.push(i);
    }
    entries.sort_by(|x, y| {
        (x.feature.as_str(), x.period_start).cmp(&(y.feature.as_str(), y.period_start))
    });
    let key = device.seed.device_key();
    let device_key = device.public;
    let (seq, prev_hash) = next
        .usage
        .chains
        .iter()
        .find(|h| h.device_key == device_key)
        .map_or((1, [0u8; 32]), |h| (h.seq.saturating_add(1), h.hash));
    let report = UsageReport::create(
        UsageClaims {
            license_id,
            device_key,
            seq,
            prev_hash,
            created_at: now,
            entries,
        },
        &key,
    )?;
    let mut i = 0usize;
    next.usage.accrued.retain(|_| {
        let keep = !picked.contains(&i);
        i += 1;
        keep
    });
    let head = ChainHead {
        device_key,
        seq,
        hash: report.hash(),
    };
    match next
        .usage
        .chains
        .iter_mut()
        .find(|h| h.device_key == device_key)
    {
        Some(h) => *h = head,
        None => next.usage.chains.push(head),
    }
    next.usage.outbox.push(report.to_armor());
    Ok(Some(report))
}

/// Cuts everything that accrued into `next` (several reports when there are several licenses
/// or more than [`MAX_USAGE_ENTRIES`] entries). Stops quietly at a full outbox: the units keep
/// accruing. Used before a usage request or a deactivation.
pub(crate) fn cut_all(next: &mut State, now: u64) -> Result<usize> {
    let mut n = 0;
    loop {
        match cut_one(next, now) {
            Ok(Some(_)) => n += 1,
            Ok(None) | Err(SdkError::UsageOutboxFull { .. }) => return Ok(n),
            Err(e) => return Err(e),
        }
    }
}

/// The outbox reports, decoded (they were verified when the state loaded).
fn outbox(state: &State) -> Vec<UsageReport> {
    state
        .usage
        .outbox
        .iter()
        .filter_map(|t| UsageReport::from_armor(t).ok())
        .collect()
}

/// Units accrued and not yet cut into a report, per license, feature and period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccruedUnits {
    /// The license the units were used under.
    pub license_id: u64,
    /// The metered feature.
    pub feature: String,
    /// The feature's accounting period.
    pub period: MeterPeriod,
    /// First second (UTC) of the period.
    pub period_start: u64,
    /// Units not yet reported.
    pub units: u64,
}

impl LicenseManager {
    /// Cuts the units accrued since the last report into the next usage report of this host's
    /// chain (signed by the device key, `seq` + 1, chained on the last report's hash) and
    /// keeps it in the outbox until the vendor acknowledges it. The report is durable before
    /// it is returned, together with the zeroed accrual: a crash never loses or double-counts
    /// units. `None` when nothing accrued (or the host has no device key).
    ///
    /// One report carries one license's units and at most 16 entries; call again while it
    /// returns a report to cut the rest. Fails with [`SdkError::UsageOutboxFull`] when the
    /// outbox is full (the units keep accruing), or [`SdkError::Storage`] (nothing changed).
    pub fn cut_usage_report(&mut self) -> Result<Option<UsageReport>> {
        let now = self.clock.now();
        let mut next = self.state.clone();
        let report = cut_one(&mut next, now)?;
        if report.is_some() {
            self.commit(next, now, false)?;
        }
        Ok(report)
    }

    /// Cuts everything accrued (as [`LicenseManager::cut_usage_report`], repeatedly) and
    /// returns how many reports were cut. Stops at a full outbox without an error.
    pub fn cut_all_usage(&mut self) -> Result<usize> {
        let now = self.clock.now();
        let mut next = self.state.clone();
        let n = cut_all(&mut next, now)?;
        if n > 0 {
            self.commit(next, now, false)?;
        }
        Ok(n)
    }

    /// The reports cut and not yet acknowledged by the vendor, in the order cut.
    pub fn usage_outbox(&self) -> Vec<UsageReport> {
        outbox(&self.state)
    }

    /// The units accrued and not yet cut into a report.
    pub fn accrued_usage(&self) -> Vec<AccruedUnits> {
        self.state
            .usage
            .accrued
            .iter()
            .filter_map(|a| {
                Some(AccruedUnits {
                    license_id: a.license_id,
                    feature: a.feature.clone(),
                    period: MeterPeriod::from_name(&a.period)?,
                    period_start: a.period_start,
                    units: a.units,
                })
            })
            .collect()
    }

    /// The usage journal for an offline host to hand to the vendor: cuts what accrued first
    /// (durably), then returns the whole outbox as journal text (`core/SPEC.md` §10c.3: a `#`
    /// comment line, then one armored report a line). Only the comment line when there is
    /// nothing to report. Fails with [`SdkError::Storage`] when the cut could not be saved.
    pub fn usage_journal(&mut self) -> Result<String> {
        self.cut_all_usage()?;
        Ok(usage_journal_text(&self.usage_outbox()))
    }

    /// Whether the outbox holds reports or units accrued: whether there is usage to report.
    pub fn has_usage_to_report(&self) -> bool {
        !self.state.usage.outbox.is_empty() || !self.state.usage.accrued.is_empty()
    }

    /// Drops these outbox reports (the very reports: same armored text) because the vendor
    /// dismissed them: they are never billed. Returns how many were dropped (a report no
    /// longer in the outbox is skipped). Fails with [`SdkError::Storage`].
    pub(crate) fn drop_dismissed_usage(&mut self, dismissed: &[UsageReport]) -> Result<usize> {
        let gone: Vec<String> = dismissed.iter().map(|r| r.to_armor()).collect();
        let mut next = self.state.clone();
        let before = next.usage.outbox.len();
        next.usage.outbox.retain(|t| !gone.contains(t));
        let dropped = before - next.usage.outbox.len();
        if dropped > 0 {
            let now = self.clock.now();
            self.commit(next, now, false)?;
        }
        Ok(dropped)
    }

    /// Drops these reports of `device_key`, every one of which the vendor dismissed, and, when
    /// no report of that key is left in the outbox, continues its chain from the vendor's head
    /// (`seq` `head_seq` + 1 next, on `head_hash`; a new chain at 1 without a head): the chain
    /// of a restored backup goes on where the vendor's merged chain is, only after the vendor
    /// dismissed what conflicted with it (the units of the dismissed reports are lost, by the
    /// vendor's decision). Returns how many reports were dropped. Fails with
    /// [`SdkError::Storage`].
    pub(crate) fn drop_dismissed_and_rebase(
        &mut self,
        device_key: &[u8; 32],
        dismissed: &[UsageReport],
        head_seq: u64,
        head_hash: Option<[u8; 32]>,
    ) -> Result<usize> {
        let gone: Vec<String> = dismissed.iter().map(|r| r.to_armor()).collect();
        let mut next = self.state.clone();
        let before = next.usage.outbox.len();
        next.usage.outbox.retain(|t| !gone.contains(t));
        let dropped = before - next.usage.outbox.len();
        let left = next.usage.outbox.iter().any(|t| {
            UsageReport::from_armor(t).map_or(true, |r| r.claims().device_key == *device_key)
        });
        if !left {
            next.usage.chains.retain(|h| h.device_key != *device_key);
            if let (Some(hash), true) = (head_hash, head_seq > 0) {
                next.usage.chains.push(ChainHead {
                    device_key: *device_key,
                    seq: head_seq,
                    hash,
                });
            }
        }
        if dropped > 0 || !left {
            let now = self.clock.now();
            self.commit(next, now, false)?;
        }
        Ok(dropped)
    }

    /// Drops the outbox reports of `device_key` with `seq` ≤ `merged_through`: the vendor
    /// merged them (the service's receipt, or the vendor's word for an offline journal).
    /// Returns how many were dropped. Fails with [`SdkError::UsageAckAhead`] (nothing dropped)
    /// when `merged_through` is past the last report this host cut for that key, or
    /// [`SdkError::Storage`].
    pub fn acknowledge_usage(
        &mut self,
        device_key: &[u8; 32],
        merged_through: u64,
    ) -> Result<usize> {
        let last = self
            .state
            .usage
            .chains
            .iter()
            .find(|h| h.device_key == *device_key)
            .map_or(0, |h| h.seq);
        if merged_through > last {
            return Err(SdkError::UsageAckAhead {
                merged_through,
                last,
            });
        }
        let mut next = self.state.clone();
        let before = next.usage.outbox.len();
        next.usage.outbox.retain(|t| {
            UsageReport::from_armor(t).map_or(true, |r| {
                r.claims().device_key != *device_key || r.claims().seq > merged_through
            })
        });
        let dropped = before - next.usage.outbox.len();
        if dropped > 0 {
            let now = self.clock.now();
            self.commit(next, now, false)?;
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{DeviceState, Seed};

    fn state_with_device() -> State {
        let seed = Seed::new([5; 32]);
        let public = seed.device_key().public_key();
        let mut s = State {
            device: Some(DeviceState {
                seed,
                public,
                key_lookup: [1; 8],
                key_proof: [2; 16],
                counter: 1,
            }),
            ..State::default()
        };
        accrue(&mut s, 42, "bridge", MeterPeriod::Day, 86_400, 3);
        s
    }

    #[test]
    fn a_full_outbox_stops_cutting_and_keeps_the_units() {
        let mut s = state_with_device();
        s.usage.outbox = vec![String::new(); MAX_USAGE_OUTBOX];
        assert_eq!(
            cut_one(&mut s, 1).unwrap_err(),
            SdkError::UsageOutboxFull {
                reports: MAX_USAGE_OUTBOX
            }
        );
        assert_eq!(SdkError::UsageOutboxFull { reports: 1 }.code(), 255);
        assert_eq!(cut_all(&mut s, 1).unwrap(), 0);
        assert_eq!(s.usage.accrued[0].units, 3);
        s.usage.outbox.pop();
        assert_eq!(cut_all(&mut s, 1).unwrap(), 1);
        assert!(s.usage.accrued.is_empty());
        assert_eq!(s.usage.outbox.len(), MAX_USAGE_OUTBOX);
    }

    #[test]
    fn no_device_key_no_cut() {
        let mut s = state_with_device();
        s.device = None;
        assert_eq!(cut_one(&mut s, 1).unwrap(), None);
        assert_eq!(s.usage.accrued.len(), 1);
    }

    #[test]
    fn accruals_add_up_per_license_feature_and_period() {
        let mut s = state_with_device();
        accrue(&mut s, 42, "bridge", MeterPeriod::Day, 86_400, 4);
        accrue(&mut s, 42, "bridge", MeterPeriod::Day, 2 * 86_400, 1);
        accrue(&mut s, 43, "bridge", MeterPeriod::Day, 86_400, 1);
        accrue(&mut s, 42, "bridge", MeterPeriod::Day, 86_400, 0);
        let units: Vec<(u64, u64, u64)> = s
            .usage
            .accrued
            .iter()
            .map(|a| (a.license_id, a.period_start, a.units))
            .collect();
        assert_eq!(
            units,
            vec![(42, 86_400, 7), (42, 172_800, 1), (43, 86_400, 1)]
        );
        // One report per license.
        let r = cut_one(&mut s, 5).unwrap().unwrap();
        assert_eq!((r.claims().license_id, r.claims().entries.len()), (42, 2));
        let r = cut_one(&mut s, 5).unwrap().unwrap();
        assert_eq!((r.claims().license_id, r.claims().seq), (43, 2));
        assert_eq!(check_journal(&s.usage), Ok(()));
    }
}
