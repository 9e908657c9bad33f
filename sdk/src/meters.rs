//! Metered usage: counting units of a metered feature per UTC period against its quota.

use tollgate_core::{FeatureKind, MeterPeriod};

use crate::error::{Result, SdkError};
use crate::manager::LicenseManager;
use crate::state::MeterState;
use crate::status::MeterReading;
use crate::time::period_bounds;

impl LicenseManager {
    /// The quota, period and license id of the metered feature `feature`.
    fn metered(&self, feature: &str, now: u64) -> Result<(u64, MeterPeriod, u64)> {
        let ent = self.active_entitlement(now)?;
        let f = ent
            .grant()
            .feature(feature)
            .ok_or_else(|| SdkError::UnknownFeature {
                feature: feature.into(),
            })?;
        match f.kind {
            FeatureKind::Metered { quota, period } => Ok((quota, period, ent.grant().license_id)),
            _ => Err(SdkError::NotMetered {
                feature: feature.into(),
            }),
        }
    }

    pub(crate) fn meter_used(&self, feature: &str, period: MeterPeriod, start: u64) -> u64 {
        self.state
            .meters
            .iter()
            .find(|m| m.feature == feature && m.period == period.name() && m.period_start == start)
            .map_or(0, |m| m.used)
    }

    fn reading(
        feature: &str,
        period: MeterPeriod,
        now: u64,
        used: u64,
        quota: u64,
    ) -> MeterReading {
        let (period_start, period_end) = period_bounds(period, now);
        MeterReading {
            feature: feature.into(),
            period: period.name(),
            period_start,
            period_end,
            used,
            quota,
            remaining: quota.saturating_sub(used),
        }
    }

    /// Records `units` of use of the metered feature `feature` in the current UTC period and
    /// returns the new reading. The count is durable; a new period starts from zero. The same
    /// units accrue for the vendor in the usage journal ([`crate::usage`]), in the same atomic
    /// write.
    ///
    /// The period is the one of the later of `now` and the host's high-water mark, so a clock
    /// set back (within the rollback tolerance) never moves the count into an earlier period
    /// and so never resets the current one.
    ///
    /// Fails, recording nothing, with [`SdkError::QuotaExceeded`] when the period's quota would
    /// be exceeded, [`SdkError::UnknownFeature`], [`SdkError::NotMetered`], the reason the
    /// license is not active ([`SdkError::NotActivated`], [`SdkError::ClockRollback`], …) or
    /// [`SdkError::Storage`].
    pub fn record_usage(&mut self, feature: &str, units: u64) -> Result<MeterReading> {
        let now = self.now_checked()?;
        let (quota, period, license_id) = self.metered(feature, now)?;
        let at = now.max(self.state.high_water);
        let (start, _) = period_bounds(period, at);
        let used = self.meter_used(feature, period, start);
        let total = used
            .checked_add(units)
            .filter(|t| *t <= quota)
            .ok_or_else(|| SdkError::QuotaExceeded {
                feature: feature.into(),
                used,
                quota,
                requested: units,
            })?;
        let mut next = self.state.clone();
        next.meters.retain(|m| m.feature != feature);
        next.meters.push(MeterState {
            feature: feature.into(),
            period: period.name().into(),
            period_start: start,
            used: total,
        });
        crate::usage::accrue(&mut next, license_id, feature, period, start, units);
        self.commit(next, now, false)?;
        Ok(Self::reading(feature, period, at, total, quota))
    }

    /// The current reading of the metered feature `feature`, without recording anything.
    pub fn meter(&self, feature: &str) -> Result<MeterReading> {
        let now = self.clock.now();
        let (quota, period, _) = self.metered(feature, now)?;
        let at = now.max(self.state.high_water);
        let (start, _) = period_bounds(period, at);
        let used = self.meter_used(feature, period, start);
        Ok(Self::reading(feature, period, at, used, quota))
    }
}
